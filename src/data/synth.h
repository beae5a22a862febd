/* synth.h - what the synthetic-data pipelines (synth_safety, synth_domain;
 * paper section 4) share: a model with its tokenizer, chat-prompt encoding,
 * batched generation to text, the vocabulary check of a pool, the dedup set,
 * and the resumable output (records appended and fsync'd one by one, a state
 * summary rewritten atomically after each batch).
 *
 * Resume: the summary next to the output ("X.jsonl" -> "X.summary.json") is
 * the checkpoint: it is written when a run starts and rewritten only after a
 * batch's records are on disk, and holds the counters, the next generation
 * call, the record count and the questions that were seen but dropped
 * ("dropped_questions": too long, no refusal, not needed), which an
 * uninterrupted run keeps in its dedup set. On open, a last line without its
 * newline (a record cut by a crash or SIGKILL) is cut off, and records past
 * the summary's count (a batch a kill interrupted) are cut too; the complete
 * records and the dropped questions seed the dedup set. The rerun repeats the
 * interrupted batch's calls and gets the same questions and answers
 * (generation is a function of (seed, call)), so both the records and the
 * summary end byte-identical to an uninterrupted run's.
 *
 * Ownership: mg_synth_model borrows everything; mg_synth_out and mg_synth_seen
 * own their contents (_close/_free). Thread-safety: one pipeline per output;
 * generation runs its sequences in parallel (mg_nn_generate_many). */
#ifndef MG_DATA_SYNTH_H
#define MG_DATA_SYNTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "data/extract_json.h"
#include "data/jsonl.h"
#include "nn/model.h"
#include "text/tokenizer.h"

typedef struct mg_synth_model {
    const char *name;         // for "source" and messages
    const mg_nn_model *model; // borrowed
    const mg_tokenizer *tok;  // borrowed; needs a chat template
    const int32_t *stop_ids;  // borrowed; NULL = the tokenizer's stop ids
    size_t n_stop;
} mg_synth_model;

/* "path/to/model/" -> "model" (the last path component). Owned. */
char *mg_synth_model_name(const char *path);

/* MG_ERR_INVALID unless a and b have the same vocabulary: the same size and
 * the same token string for every id (a pool is merged, so its models must
 * share one tokenizer). The message names both models and the first
 * difference. */
mg_status mg_synth_same_vocab(const mg_synth_model *a, const mg_synth_model *b, mg_error *err);

/* The ids of [system?, user] through m's chat template with the generation
 * prompt (no extra special tokens, as apply_chat_template), followed by the
 * raw text prefix (may be NULL; the paper's JSON-forcing prefix). A template
 * that rejects a system turn gets system + "\n\n" + user as one user turn.
 * *ids owned. */
mg_status mg_synth_encode(const mg_synth_model *m, const char *system, const char *user,
                          const char *prefix, int32_t **ids, size_t *n, mg_error *err);

/* Generates for n prompts in parallel and decodes (special tokens and ids
 * past the vocabulary skipped). temperature 0 = greedy; prompt i samples with
 * stream `stream + i` under `seed`. texts[i] owned; ntok (may be NULL) gets
 * the generated token counts. On error nothing is kept. */
mg_status mg_synth_generate(const mg_synth_model *m, int32_t *const *prompts, const size_t *lens,
                            size_t n, double temperature, uint64_t seed, uint64_t stream,
                            int max_new_tokens, char **texts, int *ntok, mg_error *err);

/* Whether a prompt of n tokens leaves room for one generated token. */
bool mg_synth_fits(const mg_synth_model *m, size_t n);
/* The sampling options both generators take: temperature >= 0 and both
 * max-new-token counts in 1..MG_GEN_MAX_NEW_TOKENS; MG_ERR_USAGE otherwise. */
mg_status mg_synth_check_sampling(double temperature, int gen_max_new_tokens,
                                  int answer_max_new_tokens, mg_error *err);

/* Replaces every "{name}" in tmpl by val. Owned. */
char *mg_synth_subst(const char *tmpl, const char *name, const char *val);

/* ---- Dedup set (normalized questions, mg_extract_normalize) ---- */
typedef struct mg_synth_seen mg_synth_seen;
mg_synth_seen *mg_synth_seen_new(void);
void mg_synth_seen_free(mg_synth_seen *s); // NULL-safe
/* True when q (normalized) was already added; otherwise adds it. */
bool mg_synth_seen_add(mg_synth_seen *s, const char *q);
bool mg_synth_seen_has(const mg_synth_seen *s, const char *q);

/* ---- Resumable output ---- */
typedef struct mg_synth_out {
    char *path;         // owned
    char *summary_path; // owned: X.summary.json next to X.jsonl
    FILE *f;            // open for appending
    mg_jsonl done;      // complete records found at open
    json_t *state;      // the previous summary, or NULL (owned)
    json_t *dropped;    // questions seen but not kept, in order (owned JSON array)
} mg_synth_out;

/* Opens path for appending (creating it), after cutting an incomplete last
 * line and loading the complete records. force: start over (the file and its
 * summary are emptied). A summary of another kind ("safety"/"domain") or seed
 * is refused (MG_ERR_INVALID), as mixing two runs in one file breaks
 * determinism; so is a record without a "prompt" string. */
mg_status mg_synth_out_open(const char *path, const char *kind, uint64_t seed, bool force,
                            mg_synth_out *o, mg_error *err);
/* Appends one record (compact line) and fsyncs it. */
mg_status mg_synth_out_append(mg_synth_out *o, const json_t *rec, mg_error *err);
/* Writes the summary atomically (replacing the previous one), with the
 * dropped questions added under "dropped_questions" (summary is unchanged). */
mg_status mg_synth_out_summary(mg_synth_out *o, const json_t *summary, mg_error *err);
/* Records that q entered the dedup set without becoming a record. */
void mg_synth_out_drop(mg_synth_out *o, const char *q);
/* Adds the prompts of the loaded records and the dropped questions to seen. */
void mg_synth_out_seed(const mg_synth_out *o, mg_synth_seen *seen);
void mg_synth_out_close(mg_synth_out *o); // NULL-safe, leaves o empty

/* Integer counter `key` of the previous state (0 when absent). */
uint64_t mg_synth_state_u64(const json_t *state, const char *key);

/* "failures": {reason: count} for the extraction reasons (OK skipped). Owned. */
json_t *mg_synth_failures_json(const uint64_t fail[MG_EXTRACT_REASONS]);
/* Reads it back from a previous state. */
void mg_synth_failures_load(const json_t *state, uint64_t fail[MG_EXTRACT_REASONS]);
/* "no_json 12, truncated 3" for messages (into buf). */
void mg_synth_failures_str(const uint64_t fail[MG_EXTRACT_REASONS], char *buf, size_t cap);

#endif // MG_DATA_SYNTH_H
