/* golden_fixture.h - shared helpers of the nn tests: loading the tiny-* golden
 * fixtures (tests/data/golden/<name>/) and their reference results. */
#ifndef MG_TESTS_NN_GOLDEN_FIXTURE_H
#define MG_TESTS_NN_GOLDEN_FIXTURE_H

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "nn/load.h"
#include "nn/model.h"

static const char *const GOLDEN_NAMES[] = {"tiny-llama", "tiny-llama3", "tiny-qwen2", "tiny-qwen3"};
#define N_GOLDEN 4

typedef struct golden_seq {
    int32_t tokens[128];
    int n;
    float *logits;   // [n x vocab], owned
    double mean_nll; // NAN when null
    int32_t greedy[32];
    int n_greedy, greedy_prefix;
} golden_seq;

typedef struct golden {
    char dir[512];
    golden_seq seq[3];
    int n_seq;
} golden;

static inline int golden_load(const char *name, int vocab, golden *g) {
    memset(g, 0, sizeof *g);
    snprintf(g->dir, sizeof g->dir, "%s/golden/%s", MG_TEST_DATA, name);
    char path[600];
    snprintf(path, sizeof path, "%s/golden.json", g->dir);
    json_t *root;
    mg_error err;
    if (mg_json_load_file(path, &root, &err) != MG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    json_t *seqs = json_object_get(root, "sequences");
    size_t i;
    json_t *s;
    json_array_foreach(seqs, i, s) {
        golden_seq *q = &g->seq[g->n_seq++];
        json_t *toks = json_object_get(s, "tokens"), *t;
        size_t j;
        json_array_foreach(toks, j, t) q->tokens[q->n++] = (int32_t)json_integer_value(t);
        json_t *nll = json_object_get(s, "mean_nll");
        q->mean_nll = json_is_number(nll) ? json_number_value(nll) : NAN;
        json_t *gr = json_object_get(s, "greedy_from_prefix");
        if (gr) {
            q->greedy_prefix = (int)json_integer_value(json_object_get(gr, "prefix_len"));
            json_array_foreach(json_object_get(gr, "tokens"), j, t) q->greedy[q->n_greedy++] =
                (int32_t)json_integer_value(t);
        }
        snprintf(path, sizeof path, "%s/%s", g->dir,
                 json_string_value(json_object_get(s, "logits_file")));
        char *buf;
        size_t len;
        if (mg_file_read_all(path, 0, &buf, &len, &err) != MG_OK ||
            len != (size_t)q->n * vocab * sizeof(float)) {
            fprintf(stderr, "bad logits file %s\n", path);
            json_decref(root);
            return -1;
        }
        q->logits = (float *)buf;
    }
    json_decref(root);
    return 0;
}

/* Loads a fixture model through the io layer (mg_nn_model_load). */
static inline mg_nn_model *golden_model(const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/golden/%s", MG_TEST_DATA, name);
    mg_nn_model *m = NULL;
    mg_error err;
    if (mg_nn_model_load(path, &m, &err) != MG_OK) fprintf(stderr, "%s\n", err.msg);
    return m;
}

static inline void golden_free(golden *g) {
    for (int i = 0; i < g->n_seq; i++)
        free(g->seq[i].logits);
}

#endif
