/* qa.h - exact-match question answering: the second domain mode.
 *
 * Tasks are JSONL {"question": str, "answer": str} or {"question": str,
 * "answers": [str, ...]}. Each question is one user turn through the model's
 * chat template (as safety.h renders prompts), continued greedily up to
 * max_new_tokens in parallel; the response is correct when its normalized
 * text equals a normalized answer. Normalization is SQuAD's: lower case,
 * punctuation removed, the articles "a", "an", "the" removed, whitespace
 * collapsed.
 * Ownership: tasks own their records (mg_qa_task_free); mg_qa_normalize
 * returns an owned string. Thread-safety: reentrant; the model is read-only. */
#ifndef MG_EVAL_QA_H
#define MG_EVAL_QA_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"
#include "data/jsonl.h"
#include "nn/model.h"
#include "text/tokenizer.h"

typedef struct mg_qa_task {
    char *name; // file name without ".jsonl"; owned
    mg_jsonl file;
    const char **question; // [n] borrowed
    json_t **answers;      // [n] owned arrays of strings (at least one each)
    size_t n;
} mg_qa_task;

mg_status mg_qa_task_load(const char *path, mg_qa_task *out, mg_error *err);
void mg_qa_task_free(mg_qa_task *t); // NULL-safe

/* SQuAD normalization. Owned. */
char *mg_qa_normalize(const char *s);

typedef struct mg_qa_result {
    size_t n, correct;
    double exact_match;
} mg_qa_result;

/* Evaluates the first `limit` questions (0 = all). responses (optional): *responses
 * owned array of n owned strings. */
mg_status mg_qa_eval(const mg_nn_model *m, const mg_tokenizer *tok, const mg_qa_task *t,
                     int max_new_tokens, size_t limit, mg_qa_result *res, char ***responses,
                     mg_error *err);

#endif // MG_EVAL_QA_H
