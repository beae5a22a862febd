/* half.h - exact bf16 / f16 <-> f32 conversion, scalar and array.
 *
 * Rounding is round-to-nearest-even; NaN stays NaN (quiet bit forced when
 * narrowing, payload truncated to its top bits), +-Inf stays Inf, f16
 * overflow (|x| >= 65520) goes to Inf, subnormals are exact in both
 * directions (no flush-to-zero). Widening: f16 -> f32 keeps the NaN payload
 * and forces the quiet bit, as IEEE 754 and F16C's vcvtph2ps do; bf16 -> f32
 * is the plain 16-bit shift (bits kept, as PyTorch does).
 * bf16 is stored as uint16_t (gcc 12 has no __bf16 in C). Array versions
 * dispatch to F16C / AVX2 / AVX-512 at run time (base/cpu.h); every path gives
 * the same bits as the scalar reference (*_ref), which the tests check.
 * Array pointers need no alignment at all (not even 2 bytes).
 * Thread-safe, no state. */
#ifndef MG_BASE_HALF_H
#define MG_BASE_HALF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float mg_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t mg_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float mg_f16_to_f32(uint16_t h);
uint16_t mg_f32_to_f16(float f);

/* Array conversions; src and dst must not overlap. n may be 0. */
void mg_bf16_to_f32_array(const uint16_t *src, float *dst, size_t n);
void mg_f32_to_bf16_array(const float *src, uint16_t *dst, size_t n);
void mg_f16_to_f32_array(const uint16_t *src, float *dst, size_t n);
void mg_f32_to_f16_array(const float *src, uint16_t *dst, size_t n);

/* Plain scalar loops: the reference the SIMD paths are tested against. */
void mg_bf16_to_f32_array_ref(const uint16_t *src, float *dst, size_t n);
void mg_f32_to_bf16_array_ref(const float *src, uint16_t *dst, size_t n);
void mg_f16_to_f32_array_ref(const uint16_t *src, float *dst, size_t n);
void mg_f32_to_f16_array_ref(const float *src, uint16_t *dst, size_t n);

/* True when x[0..n) holds a NaN or an Inf. One branch-free pass (an unsigned
 * max of the magnitude bits), dispatched like the conversions; merge runs it
 * on every input chunk right after widening it (merge/plan.h). */
bool mg_f32_any_nonfinite(const float *x, size_t n);
bool mg_f32_any_nonfinite_ref(const float *x, size_t n);

#endif // MG_BASE_HALF_H
