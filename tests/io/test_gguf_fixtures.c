/* test_gguf_fixtures.c - export every model folder under tests/data to GGUF in
 * every --outtype and read it back through the project's reader (issue 11).
 *
 * The folders are found by walking tests/data and tests/bad (a folder holding
 * config.json, a .safetensors or a .bin file), so a fixture added later is
 * covered too:
 *  - a folder mg_model_open accepts with a GGUF architecture is exported as
 *    f32, f16, bf16 and q8_0 and each file checked against the HF source by
 *    gguf_check.h (metadata keys and types of the A2 table, tensor names,
 *    shapes and types, every element; tokenizer metadata); the golden and
 *    gendata models must be among them;
 *  - any other folder (the malformed suite) must fail the export as bad input
 *    (exit code 2) with the same message as opening it, leaving no file and
 *    no temporary behind. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "gguf_check.h"

static char tmpdir[256];

typedef struct dir_list {
    char **v;
    size_t n, cap;
} dir_list;

static bool is_model_file(const char *name) {
    size_t n = strlen(name);
    return !strcmp(name, "config.json") || (n > 12 && !strcmp(name + n - 12, ".safetensors")) ||
           (n > 4 && !strcmp(name + n - 4, ".bin"));
}

/* Every folder under path holding a model file, sorted by the walk order. */
static void find_models(const char *path, dir_list *out) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    bool model = false;
    char **subs = NULL;
    size_t ns = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = mg_path_join(path, e->d_name);
        if (mg_path_is_dir(p)) {
            subs = mg_realloc(subs, (ns + 1) * sizeof *subs);
            subs[ns++] = p;
            continue;
        }
        if (is_model_file(e->d_name)) model = true;
        free(p);
    }
    closedir(d);
    if (model) {
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 16;
            out->v = mg_realloc(out->v, out->cap * sizeof *out->v);
        }
        out->v[out->n++] = mg_strdup(path);
    }
    for (size_t i = 0; i < ns; i++) {
        find_models(subs[i], out);
        free(subs[i]);
    }
    free(subs);
}

static bool dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    bool empty = true;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
    if (d) closedir(d);
    return empty;
}

static void test_every_fixture(void) {
    dir_list models = {0};
    find_models(MG_TEST_DATA, &models);
    find_models(MG_SOURCE_DIR "/tests/bad", &models); // the malformed-input suite
    gguf_check_stats s = {0};
    size_t exported = 0, refused = 0;
    bool golden[4] = {false}, gendata[3] = {false};
    static const char *GOLDEN[] = {"golden/tiny-llama", "golden/tiny-llama3", "golden/tiny-qwen2",
                                   "golden/tiny-qwen3"};
    static const char *GENDATA[] = {"gendata/babbler", "gendata/gen", "gendata/refuser"};
    for (size_t i = 0; i < models.n; i++) {
        const char *dir = models.v[i];
        const char *rel = !strncmp(dir, MG_TEST_DATA "/", strlen(MG_TEST_DATA) + 1)
                              ? dir + strlen(MG_TEST_DATA) + 1
                              : dir + strlen(MG_SOURCE_DIR "/tests") + 1;
        mg_error oerr = {0};
        mg_model *m = NULL;
        mg_status ost = mg_model_open(dir, &m, &oerr);
        const char *arch = m ? gc_arch_of(mg_model_config_of(m)) : NULL;
        mg_model_close(m);
        if (!ost && arch) {
            for (int o = 0; o < 4; o++) {
                char name[64];
                snprintf(name, sizeof name, "m%zu-%s.gguf", i, mg_gguf_outtype_name(o));
                char *out = mg_path_join(tmpdir, name);
                gguf_check_export(dir, out, (mg_gguf_outtype)o, &s);
                free(out);
            }
            exported++;
            for (int k = 0; k < 4; k++)
                golden[k] |= !strcmp(rel, GOLDEN[k]);
            for (int k = 0; k < 3; k++)
                gendata[k] |= !strcmp(rel, GENDATA[k]);
            printf("  %-40s round trip x4\n", rel);
        } else {
            // Bad input: the same error as opening it (or the unsupported
            // architecture), exit code 2, nothing written.
            char *out = mg_path_join(tmpdir, "refused.gguf");
            mg_error err = {0};
            mg_gguf_export_opts opts = {MG_GGUF_OUT_F16, false, NULL};
            mg_status st = mg_gguf_export(dir, out, &opts, NULL, &err);
            CHECK_MSG(st != MG_OK, "%s: exported although it does not open", rel);
            CHECK_MSG(mg_status_exit_code(st) == 2, "%s: exit code %d (%s)", rel,
                      mg_status_exit_code(st), err.msg);
            if (ost)
                CHECK_EQ_STR(err.msg, oerr.msg);
            else
                CHECK_MSG(strstr(err.msg, "architecture") != NULL, "%s: %s", rel, err.msg);
            CHECK(!mg_path_exists(out));
            CHECK(dir_is_empty(tmpdir));
            free(out);
            refused++;
            printf("  %-40s refused: %.90s\n", rel, err.msg);
        }
        // Nothing but the finished files: no temporaries left by any export.
        DIR *d = opendir(tmpdir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            CHECK_MSG(!strstr(e->d_name, ".tmp"), "temporary %s left", e->d_name);
        if (d) closedir(d);
        mg_error rerr = {0};
        mg_remove_tree(tmpdir, &rerr);
        mkdir(tmpdir, 0700);
        free(models.v[i]);
    }
    free(models.v);
    for (int k = 0; k < 4; k++)
        CHECK_MSG(golden[k], "%s was not round-tripped", GOLDEN[k]);
    for (int k = 0; k < 3; k++)
        CHECK_MSG(gendata[k], "%s was not round-tripped", GENDATA[k]);
    CHECK(refused >= 20); // the malformed suite
    CHECK_EQ_INT(s.files, 4 * exported);
    CHECK(s.q8_blocks > 0 && s.exact > 0);
    printf("tests/data: %zu model folders exported, %zu refused as bad input\n", exported, refused);
    gguf_check_print("tests/data", &s);
}

/* Config variants the fixtures lack, through the same checks: llama with
 * q/k/v biases (the bias rows permuted like the weights: Qwen2 weights
 * declared as LlamaForCausalLM), Mistral, linear and yarn rope scaling keys. */
static void test_variants(void) {
    static const char *V[][3] = {
        {"llama-bias", "tiny-qwen2",
         "{\"architectures\": [\"LlamaForCausalLM\"], "
         "\"model_type\": \"llama\", \"attention_bias\": true}"},
        {"mistral", "tiny-llama", "{\"architectures\": [\"MistralForCausalLM\"]}"},
        {"linear", "tiny-llama", "{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}}"},
        {"yarn", "tiny-qwen3",
         "{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 2.0, "
         "\"original_max_position_embeddings\": 64}}"},
    };
    gguf_check_stats s = {0};
    for (size_t i = 0; i < sizeof V / sizeof V[0]; i++) {
        char *dir = gc_fixture_variant(tmpdir, V[i][0], V[i][1], V[i][2]);
        for (int o = 0; o < 4; o++) {
            char name[64];
            snprintf(name, sizeof name, "%s-%s.gguf", V[i][0], mg_gguf_outtype_name(o));
            char *out = mg_path_join(tmpdir, name);
            gguf_check_export(dir, out, (mg_gguf_outtype)o, &s);
            if (i == 0 && o == 0) { // the biases are there and were permuted
                mg_gguf_file *f = NULL;
                mg_error err = {0};
                CHECK_OK(mg_gguf_open(out, &f, &err), &err);
                const mg_gguf_tensor *b = f ? mg_gguf_find_tensor(f, "blk.0.attn_q.bias") : NULL;
                CHECK(b != NULL && b->type == MG_GGML_F32);
                mg_gguf_close(f);
            }
            free(out);
        }
        free(dir);
    }
    CHECK_EQ_INT(s.files, 16);
    gguf_check_print("config variants", &s);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mg_test_gguf_fixtures_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    mg_log_set_level(MG_LOG_QUIET); // the golden folders have no tokenizer.json (a warning)
    RUN(test_every_fixture);
    RUN(test_variants);
    mg_error err = {0};
    mg_remove_tree(tmpdir, &err);
    return TEST_END();
}
