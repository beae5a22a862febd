/* yaml.c - see yaml.h. */
#include "base/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/alloc.h"
#include "base/file.h"

void mg_yaml_free(mg_yaml *y) {
    if (!y) return;
    for (size_t i = 0; i < y->n; i++) {
        mg_yaml_free(y->items[i]);
        if (y->keys) free(y->keys[i]);
    }
    free(y->items);
    free(y->keys);
    free(y->key_lines);
    free(y->text);
    free(y);
}

const char *mg_yaml_kind_name(mg_yaml_kind k) {
    switch (k) {
    case MG_YAML_NULL:
        return "null";
    case MG_YAML_BOOL:
        return "a boolean";
    case MG_YAML_INT:
        return "an integer";
    case MG_YAML_FLOAT:
        return "a number";
    case MG_YAML_STR:
        return "a string";
    case MG_YAML_SEQ:
        return "a list";
    case MG_YAML_MAP:
        return "a mapping";
    }
    return "?";
}

bool mg_yaml_is_number(const mg_yaml *y) {
    return y && (y->kind == MG_YAML_INT || y->kind == MG_YAML_FLOAT || y->kind == MG_YAML_BOOL);
}

bool mg_yaml_is_scalar(const mg_yaml *y) {
    return y && y->kind != MG_YAML_SEQ && y->kind != MG_YAML_MAP;
}

const mg_yaml *mg_yaml_get(const mg_yaml *y, const char *key) {
    if (!y || y->kind != MG_YAML_MAP) return NULL;
    for (size_t i = 0; i < y->n; i++)
        if (!strcmp(y->keys[i], key)) return y->items[i];
    return NULL;
}

static bool in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return true;
    return false;
}

/* Types a plain scalar following PyYAML's YAML 1.1 implicit resolvers. */
static void type_plain(mg_yaml *y) {
    static const char *const TRUES[] = {"yes",  "Yes", "YES", "true", "True",
                                        "TRUE", "on",  "On",  "ON",   NULL};
    static const char *const FALSES[] = {"no",    "No",  "NO",  "false", "False",
                                         "FALSE", "off", "Off", "OFF",   NULL};
    static const char *const NULLS[] = {"", "~", "null", "Null", "NULL", NULL};
    const char *s = y->text;
    y->kind = MG_YAML_STR;
    if (in_list(s, NULLS)) {
        y->kind = MG_YAML_NULL;
        return;
    }
    if (in_list(s, TRUES) || in_list(s, FALSES)) {
        y->kind = MG_YAML_BOOL;
        y->b = in_list(s, TRUES);
        y->num = y->b;
        y->ival = y->b;
        return;
    }
    // Numbers: drop '_' separators (YAML 1.1), then try int forms, then floats.
    size_t len = strlen(s);
    if (len > 64) return;
    char buf[72];
    size_t j = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '_') buf[j++] = s[i];
    buf[j] = 0;
    const char *p = buf;
    int sign = 1;
    if (*p == '+' || *p == '-') sign = (*p++ == '-') ? -1 : 1;
    if (!*p) return;
    const char *lower_specials[] = {".inf", ".Inf", ".INF", NULL};
    if (in_list(p, lower_specials)) {
        y->kind = MG_YAML_FLOAT;
        y->num = sign * INFINITY;
        return;
    }
    if (!strcmp(p, ".nan") || !strcmp(p, ".NaN") || !strcmp(p, ".NAN")) {
        y->kind = MG_YAML_FLOAT;
        y->num = NAN;
        return;
    }
    int base = 10;
    const char *digits = p;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, digits = p + 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, digits = p + 2;
    else if (p[0] == '0' && p[1] && isdigit((unsigned char)p[1]))
        base = 8, digits = p + 1;
    if (*digits) {
        bool ok = true;
        for (const char *q = digits; *q && ok; q++) {
            int c = (unsigned char)*q;
            ok = base == 16  ? isxdigit(c)
                 : base == 2 ? (c == '0' || c == '1')
                 : base == 8 ? (c >= '0' && c <= '7')
                             : isdigit(c);
        }
        if (ok) {
            errno = 0;
            long long v = strtoll(digits, NULL, base);
            if (!errno) {
                y->kind = MG_YAML_INT;
                y->ival = sign * v;
                y->num = (double)y->ival;
                return;
            }
        }
    }
    // Floats: anything strtod reads completely that starts like a number
    // ("1.5", ".5", "1e-3", "2."), but not words strtod also accepts ("inf", "nan").
    if (!(isdigit((unsigned char)p[0]) || (p[0] == '.' && isdigit((unsigned char)p[1])))) return;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (*end || end == buf) return;
    y->kind = MG_YAML_FLOAT;
    y->num = d;
}

static int token_line(struct fy_token *t) {
    const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
    return m ? m->line + 1 : 0;
}

/* The line of a node's first scalar (0 when it has none), for collections
 * used as keys, which have no token of their own. Bounded by libfyaml's depth
 * limit. */
static int node_line(struct fy_node *n) {
    if (!n) return 0;
    void *it = NULL;
    switch (fy_node_get_type(n)) {
    case FYNT_SCALAR:
        return token_line(fy_node_get_scalar_token(n));
    case FYNT_SEQUENCE:
        return node_line(fy_node_sequence_iterate(n, &it));
    case FYNT_MAPPING: {
        struct fy_node_pair *pr = fy_node_mapping_iterate(n, &it);
        return pr ? node_line(fy_node_pair_key(pr)) : 0;
    }
    }
    return 0;
}

static mg_status convert(struct fy_node *fn, int line_hint, const char *what, mg_yaml **out,
                         mg_error *err) {
    mg_yaml *y = mg_calloc(1, sizeof *y);
    *out = y;
    y->line = line_hint;
    switch (fy_node_get_type(fn)) {
    case FYNT_SCALAR: {
        size_t len;
        const char *s = fy_node_get_scalar(fn, &len);
        y->text = mg_strndup(s ? s : "", s ? len : 0);
        int l = token_line(fy_node_get_scalar_token(fn));
        if (l) y->line = l;
        size_t tlen = 0;
        const char *tag = fy_node_get_tag(fn, &tlen);
        if (fy_node_get_style(fn) == FYNS_PLAIN && !tag)
            type_plain(y);
        else
            y->kind = MG_YAML_STR;
        return MG_OK;
    }
    case FYNT_SEQUENCE: {
        y->kind = MG_YAML_SEQ;
        size_t cap = 0;
        void *it = NULL;
        struct fy_node *c;
        while ((c = fy_node_sequence_iterate(fn, &it))) {
            if (y->n == cap) {
                cap = cap ? 2 * cap : 4;
                y->items = mg_realloc(y->items, cap * sizeof *y->items);
            }
            y->items[y->n] = NULL;
            mg_status st = convert(c, y->line, what, &y->items[y->n], err);
            y->n++;
            if (st) return st;
        }
        if (y->n && y->items[0]->line && !y->line) y->line = y->items[0]->line;
        return MG_OK;
    }
    case FYNT_MAPPING: {
        y->kind = MG_YAML_MAP;
        size_t cap = 0;
        void *it = NULL;
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate(fn, &it))) {
            struct fy_node *k = fy_node_pair_key(pr), *v = fy_node_pair_value(pr);
            if (y->n == cap) {
                cap = cap ? 2 * cap : 4;
                y->items = mg_realloc(y->items, cap * sizeof *y->items);
                y->keys = mg_realloc(y->keys, cap * sizeof *y->keys);
                y->key_lines = mg_realloc(y->key_lines, cap * sizeof *y->key_lines);
            }
            size_t i = y->n;
            y->items[i] = NULL;
            y->keys[i] = NULL;
            y->n++;
            int kl = node_line(k);
            y->key_lines[i] = kl ? kl : y->line;
            if (!k || fy_node_get_type(k) != FYNT_SCALAR)
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s:%d: mapping keys must be plain strings", what,
                                    y->key_lines[i]);
            size_t len;
            const char *s = fy_node_get_scalar(k, &len);
            y->keys[i] = mg_strndup(s ? s : "", s ? len : 0);
            for (size_t j = 0; j < i; j++)
                if (!strcmp(y->keys[j], y->keys[i]))
                    return mg_error_set(err, MG_ERR_INVALID, "%s:%d: duplicate key '%s'", what,
                                        y->key_lines[i], y->keys[i]);
            if (!v) {
                y->items[i] = mg_calloc(1, sizeof(mg_yaml));
                y->items[i]->kind = MG_YAML_NULL;
                y->items[i]->line = y->key_lines[i];
                continue;
            }
            mg_status st = convert(v, y->key_lines[i], what, &y->items[i], err);
            if (st) return st;
        }
        if (!y->line && y->n) y->line = y->key_lines[0];
        return MG_OK;
    }
    }
    return mg_error_set(err, MG_ERR_INVALID, "%s: unsupported YAML node", what);
}

/* YAML text must be UTF-8 of printable characters (YAML 1.2 c-printable);
 * checked before libfyaml sees it because 0.7.12 (Debian 12) loops forever on
 * an invalid UTF-8 sequence inside a '%' directive line ("%x\xff") and
 * crashes on NUL bytes in some contexts ("- ? a:\t\0"), both found by
 * fuzzing. */
static mg_status check_text(const char *buf, size_t len, const char *what, mg_error *err) {
    int line = 1, col = 1;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n =
            utf8proc_iterate((const utf8proc_uint8_t *)buf + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s:%d:%d: invalid YAML: not UTF-8 (byte 0x%02x)", what, line, col,
                                (unsigned char)buf[i]);
        bool printable = cp == '\t' || cp == '\n' || cp == '\r' || (cp >= 0x20 && cp <= 0x7e) ||
                         cp == 0x85 || (cp >= 0xa0 && cp <= 0xd7ff) ||
                         (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000;
        if (!printable)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s:%d:%d: invalid YAML: character U+%04X is not allowed", what,
                                line, col, (unsigned)cp);
        if (cp == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        i += (size_t)n;
    }
    return MG_OK;
}

/* ---- expansion limits ----
 * Aliases make a YAML document a graph: "a1: &a1 [*a0, *a0, ...]" ten levels
 * deep ("billion laughs") is a few hundred bytes whose resolved tree has
 * 10^10 nodes, which libfyaml's resolver would build in memory. Before
 * resolving, we size the expanded tree (node count and depth, memoized per
 * alias target, so the scan is linear in the document) and refuse documents
 * beyond limits no mergeguard config comes near. */

typedef struct expand_memo {
    struct fy_node **key; // alias targets (open addressing), NULL = empty
    uint64_t *size;       // expanded node count; UINT64_MAX while being sized
    int *height;
    size_t cap;
} expand_memo;

static size_t memo_slot(expand_memo *m, struct fy_node *n) {
    size_t h = ((uintptr_t)n >> 4) * 0x9E3779B97F4A7C15ull % m->cap;
    while (m->key[h] && m->key[h] != n)
        h = (h + 1) % m->cap;
    return h;
}

static void memo_grow(expand_memo *m) {
    expand_memo old = *m;
    m->cap = old.cap ? 2 * old.cap : 64;
    m->key = mg_calloc(m->cap, sizeof *m->key);
    m->size = mg_calloc(m->cap, sizeof *m->size);
    m->height = mg_calloc(m->cap, sizeof *m->height);
    for (size_t i = 0; i < old.cap; i++)
        if (old.key[i]) {
            size_t h = memo_slot(m, old.key[i]);
            m->key[h] = old.key[i], m->size[h] = old.size[i], m->height[h] = old.height[i];
        }
    free(old.key), free(old.size), free(old.height);
}

typedef struct expand_ctx {
    expand_memo memo;
    size_t used;
    bool cycle;
} expand_ctx;

/* Expanded size and height of the tree under n (saturating past the limits).
 * Recursion is bounded: libfyaml refuses documents nested deeper than 64
 * levels, and alias targets are followed only up to MG_YAML_MAX_DEPTH. */
static uint64_t expanded(struct fy_node *n, int depth, expand_ctx *c, int *height) {
    *height = 0;
    if (!n) return 1;
    if (depth > MG_YAML_MAX_DEPTH) {
        *height = MG_YAML_MAX_DEPTH + 1;
        return 1;
    }
    if (fy_node_is_alias(n)) {
        struct fy_node *t = fy_node_resolve_alias(n);
        if (!t) { // undefined or cyclic: fy_document_resolve reports it
            c->cycle = true;
            return 1;
        }
        if (2 * (c->used + 1) > c->memo.cap) memo_grow(&c->memo);
        size_t h = memo_slot(&c->memo, t);
        if (c->memo.key[h]) {
            if (c->memo.size[h] == UINT64_MAX) { // an alias inside its own anchor
                c->cycle = true;
                return 1;
            }
            *height = c->memo.height[h];
            return c->memo.size[h];
        }
        c->memo.key[h] = t;
        c->memo.size[h] = UINT64_MAX;
        c->used++;
        int ht;
        uint64_t sz = expanded(t, depth, c, &ht);
        h = memo_slot(&c->memo, t); // the table may have grown
        c->memo.size[h] = sz;
        c->memo.height[h] = ht;
        *height = ht;
        return sz;
    }
    uint64_t total = 1;
    int ht = 0;
    void *it = NULL;
    if (fy_node_get_type(n) == FYNT_SEQUENCE) {
        struct fy_node *k;
        while ((k = fy_node_sequence_iterate(n, &it)) && total <= MG_YAML_MAX_NODES) {
            int hk;
            total += expanded(k, depth + 1, c, &hk);
            if (hk + 1 > ht) ht = hk + 1;
        }
    } else if (fy_node_get_type(n) == FYNT_MAPPING) {
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate(n, &it)) && total <= MG_YAML_MAX_NODES) {
            int hk, hv;
            total += expanded(fy_node_pair_key(pr), depth + 1, c, &hk);
            total += expanded(fy_node_pair_value(pr), depth + 1, c, &hv);
            if (hk + 1 > ht) ht = hk + 1;
            if (hv + 1 > ht) ht = hv + 1;
        }
    }
    *height = ht;
    return total > MG_YAML_MAX_NODES ? MG_YAML_MAX_NODES + 1 : total;
}

static mg_status check_expansion(struct fy_document *doc, const char *what, mg_error *err) {
    expand_ctx c = {0};
    int height;
    uint64_t n = expanded(fy_document_root(doc), 0, &c, &height);
    free(c.memo.key), free(c.memo.size), free(c.memo.height);
    if (n > MG_YAML_MAX_NODES)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: invalid YAML: its aliases expand to more than %d nodes (an "
                            "alias bomb?); a config has a few hundred",
                            what, MG_YAML_MAX_NODES);
    if (height > MG_YAML_MAX_DEPTH)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: invalid YAML: nested more than %d levels deep once aliases are "
                            "expanded",
                            what, MG_YAML_MAX_DEPTH);
    return MG_OK;
}

/* The first collected libfyaml error as "what:line:col: invalid YAML: msg"
 * (libfyaml's collected diagnostics carry 1-based lines and columns). */
static mg_status diag_error(struct fy_diag *diag, const char *what, const char *fallback,
                            mg_error *err) {
    void *it = NULL;
    struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
    if (!e) return mg_error_set(err, MG_ERR_INVALID, "%s: invalid YAML: %s", what, fallback);
    return mg_error_set(err, MG_ERR_INVALID, "%s:%d:%d: invalid YAML: %s", what, e->line,
                        e->column, e->msg ? e->msg : fallback);
}

/* libfyaml 0.7.12 crashes (a bad pointer in fy_parse_cleanup, after the
 * parse error) on a tab next to the indicators of a '?' explicit key: the
 * smallest case is "? x:\t:" (tests/fuzz/known). PyYAML, for which mergekit
 * configs are written, accepts no tab between tokens at all, so refusing
 * that combination costs no config anything. The scan skips quoted scalars
 * and comments; '?' counts where a token can start (line start, after a
 * "- ", '{', '[' or ','), followed by a blank. */
static mg_status check_tab_explicit_key(const char *buf, size_t len, const char *what,
                                        mg_error *err) {
    if (!memchr(buf, '\t', len)) return MG_OK;
    int line = 1, qline = 0, tline = 0;
    char quote = 0, prev = '\n'; // prev: the last non-blank character outside quotes
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == '\n') line++;
        if (quote) {
            if (quote == '"' && ch == '\\') i++;
            else if (ch == quote && !(quote == '\'' && i + 1 < len && buf[i + 1] == '\'')) quote = 0;
            else if (ch == '\'' && quote == '\'') i++; // '' inside '...'
            continue;
        }
        if (ch == '#' && (i == 0 || buf[i - 1] == ' ' || buf[i - 1] == '\t' || buf[i - 1] == '\n')) {
            while (i < len && buf[i] != '\n')
                i++;
            i--; // the newline is counted above
            continue;
        }
        if (ch == '\t' && !tline) tline = line;
        if (ch == ' ' || ch == '\t') continue;
        bool token_start = strchr("\n-[{,:?", prev) != NULL;
        if ((ch == '\'' || ch == '"') && token_start) {
            quote = ch;
        } else if (ch == '?' && token_start && !qline &&
                   (i + 1 == len || strchr(" \t\r\n", buf[i + 1]))) {
            qline = line;
        }
        prev = ch;
    }
    if (qline && tline)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s:%d: invalid YAML: a tab (line %d) in a document with a '?' "
                            "explicit key is not accepted (replace tabs with spaces)",
                            what, qline, tline);
    return MG_OK;
}

static mg_status load(const char *buf, size_t len, const char *what, mg_yaml **out, mg_error *err) {
    *out = NULL;
    if (check_text(buf, len, what, err)) return MG_ERR_INVALID;
    if (check_tab_explicit_key(buf, len, what, err)) return MG_ERR_INVALID;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag) return mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot create YAML diagnostics", what);
    fy_diag_set_collect_errors(diag, true);
    // Aliases and merge keys are resolved after check_expansion, not while parsing.
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG, .diag = diag};
    struct fy_document *doc = fy_document_build_from_string(&cfg, buf, len);
    mg_status st = MG_OK;
    if (!doc) {
        void *it = NULL;
        if (!fy_diag_errors_iterate(diag, &it)) goto done; // an empty document: no node, no error
        st = diag_error(diag, what, "syntax error", err);
        goto done;
    }
    if ((st = check_expansion(doc, what, err))) goto done;
    if (fy_document_resolve(doc)) {
        st = diag_error(diag, what, "cannot resolve an alias or merge key", err);
        goto done;
    }
    struct fy_node *root = fy_document_root(doc);
    if (root) {
        st = convert(root, 1, what, out, err);
        if (st) {
            mg_yaml_free(*out);
            *out = NULL;
        }
    }
done:
    if (doc) fy_document_destroy(doc);
    fy_diag_destroy(diag);
    return st;
}

mg_status mg_yaml_load_buffer(const char *buf, size_t len, const char *what, mg_yaml **out,
                              mg_error *err) {
    return load(buf, len, what, out, err);
}

mg_status mg_yaml_load_file(const char *path, mg_yaml **out, mg_error *err) {
    *out = NULL;
    if (!mg_path_exists(path)) return mg_error_set(err, MG_ERR_NOT_FOUND, "%s: no such file", path);
    char *buf = NULL;
    size_t len = 0;
    mg_status st = mg_file_read_all(path, 16u << 20, &buf, &len, err);
    if (st) return st;
    st = load(buf, len, path, out, err);
    free(buf);
    return st;
}
