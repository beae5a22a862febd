/* kernels.c - see kernels.h. */
#include "nn/kernels.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

int mg_nn_team_size(void) {
    return omp_in_parallel() ? 1 : omp_get_max_threads();
}

// Output columns (weight rows) per BLAS call. It depends on the shapes only,
// never on the thread count: OpenBLAS's threaded sgemm does not give the same
// bits for different thread counts, so we split N ourselves into fixed chunks
// and run each chunk single-threaded (inside our parallel region OpenBLAS's
// OpenMP build sees omp_in_parallel() and uses one thread).

void mg_nn_matmul(float *y, size_t ldy, const float *x, size_t ldx, const float *w,
                  const float *bias, int M, int N, int K, int accumulate) {
    const float beta = accumulate ? 1.0f : 0.0f;
    // Few rows (decode): sgemv streams W once per row at memory speed; sgemm
    // with M = 1 runs several times slower on OpenBLAS (c-stack.md section 5).
    const int gemv = M < 4, nb = gemv ? MG_NN_GEMV_CHUNK : MG_NN_GEMM_CHUNK;
    const int n_chunks = (N + nb - 1) / nb;
    // The team is the full thread count even when it exceeds the chunks, so
    // that BLAS inside always sees an active parallel region.
#pragma omp parallel for schedule(static) num_threads(mg_nn_team_size())
    for (int c = 0; c < n_chunks; c++) {
        const int n0 = c * nb, nn = N - n0 < nb ? N - n0 : nb;
        const float *wc = w + (size_t)n0 * K;
        if (gemv) {
            for (int r = 0; r < M; r++)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, nn, K, 1.0f, wc, K, x + (size_t)r * ldx, 1,
                            beta, y + (size_t)r * ldy + n0, 1);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nn, K, 1.0f, x, (int)ldx, wc, K,
                        beta, y + n0, (int)ldy);
        }
        if (bias)
            for (int r = 0; r < M; r++) {
                float *yr = y + (size_t)r * ldy + n0;
                for (int j = 0; j < nn; j++)
                    yr[j] += bias[n0 + j];
            }
    }
}

void mg_nn_matmul_ref(float *y, size_t ldy, const float *x, size_t ldx, const float *w,
                      const float *bias, int M, int N, int K, int accumulate) {
    for (int r = 0; r < M; r++)
        for (int j = 0; j < N; j++) {
            const float *xr = x + (size_t)r * ldx, *wj = w + (size_t)j * K;
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += (double)xr[k] * wj[k];
            float *yj = &y[(size_t)r * ldy + j];
            float v = (float)s + (accumulate ? *yj : 0.0f);
            *yj = bias ? v + bias[j] : v;
        }
}

void mg_nn_rmsnorm(float *out, const float *x, const float *w, int n_rows, int dim, size_t stride,
                   double eps) {
#pragma omp parallel for schedule(static) if (n_rows >= 16)
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * stride;
        float *o = out + (size_t)r * stride;
        double ss = 0.0;
        for (int i = 0; i < dim; i++)
            ss += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(ss / dim + eps));
        for (int i = 0; i < dim; i++)
            o[i] = w[i] * (xr[i] * scale);
    }
}

void mg_nn_rope_table(const double *inv_freq, int half, int n_pos, float *cos_t, float *sin_t) {
    for (int p = 0; p < n_pos; p++)
        for (int i = 0; i < half; i++) {
            double a = (double)p * inv_freq[i];
            cos_t[(size_t)p * half + i] = (float)cos(a);
            sin_t[(size_t)p * half + i] = (float)sin(a);
        }
}

void mg_nn_rope(float *x, int n_rows, size_t stride, int n_heads, int head_dim, int pos0,
                const float *cos_t, const float *sin_t) {
    int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (n_rows >= 16)
    for (int r = 0; r < n_rows; r++) {
        const float *c = cos_t + (size_t)(pos0 + r) * half, *s = sin_t + (size_t)(pos0 + r) * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)r * stride + (size_t)h * head_dim;
            // HF apply_rotary_pos_emb: x * cos + rotate_half(x) * sin, where
            // rotate_half(x) = cat(-x[half:], x[:half]).
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}

void mg_nn_swiglu(float *out, const float *gate, const float *up, int n_rows, int dim,
                  size_t stride) {
#pragma omp parallel for schedule(static) if (n_rows >= 16)
    for (int r = 0; r < n_rows; r++) {
        const float *g = gate + (size_t)r * stride, *u = up + (size_t)r * stride;
        float *o = out + (size_t)r * stride;
        for (int i = 0; i < dim; i++)
            o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

size_t mg_nn_attention_scratch(int n, int n_kv) {
    return (size_t)n * (size_t)n_kv;
}

// First key position query position p may see.
static inline int key_lo(int p, int window) {
    return window > 0 && p - window + 1 > 0 ? p - window + 1 : 0;
}

// Softmax of s[lo..hi] in place, zeroing the rest of s[0..len).
static void softmax_masked(float *s, int len, int lo, int hi) {
    float mx = -FLT_MAX;
    for (int j = lo; j <= hi; j++)
        mx = s[j] > mx ? s[j] : mx;
    float sum = 0.0f;
    for (int j = lo; j <= hi; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < lo; j++)
        s[j] = 0.0f;
    for (int j = lo; j <= hi; j++)
        s[j] *= inv;
    for (int j = hi + 1; j < len; j++)
        s[j] = 0.0f;
}

void mg_nn_attention(const mg_nn_attn *a, float *scratch, int n_slots) {
    const int n = a->n, hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    // Keys any query of this chunk can see: [k0, k1).
    const int k0 = key_lo(a->pos0, a->window), k1 = a->pos0 + n, nk = k1 - k0;
    const size_t slot = mg_nn_attention_scratch(n, a->pos0 + n);
    // The team is the full thread count (see mg_nn_matmul): BLAS calls inside
    // must see an active parallel region to stay single-threaded.
    int nthr = mg_nn_team_size();
    if (nthr > n_slots) nthr = n_slots;
#pragma omp parallel for schedule(static) num_threads(nthr)
    for (int h = 0; h < a->n_heads; h++) {
        float *s = scratch + slot * (size_t)omp_get_thread_num();
        const int g = h / group;
        const float *q = a->q + (size_t)h * hd;
        const float *k = a->k + (size_t)k0 * a->kv_stride + (size_t)g * hd;
        const float *v = a->v + (size_t)k0 * a->kv_stride + (size_t)g * hd;
        float *o = a->out + (size_t)h * hd;
        if (n == 1) {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, nk, hd, scale, k, (int)a->kv_stride, q, 1,
                        0.0f, s, 1);
            softmax_masked(s, nk, 0, nk - 1);
            cblas_sgemv(CblasRowMajor, CblasTrans, nk, hd, 1.0f, v, (int)a->kv_stride, s, 1, 0.0f,
                        o, 1);
            continue;
        }
        // S[n x nk] = scale * Q_h . K_g^T, masked softmax per row, O_h = P . V_g.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nk, hd, scale, q, (int)a->q_stride,
                    k, (int)a->kv_stride, 0.0f, s, nk);
        for (int i = 0; i < n; i++) {
            int p = a->pos0 + i;
            softmax_masked(s + (size_t)i * nk, nk, key_lo(p, a->window) - k0, p - k0);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, nk, 1.0f, s, nk, v,
                    (int)a->kv_stride, 0.0f, o, (int)a->out_stride);
    }
}

void mg_nn_attention_ref(const mg_nn_attn *a) {
    const int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
    const double scale = 1.0 / sqrt((double)hd);
    for (int i = 0; i < a->n; i++) {
        int p = a->pos0 + i, lo = key_lo(p, a->window);
        for (int h = 0; h < a->n_heads; h++) {
            const float *q = a->q + (size_t)i * a->q_stride + (size_t)h * hd;
            int g = h / group;
            double mx = -INFINITY, w[p + 1];
            for (int j = lo; j <= p; j++) {
                const float *k = a->k + (size_t)j * a->kv_stride + (size_t)g * hd;
                double d = 0.0;
                for (int t = 0; t < hd; t++)
                    d += (double)q[t] * k[t];
                w[j] = d * scale;
                if (w[j] > mx) mx = w[j];
            }
            double sum = 0.0;
            for (int j = lo; j <= p; j++)
                sum += (w[j] = exp(w[j] - mx));
            float *o = a->out + (size_t)i * a->out_stride + (size_t)h * hd;
            for (int t = 0; t < hd; t++) {
                double acc = 0.0;
                for (int j = lo; j <= p; j++)
                    acc += w[j] * a->v[(size_t)j * a->kv_stride + (size_t)g * hd + t];
                o[t] = (float)(acc / sum);
            }
        }
    }
}

double mg_nn_logsumexp(const float *logits, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += exp((double)logits[i] - mx);
    return mx + log(s);
}

int mg_nn_argmax(const float *logits, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}
