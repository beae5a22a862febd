/* exec.h - the streaming merge executor: runs a plan into an output model
 * folder. Tensors are merged one at a time (each split into chunks across the
 * OpenMP threads); every chunk is converted to the output dtype by the thread
 * that computed it and written straight to its place in the shard (the
 * streaming shard writer takes tensors in parts), and each finished tensor's
 * disk writeback starts while the next one is merged. Inputs are read with
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
} mg_merge_opts;

typedef struct mg_merge_stats {
    double seconds;
    uint64_t bytes_in, bytes_out;
    size_t shards;
} mg_merge_stats;

mg_status mg_merge_execute(const mg_plan *p, const char *out_dir, const mg_merge_opts *o,
                           mg_merge_stats *stats, mg_error *err);

#endif // MG_MERGE_EXEC_H
