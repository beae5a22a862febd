/* tensor.c - see tensor.h. */
#include "merge/tensor.h"

#include <math.h>
#include <string.h>

typedef struct {
    const mg_tensor_merge *t;
    float *out;
} io;

static mg_status rd(void *user, size_t model, uint64_t begin, uint64_t count, float *dst,
                    mg_error *err) {
    (void)err;
    const io *s = user;
    memcpy(dst, s->t->inputs[model] + begin, count * sizeof(float));
    return MG_OK;
}

static const uint16_t *hf(void *user, size_t model) {
    const io *s = user;
    return s->t->half ? s->t->half[model] : NULL;
}

static void wr(void *user, uint64_t begin, uint64_t count, const float *src) {
    const io *s = user;
    memcpy(s->out + begin, src, count * sizeof(float));
}

void mg_tensor_merge_defaults(const mg_method *method, double g[MG_P_COUNT], double m[MG_P_COUNT]) {
    for (int i = 0; i < MG_P_COUNT; i++) {
        if (g) g[i] = NAN;
        if (m) m[i] = NAN;
    }
    for (size_t i = 0; i < method->n_params; i++) {
        const mg_param_def *d = &method->params[i];
        if (d->per_model && m) m[d->id] = d->def;
        if (!d->per_model && g) g[d->id] = d->def;
    }
}

mg_status mg_merge_tensor_f32(const mg_tensor_merge *t, float *out, mg_error *err) {
    io s = {t, out};
    mg_kernel_ctx c = {.n = t->n,
                       .base = t->base,
                       .numel = t->numel,
                       .m = t->m,
                       .key = t->key,
                       .read = rd,
                       .read_user = &s,
                       .write = wr,
                       .write_user = &s,
                       .chunk = t->chunk,
                       .ids = t->ids,
                       .memo = t->memo,
                       .half = hf,
                       .half_user = &s};
    c.cols = t->cols ? t->cols : t->numel;
    if (c.cols == 0) c.cols = 1;
    c.rows = t->numel / c.cols;
    if (c.rows * c.cols != t->numel)
        return mg_error_set(err, MG_ERR_INVALID,
                            "tensor of %llu elements is not a multiple of %llu columns",
                            (unsigned long long)t->numel, (unsigned long long)c.cols);
    memcpy(c.g, t->g, sizeof c.g);
    return t->method->kernel(&c, err);
}
