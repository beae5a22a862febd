/* gguf_quant.c - Q8_0 quantization. See gguf_quant.h. */
#include "io/gguf_quant.h"

#include <math.h>
#include <string.h>

#include "base/half.h"

void mg_q8_0_quantize(const float *x, uint8_t *dst, size_t n) {
    for (size_t b = 0; b < n / MG_Q8_0_BLOCK; b++, x += MG_Q8_0_BLOCK, dst += MG_Q8_0_BYTES) {
        float amax = 0.0f;
        for (int j = 0; j < MG_Q8_0_BLOCK; j++) {
            float a = fabsf(x[j]);
            if (a > amax) amax = a;
        }
        // d and id in float32 exactly as ggml: the scale used to round is the
        // unrounded d, only the stored copy is f16.
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = mg_f32_to_f16(d);
        dst[0] = (uint8_t)h;
        dst[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < MG_Q8_0_BLOCK; j++) {
            // Finite inputs give |q| <= 127; NaN/Inf (where ggml's cast is
            // undefined) become 0 / clamp instead.
            float q = roundf(x[j] * id);
            q = q != q ? 0.0f : q > 127.0f ? 127.0f : q < -128.0f ? -128.0f : q;
            dst[2 + j] = (uint8_t)(int8_t)q;
        }
    }
}

void mg_q8_0_dequantize(const uint8_t *src, float *y, size_t n) {
    for (size_t b = 0; b < n / MG_Q8_0_BLOCK; b++, y += MG_Q8_0_BLOCK, src += MG_Q8_0_BYTES) {
        const float d = mg_f16_to_f32((uint16_t)(src[0] | (src[1] << 8)));
        for (int j = 0; j < MG_Q8_0_BLOCK; j++)
            y[j] = d * (float)(int8_t)src[2 + j];
    }
}
