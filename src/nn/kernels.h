/* kernels.h - the numeric building blocks of the forward pass.
 *
 * All tensors are float32, row-major, with explicit row strides where a kernel
 * reads a slice of a wider buffer (q/k/v live side by side in one [n x (q+2kv)]
 * projection output). Weights have the HF/PyTorch layout [out, in].
 * Matrix products go through OpenBLAS: cblas_sgemv for one row (sgemm with
 * M = 1 is 3-4x slower, reference/c-stack.md section 5), cblas_sgemm for more.
 * Attention uses sgemm/sgemv per head too. Every optimized kernel has a plain
 * loop version (*_ref) that the tests compare against.
 * Threading: outside an OpenMP parallel region the kernels spread fixed
 * chunks of work (weight rows, heads) over omp_get_max_threads() threads and
 * each BLAS call runs single-threaded; inside one (callers parallelizing
 * across sequences) they run on the calling thread. Either way each output is
 * computed by the same calls in the same order, so results are bit-identical
 * for any thread count (OpenBLAS's own threading is not).
 * Thread-safe: no global state. */
#ifndef MG_NN_KERNELS_H
#define MG_NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Threads a kernel uses from here: 1 inside an OpenMP parallel region (the
 * caller parallelizes across sequences), else omp_get_max_threads(). */
int mg_nn_team_size(void);

/* y[M x N] (row stride ldy) = x[M x K] (row stride ldx) . W[N x K]^T (+ bias[N])
 * (+ y when accumulate). bias may be NULL. */
void mg_nn_matmul(float *y, size_t ldy, const float *x, size_t ldx, const float *w,
                  const float *bias, int M, int N, int K, int accumulate);
void mg_nn_matmul_ref(float *y, size_t ldy, const float *x, size_t ldx, const float *w,
                      const float *bias, int M, int N, int K, int accumulate);

/* Weight rows per BLAS call (GEMM for M >= 4, GEMV below): fixed, so that the
 * split never depends on the thread count. */
#define MG_NN_GEMM_CHUNK 256
#define MG_NN_GEMV_CHUNK 64

/* The same with bf16 weights W[N x K] (widened exactly to f32; f32 math).
 * tiles: n_slots slots of mg_nn_matmul_bf16_tile(K) floats, used when M >= 4
 * (fewer slots than threads: fewer threads). */
void mg_nn_matmul_bf16(float *y, size_t ldy, const float *x, size_t ldx, const uint16_t *w,
                       const float *bias, int M, int N, int K, int accumulate, float *tiles,
                       int n_slots);
size_t mg_nn_matmul_bf16_tile(int K);
/* sum_k bf16(w[k]) * x[k], plain loop: the reference of the SIMD variants. */
float mg_nn_dot_bf16_ref(const uint16_t *w, const float *x, int K);

/* out[r] = w * x[r] / sqrt(mean(x[r]^2) + eps) for n_rows rows of dim elements,
 * rows `stride` apart in both x and out (out may equal x). HF LlamaRMSNorm:
 * eps inside the root, no 1 + w offset; the mean is accumulated in double. */
void mg_nn_rmsnorm(float *out, const float *x, const float *w, int n_rows, int dim, size_t stride,
                   double eps);

/* RoPE tables for positions [0, n_pos): cos/sin[p * half + i] of p * inv_freq[i]
 * (computed in double, stored as float), half = head_dim / 2. */
void mg_nn_rope_table(const double *inv_freq, int half, int n_pos, float *cos_t, float *sin_t);

/* Rotates n_heads heads of head_dim in each of n_rows rows (row r at position
 * pos0 + r, rows `stride` apart) in HF's rotate-half layout: element i pairs
 * with i + head_dim/2 (not adjacent pairs: that is llama.cpp's GGUF layout). */
void mg_nn_rope(float *x, int n_rows, size_t stride, int n_heads, int head_dim, int pos0,
                const float *cos_t, const float *sin_t);

/* out[i] = silu(gate[i]) * up[i] per row: the SwiGLU of HF LlamaMLP. */
void mg_nn_swiglu(float *out, const float *gate, const float *up, int n_rows, int dim,
                  size_t stride);

/* Causal grouped-query attention of n query rows at positions pos0 .. pos0+n-1
 * over keys/values at positions 0 .. pos0+n-1 (query head h uses KV head
 * h / (n_heads / n_kv_heads), HF repeat_kv). window > 0 restricts query p to
 * keys p - window + 1 .. p (HF sliding-window mask). Scale 1/sqrt(head_dim). */
typedef struct mg_nn_attn {
    const float *q; // [n x n_heads*head_dim], rows q_stride apart
    size_t q_stride;
    const float *k; // [pos0+n x n_kv_heads*head_dim], rows kv_stride apart
    const float *v;
    size_t kv_stride;
    float *out; // [n x n_heads*head_dim], rows out_stride apart
    size_t out_stride;
    int n, pos0, n_heads, n_kv_heads, head_dim, window;
} mg_nn_attn;

/* Floats of scratch mg_nn_attention needs per thread slot. */
size_t mg_nn_attention_scratch(int n, int n_kv);
/* scratch holds n_slots slots of mg_nn_attention_scratch(n, pos0 + n) floats;
 * heads are spread over mg_nn_team_size() threads, which must be <= n_slots
 * (fewer slots: fewer threads, and then BLAS may thread inside and results
 * may differ in the last bits). */
void mg_nn_attention(const mg_nn_attn *a, float *scratch, int n_slots);
void mg_nn_attention_ref(const mg_nn_attn *a);

/* log-sum-exp of logits[n] in double (max-shifted). */
double mg_nn_logsumexp(const float *logits, int n);
/* Index of the largest logit (the first one on ties). */
int mg_nn_argmax(const float *logits, int n);

#endif // MG_NN_KERNELS_H
