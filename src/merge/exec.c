/* exec.c - see exec.h. */
#include "merge/exec.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "base/log.h"
#include "io/safetensors.h"
#include "merge/card.h"

/* Output sink: each kernel chunk is converted to the output dtype in a
 * stack buffer and written at its place in the shard by the thread that
 * computed it (no whole-tensor staging buffer, no hand-off). Errors are kept
 * (the first one) and checked after the tensor. */
typedef struct outctx {
    mg_st_writer *w;
    size_t idx;
    mg_dtype dt;
    pthread_mutex_t mu;
    mg_status st;
    mg_error err;
} outctx;

static void out_write(void *user, uint64_t begin, uint64_t count, const float *src) {
    outctx *o = user;
    size_t es = mg_dtype_size(o->dt);
    mg_error e = {0};
    mg_status st = MG_OK;
    if (o->dt == MG_DTYPE_F32) {
        st = mg_st_writer_write_part(o->w, o->idx, begin * es, src, count * es, &e);
    } else {
        // Converted in pieces on the stack (no per-thread buffer to keep).
        enum { PIECE = 16384 };
        uint16_t h[PIECE];
        for (uint64_t i = 0; i < count && !st; i += PIECE) {
            size_t n = count - i < PIECE ? (size_t)(count - i) : PIECE;
            if (o->dt == MG_DTYPE_BF16)
                mg_f32_to_bf16_array(src + i, h, n);
            else
                mg_f32_to_f16_array(src + i, h, n);
            st = mg_st_writer_write_part(o->w, o->idx, (begin + i) * es, h, n * es, &e);
        }
    }
    if (st) {
        pthread_mutex_lock(&o->mu);
        if (!o->st) o->st = st, o->err = e;
        pthread_mutex_unlock(&o->mu);
    }
}

static const char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *s = path + n;
    while (s > path && s[-1] != '/')
        s--;
    return s;
}

mg_status mg_merge_execute(const mg_plan *p, const char *out_dir, const mg_merge_opts *o,
                           mg_merge_stats *stats, mg_error *err) {
    double t0 = mg_now_seconds();
    mg_atomic_out *ao = NULL;
    mg_st_writer *w = NULL;
    mg_tensor_spec *specs = mg_calloc(p->n_tensors + 1, sizeof *specs);
    mg_status st = mg_atomic_begin(out_dir, true, o->force, &ao, err);
    if (st) goto done;
    const char *tmp = mg_atomic_tmp_path(ao);
    chmod(tmp, 0755); // a model folder others may read, not mkdtemp's 0700
    for (size_t i = 0; i < p->n_tensors; i++) {
        const mg_plan_tensor *T = &p->tensors[i];
        specs[i].name = T->name;
        specs[i].dtype = T->out_dtype;
        specs[i].ndim = T->ndim;
        memcpy(specs[i].shape, T->shape, sizeof specs[i].shape);
    }
    st = mg_st_writer_open(tmp, specs, p->n_tensors, o->shard_size ? o->shard_size : 5000000000ull,
                           &w, err);
    if (st) goto done;
    if (!o->buffered && (st = mg_st_writer_stream(w, err))) goto done;
    mg_progress prog;
    if (o->progress) mg_progress_begin(&prog, "merge", p->out_bytes, "B");
    uint64_t bytes_in = 0;
    outctx oc = {.w = w, .mu = PTHREAD_MUTEX_INITIALIZER};
    for (size_t i = 0; i < p->n_tensors && !st; i++) {
        const mg_plan_tensor *T = &p->tensors[i];
        size_t nb = (size_t)T->numel * mg_dtype_size(T->out_dtype);
        oc.idx = i, oc.dt = T->out_dtype;
        if (T->numel == 0) {
            st = mg_st_writer_write(w, i, NULL, err);
        } else {
            st = mg_plan_run_tensor(p, i, out_write, &oc, err);
            if (!st && oc.st) {
                st = oc.st;
                if (err) *err = oc.err;
            }
            // The tensor is complete: let the disk take it while the next
            // one is merged, so the closing fsync is short.
            if (!st) mg_st_writer_start_writeback(w, i);
        }
        for (size_t k = 0; k < T->n_inputs; k++)
            bytes_in += T->inputs[k].view->nbytes;
        if (o->progress) mg_progress_add(&prog, nb);
    }
    pthread_mutex_destroy(&oc.mu);
    if (o->progress) {
        if (st)
            mg_progress_abort(&prog); // the error is the one line to show
        else
            mg_progress_end(&prog);
    }
    if (st) goto done;
    size_t shards = mg_st_writer_shard_count(w);
    st = mg_st_writer_finish(w, err);
    w = NULL;
    if (st) goto done;
    st = mg_merge_write_metadata(p, tmp, base_name(out_dir), err);
    if (st) goto done;
    st = mg_atomic_commit(ao, err);
    ao = NULL;
    if (!st && stats) {
        stats->seconds = mg_now_seconds() - t0;
        stats->bytes_in = bytes_in;
        stats->bytes_out = p->out_bytes;
        stats->shards = shards;
    }
done:
    if (st && ao) mg_atomic_name_final(ao, err); // errors name OUT_DIR, not its temporary
    mg_st_writer_free(w);
    mg_atomic_abort(ao);
    free(specs);
    return st;
}
