/* test_forward.c - the forward pass against the golden llama.cpp logits of the
 * four tiny-* fixtures, plus KV-cache and chunking properties. */
#include <math.h>
#include <stdlib.h>

#include "base/parallel.h"
#include "golden_fixture.h"
#include "nn/forward.h"
#include "nn/kernels.h"
#include "test.h"

// Max of |ours - ref| and whether every element is within the README bound
// |ours - golden| <= 1e-4 + 1e-4 * |golden|.
static double max_diff(const float *a, const float *ref, size_t n, int *within) {
    double mx = 0.0;
    *within = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > mx || isnan(d)) mx = isnan(d) ? INFINITY : d;
        if (!(d <= 1e-4 + 1e-4 * fabs((double)ref[i]))) *within = 0;
    }
    return mx;
}

static double mean_nll(const float *logits, const int32_t *tok, int n, int vocab) {
    double s = 0.0;
    for (int t = 0; t + 1 < n; t++) {
        const float *row = logits + (size_t)t * vocab;
        s += mg_nn_logsumexp(row, vocab) - row[tok[t + 1]];
    }
    return s / (n - 1);
}

static void check_fixture(const char *name) {
    mg_nn_model *m = golden_model(name);
    CHECK_MSG(m != NULL, "%s: model did not load", name);
    if (!m) return;
    const int V = m->arch.vocab;
    golden g;
    CHECK(golden_load(name, V, &g) == 0);
    mg_error err;
    mg_nn_state *s = NULL;
    CHECK_OK(mg_nn_state_new(m, (int)m->arch.max_pos, 0, &s, &err), &err);
    for (int q = 0; q < g.n_seq; q++) {
        golden_seq *gs = &g.seq[q];
        float *lg = malloc((size_t)gs->n * V * sizeof(float));
        mg_nn_state_reset(s);
        CHECK_OK(mg_nn_forward(m, s, gs->tokens, gs->n, 0, lg, &err), &err);
        int within;
        double d = max_diff(lg, gs->logits, (size_t)gs->n * V, &within);
        CHECK_MSG(within, "%s seq %d: logits outside tolerance (max abs diff %.3g)", name, q, d);
        // The README's tighter regression bound for a plain f32 implementation.
        CHECK_MSG(d <= 2e-5, "%s seq %d: max abs diff %.3g > 2e-5", name, q, d);
        if (!isnan(gs->mean_nll))
            CHECK_NEAR(mean_nll(lg, gs->tokens, gs->n, V), gs->mean_nll, 1e-5);

        // KV-cached decode, one token per call, equals the batch logits.
        mg_nn_state_reset(s);
        float *row = malloc((size_t)V * sizeof(float));
        double dmax = 0.0;
        for (int t = 0; t < gs->n; t++) {
            CHECK_OK(mg_nn_forward(m, s, &gs->tokens[t], 1, 0, row, &err), &err);
            int w;
            double dd = max_diff(row, lg + (size_t)t * V, (size_t)V, &w);
            if (dd > dmax) dmax = dd;
        }
        CHECK_MSG(dmax <= 1e-5, "%s seq %d: decode vs prefill max diff %.3g", name, q, dmax);

        // Greedy continuation: prefix as one batch, then one token at a time.
        if (gs->n_greedy) {
            mg_nn_state_reset(s);
            CHECK_OK(mg_nn_forward(m, s, gs->tokens, gs->greedy_prefix, gs->greedy_prefix - 1, row,
                                   &err),
                     &err);
            for (int t = 0; t < gs->n_greedy; t++) {
                int32_t id = mg_nn_argmax(row, V);
                CHECK_MSG(id == gs->greedy[t], "%s: greedy step %d: %d, expected %d", name, t, id,
                          gs->greedy[t]);
                CHECK_OK(mg_nn_forward(m, s, &id, 1, 0, row, &err), &err);
            }
        }
        free(row);
        free(lg);
    }
    mg_nn_state_free(s);
    golden_free(&g);
    mg_nn_model_free(m);
}

static void test_golden_llama(void) {
    check_fixture("tiny-llama");
}
static void test_golden_llama3(void) {
    check_fixture("tiny-llama3");
}
static void test_golden_qwen2(void) {
    check_fixture("tiny-qwen2");
}
static void test_golden_qwen3(void) {
    check_fixture("tiny-qwen3");
}

// Prefill in chunks (small n_batch), logits of a suffix only, and split calls
// all give the full-batch logits.
static void test_chunked_prefill(void) {
    for (int f = 0; f < N_GOLDEN; f++) {
        mg_nn_model *m = golden_model(GOLDEN_NAMES[f]);
        if (!m) continue;
        const int V = m->arch.vocab;
        golden g;
        CHECK(golden_load(GOLDEN_NAMES[f], V, &g) == 0);
        golden_seq *gs = &g.seq[2];
        mg_error err;
        mg_nn_state *s = NULL;
        CHECK_OK(mg_nn_state_new(m, 100, 7, &s, &err), &err);
        float *lg = malloc((size_t)gs->n * V * sizeof(float));
        // Rows 20..63 only, in chunks of 7.
        CHECK_OK(mg_nn_forward(m, s, gs->tokens, gs->n, 20, lg, &err), &err);
        int within;
        double d = max_diff(lg, gs->logits + (size_t)20 * V, (size_t)(gs->n - 20) * V, &within);
        CHECK_MSG(within && d <= 2e-5, "%s chunked: max diff %.3g", GOLDEN_NAMES[f], d);
        // Two calls: 30 tokens without logits, then the rest.
        mg_nn_state_reset(s);
        CHECK_OK(mg_nn_forward(m, s, gs->tokens, 30, 30, NULL, &err), &err);
        CHECK_EQ_INT(mg_nn_state_pos(s), 30);
        CHECK_OK(mg_nn_forward(m, s, gs->tokens + 30, gs->n - 30, 0, lg, &err), &err);
        d = max_diff(lg, gs->logits + (size_t)30 * V, (size_t)(gs->n - 30) * V, &within);
        CHECK_MSG(within && d <= 2e-5, "%s split: max diff %.3g", GOLDEN_NAMES[f], d);
        // Truncate back and redo the tail: same logits (cache rows overwritten).
        mg_nn_state_truncate(s, 40);
        CHECK_OK(mg_nn_forward(m, s, gs->tokens + 40, gs->n - 40, 0, lg, &err), &err);
        d = max_diff(lg, gs->logits + (size_t)40 * V, (size_t)(gs->n - 40) * V, &within);
        CHECK_MSG(within && d <= 2e-5, "%s truncate: max diff %.3g", GOLDEN_NAMES[f], d);
        free(lg);
        mg_nn_state_free(s);
        golden_free(&g);
        mg_nn_model_free(m);
    }
}

// Same logits bit for bit with 1 and 2 threads, and inside a parallel region.
static void test_thread_invariance(void) {
    mg_nn_model *m = golden_model("tiny-qwen3");
    if (!m) return;
    const int V = m->arch.vocab;
    golden g;
    CHECK(golden_load("tiny-qwen3", V, &g) == 0);
    golden_seq *gs = &g.seq[2];
    size_t sz = (size_t)gs->n * V;
    float *a = malloc(sz * sizeof(float)), *b = malloc(sz * sizeof(float));
    mg_error err;
    int saved = mg_get_threads();
    float *outs[2] = {a, b};
    for (int t = 1; t <= 2; t++) {
        mg_set_threads(t);
        mg_nn_state *s = NULL;
        CHECK_OK(mg_nn_state_new(m, 64, 0, &s, &err), &err);
        CHECK_OK(mg_nn_forward(m, s, gs->tokens, gs->n, 0, outs[t - 1], &err), &err);
        mg_nn_state_free(s);
    }
    CHECK(memcmp(a, b, sz * sizeof(float)) == 0);
    mg_set_threads(saved);
    free(a);
    free(b);
    golden_free(&g);
    mg_nn_model_free(m);
}

static void test_bad_input(void) {
    mg_nn_model *m = golden_model("tiny-llama");
    if (!m) return;
    mg_error err;
    mg_nn_state *s = NULL;
    CHECK(mg_nn_state_new(m, 129, 0, &s, &err) == MG_ERR_INVALID); // max_pos 128
    CHECK(strstr(err.msg, "max_position_embeddings") != NULL);
    CHECK_OK(mg_nn_state_new(m, 8, 0, &s, &err), &err);
    float lg[512 * 9];
    int32_t toks[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(mg_nn_forward(m, s, toks, 0, 0, lg, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "empty") != NULL);
    CHECK(mg_nn_forward(m, s, toks, 9, 8, lg, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "context window") != NULL);
    CHECK_EQ_INT(mg_nn_state_pos(s), 0);
    int32_t bad[2] = {5, 512};
    CHECK(mg_nn_forward(m, s, bad, 2, 1, lg, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "index 1") != NULL);
    CHECK_EQ_INT(mg_nn_state_pos(s), 0);
    mg_nn_state_free(s);
    mg_nn_model_free(m);
}

int main(void) {
    RUN(test_golden_llama);
    RUN(test_golden_llama3);
    RUN(test_golden_qwen2);
    RUN(test_golden_qwen3);
    RUN(test_chunked_prefill);
    RUN(test_thread_invariance);
    RUN(test_bad_input);
    return TEST_END();
}
