/* gguf.h - the GGUF v3 file format (llama.cpp / ggml): type codes, tensor
 * sizes, and a streaming writer.
 *
 * Layout (ggml docs/gguf.md, little-endian): "GGUF", uint32 version 3, uint64
 * tensor_count, uint64 kv_count; kv_count typed key/value pairs; tensor_count
 * tensor infos (name, n_dims, ne[] innermost dimension first, ggml type,
 * offset); zero padding to the alignment; the data section, where each tensor
 * starts at the running sum of the previous tensors' sizes padded to the
 * alignment (ggml's loader requires exactly that, in info order).
 *
 * Writer: metadata and every tensor info (name, type, shape) are declared up
 * front, so all offsets are known before the first data byte; the header is
 * written at mg_gguf_writer_begin, then each tensor's bytes in info order, one
 * tensor in memory at a time. The file is built as a temporary sibling and
 * renamed into place at commit (base/file.h atomic outputs): a failure or a
 * writer freed before commit leaves no partial file, and an existing output
 * is refused without force. Keys and names are validated as ggml's reader
 * does (unique keys, tensor names shorter than 64 bytes and unique, at most 4
 * dims, rows made of whole blocks).
 * Ownership: the writer copies every key, value and name it is given.
 * Thread-safety: a writer belongs to one thread. */
#ifndef MG_IO_GGUF_H
#define MG_IO_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define MG_GGUF_VERSION 3
#define MG_GGUF_ALIGNMENT 32 // ggml's default general.alignment
#define MG_GGUF_MAX_NAME 64  // GGML_MAX_NAME: tensor names must be shorter
#define MG_GGUF_MAX_DIMS 4
#define MG_GGUF_MAX_KEY 65535

/* Metadata value types (gguf_type). */
typedef enum mg_gguf_vtype {
    MG_GGUF_UINT8 = 0,
    MG_GGUF_INT8 = 1,
    MG_GGUF_UINT16 = 2,
    MG_GGUF_INT16 = 3,
    MG_GGUF_UINT32 = 4,
    MG_GGUF_INT32 = 5,
    MG_GGUF_FLOAT32 = 6,
    MG_GGUF_BOOL = 7,
    MG_GGUF_STRING = 8,
    MG_GGUF_ARRAY = 9,
    MG_GGUF_UINT64 = 10,
    MG_GGUF_INT64 = 11,
    MG_GGUF_FLOAT64 = 12,
    MG_GGUF_VTYPE_COUNT
} mg_gguf_vtype;

/* The ggml tensor types mergeguard writes (the reader knows the sizes of
 * more, see mg_ggml_type_block). */
typedef enum mg_ggml_type {
    MG_GGML_F32 = 0,
    MG_GGML_F16 = 1,
    MG_GGML_Q8_0 = 8,
    MG_GGML_BF16 = 30,
} mg_ggml_type;

/* llama_ftype values for general.file_type (llama.h). */
#define MG_GGUF_FTYPE_ALL_F32 0
#define MG_GGUF_FTYPE_MOSTLY_F16 1
#define MG_GGUF_FTYPE_MOSTLY_Q8_0 7
#define MG_GGUF_FTYPE_MOSTLY_BF16 32

/* "UINT32", "STRING", ...; "?" for unknown codes. Borrowed, static. */
const char *mg_gguf_vtype_name(uint32_t t);
/* Bytes of one scalar of type t (0 for STRING, ARRAY and unknown codes). */
size_t mg_gguf_vtype_size(uint32_t t);
/* "F32", "Q8_0", ...; NULL for a code whose size mergeguard does not know. */
const char *mg_ggml_type_name(uint32_t t);
/* Elements per block and bytes per block of type t; false when unknown. */
bool mg_ggml_type_block(uint32_t t, uint64_t *blck, uint64_t *bytes);
/* Bytes of a tensor of type t with dims ne[0..ndim) (innermost first).
 * MG_ERR_INVALID when ne[0] is not a whole number of blocks, the type is
 * unknown, or the size overflows; `what` names the tensor in the message. */
mg_status mg_ggml_nbytes(uint32_t t, int ndim, const uint64_t *ne, const char *what, uint64_t *out,
                         mg_error *err);

/* ---- writer ---- */

typedef struct mg_gguf_writer mg_gguf_writer;

/* New empty writer. Owned: mg_gguf_writer_free. */
mg_gguf_writer *mg_gguf_writer_new(void);
/* Frees w; an output started with begin and not committed is removed. NULL-safe. */
void mg_gguf_writer_free(mg_gguf_writer *w);

/* Metadata, written in the order added. Keys must be unique, 1..65535 bytes. */
mg_status mg_gguf_add_u32(mg_gguf_writer *w, const char *key, uint32_t v, mg_error *err);
mg_status mg_gguf_add_i32(mg_gguf_writer *w, const char *key, int32_t v, mg_error *err);
mg_status mg_gguf_add_u64(mg_gguf_writer *w, const char *key, uint64_t v, mg_error *err);
mg_status mg_gguf_add_f32(mg_gguf_writer *w, const char *key, float v, mg_error *err);
mg_status mg_gguf_add_bool(mg_gguf_writer *w, const char *key, bool v, mg_error *err);
mg_status mg_gguf_add_str(mg_gguf_writer *w, const char *key, const char *v, mg_error *err);
mg_status mg_gguf_add_arr_str(mg_gguf_writer *w, const char *key, const char *const *v, size_t n,
                              mg_error *err);
mg_status mg_gguf_add_arr_i32(mg_gguf_writer *w, const char *key, const int32_t *v, size_t n,
                              mg_error *err);
mg_status mg_gguf_add_arr_f32(mg_gguf_writer *w, const char *key, const float *v, size_t n,
                              mg_error *err);

/* Declares a tensor (ne innermost first, as ggml) before begin; data must
 * later come in declaration order. Returns its index in *index (may be NULL). */
mg_status mg_gguf_add_tensor(mg_gguf_writer *w, const char *name, mg_ggml_type type, int ndim,
                             const uint64_t *ne, size_t *index, mg_error *err);
size_t mg_gguf_writer_tensor_count(const mg_gguf_writer *w);
/* Bytes of declared tensor i. */
uint64_t mg_gguf_writer_tensor_nbytes(const mg_gguf_writer *w, size_t i);
/* Total bytes the file will have (known once every tensor is declared). */
uint64_t mg_gguf_writer_file_size(const mg_gguf_writer *w);

/* Opens the atomic output at path (MG_ERR_EXISTS unless force) and writes the
 * header, metadata, tensor infos and padding. No more keys or tensors after. */
mg_status mg_gguf_writer_begin(mg_gguf_writer *w, const char *path, bool force, mg_error *err);
/* Writes tensor i's nbytes (must equal its size) plus padding. i must be the
 * next tensor in declaration order. */
mg_status mg_gguf_writer_write(mg_gguf_writer *w, size_t i, const void *data, uint64_t nbytes,
                               mg_error *err);
/* Checks every tensor was written, flushes, fsyncs and renames the file into
 * place. The writer stays owned by the caller (free it afterwards). */
mg_status mg_gguf_writer_commit(mg_gguf_writer *w, mg_error *err);

#endif // MG_IO_GGUF_H
