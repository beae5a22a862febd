/* train.h - the lab's trainer: AdamW over a Llama model with the backward pass
 * of nn/grad.h, a cosine learning-rate schedule with linear warmup, clipping
 * by global gradient norm, gradient accumulation, packed batches, and
 * checkpoints written as ordinary Hugging Face folders (issue 6).
 *
 * Data: a training set is a list of token sequences, each with the index from
 * which its tokens are predicted with loss (1 for pretraining text, the first
 * response token for SFT: loss only on the response, paper 5.1). Every step
 * takes the next batch_seqs sequences of a seeded per-epoch shuffle and splits
 * them into `accum` micro-batches; the sequences of a micro-batch are packed
 * back to back without padding and attend only within themselves (nn/grad.h).
 * The step's loss is the mean NLL over all its target tokens (each micro-batch
 * is weighted by 1 / the step's target count, so accumulation is exact).
 * Optimizer (PyTorch AdamW semantics): p -= lr * wd * p, then
 * p -= lr * m_hat / (sqrt(v_hat) + eps). Weight decay applies to matrices
 * (projections, embeddings, LM head) and not to 1-D tensors (RMSNorm weights,
 * biases), the usual GPT/Llama recipe choice: decaying a norm's gain towards 0
 * only fights the normalization. Gradients are clipped to a global L2 norm.
 * Determinism: shuffles and initial weights come from the counter RNG keyed by
 * the seed; every kernel is thread-count independent (nn/backward.h) and the
 * norm is a fixed-order reduction, so a run is bit-identical for a given seed
 * whatever the thread count.
 * Ownership: mg_train_set owns copies of its sequences. Thread-safety: one
 * training run per model at a time; it uses all threads (mg_set_threads). */
#ifndef MG_LAB_TRAIN_H
#define MG_LAB_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "io/dtype.h"
#include "nn/model.h"

typedef struct mg_train_example {
    int32_t *ids;   // owned
    int n;          // >= 2
    int loss_start; // 1..n-1: tokens ids[loss_start..n) are predicted with loss
} mg_train_example;

typedef struct mg_train_set {
    mg_train_example *v;
    size_t n, cap;
    size_t tokens; // sum of n
} mg_train_set;

/* Copies ids[0..n); n is capped at max_len (0 = no cap) by dropping the tail.
 * Examples left with no target token are skipped (returns false). */
bool mg_train_set_add(mg_train_set *s, const int32_t *ids, int n, int loss_start, int max_len);
void mg_train_set_free(mg_train_set *s); // leaves s empty

typedef struct mg_train_opts {
    uint64_t seed;       // data order (and nothing else: init is separate)
    int steps;           // optimizer steps; 0 = derived from epochs
    double epochs;       // passes over the data when steps == 0
    int batch_seqs;      // sequences per optimizer step
    int accum;           // micro-batches per step (gradient accumulation), divides batch_seqs
    int max_seq;         // longest sequence (examples must fit; see mg_train_set_add)
    double lr, min_lr;   // peak and final learning rates of the cosine
    int warmup;          // linear warmup steps from 0
    double weight_decay; // decoupled, matrices only
    double beta1, beta2, eps;
    double clip;       // max global gradient L2 norm; 0 = no clipping
    const char *label; // progress label ("base", ...)
} mg_train_opts;

/* lr 1e-3 -> 1e-4, warmup 20, wd 0.1, betas 0.9/0.95, eps 1e-8, clip 1,
 * batch 32 in 1 micro-batch, max_seq 512, 1 epoch, seed 1. */
mg_train_opts mg_train_opts_default(void);

typedef struct mg_train_stats {
    int steps;
    double first_loss; // mean NLL of the first step
    double last_loss;  // mean NLL over the last tenth of the steps
    uint64_t tokens;   // tokens processed (prompt and response)
    uint64_t targets;  // tokens with loss
    double seconds;
} mg_train_stats;

/* The learning rate at step s (0-based) of `steps`: linear warmup to lr over
 * `warmup` steps, then cosine decay to min_lr at the last step. */
double mg_train_lr(const mg_train_opts *o, int step, int steps);

/* Trains m in place. Errors: empty set, bad options (MG_ERR_USAGE naming the
 * option), an example longer than max_seq or with ids outside the vocab. */
mg_status mg_train(mg_nn_model *m, const mg_train_set *data, const mg_train_opts *o,
                   mg_train_stats *stats, mg_error *err);

/* Mean NLL per target token over a set (forward only). */
mg_status mg_train_eval(const mg_nn_model *m, const mg_train_set *data, int max_seq,
                        double *mean_nll, mg_error *err);

/* GPT-2/Llama-style init: every matrix ~ N(0, std^2) from mg_rng_normal keyed
 * by (seed, tensor name), o_proj and down_proj scaled by 1/sqrt(2 n_layers)
 * (residual branches), norms 1. */
void mg_train_init_weights(mg_nn_model *m, uint64_t seed, double std);

/* ---- checkpoints (train_ckpt.c) ---- */

/* config.json for a Llama model of arch a stored as dtype. Owned. */
json_t *mg_train_config_json(const mg_arch *a, mg_dtype dtype);

/* Writes dir as an HF folder, atomically (temporary sibling renamed when
 * complete; an existing dir is refused unless force): config.json,
 * generation_config.json, model.safetensors (dtype F32, BF16 or F16) and the
 * tokenizer files (tokenizer.json, tokenizer_config.json) copied from
 * tokenizer_dir (NULL = none). */
mg_status mg_train_save(const mg_nn_model *m, const char *dir, const char *tokenizer_dir,
                        mg_dtype dtype, bool force, mg_error *err);

#endif // MG_LAB_TRAIN_H
