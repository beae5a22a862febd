/* plan.h - the per-tensor merge plan: which output tensors exist, which input
 * tensors feed each, and every resolved parameter. Building a plan opens the
 * models (headers only; tensors stay mapped, unread) and checks everything
 * that can be checked before computing: architectures, layer counts and
 * ranges, missing tensors, shapes and vocabulary sizes, required parameters
 * and their ranges per tensor and model.
 *
 * Semantics follow mergekit plan.py: a `models:` config is one slice over all
 * layers; output layers are numbered consecutively across slices, output layer
 * j of a slice reading input layer layer_range[0] + j of each source; layer
 * tensors get gradient position t = j / (n - 1) (t = 1 for a 1-layer slice),
 * embeddings and the final norm / lm_head t = 0 and come from the first /
 * last slice. Global parameters resolve slice -> top level -> default against
 * the output name; per-model ones source -> slice -> top level -> default
 * against the input name. lm_head is written when any input has an untied
 * head; tied models then feed their embedding matrix (mergekit tied_names).
 *
 * Inputs are read with pread into small per-thread buffers rather than
 * through the mappings, so input pages never count against our resident set
 * (they stay in the page cache) and peak memory stays flat on big models; a
 * file that shrinks under us is a clean error, never a SIGBUS. Each chunk is
 * checked for NaN / Inf as it is widened to f32 (one vectorized pass while it
 * is in cache): a tensor holding them fails the merge with a message naming
 * the file and tensor, unless allow_nonfinite is set (then it is a warning).
 * A tensor whose raw inputs fit MG_PLAN_RESIDENT_BYTES keeps them in one
 * reused arena while its kernel runs, so second passes do not read again
 * (they were checked on the first).
 *
 * Ownership: mg_plan_build returns an owned plan (mg_plan_free) that borrows
 * the config, which must outlive it. Thread-safety: read-only after building;
 * mg_plan_merge_tensor_f32 may run concurrently for distinct tensors. */
#ifndef MG_MERGE_PLAN_H
#define MG_MERGE_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "merge/config.h"
#include "merge/method.h"

typedef struct mg_plan_input {
    int model;                  // config model index
    const mg_tensor_view *view; // borrowed from the opened model
    int fd;                     // read descriptor of view->file_path (owned by the plan)
    double m[MG_P_COUNT];       // resolved per-model parameters (NaN = unset)
} mg_plan_input;

typedef struct mg_plan_tensor {
    char *name; // output name
    int ndim;
    int64_t shape[MG_MAX_DIMS]; // output shape (embeddings may be rectified)
    uint64_t numel;
    mg_dtype out_dtype;
    double t;  // gradient position
    int slice; // slice index (layer tensors), -1 for pre/post weights
    bool is_embed;
    mg_plan_input *inputs;
    size_t n_inputs;
    int base;             // index into inputs, -1 none
    int fill;             // input whose rows fill rows other inputs lack (-1 none)
    double g[MG_P_COUNT]; // resolved global parameters
} mg_plan_tensor;

typedef struct mg_plan {
    const mg_merge_config *cfg; // borrowed
    mg_model **models;          // per config model, owned
    mg_plan_tensor *tensors;
    size_t n_tensors;
    int donor;           // model whose config.json is the template
    int tokenizer_donor; // model whose tokenizer files are copied
    int64_t out_layers;
    bool untie; // lm_head written although the donor ties embeddings
    uint64_t seed;
    uint64_t out_bytes; // total output tensor bytes
    int *fds;           // one per distinct input file (see mg_plan_input.fd)
    char **fd_paths;
    size_t n_fds;
    struct mg_input_cache *cache; // borrowed, NULL = read every input from its file
    struct mg_resident *resident; // owned: raw inputs kept between a kernel's passes
    bool allow_nonfinite; // merge inputs holding NaN / Inf (with a warning) instead of failing
} mg_plan;

/* Bytes of raw inputs one tensor may keep in memory between its kernel's
 * passes (merge/resident.h); bigger tensors read their inputs again. */
#define MG_PLAN_RESIDENT_BYTES ((uint64_t)384 << 20)

mg_status mg_plan_build(const mg_merge_config *cfg, uint64_t seed, mg_plan **out, mg_error *err);
void mg_plan_free(mg_plan *p); // NULL-safe

/* The per-tensor plan with every resolved parameter (--dry-run), as text or JSON. */
void mg_plan_print(const mg_plan *p, FILE *f, bool json);

/* Merges tensor i into out[numel] (f32, caller-provided): reads the inputs
 * from the mapped models, no output I/O. */
mg_status mg_plan_merge_tensor_f32(const mg_plan *p, size_t i, float *out, mg_error *err);
/* Merges every tensor: outs[i] has room for tensors[i].numel floats. */
mg_status mg_plan_merge_all_f32(const mg_plan *p, float *const *outs, mg_error *err);

/* Low-level: runs tensor i's kernel with a custom output sink (used by the
 * file executor). write() receives f32 ranges as in mg_kernel_ctx. */
mg_status mg_plan_run_tensor(const mg_plan *p, size_t i,
                             void (*write)(void *user, uint64_t begin, uint64_t count,
                                           const float *src),
                             void *user, mg_error *err);

/* Serves input reads from cache (merge/input_cache.h), filling it on first
 * use; NULL turns it off. Results are bit-identical either way. */
void mg_plan_set_cache(mg_plan *p, struct mg_input_cache *cache);

#endif // MG_MERGE_PLAN_H
