/* bpe_train.h - byte-level BPE training for the lab tokenizers (issue 6).
 *
 * Learns GPT-2-style merges from a corpus: text is split on the special tokens
 * (which never take part in merges), pre-tokenized with GPT-2's regex (the one
 * HF's ByteLevel pre-tokenizer applies when use_regex is true) through PCRE2
 * with UTF + UCP + JIT, and each pre-token starts as its UTF-8 bytes. The
 * trainer keeps pair counts incrementally (pair -> count and the words that
 * contain it, plus a max-heap with lazy invalidation), so a merge only touches
 * the words containing its pair, never the whole corpus. Ties between equally
 * frequent pairs go to the smaller (left id, right id): the result depends
 * only on the corpus bytes. The model is saved as an HF tokenizer.json (model
 * BPE, byte_fallback false, ByteLevel pre-tokenizer / post-processor / decoder,
 * merges as "a b" strings, special tokens as added_tokens after the learned
 * vocabulary) with a tokenizer_config.json carrying a Jinja chat_template.
 *
 * Ids: 0..255 are the bytes (id == byte value), then the learned tokens in
 * merge order, then the special tokens.
 * Ownership: mg_lab_bpe is owned by the caller (mg_lab_bpe_free). Thread-safety: a
 * trained mg_lab_bpe is read-only; encode/decode may run concurrently. */
#ifndef MG_LAB_BPE_TRAIN_H
#define MG_LAB_BPE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"

typedef struct mg_lab_bpe mg_lab_bpe;

/* GPT-2's pre-tokenizer pattern (HF ByteLevel with use_regex = true). */
#define MG_LAB_BPE_GPT2_PATTERN                                                                        \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Trains on n texts (UTF-8; invalid UTF-8 is an MG_ERR_INVALID naming the
 * text index) until the vocabulary, special tokens included, has vocab_size
 * entries or no pair occurs twice any more (then it is smaller; see
 * mg_lab_bpe_vocab_size). specials: strings split out of the text and appended as
 * added tokens. *out owned. */
mg_status mg_lab_bpe_train(const char *const *texts, const size_t *lens, size_t n, size_t vocab_size,
                       const char *const *specials, size_t n_specials, mg_lab_bpe **out, mg_error *err);
/* Trains on every *.txt file of a directory (in name order) with the lab's
 * special tokens (mg_world_special_tokens). */
mg_status mg_lab_bpe_train_dir(const char *dir, size_t vocab_size, mg_lab_bpe **out, mg_error *err);
void mg_lab_bpe_free(mg_lab_bpe *b); // NULL-safe

size_t mg_lab_bpe_vocab_size(const mg_lab_bpe *b); // learned + special tokens
size_t mg_lab_bpe_n_merges(const mg_lab_bpe *b);
/* The raw bytes of a token (not the byte-level string), borrowed; NULL when
 * out of range. */
const char *mg_lab_bpe_token_bytes(const mg_lab_bpe *b, int32_t id, size_t *len);

/* Encodes with the learned merges exactly as HF's BPE model does (lowest
 * merge rank first, leftmost on ties), special tokens matched in the text.
 * *ids owned (free()). */
mg_status mg_lab_bpe_encode(const mg_lab_bpe *b, const char *text, size_t len, int32_t **ids, size_t *n,
                        mg_error *err);
/* Concatenates token bytes; special tokens written as their text. *out owned,
 * NUL-terminated. */
mg_status mg_lab_bpe_decode(const mg_lab_bpe *b, const int32_t *ids, size_t n, char **out, size_t *len,
                        mg_error *err);

/* The HF tokenizer.json document. Owned (json_decref). */
json_t *mg_lab_bpe_tokenizer_json(const mg_lab_bpe *b);
/* tokenizer_config.json with a chat template and bos / eos / pad tokens (each
 * must be one of the special tokens). Owned. */
json_t *mg_lab_bpe_tokenizer_config(const mg_lab_bpe *b, const char *chat_template, const char *bos,
                                const char *eos, const char *pad);
/* Writes tokenizer.json and tokenizer_config.json into an existing directory. */
mg_status mg_lab_bpe_write_tokenizer(const mg_lab_bpe *b, const char *dir, const char *chat_template,
                                 const char *eos, mg_error *err);
/* Writes out_dir/chat (ChatML template, eos <|im_end|>) and out_dir/guard
 * (Llama-Guard-3 layout, eos <|eot_id|>) atomically; same tokenizer.json. */
mg_status mg_lab_bpe_write_lab_tokenizers(const mg_lab_bpe *b, const char *out_dir, bool force,
                                      mg_error *err);

#endif // MG_LAB_BPE_TRAIN_H
