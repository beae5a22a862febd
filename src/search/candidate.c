/* candidate.c - see candidate.h. */
#include "search/candidate.h"

#include <immintrin.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/half.h"
#include "base/log.h"
#include "merge/config.h"
#include "merge/input_cache.h"
#include "merge/plan.h"

typedef struct sink {
    float *dst;
    mg_dtype dt;
} sink;

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* d = widen(mg_f32_to_bf16(src)) on 16 lanes at a time, in one pass; the
 * weights are not read again soon (the model is far bigger than the caches),
 * so aligned stores bypass them. */
AVX512 static void round_bf16_avx512(const float *src, float *d, uint64_t n) {
    const __m512i mag = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff);
    const __m512i qnan = _mm512_set1_epi32(0x00400000), top = _mm512_set1_epi32((int)0xffff0000u);
    uint64_t e = 0;
    bool nt = (uintptr_t)d % 64 == 0;
    for (; e + 16 <= n; e += 16) {
        __m512i u = _mm512_loadu_si512((const void *)(src + e));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, mag), inf);
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
        __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(half, lsb));
        r = _mm512_mask_or_epi32(r, nan, u, qnan); // NaN: quieted, not rounded
        r = _mm512_and_si512(r, top);
        if (nt)
            _mm512_stream_si512((void *)(d + e), r);
        else
            _mm512_storeu_si512((void *)(d + e), r);
    }
    if (nt) _mm_sfence();
    for (; e < n; e++)
        d[e] = mg_bf16_to_f32(mg_f32_to_bf16(src[e]));
}

/* Stores the kernel's f32 output as the file writer would store it, widened back. */
static void sink_write(void *user, uint64_t begin, uint64_t count, const float *src) {
    sink *s = user;
    float *d = s->dst + begin;
    if (s->dt != MG_DTYPE_BF16 && s->dt != MG_DTYPE_F16) {
        memcpy(d, src, count * sizeof(float));
        return;
    }
    if (s->dt == MG_DTYPE_BF16 && mg_cpu_level_get() >= MG_CPU_AVX512) {
        round_bf16_avx512(src, d, count);
        return;
    }
    // Through the vectorized array conversions (the same rounding), in blocks.
    uint16_t h[4096];
    for (uint64_t i = 0; i < count; i += 4096) {
        size_t n = count - i < 4096 ? (size_t)(count - i) : 4096;
        if (s->dt == MG_DTYPE_BF16) {
            mg_f32_to_bf16_array(src + i, h, n);
            mg_bf16_to_f32_array(h, d + i, n);
        } else {
            mg_f32_to_f16_array(src + i, h, n);
            mg_f16_to_f32_array(h, d + i, n);
        }
    }
}

mg_status mg_candidate_merge_plan(const mg_plan *p, mg_nn_model *m, mg_error *err) {
    if (m->matrix_dtype != MG_DTYPE_F32)
        return mg_error_set(err, MG_ERR_INVALID, "candidate: the model must hold f32 weights");
    bool *seen = mg_calloc(m->n_tensors ? m->n_tensors : 1, sizeof(bool));
    mg_status st = MG_OK;
    for (size_t i = 0; i < p->n_tensors; i++) {
        const mg_plan_tensor *T = &p->tensors[i];
        const mg_nn_tensor *nt = mg_nn_model_find(m, T->name);
        if (!nt || !nt->data) {
            // A tied model has no lm_head entry; a merge that unties the head cannot be
            // scored by it.
            st = mg_error_set(err, MG_ERR_INVALID,
                              "candidate: merged tensor %s has no place in the model (tied "
                              "embeddings on one side only?)",
                              T->name);
            goto done;
        }
        if ((uint64_t)nt->numel != T->numel) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "candidate: tensor %s: the merge gives %llu elements, the model "
                              "holds %zu",
                              T->name, (unsigned long long)T->numel, nt->numel);
            goto done;
        }
        seen[nt - m->tensors] = true;
        sink s = {nt->data, T->out_dtype};
        if ((st = mg_plan_run_tensor(p, i, sink_write, &s, err))) goto done;
    }
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!seen[i]) {
            st = mg_error_set(err, MG_ERR_INVALID, "candidate: the merge does not produce %s",
                              m->tensors[i].name);
            goto done;
        }
done:
    free(seen);
    return st;
}

static uint64_t g_cache_cap = (uint64_t)1 << 30;
static mg_input_cache *g_cache;

void mg_candidate_cache_limit(uint64_t cap_bytes) {
    g_cache_cap = cap_bytes;
    // A smaller cap starts over (entries are never evicted one by one).
    mg_input_cache_free(g_cache);
    g_cache = NULL;
}

uint64_t mg_candidate_cache_bytes(void) {
    return mg_input_cache_bytes(g_cache);
}

mg_status mg_candidate_merge(const char *yaml, size_t len, const char *what, const char *base_dir,
                             uint64_t seed, mg_nn_model *m, mg_candidate_stats *stats,
                             mg_error *err) {
    double t0 = mg_now_seconds();
    mg_merge_config *cfg = NULL;
    mg_plan *plan = NULL;
    mg_status st = mg_merge_config_parse(yaml, len, what, base_dir, &cfg, err);
    if (!st) st = mg_plan_build(cfg, seed, &plan, err);
    double t1 = mg_now_seconds();
    if (!st && g_cache_cap) {
        if (!g_cache) {
            g_cache = mg_input_cache_new(g_cache_cap);
            // Room for derived data (task-vector memos, ~12 bytes per distinct
            // |delta| value) that the inputs may not take.
            mg_input_cache_reserve(g_cache, g_cache_cap / 8);
        }
        mg_plan_set_cache(plan, g_cache);
    }
    if (!st) st = mg_candidate_merge_plan(plan, m, err);
    if (stats) {
        stats->plan_seconds = t1 - t0;
        stats->merge_seconds = mg_now_seconds() - t1;
    }
    mg_plan_free(plan);
    mg_merge_config_free(cfg);
    return st;
}
