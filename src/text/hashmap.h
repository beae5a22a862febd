/* hashmap.h - the two open-addressing hash tables the tokenizer runs on:
 * byte string -> int32 (vocabularies, the word cache) and uint64 -> uint64
 * (BPE merge ranks keyed by an id pair, added-token trie edges).
 *
 * Linear probing, power-of-two capacity kept at most half full, so lookups
 * are one or two cache lines. Keys of mg_strmap are copied into the map's own
 * arena. Ownership: _new/_free pairs, NULL-safe free. Thread-safety: lookups
 * may run concurrently once building is done; puts need exclusive access. */
#ifndef MG_TEXT_HASHMAP_H
#define MG_TEXT_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mg_strmap mg_strmap;

/* Owned; expected_entries sizes the table (it still grows past it). */
mg_strmap *mg_strmap_new(size_t expected_entries);
void mg_strmap_free(mg_strmap *m);
/* Inserts or overwrites. */
void mg_strmap_put(mg_strmap *m, const void *key, size_t len, int32_t val);
/* The value, or -1 when absent. */
int32_t mg_strmap_get(const mg_strmap *m, const void *key, size_t len);
size_t mg_strmap_count(const mg_strmap *m);
/* Removes every entry, keeping the allocation. */
void mg_strmap_clear(mg_strmap *m);

/* 64-bit hash of a byte string (also used by callers for pre-hashed keys). */
uint64_t mg_hash_bytes(const void *key, size_t len);

typedef struct mg_u64map mg_u64map;

/* Keys must not be UINT64_MAX (the empty-slot marker). */
mg_u64map *mg_u64map_new(size_t expected_entries);
void mg_u64map_free(mg_u64map *m);
void mg_u64map_put(mg_u64map *m, uint64_t key, uint64_t val);
/* True and *val when present. */
bool mg_u64map_get(const mg_u64map *m, uint64_t key, uint64_t *val);
size_t mg_u64map_count(const mg_u64map *m);

#endif // MG_TEXT_HASHMAP_H
