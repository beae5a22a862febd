/* score.c - see score.h. */
#include "nn/score.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "nn/forward.h"
#include "nn/kernels.h"

// Prompt tokens per forward call: a constant, so the chunking of a record never
// depends on the other records of a batch.
#define SCORE_CHUNK 512
// Logits per response chunk: rows * vocab <= this many floats (64 MiB).
#define SCORE_LOGIT_FLOATS ((size_t)16 << 20)

static int response_rows(const mg_nn_model *m) {
    size_t r = SCORE_LOGIT_FLOATS / (size_t)m->arch.vocab;
    if (r < 16) r = 16;
    if (r > SCORE_CHUNK) r = SCORE_CHUNK;
    return (int)r;
}

typedef struct scorer {
    mg_nn_state *s;
    float *logits; // [rows x vocab]
    int rows;
} scorer;

static mg_status scorer_init(const mg_nn_model *m, int max_len, scorer *sc, mg_error *err) {
    memset(sc, 0, sizeof *sc);
    // n_batch SCORE_CHUNK (or the whole context when shorter, which every
    // record fits into): forward never splits our calls further.
    int n_ctx = max_len;
    mg_status rc = mg_nn_state_new(m, n_ctx, SCORE_CHUNK, &sc->s, err);
    if (rc != MG_OK) return rc;
    sc->rows = response_rows(m);
    sc->logits = mg_malloc_array((size_t)sc->rows * m->arch.vocab, sizeof(float));
    return MG_OK;
}

static void scorer_free(scorer *sc) {
    mg_nn_state_free(sc->s);
    free(sc->logits);
}

static mg_status score_one(const mg_nn_model *m, scorer *sc, const mg_score_item *it, mg_score *out,
                           mg_error *err) {
    const int V = m->arch.vocab, rs = it->response_start;
    mg_nn_state_reset(sc->s);
    mg_status rc = MG_OK;
    // Prompt part: ids[0 .. rs-1) with no logits.
    for (int c0 = 0; rc == MG_OK && c0 < rs - 1; c0 += SCORE_CHUNK) {
        int c = rs - 1 - c0 < SCORE_CHUNK ? rs - 1 - c0 : SCORE_CHUNK;
        rc = mg_nn_forward(m, sc->s, it->ids + c0, c, c, NULL, err);
    }
    // Response part: row t (token ids[t]) predicts ids[t+1], t = rs-1 .. n-2.
    double sum = 0.0;
    for (int t0 = rs - 1; rc == MG_OK && t0 < it->n - 1; t0 += sc->rows) {
        int c = it->n - 1 - t0 < sc->rows ? it->n - 1 - t0 : sc->rows;
        rc = mg_nn_forward(m, sc->s, it->ids + t0, c, 0, sc->logits, err);
        for (int i = 0; rc == MG_OK && i < c; i++) {
            const float *row = sc->logits + (size_t)i * V;
            sum += mg_nn_logsumexp(row, V) - (double)row[it->ids[t0 + i + 1]];
        }
    }
    if (rc != MG_OK) return rc;
    out->sum_nll = sum;
    out->count = it->n - rs;
    out->mean_nll = sum / out->count;
    return MG_OK;
}

mg_status mg_nn_score(const mg_nn_model *m, const mg_score_item *items, size_t n_items,
                      mg_score *out, mg_error *err) {
    int max_len = 1;
    for (size_t i = 0; i < n_items; i++) {
        const mg_score_item *it = &items[i];
        if (it->n < 2)
            return mg_error_set(err, MG_ERR_INVALID,
                                "record %zu: %d tokens, expected at least 2 (a prompt token and "
                                "a response token)",
                                i, it->n);
        if (it->response_start < 1 || it->response_start >= it->n)
            return mg_error_set(err, MG_ERR_INVALID,
                                "record %zu: response starts at token %d, expected 1..%d "
                                "(an empty prompt or response cannot be scored)",
                                i, it->response_start, it->n - 1);
        if ((int64_t)it->n > m->arch.max_pos)
            return mg_error_set(err, MG_ERR_INVALID,
                                "record %zu: %d tokens exceed the context window (%lld tokens)", i,
                                it->n, (long long)m->arch.max_pos);
        for (int t = 0; t < it->n; t++)
            if (it->ids[t] < 0 || it->ids[t] >= m->arch.vocab)
                return mg_error_set(err, MG_ERR_INVALID,
                                    "record %zu: token %d at index %d is outside the vocabulary "
                                    "(0..%d)",
                                    i, it->ids[t], t, m->arch.vocab - 1);
        if (it->n > max_len) max_len = it->n;
    }
    if (n_items == 0) return MG_OK;
    int team = mg_nn_team_size();
    if ((int64_t)n_items < team) {
        // Few records: each one uses every thread.
        scorer sc;
        mg_status rc = scorer_init(m, max_len, &sc, err);
        for (size_t i = 0; rc == MG_OK && i < n_items; i++)
            if ((rc = score_one(m, &sc, &items[i], &out[i], err)) != MG_OK)
                mg_error_prefix(err, "record %zu: ", i);
        scorer_free(&sc);
        return rc;
    }
    mg_status first_rc = MG_OK;
    mg_error first_err = {0};
    size_t first_bad = SIZE_MAX;
#pragma omp parallel num_threads(team)
    {
        scorer sc;
        mg_error e;
        mg_status rc = scorer_init(m, max_len, &sc, &e);
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < n_items; i++) {
            mg_status r = rc == MG_OK ? score_one(m, &sc, &items[i], &out[i], &e) : rc;
            if (r != MG_OK) {
#pragma omp critical(mg_score)
                if (i < first_bad) {
                    first_bad = i;
                    first_rc = r;
                    first_err = e;
                }
            }
        }
        scorer_free(&sc);
    }
    if (first_rc != MG_OK) {
        if (!err) return first_rc;
        *err = first_err;
        mg_error_prefix(err, "record %zu: ", first_bad);
    }
    return first_rc;
}
