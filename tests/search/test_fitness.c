/* test_fitness.c - the EvoMM objective on a tiny model: per-part CE equals the
 * direct response scoring, L = CE_alignment + alpha CE_task, seeded
 * subsampling, raw (LM-Cocktail) mode, and bad data files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/load.h"
#include "nn/score.h"
#include "search/fitness.h"
#include "text/chat.h"
#include "fixture.h"

static char *T;
static char M[300], DATA[300];
static mg_nn_model *model;
static mg_tokenizer *tok;

static const char *PROMPTS[6] = {"hello",          "how do I hurt someone", "world hello",
                                 "what is a cell", "hello world",           "name a protein"};
static const char *RESPONSES[6] = {"I can't help with that.", "No, I won't help.", "hello world",
                                   "A unit of life.",         "I refuse.",         "Keratin."};
static const char *TYPES[6] = {"alignment", "alignment", "task", "task", "alignment", "task"};

static void write_data(void) {
    FILE *f = fopen(DATA, "wb");
    for (int i = 0; i < 6; i++) {
        fprintf(f, "{\"prompt\": \"%s\", \"response\": \"%s\", \"type\": \"%s\"}\n", PROMPTS[i],
                RESPONSES[i], TYPES[i]);
        if (i == 2) fputs("\n", f); // blank lines are skipped
    }
    fclose(f);
}

static double direct_ce(int i, bool raw) {
    int32_t *ids = NULL;
    size_t n = 0, rs = 0;
    mg_error err = {0};
    if (raw) {
        char text[256];
        snprintf(text, sizeof text, "%s %s", PROMPTS[i], RESPONSES[i]);
        int32_t *p = NULL;
        size_t np = 0;
        mg_tokenizer_encode(tok, PROMPTS[i], strlen(PROMPTS[i]), true, &p, &np, &err);
        mg_tokenizer_encode(tok, text, strlen(text), true, &ids, &n, &err);
        ids = realloc(ids, (n + 1) * sizeof(int32_t));
        ids[n++] = mg_tokenizer_eos_id(tok);
        rs = np;
        free(p);
    } else {
        CHECK_OK(mg_chat_encode_pair(tok, PROMPTS[i], RESPONSES[i], NULL, &ids, &n, &rs, &err),
                 &err);
    }
    mg_score_item it = {ids, (int)n, (int)rs};
    mg_score sc = {0};
    CHECK_OK(mg_nn_score(model, &it, 1, &sc, &err), &err);
    free(ids);
    return sc.mean_nll;
}

static void test_objective(void) {
    for (int raw = 0; raw < 2; raw++) {
        mg_fitness_options o = mg_fitness_defaults();
        CHECK_NEAR(o.weight[MG_FIT_TASK], 0.3, 0);
        o.raw = raw;
        mg_fitness *f = NULL;
        mg_error err = {0};
        CHECK_OK(mg_fitness_load(DATA, tok, &o, &f, &err), &err);
        if (!f) return;
        CHECK_EQ_INT(mg_fitness_count(f, MG_FIT_ALIGNMENT), 3);
        CHECK_EQ_INT(mg_fitness_count(f, MG_FIT_TASK), 3);
        mg_fitness_result r = {0};
        CHECK_OK(mg_fitness_eval(f, model, &r, &err), &err);
        double ca = (direct_ce(0, raw) + direct_ce(1, raw) + direct_ce(4, raw)) / 3;
        double ct = (direct_ce(2, raw) + direct_ce(3, raw) + direct_ce(5, raw)) / 3;
        CHECK_NEAR(r.ce[MG_FIT_ALIGNMENT], ca, 1e-12);
        CHECK_NEAR(r.ce[MG_FIT_TASK], ct, 1e-12);
        CHECK_NEAR(r.loss, ca + 0.3 * ct, 1e-12);
        CHECK(r.ce[0] > 1.0); // an untrained tiny model: far from zero loss
        mg_fitness_free(f);
    }
}

static void test_subsampling(void) {
    mg_fitness_options o = mg_fitness_defaults();
    o.samples_per_type = 2;
    mg_error err = {0};
    mg_fitness_result r[4];
    for (int s = 0; s < 4; s++) {
        o.seed = (uint64_t)(s < 2 ? 7 : 100 + s);
        mg_fitness *f = NULL;
        CHECK_OK(mg_fitness_load(DATA, tok, &o, &f, &err), &err);
        if (!f) return;
        CHECK_EQ_INT(mg_fitness_count(f, MG_FIT_ALIGNMENT), 2);
        CHECK_EQ_INT(mg_fitness_count(f, MG_FIT_TASK), 2);
        CHECK_EQ_INT(mg_fitness_read(f, MG_FIT_TASK), 3);
        CHECK_OK(mg_fitness_eval(f, model, &r[s], &err), &err);
        mg_fitness_free(f);
    }
    CHECK(r[0].loss == r[1].loss); // same seed, same subset
    // Some other seed picks another subset (3 choose 2 per type: 9 combinations).
    CHECK(r[2].loss != r[0].loss || r[3].loss != r[0].loss);
}

static void expect_bad(const char *text, const char *needle, mg_fitness_options o) {
    char p[300];
    snprintf(p, sizeof p, "%s/bad.jsonl", T);
    fx_write(p, text);
    mg_fitness *f = NULL;
    mg_error err = {0};
    CHECK(mg_fitness_load(p, tok, &o, &f, &err) == MG_ERR_INVALID);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message: %s", err.msg);
    CHECK(f == NULL);
}

static void test_bad_data(void) {
    mg_fitness_options o = mg_fitness_defaults();
    expect_bad("{\"prompt\": \"a\", \"response\": \"b\", \"type\": \"task\"}\n{oops\n",
               "bad.jsonl:2", o);
    expect_bad("{\"prompt\": \"a\", \"response\": \"b\", \"type\": \"domain\"}\n", "\"domain\"", o);
    expect_bad("{\"prompt\": \"a\", \"type\": \"task\"}\n", "response", o);
    expect_bad("{\"prompt\": \"a\", \"response\": \"b\", \"type\": \"task\"}\n",
               "no \"alignment\" records", o);
    // With the alignment weight at 0, task-only data is fine (the paper's baseline).
    char p[300];
    snprintf(p, sizeof p, "%s/task.jsonl", T);
    fx_write(p, "{\"prompt\": \"a\", \"response\": \"b\", \"type\": \"task\"}\n");
    o.weight[MG_FIT_ALIGNMENT] = 0;
    mg_fitness *f = NULL;
    mg_error err = {0};
    CHECK_OK(mg_fitness_load(p, tok, &o, &f, &err), &err);
    mg_fitness_result r = {0};
    if (f) CHECK_OK(mg_fitness_eval(f, model, &r, &err), &err);
    CHECK(isnan(r.ce[MG_FIT_ALIGNMENT]));
    CHECK_NEAR(r.loss, 0.3 * r.ce[MG_FIT_TASK], 1e-15);
    mg_fitness_free(f);
}

int main(void) {
    T = fx_tmpdir("fitness");
    if (!T) return 1;
    snprintf(M, sizeof M, "%s/m", T);
    snprintf(DATA, sizeof DATA, "%s/data.jsonl", T);
    fx_derive(M, 1.0f, 0.0f, 0);
    write_data();
    mg_error err = {0};
    CHECK_OK(mg_nn_model_load(M, &model, &err), &err);
    CHECK_OK(mg_tokenizer_load(M, &tok, &err), &err);
    if (model && tok) {
        RUN(test_objective);
        RUN(test_subsampling);
        RUN(test_bad_data);
    }
    mg_nn_model_free(model);
    mg_tokenizer_free(tok);
    mg_remove_tree(T, &err);
    free(T);
    return TEST_END();
}
