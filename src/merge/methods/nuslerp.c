/* nuslerp.c - mergekit merge_methods/nuslerp.py. Two non-base models a, b (in
 * config order) with t = w_b / (w_a + w_b) (0.5 when |w_a + w_b| < 1e-6);
 * with a base the slerp runs on the task vectors and the base is added back.
 * Layout: nuslerp_flatten (default) treats the tensor as one vector;
 * otherwise nuslerp_row_wise=false slerps each row (vectors along the last
 * dim) and row_wise=true each column (vectors along dim 0) - mergekit's
 * naming, which the docs describe the other way round.
 * Per vector: th = acos(clamp(<a/max(|a|,1e-7), b/max(|b|,1e-7)>, -1, 1)),
 * plain lerp when |sin th| < 1e-8. */
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

typedef struct {
    size_t a, b;
    int base;
    double t;
    bool cols;       // per column (row_wise=true) instead of per row
    double *parts;   // column mode: [nchunks][3*cols] partial dots
    double *colstat; // column mode: [3*cols] totals
} nus;

static void coefs(double aa, double bb, double ab, double t, double *ca, double *cb) {
    double na = fmax(sqrt(aa), 1e-7), nb = fmax(sqrt(bb), 1e-7);
    double d = fmin(1, fmax(-1, ab / (na * nb)));
    double th = acos(d), s = sin(th);
    if (fabs(s) < 1e-8) {
        *ca = 1 - t, *cb = t;
    } else {
        *ca = sin((1 - t) * th) / s, *cb = sin(t * th) / s;
    }
}

static inline float vec(const nus *u, const mg_kchunk *ch, size_t m, uint64_t e) {
    return u->base >= 0 ? ch->x[m][e] - ch->x[u->base][e] : ch->x[m][e];
}

static mg_status col_stats(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    nus *u = user;
    double *p = u->parts + ch->index * 3 * c->cols;
    for (uint64_t e = 0; e < ch->count; e++) {
        uint64_t j = e % c->cols;
        double va = vec(u, ch, u->a, e), vb = vec(u, ch, u->b, e);
        p[3 * j] += va * va, p[3 * j + 1] += vb * vb, p[3 * j + 2] += va * vb;
    }
    return MG_OK;
}

static mg_status apply(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    nus *u = user;
    uint64_t cols = c->cols;
    for (uint64_t r0 = 0; r0 < ch->count; r0 += cols) {
        double ca = 0, cb = 0;
        if (!u->cols) {
            double aa = 0, bb = 0, ab = 0;
            for (uint64_t j = 0; j < cols; j++) {
                double va = vec(u, ch, u->a, r0 + j), vb = vec(u, ch, u->b, r0 + j);
                aa += va * va, bb += vb * vb, ab += va * vb;
            }
            coefs(aa, bb, ab, u->t, &ca, &cb);
        }
        for (uint64_t j = 0; j < cols; j++) {
            if (u->cols) {
                const double *s = u->colstat + 3 * j;
                coefs(s[0], s[1], s[2], u->t, &ca, &cb);
            }
            uint64_t e = r0 + j;
            float r = (float)(ca * vec(u, ch, u->a, e) + cb * vec(u, ch, u->b, e));
            ch->out[e] = u->base >= 0 ? ch->x[u->base][e] + r : r;
        }
    }
    return MG_OK;
}

mg_status mg_k_nuslerp(const mg_kernel_ctx *c, mg_error *err) {
    size_t o[2], k = 0;
    for (size_t i = 0; i < c->n; i++)
        if ((int)i != c->base && k < 2) o[k++] = i;
    if (c->n == 1 || k == 0) {
        double one = 1;
        return mg_kernel_combine(c, &one, err);
    }
    if (k != 2) return mg_error_set(err, MG_ERR_INVALID, "nuslerp needs exactly 2 non-base models");
    nus u = {.a = o[0], .b = o[1], .base = c->base};
    double wa = c->m[u.a][MG_P_WEIGHT], wb = c->m[u.b][MG_P_WEIGHT];
    u.t = fabs(wa + wb) < 1e-6 ? 0.5 : wb / (wa + wb);
    mg_status st = MG_OK;
    if (c->g[MG_P_FLATTEN] != 0) {
        double G[9] = {0}, *coef = mg_calloc(c->n, sizeof(double));
        st = mg_kernel_gram(c, G, err);
        if (!st) {
            size_t n = c->n, a = u.a, b = u.b;
            double aa = G[a * n + a], bb = G[b * n + b], ab = G[a * n + b];
            if (c->base >= 0) {
                size_t z = (size_t)c->base;
                double zz = G[z * n + z];
                aa += zz - 2 * G[a * n + z], bb += zz - 2 * G[b * n + z];
                ab += zz - G[a * n + z] - G[b * n + z];
            }
            double ca, cb;
            coefs(aa, bb, ab, u.t, &ca, &cb);
            coef[a] = ca, coef[b] = cb;
            if (c->base >= 0) coef[c->base] = 1 - ca - cb;
            st = mg_kernel_combine(c, coef, err);
        }
        free(coef);
        return st;
    }
    u.cols = c->g[MG_P_ROW_WISE] != 0 && c->rows > 1;
    if (u.cols) {
        uint64_t nch = mg_kpass_chunks(c, true, NULL);
        u.parts = mg_calloc(nch * 3 * c->cols, sizeof(double));
        u.colstat = mg_calloc(3 * c->cols, sizeof(double));
        mg_kpass_opts o1 = {.rows = true};
        st = mg_kpass(c, &o1, col_stats, &u, err);
        if (!st) mg_kpass_sum(u.parts, nch, 3 * c->cols, 3 * c->cols, u.colstat);
    }
    if (!st) {
        mg_kpass_opts o2 = {.rows = true, .write = true};
        st = mg_kpass(c, &o2, apply, &u, err);
    }
    free(u.parts);
    free(u.colstat);
    return st;
}
