/* genome.c - mergekit-evolve genome: parsing, x0, decoding, genotype -> merge YAML. */
#include "search/genome.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/rng.h"
#include "io/model_dir.h"
#include "merge/method.h"

static const char *const METHOD_NAMES[] = {"linear", "task_arithmetic", "ties", "dare_ties",
                                           "slerp"};

const char *mg_genome_method_name(mg_genome_method m) {
    return METHOD_NAMES[m];
}

int mg_genome_n_params(const mg_genome *g) {
    return g->method == MG_GENOME_TIES || g->method == MG_GENOME_DARE_TIES ? 2 : 1;
}

const char *mg_genome_param_name(const mg_genome *g, int p) {
    if (g->method == MG_GENOME_SLERP) return "t";
    return p == 0 ? "weight" : "density";
}

size_t mg_genome_dim(const mg_genome *g) {
    return (size_t)g->n_groups * g->n_models * (g->n_filters + 1) * (size_t)mg_genome_n_params(g);
}

size_t mg_genome_index(const mg_genome *g, int group, int model, int set, int param) {
    size_t sets = g->n_filters + 1, np = (size_t)mg_genome_n_params(g);
    return (((size_t)group * g->n_models + (size_t)model) * sets + (size_t)set) * np +
           (size_t)param;
}

void mg_genome_free(mg_genome *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_models; i++) {
        free(g->models[i]);
        free(g->model_refs[i]);
    }
    free(g->models);
    free(g->model_refs);
    free(g->base_model);
    free(g->tokenizer_source);
    for (size_t i = 0; i < g->n_filters; i++)
        free(g->filters[i]);
    free(g->filters);
    free(g->dtype);
    for (size_t i = 0; i < g->n_warnings; i++)
        free(g->warnings[i]);
    free(g->warnings);
    free(g);
}

static void warn(mg_genome *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(mg_genome *g, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g->warnings = mg_realloc(g->warnings, (g->n_warnings + 1) * sizeof(char *));
    g->warnings[g->n_warnings++] = mg_strdup(buf);
}

/* Resolves a model reference as the merge config does: the working directory, then
 * base_dir; the result is an absolute path so generated configs work from anywhere. */
static mg_status resolve_model(const char *what, const mg_yaml *node, const char *base_dir,
                               char **out, mg_error *err) {
    const mg_yaml *ref = node;
    if (node && node->kind == MG_YAML_MAP) ref = mg_yaml_get(node, "model");
    if (!ref || ref->kind != MG_YAML_STR || !ref->text[0])
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: genome: a model reference must be a path",
                            what, node ? node->line : 0);
    const char *s = ref->text;
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
        return mg_error_set(err, MG_ERR_NOT_FOUND, "%s:%d: genome: model '%s' does not exist", what,
                            ref->line, s);
    char *real = realpath(path, NULL);
    free(path);
    if (!real)
        return mg_error_set(err, MG_ERR_IO, "%s:%d: genome: cannot resolve model path '%s'", what,
                            ref->line, s);
    *out = real;
    return MG_OK;
}

static const char *const GENOME_KEYS[] = {
    "models",    "merge_method",           "base_model", "tokenizer_source", "layer_granularity",
    "normalize", "allow_negative_weights", "filters",    "smooth",           "dtype"};

static mg_status get_bool(const char *what, const mg_yaml *node, const char *key, bool *out,
                          mg_error *err) {
    const mg_yaml *v = mg_yaml_get(node, key);
    if (!v || v->kind == MG_YAML_NULL) return MG_OK;
    if (v->kind != MG_YAML_BOOL)
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: genome: %s must be true or false", what,
                            v->line, key);
    *out = v->b;
    return MG_OK;
}

mg_status mg_genome_parse(const mg_yaml *node, const char *what, const char *base_dir,
                          mg_genome **out, mg_error *err) {
    *out = NULL;
    mg_status st = MG_OK;
    mg_model *first = NULL;
    if (!node || node->kind != MG_YAML_MAP)
        return mg_error_set(err, MG_ERR_INVALID, "%s: 'genome' must be a mapping", what);
    mg_genome *g = mg_calloc(1, sizeof *g);
    g->normalize = -1;
    for (size_t i = 0; i < node->n; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof GENOME_KEYS / sizeof *GENOME_KEYS; k++)
            if (!strcmp(node->keys[i], GENOME_KEYS[k])) known = true;
        // The paper's genomic_1.yml spells allow_negative_neights; pydantic ignores it, so the
        // weights stay abs()-decoded. Say so rather than silently doing the same.
        if (!known)
            warn(g, "%s:%d: genome: unknown key '%s' ignored%s", what, node->key_lines[i],
                 node->keys[i],
                 strstr(node->keys[i], "negative") ? " (did you mean allow_negative_weights?)"
                                                   : "");
    }

    const mg_yaml *mm = mg_yaml_get(node, "merge_method");
    if (!mm || mm->kind != MG_YAML_STR) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s:%d: genome: merge_method is required", what,
                          node->line);
        goto fail;
    }
    int method = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(mm->text, METHOD_NAMES[i])) method = i;
    if (method < 0) {
        st = mg_error_set(err, MG_ERR_UNSUPPORTED,
                          "%s:%d: genome: merge_method '%s' is not supported by evolve (expected "
                          "linear, task_arithmetic, ties, dare_ties or slerp)",
                          what, mm->line, mm->text);
        goto fail;
    }
    g->method = (mg_genome_method)method;

    const mg_yaml *models = mg_yaml_get(node, "models");
    if (!models || models->kind != MG_YAML_SEQ || models->n < 1) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s:%d: genome: models must be a non-empty list",
                          what, models ? models->line : node->line);
        goto fail;
    }
    g->models = mg_calloc(models->n, sizeof(char *));
    g->model_refs = mg_calloc(models->n, sizeof(char *));
    for (size_t i = 0; i < models->n; i++) {
        const mg_yaml *it = models->items[i];
        char *path = NULL;
        if ((st = resolve_model(what, it, base_dir, &path, err))) goto fail;
        for (size_t j = 0; j < g->n_models; j++)
            if (!strcmp(g->models[j], path)) {
                free(path);
                st = mg_error_set(err, MG_ERR_INVALID, "%s:%d: genome: model listed twice", what,
                                  it->line);
                goto fail;
            }
        const mg_yaml *ref = it->kind == MG_YAML_MAP ? mg_yaml_get(it, "model") : it;
        g->models[g->n_models] = path;
        g->model_refs[g->n_models++] = mg_strdup(ref->text);
    }
    if (g->method == MG_GENOME_SLERP && g->n_models < 2) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s:%d: genome: slerp needs at least 2 models", what,
                          models->line);
        goto fail;
    }

    const mg_yaml *bm = mg_yaml_get(node, "base_model");
    if (bm && bm->kind != MG_YAML_NULL) {
        if ((st = resolve_model(what, bm, base_dir, &g->base_model, err))) goto fail;
    } else if (g->method == MG_GENOME_TIES || g->method == MG_GENOME_DARE_TIES ||
               g->method == MG_GENOME_TASK_ARITHMETIC) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s:%d: genome: %s needs a base_model", what,
                          node->line, mm->text);
        goto fail;
    }
    // Every candidate must be a valid merge: the merge engine wants a model
    // besides the base for these methods (fuzzing: models: [B], base_model: B).
    if (g->base_model && (g->method == MG_GENOME_TIES || g->method == MG_GENOME_DARE_TIES ||
                          g->method == MG_GENOME_TASK_ARITHMETIC)) {
        size_t others = 0;
        for (size_t i = 0; i < g->n_models; i++)
            others += strcmp(g->models[i], g->base_model) != 0;
        if (others == 0) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s:%d: genome: %s needs a model besides the base_model", what,
                              models->line, mm->text);
            goto fail;
        }
    }

    const mg_yaml *ts = mg_yaml_get(node, "tokenizer_source");
    if (ts && ts->kind != MG_YAML_NULL) {
        if (ts->kind != MG_YAML_STR) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s:%d: genome: tokenizer_source must be a string", what, ts->line);
            goto fail;
        }
        if (!strcmp(ts->text, "base"))
            g->tokenizer_source = mg_strdup("base");
        else if (!strcmp(ts->text, "union")) {
            st = mg_error_set(err, MG_ERR_UNSUPPORTED,
                              "%s:%d: genome: tokenizer_source 'union' is not supported; use "
                              "'base' or one model",
                              what, ts->line);
            goto fail;
        } else if ((st = resolve_model(what, ts, base_dir, &g->tokenizer_source, err)))
            goto fail;
    }

    const mg_yaml *lg = mg_yaml_get(node, "layer_granularity");
    if (lg && lg->kind != MG_YAML_NULL) {
        if (lg->kind != MG_YAML_INT || lg->ival < 0 || lg->ival > 100000) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s:%d: genome: layer_granularity must be an integer >= 0", what,
                              lg->line);
            goto fail;
        }
        g->layer_granularity = (int)lg->ival;
    }
    bool norm = false, have_norm = false;
    const mg_yaml *nv = mg_yaml_get(node, "normalize");
    if (nv && nv->kind != MG_YAML_NULL) have_norm = true;
    if ((st = get_bool(what, node, "normalize", &norm, err)) ||
        (st = get_bool(what, node, "allow_negative_weights", &g->allow_negative_weights, err)) ||
        (st = get_bool(what, node, "smooth", &g->smooth, err)))
        goto fail;
    g->normalize = have_norm ? norm : -1;

    const mg_yaml *fl = mg_yaml_get(node, "filters");
    if (fl && fl->kind != MG_YAML_NULL) {
        if (fl->kind != MG_YAML_SEQ) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s:%d: genome: filters must be a list of strings", what, fl->line);
            goto fail;
        }
        g->filters = mg_calloc(fl->n + 1, sizeof(char *));
        for (size_t i = 0; i < fl->n; i++) {
            if (fl->items[i]->kind != MG_YAML_STR || !fl->items[i]->text[0]) {
                st = mg_error_set(err, MG_ERR_INVALID,
                                  "%s:%d: genome: filters must be non-empty strings", what,
                                  fl->items[i]->line);
                goto fail;
            }
            g->filters[g->n_filters++] = mg_strdup(fl->items[i]->text);
        }
    }
    if (g->method == MG_GENOME_SLERP && (g->smooth || g->n_filters)) {
        st = mg_error_set(err, MG_ERR_INVALID,
                          "%s:%d: genome: smooth and filters are not supported with slerp "
                          "(as in mergekit-evolve)",
                          what, node->line);
        goto fail;
    }

    const mg_yaml *dt = mg_yaml_get(node, "dtype");
    if (dt && dt->kind != MG_YAML_NULL) {
        if (dt->kind != MG_YAML_STR) {
            st = mg_error_set(err, MG_ERR_INVALID, "%s:%d: genome: dtype must be a string", what,
                              dt->line);
            goto fail;
        }
        g->dtype = mg_strdup(dt->text);
    } else {
        g->dtype = mg_strdup("bfloat16");
    }

    if ((st = mg_model_open(g->models[0], &first, err))) {
        mg_error_prefix(err, "%s: genome model 1: ", what);
        goto fail;
    }
    const mg_model_config *mc = mg_model_config_of(first);
    if (!mc->present || mc->num_hidden_layers < 1) {
        st = mg_error_set(err, MG_ERR_INVALID,
                          "%s: genome: %s has no num_hidden_layers in config.json", what,
                          g->models[0]);
        goto fail;
    }
    g->n_layers = (int)mc->num_hidden_layers;
    if (g->layer_granularity > 0 && g->n_layers % g->layer_granularity) {
        st = mg_error_set(err, MG_ERR_INVALID,
                          "%s:%d: genome: layer_granularity %d does not divide the %d layers of %s",
                          what, lg->line, g->layer_granularity, g->n_layers, g->model_refs[0]);
        goto fail;
    }
    g->n_groups = g->layer_granularity > 0 ? g->n_layers / g->layer_granularity : 1;
    mg_model_close(first);
    *out = g;
    return MG_OK;
fail:
    mg_model_close(first);
    mg_genome_free(g);
    return st;
}

void mg_genome_initial(const mg_genome *g, bool random, uint64_t seed, double *x) {
    size_t dim = mg_genome_dim(g);
    int np = mg_genome_n_params(g);
    uint64_t key = mg_rng_key(seed, "genome-init");
    for (size_t i = 0; i < dim; i++) {
        if (random)
            x[i] = mg_rng_uniform_f64(key, i);
        else
            x[i] = (i % (size_t)np) == 0 ? 1.0 / (double)g->n_models : 1.0;
    }
}

double mg_genome_decode(const mg_genome *g, const double *x, size_t index) {
    int np = mg_genome_n_params(g);
    int p = (int)(index % (size_t)np);
    double v = x[index];
    if (p == 1) return fmin(fabs(v), 1.0); // density
    return g->allow_negative_weights ? v : fabs(v);
}

/* ---- YAML emission ---- */

static void put_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void put_num(FILE *f, double v) {
    if (v == 0) v = 0; // no "-0" in configs
    fprintf(f, "%.17g", v);
}

/* The base model appears in `models` when one of the genome's models is it. */
static bool base_listed(const mg_genome *g) {
    for (size_t i = 0; g->base_model && i < g->n_models; i++)
        if (!strcmp(g->models[i], g->base_model)) return true;
    return false;
}

/* Per-source parameters of a discrete slice, at `indent` spaces. */
static void put_params_discrete(FILE *f, const mg_genome *g, const double *x, int group, int model,
                                int indent) {
    int np = mg_genome_n_params(g);
    fprintf(f, "%*sparameters:\n", indent, "");
    for (int p = 0; p < np; p++) {
        fprintf(f, "%*s%s:", indent + 2, "", mg_genome_param_name(g, p));
        if (g->n_filters == 0) {
            fputc(' ', f);
            put_num(f, mg_genome_decode(g, x, mg_genome_index(g, group, model, 0, p)));
            fputc('\n', f);
            continue;
        }
        fputc('\n', f);
        for (size_t s = 0; s <= g->n_filters; s++) {
            fprintf(f, "%*s- filter: ", indent + 4, "");
            if (s < g->n_filters)
                put_str(f, g->filters[s]);
            else
                fputs("null", f);
            fprintf(f, "\n%*svalue: ", indent + 6, "");
            put_num(f, mg_genome_decode(g, x, mg_genome_index(g, group, model, (int)s, p)));
            fputc('\n', f);
        }
    }
}

/* A gradient (or a scalar for one group) over the groups of one (model, set, param). */
static void put_gradient(FILE *f, const mg_genome *g, const double *x, int model, int set, int p) {
    if (g->n_groups == 1) {
        put_num(f, mg_genome_decode(g, x, mg_genome_index(g, 0, model, set, p)));
        return;
    }
    fputc('[', f);
    for (int k = 0; k < g->n_groups; k++) {
        if (k) fputs(", ", f);
        put_num(f, mg_genome_decode(g, x, mg_genome_index(g, k, model, set, p)));
    }
    fputc(']', f);
}

static void put_globals(FILE *f, const mg_genome *g) {
    const mg_method *m = mg_method_find(mg_genome_method_name(g->method));
    bool has_norm = m && mg_method_param(m, "normalize");
    bool has_int8 = m && mg_method_param(m, "int8_mask");
    if (!has_norm && !has_int8) return;
    fputs("parameters:\n", f);
    if (has_norm) {
        bool norm = g->normalize >= 0
                        ? g->normalize
                        : (g->method == MG_GENOME_TIES || g->method == MG_GENOME_DARE_TIES ||
                           g->method == MG_GENOME_LINEAR);
        fprintf(f, "  normalize: %s\n", norm ? "true" : "false");
    }
    if (has_int8) fputs("  int8_mask: true\n", f);
}

char *mg_genome_to_yaml(const mg_genome *g, const double *x) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return mg_strdup(""); // only on OOM, which mg_* would abort on anyway
    int step = g->layer_granularity > 0 ? g->layer_granularity : g->n_layers;
    fprintf(f, "# generated by mergeguard evolve from a %s genome\n",
            mg_genome_method_name(g->method));
    fprintf(f, "merge_method: %s\n", mg_genome_method_name(g->method));
    if (g->base_model && g->method != MG_GENOME_SLERP) {
        fputs("base_model: ", f);
        put_str(f, g->base_model);
        fputc('\n', f);
    }
    if (g->method == MG_GENOME_SLERP) {
        fputs("slices:\n", f);
        for (int k = 0; k < g->n_groups; k++) {
            // Top two raw weight genes; ties go to the lower index (torch.topk is unspecified).
            int a = -1, b = -1;
            for (int i = 0; i < (int)g->n_models; i++) {
                double v = x[mg_genome_index(g, k, i, 0, 0)];
                if (a < 0 || v > x[mg_genome_index(g, k, a, 0, 0)]) {
                    b = a;
                    a = i;
                } else if (b < 0 || v > x[mg_genome_index(g, k, b, 0, 0)]) {
                    b = i;
                }
            }
            double va = x[mg_genome_index(g, k, a, 0, 0)], vb = x[mg_genome_index(g, k, b, 0, 0)];
            double t = 1.0 / (1.0 + exp(va - vb)); // softmax([va, vb])[1]
            fputs("  - base_model: ", f);
            put_str(f, g->models[a]);
            fputs("\n    parameters:\n      t: ", f);
            put_num(f, t);
            fputs("\n    sources:\n", f);
            int pick[2] = {a, b};
            for (int s = 0; s < 2; s++) {
                fputs("      - model: ", f);
                put_str(f, g->models[pick[s]]);
                fprintf(f, "\n        layer_range: [%d, %d]\n", k * step, (k + 1) * step);
                if (g->tokenizer_source) {
                    fputs("        parameters:\n          weight: ", f);
                    put_num(f, s == 0 ? 1.0 - t : t);
                    fputc('\n', f);
                }
            }
            if (g->base_model && !base_listed(g)) {
                fputs("      - model: ", f);
                put_str(f, g->base_model);
                fprintf(f, "\n        layer_range: [%d, %d]\n", k * step, (k + 1) * step);
            }
        }
    } else if (g->smooth) {
        fputs("models:\n", f);
        int np = mg_genome_n_params(g);
        for (size_t i = 0; i < g->n_models; i++) {
            fputs("  - model: ", f);
            put_str(f, g->models[i]);
            fputs("\n    parameters:\n", f);
            for (int p = 0; p < np; p++) {
                fprintf(f, "      %s:", mg_genome_param_name(g, p));
                if (g->n_filters == 0) {
                    fputc(' ', f);
                    put_gradient(f, g, x, (int)i, 0, p);
                    fputc('\n', f);
                    continue;
                }
                fputc('\n', f);
                for (size_t s = 0; s <= g->n_filters; s++) {
                    fputs("        - filter: ", f);
                    if (s < g->n_filters)
                        put_str(f, g->filters[s]);
                    else
                        fputs("null", f);
                    fputs("\n          value: ", f);
                    put_gradient(f, g, x, (int)i, (int)s, p);
                    fputc('\n', f);
                }
            }
        }
        if (g->base_model && !base_listed(g)) {
            fputs("  - model: ", f);
            put_str(f, g->base_model);
            fputc('\n', f);
        }
    } else {
        fputs("slices:\n", f);
        for (int k = 0; k < g->n_groups; k++) {
            fputs("  - sources:\n", f);
            for (size_t i = 0; i < g->n_models; i++) {
                fputs("      - model: ", f);
                put_str(f, g->models[i]);
                fprintf(f, "\n        layer_range: [%d, %d]\n", k * step, (k + 1) * step);
                put_params_discrete(f, g, x, k, (int)i, 8);
            }
            if (g->base_model && !base_listed(g)) {
                fputs("      - model: ", f);
                put_str(f, g->base_model);
                fprintf(f, "\n        layer_range: [%d, %d]\n", k * step, (k + 1) * step);
            }
        }
    }
    if (g->method != MG_GENOME_SLERP) put_globals(f, g);
    fprintf(f, "dtype: %s\n", g->dtype);
    if (g->tokenizer_source) {
        fputs("tokenizer_source: ", f);
        put_str(f, g->tokenizer_source);
        fputc('\n', f);
    }
    fclose(f);
    return buf;
}
