/* nearswap.c - mergekit merge_methods/nearswap.py: base a, one other model b;
 * per element w = clamp(t / max(|a - b|, 1e-6), 0, 1), out = w b + (1 - w) a:
 * parameters that are already close get pulled to b, distant ones stay a. */
#include <math.h>

#include "merge/kernel.h"
#include "merge/methods/methods.h"

static mg_status pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err, (void)user;
    const float *a = ch->x[c->base], *b = ch->x[c->base == 0 ? 1 : 0];
    float t = (float)c->g[MG_P_T];
    for (uint64_t e = 0; e < ch->count; e++) {
        float w = t / fmaxf(fabsf(a[e] - b[e]), 1e-6f);
        w = fminf(1.0f, fmaxf(0.0f, w));
        ch->out[e] = w * b[e] + (1 - w) * a[e];
    }
    return MG_OK;
}

mg_status mg_k_nearswap(const mg_kernel_ctx *c, mg_error *err) {
    if (c->base < 0 || c->n != 2)
        return mg_error_set(err, MG_ERR_INVALID,
                            "nearswap needs a base_model and exactly 1 other model");
    mg_kpass_opts o = {.write = true};
    return mg_kpass(c, &o, pass, NULL, err);
}
