/* config.h - mergekit-compatible merge configuration (YAML), parsed and
 * checked before any model is opened.
 *
 * Schema (mergekit config.py): merge_method; exactly one of `models:` (list of
 * {model, parameters}) or `slices:` (list of {sources: [{model, layer_range,
 * parameters}], base_model?, parameters?}); base_model; parameters; dtype;
 * out_dtype; tokenizer_source (base | model; union is refused as
 * unsupported) or tokenizer: {source}; chat_template. A `models:` config is
 * normalised into one slice whose sources follow config order, with an
 * unlisted base_model appended last without parameters (plan.py
 * normalize_config). Parameter values stay YAML nodes and are evaluated per
 * tensor (mg_setting_eval). Checks made here: the schema, the method name,
 * base-model and model-count rules, parameter value shapes and ranges (with
 * line numbers), model paths (resolved against the working directory, then
 * the config's directory). Unknown keys and parameters the method does not
 * use are warnings (mergekit ignores them silently).
 *
 * Ownership: mg_merge_config_load returns an owned config (free with
 * mg_merge_config_free); all strings and nodes inside are owned by it.
 * Thread-safety: read-only after loading. */
#ifndef MG_MERGE_CONFIG_H
#define MG_MERGE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/yaml.h"
#include "io/dtype.h"
#include "merge/method.h"

typedef struct mg_merge_source {
    int model; // index into mg_merge_config.models
    bool has_range;
    int64_t layer_begin, layer_end; // [begin, end)
    const mg_yaml *params;          // may be NULL
    int line;
    bool appended_base; // the unlisted base_model added by normalisation
} mg_merge_source;

typedef struct mg_merge_slice {
    mg_merge_source *sources;
    size_t n_sources;
    int base; // model index of the slice's base (slice, then top level), -1 none
    const mg_yaml *params;
    int line;
} mg_merge_slice;

typedef struct mg_merge_model {
    char *ref;  // as written in the config
    char *path; // resolved local path
} mg_merge_model;

typedef struct mg_merge_config {
    mg_yaml *root;
    char *path; // config file ("<string>" for buffers)
    char *text; // the config as given (copied into the output)
    const mg_method *method;
    int base; // top-level base_model index, -1 none
    bool slices_form;
    mg_merge_slice *slices;
    size_t n_slices;
    const mg_yaml *params;
    bool has_dtype, has_out_dtype;
    mg_dtype dtype, out_dtype;
    int tokenizer_source;     // -1: donor default; otherwise a model index
    char *chat_template;      // literal template text or NULL
    char *chat_template_name; // built-in name or NULL
    mg_merge_model *models;   // distinct models in config order
    size_t n_models;
    char **warnings;
    size_t n_warnings;
} mg_merge_config;

/* Parses and checks a config file (or a buffer; base_dir resolves relative
 * model paths, NULL = the working directory only). MG_ERR_INVALID names the
 * file, line and field; missing models are MG_ERR_NOT_FOUND. */
mg_status mg_merge_config_load(const char *path, mg_merge_config **out, mg_error *err);
mg_status mg_merge_config_parse(const char *text, size_t len, const char *what,
                                const char *base_dir, mg_merge_config **out, mg_error *err);
void mg_merge_config_free(mg_merge_config *c);

/* Evaluates one parameter setting for a tensor at layer position t in [0,1]
 * (mergekit evaluate_setting): scalars as is; numeric lists are gradients
 * (interpolated at t (L-1)); other lists pick element floor(t (L-1));
 * [{filter, value}] lists take the first entry whose filter is null, "*" or a
 * substring of the tensor name, and *found = false when none matches. */
mg_status mg_setting_eval(const mg_yaml *node, const mg_param_def *def, const char *tensor,
                          double t, double *out, bool *found, mg_error *err);

#endif // MG_MERGE_CONFIG_H
