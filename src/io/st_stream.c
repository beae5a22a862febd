/* st_stream.c - see st_stream.h. */
#include "io/st_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"

enum { SEG = 4 << 20, NSLOT = 8, ALIGN = 4096 };
#define RING ((uint64_t)SEG * NSLOT)

typedef struct sshard {
    char *path;
    uint64_t size;
    uint8_t *head;
    uint64_t head_len;
    int dfd, bfd; // O_DIRECT and ordinary descriptors
} sshard;

struct mg_st_stream {
    sshard *sh;
    size_t ns;
    uint8_t *ring, *ring_mem; // ring: ring_mem aligned for direct I/O
    uint64_t filled[NSLOT];   // bytes arrived in the segment held by each slot
    size_t cs;                // shard being streamed (ns: all done)
    uint64_t fq, nseg;        // its first unwritten segment, its segment count
    bool direct;              // O_DIRECT still accepted
    bool quit;
    mg_status st;
    mg_error err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool started;
};

static uint64_t seg_bytes(const mg_st_stream *s, uint64_t q) {
    uint64_t size = s->sh[s->cs].size, b = q * SEG;
    return size - b < SEG ? size - b : SEG;
}

static void fail_locked(mg_st_stream *s, int e, const char *path, const char *what) {
    if (!s->st) s->st = mg_error_set(&s->err, MG_ERR_IO, "%s: %s: %s", path, what, strerror(e));
    pthread_cond_broadcast(&s->cv);
}

/* Copies [off, off + n) of the current shard into the ring (no lock: the
 * bytes are reserved for the caller) and counts them. Caller holds mu. */
static void deposit_locked(mg_st_stream *s, uint64_t off, const uint8_t *src, uint64_t n) {
    for (uint64_t done = 0; done < n;) {
        uint64_t o = off + done, q = o / SEG, in = o - q * SEG;
        uint64_t m = SEG - in < n - done ? SEG - in : n - done;
        memcpy(s->ring + (q % NSLOT) * SEG + in, src + done, m);
        s->filled[q % NSLOT] += m;
        done += m;
    }
}

/* Starts streaming shard cs: empty ring, header bytes in place. */
static void begin_shard_locked(mg_st_stream *s) {
    memset(s->filled, 0, sizeof s->filled);
    s->fq = 0;
    if (s->cs >= s->ns) return;
    sshard *h = &s->sh[s->cs];
    s->nseg = (h->size + SEG - 1) / SEG;
    deposit_locked(s, 0, h->head, h->head_len);
}

static void *flusher(void *arg) {
    mg_st_stream *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->quit && !s->st && s->cs < s->ns &&
               !(s->fq < s->nseg && s->filled[s->fq % NSLOT] == seg_bytes(s, s->fq)) &&
               !(s->fq == s->nseg))
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit || s->st || s->cs >= s->ns) break;
        sshard *h = &s->sh[s->cs];
        if (s->fq == s->nseg) {
            // Shard complete: the padded last segment may have grown the file.
            if (ftruncate(h->bfd, (off_t)h->size) != 0) {
                fail_locked(s, errno, h->path, "cannot size file");
                break;
            }
            s->cs++;
            begin_shard_locked(s);
            pthread_cond_broadcast(&s->cv);
            continue;
        }
        uint64_t q = s->fq, len = seg_bytes(s, q);
        const uint8_t *src = s->ring + (q % NSLOT) * SEG;
        bool direct = s->direct;
        pthread_mutex_unlock(&s->mu);
        // Direct writes need aligned lengths: the last segment is padded past
        // the end (truncated back when the shard completes).
        uint64_t dlen = (len + ALIGN - 1) / ALIGN * ALIGN, done = 0;
        int werr = 0;
        while (done < len) {
            int fd = direct ? h->dfd : h->bfd;
            uint64_t want = direct ? dlen - done : len - done;
            ssize_t k = pwrite(fd, src + done, want, (off_t)(q * SEG + done));
            if (k < 0 && errno == EINTR) continue;
            if (k < 0 && direct && errno == EINVAL) {
                direct = false; // refused after all: ordinary writes from here on
                continue;
            }
            if (k <= 0) {
                werr = k < 0 ? errno : EIO;
                break;
            }
            done += (uint64_t)k;
            if (direct && done % ALIGN) direct = false; // short direct write: finish normally
        }
        pthread_mutex_lock(&s->mu);
        s->direct = direct;
        if (werr) {
            fail_locked(s, werr, h->path, "write failed");
            break;
        }
        s->filled[q % NSLOT] = 0;
        s->fq++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

mg_status mg_st_stream_open(const mg_st_stream_shard *shards, size_t n, mg_st_stream **out,
                            mg_error *err) {
    *out = NULL;
#ifndef O_DIRECT
    (void)shards, (void)n, (void)err;
    return MG_OK;
#else
    for (size_t i = 0; i < n; i++)
        if (shards[i].head_len > SEG) return MG_OK;
    mg_st_stream *s = mg_calloc(1, sizeof *s);
    s->sh = mg_calloc(n ? n : 1, sizeof *s->sh);
    s->ns = n;
    for (size_t i = 0; i < n; i++)
        s->sh[i].dfd = s->sh[i].bfd = -1;
    for (size_t i = 0; i < n; i++) {
        sshard *h = &s->sh[i];
        h->path = mg_strdup(shards[i].path);
        h->size = shards[i].size;
        h->head_len = shards[i].head_len;
        h->head = mg_malloc(h->head_len ? h->head_len : 1);
        memcpy(h->head, shards[i].head, h->head_len);
        h->dfd = open(h->path, O_WRONLY | O_DIRECT | O_CLOEXEC);
        if (h->dfd < 0) {
            mg_st_stream_free(s); // no direct I/O here: ordinary writes
            return MG_OK;
        }
        h->bfd = open(h->path, O_WRONLY | O_CLOEXEC);
        if (h->bfd < 0) {
            mg_status st =
                mg_error_set(err, MG_ERR_IO, "%s: cannot open: %s", h->path, strerror(errno));
            mg_st_stream_free(s);
            return st;
        }
    }
    s->ring_mem = mg_malloc(RING + ALIGN);
    s->ring = s->ring_mem + (ALIGN - (uintptr_t)s->ring_mem % ALIGN) % ALIGN;
    s->direct = true;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    begin_shard_locked(s);
    if (pthread_create(&s->th, NULL, flusher, s)) {
        mg_st_stream_free(s);
        return MG_OK;
    }
    s->started = true;
    *out = s;
    return MG_OK;
#endif
}

mg_status mg_st_stream_write(mg_st_stream *s, size_t shard, uint64_t off, const void *data,
                             uint64_t n, mg_error *err) {
    const uint8_t *p = data;
    for (uint64_t done = 0; done < n;) {
        uint64_t m = n - done < SEG ? n - done : SEG, o = off + done;
        pthread_mutex_lock(&s->mu);
        while (!s->st && (shard > s->cs || (shard == s->cs && o + m > s->fq * SEG + RING)))
            pthread_cond_wait(&s->cv, &s->mu);
        mg_status st = s->st;
        if (!st && shard < s->cs)
            st = mg_error_set(&s->err, MG_ERR_RUNTIME,
                              "%s: bytes arrived after the shard was "
                              "written",
                              s->sh[shard].path);
        if (st) {
            if (err) *err = s->err;
            pthread_mutex_unlock(&s->mu);
            return st;
        }
        // The bytes are ours: copy without the lock, then count them.
        pthread_mutex_unlock(&s->mu);
        for (uint64_t c = 0; c < m;) {
            uint64_t oc = o + c, q = oc / SEG, in = oc - q * SEG;
            uint64_t k = SEG - in < m - c ? SEG - in : m - c;
            memcpy(s->ring + (q % NSLOT) * SEG + in, p + done + c, k);
            c += k;
        }
        pthread_mutex_lock(&s->mu);
        for (uint64_t c = 0; c < m;) {
            uint64_t oc = o + c, q = oc / SEG, in = oc - q * SEG;
            uint64_t k = SEG - in < m - c ? SEG - in : m - c;
            s->filled[q % NSLOT] += k;
            c += k;
        }
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        done += m;
    }
    return MG_OK;
}

mg_status mg_st_stream_finish(mg_st_stream *s, mg_error *err) {
    pthread_mutex_lock(&s->mu);
    while (!s->st && s->cs < s->ns)
        pthread_cond_wait(&s->cv, &s->mu);
    mg_status st = s->st;
    if (st && err) *err = s->err;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < s->ns && !st; i++)
        if (fsync(s->sh[i].dfd) != 0)
            st = mg_error_set(err, MG_ERR_IO, "%s: fsync failed: %s", s->sh[i].path,
                              strerror(errno));
    mg_st_stream_free(s);
    return st;
}

void mg_st_stream_free(mg_st_stream *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->th, NULL);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    for (size_t i = 0; i < s->ns; i++) {
        if (s->sh[i].dfd >= 0) close(s->sh[i].dfd);
        if (s->sh[i].bfd >= 0) close(s->sh[i].bfd);
        free(s->sh[i].path);
        free(s->sh[i].head);
    }
    free(s->sh);
    free(s->ring_mem);
    free(s);
}
