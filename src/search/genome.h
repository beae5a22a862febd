/* genome.h - the mergekit-evolve genome: which merge coefficients CMA-ES
 * searches, and how a genotype (a flat vector of reals) becomes an ordinary
 * merge config.
 *
 * Semantics follow mergekit-evolve (evo/genome.py; reference/mergekit.md §4):
 * methods linear, task_arithmetic, ties, dare_ties, slerp; the genotype has
 * shape [G layer groups][M models][F filters + 1 catch-all][P params] in C
 * order (P = weight; weight, density; or t). G = n_layers / layer_granularity
 * (one group when layer_granularity is 0). x0: weight 1/M, density 1 (or
 * U[0,1) with random_init). Decoding: density = clamp(|x|, 0, 1); weight and t
 * = |x| unless allow_negative_weights. The config has one slice per group
 * (layer_range [g*step, (g+1)*step) for every model, parameters as scalars or
 * [{filter, value}..., {filter: null, value}] lists), or with `smooth` one
 * `models:` entry per model whose parameters are gradients over the G values;
 * slerp picks per group the two models with the largest raw weight gene,
 * t = softmax(top-2)[1], the top model as the slice base. A base model not in
 * `models` is appended as a source without parameters. Global parameters:
 * normalize (the user's value, else true for ties/dare_ties/linear) and
 * int8_mask: true where the method has them; dtype (default bfloat16, as
 * mergekit-evolve). Numbers are printed with 17 significant digits, so the
 * config text reproduces the candidate exactly under `mergeguard merge`.
 *
 * Ownership: mg_genome_parse returns an owned genome (mg_genome_free); text
 * returned by mg_genome_to_yaml is owned (free()). Thread-safety: read-only
 * after parsing. */
#ifndef MG_SEARCH_GENOME_H
#define MG_SEARCH_GENOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/yaml.h"

typedef enum mg_genome_method {
    MG_GENOME_LINEAR,
    MG_GENOME_TASK_ARITHMETIC,
    MG_GENOME_TIES,
    MG_GENOME_DARE_TIES,
    MG_GENOME_SLERP,
} mg_genome_method;

typedef struct mg_genome {
    mg_genome_method method;
    char **models;     // resolved absolute paths, genome order
    char **model_refs; // as written
    size_t n_models;
    char *base_model;       // resolved path or NULL
    char *tokenizer_source; // "base", or a resolved model path, or NULL
    int layer_granularity;
    int n_layers; // num_hidden_layers of the first model
    int n_groups;
    int normalize; // -1 unset, else 0/1
    bool allow_negative_weights;
    char **filters;
    size_t n_filters;
    bool smooth;
    char *dtype;     // merge dtype of generated configs
    char **warnings; // ignored keys (mergekit ignores them silently)
    size_t n_warnings;
} mg_genome;

/* Parses the `genome:` mapping of an evolve config. `what` names the file in
 * messages; model paths resolve against the working directory, then base_dir.
 * Reads the first model's config.json for its layer count. *out owned. */
mg_status mg_genome_parse(const mg_yaml *node, const char *what, const char *base_dir,
                          mg_genome **out, mg_error *err);
void mg_genome_free(mg_genome *g); // NULL-safe

const char *mg_genome_method_name(mg_genome_method m);
/* Parameters per (group, model, filter set): 1 or 2. */
int mg_genome_n_params(const mg_genome *g);
/* "weight", "density" or "t". Borrowed, static. */
const char *mg_genome_param_name(const mg_genome *g, int p);
/* Length of the flat genotype: G * M * (F + 1) * P. */
size_t mg_genome_dim(const mg_genome *g);
/* Flat index of gene (group, model, set, param). */
size_t mg_genome_index(const mg_genome *g, int group, int model, int set, int param);

/* x0 into x[dim]: weight 1/M and density 1, or U[0,1) keyed by seed when random. */
void mg_genome_initial(const mg_genome *g, bool random, uint64_t seed, double *x);
/* The decoded value of one gene (abs / clamp as above). */
double mg_genome_decode(const mg_genome *g, const double *x, size_t index);

/* The merge config of genotype x (YAML text, owned). */
char *mg_genome_to_yaml(const mg_genome *g, const double *x);

#endif // MG_SEARCH_GENOME_H
