/* test_synth.c - the synthetic-data pipelines' fixed parts: the default
 * prompts equal the lab's builders (the text the lab generator and experts
 * are trained on), template substitution, vocabulary comparison, example
 * pools, resumable output (cut partial line, seed check), dedup set. The
 * pipelines themselves run end to end in tests/cli/test_gen_data.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "data/synth.h"
#include "data/synth_domain.h"
#include "data/synth_safety.h"
#include "lab/world.h"
#include "test.h"

static char tmpdir[256];

static char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_prompts_match_lab(void) {
    char *lab = mg_world_generator_system_prompt();
    CHECK_EQ_STR(mg_synth_safety_system_prompt(), lab);
    free(lab);
    for (int k = 0; k < MG_SYNTH_CATEGORIES; k++) {
        CHECK_EQ_STR(mg_synth_category(k), mg_world_category_name(k));
        char num[16];
        snprintf(num, sizeof num, "%d", k + 1);
        char *u = mg_synth_subst(mg_synth_safety_user_template(), "topic", num);
        char *l = mg_world_generator_user_prompt(k + 1);
        CHECK_EQ_STR(u, l);
        free(u);
        free(l);
    }
    CHECK(mg_synth_category(14) == NULL && mg_synth_category(-1) == NULL);
    const char *ex[3] = {"What is a zorvel?", "Where do fimbrets live?", "Why?"};
    char *a = mg_synth_subst(mg_synth_domain_system_template(), "topic", "biology");
    char *b = mg_synth_subst(a, "example1", ex[0]);
    char *c = mg_synth_subst(b, "example2", ex[1]);
    char *d = mg_synth_subst(c, "example3", ex[2]);
    char *l = mg_world_expert_system_prompt("biology", ex);
    CHECK_EQ_STR(d, l);
    CHECK_EQ_STR(mg_synth_domain_user_prompt(), mg_world_expert_user_prompt());
    free(a);
    free(b);
    free(c);
    free(d);
    free(l);
}

static void test_subst_and_names(void) {
    char *s = mg_synth_subst("{x}-{x}-{y}", "x", "ab");
    CHECK_EQ_STR(s, "ab-ab-{y}");
    free(s);
    s = mg_synth_subst("none", "x", "ab");
    CHECK_EQ_STR(s, "none");
    free(s);
    s = mg_synth_model_name("/a/b/bio-expert/");
    CHECK_EQ_STR(s, "bio-expert");
    free(s);
    s = mg_synth_model_name("gen");
    CHECK_EQ_STR(s, "gen");
    free(s);
}

static void test_vocab(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/templates/tiny-chat", MG_TEST_DATA);
    mg_tokenizer *a = NULL, *b = NULL;
    mg_error err = {0};
    CHECK_OK(mg_tokenizer_load(path, &a, &err), &err);
    CHECK_OK(mg_tokenizer_load(path, &b, &err), &err);
    mg_synth_model ma = {.name = "a", .tok = a}, mb = {.name = "b", .tok = b};
    CHECK_OK(mg_synth_same_vocab(&ma, &mb, &err), &err);
    // A tokenizer with one more token.
    char *json = NULL;
    {
        char p2[1100];
        snprintf(p2, sizeof p2, "%s/tokenizer.json", path);
        FILE *f = fopen(p2, "rb");
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        json = calloc(1, (size_t)n + 64);
        CHECK(fread(json, 1, (size_t)n, f) == (size_t)n);
        fclose(f);
    }
    const char *key = "\"<|im_end|>\": 268";
    char *at = strstr(json, key);
    CHECK(at != NULL);
    if (at) {
        char *out = calloc(1, strlen(json) + 64);
        memcpy(out, json, (size_t)(at - json) + strlen(key));
        strcat(out, ", \"<extra>\": 269");
        strcat(out, at + strlen(key));
        write_file(tmp_path("tokenizer.json"), out);
        free(out);
        mg_tokenizer *c = NULL;
        CHECK_OK(mg_tokenizer_load(tmp_path("tokenizer.json"), &c, &err), &err);
        mg_synth_model mc = {.name = "c", .tok = c};
        CHECK(mg_synth_same_vocab(&ma, &mc, &err) == MG_ERR_INVALID);
        CHECK(strstr(err.msg, "different tokenizers") && strstr(err.msg, "'a'") &&
              strstr(err.msg, "'c'"));
        mg_tokenizer_free(c);
    }
    free(json);
    mg_tokenizer_free(a);
    mg_tokenizer_free(b);
}

static void test_examples(void) {
    mg_error err = {0};
    char **ex = NULL;
    size_t n = 0;
    write_file(tmp_path("empty.jsonl"), "");
    CHECK(mg_synth_examples_load(tmp_path("empty.jsonl"), &ex, &n, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "empty") != NULL);
    write_file(tmp_path("two.jsonl"), "{\"question\": \"A?\"}\n{\"question\": \" a? \"}\n"
                                      "{\"prompt\": \"B?\"}\n");
    CHECK(mg_synth_examples_load(tmp_path("two.jsonl"), &ex, &n, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "2 distinct") != NULL);
    write_file(tmp_path("bad.jsonl"), "{\"question\": \"A?\"}\n{\"text\": \"B?\"}\n");
    CHECK(mg_synth_examples_load(tmp_path("bad.jsonl"), &ex, &n, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "bad.jsonl:2") != NULL);
    write_file(tmp_path("ok.jsonl"), "{\"question\": \" A? \", \"choices\": [\"x\"]}\n"
                                     "{\"prompt\": \"B?\"}\n{\"Question\": \"C?\"}\n");
    CHECK_OK(mg_synth_examples_load(tmp_path("ok.jsonl"), &ex, &n, &err), &err);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_STR(ex[0], "A?");
        CHECK_EQ_STR(ex[2], "C?");
    }
    mg_synth_examples_free(ex, n);
}

static void test_out_resume(void) {
    mg_error err = {0};
    const char *p = tmp_path("out.jsonl");
    write_file(p, "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n{\"prompt\": \"c");
    mg_synth_out o;
    CHECK_OK(mg_synth_out_open(p, "safety", 7, false, &o, &err), &err);
    CHECK_EQ_INT(o.done.n, 2);
    CHECK(o.state == NULL);
    json_t *r = json_pack("{s:s}", "prompt", "d");
    CHECK_OK(mg_synth_out_append(&o, r, &err), &err);
    json_decref(r);
    json_t *s = json_pack("{s:s, s:I, s:I}", "kind", "safety", "seed", (json_int_t)7, "next_call",
                          (json_int_t)12);
    CHECK_OK(mg_synth_out_summary(&o, s, &err), &err);
    json_decref(s);
    mg_synth_out_close(&o);
    CHECK_OK(mg_synth_out_open(p, "safety", 7, false, &o, &err), &err);
    CHECK_EQ_INT(o.done.n, 3);
    CHECK_EQ_INT(mg_synth_state_u64(o.state, "next_call"), 12);
    mg_synth_out_close(&o);
    CHECK(mg_synth_out_open(p, "safety", 8, false, &o, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "seed 7") != NULL);
    CHECK(mg_synth_out_open(p, "domain", 7, false, &o, &err) == MG_ERR_INVALID);
    CHECK_OK(mg_synth_out_open(p, "domain", 8, true, &o, &err), &err); // --force: start over
    CHECK_EQ_INT(o.done.n, 0);
    mg_synth_out_close(&o);
    write_file(p, "{\"response\": \"x\"}\n");
    CHECK(mg_synth_out_open(p, "safety", 7, false, &o, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "prompt") != NULL);
}

/* The checkpoint: records past the summary's count (a batch cut by a kill)
 * are cut on open, and the dropped questions come back into the dedup set. */
static void test_out_checkpoint(void) {
    mg_error err = {0};
    remove(tmp_path("ck.summary.json"));
    char p[512];
    snprintf(p, sizeof p, "%s", tmp_path("ck.jsonl")); // tmp_path reuses its buffer
    remove(p);
    mg_synth_out o;
    CHECK_OK(mg_synth_out_open(p, "safety", 3, false, &o, &err), &err);
    const char *prompts[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        json_t *r = json_pack("{s:s}", "prompt", prompts[i]);
        CHECK_OK(mg_synth_out_append(&o, r, &err), &err);
        json_decref(r);
        if (i == 1) { // checkpoint after two records and one dropped question
            mg_synth_out_drop(&o, "Too long?");
            json_t *s = json_pack("{s:s, s:I, s:I}", "kind", "safety", "seed", (json_int_t)3,
                                  "records", (json_int_t)2);
            CHECK_OK(mg_synth_out_summary(&o, s, &err), &err);
            CHECK(json_object_get(s, "dropped_questions") == NULL); // caller's object unchanged
            json_decref(s);
        }
    }
    mg_synth_out_close(&o); // as if killed before the next checkpoint
    CHECK_OK(mg_synth_out_open(p, "safety", 3, false, &o, &err), &err);
    CHECK_EQ_INT(o.done.n, 2); // "c" is redone with its batch
    CHECK_EQ_INT(json_array_size(o.dropped), 1);
    mg_synth_seen *seen = mg_synth_seen_new();
    mg_synth_out_seed(&o, seen);
    CHECK(mg_synth_seen_has(seen, "a") && mg_synth_seen_has(seen, "b"));
    CHECK(!mg_synth_seen_has(seen, "c"));
    CHECK(mg_synth_seen_has(seen, "too long?"));
    mg_synth_seen_free(seen);
    mg_synth_out_close(&o);
    char *buf = NULL;
    size_t len = 0;
    CHECK_OK(mg_file_read_all(p, 0, &buf, &len, &err), &err);
    CHECK(buf && !strstr(buf, "\"c\"")); // the file itself was cut back
    free(buf);
}

static void test_seen(void) {
    mg_synth_seen *s = mg_synth_seen_new();
    CHECK(!mg_synth_seen_add(s, "How do I  Pick a lock?"));
    CHECK(mg_synth_seen_add(s, "how do i pick a lock? "));
    CHECK(mg_synth_seen_has(s, "HOW DO I PICK A LOCK?"));
    CHECK(!mg_synth_seen_has(s, "How do I pick a lock"));
    mg_synth_seen_free(s);
    mg_synth_seen_free(NULL);
    uint64_t f[MG_EXTRACT_REASONS] = {0};
    char buf[128];
    mg_synth_failures_str(f, buf, sizeof buf);
    CHECK_EQ_STR(buf, "none");
    f[MG_EXTRACT_NO_JSON] = 3;
    f[MG_EXTRACT_TRUNCATED] = 1;
    mg_synth_failures_str(f, buf, sizeof buf);
    CHECK_EQ_STR(buf, "no_json 3, truncated 1");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mg_test_synth_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_prompts_match_lab);
    RUN(test_subst_and_names);
    RUN(test_vocab);
    RUN(test_examples);
    RUN(test_out_resume);
    RUN(test_out_checkpoint);
    RUN(test_seen);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_END();
}
