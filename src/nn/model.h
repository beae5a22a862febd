/* model.h - a transformer's weights in float32, bound to its architecture.
 *
 * All weights live in one owned, 64-byte aligned block. Per layer, q/k/v
 * projections are stored as one stacked [q_dim + 2*kv_dim, hidden] matrix and
 * gate/up as one [2*ffn, hidden] matrix, so each needs one GEMM; every HF
 * tensor is still a contiguous row range of its stack, exposed under its HF
 * name (model.layers.N.self_attn.q_proj.weight, ...) by mg_nn_model_find.
 * That is the caller-supplied-buffers API of data-aware merging: create a
 * model (mg_nn_model_new), write merged weights straight into the named
 * buffers, run it, overwrite, run again - nothing goes through a file.
 * With tie_word_embeddings the LM head is the embedding matrix (no
 * lm_head.weight entry). bf16/f16/f64 checkpoints are converted to f32 once,
 * at load (mg_nn_model_load in load.h), or kept as bf16 on request
 * (mg_nn_model_new_as).
 * Ownership: mg_nn_model_new/_free. Thread-safety: a model is read-only during
 * forward passes; any number of threads may run it at once with their own
 * mg_nn_state. Writing weights while a forward pass runs is a data race. */
#ifndef MG_NN_MODEL_H
#define MG_NN_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "io/dtype.h"
#include "nn/arch.h"

/* A weight matrix [rows, cols], stored as f32 or as bf16 (exactly one set). */
typedef struct mg_nn_mat {
    float *f32;
    uint16_t *bf16;
} mg_nn_mat;

typedef struct mg_nn_layer {
    float *attn_norm; // [hidden] input_layernorm
    mg_nn_mat wqkv;   // [q_dim + 2*kv_dim, hidden]: q_proj rows, then k_proj, then v_proj
    float *bqkv;      // [q_dim + 2*kv_dim] or NULL
    float *q_norm;    // [head_dim] or NULL (Qwen3)
    float *k_norm;    // [head_dim] or NULL (Qwen3)
    mg_nn_mat wo;     // [hidden, q_dim] o_proj
    float *bo;        // [hidden] or NULL
    float *ffn_norm;  // [hidden] post_attention_layernorm
    mg_nn_mat wgu;    // [2*ffn, hidden]: gate_proj rows, then up_proj
    mg_nn_mat wdown;  // [hidden, ffn] down_proj
} mg_nn_layer;

/* One HF tensor: a writable view into the model's block. */
typedef struct mg_nn_tensor {
    char name[96];
    int ndim;         // 1 or 2
    int64_t shape[2]; // HF shape ([out, in] for matrices)
    size_t numel;
    float *data;    // f32 storage, or NULL when stored as bf16
    uint16_t *bf16; // bf16 storage (matrices of a bf16 model), else NULL
} mg_nn_tensor;

typedef struct mg_nn_model {
    mg_arch arch;
    mg_dtype matrix_dtype; // MG_DTYPE_F32 or MG_DTYPE_BF16 (2-D weights; 1-D are f32)
    mg_nn_layer *layers;   // [n_layers]
    mg_nn_mat embed;       // [vocab, hidden] model.embed_tokens.weight
    float *final_norm;     // [hidden] model.norm.weight
    mg_nn_mat lm_head;     // [vocab, hidden]; == embed when tied
    mg_nn_tensor *tensors; // every HF tensor of the model, sorted by name
    size_t n_tensors;
    void *block; // owned storage of all weights
    size_t block_bytes;
} mg_nn_model;

/* Allocates a model for arch with every weight zeroed, except norm weights
 * (1.0), all f32. Biases exist when arch->qkv_bias / o_bias say so. *out
 * owned. Fails (MG_ERR_INVALID) when the weight count overflows. */
mg_status mg_nn_model_new(const mg_arch *arch, mg_nn_model **out, mg_error *err);
/* The same with the 2-D weights stored as matrix_dtype (MG_DTYPE_F32 or
 * MG_DTYPE_BF16). bf16 storage halves memory and the bytes a decode step
 * reads (decode is memory-bound); compute stays f32: rows are widened inside
 * the GEMV kernel, and tiles are widened before sgemm in prefill. */
mg_status mg_nn_model_new_as(const mg_arch *arch, mg_dtype matrix_dtype, mg_nn_model **out,
                             mg_error *err);
void mg_nn_model_free(mg_nn_model *m); // NULL-safe

/* The tensor with this HF name, or NULL. Borrowed (writable data). */
const mg_nn_tensor *mg_nn_model_find(const mg_nn_model *m, const char *name);

/* Total weights (floats) and parameter count as the checkpoint counts them
 * (a tied LM head counted once). */
size_t mg_nn_model_param_count(const mg_nn_model *m);

#endif // MG_NN_MODEL_H
