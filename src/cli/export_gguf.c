/* export_gguf.c - `mergeguard export-gguf MODEL OUT.gguf`: writes a Hugging
 * Face model folder as a GGUF file for llama.cpp, Ollama and LM Studio; and
 * `mergeguard inspect FILE.gguf` (mg_gguf_inspect_cli): validates a GGUF file
 * and prints its metadata and tensor table. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cli/cli.h"
#include "io/gguf_export.h"
#include "io/gguf_reader.h"

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

/* ---- inspect FILE.gguf ---- */

static void print_value(const mg_gguf_kv *kv, uint32_t type, uint64_t i) {
    const uint8_t *p = kv->data;
    switch (type) {
    case MG_GGUF_STRING: {
        mg_gguf_str s = kv->strs[i];
        // Long strings (chat templates) are cut; control characters escaped.
        uint64_t n = s.len > 120 ? 120 : s.len;
        putchar('"');
        for (uint64_t k = 0; k < n; k++) {
            unsigned char ch = (unsigned char)s.s[k];
            if (ch == '\n')
                fputs("\\n", stdout);
            else if (ch == '"' || ch == '\\')
                printf("\\%c", ch);
            else if (ch < 0x20)
                printf("\\x%02x", ch);
            else
                putchar(ch);
        }
        printf(s.len > n ? "\"... (%" PRIu64 " bytes)" : "\"", s.len);
        return;
    }
    case MG_GGUF_UINT8:
        printf("%u", p[i]);
        return;
    case MG_GGUF_INT8:
        printf("%d", (int8_t)p[i]);
        return;
    case MG_GGUF_BOOL:
        printf("%s", p[i] ? "true" : "false");
        return;
    default:
        break;
    }
    size_t sz = mg_gguf_vtype_size(type);
    uint64_t u = 0;
    for (size_t k = 0; k < sz; k++)
        u |= (uint64_t)p[i * sz + k] << (8 * k);
    switch (type) {
    case MG_GGUF_UINT16:
    case MG_GGUF_UINT32:
    case MG_GGUF_UINT64:
        printf("%" PRIu64, u);
        break;
    case MG_GGUF_INT16:
        printf("%d", (int16_t)u);
        break;
    case MG_GGUF_INT32:
        printf("%" PRId32, (int32_t)u);
        break;
    case MG_GGUF_INT64:
        printf("%" PRId64, (int64_t)u);
        break;
    case MG_GGUF_FLOAT32: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        printf("%.9g", f);
        break;
    }
    case MG_GGUF_FLOAT64: {
        double d;
        memcpy(&d, &u, 8);
        printf("%.17g", d);
        break;
    }
    default:
        break;
    }
}

int mg_gguf_inspect_cli(const char *path) {
    mg_error err = {0};
    mg_gguf_file *f = NULL;
    if (mg_gguf_open(path, &f, &err)) return mg_cli_fail(&err);
    printf("file          %s\n", path);
    printf("format        GGUF v%" PRIu32 ", alignment %" PRIu32 ", data at %" PRIu64 ", %" PRIu64
           " bytes\n",
           mg_gguf_version(f), mg_gguf_alignment(f), mg_gguf_data_offset(f), mg_gguf_file_size(f));
    uint64_t params = 0;
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++)
        params += mg_gguf_tensor_at(f, i)->numel;
    printf("tensors       %zu (%" PRIu64 " parameters)\n", mg_gguf_tensor_count(f), params);
    printf("\nmetadata (%zu keys)\n", mg_gguf_kv_count(f));
    for (size_t i = 0; i < mg_gguf_kv_count(f); i++) {
        const mg_gguf_kv *kv = mg_gguf_kv_at(f, i);
        if (kv->type == MG_GGUF_ARRAY) {
            printf("  %-44s %s[%" PRIu64 "] ", kv->key, mg_gguf_vtype_name(kv->arr_type), kv->n);
            putchar('[');
            uint64_t show = kv->n < 6 ? kv->n : 6;
            for (uint64_t e = 0; e < show; e++) {
                if (e) fputs(", ", stdout);
                print_value(kv, kv->arr_type, e);
            }
            printf("%s]\n", kv->n > show ? ", ..." : "");
        } else {
            printf("  %-44s %-8s ", kv->key, mg_gguf_vtype_name(kv->type));
            print_value(kv, kv->type, 0);
            putchar('\n');
        }
    }
    printf("\n  %-40s %-6s %-24s %14s %12s\n", "tensor", "type", "ne (innermost first)", "offset",
           "bytes");
    for (size_t i = 0; i < mg_gguf_tensor_count(f); i++) {
        const mg_gguf_tensor *t = mg_gguf_tensor_at(f, i);
        char shape[96];
        size_t o = (size_t)snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < t->ndim && o < sizeof shape; d++)
            o += (size_t)snprintf(shape + o, sizeof shape - o, "%s%" PRIu64, d ? ", " : "",
                                  t->ne[d]);
        if (o < sizeof shape) snprintf(shape + o, sizeof shape - o, "]");
        printf("  %-40s %-6s %-24s %14" PRIu64 " %12" PRIu64 "\n", t->name,
               mg_ggml_type_name(t->type), shape, t->offset, t->nbytes);
    }
    mg_gguf_close(f);
    return fflush(stdout) == 0 ? 0 : 1;
}
