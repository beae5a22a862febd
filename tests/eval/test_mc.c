/* test_mc.c - multiple-choice scoring against a reference computed by hand from
 * full logits (one fresh forward pass over each whole context+choice sequence,
 * log-softmax in double), for acc and acc_norm, zero- and few-shot, MMLU and
 * cloze formats; the exact prompt strings; lm-eval's joint tokenization; bad
 * task files. The model is the golden tiny-llama3 (random weights) with the
 * tiny-chat byte-level tokenizer (its 269 ids fit the 512-entry vocabulary). */
#include <math.h>
#include <stdlib.h>

#include "eval/mc.h"
#include "nn/load.h"
#include "test.h"

#define EV MG_TEST_DATA "/eval/"

static mg_nn_model *model;
static mg_tokenizer *tok;

static void test_requests(void) {
    mg_mc_task t, dev;
    mg_error err = {0};
    CHECK_OK(mg_mc_task_load(EV "mc.jsonl", &t, &err), &err);
    CHECK_OK(mg_mc_task_load(EV "mc_dev.jsonl", &dev, &err), &err);
    CHECK_EQ_STR(t.name, "mc");
    CHECK_EQ_INT(t.q[2].answer, 1); // answer given as the choice text
    char *ctx = NULL, **conts = NULL;
    mg_mc_opts o = {.format = MG_MC_MMLU};
    CHECK_OK(mg_mc_request(&t, 0, &o, &ctx, &conts, &err), &err);
    CHECK_EQ_STR(ctx, "Which colour is the sky on a clear day?\nA. blue\nB. green\nC. red\nD. "
                      "black\nAnswer:");
    CHECK_EQ_STR(conts[0], " A");
    CHECK_EQ_STR(conts[3], " D");
    for (int c = 0; c < 4; c++) free(conts[c]);
    free(conts);
    free(ctx);
    // The subject gives MMLU's description; one shot precedes the question.
    o.fewshot = 1;
    o.dev = &dev;
    CHECK_OK(mg_mc_request(&t, 1, &o, &ctx, &conts, &err), &err);
    CHECK_EQ_STR(ctx, "The following are multiple choice questions (with answers) about college "
                      "biology.\n\nThe sun rises in the\nA. west\nB. east\nAnswer: B\n\nhello "
                      "world?\nA. hello\nB. world\nC. hello world\nAnswer:");
    for (int c = 0; c < 3; c++) free(conts[c]);
    free(conts);
    free(ctx);
    // Cloze: the choice texts are the continuations.
    o.format = MG_MC_CLOZE;
    o.fewshot = 2;
    CHECK_OK(mg_mc_request(&t, 2, &o, &ctx, &conts, &err), &err);
    CHECK_EQ_STR(ctx, "Question: The sun rises in the\nAnswer: east\n\nQuestion: Water is\nAnswer: "
                      "wet\n\nQuestion: Two plus two is\nAnswer:");
    CHECK_EQ_STR(conts[1], " four");
    for (int c = 0; c < 2; c++) free(conts[c]);
    free(conts);
    free(ctx);
    // The asked question never appears as its own shot.
    o.format = MG_MC_MMLU;
    o.fewshot = 3;
    CHECK(mg_mc_request(&dev, 0, &o, &ctx, &conts, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "3-shot") != NULL);
    o.dev = NULL;
    CHECK(mg_mc_request(&t, 0, &o, &ctx, &conts, &err) == MG_ERR_USAGE);
    mg_mc_task_free(&t);
    mg_mc_task_free(&dev);
}

static void test_encode(void) {
    mg_error err = {0};
    int32_t *ids = NULL, *ref = NULL;
    int n = 0, cl = 0;
    size_t nref = 0;
    // Trailing whitespace of the context moves to the continuation.
    CHECK_OK(mg_mc_encode(tok, "Answer: ", "A", &ids, &n, &cl, &err), &err);
    CHECK_OK(mg_tokenizer_encode(tok, "Answer: A", 9, true, &ref, &nref, &err), &err);
    CHECK_EQ_INT(n, (int)nref);
    CHECK(!memcmp(ids, ref, nref * sizeof *ids));
    CHECK_EQ_INT(ref[0], mg_tokenizer_bos_id(tok)); // the tokenizer's default BOS
    CHECK_EQ_INT(cl, 1 + 7);                         // BOS + "Answer:"
    free(ids);
    free(ref);
    // Joint tokenization: "hello world" merges across the boundary, so the
    // continuation is whole[len(encode(ctx)):] and not encode(cont).
    CHECK_OK(mg_mc_encode(tok, "say hello", " world", &ids, &n, &cl, &err), &err);
    CHECK_OK(mg_tokenizer_encode(tok, "say hello world", 15, true, &ref, &nref, &err), &err);
    CHECK_EQ_INT(n, (int)nref);
    CHECK(!memcmp(ids, ref, nref * sizeof *ids));
    free(ids);
    free(ref);
    // Empty context: [BOS] + the continuation alone.
    CHECK_OK(mg_mc_encode(tok, "", "hi", &ids, &n, &cl, &err), &err);
    CHECK_EQ_INT(cl, 1);
    CHECK_EQ_INT(ids[0], mg_tokenizer_bos_id(tok));
    CHECK_EQ_INT(n, 3);
    free(ids);
    CHECK(mg_mc_encode(tok, "abc", "", &ids, &n, &cl, &err) == MG_ERR_INVALID);
    CHECK_EQ_INT(mg_mc_char_len("caf\xc3\xa9"), 4);
}

// log P(ids[ctx_len..n) | ids[0..ctx_len)) from one full forward pass.
static double reference_ll(const int32_t *ids, int n, int ctx_len) {
    mg_error err = {0};
    mg_nn_state *s = NULL;
    const int V = model->arch.vocab;
    float *lg = malloc((size_t)n * V * sizeof *lg);
    CHECK_OK(mg_nn_state_new(model, n, 0, &s, &err), &err);
    CHECK_OK(mg_nn_forward(model, s, ids, n, 0, lg, &err), &err);
    double ll = 0;
    for (int t = ctx_len; t < n; t++) {
        const float *row = lg + (size_t)(t - 1) * V;
        double mx = row[0], sum = 0;
        for (int j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
        for (int j = 0; j < V; j++) sum += exp((double)row[j] - mx);
        ll += (double)row[ids[t]] - mx - log(sum);
    }
    mg_nn_state_free(s);
    free(lg);
    return ll;
}

static void check_task(const mg_mc_task *t, mg_mc_opts o) {
    mg_error err = {0};
    mg_mc_result res;
    double *lls = NULL;
    CHECK_OK(mg_mc_eval(model, tok, t, &o, &res, &lls, &err), &err);
    if (!lls) return;
    size_t correct = 0, correct_norm = 0, k = 0;
    for (size_t i = 0; i < t->n; i++) {
        const mg_mc_question *q = &t->q[i];
        char *ctx = NULL, **conts = NULL;
        CHECK_OK(mg_mc_request(t, i, &o, &ctx, &conts, &err), &err);
        int best = 0, best_norm = 0;
        double bl = -INFINITY, bn = -INFINITY;
        for (int c = 0; c < q->n_choices; c++, k++) {
            int32_t *ids = NULL;
            int n = 0, cl = 0;
            CHECK_OK(mg_mc_encode(tok, ctx, conts[c], &ids, &n, &cl, &err), &err);
            double ref = reference_ll(ids, n, cl);
            CHECK_NEAR(lls[k], ref, 1e-4 + 1e-5 * fabs(ref));
            // acc_norm divides by the characters of the choice text (the
            // continuation without its leading delimiter).
            double norm = ref / (double)mg_mc_char_len(conts[c] + 1);
            if (ref > bl) bl = ref, best = c;
            if (norm > bn) bn = norm, best_norm = c;
            free(ids);
            free(conts[c]);
        }
        correct += best == q->answer;
        correct_norm += best_norm == q->answer;
        free(conts);
        free(ctx);
    }
    CHECK_EQ_INT(res.n, t->n);
    CHECK_EQ_INT(res.correct, correct);
    CHECK_EQ_INT(res.correct_norm, correct_norm);
    CHECK_NEAR(res.acc, (double)correct / t->n, 1e-12);
    CHECK_NEAR(res.acc_norm, (double)correct_norm / t->n, 1e-12);
    free(lls);
}

static void test_scores(void) {
    mg_mc_task t, dev;
    mg_error err = {0};
    CHECK_OK(mg_mc_task_load(EV "mc.jsonl", &t, &err), &err);
    CHECK_OK(mg_mc_task_load(EV "mc_dev.jsonl", &dev, &err), &err);
    check_task(&t, (mg_mc_opts){.format = MG_MC_MMLU});
    check_task(&t, (mg_mc_opts){.format = MG_MC_CLOZE});
    check_task(&t, (mg_mc_opts){.format = MG_MC_MMLU, .fewshot = 2, .dev = &dev});
    check_task(&t, (mg_mc_opts){.format = MG_MC_CLOZE, .fewshot = 1, .dev = &dev});
    // limit: the first question only.
    mg_mc_result res;
    CHECK_OK(mg_mc_eval(model, tok, &t, &(mg_mc_opts){.limit = 1}, &res, NULL, &err), &err);
    CHECK_EQ_INT(res.n, 1);
    mg_mc_task_free(&t);
    mg_mc_task_free(&dev);
}

// Choices of different context splits and lengths, straight at the ids level:
// the shared-prefix pass must equal separate full passes.
static void test_shared_prefix_ids(void) {
    mg_error err = {0};
    int32_t a[] = {1, 5, 9, 12, 40, 41, 42}, b[] = {1, 5, 9, 13, 50}, c[] = {1, 5, 7, 60, 61, 62, 63};
    int32_t *ids[3] = {a, b, c};
    int n[3] = {7, 5, 7}, cl[3] = {4, 3, 2};
    double lls[3];
    mg_nn_state *s = NULL;
    CHECK_OK(mg_nn_state_new(model, 16, 0, &s, &err), &err);
    CHECK_OK(mg_mc_score_choices(model, s, ids, n, cl, 3, lls, &err), &err);
    for (int k = 0; k < 3; k++) CHECK_NEAR(lls[k], reference_ll(ids[k], n[k], cl[k]), 1e-4);
    mg_nn_state_free(s);
}

static void test_bad_files(void) {
    mg_mc_task t;
    mg_error err = {0};
    CHECK(mg_mc_task_load(MG_SOURCE_DIR "/tests/bad/jsonl/bad_answer.jsonl", &t, &err) == MG_ERR_INVALID);
    CHECK_MSG(strstr(err.msg, "bad_answer.jsonl:2: answer 3 out of range") != NULL, "%s", err.msg);
    CHECK(mg_mc_task_load(MG_SOURCE_DIR "/tests/bad/jsonl/bad_line.jsonl", &t, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "bad_line.jsonl:3:") != NULL);
    CHECK(mg_mc_task_load(EV "empty.jsonl", &t, &err) == MG_ERR_INVALID);
    CHECK(mg_mc_task_load(EV "safety.jsonl", &t, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "safety.jsonl:1: missing field 'question'") != NULL);
    CHECK(mg_mc_task_load(EV "qa.jsonl", &t, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "qa.jsonl:1: missing field 'choices'") != NULL);
    mg_mc_format f;
    CHECK(mg_mc_format_parse("cloze", &f, &err) == MG_OK && f == MG_MC_CLOZE);
    CHECK(mg_mc_format_parse("nope", &f, &err) == MG_ERR_USAGE);
}

int main(void) {
    mg_error err = {0};
    CHECK_OK(mg_nn_model_load(MG_TEST_DATA "/golden/tiny-llama3", &model, &err), &err);
    CHECK_OK(mg_tokenizer_load(MG_TEST_DATA "/templates/tiny-chat", &tok, &err), &err);
    if (!model || !tok) return 1;
    RUN(test_requests);
    RUN(test_encode);
    RUN(test_scores);
    RUN(test_shared_prefix_ids);
    RUN(test_bad_files);
    mg_nn_model_free(model);
    mg_tokenizer_free(tok);
    return TEST_END();
}
