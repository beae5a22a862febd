/* test_rng.c - Philox4x32-10 and the derived streams.
 *
 * The block function must reproduce the Random123 known-answer vectors
 * (kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> out[4]). The
 * streams are checked for their documented layout, loose uniform / normal
 * statistics, independence between keys, and mg_rng_uniform_fill giving the
 * same values as element-wise calls for any first index. */
#include <stdint.h>
#include <stdlib.h>

#include "base/rng.h"
#include "test.h"

static void test_known_answers(void) {
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
        uint32_t out[4];
        mg_philox4x32_10(kat[t].ctr, kat[t].key, out);
        for (int j = 0; j < 4; j++)
            CHECK_MSG(out[j] == kat[t].out[j], "vector %zu word %d: got %08x want %08x", t, j,
                      out[j], kat[t].out[j]);
    }
}

// Element i of a key's stream is word i % 4 of philox(ctr = i / 4, key).
static void test_stream_layout(void) {
    uint64_t key = 0x0123456789abcdefull;
    uint64_t idx[] = {0, 1, 2, 3, 4, 5, 4095, (1ull << 34) + 7, ~0ull};
    for (size_t t = 0; t < sizeof idx / sizeof idx[0]; t++) {
        uint64_t b = idx[t] / 4;
        uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0, 0};
        uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
        uint32_t out[4];
        mg_philox4x32_10(ctr, k, out);
        CHECK_EQ_INT(mg_rng_u32(key, idx[t]), out[idx[t] % 4]);
        CHECK(mg_rng_uniform(key, idx[t]) == (float)(out[idx[t] % 4] >> 8) / 16777216.0f);
    }
}

static void test_keys(void) {
    CHECK(mg_rng_key(1, "a") == mg_rng_key(1, "a"));
    CHECK(mg_rng_key(1, "a") != mg_rng_key(1, "b"));
    CHECK(mg_rng_key(1, "a") != mg_rng_key(2, "a"));
    CHECK(mg_rng_key(1, NULL) == mg_rng_key(1, ""));
    CHECK(mg_rng_key(0, NULL) != mg_rng_key(1, NULL));
    CHECK(mg_rng_subkey(5, 0) != mg_rng_subkey(5, 1));
    CHECK(mg_rng_subkey(5, 0) != mg_rng_subkey(6, 0));
    CHECK(mg_rng_subkey(5, 0) != 5);
}

static void test_uniform_stats(void) {
    enum { N = 1 << 20, BINS = 64 };
    uint64_t key = mg_rng_key(42, "uniform");
    static unsigned hist[BINS];
    memset(hist, 0, sizeof hist);
    double s = 0, s2 = 0, s64 = 0;
    float lo = 1, hi = 0;
    for (uint64_t i = 0; i < N; i++) {
        float u = mg_rng_uniform(key, i);
        double d = mg_rng_uniform_f64(key, i);
        CHECK(u >= 0.0f && u < 1.0f);
        CHECK(d >= 0.0 && d < 1.0);
        lo = u < lo ? u : lo, hi = u > hi ? u : hi;
        s += u, s2 += (double)u * u, s64 += d;
        hist[(int)(u * BINS)]++;
    }
    double mean = s / N, var = s2 / N - mean * mean;
    CHECK_NEAR(mean, 0.5, 0.003); // sd of the mean is 0.00028
    CHECK_NEAR(var, 1.0 / 12, 0.002);
    CHECK_NEAR(s64 / N, 0.5, 0.003);
    CHECK(lo < 1e-5 && hi > 1 - 1e-5);
    double chi2 = 0, e = (double)N / BINS;
    for (int b = 0; b < BINS; b++)
        chi2 += (hist[b] - e) * (hist[b] - e) / e;
    CHECK_MSG(chi2 < 120, "chi2 = %.1f with 63 dof", chi2); // p ~ 1e-5
}

static void test_normal_stats(void) {
    enum { N = 1 << 19 };
    uint64_t key = mg_rng_key(7, "normal");
    double s = 0, s2 = 0, s3 = 0, s4 = 0;
    unsigned in1 = 0;
    for (uint64_t i = 0; i < N; i++) {
        double x = mg_rng_normal(key, i);
        CHECK(isfinite(x));
        s += x, s2 += x * x, s3 += x * x * x, s4 += x * x * x * x;
        in1 += fabs(x) < 1.0;
    }
    CHECK_NEAR(s / N, 0.0, 0.01);
    CHECK_NEAR(s2 / N, 1.0, 0.015);
    CHECK_NEAR(s3 / N, 0.0, 0.03);
    CHECK_NEAR(s4 / N, 3.0, 0.08);
    CHECK_NEAR((double)in1 / N, 0.682689, 0.003);
}

// Streams of different keys (seeds, names, subkeys) are uncorrelated, and
// neighbouring elements of one stream too.
static void test_independence(void) {
    enum { N = 1 << 18 };
    uint64_t keys[] = {mg_rng_key(1, "a"),
                       mg_rng_key(1, "b"),
                       mg_rng_key(2, "a"),
                       mg_rng_subkey(mg_rng_key(1, "a"), 0),
                       mg_rng_subkey(mg_rng_key(1, "a"), 1),
                       0,
                       1};
    size_t nk = sizeof keys / sizeof keys[0];
    for (size_t a = 0; a < nk; a++) {
        for (size_t b = a + 1; b < nk; b++) {
            double sab = 0, sa = 0, sb = 0, saa = 0, sbb = 0;
            unsigned same = 0;
            for (uint64_t i = 0; i < N; i++) {
                double x = mg_rng_uniform(keys[a], i), y = mg_rng_uniform(keys[b], i);
                sab += x * y, sa += x, sb += y, saa += x * x, sbb += y * y;
                same += mg_rng_u32(keys[a], i) == mg_rng_u32(keys[b], i);
            }
            double cov = sab / N - (sa / N) * (sb / N);
            double r = cov / sqrt((saa / N - sa * sa / N / N) * (sbb / N - sb * sb / N / N));
            CHECK_MSG(fabs(r) < 0.01, "keys %zu, %zu: correlation %.4f", a, b, r); // sd 0.002
            CHECK(same < 4);
        }
    }
    // Lag-1 correlation within one stream.
    uint64_t k = keys[0];
    double sxy = 0, sx = 0, sxx = 0;
    for (uint64_t i = 0; i < N; i++) {
        double x = mg_rng_uniform(k, i), y = mg_rng_uniform(k, i + 1);
        sxy += x * y, sx += x, sxx += x * x;
    }
    double r = (sxy / N - (sx / N) * (sx / N)) / (sxx / N - (sx / N) * (sx / N));
    CHECK_NEAR(r, 0.0, 0.01);
}

static void test_uniform_fill(void) {
    uint64_t key = mg_rng_key(3, "fill");
    uint64_t firsts[] = {0, 1, 2, 3, 4, 5, 6, 7, 1001, (1ull << 40) + 3, ~0ull - 40};
    float buf[64 + 2];
    int bad = 0;
    for (size_t f = 0; f < sizeof firsts / sizeof firsts[0]; f++) {
        for (size_t n = 0; n <= 37; n++) {
            buf[0] = buf[n + 1] = -1.0f; // guards
            mg_rng_uniform_fill(key, firsts[f], buf + 1, n);
            for (size_t i = 0; i < n; i++)
                bad += buf[1 + i] != mg_rng_uniform(key, firsts[f] + i);
            bad += buf[0] != -1.0f || buf[n + 1] != -1.0f;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void) {
    RUN(test_known_answers);
    RUN(test_stream_layout);
    RUN(test_keys);
    RUN(test_uniform_stats);
    RUN(test_normal_stats);
    RUN(test_independence);
    RUN(test_uniform_fill);
    return TEST_END();
}
