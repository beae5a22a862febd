/* parallel.c - see parallel.h. */
#include "base/parallel.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "base/alloc.h"

void mg_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int mg_get_threads(void) {
    return omp_get_max_threads();
}

double mg_parallel_sum(size_t n, size_t chunk, mg_chunk_fn fn, void *ctx) {
    if (n == 0) return 0.0;
    if (chunk == 0) chunk = 16384;
    size_t nchunks = (n + chunk - 1) / chunk;
    double stack[64];
    double *partial = nchunks <= 64 ? stack : mg_malloc_array(nchunks, sizeof *partial);
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (size_t c = 0; c < nchunks; c++) {
        size_t b = c * chunk, e = b + chunk < n ? b + chunk : n;
        partial[c] = fn(ctx, b, e);
    }
    double s = 0.0;
    for (size_t c = 0; c < nchunks; c++) s += partial[c];
    if (partial != stack) free(partial);
    return s;
}

static double chunk_sum(void *ctx, size_t b, size_t e) {
    const float *x = ctx;
    double s = 0.0;
    for (size_t i = b; i < e; i++) s += x[i];
    return s;
}

static double chunk_sumsq(void *ctx, size_t b, size_t e) {
    const float *x = ctx;
    double s = 0.0;
    for (size_t i = b; i < e; i++) s += (double)x[i] * x[i];
    return s;
}

double mg_sum_f32(const float *x, size_t n) {
    return mg_parallel_sum(n, 0, chunk_sum, (void *)x);
}

double mg_sumsq_f32(const float *x, size_t n) {
    return mg_parallel_sum(n, 0, chunk_sumsq, (void *)x);
}
