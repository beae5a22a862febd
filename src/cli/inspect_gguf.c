/* inspect_gguf.c - `mergeguard inspect FILE.gguf [--stats] [--json]`
 * (mg_gguf_inspect_cli, called by inspect.c): validates a GGUF file with the
 * project's reader and describes it as inspect does a safetensors model: the
 * format line, parameter count, a histogram of ggml types, every metadata key
 * with its exact GGUF type, and one row per tensor (ggml type, ne innermost
 * first, offset, bytes). --stats adds mean / std / min / max and NaN / Inf
 * counts per tensor (F32/F16/BF16 read in place, Q8_0 dequantized one tensor
 * at a time), with the same definitions as the safetensors stats
 * (io/tensor_stats.h). --json prints one JSON document with the same fields
 * as the safetensors one (path, parameters, tensor_count, dtypes, tensors with
 * name / dtype / shape / bytes / stats) plus the GGUF ones (format, version,
 * alignment, data_offset, architecture, metadata, ne and offset per tensor).
 * Arrays in metadata show their element type, count and first 16 values.
 * The file is validated completely before anything is printed. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cli/cli.h"
#include "io/gguf_reader.h"
#include "io/tensor_stats.h"

#define ARRAY_SHOWN_TEXT 6
#define ARRAY_SHOWN_JSON 16

/* Raw little-endian scalar i of type t at kv->data. */
static uint64_t raw_u64(const mg_gguf_kv *kv, uint32_t type, uint64_t i) {
    size_t sz = mg_gguf_vtype_size(type);
    uint64_t u = 0;
    for (size_t k = 0; k < sz; k++)
        u |= (uint64_t)kv->data[i * sz + k] << (8 * k);
    return u;
}

static float raw_f32(const mg_gguf_kv *kv, uint64_t i) {
    uint32_t b = (uint32_t)raw_u64(kv, MG_GGUF_FLOAT32, i);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static double raw_f64(const mg_gguf_kv *kv, uint64_t i) {
    uint64_t b = raw_u64(kv, MG_GGUF_FLOAT64, i);
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* ---- text ---- */

static void print_value(const mg_gguf_kv *kv, uint32_t type, uint64_t i) {
    switch (type) {
    case MG_GGUF_STRING: {
        mg_gguf_str s = kv->strs[i];
        // Long strings (chat templates) are cut; control characters escaped.
        uint64_t n = s.len > 120 ? 120 : s.len;
        putchar('"');
        for (uint64_t k = 0; k < n; k++) {
            unsigned char ch = (unsigned char)s.s[k];
            if (ch == '\n')
                fputs("\\n", stdout);
            else if (ch == '"' || ch == '\\')
                printf("\\%c", ch);
            else if (ch < 0x20)
                printf("\\x%02x", ch);
            else
                putchar(ch);
        }
        printf(s.len > n ? "\"... (%" PRIu64 " bytes)" : "\"", s.len);
        return;
    }
    case MG_GGUF_BOOL:
        printf("%s", kv->data[i] ? "true" : "false");
        return;
    case MG_GGUF_UINT8:
    case MG_GGUF_UINT16:
    case MG_GGUF_UINT32:
    case MG_GGUF_UINT64:
        printf("%" PRIu64, raw_u64(kv, type, i));
        return;
    case MG_GGUF_INT8:
        printf("%d", (int8_t)raw_u64(kv, type, i));
        return;
    case MG_GGUF_INT16:
        printf("%d", (int16_t)raw_u64(kv, type, i));
        return;
    case MG_GGUF_INT32:
        printf("%" PRId32, (int32_t)raw_u64(kv, type, i));
        return;
    case MG_GGUF_INT64:
        printf("%" PRId64, (int64_t)raw_u64(kv, type, i));
        return;
    case MG_GGUF_FLOAT32:
        printf("%.9g", raw_f32(kv, i));
        return;
    case MG_GGUF_FLOAT64:
        printf("%.17g", raw_f64(kv, i));
        return;
    default:
        return;
    }
}

/* Stats of every tensor (out[i] for tensor i): in place for F32/F16/BF16,
 * dequantized for Q8_0; a type the reader cannot decode gets count 0. */
static void compute_stats(const mg_gguf_file *f, mg_tensor_stats *out) {
    uint64_t bytes = 0;
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++)
        bytes += mg_gguf_tensor_at(f, i)->numel * 4;
    mg_progress prog;
    mg_progress_begin(&prog, "stats", bytes, "B");
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++) {
        const mg_gguf_tensor *t = mg_gguf_tensor_at(f, i);
        mg_tensor_view v = {.name = t->name, .ndim = 1, .numel = t->numel, .data = t->data};
        v.shape[0] = (int64_t)t->numel;
        float *buf = NULL;
        if (t->type == MG_GGML_F32 || t->type == MG_GGML_F16 || t->type == MG_GGML_BF16) {
            v.dtype = t->type == MG_GGML_F32   ? MG_DTYPE_F32
                      : t->type == MG_GGML_F16 ? MG_DTYPE_F16
                                               : MG_DTYPE_BF16;
        } else {
            buf = mg_malloc_array((size_t)t->numel ? (size_t)t->numel : 1, sizeof *buf);
            mg_error err = {0};
            if (mg_gguf_tensor_to_f32(t, buf, &err)) {
                free(buf);
                memset(&out[i], 0, sizeof out[i]);
                mg_progress_add(&prog, t->numel * 4);
                continue;
            }
            v.dtype = MG_DTYPE_F32;
            v.data = buf;
        }
        v.nbytes = t->numel * mg_dtype_size(v.dtype);
        const mg_tensor_view *vp = &v;
        mg_tensor_stats_compute(&vp, 1, &out[i], NULL);
        mg_progress_add(&prog, t->numel * 4);
        free(buf);
    }
    mg_progress_end(&prog);
}

typedef struct type_row {
    uint32_t type;
    uint64_t tensors, params, bytes;
} type_row;

/* Per ggml type, in order of first appearance; *n rows. Owned. */
static type_row *histogram(const mg_gguf_file *f, size_t *n) {
    type_row *rows = mg_calloc(mg_gguf_tensor_count(f) + 1, sizeof *rows);
    *n = 0;
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++) {
        const mg_gguf_tensor *t = mg_gguf_tensor_at(f, i);
        size_t r = 0;
        while (r < *n && rows[r].type != t->type)
            r++;
        if (r == *n) rows[(*n)++].type = t->type;
        rows[r].tensors++;
        rows[r].params += t->numel;
        rows[r].bytes += t->nbytes;
    }
    return rows;
}

static void print_text(const mg_gguf_file *f, const char *path, const mg_tensor_stats *st) {
    printf("file          %s\n", path);
    printf("format        GGUF v%" PRIu32 ", alignment %" PRIu32 ", data at %" PRIu64 ", %" PRIu64
           " bytes\n",
           mg_gguf_version(f), mg_gguf_alignment(f), mg_gguf_data_offset(f), mg_gguf_file_size(f));
    uint64_t params = 0;
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++)
        params += mg_gguf_tensor_at(f, i)->numel;
    printf("tensors       %zu (%" PRIu64 " parameters)\n", mg_gguf_tensor_count(f), params);
    size_t nr;
    type_row *rows = histogram(f, &nr);
    printf("types        ");
    for (size_t r = 0; r < nr; r++)
        printf(" %s %" PRIu64 " (%" PRIu64 " bytes)%s", mg_ggml_type_name(rows[r].type),
               rows[r].tensors, rows[r].bytes, r + 1 < nr ? "," : "");
    printf("\n");
    free(rows);
    printf("\nmetadata (%zu keys)\n", mg_gguf_kv_count(f));
    for (size_t i = 0; i < mg_gguf_kv_count(f); i++) {
        const mg_gguf_kv *kv = mg_gguf_kv_at(f, i);
        if (kv->type == MG_GGUF_ARRAY) {
            printf("  %-44s %s[%" PRIu64 "] ", kv->key, mg_gguf_vtype_name(kv->arr_type), kv->n);
            putchar('[');
            uint64_t show = kv->n < ARRAY_SHOWN_TEXT ? kv->n : ARRAY_SHOWN_TEXT;
            for (uint64_t e = 0; e < show; e++) {
                if (e) fputs(", ", stdout);
                print_value(kv, kv->arr_type, e);
            }
            printf("%s]\n", kv->n > show ? ", ..." : "");
        } else {
            printf("  %-44s %-8s ", kv->key, mg_gguf_vtype_name(kv->type));
            print_value(kv, kv->type, 0);
            putchar('\n');
        }
    }
    printf("\n  %-40s %-6s %-24s %14s %12s", "tensor", "type", "ne (innermost first)", "offset",
           "bytes");
    if (st) printf("  %12s %12s %12s %12s %6s %6s", "mean", "std", "min", "max", "nan", "inf");
    printf("\n");
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++) {
        const mg_gguf_tensor *t = mg_gguf_tensor_at(f, i);
        char shape[96];
        size_t o = (size_t)snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < t->ndim && o < sizeof shape; d++)
            o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%" PRIu64, d ? ", " : "",
                                  t->ne[d]);
        if (o < sizeof shape) snprintf(shape + o, sizeof shape - o, "]");
        printf("  %-40s %-6s %-24s %14" PRIu64 " %12" PRIu64, t->name, mg_ggml_type_name(t->type),
               shape, t->offset, t->nbytes);
        if (st) mg_tensor_stats_print(stdout, &st[i]);
        printf("\n");
    }
}

/* ---- JSON ---- */

/* A GGUF string as a JSON string: bytes that are not valid UTF-8 become U+FFFD
 * (JSON text must be UTF-8; GGUF does not enforce it). */
static json_t *json_str(mg_gguf_str s) {
    json_t *j = json_stringn(s.s, (size_t)s.len);
    if (j) return j;
    char *buf = mg_malloc((size_t)s.len * 3 + 1), *o = buf;
    const unsigned char *p = (const unsigned char *)s.s, *end = p + s.len;
    while (p < end) {
        int n = *p < 0x80             ? 1
                : (*p & 0xE0) == 0xC0 ? 2
                : (*p & 0xF0) == 0xE0 ? 3
                : (*p & 0xF8) == 0xF0 ? 4
                                      : 0;
        json_t *probe = n && p + n <= end ? json_stringn((const char *)p, (size_t)n) : NULL;
        if (probe) {
            memcpy(o, p, (size_t)n);
            o += n, p += n;
            json_decref(probe);
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3, p++;
        }
    }
    j = json_stringn(buf, (size_t)(o - buf));
    free(buf);
    return j;
}

static json_t *json_real_or_null(double d) {
    return isfinite(d) ? json_real(d) : json_null();
}

static json_t *json_value(const mg_gguf_kv *kv, uint32_t type, uint64_t i) {
    switch (type) {
    case MG_GGUF_STRING:
        return json_str(kv->strs[i]);
    case MG_GGUF_BOOL:
        return json_boolean(kv->data[i]);
    case MG_GGUF_UINT8:
    case MG_GGUF_UINT16:
    case MG_GGUF_UINT32:
    case MG_GGUF_UINT64: {
        uint64_t u = raw_u64(kv, type, i);
        return u <= (uint64_t)INT64_MAX ? json_integer((json_int_t)u) : json_real((double)u);
    }
    case MG_GGUF_INT8:
        return json_integer((int8_t)raw_u64(kv, type, i));
    case MG_GGUF_INT16:
        return json_integer((int16_t)raw_u64(kv, type, i));
    case MG_GGUF_INT32:
        return json_integer((int32_t)raw_u64(kv, type, i));
    case MG_GGUF_INT64:
        return json_integer((json_int_t)(int64_t)raw_u64(kv, type, i));
    case MG_GGUF_FLOAT32:
        return json_real_or_null(raw_f32(kv, i));
    case MG_GGUF_FLOAT64:
        return json_real_or_null(raw_f64(kv, i));
    default:
        return json_null();
    }
}

static void print_json(const mg_gguf_file *f, const char *path, const mg_tensor_stats *st) {
    json_t *root = json_object();
    json_object_set_new(root, "path", json_string(path));
    json_object_set_new(root, "format", json_string("gguf"));
    json_object_set_new(root, "version", json_integer(mg_gguf_version(f)));
    json_object_set_new(root, "alignment", json_integer(mg_gguf_alignment(f)));
    json_object_set_new(root, "data_offset", json_integer((json_int_t)mg_gguf_data_offset(f)));
    json_object_set_new(root, "bytes", json_integer((json_int_t)mg_gguf_file_size(f)));
    const mg_gguf_kv *arch = mg_gguf_find_kv(f, "general.architecture");
    json_object_set_new(root, "architecture",
                        arch && arch->type == MG_GGUF_STRING ? json_str(arch->strs[0])
                                                             : json_null());
    uint64_t params = 0;
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++)
        params += mg_gguf_tensor_at(f, i)->numel;
    json_object_set_new(root, "parameters", json_integer((json_int_t)params));
    json_object_set_new(root, "tensor_count", json_integer((json_int_t)mg_gguf_tensor_count(f)));
    size_t nr;
    type_row *rows = histogram(f, &nr);
    json_t *dts = json_object();
    for (size_t r = 0; r < nr; r++) {
        json_t *o = json_object();
        json_object_set_new(o, "tensors", json_integer((json_int_t)rows[r].tensors));
        json_object_set_new(o, "parameters", json_integer((json_int_t)rows[r].params));
        json_object_set_new(o, "bytes", json_integer((json_int_t)rows[r].bytes));
        json_object_set_new(dts, mg_ggml_type_name(rows[r].type), o);
    }
    free(rows);
    json_object_set_new(root, "dtypes", dts);
    json_t *md = json_object();
    for (size_t i = 0; i < mg_gguf_kv_count(f); i++) {
        const mg_gguf_kv *kv = mg_gguf_kv_at(f, i);
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(mg_gguf_vtype_name(kv->type)));
        if (kv->type == MG_GGUF_ARRAY) {
            json_object_set_new(o, "element_type", json_string(mg_gguf_vtype_name(kv->arr_type)));
            json_object_set_new(o, "count", json_integer((json_int_t)kv->n));
            json_t *vals = json_array();
            for (uint64_t e = 0; e < kv->n && e < ARRAY_SHOWN_JSON; e++)
                json_array_append_new(vals, json_value(kv, kv->arr_type, e));
            json_object_set_new(o, "values", vals);
        } else {
            json_object_set_new(o, "value", json_value(kv, kv->type, 0));
        }
        json_object_set_new(md, kv->key, o);
    }
    json_object_set_new(root, "metadata", md);
    json_t *ts = json_array();
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++) {
        const mg_gguf_tensor *t = mg_gguf_tensor_at(f, i);
        json_t *o = json_object(), *ne = json_array(), *shape = json_array();
        json_object_set_new(o, "name", json_string(t->name));
        json_object_set_new(o, "dtype", json_string(mg_ggml_type_name(t->type)));
        for (int d = 0; d < t->ndim; d++) {
            json_array_append_new(ne, json_integer((json_int_t)t->ne[d]));
            json_array_append_new(shape, json_integer((json_int_t)t->ne[t->ndim - 1 - d]));
        }
        json_object_set_new(o, "shape", shape); // outermost first, as safetensors / PyTorch
        json_object_set_new(o, "ne", ne);       // innermost first, as ggml
        json_object_set_new(o, "offset", json_integer((json_int_t)t->offset));
        json_object_set_new(o, "bytes", json_integer((json_int_t)t->nbytes));
        if (st) json_object_set_new(o, "stats", mg_tensor_stats_json(&st[i]));
        json_array_append_new(ts, o);
    }
    json_object_set_new(root, "tensors", ts);
    mg_cli_print_json(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
}

int mg_gguf_inspect_cli(const char *path, bool as_json, bool stats) {
    mg_error err = {0};
    mg_gguf_file *f = NULL;
    if (mg_gguf_open(path, &f, &err)) return mg_cli_fail(&err);
    mg_tensor_stats *st = NULL;
    if (stats) {
        st = mg_calloc(mg_gguf_tensor_count(f) + 1, sizeof *st);
        compute_stats(f, st);
    }
    if (as_json)
        print_json(f, path, st);
    else
        print_text(f, path, st);
    free(st);
    mg_gguf_close(f);
    return fflush(stdout) == 0 ? 0 : 1;
}
