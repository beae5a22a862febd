/* test_model_dir.c - HF model folders: config.json, tensor index, tied lookup,
 * f32 reads, refusal of pickles and of folders that are not models. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "io/model_dir.h"
#include "test.h"

static char g_dir[256];

static char *fixture(const char *name) {
    return mg_path_join(MG_TEST_DATA "/golden", name);
}

static void test_golden_configs(void) {
    static const struct {
        const char *name, *arch;
        int64_t head_dim, kv;
        bool tied;
        double theta, eps;
        uint64_t params;
        size_t ntensors;
    } CASES[] = {
        {"tiny-llama", "LlamaForCausalLM", 16, 2, false, 1e4, 1e-5, 151872, 21},
        {"tiny-llama3", "LlamaForCausalLM", 16, 2, true, 5e5, 1e-5, 119104, 20},
        {"tiny-qwen2", "Qwen2ForCausalLM", 16, 2, true, 1e6, 1e-6, 119360, 26},
        {"tiny-qwen3", "Qwen3ForCausalLM", 16, 2, false, 1e6, 1e-6, 151936, 25},
    };
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        mg_error err = {0};
        char *p = fixture(CASES[c].name);
        mg_model *m = NULL;
        CHECK_OK(mg_model_open(p, &m, &err), &err);
        free(p);
        if (!m) continue;
        const mg_model_config *cfg = mg_model_config_of(m);
        CHECK(cfg->present);
        CHECK_EQ_STR(cfg->architecture, CASES[c].arch);
        CHECK_EQ_INT(cfg->hidden_size, 64);
        CHECK_EQ_INT(cfg->intermediate_size, 160);
        CHECK_EQ_INT(cfg->num_hidden_layers, 2);
        CHECK_EQ_INT(cfg->num_attention_heads, 4);
        CHECK_EQ_INT(cfg->num_key_value_heads, CASES[c].kv);
        CHECK_EQ_INT(cfg->head_dim, CASES[c].head_dim);
        CHECK_EQ_INT(cfg->vocab_size, 512);
        CHECK_EQ_INT(cfg->tie_word_embeddings, CASES[c].tied);
        CHECK_NEAR(cfg->rope_theta, CASES[c].theta, 1e-9);
        CHECK_NEAR(cfg->rms_norm_eps, CASES[c].eps, 1e-15);
        CHECK_EQ_STR(cfg->torch_dtype, "float32");
        CHECK(cfg->json && json_is_object(cfg->json));
        CHECK_EQ_INT(mg_model_param_count(m), CASES[c].params);
        CHECK_EQ_INT(mg_model_tensor_count(m), CASES[c].ntensors);
        CHECK_EQ_INT(mg_model_shard_count(m), 1);
        for (size_t i = 1; i < mg_model_tensor_count(m); i++)
            CHECK(strcmp(mg_model_tensor_at(m, i - 1)->name, mg_model_tensor_at(m, i)->name) < 0);
        for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
            const mg_tensor_view *t = mg_model_tensor_at(m, i);
            CHECK(mg_model_find(m, t->name) == t);
        }
        // Tied fallback: lm_head resolves to the embedding when it is absent.
        const mg_tensor_view *lm = mg_model_find_tied(m, "lm_head.weight");
        const mg_tensor_view *emb = mg_model_find(m, "model.embed_tokens.weight");
        CHECK(lm && emb);
        CHECK((lm == emb) == CASES[c].tied);
        CHECK((mg_model_find(m, "lm_head.weight") == NULL) == CASES[c].tied);
        CHECK(mg_model_find(m, "nope") == NULL);
        CHECK(mg_model_find_tied(m, "nope") == NULL);
        float *w = NULL;
        const mg_tensor_view *v = NULL;
        CHECK_OK(mg_model_read_f32(m, "lm_head.weight", &w, &v, &err), &err);
        CHECK(v == lm);
        if (w && v) {
            CHECK_EQ_INT(v->ndim, 2);
            CHECK_EQ_INT(v->shape[0], 512);
            CHECK(memcmp(w, v->data, v->nbytes) == 0); // F32: bit-exact copy
        }
        free(w);
        CHECK_EQ_INT(mg_model_read_f32(m, "missing.weight", &w, NULL, &err), MG_ERR_NOT_FOUND);
        CHECK(strstr(err.msg, "missing.weight") != NULL);
        char *cfgp = mg_model_file(m, "config.json");
        CHECK(cfgp != NULL);
        free(cfgp);
        CHECK(mg_model_file(m, "tokenizer.json") == NULL);
        mg_model_close(m);
    }
}

static void test_single_file(void) {
    mg_error err = {0};
    mg_model *m = NULL;
    CHECK_OK(mg_model_open(MG_TEST_DATA "/golden/tiny-qwen2/model.safetensors", &m, &err), &err);
    if (!m) return;
    CHECK(!mg_model_config_of(m)->present);
    CHECK_EQ_INT(mg_model_param_count(m), 119360);
    const mg_st_file *f = mg_model_shard(m, 0);
    CHECK_EQ_STR(mg_st_metadata(f, "format"), "pt");
    CHECK(mg_st_metadata(f, "nope") == NULL);
    CHECK_EQ_INT(mg_st_file_size(f), 480104);
    CHECK_EQ_INT(mg_st_data_start(f) % 8, 0);
    // Data order is ascending offsets; the hashed lookup finds every tensor.
    for (size_t i = 0; i < mg_st_count(f); i++) {
        const mg_tensor_view *t = mg_st_at(f, i);
        CHECK(mg_st_find(f, t->name) == t);
        if (i)
            CHECK(t->file_offset == mg_st_at(f, i - 1)->file_offset + mg_st_at(f, i - 1)->nbytes);
    }
    CHECK(mg_st_at(f, mg_st_count(f)) == NULL);
    mg_model_close(m);
}

static void write_file(const char *name, const char *text) {
    char *p = mg_path_join(g_dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    free(p);
}

static void expect_fail(const char *path, mg_status st, const char *needle) {
    mg_error err = {0};
    mg_model *m = NULL;
    mg_status rc = mg_model_open(path, &m, &err);
    CHECK_EQ_INT(rc, st);
    CHECK(m == NULL);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "'%s' not in: %s", needle, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL);
}

static void test_refusals(void) {
    char *d = mg_path_join(g_dir, "empty");
    mg_error err = {0};
    CHECK_OK(mg_mkdir_p(d, &err), &err);
    expect_fail(d, MG_ERR_INVALID, "no config.json and no *.safetensors");
    free(d);
    // Pickled weights only: refused with the reason and the conversion recipe.
    d = mg_path_join(g_dir, "pickled");
    CHECK_OK(mg_mkdir_p(d, &err), &err);
    write_file("pickled/config.json", "{}");
    write_file("pickled/pytorch_model.bin", "PK\x03\x04junk");
    expect_fail(d, MG_ERR_UNSUPPORTED, "executes arbitrary code");
    expect_fail(d, MG_ERR_UNSUPPORTED, "save_pretrained");
    char *bin = mg_path_join(d, "pytorch_model.bin");
    expect_fail(bin, MG_ERR_UNSUPPORTED, "pytorch_model.bin");
    free(bin);
    free(d);
    expect_fail(MG_TEST_DATA "/does-not-exist", MG_ERR_NOT_FOUND, "does-not-exist");
}

static void test_single_file_wins_over_index(void) {
    // transformers loads model.safetensors when both it and an index exist.
    mg_error err = {0};
    char *d = mg_path_join(g_dir, "both");
    CHECK_OK(mg_mkdir_p(d, &err), &err);
    write_file("both/config.json", "{\"tie_word_embeddings\": true, \"hidden_size\": 64, "
                                   "\"num_attention_heads\": 4}");
    write_file("both/model.safetensors.index.json",
               "{\"weight_map\": {\"x\": \"gone.safetensors\"}}");
    char *src = NULL;
    size_t len = 0;
    CHECK_OK(
        mg_file_read_all(MG_TEST_DATA "/golden/tiny-qwen2/model.safetensors", 0, &src, &len, &err),
        &err);
    char *dst = mg_path_join(d, "model.safetensors");
    CHECK_OK(mg_write_file_atomic(dst, src, len, false, &err), &err);
    mg_model *m = NULL;
    CHECK_OK(mg_model_open(d, &m, &err), &err);
    if (m) {
        CHECK_EQ_INT(mg_model_shard_count(m), 1);
        CHECK(mg_model_config_of(m)->tie_word_embeddings);
        CHECK_EQ_INT(mg_model_config_of(m)->head_dim, 16);           // derived: 64 / 4
        CHECK_EQ_INT(mg_model_config_of(m)->num_key_value_heads, 4); // defaults to heads
    }
    mg_model_close(m);
    free(src);
    free(dst);
    free(d);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/mg_test_model_dir_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    RUN(test_golden_configs);
    RUN(test_single_file);
    RUN(test_refusals);
    RUN(test_single_file_wins_over_index);
    mg_remove_tree(g_dir, NULL);
    return TEST_END();
}
