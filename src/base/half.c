/* half.c - see half.h. The scalar code is the reference; SIMD variants below
 * are compiled with target attributes (the build baseline is x86-64-v2) and
 * picked per call by mg_cpu_level_get().
 *
 * Unaligned data: safetensors places tensors at arbitrary byte offsets (a
 * tensor after an odd-sized U8/BOOL tensor starts at an odd address), so every
 * path reads and writes elements through memcpy / unaligned vector loads and
 * never assumes even 2-byte alignment. */
#include "base/half.h"

#include <immintrin.h>

#include "base/cpu.h"

float mg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { // subnormal (man * 2^-24): normalize into an f32 normal
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        // Inf, or NaN with its payload kept and the quiet bit forced: IEEE 754
        // turns a signaling NaN into a quiet one on conversion, and F16C's
        // vcvtph2ps does exactly that (0x7c01 -> 0x7fc02000), so the SIMD paths
        // need no NaN fix-up.
        u = sign | 0x7f800000u | (man << 13);
        if (man) u |= 0x00400000u;
    } else {
        u = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t mg_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) // NaN: keep the top payload bits, force quiet (as vcvtps2ph)
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) // >= 65520 rounds to Inf (max f16 is 65504)
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { // below the smallest f16 normal (2^-14): subnormal or zero
        if (a < 0x33000000u) return sign; // < 2^-25 rounds to zero (2^-25 ties to even = 0)
        uint32_t e = a >> 23;
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; // 14..24: f16 subnormal unit is 2^-24
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) r++; // a carry into 0x400 is the min normal
        return (uint16_t)(sign | r);
    }
    // Normal: rebias the exponent, round the 13 dropped mantissa bits to even.
    uint32_t r = a - 0x38000000u;
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

// Element access that tolerates any byte alignment (see the top comment).
static inline uint16_t ld16(const uint16_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline void st16(uint16_t *p, uint16_t v) {
    memcpy(p, &v, 2);
}
static inline float ld32(const float *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
static inline void st32(float *p, float v) {
    memcpy(p, &v, 4);
}

void mg_bf16_to_f32_array_ref(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        st32(dst + i, mg_bf16_to_f32(ld16(src + i)));
}

void mg_f32_to_bf16_array_ref(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        st16(dst + i, mg_f32_to_bf16(ld32(src + i)));
}

void mg_f16_to_f32_array_ref(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        st32(dst + i, mg_f16_to_f32(ld16(src + i)));
}

void mg_f32_to_f16_array_ref(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++)
        st16(dst + i, mg_f32_to_f16(ld32(src + i)));
}

/* ---- AVX2 + F16C: 16 elements per step, scalar reference for the tail ---- */

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static void bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(h));
        __m256i hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_slli_epi32(lo, 16));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 8), _mm256_slli_epi32(hi, 16));
    }
    mg_bf16_to_f32_array_ref(src + i, dst + i, n - i);
}

// mg_f32_to_bf16 on 8 lanes, result in the low 16 bits of each 32-bit lane.
AVX2 static inline __m256i f32_to_bf16_8(__m256i u) {
    const __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    const __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000)); // abs >= 0
    __m256i hi = _mm256_srli_epi32(u, 16);
    __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
    r = _mm256_srli_epi32(r, 16);
    __m256i q = _mm256_or_si256(hi, _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(r, q, nan);
}

AVX2 static void f32_to_bf16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = f32_to_bf16_8(_mm256_loadu_si256((const __m256i *)(const void *)(src + i)));
        __m256i b = f32_to_bf16_8(_mm256_loadu_si256((const __m256i *)(const void *)(src + i + 8)));
        // packus works per 128-bit lane (a0-3 b0-3 a4-7 b4-7); values fit in
        // 0..0xffff so the unsigned saturation never triggers. Reorder lanes.
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), p);
    }
    mg_f32_to_bf16_array_ref(src + i, dst + i, n - i);
}

AVX2 static void f16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 8));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(a));
        _mm256_storeu_ps(dst + i + 8, _mm256_cvtph_ps(b));
    }
    mg_f16_to_f32_array_ref(src + i, dst + i, n - i);
}

AVX2 static void f32_to_f16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        // Rounding comes from the immediate (nearest-even), not MXCSR. FTZ does
        // not flush f16 subnormal results (checked on this hardware), and f32
        // subnormal inputs round to +-0 anyway, so MXCSR state cannot matter.
        __m128i a = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        __m128i b = _mm256_cvtps_ph(_mm256_loadu_ps(src + i + 8), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), a);
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 8), b);
    }
    mg_f32_to_f16_array_ref(src + i, dst + i, n - i);
}

/* ---- AVX-512 F/BW/VL: 16 elements per step, masked tail ---- */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

static inline __mmask16 tail_mask(size_t r) {
    return (__mmask16)((1u << r) - 1u); // r <= 16
}

AVX512 static void bf16_to_f32_avx512(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm256_maskz_loadu_epi16(m, src + i);
        _mm512_mask_storeu_epi32(dst + i, m, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
}

// mg_f32_to_bf16 on 16 lanes, result in the low 16 bits of each 32-bit lane.
AVX512 static inline __m512i f32_to_bf16_lanes(__m512i u) {
    __m512i abs = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
    __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    r = _mm512_srli_epi32(r, 16);
    return _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
}

// 32 rounded lanes packed to 16 bits. packus works per 128-bit lane (values
// fit in 0..0xffff, so it never saturates); the qword permute restores the
// order. Measured faster than two vpmovdw stores on Zen 4.
AVX512 static inline __m512i pack_32(__m512i a, __m512i b) {
    const __m512i order = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
    return _mm512_permutexvar_epi64(order, _mm512_packus_epi32(a, b));
}

AVX512 static void f32_to_bf16_masked(const float *src, uint16_t *dst, size_t k) {
    __mmask16 m = tail_mask(k);
    __m256i r = _mm512_cvtepi32_epi16(f32_to_bf16_lanes(_mm512_maskz_loadu_epi32(m, src)));
    _mm256_mask_storeu_epi16(dst, m, r);
}

AVX512 static void f32_to_bf16_avx512(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    // gcc folds the source into three memory operands per vector; when they
    // split cache lines that costs ~30% (24 vs 35 GB/s measured), so first
    // convert a short masked head to make src 64-byte aligned.
    uintptr_t mis = (uintptr_t)src & 63;
    if (mis && !(mis & 3)) {
        i = (64 - mis) / 4;
        if (i > n) i = n;
        f32_to_bf16_masked(src, dst, i);
    }
    for (; i + 32 <= n; i += 32) {
        __m512i a = f32_to_bf16_lanes(_mm512_loadu_si512(src + i));
        __m512i b = f32_to_bf16_lanes(_mm512_loadu_si512(src + i + 16));
        _mm512_storeu_si512(dst + i, pack_32(a, b));
    }
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm512_cvtepi32_epi16(f32_to_bf16_lanes(_mm512_loadu_si512(src + i))));
    if (i < n) f32_to_bf16_masked(src + i, dst + i, n - i);
}

AVX512 static void f16_to_f32_avx512(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(
            dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(src + i))));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

AVX512 static void f32_to_f16_avx512(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

/* ---- dispatch ---- */

void mg_bf16_to_f32_array(const uint16_t *src, float *dst, size_t n) {
    switch (mg_cpu_level_get()) {
    case MG_CPU_AVX512:
        bf16_to_f32_avx512(src, dst, n);
        break;
    case MG_CPU_AVX2:
        bf16_to_f32_avx2(src, dst, n);
        break;
    default:
        mg_bf16_to_f32_array_ref(src, dst, n);
    }
}

void mg_f32_to_bf16_array(const float *src, uint16_t *dst, size_t n) {
    switch (mg_cpu_level_get()) {
    case MG_CPU_AVX512:
        f32_to_bf16_avx512(src, dst, n);
        break;
    case MG_CPU_AVX2:
        f32_to_bf16_avx2(src, dst, n);
        break;
    default:
        mg_f32_to_bf16_array_ref(src, dst, n);
    }
}

void mg_f16_to_f32_array(const uint16_t *src, float *dst, size_t n) {
    switch (mg_cpu_level_get()) {
    case MG_CPU_AVX512:
        f16_to_f32_avx512(src, dst, n);
        break;
    case MG_CPU_AVX2:
        f16_to_f32_avx2(src, dst, n);
        break;
    default:
        mg_f16_to_f32_array_ref(src, dst, n);
    }
}

void mg_f32_to_f16_array(const float *src, uint16_t *dst, size_t n) {
    switch (mg_cpu_level_get()) {
    case MG_CPU_AVX512:
        f32_to_f16_avx512(src, dst, n);
        break;
    case MG_CPU_AVX2:
        f32_to_f16_avx2(src, dst, n);
        break;
    default:
        mg_f32_to_f16_array_ref(src, dst, n);
    }
}

/* ---- non-finite scan ---- */

/* |x| as bits is >= 0x7f800000 exactly for Inf and NaN; the max over a chunk
 * needs no branch and vectorizes (pmaxud / vpmaxud) in each variant below. */
#define NONFINITE_BODY                                                                             \
    uint32_t mx = 0;                                                                               \
    for (size_t i = 0; i < n; i++) {                                                               \
        uint32_t u;                                                                                \
        memcpy(&u, x + i, 4);                                                                      \
        u &= 0x7fffffffu;                                                                          \
        mx = u > mx ? u : mx;                                                                      \
    }                                                                                              \
    return mx >= 0x7f800000u;

bool mg_f32_any_nonfinite_ref(const float *x, size_t n) {
    NONFINITE_BODY
}

AVX2 static bool any_nonfinite_avx2(const float *x, size_t n) {
    NONFINITE_BODY
}

AVX512 static bool any_nonfinite_avx512(const float *x, size_t n) {
    NONFINITE_BODY
}

bool mg_f32_any_nonfinite(const float *x, size_t n) {
    switch (mg_cpu_level_get()) {
    case MG_CPU_AVX512:
        return any_nonfinite_avx512(x, n);
    case MG_CPU_AVX2:
        return any_nonfinite_avx2(x, n);
    default:
        return mg_f32_any_nonfinite_ref(x, n);
    }
}
