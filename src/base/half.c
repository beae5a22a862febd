/* half.c - see half.h. The scalar code is the reference; SIMD variants below
 * are compiled with target attributes and picked by mg_cpu_level_get(). */
#include "base/half.h"

#include "base/cpu.h"

float mg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { // subnormal: normalize into an f32 normal
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13); // Inf or NaN, payload kept
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
    if (a > 0x7f800000u) // NaN: keep the top payload bits, force quiet
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
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    // Normal: rebias the exponent, round the 13 dropped mantissa bits to even.
    uint32_t r = a - 0x38000000u;
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

void mg_bf16_to_f32_array_ref(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = mg_bf16_to_f32(src[i]);
}

void mg_f32_to_bf16_array_ref(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = mg_f32_to_bf16(src[i]);
}

void mg_f16_to_f32_array_ref(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = mg_f16_to_f32(src[i]);
}

void mg_f32_to_f16_array_ref(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = mg_f32_to_f16(src[i]);
}

// SIMD paths are added by the base-numerics work; until then the reference is used.
void mg_bf16_to_f32_array(const uint16_t *src, float *dst, size_t n) {
    mg_bf16_to_f32_array_ref(src, dst, n);
}

void mg_f32_to_bf16_array(const float *src, uint16_t *dst, size_t n) {
    mg_f32_to_bf16_array_ref(src, dst, n);
}

void mg_f16_to_f32_array(const uint16_t *src, float *dst, size_t n) {
    mg_f16_to_f32_array_ref(src, dst, n);
}

void mg_f32_to_f16_array(const float *src, uint16_t *dst, size_t n) {
    mg_f32_to_f16_array_ref(src, dst, n);
}
