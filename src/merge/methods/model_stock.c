/* model_stock.c - mergekit merge_methods/model_stock.py (Jang et al. 2024).
 * o_i = x_i - base for the N >= 2 fine-tuned models; cos = mean over pairs
 * i < j of clamp(<o_i, o_j> / max(|o_i| |o_j|, 1e-6), -1, 1);
 * t = N cos / (1 + (N - 1) cos); out = t mean(x_i) + (1 - t) base. With
 * filter_wise the angle and t are computed per row (1-D tensors: one row). */
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

typedef struct {
    size_t N, *idx;
    int base;
} ms;

/* t from the Gram matrix of the deltas D (N x N). */
static double stock_t(const double *D, size_t N) {
    double sum = 0;
    size_t pairs = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++) {
            double den = fmax(sqrt(fmax(D[i * N + i], 0)) * sqrt(fmax(D[j * N + j], 0)), 1e-6);
            sum += fmin(1, fmax(-1, D[i * N + j] / den));
            pairs++;
        }
    double cs = sum / (double)pairs;
    return (double)N * cs / (1 + (double)(N - 1) * cs);
}

static mg_status rows_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    const ms *s = user;
    size_t N = s->N;
    double *D = mg_calloc(N * N, sizeof(double));
    const float *b = ch->x[s->base];
    for (uint64_t r0 = 0; r0 < ch->count; r0 += c->cols) {
        for (size_t i = 0; i < N; i++)
            for (size_t j = i; j < N; j++) {
                const float *xi = ch->x[s->idx[i]], *xj = ch->x[s->idx[j]];
                double acc = 0;
                for (uint64_t e = r0; e < r0 + c->cols; e++)
                    acc += (double)(xi[e] - b[e]) * (double)(xj[e] - b[e]);
                D[i * N + j] = D[j * N + i] = acc;
            }
        double t = stock_t(D, N);
        float ct = (float)(t / (double)N), cb = (float)(1 - t);
        for (uint64_t e = r0; e < r0 + c->cols; e++) {
            float m = 0;
            for (size_t i = 0; i < N; i++)
                m += ch->x[s->idx[i]][e];
            ch->out[e] = ct * m + cb * b[e];
        }
    }
    free(D);
    return MG_OK;
}

mg_status mg_k_model_stock(const mg_kernel_ctx *c, mg_error *err) {
    if (c->base < 0) return mg_error_set(err, MG_ERR_INVALID, "model_stock needs a base_model");
    ms s = {.base = c->base, .idx = mg_calloc(c->n, sizeof(size_t))};
    for (size_t i = 0; i < c->n; i++)
        if ((int)i != c->base) s.idx[s.N++] = i;
    mg_status st = MG_OK;
    size_t n = c->n, N = s.N;
    if (N == 0) {
        double *coef = mg_calloc(n, sizeof(double));
        coef[c->base] = 1;
        st = mg_kernel_combine(c, coef, err);
        free(coef);
    } else if (N < 2) {
        st = mg_error_set(err, MG_ERR_INVALID,
                          "model_stock needs at least 2 models besides the base");
    } else if (c->g[MG_P_FILTER_WISE] != 0) {
        mg_kpass_opts o = {.rows = true, .write = true};
        st = mg_kpass(c, &o, rows_pass, &s, err);
    } else {
        double *G = mg_calloc(n * n, sizeof(double)), *D = mg_calloc(N * N, sizeof(double));
        double *coef = mg_calloc(n, sizeof(double));
        st = mg_kernel_gram(c, G, err);
        if (!st) {
            size_t z = (size_t)c->base;
            for (size_t p = 0; p < N; p++)
                for (size_t q = 0; q < N; q++) {
                    size_t i = s.idx[p], j = s.idx[q];
                    D[p * N + q] = G[i * n + j] + G[z * n + z] - G[i * n + z] - G[j * n + z];
                }
            double t = stock_t(D, N);
            for (size_t p = 0; p < N; p++)
                coef[s.idx[p]] = t / (double)N;
            coef[z] = 1 - t;
            st = mg_kernel_combine(c, coef, err);
        }
        free(G), free(D), free(coef);
    }
    free(s.idx);
    return st;
}
