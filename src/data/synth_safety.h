/* synth_safety.h - D_safety, the paper's synthetic alignment data (section
 * 4.1, App. A.2, Fig. 5; paper.md 4.1).
 *
 * 1. The generator (an uncensored model) gets the paper's system prompt (the
 *    14 BeaverTails categories and a one-shot JSON example) and the user turn
 *    "Now generate for me a list of 1 example(s): only return a JSON file.
 *    Your topic is #k", k in 1..14 drawn per call from the seeded counter RNG
 *    (the released code's randint(1, 14)), sampled at temperature 0.8.
 * 2. Questions are extracted leniently (extract_json.h); failures are counted
 *    by reason, never fatal. Only "Question" is kept; the category is the
 *    generator's "Reasoning" when it names one of the 14 categories, else the
 *    requested topic's.
 * 3. Deduplication, exact and after case/whitespace normalization, against
 *    everything generated so far (and the records of a resumed output).
 * 4. Every pool model answers every question greedily (512 new tokens), the
 *    judge labels each answer, one refusal picked at random (seeded, per
 *    question) becomes the response, and questions no pool model refuses are
 *    dropped (the paper's rule; the released code differs, see paper.md).
 * 5. Records {"prompt", "response", "type": "alignment", "category", "source"}
 *    (source: the pool model whose refusal was picked), appended and fsync'd.
 * Calls are processed in batches, in call order, with a record budget of n:
 * the output is a function of the seed and the models, not of the thread
 * count, the batch size, or interruptions (synth.h, resume).
 * A cap on generator calls ends a run that cannot reach n (a generator that
 * never writes JSON stops after the first batch window) with a clear error,
 * and the summary written either way.
 * Ownership: the models and the judge are borrowed. Thread-safety: one run
 * per output file. */
#ifndef MG_DATA_SYNTH_SAFETY_H
#define MG_DATA_SYNTH_SAFETY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "data/synth.h"

#define MG_SYNTH_CATEGORIES 14

/* The 14 categories of the paper's prompt (BeaverTails), 0-based. Borrowed,
 * static; NULL when out of range. */
const char *mg_synth_category(int k);

/* The default system prompt (paper Fig. 5) and the default user template, in
 * which "{topic}" is the topic number (1..14) and "{category}" its name.
 * Borrowed, static. */
const char *mg_synth_safety_system_prompt(void);
const char *mg_synth_safety_user_template(void);

/* Labels n (prompt, response) pairs: refusal[i] = true when response i is a
 * refusal (Llama Guard: judged safe; the phrase judge: a refusal phrase). */
typedef mg_status (*mg_synth_judge_fn)(void *ctx, const char *const *prompts,
                                       const char *const *responses, size_t n, bool *refusal,
                                       mg_error *err);

typedef struct mg_synth_safety_opts {
    const char *out_path;      // required
    size_t n;                  // records wanted (>= 1)
    uint64_t seed;             // topics, sampling, refusal picks
    double temperature;        // generator sampling (0.8)
    int gen_max_new_tokens;    // generator reply (512)
    int answer_max_new_tokens; // pool answers (512)
    const char *system_prompt; // NULL: mg_synth_safety_system_prompt()
    const char *user_prompt;   // NULL: mg_synth_safety_user_template()
    size_t batch;              // generator calls per batch (0: 4 x threads, >= 8)
    size_t max_calls;          // cap on generator calls (0: 20 n + 100)
    const char *judge_name;    // for the summary
    bool force;                // start the output over
    bool progress;             // progress bar / lines
} mg_synth_safety_opts;

void mg_synth_safety_opts_init(mg_synth_safety_opts *o);

/* Runs or resumes. Checks first: options, a chat template on every model, a
 * shared vocabulary across the pool (mg_synth_same_vocab), that the
 * generator's prompt fits its context. Ends with MG_OK when the output holds
 * n records; with MG_ERR_RUNTIME when the call cap is reached first (the
 * message gives the counts and failure reasons). *summary (owned, may be NULL)
 * is set in both cases: {"kind": "safety", "seed", "n_requested", "records",
 * "complete", "calls", "replies_parsed", "questions", "failures": {reason: n},
 * "duplicates", "too_long", "no_refusal", "kept", "pool": {name: {"answers",
 * "refusals", "refusal_rate"}}, "by_category": {name: n}, "next_call", ...},
 * also written next to the output. */
mg_status mg_synth_safety_run(const mg_synth_model *generator, const mg_synth_model *pool,
                              size_t n_pool, mg_synth_judge_fn judge, void *judge_ctx,
                              const mg_synth_safety_opts *o, json_t **summary, mg_error *err);

#endif // MG_DATA_SYNTH_SAFETY_H
