/* cli.h - shared helpers of the command-line front end.
 *
 * Only cli/ prints errors and chooses exit codes: 0 success, 1 runtime
 * failure, 2 bad input or usage (mg_status_exit_code). Each command lives in
 * its own file as `int mg_cmd_NAME(int argc, char **argv)`, where argv[0] is
 * the command name, and is listed in main.c's table. */
#ifndef MG_CLI_CLI_H
#define MG_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* Prints "mergeguard: error: MSG" and returns the exit code for err->status. */
int mg_cli_fail(const mg_error *err);
/* Prints "mergeguard CMD: MSG" plus a hint to run --help; returns 2. */
int mg_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Handles the options every command shares; returns true (and advances *i) when
 * argv[*i] was one of them: -q/--quiet, -v/--verbose, --threads N. Sets *bad
 * when the option was recognized but its value was invalid. */
bool mg_cli_common_option(int argc, char **argv, int *i, bool *bad);

/* Prints v as JSON (json_dumps flags) and a newline to stdout, then releases
 * v (taken). The --json output of the commands. */
void mg_cli_print_json(json_t *v, size_t flags);

/* Parses integer / float option values strictly (whole string, in range). */
bool mg_cli_parse_int(const char *s, long long min, long long max, long long *out);
bool mg_cli_parse_double(const char *s, double *out);

int mg_cmd_inspect(int argc, char **argv);
int mg_cmd_lab(int argc, char **argv);
int mg_cmd_logits(int argc, char **argv);
int mg_cmd_tokenize(int argc, char **argv);
int mg_cmd_chat_template(int argc, char **argv);
int mg_cmd_merge(int argc, char **argv);
int mg_cmd_eval(int argc, char **argv);
int mg_cmd_generate(int argc, char **argv);
int mg_cmd_chat(int argc, char **argv);
int mg_cmd_perplexity(int argc, char **argv);
int mg_cmd_score(int argc, char **argv);
int mg_cmd_gen_data(int argc, char **argv);
int mg_cmd_export_gguf(int argc, char **argv);
/* `mergeguard inspect FILE.gguf [--json] [--stats]` (inspect_gguf.c): prints a
 * GGUF file's metadata and tensor table; returns the exit code. */
int mg_gguf_inspect_cli(const char *path, bool as_json, bool stats);
int mg_cmd_evolve(int argc, char **argv);
int mg_cmd_cocktail(int argc, char **argv);
int mg_cmd_grid(int argc, char **argv);
int mg_cmd_demo(int argc, char **argv);

#endif // MG_CLI_CLI_H
