/* grad.c - see grad.h. */
#include "nn/grad.h"

#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "nn/backward.h"
#include "nn/kernels.h"

#define LOSS_CHUNK 128 // LM-head rows per logits chunk

struct mg_nn_grad_ws {
    mg_arch a;
    int T, max_seq; // max tokens per batch, max sequence length
    int L, H, Q, KV, F, V, hd;
    size_t qkv_w;
    // Activation cache; layer l's slice starts at l * T * width.
    float *res; // [L+1][T][H] residual stream entering layer l; res[L] is the final one
    float *xn1; // [L][T][H] input_layernorm output
    float *qkv; // [L][T][qkv_w] q, k after RoPE, v
    float *att; // [L][T][Q] attention output (before o_proj)
    float *mid; // [L][T][H] residual after the attention block
    float *xn2; // [L][T][H] post_attention_layernorm output
    float *gu;  // [L][T][2F] gate and up projections
    // Scratch.
    float *h;                   // [T][2F]: silu(gate) * up in the first F columns (stride 2F)
    float *dres;                // [T][H] gradient of the residual stream
    float *dxn;                 // [T][H]
    float *dqkv;                // [T][qkv_w]
    float *datt;                // [T][Q]
    float *dgu;                 // [T][2F]
    float *dh;                  // [T][F]
    float *rope_cos, *rope_sin; // [max_seq][hd/2]
    float *att_scratch;         // [att_slots][slot]
    int att_slots;
    size_t att_slot;
    int *rows;                             // [T] rows with a target
    int32_t *tg;                           // [T] their targets
    float *lx, *lxn, *ldx, *ldxn, *logits; // [LOSS_CHUNK][H] x4, [LOSS_CHUNK][V]
    size_t bytes;
};

static float *falloc(mg_nn_grad_ws *ws, size_t n) {
    ws->bytes += n * sizeof(float);
    // Not cleared: every buffer is written before it is read, and untouched
    // pages (batches shorter than the maximum) cost no memory.
    return mg_aligned_alloc((n ? n : 1) * sizeof(float));
}

mg_status mg_nn_grad_ws_new(const mg_arch *arch, int max_tokens, int max_seq, mg_nn_grad_ws **out,
                            mg_error *err) {
    *out = NULL;
    const mg_arch *a = arch;
    if (a->qkv_bias || a->o_bias || a->qk_norm || a->sliding_window > 0)
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: training supports Llama-style models only (no attention biases, "
                            "no q/k norms, no sliding window)",
                            a->name);
    if (a->head_dim % 2 || a->n_heads % a->n_kv_heads)
        return mg_error_set(err, MG_ERR_UNSUPPORTED, "%s: odd head_dim or heads %% kv_heads != 0",
                            a->name);
    if (max_seq <= 0 || (int64_t)max_seq > a->max_pos || max_tokens < max_seq)
        return mg_error_set(err, MG_ERR_INVALID,
                            "training workspace: sequence length %d must be 1..%lld "
                            "(max_position_embeddings) and at most the %d batch tokens",
                            max_seq, (long long)a->max_pos, max_tokens);
    mg_nn_grad_ws *ws = mg_calloc(1, sizeof *ws);
    ws->a = *a;
    ws->T = max_tokens;
    ws->max_seq = max_seq;
    ws->L = a->n_layers;
    ws->H = a->hidden;
    ws->Q = mg_arch_q_dim(a);
    ws->KV = mg_arch_kv_dim(a);
    ws->F = a->ffn;
    ws->V = a->vocab;
    ws->hd = a->head_dim;
    ws->qkv_w = (size_t)ws->Q + 2 * (size_t)ws->KV;
    const size_t T = (size_t)max_tokens, L = (size_t)ws->L, H = (size_t)ws->H,
                 F2 = 2 * (size_t)ws->F;
    ws->res = falloc(ws, (L + 1) * T * H);
    ws->xn1 = falloc(ws, L * T * H);
    ws->qkv = falloc(ws, L * T * ws->qkv_w);
    ws->att = falloc(ws, L * T * (size_t)ws->Q);
    ws->mid = falloc(ws, L * T * H);
    ws->xn2 = falloc(ws, L * T * H);
    ws->gu = falloc(ws, L * T * F2);
    ws->h = falloc(ws, T * F2);
    ws->dres = falloc(ws, T * H);
    ws->dxn = falloc(ws, T * H);
    ws->dqkv = falloc(ws, T * ws->qkv_w);
    ws->datt = falloc(ws, T * (size_t)ws->Q);
    ws->dgu = falloc(ws, T * F2);
    ws->dh = falloc(ws, T * (size_t)ws->F);
    int half = ws->hd / 2;
    ws->rope_cos = falloc(ws, (size_t)max_seq * half);
    ws->rope_sin = falloc(ws, (size_t)max_seq * half);
    double *inv_freq = mg_malloc_array((size_t)half, sizeof *inv_freq);
    mg_arch_rope_inv_freq(a, inv_freq);
    mg_nn_rope_table(inv_freq, half, max_seq, ws->rope_cos, ws->rope_sin);
    free(inv_freq);
    size_t fw = mg_nn_attention_scratch(max_seq, max_seq),
           bw = mg_nn_attention_bwd_scratch(max_seq);
    ws->att_slot = fw > bw ? fw : bw;
    ws->rows = mg_malloc_array(T, sizeof *ws->rows);
    ws->tg = mg_malloc_array(T, sizeof *ws->tg);
    ws->lx = falloc(ws, LOSS_CHUNK * H);
    ws->lxn = falloc(ws, LOSS_CHUNK * H);
    ws->ldx = falloc(ws, LOSS_CHUNK * H);
    ws->ldxn = falloc(ws, LOSS_CHUNK * H);
    ws->logits = falloc(ws, LOSS_CHUNK * (size_t)ws->V);
    *out = ws;
    return MG_OK;
}

void mg_nn_grad_ws_free(mg_nn_grad_ws *ws) {
    if (!ws) return;
    float *bufs[] = {ws->res, ws->xn1,  ws->qkv,      ws->att,        ws->mid,  ws->xn2,
                     ws->gu,  ws->h,    ws->dres,     ws->dxn,        ws->dqkv, ws->datt,
                     ws->dgu, ws->dh,   ws->rope_cos, ws->rope_sin,   ws->lx,   ws->lxn,
                     ws->ldx, ws->ldxn, ws->logits,   ws->att_scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(ws->rows);
    free(ws->tg);
    free(ws);
}

size_t mg_nn_grad_ws_bytes(const mg_nn_grad_ws *ws) {
    return ws->bytes + (size_t)ws->att_slots * ws->att_slot * sizeof(float);
}

mg_status mg_nn_batch_check(const mg_nn_grad_ws *ws, const mg_nn_batch *b, int vocab,
                            mg_error *err) {
    if (b->n_tokens <= 0 || b->n_tokens > ws->T || b->n_seq <= 0)
        return mg_error_set(err, MG_ERR_INVALID,
                            "batch of %d tokens in %d sequences: expected "
                            "1..%d tokens",
                            b->n_tokens, b->n_seq, ws->T);
    if (b->seq_start[0] != 0 || b->seq_start[b->n_seq] != b->n_tokens)
        return mg_error_set(err, MG_ERR_INVALID, "batch: sequence starts must run from 0 to %d",
                            b->n_tokens);
    for (int s = 0; s < b->n_seq; s++) {
        int n = b->seq_start[s + 1] - b->seq_start[s];
        if (n <= 0 || n > ws->max_seq)
            return mg_error_set(err, MG_ERR_INVALID,
                                "batch: sequence %d has %d tokens, expected "
                                "1..%d",
                                s, n, ws->max_seq);
    }
    for (int i = 0; i < b->n_tokens; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= vocab)
            return mg_error_set(err, MG_ERR_INVALID,
                                "batch: token %d at row %d is outside the "
                                "vocabulary (0..%d)",
                                b->tokens[i], i, vocab - 1);
        if (b->targets[i] < -1 || b->targets[i] >= vocab)
            return mg_error_set(err, MG_ERR_INVALID,
                                "batch: target %d at row %d is outside the "
                                "vocabulary (0..%d, or -1)",
                                b->targets[i], i, vocab - 1);
    }
    return MG_OK;
}

// The fields the workspace was sized and its RoPE tables were computed for.
static bool same_arch(const mg_arch *x, const mg_arch *y) {
    return x->n_layers == y->n_layers && x->hidden == y->hidden && x->n_heads == y->n_heads &&
           x->n_kv_heads == y->n_kv_heads && x->head_dim == y->head_dim && x->ffn == y->ffn &&
           x->vocab == y->vocab && x->tie_embeddings == y->tie_embeddings &&
           x->rope_theta == y->rope_theta && x->rope_scaling == y->rope_scaling &&
           x->rope_factor == y->rope_factor && x->norm_eps == y->norm_eps;
}

static void ensure_slots(mg_nn_grad_ws *ws) {
    int team = omp_get_max_threads();
    if (team <= ws->att_slots) return;
    free(ws->att_scratch);
    ws->att_slots = team;
    ws->att_scratch = mg_aligned_alloc(ws->att_slot * (size_t)team * sizeof(float));
}

#define AT(buf, l, width) ((buf) + (size_t)(l) * (size_t)ws->T * (width))

// The attention call of sequence s at layer l (forward layout of mg_nn_attention).
static mg_nn_attn seq_attn(const mg_nn_grad_ws *ws, int l, const mg_nn_batch *b, int s) {
    int s0 = b->seq_start[s], n = b->seq_start[s + 1] - s0;
    float *q = AT(ws->qkv, l, ws->qkv_w) + (size_t)s0 * ws->qkv_w;
    return (mg_nn_attn){.q = q,
                        .q_stride = ws->qkv_w,
                        .k = q + ws->Q,
                        .v = q + ws->Q + ws->KV,
                        .kv_stride = ws->qkv_w,
                        .out = AT(ws->att, l, ws->Q) + (size_t)s0 * ws->Q,
                        .out_stride = (size_t)ws->Q,
                        .n = n,
                        .pos0 = 0,
                        .n_heads = ws->a.n_heads,
                        .n_kv_heads = ws->a.n_kv_heads,
                        .head_dim = ws->hd,
                        .window = 0};
}

static void forward(const mg_nn_model *m, mg_nn_grad_ws *ws, const mg_nn_batch *b) {
    const mg_arch *a = &m->arch;
    const int T = b->n_tokens, H = ws->H, Q = ws->Q, F = ws->F;
    const size_t qw = ws->qkv_w, F2 = 2 * (size_t)F;
    for (int i = 0; i < T; i++)
        memcpy(ws->res + (size_t)i * H, m->embed.f32 + (size_t)b->tokens[i] * H,
               (size_t)H * sizeof(float));
    for (int l = 0; l < ws->L; l++) {
        const mg_nn_layer *Lw = &m->layers[l];
        float *R = AT(ws->res, l, H), *xn1 = AT(ws->xn1, l, H), *qkv = AT(ws->qkv, l, qw);
        float *att = AT(ws->att, l, Q), *mid = AT(ws->mid, l, H), *xn2 = AT(ws->xn2, l, H);
        float *gu = AT(ws->gu, l, F2), *next = AT(ws->res, l + 1, H);
        mg_nn_rmsnorm(xn1, R, Lw->attn_norm, T, H, H, a->norm_eps);
        mg_nn_matmul_rows(qkv, qw, xn1, H, Lw->wqkv.f32, T, (int)qw, H, 0);
#pragma omp parallel for schedule(dynamic) num_threads(ws->att_slots)
        for (int s = 0; s < b->n_seq; s++) {
            mg_nn_attn at = seq_attn(ws, l, b, s);
            float *q = (float *)at.q;
            mg_nn_rope(q, at.n, qw, a->n_heads, ws->hd, 0, ws->rope_cos, ws->rope_sin);
            mg_nn_rope(q + Q, at.n, qw, a->n_kv_heads, ws->hd, 0, ws->rope_cos, ws->rope_sin);
            mg_nn_attention(&at, ws->att_scratch + ws->att_slot * (size_t)omp_get_thread_num(), 1);
        }
        memcpy(mid, R, (size_t)T * H * sizeof(float));
        mg_nn_matmul_rows(mid, H, att, Q, Lw->wo.f32, T, H, Q, 1);
        mg_nn_rmsnorm(xn2, mid, Lw->ffn_norm, T, H, H, a->norm_eps);
        mg_nn_matmul_rows(gu, F2, xn2, H, Lw->wgu.f32, T, (int)F2, H, 0);
        mg_nn_swiglu(ws->h, gu, gu + F, T, F, F2);
        memcpy(next, mid, (size_t)T * H * sizeof(float));
        mg_nn_matmul_rows(next, H, ws->h, F2, Lw->wdown.f32, T, H, F, 1);
    }
}

// LM head and masked cross-entropy over the rows with a target, a chunk at a
// time; with grad, the gradient of the final norm's input goes into ws->dres
// (which it initializes) and the head / final-norm gradients into grad.
static double head_loss(const mg_nn_model *m, mg_nn_model *grad, mg_nn_grad_ws *ws,
                        const mg_nn_batch *b, double weight, int *count) {
    const int T = b->n_tokens, H = ws->H, V = ws->V;
    const float *xfin = AT(ws->res, ws->L, H);
    int nr = 0;
    for (int i = 0; i < T; i++)
        if (b->targets[i] >= 0) {
            ws->rows[nr] = i;
            ws->tg[nr++] = b->targets[i];
        }
    *count = nr;
    if (grad) memset(ws->dres, 0, (size_t)T * H * sizeof(float));
    double sum = 0.0;
    for (int c0 = 0; c0 < nr; c0 += LOSS_CHUNK) {
        int n = nr - c0 < LOSS_CHUNK ? nr - c0 : LOSS_CHUNK;
        for (int i = 0; i < n; i++)
            memcpy(ws->lx + (size_t)i * H, xfin + (size_t)ws->rows[c0 + i] * H,
                   (size_t)H * sizeof(float));
        mg_nn_rmsnorm(ws->lxn, ws->lx, m->final_norm, n, H, H, m->arch.norm_eps);
        mg_nn_matmul(ws->logits, (size_t)V, ws->lxn, H, m->lm_head.f32, NULL, n, V, H, 0);
        sum += mg_nn_xent_bwd(ws->logits, ws->tg + c0, n, V, weight);
        if (!grad) continue;
        mg_nn_matmul_bwd_x(ws->ldxn, H, ws->logits, V, m->lm_head.f32, n, V, H, 0);
        mg_nn_matmul_bwd_w(grad->lm_head.f32, ws->logits, V, ws->lxn, H, n, V, H);
        memset(ws->ldx, 0, (size_t)n * H * sizeof(float));
        mg_nn_rmsnorm_bwd(ws->ldx, grad->final_norm, ws->ldxn, ws->lx, m->final_norm, n, H, H,
                          m->arch.norm_eps);
        for (int i = 0; i < n; i++) {
            float *d = ws->dres + (size_t)ws->rows[c0 + i] * H;
            const float *s = ws->ldx + (size_t)i * H;
            for (int j = 0; j < H; j++)
                d[j] += s[j];
        }
    }
    return sum;
}

static void backward(const mg_nn_model *m, mg_nn_model *grad, mg_nn_grad_ws *ws,
                     const mg_nn_batch *b) {
    const mg_arch *a = &m->arch;
    const int T = b->n_tokens, H = ws->H, Q = ws->Q, KV = ws->KV, F = ws->F;
    const size_t qw = ws->qkv_w, F2 = 2 * (size_t)F;
    const int n_kv = a->n_kv_heads;
    for (int l = ws->L - 1; l >= 0; l--) {
        const mg_nn_layer *Lw = &m->layers[l];
        mg_nn_layer *G = &grad->layers[l];
        float *R = AT(ws->res, l, H), *xn1 = AT(ws->xn1, l, H), *att = AT(ws->att, l, Q);
        float *mid = AT(ws->mid, l, H), *xn2 = AT(ws->xn2, l, H), *gu = AT(ws->gu, l, F2);
        // MLP block: next = mid + down(silu(gate) * up).
        mg_nn_swiglu(ws->h, gu, gu + F, T, F, F2);
        mg_nn_matmul_bwd_x(ws->dh, F, ws->dres, H, Lw->wdown.f32, T, H, F, 0);
        mg_nn_matmul_bwd_w(G->wdown.f32, ws->dres, H, ws->h, F2, T, H, F);
        mg_nn_swiglu_bwd(ws->dgu, ws->dgu + F, ws->dh, F, gu, gu + F, T, F, F2);
        mg_nn_matmul_bwd_x(ws->dxn, H, ws->dgu, F2, Lw->wgu.f32, T, (int)F2, H, 0);
        mg_nn_matmul_bwd_w(G->wgu.f32, ws->dgu, F2, xn2, H, T, (int)F2, H);
        mg_nn_rmsnorm_bwd(ws->dres, G->ffn_norm, ws->dxn, mid, Lw->ffn_norm, T, H, H, a->norm_eps);
        // Attention block: mid = R + o(att(rope(q), rope(k), v)).
        mg_nn_matmul_bwd_x(ws->datt, Q, ws->dres, H, Lw->wo.f32, T, H, Q, 0);
        mg_nn_matmul_bwd_w(G->wo.f32, ws->dres, H, att, Q, T, H, Q);
        const int tasks = b->n_seq * n_kv;
#pragma omp parallel for schedule(dynamic) num_threads(ws->att_slots)
        for (int t = 0; t < tasks; t++) {
            int s = t / n_kv, g = t % n_kv, s0 = b->seq_start[s];
            mg_nn_attn at = seq_attn(ws, l, b, s);
            float *dq = ws->dqkv + (size_t)s0 * qw;
            mg_nn_attn_grad ag = {.dout = ws->datt + (size_t)s0 * Q,
                                  .dout_stride = (size_t)Q,
                                  .dq = dq,
                                  .dq_stride = qw,
                                  .dk = dq + Q,
                                  .dv = dq + Q + KV,
                                  .dkv_stride = qw};
            mg_nn_attention_bwd_group(
                &at, &ag, g, ws->att_scratch + ws->att_slot * (size_t)omp_get_thread_num());
        }
#pragma omp parallel for schedule(dynamic) num_threads(ws->att_slots)
        for (int s = 0; s < b->n_seq; s++) {
            int s0 = b->seq_start[s], n = b->seq_start[s + 1] - s0;
            float *dq = ws->dqkv + (size_t)s0 * qw;
            mg_nn_rope_bwd(dq, n, qw, a->n_heads, ws->hd, 0, ws->rope_cos, ws->rope_sin);
            mg_nn_rope_bwd(dq + Q, n, qw, n_kv, ws->hd, 0, ws->rope_cos, ws->rope_sin);
        }
        mg_nn_matmul_bwd_x(ws->dxn, H, ws->dqkv, qw, Lw->wqkv.f32, T, (int)qw, H, 0);
        mg_nn_matmul_bwd_w(G->wqkv.f32, ws->dqkv, qw, xn1, H, T, (int)qw, H);
        mg_nn_rmsnorm_bwd(ws->dres, G->attn_norm, ws->dxn, R, Lw->attn_norm, T, H, H, a->norm_eps);
    }
    mg_nn_embedding_bwd(grad->embed.f32, b->tokens, ws->dres, T, H, H);
}

mg_status mg_nn_grad_batch(const mg_nn_model *m, mg_nn_model *grad, mg_nn_grad_ws *ws,
                           const mg_nn_batch *b, double weight, double *sum_nll, int *count,
                           mg_error *err) {
    if (!same_arch(&m->arch, &ws->a) || !same_arch(&grad->arch, &ws->a) ||
        grad->block_bytes != m->block_bytes || m->matrix_dtype != MG_DTYPE_F32 ||
        grad->matrix_dtype != MG_DTYPE_F32)
        return mg_error_set(err, MG_ERR_INVALID,
                            "training: model, gradient and workspace "
                            "architectures differ");
    mg_status st = mg_nn_batch_check(ws, b, ws->V, err);
    if (st) return st;
    ensure_slots(ws);
    forward(m, ws, b);
    *sum_nll = head_loss(m, grad, ws, b, weight, count);
    backward(m, grad, ws, b);
    return MG_OK;
}

mg_status mg_nn_loss_batch(const mg_nn_model *m, mg_nn_grad_ws *ws, const mg_nn_batch *b,
                           double *sum_nll, int *count, mg_error *err) {
    if (!same_arch(&m->arch, &ws->a) || m->matrix_dtype != MG_DTYPE_F32)
        return mg_error_set(err, MG_ERR_INVALID,
                            "training: model and workspace architectures "
                            "differ, or the model's weights are not f32");
    mg_status st = mg_nn_batch_check(ws, b, ws->V, err);
    if (st) return st;
    ensure_slots(ws);
    forward(m, ws, b);
    *sum_nll = head_loss(m, NULL, ws, b, 0.0, count);
    return MG_OK;
}

mg_status mg_nn_grad_new(const mg_nn_model *m, mg_nn_model **out, mg_error *err) {
    mg_status st = mg_nn_model_new(&m->arch, out, err);
    if (!st) mg_nn_grad_zero(*out);
    return st;
}

void mg_nn_grad_zero(mg_nn_model *grad) {
    memset(grad->block, 0, grad->block_bytes);
}
