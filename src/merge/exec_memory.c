/* exec_memory.c - the peak-memory estimate of a merge (see exec.h).
 *
 * The estimate follows the executor's allocations (exec.c, plan.c, kernel.c,
 * methods/), each bounded from above:
 *   - output: each chunk is converted in a per-thread buffer (a chunk of the
 *     output dtype) and handed to the shard writer, whose streaming mode
 *     holds a 32 MiB ring (io/st_stream.c); no output tensor is staged.
 *   - the resident arena (merge/resident.h): the raw inputs of the tensor
 *     being merged when they fit MG_PLAN_RESIDENT_BYTES; the arena is
 *     reused, so it stays at the largest such tensor for the whole run.
 *   - chunk buffers of a pass (mg_kpass): per thread, one f32 chunk per
 *     loaded input, one output chunk and scratch_per_elem chunks; threads =
 *     min(threads, chunks of the tensor); the chunk size comes from
 *     mg_kpass_chunks, so it tracks the kernel's.
 *   - per-method extras: top-k selection (TIES, breadcrumbs, SCE,
 *     arcee_fusion: in memory, nsel keys per element plus a u32 per element
 *     and thread, when under mg_select_mem_max; otherwise histograms and
 *     candidate lists), DARE masks (a bit per element and model), DELLA's
 *     per-chunk probabilities, nuslerp's per-column partial sums, and the
 *     per-row or per-chunk partial sums of the others.
 *   - fixed: the per-thread staging buffer of the input reader (plan.c,
 *     kept for the run: at least 1 MiB, else a chunk of the widest input),
 *     and a margin for thread stacks and allocator metadata.
 * The CLI fixes glibc's mmap threshold (cli/merge.c) so that freed buffers
 * leave the resident set; with the default dynamic threshold, freed tensors
 * can stay in the heap and the resident set exceed this bound.
 * Phases of one kernel do not overlap (selection, then the passes), so a
 * tensor's working set is the largest phase plus what lives across phases. */
#include <string.h>

#include "io/dtype.h"
#include "merge/exec.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"

#define MIB ((uint64_t)1 << 20)

static uint64_t max_u64(uint64_t a, uint64_t b) {
    return a > b ? a : b;
}

/* Chunk size (elements) and threads of a pass over T. */
static void pass_shape(const mg_plan_tensor *T, bool rows, int threads, uint64_t *ch, uint64_t *nth,
                       uint64_t *nch) {
    mg_kernel_ctx c = {.n = T->n_inputs, .numel = T->numel};
    c.cols = T->ndim ? (uint64_t)T->shape[T->ndim - 1] : 1;
    if (!c.cols) c.cols = 1;
    c.rows = T->numel / c.cols;
    *nch = mg_kpass_chunks(&c, rows, ch);
    *nth = (uint64_t)threads < *nch ? (uint64_t)threads : *nch;
    if (*nth == 0) *nth = 1;
}

/* Bytes of one pass: per thread, `bufs` f32 chunks. */
static uint64_t pass_bytes(const mg_plan_tensor *T, bool rows, int threads, uint64_t bufs) {
    uint64_t ch, nth, nch;
    pass_shape(T, rows, threads, &ch, &nth, &nch);
    return nth * ch * 4 * bufs + nth * T->n_inputs * 2 * sizeof(void *);
}

/* The exact paths of mg_select_topk for nsel selections (all active: an
 * upper bound). */
static uint64_t select_exact_bytes(const mg_plan_tensor *T, int threads, uint64_t nsel) {
    uint64_t n = T->n_inputs, numel = T->numel;
    if (numel < ((uint64_t)1 << 32) &&
        (double)nsel * (double)numel * 4 <= (double)mg_select_mem_max)
        // Keys of every selection, then one u32 index array per thread (omp
        // threads, not capped by the selection count); the loading pass
        // before it has freed its chunks.
        return nsel * numel * 4 +
               max_u64(pass_bytes(T, false, threads, n), (uint64_t)threads * (numel + 1) * 4);
    uint64_t ch, nth, nch;
    pass_shape(T, false, threads, &ch, &nth, &nch);
    uint64_t hist = (uint64_t)threads * nsel * 65536 * 8 + nch * nsel * 8 * 3;
    uint64_t cand = nsel * max_u64(mg_select_collect_max, numel / 8) * 8 * 2;
    return hist + cand + pass_bytes(T, false, threads, n + 1);
}

/* mg_select_topk: on big tensors the pivot stage (select_pivot.c: sorted
 * samples, per-chunk counts, the keys between pivots up to its cap, the
 * counting pass), whose memory is freed before a selection it cannot settle
 * goes to the exact paths; the bound assumes it settles them (a fallback is
 * a sampling accident) unless the exact paths would need no more anyway. */
static uint64_t select_bytes(const mg_plan_tensor *T, int threads, uint64_t nsel) {
    uint64_t numel = T->numel;
    if (numel < mg_select_pivot_min || numel >= ((uint64_t)1 << 32))
        return select_exact_bytes(T, threads, nsel);
    uint64_t ch, nth, nch;
    pass_shape(T, false, threads, &ch, &nth, &nch);
    // Gap keys: a few percent of the tensor in practice; the cap bounds it.
    uint64_t gaps = numel / 16 < ((uint64_t)1 << 20) ? numel / 16 : (uint64_t)1 << 20;
    return nsel * (131072 * 8 + gaps * 8) + nch * nsel * 64 +
           pass_bytes(T, false, threads, T->n_inputs + 1);
}

/* The largest working set of T's kernel (beside the output buffers). */
static uint64_t kernel_bytes(const mg_plan *p, const mg_plan_tensor *T, int threads) {
    mg_kernel_fn k = p->cfg->method->kernel;
    uint64_t n = T->n_inputs, K = n > 1 ? n - 1 : 1, numel = T->numel;
    uint64_t cols = T->ndim ? (uint64_t)T->shape[T->ndim - 1] : 1, rows = numel / (cols ? cols : 1);
    uint64_t ch, nth, nch;
    pass_shape(T, false, threads, &ch, &nth, &nch);
    uint64_t plain = pass_bytes(T, false, threads, n + 1); // load all, write
    if (k == mg_k_ties || k == mg_k_breadcrumbs || k == mg_k_breadcrumbs_ties ||
        k == mg_k_task_arithmetic || k == mg_k_dare_ties || k == mg_k_dare_linear ||
        k == mg_k_della || k == mg_k_della_linear) {
        bool della = k == mg_k_della || k == mg_k_della_linear;
        bool dare = k == mg_k_dare_ties || k == mg_k_dare_linear;
        bool bread = k == mg_k_breadcrumbs || k == mg_k_breadcrumbs_ties;
        uint64_t sel = 0;
        if (k == mg_k_ties) sel = select_bytes(T, threads, K);
        if (bread) sel = select_bytes(T, threads, 2 * K);
        // Combine pass: inputs, output, K + 3 scratch chunks (an upper bound:
        // the fused path of TIES / DARE / task arithmetic takes smaller chunks
        // and no scratch); DELLA adds a probability, a u32 and a (value,
        // index) per column in each chunk, DARE a mask byte per element; both
        // passes keep 2 partials per chunk and model, DARE one mask bit per
        // element and model.
        uint64_t comb = pass_bytes(T, della, threads, n + 1 + K + 3);
        uint64_t dch, dth, dnch;
        pass_shape(T, della, threads, &dch, &dth, &dnch);
        if (della) comb += dth * (dch * 8 + cols * 8);
        if (dare) comb += dth * dch + K * ((numel + 7) / 8);
        comb += dnch * K * 2 * 8;
        return max_u64(sel, comb);
    }
    if (k == mg_k_sce) {
        uint64_t parts = nch * (K + 1) * 8;
        return parts +
               max_u64(select_bytes(T, threads, 1), pass_bytes(T, false, threads, n + 2 + K));
    }
    if (k == mg_k_arcee_fusion)
        return (rows + 1) * 8 +
               max_u64(select_bytes(T, threads, 3), pass_bytes(T, false, threads, n + 2));
    if (k == mg_k_nuslerp) {
        uint64_t rch, rth, rnch;
        pass_shape(T, true, threads, &rch, &rth, &rnch);
        return rnch * 3 * cols * 8 + 3 * cols * 8 + pass_bytes(T, true, threads, n + 1);
    }
    if (k == mg_k_model_stock) return pass_bytes(T, true, threads, n + 1) + nch * n * n * 8;
    if (k == mg_k_ramplus_tl || k == mg_k_ram) return plain + nch * 2 * K * 8;
    // linear, slerp, multislerp, karcher, nearswap, passthrough and any new
    // method: one pass over every input with an output chunk, chunk partials.
    return plain + nch * n * n * 8;
}

void mg_merge_estimate_memory(const mg_plan *p, int threads, mg_merge_memory *m) {
    memset(m, 0, sizeof *m);
    if (threads < 1) threads = 1;
    m->threads = threads;
    uint64_t stage = MIB, arena = 0;
    for (size_t i = 0; i < p->n_tensors; i++) {
        const mg_plan_tensor *T = &p->tensors[i];
        uint64_t out = T->numel * mg_dtype_size(T->out_dtype);
        uint64_t work = T->numel ? kernel_bytes(p, T, threads) : 0;
        uint64_t ch, ch2, nth, nch;
        pass_shape(T, true, threads, &ch, &nth, &nch);
        pass_shape(T, false, threads, &ch2, &nth, &nch);
        // The output chunks being converted (one per thread).
        uint64_t conv = nth * max_u64(ch, ch2) * mg_dtype_size(T->out_dtype);
        if (conv + work > m->out_bytes + m->work_bytes) {
            m->out_bytes = conv;
            m->work_bytes = work;
            m->tensor = i;
        }
        if (out > m->biggest_bytes) m->biggest_bytes = out, m->biggest = i;
        uint64_t raw = 0;
        for (size_t q = 0; q < T->n_inputs; q++) {
            const mg_tensor_view *v = T->inputs[q].view;
            stage = max_u64(stage, max_u64(ch, ch2) * mg_dtype_size(v->dtype));
            raw += (v->nbytes + (64 << 10) - 1) / (64 << 10) * (64 << 10);
        }
        if (raw <= MG_PLAN_RESIDENT_BYTES) arena = max_u64(arena, raw);
    }
    // Plus the output ring, the resident arena, and what is not modelled:
    // touched thread stacks, allocator metadata, small per-pass arrays
    // (1 MiB + 256 KiB per thread).
    m->fixed_bytes = (uint64_t)threads * (stage + MIB / 4) + MIB + 32 * MIB + arena;
    m->peak = m->out_bytes + m->work_bytes + m->fixed_bytes;
}
