/* gguf_reader.h - read and validate a GGUF file (v2 or v3).
 *
 * The file is memory-mapped and validated completely before anything is
 * exposed: magic and version; tensor and key counts bounded by the file size;
 * every string length inside the file; keys unique; value types known, arrays
 * not nested, BOOL values 0 or 1; general.alignment (if present) a UINT32
 * power of two; tensor names shorter than 64 bytes and unique; 1..4 dims with
 * no overflowing size; a known ggml type with whole blocks per row; each
 * offset aligned, equal to the running padded sum ggml's loader requires, and
 * the data inside the file. Every violation is MG_ERR_INVALID naming the file,
 * the key or tensor, and what was expected.
 * Ownership: views (strings, values, tensor data) are borrowed from the
 * mapping and valid until mg_gguf_close. Thread-safety: an open file is
 * read-only; concurrent reads are safe. */
#ifndef MG_IO_GGUF_READER_H
#define MG_IO_GGUF_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "io/gguf.h"

/* A string inside the file: not NUL-terminated. */
typedef struct mg_gguf_str {
    const char *s;
    uint64_t len;
} mg_gguf_str;

typedef struct mg_gguf_kv {
    const char *key;     // NUL-terminated copy, owned by the file
    uint32_t type;       // mg_gguf_vtype
    uint32_t arr_type;   // element type when type == ARRAY
    uint64_t n;          // element count (1 for a scalar)
    const uint8_t *data; // scalar value or first array element (not for strings)
    mg_gguf_str *strs;   // n strings when the value (or element) type is STRING
} mg_gguf_kv;

typedef struct mg_gguf_tensor {
    const char *name; // NUL-terminated copy, owned by the file
    uint32_t type;    // ggml type code
    int ndim;
    uint64_t ne[MG_GGUF_MAX_DIMS]; // innermost first; unused dims are 1
    uint64_t numel, nbytes;
    uint64_t offset;  // relative to the data section
    const void *data; // borrowed view into the mapping
} mg_gguf_tensor;

typedef struct mg_gguf_file mg_gguf_file;

/* Maps and validates path. *out owned: mg_gguf_close. */
mg_status mg_gguf_open(const char *path, mg_gguf_file **out, mg_error *err);
void mg_gguf_close(mg_gguf_file *f); // NULL-safe

const char *mg_gguf_path(const mg_gguf_file *f);
uint32_t mg_gguf_version(const mg_gguf_file *f);
uint32_t mg_gguf_alignment(const mg_gguf_file *f);
uint64_t mg_gguf_data_offset(const mg_gguf_file *f);
uint64_t mg_gguf_file_size(const mg_gguf_file *f);

size_t mg_gguf_kv_count(const mg_gguf_file *f);
const mg_gguf_kv *mg_gguf_kv_at(const mg_gguf_file *f, size_t i);
const mg_gguf_kv *mg_gguf_find_kv(const mg_gguf_file *f, const char *key); // NULL when absent

size_t mg_gguf_tensor_count(const mg_gguf_file *f);
const mg_gguf_tensor *mg_gguf_tensor_at(const mg_gguf_file *f, size_t i);
const mg_gguf_tensor *mg_gguf_find_tensor(const mg_gguf_file *f, const char *name);

/* Typed lookups: MG_ERR_NOT_FOUND when absent, MG_ERR_INVALID on a type other
 * than the one named (no conversion, as llama.cpp's loader). */
mg_status mg_gguf_get_u32(const mg_gguf_file *f, const char *key, uint32_t *out, mg_error *err);
mg_status mg_gguf_get_i32(const mg_gguf_file *f, const char *key, int32_t *out, mg_error *err);
mg_status mg_gguf_get_f32(const mg_gguf_file *f, const char *key, float *out, mg_error *err);
mg_status mg_gguf_get_bool(const mg_gguf_file *f, const char *key, bool *out, mg_error *err);
mg_status mg_gguf_get_str(const mg_gguf_file *f, const char *key, mg_gguf_str *out, mg_error *err);
/* An array of the given element type; *kv borrowed. */
mg_status mg_gguf_get_arr(const mg_gguf_file *f, const char *key, uint32_t elem_type,
                          const mg_gguf_kv **kv, mg_error *err);

/* Element i of a numeric array kv (no bounds or type check: the caller
 * checked kv->arr_type and kv->n). */
int32_t mg_gguf_arr_i32(const mg_gguf_kv *kv, uint64_t i);
float mg_gguf_arr_f32(const mg_gguf_kv *kv, uint64_t i);
/* Compares a file string with a C string. */
bool mg_gguf_str_eq(mg_gguf_str s, const char *c);

/* Decodes an F32, F16, BF16 or Q8_0 tensor into dst[numel];
 * MG_ERR_UNSUPPORTED for other types. */
mg_status mg_gguf_tensor_to_f32(const mg_gguf_tensor *t, float *dst, mg_error *err);

#endif // MG_IO_GGUF_READER_H
