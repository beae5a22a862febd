/* cmaes.c - CMA-ES, Hansen's tutorial (arXiv:1604.00772) Table 1, positive weights. */
#include "search/cmaes.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/json.h"
#include "base/rng.h"

#define TOLFUN 1e-11       // pycma's tolfun
#define TOLX_FACTOR 1e-11  // pycma's tolx, relative to sigma0 here
#define MAX_CONDITION 1e14 // pycma's tolconditioncov

struct mg_cmaes {
    mg_cmaes_options opt;
    int n, lambda, mu;
    double *w; // mu recombination weights, sum 1
    double mueff, cc, cs, c1, cmu, damps, chin;
    uint64_t key; // mg_rng_key(seed, "cmaes")

    // Dynamic state (all serialized).
    double sigma;
    double *mean, *ps, *pc; // n
    double *C;              // n*n, row-major, symmetric
    double *B;              // n*n, columns are eigenvectors of C (row-major storage)
    double *D;              // n, square roots of the eigenvalues
    int64_t gen, fevals, eigen_fevals;
    bool have_best;
    double fbest;
    double *xbest;
    int hist_len;      // capacity of the best-f history for tolfun
    int hist_n;        // entries used
    double *hist;      // ring of the last hist_len generations' best f
    double last_range; // range of f in the last generation
    bool numerics_failed;

    // Scratch.
    double *X, *Y, *fcopy, *tmp; // lambda*n, lambda*n, lambda, n
    int *order;                  // lambda
};

static void set_strategy(mg_cmaes *c) {
    int n = c->n, lam = c->lambda;
    c->mu = lam / 2;
    double sum = 0.0, sum2 = 0.0;
    for (int i = 0; i < c->mu; i++) {
        c->w[i] = log((lam + 1) / 2.0) - log(i + 1.0);
        sum += c->w[i];
    }
    for (int i = 0; i < c->mu; i++) {
        c->w[i] /= sum;
        sum2 += c->w[i] * c->w[i];
    }
    c->mueff = 1.0 / sum2;
    double me = c->mueff, dn = n;
    c->cc = (4.0 + me / dn) / (dn + 4.0 + 2.0 * me / dn);
    c->cs = (me + 2.0) / (dn + me + 5.0);
    c->c1 = 2.0 / ((dn + 1.3) * (dn + 1.3) + me);
    c->cmu = fmin(1.0 - c->c1, 2.0 * (me - 2.0 + 1.0 / me) / ((dn + 2.0) * (dn + 2.0) + me));
    c->damps = 1.0 + 2.0 * fmax(0.0, sqrt((me - 1.0) / (dn + 1.0)) - 1.0) + c->cs;
    c->chin = sqrt(dn) * (1.0 - 1.0 / (4.0 * dn) + 1.0 / (21.0 * dn * dn));
    c->key = mg_rng_key(c->opt.seed, "cmaes");
    c->hist_len = 10 + (int)ceil(30.0 * n / lam);
}

static mg_cmaes *alloc_state(const mg_cmaes_options *opt) {
    mg_cmaes *c = mg_calloc(1, sizeof *c);
    c->opt = *opt;
    c->n = opt->n;
    c->lambda = opt->lambda > 0 ? opt->lambda : 4 + (int)floor(3.0 * log((double)opt->n));
    if (c->opt.sigma0 <= 0) c->opt.sigma0 = 1.0 / 6.0;
    c->opt.lambda = c->lambda;
    size_t n = (size_t)c->n, lam = (size_t)c->lambda;
    c->w = mg_calloc(lam, sizeof(double));
    c->mean = mg_calloc(n, sizeof(double));
    c->ps = mg_calloc(n, sizeof(double));
    c->pc = mg_calloc(n, sizeof(double));
    c->C = mg_calloc(n * n, sizeof(double));
    c->B = mg_calloc(n * n, sizeof(double));
    c->D = mg_calloc(n, sizeof(double));
    c->xbest = mg_calloc(n, sizeof(double));
    c->X = mg_calloc(lam * n, sizeof(double));
    c->Y = mg_calloc(lam * n, sizeof(double));
    c->fcopy = mg_calloc(lam, sizeof(double));
    c->tmp = mg_calloc(n, sizeof(double));
    c->order = mg_calloc(lam, sizeof(int));
    set_strategy(c);
    c->hist = mg_calloc((size_t)c->hist_len, sizeof(double));
    return c;
}

static mg_status check_options(const mg_cmaes_options *opt, mg_error *err) {
    if (opt->n < 1 || opt->n > 100000)
        return mg_error_set(err, MG_ERR_INVALID, "cmaes: dimension must be in [1, 100000], got %d",
                            opt->n);
    if (opt->lambda < 0 || opt->lambda == 1 || opt->lambda > 100000)
        return mg_error_set(err, MG_ERR_INVALID,
                            "cmaes: population size must be 0 (default) or in [2, 100000], got %d",
                            opt->lambda);
    if (!(opt->sigma0 >= 0) || !isfinite(opt->sigma0))
        return mg_error_set(err, MG_ERR_INVALID, "cmaes: sigma0 must be a positive number");
    if (opt->max_fevals < 0)
        return mg_error_set(err, MG_ERR_INVALID, "cmaes: max_fevals must be >= 0");
    return MG_OK;
}

mg_status mg_cmaes_new(const mg_cmaes_options *opt, const double *x0, mg_cmaes **out,
                       mg_error *err) {
    *out = NULL;
    mg_status st = check_options(opt, err);
    if (st) return st;
    for (int i = 0; i < opt->n; i++)
        if (!isfinite(x0[i]))
            return mg_error_set(err, MG_ERR_INVALID, "cmaes: x0[%d] is not finite", i);
    mg_cmaes *c = alloc_state(opt);
    int n = c->n;
    memcpy(c->mean, x0, (size_t)n * sizeof(double));
    for (int i = 0; i < n; i++) {
        c->C[(size_t)i * n + i] = 1.0;
        c->B[(size_t)i * n + i] = 1.0;
        c->D[i] = 1.0;
    }
    c->sigma = c->opt.sigma0;
    c->fbest = INFINITY;
    c->last_range = INFINITY;
    *out = c;
    return MG_OK;
}

void mg_cmaes_free(mg_cmaes *c) {
    if (!c) return;
    free(c->w);
    free(c->mean);
    free(c->ps);
    free(c->pc);
    free(c->C);
    free(c->B);
    free(c->D);
    free(c->xbest);
    free(c->hist);
    free(c->X);
    free(c->Y);
    free(c->fcopy);
    free(c->tmp);
    free(c->order);
    free(c);
}

int mg_cmaes_dim(const mg_cmaes *c) {
    return c->n;
}
int mg_cmaes_lambda(const mg_cmaes *c) {
    return c->lambda;
}
int64_t mg_cmaes_generation(const mg_cmaes *c) {
    return c->gen;
}
int64_t mg_cmaes_fevals(const mg_cmaes *c) {
    return c->fevals;
}
double mg_cmaes_sigma(const mg_cmaes *c) {
    return c->sigma;
}
const double *mg_cmaes_mean(const mg_cmaes *c) {
    return c->mean;
}
bool mg_cmaes_best(const mg_cmaes *c, const double **xbest, double *fbest) {
    if (xbest) *xbest = c->xbest;
    if (fbest) *fbest = c->fbest;
    return c->have_best;
}

/* Y[k] = B D z_k and X[k] = m + sigma Y[k], z_k keyed by (seed, gen, k*n + i). */
static void sample(mg_cmaes *c) {
    int n = c->n;
    uint64_t gkey = mg_rng_subkey(c->key, (uint64_t)c->gen);
    for (int k = 0; k < c->lambda; k++) {
        for (int i = 0; i < n; i++)
            c->tmp[i] = c->D[i] * mg_rng_normal(gkey, (uint64_t)k * (uint64_t)n + (uint64_t)i);
        double *y = c->Y + (size_t)k * n, *x = c->X + (size_t)k * n;
        for (int i = 0; i < n; i++) {
            const double *brow = c->B + (size_t)i * n;
            double s = 0.0;
            for (int j = 0; j < n; j++)
                s += brow[j] * c->tmp[j];
            y[i] = s;
            x[i] = c->mean[i] + c->sigma * s;
        }
    }
}

void mg_cmaes_ask(mg_cmaes *c, double *X) {
    sample(c);
    memcpy(X, c->X, (size_t)c->lambda * (size_t)c->n * sizeof(double));
}

static void sort_order(const double *f, int *order, int lam) {
    // Insertion sort: lambda is small, the sort is stable (ties keep index order), and
    // non-finite values rank last, deterministically.
    for (int i = 0; i < lam; i++)
        order[i] = i;
    for (int i = 1; i < lam; i++) {
        int k = order[i];
        double fk = isfinite(f[k]) ? f[k] : INFINITY;
        int j = i - 1;
        while (j >= 0) {
            double fj = isfinite(f[order[j]]) ? f[order[j]] : INFINITY;
            if (fj <= fk) break;
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = k;
    }
}

/* C = B diag(D^2) B^T via dsyevd; keeps the old B, D if LAPACK fails. */
static void update_eigen(mg_cmaes *c) {
    int n = c->n;
    double *a = mg_malloc_array((size_t)n * n, sizeof(double));
    double *ev = mg_malloc_array((size_t)n, sizeof(double));
    // Enforce symmetry from the upper triangle (row-major), as the update is symmetric
    // only up to rounding.
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[(size_t)i * n + j] = j >= i ? c->C[(size_t)i * n + j] : c->C[(size_t)j * n + i];
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, a, n, ev);
    if (info == 0) {
        for (int i = 0; i < n; i++) {
            // Eigenvalues must be positive; clamp rounding noise to a tiny fraction of the
            // largest instead of taking the square root of a negative number.
            double e = ev[i];
            if (!(e > 0)) e = fmax(ev[n - 1] * 1e-20, 1e-300);
            c->D[i] = sqrt(e);
        }
        memcpy(c->B, a, (size_t)n * n * sizeof(double));
    } else {
        c->numerics_failed = true;
    }
    free(a);
    free(ev);
    c->eigen_fevals = c->fevals;
}

void mg_cmaes_tell(mg_cmaes *c, const double *f) {
    int n = c->n, lam = c->lambda, mu = c->mu;
    sample(c); // recompute this generation's Y from the state (cheap next to evaluations)
    sort_order(f, c->order, lam);

    // Best so far and the tolfun bookkeeping.
    int kb = c->order[0];
    if (isfinite(f[kb]) && (!c->have_best || f[kb] < c->fbest)) {
        c->have_best = true;
        c->fbest = f[kb];
        memcpy(c->xbest, c->X + (size_t)kb * n, (size_t)n * sizeof(double));
    }
    double fw = f[c->order[lam - 1]];
    c->last_range = isfinite(fw) && isfinite(f[kb]) ? fw - f[kb] : INFINITY;
    c->hist[c->gen % c->hist_len] = isfinite(f[kb]) ? f[kb] : INFINITY;
    if (c->hist_n < c->hist_len) c->hist_n++;

    // y_w = sum_i w_i y_{i:lambda}; m += sigma y_w (c_m = 1).
    double *yw = mg_calloc((size_t)n, sizeof(double));
    for (int i = 0; i < mu; i++) {
        const double *y = c->Y + (size_t)c->order[i] * n;
        for (int j = 0; j < n; j++)
            yw[j] += c->w[i] * y[j];
    }
    for (int j = 0; j < n; j++)
        c->mean[j] += c->sigma * yw[j];

    // C^{-1/2} y_w = B D^{-1} B^T y_w.
    double *t = c->tmp;
    for (int j = 0; j < n; j++) {
        double s = 0.0;
        for (int i = 0; i < n; i++)
            s += c->B[(size_t)i * n + j] * yw[i];
        t[j] = s / c->D[j];
    }
    double csn = sqrt(c->cs * (2.0 - c->cs) * c->mueff);
    double psnorm2 = 0.0;
    for (int i = 0; i < n; i++) {
        const double *brow = c->B + (size_t)i * n;
        double s = 0.0;
        for (int j = 0; j < n; j++)
            s += brow[j] * t[j];
        c->ps[i] = (1.0 - c->cs) * c->ps[i] + csn * s;
        psnorm2 += c->ps[i] * c->ps[i];
    }
    double psnorm = sqrt(psnorm2);

    // Heaviside h_sigma stalls p_c when the step size is growing fast (tutorial eq. 45).
    c->fevals += lam;
    c->gen++;
    double denom = sqrt(1.0 - pow(1.0 - c->cs, 2.0 * (double)c->gen));
    bool hsig = psnorm / denom < (1.4 + 2.0 / (n + 1.0)) * c->chin;
    double ccn = sqrt(c->cc * (2.0 - c->cc) * c->mueff);
    for (int i = 0; i < n; i++)
        c->pc[i] = (1.0 - c->cc) * c->pc[i] + (hsig ? ccn * yw[i] : 0.0);

    // Rank-one and rank-mu updates.
    double c1 = c->c1, cmu = c->cmu;
    double keep = 1.0 - c1 - cmu + (hsig ? 0.0 : c1 * c->cc * (2.0 - c->cc));
    for (int i = 0; i < n; i++) {
        for (int j = i; j < n; j++) {
            double rmu = 0.0;
            for (int k = 0; k < mu; k++) {
                const double *y = c->Y + (size_t)c->order[k] * n;
                rmu += c->w[k] * y[i] * y[j];
            }
            double v = keep * c->C[(size_t)i * n + j] + c1 * c->pc[i] * c->pc[j] + cmu * rmu;
            c->C[(size_t)i * n + j] = v;
            c->C[(size_t)j * n + i] = v;
        }
    }
    free(yw);

    // CSA (tutorial eq. 44); the exponent is capped at 1 as pycma does, which only matters
    // for pathological first steps.
    double ex = (c->cs / c->damps) * (psnorm / c->chin - 1.0);
    c->sigma *= exp(fmin(1.0, ex));
    if (!isfinite(c->sigma) || c->sigma <= 0) c->numerics_failed = true;

    if ((double)(c->fevals - c->eigen_fevals) > lam / (c1 + cmu) / n / 10.0) update_eigen(c);
}

const char *mg_cmaes_stop(const mg_cmaes *c) {
    if (c->numerics_failed) return "numerics";
    if (c->opt.max_fevals > 0 && c->fevals >= c->opt.max_fevals) return "maxfevals";
    if (c->opt.use_ftarget && c->have_best && c->fbest <= c->opt.ftarget) return "ftarget";
    if (c->gen > 0 && c->hist_n >= c->hist_len && c->last_range < TOLFUN) {
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < c->hist_n; i++) {
            lo = fmin(lo, c->hist[i]);
            hi = fmax(hi, c->hist[i]);
        }
        if (hi - lo < TOLFUN) return "tolfun";
    }
    if (c->gen > 0) {
        bool small = true;
        double dmax = 0.0, dmin = INFINITY;
        for (int i = 0; i < c->n && small; i++) {
            double sd = sqrt(c->C[(size_t)i * c->n + i]);
            if (c->sigma * fmax(fabs(c->pc[i]), sd) >= TOLX_FACTOR * c->opt.sigma0) small = false;
        }
        if (small) return "tolx";
        for (int i = 0; i < c->n; i++) {
            dmax = fmax(dmax, c->D[i]);
            dmin = fmin(dmin, c->D[i]);
        }
        if (dmax * dmax > MAX_CONDITION * dmin * dmin) return "conditioncov";
    }
    return NULL;
}

/* ---- JSON state ---- */

static json_t *darray(const double *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, isfinite(v[i]) ? json_real(v[i]) : json_null());
    return a;
}

json_t *mg_cmaes_to_json(const mg_cmaes *c) {
    size_t n = (size_t)c->n;
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string("mergeguard-cmaes-1"));
    json_object_set_new(j, "n", json_integer(c->n));
    json_object_set_new(j, "lambda", json_integer(c->lambda));
    json_object_set_new(j, "sigma0", json_real(c->opt.sigma0));
    // The seed is a full 64-bit value; jansson integers are signed 64-bit, so store it as a
    // decimal string to keep every bit.
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->opt.seed);
    json_object_set_new(j, "seed", json_string(seed));
    json_object_set_new(j, "max_fevals", json_integer(c->opt.max_fevals));
    json_object_set_new(j, "use_ftarget", json_boolean(c->opt.use_ftarget));
    json_object_set_new(j, "ftarget", json_real(c->opt.use_ftarget ? c->opt.ftarget : 0.0));
    json_object_set_new(j, "generation", json_integer(c->gen));
    json_object_set_new(j, "fevals", json_integer(c->fevals));
    json_object_set_new(j, "eigen_fevals", json_integer(c->eigen_fevals));
    json_object_set_new(j, "sigma", json_real(c->sigma));
    json_object_set_new(j, "mean", darray(c->mean, n));
    json_object_set_new(j, "ps", darray(c->ps, n));
    json_object_set_new(j, "pc", darray(c->pc, n));
    json_object_set_new(j, "C", darray(c->C, n * n));
    json_object_set_new(j, "B", darray(c->B, n * n));
    json_object_set_new(j, "D", darray(c->D, n));
    json_object_set_new(j, "have_best", json_boolean(c->have_best));
    json_object_set_new(j, "fbest", c->have_best ? json_real(c->fbest) : json_null());
    json_object_set_new(j, "xbest", darray(c->xbest, n));
    json_object_set_new(j, "history", darray(c->hist, (size_t)c->hist_n));
    json_object_set_new(j, "last_range",
                        isfinite(c->last_range) ? json_real(c->last_range) : json_null());
    json_object_set_new(j, "numerics_failed", json_boolean(c->numerics_failed));
    return j;
}

static mg_status get_darray(const json_t *j, const char *key, const char *what, double *out,
                            size_t n, bool allow_null, mg_error *err) {
    const json_t *a = json_object_get(j, key);
    if (!json_is_array(a) || json_array_size(a) != n)
        return mg_error_set(err, MG_ERR_INVALID, "%s: \"%s\" must be an array of %zu numbers", what,
                            key, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (json_is_number(v)) {
            out[i] = json_number_value(v);
        } else if (allow_null && json_is_null(v)) {
            out[i] = INFINITY;
        } else {
            return mg_error_set(err, MG_ERR_INVALID, "%s: %s[%zu] is not a number", what, key, i);
        }
    }
    return MG_OK;
}

mg_status mg_cmaes_from_json(const json_t *j, const char *what, mg_cmaes **out, mg_error *err) {
    *out = NULL;
    mg_cmaes *c = NULL;
    mg_status st;
    const char *fmt = NULL, *seed = NULL;
    int64_t n = 0, lam = 0, maxf = 0, gen = 0, fev = 0, efev = 0;
    double sigma0 = 0, ftarget = 0, sigma = 0;
    bool use_ft = false, have_best = false, numf = false;
    if (!json_is_object(j))
        return mg_error_set(err, MG_ERR_INVALID, "%s: CMA-ES state must be a JSON object", what);
    if ((st = mg_json_get_str(j, "format", what, &fmt, err))) return st;
    if (strcmp(fmt, "mergeguard-cmaes-1") != 0)
        return mg_error_set(err, MG_ERR_INVALID, "%s: format \"%s\", expected mergeguard-cmaes-1",
                            what, fmt);
    if ((st = mg_json_get_int(j, "n", what, &n, err)) ||
        (st = mg_json_get_int(j, "lambda", what, &lam, err)) ||
        (st = mg_json_get_num(j, "sigma0", what, &sigma0, err)) ||
        (st = mg_json_get_str(j, "seed", what, &seed, err)) ||
        (st = mg_json_get_int(j, "max_fevals", what, &maxf, err)) ||
        (st = mg_json_get_bool_opt(j, "use_ftarget", what, &use_ft, err)) ||
        (st = mg_json_get_num(j, "ftarget", what, &ftarget, err)) ||
        (st = mg_json_get_int(j, "generation", what, &gen, err)) ||
        (st = mg_json_get_int(j, "fevals", what, &fev, err)) ||
        (st = mg_json_get_int(j, "eigen_fevals", what, &efev, err)) ||
        (st = mg_json_get_num(j, "sigma", what, &sigma, err)) ||
        (st = mg_json_get_bool_opt(j, "have_best", what, &have_best, err)) ||
        (st = mg_json_get_bool_opt(j, "numerics_failed", what, &numf, err)))
        return st;
    char *end = NULL;
    unsigned long long sv = strtoull(seed, &end, 10);
    if (!*seed || *end)
        return mg_error_set(err, MG_ERR_INVALID, "%s: seed \"%s\" is not an integer", what, seed);
    if (n < 1 || n > 100000 || lam < 2 || lam > 100000 || gen < 0 || fev < 0 || efev < 0 ||
        efev > fev || !(sigma0 > 0) || !(sigma > 0))
        return mg_error_set(err, MG_ERR_INVALID, "%s: CMA-ES state has out-of-range fields", what);
    mg_cmaes_options opt = {.n = (int)n,
                            .lambda = (int)lam,
                            .sigma0 = sigma0,
                            .seed = sv,
                            .max_fevals = maxf,
                            .use_ftarget = use_ft,
                            .ftarget = ftarget};
    if ((st = check_options(&opt, err))) return st;
    c = alloc_state(&opt);
    size_t un = (size_t)n;
    c->gen = gen;
    c->fevals = fev;
    c->eigen_fevals = efev;
    c->sigma = sigma;
    c->have_best = have_best;
    c->numerics_failed = numf;
    if ((st = get_darray(j, "mean", what, c->mean, un, false, err)) ||
        (st = get_darray(j, "ps", what, c->ps, un, false, err)) ||
        (st = get_darray(j, "pc", what, c->pc, un, false, err)) ||
        (st = get_darray(j, "C", what, c->C, un * un, false, err)) ||
        (st = get_darray(j, "B", what, c->B, un * un, false, err)) ||
        (st = get_darray(j, "D", what, c->D, un, false, err)) ||
        (st = get_darray(j, "xbest", what, c->xbest, un, false, err)))
        goto fail;
    c->fbest = INFINITY;
    if (have_best && (st = mg_json_get_num(j, "fbest", what, &c->fbest, err))) goto fail;
    const json_t *h = json_object_get(j, "history");
    size_t hn = json_is_array(h) ? json_array_size(h) : 0;
    if (hn > (size_t)c->hist_len) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s: history longer than %d", what, c->hist_len);
        goto fail;
    }
    if ((st = get_darray(j, "history", what, c->hist, hn, true, err))) goto fail;
    c->hist_n = (int)hn;
    const json_t *lr = json_object_get(j, "last_range");
    c->last_range = json_is_number(lr) ? json_number_value(lr) : INFINITY;
    for (int i = 0; i < c->n; i++)
        if (!(c->D[i] > 0)) {
            st = mg_error_set(err, MG_ERR_INVALID, "%s: D[%d] must be positive", what, i);
            goto fail;
        }
    *out = c;
    return MG_OK;
fail:
    mg_cmaes_free(c);
    return st;
}
