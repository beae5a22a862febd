/* tensor.h - merge one tensor held in memory: f32 input buffers in, an f32
 * output buffer out, no disk I/O. This is the entry point data-aware merging
 * (evolve, cocktail) uses for every candidate, and what the method tests call.
 * Thread-safety: reentrant; the kernel itself uses the OpenMP thread pool. */
#ifndef MG_MERGE_TENSOR_H
#define MG_MERGE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "merge/method.h"

typedef struct mg_tensor_merge {
    const mg_method *method;
    size_t n;                   // inputs
    const float *const *inputs; // inputs[i][numel], borrowed
    int base;                   // index of the base input, -1 for none
    uint64_t numel;
    uint64_t cols;                 // last dimension (0 = numel, i.e. 1-D)
    double g[MG_P_COUNT];          // global parameters (see method.h)
    const double (*m)[MG_P_COUNT]; // per-input parameters, m[i]
    uint64_t key;                  // RNG key: mg_rng_key(seed, tensor name)
    uint64_t chunk;                // elements per chunk (0 = default)
    // Optional (merge/method.h): names of the inputs' data and a cache the
    // kernel may keep derived data in across calls (task-vector memos).
    const char *const *ids;
    struct mg_input_cache *memo;
    // Optional: half[i] holds input i as bf16 (inputs[i] must be its exact
    // widening), for kernels that widen in blocks (merge/method.h).
    const uint16_t *const *half;
} mg_tensor_merge;

/* Fills g with the method's defaults (NaN where there is none). */
void mg_tensor_merge_defaults(const mg_method *method, double g[MG_P_COUNT], double m[MG_P_COUNT]);
/* Runs the method; out[numel] is caller-provided and may not alias an input. */
mg_status mg_merge_tensor_f32(const mg_tensor_merge *t, float *out, mg_error *err);

#endif // MG_MERGE_TENSOR_H
