/* config.c - see config.h. */
#include "merge/config.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"

static const char *const TOP_KEYS[] = {"merge_method",
                                       "models",
                                       "slices",
                                       "modules",
                                       "base_model",
                                       "parameters",
                                       "dtype",
                                       "out_dtype",
                                       "tokenizer_source",
                                       "tokenizer",
                                       "chat_template",
                                       "residual_weight",
                                       "name",
                                       NULL};
static const char *const CHAT_BUILTINS[] = {"chatml", "llama3", "alpaca", "mistral", NULL};

static void warn(mg_merge_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(mg_merge_config *c, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->warnings = mg_realloc(c->warnings, (c->n_warnings + 1) * sizeof *c->warnings);
    c->warnings[c->n_warnings++] = mg_strdup(buf);
}

static bool in_list(const char *s, const char *const *l) {
    for (; *l; l++)
        if (!strcmp(s, *l)) return true;
    return false;
}

/* Levenshtein distance, capped; for "did you mean" hints. */
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    int d[41][41];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

/* Warns about keys of map y not in allowed; returns the closest unknown key to
 * `wanted` (for hints) via *near. */
static void check_keys(mg_merge_config *c, const mg_yaml *y, const char *const *allowed,
                       const char *where) {
    if (!y || y->kind != MG_YAML_MAP) return;
    for (size_t i = 0; i < y->n; i++) {
        if (in_list(y->keys[i], allowed)) continue;
        const char *best = NULL;
        int bd = 3;
        for (const char *const *a = allowed; *a; a++) {
            int d = edit_distance(y->keys[i], *a);
            if (d < bd) bd = d, best = *a;
        }
        if (best)
            warn(c, "%s:%d: unknown key '%s' in %s (did you mean '%s'?); it is ignored", c->path,
                 y->key_lines[i], y->keys[i], where, best);
        else
            warn(c, "%s:%d: unknown key '%s' in %s; it is ignored", c->path, y->key_lines[i],
                 y->keys[i], where);
    }
}

/* A hint naming an unknown key close to `wanted`, or "". */
static const char *typo_hint(const mg_yaml *y, const char *wanted, char *buf, size_t n) {
    buf[0] = 0;
    if (!y || y->kind != MG_YAML_MAP) return buf;
    for (size_t i = 0; i < y->n; i++)
        if (strcmp(y->keys[i], wanted) && edit_distance(y->keys[i], wanted) <= 2) {
            snprintf(buf, n, " (line %d has '%s': a typo?)", y->key_lines[i], y->keys[i]);
            break;
        }
    return buf;
}

static char *dir_of(const char *path) {
    const char *s = strrchr(path, '/');
    if (!s) return mg_strdup(".");
    if (s == path) return mg_strdup("/");
    return mg_strndup(path, (size_t)(s - path));
}

/* Adds (or finds) a model by reference; resolves its path. */
static mg_status add_model(mg_merge_config *c, const mg_yaml *node, const char *base_dir, int *idx,
                           mg_error *err) {
    const mg_yaml *ref = node;
    if (node && node->kind == MG_YAML_MAP) {
        ref = mg_yaml_get(node, "model");
        if (mg_yaml_get(node, "lora"))
            return mg_error_set(err, MG_ERR_UNSUPPORTED,
                                "%s:%d: LoRA model references are not supported; merge the adapter "
                                "into its model first",
                                c->path, node->line);
    }
    if (!ref || ref->kind != MG_YAML_STR || !ref->text[0])
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: a model reference must be a path string",
                            c->path, node ? node->line : 0);
    const char *s = ref->text;
    if (strchr(s, '+'))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s:%d: model '%s': LoRA references (model+adapter) are not supported; "
                            "merge the adapter into its model first",
                            c->path, ref->line, s);
    for (size_t i = 0; i < c->n_models; i++)
        if (!strcmp(c->models[i].ref, s)) {
            *idx = (int)i;
            return MG_OK;
        }
    char *path = NULL;
    if (mg_path_exists(s))
        path = mg_strdup(s);
    else if (s[0] != '/' && base_dir) {
        char *p = mg_path_join(base_dir, s);
        if (mg_path_exists(p))
            path = p;
        else
            free(p);
    }
    if (!path)
        return mg_error_set(err, MG_ERR_NOT_FOUND,
                            "%s:%d: model '%s' does not exist (mergeguard reads local model "
                            "folders; download it first, e.g. huggingface-cli download %s)",
                            c->path, ref->line, s, s);
    char *real = realpath(path, NULL);
    if (real) {
        free(path);
        path = real;
    }
    // Two spellings of one folder are one model.
    for (size_t i = 0; i < c->n_models; i++)
        if (!strcmp(c->models[i].path, path)) {
            free(path);
            *idx = (int)i;
            return MG_OK;
        }
    c->models = mg_realloc(c->models, (c->n_models + 1) * sizeof *c->models);
    c->models[c->n_models] = (mg_merge_model){mg_strdup(s), path};
    *idx = (int)c->n_models++;
    return MG_OK;
}

/* Checks one parameter setting's shape and the range of its numeric leaves. */
static mg_status check_setting(const mg_merge_config *c, const mg_param_def *d, const mg_yaml *v,
                               bool in_filter, mg_error *err) {
    switch (v->kind) {
    case MG_YAML_NULL:
        return MG_OK; // None: falls through to the default
    case MG_YAML_BOOL:
    case MG_YAML_INT:
    case MG_YAML_FLOAT:
        if (d->type == MG_PT_NUM && !(v->num >= d->lo && v->num <= d->hi))
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s:%d: parameter '%s' = %s is out of range (expected %g to %g)",
                                c->path, v->line, d->name, v->text, d->lo, d->hi);
        return MG_OK;
    case MG_YAML_STR:
        if (d->type == MG_PT_RESCALE && !strcmp(v->text, "inverse")) return MG_OK;
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: parameter '%s' = '%s' is not a number%s",
                            c->path, v->line, d->name, v->text,
                            d->type == MG_PT_RESCALE ? " (rescale takes true, false or inverse)"
                                                     : "");
    case MG_YAML_MAP:
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s:%d: parameter '%s': a {filter, value} entry must be inside a list "
                            "(write '- filter: ...')",
                            c->path, v->line, d->name);
    case MG_YAML_SEQ:
        if (v->n == 0)
            return mg_error_set(err, MG_ERR_INVALID, "%s:%d: parameter '%s' is an empty list",
                                c->path, v->line, d->name);
        for (size_t i = 0; i < v->n; i++) {
            const mg_yaml *it = v->items[i];
            if (it->kind == MG_YAML_MAP) {
                if (in_filter)
                    return mg_error_set(err, MG_ERR_INVALID,
                                        "%s:%d: parameter '%s': nested filter lists", c->path,
                                        it->line, d->name);
                for (size_t k = 0; k < it->n; k++)
                    if (strcmp(it->keys[k], "filter") && strcmp(it->keys[k], "value"))
                        return mg_error_set(err, MG_ERR_INVALID,
                                            "%s:%d: parameter '%s': unknown key '%s' in a filter "
                                            "entry (expected filter and value)",
                                            c->path, it->key_lines[k], d->name, it->keys[k]);
                const mg_yaml *val = mg_yaml_get(it, "value"), *f = mg_yaml_get(it, "filter");
                if (!val)
                    return mg_error_set(err, MG_ERR_INVALID,
                                        "%s:%d: parameter '%s': filter entry without 'value'",
                                        c->path, it->line, d->name);
                if (f && f->kind != MG_YAML_STR && f->kind != MG_YAML_NULL)
                    return mg_error_set(err, MG_ERR_INVALID,
                                        "%s:%d: parameter '%s': filter must be a string", c->path,
                                        f->line, d->name);
                mg_status st = check_setting(c, d, val, true, err);
                if (st) return st;
            } else if (it->kind == MG_YAML_SEQ) {
                return mg_error_set(err, MG_ERR_INVALID, "%s:%d: parameter '%s': nested lists",
                                    c->path, it->line, d->name);
            } else {
                mg_status st = check_setting(c, d, it, in_filter, err);
                if (st) return st;
            }
        }
        return MG_OK;
    }
    return MG_OK;
}

/* level: 0 top, 1 slice, 2 model/source. */
static mg_status check_params(mg_merge_config *c, const mg_yaml *p, int level, mg_error *err) {
    if (!p || p->kind == MG_YAML_NULL) return MG_OK;
    if (p->kind != MG_YAML_MAP)
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: 'parameters' must be a mapping", c->path,
                            p->line);
    for (size_t i = 0; i < p->n; i++) {
        const mg_param_def *d = mg_method_param(c->method, p->keys[i]);
        if (!d) {
            warn(c, "%s:%d: parameter '%s' is not used by %s; it is ignored", c->path,
                 p->key_lines[i], p->keys[i], c->method->name);
            continue;
        }
        if (level == 2 && !d->per_model)
            warn(c,
                 "%s:%d: parameter '%s' of %s is global; set under a model it is ignored (put "
                 "it in the top-level or slice 'parameters')",
                 c->path, p->key_lines[i], p->keys[i], c->method->name);
        mg_status st = check_setting(c, d, p->items[i], false, err);
        if (st) return st;
    }
    return MG_OK;
}

static mg_status parse_range(const mg_merge_config *c, const mg_yaml *r, mg_merge_source *s,
                             mg_error *err) {
    if (!r) return MG_OK;
    if (r->kind != MG_YAML_SEQ || r->n != 2 || r->items[0]->kind != MG_YAML_INT ||
        r->items[1]->kind != MG_YAML_INT)
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: layer_range must be [start, end] integers",
                            c->path, r->line);
    s->has_range = true;
    s->layer_begin = r->items[0]->ival;
    s->layer_end = r->items[1]->ival;
    if (s->layer_begin < 0 || s->layer_end <= s->layer_begin)
        return mg_error_set(
            err, MG_ERR_INVALID,
            "%s:%d: layer_range [%lld, %lld] is empty or negative (end is exclusive)", c->path,
            r->line, (long long)s->layer_begin, (long long)s->layer_end);
    return MG_OK;
}

static mg_status parse_dtype(const mg_merge_config *c, const mg_yaml *y, const char *key,
                             mg_dtype *out, mg_error *err) {
    if (y->kind != MG_YAML_STR || !mg_dtype_parse_torch(y->text, out) ||
        !(*out == MG_DTYPE_BF16 || *out == MG_DTYPE_F16 || *out == MG_DTYPE_F32))
        return mg_error_set(
            err, MG_ERR_INVALID,
            "%s:%d: %s '%s' is not supported (expected bfloat16, float16 or float32)", c->path,
            y->line, key, y->text ? y->text : "");
    return MG_OK;
}

static mg_status parse(mg_merge_config *c, const char *base_dir, mg_error *err) {
    const mg_yaml *r = c->root;
    if (!r || r->kind != MG_YAML_MAP)
        return mg_error_set(err, MG_ERR_INVALID, "%s: the config must be a YAML mapping", c->path);
    check_keys(c, r, TOP_KEYS, "the config");
    char hint[160];
    const mg_yaml *mm = mg_yaml_get(r, "merge_method");
    if (!mm)
        return mg_error_set(err, MG_ERR_INVALID, "%s: missing 'merge_method'%s", c->path,
                            typo_hint(r, "merge_method", hint, sizeof hint));
    if (mm->kind != MG_YAML_STR)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s:%d: merge_method must be a method name, found %s; valid: %s",
                            c->path, mm->line, mg_yaml_kind_name(mm->kind), mg_method_names());
    if (!(c->method = mg_method_find(mm->text))) {
        const char *best = NULL;
        int bd = 4;
        for (size_t i = 0; mm->text && i < mg_method_count(); i++) {
            int d = edit_distance(mm->text, mg_method_at(i)->name);
            if (d < bd) bd = d, best = mg_method_at(i)->name;
        }
        char dym[96] = "";
        if (best) snprintf(dym, sizeof dym, " (did you mean '%s'?)", best);
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: unknown merge_method '%s'%s; valid: %s",
                            c->path, mm->line, mm->text ? mm->text : "", dym, mg_method_names());
    }
    if (mg_yaml_get(r, "modules"))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s:%d: 'modules' (multimodal configs) is not supported", c->path,
                            mg_yaml_get(r, "modules")->line);
    const mg_yaml *models = mg_yaml_get(r, "models"), *slices = mg_yaml_get(r, "slices");
    if ((models && slices) || (!models && !slices))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: the config needs exactly one of 'models' or "
                            "'slices'%s%s",
                            c->path, models ? " (both given)" : "",
                            typo_hint(r, models ? "slices" : "models", hint, sizeof hint));
    mg_status st;
    const mg_yaml *bm = mg_yaml_get(r, "base_model");
    if (bm && bm->kind != MG_YAML_NULL && (st = add_model(c, bm, base_dir, &c->base, err)))
        return st;
    c->params = mg_yaml_get(r, "parameters");
    if ((st = check_params(c, c->params, 0, err))) return st;
    const mg_yaml *y;
    if ((y = mg_yaml_get(r, "dtype")) && y->kind != MG_YAML_NULL) {
        if ((st = parse_dtype(c, y, "dtype", &c->dtype, err))) return st;
        c->has_dtype = true;
    }
    if ((y = mg_yaml_get(r, "out_dtype")) && y->kind != MG_YAML_NULL) {
        if ((st = parse_dtype(c, y, "out_dtype", &c->out_dtype, err))) return st;
        c->has_out_dtype = true;
    }
    static const char *const SRC_KEYS[] = {"model", "layer_range", "parameters", NULL};
    static const char *const MODEL_KEYS[] = {"model", "parameters", NULL};
    static const char *const SLICE_KEYS[] = {"sources", "base_model", "parameters",
                                             "residual_weight", NULL};
    if (models) {
        if (models->kind != MG_YAML_SEQ || models->n == 0)
            return mg_error_set(err, MG_ERR_INVALID, "%s:%d: 'models' must be a non-empty list",
                                c->path, models->line);
        c->slices = mg_calloc(1, sizeof *c->slices);
        c->n_slices = 1;
        mg_merge_slice *s = &c->slices[0];
        s->base = c->base;
        s->line = models->line;
        s->sources = mg_calloc(models->n + 1, sizeof *s->sources);
        for (size_t i = 0; i < models->n; i++) {
            const mg_yaml *m = models->items[i];
            mg_merge_source *src = &s->sources[s->n_sources++];
            src->line = m->line;
            if (m->kind == MG_YAML_MAP) {
                check_keys(c, m, MODEL_KEYS, "a models entry");
                if (mg_yaml_get(m, "layer_range"))
                    return mg_error_set(
                        err, MG_ERR_INVALID,
                        "%s:%d: layer_range belongs in 'slices' sources, not in 'models'", c->path,
                        mg_yaml_get(m, "layer_range")->line);
                if (!mg_yaml_get(m, "model"))
                    return mg_error_set(err, MG_ERR_INVALID,
                                        "%s:%d: models entry without 'model'%s", c->path, m->line,
                                        typo_hint(m, "model", hint, sizeof hint));
                src->params = mg_yaml_get(m, "parameters");
                if ((st = check_params(c, src->params, 2, err))) return st;
            }
            if ((st = add_model(c, m, base_dir, &src->model, err))) return st;
        }
        if (c->base >= 0) {
            bool listed = false;
            for (size_t i = 0; i < s->n_sources; i++)
                listed |= s->sources[i].model == c->base;
            if (!listed)
                s->sources[s->n_sources++] =
                    (mg_merge_source){.model = c->base, .line = bm->line, .appended_base = true};
        }
    } else {
        c->slices_form = true;
        if (slices->kind != MG_YAML_SEQ || slices->n == 0)
            return mg_error_set(err, MG_ERR_INVALID, "%s:%d: 'slices' must be a non-empty list",
                                c->path, slices->line);
        c->slices = mg_calloc(slices->n, sizeof *c->slices);
        for (size_t i = 0; i < slices->n; i++) {
            const mg_yaml *sl = slices->items[i];
            mg_merge_slice *s = &c->slices[c->n_slices++];
            s->line = sl->line;
            s->base = c->base;
            if (sl->kind != MG_YAML_MAP)
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s:%d: a slice must be a mapping with 'sources'", c->path,
                                    sl->line);
            check_keys(c, sl, SLICE_KEYS, "a slice");
            const mg_yaml *srcs = mg_yaml_get(sl, "sources");
            if (!srcs || srcs->kind != MG_YAML_SEQ || srcs->n == 0)
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s:%d: slice %zu needs a non-empty 'sources' list%s", c->path,
                                    sl->line, i, typo_hint(sl, "sources", hint, sizeof hint));
            const mg_yaml *sb = mg_yaml_get(sl, "base_model");
            if (sb && sb->kind != MG_YAML_NULL && (st = add_model(c, sb, base_dir, &s->base, err)))
                return st;
            s->params = mg_yaml_get(sl, "parameters");
            if ((st = check_params(c, s->params, 1, err))) return st;
            s->sources = mg_calloc(srcs->n, sizeof *s->sources);
            for (size_t j = 0; j < srcs->n; j++) {
                const mg_yaml *m = srcs->items[j];
                mg_merge_source *src = &s->sources[s->n_sources++];
                src->line = m->line;
                if (m->kind != MG_YAML_MAP || !mg_yaml_get(m, "model"))
                    return mg_error_set(err, MG_ERR_INVALID,
                                        "%s:%d: a slice source needs 'model'%s", c->path, m->line,
                                        typo_hint(m, "model", hint, sizeof hint));
                check_keys(c, m, SRC_KEYS, "a slice source");
                if ((st = add_model(c, m, base_dir, &src->model, err))) return st;
                if ((st = parse_range(c, mg_yaml_get(m, "layer_range"), src, err))) return st;
                src->params = mg_yaml_get(m, "parameters");
                if ((st = check_params(c, src->params, 2, err))) return st;
                const mg_merge_source *s0 = &s->sources[0];
                if (src->has_range != s0->has_range ||
                    (src->has_range &&
                     src->layer_end - src->layer_begin != s0->layer_end - s0->layer_begin))
                    return mg_error_set(
                        err, MG_ERR_INVALID,
                        "%s:%d: slice %zu: sources span different numbers of layers "
                        "(%lld vs %lld); all sources of a slice must have equal-length "
                        "layer_range",
                        c->path, m->line, i, (long long)(src->layer_end - src->layer_begin),
                        (long long)(s0->layer_end - s0->layer_begin));
            }
        }
    }
    // Base-model and model-count rules.
    const mg_method *me = c->method;
    for (size_t i = 0; i < c->n_slices; i++) {
        mg_merge_slice *s = &c->slices[i];
        size_t others = 0;
        for (size_t j = 0; j < s->n_sources; j++)
            others += s->sources[j].model != s->base;
        if (me->base == MG_BASE_REQUIRED && s->base < 0)
            return mg_error_set(err, MG_ERR_INVALID, "%s: %s needs a base_model%s", c->path,
                                me->name, typo_hint(r, "base_model", hint, sizeof hint));
        if (!strcmp(me->name, "passthrough")) {
            if (s->n_sources != 1)
                return mg_error_set(
                    err, MG_ERR_INVALID,
                    "%s:%d: passthrough takes exactly one model per slice (found %zu)", c->path,
                    s->line, s->n_sources);
            continue;
        }
        size_t total = s->n_sources + (s->base >= 0 && others == s->n_sources ? 1 : 0);
        if (me->base == MG_BASE_REQUIRED || (me->base == MG_BASE_OPTIONAL && s->base >= 0)) {
            if ((int)others < me->min_others ||
                (me->max_others >= 0 && (int)others > me->max_others)) {
                char want[64];
                if (me->max_others == me->min_others)
                    snprintf(want, sizeof want, "exactly %d", me->min_others);
                else if (me->max_others < 0)
                    snprintf(want, sizeof want, "at least %d", me->min_others);
                else
                    snprintf(want, sizeof want, "%d to %d", me->min_others, me->max_others);
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s:%d: %s needs %s model(s) besides the base_model, found %zu",
                                    c->path, s->line, me->name, want, others);
            }
        } else if (!strcmp(me->name, "nuslerp") && total != 2) {
            return mg_error_set(
                err, MG_ERR_INVALID,
                "%s:%d: nuslerp without a base_model needs exactly 2 models, found %zu", c->path,
                s->line, total);
        } else if (total < 1) {
            return mg_error_set(err, MG_ERR_INVALID, "%s:%d: no models", c->path, s->line);
        }
    }
    // Tokenizer and chat template.
    c->tokenizer_source = -1;
    const mg_yaml *ts = mg_yaml_get(r, "tokenizer_source"), *tk = mg_yaml_get(r, "tokenizer");
    if (ts && tk)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s:%d: set either tokenizer_source or tokenizer, not both", c->path,
                            tk->line);
    if (tk && tk->kind == MG_YAML_MAP) {
        static const char *const TK_KEYS[] = {"source", "tokens", "pad_to_multiple_of", NULL};
        check_keys(c, tk, TK_KEYS, "tokenizer");
        if (mg_yaml_get(tk, "tokens") || mg_yaml_get(tk, "pad_to_multiple_of"))
            return mg_error_set(
                err, MG_ERR_UNSUPPORTED,
                "%s:%d: tokenizer 'tokens' and 'pad_to_multiple_of' are not supported yet", c->path,
                tk->line);
        ts = mg_yaml_get(tk, "source");
        if (!ts)
            return mg_error_set(
                err, MG_ERR_UNSUPPORTED,
                "%s:%d: tokenizer source 'union' (the default of 'tokenizer:') is not "
                "supported; set source: base or a model",
                c->path, tk->line);
    } else if (tk) {
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: 'tokenizer' must be a mapping", c->path,
                            tk->line);
    }
    if (ts && ts->kind != MG_YAML_NULL) {
        if (ts->kind != MG_YAML_STR)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s:%d: tokenizer_source must be 'base' or a model", c->path,
                                ts->line);
        if (!strcmp(ts->text, "union"))
            return mg_error_set(
                err, MG_ERR_UNSUPPORTED,
                "%s:%d: tokenizer_source 'union' is not supported; use 'base' or one "
                "of the models",
                c->path, ts->line);
        if (!strcmp(ts->text, "base")) {
            if (c->base < 0)
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s:%d: tokenizer_source 'base' needs a base_model", c->path,
                                    ts->line);
            c->tokenizer_source = c->base;
        } else if ((st = add_model(c, ts, base_dir, &c->tokenizer_source, err))) {
            return st;
        }
    }
    const mg_yaml *ct = mg_yaml_get(r, "chat_template");
    if (ct && ct->kind != MG_YAML_NULL) {
        if (ct->kind != MG_YAML_STR)
            return mg_error_set(err, MG_ERR_INVALID, "%s:%d: chat_template must be a string",
                                c->path, ct->line);
        if (in_list(ct->text, CHAT_BUILTINS))
            c->chat_template_name = mg_strdup(ct->text);
        else if (strlen(ct->text) >= 20 && strchr(ct->text, '{'))
            c->chat_template = mg_strdup(ct->text);
        else
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s:%d: chat_template '%s' is neither a built-in (chatml, llama3, "
                                "alpaca, mistral) nor a Jinja template",
                                c->path, ct->line, ct->text);
    }
    return MG_OK;
}

mg_status mg_merge_config_parse(const char *text, size_t len, const char *what,
                                const char *base_dir, mg_merge_config **out, mg_error *err) {
    *out = NULL;
    mg_merge_config *c = mg_calloc(1, sizeof *c);
    c->path = mg_strdup(what ? what : "<string>");
    c->text = mg_strndup(text, len);
    c->base = -1;
    mg_status st = mg_yaml_load_buffer(text, len, c->path, &c->root, err);
    if (!st) st = parse(c, base_dir, err);
    if (st) {
        mg_merge_config_free(c);
        return st;
    }
    *out = c;
    return MG_OK;
}

mg_status mg_merge_config_load(const char *path, mg_merge_config **out, mg_error *err) {
    *out = NULL;
    if (!mg_path_is_file(path))
        return mg_error_set(err, MG_ERR_NOT_FOUND, "%s: no such config file", path);
    char *buf;
    size_t len;
    mg_status st = mg_file_read_all(path, 16u << 20, &buf, &len, err);
    if (st) return st;
    char *dir = dir_of(path);
    st = mg_merge_config_parse(buf, len, path, dir, out, err);
    free(dir);
    free(buf);
    return st;
}

void mg_merge_config_free(mg_merge_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_slices; i++)
        free(c->slices[i].sources);
    free(c->slices);
    for (size_t i = 0; i < c->n_models; i++)
        free(c->models[i].ref), free(c->models[i].path);
    free(c->models);
    for (size_t i = 0; i < c->n_warnings; i++)
        free(c->warnings[i]);
    free(c->warnings);
    mg_yaml_free(c->root);
    free(c->path);
    free(c->text);
    free(c->chat_template);
    free(c->chat_template_name);
    free(c);
}

/* ---- evaluation ---- */

static bool all_numeric(const mg_yaml *v) {
    for (size_t i = 0; i < v->n; i++)
        if (!mg_yaml_is_number(v->items[i])) return false;
    return true;
}

static mg_status scalar_value(const mg_yaml *v, const mg_param_def *d, double *out, mg_error *err) {
    if (mg_yaml_is_number(v)) {
        *out = v->num;
        return MG_OK;
    }
    if (v->kind == MG_YAML_STR && d && d->type == MG_PT_RESCALE && !strcmp(v->text, "inverse")) {
        *out = 2;
        return MG_OK;
    }
    return mg_error_set(err, MG_ERR_INVALID, "line %d: parameter '%s': '%s' is not a number",
                        v->line, d ? d->name : "?", v->text ? v->text : mg_yaml_kind_name(v->kind));
}

mg_status mg_setting_eval(const mg_yaml *v, const mg_param_def *d, const char *tensor, double t,
                          double *out, bool *found, mg_error *err) {
    *found = false;
    if (!v || v->kind == MG_YAML_NULL) return MG_OK;
    if (v->kind != MG_YAML_SEQ) {
        *found = true;
        return scalar_value(v, d, out, err);
    }
    if (v->n && v->items[0]->kind == MG_YAML_MAP) {
        for (size_t i = 0; i < v->n; i++) {
            const mg_yaml *e = v->items[i];
            const mg_yaml *f = mg_yaml_get(e, "filter");
            bool match =
                !f || f->kind == MG_YAML_NULL ||
                (f->kind == MG_YAML_STR && (!strcmp(f->text, "*") || strstr(tensor, f->text)));
            if (match)
                return mg_setting_eval(mg_yaml_get(e, "value"), d, tensor, t, out, found, err);
        }
        return MG_OK; // no match: the next level decides
    }
    size_t L = v->n;
    if (L == 0) return MG_OK;
    if (all_numeric(v)) {
        double s = t * (double)(L - 1);
        size_t i0 = (size_t)floor(s), i1 = i0 + 1 < L ? i0 + 1 : L - 1;
        if (i0 >= L) i0 = L - 1;
        double fr = s - (double)i0;
        *out = (1 - fr) * v->items[i0]->num + fr * v->items[i1]->num;
        *found = true;
        return MG_OK;
    }
    size_t i = (size_t)floor(t * (double)(L - 1));
    if (i >= L) i = L - 1;
    *found = true;
    return scalar_value(v->items[i], d, out, err);
}
