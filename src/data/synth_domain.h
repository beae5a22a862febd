/* synth_domain.h - D_expert, the paper's self-questioning domain data
 * (section 4.2, App. A.1, Fig. 4; paper.md 4.2).
 *
 * Each expert gets the paper's system prompt "You are an expert in {topic}.
 * ..." with three example questions drawn per call from the example pool (the
 * paper: random items of the domain's validation sets; seeded here), the
 * user turn "While adhering to the JSON format, please generate an example."
 * (the paper's wording), and the released code's JSON-forcing prefix written
 * after the generation prompt (`\n[\n    {\n        "Question": `, so the
 * model only completes the string); it samples at temperature 0.8. The reply
 * is read as prefix + reply (extract_json.h). Questions are deduplicated
 * (exact and after case/whitespace normalization, across experts), questions
 * identical to a pool example are removed (the paper removes copies of an
 * in-context example; every pool item is one for some call), and the expert
 * answers its own questions greedily (512 new tokens). Records: {"prompt",
 * "response", "type": "task", "source": expert}. With E experts, expert e
 * writes n / E records (the first n mod E experts one more), as the paper's
 * K / (N - 1). Resume, determinism and the call cap as in synth_safety.h.
 * Ownership: models and examples borrowed. Thread-safety: one run per output. */
#ifndef MG_DATA_SYNTH_DOMAIN_H
#define MG_DATA_SYNTH_DOMAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "data/synth.h"

/* The default system template ({topic}, {example1}, {example2}, {example3}),
 * user prompt and JSON prefix. Borrowed, static. */
const char *mg_synth_domain_system_template(void);
const char *mg_synth_domain_user_prompt(void);
const char *mg_synth_domain_json_prefix(void);

/* The example pool: every record's "question" (MMLU-style tasks), else
 * "prompt", else "Question" string, in file order, trimmed, empty ones
 * skipped, duplicates (normalized) removed. Errors: no such file, a record
 * with none of the fields, fewer than 3 distinct questions (the prompt shows
 * three). *out owned: free each and the array (mg_synth_examples_free). */
mg_status mg_synth_examples_load(const char *path, char ***out, size_t *n, mg_error *err);
void mg_synth_examples_free(char **ex, size_t n);

typedef struct mg_synth_domain_opts {
    const char *out_path; // required
    const char *topic;    // required: "biology"
    size_t n;             // records wanted, across experts
    uint64_t seed;
    double temperature;        // 0.8
    int gen_max_new_tokens;    // question reply (512)
    int answer_max_new_tokens; // answers (512)
    const char *system_prompt; // NULL: the default template
    const char *user_prompt;   // NULL: the default
    const char *json_prefix;   // NULL: the default; "" for none
    size_t batch;              // calls per batch (0: 4 x threads, >= 8)
    size_t max_calls;          // cap per expert (0: 20 n_e + 100)
    bool force;
    bool progress;
} mg_synth_domain_opts;

void mg_synth_domain_opts_init(mg_synth_domain_opts *o);

/* Runs or resumes. MG_OK when every expert wrote its share; MG_ERR_RUNTIME
 * when an expert hits the call cap (or writes no usable JSON in its first
 * window of calls). *summary (owned, may be NULL) as the file written next to
 * the output: {"kind": "domain", "seed", "topic", "n_requested", "records",
 * "complete", "experts": {name: {"target", "records", "calls",
 * "replies_parsed", "questions", "failures", "duplicates", "copied_example",
 * "too_long", "kept", "next_call"}}, totals of the same counters}. */
mg_status mg_synth_domain_run(const mg_synth_model *experts, size_t n_experts,
                              const char *const *examples, size_t n_examples,
                              const mg_synth_domain_opts *o, json_t **summary, mg_error *err);

#endif // MG_DATA_SYNTH_DOMAIN_H
