/* test_merge_dryrun.c - `mergeguard merge --dry-run --json` on mergekit-style
 * configs: gradients, filter lists with fall-through, slices and passthrough
 * frankenmerges, per-model / slice / top-level precedence, method defaults,
 * dtypes. Every expected value below was worked out by hand from mergekit's
 * rules (gradient: s = t (L-1), linear between neighbours; layer k of an
 * n-layer slice has t = k / (n-1); embeddings and head t = 0). The fixtures
 * are 4-layer models built with the binary itself (passthrough of the 2-layer
 * tiny models stacked twice). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "test.h"

#define GOLDEN MG_TEST_DATA "/golden"

static char T[256], B4[300], A4[300];
static json_t *plan_;

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static int sh(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Expands %B / %A to the 4-layer models, writes the config and runs the dry run. */
static json_t *dry(const char *tmpl) {
    char cfg[4096], path[400], cmd[1200];
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 400 < sizeof cfg; p++) {
        if (p[0] == '%' && (p[1] == 'B' || p[1] == 'A')) {
            o += (size_t)snprintf(cfg + o, sizeof cfg - o, "%s", p[1] == 'B' ? B4 : A4);
            p++;
        } else
            cfg[o++] = *p;
    }
    cfg[o] = 0;
    snprintf(path, sizeof path, "%s/c.yml", T);
    write_file(path, cfg);
    snprintf(cmd, sizeof cmd, "%s merge %s --dry-run --json -q > %s/plan.json 2>%s/err.txt",
             MG_BINARY, path, T, T);
    int rc = sh(cmd);
    CHECK_MSG(rc == 0, "dry run failed (exit %d) for:\n%s", rc, cfg);
    json_decref(plan_);
    plan_ = NULL;
    if (rc) return NULL;
    mg_error err = {0};
    snprintf(path, sizeof path, "%s/plan.json", T);
    CHECK_OK(mg_json_load_file(path, &plan_, &err), &err);
    return plan_;
}

static json_t *tensor(const char *name) {
    json_t *ts = json_object_get(plan_, "tensors");
    for (size_t i = 0; i < json_array_size(ts); i++) {
        json_t *t = json_array_get(ts, i);
        if (!strcmp(json_string_value(json_object_get(t, "name")), name)) return t;
    }
    fprintf(stderr, "no tensor %s in the plan\n", name);
    return NULL;
}

/* Global parameter of a tensor; NaN for null or missing. */
static double gp(const char *name, const char *param) {
    json_t *t = tensor(name);
    json_t *v = t ? json_object_get(json_object_get(t, "params"), param) : NULL;
    if (json_is_true(v)) return 1;
    if (json_is_false(v)) return 0;
    if (json_is_string(v)) // rescale: "true", "false", "inverse"
        return !strcmp(json_string_value(v), "inverse") ? 2 : !strcmp(json_string_value(v), "true");
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Input of a tensor by model ('A' or 'B'). */
static json_t *input(const char *name, char which) {
    json_t *t = tensor(name);
    json_t *in = t ? json_object_get(t, "inputs") : NULL;
    const char *want = which == 'A' ? A4 : B4;
    for (size_t i = 0; i < json_array_size(in); i++) {
        json_t *x = json_array_get(in, i);
        if (!strcmp(json_string_value(json_object_get(x, "model")), want)) return x;
    }
    return NULL;
}

static double mp(const char *name, char which, const char *param) {
    json_t *x = input(name, which);
    json_t *v = x ? json_object_get(json_object_get(x, "params"), param) : NULL;
    return json_is_number(v) ? json_number_value(v) : NAN;
}

#define L(k, s) "model.layers." #k "." s
#define NEAR(a, b) CHECK_NEAR((a), (b), 1e-9)

static void test_linear_gradient(void) {
    // 1. weight gradient [0, 1] on A over 4 layers: layer k -> k/3; embeddings t = 0.
    if (!dry("merge_method: linear\nmodels:\n  - {model: %A, parameters: {weight: [0, 1]}}\n"
             "  - {model: %B, parameters: {weight: 1}}\n"))
        return;
    NEAR(mp(L(1, "mlp.up_proj.weight"), 'A', "weight"), 1.0 / 3);
    NEAR(mp(L(3, "mlp.up_proj.weight"), 'A', "weight"), 1.0);
    NEAR(mp("model.embed_tokens.weight", 'A', "weight"), 0);
    NEAR(mp("model.norm.weight", 'A', "weight"), 0);
    NEAR(mp(L(2, "self_attn.q_proj.weight"), 'B', "weight"), 1);
    NEAR(gp(L(2, "self_attn.q_proj.weight"), "normalize"), 1); // linear default
    NEAR(json_number_value(json_object_get(tensor(L(2, "mlp.up_proj.weight")), "t")), 2.0 / 3);
    // lm_head: B has an untied head; A (tied) feeds its embedding matrix
    json_t *x = input("lm_head.weight", 'A');
    CHECK(x &&
          !strcmp(json_string_value(json_object_get(x, "tensor")), "model.embed_tokens.weight"));
    CHECK_EQ_INT(json_array_size(json_object_get(plan_, "tensors")), 4 * 9 + 3);
}

static void test_slerp_filters(void) {
    // 2. mergekit's gradient-slerp example over 4 layers.
    if (!dry("merge_method: slerp\nbase_model: %B\nslices:\n  - sources:\n"
             "      - {model: %B, layer_range: [0, 4]}\n      - {model: %A, layer_range: [0, 4]}\n"
             "parameters:\n  t:\n    - {filter: self_attn, value: [0, 0.5, 0.3, 0.7, 1]}\n"
             "    - {filter: mlp, value: [1, 0.5, 0.7, 0.3, 0]}\n    - {value: 0.5}\ndtype: "
             "bfloat16\n"))
        return;
    // layer 1: t = 1/3, s = 4/3: 0.5 + (0.3 - 0.5)/3 and 0.5 + (0.7 - 0.5)/3
    NEAR(gp(L(1, "self_attn.k_proj.weight"), "t"), 0.5 - 0.2 / 3);
    NEAR(gp(L(1, "mlp.gate_proj.weight"), "t"), 0.5 + 0.2 / 3);
    NEAR(gp(L(1, "input_layernorm.weight"), "t"), 0.5);
    NEAR(gp(L(0, "self_attn.k_proj.weight"), "t"), 0);
    NEAR(gp(L(3, "self_attn.k_proj.weight"), "t"), 1);
    // layer 2: t = 2/3, s = 8/3: 0.3 + (0.7 - 0.3) 2/3
    NEAR(gp(L(2, "self_attn.o_proj.weight"), "t"), 0.3 + 0.4 * 2 / 3);
    CHECK(json_is_true(json_object_get(input(L(2, "mlp.up_proj.weight"), 'B'), "base")));
    CHECK_EQ_STR(json_string_value(json_object_get(tensor(L(2, "mlp.up_proj.weight")), "dtype")),
                 "BF16");
}

static void test_ties_example(void) {
    // 3. mergekit's ties example: per-model density gradient, weight filter list.
    if (!dry("merge_method: ties\nbase_model: %B\nmodels:\n"
             "  - model: %A\n    parameters:\n      density: [1.0, 0.7, 0.1]\n"
             "      weight: [{filter: mlp, value: 0.5}, {value: 0.0}]\n"
             "parameters: {normalize: true, int8_mask: true}\ndtype: float16\n"))
        return;
    NEAR(mp(L(2, "mlp.down_proj.weight"), 'A', "density"), 0.5); // s = 4/3: 0.7 - 0.6/3
    NEAR(mp(L(1, "mlp.down_proj.weight"), 'A', "density"), 0.8); // s = 2/3: 1 - 0.3 * 2/3
    NEAR(mp(L(2, "mlp.down_proj.weight"), 'A', "weight"), 0.5);
    NEAR(mp(L(2, "self_attn.v_proj.weight"), 'A', "weight"), 0.0);
    NEAR(gp(L(2, "self_attn.v_proj.weight"), "lambda"), 1);
    NEAR(gp(L(2, "self_attn.v_proj.weight"), "int8_mask"), 1);
    // the unlisted base is appended as the last input, marked base, no weight
    json_t *b = input(L(0, "mlp.up_proj.weight"), 'B');
    CHECK(b && json_is_true(json_object_get(b, "base")));
    CHECK(isnan(mp(L(0, "mlp.up_proj.weight"), 'B', "weight")));
    CHECK_EQ_STR(json_string_value(json_object_get(tensor(L(0, "mlp.up_proj.weight")), "dtype")),
                 "F16");
}

static void test_fallthrough_and_precedence(void) {
    // 4. a filter list with no match falls through to the top level;
    // 7. per-model beats top level.
    if (!dry("merge_method: task_arithmetic\nbase_model: %B\nmodels:\n"
             "  - model: %A\n    parameters:\n      weight: [{filter: o_proj, value: 2}]\n"
             "parameters: {weight: 0.25, lambda: [1, 0], density: 0.9}\n"))
        return;
    NEAR(mp(L(1, "self_attn.o_proj.weight"), 'A', "weight"), 2);
    NEAR(mp(L(1, "self_attn.q_proj.weight"), 'A', "weight"), 0.25);
    NEAR(mp(L(1, "self_attn.q_proj.weight"), 'A', "density"), 0.9);
    // 14. lambda gradient [1, 0] at layer 1: 1 - 1/3
    NEAR(gp(L(1, "self_attn.q_proj.weight"), "lambda"), 2.0 / 3);
    NEAR(gp("model.norm.weight", "lambda"), 1);
    NEAR(gp(L(1, "self_attn.q_proj.weight"), "normalize"), 0);
    NEAR(gp(L(1, "self_attn.q_proj.weight"), "rescale"), 0);
}

static void test_slice_params(void) {
    // 5. slice parameters beat the top level; each slice has its own gradient span.
    if (!dry("merge_method: slerp\nbase_model: %B\nslices:\n"
             "  - sources: [{model: %B, layer_range: [0, 2]}, {model: %A, layer_range: [0, 2]}]\n"
             "    parameters: {t: 0.2}\n"
             "  - sources: [{model: %B, layer_range: [2, 4]}, {model: %A, layer_range: [1, 3]}]\n"
             "parameters: {t: [0, 1]}\n"))
        return;
    NEAR(gp(L(0, "mlp.up_proj.weight"), "t"), 0.2);
    NEAR(gp(L(1, "mlp.up_proj.weight"), "t"), 0.2);
    NEAR(gp(L(2, "mlp.up_proj.weight"), "t"), 0.0); // second slice, k = 0
    NEAR(gp(L(3, "mlp.up_proj.weight"), "t"), 1.0); // k = 1 of 2 layers
    // output layer 3 reads B layer 3 and A layer 2
    json_t *x = input(L(3, "mlp.up_proj.weight"), 'A');
    CHECK(x &&
          !strcmp(json_string_value(json_object_get(x, "tensor")), L(2, "mlp.up_proj.weight")));
    NEAR(gp("model.embed_tokens.weight", "t"), 0.2); // pre weights: first slice
    NEAR(gp("model.norm.weight", "t"), 0.0);         // post weights: last slice, t = 0
}

static void test_passthrough(void) {
    // 6. frankenmerge with scale filters: 2 + 3 = 5 layers.
    if (!dry("merge_method: passthrough\nslices:\n  - sources: [{model: %B, layer_range: [0, 2]}]\n"
             "  - sources:\n      - model: %A\n        layer_range: [1, 4]\n        parameters:\n"
             "          scale:\n            - {filter: o_proj, value: [1, 0]}\n"
             "            - {filter: down_proj, value: 0.5}\n"))
        return;
    CHECK_EQ_INT(json_integer_value(json_object_get(plan_, "layers")), 5);
    json_t *x = input(L(3, "self_attn.o_proj.weight"), 'A');
    CHECK(x && !strcmp(json_string_value(json_object_get(x, "tensor")),
                       L(2, "self_attn.o_proj.weight")));
    NEAR(mp(L(3, "self_attn.o_proj.weight"), 'A', "scale"), 0.5); // t = 1/2 of [1, 0]
    NEAR(mp(L(4, "self_attn.o_proj.weight"), 'A', "scale"), 0.0);
    NEAR(mp(L(2, "mlp.down_proj.weight"), 'A', "scale"), 0.5);
    CHECK(isnan(mp(L(2, "self_attn.q_proj.weight"), 'A', "scale")));
    CHECK(isnan(mp(L(1, "self_attn.o_proj.weight"), 'B', "scale")));
    // post weights from the last slice (A is tied: no lm_head)
    CHECK(input("model.norm.weight", 'A') != NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(plan_, "tensors")), 5 * 9 + 2);
}

static void test_dtypes(void) {
    // 8. out_dtype beats dtype; no dtype keeps the checkpoint's (F32).
    if (dry("merge_method: linear\nmodels: [{model: %A, parameters: {weight: 1}}]\n"
            "dtype: bfloat16\nout_dtype: float16\n"))
        CHECK_EQ_STR(json_string_value(json_object_get(tensor("model.norm.weight"), "dtype")),
                     "F16");
    if (dry("merge_method: linear\nmodels: [{model: %A, parameters: {weight: 1}}]\n"))
        CHECK_EQ_STR(json_string_value(json_object_get(tensor("model.norm.weight"), "dtype")),
                     "F32");
}

static void test_defaults(void) {
    // 9. dare_ties / della defaults.
    if (dry("merge_method: dare_ties\nbase_model: %B\nmodels: [{model: %A, parameters: {weight: "
            "1}}]\n")) {
        NEAR(gp(L(0, "mlp.up_proj.weight"), "normalize"), 0);
        json_t *r = json_object_get(json_object_get(tensor(L(0, "mlp.up_proj.weight")), "params"),
                                    "rescale");
        CHECK(r && json_is_string(r) && !strcmp(json_string_value(r), "true"));
        NEAR(mp(L(0, "mlp.up_proj.weight"), 'A', "density"), 1);
    }
    if (dry("merge_method: della\nbase_model: %B\nmodels: [{model: %A, parameters: {weight: 1, "
            "density: 0.5}}]\n")) {
        NEAR(mp(L(0, "mlp.up_proj.weight"), 'A', "epsilon"), 0.15);
        NEAR(gp(L(0, "mlp.up_proj.weight"), "normalize"), 1);
    }
    // 10. breadcrumbs gamma default; 11. rescale: inverse
    if (dry("merge_method: breadcrumbs\nbase_model: %B\nmodels: [{model: %A, parameters: {weight: "
            "1}}]\n"
            "parameters: {rescale: inverse}\n")) {
        NEAR(mp(L(0, "mlp.up_proj.weight"), 'A', "gamma"), 0.01);
        json_t *r = json_object_get(json_object_get(tensor(L(0, "mlp.up_proj.weight")), "params"),
                                    "rescale");
        CHECK(r && !strcmp(json_string_value(r), "inverse"));
    }
    // 12. nuslerp flags; 16. karcher defaults; 17. nearswap 1e-3 typed as a number
    if (dry("merge_method: nuslerp\nmodels:\n  - {model: %A, parameters: {weight: 0.6}}\n"
            "  - {model: %B, parameters: {weight: 0.4}}\n")) {
        NEAR(gp(L(0, "mlp.up_proj.weight"), "nuslerp_flatten"), 1);
        NEAR(gp(L(0, "mlp.up_proj.weight"), "nuslerp_row_wise"), 0);
    }
    if (dry("merge_method: karcher\nmodels: [{model: %A}, {model: %B}]\n")) {
        NEAR(gp(L(0, "mlp.up_proj.weight"), "max_iter"), 10);
        NEAR(gp(L(0, "mlp.up_proj.weight"), "tol"), 1e-5);
    }
    if (dry("merge_method: nearswap\nbase_model: %B\nmodels: [{model: %A}]\nparameters: {t: "
            "1e-3}\n"))
        NEAR(gp(L(0, "mlp.up_proj.weight"), "t"), 1e-3);
    // 19. PyYAML booleans: off / yes
    if (dry("merge_method: sce\nbase_model: %B\nmodels: [{model: %A}]\nparameters: {int8_mask: "
            "yes}\n")) {
        NEAR(gp(L(0, "mlp.up_proj.weight"), "int8_mask"), 1);
        NEAR(gp(L(0, "mlp.up_proj.weight"), "select_topk"), 1);
    }
    if (dry("merge_method: ties\nbase_model: %B\nmodels: [{model: %A, parameters: {weight: 1}}]\n"
            "parameters: {normalize: off}\n"))
        NEAR(gp(L(0, "mlp.up_proj.weight"), "normalize"), 0);
}

int main(void) {
    snprintf(T, sizeof T, "/tmp/mg_dryrun_XXXXXX");
    if (!mkdtemp(T)) return 1;
    snprintf(B4, sizeof B4, "%s/b4", T);
    snprintf(A4, sizeof A4, "%s/a4", T);
    // 4-layer fixtures: each tiny model stacked twice.
    const char *src[2] = {GOLDEN "/tiny-llama", GOLDEN "/tiny-llama3"};
    const char *dst[2] = {B4, A4};
    for (int i = 0; i < 2; i++) {
        char cfg[1024], path[400], cmd[1200];
        snprintf(
            cfg, sizeof cfg,
            "merge_method: passthrough\nslices:\n  - sources: [{model: %s, layer_range: [0, 2]}]\n"
            "  - sources: [{model: %s, layer_range: [0, 2]}]\n",
            src[i], src[i]);
        snprintf(path, sizeof path, "%s/mk%d.yml", T, i);
        write_file(path, cfg);
        snprintf(cmd, sizeof cmd, "%s merge %s %s -q", MG_BINARY, path, dst[i]);
        CHECK_EQ_INT(sh(cmd), 0);
    }
    RUN(test_linear_gradient);
    RUN(test_slerp_filters);
    RUN(test_ties_example);
    RUN(test_fallthrough_and_precedence);
    RUN(test_slice_params);
    RUN(test_passthrough);
    RUN(test_dtypes);
    RUN(test_defaults);
    json_decref(plan_);
    int rc = TEST_END();
    if (!rc) mg_remove_tree(T, NULL);
    return rc;
}
