/* gguf_reader.c - GGUF parsing and validation. See gguf_reader.h. */
#include "io/gguf_reader.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "io/gguf_quant.h"

struct mg_gguf_file {
    mg_mmap map;
    uint32_t version, alignment;
    uint64_t data_offset;
    mg_gguf_kv *kv;
    size_t n_kv;
    mg_gguf_tensor *t;
    size_t n_t;
};

/* Bounds-checked cursor over the mapping. */
typedef struct cur {
    const uint8_t *p;
    uint64_t pos, size;
    const char *path;
    mg_error *err;
} cur;

static mg_status need(cur *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return mg_error_set(c->err, MG_ERR_INVALID,
                            "%s: %s at offset %" PRIu64 " needs %" PRIu64 " bytes, only %" PRIu64
                            " left",
                            c->path, what, c->pos, n, c->size - c->pos);
    return MG_OK;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static mg_status rd_u32(cur *c, uint32_t *v, const char *what) {
    mg_status st = need(c, 4, what);
    if (st) return st;
    *v = (uint32_t)le(c->p + c->pos, 4);
    c->pos += 4;
    return MG_OK;
}

static mg_status rd_u64(cur *c, uint64_t *v, const char *what) {
    mg_status st = need(c, 8, what);
    if (st) return st;
    *v = le(c->p + c->pos, 8);
    c->pos += 8;
    return MG_OK;
}

static mg_status rd_str(cur *c, mg_gguf_str *s, const char *what) {
    uint64_t n;
    mg_status st = rd_u64(c, &n, what);
    if (!st) st = need(c, n, what);
    if (st) return st;
    s->s = (const char *)c->p + c->pos;
    s->len = n;
    c->pos += n;
    return MG_OK;
}

bool mg_gguf_str_eq(mg_gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.s, c, n) == 0;
}

/* Reads one value of type t (not ARRAY) for key; strings land in *s. */
static mg_status rd_value(cur *c, uint32_t t, const char *key, mg_gguf_str *s) {
    if (t == MG_GGUF_STRING) return rd_str(c, s, key);
    size_t sz = mg_gguf_vtype_size(t);
    if (!sz)
        return mg_error_set(c->err, MG_ERR_INVALID, "%s: key '%s': unknown value type %" PRIu32,
                            c->path, key, t);
    mg_status st = need(c, sz, key);
    if (st) return st;
    if (t == MG_GGUF_BOOL && c->p[c->pos] > 1)
        return mg_error_set(c->err, MG_ERR_INVALID, "%s: key '%s': BOOL value %u (expected 0 or 1)",
                            c->path, key, c->p[c->pos]);
    c->pos += sz;
    return MG_OK;
}

static mg_status read_kv(cur *c, mg_gguf_file *f) {
    for (size_t i = 0; i < f->n_kv; i++) {
        mg_gguf_kv *kv = &f->kv[i];
        mg_gguf_str k;
        mg_status st = rd_str(c, &k, "key");
        if (st) return st;
        if (k.len == 0 || k.len > MG_GGUF_MAX_KEY || memchr(k.s, 0, (size_t)k.len))
            return mg_error_set(c->err, MG_ERR_INVALID,
                                "%s: key %zu: length %" PRIu64 " or NUL byte (expected 1..%d "
                                "bytes of text)",
                                c->path, i, k.len, MG_GGUF_MAX_KEY);
        kv->key = mg_strndup(k.s, (size_t)k.len);
        if ((st = rd_u32(c, &kv->type, kv->key))) return st;
        kv->n = 1;
        if (kv->type == MG_GGUF_ARRAY) {
            if ((st = rd_u32(c, &kv->arr_type, kv->key)) || (st = rd_u64(c, &kv->n, kv->key)))
                return st;
            if (kv->arr_type == MG_GGUF_ARRAY)
                return mg_error_set(c->err, MG_ERR_INVALID, "%s: key '%s': nested array", c->path,
                                    kv->key);
            if (kv->arr_type != MG_GGUF_STRING && !mg_gguf_vtype_size(kv->arr_type))
                return mg_error_set(c->err, MG_ERR_INVALID,
                                    "%s: key '%s': unknown array element type %" PRIu32, c->path,
                                    kv->key, kv->arr_type);
            // Each element takes at least 1 byte (8 for a string length).
            uint64_t min = kv->arr_type == MG_GGUF_STRING ? 8 : mg_gguf_vtype_size(kv->arr_type);
            if (kv->n > (c->size - c->pos) / min)
                return mg_error_set(c->err, MG_ERR_INVALID,
                                    "%s: key '%s': array of %" PRIu64
                                    " elements does not fit in the file",
                                    c->path, kv->key, kv->n);
            kv->data = c->p + c->pos;
            if (kv->arr_type == MG_GGUF_STRING)
                kv->strs = mg_malloc_array(kv->n ? kv->n : 1, sizeof(mg_gguf_str));
            for (uint64_t e = 0; e < kv->n; e++)
                if ((st = rd_value(c, kv->arr_type, kv->key, kv->strs ? &kv->strs[e] : NULL)))
                    return st;
        } else {
            kv->data = c->p + c->pos;
            if (kv->type == MG_GGUF_STRING) kv->strs = mg_malloc(sizeof(mg_gguf_str));
            if ((st = rd_value(c, kv->type, kv->key, kv->strs))) return st;
        }
    }
    return MG_OK;
}

static uint64_t pad_to(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

static mg_status read_tensors(cur *c, mg_gguf_file *f) {
    for (size_t i = 0; i < f->n_t; i++) {
        mg_gguf_tensor *t = &f->t[i];
        mg_gguf_str nm;
        mg_status st = rd_str(c, &nm, "tensor name");
        if (st) return st;
        if (nm.len == 0 || nm.len >= MG_GGUF_MAX_NAME || memchr(nm.s, 0, (size_t)nm.len))
            return mg_error_set(c->err, MG_ERR_INVALID,
                                "%s: tensor %zu: name of %" PRIu64
                                " bytes (expected 1..%d, no NUL)",
                                c->path, i, nm.len, MG_GGUF_MAX_NAME - 1);
        t->name = mg_strndup(nm.s, (size_t)nm.len);
        uint32_t nd;
        if ((st = rd_u32(c, &nd, t->name))) return st;
        if (nd < 1 || nd > MG_GGUF_MAX_DIMS)
            return mg_error_set(c->err, MG_ERR_INVALID,
                                "%s: tensor '%s': %" PRIu32 " dimensions (expected 1..%d)", c->path,
                                t->name, nd, MG_GGUF_MAX_DIMS);
        t->ndim = (int)nd;
        for (int d = 0; d < MG_GGUF_MAX_DIMS; d++)
            t->ne[d] = 1;
        t->numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if ((st = rd_u64(c, &t->ne[d], t->name))) return st;
            if (t->ne[d] > INT64_MAX || !mg_size_mul(t->numel, t->ne[d], &t->numel))
                return mg_error_set(c->err, MG_ERR_INVALID,
                                    "%s: tensor '%s': dimension %d = %" PRIu64 " overflows",
                                    c->path, t->name, d, t->ne[d]);
        }
        if ((st = rd_u32(c, &t->type, t->name)) || (st = rd_u64(c, &t->offset, t->name))) return st;
        char what[MG_GGUF_MAX_NAME + 512];
        snprintf(what, sizeof what, "%s: tensor '%s'", c->path, t->name);
        if ((st = mg_ggml_nbytes(t->type, t->ndim, t->ne, what, &t->nbytes, c->err))) return st;
    }
    return MG_OK;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate check in O(n log n): a hostile file may hold millions of keys. */
static mg_status check_unique(const char **names, size_t n, const char *path, const char *what,
                              mg_error *err) {
    qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i]))
            return mg_error_set(err, MG_ERR_INVALID, "%s: %s '%s' appears twice", path, what,
                                names[i]);
    return MG_OK;
}

static mg_status check_duplicates(const mg_gguf_file *f, mg_error *err) {
    size_t n = f->n_kv > f->n_t ? f->n_kv : f->n_t;
    const char **names = mg_malloc_array(n ? n : 1, sizeof *names);
    for (size_t i = 0; i < f->n_kv; i++)
        names[i] = f->kv[i].key;
    mg_status st = check_unique(names, f->n_kv, f->map.path, "key", err);
    for (size_t i = 0; !st && i < f->n_t; i++)
        names[i] = f->t[i].name;
    if (!st) st = check_unique(names, f->n_t, f->map.path, "tensor", err);
    free(names);
    return st;
}

static mg_status check_alignment_key(mg_gguf_file *f, mg_error *err) {
    f->alignment = MG_GGUF_ALIGNMENT;
    const mg_gguf_kv *a = mg_gguf_find_kv(f, "general.alignment");
    if (!a) return MG_OK;
    if (a->type != MG_GGUF_UINT32)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: general.alignment has type %s, expected UINT32", f->map.path,
                            mg_gguf_vtype_name(a->type));
    uint32_t v = (uint32_t)le(a->data, 4);
    if (v == 0 || (v & (v - 1)))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: general.alignment = %" PRIu32 ", expected a power of two",
                            f->map.path, v);
    f->alignment = v;
    return MG_OK;
}

mg_status mg_gguf_open(const char *path, mg_gguf_file **out, mg_error *err) {
    *out = NULL;
    mg_gguf_file *f = mg_calloc(1, sizeof *f);
    mg_status st = mg_mmap_open(&f->map, path, MG_ADVISE_RANDOM, err);
    if (st) {
        free(f);
        return st;
    }
    cur c = {f->map.data, 0, f->map.size, f->map.path, err};
    uint64_t n_t = 0, n_kv = 0;
    if ((st = need(&c, 4, "magic"))) goto fail;
    if (memcmp(c.p, "GGUF", 4)) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s: not a GGUF file (magic is not \"GGUF\")", path);
        goto fail;
    }
    c.pos = 4;
    if ((st = rd_u32(&c, &f->version, "version"))) goto fail;
    if (f->version != 2 && f->version != 3) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s: GGUF version %" PRIu32 ", expected 2 or 3",
                          path, f->version);
        goto fail;
    }
    if ((st = rd_u64(&c, &n_t, "tensor count")) || (st = rd_u64(&c, &n_kv, "key count"))) goto fail;
    // A key takes at least 8+1+4+1 bytes, a tensor info 8+1+4+8+4+8.
    if (n_kv > (c.size - c.pos) / 14 || n_t > (c.size - c.pos) / 33) {
        st = mg_error_set(err, MG_ERR_INVALID,
                          "%s: %" PRIu64 " keys and %" PRIu64
                          " tensors cannot fit in a file of %" PRIu64 " bytes",
                          path, n_kv, n_t, c.size);
        goto fail;
    }
    f->n_kv = (size_t)n_kv;
    f->n_t = (size_t)n_t;
    f->kv = mg_calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->t = mg_calloc(f->n_t ? f->n_t : 1, sizeof *f->t);
    if ((st = read_kv(&c, f)) || (st = check_alignment_key(f, err)) || (st = read_tensors(&c, f)) ||
        (st = check_duplicates(f, err)))
        goto fail;
    f->data_offset = pad_to(c.pos, f->alignment);
    if (f->data_offset > c.size && f->n_t) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s: data section starts past the end of the file",
                          path);
        goto fail;
    }
    uint64_t expect = 0;
    for (size_t i = 0; i < f->n_t; i++) {
        mg_gguf_tensor *t = &f->t[i];
        if (t->offset != expect) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': offset %" PRIu64 ", expected %" PRIu64
                              " (data packed in info order, each padded to %" PRIu32 ")",
                              path, t->name, t->offset, expect, f->alignment);
            goto fail;
        }
        uint64_t end;
        if (!mg_size_add(f->data_offset, t->offset, &end) || !mg_size_add(end, t->nbytes, &end) ||
            end > c.size) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': data (%" PRIu64 " bytes at %" PRIu64
                              ") extends past the end of the file (%" PRIu64 " bytes)",
                              path, t->name, t->nbytes, f->data_offset + t->offset, c.size);
            goto fail;
        }
        t->data = c.p + f->data_offset + t->offset;
        expect = t->offset + pad_to(t->nbytes, f->alignment);
    }
    *out = f;
    return MG_OK;
fail:
    mg_gguf_close(f);
    return st;
}

void mg_gguf_close(mg_gguf_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_kv; i++) {
        free((char *)f->kv[i].key);
        free(f->kv[i].strs);
    }
    for (size_t i = 0; i < f->n_t; i++)
        free((char *)f->t[i].name);
    free(f->kv);
    free(f->t);
    mg_mmap_close(&f->map);
    free(f);
}

const char *mg_gguf_path(const mg_gguf_file *f) {
    return f->map.path;
}
uint32_t mg_gguf_version(const mg_gguf_file *f) {
    return f->version;
}
uint32_t mg_gguf_alignment(const mg_gguf_file *f) {
    return f->alignment;
}
uint64_t mg_gguf_data_offset(const mg_gguf_file *f) {
    return f->data_offset;
}
uint64_t mg_gguf_file_size(const mg_gguf_file *f) {
    return f->map.size;
}
size_t mg_gguf_kv_count(const mg_gguf_file *f) {
    return f->n_kv;
}
const mg_gguf_kv *mg_gguf_kv_at(const mg_gguf_file *f, size_t i) {
    return i < f->n_kv ? &f->kv[i] : NULL;
}
size_t mg_gguf_tensor_count(const mg_gguf_file *f) {
    return f->n_t;
}
const mg_gguf_tensor *mg_gguf_tensor_at(const mg_gguf_file *f, size_t i) {
    return i < f->n_t ? &f->t[i] : NULL;
}

const mg_gguf_kv *mg_gguf_find_kv(const mg_gguf_file *f, const char *key) {
    for (size_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key && !strcmp(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const mg_gguf_tensor *mg_gguf_find_tensor(const mg_gguf_file *f, const char *name) {
    for (size_t i = 0; i < f->n_t; i++)
        if (f->t[i].name && !strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

static mg_status get_typed(const mg_gguf_file *f, const char *key, uint32_t type,
                           const mg_gguf_kv **kv, mg_error *err) {
    *kv = mg_gguf_find_kv(f, key);
    if (!*kv)
        return mg_error_set(err, MG_ERR_NOT_FOUND, "%s: key '%s' is missing", f->map.path, key);
    if ((*kv)->type != type)
        return mg_error_set(err, MG_ERR_INVALID, "%s: key '%s' has type %s, expected %s",
                            f->map.path, key, mg_gguf_vtype_name((*kv)->type),
                            mg_gguf_vtype_name(type));
    return MG_OK;
}

mg_status mg_gguf_get_u32(const mg_gguf_file *f, const char *key, uint32_t *out, mg_error *err) {
    const mg_gguf_kv *kv;
    mg_status st = get_typed(f, key, MG_GGUF_UINT32, &kv, err);
    if (!st) *out = (uint32_t)le(kv->data, 4);
    return st;
}

mg_status mg_gguf_get_i32(const mg_gguf_file *f, const char *key, int32_t *out, mg_error *err) {
    const mg_gguf_kv *kv;
    mg_status st = get_typed(f, key, MG_GGUF_INT32, &kv, err);
    if (!st) *out = (int32_t)(uint32_t)le(kv->data, 4);
    return st;
}

mg_status mg_gguf_get_f32(const mg_gguf_file *f, const char *key, float *out, mg_error *err) {
    const mg_gguf_kv *kv;
    mg_status st = get_typed(f, key, MG_GGUF_FLOAT32, &kv, err);
    if (!st) {
        uint32_t u = (uint32_t)le(kv->data, 4);
        memcpy(out, &u, 4);
    }
    return st;
}

mg_status mg_gguf_get_bool(const mg_gguf_file *f, const char *key, bool *out, mg_error *err) {
    const mg_gguf_kv *kv;
    mg_status st = get_typed(f, key, MG_GGUF_BOOL, &kv, err);
    if (!st) *out = kv->data[0] != 0;
    return st;
}

mg_status mg_gguf_get_str(const mg_gguf_file *f, const char *key, mg_gguf_str *out, mg_error *err) {
    const mg_gguf_kv *kv;
    mg_status st = get_typed(f, key, MG_GGUF_STRING, &kv, err);
    if (!st) *out = kv->strs[0];
    return st;
}

mg_status mg_gguf_get_arr(const mg_gguf_file *f, const char *key, uint32_t elem_type,
                          const mg_gguf_kv **kv, mg_error *err) {
    mg_status st = get_typed(f, key, MG_GGUF_ARRAY, kv, err);
    if (!st && (*kv)->arr_type != elem_type)
        return mg_error_set(err, MG_ERR_INVALID, "%s: key '%s' is an array of %s, expected %s",
                            f->map.path, key, mg_gguf_vtype_name((*kv)->arr_type),
                            mg_gguf_vtype_name(elem_type));
    return st;
}

int32_t mg_gguf_arr_i32(const mg_gguf_kv *kv, uint64_t i) {
    return (int32_t)(uint32_t)le(kv->data + 4 * i, 4);
}

float mg_gguf_arr_f32(const mg_gguf_kv *kv, uint64_t i) {
    uint32_t u = (uint32_t)le(kv->data + 4 * i, 4);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

mg_status mg_gguf_tensor_to_f32(const mg_gguf_tensor *t, float *dst, mg_error *err) {
    const uint8_t *p = t->data;
    switch (t->type) {
    case MG_GGML_F32:
        memcpy(dst, p, (size_t)t->numel * 4);
        return MG_OK;
    case MG_GGML_F16:
        mg_f16_to_f32_array((const uint16_t *)(const void *)p, dst, (size_t)t->numel);
        return MG_OK;
    case MG_GGML_BF16:
        mg_bf16_to_f32_array((const uint16_t *)(const void *)p, dst, (size_t)t->numel);
        return MG_OK;
    case MG_GGML_Q8_0:
        mg_q8_0_dequantize(p, dst, (size_t)t->numel);
        return MG_OK;
    default:
        return mg_error_set(err, MG_ERR_UNSUPPORTED, "tensor '%s': cannot decode ggml type %s",
                            t->name, mg_ggml_type_name(t->type) ? mg_ggml_type_name(t->type) : "?");
    }
}
