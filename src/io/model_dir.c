/* model_dir.c - see model_dir.h.
 *
 * Which weights a folder holds follows transformers' from_pretrained:
 * model.safetensors when present, else the sharded index
 * model.safetensors.index.json.
 * Pickled weights (pytorch_model.bin & co.) are never opened; when they are
 * the only weights, the folder is refused with a conversion hint. */
#include "io/model_dir.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "io/model_index.h"
#include "io/st_util.h"

struct mg_model {
    char *path; // as given
    char *dir;  // folder of the side files
    mg_model_config cfg;
    json_t *config_json;
    mg_st_file **shards;
    size_t nshards;
    const mg_tensor_view **sorted; // by name
    size_t n;
    uint64_t params;
};

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Pickled checkpoint names transformers / torch use. */
static bool is_pickle_name(const char *name) {
    return ends_with(name, ".bin") || ends_with(name, ".pt") || ends_with(name, ".pth") ||
           ends_with(name, ".ckpt") || ends_with(name, ".pkl") || ends_with(name, ".pickle");
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return mg_strdup(".");
    if (slash == path) return mg_strdup("/");
    return mg_strndup(path, (size_t)(slash - path));
}

/* ---- config.json ---- */

static mg_status get_pos_int(const json_t *cfg, const char *key, const char *what, int64_t *out,
                             mg_error *err) {
    int64_t v = 0;
    mg_status rc = mg_json_get_int_opt(cfg, key, what, &v, err);
    if (rc != MG_OK) return rc;
    if (json_object_get(cfg, key) && !json_is_null(json_object_get(cfg, key)) && v <= 0)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: field '%s': expected a positive integer, found %" PRId64, what,
                            key, v);
    *out = v;
    return MG_OK;
}

static mg_status parse_config(const char *path, json_t *j, mg_model_config *c, mg_error *err) {
    if (!json_is_object(j))
        return mg_error_set(err, MG_ERR_INVALID, "%s: expected a JSON object", path);
    memset(c, 0, sizeof *c);
    c->present = true;
    c->json = j;
    const json_t *arch = json_object_get(j, "architectures");
    if (arch && !json_is_null(arch)) {
        if (!json_is_array(arch))
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: field 'architectures': expected a list of strings", path);
        for (size_t i = 0; i < json_array_size(arch); i++)
            if (!json_is_string(json_array_get(arch, i)))
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s: field 'architectures[%zu]': expected a string", path, i);
        if (json_array_size(arch))
            snprintf(c->architecture, sizeof c->architecture, "%s",
                     json_string_value(json_array_get(arch, 0)));
    }
    const char *s = NULL;
    mg_status rc = mg_json_get_str_opt(j, "model_type", path, &s, err);
    if (rc != MG_OK) return rc;
    if (s) snprintf(c->model_type, sizeof c->model_type, "%s", s);
    s = NULL;
    // transformers >= 4.56 writes "dtype"; older versions "torch_dtype".
    rc = mg_json_get_str_opt(j, json_object_get(j, "torch_dtype") ? "torch_dtype" : "dtype", path,
                             &s, err);
    if (rc != MG_OK) return rc;
    if (s) snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", s);

    static const struct {
        const char *key;
        size_t off;
    } INTS[] = {
        {"hidden_size", offsetof(mg_model_config, hidden_size)},
        {"intermediate_size", offsetof(mg_model_config, intermediate_size)},
        {"num_hidden_layers", offsetof(mg_model_config, num_hidden_layers)},
        {"num_attention_heads", offsetof(mg_model_config, num_attention_heads)},
        {"num_key_value_heads", offsetof(mg_model_config, num_key_value_heads)},
        {"head_dim", offsetof(mg_model_config, head_dim)},
        {"vocab_size", offsetof(mg_model_config, vocab_size)},
        {"max_position_embeddings", offsetof(mg_model_config, max_position_embeddings)},
    };
    for (size_t i = 0; i < sizeof INTS / sizeof INTS[0]; i++) {
        rc = get_pos_int(j, INTS[i].key, path, (int64_t *)((char *)c + INTS[i].off), err);
        if (rc != MG_OK) return rc;
    }
    // HF defaults (LlamaConfig / Qwen2Config): rope_theta 10000, rms_norm_eps 1e-6,
    // num_key_value_heads = num_attention_heads, head_dim = hidden / heads.
    c->rope_theta = 10000.0;
    c->rms_norm_eps = 1e-6;
    const json_t *rp = json_object_get(j, "rope_parameters"); // transformers v5 layout
    if (!json_object_get(j, "rope_theta") && json_is_object(rp))
        rc = mg_json_get_num_opt(rp, "rope_theta", path, &c->rope_theta, err);
    else
        rc = mg_json_get_num_opt(j, "rope_theta", path, &c->rope_theta, err);
    if (rc != MG_OK) return rc;
    rc = mg_json_get_num_opt(j, "rms_norm_eps", path, &c->rms_norm_eps, err);
    if (rc != MG_OK) return rc;
    if (!(c->rope_theta > 0))
        return mg_error_set(err, MG_ERR_INVALID, "%s: field 'rope_theta': expected > 0, found %g",
                            path, c->rope_theta);
    if (!(c->rms_norm_eps >= 0))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: field 'rms_norm_eps': expected >= 0, found %g", path,
                            c->rms_norm_eps);
    rc = mg_json_get_bool_opt(j, "tie_word_embeddings", path, &c->tie_word_embeddings, err);
    if (rc != MG_OK) return rc;

    if (!c->num_key_value_heads) c->num_key_value_heads = c->num_attention_heads;
    if (c->num_attention_heads && c->num_attention_heads % c->num_key_value_heads)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: num_attention_heads %" PRId64
                            " is not a multiple of num_key_value_heads %" PRId64,
                            path, c->num_attention_heads, c->num_key_value_heads);
    if (!c->head_dim && c->hidden_size && c->num_attention_heads) {
        if (c->hidden_size % c->num_attention_heads)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: head_dim is absent and hidden_size %" PRId64
                                " is not divisible by num_attention_heads %" PRId64,
                                path, c->hidden_size, c->num_attention_heads);
        c->head_dim = c->hidden_size / c->num_attention_heads;
    }
    return MG_OK;
}

/* ---- tensors ---- */

static int cmp_view_name(const void *a, const void *b) {
    return strcmp((*(const mg_tensor_view *const *)a)->name,
                  (*(const mg_tensor_view *const *)b)->name);
}

static void index_tensors(mg_model *m) {
    size_t n = 0;
    for (size_t s = 0; s < m->nshards; s++)
        n += mg_st_count(m->shards[s]);
    m->sorted = mg_malloc_array(n ? n : 1, sizeof *m->sorted);
    m->n = 0;
    m->params = 0;
    for (size_t s = 0; s < m->nshards; s++)
        for (size_t i = 0; i < mg_st_count(m->shards[s]); i++) {
            const mg_tensor_view *t = mg_st_at(m->shards[s], i);
            m->sorted[m->n++] = t;
            m->params += t->numel;
        }
    qsort(m->sorted, m->n, sizeof *m->sorted, cmp_view_name);
}

/* Finds weights in a folder without an index or model.safetensors, to explain
 * what is there instead. */
static mg_status no_weights(const char *dir, bool has_config, mg_error *err) {
    DIR *d = opendir(dir);
    if (!d) return mg_error_set(err, MG_ERR_IO, "%s: cannot list folder", dir);
    char pickle[256] = "", other[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (is_pickle_name(e->d_name) && (!pickle[0] || strcmp(e->d_name, pickle) < 0))
            snprintf(pickle, sizeof pickle, "%s", e->d_name);
        if (ends_with(e->d_name, ".safetensors") && (!other[0] || strcmp(e->d_name, other) < 0))
            snprintf(other, sizeof other, "%s", e->d_name);
    }
    closedir(d);
    if (pickle[0] && !other[0]) {
        char *p = mg_path_join(dir, pickle);
        mg_status rc = mg_pickle_refuse(p, "a pickled PyTorch checkpoint", err);
        free(p);
        return rc;
    }
    if (!has_config && !other[0])
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: not a Hugging Face model folder: no config.json and no "
                            "*.safetensors weights",
                            dir);
    if (other[0])
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: no model.safetensors or model.safetensors.index.json (found "
                            "'%s'; pass that file's path to open it alone)",
                            dir, other);
    return mg_error_set(err, MG_ERR_INVALID,
                        "%s: no weights: expected model.safetensors or "
                        "model.safetensors.index.json",
                        dir);
}

/* True for a per-layer tensor name ("model.layers.12.mlp.up_proj.weight"). */
static bool is_layer_name(const char *name) {
    for (const char *p = strchr(name, '.'); p; p = strchr(p + 1, '.')) {
        const char *q = p + 1;
        while (*q >= '0' && *q <= '9')
            q++;
        if (q > p + 1 && *q == '.') return true;
    }
    return false;
}

/* The one dtype of a shard's layer matrices (2-D float tensors of a layer),
 * or MG_DTYPE_COUNT when it has none or several; *t is one of them. */
static mg_dtype shard_layer_dtype(const mg_st_file *f, const mg_tensor_view **t) {
    mg_dtype dt = MG_DTYPE_COUNT;
    *t = NULL;
    for (size_t i = 0; i < mg_st_count(f); i++) {
        const mg_tensor_view *v = mg_st_at(f, i);
        if (v->ndim != 2 || !mg_dtype_is_float(v->dtype) || !is_layer_name(v->name)) continue;
        if (*t && v->dtype != dt) return MG_DTYPE_COUNT;
        dt = v->dtype;
        if (!*t) *t = v;
    }
    return dt;
}

/* Shards of one checkpoint hold their layers in the config's torch_dtype. A
 * shard whose layer matrices are all in another dtype while other shards
 * match the config is half of a botched conversion (or a mix of two
 * checkpoints), which would merge and run with silently different precision.
 * Deliberate mixed precision is left alone: shards that mix dtypes
 * themselves, and non-layer tensors (an lm_head kept in f32 may well sit
 * alone in the last shard). */
static mg_status check_shard_dtypes(const mg_model *m, mg_error *err) {
    mg_dtype want;
    if (!mg_dtype_parse_torch(m->cfg.torch_dtype, &want)) return MG_OK;
    const mg_tensor_view *ok = NULL, *bad = NULL;
    size_t ok_shard = 0, bad_shard = 0;
    for (size_t s = 0; s < m->nshards; s++) {
        const mg_tensor_view *t;
        mg_dtype dt = shard_layer_dtype(m->shards[s], &t);
        if (dt == want && !ok) ok = t, ok_shard = s;
        if (dt != want && dt != MG_DTYPE_COUNT && !bad) bad = t, bad_shard = s;
    }
    if (!ok || !bad) return MG_OK;
    return mg_error_set(err, MG_ERR_INVALID,
                        "%s: shards disagree on dtype: tensor '%s' is %s but %s holds %s tensors "
                        "('%s') as config.json's torch_dtype '%s' says; re-save the model in one "
                        "dtype",
                        mg_st_path(m->shards[bad_shard]), bad->name, mg_dtype_name(bad->dtype),
                        mg_st_path(m->shards[ok_shard]), mg_dtype_name(want), ok->name,
                        m->cfg.torch_dtype);
}

static mg_status open_dir(mg_model *m, mg_error *err) {
    char *cfg_path = mg_path_join(m->dir, "config.json");
    char *index = mg_path_join(m->dir, "model.safetensors.index.json");
    char *single = mg_path_join(m->dir, "model.safetensors");
    bool has_config = mg_path_exists(cfg_path);
    mg_status rc;
    if (!mg_path_exists(index) && !mg_path_exists(single)) {
        rc = no_weights(m->dir, has_config, err);
        goto done;
    }
    if (!has_config) {
        rc = mg_error_set(err, MG_ERR_INVALID,
                          "%s: missing config.json (every Hugging Face model folder has one; "
                          "pass the .safetensors file's path to open the weights alone)",
                          m->dir);
        goto done;
    }
    // config.json files are a few KB; a cap keeps a hostile one (a 50 MB
    // string) from costing more than a clear refusal.
    char *text = NULL;
    size_t len = 0;
    rc = mg_file_read_all(cfg_path, MG_CONFIG_JSON_MAX, &text, &len, err);
    if (rc == MG_OK) rc = mg_json_load_buffer(text, len, cfg_path, &m->config_json, err);
    free(text);
    if (rc != MG_OK) goto done;
    rc = parse_config(cfg_path, m->config_json, &m->cfg, err);
    if (rc != MG_OK) goto done;
    if (mg_path_exists(single)) {
        m->shards = mg_calloc(1, sizeof *m->shards);
        rc = mg_st_open(single, &m->shards[0], err);
        if (rc == MG_OK) m->nshards = 1;
    } else {
        rc = mg_model_index_open(index, &m->shards, &m->nshards, err);
        if (rc == MG_OK) rc = check_shard_dtypes(m, err);
    }
done:
    free(cfg_path);
    free(index);
    free(single);
    return rc;
}

static mg_status open_file(mg_model *m, mg_error *err) {
    const char *base = strrchr(m->path, '/') ? strrchr(m->path, '/') + 1 : m->path;
    if (is_pickle_name(base)) return mg_pickle_refuse(m->path, "a pickled PyTorch checkpoint", err);
    if (ends_with(base, ".gguf"))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: GGUF files cannot be opened as a model here (safetensors only)",
                            m->path);
    if (ends_with(base, ".json"))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: a JSON file, not weights: pass the model folder instead", m->path);
    m->shards = mg_calloc(1, sizeof *m->shards);
    mg_status rc = mg_st_open(m->path, &m->shards[0], err); // also sniffs pickles
    if (rc == MG_OK) m->nshards = 1;
    return rc;
}

mg_status mg_model_open(const char *path, mg_model **out, mg_error *err) {
    *out = NULL;
    mg_model *m = mg_calloc(1, sizeof *m);
    m->path = mg_strdup(path);
    mg_status rc;
    if (mg_path_is_dir(path)) {
        m->dir = mg_strdup(path);
        rc = open_dir(m, err);
    } else if (mg_path_is_file(path)) {
        m->dir = dir_of(path);
        rc = open_file(m, err);
    } else {
        rc = mg_error_set(err, MG_ERR_NOT_FOUND, "%s: no such file or folder", path);
    }
    if (rc != MG_OK) goto fail;
    index_tensors(m);
    *out = m;
    return MG_OK;
fail:
    mg_model_close(m);
    return rc;
}

void mg_model_close(mg_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->nshards; i++)
        mg_st_close(m->shards[i]);
    free(m->shards);
    free(m->sorted);
    if (m->config_json) json_decref(m->config_json);
    free(m->path);
    free(m->dir);
    free(m);
}

const char *mg_model_path(const mg_model *m) {
    return m->path;
}

const mg_model_config *mg_model_config_of(const mg_model *m) {
    return &m->cfg;
}

size_t mg_model_shard_count(const mg_model *m) {
    return m->nshards;
}

const mg_st_file *mg_model_shard(const mg_model *m, size_t i) {
    return i < m->nshards ? m->shards[i] : NULL;
}

size_t mg_model_tensor_count(const mg_model *m) {
    return m->n;
}

const mg_tensor_view *mg_model_tensor_at(const mg_model *m, size_t i) {
    return i < m->n ? m->sorted[i] : NULL;
}

const mg_tensor_view *mg_model_find(const mg_model *m, const char *name) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->sorted[mid]->name, name);
        if (c == 0) return m->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const mg_tensor_view *mg_model_find_tied(const mg_model *m, const char *name) {
    const mg_tensor_view *t = mg_model_find(m, name);
    if (t) return t;
    // Tied checkpoints (tie_word_embeddings) store only one of the pair; HF's
    // tie_weights() makes lm_head share the embedding matrix.
    if (!strcmp(name, "lm_head.weight")) return mg_model_find(m, "model.embed_tokens.weight");
    if (!strcmp(name, "model.embed_tokens.weight")) return mg_model_find(m, "lm_head.weight");
    return NULL;
}

mg_status mg_model_read_f32(const mg_model *m, const char *name, float **out,
                            const mg_tensor_view **view, mg_error *err) {
    *out = NULL;
    const mg_tensor_view *t = mg_model_find_tied(m, name);
    if (!t) {
        char q[256];
        return mg_error_set(err, MG_ERR_NOT_FOUND, "%s: tensor '%s': not found", m->path,
                            mg_st_quote(name, q, sizeof q));
    }
    float *buf = mg_aligned_alloc((size_t)t->numel * sizeof(float));
    mg_status rc = mg_tensor_to_f32(t, buf, err);
    if (rc != MG_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    if (view) *view = t;
    return MG_OK;
}

uint64_t mg_model_param_count(const mg_model *m) {
    return m->params;
}

char *mg_model_file(const mg_model *m, const char *name) {
    char *p = mg_path_join(m->dir, name);
    if (mg_path_is_file(p)) return p;
    free(p);
    return NULL;
}
