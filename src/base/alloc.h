/* alloc.h - checked allocation and overflow-checked size arithmetic.
 *
 * Out-of-memory is the one fatal error in mergeguard: these wrappers print the
 * size and call site and abort, so callers never check for NULL. Size products
 * that come from file contents must go through mg_size_mul/mg_size_add, which
 * report overflow instead of wrapping. Thread-safe. */
#ifndef MG_BASE_ALLOC_H
#define MG_BASE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* All return owned memory, free with free() (mg_aligned_alloc too). Never NULL
 * (a zero size returns a valid unique pointer). */
#define mg_malloc(n) mg_malloc_at((n), __FILE__, __LINE__)
#define mg_calloc(n, sz) mg_calloc_at((n), (sz), __FILE__, __LINE__)
#define mg_realloc(p, n) mg_realloc_at((p), (n), __FILE__, __LINE__)
#define mg_strdup(s) mg_strdup_at((s), __FILE__, __LINE__)
#define mg_strndup(s, n) mg_strndup_at((s), (n), __FILE__, __LINE__)
/* 64-byte aligned (cache line, AVX-512 register), contents uninitialized. */
#define mg_aligned_alloc(n) mg_aligned_alloc_at((n), __FILE__, __LINE__)
/* n * size elements, aborting if the product overflows. */
#define mg_malloc_array(n, sz) mg_malloc_array_at((n), (sz), __FILE__, __LINE__)

void *mg_malloc_at(size_t n, const char *file, int line);
void *mg_calloc_at(size_t n, size_t size, const char *file, int line);
void *mg_realloc_at(void *p, size_t n, const char *file, int line);
char *mg_strdup_at(const char *s, const char *file, int line);
char *mg_strndup_at(const char *s, size_t n, const char *file, int line);
void *mg_aligned_alloc_at(size_t n, const char *file, int line);
void *mg_malloc_array_at(size_t n, size_t size, const char *file, int line);

/* *out = a * b (or a + b); returns false, leaving *out unspecified, on overflow. */
static inline bool mg_size_mul(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool mg_size_add(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

#endif // MG_BASE_ALLOC_H
