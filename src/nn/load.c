/* load.c - see load.h. */
#include "nn/load.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "base/alloc.h"
#include "base/half.h"
#include "base/log.h"

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

// True when a bf16 array holds NaN or Inf (exponent bits all ones).
static bool bf16_any_nonfinite(const uint16_t *x, size_t n) {
    unsigned hit = 0;
    for (size_t i = 0; i < n; i++)
        hit |= (x[i] & 0x7F80u) == 0x7F80u;
    return hit != 0;
}

mg_status mg_nn_model_fill(mg_nn_model *m, const mg_model *dir, mg_error *err) {
    const char *path = mg_model_path(dir);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const mg_nn_tensor *t = &m->tensors[i];
        const mg_tensor_view *v = mg_model_find(dir, t->name);
        char want[64], found[64];
        shape_str(want, sizeof want, t->ndim, t->shape);
        if (!v)
            return mg_error_set(err, MG_ERR_NOT_FOUND, "%s: tensor '%s' %s is missing", path,
                                t->name, want);
        bool same = v->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = v->shape[d] == t->shape[d];
        if (!same) {
            shape_str(found, sizeof found, v->ndim, v->shape);
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: tensor '%s' has shape %s, expected %s (from config.json)",
                                path, t->name, found, want);
        }
        if (!mg_dtype_is_float(v->dtype))
            return mg_error_set(err, MG_ERR_UNSUPPORTED,
                                "%s: tensor '%s' has dtype %s, expected a float type", path,
                                t->name, mg_dtype_name(v->dtype));
        mg_status rc = MG_OK;
        if (t->data) {
            rc = mg_tensor_to_f32(v, t->data, err);
        } else if (v->dtype == MG_DTYPE_BF16) {
            memcpy(t->bf16, v->data, t->numel * sizeof(uint16_t)); // exact
        } else {
            // Asked to hold bf16 from another float type: round once (RNE).
            float *tmp = mg_malloc_array(t->numel, sizeof *tmp);
            rc = mg_tensor_to_f32(v, tmp, err);
            if (rc == MG_OK) mg_f32_to_bf16_array(tmp, t->bf16, t->numel);
            free(tmp);
        }
        if (rc != MG_OK) return rc;
        // A model with NaN / Inf weights runs, but every output downstream of
        // them is NaN: refuse it here, naming the tensor (one pass over it).
        if (t->data ? mg_f32_any_nonfinite(t->data, t->numel)
                    : bf16_any_nonfinite(t->bf16, t->numel))
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: tensor '%s' holds NaN or Inf values: the model's outputs "
                                "would be meaningless",
                                path, t->name);
    }
    return MG_OK;
}

mg_status mg_nn_model_from_dir_as(const mg_model *dir, mg_nn_weights weights, mg_nn_model **out,
                                  mg_error *err) {
    *out = NULL;
    const mg_model_config *cfg = mg_model_config_of(dir);
    const char *path = mg_model_path(dir);
    if (!cfg || !cfg->present || !cfg->json)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: no config.json: running a model needs its model folder", path);
    char what[512];
    snprintf(what, sizeof what, "%s/config.json", path);
    mg_arch arch;
    mg_status rc = mg_arch_from_json(cfg->json, what, &arch, err);
    if (rc != MG_OK) return rc;
    // Biases are bound when present (Qwen2 configs have no attention_bias key).
    if (mg_model_find(dir, "model.layers.0.self_attn.q_proj.bias")) arch.qkv_bias = true;
    if (mg_model_find(dir, "model.layers.0.self_attn.o_proj.bias")) arch.o_bias = true;
    // A checkpoint without lm_head.weight whose config does not say it is
    // tied is still loadable the HF way only if tied; say so in the error.
    mg_nn_model *m = NULL;
    mg_dtype dt = weights == MG_NN_WEIGHTS_BF16 ? MG_DTYPE_BF16 : MG_DTYPE_F32;
    const mg_tensor_view *emb = mg_model_find(dir, "model.embed_tokens.weight");
    if (weights == MG_NN_WEIGHTS_AUTO && emb && emb->dtype == MG_DTYPE_BF16) dt = MG_DTYPE_BF16;
    // The weights are allocated before each tensor's shape is checked, so a
    // config.json far larger than its checkpoint (found by fuzzing: 12 TB
    // from a 600 KB file) must be refused first. The big matrices are distinct
    // tensors of the checkpoint, so a loadable model never needs more elements
    // than it holds; the factor 2 leaves near misses to the per-tensor check.
    double H = arch.hidden, qkv = mg_arch_q_dim(&arch) + 2.0 * mg_arch_kv_dim(&arch);
    double need = (double)arch.vocab * H +
                  arch.n_layers * (H * qkv + mg_arch_q_dim(&arch) * H + 3.0 * H * arch.ffn);
    double have = (double)mg_model_param_count(dir);
    if (need > 2.0 * have + (double)(1 << 24))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: describes a model of at least %.0f parameters, but "
                            "the checkpoint holds %.0f",
                            what, need, have);
    if ((rc = mg_nn_model_new_as(&arch, dt, &m, err)) != MG_OK) return rc;
    if ((rc = mg_nn_model_fill(m, dir, err)) != MG_OK) {
        if (!arch.tie_embeddings && !mg_model_find(dir, "lm_head.weight"))
            mg_error_prefix(err, "(tie_word_embeddings is false) ");
        mg_nn_model_free(m);
        return rc;
    }
    mg_log_debug("%s: %s, %d layers, hidden %d, %zu parameters", path, arch.name, arch.n_layers,
                 arch.hidden, mg_nn_model_param_count(m));
    *out = m;
    return MG_OK;
}

mg_status mg_nn_model_from_dir(const mg_model *dir, mg_nn_model **out, mg_error *err) {
    return mg_nn_model_from_dir_as(dir, MG_NN_WEIGHTS_F32, out, err);
}

mg_status mg_nn_model_load(const char *path, mg_nn_model **out, mg_error *err) {
    return mg_nn_model_load_as(path, MG_NN_WEIGHTS_F32, out, err);
}

mg_status mg_nn_model_load_as(const char *path, mg_nn_weights weights, mg_nn_model **out,
                              mg_error *err) {
    *out = NULL;
    mg_model *dir = NULL;
    mg_status rc = mg_model_open(path, &dir, err);
    if (rc != MG_OK) return rc;
    rc = mg_nn_model_from_dir_as(dir, weights, out, err);
    mg_model_close(dir);
    return rc;
}
