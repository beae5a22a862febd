/* test_tensor_stats.c - inspect --stats numbers: exact values on known data,
 * NaN/Inf bookkeeping, every dtype, float8 decoding, unaligned data, and
 * bit-identical results for 1, 2 and 7 threads. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "base/cpu.h"
#include "base/half.h"
#include "base/rng.h"
#include "io/model_dir.h"
#include "io/tensor_stats.h"
#include "test.h"

static mg_tensor_view view(const void *data, mg_dtype dt, uint64_t numel) {
    mg_tensor_view v = {.name = "t", .dtype = dt, .ndim = 1, .numel = numel, .data = data};
    v.shape[0] = (int64_t)numel;
    v.nbytes = numel * mg_dtype_size(dt);
    return v;
}

static void stats1(const mg_tensor_view *v, mg_tensor_stats *s) {
    const mg_tensor_view *p = v;
    mg_tensor_stats_compute(&p, 1, s, NULL);
}

static void test_known_values(void) {
    float x[] = {1, 2, 3, 4, NAN, INFINITY, -INFINITY, 10};
    mg_tensor_view v = view(x, MG_DTYPE_F32, 8);
    mg_tensor_stats s;
    stats1(&v, &s);
    CHECK_EQ_INT(s.count, 8);
    CHECK_EQ_INT(s.finite, 5);
    CHECK_EQ_INT(s.nan, 1);
    CHECK_EQ_INT(s.inf, 2);
    CHECK_NEAR(s.mean, 4.0, 1e-12);
    CHECK_NEAR(s.std, sqrt(10.0), 1e-12); // deviations -3,-2,-1,0,6: sum sq 50 / 5
    CHECK_NEAR(s.min, 1, 0);
    CHECK_NEAR(s.max, 10, 0);
    float allnan[3] = {NAN, NAN, NAN};
    v = view(allnan, MG_DTYPE_F32, 3);
    stats1(&v, &s);
    CHECK_EQ_INT(s.finite, 0);
    CHECK_EQ_INT(s.nan, 3);
    CHECK(s.mean == 0 && s.std == 0);
    v = view(x, MG_DTYPE_F32, 0); // empty tensor
    stats1(&v, &s);
    CHECK_EQ_INT(s.count, 0);
    CHECK_EQ_INT(s.finite, 0);
}

static void test_every_dtype(void) {
    // The values 0..9 in every dtype give mean 4.5, std sqrt(8.25), min 0, max 9.
    uint8_t buf[10 * 8 + 1];
    for (int dt = 0; dt < MG_DTYPE_COUNT; dt++) {
        if (dt == MG_DTYPE_BOOL) continue;
        for (int i = 0; i < 10; i++) {
            uint8_t *p = buf + 1 + i * mg_dtype_size((mg_dtype)dt); // deliberately unaligned
            float f = (float)i;
            switch ((mg_dtype)dt) {
            case MG_DTYPE_F64: {
                double d = i;
                memcpy(p, &d, 8);
                break;
            }
            case MG_DTYPE_F32:
                memcpy(p, &f, 4);
                break;
            case MG_DTYPE_F16: {
                uint16_t h = mg_f32_to_f16(f);
                memcpy(p, &h, 2);
                break;
            }
            case MG_DTYPE_BF16: {
                uint16_t h = mg_f32_to_bf16(f);
                memcpy(p, &h, 2);
                break;
            }
            case MG_DTYPE_I64: {
                int64_t k = i;
                memcpy(p, &k, 8);
                break;
            }
            case MG_DTYPE_I32: {
                int32_t k = i;
                memcpy(p, &k, 4);
                break;
            }
            case MG_DTYPE_I16: {
                int16_t k = (int16_t)i;
                memcpy(p, &k, 2);
                break;
            }
            case MG_DTYPE_I8:
            case MG_DTYPE_U8:
                *p = (uint8_t)i;
                break;
            case MG_DTYPE_F8_E5M2:
                *p = (uint8_t)(mg_f32_to_f16(f) >> 8);
                break;               // exact for 0..9
            case MG_DTYPE_F8_E4M3: { // 0 or 1.m * 2^e with 3 mantissa bits: exact for 0..9
                int e = i ? (int)floor(log2(i)) : 0;
                int m = i ? (int)((i / ldexp(1, e) - 1) * 8) : 0;
                *p = i ? (uint8_t)(((e + 7) << 3) | m) : 0;
                break;
            }
            default:
                break;
            }
        }
        mg_tensor_view v = view(buf + 1, (mg_dtype)dt, 10);
        mg_tensor_stats s;
        stats1(&v, &s);
        // E5M2 has 2 mantissa bits: 9 truncates to 8 (values 0..8,8: mean 4.4).
        bool e5 = dt == MG_DTYPE_F8_E5M2;
        double mean = e5 ? 4.4 : 4.5, var = e5 ? 268.0 / 10 - 4.4 * 4.4 : 8.25;
        CHECK_MSG(fabs(s.mean - mean) < 1e-12, "%s mean %g", mg_dtype_name((mg_dtype)dt), s.mean);
        CHECK_MSG(fabs(s.std - sqrt(var)) < 1e-12, "%s std %g", mg_dtype_name((mg_dtype)dt), s.std);
        CHECK(s.min == 0 && s.max == (e5 ? 8 : 9));
    }
    uint8_t b[4] = {0, 1, 1, 0};
    mg_tensor_view v = view(b, MG_DTYPE_BOOL, 4);
    mg_tensor_stats s;
    stats1(&v, &s);
    CHECK_NEAR(s.mean, 0.5, 0);
}

static void test_f8_decode(void) {
    CHECK(mg_f8_e4m3_to_f32(0x7e) == 448.0f);        // max normal
    CHECK(mg_f8_e4m3_to_f32(0x01) == ldexpf(1, -9)); // min subnormal
    CHECK(mg_f8_e4m3_to_f32(0x38) == 1.0f);
    CHECK(mg_f8_e4m3_to_f32(0xb8) == -1.0f);
    CHECK(isnan(mg_f8_e4m3_to_f32(0x7f)) && isnan(mg_f8_e4m3_to_f32(0xff)));
    CHECK(mg_f8_e5m2_to_f32(0x7b) == 57344.0f);
    CHECK(isinf(mg_f8_e5m2_to_f32(0x7c)));
    CHECK(isnan(mg_f8_e5m2_to_f32(0x7e)));
    CHECK(mg_f8_e5m2_to_f32(0x3c) == 1.0f);
}

static void test_thread_independence(void) {
    // Several tensors of many chunks, with a NaN sprinkled in: bit-identical
    // stats for 1, 2 and 7 threads.
    size_t sizes[3] = {5 * MG_STATS_CHUNK + 123, 77, 3 * MG_STATS_CHUNK};
    uint16_t *data[3];
    mg_tensor_view v[3];
    const mg_tensor_view *pv[3];
    for (int k = 0; k < 3; k++) {
        data[k] = mg_malloc(sizes[k] * 2);
        for (size_t i = 0; i < sizes[k]; i++)
            data[k][i] = mg_f32_to_bf16((float)mg_rng_normal((uint64_t)k + 1, i) * 0.02f + 0.001f);
        data[k][sizes[k] / 2] = 0x7fc0; // NaN
        v[k] = view(data[k], MG_DTYPE_BF16, sizes[k]);
        pv[k] = &v[k];
    }
    mg_tensor_stats ref[3], got[3], scalar[3];
    int threads[3] = {1, 2, 7};
    // Each ISA variant: bit-identical over thread counts; variants agree closely.
    for (int level = MG_CPU_SCALAR; level <= MG_CPU_AVX512; level++) {
        mg_cpu_level_set((mg_cpu_level)level);
        for (int r = 0; r < 3; r++) {
            omp_set_num_threads(threads[r]);
            mg_tensor_stats_compute(pv, 3, r ? got : ref, NULL);
            if (r) CHECK(memcmp(ref, got, sizeof ref) == 0);
        }
        if (level == MG_CPU_SCALAR) memcpy(scalar, ref, sizeof ref);
        for (int k = 0; k < 3; k++) {
            CHECK_NEAR(ref[k].mean, scalar[k].mean, 1e-15);
            CHECK_NEAR(ref[k].std, scalar[k].std, 1e-14);
            CHECK(ref[k].min == scalar[k].min && ref[k].max == scalar[k].max);
        }
    }
    mg_cpu_level_set(MG_CPU_AVX512);
    omp_set_num_threads(2);
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_INT(ref[k].nan, 1);
        CHECK_EQ_INT(ref[k].finite, sizes[k] - 1);
        // Check against a plain double two-pass computation.
        double s = 0, q = 0;
        for (size_t i = 0; i < sizes[k]; i++)
            if (i != sizes[k] / 2) s += mg_bf16_to_f32(data[k][i]);
        double mean = s / (double)(sizes[k] - 1);
        for (size_t i = 0; i < sizes[k]; i++)
            if (i != sizes[k] / 2) q += pow(mg_bf16_to_f32(data[k][i]) - mean, 2);
        CHECK_NEAR(ref[k].mean, mean, 1e-12);
        CHECK_NEAR(ref[k].std, sqrt(q / (double)(sizes[k] - 1)), 1e-12);
        free(data[k]);
    }
}

static void test_model_order(void) {
    // File-order pass, results reported in the model's name order.
    mg_error err = {0};
    mg_model *m = NULL;
    CHECK_OK(mg_model_open(MG_TEST_DATA "/golden/tiny-qwen3", &m, &err), &err);
    if (!m) return;
    size_t n = mg_model_tensor_count(m);
    mg_tensor_stats *all = mg_calloc(n, sizeof *all);
    mg_model_stats_compute(m, all, NULL);
    for (size_t i = 0; i < n; i++) {
        mg_tensor_view v = *mg_model_tensor_at(m, i);
        mg_tensor_stats one;
        stats1(&v, &one);
        CHECK_MSG(memcmp(&one, &all[i], sizeof one) == 0, "tensor %s", v.name);
        CHECK_EQ_INT(all[i].count, v.numel);
    }
    free(all);
    mg_model_close(m);
}

int main(void) {
    RUN(test_known_values);
    RUN(test_every_dtype);
    RUN(test_f8_decode);
    RUN(test_thread_independence);
    RUN(test_model_order);
    return TEST_END();
}
