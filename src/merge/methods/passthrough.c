/* passthrough.c - mergekit merge_methods/passthrough.py: exactly one input,
 * copied; multiplied by the per-model `scale` when one is set (frankenmerges
 * use it to damp repeated layers, mergekit issue #198). */
#include <math.h>

#include "merge/kernel.h"
#include "merge/methods/methods.h"

mg_status mg_k_passthrough(const mg_kernel_ctx *c, mg_error *err) {
    if (c->n != 1)
        return mg_error_set(err, MG_ERR_INVALID,
                            "passthrough takes exactly one model per tensor (found %zu)", c->n);
    double s = c->m[0][MG_P_SCALE];
    double coef = isnan(s) ? 1.0 : s;
    return mg_kernel_combine(c, &coef, err);
}
