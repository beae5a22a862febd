/* chat.h - chat messages to text and token ids, as transformers'
 * apply_chat_template does.
 *
 * Rendering: the tokenizer's own chat_template (tokenizer_config.json or
 * chat_template.jinja) runs through the template interpreter (template.h) with
 * the variables transformers passes: messages, add_generation_prompt, tools and
 * documents (none), the special tokens the tokenizer defines (bos_token,
 * eos_token, pad_token; absent ones stay undefined), and any extra keyword
 * values (e.g. enable_thinking, categories). Tokenizers without a template get
 * a clear error naming the override: --chat-template NAME|FILE, with the
 * built-in NAMEs chatml, llama3 and mistral (small Jinja strings of our own,
 * run through the same interpreter).
 *
 * Token ids: apply_chat_template(tokenize=True) encodes the rendered text with
 * add_special_tokens=False - the template writes BOS itself when the model
 * wants it - so mg_chat_encode_pair does exactly that, and a template that
 * writes no BOS gets none (Llama Guard 2's, as in transformers).
 *
 * Loss masking (the paper's fitness is the cross-entropy of the response
 * tokens): mg_chat_encode_pair renders the one-turn conversation twice, the
 * prompt alone with the generation prompt (P) and the full conversation
 * without it (F). F must start with P, else the template cannot be split and
 * the call fails (MG_ERR_UNSUPPORTED). ids = encode(F) and response_start =
 * len(encode(P)) when encode(P) is a prefix of encode(F); when a BPE merge
 * crosses the boundary it is not, and ids = encode(P) + encode(F minus P) -
 * the tokens the model reads at generation time. The response span is
 * everything after P: the answer, the end-of-turn token, and whatever the
 * template writes after it (ChatML's "\n").
 *
 * Ownership: returned strings and arrays are owned by the caller (free()).
 * Thread-safety: all functions are reentrant; a tokenizer may be shared. */
#ifndef MG_TEXT_CHAT_H
#define MG_TEXT_CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "text/tokenizer.h"

/* The Jinja source of a built-in template ("chatml", "llama3", "mistral"), or
 * NULL. Borrowed, static. */
const char *mg_chat_builtin(const char *name);

/* Resolves a --chat-template argument: a built-in name, or a file holding a
 * Jinja template, or a JSON file with a "chat_template" string (a
 * tokenizer_config.json). *out owned. */
mg_status mg_chat_template_resolve(const char *arg, char **out, mg_error *err);

/* The tokens a render uses; NULL members are left undefined. */
typedef struct mg_chat_tokens {
    const char *bos_token, *eos_token, *pad_token;
} mg_chat_tokens;

/* Renders `tmpl` (Jinja source) for a JSON array of {"role", "content", ...}
 * messages. extra: a JSON object of further variables, or NULL. *out owned. */
mg_status mg_chat_render_template(const char *tmpl, const mg_chat_tokens *tokens,
                                  const json_t *messages, bool add_generation_prompt,
                                  const json_t *extra, char **out, mg_error *err);
/* The same with the name template errors start with ("t.jinja:3:7: ...";
 * mg_chat_render_template uses "chat_template"). */
mg_status mg_chat_render_template_as(const char *tmpl, const char *name,
                                     const mg_chat_tokens *tokens, const json_t *messages,
                                     bool add_generation_prompt, const json_t *extra, char **out,
                                     mg_error *err);
/* Checks that messages is an array of objects with a string "role" (what the
 * renders check first); the message names the message index. */
mg_status mg_chat_check_messages(const json_t *messages, mg_error *err);

/* The special tokens of a tokenizer, as a render passes them. Borrowed strings
 * (valid while tok lives). */
mg_chat_tokens mg_chat_tokens_of(const mg_tokenizer *tok);

/* Renders with the tokenizer's chat template and special tokens. *out owned.
 * MG_ERR_UNSUPPORTED when the tokenizer has no template. */
mg_status mg_chat_render(const mg_tokenizer *tok, const json_t *messages,
                         bool add_generation_prompt, char **out, mg_error *err);

/* The ids of the conversation [system?, user: prompt, assistant: response] and
 * the index where the response starts (see above). *ids owned. */
mg_status mg_chat_encode_pair(const mg_tokenizer *tok, const char *prompt, const char *response,
                              const char *system, int32_t **ids, size_t *n, size_t *response_start,
                              mg_error *err);

#endif // MG_TEXT_CHAT_H
