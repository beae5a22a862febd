/* sample.h - picking the next token from logits.
 *
 * Greedy when temperature is 0; otherwise HF's warper order: divide by the
 * temperature, keep the top_k logits (0 = all), keep the smallest set of most
 * likely tokens whose probability reaches top_p (1 = all; at least one token),
 * renormalize and draw. The draw is u = mg_rng_uniform_f64(key, step) with key
 * derived from the seed (and a per-sequence stream id), so a sequence's tokens
 * depend only on (seed, stream, step), never on threads or on other sequences.
 * Ties are broken by the lower token id.
 * Ownership: mg_sampler_new/_free. Thread-safety: a sampler holds scratch and
 * belongs to one thread. */
#ifndef MG_NN_SAMPLE_H
#define MG_NN_SAMPLE_H

#include <stdint.h>

#include "base/error.h"

typedef struct mg_sample_params {
    double temperature; // 0 = greedy; otherwise > 0
    int top_k;          // 0 = no limit
    double top_p;       // (0, 1]; 1 = no limit
    uint64_t seed;
} mg_sample_params;

/* Greedy: temperature 0, top_k 0, top_p 1, seed 0. */
mg_sample_params mg_sample_params_greedy(void);
/* MG_ERR_USAGE naming the parameter and its valid range. */
mg_status mg_sample_params_check(const mg_sample_params *p, mg_error *err);

typedef struct mg_sampler mg_sampler;

/* A sampler for a vocabulary of `vocab` logits; `stream` separates the random
 * streams of sequences sharing a seed. Params must pass the check. Owned. */
mg_sampler *mg_sampler_new(const mg_sample_params *p, int vocab, uint64_t stream);
void mg_sampler_free(mg_sampler *s); // NULL-safe
/* The token for generation step `step` (0, 1, ...). logits are not modified. */
int32_t mg_sampler_next(mg_sampler *s, const float *logits, uint64_t step);

#endif // MG_NN_SAMPLE_H
