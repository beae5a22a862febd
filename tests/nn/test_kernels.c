/* test_kernels.c - optimized kernels against their plain reference loops. */
#include <math.h>
#include <stdlib.h>

#include "base/cpu.h"
#include "base/half.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "nn/kernels.h"
#include "test.h"

static float *rand_buf(size_t n, uint64_t seed) {
    float *b = malloc((n ? n : 1) * sizeof(float));
    uint64_t key = mg_rng_key(seed, "kernels");
    for (size_t i = 0; i < n; i++)
        b[i] = (float)mg_rng_normal(key, i) * 0.5f;
    return b;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

static void test_matmul(void) {
    const int shapes[][3] = {{1, 300, 70}, {2, 17, 5}, {3, 64, 64}, {4, 513, 33}, {37, 300, 130}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int M = shapes[t][0], N = shapes[t][1], K = shapes[t][2];
        size_t ldx = (size_t)K + 3, ldy = (size_t)N + 5;
        float *x = rand_buf((size_t)M * ldx, 1), *w = rand_buf((size_t)N * K, 2);
        float *b = rand_buf((size_t)N, 3);
        float *y1 = rand_buf((size_t)M * ldy, 4), *y2 = rand_buf((size_t)M * ldy, 4);
        for (int acc = 0; acc < 2; acc++) {
            mg_nn_matmul(y1, ldy, x, ldx, w, acc ? b : NULL, M, N, K, acc);
            mg_nn_matmul_ref(y2, ldy, x, ldx, w, acc ? b : NULL, M, N, K, acc);
            CHECK_MSG(max_abs_diff(y1, y2, (size_t)M * ldy) < 1e-4, "M=%d N=%d K=%d acc=%d", M, N,
                      K, acc);
        }
        free(x), free(w), free(b), free(y1), free(y2);
    }
}

static void test_matmul_bf16(void) {
    const int shapes[][3] = {{1, 300, 70}, {2, 65, 33}, {3, 64, 64}, {5, 513, 100}, {37, 300, 130}};
    const mg_cpu_level levels[] = {MG_CPU_SCALAR, MG_CPU_AVX2, MG_CPU_AVX512};
    mg_cpu_level saved = mg_cpu_level_get();
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int M = shapes[t][0], N = shapes[t][1], K = shapes[t][2];
        size_t ldx = (size_t)K + 1, ldy = (size_t)N + 2;
        float *x = rand_buf((size_t)M * ldx, 11), *wf = rand_buf((size_t)N * K, 12);
        float *b = rand_buf((size_t)N, 13);
        uint16_t *wh = malloc((size_t)N * K * 2);
        mg_f32_to_bf16_array(wf, wh, (size_t)N * K);
        mg_bf16_to_f32_array(wh, wf, (size_t)N * K); // the reference holds the same values
        float *tiles = malloc(mg_nn_matmul_bf16_tile(K) * 4 * sizeof(float));
        float *y1 = rand_buf((size_t)M * ldy, 14), *y2 = rand_buf((size_t)M * ldy, 14);
        float *y3 = rand_buf((size_t)M * ldy, 14);
        mg_nn_matmul_ref(y2, ldy, x, ldx, wf, b, M, N, K, 1);
        mg_nn_matmul(y3, ldy, x, ldx, wf, b, M, N, K, 1);
        for (size_t l = 0; l < 3; l++) {
            mg_cpu_level_set(levels[l]);
            float *y = rand_buf((size_t)M * ldy, 14);
            mg_nn_matmul_bf16(y, ldy, x, ldx, wh, b, M, N, K, 1, tiles, 4);
            CHECK_MSG(max_abs_diff(y, y2, (size_t)M * ldy) < 1e-4, "M=%d N=%d K=%d level %zu", M, N,
                      K, l);
            // Prefill widens tiles and runs the f32 path: identical bits.
            if (M >= 4) CHECK(memcmp(y, y3, (size_t)M * ldy * sizeof(float)) == 0);
            free(y);
        }
        mg_cpu_level_set(saved);
        free(x), free(wf), free(b), free(wh), free(tiles), free(y1), free(y2), free(y3);
    }
}

static void test_attention(void) {
    // GQA 6 heads / 2 KV heads, with and without a window, prefill and decode.
    const int H = 6, KVH = 2, hd = 8, total = 40;
    const int q_stride = H * hd + 5, kv_stride = KVH * hd;
    float *q = rand_buf((size_t)total * q_stride, 5);
    float *k = rand_buf((size_t)total * kv_stride, 6), *v = rand_buf((size_t)total * kv_stride, 7);
    float *o1 = calloc((size_t)total * H * hd, sizeof(float));
    float *o2 = calloc((size_t)total * H * hd, sizeof(float));
    int slots = 4;
    float *scratch = malloc(mg_nn_attention_scratch(total, total) * slots * sizeof(float));
    const int cases[][3] = {{0, 40, 0}, {0, 40, 5},  {39, 1, 0},
                            {39, 1, 7}, {25, 15, 9}, {10, 1, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int pos0 = cases[c][0], n = cases[c][1], win = cases[c][2];
        mg_nn_attn a = {.q = q + (size_t)pos0 * q_stride,
                        .q_stride = (size_t)q_stride,
                        .k = k,
                        .v = v,
                        .kv_stride = (size_t)kv_stride,
                        .out = o1,
                        .out_stride = (size_t)H * hd,
                        .n = n,
                        .pos0 = pos0,
                        .n_heads = H,
                        .n_kv_heads = KVH,
                        .head_dim = hd,
                        .window = win};
        mg_nn_attention(&a, scratch, slots);
        a.out = o2;
        mg_nn_attention_ref(&a);
        CHECK_MSG(max_abs_diff(o1, o2, (size_t)n * H * hd) < 1e-5, "case %zu", c);
    }
    // Window 1: every query sees only itself, so the output is its own V row.
    mg_nn_attn a = {.q = q,
                    .q_stride = (size_t)q_stride,
                    .k = k,
                    .v = v,
                    .kv_stride = (size_t)kv_stride,
                    .out = o1,
                    .out_stride = (size_t)H * hd,
                    .n = total,
                    .pos0 = 0,
                    .n_heads = H,
                    .n_kv_heads = KVH,
                    .head_dim = hd,
                    .window = 1};
    mg_nn_attention(&a, scratch, slots);
    CHECK_NEAR(o1[(size_t)7 * H * hd + 3 * hd + 2], v[(size_t)7 * kv_stride + 1 * hd + 2], 1e-6);
    free(q), free(k), free(v), free(o1), free(o2), free(scratch);
}

static void test_rope_rmsnorm_swiglu(void) {
    const int hd = 16, half = 8, npos = 50;
    double inv[8];
    for (int i = 0; i < half; i++)
        inv[i] = pow(10000.0, -2.0 * i / hd);
    float *c = malloc(sizeof(float) * npos * half), *s = malloc(sizeof(float) * npos * half);
    mg_nn_rope_table(inv, half, npos, c, s);
    float *x = rand_buf(3 * 2 * hd, 8), *y = malloc(sizeof(float) * 3 * 2 * hd);
    memcpy(y, x, sizeof(float) * 3 * 2 * hd);
    mg_nn_rope(y, 3, 2 * hd, 2, hd, 47, c, s);
    // Rotate-half: (x_i, x_{i+half}) rotated by pos * inv_freq[i]; norms kept.
    int r = 2, h = 1, i = 3;
    double ang = (47 + r) * inv[i];
    const float *xi = x + r * 2 * hd + h * hd;
    CHECK_NEAR(y[r * 2 * hd + h * hd + i], xi[i] * cos(ang) - xi[i + half] * sin(ang), 1e-5);
    CHECK_NEAR(y[r * 2 * hd + h * hd + i + half], xi[i + half] * cos(ang) + xi[i] * sin(ang), 1e-5);
    // Position 0 is the identity.
    memcpy(y, x, sizeof(float) * 2 * hd);
    mg_nn_rope(y, 1, 2 * hd, 2, hd, 0, c, s);
    CHECK(memcmp(x, y, sizeof(float) * 2 * hd) == 0);

    float w[4] = {1, 2, 0.5f, -1}, in[4] = {1, -2, 3, 4}, out[4];
    mg_nn_rmsnorm(out, in, w, 1, 4, 4, 1e-5);
    double rms = sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-5);
    CHECK_NEAR(out[1], 2 * -2 / rms, 1e-6);
    CHECK_NEAR(out[3], -4 / rms, 1e-6);

    float g[2] = {1.5f, -3}, u[2] = {2, 0.5f}, o[2];
    mg_nn_swiglu(o, g, u, 1, 2, 2);
    CHECK_NEAR(o[0], 1.5 / (1 + exp(-1.5)) * 2, 1e-6);
    CHECK_NEAR(o[1], -3 / (1 + exp(3.0)) * 0.5, 1e-6);

    float l[4] = {1, 3, 3, -2};
    CHECK_EQ_INT(mg_nn_argmax(l, 4), 1);
    CHECK_NEAR(mg_nn_logsumexp(l, 4), log(exp(1) + 2 * exp(3) + exp(-2)), 1e-12);
    free(c), free(s), free(x), free(y);
}

int main(void) {
    RUN(test_matmul);
    RUN(test_matmul_bf16);
    RUN(test_attention);
    RUN(test_rope_rmsnorm_swiglu);
    return TEST_END();
}
