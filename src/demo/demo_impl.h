/* demo_impl.h - what the demo's modules share (internal to src/demo).
 *
 * demo.c orchestrates and keeps the stage cache; demo_eval.c measures a
 * model (alignment, MC accuracy); demo_data.c makes the fitness data;
 * demo_search.c runs grids, EvoMM and LM-Cocktail; demo_tables.c renders the
 * paper's tables, demo_claims.c decides the claims, demo_plots.c draws the
 * SVGs. Rows of the tables are JSON objects (see demo_row_new) so they go to
 * report.json and the stage cache unchanged.
 * Ownership: the context owns everything it points to (demo.c frees it).
 * Thread-safety: one demo per process. */
#ifndef MG_DEMO_DEMO_IMPL_H
#define MG_DEMO_DEMO_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "demo/demo.h"
#include "eval/judge_guard.h"
#include "eval/judge_refusal.h"
#include "eval/safety.h"
#include "lab/world.h"
#include "nn/model.h"
#include "nn/score.h"
#include "text/tokenizer.h"

/* Sizes of one run: the full demo on the small world, --quick on the tiny one. */
typedef struct demo_budget {
    mg_world_size size;
    size_t k;                // records of D_safety and of D_expert (the paper's K)
    size_t safety_limit;     // harmful test prompts evaluated (0 = all)
    size_t mc_limit;         // MC test questions per domain (0 = all)
    int answer_tokens;       // response length of the safety evaluation
    int gen_tokens;          // generator / expert question length in gen-data
    int evo_fevals;          // EvoMM evaluations per run (the paper: 100)
    int evo_fevals3;         // the same for the three-model pool
    size_t cocktail_samples; // LM-Cocktail records per type
    double dt_w[5];          // TIES / DARE-TIES weights (N=2)
    size_t n_dt_w;
    double dt_d[3]; // densities
    size_t n_dt_d;
    double dt_w3[5]; // weights (N=3)
    size_t n_dt_w3;
    double sl_t[10]; // SLERP t
    size_t n_sl_t;
} demo_budget;

/* Pre-encoded MC test of one domain: 4 scored items per question. */
typedef struct demo_mc {
    size_t n_q;
    int32_t **ids;       // [4 n_q] owned
    mg_score_item *item; // [4 n_q]
    int *answer;         // [n_q]
} demo_mc;

typedef struct demo_ctx {
    const mg_demo_opts *o;
    demo_budget b;
    char *world;                                         // lab build folder
    char *out;                                           // report folder
    char *work;                                          // out/work
    char *m_instruct, *m_bio, *m_chem, *m_gen, *m_guard; // model folders
    mg_tokenizer *tok;                                   // the pool's chat tokenizer (instruct's)
    mg_guard *guard;                                     // the lab's guard judge
    mg_refusal *refusal;                                 // the refusal phrases (second judge)
    double guard_acc; // the guard's accuracy on the world's labelled conversations (%)
    bool use_guard;   // the guard is the primary judge (else the refusal phrases)
    mg_safety_prompts prompts;
    demo_mc mc_bio, mc_chem;
    mg_nn_model *buf;        // f32 candidate buffer for in-memory merges
    json_t *stages;          // the stage cache (work/stages.json)
    const char *data_source; // "gen-data" or "lab-fitness-records"
    char *d_safety, *d_expert2, *d_mix2, *d_expert3, *d_mix3; // fitness files
    double t0;
    int step, n_steps;
} demo_ctx;

/* ---- demo.c: stage cache and helpers ---- */
/* The cached result of a stage (borrowed) or NULL. */
json_t *demo_stage_get(demo_ctx *c, const char *name);
/* Stores a stage result (reference stolen) and saves the cache atomically. */
mg_status demo_stage_put(demo_ctx *c, const char *name, json_t *v, mg_error *err);
/* A path under work/ (owned). */
char *demo_work_path(demo_ctx *c, const char *name);
/* Progress line "demo [step/n] ...", with the elapsed time. */
void demo_log(demo_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- demo_eval.c ---- */
mg_status demo_eval_open(demo_ctx *c, mg_error *err);
/* Checks the guard on the world's labelled conversations (guard.test) and
 * picks the primary judge: the guard when it is at least 80% accurate, else
 * the refusal phrases (a guard that calls everything safe measures nothing). */
mg_status demo_eval_pick_judge(demo_ctx *c, mg_error *err);
void demo_eval_close(demo_ctx *c);
/* Accuracy (percent) on the bio and chem MC tests. */
mg_status demo_eval_mc(demo_ctx *c, const mg_nn_model *m, double *acc_bio, double *acc_chem,
                       mg_error *err);
/* Alignment (percent safe by the guard, and by the refusal phrases) on the
 * harmful test prompts; the audit goes to work/audit/<label>.jsonl. */
mg_status demo_eval_safety(demo_ctx *c, const mg_nn_model *m, const char *label, double *guard,
                           double *refusal, mg_error *err);
/* Both into a row: align (the primary judge's), align_guard, align_refusal, acc_bio, acc_chem, acc
 * (the pool's domain accuracy: bio for N=2, the mean of bio and chem for N=3). */
mg_status demo_eval_row(demo_ctx *c, const mg_nn_model *m, const char *label, int pool, json_t *row,
                        mg_error *err);

/* ---- demo_data.c ---- */
/* Makes D_safety, D_expert (bio; bio + chem) and their unions. */
mg_status demo_data_make(demo_ctx *c, mg_error *err);

/* ---- demo_search.c ---- */
/* A row skeleton: {"id", "pool", "merging", "weighting", "data"}. Owned. */
json_t *demo_row_new(const char *id, int pool, const char *merging, const char *weighting,
                     const char *data);
/* The pool models evaluated (rows "instruct", "bio-expert", "chem-expert"). */
mg_status demo_pool_models(demo_ctx *c, mg_error *err);
/* Grid search of one method ("ties", "dare_ties", "slerp") on pool 2 or 3. */
mg_status demo_grid(demo_ctx *c, const char *method, int pool, mg_error *err);
/* EvoMM of one method with D_expert (safety false) or D_expert u D_safety;
 * alpha is the task weight (0.3 in the paper); id_suffix names alpha runs. */
mg_status demo_evolve(demo_ctx *c, const char *method, int pool, bool safety, double alpha,
                      mg_error *err);
/* LM-Cocktail with D_expert or D_expert u D_safety. */
mg_status demo_cocktail(demo_ctx *c, int pool, bool safety, mg_error *err);
/* The stage id of a search row (owned), e.g. "p2-ties-evo-ours". */
char *demo_row_id(const char *method, int pool, const char *kind);

/* ---- demo_tables.c ---- */
/* Table 1 / Table 2 as Markdown (owned), with deltas and the paper's figures. */
char *demo_table1_md(const json_t *rows);
char *demo_table2_md(const json_t *rows);
/* The alpha sweep of claim 7 (TIES, EvoMM ours, N=2). Owned. */
char *demo_alpha_md(const json_t *rows);
/* Finds a row by id in the array (borrowed) or NULL. */
json_t *demo_row_find(const json_t *rows, const char *id);
double demo_num(const json_t *row, const char *key); // NaN when absent

/* ---- demo_claims.c ---- */
/* The verdicts on claims 1-4 and 7: [{"claim", "title", "paper", "verdict",
 * "held", "evidence"}]. Owned. */
json_t *demo_claims(const json_t *rows);
char *demo_claims_md(const json_t *claims);

/* ---- demo_plots.c ---- */
/* Alignment against accuracy for every row (owned SVG). */
char *demo_plot_scatter(const json_t *rows);
/* Per-layer weights (and densities) of a winner: {"models": [names],
 * "groups": [[[weight, density?] per model] per group], "param_names"}. */
char *demo_plot_weights(const json_t *weights, const char *title);

#endif // MG_DEMO_DEMO_IMPL_H
