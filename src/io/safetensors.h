/* safetensors.h - read and write Hugging Face safetensors files.
 *
 * Reader: maps the file read-only and validates the whole header before any
 * tensor is exposed (8-byte little-endian length capped at 100 MiB, UTF-8
 * JSON without duplicate keys, __metadata__ a string->string map, known dtypes,
 * shapes whose element count cannot overflow, data_offsets that tile the data
 * section exactly: in bounds, no overlaps, no holes, end - begin == numel *
 * size). Every violation is MG_ERR_INVALID with "FILE: tensor 'NAME': rule".
 * Tensors are exposed as borrowed views into the mapping.
 *
 * Writer: the full list of tensors (name, dtype, shape) is declared up front,
 * so shard boundaries and every header are known before any data is written;
 * data is then written per tensor in any order (pwrite at a fixed offset), from
 * several threads at once, one tensor in memory at a time. Shards are named
 * model-0000i-of-0000N.safetensors (model.safetensors when there is one) and
 * an index model.safetensors.index.json is written when there are several.
 *
 * Thread-safety: an open mg_st_file is read-only, concurrent use is safe.
 * mg_st_writer_write may be called concurrently for distinct tensors. */
#ifndef MG_IO_SAFETENSORS_H
#define MG_IO_SAFETENSORS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/file.h"
#include "io/dtype.h"

#define MG_MAX_DIMS 8
#define MG_ST_MAX_HEADER ((uint64_t)100 << 20)

typedef struct mg_tensor_view {
    const char *name;          // borrowed from the owning file
    mg_dtype dtype;
    int ndim;                  // 0 for a scalar
    int64_t shape[MG_MAX_DIMS];
    uint64_t numel;
    uint64_t nbytes;
    const void *data;          // borrowed mmap view, valid until the file is closed
    uint64_t file_offset;      // absolute offset of data in the file
    const char *file_path;     // borrowed path of the file holding it
} mg_tensor_view;

typedef struct mg_st_file mg_st_file;

/* Opens and validates path. *out owned: close with mg_st_close. */
mg_status mg_st_open(const char *path, mg_st_file **out, mg_error *err);
void mg_st_close(mg_st_file *f); // NULL-safe

const char *mg_st_path(const mg_st_file *f);
size_t mg_st_count(const mg_st_file *f);
/* Tensors in data order (ascending offset). Borrowed, valid until close. */
const mg_tensor_view *mg_st_at(const mg_st_file *f, size_t i);
/* Exact-name lookup (hashed); NULL when absent. Borrowed, valid until close. */
const mg_tensor_view *mg_st_find(const mg_st_file *f, const char *name);
/* __metadata__ value or NULL. Borrowed, valid until close. */
const char *mg_st_metadata(const mg_st_file *f, const char *key);
/* Total bytes of the file. */
uint64_t mg_st_file_size(const mg_st_file *f);
/* Absolute offset of the data section (8 + header length). */
uint64_t mg_st_data_start(const mg_st_file *f);
/* madvise hint for one tensor's bytes (t from this file), or the whole file
 * when t is NULL. Best effort. */
void mg_st_advise(const mg_st_file *f, const mg_tensor_view *t, mg_mmap_advice advice);

/* Converts any float view (F32, F16, BF16, F64) to f32 in dst[numel]. Other
 * dtypes: MG_ERR_UNSUPPORTED naming the tensor. Multi-threaded for big tensors. */
mg_status mg_tensor_to_f32(const mg_tensor_view *t, float *dst, mg_error *err);

/* ---- writer ---- */

typedef struct mg_tensor_spec {
    const char *name;          // copied by the writer
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_MAX_DIMS];
} mg_tensor_spec;

typedef struct mg_st_writer mg_st_writer;

/* Parses a shard size: "5G", "500M", "2GB", "1.5GiB", "1024", "1KB" (decimal
 * units for K/M/G/T and KB/MB/GB, binary for KiB/MiB/GiB). */
mg_status mg_parse_size(const char *s, uint64_t *out, mg_error *err);

/* Plans shards of at most max_shard_bytes of tensor data (0 = no limit; a
 * tensor larger than the limit gets a shard of its own) in `dir`, which must exist (normally the
 * temporary directory of an mg_atomic_out), and writes every header. Tensors
 * keep the given order. *out owned: finish or free. */
mg_status mg_st_writer_open(const char *dir, const mg_tensor_spec *specs, size_t n,
                            uint64_t max_shard_bytes, mg_st_writer **out, mg_error *err);
/* Writes tensor i's data (nbytes of its dtype). Thread-safe for distinct i. */
mg_status mg_st_writer_write(mg_st_writer *w, size_t i, const void *data, mg_error *err);
/* Writes bytes [off, off + nbytes) of tensor i's data: a tensor may arrive in
 * parts, in any order and from several threads at once, as long as they do
 * not overlap; it counts as written once all its bytes have arrived. */
mg_status mg_st_writer_write_part(mg_st_writer *w, size_t i, uint64_t off, const void *data,
                                  uint64_t nbytes, mg_error *err);
/* Streaming mode, chosen right after open (before any write): bytes go
 * through a 32 MiB ring written to disk in file order with O_DIRECT by a
 * background thread (no page-cache copy, no dirty pages for the closing
 * fsync). Tensors must then arrive in the declared order, each complete
 * before the next one starts (its parts in any order from several threads); a
 * write too far ahead of the disk waits. Where the file system refuses direct
 * I/O the writer silently keeps ordinary writes. */
mg_status mg_st_writer_stream(mg_st_writer *w, mg_error *err);
/* Starts (does not wait for) the disk writeback of tensor i's bytes, so the
 * final fsync has less left to do. Best effort; a no-op where unsupported. */
void mg_st_writer_start_writeback(mg_st_writer *w, size_t i);
/* Converts src[numel] (f32) to tensor i's float dtype (F32, F16, BF16, F64;
 * round-to-nearest-even) and writes it. Thread-safe for distinct i. */
mg_status mg_st_writer_write_f32(mg_st_writer *w, size_t i, const float *src, mg_error *err);
/* Checks every tensor was written, fsyncs, writes the index (several shards),
 * and frees w (also on failure). */
mg_status mg_st_writer_finish(mg_st_writer *w, mg_error *err);
/* Abandons a writer (files stay in dir for the atomic output to remove). */
void mg_st_writer_free(mg_st_writer *w);
size_t mg_st_writer_shard_count(const mg_st_writer *w);
/* File name (no folder) of the shard holding tensor i. Borrowed, valid until
 * finish/free. */
const char *mg_st_writer_shard_name(const mg_st_writer *w, size_t i);

#endif // MG_IO_SAFETENSORS_H
