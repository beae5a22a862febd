/* sigbus.h - a clean one-line error instead of a crash when a memory-mapped
 * input shrinks while it is being read.
 *
 * mergeguard maps safetensors and GGUF files (file.h) and validates every
 * header against the file size when it opens them. If the file is then
 * truncated or rewritten in place by another process, touching a page past
 * the new end raises SIGBUS, which would kill the process with no message.
 * (Merge inputs are read with pread, where a short file is an ordinary error;
 * see merge/plan.h.) mg_mmap_open registers each mapping here; the handler
 * the CLI installs finds the mapping that faulted, checks the file's current
 * size, prints "mergeguard: error: PATH: the file shrank from N to M bytes
 * while being read ..." and exits with status 2 (1 when the file did not
 * shrink: a disk I/O error). Outputs being written are left as temporary
 * siblings, as after any kill (base/file.h: the final name never appears).
 *
 * Only async-signal-safe calls run in the handler (stat, write, _exit).
 * Thread-safety: track/untrack lock an internal mutex; the handler reads the
 * table without locking (entries are published with atomic stores). */
#ifndef MG_BASE_SIGBUS_H
#define MG_BASE_SIGBUS_H

#include <stdint.h>

/* Records / forgets a read-only mapping of path (borrowed until untracked).
 * Beyond MG_SIGBUS_SLOTS live mappings, later ones go unnamed in messages. */
#define MG_SIGBUS_SLOTS 1024
void mg_sigbus_track(const void *start, uint64_t len, const char *path);
void mg_sigbus_untrack(const void *start);

/* Installs the SIGBUS handler (the CLI does, once, at start). */
void mg_sigbus_install(void);

#endif // MG_BASE_SIGBUS_H
