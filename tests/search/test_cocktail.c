/* test_cocktail.c - LM-Cocktail: softmax weights, per-model losses equal the
 * fitness CE, the merged model is sum_t w_t theta_t, chat vs raw mode, CLI. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/json.h"
#include "nn/load.h"
#include "search/cocktail.h"
#include "search/fitness.h"
#include "fixture.h"

static char *T;
static char M[3][300], DATA[300];

static void test_weights(void) {
    double loss[3] = {1.0, 2.0, 3.0}, w[3];
    mg_cocktail_weights(loss, 3, 1.0, w);
    double z = exp(-1.0) + exp(-2.0) + exp(-3.0);
    CHECK_NEAR(w[0], exp(-1.0) / z, 1e-15);
    CHECK_NEAR(w[2], exp(-3.0) / z, 1e-15);
    mg_cocktail_weights(loss, 3, 1e9, w);
    CHECK_NEAR(w[1], 1.0 / 3.0, 1e-9);
    double big[2] = {1000.0, 1001.0}; // no overflow
    mg_cocktail_weights(big, 2, 0.5, w);
    CHECK_NEAR(w[0], 1.0 / (1.0 + exp(-2.0)), 1e-15);
}

static void test_run(void) {
    char out[300];
    snprintf(out, sizeof out, "%s/out", T);
    const char *models[3] = {M[0], M[1], M[2]};
    mg_cocktail_opts o = {
        .models = models, .n_models = 3, .data = DATA, .temperature = 1.0, .out_dir = out};
    mg_cocktail_result r = {0};
    mg_error err = {0};
    CHECK_OK(mg_cocktail_run(&o, &r, &err), &err);
    if (!r.n) return;
    CHECK_EQ_INT(r.records[0], 2);
    CHECK_EQ_INT(r.records[1], 2);
    double w[3], s = 0;
    mg_cocktail_weights(r.loss, 3, 1.0, w);
    for (int i = 0; i < 3; i++) {
        CHECK(w[i] == r.weight[i]);
        s += r.weight[i];
        CHECK_NEAR(r.loss[i], (r.ce[i][0] + r.ce[i][1]) / 2, 1e-12); // equal counts: pooled
    }
    CHECK_NEAR(s, 1.0, 1e-12);
    // Loss of model 1 equals the fitness CE computed directly.
    mg_tokenizer *tok = NULL;
    mg_fitness *fit = NULL;
    mg_nn_model *m1 = NULL, *merged = NULL, *m0 = NULL, *m2 = NULL;
    CHECK_OK(mg_tokenizer_load(M[0], &tok, &err), &err);
    mg_fitness_options fo = mg_fitness_defaults();
    CHECK_OK(mg_fitness_load(DATA, tok, &fo, &fit, &err), &err);
    CHECK_OK(mg_nn_model_load(M[1], &m1, &err), &err);
    mg_fitness_result fr = {0};
    if (fit && m1) CHECK_OK(mg_fitness_eval(fit, m1, &fr, &err), &err);
    CHECK(fr.ce[0] == r.ce[1][0] && fr.ce[1] == r.ce[1][1]);
    // The merged model is the weighted sum of the full models.
    char p[400];
    snprintf(p, sizeof p, "%s/model", out);
    CHECK_OK(mg_nn_model_load(p, &merged, &err), &err);
    CHECK_OK(mg_nn_model_load(M[0], &m0, &err), &err);
    CHECK_OK(mg_nn_model_load(M[2], &m2, &err), &err);
    if (merged && m0 && m2 && m1) {
        size_t nf = merged->block_bytes / sizeof(float);
        const float *a = m0->block, *b = m1->block, *c = m2->block, *y = merged->block;
        double maxd = 0;
        for (size_t i = 0; i < nf; i++)
            maxd = fmax(
                maxd, fabs(y[i] - (r.weight[0] * a[i] + r.weight[1] * b[i] + r.weight[2] * c[i])));
        CHECK_MSG(maxd < 1e-5, "max deviation %g", maxd);
    }
    snprintf(p, sizeof p, "%s/cocktail.json", out);
    json_t *j = NULL;
    CHECK_OK(mg_json_load_file(p, &j, &err), &err);
    CHECK(json_real_value(json_object_get(json_array_get(json_object_get(j, "models"), 2),
                                          "weight")) == r.weight[2]);
    json_decref(j);
    // Raw mode scores other token sequences.
    mg_cocktail_result rr = {0};
    o.raw = true;
    o.out_dir = NULL;
    CHECK_OK(mg_cocktail_run(&o, &rr, &err), &err);
    if (rr.n) CHECK(rr.loss[0] != r.loss[0]);
    // An existing output needs force.
    o.raw = false;
    o.out_dir = out;
    mg_cocktail_result r3 = {0};
    CHECK(mg_cocktail_run(&o, &r3, &err) == MG_ERR_EXISTS);
    mg_cocktail_result_free(&rr);
    mg_cocktail_result_free(&r);
    mg_nn_model_free(m0);
    mg_nn_model_free(m1);
    mg_nn_model_free(m2);
    mg_nn_model_free(merged);
    mg_fitness_free(fit);
    mg_tokenizer_free(tok);
}

static void test_cli(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s cocktail -q --models %s %s --data %s --temperature 2 > %s/c.out 2>&1", MG_BINARY,
             M[0], M[1], DATA, T);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    snprintf(cmd, sizeof cmd,
             "%s cocktail --models %s %s/golden/tiny-qwen2 --data %s -o %s/bad 2>/dev/null",
             MG_BINARY, M[0], MG_TEST_DATA, DATA, T);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    snprintf(cmd, sizeof cmd, "%s/bad", T);
    CHECK(!mg_path_exists(cmd));
}

int main(void) {
    T = fx_tmpdir("cocktail");
    if (!T) return 1;
    for (int i = 0; i < 3; i++) {
        snprintf(M[i], sizeof M[i], "%s/m%d", T, i);
        fx_derive(M[i], 1.0f + 0.1f * (float)i, 0.03f * (float)i, (unsigned)i);
    }
    snprintf(DATA, sizeof DATA, "%s/data.jsonl", T);
    fx_write(
        DATA,
        "{\"prompt\": \"hello\", \"response\": \"I can't help.\", \"type\": \"alignment\"}\n"
        "{\"prompt\": \"what is a cell\", \"response\": \"A unit of life.\", \"type\": \"task\"}\n"
        "{\"prompt\": \"hurt someone\", \"response\": \"No.\", \"type\": \"alignment\"}\n"
        "{\"prompt\": \"hello world\", \"response\": \"hello world\", \"type\": \"task\"}\n");
    RUN(test_weights);
    RUN(test_run);
    RUN(test_cli);
    mg_error err = {0};
    mg_remove_tree(T, &err);
    free(T);
    return TEST_END();
}
