/* cpu.h - run-time CPU feature detection for kernel dispatch.
 *
 * The build baseline is x86-64-v2; AVX2/F16C/FMA and AVX-512 kernels are
 * compiled with per-function target attributes and chosen here. Setting the
 * environment variable MG_CPU=scalar|avx2|avx512 caps the level (tests use it
 * to compare paths). Thread-safe (detection runs once, results are cached). */
#ifndef MG_BASE_CPU_H
#define MG_BASE_CPU_H

typedef enum mg_cpu_level {
    MG_CPU_SCALAR = 0,
    MG_CPU_AVX2 = 1,   // AVX2 + FMA + F16C
    MG_CPU_AVX512 = 2, // AVX-512 F + BW + VL
} mg_cpu_level;

/* Highest level both the CPU and the MG_CPU cap allow. */
mg_cpu_level mg_cpu_level_get(void);
/* Overrides the level for this process (tests); clamps to what the CPU has. */
void mg_cpu_level_set(mg_cpu_level level);
const char *mg_cpu_level_name(mg_cpu_level level);

#endif // MG_BASE_CPU_H
