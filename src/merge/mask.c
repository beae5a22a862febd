/* mask.c - the random masks of DARE and DELLA (kernel.h): Philox4x32-10
 * draws keyed by (seed, tensor, model) and counted by element index, so a
 * mask does not depend on how the tensor is cut into chunks or threads.
 * mg_bernoulli_bits produces the DARE mask straight as bits; its AVX-512
 * version runs the Philox rounds on 16 counters per vector and compares the
 * 16-bit halves in registers (base/cpu.h dispatch), giving the same bits as
 * the plain version. */
#include <immintrin.h>
#include <string.h>

#include "base/cpu.h"
#include "base/rng.h"
#include "merge/kernel.h"

void mg_rng_u32_fill(uint64_t key, uint64_t begin, uint64_t count, uint32_t *out) {
    uint32_t k2[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
    uint64_t i = 0;
    while (i < count) {
        uint64_t idx = begin + i, blk = idx / 4;
        uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 0, 0}, w[4];
        mg_philox4x32_10(ctr, k2, w);
        for (unsigned q = (unsigned)(idx % 4); q < 4 && i < count; q++)
            out[i++] = w[q];
    }
}

/* Philox4x32-10 on 16 consecutive counters at once, structure-of-arrays so
 * the rounds vectorize; bit-identical to mg_philox4x32_10 (the tests check). */
#define PB 16
static void philox_batch(uint64_t key, uint64_t first, uint32_t out[4][PB]) {
    uint32_t c0[PB], c1[PB], c2[PB], c3[PB];
    for (int b = 0; b < PB; b++) {
        uint64_t blk = first + (uint64_t)b;
        c0[b] = (uint32_t)blk, c1[b] = (uint32_t)(blk >> 32), c2[b] = 0, c3[b] = 0;
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        for (int b = 0; b < PB; b++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0[b];
            uint64_t p1 = (uint64_t)0xCD9E8D57u * c2[b];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[b] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[b] ^ k1;
            c1[b] = (uint32_t)p1, c3[b] = (uint32_t)p0, c0[b] = n0, c2[b] = n2;
        }
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
    memcpy(out[0], c0, sizeof c0), memcpy(out[1], c1, sizeof c1);
    memcpy(out[2], c2, sizeof c2), memcpy(out[3], c3, sizeof c3);
}

void mg_philox_batch_check(uint64_t key, uint64_t first, uint32_t out[4][16]) {
    philox_batch(key, first, out);
}

void mg_bernoulli(uint64_t key, uint64_t begin, uint64_t count, double p, uint8_t *mask) {
    if (p >= 1) {
        memset(mask, 1, count);
        return;
    }
    if (p <= 0) {
        memset(mask, 0, count);
        return;
    }
    // 16-bit uniforms, 8 per Philox block: element i uses half (i % 8) of
    // block i / 8 (word (i % 8) / 2, low half first). Resolution 2^-16 is far
    // below the sampling noise of any tensor worth sparsifying, and it halves
    // the RNG cost.
    uint32_t thr = (uint32_t)(p * 65536.0 + 0.5);
    if (thr == 0) thr = 1; // p > 0 never means "drop everything"
    uint32_t w[4][PB];
    uint64_t i = 0;
    // Fast path: whole batches starting on a block boundary.
    while ((begin + i) % 8 == 0 && count - i >= 8 * PB) {
        philox_batch(key, (begin + i) / 8, w);
        uint8_t *m = mask + i;
        for (int b = 0; b < PB; b++)
            for (int q = 0; q < 4; q++) {
                uint32_t v = w[q][b];
                m[8 * b + 2 * q] = (v & 0xffffu) < thr;
                m[8 * b + 2 * q + 1] = (v >> 16) < thr;
            }
        i += 8 * PB;
    }
    while (i < count) {
        uint64_t idx = begin + i, blk = idx / 8;
        philox_batch(key, blk, w);
        for (uint64_t q = idx % 8; q < 8 * PB && i < count; q++, i++) {
            uint64_t bq = q / 8, h = q % 8;
            uint32_t u = (w[h / 2][bq] >> (16 * (h % 2))) & 0xffffu;
            mask[i] = u < thr;
        }
    }
}

/* ---- DARE masks as bits ---- */

/* mask bytes (0/1) -> bits, 8 at a time (bit k of a byte = element k). */
static void pack8(const uint8_t *mask, uint64_t n, uint8_t *bits) {
    uint64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        uint64_t x;
        memcpy(&x, mask + e, 8);
        bits[e / 8] = (uint8_t)(((x & 0x0101010101010101ull) * 0x0102040810204080ull) >> 56);
    }
    if (e < n) {
        bits[e / 8] = 0;
        for (; e < n; e++)
            bits[e / 8] |= (uint8_t)(mask[e] << (e % 8));
    }
}

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* Low and high halves of the 32 x 32 -> 64-bit products of c's lanes by m. */
AVX512 static inline void mul_hilo(__m512i c, __m512i m, __m512i *lo, __m512i *hi) {
    __m512i pe = _mm512_mul_epu32(c, m);                        // even lanes
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(c, 32), m); // odd lanes
    *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

/* Philox4x32-10 of the 16 counters first .. first + 15 (as mg_philox4x32_10). */
AVX512 static inline void philox16(uint64_t key, uint64_t first, __m512i w[4]) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i f0 = _mm512_set1_epi32((int)(uint32_t)first);
    __m512i c0 = _mm512_add_epi32(f0, lane);
    __mmask16 carry = _mm512_cmplt_epu32_mask(c0, f0);
    __m512i c1 = _mm512_set1_epi32((int)(uint32_t)(first >> 32));
    c1 = _mm512_mask_add_epi32(c1, carry, c1, _mm512_set1_epi32(1));
    __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
    const __m512i m0 = _mm512_set1_epi32((int)0xD2511F53u),
                  m1 = _mm512_set1_epi32((int)0xCD9E8D57u);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        __m512i lo0, hi0, lo1, hi1;
        mul_hilo(c0, m0, &lo0, &hi0);
        mul_hilo(c2, m1, &lo1, &hi1);
        __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
        __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
        c1 = lo1, c3 = lo0, c0 = n0, c2 = n2;
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
    w[0] = c0, w[1] = c1, w[2] = c2, w[3] = c3;
}

/* Mask bits of nbat x 128 elements from element 8 * blk0: byte b is Philox
 * block blk0 + b, its bit 2q + h the half h of word q (as mg_bernoulli). */
AVX512 static void bern_bits_avx512(uint64_t key, uint64_t blk0, uint64_t nbat, uint32_t thr,
                                    uint8_t *bits) {
    const __m512i t = _mm512_set1_epi32((int)thr), lo16 = _mm512_set1_epi32(0xffff);
    for (uint64_t b = 0; b < nbat; b++) {
        __m512i w[4], acc = _mm512_setzero_si512();
        philox16(key, blk0 + 16 * b, w);
        for (int q = 0; q < 4; q++) {
            __mmask16 l = _mm512_cmplt_epu32_mask(_mm512_and_si512(w[q], lo16), t);
            __mmask16 h = _mm512_cmplt_epu32_mask(_mm512_srli_epi32(w[q], 16), t);
            acc = _mm512_mask_or_epi32(acc, l, acc, _mm512_set1_epi32(1 << (2 * q)));
            acc = _mm512_mask_or_epi32(acc, h, acc, _mm512_set1_epi32(2 << (2 * q)));
        }
        _mm_storeu_si128((__m128i *)(void *)(bits + 16 * b), _mm512_cvtepi32_epi8(acc));
    }
}

void mg_bernoulli_bits(uint64_t key, uint64_t begin, uint64_t count, double p, uint8_t *bits) {
    uint64_t i = 0;
    if (p > 0 && p < 1 && begin % 8 == 0 && mg_cpu_level_get() >= MG_CPU_AVX512) {
        uint32_t thr = (uint32_t)(p * 65536.0 + 0.5);
        if (thr == 0) thr = 1; // as mg_bernoulli
        uint64_t nbat = count / 128;
        bern_bits_avx512(key, begin / 8, nbat, thr, bits);
        i = nbat * 128;
    }
    uint8_t tmp[4096];
    while (i < count) { // i stays a multiple of 8
        uint64_t len = count - i < sizeof tmp ? count - i : sizeof tmp;
        mg_bernoulli(key, begin + i, len, p, tmp);
        pack8(tmp, len, bits + i / 8);
        i += len;
    }
}
