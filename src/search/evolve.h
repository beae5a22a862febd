/* evolve.h - safety-aware evolutionary merging (EvoMM, paper §5): CMA-ES over a
 * mergekit-evolve genome, each candidate merged in memory into the runtime's
 * f32 weights and scored by the response-CE fitness, with checkpoint/resume
 * and optional MPI distribution.
 *
 * The evolve config (YAML) is mergekit-evolve's: a `genome:` mapping
 * (genome.h) plus keys mergekit-evolve has for lm-eval (tasks, limit,
 * num_fewshot, shuffle, apply_chat_template, fewshot_as_multiturn; accepted and
 * ignored with a warning for `tasks`, since the fitness here comes from the
 * data file) and `random_init`. mergeguard adds optional search keys, which
 * command-line options override: alpha (task weight, 0.3), alignment_weight
 * (1.0), samples_per_type (1000; 0 = all), max_fevals (100), seed (0),
 * sigma0 (1/6), population (0 = 4 + floor(3 ln n)), max_length (2048).
 *
 * Output folder (OUT): state.json (CMA-ES state + settings, written
 * atomically after every generation), evaluations.jsonl (one line per
 * evaluation: eval, generation, index, genotype, fitness, ce_alignment,
 * ce_task, then "time": {merge, score} last so logs compare equal once it is
 * stripped), best_config.yml (rewritten on every improvement), and at the end
 * model/ (the winner, written by the merge engine), report.md, fitness.svg,
 * weights.svg. A generation is committed when its log lines are flushed and
 * state.json names the line count; --resume truncates any uncommitted lines
 * and continues, so it ends exactly where an uninterrupted run ends.
 *
 * With MPI (WITH_MPI build, `mpirun -np K`), rank 0 runs CMA-ES and writes all
 * files; candidate k of a generation is evaluated by rank k mod K (each rank
 * holds its own model copy) and the results are reduced to rank 0, so the log
 * equals a one-process run's.
 *
 * Ownership: configs from mg_evolve_config_load are owned (_free).
 * Thread-safety: one run per process. */
#ifndef MG_SEARCH_EVOLVE_H
#define MG_SEARCH_EVOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/yaml.h"
#include "search/genome.h"

typedef struct mg_evolve_config {
    char *path;
    mg_yaml *root;
    mg_genome *genome;
    bool random_init;
    double alpha, alignment_weight;
    int64_t samples_per_type;
    int64_t max_fevals;
    uint64_t seed;
    double sigma0;
    int population;
    int max_length;
    char **warnings;
    size_t n_warnings;
} mg_evolve_config;

mg_status mg_evolve_config_load(const char *path, mg_evolve_config **out, mg_error *err);
void mg_evolve_config_free(mg_evolve_config *c); // NULL-safe

typedef struct mg_evolve_opts {
    const char *data; // fitness records (JSONL)
    const char *out_dir;
    bool resume;                // continue a checkpointed run in out_dir
    bool force;                 // start afresh even if out_dir exists
    bool final_model;           // write OUT/model (default true in the CLI)
    bool progress;              // one line per generation on stderr
    int stop_after_generations; // testing aid: return after this many generations (0 = off)
} mg_evolve_opts;

typedef struct mg_evolve_summary {
    int64_t fevals, generations;
    double best_fitness, best_ce[2];
    const char *stop_reason;             // static string
    double merge_seconds, score_seconds; // totals over this process's evaluations
} mg_evolve_summary;

/* Runs (or resumes) a search. Everything is validated before the first
 * evaluation: the genome, the initial merge config against the models (shapes,
 * architectures), the tokenizer and the data. */
mg_status mg_evolve_run(const mg_evolve_config *cfg, const mg_evolve_opts *o,
                        mg_evolve_summary *sum, mg_error *err);

/* Distribution (evolve_mpi.c): rank and size, 0 and 1 without MPI. Init and
 * finalize are no-ops without MPI; init may be called more than once. */
void mg_dist_init(int *argc, char ***argv);
void mg_dist_finalize(void);
int mg_dist_rank(void);
int mg_dist_size(void);
/* Collectives over all ranks (no-ops with one rank). */
void mg_dist_bcast_f64(double *x, size_t n);      // from rank 0
void mg_dist_reduce_sum_f64(double *x, size_t n); // into rank 0
void mg_dist_barrier(void);
/* MG_ERR_USAGE when this is one of several processes started by an MPI
 * launcher (mpirun) but the build has no MPI: each would run the whole
 * search into the same output. MG_OK otherwise, and always in MPI builds. */
mg_status mg_dist_check_launch(mg_error *err);

#endif // MG_SEARCH_EVOLVE_H
