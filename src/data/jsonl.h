/* jsonl.h - JSON Lines records (DESIGN.md "Formats") with line-numbered errors.
 *
 * A JSONL file holds one JSON object per line; blank lines are skipped. Every
 * error names the file and the 1-based line ("safety.jsonl:7: ..."), so a
 * user can fix a thousand-line file without bisecting it. An empty file (no
 * records) is an error for inputs, since evaluating nothing is never intended.
 * Lines longer than MG_JSONL_MAX_LINE are refused: records are prompts and
 * answers, and a 50 MB one is a broken or hostile file.
 * mg_jsonl_load_tail is the lenient variant for append-only logs (audit files
 * of a resumable run): a last line without its newline - a record cut short by
 * a crash - is dropped instead of failing.
 * Ownership: mg_jsonl owns its records (mg_jsonl_free); getters return values
 * borrowed from them. Thread-safety: a loaded mg_jsonl is read-only. */
#ifndef MG_DATA_JSONL_H
#define MG_DATA_JSONL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/error.h"

#define MG_JSONL_MAX_LINE ((size_t)16 << 20) // bytes of one record

typedef struct mg_jsonl {
    json_t **recs; // [n] owned JSON objects
    int *lines;    // [n] 1-based line numbers
    size_t n;
    char *path; // owned copy, for messages
} mg_jsonl;

/* Reads every record of path. Errors: a missing file (MG_ERR_NOT_FOUND), a
 * line that is not valid JSON or not an object, duplicate keys, an empty file
 * (all MG_ERR_INVALID, "path:LINE: ..."). */
mg_status mg_jsonl_load(const char *path, mg_jsonl *out, mg_error *err);
/* As mg_jsonl_load, but an empty or missing file gives zero records and a
 * final line without '\n' is ignored (an interrupted append). */
mg_status mg_jsonl_load_tail(const char *path, mg_jsonl *out, mg_error *err);
void mg_jsonl_free(mg_jsonl *j); // NULL-safe; leaves j empty

/* Typed field access for record i; errors say "path:LINE: field 'key' ...".
 * A missing optional field leaves *out untouched. Strings borrowed. */
mg_status mg_jsonl_str(const mg_jsonl *j, size_t i, const char *key, bool required,
                       const char **out, mg_error *err);
mg_status mg_jsonl_int(const mg_jsonl *j, size_t i, const char *key, bool required, long long *out,
                       mg_error *err);
/* An array of strings: *out borrowed JSON array (every item checked). */
mg_status mg_jsonl_str_array(const mg_jsonl *j, size_t i, const char *key, size_t min_items,
                             json_t **out, mg_error *err);

/* Sets err to "path:LINE: <message>" for record i. Returns status. */
mg_status mg_jsonl_error(const mg_jsonl *j, size_t i, mg_error *err, mg_status status,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Appends v as one compact line to an open file and flushes it to the OS (and
 * to disk with sync), so a crash loses at most the record being written. A
 * failed write (ENOSPC, EFBIG) is undone: the file is cut back to its size
 * before the call, so it never keeps a torn line. */
mg_status mg_jsonl_append(FILE *f, const json_t *v, bool sync, const char *what, mg_error *err);

#endif // MG_DATA_JSONL_H
