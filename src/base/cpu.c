/* cpu.c - see cpu.h. */
#include "base/cpu.h"

#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

static int g_level = -1;

/* CPUID leaf 1 ECX bit 29: clang before 16 rejects "f16c" in
 * __builtin_cpu_supports (the clang fuzz build compiles this file). */
static int has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

static mg_cpu_level detect(void) {
    __builtin_cpu_init();
    mg_cpu_level hw = MG_CPU_SCALAR;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
        hw = MG_CPU_AVX2;
    if (hw == MG_CPU_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        hw = MG_CPU_AVX512;
    return hw;
}

mg_cpu_level mg_cpu_level_get(void) {
    int lvl = __atomic_load_n(&g_level, __ATOMIC_RELAXED);
    if (lvl >= 0) return (mg_cpu_level)lvl;
    mg_cpu_level hw = detect();
    const char *cap = getenv("MG_CPU");
    if (cap) {
        if (!strcmp(cap, "scalar")) hw = MG_CPU_SCALAR;
        else if (!strcmp(cap, "avx2") && hw > MG_CPU_AVX2) hw = MG_CPU_AVX2;
    }
    __atomic_store_n(&g_level, (int)hw, __ATOMIC_RELAXED);
    return hw;
}

void mg_cpu_level_set(mg_cpu_level level) {
    mg_cpu_level hw = detect();
    __atomic_store_n(&g_level, (int)(level < hw ? level : hw), __ATOMIC_RELAXED);
}

const char *mg_cpu_level_name(mg_cpu_level level) {
    switch (level) {
    case MG_CPU_AVX2: return "avx2";
    case MG_CPU_AVX512: return "avx512";
    default: return "scalar";
    }
}
