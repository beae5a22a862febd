/* sigbus.c - see sigbus.h. */
#include "base/sigbus.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct slot {
    _Atomic uintptr_t start; // 0 = free; published last, cleared first
    uint64_t len;
    const char *path;
} slot;

static slot g_slots[MG_SIGBUS_SLOTS];
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

void mg_sigbus_track(const void *start, uint64_t len, const char *path) {
    if (!start) return;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < MG_SIGBUS_SLOTS; i++)
        if (!atomic_load(&g_slots[i].start)) {
            g_slots[i].len = len;
            g_slots[i].path = path;
            atomic_store(&g_slots[i].start, (uintptr_t)start);
            break;
        }
    pthread_mutex_unlock(&g_mu);
}

void mg_sigbus_untrack(const void *start) {
    if (!start) return;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < MG_SIGBUS_SLOTS; i++)
        if (atomic_load(&g_slots[i].start) == (uintptr_t)start) {
            atomic_store(&g_slots[i].start, 0);
            break;
        }
    pthread_mutex_unlock(&g_mu);
}

/* ---- the handler: async-signal-safe string building ---- */

typedef struct sbuf {
    char b[1536];
    size_t n;
} sbuf;

static void put(sbuf *s, const char *t) {
    while (*t && s->n < sizeof s->b - 2)
        s->b[s->n++] = *t++;
}

static void put_u64(sbuf *s, uint64_t v) {
    char d[24];
    int k = 0;
    do {
        d[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k && s->n < sizeof s->b - 2)
        s->b[s->n++] = d[--k];
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx) {
    (void)sig, (void)ctx;
    uintptr_t a = (uintptr_t)si->si_addr;
    const slot *hit = NULL;
    for (size_t i = 0; i < MG_SIGBUS_SLOTS && !hit; i++) {
        uintptr_t s = atomic_load(&g_slots[i].start);
        if (s && a >= s && a - s < g_slots[i].len) hit = &g_slots[i];
    }
    sbuf m = {.n = 0};
    int code = 1;
    put(&m, "mergeguard: error: ");
    if (!hit) {
        put(&m, "bus error reading a memory-mapped file (an input changed while being read, or "
                "the disk failed)");
    } else {
        struct stat st;
        put(&m, hit->path);
        if (stat(hit->path, &st) == 0 && (uint64_t)st.st_size < hit->len) {
            put(&m, ": the file shrank from ");
            put_u64(&m, hit->len);
            put(&m, " to ");
            put_u64(&m, (uint64_t)st.st_size);
            put(&m, " bytes while being read (inputs must not change during a run)");
            code = 2;
        } else {
            put(&m, ": reading the memory-mapped file failed at byte ");
            put_u64(&m, (uint64_t)(a - atomic_load(&hit->start)));
            put(&m, " (a disk I/O error, or the file was replaced while being read)");
        }
    }
    m.b[m.n++] = '\n';
    ssize_t w = write(STDERR_FILENO, m.b, m.n);
    (void)w;
    _exit(code);
}

void mg_sigbus_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}
