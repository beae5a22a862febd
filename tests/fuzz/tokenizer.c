/* tokenizer.c - fuzz target: tokenizer.json loading plus encoding. The input
 * is TOKENIZER_JSON [SEP TEXT] (SEP = MG_FUZZ_SEP): the tokenizer is loaded
 * by mg_tokenizer_load, the text encoded with and without special tokens,
 * the ids decoded back; the same file then goes through the GGUF exporter's
 * independent reader (mg_gguf_vocab_load). */
#include "fuzz_util.h"
#include "io/gguf_vocab.h"
#include "text/tokenizer.h"

int mg_fuzz_tokenizer(const uint8_t *data, size_t size);

/* Encodes text both ways and decodes the result both ways. */
static void tokenizer_roundtrip(const char *target, const mg_tokenizer *t, const char *text,
                                size_t len) {
    mg_error err = {0};
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        size_t n = 0;
        mg_status st = mg_tokenizer_encode(t, text, len, special, &ids, &n, &err);
        mg_fuzz_check_err(target, st, &err);
        if (st != MG_OK) continue;
        size_t vocab = mg_tokenizer_vocab_size(t);
        for (size_t i = 0; i < n; i++) {
            if (ids[i] < 0 || (size_t)ids[i] >= vocab) {
                fprintf(stderr, "%s: id %d outside the vocab (%zu)\n", target, (int)ids[i], vocab);
                abort();
            }
            (void)mg_tokenizer_id_to_piece(t, ids[i]);
        }
        for (int skip = 0; skip < 2; skip++) {
            char *out = NULL;
            size_t olen = 0;
            st = mg_tokenizer_decode(t, ids, n, skip, &out, &olen, &err);
            mg_fuzz_check_err(target, st, &err);
            free(out);
        }
        free(ids);
    }
}

int mg_fuzz_tokenizer(const uint8_t *data, size_t size) {
    mg_fuzz_part parts[2];
    size_t np = mg_fuzz_split(data, size, parts, 2);
    char path[1024], dir[600];
    mg_fuzz_write("tokenizer", "tokenizer.json", parts[0].p, parts[0].n, path, sizeof path);
    mg_error err = {0};
    mg_tokenizer *t = NULL;
    mg_status st = mg_tokenizer_load(path, &t, &err);
    mg_fuzz_check_err("tokenizer", st, &err);
    if (st == MG_OK) {
        if (np > 1) tokenizer_roundtrip("tokenizer", t, (const char *)parts[1].p, parts[1].n);
        size_t n_ids = 0;
        (void)mg_tokenizer_stop_ids(t, &n_ids);
        (void)mg_tokenizer_piece_to_id(t, "<s>");
        mg_tokenizer_free(t);
    }
    mg_gguf_vocab v = {0};
    st =
        mg_gguf_vocab_load(mg_fuzz_dir("tokenizer", dir, sizeof dir), "llama", 320, NULL, &v, &err);
    mg_fuzz_check_err("tokenizer", st, &err);
    mg_gguf_vocab_free(&v);
    return 0;
}
