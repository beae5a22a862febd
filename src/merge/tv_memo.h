/* tv_memo.h - magnitude statistics of task vectors kept across merges.
 *
 * A search (evolve, grid) merges the same task vectors delta = x - base again
 * and again with new densities. The top-k rule of a magnitude sparsifier only
 * needs, for the k-th largest |delta|, its key bits, how many keys lie above
 * it and how many equal it; with those, a merge needs no selection pass. So
 * the distinct values of |delta| (as key bits) with their counts, sorted, are
 * kept per (tensor, model, base) in the plan's input cache (a blob, 12 bytes
 * per distinct value: checkpoints stored in bf16 give a few ten thousand
 * distinct values per tensor), built in one pass the first time a tensor is
 * merged. Task vectors with more than mg_tv_memo_max (2^20) distinct values (f32
 * checkpoints) are marked and left to the selection passes.
 * Only used when the kernel context carries input ids and a memo cache
 * (merge/method.h). Thread-safety: reentrant; the cache locks itself. */
#ifndef MG_MERGE_TV_MEMO_H
#define MG_MERGE_TV_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merge/method.h"

/* Distinct values a memo may hold (tests lower it). */
extern uint64_t mg_tv_memo_max;
extern _Atomic uint64_t mg_tv_memo_builds; // memos built (tests)

/* The k-th largest key (ties by index): keys above thr are kept, `above` of
 * them; `ties` keys equal thr, of which the first k - above (by index) are
 * kept. */
typedef struct mg_tv_rule {
    uint32_t thr;
    uint64_t above, ties;
} mg_tv_rule;

/* Rules for selections j < nsel: the k[j] (1 <= k[j] <= numel) largest
 * |x_model[j] - x_base| (f32 differences of the kernel's inputs). ok[j] false
 * when the memo is not available for that model; building it reads the
 * tensor once for all models that lack it. */
mg_status mg_tv_memo_rules(const mg_kernel_ctx *c, size_t nsel, const size_t *model,
                           const uint64_t *k, mg_tv_rule *out, bool *ok, mg_error *err);

#endif // MG_MERGE_TV_MEMO_H
