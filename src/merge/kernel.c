/* kernel.c - see kernel.h. */
#include "merge/kernel.h"

#include <math.h>
#include <stdbool.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"

#define MG_CHUNK_DEFAULT 262144u

uint64_t mg_kpass_chunks(const mg_kernel_ctx *c, bool rows, uint64_t *chunk_elems) {
    uint64_t want = c->chunk ? c->chunk : MG_CHUNK_DEFAULT;
    uint64_t ch = want;
    if (rows && c->cols) {
        uint64_t r = want / c->cols;
        if (r == 0) r = 1;
        ch = r * c->cols;
    }
    if (ch > c->numel) ch = c->numel;
    if (ch == 0) ch = 1;
    if (chunk_elems) *chunk_elems = ch;
    return c->numel ? (c->numel + ch - 1) / ch : 0;
}

/* The chunk buffers of a pass come from a per-thread block kept from pass to
 * pass (grow-only): thousands of passes per merge would otherwise map and
 * fault in fresh pages each time (the CLI makes big allocations mmap'ed). A
 * pass started from inside another one's function gets its own block. */
typedef struct kpool {
    float *mem;
    size_t cap;
    bool busy;
} kpool;

static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_free(void *p) { // at thread exit (OpenMP may retire threads)
    kpool *k = p;
    free(k->mem);
    free(k);
}

static void pool_init(void) {
    pthread_key_create(&pool_key, pool_free);
}

static float *pool_take(size_t floats) {
    if (floats == 0) floats = 1;
    pthread_once(&pool_once, pool_init);
    kpool *k = pthread_getspecific(pool_key);
    if (!k) {
        k = mg_calloc(1, sizeof *k);
        pthread_setspecific(pool_key, k);
    }
    if (k->busy) return mg_aligned_alloc(floats * sizeof(float));
    k->busy = true;
    if (k->cap < floats) {
        free(k->mem);
        k->mem = mg_aligned_alloc(floats * sizeof(float));
        k->cap = floats;
    }
    return k->mem;
}

static void pool_give(float *p) {
    kpool *k = pthread_getspecific(pool_key);
    if (k && p == k->mem)
        k->busy = false;
    else
        free(p);
}

mg_status mg_kpass(const mg_kernel_ctx *c, const mg_kpass_opts *o, mg_kpass_fn fn, void *user,
                   mg_error *err) {
    uint64_t ch;
    uint64_t nch = mg_kpass_chunks(c, o->rows, &ch);
    if (nch == 0) return MG_OK;
    int nthreads = omp_get_max_threads();
    if ((uint64_t)nthreads > nch) nthreads = (int)nch;
    if (omp_in_parallel()) nthreads = 1;
    volatile int failed = 0;
    mg_error first = {0};
#pragma omp parallel num_threads(nthreads)
    {
        int tid = omp_get_thread_num();
        float **x = mg_calloc(2 * c->n, sizeof *x), **xv = x + c->n; // buffers, chunk views
        size_t nbuf = (o->write ? 1 : 0) + o->scratch_per_elem;
        for (size_t i = 0; i < c->n; i++)
            nbuf += (!o->load || o->load[i]) && !(c->whole && c->whole[i]);
        uint64_t cs = (ch + 15) / 16 * 16; // buffers 64-byte aligned
        float *mem = pool_take(nbuf * cs), *at = mem;
        for (size_t i = 0; i < c->n; i++)
            if ((!o->load || o->load[i]) && !(c->whole && c->whole[i])) x[i] = at, at += cs;
        float *out = o->write ? at : NULL;
        at += o->write ? cs : 0;
        float *scratch = o->scratch_per_elem ? at : NULL;
        mg_error e = {0};
#pragma omp for schedule(dynamic, 1)
        for (uint64_t ci = 0; ci < nch; ci++) {
            if (failed || (o->stride > 1 && ci % o->stride)) continue;
            uint64_t b = ci * ch, cnt = c->numel - b < ch ? c->numel - b : ch;
            mg_status st = MG_OK;
            for (size_t i = 0; i < c->n && !st; i++) {
                if (x[i]) st = c->read(c->read_user, i, b, cnt, x[i], &e);
                // Cached inputs are read in place (kernels never write inputs).
                xv[i] = x[i] ? x[i]
                        : c->whole && c->whole[i] && (!o->load || o->load[i])
                            ? (float *)(uintptr_t)(c->whole[i] + b)
                            : NULL;
            }
            mg_kchunk k = {ci, b, cnt, xv, out, scratch, tid};
            if (!st) st = fn(user, c, &k, &e);
            if (!st && o->write) c->write(c->write_user, b, cnt, out);
            if (st) {
#pragma omp critical(mg_kpass_err)
                {
                    if (!failed) {
                        first = e;
                        failed = 1;
                        if (o->failed) __atomic_store_n(o->failed, 1, __ATOMIC_RELEASE);
                    }
                }
            }
        }
        pool_give(mem);
        free(x);
    }
    if (failed) {
        if (err) *err = first;
        return first.status ? first.status : MG_ERR_RUNTIME;
    }
    return MG_OK;
}

void mg_kpass_sum(const double *parts, uint64_t nchunks, size_t stride, size_t width, double *out) {
    for (size_t k = 0; k < width; k++)
        out[k] = 0;
    for (uint64_t ci = 0; ci < nchunks; ci++)
        for (size_t k = 0; k < width; k++)
            out[k] += parts[ci * stride + k];
}

double mg_kernel_l2sq(const float *x, uint64_t n) {
    double s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

/* ---- selection ---- */

static inline uint32_t fbits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

typedef struct sel_state {
    size_t nsel;
    mg_key_fn fn;
    void *user;
    int phase;            // 0: high 16 bits, 1: low 16 bits within hi[j], 2: tie counts,
                          // 3: collect the elements of bin hi[j] (index << 16 | low bits)
    uint64_t *hist;       // [threads][nsel][65536]
    uint32_t *hi, *thr;   // per selection
    bool *active;         // selection needs this phase
    uint64_t *tie_counts; // [nchunks][nsel]
    uint64_t **cand;      // phase 3, 5: [nchunks][nsel] candidate lists
    uint64_t *ncand;      // their lengths
    uint32_t *blo, *bhi;  // phase 5: bracket of 16-bit bins per selection
    uint64_t *above;      // phase 5: [nchunks][nsel] counts above the bracket
} sel_state;

/* Candidates of one bin are collected when there are at most this many: then
 * one pass finds the exact threshold and tie cut instead of two. */
uint64_t mg_select_collect_max = (uint64_t)8 << 20;
bool mg_select_sampling = true;
_Atomic uint64_t mg_select_sampled_hits;

static mg_status sel_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    sel_state *s = user;
    float *keys = ch->scratch;
    for (size_t j = 0; j < s->nsel; j++) {
        if (!s->active[j]) continue;
        s->fn(s->user, c, ch, j, keys);
        if (s->phase == 2) {
            uint64_t cnt = 0;
            uint32_t t = s->thr[j];
            for (uint64_t i = 0; i < ch->count; i++)
                cnt += fbits(keys[i]) == t;
            s->tie_counts[ch->index * s->nsel + j] = cnt;
            continue;
        }
        if (s->phase == 5) {
            // Sampled bracket: count what lies above it, collect what is in it
            // (index << 32 | key bits; tensors under 2^32 elements).
            uint32_t lo = s->blo[j], hi = s->bhi[j];
            uint64_t cnt = 0, up = 0, n = ch->count;
            for (uint64_t i = 0; i < n; i++) {
                uint32_t b = fbits(keys[i]) >> 16;
                cnt += b >= lo && b <= hi;
                up += b > hi;
            }
            uint64_t *v = mg_malloc_array(cnt + 1, sizeof(uint64_t)), m = 0;
            for (uint64_t i = 0; i < n; i++) { // branch-free: always store, advance if in
                uint32_t b = fbits(keys[i]);
                v[m] = (ch->begin + i) << 32 | b;
                m += (b >> 16) >= lo && (b >> 16) <= hi;
            }
            s->cand[ch->index * s->nsel + j] = v;
            s->ncand[ch->index * s->nsel + j] = m;
            s->above[ch->index * s->nsel + j] = up;
            continue;
        }
        if (s->phase == 3) {
            uint32_t hi = s->hi[j];
            uint64_t cnt = 0;
            for (uint64_t i = 0; i < ch->count; i++)
                cnt += (fbits(keys[i]) >> 16) == hi;
            uint64_t *v = mg_malloc_array(cnt + 1, sizeof(uint64_t)), m = 0;
            for (uint64_t i = 0; i < ch->count; i++) {
                uint32_t b = fbits(keys[i]);
                v[m] = (ch->begin + i) << 16 | (b & 0xffffu);
                m += (b >> 16) == hi;
            }
            s->cand[ch->index * s->nsel + j] = v;
            s->ncand[ch->index * s->nsel + j] = m;
            continue;
        }
        uint64_t *h = s->hist + ((size_t)ch->thread * s->nsel + j) * 65536u;
        const uint64_t cnt = ch->count;
        if (s->phase == 0) {
            for (uint64_t i = 0; i < cnt; i++)
                h[fbits(keys[i]) >> 16]++;
        } else {
            uint32_t hi = s->hi[j];
            for (uint64_t i = 0; i < ch->count; i++) {
                uint32_t b = fbits(keys[i]);
                if ((b >> 16) == hi) h[b & 0xffffu]++;
            }
        }
    }
    return MG_OK;
}

/* In a 65536-bin histogram, the bin holding the k-th largest (1-based) and the
 * count strictly above that bin. */
static uint32_t find_bin(const uint64_t *h, uint64_t k, uint64_t *above) {
    uint64_t acc = 0;
    for (int b = 65535; b >= 0; b--) {
        if (acc + h[b] >= k) {
            *above = acc;
            return (uint32_t)b;
        }
        acc += h[b];
    }
    *above = acc;
    return 0;
}

/* Phase 3 for the selections whose bin hi[j] is small enough: collects the
 * bin's elements in one pass and resolves threshold and tie cut in memory
 * (candidates come out in index order: chunks in order, each in order). */
static mg_status collect(const mg_kernel_ctx *c, sel_state *s, uint64_t nch, uint64_t *need,
                         mg_select *out, mg_kpass_opts o, mg_error *err) {
    size_t nsel = s->nsel;
    bool *was = mg_calloc(nsel, sizeof(bool)), any = false;
    for (size_t j = 0; j < nsel; j++) {
        was[j] = s->active[j];
        if (!s->active[j]) continue;
        uint64_t binc = s->hist[j * 65536u + s->hi[j]];
        s->active[j] = binc <= mg_select_collect_max;
        any |= s->active[j];
    }
    mg_status st = MG_OK;
    if (!any) goto restore;
    s->cand = mg_calloc(nch * nsel, sizeof *s->cand);
    s->ncand = mg_calloc(nch * nsel, sizeof *s->ncand);
    s->phase = 3;
    st = mg_kpass(c, &o, sel_pass, s, err);
    s->phase = 0;
    uint64_t *h = mg_malloc(65536u * sizeof(uint64_t));
    for (size_t j = 0; j < nsel && !st; j++) {
        if (!s->active[j]) continue;
        memset(h, 0, 65536u * sizeof(uint64_t));
        for (uint64_t ci = 0; ci < nch; ci++)
            for (uint64_t q = 0; q < s->ncand[ci * nsel + j]; q++)
                h[s->cand[ci * nsel + j][q] & 0xffffu]++;
        uint64_t above;
        uint32_t lo = find_bin(h, need[j], &above);
        uint32_t thr = s->hi[j] << 16 | lo;
        uint64_t m = need[j] - above; // ties at thr to keep, in index order
        out[j] = (mg_select){thr, UINT64_MAX};
        if (m < h[lo]) {
            for (uint64_t ci = 0; ci < nch && m; ci++) {
                const uint64_t *v = s->cand[ci * nsel + j];
                for (uint64_t q = 0; q < s->ncand[ci * nsel + j]; q++)
                    if ((v[q] & 0xffffu) == lo && --m == 0) {
                        out[j].tie_cut = (v[q] >> 16) + 1;
                        break;
                    }
            }
        }
        was[j] = false; // resolved
    }
    free(h);
    for (uint64_t i = 0; i < nch * nsel; i++)
        free(s->cand[i]);
    free(s->cand);
    free(s->ncand);
    s->cand = NULL;
restore:
    for (size_t j = 0; j < nsel; j++)
        s->active[j] = was[j];
    free(was);
    return st;
}

/* Resolves selection j exactly from bracket candidates (index order) when the
 * k-th largest lies in the bracket; returns false otherwise. */
static bool resolve_bracket(sel_state *s, size_t j, uint64_t nch, uint64_t k, mg_select *out) {
    size_t nsel = s->nsel;
    uint64_t above = 0, total = 0;
    for (uint64_t ci = 0; ci < nch; ci++)
        above += s->above[ci * nsel + j], total += s->ncand[ci * nsel + j];
    if (!(above < k && k <= above + total)) return false;
    uint64_t need = k - above, *h = mg_calloc(65536u, sizeof(uint64_t)), ab;
    for (int round = 0; round < 2; round++) {
        uint32_t hi = round ? s->hi[j] : 0;
        memset(h, 0, 65536u * sizeof(uint64_t));
        for (uint64_t ci = 0; ci < nch; ci++)
            for (uint64_t q = 0; q < s->ncand[ci * nsel + j]; q++) {
                uint32_t b = (uint32_t)s->cand[ci * nsel + j][q];
                if (!round)
                    h[b >> 16]++;
                else if ((b >> 16) == hi)
                    h[b & 0xffffu]++;
            }
        uint32_t bin = find_bin(h, need, &ab);
        need -= ab;
        if (!round)
            s->hi[j] = bin;
        else
            s->thr[j] = hi << 16 | bin;
    }
    uint64_t ties = h[s->thr[j] & 0xffffu];
    free(h);
    out[j] = (mg_select){s->thr[j], UINT64_MAX};
    if (need < ties)
        for (uint64_t ci = 0, m = need; ci < nch && m; ci++) {
            const uint64_t *v = s->cand[ci * nsel + j];
            for (uint64_t q = 0; q < s->ncand[ci * nsel + j]; q++)
                if ((uint32_t)v[q] == s->thr[j] && --m == 0) {
                    out[j].tie_cut = (v[q] >> 32) + 1;
                    break;
                }
        }
    return true;
}

/* Stage 0 for big tensors: a histogram of every 8th chunk brackets each k-th
 * largest key; one full pass then counts the elements above the bracket and
 * collects those inside, which settles the selection exactly in memory. One
 * full pass instead of two; selections whose bracket misses (or would hold
 * too many elements) fall back to the exact multi-pass path. */
static mg_status sampled(const mg_kernel_ctx *c, sel_state *s, uint64_t nch, const uint64_t *k,
                         mg_select *out, mg_kpass_opts o, mg_error *err) {
    enum { STRIDE = 8 };
    size_t nsel = s->nsel;
    if (nch < 4 * STRIDE || c->numel >> 32) return MG_OK;
    int nth = omp_get_max_threads();
    o.stride = STRIDE;
    s->phase = 0;
    mg_status st = mg_kpass(c, &o, sel_pass, s, err);
    if (st) return st;
    uint64_t chsz;
    mg_kpass_chunks(c, false, &chsz);
    uint64_t ns = 0; // sampled elements
    for (uint64_t ci = 0; ci < nch; ci += STRIDE)
        ns += c->numel - ci * chsz < chsz ? c->numel - ci * chsz : chsz;
    bool any = false;
    s->blo = mg_calloc(nsel, sizeof(uint32_t));
    s->bhi = mg_calloc(nsel, sizeof(uint32_t));
    bool *was = mg_calloc(nsel, sizeof(bool));
    for (size_t j = 0; j < nsel; j++) {
        was[j] = s->active[j];
        if (!s->active[j]) continue;
        uint64_t *h = s->hist + j * 65536u;
        for (int t = 1; t < nth; t++) {
            const uint64_t *ht = s->hist + ((size_t)t * nsel + j) * 65536u;
            for (size_t b = 0; b < 65536u; b++)
                h[b] += ht[b];
        }
        // Sample rank of the k-th largest, with a margin of 6 sigma + 0.2%.
        double ks = (double)k[j] * (double)ns / (double)c->numel;
        double m = 6 * sqrt(ks * (1 - ks / (double)ns)) + 0.002 * (double)ns + 16;
        uint64_t r_top = ks - m < 1 ? 1 : (uint64_t)(ks - m);
        uint64_t r_bot = ks + m > (double)ns ? ns : (uint64_t)(ks + m);
        uint64_t ab;
        s->bhi[j] = r_top <= 1 ? 65535u : find_bin(h, r_top, &ab);
        s->blo[j] = find_bin(h, r_bot, &ab);
        uint64_t in = 0;
        for (uint32_t b = s->blo[j]; b <= s->bhi[j]; b++)
            in += h[b];
        // Expected candidates in the full pass must stay small.
        double cap = fmax((double)mg_select_collect_max, (double)c->numel / 8);
        s->active[j] = (double)in * (double)c->numel / (double)ns <= cap;
        any |= s->active[j];
    }
    if (any) {
        s->cand = mg_calloc(nch * nsel, sizeof *s->cand);
        s->ncand = mg_calloc(nch * nsel, sizeof *s->ncand);
        s->above = mg_calloc(nch * nsel, sizeof *s->above);
        s->phase = 5;
        o.stride = 0;
        st = mg_kpass(c, &o, sel_pass, s, err);
        for (size_t j = 0; j < nsel && !st; j++)
            if (s->active[j] && resolve_bracket(s, j, nch, k[j], out)) {
                was[j] = false;
                mg_select_sampled_hits++;
            }
        for (uint64_t i = 0; i < nch * nsel; i++)
            free(s->cand[i]);
        free(s->cand), free(s->ncand), free(s->above);
        s->cand = NULL;
    }
    for (size_t j = 0; j < nsel; j++)
        s->active[j] = was[j];
    free(was), free(s->blo), free(s->bhi);
    memset(s->hist, 0, (size_t)nth * nsel * 65536u * sizeof(uint64_t));
    s->phase = 0;
    return st;
}

/* ---- in-memory selection (tensors whose keys fit under mg_select_mem_max) ----
 * One pass stores every key; each selection is then settled in memory by an
 * exact radix select on the key bits (11 + 11 + 10 bits: 2048-bin histograms,
 * each digit only over the survivors of the previous one, kept in index order
 * so the tie cut is the need-th survivor). No second read of the inputs and no
 * 65536-bin histograms to clear and scan. */
uint64_t mg_select_mem_max = (uint64_t)256 << 20;

typedef struct mem_state {
    size_t nsel;
    mg_key_fn fn;
    void *user;
    const bool *active;
    float *keys; // [nsel][numel]
} mem_state;

static mg_status mem_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    mem_state *s = user;
    for (size_t j = 0; j < s->nsel; j++)
        if (s->active[j]) s->fn(s->user, c, ch, j, s->keys + j * c->numel + ch->begin);
    return MG_OK;
}

/* The bin (from the top) holding the need-th largest, need -= count above it. */
static uint32_t find_bin32(const uint32_t *h, uint32_t nb, uint64_t *need) {
    uint64_t acc = 0;
    for (uint32_t b = nb; b-- > 0;) {
        if (acc + h[b] >= *need) {
            *need -= acc;
            return b;
        }
        acc += h[b];
    }
    *need -= acc;
    return 0;
}

/* Exact top-k rule for keys[0..n), 1 <= k <= n < 2^32; tmp holds n + 1 entries. */
mg_select mg_select_radix(const uint32_t *kb, uint64_t n, uint64_t k, uint32_t *tmp) {
    uint32_t h[2048];
    memset(h, 0, sizeof h);
    for (uint64_t i = 0; i < n; i++)
        h[kb[i] >> 21]++;
    uint64_t need = k;
    uint32_t b1 = find_bin32(h, 2048, &need);
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++) { // branch-free compaction, index order kept
        tmp[m] = (uint32_t)i;
        m += (kb[i] >> 21) == b1;
    }
    memset(h, 0, sizeof h);
    for (uint64_t q = 0; q < m; q++)
        h[(kb[tmp[q]] >> 10) & 0x7ffu]++;
    uint32_t b2 = find_bin32(h, 2048, &need);
    uint64_t m2 = 0;
    for (uint64_t q = 0; q < m; q++) {
        uint32_t v = tmp[q];
        tmp[m2] = v;
        m2 += ((kb[v] >> 10) & 0x7ffu) == b2;
    }
    memset(h, 0, 1024 * sizeof h[0]);
    for (uint64_t q = 0; q < m2; q++)
        h[kb[tmp[q]] & 0x3ffu]++;
    uint32_t b3 = find_bin32(h, 1024, &need);
    mg_select r = {b1 << 21 | b2 << 10 | b3, UINT64_MAX};
    if (need < h[b3])
        for (uint64_t q = 0, left = need; q < m2; q++)
            if (kb[tmp[q]] == r.thr && --left == 0) {
                r.tie_cut = (uint64_t)tmp[q] + 1;
                break;
            }
    return r;
}

static mg_status select_in_memory(const mg_kernel_ctx *c, size_t nsel, const uint64_t *k,
                                  const bool *active, mg_key_fn fn, void *user, const bool *load,
                                  mg_select *out, mg_error *err) {
    mem_state s = {nsel, fn, user, active, NULL};
    s.keys = mg_malloc_array(nsel * c->numel, sizeof(float));
    mg_kpass_opts o = {.load = load};
    mg_status st = mg_kpass(c, &o, mem_pass, &s, err);
    if (!st) {
        int nth = omp_in_parallel() ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(nth)
        {
            uint32_t *tmp = mg_malloc_array(c->numel + 1, sizeof(uint32_t));
#pragma omp for schedule(dynamic, 1)
            for (size_t j = 0; j < nsel; j++)
                if (active[j])
                    out[j] =
                        mg_select_radix((const uint32_t *)(const void *)(s.keys + j * c->numel),
                                        c->numel, k[j], tmp);
            free(tmp);
        }
    }
    free(s.keys);
    return st;
}

static mg_status select_exact(const mg_kernel_ctx *c, size_t nsel, const uint64_t *k, mg_key_fn fn,
                              void *user, const bool *load, mg_select *out, mg_error *err) {
    {
        // Small enough to hold every key: one pass, settled in memory.
        bool *act = mg_calloc(nsel + 1, sizeof(bool));
        size_t na = 0;
        for (size_t j = 0; j < nsel; j++) {
            if (k[j] == 0)
                out[j] = (mg_select){UINT32_MAX, 0};
            else if (k[j] > c->numel)
                out[j] = (mg_select){0, UINT64_MAX};
            else
                act[j] = true, na++;
        }
        if (na == 0 || (c->numel < ((uint64_t)1 << 32) &&
                        (double)na * (double)c->numel * 4 <= (double)mg_select_mem_max)) {
            mg_status st = na ? select_in_memory(c, nsel, k, act, fn, user, load, out, err) : MG_OK;
            free(act);
            return st;
        }
        free(act);
    }
    uint64_t nch = mg_kpass_chunks(c, false, NULL);
    int nth = omp_get_max_threads();
    sel_state s = {.nsel = nsel, .fn = fn, .user = user};
    s.hist = mg_calloc((size_t)nth * nsel * 65536u, sizeof(uint64_t));
    s.hi = mg_calloc(nsel, sizeof(uint32_t));
    s.thr = mg_calloc(nsel, sizeof(uint32_t));
    s.active = mg_calloc(nsel, sizeof(bool));
    s.tie_counts = mg_calloc(nch * nsel + 1, sizeof(uint64_t));
    uint64_t *need = mg_calloc(nsel, sizeof(uint64_t));
    mg_kpass_opts o = {.rows = false, .write = false, .load = load, .scratch_per_elem = 1};
    mg_status st = MG_OK;
    size_t nactive = 0;
    for (size_t j = 0; j < nsel; j++) {
        if (k[j] == 0)
            out[j] = (mg_select){UINT32_MAX, 0};
        else if (k[j] > c->numel)
            out[j] = (mg_select){0, UINT64_MAX};
        else
            s.active[j] = true, nactive++;
    }
    if (!nactive) goto done;
    if (mg_select_sampling) {
        st = sampled(c, &s, nch, k, out, o, err);
        if (st) goto done;
        nactive = 0;
        for (size_t j = 0; j < nsel; j++)
            nactive += s.active[j];
        if (!nactive) goto done;
    }
    for (s.phase = 0; s.phase < 3; s.phase++) {
        if (s.phase == 1) memset(s.hist, 0, (size_t)nth * nsel * 65536u * sizeof(uint64_t));
        st = mg_kpass(c, &o, sel_pass, &s, err);
        if (st) goto done;
        for (size_t j = 0; j < nsel; j++) {
            if (!s.active[j]) continue;
            if (s.phase == 2) {
                // Walk chunks in order to the one holding the need[j]-th tie.
                uint64_t acc = 0, ci = 0;
                for (; ci < nch; ci++) {
                    uint64_t t = s.tie_counts[ci * nsel + j];
                    if (acc + t >= need[j]) break;
                    acc += t;
                }
                out[j].thr = s.thr[j];
                // Locate the exact element inside chunk ci (serial, one chunk).
                uint64_t chsz;
                mg_kpass_chunks(c, false, &chsz);
                uint64_t b = ci * chsz, cnt = c->numel - b < chsz ? c->numel - b : chsz;
                float **x = mg_calloc(c->n, sizeof *x);
                float *keys = mg_malloc(cnt * sizeof(float));
                for (size_t i = 0; i < c->n && !st; i++)
                    if (!load || load[i]) {
                        x[i] = mg_malloc(cnt * sizeof(float));
                        st = c->read(c->read_user, i, b, cnt, x[i], err);
                    }
                if (!st) {
                    mg_kchunk kc = {ci, b, cnt, x, NULL, keys, 0};
                    fn(user, c, &kc, j, keys);
                    uint64_t left = need[j] - acc, i = 0;
                    for (; i < cnt; i++)
                        if (fbits(keys[i]) == s.thr[j] && --left == 0) break;
                    out[j].tie_cut = b + i + 1;
                }
                for (size_t i = 0; i < c->n; i++)
                    free(x[i]);
                free(x);
                free(keys);
                if (st) goto done;
                continue;
            }
            uint64_t *h = s.hist + j * 65536u;
            for (int t = 1; t < nth; t++) {
                const uint64_t *ht = s.hist + ((size_t)t * nsel + j) * 65536u;
                for (size_t b = 0; b < 65536u; b++)
                    h[b] += ht[b];
            }
            uint64_t above;
            if (s.phase == 0) {
                s.hi[j] = find_bin(h, k[j], &above);
                need[j] = k[j] - above;
            } else {
                uint32_t lo = find_bin(h, need[j], &above);
                s.thr[j] = s.hi[j] << 16 | lo;
                need[j] -= above; // ties at thr still to keep
                if (need[j] == h[lo]) {
                    out[j] = (mg_select){s.thr[j], UINT64_MAX};
                    s.active[j] = false;
                }
            }
        }
        if (s.phase == 0) {
            st = collect(c, &s, nch, need, out, o, err);
            if (st) goto done;
        }
        bool any = false;
        for (size_t j = 0; j < nsel; j++)
            any |= s.active[j];
        if (!any) break;
    }
done:
    free(s.hist);
    free(s.hi);
    free(s.thr);
    free(s.active);
    free(s.tie_counts);
    free(need);
    return st;
}

/* Selections left over by the pivot stage, renumbered for select_exact. */
typedef struct rest_map {
    mg_key_fn fn;
    void *user;
    const size_t *map;
} rest_map;

static void rest_key(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, size_t j,
                     float *keys) {
    const rest_map *r = user;
    r->fn(r->user, c, ch, r->map[j], keys);
}

mg_status mg_select_topk(const mg_kernel_ctx *c, size_t nsel, const uint64_t *k, mg_key_fn fn,
                         void *user, const bool *load, mg_select *out, mg_error *err) {
    if (c->numel < mg_select_pivot_min || c->numel >> 32 || nsel == 0)
        return select_exact(c, nsel, k, fn, user, load, out, err);
    bool *done = mg_calloc(nsel, sizeof(bool));
    mg_status st = mg_select_pivot(c, nsel, k, fn, user, load, out, done, err);
    size_t nr = 0;
    for (size_t j = 0; j < nsel; j++)
        nr += !done[j];
    if (!st && nr) {
        size_t *map = mg_malloc_array(nr, sizeof(size_t));
        uint64_t *kr = mg_malloc_array(nr, sizeof(uint64_t));
        mg_select *outr = mg_calloc(nr, sizeof(mg_select));
        nr = 0;
        for (size_t j = 0; j < nsel; j++)
            if (!done[j]) map[nr] = j, kr[nr++] = k[j];
        rest_map r = {fn, user, map};
        st = select_exact(c, nr, kr, rest_key, &r, load, outr, err);
        for (size_t q = 0; q < nr && !st; q++)
            out[map[q]] = outr[q];
        free(map), free(kr), free(outr);
    }
    free(done);
    return st;
}

typedef struct {
    float key;
    uint64_t idx;
} kv;

static int kv_cmp(const void *a, const void *b) {
    const kv *x = a, *y = b;
    uint32_t bx = fbits(x->key), by = fbits(y->key);
    if (bx != by) return bx > by ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

mg_select mg_select_topk_array(const float *keys, uint64_t n, uint64_t k) {
    if (k == 0) return (mg_select){UINT32_MAX, 0};
    if (k >= n) return (mg_select){0, UINT64_MAX};
    kv *a = mg_malloc_array(n, sizeof *a);
    for (uint64_t i = 0; i < n; i++)
        a[i] = (kv){keys[i], i};
    qsort(a, n, sizeof *a, kv_cmp);
    mg_select s = {fbits(a[k - 1].key), a[k - 1].idx + 1};
    free(a);
    return s;
}

/* ---- Gram matrix ---- */

typedef struct gram_state {
    double *parts; // [nchunks][n*n]
} gram_state;

static mg_status gram_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    gram_state *g = user;
    double *p = g->parts + ch->index * c->n * c->n;
    for (size_t i = 0; i < c->n; i++)
        for (size_t j = i; j < c->n; j++) {
            const float *a = ch->x[i], *b = ch->x[j];
            double s = 0;
            for (uint64_t e = 0; e < ch->count; e++)
                s += (double)a[e] * b[e];
            p[i * c->n + j] = p[j * c->n + i] = s;
        }
    return MG_OK;
}

mg_status mg_kernel_gram(const mg_kernel_ctx *c, double *G, mg_error *err) {
    uint64_t nch = mg_kpass_chunks(c, false, NULL);
    gram_state g = {mg_calloc(nch * c->n * c->n + 1, sizeof(double))};
    mg_kpass_opts o = {0};
    mg_status st = mg_kpass(c, &o, gram_pass, &g, err);
    if (!st) mg_kpass_sum(g.parts, nch, c->n * c->n, c->n * c->n, G);
    free(g.parts);
    return st;
}

/* out = sum_i coef[i] * x_i, one pass. */
typedef struct comb_state {
    const double *coef;
} comb_state;

static mg_status comb_pass(void *user, const mg_kernel_ctx *c, const mg_kchunk *ch, mg_error *err) {
    (void)err;
    const comb_state *s = user;
    float *o = ch->out;
    for (uint64_t e = 0; e < ch->count; e++)
        o[e] = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (s->coef[i] == 0) continue;
        float w = (float)s->coef[i];
        const float *x = ch->x[i];
        for (uint64_t e = 0; e < ch->count; e++)
            o[e] += w * x[e];
    }
    return MG_OK;
}

mg_status mg_kernel_combine(const mg_kernel_ctx *c, const double *coef, mg_error *err) {
    bool *load = mg_calloc(c->n, sizeof(bool));
    for (size_t i = 0; i < c->n; i++)
        load[i] = coef[i] != 0;
    comb_state s = {coef};
    mg_kpass_opts o = {.write = true, .load = load};
    mg_status st = mg_kpass(c, &o, comb_pass, &s, err);
    free(load);
    return st;
}
