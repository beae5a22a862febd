/* yaml.c - see yaml.h. */
#include "base/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            int kl = k ? token_line(fy_node_get_scalar_token(k)) : 0;
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

static mg_status load(const char *buf, size_t len, const char *what, mg_yaml **out, mg_error *err) {
    *out = NULL;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag) return mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot create YAML diagnostics", what);
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_RESOLVE_DOCUMENT,
                               .diag = diag};
    struct fy_document *doc = fy_document_build_from_string(&cfg, buf, len);
    mg_status st = MG_OK;
    if (!doc) {
        void *it = NULL;
        struct fy_diag_error *e = fy_diag_errors_iterate(diag, &it);
        if (!e) goto done; // an empty document: no node, no error
        st = mg_error_set(err, MG_ERR_INVALID, "%s:%d:%d: invalid YAML: %s", what, e->line + 1,
                          e->column + 1, e->msg ? e->msg : "syntax error");
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
