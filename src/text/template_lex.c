/* template_lex.c - template preprocessing and tokenization (see template.h).
 *
 * The preprocessing steps are the ones @huggingface/jinja applies to every
 * template (its Template constructor sets lstrip_blocks and trim_blocks, as
 * transformers does for Jinja2): drop one trailing newline; lstrip_blocks
 * removes spaces and tabs between a line start and a following "{%", "{#" or
 * "{-"; trim_blocks removes the newline right after "%}", "#}" or "-}"; and the
 * transformers-only {% generation %} / {% endgeneration %} tags are removed
 * together with the whitespace around them unless a '-' asks to strip it.
 * Each output byte keeps the offset of its source byte, so errors point into
 * the text the user wrote. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/template_internal.h"

typedef struct pbuf {
    char *s;
    uint32_t *map;
    size_t n, cap;
} pbuf;

static void pb_put(pbuf *b, char c, uint32_t pos) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->s = mg_realloc(b->s, b->cap + 1);
        b->map = mg_realloc(b->map, (b->cap + 1) * sizeof *b->map);
    }
    b->s[b->n] = c;
    b->map[b->n++] = pos;
}

static void pb_free(pbuf *b) {
    free(b->s);
    free(b->map);
    memset(b, 0, sizeof *b);
}

// Line terminators of JavaScript's multiline '^': \n, \r, U+2028, U+2029.
static size_t line_term_len(const char *s, size_t n, size_t i) {
    if (s[i] == '\n' || s[i] == '\r') return 1;
    if (i + 2 < n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
        return 3;
    return 0;
}

static void lstrip_blocks(const pbuf *in, pbuf *out) {
    bool line_start = true;
    for (size_t i = 0; i < in->n;) {
        if (line_start) {
            size_t j = i;
            while (j < in->n && (in->s[j] == ' ' || in->s[j] == '\t'))
                j++;
            if (j + 1 < in->n && in->s[j] == '{' &&
                (in->s[j + 1] == '#' || in->s[j + 1] == '%' || in->s[j + 1] == '-'))
                i = j;
            line_start = false;
            continue;
        }
        size_t lt = line_term_len(in->s, in->n, i);
        if (lt) {
            for (size_t k = 0; k < lt; k++)
                pb_put(out, in->s[i + k], in->map[i + k]);
            i += lt;
            line_start = true;
            continue;
        }
        pb_put(out, in->s[i], in->map[i]);
        i++;
    }
}

static void trim_blocks(const pbuf *in, pbuf *out) {
    for (size_t i = 0; i < in->n;) {
        char c = in->s[i];
        if ((c == '#' || c == '%' || c == '-') && i + 2 < in->n && in->s[i + 1] == '}' &&
            in->s[i + 2] == '\n') {
            pb_put(out, c, in->map[i]);
            pb_put(out, '}', in->map[i + 1]);
            i += 3;
            continue;
        }
        pb_put(out, c, in->map[i]);
        i++;
    }
}

// Matches "{%-? \s* (end)?generation \s* -?%}" at s[i]; returns its end or 0.
static size_t match_generation(const pbuf *b, size_t i, bool *lstrip, bool *rstrip) {
    const char *s = b->s;
    size_t n = b->n;
    if (i + 1 >= n || s[i] != '{' || s[i + 1] != '%') return 0;
    size_t j = i + 2;
    *lstrip = j < n && s[j] == '-';
    if (*lstrip) j++;
    size_t w;
    while (j < n && (w = tpl_space_len(s, n, j)))
        j += w;
    if (j + 3 <= n && !memcmp(s + j, "end", 3) && j + 13 <= n &&
        !memcmp(s + j + 3, "generation", 10))
        j += 13;
    else if (j + 10 <= n && !memcmp(s + j, "generation", 10))
        j += 10;
    else
        return 0;
    while (j < n && (w = tpl_space_len(s, n, j)))
        j += w;
    *rstrip = j < n && s[j] == '-';
    if (*rstrip) j++;
    if (j + 1 < n && s[j] == '%' && s[j + 1] == '}') return j + 2;
    return 0;
}

static void strip_generation(const pbuf *in, pbuf *out) {
    size_t last = 0; // end of the previous replacement: leading whitespace starts here at most
    for (size_t i = 0; i < in->n;) {
        bool ls, rs;
        size_t end = match_generation(in, i, &ls, &rs);
        if (!end) {
            i++;
            continue;
        }
        // Leading whitespace run (the regex's greedy (\s*) starting as early as possible).
        size_t ws = i;
        while (ws > last) {
            size_t k = ws - 1;
            while (k > last && ((unsigned char)in->s[k] & 0xC0) == 0x80)
                k--;
            if (!tpl_space_len(in->s, in->n, k) || k + tpl_space_len(in->s, in->n, k) != ws) break;
            ws = k;
        }
        size_t after = end, w;
        while (after < in->n && (w = tpl_space_len(in->s, in->n, after)))
            after += w;
        for (size_t k = last; k < ws; k++)
            pb_put(out, in->s[k], in->map[k]);
        if (!ls)
            for (size_t k = ws; k < i; k++)
                pb_put(out, in->s[k], in->map[k]);
        if (!rs)
            for (size_t k = end; k < after; k++)
                pb_put(out, in->s[k], in->map[k]);
        last = i = after;
        if (after == end && end == ws) i++; // cannot happen (tag is non-empty); defensive
    }
    for (size_t k = last; k < in->n; k++)
        pb_put(out, in->s[k], in->map[k]);
}

static void preprocess(const char *src, size_t n, pbuf *res) {
    pbuf a = {0}, b = {0};
    if (n > 0 && src[n - 1] == '\n') n--;
    for (size_t i = 0; i < n; i++)
        pb_put(&a, src[i], (uint32_t)i);
    lstrip_blocks(&a, &b);
    a.n = 0;
    trim_blocks(&b, &a);
    strip_generation(&a, res);
    pb_free(&a);
    pb_free(&b);
    pb_put(res, '\0', (uint32_t)n); // sentinel: s[n] is readable
    res->n--;
}

/* ---- tokenizer ----------------------------------------------------------------- */

typedef struct lexer {
    tpl_pctx *p;
    const char *s;
    const uint32_t *map;
    size_t n, i;
    tpl_token *v;
    size_t nt, cap;
    int brace_depth;
    bool in_tag;
} lexer;

static size_t lx_pos(const lexer *L, size_t i) {
    return i < L->n ? L->map[i] : (L->n ? L->map[L->n - 1] + 1 : 0);
}

static tpl_token *lx_push(lexer *L, tpl_tok_kind k, size_t at) {
    if (L->nt == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        tpl_token *nv = tpl_alloc(L->p->arena, cap * sizeof *nv);
        if (L->nt) memcpy(nv, L->v, L->nt * sizeof *nv);
        L->v = nv;
        L->cap = cap;
    }
    tpl_token *t = &L->v[L->nt++];
    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)k;
    t->pos = (uint32_t)lx_pos(L, at);
    return t;
}

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// {%- / {{- : strip trailing whitespace of the previous text token.
static void strip_prev_text(lexer *L) {
    if (!L->nt || L->v[L->nt - 1].kind != TK_TEXT) return;
    tpl_token *t = &L->v[L->nt - 1];
    size_t e = t->n;
    while (e > 0) {
        size_t k = e - 1;
        while (k > 0 && ((unsigned char)t->s[k] & 0xC0) == 0x80)
            k--;
        if (tpl_space_len(t->s, t->n, k) != e - k) break;
        e = k;
    }
    t->n = e;
    if (e == 0) L->nt--;
}

static void skip_space(lexer *L) {
    size_t w;
    while (L->i < L->n && (w = tpl_space_len(L->s, L->n, L->i)))
        L->i += w;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void lex_string(lexer *L) {
    char q = L->s[L->i];
    size_t start = L->i++;
    // Unescaped length <= raw length, so one allocation suffices.
    size_t cap = 0;
    for (size_t j = L->i; j < L->n && L->s[j] != q; j++) {
        if (L->s[j] == '\\') j++;
        cap = j - L->i + 2;
    }
    char *out = tpl_alloc(L->p->arena, cap + 8);
    size_t o = 0;
    uint32_t pending_hi = 0; // a \uD8xx waiting for its low surrogate
    for (;;) {
        if (L->i >= L->n) tpl_parse_fail(L->p, lx_pos(L, start), "unterminated string literal");
        char c = L->s[L->i];
        if (c == q) break;
        if (c != '\\') {
            if (pending_hi) o += tpl_utf8_encode(0xFFFD, out + o), pending_hi = 0;
            out[o++] = c;
            L->i++;
            continue;
        }
        if (L->i + 1 >= L->n) tpl_parse_fail(L->p, lx_pos(L, start), "unterminated string literal");
        char e = L->s[L->i + 1];
        L->i += 2;
        uint32_t cp = 0;
        int nhex = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (nhex) {
            for (int k = 0; k < nhex; k++) {
                int h = L->i + k < L->n ? hexval(L->s[L->i + k]) : -1;
                if (h < 0)
                    tpl_parse_fail(L->p, lx_pos(L, L->i - 2),
                                   "invalid \\%c escape in string literal", e);
                cp = cp * 16 + (uint32_t)h;
            }
            L->i += (size_t)nhex;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (pending_hi) o += tpl_utf8_encode(0xFFFD, out + o);
                pending_hi = cp;
                continue;
            }
            if (cp >= 0xDC00 && cp < 0xE000) {
                cp = pending_hi ? 0x10000 + ((pending_hi - 0xD800) << 10) + (cp - 0xDC00) : 0xFFFD;
                pending_hi = 0;
            } else if (cp > 0x10FFFF) {
                cp = 0xFFFD;
            }
            if (pending_hi) o += tpl_utf8_encode(0xFFFD, out + o), pending_hi = 0;
            o += tpl_utf8_encode(cp, out + o);
            continue;
        }
        if (pending_hi) o += tpl_utf8_encode(0xFFFD, out + o), pending_hi = 0;
        switch (e) {
        case 'n':
            out[o++] = '\n';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'v':
            out[o++] = '\v';
            break;
        case '\'':
            out[o++] = '\'';
            break;
        case '"':
            out[o++] = '"';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        default:
            // Python keeps unknown escapes as written.
            out[o++] = '\\';
            out[o++] = e;
        }
    }
    if (pending_hi) o += tpl_utf8_encode(0xFFFD, out + o);
    L->i++; // closing quote
    out[o] = '\0';
    tpl_token *t = lx_push(L, TK_STRING, start);
    t->s = out;
    t->n = o;
}

static const struct {
    const char *s;
    tpl_op op;
} OPS[] = {
    {"**", OP_POW},   {"//", OP_FLOORDIV}, {"==", OP_EQ},    {"!=", OP_NE},      {"<=", OP_LE},
    {">=", OP_GE},    {"(", OP_LPAREN},    {")", OP_RPAREN}, {"[", OP_LBRACKET}, {"]", OP_RBRACKET},
    {"{", OP_LBRACE}, {"}", OP_RBRACE},    {",", OP_COMMA},  {".", OP_DOT},      {":", OP_COLON},
    {"|", OP_PIPE},   {"<", OP_LT},        {">", OP_GT},     {"+", OP_ADD},      {"-", OP_SUB},
    {"~", OP_TILDE},  {"*", OP_MUL},       {"/", OP_DIV},    {"%", OP_MOD},      {"=", OP_ASSIGN},
};

static void lex_text(lexer *L) {
    size_t start = L->i;
    while (L->i < L->n) {
        if (L->s[L->i] == '{' && L->i + 1 < L->n &&
            (L->s[L->i + 1] == '%' || L->s[L->i + 1] == '{' || L->s[L->i + 1] == '#'))
            break;
        L->i++;
    }
    if (L->i > start) {
        tpl_token *t = lx_push(L, TK_TEXT, start);
        t->s = L->s + start;
        t->n = L->i - start;
    }
}

static void lex_comment(lexer *L) {
    size_t start = L->i;
    L->i += 2;
    bool strip_before = L->i < L->n && L->s[L->i] == '-';
    size_t body = L->i;
    while (!(L->i + 1 < L->n && L->s[L->i] == '#' && L->s[L->i + 1] == '}')) {
        if (L->i + 1 >= L->n)
            tpl_parse_fail(L->p, lx_pos(L, start), "unterminated comment {# ... #}");
        L->i++;
    }
    bool strip_after = L->i > body && L->s[L->i - 1] == '-';
    if (strip_before) strip_prev_text(L);
    lx_push(L, TK_COMMENT, start);
    L->i += 2;
    if (strip_after) skip_space(L);
}

void tpl_lex(tpl_pctx *p, const char *src, size_t n, tpl_lexed *out) {
    pbuf pre = {0};
    preprocess(src, n, &pre);
    // Keep the preprocessed text in the arena: TEXT tokens point into it.
    char *s = tpl_strdup(p->arena, pre.s, pre.n);
    uint32_t *map = tpl_alloc(p->arena, (pre.n + 1) * sizeof *map);
    memcpy(map, pre.map, (pre.n + 1) * sizeof *map);
    size_t len = pre.n;
    pb_free(&pre);

    lexer L = {.p = p, .s = s, .map = map, .n = len};
    size_t open_at = 0;
    tpl_tok_kind open_kind = TK_EOF;
    while (L.i < L.n) {
        if (!L.in_tag) {
            lex_text(&L);
            if (L.i >= L.n) break;
            if (L.s[L.i + 1] == '#') {
                lex_comment(&L);
                continue;
            }
            // "{%" or "{{"
            open_at = L.i;
            bool stmt = L.s[L.i + 1] == '%';
            L.i += 2;
            if (L.i < L.n && L.s[L.i] == '-') {
                strip_prev_text(&L);
                L.i++;
            }
            open_kind = stmt ? TK_OPEN_STMT : TK_OPEN_EXPR;
            lx_push(&L, open_kind, open_at);
            L.in_tag = true;
            L.brace_depth = 0;
            continue;
        }
        skip_space(&L);
        if (L.i >= L.n) break;
        const char *c = L.s + L.i;
        size_t left = L.n - L.i;
        // Closing tags, with and without whitespace control.
        if (left >= 3 && c[0] == '-' &&
            ((c[1] == '%' && c[2] == '}') || (c[1] == '}' && c[2] == '}' && L.brace_depth == 0))) {
            tpl_tok_kind k = c[1] == '%' ? TK_CLOSE_STMT : TK_CLOSE_EXPR;
            lx_push(&L, k, L.i);
            L.i += 3;
            skip_space(&L);
            L.in_tag = false;
            continue;
        }
        if (left >= 2 &&
            ((c[0] == '%' && c[1] == '}') || (c[0] == '}' && c[1] == '}' && L.brace_depth == 0))) {
            lx_push(&L, c[0] == '%' ? TK_CLOSE_STMT : TK_CLOSE_EXPR, L.i);
            L.i += 2;
            L.in_tag = false;
            continue;
        }
        if (c[0] == '\'' || c[0] == '"') {
            lex_string(&L);
            continue;
        }
        if (is_digit(c[0])) {
            size_t st = L.i;
            while (L.i < L.n && is_digit(L.s[L.i]))
                L.i++;
            bool isf = false;
            bool after_dot = L.nt && L.v[L.nt - 1].kind == TK_OP && L.v[L.nt - 1].op == OP_DOT;
            if (!after_dot && L.i + 1 < L.n && L.s[L.i] == '.' && is_digit(L.s[L.i + 1])) {
                isf = true;
                L.i++;
                while (L.i < L.n && is_digit(L.s[L.i]))
                    L.i++;
            }
            char num[64];
            size_t nl = L.i - st;
            if (nl >= sizeof num) tpl_parse_fail(p, lx_pos(&L, st), "number literal too long");
            memcpy(num, L.s + st, nl);
            num[nl] = '\0';
            tpl_token *t = lx_push(&L, isf ? TK_FLOAT : TK_INT, st);
            if (isf) {
                t->f = strtod(num, NULL);
            } else {
                errno = 0;
                unsigned long long v = strtoull(num, NULL, 10);
                if (errno || v > INT64_MAX)
                    tpl_parse_fail(p, lx_pos(&L, st), "integer literal %s out of range", num);
                t->i = (int64_t)v;
            }
            continue;
        }
        if (is_word(c[0])) {
            size_t st = L.i;
            while (L.i < L.n && is_word(L.s[L.i]))
                L.i++;
            tpl_token *t = lx_push(&L, TK_NAME, st);
            t->s = L.s + st;
            t->n = L.i - st;
            continue;
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof OPS / sizeof OPS[0]; k++) {
            size_t ol = strlen(OPS[k].s);
            if (left >= ol && !memcmp(c, OPS[k].s, ol)) {
                tpl_token *t = lx_push(&L, TK_OP, L.i);
                t->op = (uint8_t)OPS[k].op;
                if (OPS[k].op == OP_LBRACE) L.brace_depth++;
                if (OPS[k].op == OP_RBRACE && L.brace_depth > 0) L.brace_depth--;
                L.i += ol;
                matched = true;
                break;
            }
        }
        if (matched) continue;
        size_t cl;
        uint32_t cp = tpl_utf8_decode(L.s, L.n, L.i, &cl);
        if (cp >= 0x20 && cp < 0x7f)
            tpl_parse_fail(p, lx_pos(&L, L.i), "unexpected character '%c' inside %s", (char)cp,
                           open_kind == TK_OPEN_STMT ? "{% ... %}" : "{{ ... }}");
        tpl_parse_fail(p, lx_pos(&L, L.i), "unexpected character U+%04X inside %s", (unsigned)cp,
                       open_kind == TK_OPEN_STMT ? "{% ... %}" : "{{ ... }}");
    }
    if (L.in_tag)
        tpl_parse_fail(p, lx_pos(&L, open_at), "unterminated %s: missing %s",
                       open_kind == TK_OPEN_STMT ? "statement {% ..." : "expression {{ ...",
                       open_kind == TK_OPEN_STMT ? "'%}'" : "'}}'");
    lx_push(&L, TK_EOF, L.n);
    out->v = L.v;
    out->n = L.nt;
}
