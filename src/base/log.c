/* log.c - see log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static mg_log_level g_level = MG_LOG_INFO;

void mg_log_set_level(mg_log_level level) {
    g_level = level;
}

mg_log_level mg_log_get_level(void) {
    return g_level;
}

static void log_line(mg_log_level level, const char *tag, const char *fmt, va_list ap) {
    if (level > g_level && level != MG_LOG_QUIET) return;
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(stderr, "%s%s\n", tag, buf); // single call: lines from threads do not interleave
}

#define DEFINE_LOG(fn, level, tag)                                                                 \
    void fn(const char *fmt, ...) {                                                                \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_line(level, tag, fmt, ap);                                                             \
        va_end(ap);                                                                                \
    }

DEFINE_LOG(mg_log_error, MG_LOG_QUIET, "mergeguard: error: ")
DEFINE_LOG(mg_log_warn, MG_LOG_WARN, "mergeguard: warning: ")
DEFINE_LOG(mg_log_info, MG_LOG_INFO, "")
DEFINE_LOG(mg_log_debug, MG_LOG_DEBUG, "debug: ")

double mg_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void format_amount(char *out, size_t n, double v, const char *unit) {
    if (unit && strcmp(unit, "B") == 0) {
        const char *sfx[] = {"B", "KB", "MB", "GB", "TB"};
        int i = 0;
        while (v >= 1000.0 && i < 4) v /= 1000.0, i++;
        snprintf(out, n, "%.1f %s", v, sfx[i]);
    } else {
        // Rates of slow work (0.4 tensors/s) must not print as "0".
        snprintf(out, n, v < 10.0 && v != (double)(uint64_t)v ? "%.1f%s%s" : "%.0f%s%s", v,
                 unit && *unit ? " " : "", unit ? unit : "");
    }
}

void mg_progress_begin(mg_progress *p, const char *label, uint64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->unit = unit;
    p->start = mg_now_seconds();
    p->last_draw = p->start;
    atomic_flag_clear(&p->draw_lock);
    p->tty = isatty(STDERR_FILENO);
    p->enabled = g_level >= MG_LOG_INFO;
    p->interval = p->tty ? 0.2 : 5.0; // plain lines are for logs: keep them sparse
}

static void draw(mg_progress *p, uint64_t done, bool final) {
    double now = mg_now_seconds();
    double el = now - p->start;
    double rate = el > 0 ? (double)done / el : 0.0;
    char amt[32], tot[32], rt[32], eta[32] = "";
    format_amount(amt, sizeof amt, (double)done, p->unit);
    format_amount(tot, sizeof tot, (double)p->total, p->unit);
    format_amount(rt, sizeof rt, rate, p->unit);
    double frac = p->total ? (double)done / (double)p->total : 0.0;
    if (frac > 1) frac = 1;
    if (p->total && done < p->total && rate > 0)
        snprintf(eta, sizeof eta, ", ETA %.0fs", (double)(p->total - done) / rate);
    if (final) {
        // On a TTY, \r + erase-line removes the bar (the final line may be shorter).
        fprintf(stderr, "%s%s: %s in %.2fs (%s/s)\n", p->tty ? "\r\033[K" : "", p->label, amt, el,
                rt);
    } else if (p->tty && p->total) {
        char bar[31] = {0};
        for (int i = 0; i < 30; i++) bar[i] = i < (int)(frac * 30) ? '#' : '.';
        fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %s %s/s%s", p->label, bar, frac * 100, amt, rt,
                eta);
    } else if (p->tty) {
        fprintf(stderr, "\r\033[K%s: %s, %s/s", p->label, amt, rt);
    } else if (p->total && p->unit && strcmp(p->unit, "B") == 0) {
        fprintf(stderr, "%s: %s of %s (%.0f%%), %s/s%s\n", p->label, amt, tot, frac * 100, rt,
                eta);
    } else if (p->total) {
        fprintf(stderr, "%s: %llu/%llu%s%s (%.0f%%), %s/s%s\n", p->label, (unsigned long long)done,
                (unsigned long long)p->total, p->unit ? " " : "", p->unit ? p->unit : "",
                frac * 100, rt, eta);
    } else {
        fprintf(stderr, "%s: %s, %s/s\n", p->label, amt, rt);
    }
}

void mg_progress_add(mg_progress *p, uint64_t n) {
    uint64_t done = atomic_fetch_add(&p->done, n) + n;
    if (!p->enabled) return;
    double now = mg_now_seconds();
    if (now - p->last_draw < p->interval) return;
    if (atomic_flag_test_and_set(&p->draw_lock)) return; // another thread is drawing
    if (now - p->last_draw >= p->interval) {
        p->last_draw = now;
        draw(p, done, false);
    }
    atomic_flag_clear(&p->draw_lock);
}

void mg_progress_end(mg_progress *p) {
    if (!p->enabled) return;
    draw(p, atomic_load(&p->done), true);
}

void mg_progress_abort(mg_progress *p) {
    if (p->enabled && p->tty) fputs("\r\033[K", stderr);
}
