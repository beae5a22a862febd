/* cli.c - see cli.h. */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "base/parallel.h"

int mg_cli_fail(const mg_error *err) {
    fprintf(stderr, "mergeguard: error: %s\n", err->msg[0] ? err->msg : mg_status_name(err->status));
    int code = mg_status_exit_code(err->status);
    return code ? code : 1;
}

int mg_cli_usage_error(const char *cmd, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mergeguard %s: %s (see 'mergeguard %s --help')\n", cmd, buf, cmd);
    return 2;
}

bool mg_cli_parse_int(const char *s, long long min, long long max, long long *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool mg_cli_parse_double(const char *s, double *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end) return false;
    *out = v;
    return true;
}

bool mg_cli_common_option(int argc, char **argv, int *i, bool *bad) {
    const char *a = argv[*i];
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
        mg_log_set_level(MG_LOG_QUIET);
        return true;
    }
    if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
        mg_log_set_level(MG_LOG_DEBUG);
        return true;
    }
    if (!strcmp(a, "--threads")) {
        long long n;
        if (*i + 1 >= argc || !mg_cli_parse_int(argv[*i + 1], 1, 1024, &n)) {
            fprintf(stderr, "mergeguard: --threads expects an integer from 1 to 1024\n");
            *bad = true;
            return true;
        }
        mg_set_threads((int)n);
        (*i)++;
        return true;
    }
    return false;
}

void mg_cli_print_json(json_t *v, size_t flags) {
    char *text = mg_json_dump(v, flags);
    if (text) puts(text);
    free(text);
    json_decref(v);
}
