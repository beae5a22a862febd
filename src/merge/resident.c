/* resident.c - see resident.h. */
#include "merge/resident.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"

#define GRAN ((uint64_t)64 << 10)

struct mg_resident {
    uint64_t budget;
    atomic_flag busy;
    uint8_t *mem;           // arena
    uint64_t cap;           // its bytes
    _Atomic uint8_t *ready; // per granule of the arena
    uint64_t ready_cap;
    size_t n;
    uint64_t *off, *len; // per input: place in the arena, bytes kept (0: not kept)
    size_t in_cap;
};

mg_resident *mg_resident_new(uint64_t budget) {
    mg_resident *r = mg_calloc(1, sizeof *r);
    r->budget = budget;
    atomic_flag_clear(&r->busy);
    return r;
}

void mg_resident_free(mg_resident *r) {
    if (!r) return;
    free(r->mem);
    free((void *)r->ready);
    free(r->off);
    free(r->len);
    free(r);
}

bool mg_resident_begin(mg_resident *r, size_t n, const uint64_t *nbytes) {
    if (!r || !r->budget || atomic_flag_test_and_set(&r->busy)) return false;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (nbytes[i] + GRAN - 1) / GRAN * GRAN;
    if (total == 0 || total > r->budget) {
        atomic_flag_clear(&r->busy);
        return false;
    }
    if (total > r->cap) {
        free(r->mem);
        r->mem = mg_aligned_alloc(total);
        r->cap = total;
    }
    uint64_t ng = total / GRAN;
    if (ng > r->ready_cap) {
        free((void *)r->ready);
        r->ready = mg_malloc(ng);
        r->ready_cap = ng;
    }
    for (uint64_t g = 0; g < ng; g++)
        atomic_store_explicit(&r->ready[g], 0, memory_order_relaxed);
    if (n > r->in_cap) {
        free(r->off), free(r->len);
        r->off = mg_malloc_array(n, sizeof(uint64_t));
        r->len = mg_malloc_array(n, sizeof(uint64_t));
        r->in_cap = n;
    }
    r->n = n;
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        r->off[i] = pos, r->len[i] = nbytes[i];
        pos += (nbytes[i] + GRAN - 1) / GRAN * GRAN;
    }
    return true;
}

void mg_resident_end(mg_resident *r) {
    if (r) atomic_flag_clear(&r->busy);
}

const uint8_t *mg_resident_all(mg_resident *r, size_t i) {
    if (i >= r->n || !r->len[i]) return NULL;
    _Atomic uint8_t *rd = r->ready + r->off[i] / GRAN;
    for (uint64_t g = 0; g < (r->len[i] + GRAN - 1) / GRAN; g++)
        if (!atomic_load_explicit(&rd[g], memory_order_acquire)) return NULL;
    return r->mem + r->off[i];
}

const uint8_t *mg_resident_fetch(mg_resident *r, size_t i, int fd, uint64_t file_off,
                                 uint64_t begin, uint64_t len, mg_status *st) {
    *st = MG_OK;
    if (i >= r->n || !r->len[i] || begin + len > r->len[i] || len == 0) return NULL;
    uint64_t end = begin + len, g0 = begin / GRAN, g1 = (end + GRAN - 1) / GRAN;
    _Atomic uint8_t *rd = r->ready + r->off[i] / GRAN;
    uint8_t *base = r->mem + r->off[i];
    bool all = true;
    for (uint64_t g = g0; g < g1 && all; g++)
        all = atomic_load_explicit(&rd[g], memory_order_acquire);
    if (all) return base + begin;
    // Load only whole granules (the input's last one may be short), so two
    // threads never write the same bytes.
    if (begin % GRAN || (end % GRAN && end != r->len[i])) return NULL;
    for (uint64_t g = g0; g < g1;) {
        if (atomic_load_explicit(&rd[g], memory_order_acquire)) {
            g++;
            continue;
        }
        uint64_t h = g;
        while (h < g1 && !atomic_load_explicit(&rd[h], memory_order_acquire))
            h++;
        uint64_t b = g * GRAN, e = h * GRAN < r->len[i] ? h * GRAN : r->len[i];
        for (uint64_t got = 0; got < e - b;) {
            ssize_t k = pread(fd, base + b + got, e - b - got, (off_t)(file_off + b + got));
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                // Ending early: the file shrank after validation (the caller
                // names it), as a pread of the caller's own would report.
                *st = k == 0 ? MG_ERR_INVALID : MG_ERR_IO;
                return NULL;
            }
            got += (uint64_t)k;
        }
        for (uint64_t q = g; q < h; q++)
            atomic_store_explicit(&rd[q], 1, memory_order_release);
        g = h;
    }
    return base + begin;
}
