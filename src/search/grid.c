/* grid.c - grid search over merge hyperparameters; see grid.h. */
#include "search/grid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "merge/config.h"
#include "nn/load.h"
#include "search/candidate.h"
#include "search/fitness.h"

static void put_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

typedef struct ovr {
    const char *const *names;
    const double *values;
    const bool *per_model;
    size_t n;
    const char *base; // base_model reference text, or NULL
} ovr;

static void emit(FILE *f, const mg_yaml *y);

static void emit_params(FILE *f, const mg_yaml *params, const ovr *o, bool per_model) {
    fputc('{', f);
    bool first = true;
    for (size_t i = 0; params && params->kind == MG_YAML_MAP && i < params->n; i++) {
        bool replaced = false;
        for (size_t k = 0; k < o->n; k++)
            if (o->per_model[k] == per_model && !strcmp(params->keys[i], o->names[k]))
                replaced = true;
        if (replaced) continue;
        if (!first) fputs(", ", f);
        first = false;
        put_str(f, params->keys[i]);
        fputs(": ", f);
        emit(f, params->items[i]);
    }
    for (size_t k = 0; k < o->n; k++) {
        if (o->per_model[k] != per_model) continue;
        if (!first) fputs(", ", f);
        first = false;
        put_str(f, o->names[k]);
        fprintf(f, ": %.17g", o->values[k]);
    }
    fputc('}', f);
}

static void emit(FILE *f, const mg_yaml *y) {
    if (!y) {
        fputs("null", f);
        return;
    }
    switch (y->kind) {
    case MG_YAML_NULL:
        fputs("null", f);
        break;
    case MG_YAML_BOOL:
        fputs(y->b ? "true" : "false", f);
        break;
    case MG_YAML_INT:
        fprintf(f, "%lld", y->ival);
        break;
    case MG_YAML_FLOAT:
        fprintf(f, "%.17g", y->num);
        break;
    case MG_YAML_STR:
        put_str(f, y->text);
        break;
    case MG_YAML_SEQ:
        fputc('[', f);
        for (size_t i = 0; i < y->n; i++) {
            if (i) fputs(", ", f);
            emit(f, y->items[i]);
        }
        fputc(']', f);
        break;
    case MG_YAML_MAP:
        fputc('{', f);
        for (size_t i = 0; i < y->n; i++) {
            if (i) fputs(", ", f);
            put_str(f, y->keys[i]);
            fputs(": ", f);
            emit(f, y->items[i]);
        }
        fputc('}', f);
        break;
    }
}

/* A models / sources entry with the per-model overrides (unless it is the base). */
static void emit_source(FILE *f, const mg_yaml *e, const ovr *o) {
    const mg_yaml *ref = e->kind == MG_YAML_MAP ? mg_yaml_get(e, "model") : e;
    bool is_base = o->base && ref && ref->kind == MG_YAML_STR && !strcmp(ref->text, o->base);
    bool any = false;
    for (size_t k = 0; k < o->n; k++)
        any |= o->per_model[k];
    if (is_base || !any) {
        emit(f, e);
        return;
    }
    fputc('{', f);
    bool had_params = false;
    if (e->kind == MG_YAML_MAP) {
        for (size_t i = 0; i < e->n; i++) {
            if (i) fputs(", ", f);
            put_str(f, e->keys[i]);
            fputs(": ", f);
            if (!strcmp(e->keys[i], "parameters")) {
                emit_params(f, e->items[i], o, true);
                had_params = true;
            } else {
                emit(f, e->items[i]);
            }
        }
    } else {
        fputs("\"model\": ", f);
        emit(f, e);
    }
    if (!had_params) {
        fputs(", \"parameters\": ", f);
        emit_params(f, NULL, o, true);
    }
    fputc('}', f);
}

static void emit_sources(FILE *f, const mg_yaml *seq, const ovr *o) {
    fputc('[', f);
    for (size_t i = 0; seq && i < seq->n; i++) {
        if (i) fputs(", ", f);
        emit_source(f, seq->items[i], o);
    }
    fputc(']', f);
}

char *mg_grid_config_text(const mg_yaml *root, const mg_method *m, const char *const *names,
                          const double *values, size_t n, mg_error *err) {
    bool *pm = mg_calloc(n ? n : 1, sizeof(bool));
    for (size_t k = 0; k < n; k++) {
        const mg_param_def *d = mg_method_param(m, names[k]);
        if (!d) {
            mg_error_set(err, MG_ERR_INVALID, "grid: method %s has no parameter '%s'", m->name,
                         names[k]);
            free(pm);
            return NULL;
        }
        pm[k] = d->per_model;
    }
    const mg_yaml *bm = mg_yaml_get(root, "base_model");
    ovr o = {names, values, pm, n, bm && bm->kind == MG_YAML_STR ? bm->text : NULL};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fputc('{', f);
    bool has_params = false;
    for (size_t i = 0; i < root->n; i++) {
        const char *key = root->keys[i];
        const mg_yaml *v = root->items[i];
        if (i) fputs(", ", f);
        put_str(f, key);
        fputs(": ", f);
        if (!strcmp(key, "parameters")) {
            emit_params(f, v, &o, false);
            has_params = true;
        } else if (!strcmp(key, "models") && v->kind == MG_YAML_SEQ) {
            emit_sources(f, v, &o);
        } else if (!strcmp(key, "slices") && v->kind == MG_YAML_SEQ) {
            fputc('[', f);
            for (size_t s = 0; s < v->n; s++) {
                const mg_yaml *sl = v->items[s];
                if (s) fputs(", ", f);
                fputc('{', f);
                for (size_t j = 0; sl->kind == MG_YAML_MAP && j < sl->n; j++) {
                    if (j) fputs(", ", f);
                    put_str(f, sl->keys[j]);
                    fputs(": ", f);
                    if (!strcmp(sl->keys[j], "sources"))
                        emit_sources(f, sl->items[j], &o);
                    else
                        emit(f, sl->items[j]);
                }
                fputc('}', f);
            }
            fputc(']', f);
        } else {
            emit(f, v);
        }
    }
    bool any_global = false;
    for (size_t k = 0; k < n; k++)
        any_global |= !pm[k];
    if (!has_params && any_global) {
        fputs(", \"parameters\": ", f);
        emit_params(f, NULL, &o, false);
    }
    fputs("}\n", f);
    fclose(f);
    free(pm);
    return buf;
}

void mg_grid_result_free(mg_grid_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_points; i++)
        free(r->points[i].values);
    free(r->points);
    memset(r, 0, sizeof *r);
}

static mg_status write_outputs(const mg_grid_opts *o, const mg_grid_result *r, char **texts,
                               mg_error *err) {
    mg_status st;
    if (mg_path_exists(o->out_dir)) {
        if (!o->force)
            return mg_error_set(err, MG_ERR_EXISTS, "output folder %s exists (use --force)",
                                o->out_dir);
        if ((st = mg_remove_tree(o->out_dir, err))) return st;
    }
    if ((st = mg_mkdir_p(o->out_dir, err))) return st;
    char *md = mg_path_join(o->out_dir, "grid.md");
    FILE *f = fopen(md, "wb");
    free(md);
    if (!f) return mg_error_set(err, MG_ERR_IO, "cannot write in %s", o->out_dir);
    fprintf(f,
            "# mergeguard grid\n\nconfig: `%s`, data: `%s`, fitness = %g CE_alignment + %g "
            "CE_task\n\n",
            o->config, o->data, o->alignment_weight, o->alpha);
    fputs("| point |", f);
    for (size_t k = 0; k < o->n_params; k++)
        fprintf(f, " %s |", o->params[k].name);
    fputs(" fitness | CE alignment | CE task | |\n|---|", f);
    for (size_t k = 0; k < o->n_params + 4; k++)
        fputs("---|", f);
    fputc('\n', f);
    for (size_t i = 0; i < r->n_points; i++) {
        fprintf(f, "| %zu |", i);
        for (size_t k = 0; k < o->n_params; k++)
            fprintf(f, " %g |", r->points[i].values[k]);
        fprintf(f, " %.6g | %.6g | %.6g | %s |\n", r->points[i].fitness, r->points[i].ce[0],
                r->points[i].ce[1], i == r->best ? "**selected**" : "");
        char name[64];
        snprintf(name, sizeof name, "point_%03zu.yml", i);
        char *p = mg_path_join(o->out_dir, name);
        st = mg_write_file_atomic(p, texts[i], strlen(texts[i]), true, err);
        free(p);
        if (st) break;
    }
    fputs("\nSelected: the lowest task CE, standing in for the paper's rule (best domain "
          "accuracy) until domain accuracy is measured here; `best_config.yml` is its config.\n",
          f);
    fclose(f);
    if (!st) {
        char *p = mg_path_join(o->out_dir, "best_config.yml");
        st = mg_write_file_atomic(p, texts[r->best], strlen(texts[r->best]), true, err);
        free(p);
    }
    return st;
}

mg_status mg_grid_run(const mg_grid_opts *o, mg_grid_result *r, mg_error *err) {
    memset(r, 0, sizeof *r);
    mg_yaml *root = NULL;
    mg_merge_config *mc = NULL;
    mg_nn_model *model = NULL;
    mg_tokenizer *tok = NULL;
    mg_fitness *fit = NULL;
    char **texts = NULL;
    size_t total = 1;
    const char **names = mg_calloc(o->n_params + 1, sizeof(char *));
    double *vals = mg_calloc(o->n_params + 1, sizeof(double));
    const char *slash = strrchr(o->config, '/');
    char *dir = slash ? mg_strndup(o->config, (size_t)(slash - o->config) + (slash == o->config))
                      : mg_strdup(".");
    mg_status st = mg_merge_config_load(o->config, &mc, err);
    if (st) goto done;
    if ((st = mg_yaml_load_file(o->config, &root, err))) goto done;
    for (size_t k = 0; k < o->n_params; k++) {
        names[k] = o->params[k].name;
        if (!o->params[k].n) {
            st = mg_error_set(err, MG_ERR_USAGE, "grid: --param %s has no values", names[k]);
            goto done;
        }
        total *= o->params[k].n;
        if (total > 100000) {
            st = mg_error_set(err, MG_ERR_USAGE, "grid: more than 100000 points");
            goto done;
        }
    }
    // Every point's config is built and checked before any model is loaded.
    texts = mg_calloc(total, sizeof(char *));
    r->points = mg_calloc(total, sizeof(mg_grid_point));
    r->n_points = total;
    r->n_params = o->n_params;
    for (size_t i = 0; i < total; i++) {
        size_t rem = i;
        r->points[i].values = mg_calloc(o->n_params + 1, sizeof(double));
        for (size_t k = o->n_params; k-- > 0;) {
            vals[k] = o->params[k].values[rem % o->params[k].n];
            rem /= o->params[k].n;
            r->points[i].values[k] = vals[k];
        }
        texts[i] = mg_grid_config_text(root, mc->method, names, vals, o->n_params, err);
        if (!texts[i]) {
            st = err ? err->status : MG_ERR_INVALID;
            goto done;
        }
        mg_merge_config *chk = NULL;
        st = mg_merge_config_parse(texts[i], strlen(texts[i]), o->config, dir, &chk, err);
        mg_merge_config_free(chk);
        if (st) goto done;
    }
    int ref = mc->base >= 0 ? mc->base : 0;
    const char *ref_path = mc->models[ref].path;
    if ((st = mg_nn_model_load(ref_path, &model, err))) goto done;
    if ((st = mg_tokenizer_load(ref_path, &tok, err))) goto done;
    mg_fitness_options fo = mg_fitness_defaults();
    fo.weight[0] = o->alignment_weight;
    fo.weight[1] = o->alpha;
    fo.samples_per_type = o->samples_per_type;
    fo.seed = o->seed;
    fo.model_ctx = (int)model->arch.max_pos;
    if ((st = mg_fitness_load(o->data, tok, &fo, &fit, err))) goto done;
    for (size_t i = 0; i < total; i++) {
        mg_fitness_result fr = {0};
        if ((st = mg_candidate_merge(texts[i], strlen(texts[i]), o->config, dir, 0, model, NULL,
                                     err)) ||
            (st = mg_fitness_eval(fit, model, &fr, err)))
            goto done;
        r->points[i].fitness = fr.loss;
        r->points[i].ce[0] = fr.ce[0];
        r->points[i].ce[1] = fr.ce[1];
        if (fr.ce[1] < r->points[r->best].ce[1] || i == 0) r->best = i;
        if (o->progress)
            mg_log_info("grid: point %zu/%zu: fitness %.6g (CE alignment %.6g, task %.6g)", i + 1,
                        total, fr.loss, fr.ce[0], fr.ce[1]);
    }
    if (o->out_dir) st = write_outputs(o, r, texts, err);
done:
    for (size_t i = 0; texts && i < total; i++)
        free(texts[i]);
    free(texts);
    free(names);
    free(vals);
    free(dir);
    mg_fitness_free(fit);
    mg_tokenizer_free(tok);
    mg_nn_model_free(model);
    mg_yaml_free(root);
    mg_merge_config_free(mc);
    if (st) mg_grid_result_free(r);
    return st;
}
