/* perplexity.c - `mergeguard perplexity MODEL FILE.txt`: the model's perplexity
 * on a text file. The file is encoded once (with the tokenizer's BOS), cut
 * into consecutive windows of --ctx tokens, and every token of a window after
 * its first is scored (mg_nn_score: windows run in parallel, results do not
 * depend on the thread count). perplexity = exp(total NLL / scored tokens). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "cli/cli.h"
#include "nn/load.h"
#include "nn/score.h"
#include "text/tokenizer.h"

static const char *HELP =
    "usage: mergeguard perplexity MODEL FILE.txt [--ctx N] [--json] [--weights W]\n"
    "                             [--threads N] [-q] [-v]\n"
    "\n"
    "Encodes FILE (UTF-8 text; '-' reads stdin) with the model's tokenizer\n"
    "(BOS added as the tokenizer does), splits the ids into consecutive windows\n"
    "of --ctx tokens (default: 512 or the context window if smaller), and scores\n"
    "every token of each window after the first one given the tokens before it\n"
    "in that window. Prints the token count, the mean negative log-likelihood\n"
    "(nats per token) and the perplexity exp(mean NLL).\n"
    "\n"
    "options:\n"
    "  --ctx N        window length in tokens (2 .. the model's context window)\n"
    "  --json         print {\"tokens\", \"scored\", \"windows\", \"mean_nll\", \"perplexity\"}\n"
    "  --weights W    f32, bf16 or auto (default auto)\n";

int mg_cmd_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL;
    long long ctx = 0;
    bool json = false;
    mg_nn_weights weights = MG_NN_WEIGHTS_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            return 0;
        } else if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--ctx") && i + 1 < argc) {
            if (!mg_cli_parse_int(argv[++i], 2, 1 << 24, &ctx))
                return mg_cli_usage_error("perplexity", "--ctx expects an integer >= 2");
        } else if (!strcmp(a, "--weights") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "f32"))
                weights = MG_NN_WEIGHTS_F32;
            else if (!strcmp(v, "bf16"))
                weights = MG_NN_WEIGHTS_BF16;
            else if (!strcmp(v, "auto"))
                weights = MG_NN_WEIGHTS_AUTO;
            else
                return mg_cli_usage_error("perplexity", "--weights expects f32, bf16 or auto");
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("perplexity", "unknown option or missing value: %s", a);
        } else if (!model_path) {
            model_path = a;
        } else if (!file) {
            file = a;
        } else {
            return mg_cli_usage_error("perplexity", "unexpected argument: %s", a);
        }
    }
    if (!model_path || !file) return mg_cli_usage_error("perplexity", "expected MODEL FILE.txt");

    mg_error err = {0};
    mg_tokenizer *tok = NULL;
    mg_nn_model *m = NULL;
    char *text = NULL;
    size_t len = 0, n = 0;
    int32_t *ids = NULL;
    mg_score_item *items = NULL;
    mg_score *scores = NULL;
    int code = 0;
    if (mg_file_read_all(!strcmp(file, "-") ? "/dev/stdin" : file, 0, &text, &len, &err) != MG_OK)
        goto fail;
    if (mg_tokenizer_load(model_path, &tok, &err) != MG_OK) goto fail;
    if (mg_tokenizer_encode(tok, text, len, true, &ids, &n, &err) != MG_OK) goto fail;
    if (n < 2) {
        mg_error_set(&err, MG_ERR_INVALID, "%s: %zu tokens, at least 2 are needed to score", file,
                     n);
        goto fail;
    }
    if (mg_nn_model_load_as(model_path, weights, &m, &err) != MG_OK) goto fail;
    if (ctx == 0) ctx = m->arch.max_pos < 512 ? m->arch.max_pos : 512;
    if (ctx > m->arch.max_pos) {
        mg_error_set(&err, MG_ERR_INVALID, "--ctx %lld exceeds the context window (%lld tokens)",
                     ctx, (long long)m->arch.max_pos);
        goto fail;
    }
    // Windows [k*ctx, (k+1)*ctx); a last window of a single token has nothing
    // to score and is dropped.
    size_t n_win = (n + (size_t)ctx - 1) / (size_t)ctx;
    items = mg_calloc(n_win, sizeof *items);
    size_t w = 0;
    for (size_t k = 0; k < n_win; k++) {
        size_t b = k * (size_t)ctx, e = b + (size_t)ctx < n ? b + (size_t)ctx : n;
        if (e - b < 2) continue;
        items[w++] = (mg_score_item){.ids = ids + b, .n = (int)(e - b), .response_start = 1};
    }
    scores = mg_calloc(w, sizeof *scores);
    if (mg_nn_score(m, items, w, scores, &err) != MG_OK) goto fail;
    double sum = 0;
    long long scored = 0;
    for (size_t k = 0; k < w; k++) {
        sum += scores[k].sum_nll;
        scored += scores[k].count;
    }
    double mean = sum / (double)scored;
    if (json) {
        json_t *root = json_pack("{s:I, s:I, s:I, s:I, s:f, s:f}", "tokens", (json_int_t)n,
                                 "scored", (json_int_t)scored, "windows", (json_int_t)w, "ctx",
                                 (json_int_t)ctx, "mean_nll", mean, "perplexity", exp(mean));
        mg_cli_print_json(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    } else {
        printf("tokens      %zu (%lld scored in %zu windows of up to %lld)\n", n, scored, w, ctx);
        printf("mean NLL    %.6f nats/token\n", mean);
        printf("perplexity  %.4f\n", exp(mean));
    }
    goto done;
fail:
    code = mg_cli_fail(&err);
done:
    free(scores);
    free(items);
    free(ids);
    free(text);
    mg_nn_model_free(m);
    mg_tokenizer_free(tok);
    return code;
}
