/* extract_json.c - the lenient reader behind mg_extract_questions (see the
 * header for the accepted forms). Values are built as jansson trees so the
 * question walk is ordinary JSON traversal. */
#include "data/extract_json.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "base/alloc.h"

#define MAX_DEPTH 64       // deeper nesting is a syntax error (no model writes it)
#define MAX_CANDIDATES 256 // start positions tried per reply

typedef struct rd {
    const char *s;
    size_t n, i;
    bool eof;    // the text ended inside a value
    bool syntax; // an unexpected character stopped the read
    int depth;
} rd;

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = mg_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_putc(sbuf *b, char c) {
    sb_putn(b, &c, 1);
}

static void sb_put_cp(sbuf *b, int32_t cp) {
    uint8_t tmp[4];
    if (!utf8proc_codepoint_valid(cp)) cp = 0xFFFD;
    utf8proc_ssize_t k = utf8proc_encode_char(cp, tmp);
    sb_putn(b, (const char *)tmp, (size_t)k);
}

/* A copy of s[0..n) with every invalid UTF-8 byte replaced by U+FFFD (jansson
 * refuses invalid strings; an undertrained model can emit any byte). */
static char *utf8_clean(const char *s, size_t n) {
    sbuf b = {0};
    sb_putn(&b, "", 0);
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            sb_put_cp(&b, 0xFFFD);
            i++;
            continue;
        }
        sb_putn(&b, s + i, (size_t)k);
        i += (size_t)k;
    }
    return b.p;
}

static bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(rd *r) {
    while (r->i < r->n && is_blank(r->s[r->i]))
        r->i++;
}

static bool at(const rd *r, size_t i, const char *lit) {
    size_t k = strlen(lit);
    return i + k <= r->n && memcmp(r->s + i, lit, k) == 0;
}

#define LDQUO "\xE2\x80\x9C" // “
#define RDQUO "\xE2\x80\x9D" // ”

/* Whether a quote ending at j (exclusive) closes the string: followed, after
 * blanks, by a JSON delimiter or the end, or by a new line and another quote
 * (a member on the next line with its comma missing). */
static bool closes_here(const rd *r, size_t j) {
    bool newline = false;
    while (j < r->n && is_blank(r->s[j]))
        newline |= r->s[j++] == '\n';
    if (j >= r->n) return true;
    char c = r->s[j];
    if (c == ',' || c == ':' || c == '}' || c == ']') return true;
    return newline && (c == '"' || c == '\'' || at(r, j, LDQUO));
}

static int hex4(const char *s) {
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Reads a quoted string at r->i (the opening quote). Returns owned text or
 * NULL with r->eof set when the text ends first. */
static char *read_string(rd *r) {
    bool typo = at(r, r->i, LDQUO);
    char q = typo ? 0 : r->s[r->i];
    r->i += typo ? 3 : 1;
    sbuf b = {0};
    sb_putn(&b, "", 0);
    while (r->i < r->n) {
        char c = r->s[r->i];
        size_t qlen = 0;
        if (typo) {
            if (at(r, r->i, RDQUO))
                qlen = 3;
            else if (c == '"')
                qlen = 1;
        } else if (c == q) {
            qlen = 1;
        }
        if (qlen && closes_here(r, r->i + qlen)) {
            r->i += qlen;
            char *out = utf8_clean(b.p, b.n);
            free(b.p);
            return out;
        }
        if (c == '\\') {
            if (r->i + 1 >= r->n) break;
            char e = r->s[r->i + 1];
            r->i += 2;
            switch (e) {
            case 'n':
                sb_putc(&b, '\n');
                break;
            case 't':
                sb_putc(&b, '\t');
                break;
            case 'r':
                sb_putc(&b, '\r');
                break;
            case 'b':
                sb_putc(&b, '\b');
                break;
            case 'f':
                sb_putc(&b, '\f');
                break;
            case 'u': {
                int v = r->i + 4 <= r->n ? hex4(r->s + r->i) : -1;
                if (v < 0) {
                    if (r->i + 4 > r->n) goto eof; // cut inside the escape
                    sb_putc(&b, 'u');
                    break;
                }
                r->i += 4;
                int32_t cp = v;
                if (v >= 0xD800 && v < 0xDC00 && r->i + 6 <= r->n && r->s[r->i] == '\\' &&
                    r->s[r->i + 1] == 'u') {
                    int lo = hex4(r->s + r->i + 2);
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        cp = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                        r->i += 6;
                    }
                }
                sb_put_cp(&b, cp);
                break;
            }
            default:
                sb_putc(&b, e); // \" \' \\ \/ and unknown escapes: the character
            }
            continue;
        }
        sb_putc(&b, c);
        r->i++;
    }
eof:
    free(b.p);
    r->eof = true;
    return NULL;
}

static bool ident_start(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool ident_char(char c) {
    return ident_start(c) || (c >= '0' && c <= '9');
}

static json_t *read_value(rd *r);

/* A key: a quoted string or a bare identifier. NULL: eof or syntax set. */
static char *read_key(rd *r) {
    char c = r->s[r->i];
    if (c == '"' || c == '\'' || at(r, r->i, LDQUO)) return read_string(r);
    if (!ident_start(c)) {
        r->syntax = true;
        return NULL;
    }
    size_t b = r->i;
    while (r->i < r->n && ident_char(r->s[r->i]))
        r->i++;
    if (r->i >= r->n) {
        r->eof = true;
        return NULL;
    }
    return mg_strndup(r->s + b, r->i - b);
}

static json_t *read_object(rd *r) {
    json_t *o = json_object();
    r->i++; // '{'
    for (;;) {
        skip_ws(r);
        if (r->i >= r->n) {
            r->eof = true;
            return o;
        }
        char c = r->s[r->i];
        if (c == '}') {
            r->i++;
            return o;
        }
        if (c == ',') {
            r->i++;
            continue;
        }
        char *key = read_key(r);
        if (!key) return o;
        skip_ws(r);
        if (r->i >= r->n || r->s[r->i] != ':') {
            if (r->i >= r->n)
                r->eof = true;
            else
                r->syntax = true;
            free(key);
            return o;
        }
        r->i++;
        skip_ws(r);
        json_t *v = read_value(r);
        if (v) json_object_set_new(o, key, v);
        free(key);
        if (!v || r->eof || r->syntax) return o;
    }
}

static json_t *read_array(rd *r) {
    json_t *a = json_array();
    r->i++; // '['
    for (;;) {
        skip_ws(r);
        if (r->i >= r->n) {
            r->eof = true;
            return a;
        }
        char c = r->s[r->i];
        if (c == ']') {
            r->i++;
            return a;
        }
        if (c == ',') {
            r->i++;
            continue;
        }
        json_t *v = read_value(r);
        if (v) json_array_append_new(a, v);
        if (!v || r->eof || r->syntax) return a;
    }
}

static json_t *read_number(rd *r) {
    size_t b = r->i;
    if (r->s[r->i] == '-' || r->s[r->i] == '+') r->i++;
    while (r->i < r->n &&
           ((r->s[r->i] >= '0' && r->s[r->i] <= '9') || r->s[r->i] == '.' || r->s[r->i] == 'e' ||
            r->s[r->i] == 'E' || r->s[r->i] == '-' || r->s[r->i] == '+'))
        r->i++;
    char *t = mg_strndup(r->s + b, r->i - b);
    char *end = NULL;
    double v = strtod(t, &end);
    bool ok = end && *end == 0 && end != t;
    free(t);
    if (!ok) {
        r->syntax = true;
        return NULL;
    }
    return json_real(v);
}

static json_t *read_value(rd *r) {
    skip_ws(r);
    if (r->i >= r->n) {
        r->eof = true;
        return NULL;
    }
    if (r->depth >= MAX_DEPTH) {
        r->syntax = true;
        return NULL;
    }
    char c = r->s[r->i];
    json_t *v = NULL;
    r->depth++;
    if (c == '{')
        v = read_object(r);
    else if (c == '[')
        v = read_array(r);
    else if (c == '"' || c == '\'' || at(r, r->i, LDQUO)) {
        char *s = read_string(r);
        if (s) {
            v = json_string(s);
            free(s);
        }
    } else if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
        v = read_number(r);
    } else {
        static const struct {
            const char *word;
            int kind; // 0 null, 1 true, 2 false
        } LIT[] = {{"true", 1}, {"false", 2}, {"null", 0}, {"True", 1}, {"False", 2}, {"None", 0}};
        for (size_t k = 0; k < sizeof LIT / sizeof LIT[0] && !v; k++) {
            size_t len = strlen(LIT[k].word);
            if (!at(r, r->i, LIT[k].word)) {
                // A literal cut by the end of the text ("tr").
                size_t rest = r->n - r->i;
                if (rest < len && memcmp(r->s + r->i, LIT[k].word, rest) == 0) {
                    r->eof = true;
                    r->depth--;
                    return NULL;
                }
                continue;
            }
            if (r->i + len < r->n && ident_char(r->s[r->i + len])) continue;
            r->i += len;
            v = LIT[k].kind == 0 ? json_null() : json_boolean(LIT[k].kind == 1);
        }
        if (!v) r->syntax = true;
    }
    r->depth--;
    return v;
}

static char *trim_dup(const char *s) {
    while (*s && is_blank(*s))
        s++;
    size_t n = strlen(s);
    while (n && is_blank(s[n - 1]))
        n--;
    return mg_strndup(s, n);
}

/* Collects the questions of v into out; sets *empty when a "Question" held
 * only blanks. */
static void walk(const json_t *v, mg_extracted *out, size_t *cap, bool *empty) {
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) walk(e, out, cap, empty);
        return;
    }
    if (!json_is_object(v)) return;
    const char *k;
    const json_t *e, *q = NULL, *why = NULL;
    json_object_foreach((json_t *)v, k, e) {
        if (!strcasecmp(k, "question") && !q) q = e;
        if (!strcasecmp(k, "reasoning") && !why) why = e;
    }
    if (!q) {
        json_object_foreach((json_t *)v, k, e) walk(e, out, cap, empty);
        return;
    }
    if (!json_is_string(q)) return;
    char *t = trim_dup(json_string_value(q));
    if (!*t) {
        free(t);
        *empty = true;
        return;
    }
    if (out->n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        out->items = mg_realloc(out->items, *cap * sizeof *out->items);
    }
    out->items[out->n].question = t;
    out->items[out->n].reasoning = json_is_string(why) ? trim_dup(json_string_value(why)) : NULL;
    out->n++;
}

mg_extract_reason mg_extract_questions(const char *reply, mg_extracted *out) {
    out->items = NULL;
    out->n = 0;
    size_t n = reply ? strlen(reply) : 0;
    size_t i = 0;
    while (i < n && (is_blank(reply[i])))
        i++;
    if (i == n) return MG_EXTRACT_EMPTY;
    // The most informative reason among the candidates that gave no question.
    static const int RANK[MG_EXTRACT_REASONS] = {[MG_EXTRACT_SYNTAX] = 1,
                                                 [MG_EXTRACT_NO_QUESTION] = 2,
                                                 [MG_EXTRACT_TRUNCATED] = 3,
                                                 [MG_EXTRACT_EMPTY_QUESTION] = 4};
    mg_extract_reason best = MG_EXTRACT_NO_JSON;
    size_t cap = 0;
    int tried = 0;
    while (i < n && tried < MAX_CANDIDATES) {
        if (reply[i] != '[' && reply[i] != '{') {
            i++;
            continue;
        }
        tried++;
        rd r = {.s = reply, .n = n, .i = i};
        json_t *v = read_value(&r);
        bool empty = false;
        if (v) walk(v, out, &cap, &empty);
        json_decref(v);
        if (out->n) return MG_EXTRACT_OK;
        mg_extract_reason why = empty      ? MG_EXTRACT_EMPTY_QUESTION
                                : r.eof    ? MG_EXTRACT_TRUNCATED
                                : r.syntax ? MG_EXTRACT_SYNTAX
                                           : MG_EXTRACT_NO_QUESTION;
        if (best == MG_EXTRACT_NO_JSON || RANK[why] > RANK[best]) best = why;
        // A value read cleanly holds no question anywhere inside: skip it.
        i = (!r.eof && !r.syntax && r.i > i) ? r.i : i + 1;
    }
    return best;
}

void mg_extracted_free(mg_extracted *x) {
    if (!x) return;
    for (size_t i = 0; i < x->n; i++) {
        free(x->items[i].question);
        free(x->items[i].reasoning);
    }
    free(x->items);
    x->items = NULL;
    x->n = 0;
}

const char *mg_extract_reason_name(mg_extract_reason r) {
    static const char *const NAMES[MG_EXTRACT_REASONS] = {
        "ok", "empty", "no_json", "syntax", "truncated", "no_question", "empty_question"};
    return (unsigned)r < MG_EXTRACT_REASONS ? NAMES[r] : "unknown";
}

char *mg_extract_normalize(const char *s) {
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t k =
        utf8proc_map((const utf8proc_uint8_t *)s, 0, &folded,
                     UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
    char *src;
    if (k < 0) { // invalid UTF-8: ASCII folding only
        src = mg_strdup(s);
        for (char *p = src; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    } else {
        src = mg_strdup((const char *)folded);
        free(folded);
    }
    char *out = mg_malloc(strlen(src) + 1);
    size_t o = 0;
    bool space = false;
    for (const char *p = src; *p; p++) {
        bool blank = is_blank(*p) || *p == '\v' || *p == '\f';
        if (blank) {
            space = o > 0;
            continue;
        }
        if (space) out[o++] = ' ';
        space = false;
        out[o++] = *p;
    }
    out[o] = 0;
    free(src);
    return out;
}
