/* file.h - whole-file reads, read-only memory maps, and atomic outputs.
 *
 * Atomic outputs: every file or directory mergeguard produces is first built
 * as a hidden temporary sibling (".NAME.tmp-XXXXXX" in the same directory, so
 * the final rename never crosses file systems), fsynced, then renamed into
 * place. An existing output is refused unless force is set; with force, the
 * new output is swapped in with renameat2(RENAME_EXCHANGE), so a crash at any
 * moment leaves either the complete old output or the complete new one.
 * Temporaries carry the writer's PID (".NAME.tmp-PID-XXXXXX"); the next
 * mg_atomic_begin on NAME removes those whose process is gone (a killed run),
 * and on file systems without RENAME_EXCHANGE the old output is moved aside
 * (".NAME.old-PID-XXXXXX") and put back by that same clean-up if a kill
 * came between the two renames.
 * Thread-safety: distinct objects may be used from distinct threads. */
#ifndef MG_BASE_FILE_H
#define MG_BASE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_mmap {
    const uint8_t *data; // borrowed view, valid until mg_mmap_close; NULL for an empty file
    uint64_t size;
    char *path;          // owned copy of the path, for messages
} mg_mmap;

typedef enum mg_mmap_advice {
    MG_ADVISE_NORMAL = 0,
    MG_ADVISE_SEQUENTIAL, // streaming passes (merge, stats)
    MG_ADVISE_RANDOM,     // headers and lookups
    MG_ADVISE_WILLNEED,   // weights about to be read in full
} mg_mmap_advice;

/* Maps a whole regular file read-only. Empty files are allowed (data NULL). */
mg_status mg_mmap_open(mg_mmap *m, const char *path, mg_mmap_advice advice, mg_error *err);
/* Applies an madvise hint to a byte range of the mapping (best effort). */
void mg_mmap_advise(const mg_mmap *m, uint64_t offset, uint64_t len, mg_mmap_advice advice);
/* NULL-safe, safe on a zeroed or half-opened mg_mmap. */
void mg_mmap_close(mg_mmap *m);

/* Reads a whole file into an owned, NUL-terminated buffer (free with free()).
 * Refuses files larger than max_bytes (0 = no limit) with MG_ERR_INVALID. */
mg_status mg_file_read_all(const char *path, uint64_t max_bytes, char **out, size_t *len,
                           mg_error *err);

bool mg_path_exists(const char *path);
bool mg_path_is_dir(const char *path);
bool mg_path_is_file(const char *path);
/* Joins a directory and a name with one '/'. Owned, free with free(). */
char *mg_path_join(const char *dir, const char *name);
/* Creates a directory and its missing parents (mode 0755). */
mg_status mg_mkdir_p(const char *path, mg_error *err);
/* Removes a file or a directory tree; missing paths are not an error. */
mg_status mg_remove_tree(const char *path, mg_error *err);
/* fsyncs a file or directory by path. */
mg_status mg_fsync_path(const char *path, mg_error *err);

typedef struct mg_atomic_out mg_atomic_out;

/* Cleans, in dir, what killed writers left of any output (as mg_atomic_begin
 * does for its own NAME): for a run resuming into dir that may not write every
 * one of its outputs again. Best effort. */
void mg_atomic_clean_dir(const char *dir);

/* Starts an output at final_path: creates the temporary sibling (a directory
 * when is_dir, else an empty file) and returns a handle. Fails with
 * MG_ERR_EXISTS when final_path exists and !force. Owned: finish with
 * mg_atomic_commit or mg_atomic_abort (which also frees). */
mg_status mg_atomic_begin(const char *final_path, bool is_dir, bool force, mg_atomic_out **out,
                          mg_error *err);
/* The temporary path to write into. Borrowed, valid until commit/abort. */
const char *mg_atomic_tmp_path(const mg_atomic_out *o);
/* fsyncs everything under the temporary path, renames (or swaps, with force)
 * it into place, fsyncs the parent directory, deletes the old output, frees o.
 * On failure the temporary is removed and any old output is untouched. */
mg_status mg_atomic_commit(mg_atomic_out *o, mg_error *err);
/* Removes the temporary and frees o. NULL-safe. */
void mg_atomic_abort(mg_atomic_out *o);
/* Rewrites the temporary path in err's message to the final path, so a
 * failure (disk full, ...) names the output the user asked for. NULL-safe;
 * mg_atomic_commit does it for its own errors. */
void mg_atomic_name_final(const mg_atomic_out *o, mg_error *err);

/* Writes a small file atomically in one call. */
mg_status mg_write_file_atomic(const char *path, const void *data, size_t len, bool force,
                               mg_error *err);
/* write(2) until len bytes are out (EINTR retried); errors name `what` and
 * the OS reason (ENOSPC, EFBIG, ...). */
mg_status mg_write_all(int fd, const void *data, size_t len, const char *what, mg_error *err);

/* TEST-ONLY crash hook, a no-op unless the environment asks for it. Output
 * code calls it between durable steps (atomic outputs, tensors written,
 * records appended, checkpoints). MERGEGUARD_TEST_KILL_AT=N makes the Nth
 * call of the process (1-based, across threads) raise SIGKILL;
 * MERGEGUARD_TEST_KILL_TRACE=1 prints "kill point N: WHAT" to stderr at each
 * call (to count them). Used by tests/cli/test_kill.sh and bench/killtest.sh;
 * MERGEGUARD_TEST_NO_EXCHANGE=1 likewise makes mg_atomic_commit use its
 * rename-aside fallback. Costs one getenv on first use. */
void mg_test_kill_point(const char *what);

#endif // MG_BASE_FILE_H
