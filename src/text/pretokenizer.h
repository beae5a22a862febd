/* pretokenizer.h - the `pre_tokenizer` of tokenizer.json: Split (String or
 * PCRE2 regex, every split behaviour, invert), ByteLevel, Metaspace, Digits,
 * Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer and Sequence.
 *
 * A (possibly nested) Sequence is flattened into stages. Each stage may
 * rewrite its piece (ByteLevel's prefix space, Metaspace's replacement) and
 * split it; pieces flow depth-first through the stages and each final word is
 * handed to a callback at once, so nothing is materialized as a list (a 10 MB
 * text costs no per-word allocation). Split behaviours and empty-piece
 * dropping follow Rust `tokenizers` (NormalizedString::split).
 * ByteLevel only marks the words as byte-level: the byte-to-alphabet mapping
 * is done by the BPE model, which looks raw bytes up directly.
 * Ownership: mg_pretok owned by its creator; a workspace belongs to one
 * thread. Thread-safety: a parsed mg_pretok is read-only. */
#ifndef MG_TEXT_PRETOKENIZER_H
#define MG_TEXT_PRETOKENIZER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef struct mg_pretok mg_pretok;
typedef struct mg_pretok_ws mg_pretok_ws;

/* JSON null gives a pre-tokenizer with no stages (the whole piece is a word). */
mg_status mg_pretok_parse(const json_t *obj, mg_pretok **out, mg_error *err);
void mg_pretok_free(mg_pretok *p);
/* True when the words are byte-level (a ByteLevel stage is present). */
bool mg_pretok_byte_level(const mg_pretok *p);

/* Per-thread scratch space; owned. */
mg_pretok_ws *mg_pretok_ws_new(const mg_pretok *p);
void mg_pretok_ws_free(mg_pretok_ws *ws);

typedef void (*mg_pretok_emit)(void *ctx, const char *word, size_t len);

/* Splits s[0..len) (valid UTF-8) and calls emit for every non-empty word in
 * order. at_start: the piece begins the original input (Metaspace "first"). */
void mg_pretok_run(const mg_pretok *p, mg_pretok_ws *ws, const char *s, size_t len, bool at_start,
                   mg_pretok_emit emit, void *ctx);

#endif // MG_TEXT_PRETOKENIZER_H
