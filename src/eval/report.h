/* report.h - evaluation reports: report.json (machines, diffable), report.md
 * (people: the paper's Table 1 layout), report.svg (alignment against
 * accuracy), and the model-card section.
 *
 * Every renderer reads the report JSON that `mergeguard eval` assembles:
 *   {"mergeguard": version, "settings": {...}, "primary_judge": "guard" |
 *    "refusal" | null, "tasks": [name, ...], "models": [{"name", "path",
 *    "alignment": fraction | null (the primary judge's safe rate), "safety":
 *    <mg_safety_run summary> | null, "tasks": {name: {"kind": "mc", "acc",
 *    "acc_norm", "n"} | {"kind": "qa", "exact_match", "n"}}, "accuracy":
 *    fraction | null (unweighted mean over the tasks of the settings' metric,
 *    as the paper averages datasets)}]}
 * Fractions are stored in [0, 1]; the Markdown, SVG and card show percent.
 * The report directory is written atomically: all files appear together or
 * not at all (an existing directory is replaced only with force).
 * Ownership: rendered strings are owned by the caller. Thread-safe. */
#ifndef MG_EVAL_REPORT_H
#define MG_EVAL_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* The Markdown report: title, settings, the comparison table, safety details
 * (per judge, per category). Owned. */
char *mg_report_markdown(const json_t *report);

/* A standalone SVG scatter plot: x = accuracy %, y = alignment %, one labelled
 * point per model with both numbers. Well-formed XML. Owned. */
char *mg_report_svg(const json_t *report);

/* A file to copy into the report directory (e.g. an audit JSONL). */
typedef struct mg_report_extra {
    const char *src;  // existing file
    const char *dest; // relative name inside the directory ("audit/x.jsonl")
} mg_report_extra;

/* Writes dir/report.json, report.md, report.svg and the extras atomically. */
mg_status mg_report_write(const char *dir, const json_t *report, const mg_report_extra *extras,
                          size_t n_extras, bool force, mg_error *err);

/* The model-card section of model i, between the markers below. Owned. */
char *mg_report_card_section(const json_t *report, size_t i);

#define MG_CARD_BEGIN "<!-- mergeguard-eval:begin -->"
#define MG_CARD_END "<!-- mergeguard-eval:end -->"

/* Puts `section` (which starts with MG_CARD_BEGIN and ends with MG_CARD_END)
 * into the text of a model card: replaces the existing section, else appends
 * it after a blank line. *out owned. MG_ERR_INVALID when the card has a begin
 * marker without an end marker after it. */
mg_status mg_card_merge(const char *card, const char *section, char **out, mg_error *err);

/* Applies mg_card_merge to model_dir/README.md (created when missing),
 * replacing the file atomically. */
mg_status mg_card_update(const char *model_dir, const char *section, mg_error *err);

#endif // MG_EVAL_REPORT_H
