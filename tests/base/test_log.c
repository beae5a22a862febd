/* test_log.c - log levels and the progress reporter's non-TTY output.
 *
 * stderr is redirected to a pipe (as in CI logs), so the reporter must print
 * plain newline-terminated lines, without \r or escape sequences; the redraw
 * interval is shortened so periodic lines appear within the test. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "test.h"

static int saved_fd = -1, pipe_rd = -1;

static void capture_begin(void) {
    int fds[2];
    if (pipe(fds) != 0) abort();
    fflush(stderr);
    saved_fd = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    pipe_rd = fds[0];
}

// Restores stderr and returns what was written (small: fits the pipe buffer).
static char *capture_end(void) {
    fflush(stderr);
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    static char buf[16384];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(pipe_rd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(pipe_rd);
    return buf;
}

static void sleep_ms(int ms) {
    usleep((useconds_t)ms * 1000);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_levels(void) {
    capture_begin();
    mg_log_set_level(MG_LOG_INFO);
    mg_log_info("info %d", 1);
    mg_log_debug("hidden");
    mg_log_warn("careful");
    mg_log_set_level(MG_LOG_QUIET);
    mg_log_warn("hidden");
    mg_log_info("hidden");
    mg_log_error("bad %s", "thing");
    mg_log_set_level(MG_LOG_INFO);
    char *out = capture_end();
    CHECK_EQ_STR(out, "info 1\nmergeguard: warning: careful\nmergeguard: error: bad thing\n");
}

static void test_progress_pipe(void) {
    mg_log_set_level(MG_LOG_INFO);
    capture_begin();
    mg_progress p;
    mg_progress_begin(&p, "converting", 10, "tensors");
    CHECK(!p.tty);
    CHECK_NEAR(p.interval, 5.0, 0);
    p.interval = 0.02;
    for (int i = 0; i < 10; i++) {
        sleep_ms(25);
        mg_progress_add(&p, 1);
    }
    mg_progress_end(&p);
    mg_progress_begin(&p, "reading", 3000000000ull, "B");
    p.interval = 0.01;
    sleep_ms(15);
    mg_progress_add(&p, 1500000000ull);
    mg_progress_end(&p);
    mg_progress_begin(&p, "tokens", 0, "tokens");
    p.interval = 0.01;
    sleep_ms(15);
    mg_progress_add(&p, 5);
    char *out = capture_end();
    fputs(out, stdout); // shown in the ctest log for a look at the format

    CHECK(!strchr(out, '\r'));
    CHECK(!strchr(out, '\033'));
    CHECK(out[0] && out[strlen(out) - 1] == '\n');
    int lines = count_lines(out);
    CHECK_MSG(lines >= 5 && lines <= 14, "%d lines", lines);
    CHECK(strstr(out, "converting: 1/10 tensors (10%)"));
    CHECK(strstr(out, "converting: 10 tensors in "));
    CHECK(strstr(out, "ETA "));
    CHECK(strstr(out, "reading: 1.5 GB of 3.0 GB (50%)"));
    CHECK(strstr(out, "reading: 1.5 GB in "));
    CHECK(strstr(out, "tokens: 5 tokens, "));
    // Every line starts with a label.
    for (const char *l = out; *l; l = strchr(l, '\n') + 1)
        CHECK(!strncmp(l, "converting: ", 12) || !strncmp(l, "reading: ", 9) ||
              !strncmp(l, "tokens: ", 8));
}

static void test_progress_quiet(void) {
    mg_log_set_level(MG_LOG_QUIET);
    capture_begin();
    mg_progress p;
    mg_progress_begin(&p, "quiet", 2, "tensors");
    p.interval = 0;
    mg_progress_add(&p, 1);
    mg_progress_add(&p, 1);
    mg_progress_end(&p);
    char *out = capture_end();
    CHECK_EQ_STR(out, "");
    CHECK_EQ_INT(atomic_load(&p.done), 2);
    mg_log_set_level(MG_LOG_INFO);
}

int main(void) {
    RUN(test_levels);
    RUN(test_progress_pipe);
    RUN(test_progress_quiet);
    return TEST_END();
}
