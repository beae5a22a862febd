/* tokenize_text.c - fuzz target: arbitrary text encoded with a fixed, real
 * chat tokenizer (tests/data/templates/tiny-chat: byte-level BPE with all 256
 * byte symbols and added special tokens), with and without the
 * post-processor, then decoded. Byte-level BPE loses nothing, so valid UTF-8
 * must decode back to itself (special tokens kept). */
#include "fuzz_util.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

int mg_fuzz_tokenize_text(const uint8_t *data, size_t size);

static mg_tokenizer *tokenize_text_tok;

static void tokenize_text_free(void) {
    mg_tokenizer_free(tokenize_text_tok);
}

int mg_fuzz_tokenize_text(const uint8_t *data, size_t size) {
    mg_error err = {0};
    char dir[600];
    mg_fuzz_dir("tokenize_text", dir, sizeof dir); // quiet logging, one thread
    if (!tokenize_text_tok) {
        if (mg_tokenizer_load(MG_TEST_DATA "/templates/tiny-chat", &tokenize_text_tok, &err)) {
            fprintf(stderr, "tokenize_text: %s\n", err.msg);
            abort();
        }
        atexit(tokenize_text_free);
    }
    const mg_tokenizer *t = tokenize_text_tok;
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        mg_status st = mg_tokenizer_encode(t, (const char *)data, size, special, &ids, &n, &err);
        mg_fuzz_check_err("tokenize_text", st, &err);
        if (st != MG_OK) continue;
        size_t vocab = mg_tokenizer_vocab_size(t);
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || (size_t)ids[i] >= vocab) abort();
        for (int skip = 0; skip < 2; skip++) {
            char *out = NULL;
            size_t olen = 0;
            st = mg_tokenizer_decode(t, ids, n, skip, &out, &olen, &err);
            mg_fuzz_check_err("tokenize_text", st, &err);
            if (st == MG_OK && !special && !skip &&
                mg_utf8_valid_prefix((const char *)data, size) == size &&
                (olen != size || memcmp(out, data, size) != 0)) {
                fprintf(stderr, "tokenize_text: decode(encode(text)) differs: '%.*s' -> '%.*s'\n",
                        (int)size, (const char *)data, (int)olen, out);
                abort();
            }
            free(out);
        }
        free(ids);
    }
    return 0;
}
