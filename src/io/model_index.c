/* model_index.c - see model_index.h. */
#include "io/model_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "io/st_util.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

typedef struct located {
    const mg_tensor_view *t;
    size_t shard;
} located;

static int cmp_located(const void *a, const void *b) {
    const located *x = a, *y = b;
    int c = strcmp(x->t->name, y->t->name);
    if (c) return c;
    return x->shard < y->shard ? -1 : x->shard > y->shard;
}

/* Checks the weight_map entries and returns the sorted distinct shard names
 * (borrowed from the tree) in *names. */
static mg_status read_weight_map(const char *path, const json_t *root, const char ***names,
                                 size_t *n, mg_error *err) {
    *names = NULL;
    *n = 0;
    if (!json_is_object(root))
        return mg_error_set(err, MG_ERR_INVALID, "%s: expected a JSON object", path);
    const json_t *wm = json_object_get(root, "weight_map");
    if (!wm) return mg_error_set(err, MG_ERR_INVALID, "%s: missing field 'weight_map'", path);
    if (!json_is_object(wm))
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: field 'weight_map': expected an object of tensor name -> "
                            "shard file",
                            path);
    const json_t *md = json_object_get(root, "metadata");
    if (md && !json_is_null(md) && !json_is_object(md))
        return mg_error_set(err, MG_ERR_INVALID, "%s: field 'metadata': expected an object", path);
    const char **all = mg_malloc_array(json_object_size(wm) + 1, sizeof *all);
    size_t k = 0;
    const char *key;
    json_t *v;
    char q[256], q2[256];
    json_object_foreach((json_t *)wm, key, v) {
        const char *f = json_string_value(v);
        mg_status rc = MG_OK;
        if (!f)
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': weight_map value is not a file name string", path,
                              mg_st_quote(key, q, sizeof q));
        else if (!f[0] || strchr(f, '/') || !strcmp(f, ".") || !strcmp(f, ".."))
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': shard '%s' is not a plain file name in the "
                              "model folder",
                              path, mg_st_quote(key, q, sizeof q), mg_st_quote(f, q2, sizeof q2));
        else if (strlen(f) < 12 || strcmp(f + strlen(f) - 12, ".safetensors"))
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': shard '%s' is not a .safetensors file", path,
                              mg_st_quote(key, q, sizeof q), mg_st_quote(f, q2, sizeof q2));
        if (rc != MG_OK) {
            free(all);
            return rc;
        }
        all[k++] = f;
    }
    qsort(all, k, sizeof *all, cmp_str);
    size_t d = 0;
    for (size_t i = 0; i < k; i++)
        if (!d || strcmp(all[d - 1], all[i])) all[d++] = all[i];
    if (d == 0) {
        free(all);
        return mg_error_set(err, MG_ERR_INVALID, "%s: weight_map is empty", path);
    }
    *names = all;
    *n = d;
    return MG_OK;
}

static mg_status check_placement(const char *path, const json_t *wm, mg_st_file **shards, size_t n,
                                 mg_error *err) {
    size_t total = 0;
    for (size_t s = 0; s < n; s++)
        total += mg_st_count(shards[s]);
    located *all = mg_malloc_array(total + 1, sizeof *all);
    size_t k = 0;
    for (size_t s = 0; s < n; s++)
        for (size_t i = 0; i < mg_st_count(shards[s]); i++)
            all[k++] = (located){mg_st_at(shards[s], i), s};
    qsort(all, k, sizeof *all, cmp_located);
    mg_status rc = MG_OK;
    char q[256];
    for (size_t i = 0; i < k && rc == MG_OK; i++) {
        const char *name = all[i].t->name;
        const char *here = base_name(mg_st_path(shards[all[i].shard]));
        if (i + 1 < k && !strcmp(name, all[i + 1].t->name)) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': stored in two shards, '%s' and '%s' (each tensor "
                              "must be stored once)",
                              path, mg_st_quote(name, q, sizeof q), here,
                              base_name(mg_st_path(shards[all[i + 1].shard])));
            break;
        }
        const char *listed = json_string_value(json_object_get(wm, name));
        if (!listed)
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': stored in shard '%s' but missing from weight_map",
                              path, mg_st_quote(name, q, sizeof q), here);
        else if (strcmp(listed, here))
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': weight_map says shard '%s' but it is stored in "
                              "'%s'",
                              path, mg_st_quote(name, q, sizeof q), listed, here);
    }
    free(all);
    if (rc != MG_OK) return rc;
    // Every listed tensor must exist (in its shard, given the checks above).
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)wm, key, v) {
        const char *f = json_string_value(v);
        for (size_t s = 0; s < n; s++) {
            if (strcmp(base_name(mg_st_path(shards[s])), f)) continue;
            if (!mg_st_find(shards[s], key))
                return mg_error_set(err, MG_ERR_INVALID,
                                    "%s: tensor '%s': weight_map names shard '%s' but the tensor "
                                    "is not stored there",
                                    path, mg_st_quote(key, q, sizeof q), f);
        }
    }
    return MG_OK;
}

mg_status mg_model_index_open(const char *index_path, mg_st_file ***shards_out, size_t *n_out,
                              mg_error *err) {
    *shards_out = NULL;
    *n_out = 0;
    json_t *root = NULL;
    const char **names = NULL;
    mg_st_file **shards = NULL;
    size_t n = 0, opened = 0;
    char *dir = NULL;
    mg_status rc = mg_json_load_file(index_path, &root, err);
    if (rc != MG_OK) goto fail;
    rc = read_weight_map(index_path, root, &names, &n, err);
    if (rc != MG_OK) goto fail;
    const char *slash = strrchr(index_path, '/');
    dir = slash ? mg_strndup(index_path, (size_t)(slash - index_path)) : mg_strdup(".");
    if (!dir[0]) {
        free(dir);
        dir = mg_strdup("/");
    }
    shards = mg_calloc(n, sizeof *shards);
    const json_t *wm = json_object_get(root, "weight_map");
    for (; opened < n; opened++) {
        char *p = mg_path_join(dir, names[opened]);
        if (!mg_path_exists(p)) {
            // Name a tensor that needs the shard, so the message points at the index entry.
            const char *key = "?", *k2;
            json_t *v;
            json_object_foreach((json_t *)wm, k2, v) {
                if (!strcmp(json_string_value(v), names[opened])) {
                    key = k2;
                    break;
                }
            }
            char q[256];
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: tensor '%s': shard '%s' named by weight_map does not exist",
                              index_path, mg_st_quote(key, q, sizeof q), names[opened]);
            free(p);
            goto fail;
        }
        rc = mg_st_open(p, &shards[opened], err);
        free(p);
        if (rc != MG_OK) goto fail;
    }
    rc = check_placement(index_path, wm, shards, n, err);
    if (rc != MG_OK) goto fail;
    free(names);
    free(dir);
    json_decref(root);
    *shards_out = shards;
    *n_out = n;
    return MG_OK;
fail:
    for (size_t i = 0; i < opened; i++)
        mg_st_close(shards[i]);
    free(shards);
    free(names);
    free(dir);
    if (root) json_decref(root);
    return rc;
}
