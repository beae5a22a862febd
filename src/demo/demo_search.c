/* demo_search.c - the merges of the demo: the pool models themselves, the
 * data-agnostic grids, EvoMM and LM-Cocktail (paper sections 3, 5, 6).
 *
 * Configs follow the paper's setup with the aligned instruct model as
 * base_model (paper.md 2: "base is LLaMA / Mistral"), so the task vectors are
 * expert - instruct. TIES / DARE-TIES use normalize: false (the paper's
 * genome; with one expert and normalize: true the weight would cancel out and
 * the weight axis of the grid would be void) and int8_mask; SLERP interpolates
 * instruct (t = 0) to the expert (t = 1). Grid points are merged in memory
 * into one f32 buffer (search/candidate.h), scored on domain accuracy, and the
 * best one (first on ties) is evaluated for alignment: the paper's selection
 * rule uses accuracy only. EvoMM runs mergekit-evolve's genome with
 * layer_granularity 1 (per-layer weight and density genes), CMA-ES with
 * sigma0 1/6 and the default population, fitness CE_safety + alpha CE_expert
 * (alpha 0.3; D_expert only: alignment weight 0); its winner (OUT/model) is
 * evaluated like every other row. LM-Cocktail scores every pool model (base
 * included) with the chat template and merges w = softmax(-L / T), T = 1
 * (paper Eq. 3). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "demo/demo_impl.h"
#include "nn/load.h"
#include "search/candidate.h"
#include "search/cocktail.h"
#include "search/evolve.h"
#include "search/evolve_log.h"
#include "search/genome.h"

json_t *demo_row_new(const char *id, int pool, const char *merging, const char *weighting,
                     const char *data) {
    return json_pack("{s:s,s:i,s:s,s:s,s:s}", "id", id, "pool", pool, "merging", merging,
                     "weighting", weighting, "data", data);
}

char *demo_row_id(const char *method, int pool, const char *kind) {
    char buf[128];
    snprintf(buf, sizeof buf, "p%d-%s-%s", pool, method, kind);
    return mg_strdup(buf);
}

static const char *method_label(const char *m) {
    return !strcmp(m, "ties") ? "TIES" : !strcmp(m, "dare_ties") ? "DARE-TIES" : "SLERP";
}

static void add_row(demo_ctx *c, json_t *row, double t_start) {
    json_object_set_new(row, "seconds", json_real(mg_now_seconds() - t_start));
    demo_log(c,
             "%s: alignment %.1f%% (guard %.1f%%, refusal phrases %.1f%%), accuracy bio %.1f%% "
             "chem %.1f%%",
             json_string_value(json_object_get(row, "id")), demo_num(row, "align"),
             demo_num(row, "align_guard"), demo_num(row, "align_refusal"), demo_num(row, "acc_bio"),
             demo_num(row, "acc_chem"));
}

mg_status demo_pool_models(demo_ctx *c, mg_error *err) {
    const char *names[3] = {"instruct", "bio-expert", "chem-expert"};
    const char *paths[3] = {c->m_instruct, c->m_bio, c->m_chem};
    mg_status st = MG_OK;
    for (int i = 0; i < 3 && !st; i++) {
        if (demo_stage_get(c, names[i])) continue;
        double t = mg_now_seconds();
        mg_nn_model *m = NULL;
        json_t *row = demo_row_new(names[i], 0, "-", names[i], "-");
        st = mg_nn_model_load(paths[i], &m, err);
        if (!st) st = demo_eval_row(c, m, names[i], 2, row, err);
        mg_nn_model_free(m);
        if (!st) {
            add_row(c, row, t);
            st = demo_stage_put(c, names[i], row, err);
        } else {
            json_decref(row);
        }
    }
    return st;
}

/* The merge config of a grid point (owned YAML). */
static char *grid_config(demo_ctx *c, const char *method, int pool, double w, double d) {
    char buf[8192];
    if (!strcmp(method, "slerp")) {
        snprintf(buf, sizeof buf,
                 "merge_method: slerp\nbase_model: %s\nmodels:\n  - model: %s\n"
                 "parameters: {t: %.17g}\ndtype: bfloat16\n",
                 c->m_instruct, c->m_bio, w);
        return mg_strdup(buf);
    }
    int n = snprintf(buf, sizeof buf, "merge_method: %s\nbase_model: %s\nmodels:\n", method,
                     c->m_instruct);
    const char *experts[2] = {c->m_bio, c->m_chem};
    for (int e = 0; e < pool - 1; e++)
        n += snprintf(buf + n, sizeof buf - (size_t)n,
                      "  - model: %s\n    parameters: {weight: %.17g, density: %.17g}\n",
                      experts[e], w, d);
    snprintf(buf + n, sizeof buf - (size_t)n,
             "parameters: {normalize: false, int8_mask: true}\ndtype: bfloat16\n");
    return mg_strdup(buf);
}

mg_status demo_grid(demo_ctx *c, const char *method, int pool, mg_error *err) {
    char *id = demo_row_id(method, pool, "grid");
    if (demo_stage_get(c, id)) {
        free(id);
        return MG_OK;
    }
    double t0 = mg_now_seconds();
    bool slerp = !strcmp(method, "slerp");
    const double *ws = slerp ? c->b.sl_t : pool == 3 ? c->b.dt_w3 : c->b.dt_w;
    size_t nw = slerp ? c->b.n_sl_t : pool == 3 ? c->b.n_dt_w3 : c->b.n_dt_w;
    size_t nd = slerp ? 1 : c->b.n_dt_d;
    json_t *points = json_array();
    double best_acc = -1, bw = 0, bd = 0;
    mg_status st = MG_OK;
    size_t total = nw * nd, k = 0;
    for (size_t i = 0; i < nd && !st; i++)
        for (size_t j = 0; j < nw && !st; j++) {
            double d = slerp ? 0 : c->b.dt_d[i], w = ws[j];
            char *cfg = grid_config(c, method, pool, w, d);
            double ab = 0, ac = 0;
            st = mg_candidate_merge(cfg, strlen(cfg), id, NULL, c->o->seed, c->buf, NULL, err);
            if (!st) st = demo_eval_mc(c, c->buf, &ab, &ac, err);
            free(cfg);
            if (st) break;
            double acc = pool == 3 ? (ab + ac) / 2 : ab;
            json_t *p = slerp ? json_pack("{s:f}", "t", w)
                              : json_pack("{s:f,s:f}", "weight", w, "density", d);
            json_object_set_new(p, "acc_bio", json_real(ab));
            json_object_set_new(p, "acc_chem", json_real(ac));
            json_object_set_new(p, "acc", json_real(acc));
            json_array_append_new(points, p);
            if (acc > best_acc) best_acc = acc, bw = w, bd = d;
            k++;
            if (slerp)
                demo_log(c, "%s point %zu/%zu (t %.2g): accuracy %.1f%%", id, k, total, w, acc);
            else
                demo_log(c, "%s point %zu/%zu (weight %.2g, density %.2g): accuracy %.1f%%", id, k,
                         total, w, d, acc);
        }
    json_t *row = demo_row_new(id, pool, method_label(method), "Grid search", "-");
    char *cfg = st ? NULL : grid_config(c, method, pool, bw, bd);
    if (!st) st = mg_candidate_merge(cfg, strlen(cfg), id, NULL, c->o->seed, c->buf, NULL, err);
    if (!st) st = demo_eval_row(c, c->buf, id, pool, row, err);
    if (!st) {
        json_object_set_new(row, "selected",
                            slerp ? json_pack("{s:f}", "t", bw)
                                  : json_pack("{s:f,s:f}", "weight", bw, "density", bd));
        json_object_set_new(row, "config", json_string(cfg));
        json_object_set_new(row, "grid", json_incref(points));
        add_row(c, row, t0);
        st = demo_stage_put(c, id, row, err);
    } else {
        json_decref(row);
    }
    json_decref(points);
    free(cfg);
    free(id);
    return st;
}

/* The winner's decoded genes per layer group and model (see demo_plot_weights). */
static json_t *winner_weights(const mg_genome *g, const double *x) {
    json_t *models = json_array(), *groups = json_array(), *pn = json_array();
    int np = mg_genome_n_params(g), set = (int)g->n_filters;
    for (size_t m = 0; m < g->n_models; m++) {
        const char *s = strrchr(g->models[m], '/');
        json_array_append_new(models, json_string(s ? s + 1 : g->models[m]));
    }
    for (int p = 0; p < np; p++)
        json_array_append_new(pn, json_string(mg_genome_param_name(g, p)));
    for (int k = 0; k < g->n_groups; k++) {
        json_t *gm = json_array();
        for (size_t m = 0; m < g->n_models; m++) {
            json_t *v = json_array();
            for (int p = 0; p < np; p++)
                json_array_append_new(
                    v, json_real(mg_genome_decode(g, x, mg_genome_index(g, k, (int)m, set, p))));
            json_array_append_new(gm, v);
        }
        json_array_append_new(groups, gm);
    }
    return json_pack("{s:s,s:o,s:o,s:o,s:i}", "method", mg_genome_method_name(g->method), "models",
                     models, "param_names", pn, "groups", groups, "layer_granularity",
                     g->layer_granularity);
}

static char *evo_yaml(demo_ctx *c, const char *method, int pool, bool safety, double alpha,
                      int fevals) {
    char buf[8192];
    int n = snprintf(buf, sizeof buf, "genome:\n  models:\n    - %s\n    - %s\n", c->m_instruct,
                     c->m_bio);
    if (pool == 3) n += snprintf(buf + n, sizeof buf - (size_t)n, "    - %s\n", c->m_chem);
    n += snprintf(buf + n, sizeof buf - (size_t)n,
                  "  merge_method: %s\n  base_model: %s\n  layer_granularity: 1\n", method,
                  c->m_instruct);
    if (strcmp(method, "slerp") != 0)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "  normalize: false\n");
    snprintf(buf + n, sizeof buf - (size_t)n,
             "alpha: %.17g\nalignment_weight: %d\nsamples_per_type: %zu\nmax_fevals: %d\n"
             "seed: %llu\n",
             alpha, safety ? 1 : 0, c->b.k, fevals, (unsigned long long)c->o->seed);
    return mg_strdup(buf);
}

mg_status demo_evolve(demo_ctx *c, const char *method, int pool, bool safety, double alpha,
                      mg_error *err) {
    char kind[64];
    if (fabs(alpha - 0.3) > 1e-9)
        snprintf(kind, sizeof kind, "evo-%s-alpha%g", safety ? "ours" : "dexpert", alpha);
    else
        snprintf(kind, sizeof kind, "evo-%s", safety ? "ours" : "dexpert");
    char *id = demo_row_id(method, pool, kind);
    if (demo_stage_get(c, id)) {
        free(id);
        return MG_OK;
    }
    double t0 = mg_now_seconds();
    char rel[256];
    snprintf(rel, sizeof rel, "evolve/%s", id);
    char *dir = demo_work_path(c, rel);
    snprintf(rel, sizeof rel, "evolve/%s.yml", id);
    char *cfg_path = demo_work_path(c, rel);
    char *evo_dir = demo_work_path(c, "evolve");
    int fevals = pool == 3 ? c->b.evo_fevals3 : c->b.evo_fevals;
    char *yaml = evo_yaml(c, method, pool, safety, alpha, fevals);
    const char *data =
        pool == 3 ? (safety ? c->d_mix3 : c->d_expert3) : (safety ? c->d_mix2 : c->d_expert2);
    mg_evolve_config *cfg = NULL;
    mg_evolve_summary sum = {0};
    mg_nn_model *m = NULL;
    mg_evolve_entry *log = NULL;
    size_t n_log = 0;
    json_t *row = demo_row_new(id, pool, method_label(method), safety ? "EvoMM (ours)" : "EvoMM",
                               safety ? "D_expert + D_safety" : "D_expert");
    demo_log(c, "%s: CMA-ES, %d evaluations, fitness %s on %s", id, fevals,
             safety ? "CE_safety + alpha CE_expert" : "CE_expert", data);
    mg_status st = mg_mkdir_p(evo_dir, err);
    if (!st) st = mg_write_file_atomic(cfg_path, yaml, strlen(yaml), true, err);
    if (!st) st = mg_evolve_config_load(cfg_path, &cfg, err);
    if (!st) {
        mg_evolve_opts eo = {.data = data,
                             .out_dir = dir,
                             .force = true,
                             .final_model = true,
                             .progress = mg_log_get_level() >= MG_LOG_INFO};
        st = mg_evolve_run(cfg, &eo, &sum, err);
    }
    char *model_dir = mg_path_join(dir, "model"),
         *log_path = mg_path_join(dir, "evaluations.jsonl");
    if (!st) st = mg_nn_model_load(model_dir, &m, err);
    if (!st) st = demo_eval_row(c, m, id, pool, row, err);
    if (!st) st = mg_evolve_log_read(log_path, &log, &n_log, err);
    if (!st) {
        size_t best = 0;
        for (size_t i = 1; i < n_log; i++)
            if (log[i].fitness < log[best].fitness) best = i;
        if (n_log)
            json_object_set_new(row, "weights", winner_weights(cfg->genome, log[best].genotype));
        json_object_set_new(row, "alpha", json_real(alpha));
        json_object_set_new(row, "fevals", json_integer(sum.fevals));
        json_object_set_new(row, "generations", json_integer(sum.generations));
        json_object_set_new(row, "best_fitness", json_real(sum.best_fitness));
        json_object_set_new(row, "ce_alignment", json_real(sum.best_ce[0]));
        json_object_set_new(row, "ce_task", json_real(sum.best_ce[1]));
        json_object_set_new(row, "config", json_string(yaml));
        add_row(c, row, t0);
        st = demo_stage_put(c, id, row, err);
        row = NULL;
    }
    json_decref(row);
    mg_evolve_log_free(log, n_log);
    mg_nn_model_free(m);
    mg_evolve_config_free(cfg);
    free(model_dir);
    free(log_path);
    free(yaml);
    free(evo_dir);
    free(cfg_path);
    free(dir);
    free(id);
    return st;
}

mg_status demo_cocktail(demo_ctx *c, int pool, bool safety, mg_error *err) {
    char *id = demo_row_id("cocktail", pool, safety ? "ours" : "dexpert");
    if (demo_stage_get(c, id)) {
        free(id);
        return MG_OK;
    }
    double t0 = mg_now_seconds();
    char rel[256];
    snprintf(rel, sizeof rel, "cocktail/%s", id);
    char *dir = demo_work_path(c, rel), *parent = demo_work_path(c, "cocktail");
    const char *models[3] = {c->m_instruct, c->m_bio, c->m_chem};
    const char *data =
        pool == 3 ? (safety ? c->d_mix3 : c->d_expert3) : (safety ? c->d_mix2 : c->d_expert2);
    mg_cocktail_opts co = {.models = models,
                           .n_models = (size_t)pool,
                           .data = data,
                           .temperature = 1.0,
                           .samples_per_type = (int64_t)c->b.cocktail_samples,
                           .seed = c->o->seed,
                           .out_dir = dir,
                           .force = true,
                           .progress = mg_log_get_level() >= MG_LOG_INFO};
    mg_cocktail_result res = {0};
    mg_nn_model *m = NULL;
    json_t *row = demo_row_new(id, pool, "-", safety ? "LM-Cocktail (ours)" : "LM-Cocktail",
                               safety ? "D_expert + D_safety" : "D_expert");
    demo_log(c, "%s: per-model losses on %s, softmax(-L/T), T = 1", id, data);
    mg_status st = mg_mkdir_p(parent, err);
    if (!st) st = mg_cocktail_run(&co, &res, err);
    char *model_dir = mg_path_join(dir, "model");
    if (!st) st = mg_nn_model_load(model_dir, &m, err);
    if (!st) st = demo_eval_row(c, m, id, pool, row, err);
    if (!st) {
        json_t *w = json_array(), *l = json_array();
        for (size_t i = 0; i < res.n; i++) {
            json_array_append_new(w, json_real(res.weight[i]));
            json_array_append_new(l, json_real(res.loss[i]));
        }
        json_object_set_new(row, "lambda", w);
        json_object_set_new(row, "loss", l);
        add_row(c, row, t0);
        st = demo_stage_put(c, id, row, err);
        row = NULL;
    }
    json_decref(row);
    mg_cocktail_result_free(&res);
    mg_nn_model_free(m);
    free(model_dir);
    free(dir);
    free(parent);
    free(id);
    return st;
}
