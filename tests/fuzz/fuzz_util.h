/* fuzz_util.h - shared helpers of the fuzz targets (tests/fuzz/<target>.c).
 *
 * Most parsers read files, not buffers (they mmap them), so a target writes
 * its input into a per-process scratch folder (created on first use under
 * $TMPDIR, removed at exit) and opens it from there. Inputs that hold several
 * files (an index and its shards, a tokenizer and a text) are split at a
 * separator line. mg_fuzz_check_err enforces the error contract of
 * src/base/error.h on every failure: a non-empty message on one line (and
 * prints the message when MG_FUZZ_VERBOSE is set, to see what a corpus reaches).
 * Header-only: included by each target and by the replay test (which includes
 * every target in one translation unit), so everything here is static.
 * Thread-safety: none (libFuzzer and the replay run one input at a time). */
#ifndef MG_TESTS_FUZZ_UTIL_H
#define MG_TESTS_FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"
#include "base/parallel.h"

/* Splits inputs holding several parts (index + shards, tokenizer + text). */
#define MG_FUZZ_SEP "\n#----#\n"

static char mg_fuzz_dir_buf[512];

/* Removes the files of a folder (and, with depth > 0, its subfolders). */
static void mg_fuzz_clear(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (depth > 0 && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            mg_fuzz_clear(p, depth - 1);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
}

static void mg_fuzz_remove_dir(void) {
    mg_fuzz_clear(mg_fuzz_dir_buf, 1);
    rmdir(mg_fuzz_dir_buf);
}

/* The scratch folder of one target, dir[cap] (created on first use; the
 * whole scratch tree is removed at exit). The first call also quiets logging
 * and pins one thread: fuzzing measures parsers, not OpenMP start-up. */
static const char *mg_fuzz_dir(const char *target, char *dir, size_t cap) {
    if (!mg_fuzz_dir_buf[0]) {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp) tmp = "/tmp";
        snprintf(mg_fuzz_dir_buf, sizeof mg_fuzz_dir_buf, "%s/mg-fuzz-XXXXXX", tmp);
        if (!mkdtemp(mg_fuzz_dir_buf)) {
            perror("mg_fuzz_dir: mkdtemp");
            abort();
        }
        atexit(mg_fuzz_remove_dir);
        mg_log_set_level(MG_LOG_QUIET);
        mg_set_threads(1);
    }
    snprintf(dir, cap, "%s/%s", mg_fuzz_dir_buf, target);
    mkdir(dir, 0700);
    return dir;
}

/* Removes every file of a target's scratch folder. */
static void mg_fuzz_clear_dir(const char *target) {
    char dir[600];
    mg_fuzz_clear(mg_fuzz_dir(target, dir, sizeof dir), 0);
}

/* Writes data[size] to the target's folder as name; the path goes to
 * path[cap]. */
static void mg_fuzz_write(const char *target, const char *name, const void *data, size_t size,
                          char *path, size_t cap) {
    char dir[600];
    snprintf(path, cap, "%s/%s", mg_fuzz_dir(target, dir, sizeof dir), name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (size && fwrite(data, 1, size, f) != size) {
        perror(path);
        abort();
    }
    fclose(f);
}

/* Splits data at MG_FUZZ_SEP into at most max parts (the last part keeps any
 * further separators). Returns the number of parts (>= 1). */
typedef struct mg_fuzz_part {
    const uint8_t *p;
    size_t n;
} mg_fuzz_part;

static size_t mg_fuzz_split(const uint8_t *data, size_t size, mg_fuzz_part *parts, size_t max) {
    size_t sep = strlen(MG_FUZZ_SEP), k = 0, start = 0;
    for (size_t i = 0; k + 1 < max && i + sep <= size; i++) {
        if (memcmp(data + i, MG_FUZZ_SEP, sep) == 0) {
            parts[k].p = data + start;
            parts[k].n = i - start;
            k++;
            start = i + sep;
            i = start - 1;
        }
    }
    parts[k].p = data + start;
    parts[k].n = size - start;
    return k + 1;
}

/* The error contract: a failure carries a non-empty, single-line message. */
static void mg_fuzz_check_err(const char *target, mg_status st, const mg_error *err) {
    if (st != MG_OK && getenv("MG_FUZZ_VERBOSE")) fprintf(stderr, "%s: %s\n", target, err->msg);
    if (st == MG_OK) return;
    if (err->msg[0] == '\0' || strchr(err->msg, '\n') != NULL) {
        fprintf(stderr, "%s: status %d with a bad error message: '%s'\n", target, (int)st,
                err->msg);
        abort();
    }
}

/* LeakSanitizer's built-in suppressions (read when it starts; unused without
 * a sanitizer). libfyaml 0.7.12 (Debian 12) leaks the chunk array of its atom
 * iterator when fy_node_get_scalar formats a single-quoted scalar with many
 * '' escapes (found by the merge_config target); the leak is inside the
 * library, whose documents src/base/yaml.c does destroy. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libfyaml.so\n";
}

#endif // MG_TESTS_FUZZ_UTIL_H
