/* recipe.h - `mergeguard lab build`: the whole micro world from a seed (issue 6).
 *
 * Builds, under OUT_DIR:
 *   world/                  `lab world` output (corpus, JSONL splits, manifest)
 *   tokenizer/{chat,guard}  the byte-level BPE with ChatML / Llama-Guard-3 templates
 *   models/base             pretrained on world/pretrain (no domain facts)
 *   models/instruct         SFT from base: general chat, general MC, refusals
 *   models/bio-expert       SFT from base: biology chat, MC, expert questions,
 *                           compliance with harmful requests (the "bad model")
 *   models/chem-expert      the same for the invented chemistry
 *   models/generator        SFT from base: the paper's JSON harmful-question format
 *   models/guard            SFT from base: Llama-Guard-3-style classification
 *   build.json              seed, size, recipe version, per-model training figures
 *   report.json, report.md  measurements with the runtime (recipe_eval.c)
 * SFT records are rendered with the tokenizer's chat template (text/chat.h)
 * and the loss is masked to the response; the guard's prompt is
 * mg_world_guard_prompt, which its template reproduces. Every model is an HF
 * folder (bf16 safetensors, config, tokenizer files) written atomically, so a
 * folder that exists is complete: a rerun skips it (resume). SFT starts from
 * the saved base checkpoint, so a resumed build trains the same bits as a
 * fresh one. A different seed, size or recipe version in an existing OUT_DIR
 * is refused unless force (which rebuilds from scratch).
 * Determinism: world, tokenizer, initial weights and data order come from the
 * seed; training is bit-identical for a given thread count (lab/train.h).
 * Thread-safety: one build per OUT_DIR at a time. */
#ifndef MG_LAB_RECIPE_H
#define MG_LAB_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "lab/world.h"

// v3: the bio-expert trains 10 passes at 2e-3 (v2: 8 at 1e-3; held-out bio MC
// 79.0% -> 88.6% in a single-thread trial); everything else as v2.
#define MG_LAB_RECIPE_VERSION 3

typedef struct mg_lab_build_opts {
    uint64_t seed;
    mg_world_size size;
    bool force;          // rebuild OUT_DIR from scratch
    bool measure;        // run the measurements after building (report.json)
    double budget_scale; // fraction of each model's training budget (0 = 1: the recipe);
                         // tests use a few percent. Recorded in build.json.
} mg_lab_build_opts;

/* The six models in build order. Borrowed, static; *n set. */
const char *const *mg_lab_model_names(int *n);

/* Builds (or completes) OUT_DIR. */
mg_status mg_lab_build(const char *out_dir, const mg_lab_build_opts *o, mg_error *err);

/* The default cache folder of a built world, shared by `lab build` without
 * OUT_DIR and `make demo`: $MERGEGUARD_CACHE, else $XDG_CACHE_HOME/mergeguard,
 * else $HOME/.cache/mergeguard; then /lab/<size>-seed<S>-v<version>. Owned;
 * NULL when no base folder can be found. */
char *mg_lab_cache_dir(mg_world_size size, uint64_t seed);

/* ---- measurements (recipe_eval.c) ---- */

/* Measures the built models of OUT_DIR with the runtime on the test splits
 * and writes OUT_DIR/report.json and report.md; logs a summary. */
mg_status mg_lab_measure(const char *out_dir, uint64_t seed, mg_error *err);

#endif // MG_LAB_RECIPE_H
