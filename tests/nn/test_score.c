/* test_score.c - response-loss scoring and generation on the golden fixtures. */
#include <math.h>
#include <stdlib.h>

#include "base/parallel.h"
#include "golden_fixture.h"
#include "nn/generate.h"
#include "nn/kernels.h"
#include "nn/score.h"
#include "test.h"

// Scoring CE equals -log softmax of the golden full logits over response tokens.
static void test_score_matches_logits(void) {
    for (int f = 0; f < N_GOLDEN; f++) {
        mg_nn_model *m = golden_model(GOLDEN_NAMES[f]);
        if (!m) continue;
        const int V = m->arch.vocab;
        golden g;
        CHECK(golden_load(GOLDEN_NAMES[f], V, &g) == 0);
        golden_seq *gs = &g.seq[2];
        const int starts[] = {1, 9, 40, 63};
        mg_score_item items[4];
        for (int i = 0; i < 4; i++)
            items[i] = (mg_score_item){.ids = gs->tokens, .n = gs->n, .response_start = starts[i]};
        mg_score sc[4];
        mg_error err;
        CHECK_OK(mg_nn_score(m, items, 4, sc, &err), &err);
        for (int i = 0; i < 4; i++) {
            double sum = 0;
            for (int t = starts[i]; t < gs->n; t++) {
                const float *row = gs->logits + (size_t)(t - 1) * V;
                sum += mg_nn_logsumexp(row, V) - row[gs->tokens[t]];
            }
            CHECK_EQ_INT(sc[i].count, gs->n - starts[i]);
            CHECK_NEAR(sc[i].sum_nll, sum, 1e-4 * (gs->n - starts[i]));
            CHECK_NEAR(sc[i].mean_nll, sum / (gs->n - starts[i]), 1e-5);
        }
        // Response from token 1 on: the mean is the golden mean NLL.
        CHECK_NEAR(sc[0].mean_nll, gs->mean_nll, 1e-5);
        golden_free(&g);
        mg_nn_model_free(m);
    }
}

// Bit-identical scores for 1 and 2 threads, batch sizes and orders.
static void test_score_determinism(void) {
    mg_nn_model *m = golden_model("tiny-qwen2");
    if (!m) return;
    golden g;
    CHECK(golden_load("tiny-qwen2", m->arch.vocab, &g) == 0);
    enum { N = 7 };
    mg_score_item items[N], rev[N];
    for (int i = 0; i < N; i++) {
        items[i] = (mg_score_item){
            .ids = g.seq[2].tokens + i * 3, .n = 64 - i * 7, .response_start = 1 + i * 2};
        rev[N - 1 - i] = items[i];
    }
    mg_score a[N], b[N], c[N], one;
    mg_error err;
    int saved = mg_get_threads();
    mg_set_threads(1);
    CHECK_OK(mg_nn_score(m, items, N, a, &err), &err);
    mg_set_threads(2);
    CHECK_OK(mg_nn_score(m, rev, N, b, &err), &err);
    for (int i = 0; i < N; i++) {
        CHECK(a[i].sum_nll == b[N - 1 - i].sum_nll);
        // Alone (the all-threads-per-record path) and in a batch of two.
        CHECK_OK(mg_nn_score(m, &items[i], 1, &one, &err), &err);
        CHECK(one.sum_nll == a[i].sum_nll);
    }
    CHECK_OK(mg_nn_score(m, items + 2, 2, c, &err), &err);
    CHECK(c[0].sum_nll == a[2].sum_nll && c[1].sum_nll == a[3].sum_nll);
    mg_set_threads(saved);
    golden_free(&g);
    mg_nn_model_free(m);
}

static void test_score_errors(void) {
    mg_nn_model *m = golden_model("tiny-llama");
    if (!m) return;
    int32_t ids[200] = {0};
    ids[5] = 999;
    mg_score sc[2];
    mg_error err;
    mg_score_item ok = {.ids = ids, .n = 4, .response_start = 2};
    mg_score_item bad[] = {
        {.ids = ids, .n = 1, .response_start = 1},   // too short
        {.ids = ids, .n = 4, .response_start = 0},   // empty prompt
        {.ids = ids, .n = 4, .response_start = 4},   // empty response
        {.ids = ids, .n = 200, .response_start = 2}, // longer than 128
        {.ids = ids, .n = 8, .response_start = 2},   // token 999
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mg_score_item two[2] = {ok, bad[i]};
        CHECK_MSG(mg_nn_score(m, two, 2, sc, &err) == MG_ERR_INVALID, "case %zu", i);
        CHECK_MSG(strstr(err.msg, "record 1") != NULL, "case %zu: %s", i, err.msg);
    }
    mg_nn_model_free(m);
}

// mg_nn_generate reproduces the golden greedy continuations, stops on stop ids,
// and sampling is reproducible per seed.
static void test_generate(void) {
    for (int f = 0; f < N_GOLDEN; f++) {
        mg_nn_model *m = golden_model(GOLDEN_NAMES[f]);
        if (!m) continue;
        golden g;
        CHECK(golden_load(GOLDEN_NAMES[f], m->arch.vocab, &g) == 0);
        golden_seq *gs = &g.seq[1];
        mg_gen_params p = {.sample = mg_sample_params_greedy(), .max_new_tokens = 16};
        mg_gen_result r;
        mg_error err;
        CHECK_OK(mg_nn_generate(m, NULL, gs->tokens, gs->greedy_prefix, &p, NULL, NULL, &r, &err),
                 &err);
        CHECK_EQ_INT(r.n, 16);
        CHECK_EQ_INT(r.stop, MG_GEN_STOP_LENGTH);
        CHECK(r.n == 16 && memcmp(r.ids, gs->greedy, 16 * sizeof(int32_t)) == 0);
        mg_gen_result_free(&r);
        // Stop on the 4th greedy token: 3 tokens out, stop token not included.
        int32_t stop = gs->greedy[3];
        int first = 0;
        while (gs->greedy[first] != stop)
            first++;
        p.stop_ids = &stop;
        p.n_stop = 1;
        CHECK_OK(mg_nn_generate(m, NULL, gs->tokens, gs->greedy_prefix, &p, NULL, NULL, &r, &err),
                 &err);
        CHECK_EQ_INT(r.n, first);
        CHECK_EQ_INT(r.stop, MG_GEN_STOP_TOKEN);
        CHECK_EQ_INT(r.stop_id, stop);
        mg_gen_result_free(&r);
        golden_free(&g);
        mg_nn_model_free(m);
    }
}

static void test_generate_many(void) {
    mg_nn_model *m = golden_model("tiny-llama3");
    if (!m) return;
    golden g;
    CHECK(golden_load("tiny-llama3", m->arch.vocab, &g) == 0);
    const int32_t *prompts[5];
    int lens[5];
    for (int i = 0; i < 5; i++) {
        prompts[i] = g.seq[2].tokens + 5 * i;
        lens[i] = 3 + 4 * i;
    }
    mg_gen_params p = {.sample = {.temperature = 0.9, .top_k = 40, .top_p = 0.95, .seed = 7},
                       .max_new_tokens = 12};
    mg_gen_result a[5], b[5];
    mg_error err;
    int saved = mg_get_threads();
    mg_set_threads(2);
    CHECK_OK(mg_nn_generate_many(m, prompts, lens, 5, &p, a, &err), &err);
    mg_set_threads(1);
    for (int i = 0; i < 5; i++) {
        mg_gen_params pi = p;
        pi.stream = (uint64_t)i;
        CHECK_OK(mg_nn_generate(m, NULL, prompts[i], lens[i], &pi, NULL, NULL, &b[i], &err), &err);
        CHECK(a[i].n == b[i].n && memcmp(a[i].ids, b[i].ids, sizeof(int32_t) * a[i].n) == 0);
    }
    // Another seed gives another sample somewhere.
    p.sample.seed = 8;
    mg_gen_result c[5];
    CHECK_OK(mg_nn_generate_many(m, prompts, lens, 5, &p, c, &err), &err);
    int differ = 0;
    for (int i = 0; i < 5; i++)
        differ |= a[i].n != c[i].n || memcmp(a[i].ids, c[i].ids, sizeof(int32_t) * a[i].n);
    CHECK(differ);
    for (int i = 0; i < 5; i++) {
        mg_gen_result_free(&a[i]);
        mg_gen_result_free(&b[i]);
        mg_gen_result_free(&c[i]);
    }
    mg_set_threads(saved);
    golden_free(&g);
    mg_nn_model_free(m);
}

static void test_generate_errors(void) {
    mg_nn_model *m = golden_model("tiny-llama");
    if (!m) return;
    int32_t ids[128] = {0};
    mg_gen_params p = {.sample = mg_sample_params_greedy(), .max_new_tokens = 4};
    mg_gen_result r;
    mg_error err;
    CHECK(mg_nn_generate(m, NULL, ids, 0, &p, NULL, NULL, &r, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "empty") != NULL);
    CHECK(mg_nn_generate(m, NULL, ids, 128, &p, NULL, NULL, &r, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "context window") != NULL);
    p.max_new_tokens = 0;
    CHECK(mg_nn_generate(m, NULL, ids, 3, &p, NULL, NULL, &r, &err) == MG_ERR_USAGE);
    p.max_new_tokens = 4;
    p.sample.temperature = -1;
    CHECK(mg_nn_generate(m, NULL, ids, 3, &p, NULL, NULL, &r, &err) == MG_ERR_USAGE);
    CHECK(strstr(err.msg, "temperature") != NULL);
    p.sample.temperature = 1;
    p.sample.top_p = 0;
    CHECK(mg_nn_generate(m, NULL, ids, 3, &p, NULL, NULL, &r, &err) == MG_ERR_USAGE);
    CHECK(strstr(err.msg, "top-p") != NULL);
    p.sample.top_p = 1;
    p.sample.top_k = -2;
    CHECK(mg_nn_generate(m, NULL, ids, 3, &p, NULL, NULL, &r, &err) == MG_ERR_USAGE);
    // Near the window's end generation stops with MG_GEN_STOP_CONTEXT.
    p.sample.top_k = 0;
    p.max_new_tokens = 10;
    CHECK_OK(mg_nn_generate(m, NULL, ids, 125, &p, NULL, NULL, &r, &err), &err);
    CHECK_EQ_INT(r.n, 4); // 128 - 125 cached + the last one sampled
    CHECK_EQ_INT(r.stop, MG_GEN_STOP_CONTEXT);
    mg_gen_result_free(&r);
    mg_nn_model_free(m);
}

int main(void) {
    RUN(test_score_matches_logits);
    RUN(test_score_determinism);
    RUN(test_score_errors);
    RUN(test_generate);
    RUN(test_generate_many);
    RUN(test_generate_errors);
    return TEST_END();
}
