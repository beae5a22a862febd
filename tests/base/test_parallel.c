/* test_parallel.c - thread count knob and deterministic reductions.
 *
 * mg_parallel_sum / mg_sum_f32 / mg_sumsq_f32 must give the same bits with
 * 1, 2 and 7 threads on large arrays whose values span many magnitudes (so a
 * different summation order would change the last bits), and agree with a
 * long double sum to double precision. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/parallel.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define N_BIG ((size_t)(1u << 22) + 12345)
#else
#define N_BIG ((size_t)(1u << 24) + 12345)
#endif

static uint64_t rng_state = 99;

static uint64_t next64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float *big_array(size_t n) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next64();
        double m = (double)(r >> 11) / 9007199254740992.0 - 0.3; // mostly positive
        x[i] = (float)ldexp(m, (int)(r & 31) - 10);              // magnitudes 2^-10 .. 2^21
    }
    return x;
}

static int same_bits(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

// Custom chunk function: a weighted sum, to exercise mg_parallel_sum itself.
static double weighted(void *ctx, size_t b, size_t e) {
    const float *x = ctx;
    double s = 0;
    for (size_t i = b; i < e; i++)
        s += x[i] * (double)(i % 7 + 1) / 3.0;
    return s;
}

static void test_threads_knob(void) {
    mg_set_threads(3);
    CHECK_EQ_INT(mg_get_threads(), 3);
    mg_set_threads(0);
    CHECK_EQ_INT(mg_get_threads(), omp_get_num_procs());
}

static void test_bit_identical(void) {
    size_t n = N_BIG;
    float *x = big_array(n);
    const int threads[] = {1, 2, 7};
    double sum[3], sumsq[3], w[3], w_chunk[3];
    for (int t = 0; t < 3; t++) {
        omp_set_num_threads(threads[t]);
        sum[t] = mg_sum_f32(x, n);
        sumsq[t] = mg_sumsq_f32(x, n);
        w[t] = mg_parallel_sum(n, 0, weighted, x);
        w_chunk[t] = mg_parallel_sum(n, 1000, weighted, x); // many chunks, odd size
    }
    for (int t = 1; t < 3; t++) {
        CHECK_MSG(same_bits(sum[t], sum[0]), "sum %d threads %.17g vs %.17g", threads[t], sum[t],
                  sum[0]);
        CHECK(same_bits(sumsq[t], sumsq[0]));
        CHECK(same_bits(w[t], w[0]));
        CHECK(same_bits(w_chunk[t], w_chunk[0]));
    }

    long double ls = 0, lsq = 0, lw = 0;
    double abs_sum = 0;
    for (size_t i = 0; i < n; i++) {
        ls += x[i];
        lsq += (long double)x[i] * x[i];
        lw += x[i] * (long double)(i % 7 + 1) / 3.0L;
        abs_sum += fabs(x[i]);
    }
    // Worst-case error of the double sums: ~ (chunk length + chunk count) *
    // 2^-53 * sum|x| = 1.8e-12 * sum|x| (a float accumulator would be ~1e-3).
    double tol = 2e-12 * abs_sum;
    CHECK_NEAR(sum[0], (double)ls, tol);
    CHECK_NEAR(sumsq[0], (double)lsq, 2e-12 * (double)lsq);
    CHECK_NEAR(w[0], (double)lw, tol);
    CHECK_NEAR(w_chunk[0], (double)lw, tol);
    mg_set_threads(0);
    free(x);
}

static void test_small_and_empty(void) {
    float x[5] = {1, 2, 3, 4, 5.5f};
    CHECK(mg_sum_f32(x, 0) == 0.0);
    CHECK(mg_sum_f32(x, 5) == 15.5);
    CHECK(mg_sumsq_f32(x, 3) == 14.0);
    CHECK_NEAR(mg_parallel_sum(5, 2, weighted, x), mg_parallel_sum(5, 0, weighted, x), 1e-12);
    // More than 64 chunks takes the heap path for the partials.
    float *ones = malloc(100000 * sizeof *ones);
    for (int i = 0; i < 100000; i++)
        ones[i] = 1.0f;
    CHECK(mg_parallel_sum(100000, 7, weighted, ones) > 0);
    CHECK(mg_sum_f32(ones, 100000) == 100000.0);
    free(ones);
}

int main(void) {
    RUN(test_threads_knob);
    RUN(test_bit_identical);
    RUN(test_small_and_empty);
    return TEST_END();
}
