/* json.h - thin helpers over jansson: load with file:line:col errors, and
 * typed getters whose errors name the file and the JSON path.
 *
 * Values returned by the getters are borrowed from the jansson tree (valid
 * until json_decref of the root). Loading rejects duplicate keys, as a
 * silently-overwritten key in a config is a bug waiting to happen.
 * Thread-safety: a loaded tree is read-only; concurrent reads are safe. */
#ifndef MG_BASE_JSON_H
#define MG_BASE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Parses a file. *out is owned (json_decref). Errors: "path:line:col: message". */
mg_status mg_json_load_file(const char *path, json_t **out, mg_error *err);
/* Parses a buffer; `what` names it in messages (a path, "header of x.safetensors"). */
mg_status mg_json_load_buffer(const char *buf, size_t len, const char *what, json_t **out,
                              mg_error *err);

/* Typed lookups of obj[key]. `what` prefixes messages ("config.json"). A missing
 * key gives MG_ERR_INVALID unless the *_opt variant is used, which leaves *out
 * untouched and returns MG_OK. Wrong types are always an error. */
mg_status mg_json_get_int(const json_t *obj, const char *key, const char *what, int64_t *out,
                          mg_error *err);
mg_status mg_json_get_int_opt(const json_t *obj, const char *key, const char *what,
                              int64_t *out, mg_error *err);
/* Numbers: integers and reals both accepted. */
mg_status mg_json_get_num(const json_t *obj, const char *key, const char *what, double *out,
                          mg_error *err);
mg_status mg_json_get_num_opt(const json_t *obj, const char *key, const char *what, double *out,
                              mg_error *err);
mg_status mg_json_get_bool_opt(const json_t *obj, const char *key, const char *what, bool *out,
                               mg_error *err);
/* *out borrowed from the tree. */
mg_status mg_json_get_str(const json_t *obj, const char *key, const char *what,
                          const char **out, mg_error *err);
mg_status mg_json_get_str_opt(const json_t *obj, const char *key, const char *what,
                              const char **out, mg_error *err);

/* Serializes to an owned string (free with free()); flags as json_dumps. */
char *mg_json_dump(const json_t *v, size_t flags);
/* Writes v as pretty JSON (2-space indent, trailing newline) atomically. */
mg_status mg_json_write_file(const char *path, const json_t *v, bool force, mg_error *err);

#endif // MG_BASE_JSON_H
