/* test_gguf_export.c - HF -> GGUF export of every golden fixture in every
 * --outtype, read back through the project's reader: metadata key names and
 * exact types (inference.md A2 table), tensor names, shapes and storage types,
 * and every element against the HF tensor (after undoing the Q/K permutation;
 * Q8_0 within its quantization error); the tokenizer metadata of a byte-level
 * BPE and a SentencePiece-style tokenizer written by the test; and bad input
 * (unsupported architecture, Unigram tokenizer, extra tensor, existing output)
 * failing cleanly with no file left behind. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "base/json.h"
#include "io/gguf_export.h"
#include "io/gguf_reader.h"
#include "io/gguf_vocab.h"
#include "io/model_dir.h"
#include "gguf_check.h"
#include "test.h"

static char tmpdir[256];
static const char *FIXTURES[] = {"tiny-llama", "tiny-llama3", "tiny-qwen2", "tiny-qwen3"};

static char *tpath(const char *name) {
    return mg_path_join(tmpdir, name);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static bool dir_has_tmp(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    bool found = false;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) found = true;
    closedir(d);
    return found;
}

/* Checks key exists with exactly type t. */
static void expect_type(const mg_gguf_file *f, const char *key, uint32_t t) {
    const mg_gguf_kv *kv = mg_gguf_find_kv(f, key);
    CHECK_MSG(kv != NULL, "key %s missing", key);
    if (kv)
        CHECK_MSG(kv->type == t, "key %s has type %s, expected %s", key,
                  mg_gguf_vtype_name(kv->type), mg_gguf_vtype_name(t));
}

static uint32_t get_u32(const mg_gguf_file *f, const char *key) {
    uint32_t v = 0;
    mg_error err = {0};
    CHECK_OK(mg_gguf_get_u32(f, key, &v, &err), &err);
    return v;
}

static void test_fixtures_roundtrip(void) {
    for (size_t fi = 0; fi < 4; fi++)
        for (int o = 0; o < 4; o++) {
            char in[512], name[128];
            snprintf(in, sizeof in, "%s/golden/%s", MG_TEST_DATA, FIXTURES[fi]);
            snprintf(name, sizeof name, "%s-%s.gguf", FIXTURES[fi], mg_gguf_outtype_name(o));
            char *out = tpath(name);
            mg_error err = {0};
            mg_gguf_export_opts opts = {(mg_gguf_outtype)o, false, NULL};
            mg_gguf_export_info info;
            CHECK_OK(mg_gguf_export(in, out, &opts, &info, &err), &err);
            mg_model *m = NULL;
            mg_gguf_file *f = NULL;
            CHECK_OK(mg_model_open(in, &m, &err), &err);
            CHECK_OK(mg_gguf_open(out, &f, &err), &err);
            if (m && f) {
                const char *arch = mg_gguf_arch_for(mg_model_config_of(m));
                CHECK_EQ_STR(info.arch, arch);
                CHECK_EQ_INT(info.file_bytes, mg_gguf_file_size(f));
                mg_gguf_str s;
                CHECK_OK(mg_gguf_get_str(f, "general.name", &s, &err), &err);
                CHECK(mg_gguf_str_eq(s, FIXTURES[fi]));
                CHECK_OK(mg_gguf_get_str(f, "tokenizer.ggml.model", &s, &err), &err);
                CHECK(mg_gguf_str_eq(s, "none"));
                // Keys, types and every element: the independent checker
                // that test_gguf_fixtures.c also runs on every model folder.
                gguf_check_stats st = {0};
                gc_check_metadata(f, m, arch, (mg_gguf_outtype)o, FIXTURES[fi],
                                  mg_model_config_of(m)->vocab_size, &st);
                gc_check_tensors(f, m, arch, (mg_gguf_outtype)o, &st);
                CHECK(st.tensors == mg_gguf_tensor_count(f) && st.elements > 0);
                // llama3 rope scaling only in tiny-llama3; tied models have no output.weight.
                CHECK((mg_gguf_find_tensor(f, "rope_freqs.weight") != NULL) == (fi == 1));
                CHECK((mg_gguf_find_tensor(f, "output.weight") != NULL) == (fi == 0 || fi == 3));
            }
            mg_gguf_close(f);
            mg_model_close(m);
            free(out);
        }
}

/* ---- tokenizers ---- */

static const char *BPE_JSON =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":10,\"content\":\"<|endoftext|>\",\"special\":true},"
    "{\"id\":11,\"content\":\"<|im_start|>\",\"special\":true},"
    "{\"id\":12,\"content\":\"<|im_end|>\",\"special\":true},"
    "{\"id\":13,\"content\":\"<tool>\",\"special\":false}],"
    "\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
    "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}"
    "\\\\p{N}]?\\\\p{L}+|\\\\p{N}| "
    "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+"
    "(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}"
    "]},"
    "\"post_processor\":{\"type\":\"ByteLevel\"},\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"byte_fallback\":false,\"vocab\":{"
    "\"h\":0,\"e\":1,\"l\":2,\"o\":3,\"\\u0120\":4,\"he\":5,\"ll\":6,\"hell\":7,\"hello\":8,"
    "\"\\u0120hello\":9},"
    "\"merges\":[[\"h\",\"e\"],[\"l\",\"l\"],[\"he\",\"ll\"],[\"hell\",\"o\"],"
    "[\"\\u0120\",\"hello\"],[\"a b\",\"c\"]]}}";

static const char *BPE_CFG =
    "{\"eos_token\":\"<|im_end|>\",\"pad_token\":\"<|endoftext|>\",\"bos_token\":null,"
    "\"add_bos_token\":false,\"chat_template\":\"{% for m in messages %}<|im_start|>{{ m.role "
    "}}\\n{{ m.content }}<|im_end|>\\n{% endfor %}\"}";

static void test_tokenizer_bpe(void) {
    char *dir = gc_fixture_variant(tmpdir, "qwen-tok", "tiny-qwen2", NULL);
    char *p = mg_path_join(dir, "tokenizer.json");
    write_text(p, BPE_JSON);
    free(p);
    p = mg_path_join(dir, "tokenizer_config.json");
    write_text(p, BPE_CFG);
    free(p);
    char *out = tpath("qwen-tok.gguf");
    mg_error err = {0};
    mg_gguf_export_opts o = {MG_GGUF_OUT_Q8_0, false, "my-merge"};
    CHECK_OK(mg_gguf_export(dir, out, &o, NULL, &err), &err);
    mg_gguf_file *f = NULL;
    CHECK_OK(mg_gguf_open(out, &f, &err), &err);
    if (f) {
        mg_gguf_str s;
        CHECK_OK(mg_gguf_get_str(f, "general.name", &s, &err), &err);
        CHECK(mg_gguf_str_eq(s, "my-merge"));
        CHECK_OK(mg_gguf_get_str(f, "tokenizer.ggml.model", &s, &err), &err);
        CHECK(mg_gguf_str_eq(s, "gpt2"));
        CHECK_OK(mg_gguf_get_str(f, "tokenizer.ggml.pre", &s, &err), &err);
        CHECK(mg_gguf_str_eq(s, "qwen2"));
        const mg_gguf_kv *tok, *ty, *mg;
        CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.tokens", MG_GGUF_STRING, &tok, &err), &err);
        CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.token_type", MG_GGUF_INT32, &ty, &err), &err);
        CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.merges", MG_GGUF_STRING, &mg, &err), &err);
        if (tok && ty && mg) {
            CHECK_EQ_INT(tok->n, 512); // padded to the embedding's rows
            CHECK_EQ_INT(ty->n, 512);
            CHECK(mg_gguf_str_eq(tok->strs[4], "\xc4\xa0"));
            CHECK(mg_gguf_str_eq(tok->strs[9], "\xc4\xa0hello"));
            CHECK(mg_gguf_str_eq(tok->strs[12], "<|im_end|>"));
            CHECK(mg_gguf_str_eq(tok->strs[100], "[PAD100]"));
            CHECK_EQ_INT(mg_gguf_arr_i32(ty, 0), MG_TOKTYPE_NORMAL);
            CHECK_EQ_INT(mg_gguf_arr_i32(ty, 10), MG_TOKTYPE_CONTROL);
            CHECK_EQ_INT(mg_gguf_arr_i32(ty, 13), MG_TOKTYPE_USER_DEFINED);
            CHECK_EQ_INT(mg_gguf_arr_i32(ty, 100), MG_TOKTYPE_UNUSED);
            CHECK_EQ_INT(mg->n, 6);
            CHECK(mg_gguf_str_eq(mg->strs[0], "h e"));
            CHECK(mg_gguf_str_eq(mg->strs[4], "\xc4\xa0 hello"));
            CHECK(mg_gguf_str_eq(mg->strs[5], "a\xc4\xa0"
                                              "b c")); // space in a piece -> U+0120
        }
        CHECK_EQ_INT(get_u32(f, "tokenizer.ggml.eos_token_id"), 12);
        CHECK_EQ_INT(get_u32(f, "tokenizer.ggml.padding_token_id"), 10);
        CHECK_EQ_INT(get_u32(f, "tokenizer.ggml.eot_token_id"), 12);
        // bos_token is null in tokenizer_config: config.json's bos_token_id 1.
        CHECK_EQ_INT(get_u32(f, "tokenizer.ggml.bos_token_id"), 1);
        expect_type(f, "tokenizer.ggml.add_bos_token", MG_GGUF_BOOL);
        bool b = true;
        CHECK_OK(mg_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b, &err), &err);
        CHECK(!b);
        CHECK_OK(mg_gguf_get_str(f, "tokenizer.chat_template", &s, &err), &err);
        CHECK(s.len > 20 && !memcmp(s.s, "{% for m in messages %}<|im_start|>", 35));
    }
    mg_gguf_close(f);
    free(out);
    free(dir);
}

/* SentencePiece-style BPE with byte fallback (Llama 2 / Mistral layout). */
static void test_tokenizer_spm(void) {
    char *dir = gc_fixture_variant(tmpdir, "llama-spm", "tiny-llama", NULL);
    // vocab: <unk> <s> </s>, <0x00>..<0xFF> (3..258), then pieces.
    char *js = mg_malloc(1 << 16), *q = js;
    q += sprintf(q, "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
                    "{\"id\":1,\"content\":\"<s>\",\"special\":true},"
                    "{\"id\":2,\"content\":\"</s>\",\"special\":true}],"
                    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\","
                    "\"prepend\":\"\\u2581\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
                    "\"content\":\"\\u2581\"}]},\"pre_tokenizer\":null,"
                    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
                    "{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
                    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]},"
                    "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[]},"
                    "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\","
                    "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2");
    for (int b = 0; b < 256; b++)
        q += sprintf(q, ",\"<0x%02X>\":%d", b, 3 + b);
    q += sprintf(q, ",\"\\u2581\":259,\"t\":260,\"h\":261,\"e\":262,\"\\u2581t\":263,\"he\":264,"
                    "\"\\u2581the\":265},\"merges\":[\"\\u2581 t\",\"h e\",\"\\u2581t he\"]}}");
    char *p = mg_path_join(dir, "tokenizer.json");
    write_text(p, js);
    free(p);
    free(js);
    char *out = tpath("llama-spm.gguf");
    mg_error err = {0};
    mg_gguf_export_opts o = {MG_GGUF_OUT_F16, false, NULL};
    CHECK_OK(mg_gguf_export(dir, out, &o, NULL, &err), &err);
    mg_gguf_file *f = NULL;
    CHECK_OK(mg_gguf_open(out, &f, &err), &err);
    if (f) {
        mg_gguf_str s;
        CHECK_OK(mg_gguf_get_str(f, "tokenizer.ggml.model", &s, &err), &err);
        CHECK(mg_gguf_str_eq(s, "llama"));
        CHECK_OK(mg_gguf_get_str(f, "tokenizer.ggml.pre", &s, &err), &err);
        CHECK(mg_gguf_str_eq(s, "default"));
        const mg_gguf_kv *ty = NULL, *sc = NULL, *tok = NULL;
        CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.token_type", MG_GGUF_INT32, &ty, &err), &err);
        CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.scores", MG_GGUF_FLOAT32, &sc, &err), &err);
        CHECK_OK(mg_gguf_get_arr(f, "tokenizer.ggml.tokens", MG_GGUF_STRING, &tok, &err), &err);
        if (ty && sc && tok) {
            CHECK_EQ_INT(mg_gguf_arr_i32(ty, 0), MG_TOKTYPE_UNKNOWN);
            CHECK_EQ_INT(mg_gguf_arr_i32(ty, 1), MG_TOKTYPE_CONTROL);
            CHECK_EQ_INT(mg_gguf_arr_i32(ty, 3 + 0x41), MG_TOKTYPE_BYTE);
            CHECK(mg_gguf_str_eq(tok->strs[3 + 0x41], "<0x41>"));
            CHECK_EQ_INT(mg_gguf_arr_i32(ty, 263), MG_TOKTYPE_NORMAL);
            // Merge rank order: "▁t" (rank 0) > "he" (1) > "▁the" (2) > plain pieces.
            CHECK(mg_gguf_arr_f32(sc, 263) == 0.0f);
            CHECK(mg_gguf_arr_f32(sc, 264) == -1.0f);
            CHECK(mg_gguf_arr_f32(sc, 265) == -2.0f);
            CHECK(mg_gguf_arr_f32(sc, 260) < -2.0f);
        }
        CHECK_EQ_INT(get_u32(f, "tokenizer.ggml.bos_token_id"), 1);
        CHECK_EQ_INT(get_u32(f, "tokenizer.ggml.eos_token_id"), 2);
        CHECK_EQ_INT(get_u32(f, "tokenizer.ggml.unknown_token_id"), 0);
        bool b = false;
        CHECK_OK(mg_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b, &err), &err);
        CHECK(b); // from the TemplateProcessing post-processor
        CHECK_OK(mg_gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &b, &err), &err);
        CHECK(!b);
        CHECK(mg_gguf_find_kv(f, "tokenizer.chat_template") == NULL);
    }
    mg_gguf_close(f);
    free(out);
    free(dir);
}

/* ---- bad input ---- */

static void expect_fail(const char *dir, const char *outname, bool force, mg_status want,
                        const char *needle) {
    char *out = tpath(outname);
    mg_error err = {0};
    mg_gguf_export_opts o = {MG_GGUF_OUT_F16, force, NULL};
    mg_status st = mg_gguf_export(dir, out, &o, NULL, &err);
    CHECK_MSG(st == want, "%s: status %d, expected %d (%s)", outname, st, want, err.msg);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "'%s' not in '%s'", needle, err.msg);
    CHECK_EQ_INT(mg_status_exit_code(st), 2);
    CHECK(!dir_has_tmp());
    free(out);
}

static void test_bad_input(void) {
    // Unsupported architecture: no file at all.
    char *d = gc_fixture_variant(tmpdir, "gpt2", "tiny-llama",
                                 "{\"architectures\":[\"GPT2LMHeadModel\"]}");
    expect_fail(d, "gpt2.gguf", false, MG_ERR_UNSUPPORTED, "GPT2LMHeadModel");
    char *p = tpath("gpt2.gguf");
    CHECK(!mg_path_exists(p));
    free(p);
    free(d);
    // A tokenizer model GGUF's gpt2/llama vocab cannot express.
    d = gc_fixture_variant(tmpdir, "unigram", "tiny-llama", NULL);
    p = mg_path_join(d, "tokenizer.json");
    write_text(p, "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0.0]]}}");
    free(p);
    expect_fail(d, "unigram.gguf", false, MG_ERR_UNSUPPORTED, "Unigram");
    p = tpath("unigram.gguf");
    CHECK(!mg_path_exists(p));
    free(p);
    free(d);
    // Unsupported rope scaling.
    d = gc_fixture_variant(tmpdir, "longrope", "tiny-llama",
                           "{\"rope_scaling\":{\"rope_type\":\"longrope\"}}");
    expect_fail(d, "longrope.gguf", false, MG_ERR_UNSUPPORTED, "longrope");
    free(d);
    // Existing output without force: refused, old file untouched; with force replaced.
    char in[512];
    snprintf(in, sizeof in, "%s/golden/tiny-qwen3", MG_TEST_DATA);
    p = tpath("exists.gguf");
    write_text(p, "old");
    expect_fail(in, "exists.gguf", false, MG_ERR_EXISTS, "exists");
    char *buf = NULL;
    size_t n = 0;
    mg_error err = {0};
    CHECK_OK(mg_file_read_all(p, 0, &buf, &n, &err), &err);
    CHECK(n == 3 && !strcmp(buf, "old"));
    free(buf);
    mg_gguf_export_opts o = {MG_GGUF_OUT_BF16, true, NULL};
    CHECK_OK(mg_gguf_export(in, p, &o, NULL, &err), &err);
    mg_gguf_file *f = NULL;
    CHECK_OK(mg_gguf_open(p, &f, &err), &err);
    mg_gguf_close(f);
    free(p);
    CHECK(!dir_has_tmp());
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mg_test_gguf_export_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_fixtures_roundtrip);
    RUN(test_tokenizer_bpe);
    RUN(test_tokenizer_spm);
    RUN(test_bad_input);
    mg_error err = {0};
    mg_remove_tree(tmpdir, &err);
    return TEST_END();
}
