/* backward.c - see backward.h. */
#include "nn/backward.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

// Fixed block sizes: they depend on nothing but these constants, so every
// output element is produced by the same BLAS call whatever the thread count.
#define ROW_BLOCK 64  // rows of x / dx per call
#define WROW_BLOCK 64 // weight rows per weight-gradient call
#define COL_BLOCK 32  // columns per RMSNorm weight-gradient task

void mg_nn_matmul_rows(float *y, size_t ldy, const float *x, size_t ldx, const float *w, int M,
                       int N, int K, int accumulate) {
    const int nb = (M + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp parallel for schedule(static) num_threads(mg_nn_team_size())
    for (int b = 0; b < nb; b++) {
        int r0 = b * ROW_BLOCK, m = M - r0 < ROW_BLOCK ? M - r0 : ROW_BLOCK;
        // Inside this region mg_nn_matmul runs on this thread alone.
        mg_nn_matmul(y + (size_t)r0 * ldy, ldy, x + (size_t)r0 * ldx, ldx, w, NULL, m, N, K,
                     accumulate);
    }
}

void mg_nn_matmul_bwd_x(float *dx, size_t ldx, const float *dy, size_t ldy, const float *w, int M,
                        int N, int K, int accumulate) {
    const int nb = (M + ROW_BLOCK - 1) / ROW_BLOCK;
    const float beta = accumulate ? 1.0f : 0.0f;
#pragma omp parallel for schedule(static) num_threads(mg_nn_team_size())
    for (int b = 0; b < nb; b++) {
        int r0 = b * ROW_BLOCK, m = M - r0 < ROW_BLOCK ? M - r0 : ROW_BLOCK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, K, N, 1.0f, dy + (size_t)r0 * ldy,
                    (int)ldy, w, K, beta, dx + (size_t)r0 * ldx, (int)ldx);
    }
}

void mg_nn_matmul_bwd_w(float *dw, const float *dy, size_t ldy, const float *x, size_t ldx, int M,
                        int N, int K) {
    const int nb = (N + WROW_BLOCK - 1) / WROW_BLOCK;
#pragma omp parallel for schedule(static) num_threads(mg_nn_team_size())
    for (int b = 0; b < nb; b++) {
        int n0 = b * WROW_BLOCK, nn = N - n0 < WROW_BLOCK ? N - n0 : WROW_BLOCK;
        // dW[n0:n0+nn, :] += dY[:, n0:n0+nn]^T . X
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nn, K, M, 1.0f, dy + n0, (int)ldy, x,
                    (int)ldx, 1.0f, dw + (size_t)n0 * K, K);
    }
}

void mg_nn_matmul_bwd_x_ref(float *dx, size_t ldx, const float *dy, size_t ldy, const float *w,
                            int M, int N, int K, int accumulate) {
    for (int r = 0; r < M; r++)
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int j = 0; j < N; j++)
                s += (double)dy[(size_t)r * ldy + j] * w[(size_t)j * K + k];
            float *o = &dx[(size_t)r * ldx + k];
            *o = (float)s + (accumulate ? *o : 0.0f);
        }
}

void mg_nn_matmul_bwd_w_ref(float *dw, const float *dy, size_t ldy, const float *x, size_t ldx,
                            int M, int N, int K) {
    for (int j = 0; j < N; j++)
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int r = 0; r < M; r++)
                s += (double)dy[(size_t)r * ldy + j] * x[(size_t)r * ldx + k];
            dw[(size_t)j * K + k] += (float)s;
        }
}

void mg_nn_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w,
                       int n_rows, int dim, size_t stride, double eps) {
    float *rs = mg_malloc_array(n_rows > 0 ? (size_t)n_rows : 1, sizeof *rs);
    const int team = mg_nn_team_size();
#pragma omp parallel for schedule(static) num_threads(team) if (n_rows >= 16)
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * stride, *g = dy + (size_t)r * stride;
        double ss = 0.0;
        for (int i = 0; i < dim; i++)
            ss += (double)xr[i] * xr[i];
        // The forward's scale, computed the same way (mg_nn_rmsnorm).
        float scale = (float)(1.0 / sqrt(ss / dim + eps));
        rs[r] = scale;
        if (!dx) continue;
        double dot = 0.0;
        for (int i = 0; i < dim; i++)
            dot += (double)w[i] * g[i] * xr[i];
        // d/dx_i of w_i x_i r: r w_i dy_i - x_i r^3 / dim * sum_j w_j dy_j x_j
        float c = (float)(dot * scale * scale * scale / dim);
        float *o = dx + (size_t)r * stride;
        for (int i = 0; i < dim; i++)
            o[i] += scale * w[i] * g[i] - xr[i] * c;
    }
    if (dw) {
        const int nb = (dim + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) num_threads(team) if (n_rows * dim >= 8192)
        for (int b = 0; b < nb; b++) {
            int c0 = b * COL_BLOCK, c1 = c0 + COL_BLOCK < dim ? c0 + COL_BLOCK : dim;
            double acc[COL_BLOCK] = {0};
            for (int r = 0; r < n_rows; r++) {
                const float *xr = x + (size_t)r * stride, *g = dy + (size_t)r * stride;
                for (int i = c0; i < c1; i++)
                    acc[i - c0] += (double)g[i] * (xr[i] * rs[r]);
            }
            for (int i = c0; i < c1; i++)
                dw[i] += (float)acc[i - c0];
        }
    }
    free(rs);
}

void mg_nn_rope_bwd(float *dx, int n_rows, size_t stride, int n_heads, int head_dim, int pos0,
                    const float *cos_t, const float *sin_t) {
    const int half = head_dim / 2;
#pragma omp parallel for schedule(static) num_threads(mg_nn_team_size()) if (n_rows >= 16)
    for (int r = 0; r < n_rows; r++) {
        const float *c = cos_t + (size_t)(pos0 + r) * half, *s = sin_t + (size_t)(pos0 + r) * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = dx + (size_t)r * stride + (size_t)h * head_dim;
            // Forward: a' = a c - b s, b' = b c + a s (a = v[i], b = v[i + half]).
            // Transpose: da = da' c + db' s, db = db' c - da' s.
            for (int i = 0; i < half; i++) {
                float ga = v[i], gb = v[i + half];
                v[i] = ga * c[i] + gb * s[i];
                v[i + half] = gb * c[i] - ga * s[i];
            }
        }
    }
}

void mg_nn_swiglu_bwd(float *dgate, float *dup, const float *dout, size_t out_stride,
                      const float *gate, const float *up, int n_rows, int dim, size_t gu_stride) {
#pragma omp parallel for schedule(static) num_threads(mg_nn_team_size()) if (n_rows >= 16)
    for (int r = 0; r < n_rows; r++) {
        const float *g = gate + (size_t)r * gu_stride, *u = up + (size_t)r * gu_stride;
        const float *d = dout + (size_t)r * out_stride;
        float *dg = dgate + (size_t)r * gu_stride, *du = dup + (size_t)r * gu_stride;
        for (int i = 0; i < dim; i++) {
            float sg = 1.0f / (1.0f + expf(-g[i]));
            float gi = g[i], di = d[i], ui = u[i];
            dg[i] = di * ui * sg * (1.0f + gi * (1.0f - sg));
            du[i] = di * gi * sg;
        }
    }
}

size_t mg_nn_attention_bwd_scratch(int n) {
    return 2 * (size_t)n * (size_t)n;
}

void mg_nn_attention_bwd_group(const mg_nn_attn *a, const mg_nn_attn_grad *g, int grp,
                               float *scratch) {
    const int n = a->n, hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    float *P = scratch, *dP = scratch + (size_t)n * n;
    const float *k = a->k + (size_t)grp * hd, *v = a->v + (size_t)grp * hd;
    float *dk = g->dk + (size_t)grp * hd, *dv = g->dv + (size_t)grp * hd;
    for (int i = 0; i < n; i++) {
        memset(dk + (size_t)i * g->dkv_stride, 0, (size_t)hd * sizeof(float));
        memset(dv + (size_t)i * g->dkv_stride, 0, (size_t)hd * sizeof(float));
    }
    for (int h = grp * group; h < (grp + 1) * group; h++) {
        const float *q = a->q + (size_t)h * hd, *o = a->out + (size_t)h * hd;
        const float *dO = g->dout + (size_t)h * hd;
        float *dq = g->dq + (size_t)h * hd;
        // P = softmax(scale Q K^T) over keys 0..i (recomputed as the forward does).
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, scale, q, (int)a->q_stride,
                    k, (int)a->kv_stride, 0.0f, P, n);
        for (int i = 0; i < n; i++) {
            float *s = P + (size_t)i * n, mx = -FLT_MAX, sum = 0.0f;
            for (int j = 0; j <= i; j++)
                mx = s[j] > mx ? s[j] : mx;
            for (int j = 0; j <= i; j++)
                sum += (s[j] = expf(s[j] - mx));
            float inv = 1.0f / sum;
            for (int j = 0; j <= i; j++)
                s[j] *= inv;
            for (int j = i + 1; j < n; j++)
                s[j] = 0.0f;
        }
        // dV += P^T dO
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, n, 1.0f, P, n, dO,
                    (int)g->dout_stride, 1.0f, dv, (int)g->dkv_stride);
        // dP = dO V^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, 1.0f, dO,
                    (int)g->dout_stride, v, (int)a->kv_stride, 0.0f, dP, n);
        // dS = P * (dP - D), D_i = dO_i . O_i (= sum_j P_ij dP_ij); scaled here.
        for (int i = 0; i < n; i++) {
            const float *oi = o + (size_t)i * a->out_stride, *gi = dO + (size_t)i * g->dout_stride;
            double D = 0.0;
            for (int t = 0; t < hd; t++)
                D += (double)oi[t] * gi[t];
            float *p = P + (size_t)i * n, *dp = dP + (size_t)i * n;
            for (int j = 0; j <= i; j++)
                dp[j] = scale * p[j] * (dp[j] - (float)D);
            for (int j = i + 1; j < n; j++)
                dp[j] = 0.0f;
        }
        // dQ = dS K, dK += dS^T Q
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, 1.0f, dP, n, k,
                    (int)a->kv_stride, 0.0f, dq, (int)g->dq_stride);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, n, 1.0f, dP, n, q,
                    (int)a->q_stride, 1.0f, dk, (int)g->dkv_stride);
    }
}

void mg_nn_attention_bwd(const mg_nn_attn *a, const mg_nn_attn_grad *g, float *scratch,
                         int n_slots) {
    const size_t slot = mg_nn_attention_bwd_scratch(a->n);
    int nthr = mg_nn_team_size();
    if (nthr > n_slots) nthr = n_slots;
#pragma omp parallel for schedule(static) num_threads(nthr)
    for (int grp = 0; grp < a->n_kv_heads; grp++)
        mg_nn_attention_bwd_group(a, g, grp, scratch + slot * (size_t)omp_get_thread_num());
}

void mg_nn_embedding_bwd(float *dembed, const int32_t *tokens, const float *dx, int n, int dim,
                         size_t stride) {
    for (int i = 0; i < n; i++) {
        float *d = dembed + (size_t)tokens[i] * dim;
        const float *s = dx + (size_t)i * stride;
        for (int j = 0; j < dim; j++)
            d[j] += s[j];
    }
}

double mg_nn_xent_bwd(float *logits, const int32_t *targets, int n_rows, int vocab, double weight) {
    double *loss = mg_malloc_array(n_rows > 0 ? (size_t)n_rows : 1, sizeof *loss);
#pragma omp parallel for schedule(static) num_threads(mg_nn_team_size()) if (n_rows >= 8)
    for (int r = 0; r < n_rows; r++) {
        float *row = logits + (size_t)r * vocab;
        int t = targets[r];
        if (t < 0) {
            memset(row, 0, (size_t)vocab * sizeof(float));
            loss[r] = 0.0;
            continue;
        }
        double lse = mg_nn_logsumexp(row, vocab);
        loss[r] = lse - row[t];
        for (int j = 0; j < vocab; j++)
            row[j] = (float)(weight * exp((double)row[j] - lse));
        row[t] -= (float)weight;
    }
    double sum = 0.0;
    for (int r = 0; r < n_rows; r++)
        sum += loss[r];
    free(loss);
    return sum;
}
