/* demo.c - `mergeguard demo [--quick] [-o DIR]`: the paper's study end to end
 * on the lab world (the work is in src/demo). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "demo/demo.h"

static void help(void) {
    printf(
        "usage: mergeguard demo [--quick] [-o DIR] [--seed S] [--world DIR] [--force]\n"
        "                       [--threads N] [-q] [-v]\n\n"
        "Reproduces the paper's study (Hammoud et al. 2024) on the lab's micro models:\n"
        "  1. the lab world (built into the cache on first use, like `lab build`)\n"
        "  2. the pool models' alignment (guard judge) and domain accuracy (MC tests)\n"
        "  3. D_safety and D_expert made by the gen-data pipelines\n"
        "  4. grid-search baselines: TIES / DARE-TIES (weight, density) and SLERP (t),\n"
        "     each selected by the best domain accuracy\n"
        "  5. EvoMM (TIES, DARE-TIES, SLERP) and LM-Cocktail with D_expert and with\n"
        "     D_expert + D_safety, and EvoMM's alpha sweep\n"
        "  6. the three-model pool (instruct, bio-expert, chem-expert)\n"
        "  7. DIR/report.md, report.json, alignment_vs_accuracy.svg, winner_weights.svg:\n"
        "     the paper's Tables 1 and 2 with this run's numbers beside the paper's,\n"
        "     and a verdict on each of the paper's claims 1-4 and 7\n\n"
        "options:\n"
        "  --quick        tiny world, fewer grid points, small budgets (a few minutes)\n"
        "  -o DIR         report folder (default demo-report, or demo-quick with --quick);\n"
        "                 DIR/work keeps every stage, so a rerun resumes\n"
        "  --seed S       world, data and search seed (default 1)\n"
        "  --world DIR    use this built lab folder instead of the cache\n"
        "  --force        discard the previous results in DIR\n"
        "  --threads N, -q, -v\n\n"
        "The full demo takes up to ~30 minutes on 2 cores once the small world is cached\n"
        "(building it takes up to ~20 more); --quick about 3 minutes including the tiny world.\n");
}

int mg_cmd_demo(int argc, char **argv) {
    mg_demo_opts o = {.seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        }
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--quick")) {
            o.quick = true;
        } else if (!strcmp(a, "--force")) {
            o.force = true;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) {
            o.out_dir = argv[++i];
        } else if (!strcmp(a, "--fevals") && i + 1 < argc) {
            long long v;
            if (!mg_cli_parse_int(argv[++i], 1, 100000, &v))
                return mg_cli_usage_error("demo", "--fevals expects an integer >= 1, got '%s'",
                                          argv[i]);
            o.fevals = (int)v;
        } else if (!strcmp(a, "--world") && i + 1 < argc) {
            o.world_dir = argv[++i];
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            long long v;
            if (!mg_cli_parse_int(argv[++i], 0, INT64_MAX, &v))
                return mg_cli_usage_error("demo", "--seed expects an integer >= 0, got '%s'",
                                          argv[i]);
            o.seed = (uint64_t)v;
        } else {
            return mg_cli_usage_error("demo", "unknown or incomplete option '%s'", a);
        }
    }
    if (!o.out_dir) o.out_dir = o.quick ? "demo-quick" : "demo-report";
    mg_error err = {0};
    if (mg_demo_run(&o, &err) != MG_OK) return mg_cli_fail(&err);
    return 0;
}
