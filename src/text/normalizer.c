/* normalizer.c - see normalizer.h. Semantics follow the Rust `tokenizers`
 * crate (its normalizers module). */
#include "text/normalizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/alloc.h"
#include "text/pattern.h"
#include "text/utf8.h"

typedef enum kind {
    N_UNICODE, // NFC / NFD / NFKC / NFKD: utf8proc options
    N_REPLACE,
    N_PREPEND,
    N_LOWERCASE,
    N_STRIP,
    N_STRIP_ACCENTS,
    N_SEQUENCE,
} kind;

struct mg_normalizer {
    kind kind;
    int uc_options;
    mg_pattern *pattern;
    char *content; // Replace content / Prepend string
    size_t content_len;
    bool strip_left, strip_right;
    mg_normalizer **children;
    size_t n_children;
};

void mg_normalizer_free(mg_normalizer *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n_children; i++) mg_normalizer_free(n->children[i]);
    free(n->children);
    mg_pattern_free(n->pattern);
    free(n->content);
    free(n);
}

static mg_status get_string(const json_t *obj, const char *key, const char *type, char **out,
                            size_t *len, mg_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: normalizer %s: field '%s' must be a string", type,
                            key);
    *len = json_string_length(v);
    *out = mg_strndup(json_string_value(v), *len);
    return MG_OK;
}

mg_status mg_normalizer_parse(const json_t *obj, mg_normalizer **out, mg_error *err) {
    *out = NULL;
    if (!obj || json_is_null(obj)) return MG_OK;
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (!json_is_object(obj) || !type)
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: normalizer: expected an object with a 'type'");
    mg_normalizer *n = (mg_normalizer *)mg_calloc(1, sizeof *n);
    mg_status rc = MG_OK;
    if (!strcmp(type, "NFC")) {
        n->kind = N_UNICODE, n->uc_options = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    } else if (!strcmp(type, "NFD")) {
        n->kind = N_UNICODE, n->uc_options = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
    } else if (!strcmp(type, "NFKC")) {
        n->kind = N_UNICODE, n->uc_options = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    } else if (!strcmp(type, "NFKD")) {
        n->kind = N_UNICODE,
        n->uc_options = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    } else if (!strcmp(type, "Replace")) {
        n->kind = N_REPLACE;
        rc = mg_pattern_parse(json_object_get(obj, "pattern"), "tokenizer.json: normalizer Replace",
                              &n->pattern, err);
        if (rc == MG_OK) rc = get_string(obj, "content", type, &n->content, &n->content_len, err);
    } else if (!strcmp(type, "Prepend")) {
        n->kind = N_PREPEND;
        rc = get_string(obj, "prepend", type, &n->content, &n->content_len, err);
    } else if (!strcmp(type, "Lowercase")) {
        n->kind = N_LOWERCASE;
    } else if (!strcmp(type, "Strip")) {
        n->kind = N_STRIP;
        n->strip_left = json_is_true(json_object_get(obj, "strip_left"));
        n->strip_right = json_is_true(json_object_get(obj, "strip_right"));
    } else if (!strcmp(type, "StripAccents")) {
        n->kind = N_STRIP_ACCENTS;
    } else if (!strcmp(type, "Sequence")) {
        n->kind = N_SEQUENCE;
        json_t *arr = json_object_get(obj, "normalizers");
        if (!json_is_array(arr)) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "tokenizer.json: normalizer Sequence: 'normalizers' must be a list");
        } else {
            n->children = (mg_normalizer **)mg_calloc(json_array_size(arr) + 1, sizeof(void *));
            for (size_t i = 0; i < json_array_size(arr) && rc == MG_OK; i++) {
                rc = mg_normalizer_parse(json_array_get(arr, i), &n->children[n->n_children], err);
                if (rc == MG_OK && n->children[n->n_children]) n->n_children++;
            }
        }
    } else {
        rc = mg_error_set(err, MG_ERR_UNSUPPORTED,
                          "tokenizer.json: normalizer type '%s' is not supported (supported: NFC, "
                          "NFD, NFKC, NFKD, Replace, Prepend, Lowercase, Strip, StripAccents, "
                          "Sequence)",
                          type);
    }
    if (rc != MG_OK) {
        mg_normalizer_free(n);
        return rc;
    }
    *out = n;
    return MG_OK;
}

static bool all_ascii(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

/* Applies one (non-sequence) step: s -> out (out cleared first). */
static void apply_one(const mg_normalizer *n, const char *s, size_t len, mg_textbuf *out) {
    mg_textbuf_clear(out);
    switch (n->kind) {
    case N_UNICODE: {
        if (all_ascii(s, len)) { // every normalization form leaves ASCII unchanged
            mg_textbuf_append(out, s, len);
            return;
        }
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst,
                                          (utf8proc_option_t)n->uc_options);
        if (r < 0) { // cannot happen on valid UTF-8 except OOM; keep the text
            mg_textbuf_append(out, s, len);
        } else {
            mg_textbuf_append(out, dst, (size_t)r);
        }
        free(dst);
        return;
    }
    case N_REPLACE:
        mg_pattern_replace(n->pattern, NULL, s, len, n->content, n->content_len, out);
        return;
    case N_PREPEND:
        // HF Prepend leaves an empty string empty.
        if (len) mg_textbuf_append(out, n->content, n->content_len);
        mg_textbuf_append(out, s, len);
        return;
    case N_LOWERCASE:
        for (size_t i = 0; i < len;) {
            size_t l;
            uint32_t cp = mg_utf8_decode((const uint8_t *)s + i, len - i, &l);
            char enc[8];
            if (cp == 0x130) { // İ lowercases to i + combining dot (Rust to_lowercase)
                mg_textbuf_append(out, "i\xCC\x87", 3);
            } else {
                uint32_t lc = cp < 0x80 ? (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp)
                                        : (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
                mg_textbuf_append(out, enc, mg_utf8_encode(lc, enc));
            }
            i += l;
        }
        return;
    case N_STRIP: {
        size_t a = 0, b = len;
        while (n->strip_left && a < b) {
            size_t l;
            if (!mg_uc_is_whitespace(mg_utf8_decode((const uint8_t *)s + a, b - a, &l))) break;
            a += l;
        }
        while (n->strip_right && b > a) {
            size_t start = b - 1;
            while (start > a && ((unsigned char)s[start] & 0xC0) == 0x80) start--;
            size_t l;
            if (!mg_uc_is_whitespace(mg_utf8_decode((const uint8_t *)s + start, b - start, &l)))
                break;
            b = start;
        }
        mg_textbuf_append(out, s + a, b - a);
        return;
    }
    case N_STRIP_ACCENTS:
        for (size_t i = 0; i < len;) {
            size_t l;
            uint32_t cp = mg_utf8_decode((const uint8_t *)s + i, len - i, &l);
            if (!mg_uc_is_nonspacing_mark(cp)) mg_textbuf_append(out, s + i, l);
            i += l;
        }
        return;
    case N_SEQUENCE:
        break; // handled by the caller
    }
}

void mg_normalizer_apply(const mg_normalizer *n, const char *s, size_t len, mg_textbuf *out) {
    if (!n) {
        mg_textbuf_clear(out);
        mg_textbuf_append(out, s, len);
        return;
    }
    if (n->kind != N_SEQUENCE) {
        apply_one(n, s, len, out);
        return;
    }
    mg_textbuf tmp = {0};
    mg_textbuf_clear(out);
    mg_textbuf_append(out, s, len);
    for (size_t i = 0; i < n->n_children; i++) {
        mg_normalizer_apply(n->children[i], out->p, out->len, &tmp);
        mg_textbuf t = *out;
        *out = tmp;
        tmp = t;
    }
    mg_textbuf_free(&tmp);
}
