/* test_arch.c - config.json parsing: defaults, RoPE scaling, errors. */
#include <jansson.h>
#include <math.h>

#include "nn/arch.h"
#include "test.h"

static mg_status parse(const char *text, mg_arch *a, mg_error *err) {
    json_t *j = json_loads(text, 0, NULL);
    if (!j) return MG_ERR_RUNTIME;
    mg_status rc = mg_arch_from_json(j, "config.json", a, err);
    json_decref(j);
    return rc;
}

#define BASE                                                                                       \
    "\"hidden_size\": 64, \"intermediate_size\": 160, \"num_hidden_layers\": 2, "                  \
    "\"num_attention_heads\": 4, \"vocab_size\": 512, \"rms_norm_eps\": 1e-5"

static void test_llama_defaults(void) {
    mg_arch a;
    mg_error err;
    CHECK_OK(parse("{\"architectures\": [\"LlamaForCausalLM\"], " BASE "}", &a, &err), &err);
    CHECK_EQ_INT(a.family, MG_ARCH_LLAMA);
    CHECK_EQ_INT(a.head_dim, 16);  // hidden / heads
    CHECK_EQ_INT(a.n_kv_heads, 4); // = heads (MHA)
    CHECK(!a.tie_embeddings);      // HF default false
    CHECK(!a.qkv_bias && !a.qk_norm);
    CHECK_NEAR(a.rope_theta, 10000.0, 0);
    CHECK_EQ_INT(a.n_eos, 0);
    CHECK_EQ_INT(a.bos_id, -1);
}

static void test_llama3_scaling(void) {
    mg_arch a;
    mg_error err;
    CHECK_OK(parse("{\"architectures\": [\"LlamaForCausalLM\"], " BASE
                   ", \"num_key_value_heads\": 2, \"head_dim\": 16, \"rope_theta\": 500000.0,"
                   "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
                   "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                   "\"original_max_position_embeddings\": 64}, \"eos_token_id\": [2, 7]}",
                   &a, &err),
             &err);
    CHECK_EQ_INT(a.rope_scaling, MG_ROPE_LLAMA3);
    CHECK_EQ_INT(a.n_eos, 2);
    CHECK_EQ_INT(a.eos_ids[1], 7);
    // The divisors the golden README lists for head_dim 16.
    const double want[8] = {1, 2.4422596, 8, 8, 8, 8, 8, 8};
    double f[8];
    mg_arch_rope_inv_freq(&a, f);
    for (int i = 0; i < 8; i++) {
        double base = pow(500000.0, -2.0 * i / 16);
        CHECK_NEAR(base / f[i], want[i], 1e-6);
    }
    // Linear scaling divides every frequency.
    CHECK_OK(parse("{\"architectures\": [\"LlamaForCausalLM\"], " BASE
                   ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}}",
                   &a, &err),
             &err);
    mg_arch_rope_inv_freq(&a, f);
    CHECK_NEAR(f[1], pow(10000.0, -2.0 / 16) / 4, 1e-15);
}

static void test_families(void) {
    mg_arch a;
    mg_error err;
    CHECK_OK(parse("{\"architectures\": [\"Qwen2ForCausalLM\"], " BASE
                   ", \"use_sliding_window\": false, \"sliding_window\": 4096}",
                   &a, &err),
             &err);
    CHECK(a.qkv_bias && !a.o_bias);
    CHECK_EQ_INT(mg_arch_layer_window(&a, 1), 0);
    CHECK_OK(parse("{\"architectures\": [\"Qwen2ForCausalLM\"], " BASE
                   ", \"use_sliding_window\": true, \"sliding_window\": 8, "
                   "\"max_window_layers\": 1}",
                   &a, &err),
             &err);
    CHECK_EQ_INT(mg_arch_layer_window(&a, 0), 0);
    CHECK_EQ_INT(mg_arch_layer_window(&a, 1), 8);
    CHECK_OK(
        parse("{\"architectures\": [\"Qwen3ForCausalLM\"], " BASE ", \"head_dim\": 32}", &a, &err),
        &err);
    CHECK(a.qk_norm && !a.qkv_bias);
    CHECK_EQ_INT(mg_arch_q_dim(&a), 128); // from head_dim, not hidden
    CHECK_OK(parse("{\"architectures\": [\"MistralForCausalLM\"], " BASE
                   ", \"sliding_window\": 16}",
                   &a, &err),
             &err);
    CHECK_EQ_INT(mg_arch_layer_window(&a, 0), 16);
    CHECK_OK(parse("{\"architectures\": [\"MistralForCausalLM\"], " BASE
                   ", \"sliding_window\": null}",
                   &a, &err),
             &err);
    CHECK_EQ_INT(mg_arch_layer_window(&a, 0), 0);
}

static void test_errors(void) {
    mg_arch a;
    mg_error err;
    CHECK(parse("{\"architectures\": [\"GPT2LMHeadModel\"], " BASE "}", &a, &err) ==
          MG_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "GPT2LMHeadModel") && strstr(err.msg, "Qwen3ForCausalLM"));
    CHECK(parse("{" BASE "}", &a, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "architectures") != NULL);
    CHECK(parse("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64}", &a, &err) ==
          MG_ERR_INVALID);
    CHECK(strstr(err.msg, "intermediate_size") || strstr(err.msg, "num_hidden_layers"));
    CHECK(parse("{\"architectures\": [\"LlamaForCausalLM\"], " BASE ", \"num_key_value_heads\": 3}",
                &a, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "num_key_value_heads") != NULL);
    CHECK(parse("{\"architectures\": [\"LlamaForCausalLM\"], " BASE
                ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}",
                &a, &err) == MG_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "yarn") != NULL);
    CHECK(parse("{\"architectures\": [\"LlamaForCausalLM\"], " BASE ", \"hidden_act\": \"gelu\"}",
                &a, &err) == MG_ERR_UNSUPPORTED);
    CHECK(parse("{\"architectures\": [\"LlamaForCausalLM\"], " BASE ", \"vocab_size\": -1}", &a,
                &err) != MG_OK);
}

int main(void) {
    RUN(test_llama_defaults);
    RUN(test_llama3_scaling);
    RUN(test_families);
    RUN(test_errors);
    return TEST_END();
}
