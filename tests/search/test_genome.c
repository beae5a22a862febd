/* test_genome.c - mergekit-evolve genome: shape, x0, decoding, config text, bad
 * genomes, and genome -> config -> `mergeguard merge` bit-identical to the
 * in-memory candidate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/yaml.h"
#include "merge/config.h"
#include "nn/load.h"
#include "search/candidate.h"
#include "search/genome.h"
#include "fixture.h"

static char *T;
static char BASE[300], E1[300], E2[300];

static mg_genome *parse(const char *text, mg_status want, mg_error *err) {
    mg_yaml *y = NULL;
    mg_genome *g = NULL;
    mg_status st = mg_yaml_load_buffer(text, strlen(text), "evolve.yml", &y, err);
    if (!st) st = mg_genome_parse(mg_yaml_get(y, "genome"), "evolve.yml", NULL, &g, err);
    CHECK_MSG(st == want, "status %d, message: %s", st, err->msg);
    mg_yaml_free(y);
    return g;
}

static void test_ties_shape_and_decode(void) {
    char text[2048];
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s, %s]\n  merge_method: ties\n  base_model: %s\n"
             "  layer_granularity: 1\n  filters: [self_attn]\n  allow_negative_neights: true\n",
             BASE, E1, E2, BASE);
    mg_error err = {0};
    mg_genome *g = parse(text, MG_OK, &err);
    if (!g) return;
    CHECK_EQ_INT(g->n_layers, 2);
    CHECK_EQ_INT(g->n_groups, 2);
    CHECK_EQ_INT(mg_genome_n_params(g), 2);
    CHECK_EQ_INT(mg_genome_dim(g), 2 * 3 * 2 * 2);
    CHECK_EQ_INT(g->n_warnings, 1); // the paper's typo is reported, not obeyed
    CHECK(strstr(g->warnings[0], "allow_negative_weights") != NULL);
    CHECK(!g->allow_negative_weights);
    double x[24];
    mg_genome_initial(g, false, 0, x);
    CHECK_NEAR(x[mg_genome_index(g, 1, 2, 1, 0)], 1.0 / 3.0, 0);
    CHECK_NEAR(x[mg_genome_index(g, 1, 2, 1, 1)], 1.0, 0);
    x[0] = -0.25; // weight -> |x|
    x[1] = -1.5;  // density -> clamp(|x|, 0, 1)
    CHECK_NEAR(mg_genome_decode(g, x, 0), 0.25, 0);
    CHECK_NEAR(mg_genome_decode(g, x, 1), 1.0, 0);
    x[3] = 0.1 + 1e-17; // printed with 17 digits: round-trips
    char *yaml = mg_genome_to_yaml(g, x);
    mg_merge_config *cfg = NULL;
    CHECK_OK(mg_merge_config_parse(yaml, strlen(yaml), "gen.yml", NULL, &cfg, &err), &err);
    if (cfg) {
        CHECK_EQ_INT(cfg->n_slices, 2);
        CHECK_EQ_INT(cfg->slices[0].n_sources, 3); // base is listed: not appended
        CHECK_EQ_INT(cfg->n_warnings, 0);
        const mg_yaml *w = mg_yaml_get(cfg->slices[0].sources[0].params, "weight");
        CHECK(w && w->kind == MG_YAML_SEQ && w->n == 2);
        if (w && w->n == 2) {
            CHECK_EQ_STR(mg_yaml_get(w->items[0], "filter")->text, "self_attn");
            CHECK(mg_yaml_get(w->items[1], "filter")->kind == MG_YAML_NULL);
            CHECK(mg_yaml_get(w->items[0], "value")->num == 0.25);
        }
        const mg_yaml *d = mg_yaml_get(cfg->slices[0].sources[0].params, "density");
        CHECK(d && d->n == 2 && mg_yaml_get(d->items[1], "value")->num == x[3]);
        CHECK(mg_yaml_get(cfg->params, "normalize")->b); // ties default: true
        CHECK(cfg->has_dtype && cfg->dtype == MG_DTYPE_BF16);
    }
    mg_merge_config_free(cfg);
    free(yaml);
    mg_genome_free(g);
}

static void test_other_layouts(void) {
    char text[2048];
    mg_error err = {0};
    // Smooth task_arithmetic, base not listed (appended), negative weights allowed.
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s]\n  merge_method: task_arithmetic\n  base_model: %s\n"
             "  layer_granularity: 1\n  smooth: true\n  allow_negative_weights: true\n"
             "  normalize: true\n  dtype: float32\n",
             E1, E2, BASE);
    mg_genome *g = parse(text, MG_OK, &err);
    if (g) {
        CHECK_EQ_INT(mg_genome_dim(g), 4);
        double x[4] = {-0.5, 0.25, 0.75, 1.0};
        CHECK_NEAR(mg_genome_decode(g, x, 0), -0.5, 0);
        char *yaml = mg_genome_to_yaml(g, x);
        CHECK(strstr(yaml, "weight: [-0.5, 0.75]") != NULL);
        CHECK(strstr(yaml, "normalize: true") != NULL);
        mg_merge_config *cfg = NULL;
        CHECK_OK(mg_merge_config_parse(yaml, strlen(yaml), "gen.yml", NULL, &cfg, &err), &err);
        if (cfg) CHECK_EQ_INT(cfg->n_models, 3);
        mg_merge_config_free(cfg);
        free(yaml);
        mg_genome_free(g);
    }
    // Slerp: top-2 raw weights per group, t = softmax(top2)[1], top model is the base.
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s, %s]\n  merge_method: slerp\n  layer_granularity: 1\n",
             BASE, E1, E2);
    g = parse(text, MG_OK, &err);
    if (g) {
        CHECK_EQ_INT(mg_genome_dim(g), 6);
        double x[6] = {0.1, 0.9, 0.5, /* group 1 */ 0.7, -2.0, 0.7};
        char *yaml = mg_genome_to_yaml(g, x);
        mg_merge_config *cfg = NULL;
        CHECK_OK(mg_merge_config_parse(yaml, strlen(yaml), "gen.yml", NULL, &cfg, &err), &err);
        if (cfg && cfg->n_slices == 2) {
            const mg_merge_slice *s0 = &cfg->slices[0], *s1 = &cfg->slices[1];
            CHECK_EQ_INT(s0->n_sources, 2);
            CHECK_EQ_STR(cfg->models[s0->base].path, E1);
            CHECK_EQ_STR(cfg->models[s0->sources[1].model].path, E2);
            CHECK_NEAR(mg_yaml_get(s0->params, "t")->num, 1.0 / (1.0 + exp(0.4)), 1e-15);
            CHECK_EQ_STR(cfg->models[s1->base].path, BASE); // tie -> lower index first
            CHECK_NEAR(mg_yaml_get(s1->params, "t")->num, 0.5, 0);
        }
        mg_merge_config_free(cfg);
        free(yaml);
        mg_genome_free(g);
    }
}

static void test_bad_genomes(void) {
    char text[2048];
    mg_error err = {0};
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s]\n  merge_method: della\n  base_model: %s\n", E1, E2,
             BASE);
    parse(text, MG_ERR_UNSUPPORTED, &err);
    CHECK(strstr(err.msg, "della") && strstr(err.msg, "evolve.yml:3"));
    snprintf(text, sizeof text, "genome:\n  models: [%s, %s]\n  merge_method: ties\n", E1, E2);
    parse(text, MG_ERR_INVALID, &err);
    CHECK(strstr(err.msg, "base_model") != NULL);
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s]\n  merge_method: linear\n  layer_granularity: 3\n", E1,
             E2);
    parse(text, MG_ERR_INVALID, &err);
    CHECK(strstr(err.msg, "does not divide") != NULL);
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s]\n  merge_method: slerp\n  filters: [mlp]\n", E1, E2);
    parse(text, MG_ERR_INVALID, &err);
    CHECK(strstr(err.msg, "slerp") != NULL);
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, /nonexistent/model]\n  merge_method: linear\n", E1);
    parse(text, MG_ERR_NOT_FOUND, &err);
    CHECK(strstr(err.msg, "/nonexistent/model") != NULL);
}

static int run_merge(const char *cfg, const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s merge -q %s %s 2>%s/merge.err", MG_BINARY, cfg, out, T);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The key property of in-memory search: the weights scored for a candidate are the
 * weights `mergeguard merge` writes for its config. */
static void check_bit_identical(const char *genome_text, const double *x, size_t dim,
                                const char *tag) {
    mg_error err = {0};
    mg_genome *g = parse(genome_text, MG_OK, &err);
    if (!g) return;
    CHECK_EQ_INT(mg_genome_dim(g), dim);
    char *yaml = mg_genome_to_yaml(g, x);
    char cfg[512], out[512];
    snprintf(cfg, sizeof cfg, "%s/%s.yml", T, tag);
    snprintf(out, sizeof out, "%s/%s-out", T, tag);
    fx_write(cfg, yaml);
    CHECK_EQ_INT(run_merge(cfg, out), 0);
    mg_nn_model *disk = NULL, *mem = NULL;
    CHECK_OK(mg_nn_model_load(out, &disk, &err), &err);
    CHECK_OK(mg_nn_model_load(BASE, &mem, &err), &err);
    // Passes: input cache filled, served from the cache, a cap too small for
    // some tensors, cache off.
    for (int pass = 0; pass < 4 && disk && mem; pass++) {
        if (pass == 0) mg_candidate_cache_limit(0), mg_candidate_cache_limit((uint64_t)1 << 30);
        if (pass == 2) mg_candidate_cache_limit(4096);
        if (pass == 3) mg_candidate_cache_limit(0);
        // Clobber the buffers first: every element must be written by the merge.
        for (size_t i = 0; i < mem->n_tensors; i++)
            for (size_t e = 0; e < mem->tensors[i].numel; e++)
                mem->tensors[i].data[e] = NAN;
        mg_candidate_stats cs = {0};
        CHECK_OK(mg_candidate_merge(yaml, strlen(yaml), cfg, NULL, 0, mem, &cs, &err), &err);
        if (pass == 1) CHECK(mg_candidate_cache_bytes() > 0);
        if (pass == 2) CHECK(mg_candidate_cache_bytes() <= 4096);
        size_t diff = 0;
        for (size_t i = 0; i < mem->n_tensors; i++) {
            const mg_nn_tensor *a = &mem->tensors[i];
            const mg_nn_tensor *b = mg_nn_model_find(disk, a->name);
            if (!b || b->numel != a->numel || memcmp(a->data, b->data, a->numel * 4)) diff++;
        }
        CHECK_MSG(diff == 0, "%s (cache pass %d): %zu tensors differ", tag, pass, diff);
    }
    mg_candidate_cache_limit((uint64_t)1 << 30);
    mg_nn_model_free(disk);
    mg_nn_model_free(mem);
    free(yaml);
    mg_genome_free(g);
}

static void test_config_reproduces_candidate(void) {
    char text[2048];
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s]\n  merge_method: ties\n  base_model: %s\n"
             "  layer_granularity: 1\n  filters: [mlp]\n",
             E1, E2, BASE);
    double x[16];
    for (int i = 0; i < 16; i++)
        x[i] = 0.1 + 0.37 * sin(1.0 + i * 0.77);
    check_bit_identical(text, x, 16, "ties");
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s, %s]\n  merge_method: dare_ties\n  base_model: %s\n"
             "  normalize: false\n  dtype: float16\n",
             BASE, E1, E2, BASE);
    check_bit_identical(text, x, 6, "dare");
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s]\n  merge_method: slerp\n  layer_granularity: 1\n", E1,
             E2);
    check_bit_identical(text, x, 4, "slerp");
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s, %s]\n  merge_method: linear\n  smooth: true\n"
             "  layer_granularity: 1\n  dtype: float32\n",
             BASE, E1, E2);
    check_bit_identical(text, x, 6, "linear");
}

int main(void) {
    T = fx_tmpdir("genome");
    if (!T) return 1;
    snprintf(BASE, sizeof BASE, "%s/base", T);
    snprintf(E1, sizeof E1, "%s/e1", T);
    snprintf(E2, sizeof E2, "%s/e2", T);
    fx_derive(BASE, 1.0f, 0.0f, 0);
    fx_derive(E1, 1.05f, 0.02f, 1);
    fx_derive(E2, 0.95f, 0.03f, 2);
    // Resolved paths are absolute and canonical; compare against those.
    char *r = realpath(BASE, NULL);
    snprintf(BASE, sizeof BASE, "%s", r);
    free(r);
    r = realpath(E1, NULL);
    snprintf(E1, sizeof E1, "%s", r);
    free(r);
    r = realpath(E2, NULL);
    snprintf(E2, sizeof E2, "%s", r);
    free(r);
    RUN(test_ties_shape_and_decode);
    RUN(test_other_layouts);
    RUN(test_bad_genomes);
    RUN(test_config_reproduces_candidate);
    mg_error err = {0};
    mg_remove_tree(T, &err);
    free(T);
    return TEST_END();
}
