/* json.c - see json.h. */
#include "base/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"

mg_status mg_json_load_buffer(const char *buf, size_t len, const char *what, json_t **out,
                              mg_error *err) {
    json_error_t je;
    *out = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!*out)
        return mg_error_set(err, MG_ERR_INVALID, "%s:%d:%d: invalid JSON: %s", what, je.line,
                            je.column, je.text);
    return MG_OK;
}

mg_status mg_json_load_file(const char *path, json_t **out, mg_error *err) {
    *out = NULL;
    char *buf;
    size_t len;
    // 1 GiB cap: real tokenizer.json files are under 40 MB.
    mg_status rc = mg_file_read_all(path, (uint64_t)1 << 30, &buf, &len, err);
    if (rc != MG_OK) return rc;
    rc = mg_json_load_buffer(buf, len, path, out, err);
    free(buf);
    return rc;
}

static mg_status get(const json_t *obj, const char *key, const char *what, bool optional,
                     json_t **v, mg_error *err) {
    *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!*v && !optional)
        return mg_error_set(err, MG_ERR_INVALID, "%s: missing field '%s'", what, key);
    return MG_OK;
}

#define TYPE_ERROR(expected)                                                                       \
    mg_error_set(err, MG_ERR_INVALID, "%s: field '%s': expected %s", what, key, expected)

static mg_status get_int(const json_t *obj, const char *key, const char *what, bool opt,
                         int64_t *out, mg_error *err) {
    json_t *v;
    mg_status rc = get(obj, key, what, opt, &v, err);
    if (rc != MG_OK || !v) return rc;
    if (json_is_null(v) && opt) return MG_OK;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return MG_OK;
    }
    // 4096.0 is an integer in Python's eyes; accept exact integral reals. The
    // range check comes first: converting 1e87 to int64_t is undefined (fuzzing).
    double d = json_is_real(v) ? json_real_value(v) : 0.0;
    if (json_is_real(v) && d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
        d == (double)(int64_t)d) {
        *out = (int64_t)d;
        return MG_OK;
    }
    return TYPE_ERROR("an integer");
}

mg_status mg_json_get_int(const json_t *obj, const char *key, const char *what, int64_t *out,
                          mg_error *err) {
    return get_int(obj, key, what, false, out, err);
}

mg_status mg_json_get_int_opt(const json_t *obj, const char *key, const char *what,
                              int64_t *out, mg_error *err) {
    return get_int(obj, key, what, true, out, err);
}

static mg_status get_num(const json_t *obj, const char *key, const char *what, bool opt,
                         double *out, mg_error *err) {
    json_t *v;
    mg_status rc = get(obj, key, what, opt, &v, err);
    if (rc != MG_OK || !v) return rc;
    if (json_is_null(v) && opt) return MG_OK;
    if (!json_is_number(v)) return TYPE_ERROR("a number");
    *out = json_number_value(v);
    return MG_OK;
}

mg_status mg_json_get_num(const json_t *obj, const char *key, const char *what, double *out,
                          mg_error *err) {
    return get_num(obj, key, what, false, out, err);
}

mg_status mg_json_get_num_opt(const json_t *obj, const char *key, const char *what, double *out,
                              mg_error *err) {
    return get_num(obj, key, what, true, out, err);
}

mg_status mg_json_get_bool_opt(const json_t *obj, const char *key, const char *what, bool *out,
                               mg_error *err) {
    json_t *v;
    mg_status rc = get(obj, key, what, true, &v, err);
    if (rc != MG_OK || !v || json_is_null(v)) return rc;
    if (!json_is_boolean(v)) return TYPE_ERROR("true or false");
    *out = json_is_true(v);
    return MG_OK;
}

static mg_status get_str(const json_t *obj, const char *key, const char *what, bool opt,
                         const char **out, mg_error *err) {
    json_t *v;
    mg_status rc = get(obj, key, what, opt, &v, err);
    if (rc != MG_OK || !v) return rc;
    if (json_is_null(v) && opt) return MG_OK;
    if (!json_is_string(v)) return TYPE_ERROR("a string");
    *out = json_string_value(v);
    return MG_OK;
}

mg_status mg_json_get_str(const json_t *obj, const char *key, const char *what,
                          const char **out, mg_error *err) {
    return get_str(obj, key, what, false, out, err);
}

mg_status mg_json_get_str_opt(const json_t *obj, const char *key, const char *what,
                              const char **out, mg_error *err) {
    return get_str(obj, key, what, true, out, err);
}

char *mg_json_dump(const json_t *v, size_t flags) {
    char *s = json_dumps(v, flags);
    if (!s) { // jansson returns NULL only on allocation failure
        fprintf(stderr, "mergeguard: out of memory serializing JSON\n");
        abort();
    }
    return s;
}

mg_status mg_json_write_file(const char *path, const json_t *v, bool force, mg_error *err) {
    char *s = mg_json_dump(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    size_t n = strlen(s);
    char *withnl = mg_malloc(n + 2);
    memcpy(withnl, s, n);
    withnl[n] = '\n';
    free(s);
    mg_status rc = mg_write_file_atomic(path, withnl, n + 1, force, err);
    free(withnl);
    return rc;
}
