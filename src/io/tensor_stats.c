/* tensor_stats.c - see tensor_stats.h. */
#include "io/tensor_stats.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/half.h"

#define BLOCK 2048 // elements converted at a time into an L1-resident buffer

typedef struct partial {
    uint64_t n, nan, inf;
    double mean, m2, min, max;
} partial;

float mg_f8_e4m3_to_f32(uint8_t b) {
    // OCP FP8 E4M3 "fn": bias 7, no infinities, S.1111.111 is NaN.
    float s = (b & 0x80) ? -1.0f : 1.0f;
    int e = (b >> 3) & 0xf, m = b & 7;
    if (e == 15 && m == 7) return NAN;
    if (e == 0) return s * ldexpf((float)m, -9); // subnormal: m/8 * 2^-6
    return s * ldexpf(1.0f + (float)m / 8.0f, e - 7);
}

float mg_f8_e5m2_to_f32(uint8_t b) {
    // E5M2 is the top byte of an IEEE half (bias 15, with Inf and NaN).
    return mg_f16_to_f32((uint16_t)(b << 8));
}

/* Chan et al. (1979): merges partial b into a. The order of calls is fixed. */
static void merge(partial *a, const partial *b) {
    a->nan += b->nan;
    a->inf += b->inf;
    if (!b->n) return;
    if (!a->n) {
        uint64_t nan = a->nan, inf = a->inf;
        *a = *b;
        a->nan = nan, a->inf = inf;
        return;
    }
    double n = (double)(a->n + b->n), d = b->mean - a->mean;
    a->mean += d * (double)b->n / n;
    a->m2 += b->m2 + d * d * (double)a->n * (double)b->n / n;
    a->n += b->n;
    if (b->min < a->min) a->min = b->min;
    if (b->max > a->max) a->max = b->max;
}

/* Reference block statistics of x[0..m), any values: NaN and Inf counted,
 * two passes over the finite rest. Also the fallback of the fast path. */
static void block_f32_ref(const float *x, size_t m, partial *p) {
    double s = 0;
    float mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        float v = x[i];
        if (isnan(v)) {
            p->nan++;
        } else if (isinf(v)) {
            p->inf++;
        } else {
            p->n++;
            s += v;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
    }
    if (p->n) {
        p->mean = s / (double)p->n;
        for (size_t i = 0; i < m; i++)
            if (isfinite(x[i])) p->m2 += (x[i] - p->mean) * (x[i] - p->mean);
        p->min = mn, p->max = mx;
    }
}

/* Fast path for the normal case, every element finite (returns false
 * otherwise): one fused pass vectorized by `omp simd`, with sums taken around
 * K = x[0] (shifted data) so M2 = q - s^2/n does not cancel badly. The
 * reduction order depends on the vector width of the variant (fixed per CPU
 * level), never on the thread count. Inlined into each ISA variant below. */
static inline __attribute__((always_inline)) bool block_f32_fast_body(const float *x, size_t m,
                                                                      partial *p) {
    int bad = 0;
    double K = x[0], s = 0, q = 0;
    float mn = x[0], mx = x[0];
#pragma omp simd reduction(| : bad) reduction(+ : s, q) reduction(min : mn) reduction(max : mx)
    for (size_t i = 0; i < m; i++) {
        float v = x[i];
        bad |= !(fabsf(v) <= FLT_MAX);
        double d = (double)v - K;
        s += d;
        q += d * d;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    if (bad) return false;
    p->n = m;
    p->mean = K + s / (double)m;
    p->m2 = q - s * s / (double)m;
    if (p->m2 < 0) p->m2 = 0;
    p->min = mn, p->max = mx;
    return true;
}

static bool block_f32_fast(const float *x, size_t m, partial *p) {
    return block_f32_fast_body(x, m, p);
}

__attribute__((target("avx2"))) static bool block_f32_fast_avx2(const float *x, size_t m,
                                                                partial *p) {
    return block_f32_fast_body(x, m, p);
}

static void block_f32(const float *x, size_t m, mg_cpu_level level, partial *out) {
    partial p = {0};
    bool ok = level >= MG_CPU_AVX2 ? block_f32_fast_avx2(x, m, &p) : block_f32_fast(x, m, &p);
    if (!ok) {
        memset(&p, 0, sizeof p);
        block_f32_ref(x, m, &p);
    }
    merge(out, &p);
}

static void block_f64(const double *x, size_t m, partial *out) {
    partial p = {0};
    double s = 0, mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        double v = x[i];
        if (isnan(v)) {
            p.nan++;
        } else if (isinf(v)) {
            p.inf++;
        } else {
            p.n++;
            s += v;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
    }
    if (p.n) {
        p.mean = s / (double)p.n;
        for (size_t i = 0; i < m; i++)
            if (isfinite(x[i])) p.m2 += (x[i] - p.mean) * (x[i] - p.mean);
        p.min = mn, p.max = mx;
    }
    merge(out, &p);
}

/* Statistics of elements [b, e) of t. Data may be unaligned: multi-byte
 * values are read with memcpy or through an aligned copy. */
static void chunk_stats(const mg_tensor_view *t, size_t b, size_t e, mg_cpu_level level,
                        partial *out) {
    const uint8_t *src = (const uint8_t *)t->data;
    size_t es = mg_dtype_size(t->dtype);
    float f[BLOCK];
    double d[BLOCK];
    for (size_t i = b; i < e; i += BLOCK) {
        size_t m = e - i < BLOCK ? e - i : BLOCK;
        const uint8_t *s = src + i * es;
        switch (t->dtype) {
        case MG_DTYPE_F32:
            memcpy(f, s, m * 4);
            break;
        case MG_DTYPE_BF16:
        case MG_DTYPE_F16: {
            uint16_t h[BLOCK];
            memcpy(h, s, m * 2);
            if (t->dtype == MG_DTYPE_BF16)
                mg_bf16_to_f32_array(h, f, m);
            else
                mg_f16_to_f32_array(h, f, m);
            break;
        }
        case MG_DTYPE_F8_E4M3:
            for (size_t k = 0; k < m; k++)
                f[k] = mg_f8_e4m3_to_f32(s[k]);
            break;
        case MG_DTYPE_F8_E5M2:
            for (size_t k = 0; k < m; k++)
                f[k] = mg_f8_e5m2_to_f32(s[k]);
            break;
        case MG_DTYPE_F64:
            memcpy(d, s, m * 8);
            break;
        case MG_DTYPE_I64:
            for (size_t k = 0; k < m; k++) {
                int64_t v;
                memcpy(&v, s + 8 * k, 8);
                d[k] = (double)v;
            }
            break;
        case MG_DTYPE_I32:
            for (size_t k = 0; k < m; k++) {
                int32_t v;
                memcpy(&v, s + 4 * k, 4);
                d[k] = v;
            }
            break;
        case MG_DTYPE_I16:
            for (size_t k = 0; k < m; k++) {
                int16_t v;
                memcpy(&v, s + 2 * k, 2);
                d[k] = v;
            }
            break;
        case MG_DTYPE_I8:
            for (size_t k = 0; k < m; k++)
                d[k] = (int8_t)s[k];
            break;
        case MG_DTYPE_U8:
            for (size_t k = 0; k < m; k++)
                d[k] = s[k];
            break;
        case MG_DTYPE_BOOL:
            for (size_t k = 0; k < m; k++)
                d[k] = s[k] != 0;
            break;
        default:
            return;
        }
        bool is_f = t->dtype == MG_DTYPE_F32 || t->dtype == MG_DTYPE_BF16 ||
                    t->dtype == MG_DTYPE_F16 || t->dtype == MG_DTYPE_F8_E4M3 ||
                    t->dtype == MG_DTYPE_F8_E5M2;
        if (is_f)
            block_f32(f, m, level, out);
        else
            block_f64(d, m, out);
    }
}

/* Asks the kernel to start reading chunks [from, to) ahead of use
 * (MADV_WILLNEED on the mapped views), so a cold pass overlaps disk reads with
 * computation instead of stalling on each page fault. One call per window. */
#define PREFETCH_CHUNKS 64
static void prefetch(const mg_tensor_view *const *t, const size_t *owner, const size_t *first,
                     size_t from, size_t to) {
    while (from < to) {
        size_t i = owner[from];
        size_t last = first[i + 1] < to ? first[i + 1] : to; // this tensor's part
        const mg_tensor_view *v = t[i];
        size_t es = mg_dtype_size(v->dtype);
        uint64_t b = (uint64_t)(from - first[i]) * MG_STATS_CHUNK * es;
        uint64_t e = (uint64_t)(last - first[i]) * MG_STATS_CHUNK * es;
        if (e > v->nbytes) e = v->nbytes;
        uintptr_t a = ((uintptr_t)v->data + b) & ~(uintptr_t)4095;
        if (e > b) madvise((void *)a, (uintptr_t)v->data + e - a, MADV_WILLNEED);
        from = last;
    }
}

void mg_tensor_stats_compute(const mg_tensor_view *const *t, size_t n, mg_tensor_stats *out,
                             mg_progress *progress) {
    // Chunk j of the whole job list belongs to tensor owner[j].
    size_t *first = mg_malloc_array(n + 1, sizeof *first);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        first[i] = total;
        total += (size_t)((t[i]->numel + MG_STATS_CHUNK - 1) / MG_STATS_CHUNK);
    }
    first[n] = total;
    mg_cpu_level level = mg_cpu_level_get();
    partial *parts = mg_calloc(total ? total : 1, sizeof *parts);
    size_t *owner = mg_malloc_array(total ? total : 1, sizeof *owner);
    for (size_t i = 0; i < n; i++)
        for (size_t j = first[i]; j < first[i + 1]; j++)
            owner[j] = i;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t j = 0; j < total; j++) {
        if (j % PREFETCH_CHUNKS == 0 && j + PREFETCH_CHUNKS < total)
            prefetch(t, owner, first, j + PREFETCH_CHUNKS,
                     j + 2 * PREFETCH_CHUNKS < total ? j + 2 * PREFETCH_CHUNKS : total);
        const mg_tensor_view *v = t[owner[j]];
        size_t b = (j - first[owner[j]]) * MG_STATS_CHUNK;
        size_t e = b + MG_STATS_CHUNK < v->numel ? b + MG_STATS_CHUNK : (size_t)v->numel;
        chunk_stats(v, b, e, level, &parts[j]);
        if (progress) mg_progress_add(progress, (e - b) * mg_dtype_size(v->dtype));
    }
    for (size_t i = 0; i < n; i++) {
        partial acc = {0};
        for (size_t j = first[i]; j < first[i + 1]; j++)
            merge(&acc, &parts[j]);
        mg_tensor_stats *s = &out[i];
        memset(s, 0, sizeof *s);
        s->count = t[i]->numel;
        s->finite = acc.n;
        s->nan = acc.nan;
        s->inf = acc.inf;
        if (acc.n) {
            s->mean = acc.mean;
            s->std = sqrt(acc.m2 / (double)acc.n);
            s->min = acc.min;
            s->max = acc.max;
        }
    }
    free(parts);
    free(owner);
    free(first);
}

static int cmp_pos_name(const void *a, const void *b, void *ctx) {
    const mg_tensor_view *const *v = ctx;
    return strcmp(v[*(const size_t *)a]->name, v[*(const size_t *)b]->name);
}

void mg_model_stats_compute(const mg_model *m, mg_tensor_stats *out, mg_progress *progress) {
    size_t n = mg_model_tensor_count(m), k = 0;
    const mg_tensor_view **views = mg_malloc_array(n ? n : 1, sizeof *views);
    for (size_t s = 0; s < mg_model_shard_count(m); s++) {
        const mg_st_file *f = mg_model_shard(m, s);
        mg_st_advise(f, NULL, MG_ADVISE_SEQUENTIAL);
        for (size_t i = 0; i < mg_st_count(f); i++)
            views[k++] = mg_st_at(f, i);
    }
    mg_tensor_stats *tmp = mg_malloc_array(n ? n : 1, sizeof *tmp);
    mg_tensor_stats_compute(views, n, tmp, progress);
    // Back to the model's name order (names are unique, so the orders agree).
    size_t *pos = mg_malloc_array(n ? n : 1, sizeof *pos);
    for (size_t i = 0; i < n; i++)
        pos[i] = i;
    qsort_r(pos, n, sizeof *pos, cmp_pos_name, (void *)views);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[pos[i]];
    free(pos);
    free(tmp);
    free(views);
}

json_t *mg_tensor_stats_json(const mg_tensor_stats *s) {
    json_t *o = json_object();
    json_object_set_new(o, "mean", s->finite ? json_real(s->mean) : json_null());
    json_object_set_new(o, "std", s->finite ? json_real(s->std) : json_null());
    json_object_set_new(o, "min", s->finite ? json_real(s->min) : json_null());
    json_object_set_new(o, "max", s->finite ? json_real(s->max) : json_null());
    json_object_set_new(o, "nan", json_integer((json_int_t)s->nan));
    json_object_set_new(o, "inf", json_integer((json_int_t)s->inf));
    return o;
}

void mg_tensor_stats_print(FILE *f, const mg_tensor_stats *s) {
    if (s->finite)
        fprintf(f, "  %12.5g %12.5g %12.5g %12.5g", s->mean, s->std, s->min, s->max);
    else
        fprintf(f, "  %12s %12s %12s %12s", "-", "-", "-", "-");
    fprintf(f, " %6" PRIu64 " %6" PRIu64, s->nan, s->inf);
}
