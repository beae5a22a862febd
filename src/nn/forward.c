/* forward.c - see forward.h. */
#include "nn/forward.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/half.h"
#include "nn/kernels.h"

struct mg_nn_state {
    int n_ctx, n_batch, pos;
    int n_layers, hidden, q_dim, kv_dim, ffn, vocab;
    float *kcache, *vcache;     // [n_layers][n_ctx][kv_dim]
    float *rope_cos, *rope_sin; // [n_ctx][head_dim/2]
    float *x;                   // [n_batch][hidden] residual stream
    float *xb;                  // [n_batch][hidden] normed input / LM-head rows
    float *qkv;                 // [n_batch][q_dim + 2 kv_dim]
    float *att;                 // [n_batch][q_dim]
    float *hb;                  // [n_batch][2 ffn]
    float *att_scratch;         // [att_slots][n_batch * n_ctx]
    int att_slots;
    float *wtiles; // bf16 models: [att_slots][mg_nn_matmul_bf16_tile(max K)]
    int max_k;     // widest matrix input (hidden, q_dim, ffn)
    bool bf16;
};

static float *alloc_floats(size_t n) {
    return mg_aligned_alloc((n ? n : 1) * sizeof(float));
}

mg_status mg_nn_state_new(const mg_nn_model *m, int n_ctx, int n_batch, mg_nn_state **out,
                          mg_error *err) {
    *out = NULL;
    const mg_arch *a = &m->arch;
    if (n_ctx <= 0 || (int64_t)n_ctx > a->max_pos)
        return mg_error_set(err, MG_ERR_INVALID,
                            "context of %d tokens: expected 1..%lld (max_position_embeddings)",
                            n_ctx, (long long)a->max_pos);
    if (n_batch <= 0) n_batch = n_ctx < 512 ? n_ctx : 512;
    if (n_batch > n_ctx) n_batch = n_ctx;
    uint64_t kv;
    if (!mg_size_mul((uint64_t)a->n_layers * (uint64_t)n_ctx, (uint64_t)mg_arch_kv_dim(a), &kv) ||
        kv > SIZE_MAX / 8)
        return mg_error_set(err, MG_ERR_INVALID, "KV cache of %d tokens is too large", n_ctx);
    mg_nn_state *s = mg_calloc(1, sizeof *s);
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->n_layers = a->n_layers;
    s->hidden = a->hidden;
    s->q_dim = mg_arch_q_dim(a);
    s->kv_dim = mg_arch_kv_dim(a);
    s->ffn = a->ffn;
    s->vocab = a->vocab;
    s->kcache = alloc_floats(kv);
    s->vcache = alloc_floats(kv);
    int half = a->head_dim / 2;
    s->rope_cos = alloc_floats((size_t)n_ctx * half);
    s->rope_sin = alloc_floats((size_t)n_ctx * half);
    double *inv_freq = mg_malloc_array((size_t)half, sizeof *inv_freq);
    mg_arch_rope_inv_freq(a, inv_freq);
    mg_nn_rope_table(inv_freq, half, n_ctx, s->rope_cos, s->rope_sin);
    free(inv_freq);
    size_t B = (size_t)n_batch;
    s->x = alloc_floats(B * s->hidden);
    s->xb = alloc_floats(B * s->hidden);
    s->qkv = alloc_floats(B * (size_t)(s->q_dim + 2 * s->kv_dim));
    s->att = alloc_floats(B * s->q_dim);
    s->hb = alloc_floats(B * 2 * (size_t)s->ffn);
    s->att_slots = 0; // allocated on first use, for the thread count then
    s->bf16 = m->matrix_dtype == MG_DTYPE_BF16;
    s->max_k = s->hidden > s->q_dim ? s->hidden : s->q_dim;
    if (s->ffn > s->max_k) s->max_k = s->ffn;
    *out = s;
    return MG_OK;
}

void mg_nn_state_free(mg_nn_state *s) {
    if (!s) return;
    free(s->kcache);
    free(s->vcache);
    free(s->rope_cos);
    free(s->rope_sin);
    free(s->x);
    free(s->xb);
    free(s->qkv);
    free(s->att);
    free(s->hb);
    free(s->att_scratch);
    free(s->wtiles);
    free(s);
}

void mg_nn_state_reset(mg_nn_state *s) {
    s->pos = 0;
}

int mg_nn_state_pos(const mg_nn_state *s) {
    return s->pos;
}

int mg_nn_state_ctx(const mg_nn_state *s) {
    return s->n_ctx;
}

void mg_nn_state_truncate(mg_nn_state *s, int pos) {
    if (pos >= 0 && pos < s->pos) s->pos = pos;
}

// y = x . W^T (+ bias) (+ y) for either weight storage.
static void matmul(mg_nn_state *s, float *y, size_t ldy, const float *x, size_t ldx, mg_nn_mat w,
                   const float *bias, int M, int N, int K, int acc) {
    if (w.bf16)
        mg_nn_matmul_bf16(y, ldy, x, ldx, w.bf16, bias, M, N, K, acc, s->wtiles, s->att_slots);
    else
        mg_nn_matmul(y, ldy, x, ldx, w.f32, bias, M, N, K, acc);
}

// One chunk of n <= n_batch tokens at positions s->pos ...; logits of rows
// first_out .. n-1 go to logits (rows first_out .. n-1 of the chunk).
static void forward_chunk(const mg_nn_model *m, mg_nn_state *s, const int32_t *tok, int n,
                          int first_out, float *logits) {
    const mg_arch *a = &m->arch;
    const int H = s->hidden, Q = s->q_dim, KV = s->kv_dim, F = s->ffn, hd = a->head_dim;
    const size_t qkv_w = (size_t)Q + 2 * (size_t)KV;
    const int pos0 = s->pos;
    for (int i = 0; i < n; i++) {
        if (m->embed.bf16)
            mg_bf16_to_f32_array(m->embed.bf16 + (size_t)tok[i] * H, s->x + (size_t)i * H,
                                 (size_t)H);
        else
            memcpy(s->x + (size_t)i * H, m->embed.f32 + (size_t)tok[i] * H,
                   (size_t)H * sizeof(float));
    }

    for (int l = 0; l < a->n_layers; l++) {
        const mg_nn_layer *L = &m->layers[l];
        float *kc = s->kcache + (size_t)l * s->n_ctx * KV;
        float *vc = s->vcache + (size_t)l * s->n_ctx * KV;

        // Attention block.
        mg_nn_rmsnorm(s->xb, s->x, L->attn_norm, n, H, H, a->norm_eps);
        matmul(s, s->qkv, qkv_w, s->xb, H, L->wqkv, L->bqkv, n, (int)qkv_w, H, 0);
        float *q = s->qkv, *k = s->qkv + Q, *v = s->qkv + Q + KV;
        if (L->q_norm) {
            // Qwen3: RMSNorm of every head vector over head_dim, before RoPE
            // (Qwen3Attention applies q_norm/k_norm to the [.., heads, hd] view).
            for (int i = 0; i < n; i++) {
                mg_nn_rmsnorm(q + i * qkv_w, q + i * qkv_w, L->q_norm, a->n_heads, hd, hd,
                              a->norm_eps);
                mg_nn_rmsnorm(k + i * qkv_w, k + i * qkv_w, L->k_norm, a->n_kv_heads, hd, hd,
                              a->norm_eps);
            }
        }
        mg_nn_rope(q, n, qkv_w, a->n_heads, hd, pos0, s->rope_cos, s->rope_sin);
        mg_nn_rope(k, n, qkv_w, a->n_kv_heads, hd, pos0, s->rope_cos, s->rope_sin);
        for (int i = 0; i < n; i++) {
            memcpy(kc + (size_t)(pos0 + i) * KV, k + i * qkv_w, (size_t)KV * sizeof(float));
            memcpy(vc + (size_t)(pos0 + i) * KV, v + i * qkv_w, (size_t)KV * sizeof(float));
        }
        mg_nn_attn at = {.q = q,
                         .q_stride = qkv_w,
                         .k = kc,
                         .v = vc,
                         .kv_stride = (size_t)KV,
                         .out = s->att,
                         .out_stride = (size_t)Q,
                         .n = n,
                         .pos0 = pos0,
                         .n_heads = a->n_heads,
                         .n_kv_heads = a->n_kv_heads,
                         .head_dim = hd,
                         .window = mg_arch_layer_window(a, l)};
        mg_nn_attention(&at, s->att_scratch, s->att_slots);
        matmul(s, s->x, H, s->att, Q, L->wo, L->bo, n, H, Q, 1); // x += o_proj(att)

        // MLP block: x += down(silu(gate(xb)) * up(xb)).
        mg_nn_rmsnorm(s->xb, s->x, L->ffn_norm, n, H, H, a->norm_eps);
        matmul(s, s->hb, 2 * (size_t)F, s->xb, H, L->wgu, NULL, n, 2 * F, H, 0);
        mg_nn_swiglu(s->hb, s->hb, s->hb + F, n, F, 2 * (size_t)F);
        matmul(s, s->x, H, s->hb, 2 * (size_t)F, L->wdown, NULL, n, H, F, 1);
    }
    s->pos += n;

    int n_out = n - first_out;
    if (n_out <= 0) return;
    float *xo = s->x + (size_t)first_out * H;
    mg_nn_rmsnorm(s->xb, xo, m->final_norm, n_out, H, H, a->norm_eps);
    matmul(s, logits, (size_t)s->vocab, s->xb, H, m->lm_head, NULL, n_out, s->vocab, H, 0);
}

mg_status mg_nn_forward(const mg_nn_model *m, mg_nn_state *s, const int32_t *tokens, int n,
                        int first_out, float *logits, mg_error *err) {
    if (n <= 0) return mg_error_set(err, MG_ERR_INVALID, "forward: empty token sequence");
    if (first_out < 0 || first_out > n)
        return mg_error_set(err, MG_ERR_INVALID, "forward: first logits row %d outside 0..%d",
                            first_out, n);
    if (first_out < n && !logits)
        return mg_error_set(err, MG_ERR_INVALID, "forward: no logits buffer");
    if (n > s->n_ctx - s->pos)
        return mg_error_set(err, MG_ERR_INVALID,
                            "sequence of %d tokens exceeds the context window (%d tokens, %d "
                            "already used)",
                            s->pos + n, s->n_ctx, s->pos);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->vocab)
            return mg_error_set(err, MG_ERR_INVALID,
                                "token %d at index %d is outside the vocabulary (0..%d)", tokens[i],
                                i, s->vocab - 1);
    int team = mg_nn_team_size();
    if (team > s->att_slots) {
        free(s->att_scratch);
        s->att_slots = team;
        s->att_scratch = alloc_floats(mg_nn_attention_scratch(s->n_batch, s->n_ctx) * (size_t)team);
        if (s->bf16) {
            free(s->wtiles);
            s->wtiles = alloc_floats(mg_nn_matmul_bf16_tile(s->max_k) * (size_t)team);
        }
    }
    for (int c0 = 0; c0 < n; c0 += s->n_batch) {
        int c = n - c0 < s->n_batch ? n - c0 : s->n_batch;
        int fo = first_out - c0; // first row of this chunk that needs logits
        if (fo < 0) fo = 0;
        if (fo > c) fo = c;
        float *lo = fo < c ? logits + (size_t)(c0 + fo - first_out) * s->vocab : NULL;
        forward_chunk(m, s, tokens + c0, c, fo, lo);
    }
    return MG_OK;
}
