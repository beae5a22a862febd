/* resident.h - a tensor's input bytes kept between the passes of its kernel.
 *
 * Most task-vector kernels read their inputs twice (TIES: selection, then
 * combine; DARE: the L1 rescale, then combine). While one tensor runs, the
 * raw bytes of its inputs (as stored: bf16 / f16 / f32) can stay in one
 * per-plan arena: the first pass preads each chunk straight into place, the
 * later passes convert from memory instead of reading the file again. Reads
 * are tracked in 64 KiB granules of each input; a read that is not aligned
 * to granules and not already resident is left to the caller (ordinary
 * pread). The arena is reused from tensor to tensor (no fresh pages), and a
 * tensor whose inputs exceed the byte budget does not use it.
 * Thread-safety: one tensor at a time holds the arena (begin fails for
 * another); fetch is called concurrently for distinct granules. */
#ifndef MG_MERGE_RESIDENT_H
#define MG_MERGE_RESIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_resident mg_resident;

/* budget: bytes of raw inputs one tensor may keep (0 = never). */
mg_resident *mg_resident_new(uint64_t budget);
void mg_resident_free(mg_resident *r); // NULL-safe

/* Claims the arena for a tensor whose n inputs hold nbytes[i] bytes (0: the
 * input is not kept); false when busy or over budget. */
bool mg_resident_begin(mg_resident *r, size_t n, const uint64_t *nbytes);
void mg_resident_end(mg_resident *r);

/* The bytes [begin, begin + len) of input i (offsets relative to its data),
 * read from fd at file_off + begin when not yet resident. NULL (and *st 0)
 * when the range cannot be served (unaligned and not resident, or input not
 * kept); NULL with *st set on a read error: MG_ERR_IO (errno kept), or
 * MG_ERR_INVALID when the file ends before the range (it shrank). */
/* Input i's bytes when every granule of it is resident, else NULL. */
const uint8_t *mg_resident_all(mg_resident *r, size_t i);
const uint8_t *mg_resident_fetch(mg_resident *r, size_t i, int fd, uint64_t file_off,
                                 uint64_t begin, uint64_t len, mg_status *st);

#endif // MG_MERGE_RESIDENT_H
