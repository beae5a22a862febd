/* gguf_export.h - a Hugging Face model folder as a llama.cpp GGUF file.
 *
 * Maps the HF checkpoint the way llama.cpp's convert_hf_to_gguf.py does, so
 * llama.cpp, Ollama and LM Studio load the result:
 *  - architectures: LlamaForCausalLM / MistralForCausalLM -> "llama",
 *    Qwen2ForCausalLM -> "qwen2", Qwen3ForCausalLM -> "qwen3"; anything else
 *    is MG_ERR_UNSUPPORTED, as is any HF tensor with no GGUF name (only
 *    rotary_emb.inv_freq buffers are dropped) or a rope_scaling type other
 *    than linear, yarn and llama3;
 *  - tensor names of gguf-py's TENSOR_NAMES (token_embd, blk.N.attn_q, ...),
 *    ne = the HF shape reversed; no output.weight when the checkpoint has no
 *    lm_head.weight (tied: llama.cpp reuses token_embd);
 *  - llama only: q_proj/k_proj rows (weights and biases) permuted from HF's
 *    rotate-half layout to the adjacent pairs of llama.cpp's NORM rope
 *    (LlamaModel.permute), and the F32 rope_freqs.weight tensor of llama3
 *    rope scaling (LlamaModel.generate_extra_tensors); qwen2/qwen3 use NEOX
 *    rope and are written unpermuted;
 *  - storage: 1-D tensors and *_norm.weight in F32; 2-D tensors in the
 *    requested type (Q8_0 falls back to F16 for rows that are not a multiple
 *    of 32, as the converter does); general.file_type accordingly;
 *  - metadata keys and exact types from gguf_writer.py (UINT32 counts,
 *    FLOAT32 rope base and eps) and the tokenizer from gguf_vocab.h.
 * Streaming: one tensor (f32 copy plus converted bytes) in memory at a time;
 * the output is atomic (no partial file on any failure), refused if it
 * exists unless force.
 * Thread-safety: no shared state. */
#ifndef MG_IO_GGUF_EXPORT_H
#define MG_IO_GGUF_EXPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "io/model_dir.h"

typedef enum mg_gguf_outtype {
    MG_GGUF_OUT_F32,
    MG_GGUF_OUT_F16,
    MG_GGUF_OUT_BF16,
    MG_GGUF_OUT_Q8_0,
} mg_gguf_outtype;

/* "f32", "f16", "bf16", "q8_0" (case-insensitive); false otherwise. */
bool mg_gguf_outtype_parse(const char *s, mg_gguf_outtype *out);
const char *mg_gguf_outtype_name(mg_gguf_outtype t);

typedef struct mg_gguf_export_opts {
    mg_gguf_outtype outtype;
    bool force;
    const char *name; // general.name; NULL -> the model folder's name
} mg_gguf_export_opts;

typedef struct mg_gguf_export_info {
    char arch[16];      // "llama", "qwen2", "qwen3"
    char tok_model[16]; // tokenizer.ggml.model
    size_t n_tensors, n_tokens;
    uint64_t file_bytes;
} mg_gguf_export_info;

/* Writes model folder `model_path` to `out_path`. info may be NULL. */
mg_status mg_gguf_export(const char *model_path, const char *out_path,
                         const mg_gguf_export_opts *opts, mg_gguf_export_info *info, mg_error *err);
/* The same from an open model folder. */
mg_status mg_gguf_export_model(const mg_model *m, const char *out_path,
                               const mg_gguf_export_opts *opts, mg_gguf_export_info *info,
                               mg_error *err);

/* The GGUF architecture name for a config, or NULL when unsupported. */
const char *mg_gguf_arch_for(const mg_model_config *c);

/* LlamaModel.permute: rows of src [rows, cols] (rows = n_head * head_dim)
 * reordered so that new row h*d + 2i + j = old row h*d + j*(d/2) + i. The
 * inverse undoes it. src and dst must not overlap. */
void mg_gguf_permute_qk(const float *src, float *dst, int64_t rows, int64_t cols, int64_t n_head);
void mg_gguf_unpermute_qk(const float *src, float *dst, int64_t rows, int64_t cols, int64_t n_head);

/* The head_dim/2 rope_freqs divisors of HF "llama3" rope scaling (factor,
 * low_freq_factor, high_freq_factor, original_max_position_embeddings from
 * rope_scaling, defaults 8, 1, 4, 8192), into out[head_dim/2]. */
mg_status mg_gguf_llama3_rope_factors(const json_t *rope_scaling, double theta, int64_t head_dim,
                                      float *out, mg_error *err);

#endif // MG_IO_GGUF_EXPORT_H
