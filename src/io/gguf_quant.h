/* gguf_quant.h - ggml's Q8_0 block quantization (reference semantics).
 *
 * A Q8_0 block holds 32 values as {f16 d; int8 qs[32]} (34 bytes). As ggml's
 * quantize_row_q8_0_ref (and gguf-py's quants.py): amax = max |x| over the
 * block, d = amax / 127 in float32, id = d ? 1/d : 0, qs[j] = roundf(x[j] * id)
 * (round half away from zero), and d is stored rounded to f16. Dequantization
 * is x = f16_to_f32(d) * qs[j]. The error of each value is at most
 * d / 2 + |qs| * |d_f16 - d| (half a step of the f32 scale, up to the float
 * rounding of x * id, plus the scale's f16 rounding times |qs|), which can
 * exceed d_f16 / 2 by up to ~9%; the tests check it element by element.
 * Thread-safe, no state. */
#ifndef MG_IO_GGUF_QUANT_H
#define MG_IO_GGUF_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define MG_Q8_0_BLOCK 32
#define MG_Q8_0_BYTES 34

/* Quantizes x[n] (n a multiple of 32) into n/32 blocks at dst (34 bytes each,
 * no alignment needed). */
void mg_q8_0_quantize(const float *x, uint8_t *dst, size_t n);
/* Dequantizes n/32 blocks from src into y[n]. */
void mg_q8_0_dequantize(const uint8_t *src, float *y, size_t n);

#endif // MG_IO_GGUF_QUANT_H
