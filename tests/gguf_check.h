/* gguf_check.h - shared by the GGUF round-trip tests (tests/io/test_gguf_fixtures.c,
 * tests/cli/test_gguf_lab.c): checks a GGUF file written by mg_gguf_export,
 * read back through the project's reader, against the HF folder it came from.
 *
 * The expectations are written here from the reference notes (inference.md A2,
 * A3) and the HF files themselves, not taken from the exporter's tables:
 *  - metadata: every key of the file is in the A2 table (general.*, <arch>.*,
 *    tokenizer.*) with exactly the table's type, the required keys are there,
 *    and each value equals its config.json source;
 *  - tensors: the GGUF set is exactly the HF set renamed (plus rope_freqs.weight
 *    for llama3 rope scaling, minus nothing), ne = the HF shape reversed, norms
 *    and 1-D tensors F32, 2-D tensors in the requested type (Q8_0 rows that are
 *    not whole blocks: F16);
 *  - elements, one by one, in the GGUF layout: the HF tensor with llama's Q/K
 *    rows permuted (new row h*d + 2i + j = old row h*d + j*d/2 + i, computed here
 *    independently); F32 bit-exact, F16/BF16 bit-exact against the
 *    round-to-nearest-even conversion; Q8_0 per 32-value block: the stored
 *    scale is f16(d), d = amax/127, each int8 is ggml's round(x * (1/d)), and
 *    the dequantized value is within half a step: |x - d16*q| <= d/2 +
 *    |q|*|d16 - d| (the second term is the f16 rounding of the stored scale;
 *    d/2 is widened by 2^-14 for the float rounding of x * (1/d));
 *  - tokenizer (when the folder has tokenizer.json): tokens by id from the
 *    vocabulary and added tokens ("[PAD<i>]" fillers up to the embedding's rows),
 *    token types, merges ("a b", spaces in list-of-pairs pieces as U+0120),
 *    BOS/EOS/UNK/PAD ids from tokenizer_config.json (else config.json), EOT =
 *    the end-of-turn token the chat template uses, add_bos/add_eos, and the chat
 *    template string byte for byte; without tokenizer.json, model "none" and no
 *    other tokenizer key.
 * Figures (elements compared, Q8_0 error relative to the bound) accumulate in
 * gguf_check_stats. Failures are reported with test.h's CHECK macros. */
#ifndef MG_TESTS_GGUF_CHECK_H
#define MG_TESTS_GGUF_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "base/json.h"
#include "io/gguf_export.h"
#include "io/gguf_reader.h"
#include "io/model_dir.h"
#include "test.h"

typedef struct gguf_check_stats {
    uint64_t files, tensors, elements; // compared
    uint64_t exact;                    // F32/F16/BF16 elements compared bit for bit
    uint64_t q8_elements, q8_blocks;
    double q8_max_ratio;        // max |x - deq| / (d/2), d = amax/127 (f32, before f16 rounding)
    double q8_max_ratio_stored; // max |x - deq| / (d16/2), d16 the stored f16 scale
    uint64_t q8_over_stored;    // elements with |x - deq| > d16/2 (allowed by the f16 term)
    double q8_max_bound;        // max |x - deq| / (d/2 + |q| |d16 - d|): <= 1
    uint64_t keys, tokens, merges;
} gguf_check_stats;

/* ---- fixture variants ---- */

/* A model folder parent/name: golden `fixture`'s config.json with `patch`
 * (a JSON object, or NULL) merged in, and a symlink to its weights. Owned path. */
static inline char *gc_fixture_variant(const char *parent, const char *name, const char *fixture,
                                       const char *patch) {
    char *dir = mg_path_join(parent, name), src[512];
    mg_error err = {0};
    CHECK_OK(mg_mkdir_p(dir, &err), &err);
    snprintf(src, sizeof src, "%s/golden/%s/config.json", MG_TEST_DATA, fixture);
    json_t *cfg = NULL, *p = patch ? json_loads(patch, 0, NULL) : NULL;
    CHECK(!patch || p != NULL);
    CHECK_OK(mg_json_load_file(src, &cfg, &err), &err);
    if (cfg && p) json_object_update(cfg, p);
    char *cp = mg_path_join(dir, "config.json");
    CHECK(cfg && json_dump_file(cfg, cp, JSON_INDENT(2)) == 0);
    json_decref(cfg);
    json_decref(p);
    free(cp);
    snprintf(src, sizeof src, "%s/golden/%s/model.safetensors", MG_TEST_DATA, fixture);
    char *link = mg_path_join(dir, "model.safetensors");
    CHECK(symlink(src, link) == 0);
    free(link);
    return dir;
}

/* ---- metadata table (inference.md A2 / A3) ---- */

enum { GC_REQ = 1, GC_ARCH = 2 };

typedef struct gc_key {
    const char *key; // after "<arch>." when GC_ARCH
    uint32_t type, arr_type;
    int flags;
} gc_key;

static const gc_key GC_KEYS[] = {
    {"general.architecture", MG_GGUF_STRING, 0, GC_REQ},
    {"general.type", MG_GGUF_STRING, 0, 0},
    {"general.name", MG_GGUF_STRING, 0, 0},
    {"general.file_type", MG_GGUF_UINT32, 0, 0},
    {"general.quantization_version", MG_GGUF_UINT32, 0, 0},
    {"general.alignment", MG_GGUF_UINT32, 0, 0},
    {"context_length", MG_GGUF_UINT32, 0, GC_ARCH | GC_REQ},
    {"embedding_length", MG_GGUF_UINT32, 0, GC_ARCH | GC_REQ},
    {"block_count", MG_GGUF_UINT32, 0, GC_ARCH | GC_REQ},
    {"feed_forward_length", MG_GGUF_UINT32, 0, GC_ARCH | GC_REQ},
    {"attention.head_count", MG_GGUF_UINT32, 0, GC_ARCH | GC_REQ},
    {"attention.head_count_kv", MG_GGUF_UINT32, 0, GC_ARCH},
    {"attention.layer_norm_rms_epsilon", MG_GGUF_FLOAT32, 0, GC_ARCH | GC_REQ},
    {"rope.freq_base", MG_GGUF_FLOAT32, 0, GC_ARCH},
    {"rope.dimension_count", MG_GGUF_UINT32, 0, GC_ARCH},
    {"attention.key_length", MG_GGUF_UINT32, 0, GC_ARCH},
    {"attention.value_length", MG_GGUF_UINT32, 0, GC_ARCH},
    {"vocab_size", MG_GGUF_UINT32, 0, GC_ARCH},
    {"rope.scaling.type", MG_GGUF_STRING, 0, GC_ARCH},
    {"rope.scaling.factor", MG_GGUF_FLOAT32, 0, GC_ARCH},
    {"rope.scaling.original_context_length", MG_GGUF_UINT32, 0, GC_ARCH},
    {"tokenizer.ggml.model", MG_GGUF_STRING, 0, GC_REQ},
    {"tokenizer.ggml.pre", MG_GGUF_STRING, 0, 0},
    {"tokenizer.ggml.tokens", MG_GGUF_ARRAY, MG_GGUF_STRING, 0},
    {"tokenizer.ggml.token_type", MG_GGUF_ARRAY, MG_GGUF_INT32, 0},
    {"tokenizer.ggml.merges", MG_GGUF_ARRAY, MG_GGUF_STRING, 0},
    {"tokenizer.ggml.scores", MG_GGUF_ARRAY, MG_GGUF_FLOAT32, 0},
    {"tokenizer.ggml.bos_token_id", MG_GGUF_UINT32, 0, 0},
    {"tokenizer.ggml.eos_token_id", MG_GGUF_UINT32, 0, 0},
    {"tokenizer.ggml.unknown_token_id", MG_GGUF_UINT32, 0, 0},
    {"tokenizer.ggml.padding_token_id", MG_GGUF_UINT32, 0, 0},
    {"tokenizer.ggml.eot_token_id", MG_GGUF_UINT32, 0, 0},
    {"tokenizer.ggml.add_bos_token", MG_GGUF_BOOL, 0, 0},
    {"tokenizer.ggml.add_eos_token", MG_GGUF_BOOL, 0, 0},
    {"tokenizer.ggml.add_space_prefix", MG_GGUF_BOOL, 0, 0},
    {"tokenizer.chat_template", MG_GGUF_STRING, 0, 0},
};

static inline const char *gc_arch_of(const mg_model_config *c) {
    if (!strcmp(c->architecture, "LlamaForCausalLM") ||
        !strcmp(c->architecture, "MistralForCausalLM"))
        return "llama";
    if (!strcmp(c->architecture, "Qwen2ForCausalLM")) return "qwen2";
    if (!strcmp(c->architecture, "Qwen3ForCausalLM")) return "qwen3";
    return NULL;
}

/* The key's table entry for arch, or NULL. */
static inline const gc_key *gc_key_find(const char *arch, const char *key) {
    size_t al = strlen(arch);
    for (size_t i = 0; i < sizeof GC_KEYS / sizeof GC_KEYS[0]; i++) {
        const gc_key *k = &GC_KEYS[i];
        if (!(k->flags & GC_ARCH) && !strcmp(k->key, key)) return k;
        if ((k->flags & GC_ARCH) && !strncmp(key, arch, al) && key[al] == '.' &&
            !strcmp(key + al + 1, k->key))
            return k;
    }
    return NULL;
}

static inline int64_t gc_u32(const mg_gguf_file *f, const char *key) {
    uint32_t v = 0;
    mg_error err = {0};
    if (mg_gguf_get_u32(f, key, &v, &err)) {
        CHECK_MSG(0, "%s: %s", key, err.msg);
        return -1;
    }
    return v;
}

static inline int64_t gc_u32_or(const mg_gguf_file *f, const char *key, int64_t absent) {
    return mg_gguf_find_kv(f, key) ? gc_u32(f, key) : absent;
}

static inline void gc_check_str(const mg_gguf_file *f, const char *key, const char *want) {
    mg_gguf_str s = {0};
    mg_error err = {0};
    CHECK_OK(mg_gguf_get_str(f, key, &s, &err), &err);
    CHECK_MSG(mg_gguf_str_eq(s, want), "%s is '%.*s', expected '%s'", key, (int)s.len,
              s.s ? s.s : "", want);
}

static inline void gc_check_f32(const mg_gguf_file *f, const char *key, double want) {
    float v = 0;
    mg_error err = {0};
    CHECK_OK(mg_gguf_get_f32(f, key, &v, &err), &err);
    CHECK_MSG(v == (float)want, "%s = %.9g, expected %.9g", key, v, (float)want);
}

static inline void gc_check_metadata(const mg_gguf_file *f, const mg_model *m, const char *arch,
                                     mg_gguf_outtype o, const char *name, int64_t n_vocab,
                                     gguf_check_stats *s) {
    const mg_model_config *c = mg_model_config_of(m);
    // Every key known, with exactly its table type (llama.cpp: "key has wrong type").
    for (size_t i = 0; i < mg_gguf_kv_count(f); i++) {
        const mg_gguf_kv *kv = mg_gguf_kv_at(f, i);
        const gc_key *k = gc_key_find(arch, kv->key);
        CHECK_MSG(k != NULL, "unexpected key %s", kv->key);
        if (!k) continue;
        CHECK_MSG(kv->type == k->type && (k->type != MG_GGUF_ARRAY || kv->arr_type == k->arr_type),
                  "key %s has type %s/%s, expected %s/%s", kv->key, mg_gguf_vtype_name(kv->type),
                  mg_gguf_vtype_name(kv->arr_type), mg_gguf_vtype_name(k->type),
                  mg_gguf_vtype_name(k->arr_type));
        s->keys++;
    }
    char key[160];
    for (size_t i = 0; i < sizeof GC_KEYS / sizeof GC_KEYS[0]; i++) {
        if (!(GC_KEYS[i].flags & GC_REQ)) continue;
        if (GC_KEYS[i].flags & GC_ARCH)
            snprintf(key, sizeof key, "%s.%s", arch, GC_KEYS[i].key);
        else
            snprintf(key, sizeof key, "%s", GC_KEYS[i].key);
        CHECK_MSG(mg_gguf_find_kv(f, key) != NULL, "required key %s missing", key);
    }
    gc_check_str(f, "general.architecture", arch);
    gc_check_str(f, "general.type", "model");
    gc_check_str(f, "general.name", name);
    static const int64_t FILE_TYPE[] = {0, 1, 32, 7}; // llama_ftype of f32, f16, bf16, q8_0
    CHECK_EQ_INT(gc_u32(f, "general.file_type"), FILE_TYPE[o]);
    CHECK_EQ_INT(gc_u32(f, "general.quantization_version"), 2);
    CHECK_EQ_INT(gc_u32(f, "general.alignment"), 32);
    CHECK_EQ_INT(mg_gguf_alignment(f), 32);
    CHECK_EQ_INT(mg_gguf_version(f), 3);
#define GC_K(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    CHECK_EQ_INT(gc_u32(f, GC_K("context_length")), c->max_position_embeddings);
    CHECK_EQ_INT(gc_u32(f, GC_K("embedding_length")), c->hidden_size);
    CHECK_EQ_INT(gc_u32(f, GC_K("block_count")), c->num_hidden_layers);
    CHECK_EQ_INT(gc_u32(f, GC_K("feed_forward_length")), c->intermediate_size);
    CHECK_EQ_INT(gc_u32(f, GC_K("attention.head_count")), c->num_attention_heads);
    CHECK_EQ_INT(gc_u32_or(f, GC_K("attention.head_count_kv"), c->num_attention_heads),
                 c->num_key_value_heads);
    CHECK_EQ_INT(gc_u32(f, GC_K("vocab_size")), n_vocab);
    gc_check_f32(f, GC_K("attention.layer_norm_rms_epsilon"), c->rms_norm_eps);
    gc_check_f32(f, GC_K("rope.freq_base"), c->rope_theta);
    if (!strcmp(arch, "llama")) CHECK_EQ_INT(gc_u32(f, GC_K("rope.dimension_count")), c->head_dim);
    bool hd = json_object_get(c->json, "head_dim") != NULL;
    CHECK_EQ_INT(gc_u32_or(f, GC_K("attention.key_length"), -1), hd ? c->head_dim : -1);
    CHECK_EQ_INT(gc_u32_or(f, GC_K("attention.value_length"), -1), hd ? c->head_dim : -1);
    const json_t *rs = json_object_get(c->json, "rope_scaling");
    const char *rt = json_string_value(json_object_get(rs, "rope_type"));
    if (!rt) rt = json_string_value(json_object_get(rs, "type"));
    bool keyed = rt && (!strcmp(rt, "linear") || !strcmp(rt, "yarn"));
    CHECK_EQ_INT(mg_gguf_find_kv(f, GC_K("rope.scaling.type")) != NULL, keyed);
    if (keyed) {
        gc_check_str(f, GC_K("rope.scaling.type"), rt);
        gc_check_f32(f, GC_K("rope.scaling.factor"),
                     json_number_value(json_object_get(rs, "factor")));
    }
    const json_t *octx = json_object_get(rs, "original_max_position_embeddings");
    bool yarn = keyed && !strcmp(rt, "yarn");
    CHECK_EQ_INT(gc_u32_or(f, GC_K("rope.scaling.original_context_length"), -1),
                 !yarn                   ? -1
                 : json_is_integer(octx) ? json_integer_value(octx)
                                         : c->max_position_embeddings);
#undef GC_K
}

/* ---- tensors ---- */

static const char *const GC_NAMES[][2] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"attn_q_norm.weight", "self_attn.q_norm.weight"},
    {"attn_k_norm.weight", "self_attn.k_norm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

/* The HF name of a GGUF tensor name into hf (""). */
static inline void gc_hf_name(const char *gguf, char *hf, size_t n) {
    hf[0] = 0;
    int layer = -1;
    const char *suffix = gguf;
    if (!strncmp(gguf, "blk.", 4)) {
        layer = atoi(gguf + 4);
        const char *dot = strchr(gguf + 4, '.');
        if (!dot) return;
        suffix = dot + 1;
    }
    for (size_t k = 0; k < sizeof GC_NAMES / sizeof GC_NAMES[0]; k++)
        if (!strcmp(GC_NAMES[k][0], suffix)) {
            bool global = strncmp(GC_NAMES[k][1], "self_attn.", 10) &&
                          strncmp(GC_NAMES[k][1], "mlp.", 4) &&
                          !strstr(GC_NAMES[k][1], "layernorm");
            if (layer >= 0 && !global)
                snprintf(hf, n, "model.layers.%d.%s", layer, GC_NAMES[k][1]);
            else if (layer < 0 && global)
                snprintf(hf, n, "%s", GC_NAMES[k][1]);
        }
}

/* The llama3 rope_freqs divisors in double (inference.md A2). */
static inline double gc_rope_factor(const json_t *rs, double theta, int64_t hd, int64_t i) {
    const json_t *v;
    double factor = json_is_number(v = json_object_get(rs, "factor")) ? json_number_value(v) : 8;
    double lo =
        json_is_number(v = json_object_get(rs, "low_freq_factor")) ? json_number_value(v) : 1;
    double hi =
        json_is_number(v = json_object_get(rs, "high_freq_factor")) ? json_number_value(v) : 4;
    double ctx = json_is_number(v = json_object_get(rs, "original_max_position_embeddings"))
                     ? json_number_value(v)
                     : 8192;
    double wl = 2 * 3.14159265358979323846 * pow(theta, (double)(2 * i) / (double)hd);
    if (wl < ctx / hi) return 1;
    if (wl > ctx / lo) return factor;
    double sm = (ctx / wl - lo) / (hi - lo);
    return 1 / ((1 - sm) / factor + sm);
}

static inline void gc_check_q8_0(const mg_gguf_tensor *t, const float *x, gguf_check_stats *s,
                                 int *bad) {
    const uint8_t *blk = t->data;
    for (uint64_t b = 0; b < t->numel / 32; b++, blk += 34, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t h = (uint16_t)(blk[0] | blk[1] << 8);
        if (h != mg_f32_to_f16(d)) (*bad)++;
        double d16 = mg_f16_to_f32(h);
        for (int j = 0; j < 32; j++) {
            int8_t q = (int8_t)blk[2 + j];
            if (q != (int8_t)roundf(x[j] * id)) (*bad)++; // ggml quantize_row_q8_0_ref
            // Half a step of the f32 scale (plus the float rounding of x * id,
            // a few ulps of 127) and the f16 rounding of the scale times |q|.
            double e = fabs((double)x[j] - d16 * q);
            double bound = d / 2.0 * (1 + 0x1p-14) + fabs((double)q) * fabs(d16 - d);
            if (!(e <= bound)) (*bad)++;
            if (d > 0) {
                double r = e / (d / 2.0), rs = d16 > 0 ? e / (d16 / 2) : INFINITY;
                if (e / bound > s->q8_max_bound) s->q8_max_bound = e / bound;
                if (r > s->q8_max_ratio) s->q8_max_ratio = r;
                if (rs > s->q8_max_ratio_stored) s->q8_max_ratio_stored = rs;
                if (e > d16 / 2) s->q8_over_stored++;
            } else if (e != 0) {
                (*bad)++;
            }
        }
        s->q8_blocks++;
    }
    s->q8_elements += t->numel;
}

static inline void gc_check_tensors(const mg_gguf_file *f, const mg_model *m, const char *arch,
                                    mg_gguf_outtype o, gguf_check_stats *s) {
    const mg_model_config *c = mg_model_config_of(m);
    const json_t *rs = json_object_get(c->json, "rope_scaling");
    const char *rt = json_string_value(json_object_get(rs, "rope_type"));
    if (!rt) rt = json_string_value(json_object_get(rs, "type"));
    bool rope3 = rt && !strcmp(rt, "llama3"), llama = !strcmp(arch, "llama");
    size_t n_hf = 0;
    for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
        const char *n = mg_model_tensor_at(m, i)->name;
        size_t l = strlen(n);
        if (!(l >= 19 && !strcmp(n + l - 19, "rotary_emb.inv_freq"))) n_hf++;
    }
    // Each GGUF tensor has a distinct HF source (names are unique and the map
    // is one to one), so equal counts mean every HF tensor was written.
    CHECK_EQ_INT(mg_gguf_tensor_count(f), n_hf + rope3);
    mg_error err = {0};
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++) {
        const mg_gguf_tensor *t = mg_gguf_tensor_at(f, i);
        s->tensors++;
        if (!strcmp(t->name, "rope_freqs.weight")) {
            CHECK(rope3);
            CHECK(t->type == MG_GGML_F32 && t->ndim == 1 && (int64_t)t->ne[0] == c->head_dim / 2);
            const float *y = t->data;
            for (uint64_t e = 0; e < t->numel && rope3; e++) {
                double want = gc_rope_factor(rs, c->rope_theta, c->head_dim, (int64_t)e);
                CHECK_MSG(fabs(y[e] - want) <= 1e-6 * want, "rope_freqs[%" PRIu64 "] %g vs %g", e,
                          y[e], want);
            }
            s->elements += t->numel;
            continue;
        }
        char hf[256];
        gc_hf_name(t->name, hf, sizeof hf);
        const mg_tensor_view *v = hf[0] ? mg_model_find(m, hf) : NULL;
        CHECK_MSG(v != NULL, "GGUF tensor %s has no HF source ('%s')", t->name, hf);
        if (!v) continue;
        CHECK_EQ_INT(t->ndim, v->ndim);
        for (int d = 0; d < v->ndim && d < t->ndim; d++)
            CHECK_EQ_INT(t->ne[d], v->shape[v->ndim - 1 - d]);
        size_t nl = strlen(t->name);
        bool vec = v->ndim == 1 || (nl > 12 && !strcmp(t->name + nl - 12, "_norm.weight"));
        static const uint32_t TY[] = {MG_GGML_F32, MG_GGML_F16, MG_GGML_BF16, MG_GGML_Q8_0};
        uint32_t want_type = vec ? MG_GGML_F32 : TY[o];
        if (want_type == MG_GGML_Q8_0 && t->ne[0] % 32) want_type = MG_GGML_F16;
        CHECK_MSG(t->type == want_type, "%s: type %s, expected %s", t->name,
                  mg_ggml_type_name(t->type), mg_ggml_type_name(want_type));
        if (t->type != want_type) continue;
        float *x = NULL;
        CHECK_OK(mg_model_read_f32(m, hf, &x, NULL, &err), &err);
        if (!x) continue;
        // Source values in the GGUF layout: llama's Q/K rows permuted to
        // adjacent rope pairs (inference.md A2: new row h*d + 2i + j = old row
        // h*d + j*d/2 + i), per head of q (n_head) or k (n_head_kv).
        bool is_q = strstr(t->name, ".attn_q.") != NULL, is_k = strstr(t->name, ".attn_k.") != NULL;
        if (llama && (is_q || is_k)) {
            int64_t rows = v->shape[0], cols = (int64_t)(t->numel / (uint64_t)rows);
            int64_t heads = is_q ? c->num_attention_heads : c->num_key_value_heads;
            int64_t d = rows / heads, half = d / 2;
            CHECK_EQ_INT(rows % heads, 0);
            float *p = mg_malloc((size_t)t->numel * sizeof *p);
            for (int64_t h = 0; h < heads; h++)
                for (int64_t i2 = 0; i2 < half; i2++)
                    for (int64_t j = 0; j < 2; j++)
                        memcpy(p + (h * d + 2 * i2 + j) * cols, x + (h * d + j * half + i2) * cols,
                               (size_t)cols * sizeof *p);
            free(x);
            x = p;
        }
        int bad = 0;
        if (t->type == MG_GGML_F32) {
            const float *y = t->data;
            for (uint64_t e = 0; e < t->numel; e++)
                if (memcmp(&y[e], &x[e], 4)) bad++;
            s->exact += t->numel;
        } else if (t->type == MG_GGML_F16 || t->type == MG_GGML_BF16) {
            const uint8_t *y = t->data;
            for (uint64_t e = 0; e < t->numel; e++) {
                uint16_t got = (uint16_t)(y[2 * e] | y[2 * e + 1] << 8);
                uint16_t want = t->type == MG_GGML_F16 ? mg_f32_to_f16(x[e]) : mg_f32_to_bf16(x[e]);
                if (got != want) bad++;
            }
            s->exact += t->numel;
        } else {
            gc_check_q8_0(t, x, s, &bad);
        }
        CHECK_MSG(bad == 0, "%s (%s): %d elements differ from %s", t->name,
                  mg_ggml_type_name(t->type), bad, hf);
        s->elements += t->numel;
        free(x);
    }
}

/* ---- tokenizer ---- */

static inline const char *gc_tok_text(const json_t *cfg, const char *key) {
    const json_t *e = json_object_get(cfg, key);
    if (json_is_string(e)) return json_string_value(e);
    return json_string_value(json_object_get(e, "content"));
}

static inline int64_t gc_tok_id(const mg_gguf_kv *tokens, const char *text) {
    for (uint64_t i = 0; text && tokens && i < tokens->n; i++)
        if (mg_gguf_str_eq(tokens->strs[i], text)) return (int64_t)i;
    return -1;
}

/* "a b" with spaces inside list-of-pairs pieces as U+0120. Owned. */
static inline char *gc_merge_text(const json_t *m) {
    if (json_is_string(m)) return mg_strdup(json_string_value(m));
    const char *a = json_string_value(json_array_get(m, 0)),
               *b = json_string_value(json_array_get(m, 1));
    if (!a || !b) return mg_strdup("?");
    char *out = mg_malloc(2 * (strlen(a) + strlen(b)) + 2), *o = out;
    for (int part = 0; part < 2; part++) {
        for (const char *p = part ? b : a; *p; p++)
            if (*p == ' ')
                *o++ = (char)0xC4, *o++ = (char)0xA0;
            else
                *o++ = *p;
        if (!part) *o++ = ' ';
    }
    *o = 0;
    return out;
}

static inline void gc_check_tokenizer(const mg_gguf_file *f, const mg_model *m, int64_t n_vocab,
                                      gguf_check_stats *s) {
    mg_error err = {0};
    char *tj = mg_model_file(m, "tokenizer.json");
    if (!tj) { // no vocabulary: model "none" and nothing else
        gc_check_str(f, "tokenizer.ggml.model", "none");
        for (size_t i = 0; i < mg_gguf_kv_count(f); i++) {
            const char *k = mg_gguf_kv_at(f, i)->key;
            CHECK_MSG(strncmp(k, "tokenizer.", 10) || !strcmp(k, "tokenizer.ggml.model"),
                      "%s written without tokenizer.json", k);
        }
        return;
    }
    json_t *tok = NULL, *cfg = NULL;
    CHECK_OK(mg_json_load_file(tj, &tok, &err), &err);
    free(tj);
    char *tc = mg_model_file(m, "tokenizer_config.json");
    if (tc) CHECK_OK(mg_json_load_file(tc, &cfg, &err), &err);
    free(tc);
    const json_t *model = json_object_get(tok, "model");
    bool spm = json_is_true(json_object_get(model, "byte_fallback"));
    gc_check_str(f, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
    const mg_gguf_kv *tokens = NULL, *types = NULL, *merges = NULL;
    CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.tokens", MG_GGUF_STRING, &tokens, &err), &err);
    CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.token_type", MG_GGUF_INT32, &types, &err), &err);
    if (!tokens || !types) goto done;
    CHECK_EQ_INT(tokens->n, n_vocab);
    CHECK_EQ_INT(types->n, n_vocab);
    // Expected text and type per id: vocabulary, then added tokens over it.
    char **want = mg_calloc((size_t)n_vocab, sizeof *want);
    int32_t *wtype = mg_calloc((size_t)n_vocab, sizeof *wtype);
    const char *piece;
    json_t *idj;
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    json_object_foreach(json_object_get(model, "vocab"), piece, idj) {
        json_int_t id = json_integer_value(idj);
        CHECK(id >= 0 && id < n_vocab);
        if (id < 0 || id >= n_vocab) continue;
        want[id] = (char *)piece;
        bool byte = spm && strlen(piece) == 6 && !strncmp(piece, "<0x", 3) && piece[5] == '>';
        wtype[id] = byte ? 6 : spm && unk && !strcmp(piece, unk) ? 2 : 1;
    }
    size_t k;
    const json_t *a;
    json_array_foreach(json_object_get(tok, "added_tokens"), k, a) {
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        const char *content = json_string_value(json_object_get(a, "content"));
        CHECK(content && id >= 0 && id < n_vocab);
        if (!content || id < 0 || id >= n_vocab) continue;
        size_t cl = strlen(content);
        bool looks = cl >= 4 && !strncmp(content, "<|", 2) && !strcmp(content + cl - 2, "|>");
        want[id] = (char *)content;
        wtype[id] = json_is_true(json_object_get(a, "special")) || looks ? 3 : 4;
        if (spm && unk && !strcmp(content, unk)) wtype[id] = 2;
    }
    int bad = 0;
    for (int64_t i = 0; i < n_vocab; i++) {
        char pad[40];
        if (!want[i]) {
            snprintf(pad, sizeof pad, "[PAD%" PRId64 "]", i);
            wtype[i] = 5;
        }
        if (!mg_gguf_str_eq(tokens->strs[i], want[i] ? want[i] : pad)) {
            if (bad < 3) fprintf(stderr, "token %" PRId64 " differs\n", i);
            bad++;
        }
        if (mg_gguf_arr_i32(types, (uint64_t)i) != wtype[i]) {
            if (bad < 3)
                fprintf(stderr, "token %" PRId64 " type %d, expected %d\n", i,
                        mg_gguf_arr_i32(types, (uint64_t)i), wtype[i]);
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%d tokens or token types differ from tokenizer.json", bad);
    s->tokens += (uint64_t)n_vocab;
    // Merges, in order.
    const json_t *ml = json_object_get(model, "merges");
    if (!spm) {
        CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.merges", MG_GGUF_STRING, &merges, &err), &err);
        if (merges) {
            CHECK_EQ_INT(merges->n, json_array_size(ml));
            int mbad = 0;
            for (size_t i = 0; i < json_array_size(ml) && i < merges->n; i++) {
                char *w = gc_merge_text(json_array_get(ml, i));
                if (!mg_gguf_str_eq(merges->strs[i], w)) mbad++;
                free(w);
            }
            CHECK_MSG(mbad == 0, "%d merges differ from tokenizer.json", mbad);
            s->merges += merges->n;
        }
    }
    // Special ids: tokenizer_config.json's strings, else config.json's ids.
    static const char *const KIND[] = {"bos", "eos", "unk", "pad"};
    static const char *const KEY[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                      "tokenizer.ggml.unknown_token_id",
                                      "tokenizer.ggml.padding_token_id"};
    for (int i = 0; i < 4; i++) {
        char ck[32];
        snprintf(ck, sizeof ck, "%s_token", KIND[i]);
        int64_t id = gc_tok_id(tokens, gc_tok_text(cfg, ck));
        if (id < 0 && i == 2) id = gc_tok_id(tokens, unk);
        snprintf(ck, sizeof ck, "%s_token_id", KIND[i]);
        const json_t *cj = json_object_get(mg_model_config_of(m)->json, ck);
        if (id < 0 && json_is_integer(cj) && json_integer_value(cj) < n_vocab)
            id = json_integer_value(cj);
        CHECK_MSG(gc_u32_or(f, KEY[i], -1) == id, "%s = %" PRId64 ", expected %" PRId64, KEY[i],
                  gc_u32_or(f, KEY[i], -1), id);
    }
    // Chat template byte for byte; EOT the end-of-turn token it uses.
    char *jinja = mg_model_file(m, "chat_template.jinja");
    char *tmpl = NULL;
    size_t tlen = 0;
    if (jinja)
        CHECK_OK(mg_file_read_all(jinja, 0, &tmpl, &tlen, &err), &err);
    else if (json_is_string(json_object_get(cfg, "chat_template")))
        tmpl = mg_strdup(json_string_value(json_object_get(cfg, "chat_template")));
    free(jinja);
    const mg_gguf_kv *ct = mg_gguf_find_kv(f, "tokenizer.chat_template");
    CHECK_EQ_INT(ct != NULL, tmpl != NULL);
    if (ct && tmpl) CHECK_MSG(mg_gguf_str_eq(ct->strs[0], tmpl), "chat template differs");
    static const char *const EOT[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
    int64_t eot = -1;
    for (int i = 0; i < 4 && eot < 0 && tmpl; i++)
        if (strstr(tmpl, EOT[i])) eot = gc_tok_id(tokens, EOT[i]);
    for (int i = 0; i < 4 && eot < 0; i++)
        eot = gc_tok_id(tokens, EOT[i]);
    CHECK_EQ_INT(gc_u32_or(f, "tokenizer.ggml.eot_token_id", -1), eot);
    free(tmpl);
    static const char *const ADD[][2] = {{"add_bos_token", "tokenizer.ggml.add_bos_token"},
                                         {"add_eos_token", "tokenizer.ggml.add_eos_token"}};
    for (int i = 0; i < 2; i++) {
        const json_t *b = json_object_get(cfg, ADD[i][0]);
        if (!json_is_boolean(b)) continue;
        bool got = !json_is_true(b);
        CHECK_OK(mg_gguf_get_bool(f, ADD[i][1], &got, &err), &err);
        CHECK_EQ_INT(got, json_is_true(b));
    }
    free(want);
    free(wtype);
done:
    json_decref(tok);
    json_decref(cfg);
}

/* Exports model_dir to out_path in outtype o (name NULL: general.name is the
 * folder's name) and checks the file as described above. */
static inline void gguf_check_export(const char *model_dir, const char *out_path, mg_gguf_outtype o,
                                     gguf_check_stats *s) {
    mg_error err = {0};
    mg_gguf_export_opts opts = {o, false, NULL};
    mg_gguf_export_info info;
    mg_status st = mg_gguf_export(model_dir, out_path, &opts, &info, &err);
    CHECK_MSG(st == MG_OK, "export %s (%s): %s", model_dir, mg_gguf_outtype_name(o), err.msg);
    if (st) return;
    mg_model *m = NULL;
    mg_gguf_file *f = NULL;
    CHECK_OK(mg_model_open(model_dir, &m, &err), &err);
    CHECK_OK(mg_gguf_open(out_path, &f, &err), &err);
    if (m && f) {
        const mg_model_config *c = mg_model_config_of(m);
        const char *arch = gc_arch_of(c);
        CHECK(arch != NULL);
        const mg_tensor_view *emb = mg_model_find(m, "model.embed_tokens.weight");
        CHECK(emb != NULL);
        if (arch && emb) {
            char name[256];
            size_t n = strlen(model_dir);
            while (n > 1 && model_dir[n - 1] == '/')
                n--;
            size_t b = n;
            while (b > 0 && model_dir[b - 1] != '/')
                b--;
            snprintf(name, sizeof name, "%.*s", (int)(n - b), model_dir + b);
            CHECK_EQ_STR(info.arch, arch);
            CHECK_EQ_INT(info.file_bytes, mg_gguf_file_size(f));
            CHECK_EQ_INT(info.n_tensors, mg_gguf_tensor_count(f));
            gc_check_metadata(f, m, arch, o, name, emb->shape[0], s);
            gc_check_tensors(f, m, arch, o, s);
            gc_check_tokenizer(f, m, emb->shape[0], s);
            s->files++;
        }
    }
    mg_gguf_close(f);
    mg_model_close(m);
}

static inline void gguf_check_print(const char *what, const gguf_check_stats *s) {
    printf("%s: %" PRIu64 " GGUF files, %" PRIu64 " tensors, %" PRIu64
           " elements compared (%" PRIu64 " bit-exact, %" PRIu64 " Q8_0 in %" PRIu64
           " blocks), %" PRIu64 " keys, %" PRIu64 " tokens, %" PRIu64 " merges\n",
           what, s->files, s->tensors, s->elements, s->exact, s->q8_elements, s->q8_blocks, s->keys,
           s->tokens, s->merges);
    printf("%s: Q8_0 max |x - deq| = %.4f x (amax/127)/2 = %.4f x (stored f16 scale)/2 = "
           "%.4f x the bound d/2 + |q| |d16 - d|; %" PRIu64
           " elements above (stored scale)/2, all within the f16-rounding term\n",
           what, s->q8_max_ratio, s->q8_max_ratio_stored, s->q8_max_bound, s->q8_over_stored);
}

#endif // MG_TESTS_GGUF_CHECK_H
