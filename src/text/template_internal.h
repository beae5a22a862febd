/* template_internal.h - shared internals of the chat-template interpreter
 * (template_lex.c, template_parse.c, template_value.c, template_eval.c,
 * template_filters.c, template_methods.c). Not a public header: only those files include it.
 *
 * Memory: a parsed template owns one arena holding its AST and constants; a
 * render owns another arena holding every runtime value, scope and string, all
 * freed at once when the render ends. Errors inside the parser or the
 * interpreter jump (longjmp) back to the entry function, which frees the arena
 * and returns the status: nothing else is allocated outside the arenas, so
 * nothing leaks on any error path. */
#ifndef MG_TEXT_TEMPLATE_INTERNAL_H
#define MG_TEXT_TEMPLATE_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/template.h"

/* ---- arena ---------------------------------------------------------------- */

typedef struct tpl_chunk tpl_chunk;

typedef struct tpl_arena {
    tpl_chunk *head;
    size_t used;   // bytes handed out plus chunk overhead (the budget counts this)
    size_t budget; // 0 = unlimited
    // Called when the budget would be exceeded; must not return.
    void (*overflow)(void *ctx);
    void *ctx;
} tpl_arena;

void *tpl_alloc(tpl_arena *a, size_t n);                 // zeroed, 8-byte aligned
char *tpl_strdup(tpl_arena *a, const char *s, size_t n); // NUL-terminated copy
void tpl_arena_free(tpl_arena *a);

/* ---- UTF-8 and character classes ------------------------------------------ */

/* Decodes the code point at s[i] (s valid UTF-8); *len gets its byte length. */
uint32_t tpl_utf8_decode(const char *s, size_t n, size_t i, size_t *len);
/* Encodes cp into buf (4 bytes room); returns the byte count. */
size_t tpl_utf8_encode(uint32_t cp, char *buf);
/* Python's str.isspace for one code point (also what the whitespace control
 * of the template lexer strips). */
bool tpl_is_space(uint32_t cp);
/* Byte length of the whitespace code point at s[i], 0 if none. */
size_t tpl_space_len(const char *s, size_t n, size_t i);
/* Number of code points. */
size_t tpl_utf8_count(const char *s, size_t n);

/* ---- lexer ------------------------------------------------------------------ */

typedef enum tpl_tok_kind {
    TK_EOF = 0,
    TK_TEXT,
    TK_COMMENT,
    TK_OPEN_STMT,  // {%
    TK_CLOSE_STMT, // %}
    TK_OPEN_EXPR,  // {{
    TK_CLOSE_EXPR, // }}
    TK_NAME,
    TK_INT,
    TK_FLOAT,
    TK_STRING,
    TK_OP,
} tpl_tok_kind;

typedef enum tpl_op {
    OP_NONE = 0,
    OP_LPAREN,
    OP_RPAREN,
    OP_LBRACKET,
    OP_RBRACKET,
    OP_LBRACE,
    OP_RBRACE,
    OP_COMMA,
    OP_DOT,
    OP_COLON,
    OP_PIPE,
    OP_ASSIGN,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_ADD,
    OP_SUB,
    OP_TILDE,
    OP_MUL,
    OP_POW,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    // not produced by the lexer: used in AST nodes
    OP_IN,
    OP_NOTIN,
    OP_NOT,
    OP_NEG,
    OP_POS,
} tpl_op;

typedef struct tpl_token {
    uint8_t kind;  // tpl_tok_kind
    uint8_t op;    // tpl_op when kind == TK_OP
    const char *s; // TEXT/NAME/STRING contents (unescaped), arena-owned
    size_t n;
    int64_t i;
    double f;
    uint32_t pos; // byte offset in the ORIGINAL template source
} tpl_token;

typedef struct tpl_lexed {
    tpl_token *v;
    size_t n;
} tpl_lexed;

/* ---- AST -------------------------------------------------------------------- */

typedef enum tpl_node_kind {
    // statements
    ND_TEXT = 1,
    ND_OUTPUT,
    ND_IF,
    ND_FOR,
    ND_SET,
    ND_MACRO,
    ND_BREAK,
    ND_CONTINUE,
    ND_FILTER_BLOCK,
    // expressions
    ND_CONST,
    ND_NAME,
    ND_LIST,
    ND_TUPLE,
    ND_DICT,
    ND_ATTR,
    ND_ITEM,
    ND_SLICE,
    ND_CALL,
    ND_FILTER,
    ND_TEST,
    ND_UNARY,
    ND_BIN,
    ND_AND,
    ND_OR,
    ND_CMP,
    ND_COND,
    ND_KWARG,
} tpl_node_kind;

typedef struct tpl_value tpl_value;
typedef struct tpl_node tpl_node;

typedef struct tpl_block {
    tpl_node **v;
    size_t n;
} tpl_block;

struct tpl_node {
    uint8_t kind;
    uint8_t op;     // ND_UNARY / ND_BIN operator; ND_TEST negate flag
    uint16_t depth; // 1 + deepest child: bounds interpreter recursion
    uint32_t pos;   // offset in the original source
    const char *s;  // name / text
    size_t n;
    int64_t i; // ND_FILTER/ND_TEST: builtin id; ND_ATTR: 1 when the name is an integer
    tpl_node *a, *b, *c;
    tpl_node **kids; // arguments, list items, dict k/v pairs, compare operands
    size_t nkids;
    uint8_t *ops;      // ND_CMP: one operator per kids[i]
    tpl_block *blocks; // bodies: if branches (+ else), for body / else, set body, macro body
    size_t nblocks;
    tpl_value *value; // ND_CONST
};

struct mg_template {
    tpl_arena arena;
    tpl_block body;
    char *name; // for messages
    char *src;  // original source (positions refer to it)
    size_t srclen;
};

/* Line and column (1-based, columns in code points) of a source offset. */
void tpl_line_col(const char *src, size_t n, size_t pos, int *line, int *col);

/* Parser/lexer context: errors longjmp to jb after filling err. */
typedef struct tpl_pctx {
    jmp_buf jb;
    mg_error *err;
    mg_template *t;
    tpl_arena *arena;
    int depth;
} tpl_pctx;

_Noreturn void tpl_parse_fail(tpl_pctx *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Preprocesses (trim_blocks, lstrip_blocks, generation tags) and tokenizes. */
void tpl_lex(tpl_pctx *p, const char *src, size_t n, tpl_lexed *out);

/* ---- values ----------------------------------------------------------------- */

typedef enum tpl_type {
    TV_UNDEF = 0,
    TV_NONE,
    TV_BOOL,
    TV_INT,
    TV_FLOAT,
    TV_STR,
    TV_LIST,
    TV_DICT,
    TV_NS,
    TV_FUNC,
} tpl_type;

typedef struct tpl_kv {
    const char *k;
    size_t kn;
    tpl_value *v;
} tpl_kv;

typedef struct tpl_render tpl_render;
typedef tpl_value *(*tpl_native_fn)(tpl_render *r, const tpl_node *at, tpl_value *self,
                                    tpl_value **args, size_t nargs, tpl_kv *kw, size_t nkw);

struct tpl_value {
    uint8_t type;
    uint8_t tuple; // TV_LIST shown as a tuple
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
        struct {
            tpl_value **v;
            size_t n;
        } l;
        struct {
            tpl_kv *kv;
            size_t n, cap;
        } d; // TV_DICT and TV_NS (insertion-ordered)
        struct {
            tpl_native_fn native; // builtin function or bound method
            tpl_value *self;
            const tpl_node *macro; // or a macro
            const char *name;
        } fn;
    } u;
};

extern tpl_value tpl_undef, tpl_none, tpl_true, tpl_false;

/* ---- render state ----------------------------------------------------------- */

typedef struct tpl_scope tpl_scope;
struct tpl_scope {
    tpl_scope *parent;
    tpl_kv *vars;
    size_t n, cap;
};

typedef struct tpl_buf {
    char *p;
    size_t n, cap;
} tpl_buf;

struct tpl_render {
    jmp_buf jb;
    mg_error *err;
    const mg_template *t;
    tpl_arena arena;
    mg_template_limits lim;
    uint64_t steps;
    int depth;
    tpl_buf *out; // current output sink
    tpl_scope *globals;
};

_Noreturn void tpl_fail(tpl_render *r, const tpl_node *at, mg_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void tpl_step(tpl_render *r, const tpl_node *at);

tpl_value *tpl_new(tpl_render *r, tpl_type t);
tpl_value *tpl_int(tpl_render *r, int64_t i);
tpl_value *tpl_float(tpl_render *r, double f);
tpl_value *tpl_bool(bool b);
tpl_value *tpl_str(tpl_render *r, const char *s, size_t n); // copies
tpl_value *tpl_str_nocopy(tpl_render *r, const char *s, size_t n);
tpl_value *tpl_list(tpl_render *r, size_t n); // n slots, filled by caller
tpl_value *tpl_dict(tpl_render *r);
void tpl_dict_set(tpl_render *r, tpl_value *d, const char *k, size_t kn, tpl_value *v);
tpl_value *tpl_dict_get(const tpl_value *d, const char *k, size_t kn); // NULL if absent

void tpl_buf_put(tpl_render *r, tpl_buf *b, const char *s, size_t n);
void tpl_buf_putc(tpl_render *r, tpl_buf *b, char c);
/* Appends Python's str(v) / repr(v). */
void tpl_write_str(tpl_render *r, tpl_buf *b, const tpl_value *v, const tpl_node *at);
void tpl_write_repr(tpl_render *r, tpl_buf *b, const tpl_value *v, const tpl_node *at, int depth);
tpl_value *tpl_to_str(tpl_render *r, tpl_value *v, const tpl_node *at);
/* json.dumps as transformers' tojson: ensure_ascii off by default, key order kept. */
typedef struct tpl_json_opts {
    int indent; // < 0: none
    bool ensure_ascii, sort_keys;
    const char *item_sep, *key_sep;
} tpl_json_opts;
void tpl_write_json(tpl_render *r, tpl_buf *b, const tpl_value *v, const tpl_json_opts *o,
                    const tpl_node *at, int depth);
void tpl_format_float(double f, char *buf, size_t cap); // Python repr
bool tpl_truthy(const tpl_value *v);
bool tpl_equal(const tpl_value *a, const tpl_value *b, int depth);
/* -1/0/1; fails for unorderable types. */
int tpl_compare(tpl_render *r, const tpl_value *a, const tpl_value *b, const tpl_node *at);
const char *tpl_type_name(const tpl_value *v);
tpl_value *tpl_from_json(tpl_render *r, const void *json, int depth);

/* Scopes */
tpl_scope *tpl_scope_new(tpl_render *r, tpl_scope *parent);
void tpl_scope_set(tpl_render *r, tpl_scope *s, const char *k, size_t kn, tpl_value *v);
tpl_value *tpl_scope_lookup(tpl_scope *s, const char *k, size_t kn);

/* ---- builtins (template_filters.c) ------------------------------------------ */

/* Filter and test ids resolved at parse time; -1 when unknown. */
int tpl_filter_id(const char *name, size_t n);
int tpl_test_id(const char *name, size_t n);
tpl_value *tpl_apply_filter(tpl_render *r, const tpl_node *at, int id, tpl_value *v,
                            tpl_value **args, size_t nargs, tpl_kv *kw, size_t nkw);
bool tpl_apply_test(tpl_render *r, const tpl_node *at, int id, tpl_value *v, tpl_value **args,
                    size_t nargs);
/* Attribute lookup (methods of str/dict, keys of dict/namespace); undefined when absent. */
tpl_value *tpl_getattr(tpl_render *r, tpl_value *obj, const char *name, size_t n);
/* Item lookup obj[key] with Jinja's getattr fallback. */
tpl_value *tpl_getitem(tpl_render *r, const tpl_node *at, tpl_value *obj, tpl_value *key);
/* Installs range, namespace, raise_exception, strftime_now, dict. */
void tpl_install_globals(tpl_render *r, tpl_scope *g);
/* Iteration: list items, dict keys, string code points, undefined = empty. */
tpl_value *tpl_iter_list(tpl_render *r, const tpl_node *at, tpl_value *v);

/* ---- shared helpers (template_methods.c) ------------------------------------- */

bool tpl_name_eq(const char *s, size_t n, const char *lit);
/* Keyword argument `name`, or NULL. */
tpl_value *tpl_kwarg(tpl_kv *kw, size_t nkw, const char *name);
/* Positional argument i, else keyword `name`, else NULL. */
tpl_value *tpl_arg(tpl_value **args, size_t nargs, tpl_kv *kw, size_t nkw, size_t i,
                   const char *name);
/* Type-checked arguments: fail with "WHAT must be a string/an integer". */
const char *tpl_need_str(tpl_render *r, const tpl_node *at, tpl_value *v, const char *what,
                         size_t *n);
int64_t tpl_need_int(tpl_render *r, const tpl_node *at, tpl_value *v, const char *what);
tpl_value *tpl_from_buf(tpl_render *r, tpl_buf *b);
/* Python str methods (simple Unicode case mappings from utf8proc). */
tpl_value *tpl_str_upper(tpl_render *r, tpl_value *s);
tpl_value *tpl_str_lower(tpl_render *r, tpl_value *s);
tpl_value *tpl_str_capitalize(tpl_render *r, tpl_value *s);
/* Jinja's title filter (words start after runs of -, whitespace, (, {, [, <). */
tpl_value *tpl_str_jinja_title(tpl_render *r, tpl_value *s);
/* str.islower()/isupper(): at least one cased character, all in that case. */
bool tpl_str_case_is(tpl_value *s, bool upper);
/* str.strip(chars) / lstrip / rstrip; chars NULL = whitespace. */
tpl_value *tpl_str_strip(tpl_render *r, tpl_value *s, const char *chars, size_t cn, bool left,
                         bool right);
/* str.replace(old, new, count); count < 0 = all. */
tpl_value *tpl_str_replace(tpl_render *r, tpl_value *s, const char *old, size_t on, const char *nw,
                           size_t nn, int64_t count);
/* str.split(sep=None, maxsplit=-1). */
tpl_value *tpl_str_split(tpl_render *r, const tpl_node *at, tpl_value *s, tpl_value *sepv,
                         int64_t maxsplit);
/* dict.items() as a list of (key, value) tuples. */
tpl_value *tpl_dict_items(tpl_render *r, tpl_value *d);

/* Calls a macro (template_eval.c). */
tpl_value *tpl_call_macro(tpl_render *r, const tpl_node *at, tpl_value *fn, tpl_value **args,
                          size_t nargs, tpl_kv *kw, size_t nkw);

#endif // MG_TEXT_TEMPLATE_INTERNAL_H
