/* arcee_fusion.c - mergekit merge_methods/arcee_fusion.py: base a, one other
 * model b. Importance I = |b - a| * KL_row with KL_row = sum_j p log(p / q),
 * p = softmax(b row) + 1e-8, q = softmax(a row) + 1e-8 (rows = last dim);
 * threshold = median + 1.5 (Q3 - Q1) with quantile q = sorted[floor(q (n-1))];
 * out = a + (b - a) [I >= threshold]. mergekit takes the quantiles from a
 * random sample of 1e6 elements on large tensors (nondeterministic) and
 * returns fp32; we select the exact quantiles in O(n) and keep the configured
 * output dtype. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

typedef struct {
    size_t a, b;
    double *kl; // per row
    float thr;
} af;

static mg_status kl_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    af *f = user;
    const float *A = ch->x[f->a], *B = ch->x[f->b];
    uint64_t cols = c->cols;
    for (uint64_t r0 = 0; r0 < ch->count; r0 += cols) {
        double ma = -INFINITY, mb = -INFINITY, za = 0, zb = 0;
        for (uint64_t j = r0; j < r0 + cols; j++)
            ma = fmax(ma, A[j]), mb = fmax(mb, B[j]);
        for (uint64_t j = r0; j < r0 + cols; j++)
            za += exp(A[j] - ma), zb += exp(B[j] - mb);
        double kl = 0;
        for (uint64_t j = r0; j < r0 + cols; j++) {
            double p = exp(B[j] - mb) / zb + 1e-8, q = exp(A[j] - ma) / za + 1e-8;
            kl += p * log(p / q);
        }
        f->kl[(ch->begin + r0) / cols] = kl;
    }
    return MG_OK;
}

static void imp(const af *f, const mg_kernel_ctx *c, const mg_kchunk *ch, float *keys) {
    const float *A = ch->x[f->a], *B = ch->x[f->b];
    for (uint64_t e = 0; e < ch->count; e++)
        keys[e] = (float)(fabs((double)B[e] - A[e]) * f->kl[(ch->begin + e) / c->cols]);
}

static void key_fn(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, size_t j, float *keys) {
    (void)j;
    imp(user, c, ch, keys);
}

static mg_status apply(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    af *f = user;
    const float *A = ch->x[f->a], *B = ch->x[f->b];
    imp(f, c, ch, ch->scratch);
    for (uint64_t e = 0; e < ch->count; e++)
        ch->out[e] = ch->scratch[e] >= f->thr ? A[e] + (B[e] - A[e]) : A[e];
    return MG_OK;
}

mg_status mg_k_arcee_fusion(const mg_kernel_ctx *c, mg_error *err) {
    if (c->base < 0 || c->n != 2)
        return mg_error_set(err, MG_ERR_INVALID,
                            "arcee_fusion needs a base_model and exactly 1 other model");
    af f = {.a = (size_t)c->base, .b = c->base == 0 ? 1 : 0};
    f.kl = mg_calloc(c->rows + 1, sizeof(double));
    mg_kpass_opts o = {.rows = true};
    mg_status st = mg_kpass(c, &o, kl_pass, &f, err);
    if (st) goto done;
    // Quantiles 0.25, 0.5, 0.75: ascending position floor(q (n-1)) is the
    // (n - pos)-th largest.
    uint64_t n = c->numel, k[3];
    const double qs[3] = {0.25, 0.5, 0.75};
    for (int i = 0; i < 3; i++)
        k[i] = n - (uint64_t)floor(qs[i] * (double)(n - 1));
    mg_select sel[3];
    st = mg_select_topk(c, 3, k, key_fn, &f, NULL, sel, err);
    if (st) goto done;
    float qv[3];
    for (int i = 0; i < 3; i++) {
        uint32_t bits = sel[i].thr;
        memcpy(&qv[i], &bits, 4);
    }
    f.thr = qv[1] + 1.5f * (qv[2] - qv[0]);
    mg_kpass_opts o2 = {.write = true, .scratch_per_elem = 1};
    st = mg_kpass(c, &o2, apply, &f, err);
done:
    free(f.kl);
    return st;
}
