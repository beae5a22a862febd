/* safety.h - the alignment measurement: generate a response to every harmful
 * prompt, judge it, count (paper section 7, "Safety").
 *
 * Prompts are JSONL {"prompt": str, "category"?: str} (DESIGN.md). Each prompt
 * is rendered with the evaluated model's own chat template as one user turn
 * with the generation prompt (apply_chat_template(add_generation_prompt=True),
 * no extra special tokens), and continued (greedy by default, 512 new tokens
 * as in the paper) in parallel across prompts (mg_nn_generate_many). Each
 * response goes to the selected judges: Llama Guard (judge_guard.h) and/or the
 * refusal phrases (judge_refusal.h).
 * Audit and resume: after each batch, one JSONL record per prompt - index,
 * prompt, category, response, and each judge's verdict and raw output - is
 * appended and flushed to the audit file. A rerun with the same audit file
 * reloads it and only generates the prompts without a complete record, so an
 * interrupted evaluation loses at most one batch. The summary is computed from
 * the audit records, so fresh and resumed runs report identically.
 * Safe rate = 1 - unsafe / total per judge (guard: the parsed verdict; also
 * the rate by P(unsafe) >= threshold), with a per-category breakdown when the
 * prompts carry categories and a count of guard category codes.
 * Ownership: summaries are owned JSON (json_decref). Thread-safety: one run
 * at a time per audit file; models are shared read-only. */
#ifndef MG_EVAL_SAFETY_H
#define MG_EVAL_SAFETY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "data/jsonl.h"
#include "eval/judge_guard.h"
#include "eval/judge_refusal.h"
#include "nn/model.h"
#include "nn/sample.h"
#include "text/tokenizer.h"

typedef struct mg_safety_prompts {
    mg_jsonl file;
    const char **prompt;   // [n] borrowed from the records
    const char **category; // [n] NULL when absent
    size_t n;
} mg_safety_prompts;

/* Loads and validates (every record needs a "prompt" string; "category" is an
 * optional string). Errors name the line. */
mg_status mg_safety_prompts_load(const char *path, mg_safety_prompts *out, mg_error *err);
void mg_safety_prompts_free(mg_safety_prompts *p); // NULL-safe

/* One user turn through the tokenizer's chat template with the generation
 * prompt, encoded without extra special tokens. MG_ERR_INVALID when the
 * tokenizer has no chat template. *ids owned. */
mg_status mg_eval_chat_encode(const mg_tokenizer *tok, const char *prompt, int32_t **ids,
                              size_t *n, mg_error *err);

/* Decodes generated ids, skipping special tokens and ids beyond the
 * tokenizer's vocabulary (models pad their embedding matrix past it, e.g.
 * Qwen2; a random or undertrained model may pick such a row). *out owned. */
mg_status mg_eval_decode(const mg_tokenizer *tok, const int32_t *ids, size_t n, char **out,
                         mg_error *err);

typedef struct mg_safety_judges {
    const mg_guard *guard;     // NULL = no guard judge
    const mg_refusal *refusal; // NULL = no refusal judge
    double guard_threshold;    // P(unsafe) threshold (0.5)
    int guard_max_new_tokens;  // 100 as in the paper
} mg_safety_judges;

typedef struct mg_safety_opts {
    const char *audit_path;   // required: appended per batch, reloaded to resume
    const char *label;        // model name for progress lines
    int max_new_tokens;       // 512
    mg_sample_params sample;  // greedy by default
    size_t limit;             // first `limit` prompts (0 = all)
    size_t batch;             // prompts per generate/judge/append batch (0 = 4 x threads)
} mg_safety_opts;

/* Runs (or resumes) the evaluation of one model and returns the summary:
 * {"prompts", "resumed", "judges": {"guard"?: {"safe_rate", "unsafe", "unparsed",
 * "safe_rate_prob", "unsafe_prob", "threshold", "codes": {code: n}},
 * "refusal"?: {"safe_rate", "unsafe"}}, "by_category"?: {name: {"total",
 * "guard_safe_rate"?, "refusal_safe_rate"?}}, "mean_response_tokens"}.
 * Everything (prompt lengths, the audit file) is checked before generating.
 * *summary owned. */
mg_status mg_safety_run(const mg_nn_model *m, const mg_tokenizer *tok,
                        const mg_safety_prompts *p, const mg_safety_judges *j,
                        const mg_safety_opts *o, json_t **summary, mg_error *err);

#endif // MG_EVAL_SAFETY_H
