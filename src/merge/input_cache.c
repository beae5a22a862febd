/* input_cache.c - see input_cache.h. */
#include "merge/input_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct entry {
    char *key;
    uint64_t bytes;
    void *data;
} entry;

struct mg_input_cache {
    pthread_mutex_t mu;
    uint64_t cap, bytes, reserve;
    entry *e;
    size_t n, alloc;
};

mg_input_cache *mg_input_cache_new(uint64_t cap_bytes) {
    mg_input_cache *c = mg_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->cap = cap_bytes;
    return c;
}

void mg_input_cache_free(mg_input_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].key), free(c->e[i].data);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint64_t mg_input_cache_bytes(const mg_input_cache *c) {
    return c ? c->bytes : 0;
}

/* Linear search: a model has a few hundred tensors per input. */
static entry *find(mg_input_cache *c, const char *key, uint64_t bytes) {
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].bytes == bytes && !strcmp(c->e[i].key, key)) return &c->e[i];
    return NULL;
}

const void *mg_input_cache_get_blob(mg_input_cache *c, const char *key, uint64_t bytes) {
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, key, bytes);
    const void *r = e ? e->data : NULL;
    pthread_mutex_unlock(&c->mu);
    return r;
}

bool mg_input_cache_fits(mg_input_cache *c, uint64_t bytes) {
    pthread_mutex_lock(&c->mu);
    uint64_t cap = c->cap > c->reserve ? c->cap - c->reserve : 0;
    bool r = cap >= c->bytes && bytes <= cap - c->bytes;
    pthread_mutex_unlock(&c->mu);
    return r;
}

void mg_input_cache_reserve(mg_input_cache *c, uint64_t reserve) {
    pthread_mutex_lock(&c->mu);
    c->reserve = reserve;
    pthread_mutex_unlock(&c->mu);
}

const void *mg_input_cache_find_blob(mg_input_cache *c, const char *key, uint64_t *bytes) {
    pthread_mutex_lock(&c->mu);
    const void *r = NULL;
    for (size_t i = 0; i < c->n && !r; i++)
        if (!strcmp(c->e[i].key, key)) r = c->e[i].data, *bytes = c->e[i].bytes;
    pthread_mutex_unlock(&c->mu);
    return r;
}

static const void *put(mg_input_cache *c, const char *key, uint64_t b, void *data, uint64_t cap) {
    pthread_mutex_lock(&c->mu);
    const void *r = NULL;
    entry *e = find(c, key, b);
    if (e) {
        r = e->data; // another caller got there first; data stays the caller's
        pthread_mutex_unlock(&c->mu);
        return r == data ? r : NULL;
    }
    if (cap >= c->bytes && b <= cap - c->bytes) {
        if (c->n == c->alloc) {
            c->alloc = c->alloc ? 2 * c->alloc : 64;
            c->e = mg_realloc(c->e, c->alloc * sizeof *c->e);
        }
        c->e[c->n++] = (entry){mg_strdup(key), b, data};
        c->bytes += b;
        r = data;
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

const void *mg_input_cache_put_blob(mg_input_cache *c, const char *key, uint64_t b, void *data) {
    return put(c, key, b, data, c->cap);
}

const float *mg_input_cache_get(mg_input_cache *c, const char *key, uint64_t numel) {
    return mg_input_cache_get_blob(c, key, numel * sizeof(float));
}

const float *mg_input_cache_put(mg_input_cache *c, const char *key, uint64_t numel, float *data) {
    uint64_t cap = c->cap > c->reserve ? c->cap - c->reserve : 0;
    return put(c, key, numel * sizeof(float), data, cap);
}
