/* inspect.c - `mergeguard inspect PATH [--stats] [--json]`: validates a model
 * folder or a single .safetensors file and describes it: architecture,
 * parameter count, dtype histogram and one row per tensor; --stats adds
 * mean / std / min / max and NaN / Inf counts from one multi-threaded pass.
 * Everything is validated (mg_model_open) before anything is printed, so a bad
 * input gives one error line and no partial output. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cli/cli.h"
#include "io/model_dir.h"
#include "io/tensor_stats.h"

static const char *HELP =
    "usage: mergeguard inspect PATH [--stats] [--json] [--threads N] [-q] [-v]\n"
    "\n"
    "Validates and describes a Hugging Face model folder (config.json plus\n"
    "model.safetensors or a sharded model.safetensors.index.json) or a single\n"
    ".safetensors file: architecture, parameter count, dtype histogram and a\n"
    "table of every tensor (name, dtype, shape, bytes). Any problem (bad header,\n"
    "offsets, index, config.json, pickled weights) is reported on one line with\n"
    "exit code 2. A PATH ending in .gguf is read as a GGUF file (metadata with\n"
    "exact types, ggml tensor types, offsets; --stats and --json as above).\n"
    "\n"
    "options:\n"
    "  --stats       add mean, std, min, max and NaN/Inf counts per tensor (one\n"
    "                streaming pass over all weights, on every thread)\n"
    "  --json        print one JSON document instead of text\n"
    "  --threads N   threads for --stats (default: all cores)\n"
    "  -q, -v        quieter / more verbose logging on stderr\n";

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* 1234567 -> "1,234,567". */
static const char *commas(uint64_t v, char *buf, size_t cap) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static const char *human(double v, char *buf, size_t cap) {
    static const char *SFX[] = {"", "K", "M", "B", "T"};
    int i = 0;
    while (v >= 1000 && i < 4)
        v /= 1000, i++;
    snprintf(buf, cap, i ? "%.2f%s" : "%.0f%s", v, SFX[i]);
    return buf;
}

static const char *shape_str(const mg_tensor_view *t, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

typedef struct dtype_row {
    uint64_t tensors, params, bytes;
} dtype_row;

static void histogram(const mg_model *m, dtype_row rows[MG_DTYPE_COUNT]) {
    memset(rows, 0, sizeof(dtype_row) * MG_DTYPE_COUNT);
    for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
        const mg_tensor_view *t = mg_model_tensor_at(m, i);
        rows[t->dtype].tensors++;
        rows[t->dtype].params += t->numel;
        rows[t->dtype].bytes += t->nbytes;
    }
}

static size_t shard_of(const mg_model *m, const mg_tensor_view *t) {
    for (size_t s = 0; s < mg_model_shard_count(m); s++)
        if (mg_st_path(mg_model_shard(m, s)) == t->file_path) return s;
    return 0;
}

static void print_text(const mg_model *m, const mg_tensor_stats *st) {
    const mg_model_config *c = mg_model_config_of(m);
    char a[64], b[64];
    uint64_t fbytes = 0;
    for (size_t s = 0; s < mg_model_shard_count(m); s++)
        fbytes += mg_st_file_size(mg_model_shard(m, s));
    size_t ns = mg_model_shard_count(m);
    printf("model         %s\n", mg_model_path(m));
    printf("weights       %zu safetensors file%s, %s bytes%s%s%s\n", ns, ns == 1 ? "" : "s",
           commas(fbytes, a, sizeof a), ns == 1 ? " (" : "",
           ns == 1 ? base_name(mg_st_path(mg_model_shard(m, 0))) : "", ns == 1 ? ")" : "");
    if (c->present) {
        printf("architecture  %s (model_type %s)%s%s\n", c->architecture[0] ? c->architecture : "?",
               c->model_type[0] ? c->model_type : "?", c->torch_dtype[0] ? ", torch_dtype " : "",
               c->torch_dtype);
        printf("dimensions    %" PRId64 " layers, hidden %" PRId64 ", intermediate %" PRId64
               ", heads %" PRId64 " (KV %" PRId64 ", head_dim %" PRId64 "), vocab %" PRId64
               ", max positions %" PRId64 "\n",
               c->num_hidden_layers, c->hidden_size, c->intermediate_size, c->num_attention_heads,
               c->num_key_value_heads, c->head_dim, c->vocab_size, c->max_position_embeddings);
        printf("settings      rope_theta %g, rms_norm_eps %g, tie_word_embeddings %s\n",
               c->rope_theta, c->rms_norm_eps, c->tie_word_embeddings ? "true" : "false");
    } else {
        printf("architecture  unknown (a lone .safetensors file has no config.json)\n");
    }
    printf("parameters    %s (%s) in %zu tensors\n\n", commas(mg_model_param_count(m), a, sizeof a),
           human((double)mg_model_param_count(m), b, sizeof b), mg_model_tensor_count(m));

    dtype_row rows[MG_DTYPE_COUNT];
    histogram(m, rows);
    printf("%-8s %8s %16s %18s\n", "dtype", "tensors", "parameters", "bytes");
    for (int d = 0; d < MG_DTYPE_COUNT; d++) {
        if (!rows[d].tensors) continue;
        char p[32], y[32];
        printf("%-8s %8" PRIu64 " %16s %18s\n", mg_dtype_name((mg_dtype)d), rows[d].tensors,
               commas(rows[d].params, p, sizeof p), commas(rows[d].bytes, y, sizeof y));
    }
    printf("\n");

    int wn = 4, ws = 5;
    for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
        const mg_tensor_view *t = mg_model_tensor_at(m, i);
        char sh[256];
        int l = (int)strlen(t->name), k = (int)strlen(shape_str(t, sh, sizeof sh));
        if (l > wn) wn = l;
        if (k > ws) ws = k;
    }
    printf("%-*s  %-7s  %-*s  %14s", wn, "name", "dtype", ws, "shape", "bytes");
    if (ns > 1) printf("  %5s", "shard");
    if (st) printf("  %12s %12s %12s %12s %6s %6s", "mean", "std", "min", "max", "nan", "inf");
    printf("\n");
    for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
        const mg_tensor_view *t = mg_model_tensor_at(m, i);
        char sh[256], y[32];
        printf("%-*s  %-7s  %-*s  %14s", wn, t->name, mg_dtype_name(t->dtype), ws,
               shape_str(t, sh, sizeof sh), commas(t->nbytes, y, sizeof y));
        if (ns > 1) printf("  %5zu", shard_of(m, t) + 1);
        if (st) mg_tensor_stats_print(stdout, &st[i]);
        printf("\n");
    }
}

static json_t *config_json(const mg_model_config *c) {
    if (!c->present) return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "architecture", json_string(c->architecture));
    json_object_set_new(o, "model_type", json_string(c->model_type));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->num_hidden_layers));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "num_attention_heads", json_integer(c->num_attention_heads));
    json_object_set_new(o, "num_key_value_heads", json_integer(c->num_key_value_heads));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    json_object_set_new(o, "torch_dtype",
                        c->torch_dtype[0] ? json_string(c->torch_dtype) : json_null());
    return o;
}

static void print_json(const mg_model *m, const mg_tensor_stats *st) {
    json_t *root = json_object();
    json_object_set_new(root, "path", json_string(mg_model_path(m)));
    json_t *shards = json_array();
    for (size_t s = 0; s < mg_model_shard_count(m); s++) {
        const mg_st_file *f = mg_model_shard(m, s);
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(base_name(mg_st_path(f))));
        json_object_set_new(o, "bytes", json_integer((json_int_t)mg_st_file_size(f)));
        json_object_set_new(o, "tensors", json_integer((json_int_t)mg_st_count(f)));
        json_array_append_new(shards, o);
    }
    json_object_set_new(root, "shards", shards);
    json_object_set_new(root, "config", config_json(mg_model_config_of(m)));
    json_object_set_new(root, "parameters", json_integer((json_int_t)mg_model_param_count(m)));
    json_object_set_new(root, "tensor_count", json_integer((json_int_t)mg_model_tensor_count(m)));
    dtype_row rows[MG_DTYPE_COUNT];
    histogram(m, rows);
    json_t *dts = json_object();
    for (int d = 0; d < MG_DTYPE_COUNT; d++) {
        if (!rows[d].tensors) continue;
        json_t *o = json_object();
        json_object_set_new(o, "tensors", json_integer((json_int_t)rows[d].tensors));
        json_object_set_new(o, "parameters", json_integer((json_int_t)rows[d].params));
        json_object_set_new(o, "bytes", json_integer((json_int_t)rows[d].bytes));
        json_object_set_new(dts, mg_dtype_name((mg_dtype)d), o);
    }
    json_object_set_new(root, "dtypes", dts);
    json_t *ts = json_array();
    for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
        const mg_tensor_view *t = mg_model_tensor_at(m, i);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(t->name));
        json_object_set_new(o, "dtype", json_string(mg_dtype_name(t->dtype)));
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "bytes", json_integer((json_int_t)t->nbytes));
        json_object_set_new(o, "file", json_string(base_name(t->file_path)));
        if (st) json_object_set_new(o, "stats", mg_tensor_stats_json(&st[i]));
        json_array_append_new(ts, o);
    }
    json_object_set_new(root, "tensors", ts);
    mg_cli_print_json(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
}

int mg_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool stats = false, as_json = false;
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--stats")) {
            stats = true;
        } else if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return mg_cli_usage_error("inspect", "unknown option '%s'", argv[i]);
        } else if (path) {
            return mg_cli_usage_error("inspect", "one PATH expected, got '%s' and '%s'", path,
                                      argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return mg_cli_usage_error("inspect", "missing PATH (a model folder or .safetensors)");

    size_t plen = strlen(path);
    if (plen > 5 && !strcmp(path + plen - 5, ".gguf"))
        return mg_gguf_inspect_cli(path, as_json, stats);
    mg_error err = {0};
    mg_model *m = NULL;
    if (mg_model_open(path, &m, &err) != MG_OK) return mg_cli_fail(&err);
    mg_tensor_stats *st = NULL;
    if (stats) {
        size_t n = mg_model_tensor_count(m);
        uint64_t bytes = 0;
        for (size_t i = 0; i < n; i++)
            bytes += mg_model_tensor_at(m, i)->nbytes;
        st = mg_calloc(n ? n : 1, sizeof *st);
        mg_progress prog;
        mg_progress_begin(&prog, "stats", bytes, "B");
        mg_model_stats_compute(m, st, &prog);
        mg_progress_end(&prog);
    }
    if (as_json)
        print_json(m, st);
    else
        print_text(m, st);
    free(st);
    mg_model_close(m);
    return fflush(stdout) == 0 ? 0 : 1;
}
