/* plan.c - see plan.h. */
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
#include "base/half.h"
#include "base/log.h"
#include "base/rng.h"
#include "merge/input_cache.h"
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

/* ---- running ---- */

typedef struct runctx {
    const mg_plan *p;
    const mg_plan_tensor *T;
    float *out;
    bool round_bf16, round_f16;
    const float **whole;         // per input: cached f32 tensor, or NULL
    char **ids;                  // per input: its cache key (with whole)
    mg_resident *res;            // the plan's arena while this tensor holds it, else NULL
    const uint16_t **raw;        // per input: cached bf16 / f16 bytes (widened on read), or NULL
    _Atomic unsigned *nonfinite; // per input: NF_NAN | NF_INF seen in what was read
} runctx;

enum { NF_NAN = 1, NF_INF = 2 };

/* NF_* flags of x[0..n). The common case (all finite) is one vectorized
 * pass (mg_f32_any_nonfinite, AVX2 / AVX-512 when the CPU has them), run on
 * each chunk right after it is read and widened, while it is still in cache. */
static unsigned nonfinite_flags(const float *x, uint64_t n) {
    if (!mg_f32_any_nonfinite(x, (size_t)n)) return 0;
    unsigned f = 0;
    for (uint64_t i = 0; i < n && f != (NF_NAN | NF_INF); i++)
        f |= isnan(x[i]) ? NF_NAN : isinf(x[i]) ? NF_INF : 0;
    return f;
}

/* Per-thread staging buffer for raw input bytes. */
static _Thread_local uint8_t *stage_buf;
static _Thread_local size_t stage_cap;

static mg_status read_view(const mg_tensor_view *v, int fd, uint64_t begin, uint64_t count,
                           float *dst, mg_resident *res, size_t input) {
    size_t es = mg_dtype_size(v->dtype), nb = (size_t)count * es;
    mg_status rst = MG_OK;
    const uint8_t *src =
        res ? mg_resident_fetch(res, input, fd, v->file_offset, begin * es, nb, &rst) : NULL;
    if (rst) return rst;
    bool have = src != NULL; // kept from an earlier pass (or just read into the arena)
    if (have) {
        if (v->dtype == MG_DTYPE_F32) memcpy(dst, src, nb);
    } else if (v->dtype == MG_DTYPE_F32) {
        src = (uint8_t *)dst; // read straight into the destination
    } else {
        if (stage_cap < nb) {
            free(stage_buf);
            stage_cap = nb > ((size_t)1 << 20) ? nb : ((size_t)1 << 20);
            stage_buf = mg_malloc(stage_cap);
        }
        src = stage_buf;
    }
    uint64_t off = v->file_offset + begin * es;
    for (size_t got = have ? nb : 0; got < nb;) {
        ssize_t r = pread(fd, (uint8_t *)src + got, nb - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return MG_ERR_IO;
        if (r == 0) return MG_ERR_INVALID; // the file ends early: it shrank after validation
        got += (size_t)r;
    }
    switch (v->dtype) {
    case MG_DTYPE_F32:
        break;
    case MG_DTYPE_BF16:
        mg_bf16_to_f32_array((const uint16_t *)(const void *)src, dst, count);
        break;
    case MG_DTYPE_F16:
        mg_f16_to_f32_array((const uint16_t *)(const void *)src, dst, count);
        break;
    case MG_DTYPE_F64:
        for (uint64_t i = 0; i < count; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default:
        return MG_ERR_UNSUPPORTED;
    }
    return MG_OK;
}

static mg_status run_read(void *user, size_t model, uint64_t begin, uint64_t count, float *dst,
                          mg_error *err) {
    const runctx *r = user;
    const mg_plan_tensor *T = r->T;
    if (r->whole && r->whole[model]) {
        memcpy(dst, r->whole[model] + begin, count * sizeof(float));
        return MG_OK;
    }
    if (r->raw && r->raw[model]) { // no rounding left to do (see fill_whole)
        if (T->inputs[model].view->dtype == MG_DTYPE_BF16)
            mg_bf16_to_f32_array(r->raw[model] + begin, dst, count);
        else
            mg_f16_to_f32_array(r->raw[model] + begin, dst, count);
        return MG_OK;
    }
    const mg_tensor_view *v = T->inputs[model].view;
    mg_status st = MG_OK;
    if (v->numel == T->numel) {
        st = read_view(v, T->inputs[model].fd, begin, count, dst, r->res, model);
    } else {
        // Rectified embeddings: same columns, rows beyond this model's
        // vocabulary come from the tokenizer source.
        uint64_t cols = (uint64_t)T->shape[1], have = v->numel;
        uint64_t e = begin, end = begin + count;
        while (e < end && !st) {
            if (e < have) {
                uint64_t n = (end < have ? end : have) - e;
                st = read_view(v, T->inputs[model].fd, e, n, dst + (e - begin), NULL, 0);
                e += n;
            } else {
                st = read_view(T->inputs[T->fill].view, T->inputs[T->fill].fd, e, end - e,
                               dst + (e - begin), NULL, 0);
                e = end;
            }
        }
        (void)cols;
    }
    if (st == MG_ERR_INVALID) {
        struct stat fs;
        long long now = stat(v->file_path, &fs) == 0 ? (long long)fs.st_size : -1;
        return mg_error_set(err, st,
                            "%s: tensor '%s' (bytes %llu..%llu) is past the end of the file, now "
                            "%lld bytes: the file shrank while being read (inputs must not change "
                            "during a merge)",
                            v->file_path, v->name, (unsigned long long)v->file_offset,
                            (unsigned long long)(v->file_offset + v->nbytes), now);
    }
    if (st)
        return mg_error_set(err, st, "%s: tensor %s: cannot read (%s)", v->file_path, v->name,
                            st == MG_ERR_IO ? strerror(errno) : mg_dtype_name(v->dtype));
    // Checked before the dtype rounding below, which may itself overflow to
    // Inf (f32 values beyond f16's range): that is the config's choice, not
    // a defect of the input.
    unsigned nf = r->nonfinite ? nonfinite_flags(dst, count) : 0;
    if (nf) r->nonfinite[model] |= nf;
    // mergekit casts inputs to `dtype` on load; emulate the rounding (a no-op
    // when the checkpoint already has that dtype).
    if (v->dtype == MG_DTYPE_BF16 || v->dtype == MG_DTYPE_F16) {
        if ((r->round_bf16 && v->dtype == MG_DTYPE_BF16) ||
            (r->round_f16 && v->dtype == MG_DTYPE_F16))
            return MG_OK;
    }
    if (r->round_bf16)
        for (uint64_t i = 0; i < count; i++)
            dst[i] = mg_bf16_to_f32(mg_f32_to_bf16(dst[i]));
    else if (r->round_f16)
        for (uint64_t i = 0; i < count; i++)
            dst[i] = mg_f16_to_f32(mg_f32_to_f16(dst[i]));
    return MG_OK;
}

/* Input `model` as bf16 in memory (cached, or resident after a first pass),
 * when reading it would just widen those values. */
static const uint16_t *run_half(void *user, size_t model) {
    const runctx *r = user;
    const mg_tensor_view *v = r->T->inputs[model].view;
    if (v->dtype != MG_DTYPE_BF16 || r->round_f16 || v->numel != r->T->numel) return NULL;
    if (r->raw && r->raw[model]) return r->raw[model];
    if (r->res) return (const uint16_t *)(const void *)mg_resident_all(r->res, model);
    return NULL;
}

static void buf_write(void *user, uint64_t begin, uint64_t count, const float *src) {
    runctx *r = user;
    memcpy(r->out + begin, src, count * sizeof(float));
}

void mg_plan_set_cache(mg_plan *p, struct mg_input_cache *cache) {
    p->cache = cache;
}

static void free_whole(runctx *r, size_t n) {
    for (size_t q = 0; r->ids && q < n; q++)
        free(r->ids[q]);
    free(r->ids);
    free(r->whole);
    free(r->raw);
}

/* NF_* flags of n bf16 / f16 values (all exponent bits set: Inf, or NaN
 * when the mantissa is not 0), as nonfinite_flags gives for their widening. */
static unsigned half_nonfinite(const void *data, uint64_t n, mg_dtype dt) {
    const uint16_t *h = data;
    uint16_t ex = dt == MG_DTYPE_BF16 ? 0x7f80 : 0x7c00, man = dt == MG_DTYPE_BF16 ? 0x7f : 0x3ff;
    unsigned any = 0;
    for (uint64_t i = 0; i < n; i++)
        any |= (h[i] & ex) == ex;
    if (!any) return 0;
    unsigned f = 0;
    for (uint64_t i = 0; i < n; i++)
        if ((h[i] & ex) == ex) f |= (h[i] & man) ? NF_NAN : NF_INF;
    return f;
}

/* Input q's stored bytes from the cache, read into it when they fit. */
static mg_status fill_raw(const mg_plan *p, runctx *r, size_t q, const char *key, mg_error *err) {
    const mg_tensor_view *v = r->T->inputs[q].view;
    size_t len = strlen(key) + 8;
    char *rk = mg_malloc(len);
    snprintf(rk, len, "raw|%s", key);
    const void *hit = mg_input_cache_get_blob(p->cache, rk, v->nbytes);
    mg_status st = MG_OK;
    if (!hit && mg_input_cache_fits(p->cache, v->nbytes)) {
        uint8_t *buf = mg_malloc(v->nbytes ? v->nbytes : 1);
        int fd = r->T->inputs[q].fd;
        for (uint64_t got = 0; got < v->nbytes && !st;) {
            ssize_t k = pread(fd, buf + got, v->nbytes - got, (off_t)(v->file_offset + got));
            if (k < 0 && errno == EINTR) continue;
            if (k < 0)
                st = mg_error_set(err, MG_ERR_IO, "%s: tensor %s: cannot read (%s)", v->file_path,
                                  v->name, strerror(errno));
            else if (k == 0)
                st = mg_error_set(err, MG_ERR_INVALID,
                                  "%s: tensor '%s' is past the end of the file: the file shrank "
                                  "while being read (inputs must not change during a merge)",
                                  v->file_path, v->name);
            else
                got += (uint64_t)k;
        }
        if (!st && r->nonfinite) r->nonfinite[q] |= half_nonfinite(buf, v->numel, v->dtype);
        if (!st) hit = mg_input_cache_put_blob(p->cache, rk, v->nbytes, buf);
        if (!hit) free(buf);
    }
    r->raw[q] = hit;
    free(rk);
    return st;
}

/* Looks up (or reads and inserts) every input of T in the plan's cache. */
static mg_status fill_whole(const mg_plan *p, runctx *r, mg_error *err) {
    const mg_plan_tensor *T = r->T;
    r->whole = mg_calloc(T->n_inputs + 1, sizeof *r->whole);
    r->ids = mg_calloc(T->n_inputs + 1, sizeof *r->ids);
    r->raw = mg_calloc(T->n_inputs + 1, sizeof *r->raw);
    for (size_t q = 0; q < T->n_inputs; q++) {
        const mg_tensor_view *v = T->inputs[q].view;
        const mg_tensor_view *fv = T->fill >= 0 ? T->inputs[T->fill].view : NULL;
        bool rect = v->numel != T->numel && fv;
#define KEY_ARGS                                                                                   \
    "%s|%llu|%d|%s|%d%d|%s|%llu", v->file_path, (unsigned long long)v->file_offset, (int)v->dtype, \
        v->name, r->round_bf16, r->round_f16, rect ? fv->file_path : "",                           \
        rect ? (unsigned long long)fv->file_offset : 0ull
        int len = snprintf(NULL, 0, KEY_ARGS);
        char *key = mg_malloc((size_t)len + 1);
        snprintf(key, (size_t)len + 1, KEY_ARGS);
#undef KEY_ARGS
        r->ids[q] = key; // names the data for derived blobs, cached or not
        // bf16 / f16 inputs that need no rounding are kept as stored: half the
        // memory of f32, widened as they are read.
        bool half = (v->dtype == MG_DTYPE_BF16 && !r->round_f16) ||
                    (v->dtype == MG_DTYPE_F16 && !r->round_bf16);
        if (half && !rect && v->numel == T->numel) {
            mg_status st = fill_raw(p, r, q, key, err);
            if (st) return st;
            continue;
        }
        const float *hit = mg_input_cache_get(p->cache, key, T->numel);
        if (!hit && mg_input_cache_fits(p->cache, T->numel * sizeof(float))) {
            float *buf = mg_malloc_array(T->numel, sizeof(float));
            mg_status st = run_read(r, q, 0, T->numel, buf, err);
            if (!st) hit = mg_input_cache_put(p->cache, key, T->numel, buf);
            if (!hit) free(buf);
            if (st) return st;
        }
        r->whole[q] = hit;
    }
    return MG_OK;
}

/* After a tensor's kernel: inputs that held NaN or Inf make the merge fail
 * (they would spread into the output, silently for DARE/TIES-style methods
 * that rescale or sort by magnitude) unless allow_nonfinite is set, in which
 * case each is named in a warning. The error names the file and the tensor
 * and takes precedence over any kernel error the values may have caused. */
static mg_status nonfinite_verdict(const mg_plan *p, const runctx *r, mg_status st, mg_error *err) {
    const mg_plan_tensor *T = r->T;
    size_t first = T->n_inputs, count = 0;
    for (size_t q = 0; q < T->n_inputs; q++)
        if (r->nonfinite[q]) {
            if (first == T->n_inputs) first = q;
            count++;
        }
    if (!count) return st;
    static const char *const KIND[] = {"", "NaN", "Inf", "NaN and Inf"};
    if (!p->allow_nonfinite) {
        const mg_tensor_view *v = T->inputs[first].view;
        char more[64] = "";
        if (count > 1) snprintf(more, sizeof more, " (and %zu more inputs)", count - 1);
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: tensor '%s' has %s values%s; merging would spread them into "
                            "the output (merge --allow-nonfinite accepts them)",
                            v->file_path, v->name, KIND[r->nonfinite[first] & 3], more);
    }
    for (size_t q = 0; q < T->n_inputs; q++)
        if (r->nonfinite[q])
            mg_log_warn("%s: tensor '%s' has %s values; merging anyway (--allow-nonfinite)",
                        T->inputs[q].view->file_path, T->inputs[q].view->name,
                        KIND[r->nonfinite[q] & 3]);
    return st;
}

mg_status mg_plan_run_tensor(const mg_plan *p, size_t i,
                             void (*write)(void *user, uint64_t begin, uint64_t count,
                                           const float *src),
                             void *user, mg_error *err) {
    const mg_plan_tensor *T = &p->tensors[i];
    runctx r = {p, T, NULL, false, false, NULL, NULL, NULL, NULL, NULL};
    r.nonfinite = mg_calloc(T->n_inputs + 1, sizeof *r.nonfinite);
    if (p->cfg->has_dtype) {
        r.round_bf16 = p->cfg->dtype == MG_DTYPE_BF16;
        r.round_f16 = p->cfg->dtype == MG_DTYPE_F16;
    }
    if (p->cache && T->numel) {
        mg_status st = fill_whole(p, &r, err);
        if (st)
            mg_error_prefix(err, "tensor %s: ", T->name);
        else
            st = nonfinite_verdict(p, &r, st, err); // the kernel then reads the cache
        if (st) {
            free_whole(&r, T->n_inputs);
            free((void *)r.nonfinite);
            return st;
        }
        memset((void *)r.nonfinite, 0, (T->n_inputs + 1) * sizeof *r.nonfinite);
    }
    double(*m)[MG_P_COUNT] = mg_calloc(T->n_inputs + 1, sizeof *m);
    for (size_t q = 0; q < T->n_inputs; q++)
        memcpy(m[q], T->inputs[q].m, sizeof m[q]);
    mg_kernel_ctx c = {.n = T->n_inputs,
                       .base = T->base,
                       .numel = T->numel,
                       .m = (const double(*)[MG_P_COUNT])m,
                       .key = mg_rng_key(p->seed, T->name),
                       .read = run_read,
                       .read_user = &r,
                       .write = write,
                       .write_user = user,
                       .half = run_half,
                       .half_user = &r};
    c.cols = T->ndim ? (uint64_t)T->shape[T->ndim - 1] : 1;
    if (!c.cols) c.cols = 1;
    c.rows = T->numel / c.cols;
    memcpy(c.g, T->g, sizeof c.g);
    if (r.ids) {
        c.ids = (const char *const *)r.ids, c.memo = p->cache;
        c.whole = r.whole;
    }
    // Inputs read more than once by the kernel come from memory after the first pass.
    if (T->numel) {
        uint64_t *nb = mg_calloc(T->n_inputs + 1, sizeof(uint64_t));
        for (size_t q = 0; q < T->n_inputs; q++) {
            const mg_tensor_view *v = T->inputs[q].view;
            bool ok =
                v->numel == T->numel && !(r.whole && r.whole[q]) && !(r.raw && r.raw[q]) &&
                (v->dtype == MG_DTYPE_BF16 || v->dtype == MG_DTYPE_F16 || v->dtype == MG_DTYPE_F32);
            nb[q] = ok ? v->nbytes : 0;
        }
        if (mg_resident_begin(p->resident, T->n_inputs, nb)) r.res = p->resident;
        free(nb);
    }
    mg_status st = MG_OK;
    if (T->numel) st = p->cfg->method->kernel(&c, err);
    if (r.res) mg_resident_end(r.res);
    free(m);
    free_whole(&r, T->n_inputs);
    if (st) mg_error_prefix(err, "tensor %s: ", T->name);
    st = nonfinite_verdict(p, &r, st, err);
    free((void *)r.nonfinite);
    return st;
}

mg_status mg_plan_merge_tensor_f32(const mg_plan *p, size_t i, float *out, mg_error *err) {
    runctx r = {.out = out};
    return mg_plan_run_tensor(p, i, buf_write, &r, err);
}

mg_status mg_plan_merge_all_f32(const mg_plan *p, float *const *outs, mg_error *err) {
    for (size_t i = 0; i < p->n_tensors; i++) {
        mg_status st = mg_plan_merge_tensor_f32(p, i, outs[i], err);
        if (st) return st;
    }
    return MG_OK;
}
