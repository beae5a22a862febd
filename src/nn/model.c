/* model.c - see model.h. */
#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

// Every region starts on a 64-byte boundary (cache line, AVX-512 register).
static size_t round64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

typedef struct builder {
    mg_nn_model *m;
    size_t used; // bytes
    bool sizing; // first pass: only count
    bool overflow;
} builder;

// Reserves `bytes`; returns its address (NULL while sizing).
static void *take(builder *b, size_t bytes) {
    size_t r = round64(bytes);
    void *p = b->sizing ? NULL : (char *)b->m->block + b->used;
    if (r < bytes || b->used > SIZE_MAX - r)
        b->overflow = true;
    else
        b->used += r;
    return p;
}

static float *take_f32(builder *b, size_t n) {
    return take(b, n * sizeof(float));
}

// A matrix of rows x cols in the model's matrix dtype.
static mg_nn_mat take_mat(builder *b, size_t rows, size_t cols) {
    mg_nn_mat mt = {0};
    if (b->m->matrix_dtype == MG_DTYPE_BF16)
        mt.bf16 = take(b, rows * cols * sizeof(uint16_t));
    else
        mt.f32 = take_f32(b, rows * cols);
    return mt;
}

// The sub-matrix starting at row r0.
static mg_nn_mat mat_rows(mg_nn_mat mt, size_t r0, size_t cols) {
    mg_nn_mat o = {mt.f32 ? mt.f32 + r0 * cols : NULL, mt.bf16 ? mt.bf16 + r0 * cols : NULL};
    return o;
}

static void add(builder *b, const char *name, float *f32, uint16_t *bf16, int ndim, int64_t d0,
                int64_t d1) {
    if (b->sizing) {
        b->m->n_tensors++;
        return;
    }
    mg_nn_tensor *t = &b->m->tensors[b->m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 0;
    t->numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    t->data = f32;
    t->bf16 = bf16;
}

static void add_vec(builder *b, const char *name, float *v, int64_t n) {
    add(b, name, v, NULL, 1, n, 0);
}

static void add_mat(builder *b, const char *name, mg_nn_mat mt, int64_t rows, int64_t cols) {
    add(b, name, mt.f32, mt.bf16, 2, rows, cols);
}

static int cmp_tensor(const void *x, const void *y) {
    return strcmp(((const mg_nn_tensor *)x)->name, ((const mg_nn_tensor *)y)->name);
}

static void layout(builder *b) {
    mg_nn_model *m = b->m;
    const mg_arch *a = &m->arch;
    const size_t H = (size_t)a->hidden, Q = (size_t)mg_arch_q_dim(a),
                 KV = (size_t)mg_arch_kv_dim(a), F = (size_t)a->ffn, V = (size_t)a->vocab,
                 HD = (size_t)a->head_dim;
    char nm[96];
    m->embed = take_mat(b, V, H);
    add_mat(b, "model.embed_tokens.weight", m->embed, a->vocab, a->hidden);
    for (int l = 0; l < a->n_layers; l++) {
        mg_nn_layer tmp, *L = b->sizing ? &tmp : &m->layers[l];
#define NAME(suffix) (snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix), nm)
        L->attn_norm = take_f32(b, H);
        add_vec(b, NAME("input_layernorm.weight"), L->attn_norm, a->hidden);
        // Stacked projections: each HF tensor is a row range of one matrix.
        L->wqkv = take_mat(b, Q + 2 * KV, H);
        add_mat(b, NAME("self_attn.q_proj.weight"), L->wqkv, (int64_t)Q, a->hidden);
        add_mat(b, NAME("self_attn.k_proj.weight"), mat_rows(L->wqkv, Q, H), (int64_t)KV,
                a->hidden);
        add_mat(b, NAME("self_attn.v_proj.weight"), mat_rows(L->wqkv, Q + KV, H), (int64_t)KV,
                a->hidden);
        L->bqkv = NULL;
        if (a->qkv_bias) {
            L->bqkv = take_f32(b, Q + 2 * KV);
            add_vec(b, NAME("self_attn.q_proj.bias"), L->bqkv, (int64_t)Q);
            add_vec(b, NAME("self_attn.k_proj.bias"), L->bqkv ? L->bqkv + Q : NULL, (int64_t)KV);
            add_vec(b, NAME("self_attn.v_proj.bias"), L->bqkv ? L->bqkv + Q + KV : NULL,
                    (int64_t)KV);
        }
        L->q_norm = L->k_norm = NULL;
        if (a->qk_norm) {
            L->q_norm = take_f32(b, HD);
            add_vec(b, NAME("self_attn.q_norm.weight"), L->q_norm, a->head_dim);
            L->k_norm = take_f32(b, HD);
            add_vec(b, NAME("self_attn.k_norm.weight"), L->k_norm, a->head_dim);
        }
        L->wo = take_mat(b, H, Q);
        add_mat(b, NAME("self_attn.o_proj.weight"), L->wo, a->hidden, (int64_t)Q);
        L->bo = NULL;
        if (a->o_bias) {
            L->bo = take_f32(b, H);
            add_vec(b, NAME("self_attn.o_proj.bias"), L->bo, a->hidden);
        }
        L->ffn_norm = take_f32(b, H);
        add_vec(b, NAME("post_attention_layernorm.weight"), L->ffn_norm, a->hidden);
        L->wgu = take_mat(b, 2 * F, H);
        add_mat(b, NAME("mlp.gate_proj.weight"), L->wgu, a->ffn, a->hidden);
        add_mat(b, NAME("mlp.up_proj.weight"), mat_rows(L->wgu, F, H), a->ffn, a->hidden);
        L->wdown = take_mat(b, H, F);
        add_mat(b, NAME("mlp.down_proj.weight"), L->wdown, a->hidden, a->ffn);
#undef NAME
    }
    m->final_norm = take_f32(b, H);
    add_vec(b, "model.norm.weight", m->final_norm, a->hidden);
    if (a->tie_embeddings) {
        m->lm_head = m->embed;
    } else {
        m->lm_head = take_mat(b, V, H);
        add_mat(b, "lm_head.weight", m->lm_head, a->vocab, a->hidden);
    }
}

mg_status mg_nn_model_new_as(const mg_arch *arch, mg_dtype matrix_dtype, mg_nn_model **out,
                             mg_error *err) {
    *out = NULL;
    if (matrix_dtype != MG_DTYPE_F32 && matrix_dtype != MG_DTYPE_BF16)
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: weights can be held as F32 or BF16, not %s", arch->name,
                            mg_dtype_name(matrix_dtype));
    mg_nn_model *m = mg_calloc(1, sizeof *m);
    m->arch = *arch;
    m->matrix_dtype = matrix_dtype;
    // Pass 1 counts bytes and tensors. The dimensions are validated ints, but
    // their products could still overflow size_t on a 32-bit machine.
    builder b = {.m = m, .sizing = true};
    uint64_t check;
    const mg_arch *a = arch;
    if (!mg_size_mul((uint64_t)a->vocab, (uint64_t)a->hidden, &check) ||
        !mg_size_mul((uint64_t)(2 * (int64_t)a->ffn + mg_arch_q_dim(a) + 2 * mg_arch_kv_dim(a)),
                     (uint64_t)a->hidden, &check) ||
        !mg_size_mul(check, (uint64_t)a->n_layers, &check) || check > SIZE_MAX / 8) {
        free(m);
        return mg_error_set(err, MG_ERR_INVALID, "%s: model too large for this machine",
                            arch->name);
    }
    layout(&b);
    if (b.overflow) {
        free(m);
        return mg_error_set(err, MG_ERR_INVALID, "%s: model too large for this machine",
                            arch->name);
    }
    m->block_bytes = b.used;
    m->block = mg_aligned_alloc(b.used);
    memset(m->block, 0, b.used);
    m->layers = mg_calloc((size_t)arch->n_layers, sizeof *m->layers);
    m->tensors = mg_calloc(m->n_tensors, sizeof *m->tensors);
    m->n_tensors = 0;
    b = (builder){.m = m};
    layout(&b);
    for (int l = 0; l < arch->n_layers; l++) {
        mg_nn_layer *L = &m->layers[l];
        for (int i = 0; i < arch->hidden; i++)
            L->attn_norm[i] = L->ffn_norm[i] = 1.0f;
        if (L->q_norm)
            for (int i = 0; i < arch->head_dim; i++)
                L->q_norm[i] = L->k_norm[i] = 1.0f;
    }
    for (int i = 0; i < arch->hidden; i++)
        m->final_norm[i] = 1.0f;
    qsort(m->tensors, m->n_tensors, sizeof *m->tensors, cmp_tensor);
    *out = m;
    return MG_OK;
}

mg_status mg_nn_model_new(const mg_arch *arch, mg_nn_model **out, mg_error *err) {
    return mg_nn_model_new_as(arch, MG_DTYPE_F32, out, err);
}

void mg_nn_model_free(mg_nn_model *m) {
    if (!m) return;
    free(m->block);
    free(m->layers);
    free(m->tensors);
    free(m);
}

const mg_nn_tensor *mg_nn_model_find(const mg_nn_model *m, const char *name) {
    mg_nn_tensor key;
    snprintf(key.name, sizeof key.name, "%s", name);
    if (strlen(name) >= sizeof key.name) return NULL;
    return bsearch(&key, m->tensors, m->n_tensors, sizeof key, cmp_tensor);
}

size_t mg_nn_model_param_count(const mg_nn_model *m) {
    size_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        n += m->tensors[i].numel;
    return n;
}
