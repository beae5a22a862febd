/* generate.c - `mergeguard generate MODEL --prompt TEXT`: one completion,
 * streamed to stdout as it is generated. The prompt goes through the model's
 * chat template (with --system) unless --raw; generation stops at the
 * tokenizer's / config's EOS and end-of-turn ids or after --max-new-tokens.
 * Every option and the prompt's length are checked before any output. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/nn_cli.h"

static const char *HELP_HEAD =
    "usage: mergeguard generate MODEL --prompt TEXT [--system TEXT] [--raw]\n"
    "                           [--max-new-tokens N] [--temperature T] [--top-p P]\n"
    "                           [--top-k K] [--seed S] [--json]\n"
    "\n"
    "Continues a prompt with the model in MODEL (a Hugging Face folder with\n"
    "config.json, safetensors and tokenizer.json) and prints the text as it is\n"
    "generated. The prompt is rendered with the model's chat template as one user\n"
    "turn (plus --system) unless --raw, which encodes the text as is (with BOS).\n"
    "Generation stops at an end-of-sequence or end-of-turn token, or after\n"
    "--max-new-tokens. Sampling is reproducible: same --seed, same text.\n"
    "\n"
    "options:\n"
    "  --prompt TEXT        the prompt (required, not empty; '-' reads stdin)\n"
    "  --raw                no chat template\n"
    "  --json               print {\"prompt_tokens\", \"ids\", \"text\", \"stop\"} at the end\n";

static char *read_stdin(void) {
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n - 1, stdin)) > 0)
        if ((n += r) + 1 == cap) buf = realloc(buf, cap *= 2);
    if (buf) buf[n] = '\0';
    return buf;
}

static const char *stop_name(mg_gen_stop s) {
    switch (s) {
    case MG_GEN_STOP_TOKEN:
        return "eos";
    case MG_GEN_STOP_LENGTH:
        return "length";
    case MG_GEN_STOP_CONTEXT:
        return "context";
    default:
        return "callback";
    }
}

int mg_cmd_generate(int argc, char **argv) {
    mg_nn_cli_opts o;
    mg_nn_cli_opts_init(&o);
    const char *model_path = NULL, *prompt = NULL;
    bool json = false;
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
        } else if ((r = mg_nn_cli_option(argc, argv, &i, "generate", &o)) != 0) {
            if (r < 0) return 2;
        } else if (!strcmp(a, "--prompt") && i + 1 < argc) {
            prompt = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("generate", "unknown option or missing value: %s", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return mg_cli_usage_error("generate", "unexpected argument: %s", a);
        }
    }
    if (!model_path) return mg_cli_usage_error("generate", "missing MODEL");
    if (!prompt) return mg_cli_usage_error("generate", "missing --prompt");
    char *owned_prompt = NULL;
    if (!strcmp(prompt, "-")) prompt = owned_prompt = read_stdin();
    if (!prompt || !*prompt) {
        free(owned_prompt);
        return mg_cli_usage_error("generate", "the prompt is empty");
    }

    mg_error err = {0};
    mg_nn_cli_session s;
    int32_t *ids = NULL;
    size_t n = 0;
    int code = 0;
    mg_gen_result res = {0};
    mg_nn_cli_stream st;
    if (mg_nn_cli_open(model_path, &o, &s, &err) != MG_OK) goto fail;
    if (mg_nn_cli_encode_prompt(&s, &o, prompt, &ids, &n, &err) != MG_OK) goto fail;
    mg_gen_params p = mg_nn_cli_gen_params(&s, &o);
    mg_nn_cli_stream_init(&st, s.tok, json ? NULL : stdout);
    if (mg_nn_generate(s.model, NULL, ids, (int)n, &p, mg_nn_cli_stream_token, &st, &res, &err) !=
        MG_OK) {
        free(mg_nn_cli_stream_finish(&st));
        goto fail;
    }
    char *text = mg_nn_cli_stream_finish(&st);
    if (json) {
        json_t *root = json_object(), *jids = json_array();
        for (int i = 0; i < res.n; i++)
            json_array_append_new(jids, json_integer(res.ids[i]));
        json_object_set_new(root, "prompt_tokens", json_integer((json_int_t)n));
        json_object_set_new(root, "ids", jids);
        json_object_set_new(root, "text", json_string(text));
        json_object_set_new(root, "stop", json_string(stop_name(res.stop)));
        mg_cli_print_json(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    } else {
        putchar('\n');
    }
    free(text);
    goto done;
fail:
    code = mg_cli_fail(&err);
done:
    mg_gen_result_free(&res);
    free(ids);
    free(owned_prompt);
    if (s.tok || s.model) mg_nn_cli_close(&s);
    return code;
}
