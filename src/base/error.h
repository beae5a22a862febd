/* error.h - status codes and the error struct every fallible function fills.
 *
 * Library functions return an mg_status (MG_OK == 0, failures negative) and,
 * on failure, write a one-line message into a caller-provided mg_error (which
 * may be NULL). The message names the file, line, field or tensor and what was
 * expected versus found. Only cli/ prints messages and picks exit codes.
 * Thread-safety: an mg_error belongs to one thread at a time. */
#ifndef MG_BASE_ERROR_H
#define MG_BASE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum mg_status {
    MG_OK = 0,
    MG_ERR_INVALID = -1,     // malformed input: file content, config, data (exit 2)
    MG_ERR_USAGE = -2,       // bad command line (exit 2)
    MG_ERR_UNSUPPORTED = -3, // well-formed but not supported, e.g. an architecture (exit 2)
    MG_ERR_EXISTS = -4,      // output exists and --force was not given (exit 2)
    MG_ERR_NOT_FOUND = -5,   // a named input file or tensor is missing (exit 2)
    MG_ERR_IO = -6,          // the OS failed a read/write/mmap (exit 1)
    MG_ERR_RUNTIME = -7,     // anything else that fails while running (exit 1)
    MG_ERR_CANCELLED = -8,   // interrupted by the user (exit 1)
} mg_status;

#define MG_ERROR_MSG_MAX 1024

typedef struct mg_error {
    mg_status status;
    char msg[MG_ERROR_MSG_MAX]; // one line, no trailing newline
} mg_error;

/* Records status and a printf-style message in err (if non-NULL); returns status,
 * so callers can write `return mg_error_set(err, MG_ERR_INVALID, "...")`. */
mg_status mg_error_set(mg_error *err, mg_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
mg_status mg_error_setv(mg_error *err, mg_status status, const char *fmt, va_list ap);

/* Prepends context ("file.yml: ") to an existing message; keeps the status. */
mg_status mg_error_prefix(mg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short preview of untrusted text s[0..len) for a message: at most 40
 * bytes of it, cut at a UTF-8 boundary, control characters as '?', and
 * "... (N bytes)" when cut, so a 50 MB token or string cannot crowd the rest
 * of the message out of its MG_ERROR_MSG_MAX bytes. Writes into buf (which
 * should hold MG_PREVIEW_MAX bytes) and returns it. */
#define MG_PREVIEW_MAX 96
const char *mg_error_preview(char *buf, const char *s, size_t len);

/* Resets err to MG_OK with an empty message. NULL-safe. */
void mg_error_clear(mg_error *err);

/* Short name of a status ("invalid input", "I/O error", ...). Borrowed, static. */
const char *mg_status_name(mg_status status);

/* Process exit code for a status: 0 ok, 2 bad input or usage, 1 otherwise. */
int mg_status_exit_code(mg_status status);

#endif // MG_BASE_ERROR_H
