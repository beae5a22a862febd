/* cocktail.c - `mergeguard cocktail --models A B ... --data data.jsonl -o OUT`:
 * LM-Cocktail merge weights from per-model losses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "search/cocktail.h"

static void help(void) {
    printf("usage: mergeguard cocktail --models A B ... --data DATA.jsonl [-o OUT] [options]\n\n"
           "LM-Cocktail (paper Eq. 3): scores every model (base included) on the records,\n"
           "weights = softmax(-loss / T), and merges the full models linearly with them.\n"
           "The loss is the mean response CE over all records (alignment and task pooled);\n"
           "records use the first model's tokenizer and chat template, or with --raw\n"
           "FlagEmbedding's 'prompt response</s>' without a template.\n\n"
           "OUT gets cocktail.json (losses, weights), cocktail_config.yml (reproduce with\n"
           "`mergeguard merge`) and model/. Without -o the weights are only printed.\n\n"
           "options:\n"
           "  --models A B ...        model folders (the list ends at the next option)\n"
           "  --data FILE             JSONL {prompt, response, type}\n"
           "  --temperature T         softmax temperature (default 1.0; the library uses 5)\n"
           "  --raw                   no chat template (input + ' ' + output + EOS)\n"
           "  --samples-per-type N    records per type, seeded subsample (default all)\n"
           "  --seed S                subsampling seed (default 0)\n"
           "  --dtype D               output dtype (default: the first model's)\n"
           "  -o, --output OUT        output folder; --force replaces it\n"
           "  --threads N, -q, -v\n");
}

int mg_cmd_cocktail(int argc, char **argv) {
    mg_cocktail_opts o = {.temperature = 1.0, .progress = true};
    const char **models = mg_calloc((size_t)argc, sizeof(char *));
    size_t nm = 0;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            free(models);
            return 0;
        }
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) rc = 2;
            continue;
        }
        if (!strcmp(a, "--raw"))
            o.raw = true;
        else if (!strcmp(a, "--force"))
            o.force = true;
        else if (!strcmp(a, "--models")) {
            while (i + 1 < argc && argv[i + 1][0] != '-')
                models[nm++] = argv[++i];
            if (!nm) rc = mg_cli_usage_error("cocktail", "--models needs at least one folder");
        } else if (a[0] == '-' && i + 1 < argc) {
            const char *v = argv[++i];
            long long n;
            if (!strcmp(a, "--data"))
                o.data = v;
            else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
                o.out_dir = v;
            else if (!strcmp(a, "--dtype"))
                o.dtype = v;
            else if (!strcmp(a, "--temperature")) {
                if (!mg_cli_parse_double(v, &o.temperature) || !(o.temperature > 0))
                    rc = mg_cli_usage_error("cocktail",
                                            "--temperature expects a positive number, got '%s'", v);
            } else if (!strcmp(a, "--samples-per-type") || !strcmp(a, "--seed")) {
                if (!mg_cli_parse_int(v, 0, 0x7fffffffffffffffLL, &n))
                    rc = mg_cli_usage_error("cocktail",
                                            "%s expects a non-negative integer, got '%s'", a, v);
                else if (!strcmp(a, "--seed"))
                    o.seed = (uint64_t)n;
                else
                    o.samples_per_type = n;
            } else
                rc = mg_cli_usage_error("cocktail", "unknown option '%s'", a);
        } else {
            rc = mg_cli_usage_error("cocktail", "unexpected argument '%s'", a);
        }
    }
    if (!rc && nm < 2) rc = mg_cli_usage_error("cocktail", "--models needs at least two folders");
    if (!rc && !o.data) rc = mg_cli_usage_error("cocktail", "missing --data DATA.jsonl");
    if (rc) {
        free(models);
        return rc;
    }
    o.models = models;
    o.n_models = nm;
    mg_cocktail_result r = {0};
    mg_error err = {0};
    mg_status st = mg_cocktail_run(&o, &r, &err);
    if (st) {
        free(models);
        return mg_cli_fail(&err);
    }
    printf("cocktail: %zu alignment + %zu task records, T = %g, %s mode\n", r.records[0],
           r.records[1], o.temperature, o.raw ? "raw" : "chat");
    printf("%-12s %-12s %-12s %-12s model\n", "weight", "loss", "ce_align", "ce_task");
    for (size_t i = 0; i < r.n; i++)
        printf("%-12.6f %-12.6g %-12.6g %-12.6g %s\n", r.weight[i], r.loss[i], r.ce[i][0],
               r.ce[i][1], models[i]);
    if (o.out_dir) printf("cocktail: outputs in %s\n", o.out_dir);
    mg_cocktail_result_free(&r);
    free(models);
    return 0;
}
