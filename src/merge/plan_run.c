/* plan_run.c - running one tensor of a built plan (plan.h): its inputs read
 * from the mapped files (or served from the input cache / resident arena),
 * widened to f32 with the non-finite check, then the method's kernel with the
 * caller's output sink. Building the plan is plan.c. */
#include "merge/plan.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/half.h"
#include "base/log.h"
#include "base/rng.h"
#include "merge/input_cache.h"
#include "merge/resident.h"

typedef struct runctx {
    const mg_plan *p;
    const mg_plan_tensor *T;
    float *out;
    bool round_bf16, round_f16;
    const float **whole;         // per input: cached f32 tensor, or NULL
    char **ids;                  // per input: its cache key (with whole)
    mg_resident *res;            // the plan's arena while this tensor holds it, else NULL
    const uint16_t **raw;        // per input: cached bf16 / f16 bytes (widened on read), or NULL
    _Atomic unsigned *nonfinite; // per input: NF_NAN | NF_INF seen in what was read
} runctx;

enum { NF_NAN = 1, NF_INF = 2 };

/* NF_* flags of x[0..n). The common case (all finite) is one vectorized
 * pass (mg_f32_any_nonfinite, AVX2 / AVX-512 when the CPU has them), run on
 * each chunk right after it is read and widened, while it is still in cache. */
static unsigned nonfinite_flags(const float *x, uint64_t n) {
    if (!mg_f32_any_nonfinite(x, (size_t)n)) return 0;
    unsigned f = 0;
    for (uint64_t i = 0; i < n && f != (NF_NAN | NF_INF); i++)
        f |= isnan(x[i]) ? NF_NAN : isinf(x[i]) ? NF_INF : 0;
    return f;
}

/* Per-thread staging buffer for raw input bytes. */
static _Thread_local uint8_t *stage_buf;
static _Thread_local size_t stage_cap;

static mg_status read_view(const mg_tensor_view *v, int fd, uint64_t begin, uint64_t count,
                           float *dst, mg_resident *res, size_t input) {
    size_t es = mg_dtype_size(v->dtype), nb = (size_t)count * es;
    mg_status rst = MG_OK;
    const uint8_t *src =
        res ? mg_resident_fetch(res, input, fd, v->file_offset, begin * es, nb, &rst) : NULL;
    if (rst) return rst;
    bool have = src != NULL; // kept from an earlier pass (or just read into the arena)
    if (have) {
        if (v->dtype == MG_DTYPE_F32) memcpy(dst, src, nb);
    } else if (v->dtype == MG_DTYPE_F32) {
        src = (uint8_t *)dst; // read straight into the destination
    } else {
        if (stage_cap < nb) {
            free(stage_buf);
            stage_cap = nb > ((size_t)1 << 20) ? nb : ((size_t)1 << 20);
            stage_buf = mg_malloc(stage_cap);
        }
        src = stage_buf;
    }
    uint64_t off = v->file_offset + begin * es;
    for (size_t got = have ? nb : 0; got < nb;) {
        ssize_t r = pread(fd, (uint8_t *)src + got, nb - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return MG_ERR_IO;
        if (r == 0) return MG_ERR_INVALID; // the file ends early: it shrank after validation
        got += (size_t)r;
    }
    switch (v->dtype) {
    case MG_DTYPE_F32:
        break;
    case MG_DTYPE_BF16:
        mg_bf16_to_f32_array((const uint16_t *)(const void *)src, dst, count);
        break;
    case MG_DTYPE_F16:
        mg_f16_to_f32_array((const uint16_t *)(const void *)src, dst, count);
        break;
    case MG_DTYPE_F64:
        for (uint64_t i = 0; i < count; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default:
        return MG_ERR_UNSUPPORTED;
    }
    return MG_OK;
}

static mg_status run_read(void *user, size_t model, uint64_t begin, uint64_t count, float *dst,
                          mg_error *err) {
    const runctx *r = user;
    const mg_plan_tensor *T = r->T;
    if (r->whole && r->whole[model]) {
        memcpy(dst, r->whole[model] + begin, count * sizeof(float));
        return MG_OK;
    }
    if (r->raw && r->raw[model]) { // no rounding left to do (see fill_whole)
        if (T->inputs[model].view->dtype == MG_DTYPE_BF16)
            mg_bf16_to_f32_array(r->raw[model] + begin, dst, count);
        else
            mg_f16_to_f32_array(r->raw[model] + begin, dst, count);
        return MG_OK;
    }
    const mg_tensor_view *v = T->inputs[model].view;
    mg_status st = MG_OK;
    if (v->numel == T->numel) {
        st = read_view(v, T->inputs[model].fd, begin, count, dst, r->res, model);
    } else {
        // Rectified embeddings: same columns, rows beyond this model's
        // vocabulary come from the tokenizer source.
        uint64_t cols = (uint64_t)T->shape[1], have = v->numel;
        uint64_t e = begin, end = begin + count;
        while (e < end && !st) {
            if (e < have) {
                uint64_t n = (end < have ? end : have) - e;
                st = read_view(v, T->inputs[model].fd, e, n, dst + (e - begin), NULL, 0);
                e += n;
            } else {
                st = read_view(T->inputs[T->fill].view, T->inputs[T->fill].fd, e, end - e,
                               dst + (e - begin), NULL, 0);
                e = end;
            }
        }
        (void)cols;
    }
    if (st == MG_ERR_INVALID) {
        struct stat fs;
        long long now = stat(v->file_path, &fs) == 0 ? (long long)fs.st_size : -1;
        return mg_error_set(err, st,
                            "%s: tensor '%s' (bytes %llu..%llu) is past the end of the file, now "
                            "%lld bytes: the file shrank while being read (inputs must not change "
                            "during a merge)",
                            v->file_path, v->name, (unsigned long long)v->file_offset,
                            (unsigned long long)(v->file_offset + v->nbytes), now);
    }
    if (st)
        return mg_error_set(err, st, "%s: tensor %s: cannot read (%s)", v->file_path, v->name,
                            st == MG_ERR_IO ? strerror(errno) : mg_dtype_name(v->dtype));
    // Checked before the dtype rounding below, which may itself overflow to
    // Inf (f32 values beyond f16's range): that is the config's choice, not
    // a defect of the input.
    unsigned nf = r->nonfinite ? nonfinite_flags(dst, count) : 0;
    if (nf) r->nonfinite[model] |= nf;
    // mergekit casts inputs to `dtype` on load; emulate the rounding (a no-op
    // when the checkpoint already has that dtype).
    if (v->dtype == MG_DTYPE_BF16 || v->dtype == MG_DTYPE_F16) {
        if ((r->round_bf16 && v->dtype == MG_DTYPE_BF16) ||
            (r->round_f16 && v->dtype == MG_DTYPE_F16))
            return MG_OK;
    }
    if (r->round_bf16)
        for (uint64_t i = 0; i < count; i++)
            dst[i] = mg_bf16_to_f32(mg_f32_to_bf16(dst[i]));
    else if (r->round_f16)
        for (uint64_t i = 0; i < count; i++)
            dst[i] = mg_f16_to_f32(mg_f32_to_f16(dst[i]));
    return MG_OK;
}

/* Input `model` as bf16 in memory (cached, or resident after a first pass),
 * when reading it would just widen those values. */
static const uint16_t *run_half(void *user, size_t model) {
    const runctx *r = user;
    const mg_tensor_view *v = r->T->inputs[model].view;
    if (v->dtype != MG_DTYPE_BF16 || r->round_f16 || v->numel != r->T->numel) return NULL;
    if (r->raw && r->raw[model]) return r->raw[model];
    if (r->res) return (const uint16_t *)(const void *)mg_resident_all(r->res, model);
    return NULL;
}

static void buf_write(void *user, uint64_t begin, uint64_t count, const float *src) {
    runctx *r = user;
    memcpy(r->out + begin, src, count * sizeof(float));
}

void mg_plan_set_cache(mg_plan *p, struct mg_input_cache *cache) {
    p->cache = cache;
}

static void free_whole(runctx *r, size_t n) {
    for (size_t q = 0; r->ids && q < n; q++)
        free(r->ids[q]);
    free(r->ids);
    free(r->whole);
    free(r->raw);
}

/* NF_* flags of n bf16 / f16 values (all exponent bits set: Inf, or NaN
 * when the mantissa is not 0), as nonfinite_flags gives for their widening. */
static unsigned half_nonfinite(const void *data, uint64_t n, mg_dtype dt) {
    const uint16_t *h = data;
    uint16_t ex = dt == MG_DTYPE_BF16 ? 0x7f80 : 0x7c00, man = dt == MG_DTYPE_BF16 ? 0x7f : 0x3ff;
    unsigned any = 0;
    for (uint64_t i = 0; i < n; i++)
        any |= (h[i] & ex) == ex;
    if (!any) return 0;
    unsigned f = 0;
    for (uint64_t i = 0; i < n; i++)
        if ((h[i] & ex) == ex) f |= (h[i] & man) ? NF_NAN : NF_INF;
    return f;
}

/* Input q's stored bytes from the cache, read into it when they fit. */
static mg_status fill_raw(const mg_plan *p, runctx *r, size_t q, const char *key, mg_error *err) {
    const mg_tensor_view *v = r->T->inputs[q].view;
    size_t len = strlen(key) + 8;
    char *rk = mg_malloc(len);
    snprintf(rk, len, "raw|%s", key);
    const void *hit = mg_input_cache_get_blob(p->cache, rk, v->nbytes);
    mg_status st = MG_OK;
    if (!hit && mg_input_cache_fits(p->cache, v->nbytes)) {
        uint8_t *buf = mg_malloc(v->nbytes ? v->nbytes : 1);
        int fd = r->T->inputs[q].fd;
        for (uint64_t got = 0; got < v->nbytes && !st;) {
            ssize_t k = pread(fd, buf + got, v->nbytes - got, (off_t)(v->file_offset + got));
            if (k < 0 && errno == EINTR) continue;
            if (k < 0)
                st = mg_error_set(err, MG_ERR_IO, "%s: tensor %s: cannot read (%s)", v->file_path,
                                  v->name, strerror(errno));
            else if (k == 0)
                st = mg_error_set(err, MG_ERR_INVALID,
                                  "%s: tensor '%s' is past the end of the file: the file shrank "
                                  "while being read (inputs must not change during a merge)",
                                  v->file_path, v->name);
            else
                got += (uint64_t)k;
        }
        if (!st && r->nonfinite) r->nonfinite[q] |= half_nonfinite(buf, v->numel, v->dtype);
        if (!st) hit = mg_input_cache_put_blob(p->cache, rk, v->nbytes, buf);
        if (!hit) free(buf);
    }
    r->raw[q] = hit;
    free(rk);
    return st;
}

/* Looks up (or reads and inserts) every input of T in the plan's cache. */
static mg_status fill_whole(const mg_plan *p, runctx *r, mg_error *err) {
    const mg_plan_tensor *T = r->T;
    r->whole = mg_calloc(T->n_inputs + 1, sizeof *r->whole);
    r->ids = mg_calloc(T->n_inputs + 1, sizeof *r->ids);
    r->raw = mg_calloc(T->n_inputs + 1, sizeof *r->raw);
    for (size_t q = 0; q < T->n_inputs; q++) {
        const mg_tensor_view *v = T->inputs[q].view;
        const mg_tensor_view *fv = T->fill >= 0 ? T->inputs[T->fill].view : NULL;
        bool rect = v->numel != T->numel && fv;
#define KEY_ARGS                                                                                   \
    "%s|%llu|%d|%s|%d%d|%s|%llu", v->file_path, (unsigned long long)v->file_offset, (int)v->dtype, \
        v->name, r->round_bf16, r->round_f16, rect ? fv->file_path : "",                           \
        rect ? (unsigned long long)fv->file_offset : 0ull
        int len = snprintf(NULL, 0, KEY_ARGS);
        char *key = mg_malloc((size_t)len + 1);
        snprintf(key, (size_t)len + 1, KEY_ARGS);
#undef KEY_ARGS
        r->ids[q] = key; // names the data for derived blobs, cached or not
        // bf16 / f16 inputs that need no rounding are kept as stored: half the
        // memory of f32, widened as they are read.
        bool half = (v->dtype == MG_DTYPE_BF16 && !r->round_f16) ||
                    (v->dtype == MG_DTYPE_F16 && !r->round_bf16);
        if (half && !rect && v->numel == T->numel) {
            mg_status st = fill_raw(p, r, q, key, err);
            if (st) return st;
            continue;
        }
        const float *hit = mg_input_cache_get(p->cache, key, T->numel);
        if (!hit && mg_input_cache_fits(p->cache, T->numel * sizeof(float))) {
            float *buf = mg_malloc_array(T->numel, sizeof(float));
            mg_status st = run_read(r, q, 0, T->numel, buf, err);
            if (!st) hit = mg_input_cache_put(p->cache, key, T->numel, buf);
            if (!hit) free(buf);
            if (st) return st;
        }
        r->whole[q] = hit;
    }
    return MG_OK;
}

/* After a tensor's kernel: inputs that held NaN or Inf make the merge fail
 * (they would spread into the output, silently for DARE/TIES-style methods
 * that rescale or sort by magnitude) unless allow_nonfinite is set, in which
 * case each is named in a warning. The error names the file and the tensor
 * and takes precedence over any kernel error the values may have caused. */
static mg_status nonfinite_verdict(const mg_plan *p, const runctx *r, mg_status st, mg_error *err) {
    const mg_plan_tensor *T = r->T;
    size_t first = T->n_inputs, count = 0;
    for (size_t q = 0; q < T->n_inputs; q++)
        if (r->nonfinite[q]) {
            if (first == T->n_inputs) first = q;
            count++;
        }
    if (!count) return st;
    static const char *const KIND[] = {"", "NaN", "Inf", "NaN and Inf"};
    if (!p->allow_nonfinite) {
        const mg_tensor_view *v = T->inputs[first].view;
        char more[64] = "";
        if (count > 1) snprintf(more, sizeof more, " (and %zu more inputs)", count - 1);
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: tensor '%s' has %s values%s; merging would spread them into "
                            "the output (merge --allow-nonfinite accepts them)",
                            v->file_path, v->name, KIND[r->nonfinite[first] & 3], more);
    }
    for (size_t q = 0; q < T->n_inputs; q++)
        if (r->nonfinite[q])
            mg_log_warn("%s: tensor '%s' has %s values; merging anyway (--allow-nonfinite)",
                        T->inputs[q].view->file_path, T->inputs[q].view->name,
                        KIND[r->nonfinite[q] & 3]);
    return st;
}

mg_status mg_plan_run_tensor(const mg_plan *p, size_t i,
                             void (*write)(void *user, uint64_t begin, uint64_t count,
                                           const float *src),
                             void *user, mg_error *err) {
    const mg_plan_tensor *T = &p->tensors[i];
    runctx r = {p, T, NULL, false, false, NULL, NULL, NULL, NULL, NULL};
    r.nonfinite = mg_calloc(T->n_inputs + 1, sizeof *r.nonfinite);
    if (p->cfg->has_dtype) {
        r.round_bf16 = p->cfg->dtype == MG_DTYPE_BF16;
        r.round_f16 = p->cfg->dtype == MG_DTYPE_F16;
    }
    if (p->cache && T->numel) {
        mg_status st = fill_whole(p, &r, err);
        if (st)
            mg_error_prefix(err, "tensor %s: ", T->name);
        else
            st = nonfinite_verdict(p, &r, st, err); // the kernel then reads the cache
        if (st) {
            free_whole(&r, T->n_inputs);
            free((void *)r.nonfinite);
            return st;
        }
        memset((void *)r.nonfinite, 0, (T->n_inputs + 1) * sizeof *r.nonfinite);
    }
    double(*m)[MG_P_COUNT] = mg_calloc(T->n_inputs + 1, sizeof *m);
    for (size_t q = 0; q < T->n_inputs; q++)
        memcpy(m[q], T->inputs[q].m, sizeof m[q]);
    mg_kernel_ctx c = {.n = T->n_inputs,
                       .base = T->base,
                       .numel = T->numel,
                       .m = (const double(*)[MG_P_COUNT])m,
                       .key = mg_rng_key(p->seed, T->name),
                       .read = run_read,
                       .read_user = &r,
                       .write = write,
                       .write_user = user,
                       .half = run_half,
                       .half_user = &r};
    c.cols = T->ndim ? (uint64_t)T->shape[T->ndim - 1] : 1;
    if (!c.cols) c.cols = 1;
    c.rows = T->numel / c.cols;
    memcpy(c.g, T->g, sizeof c.g);
    if (r.ids) {
        c.ids = (const char *const *)r.ids, c.memo = p->cache;
        c.whole = r.whole;
    }
    // Inputs read more than once by the kernel come from memory after the first pass.
    if (T->numel) {
        uint64_t *nb = mg_calloc(T->n_inputs + 1, sizeof(uint64_t));
        for (size_t q = 0; q < T->n_inputs; q++) {
            const mg_tensor_view *v = T->inputs[q].view;
            bool ok =
                v->numel == T->numel && !(r.whole && r.whole[q]) && !(r.raw && r.raw[q]) &&
                (v->dtype == MG_DTYPE_BF16 || v->dtype == MG_DTYPE_F16 || v->dtype == MG_DTYPE_F32);
            nb[q] = ok ? v->nbytes : 0;
        }
        if (mg_resident_begin(p->resident, T->n_inputs, nb)) r.res = p->resident;
        free(nb);
    }
    mg_status st = MG_OK;
    if (T->numel) st = p->cfg->method->kernel(&c, err);
    if (r.res) mg_resident_end(r.res);
    free(m);
    free_whole(&r, T->n_inputs);
    if (st) mg_error_prefix(err, "tensor %s: ", T->name);
    st = nonfinite_verdict(p, &r, st, err);
    free((void *)r.nonfinite);
    return st;
}

mg_status mg_plan_merge_tensor_f32(const mg_plan *p, size_t i, float *out, mg_error *err) {
    runctx r = {.out = out};
    return mg_plan_run_tensor(p, i, buf_write, &r, err);
}

mg_status mg_plan_merge_all_f32(const mg_plan *p, float *const *outs, mg_error *err) {
    for (size_t i = 0; i < p->n_tensors; i++) {
        mg_status st = mg_plan_merge_tensor_f32(p, i, outs[i], err);
        if (st) return st;
    }
    return MG_OK;
}
