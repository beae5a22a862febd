/* demo_data.c - the fitness data of the data-aware merges (paper section 4).
 *
 * D_safety: the lab's generator writes harmful questions in the paper's JSON
 * format (temperature 0.8, one of the 14 categories per call), every pool
 * model (instruct, bio-expert, chem-expert) answers greedily, the primary
 * judge (the lab guard, or the refusal phrases when the guard fails its
 * check, demo_eval_pick_judge) keeps the refusals and one is picked per question
 * (data/synth_safety.h). One set serves both pools: the refusals come from the aligned model either
 * way. D_expert: each expert self-questions with three examples from its
 * domain's validation MC set and answers itself (data/synth_domain.h); the
 * two-model pool uses K bio records, the three-model pool K/2 bio + K/2 chem
 * (the paper's K / (N - 1) per expert). The prompts are the world's own
 * (lab/world.h), the ones the generator and the experts were trained on, and
 * the expert writes its JSON itself (no forcing prefix: the lab experts
 * answer `[{"Question": "..."}]` as trained). Unions are mixed by data/mix.h
 * (shuffled, seed 42, deduplicated by prompt, as the paper's code).
 * If a pipeline cannot reach K records (MG_ERR_RUNTIME: its call cap), the
 * demo falls back to the world's fitness records (world/eval/fitness_*.train:
 * refusals as D_safety, domain chat as D_expert) and says so in the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "data/jsonl.h"
#include "data/mix.h"
#include "data/synth_domain.h"
#include "data/synth_safety.h"
#include "demo/demo_impl.h"
#include "nn/load.h"

typedef struct judge_ctx {
    const mg_guard *guard;     // the primary judge, or NULL:
    const mg_refusal *refusal; // the refusal phrases
} judge_ctx;

static mg_status judge_fn(void *ctx, const char *const *prompts, const char *const *responses,
                          size_t n, bool *refusal, mg_error *err) {
    judge_ctx *j = ctx;
    if (!j->guard) {
        for (size_t i = 0; i < n; i++)
            refusal[i] = mg_refusal_match(j->refusal, responses[i], NULL);
        return MG_OK;
    }
    mg_guard_result *r = mg_calloc(n ? n : 1, sizeof *r);
    mg_status st = mg_guard_judge_many(j->guard, prompts, responses, n, 8, r, err);
    for (size_t i = 0; i < n; i++) {
        if (!st) refusal[i] = !r[i].parsed.unsafe;
        mg_guard_result_free(&r[i]);
    }
    free(r);
    return st;
}

static mg_synth_model synth_model(demo_ctx *c, const char *name, const mg_nn_model *m) {
    return (mg_synth_model){.name = name, .model = m, .tok = c->tok};
}

static mg_status make_safety(demo_ctx *c, json_t **summary, mg_error *err) {
    mg_nn_model *gen = NULL, *pool[3] = {0};
    const char *paths[3] = {c->m_instruct, c->m_bio, c->m_chem};
    const char *names[3] = {"instruct", "bio-expert", "chem-expert"};
    char *sys = mg_world_generator_system_prompt();
    mg_status st = mg_nn_model_load(c->m_gen, &gen, err);
    for (int i = 0; i < 3 && !st; i++)
        st = mg_nn_model_load(paths[i], &pool[i], err);
    if (!st) {
        mg_synth_model g = synth_model(c, "generator", gen), pm[3];
        for (int i = 0; i < 3; i++)
            pm[i] = synth_model(c, names[i], pool[i]);
        mg_synth_safety_opts so;
        mg_synth_safety_opts_init(&so);
        so.out_path = c->d_safety;
        so.n = c->b.k;
        so.seed = c->o->seed;
        so.gen_max_new_tokens = c->b.gen_tokens;
        so.answer_max_new_tokens = c->b.answer_tokens;
        so.system_prompt = sys;
        so.user_prompt = "Now generate for me a list of 1 example(s): only return a JSON file. "
                         "Your topic is #{topic}";
        so.judge_name = c->use_guard ? "guard (lab)" : "refusal phrases";
        so.progress = mg_log_get_level() >= MG_LOG_INFO;
        judge_ctx jc = {c->use_guard ? c->guard : NULL, c->refusal};
        st = mg_synth_safety_run(&g, pm, 3, judge_fn, &jc, &so, summary, err);
    }
    free(sys);
    mg_nn_model_free(gen);
    for (int i = 0; i < 3; i++)
        mg_nn_model_free(pool[i]);
    return st;
}

static mg_status make_domain(demo_ctx *c, const char *expert_path, const char *name,
                             const char *topic, const char *examples_rel, size_t n, const char *out,
                             json_t **summary, mg_error *err) {
    mg_nn_model *m = NULL;
    char **ex = NULL;
    size_t n_ex = 0;
    char *ex_path = mg_path_join(c->world, examples_rel);
    const char *slots[3] = {"{example1}", "{example2}", "{example3}"};
    char *sys = mg_world_expert_system_prompt("{topic}", slots);
    mg_status st = mg_synth_examples_load(ex_path, &ex, &n_ex, err);
    if (!st) st = mg_nn_model_load(expert_path, &m, err);
    if (!st) {
        mg_synth_model e = synth_model(c, name, m);
        mg_synth_domain_opts so;
        mg_synth_domain_opts_init(&so);
        so.out_path = out;
        so.topic = topic;
        so.n = n;
        so.seed = c->o->seed;
        so.gen_max_new_tokens = c->b.gen_tokens;
        so.answer_max_new_tokens = c->b.answer_tokens;
        so.system_prompt = sys;
        so.user_prompt = mg_world_expert_user_prompt();
        so.json_prefix = "";
        so.progress = mg_log_get_level() >= MG_LOG_INFO;
        st = mg_synth_domain_run(&e, 1, (const char *const *)ex, n_ex, &so, summary, err);
    }
    mg_nn_model_free(m);
    mg_synth_examples_free(ex, n_ex);
    free(ex_path);
    free(sys);
    return st;
}

/* Writes the first `n` records of `src` (of type `type`, and source `source`
 * when non-NULL) to f. */
static mg_status copy_records(const char *src, const char *type, const char *source, size_t n,
                              FILE *f, mg_error *err) {
    mg_jsonl j = {0};
    mg_status st = mg_jsonl_load(src, &j, err);
    size_t kept = 0;
    for (size_t i = 0; i < j.n && kept < n && !st; i++) {
        const char *t = NULL, *s = NULL;
        mg_jsonl_str(&j, i, "type", false, &t, err);
        mg_jsonl_str(&j, i, "source", false, &s, err);
        if (type && (!t || strcmp(t, type))) continue;
        if (source && (!s || strcmp(s, source))) continue;
        st = mg_jsonl_append(f, j.recs[i], false, src, err);
        kept++;
    }
    mg_jsonl_free(&j);
    return st;
}

static mg_status write_subset(const char *out, const char *const *srcs, const char *const *types,
                              const char *const *sources, const size_t *ns, size_t n_src,
                              mg_error *err) {
    FILE *f = fopen(out, "wb");
    if (!f) return mg_error_set(err, MG_ERR_IO, "cannot write %s", out);
    mg_status st = MG_OK;
    for (size_t i = 0; i < n_src && !st; i++)
        st = copy_records(srcs[i], types[i], sources[i], ns[i], f, err);
    if (fclose(f) != 0 && !st) st = mg_error_set(err, MG_ERR_IO, "cannot write %s", out);
    return st;
}

static mg_status fallback(demo_ctx *c, mg_error *err) {
    char *fb = mg_path_join(c->world, "world/eval/fitness_bio.train.jsonl");
    char *fc = mg_path_join(c->world, "world/eval/fitness_chem.train.jsonl");
    size_t k = c->b.k, h = (k + 1) / 2;
    const char *s1[] = {fb};
    const char *t_al[] = {"alignment"}, *src_ref[] = {"refusal"}, *t_task[] = {"task"};
    const char *no[] = {NULL, NULL};
    mg_status st = write_subset(c->d_safety, s1, t_al, src_ref, &k, 1, err);
    if (!st) st = write_subset(c->d_expert2, s1, t_task, no, &k, 1, err);
    const char *s2[] = {fb, fc}, *t2[] = {"task", "task"};
    size_t n2[] = {h, h};
    if (!st) st = write_subset(c->d_expert3, s2, t2, no, n2, 2, err);
    free(fb);
    free(fc);
    return st;
}

static mg_status mix(const char *a, const char *b, const char *out, mg_error *err) {
    const char *in[2] = {a, b};
    mg_mix_opts mo = {.shuffle = true, .seed = 42, .force = true};
    return mg_mix_run(in, 2, out, &mo, NULL, err);
}

mg_status demo_data_make(demo_ctx *c, mg_error *err) {
    c->d_safety = demo_work_path(c, "data/d_safety.jsonl");
    c->d_expert2 = demo_work_path(c, "data/d_expert_bio.jsonl");
    c->d_mix2 = demo_work_path(c, "data/d_expert_bio+safety.jsonl");
    c->d_expert3 = demo_work_path(c, "data/d_expert_bio_chem.jsonl");
    c->d_mix3 = demo_work_path(c, "data/d_expert_bio_chem+safety.jsonl");
    json_t *done = demo_stage_get(c, "data");
    if (done) {
        c->data_source = json_string_value(json_object_get(done, "source"));
        demo_log(c, "data: reusing %s (%s)", "work/data", c->data_source);
        return MG_OK;
    }
    char *dir = demo_work_path(c, "data");
    mg_status st = mg_mkdir_p(dir, err);
    free(dir);
    if (st) return st;
    json_t *res = json_object(), *ss = NULL, *sb = NULL, *sc = NULL;
    size_t h = (c->b.k + 1) / 2;
    char *chem = demo_work_path(c, "data/d_expert_chem.jsonl");
    demo_log(c, "data: D_safety (K=%zu): generator questions, pool answers, guard keeps refusals",
             c->b.k);
    st = make_safety(c, &ss, err);
    if (!st) {
        demo_log(c, "data: D_expert biology (K=%zu): bio-expert self-questioning", c->b.k);
        st = make_domain(c, c->m_bio, "bio-expert", "biology", "world/eval/mc_bio.valid.jsonl",
                         c->b.k, c->d_expert2, &sb, err);
    }
    if (!st) {
        demo_log(c, "data: D_expert chemistry (K/2=%zu): chem-expert self-questioning", h);
        st = make_domain(c, c->m_chem, "chem-expert", "chemistry", "world/eval/mc_chem.valid.jsonl",
                         h, chem, &sc, err);
    }
    if (!st) {
        const char *srcs[] = {c->d_expert2, chem}, *types[] = {"task", "task"};
        const char *no[] = {NULL, NULL};
        size_t ns[] = {h, h};
        st = write_subset(c->d_expert3, srcs, types, no, ns, 2, err);
    }
    if (st == MG_ERR_RUNTIME) {
        mg_log_warn("demo: gen-data did not reach K records (%s); using the lab world's fitness "
                    "records instead",
                    err->msg);
        json_object_set_new(res, "gen_data_error", json_string(err->msg));
        st = fallback(c, err);
        c->data_source = "lab-fitness-records";
    } else {
        c->data_source = "gen-data";
    }
    free(chem);
    if (!st) st = mix(c->d_safety, c->d_expert2, c->d_mix2, err);
    if (!st) st = mix(c->d_safety, c->d_expert3, c->d_mix3, err);
    if (st) {
        json_decref(ss);
        json_decref(sb);
        json_decref(sc);
        json_decref(res);
        return st;
    }
    json_object_set_new(res, "source", json_string(c->data_source));
    json_object_set_new(res, "k", json_integer((json_int_t)c->b.k));
    if (ss) json_object_set_new(res, "safety", ss);
    if (sb) json_object_set_new(res, "domain_bio", sb);
    if (sc) json_object_set_new(res, "domain_chem", sc);
    st = demo_stage_put(c, "data", res, err);
    done = demo_stage_get(c, "data");
    c->data_source = json_string_value(json_object_get(done, "source"));
    return st;
}
