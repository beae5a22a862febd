/* template_value.c - arena, UTF-8 helpers, runtime values and their Python
 * formatting (str, repr, json.dumps), equality and ordering. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/alloc.h"
#include "text/template_internal.h"

tpl_value tpl_undef = {.type = TV_UNDEF};
tpl_value tpl_none = {.type = TV_NONE};
tpl_value tpl_true = {.type = TV_BOOL, .u.b = true};
tpl_value tpl_false = {.type = TV_BOOL, .u.b = false};

/* ---- arena ---------------------------------------------------------------------- */

struct tpl_chunk {
    tpl_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

enum { CHUNK = 64 * 1024 };

void *tpl_alloc(tpl_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    tpl_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK / 4 ? n : CHUNK;
        size_t total = sizeof(tpl_chunk) + cap;
        if (a->budget && (a->used + total > a->budget || total < cap)) {
            if (a->overflow) a->overflow(a->ctx);
        }
        tpl_chunk *nc = mg_malloc(total);
        nc->cap = cap;
        nc->used = 0;
        a->used += total;
        if (cap == n && c) { // big block: keep filling the current chunk afterwards
            nc->next = c->next;
            c->next = nc;
            nc->used = n;
            memset(nc->data, 0, n);
            return nc->data;
        }
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *tpl_strdup(tpl_arena *a, const char *s, size_t n) {
    char *p = tpl_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void tpl_arena_free(tpl_arena *a) {
    tpl_chunk *c = a->head;
    while (c) {
        tpl_chunk *nx = c->next;
        free(c);
        c = nx;
    }
    a->head = NULL;
    a->used = 0;
}

/* ---- UTF-8 ------------------------------------------------------------------------ */

uint32_t tpl_utf8_decode(const char *s, size_t n, size_t i, size_t *len) {
    unsigned char c = (unsigned char)s[i];
    size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + l > n) l = 1;
    uint32_t cp = l == 1 ? c : l == 2 ? c & 0x1F : l == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < l; k++)
        cp = cp << 6 | ((unsigned char)s[i + k] & 0x3F);
    *len = l;
    return cp;
}

size_t tpl_utf8_encode(uint32_t cp, char *b) {
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | cp >> 18);
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool tpl_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

size_t tpl_space_len(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    size_t l;
    uint32_t cp = tpl_utf8_decode(s, n, i, &l);
    return tpl_is_space(cp) ? l : 0;
}

size_t tpl_utf8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

void tpl_line_col(const char *src, size_t n, size_t pos, int *line, int *col) {
    int l = 1, c = 1;
    if (pos > n) pos = n;
    for (size_t i = 0; i < pos; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* ---- values ------------------------------------------------------------------------- */

tpl_value *tpl_new(tpl_render *r, tpl_type t) {
    tpl_value *v = tpl_alloc(&r->arena, sizeof *v);
    v->type = (uint8_t)t;
    return v;
}

tpl_value *tpl_int(tpl_render *r, int64_t i) {
    tpl_value *v = tpl_new(r, TV_INT);
    v->u.i = i;
    return v;
}

tpl_value *tpl_float(tpl_render *r, double f) {
    tpl_value *v = tpl_new(r, TV_FLOAT);
    v->u.f = f;
    return v;
}

tpl_value *tpl_bool(bool b) {
    return b ? &tpl_true : &tpl_false;
}

tpl_value *tpl_str_nocopy(tpl_render *r, const char *s, size_t n) {
    tpl_value *v = tpl_new(r, TV_STR);
    v->u.s.p = s;
    v->u.s.n = n;
    return v;
}

tpl_value *tpl_str(tpl_render *r, const char *s, size_t n) {
    return tpl_str_nocopy(r, tpl_strdup(&r->arena, s, n), n);
}

tpl_value *tpl_list(tpl_render *r, size_t n) {
    tpl_value *v = tpl_new(r, TV_LIST);
    uint64_t bytes;
    if (!mg_size_mul(n, sizeof(tpl_value *), &bytes) || bytes > SIZE_MAX / 2)
        tpl_fail(r, NULL, MG_ERR_INVALID, "list too large");
    v->u.l.v = tpl_alloc(&r->arena, (size_t)bytes);
    v->u.l.n = n;
    return v;
}

tpl_value *tpl_dict(tpl_render *r) {
    return tpl_new(r, TV_DICT);
}

tpl_value *tpl_dict_get(const tpl_value *d, const char *k, size_t kn) {
    for (size_t i = 0; i < d->u.d.n; i++)
        if (d->u.d.kv[i].kn == kn && !memcmp(d->u.d.kv[i].k, k, kn)) return d->u.d.kv[i].v;
    return NULL;
}

void tpl_dict_set(tpl_render *r, tpl_value *d, const char *k, size_t kn, tpl_value *v) {
    for (size_t i = 0; i < d->u.d.n; i++)
        if (d->u.d.kv[i].kn == kn && !memcmp(d->u.d.kv[i].k, k, kn)) {
            d->u.d.kv[i].v = v;
            return;
        }
    if (d->u.d.n == d->u.d.cap) {
        size_t cap = d->u.d.cap ? d->u.d.cap * 2 : 4;
        tpl_kv *nkv = tpl_alloc(&r->arena, cap * sizeof *nkv);
        if (d->u.d.n) memcpy(nkv, d->u.d.kv, d->u.d.n * sizeof *nkv);
        d->u.d.kv = nkv;
        d->u.d.cap = cap;
    }
    d->u.d.kv[d->u.d.n++] = (tpl_kv){k, kn, v};
}

/* ---- buffers ----------------------------------------------------------------------- */

void tpl_buf_put(tpl_render *r, tpl_buf *b, const char *s, size_t n) {
    if (!n) return;
    if (b == r->out && r->lim.max_output && b->n + n > r->lim.max_output)
        tpl_fail(r, NULL, MG_ERR_INVALID, "rendered text exceeds the output limit of %zu bytes",
                 r->lim.max_output);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) {
            if (cap > SIZE_MAX / 4) tpl_fail(r, NULL, MG_ERR_INVALID, "string too large");
            cap *= 2;
        }
        char *np = tpl_alloc(&r->arena, cap);
        if (b->n) memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void tpl_buf_putc(tpl_render *r, tpl_buf *b, char c) {
    tpl_buf_put(r, b, &c, 1);
}

static void buf_printf(tpl_render *r, tpl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void buf_printf(tpl_render *r, tpl_buf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) tpl_buf_put(r, b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* ---- formatting -------------------------------------------------------------------- */

// Python's float repr: shortest round-trip digits; scientific when exp < -4 or >= 16.
void tpl_format_float(double f, char *out, size_t cap) {
    if (isnan(f)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(out, cap, f < 0 ? "-inf" : "inf");
        return;
    }
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    // buf = [-]d[.ddd]e[+-]XX
    char digits[24];
    size_t nd = 0;
    const char *p = buf;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    char res[64];
    size_t o = 0;
    if (neg) res[o++] = '-';
    if (exp < -4 || exp >= 16) {
        res[o++] = digits[0];
        if (nd > 1) {
            res[o++] = '.';
            for (size_t k = 1; k < nd; k++)
                res[o++] = digits[k];
        }
        o += (size_t)snprintf(res + o, sizeof res - o, "e%c%02d", exp < 0 ? '-' : '+',
                              exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        res[o++] = '0';
        res[o++] = '.';
        for (int k = 0; k < -exp - 1; k++)
            res[o++] = '0';
        for (size_t k = 0; k < nd; k++)
            res[o++] = digits[k];
    } else {
        for (int k = 0; k <= exp; k++)
            res[o++] = (size_t)k < nd ? digits[k] : '0';
        res[o++] = '.';
        if ((size_t)exp + 1 < nd)
            for (size_t k = (size_t)exp + 1; k < nd; k++)
                res[o++] = digits[k];
        else
            res[o++] = '0';
    }
    res[o] = '\0';
    snprintf(out, cap, "%s", res);
}

static bool py_printable(uint32_t cp) {
    if (cp == ' ') return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    switch (c) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return false;
    default:
        return true;
    }
}

static void write_str_repr(tpl_render *r, tpl_buf *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    tpl_buf_putc(r, b, q);
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t cp = tpl_utf8_decode(s, n, i, &l);
        if (cp == (uint32_t)q || cp == '\\') {
            tpl_buf_putc(r, b, '\\');
            tpl_buf_putc(r, b, (char)cp);
        } else if (cp == '\n') {
            tpl_buf_put(r, b, "\\n", 2);
        } else if (cp == '\r') {
            tpl_buf_put(r, b, "\\r", 2);
        } else if (cp == '\t') {
            tpl_buf_put(r, b, "\\t", 2);
        } else if (!py_printable(cp)) {
            if (cp < 0x100)
                buf_printf(r, b, "\\x%02x", (unsigned)cp);
            else if (cp < 0x10000)
                buf_printf(r, b, "\\u%04x", (unsigned)cp);
            else
                buf_printf(r, b, "\\U%08x", (unsigned)cp);
        } else {
            tpl_buf_put(r, b, s + i, l);
        }
        i += l;
    }
    tpl_buf_putc(r, b, q);
}

static void check_depth(tpl_render *r, const tpl_node *at, int depth) {
    if (depth > 512)
        tpl_fail(r, at, MG_ERR_INVALID, "value nested too deeply (or contains itself)");
}

void tpl_write_repr(tpl_render *r, tpl_buf *b, const tpl_value *v, const tpl_node *at, int depth) {
    check_depth(r, at, depth);
    switch (v->type) {
    case TV_STR:
        write_str_repr(r, b, v->u.s.p, v->u.s.n);
        return;
    case TV_UNDEF:
        tpl_buf_put(r, b, "Undefined", 9);
        return;
    case TV_LIST: {
        tpl_buf_putc(r, b, v->tuple ? '(' : '[');
        for (size_t i = 0; i < v->u.l.n; i++) {
            if (i) tpl_buf_put(r, b, ", ", 2);
            tpl_write_repr(r, b, v->u.l.v[i], at, depth + 1);
        }
        if (v->tuple && v->u.l.n == 1) tpl_buf_putc(r, b, ',');
        tpl_buf_putc(r, b, v->tuple ? ')' : ']');
        return;
    }
    case TV_DICT:
    case TV_NS: {
        if (v->type == TV_NS) tpl_buf_put(r, b, "<Namespace ", 11);
        tpl_buf_putc(r, b, '{');
        for (size_t i = 0; i < v->u.d.n; i++) {
            if (i) tpl_buf_put(r, b, ", ", 2);
            write_str_repr(r, b, v->u.d.kv[i].k, v->u.d.kv[i].kn);
            tpl_buf_put(r, b, ": ", 2);
            tpl_write_repr(r, b, v->u.d.kv[i].v, at, depth + 1);
        }
        tpl_buf_putc(r, b, '}');
        if (v->type == TV_NS) tpl_buf_putc(r, b, '>');
        return;
    }
    default:
        tpl_write_str(r, b, v, at);
    }
}

void tpl_write_str(tpl_render *r, tpl_buf *b, const tpl_value *v, const tpl_node *at) {
    char tmp[64];
    switch (v->type) {
    case TV_UNDEF:
        return;
    case TV_NONE:
        tpl_buf_put(r, b, "None", 4);
        return;
    case TV_BOOL:
        if (v->u.b)
            tpl_buf_put(r, b, "True", 4);
        else
            tpl_buf_put(r, b, "False", 5);
        return;
    case TV_INT:
        buf_printf(r, b, "%lld", (long long)v->u.i);
        return;
    case TV_FLOAT:
        tpl_format_float(v->u.f, tmp, sizeof tmp);
        tpl_buf_put(r, b, tmp, strlen(tmp));
        return;
    case TV_STR:
        tpl_buf_put(r, b, v->u.s.p, v->u.s.n);
        return;
    case TV_FUNC:
        buf_printf(r, b, "<function %s>", v->u.fn.name ? v->u.fn.name : "?");
        return;
    default:
        tpl_write_repr(r, b, v, at, 0);
    }
}

tpl_value *tpl_to_str(tpl_render *r, tpl_value *v, const tpl_node *at) {
    if (v->type == TV_STR) return v;
    tpl_buf b = {0};
    tpl_write_str(r, &b, v, at);
    return tpl_str_nocopy(r, b.p ? b.p : "", b.n);
}

static void write_json_str(tpl_render *r, tpl_buf *b, const char *s, size_t n, bool ascii) {
    tpl_buf_putc(r, b, '"');
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t cp = tpl_utf8_decode(s, n, i, &l);
        switch (cp) {
        case '"':
            tpl_buf_put(r, b, "\\\"", 2);
            break;
        case '\\':
            tpl_buf_put(r, b, "\\\\", 2);
            break;
        case '\n':
            tpl_buf_put(r, b, "\\n", 2);
            break;
        case '\r':
            tpl_buf_put(r, b, "\\r", 2);
            break;
        case '\t':
            tpl_buf_put(r, b, "\\t", 2);
            break;
        case '\b':
            tpl_buf_put(r, b, "\\b", 2);
            break;
        case '\f':
            tpl_buf_put(r, b, "\\f", 2);
            break;
        default:
            if (cp < 0x20 || (ascii && cp >= 0x7F)) {
                if (cp >= 0x10000) {
                    uint32_t c2 = cp - 0x10000;
                    buf_printf(r, b, "\\u%04x\\u%04x", 0xD800 + (c2 >> 10), 0xDC00 + (c2 & 0x3FF));
                } else {
                    buf_printf(r, b, "\\u%04x", (unsigned)cp);
                }
            } else {
                tpl_buf_put(r, b, s + i, l);
            }
        }
        i += l;
    }
    tpl_buf_putc(r, b, '"');
}

static void json_newline(tpl_render *r, tpl_buf *b, int indent, int level) {
    tpl_buf_putc(r, b, '\n');
    for (int k = 0; k < indent * level; k++)
        tpl_buf_putc(r, b, ' ');
}

static int kv_cmp(const void *a, const void *b) {
    const tpl_kv *x = a, *y = b;
    size_t m = x->kn < y->kn ? x->kn : y->kn;
    int c = memcmp(x->k, y->k, m);
    return c ? c : (x->kn > y->kn) - (x->kn < y->kn);
}

void tpl_write_json(tpl_render *r, tpl_buf *b, const tpl_value *v, const tpl_json_opts *o,
                    const tpl_node *at, int depth) {
    check_depth(r, at, depth);
    char tmp[64];
    switch (v->type) {
    case TV_UNDEF:
    case TV_NONE:
        tpl_buf_put(r, b, "null", 4);
        return;
    case TV_BOOL:
        if (v->u.b)
            tpl_buf_put(r, b, "true", 4);
        else
            tpl_buf_put(r, b, "false", 5);
        return;
    case TV_INT:
        buf_printf(r, b, "%lld", (long long)v->u.i);
        return;
    case TV_FLOAT:
        if (isnan(v->u.f))
            tpl_buf_put(r, b, "NaN", 3);
        else if (isinf(v->u.f))
            tpl_buf_put(r, b, v->u.f < 0 ? "-Infinity" : "Infinity", v->u.f < 0 ? 9 : 8);
        else {
            tpl_format_float(v->u.f, tmp, sizeof tmp);
            tpl_buf_put(r, b, tmp, strlen(tmp));
        }
        return;
    case TV_STR:
        write_json_str(r, b, v->u.s.p, v->u.s.n, o->ensure_ascii);
        return;
    case TV_LIST: {
        tpl_buf_putc(r, b, '[');
        for (size_t i = 0; i < v->u.l.n; i++) {
            if (i) tpl_buf_put(r, b, o->item_sep, strlen(o->item_sep));
            if (o->indent >= 0) json_newline(r, b, o->indent, depth + 1);
            tpl_write_json(r, b, v->u.l.v[i], o, at, depth + 1);
        }
        if (o->indent >= 0 && v->u.l.n) json_newline(r, b, o->indent, depth);
        tpl_buf_putc(r, b, ']');
        return;
    }
    case TV_DICT:
    case TV_NS: {
        const tpl_kv *kv = v->u.d.kv;
        if (o->sort_keys && v->u.d.n > 1) {
            tpl_kv *s = tpl_alloc(&r->arena, v->u.d.n * sizeof *s);
            memcpy(s, kv, v->u.d.n * sizeof *s);
            qsort(s, v->u.d.n, sizeof *s, kv_cmp);
            kv = s;
        }
        tpl_buf_putc(r, b, '{');
        for (size_t i = 0; i < v->u.d.n; i++) {
            if (i) tpl_buf_put(r, b, o->item_sep, strlen(o->item_sep));
            if (o->indent >= 0) json_newline(r, b, o->indent, depth + 1);
            write_json_str(r, b, kv[i].k, kv[i].kn, o->ensure_ascii);
            tpl_buf_put(r, b, o->key_sep, strlen(o->key_sep));
            tpl_write_json(r, b, kv[i].v, o, at, depth + 1);
        }
        if (o->indent >= 0 && v->u.d.n) json_newline(r, b, o->indent, depth);
        tpl_buf_putc(r, b, '}');
        return;
    }
    default:
        tpl_fail(r, at, MG_ERR_INVALID, "tojson: cannot serialize a %s", tpl_type_name(v));
    }
}

const char *tpl_type_name(const tpl_value *v) {
    switch (v->type) {
    case TV_UNDEF:
        return "undefined";
    case TV_NONE:
        return "none";
    case TV_BOOL:
        return "bool";
    case TV_INT:
        return "int";
    case TV_FLOAT:
        return "float";
    case TV_STR:
        return "str";
    case TV_LIST:
        return v->tuple ? "tuple" : "list";
    case TV_DICT:
        return "dict";
    case TV_NS:
        return "namespace";
    case TV_FUNC:
        return "function";
    }
    return "?";
}

bool tpl_truthy(const tpl_value *v) {
    switch (v->type) {
    case TV_UNDEF:
    case TV_NONE:
        return false;
    case TV_BOOL:
        return v->u.b;
    case TV_INT:
        return v->u.i != 0;
    case TV_FLOAT:
        return v->u.f != 0;
    case TV_STR:
        return v->u.s.n > 0;
    case TV_LIST:
        return v->u.l.n > 0;
    case TV_DICT:
        return v->u.d.n > 0;
    default:
        return true;
    }
}

static bool is_num(const tpl_value *v) {
    return v->type == TV_INT || v->type == TV_FLOAT || v->type == TV_BOOL;
}
static double num_of(const tpl_value *v) {
    return v->type == TV_FLOAT ? v->u.f : v->type == TV_INT ? (double)v->u.i : (double)v->u.b;
}

bool tpl_equal(const tpl_value *a, const tpl_value *b, int depth) {
    if (depth > 512) return a == b;
    if (is_num(a) && is_num(b)) {
        if (a->type != TV_FLOAT && b->type != TV_FLOAT) {
            int64_t x = a->type == TV_INT ? a->u.i : a->u.b,
                    y = b->type == TV_INT ? b->u.i : b->u.b;
            return x == y;
        }
        return num_of(a) == num_of(b);
    }
    if (a->type != b->type) return false;
    switch (a->type) {
    case TV_UNDEF:
    case TV_NONE:
        return true;
    case TV_STR:
        return a->u.s.n == b->u.s.n && !memcmp(a->u.s.p, b->u.s.p, a->u.s.n);
    case TV_LIST:
        if (a->tuple != b->tuple || a->u.l.n != b->u.l.n) return false;
        for (size_t i = 0; i < a->u.l.n; i++)
            if (!tpl_equal(a->u.l.v[i], b->u.l.v[i], depth + 1)) return false;
        return true;
    case TV_DICT:
        if (a->u.d.n != b->u.d.n) return false;
        for (size_t i = 0; i < a->u.d.n; i++) {
            tpl_value *o = tpl_dict_get(b, a->u.d.kv[i].k, a->u.d.kv[i].kn);
            if (!o || !tpl_equal(a->u.d.kv[i].v, o, depth + 1)) return false;
        }
        return true;
    case TV_FUNC:
        return a->u.fn.native == b->u.fn.native && a->u.fn.self == b->u.fn.self &&
               a->u.fn.macro == b->u.fn.macro;
    default:
        return a == b;
    }
}

int tpl_compare(tpl_render *r, const tpl_value *a, const tpl_value *b, const tpl_node *at) {
    if (is_num(a) && is_num(b)) {
        if (a->type != TV_FLOAT && b->type != TV_FLOAT) {
            int64_t x = a->type == TV_INT ? a->u.i : a->u.b,
                    y = b->type == TV_INT ? b->u.i : b->u.b;
            return (x > y) - (x < y);
        }
        double x = num_of(a), y = num_of(b);
        return (x > y) - (x < y);
    }
    if (a->type == TV_STR && b->type == TV_STR) {
        size_t m = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int c = memcmp(a->u.s.p, b->u.s.p, m);
        if (c) return c < 0 ? -1 : 1;
        return (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
    }
    if (a->type == TV_LIST && b->type == TV_LIST) {
        size_t m = a->u.l.n < b->u.l.n ? a->u.l.n : b->u.l.n;
        for (size_t i = 0; i < m; i++) {
            if (tpl_equal(a->u.l.v[i], b->u.l.v[i], 0)) continue;
            return tpl_compare(r, a->u.l.v[i], b->u.l.v[i], at);
        }
        return (a->u.l.n > b->u.l.n) - (a->u.l.n < b->u.l.n);
    }
    tpl_fail(r, at, MG_ERR_INVALID, "cannot compare %s with %s", tpl_type_name(a),
             tpl_type_name(b));
}

tpl_value *tpl_from_json(tpl_render *r, const void *jv, int depth) {
    const json_t *j = jv;
    if (depth > 256) tpl_fail(r, NULL, MG_ERR_INVALID, "context JSON nested too deeply");
    switch (json_typeof(j)) {
    case JSON_NULL:
        return &tpl_none;
    case JSON_TRUE:
        return &tpl_true;
    case JSON_FALSE:
        return &tpl_false;
    case JSON_INTEGER:
        return tpl_int(r, (int64_t)json_integer_value(j));
    case JSON_REAL:
        return tpl_float(r, json_real_value(j));
    case JSON_STRING:
        return tpl_str_nocopy(r, json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        tpl_value *l = tpl_list(r, n);
        for (size_t i = 0; i < n; i++)
            l->u.l.v[i] = tpl_from_json(r, json_array_get(j, i), depth + 1);
        return l;
    }
    case JSON_OBJECT: {
        tpl_value *d = tpl_dict(r);
        const char *k;
        json_t *x;
        size_t n = json_object_size(j);
        d->u.d.kv = tpl_alloc(&r->arena, (n ? n : 1) * sizeof *d->u.d.kv);
        d->u.d.cap = n;
        json_object_foreach((json_t *)j, k, x) {
            d->u.d.kv[d->u.d.n++] = (tpl_kv){k, strlen(k), tpl_from_json(r, x, depth + 1)};
        }
        return d;
    }
    }
    return &tpl_undef;
}

/* ---- scopes ------------------------------------------------------------------------ */

tpl_scope *tpl_scope_new(tpl_render *r, tpl_scope *parent) {
    tpl_scope *s = tpl_alloc(&r->arena, sizeof *s);
    s->parent = parent;
    return s;
}

void tpl_scope_set(tpl_render *r, tpl_scope *s, const char *k, size_t kn, tpl_value *v) {
    for (size_t i = 0; i < s->n; i++)
        if (s->vars[i].kn == kn && !memcmp(s->vars[i].k, k, kn)) {
            s->vars[i].v = v;
            return;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        tpl_kv *nv = tpl_alloc(&r->arena, cap * sizeof *nv);
        if (s->n) memcpy(nv, s->vars, s->n * sizeof *nv);
        s->vars = nv;
        s->cap = cap;
    }
    s->vars[s->n++] = (tpl_kv){k, kn, v};
}

tpl_value *tpl_scope_lookup(tpl_scope *s, const char *k, size_t kn) {
    for (; s; s = s->parent)
        for (size_t i = 0; i < s->n; i++)
            if (s->vars[i].kn == kn && !memcmp(s->vars[i].k, k, kn)) return s->vars[i].v;
    return &tpl_undef;
}
