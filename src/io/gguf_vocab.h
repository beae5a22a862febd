/* gguf_vocab.h - a model folder's tokenizer as GGUF tokenizer.ggml.* metadata.
 *
 * Reads tokenizer.json (plus tokenizer_config.json, chat_template.jinja and
 * config.json) with jansson, independently of the text layer, and gives what
 * llama.cpp's loader reads (gguf-py constants.py Keys.Tokenizer; the rules of
 * convert_hf_to_gguf.py get_vocab_base / SpecialVocab / LlamaHfVocab):
 *  - model "gpt2" for byte-level BPE: tokens exactly as in tokenizer.json,
 *    types 1 normal, 3 control (added tokens marked special, or looking like
 *    "<|...|>"), 4 user-defined (other added tokens), 5 "[PAD<i>]" fillers up
 *    to the embedding's row count; merges "left right" (a space inside a
 *    piece of the list-of-pairs format becomes U+0120, as gguf-py does); the
 *    pre-tokenizer name recognized from the Split regex ("llama-bpe",
 *    "qwen2", "gpt-2" for a plain ByteLevel), else from the model family.
 *  - model "llama" for SentencePiece-style BPE with byte fallback: types 6 for
 *    <0xXX>, 2 for the unk token, 3 for special added tokens, 4 for other
 *    added tokens; scores from the merge ranks (the token made by merge r
 *    scores -r, so llama.cpp's highest-score-first SPM merging follows the HF
 *    merge order; other tokens score below every merge product).
 *  - model "none" when the folder has no tokenizer.json (a warning): runners
 *    then need token ids.
 * Other tokenizer models (Unigram, WordPiece, WordLevel) are MG_ERR_UNSUPPORTED.
 * Special ids (bos, eos, unk, pad) come from tokenizer_config.json's token
 * strings, else config.json's *_token_id; eot is the end-of-turn token
 * llama.cpp knows by name (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>)
 * that the chat template uses, else the first of them in the vocabulary. add_bos/add_eos from tokenizer_config.json, else
 * the post-processor template. The chat template is chat_template.jinja, else
 * tokenizer_config.json's (a list of named templates gives "default").
 * Ownership: mg_gguf_vocab owns its arrays (mg_gguf_vocab_free).
 * Thread-safety: no shared state. */
#ifndef MG_IO_GGUF_VOCAB_H
#define MG_IO_GGUF_VOCAB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "io/gguf.h"

/* llama.cpp token types (gguf-py TokenType). */
enum {
    MG_TOKTYPE_NORMAL = 1,
    MG_TOKTYPE_UNKNOWN = 2,
    MG_TOKTYPE_CONTROL = 3,
    MG_TOKTYPE_USER_DEFINED = 4,
    MG_TOKTYPE_UNUSED = 5,
    MG_TOKTYPE_BYTE = 6,
};

typedef struct mg_gguf_vocab {
    char model[16]; // "gpt2", "llama" or "none"
    char pre[32];   // tokenizer.ggml.pre ("" for "none")
    size_t n;       // tokens (== the embedding's rows)
    char **tokens;
    int32_t *types;
    float *scores; // "llama" only, else NULL
    size_t n_merges;
    char **merges;
    int32_t bos, eos, unk, pad, eot;        // -1 when absent
    int add_bos, add_eos, add_space_prefix; // -1 unset, else 0/1
    char *chat_template;                    // NULL when absent
    char warning[1024]; // what the caller should tell the user ("" when nothing)
} mg_gguf_vocab;

/* Loads the tokenizer of model folder dir for an architecture family
 * ("llama", "qwen2", "qwen3": picks the pre-tokenizer name when the regex is
 * not recognized) with n_vocab embedding rows; config is config.json (may be
 * NULL). */
mg_status mg_gguf_vocab_load(const char *dir, const char *family, size_t n_vocab,
                             const json_t *config, mg_gguf_vocab *v, mg_error *err);
void mg_gguf_vocab_free(mg_gguf_vocab *v); // NULL-safe, safe on a zeroed struct

/* Adds the tokenizer.* keys to w. */
mg_status mg_gguf_vocab_write(const mg_gguf_vocab *v, mg_gguf_writer *w, mg_error *err);

#endif // MG_IO_GGUF_VOCAB_H
