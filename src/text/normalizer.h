/* normalizer.h - the `normalizer` of tokenizer.json: NFC, NFD, NFKC, NFKD
 * (utf8proc), Replace, Prepend, Lowercase, Strip, StripAccents and Sequence.
 *
 * HF applies the normalizer to each stretch of text between added tokens
 * (never across one), so the tokenizer calls mg_normalizer_apply per section.
 * Input must be valid UTF-8; output is valid UTF-8.
 * Ownership: mg_normalizer owned by its creator. Thread-safety: read-only
 * after parsing; apply may run concurrently. */
#ifndef MG_TEXT_NORMALIZER_H
#define MG_TEXT_NORMALIZER_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "text/textbuf.h"

typedef struct mg_normalizer mg_normalizer;

/* Parses the normalizer object (JSON null gives *out = NULL, a no-op).
 * Unknown or unsupported types: MG_ERR_UNSUPPORTED naming the type. */
mg_status mg_normalizer_parse(const json_t *obj, mg_normalizer **out, mg_error *err);
void mg_normalizer_free(mg_normalizer *n);

/* Replaces out's contents with the normalized form of s[0..len). A NULL
 * normalizer copies. */
void mg_normalizer_apply(const mg_normalizer *n, const char *s, size_t len, mg_textbuf *out);

#endif // MG_TEXT_NORMALIZER_H
