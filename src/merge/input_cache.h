/* input_cache.h - f32 copies of merge inputs kept across plans.
 *
 * Data-aware searches (evolve, grid, cocktail) merge the same input tensors
 * hundreds of times with different parameters. Reading (pread) and widening
 * (bf16 -> f32, dtype rounding) each input again for every candidate costs as
 * much as the kernels themselves; this cache keeps each input tensor as the
 * exact f32 values mg_plan's reader produces, keyed by (file path, offset,
 * dtype, tensor name, element count, rounding), up to a byte cap (tensors that
 * do not fit are read from disk as usual). Cached values are bit-identical to
 * fresh reads, so results do not change; the files must not change while a
 * cache is in use. Kernels may also keep data derived from cached inputs
 * here (blobs: TIES keeps each task vector's elements sorted by magnitude).
 * Ownership: the cache owns its buffers; plans borrow it (mg_plan_set_cache).
 * Thread-safety: lookups and inserts lock an internal mutex; entries are
 * never freed before mg_input_cache_free. */
#ifndef MG_MERGE_INPUT_CACHE_H
#define MG_MERGE_INPUT_CACHE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct mg_input_cache mg_input_cache;

mg_input_cache *mg_input_cache_new(uint64_t cap_bytes);
void mg_input_cache_free(mg_input_cache *c);
/* Bytes held. */
uint64_t mg_input_cache_bytes(const mg_input_cache *c);

/* The cached f32 values for key, or NULL. */
const float *mg_input_cache_get(mg_input_cache *c, const char *key, uint64_t numel);
/* Takes ownership of data (numel floats, from malloc) when it fits under the
 * cap and returns it; otherwise returns NULL and the caller keeps data. */
const float *mg_input_cache_put(mg_input_cache *c, const char *key, uint64_t numel, float *data);

/* Whether bytes more would fit under the cap now (a hint: another thread may
 * fill the cache meanwhile). */
bool mg_input_cache_fits(mg_input_cache *c, uint64_t bytes);
/* Keeps reserve bytes of the cap for blobs: inputs (mg_input_cache_put) stop
 * short of it. */
void mg_input_cache_reserve(mg_input_cache *c, uint64_t reserve);

/* The same for any derived data (bytes from malloc), e.g. sorted keys. */
const void *mg_input_cache_get_blob(mg_input_cache *c, const char *key, uint64_t bytes);
const void *mg_input_cache_put_blob(mg_input_cache *c, const char *key, uint64_t bytes, void *data);
/* A blob of any size under key: its data and *bytes, or NULL. */
const void *mg_input_cache_find_blob(mg_input_cache *c, const char *key, uint64_t *bytes);

#endif // MG_MERGE_INPUT_CACHE_H
