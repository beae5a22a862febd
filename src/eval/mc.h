/* mc.h - multiple-choice accuracy with lm-evaluation-harness semantics
 * (inference.md C; paper section 7 "Domain accuracy").
 *
 * Tasks are JSONL files of {"question": str, "choices": [str, ...], "answer":
 * int | str, "subject"?: str} (answer: a 0-based index or the text of a
 * choice). Each question becomes one context and one continuation per choice:
 *  - format "mmlu" (default, lm-eval's MMLU template): context = [description]
 *    + k shots + "Q\nA. c0\nB. c1\n...\nAnswer:", continuations " A", " B", ...;
 *    the description is "The following are multiple choice questions (with
 *    answers) about SUBJECT.\n\n" when the record has a subject (underscores
 *    read as spaces) or given explicitly;
 *  - format "cloze" (ARC / HellaSwag style): context = "Question: Q\nAnswer:",
 *    continuations " " + choice.
 * A shot is the formatted question plus " " + its gold continuation text +
 * "\n\n", taken in order from the dev file (lm-eval's first_n sampler),
 * skipping a dev question identical to the one asked.
 * Tokenization is lm-eval's _encode_pair: trailing whitespace of the context
 * moves to the continuation; whole = encode(ctx + cont), ctx_len =
 * len(encode(ctx)), continuation = whole[ctx_len:], both with the tokenizer's
 * default special tokens (BOS for Llama); an empty context is the BOS (else
 * EOS) token.
 * Scoring: ll[c] = summed log-probability of choice c's continuation tokens;
 * acc = [argmax ll == gold], acc_norm = [argmax ll[c] / chars(choice c) ==
 * gold] with chars = Unicode characters of the choice text without the
 * delimiter; ties go to the lower index (numpy argmax). The choices of one
 * question share one forward pass over their common token prefix: it is run
 * once into the KV cache, then each choice runs only its own tokens from there.
 * Questions run in parallel (one KV cache per thread); results do not depend
 * on the thread count.
 * Ownership: tasks own their records (mg_mc_task_free); strings returned are
 * owned by the caller. Thread-safety: reentrant; the model is read-only. */
#ifndef MG_EVAL_MC_H
#define MG_EVAL_MC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/log.h"
#include "data/jsonl.h"
#include "nn/forward.h"
#include "text/tokenizer.h"

typedef enum mg_mc_format {
    MG_MC_MMLU = 0,
    MG_MC_CLOZE = 1,
} mg_mc_format;

/* "mmlu" / "cloze"; MG_ERR_USAGE otherwise. */
mg_status mg_mc_format_parse(const char *s, mg_mc_format *out, mg_error *err);
const char *mg_mc_format_name(mg_mc_format f);

typedef struct mg_mc_question {
    const char *question;  // borrowed from the task's records
    const char **choices;  // [n_choices] borrowed strings (array owned by the task)
    int n_choices;         // 2 .. 26
    int answer;            // 0-based gold index
    const char *subject;   // or NULL
} mg_mc_question;

typedef struct mg_mc_task {
    char *name; // file name without directory and ".jsonl"; owned
    mg_jsonl file;
    mg_mc_question *q; // [n]
    size_t n;
} mg_mc_task;

/* Loads and validates every record; errors name the line (a missing field,
 * fewer than 2 or more than 26 choices, an answer index out of range, an answer
 * string that is not one of the choices). */
mg_status mg_mc_task_load(const char *path, mg_mc_task *out, mg_error *err);
void mg_mc_task_free(mg_mc_task *t); // NULL-safe

typedef struct mg_mc_opts {
    mg_mc_format format;
    int fewshot;              // k shots (0 = zero-shot)
    const mg_mc_task *dev;    // shots come from here; required when fewshot > 0
    const char *description;  // overrides the subject-derived description; NULL = default
    size_t limit;             // evaluate the first `limit` questions (0 = all)
    mg_progress *progress;    // optional: one unit per question
} mg_mc_opts;

/* The context and the n_choices continuations of question i. *ctx and
 * (*conts)[c] owned (free each, then the array). */
mg_status mg_mc_request(const mg_mc_task *t, size_t i, const mg_mc_opts *o, char **ctx,
                        char ***conts, mg_error *err);

/* lm-eval's _encode_pair. *ids owned; ids[0..*ctx_len) context, the rest the
 * continuation (at least one token, else MG_ERR_INVALID). */
mg_status mg_mc_encode(const mg_tokenizer *tok, const char *ctx, const char *cont, int32_t **ids,
                       int *n, int *ctx_len, mg_error *err);

/* Summed continuation log-probabilities of n_choices sequences (as encoded
 * above) in one state (reset first; n_ctx >= the longest sequence), sharing
 * the forward pass over their common prefix. lls[0..n_choices). */
mg_status mg_mc_score_choices(const mg_nn_model *m, mg_nn_state *s, int32_t *const *ids,
                              const int *n, const int *ctx_len, int n_choices, double *lls,
                              mg_error *err);

typedef struct mg_mc_result {
    size_t n;            // questions evaluated
    size_t correct;      // by acc
    size_t correct_norm; // by acc_norm
    double acc, acc_norm;
} mg_mc_result;

/* Evaluates a task. lls (optional): *lls owned, the log-likelihoods of every
 * choice, question after question (question i's choices in order). */
mg_status mg_mc_eval(const mg_nn_model *m, const mg_tokenizer *tok, const mg_mc_task *t,
                     const mg_mc_opts *o, mg_mc_result *res, double **lls, mg_error *err);

/* Unicode characters of a UTF-8 string (bytes that are not continuation bytes). */
size_t mg_mc_char_len(const char *s);

#endif // MG_EVAL_MC_H
