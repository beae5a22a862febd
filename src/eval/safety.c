/* safety.c - responses to harmful prompts, judged, audited and resumable
 * (see safety.h). */
#include "eval/safety.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "base/parallel.h"
#include "nn/generate.h"
#include "text/chat.h"

mg_status mg_safety_prompts_load(const char *path, mg_safety_prompts *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    mg_status rc = mg_jsonl_load(path, &out->file, err);
    if (rc != MG_OK) return rc;
    out->n = out->file.n;
    out->prompt = mg_calloc(out->n, sizeof *out->prompt);
    out->category = mg_calloc(out->n, sizeof *out->category);
    for (size_t i = 0; i < out->n; i++) {
        if ((rc = mg_jsonl_str(&out->file, i, "prompt", true, &out->prompt[i], err)) != MG_OK ||
            (rc = mg_jsonl_str(&out->file, i, "category", false, &out->category[i], err)) != MG_OK) {
            mg_safety_prompts_free(out);
            return rc;
        }
        if (!out->prompt[i][0]) { // the model would answer nothing, the judges judge nothing
            rc = mg_jsonl_error(&out->file, i, err, MG_ERR_INVALID, "field 'prompt' is empty");
            mg_safety_prompts_free(out);
            return rc;
        }
    }
    return MG_OK;
}

void mg_safety_prompts_free(mg_safety_prompts *p) {
    if (!p) return;
    free(p->prompt);
    free(p->category);
    mg_jsonl_free(&p->file);
    memset(p, 0, sizeof *p);
}

mg_status mg_eval_chat_encode(const mg_tokenizer *tok, const char *prompt, int32_t **ids,
                              size_t *n, mg_error *err) {
    *ids = NULL;
    const char *t = mg_tokenizer_chat_template(tok);
    if (!t || !*t)
        return mg_error_set(err, MG_ERR_INVALID,
                            "the tokenizer has no chat template (pass --chat-template NAME|FILE)");
    json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", prompt);
    char *text = NULL;
    mg_status rc = mg_chat_render(tok, msgs, true, &text, err);
    json_decref(msgs);
    if (rc == MG_OK) rc = mg_tokenizer_encode(tok, text, strlen(text), false, ids, n, err);
    free(text);
    return rc;
}

mg_status mg_eval_decode(const mg_tokenizer *tok, const int32_t *ids, size_t n, char **out,
                         mg_error *err) {
    const size_t V = mg_tokenizer_vocab_size(tok);
    int32_t *keep = mg_malloc_array(n ? n : 1, sizeof *keep);
    size_t k = 0, len = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && (size_t)ids[i] < V) keep[k++] = ids[i];
    mg_status rc = mg_tokenizer_decode(tok, keep, k, true, out, &len, err);
    free(keep);
    return rc;
}

/* ---- Audit records ---- */

static bool record_complete(const json_t *r, const mg_safety_judges *j) {
    return json_is_integer(json_object_get(r, "index")) &&
           json_is_string(json_object_get(r, "prompt")) &&
           json_is_string(json_object_get(r, "response")) &&
           (!j->guard || json_is_object(json_object_get(r, "guard"))) &&
           (!j->refusal || json_is_object(json_object_get(r, "refusal")));
}

// latest[i] = the last complete audit record of prompt i (borrowed) or NULL.
static mg_status index_audit(const mg_jsonl *a, const mg_safety_prompts *p, size_t n,
                             const mg_safety_judges *j, const json_t **latest, mg_error *err) {
    for (size_t k = 0; k < a->n; k++) {
        const json_t *r = a->recs[k];
        if (!record_complete(r, j)) continue;
        json_int_t i = json_integer_value(json_object_get(r, "index"));
        if (i < 0 || (size_t)i >= p->n) continue;
        if (strcmp(json_string_value(json_object_get(r, "prompt")), p->prompt[i]) != 0)
            return mg_jsonl_error(a, k, err, MG_ERR_INVALID,
                                  "audit record for prompt %lld does not match line %d of %s; the "
                                  "prompts changed: remove the audit file to start over",
                                  (long long)i, p->file.lines[i], p->file.path);
        if ((size_t)i < n) latest[i] = r;
    }
    return MG_OK;
}

static const char *stop_name(mg_gen_stop s) {
    switch (s) {
    case MG_GEN_STOP_TOKEN: return "eos";
    case MG_GEN_STOP_LENGTH: return "length";
    case MG_GEN_STOP_CONTEXT: return "context";
    default: return "callback";
    }
}

static json_t *guard_json(const mg_guard_result *g, double threshold) {
    json_t *codes = json_array();
    const char *s = g->parsed.codes;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        json_array_append_new(codes, json_stringn(s, len));
        s += len + (e ? 1 : 0);
    }
    return json_pack("{s:s, s:s, s:o, s:s, s:f, s:b}", "verdict",
                     g->parsed.unsafe ? "unsafe" : "safe", "label",
                     mg_guard_label_name(g->parsed.label), "categories", codes, "output",
                     g->output ? g->output : "", "p_unsafe", g->p_unsafe, "unsafe_by_prob",
                     g->p_unsafe >= threshold);
}

/* ---- Summary ---- */

static double rate(size_t safe, size_t total) {
    return total ? (double)safe / (double)total : 0.0;
}

static json_t *summarize(const mg_safety_prompts *p, size_t n, const json_t **latest,
                         const mg_safety_judges *j, size_t resumed) {
    size_t g_unsafe = 0, g_unparsed = 0, g_prob = 0, r_unsafe = 0, tokens = 0;
    json_t *codes = json_object(), *cats = json_object();
    for (size_t i = 0; i < n; i++) {
        const json_t *r = latest[i];
        tokens += (size_t)json_integer_value(json_object_get(r, "response_tokens"));
        json_t *cat = NULL;
        if (p->category[i]) {
            cat = json_object_get(cats, p->category[i]);
            if (!cat) {
                cat = json_pack("{s:i, s:i, s:i}", "total", 0, "guard_unsafe", 0, "refusal_unsafe",
                                0);
                json_object_set_new(cats, p->category[i], cat);
            }
            json_object_set_new(cat, "total",
                                json_integer(json_integer_value(json_object_get(cat, "total")) + 1));
        }
        const json_t *g = json_object_get(r, "guard");
        if (j->guard && g) {
            bool uns = !strcmp(json_string_value(json_object_get(g, "verdict")), "unsafe");
            g_unsafe += uns;
            g_unparsed += !strcmp(json_string_value(json_object_get(g, "label")), "unparsed");
            g_prob += json_number_value(json_object_get(g, "p_unsafe")) >= j->guard_threshold;
            size_t k;
            json_t *c;
            json_array_foreach(json_object_get(g, "categories"), k, c) {
                json_t *cnt = json_object_get(codes, json_string_value(c));
                json_object_set_new(codes, json_string_value(c),
                                    json_integer((cnt ? json_integer_value(cnt) : 0) + 1));
            }
            if (cat && uns)
                json_object_set_new(
                    cat, "guard_unsafe",
                    json_integer(json_integer_value(json_object_get(cat, "guard_unsafe")) + 1));
        }
        const json_t *rf = json_object_get(r, "refusal");
        if (j->refusal && rf) {
            bool uns = !strcmp(json_string_value(json_object_get(rf, "verdict")), "unsafe");
            r_unsafe += uns;
            if (cat && uns)
                json_object_set_new(
                    cat, "refusal_unsafe",
                    json_integer(json_integer_value(json_object_get(cat, "refusal_unsafe")) + 1));
        }
    }
    json_t *judges = json_object();
    if (j->guard)
        json_object_set_new(judges, "guard",
                            json_pack("{s:f, s:I, s:I, s:f, s:I, s:f, s:o}", "safe_rate",
                                      rate(n - g_unsafe, n), "unsafe", (json_int_t)g_unsafe, "unparsed",
                                      (json_int_t)g_unparsed, "safe_rate_prob",
                                      rate(n - g_prob, n), "unsafe_prob", (json_int_t)g_prob,
                                      "threshold", j->guard_threshold, "codes", codes));
    else
        json_decref(codes);
    if (j->refusal)
        json_object_set_new(judges, "refusal", json_pack("{s:f, s:I}", "safe_rate",
                                                         rate(n - r_unsafe, n), "unsafe",
                                                         (json_int_t)r_unsafe));
    // Per category: safe rates instead of raw counts.
    const char *name;
    json_t *cat;
    json_object_foreach(cats, name, cat) {
        size_t total = (size_t)json_integer_value(json_object_get(cat, "total"));
        if (j->guard)
            json_object_set_new(
                cat, "guard_safe_rate",
                json_real(rate(total - (size_t)json_integer_value(json_object_get(cat, "guard_unsafe")),
                               total)));
        if (j->refusal)
            json_object_set_new(
                cat, "refusal_safe_rate",
                json_real(rate(total - (size_t)json_integer_value(
                                           json_object_get(cat, "refusal_unsafe")),
                               total)));
        if (!j->guard) json_object_del(cat, "guard_unsafe");
        if (!j->refusal) json_object_del(cat, "refusal_unsafe");
    }
    json_t *out = json_pack("{s:I, s:I, s:o}", "prompts", (json_int_t)n, "resumed",
                            (json_int_t)resumed, "judges", judges);
    if (json_object_size(cats)) json_object_set_new(out, "by_category", cats);
    else json_decref(cats);
    json_object_set_new(out, "mean_response_tokens",
                        json_real(n ? (double)tokens / (double)n : 0.0));
    return out;
}

/* ---- The run ---- */

// A crash can leave a last record without its newline; it was ignored when
// loading and is cut off here, so the next append starts on a fresh line.
static mg_status drop_partial_record(const char *path, mg_error *err) {
    if (!mg_path_exists(path)) return MG_OK;
    char *buf = NULL;
    size_t len = 0;
    mg_status rc = mg_file_read_all(path, 0, &buf, &len, err);
    if (rc != MG_OK) return rc;
    size_t keep = len;
    while (keep > 0 && buf[keep - 1] != '\n') keep--;
    free(buf);
    if (keep < len && truncate(path, (off_t)keep) != 0)
        return mg_error_set(err, MG_ERR_IO, "%s: cannot truncate an interrupted record: %s", path,
                            strerror(errno));
    return MG_OK;
}

mg_status mg_safety_run(const mg_nn_model *m, const mg_tokenizer *tok,
                        const mg_safety_prompts *p, const mg_safety_judges *j,
                        const mg_safety_opts *o, json_t **summary, mg_error *err) {
    *summary = NULL;
    if (!j->guard && !j->refusal) return mg_error_set(err, MG_ERR_USAGE, "no safety judge selected");
    size_t n = o->limit && o->limit < p->n ? o->limit : p->n;
    mg_jsonl audit = {0};
    const json_t **latest = mg_calloc(n ? n : 1, sizeof *latest);
    size_t *pending = mg_calloc(n ? n : 1, sizeof *pending), n_pending = 0;
    int32_t **ids = mg_calloc(n ? n : 1, sizeof *ids);
    int *lens = mg_calloc(n ? n : 1, sizeof *lens);
    FILE *f = NULL;
    mg_status rc = mg_jsonl_load_tail(o->audit_path, &audit, err);
    if (rc == MG_OK) rc = index_audit(&audit, p, n, j, latest, err);
    for (size_t i = 0; i < n && rc == MG_OK; i++) {
        if (latest[i]) continue;
        size_t len = 0;
        rc = mg_eval_chat_encode(tok, p->prompt[i], &ids[i], &len, err);
        if (rc == MG_OK && (int64_t)len >= m->arch.max_pos)
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%zu prompt tokens leave no room to generate in the context window "
                              "(%lld)",
                              len, (long long)m->arch.max_pos);
        if (rc != MG_OK) {
            mg_jsonl_error(&p->file, i, err, rc, "%s", err ? err->msg : "");
            break;
        }
        lens[i] = (int)len;
        pending[n_pending++] = i;
    }
    size_t resumed = n - n_pending;
    if (rc == MG_OK && n_pending) rc = drop_partial_record(o->audit_path, err);
    if (rc == MG_OK && n_pending) {
        f = fopen(o->audit_path, "a");
        if (!f)
            rc = mg_error_set(err, MG_ERR_IO, "%s: cannot open for appending: %s", o->audit_path,
                              strerror(errno));
    }
    if (rc == MG_OK && resumed && n_pending)
        mg_log_info("%s: resuming, %zu of %zu prompts already judged", o->label, resumed, n);
    mg_progress prog;
    memset(&prog, 0, sizeof prog);
    if (rc == MG_OK && n_pending) {
        char label[64];
        snprintf(label, sizeof label, "safety %s", o->label);
        mg_progress_begin(&prog, label, n_pending, "prompts");
    }
    size_t B = o->batch ? o->batch : (size_t)(4 * mg_get_threads());
    if (B < 1) B = 1;
    size_t stop_n = 0;
    const int32_t *stop = mg_tokenizer_stop_ids(tok, &stop_n);
    mg_gen_params gp = {.sample = o->sample, .max_new_tokens = o->max_new_tokens,
                        .stop_ids = stop, .n_stop = stop_n, .stream = 0};
    for (size_t b0 = 0; b0 < n_pending && rc == MG_OK; b0 += B) {
        size_t nb = n_pending - b0 < B ? n_pending - b0 : B;
        const int32_t **bp = mg_malloc_array(nb, sizeof *bp);
        int *bl = mg_malloc_array(nb, sizeof *bl);
        mg_gen_result *gen = mg_calloc(nb, sizeof *gen);
        char **resp = mg_calloc(nb, sizeof *resp);
        const char **bprompt = mg_calloc(nb, sizeof *bprompt);
        mg_guard_result *gr = mg_calloc(nb, sizeof *gr);
        for (size_t k = 0; k < nb; k++) {
            bp[k] = ids[pending[b0 + k]];
            bl[k] = lens[pending[b0 + k]];
            bprompt[k] = p->prompt[pending[b0 + k]];
        }
        // Random streams follow the prompt index (contiguous in a fresh run),
        // so sampled responses do not depend on the batch size.
        gp.stream = pending[b0];
        rc = mg_nn_generate_many(m, bp, bl, nb, &gp, gen, err);
        for (size_t k = 0; k < nb && rc == MG_OK; k++) {
            rc = mg_eval_decode(tok, gen[k].ids, (size_t)gen[k].n, &resp[k], err);
        }
        if (rc == MG_OK && j->guard)
            rc = mg_guard_judge_many(j->guard, bprompt, (const char *const *)resp, nb,
                                     j->guard_max_new_tokens, gr, err);
        for (size_t k = 0; k < nb && rc == MG_OK; k++) {
            size_t i = pending[b0 + k];
            json_t *r = json_pack("{s:I, s:s}", "index", (json_int_t)i, "prompt", p->prompt[i]);
            if (p->category[i]) json_object_set_new(r, "category", json_string(p->category[i]));
            json_object_set_new(r, "response", json_string(resp[k]));
            json_object_set_new(r, "response_tokens", json_integer(gen[k].n));
            json_object_set_new(r, "stop", json_string(stop_name(gen[k].stop)));
            if (j->guard) json_object_set_new(r, "guard", guard_json(&gr[k], j->guard_threshold));
            if (j->refusal) {
                const char *hit = NULL;
                bool refused = mg_refusal_match(j->refusal, resp[k], &hit);
                json_object_set_new(r, "refusal",
                                    json_pack("{s:s, s:s?}", "verdict", refused ? "safe" : "unsafe",
                                              "matched", hit));
            }
            rc = mg_jsonl_append(f, r, false, o->audit_path, err);
            json_decref(r);
        }
        if (rc == MG_OK) mg_progress_add(&prog, nb);
        for (size_t k = 0; k < nb; k++) {
            mg_gen_result_free(&gen[k]);
            mg_guard_result_free(&gr[k]);
            free(resp[k]);
        }
        free(gr);
        free(bprompt);
        free(resp);
        free(gen);
        free(bl);
        free(bp);
    }
    if (rc == MG_OK && n_pending) mg_progress_end(&prog);
    if (f && fclose(f) != 0 && rc == MG_OK)
        rc = mg_error_set(err, MG_ERR_IO, "%s: close failed: %s", o->audit_path, strerror(errno));
    // Summaries always come from the audit file as written.
    if (rc == MG_OK) {
        mg_jsonl_free(&audit);
        memset(latest, 0, n * sizeof *latest);
        rc = mg_jsonl_load_tail(o->audit_path, &audit, err);
        if (rc == MG_OK) rc = index_audit(&audit, p, n, j, latest, err);
        for (size_t i = 0; i < n && rc == MG_OK; i++)
            if (!latest[i])
                rc = mg_error_set(err, MG_ERR_RUNTIME, "%s: prompt %zu has no audit record",
                                  o->audit_path, i);
        if (rc == MG_OK) *summary = summarize(p, n, latest, j, resumed);
    }
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(lens);
    free(pending);
    free(latest);
    mg_jsonl_free(&audit);
    return rc;
}
