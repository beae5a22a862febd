/* train_ckpt.c - trained models as ordinary Hugging Face folders (train.h).
 *
 * config.json carries the LlamaConfig fields transformers reads (head_dim
 * explicit, rope_scaling null, no biases), generation_config.json the BOS/EOS
 * ids, model.safetensors every tensor under its HF name (a tied LM head is
 * stored once, as model.embed_tokens.weight, which is what transformers saves
 * with tie_word_embeddings), and the tokenizer files are copied byte for byte.
 * The folder is built in a temporary sibling and renamed when complete, so a
 * folder that exists is always whole (lab build relies on that to resume). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "io/safetensors.h"
#include "lab/train.h"

json_t *mg_train_config_json(const mg_arch *a, mg_dtype dtype) {
    json_t *c = json_object();
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("LlamaForCausalLM"));
    json_object_set_new(c, "architectures", arch);
    json_object_set_new(c, "model_type", json_string("llama"));
    json_object_set_new(c, "vocab_size", json_integer(a->vocab));
    json_object_set_new(c, "hidden_size", json_integer(a->hidden));
    json_object_set_new(c, "intermediate_size", json_integer(a->ffn));
    json_object_set_new(c, "num_hidden_layers", json_integer(a->n_layers));
    json_object_set_new(c, "num_attention_heads", json_integer(a->n_heads));
    json_object_set_new(c, "num_key_value_heads", json_integer(a->n_kv_heads));
    json_object_set_new(c, "head_dim", json_integer(a->head_dim));
    json_object_set_new(c, "hidden_act", json_string("silu"));
    json_object_set_new(c, "max_position_embeddings", json_integer((json_int_t)a->max_pos));
    json_object_set_new(c, "rms_norm_eps", json_real(a->norm_eps));
    json_object_set_new(c, "rope_theta", json_real(a->rope_theta));
    json_object_set_new(c, "rope_scaling", json_null());
    json_object_set_new(c, "attention_bias", json_false());
    json_object_set_new(c, "attention_dropout", json_real(0.0));
    json_object_set_new(c, "mlp_bias", json_false());
    json_object_set_new(c, "initializer_range", json_real(0.02));
    json_object_set_new(c, "tie_word_embeddings", json_boolean(a->tie_embeddings));
    if (a->bos_id >= 0) json_object_set_new(c, "bos_token_id", json_integer(a->bos_id));
    if (a->n_eos == 1) {
        json_object_set_new(c, "eos_token_id", json_integer(a->eos_ids[0]));
    } else if (a->n_eos > 1) {
        json_t *e = json_array();
        for (int i = 0; i < a->n_eos; i++)
            json_array_append_new(e, json_integer(a->eos_ids[i]));
        json_object_set_new(c, "eos_token_id", e);
    }
    json_object_set_new(c, "torch_dtype", json_string(mg_dtype_torch_name(dtype)));
    json_object_set_new(c, "use_cache", json_true());
    return c;
}

static json_t *generation_config(const mg_arch *a) {
    json_t *g = json_object();
    if (a->bos_id >= 0) json_object_set_new(g, "bos_token_id", json_integer(a->bos_id));
    json_t *e = json_array();
    for (int i = 0; i < a->n_eos; i++)
        json_array_append_new(e, json_integer(a->eos_ids[i]));
    json_object_set_new(g, "eos_token_id", e);
    json_object_set_new(g, "do_sample", json_false());
    return g;
}

static mg_status write_json(const char *dir, const char *name, json_t *v, mg_error *err) {
    char *p = mg_path_join(dir, name);
    mg_status st = mg_json_write_file(p, v, true, err);
    free(p);
    json_decref(v);
    return st;
}

static mg_status copy_file(const char *src_dir, const char *dst_dir, const char *name,
                           mg_error *err) {
    char *src = mg_path_join(src_dir, name), *dst = mg_path_join(dst_dir, name), *buf = NULL;
    size_t len = 0;
    mg_status st = mg_file_read_all(src, 0, &buf, &len, err);
    if (!st) st = mg_write_file_atomic(dst, buf, len, true, err);
    free(buf);
    free(src);
    free(dst);
    return st;
}

static mg_status write_weights(const mg_nn_model *m, const char *dir, mg_dtype dtype,
                               mg_error *err) {
    mg_tensor_spec *specs = mg_calloc(m->n_tensors, sizeof *specs);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const mg_nn_tensor *t = &m->tensors[i];
        specs[i] = (mg_tensor_spec){
            .name = t->name, .dtype = dtype, .ndim = t->ndim, .shape = {t->shape[0], t->shape[1]}};
    }
    mg_st_writer *w = NULL;
    mg_status st = mg_st_writer_open(dir, specs, m->n_tensors, 0, &w, err);
    for (size_t i = 0; i < m->n_tensors && !st; i++)
        st = mg_st_writer_write_f32(w, i, m->tensors[i].data, err);
    if (!st)
        st = mg_st_writer_finish(w, err);
    else
        mg_st_writer_free(w);
    free(specs);
    return st;
}

mg_status mg_train_save(const mg_nn_model *m, const char *dir, const char *tokenizer_dir,
                        mg_dtype dtype, bool force, mg_error *err) {
    if (m->matrix_dtype != MG_DTYPE_F32)
        return mg_error_set(err, MG_ERR_UNSUPPORTED, "%s: saving needs a model with f32 weights",
                            dir);
    if (dtype != MG_DTYPE_F32 && dtype != MG_DTYPE_BF16 && dtype != MG_DTYPE_F16)
        return mg_error_set(err, MG_ERR_USAGE, "%s: checkpoints are f32, bf16 or f16, not %s", dir,
                            mg_dtype_name(dtype));
    mg_atomic_out *o = NULL;
    mg_status st = mg_atomic_begin(dir, true, force, &o, err);
    if (st) return st;
    const char *tmp = mg_atomic_tmp_path(o);
    st = write_json(tmp, "config.json", mg_train_config_json(&m->arch, dtype), err);
    if (!st) st = write_json(tmp, "generation_config.json", generation_config(&m->arch), err);
    if (!st) st = write_weights(m, tmp, dtype, err);
    if (!st && tokenizer_dir) st = copy_file(tokenizer_dir, tmp, "tokenizer.json", err);
    if (!st && tokenizer_dir) st = copy_file(tokenizer_dir, tmp, "tokenizer_config.json", err);
    if (st) {
        mg_atomic_abort(o);
        return st;
    }
    return mg_atomic_commit(o, err);
}
