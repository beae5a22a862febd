/* main.c - the mergeguard command dispatcher. */
#include <stdio.h>
#include <string.h>

#include "base/sigbus.h"
#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

// One line per command; each lives in src/cli/<name>.c.
static const command COMMANDS[] = {
    {"inspect", mg_cmd_inspect, "show and validate a model folder or .safetensors file"},
    {"lab", mg_cmd_lab, "build the micro world: corpus, data splits, BPE tokenizer"},
    {"export-gguf", mg_cmd_export_gguf, "write a model folder as one GGUF file for llama.cpp / Ollama"},
    {"tokenize", mg_cmd_tokenize, "encode text to token ids with a model's tokenizer, or decode"},
    {"chat-template", mg_cmd_chat_template, "render a conversation with a model's chat template"},
    {"merge", mg_cmd_merge, "merge models from a mergekit YAML config"},
    {"logits", mg_cmd_logits, "run token ids through a model and print or save the logits"},
    {"eval", mg_cmd_eval, "alignment (Llama Guard, refusals) and domain accuracy reports"},
    {"generate", mg_cmd_generate, "continue a prompt with a model (chat template or raw)"},
    {"chat", mg_cmd_chat, "chat with a model interactively"},
    {"perplexity", mg_cmd_perplexity, "a model's perplexity on a text file"},
    {"score", mg_cmd_score, "response cross-entropy of {prompt, response} records"},
    {"gen-data", mg_cmd_gen_data, "synthetic safety and domain data from the models (paper 4)"},
    {"evolve", mg_cmd_evolve, "search merge coefficients with CMA-ES on alignment + task data"},
    {"cocktail", mg_cmd_cocktail, "LM-Cocktail: merge weights from per-model losses on data"},
    {"grid", mg_cmd_grid, "grid-search merge hyperparameters, each point merged in memory and scored"},
    {"demo", mg_cmd_demo, "the paper's study end to end on the lab world (tables, claims)"},
};

static void usage(FILE *out) {
    fprintf(out, "mergeguard %s - merge LLMs without losing their safety alignment\n\n"
                 "usage: mergeguard COMMAND [options]   (mergeguard COMMAND --help for details)\n\n"
                 "commands:\n",
            MG_VERSION);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-14s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\ncommon options: -q/--quiet, -v/--verbose, --threads N\n"
                 "exit codes: 0 success, 1 runtime failure, 2 bad input or usage\n");
}

int main(int argc, char **argv) {
    mg_sigbus_install(); // an input truncated while mapped: one error line, not a crash
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mergeguard %s\n", MG_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mergeguard: unknown command '%s' (see 'mergeguard --help')\n", argv[1]);
    return 2;
}
