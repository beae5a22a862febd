/* select_pivot.c - the pivot stage of mg_select_topk (kernel.h): big tensors
 * settled in one counting pass, with no key array and no histograms.
 *
 * A sample of the keys (NPIECES pieces of PIECE elements spread evenly over
 * the tensor), sorted once, gives each selection a few pivot values around the
 * expected k-th largest key: the sample values at its expected sample rank and
 * at +-3 and +-8 standard deviations (plus a small margin) from it. The full
 * pass then counts, per chunk, the keys above the top pivot and the keys equal
 * to each pivot, and collects (index, key) of the keys strictly between
 * pivots. That settles the selection exactly whenever the k-th largest key lies
 * inside the outer pivots:
 *  - on a pivot value: merges of bf16 checkpoints have few distinct |delta|
 *    values, so the threshold usually sits in a big class of ties, which a
 *    pivot then catches; the per-chunk counts find the chunk holding the
 *    cut, which is read again to find the element;
 *  - between two pivots: every key there was collected (in index order), and
 *    a radix select over them gives the threshold and the tie cut.
 * Keys are compared as unsigned 32-bit patterns (non-negative floats order as
 * their bits), ties broken by index, exactly as the other paths do, so the
 * rule is the same whichever path settles it. A selection whose k-th key falls
 * outside the bracket (an unlucky sample), or whose gaps would hold too many
 * keys, is left to the exact paths. The counting loop has an AVX-512 version
 * chosen at run time (base/cpu.h) beside the plain one; both count exactly. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "merge/kernel.h"

uint64_t mg_select_pivot_min = (uint64_t)1 << 20;
_Atomic uint64_t mg_select_pivot_hits;

enum { NPIV = 5, PIECE = 1024, NPIECES = 128, SUB = 8192 };
static const double PIV_SIGMA[NPIV] = {-8, -3, 0, 3, 8};

typedef struct psel {
    uint32_t P[NPIV]; // pivot key bits, ascending, distinct
    int np;
    uint32_t lo, hi; // region [lo, hi]: outer pivots, or 0 / UINT32_MAX when open-ended
} psel;

/* Growable (index << 32 | key bits) list. */
typedef struct gvec {
    uint64_t *v;
    uint64_t n, cap;
} gvec;

static void gvec_push(gvec *g, uint64_t x) {
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 4096;
        g->v = mg_realloc(g->v, g->cap * sizeof(uint64_t));
    }
    g->v[g->n++] = x;
}

typedef struct pstate {
    size_t nsel;
    mg_key_fn fn;
    void *user;
    bool *run;          // selection handled by this pass
    _Atomic bool *full; // its gap collection overflowed
    psel *ps;
    uint64_t *above;         // [nch][nsel]
    uint32_t *eq;            // [nch][nsel][NPIV]
    uint64_t **cand;         // [nch][nsel]
    uint64_t *ncand;         // [nch][nsel]
    gvec *tv;                // per thread
    _Atomic uint64_t *ncoll; // per selection
    uint64_t cap;
    float **xsub; // [threads][n]: sub-block views of a chunk's inputs
} pstate;

/* ---- counting ---- */

static void count_scalar(const uint32_t *kb, uint64_t n, uint64_t first, const psel *s,
                         uint64_t *above, uint32_t *eq, gvec *g, bool collect) {
    uint64_t ab = 0;
    for (uint64_t e = 0; e < n; e++) {
        uint32_t b = kb[e];
        if (b > s->hi) {
            ab++;
            continue;
        }
        if (b < s->lo) continue;
        int i = 0;
        while (i < s->np && s->P[i] != b)
            i++;
        if (i < s->np)
            eq[i]++;
        else if (collect)
            gvec_push(g, (first + e) << 32 | b);
    }
    *above += ab;
}

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512 static void count_avx512(const uint32_t *kb, uint64_t n, uint64_t first, const psel *s,
                                uint64_t *above, uint32_t *eq, gvec *g, bool collect) {
    const __m512i lo = _mm512_set1_epi32((int)s->lo), hi = _mm512_set1_epi32((int)s->hi);
    __m512i P[NPIV];
    uint64_t cnt[NPIV] = {0}, ab = 0;
    int np = s->np;
    for (int i = 0; i < NPIV; i++)
        P[i] = _mm512_set1_epi32((int)(i < np ? s->P[i] : s->P[0]));
    uint64_t e = 0;
    for (; e + 16 <= n; e += 16) {
        __m512i v = _mm512_loadu_si512((const void *)(kb + e));
        __mmask16 mhi = _mm512_cmpgt_epu32_mask(v, hi);
        __mmask16 min = _mm512_mask_cmpge_epu32_mask((__mmask16)~mhi, v, lo);
        ab += (uint64_t)__builtin_popcount(mhi);
        if (!min) continue;
        __mmask16 many = 0;
        for (int i = 0; i < np; i++) {
            __mmask16 m = _mm512_mask_cmpeq_epu32_mask(min, v, P[i]);
            cnt[i] += (uint64_t)__builtin_popcount(m);
            many |= m;
        }
        unsigned gap = (unsigned)(min & (__mmask16)~many);
        if (gap && collect)
            while (gap) {
                int l = __builtin_ctz(gap);
                gap &= gap - 1;
                gvec_push(g, (first + e + (uint64_t)l) << 32 | kb[e + (uint64_t)l]);
            }
    }
    for (int i = 0; i < np; i++)
        eq[i] += (uint32_t)cnt[i];
    *above += ab;
    if (e < n) count_scalar(kb + e, n - e, first + e, s, above, eq, g, collect);
}

static mg_status pivot_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch,
                            mg_error *err) {
    (void)err;
    pstate *s = user;
    bool avx512 = mg_cpu_level_get() >= MG_CPU_AVX512;
    gvec *g = &s->tv[ch->thread];
    float *const *x = ch->x;
    float **xs = s->xsub + (size_t)ch->thread * c->n;
    for (size_t j = 0; j < s->nsel; j++) {
        if (!s->run[j]) continue;
        size_t at = ch->index * s->nsel + j;
        bool collect = !atomic_load_explicit(&s->full[j], memory_order_relaxed);
        g->n = 0;
        uint64_t ab = 0;
        // Keys in sub-blocks that stay in L1 / L2 between the key function and the count.
        for (uint64_t b = 0; b < ch->count; b += SUB) {
            uint64_t n = ch->count - b < SUB ? ch->count - b : SUB;
            for (size_t i = 0; i < c->n; i++)
                xs[i] = x[i] ? x[i] + b : NULL;
            mg_kchunk sub = {ch->index, ch->begin + b, n, xs, NULL, ch->scratch, ch->thread};
            s->fn(s->user, c, &sub, j, ch->scratch);
            const uint32_t *kb = (const uint32_t *)(const void *)ch->scratch;
            (avx512 ? count_avx512 : count_scalar)(kb, n, ch->begin + b, &s->ps[j], &ab,
                                                   s->eq + at * NPIV, g, collect);
        }
        s->above[at] = ab;
        if (!collect || !g->n) continue;
        if (atomic_fetch_add(&s->ncoll[j], g->n) + g->n > s->cap) {
            atomic_store(&s->full[j], true);
            continue;
        }
        s->cand[at] = mg_malloc_array(g->n, sizeof(uint64_t));
        memcpy(s->cand[at], g->v, g->n * sizeof(uint64_t));
        s->ncand[at] = g->n;
    }
    return MG_OK;
}

/* ---- sample and pivots ---- */

/* Ascending LSD radix sort of n keys (two 16-bit digits); tmp holds n. */
static void radix_sort_u32(uint32_t *a, uint32_t *tmp, uint64_t n) {
    uint32_t *cnt = mg_malloc(65536 * sizeof(uint32_t));
    for (int sh = 0; sh < 32; sh += 16) {
        memset(cnt, 0, 65536 * sizeof(uint32_t));
        for (uint64_t i = 0; i < n; i++)
            cnt[(a[i] >> sh) & 0xffffu]++;
        uint32_t pos = 0;
        for (uint32_t d = 0; d < 65536; d++) {
            uint32_t t = cnt[d];
            cnt[d] = pos;
            pos += t;
        }
        for (uint64_t i = 0; i < n; i++)
            tmp[cnt[(a[i] >> sh) & 0xffffu]++] = a[i];
        memcpy(a, tmp, n * sizeof(uint32_t));
    }
    free(cnt);
}

/* Input views of elements [b, b + cnt) into xv (buffers x for inputs that are
 * read, cached inputs in place). */
static mg_status load_range(const mg_kernel_ctx *c, const bool *load, uint64_t b, uint64_t cnt,
                            float **x, float **xv, mg_error *err) {
    for (size_t i = 0; i < c->n; i++) {
        xv[i] = NULL;
        if (load && !load[i]) continue;
        if (c->whole && c->whole[i]) {
            xv[i] = (float *)(uintptr_t)(c->whole[i] + b);
            continue;
        }
        mg_status st = c->read(c->read_user, i, b, cnt, x[i], err);
        if (st) return st;
        xv[i] = x[i];
    }
    return MG_OK;
}

/* Sample keys of the active selections: samp[j][0..ns). */
static mg_status take_sample(const mg_kernel_ctx *c, const pstate *s, const bool *load,
                             uint32_t **samp, uint64_t *ns_out, mg_error *err) {
    uint64_t np = (c->numel + PIECE - 1) / PIECE;
    if (np > NPIECES) np = NPIECES;
    uint64_t *start = mg_malloc_array(np + 1, sizeof(uint64_t));
    uint64_t *off = mg_malloc_array(np + 1, sizeof(uint64_t));
    for (uint64_t q = 0; q <= np; q++)
        start[q] = (uint64_t)((double)q * (double)c->numel / (double)np);
    start[np] = c->numel;
    off[0] = 0;
    for (uint64_t q = 0; q < np; q++) {
        uint64_t len = start[q + 1] - start[q];
        off[q + 1] = off[q] + (len < PIECE ? len : PIECE);
    }
    *ns_out = off[np];
    volatile int failed = 0;
    mg_error first = {0};
    int nth = omp_in_parallel() ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(nth)
    {
        float **x = mg_calloc(2 * c->n + 1, sizeof *x), **xv = x + c->n;
        for (size_t i = 0; i < c->n; i++)
            x[i] = mg_aligned_alloc(PIECE * sizeof(float));
        float *keys = mg_aligned_alloc(PIECE * sizeof(float));
        mg_error e = {0};
#pragma omp for schedule(dynamic, 4)
        for (uint64_t q = 0; q < np; q++) {
            if (failed) continue;
            uint64_t len = off[q + 1] - off[q];
            mg_status st = load_range(c, load, start[q], len, x, xv, &e);
            if (st) {
#pragma omp critical(mg_select_pivot_err)
                if (!failed) first = e, failed = 1;
                continue;
            }
            mg_kchunk k = {q, start[q], len, xv, NULL, keys, omp_get_thread_num()};
            for (size_t j = 0; j < s->nsel; j++) {
                if (!s->run[j]) continue;
                s->fn(s->user, c, &k, j, keys);
                memcpy(samp[j] + off[q], keys, len * sizeof(float));
            }
        }
        for (size_t i = 0; i < c->n; i++)
            free(x[i]);
        free(x);
        free(keys);
    }
    free(start), free(off);
    if (failed) {
        if (err) *err = first;
        return first.status ? first.status : MG_ERR_RUNTIME;
    }
    return MG_OK;
}

/* Pivots of a selection keeping k of n from the sorted sample asc[0..ns). */
static psel make_pivots(const uint32_t *asc, uint64_t ns, uint64_t k, uint64_t n) {
    psel p = {.lo = 0, .hi = UINT32_MAX};
    double ks = (double)k * (double)ns / (double)n; // expected sample rank from the top
    double sd = sqrt(ks * (1 - ks / (double)ns)) + 1, margin = 0.001 * (double)ns + 8;
    bool top_open = false, bot_open = false;
    uint32_t v[NPIV];
    int nv = 0;
    for (int i = 0; i < NPIV; i++) {
        double d = PIV_SIGMA[i], r = ks + d * sd + (d < 0 ? -margin : d > 0 ? margin : 0);
        if (r < 1) {
            top_open = true;
            continue;
        }
        if (r > (double)ns) {
            bot_open = true;
            continue;
        }
        v[nv++] = asc[ns - (uint64_t)r]; // rank r from the top (1-based)
    }
    // Ranks ascend, so values descend: store ascending, without repeats.
    for (int i = nv - 1; i >= 0; i--)
        if (p.np == 0 || v[i] != p.P[p.np - 1]) p.P[p.np++] = v[i];
    if (p.np) {
        if (!bot_open) p.lo = p.P[0];
        if (!top_open) p.hi = p.P[p.np - 1];
    }
    return p;
}

/* ---- settling ---- */

/* Index of the need-th key equal to thr in chunk ci (re-read). */
static mg_status locate_tie(const mg_kernel_ctx *c, const pstate *s, size_t j, const bool *load,
                            uint64_t ci, uint64_t need, uint32_t thr, uint64_t *idx,
                            mg_error *err) {
    uint64_t chsz;
    mg_kpass_chunks(c, false, &chsz);
    uint64_t b0 = ci * chsz, end = c->numel - b0 < chsz ? c->numel : b0 + chsz;
    // In sub-blocks (small buffers, read from the resident arena when the
    // pass left the inputs there), stopping at the tie.
    float **x = mg_calloc(2 * c->n + 1, sizeof *x), **xv = x + c->n;
    for (size_t i = 0; i < c->n; i++)
        x[i] = mg_malloc_array(SUB, sizeof(float));
    float *keys = mg_malloc_array(SUB, sizeof(float));
    mg_status st = MG_OK;
    bool found = false;
    for (uint64_t b = b0; b < end && !st && !found; b += SUB) {
        uint64_t cnt = end - b < SUB ? end - b : SUB;
        st = load_range(c, load, b, cnt, x, xv, err);
        if (st) break;
        mg_kchunk kc = {ci, b, cnt, xv, NULL, keys, 0};
        s->fn(s->user, c, &kc, j, keys);
        const uint32_t *kb = (const uint32_t *)(const void *)keys;
        for (uint64_t e = 0; e < cnt; e++)
            if (kb[e] == thr && --need == 0) {
                *idx = b + e, found = true;
                break;
            }
    }
    if (!st && !found) st = mg_error_set(err, MG_ERR_RUNTIME, "selection: tie count mismatch");
    for (size_t i = 0; i < c->n; i++)
        free(x[i]);
    free(x), free(keys);
    return st;
}

/* Settles selection j from the pass's counts; *ok false when the bracket
 * missed. */
static mg_status settle(const mg_kernel_ctx *c, const pstate *s, size_t j, uint64_t nch, uint64_t k,
                        const bool *load, mg_select *out, bool *ok, mg_error *err) {
    const psel *p = &s->ps[j];
    size_t nsel = s->nsel;
    *ok = false;
    uint64_t above = 0, eqt[NPIV] = {0}, gapt[NPIV + 1] = {0};
    for (uint64_t ci = 0; ci < nch; ci++) {
        size_t at = ci * nsel + j;
        above += s->above[at];
        for (int i = 0; i < p->np; i++)
            eqt[i] += s->eq[at * NPIV + (size_t)i];
        for (uint64_t q = 0; q < s->ncand[at]; q++) {
            uint32_t b = (uint32_t)s->cand[at][q];
            int g = 0; // gap g lies below P[g] (and above P[g - 1])
            while (g < p->np && b > p->P[g])
                g++;
            gapt[g]++;
        }
    }
    if (k <= above) return MG_OK; // the k-th key lies above the bracket
    uint64_t cum = above;
    for (int g = p->np; g >= 0; g--) {
        if (cum + gapt[g] >= k) {
            // Between pivots: every key of this gap was collected, in index order.
            uint64_t m = gapt[g], need = k - cum, w = 0;
            uint32_t *kb = mg_malloc_array(m + 1, sizeof(uint32_t));
            uint32_t *tmp = mg_malloc_array(m + 1, sizeof(uint32_t));
            uint64_t *ix = mg_malloc_array(m + 1, sizeof(uint64_t));
            for (uint64_t ci = 0; ci < nch; ci++) {
                size_t at = ci * nsel + j;
                for (uint64_t q = 0; q < s->ncand[at]; q++) {
                    uint32_t b = (uint32_t)s->cand[at][q];
                    bool in = (g == p->np || b < p->P[g]) && (g == 0 || b > p->P[g - 1]);
                    if (in) kb[w] = b, ix[w++] = s->cand[at][q] >> 32;
                }
            }
            mg_select r = mg_select_radix(kb, m, need, tmp);
            out[j] =
                (mg_select){r.thr, r.tie_cut == UINT64_MAX ? UINT64_MAX : ix[r.tie_cut - 1] + 1};
            free(kb), free(tmp), free(ix);
            *ok = true;
            return MG_OK;
        }
        cum += gapt[g];
        if (g == 0) break;
        if (cum + eqt[g - 1] >= k) {
            // On pivot g - 1: find the chunk holding the cut among its ties.
            uint32_t thr = p->P[g - 1];
            uint64_t need = k - cum;
            out[j] = (mg_select){thr, UINT64_MAX};
            *ok = true;
            if (need == eqt[g - 1]) return MG_OK;
            uint64_t acc = 0, ci = 0;
            for (; ci < nch; ci++) {
                uint64_t t = s->eq[(ci * nsel + j) * NPIV + (size_t)(g - 1)];
                if (acc + t >= need) break;
                acc += t;
            }
            uint64_t idx = 0;
            mg_status st = locate_tie(c, s, j, load, ci, need - acc, thr, &idx, err);
            out[j].tie_cut = idx + 1;
            return st;
        }
        cum += eqt[g - 1];
    }
    return MG_OK; // below the bracket
}

mg_status mg_select_pivot(const mg_kernel_ctx *c, size_t nsel, const uint64_t *k, mg_key_fn fn,
                          void *user, const bool *load, mg_select *out, bool *done, mg_error *err) {
    pstate s = {.nsel = nsel, .fn = fn, .user = user};
    s.run = mg_calloc(nsel + 1, sizeof(bool));
    size_t nrun = 0;
    for (size_t j = 0; j < nsel; j++) {
        done[j] = true;
        if (k[j] == 0)
            out[j] = (mg_select){UINT32_MAX, 0};
        else if (k[j] > c->numel)
            out[j] = (mg_select){0, UINT64_MAX};
        else
            done[j] = false, s.run[j] = true, nrun++;
    }
    mg_status st = MG_OK;
    uint64_t nch = mg_kpass_chunks(c, false, NULL), ns = 0;
    uint32_t **samp = mg_calloc(nsel + 1, sizeof *samp);
    if (!nrun || c->numel >> 32) goto done;
    for (size_t j = 0; j < nsel; j++)
        if (s.run[j]) samp[j] = mg_malloc_array((uint64_t)NPIECES * PIECE, sizeof(uint32_t));
    st = take_sample(c, &s, load, samp, &ns, err);
    if (st) goto done;
    s.ps = mg_calloc(nsel + 1, sizeof *s.ps);
    int nth = omp_get_max_threads(), nthp = omp_in_parallel() ? 1 : nth;
#pragma omp parallel num_threads(nthp)
    {
        uint32_t *tmp = mg_malloc_array(ns + 1, sizeof(uint32_t));
#pragma omp for schedule(dynamic, 1)
        for (size_t j = 0; j < nsel; j++) {
            if (!s.run[j]) continue;
            radix_sort_u32(samp[j], tmp, ns);
            s.ps[j] = make_pivots(samp[j], ns, k[j], c->numel);
            if (!s.ps[j].np) s.run[j] = false;
        }
        free(tmp);
    }
    s.above = mg_calloc(nch * nsel + 1, sizeof(uint64_t));
    s.eq = mg_calloc(nch * nsel * NPIV + 1, sizeof(uint32_t));
    s.cand = mg_calloc(nch * nsel + 1, sizeof *s.cand);
    s.ncand = mg_calloc(nch * nsel + 1, sizeof(uint64_t));
    s.tv = mg_calloc((size_t)nth + 1, sizeof *s.tv);
    s.full = mg_calloc(nsel + 1, sizeof(bool));
    s.ncoll = mg_calloc(nsel + 1, sizeof *s.ncoll);
    s.cap = c->numel / 16 > ((uint64_t)1 << 20) ? c->numel / 16 : (uint64_t)1 << 20;
    s.xsub = mg_calloc((size_t)nth * c->n + 1, sizeof *s.xsub);
    mg_kpass_opts o = {.load = load, .scratch_per_elem = 1};
    st = mg_kpass(c, &o, pivot_pass, &s, err);
    if (!st) {
        // Selections settle independently (each may read one chunk again).
        volatile int failed = 0;
        mg_error first = {0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthp)
        for (size_t j = 0; j < nsel; j++) {
            if (!s.run[j] || s.full[j] || failed) continue;
            bool ok = false;
            mg_error e = {0};
            mg_status sj = settle(c, &s, j, nch, k[j], load, out, &ok, &e);
            if (sj) {
#pragma omp critical(mg_select_pivot_err)
                if (!failed) first = e, failed = 1;
            } else if (ok) {
                done[j] = true;
                mg_select_pivot_hits++;
            }
        }
        if (failed) {
            if (err) *err = first;
            st = first.status ? first.status : MG_ERR_RUNTIME;
        }
    }
    for (uint64_t i = 0; i < nch * nsel; i++)
        free(s.cand[i]);
    for (int t = 0; t < nth; t++)
        free(s.tv[t].v);
    free(s.above), free(s.eq), free(s.cand), free(s.ncand), free(s.tv), free((void *)s.full);
    free(s.xsub);
    free((void *)s.ncoll), free(s.ps);
done:
    for (size_t j = 0; j < nsel; j++)
        free(samp[j]);
    free(samp);
    free(s.run);
    return st;
}
