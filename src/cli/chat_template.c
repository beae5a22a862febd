/* chat_template.c - `mergeguard chat-template MODEL --messages FILE`: renders a
 * conversation with the model's own chat template (or a built-in / file
 * override), as transformers' apply_chat_template does. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "text/chat.h"
#include "text/tokenizer.h"

static const char *HELP =
    "usage: mergeguard chat-template MODEL --messages FILE [--add-generation-prompt]\n"
    "                                [--chat-template NAME|FILE] [--var NAME=JSON]... [--ids]\n"
    "\n"
    "Renders the conversation in FILE with the model's chat template exactly as\n"
    "transformers' apply_chat_template does, and prints the text unchanged (no\n"
    "newline is added). MODEL is a model folder or a tokenizer.json path; its\n"
    "tokenizer_config.json (or chat_template.jinja) provides the template and the\n"
    "bos/eos tokens. FILE ('-' for standard input) holds a JSON array of\n"
    "{\"role\": ..., \"content\": ...} messages, or an object with \"messages\" and\n"
    "optionally other template variables (\"tools\", \"enable_thinking\", ...).\n"
    "\n"
    "  --add-generation-prompt    end with the header of the assistant's turn\n"
    "  --chat-template NAME|FILE  use a built-in template (chatml, llama3, mistral),\n"
    "                             a Jinja file, or a tokenizer_config.json instead\n"
    "  --var NAME=JSON            set a template variable, e.g. --var enable_thinking=false\n"
    "  --ids                      print the token ids of the rendering (encoded without\n"
    "                             added special tokens, as apply_chat_template(tokenize=True))\n"
    "  -q, -v, --threads N        common options\n\n"
    "Every render (here and wherever a command applies a chat template) is bounded:\n"
    "16 MiB of rendered text (which bounds the tokens one render can produce),\n"
    "256 MiB of template values, 10^7 evaluation steps (statements, loop iterations,\n"
    "calls) and nesting or macro recursion 200 deep; a template past a limit fails\n"
    "with exit 2 and a message naming the limit (and its position). A prompt must\n"
    "also fit the model's context window, or generation refuses it.\n";

static mg_status load_messages(const char *path, json_t **msgs, json_t *extra, mg_error *err) {
    json_error_t je;
    json_t *j = !strcmp(path, "-") ? json_loadf(stdin, 0, &je) : json_load_file(path, 0, &je);
    if (!j)
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    if (json_is_object(j)) {
        json_t *m = json_object_get(j, "messages");
        if (!json_is_array(m)) {
            json_decref(j);
            return mg_error_set(
                err, MG_ERR_INVALID,
                "%s: expected a JSON array of messages or an object with \"messages\"", path);
        }
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) if (strcmp(k, "messages")) json_object_set(extra, k, v);
        *msgs = json_incref(m);
        json_decref(j);
        return MG_OK;
    }
    if (!json_is_array(j)) {
        json_decref(j);
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: expected a JSON array of messages or an object with \"messages\"",
                            path);
    }
    *msgs = j;
    return MG_OK;
}

int mg_cmd_chat_template(int argc, char **argv) {
    const char *model = NULL, *messages = NULL, *override = NULL;
    bool agp = false, ids = false;
    json_t *vars = json_object();
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            json_decref(vars);
            return 0;
        }
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) goto out;
        } else if (!strcmp(a, "--add-generation-prompt")) {
            agp = true;
        } else if (!strcmp(a, "--ids")) {
            ids = true;
        } else if (!strcmp(a, "--messages") || !strcmp(a, "--chat-template") ||
                   !strcmp(a, "--var")) {
            if (i + 1 >= argc) {
                rc = mg_cli_usage_error("chat-template", "%s needs a value", a);
                goto out;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--messages")) {
                messages = v;
            } else if (!strcmp(a, "--chat-template")) {
                override = v;
            } else {
                const char *eq = strchr(v, '=');
                json_error_t je;
                json_t *val = eq ? json_loads(eq + 1, JSON_DECODE_ANY, &je) : NULL;
                if (!eq || eq == v || !val) {
                    rc = mg_cli_usage_error(
                        "chat-template",
                        "--var expects NAME=JSON (e.g. enable_thinking=false), got '%s'", v);
                    goto out;
                }
                char *name = mg_strndup(v, (size_t)(eq - v));
                json_object_set_new(vars, name, val);
                free(name);
            }
        } else if (a[0] == '-' && a[1]) {
            rc = mg_cli_usage_error("chat-template", "unknown option '%s'", a);
            goto out;
        } else if (!model) {
            model = a;
        } else {
            rc = mg_cli_usage_error("chat-template", "unexpected argument '%s'", a);
            goto out;
        }
    }
    if (!model || !messages) {
        rc = mg_cli_usage_error("chat-template", "%s",
                                !model ? "missing MODEL" : "missing --messages FILE");
        goto out;
    }

    mg_error err = {0};
    mg_tokenizer *tok = NULL;
    json_t *msgs = NULL, *extra = json_object();
    char *tmpl = NULL, *text = NULL;
    int32_t *tids = NULL;
    size_t ntids = 0;
    char *tmpl_name = NULL; // how errors name the template
    mg_status st = load_messages(messages, &msgs, extra, &err);
    if (!st && (st = mg_chat_check_messages(msgs, &err))) mg_error_prefix(&err, "%s: ", messages);
    if (!st) st = mg_tokenizer_load(model, &tok, &err);
    if (!st && override) {
        st = mg_chat_template_resolve(override, &tmpl, &err);
        size_t n = strlen(override) + 48;
        tmpl_name = mg_malloc(n);
        size_t ol = strlen(override);
        if (mg_chat_builtin(override))
            snprintf(tmpl_name, n, "chat_template (built-in '%s')", override);
        else if (ol > 5 && !strcmp(override + ol - 5, ".json")) // a tokenizer_config.json
            snprintf(tmpl_name, n, "%s: chat_template", override);
        else
            snprintf(tmpl_name, n, "%s", override);
    }
    if (!st && !tmpl) {
        if (!mg_tokenizer_chat_template(tok))
            st = mg_error_set(&err, MG_ERR_UNSUPPORTED,
                              "%s: the tokenizer has no chat_template; pass --chat-template "
                              "chatml|llama3|mistral|FILE",
                              model);
        else
            tmpl = mg_strdup(mg_tokenizer_chat_template(tok));
        tmpl_name = mg_strdup(mg_tokenizer_chat_template_name(tok));
    }
    if (!st) {
        json_object_update(extra, vars);
        mg_chat_tokens t = mg_chat_tokens_of(tok);
        st = mg_chat_render_template_as(tmpl, tmpl_name, &t, msgs, agp, extra, &text, &err);
    }
    if (!st && ids) st = mg_tokenizer_encode(tok, text, strlen(text), false, &tids, &ntids, &err);
    if (st) {
        rc = mg_cli_fail(&err);
    } else {
        if (ids) {
            for (size_t k = 0; k < ntids; k++)
                printf(k ? " %d" : "%d", tids[k]);
            printf("\n");
        } else {
            fwrite(text, 1, strlen(text), stdout);
        }
        rc = fflush(stdout) == 0 ? 0 : 1;
    }
    free(tids);
    free(text);
    free(tmpl);
    free(tmpl_name);
    json_decref(msgs);
    json_decref(extra);
    mg_tokenizer_free(tok);
out:
    json_decref(vars);
    return rc;
}
