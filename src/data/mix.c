/* mix.c - combining generated data sets (see mix.h). */
#include "data/mix.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/rng.h"
#include "data/jsonl.h"
#include "text/hashmap.h"

static const char *const TYPES[] = {"alignment", "task"};
#define N_TYPES 2

mg_status mg_mix_run(const char *const *inputs, size_t n_inputs, const char *out_path,
                     const mg_mix_opts *o, json_t **summary, mg_error *err) {
    if (summary) *summary = NULL;
    if (n_inputs < 1) return mg_error_set(err, MG_ERR_USAGE, "no input files");
    mg_jsonl *files = mg_calloc(n_inputs, sizeof *files);
    json_t **recs = NULL;
    size_t n = 0, cap = 0, read = 0, dups = 0;
    mg_strmap *seen = mg_strmap_new(4096);
    mg_status rc = MG_OK;
    for (size_t f = 0; f < n_inputs && rc == MG_OK; f++) {
        if ((rc = mg_jsonl_load(inputs[f], &files[f], err)) != MG_OK) break;
        for (size_t i = 0; i < files[f].n && rc == MG_OK; i++) {
            const char *p = NULL, *r = NULL, *t = NULL;
            rc = mg_jsonl_str(&files[f], i, "prompt", true, &p, err);
            if (rc == MG_OK) rc = mg_jsonl_str(&files[f], i, "response", true, &r, err);
            if (rc == MG_OK) rc = mg_jsonl_str(&files[f], i, "type", true, &t, err);
            if (rc != MG_OK) break;
            if (strcmp(t, TYPES[0]) != 0 && strcmp(t, TYPES[1]) != 0) {
                rc = mg_jsonl_error(&files[f], i, err, MG_ERR_INVALID,
                                    "field 'type' is '%s', expected 'alignment' or 'task'", t);
                break;
            }
            read++;
            if (mg_strmap_get(seen, p, strlen(p)) >= 0) {
                dups++;
                continue;
            }
            mg_strmap_put(seen, p, strlen(p), 1);
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                recs = mg_realloc(recs, cap * sizeof *recs);
            }
            recs[n++] = files[f].recs[i];
        }
    }
    if (rc == MG_OK && o->shuffle) {
        // Fisher-Yates from the back; draw i from the counter stream.
        uint64_t key = mg_rng_key(o->seed, "gen-data/mix/shuffle");
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)(mg_rng_uniform_f64(key, i) * (double)i);
            if (j >= i) j = i - 1;
            json_t *t = recs[i - 1];
            recs[i - 1] = recs[j];
            recs[j] = t;
        }
    }
    size_t by[N_TYPES] = {0}, written = 0;
    char *buf = NULL;
    size_t blen = 0, bcap = 0;
    for (size_t i = 0; i < n && rc == MG_OK; i++) {
        int ty = strcmp(json_string_value(json_object_get(recs[i], "type")), TYPES[0]) ? 1 : 0;
        if (o->per_type && by[ty] >= o->per_type) continue;
        by[ty]++;
        char *s = json_dumps(recs[i], JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        size_t ls = strlen(s);
        if (blen + ls + 2 > bcap) {
            bcap = (blen + ls + 2) * 2;
            buf = mg_realloc(buf, bcap);
        }
        memcpy(buf + blen, s, ls);
        blen += ls;
        buf[blen++] = '\n';
        free(s);
        written++;
    }
    if (rc == MG_OK && written == 0) rc = mg_error_set(err, MG_ERR_INVALID, "no records to write");
    if (rc == MG_OK) rc = mg_write_file_atomic(out_path, buf, blen, o->force, err);
    if (rc == MG_OK && summary) {
        json_t *s = json_object();
        json_object_set_new(s, "inputs", json_integer((json_int_t)n_inputs));
        json_object_set_new(s, "read", json_integer((json_int_t)read));
        json_object_set_new(s, "duplicates", json_integer((json_int_t)dups));
        json_object_set_new(s, "written", json_integer((json_int_t)written));
        json_t *bt = json_object(), *sh = json_array();
        for (int t = 0; t < N_TYPES; t++) {
            json_object_set_new(bt, TYPES[t], json_integer((json_int_t)by[t]));
            if (o->per_type && by[t] < o->per_type)
                json_array_append_new(sh, json_string(TYPES[t]));
        }
        json_object_set_new(s, "by_type", bt);
        json_object_set_new(s, "short_types", sh);
        *summary = s;
    }
    free(buf);
    free(recs);
    mg_strmap_free(seen);
    for (size_t f = 0; f < n_inputs; f++)
        mg_jsonl_free(&files[f]);
    free(files);
    return rc;
}
