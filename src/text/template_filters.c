/* template_filters.c - the builtin filters and tests with Jinja2 / Python
 * semantics (see template.h for where they deliberately follow
 * @huggingface/jinja). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/template_internal.h"

/* ---- tests ---------------------------------------------------------------------------- */

enum {
    T_DEFINED,
    T_UNDEFINED,
    T_NONE,
    T_BOOLEAN,
    T_FALSE,
    T_TRUE,
    T_INTEGER,
    T_FLOAT,
    T_NUMBER,
    T_STRING,
    T_MAPPING,
    T_ITERABLE,
    T_SEQUENCE,
    T_CALLABLE,
    T_ODD,
    T_EVEN,
    T_DIVISIBLEBY,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_IN,
    T_LOWER,
    T_UPPER,
    T_SAMEAS,
};

static const struct {
    const char *name;
    int id;
} TESTS[] = {
    {"defined", T_DEFINED},
    {"undefined", T_UNDEFINED},
    {"none", T_NONE},
    {"boolean", T_BOOLEAN},
    {"false", T_FALSE},
    {"true", T_TRUE},
    {"integer", T_INTEGER},
    {"float", T_FLOAT},
    {"number", T_NUMBER},
    {"string", T_STRING},
    {"mapping", T_MAPPING},
    {"iterable", T_ITERABLE},
    {"sequence", T_SEQUENCE},
    {"callable", T_CALLABLE},
    {"odd", T_ODD},
    {"even", T_EVEN},
    {"divisibleby", T_DIVISIBLEBY},
    {"equalto", T_EQ},
    {"eq", T_EQ},
    {"==", T_EQ},
    {"ne", T_NE},
    {"!=", T_NE},
    {"lt", T_LT},
    {"lessthan", T_LT},
    {"<", T_LT},
    {"le", T_LE},
    {"<=", T_LE},
    {"gt", T_GT},
    {"greaterthan", T_GT},
    {">", T_GT},
    {"ge", T_GE},
    {">=", T_GE},
    {"in", T_IN},
    {"lower", T_LOWER},
    {"upper", T_UPPER},
    {"sameas", T_SAMEAS},
};

int tpl_test_id(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof TESTS / sizeof *TESTS; i++)
        if (tpl_name_eq(name, n, TESTS[i].name)) return TESTS[i].id;
    return -1;
}

bool tpl_apply_test(tpl_render *r, const tpl_node *at, int id, tpl_value *v, tpl_value **args,
                    size_t nargs) {
    tpl_value *a0 = nargs ? args[0] : NULL;
    switch (id) {
    case T_DEFINED:
        return v->type != TV_UNDEF;
    case T_UNDEFINED:
        return v->type == TV_UNDEF;
    case T_NONE:
        return v->type == TV_NONE;
    case T_BOOLEAN:
        return v->type == TV_BOOL;
    case T_FALSE:
        return v->type == TV_BOOL && !v->u.b;
    case T_TRUE:
        return v->type == TV_BOOL && v->u.b;
    case T_INTEGER:
        return v->type == TV_INT;
    case T_FLOAT:
        return v->type == TV_FLOAT;
    case T_NUMBER:
        return v->type == TV_INT || v->type == TV_FLOAT || v->type == TV_BOOL;
    case T_STRING:
        return v->type == TV_STR;
    case T_MAPPING:
        return v->type == TV_DICT;
    case T_ITERABLE:
    case T_SEQUENCE:
        return v->type == TV_LIST || v->type == TV_DICT || v->type == TV_STR || v->type == TV_UNDEF;
    case T_CALLABLE:
        return v->type == TV_FUNC;
    case T_ODD:
    case T_EVEN: {
        int64_t x =
            tpl_need_int(r, at, v, id == T_ODD ? "the operand of 'odd'" : "the operand of 'even'");
        return (x % 2 != 0) == (id == T_ODD);
    }
    case T_DIVISIBLEBY: {
        int64_t x = tpl_need_int(r, at, v, "the operand of 'divisibleby'");
        int64_t d = tpl_need_int(r, at, a0, "the argument of 'divisibleby'");
        if (d == 0) tpl_fail(r, at, MG_ERR_INVALID, "divisibleby(0)");
        return d == -1 || x % d == 0;
    }
    case T_EQ:
    case T_NE:
    case T_LT:
    case T_LE:
    case T_GT:
    case T_GE:
    case T_IN:
    case T_SAMEAS:
        if (!a0) tpl_fail(r, at, MG_ERR_INVALID, "this test needs an argument");
        switch (id) {
        case T_EQ:
            return tpl_equal(v, a0, 0);
        case T_NE:
            return !tpl_equal(v, a0, 0);
        case T_LT:
            return tpl_compare(r, v, a0, at) < 0;
        case T_LE:
            return tpl_compare(r, v, a0, at) <= 0;
        case T_GT:
            return tpl_compare(r, v, a0, at) > 0;
        case T_GE:
            return tpl_compare(r, v, a0, at) >= 0;
        case T_SAMEAS:
            if (v->type != a0->type) return false;
            if (v->type == TV_NONE || v->type == TV_UNDEF) return true;
            if (v->type == TV_BOOL) return v->u.b == a0->u.b;
            return v == a0;
        default: {
            tpl_value *l = a0;
            if (l->type == TV_STR) {
                if (v->type != TV_STR) return false;
                return !v->u.s.n || memmem(l->u.s.p, l->u.s.n, v->u.s.p, v->u.s.n);
            }
            if (l->type == TV_DICT || l->type == TV_NS)
                return v->type == TV_STR && tpl_dict_get(l, v->u.s.p, v->u.s.n);
            l = tpl_iter_list(r, at, l);
            for (size_t i = 0; i < l->u.l.n; i++)
                if (tpl_equal(v, l->u.l.v[i], 0)) return true;
            return false;
        }
        }
    case T_LOWER:
    case T_UPPER:
        return tpl_str_case_is(tpl_to_str(r, v, at), id == T_UPPER);
    }
    tpl_fail(r, at, MG_ERR_INVALID, "internal error: unknown test %d", id);
}

/* ---- filters -------------------------------------------------------------------------- */

enum {
    F_ABS,
    F_ATTR,
    F_CAPITALIZE,
    F_COUNT,
    F_DEFAULT,
    F_DICTSORT,
    F_FIRST,
    F_FLOAT,
    F_INDENT,
    F_INT,
    F_ITEMS,
    F_JOIN,
    F_LAST,
    F_LENGTH,
    F_LIST,
    F_LOWER,
    F_MAP,
    F_REJECT,
    F_REJECTATTR,
    F_REPLACE,
    F_REVERSE,
    F_ROUND,
    F_SAFE,
    F_SELECT,
    F_SELECTATTR,
    F_SORT,
    F_STRING,
    F_SUM,
    F_TITLE,
    F_TOJSON,
    F_TRIM,
    F_UNIQUE,
    F_UPPER,
    F_BOOL,
    F_MIN,
    F_MAX,
    F_WORDCOUNT,
};

static const struct {
    const char *name;
    int id;
} FILTERS[] = {
    {"abs", F_ABS},
    {"attr", F_ATTR},
    {"capitalize", F_CAPITALIZE},
    {"count", F_COUNT},
    {"d", F_DEFAULT},
    {"default", F_DEFAULT},
    {"dictsort", F_DICTSORT},
    {"first", F_FIRST},
    {"float", F_FLOAT},
    {"indent", F_INDENT},
    {"int", F_INT},
    {"items", F_ITEMS},
    {"join", F_JOIN},
    {"last", F_LAST},
    {"length", F_LENGTH},
    {"list", F_LIST},
    {"lower", F_LOWER},
    {"map", F_MAP},
    {"reject", F_REJECT},
    {"rejectattr", F_REJECTATTR},
    {"replace", F_REPLACE},
    {"reverse", F_REVERSE},
    {"round", F_ROUND},
    {"safe", F_SAFE},
    {"select", F_SELECT},
    {"selectattr", F_SELECTATTR},
    {"sort", F_SORT},
    {"string", F_STRING},
    {"sum", F_SUM},
    {"title", F_TITLE},
    {"tojson", F_TOJSON},
    {"trim", F_TRIM},
    {"unique", F_UNIQUE},
    {"upper", F_UPPER},
    {"bool", F_BOOL},
    {"min", F_MIN},
    {"max", F_MAX},
    {"wordcount", F_WORDCOUNT},
};

int tpl_filter_id(const char *name, size_t n) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof *FILTERS; i++)
        if (tpl_name_eq(name, n, FILTERS[i].name)) return FILTERS[i].id;
    return -1;
}

// obj.a.b.0 as Jinja's make_attrgetter.
static tpl_value *attr_path(tpl_render *r, const tpl_node *at, tpl_value *v, tpl_value *path) {
    if (path->type == TV_INT) return tpl_getitem(r, at, v, path);
    size_t n;
    const char *p = tpl_need_str(r, at, path, "attribute", &n);
    size_t i = 0;
    while (i <= n) {
        const char *dot = memchr(p + i, '.', n - i);
        size_t e = dot ? (size_t)(dot - p) : n;
        const char *part = p + i;
        size_t pl = e - i;
        bool digits = pl > 0;
        int64_t idx = 0;
        for (size_t k = 0; k < pl; k++) {
            if (part[k] < '0' || part[k] > '9' || idx > INT64_MAX / 10 - 10) {
                digits = false;
                break;
            }
            idx = idx * 10 + (part[k] - '0');
        }
        tpl_value key = {.type = TV_STR, .u.s = {part, pl}};
        tpl_value ikey = {.type = TV_INT, .u.i = idx};
        v = tpl_getitem(r, at, v, digits ? &ikey : &key);
        if (!dot) break;
        i = e + 1;
    }
    return v;
}

// Runs a test by name (select/reject/selectattr/rejectattr).
static bool test_by_name(tpl_render *r, const tpl_node *at, tpl_value *name, tpl_value *v,
                         tpl_value **args, size_t nargs) {
    if (!name) return tpl_truthy(v);
    size_t n;
    const char *s = tpl_need_str(r, at, name, "test name", &n);
    int id = tpl_test_id(s, n);
    if (id < 0)
        tpl_fail(r, at, MG_ERR_UNSUPPORTED, "unsupported test '%.*s'", (int)(n > 60 ? 60 : n), s);
    return tpl_apply_test(r, at, id, v, args, nargs);
}

static tpl_value *select_common(tpl_render *r, const tpl_node *at, tpl_value *v, tpl_value **args,
                                size_t nargs, bool attr, bool keep) {
    tpl_value *seq = tpl_iter_list(r, at, v);
    size_t skip = attr ? 1 : 0;
    if (attr && nargs < 1)
        tpl_fail(r, at, MG_ERR_INVALID, "selectattr/rejectattr need an attribute name");
    tpl_value *tname = nargs > skip ? args[skip] : NULL;
    tpl_value *out = tpl_list(r, seq->u.l.n);
    size_t k = 0;
    for (size_t i = 0; i < seq->u.l.n; i++) {
        tpl_step(r, at);
        tpl_value *x = attr ? attr_path(r, at, seq->u.l.v[i], args[0]) : seq->u.l.v[i];
        // args is NULL without arguments: no pointer arithmetic on it (found by fuzzing).
        bool more = nargs > skip + 1;
        bool res = test_by_name(r, at, tname, x, more ? args + skip + 1 : NULL,
                                more ? nargs - skip - 1 : 0);
        if (res == keep) out->u.l.v[k++] = seq->u.l.v[i];
    }
    out->u.l.n = k;
    return out;
}

// Stable merge sort with a comparator that may fail (longjmp) on mixed types.
typedef struct sort_ctx {
    tpl_render *r;
    const tpl_node *at;
    tpl_value *attr;
    bool case_sensitive, reverse;
    int by; // 0 item, 1 tuple[0], 2 tuple[1]
} sort_ctx;

static tpl_value *sort_key(sort_ctx *c, tpl_value *v) {
    if (c->by) v = v->u.l.v[c->by - 1];
    if (c->attr) v = attr_path(c->r, c->at, v, c->attr);
    if (!c->case_sensitive && v->type == TV_STR) v = tpl_str_lower(c->r, v);
    return v;
}

static void merge_sort(sort_ctx *c, tpl_value **v, tpl_value **keys, size_t n, tpl_value **tmp,
                       tpl_value **tmpk) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, v, keys, h, tmp, tmpk);
    merge_sort(c, v + h, keys + h, n - h, tmp, tmpk);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        tpl_step(c->r, c->at);
        int cmp = tpl_compare(c->r, keys[j], keys[i], c->at);
        if (c->reverse) cmp = -cmp;
        if (cmp < 0) {
            tmp[k] = v[j];
            tmpk[k++] = keys[j++];
        } else {
            tmp[k] = v[i];
            tmpk[k++] = keys[i++];
        }
    }
    while (i < h)
        tmp[k] = v[i], tmpk[k++] = keys[i++];
    while (j < n)
        tmp[k] = v[j], tmpk[k++] = keys[j++];
    memcpy(v, tmp, n * sizeof *v);
    memcpy(keys, tmpk, n * sizeof *keys);
}

static tpl_value *sorted(sort_ctx *c, tpl_value *seq) {
    size_t n = seq->u.l.n;
    tpl_value *out = tpl_list(c->r, n);
    if (n) memcpy(out->u.l.v, seq->u.l.v, n * sizeof *out->u.l.v);
    tpl_value **keys = tpl_alloc(&c->r->arena, (n ? n : 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = sort_key(c, out->u.l.v[i]);
    tpl_value **tmp = tpl_alloc(&c->r->arena, (n ? n : 1) * sizeof *tmp);
    tpl_value **tmpk = tpl_alloc(&c->r->arena, (n ? n : 1) * sizeof *tmpk);
    merge_sort(c, out->u.l.v, keys, n, tmp, tmpk);
    return out;
}

static bool opt_bool(tpl_value *v, bool dflt) {
    return v ? tpl_truthy(v) : dflt;
}

// Python int(str) with Jinja's fallback through float().
static bool parse_int_str(const char *s, size_t n, int64_t base, int64_t *out) {
    size_t a = 0, e = n;
    while (a < e && tpl_space_len(s, e, a))
        a += tpl_space_len(s, e, a);
    while (e > a) {
        size_t k = e - 1;
        while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        if (!tpl_space_len(s, e, k)) break;
        e = k;
    }
    if (a == e || e - a > 80) return false;
    char buf[96];
    size_t o = 0;
    for (size_t i = a; i < e; i++)
        if (s[i] != '_') buf[o++] = s[i];
    buf[o] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, (int)base);
    if (*end == '\0' && !errno && end != buf && (buf[0] != '+' || buf[1] != '+')) {
        *out = v;
        return true;
    }
    if (base != 10) return false;
    double d = strtod(buf, &end);
    if (*end != '\0' || end == buf || isnan(d) || isinf(d) || d >= 9.2e18 || d <= -9.2e18)
        return false;
    *out = (int64_t)d;
    return true;
}

tpl_value *tpl_apply_filter(tpl_render *r, const tpl_node *at, int id, tpl_value *v,
                            tpl_value **args, size_t nargs, tpl_kv *kw, size_t nkw) {
    switch (id) {
    case F_SAFE:
        return v;
    case F_STRING:
        return tpl_to_str(r, v, at);
    case F_UPPER:
        return tpl_str_upper(r, tpl_to_str(r, v, at));
    case F_LOWER:
        return tpl_str_lower(r, tpl_to_str(r, v, at));
    case F_CAPITALIZE:
        return tpl_str_capitalize(r, tpl_to_str(r, v, at));
    case F_TITLE:
        return tpl_str_jinja_title(r, tpl_to_str(r, v, at));
    case F_TRIM: {
        tpl_value *chars = tpl_arg(args, nargs, kw, nkw, 0, "chars");
        size_t cn = 0;
        const char *c = chars && chars->type != TV_NONE
                            ? tpl_need_str(r, at, chars, "trim() characters", &cn)
                            : NULL;
        return tpl_str_strip(r, tpl_to_str(r, v, at), c, cn, true, true);
    }
    case F_LENGTH:
    case F_COUNT:
        switch (v->type) {
        case TV_STR:
            return tpl_int(r, (int64_t)tpl_utf8_count(v->u.s.p, v->u.s.n));
        case TV_LIST:
            return tpl_int(r, (int64_t)v->u.l.n);
        case TV_DICT:
            return tpl_int(r, (int64_t)v->u.d.n);
        case TV_UNDEF:
            return tpl_int(r, 0);
        default:
            tpl_fail(r, at, MG_ERR_INVALID, "a %s has no length", tpl_type_name(v));
        }
    case F_DEFAULT: {
        tpl_value *d = tpl_arg(args, nargs, kw, nkw, 0, "default_value");
        bool boolean = opt_bool(tpl_arg(args, nargs, kw, nkw, 1, "boolean"), false);
        if (v->type == TV_UNDEF || (boolean && !tpl_truthy(v)))
            return d ? d : tpl_str_nocopy(r, "", 0);
        return v;
    }
    case F_JOIN: {
        tpl_value *sep = tpl_arg(args, nargs, kw, nkw, 0, "d");
        tpl_value *attr = tpl_arg(args, nargs, kw, nkw, 1, "attribute");
        tpl_value *seq = tpl_iter_list(r, at, v);
        tpl_value *ss = sep ? tpl_to_str(r, sep, at) : NULL;
        tpl_buf b = {0};
        for (size_t i = 0; i < seq->u.l.n; i++) {
            if (i && ss) tpl_buf_put(r, &b, ss->u.s.p, ss->u.s.n);
            tpl_value *x = seq->u.l.v[i];
            if (attr && attr->type != TV_NONE) x = attr_path(r, at, x, attr);
            tpl_write_str(r, &b, x, at);
        }
        return tpl_from_buf(r, &b);
    }
    case F_TOJSON: {
        // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None,
        // sort_keys=False)
        tpl_json_opts o = {.indent = -1, .item_sep = ", ", .key_sep = ": "};
        o.ensure_ascii = opt_bool(tpl_arg(args, nargs, kw, nkw, 0, "ensure_ascii"), false);
        tpl_value *ind = tpl_arg(args, nargs, kw, nkw, 1, "indent");
        if (ind && ind->type != TV_NONE) {
            int64_t iv = tpl_need_int(r, at, ind, "tojson indent");
            o.indent = iv < 0 ? 0 : iv > 64 ? 64 : (int)iv;
            o.item_sep = ",";
        }
        tpl_value *seps = tpl_arg(args, nargs, kw, nkw, 2, "separators");
        if (seps && seps->type != TV_NONE) {
            size_t n0, n1;
            if (seps->type != TV_LIST || seps->u.l.n != 2)
                tpl_fail(r, at, MG_ERR_INVALID, "tojson separators must be a pair of strings");
            const char *a = tpl_need_str(r, at, seps->u.l.v[0], "tojson item separator", &n0);
            const char *b = tpl_need_str(r, at, seps->u.l.v[1], "tojson key separator", &n1);
            o.item_sep = tpl_strdup(&r->arena, a, n0);
            o.key_sep = tpl_strdup(&r->arena, b, n1);
        }
        o.sort_keys = opt_bool(tpl_arg(args, nargs, kw, nkw, 3, "sort_keys"), false);
        tpl_buf b = {0};
        tpl_write_json(r, &b, v, &o, at, 0);
        return tpl_from_buf(r, &b);
    }
    case F_ITEMS:
        if (v->type == TV_UNDEF) return tpl_list(r, 0);
        if (v->type != TV_DICT)
            tpl_fail(r, at, MG_ERR_INVALID, "items: expected a mapping, got %s", tpl_type_name(v));
        return tpl_dict_items(r, v);
    case F_FIRST:
    case F_LAST: {
        if (v->type == TV_UNDEF) return &tpl_undef;
        tpl_value *seq = tpl_iter_list(r, at, v);
        if (!seq->u.l.n) return &tpl_undef;
        return id == F_FIRST ? seq->u.l.v[0] : seq->u.l.v[seq->u.l.n - 1];
    }
    case F_REPLACE: {
        tpl_value *s = tpl_to_str(r, v, at);
        if (nargs < 2) tpl_fail(r, at, MG_ERR_INVALID, "replace needs old and new strings");
        tpl_value *o = tpl_to_str(r, args[0], at), *nw = tpl_to_str(r, args[1], at);
        tpl_value *c = tpl_arg(args, nargs, kw, nkw, 2, "count");
        return tpl_str_replace(r, s, o->u.s.p, o->u.s.n, nw->u.s.p, nw->u.s.n,
                               c && c->type != TV_NONE ? tpl_need_int(r, at, c, "replace count")
                                                       : -1);
    }
    case F_INT: {
        tpl_value *d = tpl_arg(args, nargs, kw, nkw, 0, "default");
        tpl_value *bv = tpl_arg(args, nargs, kw, nkw, 1, "base");
        int64_t base = bv ? tpl_need_int(r, at, bv, "int base") : 10;
        if (base < 2 || base > 36) base = 10;
        int64_t out;
        switch (v->type) {
        case TV_INT:
            return v;
        case TV_BOOL:
            return tpl_int(r, v->u.b);
        case TV_FLOAT:
            if (!isnan(v->u.f) && v->u.f < 9.2e18 && v->u.f > -9.2e18)
                return tpl_int(r, (int64_t)v->u.f);
            break;
        case TV_STR:
            if (parse_int_str(v->u.s.p, v->u.s.n, base, &out)) return tpl_int(r, out);
            break;
        default:
            break;
        }
        return d ? d : tpl_int(r, 0);
    }
    case F_FLOAT: {
        tpl_value *d = tpl_arg(args, nargs, kw, nkw, 0, "default");
        switch (v->type) {
        case TV_FLOAT:
            return v;
        case TV_INT:
            return tpl_float(r, (double)v->u.i);
        case TV_BOOL:
            return tpl_float(r, v->u.b);
        case TV_STR: {
            if (v->u.s.n < 80) {
                char buf[96];
                memcpy(buf, v->u.s.p, v->u.s.n);
                buf[v->u.s.n] = '\0';
                char *end;
                double f = strtod(buf, &end);
                while (*end == ' ' || *end == '\t' || *end == '\n')
                    end++;
                if (end != buf && *end == '\0') return tpl_float(r, f);
            }
            break;
        }
        default:
            break;
        }
        return d ? d : tpl_float(r, 0.0);
    }
    case F_BOOL:
        return tpl_bool(tpl_truthy(v));
    case F_ABS:
        if (v->type == TV_FLOAT) return tpl_float(r, fabs(v->u.f));
        if (v->type == TV_INT || v->type == TV_BOOL) {
            int64_t x = v->type == TV_INT ? v->u.i : v->u.b;
            if (x == INT64_MIN) tpl_fail(r, at, MG_ERR_INVALID, "integer overflow in abs");
            return tpl_int(r, x < 0 ? -x : x);
        }
        tpl_fail(r, at, MG_ERR_INVALID, "abs: bad operand type %s", tpl_type_name(v));
    case F_ROUND: {
        tpl_value *pv = tpl_arg(args, nargs, kw, nkw, 0, "precision");
        tpl_value *mv = tpl_arg(args, nargs, kw, nkw, 1, "method");
        int64_t prec = pv ? tpl_need_int(r, at, pv, "round precision") : 0;
        if (prec > 15) prec = 15;
        if (prec < -15) prec = -15;
        if (v->type != TV_INT && v->type != TV_FLOAT && v->type != TV_BOOL)
            tpl_fail(r, at, MG_ERR_INVALID, "round: bad operand type %s", tpl_type_name(v));
        double x = v->type == TV_FLOAT ? v->u.f : v->type == TV_INT ? (double)v->u.i : v->u.b;
        double m = pow(10.0, (double)prec), y = x * m;
        size_t mn = 0;
        const char *method = mv ? tpl_need_str(r, at, mv, "round method", &mn) : "common";
        if (!mv) mn = 6;
        if (tpl_name_eq(method, mn, "ceil"))
            y = ceil(y);
        else if (tpl_name_eq(method, mn, "floor"))
            y = floor(y);
        else
            y = nearbyint(y); // Python's round(): half to even
        return tpl_float(r, y / m);
    }
    case F_LIST:
        if (v->type == TV_LIST) {
            tpl_value *l = tpl_list(r, v->u.l.n);
            if (v->u.l.n) memcpy(l->u.l.v, v->u.l.v, v->u.l.n * sizeof *l->u.l.v);
            return l;
        }
        return tpl_iter_list(r, at, v);
    case F_REVERSE:
        if (v->type == TV_STR) {
            tpl_value *chars = tpl_iter_list(r, at, v);
            tpl_buf b = {0};
            for (size_t i = chars->u.l.n; i-- > 0;)
                tpl_buf_put(r, &b, chars->u.l.v[i]->u.s.p, chars->u.l.v[i]->u.s.n);
            return tpl_from_buf(r, &b);
        } else {
            tpl_value *seq = tpl_iter_list(r, at, v);
            tpl_value *l = tpl_list(r, seq->u.l.n);
            for (size_t i = 0; i < seq->u.l.n; i++)
                l->u.l.v[i] = seq->u.l.v[seq->u.l.n - 1 - i];
            return l;
        }
    case F_SORT: {
        sort_ctx c = {.r = r, .at = at};
        c.reverse = opt_bool(tpl_arg(args, nargs, kw, nkw, 0, "reverse"), false);
        c.case_sensitive = opt_bool(tpl_arg(args, nargs, kw, nkw, 1, "case_sensitive"), false);
        c.attr = tpl_arg(args, nargs, kw, nkw, 2, "attribute");
        if (c.attr && c.attr->type == TV_NONE) c.attr = NULL;
        return sorted(&c, tpl_iter_list(r, at, v));
    }
    case F_DICTSORT: {
        if (v->type != TV_DICT)
            tpl_fail(r, at, MG_ERR_INVALID, "dictsort: expected a mapping, got %s",
                     tpl_type_name(v));
        sort_ctx c = {.r = r, .at = at, .by = 1};
        c.case_sensitive = opt_bool(tpl_arg(args, nargs, kw, nkw, 0, "case_sensitive"), false);
        tpl_value *by = tpl_arg(args, nargs, kw, nkw, 1, "by");
        if (by) {
            size_t bn;
            const char *b = tpl_need_str(r, at, by, "dictsort by", &bn);
            if (tpl_name_eq(b, bn, "value"))
                c.by = 2;
            else if (!tpl_name_eq(b, bn, "key"))
                tpl_fail(r, at, MG_ERR_INVALID, "dictsort: by must be 'key' or 'value'");
        }
        c.reverse = opt_bool(tpl_arg(args, nargs, kw, nkw, 2, "reverse"), false);
        return sorted(&c, tpl_dict_items(r, v));
    }
    case F_UNIQUE: {
        bool cs = opt_bool(tpl_arg(args, nargs, kw, nkw, 0, "case_sensitive"), false);
        tpl_value *attr = tpl_arg(args, nargs, kw, nkw, 1, "attribute");
        tpl_value *seq = tpl_iter_list(r, at, v);
        tpl_value *out = tpl_list(r, seq->u.l.n);
        tpl_value **seen = tpl_alloc(&r->arena, (seq->u.l.n ? seq->u.l.n : 1) * sizeof *seen);
        size_t k = 0;
        for (size_t i = 0; i < seq->u.l.n; i++) {
            tpl_value *key = seq->u.l.v[i];
            if (attr && attr->type != TV_NONE) key = attr_path(r, at, key, attr);
            if (!cs && key->type == TV_STR) key = tpl_str_lower(r, key);
            bool dup = false;
            for (size_t j = 0; j < k && !dup; j++) {
                tpl_step(r, at);
                dup = tpl_equal(seen[j], key, 0);
            }
            if (!dup) {
                seen[k] = key;
                out->u.l.v[k++] = seq->u.l.v[i];
            }
        }
        out->u.l.n = k;
        return out;
    }
    case F_MIN:
    case F_MAX: {
        tpl_value *seq = tpl_iter_list(r, at, v);
        if (!seq->u.l.n) return &tpl_undef;
        sort_ctx c = {.r = r, .at = at};
        c.case_sensitive = opt_bool(tpl_arg(args, nargs, kw, nkw, 0, "case_sensitive"), false);
        c.attr = tpl_arg(args, nargs, kw, nkw, 1, "attribute");
        tpl_value *best = seq->u.l.v[0], *bk = sort_key(&c, best);
        for (size_t i = 1; i < seq->u.l.n; i++) {
            tpl_value *k = sort_key(&c, seq->u.l.v[i]);
            int cmp = tpl_compare(r, k, bk, at);
            if (id == F_MIN ? cmp < 0 : cmp > 0) best = seq->u.l.v[i], bk = k;
        }
        return best;
    }
    case F_SUM: {
        tpl_value *attr = tpl_arg(args, nargs, kw, nkw, 0, "attribute");
        tpl_value *acc = tpl_arg(args, nargs, kw, nkw, 1, "start");
        if (!acc) acc = tpl_int(r, 0);
        tpl_value *seq = tpl_iter_list(r, at, v);
        for (size_t i = 0; i < seq->u.l.n; i++) {
            tpl_value *x = seq->u.l.v[i];
            if (attr && attr->type != TV_NONE) x = attr_path(r, at, x, attr);
            if ((acc->type != TV_INT && acc->type != TV_FLOAT && acc->type != TV_BOOL) ||
                (x->type != TV_INT && x->type != TV_FLOAT && x->type != TV_BOOL))
                tpl_fail(r, at, MG_ERR_INVALID, "sum: cannot add %s and %s", tpl_type_name(acc),
                         tpl_type_name(x));
            if (acc->type == TV_FLOAT || x->type == TV_FLOAT) {
                double a = acc->type == TV_FLOAT ? acc->u.f
                           : acc->type == TV_INT ? (double)acc->u.i
                                                 : acc->u.b;
                double b = x->type == TV_FLOAT ? x->u.f
                           : x->type == TV_INT ? (double)x->u.i
                                               : x->u.b;
                acc = tpl_float(r, a + b);
            } else {
                int64_t a = acc->type == TV_INT ? acc->u.i : acc->u.b,
                        b = x->type == TV_INT ? x->u.i : x->u.b, z;
                if (__builtin_add_overflow(a, b, &z))
                    tpl_fail(r, at, MG_ERR_INVALID, "integer overflow in sum");
                acc = tpl_int(r, z);
            }
        }
        return acc;
    }
    case F_ATTR: {
        if (nargs < 1) tpl_fail(r, at, MG_ERR_INVALID, "attr needs a name");
        size_t n;
        const char *nm = tpl_need_str(r, at, args[0], "attr name", &n);
        return tpl_getattr(r, v, nm, n);
    }
    case F_SELECT:
    case F_REJECT:
        return select_common(r, at, v, args, nargs, false, id == F_SELECT);
    case F_SELECTATTR:
    case F_REJECTATTR:
        return select_common(r, at, v, args, nargs, true, id == F_SELECTATTR);
    case F_MAP: {
        tpl_value *seq = tpl_iter_list(r, at, v);
        tpl_value *attr = tpl_kwarg(kw, nkw, "attribute");
        tpl_value *out = tpl_list(r, seq->u.l.n);
        if (attr) {
            tpl_value *d = tpl_kwarg(kw, nkw, "default");
            for (size_t i = 0; i < seq->u.l.n; i++) {
                tpl_value *x = attr_path(r, at, seq->u.l.v[i], attr);
                out->u.l.v[i] = x->type == TV_UNDEF && d ? d : x;
            }
            return out;
        }
        if (nargs < 1) tpl_fail(r, at, MG_ERR_INVALID, "map needs a filter name or attribute=");
        size_t fn;
        const char *fname = tpl_need_str(r, at, args[0], "map filter name", &fn);
        int fid = tpl_filter_id(fname, fn);
        if (fid < 0)
            tpl_fail(r, at, MG_ERR_UNSUPPORTED, "unsupported filter '%.*s' in map",
                     (int)(fn > 60 ? 60 : fn), fname);
        for (size_t i = 0; i < seq->u.l.n; i++) {
            tpl_step(r, at);
            out->u.l.v[i] =
                tpl_apply_filter(r, at, fid, seq->u.l.v[i], args + 1, nargs - 1, kw, nkw);
        }
        return out;
    }
    case F_INDENT: {
        tpl_value *wv = tpl_arg(args, nargs, kw, nkw, 0, "width");
        bool first = opt_bool(tpl_arg(args, nargs, kw, nkw, 1, "first"), false);
        bool blank = opt_bool(tpl_arg(args, nargs, kw, nkw, 2, "blank"), false);
        tpl_value *ind;
        if (wv && wv->type == TV_STR) {
            ind = wv;
        } else {
            int64_t w = wv ? tpl_need_int(r, at, wv, "indent width") : 4;
            if (w < 0) w = 0;
            if (w > 256) w = 256;
            char sp[257];
            memset(sp, ' ', (size_t)w);
            ind = tpl_str(r, sp, (size_t)w);
        }
        tpl_value *s = tpl_to_str(r, v, at);
        tpl_buf b = {0};
        if (first) tpl_buf_put(r, &b, ind->u.s.p, ind->u.s.n);
        // Jinja appends "\n" and splits lines, so a trailing newline is dropped.
        const char *p = s->u.s.p;
        size_t n = s->u.s.n, i = 0, line = 0;
        while (i < n || line == 0) {
            const char *nl = i < n ? memchr(p + i, '\n', n - i) : NULL;
            size_t e = nl ? (size_t)(nl - p) : n;
            if (line > 0) {
                tpl_buf_putc(r, &b, '\n');
                if (blank || e > i) tpl_buf_put(r, &b, ind->u.s.p, ind->u.s.n);
            }
            tpl_buf_put(r, &b, p + i, e - i);
            line++;
            if (!nl) break;
            i = e + 1;
            if (i >= n) break;
        }
        return tpl_from_buf(r, &b);
    }
    case F_WORDCOUNT: {
        tpl_value *s = tpl_to_str(r, v, at);
        return tpl_int(r, (int64_t)tpl_str_split(r, at, s, NULL, -1)->u.l.n);
    }
    }
    tpl_fail(r, at, MG_ERR_INVALID, "internal error: unknown filter %d", id);
}
