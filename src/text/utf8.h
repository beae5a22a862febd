/* utf8.h - UTF-8 decoding and repair, Unicode character classes and the GPT-2
 * byte-level alphabet, as the tokenizer pipeline needs them.
 *
 * Decoders here assume valid UTF-8 (the tokenizer repairs its input once with
 * mg_utf8_sanitize, then never re-validates). Character classes follow the
 * Rust `char` methods HF `tokenizers` calls (is_whitespace, is_numeric,
 * is_alphanumeric, is_punctuation), read from utf8proc's tables.
 * Thread-safety: pure functions and constant tables. */
#ifndef MG_TEXT_UTF8_H
#define MG_TEXT_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/textbuf.h"

/* Decodes the code point at s (valid UTF-8, n > 0 bytes available); *len gets
 * its byte length. */
static inline uint32_t mg_utf8_decode(const uint8_t *s, size_t n, size_t *len) {
    uint8_t b = s[0];
    if (b < 0xC0) {
        *len = 1;
        return b;
    }
    if (b < 0xE0 && n >= 2) {
        *len = 2;
        return ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (b < 0xF0 && n >= 3) {
        *len = 3;
        return ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    if (n >= 4) {
        *len = 4;
        return ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
    *len = 1; // truncated sequence: cannot happen on sanitized text
    return 0xFFFD;
}

/* Byte length of the UTF-8 sequence a lead byte starts (1 for stray bytes). */
static inline size_t mg_utf8_len(uint8_t lead) {
    return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/* Writes cp as UTF-8 into out (room for 4); returns the byte count. */
size_t mg_utf8_encode(uint32_t cp, char *out);

/* Length of the longest valid UTF-8 prefix of s. */
size_t mg_utf8_valid_prefix(const char *s, size_t n);

/* Appends s to out, replacing every maximal ill-formed subsequence by U+FFFD
 * (the WHATWG / Unicode "substitution of maximal subparts" rule, which is also
 * what JavaScript's TextDecoder and Rust's String::from_utf8_lossy do). */
void mg_utf8_sanitize(const char *s, size_t n, mg_textbuf *out);

/* Rust char::is_whitespace (the Unicode White_Space property). */
bool mg_uc_is_whitespace(uint32_t cp);
/* Rust char::is_numeric: general categories Nd, Nl, No. */
bool mg_uc_is_numeric(uint32_t cp);
/* Rust char::is_ascii_punctuation() || Unicode P* (HF `is_punc`). */
bool mg_uc_is_punctuation(uint32_t cp);
/* Regex `\w` as Rust's regex crate defines it: letters, marks, Nd, Pc,
 * Join_Control (used by the single_word flag of added tokens). */
bool mg_uc_is_word(uint32_t cp);
/* Unicode general category Mn (what HF StripAccents removes). */
bool mg_uc_is_nonspacing_mark(uint32_t cp);

/* GPT-2 byte-level alphabet: every byte maps to one printable code point
 * (printable Latin-1 bytes map to themselves, the rest to U+0100..U+0143). */
uint32_t mg_bytelevel_cp(uint8_t byte);
/* Inverse mapping; -1 for code points outside the alphabet. */
int mg_bytelevel_byte(uint32_t cp);

#endif // MG_TEXT_UTF8_H
