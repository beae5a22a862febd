/* st_util.h - small helpers shared by the io/ modules: quoting untrusted names
 * for one-line messages, strict UTF-8 validation, and recognising pickled
 * checkpoints so they can be refused before anything in them is interpreted.
 * Thread-safe, no state. */
#ifndef MG_IO_ST_UTIL_H
#define MG_IO_ST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Copies s into buf for a message: control bytes as \xNN, cut at ~200 chars.
 * Returns buf. */
const char *mg_st_quote(const char *s, char *buf, size_t cap);

/* True when s[0..n) is strict UTF-8 (no overlongs, surrogates or code points
 * past U+10FFFF); otherwise *bad_at (if non-NULL) gets the offending offset. */
bool mg_utf8_valid(const uint8_t *s, size_t n, size_t *bad_at);

/* Recognises the first bytes of a torch.save output (zip archive or raw
 * pickle stream). Returns a description ("a Python pickle") or NULL. */
const char *mg_pickle_kind(const uint8_t *p, uint64_t n);

/* Sets the refusal error for a pickled checkpoint at path (`what` describes it)
 * and returns MG_ERR_UNSUPPORTED: why (loading executes code) and how to convert. */
mg_status mg_pickle_refuse(const char *path, const char *what, mg_error *err);

#endif // MG_IO_ST_UTIL_H
