/* hashmap.c - see hashmap.h. */
#include "text/hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

uint64_t mg_hash_bytes(const void *key, size_t len) {
    const uint8_t *p = (const uint8_t *)key;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xff51afd7ed558ccdull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ mix64(w)) * 0x9E3779B97F4A7C15ull;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    if (len) memcpy(&w, p, len); // an empty key may come as a NULL pointer
    h = (h ^ mix64(w ^ len)) * 0x9E3779B97F4A7C15ull;
    return mix64(h);
}

static size_t table_size(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 2) cap *= 2;
    return cap;
}

/* ---- byte string -> int32 ---- */

typedef struct slot {
    uint64_t hash;
    uint64_t key_off; // into arena
    uint32_t key_len;
    int32_t val;      // INT32_MIN marks an empty slot
} slot;

struct mg_strmap {
    slot *slots;
    size_t cap, count;
    char *arena;
    size_t arena_len, arena_cap;
};

#define EMPTY INT32_MIN

static void strmap_alloc(mg_strmap *m, size_t cap) {
    m->slots = (slot *)mg_malloc_array(cap, sizeof(slot));
    for (size_t i = 0; i < cap; i++) m->slots[i].val = EMPTY;
    m->cap = cap;
}

mg_strmap *mg_strmap_new(size_t expected) {
    mg_strmap *m = (mg_strmap *)mg_calloc(1, sizeof *m);
    strmap_alloc(m, table_size(expected));
    return m;
}

void mg_strmap_free(mg_strmap *m) {
    if (!m) return;
    free(m->slots);
    free(m->arena);
    free(m);
}

void mg_strmap_clear(mg_strmap *m) {
    for (size_t i = 0; i < m->cap; i++) m->slots[i].val = EMPTY;
    m->count = 0;
    m->arena_len = 0;
}

size_t mg_strmap_count(const mg_strmap *m) {
    return m->count;
}

static size_t find(const mg_strmap *m, const void *key, size_t len, uint64_t h) {
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        const slot *s = &m->slots[i];
        if (s->val == EMPTY) return i;
        if (s->hash == h && s->key_len == len && (!len || !memcmp(m->arena + s->key_off, key, len)))
            return i;
        i = (i + 1) & mask;
    }
}

static void strmap_grow(mg_strmap *m) {
    slot *old = m->slots;
    size_t old_cap = m->cap;
    strmap_alloc(m, old_cap * 2);
    size_t mask = m->cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].val == EMPTY) continue;
        size_t j = (size_t)old[i].hash & mask;
        while (m->slots[j].val != EMPTY) j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    free(old);
}

void mg_strmap_put(mg_strmap *m, const void *key, size_t len, int32_t val) {
    if ((m->count + 1) * 2 > m->cap) strmap_grow(m);
    uint64_t h = mg_hash_bytes(key, len);
    size_t i = find(m, key, len, h);
    slot *s = &m->slots[i];
    if (s->val != EMPTY) {
        s->val = val;
        return;
    }
    if (m->arena_len + len + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 4096;
        while (cap < m->arena_len + len + 1) cap *= 2;
        m->arena = (char *)mg_realloc(m->arena, cap);
        m->arena_cap = cap;
    }
    if (len) memcpy(m->arena + m->arena_len, key, len);
    s->hash = h;
    s->key_off = m->arena_len;
    s->key_len = (uint32_t)len;
    s->val = val;
    m->arena_len += len;
    m->count++;
}

int32_t mg_strmap_get(const mg_strmap *m, const void *key, size_t len) {
    const slot *s = &m->slots[find(m, key, len, mg_hash_bytes(key, len))];
    return s->val == EMPTY ? -1 : s->val;
}

/* ---- uint64 -> uint64 ---- */

typedef struct kv {
    uint64_t key, val; // key and value side by side: one cache line per probe
} kv;

struct mg_u64map {
    kv *slots;
    size_t cap, count;
};

static void u64_alloc(mg_u64map *m, size_t cap) {
    m->slots = (kv *)mg_malloc_array(cap, sizeof(kv));
    for (size_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
    m->cap = cap;
}

mg_u64map *mg_u64map_new(size_t expected) {
    mg_u64map *m = (mg_u64map *)mg_calloc(1, sizeof *m);
    u64_alloc(m, table_size(expected));
    return m;
}

void mg_u64map_free(mg_u64map *m) {
    if (!m) return;
    free(m->slots);
    free(m);
}

size_t mg_u64map_count(const mg_u64map *m) {
    return m->count;
}

void mg_u64map_put(mg_u64map *m, uint64_t key, uint64_t val) {
    if ((m->count + 1) * 2 > m->cap) {
        kv *old = m->slots;
        size_t ocap = m->cap;
        u64_alloc(m, ocap * 2);
        size_t mask = m->cap - 1;
        for (size_t i = 0; i < ocap; i++) {
            if (old[i].key == UINT64_MAX) continue;
            size_t j = (size_t)mix64(old[i].key) & mask;
            while (m->slots[j].key != UINT64_MAX) j = (j + 1) & mask;
            m->slots[j] = old[i];
        }
        free(old);
    }
    size_t mask = m->cap - 1, i = (size_t)mix64(key) & mask;
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key) i = (i + 1) & mask;
    if (m->slots[i].key == UINT64_MAX) {
        m->slots[i].key = key;
        m->count++;
    }
    m->slots[i].val = val;
}

bool mg_u64map_get(const mg_u64map *m, uint64_t key, uint64_t *val) {
    size_t mask = m->cap - 1, i = (size_t)mix64(key) & mask;
    for (;;) {
        uint64_t k = m->slots[i].key;
        if (k == key) {
            *val = m->slots[i].val;
            return true;
        }
        if (k == UINT64_MAX) return false;
        i = (i + 1) & mask;
    }
}
