/* method.h - the merge-method registry and the streaming kernel interface.
 *
 * Every mergekit method is a pure per-tensor function of {model -> tensor}
 * plus resolved scalars (mergekit merge_methods/). Here a kernel never sees a
 * whole tensor at once: it pulls its inputs chunk by chunk (whole rows at a
 * time) through a read callback and pushes f32 output chunks through a write
 * callback, making as many passes as its statistics need (norms, top-k
 * thresholds, L1 rescale factors). Peak memory is therefore
 * threads x models x chunk, whatever the tensor size, and the same code serves
 * the file executor (reads from safetensors) and the in-memory API (reads from
 * f32 buffers). Chunks are processed in parallel with OpenMP; per-chunk
 * partial sums are added in chunk order, and random masks are functions of
 * (seed, tensor name, model, element index), so results do not depend on the
 * thread count.
 *
 * Parameters are stored in fixed slots (mg_param_id): g[] for the method's
 * global parameters, m[i][] for model i's per-model parameters; booleans are
 * 0/1, `rescale` is 0 (false), 1 (true: mergekit's L1 norm match) or 2
 * (`inverse`: the papers' 1/p). NaN marks "not set" (e.g. passthrough scale).
 * Thread-safety: the registry is static and read-only; a kernel call uses only
 * its context. */
#ifndef MG_MERGE_METHOD_H
#define MG_MERGE_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum mg_param_id {
    MG_P_WEIGHT,
    MG_P_DENSITY,
    MG_P_GAMMA,
    MG_P_EPSILON,
    MG_P_SCALE,
    MG_P_T,
    MG_P_NORMALIZE,
    MG_P_RESCALE,
    MG_P_LAMBDA,
    MG_P_INT8_MASK,
    MG_P_ROW_WISE,
    MG_P_FLATTEN,
    MG_P_NORMALIZE_WEIGHTS,
    MG_P_EPS,
    MG_P_MAX_ITER,
    MG_P_TOL,
    MG_P_SELECT_TOPK,
    MG_P_R,
    MG_P_ALPHA,
    MG_P_FILTER_WISE,
    MG_P_COUNT
} mg_param_id;

typedef enum mg_param_type {
    MG_PT_NUM,
    MG_PT_BOOL,
    MG_PT_RESCALE, // bool or the string "inverse"
} mg_param_type;

typedef struct mg_param_def {
    const char *name; // the YAML key
    mg_param_id id;
    bool per_model; // resolved per input model (weight, density, ...)
    bool required;  // no default: must be given (except for the base model)
    mg_param_type type;
    double def;    // default (NaN = None)
    double lo, hi; // allowed closed range for numbers
} mg_param_def;

typedef enum mg_base_rule {
    MG_BASE_NONE,     // no special role (linear, karcher: just another input)
    MG_BASE_OPTIONAL, // nuslerp, multislerp: task-vector space when given
    MG_BASE_REQUIRED,
} mg_base_rule;

/* One tensor's merge: inputs and resolved parameters. */
typedef struct mg_kernel_ctx {
    size_t n; // inputs (base included when there is one)
    int base; // index of the base input, -1 when none
    uint64_t numel;
    uint64_t rows, cols; // cols = last dim (numel for 1-D), rows = numel / cols
    double g[MG_P_COUNT];
    const double (*m)[MG_P_COUNT]; // m[i]: input i's per-model parameters
    uint64_t key;                  // RNG key for this tensor (seed, output tensor name)
    /* Fills dst[0..count) with input `model`'s elements [begin, begin+count).
     * Called concurrently from several threads for distinct chunks. */
    mg_status (*read)(void *user, size_t model, uint64_t begin, uint64_t count, float *dst,
                      mg_error *err);
    void *read_user;
    /* Receives output elements [begin, begin+count); concurrent calls cover
     * disjoint ranges. Every element is written exactly once. */
    void (*write)(void *user, uint64_t begin, uint64_t count, const float *src);
    void *write_user;
    uint64_t chunk; // preferred elements per chunk (0 = default); rounded to whole rows
    /* Set when the plan has an input cache (merge/input_cache.h), else NULL:
     * ids[i] names input i's cached values in memo (NULL when not cached).
     * Kernels may store data derived from cached inputs in memo, under keys
     * built from these ids. */
    const char *const *ids;
    struct mg_input_cache *memo;
    /* Optional: whole[i] holds input i's f32 values (cached); chunk passes
     * then point into it instead of calling read. Inputs are read-only. */
    const float *const *whole;
    /* Optional: input `model` as bf16 values in memory now, the whole tensor
     * (read() would give exactly their f32 widening), or NULL. Lets a kernel
     * widen inputs in small blocks instead of through chunk buffers. */
    const uint16_t *(*half)(void *user, size_t model);
    void *half_user;
} mg_kernel_ctx;

typedef mg_status (*mg_kernel_fn)(const mg_kernel_ctx *c, mg_error *err);

typedef struct mg_method {
    const char *name;
    mg_base_rule base;
    int min_others, max_others; // non-base inputs allowed (-1 = no limit)
    bool rectify;               // embeddings cut to the common sub-matrix (mergekit rectify_embed)
    bool gta;                   // task-vector family: embeddings cut to the base shape
    bool random;                // uses the RNG (seed matters)
    const mg_param_def *params;
    size_t n_params;
    mg_kernel_fn kernel;
} mg_method;

/* Lookup by name; NULL when unknown. */
const mg_method *mg_method_find(const char *name);
size_t mg_method_count(void);
const mg_method *mg_method_at(size_t i);
/* "linear, slerp, ..." for error messages. Borrowed, static. */
const char *mg_method_names(void);
/* The method's definition of a parameter, or NULL. */
const mg_param_def *mg_method_param(const mg_method *m, const char *name);
const char *mg_param_name(mg_param_id id);

#endif // MG_MERGE_METHOD_H
