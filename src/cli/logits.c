/* logits.c - `mergeguard logits MODEL --ids "1 2 3" [--json | -o FILE.f32]`:
 * runs token ids through a model (one batched prefill) and prints or saves the
 * logits at every position, for debugging a model's predictions without a
 * tokenizer. -o writes raw little-endian float32 [n_tokens x vocab], the
 * format of the golden reference files. Everything is validated (model, ids,
 * context window) before any output. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "cli/cli.h"
#include "nn/forward.h"
#include "nn/kernels.h"
#include "nn/load.h"

static const char *HELP =
    "usage: mergeguard logits MODEL --ids \"ID ID ...\" [--json | -o FILE.f32 [--force]]\n"
    "                         [--top K] [--threads N] [-q] [-v]\n"
    "\n"
    "Runs the token ids through the model in one batch (positions 0..n-1, no BOS\n"
    "added) and reports the logits at every position: row t is the prediction\n"
    "for token t+1.\n"
    "\n"
    "options:\n"
    "  --ids LIST    token ids separated by spaces or commas (required)\n"
    "  --top K       text output: the K largest logits per position (default 5)\n"
    "  --json        print {\"ids\", \"vocab\", \"logits\": [[...], ...]} instead\n"
    "  -o FILE       write raw little-endian float32 [n_tokens x vocab] to FILE\n"
    "  --force       replace FILE if it exists\n"
    "  --threads N   threads (default: all cores); results do not depend on it\n";

// Parses "1 2, 3" into ids; false on anything that is not a non-negative int.
static bool parse_ids(const char *s, int32_t **ids, int *n) {
    int cap = 16;
    *ids = mg_malloc_array((size_t)cap, sizeof **ids);
    *n = 0;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n')
            s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n'))
            return false;
        if (*n == cap) *ids = mg_realloc(*ids, (size_t)(cap *= 2) * sizeof **ids);
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
    }
    return true;
}

static void print_text(const float *lg, const int32_t *ids, int n, int V, int top) {
    int *best = mg_malloc_array((size_t)top, sizeof *best);
    for (int t = 0; t < n; t++) {
        const float *row = lg + (size_t)t * V;
        // Insertion into a sorted list of at most `top` ids (top is small).
        int k = 0;
        for (int j = 0; j < V; j++) {
            if (k == top && !(row[j] > row[best[top - 1]])) continue;
            int pos = k < top ? k++ : top - 1;
            while (pos > 0 && row[j] > row[best[pos - 1]]) {
                best[pos] = best[pos - 1];
                pos--;
            }
            best[pos] = j;
        }
        printf("pos %d  token %d  lse %.6f  top:", t, ids[t], mg_nn_logsumexp(row, V));
        for (int i = 0; i < k; i++)
            printf(" %d (%.6f)", best[i], row[best[i]]);
        printf("\n");
    }
    free(best);
}

int mg_cmd_logits(int argc, char **argv) {
    const char *model_path = NULL, *ids_arg = NULL, *out_path = NULL;
    bool json = false, force = false;
    long long top = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            return 0;
        } else if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--ids") && i + 1 < argc) {
            ids_arg = argv[++i];
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            out_path = argv[++i];
        } else if (!strcmp(a, "--top") && i + 1 < argc) {
            if (!mg_cli_parse_int(argv[++i], 1, 1000, &top))
                return mg_cli_usage_error("logits", "--top expects an integer from 1 to 1000");
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("logits", "unknown option or missing value: %s", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return mg_cli_usage_error("logits", "unexpected argument: %s", a);
        }
    }
    if (!model_path) return mg_cli_usage_error("logits", "missing MODEL");
    if (!ids_arg) return mg_cli_usage_error("logits", "missing --ids");
    if (json && out_path) return mg_cli_usage_error("logits", "--json and -o exclude each other");
    int32_t *ids = NULL;
    int n = 0;
    if (!parse_ids(ids_arg, &ids, &n) || n == 0) {
        free(ids);
        return mg_cli_usage_error("logits", "--ids expects one or more non-negative integers");
    }

    mg_error err = {0};
    mg_nn_model *m = NULL;
    mg_nn_state *s = NULL;
    float *lg = NULL;
    int code = 0;
    if (mg_nn_model_load(model_path, &m, &err) != MG_OK) goto fail;
    if ((int64_t)n > m->arch.max_pos) {
        mg_error_set(&err, MG_ERR_INVALID, "%d ids exceed the context window of %s (%lld tokens)",
                     n, model_path, (long long)m->arch.max_pos);
        goto fail;
    }
    const int V = m->arch.vocab;
    if (mg_nn_state_new(m, n, 0, &s, &err) != MG_OK) goto fail;
    lg = mg_malloc_array((size_t)n * V, sizeof *lg);
    if (mg_nn_forward(m, s, ids, n, 0, lg, &err) != MG_OK) goto fail;

    if (out_path) {
        // x86-64 is little-endian: the buffer is the file format.
        if (mg_write_file_atomic(out_path, lg, (size_t)n * V * sizeof *lg, force, &err) != MG_OK)
            goto fail;
    } else if (json) {
        json_t *root = json_object(), *rows = json_array(), *jids = json_array();
        for (int t = 0; t < n; t++) {
            json_array_append_new(jids, json_integer(ids[t]));
            json_t *row = json_array();
            for (int j = 0; j < V; j++)
                json_array_append_new(row, json_real((double)lg[(size_t)t * V + j]));
            json_array_append_new(rows, row);
        }
        json_object_set_new(root, "model", json_string(model_path));
        json_object_set_new(root, "ids", jids);
        json_object_set_new(root, "vocab", json_integer(V));
        json_object_set_new(root, "logits", rows);
        mg_cli_print_json(root, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(9));
    } else {
        print_text(lg, ids, n, V, (int)(top < V ? top : V));
    }
    goto done;
fail:
    code = mg_cli_fail(&err);
done:
    free(lg);
    free(ids);
    mg_nn_state_free(s);
    mg_nn_model_free(m);
    return code;
}
