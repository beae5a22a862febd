/* textbuf.h - a growable byte buffer for the text layer (header-only).
 *
 * Holds bytes plus a terminating NUL that is not counted in len. Growth goes
 * through mg_realloc (OOM is fatal), so appends never fail. Ownership: the
 * struct owns p; mg_textbuf_free releases it. Not thread-safe. */
#ifndef MG_TEXT_TEXTBUF_H
#define MG_TEXT_TEXTBUF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct mg_textbuf {
    char *p;
    size_t len, cap;
} mg_textbuf;

static inline void mg_textbuf_reserve(mg_textbuf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) abort(); // unreachable: allocation would fail first
        cap *= 2;
    }
    b->p = (char *)mg_realloc(b->p, cap);
    b->cap = cap;
}

static inline void mg_textbuf_append(mg_textbuf *b, const void *s, size_t n) {
    mg_textbuf_reserve(b, n);
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void mg_textbuf_putc(mg_textbuf *b, char c) {
    mg_textbuf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static inline void mg_textbuf_clear(mg_textbuf *b) {
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

static inline void mg_textbuf_free(mg_textbuf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Transfers ownership of the (NUL-terminated) bytes to the caller. */
static inline char *mg_textbuf_take(mg_textbuf *b, size_t *len) {
    mg_textbuf_reserve(b, 0);
    char *p = b->p;
    if (len) *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

#endif // MG_TEXT_TEXTBUF_H
