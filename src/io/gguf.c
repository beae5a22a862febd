/* gguf.c - GGUF type tables and the streaming writer. See gguf.h. */
#include "io/gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"

/* ---- type tables ---- */

const char *mg_gguf_vtype_name(uint32_t t) {
    static const char *N[] = {"UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",  "FLOAT32",
                              "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64"};
    return t < MG_GGUF_VTYPE_COUNT ? N[t] : "?";
}

size_t mg_gguf_vtype_size(uint32_t t) {
    static const size_t S[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < MG_GGUF_VTYPE_COUNT ? S[t] : 0;
}

typedef struct type_row {
    uint32_t code;
    const char *name;
    uint32_t blck, bytes;
} type_row;

/* Block sizes from ggml's type_traits (ggml.c) for the types a GGUF reader
 * commonly meets; the IQ* types are left out (unknown -> rejected). */
static const type_row TYPES[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},    {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},    {8, "Q8_0", 32, 34},    {9, "Q8_1", 32, 36},
    {10, "Q2_K", 256, 84},  {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292}, {24, "I8", 1, 1},       {25, "I16", 1, 2},
    {26, "I32", 1, 4},      {27, "I64", 1, 8},      {28, "F64", 1, 8},      {30, "BF16", 1, 2},
};

static const type_row *type_find(uint32_t t) {
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (TYPES[i].code == t) return &TYPES[i];
    return NULL;
}

const char *mg_ggml_type_name(uint32_t t) {
    const type_row *r = type_find(t);
    return r ? r->name : NULL;
}

bool mg_ggml_type_block(uint32_t t, uint64_t *blck, uint64_t *bytes) {
    const type_row *r = type_find(t);
    if (!r) return false;
    *blck = r->blck;
    *bytes = r->bytes;
    return true;
}

mg_status mg_ggml_nbytes(uint32_t t, int ndim, const uint64_t *ne, const char *what, uint64_t *out,
                         mg_error *err) {
    uint64_t blck, bb;
    if (!mg_ggml_type_block(t, &blck, &bb))
        return mg_error_set(err, MG_ERR_INVALID, "%s: unsupported ggml type %" PRIu32, what, t);
    if (ndim < 1 || ndim > MG_GGUF_MAX_DIMS)
        return mg_error_set(err, MG_ERR_INVALID, "%s: %d dimensions, expected 1..%d", what, ndim,
                            MG_GGUF_MAX_DIMS);
    if (ne[0] % blck)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: row of %" PRIu64 " elements is not a multiple of the %s block "
                            "size %" PRIu64,
                            what, ne[0], mg_ggml_type_name(t), blck);
    uint64_t n = ne[0] / blck * bb;
    for (int d = 1; d < ndim; d++)
        if (!mg_size_mul(n, ne[d], &n) || n > ((uint64_t)1 << 62))
            return mg_error_set(err, MG_ERR_INVALID, "%s: tensor size overflows", what);
    *out = n;
    return MG_OK;
}

/* ---- growable byte buffer ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_put(buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        b->p = mg_realloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_put(b, x, 4);
}

static void put_u64(buf *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    buf_put(b, x, 8);
}

static void put_str(buf *b, const char *s, size_t n) {
    put_u64(b, n);
    buf_put(b, s, n);
}

/* ---- writer ---- */

typedef struct winfo {
    char *name;
    uint32_t type;
    int ndim;
    uint64_t ne[MG_GGUF_MAX_DIMS];
    uint64_t nbytes, offset;
} winfo;

struct mg_gguf_writer {
    buf kv; // serialized key/value pairs
    uint64_t n_kv;
    char **keys; // for the uniqueness check
    winfo *t;
    size_t n_t, cap_t;
    uint64_t data_start, file_size;
    mg_atomic_out *out;
    FILE *f;
    size_t next; // next tensor to write
    bool begun, failed;
};

static uint64_t pad_to(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

mg_gguf_writer *mg_gguf_writer_new(void) {
    return mg_calloc(1, sizeof(mg_gguf_writer));
}

void mg_gguf_writer_free(mg_gguf_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    mg_atomic_abort(w->out);
    free(w->kv.p);
    for (uint64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    free(w);
}

/* Validates key and appends it with its value type. */
static mg_status kv_begin(mg_gguf_writer *w, const char *key, uint32_t type, mg_error *err) {
    if (w->begun)
        return mg_error_set(err, MG_ERR_RUNTIME, "GGUF writer: key '%s' added after the header",
                            key);
    size_t n = strlen(key);
    if (n == 0 || n > MG_GGUF_MAX_KEY)
        return mg_error_set(err, MG_ERR_INVALID, "GGUF key of %zu bytes (expected 1..%d)", n,
                            MG_GGUF_MAX_KEY);
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key))
            return mg_error_set(err, MG_ERR_INVALID, "GGUF key '%s' added twice", key);
    w->keys = mg_realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *w->keys);
    w->keys[w->n_kv++] = mg_strdup(key);
    put_str(&w->kv, key, n);
    put_u32(&w->kv, type);
    return MG_OK;
}

mg_status mg_gguf_add_u32(mg_gguf_writer *w, const char *key, uint32_t v, mg_error *err) {
    mg_status st = kv_begin(w, key, MG_GGUF_UINT32, err);
    if (!st) put_u32(&w->kv, v);
    return st;
}

mg_status mg_gguf_add_i32(mg_gguf_writer *w, const char *key, int32_t v, mg_error *err) {
    mg_status st = kv_begin(w, key, MG_GGUF_INT32, err);
    if (!st) put_u32(&w->kv, (uint32_t)v);
    return st;
}

mg_status mg_gguf_add_u64(mg_gguf_writer *w, const char *key, uint64_t v, mg_error *err) {
    mg_status st = kv_begin(w, key, MG_GGUF_UINT64, err);
    if (!st) put_u64(&w->kv, v);
    return st;
}

static uint32_t f32_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
}

mg_status mg_gguf_add_f32(mg_gguf_writer *w, const char *key, float v, mg_error *err) {
    mg_status st = kv_begin(w, key, MG_GGUF_FLOAT32, err);
    if (!st) put_u32(&w->kv, f32_bits(v));
    return st;
}

mg_status mg_gguf_add_bool(mg_gguf_writer *w, const char *key, bool v, mg_error *err) {
    mg_status st = kv_begin(w, key, MG_GGUF_BOOL, err);
    uint8_t b = v ? 1 : 0;
    if (!st) buf_put(&w->kv, &b, 1);
    return st;
}

mg_status mg_gguf_add_str(mg_gguf_writer *w, const char *key, const char *v, mg_error *err) {
    mg_status st = kv_begin(w, key, MG_GGUF_STRING, err);
    if (!st) put_str(&w->kv, v, strlen(v));
    return st;
}

static mg_status arr_begin(mg_gguf_writer *w, const char *key, uint32_t et, size_t n,
                           mg_error *err) {
    mg_status st = kv_begin(w, key, MG_GGUF_ARRAY, err);
    if (st) return st;
    put_u32(&w->kv, et);
    put_u64(&w->kv, n);
    return MG_OK;
}

mg_status mg_gguf_add_arr_str(mg_gguf_writer *w, const char *key, const char *const *v, size_t n,
                              mg_error *err) {
    mg_status st = arr_begin(w, key, MG_GGUF_STRING, n, err);
    for (size_t i = 0; !st && i < n; i++)
        put_str(&w->kv, v[i], strlen(v[i]));
    return st;
}

mg_status mg_gguf_add_arr_i32(mg_gguf_writer *w, const char *key, const int32_t *v, size_t n,
                              mg_error *err) {
    mg_status st = arr_begin(w, key, MG_GGUF_INT32, n, err);
    for (size_t i = 0; !st && i < n; i++)
        put_u32(&w->kv, (uint32_t)v[i]);
    return st;
}

mg_status mg_gguf_add_arr_f32(mg_gguf_writer *w, const char *key, const float *v, size_t n,
                              mg_error *err) {
    mg_status st = arr_begin(w, key, MG_GGUF_FLOAT32, n, err);
    for (size_t i = 0; !st && i < n; i++)
        put_u32(&w->kv, f32_bits(v[i]));
    return st;
}

mg_status mg_gguf_add_tensor(mg_gguf_writer *w, const char *name, mg_ggml_type type, int ndim,
                             const uint64_t *ne, size_t *index, mg_error *err) {
    if (w->begun)
        return mg_error_set(err, MG_ERR_RUNTIME, "GGUF writer: tensor '%s' added after the header",
                            name);
    size_t n = strlen(name);
    if (n == 0 || n >= MG_GGUF_MAX_NAME)
        return mg_error_set(err, MG_ERR_INVALID,
                            "GGUF tensor name '%s' has %zu bytes (expected 1..%d)", name, n,
                            MG_GGUF_MAX_NAME - 1);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name))
            return mg_error_set(err, MG_ERR_INVALID, "GGUF tensor '%s' added twice", name);
    uint64_t nbytes;
    mg_status st = mg_ggml_nbytes((uint32_t)type, ndim, ne, name, &nbytes, err);
    if (st) return st;
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 64;
        w->t = mg_realloc(w->t, w->cap_t * sizeof *w->t);
    }
    winfo *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = mg_strdup(name);
    t->type = (uint32_t)type;
    t->ndim = ndim;
    memcpy(t->ne, ne, (size_t)ndim * sizeof *ne);
    t->nbytes = nbytes;
    if (index) *index = w->n_t;
    w->n_t++;
    return MG_OK;
}

size_t mg_gguf_writer_tensor_count(const mg_gguf_writer *w) {
    return w->n_t;
}

uint64_t mg_gguf_writer_tensor_nbytes(const mg_gguf_writer *w, size_t i) {
    return i < w->n_t ? w->t[i].nbytes : 0;
}

/* Serializes the header, metadata and tensor infos (offsets are the running
 * padded sums ggml's loader checks) into one buffer; sets data_start and
 * file_size. */
static void build_header(mg_gguf_writer *w, buf *h) {
    buf_put(h, "GGUF", 4);
    put_u32(h, MG_GGUF_VERSION);
    put_u64(h, w->n_t);
    put_u64(h, w->n_kv);
    buf_put(h, w->kv.p, w->kv.n);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        winfo *t = &w->t[i];
        put_str(h, t->name, strlen(t->name));
        put_u32(h, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++)
            put_u64(h, t->ne[d]);
        put_u32(h, t->type);
        t->offset = off;
        put_u64(h, off);
        off += pad_to(t->nbytes, MG_GGUF_ALIGNMENT);
    }
    static const uint8_t zeros[MG_GGUF_ALIGNMENT] = {0};
    buf_put(h, zeros, (size_t)(pad_to(h->n, MG_GGUF_ALIGNMENT) - h->n));
    w->data_start = h->n;
    w->file_size = w->data_start + off;
}

uint64_t mg_gguf_writer_file_size(const mg_gguf_writer *w) {
    if (w->begun) return w->file_size;
    // Same arithmetic as build_header without serializing.
    uint64_t n = 24 + w->kv.n, off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        n += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].ndim + 4 + 8;
        off += pad_to(w->t[i].nbytes, MG_GGUF_ALIGNMENT);
    }
    return pad_to(n, MG_GGUF_ALIGNMENT) + off;
}

static mg_status io_fail(mg_gguf_writer *w, const char *what, mg_error *err) {
    int e = errno;
    w->failed = true;
    mg_error_set(err, MG_ERR_IO, "%s: %s failed: %s", mg_atomic_tmp_path(w->out), what,
                 strerror(e));
    mg_atomic_name_final(w->out, err); // name OUT.gguf, not its temporary
    return MG_ERR_IO;
}

mg_status mg_gguf_writer_begin(mg_gguf_writer *w, const char *path, bool force, mg_error *err) {
    if (w->begun) return mg_error_set(err, MG_ERR_RUNTIME, "GGUF writer: begin called twice");
    mg_status st = mg_atomic_begin(path, false, force, &w->out, err);
    if (st) return st;
    w->begun = true;
    w->f = fopen(mg_atomic_tmp_path(w->out), "wb");
    if (!w->f) return io_fail(w, "open", err);
    buf h = {0};
    build_header(w, &h);
    bool ok = fwrite(h.p, 1, h.n, w->f) == h.n;
    free(h.p);
    if (!ok) return io_fail(w, "write", err);
    return MG_OK;
}

mg_status mg_gguf_writer_write(mg_gguf_writer *w, size_t i, const void *data, uint64_t nbytes,
                               mg_error *err) {
    if (!w->begun || w->failed || !w->f)
        return mg_error_set(err, MG_ERR_RUNTIME, "GGUF writer: write without a good begin");
    if (i != w->next || i >= w->n_t)
        return mg_error_set(err, MG_ERR_RUNTIME,
                            "GGUF writer: tensor %zu written out of order (expected %zu)", i,
                            w->next);
    const winfo *t = &w->t[i];
    if (nbytes != t->nbytes)
        return mg_error_set(err, MG_ERR_RUNTIME,
                            "GGUF writer: tensor '%s' has %" PRIu64 " bytes, expected %" PRIu64,
                            t->name, nbytes, t->nbytes);
    static const uint8_t zeros[MG_GGUF_ALIGNMENT] = {0};
    size_t pad = (size_t)(pad_to(nbytes, MG_GGUF_ALIGNMENT) - nbytes);
    if (fwrite(data, 1, (size_t)nbytes, w->f) != nbytes || fwrite(zeros, 1, pad, w->f) != pad)
        return io_fail(w, "write", err);
    w->next++;
    mg_test_kill_point("gguf tensor written");
    return MG_OK;
}

mg_status mg_gguf_writer_commit(mg_gguf_writer *w, mg_error *err) {
    if (!w->begun || w->failed || !w->f)
        return mg_error_set(err, MG_ERR_RUNTIME, "GGUF writer: commit without a good begin");
    if (w->next != w->n_t)
        return mg_error_set(err, MG_ERR_RUNTIME,
                            "GGUF writer: only %zu of %zu tensors were written", w->next, w->n_t);
    FILE *f = w->f;
    w->f = NULL;
    if (fflush(f) != 0) {
        fclose(f);
        return io_fail(w, "flush", err);
    }
    if (fclose(f) != 0) return io_fail(w, "close", err);
    mg_atomic_out *o = w->out;
    w->out = NULL;
    return mg_atomic_commit(o, err); // frees o on success and failure
}
