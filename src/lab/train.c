/* train.c - see train.h. */
#include "lab/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "nn/grad.h"

bool mg_train_set_add(mg_train_set *s, const int32_t *ids, int n, int loss_start, int max_len) {
    if (max_len > 0 && n > max_len) n = max_len;
    if (loss_start < 1) loss_start = 1;
    if (n < 2 || loss_start >= n) return false;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = mg_realloc(s->v, s->cap * sizeof *s->v);
    }
    mg_train_example *e = &s->v[s->n++];
    e->ids = mg_malloc_array((size_t)n, sizeof *e->ids);
    memcpy(e->ids, ids, (size_t)n * sizeof *ids);
    e->n = n;
    e->loss_start = loss_start;
    s->tokens += (size_t)n;
    return true;
}

void mg_train_set_free(mg_train_set *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].ids);
    free(s->v);
    memset(s, 0, sizeof *s);
}

mg_train_opts mg_train_opts_default(void) {
    return (mg_train_opts){.seed = 1,
                           .steps = 0,
                           .epochs = 1.0,
                           .batch_seqs = 32,
                           .accum = 1,
                           .max_seq = 512,
                           .lr = 1e-3,
                           .min_lr = 1e-4,
                           .warmup = 20,
                           .weight_decay = 0.1,
                           .beta1 = 0.9,
                           .beta2 = 0.95,
                           .eps = 1e-8,
                           .clip = 1.0,
                           .label = "train"};
}

double mg_train_lr(const mg_train_opts *o, int step, int steps) {
    if (step < o->warmup) return o->lr * (double)(step + 1) / (double)o->warmup;
    int span = steps - o->warmup - 1;
    double t = span > 0 ? (double)(step - o->warmup) / span : 1.0;
    if (t > 1) t = 1;
    return o->min_lr + 0.5 * (o->lr - o->min_lr) * (1.0 + cos(M_PI * t));
}

void mg_train_init_weights(mg_nn_model *m, uint64_t seed, double std) {
    double resid = 1.0 / sqrt(2.0 * m->arch.n_layers);
    for (size_t t = 0; t < m->n_tensors; t++) {
        mg_nn_tensor *T = &m->tensors[t];
        if (T->ndim == 1) { // norm weights 1, biases 0
            float v = strstr(T->name, "bias") ? 0.0f : 1.0f;
            for (size_t i = 0; i < T->numel; i++)
                T->data[i] = v;
            continue;
        }
        double s = std;
        if (strstr(T->name, "o_proj") || strstr(T->name, "down_proj")) s *= resid;
        uint64_t k = mg_rng_key(seed, T->name);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < T->numel; i++)
            T->data[i] = (float)(s * mg_rng_normal(k, i));
    }
}

static mg_status check_opts(const mg_nn_model *m, const mg_train_set *d, const mg_train_opts *o,
                            mg_error *err) {
    if (!d->n) return mg_error_set(err, MG_ERR_INVALID, "%s: empty training set", o->label);
    if (o->batch_seqs < 1 || o->accum < 1 || o->batch_seqs % o->accum)
        return mg_error_set(err, MG_ERR_USAGE,
                            "%s: batch of %d sequences must split into %d equal micro-batches",
                            o->label, o->batch_seqs, o->accum);
    if (!(o->lr > 0) || o->min_lr < 0 || o->min_lr > o->lr || o->warmup < 0 || o->clip < 0 ||
        o->weight_decay < 0 || !(o->beta1 >= 0 && o->beta1 < 1) ||
        !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0))
        return mg_error_set(err, MG_ERR_USAGE,
                            "%s: optimizer options out of range (lr > 0, 0 <= min_lr <= lr, "
                            "betas in [0,1), eps > 0, clip and weight decay >= 0)",
                            o->label);
    if (o->steps < 0 || (o->steps == 0 && !(o->epochs > 0)))
        return mg_error_set(err, MG_ERR_USAGE, "%s: steps or epochs must be positive", o->label);
    if (o->max_seq < 2 || (int64_t)o->max_seq > m->arch.max_pos)
        return mg_error_set(err, MG_ERR_USAGE, "%s: max_seq %d outside 2..%lld", o->label,
                            o->max_seq, (long long)m->arch.max_pos);
    for (size_t i = 0; i < d->n; i++) {
        const mg_train_example *e = &d->v[i];
        if (e->n > o->max_seq)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: example %zu has %d tokens, more than "
                                "max_seq %d",
                                o->label, i, e->n, o->max_seq);
        for (int t = 0; t < e->n; t++)
            if (e->ids[t] < 0 || e->ids[t] >= m->arch.vocab)
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s: example %zu: token %d outside "
                                    "the vocabulary (0..%d)",
                                    o->label, i, e->ids[t], m->arch.vocab - 1);
    }
    return MG_OK;
}

// The order of examples: epoch e is a Fisher-Yates shuffle keyed by (seed, e).
typedef struct order {
    const mg_train_set *d;
    uint64_t key;
    int *perm;
    long epoch; // epoch held in perm
    size_t pos; // global position of the next example
} order;

static const mg_train_example *order_next(order *o) {
    long e = (long)(o->pos / o->d->n);
    size_t i = o->pos % o->d->n;
    if (e != o->epoch) {
        for (size_t j = 0; j < o->d->n; j++)
            o->perm[j] = (int)j;
        uint64_t k = mg_rng_subkey(o->key, (uint64_t)e);
        for (size_t j = o->d->n - 1; j > 0; j--) {
            size_t r = mg_rng_u32(k, j) % (j + 1);
            int t = o->perm[j];
            o->perm[j] = o->perm[r];
            o->perm[r] = t;
        }
        o->epoch = e;
    }
    o->pos++;
    return &o->d->v[o->perm[i]];
}

// Packs examples into a batch: tokens, next-token targets from loss_start on.
typedef struct packer {
    int32_t *tok, *tgt;
    int *seq;
    int n_tok, n_seq;
} packer;

static void pack(packer *p, const mg_train_example *e) {
    p->seq[p->n_seq] = p->n_tok;
    for (int t = 0; t < e->n; t++) {
        p->tok[p->n_tok + t] = e->ids[t];
        p->tgt[p->n_tok + t] = t + 1 < e->n && t + 1 >= e->loss_start ? e->ids[t + 1] : -1;
    }
    p->n_tok += e->n;
    p->seq[++p->n_seq] = p->n_tok;
}

static int targets_of(const mg_train_example *e) {
    return e->n - e->loss_start;
}

typedef struct adamw {
    float *m, *v;
    unsigned char *decay; // per float: 1 for matrices
} adamw;

static void adamw_step(const mg_train_opts *o, mg_nn_model *p, const mg_nn_model *g, adamw *st,
                       int t, double lr, float gscale) {
    const size_t n = p->block_bytes / sizeof(float);
    const double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps;
    const float step = (float)(lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
    const float wd = (float)(lr * o->weight_decay);
    float *w = p->block, *m = st->m, *v = st->v;
    const float *gr = g->block;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = gr[i] * gscale;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        if (st->decay[i]) w[i] -= wd * w[i];
        w[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
    }
}

mg_status mg_train(mg_nn_model *m, const mg_train_set *data, const mg_train_opts *o,
                   mg_train_stats *stats, mg_error *err) {
    memset(stats, 0, sizeof *stats);
    mg_status st = check_opts(m, data, o, err);
    if (st) return st;
    const int steps =
        o->steps ? o->steps : (int)ceil(o->epochs * (double)data->n / (double)o->batch_seqs);
    const int micro = o->batch_seqs / o->accum;
    mg_nn_grad_ws *ws = NULL;
    mg_nn_model *g = NULL;
    adamw opt = {0};
    packer pk = {0};
    order ord = {.d = data, .key = mg_rng_key(o->seed, "train/order"), .epoch = -1};
    st = mg_nn_grad_ws_new(&m->arch, micro * o->max_seq, o->max_seq, &ws, err);
    if (st) goto done;
    st = mg_nn_grad_new(m, &g, err);
    if (st) goto done;
    const size_t n_floats = m->block_bytes / sizeof(float);
    opt.m = mg_calloc(n_floats, sizeof(float));
    opt.v = mg_calloc(n_floats, sizeof(float));
    opt.decay = mg_calloc(n_floats, 1);
    for (size_t t = 0; t < m->n_tensors; t++)
        if (m->tensors[t].ndim == 2)
            memset(opt.decay + (m->tensors[t].data - (float *)m->block), 1, m->tensors[t].numel);
    pk.tok = mg_malloc_array((size_t)micro * o->max_seq, sizeof *pk.tok);
    pk.tgt = mg_malloc_array((size_t)micro * o->max_seq, sizeof *pk.tgt);
    pk.seq = mg_malloc_array((size_t)micro + 1, sizeof *pk.seq);
    ord.perm = mg_malloc_array(data->n, sizeof *ord.perm);
    const mg_train_example **batch = mg_malloc_array((size_t)o->batch_seqs, sizeof *batch);

    // Progress over the tokens of every scheduled example (a dry run of the order).
    uint64_t total = 0;
    for (int s = 0; s < steps; s++)
        for (int i = 0; i < o->batch_seqs; i++)
            total += (uint64_t)order_next(&ord)->n;
    ord.pos = 0;
    ord.epoch = -1;
    mg_progress prog;
    mg_progress_begin(&prog, o->label, total, "tokens");
    double t0 = mg_now_seconds(), tail_sum = 0;
    int tail_n = 0, tail_from = steps - (steps / 10 > 1 ? steps / 10 : 1);
    for (int s = 0; s < steps && !st; s++) {
        int step_targets = 0;
        for (int i = 0; i < o->batch_seqs; i++) {
            batch[i] = order_next(&ord);
            step_targets += targets_of(batch[i]);
        }
        mg_nn_grad_zero(g);
        double sum = 0;
        uint64_t toks = 0;
        for (int a = 0; a < o->accum && !st; a++) {
            pk.n_tok = pk.n_seq = 0;
            for (int i = 0; i < micro; i++)
                pack(&pk, batch[a * micro + i]);
            mg_nn_batch b = {.tokens = pk.tok,
                             .targets = pk.tgt,
                             .seq_start = pk.seq,
                             .n_tokens = pk.n_tok,
                             .n_seq = pk.n_seq};
            double part;
            int cnt;
            st = mg_nn_grad_batch(m, g, ws, &b, 1.0 / step_targets, &part, &cnt, err);
            sum += part;
            toks += (uint64_t)pk.n_tok;
        }
        if (st) break;
        double norm = sqrt(mg_sumsq_f32(g->block, n_floats));
        float gscale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
        double lr = mg_train_lr(o, s, steps);
        adamw_step(o, m, g, &opt, s + 1, lr, gscale);
        double loss = sum / step_targets;
        if (!isfinite(loss)) {
            st = mg_error_set(err, MG_ERR_RUNTIME,
                              "%s: loss became %g at step %d (lower the "
                              "learning rate)",
                              o->label, loss, s + 1);
            break;
        }
        if (s == 0) stats->first_loss = loss;
        if (s >= tail_from) {
            tail_sum += loss;
            tail_n++;
        }
        stats->tokens += toks;
        stats->targets += (uint64_t)step_targets;
        mg_log_debug("%s: step %d/%d loss %.4f lr %.3g grad norm %.3f", o->label, s + 1, steps,
                     loss, lr, norm);
        snprintf(prog.label, sizeof prog.label, "%s step %d/%d loss %.3f", o->label, s + 1, steps,
                 loss);
        mg_progress_add(&prog, toks);
    }
    if (!st) {
        snprintf(prog.label, sizeof prog.label, "%s: %d steps, final loss %.3f", o->label, steps,
                 tail_n ? tail_sum / tail_n : 0.0);
        mg_progress_end(&prog);
    }
    stats->steps = steps;
    stats->last_loss = tail_n ? tail_sum / tail_n : stats->first_loss;
    stats->seconds = mg_now_seconds() - t0;
    free(batch);
done:
    mg_nn_grad_ws_free(ws);
    mg_nn_model_free(g);
    free(opt.m);
    free(opt.v);
    free(opt.decay);
    free(pk.tok);
    free(pk.tgt);
    free(pk.seq);
    free(ord.perm);
    return st;
}

mg_status mg_train_eval(const mg_nn_model *m, const mg_train_set *data, int max_seq,
                        double *mean_nll, mg_error *err) {
    *mean_nll = 0;
    const int per = 16;
    mg_nn_grad_ws *ws = NULL;
    mg_status st = mg_nn_grad_ws_new(&m->arch, per * max_seq, max_seq, &ws, err);
    if (st) return st;
    packer pk = {.tok = mg_malloc_array((size_t)per * max_seq, sizeof(int32_t)),
                 .tgt = mg_malloc_array((size_t)per * max_seq, sizeof(int32_t)),
                 .seq = mg_malloc_array(per + 1, sizeof(int))};
    double sum = 0;
    long count = 0;
    for (size_t i = 0; i < data->n && !st; i += per) {
        pk.n_tok = pk.n_seq = 0;
        for (size_t j = i; j < i + per && j < data->n; j++) {
            if (data->v[j].n > max_seq) {
                st = mg_error_set(err, MG_ERR_INVALID, "eval: example %zu longer than %d", j,
                                  max_seq);
                break;
            }
            pack(&pk, &data->v[j]);
        }
        if (st) break;
        mg_nn_batch b = {.tokens = pk.tok,
                         .targets = pk.tgt,
                         .seq_start = pk.seq,
                         .n_tokens = pk.n_tok,
                         .n_seq = pk.n_seq};
        double s;
        int c;
        st = mg_nn_loss_batch(m, ws, &b, &s, &c, err);
        sum += s;
        count += c;
    }
    if (!st) *mean_nll = count ? sum / count : 0.0;
    free(pk.tok);
    free(pk.tgt);
    free(pk.seq);
    mg_nn_grad_ws_free(ws);
    return st;
}
