/* arch.h - the transformer architecture a config.json describes.
 *
 * Reads the fields the forward pass needs from a Hugging Face config.json and
 * checks them for consistency before any weight is touched. Supported
 * (decoder-only, pre-norm RMSNorm, SwiGLU MLP, RoPE in HF's rotate-half layout):
 *   LlamaForCausalLM   (Llama 2/3/3.1/3.2; rope_scaling "linear" and "llama3")
 *   MistralForCausalLM (sliding window attention when sliding_window is set)
 *   Qwen2ForCausalLM   (q/k/v biases; sliding window only with use_sliding_window)
 *   Qwen3ForCausalLM   (per-head RMSNorm of q and k before RoPE)
 * Any other architecture is MG_ERR_UNSUPPORTED with a message listing these.
 * Defaults follow the HF config classes: head_dim = hidden / heads when absent,
 * num_key_value_heads = heads when absent, tie_word_embeddings false when
 * absent, rope_theta 10000 when absent.
 * Ownership: mg_arch is a plain value (no pointers). Thread-safe, no state. */
#ifndef MG_NN_ARCH_H
#define MG_NN_ARCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef enum mg_arch_family {
    MG_ARCH_LLAMA = 0,
    MG_ARCH_MISTRAL,
    MG_ARCH_QWEN2,
    MG_ARCH_QWEN3,
} mg_arch_family;

typedef enum mg_rope_scaling {
    MG_ROPE_NONE = 0,
    MG_ROPE_LINEAR, // inv_freq / factor (HF "linear")
    MG_ROPE_LLAMA3, // HF _compute_llama3_parameters: per-frequency smooth interpolation
} mg_rope_scaling;

#define MG_ARCH_MAX_EOS 8

typedef struct mg_arch {
    mg_arch_family family;
    char name[64]; // architectures[0], e.g. "LlamaForCausalLM"
    int n_layers;
    int hidden;              // hidden_size
    int n_heads, n_kv_heads; // num_attention_heads, num_key_value_heads
    int head_dim;            // q/k/v width per head (may differ from hidden / n_heads)
    int ffn;                 // intermediate_size
    int vocab;               // vocab_size
    int64_t max_pos;         // max_position_embeddings: the context window
    double rope_theta;
    double norm_eps; // rms_norm_eps
    mg_rope_scaling rope_scaling;
    double rope_factor;                                 // linear / llama3 factor
    double rope_low_freq_factor, rope_high_freq_factor; // llama3
    double rope_orig_max_pos;                           // llama3 original_max_position_embeddings
    int sliding_window;               // 0 = none; otherwise keys within the last `window` positions
    int max_window_layers;            // Qwen2: layers >= this use the window (when it is on)
    bool tie_embeddings;              // tie_word_embeddings
    bool qkv_bias;                    // q/k/v projections have biases (Qwen2; Llama attention_bias)
    bool o_bias;                      // o_proj has a bias (Llama attention_bias)
    bool qk_norm;                     // Qwen3 q_norm / k_norm
    int32_t bos_id;                   // -1 when absent
    int32_t eos_ids[MG_ARCH_MAX_EOS]; // config eos_token_id (int or list)
    int n_eos;
} mg_arch;

/* Fills *out from a parsed config.json; `what` names the file in messages. */
mg_status mg_arch_from_json(const json_t *config, const char *what, mg_arch *out, mg_error *err);

/* Space-separated list of supported architectures (for messages). Static. */
const char *mg_arch_supported(void);

/* Derived sizes. */
static inline int mg_arch_q_dim(const mg_arch *a) {
    return a->n_heads * a->head_dim;
}
static inline int mg_arch_kv_dim(const mg_arch *a) {
    return a->n_kv_heads * a->head_dim;
}

/* The window of layer l (0 = full causal attention). */
int mg_arch_layer_window(const mg_arch *a, int layer);

/* RoPE inverse frequencies inv_freq[head_dim/2] in double, with the config's
 * scaling applied (HF _compute_default/linear/llama3_rope_parameters). */
void mg_arch_rope_inv_freq(const mg_arch *a, double *inv_freq);

#endif // MG_NN_ARCH_H
