/* slerp.c - mergekit merge_methods/slerp.py. v0 = base, v1 = the other model.
 * d = <v0/|v0|, v1/|v1|> (normalising only when |v| > 1e-8, not clipped);
 * |d| > 0.9995 falls back to (1-t) v0 + t v1, else
 * out = [sin((1-t)th) v0 + sin(t th) v1] / sin th with th = acos d, applied to
 * the unnormalised tensors. mergekit computes in float32 NumPy; we take the
 * norms and the dot product in double, so the result is at least as exact. */
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

mg_status mg_k_slerp(const mg_kernel_ctx *c, mg_error *err) {
    double *coef = mg_calloc(c->n, sizeof(double));
    mg_status st = MG_OK;
    if (c->n == 1) {
        coef[0] = 1;
    } else {
        if (c->n != 2 || c->base < 0) {
            free(coef);
            return mg_error_set(err, MG_ERR_INVALID,
                                "slerp needs exactly 2 models, one of them the base_model");
        }
        size_t b = (size_t)c->base, o = 1 - b;
        double G[4];
        st = mg_kernel_gram(c, G, err);
        if (st) goto done;
        double t = c->g[MG_P_T];
        double n0 = sqrt(G[b * 2 + b]), n1 = sqrt(G[o * 2 + o]);
        if (!(n0 > 1e-8)) n0 = 1;
        if (!(n1 > 1e-8)) n1 = 1;
        double d = G[b * 2 + o] / (n0 * n1);
        if (fabs(d) > 0.9995) {
            coef[b] = 1 - t;
            coef[o] = t;
        } else {
            double th = acos(d), s = sin(th);
            coef[b] = sin((1 - t) * th) / s;
            coef[o] = sin(t * th) / s;
        }
    }
    st = mg_kernel_combine(c, coef, err);
done:
    free(coef);
    return st;
}
