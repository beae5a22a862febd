/* test_tokenizer.c - unit tests of the tokenizer on small hand-written
 * tokenizer.json files (no network): BPE merge order, ignore_merges, byte
 * fallback, added-token flags, every Split behaviour, the other
 * pre-tokenizers, normalizers, decoders, the post-processor, side files
 * (special tokens, stop ids, chat template) and clear errors on bad input. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "test.h"
#include "text/tokenizer.h"

static char tmpdir[256];

/* Writes tmpdir/name. */
static void put(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void clear_side_files(void) {
    const char *names[] = {"tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json", "chat_template.jinja"};
    for (size_t i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
}

/* Loads a tokenizer.json given as text; NULL (and err filled) on failure. */
static mg_tokenizer *load_json(const char *json, mg_error *err) {
    put("tokenizer.json", json);
    mg_tokenizer *t = NULL;
    mg_tokenizer_load(tmpdir, &t, err);
    return t;
}

/* Encodes and renders the pieces joined by '|'. */
static const char *pieces(const mg_tokenizer *t, const char *text, bool special) {
    static char buf[1024];
    int32_t *ids;
    size_t n;
    mg_error err;
    buf[0] = '\0';
    if (mg_tokenizer_encode(t, text, strlen(text), special, &ids, &n, &err) != MG_OK) return "ERR";
    for (size_t i = 0; i < n; i++) {
        const char *p = mg_tokenizer_id_to_piece(t, ids[i]);
        if (i) strcat(buf, "|");
        strncat(buf, p ? p : "?", sizeof buf - strlen(buf) - 2);
    }
    free(ids);
    return buf;
}

static const char *decoded(const mg_tokenizer *t, const int32_t *ids, size_t n, bool skip) {
    static char buf[1024];
    char *out;
    size_t len;
    mg_error err;
    if (mg_tokenizer_decode(t, ids, n, skip, &out, &len, &err) != MG_OK) return "ERR";
    snprintf(buf, sizeof buf, "%s", out);
    free(out);
    return buf;
}

/* A character-level model: every listed piece is a token, no merges, and
 * ignore_merges so a word that is a token comes out whole (shows splits). */
#define SPLIT_VOCAB                                                                                \
    "\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"-\":3,\"a-\":4,\"b-\":5,\"-b\":6,\"-c\":7,\"--\":8,"     \
    "\"a-b\":9,\"--c\":10,\"b--c\":11}"

static const char *split_with(const char *behavior, bool invert, const char *text) {
    char json[2048];
    snprintf(json, sizeof json,
             "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},"
             "\"behavior\":\"%s\",\"invert\":%s},"
             "\"model\":{\"type\":\"BPE\",\"ignore_merges\":true," SPLIT_VOCAB ",\"merges\":[]}}",
             behavior, invert ? "true" : "false");
    mg_error err;
    mg_tokenizer *t = load_json(json, &err);
    if (!t) {
        fprintf(stderr, "%s\n", err.msg);
        return "LOAD FAILED";
    }
    static char out[1024];
    snprintf(out, sizeof out, "%s", pieces(t, text, true));
    mg_tokenizer_free(t);
    return out;
}

static void test_split_behaviours(void) {
    // Segments of "a-b--c": a, -, b, -, -, c (matches are the dashes).
    CHECK_EQ_STR(split_with("Removed", false, "a-b--c"), "a|b|c");
    CHECK_EQ_STR(split_with("Isolated", false, "a-b--c"), "a|-|b|-|-|c");
    CHECK_EQ_STR(split_with("MergedWithPrevious", false, "a-b--c"), "a-|b-|-|c");
    CHECK_EQ_STR(split_with("MergedWithNext", false, "a-b--c"), "a|-b|-|-c");
    CHECK_EQ_STR(split_with("Contiguous", false, "a-b--c"), "a|-|b|--|c");
    // invert: the letters are the matches, each dash a separate gap.
    CHECK_EQ_STR(split_with("Removed", true, "a-b--c"), "-|-|-");
    CHECK_EQ_STR(split_with("MergedWithPrevious", true, "a-b--c"), "a|-b|-|-c");
    CHECK_EQ_STR(split_with("MergedWithNext", true, "a-b--c"), "a-|b-|-|c");
}

/* Byte-level BPE over bytes 'a' 'b' 'c' ' ' with merges; vocab strings use the
 * GPT-2 alphabet (space is "Ġ"). */
static const char *BL_JSON =
    "{\"added_tokens\":["
    "{\"id\":20,\"content\":\"<|end|>\",\"special\":true,\"normalized\":false},"
    "{\"id\":21,\"content\":\"<L>\",\"special\":false,\"lstrip\":true,\"normalized\":false},"
    "{\"id\":22,\"content\":\"<R>\",\"special\":false,\"rstrip\":true,\"normalized\":false},"
    "{\"id\":23,\"content\":\"cab\",\"special\":false,\"single_word\":true,\"normalized\":false}],"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
    "{\"SpecialToken\":{\"id\":\"<|end|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\"}},"
    "{\"SpecialToken\":{\"id\":\"<|end|>\",\"type_id\":0}}],"
    "\"special_tokens\":{\"<|end|>\":{\"id\":\"<|end|>\",\"ids\":[20]}}},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\xC4\xA0\":3,\"ab\":4,"
    "\"bc\":5,\"abc\":6,\"\xC4\xA0\x61\":7,\"\xC4\xA0\x61\x62\x63\":8,\"<\":9,\">\":10,"
    "\"|\":11,\"e\":12,\"n\":13,\"d\":14},"
    "\"merges\":[\"b c\",\"a b\",\"a bc\",\"\xC4\xA0 a\",[\"\xC4\xA0\x61\",\"bc\"]]}}";

static void test_byte_level_bpe(void) {
    mg_error err;
    mg_tokenizer *t = load_json(BL_JSON, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    // "b c" has the lowest rank: abc = a + bc, not ab + c.
    CHECK_EQ_STR(pieces(t, "abc", false), "abc");
    CHECK_EQ_STR(pieces(t, "ab", false), "ab");
    CHECK_EQ_STR(pieces(t, "cab", false), "cab"); // the single_word added token, alone
    CHECK_EQ_STR(pieces(t, "acab", false), "a|c|ab"); // single_word refuses a match inside a word
    // " abc": b+c (rank 0), then a+bc (rank 2); "Ġ a" (rank 3) no longer applies.
    CHECK_EQ_STR(pieces(t, "a abc", false), "a|\xC4\xA0|abc");
    CHECK_EQ_STR(pieces(t, "abc", true), "<|end|>|abc|<|end|>");
    CHECK_EQ_STR(pieces(t, "a<|end|>b", false), "a|<|end|>|b");
    // lstrip swallows the spaces before <L>, rstrip those after <R>.
    CHECK_EQ_STR(pieces(t, "a  <L>b", false), "a|<L>|b");
    CHECK_EQ_STR(pieces(t, "a<R>  b", false), "a|<R>|b");
    CHECK_EQ_STR(pieces(t, "a <R> b", false), "a|\xC4\xA0|<R>|b");
    // Bytes outside the vocab are dropped (no unk, no byte fallback), and the
    // neighbours still merge, as in Rust's BPE::merge_word.
    CHECK_EQ_STR(pieces(t, "axb", false), "ab");
    int32_t ids[] = {20, 4, 3, 12, 13, 14, 20};
    CHECK_EQ_STR(decoded(t, ids, 7, false), "<|end|>ab end<|end|>");
    CHECK_EQ_STR(decoded(t, ids, 7, true), "ab end");
    CHECK(mg_tokenizer_is_special(t, 20));
    CHECK(!mg_tokenizer_is_special(t, 21));
    CHECK_EQ_INT(mg_tokenizer_vocab_size(t), 24);
    CHECK_EQ_INT(mg_tokenizer_piece_to_id(t, "\xC4\xA0\x61"), 7);
    CHECK_EQ_INT(mg_tokenizer_piece_to_id(t, "<R>"), 22);
    CHECK_EQ_INT(mg_tokenizer_piece_to_id(t, "zzz"), -1);
    CHECK(mg_tokenizer_id_to_piece(t, 15) == NULL); // unused id
    CHECK(mg_tokenizer_id_to_piece(t, 99) == NULL);
    // Out-of-range ids are an error naming the id.
    int32_t bad[] = {1, 500};
    char *out = NULL;
    size_t len;
    CHECK(mg_tokenizer_decode(t, bad, 2, false, &out, &len, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "500") != NULL);
    // Invalid UTF-8 is repaired to U+FFFD (bytes EF BF BD) before encoding:
    // here none of those bytes is in the vocab, so only "a" and "b" remain.
    int32_t *got;
    size_t n;
    CHECK_OK(mg_tokenizer_encode(t, "a\xff\xfe" "b", 4, false, &got, &n, &err), &err);
    CHECK_EQ_INT(n, 2);
    free(got);
    CHECK_OK(mg_tokenizer_encode(t, "", 0, false, &got, &n, &err), &err);
    CHECK_EQ_INT(n, 0);
    free(got);
    // No config files: no special-token metadata, BOS not added.
    CHECK_EQ_INT(mg_tokenizer_bos_id(t), -1);
    CHECK(mg_tokenizer_chat_template(t) == NULL);
    mg_tokenizer_set_chat_template(t, "{{ x }}");
    CHECK_EQ_STR(mg_tokenizer_chat_template(t), "{{ x }}");
    mg_tokenizer_free(t);
}

/* SentencePiece-style BPE: Prepend + Replace normalizer, byte fallback. */
static const char *SP_JSON =
    "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true,\"normalized\":false},"
    "{\"id\":1,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":"
    "\"\xE2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":"
    "\"\xE2\x96\x81\"}]},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":"
    "\"<s>\"}},{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"ids\":[1]}}},"
    "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":"
    "\"\xE2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
    "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":true,\"fuse_unk\":true,"
    "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"<0xC3>\":2,\"<0xA9>\":3,\"\xE2\x96\x81\":4,\"h\":5,"
    "\"i\":6,\"\xE2\x96\x81h\":7,\"\xE2\x96\x81hi\":8},"
    "\"merges\":[\"\xE2\x96\x81 h\",\"\xE2\x96\x81h i\"]}}";

static void test_sentencepiece_bpe(void) {
    mg_error err;
    mg_tokenizer *t = load_json(SP_JSON, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    CHECK_EQ_STR(pieces(t, "hi", true), "<s>|\xE2\x96\x81hi");
    CHECK_EQ_STR(pieces(t, "hi hi", false), "\xE2\x96\x81hi|\xE2\x96\x81hi");
    // é is not a token: its two bytes come out as <0xC3> <0xA9>.
    CHECK_EQ_STR(pieces(t, "h\xC3\xA9", false), "\xE2\x96\x81h|<0xC3>|<0xA9>");
    // x has no byte tokens: unk, and consecutive unks fuse into one.
    CHECK_EQ_STR(pieces(t, "hxxi", false), "\xE2\x96\x81h|<unk>|i");
    // The normalizer runs per stretch between added tokens: "▁" again after <s>.
    CHECK_EQ_STR(pieces(t, "hi<s>hi", false), "\xE2\x96\x81hi|<s>|\xE2\x96\x81hi");
    int32_t ids[] = {1, 8, 4, 5, 2, 3};
    CHECK_EQ_STR(decoded(t, ids, 6, true), "hi h\xC3\xA9");
    // A byte run that is not UTF-8 decodes to one U+FFFD per byte (Rust).
    int32_t bad[] = {8, 3, 3};
    CHECK_EQ_STR(decoded(t, bad, 3, false), "hi\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(mg_tokenizer_add_bos(t));
    mg_tokenizer_free(t);
}

/* Long SentencePiece words are cut before "▁" to use the word cache; a vocab
 * token spanning "x▁" must keep the cut away from there (exactness). */
static void test_sentencepiece_long_words(void) {
    const char *json =
        "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\","
        "\"prepend\":\"\xE2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
        "\"content\":\"\xE2\x96\x81\"}]},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"\xE2\x96\x81\":0,\"x\":1,\"y\":2,"
        "\"x\xE2\x96\x81\":3,\"x\xE2\x96\x81y\":4,\"\xE2\x96\x81y\":5},"
        "\"merges\":[\"x \xE2\x96\x81\",\"x\xE2\x96\x81 y\",\"\xE2\x96\x81 y\"]}}";
    mg_error err;
    mg_tokenizer *t = load_json(json, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t) return;
    char text[256] = "", want[1024] = "";
    for (int i = 0; i < 30; i++) {
        strcat(text, i ? " x y" : "x y");
        strcat(want, i ? "|\xE2\x96\x81|x\xE2\x96\x81y" : "\xE2\x96\x81|x\xE2\x96\x81y");
    }
    CHECK_EQ_STR(pieces(t, text, false), want);
    mg_tokenizer_free(t);
}

static mg_tokenizer *with_pretok(const char *pretok, const char *normalizer) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"normalizer\":%s,\"pre_tokenizer\":%s,\"model\":{\"type\":\"BPE\","
             "\"ignore_merges\":true,\"vocab\":{\"a\":0,\"b\":1,\"1\":2,\"2\":3,\"12\":4,\"!\":5,"
             "\"?\":6,\"!?\":7,\"\xE2\x96\x81\":8,\"\xE2\x96\x81\x61\":9,\"\xE2\x96\x81\x62\":10,"
             "\"ab\":11,\"A\":12,\" \":13,\"fi\":14,\"\xC3\xA9\":15,\"e\":16},\"merges\":[]}}",
             normalizer, pretok);
    mg_error err;
    mg_tokenizer *t = load_json(json, &err);
    if (!t) fprintf(stderr, "%s\n", err.msg);
    return t;
}

static void test_other_pretokenizers(void) {
    mg_tokenizer *t = with_pretok("{\"type\":\"Digits\",\"individual_digits\":true}", "null");
    if (t) CHECK_EQ_STR(pieces(t, "ab12", false), "ab|1|2");
    mg_tokenizer_free(t);
    t = with_pretok("{\"type\":\"Digits\",\"individual_digits\":false}", "null");
    if (t) CHECK_EQ_STR(pieces(t, "ab12", false), "ab|12");
    mg_tokenizer_free(t);
    t = with_pretok("{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"}", "null");
    if (t) CHECK_EQ_STR(pieces(t, "ab!?a", false), "ab|!?|a");
    mg_tokenizer_free(t);
    t = with_pretok("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
                    "{\"type\":\"Punctuation\"}]}",
                    "null");
    if (t) CHECK_EQ_STR(pieces(t, " ab  !?a ", false), "ab|!|?|a");
    mg_tokenizer_free(t);
    // Metaspace: spaces become ▁, a ▁ is prepended, split before each ▁.
    t = with_pretok("{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\","
                    "\"prepend_scheme\":\"always\",\"split\":true}",
                    "null");
    if (t) CHECK_EQ_STR(pieces(t, "a b", false), "\xE2\x96\x81\x61|\xE2\x96\x81\x62");
    mg_tokenizer_free(t);
    t = with_pretok("{\"type\":\"Metaspace\",\"prepend_scheme\":\"never\",\"split\":false}", "null");
    if (t) CHECK_EQ_STR(pieces(t, "a b", false), "a|\xE2\x96\x81|b");
    mg_tokenizer_free(t);
    // Regex split with a Unicode class, through PCRE2.
    t = with_pretok("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}+\"},"
                    "\"behavior\":\"Isolated\",\"invert\":false}",
                    "null");
    if (t) CHECK_EQ_STR(pieces(t, "ab12ab", false), "ab|12|ab");
    mg_tokenizer_free(t);
}

static void test_normalizers(void) {
    mg_tokenizer *t = with_pretok("null", "{\"type\":\"Lowercase\"}");
    if (t) CHECK_EQ_STR(pieces(t, "AB", false), "ab");
    mg_tokenizer_free(t);
    t = with_pretok("null", "{\"type\":\"NFKC\"}"); // the ligature U+FB01 becomes "fi"
    if (t) CHECK_EQ_STR(pieces(t, "\xEF\xAC\x81", false), "fi");
    mg_tokenizer_free(t);
    t = with_pretok("null", "{\"type\":\"NFC\"}"); // e + U+0301 composes to é
    if (t) CHECK_EQ_STR(pieces(t, "e\xCC\x81", false), "\xC3\xA9");
    mg_tokenizer_free(t);
    t = with_pretok("null", "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},"
                            "{\"type\":\"StripAccents\"}]}");
    if (t) CHECK_EQ_STR(pieces(t, "\xC3\xA9", false), "e");
    mg_tokenizer_free(t);
    t = with_pretok("null", "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}");
    if (t) CHECK_EQ_STR(pieces(t, " \t ab \n", false), "ab");
    mg_tokenizer_free(t);
    t = with_pretok("null", "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"[0-9]+\"},"
                            "\"content\":\"!\"}");
    if (t) CHECK_EQ_STR(pieces(t, "a12b", false), "a|!|b");
    mg_tokenizer_free(t);
}

static void test_side_files(void) {
    mg_error err;
    put("tokenizer_config.json",
        "{\"bos_token\":{\"__type\":\"AddedToken\",\"content\":\"<s>\"},\"eos_token\":\"<unk>\","
        "\"model_max_length\":1000000000000000019884624838656,\"add_bos_token\":true,"
        "\"chat_template\":[{\"name\":\"tool_use\",\"template\":\"T\"},"
        "{\"name\":\"default\",\"template\":\"D\"}]}");
    put("generation_config.json", "{\"eos_token_id\":[0,8],\"pad_token_id\":5}");
    mg_tokenizer *t = load_json(SP_JSON, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK_EQ_INT(mg_tokenizer_bos_id(t), 1);
        CHECK_EQ_STR(mg_tokenizer_bos_token(t), "<s>");
        CHECK_EQ_INT(mg_tokenizer_eos_id(t), 0);
        CHECK_EQ_INT(mg_tokenizer_pad_id(t), 5);
        size_t n;
        const int32_t *stop = mg_tokenizer_stop_ids(t, &n);
        CHECK_EQ_INT(n, 2);
        if (n == 2) CHECK(stop[0] == 0 && stop[1] == 8);
        CHECK_EQ_STR(mg_tokenizer_chat_template(t), "D");
        mg_tokenizer_free(t);
    }
    put("chat_template.jinja", "{{ messages }}");
    t = load_json(SP_JSON, &err);
    if (t) CHECK_EQ_STR(mg_tokenizer_chat_template(t), "{{ messages }}");
    mg_tokenizer_free(t);
    put("special_tokens_map.json", "{\"eos_token\": ");
    t = load_json(SP_JSON, &err);
    CHECK(t == NULL);
    CHECK(strstr(err.msg, "special_tokens_map.json") != NULL);
    mg_tokenizer_free(t);
    clear_side_files();
}

static void expect_error(const char *json, mg_status status, const char *needle) {
    mg_error err = {0};
    mg_tokenizer *t = load_json(json, &err);
    CHECK(t == NULL);
    CHECK_EQ_INT(err.status, status);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    mg_tokenizer_free(t);
}

static void test_bad_input(void) {
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {", MG_ERR_INVALID, "invalid JSON");
    expect_error("[1, 2]", MG_ERR_INVALID, "expected a JSON object");
    expect_error("{\"model\":{\"type\":\"Mystery\",\"vocab\":{}}}", MG_ERR_UNSUPPORTED, "Mystery");
    expect_error("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", MG_ERR_UNSUPPORTED,
                 "Unigram");
    expect_error("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", MG_ERR_UNSUPPORTED,
                 "WordPiece");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}",
                 MG_ERR_INVALID, "merges[0]");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}}",
                 MG_ERR_INVALID, "model.vocab");
    expect_error("{\"normalizer\":{\"type\":\"Precompiled\"},\"model\":{\"type\":\"BPE\","
                 "\"vocab\":{},\"merges\":[]}}",
                 MG_ERR_UNSUPPORTED, "Precompiled");
    expect_error("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},"
                 "\"behavior\":\"Isolated\"},\"model\":{\"type\":\"BPE\",\"vocab\":{},"
                 "\"merges\":[]}}",
                 MG_ERR_UNSUPPORTED, "regex");
    expect_error("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"x\"},"
                 "\"behavior\":\"Sideways\"},\"model\":{\"type\":\"BPE\",\"vocab\":{},"
                 "\"merges\":[]}}",
                 MG_ERR_INVALID, "Sideways");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},\"added_tokens\":"
                 "[{\"content\":\"x\"}]}",
                 MG_ERR_INVALID, "added_tokens[0]");
    mg_error err = {0};
    mg_tokenizer *t = NULL;
    CHECK(mg_tokenizer_load("/nonexistent/model", &t, &err) == MG_ERR_NOT_FOUND);
    CHECK(strstr(err.msg, "/nonexistent/model") != NULL);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mg-test-tokenizer-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_split_behaviours);
    RUN(test_byte_level_bpe);
    RUN(test_sentencepiece_bpe);
    RUN(test_sentencepiece_long_words);
    RUN(test_other_pretokenizers);
    RUN(test_normalizers);
    RUN(test_side_files);
    RUN(test_bad_input);
    mg_error err;
    mg_remove_tree(tmpdir, &err);
    return TEST_END();
}
