/* test_file.c - atomic outputs, mmap, whole-file reads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* A PID that no longer runs: a child that has exited and been reaped. */
static long dead_pid(void) {
    pid_t c = fork();
    if (c == 0) _exit(0);
    waitpid(c, NULL, 0);
    return (long)c;
}

/* Entries of g_dir whose name starts with prefix. */
static int count_prefixed(const char *prefix) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d) closedir(d);
    return n;
}

static void test_stale_siblings(void) {
    mg_error err = {0};
    char name[128];
    // A temporary of a killed writer is removed; one of a live process stays.
    snprintf(name, sizeof name, ".st.tmp-%ld-abcdef", dead_pid());
    char *dead = path_in(name);
    CHECK_OK(mg_mkdir_p(dead, &err), &err);
    char *inner = mg_path_join(dead, "shard");
    CHECK_OK(mg_write_file_atomic(inner, "x", 1, false, &err), &err);
    snprintf(name, sizeof name, ".st.tmp-%ld-ghijkl", (long)getppid());
    char *live = path_in(name);
    CHECK_OK(mg_mkdir_p(live, &err), &err);
    char *out = path_in("st");
    mg_atomic_out *o;
    CHECK_OK(mg_atomic_begin(out, true, false, &o, &err), &err);
    CHECK(!mg_path_exists(dead));
    CHECK(mg_path_exists(live));
    CHECK(strstr(mg_atomic_tmp_path(o), ".st.tmp-") != NULL);
    mg_atomic_abort(o);
    mg_remove_tree(live, NULL);
    CHECK_EQ_INT(count_prefixed(".st."), 0);

    // An old output moved aside by a killed replacement comes back when the
    // output is missing, and is dropped when the output is there.
    snprintf(name, sizeof name, ".st.old-%ld-abcdef", dead_pid());
    char *aside = path_in(name);
    CHECK_OK(mg_write_file_atomic(aside, "old", 3, false, &err), &err);
    CHECK_EQ_INT(mg_atomic_begin(out, false, false, &o, &err), MG_ERR_EXISTS);
    char *buf = NULL;
    size_t len;
    CHECK_OK(mg_file_read_all(out, 0, &buf, &len, &err), &err);
    CHECK(buf && !strcmp(buf, "old"));
    free(buf);
    CHECK_OK(mg_write_file_atomic(aside, "older", 5, false, &err), &err);
    CHECK_OK(mg_write_file_atomic(out, "new", 3, true, &err), &err);
    CHECK(!mg_path_exists(aside));
    CHECK_OK(mg_file_read_all(out, 0, &buf, &len, &err), &err);
    CHECK(buf && !strcmp(buf, "new"));
    free(buf);
    free(aside), free(out), free(live), free(inner), free(dead);
}

static void test_replace_without_exchange(void) {
    mg_error err = {0};
    setenv("MERGEGUARD_TEST_NO_EXCHANGE", "1", 1);
    char *f = path_in("nx.txt");
    CHECK_OK(mg_write_file_atomic(f, "one", 3, false, &err), &err);
    CHECK_OK(mg_write_file_atomic(f, "two", 3, true, &err), &err);
    char *buf = NULL;
    size_t len;
    CHECK_OK(mg_file_read_all(f, 0, &buf, &len, &err), &err);
    CHECK(buf && !strcmp(buf, "two"));
    free(buf);
    char *d = path_in("nxdir");
    for (int round = 0; round < 2; round++) {
        mg_atomic_out *o;
        CHECK_OK(mg_atomic_begin(d, true, true, &o, &err), &err);
        char *x = mg_path_join(mg_atomic_tmp_path(o), round ? "b" : "a");
        CHECK_OK(mg_write_file_atomic(x, "z", 1, false, &err), &err);
        free(x);
        CHECK_OK(mg_atomic_commit(o, &err), &err);
    }
    char *a = mg_path_join(d, "a"), *b = mg_path_join(d, "b");
    CHECK(!mg_path_exists(a) && mg_path_is_file(b));
    CHECK_EQ_INT(count_prefixed(".nx"), 0);
    unsetenv("MERGEGUARD_TEST_NO_EXCHANGE");
    free(a), free(b), free(d), free(f);
}

static void test_write_errors(void) {
    mg_error err = {0};
    int fd = open("/dev/full", O_WRONLY);
    if (fd < 0) return; // not in every container
    CHECK_EQ_INT(mg_write_all(fd, "abc", 3, "out.bin", &err), MG_ERR_IO);
    CHECK_MSG(strstr(err.msg, "out.bin") && strstr(err.msg, strerror(ENOSPC)), "%s", err.msg);
    close(fd);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/mg_test_file_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    RUN(test_atomic_file_refuses_existing);
    RUN(test_atomic_dir_swap_and_abort);
    RUN(test_mmap_and_errors);
    RUN(test_stale_siblings);
    RUN(test_replace_without_exchange);
    RUN(test_write_errors);
    mg_remove_tree(g_dir, NULL);
    return TEST_END();
}
