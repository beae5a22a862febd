/* arch.c - see arch.h. */
#include "nn/arch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"

static const struct {
    const char *name;
    mg_arch_family family;
} ARCHS[] = {
    {"LlamaForCausalLM", MG_ARCH_LLAMA},
    {"MistralForCausalLM", MG_ARCH_MISTRAL},
    {"Qwen2ForCausalLM", MG_ARCH_QWEN2},
    {"Qwen3ForCausalLM", MG_ARCH_QWEN3},
};

const char *mg_arch_supported(void) {
    return "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM";
}

// Reads a positive integer field that must fit an int (sizes of the model).
static mg_status get_dim(const json_t *cfg, const char *key, const char *what, bool optional,
                         int64_t dflt, int64_t max, int *out, mg_error *err) {
    int64_t v = dflt;
    mg_status rc = optional ? mg_json_get_int_opt(cfg, key, what, &v, err)
                            : mg_json_get_int(cfg, key, what, &v, err);
    if (rc != MG_OK) return rc;
    if (v <= 0 || v > max)
        return mg_error_set(err, MG_ERR_INVALID, "%s: field '%s': expected 1..%lld, found %lld",
                            what, key, (long long)max, (long long)v);
    *out = (int)v;
    return MG_OK;
}

static mg_status parse_rope_scaling(const json_t *rs, const char *what, mg_arch *a, mg_error *err) {
    if (!rs || json_is_null(rs)) return MG_OK;
    if (!json_is_object(rs))
        return mg_error_set(err, MG_ERR_INVALID, "%s: field 'rope_scaling': expected an object",
                            what);
    // Older configs spell it "type", newer ones "rope_type" (HF accepts both).
    const char *type = NULL;
    mg_status rc = mg_json_get_str_opt(rs, "rope_type", what, &type, err);
    if (rc == MG_OK && !type) rc = mg_json_get_str_opt(rs, "type", what, &type, err);
    if (rc != MG_OK) return rc;
    if (!type || !strcmp(type, "default")) return MG_OK;
    char field[64];
    snprintf(field, sizeof field, "%s: rope_scaling", what);
    if (!strcmp(type, "linear") || !strcmp(type, "llama3")) {
        a->rope_scaling = !strcmp(type, "linear") ? MG_ROPE_LINEAR : MG_ROPE_LLAMA3;
        if ((rc = mg_json_get_num(rs, "factor", field, &a->rope_factor, err)) != MG_OK) return rc;
        if (!(a->rope_factor > 0))
            return mg_error_set(err, MG_ERR_INVALID, "%s: field 'factor': expected > 0, found %g",
                                field, a->rope_factor);
        if (a->rope_scaling == MG_ROPE_LINEAR) return MG_OK;
        if ((rc = mg_json_get_num(rs, "low_freq_factor", field, &a->rope_low_freq_factor, err)) ||
            (rc = mg_json_get_num(rs, "high_freq_factor", field, &a->rope_high_freq_factor, err)) ||
            (rc = mg_json_get_num(rs, "original_max_position_embeddings", field,
                                  &a->rope_orig_max_pos, err)))
            return rc;
        if (!(a->rope_low_freq_factor > 0) ||
            !(a->rope_high_freq_factor > a->rope_low_freq_factor) || !(a->rope_orig_max_pos > 0))
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: expected 0 < low_freq_factor < high_freq_factor and "
                                "original_max_position_embeddings > 0, found %g, %g, %g",
                                field, a->rope_low_freq_factor, a->rope_high_freq_factor,
                                a->rope_orig_max_pos);
        return MG_OK;
    }
    return mg_error_set(err, MG_ERR_UNSUPPORTED,
                        "%s: rope_scaling type '%s' is not supported (supported: linear, llama3)",
                        what, type);
}

static mg_status parse_eos(const json_t *cfg, const char *what, mg_arch *a, mg_error *err) {
    const json_t *v = json_object_get(cfg, "eos_token_id");
    a->n_eos = 0;
    if (!v || json_is_null(v)) return MG_OK;
    if (json_is_integer(v)) {
        a->eos_ids[a->n_eos++] = (int32_t)json_integer_value(v);
        return MG_OK;
    }
    if (!json_is_array(v))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: field 'eos_token_id': expected an integer or a list", what);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_integer(e))
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: field 'eos_token_id[%zu]': expected an integer", what, i);
        if (a->n_eos < MG_ARCH_MAX_EOS) a->eos_ids[a->n_eos++] = (int32_t)json_integer_value(e);
    }
    return MG_OK;
}

mg_status mg_arch_from_json(const json_t *cfg, const char *what, mg_arch *a, mg_error *err) {
    memset(a, 0, sizeof *a);
    a->bos_id = -1;
    if (!json_is_object(cfg))
        return mg_error_set(err, MG_ERR_INVALID, "%s: expected a JSON object", what);
    const json_t *archs = json_object_get(cfg, "architectures");
    const char *name = NULL;
    if (json_is_array(archs) && json_array_size(archs) > 0)
        name = json_string_value(json_array_get(archs, 0));
    if (!name)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: field 'architectures': expected a list naming one of %s", what,
                            mg_arch_supported());
    size_t k = 0, n_archs = sizeof ARCHS / sizeof ARCHS[0];
    while (k < n_archs && strcmp(ARCHS[k].name, name))
        k++;
    if (k == n_archs)
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: architecture '%s' is not supported (supported: %s)", what, name,
                            mg_arch_supported());
    a->family = ARCHS[k].family;
    snprintf(a->name, sizeof a->name, "%s", name);

    mg_status rc;
    const int64_t big = (int64_t)1 << 30;
    if ((rc = get_dim(cfg, "num_hidden_layers", what, false, 0, 4096, &a->n_layers, err)) ||
        (rc = get_dim(cfg, "hidden_size", what, false, 0, 1 << 20, &a->hidden, err)) ||
        (rc = get_dim(cfg, "num_attention_heads", what, false, 0, 4096, &a->n_heads, err)) ||
        (rc = get_dim(cfg, "intermediate_size", what, false, 0, 1 << 22, &a->ffn, err)) ||
        (rc = get_dim(cfg, "vocab_size", what, false, 0, big, &a->vocab, err)))
        return rc;
    if ((rc = get_dim(cfg, "num_key_value_heads", what, true, a->n_heads, 4096, &a->n_kv_heads,
                      err)))
        return rc;
    if (a->n_heads % a->n_kv_heads)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: num_attention_heads (%d) is not a multiple of "
                            "num_key_value_heads (%d)",
                            what, a->n_heads, a->n_kv_heads);
    int64_t dflt_hd = a->hidden / a->n_heads;
    if (!json_object_get(cfg, "head_dim") && a->hidden % a->n_heads)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: no head_dim and hidden_size (%d) is not a multiple of "
                            "num_attention_heads (%d)",
                            what, a->hidden, a->n_heads);
    if ((rc = get_dim(cfg, "head_dim", what, true, dflt_hd, 4096, &a->head_dim, err))) return rc;
    if (a->head_dim % 2)
        return mg_error_set(err, MG_ERR_INVALID, "%s: head_dim must be even for RoPE, found %d",
                            what, a->head_dim);
    int64_t max_pos = 2048;
    if ((rc = mg_json_get_int_opt(cfg, "max_position_embeddings", what, &max_pos, err))) return rc;
    if (max_pos <= 0)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: field 'max_position_embeddings': expected > 0, found %lld", what,
                            (long long)max_pos);
    a->max_pos = max_pos;

    // Newer transformers nest rope_theta and the scaling in "rope_parameters".
    const json_t *rp = json_object_get(cfg, "rope_parameters");
    a->rope_theta = 10000.0;
    if ((rc = mg_json_get_num_opt(cfg, "rope_theta", what, &a->rope_theta, err))) return rc;
    if (json_is_object(rp) &&
        (rc = mg_json_get_num_opt(rp, "rope_theta", what, &a->rope_theta, err)))
        return rc;
    if (!(a->rope_theta > 0))
        return mg_error_set(err, MG_ERR_INVALID, "%s: field 'rope_theta': expected > 0, found %g",
                            what, a->rope_theta);
    const json_t *rs = json_object_get(cfg, "rope_scaling");
    if ((!rs || json_is_null(rs)) && json_is_object(rp)) rs = rp;
    if ((rc = parse_rope_scaling(rs, what, a, err))) return rc;

    a->norm_eps = 1e-6;
    if ((rc = mg_json_get_num(cfg, "rms_norm_eps", what, &a->norm_eps, err))) return rc;
    if (!(a->norm_eps > 0))
        return mg_error_set(err, MG_ERR_INVALID, "%s: field 'rms_norm_eps': expected > 0", what);

    const char *act = NULL;
    if ((rc = mg_json_get_str_opt(cfg, "hidden_act", what, &act, err))) return rc;
    if (act && strcmp(act, "silu") && strcmp(act, "swish"))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "%s: hidden_act '%s' is not supported (supported: silu)", what, act);

    bool b = false;
    if ((rc = mg_json_get_bool_opt(cfg, "tie_word_embeddings", what, &b, err))) return rc;
    a->tie_embeddings = b;
    b = false;
    if ((rc = mg_json_get_bool_opt(cfg, "attention_bias", what, &b, err))) return rc;
    // HF LlamaAttention: attention_bias puts biases on q, k, v and o; Qwen2
    // always has q/k/v biases (and none on o); Qwen3 follows attention_bias.
    a->qkv_bias = b || a->family == MG_ARCH_QWEN2;
    a->o_bias = b && (a->family == MG_ARCH_LLAMA || a->family == MG_ARCH_MISTRAL);
    if (a->family == MG_ARCH_QWEN3) a->o_bias = b;
    a->qk_norm = a->family == MG_ARCH_QWEN3;
    b = false;
    if ((rc = mg_json_get_bool_opt(cfg, "mlp_bias", what, &b, err))) return rc;
    if (b) return mg_error_set(err, MG_ERR_UNSUPPORTED, "%s: mlp_bias true is not supported", what);

    // Sliding window: Mistral applies it to every layer when set; Qwen2/3 only
    // with use_sliding_window, and only from layer max_window_layers on.
    int64_t window = 0;
    if ((rc = mg_json_get_int_opt(cfg, "sliding_window", what, &window, err))) return rc;
    if (window < 0)
        return mg_error_set(err, MG_ERR_INVALID, "%s: field 'sliding_window': expected >= 0", what);
    if (a->family == MG_ARCH_MISTRAL) {
        a->sliding_window = window > INT32_MAX ? 0 : (int)window;
    } else if (a->family == MG_ARCH_QWEN2 || a->family == MG_ARCH_QWEN3) {
        bool use = false;
        if ((rc = mg_json_get_bool_opt(cfg, "use_sliding_window", what, &use, err))) return rc;
        int64_t mwl = a->n_layers;
        if ((rc = mg_json_get_int_opt(cfg, "max_window_layers", what, &mwl, err))) return rc;
        if (use && window > 0 && window < INT32_MAX) {
            a->sliding_window = (int)window;
            a->max_window_layers = mwl < 0 ? 0 : (int)(mwl > a->n_layers ? a->n_layers : mwl);
        }
    }

    int64_t bos = -1;
    if ((rc = mg_json_get_int_opt(cfg, "bos_token_id", what, &bos, err))) return rc;
    a->bos_id = (int32_t)bos;
    if ((rc = parse_eos(cfg, what, a, err))) return rc;
    return MG_OK;
}

int mg_arch_layer_window(const mg_arch *a, int layer) {
    if (!a->sliding_window) return 0;
    if (a->family == MG_ARCH_MISTRAL) return a->sliding_window;
    return layer >= a->max_window_layers ? a->sliding_window : 0;
}

void mg_arch_rope_inv_freq(const mg_arch *a, double *inv_freq) {
    int half = a->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double f = pow(a->rope_theta, -2.0 * i / a->head_dim);
        if (a->rope_scaling == MG_ROPE_LINEAR) {
            f /= a->rope_factor;
        } else if (a->rope_scaling == MG_ROPE_LLAMA3) {
            // Applied to the frequencies once, at every position (HF
            // _compute_llama3_parameters), not only past the original window.
            double orig = a->rope_orig_max_pos;
            double low_wl = orig / a->rope_low_freq_factor;
            double high_wl = orig / a->rope_high_freq_factor;
            double wavelen = 2.0 * M_PI / f;
            if (wavelen > low_wl) {
                f /= a->rope_factor;
            } else if (wavelen >= high_wl) {
                double s = (orig / wavelen - a->rope_low_freq_factor) /
                           (a->rope_high_freq_factor - a->rope_low_freq_factor);
                f = (1.0 - s) * f / a->rope_factor + s * f;
            }
        }
        inv_freq[i] = f;
    }
}
