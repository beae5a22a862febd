/* plan.c - see plan.h: building the plan (output tensor list, slices and
 * layer renumbering, per-tensor parameter resolution). Running a tensor of it
 * is plan_run.c. */
#include "merge/plan.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "merge/resident.h"

/* Splits a layer tensor name at its first ".N." component (mergekit's auto
 * architecture rule): prefix "model.layers.", layer N, suffix ".mlp...". */
static bool split_layer(const char *name, size_t *plen, long *layer, const char **suffix) {
    for (const char *p = strchr(name, '.'); p; p = strchr(p + 1, '.')) {
        const char *q = p + 1;
        if (!isdigit((unsigned char)*q)) continue;
        char *end;
        long v = strtol(q, &end, 10);
        if (*end != '.') continue;
        *plen = (size_t)(q - name);
        *layer = v;
        *suffix = end;
        return true;
    }
    return false;
}

static bool is_pre(const char *name) {
    return strstr(name, "embed") || strstr(name, "wte") || strstr(name, "wpe");
}

static bool is_embed_name(const char *name) {
    return strstr(name, "embed_tokens") || strstr(name, "lm_head") || strstr(name, "wte");
}

static char *layer_name(const char *prefix, size_t plen, long layer, const char *suffix) {
    size_t n = plen + 24 + strlen(suffix);
    char *s = mg_malloc(n);
    snprintf(s, n, "%.*s%ld%s", (int)plen, prefix, layer, suffix);
    return s;
}

static int64_t model_layers(const mg_model *m) {
    const mg_model_config *c = mg_model_config_of(m);
    if (c->present && c->num_hidden_layers > 0) return c->num_hidden_layers;
    long mx = -1;
    for (size_t i = 0; i < mg_model_tensor_count(m); i++) {
        size_t pl;
        long l;
        const char *sfx;
        if (split_layer(mg_model_tensor_at(m, i)->name, &pl, &l, &sfx) && l > mx) mx = l;
    }
    return mx + 1;
}

static const char *mname(const mg_plan *p, int model) {
    return p->cfg->models[model].ref;
}

void mg_plan_free(mg_plan *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_tensors; i++) {
        free(p->tensors[i].name);
        free(p->tensors[i].inputs);
    }
    free(p->tensors);
    for (size_t i = 0; i < p->n_fds; i++) {
        if (p->fds[i] >= 0) close(p->fds[i]);
        free(p->fd_paths[i]);
    }
    free(p->fds);
    free(p->fd_paths);
    if (p->models)
        for (size_t i = 0; i < p->cfg->n_models; i++)
            mg_model_close(p->models[i]);
    free(p->models);
    mg_resident_free(p->resident);
    free(p);
}

/* Resolves a parameter: levels are tried in order, then the default. */
static mg_status resolve(const mg_plan *p, const mg_param_def *d, const mg_yaml *const *levels,
                         int nlev, const char *tensor, double t, double *out, bool *found,
                         mg_error *err) {
    for (int i = 0; i < nlev; i++) {
        if (!levels[i]) continue;
        const mg_yaml *v = mg_yaml_get(levels[i], d->name);
        if (!v) continue;
        mg_status st = mg_setting_eval(v, d, tensor, t, out, found, err);
        if (st) return mg_error_prefix(err, "%s: ", p->cfg->path);
        if (*found) return MG_OK;
    }
    *out = d->def;
    *found = !isnan(d->def);
    return MG_OK;
}

typedef struct builder {
    mg_plan *p;
    size_t cap;
} builder;

static mg_plan_tensor *new_tensor(builder *b) {
    mg_plan *p = b->p;
    if (p->n_tensors == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        p->tensors = mg_realloc(p->tensors, b->cap * sizeof *p->tensors);
    }
    mg_plan_tensor *t = &p->tensors[p->n_tensors++];
    memset(t, 0, sizeof *t);
    t->base = -1;
    t->fill = -1;
    return t;
}

/* The plan's read descriptor for a file, opened on first use. */
static mg_status file_fd(mg_plan *p, const char *path, int *fd, mg_error *err) {
    for (size_t i = 0; i < p->n_fds; i++)
        if (!strcmp(p->fd_paths[i], path)) {
            *fd = p->fds[i];
            return MG_OK;
        }
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return mg_error_set(err, MG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    p->fds = mg_realloc(p->fds, (p->n_fds + 1) * sizeof *p->fds);
    p->fd_paths = mg_realloc(p->fd_paths, (p->n_fds + 1) * sizeof *p->fd_paths);
    p->fds[p->n_fds] = f;
    p->fd_paths[p->n_fds++] = mg_strdup(path);
    *fd = f;
    return MG_OK;
}

/* Adds one output tensor fed by `src` input names (one per source of slice s). */
static mg_status add_tensor(builder *b, int s, const char *out_name, char *const *in_names,
                            double t, bool layer, mg_error *err) {
    mg_plan *p = b->p;
    const mg_merge_config *c = p->cfg;
    const mg_merge_slice *sl = &c->slices[s];
    const mg_method *me = c->method;
    mg_plan_tensor *T = new_tensor(b);
    T->name = mg_strdup(out_name);
    T->t = t;
    T->slice = layer ? s : -1;
    T->is_embed = is_embed_name(out_name);
    T->inputs = mg_calloc(sl->n_sources + 1, sizeof *T->inputs);
    const mg_yaml *glev[2] = {sl->params, c->params};
    bool passthrough = !strcmp(me->name, "passthrough");
    // Global parameters.
    for (int i = 0; i < MG_P_COUNT; i++)
        T->g[i] = NAN;
    for (size_t k = 0; k < me->n_params; k++) {
        const mg_param_def *d = &me->params[k];
        if (d->per_model) continue;
        bool found;
        mg_status st = resolve(p, d, glev, 2, out_name, t, &T->g[d->id], &found, err);
        if (st) return st;
        if (!found && d->required)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: missing required parameter '%s' of %s for tensor %s", c->path,
                                d->name, me->name, out_name);
        if (found && d->type == MG_PT_NUM && !(T->g[d->id] >= d->lo && T->g[d->id] <= d->hi))
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: parameter '%s' = %g for tensor %s is out of range (%g to %g)",
                                c->path, d->name, T->g[d->id], out_name, d->lo, d->hi);
    }
    // Inputs.
    for (size_t j = 0; j < sl->n_sources; j++) {
        const mg_merge_source *src = &sl->sources[j];
        bool dup = false;
        for (size_t q = 0; q < T->n_inputs; q++)
            dup |= T->inputs[q].model == src->model;
        if (dup) continue; // mergekit keys inputs by model: the first source wins
        if (passthrough && src->appended_base) continue;
        mg_plan_input *in = &T->inputs[T->n_inputs];
        in->model = src->model;
        const mg_model *m = p->models[src->model];
        in->view = mg_model_find_tied(m, in_names[j]);
        if (!in->view)
            return mg_error_set(err, MG_ERR_NOT_FOUND,
                                "%s: model '%s' has no tensor '%s' (needed for output %s)", c->path,
                                mname(p, src->model), in_names[j], out_name);
        if (!mg_dtype_is_float(in->view->dtype))
            return mg_error_set(
                err, MG_ERR_UNSUPPORTED,
                "%s: model '%s': tensor '%s' has dtype %s; only float tensors can be merged",
                c->path, mname(p, src->model), in_names[j], mg_dtype_name(in->view->dtype));
        bool is_base = src->model == sl->base;
        // Per-model parameters: the first source entry for this model, slice, top.
        const mg_yaml *srcp = NULL;
        for (size_t q = 0; q < sl->n_sources; q++)
            if (sl->sources[q].model == src->model) {
                srcp = sl->sources[q].params;
                break;
            }
        const mg_yaml *lev[3] = {srcp, sl->params, c->params};
        for (int i = 0; i < MG_P_COUNT; i++)
            in->m[i] = NAN;
        for (size_t k = 0; k < me->n_params; k++) {
            const mg_param_def *d = &me->params[k];
            if (!d->per_model) continue;
            bool found;
            mg_status st = resolve(p, d, lev, 3, in_names[j], t, &in->m[d->id], &found, err);
            if (st) return st;
            if (!found && d->required && !is_base) {
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s: model '%s' has no '%s' for tensor %s (required by %s)",
                                    c->path, mname(p, src->model), d->name, in_names[j], me->name);
            }
            if (found && d->type == MG_PT_NUM && !(in->m[d->id] >= d->lo && in->m[d->id] <= d->hi))
                return mg_error_set(
                    err, MG_ERR_INVALID,
                    "%s: model '%s': '%s' = %g for tensor %s is out of range (%g to %g)", c->path,
                    mname(p, src->model), d->name, in->m[d->id], in_names[j], d->lo, d->hi);
        }
        if (!is_base && me->gta && !strncmp(me->name, "della", 5)) {
            double d = in->m[MG_P_DENSITY], e = in->m[MG_P_EPSILON];
            if (d > 0 && d < 1 && (d - e <= 0 || d + e >= 1))
                return mg_error_set(
                    err, MG_ERR_INVALID,
                    "%s: model '%s': della needs density - epsilon > 0 and density + "
                    "epsilon < 1, got density %g, epsilon %g (tensor %s)",
                    c->path, mname(p, src->model), d, e, in_names[j]);
        }
        // linear: an unlisted base without a weight is not averaged in (mergekit
        // fails on it); every listed model needs one.
        if (!strcmp(me->name, "linear") && isnan(in->m[MG_P_WEIGHT])) {
            if (src->appended_base) continue;
            return mg_error_set(err, MG_ERR_INVALID, "%s: model '%s' has no 'weight' for tensor %s",
                                c->path, mname(p, src->model), in_names[j]);
        }
        if (is_base && me->base != MG_BASE_NONE) T->base = (int)T->n_inputs;
        T->n_inputs++;
    }
    // A slice base that is not among the sources still feeds the merge.
    if (sl->base >= 0 && T->base < 0 && me->base != MG_BASE_NONE) {
        mg_plan_input *in = &T->inputs[T->n_inputs];
        in->model = sl->base;
        in->view = mg_model_find_tied(p->models[sl->base], in_names[0]);
        if (!in->view)
            return mg_error_set(err, MG_ERR_NOT_FOUND, "%s: base model '%s' has no tensor '%s'",
                                c->path, mname(p, sl->base), in_names[0]);
        for (int i = 0; i < MG_P_COUNT; i++)
            in->m[i] = NAN;
        T->base = (int)T->n_inputs++;
    }
    for (size_t q = 0; q < T->n_inputs; q++) {
        mg_status st = file_fd(p, T->inputs[q].view->file_path, &T->inputs[q].fd, err);
        if (st) return st;
    }
    // Shapes: equal, or embeddings rectified (vocabulary rows).
    const mg_tensor_view *ref = T->inputs[T->base >= 0 ? T->base : 0].view;
    T->ndim = ref->ndim;
    memcpy(T->shape, ref->shape, sizeof T->shape);
    bool mismatch = false;
    for (size_t q = 0; q < T->n_inputs; q++) {
        const mg_tensor_view *v = T->inputs[q].view;
        bool same = v->ndim == ref->ndim;
        for (int d = 0; same && d < v->ndim; d++)
            same = v->shape[d] == ref->shape[d];
        if (same) continue;
        bool rows_only = v->ndim == 2 && ref->ndim == 2 && v->shape[1] == ref->shape[1];
        if (!(T->is_embed && rows_only)) {
            char a[64], bb[64];
            snprintf(a, sizeof a, "[%lld%s", (long long)(v->ndim ? v->shape[0] : 1),
                     v->ndim > 1 ? ", ...]" : "]");
            snprintf(bb, sizeof bb, "[%lld%s", (long long)(ref->ndim ? ref->shape[0] : 1),
                     ref->ndim > 1 ? ", ...]" : "]");
            if (v->ndim == 2 && ref->ndim == 2)
                snprintf(a, sizeof a, "[%lld, %lld]", (long long)v->shape[0],
                         (long long)v->shape[1]),
                    snprintf(bb, sizeof bb, "[%lld, %lld]", (long long)ref->shape[0],
                             (long long)ref->shape[1]);
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: shape mismatch in %s: model '%s' has %s, model '%s' has %s",
                                c->path, out_name, mname(p, T->inputs[q].model), a,
                                mname(p, T->inputs[T->base >= 0 ? T->base : 0].model), bb);
        }
        mismatch = true;
    }
    if (mismatch) {
        int tsrc = c->tokenizer_source;
        int fill = -1;
        for (size_t q = 0; q < T->n_inputs; q++)
            if (T->inputs[q].model == tsrc) fill = (int)q;
        if (fill < 0)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: vocabulary sizes differ in %s (model '%s' has %lld rows, '%s' "
                                "has %lld); set tokenizer_source: base (or one of the models) to "
                                "keep that model's vocabulary",
                                c->path, out_name, mname(p, T->inputs[0].model),
                                (long long)T->inputs[0].view->shape[0],
                                mname(p, T->inputs[T->n_inputs - 1].model),
                                (long long)T->inputs[T->n_inputs - 1].view->shape[0]);
        // Output rows follow the tokenizer source; rows another model lacks are
        // taken from the tokenizer source (mergekit's "base / only model that
        // has the token" fallbacks for appended tokens).
        T->fill = fill;
        T->shape[0] = T->inputs[fill].view->shape[0];
    }
    // linear normalizes by the weight sum: refuse a zero sum here, naming the
    // config, rather than midway through the merge (the kernel checks again).
    if (!strcmp(me->name, "linear") && T->g[MG_P_NORMALIZE] != 0) {
        double sum = 0;
        for (size_t q = 0; q < T->n_inputs; q++)
            sum += T->inputs[q].m[MG_P_WEIGHT];
        if (fabs(sum) < 1e-12)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: linear: the weights of tensor %s sum to 0, cannot normalize "
                                "(set normalize: false or change the weights)",
                                c->path, out_name);
    }
    T->numel = 1;
    for (int d = 0; d < T->ndim; d++)
        T->numel *= (uint64_t)T->shape[d];
    mg_dtype od = c->has_out_dtype ? c->out_dtype : c->has_dtype ? c->dtype : ref->dtype;
    if (!mg_dtype_is_float(od) || od == MG_DTYPE_F64) od = MG_DTYPE_F32;
    T->out_dtype = od;
    p->out_bytes += T->numel * mg_dtype_size(od);
    return MG_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the pre (pre=true) or post weights of slice s. */
static mg_status add_edge(builder *b, int s, bool pre, mg_error *err) {
    mg_plan *p = b->p;
    const mg_merge_slice *sl = &p->cfg->slices[s];
    int refm = sl->base >= 0 ? sl->base : sl->sources[0].model;
    const mg_model *rm = p->models[refm];
    char **names = mg_calloc(mg_model_tensor_count(rm) + 2, sizeof *names);
    size_t nn = 0;
    for (size_t i = 0; i < mg_model_tensor_count(rm); i++) {
        const char *nm = mg_model_tensor_at(rm, i)->name;
        size_t pl;
        long l;
        const char *sfx;
        if (split_layer(nm, &pl, &l, &sfx)) continue;
        if (is_pre(nm) != pre) continue;
        names[nn++] = (char *)nm;
    }
    // lm_head: written when some input has an untied head.
    static const char LM[] = "lm_head.weight";
    if (!pre && !mg_model_find(rm, LM)) {
        for (size_t j = 0; j < sl->n_sources; j++)
            if (mg_model_find(p->models[sl->sources[j].model], LM)) {
                names[nn++] = (char *)LM;
                break;
            }
    }
    qsort(names, nn, sizeof *names, cmp_str);
    char **in = mg_calloc(sl->n_sources + 1, sizeof *in);
    mg_status st = MG_OK;
    for (size_t i = 0; i < nn && !st; i++) {
        for (size_t j = 0; j < sl->n_sources; j++)
            in[j] = names[i];
        st = add_tensor(b, s, names[i], in, 0.0, false, err);
    }
    free(in);
    free(names);
    return st;
}

mg_status mg_plan_build(const mg_merge_config *cfg, uint64_t seed, mg_plan **out, mg_error *err) {
    *out = NULL;
    mg_plan *p = mg_calloc(1, sizeof *p);
    p->resident = mg_resident_new(MG_PLAN_RESIDENT_BYTES);
    p->cfg = cfg;
    p->seed = seed;
    p->models = mg_calloc(cfg->n_models, sizeof *p->models);
    builder b = {p, 0};
    mg_status st = MG_OK;
    for (size_t i = 0; i < cfg->n_models; i++) {
        st = mg_model_open(cfg->models[i].path, &p->models[i], err);
        if (st) {
            mg_error_prefix(err, "%s: model '%s': ", cfg->path, cfg->models[i].ref);
            goto fail;
        }
    }
    // Architectures must agree (mergekit requires --allow-crimes otherwise).
    for (size_t i = 1; i < cfg->n_models; i++) {
        const mg_model_config *a = mg_model_config_of(p->models[0]);
        const mg_model_config *m = mg_model_config_of(p->models[i]);
        if (a->present && m->present && strcmp(a->architecture, m->architecture)) {
            st = mg_error_set(
                err, MG_ERR_INVALID, "%s: architectures differ: '%s' is %s, '%s' is %s", cfg->path,
                cfg->models[0].ref, a->architecture, cfg->models[i].ref, m->architecture);
            goto fail;
        }
    }
    p->donor = cfg->base >= 0 ? cfg->base : cfg->slices[0].sources[0].model;
    p->tokenizer_donor = cfg->tokenizer_source >= 0 ? cfg->tokenizer_source : p->donor;
    // Layer ranges.
    for (size_t s = 0; s < cfg->n_slices; s++) {
        const mg_merge_slice *sl = &cfg->slices[s];
        int64_t n0 = -1;
        for (size_t j = 0; j < sl->n_sources; j++) {
            const mg_merge_source *src = &sl->sources[j];
            int64_t nl = model_layers(p->models[src->model]);
            if (src->has_range && src->layer_end > nl) {
                st = mg_error_set(
                    err, MG_ERR_INVALID,
                    "%s:%d: layer_range [%lld, %lld] is out of bounds: model '%s' has "
                    "%lld layers",
                    cfg->path, src->line, (long long)src->layer_begin, (long long)src->layer_end,
                    cfg->models[src->model].ref, (long long)nl);
                goto fail;
            }
            if (!src->has_range) {
                if (n0 >= 0 && nl != n0) {
                    st = mg_error_set(err, MG_ERR_INVALID,
                                      "%s: models have different layer counts ('%s' has %lld, "
                                      "'%s' has %lld); use slices with layer_range",
                                      cfg->path, cfg->models[sl->sources[0].model].ref,
                                      (long long)n0, cfg->models[src->model].ref, (long long)nl);
                    goto fail;
                }
                n0 = nl;
            }
        }
    }
    // Pre weights, layers slice by slice, post weights.
    st = add_edge(&b, 0, true, err);
    if (st) goto fail;
    int64_t out_layer = 0;
    for (size_t s = 0; s < cfg->n_slices; s++) {
        const mg_merge_slice *sl = &cfg->slices[s];
        const mg_merge_source *s0 = &sl->sources[0];
        int64_t len =
            s0->has_range ? s0->layer_end - s0->layer_begin : model_layers(p->models[s0->model]);
        int refm = sl->base >= 0 ? sl->base : s0->model;
        // Reference source: the one reading the reference model (else the first).
        const mg_merge_source *rs = s0;
        for (size_t j = 0; j < sl->n_sources; j++)
            if (sl->sources[j].model == refm) rs = &sl->sources[j];
        const mg_model *rm = p->models[refm];
        char **in = mg_calloc(sl->n_sources + 1, sizeof *in);
        for (int64_t k = 0; k < len && !st; k++) {
            double t = len > 1 ? (double)k / (double)(len - 1) : 1.0;
            long rl = (long)((rs->has_range ? rs->layer_begin : 0) + k);
            // Tensors of the reference model's layer rl, in name order.
            for (size_t i = 0; i < mg_model_tensor_count(rm) && !st; i++) {
                const char *nm = mg_model_tensor_at(rm, i)->name;
                size_t pl;
                long l;
                const char *sfx;
                if (!split_layer(nm, &pl, &l, &sfx) || l != rl) continue;
                for (size_t j = 0; j < sl->n_sources; j++) {
                    const mg_merge_source *src = &sl->sources[j];
                    in[j] = layer_name(nm, pl, (long)((src->has_range ? src->layer_begin : 0) + k),
                                       sfx);
                }
                char *on = layer_name(nm, pl, (long)(out_layer + k), sfx);
                st = add_tensor(&b, (int)s, on, in, t, true, err);
                free(on);
                for (size_t j = 0; j < sl->n_sources; j++)
                    free(in[j]), in[j] = NULL;
            }
        }
        free(in);
        if (st) goto fail;
        out_layer += len;
    }
    p->out_layers = out_layer;
    st = add_edge(&b, (int)cfg->n_slices - 1, false, err);
    if (st) goto fail;
    const mg_model_config *dc = mg_model_config_of(p->models[p->donor]);
    for (size_t i = 0; i < p->n_tensors; i++)
        if (!strcmp(p->tensors[i].name, "lm_head.weight") && dc->tie_word_embeddings)
            p->untie = true;
    *out = p;
    return MG_OK;
fail:
    mg_plan_free(p);
    return st;
}
