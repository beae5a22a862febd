/* template_parse.c - tokens to AST, with Jinja2's operator precedence:
 * conditional < or < and < not < comparisons (chained, incl. in / not in)
 * < + - < ~ < * / // % < ** < unary - + < postfix (. [] () | is).
 * Statements: if/elif/else, for (with `if` filter and else), set (also block
 * set, tuple unpacking and namespace attributes), macro, break, continue,
 * filter blocks. Anything else is rejected with its position. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "text/template_internal.h"

enum { MAX_NEST = 128, MAX_NODE_DEPTH = 512 };

typedef struct parser {
    tpl_pctx *p;
    tpl_token *t;
    size_t n, i;
} parser;

_Noreturn void tpl_parse_fail(tpl_pctx *p, size_t pos, const char *fmt, ...) {
    char msg[MG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    tpl_line_col(p->t->src, p->t->srclen, pos, &line, &col);
    mg_status st = strstr(msg, "unsupported") ? MG_ERR_UNSUPPORTED : MG_ERR_INVALID;
    mg_error_set(p->err, st, "%s:%d:%d: %s", p->t->name, line, col, msg);
    longjmp(p->jb, 1);
}

static tpl_token *cur(parser *P) {
    return &P->t[P->i];
}
static tpl_token *peek(parser *P, size_t k) {
    return P->i + k < P->n ? &P->t[P->i + k] : &P->t[P->n - 1];
}
static bool is_op(parser *P, tpl_op op) {
    return cur(P)->kind == TK_OP && cur(P)->op == op;
}
static bool is_name_tok(const tpl_token *t, const char *name) {
    return t->kind == TK_NAME && t->n == strlen(name) && !memcmp(t->s, name, t->n);
}
static bool is_name(parser *P, const char *name) {
    return is_name_tok(cur(P), name);
}

static const char *tok_desc(const tpl_token *t, char *buf, size_t cap) {
    static const char *ops[] = {"",  "(", ")", "[",  "]",  "{", "}",  ",", ".",
                                ":", "|", "=", "==", "!=", "<", "<=", ">", ">=",
                                "+", "-", "~", "*",  "**", "/", "//", "%"};
    switch (t->kind) {
    case TK_EOF:
        return "end of template";
    case TK_TEXT:
        return "text";
    case TK_COMMENT:
        return "comment";
    case TK_OPEN_STMT:
        return "'{%'";
    case TK_CLOSE_STMT:
        return "'%}'";
    case TK_OPEN_EXPR:
        return "'{{'";
    case TK_CLOSE_EXPR:
        return "'}}'";
    case TK_NAME:
        snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s);
        return buf;
    case TK_INT:
    case TK_FLOAT:
        return "number";
    case TK_STRING:
        return "string literal";
    case TK_OP:
        snprintf(buf, cap, "'%s'", t->op < sizeof ops / sizeof ops[0] ? ops[t->op] : "?");
        return buf;
    }
    return "?";
}

_Noreturn static void unexpected(parser *P, const char *what) {
    char b[64];
    tpl_parse_fail(P->p, cur(P)->pos, "unexpected %s, expected %s", tok_desc(cur(P), b, sizeof b),
                   what);
}

static void expect_op(parser *P, tpl_op op, const char *what) {
    if (!is_op(P, op)) unexpected(P, what);
    P->i++;
}

static void expect_close_stmt(parser *P, const char *stmt) {
    if (cur(P)->kind != TK_CLOSE_STMT) {
        char w[64];
        snprintf(w, sizeof w, "'%%}' to close {%% %s %%}", stmt);
        unexpected(P, w);
    }
    P->i++;
}

static tpl_node *node(parser *P, tpl_node_kind k, size_t pos) {
    tpl_node *n = tpl_alloc(P->p->arena, sizeof *n);
    n->kind = (uint8_t)k;
    n->pos = (uint32_t)pos;
    n->depth = 1;
    return n;
}

static void fix_depth(parser *P, tpl_node *n) {
    unsigned d = 0;
    tpl_node *ch[3] = {n->a, n->b, n->c};
    for (int k = 0; k < 3; k++)
        if (ch[k] && ch[k]->depth > d) d = ch[k]->depth;
    for (size_t k = 0; k < n->nkids; k++)
        if (n->kids[k] && n->kids[k]->depth > d) d = n->kids[k]->depth;
    if (d + 1 > MAX_NODE_DEPTH)
        tpl_parse_fail(P->p, n->pos, "expression nested too deeply (more than %d levels)",
                       MAX_NODE_DEPTH);
    n->depth = (uint16_t)(d + 1);
}

/* growable node lists built in the arena */
typedef struct nlist {
    tpl_node **v;
    size_t n, cap;
} nlist;

static void nl_push(parser *P, nlist *l, tpl_node *x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        tpl_node **nv = tpl_alloc(P->p->arena, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static void enter(parser *P) {
    if (++P->p->depth > MAX_NEST)
        tpl_parse_fail(P->p, cur(P)->pos, "template nested too deeply (more than %d levels)",
                       MAX_NEST);
}
static void leave(parser *P) {
    P->p->depth--;
}

static tpl_node *parse_expr(parser *P);
static tpl_node *parse_or(parser *P);
static tpl_node *parse_unary(parser *P, bool with_filter);
static tpl_node *parse_primary(parser *P);
static tpl_node *parse_postfix(parser *P, tpl_node *n);

static tpl_node *make_const(parser *P, size_t pos, tpl_value *v) {
    tpl_node *n = node(P, ND_CONST, pos);
    n->value = v;
    return n;
}

static tpl_value *const_value(parser *P, tpl_type t) {
    tpl_value *v = tpl_alloc(P->p->arena, sizeof *v);
    v->type = (uint8_t)t;
    return v;
}

// Arguments of a call, filter or test: positional then keyword (name=value).
static void parse_call_args(parser *P, tpl_node *n) {
    expect_op(P, OP_LPAREN, "'('");
    nlist args = {0};
    bool kw_seen = false;
    enter(P);
    while (!is_op(P, OP_RPAREN)) {
        if (is_op(P, OP_MUL) || is_op(P, OP_POW))
            tpl_parse_fail(P->p, cur(P)->pos, "unsupported argument unpacking (* / **)");
        if (cur(P)->kind == TK_NAME && peek(P, 1)->kind == TK_OP && peek(P, 1)->op == OP_ASSIGN) {
            tpl_node *kw = node(P, ND_KWARG, cur(P)->pos);
            kw->s = cur(P)->s;
            kw->n = cur(P)->n;
            P->i += 2;
            kw->a = parse_expr(P);
            fix_depth(P, kw);
            nl_push(P, &args, kw);
            kw_seen = true;
        } else {
            if (kw_seen)
                tpl_parse_fail(P->p, cur(P)->pos, "positional argument after keyword argument");
            nl_push(P, &args, parse_expr(P));
        }
        if (!is_op(P, OP_COMMA)) break;
        P->i++;
    }
    leave(P);
    expect_op(P, OP_RPAREN, "')' closing the argument list");
    n->kids = args.v;
    n->nkids = args.n;
}

static tpl_node *parse_filter(parser *P, tpl_node *operand, size_t pos) {
    // after '|'
    if (cur(P)->kind != TK_NAME) unexpected(P, "a filter name after '|'");
    tpl_node *f = node(P, ND_FILTER, pos);
    f->s = cur(P)->s;
    f->n = cur(P)->n;
    f->i = tpl_filter_id(f->s, f->n);
    if (f->i < 0)
        tpl_parse_fail(P->p, cur(P)->pos, "unsupported filter '%.*s'", (int)(f->n > 60 ? 60 : f->n),
                       f->s);
    P->i++;
    f->a = operand;
    if (is_op(P, OP_LPAREN)) parse_call_args(P, f);
    fix_depth(P, f);
    return f;
}

static tpl_node *parse_test(parser *P, tpl_node *operand) {
    size_t pos = cur(P)->pos;
    P->i++; // is
    bool neg = false;
    if (is_name(P, "not")) {
        neg = true;
        P->i++;
    }
    if (cur(P)->kind != TK_NAME) unexpected(P, "a test name after 'is'");
    tpl_node *t = node(P, ND_TEST, pos);
    t->s = cur(P)->s;
    t->n = cur(P)->n;
    t->i = tpl_test_id(t->s, t->n);
    if (t->i < 0)
        tpl_parse_fail(P->p, cur(P)->pos, "unsupported test '%.*s'", (int)(t->n > 60 ? 60 : t->n),
                       t->s);
    P->i++;
    t->a = operand;
    t->op = neg;
    tpl_token *c = cur(P);
    if (is_op(P, OP_LPAREN)) {
        parse_call_args(P, t);
    } else if ((c->kind == TK_NAME || c->kind == TK_STRING || c->kind == TK_INT ||
                c->kind == TK_FLOAT ||
                (c->kind == TK_OP && (c->op == OP_LBRACKET || c->op == OP_LBRACE))) &&
               !is_name(P, "else") && !is_name(P, "or") && !is_name(P, "and") &&
               !is_name(P, "if") && !is_name(P, "in") && !is_name(P, "not") && !is_name(P, "is")) {
        // `x is divisibleby 3`: one argument without parentheses, as Jinja2
        tpl_node *arg = parse_postfix(P, parse_primary(P));
        t->kids = tpl_alloc(P->p->arena, sizeof *t->kids);
        t->kids[0] = arg;
        t->nkids = 1;
    }
    fix_depth(P, t);
    return t;
}

static tpl_node *parse_postfix(parser *P, tpl_node *n) {
    for (;;) {
        size_t pos = cur(P)->pos;
        if (is_op(P, OP_DOT)) {
            P->i++;
            tpl_token *t = cur(P);
            tpl_node *a = node(P, ND_ATTR, pos);
            if (t->kind == TK_NAME) {
                a->s = t->s;
                a->n = t->n;
            } else if (t->kind == TK_INT) {
                a->i = 1; // obj.0 is obj[0]
                a->b = make_const(P, t->pos, const_value(P, TV_INT));
                a->b->value->u.i = t->i;
            } else {
                unexpected(P, "an attribute name after '.'");
            }
            P->i++;
            a->a = n;
            fix_depth(P, a);
            n = a;
        } else if (is_op(P, OP_LBRACKET)) {
            P->i++;
            enter(P);
            // subscript or slice [a:b:c]
            tpl_node *parts[3] = {NULL, NULL, NULL};
            int np = 0;
            bool slice = false;
            for (;;) {
                if (is_op(P, OP_COLON)) {
                    slice = true;
                    if (++np > 2) tpl_parse_fail(P->p, cur(P)->pos, "too many ':' in slice");
                    P->i++;
                    continue;
                }
                if (is_op(P, OP_RBRACKET)) break;
                if (parts[np]) unexpected(P, "']' or ':'");
                parts[np] = parse_expr(P);
            }
            leave(P);
            if (!slice && !parts[0]) unexpected(P, "an index inside '[]'");
            P->i++; // ]
            tpl_node *x;
            if (slice) {
                x = node(P, ND_SLICE, pos);
                x->kids = tpl_alloc(P->p->arena, 3 * sizeof *x->kids);
                memcpy(x->kids, parts, sizeof parts);
                x->nkids = 3;
            } else {
                x = node(P, ND_ITEM, pos);
                x->b = parts[0];
            }
            x->a = n;
            fix_depth(P, x);
            n = x;
        } else if (is_op(P, OP_LPAREN)) {
            tpl_node *c = node(P, ND_CALL, n->pos); // errors point at the callee
            c->a = n;
            parse_call_args(P, c);
            fix_depth(P, c);
            n = c;
        } else {
            return n;
        }
    }
}

static tpl_node *parse_filter_expr(parser *P, tpl_node *n) {
    for (;;) {
        if (is_op(P, OP_PIPE)) {
            size_t pos = cur(P)->pos;
            P->i++;
            n = parse_filter(P, n, pos);
        } else if (is_name(P, "is")) {
            n = parse_test(P, n);
        } else if (is_op(P, OP_LPAREN)) {
            tpl_node *c = node(P, ND_CALL, cur(P)->pos);
            c->a = n;
            parse_call_args(P, c);
            fix_depth(P, c);
            n = c;
        } else {
            return n;
        }
    }
}

static tpl_node *parse_seq_literal(parser *P, tpl_node_kind kind, tpl_op close, size_t pos) {
    tpl_node *n = node(P, kind, pos);
    nlist items = {0};
    enter(P);
    while (!is_op(P, close)) {
        tpl_node *x = parse_expr(P);
        nl_push(P, &items, x);
        if (kind == ND_DICT) {
            expect_op(P, OP_COLON, "':' between key and value in a dict literal");
            nl_push(P, &items, parse_expr(P));
        }
        if (!is_op(P, OP_COMMA)) break;
        P->i++;
    }
    leave(P);
    expect_op(P, close,
              kind == ND_DICT ? "'}' closing the dict literal" : "']' closing the list literal");
    n->kids = items.v;
    n->nkids = items.n;
    fix_depth(P, n);
    return n;
}

static tpl_node *parse_primary(parser *P) {
    tpl_token *t = cur(P);
    size_t pos = t->pos;
    switch (t->kind) {
    case TK_NAME: {
        P->i++;
        if (is_name_tok(t, "true") || is_name_tok(t, "True")) return make_const(P, pos, &tpl_true);
        if (is_name_tok(t, "false") || is_name_tok(t, "False"))
            return make_const(P, pos, &tpl_false);
        if (is_name_tok(t, "none") || is_name_tok(t, "None")) return make_const(P, pos, &tpl_none);
        tpl_node *n = node(P, ND_NAME, pos);
        n->s = t->s;
        n->n = t->n;
        return n;
    }
    case TK_STRING: {
        // adjacent literals concatenate
        size_t total = 0, j = P->i;
        while (P->t[j].kind == TK_STRING)
            total += P->t[j++].n;
        char *s = tpl_alloc(P->p->arena, total + 1);
        size_t o = 0;
        while (cur(P)->kind == TK_STRING) {
            memcpy(s + o, cur(P)->s, cur(P)->n);
            o += cur(P)->n;
            P->i++;
        }
        tpl_value *v = const_value(P, TV_STR);
        v->u.s.p = s;
        v->u.s.n = o;
        return make_const(P, pos, v);
    }
    case TK_INT: {
        P->i++;
        tpl_value *v = const_value(P, TV_INT);
        v->u.i = t->i;
        return make_const(P, pos, v);
    }
    case TK_FLOAT: {
        P->i++;
        tpl_value *v = const_value(P, TV_FLOAT);
        v->u.f = t->f;
        return make_const(P, pos, v);
    }
    case TK_OP:
        if (t->op == OP_LPAREN) {
            P->i++;
            enter(P);
            if (is_op(P, OP_RPAREN)) { // ()
                P->i++;
                leave(P);
                tpl_node *n = node(P, ND_TUPLE, pos);
                return n;
            }
            tpl_node *first = parse_expr(P);
            if (is_op(P, OP_COMMA)) {
                nlist items = {0};
                nl_push(P, &items, first);
                while (is_op(P, OP_COMMA)) {
                    P->i++;
                    if (is_op(P, OP_RPAREN)) break;
                    nl_push(P, &items, parse_expr(P));
                }
                first = node(P, ND_TUPLE, pos);
                first->kids = items.v;
                first->nkids = items.n;
                fix_depth(P, first);
            }
            leave(P);
            expect_op(P, OP_RPAREN, "')'");
            return first;
        }
        if (t->op == OP_LBRACKET) {
            P->i++;
            return parse_seq_literal(P, ND_LIST, OP_RBRACKET, pos);
        }
        if (t->op == OP_LBRACE) {
            P->i++;
            return parse_seq_literal(P, ND_DICT, OP_RBRACE, pos);
        }
        break;
    default:
        break;
    }
    unexpected(P, "an expression");
}

static tpl_node *parse_unary(parser *P, bool with_filter) {
    enter(P);
    tpl_node *n;
    size_t pos = cur(P)->pos;
    if (is_op(P, OP_SUB) || is_op(P, OP_ADD)) {
        bool neg = is_op(P, OP_SUB);
        P->i++;
        n = node(P, ND_UNARY, pos);
        n->op = neg ? OP_NEG : OP_POS;
        n->a = parse_unary(P, false);
        fix_depth(P, n);
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filter_expr(P, n);
    leave(P);
    return n;
}

static tpl_node *binop(parser *P, tpl_node_kind k, tpl_op op, size_t pos, tpl_node *a,
                       tpl_node *b) {
    tpl_node *n = node(P, k, pos);
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    fix_depth(P, n);
    return n;
}

static tpl_node *parse_pow(parser *P) {
    tpl_node *l = parse_unary(P, true);
    while (is_op(P, OP_POW)) {
        size_t pos = cur(P)->pos;
        P->i++;
        l = binop(P, ND_BIN, OP_POW, pos, l, parse_unary(P, true));
    }
    return l;
}

static tpl_node *parse_math2(parser *P) {
    tpl_node *l = parse_pow(P);
    while (is_op(P, OP_MUL) || is_op(P, OP_DIV) || is_op(P, OP_FLOORDIV) || is_op(P, OP_MOD)) {
        tpl_op op = (tpl_op)cur(P)->op;
        size_t pos = cur(P)->pos;
        P->i++;
        l = binop(P, ND_BIN, op, pos, l, parse_pow(P));
    }
    return l;
}

static tpl_node *parse_concat(parser *P) {
    tpl_node *l = parse_math2(P);
    while (is_op(P, OP_TILDE)) {
        size_t pos = cur(P)->pos;
        P->i++;
        l = binop(P, ND_BIN, OP_TILDE, pos, l, parse_math2(P));
    }
    return l;
}

static tpl_node *parse_math1(parser *P) {
    tpl_node *l = parse_concat(P);
    while (is_op(P, OP_ADD) || is_op(P, OP_SUB)) {
        tpl_op op = (tpl_op)cur(P)->op;
        size_t pos = cur(P)->pos;
        P->i++;
        l = binop(P, ND_BIN, op, pos, l, parse_concat(P));
    }
    return l;
}

static tpl_node *parse_compare(parser *P) {
    size_t pos = cur(P)->pos;
    tpl_node *first = parse_math1(P);
    nlist rest = {0};
    uint8_t opsbuf[64];
    uint8_t *ops = opsbuf;
    size_t nops = 0, opscap = sizeof opsbuf;
    for (;;) {
        tpl_op op;
        if (cur(P)->kind == TK_OP && cur(P)->op >= OP_EQ && cur(P)->op <= OP_GE) {
            op = (tpl_op)cur(P)->op;
            P->i++;
        } else if (is_name(P, "in")) {
            op = OP_IN;
            P->i++;
        } else if (is_name(P, "not") && is_name_tok(peek(P, 1), "in")) {
            op = OP_NOTIN;
            P->i += 2;
        } else {
            break;
        }
        if (nops == opscap) {
            uint8_t *no = tpl_alloc(P->p->arena, opscap * 2);
            memcpy(no, ops, nops);
            ops = no;
            opscap *= 2;
        }
        ops[nops++] = (uint8_t)op;
        nl_push(P, &rest, parse_math1(P));
    }
    if (!nops) return first;
    tpl_node *n = node(P, ND_CMP, pos);
    n->a = first;
    n->kids = rest.v;
    n->nkids = rest.n;
    n->ops = tpl_alloc(P->p->arena, nops);
    memcpy(n->ops, ops, nops);
    fix_depth(P, n);
    return n;
}

static tpl_node *parse_not(parser *P) {
    if (is_name(P, "not")) {
        size_t pos = cur(P)->pos;
        P->i++;
        enter(P);
        tpl_node *n = node(P, ND_UNARY, pos);
        n->op = OP_NOT;
        n->a = parse_not(P);
        fix_depth(P, n);
        leave(P);
        return n;
    }
    return parse_compare(P);
}

static tpl_node *parse_and(parser *P) {
    tpl_node *l = parse_not(P);
    while (is_name(P, "and")) {
        size_t pos = cur(P)->pos;
        P->i++;
        l = binop(P, ND_AND, OP_NONE, pos, l, parse_not(P));
    }
    return l;
}

static tpl_node *parse_or(parser *P) {
    tpl_node *l = parse_and(P);
    while (is_name(P, "or")) {
        size_t pos = cur(P)->pos;
        P->i++;
        l = binop(P, ND_OR, OP_NONE, pos, l, parse_and(P));
    }
    return l;
}

static tpl_node *parse_expr(parser *P) {
    enter(P);
    tpl_node *n = parse_or(P);
    while (is_name(P, "if")) {
        size_t pos = cur(P)->pos;
        P->i++;
        tpl_node *c = node(P, ND_COND, pos);
        c->a = n;
        c->b = parse_or(P);
        if (is_name(P, "else")) {
            P->i++;
            c->c = parse_expr(P);
        }
        fix_depth(P, c);
        n = c;
    }
    leave(P);
    return n;
}

// An expression that may be an unparenthesized tuple: `a, b`.
static tpl_node *parse_tuple_expr(parser *P, bool with_cond) {
    size_t pos = cur(P)->pos;
    tpl_node *first = with_cond ? parse_expr(P) : parse_or(P);
    if (!is_op(P, OP_COMMA)) return first;
    nlist items = {0};
    nl_push(P, &items, first);
    while (is_op(P, OP_COMMA)) {
        P->i++;
        if (cur(P)->kind == TK_CLOSE_EXPR || cur(P)->kind == TK_CLOSE_STMT) break;
        nl_push(P, &items, with_cond ? parse_expr(P) : parse_or(P));
    }
    tpl_node *t = node(P, ND_TUPLE, pos);
    t->kids = items.v;
    t->nkids = items.n;
    fix_depth(P, t);
    return t;
}

// Assignment / loop target: name, name.attr (set only), or names separated by commas.
static tpl_node *parse_target(parser *P, bool allow_attr) {
    size_t pos = cur(P)->pos;
    bool paren = is_op(P, OP_LPAREN);
    if (paren) P->i++;
    nlist items = {0};
    for (;;) {
        if (cur(P)->kind != TK_NAME) unexpected(P, "a variable name");
        tpl_node *n = node(P, ND_NAME, cur(P)->pos);
        n->s = cur(P)->s;
        n->n = cur(P)->n;
        P->i++;
        if (allow_attr && is_op(P, OP_DOT) && !paren && items.n == 0) {
            P->i++;
            if (cur(P)->kind != TK_NAME) unexpected(P, "an attribute name after '.'");
            tpl_node *a = node(P, ND_ATTR, n->pos);
            a->a = n;
            a->s = cur(P)->s;
            a->n = cur(P)->n;
            P->i++;
            return a;
        }
        nl_push(P, &items, n);
        if (!is_op(P, OP_COMMA)) break;
        P->i++;
    }
    if (paren) expect_op(P, OP_RPAREN, "')'");
    if (items.n == 1 && !paren) return items.v[0];
    tpl_node *t = node(P, ND_TUPLE, pos);
    t->kids = items.v;
    t->nkids = items.n;
    return t;
}

typedef struct block_end {
    const char *names[3];
} block_end;

static bool at_end_tag(parser *P, const block_end *e) {
    if (cur(P)->kind != TK_OPEN_STMT) return false;
    tpl_token *nm = peek(P, 1);
    for (int k = 0; k < 3 && e->names[k]; k++)
        if (is_name_tok(nm, e->names[k])) return true;
    return false;
}

static void parse_block(parser *P, tpl_block *out, const block_end *end, const char *opener,
                        size_t open_pos);

static tpl_block *new_blocks(parser *P, size_t n) {
    return tpl_alloc(P->p->arena, n * sizeof(tpl_block));
}

static tpl_node *parse_if(parser *P, size_t pos) {
    tpl_node *n = node(P, ND_IF, pos);
    nlist conds = {0};
    tpl_block blocks[2];
    size_t nb = 0, cap = 2;
    tpl_block *bl = blocks;
    static const block_end ends = {{"elif", "else", "endif"}};
    for (;;) {
        nl_push(P, &conds, parse_expr(P));
        expect_close_stmt(P, "if");
        if (nb == cap) {
            tpl_block *nbk = new_blocks(P, cap * 2);
            memcpy(nbk, bl, nb * sizeof *bl);
            bl = nbk;
            cap *= 2;
        }
        parse_block(P, &bl[nb++], &ends, "{% if %}", pos);
        if (is_name_tok(peek(P, 1), "elif")) {
            P->i += 2;
            continue;
        }
        break;
    }
    n->kids = conds.v;
    n->nkids = conds.n;
    if (is_name_tok(peek(P, 1), "else")) {
        P->i += 2;
        expect_close_stmt(P, "else");
        static const block_end e2 = {{"endif", NULL, NULL}};
        if (nb == cap) {
            tpl_block *nbk = new_blocks(P, cap * 2);
            memcpy(nbk, bl, nb * sizeof *bl);
            bl = nbk;
            cap *= 2;
        }
        parse_block(P, &bl[nb++], &e2, "{% if %}", pos);
        n->i = 1; // has else
    }
    P->i += 2; // {% endif
    expect_close_stmt(P, "endif");
    n->blocks = new_blocks(P, nb);
    memcpy(n->blocks, bl, nb * sizeof *bl);
    n->nblocks = nb;
    return n;
}

static tpl_node *parse_for(parser *P, size_t pos) {
    tpl_node *n = node(P, ND_FOR, pos);
    n->a = parse_target(P, false);
    if (!is_name(P, "in")) unexpected(P, "'in' after the loop variable");
    P->i++;
    n->b = parse_tuple_expr(P, false);
    if (is_name(P, "if")) {
        P->i++;
        n->c = parse_expr(P);
    }
    if (is_name(P, "recursive"))
        tpl_parse_fail(P->p, cur(P)->pos, "unsupported recursive for loop");
    expect_close_stmt(P, "for");
    n->blocks = new_blocks(P, 2);
    n->nblocks = 2;
    static const block_end ends = {{"else", "endfor", NULL}};
    parse_block(P, &n->blocks[0], &ends, "{% for %}", pos);
    if (is_name_tok(peek(P, 1), "else")) {
        P->i += 2;
        expect_close_stmt(P, "else");
        static const block_end e2 = {{"endfor", NULL, NULL}};
        parse_block(P, &n->blocks[1], &e2, "{% for %}", pos);
    }
    P->i += 2;
    expect_close_stmt(P, "endfor");
    return n;
}

static tpl_node *parse_set(parser *P, size_t pos) {
    tpl_node *n = node(P, ND_SET, pos);
    n->a = parse_target(P, true);
    if (is_op(P, OP_ASSIGN)) {
        P->i++;
        n->b = parse_tuple_expr(P, true);
        expect_close_stmt(P, "set");
        return n;
    }
    if (n->a->kind != ND_NAME) unexpected(P, "'=' in {% set %}");
    expect_close_stmt(P, "set");
    n->blocks = new_blocks(P, 1);
    n->nblocks = 1;
    static const block_end ends = {{"endset", NULL, NULL}};
    parse_block(P, &n->blocks[0], &ends, "{% set %}", pos);
    P->i += 2;
    expect_close_stmt(P, "endset");
    return n;
}

static tpl_node *parse_macro(parser *P, size_t pos) {
    tpl_node *n = node(P, ND_MACRO, pos);
    if (cur(P)->kind != TK_NAME) unexpected(P, "a macro name");
    n->s = cur(P)->s;
    n->n = cur(P)->n;
    P->i++;
    expect_op(P, OP_LPAREN, "'(' after the macro name");
    nlist params = {0};
    bool dflt = false;
    while (!is_op(P, OP_RPAREN)) {
        if (cur(P)->kind != TK_NAME) unexpected(P, "a parameter name");
        tpl_node *p = node(P, ND_NAME, cur(P)->pos);
        p->s = cur(P)->s;
        p->n = cur(P)->n;
        for (size_t k = 0; k < params.n; k++)
            if (params.v[k]->n == p->n && !memcmp(params.v[k]->s, p->s, p->n))
                tpl_parse_fail(P->p, p->pos, "duplicate macro parameter '%.*s'", (int)p->n, p->s);
        P->i++;
        if (is_op(P, OP_ASSIGN)) {
            P->i++;
            p->a = parse_expr(P); // default value
            dflt = true;
        } else if (dflt) {
            tpl_parse_fail(P->p, p->pos,
                           "macro parameter without default after one with a default");
        }
        nl_push(P, &params, p);
        if (!is_op(P, OP_COMMA)) break;
        P->i++;
    }
    expect_op(P, OP_RPAREN, "')' closing the macro parameters");
    expect_close_stmt(P, "macro");
    n->kids = params.v;
    n->nkids = params.n;
    n->blocks = new_blocks(P, 1);
    n->nblocks = 1;
    static const block_end ends = {{"endmacro", NULL, NULL}};
    parse_block(P, &n->blocks[0], &ends, "{% macro %}", pos);
    P->i += 2;
    if (cur(P)->kind == TK_NAME) P->i++; // {% endmacro name %}
    expect_close_stmt(P, "endmacro");
    return n;
}

static tpl_node *parse_filter_block(parser *P, size_t pos) {
    tpl_node *n = node(P, ND_FILTER_BLOCK, pos);
    n->a = parse_filter(P, NULL, cur(P)->pos);
    while (is_op(P, OP_PIPE)) {
        size_t fp = cur(P)->pos;
        P->i++;
        n->a = parse_filter(P, n->a, fp);
    }
    expect_close_stmt(P, "filter");
    n->blocks = new_blocks(P, 1);
    n->nblocks = 1;
    static const block_end ends = {{"endfilter", NULL, NULL}};
    parse_block(P, &n->blocks[0], &ends, "{% filter %}", pos);
    P->i += 2;
    expect_close_stmt(P, "endfilter");
    return n;
}

static tpl_node *parse_statement(parser *P) {
    size_t pos = cur(P)->pos;
    P->i++; // {%
    tpl_token *nm = cur(P);
    if (nm->kind != TK_NAME) unexpected(P, "a statement name after '{%'");
    P->i++;
    enter(P);
    tpl_node *n;
    if (is_name_tok(nm, "if")) {
        n = parse_if(P, pos);
    } else if (is_name_tok(nm, "for")) {
        n = parse_for(P, pos);
    } else if (is_name_tok(nm, "set")) {
        n = parse_set(P, pos);
    } else if (is_name_tok(nm, "macro")) {
        n = parse_macro(P, pos);
    } else if (is_name_tok(nm, "filter")) {
        n = parse_filter_block(P, pos);
    } else if (is_name_tok(nm, "break") || is_name_tok(nm, "continue")) {
        n = node(P, is_name_tok(nm, "break") ? ND_BREAK : ND_CONTINUE, pos);
        expect_close_stmt(P, is_name_tok(nm, "break") ? "break" : "continue");
    } else {
        static const char *unsupported[] = {"call",       "raw",     "include", "import",
                                            "from",       "extends", "block",   "with",
                                            "autoescape", "do",      "trans",   "generation"};
        for (size_t k = 0; k < sizeof unsupported / sizeof unsupported[0]; k++)
            if (is_name_tok(nm, unsupported[k]))
                tpl_parse_fail(P->p, pos, "unsupported statement {%% %s %%}", unsupported[k]);
        tpl_parse_fail(P->p, pos, "unexpected statement {%% %.*s %%}",
                       (int)(nm->n > 40 ? 40 : nm->n), nm->s);
    }
    leave(P);
    return n;
}

static void parse_block(parser *P, tpl_block *out, const block_end *end, const char *opener,
                        size_t open_pos) {
    nlist body = {0};
    for (;;) {
        tpl_token *t = cur(P);
        if (end && at_end_tag(P, end)) break;
        if (t->kind == TK_EOF) {
            if (!end) break;
            int line, col;
            tpl_line_col(P->p->t->src, P->p->t->srclen, open_pos, &line, &col);
            const char *closer = end->names[0];
            for (int k = 1; k < 3; k++)
                if (end->names[k]) closer = end->names[k];
            tpl_parse_fail(P->p, t->pos, "unterminated %s opened at %d:%d: missing {%% %s %%}",
                           opener, line, col, closer);
        }
        if (t->kind == TK_TEXT) {
            tpl_node *n = node(P, ND_TEXT, t->pos);
            n->s = t->s;
            n->n = t->n;
            nl_push(P, &body, n);
            P->i++;
        } else if (t->kind == TK_COMMENT) {
            P->i++;
        } else if (t->kind == TK_OPEN_EXPR) {
            P->i++;
            tpl_node *n = node(P, ND_OUTPUT, t->pos);
            n->a = parse_tuple_expr(P, true);
            if (cur(P)->kind != TK_CLOSE_EXPR) unexpected(P, "'}}'");
            P->i++;
            fix_depth(P, n);
            nl_push(P, &body, n);
        } else if (t->kind == TK_OPEN_STMT) {
            tpl_token *nm = peek(P, 1);
            static const char *enders[] = {"endif",  "elif",     "else",      "endfor",
                                           "endset", "endmacro", "endfilter", "endcall",
                                           "endraw", "endblock"};
            for (size_t k = 0; k < sizeof enders / sizeof enders[0]; k++)
                if (is_name_tok(nm, enders[k]))
                    tpl_parse_fail(P->p, t->pos, "unexpected {%% %s %%}%s%s", enders[k],
                                   opener ? " inside " : " outside any block",
                                   opener ? opener : "");
            nl_push(P, &body, parse_statement(P));
        } else {
            unexpected(P, "text, '{{' or '{%'");
        }
    }
    out->v = body.v;
    out->n = body.n;
}

static bool valid_utf8(const char *s, size_t n, size_t *bad) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) goto bad;
        uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (size_t k = 1; k < len; k++) {
            unsigned char d = (unsigned char)s[i + k];
            if ((d & 0xC0) != 0x80) goto bad;
            cp = cp << 6 | (d & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000) || (len == 1 && c == 0))
            goto bad;
        i += len;
        continue;
    bad:
        *bad = i;
        return false;
    }
    return true;
}

mg_status mg_template_parse(const char *src, size_t len, const char *name, mg_template **out,
                            mg_error *err) {
    *out = NULL;
    if (!name) name = "template";
    if (len > (64u << 20))
        return mg_error_set(err, MG_ERR_INVALID, "%s: template too large (%zu bytes, limit 64 MiB)",
                            name, len);
    size_t bad;
    if (!valid_utf8(src, len, &bad))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: template is not valid UTF-8 (or contains NUL) at byte %zu", name,
                            bad);
    mg_template *t = mg_calloc(1, sizeof *t);
    t->name = mg_strdup(name);
    t->src = mg_strndup(src, len);
    t->srclen = len;
    tpl_pctx *pc = mg_calloc(1, sizeof *pc);
    pc->err = err;
    pc->t = t;
    pc->arena = &t->arena;
    if (setjmp(pc->jb)) {
        free(pc);
        mg_template_free(t);
        return err ? err->status : MG_ERR_INVALID;
    }
    tpl_lexed lx;
    tpl_lex(pc, t->src, len, &lx);
    parser P = {.p = pc, .t = lx.v, .n = lx.n};
    parse_block(&P, &t->body, NULL, NULL, 0);
    free(pc);
    *out = t;
    return MG_OK;
}

void mg_template_free(mg_template *t) {
    if (!t) return;
    tpl_arena_free(&t->arena);
    free(t->name);
    free(t->src);
    free(t);
}
