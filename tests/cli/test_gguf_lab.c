/* test_gguf_lab.c - GGUF round trip of the six models of the tiny lab world
 * (base, instruct, bio-expert, chem-expert, generator, guard), issue 11.
 *
 * The world is the one `mergeguard lab build --size tiny` and `demo --quick`
 * keep in the cache (mg_lab_cache_dir, seed 1); it is built there on first use
 * (about a minute), as the demo does. CMakeLists.txt gives this test and
 * cli_test_demo the same RESOURCE_LOCK so ctest -j never builds it twice at
 * once. Every model is exported in every --outtype and checked by
 * gguf_check.h element by element against its bf16 safetensors, with the
 * tokenizer metadata against its tokenizer.json / tokenizer_config.json; on
 * top of that the lab's own token ids are pinned: gpt2 BPE with the "gpt-2"
 * pre-tokenizer, BOS <|begin_of_text|>, EOS the tokenizer_config eos_token,
 * EOT <|im_end|> for the ChatML models and <|eot_id|> for the guard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "gguf_check.h"
#include "lab/recipe.h"

static char tmpdir[256];

static char *world_dir(void) {
    char *dir = mg_lab_cache_dir(MG_WORLD_TINY, 1);
    if (!dir) dir = mg_path_join(tmpdir, "world"); // no HOME: a private build
    return dir;
}

static bool world_complete(const char *dir) {
    int n = 0;
    const char *const *names = mg_lab_model_names(&n);
    bool ok = n == 6;
    for (int i = 0; i < n && ok; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s/model.safetensors", names[i]);
        char *p = mg_path_join(dir, rel);
        ok = mg_path_exists(p);
        free(p);
    }
    return ok;
}

static int64_t token_id(const mg_gguf_file *f, const char *text) {
    const mg_gguf_kv *kv = mg_gguf_find_kv(f, "tokenizer.ggml.tokens");
    return kv ? gc_tok_id(kv, text) : -1;
}

static void test_lab_models(void) {
    char *dir = world_dir();
    mg_error err = {0};
    if (!world_complete(dir)) {
        printf("building the tiny lab world into %s (first use)\n", dir);
        mg_lab_build_opts o = {.seed = 1, .size = MG_WORLD_TINY, .measure = false};
        CHECK_OK(mg_lab_build(dir, &o, &err), &err);
    }
    CHECK(world_complete(dir));
    int n = 0;
    const char *const *names = mg_lab_model_names(&n);
    gguf_check_stats s = {0};
    for (int i = 0; i < n; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s", names[i]);
        char *model = mg_path_join(dir, rel);
        for (int o = 0; o < 4; o++) {
            char name[128];
            snprintf(name, sizeof name, "%s-%s.gguf", names[i], mg_gguf_outtype_name(o));
            char *out = mg_path_join(tmpdir, name);
            gguf_check_export(model, out, (mg_gguf_outtype)o, &s);
            if (o == MG_GGUF_OUT_Q8_0) {
                // The lab's own ids, pinned (gguf_check.h derives them from the files).
                mg_gguf_file *f = NULL;
                CHECK_OK(mg_gguf_open(out, &f, &err), &err);
                if (f) {
                    bool guard = !strcmp(names[i], "guard");
                    gc_check_str(f, "general.architecture", "llama");
                    gc_check_str(f, "tokenizer.ggml.model", "gpt2");
                    gc_check_str(f, "tokenizer.ggml.pre", "gpt-2");
                    CHECK_EQ_INT(gc_u32(f, "tokenizer.ggml.bos_token_id"),
                                 token_id(f, "<|begin_of_text|>"));
                    CHECK_EQ_INT(gc_u32(f, "tokenizer.ggml.eos_token_id"),
                                 token_id(f, guard ? "<|eot_id|>" : "<|im_end|>"));
                    CHECK_EQ_INT(gc_u32(f, "tokenizer.ggml.eot_token_id"),
                                 token_id(f, guard ? "<|eot_id|>" : "<|im_end|>"));
                    CHECK_EQ_INT(gc_u32(f, "tokenizer.ggml.padding_token_id"),
                                 token_id(f, "<|pad|>"));
                    CHECK(token_id(f, "<|begin_of_text|>") >= 0);
                    // Tied embeddings: no output.weight (llama.cpp reuses token_embd).
                    CHECK(mg_gguf_find_tensor(f, "output.weight") == NULL);
                    CHECK(mg_gguf_find_tensor(f, "blk.1.attn_q.weight") != NULL);
                }
                mg_gguf_close(f);
            }
            mg_error rerr = {0};
            mg_remove_tree(out, &rerr);
            free(out);
        }
        free(model);
    }
    CHECK_EQ_INT(s.files, 24);
    CHECK(s.q8_blocks > 0);
    gguf_check_print("lab models", &s);
    free(dir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mg_test_gguf_lab_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    mg_log_set_level(MG_LOG_WARN);
    RUN(test_lab_models);
    mg_error err = {0};
    mg_remove_tree(tmpdir, &err);
    return TEST_END();
}
