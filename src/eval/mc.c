/* mc.c - multiple-choice requests, lm-eval tokenization and shared-prefix
 * scoring (see mc.h). */
#include "eval/mc.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "nn/kernels.h"

#define MC_MAX_CHOICES 26
#define MC_ROWS 32 // logits rows per forward chunk while scoring a continuation

mg_status mg_mc_format_parse(const char *s, mg_mc_format *out, mg_error *err) {
    if (!strcmp(s, "mmlu")) *out = MG_MC_MMLU;
    else if (!strcmp(s, "cloze")) *out = MG_MC_CLOZE;
    else
        return mg_error_set(err, MG_ERR_USAGE, "unknown multiple-choice format '%s' (mmlu, cloze)",
                            s);
    return MG_OK;
}

const char *mg_mc_format_name(mg_mc_format f) {
    return f == MG_MC_CLOZE ? "cloze" : "mmlu";
}

size_t mg_mc_char_len(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

void mg_mc_task_free(mg_mc_task *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) free(t->q[i].choices);
    free(t->q);
    free(t->name);
    mg_jsonl_free(&t->file);
    memset(t, 0, sizeof *t);
}

static char *task_name(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    if (len > 6 && !strcmp(b + len - 6, ".jsonl")) len -= 6;
    return mg_strndup(b, len);
}

mg_status mg_mc_task_load(const char *path, mg_mc_task *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    mg_status rc = mg_jsonl_load(path, &out->file, err);
    if (rc != MG_OK) return rc;
    const mg_jsonl *j = &out->file;
    out->name = task_name(path);
    out->q = mg_calloc(j->n, sizeof *out->q);
    out->n = j->n;
    for (size_t i = 0; i < j->n; i++) {
        mg_mc_question *q = &out->q[i];
        json_t *ch = NULL;
        if ((rc = mg_jsonl_str(j, i, "question", true, &q->question, err)) != MG_OK) goto fail;
        if ((rc = mg_jsonl_str(j, i, "subject", false, &q->subject, err)) != MG_OK) goto fail;
        if ((rc = mg_jsonl_str_array(j, i, "choices", 2, &ch, err)) != MG_OK) goto fail;
        q->n_choices = (int)json_array_size(ch);
        if (q->n_choices > MC_MAX_CHOICES) {
            rc = mg_jsonl_error(j, i, err, MG_ERR_INVALID, "%d choices; at most %d are supported",
                                q->n_choices, MC_MAX_CHOICES);
            goto fail;
        }
        q->choices = mg_malloc_array((size_t)q->n_choices, sizeof *q->choices);
        for (int c = 0; c < q->n_choices; c++)
            q->choices[c] = json_string_value(json_array_get(ch, (size_t)c));
        json_t *a = json_object_get(j->recs[i], "answer");
        if (json_is_integer(a)) {
            json_int_t v = json_integer_value(a);
            if (v < 0 || v >= q->n_choices) {
                rc = mg_jsonl_error(j, i, err, MG_ERR_INVALID,
                                    "answer %lld out of range: the question has %d choices "
                                    "(0..%d)",
                                    (long long)v, q->n_choices, q->n_choices - 1);
                goto fail;
            }
            q->answer = (int)v;
        } else if (json_is_string(a)) {
            q->answer = -1;
            for (int c = 0; c < q->n_choices && q->answer < 0; c++)
                if (!strcmp(q->choices[c], json_string_value(a))) q->answer = c;
            if (q->answer < 0) {
                rc = mg_jsonl_error(j, i, err, MG_ERR_INVALID,
                                    "answer \"%.80s\" is not one of the choices",
                                    json_string_value(a));
                goto fail;
            }
        } else {
            rc = mg_jsonl_error(j, i, err, MG_ERR_INVALID,
                                "field 'answer' must be a choice index or a choice string");
            goto fail;
        }
    }
    return MG_OK;
fail:
    mg_mc_task_free(out);
    return rc;
}

/* ---- Requests ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = mg_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}
static void sb_str(sbuf *b, const char *s) {
    sb_add(b, s, strlen(s));
}

// lm-eval doc_to_text: MMLU strips the question.
static void doc_text(sbuf *b, const mg_mc_question *q, mg_mc_format f) {
    if (f == MG_MC_MMLU) {
        const char *s = q->question, *e = s + strlen(s);
        while (s < e && isspace((unsigned char)*s)) s++;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        sb_add(b, s, (size_t)(e - s));
        for (int c = 0; c < q->n_choices; c++) {
            char head[8];
            snprintf(head, sizeof head, "\n%c. ", 'A' + c);
            sb_str(b, head);
            sb_str(b, q->choices[c]);
        }
        sb_str(b, "\nAnswer:");
    } else {
        sb_str(b, "Question: ");
        sb_str(b, q->question);
        sb_str(b, "\nAnswer:");
    }
}

// The choice's text as the continuation names it (without the delimiter).
static const char *choice_text(const mg_mc_question *q, int c, mg_mc_format f, char letter[2]) {
    if (f == MG_MC_CLOZE) return q->choices[c];
    letter[0] = (char)('A' + c);
    letter[1] = 0;
    return letter;
}

mg_status mg_mc_request(const mg_mc_task *t, size_t i, const mg_mc_opts *o, char **ctx,
                        char ***conts, mg_error *err) {
    *ctx = NULL;
    *conts = NULL;
    if (i >= t->n) return mg_error_set(err, MG_ERR_INVALID, "%s: no question %zu", t->name, i);
    if (o->fewshot > 0 && !o->dev)
        return mg_error_set(err, MG_ERR_USAGE, "%d-shot evaluation needs a dev file", o->fewshot);
    const mg_mc_question *q = &t->q[i];
    sbuf b = {0};
    sb_str(&b, "");
    if (o->description) {
        sb_str(&b, o->description);
    } else if (q->subject && o->format == MG_MC_MMLU) {
        sb_str(&b, "The following are multiple choice questions (with answers) about ");
        for (const char *p = q->subject; *p; p++) sb_add(&b, *p == '_' ? " " : p, 1);
        sb_str(&b, ".\n\n");
    }
    int shots = 0;
    for (size_t k = 0; o->dev && k < o->dev->n && shots < o->fewshot; k++) {
        const mg_mc_question *d = &o->dev->q[k];
        if (!strcmp(d->question, q->question)) continue; // never show the asked question
        char letter[2];
        doc_text(&b, d, o->format);
        sb_str(&b, " ");
        sb_str(&b, choice_text(d, d->answer, o->format, letter));
        sb_str(&b, "\n\n");
        shots++;
    }
    if (shots < o->fewshot) {
        free(b.s);
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: %d-shot evaluation needs %d dev questions, the dev file has %d",
                            t->name, o->fewshot, o->fewshot, shots);
    }
    doc_text(&b, q, o->format);
    *ctx = b.s;
    *conts = mg_malloc_array((size_t)q->n_choices, sizeof **conts);
    for (int c = 0; c < q->n_choices; c++) {
        char letter[2];
        const char *ct = choice_text(q, c, o->format, letter);
        size_t len = strlen(ct);
        char *s = mg_malloc(len + 2);
        s[0] = ' '; // lm-eval's target_delimiter
        memcpy(s + 1, ct, len + 1);
        (*conts)[c] = s;
    }
    return MG_OK;
}

/* ---- Tokenization ---- */

mg_status mg_mc_encode(const mg_tokenizer *tok, const char *ctx, const char *cont, int32_t **ids,
                       int *n, int *ctx_len, mg_error *err) {
    *ids = NULL;
    // Trailing whitespace of the context moves to the continuation.
    size_t cl = strlen(ctx), tl = strlen(cont);
    size_t keep = cl;
    while (keep > 0 && isspace((unsigned char)ctx[keep - 1])) keep--;
    char *whole = mg_malloc(cl + tl + 1);
    memcpy(whole, ctx, cl);
    memcpy(whole + cl, cont, tl + 1);
    int32_t *w = NULL, *c = NULL;
    size_t nw = 0, nc = 0;
    mg_status rc;
    if (keep == 0) {
        // Empty context: lm-eval's prefix token (BOS, else EOS), then the
        // continuation encoded alone.
        int32_t pre = mg_tokenizer_bos_id(tok);
        if (pre < 0) pre = mg_tokenizer_eos_id(tok);
        if (pre < 0) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "empty context and the tokenizer has neither BOS nor EOS");
            goto done;
        }
        if ((rc = mg_tokenizer_encode(tok, whole, cl + tl, false, &c, &nc, err)) != MG_OK) goto done;
        nw = nc + 1;
        w = mg_malloc_array(nw, sizeof *w);
        w[0] = pre;
        memcpy(w + 1, c, nc * sizeof *c);
        nc = 1;
    } else {
        if ((rc = mg_tokenizer_encode(tok, whole, cl + tl, true, &w, &nw, err)) != MG_OK) goto done;
        if ((rc = mg_tokenizer_encode(tok, ctx, keep, true, &c, &nc, err)) != MG_OK) goto done;
    }
    if (nc >= nw) {
        rc = mg_error_set(err, MG_ERR_INVALID,
                          "continuation \"%.60s\" adds no token after its context", cont);
        goto done;
    }
    if (nw > INT32_MAX) {
        rc = mg_error_set(err, MG_ERR_INVALID, "sequence too long");
        goto done;
    }
    *ids = w;
    w = NULL;
    *n = (int)nw;
    *ctx_len = (int)nc;
done:
    free(w);
    free(c);
    free(whole);
    return rc;
}

/* ---- Scoring ---- */

mg_status mg_mc_score_choices(const mg_nn_model *m, mg_nn_state *s, int32_t *const *ids,
                              const int *n, const int *ctx_len, int n_choices, double *lls,
                              mg_error *err) {
    const int V = m->arch.vocab;
    // Shared prefix: the common tokens of all choices, but at most up to the
    // last context token of the shortest context (its logits are the first
    // ones a choice needs, and each choice must run at least one token).
    int p = ctx_len[0] - 1;
    for (int c = 0; c < n_choices; c++) {
        if (ctx_len[c] - 1 < p) p = ctx_len[c] - 1;
        int k = 0;
        while (k < p && ids[c][k] == ids[0][k]) k++;
        p = k;
    }
    mg_nn_state_reset(s);
    mg_status rc = MG_OK;
    if (p > 0 && (rc = mg_nn_forward(m, s, ids[0], p, p, NULL, err)) != MG_OK) return rc;
    float *logits = mg_malloc_array((size_t)MC_ROWS * V, sizeof *logits);
    for (int c = 0; c < n_choices && rc == MG_OK; c++) {
        mg_nn_state_truncate(s, p);
        double ll = 0;
        int pos = p;
        // Tokens before the last context token need no logits.
        if (ctx_len[c] - 1 > pos) {
            rc = mg_nn_forward(m, s, ids[c] + pos, ctx_len[c] - 1 - pos, ctx_len[c] - 1 - pos, NULL,
                               err);
            pos = ctx_len[c] - 1;
        }
        // Rows pos .. n-2 predict tokens pos+1 .. n-1, all continuation tokens.
        while (rc == MG_OK && pos < n[c] - 1) {
            int rows = n[c] - 1 - pos < MC_ROWS ? n[c] - 1 - pos : MC_ROWS;
            rc = mg_nn_forward(m, s, ids[c] + pos, rows, 0, logits, err);
            for (int r = 0; rc == MG_OK && r < rows; r++) {
                const float *row = logits + (size_t)r * V;
                ll += (double)row[ids[c][pos + r + 1]] - mg_nn_logsumexp(row, V);
            }
            pos += rows;
        }
        lls[c] = ll;
    }
    free(logits);
    return rc;
}

static int argmax_d(const double *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

typedef struct encoded {
    int32_t **ids; // [n_choices]
    int *n, *ctx_len;
    int n_choices;
} encoded;

static void encoded_free(encoded *e) {
    for (int c = 0; c < e->n_choices; c++) free(e->ids ? e->ids[c] : NULL);
    free(e->ids);
    free(e->n);
    free(e->ctx_len);
    memset(e, 0, sizeof *e);
}

static mg_status encode_question(const mg_nn_model *m, const mg_tokenizer *tok, const mg_mc_task *t,
                                 size_t i, const mg_mc_opts *o, encoded *e, int *longest,
                                 mg_error *err) {
    char *ctx = NULL, **conts = NULL;
    mg_status rc = mg_mc_request(t, i, o, &ctx, &conts, err);
    if (rc != MG_OK) return rc;
    int nc = t->q[i].n_choices;
    e->n_choices = nc;
    e->ids = mg_calloc((size_t)nc, sizeof *e->ids);
    e->n = mg_calloc((size_t)nc, sizeof *e->n);
    e->ctx_len = mg_calloc((size_t)nc, sizeof *e->ctx_len);
    for (int c = 0; c < nc && rc == MG_OK; c++) {
        rc = mg_mc_encode(tok, ctx, conts[c], &e->ids[c], &e->n[c], &e->ctx_len[c], err);
        if (rc == MG_OK && e->n[c] > m->arch.max_pos)
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%d tokens exceed the model's context window (%lld)", e->n[c],
                              (long long)m->arch.max_pos);
        if (rc == MG_OK) {
            for (int k = 0; k < e->n[c]; k++)
                if (e->ids[c][k] < 0 || e->ids[c][k] >= m->arch.vocab) {
                    rc = mg_error_set(err, MG_ERR_INVALID,
                                      "token id %d outside the model's vocabulary (%d); tokenizer "
                                      "and model do not match",
                                      e->ids[c][k], m->arch.vocab);
                    break;
                }
        }
        if (rc == MG_OK && e->n[c] > *longest) *longest = e->n[c];
    }
    for (int c = 0; c < nc; c++) free(conts[c]);
    free(conts);
    free(ctx);
    if (rc != MG_OK) {
        encoded_free(e);
        mg_jsonl_error(&t->file, i, err, rc, "%s", err ? err->msg : "");
    }
    return rc;
}

mg_status mg_mc_eval(const mg_nn_model *m, const mg_tokenizer *tok, const mg_mc_task *t,
                     const mg_mc_opts *o, mg_mc_result *res, double **lls_out, mg_error *err) {
    memset(res, 0, sizeof *res);
    if (lls_out) *lls_out = NULL;
    size_t nq = o->limit && o->limit < t->n ? o->limit : t->n;
    // Everything is encoded and checked before the first forward pass.
    encoded *enc = mg_calloc(nq ? nq : 1, sizeof *enc);
    size_t *off = mg_calloc(nq + 1, sizeof *off);
    int longest = 1;
    mg_status rc = MG_OK;
    for (size_t i = 0; i < nq && rc == MG_OK; i++) {
        rc = encode_question(m, tok, t, i, o, &enc[i], &longest, err);
        off[i + 1] = off[i] + (size_t)t->q[i].n_choices;
    }
    double *lls = mg_calloc(off[nq] ? off[nq] : 1, sizeof *lls);
    mg_status first_rc = MG_OK;
    mg_error first_err = {0};
    long first_bad = -1;
    if (rc == MG_OK && nq > 0) {
#pragma omp parallel num_threads(mg_nn_team_size())
        {
            mg_nn_state *s = NULL;
            mg_error e;
            mg_status r = mg_nn_state_new(m, longest, 0, &s, &e);
#pragma omp for schedule(dynamic, 1)
            for (size_t i = 0; i < nq; i++) {
                mg_status ri = r;
                if (ri == MG_OK)
                    ri = mg_mc_score_choices(m, s, enc[i].ids, enc[i].n, enc[i].ctx_len,
                                             enc[i].n_choices, lls + off[i], &e);
                if (ri != MG_OK) {
#pragma omp critical(mg_mc_eval)
                    if (first_bad < 0 || (long)i < first_bad) {
                        first_bad = (long)i;
                        first_rc = ri;
                        first_err = e;
                    }
                }
                if (o->progress) mg_progress_add(o->progress, 1);
            }
            mg_nn_state_free(s);
        }
        if (first_rc != MG_OK) {
            rc = first_rc;
            if (err) *err = first_err;
            mg_jsonl_error(&t->file, (size_t)first_bad, err, rc, "%s", first_err.msg);
        }
    }
    if (rc == MG_OK) {
        double norm[MC_MAX_CHOICES];
        for (size_t i = 0; i < nq; i++) {
            const mg_mc_question *q = &t->q[i];
            const double *l = lls + off[i];
            for (int c = 0; c < q->n_choices; c++) {
                char letter[2];
                size_t len = mg_mc_char_len(choice_text(q, c, o->format, letter));
                norm[c] = l[c] / (double)(len ? len : 1);
            }
            res->correct += argmax_d(l, q->n_choices) == q->answer;
            res->correct_norm += argmax_d(norm, q->n_choices) == q->answer;
        }
        res->n = nq;
        res->acc = nq ? (double)res->correct / (double)nq : 0;
        res->acc_norm = nq ? (double)res->correct_norm / (double)nq : 0;
    }
    for (size_t i = 0; i < nq; i++) encoded_free(&enc[i]);
    free(enc);
    free(off);
    if (rc == MG_OK && lls_out) *lls_out = lls;
    else free(lls);
    return rc;
}
