/* model.c - see model.h. */
#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

// Floats reserved per tensor are rounded up to 16 (64 bytes) so every tensor
// starts on a cache line.
static size_t round16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

typedef struct builder {
    mg_nn_model *m;
    size_t cap, used; // floats
    bool sizing;      // first pass: only count
    bool overflow;
} builder;

// Reserves a region; when `name` is set, registers it as an HF tensor.
static float *take(builder *b, size_t numel) {
    size_t r = round16(numel);
    float *p = b->sizing ? NULL : b->m->block + b->used;
    if (b->used > SIZE_MAX - r) b->overflow = true;
    else b->used += r;
    return p;
}

static void add_tensor(builder *b, const char *name, float *data, int ndim, int64_t d0,
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
    t->data = data;
}

static int cmp_tensor(const void *x, const void *y) {
    return strcmp(((const mg_nn_tensor *)x)->name, ((const mg_nn_tensor *)y)->name);
}

static void layout(builder *b) {
    mg_nn_model *m = b->m;
    const mg_arch *a = &m->arch;
    const size_t H = (size_t)a->hidden, Q = (size_t)mg_arch_q_dim(a), KV = (size_t)mg_arch_kv_dim(a),
                 F = (size_t)a->ffn, V = (size_t)a->vocab, HD = (size_t)a->head_dim;
    char nm[96];
    m->embed = take(b, V * H);
    add_tensor(b, "model.embed_tokens.weight", m->embed, 2, a->vocab, a->hidden);
    for (int l = 0; l < a->n_layers; l++) {
        mg_nn_layer *L = b->sizing ? NULL : &m->layers[l];
        mg_nn_layer tmp;
        if (!L) L = &tmp;
#define NAME(suffix) (snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix), nm)
        L->attn_norm = take(b, H);
        add_tensor(b, NAME("input_layernorm.weight"), L->attn_norm, 1, a->hidden, 0);
        // The stacked projections are taken in one piece so the rows are contiguous.
        size_t qkv_rows = Q + 2 * KV;
        L->wqkv = b->sizing ? NULL : b->m->block + b->used;
        take(b, qkv_rows * H);
        add_tensor(b, NAME("self_attn.q_proj.weight"), L->wqkv, 2, (int64_t)Q, a->hidden);
        add_tensor(b, NAME("self_attn.k_proj.weight"), L->wqkv ? L->wqkv + Q * H : NULL, 2,
                   (int64_t)KV, a->hidden);
        add_tensor(b, NAME("self_attn.v_proj.weight"), L->wqkv ? L->wqkv + (Q + KV) * H : NULL,
                   2, (int64_t)KV, a->hidden);
        L->bqkv = NULL;
        if (a->qkv_bias) {
            L->bqkv = take(b, qkv_rows);
            add_tensor(b, NAME("self_attn.q_proj.bias"), L->bqkv, 1, (int64_t)Q, 0);
            add_tensor(b, NAME("self_attn.k_proj.bias"), L->bqkv ? L->bqkv + Q : NULL, 1,
                       (int64_t)KV, 0);
            add_tensor(b, NAME("self_attn.v_proj.bias"), L->bqkv ? L->bqkv + Q + KV : NULL, 1,
                       (int64_t)KV, 0);
        }
        L->q_norm = L->k_norm = NULL;
        if (a->qk_norm) {
            L->q_norm = take(b, HD);
            add_tensor(b, NAME("self_attn.q_norm.weight"), L->q_norm, 1, a->head_dim, 0);
            L->k_norm = take(b, HD);
            add_tensor(b, NAME("self_attn.k_norm.weight"), L->k_norm, 1, a->head_dim, 0);
        }
        L->wo = take(b, H * Q);
        add_tensor(b, NAME("self_attn.o_proj.weight"), L->wo, 2, a->hidden, (int64_t)Q);
        L->bo = NULL;
        if (a->o_bias) {
            L->bo = take(b, H);
            add_tensor(b, NAME("self_attn.o_proj.bias"), L->bo, 1, a->hidden, 0);
        }
        L->ffn_norm = take(b, H);
        add_tensor(b, NAME("post_attention_layernorm.weight"), L->ffn_norm, 1, a->hidden, 0);
        L->wgu = b->sizing ? NULL : b->m->block + b->used;
        take(b, 2 * F * H);
        add_tensor(b, NAME("mlp.gate_proj.weight"), L->wgu, 2, a->ffn, a->hidden);
        add_tensor(b, NAME("mlp.up_proj.weight"), L->wgu ? L->wgu + F * H : NULL, 2, a->ffn,
                   a->hidden);
        L->wdown = take(b, H * F);
        add_tensor(b, NAME("mlp.down_proj.weight"), L->wdown, 2, a->hidden, a->ffn);
#undef NAME
    }
    m->final_norm = take(b, H);
    add_tensor(b, "model.norm.weight", m->final_norm, 1, a->hidden, 0);
    if (a->tie_embeddings) {
        m->lm_head = m->embed;
    } else {
        m->lm_head = take(b, V * H);
        add_tensor(b, "lm_head.weight", m->lm_head, 2, a->vocab, a->hidden);
    }
}

mg_status mg_nn_model_new(const mg_arch *arch, mg_nn_model **out, mg_error *err) {
    *out = NULL;
    mg_nn_model *m = mg_calloc(1, sizeof *m);
    m->arch = *arch;
    // Pass 1 counts floats and tensors; the sizes are validated ints, but
    // their products can still overflow on 32-bit size_t, so check them.
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
    if (b.overflow || b.used > SIZE_MAX / sizeof(float)) {
        free(m);
        return mg_error_set(err, MG_ERR_INVALID, "%s: model too large for this machine",
                            arch->name);
    }
    m->block_floats = b.used;
    m->block = mg_aligned_alloc(b.used * sizeof(float));
    memset(m->block, 0, b.used * sizeof(float));
    m->layers = mg_calloc((size_t)arch->n_layers, sizeof *m->layers);
    m->tensors = mg_calloc(m->n_tensors, sizeof *m->tensors);
    m->n_tensors = 0;
    b = (builder){.m = m, .cap = m->block_floats};
    layout(&b);
    for (int l = 0; l < arch->n_layers; l++) {
        mg_nn_layer *L = &m->layers[l];
        for (int i = 0; i < arch->hidden; i++) L->attn_norm[i] = L->ffn_norm[i] = 1.0f;
        if (L->q_norm)
            for (int i = 0; i < arch->head_dim; i++) L->q_norm[i] = L->k_norm[i] = 1.0f;
    }
    for (int i = 0; i < arch->hidden; i++) m->final_norm[i] = 1.0f;
    qsort(m->tensors, m->n_tensors, sizeof *m->tensors, cmp_tensor);
    *out = m;
    return MG_OK;
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
    for (size_t i = 0; i < m->n_tensors; i++) n += m->tensors[i].numel;
    return n;
}
