/* test_file.c - atomic outputs, mmap, whole-file reads. */
#include <stdlib.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "test.h"

static char g_dir[256];

static char *path_in(const char *name) {
    return mg_path_join(g_dir, name);
}

static void test_atomic_file_refuses_existing(void) {
    mg_error err = {0};
    char *p = path_in("a.txt");
    CHECK_OK(mg_write_file_atomic(p, "one", 3, false, &err), &err);
    CHECK_EQ_INT(mg_write_file_atomic(p, "two", 3, false, &err), MG_ERR_EXISTS);
    char *buf;
    size_t len;
    CHECK_OK(mg_file_read_all(p, 0, &buf, &len, &err), &err);
    CHECK_EQ_STR(buf, "one");
    free(buf);
    CHECK_OK(mg_write_file_atomic(p, "three", 5, true, &err), &err);
    CHECK_OK(mg_file_read_all(p, 0, &buf, &len, &err), &err);
    CHECK_EQ_STR(buf, "three");
    CHECK_EQ_INT(len, 5);
    free(buf);
    free(p);
}

static void test_atomic_dir_swap_and_abort(void) {
    mg_error err = {0};
    char *out = path_in("outdir");
    mg_atomic_out *o;
    CHECK_OK(mg_atomic_begin(out, true, false, &o, &err), &err);
    CHECK(!mg_path_exists(out)); // nothing visible until commit
    char *f = mg_path_join(mg_atomic_tmp_path(o), "x");
    CHECK_OK(mg_write_file_atomic(f, "old", 3, false, &err), &err);
    free(f);
    CHECK_OK(mg_atomic_commit(o, &err), &err);
    CHECK(mg_path_is_dir(out));

    // An aborted replacement leaves the old output intact and no temporary behind.
    CHECK_OK(mg_atomic_begin(out, true, true, &o, &err), &err);
    char *tmp = mg_strdup(mg_atomic_tmp_path(o));
    mg_atomic_abort(o);
    CHECK(!mg_path_exists(tmp));
    free(tmp);
    char *x = mg_path_join(out, "x");
    CHECK(mg_path_is_file(x));

    // A forced replacement swaps the whole directory.
    CHECK_OK(mg_atomic_begin(out, true, true, &o, &err), &err);
    f = mg_path_join(mg_atomic_tmp_path(o), "y");
    CHECK_OK(mg_write_file_atomic(f, "new", 3, false, &err), &err);
    free(f);
    CHECK_OK(mg_atomic_commit(o, &err), &err);
    CHECK(!mg_path_exists(x));
    char *y = mg_path_join(out, "y");
    CHECK(mg_path_is_file(y));
    free(x);
    free(y);
    free(out);
}

static void test_mmap_and_errors(void) {
    mg_error err = {0};
    char *p = path_in("m.bin");
    CHECK_OK(mg_write_file_atomic(p, "abcdef", 6, false, &err), &err);
    mg_mmap m;
    CHECK_OK(mg_mmap_open(&m, p, MG_ADVISE_SEQUENTIAL, &err), &err);
    CHECK_EQ_INT(m.size, 6);
    CHECK(m.data && m.data[5] == 'f');
    mg_mmap_close(&m);
    char *missing = path_in("nope");
    CHECK_EQ_INT(mg_mmap_open(&m, missing, MG_ADVISE_NORMAL, &err), MG_ERR_NOT_FOUND);
    CHECK(strstr(err.msg, "nope") != NULL);
    CHECK_EQ_INT(mg_mmap_open(&m, g_dir, MG_ADVISE_NORMAL, &err), MG_ERR_INVALID);
    char *buf;
    CHECK_EQ_INT(mg_file_read_all(p, 3, &buf, NULL, &err), MG_ERR_INVALID);
    free(missing);
    free(p);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/mg_test_file_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    RUN(test_atomic_file_refuses_existing);
    RUN(test_atomic_dir_swap_and_abort);
    RUN(test_mmap_and_errors);
    mg_remove_tree(g_dir, NULL);
    return TEST_END();
}
