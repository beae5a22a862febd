/* qa.c - exact-match question answering (see qa.h). */
#include "eval/qa.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "eval/safety.h"
#include "nn/generate.h"

mg_status mg_qa_task_load(const char *path, mg_qa_task *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    mg_status rc = mg_jsonl_load(path, &out->file, err);
    if (rc != MG_OK) return rc;
    const mg_jsonl *j = &out->file;
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    if (len > 6 && !strcmp(b + len - 6, ".jsonl")) len -= 6;
    out->name = mg_strndup(b, len);
    out->n = j->n;
    out->question = mg_calloc(j->n, sizeof *out->question);
    out->answers = mg_calloc(j->n, sizeof *out->answers);
    for (size_t i = 0; i < j->n; i++) {
        if ((rc = mg_jsonl_str(j, i, "question", true, &out->question[i], err)) != MG_OK) goto fail;
        json_t *a = json_object_get(j->recs[i], "answers");
        if (a) {
            if ((rc = mg_jsonl_str_array(j, i, "answers", 1, &a, err)) != MG_OK) goto fail;
            out->answers[i] = json_incref(a);
        } else {
            const char *s = NULL;
            if ((rc = mg_jsonl_str(j, i, "answer", true, &s, err)) != MG_OK) goto fail;
            out->answers[i] = json_pack("[s]", s);
        }
    }
    return MG_OK;
fail:
    mg_qa_task_free(out);
    return rc;
}

void mg_qa_task_free(mg_qa_task *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) json_decref(t->answers ? t->answers[i] : NULL);
    free(t->answers);
    free(t->question);
    free(t->name);
    mg_jsonl_free(&t->file);
    memset(t, 0, sizeof *t);
}

static bool is_article(const char *w, size_t n) {
    return (n == 1 && w[0] == 'a') || (n == 2 && !memcmp(w, "an", 2)) ||
           (n == 3 && !memcmp(w, "the", 3));
}

char *mg_qa_normalize(const char *s) {
    size_t len = strlen(s);
    char *t = mg_malloc(len + 1), *o = mg_malloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (ispunct(c)) continue; // ASCII punctuation, as string.punctuation
        t[k++] = (char)tolower(c);
    }
    t[k] = 0;
    size_t on = 0;
    for (size_t i = 0; i < k;) {
        while (i < k && isspace((unsigned char)t[i])) i++;
        size_t a = i;
        while (i < k && !isspace((unsigned char)t[i])) i++;
        if (a == i || is_article(t + a, i - a)) continue;
        if (on) o[on++] = ' ';
        memcpy(o + on, t + a, i - a);
        on += i - a;
    }
    o[on] = 0;
    free(t);
    return o;
}

mg_status mg_qa_eval(const mg_nn_model *m, const mg_tokenizer *tok, const mg_qa_task *t,
                     int max_new_tokens, size_t limit, mg_qa_result *res, char ***responses,
                     mg_error *err) {
    memset(res, 0, sizeof *res);
    if (responses) *responses = NULL;
    size_t n = limit && limit < t->n ? limit : t->n;
    int32_t **ids = mg_calloc(n ? n : 1, sizeof *ids);
    int *lens = mg_calloc(n ? n : 1, sizeof *lens);
    mg_gen_result *gen = mg_calloc(n ? n : 1, sizeof *gen);
    char **resp = mg_calloc(n ? n : 1, sizeof *resp);
    mg_status rc = MG_OK;
    for (size_t i = 0; i < n && rc == MG_OK; i++) {
        size_t len = 0;
        rc = mg_eval_chat_encode(tok, t->question[i], &ids[i], &len, err);
        if (rc == MG_OK && (int64_t)len >= m->arch.max_pos)
            rc = mg_error_set(err, MG_ERR_INVALID, "%zu prompt tokens fill the context window", len);
        if (rc != MG_OK) mg_jsonl_error(&t->file, i, err, rc, "%s", err ? err->msg : "");
        lens[i] = (int)len;
    }
    size_t n_stop = 0;
    const int32_t *stop = mg_tokenizer_stop_ids(tok, &n_stop);
    mg_gen_params gp = {.sample = mg_sample_params_greedy(), .max_new_tokens = max_new_tokens,
                        .stop_ids = stop, .n_stop = n_stop};
    if (rc == MG_OK && n)
        rc = mg_nn_generate_many(m, (const int32_t *const *)ids, lens, n, &gp, gen, err);
    for (size_t i = 0; i < n && rc == MG_OK; i++) {
        rc = mg_eval_decode(tok, gen[i].ids, (size_t)gen[i].n, &resp[i], err);
        if (rc != MG_OK) break;
        char *r = mg_qa_normalize(resp[i]);
        size_t k;
        json_t *a;
        bool hit = false;
        json_array_foreach(t->answers[i], k, a) {
            char *na = mg_qa_normalize(json_string_value(a));
            hit = hit || !strcmp(na, r);
            free(na);
        }
        free(r);
        res->correct += hit;
    }
    if (rc == MG_OK) {
        res->n = n;
        res->exact_match = n ? (double)res->correct / (double)n : 0;
    }
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
        mg_gen_result_free(&gen[i]);
        if (rc != MG_OK || !responses) free(resp[i]);
    }
    free(ids);
    free(lens);
    free(gen);
    if (rc == MG_OK && responses) *responses = resp;
    else free(resp);
    return rc;
}
