/* grid.c - `mergeguard grid CONFIG.yml --param weight=0.25,0.5,1 ... --data D -o OUT`:
 * the paper's grid-search baselines, every point merged in memory and scored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "search/grid.h"

static void help(void) {
    printf("usage: mergeguard grid CONFIG.yml --param NAME=V1,V2,... [--param ...] --data D "
           "[-o OUT]\n\n"
           "Merges every point of the grid in memory (a per-model parameter such as weight or\n"
           "density is set on every non-base model, a global one such as t at the top level),\n"
           "scores it (CE on alignment and task records) and prints a table. The paper selects\n"
           "the point with the best domain accuracy; here the lowest task CE is marked as its\n"
           "stand-in until accuracy metrics are wired in.\n\n"
           "OUT gets grid.md, point_NNN.yml for every point and best_config.yml.\n\n"
           "options:\n"
           "  --param NAME=V1,V2,...  a grid axis (repeatable)\n"
           "  --data FILE             JSONL {prompt, response, type}\n"
           "  --alpha A               task CE weight in the fitness column (default 0.3)\n"
           "  --alignment-weight W    alignment CE weight (default 1)\n"
           "  --samples-per-type N    records per type (default all)\n"
           "  --seed S                subsampling seed\n"
           "  -o, --output OUT        output folder; --force replaces it\n"
           "  --threads N, -q, -v\n");
}

int mg_cmd_grid(int argc, char **argv) {
    mg_grid_opts o = {.alpha = 0.3, .alignment_weight = 1.0, .progress = true};
    mg_grid_param *params = mg_calloc((size_t)argc, sizeof *params);
    double **vals = mg_calloc((size_t)argc, sizeof(double *));
    char **names = mg_calloc((size_t)argc, sizeof(char *));
    size_t np = 0;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            goto out;
        }
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) rc = 2;
            continue;
        }
        if (!strcmp(a, "--force"))
            o.force = true;
        else if (a[0] == '-' && i + 1 < argc) {
            const char *v = argv[++i];
            long long n;
            if (!strcmp(a, "--data"))
                o.data = v;
            else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
                o.out_dir = v;
            else if (!strcmp(a, "--alpha") || !strcmp(a, "--alignment-weight")) {
                double d;
                if (!mg_cli_parse_double(v, &d) || d < 0)
                    rc = mg_cli_usage_error("grid", "%s expects a number >= 0, got '%s'", a, v);
                else if (!strcmp(a, "--alpha"))
                    o.alpha = d;
                else
                    o.alignment_weight = d;
            } else if (!strcmp(a, "--samples-per-type") || !strcmp(a, "--seed")) {
                if (!mg_cli_parse_int(v, 0, 0x7fffffffffffffffLL, &n))
                    rc = mg_cli_usage_error("grid", "%s expects a non-negative integer", a);
                else if (!strcmp(a, "--seed"))
                    o.seed = (uint64_t)n;
                else
                    o.samples_per_type = n;
            } else if (!strcmp(a, "--param")) {
                const char *eq = strchr(v, '=');
                if (!eq || eq == v || !eq[1]) {
                    rc = mg_cli_usage_error("grid", "--param expects NAME=V1,V2,..., got '%s'", v);
                    break;
                }
                names[np] = mg_strndup(v, (size_t)(eq - v));
                vals[np] = mg_calloc(strlen(eq) + 1, sizeof(double));
                size_t nv = 0;
                char *list = mg_strdup(eq + 1), *save = NULL;
                for (char *t = strtok_r(list, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save))
                    if (!mg_cli_parse_double(t, &vals[np][nv++]))
                        rc = mg_cli_usage_error("grid", "--param %s: '%s' is not a number",
                                                names[np], t);
                free(list);
                params[np] = (mg_grid_param){names[np], vals[np], nv};
                np++;
            } else
                rc = mg_cli_usage_error("grid", "unknown option '%s'", a);
        } else if (!o.config && a[0] != '-') {
            o.config = a;
        } else {
            rc = mg_cli_usage_error("grid", "unexpected argument '%s'", a);
        }
    }
    if (!rc && !o.config) rc = mg_cli_usage_error("grid", "missing CONFIG.yml");
    if (!rc && !np) rc = mg_cli_usage_error("grid", "give at least one --param");
    if (!rc && !o.data) rc = mg_cli_usage_error("grid", "missing --data DATA.jsonl");
    if (!rc) {
        o.params = params;
        o.n_params = np;
        mg_grid_result r = {0};
        mg_error err = {0};
        if (mg_grid_run(&o, &r, &err)) {
            rc = mg_cli_fail(&err);
        } else {
            for (size_t k = 0; k < np; k++)
                printf("%-10s ", names[k]);
            printf("%-12s %-12s %-12s\n", "fitness", "ce_align", "ce_task");
            for (size_t i = 0; i < r.n_points; i++) {
                for (size_t k = 0; k < np; k++)
                    printf("%-10g ", r.points[i].values[k]);
                printf("%-12.6g %-12.6g %-12.6g%s\n", r.points[i].fitness, r.points[i].ce[0],
                       r.points[i].ce[1], i == r.best ? "  <- selected (lowest task CE)" : "");
            }
            mg_grid_result_free(&r);
        }
    }
out:
    for (size_t k = 0; k < np; k++) {
        free(names[k]);
        free(vals[k]);
    }
    free(names);
    free(vals);
    free(params);
    return rc;
}
