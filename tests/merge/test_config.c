/* test_config.c - YAML typing (PyYAML rules), config schema checks with line
 * numbers, warnings for unknown keys, and parameter setting evaluation
 * (scalars, gradients, filter lists with fall-through). No tensors read. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/yaml.h"
#include "merge/config.h"
#include "test.h"

#define GOLDEN MG_TEST_DATA "/golden"

static mg_yaml *load(const char *s) {
    mg_yaml *y = NULL;
    mg_error err = {0};
    CHECK_OK(mg_yaml_load_buffer(s, strlen(s), "t.yml", &y, &err), &err);
    return y;
}

static void test_yaml_typing(void) {
    mg_yaml *y = load("a: yes\nb: No\nc: on\nd: 1e-3\ne: 0x10\nf: ~\ng: '1'\nh: 1_000\n"
                      "i: .5\nj: -2\nk: text\nl: 010\nm: 1.5e+3\nn: TRUE\no:\np: .inf\n");
    CHECK(y && y->kind == MG_YAML_MAP);
    CHECK(mg_yaml_get(y, "a")->kind == MG_YAML_BOOL && mg_yaml_get(y, "a")->b);
    CHECK(mg_yaml_get(y, "b")->kind == MG_YAML_BOOL && !mg_yaml_get(y, "b")->b);
    CHECK(mg_yaml_get(y, "c")->kind == MG_YAML_BOOL && mg_yaml_get(y, "c")->b);
    CHECK(mg_yaml_get(y, "d")->kind == MG_YAML_FLOAT);
    CHECK_NEAR(mg_yaml_get(y, "d")->num, 1e-3, 0);
    CHECK(mg_yaml_get(y, "e")->kind == MG_YAML_INT && mg_yaml_get(y, "e")->ival == 16);
    CHECK(mg_yaml_get(y, "f")->kind == MG_YAML_NULL);
    CHECK(mg_yaml_get(y, "g")->kind == MG_YAML_STR); // quoted: always a string
    CHECK(mg_yaml_get(y, "h")->ival == 1000);
    CHECK_NEAR(mg_yaml_get(y, "i")->num, 0.5, 0);
    CHECK(mg_yaml_get(y, "j")->ival == -2);
    CHECK(mg_yaml_get(y, "k")->kind == MG_YAML_STR);
    CHECK(mg_yaml_get(y, "l")->ival == 8); // YAML 1.1 octal
    CHECK_NEAR(mg_yaml_get(y, "m")->num, 1500, 0);
    CHECK(mg_yaml_get(y, "n")->kind == MG_YAML_BOOL);
    CHECK(mg_yaml_get(y, "o")->kind == MG_YAML_NULL);
    CHECK(isinf(mg_yaml_get(y, "p")->num));
    CHECK_EQ_INT(mg_yaml_get(y, "k")->line, 11);
    mg_yaml_free(y);
    // anchors and merge keys resolve
    y = load("base: &b {weight: 0.5}\nm:\n  <<: *b\n  density: 0.3\n");
    CHECK(y && mg_yaml_get(mg_yaml_get(y, "m"), "weight"));
    mg_yaml_free(y);
    // syntax errors carry a line number
    mg_error err = {0};
    mg_yaml *bad = NULL;
    const char *s = "a: 1\nb: [1, 2\nc: 3\n";
    CHECK(mg_yaml_load_buffer(s, strlen(s), "bad.yml", &bad, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "bad.yml:") != NULL);
    s = "a: 1\na: 2\n";
    CHECK(mg_yaml_load_buffer(s, strlen(s), "dup.yml", &bad, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "dup.yml:") && strstr(err.msg, "duplicate"));
}

static double eval(const char *yaml, const char *tensor, double t, bool *found) {
    mg_yaml *y = load(yaml);
    const mg_method *m = mg_method_find("ties");
    double v = NAN;
    mg_error err = {0};
    CHECK_OK(mg_setting_eval(mg_yaml_get(y, "v"), mg_method_param(m, "density"), tensor, t, &v,
                             found, &err),
             &err);
    mg_yaml_free(y);
    return v;
}

static void test_setting_eval(void) {
    bool f;
    CHECK_NEAR(eval("v: 0.3\n", "x", 0.7, &f), 0.3, 0);
    CHECK(f);
    // gradient: s = t (L-1), linear between neighbours
    CHECK_NEAR(eval("v: [0, 0.5, 0.3, 0.7, 1.0]\n", "x", 0.0, &f), 0.0, 1e-12);
    CHECK_NEAR(eval("v: [0, 0.5, 0.3, 0.7, 1.0]\n", "x", 1.0, &f), 1.0, 1e-12);
    CHECK_NEAR(eval("v: [0, 0.5, 0.3, 0.7, 1.0]\n", "x", 0.5, &f), 0.3, 1e-12);
    CHECK_NEAR(eval("v: [0, 0.5, 0.3, 0.7, 1.0]\n", "x", 1.0 / 3, &f), 0.5 + (0.3 - 0.5) / 3,
               1e-12);
    CHECK_NEAR(eval("v: [1.0, 0.7, 0.1]\n", "x", 0.25, &f), 0.85, 1e-12);
    // bools count as numbers in gradients
    CHECK_NEAR(eval("v: [false, true]\n", "x", 0.5, &f), 0.5, 1e-12);
    // filter lists: substring, first match wins, null/"*" catch all
    const char *fl =
        "v:\n  - {filter: self_attn, value: 0.1}\n  - {filter: mlp, value: [0.2, 0.4]}\n"
        "  - {value: 0.9}\n";
    CHECK_NEAR(eval(fl, "model.layers.0.self_attn.q_proj.weight", 0.5, &f), 0.1, 0);
    CHECK_NEAR(eval(fl, "model.layers.0.mlp.up_proj.weight", 0.5, &f), 0.3, 1e-12);
    CHECK_NEAR(eval(fl, "model.norm.weight", 0.5, &f), 0.9, 0);
    // no match: not found (falls through to the next level)
    eval("v:\n  - {filter: o_proj, value: 0.5}\n", "model.norm.weight", 0, &f);
    CHECK(!f);
    CHECK_NEAR(eval("v:\n  - {filter: '*', value: 0.25}\n", "anything", 0, &f), 0.25, 0);
}

static mg_status parse(const char *text, mg_merge_config **c, mg_error *err) {
    return mg_merge_config_parse(text, strlen(text), "cfg.yml", GOLDEN, c, err);
}

static void expect_fail(const char *text, mg_status want, const char *needle) {
    mg_merge_config *c = NULL;
    mg_error err = {0};
    mg_status st = parse(text, &c, &err);
    CHECK_MSG(st == want, "status %d (want %d): %s", st, want, err.msg);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    CHECK(c == NULL);
    mg_merge_config_free(c);
}

static void test_config_ok(void) {
    mg_merge_config *c = NULL;
    mg_error err = {0};
    const char *t = "merge_method: ties\nbase_model: tiny-llama\nmodels:\n"
                    "  - model: tiny-llama3\n    parameters: {weight: 1, density: 0.5, densty: 2}\n"
                    "parameters: {normalize: yes, t: 0.5}\ndtype: bfloat16\nout_dtype: float16\n"
                    "merge_methd: x\n";
    CHECK_OK(parse(t, &c, &err), &err);
    if (!c) return;
    CHECK_EQ_STR(c->method->name, "ties");
    CHECK_EQ_INT(c->n_models, 2);
    CHECK_EQ_INT(c->n_slices, 1);
    CHECK_EQ_INT(c->slices[0].n_sources, 2); // the unlisted base is appended
    CHECK(c->slices[0].sources[1].appended_base);
    CHECK_EQ_INT(c->base, 0);
    CHECK(c->has_dtype && c->dtype == MG_DTYPE_BF16 && c->out_dtype == MG_DTYPE_F16);
    // warnings: densty (unknown param), t (not a ties parameter), merge_methd
    CHECK_EQ_INT(c->n_warnings, 3);
    bool saw = false;
    for (size_t i = 0; i < c->n_warnings; i++)
        saw |= strstr(c->warnings[i], "merge_methd") &&
               strstr(c->warnings[i], "did you mean 'merge_method'");
    CHECK(saw);
    mg_merge_config_free(c);
    // slices with per-slice base and sources
    t = "merge_method: slerp\nslices:\n  - sources:\n      - {model: tiny-llama, layer_range: [0, "
        "2]}\n"
        "      - {model: tiny-llama3, layer_range: [0, 2]}\n    base_model: tiny-llama\n"
        "parameters: {t: [0, 1]}\n";
    CHECK_OK(parse(t, &c, &err), &err);
    if (c)
        CHECK(c->slices_form && c->slices[0].base == 0 && c->slices[0].sources[1].layer_end == 2);
    mg_merge_config_free(c);
}

static void test_config_errors(void) {
    expect_fail("merge_method: dare-ties\nbase_model: tiny-llama\nmodels: [{model: tiny-llama3}]\n",
                MG_ERR_INVALID, "did you mean 'dare_ties'");
    expect_fail("merge_method: magic\nmodels: [{model: tiny-llama}]\n", MG_ERR_INVALID,
                "valid: linear, slerp");
    expect_fail("merge_method: ties\nmodels: [{model: tiny-llama3, parameters: {weight: 1}}]\n",
                MG_ERR_INVALID, "needs a base_model");
    expect_fail("merge_method: ties\nbase_modle: tiny-llama\nmodels: [{model: tiny-llama3}]\n",
                MG_ERR_INVALID, "base_modle");
    expect_fail("merge_method: linear\nmodels:\n  - model: nowhere/model\n", MG_ERR_NOT_FOUND,
                "cfg.yml:3: model 'nowhere/model' does not exist");
    expect_fail("merge_method: ties\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n"
                "    parameters: {weight: 1, density: 1.5}\n",
                MG_ERR_INVALID, "cfg.yml:5: parameter 'density' = 1.5 is out of range");
    expect_fail("merge_method: slerp\nbase_model: tiny-llama\nmodels: [{model: tiny-llama3}]\n"
                "parameters: {t: 2}\n",
                MG_ERR_INVALID, "'t' = 2 is out of range");
    expect_fail("merge_method: linear\nmodels: [{model: tiny-llama}]\nslices: []\n", MG_ERR_INVALID,
                "exactly one of 'models' or 'slices'");
    expect_fail("merge_method: passthrough\nslices:\n  - sources:\n      - {model: tiny-llama, "
                "layer_range: [0, 2]}\n"
                "      - {model: tiny-llama3, layer_range: [0, 1]}\n",
                MG_ERR_INVALID, "different numbers of layers");
    expect_fail("merge_method: linear\nmodels:\n  - model: tiny-llama\n    parameters:\n"
                "      weight: {filter: mlp, value: 1}\n",
                MG_ERR_INVALID, "must be inside a list");
    expect_fail("merge_method: slerp\nbase_model: tiny-llama\nmodels: [{model: tiny-llama3}, "
                "{model: tiny-qwen2}]\n"
                "parameters: {t: 0.5}\n",
                MG_ERR_INVALID, "exactly 1 model(s) besides the base_model, found 2");
    expect_fail(
        "merge_method: model_stock\nbase_model: tiny-llama\nmodels: [{model: tiny-llama3}]\n",
        MG_ERR_INVALID, "at least 2");
    expect_fail("merge_method: linear\nmodels: [{model: tiny-llama}]\ntokenizer_source: union\n",
                MG_ERR_UNSUPPORTED, "union");
    expect_fail("merge_method: linear\nmodels: [{model: tiny-llama}]\ndtype: float8\n",
                MG_ERR_INVALID, "dtype 'float8' is not supported");
    expect_fail("merge_method: linear\nmodels: [{model: tiny-llama}]\nchat_template: mytemplate\n",
                MG_ERR_INVALID, "chat_template");
    expect_fail("merge_method: ties\nbase_model: tiny-llama\nmodels:\n  - model: tiny-llama3\n"
                "    parameters: {weight: heavy}\n",
                MG_ERR_INVALID, "cfg.yml:5: parameter 'weight' = 'heavy' is not a number");
    expect_fail("merge_method: dare_ties\nbase_model: tiny-llama\nmodels: [{model: tiny-llama3}]\n"
                "parameters: {rescale: maybe}\n",
                MG_ERR_INVALID, "rescale takes true, false or inverse");
    expect_fail("merge_method: passthrough\nslices:\n  - sources:\n      - {model: tiny-llama, "
                "layer_range: [2, 1]}\n",
                MG_ERR_INVALID, "empty or negative");
    expect_fail("- just\n- a list\n", MG_ERR_INVALID, "must be a YAML mapping");
}

int main(void) {
    RUN(test_yaml_typing);
    RUN(test_setting_eval);
    RUN(test_config_ok);
    RUN(test_config_errors);
    return TEST_END();
}
