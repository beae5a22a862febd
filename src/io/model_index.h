/* model_index.h - sharded checkpoints: model.safetensors.index.json.
 *
 * The index maps every tensor name to the shard file holding it ("weight_map",
 * as written by transformers' save_pretrained). Opening checks that each
 * named shard exists and validates, that no tensor is stored in two shards,
 * and that every tensor sits in exactly the shard the index names (and every
 * stored tensor is listed). Shard names must be plain file names in the same
 * folder, so an index cannot reach outside it. Used by model_dir.c.
 * Thread-safety: no shared state. */
#ifndef MG_IO_MODEL_INDEX_H
#define MG_IO_MODEL_INDEX_H

#include <stddef.h>

#include "base/error.h"
#include "io/safetensors.h"

/* Opens the shards of index_path, sorted by file name. *shards owned: close
 * each with mg_st_close and free the array. On failure nothing is returned. */
mg_status mg_model_index_open(const char *index_path, mg_st_file ***shards, size_t *n,
                              mg_error *err);

#endif // MG_IO_MODEL_INDEX_H
