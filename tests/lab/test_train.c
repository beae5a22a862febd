/* test_train.c - the trainer: loss goes down on a learnable toy language,
 * runs are bit-identical for a seed whatever the thread count, gradient
 * accumulation matches one big batch, the schedule has its shape, and
 * checkpoints load back through the runtime with the same weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/file.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "lab/train.h"
#include "nn/arch.h"
#include "nn/load.h"
#include "nn/score.h"
#include "test.h"

static mg_nn_model *toy_model(uint64_t seed) {
    json_t *c = json_pack("{s:[s], s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:b, s:i, s:i}",
                          "architectures", "LlamaForCausalLM", "vocab_size", 24, "hidden_size", 32,
                          "intermediate_size", 64, "num_hidden_layers", 2, "num_attention_heads", 4,
                          "num_key_value_heads", 2, "max_position_embeddings", 64, "rms_norm_eps",
                          1e-5, "tie_word_embeddings", 1, "bos_token_id", 0, "eos_token_id", 1);
    mg_arch a;
    mg_error err;
    mg_nn_model *m = NULL;
    CHECK_OK(mg_arch_from_json(c, "toy", &a, &err), &err);
    json_decref(c);
    CHECK_OK(mg_nn_model_new(&a, &m, &err), &err);
    if (m) mg_train_init_weights(m, seed, 0.05);
    return m;
}

// Sequences "0 s s+d s+2d ... 1" (mod 22, offset 2): predictable after two tokens.
// The prompt is the first three tokens (loss from index 3 on) in half of them.
static void toy_data(mg_train_set *s, int n, uint64_t seed) {
    uint64_t k = mg_rng_key(seed, "toy");
    for (int i = 0; i < n; i++) {
        int32_t ids[20];
        int len = 8 + (int)(mg_rng_u32(k, 3 * i) % 12), st = (int)(mg_rng_u32(k, 3 * i + 1) % 22),
            d = 1 + (int)(mg_rng_u32(k, 3 * i + 2) % 3);
        ids[0] = 0;
        for (int t = 1; t < len - 1; t++)
            ids[t] = 2 + (st + (t - 1) * d) % 22;
        ids[len - 1] = 1;
        CHECK(mg_train_set_add(s, ids, len, i % 2 ? 3 : 1, 0));
    }
}

static mg_train_opts toy_opts(void) {
    mg_train_opts o = mg_train_opts_default();
    o.steps = 60;
    o.batch_seqs = 16;
    o.accum = 2;
    o.max_seq = 32;
    o.lr = 1e-2;
    o.min_lr = 1e-3;
    o.warmup = 5;
    o.weight_decay = 0.01;
    o.label = "toy";
    return o;
}

static void test_loss_goes_down(void) {
    mg_train_set s = {0};
    toy_data(&s, 200, 1);
    mg_nn_model *m = toy_model(2);
    mg_error err;
    double before, after;
    CHECK_OK(mg_train_eval(m, &s, 32, &before, &err), &err);
    mg_train_opts o = toy_opts();
    mg_train_stats st;
    CHECK_OK(mg_train(m, &s, &o, &st, &err), &err);
    CHECK_OK(mg_train_eval(m, &s, 32, &after, &err), &err);
    fprintf(stderr, "  toy: loss %.3f -> %.3f (first step %.3f, last steps %.3f), %.0f tokens/s\n",
            before, after, st.first_loss, st.last_loss, st.tokens / st.seconds);
    CHECK(fabs(before - log(24.0)) < 0.5); // starts near uniform
    CHECK(after < 0.4 * before);           // and learns the pattern
    CHECK(st.last_loss < 0.5 * st.first_loss);
    CHECK_EQ_INT(st.steps, 60);
    CHECK(st.tokens > 60 * 16 * 8);
    mg_nn_model_free(m);
    mg_train_set_free(&s);
}

static void test_deterministic(void) {
    mg_train_set s = {0};
    toy_data(&s, 50, 3);
    mg_train_opts o = toy_opts();
    o.steps = 8;
    mg_nn_model *m[3];
    mg_error err;
    mg_train_stats st;
    int saved = mg_get_threads();
    for (int r = 0; r < 3; r++) {
        mg_set_threads(r == 1 ? 1 : 2);
        m[r] = toy_model(4);
        CHECK_OK(mg_train(m[r], &s, &o, &st, &err), &err);
    }
    mg_set_threads(saved);
    CHECK(memcmp(m[0]->block, m[2]->block, m[0]->block_bytes) == 0);
    CHECK(memcmp(m[0]->block, m[1]->block, m[0]->block_bytes) == 0);
    // Another data seed gives another model.
    mg_nn_model *x = toy_model(4);
    o.seed = 99;
    CHECK_OK(mg_train(x, &s, &o, &st, &err), &err);
    CHECK(memcmp(m[0]->block, x->block, m[0]->block_bytes) != 0);
    // Accumulation over 4 micro-batches equals one batch up to rounding.
    mg_nn_model *y = toy_model(4), *z = toy_model(4);
    o.seed = 1;
    o.accum = 1;
    CHECK_OK(mg_train(y, &s, &o, &st, &err), &err);
    o.accum = 4;
    CHECK_OK(mg_train(z, &s, &o, &st, &err), &err);
    double e = 0;
    const float *yb = y->block, *zb = z->block;
    for (size_t i = 0; i < y->block_bytes / sizeof(float); i++)
        e = fmax(e, fabs(yb[i] - zb[i]));
    CHECK_MSG(e < 1e-4, "accumulation differs by %g", e);
    for (int r = 0; r < 3; r++)
        mg_nn_model_free(m[r]);
    mg_nn_model_free(x);
    mg_nn_model_free(y);
    mg_nn_model_free(z);
    mg_train_set_free(&s);
}

static void test_schedule_and_options(void) {
    mg_train_opts o = mg_train_opts_default();
    o.lr = 1.0;
    o.min_lr = 0.1;
    o.warmup = 10;
    CHECK_NEAR(mg_train_lr(&o, 0, 100), 0.1, 1e-12);
    CHECK_NEAR(mg_train_lr(&o, 9, 100), 1.0, 1e-12);
    CHECK_NEAR(mg_train_lr(&o, 10, 100), 1.0, 1e-12);
    CHECK_NEAR(mg_train_lr(&o, 99, 100), 0.1, 1e-12);
    CHECK_NEAR(mg_train_lr(&o, 54, 100), 0.1 + 0.45 * (1 + cos(M_PI * 44 / 89)), 1e-12);
    CHECK(mg_train_lr(&o, 54, 100) > 0.5 && mg_train_lr(&o, 55, 100) < 0.55);
    mg_train_set s = {0};
    toy_data(&s, 10, 5);
    mg_nn_model *m = toy_model(1);
    mg_error err;
    mg_train_stats st;
    o = toy_opts();
    o.accum = 3; // 16 sequences do not split into 3 micro-batches
    CHECK(mg_train(m, &s, &o, &st, &err) == MG_ERR_USAGE);
    CHECK(strstr(err.msg, "micro-batches") != NULL);
    o = toy_opts();
    o.max_seq = 10; // examples up to 19 tokens
    CHECK(mg_train(m, &s, &o, &st, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "max_seq") != NULL);
    mg_train_set empty = {0};
    o = toy_opts();
    CHECK(mg_train(m, &empty, &o, &st, &err) == MG_ERR_INVALID);
    // Examples without a target are not added; long ones are cut.
    int32_t ids[4] = {0, 2, 3, 1};
    CHECK(!mg_train_set_add(&s, ids, 4, 4, 0));
    CHECK(!mg_train_set_add(&s, ids, 1, 1, 0));
    CHECK(mg_train_set_add(&s, ids, 4, 1, 3) && s.v[s.n - 1].n == 3);
    mg_nn_model_free(m);
    mg_train_set_free(&s);
}

static void test_checkpoint_roundtrip(void) {
    char dir[] = "/tmp/mg_test_train_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *out = mg_path_join(dir, "model");
    mg_nn_model *m = toy_model(6), *back = NULL;
    mg_error err;
    CHECK_OK(mg_train_save(m, out, NULL, MG_DTYPE_F32, false, &err), &err);
    CHECK(mg_train_save(m, out, NULL, MG_DTYPE_F32, false, &err) == MG_ERR_EXISTS);
    CHECK_OK(mg_nn_model_load(out, &back, &err), &err);
    if (back) {
        CHECK_EQ_INT(back->arch.tie_embeddings, 1);
        CHECK_EQ_INT(back->arch.eos_ids[0], 1);
        CHECK_EQ_INT(back->n_tensors, m->n_tensors);
        CHECK(memcmp(back->block, m->block, m->block_bytes) == 0);
    }
    // bf16: every weight rounded once, and the runtime scores it like the original.
    CHECK_OK(mg_train_save(m, out, NULL, MG_DTYPE_BF16, true, &err), &err);
    mg_nn_model_free(back);
    back = NULL;
    CHECK_OK(mg_nn_model_load(out, &back, &err), &err);
    if (back) {
        double e = 0;
        const float *bb = back->block, *mb = m->block;
        for (size_t i = 0; i < m->block_bytes / sizeof(float); i++)
            e = fmax(e, fabs(bb[i] - mb[i]) / (fabs(mb[i]) + 1e-30));
        CHECK(e <= 1.0 / 256);
        const int32_t ids[6] = {0, 2, 4, 6, 8, 1};
        mg_score_item it = {.ids = ids, .n = 6, .response_start = 1};
        mg_score a, b;
        CHECK_OK(mg_nn_score(m, &it, 1, &a, &err), &err);
        CHECK_OK(mg_nn_score(back, &it, 1, &b, &err), &err);
        CHECK_NEAR(a.mean_nll, b.mean_nll, 0.05);
    }
    CHECK(mg_train_save(m, out, NULL, MG_DTYPE_I32, true, &err) == MG_ERR_USAGE);
    mg_nn_model_free(back);
    mg_nn_model_free(m);
    CHECK_OK(mg_remove_tree(dir, &err), &err);
    free(out);
}

int main(void) {
    mg_set_threads(2);
    mg_log_set_level(MG_LOG_WARN);
    RUN(test_loss_goes_down);
    RUN(test_deterministic);
    RUN(test_schedule_and_options);
    RUN(test_checkpoint_roundtrip);
    return TEST_END();
}
