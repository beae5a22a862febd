/* backward.h - gradients of the forward kernels (nn/kernels.h) for training.
 *
 * One backward kernel per forward op of the Llama architecture: linear layers
 * (input and weight gradients through OpenBLAS sgemm), RMSNorm, RoPE in HF's
 * rotate-half layout, SwiGLU, causal grouped-query attention, the embedding
 * lookup and the masked cross-entropy of the LM head. The forward ops are the
 * runtime's own kernels; nothing here recomputes a forward result in another
 * way except attention, whose probabilities are recomputed from q and k (as
 * flash-attention's backward does) instead of being stored.
 * Layouts follow kernels.h: float32, row-major, weights [out, in], explicit row
 * strides. Gradients of weights are ACCUMULATED (+=) so that micro-batches of
 * gradient accumulation simply add up; input gradients are written or added as
 * each function says.
 * Threading and determinism: work is split into fixed chunks (rows of the
 * input for input gradients, rows of the weight for weight gradients, heads
 * or columns for the rest) whose boundaries depend only on the shapes; each
 * chunk is computed by one thread with single-threaded BLAS, and reductions
 * over rows run in a fixed order. Results are therefore bit-identical for any
 * thread count. Inside an OpenMP parallel region every function runs on the
 * calling thread (as the forward kernels do, see mg_nn_team_size).
 * Thread-safe: no global state. */
#ifndef MG_NN_BACKWARD_H
#define MG_NN_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

#include "nn/kernels.h"

/* Forward linear layer for training: y[M x N] = x[M x K] . W[N x K]^T (+ y when
 * accumulate), split into fixed blocks of rows, each one mg_nn_matmul call on
 * one thread (mg_nn_matmul itself splits the output columns, which leaves one
 * thread idle when N is small; training has many rows). */
void mg_nn_matmul_rows(float *y, size_t ldy, const float *x, size_t ldx, const float *w, int M,
                       int N, int K, int accumulate);

/* Input gradient of y = x . W^T: dx[M x K] (ldx) = dy[M x N] (ldy) . W[N x K]
 * (+ dx when accumulate). */
void mg_nn_matmul_bwd_x(float *dx, size_t ldx, const float *dy, size_t ldy, const float *w, int M,
                        int N, int K, int accumulate);
/* Weight gradient: dw[N x K] += dy[M x N]^T . x[M x K]. */
void mg_nn_matmul_bwd_w(float *dw, const float *dy, size_t ldy, const float *x, size_t ldx, int M,
                        int N, int K);
void mg_nn_matmul_bwd_x_ref(float *dx, size_t ldx, const float *dy, size_t ldy, const float *w,
                            int M, int N, int K, int accumulate);
void mg_nn_matmul_bwd_w_ref(float *dw, const float *dy, size_t ldy, const float *x, size_t ldx,
                            int M, int N, int K);

/* RMSNorm y = w * x * r, r = 1/sqrt(mean(x^2) + eps) (mg_nn_rmsnorm), rows
 * `stride` apart in x, dy and dx:
 *   dx += r * (w*dy) - x * r^3 / dim * sum(w*dy*x)     (added to dx)
 *   dw += sum over rows of dy * x * r                   (rows in order)
 * dx may be NULL (only dw) and dw may be NULL (only dx). */
void mg_nn_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w,
                       int n_rows, int dim, size_t stride, double eps);

/* RoPE backward in place: the rotation's transpose (rotation by -angle) of
 * the gradient of n_heads heads in each row, row r at position pos0 + r. */
void mg_nn_rope_bwd(float *dx, int n_rows, size_t stride, int n_heads, int head_dim, int pos0,
                    const float *cos_t, const float *sin_t);

/* SwiGLU out = silu(g) * u: dgate = dout * u * silu'(g), dup = dout * silu(g),
 * silu'(g) = s(g) * (1 + g * (1 - s(g))) with s the logistic function. gate,
 * up, dgate and dup rows are gu_stride apart, dout rows out_stride apart. */
void mg_nn_swiglu_bwd(float *dgate, float *dup, const float *dout, size_t out_stride,
                      const float *gate, const float *up, int n_rows, int dim, size_t gu_stride);

/* Backward of mg_nn_attention for one sequence processed whole (a->pos0 == 0,
 * a->window == 0: training sees complete causal sequences). a describes the
 * forward call (q and k after RoPE, v, the output out). Writes (not adds)
 * dq [n x n_heads*hd] and dk, dv [n x n_kv_heads*hd] from dout [n x
 * n_heads*hd]. Per KV group: P is recomputed, dV = sum_h P_h^T dO_h,
 * dP = dO V^T, dS = P * (dP - rowsum(dO * O)), dQ = scale dS K,
 * dK = sum_h scale dS_h^T Q_h (the group's heads in order).
 * scratch: n_slots slots of mg_nn_attention_bwd_scratch(n) floats; groups are
 * spread over min(team, n_slots) threads. */
typedef struct mg_nn_attn_grad {
    const float *dout; // [n x q_dim], rows dout_stride apart
    size_t dout_stride;
    float *dq; // [n x q_dim], rows dq_stride apart
    size_t dq_stride;
    float *dk, *dv; // [n x kv_dim], rows dkv_stride apart
    size_t dkv_stride;
} mg_nn_attn_grad;

size_t mg_nn_attention_bwd_scratch(int n);
void mg_nn_attention_bwd(const mg_nn_attn *a, const mg_nn_attn_grad *g, float *scratch,
                         int n_slots);
/* The same for one KV group (all its query heads), on the calling thread. */
void mg_nn_attention_bwd_group(const mg_nn_attn *a, const mg_nn_attn_grad *g, int group,
                               float *scratch);

/* Embedding backward: dembed[tokens[i]] += dx[i] for i in order. */
void mg_nn_embedding_bwd(float *dembed, const int32_t *tokens, const float *dx, int n, int dim,
                         size_t stride);

/* Masked cross-entropy of n_rows rows of logits[vocab]: for each row with
 * targets[r] >= 0, loss_r = logsumexp(row) - row[target] (double), and the
 * row becomes its gradient times weight: weight * (softmax(row) - onehot).
 * Rows with target < 0 become zero. Returns the summed (unweighted) loss; the
 * per-row sums are added in row order. logits are overwritten in place. */
double mg_nn_xent_bwd(float *logits, const int32_t *targets, int n_rows, int vocab, double weight);

#endif // MG_NN_BACKWARD_H
