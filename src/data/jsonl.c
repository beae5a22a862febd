/* jsonl.c - JSON Lines reading with line numbers (see jsonl.h). */
#include "data/jsonl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"

static void push(mg_jsonl *j, size_t *cap, json_t *rec, int line) {
    if (j->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        j->recs = mg_realloc(j->recs, *cap * sizeof *j->recs);
        j->lines = mg_realloc(j->lines, *cap * sizeof *j->lines);
    }
    j->recs[j->n] = rec;
    j->lines[j->n++] = line;
}

static mg_status load(const char *path, bool tail, mg_jsonl *out, mg_error *err) {
    memset(out, 0, sizeof *out);
    out->path = mg_strdup(path);
    if (tail && !mg_path_exists(path)) return MG_OK;
    if (!mg_path_is_file(path)) {
        mg_status st = mg_path_exists(path) ? MG_ERR_INVALID : MG_ERR_NOT_FOUND;
        mg_error_set(err, st, "%s: %s", path,
                     st == MG_ERR_NOT_FOUND ? "no such file" : "not a regular file");
        mg_jsonl_free(out);
        return st;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    mg_status rc = mg_file_read_all(path, 0, &buf, &len, err);
    if (rc != MG_OK) {
        mg_jsonl_free(out);
        return rc;
    }
    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        line++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (!nl && tail) break; // an interrupted append: drop it
        size_t a = pos, b = end;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r'))
            a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
            b--;
        pos = end + 1;
        if (a == b) continue;
        if (b - a > MG_JSONL_MAX_LINE) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s:%d: a record of %zu bytes, more than the limit of %zu for one "
                              "line",
                              path, line, b - a, MG_JSONL_MAX_LINE);
            goto fail;
        }
        json_error_t je;
        json_t *v = json_loadb(buf + a, b - a, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!v) {
            rc = mg_error_set(err, MG_ERR_INVALID, "%s:%d: invalid JSON at column %d: %s", path,
                              line, je.column, je.text);
            goto fail;
        }
        if (!json_is_object(v)) {
            json_decref(v);
            rc = mg_error_set(err, MG_ERR_INVALID, "%s:%d: expected a JSON object per line", path,
                              line);
            goto fail;
        }
        push(out, &cap, v, line);
    }
    if (out->n == 0 && !tail) {
        rc = mg_error_set(err, MG_ERR_INVALID, "%s: empty file (no JSON records)", path);
        goto fail;
    }
    free(buf);
    return MG_OK;
fail:
    free(buf);
    mg_jsonl_free(out);
    return rc;
}

mg_status mg_jsonl_load(const char *path, mg_jsonl *out, mg_error *err) {
    return load(path, false, out, err);
}

mg_status mg_jsonl_load_tail(const char *path, mg_jsonl *out, mg_error *err) {
    return load(path, true, out, err);
}

void mg_jsonl_free(mg_jsonl *j) {
    if (!j) return;
    for (size_t i = 0; i < j->n; i++)
        json_decref(j->recs[i]);
    free(j->recs);
    free(j->lines);
    free(j->path);
    memset(j, 0, sizeof *j);
}

mg_status mg_jsonl_error(const mg_jsonl *j, size_t i, mg_error *err, mg_status status,
                         const char *fmt, ...) {
    char msg[MG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mg_error_set(err, status, "%s:%d: %s", j->path, i < j->n ? j->lines[i] : 0, msg);
}

static json_t *field(const mg_jsonl *j, size_t i, const char *key) {
    return json_object_get(j->recs[i], key);
}

mg_status mg_jsonl_str(const mg_jsonl *j, size_t i, const char *key, bool required,
                       const char **out, mg_error *err) {
    json_t *v = field(j, i, key);
    if (!v || json_is_null(v)) {
        if (!required) return MG_OK;
        return mg_jsonl_error(j, i, err, MG_ERR_INVALID, "missing field '%s' (a string)", key);
    }
    if (!json_is_string(v))
        return mg_jsonl_error(j, i, err, MG_ERR_INVALID, "field '%s' must be a string", key);
    *out = json_string_value(v);
    return MG_OK;
}

mg_status mg_jsonl_int(const mg_jsonl *j, size_t i, const char *key, bool required, long long *out,
                       mg_error *err) {
    json_t *v = field(j, i, key);
    if (!v || json_is_null(v)) {
        if (!required) return MG_OK;
        return mg_jsonl_error(j, i, err, MG_ERR_INVALID, "missing field '%s' (an integer)", key);
    }
    if (!json_is_integer(v))
        return mg_jsonl_error(j, i, err, MG_ERR_INVALID, "field '%s' must be an integer", key);
    *out = (long long)json_integer_value(v);
    return MG_OK;
}

mg_status mg_jsonl_str_array(const mg_jsonl *j, size_t i, const char *key, size_t min_items,
                             json_t **out, mg_error *err) {
    json_t *v = field(j, i, key);
    if (!v) return mg_jsonl_error(j, i, err, MG_ERR_INVALID, "missing field '%s' (an array)", key);
    if (!json_is_array(v))
        return mg_jsonl_error(j, i, err, MG_ERR_INVALID, "field '%s' must be an array of strings",
                              key);
    if (json_array_size(v) < min_items)
        return mg_jsonl_error(j, i, err, MG_ERR_INVALID,
                              "field '%s' needs at least %zu items, has %zu", key, min_items,
                              json_array_size(v));
    for (size_t k = 0; k < json_array_size(v); k++)
        if (!json_is_string(json_array_get(v, k)))
            return mg_jsonl_error(j, i, err, MG_ERR_INVALID, "field '%s' item %zu is not a string",
                                  key, k);
    *out = v;
    return MG_OK;
}

mg_status mg_jsonl_append(FILE *f, const json_t *v, bool sync, const char *what, mg_error *err) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (!s) return mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot serialize a record", what);
    size_t n = strlen(s);
    s = mg_realloc(s, n + 2);
    s[n++] = '\n';
    // The line goes out with write(2), not stdio, so a failed write (disk
    // full, file size limit) can be undone: the file is cut back to where the
    // record began and never keeps a torn line.
    mg_status rc = MG_OK;
    int fd = fileno(f);
    off_t end = -1;
    if (fflush(f) != 0)
        rc = mg_error_set(err, MG_ERR_IO, "%s: write failed: %s", what, strerror(errno));
    else
        end = lseek(fd, 0, SEEK_END);
    if (rc == MG_OK) rc = mg_write_all(fd, s, n, what, err);
    if (rc == MG_OK && sync && fsync(fd) != 0)
        rc = mg_error_set(err, MG_ERR_IO, "%s: fsync failed: %s", what, strerror(errno));
    free(s);
    if (rc != MG_OK) {
        if (end >= 0 && ftruncate(fd, end) != 0) mg_error_prefix(err, "(a partial line is left) ");
        return rc;
    }
    mg_test_kill_point("jsonl record appended");
    return MG_OK;
}
