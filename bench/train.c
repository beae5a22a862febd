/* bench/train.c - trainer throughput: tokens/s of forward + backward + AdamW
 * on the lab's model sizes (lab/recipe.c), random tokens, full-sequence loss.
 *   bench_train [tiny|small] [steps] [seq_len] [batch] [threads]
 * Prints one line with tokens/s. On a machine shared with other busy
 * processes run it with OMP_WAIT_POLICY=passive (spinning OpenMP threads that
 * get descheduled stall every barrier). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "lab/train.h"
#include "nn/arch.h"
#include "nn/grad.h"

int main(int argc, char **argv) {
    const char *size = argc > 1 ? argv[1] : "small";
    int steps = argc > 2 ? atoi(argv[2]) : 5, seq = argc > 3 ? atoi(argv[3]) : 256;
    int batch = argc > 4 ? atoi(argv[4]) : 16, threads = argc > 5 ? atoi(argv[5]) : 0;
    mg_set_threads(threads);
    mg_log_set_level(MG_LOG_WARN);
    bool tiny = !strcmp(size, "tiny");
    json_t *c =
        json_pack("{s:[s], s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:b}", "architectures",
                  "LlamaForCausalLM", "vocab_size", tiny ? 1024 : 3072, "hidden_size",
                  tiny ? 64 : 192, "intermediate_size", tiny ? 192 : 512, "num_hidden_layers",
                  tiny ? 2 : 4, "num_attention_heads", tiny ? 4 : 6, "num_key_value_heads", 2,
                  "max_position_embeddings", 1024, "rms_norm_eps", 1e-5, "tie_word_embeddings", 1);
    mg_arch a;
    mg_error err;
    mg_nn_model *m = NULL;
    if (mg_arch_from_json(c, "bench", &a, &err) || mg_nn_model_new(&a, &m, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    json_decref(c);
    mg_train_init_weights(m, 1, 0.02);
    mg_train_set set = {0};
    uint64_t k = mg_rng_key(1, "bench");
    int32_t *ids = malloc(sizeof(int32_t) * seq);
    for (int s = 0; s < batch * steps; s++) {
        for (int t = 0; t < seq; t++)
            ids[t] = (int32_t)(mg_rng_u32(k, (uint64_t)s * seq + t) % a.vocab);
        mg_train_set_add(&set, ids, seq, 1, 0);
    }
    free(ids);
    mg_train_opts o = mg_train_opts_default();
    o.steps = steps;
    o.batch_seqs = batch;
    o.max_seq = seq;
    o.warmup = 1;
    o.label = "bench";
    mg_train_stats st;
    if (mg_train(m, &set, &o, &st, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    printf("train %s: %zu params, %d threads, %d steps x %d seqs x %d tokens: %.0f tokens/s "
           "(%.2f s)\n",
           size, mg_nn_model_param_count(m), mg_get_threads(), steps, batch, seq,
           (double)st.tokens / st.seconds, st.seconds);
    mg_train_set_free(&set);
    mg_nn_model_free(m);
    return 0;
}
