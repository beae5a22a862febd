/* linear.c - mergekit merge_methods/linear.py: out = sum_i w_i x_i, divided by
 * sum_i w_i when `normalize` (default true). mergekit has no zero guard (a
 * zero weight sum gives inf/NaN); we refuse it instead, naming the tensor. */
#include <math.h>

#include "merge/kernel.h"
#include "merge/methods/methods.h"

typedef struct {
    double scale;
} lin;

static mg_status pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    const lin *l = user;
    float *o = ch->out;
    for (uint64_t j = 0; j < ch->count; j++)
        o[j] = 0;
    for (size_t i = 0; i < c->n; i++) {
        float w = (float)(c->m[i][MG_P_WEIGHT] * l->scale);
        const float *x = ch->x[i];
        for (uint64_t j = 0; j < ch->count; j++)
            o[j] += w * x[j];
    }
    return MG_OK;
}

mg_status mg_k_linear(const mg_kernel_ctx *c, mg_error *err) {
    double sum = 0;
    for (size_t i = 0; i < c->n; i++)
        sum += c->m[i][MG_P_WEIGHT];
    lin l = {1.0};
    if (c->g[MG_P_NORMALIZE] != 0) {
        if (fabs(sum) < 1e-12)
            return mg_error_set(err, MG_ERR_INVALID,
                                "linear: the weights sum to 0, cannot normalize (set normalize: "
                                "false or change the weights)");
        l.scale = 1.0 / sum;
    }
    mg_kpass_opts o = {.write = true};
    return mg_kpass(c, &o, pass, &l, err);
}
