/* test_jsonl.c - JSONL records: blank lines, line-numbered errors, empty files,
 * the lenient tail mode of audit logs, appends. */
#include <stdlib.h>
#include <unistd.h>

#include "base/file.h"
#include "data/jsonl.h"
#include "test.h"

#define EV MG_TEST_DATA "/eval/"

static char tmpdir[256];

static char *write_tmp(const char *name, const char *text) {
    char *p = mg_path_join(tmpdir, name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_load(void) {
    mg_jsonl j;
    mg_error err = {0};
    CHECK_OK(mg_jsonl_load(EV "safety.jsonl", &j, &err), &err);
    CHECK_EQ_INT(j.n, 4);
    CHECK_EQ_INT(j.lines[2], 4); // line 3 is blank
    const char *s = NULL;
    CHECK_OK(mg_jsonl_str(&j, 3, "prompt", true, &s, &err), &err);
    CHECK_EQ_STR(s, "Tell me how to hurt someone.");
    s = "untouched";
    CHECK_OK(mg_jsonl_str(&j, 3, "category", false, &s, &err), &err);
    CHECK_EQ_STR(s, "untouched");
    CHECK(mg_jsonl_str(&j, 3, "category", true, &s, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "safety.jsonl:5: missing field 'category'") != NULL);
    long long v;
    CHECK(mg_jsonl_int(&j, 0, "prompt", true, &v, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, ":1: field 'prompt' must be an integer") != NULL);
    mg_jsonl_free(&j);
    mg_jsonl_free(&j); // idempotent
}

static void test_errors(void) {
    mg_jsonl j;
    mg_error err = {0};
    CHECK(mg_jsonl_load(MG_SOURCE_DIR "/tests/bad/jsonl/bad_line.jsonl", &j, &err) == MG_ERR_INVALID);
    CHECK_MSG(strstr(err.msg, "bad_line.jsonl:3: invalid JSON") != NULL, "%s", err.msg);
    CHECK(mg_jsonl_load(EV "empty.jsonl", &j, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "empty file") != NULL);
    CHECK(mg_jsonl_load(EV "missing.jsonl", &j, &err) == MG_ERR_NOT_FOUND);
    CHECK(mg_jsonl_load(MG_TEST_DATA "/eval", &j, &err) == MG_ERR_INVALID);
    char *p = write_tmp("arr.jsonl", "{\"a\": 1}\n[1, 2]\n");
    CHECK(mg_jsonl_load(p, &j, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "arr.jsonl:2: expected a JSON object") != NULL);
    free(p);
    p = write_tmp("dup.jsonl", "{\"a\": 1, \"a\": 2}\n");
    CHECK(mg_jsonl_load(p, &j, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "dup.jsonl:1:") != NULL);
    free(p);
    p = write_tmp("blank.jsonl", "\n  \n");
    CHECK(mg_jsonl_load(p, &j, &err) == MG_ERR_INVALID);
    free(p);
}

static void test_tail_and_append(void) {
    mg_jsonl j;
    mg_error err = {0};
    char *p = write_tmp("audit.jsonl", "{\"i\": 0}\n{\"i\": 1}\n{\"i\": 2, \"cut");
    CHECK_OK(mg_jsonl_load_tail(p, &j, &err), &err);
    CHECK_EQ_INT(j.n, 2); // the interrupted last record is dropped
    mg_jsonl_free(&j);
    CHECK(mg_jsonl_load(p, &j, &err) == MG_ERR_INVALID); // strict mode refuses it
    char *q = mg_path_join(tmpdir, "none.jsonl");
    CHECK_OK(mg_jsonl_load_tail(q, &j, &err), &err);
    CHECK_EQ_INT(j.n, 0);
    mg_jsonl_free(&j);
    FILE *f = fopen(q, "a");
    json_t *v = json_pack("{s:i, s:s}", "i", 7, "s", "caf\xc3\xa9\n");
    CHECK_OK(mg_jsonl_append(f, v, true, q, &err), &err);
    CHECK_OK(mg_jsonl_append(f, v, false, q, &err), &err);
    json_decref(v);
    fclose(f);
    CHECK_OK(mg_jsonl_load(q, &j, &err), &err);
    CHECK_EQ_INT(j.n, 2);
    const char *s = NULL;
    CHECK_OK(mg_jsonl_str(&j, 1, "s", true, &s, &err), &err);
    CHECK_EQ_STR(s, "caf\xc3\xa9\n");
    mg_jsonl_free(&j);
    free(p);
    free(q);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mg_test_jsonl_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_load);
    RUN(test_errors);
    RUN(test_tail_and_append);
    mg_remove_tree(tmpdir, NULL);
    return TEST_END();
}
