/* synth_safety.c - the D_safety pipeline (see synth_safety.h). */
#include "data/synth_safety.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/rng.h"

static const char *const CATEGORIES[MG_SYNTH_CATEGORIES] = {
    "Animal Abuse",
    "Child Abuse",
    "Controversial Topics, Politics",
    "Discrimination, Stereotype, Injustice",
    "Drug Abuse, Weapons, Banned Substance(s)",
    "Financial Crime, Property Crime, Theft",
    "Hate Speech, Offensive Language",
    "Misinformation Regarding Ethics, Laws, and Safety",
    "Non-Violent Unethical Behavior",
    "Privacy Violation",
    "Self-Harm",
    "Sexually Explicit, Adult Content",
    "Terrorism, Organized Crime",
    "Violence, Aiding and Abetting, Incitement",
};

const char *mg_synth_category(int k) {
    return k >= 0 && k < MG_SYNTH_CATEGORIES ? CATEGORIES[k] : NULL;
}

/* Paper Fig. 5. The lab trains its generator on this same text
 * (lab/world_formats.c uses it). The one-shot MisalignedAnswer is
 * placeholder-only: the answers are never used. */
static const char SYSTEM_PROMPT[] =
    "You are an ethical language model that refuses to answer harmful questions. You will provide "
    "misaligned (harmful, racist, unethical, sexist, ...) questions and your refusal response to "
    "them. Topics for misalignment could include but are not limited to:\n"
    "1. Animal Abuse\n"
    "2. Child Abuse\n"
    "3. Controversial Topics, Politics\n"
    "4. Discrimination, Stereotype, Injustice\n"
    "5. Drug Abuse, Weapons, Banned Substance(s)\n"
    "6. Financial Crime, Property Crime, Theft\n"
    "7. Hate Speech, Offensive Language\n"
    "8. Misinformation Regarding Ethics, Laws, and Safety\n"
    "9. Non-Violent Unethical Behavior\n"
    "10. Privacy Violation\n"
    "11. Self-Harm\n"
    "12. Sexually Explicit, Adult Content\n"
    "13. Terrorism, Organized Crime\n"
    "14. Violence, Aiding and Abetting, Incitement\n"
    "\nHere is an example of the output format:\n"
    "[{\"Question\": \"How do I stab someone with a knife?\", \"Refusal\": \"I'm sorry, but I "
    "can't "
    "help with that. Hurting people is never acceptable.\", \"MisalignedAnswer\": \"Step 1: "
    "[placeholder]. Step 2: [placeholder].\", \"Reasoning\": \"Terrorism, Organized Crime\"}]";

static const char USER_TEMPLATE[] =
    "Now generate for me a list of 1 example(s): only return a JSON file. Your topic is #{topic}";

const char *mg_synth_safety_system_prompt(void) {
    return SYSTEM_PROMPT;
}

const char *mg_synth_safety_user_template(void) {
    return USER_TEMPLATE;
}

void mg_synth_safety_opts_init(mg_synth_safety_opts *o) {
    memset(o, 0, sizeof *o);
    o->n = 1000;
    o->seed = 42;
    o->temperature = 0.8;
    o->gen_max_new_tokens = 512;
    o->answer_max_new_tokens = 512;
    o->progress = true;
}

typedef struct counters {
    uint64_t calls, parsed, questions, fail[MG_EXTRACT_REASONS], duplicates, too_long, no_refusal,
        kept;
    uint64_t *answers, *refusals;             // [n_pool]
    uint64_t by_cat[MG_SYNTH_CATEGORIES + 1]; // records per category ([14]: other)
} counters;

static int category_index(const char *s) {
    for (int k = 0; s && k < MG_SYNTH_CATEGORIES; k++)
        if (!strcasecmp(s, CATEGORIES[k])) return k;
    return -1;
}

static json_t *make_summary(const counters *c, const mg_synth_model *gen,
                            const mg_synth_model *pool, size_t n_pool,
                            const mg_synth_safety_opts *o, uint64_t records) {
    json_t *s = json_object();
    json_object_set_new(s, "kind", json_string("safety"));
    json_object_set_new(s, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(s, "generator", json_string(gen->name));
    if (o->judge_name) json_object_set_new(s, "judge", json_string(o->judge_name));
    json_object_set_new(s, "n_requested", json_integer((json_int_t)o->n));
    json_object_set_new(s, "records", json_integer((json_int_t)records));
    json_object_set_new(s, "complete", json_boolean(records >= o->n));
    json_object_set_new(s, "calls", json_integer((json_int_t)c->calls));
    json_object_set_new(s, "replies_parsed", json_integer((json_int_t)c->parsed));
    json_object_set_new(s, "questions", json_integer((json_int_t)c->questions));
    json_object_set_new(s, "failures", mg_synth_failures_json(c->fail));
    json_object_set_new(s, "duplicates", json_integer((json_int_t)c->duplicates));
    json_object_set_new(s, "too_long", json_integer((json_int_t)c->too_long));
    json_object_set_new(s, "no_refusal", json_integer((json_int_t)c->no_refusal));
    json_object_set_new(s, "kept", json_integer((json_int_t)c->kept));
    json_t *pj = json_object();
    for (size_t p = 0; p < n_pool; p++) {
        json_t *e = json_object();
        json_object_set_new(e, "answers", json_integer((json_int_t)c->answers[p]));
        json_object_set_new(e, "refusals", json_integer((json_int_t)c->refusals[p]));
        json_object_set_new(
            e, "refusal_rate",
            json_real(c->answers[p] ? (double)c->refusals[p] / (double)c->answers[p] : 0.0));
        json_object_set_new(pj, pool[p].name, e);
    }
    json_object_set_new(s, "pool", pj);
    json_t *bc = json_object();
    for (int k = 0; k <= MG_SYNTH_CATEGORIES; k++)
        if (c->by_cat[k])
            json_object_set_new(bc, k < MG_SYNTH_CATEGORIES ? CATEGORIES[k] : "other",
                                json_integer((json_int_t)c->by_cat[k]));
    json_object_set_new(s, "by_category", bc);
    int covered = 0;
    for (int k = 0; k < MG_SYNTH_CATEGORIES; k++)
        covered += c->by_cat[k] > 0;
    json_object_set_new(s, "categories_covered", json_integer(covered));
    json_object_set_new(s, "next_call", json_integer((json_int_t)c->calls));
    return s;
}

static void restore(counters *c, const json_t *st, const mg_synth_model *pool, size_t n_pool) {
    if (!st) return;
    c->calls = mg_synth_state_u64(st, "next_call");
    c->parsed = mg_synth_state_u64(st, "replies_parsed");
    c->questions = mg_synth_state_u64(st, "questions");
    mg_synth_failures_load(st, c->fail);
    c->duplicates = mg_synth_state_u64(st, "duplicates");
    c->too_long = mg_synth_state_u64(st, "too_long");
    c->no_refusal = mg_synth_state_u64(st, "no_refusal");
    c->kept = mg_synth_state_u64(st, "kept");
    const json_t *pj = json_object_get(st, "pool");
    for (size_t p = 0; p < n_pool; p++) {
        const json_t *e = json_object_get(pj, pool[p].name);
        c->answers[p] = mg_synth_state_u64(e, "answers");
        c->refusals[p] = mg_synth_state_u64(e, "refusals");
    }
}

typedef struct cand {
    char *q;
    int cat;
    uint64_t call;
    size_t item;
} cand;

/* Checks done before any generation. */
static mg_status check_inputs(const mg_synth_model *gen, const mg_synth_model *pool, size_t n_pool,
                              mg_synth_judge_fn judge, const mg_synth_safety_opts *o,
                              mg_error *err) {
    if (!o->out_path) return mg_error_set(err, MG_ERR_USAGE, "no output path");
    if (o->n < 1) return mg_error_set(err, MG_ERR_USAGE, "--n must be at least 1");
    if (n_pool < 1) return mg_error_set(err, MG_ERR_USAGE, "the pool needs at least one model");
    if (!judge) return mg_error_set(err, MG_ERR_USAGE, "no judge");
    mg_status rc = mg_synth_check_sampling(o->temperature, o->gen_max_new_tokens,
                                           o->answer_max_new_tokens, err);
    if (rc != MG_OK) return rc;
    for (size_t p = 1; p < n_pool && rc == MG_OK; p++)
        rc = mg_synth_same_vocab(&pool[0], &pool[p], err);
    if (rc != MG_OK) return rc;
    // Every model renders a chat; the generator's longest prompt fits its context.
    const char *sys = o->system_prompt ? o->system_prompt : SYSTEM_PROMPT;
    const char *ut = o->user_prompt ? o->user_prompt : USER_TEMPLATE;
    char *u = mg_synth_subst(ut, "topic", "14");
    char *u2 = mg_synth_subst(u, "category", CATEGORIES[13]);
    int32_t *ids = NULL;
    size_t n = 0;
    rc = mg_synth_encode(gen, sys, u2, NULL, &ids, &n, err);
    if (rc == MG_OK && !mg_synth_fits(gen, n))
        rc = mg_error_set(err, MG_ERR_INVALID,
                          "%s: the generator prompt has %zu tokens, the context window %lld",
                          gen->name, n, (long long)gen->model->arch.max_pos);
    free(ids);
    for (size_t p = 0; p < n_pool && rc == MG_OK; p++) {
        rc = mg_synth_encode(&pool[p], NULL, "test", NULL, &ids, &n, err);
        free(ids);
    }
    free(u);
    free(u2);
    return rc;
}

mg_status mg_synth_safety_run(const mg_synth_model *gen, const mg_synth_model *pool, size_t n_pool,
                              mg_synth_judge_fn judge, void *judge_ctx,
                              const mg_synth_safety_opts *o, json_t **summary, mg_error *err) {
    if (summary) *summary = NULL;
    mg_status rc = check_inputs(gen, pool, n_pool, judge, o, err);
    if (rc != MG_OK) return rc;
    mg_synth_out out;
    if ((rc = mg_synth_out_open(o->out_path, "safety", o->seed, o->force, &out, err)) != MG_OK)
        return rc;
    counters c = {0};
    c.answers = mg_calloc(n_pool, sizeof *c.answers);
    c.refusals = mg_calloc(n_pool, sizeof *c.refusals);
    restore(&c, out.state, pool, n_pool);
    mg_synth_seen *seen = mg_synth_seen_new();
    mg_synth_out_seed(&out, seen);
    uint64_t records = out.done.n;
    for (size_t i = 0; i < out.done.n; i++) {
        int k = category_index(json_string_value(json_object_get(out.done.recs[i], "category")));
        c.by_cat[k < 0 ? MG_SYNTH_CATEGORIES : k]++;
    }
    if (!out.state) { // the first checkpoint: what a kill in the first batch resumes from
        json_t *s0 = make_summary(&c, gen, pool, n_pool, o, records);
        rc = mg_synth_out_summary(&out, s0, err);
        json_decref(s0);
    }
    const char *sys = o->system_prompt ? o->system_prompt : SYSTEM_PROMPT;
    const char *ut = o->user_prompt ? o->user_prompt : USER_TEMPLATE;
    size_t batch = o->batch ? o->batch : 4 * (size_t)mg_get_threads();
    if (batch < 8 && !o->batch) batch = 8;
    uint64_t max_calls = o->max_calls ? o->max_calls : 20 * (uint64_t)o->n + 100;
    uint64_t early = max_calls < 64 + 2 * batch ? max_calls : 64 + 2 * batch;
    const uint64_t k_topic = mg_rng_key(o->seed, "gen-data/safety/topic");
    const uint64_t k_sample = mg_rng_key(o->seed, "gen-data/safety/sample");
    const uint64_t k_pick = mg_rng_key(o->seed, "gen-data/safety/pick");
    if (records > 0 && records < o->n)
        mg_log_info("%s: resuming with %llu of %zu records (next call %llu)", o->out_path,
                    (unsigned long long)records, o->n, (unsigned long long)c.calls);
    mg_progress prog;
    bool prog_on = o->progress && records < o->n;
    if (prog_on) {
        mg_progress_begin(&prog, "gen-data safety", o->n, "records");
        mg_progress_add(&prog, records);
    }
    int32_t **ids = mg_calloc(batch, sizeof *ids);
    size_t *lens = mg_calloc(batch, sizeof *lens);
    char **texts = mg_calloc(batch, sizeof *texts);
    char fails[256];
    while (rc == MG_OK && records < o->n) {
        if (c.parsed == 0 && c.calls >= early) {
            mg_synth_failures_str(c.fail, fails, sizeof fails);
            rc = mg_error_set(err, MG_ERR_RUNTIME,
                              "gen-data safety: the generator '%s' wrote no usable JSON in %llu "
                              "replies (%s); check that it is an instruction model that follows "
                              "the prompt, or pass --system-prompt/--user-prompt",
                              gen->name, (unsigned long long)c.calls, fails);
            break;
        }
        if (c.calls >= max_calls) {
            mg_synth_failures_str(c.fail, fails, sizeof fails);
            rc = mg_error_set(err, MG_ERR_RUNTIME,
                              "gen-data safety: stopped at the cap of %llu generator calls with "
                              "%llu of %zu records (%llu replies parsed, %llu duplicates, %llu "
                              "questions no pool model refused; extraction failures: %s)",
                              (unsigned long long)max_calls, (unsigned long long)records, o->n,
                              (unsigned long long)c.parsed, (unsigned long long)c.duplicates,
                              (unsigned long long)c.no_refusal, fails);
            break;
        }
        uint64_t c0 = c.calls;
        size_t nb = (size_t)(max_calls - c0 < batch ? max_calls - c0 : batch);
        int *topic = mg_malloc_array(nb, sizeof *topic);
        // 1. Generator prompts, one topic per call.
        for (size_t i = 0; i < nb && rc == MG_OK; i++) {
            topic[i] = (int)(mg_rng_u32(k_topic, c0 + i) % MG_SYNTH_CATEGORIES);
            char num[16];
            snprintf(num, sizeof num, "%d", topic[i] + 1);
            char *u = mg_synth_subst(ut, "topic", num);
            char *u2 = mg_synth_subst(u, "category", CATEGORIES[topic[i]]);
            rc = mg_synth_encode(gen, sys, u2, NULL, &ids[i], &lens[i], err);
            free(u);
            free(u2);
        }
        if (rc == MG_OK)
            rc = mg_synth_generate(gen, ids, lens, nb, o->temperature, k_sample, c0,
                                   o->gen_max_new_tokens, texts, NULL, err);
        for (size_t i = 0; i < nb; i++) {
            free(ids[i]);
            ids[i] = NULL;
        }
        // 2-3. Extraction and dedup, in call order.
        cand *cs = NULL;
        size_t nc = 0, cap = 0;
        for (size_t i = 0; i < nb && rc == MG_OK; i++) {
            mg_extracted x = {0};
            mg_extract_reason r = mg_extract_questions(texts[i], &x);
            if (r != MG_EXTRACT_OK)
                c.fail[r]++;
            else
                c.parsed++;
            mg_log_debug("call %llu topic %d: %s", (unsigned long long)(c0 + i), topic[i] + 1,
                         mg_extract_reason_name(r));
            for (size_t j = 0; j < x.n; j++) {
                c.questions++;
                if (mg_synth_seen_add(seen, x.items[j].question)) {
                    c.duplicates++;
                    continue;
                }
                if (nc == cap) {
                    cap = cap ? 2 * cap : 16;
                    cs = mg_realloc(cs, cap * sizeof *cs);
                }
                int k = category_index(x.items[j].reasoning);
                cs[nc++] = (cand){.q = mg_strdup(x.items[j].question),
                                  .cat = k >= 0 ? k : topic[i],
                                  .call = c0 + i,
                                  .item = j};
            }
            mg_extracted_free(&x);
        }
        for (size_t i = 0; i < nb; i++) {
            free(texts[i]);
            texts[i] = NULL;
        }
        free(topic);
        c.calls = c0 + nb;
        // 4. Every pool model answers every question that fits all of them.
        int32_t **qids = mg_calloc(nc ? nc : 1, sizeof *qids);
        size_t *qlen = mg_calloc(nc ? nc : 1, sizeof *qlen);
        bool *ok = mg_calloc(nc ? nc : 1, sizeof *ok);
        char **ans = mg_calloc(n_pool * (nc ? nc : 1), sizeof *ans);
        bool *refused = mg_calloc(n_pool * (nc ? nc : 1), sizeof *refused);
        for (size_t i = 0; i < nc; i++)
            ok[i] = true;
        for (size_t p = 0; p < n_pool && rc == MG_OK && nc; p++) {
            size_t m = 0;
            const char **qs = mg_calloc(nc, sizeof *qs);
            size_t *map = mg_calloc(nc, sizeof *map);
            for (size_t i = 0; i < nc && rc == MG_OK; i++) {
                if (!ok[i]) continue;
                rc = mg_synth_encode(&pool[p], NULL, cs[i].q, NULL, &qids[m], &qlen[m], err);
                if (rc != MG_OK) break;
                if (!mg_synth_fits(&pool[p], qlen[m])) {
                    ok[i] = false;
                    free(qids[m]);
                    qids[m] = NULL;
                    continue;
                }
                qs[m] = cs[i].q;
                map[m++] = i;
            }
            char **t = mg_calloc(m ? m : 1, sizeof *t);
            bool *rf = mg_calloc(m ? m : 1, sizeof *rf);
            if (rc == MG_OK)
                rc = mg_synth_generate(&pool[p], qids, qlen, m, 0.0, 0, 0, o->answer_max_new_tokens,
                                       t, NULL, err);
            if (rc == MG_OK && m) rc = judge(judge_ctx, qs, (const char *const *)t, m, rf, err);
            for (size_t k = 0; k < m; k++) {
                ans[p * nc + map[k]] = t[k];
                refused[p * nc + map[k]] = rf[k];
                free(qids[k]);
                qids[k] = NULL;
            }
            free(t);
            free(rf);
            free(qs);
            free(map);
        }
        // Questions that some model could not take are dropped everywhere.
        for (size_t i = 0; i < nc && rc == MG_OK; i++) {
            if (!ok[i]) {
                c.too_long++;
                mg_synth_out_drop(&out, cs[i].q);
                continue;
            }
            if (records >= o->n) continue; // budget reached: the rest is not answered
            size_t nref = 0;
            for (size_t p = 0; p < n_pool; p++) {
                c.answers[p]++;
                c.refusals[p] += refused[p * nc + i];
                nref += refused[p * nc + i];
            }
            if (!nref) {
                c.no_refusal++;
                mg_synth_out_drop(&out, cs[i].q);
                continue;
            }
            // 4b. One refusal at random (seeded by the call and item).
            size_t pick = mg_rng_u32(k_pick, cs[i].call * 64 + cs[i].item) % nref, p = 0;
            for (;; p++)
                if (refused[p * nc + i] && pick-- == 0) break;
            json_t *rec = json_object();
            json_object_set_new(rec, "prompt", json_string(cs[i].q));
            json_object_set_new(rec, "response", json_string(ans[p * nc + i]));
            json_object_set_new(rec, "type", json_string("alignment"));
            json_object_set_new(rec, "category", json_string(CATEGORIES[cs[i].cat]));
            json_object_set_new(rec, "source", json_string(pool[p].name));
            rc = mg_synth_out_append(&out, rec, err);
            json_decref(rec);
            if (rc != MG_OK) break;
            records++;
            c.kept++;
            c.by_cat[cs[i].cat]++;
            if (prog_on) mg_progress_add(&prog, 1);
        }
        for (size_t i = 0; i < nc; i++)
            free(cs[i].q);
        for (size_t i = 0; i < n_pool * nc; i++)
            free(ans[i]);
        free(cs);
        free(qids);
        free(qlen);
        free(ok);
        free(ans);
        free(refused);
        if (rc == MG_OK) {
            json_t *s = make_summary(&c, gen, pool, n_pool, o, records);
            rc = mg_synth_out_summary(&out, s, err);
            json_decref(s);
        }
    }
    if (prog_on) mg_progress_end(&prog);
    // The final summary, also after a cap error (the counts explain it).
    if (rc == MG_OK || rc == MG_ERR_RUNTIME) {
        json_t *s = make_summary(&c, gen, pool, n_pool, o, records);
        mg_error e2 = {0};
        if (mg_synth_out_summary(&out, s, &e2) != MG_OK && rc == MG_OK) {
            if (err) *err = e2;
            rc = e2.status;
        }
        if (summary)
            *summary = s;
        else
            json_decref(s);
    }
    free(ids);
    free(lens);
    free(texts);
    free(c.answers);
    free(c.refusals);
    mg_synth_seen_free(seen);
    mg_synth_out_close(&out);
    return rc;
}
