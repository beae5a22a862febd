/* decoder.c - see decoder.h. */
#include "text/decoder.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/pattern.h"
#include "text/utf8.h"

typedef enum kind { D_BYTELEVEL, D_METASPACE, D_BYTEFALLBACK, D_FUSE, D_STRIP, D_REPLACE, D_SEQ } kind;

struct mg_decoder {
    kind kind;
    char ch[8]; // Metaspace replacement / Strip content (one character)
    size_t ch_len;
    bool prepend_never;
    size_t start, stop;
    mg_pattern *pattern;
    char *content;
    size_t content_len;
    mg_decoder **children;
    size_t n_children;
};

void mg_decoder_free(mg_decoder *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n_children; i++) mg_decoder_free(d->children[i]);
    free(d->children);
    mg_pattern_free(d->pattern);
    free(d->content);
    free(d);
}

static mg_status one_char(const json_t *obj, const char *key, const char *def, mg_decoder *d,
                          mg_error *err) {
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s) s = def;
    size_t l = s ? strlen(s) : 0;
    if (!s || l == 0 || l > 4 || mg_utf8_len((uint8_t)s[0]) != l)
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: decoder: '%s' must be one character", key);
    memcpy(d->ch, s, l);
    d->ch_len = l;
    return MG_OK;
}

mg_status mg_decoder_parse(const json_t *obj, mg_decoder **out, mg_error *err) {
    *out = NULL;
    if (!obj || json_is_null(obj)) return MG_OK;
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (!json_is_object(obj) || !type)
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: decoder: expected an object with a 'type'");
    mg_decoder *d = (mg_decoder *)mg_calloc(1, sizeof *d);
    mg_status rc = MG_OK;
    if (!strcmp(type, "ByteLevel")) {
        d->kind = D_BYTELEVEL;
    } else if (!strcmp(type, "ByteFallback")) {
        d->kind = D_BYTEFALLBACK;
    } else if (!strcmp(type, "Fuse")) {
        d->kind = D_FUSE;
    } else if (!strcmp(type, "Metaspace")) {
        d->kind = D_METASPACE;
        rc = one_char(obj, "replacement", "\xE2\x96\x81", d, err);
        const char *scheme = json_string_value(json_object_get(obj, "prepend_scheme"));
        json_t *aps = json_object_get(obj, "add_prefix_space");
        d->prepend_never = scheme ? !strcmp(scheme, "never") : (aps && !json_is_true(aps));
    } else if (!strcmp(type, "Strip")) {
        d->kind = D_STRIP;
        rc = one_char(obj, "content", " ", d, err);
        json_t *a = json_object_get(obj, "start"), *b = json_object_get(obj, "stop");
        d->start = json_is_integer(a) && json_integer_value(a) > 0 ? (size_t)json_integer_value(a) : 0;
        d->stop = json_is_integer(b) && json_integer_value(b) > 0 ? (size_t)json_integer_value(b) : 0;
    } else if (!strcmp(type, "Replace")) {
        d->kind = D_REPLACE;
        json_t *c = json_object_get(obj, "content");
        rc = mg_pattern_parse(json_object_get(obj, "pattern"), "tokenizer.json: decoder Replace",
                              &d->pattern, err);
        if (rc == MG_OK && !json_is_string(c))
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "tokenizer.json: decoder Replace: 'content' must be a string");
        if (rc == MG_OK) {
            d->content_len = json_string_length(c);
            d->content = mg_strndup(json_string_value(c), d->content_len);
        }
    } else if (!strcmp(type, "Sequence")) {
        d->kind = D_SEQ;
        json_t *arr = json_object_get(obj, "decoders");
        if (!json_is_array(arr)) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "tokenizer.json: decoder Sequence: 'decoders' must be a list");
        } else {
            d->children = (mg_decoder **)mg_calloc(json_array_size(arr) + 1, sizeof(void *));
            for (size_t i = 0; i < json_array_size(arr) && rc == MG_OK; i++) {
                rc = mg_decoder_parse(json_array_get(arr, i), &d->children[d->n_children], err);
                if (rc == MG_OK && d->children[d->n_children]) d->n_children++;
            }
        }
    } else {
        rc = mg_error_set(err, MG_ERR_UNSUPPORTED,
                          "tokenizer.json: decoder type '%s' is not supported (supported: "
                          "ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence)",
                          type);
    }
    if (rc != MG_OK) {
        mg_decoder_free(d);
        return rc;
    }
    *out = d;
    return MG_OK;
}

/* ---- token lists ---- */

typedef struct tlist {
    mg_textbuf data;
    size_t *off, *len;
    size_t n, cap;
} tlist;

static void tl_push(tlist *t, const char *s, size_t len) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->off = (size_t *)mg_realloc(t->off, t->cap * sizeof(size_t));
        t->len = (size_t *)mg_realloc(t->len, t->cap * sizeof(size_t));
    }
    t->off[t->n] = t->data.len;
    t->len[t->n] = len;
    t->n++;
    mg_textbuf_append(&t->data, s, len);
}

/* Starts a token whose bytes are appended to t->data afterwards. */
static void tl_begin(tlist *t) {
    tl_push(t, "", 0);
}
static void tl_end(tlist *t) {
    t->len[t->n - 1] = t->data.len - t->off[t->n - 1];
}

static void tl_free(tlist *t) {
    mg_textbuf_free(&t->data);
    free(t->off);
    free(t->len);
}

#define TOK(t, i) ((t)->data.p + (t)->off[i])

static void step(const mg_decoder *d, const tlist *in, tlist *out);

static void byte_level(const tlist *in, tlist *out) {
    mg_textbuf bytes = {0};
    for (size_t i = 0; i < in->n; i++) {
        const char *s = TOK(in, i);
        size_t len = in->len[i], start = bytes.len;
        bool ok = true;
        for (size_t j = 0; j < len && ok;) {
            size_t l;
            int b = mg_bytelevel_byte(mg_utf8_decode((const uint8_t *)s + j, len - j, &l));
            if (b < 0) ok = false;
            else mg_textbuf_putc(&bytes, (char)b);
            j += l;
        }
        if (!ok) { // Rust: a token outside the alphabet contributes its own bytes
            bytes.len = start;
            mg_textbuf_append(&bytes, s, len);
        }
    }
    tl_begin(out);
    mg_utf8_sanitize(bytes.p ? bytes.p : "", bytes.len, &out->data);
    tl_end(out);
    mg_textbuf_free(&bytes);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void flush_bytes(mg_textbuf *run, tlist *out) {
    if (!run->len) return;
    if (mg_utf8_valid_prefix(run->p, run->len) == run->len) {
        tl_push(out, run->p, run->len);
    } else {
        for (size_t k = 0; k < run->len; k++) tl_push(out, "\xEF\xBF\xBD", 3);
    }
    mg_textbuf_clear(run);
}

static void byte_fallback(const tlist *in, tlist *out) {
    mg_textbuf run = {0};
    for (size_t i = 0; i < in->n; i++) {
        const char *s = TOK(in, i);
        int hi, lo;
        if (in->len[i] == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && (hi = hexval(s[3])) >= 0 &&
            (lo = hexval(s[4])) >= 0) {
            mg_textbuf_putc(&run, (char)(hi * 16 + lo));
            continue;
        }
        flush_bytes(&run, out);
        tl_push(out, s, in->len[i]);
    }
    flush_bytes(&run, out);
    mg_textbuf_free(&run);
}

static void strip(const mg_decoder *d, const tlist *in, tlist *out) {
    for (size_t i = 0; i < in->n; i++) {
        const char *s = TOK(in, i);
        size_t a = 0, b = in->len[i];
        for (size_t k = 0; k < d->start && b - a >= d->ch_len && !memcmp(s + a, d->ch, d->ch_len);
             k++)
            a += d->ch_len;
        for (size_t k = 0; k < d->stop && b - a >= d->ch_len &&
                           !memcmp(s + b - d->ch_len, d->ch, d->ch_len);
             k++)
            b -= d->ch_len;
        tl_push(out, s + a, b - a);
    }
}

static void step(const mg_decoder *d, const tlist *in, tlist *out) {
    switch (d->kind) {
    case D_BYTELEVEL:
        byte_level(in, out);
        return;
    case D_BYTEFALLBACK:
        byte_fallback(in, out);
        return;
    case D_FUSE:
        tl_begin(out);
        for (size_t i = 0; i < in->n; i++) mg_textbuf_append(&out->data, TOK(in, i), in->len[i]);
        tl_end(out);
        return;
    case D_STRIP:
        strip(d, in, out);
        return;
    case D_REPLACE:
        for (size_t i = 0; i < in->n; i++) {
            tl_begin(out);
            mg_pattern_replace(d->pattern, NULL, TOK(in, i), in->len[i], d->content,
                               d->content_len, &out->data);
            tl_end(out);
        }
        return;
    case D_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = TOK(in, i);
            tl_begin(out);
            for (size_t j = 0; j < in->len[i];) {
                if (in->len[i] - j >= d->ch_len && !memcmp(s + j, d->ch, d->ch_len)) {
                    if (i != 0 || d->prepend_never) mg_textbuf_putc(&out->data, ' ');
                    j += d->ch_len;
                } else {
                    mg_textbuf_putc(&out->data, s[j++]);
                }
            }
            tl_end(out);
        }
        return;
    case D_SEQ: {
        tlist a = {0}, b = {0};
        for (size_t i = 0; i < in->n; i++) tl_push(&a, TOK(in, i), in->len[i]);
        for (size_t c = 0; c < d->n_children; c++) {
            tl_free(&b);
            memset(&b, 0, sizeof b);
            step(d->children[c], &a, &b);
            tlist t = a;
            a = b;
            b = t;
        }
        for (size_t i = 0; i < a.n; i++) tl_push(out, TOK(&a, i), a.len[i]);
        tl_free(&a);
        tl_free(&b);
        return;
    }
    }
}

void mg_decoder_run(const mg_decoder *d, const char *const *tokens, const size_t *lens, size_t n,
                    mg_textbuf *out) {
    if (!d) {
        for (size_t i = 0; i < n; i++) {
            if (i) mg_textbuf_putc(out, ' ');
            mg_textbuf_append(out, tokens[i], lens[i]);
        }
        return;
    }
    tlist in = {0}, res = {0};
    for (size_t i = 0; i < n; i++) tl_push(&in, tokens[i], lens[i]);
    step(d, &in, &res);
    for (size_t i = 0; i < res.n; i++) mg_textbuf_append(out, TOK(&res, i), res.len[i]);
    tl_free(&in);
    tl_free(&res);
}
