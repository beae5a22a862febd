/* dtype.h - the tensor element types of safetensors (and GGUF's subset).
 * Thread-safe, no state. */
#ifndef MG_IO_DTYPE_H
#define MG_IO_DTYPE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum mg_dtype {
    MG_DTYPE_F64,
    MG_DTYPE_F32,
    MG_DTYPE_F16,
    MG_DTYPE_BF16,
    MG_DTYPE_I64,
    MG_DTYPE_I32,
    MG_DTYPE_I16,
    MG_DTYPE_I8,
    MG_DTYPE_U8,
    MG_DTYPE_BOOL,
    MG_DTYPE_F8_E4M3,
    MG_DTYPE_F8_E5M2,
    MG_DTYPE_COUNT
} mg_dtype;

/* Bytes per element. */
size_t mg_dtype_size(mg_dtype dt);
/* The safetensors spelling ("BF16"). Borrowed, static. */
const char *mg_dtype_name(mg_dtype dt);
/* Parses the safetensors spelling; false for unknown strings. */
bool mg_dtype_parse(const char *s, mg_dtype *out);
/* Parses a user/HF spelling: "bfloat16", "bf16", "float16", "fp16", "f16", "half",
 * "float32", "fp32", "f32", "float" (torch_dtype and mergekit dtype values). */
bool mg_dtype_parse_torch(const char *s, mg_dtype *out);
/* The torch_dtype spelling for config.json ("bfloat16"). Borrowed, static. */
const char *mg_dtype_torch_name(mg_dtype dt);
/* F32, F16, BF16 (and F64): types mergeguard can compute on. */
bool mg_dtype_is_float(mg_dtype dt);

#endif // MG_IO_DTYPE_H
