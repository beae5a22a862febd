/* grid.h - the paper's data-agnostic baselines (App. B): a manual grid over
 * merge hyperparameters, every point merged in memory and evaluated.
 *
 * A grid point rewrites the base config: a per-model parameter (weight,
 * density, ...) is set on every source except the base model, a global one
 * (t, lambda, ...) at the top-level `parameters`. The config is re-emitted as
 * flow-style YAML (JSON syntax, which YAML reads as is), keeping every other
 * key and value as written. Each point is merged into the runtime's weights
 * (candidate.h) and scored with the fitness of fitness.h (alignment and task
 * CE). The paper picks the point with the best domain accuracy; until the
 * eval layer's accuracy metric is wired in, the point with the lowest task CE
 * is marked as its stand-in (the table says so).
 * Ownership: results are owned (mg_grid_result_free). Thread-safety: one run
 * at a time per process. */
#ifndef MG_SEARCH_GRID_H
#define MG_SEARCH_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/yaml.h"
#include "merge/method.h"

typedef struct mg_grid_param {
    const char *name;
    const double *values;
    size_t n;
} mg_grid_param;

typedef struct mg_grid_opts {
    const char *config; // base merge config (YAML)
    const mg_grid_param *params;
    size_t n_params;
    const char *data; // fitness records
    double alpha, alignment_weight;
    int64_t samples_per_type;
    uint64_t seed;
    const char *out_dir; // NULL: print only
    bool force, progress;
} mg_grid_opts;

typedef struct mg_grid_point {
    double *values; // [n_params]
    double fitness, ce[2];
} mg_grid_point;

typedef struct mg_grid_result {
    mg_grid_point *points;
    size_t n_points, n_params;
    size_t best; // lowest task CE (stand-in for best domain accuracy)
} mg_grid_result;

/* The config of root with the given parameter values applied (owned text). */
char *mg_grid_config_text(const mg_yaml *root, const mg_method *m, const char *const *names,
                          const double *values, size_t n, mg_error *err);

mg_status mg_grid_run(const mg_grid_opts *o, mg_grid_result *res, mg_error *err);
void mg_grid_result_free(mg_grid_result *r);

#endif // MG_SEARCH_GRID_H
