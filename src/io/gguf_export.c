/* gguf_export.c - HF folder -> GGUF mapping and the streaming export. See gguf_export.h. */
#include "io/gguf_export.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/half.h"
#include "base/log.h"
#include "io/gguf.h"
#include "io/gguf_quant.h"
#include "io/gguf_vocab.h"

bool mg_gguf_outtype_parse(const char *s, mg_gguf_outtype *out) {
    static const char *N[] = {"f32", "f16", "bf16", "q8_0"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, N[i])) {
            *out = (mg_gguf_outtype)i;
            return true;
        }
    return false;
}

const char *mg_gguf_outtype_name(mg_gguf_outtype t) {
    static const char *N[] = {"f32", "f16", "bf16", "q8_0"};
    return (unsigned)t < 4 ? N[t] : "?";
}

const char *mg_gguf_arch_for(const mg_model_config *c) {
    const char *a = c->architecture;
    if (!strcmp(a, "LlamaForCausalLM") || !strcmp(a, "MistralForCausalLM")) return "llama";
    if (!strcmp(a, "Qwen2ForCausalLM")) return "qwen2";
    if (!strcmp(a, "Qwen3ForCausalLM")) return "qwen3";
    return NULL;
}

void mg_gguf_permute_qk(const float *src, float *dst, int64_t rows, int64_t cols, int64_t n_head) {
    int64_t d = rows / n_head, half = d / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(dst + (h * d + 2 * i + j) * cols, src + (h * d + j * half + i) * cols,
                       (size_t)cols * sizeof *dst);
}

void mg_gguf_unpermute_qk(const float *src, float *dst, int64_t rows, int64_t cols,
                          int64_t n_head) {
    int64_t d = rows / n_head, half = d / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(dst + (h * d + j * half + i) * cols, src + (h * d + 2 * i + j) * cols,
                       (size_t)cols * sizeof *dst);
}

static double num_or(const json_t *o, const char *key, double dflt) {
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

mg_status mg_gguf_llama3_rope_factors(const json_t *rs, double theta, int64_t head_dim, float *out,
                                      mg_error *err) {
    double factor = num_or(rs, "factor", 8.0), low = num_or(rs, "low_freq_factor", 1.0);
    double high = num_or(rs, "high_freq_factor", 4.0);
    double old_ctx = num_or(rs, "original_max_position_embeddings", 8192.0);
    if (head_dim < 2 || head_dim % 2 || factor <= 0 || high == low)
        return mg_error_set(err, MG_ERR_INVALID,
                            "config.json: rope_scaling llama3: head_dim %" PRId64
                            ", factor %g, low_freq_factor %g, high_freq_factor %g are unusable",
                            head_dim, factor, low, high);
    // All in float32, as the converter's torch code (python scalars meeting a
    // float32 tensor are cast to float32): matches its rope_freqs bit for bit.
    const float lo = (float)low, hi = (float)high, fac = (float)factor, ctx = (float)old_ctx;
    const float low_wl = ctx / lo, high_wl = ctx / hi;
    for (int64_t i = 0; i < head_dim / 2; i++) {
        float e = (float)(2 * i) / (float)head_dim;
        float freq = 1.0f / powf((float)theta, e);
        float wl = (float)(2.0 * 3.14159265358979323846) / freq;
        float f;
        if (wl < high_wl)
            f = 1.0f;
        else if (wl > low_wl)
            f = fac;
        else {
            float s = (ctx / wl - lo) / (hi - lo);
            f = 1.0f / ((1.0f - s) / fac + s);
        }
        out[i] = f;
    }
    return MG_OK;
}

/* ---- the tensor plan ---- */

enum { KIND_PLAIN, KIND_PERM_Q, KIND_PERM_K, KIND_ROPE_FREQS };

typedef struct plan_item {
    char gguf[MG_GGUF_MAX_NAME];
    char hf[256];
    int kind;
    mg_ggml_type type;
    int ndim;
    uint64_t ne[MG_GGUF_MAX_DIMS];
    const mg_tensor_view *view; // NULL for rope_freqs
} plan_item;

typedef struct plan {
    plan_item *it;
    size_t n, cap;
    float *rope_freqs; // head_dim/2 values when llama3 scaling
} plan;

static mg_ggml_type storage_type(const char *gguf, int ndim, uint64_t ne0, mg_gguf_outtype o) {
    size_t n = strlen(gguf);
    // convert_hf_to_gguf prepare_tensors: 1-D tensors and norms stay F32.
    if (ndim <= 1 || (n > 12 && !strcmp(gguf + n - 12, "_norm.weight"))) return MG_GGML_F32;
    switch (o) {
    case MG_GGUF_OUT_F32:
        return MG_GGML_F32;
    case MG_GGUF_OUT_F16:
        return MG_GGML_F16;
    case MG_GGUF_OUT_BF16:
        return MG_GGML_BF16;
    case MG_GGUF_OUT_Q8_0:
        if (ne0 % MG_Q8_0_BLOCK) {
            mg_log_warn("%s: rows of %" PRIu64 " are not whole Q8_0 blocks; writing F16 (as "
                        "convert_hf_to_gguf.py does)",
                        gguf, ne0);
            return MG_GGML_F16;
        }
        return MG_GGML_Q8_0;
    }
    return MG_GGML_F32;
}

static mg_status plan_add(plan *p, const mg_model *m, const char *hf, const char *gguf, int kind,
                          bool required, mg_gguf_outtype o, mg_error *err) {
    const mg_tensor_view *v = mg_model_find(m, hf);
    if (!v) {
        if (required)
            return mg_error_set(err, MG_ERR_INVALID, "%s: tensor '%s' is missing (needed for %s)",
                                mg_model_path(m), hf, gguf);
        return MG_OK;
    }
    if (v->ndim < 1 || v->ndim > MG_GGUF_MAX_DIMS)
        return mg_error_set(err, MG_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims (GGUF: 1..4)",
                            mg_model_path(m), hf, v->ndim);
    if (!mg_dtype_is_float(v->dtype))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: tensor '%s' has dtype %s, expected a float", mg_model_path(m), hf,
                            mg_dtype_name(v->dtype));
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->it = mg_realloc(p->it, p->cap * sizeof *p->it);
    }
    plan_item *it = &p->it[p->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->gguf, sizeof it->gguf, "%s", gguf);
    snprintf(it->hf, sizeof it->hf, "%s", hf);
    it->kind = kind;
    it->view = v;
    it->ndim = v->ndim;
    for (int d = 0; d < v->ndim; d++)
        it->ne[d] = (uint64_t)v->shape[v->ndim - 1 - d];
    it->type = storage_type(gguf, it->ndim, it->ne[0], o);
    return MG_OK;
}

/* Per-layer HF suffix -> GGUF suffix, in llama.cpp's usual order. */
static const struct {
    const char *hf, *gguf;
    int kind;
    bool required;
    const char *only; // architecture, or NULL for all
} LAYER_MAP[] = {
    {"input_layernorm.weight", "attn_norm.weight", KIND_PLAIN, true, NULL},
    {"self_attn.q_proj.weight", "attn_q.weight", KIND_PERM_Q, true, NULL},
    {"self_attn.q_proj.bias", "attn_q.bias", KIND_PERM_Q, false, NULL},
    {"self_attn.k_proj.weight", "attn_k.weight", KIND_PERM_K, true, NULL},
    {"self_attn.k_proj.bias", "attn_k.bias", KIND_PERM_K, false, NULL},
    {"self_attn.v_proj.weight", "attn_v.weight", KIND_PLAIN, true, NULL},
    {"self_attn.v_proj.bias", "attn_v.bias", KIND_PLAIN, false, NULL},
    {"self_attn.o_proj.weight", "attn_output.weight", KIND_PLAIN, true, NULL},
    {"self_attn.o_proj.bias", "attn_output.bias", KIND_PLAIN, false, NULL},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", KIND_PLAIN, true, "qwen3"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", KIND_PLAIN, true, "qwen3"},
    {"post_attention_layernorm.weight", "ffn_norm.weight", KIND_PLAIN, true, NULL},
    {"mlp.gate_proj.weight", "ffn_gate.weight", KIND_PLAIN, true, NULL},
    {"mlp.up_proj.weight", "ffn_up.weight", KIND_PLAIN, true, NULL},
    {"mlp.down_proj.weight", "ffn_down.weight", KIND_PLAIN, true, NULL},
};

static bool in_plan(const plan *p, const char *hf) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->it[i].hf, hf)) return true;
    return false;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static mg_status build_plan(const mg_model *m, const char *arch, const mg_gguf_export_opts *o,
                            plan *p, mg_error *err) {
    const mg_model_config *c = mg_model_config_of(m);
    mg_status st;
    bool llama = !strcmp(arch, "llama");
    const json_t *rs = json_object_get(c->json, "rope_scaling");
    const char *rtype = json_string_value(json_object_get(rs, "rope_type"));
    if (!rtype) rtype = json_string_value(json_object_get(rs, "type"));
    if (rtype && !strcasecmp(rtype, "llama3")) {
        if (!llama)
            return mg_error_set(err, MG_ERR_UNSUPPORTED,
                                "config.json: rope_scaling llama3 on architecture %s", arch);
        p->rope_freqs = mg_malloc_array((size_t)c->head_dim / 2 + 1, sizeof(float));
        if ((st = mg_gguf_llama3_rope_factors(rs, c->rope_theta, c->head_dim, p->rope_freqs, err)))
            return st;
        p->it = mg_calloc(64, sizeof *p->it);
        p->cap = 64;
        plan_item *it = &p->it[p->n++];
        snprintf(it->gguf, sizeof it->gguf, "rope_freqs.weight");
        it->kind = KIND_ROPE_FREQS;
        it->type = MG_GGML_F32;
        it->ndim = 1;
        it->ne[0] = (uint64_t)c->head_dim / 2;
    }
    if ((st = plan_add(p, m, "model.embed_tokens.weight", "token_embd.weight", KIND_PLAIN, true,
                       o->outtype, err)))
        return st;
    for (int64_t l = 0; l < c->num_hidden_layers; l++)
        for (size_t k = 0; k < sizeof LAYER_MAP / sizeof LAYER_MAP[0]; k++) {
            if (LAYER_MAP[k].only && strcmp(LAYER_MAP[k].only, arch)) continue;
            char hf[256], gg[MG_GGUF_MAX_NAME];
            snprintf(hf, sizeof hf, "model.layers.%" PRId64 ".%s", l, LAYER_MAP[k].hf);
            snprintf(gg, sizeof gg, "blk.%" PRId64 ".%s", l, LAYER_MAP[k].gguf);
            int kind = llama ? LAYER_MAP[k].kind : KIND_PLAIN; // NEOX rope: no permutation
            if ((st = plan_add(p, m, hf, gg, kind, LAYER_MAP[k].required, o->outtype, err)))
                return st;
        }
    if ((st = plan_add(p, m, "model.norm.weight", "output_norm.weight", KIND_PLAIN, true,
                       o->outtype, err)) ||
        (st =
             plan_add(p, m, "lm_head.weight", "output.weight", KIND_PLAIN, false, o->outtype, err)))
        return st;
    // Every HF tensor must have found a place: llama.cpp refuses extra tensors
    // and a silently dropped one would be a different model.
    for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
        const char *n = mg_model_tensor_at(m, i)->name;
        if (in_plan(p, n) || ends_with(n, "rotary_emb.inv_freq")) continue;
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: tensor '%s' has no GGUF name for architecture %s",
                            mg_model_path(m), n, arch);
    }
    // The permutation needs whole heads of even size.
    for (size_t i = 0; i < p->n; i++) {
        plan_item *it = &p->it[i];
        if (it->kind != KIND_PERM_Q && it->kind != KIND_PERM_K) continue;
        int64_t heads = it->kind == KIND_PERM_Q ? c->num_attention_heads : c->num_key_value_heads;
        int64_t rows = it->view->shape[0];
        if (heads <= 0 || rows % (2 * heads))
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: tensor '%s' has %" PRId64
                                " rows, not a multiple of 2 x %" PRId64 " heads",
                                mg_model_path(m), it->hf, rows, heads);
    }
    return MG_OK;
}

/* ---- metadata ---- */

static mg_status add_key_u32(mg_gguf_writer *w, const char *arch, const char *key, int64_t v,
                             mg_error *err) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (v < 0 || v > UINT32_MAX)
        return mg_error_set(err, MG_ERR_INVALID,
                            "config.json: %s = %" PRId64 " does not fit UINT32", k, v);
    return mg_gguf_add_u32(w, k, (uint32_t)v, err);
}

static mg_status add_key_f32(mg_gguf_writer *w, const char *arch, const char *key, double v,
                             mg_error *err) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return mg_gguf_add_f32(w, k, (float)v, err);
}

static uint32_t file_type_of(mg_gguf_outtype o) {
    switch (o) {
    case MG_GGUF_OUT_F32:
        return MG_GGUF_FTYPE_ALL_F32;
    case MG_GGUF_OUT_F16:
        return MG_GGUF_FTYPE_MOSTLY_F16;
    case MG_GGUF_OUT_BF16:
        return MG_GGUF_FTYPE_MOSTLY_BF16;
    case MG_GGUF_OUT_Q8_0:
        return MG_GGUF_FTYPE_MOSTLY_Q8_0;
    }
    return 0;
}

static mg_status add_metadata(mg_gguf_writer *w, const mg_model *m, const char *arch,
                              const mg_gguf_export_opts *o, size_t n_vocab, mg_error *err) {
    const mg_model_config *c = mg_model_config_of(m);
    const char *name = o->name;
    char base[256];
    if (!name) {
        const char *p = mg_model_path(m);
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
            n--;
        size_t s = n;
        while (s > 0 && p[s - 1] != '/')
            s--;
        snprintf(base, sizeof base, "%.*s", (int)(n - s), p + s);
        name = base;
    }
    mg_status st;
    if ((st = mg_gguf_add_str(w, "general.architecture", arch, err)) ||
        (st = mg_gguf_add_str(w, "general.type", "model", err)) ||
        (st = mg_gguf_add_str(w, "general.name", name, err)) ||
        (st = mg_gguf_add_u32(w, "general.file_type", file_type_of(o->outtype), err)) ||
        (st = mg_gguf_add_u32(w, "general.quantization_version", 2, err)) ||
        (st = mg_gguf_add_u32(w, "general.alignment", MG_GGUF_ALIGNMENT, err)))
        return st;
    // TextModel.set_gguf_parameters (+ LlamaModel's vocab_size / rope dims).
    if ((st = add_key_u32(w, arch, "block_count", c->num_hidden_layers, err)) ||
        (st = add_key_u32(w, arch, "context_length", c->max_position_embeddings, err)) ||
        (st = add_key_u32(w, arch, "embedding_length", c->hidden_size, err)) ||
        (st = add_key_u32(w, arch, "feed_forward_length", c->intermediate_size, err)) ||
        (st = add_key_u32(w, arch, "attention.head_count", c->num_attention_heads, err)) ||
        (st = add_key_u32(w, arch, "attention.head_count_kv", c->num_key_value_heads, err)) ||
        (st = add_key_f32(w, arch, "rope.freq_base", c->rope_theta, err)) ||
        (st = add_key_f32(w, arch, "attention.layer_norm_rms_epsilon", c->rms_norm_eps, err)))
        return st;
    if (json_object_get(c->json, "head_dim") &&
        ((st = add_key_u32(w, arch, "attention.key_length", c->head_dim, err)) ||
         (st = add_key_u32(w, arch, "attention.value_length", c->head_dim, err))))
        return st;
    // vocab_size for every architecture: it is what llama.cpp sizes the
    // output by when the file carries no vocabulary.
    if ((st = add_key_u32(w, arch, "vocab_size", (int64_t)n_vocab, err))) return st;
    if (!strcmp(arch, "llama") &&
        (st = add_key_u32(w, arch, "rope.dimension_count", c->head_dim, err)))
        return st;
    const json_t *rs = json_object_get(c->json, "rope_scaling");
    if (json_is_object(rs)) {
        const char *t = json_string_value(json_object_get(rs, "rope_type"));
        if (!t) t = json_string_value(json_object_get(rs, "type"));
        double factor = num_or(rs, "factor", 0);
        char k[128];
        if (!t || !strcasecmp(t, "default") || !strcasecmp(t, "llama3")) {
            // none, or expressed by rope_freqs.weight
        } else if ((!strcasecmp(t, "linear") || !strcasecmp(t, "yarn")) && factor > 0) {
            snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
            if ((st = mg_gguf_add_str(w, k, !strcasecmp(t, "yarn") ? "yarn" : "linear", err)) ||
                (st = add_key_f32(w, arch, "rope.scaling.factor", factor, err)))
                return st;
            if (!strcasecmp(t, "yarn") &&
                (st = add_key_u32(w, arch, "rope.scaling.original_context_length",
                                  (int64_t)num_or(rs, "original_max_position_embeddings",
                                                  (double)c->max_position_embeddings),
                                  err)))
                return st;
        } else {
            return mg_error_set(err, MG_ERR_UNSUPPORTED,
                                "config.json: rope_scaling type '%s' cannot be written as GGUF "
                                "by mergeguard (supported: linear, yarn, llama3)",
                                t);
        }
    }
    return MG_OK;
}

/* ---- data ---- */

/* Converts one tensor to its storage bytes. buf holds the f32 values. */
static mg_status write_item(mg_gguf_writer *w, size_t idx, const plan_item *it, const plan *p,
                            const mg_model *m, mg_error *err) {
    float *x = NULL, *tmp = NULL;
    void *out = NULL;
    uint64_t numel = 1;
    for (int d = 0; d < it->ndim; d++)
        numel *= it->ne[d];
    mg_status st = MG_OK;
    if (it->kind == KIND_ROPE_FREQS) {
        x = mg_malloc_array((size_t)numel, sizeof *x);
        memcpy(x, p->rope_freqs, (size_t)numel * sizeof *x);
    } else if ((st = mg_model_read_f32(m, it->hf, &x, NULL, err))) {
        return st;
    }
    if (it->kind == KIND_PERM_Q || it->kind == KIND_PERM_K) {
        const mg_model_config *c = mg_model_config_of(m);
        int64_t heads = it->kind == KIND_PERM_Q ? c->num_attention_heads : c->num_key_value_heads;
        int64_t rows = it->view->shape[0], cols = (int64_t)(numel / (uint64_t)rows);
        tmp = mg_aligned_alloc((size_t)numel * sizeof *tmp);
        mg_gguf_permute_qk(x, tmp, rows, cols, heads);
        float *s = x;
        x = tmp;
        tmp = s;
    }
    uint64_t nbytes = mg_gguf_writer_tensor_nbytes(w, idx);
    switch (it->type) {
    case MG_GGML_F32:
        st = mg_gguf_writer_write(w, idx, x, nbytes, err);
        break;
    case MG_GGML_F16:
        out = mg_malloc((size_t)nbytes);
        mg_f32_to_f16_array(x, out, (size_t)numel);
        st = mg_gguf_writer_write(w, idx, out, nbytes, err);
        break;
    case MG_GGML_BF16:
        out = mg_malloc((size_t)nbytes);
        mg_f32_to_bf16_array(x, out, (size_t)numel);
        st = mg_gguf_writer_write(w, idx, out, nbytes, err);
        break;
    case MG_GGML_Q8_0:
        out = mg_malloc((size_t)nbytes);
        mg_q8_0_quantize(x, out, (size_t)numel);
        st = mg_gguf_writer_write(w, idx, out, nbytes, err);
        break;
    }
    free(out);
    free(tmp);
    free(x);
    return st;
}

mg_status mg_gguf_export_model(const mg_model *m, const char *out_path,
                               const mg_gguf_export_opts *opts, mg_gguf_export_info *info,
                               mg_error *err) {
    const mg_model_config *c = mg_model_config_of(m);
    if (!c->present)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: export-gguf needs a model folder with config.json",
                            mg_model_path(m));
    const char *arch = mg_gguf_arch_for(c);
    if (!arch)
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: architecture '%s' cannot be written as GGUF by mergeguard "
                            "(supported: LlamaForCausalLM, MistralForCausalLM, "
                            "Qwen2ForCausalLM, Qwen3ForCausalLM)",
                            mg_model_path(m), c->architecture[0] ? c->architecture : "(none)");
    plan p = {0};
    mg_gguf_vocab voc = {0};
    mg_gguf_writer *w = mg_gguf_writer_new();
    mg_status st = build_plan(m, arch, opts, &p, err);
    if (st) goto done;
    // The vocabulary has exactly the embedding's rows (llama.cpp checks it).
    const mg_tensor_view *emb = mg_model_find(m, "model.embed_tokens.weight");
    size_t n_vocab = (size_t)emb->shape[0];
    st = mg_gguf_vocab_load(mg_model_path(m), arch, n_vocab, c->json, &voc, err);
    if (!st && voc.warning[0]) mg_log_warn("%s", voc.warning);
    if (st || (st = add_metadata(w, m, arch, opts, n_vocab, err)) ||
        (st = mg_gguf_vocab_write(&voc, w, err)))
        goto done;
    for (size_t i = 0; i < p.n; i++)
        if ((st = mg_gguf_add_tensor(w, p.it[i].gguf, p.it[i].type, p.it[i].ndim, p.it[i].ne, NULL,
                                     err)))
            goto done;
    // Everything is validated: only now touch the output path.
    if ((st = mg_gguf_writer_begin(w, out_path, opts->force, err))) goto done;
    mg_progress prog;
    mg_progress_begin(&prog, "export-gguf", p.n, "tensors");
    for (size_t i = 0; i < p.n && !st; i++) {
        st = write_item(w, i, &p.it[i], &p, m, err);
        mg_progress_add(&prog, 1);
    }
    mg_progress_end(&prog);
    if (!st) st = mg_gguf_writer_commit(w, err);
    if (!st && info) {
        memset(info, 0, sizeof *info);
        snprintf(info->arch, sizeof info->arch, "%s", arch);
        snprintf(info->tok_model, sizeof info->tok_model, "%s", voc.model);
        info->n_tensors = p.n;
        info->n_tokens = strcmp(voc.model, "none") ? voc.n : 0;
        info->file_bytes = mg_gguf_writer_file_size(w);
    }
done:
    mg_gguf_writer_free(w); // removes the temporary file unless committed
    mg_gguf_vocab_free(&voc);
    free(p.it);
    free(p.rope_freqs);
    return st;
}

mg_status mg_gguf_export(const char *model_path, const char *out_path,
                         const mg_gguf_export_opts *opts, mg_gguf_export_info *info,
                         mg_error *err) {
    mg_model *m = NULL;
    mg_status st = mg_model_open(model_path, &m, err);
    if (st) return st;
    st = mg_gguf_export_model(m, out_path, opts, info, err);
    mg_model_close(m);
    return st;
}
