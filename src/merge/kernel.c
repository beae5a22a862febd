/* kernel.c - see kernel.h. */
#include "merge/kernel.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"

#define MG_CHUNK_DEFAULT 262144u

uint64_t mg_kpass_chunks(const mg_kernel_ctx *c, bool rows, uint64_t *chunk_elems) {
    uint64_t want = c->chunk ? c->chunk : MG_CHUNK_DEFAULT;
    uint64_t ch = want;
    if (rows && c->cols) {
        uint64_t r = want / c->cols;
        if (r == 0) r = 1;
        ch = r * c->cols;
    }
    if (ch > c->numel) ch = c->numel;
    if (ch == 0) ch = 1;
    if (chunk_elems) *chunk_elems = ch;
    return c->numel ? (c->numel + ch - 1) / ch : 0;
}

mg_status mg_kpass(const mg_kernel_ctx *c, const mg_kpass_opts *o, mg_kpass_fn fn, void *user,
                   mg_error *err) {
    uint64_t ch;
    uint64_t nch = mg_kpass_chunks(c, o->rows, &ch);
    if (nch == 0) return MG_OK;
    int nthreads = omp_get_max_threads();
    if ((uint64_t)nthreads > nch) nthreads = (int)nch;
    if (omp_in_parallel()) nthreads = 1;
    volatile int failed = 0;
    mg_error first = {0};
#pragma omp parallel num_threads(nthreads)
    {
        int tid = omp_get_thread_num();
        float **x = mg_calloc(c->n, sizeof *x);
        for (size_t i = 0; i < c->n; i++)
            if (!o->load || o->load[i]) x[i] = mg_aligned_alloc(ch * sizeof(float));
        float *out = o->write ? mg_aligned_alloc(ch * sizeof(float)) : NULL;
        float *scratch = o->scratch_per_elem
                             ? mg_aligned_alloc((size_t)ch * o->scratch_per_elem * sizeof(float))
                             : NULL;
        mg_error e = {0};
#pragma omp for schedule(dynamic, 1)
        for (uint64_t ci = 0; ci < nch; ci++) {
            if (failed) continue;
            uint64_t b = ci * ch, cnt = c->numel - b < ch ? c->numel - b : ch;
            mg_status st = MG_OK;
            for (size_t i = 0; i < c->n && !st; i++)
                if (x[i]) st = c->read(c->read_user, i, b, cnt, x[i], &e);
            mg_kchunk k = {ci, b, cnt, x, out, scratch, tid};
            if (!st) st = fn(user, c, &k, &e);
            if (!st && o->write) c->write(c->write_user, b, cnt, out);
            if (st) {
#pragma omp critical(mg_kpass_err)
                {
                    if (!failed) {
                        first = e;
                        failed = 1;
                    }
                }
            }
        }
        for (size_t i = 0; i < c->n; i++)
            free(x[i]);
        free(x);
        free(out);
        free(scratch);
    }
    if (failed) {
        if (err) *err = first;
        return first.status ? first.status : MG_ERR_RUNTIME;
    }
    return MG_OK;
}

void mg_kpass_sum(const double *parts, uint64_t nchunks, size_t stride, size_t width, double *out) {
    for (size_t k = 0; k < width; k++)
        out[k] = 0;
    for (uint64_t ci = 0; ci < nchunks; ci++)
        for (size_t k = 0; k < width; k++)
            out[k] += parts[ci * stride + k];
}

double mg_kernel_l2sq(const float *x, uint64_t n) {
    double s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

/* ---- selection ---- */

static inline uint32_t fbits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

typedef struct sel_state {
    size_t nsel;
    mg_key_fn fn;
    void *user;
    int phase;            // 0: high 16 bits, 1: low 16 bits within hi[j], 2: tie counts,
                          // 3: collect the elements of bin hi[j] (index << 16 | low bits)
    uint64_t *hist;       // [threads][nsel][65536]
    uint32_t *hi, *thr;   // per selection
    bool *active;         // selection needs this phase
    uint64_t *tie_counts; // [nchunks][nsel]
    uint64_t **cand;      // phase 3: [nchunks][nsel] candidate lists
    uint64_t *ncand;      // their lengths
} sel_state;

/* Candidates of one bin are collected when there are at most this many: then
 * one pass finds the exact threshold and tie cut instead of two. */
uint64_t mg_select_collect_max = (uint64_t)8 << 20;

static mg_status sel_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    sel_state *s = user;
    float *keys = ch->scratch;
    for (size_t j = 0; j < s->nsel; j++) {
        if (!s->active[j]) continue;
        s->fn(s->user, c, ch, j, keys);
        if (s->phase == 2) {
            uint64_t cnt = 0;
            uint32_t t = s->thr[j];
            for (uint64_t i = 0; i < ch->count; i++)
                cnt += fbits(keys[i]) == t;
            s->tie_counts[ch->index * s->nsel + j] = cnt;
            continue;
        }
        if (s->phase == 3) {
            uint32_t hi = s->hi[j];
            uint64_t cnt = 0;
            for (uint64_t i = 0; i < ch->count; i++)
                cnt += (fbits(keys[i]) >> 16) == hi;
            uint64_t *v = mg_malloc_array(cnt + 1, sizeof(uint64_t)), m = 0;
            for (uint64_t i = 0; i < ch->count; i++) {
                uint32_t b = fbits(keys[i]);
                if ((b >> 16) == hi) v[m++] = (ch->begin + i) << 16 | (b & 0xffffu);
            }
            s->cand[ch->index * s->nsel + j] = v;
            s->ncand[ch->index * s->nsel + j] = m;
            continue;
        }
        uint64_t *h = s->hist + ((size_t)ch->thread * s->nsel + j) * 65536u;
        const uint64_t cnt = ch->count;
        if (s->phase == 0) {
            for (uint64_t i = 0; i < cnt; i++)
                h[fbits(keys[i]) >> 16]++;
        } else {
            uint32_t hi = s->hi[j];
            for (uint64_t i = 0; i < ch->count; i++) {
                uint32_t b = fbits(keys[i]);
                if ((b >> 16) == hi) h[b & 0xffffu]++;
            }
        }
    }
    return MG_OK;
}

/* In a 65536-bin histogram, the bin holding the k-th largest (1-based) and the
 * count strictly above that bin. */
static uint32_t find_bin(const uint64_t *h, uint64_t k, uint64_t *above) {
    uint64_t acc = 0;
    for (int b = 65535; b >= 0; b--) {
        if (acc + h[b] >= k) {
            *above = acc;
            return (uint32_t)b;
        }
        acc += h[b];
    }
    *above = acc;
    return 0;
}

/* Phase 3 for the selections whose bin hi[j] is small enough: collects the
 * bin's elements in one pass and resolves threshold and tie cut in memory
 * (candidates come out in index order: chunks in order, each in order). */
static mg_status collect(const mg_kernel_ctx *c, sel_state *s, uint64_t nch, uint64_t *need,
                         mg_select *out, mg_kpass_opts o, mg_error *err) {
    size_t nsel = s->nsel;
    bool *was = mg_calloc(nsel, sizeof(bool)), any = false;
    for (size_t j = 0; j < nsel; j++) {
        was[j] = s->active[j];
        if (!s->active[j]) continue;
        uint64_t binc = s->hist[j * 65536u + s->hi[j]];
        s->active[j] = binc <= mg_select_collect_max;
        any |= s->active[j];
    }
    mg_status st = MG_OK;
    if (!any) goto restore;
    s->cand = mg_calloc(nch * nsel, sizeof *s->cand);
    s->ncand = mg_calloc(nch * nsel, sizeof *s->ncand);
    s->phase = 3;
    st = mg_kpass(c, &o, sel_pass, s, err);
    s->phase = 0;
    uint64_t *h = mg_malloc(65536u * sizeof(uint64_t));
    for (size_t j = 0; j < nsel && !st; j++) {
        if (!s->active[j]) continue;
        memset(h, 0, 65536u * sizeof(uint64_t));
        for (uint64_t ci = 0; ci < nch; ci++)
            for (uint64_t q = 0; q < s->ncand[ci * nsel + j]; q++)
                h[s->cand[ci * nsel + j][q] & 0xffffu]++;
        uint64_t above;
        uint32_t lo = find_bin(h, need[j], &above);
        uint32_t thr = s->hi[j] << 16 | lo;
        uint64_t m = need[j] - above; // ties at thr to keep, in index order
        out[j] = (mg_select){thr, UINT64_MAX};
        if (m < h[lo]) {
            for (uint64_t ci = 0; ci < nch && m; ci++) {
                const uint64_t *v = s->cand[ci * nsel + j];
                for (uint64_t q = 0; q < s->ncand[ci * nsel + j]; q++)
                    if ((v[q] & 0xffffu) == lo && --m == 0) {
                        out[j].tie_cut = (v[q] >> 16) + 1;
                        break;
                    }
            }
        }
        was[j] = false; // resolved
    }
    free(h);
    for (uint64_t i = 0; i < nch * nsel; i++)
        free(s->cand[i]);
    free(s->cand);
    free(s->ncand);
    s->cand = NULL;
restore:
    for (size_t j = 0; j < nsel; j++)
        s->active[j] = was[j];
    free(was);
    return st;
}

mg_status mg_select_topk(const mg_kernel_ctx *c, size_t nsel, const uint64_t *k, mg_key_fn fn,
                         void *user, const bool *load, mg_select *out, mg_error *err) {
    uint64_t nch = mg_kpass_chunks(c, false, NULL);
    int nth = omp_get_max_threads();
    sel_state s = {.nsel = nsel, .fn = fn, .user = user};
    s.hist = mg_calloc((size_t)nth * nsel * 65536u, sizeof(uint64_t));
    s.hi = mg_calloc(nsel, sizeof(uint32_t));
    s.thr = mg_calloc(nsel, sizeof(uint32_t));
    s.active = mg_calloc(nsel, sizeof(bool));
    s.tie_counts = mg_calloc(nch * nsel + 1, sizeof(uint64_t));
    uint64_t *need = mg_calloc(nsel, sizeof(uint64_t));
    mg_kpass_opts o = {.rows = false, .write = false, .load = load, .scratch_per_elem = 1};
    mg_status st = MG_OK;
    size_t nactive = 0;
    for (size_t j = 0; j < nsel; j++) {
        if (k[j] == 0)
            out[j] = (mg_select){UINT32_MAX, 0};
        else if (k[j] > c->numel)
            out[j] = (mg_select){0, UINT64_MAX};
        else
            s.active[j] = true, nactive++;
    }
    if (!nactive) goto done;
    for (s.phase = 0; s.phase < 3; s.phase++) {
        if (s.phase == 1) memset(s.hist, 0, (size_t)nth * nsel * 65536u * sizeof(uint64_t));
        st = mg_kpass(c, &o, sel_pass, &s, err);
        if (st) goto done;
        for (size_t j = 0; j < nsel; j++) {
            if (!s.active[j]) continue;
            if (s.phase == 2) {
                // Walk chunks in order to the one holding the need[j]-th tie.
                uint64_t acc = 0, ci = 0;
                for (; ci < nch; ci++) {
                    uint64_t t = s.tie_counts[ci * nsel + j];
                    if (acc + t >= need[j]) break;
                    acc += t;
                }
                out[j].thr = s.thr[j];
                // Locate the exact element inside chunk ci (serial, one chunk).
                uint64_t chsz;
                mg_kpass_chunks(c, false, &chsz);
                uint64_t b = ci * chsz, cnt = c->numel - b < chsz ? c->numel - b : chsz;
                float **x = mg_calloc(c->n, sizeof *x);
                float *keys = mg_malloc(cnt * sizeof(float));
                for (size_t i = 0; i < c->n && !st; i++)
                    if (!load || load[i]) {
                        x[i] = mg_malloc(cnt * sizeof(float));
                        st = c->read(c->read_user, i, b, cnt, x[i], err);
                    }
                if (!st) {
                    mg_kchunk kc = {ci, b, cnt, x, NULL, keys, 0};
                    fn(user, c, &kc, j, keys);
                    uint64_t left = need[j] - acc, i = 0;
                    for (; i < cnt; i++)
                        if (fbits(keys[i]) == s.thr[j] && --left == 0) break;
                    out[j].tie_cut = b + i + 1;
                }
                for (size_t i = 0; i < c->n; i++)
                    free(x[i]);
                free(x);
                free(keys);
                if (st) goto done;
                continue;
            }
            uint64_t *h = s.hist + j * 65536u;
            for (int t = 1; t < nth; t++) {
                const uint64_t *ht = s.hist + ((size_t)t * nsel + j) * 65536u;
                for (size_t b = 0; b < 65536u; b++)
                    h[b] += ht[b];
            }
            uint64_t above;
            if (s.phase == 0) {
                s.hi[j] = find_bin(h, k[j], &above);
                need[j] = k[j] - above;
            } else {
                uint32_t lo = find_bin(h, need[j], &above);
                s.thr[j] = s.hi[j] << 16 | lo;
                need[j] -= above; // ties at thr still to keep
                if (need[j] == h[lo]) {
                    out[j] = (mg_select){s.thr[j], UINT64_MAX};
                    s.active[j] = false;
                }
            }
        }
        if (s.phase == 0) {
            st = collect(c, &s, nch, need, out, o, err);
            if (st) goto done;
        }
        bool any = false;
        for (size_t j = 0; j < nsel; j++)
            any |= s.active[j];
        if (!any) break;
    }
done:
    free(s.hist);
    free(s.hi);
    free(s.thr);
    free(s.active);
    free(s.tie_counts);
    free(need);
    return st;
}

typedef struct {
    float key;
    uint64_t idx;
} kv;

static int kv_cmp(const void *a, const void *b) {
    const kv *x = a, *y = b;
    uint32_t bx = fbits(x->key), by = fbits(y->key);
    if (bx != by) return bx > by ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

mg_select mg_select_topk_array(const float *keys, uint64_t n, uint64_t k) {
    if (k == 0) return (mg_select){UINT32_MAX, 0};
    if (k >= n) return (mg_select){0, UINT64_MAX};
    kv *a = mg_malloc_array(n, sizeof *a);
    for (uint64_t i = 0; i < n; i++)
        a[i] = (kv){keys[i], i};
    qsort(a, n, sizeof *a, kv_cmp);
    mg_select s = {fbits(a[k - 1].key), a[k - 1].idx + 1};
    free(a);
    return s;
}

/* ---- random masks ---- */

void mg_rng_u32_fill(uint64_t key, uint64_t begin, uint64_t count, uint32_t *out) {
    uint32_t k2[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
    uint64_t i = 0;
    while (i < count) {
        uint64_t idx = begin + i, blk = idx / 4;
        uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 0, 0}, w[4];
        mg_philox4x32_10(ctr, k2, w);
        for (unsigned q = (unsigned)(idx % 4); q < 4 && i < count; q++)
            out[i++] = w[q];
    }
}

/* Philox4x32-10 on 16 consecutive counters at once, structure-of-arrays so
 * the rounds vectorize; bit-identical to mg_philox4x32_10 (the tests check). */
#define PB 16
static void philox_batch(uint64_t key, uint64_t first, uint32_t out[4][PB]) {
    uint32_t c0[PB], c1[PB], c2[PB], c3[PB];
    for (int b = 0; b < PB; b++) {
        uint64_t blk = first + (uint64_t)b;
        c0[b] = (uint32_t)blk, c1[b] = (uint32_t)(blk >> 32), c2[b] = 0, c3[b] = 0;
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        for (int b = 0; b < PB; b++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0[b];
            uint64_t p1 = (uint64_t)0xCD9E8D57u * c2[b];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[b] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[b] ^ k1;
            c1[b] = (uint32_t)p1, c3[b] = (uint32_t)p0, c0[b] = n0, c2[b] = n2;
        }
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
    memcpy(out[0], c0, sizeof c0), memcpy(out[1], c1, sizeof c1);
    memcpy(out[2], c2, sizeof c2), memcpy(out[3], c3, sizeof c3);
}

void mg_philox_batch_check(uint64_t key, uint64_t first, uint32_t out[4][16]) {
    philox_batch(key, first, out);
}

void mg_bernoulli(uint64_t key, uint64_t begin, uint64_t count, double p, uint8_t *mask) {
    if (p >= 1) {
        memset(mask, 1, count);
        return;
    }
    if (p <= 0) {
        memset(mask, 0, count);
        return;
    }
    // 16-bit uniforms, 8 per Philox block: element i uses half (i % 8) of
    // block i / 8 (word (i % 8) / 2, low half first). Resolution 2^-16 is far
    // below the sampling noise of any tensor worth sparsifying, and it halves
    // the RNG cost.
    uint32_t thr = (uint32_t)(p * 65536.0 + 0.5);
    if (thr == 0) thr = 1; // p > 0 never means "drop everything"
    uint32_t w[4][PB];
    uint64_t i = 0;
    // Fast path: whole batches starting on a block boundary.
    while ((begin + i) % 8 == 0 && count - i >= 8 * PB) {
        philox_batch(key, (begin + i) / 8, w);
        uint8_t *m = mask + i;
        for (int b = 0; b < PB; b++)
            for (int q = 0; q < 4; q++) {
                uint32_t v = w[q][b];
                m[8 * b + 2 * q] = (v & 0xffffu) < thr;
                m[8 * b + 2 * q + 1] = (v >> 16) < thr;
            }
        i += 8 * PB;
    }
    while (i < count) {
        uint64_t idx = begin + i, blk = idx / 8;
        philox_batch(key, blk, w);
        for (uint64_t q = idx % 8; q < 8 * PB && i < count; q++, i++) {
            uint64_t bq = q / 8, h = q % 8;
            uint32_t u = (w[h / 2][bq] >> (16 * (h % 2))) & 0xffffu;
            mask[i] = u < thr;
        }
    }
}

/* ---- Gram matrix ---- */

typedef struct gram_state {
    double *parts; // [nchunks][n*n]
} gram_state;

static mg_status gram_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    gram_state *g = user;
    double *p = g->parts + ch->index * c->n * c->n;
    for (size_t i = 0; i < c->n; i++)
        for (size_t j = i; j < c->n; j++) {
            const float *a = ch->x[i], *b = ch->x[j];
            double s = 0;
            for (uint64_t e = 0; e < ch->count; e++)
                s += (double)a[e] * b[e];
            p[i * c->n + j] = p[j * c->n + i] = s;
        }
    return MG_OK;
}

mg_status mg_kernel_gram(const mg_kernel_ctx *c, double *G, mg_error *err) {
    uint64_t nch = mg_kpass_chunks(c, false, NULL);
    gram_state g = {mg_calloc(nch * c->n * c->n + 1, sizeof(double))};
    mg_kpass_opts o = {0};
    mg_status st = mg_kpass(c, &o, gram_pass, &g, err);
    if (!st) mg_kpass_sum(g.parts, nch, c->n * c->n, c->n * c->n, G);
    free(g.parts);
    return st;
}

/* out = sum_i coef[i] * x_i, one pass. */
typedef struct comb_state {
    const double *coef;
} comb_state;

static mg_status comb_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    const comb_state *s = user;
    float *o = ch->out;
    for (uint64_t e = 0; e < ch->count; e++)
        o[e] = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (s->coef[i] == 0) continue;
        float w = (float)s->coef[i];
        const float *x = ch->x[i];
        for (uint64_t e = 0; e < ch->count; e++)
            o[e] += w * x[e];
    }
    return MG_OK;
}

mg_status mg_kernel_combine(const mg_kernel_ctx *c, const double *coef, mg_error *err) {
    bool *load = mg_calloc(c->n, sizeof(bool));
    for (size_t i = 0; i < c->n; i++)
        load[i] = coef[i] != 0;
    comb_state s = {coef};
    mg_kpass_opts o = {.write = true, .load = load};
    mg_status st = mg_kpass(c, &o, comb_pass, &s, err);
    free(load);
    return st;
}
