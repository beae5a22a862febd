/* fitness.c - see fitness.h. */
#include "search/fitness.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "base/rng.h"
#include "nn/score.h"
#include "text/chat.h"

static const char *const TYPE_NAMES[MG_FIT_TYPES] = {"alignment", "task"};

typedef struct rec {
    int type;
    size_t line;
    int32_t *ids;
    int n, response_start;
} rec;

struct mg_fitness {
    mg_fitness_options opt;
    rec *recs; // used records, file order
    size_t n_recs;
    size_t count[MG_FIT_TYPES], read[MG_FIT_TYPES], dropped;
    mg_score_item *items;
};

mg_fitness_options mg_fitness_defaults(void) {
    return (mg_fitness_options){.weight = {1.0, 0.3}, .max_len = 2048};
}

void mg_fitness_free(mg_fitness *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_recs; i++)
        free(f->recs[i].ids);
    free(f->recs);
    free(f->items);
    free(f);
}

size_t mg_fitness_count(const mg_fitness *f, int type) {
    return f->count[type];
}
size_t mg_fitness_read(const mg_fitness *f, int type) {
    return f->read[type];
}
size_t mg_fitness_dropped(const mg_fitness *f) {
    return f->dropped;
}
const mg_fitness_options *mg_fitness_opts(const mg_fitness *f) {
    return &f->opt;
}

/* FlagEmbedding's LM-Cocktail preprocessing: encode(input + ' ' + output) + [eos], the
 * prompt being encode(input) (both with the tokenizer's special tokens). */
static mg_status encode_raw(const mg_tokenizer *tok, const char *prompt, const char *response,
                            int32_t **ids, size_t *n, size_t *rs, mg_error *err) {
    int32_t eos = mg_tokenizer_eos_id(tok);
    if (eos < 0)
        return mg_error_set(err, MG_ERR_INVALID, "raw mode needs an EOS token in the tokenizer");
    size_t lp = strlen(prompt), lr = strlen(response);
    char *text = mg_malloc(lp + lr + 2);
    memcpy(text, prompt, lp);
    text[lp] = ' ';
    memcpy(text + lp + 1, response, lr + 1);
    int32_t *pids = NULL, *all = NULL;
    size_t np = 0, na = 0;
    mg_status st = mg_tokenizer_encode(tok, prompt, lp, true, &pids, &np, err);
    if (!st) st = mg_tokenizer_encode(tok, text, lp + lr + 1, true, &all, &na, err);
    free(text);
    free(pids);
    if (st) {
        free(all);
        return st;
    }
    all = mg_realloc(all, (na + 1) * sizeof(int32_t));
    all[na++] = eos;
    *ids = all;
    *n = na;
    *rs = np < na ? np : na;
    return MG_OK;
}

static mg_status parse_line(const char *what, size_t lineno, const char *line, size_t len,
                            const char **prompt, const char **response, int *type, json_t **root,
                            mg_error *err) {
    json_error_t je;
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return mg_error_set(err, MG_ERR_INVALID, "%s:%zu: not valid JSON: %s", what, lineno,
                            je.text);
    *root = j;
    const json_t *p = json_object_get(j, "prompt"), *r = json_object_get(j, "response"),
                 *t = json_object_get(j, "type");
    if (!json_is_object(j) || !json_is_string(p) || !json_is_string(r))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s:%zu: a record needs string fields \"prompt\" and \"response\"",
                            what, lineno);
    if (!json_is_string(t))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s:%zu: a record needs \"type\": \"alignment\" or \"task\"", what,
                            lineno);
    *type = -1;
    for (int k = 0; k < MG_FIT_TYPES; k++)
        if (!strcmp(json_string_value(t), TYPE_NAMES[k])) *type = k;
    if (*type < 0)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s:%zu: record type \"%s\", expected \"alignment\" or \"task\"", what,
                            lineno, json_string_value(t));
    *prompt = json_string_value(p);
    *response = json_string_value(r);
    return MG_OK;
}

/* Seeded choice of k of n indices, returned as a keep[] mask (file order kept). */
static void choose(uint64_t seed, int type, size_t n, size_t k, bool *keep) {
    size_t *perm = mg_malloc_array(n ? n : 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    uint64_t key =
        mg_rng_key(seed, type == MG_FIT_ALIGNMENT ? "fitness-alignment" : "fitness-task");
    for (size_t i = 0; i + 1 < n && i < k; i++) { // partial Fisher-Yates
        size_t j = i + (size_t)(mg_rng_uniform_f64(key, i) * (double)(n - i));
        if (j >= n) j = n - 1;
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    memset(keep, 0, n * sizeof(bool));
    for (size_t i = 0; i < k && i < n; i++)
        keep[perm[i]] = true;
    free(perm);
}

mg_status mg_fitness_load(const char *data, const mg_tokenizer *tok, const mg_fitness_options *opt,
                          mg_fitness **out, mg_error *err) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    mg_status st = mg_file_read_all(data, 0, &buf, &len, err);
    if (st) return st;
    mg_fitness *f = mg_calloc(1, sizeof *f);
    f->opt = *opt;
    if (f->opt.max_len <= 0) f->opt.max_len = 2048;
    int cap = f->opt.max_len;
    if (f->opt.model_ctx > 0 && f->opt.model_ctx < cap) cap = f->opt.model_ctx;

    // Pass 1: validate every line and count types.
    size_t cap_recs = 0;
    size_t *type_of_line = NULL; // type per record, in order
    size_t n_lines_rec = 0;
    for (size_t pos = 0, lineno = 1; pos < len; lineno++) {
        const char *s = buf + pos, *e = memchr(s, '\n', len - pos);
        size_t l = e ? (size_t)(e - s) : len - pos;
        pos += l + 1;
        size_t a = 0;
        while (a < l && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r'))
            a++;
        if (a == l) continue;
        const char *p, *r;
        int type;
        json_t *j = NULL;
        st = parse_line(data, lineno, s, l, &p, &r, &type, &j, err);
        json_decref(j);
        if (st) goto fail;
        if (n_lines_rec == cap_recs) {
            cap_recs = cap_recs ? cap_recs * 2 : 256;
            type_of_line = mg_realloc(type_of_line, cap_recs * sizeof(size_t));
        }
        type_of_line[n_lines_rec++] = (size_t)type;
        f->read[type]++;
    }
    for (int k = 0; k < MG_FIT_TYPES; k++)
        if (f->opt.weight[k] > 0 && f->read[k] == 0 && !f->opt.allow_missing_types) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s: no \"%s\" records, but the fitness gives them weight %g "
                              "(set the %s weight to 0 to leave them out)",
                              data, TYPE_NAMES[k], f->opt.weight[k],
                              k == MG_FIT_TASK ? "task (--alpha)" : "alignment");
            goto fail;
        }

    // Subsample per type.
    bool *keep_type[MG_FIT_TYPES] = {0};
    for (int k = 0; k < MG_FIT_TYPES; k++) {
        size_t n = f->read[k], want = n;
        if (f->opt.samples_per_type > 0 && (size_t)f->opt.samples_per_type < n)
            want = (size_t)f->opt.samples_per_type;
        keep_type[k] = mg_calloc(n ? n : 1, sizeof(bool));
        choose(f->opt.seed, k, n, want, keep_type[k]);
    }

    // Pass 2: tokenize the kept records.
    f->recs = mg_calloc(n_lines_rec ? n_lines_rec : 1, sizeof(rec));
    size_t idx[MG_FIT_TYPES] = {0}, ri = 0;
    for (size_t pos = 0, lineno = 1; pos < len; lineno++) {
        const char *s = buf + pos, *e = memchr(s, '\n', len - pos);
        size_t l = e ? (size_t)(e - s) : len - pos;
        pos += l + 1;
        size_t a = 0;
        while (a < l && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r'))
            a++;
        if (a == l) continue;
        int type = (int)type_of_line[ri++];
        if (!keep_type[type][idx[type]++]) continue;
        const char *p, *r;
        json_t *j = NULL;
        parse_line(data, lineno, s, l, &p, &r, &type, &j, err);
        int32_t *ids = NULL;
        size_t n = 0, rs = 0;
        if (f->opt.raw)
            st = encode_raw(tok, p, r, &ids, &n, &rs, err);
        else
            st = mg_chat_encode_pair(tok, p, r, NULL, &ids, &n, &rs, err);
        json_decref(j);
        if (st) {
            mg_error_prefix(err, "%s:%zu: ", data, lineno);
            for (int k = 0; k < MG_FIT_TYPES; k++)
                free(keep_type[k]);
            goto fail;
        }
        if (n > (size_t)cap) n = (size_t)cap;
        if (rs < 1 || rs >= n) { // nothing left to score
            free(ids);
            f->dropped++;
            continue;
        }
        f->recs[f->n_recs++] = (rec){type, lineno, ids, (int)n, (int)rs};
        f->count[type]++;
    }
    for (int k = 0; k < MG_FIT_TYPES; k++)
        free(keep_type[k]);
    for (int k = 0; k < MG_FIT_TYPES; k++)
        if (f->opt.weight[k] > 0 && f->count[k] == 0 && !f->opt.allow_missing_types) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s: every \"%s\" record is longer than %d tokens before its "
                              "response starts",
                              data, TYPE_NAMES[k], cap);
            goto fail;
        }
    f->items = mg_calloc(f->n_recs ? f->n_recs : 1, sizeof(mg_score_item));
    for (size_t i = 0; i < f->n_recs; i++)
        f->items[i] = (mg_score_item){f->recs[i].ids, f->recs[i].n, f->recs[i].response_start};
    free(type_of_line);
    free(buf);
    *out = f;
    return MG_OK;
fail:
    free(type_of_line);
    free(buf);
    mg_fitness_free(f);
    return st;
}

mg_status mg_fitness_eval(const mg_fitness *f, const mg_nn_model *m, mg_fitness_result *r,
                          mg_error *err) {
    double t0 = mg_now_seconds();
    mg_score *sc = mg_calloc(f->n_recs ? f->n_recs : 1, sizeof(mg_score));
    mg_status st = f->n_recs ? mg_nn_score(m, f->items, f->n_recs, sc, err) : MG_OK;
    if (st) {
        free(sc);
        return st;
    }
    // Sums in file order: the result does not depend on scheduling.
    double sum[MG_FIT_TYPES] = {0};
    for (size_t i = 0; i < f->n_recs; i++)
        sum[f->recs[i].type] += sc[i].mean_nll;
    r->loss = 0;
    for (int k = 0; k < MG_FIT_TYPES; k++) {
        r->ce[k] = f->count[k] ? sum[k] / (double)f->count[k] : NAN;
        if (f->count[k] && f->opt.weight[k] != 0) r->loss += f->opt.weight[k] * r->ce[k];
    }
    r->seconds = mg_now_seconds() - t0;
    free(sc);
    return MG_OK;
}
