/* template_methods.c - Python string algorithms (case mapping, strip,
 * replace, split), the methods of strings and dicts, attribute and item
 * access, iteration, and the global functions (range, namespace, dict,
 * raise_exception, strftime_now). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "base/alloc.h"
#include "text/template_internal.h"

/* ---- helpers ------------------------------------------------------------------------ */

bool tpl_name_eq(const char *s, size_t n, const char *lit) {
    return n == strlen(lit) && !memcmp(s, lit, n);
}

tpl_value *tpl_kwarg(tpl_kv *kw, size_t nkw, const char *name) {
    for (size_t i = 0; i < nkw; i++)
        if (tpl_name_eq(kw[i].k, kw[i].kn, name)) return kw[i].v;
    return NULL;
}

// Positional argument i, else keyword `name`, else NULL.
tpl_value *tpl_arg(tpl_value **args, size_t nargs, tpl_kv *kw, size_t nkw, size_t i,
                   const char *name) {
    if (i < nargs) return args[i];
    return name ? tpl_kwarg(kw, nkw, name) : NULL;
}

const char *tpl_need_str(tpl_render *r, const tpl_node *at, tpl_value *v, const char *what,
                         size_t *n) {
    if (!v || v->type != TV_STR)
        tpl_fail(r, at, MG_ERR_INVALID, "%s must be a string, not %s", what,
                 v ? tpl_type_name(v) : "missing");
    *n = v->u.s.n;
    return v->u.s.p;
}

int64_t tpl_need_int(tpl_render *r, const tpl_node *at, tpl_value *v, const char *what) {
    if (!v || (v->type != TV_INT && v->type != TV_BOOL))
        tpl_fail(r, at, MG_ERR_INVALID, "%s must be an integer, not %s", what,
                 v ? tpl_type_name(v) : "missing");
    return v->type == TV_INT ? v->u.i : v->u.b;
}

tpl_value *tpl_from_buf(tpl_render *r, tpl_buf *b) {
    return tpl_str_nocopy(r, b->p ? b->p : "", b->n);
}

typedef uint32_t (*cp_map)(uint32_t);
static uint32_t to_upper(uint32_t c) {
    return (uint32_t)utf8proc_toupper((utf8proc_int32_t)c);
}
static uint32_t to_lower(uint32_t c) {
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
}
static uint32_t to_title(uint32_t c) {
    return (uint32_t)utf8proc_totitle((utf8proc_int32_t)c);
}
static bool is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}

static void put_cp(tpl_render *r, tpl_buf *b, uint32_t cp) {
    char tmp[4];
    tpl_buf_put(r, b, tmp, tpl_utf8_encode(cp, tmp));
}

static tpl_value *map_case(tpl_render *r, tpl_value *s, cp_map f) {
    tpl_buf b = {0};
    for (size_t i = 0; i < s->u.s.n;) {
        size_t l;
        uint32_t cp = tpl_utf8_decode(s->u.s.p, s->u.s.n, i, &l);
        put_cp(r, &b, f(cp));
        i += l;
    }
    return tpl_from_buf(r, &b);
}

// Python str.title(): a cased letter after an uncased character is titlecased.
static tpl_value *py_title(tpl_render *r, tpl_value *s) {
    tpl_buf b = {0};
    bool prev_cased = false;
    for (size_t i = 0; i < s->u.s.n;) {
        size_t l;
        uint32_t cp = tpl_utf8_decode(s->u.s.p, s->u.s.n, i, &l);
        put_cp(r, &b, prev_cased ? to_lower(cp) : to_title(cp));
        prev_cased = is_cased(cp);
        i += l;
    }
    return tpl_from_buf(r, &b);
}

tpl_value *tpl_str_capitalize(tpl_render *r, tpl_value *s) {
    tpl_buf b = {0};
    for (size_t i = 0; i < s->u.s.n;) {
        size_t l;
        uint32_t cp = tpl_utf8_decode(s->u.s.p, s->u.s.n, i, &l);
        put_cp(r, &b, i == 0 ? to_title(cp) : to_lower(cp));
        i += l;
    }
    return tpl_from_buf(r, &b);
}

// Jinja's title filter: words start after runs of [-\s({[<]; first letter upper, rest lower.
tpl_value *tpl_str_jinja_title(tpl_render *r, tpl_value *s) {
    tpl_buf b = {0};
    bool start = true;
    for (size_t i = 0; i < s->u.s.n;) {
        size_t l;
        uint32_t cp = tpl_utf8_decode(s->u.s.p, s->u.s.n, i, &l);
        bool sep =
            cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || tpl_is_space(cp);
        if (sep) {
            put_cp(r, &b, cp);
            start = true;
        } else {
            put_cp(r, &b, start ? to_upper(cp) : to_lower(cp));
            start = false;
        }
        i += l;
    }
    return tpl_from_buf(r, &b);
}

static bool in_chars(uint32_t cp, const char *chars, size_t n) {
    if (!chars) return tpl_is_space(cp);
    for (size_t i = 0; i < n;) {
        size_t l;
        if (tpl_utf8_decode(chars, n, i, &l) == cp) return true;
        i += l;
    }
    return false;
}

tpl_value *tpl_str_strip(tpl_render *r, tpl_value *s, const char *chars, size_t cn, bool left,
                         bool right) {
    const char *p = s->u.s.p;
    size_t a = 0, e = s->u.s.n;
    if (left)
        while (a < e) {
            size_t l;
            uint32_t cp = tpl_utf8_decode(p, e, a, &l);
            if (!in_chars(cp, chars, cn)) break;
            a += l;
        }
    if (right)
        while (e > a) {
            size_t k = e - 1, l;
            while (k > a && ((unsigned char)p[k] & 0xC0) == 0x80)
                k--;
            uint32_t cp = tpl_utf8_decode(p, e, k, &l);
            if (!in_chars(cp, chars, cn)) break;
            e = k;
        }
    return tpl_str_nocopy(r, p + a, e - a);
}

tpl_value *tpl_str_replace(tpl_render *r, tpl_value *s, const char *old, size_t on, const char *nw,
                           size_t nn, int64_t count) {
    tpl_buf b = {0};
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, i = 0;
    int64_t done = 0;
    if (on == 0) { // insert between code points and at both ends
        if (count != 0) {
            tpl_buf_put(r, &b, nw, nn);
            done++;
        }
        while (i < n) {
            size_t l;
            tpl_utf8_decode(p, n, i, &l);
            tpl_buf_put(r, &b, p + i, l);
            i += l;
            if (count < 0 || done < count) {
                tpl_buf_put(r, &b, nw, nn);
                done++;
            }
        }
        return tpl_from_buf(r, &b);
    }
    while (i < n) {
        const char *hit = (count < 0 || done < count) ? memmem(p + i, n - i, old, on) : NULL;
        if (!hit) break;
        tpl_buf_put(r, &b, p + i, (size_t)(hit - (p + i)));
        tpl_buf_put(r, &b, nw, nn);
        i = (size_t)(hit - p) + on;
        done++;
    }
    tpl_buf_put(r, &b, p + i, n - i);
    return tpl_from_buf(r, &b);
}

static tpl_value *list_push(tpl_render *r, tpl_value *l, size_t *cap, tpl_value *v) {
    if (l->u.l.n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        tpl_value **nv = tpl_alloc(&r->arena, nc * sizeof *nv);
        if (l->u.l.n) memcpy(nv, l->u.l.v, l->u.l.n * sizeof *nv);
        l->u.l.v = nv;
        *cap = nc;
    }
    l->u.l.v[l->u.l.n++] = v;
    return l;
}

// Python str.split(sep=None, maxsplit=-1); rsplit when from_right.
tpl_value *tpl_str_split(tpl_render *r, const tpl_node *at, tpl_value *s, tpl_value *sepv,
                         int64_t maxsplit) {
    tpl_value *l = tpl_list(r, 0);
    size_t cap = 0;
    const char *p = s->u.s.p;
    size_t n = s->u.s.n;
    if (!sepv || sepv->type == TV_NONE) {
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            size_t w;
            while (i < n && (w = tpl_space_len(p, n, i)))
                i += w;
            if (i >= n) break;
            if (maxsplit >= 0 && splits >= maxsplit) {
                // rest of the string, trailing whitespace kept
                list_push(r, l, &cap, tpl_str_nocopy(r, p + i, n - i));
                break;
            }
            size_t st = i;
            while (i < n && !tpl_space_len(p, n, i)) {
                size_t cl;
                tpl_utf8_decode(p, n, i, &cl);
                i += cl;
            }
            list_push(r, l, &cap, tpl_str_nocopy(r, p + st, i - st));
            splits++;
        }
        return l;
    }
    size_t sn;
    const char *sep = tpl_need_str(r, at, sepv, "split() separator", &sn);
    if (sn == 0) tpl_fail(r, at, MG_ERR_INVALID, "split(): empty separator");
    size_t i = 0;
    int64_t splits = 0;
    for (;;) {
        const char *hit =
            (maxsplit < 0 || splits < maxsplit) ? memmem(p + i, n - i, sep, sn) : NULL;
        if (!hit) {
            list_push(r, l, &cap, tpl_str_nocopy(r, p + i, n - i));
            break;
        }
        list_push(r, l, &cap, tpl_str_nocopy(r, p + i, (size_t)(hit - (p + i))));
        i = (size_t)(hit - p) + sn;
        splits++;
        tpl_step(r, at);
    }
    return l;
}

bool tpl_str_case_is(tpl_value *s, bool upper) {
    bool any = false;
    for (size_t i = 0; i < s->u.s.n;) {
        size_t l;
        uint32_t cp = tpl_utf8_decode(s->u.s.p, s->u.s.n, i, &l);
        i += l;
        if (!is_cased(cp)) continue;
        any = true;
        if ((upper ? to_upper(cp) : to_lower(cp)) != cp) return false;
    }
    return any;
}

/* ---- iteration ----------------------------------------------------------------------- */

tpl_value *tpl_iter_list(tpl_render *r, const tpl_node *at, tpl_value *v) {
    switch (v->type) {
    case TV_LIST:
        return v;
    case TV_UNDEF:
        return tpl_list(r, 0);
    case TV_DICT: {
        tpl_value *l = tpl_list(r, v->u.d.n);
        for (size_t i = 0; i < v->u.d.n; i++)
            l->u.l.v[i] = tpl_str_nocopy(r, v->u.d.kv[i].k, v->u.d.kv[i].kn);
        return l;
    }
    case TV_STR: {
        size_t n = tpl_utf8_count(v->u.s.p, v->u.s.n), k = 0;
        tpl_value *l = tpl_list(r, n);
        for (size_t i = 0; i < v->u.s.n;) {
            size_t cl;
            tpl_utf8_decode(v->u.s.p, v->u.s.n, i, &cl);
            l->u.l.v[k++] = tpl_str_nocopy(r, v->u.s.p + i, cl);
            i += cl;
        }
        return l;
    }
    default:
        tpl_fail(r, at, MG_ERR_INVALID, "a %s is not iterable", tpl_type_name(v));
    }
}

/* ---- methods -------------------------------------------------------------------------- */

#define METHOD(name)                                                                               \
    static tpl_value *name(tpl_render *r, const tpl_node *at, tpl_value *self, tpl_value **args,   \
                           size_t nargs, tpl_kv *kw, size_t nkw)

static void no_kw(tpl_render *r, const tpl_node *at, size_t nkw, const char *fn) {
    if (nkw) tpl_fail(r, at, MG_ERR_INVALID, "%s() takes no keyword arguments", fn);
}

static tpl_value *strip_common(tpl_render *r, const tpl_node *at, tpl_value *self, tpl_value **args,
                               size_t nargs, bool left, bool right) {
    const char *chars = NULL;
    size_t cn = 0;
    if (nargs > 0 && args[0]->type != TV_NONE)
        chars = tpl_need_str(r, at, args[0], "strip() characters", &cn);
    return tpl_str_strip(r, self, chars, cn, left, right);
}
METHOD(m_strip) {
    no_kw(r, at, nkw, "strip");
    (void)kw;
    return strip_common(r, at, self, args, nargs, true, true);
}
METHOD(m_lstrip) {
    no_kw(r, at, nkw, "lstrip");
    (void)kw;
    return strip_common(r, at, self, args, nargs, true, false);
}
METHOD(m_rstrip) {
    no_kw(r, at, nkw, "rstrip");
    (void)kw;
    return strip_common(r, at, self, args, nargs, false, true);
}
METHOD(m_upper) {
    (void)at, (void)args, (void)nargs, (void)kw, (void)nkw;
    return map_case(r, self, to_upper);
}
METHOD(m_lower) {
    (void)at, (void)args, (void)nargs, (void)kw, (void)nkw;
    return map_case(r, self, to_lower);
}
METHOD(m_title) {
    (void)at, (void)args, (void)nargs, (void)kw, (void)nkw;
    return py_title(r, self);
}
METHOD(m_capitalize) {
    (void)at, (void)args, (void)nargs, (void)kw, (void)nkw;
    return tpl_str_capitalize(r, self);
}

static bool affix_match(tpl_render *r, const tpl_node *at, tpl_value *self, tpl_value *pat,
                        bool end) {
    if (pat && pat->type == TV_LIST) {
        for (size_t i = 0; i < pat->u.l.n; i++)
            if (affix_match(r, at, self, pat->u.l.v[i], end)) return true;
        return false;
    }
    size_t pn;
    const char *p =
        tpl_need_str(r, at, pat, end ? "endswith() argument" : "startswith() argument", &pn);
    if (pn > self->u.s.n) return false;
    return !memcmp(self->u.s.p + (end ? self->u.s.n - pn : 0), p, pn);
}
METHOD(m_startswith) {
    (void)kw, (void)nkw;
    if (!nargs) tpl_fail(r, at, MG_ERR_INVALID, "startswith() takes at least 1 argument");
    return tpl_bool(affix_match(r, at, self, args[0], false));
}
METHOD(m_endswith) {
    (void)kw, (void)nkw;
    if (!nargs) tpl_fail(r, at, MG_ERR_INVALID, "endswith() takes at least 1 argument");
    return tpl_bool(affix_match(r, at, self, args[0], true));
}
METHOD(m_split) {
    tpl_value *sep = tpl_arg(args, nargs, kw, nkw, 0, "sep");
    tpl_value *ms = tpl_arg(args, nargs, kw, nkw, 1, "maxsplit");
    return tpl_str_split(r, at, self, sep, ms ? tpl_need_int(r, at, ms, "maxsplit") : -1);
}
METHOD(m_replace) {
    if (nargs < 2) tpl_fail(r, at, MG_ERR_INVALID, "replace() takes at least 2 arguments");
    size_t on, nn;
    const char *o = tpl_need_str(r, at, args[0], "replace() old", &on);
    const char *nw = tpl_need_str(r, at, args[1], "replace() new", &nn);
    tpl_value *c = tpl_arg(args, nargs, kw, nkw, 2, "count");
    int64_t count = c && c->type != TV_NONE ? tpl_need_int(r, at, c, "replace() count") : -1;
    return tpl_str_replace(r, self, o, on, nw, nn, count);
}
METHOD(m_join) {
    (void)kw, (void)nkw;
    if (nargs != 1) tpl_fail(r, at, MG_ERR_INVALID, "join() takes exactly one argument");
    tpl_value *l = tpl_iter_list(r, at, args[0]);
    tpl_buf b = {0};
    for (size_t i = 0; i < l->u.l.n; i++) {
        if (l->u.l.v[i]->type != TV_STR)
            tpl_fail(r, at, MG_ERR_INVALID, "join(): item %zu is a %s, not a string", i,
                     tpl_type_name(l->u.l.v[i]));
        if (i) tpl_buf_put(r, &b, self->u.s.p, self->u.s.n);
        tpl_buf_put(r, &b, l->u.l.v[i]->u.s.p, l->u.l.v[i]->u.s.n);
    }
    return tpl_from_buf(r, &b);
}
METHOD(m_find) {
    (void)kw, (void)nkw;
    if (nargs < 1) tpl_fail(r, at, MG_ERR_INVALID, "find() takes at least 1 argument");
    size_t sn;
    const char *sub = tpl_need_str(r, at, args[0], "find() argument", &sn);
    const char *hit = sn ? memmem(self->u.s.p, self->u.s.n, sub, sn) : self->u.s.p;
    return tpl_int(r, hit ? (int64_t)tpl_utf8_count(self->u.s.p, (size_t)(hit - self->u.s.p)) : -1);
}
METHOD(m_count) {
    (void)kw, (void)nkw;
    if (nargs < 1) tpl_fail(r, at, MG_ERR_INVALID, "count() takes at least 1 argument");
    size_t sn;
    const char *sub = tpl_need_str(r, at, args[0], "count() argument", &sn);
    if (!sn) return tpl_int(r, (int64_t)tpl_utf8_count(self->u.s.p, self->u.s.n) + 1);
    int64_t c = 0;
    for (size_t i = 0; i + sn <= self->u.s.n;) {
        const char *hit = memmem(self->u.s.p + i, self->u.s.n - i, sub, sn);
        if (!hit) break;
        c++;
        i = (size_t)(hit - self->u.s.p) + sn;
    }
    return tpl_int(r, c);
}

METHOD(m_get) {
    if (nargs < 1) tpl_fail(r, at, MG_ERR_INVALID, "get() takes at least 1 argument");
    (void)kw, (void)nkw;
    tpl_value *dflt = nargs > 1 ? args[1] : &tpl_none;
    if (args[0]->type != TV_STR) return dflt;
    tpl_value *v = tpl_dict_get(self, args[0]->u.s.p, args[0]->u.s.n);
    return v ? v : dflt;
}
tpl_value *tpl_dict_items(tpl_render *r, tpl_value *d) {
    tpl_value *l = tpl_list(r, d->u.d.n);
    for (size_t i = 0; i < d->u.d.n; i++) {
        tpl_value *t = tpl_list(r, 2);
        t->tuple = 1;
        t->u.l.v[0] = tpl_str_nocopy(r, d->u.d.kv[i].k, d->u.d.kv[i].kn);
        t->u.l.v[1] = d->u.d.kv[i].v;
        l->u.l.v[i] = t;
    }
    return l;
}
METHOD(m_items) {
    (void)at, (void)args, (void)nargs, (void)kw, (void)nkw;
    return tpl_dict_items(r, self);
}
METHOD(m_keys) {
    (void)args, (void)nargs, (void)kw, (void)nkw;
    return tpl_iter_list(r, at, self);
}
METHOD(m_values) {
    (void)at, (void)args, (void)nargs, (void)kw, (void)nkw;
    tpl_value *l = tpl_list(r, self->u.d.n);
    for (size_t i = 0; i < self->u.d.n; i++)
        l->u.l.v[i] = self->u.d.kv[i].v;
    return l;
}

typedef struct method_def {
    const char *name;
    tpl_native_fn fn;
} method_def;

static const method_def STR_METHODS[] = {
    {"strip", m_strip},
    {"lstrip", m_lstrip},
    {"rstrip", m_rstrip},
    {"upper", m_upper},
    {"lower", m_lower},
    {"title", m_title},
    {"capitalize", m_capitalize},
    {"startswith", m_startswith},
    {"endswith", m_endswith},
    {"split", m_split},
    {"replace", m_replace},
    {"join", m_join},
    {"find", m_find},
    {"count", m_count},
};
static const method_def DICT_METHODS[] = {
    {"get", m_get},
    {"items", m_items},
    {"keys", m_keys},
    {"values", m_values},
};

static tpl_value *bound(tpl_render *r, tpl_value *self, const method_def *m) {
    tpl_value *f = tpl_new(r, TV_FUNC);
    f->u.fn.native = m->fn;
    f->u.fn.self = self;
    f->u.fn.name = m->name;
    return f;
}

static const method_def *find_method(const method_def *t, size_t n, const char *name, size_t nn) {
    for (size_t i = 0; i < n; i++)
        if (tpl_name_eq(name, nn, t[i].name)) return &t[i];
    return NULL;
}

tpl_value *tpl_getattr(tpl_render *r, tpl_value *obj, const char *name, size_t n) {
    const method_def *m;
    switch (obj->type) {
    case TV_DICT:
        // Jinja2 tries the attribute (dict methods) before the item.
        if ((m = find_method(DICT_METHODS, sizeof DICT_METHODS / sizeof *DICT_METHODS, name, n)))
            return bound(r, obj, m);
        /* fall through */
    case TV_NS: {
        tpl_value *v = tpl_dict_get(obj, name, n);
        return v ? v : &tpl_undef;
    }
    case TV_STR:
        if ((m = find_method(STR_METHODS, sizeof STR_METHODS / sizeof *STR_METHODS, name, n)))
            return bound(r, obj, m);
        return &tpl_undef;
    default:
        return &tpl_undef;
    }
}

tpl_value *tpl_getitem(tpl_render *r, const tpl_node *at, tpl_value *obj, tpl_value *key) {
    (void)at;
    switch (obj->type) {
    case TV_DICT:
    case TV_NS:
        if (key->type == TV_STR) {
            tpl_value *v = tpl_dict_get(obj, key->u.s.p, key->u.s.n);
            if (v) return v;
            return obj->type == TV_DICT ? tpl_getattr(r, obj, key->u.s.p, key->u.s.n) : &tpl_undef;
        }
        return &tpl_undef;
    case TV_LIST:
    case TV_STR:
        if (key->type == TV_INT || key->type == TV_BOOL) {
            int64_t i = key->type == TV_INT ? key->u.i : key->u.b;
            if (obj->type == TV_LIST) {
                int64_t n = (int64_t)obj->u.l.n;
                if (i < 0) i += n;
                return i >= 0 && i < n ? obj->u.l.v[i] : &tpl_undef;
            }
            int64_t n = (int64_t)tpl_utf8_count(obj->u.s.p, obj->u.s.n);
            if (i < 0) i += n;
            if (i < 0 || i >= n) return &tpl_undef;
            size_t off = 0;
            for (int64_t k = 0; k < i; k++) {
                size_t l;
                tpl_utf8_decode(obj->u.s.p, obj->u.s.n, off, &l);
                off += l;
            }
            size_t l;
            tpl_utf8_decode(obj->u.s.p, obj->u.s.n, off, &l);
            return tpl_str_nocopy(r, obj->u.s.p + off, l);
        }
        if (key->type == TV_STR) return tpl_getattr(r, obj, key->u.s.p, key->u.s.n);
        return &tpl_undef;
    default:
        return &tpl_undef;
    }
}

/* ---- globals --------------------------------------------------------------------------- */

METHOD(g_range) {
    (void)self, (void)kw;
    no_kw(r, at, nkw, "range");
    if (nargs < 1 || nargs > 3) tpl_fail(r, at, MG_ERR_INVALID, "range() takes 1 to 3 arguments");
    int64_t a = 0, b, step = 1;
    if (nargs == 1) {
        b = tpl_need_int(r, at, args[0], "range() argument");
    } else {
        a = tpl_need_int(r, at, args[0], "range() start");
        b = tpl_need_int(r, at, args[1], "range() stop");
        if (nargs == 3) step = tpl_need_int(r, at, args[2], "range() step");
    }
    if (step == 0) tpl_fail(r, at, MG_ERR_INVALID, "range() step must not be zero");
    double cnt = step > 0 ? ceil(((double)b - (double)a) / (double)step)
                          : ceil(((double)a - (double)b) / (double)-step);
    if (cnt < 0) cnt = 0;
    if (cnt > (double)(r->lim.max_memory / 32))
        tpl_fail(r, at, MG_ERR_INVALID, "range() of %.0f items exceeds the memory limit", cnt);
    size_t n = (size_t)cnt;
    tpl_value *l = tpl_list(r, n);
    for (size_t i = 0; i < n; i++)
        l->u.l.v[i] = tpl_int(r, a + (int64_t)i * step);
    return l;
}

METHOD(g_namespace) {
    (void)self;
    tpl_value *ns = tpl_new(r, TV_NS);
    if (nargs > 1)
        tpl_fail(r, at, MG_ERR_INVALID, "namespace() takes at most 1 positional argument");
    if (nargs == 1) {
        tpl_value *src = args[0];
        if (src->type == TV_DICT || src->type == TV_NS) {
            for (size_t i = 0; i < src->u.d.n; i++)
                tpl_dict_set(r, ns, src->u.d.kv[i].k, src->u.d.kv[i].kn, src->u.d.kv[i].v);
        } else if (src->type == TV_LIST) {
            for (size_t i = 0; i < src->u.l.n; i++) {
                tpl_value *pair = src->u.l.v[i];
                if (pair->type != TV_LIST || pair->u.l.n != 2 || pair->u.l.v[0]->type != TV_STR)
                    tpl_fail(r, at, MG_ERR_INVALID, "namespace() expects (key, value) pairs");
                tpl_dict_set(r, ns, pair->u.l.v[0]->u.s.p, pair->u.l.v[0]->u.s.n, pair->u.l.v[1]);
            }
        } else {
            tpl_fail(r, at, MG_ERR_INVALID, "namespace() argument must be a mapping, not %s",
                     tpl_type_name(src));
        }
    }
    for (size_t i = 0; i < nkw; i++)
        tpl_dict_set(r, ns, kw[i].k, kw[i].kn, kw[i].v);
    return ns;
}

METHOD(g_dict) {
    (void)self;
    tpl_value *d = tpl_dict(r);
    if (nargs > 1) tpl_fail(r, at, MG_ERR_INVALID, "dict() takes at most 1 positional argument");
    if (nargs == 1) {
        if (args[0]->type != TV_DICT)
            tpl_fail(r, at, MG_ERR_INVALID, "dict() argument must be a mapping");
        for (size_t i = 0; i < args[0]->u.d.n; i++)
            tpl_dict_set(r, d, args[0]->u.d.kv[i].k, args[0]->u.d.kv[i].kn, args[0]->u.d.kv[i].v);
    }
    for (size_t i = 0; i < nkw; i++)
        tpl_dict_set(r, d, kw[i].k, kw[i].kn, kw[i].v);
    return d;
}

METHOD(g_raise_exception) {
    (void)self, (void)kw, (void)nkw;
    tpl_buf b = {0};
    for (size_t i = 0; i < nargs; i++) {
        if (i) tpl_buf_putc(r, &b, ' ');
        tpl_write_str(r, &b, args[i], at);
    }
    tpl_fail(r, at, MG_ERR_INVALID, "template raised: %s", b.p ? b.p : "");
}

METHOD(g_strftime_now) {
    (void)self, (void)kw, (void)nkw;
    if (nargs != 1) tpl_fail(r, at, MG_ERR_INVALID, "strftime_now() takes one format string");
    size_t fn;
    const char *f = tpl_need_str(r, at, args[0], "strftime_now() format", &fn);
    if (fn > 200) tpl_fail(r, at, MG_ERR_INVALID, "strftime_now() format too long");
    char fmt[256], out[1024];
    memcpy(fmt, f, fn);
    fmt[fn] = '\0';
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    size_t k = strftime(out, sizeof out, fmt, &tmv);
    return tpl_str(r, out, k);
}

void tpl_install_globals(tpl_render *r, tpl_scope *g) {
    static const method_def G[] = {
        {"range", g_range},
        {"namespace", g_namespace},
        {"dict", g_dict},
        {"raise_exception", g_raise_exception},
        {"strftime_now", g_strftime_now},
    };
    for (size_t i = 0; i < sizeof G / sizeof *G; i++) {
        tpl_value *f = tpl_new(r, TV_FUNC);
        f->u.fn.native = G[i].fn;
        f->u.fn.name = G[i].name;
        tpl_scope_set(r, g, G[i].name, strlen(G[i].name), f);
    }
}

tpl_value *tpl_str_upper(tpl_render *r, tpl_value *s) {
    return map_case(r, s, to_upper);
}

tpl_value *tpl_str_lower(tpl_render *r, tpl_value *s) {
    return map_case(r, s, to_lower);
}
