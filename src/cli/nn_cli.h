/* nn_cli.h - what the model-running commands (generate, chat, perplexity,
 * score) share: their common options, loading a model with its tokenizer, the
 * prompt encoding (chat template or raw), stop ids, and printing generated
 * tokens as text as they arrive. Single-threaded use by the CLI. */
#ifndef MG_CLI_NN_CLI_H
#define MG_CLI_NN_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "nn/generate.h"
#include "nn/load.h"
#include "text/tokenizer.h"

typedef struct mg_nn_cli_opts {
    mg_sample_params sample;   // default greedy
    int max_new_tokens;        // default 256
    const char *system;        // --system
    const char *chat_template; // --chat-template NAME|FILE
    bool raw;                  // --raw: no chat template
    mg_nn_weights weights;     // --weights f32|bf16|auto (default auto)
} mg_nn_cli_opts;

void mg_nn_cli_opts_init(mg_nn_cli_opts *o);

/* Help text of the shared options. Static. */
extern const char *MG_NN_CLI_SAMPLING_HELP;
extern const char *MG_NN_CLI_MODEL_HELP;

/* Consumes argv[*i] if it is a shared option (1), 0 if not; -1 after printing
 * a usage error for a bad value. */
int mg_nn_cli_option(int argc, char **argv, int *i, const char *cmd, mg_nn_cli_opts *o);

typedef struct mg_nn_cli_session {
    mg_nn_model *model;
    mg_tokenizer *tok;
    int32_t *stop_ids; // tokenizer stop ids + config eos ids, owned
    size_t n_stop;
    char *path; // the model folder, owned (for messages)
} mg_nn_cli_session;

/* Loads the tokenizer first (cheap, catches a missing tokenizer.json before
 * the weights are read), applies --chat-template, then the model. */
mg_status mg_nn_cli_open(const char *path, const mg_nn_cli_opts *o, mg_nn_cli_session *s,
                         mg_error *err);
void mg_nn_cli_close(mg_nn_cli_session *s);

/* Generation parameters from the options and the session's stop ids. */
mg_gen_params mg_nn_cli_gen_params(const mg_nn_cli_session *s, const mg_nn_cli_opts *o);

/* Token ids of a conversation (JSON messages array) with the generation
 * prompt, encoded as apply_chat_template(tokenize=True): no extra specials. */
mg_status mg_nn_cli_encode_messages(const mg_nn_cli_session *s, const json_t *messages,
                                    int32_t **ids, size_t *n, mg_error *err);
/* The prompt of one user turn: chat-rendered (with --system) or, with --raw,
 * the text encoded with the tokenizer's special tokens (BOS). */
mg_status mg_nn_cli_encode_prompt(const mg_nn_cli_session *s, const mg_nn_cli_opts *o,
                                  const char *prompt, int32_t **ids, size_t *n, mg_error *err);

/* Streams generated ids as text: after each id the text decoded so far is
 * compared with what was printed and the new complete UTF-8 characters go out
 * (a token may end inside a character). */
typedef struct mg_nn_cli_stream {
    const mg_tokenizer *tok;
    FILE *out; // NULL: collect only
    int32_t *ids;
    size_t n, cap;
    size_t printed; // bytes of decoded text already written
} mg_nn_cli_stream;

void mg_nn_cli_stream_init(mg_nn_cli_stream *st, const mg_tokenizer *tok, FILE *out);
bool mg_nn_cli_stream_token(void *st, int32_t id); // an mg_gen_token_fn
/* The whole text (owned), after flushing what was held back. */
char *mg_nn_cli_stream_finish(mg_nn_cli_stream *st);

#endif // MG_CLI_NN_CLI_H
