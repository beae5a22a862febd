/* chat.c - `mergeguard chat MODEL`: an interactive conversation on the
 * terminal (or a script of lines on stdin). Each user line is appended to the
 * conversation, the whole conversation is rendered with the chat template,
 * and only the tokens after the longest prefix already in the KV cache are
 * run, so a turn costs its own tokens, not the history. The answer streams as
 * it is generated. /reset starts over, /quit (or end of input) leaves. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "cli/nn_cli.h"
#include "nn/forward.h"

static const char *HELP_HEAD =
    "usage: mergeguard chat MODEL [--system TEXT] [--max-new-tokens N]\n"
    "                       [--temperature T] [--top-p P] [--top-k K] [--seed S]\n"
    "\n"
    "Chats with the model: type a message and press Enter; the answer streams as\n"
    "it is generated. Lines starting with / are commands: /reset forgets the\n"
    "conversation, /quit leaves (so does end of input). The conversation is\n"
    "rendered with the model's chat template at every turn; tokens already in\n"
    "the KV cache are reused.\n"
    "\n"
    "options:\n";

static char *read_line(void) {
    size_t cap = 256, n = 0;
    char *buf = mg_malloc(cap);
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (n + 1 == cap) buf = mg_realloc(buf, cap *= 2);
        buf[n++] = (char)c;
    }
    if (c == EOF && n == 0) {
        free(buf);
        return NULL;
    }
    if (n && buf[n - 1] == '\r') n--;
    buf[n] = '\0';
    return buf;
}

int mg_cmd_chat(int argc, char **argv) {
    mg_nn_cli_opts o;
    mg_nn_cli_opts_init(&o);
    const char *model_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false;
        int r;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP_HEAD, stdout);
            fputs(MG_NN_CLI_SAMPLING_HELP, stdout);
            fputs(MG_NN_CLI_MODEL_HELP, stdout);
            return 0;
        } else if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if ((r = mg_nn_cli_option(argc, argv, &i, "chat", &o)) != 0) {
            if (r < 0) return 2;
            if (o.raw) return mg_cli_usage_error("chat", "--raw is not available in chat");
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("chat", "unknown option or missing value: %s", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return mg_cli_usage_error("chat", "unexpected argument: %s", a);
        }
    }
    if (!model_path) return mg_cli_usage_error("chat", "missing MODEL");

    mg_error err = {0};
    mg_nn_cli_session s;
    mg_nn_state *st = NULL;
    int32_t *cached = NULL; // ids in the KV cache, in order
    size_t n_cached = 0;
    json_t *msgs = json_array();
    int code = 0;
    bool tty = isatty(STDIN_FILENO);
    if (mg_nn_cli_open(model_path, &o, &s, &err) != MG_OK) goto fail;
    int64_t ctx = s.model->arch.max_pos < 4096 ? s.model->arch.max_pos : 4096;
    if (mg_nn_state_new(s.model, (int)ctx, 0, &st, &err) != MG_OK) goto fail;
    cached = mg_malloc_array((size_t)ctx, sizeof *cached);
    if (o.system)
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", o.system));
    mg_gen_params p = mg_nn_cli_gen_params(&s, &o);
    for (uint64_t turn = 0;; turn++) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        char *line = read_line();
        if (!line || !strcmp(line, "/quit") || !strcmp(line, "/exit")) {
            free(line);
            break;
        }
        if (!strcmp(line, "/reset")) {
            json_array_clear(msgs);
            if (o.system)
                json_array_append_new(
                    msgs, json_pack("{s:s, s:s}", "role", "system", "content", o.system));
            mg_nn_state_reset(st);
            n_cached = 0;
            free(line);
            continue;
        }
        if (!*line) {
            free(line);
            continue;
        }
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", line));
        free(line);
        int32_t *ids = NULL;
        size_t n = 0;
        if (mg_nn_cli_encode_messages(&s, msgs, &ids, &n, &err) != MG_OK) goto fail;
        // Reuse the cached prefix; at least one token must run to get logits.
        size_t keep = 0;
        while (keep < n_cached && keep < n && cached[keep] == ids[keep])
            keep++;
        if (keep == n) keep--;
        if ((int64_t)n >= ctx) {
            free(ids);
            mg_error_set(&err, MG_ERR_INVALID,
                         "the conversation (%zu tokens) no longer fits the context window (%lld); "
                         "/reset to start over",
                         n, (long long)ctx);
            fprintf(stderr, "mergeguard chat: %s\n", err.msg);
            json_array_remove(msgs, json_array_size(msgs) - 1);
            continue;
        }
        mg_nn_state_truncate(st, (int)keep);
        memcpy(cached, ids, n * sizeof *ids);
        n_cached = n;
        mg_nn_cli_stream stream;
        mg_nn_cli_stream_init(&stream, s.tok, stdout);
        mg_gen_result res;
        p.stream = turn;
        mg_status rc = mg_nn_generate(s.model, st, ids + keep, (int)(n - keep), &p,
                                      mg_nn_cli_stream_token, &stream, &res, &err);
        free(ids);
        char *text = mg_nn_cli_stream_finish(&stream);
        fputc('\n', stdout);
        fflush(stdout);
        if (rc != MG_OK) {
            free(text);
            goto fail;
        }
        // The cache now holds the prompt and all generated tokens but the last.
        for (int i = 0; i + 1 < res.n && n_cached < (size_t)ctx; i++)
            cached[n_cached++] = res.ids[i];
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "assistant", "content", text));
        free(text);
        mg_gen_result_free(&res);
    }
    goto done;
fail:
    code = mg_cli_fail(&err);
done:
    json_decref(msgs);
    free(cached);
    mg_nn_state_free(st);
    if (s.tok || s.model) mg_nn_cli_close(&s);
    return code;
}
