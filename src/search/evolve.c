/* evolve.c - the EvoMM loop: validate, ask, merge in memory, score, log,
 * checkpoint, resume; see evolve.h. */
#include "search/evolve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "merge/config.h"
#include "merge/exec.h"
#include "merge/plan.h"
#include "nn/load.h"
#include "search/candidate.h"
#include "search/cmaes.h"
#include "search/evolve_log.h"
#include "search/fitness.h"

enum { R_LOSS, R_CE_A, R_CE_T, R_MERGE_S, R_SCORE_S, R_FAIL, R_N };

typedef struct run {
    const mg_evolve_config *cfg;
    const mg_evolve_opts *o;
    int rank, size;
    size_t dim;
    mg_tokenizer *tok;
    mg_nn_model *model;
    mg_fitness *fit;
    mg_cmaes *es; // rank 0
    json_t *settings;
    char *state_path, *log_path, *best_path;
    int64_t log_lines;
    double best_f;
    bool have_best;
} run;

/* The folder whose tokenizer (and chat template) renders the records: the genome's
 * tokenizer_source, else the base model, else the first model. */
static const char *tokenizer_model(const mg_genome *g) {
    if (g->tokenizer_source && strcmp(g->tokenizer_source, "base") != 0) return g->tokenizer_source;
    return g->base_model ? g->base_model : g->models[0];
}

static json_t *settings_json(const mg_evolve_config *c, const char *x0_yaml, const char *data) {
    char *real = realpath(data, NULL);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    json_t *s = json_pack(
        "{s:s, s:s, s:f, s:f, s:I, s:s, s:f, s:i, s:i, s:b}", "config_x0", x0_yaml, "data",
        real ? real : data, "alpha", c->alpha, "alignment_weight", c->alignment_weight,
        "samples_per_type", (json_int_t)c->samples_per_type, "seed", seed, "sigma0", c->sigma0,
        "population", c->population, "max_length", c->max_length, "random_init", c->random_init);
    free(real);
    return s;
}

static mg_status setup_shared(run *r, mg_error *err) {
    const mg_evolve_config *cfg = r->cfg;
    const mg_genome *g = cfg->genome;
    r->dim = mg_genome_dim(g);
    double *x0 = mg_malloc_array(r->dim, sizeof(double));
    mg_genome_initial(g, cfg->random_init, cfg->seed, x0);
    char *yaml = mg_genome_to_yaml(g, x0);
    mg_merge_config *mc = NULL;
    mg_plan *plan = NULL;
    // The initial candidate's config checks that the models fit together (architecture,
    // layer counts, shapes, vocabulary) before anything heavy runs.
    mg_status st = mg_merge_config_parse(yaml, strlen(yaml), cfg->path, NULL, &mc, err);
    if (!st) st = mg_plan_build(mc, 0, &plan, err);
    if (st) mg_error_prefix(err, "the genome's models do not merge: ");
    const char *ref = g->base_model ? g->base_model : g->models[0];
    if (!st && (st = mg_nn_model_load(ref, &r->model, err))) mg_error_prefix(err, "%s: ", ref);
    if (!st) {
        // Shapes must also match the runtime's tensors (tied heads, biases).
        st = mg_candidate_merge_plan(plan, r->model, err);
    }
    if (!st && (st = mg_tokenizer_load(tokenizer_model(g), &r->tok, err)))
        mg_error_prefix(err, "tokenizer of %s: ", tokenizer_model(g));
    if (!st) {
        mg_fitness_options fo = mg_fitness_defaults();
        fo.weight[MG_FIT_ALIGNMENT] = cfg->alignment_weight;
        fo.weight[MG_FIT_TASK] = cfg->alpha;
        fo.samples_per_type = cfg->samples_per_type;
        fo.seed = cfg->seed;
        fo.max_len = cfg->max_length;
        fo.model_ctx = (int)r->model->arch.max_pos;
        st = mg_fitness_load(r->o->data, r->tok, &fo, &r->fit, err);
    }
    if (!st) r->settings = settings_json(cfg, yaml, r->o->data);
    mg_plan_free(plan);
    mg_merge_config_free(mc);
    free(yaml);
    free(x0);
    return st;
}

static mg_status write_state(run *r, mg_error *err) {
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string("mergeguard-evolve-1"));
    json_object_set(j, "settings", r->settings);
    json_object_set_new(j, "max_fevals", json_integer(r->cfg->max_fevals));
    json_object_set_new(j, "log_lines", json_integer(r->log_lines));
    json_object_set_new(j, "cmaes", mg_cmaes_to_json(r->es));
    char *text = mg_json_dump(j, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(j);
    size_t len = strlen(text);
    text = mg_realloc(text, len + 2);
    text[len++] = '\n';
    mg_status st = mg_write_file_atomic(r->state_path, text, len, true, err);
    free(text);
    return st;
}

/* Rank 0: the output folder, fresh or resumed. */
static mg_status setup_output(run *r, mg_error *err) {
    const mg_evolve_opts *o = r->o;
    const mg_evolve_config *cfg = r->cfg;
    r->state_path = mg_path_join(o->out_dir, "state.json");
    r->log_path = mg_path_join(o->out_dir, "evaluations.jsonl");
    r->best_path = mg_path_join(o->out_dir, "best_config.yml");
    mg_status st;
    if (o->resume) {
        // What a kill left inside the folder (a temporary, or an old output
        // moved aside) is cleaned first: a resumed run that had finished its
        // search does not write state.json again, so its own clean-up would
        // never see a temporary of it.
        mg_atomic_clean_dir(o->out_dir);
        json_t *j = NULL;
        if (!mg_path_exists(r->state_path))
            return mg_error_set(err, MG_ERR_NOT_FOUND,
                                "--resume: %s does not exist (no checkpoint to resume)",
                                r->state_path);
        if ((st = mg_json_load_file(r->state_path, &j, err))) return st;
        const json_t *s = json_object_get(j, "settings");
        if (!json_equal(s, r->settings)) {
            json_decref(j);
            return mg_error_set(err, MG_ERR_INVALID,
                                "--resume: %s was started with other settings (genome, data, "
                                "alpha, seed, ...); resume with the same ones or start afresh",
                                r->state_path);
        }
        int64_t lines = 0;
        if ((st = mg_json_get_int(j, "log_lines", r->state_path, &lines, err)) ||
            (st = mg_cmaes_from_json(json_object_get(j, "cmaes"), r->state_path, &r->es, err))) {
            json_decref(j);
            return st;
        }
        json_decref(j);
        if (mg_cmaes_dim(r->es) != (int)r->dim)
            return mg_error_set(err, MG_ERR_INVALID, "--resume: %s: dimension %d, genome has %zu",
                                r->state_path, mg_cmaes_dim(r->es), r->dim);
        r->log_lines = lines;
        // Drop log lines of a generation that was not committed.
        if ((st = mg_evolve_log_truncate(r->log_path, lines, err))) return st;
        const double *xb;
        r->have_best = mg_cmaes_best(r->es, &xb, &r->best_f);
        // A raised --max-fevals extends a finished run; the settings check above covers
        // everything that changes results.
        mg_cmaes *es2 = NULL;
        json_t *sj = mg_cmaes_to_json(r->es);
        json_object_set_new(sj, "max_fevals", json_integer(cfg->max_fevals));
        st = mg_cmaes_from_json(sj, r->state_path, &es2, err);
        json_decref(sj);
        if (st) return st;
        mg_cmaes_free(r->es);
        r->es = es2;
        return MG_OK;
    }
    if (mg_path_exists(o->out_dir)) {
        if (!o->force)
            return mg_error_set(err, MG_ERR_EXISTS,
                                "output folder %s exists (use --resume to continue its run, or "
                                "--force to start afresh)",
                                o->out_dir);
    }
    double *x0 = mg_malloc_array(r->dim, sizeof(double));
    mg_genome_initial(cfg->genome, cfg->random_init, cfg->seed, x0);
    mg_cmaes_options co = {.n = (int)r->dim,
                           .lambda = cfg->population,
                           .sigma0 = cfg->sigma0,
                           .seed = cfg->seed,
                           .max_fevals = cfg->max_fevals};
    st = mg_cmaes_new(&co, x0, &r->es, err);
    free(x0);
    if (st) return st;
    // The folder appears (or replaces an old run, with --force) only once it
    // holds the first checkpoint and an empty log, so a kill at any moment
    // leaves either nothing, the old run, or a run that --resume continues.
    mg_atomic_out *ao = NULL;
    char *parent = mg_strdup(o->out_dir), *slash = strrchr(parent, '/');
    while (slash && slash > parent && slash[1] == '\0') // "runs/x/" -> "runs/x"
        *slash = '\0', slash = strrchr(parent, '/');
    if (slash && slash > parent) {
        *slash = '\0';
        st = mg_mkdir_p(parent, err); // as before: missing parent folders are created
    }
    free(parent);
    if (st) return st;
    if ((st = mg_atomic_begin(o->out_dir, true, o->force, &ao, err))) return st;
    char *final_state = r->state_path;
    char *tmp_log = mg_path_join(mg_atomic_tmp_path(ao), "evaluations.jsonl");
    r->state_path = mg_path_join(mg_atomic_tmp_path(ao), "state.json");
    chmod(mg_atomic_tmp_path(ao), 0755); // mkdtemp's 0700 is not what mkdir gives
    st = mg_evolve_log_truncate(tmp_log, 0, err);
    if (!st) st = write_state(r, err);
    free(r->state_path);
    free(tmp_log);
    r->state_path = final_state;
    if (st) {
        mg_atomic_abort(ao);
        return st;
    }
    return mg_atomic_commit(ao, err);
}

static void evaluate(run *r, const double *x, double *res, mg_error *err) {
    char *yaml = mg_genome_to_yaml(r->cfg->genome, x);
    mg_candidate_stats cs = {0};
    mg_fitness_result fr = {0};
    mg_status st = mg_candidate_merge(yaml, strlen(yaml), "candidate", NULL, 0, r->model, &cs, err);
    if (!st) st = mg_fitness_eval(r->fit, r->model, &fr, err);
    free(yaml);
    res[R_LOSS] = fr.loss;
    res[R_CE_A] = fr.ce[MG_FIT_ALIGNMENT];
    res[R_CE_T] = fr.ce[MG_FIT_TASK];
    res[R_MERGE_S] = cs.plan_seconds + cs.merge_seconds;
    res[R_SCORE_S] = fr.seconds;
    res[R_FAIL] = st ? 1.0 : 0.0;
}

/* Rank 0: the winner's config, model folder and report. */
static mg_status finish(run *r, mg_evolve_summary *sum, mg_error *err) {
    const double *xb = NULL;
    double fb = 0;
    if (!mg_cmaes_best(r->es, &xb, &fb))
        return mg_error_set(err, MG_ERR_RUNTIME, "evolve: no candidate was evaluated");
    char *yaml = mg_genome_to_yaml(r->cfg->genome, xb);
    mg_status st = mg_write_file_atomic(r->best_path, yaml, strlen(yaml), true, err);
    if (!st && r->o->final_model) {
        mg_merge_config *mc = NULL;
        mg_plan *plan = NULL;
        char *mdir = mg_path_join(r->o->out_dir, "model");
        st = mg_merge_config_parse(yaml, strlen(yaml), r->best_path, NULL, &mc, err);
        if (!st) st = mg_plan_build(mc, 0, &plan, err);
        mg_merge_opts mo = {.force = true, .progress = r->o->progress};
        if (!st) st = mg_merge_execute(plan, mdir, &mo, NULL, err);
        mg_plan_free(plan);
        mg_merge_config_free(mc);
        free(mdir);
    }
    if (!st) st = mg_evolve_report(r->o->out_dir, r->cfg->genome, r->log_path, xb, err);
    free(yaml);
    sum->best_fitness = fb;
    return st;
}

mg_status mg_evolve_run(const mg_evolve_config *cfg, const mg_evolve_opts *o,
                        mg_evolve_summary *sum, mg_error *err) {
    run R = {.cfg = cfg, .o = o, .rank = mg_dist_rank(), .size = mg_dist_size()};
    run *r = &R;
    memset(sum, 0, sizeof *sum);
    sum->stop_reason = "error";
    sum->best_ce[0] = sum->best_ce[1] = NAN;
    mg_status st = setup_shared(r, err);
    if (!st && r->rank == 0) st = setup_output(r, err);
    // Every rank learns whether every other rank is ready.
    double bad = st ? 1.0 : 0.0;
    mg_dist_reduce_sum_f64(&bad, 1);
    mg_dist_bcast_f64(&bad, 1);
    if (bad > 0 && !st)
        st = mg_error_set(err, MG_ERR_RUNTIME, "evolve: another rank failed to start");

    size_t dim = r->dim;
    int lam = 0;
    double *X = NULL, *res = NULL;
    int64_t gens_here = 0;
    double best_ce[2] = {NAN, NAN};
    if (!st && r->rank == 0) {
        lam = mg_cmaes_lambda(r->es);
        mg_log_info("evolve: %s genome, %zu genes, population %d, max %lld evaluations; "
                    "%zu alignment + %zu task records%s",
                    mg_genome_method_name(cfg->genome->method), dim, lam,
                    (long long)cfg->max_fevals, mg_fitness_count(r->fit, MG_FIT_ALIGNMENT),
                    mg_fitness_count(r->fit, MG_FIT_TASK), o->resume ? " (resumed)" : "");
        if (o->resume)
            mg_log_info("evolve: resuming after generation %lld (%lld evaluations)",
                        (long long)mg_cmaes_generation(r->es), (long long)mg_cmaes_fevals(r->es));
    }
    while (!st) {
        // Control from rank 0: [stop, abort, lambda].
        double ctl[3] = {0, 0, 0};
        if (r->rank == 0) {
            const char *why = mg_cmaes_stop(r->es);
            if (o->stop_after_generations > 0 && gens_here >= o->stop_after_generations)
                why = "interrupted";
            if (why) {
                sum->stop_reason = why;
                ctl[0] = 1;
            }
            ctl[2] = lam;
        }
        mg_dist_bcast_f64(ctl, 3);
        if (ctl[0] != 0 || ctl[1] != 0) break;
        lam = (int)ctl[2];
        if (!X) {
            X = mg_malloc_array((size_t)lam * dim, sizeof(double));
            res = mg_malloc_array((size_t)lam * R_N, sizeof(double));
        }
        if (r->rank == 0) mg_cmaes_ask(r->es, X);
        mg_dist_bcast_f64(X, (size_t)lam * dim);
        memset(res, 0, (size_t)lam * R_N * sizeof(double));
        mg_error eval_err = {0};
        for (int k = 0; k < lam; k++) {
            if (k % r->size != r->rank) continue;
            evaluate(r, X + (size_t)k * dim, res + (size_t)k * R_N, &eval_err);
            if (res[(size_t)k * R_N + R_FAIL] != 0) break;
        }
        mg_dist_reduce_sum_f64(res, (size_t)lam * R_N);
        double failed = 0;
        for (int k = 0; r->rank == 0 && k < lam; k++)
            failed += res[(size_t)k * R_N + R_FAIL];
        mg_dist_bcast_f64(&failed, 1);
        if (failed != 0) {
            st = eval_err.status ? mg_error_set(err, eval_err.status, "%s", eval_err.msg)
                                 : mg_error_set(err, MG_ERR_RUNTIME,
                                                "evolve: a candidate failed on another rank");
            break;
        }
        gens_here++;
        for (int k = 0; k < lam; k++) {
            sum->merge_seconds += res[(size_t)k * R_N + R_MERGE_S];
            sum->score_seconds += res[(size_t)k * R_N + R_SCORE_S];
        }
        if (r->rank != 0) continue;
        // Rank 0: log, tell, checkpoint.
        double *f = mg_malloc_array((size_t)lam, sizeof(double));
        int64_t gen = mg_cmaes_generation(r->es), fe = mg_cmaes_fevals(r->es);
        mg_evolve_entry *ents = mg_calloc((size_t)lam, sizeof *ents);
        for (int k = 0; k < lam; k++) {
            const double *v = res + (size_t)k * R_N;
            f[k] = v[R_LOSS];
            ents[k] = (mg_evolve_entry){.eval = fe + k,
                                        .generation = gen,
                                        .index = k,
                                        .genotype = X + (size_t)k * dim,
                                        .dim = dim,
                                        .fitness = v[R_LOSS],
                                        .ce = {v[R_CE_A], v[R_CE_T]},
                                        .merge_seconds = v[R_MERGE_S],
                                        .score_seconds = v[R_SCORE_S]};
        }
        st = mg_evolve_log_append(r->log_path, ents, (size_t)lam, err);
        free(ents);
        if (!st) {
            r->log_lines += lam;
            mg_cmaes_tell(r->es, f);
            double fb;
            const double *xb;
            mg_cmaes_best(r->es, &xb, &fb);
            int kbest = -1;
            for (int k = 0; k < lam; k++)
                if (f[k] == fb && (kbest < 0)) kbest = k;
            if (kbest >= 0 && (!r->have_best || fb < r->best_f)) {
                // Improvement: keep best_config.yml current, as mergekit-evolve does.
                r->have_best = true;
                r->best_f = fb;
                best_ce[0] = res[(size_t)kbest * R_N + R_CE_A];
                best_ce[1] = res[(size_t)kbest * R_N + R_CE_T];
                char *yaml = mg_genome_to_yaml(cfg->genome, xb);
                st = mg_write_file_atomic(r->best_path, yaml, strlen(yaml), true, err);
                free(yaml);
            }
            if (!st) st = write_state(r, err);
            if (o->progress)
                mg_log_info("evolve: generation %lld, %lld/%lld evaluations: best %.6g "
                            "(generation best %.6g, sigma %.3g)",
                            (long long)mg_cmaes_generation(r->es),
                            (long long)mg_cmaes_fevals(r->es), (long long)cfg->max_fevals, fb,
                            f[kbest >= 0 ? kbest : 0], mg_cmaes_sigma(r->es));
        }
        free(f);
        if (st) {
            // Let the workers go: they wait for the next control broadcast.
            double c2[3] = {0, 1, 0};
            mg_dist_bcast_f64(c2, 3);
            break;
        }
    }
    if (!st && r->rank == 0) {
        sum->fevals = mg_cmaes_fevals(r->es);
        sum->generations = mg_cmaes_generation(r->es);
        if (strcmp(sum->stop_reason, "interrupted") != 0)
            st = finish(r, sum, err);
        else
            mg_cmaes_best(r->es, NULL, &sum->best_fitness);
        sum->best_ce[0] = best_ce[0];
        sum->best_ce[1] = best_ce[1];
        if (!st && isnan(best_ce[0]) && isnan(best_ce[1]))
            mg_evolve_log_best_ce(r->log_path, sum->best_fitness, sum->best_ce);
    }
    free(X);
    free(res);
    mg_cmaes_free(r->es);
    json_decref(r->settings);
    mg_fitness_free(r->fit);
    mg_tokenizer_free(r->tok);
    mg_nn_model_free(r->model);
    free(r->state_path);
    free(r->log_path);
    free(r->best_path);
    return st;
}
