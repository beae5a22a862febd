/* test_load.c - binding model folders: bf16 conversion, missing and mis-shaped
 * tensors, unsupported architectures. Builds variants of tiny-llama in a
 * temporary folder. */
#include <stdlib.h>
#include <unistd.h>

#include "base/half.h"
#include "golden_fixture.h"
#include "io/safetensors.h"
#include "nn/forward.h"
#include "test.h"

static char tmp_root[] = "/tmp/mg_test_load_XXXXXX";

// Writes DIR/config.json = the fixture's config with `key` replaced by `value`
// (raw JSON) and links the fixture's weights. Returns the folder path (static).
static const char *variant(const char *fixture, const char *name, const char *key,
                           const char *value, int link_weights) {
    static char dir[700];
    char src[600], path[800];
    snprintf(dir, sizeof dir, "%s/%s", tmp_root, name);
    mg_error err;
    mg_mkdir_p(dir, &err);
    snprintf(src, sizeof src, "%s/golden/%s/config.json", MG_TEST_DATA, fixture);
    json_t *cfg;
    if (mg_json_load_file(src, &cfg, &err) != MG_OK) return NULL;
    if (key) json_object_set_new(cfg, key, json_loads(value, JSON_DECODE_ANY, NULL));
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_dump_file(cfg, path, JSON_INDENT(2));
    json_decref(cfg);
    if (link_weights) {
        snprintf(src, sizeof src, "%s/golden/%s/model.safetensors", MG_TEST_DATA, fixture);
        char *abs = realpath(src, NULL);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (!abs || symlink(abs, path) != 0) fprintf(stderr, "symlink failed\n");
        free(abs);
    }
    return dir;
}

static void expect_fail(const char *dir, mg_status want, const char *needle) {
    mg_nn_model *m = NULL;
    mg_error err = {0};
    mg_status rc = mg_nn_model_load(dir, &m, &err);
    CHECK_MSG(rc == want, "%s: status %d, expected %d (%s)", dir, rc, want, err.msg);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "'%s' not in '%s'", needle, err.msg);
    CHECK(m == NULL);
}

static void test_errors(void) {
    expect_fail(variant("tiny-llama", "gpt2", "architectures", "[\"GPT2LMHeadModel\"]", 1),
                MG_ERR_UNSUPPORTED, "LlamaForCausalLM, MistralForCausalLM");
    expect_fail(variant("tiny-llama", "layers", "num_hidden_layers", "3", 1), MG_ERR_NOT_FOUND,
                "model.layers.2.input_layernorm.weight");
    expect_fail(variant("tiny-llama", "ffn", "intermediate_size", "128", 1), MG_ERR_INVALID,
                "has shape [64, 160], expected [64, 128]");
    expect_fail(variant("tiny-llama3", "untied", "tie_word_embeddings", "false", 1),
                MG_ERR_NOT_FOUND, "lm_head.weight");
    expect_fail(variant("tiny-qwen2", "noqkn", "architectures", "[\"Qwen3ForCausalLM\"]", 1),
                MG_ERR_NOT_FOUND, "k_norm.weight' [16] is missing");
    // No weights at all.
    mg_nn_model *m = NULL;
    mg_error err;
    CHECK(mg_nn_model_load(variant("tiny-llama", "empty", NULL, NULL, 0), &m, &err) != MG_OK);
}

// A bf16 copy loads as exactly its bf16 values in f32 and runs close to the
// f32 golden logits.
static void test_bf16(void) {
    const char *dir = variant("tiny-llama", "bf16", "torch_dtype", "\"bfloat16\"", 0);
    mg_nn_model *ref = golden_model("tiny-llama");
    if (!ref) return;
    mg_nn_tensor *ts = ref->tensors;
    size_t n = ref->n_tensors;
    mg_tensor_spec *specs = calloc(n, sizeof *specs);
    for (size_t i = 0; i < n; i++) {
        specs[i].name = ts[i].name;
        specs[i].dtype = MG_DTYPE_BF16;
        specs[i].ndim = ts[i].ndim;
        specs[i].shape[0] = ts[i].shape[0];
        specs[i].shape[1] = ts[i].shape[1];
    }
    mg_st_writer *w = NULL;
    mg_error err;
    CHECK_OK(mg_st_writer_open(dir, specs, n, (uint64_t)1 << 30, &w, &err), &err);
    for (size_t i = 0; w && i < n; i++) {
        uint16_t *h = malloc(ts[i].numel * 2);
        mg_f32_to_bf16_array(ts[i].data, h, ts[i].numel);
        CHECK_OK(mg_st_writer_write(w, i, h, &err), &err);
        // The reference becomes the rounded values.
        mg_bf16_to_f32_array(h, ts[i].data, ts[i].numel);
        free(h);
    }
    if (w) CHECK_OK(mg_st_writer_finish(w, &err), &err);
    mg_nn_model *m = NULL;
    CHECK_OK(mg_nn_model_load(dir, &m, &err), &err);
    if (m) {
        CHECK_EQ_INT(m->n_tensors, n);
        for (size_t i = 0; i < n; i++)
            CHECK(memcmp(m->tensors[i].data, ts[i].data, ts[i].numel * 4) == 0);
        golden g;
        CHECK(golden_load("tiny-llama", 512, &g) == 0);
        mg_nn_state *s = NULL;
        CHECK_OK(mg_nn_state_new(m, 64, 0, &s, &err), &err);
        float *lg = malloc(64 * 512 * sizeof(float));
        CHECK_OK(mg_nn_forward(m, s, g.seq[2].tokens, 64, 0, lg, &err), &err);
        double mx = 0;
        for (size_t i = 0; i < 64 * 512; i++) {
            double d = fabs((double)lg[i] - g.seq[2].logits[i]);
            mx = d > mx ? d : mx;
        }
        // bf16 weights: a looser bound (8 mantissa bits).
        CHECK_MSG(mx < 0.1 && mx > 0, "bf16 max diff %g", mx);
        // Kept as bf16 (auto: the checkpoint is bf16): same logits as the
        // f32 model holding the widened values, prefill and decode.
        mg_nn_model *h = NULL;
        CHECK_OK(mg_nn_model_load_as(dir, MG_NN_WEIGHTS_AUTO, &h, &err), &err);
        if (h) {
            CHECK_EQ_INT(h->matrix_dtype, MG_DTYPE_BF16);
            CHECK(h->layers[0].wqkv.bf16 != NULL && h->layers[0].wqkv.f32 == NULL);
            float *lh = malloc(64 * 512 * sizeof(float));
            mg_nn_state *s2 = NULL;
            CHECK_OK(mg_nn_state_new(h, 64, 0, &s2, &err), &err);
            CHECK_OK(mg_nn_forward(h, s2, g.seq[2].tokens, 64, 0, lh, &err), &err);
            CHECK(memcmp(lh, lg, 64 * 512 * sizeof(float)) == 0);
            mg_nn_state_reset(s2);
            double dmax = 0;
            for (int t = 0; t < 64; t++) {
                CHECK_OK(mg_nn_forward(h, s2, &g.seq[2].tokens[t], 1, 0, lh, &err), &err);
                for (int j = 0; j < 512; j++) {
                    double d = fabs((double)lh[j] - lg[(size_t)t * 512 + j]);
                    dmax = d > dmax ? d : dmax;
                }
            }
            CHECK_MSG(dmax <= 1e-5, "bf16 decode vs prefill %g", dmax);
            free(lh);
            mg_nn_state_free(s2);
            mg_nn_model_free(h);
        }
        free(lg);
        mg_nn_state_free(s);
        golden_free(&g);
    }
    free(specs);
    mg_nn_model_free(m);
    mg_nn_model_free(ref);
}

// mg_nn_model_find gives writable views; overwriting a weight changes the output.
static void test_caller_buffers(void) {
    mg_nn_model *m = golden_model("tiny-qwen2");
    if (!m) return;
    CHECK(mg_nn_model_find(m, "lm_head.weight") == NULL); // tied
    CHECK(mg_nn_model_find(m, "model.layers.1.self_attn.k_proj.bias") != NULL);
    const mg_nn_tensor *t = mg_nn_model_find(m, "model.norm.weight");
    CHECK(t && t->numel == 64);
    int32_t ids[3] = {5, 6, 7};
    float a[512], b[512];
    mg_error err;
    mg_nn_state *s = NULL;
    CHECK_OK(mg_nn_state_new(m, 8, 0, &s, &err), &err);
    CHECK_OK(mg_nn_forward(m, s, ids, 3, 2, a, &err), &err);
    for (size_t i = 0; t && i < t->numel; i++)
        t->data[i] *= 2.0f;
    mg_nn_state_reset(s);
    CHECK_OK(mg_nn_forward(m, s, ids, 3, 2, b, &err), &err);
    // The final norm's weight scales the logits linearly (tied head).
    CHECK_NEAR(b[17], 2 * a[17], 1e-5);
    CHECK_EQ_INT(mg_nn_model_param_count(m), 119360);
    mg_nn_state_free(s);
    mg_nn_model_free(m);
}

int main(void) {
    if (!mkdtemp(tmp_root)) return 1;
    RUN(test_errors);
    RUN(test_bf16);
    RUN(test_caller_buffers);
    mg_error err;
    mg_remove_tree(tmp_root, &err);
    return TEST_END();
}
