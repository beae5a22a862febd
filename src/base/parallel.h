/* parallel.h - thread count and deterministic parallel reductions (OpenMP).
 *
 * One knob sets the threads of our OpenMP loops and of OpenBLAS (the OpenMP
 * build shares libgomp's pool, so they never oversubscribe). Reductions split
 * the range into fixed chunks whose boundaries depend only on n and the chunk
 * size, compute each chunk's partial in double, and add the partials in chunk
 * order: the result is bit-identical for any thread count. */
#ifndef MG_BASE_PARALLEL_H
#define MG_BASE_PARALLEL_H

#include <stddef.h>

/* Sets the thread count for OpenMP and OpenBLAS (n <= 0: all cores). */
void mg_set_threads(int n);
int mg_get_threads(void);

/* Partial result of a chunk [begin, end). */
typedef double (*mg_chunk_fn)(void *ctx, size_t begin, size_t end);

/* Sum over chunks of `chunk` elements (0 = default 16384), in chunk order. */
double mg_parallel_sum(size_t n, size_t chunk, mg_chunk_fn fn, void *ctx);

/* Deterministic sum and sum of squares of a float array (double accumulators). */
double mg_sum_f32(const float *x, size_t n);
double mg_sumsq_f32(const float *x, size_t n);

#endif // MG_BASE_PARALLEL_H
