/* test_merge_e2e.c - `mergeguard merge` end to end on the tiny-* fixtures:
 * every method in bf16, f16 and f32 (outputs open, no NaN/Inf, config.json,
 * tokenizer and generation files, model card, verbatim config), value checks
 * (passthrough scale, slerp t = 0, linear one-hot), determinism across thread
 * counts, --force and --dry-run. (The bad configs are in tests/bad/merge_yaml,
 * run by tests/bad/test_bad.c.) */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "test.h"

#define GOLDEN MG_TEST_DATA "/golden"

static char T[256];                         // temporary folder
static char B[300], A[300], C[300]; // base, tied llama3, perturbed llama

static int run(const char *args, char *errbuf, size_t errlen) {
    char cmd[4096], ef[300];
    snprintf(ef, sizeof ef, "%s/stderr.txt", T);
    snprintf(cmd, sizeof cmd, "%s merge %s 2>%s >%s/stdout.txt", MG_BINARY, args, ef, T);
    int rc = system(cmd);
    if (errbuf) {
        errbuf[0] = 0;
        FILE *f = fopen(ef, "rb");
        if (f) {
            size_t n = fread(errbuf, 1, errlen - 1, f);
            errbuf[n] = 0;
            fclose(f);
        }
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

typedef enum { D_COPY, D_PERTURB } derive_kind;

/* Writes a model folder derived from src (config.json + one safetensors). */
static void derive(const char *src, const char *dst, derive_kind kind, bool tokenizer) {
    mg_model *m = NULL;
    mg_error err = {0};
    CHECK_OK(mg_model_open(src, &m, &err), &err);
    if (!m) return;
    mg_mkdir_p(dst, &err);
    size_t n = mg_model_tensor_count(m), k = 0;
    mg_tensor_spec *specs = calloc(n, sizeof *specs);
    const mg_tensor_view **views = calloc(n, sizeof *views);
    for (size_t i = 0; i < n; i++) {
        const mg_tensor_view *v = mg_model_tensor_at(m, i);
        views[k] = v;
        specs[k] = (mg_tensor_spec){v->name, v->dtype, v->ndim, {0}};
        memcpy(specs[k].shape, v->shape, sizeof specs[k].shape);
        k++;
    }
    mg_st_writer *w = NULL;
    CHECK_OK(mg_st_writer_open(dst, specs, k, 0, &w, &err), &err);
    for (size_t i = 0; w && i < k; i++) {
        const mg_tensor_view *v = views[i];
        uint64_t numel = 1;
        for (int d = 0; d < specs[i].ndim; d++)
            numel *= (uint64_t)specs[i].shape[d];
        float *x = calloc(numel + 1, sizeof(float));
        float *orig = calloc(v->numel + 1, sizeof(float));
        mg_tensor_to_f32(v, orig, &err);
        for (uint64_t e = 0; e < numel; e++) {
            float o = orig[e < v->numel ? e : e % v->numel];
            x[e] = kind == D_PERTURB ? o * 1.1f + 0.01f * (float)((int)((e * 2654435761u) % 17) - 8)
                                     : o;
        }
        CHECK_OK(mg_st_writer_write(w, i, x, &err), &err);
        free(x), free(orig);
    }
    if (w) CHECK_OK(mg_st_writer_finish(w, &err), &err);
    json_t *cfg = json_deep_copy(mg_model_config_of(m)->json);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", dst);
    json_dump_file(cfg, p, JSON_INDENT(2));
    json_decref(cfg);
    if (tokenizer) {
        snprintf(p, sizeof p, "%s/tokenizer.json", dst);
        write_file(p, "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\", \"vocab\": {}, "
                      "\"merges\": []}}\n");
        snprintf(p, sizeof p, "%s/tokenizer_config.json", dst);
        write_file(p, "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}\n");
        snprintf(p, sizeof p, "%s/generation_config.json", dst);
        write_file(p, "{\"bos_token_id\": 1, \"eos_token_id\": 2}\n");
    }
    free(specs);
    free(views);
    mg_model_close(m);
}

static char *slurp(const char *path) {
    char *buf = NULL;
    size_t len;
    mg_error err = {0};
    if (mg_file_read_all(path, 0, &buf, &len, &err)) return NULL;
    return buf;
}

/* Opens an output and checks its contents. Returns the model (caller closes). */
static mg_model *check_output(const char *out, const char *cfg_path, mg_dtype dt, int layers,
                              const char *what) {
    mg_model *m = NULL;
    mg_error err = {0};
    mg_status st = mg_model_open(out, &m, &err);
    CHECK_MSG(st == MG_OK, "%s: output does not open: %s", what, err.msg);
    if (st) return NULL;
    const mg_model_config *c = mg_model_config_of(m);
    CHECK_MSG(c->num_hidden_layers == layers, "%s: %lld layers", what,
              (long long)c->num_hidden_layers);
    CHECK_EQ_STR(c->torch_dtype, mg_dtype_torch_name(dt));
    for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
        const mg_tensor_view *v = mg_model_tensor_at(m, i);
        CHECK_MSG(v->dtype == dt, "%s: %s has dtype %s", what, v->name, mg_dtype_name(v->dtype));
        float *x = malloc(v->numel * sizeof(float) + 4);
        mg_tensor_to_f32(v, x, &err);
        bool finite = true;
        for (uint64_t e = 0; e < v->numel; e++)
            finite &= isfinite(x[e]);
        CHECK_MSG(finite, "%s: %s has NaN/Inf", what, v->name);
        free(x);
    }
    const char *files[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                           "README.md", "mergeguard_config.yml"};
    for (int i = 0; i < 5; i++) {
        char *p = mg_model_file(m, files[i]);
        CHECK_MSG(p != NULL, "%s: no %s", what, files[i]);
        free(p);
    }
    char p[512];
    snprintf(p, sizeof p, "%s/README.md", out);
    char *card = slurp(p);
    CHECK(card && !strncmp(card, "---\nbase_model:\n", 16) &&
          strstr(card, "tags:\n- merge\n- mergeguard\n") &&
          strstr(card, "library_name: transformers"));
    free(card);
    snprintf(p, sizeof p, "%s/mergeguard_config.yml", out);
    char *a = slurp(p), *b = slurp(cfg_path);
    CHECK(a && b && !strcmp(a, b));
    free(a), free(b);
    return m;
}

typedef struct mcase {
    const char *name;
    const char *body; // config after the merge_method line; %B %A %C are model paths
    int layers;
} mcase;

static const mcase CASES[] = {
    {"linear",
     "models:\n  - {model: %A, parameters: {weight: 0.5}}\n  - {model: %B, parameters: {weight: "
     "0.5}}\n",
     2},
    {"slerp",
     "base_model: %B\nmodels: [{model: %B}, {model: %A}]\nparameters:\n  t:\n    - {filter: "
     "self_attn, value: [0, 1]}\n    - {value: 0.35}\n",
     2},
    {"nuslerp",
     "models:\n  - {model: %A, parameters: {weight: 0.6}}\n  - {model: %C, parameters: {weight: "
     "0.4}}\nparameters: {nuslerp_flatten: false}\n",
     2},
    {"multislerp",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6}}\n  - {model: %C, "
     "parameters: {weight: 0.4}}\n",
     2},
    {"karcher", "models: [{model: %A}, {model: %B}, {model: %C}]\nparameters: {max_iter: 5}\n", 2},
    {"task_arithmetic",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6}}\n  - {model: %C, "
     "parameters: {weight: 0.4}}\n",
     2},
    {"ties",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6, density: 0.3}}\n  - "
     "{model: %C, parameters: {weight: 0.4, density: [1, 0.5]}}\n",
     2},
    {"dare_ties",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6, density: 0.66}}\n  - "
     "{model: %C, parameters: {weight: 0.4, density: 0.5}}\n",
     2},
    {"dare_linear",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6, density: 0.66}}\n  - "
     "{model: %C, parameters: {weight: 0.4, density: 0.5}}\nparameters: {rescale: inverse}\n",
     2},
    {"breadcrumbs",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6, density: 0.9}}\n  - "
     "{model: %C, parameters: {weight: 0.4}}\n",
     2},
    {"breadcrumbs_ties",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6, density: 0.9, gamma: "
     "0.02}}\n  - {model: %C, parameters: {weight: 0.4, density: 0.8}}\n",
     2},
    {"della",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6, density: 0.66, epsilon: "
     "0.05}}\n  - {model: %C, parameters: {weight: 0.4, density: 0.5}}\nparameters: {lambda: "
     "0.5}\n",
     2},
    {"della_linear",
     "base_model: %B\nmodels:\n  - {model: %A, parameters: {weight: 0.6, density: 0.5}}\n  - "
     "{model: %C, parameters: {weight: 0.4, density: 0.5}}\nparameters: {epsilon: 0.1}\n",
     2},
    {"model_stock",
     "base_model: %B\nmodels: [{model: %A}, {model: %C}]\nparameters: {filter_wise: true}\n", 2},
    {"sce", "base_model: %B\nmodels: [{model: %A}, {model: %C}]\nparameters: {select_topk: 0.5}\n",
     2},
    {"ram", "base_model: %B\nmodels: [{model: %A}, {model: %C}]\n", 2},
    {"ramplus_tl",
     "base_model: %B\nmodels: [{model: %A}, {model: %C}]\nparameters: {r: 0.05, alpha: 1}\n", 2},
    {"nearswap", "base_model: %B\nmodels: [{model: %A}]\nparameters: {t: 0.0001}\n", 2},
    {"arcee_fusion", "base_model: %B\nmodels: [{model: %A}]\n", 2},
    {"passthrough",
     "slices:\n  - sources: [{model: %B, layer_range: [0, 2]}]\n  - sources:\n      - model: %C\n  "
     "      layer_range: [1, 2]\n        parameters:\n          scale: [{filter: o_proj, value: "
     "0}, {value: 1}]\n",
     3},
};

/* Expands %B %A %C %T in a template. */
static void expand(const char *tmpl, char *out, size_t n) {
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < n; p++) {
        const char *rep = NULL;
        if (p[0] == '%' && p[1] == 'B') rep = B;
        if (p[0] == '%' && p[1] == 'A') rep = A;
        if (p[0] == '%' && p[1] == 'C') rep = C;
        if (p[0] == '%' && p[1] == 'T') rep = T;
        if (rep) {
            o += (size_t)snprintf(out + o, n - o, "%s", rep);
            p++;
        } else
            out[o++] = *p;
    }
    out[o] = 0;
}

static void test_all_methods(void) {
    const char *dts[] = {"bfloat16", "float16", "float32"};
    const mg_dtype dt[] = {MG_DTYPE_BF16, MG_DTYPE_F16, MG_DTYPE_F32};
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        for (int d = 0; d < 3; d++) {
            char body[2048], cfg[2600], path[400], out[400], args[1024], errs[2048];
            expand(CASES[i].body, body, sizeof body);
            snprintf(cfg, sizeof cfg, "merge_method: %s\n%sout_dtype: %s\n", CASES[i].name, body,
                     dts[d]);
            snprintf(path, sizeof path, "%s/%s_%d.yml", T, CASES[i].name, d);
            snprintf(out, sizeof out, "%s/out_%s_%d", T, CASES[i].name, d);
            write_file(path, cfg);
            snprintf(args, sizeof args, "%s %s -q --threads 2", path, out);
            int rc = run(args, errs, sizeof errs);
            CHECK_MSG(rc == 0, "%s %s: exit %d: %s", CASES[i].name, dts[d], rc, errs);
            if (rc) continue;
            mg_model *m = check_output(out, path, dt[d], CASES[i].layers, CASES[i].name);
            char cmd[800];
            snprintf(cmd, sizeof cmd, "%s inspect %s >/dev/null 2>&1", MG_BINARY, out);
            CHECK_MSG(system(cmd) == 0, "%s: inspect fails on the output", CASES[i].name);
            if (m && !strcmp(CASES[i].name, "passthrough")) {
                // scale 0 on the second slice's o_proj; lm_head untouched
                float x[64 * 64];
                mg_error err = {0};
                const mg_tensor_view *v =
                    mg_model_find(m, "model.layers.2.self_attn.o_proj.weight");
                CHECK(v && !mg_tensor_to_f32(v, x, &err));
                double s = 0;
                for (int e = 0; v && e < 64 * 64; e++)
                    s += fabs(x[e]);
                CHECK(s == 0);
                v = mg_model_find(m, "model.layers.0.self_attn.o_proj.weight");
                CHECK(v && !mg_tensor_to_f32(v, x, &err));
                s = 0;
                for (int e = 0; v && e < 64 * 64; e++)
                    s += fabs(x[e]);
                CHECK(s > 0);
                CHECK(mg_model_find(m, "lm_head.weight") != NULL);
            }
            if (m && !strcmp(CASES[i].name, "slerp") && dt[d] == MG_DTYPE_F32) {
                // self_attn at layer 0 has t = 0: exactly the base
                mg_model *bm = NULL;
                mg_error err = {0};
                mg_model_open(B, &bm, &err);
                const mg_tensor_view *v =
                    mg_model_find(m, "model.layers.0.self_attn.q_proj.weight");
                const mg_tensor_view *w =
                    bm ? mg_model_find(bm, "model.layers.0.self_attn.q_proj.weight") : NULL;
                CHECK(v && w && !memcmp(v->data, w->data, v->nbytes));
                mg_model_close(bm);
            }
            mg_model_close(m);
            if (d < 2) mg_remove_tree(out, NULL);
        }
}

static void test_determinism_and_options(void) {
    char cfg[1200], body[1024], path[400], args[1024], errs[2048], a[400];
    expand(CASES[7].body, body, sizeof body); // dare_ties
    snprintf(cfg, sizeof cfg, "merge_method: dare_ties\n%s", body);
    snprintf(path, sizeof path, "%s/det.yml", T);
    write_file(path, cfg);
    const char *runs[] = {"--threads 1 --seed 7", "--threads 2 --seed 7", "--threads 5 --seed 7",
                          "--threads 2 --seed 8"};
    for (int r = 0; r < 4; r++) {
        snprintf(args, sizeof args, "%s %s/det%d -q %s --out-shard-size 200K", path, T, r, runs[r]);
        CHECK_EQ_INT(run(args, errs, sizeof errs), 0);
    }
    for (int r = 1; r < 4; r++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd,
                 "cd %s && n=0 && for f in det0/*.safetensors; do n=$((n+1)); "
                 "cmp -s $f det%d/${f#det0/} || exit 1; done; test $n -ge 2",
                 T, r);
        int same = system(cmd) == 0;
        if (r < 3)
            CHECK_MSG(same, "threads changed the output (run %d)", r);
        else
            CHECK_MSG(!same, "the seed did not change the masks");
    }
    snprintf(a, sizeof a, "%s/det0/model.safetensors.index.json", T);
    CHECK(mg_path_is_file(a)); // 200K shards: sharded output with an index
    // an existing output is refused without --force, replaced with it
    snprintf(args, sizeof args, "%s %s/det0 -q", path, T);
    CHECK_EQ_INT(run(args, errs, sizeof errs), 2);
    CHECK(strstr(errs, "already exists"));
    CHECK(mg_path_is_file(a));
    snprintf(args, sizeof args, "%s %s/det0 -q --force", path, T);
    CHECK_EQ_INT(run(args, errs, sizeof errs), 0);
    CHECK(!mg_path_is_file(a)); // 5G default: one shard now
    // --dry-run --json prints a plan and writes nothing
    snprintf(args, sizeof args, "%s %s/dry --dry-run --json", path, T);
    CHECK_EQ_INT(run(args, errs, sizeof errs), 0);
    snprintf(a, sizeof a, "%s/dry", T);
    CHECK(!mg_path_exists(a));
    json_t *j = NULL;
    mg_error err = {0};
    snprintf(a, sizeof a, "%s/stdout.txt", T);
    mg_json_load_file(a, &j, &err);
    CHECK(j && json_array_size(json_object_get(j, "tensors")) == 21);
    json_decref(j);
}

int main(void) {
    snprintf(T, sizeof T, "/tmp/mg_merge_e2e_XXXXXX");
    if (!mkdtemp(T)) return 1;
    snprintf(B, sizeof B, "%s/base", T);
    snprintf(A, sizeof A, "%s/llama3", T);
    snprintf(C, sizeof C, "%s/perturbed", T);
    derive(GOLDEN "/tiny-llama", B, D_COPY, true);
    derive(GOLDEN "/tiny-llama3", A, D_COPY, true);
    derive(GOLDEN "/tiny-llama", C, D_PERTURB, false);
    RUN(test_all_methods);
    RUN(test_determinism_and_options);
    int rc = TEST_END();
    if (!rc) mg_remove_tree(T, NULL);
    return rc;
}
