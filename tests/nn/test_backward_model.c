/* test_backward_model.c - whole-model gradient check: every parameter of two
 * small Llama models (untied GQA, tied MHA) against central finite
 * differences of an independent double-precision forward pass over a packed,
 * masked batch; plus loss consistency with the runtime's scorer and
 * bit-identical gradients across thread counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "nn/arch.h"
#include "nn/grad.h"
#include "nn/model.h"
#include "nn/score.h"
#include "test.h"

static mg_nn_model *make_model(const char *config, uint64_t seed) {
    json_error_t je;
    json_t *j = json_loads(config, 0, &je);
    mg_arch a;
    mg_error err;
    mg_nn_model *m = NULL;
    CHECK(j != NULL);
    CHECK_OK(mg_arch_from_json(j, "test", &a, &err), &err);
    json_decref(j);
    CHECK_OK(mg_nn_model_new(&a, &m, &err), &err);
    if (!m) return NULL;
    for (size_t t = 0; t < m->n_tensors; t++) {
        mg_nn_tensor *T = &m->tensors[t];
        uint64_t k = mg_rng_key(seed, T->name);
        bool norm = T->ndim == 1;
        for (size_t i = 0; i < T->numel; i++) {
            double u = 2 * mg_rng_uniform_f64(k, i) - 1;
            T->data[i] = (float)(norm ? 1.0 + 0.3 * u : 0.5 * u);
        }
    }
    return m;
}

/* ---- double-precision reference forward ---- */
typedef struct {
    const mg_nn_model *m;
    double *p; // mirror of m->block
    const mg_nn_batch *b;
    double weight;
} ref_ctx;

#define D(ptr) (R->p + ((ptr) - (const float *)R->m->block))

static void rms_d(double *out, const double *x, const double *w, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        out[i] = w[i] * x[i] * s;
}

static void lin_d(double *y, const double *x, const double *w, int N, int K, int acc) {
    for (int j = 0; j < N; j++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            s += x[k] * w[(size_t)j * K + k];
        y[j] = acc ? y[j] + s : s;
    }
}

static double ref_loss(const ref_ctx *R) {
    const mg_arch *a = &R->m->arch;
    const int H = a->hidden, hd = a->head_dim, Q = mg_arch_q_dim(a), KV = mg_arch_kv_dim(a),
              F = a->ffn, V = a->vocab, half = hd / 2, grp = a->n_heads / a->n_kv_heads;
    double inv[64];
    mg_arch_rope_inv_freq(a, inv);
    double total = 0;
    for (int s = 0; s < R->b->n_seq; s++) {
        int s0 = R->b->seq_start[s], n = R->b->seq_start[s + 1] - s0;
        double *x = calloc((size_t)n * H, sizeof(double)), *xn = calloc((size_t)H, sizeof(double));
        double *q = calloc((size_t)n * Q, sizeof(double)),
               *k = calloc((size_t)n * KV, sizeof(double));
        double *v = calloc((size_t)n * KV, sizeof(double)), *o = calloc((size_t)Q, sizeof(double));
        double *g = calloc((size_t)F, sizeof(double)), *u = calloc((size_t)F, sizeof(double));
        double *lg = calloc((size_t)V, sizeof(double));
        for (int i = 0; i < n; i++)
            for (int j = 0; j < H; j++)
                x[i * H + j] = D(R->m->embed.f32)[(size_t)R->b->tokens[s0 + i] * H + j];
        for (int l = 0; l < a->n_layers; l++) {
            const mg_nn_layer *L = &R->m->layers[l];
            for (int i = 0; i < n; i++) {
                rms_d(xn, x + i * H, D(L->attn_norm), H, a->norm_eps);
                lin_d(q + i * Q, xn, D(L->wqkv.f32), Q, H, 0);
                lin_d(k + i * KV, xn, D(L->wqkv.f32) + (size_t)Q * H, KV, H, 0);
                lin_d(v + i * KV, xn, D(L->wqkv.f32) + (size_t)(Q + KV) * H, KV, H, 0);
                for (int pass = 0; pass < 2; pass++) {
                    double *z = pass ? k + i * KV : q + i * Q;
                    int nh = pass ? a->n_kv_heads : a->n_heads;
                    for (int h = 0; h < nh; h++)
                        for (int t = 0; t < half; t++) {
                            double c = cos(i * inv[t]), sn = sin(i * inv[t]);
                            double *e = z + h * hd, e0 = e[t], e1 = e[t + half];
                            e[t] = e0 * c - e1 * sn;
                            e[t + half] = e1 * c + e0 * sn;
                        }
                }
            }
            for (int i = 0; i < n; i++) {
                for (int h = 0; h < a->n_heads; h++) {
                    int gi = h / grp;
                    double w[64], mx = -1e300, sum = 0;
                    for (int j = 0; j <= i; j++) {
                        double d = 0;
                        for (int t = 0; t < hd; t++)
                            d += q[i * Q + h * hd + t] * k[j * KV + gi * hd + t];
                        w[j] = d / sqrt(hd);
                        mx = fmax(mx, w[j]);
                    }
                    for (int j = 0; j <= i; j++)
                        sum += (w[j] = exp(w[j] - mx));
                    for (int t = 0; t < hd; t++) {
                        double acc = 0;
                        for (int j = 0; j <= i; j++)
                            acc += w[j] / sum * v[j * KV + gi * hd + t];
                        o[h * hd + t] = acc;
                    }
                }
                lin_d(x + i * H, o, D(L->wo.f32), H, Q, 1);
            }
            for (int i = 0; i < n; i++) {
                rms_d(xn, x + i * H, D(L->ffn_norm), H, a->norm_eps);
                lin_d(g, xn, D(L->wgu.f32), F, H, 0);
                lin_d(u, xn, D(L->wgu.f32) + (size_t)F * H, F, H, 0);
                for (int j = 0; j < F; j++)
                    g[j] = g[j] / (1 + exp(-g[j])) * u[j];
                lin_d(x + i * H, g, D(L->wdown.f32), H, F, 1);
            }
        }
        for (int i = 0; i < n; i++) {
            int t = R->b->targets[s0 + i];
            if (t < 0) continue;
            rms_d(xn, x + i * H, D(R->m->final_norm), H, a->norm_eps);
            lin_d(lg, xn, D(R->m->lm_head.f32), V, H, 0);
            double mx = -1e300, sum = 0;
            for (int j = 0; j < V; j++)
                mx = fmax(mx, lg[j]);
            for (int j = 0; j < V; j++)
                sum += exp(lg[j] - mx);
            total += R->weight * (mx + log(sum) - lg[t]);
        }
        free(x), free(xn), free(q), free(k), free(v), free(o), free(g), free(u), free(lg);
    }
    return total;
}

// A packed batch of three sequences; targets are next tokens, some masked.
enum { NTOK = 16, NSEQ = 3 };
static const int32_t TOKS[NTOK] = {1, 5, 9, 3, 3, 7, 0, 2, 8, 4, 6, 10, 1, 1, 9, 5};
static const int SEQ[NSEQ + 1] = {0, 6, 9, 16};
static int32_t TGT[NTOK];

static mg_nn_batch make_batch(void) {
    for (int s = 0; s < NSEQ; s++)
        for (int i = SEQ[s]; i < SEQ[s + 1]; i++)
            TGT[i] = i + 1 < SEQ[s + 1] ? TOKS[i + 1] : -1;
    TGT[0] = TGT[1] = -1; // a prompt: no loss on its first two predictions
    TGT[9] = -1;
    return (mg_nn_batch){
        .tokens = TOKS, .targets = TGT, .seq_start = SEQ, .n_tokens = NTOK, .n_seq = NSEQ};
}

static void check_model(const char *config) {
    mg_nn_model *m = make_model(config, 7), *g = NULL;
    if (!m) return;
    mg_error err;
    mg_nn_grad_ws *ws = NULL;
    CHECK_OK(mg_nn_grad_ws_new(&m->arch, NTOK, 8, &ws, &err), &err);
    CHECK_OK(mg_nn_grad_new(m, &g, &err), &err);
    mg_nn_batch b = make_batch();
    int count = 0;
    for (int i = 0; i < NTOK; i++)
        count += TGT[i] >= 0;
    double sum = 0;
    int cnt = 0;
    CHECK_OK(mg_nn_grad_batch(m, g, ws, &b, 1.0 / count, &sum, &cnt, &err), &err);
    CHECK_EQ_INT(cnt, count);

    const size_t nf = m->block_bytes / sizeof(float);
    const float *mb = m->block, *gb = g->block;
    ref_ctx R = {m, malloc(sizeof(double) * nf), &b, 1.0 / count};
    for (size_t i = 0; i < nf; i++)
        R.p[i] = mb[i];
    double ref = ref_loss(&R);
    CHECK_MSG(fabs(sum / count - ref) < 1e-5 * fabs(ref), "loss %.9g vs reference %.9g",
              sum / count, ref);
    // Every parameter, in HF tensor order (a tied head is one tensor).
    double num = 0, den = 0, maxe = 0, maxb = 0;
    size_t n_params = 0;
    for (size_t t = 0; t < m->n_tensors; t++) {
        const mg_nn_tensor *T = &m->tensors[t];
        double *p = R.p + (T->data - mb);
        const float *ga = gb + (T->data - mb);
        double tn = 0, td = 0;
        for (size_t i = 0; i < T->numel; i++) {
            double s = p[i], h = 1e-5;
            p[i] = s + h;
            double lp = ref_loss(&R);
            p[i] = s - h;
            double lm = ref_loss(&R);
            p[i] = s;
            double fdv = (lp - lm) / (2 * h), e = fabs(ga[i] - fdv);
            tn += e * e;
            td += fdv * fdv;
            maxe = fmax(maxe, e);
            maxb = fmax(maxb, fabs(fdv));
        }
        CHECK_MSG(td > 0, "%s: zero gradient", T->name);
        CHECK_MSG(sqrt(tn / td) < 1e-4, "%s: relative error %.3g", T->name, sqrt(tn / td));
        num += tn;
        den += td;
        n_params += T->numel;
    }
    double rel = sqrt(num / den);
    CHECK_MSG(rel < 1e-4 && maxe / maxb < 1e-4, "model: relative error %.3g (norm), %.3g (max)",
              rel, maxe / maxb);
    CHECK_EQ_INT(n_params, mg_nn_model_param_count(m));
    fprintf(stderr, "  %s: %zu parameters, relative error %.2e (norm), %.2e (max)\n",
            m->arch.tie_embeddings ? "tied" : "untied", n_params, rel, maxe / maxb);

    // The training forward's loss equals the runtime's response-loss scorer.
    mg_score sc;
    mg_score_item it = {.ids = TOKS + SEQ[2], .n = SEQ[3] - SEQ[2], .response_start = 1};
    CHECK_OK(mg_nn_score(m, &it, 1, &sc, &err), &err);
    int32_t tg2[NTOK];
    for (int i = 0; i < NTOK; i++)
        tg2[i] = i >= SEQ[2] && i + 1 < SEQ[3] ? TOKS[i + 1] : -1;
    mg_nn_batch b2 = b;
    b2.targets = tg2;
    double s2;
    int c2;
    CHECK_OK(mg_nn_loss_batch(m, ws, &b2, &s2, &c2, &err), &err);
    CHECK_EQ_INT(c2, sc.count);
    CHECK_NEAR(s2, sc.sum_nll, 1e-5 * fabs(sc.sum_nll));

    free(R.p);
    mg_nn_grad_ws_free(ws);
    mg_nn_model_free(g);
    mg_nn_model_free(m);
}

static void test_untied_gqa(void) {
    check_model("{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":11,\"hidden_size\":8,"
                "\"intermediate_size\":12,\"num_hidden_layers\":2,\"num_attention_heads\":2,"
                "\"num_key_value_heads\":1,\"head_dim\":4,\"max_position_embeddings\":32,"
                "\"rms_norm_eps\":1e-5,\"tie_word_embeddings\":false}");
}

static void test_tied_mha(void) {
    check_model("{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":11,\"hidden_size\":8,"
                "\"intermediate_size\":10,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                "\"num_key_value_heads\":4,\"max_position_embeddings\":32,\"rope_theta\":500.0,"
                "\"rms_norm_eps\":1e-6,\"tie_word_embeddings\":true}");
}

// Gradients are bit-identical for 1, 2 and 3 threads on a batch big enough to
// use several row, weight and loss chunks.
static void test_thread_determinism(void) {
    mg_nn_model *m = make_model(
        "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":300,\"hidden_size\":48,"
        "\"intermediate_size\":96,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"num_key_value_heads\":2,\"max_position_embeddings\":256,\"rms_norm_eps\":1e-5,\"tie_"
        "word_embeddings\":true}",
        3);
    if (!m) return;
    enum { T = 300 };
    int32_t tok[T], tg[T];
    int seq[5] = {0, 130, 131, 250, T};
    uint64_t k = mg_rng_key(5, "tokens");
    for (int i = 0; i < T; i++)
        tok[i] = (int32_t)(mg_rng_u32(k, i) % 300);
    for (int i = 0; i < T; i++)
        tg[i] = (i % 7) ? (int32_t)(mg_rng_u32(k, T + i) % 300) : -1;
    mg_nn_batch b = {.tokens = tok, .targets = tg, .seq_start = seq, .n_tokens = T, .n_seq = 4};
    mg_error err;
    mg_nn_model *g[3] = {0};
    double loss[3];
    int saved = mg_get_threads();
    for (int r = 0; r < 3; r++) {
        mg_set_threads(r + 1);
        mg_nn_grad_ws *ws = NULL;
        CHECK_OK(mg_nn_grad_ws_new(&m->arch, T, 130, &ws, &err), &err);
        CHECK_OK(mg_nn_grad_new(m, &g[r], &err), &err);
        int c;
        CHECK_OK(mg_nn_grad_batch(m, g[r], ws, &b, 0.01, &loss[r], &c, &err), &err);
        mg_nn_grad_ws_free(ws);
    }
    mg_set_threads(saved);
    for (int r = 1; r < 3; r++) {
        CHECK(loss[r] == loss[0]);
        CHECK(memcmp(g[r]->block, g[0]->block, m->block_bytes) == 0);
    }
    // Bad batches are refused with a message.
    int32_t bad = 300;
    mg_nn_batch bb = b;
    bb.tokens = &bad;
    bb.n_tokens = 1;
    int one[2] = {0, 1};
    bb.seq_start = one;
    bb.n_seq = 1;
    mg_nn_grad_ws *ws = NULL;
    CHECK_OK(mg_nn_grad_ws_new(&m->arch, T, 130, &ws, &err), &err);
    double s;
    int c;
    CHECK(mg_nn_loss_batch(m, ws, &bb, &s, &c, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "outside the vocabulary") != NULL);
    mg_nn_grad_ws_free(ws);
    for (int r = 0; r < 3; r++)
        mg_nn_model_free(g[r]);
    mg_nn_model_free(m);
}

int main(void) {
    mg_set_threads(2);
    RUN(test_untied_gqa);
    RUN(test_tied_mha);
    RUN(test_thread_determinism);
    return TEST_END();
}
