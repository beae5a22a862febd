/* file.c - see file.h. */
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/sigbus.h"

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

mg_status mg_atomic_begin(const char *final_path, bool is_dir, bool force, mg_atomic_out **out,
                          mg_error *err) {
    *out = NULL;
    size_t n = strlen(final_path);
    while (n > 1 && final_path[n - 1] == '/') n--;
    char *final = mg_strndup(final_path, n);
    if (mg_path_exists(final) && !force) {
        mg_error_set(err, MG_ERR_EXISTS, "%s: already exists (use --force to replace it)", final);
        free(final);
        return MG_ERR_EXISTS;
    }
    char *parent = parent_dir(final);
    if (!mg_path_is_dir(parent)) {
        mg_error_set(err, MG_ERR_NOT_FOUND, "%s: parent directory %s does not exist", final,
                     parent);
        free(parent);
        free(final);
        return MG_ERR_NOT_FOUND;
    }
    const char *base = strrchr(final, '/') ? strrchr(final, '/') + 1 : final;
    size_t tn = strlen(parent) + strlen(base) + 32;
    char *tmp = mg_malloc(tn);
    snprintf(tmp, tn, "%s/.%s.tmp-XXXXXX", parent, base);
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

mg_status mg_atomic_commit(mg_atomic_out *o, mg_error *err) {
    mg_status rc = fsync_tree(o->tmp_path, err);
    if (rc != MG_OK) goto fail;
    if (mg_path_exists(o->final_path)) {
        if (!o->force) {
            rc = mg_error_set(err, MG_ERR_EXISTS, "%s: appeared while writing; not replaced",
                              o->final_path);
            goto fail;
        }
        // Swap in one step: the old output survives until the swap is durable.
        if (renameat2(AT_FDCWD, o->tmp_path, AT_FDCWD, o->final_path, RENAME_EXCHANGE) != 0) {
            rc = mg_error_set(err, MG_ERR_IO, "%s: cannot swap in new output: %s", o->final_path,
                              strerror(errno));
            goto fail;
        }
        char *parent = parent_dir(o->final_path);
        mg_fsync_path(parent, NULL);
        free(parent);
        // tmp_path now holds the old output.
        mg_remove_tree(o->tmp_path, NULL);
    } else {
        if (rename(o->tmp_path, o->final_path) != 0) {
            rc = mg_error_set(err, MG_ERR_IO, "%s: cannot rename into place: %s", o->final_path,
                              strerror(errno));
            goto fail;
        }
        char *parent = parent_dir(o->final_path);
        mg_fsync_path(parent, NULL);
        free(parent);
    }
    atomic_free(o);
    return MG_OK;
fail:
    mg_atomic_abort(o);
    return rc;
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
    FILE *f = fopen(mg_atomic_tmp_path(o), "wb");
    if (!f) {
        rc = mg_error_set(err, MG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        mg_atomic_abort(o);
        return rc;
    }
    size_t put = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || put != len) {
        rc = mg_error_set(err, MG_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        mg_atomic_abort(o);
        return rc;
    }
    return mg_atomic_commit(o, err);
}
