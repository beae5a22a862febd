/* exec.h - the streaming merge executor: runs a plan into an output model
 * folder. Tensors are merged one at a time (each split into chunks across the
 * OpenMP threads), converted to the output dtype straight from the kernel's
 * f32 chunks, and handed to the streaming shard writer; inputs are read with
 * pread (plan.h), so peak memory is one output tensor plus threads x models x
 * chunk, whatever the model size. The folder is built as a
 * temporary sibling and renamed into place only when complete (base/file.h),
 * so a failed or interrupted merge leaves nothing behind.
 * Thread-safety: one execution per plan at a time. */
#ifndef MG_MERGE_EXEC_H
#define MG_MERGE_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "merge/plan.h"

typedef struct mg_merge_opts {
    uint64_t shard_size; // bytes per shard (0 = 5e9, mergekit's default)
    bool force;          // replace an existing output
    bool progress;       // progress lines on stderr
} mg_merge_opts;

typedef struct mg_merge_stats {
    double seconds;
    uint64_t bytes_in, bytes_out;
    size_t shards;
} mg_merge_stats;

mg_status mg_merge_execute(const mg_plan *p, const char *out_dir, const mg_merge_opts *o,
                           mg_merge_stats *stats, mg_error *err);

/* The streaming peak of executing p with `threads` threads, in bytes above
 * the process's baseline (binary, libraries, opened models): an upper bound
 * derived from the executor's allocations (exec_memory.c lists them).
 * Used by `merge --max-memory` to refuse a plan before any work. */
typedef struct mg_merge_memory {
    uint64_t peak;          // out_bytes + work_bytes + fixed_bytes
    uint64_t out_bytes;     // output buffers at the peak (tensor computed + tensor being written)
    uint64_t work_bytes;    // the kernel's working set at the peak (chunks, selections, masks)
    uint64_t fixed_bytes;   // per-thread input staging buffers kept for the run
    size_t tensor;          // tensor index where the peak occurs
    size_t biggest;         // the largest output tensor ...
    uint64_t biggest_bytes; // ... and its bytes
    int threads;
} mg_merge_memory;

void mg_merge_estimate_memory(const mg_plan *p, int threads, mg_merge_memory *m);

#endif // MG_MERGE_EXEC_H
