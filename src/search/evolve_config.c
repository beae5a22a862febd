/* evolve_config.c - the evolve YAML file (mergekit-evolve's format plus search keys). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "search/evolve.h"

static void warn(mg_evolve_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(mg_evolve_config *c, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    c->warnings = mg_realloc(c->warnings, (c->n_warnings + 1) * sizeof(char *));
    c->warnings[c->n_warnings++] = mg_strdup(buf);
}

void mg_evolve_config_free(mg_evolve_config *c) {
    if (!c) return;
    free(c->path);
    mg_yaml_free(c->root);
    mg_genome_free(c->genome);
    for (size_t i = 0; i < c->n_warnings; i++)
        free(c->warnings[i]);
    free(c->warnings);
    free(c);
}

static mg_status get_num(const mg_evolve_config *c, const char *key, double lo, double hi,
                         double *out, mg_error *err) {
    const mg_yaml *v = mg_yaml_get(c->root, key);
    if (!v || v->kind == MG_YAML_NULL) return MG_OK;
    if (!(v->kind == MG_YAML_INT || v->kind == MG_YAML_FLOAT) || !(v->num >= lo && v->num <= hi))
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: %s must be a number in [%g, %g]", c->path,
                            v->line, key, lo, hi);
    *out = v->num;
    return MG_OK;
}

static mg_status get_int(const mg_evolve_config *c, const char *key, long long lo, long long hi,
                         long long *out, mg_error *err) {
    const mg_yaml *v = mg_yaml_get(c->root, key);
    if (!v || v->kind == MG_YAML_NULL) return MG_OK;
    if (v->kind != MG_YAML_INT || v->ival < lo || v->ival > hi)
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d: %s must be an integer in [%lld, %lld]",
                            c->path, v->line, key, lo, hi);
    *out = v->ival;
    return MG_OK;
}

static const char *const KNOWN[] = {"genome",
                                    "tasks",
                                    "limit",
                                    "num_fewshot",
                                    "shuffle",
                                    "random_init",
                                    "apply_chat_template",
                                    "fewshot_as_multiturn",
                                    "alpha",
                                    "alignment_weight",
                                    "samples_per_type",
                                    "max_fevals",
                                    "seed",
                                    "sigma0",
                                    "population",
                                    "max_length"};

mg_status mg_evolve_config_load(const char *path, mg_evolve_config **out, mg_error *err) {
    *out = NULL;
    mg_evolve_config *c = mg_calloc(1, sizeof *c);
    c->path = mg_strdup(path);
    c->alpha = 0.3;
    c->alignment_weight = 1.0;
    c->samples_per_type = 1000;
    c->max_fevals = 100;
    c->sigma0 = 1.0 / 6.0;
    c->max_length = 2048;
    char *dir = NULL;
    mg_status st = mg_yaml_load_file(path, &c->root, err);
    if (st) goto fail;
    if (!c->root || c->root->kind != MG_YAML_MAP) {
        st = mg_error_set(err, MG_ERR_INVALID,
                          "%s: an evolve config must be a mapping with a 'genome'", path);
        goto fail;
    }
    for (size_t i = 0; i < c->root->n; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof KNOWN / sizeof *KNOWN; k++)
            if (!strcmp(c->root->keys[i], KNOWN[k])) known = true;
        if (!known)
            warn(c, "%s:%d: unknown key '%s' ignored", path, c->root->key_lines[i],
                 c->root->keys[i]);
    }
    const mg_yaml *tasks = mg_yaml_get(c->root, "tasks");
    if (tasks && tasks->kind != MG_YAML_NULL)
        warn(c, "%s:%d: 'tasks' (lm-eval) is ignored: the fitness is the response loss on --data",
             path, tasks->line);
    const char *slash = strrchr(path, '/');
    dir = slash ? mg_strndup(path, (size_t)(slash - path) + (slash == path)) : mg_strdup(".");
    if ((st = mg_genome_parse(mg_yaml_get(c->root, "genome"), path, dir, &c->genome, err)))
        goto fail;
    for (size_t i = 0; i < c->genome->n_warnings; i++)
        warn(c, "%s", c->genome->warnings[i]);
    const mg_yaml *ri = mg_yaml_get(c->root, "random_init");
    if (ri && ri->kind != MG_YAML_NULL) {
        if (ri->kind != MG_YAML_BOOL) {
            st = mg_error_set(err, MG_ERR_INVALID, "%s:%d: random_init must be true or false", path,
                              ri->line);
            goto fail;
        }
        c->random_init = ri->b;
    }
    long long spt = c->samples_per_type, mf = c->max_fevals, seed = 0, pop = 0, ml = c->max_length;
    if ((st = get_num(c, "alpha", 0, 1e6, &c->alpha, err)) ||
        (st = get_num(c, "alignment_weight", 0, 1e6, &c->alignment_weight, err)) ||
        (st = get_num(c, "sigma0", 1e-12, 1e6, &c->sigma0, err)) ||
        (st = get_int(c, "samples_per_type", 0, 1LL << 40, &spt, err)) ||
        (st = get_int(c, "max_fevals", 1, 1LL << 40, &mf, err)) ||
        (st = get_int(c, "seed", 0, 0x7fffffffffffffffLL, &seed, err)) ||
        (st = get_int(c, "population", 0, 100000, &pop, err)) ||
        (st = get_int(c, "max_length", 2, 1 << 24, &ml, err)))
        goto fail;
    if (pop == 1) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s: population must be 0 (default) or >= 2", path);
        goto fail;
    }
    c->samples_per_type = spt;
    c->max_fevals = mf;
    c->seed = (uint64_t)seed;
    c->population = (int)pop;
    c->max_length = (int)ml;
    free(dir);
    *out = c;
    return MG_OK;
fail:
    free(dir);
    mg_evolve_config_free(c);
    return st;
}
