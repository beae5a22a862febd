/* tokenize.c - `mergeguard tokenize MODEL TEXT`: encode text with a model's
 * own tokenizer.json (ids, pieces or JSON), or decode ids back to text. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "text/tokenizer.h"

static const char *HELP =
    "usage: mergeguard tokenize MODEL TEXT [--ids|--pieces|--json] [--no-special]\n"
    "       mergeguard tokenize MODEL --decode \"1 2 3\" [--json] [--no-special]\n"
    "\n"
    "Encodes TEXT with the model's tokenizer.json exactly as Hugging Face tokenizers\n"
    "does (special-token text such as <|eot_id|> becomes one id). MODEL is a model\n"
    "folder or a tokenizer.json path. TEXT '-' reads standard input. Invalid UTF-8\n"
    "is replaced by U+FFFD before encoding.\n"
    "\n"
    "  --ids           print the ids on one line, space-separated (default)\n"
    "  --pieces        print one token per line: id, tab, the token string as JSON\n"
    "  --json          print {\"ids\": [...], \"pieces\": [...]} (or {\"text\": ...})\n"
    "  --no-special    encode without the post-processor's tokens (BOS etc.);\n"
    "                  with --decode, drop special tokens from the text\n"
    "  --decode IDS    decode ids (separated by spaces or commas) to text\n"
    "  -q, -v, --threads N   common options\n";

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = (char *)mg_malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = (char *)mg_realloc(buf, cap);
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool parse_ids(const char *s, int32_t **ids, size_t *n) {
    size_t cap = 16;
    *ids = (int32_t *)mg_malloc_array(cap, sizeof(int32_t));
    *n = 0;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n' || *s == '[' || *s == ']') s++;
        if (!*s) break;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX) return false;
        if (*n == cap) *ids = (int32_t *)mg_realloc(*ids, (cap *= 2) * sizeof(int32_t));
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
    }
    return true;
}

int mg_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *decode = NULL;
    enum { OUT_IDS, OUT_PIECES, OUT_JSON } mode = OUT_IDS;
    bool special = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(HELP, stdout);
            return 0;
        }
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--ids")) {
            mode = OUT_IDS;
        } else if (!strcmp(a, "--pieces")) {
            mode = OUT_PIECES;
        } else if (!strcmp(a, "--json")) {
            mode = OUT_JSON;
        } else if (!strcmp(a, "--no-special")) {
            special = false;
        } else if (!strcmp(a, "--decode")) {
            if (i + 1 >= argc) return mg_cli_usage_error("tokenize", "--decode needs a list of ids");
            decode = argv[++i];
        } else if (a[0] == '-' && a[1] && strcmp(a, "-")) {
            return mg_cli_usage_error("tokenize", "unknown option '%s'", a);
        } else if (!model) {
            model = a;
        } else if (!text) {
            text = a;
        } else {
            return mg_cli_usage_error("tokenize", "unexpected argument '%s'", a);
        }
    }
    if (!model) return mg_cli_usage_error("tokenize", "missing MODEL");
    if (!text && !decode) return mg_cli_usage_error("tokenize", "missing TEXT (or --decode IDS)");
    if (text && decode) return mg_cli_usage_error("tokenize", "give TEXT or --decode, not both");

    int32_t *ids = NULL;
    size_t n = 0;
    if (decode && !parse_ids(decode, &ids, &n)) {
        free(ids);
        return mg_cli_usage_error("tokenize", "--decode: expected non-negative integer ids, got '%s'",
                                  decode);
    }
    mg_error err = {0};
    mg_tokenizer *tok = NULL;
    if (mg_tokenizer_load(model, &tok, &err) != MG_OK) {
        free(ids);
        return mg_cli_fail(&err);
    }
    int code = 0;
    if (decode) {
        char *out;
        size_t len;
        if (mg_tokenizer_decode(tok, ids, n, !special, &out, &len, &err) != MG_OK) {
            code = mg_cli_fail(&err);
        } else if (mode == OUT_JSON) {
            json_t *o = json_pack("{s:s%}", "text", out, len);
            char *s = json_dumps(o, JSON_ENSURE_ASCII);
            printf("%s\n", s);
            free(s);
            json_decref(o);
        } else {
            fwrite(out, 1, len, stdout);
            putchar('\n');
        }
        free(out);
    } else {
        size_t len;
        char *owned = NULL;
        if (!strcmp(text, "-")) text = owned = read_stdin(&len);
        else len = strlen(text);
        if (mg_tokenizer_encode(tok, text, len, special, &ids, &n, &err) != MG_OK) {
            code = mg_cli_fail(&err);
        } else if (mode == OUT_IDS) {
            for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
            putchar('\n');
        } else {
            json_t *arr = json_array(), *pieces = json_array();
            for (size_t i = 0; i < n; i++) {
                const char *p = mg_tokenizer_id_to_piece(tok, ids[i]);
                json_array_append_new(arr, json_integer(ids[i]));
                json_array_append_new(pieces, json_string(p ? p : ""));
            }
            if (mode == OUT_JSON) {
                json_t *o = json_pack("{s:o,s:o}", "ids", arr, "pieces", pieces);
                char *s = json_dumps(o, JSON_ENSURE_ASCII);
                printf("%s\n", s);
                free(s);
                json_decref(o);
            } else {
                for (size_t i = 0; i < n; i++) {
                    char *s = json_dumps(json_array_get(pieces, i), JSON_ENCODE_ANY);
                    printf("%d\t%s\n", ids[i], s);
                    free(s);
                }
                json_decref(arr);
                json_decref(pieces);
            }
        }
        free(owned);
    }
    free(ids);
    mg_tokenizer_free(tok);
    return code;
}
