/* convert.c - throughput of the bf16 / f16 <-> f32 array conversions.
 *
 * Usage: bench_convert [MELEMENTS]   (default 64, i.e. 64M elements)
 * For each conversion and each path the CPU has (scalar reference, AVX2+F16C,
 * AVX-512), prints the best of 5 single-threaded runs after a warm-up (pages
 * already touched) as elements/s and GB/s, counting bytes read + written
 * (6 bytes per element), and checks the paths give identical bits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/half.h"
#include "base/log.h"

typedef void (*widen_fn)(const uint16_t *, float *, size_t);
typedef void (*narrow_fn)(const float *, uint16_t *, size_t);

enum { REPS = 5 };

static double best_time(widen_fn w, narrow_fn nf, void *src, void *dst, size_t n) {
    double best = 1e30;
    for (int r = 0; r <= REPS; r++) { // r == 0 is the warm-up
        double t0 = mg_now_seconds();
        if (w)
            w(src, dst, n);
        else
            nf(src, dst, n);
        double t = mg_now_seconds() - t0;
        if (r > 0 && t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    size_t n = (size_t)(argc > 1 ? atof(argv[1]) : 64.0) * 1024 * 1024;
    if (n == 0) {
        fprintf(stderr, "usage: bench_convert [MELEMENTS]\n");
        return 2;
    }
    uint16_t *h = mg_malloc_array(n, sizeof *h), *h2 = mg_malloc_array(n, sizeof *h2);
    float *f = mg_malloc_array(n, sizeof *f), *f_ref = mg_malloc_array(n, sizeof *f_ref);
    uint16_t *h_ref = mg_malloc_array(n, sizeof *h_ref);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) { // normal-ish weights around +-0.05
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = (uint16_t)(0x2800u + ((s >> 33) % 0x1000u)) | (uint16_t)((s >> 63) << 15);
    }
    mg_cpu_level hw = mg_cpu_level_get();
    printf("bench_convert: %zu elements (%.0f MiB f32), 1 thread, best of %d, CPU level %s\n", n,
           (double)n * 4 / 1048576, REPS, mg_cpu_level_name(hw));
    printf("%-14s %-7s %9s %9s %8s\n", "conversion", "path", "Gelem/s", "GB/s", "vs ref");

    struct {
        const char *name;
        int widen;
        widen_fn w, w_ref;
        narrow_fn nf, nf_ref;
    } convs[] = {
        {"bf16->f32", 1, mg_bf16_to_f32_array, mg_bf16_to_f32_array_ref, NULL, NULL},
        {"f32->bf16", 0, NULL, NULL, mg_f32_to_bf16_array, mg_f32_to_bf16_array_ref},
        {"f16->f32", 1, mg_f16_to_f32_array, mg_f16_to_f32_array_ref, NULL, NULL},
        {"f32->f16", 0, NULL, NULL, mg_f32_to_f16_array, mg_f32_to_f16_array_ref},
    };
    int mismatch = 0;
    for (size_t c = 0; c < sizeof convs / sizeof convs[0]; c++) {
        // Sources: the bf16/f16 patterns, or f32 values from widening them
        // plus low mantissa noise so narrowing really rounds.
        void *src = h;
        if (!convs[c].widen) {
            for (size_t i = 0; i < n; i++) {
                uint32_t u = ((uint32_t)h[i] << 16) ^ (uint32_t)(i * 2654435761u >> 16);
                memcpy(&f_ref[i], &u, 4);
            }
            src = f_ref;
        }
        void *ref_out = convs[c].widen ? (void *)f : (void *)h_ref;
        void *out = convs[c].widen ? (void *)f : (void *)h2;
        double t_ref = best_time(convs[c].w_ref, convs[c].nf_ref, src, ref_out, n);
        float *f_copy = NULL;
        if (convs[c].widen) {
            f_copy = mg_malloc_array(n, sizeof *f_copy);
            memcpy(f_copy, f, n * sizeof *f);
        }
        printf("%-14s %-7s %9.3f %9.2f %8s\n", convs[c].name, "ref", (double)n / t_ref / 1e9,
               (double)n * 6 / t_ref / 1e9, "1.00x");
        for (int l = MG_CPU_SCALAR; l <= (int)hw; l++) {
            mg_cpu_level_set((mg_cpu_level)l);
            double t = best_time(convs[c].w, convs[c].nf, src, out, n);
            int same = convs[c].widen ? !memcmp(out, f_copy, n * 4) : !memcmp(out, h_ref, n * 2);
            mismatch += !same;
            char ratio[16];
            snprintf(ratio, sizeof ratio, "%.2fx", t_ref / t);
            printf("%-14s %-7s %9.3f %9.2f %8s%s\n", convs[c].name, mg_cpu_level_name(l),
                   (double)n / t / 1e9, (double)n * 6 / t / 1e9, ratio,
                   same ? "" : "  MISMATCH vs ref");
        }
        mg_cpu_level_set(hw);
        free(f_copy);
    }
    // Plain memcpy of the same traffic (read 4n + write 4n ~ bandwidth ceiling).
    double best = 1e30;
    for (int r = 0; r <= REPS; r++) {
        double t0 = mg_now_seconds();
        memcpy(f, f_ref, n * sizeof *f);
        double t = mg_now_seconds() - t0;
        if (r > 0 && t < best) best = t;
    }
    printf("%-14s %-7s %9s %9.2f   (bandwidth reference, 8 bytes/element)\n", "memcpy f32", "-",
           "-", (double)n * 8 / best / 1e9);
    free(h), free(h2), free(f), free(f_ref), free(h_ref);
    return mismatch ? 1 : 0;
}
