/* safetensors.c - the safetensors reader (see safetensors.h; the writer is in
 * st_writer.c).
 *
 * File layout (huggingface/safetensors docs): 8-byte little-endian header
 * length N, N bytes of UTF-8 JSON, then the data section. The JSON maps each
 * tensor name to {"dtype", "shape", "data_offsets": [begin, end]} with offsets
 * relative to the data section, plus an optional "__metadata__" string map.
 * The Rust reference rejects buffers whose tensors do not tile the data
 * section exactly; we apply the same rule and every other one listed in the
 * header before exposing any view, so later code can trust the views. */
#include "io/safetensors.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "io/st_util.h"

struct mg_st_file {
    mg_mmap map;
    json_t *root;            // the parsed header; names and metadata borrow from it
    mg_tensor_view *tensors; // data order
    size_t n;
    size_t *slots; // open-addressing hash: tensor index + 1, 0 = empty
    size_t nslots; // power of two
    uint64_t data_start;
};

/* ---- header validation ---- */

#define TERR(name, ...) tensor_error(err, path, name, __VA_ARGS__)

__attribute__((format(printf, 4, 5))) static mg_status
tensor_error(mg_error *err, const char *path, const char *name, const char *fmt, ...) {
    char rule[512], q[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof rule, fmt, ap);
    va_end(ap);
    return mg_error_set(err, MG_ERR_INVALID, "%s: tensor '%s': %s", path,
                        mg_st_quote(name, q, sizeof q), rule);
}

/* A JSON integer >= 0 (safetensors shapes and offsets are usize). */
static bool get_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static mg_status parse_tensor(const char *path, const char *name, const json_t *v,
                              uint64_t data_size, mg_tensor_view *t, mg_error *err) {
    if (!name[0]) return TERR(name, "empty tensor name");
    if (!json_is_object(v)) return TERR(name, "entry is not a JSON object");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets")) {
            char q[256];
            return TERR(name, "unexpected field '%s' (allowed: dtype, shape, data_offsets)",
                        mg_st_quote(key, q, sizeof q));
        }
    }
    const json_t *jd = json_object_get(v, "dtype");
    const json_t *js = json_object_get(v, "shape");
    const json_t *jo = json_object_get(v, "data_offsets");
    if (!jd) return TERR(name, "missing field 'dtype'");
    if (!js) return TERR(name, "missing field 'shape'");
    if (!jo) return TERR(name, "missing field 'data_offsets'");
    if (!json_is_string(jd)) return TERR(name, "dtype is not a string");
    if (!mg_dtype_parse(json_string_value(jd), &t->dtype)) {
        char q[256];
        return TERR(name,
                    "unknown dtype '%s' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL "
                    "F8_E4M3 F8_E5M2)",
                    mg_st_quote(json_string_value(jd), q, sizeof q));
    }
    if (!json_is_array(js)) return TERR(name, "shape is not a list of integers");
    size_t nd = json_array_size(js);
    if (nd > MG_MAX_DIMS)
        return TERR(name, "shape has %zu dimensions, limit is %d", nd, MG_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (size_t d = 0; d < nd; d++) {
        const json_t *e = json_array_get(js, d);
        uint64_t dim;
        if (json_is_integer(e) && json_integer_value(e) < 0)
            return TERR(name, "negative dimension %" PRId64 " at shape[%zu]",
                        (int64_t)json_integer_value(e), d);
        if (!get_u64(e, &dim)) return TERR(name, "shape[%zu] is not an integer", d);
        t->shape[d] = (int64_t)dim;
        if (!mg_size_mul(numel, dim, &numel))
            return TERR(name, "shape element count overflows 64 bits");
    }
    t->numel = numel;
    if (!mg_size_mul(numel, mg_dtype_size(t->dtype), &t->nbytes))
        return TERR(name, "shape byte size overflows 64 bits");
    uint64_t b, e;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !get_u64(json_array_get(jo, 0), &b) ||
        !get_u64(json_array_get(jo, 1), &e))
        return TERR(name, "data_offsets is not a pair of non-negative integers");
    if (e < b) return TERR(name, "data_offsets [%" PRIu64 ", %" PRIu64 "]: end before begin", b, e);
    if (e > data_size)
        return TERR(name,
                    "data_offsets [%" PRIu64 ", %" PRIu64
                    "] run past the end of the data section (%" PRIu64 " bytes)",
                    b, e, data_size);
    if (e - b != t->nbytes)
        return TERR(name,
                    "data_offsets span %" PRIu64 " bytes but %s x %" PRIu64
                    " elements needs %" PRIu64,
                    e - b, mg_dtype_name(t->dtype), numel, t->nbytes);
    t->file_offset = b; // relative for now; made absolute once the header is accepted
    t->name = name;
    return MG_OK;
}

static mg_status parse_metadata(const char *path, const json_t *v, mg_error *err) {
    if (!json_is_object(v))
        return mg_error_set(err, MG_ERR_INVALID, "%s: header: __metadata__ is not an object", path);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        if (!json_is_string(val)) {
            char q[256];
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: header: __metadata__ value of '%s' is not a string "
                                "(metadata must map strings to strings)",
                                path, mg_st_quote(key, q, sizeof q));
        }
    }
    return MG_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const mg_tensor_view *x = a, *y = b;
    if (x->file_offset != y->file_offset) return x->file_offset < y->file_offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The tensors, sorted by offset, must cover [0, data_size) exactly. */
static mg_status check_tiling(const char *path, mg_tensor_view *t, size_t n, uint64_t data_size,
                              mg_error *err) {
    qsort(t, n, sizeof *t, cmp_offset);
    uint64_t pos = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = t[i].file_offset;
        char q[256];
        if (b < pos)
            return TERR(t[i].name,
                        "data_offsets begin at %" PRIu64
                        ", overlapping tensor '%s' (which ends at %" PRIu64 ")",
                        b, mg_st_quote(prev, q, sizeof q), pos);
        if (b > pos) {
            if (prev)
                return TERR(t[i].name,
                            "hole of %" PRIu64 " unused bytes before it (after tensor '%s')",
                            b - pos, mg_st_quote(prev, q, sizeof q));
            return TERR(t[i].name,
                        "hole of %" PRIu64 " unused bytes at the start of the data section", b);
        }
        pos = b + t[i].nbytes;
        prev = t[i].name;
    }
    if (pos != data_size) {
        if (!prev)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: header: no tensors but the data section has %" PRIu64 " bytes",
                                path, data_size);
        char q[256];
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: tensor '%s': %" PRIu64
                            " unused bytes after it at the end of the data section",
                            path, mg_st_quote(prev, q, sizeof q), data_size - pos);
    }
    return MG_OK;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void build_hash(mg_st_file *f) {
    f->nslots = 16;
    while (f->nslots < 2 * f->n)
        f->nslots *= 2;
    f->slots = mg_calloc(f->nslots, sizeof *f->slots);
    for (size_t i = 0; i < f->n; i++) {
        size_t s = (size_t)hash_name(f->tensors[i].name) & (f->nslots - 1);
        while (f->slots[s])
            s = (s + 1) & (f->nslots - 1);
        f->slots[s] = i + 1;
    }
}

/* jansson reports a duplicate key with its position; the nesting depth there
 * tells a duplicate tensor name (depth 1) from a field repeated inside one. */
static mg_status duplicate_error(const char *path, const uint8_t *h, const json_error_t *je,
                                 mg_error *err) {
    int depth = 0;
    bool in_str = false;
    for (int i = 0; i < je->position; i++) {
        if (in_str) {
            if (h[i] == '\\')
                i++;
            else if (h[i] == '"')
                in_str = false;
        } else if (h[i] == '"') {
            in_str = true;
        } else if (h[i] == '{' || h[i] == '[') {
            depth++;
        } else if (h[i] == '}' || h[i] == ']') {
            depth--;
        }
    }
    // je->text is "duplicate object key near '"NAME"'": take NAME.
    char name[256] = "?";
    const char *near = strstr(je->text, "near '\"");
    if (near) {
        snprintf(name, sizeof name, "%s", near + 7);
        size_t l = strlen(name);
        if (l >= 2 && name[l - 1] == '\'' && name[l - 2] == '"') name[l - 2] = '\0';
    }
    char q[256];
    if (depth == 1)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: tensor '%s': duplicate tensor name at header line %d column %d "
                            "(names must be unique)",
                            path, mg_st_quote(name, q, sizeof q), je->line, je->column);
    return mg_error_set(err, MG_ERR_INVALID,
                        "%s: header: duplicate key '%s' inside an entry at line %d column %d", path,
                        mg_st_quote(name, q, sizeof q), je->line, je->column);
}

static mg_status parse_header(mg_st_file *f, const char *path, mg_error *err) {
    const uint8_t *p = f->map.data;
    uint64_t size = f->map.size;
    if (size == 0) return mg_error_set(err, MG_ERR_INVALID, "%s: header: file is empty", path);
    const char *pk = mg_pickle_kind(p, size);
    if (pk) return mg_pickle_refuse(path, pk, err);
    if (size < 8)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: header: truncated: file is %" PRIu64
                            " bytes, less than the 8-byte header length",
                            path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > MG_ST_MAX_HEADER)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: header: length %" PRIu64 " exceeds the limit of %" PRIu64
                            " bytes (100 MiB)",
                            path, hlen, MG_ST_MAX_HEADER);
    if (hlen > size - 8)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: header: length %" PRIu64 " runs past the end of the file (%" PRIu64
                            " bytes)",
                            path, hlen, size);
    if (hlen < 2)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: header: length %" PRIu64 " is too short for a JSON object", path,
                            hlen);
    const uint8_t *h = p + 8;
    size_t bad;
    if (!mg_utf8_valid(h, hlen, &bad))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: header: invalid UTF-8 at header byte %zu (must be UTF-8 JSON)",
                            path, bad);
    if (memchr(h, 0, hlen))
        return mg_error_set(err, MG_ERR_INVALID, "%s: header: contains a NUL byte", path);
    if (h[0] != '{')
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: header: does not start with '{' (not a safetensors file?)", path);
    json_error_t je;
    f->root = json_loadb((const char *)h, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!f->root) {
        if (strstr(je.text, "duplicate object key")) return duplicate_error(path, h, &je, err);
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: header: invalid JSON at line %d column %d: %s", path, je.line,
                            je.column, je.text);
    }
    if (!json_is_object(f->root))
        return mg_error_set(err, MG_ERR_INVALID, "%s: header: not a JSON object", path);
    f->data_start = 8 + hlen;
    uint64_t data_size = size - f->data_start;
    size_t cap = json_object_size(f->root);
    f->tensors = mg_calloc(cap ? cap : 1, sizeof *f->tensors);
    const char *key;
    json_t *val;
    json_object_foreach(f->root, key, val) {
        mg_status rc;
        if (!strcmp(key, "__metadata__")) {
            rc = parse_metadata(path, val, err);
        } else {
            rc = parse_tensor(path, key, val, data_size, &f->tensors[f->n], err);
            f->n++;
        }
        if (rc != MG_OK) return rc;
    }
    mg_status rc = check_tiling(path, f->tensors, f->n, data_size, err);
    if (rc != MG_OK) return rc;
    for (size_t i = 0; i < f->n; i++) {
        mg_tensor_view *t = &f->tensors[i];
        t->file_offset += f->data_start;
        t->data = p + t->file_offset;
        t->file_path = f->map.path;
    }
    build_hash(f);
    return MG_OK;
}

mg_status mg_st_open(const char *path, mg_st_file **out, mg_error *err) {
    *out = NULL;
    mg_st_file *f = mg_calloc(1, sizeof *f);
    mg_status rc = mg_mmap_open(&f->map, path, MG_ADVISE_NORMAL, err);
    if (rc != MG_OK) goto fail;
    rc = parse_header(f, path, err);
    if (rc != MG_OK) goto fail;
    *out = f;
    return MG_OK;
fail:
    mg_st_close(f);
    return rc;
}

void mg_st_close(mg_st_file *f) {
    if (!f) return;
    mg_mmap_close(&f->map);
    if (f->root) json_decref(f->root);
    free(f->tensors);
    free(f->slots);
    free(f);
}

const char *mg_st_path(const mg_st_file *f) {
    return f->map.path;
}

size_t mg_st_count(const mg_st_file *f) {
    return f->n;
}

const mg_tensor_view *mg_st_at(const mg_st_file *f, size_t i) {
    return i < f->n ? &f->tensors[i] : NULL;
}

const mg_tensor_view *mg_st_find(const mg_st_file *f, const char *name) {
    if (!f->nslots) return NULL;
    size_t s = (size_t)hash_name(name) & (f->nslots - 1);
    while (f->slots[s]) {
        const mg_tensor_view *t = &f->tensors[f->slots[s] - 1];
        if (!strcmp(t->name, name)) return t;
        s = (s + 1) & (f->nslots - 1);
    }
    return NULL;
}

const char *mg_st_metadata(const mg_st_file *f, const char *key) {
    const json_t *m = json_object_get(f->root, "__metadata__");
    return m ? json_string_value(json_object_get(m, key)) : NULL;
}

uint64_t mg_st_file_size(const mg_st_file *f) {
    return f->map.size;
}

uint64_t mg_st_data_start(const mg_st_file *f) {
    return f->data_start;
}

void mg_st_advise(const mg_st_file *f, const mg_tensor_view *t, mg_mmap_advice advice) {
    if (t)
        mg_mmap_advise(&f->map, t->file_offset, t->nbytes, advice);
    else
        mg_mmap_advise(&f->map, 0, f->map.size, advice);
}

/* ---- conversion ---- */

#define CONV_BLOCK 4096 // elements per inner step: fits L1 with its f32 output

/* Converts elements [b, e) of a float tensor; src may be unaligned (safetensors
 * does not align the data section), in which case blocks are copied first. */
static void convert_range(const mg_tensor_view *t, float *dst, size_t b, size_t e) {
    const uint8_t *src = t->data;
    size_t es = mg_dtype_size(t->dtype);
    for (size_t i = b; i < e; i += CONV_BLOCK) {
        size_t m = e - i < CONV_BLOCK ? e - i : CONV_BLOCK;
        const uint8_t *s = src + i * es;
        switch (t->dtype) {
        case MG_DTYPE_F32:
            memcpy(dst + i, s, m * 4);
            break;
        case MG_DTYPE_F16:
        case MG_DTYPE_BF16: {
            uint16_t tmp[CONV_BLOCK];
            const uint16_t *h = (const uint16_t *)(const void *)s;
            if ((uintptr_t)s % _Alignof(uint16_t)) {
                memcpy(tmp, s, m * 2);
                h = tmp;
            }
            if (t->dtype == MG_DTYPE_F16)
                mg_f16_to_f32_array(h, dst + i, m);
            else
                mg_bf16_to_f32_array(h, dst + i, m);
            break;
        }
        case MG_DTYPE_F64:
            for (size_t k = 0; k < m; k++) {
                double d;
                memcpy(&d, s + k * 8, 8);
                dst[i + k] = (float)d;
            }
            break;
        default:
            break;
        }
    }
}

mg_status mg_tensor_to_f32(const mg_tensor_view *t, float *dst, mg_error *err) {
    if (!mg_dtype_is_float(t->dtype)) {
        char q[256];
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: tensor '%s': dtype %s cannot be converted to float32",
                            t->file_path ? t->file_path : "?", mg_st_quote(t->name, q, sizeof q),
                            mg_dtype_name(t->dtype));
    }
    size_t n = (size_t)t->numel;
    const size_t chunk = (size_t)1 << 18; // fixed chunks; each is an independent copy
    if (n < 2 * chunk) {
        convert_range(t, dst, 0, n);
        return MG_OK;
    }
    // Start reading the whole tensor now (async readahead when cold; a cheap
    // no-op when cached), so the threads below rarely wait on page faults.
    uintptr_t a = (uintptr_t)t->data & ~(uintptr_t)4095;
    madvise((void *)a, (uintptr_t)t->data + t->nbytes - a, MADV_WILLNEED);
    size_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunks; c++) {
        size_t b = c * chunk, e = b + chunk < n ? b + chunk : n;
        convert_range(t, dst, b, e);
    }
    return MG_OK;
}
