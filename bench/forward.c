/* forward.c - forward-pass throughput, comparable with llama-bench.
 *
 * Models are built in memory with random weights (no files): Llama-3.2-1B
 * shapes (hidden 2048, 16 layers, 32 heads / 8 KV, FFN 8192, vocab 128256,
 * untied) and the micro model of reference/anchors.md (hidden 256, 6 layers,
 * 8 heads / 4 KV, FFN 768, vocab 4096). Figures, as llama-bench measures them:
 *   prefill: one 512-token prompt in one call, logits of the last row (pp512);
 *   decode:  64 tokens one at a time from an empty cache, logits each (tg64);
 *   scoring: 100 records of 200 tokens (response = last 100) with mg_nn_score.
 * bf16: weights held as bf16 (MG_NN_WEIGHTS_AUTO on a bf16 checkpoint),
 * compared with llama.cpp's BF16 figures.
 * usage: bench_forward [--threads N] [--reps R] [--no-1b] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/half.h"
#include "base/log.h"
#include "base/parallel.h"
#include "nn/forward.h"
#include "nn/model.h"
#include "nn/score.h"

static mg_arch make_arch(int hidden, int layers, int heads, int kv, int ffn, int vocab) {
    mg_arch a;
    memset(&a, 0, sizeof a);
    a.family = MG_ARCH_LLAMA;
    snprintf(a.name, sizeof a.name, "LlamaForCausalLM");
    a.hidden = hidden;
    a.n_layers = layers;
    a.n_heads = heads;
    a.n_kv_heads = kv;
    a.head_dim = hidden / heads;
    a.ffn = ffn;
    a.vocab = vocab;
    a.max_pos = 4096;
    a.rope_theta = 500000.0;
    a.norm_eps = 1e-5;
    a.bos_id = -1;
    return a;
}

// Uniform [-s, s) from a per-tensor xorshift; parallel over tensors.
static void randomize(mg_nn_model *m) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < m->n_tensors; t++) {
        mg_nn_tensor *x = &m->tensors[t];
        if (x->ndim == 1) continue; // norms stay 1
        uint64_t st = 0x9E3779B97F4A7C15ull * (t + 1);
        float s = 0.04f;
        for (size_t i = 0; i < x->numel; i++) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            float v = ((float)(st >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * s;
            if (x->data)
                x->data[i] = v;
            else
                x->bf16[i] = mg_f32_to_bf16(v);
        }
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void bench_model(const char *label, const mg_arch *a, mg_dtype dt, int reps, int score,
                        double ref_pp, double ref_tg) {
    mg_error err;
    mg_nn_model *m = NULL;
    if (mg_nn_model_new_as(a, dt, &m, &err) != MG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    randomize(m);
    const int npp = 512, ntg = 64;
    int32_t *toks = malloc(sizeof(int32_t) * npp);
    for (int i = 0; i < npp; i++)
        toks[i] = (int32_t)((i * 7919 + 13) % a->vocab);
    float *logits = malloc(sizeof(float) * a->vocab);
    mg_nn_state *s = NULL;
    if (mg_nn_state_new(m, npp + ntg, 0, &s, &err) != MG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    double pp[16], tg[16];
    // Warm-up (page faults of the KV cache and scratch, BLAS buffers).
    mg_nn_forward(m, s, toks, 32, 31, logits, &err);
    for (int r = 0; r < reps; r++) {
        mg_nn_state_reset(s);
        double t0 = mg_now_seconds();
        if (mg_nn_forward(m, s, toks, npp, npp - 1, logits, &err) != MG_OK)
            fprintf(stderr, "%s\n", err.msg);
        pp[r] = npp / (mg_now_seconds() - t0);
        mg_nn_state_reset(s);
        t0 = mg_now_seconds();
        for (int i = 0; i < ntg; i++)
            if (mg_nn_forward(m, s, &toks[i], 1, 0, logits, &err) != MG_OK)
                fprintf(stderr, "%s\n", err.msg);
        tg[r] = ntg / (mg_now_seconds() - t0);
    }
    double mpp = median(pp, reps), mtg = median(tg, reps);
    printf("%-26s prefill pp512 %9.1f tok/s (llama.cpp %7.1f: %.2fx)   decode tg64 %7.1f tok/s "
           "(llama.cpp %5.1f: %.2fx)\n",
           label, mpp, ref_pp, mpp / ref_pp, mtg, ref_tg, mtg / ref_tg);
    fflush(stdout);
    if (score) {
        enum { NREC = 100, LEN = 200 };
        int32_t *ids = malloc(sizeof(int32_t) * NREC * LEN);
        mg_score_item items[NREC];
        mg_score out[NREC];
        for (int i = 0; i < NREC * LEN; i++)
            ids[i] = (int32_t)((i * 2654435761u) % a->vocab);
        for (int i = 0; i < NREC; i++)
            items[i] = (mg_score_item){.ids = ids + i * LEN, .n = LEN, .response_start = 100};
        double rs[16];
        for (int r = 0; r < reps; r++) {
            double t0 = mg_now_seconds();
            if (mg_nn_score(m, items, NREC, out, &err) != MG_OK) fprintf(stderr, "%s\n", err.msg);
            rs[r] = NREC / (mg_now_seconds() - t0);
        }
        double mrs = median(rs, reps);
        printf("%-26s scoring 100 x 200 tokens: %.1f records/s (%.0f tok/s)\n", label, mrs,
               mrs * LEN);
        free(ids);
    }
    free(toks);
    free(logits);
    mg_nn_state_free(s);
    mg_nn_model_free(m);
}

int main(int argc, char **argv) {
    int threads = 2, reps = 3, big = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-1b"))
            big = 0;
        else {
            fprintf(stderr, "usage: bench_forward [--threads N] [--reps R] [--no-1b]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (reps > 16) reps = 16;
    mg_set_threads(threads);
    printf("threads %d, median of %d runs; reference: llama.cpp F32, flash attention off, "
           "%d threads (anchors.md)\n",
           threads, reps, 2);
    mg_arch micro = make_arch(256, 6, 8, 4, 768, 4096);
    bench_model("micro (6.8M, f32)", &micro, MG_DTYPE_F32, reps, 1, 3893, 581);
    if (big) {
        mg_arch b = make_arch(2048, 16, 32, 8, 8192, 128256);
        bench_model("Llama-3.2-1B shapes (f32)", &b, MG_DTYPE_F32, reps, 0, 48.0, 3.8);
        bench_model("Llama-3.2-1B shapes (bf16)", &b, MG_DTYPE_BF16, reps, 0, 54.9, 6.9);
    }
    return 0;
}
