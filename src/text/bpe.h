/* bpe.h - the BPE model of tokenizer.json: byte-level BPE (GPT-2, Llama 3,
 * Qwen, DeepSeek) and SentencePiece-style BPE with byte fallback (Mistral,
 * Llama 2, Gemma).
 *
 * A word is merged exactly as Rust `tokenizers` (models/bpe/word.rs) does:
 * start from one symbol per character (per byte for byte-level words, whose
 * vocabulary is indexed here by raw bytes instead of the printable alphabet),
 * then repeatedly apply the lowest-ranked merge, leftmost first, using a
 * binary heap and a linked list of symbols: O(n log n) per word, so a 10 MB
 * word without spaces is fine. Merge ranks live in a hash table keyed by the
 * id pair. `ignore_merges` emits a word that is itself a token directly.
 * Characters missing from the vocabulary become <0xXX> byte tokens
 * (byte_fallback), else the unk token (consecutive ones fused with
 * fuse_unk), else they are dropped, as in Rust.
 * Ownership: mg_bpe owned by its creator; a scratch (with its word cache)
 * belongs to one thread at a time. Thread-safety: mg_bpe is read-only. */
#ifndef MG_TEXT_BPE_H
#define MG_TEXT_BPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_bpe mg_bpe;
typedef struct mg_bpe_scratch mg_bpe_scratch;

/* A growable list of token ids. */
typedef struct mg_idvec {
    int32_t *p;
    size_t n, cap;
} mg_idvec;

void mg_idvec_push(mg_idvec *v, int32_t id);
void mg_idvec_append(mg_idvec *v, const int32_t *ids, size_t n);

/* Builds the model from tokenizer.json's "model" object. byte_level: words
 * arrive as raw bytes (a ByteLevel pre-tokenizer is present). Unigram and
 * WordPiece models give MG_ERR_UNSUPPORTED. *out owned. */
mg_status mg_bpe_load(const json_t *model, bool byte_level, mg_bpe **out, mg_error *err);
void mg_bpe_free(mg_bpe *b);

/* One past the largest id of the model vocabulary. */
size_t mg_bpe_vocab_size(const mg_bpe *b);

/* Owned per-thread scratch: symbol arrays, heap and a bounded word cache. */
mg_bpe_scratch *mg_bpe_scratch_new(void);
void mg_bpe_scratch_free(mg_bpe_scratch *s);

/* Appends the ids of one pre-tokenized word to out. */
void mg_bpe_encode_word(const mg_bpe *b, mg_bpe_scratch *s, const char *word, size_t len,
                        mg_idvec *out);

#endif // MG_TEXT_BPE_H
