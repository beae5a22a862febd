/* exec.h - the streaming merge executor: runs a plan into an output model
 * folder. Tensors are merged one at a time (each split into chunks across the
 * OpenMP threads); every chunk is converted to the output dtype by the thread
 * that computed it and handed straight to the shard writer, which takes
 * tensors in parts: by default in its streaming mode (a ring written to disk
 * in file order with O_DIRECT by a background thread, so the output never
 * goes through the page cache and the closing fsync has nothing left to do);
 * with `buffered`, through the page cache, each finished tensor's writeback
 * started while the next one is merged. Inputs are read with
 * pread (plan.h), so peak memory is threads x models x chunk plus the
 * kernel's per-tensor bookkeeping, whatever the model size. The folder is
 * built as a temporary sibling and renamed into place only when complete
 * (base/file.h), so a failed or interrupted merge leaves nothing behind.
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
    bool buffered;       // write through the page cache (default: direct I/O where
                         // available, see mg_st_writer_stream)
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
    uint64_t out_bytes;     // output chunk buffers at the peak (one per thread)
    uint64_t work_bytes;    // the kernel's working set at the peak (chunks, selections, masks)
    uint64_t fixed_bytes;   // input staging buffers, output ring, resident arena (whole run)
    size_t tensor;          // tensor index where the peak occurs
    size_t biggest;         // the largest output tensor ...
    uint64_t biggest_bytes; // ... and its bytes
    int threads;
} mg_merge_memory;

void mg_merge_estimate_memory(const mg_plan *p, int threads, mg_merge_memory *m);

#endif // MG_MERGE_EXEC_H
