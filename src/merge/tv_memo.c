/* tv_memo.c - see tv_memo.h. */
#include "merge/tv_memo.h"

#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "merge/input_cache.h"
#include "merge/kernel.h"

#define EMPTY UINT32_MAX // |delta| bits never have the sign bit set

uint64_t mg_tv_memo_max = (uint64_t)1 << 20;
_Atomic uint64_t mg_tv_memo_builds;

/* Open-addressing counts of key bits (one per thread and model). */
typedef struct htab {
    uint32_t *key, *cnt;
    uint64_t cap, n;
    uint32_t last; // slot of the last key (runs of equal keys)
    bool over;     // more than mg_tv_memo_max distinct keys
} htab;

static void ht_init(htab *h, uint64_t cap) {
    h->key = mg_malloc_array(cap, sizeof(uint32_t));
    h->cnt = mg_malloc_array(cap, sizeof(uint32_t));
    memset(h->key, 0xff, cap * sizeof(uint32_t));
    h->cap = cap, h->n = 0, h->last = 0, h->over = false;
}

static inline uint64_t ht_slot(const htab *h, uint32_t k) {
    return ((uint64_t)k * 0x9E3779B97F4A7C15ull >> 20) & (h->cap - 1);
}

static void ht_grow(htab *h) {
    htab g;
    ht_init(&g, 2 * h->cap);
    for (uint64_t i = 0; i < h->cap; i++) {
        if (h->key[i] == EMPTY) continue;
        uint64_t s = ht_slot(&g, h->key[i]);
        while (g.key[s] != EMPTY)
            s = (s + 1) & (g.cap - 1);
        g.key[s] = h->key[i], g.cnt[s] = h->cnt[i];
    }
    g.n = h->n, g.over = h->over;
    free(h->key), free(h->cnt);
    *h = g;
}

static inline void ht_add(htab *h, uint32_t k) {
    if (h->key[h->last] == k) {
        h->cnt[h->last]++;
        return;
    }
    uint64_t s = ht_slot(h, k);
    while (h->key[s] != EMPTY && h->key[s] != k)
        s = (s + 1) & (h->cap - 1);
    if (h->key[s] == EMPTY) {
        if (h->n >= mg_tv_memo_max) {
            h->over = true;
            return;
        }
        h->key[s] = k, h->cnt[s] = 0, h->n++;
        if (2 * h->n > h->cap) {
            h->cnt[s] = 1;
            ht_grow(h);
            h->last = (uint32_t)ht_slot(h, k); // any slot: only a hint
            return;
        }
    }
    h->cnt[s]++;
    h->last = (uint32_t)s;
}

typedef struct build {
    size_t nb;           // models being built
    const size_t *model; // their input indices
    htab *t;             // [thread][nb]
} build;

static mg_status build_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch,
                            mg_error *err) {
    (void)err;
    build *b = user;
    const float *base = ch->x[c->base];
    for (size_t q = 0; q < b->nb; q++) {
        htab *h = &b->t[(size_t)ch->thread * b->nb + q];
        if (h->over) continue;
        const float *x = ch->x[b->model[q]];
        for (uint64_t e = 0; e < ch->count && !h->over; e++) {
            float d = fabsf(x[e] - base[e]); // as the magnitude key of gta.c
            uint32_t k;
            memcpy(&k, &d, 4);
            ht_add(h, k);
        }
    }
    return MG_OK;
}

/* Blob: n, total, then n key bits (descending) and n cumulative counts. */
typedef struct memo_head {
    uint64_t n, total;
} memo_head;

static uint64_t blob_bytes(uint64_t n) {
    return sizeof(memo_head) + (n * 4 + 7) / 8 * 8 + n * 8;
}

typedef struct kc {
    uint32_t key;
    uint64_t cnt;
} kc;

static int kc_desc(const void *a, const void *b) {
    uint32_t x = ((const kc *)a)->key, y = ((const kc *)b)->key;
    return x > y ? -1 : x < y;
}

/* The merged blob of model q from the threads' tables, or NULL when over. */
static void *merge_tables(const build *b, size_t q, int nth) {
    htab all;
    uint64_t cap = 1 << 16, sumn = 0;
    for (int t = 0; t < nth; t++) {
        const htab *h = &b->t[(size_t)t * b->nb + q];
        if (h->over) return NULL;
        sumn += h->n;
    }
    while (cap < 2 * sumn)
        cap *= 2;
    ht_init(&all, cap);
    uint64_t *sum = mg_calloc(cap, sizeof(uint64_t)), total = 0;
    for (int t = 0; t < nth && !all.over; t++) {
        const htab *h = &b->t[(size_t)t * b->nb + q];
        for (uint64_t i = 0; i < h->cap; i++) {
            if (h->key[i] == EMPTY) continue;
            uint64_t s = ht_slot(&all, h->key[i]);
            while (all.key[s] != EMPTY && all.key[s] != h->key[i])
                s = (s + 1) & (all.cap - 1);
            if (all.key[s] == EMPTY) {
                if (++all.n > mg_tv_memo_max) all.over = true;
                if (2 * all.n > all.cap) all.over = true; // cannot happen (cap sized above)
                all.key[s] = h->key[i];
            }
            sum[s] += h->cnt[i];
            total += h->cnt[i];
        }
    }
    void *blob = NULL;
    if (!all.over) {
        kc *v = mg_malloc_array(all.n + 1, sizeof(kc));
        uint64_t n = 0;
        for (uint64_t i = 0; i < all.cap; i++)
            if (all.key[i] != EMPTY) v[n++] = (kc){all.key[i], sum[i]};
        qsort(v, n, sizeof(kc), kc_desc);
        blob = mg_malloc(blob_bytes(n));
        memo_head *hd = blob;
        hd->n = n, hd->total = total;
        uint32_t *keys = (uint32_t *)(hd + 1);
        uint64_t *cum = (uint64_t *)(void *)((uint8_t *)keys + (n * 4 + 7) / 8 * 8), acc = 0;
        for (uint64_t i = 0; i < n; i++) {
            acc += v[i].cnt;
            keys[i] = v[i].key, cum[i] = acc;
        }
        free(v);
    }
    free(all.key), free(all.cnt), free(sum);
    return blob;
}

static char *memo_key(const mg_kernel_ctx *c, size_t m) {
    size_t len = strlen(c->ids[m]) + strlen(c->ids[c->base]) + 16;
    char *key = mg_malloc(len);
    snprintf(key, len, "tvmemo|%s|%s", c->ids[m], c->ids[c->base]);
    return key;
}

/* Looks up model m's blob: NULL when absent; *none when marked unusable. */
static const memo_head *lookup(const mg_kernel_ctx *c, size_t m, bool *none) {
    char *key = memo_key(c, m);
    uint64_t bytes = 0;
    const void *d = mg_input_cache_find_blob(c->memo, key, &bytes);
    free(key);
    *none = d && bytes < sizeof(memo_head);
    return d && !*none ? d : NULL;
}

static mg_status build_missing(const mg_kernel_ctx *c, size_t nm, const size_t *models,
                               mg_error *err) {
    int nth = omp_in_parallel() ? 1 : omp_get_max_threads();
    build b = {nm, models, mg_calloc((size_t)nth * nm, sizeof(htab))};
    for (size_t i = 0; i < (size_t)nth * nm; i++)
        ht_init(&b.t[i], 1 << 12);
    bool *load = mg_calloc(c->n, sizeof(bool));
    load[c->base] = true;
    for (size_t q = 0; q < nm; q++)
        load[models[q]] = true;
    mg_kpass_opts o = {.load = load};
    mg_status st = mg_kpass(c, &o, build_pass, &b, err);
    for (size_t q = 0; q < nm && !st; q++) {
        void *blob = merge_tables(&b, q, nth);
        char *key = memo_key(c, models[q]);
        if (!blob) {
            // Too many distinct values: mark, so later merges do not try again.
            uint8_t *none = mg_malloc(1);
            if (!mg_input_cache_put_blob(c->memo, key, 1, none)) free(none);
        } else {
            const memo_head *hd = blob;
            mg_tv_memo_builds++;
            if (!mg_input_cache_put_blob(c->memo, key, blob_bytes(hd->n), blob)) free(blob);
        }
        free(key);
    }
    for (size_t i = 0; i < (size_t)nth * nm; i++)
        free(b.t[i].key), free(b.t[i].cnt);
    free(b.t);
    free(load);
    return st;
}

mg_status mg_tv_memo_rules(const mg_kernel_ctx *c, size_t nsel, const size_t *model,
                           const uint64_t *k, mg_tv_rule *out, bool *ok, mg_error *err) {
    for (size_t j = 0; j < nsel; j++)
        ok[j] = false;
    if (!c->memo || !c->ids || c->base < 0 || !c->ids[c->base] || c->numel >> 32) return MG_OK;
    // Models whose memo is missing (not marked unusable) are built together.
    size_t *miss = mg_calloc(nsel + 1, sizeof(size_t)), nm = 0;
    for (size_t j = 0; j < nsel; j++) {
        size_t m = model[j];
        bool none, dup = false;
        if (!c->ids[m] || lookup(c, m, &none) || none) continue;
        for (size_t q = 0; q < nm; q++)
            dup |= miss[q] == m;
        if (!dup) miss[nm++] = m;
    }
    mg_status st = nm ? build_missing(c, nm, miss, err) : MG_OK;
    free(miss);
    for (size_t j = 0; j < nsel && !st; j++) {
        bool none;
        const memo_head *hd = c->ids[model[j]] ? lookup(c, model[j], &none) : NULL;
        if (!hd || hd->total != c->numel || k[j] == 0 || k[j] > c->numel) continue;
        const uint32_t *keys = (const uint32_t *)(hd + 1);
        const uint64_t *cum =
            (const uint64_t *)(const void *)((const uint8_t *)keys + (hd->n * 4 + 7) / 8 * 8);
        // First distinct value whose cumulative count reaches k.
        uint64_t lo = 0, hi = hd->n - 1;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (cum[mid] >= k[j])
                hi = mid;
            else
                lo = mid + 1;
        }
        uint64_t above = lo ? cum[lo - 1] : 0;
        out[j] = (mg_tv_rule){keys[lo], above, cum[lo] - above};
        ok[j] = true;
    }
    return st;
}
