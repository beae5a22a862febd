/* ram.c - mergekit merge_methods/ram.py (RAM and RAM+ with tail learning).
 * a_i = |tau_i| > epsilon (strictly), c = sum_i a_i per position. Positions
 * edited by one model (c = 1) keep that edit, overlapping edits (c > 1) are
 * averaged, untouched positions keep the base:
 * out = base + sum_i tau_i a_i (unique + overlap / max(c, 1)).
 * ramplus_tl scales model i's unique edits by 1 + r clamp(rho_i, 0, alpha),
 * rho_i = |a_i and overlap| / max(|a_i and unique|, epsilon) over the tensor. */
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

typedef struct {
    size_t K, *idx;
    float eps;
    double *lam;   // unique-part scale per model
    double *parts; // [nchunks][2K]: overlap count, unique count
} ram;

static mg_status count_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch,
                            mg_error *err) {
    (void)err;
    ram *r = user;
    const float *b = ch->x[c->base];
    double *p = r->parts + ch->index * 2 * r->K;
    for (uint64_t e = 0; e < ch->count; e++) {
        int cnt = 0;
        for (size_t k = 0; k < r->K; k++)
            cnt += fabsf(ch->x[r->idx[k]][e] - b[e]) > r->eps;
        if (!cnt) continue;
        for (size_t k = 0; k < r->K; k++)
            if (fabsf(ch->x[r->idx[k]][e] - b[e]) > r->eps) p[2 * k + (cnt == 1)] += 1;
    }
    return MG_OK;
}

static mg_status apply(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    ram *r = user;
    const float *b = ch->x[c->base];
    for (uint64_t e = 0; e < ch->count; e++) {
        int cnt = 0;
        for (size_t k = 0; k < r->K; k++)
            cnt += fabsf(ch->x[r->idx[k]][e] - b[e]) > r->eps;
        float acc = 0;
        for (size_t k = 0; k < r->K; k++) {
            float t = ch->x[r->idx[k]][e] - b[e];
            if (!(fabsf(t) > r->eps)) continue;
            acc += cnt == 1 ? t * (float)r->lam[k] : t / (float)cnt;
        }
        ch->out[e] = b[e] + acc;
    }
    return MG_OK;
}

static mg_status run(const mg_kernel_ctx *c, bool plus, mg_error *err) {
    if (c->base < 0) return mg_error_set(err, MG_ERR_INVALID, "ram needs a base_model");
    ram r = {.idx = mg_calloc(c->n, sizeof(size_t)), .eps = (float)c->g[MG_P_EPSILON]};
    for (size_t i = 0; i < c->n; i++)
        if ((int)i != c->base) r.idx[r.K++] = i;
    r.lam = mg_calloc(r.K + 1, sizeof(double));
    for (size_t k = 0; k < r.K; k++)
        r.lam[k] = 1;
    mg_status st = MG_OK;
    if (plus && r.K) {
        uint64_t nch = mg_kpass_chunks(c, false, NULL);
        r.parts = mg_calloc(nch * 2 * r.K, sizeof(double));
        mg_kpass_opts o = {0};
        st = mg_kpass(c, &o, count_pass, &r, err);
        for (size_t k = 0; k < r.K && !st; k++) {
            double s[2];
            mg_kpass_sum(r.parts + 2 * k, nch, 2 * r.K, 2, s);
            double rho = s[0] / fmax(s[1], c->g[MG_P_EPSILON]);
            r.lam[k] = 1 + c->g[MG_P_R] * fmin(fmax(rho, 0), c->g[MG_P_ALPHA]);
        }
    }
    if (!st) {
        mg_kpass_opts o = {.write = true};
        st = mg_kpass(c, &o, apply, &r, err);
    }
    free(r.idx), free(r.lam), free(r.parts);
    return st;
}

mg_status mg_k_ram(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, false, err);
}
mg_status mg_k_ramplus_tl(const mg_kernel_ctx *c, mg_error *err) {
    return run(c, true, err);
}
