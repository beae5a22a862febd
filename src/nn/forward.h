/* forward.h - the forward pass: batched prefill and KV-cached decoding.
 *
 * An mg_nn_state holds one sequence's KV cache (f32, token-major, per layer
 * [n_ctx, kv_dim]), RoPE tables for positions [0, n_ctx), and activation
 * scratch for up to n_batch tokens per step. mg_nn_forward appends tokens at
 * the next positions: a prompt of n tokens goes through in chunks of n_batch
 * rows with GEMMs, a decode step is the same call with one token (GEMV). Logits
 * are computed only for the rows asked for (the LM head is the largest matrix;
 * scoring skips it for prompt tokens, generation needs only the last row).
 * The HF forward of Llama/Mistral/Qwen2/Qwen3: pre-norm blocks,
 * x += o(attn(rope(q), rope(k), v)); x += down(silu(gate) * up); final norm.
 * Ownership: states are owned by the caller (_new/_free) and borrow the model,
 * which must outlive them. Thread-safety: one state per thread; many states
 * may run one model concurrently. Inside an OpenMP parallel region a forward
 * pass runs on the calling thread alone (parallelize across sequences); at top
 * level it uses all threads (BLAS and our loops). */
#ifndef MG_NN_FORWARD_H
#define MG_NN_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/model.h"

typedef struct mg_nn_state mg_nn_state;

/* A state for sequences of up to n_ctx tokens (capped at the model's
 * max_position_embeddings with MG_ERR_INVALID), processing up to n_batch
 * tokens per internal step (0 = min(n_ctx, 512)). *out owned. */
mg_status mg_nn_state_new(const mg_nn_model *m, int n_ctx, int n_batch, mg_nn_state **out,
                          mg_error *err);
void mg_nn_state_free(mg_nn_state *s); // NULL-safe
/* Forgets the sequence (position back to 0); keeps the buffers. */
void mg_nn_state_reset(mg_nn_state *s);
/* Tokens in the cache (the position of the next token). */
int mg_nn_state_pos(const mg_nn_state *s);
int mg_nn_state_ctx(const mg_nn_state *s);
/* Drops cached tokens from position pos on (pos <= current position). */
void mg_nn_state_truncate(mg_nn_state *s, int pos);

/* Runs tokens[0..n) at positions pos .. pos+n-1 and appends them to the cache.
 * Writes the logits of rows first_out .. n-1 into logits[(i - first_out) *
 * vocab] (first_out == n: none, logits may be NULL). Errors (nothing changes):
 * n == 0, a token id outside [0, vocab) (named with its index), or pos + n
 * beyond the state's n_ctx ("context window"). */
mg_status mg_nn_forward(const mg_nn_model *m, mg_nn_state *s, const int32_t *tokens, int n,
                        int first_out, float *logits, mg_error *err);

#endif // MG_NN_FORWARD_H
