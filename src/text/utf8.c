/* utf8.c - see utf8.h. */
#include "text/utf8.h"

#include <utf8proc.h>

size_t mg_utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid sequence at s[i], or 0 when ill-formed; *bad gets the
 * length of the maximal ill-formed subpart in that case (>= 1). Follows the
 * well-formed byte table of Unicode ch. 3 (Table 3-7). */
static size_t seq_len(const uint8_t *s, size_t n, size_t i, size_t *bad) {
    uint8_t b = s[i];
    if (b < 0x80) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
    } else if (b == 0xE0) {
        need = 2, lo = 0xA0;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
        need = 2;
    } else if (b == 0xED) {
        need = 2, hi = 0x9F; // no surrogates
    } else if (b == 0xF0) {
        need = 3, lo = 0x90;
    } else if (b >= 0xF1 && b <= 0xF3) {
        need = 3;
    } else if (b == 0xF4) {
        need = 3, hi = 0x8F; // nothing above U+10FFFF
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k <= need; k++) {
        if (i + k >= n) {
            *bad = k;
            return 0;
        }
        uint8_t c = s[i + k];
        if (c < lo || c > hi) {
            *bad = k;
            return 0;
        }
        lo = 0x80, hi = 0xBF;
    }
    return need + 1;
}

size_t mg_utf8_valid_prefix(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0, bad;
    while (i < n) {
        // ASCII runs dominate real text: skip 8 bytes at a time.
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        size_t l = seq_len(s, n, i, &bad);
        if (!l) return i;
        i += l;
    }
    return n;
}

void mg_utf8_sanitize(const char *str, size_t n, mg_textbuf *out) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    mg_textbuf_reserve(out, n);
    while (i < n) {
        size_t ok = mg_utf8_valid_prefix(str + i, n - i);
        mg_textbuf_append(out, str + i, ok);
        i += ok;
        if (i >= n) break;
        size_t bad = 1;
        (void)seq_len(s, n, i, &bad);
        mg_textbuf_append(out, "\xEF\xBF\xBD", 3);
        i += bad;
    }
}

bool mg_uc_is_whitespace(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

bool mg_uc_is_numeric(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool mg_uc_is_punctuation(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
               (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool mg_uc_is_word(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    if (cp == 0x200C || cp == 0x200D) return true; // Join_Control
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_ND) || c == UTF8PROC_CATEGORY_NL ||
           c == UTF8PROC_CATEGORY_PC;
}

bool mg_uc_is_nonspacing_mark(uint32_t cp) {
    return cp >= 0x300 && utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_MN;
}

/* The GPT-2 table: bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF keep their value;
 * the other 68 bytes get U+0100 + n in increasing byte order. */
uint32_t mg_bytelevel_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    // Count the remapped bytes below b.
    uint32_t n;
    if (b <= 0x20) n = b;                      // 0x00..0x20: 33 bytes
    else if (b <= 0xA0) n = 33 + (b - 0x7F);   // 0x7F..0xA0: 34 bytes
    else n = 67;                               // 0xAD
    return 0x100 + n;
}

int mg_bytelevel_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp < 0x100 || cp > 0x143) return -1;
    uint32_t n = cp - 0x100;
    if (n <= 32) return (int)n;
    if (n <= 66) return (int)(0x7F + (n - 33));
    return 0xAD;
}
