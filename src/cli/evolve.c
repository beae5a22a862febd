/* evolve.c - `mergeguard evolve EVOLVE.yml --data data.jsonl -o OUT`: safety-aware
 * evolutionary merging (CMA-ES over a mergekit-evolve genome). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "search/evolve.h"

static void help(void) {
    printf("usage: mergeguard evolve EVOLVE.yml --data DATA.jsonl -o OUT [options]\n\n"
           "Searches merge coefficients with CMA-ES (paper: EvoMM, safety-aware). EVOLVE.yml is\n"
           "a mergekit-evolve config (genome: models, merge_method = linear | task_arithmetic |\n"
           "ties | dare_ties | slerp, base_model, layer_granularity, filters, normalize,\n"
           "allow_negative_weights, smooth, tokenizer_source). Each candidate is merged in\n"
           "memory and scored by L = CE(alignment records) + alpha * CE(task records) on\n"
           "response tokens, with the chat template of the tokenizer source.\n\n"
           "OUT gets evaluations.jsonl (every candidate), state.json (checkpoint after each\n"
           "generation), best_config.yml (reproduce with `mergeguard merge`), model/ (the\n"
           "winner), report.md, fitness.svg, weights.svg.\n\n"
           "options (override the config's keys of the same name):\n"
           "  --data FILE             fitness records, JSONL {prompt, response, type}\n"
           "  -o, --output OUT        output folder\n"
           "  --alpha A               weight of the task CE (default 0.3)\n"
           "  --alignment-weight W    weight of the alignment CE (default 1; 0 = task only)\n"
           "  --max-fevals N          evaluation budget (default 100; whole generations)\n"
           "  --samples-per-type N    records per type, seeded subsample (default 1000, 0 = all)\n"
           "  --seed S                CMA-ES and subsampling seed (default 0)\n"
           "  --popsize N             population (default 4 + floor(3 ln genes))\n"
           "  --sigma0 X              initial step size (default 1/6)\n"
           "  --resume                continue the checkpointed run in OUT\n"
           "  --force                 start afresh even if OUT exists\n"
           "  --no-final-model        skip writing OUT/model\n"
           "  --threads N, -q, -v\n\n"
           "Distributed: mpirun -np K mergeguard evolve ... (a WITH_MPI build) evaluates each\n"
           "generation's candidates across ranks; the log equals a one-process run's.\n");
}

static int num_opt(const char *name, const char *v, double lo, double hi, double *out) {
    if (!mg_cli_parse_double(v, out) || !(*out >= lo && *out <= hi))
        return mg_cli_usage_error("evolve", "%s expects a number in [%g, %g], got '%s'", name, lo,
                                  hi, v);
    return 0;
}

static int int_opt(const char *name, const char *v, long long lo, long long hi, long long *out) {
    if (!mg_cli_parse_int(v, lo, hi, out))
        return mg_cli_usage_error("evolve", "%s expects an integer in [%lld, %lld], got '%s'", name,
                                  lo, hi, v);
    return 0;
}

int mg_cmd_evolve(int argc, char **argv) {
    mg_dist_init(&argc, &argv);
    const char *cfg_path = NULL;
    mg_evolve_opts o = {.final_model = true, .progress = true};
    double alpha = -1, aw = -1, sigma0 = -1;
    long long maxf = -1, spt = -1, seed = -1, pop = -1, stop_after = 0;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            mg_dist_finalize();
            return 0;
        }
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) rc = 2;
            continue;
        }
        if (!strcmp(a, "--resume"))
            o.resume = true;
        else if (!strcmp(a, "--force"))
            o.force = true;
        else if (!strcmp(a, "--no-final-model"))
            o.final_model = false;
        else if (a[0] == '-' && a[1]) {
            if (i + 1 >= argc) {
                rc = mg_cli_usage_error("evolve", "%s needs a value", a);
                break;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--data"))
                o.data = v;
            else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
                o.out_dir = v;
            else if (!strcmp(a, "--alpha"))
                rc = num_opt(a, v, 0, 1e6, &alpha);
            else if (!strcmp(a, "--alignment-weight"))
                rc = num_opt(a, v, 0, 1e6, &aw);
            else if (!strcmp(a, "--sigma0"))
                rc = num_opt(a, v, 1e-12, 1e6, &sigma0);
            else if (!strcmp(a, "--max-fevals"))
                rc = int_opt(a, v, 1, 1LL << 40, &maxf);
            else if (!strcmp(a, "--samples-per-type"))
                rc = int_opt(a, v, 0, 1LL << 40, &spt);
            else if (!strcmp(a, "--seed"))
                rc = int_opt(a, v, 0, 0x7fffffffffffffffLL, &seed);
            else if (!strcmp(a, "--popsize"))
                rc = int_opt(a, v, 2, 100000, &pop);
            // Testing aid (undocumented): stop after N generations, as a kill would.
            else if (!strcmp(a, "--stop-after-generations"))
                rc = int_opt(a, v, 1, 1LL << 40, &stop_after);
            else
                rc = mg_cli_usage_error("evolve", "unknown option '%s'", a);
        } else if (!cfg_path) {
            cfg_path = a;
        } else {
            rc = mg_cli_usage_error("evolve", "unexpected argument '%s'", a);
        }
    }
    if (!rc && !cfg_path) rc = mg_cli_usage_error("evolve", "missing EVOLVE.yml");
    if (!rc && !o.data) rc = mg_cli_usage_error("evolve", "missing --data DATA.jsonl");
    if (!rc && !o.out_dir) rc = mg_cli_usage_error("evolve", "missing -o OUT");
    if (!rc && o.resume && o.force)
        rc = mg_cli_usage_error("evolve", "--resume and --force exclude each other");
    if (rc) {
        mg_dist_finalize();
        return rc;
    }
    o.stop_after_generations = (int)stop_after;
    mg_error err = {0};
    mg_evolve_config *cfg = NULL;
    mg_status st = mg_dist_check_launch(&err);
    if (!st) st = mg_evolve_config_load(cfg_path, &cfg, &err);
    if (st) {
        rc = mg_cli_fail(&err);
        mg_dist_finalize();
        return rc;
    }
    if (mg_dist_rank() == 0)
        for (size_t i = 0; i < cfg->n_warnings; i++)
            mg_log_warn("%s", cfg->warnings[i]);
    if (alpha >= 0) cfg->alpha = alpha;
    if (aw >= 0) cfg->alignment_weight = aw;
    if (sigma0 > 0) cfg->sigma0 = sigma0;
    if (maxf > 0) cfg->max_fevals = maxf;
    if (spt >= 0) cfg->samples_per_type = spt;
    if (seed >= 0) cfg->seed = (uint64_t)seed;
    if (pop > 0) cfg->population = (int)pop;
    o.progress = mg_dist_rank() == 0;
    mg_evolve_summary sum = {0};
    st = mg_evolve_run(cfg, &o, &sum, &err);
    if (st) {
        rc = mg_cli_fail(&err);
    } else if (mg_dist_rank() == 0) {
        printf("evolve: %lld evaluations in %lld generations (stop: %s); best fitness %.6g "
               "(CE alignment %.6g, CE task %.6g)\n",
               (long long)sum.fevals, (long long)sum.generations, sum.stop_reason, sum.best_fitness,
               sum.best_ce[0], sum.best_ce[1]);
        if (sum.fevals)
            printf("evolve: per candidate on this rank: merge %.3f s, scoring %.3f s\n",
                   sum.merge_seconds / (double)(sum.fevals),
                   sum.score_seconds / (double)sum.fevals);
        printf("evolve: outputs in %s\n", o.out_dir);
    }
    mg_evolve_config_free(cfg);
    mg_dist_finalize();
    return rc;
}
