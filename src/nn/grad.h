/* grad.h - training forward with an activation cache, and the full backward
 * pass of a Llama model: the gradient of the masked cross-entropy.
 *
 * A batch is a set of sequences packed one after another into n_tokens rows
 * (no padding): every per-token op (norms, projections, MLP, LM head) runs on
 * all rows at once, attention runs per sequence with positions restarting at 0,
 * so sequences never see each other. targets[i] is the id the model should
 * predict after token i, or -1 for no loss there (the prompt of an SFT record,
 * the last token of a sequence): the loss is masked cross-entropy, "loss only
 * on response tokens" (paper 5.1, HF labels = -100).
 * The forward is the runtime's (nn/forward.c) op for op, with the runtime's
 * kernels (nn/kernels.h); the cache keeps, per layer, the residual stream
 * before each block, the normed inputs, q/k/v after RoPE, the attention output
 * and the gate/up projections: (4 hidden + 2 q_dim + 2 kv_dim + 2 ffn) floats
 * per token and layer. Logits exist only for rows with a target, a chunk of
 * rows at a time, so the LM head never needs [n_tokens x vocab] floats.
 * Supported: LlamaForCausalLM-style models (tied or untied LM head, any GQA
 * ratio, any RoPE scaling); biases, q/k norms and sliding windows are
 * MG_ERR_UNSUPPORTED.
 * Gradients are ADDED into a second model of the same architecture used as
 * gradient storage (same block layout, so the optimizer runs over one flat
 * array); with a tied head the embedding gradient receives both uses.
 * Determinism: bit-identical results for any thread count (fixed chunks, see
 * nn/backward.h; attention over sequences is scheduled dynamically, but every
 * sequence is computed the same way by whichever thread takes it).
 * Ownership: mg_nn_grad_ws_new/_free; the workspace borrows nothing.
 * Thread-safety: one workspace per concurrent call; the model is read-only. */
#ifndef MG_NN_GRAD_H
#define MG_NN_GRAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/model.h"

typedef struct mg_nn_batch {
    const int32_t *tokens;  // [n_tokens] input ids, sequences back to back
    const int32_t *targets; // [n_tokens] id to predict after each token, -1 = none
    const int *seq_start;   // [n_seq + 1]: sequence s is rows seq_start[s] .. seq_start[s+1)-1
    int n_tokens, n_seq;
} mg_nn_batch;

typedef struct mg_nn_grad_ws mg_nn_grad_ws;

/* A workspace for batches of up to max_tokens tokens in sequences of up to
 * max_seq tokens (<= max_position_embeddings). Checks that the architecture
 * is supported. *out owned. */
mg_status mg_nn_grad_ws_new(const mg_arch *arch, int max_tokens, int max_seq, mg_nn_grad_ws **out,
                            mg_error *err);
void mg_nn_grad_ws_free(mg_nn_grad_ws *ws); // NULL-safe
/* Bytes the workspace holds (activation cache and scratch). */
size_t mg_nn_grad_ws_bytes(const mg_nn_grad_ws *ws);

/* Checks a batch against the workspace and the vocabulary (errors name the
 * row or the sequence). */
mg_status mg_nn_batch_check(const mg_nn_grad_ws *ws, const mg_nn_batch *b, int vocab,
                            mg_error *err);

/* Forward + backward: adds weight * d(sum of the target tokens' NLL)/d(theta)
 * into grad (a model of m's architecture; mg_nn_grad_zero clears it). Returns
 * the unweighted summed NLL (nats, double) and the number of target tokens.
 * Weight 1/(target tokens of the optimizer step) gives the token-mean loss. */
mg_status mg_nn_grad_batch(const mg_nn_model *m, mg_nn_model *grad, mg_nn_grad_ws *ws,
                           const mg_nn_batch *b, double weight, double *sum_nll, int *count,
                           mg_error *err);
/* Forward only: the summed NLL and count (validation, tests). */
mg_status mg_nn_loss_batch(const mg_nn_model *m, mg_nn_grad_ws *ws, const mg_nn_batch *b,
                           double *sum_nll, int *count, mg_error *err);

/* A gradient buffer for m's architecture, all zeros. *out owned. */
mg_status mg_nn_grad_new(const mg_nn_model *m, mg_nn_model **out, mg_error *err);
/* Sets every gradient to zero. */
void mg_nn_grad_zero(mg_nn_model *grad);

#endif // MG_NN_GRAD_H
