/* cmaes.h - CMA-ES (covariance matrix adaptation evolution strategy) with an
 * ask/tell interface, minimizing a black-box function of n real variables.
 *
 * The algorithm follows Hansen, "The CMA Evolution Strategy: A Tutorial"
 * (arXiv:1604.00772), Table 1 with positive recombination weights only:
 * weighted recombination of the best mu = floor(lambda/2) of lambda samples,
 * cumulative step-size adaptation (CSA), rank-one and rank-mu covariance
 * updates, and a lazy eigendecomposition of C (LAPACKE_dsyevd) whenever more
 * than lambda / ((c1 + cmu) n 10) evaluations passed since the last one.
 * Defaults match pycma as mergekit-evolve calls it (`cma.fmin2` with
 * sigma0 = 1/6, popsize 4 + floor(3 ln n), maxfevals): like mergekit-evolve,
 * no bounds are set; validity comes from decoding the genotype (genome.h).
 *
 * Randomness: sample k of generation g is m + sigma * B D z with z[i] =
 * mg_rng_normal(subkey(key(seed, "cmaes"), g), k * n + i), so samples depend
 * only on (seed, generation, index): a resumed or distributed run reproduces
 * an uninterrupted single-process one exactly. A generation is never cut
 * short: like pycma, the run may overshoot max_fevals by less than lambda.
 *
 * The whole state serializes to JSON (doubles printed with 17 significant
 * digits, which round-trips every finite double) for checkpoint/resume.
 * Ownership: mg_cmaes_new returns an owned object (mg_cmaes_free, NULL-safe).
 * Thread-safety: one object per thread; distinct objects are independent. */
#ifndef MG_SEARCH_CMAES_H
#define MG_SEARCH_CMAES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_cmaes_options {
    int n;              // dimension, >= 1
    int lambda;         // population; 0 = 4 + floor(3 ln n)
    double sigma0;      // initial step size; 0 = 1/6 (mergekit-evolve's default)
    uint64_t seed;      // keys the sampling RNG
    int64_t max_fevals; // stop once this many evaluations were told; 0 = no limit
    bool use_ftarget;   // stop once the best f <= ftarget
    double ftarget;
} mg_cmaes_options;

typedef struct mg_cmaes mg_cmaes;

/* A new optimizer centred at x0[0..n). *out owned. Bad options -> MG_ERR_INVALID. */
mg_status mg_cmaes_new(const mg_cmaes_options *opt, const double *x0, mg_cmaes **out,
                       mg_error *err);
void mg_cmaes_free(mg_cmaes *c);

int mg_cmaes_dim(const mg_cmaes *c);
int mg_cmaes_lambda(const mg_cmaes *c);
int64_t mg_cmaes_generation(const mg_cmaes *c); // completed generations (tells)
int64_t mg_cmaes_fevals(const mg_cmaes *c);     // evaluations told so far
double mg_cmaes_sigma(const mg_cmaes *c);
/* Current mean, borrowed (n doubles, valid until the next tell / free). */
const double *mg_cmaes_mean(const mg_cmaes *c);
/* Best point told so far and its value; false before the first tell.
 * xbest borrowed (n doubles, valid until the next tell / free). */
bool mg_cmaes_best(const mg_cmaes *c, const double **xbest, double *fbest);

/* Fills X[lambda * n] (row k = candidate k) with this generation's samples.
 * Pure: asking twice without a tell gives the same points. */
void mg_cmaes_ask(mg_cmaes *c, double *X);
/* Updates the state from f[0..lambda) evaluated at the points of the last ask
 * (they are recomputed from the state, so ask need not have been called on
 * this object, e.g. after a resume). Non-finite f values rank last. */
void mg_cmaes_tell(mg_cmaes *c, const double *f);

/* Why the run should stop ("maxfevals", "ftarget", "tolfun", "tolx",
 * "conditioncov", "numerics"), or NULL to go on. Borrowed, static. */
const char *mg_cmaes_stop(const mg_cmaes *c);

/* The full state as a new JSON object (owned, json_decref). */
json_t *mg_cmaes_to_json(const mg_cmaes *c);
/* Rebuilds an optimizer from mg_cmaes_to_json output. `what` names the source
 * in messages. *out owned. */
mg_status mg_cmaes_from_json(const json_t *j, const char *what, mg_cmaes **out, mg_error *err);

#endif // MG_SEARCH_CMAES_H
