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

typedef struct outbuf {
    void *data;
    mg_dtype dt;
} outbuf;

static void out_write(void *user, uint64_t begin, uint64_t count, const float *src) {
    outbuf *o = user;
    switch (o->dt) {
    case MG_DTYPE_F32:
        memcpy((float *)o->data + begin, src, count * 4);
        break;
    case MG_DTYPE_BF16:
        mg_f32_to_bf16_array(src, (uint16_t *)o->data + begin, count);
        break;
    case MG_DTYPE_F16:
        mg_f32_to_f16_array(src, (uint16_t *)o->data + begin, count);
        break;
    default:
        break;
    }
}

/* A one-slot hand-off to a writer thread: tensor i is written while tensor
 * i + 1 is computed, so the shard writes overlap the merge (two output
 * buffers at most). */
typedef struct wq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mg_st_writer *w;
    bool has, quit;
    size_t idx;
    void *buf;
    mg_status st;
    mg_error err;
} wq;

static void *writer_main(void *arg) {
    wq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->has && !q->quit)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->has) break;
        size_t i = q->idx;
        void *buf = q->buf;
        pthread_mutex_unlock(&q->mu);
        mg_error e = {0};
        mg_status st = q->st ? MG_OK : mg_st_writer_write(q->w, i, buf, &e);
        free(buf);
        pthread_mutex_lock(&q->mu);
        if (st && !q->st) q->st = st, q->err = e;
        q->has = false;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Queues buf (taken) for tensor i; waits while the previous one is written. */
static mg_status wq_push(wq *q, size_t i, void *buf) {
    pthread_mutex_lock(&q->mu);
    while (q->has)
        pthread_cond_wait(&q->cv, &q->mu);
    q->idx = i, q->buf = buf, q->has = true;
    mg_status st = q->st;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return st;
}

/* Waits for the last write and stops the thread; returns the first error. */
static mg_status wq_finish(wq *q, pthread_t th, mg_error *err) {
    pthread_mutex_lock(&q->mu);
    while (q->has)
        pthread_cond_wait(&q->cv, &q->mu);
    q->quit = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(th, NULL);
    if (q->st && err) *err = q->err;
    return q->st;
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
    mg_progress prog;
    if (o->progress) mg_progress_begin(&prog, "merge", p->out_bytes, "B");
    uint64_t bytes_in = 0;
    wq q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .w = w};
    pthread_t th;
    if (pthread_create(&th, NULL, writer_main, &q)) {
        st = mg_error_set(err, MG_ERR_RUNTIME, "cannot start the writer thread");
        goto done;
    }
    bool write_failed = false; // st holds the writer's status, its message is in q.err
    for (size_t i = 0; i < p->n_tensors && !st; i++) {
        const mg_plan_tensor *T = &p->tensors[i];
        size_t nb = (size_t)T->numel * mg_dtype_size(T->out_dtype);
        outbuf ob = {mg_aligned_alloc(nb ? nb : 1), T->out_dtype};
        st = mg_plan_run_tensor(p, i, out_write, &ob, err);
        if (st) free(ob.data);
        else if ((st = wq_push(&q, i, ob.data))) {
            write_failed = true;
            break;
        }
        for (size_t k = 0; k < T->n_inputs; k++)
            bytes_in += T->inputs[k].view->nbytes;
        if (o->progress) mg_progress_add(&prog, nb);
    }
    mg_error werr = {0};
    mg_status wst = wq_finish(&q, th, &werr);
    if (wst && (!st || write_failed)) {
        st = wst;
        if (err) *err = werr;
    }
    if (o->progress) {
        if (st) mg_progress_abort(&prog); // the error is the one line to show
        else mg_progress_end(&prog);
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
