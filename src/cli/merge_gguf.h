/* merge_gguf.h - `mergeguard merge CONFIG OUT_DIR --gguf OUT.gguf [--outtype T]`:
 * the merged model written both as the HF folder and as a GGUF file.
 *
 * The merge runs as usual and commits OUT_DIR; the folder is then exported
 * with exactly the code path of `export-gguf` (mg_gguf_export: atomic output,
 * same --force semantics), so OUT.gguf equals `export-gguf OUT_DIR OUT.gguf`
 * byte for byte. Everything that can be known before merging is checked
 * before any tensor is read: the --outtype value, an existing OUT.gguf
 * without --force, OUT.gguf's folder, and that the architecture of the model
 * whose config.json the merge copies can be written as GGUF. Kept apart from
 * merge.c so the merge command only gains three calls.
 * Thread-safety: no shared state. */
#ifndef MG_CLI_MERGE_GGUF_H
#define MG_CLI_MERGE_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "io/gguf_export.h"
#include "merge/plan.h"

typedef struct mg_merge_gguf {
    const char *path; // NULL: no GGUF requested
    mg_gguf_outtype outtype;
    bool outtype_given;
    uint64_t file_bytes; // set by mg_merge_gguf_write
} mg_merge_gguf;

/* Recognizes --gguf PATH and --outtype T at argv[*i]: 1 when consumed (*i
 * advanced past the value), 0 when argv[*i] is another option, -1 after
 * printing a usage error (a missing or invalid value). */
int mg_merge_gguf_option(int argc, char **argv, int *i, mg_merge_gguf *g);

/* Before merging (plan built): --outtype needs --gguf; when `writes` (not a
 * dry run) OUT.gguf must not exist unless force, must differ from OUT_DIR and
 * have an existing folder (or OUT_DIR itself); the donor's architecture must
 * be one GGUF export supports. A no-op without --gguf. */
mg_status mg_merge_gguf_check(const mg_merge_gguf *g, const mg_plan *plan, const char *out_dir,
                              bool force, bool writes, mg_error *err);

/* After OUT_DIR is committed: exports it to OUT.gguf and logs a summary. A
 * no-op without --gguf. On failure OUT_DIR stays (it is complete) and the
 * message says so. */
mg_status mg_merge_gguf_write(mg_merge_gguf *g, const char *out_dir, bool force,
                              mg_error *err);

/* Adds "gguf": {"path", "outtype", "bytes"} to the merge's --json summary
 * after a successful write. A no-op without --gguf. */
void mg_merge_gguf_json(const mg_merge_gguf *g, json_t *summary);

#endif // MG_CLI_MERGE_GGUF_H
