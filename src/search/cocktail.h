/* cocktail.h - LM-Cocktail (Xiao et al. 2023; paper §6, Eq. 3): merge weights
 * from few-sample losses, then a linear merge of the full models.
 *
 * Every model (base included, as the paper's repo passes it) is scored on the
 * records with the tokenizer of the first model: in chat mode with its chat
 * template (the paper's safety-aware setting), in raw mode as FlagEmbedding
 * does it (input + ' ' + output + EOS, no template; see fitness.h). A model's
 * loss L_t is the mean per-record response CE over all records used
 * (alignment and task pooled; per-type means are reported too), and
 *     w_t = softmax(-L_t / T)
 * over all models (T = 1 is Eq. 3 exactly; the library's default is 5). The
 * merged model is the linear merge sum_t w_t theta_t of the full weights,
 * written by the merge engine from a generated mergekit config
 * (cocktail_config.yml), so `mergeguard merge` reproduces it.
 * Models are scored one at a time (one model's weights in memory).
 * Thread-safety: one run at a time per process. */
#ifndef MG_SEARCH_COCKTAIL_H
#define MG_SEARCH_COCKTAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_cocktail_opts {
    const char *const *models; // model folders, in order
    size_t n_models;
    const char *data;         // JSONL records
    double temperature;       // > 0
    bool raw;                 // FlagEmbedding raw mode instead of the chat template
    int64_t samples_per_type; // 0 = all records
    uint64_t seed;            // subsampling seed
    const char *dtype;        // output dtype of the merge config, NULL = the first model's
    const char *out_dir;      // NULL: compute and print only
    bool force;
    bool progress;
} mg_cocktail_opts;

typedef struct mg_cocktail_result {
    size_t n;          // models
    double *loss;      // [n] pooled mean CE
    double (*ce)[2];   // [n] per-type mean CE (alignment, task; NaN when absent)
    double *weight;    // [n] softmax(-loss / T)
    size_t records[2]; // records used per type
} mg_cocktail_result;

/* Validates (models fit together, tokenizer, data) before scoring; fills res
 * (owned arrays: mg_cocktail_result_free) and, with out_dir, writes
 * OUT/cocktail.json, OUT/cocktail_config.yml and OUT/model. */
mg_status mg_cocktail_run(const mg_cocktail_opts *o, mg_cocktail_result *res, mg_error *err);
void mg_cocktail_result_free(mg_cocktail_result *res);

/* The softmax of -loss / T (max-subtracted), into w[n]. */
void mg_cocktail_weights(const double *loss, size_t n, double temperature, double *w);

#endif // MG_SEARCH_COCKTAIL_H
