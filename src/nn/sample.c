/* sample.c - see sample.h. */
#include "nn/sample.h"

#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "nn/kernels.h"

struct mg_sampler {
    mg_sample_params p;
    int vocab;
    uint64_t key;
    int32_t *idx; // candidate ids, [vocab]
    double *prob; // candidate probabilities, [vocab]
};

mg_sample_params mg_sample_params_greedy(void) {
    return (mg_sample_params){.temperature = 0.0, .top_k = 0, .top_p = 1.0, .seed = 0};
}

mg_status mg_sample_params_check(const mg_sample_params *p, mg_error *err) {
    if (!isfinite(p->temperature) || p->temperature < 0)
        return mg_error_set(err, MG_ERR_USAGE,
                            "temperature %g: expected a finite number >= 0 (0 = greedy)",
                            p->temperature);
    if (p->top_k < 0)
        return mg_error_set(err, MG_ERR_USAGE, "top-k %d: expected an integer >= 0 (0 = off)",
                            p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return mg_error_set(err, MG_ERR_USAGE, "top-p %g: expected a number in (0, 1]", p->top_p);
    return MG_OK;
}

mg_sampler *mg_sampler_new(const mg_sample_params *p, int vocab, uint64_t stream) {
    mg_sampler *s = mg_calloc(1, sizeof *s);
    s->p = *p;
    s->vocab = vocab;
    s->key = mg_rng_subkey(mg_rng_key(p->seed, "sample"), stream);
    s->idx = mg_malloc_array((size_t)vocab, sizeof *s->idx);
    s->prob = mg_malloc_array((size_t)vocab, sizeof *s->prob);
    return s;
}

void mg_sampler_free(mg_sampler *s) {
    if (!s) return;
    free(s->idx);
    free(s->prob);
    free(s);
}

// Candidate order: higher logit first, then lower id (deterministic ties).
static int by_logit_desc(const void *a, const void *b, void *ctx) {
    const float *l = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float lx = l[x], ly = l[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return (x > y) - (x < y);
}

static inline int better(const float *l, int32_t x, int32_t y) {
    return l[x] > l[y] || (l[x] == l[y] && x < y);
}

// Min-heap (worst candidate on top) of the k best ids.
static void sift_down(int32_t *h, int k, int i, const float *l) {
    for (;;) {
        int c = 2 * i + 1;
        if (c >= k) return;
        if (c + 1 < k && better(l, h[c], h[c + 1])) c++;
        if (!better(l, h[i], h[c])) return;
        int32_t t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

// Fills s->idx[0..k) with the k best ids, best first.
static void top_k_ids(mg_sampler *s, const float *l, int k) {
    int32_t *h = s->idx;
    for (int i = 0; i < k; i++)
        h[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--)
        sift_down(h, k, i, l);
    for (int i = k; i < s->vocab; i++)
        if (better(l, i, h[0])) {
            h[0] = i;
            sift_down(h, k, 0, l);
        }
    qsort_r(h, (size_t)k, sizeof *h, by_logit_desc, (void *)l);
}

int32_t mg_sampler_next(mg_sampler *s, const float *logits, uint64_t step) {
    const int V = s->vocab;
    if (s->p.temperature == 0.0) return mg_nn_argmax(logits, V);
    const double inv_t = 1.0 / s->p.temperature;
    int n = V;
    if (s->p.top_k > 0 && s->p.top_k < V) {
        n = s->p.top_k;
        top_k_ids(s, logits, n);
    } else if (s->p.top_p < 1.0) {
        for (int i = 0; i < V; i++)
            s->idx[i] = i;
        qsort_r(s->idx, (size_t)V, sizeof *s->idx, by_logit_desc, (void *)logits);
    } else {
        for (int i = 0; i < V; i++)
            s->idx[i] = i;
    }
    // Softmax over the candidates at temperature T, in double.
    float mx = logits[s->idx[0]];
    for (int i = 1; i < n; i++)
        mx = logits[s->idx[i]] > mx ? logits[s->idx[i]] : mx;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (s->prob[i] = exp(((double)logits[s->idx[i]] - mx) * inv_t));
    for (int i = 0; i < n; i++)
        s->prob[i] /= sum;
    if (s->p.top_p < 1.0) {
        // Candidates are sorted best first: keep the shortest prefix whose mass
        // reaches top_p (HF TopPLogitsWarper keeps at least one token).
        double cum = 0.0;
        int keep = 0;
        while (keep < n) {
            cum += s->prob[keep++];
            if (cum >= s->p.top_p) break;
        }
        n = keep;
        sum = cum;
    } else {
        sum = 1.0;
    }
    double u = mg_rng_uniform_f64(s->key, step) * sum, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (u < acc) return s->idx[i];
    }
    return s->idx[n - 1]; // rounding: u landed past the last partial sum
}
