/* score.h - masked cross-entropy of responses: the fitness of data-aware merging.
 *
 * A record is a token sequence ids[0..n) whose tokens from response_start on
 * are the response. Its loss is the sum over t in [response_start, n) of
 * -log softmax(logits[t-1])[ids[t]] (natural log, computed in double), with the
 * mean over its n - response_start tokens. One prefill per record: prompt
 * tokens go through without the LM head (the largest matrix), response
 * positions get logits in bounded chunks, so memory does not grow with the
 * vocabulary times the length.
 * Throughput: records are spread over threads (one record per thread, every
 * kernel single-threaded inside) when there are at least as many records as
 * threads, else each record uses all threads. Chunk boundaries depend only on
 * the record and the model and every kernel's results are thread-count
 * independent (nn/kernels.h), so a record's score is bit-identical whatever the
 * thread count, batch size or batch order.
 * Thread-safety: reentrant; the model is shared read-only. */
#ifndef MG_NN_SCORE_H
#define MG_NN_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/model.h"

typedef struct mg_score_item {
    const int32_t *ids; // borrowed
    int n;              // >= 2
    int response_start; // 1 .. n-1: ids[response_start..n) are scored
} mg_score_item;

typedef struct mg_score {
    double sum_nll;  // summed cross-entropy over response tokens (nats)
    double mean_nll; // sum_nll / count
    int count;       // response tokens
} mg_score;

/* Scores n_items records into out[0..n_items). Errors name the record: fewer
 * than 2 tokens, response_start outside 1..n-1, a record longer than the
 * context window, token ids outside the vocabulary. */
mg_status mg_nn_score(const mg_nn_model *m, const mg_score_item *items, size_t n_items,
                      mg_score *out, mg_error *err);

#endif // MG_NN_SCORE_H
