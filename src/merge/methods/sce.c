/* sce.c - mergekit merge_methods/sce.py (Select, Calculate, Erase; FuseChat).
 * tau_i = x_i - base. Select: when select_topk < 1, keep (for every model)
 * only the floor(select_topk * nnz(var)) positions with the largest
 * population variance across models (ties: lower index). Calculate:
 * omega_i = mean(tau_i^2) / sum_j mean(tau_j^2), uniform when that sum is
 * < 1e-6. Erase: TIES "sum" sign consensus on the unweighted tau.
 * out = base + sum_i tau_i omega_i m_i / max(sum_i omega_i m_i, 1e-6). The
 * per-model `weight` is ignored, as in mergekit. */
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

typedef struct {
    size_t K, *idx;
    bool select;
    mg_select sel;
    double *omega;
    double *parts; // [nchunks][K] (sum of squares) or [nchunks] (nnz)
} sce;

static void var_keys(const sce *s, const mg_kernel_ctx *c, const mg_kchunk *ch, float *keys) {
    const float *b = ch->x[c->base];
    for (uint64_t e = 0; e < ch->count; e++) {
        double m = 0, v = 0;
        for (size_t k = 0; k < s->K; k++)
            m += ch->x[s->idx[k]][e] - b[e];
        m /= (double)s->K;
        for (size_t k = 0; k < s->K; k++) {
            double d = ch->x[s->idx[k]][e] - b[e] - m;
            v += d * d;
        }
        keys[e] = (float)(v / (double)s->K);
    }
}

static void key_fn(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, size_t j, float *keys) {
    (void)j;
    var_keys(user, c, ch, keys);
}

static mg_status nnz_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    sce *s = user;
    var_keys(s, c, ch, ch->scratch);
    double n = 0;
    for (uint64_t e = 0; e < ch->count; e++)
        n += ch->scratch[e] != 0;
    s->parts[ch->index] = n;
    return MG_OK;
}

/* Masked task vectors of the chunk into scratch [K][count]. */
static void taus(const sce *s, const mg_kernel_ctx *c, const mg_kchunk *ch, float *T) {
    uint64_t n = ch->count;
    const float *b = ch->x[c->base];
    float *keys = T + s->K * n;
    if (s->select) var_keys(s, c, ch, keys);
    for (size_t k = 0; k < s->K; k++)
        for (uint64_t e = 0; e < n; e++) {
            float v = ch->x[s->idx[k]][e] - b[e];
            if (s->select && !mg_select_keep(&s->sel, ch->begin + e, keys[e])) v = 0;
            T[k * n + e] = v;
        }
}

static mg_status sq_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    sce *s = user;
    taus(s, c, ch, ch->scratch);
    for (size_t k = 0; k < s->K; k++) {
        double a = 0;
        const float *t = ch->scratch + k * ch->count;
        for (uint64_t e = 0; e < ch->count; e++)
            a += (double)t[e] * t[e];
        s->parts[ch->index * s->K + k] = a;
    }
    return MG_OK;
}

static mg_status apply(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    sce *s = user;
    uint64_t n = ch->count;
    float *T = ch->scratch;
    taus(s, c, ch, T);
    const float *b = ch->x[c->base];
    for (uint64_t e = 0; e < n; e++) {
        float sum = 0;
        for (size_t k = 0; k < s->K; k++)
            sum += T[k * n + e];
        double M = 0, D = 0;
        for (size_t k = 0; k < s->K; k++) {
            float v = T[k * n + e];
            if (sum >= 0 ? v > 0 : v < 0) M += (double)v * s->omega[k], D += s->omega[k];
        }
        ch->out[e] = b[e] + (float)(M / fmax(D, 1e-6));
    }
    return MG_OK;
}

mg_status mg_k_sce(const mg_kernel_ctx *c, mg_error *err) {
    if (c->base < 0) return mg_error_set(err, MG_ERR_INVALID, "sce needs a base_model");
    sce s = {.idx = mg_calloc(c->n, sizeof(size_t))};
    for (size_t i = 0; i < c->n; i++)
        if ((int)i != c->base) s.idx[s.K++] = i;
    size_t K = s.K;
    mg_status st = MG_OK;
    uint64_t nch = mg_kpass_chunks(c, false, NULL);
    s.omega = mg_calloc(K + 1, sizeof(double));
    s.parts = mg_calloc(nch * (K + 1) + 1, sizeof(double));
    if (K == 0) {
        double *coef = mg_calloc(c->n, sizeof(double));
        coef[c->base] = 1;
        st = mg_kernel_combine(c, coef, err);
        free(coef);
        goto done;
    }
    double topk = c->g[MG_P_SELECT_TOPK];
    if (topk < 1) {
        s.select = true;
        mg_kpass_opts o = {.scratch_per_elem = 1};
        st = mg_kpass(c, &o, nnz_pass, &s, err);
        if (st) goto done;
        double nnz;
        mg_kpass_sum(s.parts, nch, 1, 1, &nnz);
        uint64_t k = (uint64_t)floor(fabs(topk) * nnz);
        st = mg_select_topk(c, 1, &k, key_fn, &s, NULL, &s.sel, err);
        if (st) goto done;
    }
    mg_kpass_opts o = {.scratch_per_elem = (unsigned)K + 1};
    st = mg_kpass(c, &o, sq_pass, &s, err);
    if (st) goto done;
    mg_kpass_sum(s.parts, nch, K, K, s.omega);
    double tot = 0;
    for (size_t k = 0; k < K; k++)
        s.omega[k] /= (double)c->numel, tot += s.omega[k];
    for (size_t k = 0; k < K; k++)
        s.omega[k] = tot < 1e-6 ? 1.0 / (double)K : s.omega[k] / tot;
    mg_kpass_opts o2 = {.write = true, .scratch_per_elem = (unsigned)K + 1};
    st = mg_kpass(c, &o2, apply, &s, err);
done:
    free(s.idx), free(s.omega), free(s.parts);
    return st;
}
