/* test_train_recipe.c - `lab build` at a few percent of the tiny budget: every
 * model is an HF folder the runtime loads, the bits are identical on a rerun
 * with another thread count and after resuming a partly built folder, and a
 * folder built with another seed is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "base/log.h"
#include "base/parallel.h"
#include "lab/recipe.h"
#include "nn/load.h"
#include "test.h"

static char *read_file(const char *dir, const char *model, const char *file, size_t *len) {
    char p[4096];
    snprintf(p, sizeof p, "%s/models/%s/%s", dir, model, file);
    char *buf = NULL;
    mg_error err;
    CHECK_OK(mg_file_read_all(p, 0, &buf, len, &err), &err);
    return buf;
}

static void test_build_reproducible(void) {
    char root[] = "/tmp/mg_test_recipe_XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char *a = mg_path_join(root, "a"), *b = mg_path_join(root, "b");
    mg_lab_build_opts o = {.seed = 3, .size = MG_WORLD_TINY, .budget_scale = 0.02};
    mg_error err;
    int saved = mg_get_threads();
    mg_set_threads(2);
    CHECK_OK(mg_lab_build(a, &o, &err), &err);
    mg_set_threads(1);
    CHECK_OK(mg_lab_build(b, &o, &err), &err);
    int n;
    const char *const *names = mg_lab_model_names(&n);
    CHECK_EQ_INT(n, 6);
    for (int i = 0; i < n; i++) {
        size_t la = 0, lb = 0;
        char *x = read_file(a, names[i], "model.safetensors", &la);
        char *y = read_file(b, names[i], "model.safetensors", &lb);
        CHECK_MSG(x && y && la == lb && memcmp(x, y, la) == 0, "%s differs between runs", names[i]);
        free(x);
        free(y);
        char p[4096];
        snprintf(p, sizeof p, "%s/models/%s", a, names[i]);
        mg_nn_model *m = NULL;
        CHECK_OK(mg_nn_model_load(p, &m, &err), &err);
        if (m) CHECK(m->arch.tie_embeddings && m->arch.vocab > 256);
        mg_nn_model_free(m);
        snprintf(p, sizeof p, "%s/models/%s/tokenizer.json", a, names[i]);
        CHECK(mg_path_is_file(p));
    }
    // Resume: a missing model is rebuilt with the same bits; the rest are kept.
    char p[4096];
    snprintf(p, sizeof p, "%s/models/guard", b);
    CHECK_OK(mg_remove_tree(p, &err), &err);
    mg_set_threads(2);
    CHECK_OK(mg_lab_build(b, &o, &err), &err);
    size_t la = 0, lb = 0;
    char *x = read_file(a, "guard", "model.safetensors", &la);
    char *y = read_file(b, "guard", "model.safetensors", &lb);
    CHECK(x && y && la == lb && memcmp(x, y, la) == 0);
    free(x);
    free(y);
    // Another seed in the same folder is refused, and nothing is touched.
    mg_lab_build_opts o2 = o;
    o2.seed = 4;
    CHECK(mg_lab_build(b, &o2, &err) == MG_ERR_EXISTS);
    CHECK(strstr(err.msg, "--force") != NULL);
    mg_set_threads(saved);
    CHECK_OK(mg_remove_tree(root, &err), &err);
    free(a);
    free(b);
}

static void test_cache_dir(void) {
    setenv("MERGEGUARD_CACHE", "/x/cache", 1);
    char *d = mg_lab_cache_dir(MG_WORLD_SMALL, 7);
    char want[64];
    snprintf(want, sizeof want, "/x/cache/lab/small-seed7-v%d", MG_LAB_RECIPE_VERSION);
    CHECK_EQ_STR(d, want);
    free(d);
    unsetenv("MERGEGUARD_CACHE");
    setenv("XDG_CACHE_HOME", "/y", 1);
    d = mg_lab_cache_dir(MG_WORLD_TINY, 1);
    snprintf(want, sizeof want, "/y/mergeguard/lab/tiny-seed1-v%d", MG_LAB_RECIPE_VERSION);
    CHECK_EQ_STR(d, want);
    free(d);
}

int main(void) {
    mg_log_set_level(MG_LOG_WARN);
    RUN(test_cache_dir);
    RUN(test_build_reproducible);
    return TEST_END();
}
