/* decoder.h - the `decoder` of tokenizer.json: ByteLevel, Metaspace,
 * ByteFallback, Fuse, Strip, Replace and Sequence, with the semantics of Rust
 * `tokenizers` (each decoder maps a list of token strings to a new list; the
 * result is their concatenation):
 *  - ByteLevel maps every token's alphabet characters back to bytes (a token
 *    with a character outside the alphabet, e.g. an added token, contributes
 *    its UTF-8 as is) and decodes all bytes at once, invalid sequences becoming
 *    U+FFFD;
 *  - ByteFallback turns runs of <0xXX> tokens into their bytes, or into one
 *    U+FFFD per byte when the run is not valid UTF-8;
 *  - Metaspace turns the replacement into spaces, dropping those of the first
 *    token unless prepend_scheme is "never" (Rust's behaviour).
 * Without a decoder, tokens are joined with spaces (Rust's default).
 * Ownership: owned by its creator. Thread-safety: read-only after parsing. */
#ifndef MG_TEXT_DECODER_H
#define MG_TEXT_DECODER_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "text/textbuf.h"

typedef struct mg_decoder mg_decoder;

/* JSON null gives *out = NULL (join with spaces). */
mg_status mg_decoder_parse(const json_t *obj, mg_decoder **out, mg_error *err);
void mg_decoder_free(mg_decoder *d);

/* Decodes n token strings (tokens[i] of lens[i] bytes) and appends the text
 * to out. */
void mg_decoder_run(const mg_decoder *d, const char *const *tokens, const size_t *lens, size_t n,
                    mg_textbuf *out);

#endif // MG_TEXT_DECODER_H
