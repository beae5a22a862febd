/* multislerp.c - mergekit merge_methods/multislerp.py: a one-step
 * tangent-space barycentre of the non-base inputs on the sphere (task vectors
 * when a base is given), rescaled by the weighted mean norm. Every quantity
 * is a linear combination of the inputs, so the statistics come from one Gram
 * pass and the output from one combining pass. */
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

mg_status mg_k_multislerp(const mg_kernel_ctx *c, mg_error *err) {
    size_t n = c->n, K = 0;
    int b = c->base;
    double *G = mg_calloc(n * n, sizeof(double)), *coef = mg_calloc(n, sizeof(double));
    size_t *idx = mg_calloc(n, sizeof(size_t));
    double *w = mg_calloc(n, sizeof(double)), *D = mg_calloc(n * n, sizeof(double));
    double *nr = mg_calloc(n, sizeof(double)), *a = mg_calloc(n, sizeof(double));
    mg_status st = MG_OK;
    for (size_t i = 0; i < n; i++)
        if ((int)i != b) idx[K++] = i;
    if (K == 0 || (K == 1 && b < 0)) { // a single tensor is returned unchanged
        coef[b >= 0 ? (size_t)b : 0] = 1;
        goto write;
    }
    st = mg_kernel_gram(c, G, err);
    if (st) goto done;
    // D = Gram of the vectors x_k (task vectors when there is a base).
    for (size_t p = 0; p < K; p++)
        for (size_t q = 0; q < K; q++) {
            size_t i = idx[p], j = idx[q];
            double v = G[i * n + j];
            if (b >= 0) v += G[b * n + b] - G[i * n + b] - G[j * n + b];
            D[p * K + q] = v;
        }
    double wsum = 0, eps = c->g[MG_P_EPS];
    for (size_t p = 0; p < K; p++)
        w[p] = c->m[idx[p]][MG_P_WEIGHT], wsum += w[p];
    if (c->g[MG_P_NORMALIZE_WEIGHTS] != 0)
        for (size_t p = 0; p < K; p++)
            w[p] /= wsum;
    double scale = 0;
    for (size_t p = 0; p < K; p++) {
        nr[p] = sqrt(fmax(D[p * K + p], 0));
        a[p] = w[p] / (nr[p] + eps); // m = sum_p a_p x_p
        scale += w[p] * nr[p];
    }
    double mm = 0;
    for (size_t p = 0; p < K; p++)
        for (size_t q = 0; q < K; q++)
            mm += a[p] * a[q] * D[p * K + q];
    double mn = sqrt(fmax(mm, 0));
    double *xc = mg_calloc(K, sizeof(double)); // output coefficients on x_p
    if (mn < eps) {
        if (K != 2) {
            free(xc);
            st = mg_error_set(err, MG_ERR_INVALID,
                              "multislerp: the weighted mean direction vanishes (norm < eps)");
            goto done;
        }
        xc[0] = w[0], xc[1] = w[1];
    } else {
        // T = m - s * mhat with s = sum_p w_p <u_p, mhat> (mergekit's tangent
        // projection; zero up to rounding), tau = |T| + eps.
        double s = 0;
        for (size_t p = 0; p < K; p++) {
            double up_m = 0;
            for (size_t q = 0; q < K; q++)
                up_m += D[p * K + q] * a[q];
            s += w[p] * up_m / ((nr[p] + eps) * mn);
        }
        double tfac = 1 - s / mn; // T = tfac * m
        double tn = fabs(tfac) * mn, tau = tn + eps;
        double cm = cos(tau) / mn + tfac * sin(tau) / tau;
        for (size_t p = 0; p < K; p++)
            xc[p] = cm * a[p] * scale;
    }
    double xsum = 0;
    for (size_t p = 0; p < K; p++)
        coef[idx[p]] = xc[p], xsum += xc[p];
    if (b >= 0) coef[b] = 1 - xsum; // base + sum_p xc_p (x_p - base)
    free(xc);
write:
    st = mg_kernel_combine(c, coef, err);
done:
    free(G), free(coef), free(idx), free(w), free(D), free(nr), free(a);
    return st;
}
