/* rng.h - counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * A value is a pure function of (key, index): there is no state to share, so
 * streams do not depend on the thread count, the order of evaluation, or on
 * resuming a run. Keys are derived from a user seed and a name (a tensor name,
 * "cmaes", ...) with mg_rng_key. Stream layout: element i of a key's u32
 * stream is word (i % 4) of philox(counter = i / 4 as 128-bit, key).
 * Thread-safe, no state. */
#ifndef MG_BASE_RNG_H
#define MG_BASE_RNG_H

#include <stddef.h>
#include <stdint.h>

/* The raw block function: 10 rounds of Philox4x32 on ctr with a 64-bit key. */
void mg_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* 64-bit key from a seed and a name (FNV-1a of the name, mixed with the seed
 * by a splitmix64 finalizer). name may be NULL. */
uint64_t mg_rng_key(uint64_t seed, const char *name);
/* Derives a sub-key, e.g. per generation or per step: mg_rng_subkey(k, step). */
uint64_t mg_rng_subkey(uint64_t key, uint64_t n);

uint32_t mg_rng_u32(uint64_t key, uint64_t index);
/* Uniform in [0, 1) with 24 random bits (float) or 53 (double). */
float mg_rng_uniform(uint64_t key, uint64_t index);
double mg_rng_uniform_f64(uint64_t key, uint64_t index);
/* Standard normal (Box-Muller on the double stream at 2*index and 2*index+1). */
double mg_rng_normal(uint64_t key, uint64_t index);
/* Fills out[0..n) with mg_rng_uniform(key, first + i), 4 values per block. */
void mg_rng_uniform_fill(uint64_t key, uint64_t first, float *out, size_t n);

#endif // MG_BASE_RNG_H
