/* bad_fixtures.h - inputs of the malformed-input suite that are built at test
 * time rather than committed: models derived from the golden tiny-llama
 * (NaN / Inf weights, a bigger vocabulary, shards that disagree on dtype) and
 * the big or deep files (a 50 MB JSON string, 100k nesting levels) that would
 * bloat the repository. Everything goes under WORK/gen; the CASES.tsv files
 * refer to it as ${W}/gen/... */
#ifndef MG_TEST_BAD_FIXTURES_H
#define MG_TEST_BAD_FIXTURES_H

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "test.h"

#define FX_GOLDEN MG_TEST_DATA "/golden"
#define FX_CHAT MG_TEST_DATA "/templates/tiny-chat"

static char *fx_path(const char *dir, const char *name) {
    return mg_path_join(dir, name);
}

static void fx_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    fwrite(data, 1, len, f);
    fclose(f);
}

static void fx_copy(const char *src, const char *dst) {
    char *buf = NULL;
    size_t len = 0;
    mg_error err = {0};
    CHECK_OK(mg_file_read_all(src, 0, &buf, &len, &err), &err);
    if (buf) fx_write(dst, buf, len);
    free(buf);
}

/* Copies NAME from directory src to directory dst. */
static void fx_copy_in(const char *src, const char *dst, const char *name) {
    char *a = fx_path(src, name), *b = fx_path(dst, name);
    fx_copy(a, b);
    free(a);
    free(b);
}

typedef struct fx_model_opts {
    mg_dtype dtype;         // every tensor's dtype; MG_DTYPE_F32 by default (0 = keep)
    const char *poison;     // tensor to damage, or NULL
    float poison_value;     // written at elements 3 and 100 of it
    int extra_vocab;        // rows added to embed_tokens / lm_head (and vocab_size)
    bool split_dtype;       // two shards with an index: the second one BF16
    const char *narrow;     // tensor whose last dimension loses 16 columns
    const char *drop;       // tensors whose name contains this are left out
    bool one_layer;         // drop layer 1 and say num_hidden_layers: 1
} fx_model_opts;

/* Writes tensors [lo, hi) of m into dir/file as one safetensors file. */
static void fx_shard(const mg_model *m, size_t lo, size_t hi, const fx_model_opts *o,
                     mg_dtype dt, const char *dir, const char *file) {
    mg_error err = {0};
    char *tmp = fx_path(dir, ".shard");
    mg_mkdir_p(tmp, &err);
    mg_tensor_spec *specs = mg_calloc(hi - lo + 1, sizeof *specs);
    for (size_t i = lo; i < hi; i++) {
        const mg_tensor_view *v = mg_model_tensor_at(m, i);
        mg_tensor_spec *s = &specs[i - lo];
        s->name = v->name;
        s->dtype = dt ? dt : v->dtype;
        s->ndim = v->ndim;
        memcpy(s->shape, v->shape, sizeof s->shape);
        if (o->extra_vocab && (strstr(v->name, "embed_tokens") || strstr(v->name, "lm_head")))
            s->shape[0] += o->extra_vocab;
        if (o->narrow && !strcmp(o->narrow, v->name)) s->shape[s->ndim - 1] -= 16;
    }
    mg_st_writer *w = NULL;
    CHECK_OK(mg_st_writer_open(tmp, specs, hi - lo, 0, &w, &err), &err);
    for (size_t i = lo; w && i < hi; i++) {
        const mg_tensor_view *v = mg_model_tensor_at(m, i);
        uint64_t numel = 1;
        for (int d = 0; d < specs[i - lo].ndim; d++)
            numel *= (uint64_t)specs[i - lo].shape[d];
        float *x = mg_calloc(numel + 1, sizeof(float));
        float *orig = mg_calloc(v->numel + 1, sizeof(float));
        CHECK_OK(mg_tensor_to_f32(v, orig, &err), &err);
        for (uint64_t e = 0; e < numel; e++)
            x[e] = orig[e % v->numel];
        if (o->poison && !strcmp(o->poison, v->name) && numel > 100)
            x[3] = x[100] = o->poison_value;
        CHECK_OK(mg_st_writer_write_f32(w, i - lo, x, &err), &err);
        free(x);
        free(orig);
    }
    if (w) CHECK_OK(mg_st_writer_finish(w, &err), &err);
    char *from = fx_path(tmp, "model.safetensors"), *to = fx_path(dir, file);
    CHECK_MSG(rename(from, to) == 0, "rename %s", from);
    mg_remove_tree(tmp, NULL);
    free(from);
    free(to);
    free(tmp);
    free(specs);
}

/* A model folder derived from a golden model. */
static void fx_model(const char *src, const char *dst, const fx_model_opts *o) {
    mg_model *m = NULL;
    mg_error err = {0};
    CHECK_OK(mg_model_open(src, &m, &err), &err);
    if (!m) return;
    mg_mkdir_p(dst, &err);
    size_t n = mg_model_tensor_count(m);
    json_t *cfg = json_deep_copy(mg_model_config_of(m)->json);
    if (o->drop || o->one_layer) { // a filtered copy of the folder, then derive from that
        const char *pat = o->drop ? o->drop : "layers.1.";
        mg_model *f = NULL;
        char *tmp = fx_path(dst, ".filtered");
        mg_mkdir_p(tmp, &err);
        mg_tensor_spec *specs = mg_calloc(n, sizeof *specs);
        const mg_tensor_view **views = mg_calloc(n, sizeof *views);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const mg_tensor_view *v = mg_model_tensor_at(m, i);
            if (strstr(v->name, pat)) continue;
            views[k] = v;
            specs[k] = (mg_tensor_spec){v->name, v->dtype, v->ndim, {0}};
            memcpy(specs[k].shape, v->shape, sizeof specs[k].shape);
            k++;
        }
        mg_st_writer *w = NULL;
        CHECK_OK(mg_st_writer_open(tmp, specs, k, 0, &w, &err), &err);
        for (size_t i = 0; w && i < k; i++)
            CHECK_OK(mg_st_writer_write(w, i, views[i]->data, &err), &err);
        if (w) CHECK_OK(mg_st_writer_finish(w, &err), &err);
        free(specs);
        free(views);
        if (o->one_layer) json_object_set_new(cfg, "num_hidden_layers", json_integer(1));
        char *cp = fx_path(tmp, "config.json");
        json_dump_file(cfg, cp, JSON_INDENT(2));
        free(cp);
        CHECK_OK(mg_model_open(tmp, &f, &err), &err);
        if (f) {
            mg_model_close(m);
            m = f;
            n = mg_model_tensor_count(m);
        }
        mg_remove_tree(tmp, NULL); // the mapping stays valid
        free(tmp);
    }
    if (o->extra_vocab)
        json_object_set_new(cfg, "vocab_size", json_integer(512 + o->extra_vocab));
    if (o->dtype)
        json_object_set_new(cfg, "torch_dtype", json_string(mg_dtype_torch_name(o->dtype)));
    if (!o->split_dtype) {
        fx_shard(m, 0, n, o, o->dtype, dst, "model.safetensors");
    } else {
        const char *s1 = "model-00001-of-00002.safetensors", *s2 = "model-00002-of-00002.safetensors";
        fx_shard(m, 0, n / 2, o, MG_DTYPE_F32, dst, s1);
        fx_shard(m, n / 2, n, o, MG_DTYPE_BF16, dst, s2);
        json_t *idx = json_object(), *map = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(map, mg_model_tensor_at(m, i)->name, json_string(i < n / 2 ? s1 : s2));
        json_object_set_new(idx, "metadata", json_object());
        json_object_set_new(idx, "weight_map", map);
        char *p = fx_path(dst, "model.safetensors.index.json");
        json_dump_file(idx, p, JSON_INDENT(2));
        free(p);
        json_decref(idx);
    }
    char *p = fx_path(dst, "config.json");
    json_dump_file(cfg, p, JSON_INDENT(2));
    free(p);
    json_decref(cfg);
    mg_model_close(m);
}

/* A model folder: golden weights plus the tiny-chat tokenizer. */
static void fx_with_tokenizer(const char *dst) {
    fx_copy_in(FX_CHAT, dst, "tokenizer.json");
    fx_copy_in(FX_CHAT, dst, "tokenizer_config.json");
}

/* A runnable model: tiny-llama3 weights, its config.json with `key` set to
 * `value` (when key), the tiny-chat tokenizer (plus an added token of id
 * extra_id when not 0) and tokenizer_config.json (without the chat template when
 * no_template). */
static void fx_run_model(const char *dst, const char *key, json_t *value, int extra_id,
                         bool no_template) {
    mg_error err = {0};
    mg_mkdir_p(dst, &err);
    fx_copy_in(FX_GOLDEN "/tiny-llama3", dst, "model.safetensors");
    json_t *cfg = NULL, *tok = NULL, *tc = NULL;
    CHECK_OK(mg_json_load_file(FX_GOLDEN "/tiny-llama3/config.json", &cfg, &err), &err);
    CHECK_OK(mg_json_load_file(FX_CHAT "/tokenizer.json", &tok, &err), &err);
    CHECK_OK(mg_json_load_file(FX_CHAT "/tokenizer_config.json", &tc, &err), &err);
    if (key) json_object_set(cfg, key, value);
    json_decref(value);
    if (extra_id)
        json_array_append_new(json_object_get(tok, "added_tokens"),
                              json_pack("{s:i, s:s, s:b, s:b}", "id", extra_id, "content",
                                        "<extra>", "special", 1, "normalized", 0));
    if (no_template) json_object_del(tc, "chat_template");
    char *p = fx_path(dst, "config.json");
    json_dump_file(cfg, p, JSON_INDENT(2));
    free(p);
    p = fx_path(dst, "tokenizer.json");
    json_dump_file(tok, p, 0);
    free(p);
    p = fx_path(dst, "tokenizer_config.json");
    json_dump_file(tc, p, JSON_INDENT(2));
    free(p);
    json_decref(cfg), json_decref(tok), json_decref(tc);
}

/* Writes n copies of rep to f, in 64 KiB blocks. */
static void fx_rep(FILE *f, const char *rep, size_t n) {
    size_t rl = strlen(rep), per = rl ? (65536 / rl ? 65536 / rl : 1) : 0;
    if (!rl) return;
    char *blk = mg_malloc(per * rl);
    for (size_t i = 0; i < per; i++)
        memcpy(blk + i * rl, rep, rl);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < per ? n - done : per;
        fwrite(blk, rl, k, f);
        done += k;
    }
    free(blk);
}

/* Writes prefix, n x rep, mid, n x rep2, suffix (50 MB strings, deep nesting). */
static void fx_repeat(const char *path, const char *prefix, const char *rep, size_t n,
                      const char *mid, const char *rep2, const char *suffix) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(prefix, f);
    fx_rep(f, rep, n);
    fputs(mid, f);
    if (rep2) fx_rep(f, rep2, n);
    fputs(suffix, f);
    fclose(f);
}

#define FX_BIG ((size_t)50 << 20) // a 50 MB string
#define FX_DEEP 100000            // nesting levels

/* Builds everything under work/gen. */
static void fx_build(const char *work) {
    mg_error err = {0};
    char *gen = fx_path(work, "gen");
    mg_mkdir_p(gen, &err);
    char p[512], q[600];
#define G(name) (snprintf(p, sizeof p, "%.200s/%s", gen, name), p)
    // Models.
    fx_model(FX_GOLDEN "/tiny-llama", G("base"), &(fx_model_opts){0});
    fx_with_tokenizer(p);
    fx_model(FX_GOLDEN "/tiny-llama", G("nan"),
             &(fx_model_opts){.poison = "model.layers.0.mlp.up_proj.weight", .poison_value = NAN});
    fx_model(FX_GOLDEN "/tiny-llama", G("inf"),
             &(fx_model_opts){.dtype = MG_DTYPE_BF16,
                              .poison = "model.layers.1.self_attn.q_proj.weight",
                              .poison_value = -INFINITY});
    // Runnable but for one bf16 NaN: refused also when held as bf16 (--weights bf16).
    fx_model(FX_GOLDEN "/tiny-llama", G("nan_bf16_tok"),
             &(fx_model_opts){.dtype = MG_DTYPE_BF16,
                              .poison = "model.layers.1.mlp.down_proj.weight",
                              .poison_value = NAN});
    fx_with_tokenizer(p);
    fx_model(FX_GOLDEN "/tiny-llama", G("vocab"), &(fx_model_opts){.extra_vocab = 8});
    fx_model(FX_GOLDEN "/tiny-llama", G("dtype_shards"), &(fx_model_opts){.split_dtype = true});
    fx_model(FX_GOLDEN "/tiny-llama", G("shape"),
             &(fx_model_opts){.narrow = "model.layers.0.mlp.down_proj.weight"});
    fx_model(FX_GOLDEN "/tiny-llama", G("drop"),
             &(fx_model_opts){.drop = "layers.1.mlp.up_proj"});
    fx_model(FX_GOLDEN "/tiny-llama", G("onelayer"), &(fx_model_opts){.one_layer = true});

    // Models that open but do not run.
    fx_run_model(G("run_ok"), NULL, NULL, 0, false);
    fx_run_model(G("run_no_template"), NULL, NULL, 0, true);
    fx_run_model(G("run_big_tokenizer"), NULL, NULL, 700, false);
    fx_run_model(G("run_other_tokenizer"), NULL, NULL, 300, false);
    fx_run_model(G("run_layers3"), "num_hidden_layers", json_integer(3), 0, false);
    fx_run_model(G("run_hidden32"), "hidden_size", json_integer(32), 0, false);
    fx_run_model(G("run_gpt2"), "architectures", json_pack("[s]", "GPT2LMHeadModel"), 0, false);
    fx_run_model(G("run_rope_string"), "rope_theta", json_string("big"), 0, false);
    fx_run_model(G("run_unigram"), NULL, NULL, 0, false);
    snprintf(q, sizeof q, "%.500s/tokenizer.json", p);
    const char *uni = "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0]]}}";
    fx_write(q, uni, strlen(uni));

    // A 50 MB string in config.json, tokenizer.json (an added token and a
    // vocabulary entry), a JSONL record, a YAML config, a chat message.
    mg_mkdir_p(G("bigcfg"), &err);
    fx_copy_in(FX_GOLDEN "/tiny-llama", p, "model.safetensors");
    snprintf(q, sizeof q, "%.500s/config.json", p);
    fx_repeat(q, "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"x\": \"",
              "a", FX_BIG, "\"}", NULL, "");
    mg_mkdir_p(G("bigtok_added"), &err);
    fx_copy_in(FX_CHAT, p, "tokenizer_config.json");
    snprintf(q, sizeof q, "%.500s/tokenizer.json", p);
    fx_repeat(q,
              "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
              "\"added_tokens\": [{\"id\": 1, \"special\": true, \"content\": \"",
              "a", FX_BIG, "\"}]}", NULL, "");
    mg_mkdir_p(G("bigtok_vocab"), &err);
    snprintf(q, sizeof q, "%.500s/tokenizer.json", p);
    fx_repeat(q, "{\"model\": {\"type\": \"BPE\", \"merges\": [], \"vocab\": {\"a\": 0, \"", "b",
              FX_BIG, "\": 1}}}", NULL, "");
    mg_mkdir_p(G("bigtok_merge"), &err);
    snprintf(q, sizeof q, "%.500s/tokenizer.json", p);
    fx_repeat(q, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"", "a",
              FX_BIG, "\"]}}", NULL, "");
    fx_repeat(G("big.jsonl"), "{\"prompt\": \"", "a", FX_BIG,
              "\", \"response\": \"r\", \"type\": \"task\"}\n", NULL, "");
    fx_repeat(G("big.yml"), "merge_method: linear\n", "# padding comment line..........\n",
              (size_t)17 << 15, "", NULL, "");
    fx_repeat(G("big_messages.json"), "[{\"role\": \"user\", \"content\": \"", "a", FX_BIG,
              "\"}]", NULL, "");

    // 100k levels of nesting.
    mg_mkdir_p(G("deepcfg"), &err);
    fx_copy_in(FX_GOLDEN "/tiny-llama", p, "model.safetensors");
    snprintf(q, sizeof q, "%.500s/config.json", p);
    fx_repeat(q, "{\"model_type\": \"llama\", \"x\": ", "[", FX_DEEP, "", "]", "}");
    mg_mkdir_p(G("deeptok"), &err);
    snprintf(q, sizeof q, "%.500s/tokenizer.json", p);
    fx_repeat(q, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, \"normalizer\": ",
              "{\"type\": \"Sequence\", \"normalizers\": [", FX_DEEP, "", "]}", "}");
    fx_repeat(G("deep.jsonl"), "{\"prompt\": \"p\", \"response\": \"r\", \"x\": ", "{\"a\": ",
              FX_DEEP, "1", "}", "}\n");
    fx_repeat(G("deep_flow.yml"), "merge_method: linear\nmodels: ", "[", FX_DEEP, "", "]", "\n");
    fx_repeat(G("deep_map.yml"), "merge_method: linear\nparameters: ", "{a: ", FX_DEEP, "1", "}",
              "\n");
    fx_repeat(G("deep_evolve.yml"), "genome:\n  models: ", "[", FX_DEEP, "", "]", "\n");
    fx_repeat(G("deep_messages.json"), "[{\"role\": \"user\", \"content\": ", "[", FX_DEEP, "",
              "]", "}]");
    {
        // A safetensors header nested 100k deep (the header limit is 100 MB).
        size_t hl = 6 + 2 * FX_DEEP + 1;
        char *h = mg_malloc(8 + hl + 8);
        for (int b = 0; b < 8; b++)
            h[b] = (char)((uint64_t)hl >> (8 * b));
        memcpy(h + 8, "{\"a\": ", 6);
        memset(h + 14, '[', FX_DEEP);
        memset(h + 14 + FX_DEEP, ']', FX_DEEP);
        h[8 + hl - 1] = '}';
        fx_write(G("deep.safetensors"), h, 8 + hl);
        free(h);
    }
#undef G
    free(gen);
}

#endif // MG_TEST_BAD_FIXTURES_H
