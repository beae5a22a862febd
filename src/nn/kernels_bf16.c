/* kernels_bf16.c - matrix products with bf16-stored weights (see kernels.h).
 *
 * Decode (M < 4): a GEMV that widens each bf16 weight to f32 in registers
 * (u16 << 16, exact) and accumulates in f32: half the bytes of an f32 GEMV,
 * and decode is memory-bound. AVX-512 and AVX2+FMA variants are chosen at run
 * time (base/cpu.h); the scalar loop is the reference. Prefill (M >= 4): each
 * fixed chunk of weight rows is widened into a per-thread f32 tile, then the
 * same single-threaded sgemm as the f32 path runs on it, so prefill results
 * equal those of an f32 model holding the same (widened) values. */
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include "base/cpu.h"
#include "base/half.h"
#include "nn/kernels.h"

float mg_nn_dot_bf16_ref(const uint16_t *w, const float *x, int K) {
    float s = 0.0f;
    for (int k = 0; k < K; k++)
        s += mg_bf16_to_f32(w[k]) * x[k];
    return s;
}

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX2 static float dot_bf16_avx2(const uint16_t *w, const float *x, int K) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 32 <= K; k += 32) {
#define W8(off)                                                                                    \
    _mm256_castsi256_ps(_mm256_slli_epi32(                                                         \
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(w + k + off))), 16))
        a0 = _mm256_fmadd_ps(W8(0), _mm256_loadu_ps(x + k), a0);
        a1 = _mm256_fmadd_ps(W8(8), _mm256_loadu_ps(x + k + 8), a1);
        a2 = _mm256_fmadd_ps(W8(16), _mm256_loadu_ps(x + k + 16), a2);
        a3 = _mm256_fmadd_ps(W8(24), _mm256_loadu_ps(x + k + 24), a3);
#undef W8
    }
    __m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h) + mg_nn_dot_bf16_ref(w + k, x + k, K - k);
}

AVX512 static float dot_bf16_avx512(const uint16_t *w, const float *x, int K) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512i h0 =
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(w + k)));
        __m512i h1 =
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(w + k + 16)));
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(h0, 16)), _mm512_loadu_ps(x + k),
                             a0);
        a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(h1, 16)),
                             _mm512_loadu_ps(x + k + 16), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + mg_nn_dot_bf16_ref(w + k, x + k, K - k);
}

typedef float (*dot_fn)(const uint16_t *, const float *, int);

static dot_fn pick_dot(void) {
    switch (mg_cpu_level_get()) {
    case MG_CPU_AVX512:
        return dot_bf16_avx512;
    case MG_CPU_AVX2:
        return dot_bf16_avx2;
    default:
        return mg_nn_dot_bf16_ref;
    }
}

size_t mg_nn_matmul_bf16_tile(int K) {
    return (size_t)MG_NN_GEMM_CHUNK * (size_t)K;
}

void mg_nn_matmul_bf16(float *y, size_t ldy, const float *x, size_t ldx, const uint16_t *w,
                       const float *bias, int M, int N, int K, int accumulate, float *tiles,
                       int n_slots) {
    const int gemv = M < 4, nb = gemv ? MG_NN_GEMV_CHUNK : MG_NN_GEMM_CHUNK;
    const int n_chunks = (N + nb - 1) / nb;
    const dot_fn dot = pick_dot();
    int team = mg_nn_team_size();
    if (!gemv && team > n_slots) team = n_slots;
#pragma omp parallel for schedule(static) num_threads(team)
    for (int c = 0; c < n_chunks; c++) {
        const int n0 = c * nb, nn = N - n0 < nb ? N - n0 : nb;
        const uint16_t *wc = w + (size_t)n0 * K;
        if (gemv) {
            for (int r = 0; r < M; r++) {
                const float *xr = x + (size_t)r * ldx;
                float *yr = y + (size_t)r * ldy + n0;
                for (int j = 0; j < nn; j++) {
                    float v = dot(wc + (size_t)j * K, xr, K);
                    yr[j] = accumulate ? yr[j] + v : v;
                }
            }
        } else {
            float *tile = tiles + mg_nn_matmul_bf16_tile(K) * (size_t)omp_get_thread_num();
            mg_bf16_to_f32_array(wc, tile, (size_t)nn * K);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, nn, K, 1.0f, x, (int)ldx, tile,
                        K, accumulate ? 1.0f : 0.0f, y + n0, (int)ldy);
        }
        if (bias)
            for (int r = 0; r < M; r++) {
                float *yr = y + (size_t)r * ldy + n0;
                for (int j = 0; j < nn; j++)
                    yr[j] += bias[n0 + j];
            }
    }
}
