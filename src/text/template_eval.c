/* template_eval.c - the tree-walking interpreter: expressions, statements,
 * scopes and macros. Scoping follows @huggingface/jinja (and Jinja2 for the
 * cases chat templates rely on): `set` writes the innermost scope; a for loop
 * opens one scope for its whole run, so assignments inside it survive from one
 * iteration to the next but not past the loop; if-blocks open none; a macro
 * call opens a scope whose parent is the caller's. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "text/template_internal.h"

enum { EXEC_OK = 0, EXEC_BREAK, EXEC_CONTINUE };

_Noreturn void tpl_fail(tpl_render *r, const tpl_node *at, mg_status st, const char *fmt, ...) {
    char msg[MG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at) {
        int line, col;
        tpl_line_col(r->t->src, r->t->srclen, at->pos, &line, &col);
        mg_error_set(r->err, st, "%s:%d:%d: %s", r->t->name, line, col, msg);
    } else {
        mg_error_set(r->err, st, "%s: %s", r->t->name, msg);
    }
    longjmp(r->jb, 1);
}

void tpl_step(tpl_render *r, const tpl_node *at) {
    if (r->lim.max_steps && ++r->steps > r->lim.max_steps)
        tpl_fail(r, at, MG_ERR_INVALID, "template exceeded %llu evaluation steps (endless loop?)",
                 (unsigned long long)r->lim.max_steps);
}

static void enter(tpl_render *r, const tpl_node *at) {
    if (++r->depth > r->lim.max_depth * 8)
        tpl_fail(r, at, MG_ERR_INVALID, "template recursion too deep (more than %d levels)",
                 r->lim.max_depth);
}

static tpl_value *eval(tpl_render *r, tpl_scope *s, const tpl_node *n);
static int exec_block(tpl_render *r, tpl_scope *s, const tpl_block *b);

/* ---- arithmetic ------------------------------------------------------------------- */

static bool is_numeric(const tpl_value *v) {
    return v->type == TV_INT || v->type == TV_FLOAT || v->type == TV_BOOL;
}

static double as_double(const tpl_value *v) {
    return v->type == TV_FLOAT ? v->u.f : v->type == TV_INT ? (double)v->u.i : (double)v->u.b;
}

static int64_t as_int(const tpl_value *v) {
    return v->type == TV_INT ? v->u.i : (int64_t)v->u.b;
}

static const char *op_name(int op) {
    switch (op) {
    case OP_ADD:
        return "+";
    case OP_SUB:
        return "-";
    case OP_MUL:
        return "*";
    case OP_DIV:
        return "/";
    case OP_FLOORDIV:
        return "//";
    case OP_MOD:
        return "%";
    case OP_POW:
        return "**";
    default:
        return "?";
    }
}

static tpl_value *repeat(tpl_render *r, const tpl_node *n, tpl_value *seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq->type == TV_STR) {
        uint64_t total;
        if (!mg_size_mul(seq->u.s.n, (uint64_t)times, &total) || total > r->lim.max_memory)
            tpl_fail(r, n, MG_ERR_INVALID, "string repetition too large");
        char *p = tpl_alloc(&r->arena, (size_t)total + 1);
        for (int64_t k = 0; k < times; k++)
            memcpy(p + (size_t)k * seq->u.s.n, seq->u.s.p, seq->u.s.n);
        return tpl_str_nocopy(r, p, (size_t)total);
    }
    uint64_t total;
    if (!mg_size_mul(seq->u.l.n, (uint64_t)times, &total) || total > r->lim.max_memory / 8)
        tpl_fail(r, n, MG_ERR_INVALID, "list repetition too large");
    tpl_value *l = tpl_list(r, (size_t)total);
    l->tuple = seq->tuple;
    for (uint64_t k = 0; k < total; k++)
        l->u.l.v[k] = seq->u.l.v[k % seq->u.l.n];
    return l;
}

static tpl_value *arith(tpl_render *r, const tpl_node *n, int op, tpl_value *a, tpl_value *b) {
    if (is_numeric(a) && is_numeric(b)) {
        bool fl = a->type == TV_FLOAT || b->type == TV_FLOAT;
        if (!fl && op != OP_DIV) {
            int64_t x = as_int(a), y = as_int(b), z = 0;
            bool ovf = false;
            switch (op) {
            case OP_ADD:
                ovf = __builtin_add_overflow(x, y, &z);
                break;
            case OP_SUB:
                ovf = __builtin_sub_overflow(x, y, &z);
                break;
            case OP_MUL:
                ovf = __builtin_mul_overflow(x, y, &z);
                break;
            case OP_FLOORDIV:
            case OP_MOD:
                if (y == 0) tpl_fail(r, n, MG_ERR_INVALID, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) {
                    ovf = op == OP_FLOORDIV;
                    z = 0;
                    break;
                }
                z = op == OP_FLOORDIV ? x / y : x % y;
                // Python: floor division, remainder takes the divisor's sign
                if ((x % y != 0) && ((x < 0) != (y < 0))) z = op == OP_FLOORDIV ? z - 1 : z + y;
                break;
            case OP_POW:
                if (y < 0) return tpl_float(r, pow((double)x, (double)y));
                z = 1;
                for (int64_t k = 0; k < y && !ovf; k++) {
                    ovf = __builtin_mul_overflow(z, x, &z);
                    if (z == 0 || z == 1) break;
                }
                if (!ovf && z == 1 && x == -1) z = (y % 2) ? -1 : 1;
                break;
            }
            if (ovf) tpl_fail(r, n, MG_ERR_INVALID, "integer overflow in '%s'", op_name(op));
            return tpl_int(r, z);
        }
        double x = as_double(a), y = as_double(b), z = 0;
        switch (op) {
        case OP_ADD:
            z = x + y;
            break;
        case OP_SUB:
            z = x - y;
            break;
        case OP_MUL:
            z = x * y;
            break;
        case OP_DIV:
            if (y == 0) tpl_fail(r, n, MG_ERR_INVALID, "division by zero");
            z = x / y;
            break;
        case OP_FLOORDIV:
            if (y == 0) tpl_fail(r, n, MG_ERR_INVALID, "float floor division by zero");
            z = floor(x / y);
            break;
        case OP_MOD:
            if (y == 0) tpl_fail(r, n, MG_ERR_INVALID, "float modulo by zero");
            z = fmod(x, y);
            if (z != 0 && ((z < 0) != (y < 0))) z += y;
            break;
        case OP_POW:
            if (x == 0 && y < 0)
                tpl_fail(r, n, MG_ERR_INVALID, "0.0 cannot be raised to a negative power");
            z = pow(x, y);
            break;
        }
        return tpl_float(r, z);
    }
    if (op == OP_ADD) {
        if (a->type == TV_STR && b->type == TV_STR) {
            char *p = tpl_alloc(&r->arena, a->u.s.n + b->u.s.n + 1);
            memcpy(p, a->u.s.p, a->u.s.n);
            memcpy(p + a->u.s.n, b->u.s.p, b->u.s.n);
            return tpl_str_nocopy(r, p, a->u.s.n + b->u.s.n);
        }
        if (a->type == TV_LIST && b->type == TV_LIST) {
            tpl_value *l = tpl_list(r, a->u.l.n + b->u.l.n);
            if (a->u.l.n) memcpy(l->u.l.v, a->u.l.v, a->u.l.n * sizeof *l->u.l.v);
            if (b->u.l.n) memcpy(l->u.l.v + a->u.l.n, b->u.l.v, b->u.l.n * sizeof *l->u.l.v);
            l->tuple = a->tuple && b->tuple;
            return l;
        }
        // @huggingface/jinja concatenates a string with a number or boolean
        // (Python would raise): do the same, formatting the other side as str().
        if ((a->type == TV_STR && is_numeric(b)) || (b->type == TV_STR && is_numeric(a)))
            return arith(r, n, OP_ADD, tpl_to_str(r, a, n), tpl_to_str(r, b, n));
    }
    if (op == OP_MUL) {
        if ((a->type == TV_STR || a->type == TV_LIST) && (b->type == TV_INT || b->type == TV_BOOL))
            return repeat(r, n, a, as_int(b));
        if ((b->type == TV_STR || b->type == TV_LIST) && (a->type == TV_INT || a->type == TV_BOOL))
            return repeat(r, n, b, as_int(a));
    }
    tpl_fail(r, n, MG_ERR_INVALID, "unsupported operand types for %s: %s and %s", op_name(op),
             tpl_type_name(a), tpl_type_name(b));
}

static bool contains(tpl_render *r, const tpl_node *n, tpl_value *item, tpl_value *seq) {
    switch (seq->type) {
    case TV_UNDEF:
        return false;
    case TV_STR:
        if (item->type != TV_STR)
            tpl_fail(r, n, MG_ERR_INVALID, "'in <string>' requires a string on the left, not %s",
                     tpl_type_name(item));
        if (!item->u.s.n) return true;
        if (item->u.s.n > seq->u.s.n) return false;
        return memmem(seq->u.s.p, seq->u.s.n, item->u.s.p, item->u.s.n) != NULL;
    case TV_LIST:
        for (size_t i = 0; i < seq->u.l.n; i++)
            if (tpl_equal(item, seq->u.l.v[i], 0)) return true;
        return false;
    case TV_DICT:
    case TV_NS:
        return item->type == TV_STR && tpl_dict_get(seq, item->u.s.p, item->u.s.n) != NULL;
    default:
        tpl_fail(r, n, MG_ERR_INVALID, "argument of type %s is not iterable", tpl_type_name(seq));
    }
}

static bool compare_op(tpl_render *r, const tpl_node *n, int op, tpl_value *a, tpl_value *b) {
    switch (op) {
    case OP_EQ:
        return tpl_equal(a, b, 0);
    case OP_NE:
        return !tpl_equal(a, b, 0);
    case OP_IN:
        return contains(r, n, a, b);
    case OP_NOTIN:
        return !contains(r, n, a, b);
    default:
        break;
    }
    int c = tpl_compare(r, a, b, n);
    switch (op) {
    case OP_LT:
        return c < 0;
    case OP_LE:
        return c <= 0;
    case OP_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

/* ---- calls ------------------------------------------------------------------------- */

typedef struct argv {
    tpl_value **pos;
    size_t npos;
    tpl_kv *kw;
    size_t nkw;
} argv;

static void eval_args(tpl_render *r, tpl_scope *s, const tpl_node *n, argv *a) {
    a->npos = a->nkw = 0;
    a->pos = n->nkids ? tpl_alloc(&r->arena, n->nkids * sizeof *a->pos) : NULL;
    a->kw = n->nkids ? tpl_alloc(&r->arena, n->nkids * sizeof *a->kw) : NULL;
    for (size_t i = 0; i < n->nkids; i++) {
        const tpl_node *k = n->kids[i];
        if (k->kind == ND_KWARG) {
            for (size_t j = 0; j < a->nkw; j++)
                if (a->kw[j].kn == k->n && !memcmp(a->kw[j].k, k->s, k->n))
                    tpl_fail(r, k, MG_ERR_INVALID, "keyword argument '%.*s' given twice", (int)k->n,
                             k->s);
            a->kw[a->nkw++] = (tpl_kv){k->s, k->n, eval(r, s, k->a)};
        } else {
            a->pos[a->npos++] = eval(r, s, k);
        }
    }
}

tpl_value *tpl_call_macro(tpl_render *r, const tpl_node *at, tpl_value *fn, tpl_value **args,
                          size_t nargs, tpl_kv *kw, size_t nkw) {
    const tpl_node *m = fn->u.fn.macro;
    tpl_step(r, at);
    enter(r, at);
    // Dynamic scope, as @huggingface/jinja: the macro sees the caller's variables.
    tpl_scope *caller = (tpl_scope *)fn->u.fn.self;
    tpl_scope *ms = tpl_scope_new(r, caller);
    bool *used = nkw ? tpl_alloc(&r->arena, nkw * sizeof *used) : NULL;
    for (size_t i = 0; i < m->nkids; i++) {
        const tpl_node *p = m->kids[i];
        tpl_value *v = NULL;
        if (i < nargs) v = args[i];
        for (size_t k = 0; k < nkw; k++)
            if (kw[k].kn == p->n && !memcmp(kw[k].k, p->s, p->n)) {
                if (v)
                    tpl_fail(r, at, MG_ERR_INVALID, "macro '%.*s' got multiple values for '%.*s'",
                             (int)m->n, m->s, (int)p->n, p->s);
                v = kw[k].v;
                used[k] = true;
            }
        tpl_scope_set(r, ms, p->s, p->n, v ? v : &tpl_undef);
    }
    for (size_t i = 0; i < m->nkids; i++) {
        const tpl_node *p = m->kids[i];
        if (p->a && tpl_scope_lookup(ms, p->s, p->n)->type == TV_UNDEF && !(i < nargs)) {
            bool given = false;
            for (size_t k = 0; k < nkw; k++)
                if (kw[k].kn == p->n && !memcmp(kw[k].k, p->s, p->n)) given = true;
            if (!given) tpl_scope_set(r, ms, p->s, p->n, eval(r, ms, p->a));
        }
    }
    // Extra arguments go to varargs / kwargs, as Jinja2 macros that read them.
    size_t nextra = nargs > m->nkids ? nargs - m->nkids : 0;
    tpl_value *va = tpl_list(r, nextra);
    va->tuple = 1;
    for (size_t i = 0; i < nextra; i++)
        va->u.l.v[i] = args[m->nkids + i];
    tpl_scope_set(r, ms, "varargs", 7, va);
    tpl_value *kd = tpl_dict(r);
    for (size_t k = 0; k < nkw; k++)
        if (!used[k]) tpl_dict_set(r, kd, kw[k].k, kw[k].kn, kw[k].v);
    tpl_scope_set(r, ms, "kwargs", 6, kd);

    tpl_buf *saved = r->out;
    tpl_buf cap = {0};
    r->out = &cap;
    exec_block(r, ms, &m->blocks[0]);
    r->out = saved;
    r->depth--;
    return tpl_str_nocopy(r, cap.p ? cap.p : "", cap.n);
}

static tpl_value *call(tpl_render *r, tpl_scope *s, const tpl_node *n) {
    tpl_value *fn = eval(r, s, n->a);
    argv a;
    eval_args(r, s, n, &a);
    if (fn->type != TV_FUNC) {
        if (n->a->kind == ND_NAME && fn->type == TV_UNDEF)
            tpl_fail(r, n, MG_ERR_INVALID, "'%.*s' is undefined and cannot be called", (int)n->a->n,
                     n->a->s);
        tpl_fail(r, n, MG_ERR_INVALID, "a %s is not callable", tpl_type_name(fn));
    }
    if (fn->u.fn.macro) {
        // bind the caller scope for dynamic scoping
        tpl_value bound = *fn;
        bound.u.fn.self = (tpl_value *)s;
        return tpl_call_macro(r, n, &bound, a.pos, a.npos, a.kw, a.nkw);
    }
    tpl_step(r, n);
    return fn->u.fn.native(r, n, fn->u.fn.self, a.pos, a.npos, a.kw, a.nkw);
}

/* ---- expressions ------------------------------------------------------------------- */

static tpl_value *slice(tpl_render *r, tpl_scope *s, const tpl_node *n) {
    tpl_value *obj = eval(r, s, n->a);
    int64_t idx[3];
    bool has[3];
    for (int k = 0; k < 3; k++) {
        has[k] = false;
        if (!n->kids[k]) continue;
        tpl_value *v = eval(r, s, n->kids[k]);
        if (v->type == TV_NONE || v->type == TV_UNDEF) continue;
        if (v->type != TV_INT && v->type != TV_BOOL)
            tpl_fail(r, n->kids[k], MG_ERR_INVALID, "slice indices must be integers, not %s",
                     tpl_type_name(v));
        idx[k] = as_int(v);
        has[k] = true;
    }
    int64_t step = has[2] ? idx[2] : 1;
    if (step == 0) tpl_fail(r, n, MG_ERR_INVALID, "slice step cannot be zero");
    // code point offsets for strings
    size_t len;
    size_t *offs = NULL;
    if (obj->type == TV_STR) {
        len = tpl_utf8_count(obj->u.s.p, obj->u.s.n);
        offs = tpl_alloc(&r->arena, (len + 1) * sizeof *offs);
        size_t k = 0;
        for (size_t i = 0; i < obj->u.s.n; i++)
            if (((unsigned char)obj->u.s.p[i] & 0xC0) != 0x80) offs[k++] = i;
        offs[len] = obj->u.s.n;
    } else if (obj->type == TV_LIST) {
        len = obj->u.l.n;
    } else if (obj->type == TV_UNDEF) {
        return &tpl_undef;
    } else {
        tpl_fail(r, n, MG_ERR_INVALID, "cannot slice a %s", tpl_type_name(obj));
    }
    int64_t L = (int64_t)len, start, stop;
    if (step > 0) {
        start = has[0]
                    ? (idx[0] < 0 ? (idx[0] + L < 0 ? 0 : idx[0] + L) : (idx[0] > L ? L : idx[0]))
                    : 0;
        stop = has[1] ? (idx[1] < 0 ? (idx[1] + L < 0 ? 0 : idx[1] + L) : (idx[1] > L ? L : idx[1]))
                      : L;
    } else {
        start = has[0] ? (idx[0] < 0 ? (idx[0] + L < -1 ? -1 : idx[0] + L)
                                     : (idx[0] > L - 1 ? L - 1 : idx[0]))
                       : L - 1;
        stop = has[1] ? (idx[1] < 0 ? (idx[1] + L < -1 ? -1 : idx[1] + L)
                                    : (idx[1] > L - 1 ? L - 1 : idx[1]))
                      : -1;
    }
    size_t count = 0;
    if (step > 0 && stop > start) count = (size_t)((stop - start + step - 1) / step);
    if (step < 0 && start > stop) count = (size_t)((start - stop + (-step) - 1) / (-step));
    if (obj->type == TV_LIST) {
        tpl_value *l = tpl_list(r, count);
        l->tuple = obj->tuple;
        for (size_t k = 0; k < count; k++)
            l->u.l.v[k] = obj->u.l.v[start + (int64_t)k * step];
        return l;
    }
    tpl_buf b = {0};
    for (size_t k = 0; k < count; k++) {
        int64_t ci = start + (int64_t)k * step;
        tpl_buf_put(r, &b, obj->u.s.p + offs[ci], offs[ci + 1] - offs[ci]);
    }
    return tpl_str_nocopy(r, b.p ? b.p : "", b.n);
}

static tpl_value *eval(tpl_render *r, tpl_scope *s, const tpl_node *n) {
    enter(r, n);
    tpl_value *v = NULL;
    switch ((tpl_node_kind)n->kind) {
    case ND_CONST:
        v = n->value;
        break;
    case ND_NAME:
        v = tpl_scope_lookup(s, n->s, n->n);
        break;
    case ND_LIST:
    case ND_TUPLE:
        v = tpl_list(r, n->nkids);
        v->tuple = n->kind == ND_TUPLE;
        for (size_t i = 0; i < n->nkids; i++)
            v->u.l.v[i] = eval(r, s, n->kids[i]);
        break;
    case ND_DICT:
        v = tpl_dict(r);
        for (size_t i = 0; i + 1 < n->nkids; i += 2) {
            tpl_value *k = eval(r, s, n->kids[i]);
            if (k->type != TV_STR)
                tpl_fail(r, n->kids[i], MG_ERR_UNSUPPORTED,
                         "unsupported dict key of type %s (only strings)", tpl_type_name(k));
            tpl_dict_set(r, v, k->u.s.p, k->u.s.n, eval(r, s, n->kids[i + 1]));
        }
        break;
    case ND_ATTR: {
        tpl_value *o = eval(r, s, n->a);
        v = n->i ? tpl_getitem(r, n, o, n->b->value) : tpl_getattr(r, o, n->s, n->n);
        break;
    }
    case ND_ITEM: {
        tpl_value *o = eval(r, s, n->a);
        v = tpl_getitem(r, n, o, eval(r, s, n->b));
        break;
    }
    case ND_SLICE:
        v = slice(r, s, n);
        break;
    case ND_CALL:
        v = call(r, s, n);
        break;
    case ND_FILTER: {
        tpl_value *x = eval(r, s, n->a);
        argv a;
        eval_args(r, s, n, &a);
        tpl_step(r, n);
        v = tpl_apply_filter(r, n, (int)n->i, x, a.pos, a.npos, a.kw, a.nkw);
        break;
    }
    case ND_TEST: {
        tpl_value *x = eval(r, s, n->a);
        argv a;
        eval_args(r, s, n, &a);
        bool res = tpl_apply_test(r, n, (int)n->i, x, a.pos, a.npos);
        v = tpl_bool(n->op ? !res : res);
        break;
    }
    case ND_UNARY: {
        tpl_value *x = eval(r, s, n->a);
        if (n->op == OP_NOT) {
            v = tpl_bool(!tpl_truthy(x));
        } else {
            if (!is_numeric(x))
                tpl_fail(r, n, MG_ERR_INVALID, "bad operand type for unary %s: %s",
                         n->op == OP_NEG ? "-" : "+", tpl_type_name(x));
            if (x->type == TV_FLOAT)
                v = tpl_float(r, n->op == OP_NEG ? -x->u.f : x->u.f);
            else {
                int64_t i = as_int(x);
                if (n->op == OP_NEG && i == INT64_MIN)
                    tpl_fail(r, n, MG_ERR_INVALID, "integer overflow in unary -");
                v = tpl_int(r, n->op == OP_NEG ? -i : i);
            }
        }
        break;
    }
    case ND_BIN: {
        tpl_value *a = eval(r, s, n->a), *b = eval(r, s, n->b);
        if (n->op == OP_TILDE) {
            tpl_buf buf = {0};
            tpl_write_str(r, &buf, a, n);
            tpl_write_str(r, &buf, b, n);
            v = tpl_str_nocopy(r, buf.p ? buf.p : "", buf.n);
        } else {
            if (a->type == TV_UNDEF || b->type == TV_UNDEF)
                tpl_fail(r, n, MG_ERR_INVALID, "'%s' on an undefined value%s%.*s", op_name(n->op),
                         (n->a->kind == ND_NAME && a->type == TV_UNDEF) ? ": " : "",
                         (n->a->kind == ND_NAME && a->type == TV_UNDEF) ? (int)n->a->n : 0,
                         (n->a->kind == ND_NAME && a->type == TV_UNDEF) ? n->a->s : "");
            v = arith(r, n, n->op, a, b);
        }
        break;
    }
    case ND_AND: {
        tpl_value *a = eval(r, s, n->a);
        v = tpl_truthy(a) ? eval(r, s, n->b) : a;
        break;
    }
    case ND_OR: {
        tpl_value *a = eval(r, s, n->a);
        v = tpl_truthy(a) ? a : eval(r, s, n->b);
        break;
    }
    case ND_CMP: {
        tpl_value *left = eval(r, s, n->a);
        v = &tpl_true;
        for (size_t i = 0; i < n->nkids; i++) {
            tpl_value *right = eval(r, s, n->kids[i]);
            if (!compare_op(r, n, n->ops[i], left, right)) {
                v = &tpl_false;
                break;
            }
            left = right;
        }
        break;
    }
    case ND_COND:
        if (tpl_truthy(eval(r, s, n->b)))
            v = eval(r, s, n->a);
        else
            v = n->c ? eval(r, s, n->c) : &tpl_undef;
        break;
    default:
        tpl_fail(r, n, MG_ERR_INVALID, "internal error: node %d is not an expression", n->kind);
    }
    r->depth--;
    return v;
}

/* ---- statements -------------------------------------------------------------------- */

static void assign(tpl_render *r, tpl_scope *s, const tpl_node *target, tpl_value *v) {
    if (target->kind == ND_NAME) {
        tpl_scope_set(r, s, target->s, target->n, v);
        return;
    }
    if (target->kind == ND_ATTR) {
        tpl_value *ns = eval(r, s, target->a);
        if (ns->type != TV_NS)
            tpl_fail(r, target, MG_ERR_INVALID,
                     "cannot set attribute '%.*s' on a %s (only on a namespace())", (int)target->n,
                     target->s, tpl_type_name(ns));
        tpl_dict_set(r, ns, target->s, target->n, v);
        return;
    }
    // tuple unpacking
    tpl_value *seq = v->type == TV_LIST ? v : NULL;
    if (!seq && (v->type == TV_STR || v->type == TV_DICT)) seq = tpl_iter_list(r, target, v);
    if (!seq) tpl_fail(r, target, MG_ERR_INVALID, "cannot unpack a %s", tpl_type_name(v));
    if (seq->u.l.n != target->nkids)
        tpl_fail(r, target, MG_ERR_INVALID, "cannot unpack %zu values into %zu names", seq->u.l.n,
                 target->nkids);
    for (size_t i = 0; i < target->nkids; i++)
        tpl_scope_set(r, s, target->kids[i]->s, target->kids[i]->n, seq->u.l.v[i]);
}

static tpl_value *loop_object(tpl_render *r, tpl_value *items, size_t i) {
    size_t n = items->u.l.n;
    tpl_value *d = tpl_dict(r);
    d->u.d.kv = tpl_alloc(&r->arena, 9 * sizeof *d->u.d.kv);
    d->u.d.cap = 9;
    tpl_dict_set(r, d, "index", 5, tpl_int(r, (int64_t)i + 1));
    tpl_dict_set(r, d, "index0", 6, tpl_int(r, (int64_t)i));
    tpl_dict_set(r, d, "revindex", 8, tpl_int(r, (int64_t)(n - i)));
    tpl_dict_set(r, d, "revindex0", 9, tpl_int(r, (int64_t)(n - i - 1)));
    tpl_dict_set(r, d, "first", 5, tpl_bool(i == 0));
    tpl_dict_set(r, d, "last", 4, tpl_bool(i + 1 == n));
    tpl_dict_set(r, d, "length", 6, tpl_int(r, (int64_t)n));
    tpl_dict_set(r, d, "previtem", 8, i > 0 ? items->u.l.v[i - 1] : &tpl_undef);
    tpl_dict_set(r, d, "nextitem", 8, i + 1 < n ? items->u.l.v[i + 1] : &tpl_undef);
    return d;
}

static void exec_for(tpl_render *r, tpl_scope *s, const tpl_node *n) {
    tpl_scope *ls = tpl_scope_new(r, s);
    tpl_value *seq = tpl_iter_list(r, n->b, eval(r, ls, n->b));
    if (n->c) { // `for x in xs if cond`: filter first, so loop.length counts kept items
        tpl_value *kept = tpl_list(r, seq->u.l.n);
        size_t k = 0;
        for (size_t i = 0; i < seq->u.l.n; i++) {
            tpl_step(r, n);
            tpl_scope *fs = tpl_scope_new(r, ls);
            assign(r, fs, n->a, seq->u.l.v[i]);
            if (tpl_truthy(eval(r, fs, n->c))) kept->u.l.v[k++] = seq->u.l.v[i];
        }
        kept->u.l.n = k;
        seq = kept;
    }
    if (seq->u.l.n == 0) {
        if (n->nblocks > 1) exec_block(r, ls, &n->blocks[1]);
        return;
    }
    for (size_t i = 0; i < seq->u.l.n; i++) {
        tpl_step(r, n);
        tpl_scope_set(r, ls, "loop", 4, loop_object(r, seq, i));
        assign(r, ls, n->a, seq->u.l.v[i]);
        int st = exec_block(r, ls, &n->blocks[0]);
        if (st == EXEC_BREAK) break;
    }
}

static int exec_stmt(tpl_render *r, tpl_scope *s, const tpl_node *n) {
    tpl_step(r, n);
    switch ((tpl_node_kind)n->kind) {
    case ND_TEXT:
        tpl_buf_put(r, r->out, n->s, n->n);
        return EXEC_OK;
    case ND_OUTPUT:
        tpl_write_str(r, r->out, eval(r, s, n->a), n);
        return EXEC_OK;
    case ND_IF:
        for (size_t i = 0; i < n->nkids; i++)
            if (tpl_truthy(eval(r, s, n->kids[i]))) return exec_block(r, s, &n->blocks[i]);
        if (n->i) return exec_block(r, s, &n->blocks[n->nkids]);
        return EXEC_OK;
    case ND_FOR:
        exec_for(r, s, n);
        return EXEC_OK;
    case ND_SET:
        if (n->b) {
            assign(r, s, n->a, eval(r, s, n->b));
        } else {
            tpl_buf *saved = r->out;
            tpl_buf cap = {0};
            r->out = &cap;
            int st = exec_block(r, s, &n->blocks[0]);
            r->out = saved;
            assign(r, s, n->a, tpl_str_nocopy(r, cap.p ? cap.p : "", cap.n));
            return st;
        }
        return EXEC_OK;
    case ND_MACRO: {
        tpl_value *f = tpl_new(r, TV_FUNC);
        f->u.fn.macro = n;
        f->u.fn.name = tpl_strdup(&r->arena, n->s, n->n);
        tpl_scope_set(r, s, n->s, n->n, f);
        return EXEC_OK;
    }
    case ND_BREAK:
        return EXEC_BREAK;
    case ND_CONTINUE:
        return EXEC_CONTINUE;
    case ND_FILTER_BLOCK: {
        tpl_buf *saved = r->out;
        tpl_buf cap = {0};
        r->out = &cap;
        int st = exec_block(r, s, &n->blocks[0]);
        r->out = saved;
        // apply the chain of filters innermost first
        const tpl_node *chain[64];
        size_t nc = 0;
        for (const tpl_node *f = n->a; f && nc < 64; f = f->a)
            chain[nc++] = f;
        tpl_value *v = tpl_str_nocopy(r, cap.p ? cap.p : "", cap.n);
        while (nc--) {
            const tpl_node *f = chain[nc];
            argv a;
            eval_args(r, s, f, &a);
            v = tpl_apply_filter(r, f, (int)f->i, v, a.pos, a.npos, a.kw, a.nkw);
        }
        tpl_write_str(r, r->out, v, n);
        return st;
    }
    default:
        tpl_write_str(r, r->out, eval(r, s, n), n);
        return EXEC_OK;
    }
}

static int exec_block(tpl_render *r, tpl_scope *s, const tpl_block *b) {
    enter(r, NULL);
    for (size_t i = 0; i < b->n; i++) {
        int st = exec_stmt(r, s, b->v[i]);
        if (st != EXEC_OK) {
            r->depth--;
            return st;
        }
    }
    r->depth--;
    return EXEC_OK;
}

/* ---- entry ------------------------------------------------------------------------- */

mg_template_limits mg_template_default_limits(void) {
    return (mg_template_limits){
        .max_output = 16u << 20, .max_memory = 256u << 20, .max_steps = 10000000, .max_depth = 200};
}

static void arena_overflow(void *ctx) {
    tpl_render *r = ctx;
    r->arena.overflow = NULL; // the error path must not recurse
    tpl_fail(r, NULL, MG_ERR_INVALID, "template used more than %zu bytes of memory while rendering",
             r->lim.max_memory);
}

mg_status mg_template_render(const mg_template *t, const json_t *context,
                             const mg_template_limits *limits, char **out, size_t *len,
                             mg_error *err) {
    *out = NULL;
    if (len) *len = 0;
    if (context && !json_is_object(context))
        return mg_error_set(err, MG_ERR_INVALID, "%s: render context must be a JSON object",
                            t->name);
    tpl_render *r = mg_calloc(1, sizeof *r);
    r->err = err;
    r->t = t;
    r->lim = limits ? *limits : mg_template_default_limits();
    if (r->lim.max_depth <= 0) r->lim.max_depth = 200;
    r->arena.budget = r->lim.max_memory;
    r->arena.overflow = arena_overflow;
    r->arena.ctx = r;
    if (setjmp(r->jb)) {
        mg_status st = err ? err->status : MG_ERR_INVALID;
        tpl_arena_free(&r->arena);
        free(r);
        return st;
    }
    tpl_buf *main_out = tpl_alloc(&r->arena, sizeof *main_out);
    r->out = main_out;
    tpl_scope *g = tpl_scope_new(r, NULL);
    r->globals = g;
    tpl_install_globals(r, g);
    tpl_scope *top = tpl_scope_new(r, g);
    if (context) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)context, k, v)
            tpl_scope_set(r, top, k, strlen(k), tpl_from_json(r, v, 0));
    }
    exec_block(r, top, &t->body);
    *out = mg_malloc(main_out->n + 1);
    if (main_out->n) memcpy(*out, main_out->p, main_out->n);
    (*out)[main_out->n] = '\0';
    if (len) *len = main_out->n;
    tpl_arena_free(&r->arena);
    free(r);
    return MG_OK;
}
