/* tokenizer.h - Hugging Face tokenizer.json (plus tokenizer_config.json,
 * special_tokens_map.json, generation_config.json, chat_template.jinja).
 *
 * Supports BPE with the byte-level alphabet (GPT-2 / Llama 3 / Qwen /
 * DeepSeek) and SentencePiece-style BPE with byte fallback (Mistral / Llama 2 /
 * Gemma), with the normalizers, pre-tokenizers, post-processors and decoders
 * those files use. Encoding is identical to HF `tokenizers`.
 * Ownership: mg_tokenizer is owned by the caller (mg_tokenizer_free); strings
 * it returns are borrowed until free. Thread-safety: a loaded tokenizer is
 * read-only; encode/decode may run concurrently from many threads. */
#ifndef MG_TEXT_TOKENIZER_H
#define MG_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Longest vocabulary entry or added token accepted, in bytes. Real tokens are
 * under a few hundred bytes; a 50 MB one is a hostile file (an added token
 * costs a trie node per byte). */
#define MG_TOKENIZER_MAX_TOKEN 65536

typedef struct mg_tokenizer mg_tokenizer;

/* Loads from a model folder (tokenizer.json and the side files next to it) or
 * from a path to a tokenizer.json file. *out owned. */
mg_status mg_tokenizer_load(const char *path, mg_tokenizer **out, mg_error *err);
void mg_tokenizer_free(mg_tokenizer *t); // NULL-safe

/* Encodes UTF-8 text. add_special: run the post-processor (BOS etc.) as HF's
 * add_special_tokens. Special/added tokens written in the text are always
 * matched (HF's default). *ids owned (free()). Invalid UTF-8 bytes are
 * replaced by U+FFFD before encoding (documented behaviour). */
mg_status mg_tokenizer_encode(const mg_tokenizer *t, const char *text, size_t len,
                              bool add_special, int32_t **ids, size_t *n, mg_error *err);
/* Decodes ids to UTF-8 text; skip_special drops special tokens. *out owned. */
mg_status mg_tokenizer_decode(const mg_tokenizer *t, const int32_t *ids, size_t n,
                              bool skip_special, char **out, size_t *len, mg_error *err);

/* Vocabulary size including added tokens (max id + 1). */
size_t mg_tokenizer_vocab_size(const mg_tokenizer *t);
/* The token string of an id (NULL when out of range). Borrowed. */
const char *mg_tokenizer_id_to_piece(const mg_tokenizer *t, int32_t id);
/* The id of an exact token string, or -1. */
int32_t mg_tokenizer_piece_to_id(const mg_tokenizer *t, const char *piece);
bool mg_tokenizer_is_special(const mg_tokenizer *t, int32_t id);

/* Special tokens from tokenizer_config.json / special_tokens_map.json; -1 and
 * NULL when the model has none. Strings borrowed. */
int32_t mg_tokenizer_bos_id(const mg_tokenizer *t);
int32_t mg_tokenizer_eos_id(const mg_tokenizer *t);
int32_t mg_tokenizer_pad_id(const mg_tokenizer *t);
const char *mg_tokenizer_bos_token(const mg_tokenizer *t);
const char *mg_tokenizer_eos_token(const mg_tokenizer *t);
/* Every id that ends generation: eos, generation_config eos_token_id (int or
 * list), and known end-of-turn tokens present in the vocab (<|eot_id|>,
 * <|im_end|>, <end_of_turn>, ...). Borrowed array of *n ids. */
const int32_t *mg_tokenizer_stop_ids(const mg_tokenizer *t, size_t *n);
bool mg_tokenizer_add_bos(const mg_tokenizer *t);
/* The chat template (tokenizer_config.json or chat_template.jinja), or NULL. */
const char *mg_tokenizer_chat_template(const mg_tokenizer *t);
/* Replaces the chat template (a copy is kept). */
void mg_tokenizer_set_chat_template(mg_tokenizer *t, const char *tmpl);
/* How messages name the chat template: "DIR/tokenizer_config.json:
 * chat_template" or "DIR/chat_template.jinja" as loaded, "chat_template" once
 * set by mg_tokenizer_set_chat_template. Borrowed until free or the next set. */
const char *mg_tokenizer_chat_template_name(const mg_tokenizer *t);

#endif // MG_TEXT_TOKENIZER_H
