/* kernel.h - the chunk engine shared by the merge kernels (src/merge/methods/).
 *
 * mg_kpass runs one pass over a tensor: the element range is cut into chunks
 * (whole rows when the method works per row), chunks are handed to OpenMP
 * threads, each thread loads the chunk of every input into its own buffers
 * and calls the pass function, which may fill an output chunk (written back
 * through the context's write callback) and store per-chunk partials. Partial
 * sums are then added in chunk order (mg_kpass_sum), so statistics are
 * bit-identical for any thread count.
 *
 * Also here: the deterministic top-k selection used by the magnitude
 * sparsifiers (TIES, breadcrumbs, SCE, arcee_fusion quantiles): an O(n) radix
 * select over the float bit patterns of non-negative keys in two histogram
 * passes, with ties broken by element index (lower index kept first), and the
 * Bernoulli masks of DARE / DELLA from the counter-based RNG.
 * Thread-safety: functions are reentrant; a pass's callbacks run concurrently
 * on distinct chunks. */
#ifndef MG_MERGE_KERNEL_H
#define MG_MERGE_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "merge/method.h"

typedef struct mg_kchunk {
    uint64_t index;  // chunk number
    uint64_t begin;  // first element
    uint64_t count;  // elements (a multiple of cols when rows were requested)
    float *const *x; // x[i][0..count): input i (only inputs with load[i] set)
    float *out;      // output buffer [count] when the pass writes
    float *scratch;  // per-thread scratch of scratch_per_elem * count floats
    int thread;
} mg_kchunk;

typedef mg_status (*mg_kpass_fn)(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch,
                                 mg_error *err);

typedef struct mg_kpass_opts {
    bool rows;                 // chunks hold whole rows
    bool write;                // fn fills ch->out, which is written back
    const bool *load;          // per input: load it (NULL = all)
    unsigned scratch_per_elem; // floats of scratch per element
    unsigned stride;           // > 1: only chunks whose index is a multiple (sampling)
    int *failed;               // optional: set to 1 (atomically) as soon as a chunk fails, for
                               // pass functions that wait on other chunks
} mg_kpass_opts;

/* Number of chunks a pass will use (for sizing partial arrays). */
uint64_t mg_kpass_chunks(const mg_kernel_ctx *c, bool rows, uint64_t *chunk_elems);
mg_status mg_kpass(const mg_kernel_ctx *c, const mg_kpass_opts *o, mg_kpass_fn fn, void *user,
                   mg_error *err);
/* Sums parts[ci*stride + k] over chunks in order into out[k] (k < width). */
void mg_kpass_sum(const double *parts, uint64_t nchunks, size_t stride, size_t width, double *out);

/* ---- top-k selection ---- */

/* keep(i, key) = bits(key) > thr || (bits(key) == thr && i < tie_cut). */
typedef struct mg_select {
    uint32_t thr;
    uint64_t tie_cut;
} mg_select;

static inline bool mg_select_keep(const mg_select *s, uint64_t i, float key) {
    uint32_t b;
    __builtin_memcpy(&b, &key, 4);
    return b > s->thr || (b == s->thr && i < s->tie_cut);
}

/* Produces the non-negative keys of selection j for a chunk into keys[count]. */
typedef void (*mg_key_fn)(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, size_t j,
                          float *keys);

/* For each selection j < nsel, finds the rule keeping exactly k[j] elements with
 * the largest keys (ties: lower index first). k > numel keeps all, 0 none
 * (k == numel is selected for real, so thr is the minimum key).
 * load: inputs the key function needs (NULL = all). */
mg_status mg_select_topk(const mg_kernel_ctx *c, size_t nsel, const uint64_t *k, mg_key_fn fn,
                         void *user, const bool *load, mg_select *out, mg_error *err);

/* Bins with at most this many elements are resolved by collecting them (one
 * pass) rather than by a second histogram and a tie-counting pass. Tests set
 * it to 0 to exercise the two-pass path. */
extern uint64_t mg_select_collect_max;
/* Tensors whose keys (4 bytes per element and selection) fit in this many
 * bytes are selected in memory (one pass); tests set it to 0 to exercise the
 * streaming paths. */
extern uint64_t mg_select_mem_max;
/* Big tensors first try a sampled bracket (one full pass); tests turn it off
 * to exercise the other paths. */
extern bool mg_select_sampling;
extern _Atomic uint64_t mg_select_sampled_hits; // selections settled by the bracket (tests)

/* Reference selection on an in-memory key array (tests and small inputs). */
mg_select mg_select_topk_array(const float *keys, uint64_t n, uint64_t k);
/* Exact radix select on key bits kb[0..n) (1 <= k <= n < 2^32): the rule
 * keeping the k largest, ties by position; tmp holds n + 1 entries. */
mg_select mg_select_radix(const uint32_t *kb, uint64_t n, uint64_t k, uint32_t *tmp);

/* The pivot stage (select_pivot.c), tried first on tensors of at least
 * mg_select_pivot_min elements: a sample places a few pivot keys around each
 * k-th largest key, and one counting pass settles every selection whose k-th
 * key the pivots bracket (done[j] set); the rest go to the exact paths above.
 * Tests lower mg_select_pivot_min to exercise it. */
extern uint64_t mg_select_pivot_min;
extern _Atomic uint64_t mg_select_pivot_hits; // selections it settled (tests)
mg_status mg_select_pivot(const mg_kernel_ctx *c, size_t nsel, const uint64_t *k, mg_key_fn fn,
                          void *user, const bool *load, mg_select *out, bool *done, mg_error *err);

/* ---- random masks ---- */

/* RNG key of input `model` for a tensor (c->key already holds seed + name). */
static inline uint64_t mg_mask_key(const mg_kernel_ctx *c, size_t model);
/* mask[j] = 1 when element begin+j survives a Bernoulli(p) draw: a 16-bit
 * uniform (8 per Philox block) below round(p * 2^16). */
void mg_bernoulli(uint64_t key, uint64_t begin, uint64_t count, double p, uint8_t *mask);
/* The same mask as bits: bit j of bits[j / 8] (bit j % 8) is element begin + j
 * ((count + 7) / 8 bytes; unused high bits of the last byte are 0). */
void mg_bernoulli_bits(uint64_t key, uint64_t begin, uint64_t count, double p, uint8_t *bits);
/* Test hook: the batched Philox behind mg_bernoulli, 16 blocks from `first`
 * (out[word][block]); must equal mg_philox4x32_10 block by block. */
void mg_philox_batch_check(uint64_t key, uint64_t first, uint32_t out[4][16]);
/* One u32 per element of [begin, begin+count), the mg_rng_u32 stream. */
void mg_rng_u32_fill(uint64_t key, uint64_t begin, uint64_t count, uint32_t *out);

#include "base/rng.h"
static inline uint64_t mg_mask_key(const mg_kernel_ctx *c, size_t model) {
    return mg_rng_subkey(c->key, model);
}

/* Shared helpers for the kernels. */
double mg_kernel_l2sq(const float *x, uint64_t n);
/* G[i*n+j] = <x_i, x_j> over the whole tensor (double, chunk-ordered sums). */
mg_status mg_kernel_gram(const mg_kernel_ctx *c, double *G, mg_error *err);
/* Writes out = sum_i coef[i] * x_i (inputs with coef 0 are not read). */
mg_status mg_kernel_combine(const mg_kernel_ctx *c, const double *coef, mg_error *err);

#endif // MG_MERGE_KERNEL_H
