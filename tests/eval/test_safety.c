/* test_safety.c - the safety run on a tiny model (golden tiny-llama3 weights,
 * tiny-chat tokenizer and template; guard = the same weights with the tiny
 * Llama-Guard-style template): audit records, resume after a partial run gives
 * the same summary as a fresh run, an interrupted last record is redone, a
 * changed prompts file is refused, a missing chat template is an error, and
 * exact-match QA normalization. */
#include <stdlib.h>
#include <unistd.h>

#include "base/file.h"
#include "eval/qa.h"
#include "eval/safety.h"
#include "nn/load.h"
#include "test.h"

static mg_nn_model *model;
static mg_tokenizer *tok;
static mg_guard *guard;
static mg_refusal *refusal;
static char dir[] = "/tmp/mg_test_safety_XXXXXX";

static json_t *run(const char *audit, size_t limit, mg_status expect, mg_error *err) {
    mg_safety_prompts p;
    CHECK_OK(mg_safety_prompts_load(MG_TEST_DATA "/eval/safety.jsonl", &p, err), err);
    mg_safety_judges j = {.guard = guard, .refusal = refusal, .guard_threshold = 0.5,
                          .guard_max_new_tokens = 6};
    mg_safety_opts o = {.audit_path = audit, .label = "tiny", .max_new_tokens = 6,
                        .sample = mg_sample_params_greedy(), .limit = limit, .batch = 3};
    json_t *sum = NULL;
    mg_status rc = mg_safety_run(model, tok, &p, &j, &o, &sum, err);
    CHECK_MSG(rc == expect, "%d: %s", rc, err->msg);
    mg_safety_prompts_free(&p);
    return sum;
}

static size_t lines(const char *path) {
    char *t = NULL;
    size_t len = 0, n = 0;
    if (mg_file_read_all(path, 0, &t, &len, NULL) != MG_OK) return 0;
    for (size_t i = 0; i < len; i++) n += t[i] == '\n';
    free(t);
    return n;
}

static void test_run_and_resume(void) {
    mg_error err = {0};
    char *fresh = mg_path_join(dir, "fresh.jsonl"), *res = mg_path_join(dir, "resumed.jsonl");
    json_t *a = run(fresh, 0, MG_OK, &err);
    CHECK_EQ_INT(lines(fresh), 4);
    json_t *part = run(res, 2, MG_OK, &err);
    CHECK_EQ_INT(lines(res), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(part, "prompts")), 2);
    json_t *b = run(res, 0, MG_OK, &err);
    CHECK_EQ_INT(lines(res), 4);
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "resumed")), 2);
    // Everything but the resumed count agrees with the fresh run.
    json_object_set_new(b, "resumed", json_integer(0));
    CHECK(json_equal(a, b));
    json_t *g = json_object_get(json_object_get(a, "judges"), "guard");
    double sr = json_number_value(json_object_get(g, "safe_rate"));
    CHECK(sr >= 0 && sr <= 1);
    CHECK(json_object_get(json_object_get(a, "judges"), "refusal") != NULL);
    json_t *cats = json_object_get(a, "by_category");
    CHECK_EQ_INT(json_object_size(cats), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(
                     json_object_get(cats, "Non-Violent Unethical Behavior"), "total")),
                 2);
    // A rerun with nothing to do appends nothing.
    json_t *c = run(res, 0, MG_OK, &err);
    CHECK_EQ_INT(lines(res), 4);
    CHECK_EQ_INT(json_integer_value(json_object_get(c, "resumed")), 4);
    // Audit records carry the prompt, response and each judge's output.
    mg_jsonl au;
    CHECK_OK(mg_jsonl_load(res, &au, &err), &err);
    json_t *r0 = au.recs[0];
    CHECK(json_is_string(json_object_get(r0, "response")));
    CHECK(json_is_string(json_object_get(json_object_get(r0, "guard"), "output")));
    CHECK(json_is_number(json_object_get(json_object_get(r0, "guard"), "p_unsafe")));
    CHECK(json_is_string(json_object_get(json_object_get(r0, "refusal"), "verdict")));
    mg_jsonl_free(&au);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(part);
    // An interrupted append (no final newline) is redone.
    char *t = NULL;
    size_t len;
    CHECK_OK(mg_file_read_all(res, 0, &t, &len, &err), &err);
    FILE *f = fopen(res, "w");
    fwrite(t, 1, len - 20, f); // cut into the last record
    fclose(f);
    free(t);
    json_t *d = run(res, 0, MG_OK, &err);
    CHECK_EQ_INT(json_integer_value(json_object_get(d, "resumed")), 3);
    json_decref(d);
    free(fresh);
    free(res);
}

static void test_errors(void) {
    mg_error err = {0};
    // An audit file from other prompts is refused, naming it.
    char *p = mg_path_join(dir, "other.jsonl");
    FILE *f = fopen(p, "w");
    fputs("{\"index\": 1, \"prompt\": \"something else\", \"response\": \"x\", \"guard\": {}, "
          "\"refusal\": {}}\n",
          f);
    fclose(f);
    json_t *s = run(p, 0, MG_ERR_INVALID, &err);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, "other.jsonl:1: audit record for prompt 1 does not match") != NULL);
    free(p);
    // No chat template: a clear error before generating.
    mg_tokenizer_set_chat_template(tok, "");
    int32_t *ids = NULL;
    size_t n;
    CHECK(mg_eval_chat_encode(tok, "hi", &ids, &n, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "no chat template") != NULL);
    mg_safety_prompts pr;
    CHECK(mg_safety_prompts_load(MG_TEST_DATA "/eval/mc.jsonl", &pr, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "mc.jsonl:1: missing field 'prompt'") != NULL);
    CHECK(mg_safety_prompts_load(MG_TEST_DATA "/eval/empty.jsonl", &pr, &err) == MG_ERR_INVALID);
}

static void test_qa(void) {
    char *s = mg_qa_normalize("  The  Answer, is: \"A blue-ish\" sky!  ");
    CHECK_EQ_STR(s, "answer is blueish sky");
    free(s);
    mg_qa_task t;
    mg_error err = {0};
    CHECK_OK(mg_qa_task_load(MG_TEST_DATA "/eval/qa.jsonl", &t, &err), &err);
    CHECK_EQ_INT(t.n, 2);
    CHECK_EQ_INT(json_array_size(t.answers[1]), 2);
    mg_qa_task_free(&t);
    CHECK(mg_qa_task_load(MG_TEST_DATA "/eval/safety.jsonl", &t, &err) == MG_ERR_INVALID);
}

int main(void) {
    mg_error err = {0};
    if (!mkdtemp(dir)) return 1;
    CHECK_OK(mg_nn_model_load(MG_TEST_DATA "/golden/tiny-llama3", &model, &err), &err);
    CHECK_OK(mg_tokenizer_load(MG_TEST_DATA "/templates/tiny-chat", &tok, &err), &err);
    mg_nn_model *gm = NULL;
    mg_tokenizer *gt = NULL;
    CHECK_OK(mg_nn_model_load(MG_TEST_DATA "/golden/tiny-llama3", &gm, &err), &err);
    CHECK_OK(mg_tokenizer_load(MG_TEST_DATA "/templates/tiny-chat", &gt, &err), &err);
    json_t *cfg = json_load_file(MG_TEST_DATA "/eval/tiny-guard/tokenizer_config.json", 0, NULL);
    if (gt && cfg)
        mg_tokenizer_set_chat_template(gt, json_string_value(json_object_get(cfg, "chat_template")));
    json_decref(cfg);
    CHECK_OK(mg_guard_new("tiny-guard", gt, gm, &guard, &err), &err);
    CHECK_OK(mg_refusal_new(NULL, &refusal, &err), &err);
    if (!model || !tok || !guard) return 1;
    RUN(test_run_and_resume);
    RUN(test_errors);
    RUN(test_qa);
    mg_guard_close(guard);
    mg_refusal_free(refusal);
    mg_nn_model_free(model);
    mg_tokenizer_free(tok);
    mg_remove_tree(dir, NULL);
    return TEST_END();
}
