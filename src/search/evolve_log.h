/* evolve_log.h - the evaluation log of an evolve run (JSONL, one line per
 * candidate) and the closing report (Markdown + SVG).
 *
 * Line format, keys in this order: {"eval", "generation", "index", "fitness",
 * "ce_alignment", "ce_task", "genotype": [...], "time": {"merge", "score"}}.
 * Reals are printed with 17 significant digits (exact), NaN as null. "time"
 * comes last, so two logs compare equal after cutting each line at ',"time"'.
 * Appends are flushed and fsynced before the checkpoint that counts them is
 * written (evolve.c), which is what makes resume exact.
 * Report: report.md (settings, best candidate, per-layer weights table, the
 * plots), fitness.svg (fitness and both CE parts over evaluations, with the
 * running best) and weights.svg (the winner's decoded weight per layer group
 * and model). Ownership: entries read back are owned (mg_evolve_log_free).
 * Thread-safety: one writer per file. */
#ifndef MG_SEARCH_EVOLVE_LOG_H
#define MG_SEARCH_EVOLVE_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "search/genome.h"

typedef struct mg_evolve_entry {
    int64_t eval, generation;
    int index;
    const double *genotype; // borrowed when appending; owned by the array when read
    size_t dim;
    double fitness, ce[2]; // ce[0] alignment, ce[1] task
    double merge_seconds, score_seconds;
} mg_evolve_entry;

/* Keeps the first `lines` lines of the log (creating an empty one for 0);
 * fails when the file has fewer. */
mg_status mg_evolve_log_truncate(const char *path, int64_t lines, mg_error *err);
mg_status mg_evolve_log_append(const char *path, const mg_evolve_entry *e, size_t n, mg_error *err);
/* Reads the whole log. *out owned (mg_evolve_log_free). */
mg_status mg_evolve_log_read(const char *path, mg_evolve_entry **out, size_t *n, mg_error *err);
void mg_evolve_log_free(mg_evolve_entry *e, size_t n);
/* CE parts of the first entry whose fitness equals f (NaN when none). */
void mg_evolve_log_best_ce(const char *path, double f, double ce[2]);

/* Writes report.md, fitness.svg and weights.svg into out_dir. */
mg_status mg_evolve_report(const char *out_dir, const mg_genome *g, const char *log_path,
                           const double *xbest, mg_error *err);

#endif // MG_SEARCH_EVOLVE_LOG_H
