/* tensor_stats.h - per-tensor summary statistics in one streaming pass.
 *
 * Used by `mergeguard inspect --stats`. All tensors are cut into fixed chunks
 * of MG_STATS_CHUNK elements; threads take chunks in any order, each chunk's
 * partial (count, mean, M2, min, max, NaN/Inf counts) depends only on its
 * elements, and partials are merged per tensor in chunk order (Chan et al.'s
 * pairwise update), so results are bit-identical for any thread count.
 * Every dtype is read: floats exactly, integers and BOOL as their values,
 * F8_E4M3 (the "fn" variant: no Inf) and F8_E5M2 decoded.
 * Mean, std (population) and min/max cover the finite elements only; NaN and
 * Inf are counted apart. Thread-safety: no shared state besides `progress`. */
#ifndef MG_IO_TENSOR_STATS_H
#define MG_IO_TENSOR_STATS_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include <jansson.h>

#include "base/log.h"
#include "io/model_dir.h"
#include "io/safetensors.h"

#define MG_STATS_CHUNK ((size_t)1 << 16)

typedef struct mg_tensor_stats {
    uint64_t count;  // elements
    uint64_t finite; // elements the moments below cover
    uint64_t nan, inf;
    double mean, std; // 0 when finite == 0
    double min, max;  // 0 when finite == 0
} mg_tensor_stats;

/* Fills out[i] for tensors t[0..n). progress (may be NULL) advances by bytes read. */
void mg_tensor_stats_compute(const mg_tensor_view *const *t, size_t n, mg_tensor_stats *out,
                             mg_progress *progress);

/* Stats of every tensor of m, out[i] for mg_model_tensor_at(m, i). Reads the
 * shards in file order (sequential I/O when cold), whatever the name order. */
/* {"mean", "std", "min", "max", "nan", "inf"} of one tensor; JSON has no NaN,
 * so the moments are null when no element is finite. New reference. */
json_t *mg_tensor_stats_json(const mg_tensor_stats *s);

/* The stats columns of a text table row ("  mean std min max nan inf", "-" for
 * the moments when no element is finite), without a newline. */
void mg_tensor_stats_print(FILE *f, const mg_tensor_stats *s);

void mg_model_stats_compute(const mg_model *m, mg_tensor_stats *out, mg_progress *progress);

/* Decodes one float8 value (bits) to float. */
float mg_f8_e4m3_to_f32(uint8_t b);
float mg_f8_e5m2_to_f32(uint8_t b);

#endif // MG_IO_TENSOR_STATS_H
