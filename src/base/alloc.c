/* alloc.c - see alloc.h. */
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t n, const char *file, int line) {
    fprintf(stderr, "mergeguard: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *mg_malloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n, file, line);
    return p;
}

void *mg_calloc_at(size_t n, size_t size, const char *file, int line) {
    if (n == 0 || size == 0) n = size = 1;
    void *p = calloc(n, size);
    if (!p) out_of_memory(n * size, file, line);
    return p;
}

void *mg_realloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n, file, line);
    return q;
}

char *mg_strdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = mg_malloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

char *mg_strndup_at(const char *s, size_t n, const char *file, int line) {
    char *p = mg_malloc_at(n + 1, file, line);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *mg_aligned_alloc_at(size_t n, const char *file, int line) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) out_of_memory(n, file, line);
    return p;
}

void *mg_malloc_array_at(size_t n, size_t size, const char *file, int line) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) out_of_memory(SIZE_MAX, file, line);
    return mg_malloc_at(total, file, line);
}
