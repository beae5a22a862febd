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
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

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

/* mask bytes (0/1) <-> bits, 8 at a time (bit k of a byte = element k). */
static void pack_bits(const uint8_t *mask, uint64_t n, uint8_t *bits) {
    uint64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        uint64_t x;
        memcpy(&x, mask + e, 8);
        bits[e / 8] = (uint8_t)(((x & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56);
    }
    if (e < n) {
        bits[e / 8] = 0;
        for (; e < n; e++)
            bits[e / 8] |= (uint8_t)(mask[e] << (e % 8));
    }
}

static void unpack_bits(const uint8_t *bits, uint64_t n, uint8_t *mask) {
    uint64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        uint64_t z = ((uint64_t)bits[e / 8] * 0x0101010101010101ull) & 0x8040201008040201ull;
        uint64_t y = ((z + 0x7F7F7F7F7F7F7F7Full) >> 7) & 0x0101010101010101ull;
        memcpy(mask + e, &y, 8);
    }
    for (; e < n; e++)
        mask[e] = (bits[e / 8] >> (e % 8)) & 1;
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
            uint8_t *mask = mg_malloc(n);
            uint8_t *bits = g->bits ? g->bits[k] + b0 / 8 : NULL;
            if (bits && g->bits_ready) {
                unpack_bits(bits, n, mask);
            } else {
                mg_bernoulli(mg_mask_key(c, g->idx[k]), b0, n, d, mask);
                if (bits) pack_bits(mask, n, bits);
            }
            float inv = g->rescale == 2 ? (float)(1.0 / d) : 1.0f;
            for (uint64_t e = 0; e < n; e++)
                dst[e] = dst[e] * inv * (float)mask[e];
            free(mask);
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

/* The consensus step for one model over a chunk; restrict lets it vectorize. */
__attribute__((noinline)) static void agree_acc(const float *restrict S, const float *restrict wk,
                                                float w, float *restrict M, float *restrict D,
                                                uint64_t n) {
    for (uint64_t e = 0; e < n; e++) {
        float v = wk[e];
        int sp = S[e] >= 0.0f, pos = v > 0.0f, neg = v < 0.0f;
        float a = (float)((pos & sp) | (neg & !sp)); // zeros never agree
        M[e] += a * v;
        D[e] += a * w;
    }
}

/* M /= D where D != 0 (D == 0 means no model agreed: divide by 1). */
__attribute__((noinline)) static void div_guard(float *restrict M, const float *restrict D,
                                                uint64_t n) {
    for (uint64_t e = 0; e < n; e++)
        M[e] = M[e] / (D[e] + (float)(D[e] == 0.0f));
}

__attribute__((noinline)) static void add_to(float *restrict acc, const float *restrict x,
                                             uint64_t n) {
    for (uint64_t e = 0; e < n; e++)
        acc[e] += x[e];
}

static mg_status combine(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    gta *g = user;
    uint64_t n = ch->count;
    size_t K = g->K;
    float *W = ch->scratch; // [K][n] weighted deltas, then sum, M, D
    float *S = W + K * n, *M = S + n, *D = M + n;
    for (size_t k = 0; k < K; k++) {
        float *dk = W + k * n;
        delta_k(g, c, ch, k, dk, true, NULL);
        float w = (float)g->w[k];
        for (uint64_t e = 0; e < n; e++)
            dk[e] *= w;
    }
    const float *b = ch->x[c->base];
    float *o = ch->out;
    float lam = (float)c->g[MG_P_LAMBDA];
    bool norm = c->g[MG_P_NORMALIZE] != 0;
    for (uint64_t e = 0; e < n; e++)
        M[e] = 0, D[e] = 0, S[e] = 0;
    if (g->consensus) {
        // Elected sign: + where sum W >= 0; a model counts where its W agrees
        // (zeros never agree). Loops over contiguous floats, branch-free.
        for (size_t k = 0; k < K; k++)
            add_to(S, W + k * n, n);
        for (size_t k = 0; k < K; k++)
            agree_acc(S, W + k * n, (float)g->w[k], M, D, n);
        if (norm) div_guard(M, D, n);
    } else {
        for (size_t k = 0; k < K; k++)
            add_to(M, W + k * n, n);
        float inv = 1.0f / (float)(fabs(g->wsum) < 1e-8 ? 1.0 : g->wsum);
        if (norm)
            for (uint64_t e = 0; e < n; e++)
                M[e] *= inv;
    }
    for (uint64_t e = 0; e < n; e++)
        o[e] = b[e] + lam * M[e];
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
    if (any_sel) {
        keyctx kc = {&g, false};
        size_t nsel = sp == SP_OUTLIERS ? 2 * K : K;
        mg_select *sel = mg_calloc(nsel, sizeof(mg_select));
        // Inactive models: k = numel keeps all (not used anyway).
        for (size_t j = 0; j < nsel; j++)
            if (!g.active[j % K]) kk[j] = j < K ? UINT64_MAX : 0;
        st = mg_select_topk(c, nsel, kk, abs_delta_key, &kc, NULL, sel, err);
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
    mg_kpass_opts o = {.rows = sp == SP_DELLA, .write = true, .scratch_per_elem = (unsigned)K + 3};
    st = mg_kpass(c, &o, combine, &g, err);
done:
    free(g.idx), free(g.w), free(g.d), free(g.eps), free(g.active), free(g.s1), free(g.s2);
    free(g.l1), free(g.parts), free(kk);
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
