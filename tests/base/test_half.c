/* test_half.c - bf16 / f16 <-> f32 conversions.
 *
 * Every bf16 and f16 bit pattern is checked against an oracle written here
 * independently of half.c (exact double arithmetic, ldexp / frexp /
 * nearbyint), then 10^7 random f32 values (2 * 10^6 under ASan) weighted
 * towards the hard cases (subnormals, NaN payloads, +-Inf, f16 overflow,
 * exact ties and their neighbours) are narrowed by the oracle, the scalar
 * reference and every array path the CPU has (scalar, AVX2, AVX-512 through
 * mg_cpu_level_set), which must all agree bit for bit. Odd lengths, unaligned
 * pointers (element and byte offsets) and untouched guard elements check the
 * vector tails. */
#include <fenv.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/cpu.h"
#include "base/half.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define N_RANDOM 2000000u
#else
#define N_RANDOM 10000000u
#endif

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t rng_state = 0x0123456789abcdefull;

static uint64_t next64(void) { // splitmix64: independent of base/rng
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- oracle ---- */

// Value of a binary16 (ebits=5, mbits=10) or bfloat16 (ebits=8, mbits=7)
// pattern as a double, from the format definition.
static double decode(uint16_t h, int ebits, int mbits) {
    int bias = (1 << (ebits - 1)) - 1;
    int exp = (h >> mbits) & ((1 << ebits) - 1);
    int man = h & ((1 << mbits) - 1);
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (exp == (1 << ebits) - 1) return man ? NAN : s * INFINITY;
    if (exp == 0) return s * ldexp(man, 1 - bias - mbits);
    return s * ldexp(man + (1 << mbits), exp - bias - mbits);
}

// Expected f32 bits of widening h; NaN: payload kept, quiet bit forced only
// for f16 (IEEE / vcvtph2ps), bits kept for bf16 (a shift).
static uint32_t widen_oracle(uint16_t h, int is_f16) {
    double v = decode(h, is_f16 ? 5 : 8, is_f16 ? 10 : 7);
    if (isnan(v)) {
        uint32_t sign = (uint32_t)(h & 0x8000) << 16;
        if (!is_f16) return (uint32_t)h << 16;
        return sign | 0x7fc00000u | ((uint32_t)(h & 0x3ff) << 13);
    }
    return f2u((float)v); // every f16 / bf16 value is exact in f32
}

// Round x to the nearest-even value of the 16-bit format, as a double
// (+-Inf on overflow); the caller compares it with the decoded result.
static double narrow_oracle(float x, int is_f16) {
    double d = fabs((double)x);
    int mbits = is_f16 ? 10 : 7;
    int emin = is_f16 ? -14 : -126;                     // smallest normal exponent
    double maxf = is_f16 ? 65504.0 : ldexp(255.0, 120); // 0x7bff, 0x7f7f
    if (isinf(d)) return x;
    int e2;
    frexp(d, &e2); // d = m * 2^e2, m in [0.5, 1): the binade is 2^(e2-1)
    int e = e2 - 1 < emin ? emin : e2 - 1;
    double q = ldexp(1.0, e - mbits); // quantum (ulp) of d's binade
    double r = nearbyint(d / q) * q;  // default rounding mode: ties to even
    if (r > maxf) r = INFINITY;
    return signbit(x) ? -r : r;
}

static int narrow_ok(float x, uint16_t got, int is_f16) {
    uint32_t u = f2u(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) { // NaN: sign, quiet bit, top payload bits
        uint16_t want = is_f16 ? (uint16_t)(((u >> 16) & 0x8000u) | 0x7e00u | ((u >> 13) & 0x3ffu))
                               : (uint16_t)((u >> 16) | 0x40u);
        return got == want;
    }
    double want = narrow_oracle(x, is_f16);
    double have = decode(got, is_f16 ? 5 : 8, is_f16 ? 10 : 7);
    return have == want && signbit(have) == signbit(want);
}

/* ---- paths ---- */

static int n_levels;
static mg_cpu_level levels[3];

static void find_levels(void) {
    for (int l = MG_CPU_SCALAR; l <= MG_CPU_AVX512; l++) {
        mg_cpu_level_set((mg_cpu_level)l);
        if (mg_cpu_level_get() == (mg_cpu_level)l) levels[n_levels++] = (mg_cpu_level)l;
    }
    printf("paths tested:");
    for (int i = 0; i < n_levels; i++)
        printf(" %s", mg_cpu_level_name(levels[i]));
    printf("\n");
}

static void test_oracle_sanity(void) {
    CHECK(fegetround() == FE_TONEAREST);
    CHECK(narrow_oracle(65504.0f, 1) == 65504.0);
    CHECK(isinf(narrow_oracle(65520.0f, 1)));
    CHECK(narrow_oracle(65519.996f, 1) == 65504.0);
    CHECK(narrow_oracle(ldexpf(1, -25), 1) == 0.0);
    CHECK(narrow_oracle(ldexpf(3, -26), 1) == ldexp(1, -24));
    CHECK(narrow_oracle(1.0f + ldexpf(1, -11), 1) == 1.0);                // tie to even
    CHECK(narrow_oracle(1.0f + ldexpf(3, -11), 1) == 1.0 + ldexp(1, -9)); // tie to even (up)
    CHECK(narrow_oracle(1.0f + ldexpf(1, -8), 0) == 1.0);
    CHECK(decode(0x3c00, 5, 10) == 1.0 && decode(0x3f80, 8, 7) == 1.0);
    CHECK(decode(0x0001, 5, 10) == ldexp(1, -24) && decode(0x0001, 8, 7) == ldexp(1, -133));
    // Known bits from the IEEE tables.
    CHECK_EQ_INT(mg_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(mg_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(mg_f32_to_f16(ldexpf(1, -24)), 0x0001);
    CHECK_EQ_INT(mg_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(mg_f32_to_bf16(3.14159265f), 0x4049);
    CHECK_EQ_INT(f2u(mg_f16_to_f32(0x7c01)), 0x7fc02000); // as vcvtph2ps
    CHECK_EQ_INT(mg_f32_to_f16(u2f(0x7f800001u)), 0x7e00);
    CHECK_EQ_INT(mg_f32_to_bf16(u2f(0xff800001u)), 0xffc0);
}

// All 65,536 patterns: widen (scalar + every array path) vs the oracle, and
// narrow the result back: the pattern itself, or the quieted NaN.
static void exhaustive(int is_f16) {
    uint16_t *h = malloc(65536 * 2), *back = malloc(65536 * 2);
    float *f = malloc(65536 * 4);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    int bad = 0;
    for (uint32_t i = 0; i < 65536 && bad < 10; i++) {
        uint32_t want = widen_oracle(h[i], is_f16);
        uint32_t got = f2u(is_f16 ? mg_f16_to_f32(h[i]) : mg_bf16_to_f32(h[i]));
        if (got != want) bad++;
        CHECK_MSG(got == want, "%s %04x: got %08x want %08x", is_f16 ? "f16" : "bf16", i, got,
                  want);
        uint16_t nan_q = is_f16 ? 0x200 : 0x40;
        uint16_t rt = is_f16 ? mg_f32_to_f16(u2f(got)) : mg_f32_to_bf16(u2f(got));
        uint16_t rt_want = isnan(u2f(got)) ? (uint16_t)(i | nan_q) : (uint16_t)i;
        if (rt != rt_want) bad++;
        CHECK_MSG(rt == rt_want, "round trip %04x: got %04x want %04x", i, rt, rt_want);
    }
    for (int l = 0; l < n_levels; l++) {
        mg_cpu_level_set(levels[l]);
        memset(f, 0, 65536 * 4);
        (is_f16 ? mg_f16_to_f32_array : mg_bf16_to_f32_array)(h, f, 65536);
        (is_f16 ? mg_f32_to_f16_array : mg_f32_to_bf16_array)(f, back, 65536);
        int mism = 0;
        for (uint32_t i = 0; i < 65536; i++) {
            uint16_t nan_q = is_f16 ? 0x200 : 0x40;
            mism += f2u(f[i]) != widen_oracle((uint16_t)i, is_f16);
            mism += back[i] != (isnan(f[i]) ? (uint16_t)(i | nan_q) : (uint16_t)i);
        }
        CHECK_MSG(mism == 0, "%s path %s: %d mismatches", is_f16 ? "f16" : "bf16",
                  mg_cpu_level_name(levels[l]), mism);
    }
    mg_cpu_level_set(MG_CPU_AVX512);
    free(h), free(back), free(f);
}

static void test_exhaustive_f16(void) {
    exhaustive(1);
}

static void test_exhaustive_bf16(void) {
    exhaustive(0);
}

// One random f32 pattern, drawn from a mix of hard cases.
static uint32_t random_f32(void) {
    uint64_t r = next64();
    uint32_t lo = (uint32_t)r, sign = (uint32_t)(r >> 63) << 31;
    switch ((r >> 32) % 12) {
    case 0:
        return lo; // any pattern (includes a few NaN, Inf, subnormals)
    case 1:
        return sign | (((uint32_t)(r >> 40) % 46 + 100) << 23) | (lo & 0x7fffffu); // f16 range
    case 2:
        return sign | (lo & 0x7fffffu); // f32 subnormal
    case 3:
        return sign | 0x7f800000u | ((lo & 0x7fffffu) ? (lo & 0x7fffffu) : 1); // NaN payloads
    case 4:
        return sign | 0x7f800000u | ((r >> 40) & 1 ? 0 : 0x400000u); // Inf / qNaN
    case 5: {                                 // f16 tie: midpoint of two adjacent finite f16
        uint16_t h = (uint16_t)(lo % 0x7bff); // 0 .. 0x7bfe, so h + 1 is finite
        double mid = (decode(h, 5, 10) + decode((uint16_t)(h + 1), 5, 10)) / 2;
        return sign | (f2u((float)mid) + (uint32_t)((r >> 40) % 3) - 1); // tie - 1, tie, tie + 1
    }
    case 6: { // bf16 tie and neighbours
        uint32_t t = (lo & 0x7fff0000u) | 0x8000u;
        return sign | (t + (uint32_t)((r >> 40) % 3) - 1);
    }
    case 7:
        return sign | (0x477fe000u + (lo & 0x3fffu)); // around 65504 .. 65520 .. 65536
    case 8:
        return sign | (((uint32_t)(r >> 40) % 30 + 128) << 23) | (lo & 0x7fffffu); // overflow f16
    case 9:
        return sign | (((uint32_t)(r >> 40) % 14 + 100) << 23) | (lo & 0x7fffffu); // f16 subnormal
    case 10:
        return sign | ((lo & 1) ? 0x7f7fffffu - (lo >> 20) : 0x7f7f8000u + (lo >> 21)); // bf16 max
    default:
        return sign | (lo & 0x7fffffu) | (((uint32_t)(r >> 40) % 254 + 1) << 23); // normals
    }
}

static void test_random_narrowing(void) {
    size_t n = N_RANDOM;
    float *x = malloc(n * 4);
    uint16_t *ref16 = malloc(n * 2), *refb = malloc(n * 2), *out = malloc(n * 2);
    for (size_t i = 0; i < n; i++)
        x[i] = u2f(random_f32());
    size_t bad16 = 0, badb = 0;
    for (size_t i = 0; i < n; i++) {
        ref16[i] = mg_f32_to_f16(x[i]);
        refb[i] = mg_f32_to_bf16(x[i]);
        if (!narrow_ok(x[i], ref16[i], 1) && bad16++ < 5)
            fprintf(stderr, "f16 of %08x: got %04x\n", f2u(x[i]), ref16[i]);
        if (!narrow_ok(x[i], refb[i], 0) && badb++ < 5)
            fprintf(stderr, "bf16 of %08x: got %04x\n", f2u(x[i]), refb[i]);
    }
    CHECK_EQ_INT(bad16, 0);
    CHECK_EQ_INT(badb, 0);
    for (int l = 0; l < n_levels; l++) {
        mg_cpu_level_set(levels[l]);
        mg_f32_to_f16_array(x, out, n);
        CHECK_MSG(!memcmp(out, ref16, n * 2), "f16 path %s differs", mg_cpu_level_name(levels[l]));
        mg_f32_to_bf16_array(x, out, n);
        CHECK_MSG(!memcmp(out, refb, n * 2), "bf16 path %s differs", mg_cpu_level_name(levels[l]));
        // Unaligned by one element, odd length.
        mg_f32_to_f16_array(x + 1, out + 3, n - 7);
        CHECK(!memcmp(out + 3, ref16 + 1, (n - 7) * 2));
    }
    mg_cpu_level_set(MG_CPU_AVX512);
    free(x), free(ref16), free(refb), free(out);
}

// Random 16-bit patterns widened by every path vs the scalar reference.
static void test_random_widening(void) {
    size_t n = N_RANDOM / 4;
    uint16_t *h = malloc(n * 2);
    float *ref = malloc(n * 4), *out = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        h[i] = (uint16_t)next64();
    for (int is_f16 = 0; is_f16 < 2; is_f16++) {
        (is_f16 ? mg_f16_to_f32_array_ref : mg_bf16_to_f32_array_ref)(h, ref, n);
        for (int l = 0; l < n_levels; l++) {
            mg_cpu_level_set(levels[l]);
            (is_f16 ? mg_f16_to_f32_array : mg_bf16_to_f32_array)(h + 5, out + 2, n - 5);
            CHECK(!memcmp(out + 2, ref + 5, (n - 5) * 4));
        }
    }
    mg_cpu_level_set(MG_CPU_AVX512);
    free(h), free(ref), free(out);
}

// Every length 0..80 at element offsets 0..3 and byte offset 1 (safetensors
// data can sit at odd addresses): results match the reference and the
// guard bytes around the destination stay untouched.
static void test_lengths_and_alignment(void) {
    enum { MAXN = 80, PAD = 64 };
    unsigned char sbuf[MAXN * 4 + PAD], dbuf[MAXN * 4 + PAD], rbuf[MAXN * 4 + PAD];
    for (size_t i = 0; i < sizeof sbuf; i++)
        sbuf[i] = (unsigned char)next64();
    // Make the f32 view hold mostly finite values with some specials.
    int fails = 0;
    for (int l = 0; l < n_levels; l++) {
        mg_cpu_level_set(levels[l]);
        for (int kind = 0; kind < 4; kind++) {
            for (size_t off = 0; off < 5; off++) {
                size_t boff = off < 4 ? off * 4 : 1; // element offsets, then byte offset 1
                for (size_t n = 0; n <= MAXN; n++) {
                    memset(dbuf, 0xa5, sizeof dbuf);
                    memset(rbuf, 0xa5, sizeof rbuf);
                    const void *s = sbuf + boff;
                    void *d = dbuf + 8 + boff, *r = rbuf + 8 + boff;
                    switch (kind) {
                    case 0:
                        mg_bf16_to_f32_array(s, d, n);
                        mg_bf16_to_f32_array_ref(s, r, n);
                        break;
                    case 1:
                        mg_f16_to_f32_array(s, d, n);
                        mg_f16_to_f32_array_ref(s, r, n);
                        break;
                    case 2:
                        mg_f32_to_bf16_array(s, d, n);
                        mg_f32_to_bf16_array_ref(s, r, n);
                        break;
                    default:
                        mg_f32_to_f16_array(s, d, n);
                        mg_f32_to_f16_array_ref(s, r, n);
                    }
                    if (memcmp(dbuf, rbuf, sizeof dbuf) && fails++ < 5)
                        fprintf(stderr, "path %s kind %d off %zu n %zu differs\n",
                                mg_cpu_level_name(levels[l]), kind, boff, n);
                }
            }
        }
    }
    CHECK_EQ_INT(fails, 0);
    mg_cpu_level_set(MG_CPU_AVX512);
}

/* mg_f32_any_nonfinite at every level agrees with the reference: one NaN,
 * +-Inf or none at every position of arrays of odd lengths (the vector
 * tails), with FLT_MAX and subnormals around (finite, so never flagged). */
static void test_any_nonfinite(void) {
    float x[70];
    uint32_t bits[] = {0x7fc00000u, 0xffc00001u, 0x7f800000u, 0xff800000u, 0x7f800001u};
    for (int l = 0; l < n_levels; l++) {
        mg_cpu_level_set(levels[l]);
        for (size_t n = 0; n <= 69; n += (n < 20 ? 1 : 7))
            for (size_t pos = 0; pos <= n; pos++)
                for (int k = 0; k < 5; k++) {
                    for (size_t i = 0; i < n; i++) {
                        uint32_t u = i % 3 ? 0x7f7fffffu : 0x00000001u; // FLT_MAX, denormal
                        if (i % 2) u |= 0x80000000u;
                        memcpy(&x[i], &u, 4);
                    }
                    if (pos < n) memcpy(&x[pos], &bits[k], 4);
                    bool want = pos < n;
                    CHECK_EQ_INT(mg_f32_any_nonfinite_ref(x, n), want);
                    if (mg_f32_any_nonfinite(x, n) != want) {
                        CHECK_MSG(0, "level %d n %zu pos %zu bits %08x", (int)levels[l], n, pos,
                                  bits[k]);
                        return;
                    }
                }
    }
    mg_cpu_level_set(MG_CPU_AVX512);
}

static void test_cpu_levels(void) {
    mg_cpu_level_set(MG_CPU_SCALAR);
    CHECK_EQ_INT(mg_cpu_level_get(), MG_CPU_SCALAR);
    CHECK_EQ_STR(mg_cpu_level_name(MG_CPU_AVX2), "avx2");
    mg_cpu_level_set(MG_CPU_AVX512);
    CHECK(mg_cpu_level_get() >= levels[n_levels - 1]);
}

int main(void) {
    find_levels();
    RUN(test_oracle_sanity);
    RUN(test_exhaustive_f16);
    RUN(test_exhaustive_bf16);
    RUN(test_random_narrowing);
    RUN(test_random_widening);
    RUN(test_lengths_and_alignment);
    RUN(test_any_nonfinite);
    RUN(test_cpu_levels);
    return TEST_END();
}
