/* file.c - see file.h. */
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/sigbus.h"
#include "base/log.h"

static int advice_flag(mg_mmap_advice advice) {
    switch (advice) {
    case MG_ADVISE_SEQUENTIAL: return MADV_SEQUENTIAL;
    case MG_ADVISE_RANDOM: return MADV_RANDOM;
    case MG_ADVISE_WILLNEED: return MADV_WILLNEED;
    default: return MADV_NORMAL;
    }
}

mg_status mg_mmap_open(mg_mmap *m, const char *path, mg_mmap_advice advice, mg_error *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mg_error_set(err, errno == ENOENT ? MG_ERR_NOT_FOUND : MG_ERR_IO,
                            "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mg_error_set(err, MG_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mg_error_set(err, MG_ERR_INVALID, "%s: not a regular file", path);
    }
    m->path = mg_strdup(path);
    m->size = (uint64_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            mg_mmap_close(m);
            return mg_error_set(err, MG_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        m->data = p;
        mg_sigbus_track(p, m->size, m->path); // a later truncation: a message, not a crash
        madvise(p, m->size, advice_flag(advice));
    }
    close(fd); // the mapping keeps the file alive
    return MG_OK;
}

void mg_mmap_advise(const mg_mmap *m, uint64_t offset, uint64_t len, mg_mmap_advice advice) {
    if (!m->data || offset >= m->size) return;
    if (len > m->size - offset) len = m->size - offset;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t start = offset & ~(uint64_t)(page - 1); // madvise needs a page-aligned start
    madvise((void *)(m->data + start), len + (offset - start), advice_flag(advice));
}

void mg_mmap_close(mg_mmap *m) {
    if (!m) return;
    if (m->data) {
        mg_sigbus_untrack(m->data);
        munmap((void *)m->data, m->size);
    }
    free(m->path);
    memset(m, 0, sizeof *m);
}

mg_status mg_file_read_all(const char *path, uint64_t max_bytes, char **out, size_t *len,
                           mg_error *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mg_error_set(err, errno == ENOENT ? MG_ERR_NOT_FOUND : MG_ERR_IO,
                            "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mg_error_set(err, MG_ERR_INVALID, "%s: not a regular file", path);
    }
    if (max_bytes && (uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return mg_error_set(err, MG_ERR_INVALID, "%s: file is %lld bytes, limit is %llu", path,
                            (long long)st.st_size, (unsigned long long)max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = mg_malloc(n + 1);
    size_t got = fread(buf, 1, n, f);
    int failed = ferror(f);
    fclose(f);
    if (got != n || failed) {
        free(buf);
        return mg_error_set(err, MG_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return MG_OK;
}

bool mg_path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

bool mg_path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool mg_path_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *mg_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/') a--;
    char *p = mg_malloc(a + b + 2);
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

mg_status mg_mkdir_p(const char *path, mg_error *err) {
    char *tmp = mg_strdup(path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) goto fail;
    free(tmp);
    return MG_OK;
fail:;
    int e = errno;
    mg_error_set(err, MG_ERR_IO, "%s: cannot create directory: %s", tmp, strerror(e));
    free(tmp);
    return MG_ERR_IO;
}

mg_status mg_remove_tree(const char *path, mg_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return MG_OK;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return mg_error_set(err, MG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *child = mg_path_join(path, e->d_name);
            mg_status st2 = mg_remove_tree(child, err);
            free(child);
            if (st2 != MG_OK) {
                closedir(d);
                return st2;
            }
        }
        closedir(d);
        if (rmdir(path) != 0)
            return mg_error_set(err, MG_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    } else if (unlink(path) != 0) {
        return mg_error_set(err, MG_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    }
    return MG_OK;
}

mg_status mg_fsync_path(const char *path, mg_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mg_error_set(err, MG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    // Some file systems refuse fsync on directories (EINVAL); that is not data loss.
    if (rc != 0 && e != EINVAL)
        return mg_error_set(err, MG_ERR_IO, "%s: fsync failed: %s", path, strerror(e));
    return MG_OK;
}

static mg_status fsync_tree(const char *path, mg_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return MG_OK;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return mg_error_set(err, MG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        struct dirent *e;
        mg_status rc = MG_OK;
        while (rc == MG_OK && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *child = mg_path_join(path, e->d_name);
            rc = fsync_tree(child, err);
            free(child);
        }
        closedir(d);
        if (rc != MG_OK) return rc;
    }
    if (S_ISLNK(st.st_mode)) return MG_OK;
    return mg_fsync_path(path, err);
}

struct mg_atomic_out {
    char *final_path;
    char *tmp_path;
    bool force;
};

static char *parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return mg_strdup(".");
    if (slash == path) return mg_strdup("/");
    return mg_strndup(path, (size_t)(slash - path));
}

/* Parses ".BASE.KIND-PID-XXXXXX" (KIND "tmp" or "old"); returns the pid or 0. */
static long sibling_pid(const char *name, const char *base, const char *kind) {
    size_t bl = strlen(base), kl = strlen(kind);
    if (name[0] != '.' || strncmp(name + 1, base, bl) != 0 || name[1 + bl] != '.' ||
        strncmp(name + 2 + bl, kind, kl) != 0 || name[2 + bl + kl] != '-')
        return 0;
    const char *p = name + 3 + bl + kl;
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p || *end != '-' || strlen(end + 1) != 6 || pid <= 0) return 0;
    return pid;
}

/* The NAME of a ".NAME.tmp-..." / ".NAME.old-..." entry, into buf; false
 * when the entry is not one. */
static bool sibling_base(const char *entry, char *buf, size_t cap) {
    const char *t = entry[0] == '.' ? strstr(entry + 1, ".tmp-") : NULL;
    const char *o = entry[0] == '.' ? strstr(entry + 1, ".old-") : NULL;
    const char *k = t && (!o || t < o) ? t : o;
    if (!k || k == entry + 1 || (size_t)(k - entry - 1) >= cap) return false;
    memcpy(buf, entry + 1, (size_t)(k - entry - 1));
    buf[k - entry - 1] = 0;
    return true;
}

/* Cleans what a killed writer left in `parent`, of the output named `base`
 * (NULL: of any output): temporaries (".NAME.tmp-PID-XXXXXX") are removed;
 * an old output moved aside by the swap fallback (".NAME.old-PID-XXXXXX") is
 * put back when NAME is missing, else removed. Only entries whose PID no
 * longer runs are touched, so a concurrent writer on this machine is left
 * alone. Best effort. */
static void clean_stale_siblings(const char *parent, const char *base) {
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    char any[NAME_MAX + 1];
    while ((e = readdir(d))) {
        const char *b = base;
        if (!b && !sibling_base(e->d_name, any, sizeof any)) continue;
        if (!b) b = any;
        long pid = sibling_pid(e->d_name, b, "tmp");
        bool old = false;
        if (!pid) pid = sibling_pid(e->d_name, b, "old"), old = true;
        if (!pid || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *path = mg_path_join(parent, e->d_name), *final = mg_path_join(parent, b);
        if (old && !mg_path_exists(final) && rename(path, final) == 0) {
            mg_log_warn("%s: restored the previous output from %s (a replacement was "
                        "interrupted)",
                        final, path);
        } else if (mg_remove_tree(path, NULL) == MG_OK) {
            mg_log_info("removed %s, left by an interrupted run (pid %ld)", path, pid);
        }
        free(path);
        free(final);
    }
    closedir(d);
}

void mg_atomic_clean_dir(const char *dir) {
    clean_stale_siblings(dir, NULL);
}

mg_status mg_atomic_begin(const char *final_path, bool is_dir, bool force, mg_atomic_out **out,
                          mg_error *err) {
    *out = NULL;
    size_t n = strlen(final_path);
    while (n > 1 && final_path[n - 1] == '/') n--;
    char *final = mg_strndup(final_path, n);
    char *parent = parent_dir(final);
    const char *base = strrchr(final, '/') ? strrchr(final, '/') + 1 : final;
    if (mg_path_is_dir(parent)) clean_stale_siblings(parent, base);
    if (mg_path_exists(final) && !force) {
        mg_error_set(err, MG_ERR_EXISTS, "%s: already exists (use --force to replace it)", final);
        free(parent);
        free(final);
        return MG_ERR_EXISTS;
    }
    if (!mg_path_is_dir(parent)) {
        mg_error_set(err, MG_ERR_NOT_FOUND, "%s: parent directory %s does not exist", final,
                     parent);
        free(parent);
        free(final);
        return MG_ERR_NOT_FOUND;
    }
    size_t tn = strlen(parent) + strlen(base) + 48;
    char *tmp = mg_malloc(tn);
    snprintf(tmp, tn, "%s/.%s.tmp-%ld-XXXXXX", parent, base, (long)getpid());
    free(parent);
    if (is_dir) {
        if (!mkdtemp(tmp)) goto fail;
    } else {
        int fd = mkstemp(tmp);
        if (fd < 0) goto fail;
        fchmod(fd, 0644); // mkstemp creates 0600; outputs are ordinary files
        close(fd);
    }
    mg_atomic_out *o = mg_calloc(1, sizeof *o);
    o->final_path = final;
    o->tmp_path = tmp;
    o->force = force;
    *out = o;
    mg_test_kill_point("atomic output started");
    return MG_OK;
fail:;
    int e = errno;
    mg_error_set(err, MG_ERR_IO, "%s: cannot create temporary output: %s", final, strerror(e));
    free(tmp);
    free(final);
    return MG_ERR_IO;
}

const char *mg_atomic_tmp_path(const mg_atomic_out *o) {
    return o->tmp_path;
}

static void atomic_free(mg_atomic_out *o) {
    free(o->final_path);
    free(o->tmp_path);
    free(o);
}

/* Replacement without renameat2(RENAME_EXCHANGE) (file systems that lack it):
 * the old output is renamed aside, the new one into place, then the old one
 * removed. A kill between the two renames leaves the old output under
 * ".NAME.old-PID-XXXXXX", which the next mg_atomic_begin on NAME puts back. */
static mg_status replace_by_renames(mg_atomic_out *o, mg_error *err) {
    char *parent = parent_dir(o->final_path);
    const char *base =
        strrchr(o->final_path, '/') ? strrchr(o->final_path, '/') + 1 : o->final_path;
    size_t n = strlen(parent) + strlen(base) + 48;
    char *aside = mg_malloc(n);
    snprintf(aside, n, "%s/.%s.old-%ld-XXXXXX", parent, base, (long)getpid());
    mg_status rc = MG_OK;
    // mkdtemp reserves a unique name; rename() then replaces the empty directory
    // (a file may not replace a directory, so files get a reserved file name).
    bool dir = mg_path_is_dir(o->final_path);
    int fd = -1;
    if (dir ? !mkdtemp(aside) : (fd = mkstemp(aside)) < 0) {
        rc = mg_error_set(err, MG_ERR_IO, "%s: cannot reserve a name to move it aside: %s",
                          o->final_path, strerror(errno));
        goto done;
    }
    if (fd >= 0) close(fd);
    if (rename(o->final_path, aside) != 0) {
        rc = mg_error_set(err, MG_ERR_IO, "%s: cannot move the old output aside: %s", o->final_path,
                          strerror(errno));
        rmdir(aside), unlink(aside);
        goto done;
    }
    mg_test_kill_point("atomic output: old moved aside");
    if (rename(o->tmp_path, o->final_path) != 0) {
        rc = mg_error_set(err, MG_ERR_IO, "%s: cannot rename into place: %s", o->final_path,
                          strerror(errno));
        rename(aside, o->final_path); // put the old one back
        goto done;
    }
    mg_fsync_path(parent, NULL);
    mg_test_kill_point("atomic output: new renamed in");
    mg_remove_tree(aside, NULL);
done:
    free(aside);
    free(parent);
    return rc;
}

mg_status mg_atomic_commit(mg_atomic_out *o, mg_error *err) {
    mg_status rc = fsync_tree(o->tmp_path, err);
    if (rc != MG_OK) goto fail;
    mg_test_kill_point("atomic output: synced");
    if (mg_path_exists(o->final_path)) {
        if (!o->force) {
            rc = mg_error_set(err, MG_ERR_EXISTS, "%s: appeared while writing; not replaced",
                              o->final_path);
            goto fail;
        }
        // Swap in one step: the old output survives until the swap is durable.
        static const char *no_exchange_env = "MERGEGUARD_TEST_NO_EXCHANGE";
        int e = ENOSYS;
        if (!getenv(no_exchange_env) &&
            renameat2(AT_FDCWD, o->tmp_path, AT_FDCWD, o->final_path, RENAME_EXCHANGE) == 0) {
            char *parent = parent_dir(o->final_path);
            mg_fsync_path(parent, NULL);
            free(parent);
            mg_test_kill_point("atomic output: swapped");
            // tmp_path now holds the old output.
            mg_remove_tree(o->tmp_path, NULL);
        } else {
            if (!getenv(no_exchange_env)) e = errno;
            if (e != EINVAL && e != ENOSYS && e != EOPNOTSUPP) {
                rc = mg_error_set(err, MG_ERR_IO, "%s: cannot swap in new output: %s",
                                  o->final_path, strerror(e));
                goto fail;
            }
            if ((rc = replace_by_renames(o, err)) != MG_OK) goto fail;
        }
    } else {
        if (rename(o->tmp_path, o->final_path) != 0) {
            rc = mg_error_set(err, MG_ERR_IO, "%s: cannot rename into place: %s", o->final_path,
                              strerror(errno));
            goto fail;
        }
        char *parent = parent_dir(o->final_path);
        mg_fsync_path(parent, NULL);
        free(parent);
        mg_test_kill_point("atomic output: renamed");
    }
    atomic_free(o);
    return MG_OK;
fail:
    mg_atomic_name_final(o, err);
    mg_atomic_abort(o);
    return rc;
}

void mg_atomic_name_final(const mg_atomic_out *o, mg_error *err) {
    if (!o || !err) return;
    size_t tl = strlen(o->tmp_path), fl = strlen(o->final_path);
    char *hit = strstr(err->msg, o->tmp_path);
    // One rewrite is enough: messages name one path. The final path is never
    // longer than the temporary (".NAME.tmp-PID-XXXXXX" vs "NAME").
    if (!hit || fl > tl) return;
    memmove(hit + fl, hit + tl, strlen(hit + tl) + 1);
    memcpy(hit, o->final_path, fl);
}

void mg_atomic_abort(mg_atomic_out *o) {
    if (!o) return;
    mg_remove_tree(o->tmp_path, NULL);
    atomic_free(o);
}

mg_status mg_write_file_atomic(const char *path, const void *data, size_t len, bool force,
                               mg_error *err) {
    mg_atomic_out *o;
    mg_status rc = mg_atomic_begin(path, false, force, &o, err);
    if (rc != MG_OK) return rc;
    int fd = open(mg_atomic_tmp_path(o), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        rc = mg_error_set(err, MG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        mg_atomic_abort(o);
        return rc;
    }
    rc = mg_write_all(fd, data, len, path, err);
    if (close(fd) != 0 && rc == MG_OK)
        rc = mg_error_set(err, MG_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (rc != MG_OK) {
        mg_atomic_abort(o);
        return rc;
    }
    return mg_atomic_commit(o, err);
}

mg_status mg_write_all(int fd, const void *data, size_t len, const char *what, mg_error *err) {
    const char *p = data;
    while (len > 0) {
        ssize_t k = write(fd, p, len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return mg_error_set(err, MG_ERR_IO, "%s: write failed: %s", what,
                                k < 0 ? strerror(errno) : "no progress");
        p += k;
        len -= (size_t)k;
    }
    return MG_OK;
}

/* ---- test-only kill points ---- */

static _Atomic long kill_at = -2; // -2: environment not read yet, -1: off
static _Atomic long kill_count;
static _Atomic int kill_trace;

void mg_test_kill_point(const char *what) {
    long at = atomic_load(&kill_at);
    if (at == -2) {
        const char *s = getenv("MERGEGUARD_TEST_KILL_AT");
        const char *t = getenv("MERGEGUARD_TEST_KILL_TRACE");
        atomic_store(&kill_trace, t && *t && strcmp(t, "0") != 0);
        at = s && *s ? strtol(s, NULL, 10) : -1;
        if (at <= 0) at = -1;
        atomic_store(&kill_at, at);
    }
    int trace = atomic_load(&kill_trace);
    if (at < 0 && !trace) return;
    long n = atomic_fetch_add(&kill_count, 1) + 1;
    if (trace) fprintf(stderr, "kill point %ld: %s\n", n, what);
    if (n == at) raise(SIGKILL);
}
