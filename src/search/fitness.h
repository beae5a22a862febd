/* fitness.h - the data-aware merging objective: response cross-entropy of a
 * candidate model on alignment and task records.
 *
 * Records are JSONL lines {"prompt", "response", "type": "alignment"|"task",
 * ...} (DESIGN.md). Each is tokenized once, at load:
 *  - chat mode (EvoMM, paper §5.1): [user: prompt, assistant: response]
 *    rendered with the tokenizer's chat template (or an override), the
 *    response span being every token after the generation prompt
 *    (mg_chat_encode_pair), as the paper's repo masks prompt labels with -100;
 *  - raw mode (LM-Cocktail as FlagEmbedding does it): encode(prompt + ' ' +
 *    response) with the tokenizer's special tokens, then EOS; the response
 *    starts after encode(prompt).
 * Sequences are cut at max_len tokens (the repo truncates at 2048) and at the
 * model's context window; records left without a response token are dropped
 * and counted. A record's loss is its mean token CE (HF's model(...).loss);
 * a type's CE is the mean over its records; the fitness is
 *     L = alignment_weight * CE_alignment + task_weight * CE_task
 * (paper Eq. 5 with alpha = task_weight = 0.3, alignment_weight = 1), which
 * CMA-ES minimises. Each type can be subsampled to samples_per_type records,
 * a seeded choice that keeps file order. Records of a type with weight 0 are
 * still scored and reported (ce[]), they just do not enter L.
 *
 * Ownership: mg_fitness_load returns an owned object (mg_fitness_free) that
 * keeps its own token ids. Thread-safety: read-only after loading; evaluation
 * is reentrant (the model is read-only during scoring). */
#ifndef MG_SEARCH_FITNESS_H
#define MG_SEARCH_FITNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/model.h"
#include "text/tokenizer.h"

enum { MG_FIT_ALIGNMENT = 0, MG_FIT_TASK = 1, MG_FIT_TYPES = 2 };

typedef struct mg_fitness_options {
    double weight[MG_FIT_TYPES]; // alignment 1.0, task (alpha) 0.3
    int64_t samples_per_type;    // 0 = every record
    uint64_t seed;               // subsampling seed
    int max_len;                 // tokens per record (0 = 2048)
    int model_ctx;               // the model's context window (0 = no extra cap)
    bool raw;                    // LM-Cocktail raw mode instead of the chat template
    bool allow_missing_types;    // don't fail when a weighted type has no records
} mg_fitness_options;

/* Defaults above. */
mg_fitness_options mg_fitness_defaults(void);

typedef struct mg_fitness_result {
    double loss;             // the combined objective L
    double ce[MG_FIT_TYPES]; // mean CE per type (NaN when the type has no records)
    double seconds;          // scoring time
} mg_fitness_result;

typedef struct mg_fitness mg_fitness;

/* Reads and tokenizes `data` (JSONL). Errors name the file and line (bad JSON,
 * missing prompt/response, unknown type) and fail when a type with a positive
 * weight has no records. */
mg_status mg_fitness_load(const char *data, const mg_tokenizer *tok, const mg_fitness_options *opt,
                          mg_fitness **out, mg_error *err);
void mg_fitness_free(mg_fitness *f); // NULL-safe

/* Records used per type (after subsampling and dropping), records read,
 * dropped for having no response token left after truncation. */
size_t mg_fitness_count(const mg_fitness *f, int type);
size_t mg_fitness_read(const mg_fitness *f, int type);
size_t mg_fitness_dropped(const mg_fitness *f);
const mg_fitness_options *mg_fitness_opts(const mg_fitness *f);

/* Scores the model; deterministic whatever the thread count (nn/score.h). */
mg_status mg_fitness_eval(const mg_fitness *f, const mg_nn_model *m, mg_fitness_result *r,
                          mg_error *err);

#endif // MG_SEARCH_FITNESS_H
