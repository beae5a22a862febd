/* synth_domain.c - the D_expert pipeline (see synth_domain.h). */
#include "data/synth_domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "data/jsonl.h"

/* Paper Fig. 4 (the lab trains its experts on this text, lab/world_formats.c).
 * The trailing comma inside each example is the paper's. */
static const char SYSTEM_TEMPLATE[] =
    "You are an expert in {topic}. Your task is to generate questions for me to practice for my "
    "exam. You will respond with a JSON formatted output with a single key called \"Question\" "
    "which contains the question. The following are good examples of what you should output. "
    "Remember the content must be only the question.\n"
    "Example 1: [{\"Question\": \"{example1}\",}]\n"
    "Example 2: [{\"Question\": \"{example2}\",}]\n"
    "Example 3: [{\"Question\": \"{example3}\",}]\n"
    "DO NOT PROVIDE THE ANSWER.";

static const char USER_PROMPT[] = "While adhering to the JSON format, please generate an example.";

// The released code's prefix, appended after the generation prompt.
static const char JSON_PREFIX[] = "\n[\n    {\n        \"Question\": ";

const char *mg_synth_domain_system_template(void) {
    return SYSTEM_TEMPLATE;
}
const char *mg_synth_domain_user_prompt(void) {
    return USER_PROMPT;
}
const char *mg_synth_domain_json_prefix(void) {
    return JSON_PREFIX;
}

void mg_synth_domain_opts_init(mg_synth_domain_opts *o) {
    memset(o, 0, sizeof *o);
    o->n = 1000;
    o->seed = 42;
    o->temperature = 0.8;
    o->gen_max_new_tokens = 512;
    o->answer_max_new_tokens = 512;
    o->progress = true;
}

void mg_synth_examples_free(char **ex, size_t n) {
    for (size_t i = 0; ex && i < n; i++)
        free(ex[i]);
    free(ex);
}

mg_status mg_synth_examples_load(const char *path, char ***out, size_t *n, mg_error *err) {
    *out = NULL;
    *n = 0;
    mg_jsonl j = {0};
    mg_status rc = mg_jsonl_load(path, &j, err);
    if (rc != MG_OK) {
        if (rc == MG_ERR_INVALID && j.n == 0 && strstr(err ? err->msg : "", "empty"))
            mg_error_prefix(err, "the example pool is empty: ");
        return rc;
    }
    char **ex = mg_calloc(j.n ? j.n : 1, sizeof *ex);
    size_t m = 0;
    mg_synth_seen *seen = mg_synth_seen_new();
    static const char *const KEYS[] = {"question", "prompt", "Question"};
    for (size_t i = 0; i < j.n && rc == MG_OK; i++) {
        const char *q = NULL;
        for (size_t k = 0; k < 3 && !q; k++) {
            json_t *v = json_object_get(j.recs[i], KEYS[k]);
            if (json_is_string(v)) q = json_string_value(v);
        }
        if (!q) {
            rc = mg_jsonl_error(&j, i, err, MG_ERR_INVALID,
                                "an example record needs a 'question' or 'prompt' string");
            break;
        }
        while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r')
            q++;
        size_t len = strlen(q);
        while (len && (q[len - 1] == ' ' || q[len - 1] == '\n' || q[len - 1] == '\t' ||
                       q[len - 1] == '\r'))
            len--;
        if (!len) continue;
        char *t = mg_strndup(q, len);
        if (mg_synth_seen_add(seen, t)) {
            free(t);
            continue;
        }
        ex[m++] = t;
    }
    mg_synth_seen_free(seen);
    if (rc == MG_OK && m < 3)
        rc = mg_error_set(err, MG_ERR_INVALID,
                          "%s: the example pool holds %zu distinct question(s); the expert prompt "
                          "shows 3 per call",
                          path, m);
    mg_jsonl_free(&j);
    if (rc != MG_OK) {
        mg_synth_examples_free(ex, m);
        return rc;
    }
    *out = ex;
    *n = m;
    return MG_OK;
}

typedef struct ecount {
    uint64_t target, records, calls, parsed, questions, fail[MG_EXTRACT_REASONS], duplicates,
        copied, too_long, kept;
} ecount;

static json_t *ecount_json(const ecount *c) {
    json_t *e = json_object();
    json_object_set_new(e, "target", json_integer((json_int_t)c->target));
    json_object_set_new(e, "records", json_integer((json_int_t)c->records));
    json_object_set_new(e, "calls", json_integer((json_int_t)c->calls));
    json_object_set_new(e, "replies_parsed", json_integer((json_int_t)c->parsed));
    json_object_set_new(e, "questions", json_integer((json_int_t)c->questions));
    json_object_set_new(e, "failures", mg_synth_failures_json(c->fail));
    json_object_set_new(e, "duplicates", json_integer((json_int_t)c->duplicates));
    json_object_set_new(e, "copied_example", json_integer((json_int_t)c->copied));
    json_object_set_new(e, "too_long", json_integer((json_int_t)c->too_long));
    json_object_set_new(e, "kept", json_integer((json_int_t)c->kept));
    json_object_set_new(e, "next_call", json_integer((json_int_t)c->calls));
    return e;
}

static json_t *make_summary(const ecount *ec, const mg_synth_model *ex, size_t ne,
                            const mg_synth_domain_opts *o) {
    json_t *s = json_object();
    json_object_set_new(s, "kind", json_string("domain"));
    json_object_set_new(s, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(s, "topic", json_string(o->topic));
    json_object_set_new(s, "n_requested", json_integer((json_int_t)o->n));
    ecount t = {0};
    json_t *ej = json_object();
    for (size_t e = 0; e < ne; e++) {
        json_object_set_new(ej, ex[e].name, ecount_json(&ec[e]));
        t.target += ec[e].target;
        t.records += ec[e].records;
        t.calls += ec[e].calls;
        t.parsed += ec[e].parsed;
        t.questions += ec[e].questions;
        for (int r = 0; r < MG_EXTRACT_REASONS; r++)
            t.fail[r] += ec[e].fail[r];
        t.duplicates += ec[e].duplicates;
        t.copied += ec[e].copied;
        t.too_long += ec[e].too_long;
        t.kept += ec[e].kept;
    }
    json_object_set_new(s, "records", json_integer((json_int_t)t.records));
    json_object_set_new(s, "complete", json_boolean(t.records >= o->n));
    json_object_set_new(s, "calls", json_integer((json_int_t)t.calls));
    json_object_set_new(s, "replies_parsed", json_integer((json_int_t)t.parsed));
    json_object_set_new(s, "questions", json_integer((json_int_t)t.questions));
    json_object_set_new(s, "failures", mg_synth_failures_json(t.fail));
    json_object_set_new(s, "duplicates", json_integer((json_int_t)t.duplicates));
    json_object_set_new(s, "copied_example", json_integer((json_int_t)t.copied));
    json_object_set_new(s, "too_long", json_integer((json_int_t)t.too_long));
    json_object_set_new(s, "kept", json_integer((json_int_t)t.kept));
    json_object_set_new(s, "experts", ej);
    return s;
}

static void restore(ecount *c, const json_t *st) {
    if (!st) return;
    c->calls = mg_synth_state_u64(st, "next_call");
    c->parsed = mg_synth_state_u64(st, "replies_parsed");
    c->questions = mg_synth_state_u64(st, "questions");
    mg_synth_failures_load(st, c->fail);
    c->duplicates = mg_synth_state_u64(st, "duplicates");
    c->copied = mg_synth_state_u64(st, "copied_example");
    c->too_long = mg_synth_state_u64(st, "too_long");
    c->kept = mg_synth_state_u64(st, "kept");
}

/* Three distinct pool indices for (expert key, call). */
static void pick3(uint64_t key, uint64_t call, size_t n, size_t out[3]) {
    for (int j = 0; j < 3; j++)
        for (uint64_t t = 0;; t++) {
            out[j] = mg_rng_u32(key, call * 64 + (uint64_t)j * 16 + t) % n;
            bool dup = false;
            for (int k = 0; k < j; k++)
                dup |= out[k] == out[j];
            if (!dup || t > 1000) break;
        }
}

typedef struct run_ctx {
    const mg_synth_domain_opts *o;
    const char *const *examples;
    size_t n_examples;
    mg_synth_seen *seen, *pool_seen;
    mg_synth_out *out;
    mg_progress *prog;
    bool prog_on;
    size_t batch;
    const mg_synth_model *experts;
    size_t n_experts;
    ecount *ec;
} run_ctx;

/* One batch of calls for expert e. */
static mg_status expert_batch(run_ctx *x, size_t e, size_t nb, mg_error *err) {
    const mg_synth_domain_opts *o = x->o;
    const mg_synth_model *m = &x->experts[e];
    ecount *c = &x->ec[e];
    const char *tmpl = o->system_prompt ? o->system_prompt : SYSTEM_TEMPLATE;
    const char *user = o->user_prompt ? o->user_prompt : USER_PROMPT;
    const char *prefix = o->json_prefix ? o->json_prefix : JSON_PREFIX;
    const uint64_t k_ex = mg_rng_subkey(mg_rng_key(o->seed, "gen-data/domain/examples"), e);
    const uint64_t k_sample = mg_rng_subkey(mg_rng_key(o->seed, "gen-data/domain/sample"), e);
    int32_t **ids = mg_calloc(nb, sizeof *ids);
    size_t *lens = mg_calloc(nb, sizeof *lens);
    char **texts = mg_calloc(nb, sizeof *texts);
    uint64_t c0 = c->calls;
    mg_status rc = MG_OK;
    for (size_t i = 0; i < nb && rc == MG_OK; i++) {
        size_t pk[3];
        pick3(k_ex, c0 + i, x->n_examples, pk);
        char *s1 = mg_synth_subst(tmpl, "topic", o->topic);
        char *s2 = mg_synth_subst(s1, "example1", x->examples[pk[0]]);
        char *s3 = mg_synth_subst(s2, "example2", x->examples[pk[1]]);
        char *s4 = mg_synth_subst(s3, "example3", x->examples[pk[2]]);
        char *u = mg_synth_subst(user, "topic", o->topic);
        rc = mg_synth_encode(m, s4, u, prefix, &ids[i], &lens[i], err);
        if (rc == MG_OK && !mg_synth_fits(m, lens[i]))
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: the expert prompt has %zu tokens, the context window %lld",
                              m->name, lens[i], (long long)m->model->arch.max_pos);
        free(s1);
        free(s2);
        free(s3);
        free(s4);
        free(u);
    }
    if (rc == MG_OK)
        rc = mg_synth_generate(m, ids, lens, nb, o->temperature, k_sample, c0,
                               o->gen_max_new_tokens, texts, NULL, err);
    c->calls = c0 + nb;
    // Extraction (of prefix + reply), dedup, pool-copy removal, in call order.
    char **qs = NULL;
    size_t nq = 0, cap = 0;
    size_t lp = strlen(prefix);
    for (size_t i = 0; i < nb && rc == MG_OK; i++) {
        size_t lt = strlen(texts[i]);
        char *full = mg_malloc(lp + lt + 1);
        memcpy(full, prefix, lp);
        memcpy(full + lp, texts[i], lt + 1);
        mg_extracted ex = {0};
        mg_extract_reason r = mg_extract_questions(full, &ex);
        free(full);
        if (r != MG_EXTRACT_OK)
            c->fail[r]++;
        else
            c->parsed++;
        for (size_t j = 0; j < ex.n; j++) {
            c->questions++;
            const char *q = ex.items[j].question;
            if (mg_synth_seen_has(x->pool_seen, q)) {
                c->copied++;
                continue;
            }
            if (mg_synth_seen_add(x->seen, q)) {
                c->duplicates++;
                continue;
            }
            if (nq == cap) {
                cap = cap ? 2 * cap : 16;
                qs = mg_realloc(qs, cap * sizeof *qs);
            }
            qs[nq++] = mg_strdup(q);
        }
        mg_extracted_free(&ex);
    }
    for (size_t i = 0; i < nb; i++) {
        free(ids[i]);
        free(texts[i]);
        ids[i] = NULL;
        texts[i] = NULL;
    }
    // The expert answers its own questions greedily (only as many as needed).
    size_t want = (size_t)(c->target - c->records), m2 = 0;
    int32_t **aids = mg_calloc(nq ? nq : 1, sizeof *aids);
    size_t *alen = mg_calloc(nq ? nq : 1, sizeof *alen);
    const char **aq = mg_calloc(nq ? nq : 1, sizeof *aq);
    size_t qi = 0;
    for (; qi < nq && rc == MG_OK && m2 < want; qi++) {
        rc = mg_synth_encode(m, NULL, qs[qi], NULL, &aids[m2], &alen[m2], err);
        if (rc != MG_OK) break;
        if (!mg_synth_fits(m, alen[m2])) {
            c->too_long++;
            mg_synth_out_drop(x->out, qs[qi]);
            free(aids[m2]);
            aids[m2] = NULL;
            continue;
        }
        aq[m2++] = qs[qi];
    }
    // Questions past the expert's need stay in the dedup set (resume must know them).
    for (; qi < nq && rc == MG_OK; qi++)
        mg_synth_out_drop(x->out, qs[qi]);
    char **ans = mg_calloc(m2 ? m2 : 1, sizeof *ans);
    if (rc == MG_OK)
        rc = mg_synth_generate(m, aids, alen, m2, 0.0, 0, 0, o->answer_max_new_tokens, ans, NULL,
                               err);
    for (size_t i = 0; i < m2 && rc == MG_OK; i++) {
        json_t *rec = json_object();
        json_object_set_new(rec, "prompt", json_string(aq[i]));
        json_object_set_new(rec, "response", json_string(ans[i]));
        json_object_set_new(rec, "type", json_string("task"));
        json_object_set_new(rec, "source", json_string(m->name));
        rc = mg_synth_out_append(x->out, rec, err);
        json_decref(rec);
        if (rc != MG_OK) break;
        c->records++;
        c->kept++;
        if (x->prog_on) mg_progress_add(x->prog, 1);
    }
    for (size_t i = 0; i < m2; i++) {
        free(aids[i]);
        free(ans[i]);
    }
    for (size_t i = 0; i < nq; i++)
        free(qs[i]);
    free(qs);
    free(aids);
    free(alen);
    free(aq);
    free(ans);
    free(ids);
    free(lens);
    free(texts);
    return rc;
}

mg_status mg_synth_domain_run(const mg_synth_model *experts, size_t n_experts,
                              const char *const *examples, size_t n_examples,
                              const mg_synth_domain_opts *o, json_t **summary, mg_error *err) {
    if (summary) *summary = NULL;
    if (!o->out_path || !o->topic || !*o->topic)
        return mg_error_set(err, MG_ERR_USAGE, "an output path and a --topic are required");
    if (o->n < 1) return mg_error_set(err, MG_ERR_USAGE, "--n must be at least 1");
    if (n_experts < 1) return mg_error_set(err, MG_ERR_USAGE, "at least one --expert is needed");
    if (n_examples < 3)
        return mg_error_set(err, MG_ERR_INVALID,
                            "the example pool holds %zu question(s); the expert prompt shows 3",
                            n_examples);
    mg_status rc = mg_synth_check_sampling(o->temperature, o->gen_max_new_tokens,
                                           o->answer_max_new_tokens, err);
    if (rc != MG_OK) return rc;
    for (size_t e = 0; e < n_experts && rc == MG_OK; e++) {
        int32_t *ids = NULL;
        size_t n = 0;
        rc = mg_synth_encode(&experts[e], NULL, "test", NULL, &ids, &n, err);
        free(ids);
        for (size_t f = 0; f < e && rc == MG_OK; f++)
            if (!strcmp(experts[e].name, experts[f].name))
                rc = mg_error_set(err, MG_ERR_USAGE,
                                  "two experts are named '%s' (records name their source)",
                                  experts[e].name);
    }
    if (rc != MG_OK) return rc;
    mg_synth_out out;
    if ((rc = mg_synth_out_open(o->out_path, "domain", o->seed, o->force, &out, err)) != MG_OK)
        return rc;
    ecount *ec = mg_calloc(n_experts, sizeof *ec);
    mg_synth_seen *seen = mg_synth_seen_new(), *pool_seen = mg_synth_seen_new();
    for (size_t i = 0; i < n_examples; i++)
        mg_synth_seen_add(pool_seen, examples[i]);
    const json_t *st_ex = json_object_get(out.state, "experts");
    uint64_t records = 0;
    for (size_t e = 0; e < n_experts; e++) {
        restore(&ec[e], json_object_get(st_ex, experts[e].name));
        ec[e].target = o->n / n_experts + (e < o->n % n_experts);
        ec[e].records = 0;
    }
    mg_synth_out_seed(&out, seen);
    for (size_t i = 0; i < out.done.n; i++) {
        const json_t *r = out.done.recs[i];
        const char *src = json_string_value(json_object_get(r, "source"));
        for (size_t e = 0; e < n_experts; e++)
            if (src && !strcmp(src, experts[e].name)) ec[e].records++;
        records++;
    }
    size_t batch = o->batch ? o->batch : 4 * (size_t)mg_get_threads();
    if (batch < 8 && !o->batch) batch = 8;
    mg_progress prog;
    run_ctx x = {.o = o,
                 .examples = examples,
                 .n_examples = n_examples,
                 .seen = seen,
                 .pool_seen = pool_seen,
                 .out = &out,
                 .prog = &prog,
                 .prog_on = o->progress && records < o->n,
                 .batch = batch,
                 .experts = experts,
                 .n_experts = n_experts,
                 .ec = ec};
    if (x.prog_on) {
        mg_progress_begin(&prog, "gen-data domain", o->n, "records");
        mg_progress_add(&prog, records);
    }
    char fails[256];
    if (!out.state) { // the first checkpoint: what a kill in the first batch resumes from
        json_t *s0 = make_summary(ec, experts, n_experts, o);
        rc = mg_synth_out_summary(&out, s0, err);
        json_decref(s0);
    }
    for (size_t e = 0; e < n_experts && rc == MG_OK; e++) {
        ecount *c = &ec[e];
        uint64_t max_calls = o->max_calls ? o->max_calls : 20 * c->target + 100;
        uint64_t early = max_calls < 64 + 2 * batch ? max_calls : 64 + 2 * batch;
        while (rc == MG_OK && c->records < c->target) {
            if (c->parsed == 0 && c->calls >= early) {
                mg_synth_failures_str(c->fail, fails, sizeof fails);
                rc = mg_error_set(err, MG_ERR_RUNTIME,
                                  "gen-data domain: expert '%s' wrote no usable JSON in %llu "
                                  "replies (%s); check the model, or pass --system-prompt, "
                                  "--user-prompt or --json-prefix",
                                  experts[e].name, (unsigned long long)c->calls, fails);
                break;
            }
            if (c->calls >= max_calls) {
                mg_synth_failures_str(c->fail, fails, sizeof fails);
                rc = mg_error_set(err, MG_ERR_RUNTIME,
                                  "gen-data domain: expert '%s' stopped at the cap of %llu calls "
                                  "with %llu of %llu records (%llu replies parsed, %llu "
                                  "duplicates, %llu copies of examples; extraction failures: %s)",
                                  experts[e].name, (unsigned long long)max_calls,
                                  (unsigned long long)c->records, (unsigned long long)c->target,
                                  (unsigned long long)c->parsed, (unsigned long long)c->duplicates,
                                  (unsigned long long)c->copied, fails);
                break;
            }
            size_t nb = (size_t)(max_calls - c->calls < batch ? max_calls - c->calls : batch);
            rc = expert_batch(&x, e, nb, err);
            if (rc == MG_OK) {
                json_t *s = make_summary(ec, experts, n_experts, o);
                rc = mg_synth_out_summary(&out, s, err);
                json_decref(s);
            }
        }
    }
    if (x.prog_on) mg_progress_end(&prog);
    if (rc == MG_OK || rc == MG_ERR_RUNTIME) {
        json_t *s = make_summary(ec, experts, n_experts, o);
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
    free(ec);
    mg_synth_seen_free(seen);
    mg_synth_seen_free(pool_seen);
    mg_synth_out_close(&out);
    return rc;
}
