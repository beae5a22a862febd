/* gta.c - mergekit merge_methods/generalized_task_arithmetic.py and
 * sparsify.py: the eight task-vector methods (task_arithmetic, ties,
 * dare_ties, dare_linear, breadcrumbs, breadcrumbs_ties, della, della_linear).
 *
 * For each non-base model: delta = x - base; sparsify it with its own density
 * (before weighting); optional rescale; W = w * delta'. With "sum" consensus
 * the sign s = sign(sum W) (>= 0 counts as +) is elected and only models whose
 * W has that sign (zeros never agree) contribute: M = sum m W, D = sum m w
 * per element (D = 1 where 0). Without consensus M = sum W, D = sum w (1 if
 * |D| < 1e-8). normalize divides M by D; then M *= lambda; out = base + M.
 *
 * Sparsifiers (all leave the delta untouched when density >= 1):
 *  - magnitude: keep the floor(d n) largest |delta| (ties: lower index);
 *    d = 0 keeps nothing (mergekit asserts instead);
 *  - magnitude_outliers (breadcrumbs): keep ascending ranks [bot, n - top)
 *    with top = floor(gamma n), bot = n - floor(d n) - top (bot < 0 moves into
 *    top). mergekit slices [bot:-top], which is empty when top = 0 and zeroes
 *    the whole delta (tensors under 100 elements at gamma 0.01); we keep
 *    [bot, n) then, as the method intends;
 *  - random (DARE): Bernoulli(d) from the counter RNG keyed by (seed, tensor,
 *    model, element);
 *  - della: per row (1-D = one row), ranks r of |delta| ascending (ties by
 *    index), p = d - eps + 2 eps r / (cols - 1), Bernoulli(p); d <= 0 gives 0.
 * Rescale: `true` (1) is mergekit's L1 match delta' *= |delta|_1 /
 * |delta'|_1 (skipped if either is < 1e-7); `inverse` (2) divides each kept
 * element by its keep probability, as the DARE and DELLA papers do. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "merge/input_cache.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"
#include "merge/tv_memo.h"

typedef enum { SP_NONE, SP_MAGNITUDE, SP_RANDOM, SP_OUTLIERS, SP_DELLA } sparsifier;

typedef struct gta {
    sparsifier sp;
    bool consensus;
    size_t K;
    size_t *idx; // non-base input indices
    int rescale; // 0, 1 (L1), 2 (inverse)
    double *w, *d, *eps;
    bool *active; // sparsifier applies (0 < d < 1 or d <= 0)
    mg_select *s1, *s2;
    double *l1;    // L1 factor per model
    double *parts; // [nchunks][2K]
    double wsum;
    uint8_t **bits;  // DARE masks cached between the L1 pass and the combine
    bool bits_ready; //   pass (1 bit per element and model), when chunks are byte-aligned
    // Tie cuts found during the combine pass (memoised thresholds, tv_memo.h):
    bool *lb;              // model k keeps only part of its ties at s1[k].thr ...
    uint64_t *lb_need;     // ... the first lb_need[k] of them, in index order
    _Atomic uint64_t *tc;  // [nchunks][K] ties per chunk, UINT64_MAX until published
    int kfail;             // set when a chunk of the pass fails (waiters stop)
    const uint16_t **half; // per input: bf16 in memory (ctx half), when all are
} gta;

typedef struct rk {
    float v;
    uint32_t i;
} rk;

static int rk_cmp(const void *a, const void *b) {
    const rk *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* DELLA keep probabilities for whole rows of delta. */
static void della_probs(const float *delta, uint64_t count, uint64_t cols, double d, double eps,
                        float *p, rk *tmp) {
    for (uint64_t r0 = 0; r0 < count; r0 += cols) {
        for (uint64_t j = 0; j < cols; j++)
            tmp[j] = (rk){fabsf(delta[r0 + j]), (uint32_t)j};
        qsort(tmp, cols, sizeof *tmp, rk_cmp);
        for (uint64_t r = 0; r < cols; r++) {
            double rh = cols > 1 ? (double)r / (double)(cols - 1) : 0;
            p[r0 + tmp[r].i] = (float)((d - eps) + 2 * eps * rh);
        }
    }
}

/* delta'_k for a chunk into dst. With l1 false, also returns (when sums is
 * non-NULL) sum|delta| and sum|delta masked| before rescale. */
/* sum |x| with 16 float lanes (vectorizes), added up in double. */
static double abs_sum(const float *restrict x, uint64_t n) {
    float acc[16] = {0};
    uint64_t e = 0;
    for (; e + 16 <= n; e += 16)
        for (int l = 0; l < 16; l++)
            acc[l] += fabsf(x[e + (uint64_t)l]);
    double s = 0;
    for (int l = 0; l < 16; l++)
        s += acc[l];
    for (; e < n; e++)
        s += fabsf(x[e]);
    return s;
}

/* dst[e] = dst[e] * inv * m[e] with the DARE mask m as bits (bit e % 8 of
 * bits[e / 8]); the multiply (not a select) keeps mergekit's arithmetic. */
static inline __attribute__((always_inline)) void
apply_bits_body(float *restrict dst, uint64_t n, const uint8_t *restrict bits, float inv) {
    for (uint64_t e0 = 0; e0 < n; e0 += 8) {
        unsigned byte = bits[e0 / 8];
        uint64_t m = n - e0 < 8 ? n - e0 : 8;
        for (uint64_t q = 0; q < m; q++)
            dst[e0 + q] = dst[e0 + q] * inv * (float)((byte >> q) & 1u);
    }
}

__attribute__((noinline)) static void apply_bits_scalar(float *dst, uint64_t n, const uint8_t *bits,
                                                        float inv) {
    apply_bits_body(dst, n, bits, inv);
}

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512 static void apply_bits_avx512(float *dst, uint64_t n, const uint8_t *bits, float inv) {
    const __m512i one = _mm512_set1_epi32(0x3f800000); // 1.0f
    const __m512 vi = _mm512_set1_ps(inv);
    uint64_t e = 0;
    for (; e + 16 <= n; e += 16) {
        uint16_t mk;
        memcpy(&mk, bits + e / 8, 2);
        __m512 m = _mm512_castsi512_ps(_mm512_maskz_mov_epi32((__mmask16)mk, one));
        __m512 d = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(dst + e), vi), m);
        _mm512_storeu_ps(dst + e, d);
    }
    if (e < n) apply_bits_body(dst + e, n - e, bits + e / 8, inv);
}

static void apply_bits(float *dst, uint64_t n, const uint8_t *bits, float inv) {
    if (mg_cpu_level_get() >= MG_CPU_AVX512)
        apply_bits_avx512(dst, n, bits, inv);
    else
        apply_bits_scalar(dst, n, bits, inv);
}

static void delta_k(const gta *g, const mg_kernel_ctx *c, const mg_kchunk *ch, size_t k, float *dst,
                    bool apply_l1, double *sums) {
    const float *x = ch->x[g->idx[k]], *b = ch->x[c->base];
    uint64_t n = ch->count, b0 = ch->begin;
    for (uint64_t e = 0; e < n; e++)
        dst[e] = x[e] - b[e];
    double full = sums ? abs_sum(dst, n) : 0;
    if (g->active[k]) {
        double d = g->d[k];
        switch (g->sp) {
        case SP_NONE:
            break;
        case SP_MAGNITUDE: {
            // Branch-free form of mg_select_keep, so the loop vectorizes.
            uint32_t thr = g->s1[k].thr;
            uint64_t cut = g->s1[k].tie_cut;
            uint64_t ncut = cut <= b0 ? 0 : cut - b0 > n ? n : cut - b0;
            for (uint64_t e = 0; e < n; e++) {
                uint32_t bits;
                memcpy(&bits, &dst[e], 4);
                uint32_t ab = bits & 0x7fffffffu; // |delta|
                uint32_t keep =
                    (uint32_t)(ab > thr) | ((uint32_t)(ab == thr) & (uint32_t)(e < ncut));
                bits &= 0u - keep;
                memcpy(&dst[e], &bits, 4);
            }
            break;
        }
        case SP_OUTLIERS:
            for (uint64_t e = 0; e < n; e++) {
                float a = fabsf(dst[e]);
                if (!mg_select_keep(&g->s1[k], b0 + e, a) || mg_select_keep(&g->s2[k], b0 + e, a))
                    dst[e] = 0;
            }
            break;
        case SP_RANDOM: {
            if (d <= 0) {
                memset(dst, 0, n * sizeof(float));
                break;
            }
            uint8_t *bits = g->bits ? g->bits[k] + b0 / 8 : NULL, *own = NULL;
            if (!bits) bits = own = mg_malloc(n / 8 + 1);
            if (!(g->bits && g->bits_ready))
                mg_bernoulli_bits(mg_mask_key(c, g->idx[k]), b0, n, d, bits);
            float inv = g->rescale == 2 ? (float)(1.0 / d) : 1.0f;
            apply_bits(dst, n, bits, inv);
            free(own);
            break;
        }
        case SP_DELLA: {
            if (d <= 0) {
                memset(dst, 0, n * sizeof(float));
                break;
            }
            float *p = mg_malloc_array(n, sizeof(float));
            rk *tmp = mg_malloc_array(c->cols, sizeof(rk));
            uint32_t *u = mg_malloc_array(n, sizeof(uint32_t));
            della_probs(dst, n, c->cols, d, g->eps[k], p, tmp);
            mg_rng_u32_fill(mg_mask_key(c, g->idx[k]), b0, n, u);
            for (uint64_t e = 0; e < n; e++) {
                bool keep = (double)u[e] < (double)p[e] * 4294967296.0;
                dst[e] = keep ? (g->rescale == 2 ? dst[e] / p[e] : dst[e]) : 0;
            }
            free(p), free(tmp), free(u);
            break;
        }
        }
    }
    if (sums) sums[0] = full, sums[1] = abs_sum(dst, n);
    if (apply_l1 && g->l1[k] != 1) {
        float f = (float)g->l1[k];
        for (uint64_t e = 0; e < n; e++)
            dst[e] *= f;
    }
}

static mg_status l1_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    gta *g = user;
    for (size_t k = 0; k < g->K; k++) {
        if (!g->active[k]) continue;
        delta_k(g, c, ch, k, ch->scratch, false, g->parts + (ch->index * g->K + k) * 2);
    }
    return MG_OK;
}

/* ---- fused combine ----
 * The combine pass in blocks of FB elements, every step of one block done
 * while it sits in L1: W_k = ((x_k - b) masked) * l1_k * w_k (or a delta
 * precomputed by delta_k), the elected sign, the agreeing sums, normalisation
 * and out = b + lambda M. The operations and their order per element are those
 * of the unfused definition (header comment), so results are bit-identical at
 * every ISA level; the AVX2 copy is the same code compiled for AVX2 (no FMA:
 * contraction would change the rounding). */
#define FB 256
#define COMBINE_CHUNK 131072
#define SORTED_MEMO_MAX mg_gta_sorted_memo_max
uint64_t mg_gta_sorted_memo_max = (uint64_t)1 << 21;
#define FK 8 // models held in the block buffer; more use precomputed deltas

typedef struct fuse {
    size_t K;
    bool raw;              // x[k] are inputs (delta and magnitude mask done here)
    const float *const *x; // [K]: inputs (raw) or weighted deltas
    const float *b;
    float *o;
    uint64_t n;
    uint32_t thr[FK];
    uint64_t ncut[FK]; // ties kept for chunk elements e < ncut
    float l1[FK], w[FK];
    const uint8_t *bits[FK]; // raw DARE: mask bits of the chunk (NULL: no mask)
    float kinv[FK];          //   kept elements times kinv (rescale: inverse)
    bool zero[FK];           //   density <= 0: the delta is dropped
    bool half;               // raw inputs given as bf16 (hx, hb), widened per block
    const uint16_t *hx[FK], *hb;
    bool consensus, norm;
    float lam, inv;
} fuse;

/* bit_floats[byte][q] = bit q of byte as 0.0f / 1.0f (mask expansion). */
#define BF1(b)                                                                                     \
    {                                                                                              \
        (b) & 1, ((b) >> 1) & 1, ((b) >> 2) & 1, ((b) >> 3) & 1, ((b) >> 4) & 1, ((b) >> 5) & 1,   \
            ((b) >> 6) & 1, ((b) >> 7) & 1                                                         \
    }
#define BF2(b) BF1(b), BF1((b) + 1)
#define BF4(b) BF2(b), BF2((b) + 2)
#define BF8(b) BF4(b), BF4((b) + 4)
#define BF16(b) BF8(b), BF8((b) + 8)
#define BF32(b) BF16(b), BF16((b) + 16)
#define BF64(b) BF32(b), BF32((b) + 32)
#define BF128(b) BF64(b), BF64((b) + 64)
static const float bit_floats[256][8] = {BF128(0), BF128(128)};

/* bf16 -> f32 of a block (exact: the bits shifted up). */
static inline __attribute__((always_inline)) const float *widen(const uint16_t *h, float *dst,
                                                                uint32_t m) {
    for (uint32_t e = 0; e < m; e++) {
        uint32_t u = (uint32_t)h[e] << 16;
        memcpy(&dst[e], &u, 4);
    }
    return dst;
}

static inline __attribute__((always_inline)) void fuse_body(const fuse *f) {
    float Wb[FK][FB], S[FB], M[FB], D[FB], Hx[FK][FB], Hb[FB];
    size_t K = f->K;
    for (uint64_t e0 = 0; e0 < f->n; e0 += FB) {
        uint32_t m = f->n - e0 < FB ? (uint32_t)(f->n - e0) : FB;
        const float *b = f->b + e0;
        if (f->half) b = widen(f->hb + e0, Hb, m);
        // The sums start from 0 (0.0f + first term, so a -0.0 term gives +0.0
        // exactly as adding to a zeroed array does), without clearing arrays.
        for (size_t k = 0; k < K; k++) {
            const float *x = f->half ? widen(f->hx[k] + e0, Hx[k], m) : f->x[k] + e0;
            float *v = f->raw ? Wb[k] : (float *)x; // precomputed: read in place
            if (f->raw && (f->bits[k] || f->zero[k])) {
                // DARE: (((x - b) * inv) * mask) * l1 * w, as delta_k and the
                // weighting do it (mask as 0.0 / 1.0 from the bits).
                float mf[FB], l1 = f->l1[k], w = f->w[k], inv = f->kinv[k];
                if (f->zero[k]) {
                    for (uint32_t e = 0; e < m; e++)
                        v[e] = (0.0f * l1) * w;
                } else {
                    const uint8_t *bk = f->bits[k] + e0 / 8;
                    for (uint32_t q = 0; q < (m + 7) / 8; q++)
                        memcpy(mf + 8 * q, bit_floats[bk[q]], sizeof bit_floats[0]);
                    for (uint32_t e = 0; e < m; e++)
                        v[e] = ((((x[e] - b[e]) * inv) * mf[e]) * l1) * w;
                }
            } else if (f->raw) {
                uint32_t thr = f->thr[k];
                uint64_t nc = f->ncut[k];
                uint32_t cut = nc <= e0 ? 0 : nc - e0 > m ? m : (uint32_t)(nc - e0);
                float l1 = f->l1[k], w = f->w[k];
                for (uint32_t e = 0; e < m; e++) {
                    float d = x[e] - b[e];
                    uint32_t bits;
                    memcpy(&bits, &d, 4);
                    uint32_t ab = bits & 0x7fffffffu;
                    uint32_t keep =
                        (uint32_t)(ab > thr) | ((uint32_t)(ab == thr) & (uint32_t)(e < cut));
                    bits &= 0u - keep;
                    memcpy(&d, &bits, 4);
                    v[e] = (d * l1) * w;
                }
            }
            float *acc = f->consensus ? S : M;
            if (k == 0)
                for (uint32_t e = 0; e < m; e++)
                    acc[e] = 0.0f + v[e];
            else
                for (uint32_t e = 0; e < m; e++)
                    acc[e] += v[e];
        }
        float *o = f->o + e0;
        if (f->consensus) {
            // Elected sign: + where sum W >= 0; a model counts where its W
            // agrees (zeros never agree).
            for (size_t k = 0; k < K; k++) {
                const float *v = f->raw ? Wb[k] : f->x[k] + e0;
                float w = f->w[k];
                if (k == 0)
                    for (uint32_t e = 0; e < m; e++) {
                        float vv = v[e];
                        int sp = S[e] >= 0.0f, pos = vv > 0.0f, neg = vv < 0.0f;
                        float a = (float)((pos & sp) | (neg & !sp));
                        M[e] = 0.0f + a * vv;
                        D[e] = 0.0f + a * w;
                    }
                else
                    for (uint32_t e = 0; e < m; e++) {
                        float vv = v[e];
                        int sp = S[e] >= 0.0f, pos = vv > 0.0f, neg = vv < 0.0f;
                        float a = (float)((pos & sp) | (neg & !sp));
                        M[e] += a * vv;
                        D[e] += a * w;
                    }
            }
            if (f->norm)
                for (uint32_t e = 0; e < m; e++)
                    M[e] = M[e] / (D[e] + (float)(D[e] == 0.0f));
        } else if (f->norm) {
            for (uint32_t e = 0; e < m; e++)
                M[e] *= f->inv;
        }
        for (uint32_t e = 0; e < m; e++)
            o[e] = b[e] + f->lam * M[e];
    }
}

__attribute__((noinline)) static void fuse_scalar(const fuse *f) {
    fuse_body(f);
}
__attribute__((noinline, target("avx2"))) static void fuse_avx2(const fuse *f) {
    fuse_body(f);
}
AVX512 __attribute__((noinline)) static void fuse_avx512(const fuse *f) {
    fuse_body(f);
}

/* Ties (|x - b| bits == thr) in the chunk, and the position after the need-th
 * of them (n when there are fewer; need 0: count only). */
static uint64_t count_ties_scalar(const float *restrict x, const float *restrict b, uint64_t n,
                                  uint32_t thr, uint64_t need, uint64_t *cut) {
    uint64_t t = 0;
    *cut = n;
    for (uint64_t e = 0; e < n; e++) {
        float d = fabsf(x[e] - b[e]);
        uint32_t bits;
        memcpy(&bits, &d, 4);
        t += bits == thr;
        if (need && t == need && bits == thr) {
            *cut = e + 1;
            need = 0;
        }
    }
    return t;
}

AVX512 static uint64_t count_ties_avx512(const float *x, const float *b, uint64_t n, uint32_t thr,
                                         uint64_t need, uint64_t *cut) {
    const __m512i t16 = _mm512_set1_epi32((int)thr), mag = _mm512_set1_epi32(0x7fffffff);
    uint64_t t = 0, e = 0;
    *cut = n;
    for (; e + 16 <= n; e += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + e), _mm512_loadu_ps(b + e));
        __m512i ab = _mm512_and_si512(_mm512_castps_si512(d), mag);
        unsigned m = (unsigned)_mm512_cmpeq_epi32_mask(ab, t16);
        unsigned c = (unsigned)__builtin_popcount(m);
        if (need && t + c >= need) {
            // The cut lies in this vector: drop the lowest need - t - 1 ties.
            for (uint64_t q = need - t - 1; q > 0; q--)
                m &= m - 1;
            *cut = e + (uint64_t)__builtin_ctz(m) + 1;
            need = 0;
        }
        t += c;
    }
    if (e < n) {
        uint64_t c2;
        uint64_t rest = need > t ? need - t : 0;
        uint64_t tt = count_ties_scalar(x + e, b + e, n - e, thr, need ? rest : 0, &c2);
        if (need && rest && c2 < n - e) *cut = e + c2;
        t += tt;
    }
    return t;
}

static uint64_t count_ties(const float *x, const float *b, uint64_t n, uint32_t thr, uint64_t need,
                           uint64_t *cut) {
    if (mg_cpu_level_get() >= MG_CPU_AVX512) return count_ties_avx512(x, b, n, thr, need, cut);
    return count_ties_scalar(x, b, n, thr, need, cut);
}

/* Chunk-relative tie cuts of the models with partial ties: publish this
 * chunk's tie count, add up those of the chunks before it (claimed earlier, so
 * published or about to be), keep the ties still needed. */
static mg_status tie_cuts(gta *g, const mg_kernel_ctx *c, const mg_kchunk *ch, uint64_t *ncut,
                          mg_error *err) {
    size_t K = g->K;
    const float *b = ch->x[c->base];
    uint64_t t[FK] = {0};
    for (size_t k = 0; k < K; k++) {
        if (!g->lb[k]) continue;
        uint64_t cut;
        t[k] = count_ties(ch->x[g->idx[k]], b, ch->count, g->s1[k].thr, 0, &cut);
        atomic_store_explicit(&g->tc[ch->index * K + k], t[k], memory_order_release);
    }
    for (size_t k = 0; k < K; k++) {
        if (!g->lb[k]) continue;
        uint64_t before = 0;
        for (uint64_t ci = 0; ci < ch->index; ci++) {
            uint64_t v;
            for (unsigned spin = 0;
                 (v = atomic_load_explicit(&g->tc[ci * K + k], memory_order_acquire)) == UINT64_MAX;
                 spin++) {
                if (__atomic_load_n(&g->kfail, __ATOMIC_ACQUIRE))
                    return mg_error_set(err, MG_ERR_RUNTIME, "another chunk failed");
                if (spin > 64) sched_yield();
            }
            before += v;
        }
        uint64_t need = g->lb_need[k];
        if (need <= before)
            ncut[k] = 0; // the cut lies in an earlier chunk
        else if (need - before >= t[k])
            ncut[k] = ch->count; // every tie here is kept
        else
            count_ties(ch->x[g->idx[k]], b, ch->count, g->s1[k].thr, need - before, &ncut[k]);
    }
    return MG_OK;
}

static mg_status combine(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    gta *g = user;
    uint64_t n = ch->count;
    size_t K = g->K;
    fuse f = {.K = K,
              .raw = K <= FK && (g->sp == SP_NONE || g->sp == SP_MAGNITUDE || g->sp == SP_RANDOM),
              .b = ch->x[c->base],
              .o = ch->out,
              .n = n,
              .consensus = g->consensus,
              .half = g->half != NULL,
              .norm = c->g[MG_P_NORMALIZE] != 0,
              .lam = (float)c->g[MG_P_LAMBDA],
              .inv = 1.0f / (float)(fabs(g->wsum) < 1e-8 ? 1.0 : g->wsum)};
    uint64_t lbcut[FK];
    if (g->lb) {
        mg_status st = tie_cuts(g, c, ch, lbcut, err);
        if (st) return st;
    }
    const float **src = mg_malloc_array(K, sizeof(float *));
    uint8_t **own = NULL;   // masks generated here (not cached by the L1 pass)
    float *W = ch->scratch; // [K][n] weighted deltas (when not raw)
    for (size_t k = 0; k < K; k++) {
        if (f.raw) {
            src[k] = ch->x[g->idx[k]];
            if (g->half) f.hx[k] = g->half[g->idx[k]] + ch->begin;
            bool sel = g->active[k] && g->sp == SP_MAGNITUDE;
            f.thr[k] = sel ? g->s1[k].thr : 0;
            uint64_t cut = g->s1[k].tie_cut, b0 = ch->begin;
            f.ncut[k] = !sel ? UINT64_MAX : cut <= b0 ? 0 : cut - b0;
            if (sel && g->lb && g->lb[k]) f.ncut[k] = lbcut[k];
            f.l1[k] = (float)g->l1[k];
            f.w[k] = (float)g->w[k];
            f.kinv[k] = 1.0f;
            if (g->sp == SP_RANDOM && g->active[k]) {
                double d = g->d[k];
                f.zero[k] = d <= 0;
                f.kinv[k] = g->rescale == 2 ? (float)(1.0 / d) : 1.0f;
                if (d > 0 && g->bits && g->bits_ready) {
                    f.bits[k] = g->bits[k] + b0 / 8;
                } else if (d > 0) {
                    if (!own) own = mg_calloc(K, sizeof *own);
                    own[k] = mg_malloc(n / 8 + 1);
                    mg_bernoulli_bits(mg_mask_key(c, g->idx[k]), b0, n, d, own[k]);
                    f.bits[k] = own[k];
                }
            }
        } else {
            float *dk = W + k * n;
            delta_k(g, c, ch, k, dk, true, NULL);
            float w = (float)g->w[k];
            for (uint64_t e = 0; e < n; e++)
                dk[e] *= w;
            src[k] = dk;
        }
    }
    f.x = src;
    if (g->half) f.hb = g->half[c->base] + ch->begin;
    if (!f.raw) {
        // Weights of the agreeing sums (K > FK: the block buffer holds only FK).
        for (size_t k = 0; k < K && k < FK; k++)
            f.w[k] = (float)g->w[k];
    }
    if (!f.raw && K > FK) {
        // Rare: more than FK models; the unblocked reference steps.
        float *S = W + K * n, *M = S + n, *D = M + n;
        for (uint64_t e = 0; e < n; e++)
            S[e] = 0, M[e] = 0, D[e] = 0;
        for (size_t k = 0; k < K; k++)
            for (uint64_t e = 0; e < n; e++)
                (g->consensus ? S : M)[e] += src[k][e];
        if (g->consensus) {
            for (size_t k = 0; k < K; k++) {
                float w = (float)g->w[k];
                for (uint64_t e = 0; e < n; e++) {
                    float v = src[k][e];
                    int sp = S[e] >= 0.0f, pos = v > 0.0f, neg = v < 0.0f;
                    float a = (float)((pos & sp) | (neg & !sp));
                    M[e] += a * v;
                    D[e] += a * w;
                }
            }
            if (f.norm)
                for (uint64_t e = 0; e < n; e++)
                    M[e] = M[e] / (D[e] + (float)(D[e] == 0.0f));
        } else if (f.norm) {
            for (uint64_t e = 0; e < n; e++)
                M[e] *= f.inv;
        }
        for (uint64_t e = 0; e < n; e++)
            f.o[e] = f.b[e] + f.lam * M[e];
    } else if (mg_cpu_level_get() >= MG_CPU_AVX512) {
        fuse_avx512(&f);
    } else if (mg_cpu_level_get() >= MG_CPU_AVX2) {
        fuse_avx2(&f);
    } else {
        fuse_scalar(&f);
    }
    for (size_t k = 0; own && k < K; k++)
        free(own[k]);
    free(own);
    free(src);
    return MG_OK;
}

typedef struct keyctx {
    const gta *g;
    bool second;
} keyctx;

static void abs_delta_key(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, size_t j,
                          float *keys) {
    const keyctx *kc = user;
    const gta *g = kc->g;
    size_t k = j % g->K;
    const float *x = ch->x[g->idx[k]], *b = ch->x[c->base];
    for (uint64_t e = 0; e < ch->count; e++)
        keys[e] = fabsf(x[e] - b[e]);
}

/* ---- memoised selection (plans with an input cache) ----
 * A search merges the same task vectors with many densities: with the inputs
 * cached, the elements of each task vector sorted by |delta| (descending, ties
 * by index) are kept in the cache, and any top-k rule is then read off entry
 * k - 1. The rule keeps the same elements as mg_select_topk's. */
typedef struct fullkeys {
    const keyctx *kc;
    size_t j;
    float *dst;
} fullkeys;

static mg_status fullkeys_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch,
                               mg_error *err) {
    (void)err;
    const fullkeys *f = user;
    abs_delta_key((void *)f->kc, c, ch, f->j, f->dst + ch->begin);
    return MG_OK;
}

/* (key bits << 32 | index) sorted by bits descending, index ascending: a
 * stable LSD radix sort on the two 16-bit halves of the bits. */
static uint64_t *sort_keys(const uint32_t *kb, uint64_t n) {
    uint32_t *a = mg_malloc_array(n, sizeof(uint32_t)), *b = mg_malloc_array(n, sizeof(uint32_t));
    uint64_t *cnt = mg_malloc(65536 * sizeof(uint64_t));
    for (uint64_t i = 0; i < n; i++)
        a[i] = (uint32_t)i;
    for (int sh = 0; sh < 32; sh += 16) {
        memset(cnt, 0, 65536 * sizeof(uint64_t));
        for (uint64_t i = 0; i < n; i++)
            cnt[(kb[i] >> sh) & 0xffffu]++;
        uint64_t pos = 0;
        for (int d = 65535; d >= 0; d--) {
            uint64_t t = cnt[d];
            cnt[d] = pos;
            pos += t;
        }
        for (uint64_t q = 0; q < n; q++) {
            uint32_t v = a[q];
            b[cnt[(kb[v] >> sh) & 0xffffu]++] = v;
        }
        uint32_t *t = a;
        a = b, b = t;
    }
    uint64_t *out = mg_malloc_array(n, sizeof(uint64_t));
    for (uint64_t q = 0; q < n; q++)
        out[q] = (uint64_t)kb[a[q]] << 32 | a[q];
    free(a), free(b), free(cnt);
    return out;
}

/* TIES thresholds from the task-vector memo (tv_memo.h): no selection pass.
 * Models that keep only part of the ties at their threshold get the cut in
 * the combine pass (tie_cuts). *done false when a memo is unavailable. */
static mg_status tv_select(const mg_kernel_ctx *c, gta *g, const uint64_t *kk, mg_select *sel,
                           bool *done, mg_error *err) {
    size_t K = g->K, nq = 0;
    size_t *model = mg_calloc(K, sizeof(size_t)), *which = mg_calloc(K, sizeof(size_t));
    uint64_t *kq = mg_calloc(K, sizeof(uint64_t));
    for (size_t k = 0; k < K; k++) {
        if (!g->active[k])
            sel[k] = (mg_select){0, UINT64_MAX}; // unused
        else if (kk[k] == 0)
            sel[k] = (mg_select){UINT32_MAX, 0};
        else
            model[nq] = g->idx[k], kq[nq] = kk[k], which[nq++] = k;
    }
    mg_tv_rule *r = mg_calloc(nq + 1, sizeof *r);
    bool *ok = mg_calloc(nq + 1, sizeof(bool));
    mg_status st = mg_tv_memo_rules(c, nq, model, kq, r, ok, err);
    *done = !st;
    for (size_t q = 0; q < nq && *done; q++)
        *done = ok[q];
    for (size_t q = 0; q < nq && *done; q++) {
        size_t k = which[q];
        uint64_t need = kq[q] - r[q].above;
        sel[k] = (mg_select){r[q].thr, UINT64_MAX};
        if (need < r[q].ties) {
            if (!g->lb) g->lb = mg_calloc(K, sizeof(bool)), g->lb_need = mg_calloc(K, 8);
            g->lb[k] = true, g->lb_need[k] = need;
        }
    }
    if (!*done && g->lb) {
        free(g->lb), free(g->lb_need);
        g->lb = NULL, g->lb_need = NULL;
    }
    free(model), free(which), free(kq), free(r), free(ok);
    return st;
}

/* Fills sel[j] for every selection from the memo; false when the inputs are
 * not cached (or the memo is full): then mg_select_topk runs as usual. */
static bool memo_select(const mg_kernel_ctx *c, const gta *g, size_t nsel, const uint64_t *kk,
                        keyctx *kc, mg_select *sel, mg_error *err, mg_status *st) {
    // Small tensors only (8 bytes per element and model): the exact cut comes
    // straight from the sorted keys, no tie counting in the combine pass; big
    // ones use the compact task-vector memo.
    if (!c->memo || !c->ids || !c->ids[c->base] || c->numel > SORTED_MEMO_MAX) return false;
    const uint64_t **sorted = mg_calloc(g->K, sizeof *sorted);
    bool ok = true;
    uint64_t bytes = c->numel * sizeof(uint64_t);
    for (size_t k = 0; k < g->K && ok; k++) {
        if (!g->active[k]) continue;
        const char *id = c->ids[g->idx[k]];
        if (!id) {
            ok = false;
            break;
        }
        size_t len = strlen(id) + strlen(c->ids[c->base]) + 16;
        char *key = mg_malloc(len);
        snprintf(key, len, "absdelta|%s|%s", id, c->ids[c->base]);
        sorted[k] = mg_input_cache_get_blob(c->memo, key, bytes);
        if (!sorted[k] && !mg_input_cache_fits(c->memo, bytes)) {
            free(key);
            ok = false; // would not be kept: do not sort for nothing
            break;
        }
        if (!sorted[k]) {
            float *keys = mg_malloc_array(c->numel, sizeof(float));
            fullkeys f = {kc, k, keys};
            mg_kpass_opts o = {0};
            *st = mg_kpass(c, &o, fullkeys_pass, &f, err);
            if (*st) {
                free(keys), free(key), free(sorted);
                return true;
            }
            uint64_t *v = sort_keys((const uint32_t *)(const void *)keys, c->numel);
            free(keys);
            sorted[k] = mg_input_cache_put_blob(c->memo, key, bytes, v);
            if (!sorted[k]) free(v), ok = false;
        }
        free(key);
    }
    for (size_t j = 0; j < nsel && ok; j++) {
        const uint64_t *v = sorted[j % g->K];
        if (kk[j] == 0)
            sel[j] = (mg_select){UINT32_MAX, 0};
        else if (kk[j] > c->numel || !v)
            sel[j] = (mg_select){0, UINT64_MAX};
        else
            sel[j] = (mg_select){(uint32_t)(v[kk[j] - 1] >> 32), (v[kk[j] - 1] & 0xffffffffu) + 1};
    }
    free(sorted);
    return ok;
}

static mg_status run(const mg_kernel_ctx *c, sparsifier sp, bool consensus, mg_error *err) {
    if (c->base < 0)
        return mg_error_set(err, MG_ERR_INVALID, "task-vector methods need a base_model");
    gta g = {.sp = sp, .consensus = consensus, .rescale = (int)c->g[MG_P_RESCALE]};
    g.idx = mg_calloc(c->n, sizeof(size_t));
    for (size_t i = 0; i < c->n; i++)
        if ((int)i != c->base) g.idx[g.K++] = i;
    mg_status st = MG_OK;
    if (g.K == 0) {
        // Only the base: mergekit returns it unchanged.
        double *coef = mg_calloc(c->n, sizeof(double));
        coef[c->base] = 1;
        st = mg_kernel_combine(c, coef, err);
        free(coef);
        free(g.idx);
        return st;
    }
    size_t K = g.K;
    g.w = mg_calloc(K, sizeof(double)), g.d = mg_calloc(K, sizeof(double));
    g.eps = mg_calloc(K, sizeof(double)), g.active = mg_calloc(K, sizeof(bool));
    g.s1 = mg_calloc(K, sizeof(mg_select)), g.s2 = mg_calloc(K, sizeof(mg_select));
    g.l1 = mg_calloc(K, sizeof(double));
    uint64_t *kk = mg_calloc(2 * K, sizeof(uint64_t));
    bool any_sel = false, any_l1 = false;
    for (size_t k = 0; k < K; k++) {
        const double *m = c->m[g.idx[k]];
        g.w[k] = m[MG_P_WEIGHT];
        g.d[k] = isnan(m[MG_P_DENSITY]) ? 1.0 : m[MG_P_DENSITY];
        g.eps[k] = m[MG_P_EPSILON];
        g.wsum += g.w[k];
        g.l1[k] = 1;
        g.active[k] = sp != SP_NONE && g.d[k] < 1;
        if (!g.active[k]) continue;
        double n = (double)c->numel;
        if (sp == SP_DELLA && g.d[k] > 0 && (g.d[k] - g.eps[k] <= 0 || g.d[k] + g.eps[k] >= 1)) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "della: density %g and epsilon %g need density - epsilon > 0 and "
                              "density + epsilon < 1",
                              g.d[k], g.eps[k]);
            goto done;
        }
        if (sp == SP_MAGNITUDE) {
            kk[k] = (uint64_t)floor(g.d[k] * n);
            any_sel = true;
        } else if (sp == SP_OUTLIERS) {
            int64_t target = (int64_t)floor(g.d[k] * n), top = (int64_t)floor(m[MG_P_GAMMA] * n);
            int64_t bot = (int64_t)c->numel - target - top;
            if (bot < 0) top += bot, bot = 0;
            kk[k] = c->numel - (uint64_t)bot; // keep the n - bot largest ...
            kk[K + k] = (uint64_t)top;        // ... except the top largest
            any_sel = true;
        }
        if (g.rescale == 1) any_l1 = true;
    }
    if (sp == SP_MAGNITUDE && K <= FK && g.rescale != 1 && c->memo && c->ids &&
        c->numel > SORTED_MEMO_MAX) {
        // A search will want every task vector's memo sooner or later: build
        // them all on the first merge of this tensor (one pass), whatever the
        // densities of this candidate.
        uint64_t *kn = mg_malloc_array(K, sizeof(uint64_t));
        mg_tv_rule *r = mg_calloc(K, sizeof *r);
        bool *ok = mg_calloc(K, sizeof(bool));
        for (size_t k = 0; k < K; k++)
            kn[k] = c->numel;
        st = mg_tv_memo_rules(c, K, g.idx, kn, r, ok, err);
        free(kn), free(r), free(ok);
        if (st) goto done;
    }
    if (any_sel) {
        keyctx kc = {&g, false};
        size_t nsel = sp == SP_OUTLIERS ? 2 * K : K;
        mg_select *sel = mg_calloc(nsel, sizeof(mg_select));
        // Inactive models: k = numel keeps all (not used anyway).
        for (size_t j = 0; j < nsel; j++)
            if (!g.active[j % K]) kk[j] = j < K ? UINT64_MAX : 0;
        bool done_sel = memo_select(c, &g, nsel, kk, &kc, sel, err, &st);
        if (!st && !done_sel && sp == SP_MAGNITUDE && K <= FK && g.rescale != 1 && c->memo)
            st = tv_select(c, &g, kk, sel, &done_sel, err);
        if (!st && !done_sel) st = mg_select_topk(c, nsel, kk, abs_delta_key, &kc, NULL, sel, err);
        for (size_t k = 0; k < K && !st; k++) {
            g.s1[k] = sel[k];
            if (sp == SP_OUTLIERS) g.s2[k] = sel[K + k];
        }
        free(sel);
        if (st) goto done;
    }
    if (any_l1) {
        uint64_t chsz, nch = mg_kpass_chunks(c, sp == SP_DELLA, &chsz);
        if (sp == SP_RANDOM && chsz % 8 == 0) {
            g.bits = mg_calloc(K, sizeof *g.bits);
            for (size_t k = 0; k < K; k++)
                if (g.active[k]) g.bits[k] = mg_malloc((c->numel + 7) / 8);
        }
        g.parts = mg_calloc(nch * K * 2 + 1, sizeof(double));
        mg_kpass_opts o = {.rows = sp == SP_DELLA, .scratch_per_elem = 1};
        st = mg_kpass(c, &o, l1_pass, &g, err);
        if (st) goto done;
        for (size_t k = 0; k < K; k++) {
            if (!g.active[k]) continue;
            double s[2];
            mg_kpass_sum(g.parts + 2 * k, nch, 2 * K, 2, s);
            if (s[0] >= 1e-7 && s[1] >= 1e-7) g.l1[k] = s[0] / s[1];
        }
        g.bits_ready = g.bits != NULL;
    }
    // The fused raw path (see combine) needs no scratch.
    bool raw = K <= FK && (sp == SP_NONE || sp == SP_MAGNITUDE || sp == SP_RANDOM);
    mg_kpass_opts o = {
        .rows = sp == SP_DELLA, .write = true, .scratch_per_elem = raw ? 0 : (unsigned)K + 3};
    // The combine is elementwise: smaller chunks keep its inputs and output in
    // L2 between reading and combining.
    mg_kernel_ctx cc = *c;
    if (!cc.chunk) {
        // Several chunks per thread even on small tensors (balance), at most
        // COMBINE_CHUNK (cache), a multiple of 64 (DARE mask bytes).
        uint64_t want = c->numel / (4 * (uint64_t)omp_get_max_threads()) / 64 * 64;
        cc.chunk = want < 16384 ? 16384 : want > COMBINE_CHUNK ? COMBINE_CHUNK : want;
    }
    c = &cc;
    if (g.lb) {
        uint64_t nch = mg_kpass_chunks(c, o.rows, NULL);
        g.tc = mg_malloc_array(nch * K + 1, sizeof *g.tc);
        for (uint64_t i = 0; i < nch * K; i++)
            atomic_init(&g.tc[i], UINT64_MAX);
        o.failed = &g.kfail;
    }
    // Inputs all in memory as bf16: the fused combine widens them block by
    // block, nothing goes through chunk buffers.
    bool *noload = NULL;
    if (raw && !g.lb && c->half) {
        g.half = mg_calloc(c->n, sizeof *g.half);
        bool all = true;
        for (size_t i = 0; i < c->n && all; i++)
            all = (g.half[i] = c->half(c->half_user, i)) != NULL;
        if (all) {
            noload = mg_calloc(c->n, sizeof(bool));
            o.load = noload;
        } else {
            free(g.half);
            g.half = NULL;
        }
    }
    st = mg_kpass(c, &o, combine, &g, err);
    free(noload);
done:
    free(g.idx), free(g.w), free(g.d), free(g.eps), free(g.active), free(g.s1), free(g.s2);
    free(g.l1), free(g.parts), free(kk);
    free(g.lb), free(g.lb_need), free((void *)g.tc), free(g.half);
    for (size_t k = 0; g.bits && k < K; k++)
        free(g.bits[k]);
    free(g.bits);
    return st;
}

mg_status mg_k_task_arithmetic(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, SP_NONE, false, err);
}
mg_status mg_k_ties(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, SP_MAGNITUDE, true, err);
}
mg_status mg_k_dare_ties(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, SP_RANDOM, true, err);
}
mg_status mg_k_dare_linear(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, SP_RANDOM, false, err);
}
mg_status mg_k_breadcrumbs(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, SP_OUTLIERS, false, err);
}
mg_status mg_k_breadcrumbs_ties(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, SP_OUTLIERS, true, err);
}
mg_status mg_k_della(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, SP_DELLA, true, err);
}
mg_status mg_k_della_linear(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, SP_DELLA, false, err);
}
