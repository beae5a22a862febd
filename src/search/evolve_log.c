/* evolve_log.c - the JSONL evaluation log; see evolve_log.h. */
#include "search/evolve_log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"

mg_status mg_evolve_log_truncate(const char *path, int64_t lines, mg_error *err) {
    if (!mg_path_exists(path)) {
        if (lines > 0)
            return mg_error_set(err, MG_ERR_NOT_FOUND,
                                "%s is missing but the checkpoint counts %lld evaluations", path,
                                (long long)lines);
        FILE *f = fopen(path, "wb");
        if (!f) return mg_error_set(err, MG_ERR_IO, "cannot create %s", path);
        fclose(f);
        return MG_OK;
    }
    char *buf = NULL;
    size_t len = 0;
    mg_status st = mg_file_read_all(path, 0, &buf, &len, err);
    if (st) return st;
    size_t pos = 0;
    int64_t seen = 0;
    while (seen < lines && pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) break; // a partial last line is not a committed line
        pos = (size_t)(nl - buf) + 1;
        seen++;
    }
    free(buf);
    if (seen < lines)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s has %lld complete lines but the checkpoint counts %lld", path,
                            (long long)seen, (long long)lines);
    if (pos < len && truncate(path, (off_t)pos) != 0)
        return mg_error_set(err, MG_ERR_IO, "cannot truncate %s", path);
    return MG_OK;
}

static void put_real(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

mg_status mg_evolve_log_append(const char *path, const mg_evolve_entry *e, size_t n,
                               mg_error *err) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot format log lines", path);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "{\"eval\":%lld,\"generation\":%lld,\"index\":%d,\"fitness\":",
                (long long)e[i].eval, (long long)e[i].generation, e[i].index);
        put_real(f, e[i].fitness);
        fputs(",\"ce_alignment\":", f);
        put_real(f, e[i].ce[0]);
        fputs(",\"ce_task\":", f);
        put_real(f, e[i].ce[1]);
        fputs(",\"genotype\":[", f);
        for (size_t d = 0; d < e[i].dim; d++) {
            if (d) fputc(',', f);
            put_real(f, e[i].genotype[d]);
        }
        fprintf(f, "],\"time\":{\"merge\":%.4f,\"score\":%.4f}}\n", e[i].merge_seconds,
                e[i].score_seconds);
    }
    fclose(f);
    // One write of the generation's lines; a failed one (disk full) is undone,
    // so the log never keeps a torn line.
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    mg_status st = MG_OK;
    off_t end = -1;
    if (fd < 0)
        st = mg_error_set(err, MG_ERR_IO, "%s: cannot open for appending: %s", path,
                          strerror(errno));
    else
        end = lseek(fd, 0, SEEK_END);
    if (!st) st = mg_write_all(fd, text, len, path, err);
    if (!st && fsync(fd) != 0)
        st = mg_error_set(err, MG_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (st && end >= 0 && ftruncate(fd, end) != 0)
        mg_error_prefix(err, "(a partial line is left) ");
    if (fd >= 0) close(fd);
    free(text);
    if (st) return st;
    mg_test_kill_point("evolve log appended");
    return MG_OK;
}

void mg_evolve_log_free(mg_evolve_entry *e, size_t n) {
    for (size_t i = 0; e && i < n; i++)
        free((double *)e[i].genotype);
    free(e);
}

static double num_or_nan(const json_t *v) {
    return json_is_number(v) ? json_number_value(v) : NAN;
}

mg_status mg_evolve_log_read(const char *path, mg_evolve_entry **out, size_t *n, mg_error *err) {
    *out = NULL;
    *n = 0;
    char *buf = NULL;
    size_t len = 0;
    mg_status st = mg_file_read_all(path, 0, &buf, &len, err);
    if (st) return st;
    size_t cap = 0, cnt = 0;
    mg_evolve_entry *e = NULL;
    size_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - s) : len - pos;
        pos += l + 1;
        lineno++;
        if (!l) continue;
        json_error_t je;
        json_t *j = json_loadb(s, l, 0, &je);
        if (!j) {
            st = mg_error_set(err, MG_ERR_INVALID, "%s:%zu: %s", path, lineno, je.text);
            goto fail;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            e = mg_realloc(e, cap * sizeof *e);
        }
        mg_evolve_entry *x = &e[cnt++];
        memset(x, 0, sizeof *x);
        x->eval = json_integer_value(json_object_get(j, "eval"));
        x->generation = json_integer_value(json_object_get(j, "generation"));
        x->index = (int)json_integer_value(json_object_get(j, "index"));
        x->fitness = num_or_nan(json_object_get(j, "fitness"));
        x->ce[0] = num_or_nan(json_object_get(j, "ce_alignment"));
        x->ce[1] = num_or_nan(json_object_get(j, "ce_task"));
        const json_t *g = json_object_get(j, "genotype");
        x->dim = json_array_size(g);
        double *gv = mg_calloc(x->dim ? x->dim : 1, sizeof(double));
        for (size_t d = 0; d < x->dim; d++)
            gv[d] = num_or_nan(json_array_get(g, d));
        x->genotype = gv;
        const json_t *t = json_object_get(j, "time");
        x->merge_seconds = num_or_nan(json_object_get(t, "merge"));
        x->score_seconds = num_or_nan(json_object_get(t, "score"));
        json_decref(j);
    }
    free(buf);
    *out = e;
    *n = cnt;
    return MG_OK;
fail:
    free(buf);
    mg_evolve_log_free(e, cnt);
    return st;
}

void mg_evolve_log_best_ce(const char *path, double f, double ce[2]) {
    mg_evolve_entry *e = NULL;
    size_t n = 0;
    mg_error err = {0};
    ce[0] = ce[1] = NAN;
    if (mg_evolve_log_read(path, &e, &n, &err)) return;
    for (size_t i = 0; i < n; i++)
        if (e[i].fitness == f) {
            ce[0] = e[i].ce[0];
            ce[1] = e[i].ce[1];
            break;
        }
    mg_evolve_log_free(e, n);
}
