/* model_dir.h - a Hugging Face model folder: config.json, safetensors shards
 * (single file or model.safetensors.index.json), tokenizer and generation files.
 *
 * Opening validates config.json (parsed, typed fields below), every shard, and
 * the index (every shard present, no tensor in two shards, each tensor in the
 * shard the index names, shards agreeing on the dtype of their matrices). A path to a single .safetensors file opens it with
 * no config (config.present == false). Pickled checkpoints (pytorch_model*.bin,
 * *.pt, *.pth, *.ckpt) are refused without reading them: loading them executes
 * code. Thread-safety: an open mg_model is read-only. */
#ifndef MG_IO_MODEL_DIR_H
#define MG_IO_MODEL_DIR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "io/safetensors.h"

/* config.json files larger than this are refused (real ones are a few KB). */
#define MG_CONFIG_JSON_MAX ((uint64_t)16 << 20)

typedef struct mg_model_config {
    bool present;                  // false for a bare .safetensors file
    char architecture[128];        // architectures[0], "" when absent
    char model_type[64];
    int64_t hidden_size, intermediate_size, num_hidden_layers;
    int64_t num_attention_heads, num_key_value_heads, head_dim; // head_dim derived if absent
    int64_t vocab_size, max_position_embeddings;
    double rope_theta, rms_norm_eps;
    bool tie_word_embeddings;      // false when absent, as HF's Llama/Qwen configs default
    char torch_dtype[32];          // "" when absent
    const json_t *json;            // the whole config.json, borrowed until close
} mg_model_config;

typedef struct mg_model mg_model;

/* Opens a model folder or a single .safetensors file. *out owned: mg_model_close. */
mg_status mg_model_open(const char *path, mg_model **out, mg_error *err);
void mg_model_close(mg_model *m); // NULL-safe

const char *mg_model_path(const mg_model *m);
const mg_model_config *mg_model_config_of(const mg_model *m);
size_t mg_model_shard_count(const mg_model *m);
const mg_st_file *mg_model_shard(const mg_model *m, size_t i);

/* All tensors across shards, sorted by name. Borrowed, valid until close. */
size_t mg_model_tensor_count(const mg_model *m);
const mg_tensor_view *mg_model_tensor_at(const mg_model *m, size_t i);
/* Exact lookup; NULL when absent. */
const mg_tensor_view *mg_model_find(const mg_model *m, const char *name);
/* Lookup with the tied-embedding fallback: lm_head.weight <-> model.embed_tokens.weight. */
const mg_tensor_view *mg_model_find_tied(const mg_model *m, const char *name);
/* Reads a tensor (with the tied fallback) into a new owned f32 buffer
 * (mg_aligned_alloc; free with free()). MG_ERR_NOT_FOUND names the tensor. */
mg_status mg_model_read_f32(const mg_model *m, const char *name, float **out,
                            const mg_tensor_view **view, mg_error *err);
/* Total parameter count (sum of numel). */
uint64_t mg_model_param_count(const mg_model *m);

/* Path of a side file in the folder if it exists (tokenizer.json, ...), else NULL.
 * Owned, free with free(). */
char *mg_model_file(const mg_model *m, const char *name);

#endif // MG_IO_MODEL_DIR_H
