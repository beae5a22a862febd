/* tokenizer_config.h - the side files of a tokenizer: tokenizer_config.json,
 * special_tokens_map.json, generation_config.json and chat_template.jinja.
 *
 * Gives the BOS / EOS / PAD tokens (a config value may be a string or an
 * AddedToken object {"content": ...}; special_tokens_map.json fills what
 * tokenizer_config.json lacks, generation_config.json's *_token_id what both
 * lack), the ids that stop generation (EOS, every generation_config
 * eos_token_id, and the end-of-turn tokens llama.cpp detects by name when
 * present in the vocabulary), and the chat template (chat_template.jinja wins
 * over tokenizer_config.json, as in transformers; a list of named templates
 * gives "default", else the first). Every file is optional; a present but
 * broken one is an error naming it.
 * Ownership: the struct owns its strings (mg_tok_config_free). */
#ifndef MG_TEXT_TOKENIZER_CONFIG_H
#define MG_TEXT_TOKENIZER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/tokenizer.h"

typedef struct mg_tok_config {
    int32_t bos_id, eos_id, pad_id; // -1 when absent
    char *bos_token, *eos_token, *pad_token;
    bool add_bos_token, add_eos_token; // as written in tokenizer_config.json
    int32_t *stop;
    size_t n_stop;
    char *chat_template;
    char *chat_template_name; // where it came from, for messages (NULL: "chat_template")
} mg_tok_config;

/* Reads the side files in dir; tok (already built) resolves token strings. */
mg_status mg_tok_config_load(const char *dir, const mg_tokenizer *tok, mg_tok_config *cfg,
                             mg_error *err);
void mg_tok_config_free(mg_tok_config *cfg);

#endif // MG_TEXT_TOKENIZER_CONFIG_H
