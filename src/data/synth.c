/* synth.c - shared parts of the synthetic-data pipelines (see synth.h). */
#include "data/synth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "nn/generate.h"
#include "text/chat.h"
#include "text/hashmap.h"

char *mg_synth_model_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    return b < n ? mg_strndup(path + b, n - b) : mg_strndup(path, n);
}

mg_status mg_synth_same_vocab(const mg_synth_model *a, const mg_synth_model *b, mg_error *err) {
    size_t na = mg_tokenizer_vocab_size(a->tok), nb = mg_tokenizer_vocab_size(b->tok);
    if (na != nb)
        return mg_error_set(err, MG_ERR_INVALID,
                            "pool models '%s' and '%s' have different tokenizers: vocabulary of "
                            "%zu vs %zu tokens (a merge pool needs one shared vocabulary)",
                            a->name, b->name, na, nb);
    for (size_t i = 0; i < na; i++) {
        const char *pa = mg_tokenizer_id_to_piece(a->tok, (int32_t)i);
        const char *pb = mg_tokenizer_id_to_piece(b->tok, (int32_t)i);
        if ((pa == NULL) != (pb == NULL) || (pa && strcmp(pa, pb) != 0))
            return mg_error_set(err, MG_ERR_INVALID,
                                "pool models '%s' and '%s' have different tokenizers: token %zu is "
                                "'%s' vs '%s' (a merge pool needs one shared vocabulary)",
                                a->name, b->name, i, pa ? pa : "(none)", pb ? pb : "(none)");
    }
    return MG_OK;
}

static mg_status render(const mg_synth_model *m, const char *system, const char *user, char **text,
                        mg_error *err) {
    json_t *msgs = json_array();
    if (system && *system)
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", user));
    mg_status rc = mg_chat_render(m->tok, msgs, true, text, err);
    json_decref(msgs);
    if (rc == MG_OK || !system || !*system || rc == MG_ERR_UNSUPPORTED) return rc;
    // Templates such as Mistral's raise on a system turn: fold it into the user turn.
    mg_log_debug("%s: chat template refused a system turn (%s); folding it into the user turn",
                 m->name, err ? err->msg : "");
    size_t ls = strlen(system), lu = strlen(user);
    char *both = mg_malloc(ls + lu + 3);
    memcpy(both, system, ls);
    memcpy(both + ls, "\n\n", 2);
    memcpy(both + ls + 2, user, lu + 1);
    msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", both);
    free(both);
    mg_error_clear(err);
    rc = mg_chat_render(m->tok, msgs, true, text, err);
    json_decref(msgs);
    return rc;
}

mg_status mg_synth_encode(const mg_synth_model *m, const char *system, const char *user,
                          const char *prefix, int32_t **ids, size_t *n, mg_error *err) {
    *ids = NULL;
    *n = 0;
    const char *t = mg_tokenizer_chat_template(m->tok);
    if (!t || !*t)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: the tokenizer has no chat template (tokenizer_config.json "
                            "chat_template); the data prompts are chat conversations",
                            m->name);
    char *text = NULL;
    mg_status rc = render(m, system, user, &text, err);
    if (rc != MG_OK) return mg_error_prefix(err, "%s: ", m->name);
    if (prefix && *prefix) {
        size_t a = strlen(text), b = strlen(prefix);
        text = mg_realloc(text, a + b + 1);
        memcpy(text + a, prefix, b + 1);
    }
    rc = mg_tokenizer_encode(m->tok, text, strlen(text), false, ids, n, err);
    free(text);
    return rc;
}

bool mg_synth_fits(const mg_synth_model *m, size_t n) {
    return n >= 1 && (int64_t)n + 1 <= m->model->arch.max_pos;
}

mg_status mg_synth_generate(const mg_synth_model *m, int32_t *const *prompts, const size_t *lens,
                            size_t n, double temperature, uint64_t seed, uint64_t stream,
                            int max_new_tokens, char **texts, int *ntok, mg_error *err) {
    for (size_t i = 0; i < n; i++)
        texts[i] = NULL;
    if (n == 0) return MG_OK;
    size_t n_stop = m->n_stop;
    const int32_t *stop = m->stop_ids;
    if (!stop) stop = mg_tokenizer_stop_ids(m->tok, &n_stop);
    mg_gen_params p = {.sample = mg_sample_params_greedy(),
                       .max_new_tokens = max_new_tokens,
                       .stop_ids = stop,
                       .n_stop = n_stop,
                       .stream = stream};
    p.sample.temperature = temperature;
    p.sample.seed = seed;
    size_t V = mg_tokenizer_vocab_size(m->tok);
    if (V > 0 && V < (size_t)m->model->arch.vocab) p.vocab_limit = (int)V;
    int *il = mg_malloc_array(n, sizeof *il);
    for (size_t i = 0; i < n; i++)
        il[i] = (int)lens[i];
    mg_gen_result *res = mg_calloc(n, sizeof *res);
    mg_status rc =
        mg_nn_generate_many(m->model, (const int32_t *const *)prompts, il, n, &p, res, err);
    for (size_t i = 0; i < n && rc == MG_OK; i++) {
        size_t len = 0;
        rc = mg_tokenizer_decode(m->tok, res[i].ids, (size_t)res[i].n, true, &texts[i], &len, err);
        if (ntok) ntok[i] = res[i].n;
    }
    for (size_t i = 0; i < n; i++)
        mg_gen_result_free(&res[i]);
    free(res);
    free(il);
    if (rc != MG_OK) {
        for (size_t i = 0; i < n; i++) {
            free(texts[i]);
            texts[i] = NULL;
        }
        mg_error_prefix(err, "%s: ", m->name);
    }
    return rc;
}

char *mg_synth_subst(const char *tmpl, const char *name, const char *val) {
    char pat[128];
    snprintf(pat, sizeof pat, "{%s}", name);
    size_t lp = strlen(pat), lv = strlen(val), cap = strlen(tmpl) + 1, n = 0;
    char *out = mg_malloc(cap);
    for (const char *s = tmpl; *s;) {
        const char *hit = strstr(s, pat);
        size_t take = hit ? (size_t)(hit - s) : strlen(s);
        size_t need = n + take + (hit ? lv : 0) + 1;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            out = mg_realloc(out, cap);
        }
        memcpy(out + n, s, take);
        n += take;
        s += take;
        if (!hit) break;
        memcpy(out + n, val, lv);
        n += lv;
        s += lp;
    }
    out[n] = 0;
    return out;
}

/* ---- dedup set ---- */

struct mg_synth_seen {
    mg_strmap *map;
};

mg_synth_seen *mg_synth_seen_new(void) {
    mg_synth_seen *s = mg_calloc(1, sizeof *s);
    s->map = mg_strmap_new(1024);
    return s;
}

void mg_synth_seen_free(mg_synth_seen *s) {
    if (!s) return;
    mg_strmap_free(s->map);
    free(s);
}

bool mg_synth_seen_has(const mg_synth_seen *s, const char *q) {
    char *k = mg_extract_normalize(q);
    bool has = mg_strmap_get(s->map, k, strlen(k)) >= 0;
    free(k);
    return has;
}

bool mg_synth_seen_add(mg_synth_seen *s, const char *q) {
    char *k = mg_extract_normalize(q);
    bool has = mg_strmap_get(s->map, k, strlen(k)) >= 0;
    if (!has) mg_strmap_put(s->map, k, strlen(k), 1);
    free(k);
    return has;
}

/* ---- resumable output ---- */

static char *summary_path_of(const char *path) {
    size_t n = strlen(path);
    size_t stem = n > 6 && !strcmp(path + n - 6, ".jsonl") ? n - 6 : n;
    char *s = mg_malloc(stem + sizeof ".summary.json");
    memcpy(s, path, stem);
    memcpy(s + stem, ".summary.json", sizeof ".summary.json");
    return s;
}

/* Cuts a last line that has no newline (an append cut short). */
static mg_status cut_partial_line(const char *path, mg_error *err) {
    char *data = NULL;
    size_t len = 0;
    mg_status rc = mg_file_read_all(path, 0, &data, &len, err);
    if (rc != MG_OK) return rc;
    size_t keep = len;
    while (keep > 0 && data[keep - 1] != '\n')
        keep--;
    free(data);
    if (keep == len) return MG_OK;
    mg_log_warn("%s: dropping an incomplete last record (%zu bytes) left by an interrupted run",
                path, len - keep);
    if (truncate(path, (off_t)keep) != 0)
        return mg_error_set(err, MG_ERR_IO, "%s: cannot truncate: %s", path, strerror(errno));
    return MG_OK;
}

/* Keeps the first `lines` lines of path (a batch the checkpoint does not count). */
static mg_status cut_to_lines(const char *path, size_t lines, mg_error *err) {
    char *data = NULL;
    size_t len = 0;
    mg_status rc = mg_file_read_all(path, 0, &data, &len, err);
    if (rc != MG_OK) return rc;
    size_t keep = 0;
    for (size_t n = 0; n < lines && keep < len; keep++)
        n += data[keep] == '\n';
    free(data);
    if (truncate(path, (off_t)keep) != 0)
        return mg_error_set(err, MG_ERR_IO, "%s: cannot truncate: %s", path, strerror(errno));
    return MG_OK;
}

mg_status mg_synth_out_open(const char *path, const char *kind, uint64_t seed, bool force,
                            mg_synth_out *o, mg_error *err) {
    memset(o, 0, sizeof *o);
    o->path = mg_strdup(path);
    o->summary_path = summary_path_of(path);
    mg_status rc = MG_OK;
    if (mg_path_is_dir(path)) {
        rc = mg_error_set(err, MG_ERR_INVALID, "%s: is a directory, expected a JSONL file", path);
        goto fail;
    }
    if (force) {
        FILE *t = fopen(path, "w");
        if (!t) {
            rc = mg_error_set(err, MG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            goto fail;
        }
        fclose(t);
        if ((rc = mg_remove_tree(o->summary_path, err)) != MG_OK) goto fail;
    } else if (mg_path_exists(path)) {
        if ((rc = cut_partial_line(path, err)) != MG_OK) goto fail;
    }
    if ((rc = mg_jsonl_load_tail(path, &o->done, err)) != MG_OK) goto fail;
    for (size_t i = 0; i < o->done.n; i++) {
        const char *p = NULL;
        if ((rc = mg_jsonl_str(&o->done, i, "prompt", true, &p, err)) != MG_OK) goto fail;
    }
    if (o->done.n > 0 && mg_path_is_file(o->summary_path)) {
        if ((rc = mg_json_load_file(o->summary_path, &o->state, err)) != MG_OK) goto fail;
        const char *k = json_string_value(json_object_get(o->state, "kind"));
        json_t *s = json_object_get(o->state, "seed");
        if (!k || strcmp(k, kind) != 0) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: written by a 'gen-data %s' run, not '%s' (use another output "
                              "or --force)",
                              path, k ? k : "?", kind);
            goto fail;
        }
        if (!json_is_integer(s) || (uint64_t)json_integer_value(s) != seed) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: started with seed %llu, not %llu; a resumed run must use the "
                              "same seed (or --force to start over)",
                              path,
                              json_is_integer(s) ? (unsigned long long)json_integer_value(s) : 0ULL,
                              (unsigned long long)seed);
            goto fail;
        }
        // Records past the checkpoint's count come from a batch a kill cut
        // short: they are regenerated (identically) with the batch.
        json_t *r = json_object_get(o->state, "records");
        if (json_is_integer(r) && json_integer_value(r) >= 0 &&
            (uint64_t)json_integer_value(r) < o->done.n) {
            size_t keep = (size_t)json_integer_value(r);
            mg_log_info("%s: redoing the interrupted batch (%zu record(s) past the checkpoint)",
                        path, o->done.n - keep);
            mg_jsonl_free(&o->done);
            if ((rc = cut_to_lines(path, keep, err)) != MG_OK) goto fail;
            if ((rc = mg_jsonl_load_tail(path, &o->done, err)) != MG_OK) goto fail;
        }
        json_t *d = json_object_get(o->state, "dropped_questions");
        if (json_is_array(d)) o->dropped = json_deep_copy(d);
    }
    if (!o->dropped) o->dropped = json_array();
    o->f = fopen(path, "a");
    if (!o->f) {
        rc = mg_error_set(err, MG_ERR_IO, "%s: cannot open for appending: %s", path,
                          strerror(errno));
        goto fail;
    }
    return MG_OK;
fail:
    mg_synth_out_close(o);
    return rc;
}

mg_status mg_synth_out_append(mg_synth_out *o, const json_t *rec, mg_error *err) {
    return mg_jsonl_append(o->f, rec, true, o->path, err);
}

mg_status mg_synth_out_summary(mg_synth_out *o, const json_t *summary, mg_error *err) {
    json_t *s = json_copy((json_t *)summary); // shallow: the caller's object stays as it was
    json_object_set(s, "dropped_questions", o->dropped);
    mg_status rc = mg_json_write_file(o->summary_path, s, true, err);
    json_decref(s);
    return rc;
}

void mg_synth_out_drop(mg_synth_out *o, const char *q) {
    json_array_append_new(o->dropped, json_string(q));
}

void mg_synth_out_seed(const mg_synth_out *o, mg_synth_seen *seen) {
    for (size_t i = 0; i < o->done.n; i++) {
        const char *p = json_string_value(json_object_get(o->done.recs[i], "prompt"));
        if (p) mg_synth_seen_add(seen, p);
    }
    for (size_t i = 0; i < json_array_size(o->dropped); i++) {
        const char *q = json_string_value(json_array_get(o->dropped, i));
        if (q) mg_synth_seen_add(seen, q);
    }
}

void mg_synth_out_close(mg_synth_out *o) {
    if (!o) return;
    if (o->f) fclose(o->f);
    mg_jsonl_free(&o->done);
    json_decref(o->state);
    json_decref(o->dropped);
    free(o->path);
    free(o->summary_path);
    memset(o, 0, sizeof *o);
}

uint64_t mg_synth_state_u64(const json_t *state, const char *key) {
    json_t *v = json_object_get(state, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

json_t *mg_synth_failures_json(const uint64_t fail[MG_EXTRACT_REASONS]) {
    json_t *f = json_object();
    for (int r = 1; r < MG_EXTRACT_REASONS; r++)
        json_object_set_new(f, mg_extract_reason_name((mg_extract_reason)r),
                            json_integer((json_int_t)fail[r]));
    return f;
}

void mg_synth_failures_load(const json_t *state, uint64_t fail[MG_EXTRACT_REASONS]) {
    const json_t *f = json_object_get(state, "failures");
    for (int r = 0; r < MG_EXTRACT_REASONS; r++)
        fail[r] = r ? mg_synth_state_u64(f, mg_extract_reason_name((mg_extract_reason)r)) : 0;
}

void mg_synth_failures_str(const uint64_t fail[MG_EXTRACT_REASONS], char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int r = 1; r < MG_EXTRACT_REASONS && n < cap; r++) {
        if (!fail[r]) continue;
        int k = snprintf(buf + n, cap - n, "%s%s %llu", n ? ", " : "",
                         mg_extract_reason_name((mg_extract_reason)r), (unsigned long long)fail[r]);
        if (k < 0) break;
        n += (size_t)k;
    }
    if (!buf[0]) snprintf(buf, cap, "none");
}

mg_status mg_synth_check_sampling(double temperature, int gen_max_new_tokens,
                                  int answer_max_new_tokens, mg_error *err) {
    if (!(temperature >= 0) || gen_max_new_tokens < 1 || answer_max_new_tokens < 1 ||
        gen_max_new_tokens > MG_GEN_MAX_NEW_TOKENS || answer_max_new_tokens > MG_GEN_MAX_NEW_TOKENS)
        return mg_error_set(err, MG_ERR_USAGE,
                            "temperature must be >= 0 and max new tokens in 1..%d",
                            MG_GEN_MAX_NEW_TOKENS);
    return MG_OK;
}
