/* added_tokens.h - the `added_tokens` of tokenizer.json (special tokens such
 * as <|eot_id|> and user-added ones) and their matching in raw text.
 *
 * As in Rust `tokenizers` (AddedVocabulary), tokens are found before the
 * model runs, leftmost-longest, in two passes: tokens with normalized=false
 * are matched in the raw text, then tokens with normalized=true are matched
 * (by their normalized content) inside each normalized stretch between the
 * first-pass matches. Flags: lstrip / rstrip swallow the whitespace on that
 * side, single_word rejects a match touching a word character (\w), special
 * marks tokens that decode(skip_special) drops.
 * Matching walks a byte trie (edges in a hash table) from each position whose
 * byte can start a token: linear in the text for practical token sets.
 * Ownership: mg_added_vocab owned by its creator. Thread-safety: read-only
 * after parsing. */
#ifndef MG_TEXT_ADDED_TOKENS_H
#define MG_TEXT_ADDED_TOKENS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/normalizer.h"

typedef struct mg_added_token {
    char *content; // owned, NUL-terminated
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} mg_added_token;

typedef struct mg_added_vocab mg_added_vocab;

/* One stretch of text: [a, b) with id -1, or an added token with its id. */
typedef struct mg_split {
    size_t a, b;
    int32_t id;
} mg_split;

typedef struct mg_splitvec {
    mg_split *p;
    size_t n, cap;
} mg_splitvec;

/* Parses the added_tokens list (NULL or missing is an empty list); norm (may
 * be NULL) normalizes the content of normalized tokens. *out owned. */
mg_status mg_added_vocab_parse(const json_t *list, const mg_normalizer *norm,
                               mg_added_vocab **out, mg_error *err);
void mg_added_vocab_free(mg_added_vocab *v);

size_t mg_added_vocab_count(const mg_added_vocab *v);
/* Borrowed, valid until free. */
const mg_added_token *mg_added_vocab_get(const mg_added_vocab *v, size_t i);

/* Splits text[0..n) into stretches and tokens (covering it, in order, with
 * the stripped whitespace inside the token spans) and appends them to out.
 * normalized selects the pass (see above). */
void mg_added_vocab_split(const mg_added_vocab *v, bool normalized, const char *text, size_t n,
                          mg_splitvec *out);

#endif // MG_TEXT_ADDED_TOKENS_H
