/* karcher.c - mergekit merge_methods/karcher.py: the Riemannian (Karcher)
 * mean on the unit sphere, scaled by the mean norm. All K inputs (the base
 * included) get alpha = 1/K; inputs with norm <= tol are dropped and alpha
 * renormalised. The iterate u always lies in the span of the unit inputs, so
 * we keep it as coefficients over them and take every inner product from the
 * Gram matrix: one pass over the data for the statistics and one to write,
 * whatever max_iter is. */
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

static double quad(const double *H, const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            s += v[i] * H[i * n + j] * v[j];
    return s;
}

mg_status mg_k_karcher(const mg_kernel_ctx *c, mg_error *err) {
    size_t n = c->n;
    double *G = mg_calloc(n * n, sizeof(double)), *H = mg_calloc(n * n, sizeof(double));
    double *nrm = mg_calloc(n, sizeof(double)), *al = mg_calloc(n, sizeof(double));
    double *beta = mg_calloc(n, sizeof(double)), *tau = mg_calloc(n, sizeof(double));
    double *cc = mg_calloc(n, sizeof(double)), *coef = mg_calloc(n, sizeof(double));
    double tol = c->g[MG_P_TOL];
    int max_iter = (int)c->g[MG_P_MAX_ITER];
    mg_status st = mg_kernel_gram(c, G, err);
    if (st) goto done;
    double asum = 0, nsum = 0;
    size_t first = n;
    for (size_t i = 0; i < n; i++) {
        nrm[i] = sqrt(G[i * n + i]);
        nsum += nrm[i];
        if (nrm[i] > tol) {
            al[i] = 1.0 / (double)n;
            asum += al[i];
            if (first == n) first = i;
        }
    }
    if (first == n) goto write; // all (near) zero: mergekit returns zeros
    for (size_t i = 0; i < n; i++) {
        al[i] /= asum;
        for (size_t j = 0; j < n; j++)
            H[i * n + j] = (al[i] > 0 && al[j] > 0) ? G[i * n + j] / (nrm[i] * nrm[j]) : 0;
    }
    for (size_t i = 0; i < n; i++)
        beta[i] = al[i];
    double un = sqrt(fmax(quad(H, beta, n), 0));
    if (un < tol) {
        for (size_t i = 0; i < n; i++)
            beta[i] = i == first;
    } else {
        for (size_t i = 0; i < n; i++)
            beta[i] /= un;
    }
    for (int it = 0; it < max_iter; it++) {
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < n; j++)
                s += H[i * n + j] * beta[j];
            cc[i] = fmin(1, fmax(-1, s));
            tau[i] = 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (al[i] <= 0) continue;
            double th = acos(cc[i]);
            if (th < tol) continue;
            double f = al[i] * th / sin(th);
            tau[i] += f;
            for (size_t j = 0; j < n; j++)
                tau[j] -= f * cc[i] * beta[j];
        }
        double tn = sqrt(fmax(quad(H, tau, n), 0));
        if (tn < tol) break;
        for (size_t i = 0; i < n; i++)
            beta[i] = cos(tn) * beta[i] + sin(tn) * tau[i] / tn;
        un = sqrt(fmax(quad(H, beta, n), 0));
        for (size_t i = 0; i < n; i++)
            beta[i] /= un;
    }
    for (size_t i = 0; i < n; i++)
        coef[i] = al[i] > 0 ? (nsum / (double)n) * beta[i] / nrm[i] : 0;
write:
    st = mg_kernel_combine(c, coef, err);
done:
    free(G), free(H), free(nrm), free(al), free(beta), free(tau), free(cc), free(coef);
    return st;
}
