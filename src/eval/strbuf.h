/* strbuf.h - a growable string for the report renderers (internal to eval/).
 * Ownership: sb.s is owned by whoever takes it (free()). Not thread-safe. */
#ifndef MG_EVAL_STRBUF_H
#define MG_EVAL_STRBUF_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"

typedef struct mg_sb {
    char *s;
    size_t len, cap;
} mg_sb;

static inline void mg_sb_addn(mg_sb *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = mg_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static inline void mg_sb_add(mg_sb *b, const char *s) {
    mg_sb_addn(b, s, strlen(s));
}

static inline __attribute__((format(printf, 2, 3))) void mg_sb_printf(mg_sb *b, const char *fmt,
                                                                      ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->s = mg_realloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The string so far, never NULL. Owned by the caller. */
static inline char *mg_sb_take(mg_sb *b) {
    if (!b->s) mg_sb_addn(b, "", 0);
    char *s = b->s;
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

#endif // MG_EVAL_STRBUF_H
