/* log.h - leveled logging to stderr and a progress reporter.
 *
 * The level is process-global (set once by the CLI from --quiet / -v). The
 * progress reporter draws a bar with rate and ETA when stderr is a terminal and
 * prints a plain line at most every few seconds otherwise (CI logs, pipes).
 * Thread-safety: logging is safe from any thread (one fprintf per line);
 * mg_progress_add may be called from many threads, it updates atomically. */
#ifndef MG_BASE_LOG_H
#define MG_BASE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum mg_log_level {
    MG_LOG_QUIET = 0, // errors only
    MG_LOG_WARN = 1,
    MG_LOG_INFO = 2,  // default
    MG_LOG_DEBUG = 3,
} mg_log_level;

void mg_log_set_level(mg_log_level level);
mg_log_level mg_log_get_level(void);

void mg_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mg_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mg_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mg_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic wall-clock seconds, for timing and rates. */
double mg_now_seconds(void);

typedef struct mg_progress {
    char label[64];
    uint64_t total;          // 0 when unknown
    _Atomic uint64_t done;
    double start;
    _Atomic double last_draw; // guarded by draw_lock
    atomic_flag draw_lock;
    bool tty;
    bool enabled;
    const char *unit;        // "tensors", "tokens", "B" (bytes get scaled units)
    double interval;         // seconds between redraws: 0.2 on a TTY, 5 otherwise;
                             // callers (tests) may change it right after begin
} mg_progress;

/* Starts a progress report for `total` units (0 = unknown). Disabled at QUIET.
 * On a TTY: one bar redrawn in place with \r. Otherwise (pipes, CI logs): plain
 * newline-terminated lines "label: done/total unit (pct%), rate unit/s, ETA Ns"
 * at most every `interval` seconds, and no control characters. */
void mg_progress_begin(mg_progress *p, const char *label, uint64_t total, const char *unit);
/* Adds n finished units and redraws if enough time passed. */
void mg_progress_add(mg_progress *p, uint64_t n);
/* Final line with totals and elapsed time. */
void mg_progress_end(mg_progress *p);
/* Ends a report that failed: erases the bar on a TTY and prints no summary,
 * so the error that follows is the one line the user sees. */
void mg_progress_abort(mg_progress *p);

#endif // MG_BASE_LOG_H
