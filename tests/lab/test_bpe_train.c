/* test_bpe_train.c - byte-level BPE training: merge order and tie-breaking on
 * hand-made corpora, requested vocabulary size, compression, lossless round
 * trips, special tokens, determinism, and the HF files it writes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "lab/bpe_train.h"
#include "lab/world.h"
#include "test.h"

static char g_dir[256];
static const char *const SPECIALS[] = {"<|im_start|>", "<|im_end|>"};

static mg_lab_bpe *train1(const char *text, size_t vocab) {
    mg_lab_bpe *b = NULL;
    mg_error err = {0};
    size_t len = strlen(text);
    CHECK_OK(mg_lab_bpe_train(&text, &len, 1, vocab, SPECIALS, 2, &b, &err), &err);
    return b;
}

static const char *merge_str(json_t *tj, size_t i) {
    return json_string_value(json_array_get(json_object_get(json_object_get(tj, "model"), "merges"), i));
}

static void test_merge_order(void) {
    // Pre-tokens: "ab", " ab" x2, " abc": (a,b) occurs 4 times, (Ġ,a) 3.
    mg_lab_bpe *b = train1("ab ab ab abc", 300);
    json_t *tj = mg_lab_bpe_tokenizer_json(b);
    CHECK_EQ_STR(merge_str(tj, 0), "a b");
    CHECK_EQ_STR(merge_str(tj, 1), "Ġ ab");
    json_decref(tj);
    mg_lab_bpe_free(b);
    // Ties (all count 2) go to the smaller (left id, right id): space (32) first.
    b = train1("ab cd ab cd", 300);
    tj = mg_lab_bpe_tokenizer_json(b);
    CHECK_EQ_STR(merge_str(tj, 0), "Ġ c");
    CHECK_EQ_STR(merge_str(tj, 1), "a b"); // 97 < 256 (Ġc)
    CHECK_EQ_STR(merge_str(tj, 2), "Ġc d");
    // Pairs seen once are not merged: training stops early.
    CHECK_EQ_INT(mg_lab_bpe_n_merges(b), 3);
    CHECK_EQ_INT(mg_lab_bpe_vocab_size(b), 256 + 3 + 2);
    json_decref(tj);
    mg_lab_bpe_free(b);
    // Overlapping pairs ("aaaa") are counted and merged consistently.
    b = train1("aaaa aaaa", 300);
    int32_t *ids;
    size_t n;
    mg_error err = {0};
    CHECK_OK(mg_lab_bpe_encode(b, "aaaa", 4, &ids, &n, &err), &err);
    CHECK_EQ_INT(n, 1);
    free(ids);
    mg_lab_bpe_free(b);
}

static void test_specials_and_errors(void) {
    mg_lab_bpe *b = train1("<|im_start|>user hello<|im_end|> hello hello", 300);
    int32_t *ids;
    size_t n;
    mg_error err = {0};
    const char *t = "<|im_start|>user hello<|im_end|>";
    CHECK_OK(mg_lab_bpe_encode(b, t, strlen(t), &ids, &n, &err), &err);
    size_t base = mg_lab_bpe_vocab_size(b) - 2;
    CHECK(n >= 3 && ids[0] == (int32_t)base && ids[n - 1] == (int32_t)base + 1);
    char *dec;
    size_t dl;
    CHECK_OK(mg_lab_bpe_decode(b, ids, n, &dec, &dl, &err), &err);
    CHECK_EQ_STR(dec, t);
    free(dec);
    free(ids);
    // The special token text never leaks into learned tokens.
    for (size_t i = 256; i + 2 < mg_lab_bpe_vocab_size(b); i++) {
        size_t l;
        const char *s = mg_lab_bpe_token_bytes(b, (int32_t)i, &l);
        CHECK(!memchr(s, '|', l));
    }
    int32_t bad = 99999;
    CHECK_EQ_INT(mg_lab_bpe_decode(b, &bad, 1, &dec, &dl, &err), MG_ERR_INVALID);
    CHECK_EQ_INT(mg_lab_bpe_encode(b, "\xff\xfe", 2, &ids, &n, &err), MG_ERR_INVALID);
    mg_lab_bpe_free(b);
    const char *txt = "abc";
    size_t len = 3;
    CHECK_EQ_INT(mg_lab_bpe_train(&txt, &len, 1, 200, SPECIALS, 2, &b, &err), MG_ERR_USAGE);
    const char *inv = "ok \xc3\x28";
    len = strlen(inv);
    CHECK_EQ_INT(mg_lab_bpe_train(&inv, &len, 1, 400, SPECIALS, 2, &b, &err), MG_ERR_INVALID);
    CHECK_EQ_INT(mg_lab_bpe_train_dir("/nonexistent-dir", 400, &b, &err), MG_ERR_NOT_FOUND);
}

/* Trains on the corpus of a tiny world, as `lab tokenizer` does. */
static void test_world_corpus(void) {
    mg_error err = {0};
    mg_world *w = NULL;
    CHECK_OK(mg_world_new(2, MG_WORLD_TINY, &w, &err), &err);
    char *out = mg_path_join(g_dir, "world");
    CHECK_OK(mg_world_write(w, out, false, &err), &err);
    mg_world_free(w);
    char *corpus = mg_path_join(out, "corpus");
    mg_lab_bpe *b = NULL, *b2 = NULL;
    CHECK_OK(mg_lab_bpe_train_dir(corpus, 2048, &b, &err), &err);
    CHECK_OK(mg_lab_bpe_train_dir(corpus, 2048, &b2, &err), &err);
    if (!b || !b2) return;
    size_t ns;
    mg_world_special_tokens(&ns);
    CHECK_EQ_INT(mg_lab_bpe_vocab_size(b), 2048);
    CHECK(mg_lab_bpe_n_merges(b) >= 2048 - 256 - ns);
    // Determinism: identical tokenizer.json.
    json_t *j1 = mg_lab_bpe_tokenizer_json(b), *j2 = mg_lab_bpe_tokenizer_json(b2);
    char *s1 = json_dumps(j1, JSON_COMPACT | JSON_PRESERVE_ORDER), *s2 = json_dumps(j2, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK(s1 && s2 && !strcmp(s1, s2));
    free(s1);
    free(s2);
    json_decref(j2);
    // The HF document: BPE over the byte-level alphabet, specials after the vocabulary.
    json_t *model = json_object_get(j1, "model");
    CHECK_EQ_STR(json_string_value(json_object_get(model, "type")), "BPE");
    CHECK(json_is_false(json_object_get(model, "byte_fallback")));
    CHECK_EQ_INT(json_object_size(json_object_get(model, "vocab")), 2048 - ns);
    CHECK_EQ_INT(json_array_size(json_object_get(model, "merges")), mg_lab_bpe_n_merges(b));
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(j1, "pre_tokenizer"), "type")), "ByteLevel");
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(j1, "decoder"), "type")), "ByteLevel");
    json_t *vocab = json_object_get(model, "vocab");
    CHECK_EQ_INT(json_integer_value(json_object_get(vocab, "Ġ")), 32); // space
    CHECK_EQ_INT(json_integer_value(json_object_get(vocab, "A")), 65);
    CHECK_EQ_INT(json_integer_value(json_object_get(vocab, "Ċ")), 10); // newline
    json_t *added = json_object_get(j1, "added_tokens");
    CHECK_EQ_INT(json_array_size(added), ns);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(added, 0), "id")), 2048 - ns);
    // Every merge is "a b" of two vocabulary entries.
    json_t *m;
    size_t i;
    json_array_foreach(json_object_get(model, "merges"), i, m) {
        const char *ms = json_string_value(m);
        const char *sp = strchr(ms, ' ');
        CHECK(sp && !strchr(sp + 1, ' '));
        if (!sp) continue;
        char *l = mg_strndup(ms, (size_t)(sp - ms));
        CHECK(json_object_get(vocab, l) && json_object_get(vocab, sp + 1));
        free(l);
        if (i > 50) break;
    }
    json_decref(j1);
    // Compression and lossless round trip on every corpus line.
    const char *files[] = {"general.txt", "bio.txt", "harm.txt", "formats.txt"};
    size_t bytes = 0, tokens = 0, bad = 0;
    for (int f = 0; f < 4; f++) {
        char *p = mg_path_join(corpus, files[f]);
        char *buf = NULL;
        size_t len = 0;
        CHECK_OK(mg_file_read_all(p, 0, &buf, &len, &err), &err);
        int lines = 0;
        for (char *line = buf, *nl; line && *line && lines < 400; line = nl + 1, lines++) {
            nl = strchr(line, '\n');
            if (!nl) break;
            size_t ll = (size_t)(nl - line);
            int32_t *ids;
            size_t n;
            CHECK_OK(mg_lab_bpe_encode(b, line, ll, &ids, &n, &err), &err);
            char *dec;
            size_t dl;
            CHECK_OK(mg_lab_bpe_decode(b, ids, n, &dec, &dl, &err), &err);
            bad += dl != ll || memcmp(dec, line, ll);
            bytes += ll;
            tokens += n;
            free(dec);
            free(ids);
        }
        free(buf);
        free(p);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_MSG(tokens * 3 < bytes, "%zu tokens for %zu bytes", tokens, bytes);
    // Both tokenizer folders are written, with their own templates and eos.
    char *tok = mg_path_join(g_dir, "tok");
    CHECK_OK(mg_lab_bpe_write_lab_tokenizers(b, tok, false, &err), &err);
    CHECK_EQ_INT(mg_lab_bpe_write_lab_tokenizers(b, tok, false, &err), MG_ERR_EXISTS);
    const char *sub[2] = {"chat/tokenizer_config.json", "guard/tokenizer_config.json"};
    const char *eos[2] = {"<|im_end|>", "<|eot_id|>"};
    for (int k = 0; k < 2; k++) {
        char *p = mg_path_join(tok, sub[k]);
        json_t *c = NULL;
        CHECK_OK(mg_json_load_file(p, &c, &err), &err);
        CHECK_EQ_STR(json_string_value(json_object_get(c, "eos_token")), eos[k]);
        CHECK_EQ_STR(json_string_value(json_object_get(c, "bos_token")), "<|begin_of_text|>");
        CHECK_EQ_STR(json_string_value(json_object_get(c, "pad_token")), "<|pad|>");
        const char *tmpl = json_string_value(json_object_get(c, "chat_template"));
        CHECK(tmpl && strstr(tmpl, k ? "<BEGIN UNSAFE CONTENT CATEGORIES>" : "<|im_start|>"));
        json_decref(c);
        free(p);
    }
    char *tj = mg_path_join(tok, "guard/tokenizer.json");
    CHECK(mg_path_is_file(tj));
    free(tj);
    free(tok);
    mg_lab_bpe_free(b);
    mg_lab_bpe_free(b2);
    free(corpus);
    free(out);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/mg_test_bpe_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    RUN(test_merge_order);
    RUN(test_specials_and_errors);
    RUN(test_world_corpus);
    mg_error err = {0};
    mg_remove_tree(g_dir, &err);
    return TEST_END();
}
