/* mix.h - the fitness set: D_safety and D_expert records combined into one
 * JSONL file (paper.md 4.3: the released code concatenates the sets,
 * shuffles with seed 42 and deduplicates by prompt).
 *
 * Every input record must be {"prompt": str, "response": str, "type":
 * "alignment" | "task", ...}; other fields are kept. Records are taken in
 * input order, a prompt seen before (exactly) is dropped, then the list is
 * shuffled (optional, seeded Fisher-Yates on the counter RNG) and at most
 * per_type records of each type are kept (the first ones after the shuffle).
 * The output is written atomically.
 * Ownership: plain function. Thread-safety: reentrant. */
#ifndef MG_DATA_MIX_H
#define MG_DATA_MIX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_mix_opts {
    bool shuffle;
    uint64_t seed;   // 42
    size_t per_type; // 0 = no limit
    bool force;      // replace an existing output
} mg_mix_opts;

/* Mixes the inputs into out_path. Errors (nothing written): an unreadable or
 * empty input, a record without prompt/response strings or with another type
 * (naming file and line). *summary (owned, may be NULL): {"inputs": n,
 * "read", "duplicates", "written", "by_type": {type: n}, "short_types":
 * [types with fewer than per_type records]}. */
mg_status mg_mix_run(const char *const *inputs, size_t n_inputs, const char *out_path,
                     const mg_mix_opts *o, json_t **summary, mg_error *err);

#endif // MG_DATA_MIX_H
