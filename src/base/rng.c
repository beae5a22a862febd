/* rng.c - see rng.h. Constants from the Random123 reference (Philox4x32). */
#include "base/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u // golden ratio
#define PHILOX_W1 0xBB67AE85u // sqrt(3) - 1

void mg_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

static uint64_t splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t mg_rng_key(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; // FNV-1a offset basis
    if (name)
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
            h = (h ^ *p) * 0x100000001b3ull;
    return splitmix64(seed ^ splitmix64(h));
}

uint64_t mg_rng_subkey(uint64_t key, uint64_t n) {
    return splitmix64(key ^ splitmix64(n + 0x632BE59BD9B4E019ull));
}

static void block(uint64_t key, uint64_t blk, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 0, 0};
    uint32_t k[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
    mg_philox4x32_10(ctr, k, out);
}

uint32_t mg_rng_u32(uint64_t key, uint64_t index) {
    uint32_t out[4];
    block(key, index / 4, out);
    return out[index % 4];
}

float mg_rng_uniform(uint64_t key, uint64_t index) {
    return (float)(mg_rng_u32(key, index) >> 8) * (1.0f / 16777216.0f);
}

double mg_rng_uniform_f64(uint64_t key, uint64_t index) {
    // Two consecutive words of the u32 stream make 53 bits.
    uint64_t hi = mg_rng_u32(key, 2 * index), lo = mg_rng_u32(key, 2 * index + 1);
    return (double)(((hi << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

double mg_rng_normal(uint64_t key, uint64_t index) {
    double u1 = mg_rng_uniform_f64(key, 2 * index);
    double u2 = mg_rng_uniform_f64(key, 2 * index + 1);
    if (u1 < 1e-300) u1 = 1e-300; // log(0) guard
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void mg_rng_uniform_fill(uint64_t key, uint64_t first, float *out, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint64_t idx = first + i;
        uint32_t w[4];
        block(key, idx / 4, w);
        for (unsigned j = (unsigned)(idx % 4); j < 4 && i < n; j++, i++)
            out[i] = (float)(w[j] >> 8) * (1.0f / 16777216.0f);
    }
}
