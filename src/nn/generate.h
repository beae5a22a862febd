/* generate.h - autoregressive generation with a KV cache.
 *
 * The prompt goes through as one batched prefill (logits of its last row only),
 * then one token per step through the cache. Generation stops at any of the
 * caller's stop ids (EOS ids from config.json / generation_config.json and the
 * chat template's end-of-turn tokens; the stop token is not part of the
 * output), after max_new_tokens, when the context window is full, or when the
 * streaming callback returns false. Several prompts can be generated at once
 * with mg_nn_generate_many, one sequence per thread; each sequence's tokens
 * depend only on its prompt and (seed, stream), so they do not change with the
 * thread count or with which other prompts are in the batch.
 * Ownership: results own their ids (mg_gen_result_free). Thread-safety: one
 * state per thread; the model is shared read-only. */
#ifndef MG_NN_GENERATE_H
#define MG_NN_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/forward.h"
#include "nn/sample.h"

/* The cap on new tokens per generation (also per sequence of
 * mg_nn_generate_many): a request above it is refused (MG_ERR_USAGE) before
 * anything is allocated, since the KV cache is sized up front for prompt +
 * max_new_tokens (at most the context window). Generation itself stops at a
 * stop id, at max_new_tokens (MG_GEN_STOP_LENGTH) or when the context window
 * is full (MG_GEN_STOP_CONTEXT). */
#define MG_GEN_MAX_NEW_TOKENS 1048576

typedef struct mg_gen_params {
    mg_sample_params sample;
    int max_new_tokens;      // 1..MG_GEN_MAX_NEW_TOKENS
    const int32_t *stop_ids; // borrowed, may be NULL
    size_t n_stop;
    uint64_t stream; // random stream (sequences sharing a seed differ by it)
    int vocab_limit; // > 0: ids >= this are never produced (the tokenizer's
                     // vocabulary can be smaller than the padded embedding)
} mg_gen_params;

typedef enum mg_gen_stop {
    MG_GEN_STOP_TOKEN = 0, // a stop id was produced
    MG_GEN_STOP_LENGTH,    // max_new_tokens reached
    MG_GEN_STOP_CONTEXT,   // the context window is full
    MG_GEN_STOP_CALLBACK,  // the callback asked to stop
} mg_gen_stop;

typedef struct mg_gen_result {
    int32_t *ids; // generated ids without the stop token; owned
    int n;
    mg_gen_stop stop;
    int32_t stop_id; // the stop token when stop == MG_GEN_STOP_TOKEN, else -1
} mg_gen_result;

/* Called with each generated id (not the stop token) as soon as it exists;
 * return false to end generation. */
typedef bool (*mg_gen_token_fn)(void *ctx, int32_t id);

/* MG_ERR_USAGE / MG_ERR_INVALID for invalid sampling parameters or a
 * max_new_tokens < 1. */
mg_status mg_gen_params_check(const mg_gen_params *p, mg_error *err);

/* Appends prompt[0..n_prompt) to state s at its current position (s == NULL:
 * a fresh internal state sized for the prompt plus max_new_tokens, capped at
 * the model's context window) and generates. Errors (nothing generated): empty
 * prompt, a prompt that does not fit the context window with room for one
 * token, invalid parameters. cb may be NULL. *out owned. */
mg_status mg_nn_generate(const mg_nn_model *m, mg_nn_state *s, const int32_t *prompt, int n_prompt,
                         const mg_gen_params *p, mg_gen_token_fn cb, void *ctx, mg_gen_result *out,
                         mg_error *err);

/* Generates for n prompts in parallel (one thread per sequence); prompt i uses
 * random stream p->stream + i. out[0..n) owned. On error no result is kept. */
mg_status mg_nn_generate_many(const mg_nn_model *m, const int32_t *const *prompts,
                              const int *n_prompts, size_t n, const mg_gen_params *p,
                              mg_gen_result *out, mg_error *err);

void mg_gen_result_free(mg_gen_result *r); // NULL-safe, leaves r empty

#endif // MG_NN_GENERATE_H
