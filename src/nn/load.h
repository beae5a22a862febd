/* load.h - binds a Hugging Face model folder's weights to an mg_nn_model.
 *
 * mg_nn_model_load opens the folder (io/model_dir.h), reads the architecture
 * from config.json (nn/arch.h), allocates the model and copies every tensor
 * into it, converting bf16/f16/f64 to f32 once (or keeping bf16, see
 * mg_nn_weights). Each expected tensor must be
 * present with its exact shape; a missing or mis-shaped tensor is an error that
 * names it with the expected and found shapes. q/k/v (and o) biases are used
 * when the checkpoint has them, whatever the config says (Qwen2 configs carry
 * no attention_bias key). Tensors the model does not use (rotary inv_freq
 * buffers, ...) are ignored.
 * Ownership: the returned model is owned (mg_nn_model_free); the folder is
 * closed before returning. Thread-safe (no shared state). */
#ifndef MG_NN_LOAD_H
#define MG_NN_LOAD_H

#include "base/error.h"
#include "io/model_dir.h"
#include "nn/model.h"

/* How the 2-D weights are held in memory. */
typedef enum mg_nn_weights {
    MG_NN_WEIGHTS_F32 = 0, // converted to f32 once (writable, merge-ready)
    MG_NN_WEIGHTS_BF16,    // bf16 (f32/f16 checkpoints are rounded once)
    MG_NN_WEIGHTS_AUTO,    // bf16 when the checkpoint is bf16 (exact), else f32
} mg_nn_weights;

/* Loads path (a model folder) with f32 weights. *out owned. */
mg_status mg_nn_model_load(const char *path, mg_nn_model **out, mg_error *err);
mg_status mg_nn_model_load_as(const char *path, mg_nn_weights weights, mg_nn_model **out,
                              mg_error *err);

/* The same from an already open folder (which stays open). *out owned. */
mg_status mg_nn_model_from_dir(const mg_model *dir, mg_nn_model **out, mg_error *err);
mg_status mg_nn_model_from_dir_as(const mg_model *dir, mg_nn_weights weights, mg_nn_model **out,
                                  mg_error *err);

/* Copies the tensors of an open folder into an existing model of the same
 * architecture (every tensor of m must be present with its shape). A tensor
 * holding NaN or Inf is refused (MG_ERR_INVALID, naming it). */
mg_status mg_nn_model_fill(mg_nn_model *m, const mg_model *dir, mg_error *err);

#endif // MG_NN_LOAD_H
