/* test_sample.c - sampling: greedy, temperature, top-k, top-p, seeds. */
#include <math.h>
#include <stdlib.h>

#include "nn/sample.h"
#include "test.h"

static void test_greedy_and_limits(void) {
    float l[6] = {0.1f, 2.0f, 1.9f, -1.0f, 2.0f, 0.0f};
    mg_sample_params p = mg_sample_params_greedy();
    mg_sampler *s = mg_sampler_new(&p, 6, 0);
    CHECK_EQ_INT(mg_sampler_next(s, l, 0), 1); // tie: lower id
    mg_sampler_free(s);
    // top_k 1 is greedy whatever the temperature.
    p = (mg_sample_params){.temperature = 5.0, .top_k = 1, .top_p = 1.0, .seed = 3};
    s = mg_sampler_new(&p, 6, 0);
    for (int i = 0; i < 50; i++)
        CHECK_EQ_INT(mg_sampler_next(s, l, (uint64_t)i), 1);
    mg_sampler_free(s);
    // top_k 3 only ever returns ids 1, 4, 2.
    p.top_k = 3;
    s = mg_sampler_new(&p, 6, 0);
    int seen[6] = {0};
    for (int i = 0; i < 400; i++)
        seen[mg_sampler_next(s, l, (uint64_t)i)]++;
    CHECK(seen[0] == 0 && seen[3] == 0 && seen[5] == 0);
    CHECK(seen[1] > 0 && seen[2] > 0 && seen[4] > 0);
    mg_sampler_free(s);
    // top_p: probabilities 0.5, 0.3, 0.2 -> top_p 0.6 keeps the first two.
    float q[3] = {logf(0.3f), logf(0.5f), logf(0.2f)};
    p = (mg_sample_params){.temperature = 1.0, .top_k = 0, .top_p = 0.6, .seed = 1};
    s = mg_sampler_new(&p, 3, 0);
    int cnt[3] = {0};
    for (int i = 0; i < 4000; i++)
        cnt[mg_sampler_next(s, q, (uint64_t)i)]++;
    CHECK_EQ_INT(cnt[2], 0);
    // Renormalized: 0.5/0.8 = 0.625 for id 1.
    CHECK_NEAR(cnt[1] / 4000.0, 0.625, 0.03);
    mg_sampler_free(s);
    // Plain temperature 1 follows the softmax.
    p.top_p = 1.0;
    s = mg_sampler_new(&p, 3, 0);
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < 6000; i++)
        cnt[mg_sampler_next(s, q, (uint64_t)i)]++;
    CHECK_NEAR(cnt[0] / 6000.0, 0.3, 0.03);
    CHECK_NEAR(cnt[2] / 6000.0, 0.2, 0.03);
    mg_sampler_free(s);
}

static void test_seed_streams(void) {
    float l[50];
    for (int i = 0; i < 50; i++)
        l[i] = (float)sin(i * 1.3);
    mg_sample_params p = {.temperature = 1.0, .top_k = 0, .top_p = 1.0, .seed = 42};
    mg_sampler *a = mg_sampler_new(&p, 50, 0), *b = mg_sampler_new(&p, 50, 0),
               *c = mg_sampler_new(&p, 50, 1);
    int same = 1, diff = 0;
    for (int i = 0; i < 30; i++) {
        int x = mg_sampler_next(a, l, (uint64_t)i);
        same &= x == mg_sampler_next(b, l, (uint64_t)i);
        diff |= x != mg_sampler_next(c, l, (uint64_t)i);
    }
    CHECK(same);
    CHECK(diff);
    mg_sampler_free(a), mg_sampler_free(b), mg_sampler_free(c);
}

static void test_check(void) {
    mg_error err;
    mg_sample_params p = mg_sample_params_greedy();
    CHECK_OK(mg_sample_params_check(&p, &err), &err);
    p.temperature = NAN;
    CHECK(mg_sample_params_check(&p, &err) == MG_ERR_USAGE);
    p.temperature = 1;
    p.top_p = 1.5;
    CHECK(mg_sample_params_check(&p, &err) == MG_ERR_USAGE);
    CHECK(strstr(err.msg, "top-p") != NULL);
}

int main(void) {
    RUN(test_greedy_and_limits);
    RUN(test_seed_streams);
    RUN(test_check);
    return TEST_END();
}
