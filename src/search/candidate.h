/* candidate.h - a merge config materialised in memory, straight into the
 * runtime's f32 weight buffers: the inner step of evolve, cocktail and grid.
 *
 * The config text is parsed and planned by the merge engine exactly as
 * `mergeguard merge` does (same parser, same planner, same kernels, same
 * seed), and every output tensor is merged by mg_plan_run_tensor into the
 * nn model tensor of the same HF name. Each value is rounded to the tensor's
 * output dtype (bf16 / f16 by round-to-nearest-even, as the file writer does)
 * and widened back, so the in-memory candidate holds bit for bit the weights
 * `mergeguard merge` would write for the same config. Inputs stay memory-
 * mapped / pread by the planner; nothing is written to disk. Every tensor of
 * the nn model must be produced by the plan, with the same element count.
 *
 * Ownership: borrows everything; the model is written in place.
 * Thread-safety: one call per model at a time (kernels run multi-threaded
 * inside with OpenMP). */
#ifndef MG_SEARCH_CANDIDATE_H
#define MG_SEARCH_CANDIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/model.h"

typedef struct mg_candidate_stats {
    double plan_seconds;  // config parse + plan build (opens the inputs' headers)
    double merge_seconds; // kernels writing into the model
} mg_candidate_stats;

/* Merges config `yaml` (len bytes; `what` names it in messages; relative model
 * paths resolve against the working directory, then base_dir, which may be
 * NULL) with DARE seed `seed` into m, whose matrices must be f32. stats may be
 * NULL. */
mg_status mg_candidate_merge(const char *yaml, size_t len, const char *what, const char *base_dir,
                             uint64_t seed, mg_nn_model *m, mg_candidate_stats *stats,
                             mg_error *err);

/* The same for an already built plan (its config must outlive the call). */
/* mg_candidate_merge keeps its inputs as f32 across calls (merge/input_cache.h:
 * no pread / bf16 widening per candidate; results are bit-identical) up to
 * this many bytes, 1 GiB by default (the lab models need ~100 MB); tensors
 * beyond the cap are read from disk each time. 0 turns the cache off and frees
 * it. The input files must not change while cached. Not thread-safe against
 * concurrent mg_candidate_merge calls. */
void mg_candidate_cache_limit(uint64_t cap_bytes);
/* Bytes the cache holds now. */
uint64_t mg_candidate_cache_bytes(void);

struct mg_plan;
mg_status mg_candidate_merge_plan(const struct mg_plan *p, mg_nn_model *m, mg_error *err);

#endif // MG_SEARCH_CANDIDATE_H
