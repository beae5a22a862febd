/* test_merge_memory.c - `mergeguard merge --max-memory` and the peak-memory
 * estimate (merge/exec.h): for the golden fixtures and a generated bigger
 * model (18M parameters, an 8M-element embedding), the estimate printed by
 * --dry-run --json is at least the measured peak RSS of the merge minus the
 * dry run's (the baseline: binary, libraries, opened models), and within a
 * sane factor of it; a --max-memory below the estimate is refused with exit 2
 * and one line naming the estimate and the biggest tensor, before anything
 * is written; a limit at the estimate merges. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "test.h"

#define GOLDEN MG_TEST_DATA "/golden"

static char T[256];

/* Runs `mergeguard ARGS` (split on spaces), stdout/stderr to files in T;
 * returns the exit code and the peak RSS in bytes. */
static int run(const char *args, uint64_t *rss) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", args);
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)MG_BINARY;
    for (char *t = strtok(buf, " "); t && n < 63; t = strtok(NULL, " "))
        argv[n++] = t;
    argv[n] = NULL;
    char out[300], errp[300];
    snprintf(out, sizeof out, "%s/stdout.txt", T);
    snprintf(errp, sizeof errp, "%s/stderr.txt", T);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(errp, "w", stderr)) _exit(127);
        execv(MG_BINARY, argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    if (rss) *rss = (uint64_t)ru.ru_maxrss * 1024;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *name) {
    char p[300], *s = NULL;
    size_t len;
    mg_error err = {0};
    snprintf(p, sizeof p, "%s/%s", T, name);
    return mg_file_read_all(p, 0, &s, &len, &err) ? NULL : s;
}

/* dst: a Llama model with big matrices (values from a hash of salt, index). */
static void make_model(const char *dst, unsigned salt) {
    mg_error err = {0};
    mg_mkdir_p(dst, &err);
    const int H = 512, I = 1408, V = 16000, KV = 256;
    struct {
        const char *name;
        int64_t r, c;
    } t[] = {{"model.embed_tokens.weight", V, H},
             {"lm_head.weight", V, H},
             {"model.norm.weight", H, 0},
             {"model.layers.0.input_layernorm.weight", H, 0},
             {"model.layers.0.post_attention_layernorm.weight", H, 0},
             {"model.layers.0.self_attn.q_proj.weight", H, H},
             {"model.layers.0.self_attn.k_proj.weight", KV, H},
             {"model.layers.0.self_attn.v_proj.weight", KV, H},
             {"model.layers.0.self_attn.o_proj.weight", H, H},
             {"model.layers.0.mlp.gate_proj.weight", I, H},
             {"model.layers.0.mlp.up_proj.weight", I, H},
             {"model.layers.0.mlp.down_proj.weight", H, I}};
    size_t n = sizeof t / sizeof *t;
    mg_tensor_spec specs[16];
    for (size_t i = 0; i < n; i++) {
        specs[i] = (mg_tensor_spec){t[i].name, MG_DTYPE_BF16, t[i].c ? 2 : 1, {t[i].r, t[i].c}};
    }
    mg_st_writer *w = NULL;
    CHECK_OK(mg_st_writer_open(dst, specs, n, 0, &w, &err), &err);
    for (size_t i = 0; w && i < n; i++) {
        uint64_t numel = (uint64_t)t[i].r * (uint64_t)(t[i].c ? t[i].c : 1);
        float *x = mg_malloc(numel * sizeof(float));
        for (uint64_t e = 0; e < numel; e++) {
            uint32_t h = (uint32_t)(e * 2654435761u) ^ (salt * 40503u + (uint32_t)i * 977u);
            h ^= h >> 15;
            h *= 2246822519u;
            h ^= h >> 13;
            x[e] = t[i].c ? ((float)(h % 2001u) / 1000.0f - 1.0f) * 0.05f : 1.0f;
        }
        CHECK_OK(mg_st_writer_write_f32(w, i, x, &err), &err);
        free(x);
    }
    if (w) CHECK_OK(mg_st_writer_finish(w, &err), &err);
    char p[400];
    snprintf(p, sizeof p, "%s/config.json", dst);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    fprintf(f,
            "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
            "\"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d, "
            "\"num_hidden_layers\": 1, \"num_attention_heads\": 8, \"num_key_value_heads\": 4, "
            "\"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\", "
            "\"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-05, "
            "\"tie_word_embeddings\": false}\n",
            V, H, I);
    fclose(f);
}

/* One config: estimate (dry run) vs measured peak RSS above the dry run's. */
static void check_config(const char *label, const char *cfg_text, int threads, double max_factor) {
    char cfg[300], args[1024];
    snprintf(cfg, sizeof cfg, "%s/%s.yml", T, label);
    FILE *f = fopen(cfg, "wb");
    if (!f) return;
    fputs(cfg_text, f);
    fclose(f);
    uint64_t rss_dry = 0, rss = 0;
    snprintf(args, sizeof args, "merge %s --dry-run --json -q --threads %d", cfg, threads);
    CHECK_EQ_INT(run(args, &rss_dry), 0);
    char *plan = slurp("stdout.txt");
    json_t *j = plan ? json_loads(plan, 0, NULL) : NULL;
    free(plan);
    json_t *me = json_object_get(j, "memory_estimate");
    uint64_t est = (uint64_t)json_integer_value(json_object_get(me, "peak_bytes"));
    char biggest[256];
    const char *bt = json_string_value(json_object_get(me, "biggest_tensor"));
    snprintf(biggest, sizeof biggest, "%s", bt ? bt : "?");
    CHECK_MSG(est > 0 && json_integer_value(json_object_get(me, "threads")) == threads,
              "%s: no estimate in the dry run", label);
    json_decref(j);

    // Below the estimate: refused up front, nothing written.
    snprintf(args, sizeof args, "merge %s %s/%s-refused --max-memory %llu --threads %d", cfg, T,
             label, (unsigned long long)(est - 1), threads);
    CHECK_EQ_INT(run(args, NULL), 2);
    char *e = slurp("stderr.txt");
    CHECK_MSG(e && strstr(e, "--max-memory") && strstr(e, "MiB") && strstr(e, biggest) &&
                  strchr(e, '\n') == e + strlen(e) - 1,
              "%s: refusal message: %s", label, e ? e : "(none)");
    free(e);
    char p[400];
    snprintf(p, sizeof p, "%s/%s-refused", T, label);
    CHECK(!mg_path_exists(p));

    // At the estimate: merges; the measured peak stays under it.
    snprintf(args, sizeof args, "merge %s %s/%s-out --max-memory %llu --threads %d -q", cfg, T,
             label, (unsigned long long)est, threads);
    CHECK_EQ_INT(run(args, &rss), 0);
    double used = (double)rss - (double)rss_dry;
    printf("%s (%d threads): estimate %.1f MiB, measured peak RSS %.1f MiB - baseline %.1f MiB "
           "= %.1f MiB (estimate / measured = %.2f)\n",
           label, threads, (double)est / 1048576.0, (double)rss / 1048576.0,
           (double)rss_dry / 1048576.0, used / 1048576.0, used > 0 ? (double)est / used : 0.0);
    CHECK_MSG(used <= (double)est, "%s: measured %.0f bytes above the baseline, estimate %llu",
              label, used, (unsigned long long)est);
    if (max_factor > 0)
        CHECK_MSG((double)est <= max_factor * used, "%s: estimate %.1f x the measured peak", label,
                  (double)est / used);
    mg_remove_tree(p, NULL);
    snprintf(p, sizeof p, "%s/%s-out", T, label);
    mg_remove_tree(p, NULL);
}

static void test_golden(void) {
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "merge_method: ties\nbase_model: %s/tiny-llama\nmodels:\n"
             "  - model: %s/tiny-llama3\n    parameters: {weight: 0.6, density: 0.5}\n"
             "  - model: %s/tiny-llama\nparameters: {normalize: true}\ndtype: float32\n"
             "out_dtype: bfloat16\n",
             GOLDEN, GOLDEN, GOLDEN);
    // Tiny tensors: the fixed per-thread staging buffers dominate the estimate.
    check_config("golden-ties", cfg, 2, 0);
}

static void test_big(void) {
    char a[300], b[300], c[300], cfg[2048];
    snprintf(a, sizeof a, "%s/big-base", T);
    snprintf(b, sizeof b, "%s/big-a", T);
    snprintf(c, sizeof c, "%s/big-b", T);
    // In a child: the generator's buffers must not inflate this process, whose
    // forks count its resident pages in their peak until they exec.
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        make_model(a, 1);
        make_model(b, 2);
        make_model(c, 3);
        _exit(TEST_END());
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(cfg, sizeof cfg,
             "merge_method: linear\nmodels:\n  - model: %s\n    parameters: {weight: 0.5}\n"
             "  - model: %s\n    parameters: {weight: 0.3}\n  - model: %s\n"
             "    parameters: {weight: 0.2}\ndtype: float32\nout_dtype: float32\n",
             a, b, c);
    check_config("big-linear", cfg, 2, 4.0);
    check_config("big-linear-4threads", cfg, 4, 4.0);
    snprintf(cfg, sizeof cfg,
             "merge_method: ties\nbase_model: %s\nmodels:\n"
             "  - model: %s\n    parameters: {weight: 0.6, density: 0.5}\n"
             "  - model: %s\n    parameters: {weight: 0.4, density: 0.3}\n"
             "parameters: {normalize: true}\ndtype: float32\nout_dtype: bfloat16\n",
             a, b, c);
    check_config("big-ties", cfg, 2, 4.0);
    check_config("big-ties-1thread", cfg, 1, 4.0);
    snprintf(cfg, sizeof cfg,
             "merge_method: dare_ties\nbase_model: %s\nmodels:\n"
             "  - model: %s\n    parameters: {weight: 0.6, density: 0.5}\n"
             "  - model: %s\n    parameters: {weight: 0.4, density: 0.3}\n"
             "dtype: float32\nout_dtype: bfloat16\n",
             a, b, c);
    check_config("big-dare_ties", cfg, 2, 4.0);
}

int main(void) {
    snprintf(T, sizeof T, "/tmp/mg_test_merge_memory_XXXXXX");
    if (!mkdtemp(T)) return 1;
    RUN(test_golden);
    RUN(test_big);
    if (!getenv("MG_KEEP_TMP")) mg_remove_tree(T, NULL);
    return TEST_END();
}
