/* demo.h - `mergeguard demo`: the paper's study end to end on the lab world
 * (issue 10; paper.md sections 3, 8, 11).
 *
 * One call runs the whole pipeline on the lab's micro models:
 *  1. the lab world (built into, or reused from, the cache: lab/recipe.h);
 *  2. the pool models (instruct, bio-expert, chem-expert) evaluated: alignment
 *     with the lab's Llama-Guard-style judge (and the refusal phrases) on the
 *     held-out harmful prompts, domain accuracy on the bio / chem MC tests;
 *  3. D_safety and D_expert synthesized by the gen-data pipelines
 *     (data/synth_safety.h, synth_domain.h) with the world's own prompts;
 *  4. data-agnostic baselines: grids over TIES / DARE-TIES (density x weight)
 *     and SLERP (t), each point merged in memory (search/candidate.h), the
 *     point with the best domain accuracy selected, as the paper does;
 *  5. data-aware merging: EvoMM (search/evolve.h) with D_expert and with
 *     D_expert u D_safety on TIES, DARE-TIES and SLERP, LM-Cocktail
 *     (search/cocktail.h) with each, plus the alpha sweep of claim 7;
 *  6. the three-model pool with TIES and DARE-TIES (paper Table 2);
 *  7. OUT/report.md, report.json, alignment_vs_accuracy.svg and
 *     winner_weights.svg: the paper's Table 1 and Table 2 layouts with this
 *     run's numbers, the deltas and the paper's figures, and a verdict with
 *     its deciding numbers for each of claims 1-4 and 7.
 * Every stage's result is kept in OUT/work/stages.json as soon as it is done,
 * so an interrupted demo resumes where it stopped (the settings must match;
 * force starts over). The report files are replaced atomically.
 * Ownership: plain options; nothing returned. Thread-safety: one demo per OUT
 * at a time (the lab cache is shared with `lab build`). */
#ifndef MG_DEMO_DEMO_H
#define MG_DEMO_DEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_demo_opts {
    bool quick;            // tiny world, fewer grid points, small budgets
    const char *out_dir;   // report folder (required)
    uint64_t seed;         // lab world seed, data and search seeds (default 1)
    const char *world_dir; // a built lab folder; NULL = the cache (mg_lab_cache_dir)
    bool force;            // discard the previous results in out_dir
    int fevals;            // EvoMM evaluations per run (0 = the budget's: 60 full, 20 quick)
} mg_demo_opts;

/* Runs (or resumes) the demo; progress goes to the log (stderr). */
mg_status mg_demo_run(const mg_demo_opts *o, mg_error *err);

#endif // MG_DEMO_DEMO_H
