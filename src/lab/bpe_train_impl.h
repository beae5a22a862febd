/* bpe_train_impl.h - internals shared by bpe_train.c (training) and
 * bpe_export.c (encoding and HF export) of the lab's byte-level BPE. Not a
 * public API; see bpe_train.h. */
#ifndef MG_LAB_BPE_TRAIN_IMPL_H
#define MG_LAB_BPE_TRAIN_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lab/bpe_train.h"

typedef struct tok {
    char *s; // raw bytes, NUL-terminated for convenience
    size_t len;
} tok;

typedef struct merge {
    int32_t a, b, id;
} merge;

struct mg_lab_bpe {
    tok *toks; // learned vocabulary (bytes + merges), n_toks entries
    size_t n_toks, cap_toks;
    merge *merges;
    size_t n_merges, cap_merges;
    char **specials;
    size_t n_specials;
    // (a, b) -> merge index, open addressing on a power-of-two table
    uint64_t *mkeys;
    int32_t *mvals;
    size_t mcap;
    pcre2_code *re;
};

static inline uint64_t bpe_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t bpe_pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

/* Strict UTF-8 validation (no overlongs, surrogates or code points > U+10FFFF). */
bool bpe_utf8_valid(const unsigned char *s, size_t n);

/* Receives one pre-token (special = its token id when it is a special token, else -1). */
typedef void (*bpe_piece_fn)(void *ctx, const char *s, size_t n, int32_t special);
/* Splits valid UTF-8 text on the special tokens (longest first), pre-tokenizes
 * the rest with the GPT-2 regex and calls fn per piece in text order. */
mg_status bpe_split_text(const mg_lab_bpe *b, pcre2_match_data *md, const char *text, size_t len,
                         bpe_piece_fn fn, void *ctx, mg_error *err);
/* Merge rank of the pair (a, b), or -1. */
int32_t bpe_mtable_find(const mg_lab_bpe *b, uint64_t key);

#endif // MG_LAB_BPE_TRAIN_IMPL_H
