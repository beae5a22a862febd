/* error.c - see error.h. */
#include "base/error.h"

#include <stdio.h>
#include <string.h>

mg_status mg_error_setv(mg_error *err, mg_status status, const char *fmt, va_list ap) {
    if (!err) return status;
    err->status = status;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    // Keep messages on one line: a newline inside would break "one clear line".
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return status;
}

mg_status mg_error_set(mg_error *err, mg_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mg_error_setv(err, status, fmt, ap);
    va_end(ap);
    return status;
}

mg_status mg_error_prefix(mg_error *err, const char *fmt, ...) {
    if (!err) return MG_ERR_RUNTIME;
    char prefix[MG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    // Truncation is acceptable here: messages are capped at one line anyway.
    size_t plen = strnlen(prefix, sizeof err->msg - 1);
    size_t mlen = strnlen(err->msg, sizeof err->msg - 1);
    if (plen + mlen > sizeof err->msg - 1) mlen = sizeof err->msg - 1 - plen;
    memmove(err->msg + plen, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen + mlen] = '\0';
    return err->status;
}

const char *mg_error_preview(char *buf, const char *s, size_t len) {
    size_t n = len < 40 ? len : 40;
    if (n < len) // back off to a UTF-8 character boundary
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (n < len)
        snprintf(buf + o, MG_PREVIEW_MAX - o, "... (%zu bytes)", len);
    else
        buf[o] = 0;
    return buf;
}

void mg_error_clear(mg_error *err) {
    if (!err) return;
    err->status = MG_OK;
    err->msg[0] = '\0';
}

const char *mg_status_name(mg_status status) {
    switch (status) {
    case MG_OK: return "ok";
    case MG_ERR_INVALID: return "invalid input";
    case MG_ERR_USAGE: return "usage error";
    case MG_ERR_UNSUPPORTED: return "unsupported";
    case MG_ERR_EXISTS: return "output exists";
    case MG_ERR_NOT_FOUND: return "not found";
    case MG_ERR_IO: return "I/O error";
    case MG_ERR_RUNTIME: return "runtime error";
    case MG_ERR_CANCELLED: return "cancelled";
    }
    return "unknown error";
}

int mg_status_exit_code(mg_status status) {
    switch (status) {
    case MG_OK: return 0;
    case MG_ERR_INVALID:
    case MG_ERR_USAGE:
    case MG_ERR_UNSUPPORTED:
    case MG_ERR_EXISTS:
    case MG_ERR_NOT_FOUND: return 2;
    default: return 1;
    }
}
