/* export_gguf.c - `mergeguard export-gguf MODEL OUT.gguf`: writes a Hugging
 * Face model folder as a GGUF file for llama.cpp, Ollama and LM Studio
 * (`inspect FILE.gguf` is in inspect_gguf.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cli/cli.h"
#include "io/gguf_export.h"

static const char *HELP =
    "usage: mergeguard export-gguf MODEL OUT.gguf [--outtype f32|f16|bf16|q8_0] [--force]\n"
    "                              [--name NAME] [-q] [-v]\n"
    "\n"
    "Writes the Hugging Face model folder MODEL (config.json + safetensors, e.g. a\n"
    "merge output) as one GGUF v3 file that llama.cpp, Ollama and LM Studio load.\n"
    "Architectures: Llama 2/3/3.x and Mistral (GGUF 'llama': Q/K rows permuted for\n"
    "llama.cpp's rope, rope_freqs.weight for llama3 rope scaling), Qwen2 ('qwen2')\n"
    "and Qwen3 ('qwen3'). The tokenizer (tokenizer.json: byte-level BPE or\n"
    "SentencePiece-style BPE with byte fallback), its special tokens and the chat\n"
    "template are written as tokenizer.* metadata; a folder without tokenizer.json\n"
    "gives a file without vocabulary (a warning). Norms and other 1-D tensors stay\n"
    "F32. The file appears only when complete.\n"
    "\n"
    "options:\n"
    "  --outtype T   storage of the 2-D weights: f32, f16 (default), bf16, or q8_0\n"
    "                (blocks of 32 int8 with an f16 scale; rows that are not whole\n"
    "                blocks fall back to f16)\n"
    "  --force       replace an existing OUT.gguf\n"
    "  --name NAME   general.name (default: the model folder's name)\n"
    "  -q, -v        quieter / more verbose logging on stderr\n";

int mg_cmd_export_gguf(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    mg_gguf_export_opts o = {MG_GGUF_OUT_F16, false, NULL};
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--outtype")) {
            if (i + 1 >= argc || !mg_gguf_outtype_parse(argv[i + 1], &o.outtype))
                return mg_cli_usage_error("export-gguf",
                                          "--outtype expects f32, f16, bf16 or q8_0");
            i++;
        } else if (!strcmp(argv[i], "--name")) {
            if (i + 1 >= argc) return mg_cli_usage_error("export-gguf", "--name expects a value");
            o.name = argv[++i];
        } else if (!strcmp(argv[i], "--force")) {
            o.force = true;
        } else if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return mg_cli_usage_error("export-gguf", "unknown option '%s'", argv[i]);
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            return mg_cli_usage_error("export-gguf", "unexpected argument '%s'", argv[i]);
        }
    }
    if (npos < 2) return mg_cli_usage_error("export-gguf", "expected MODEL and OUT.gguf");
    mg_error err = {0};
    mg_gguf_export_info info;
    double t0 = mg_now_seconds();
    if (mg_gguf_export(pos[0], pos[1], &o, &info, &err)) return mg_cli_fail(&err);
    mg_log_info("wrote %s: %s, %zu tensors (%s), %s vocabulary of %zu tokens, %.1f MB in %.1f s",
                pos[1], info.arch, info.n_tensors, mg_gguf_outtype_name(o.outtype), info.tok_model,
                info.n_tokens, (double)info.file_bytes / 1e6, mg_now_seconds() - t0);
    return 0;
}
