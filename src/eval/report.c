/* report.c - report.md and the atomic report directory (see report.h). */
#include "eval/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "eval/strbuf.h"

// "97.3" for a fraction, "-" for null / missing.
static void pct(mg_sb *b, const json_t *v) {
    if (json_is_number(v)) mg_sb_printf(b, "%.1f", 100.0 * json_number_value(v));
    else mg_sb_add(b, "-");
}

// Markdown table cells must not contain '|' or newlines.
static void cell(mg_sb *b, const char *s) {
    for (; *s; s++) {
        if (*s == '|') mg_sb_add(b, "\\|");
        else if (*s == '\n' || *s == '\r') mg_sb_add(b, " ");
        else mg_sb_addn(b, s, 1);
    }
}

static const json_t *judge_rate(const json_t *model, const char *judge) {
    return json_object_get(json_object_get(json_object_get(json_object_get(model, "safety"),
                                                            "judges"),
                                            judge),
                           "safe_rate");
}

char *mg_report_markdown(const json_t *report) {
    mg_sb b = {0};
    const json_t *settings = json_object_get(report, "settings");
    const json_t *models = json_object_get(report, "models");
    const json_t *tasks = json_object_get(report, "tasks");
    const char *metric = json_string_value(json_object_get(settings, "metric"));
    if (!metric) metric = "acc";
    mg_sb_add(&b, "# mergeguard evaluation\n\n");
    bool has_guard = false, has_refusal = false;
    const json_t *judges = json_object_get(settings, "judges");
    size_t k;
    json_t *v;
    json_array_foreach(judges, k, v) {
        const char *s = json_string_value(v);
        if (s && !strncmp(s, "guard:", 6)) has_guard = true;
        if (s && !strcmp(s, "refusal")) has_refusal = true;
    }
    // The comparison table (paper Table 1: alignment, accuracy per task, average).
    mg_sb_add(&b, "| Model |");
    if (has_guard) mg_sb_add(&b, " Align % (guard) |");
    if (has_refusal) mg_sb_add(&b, " Align % (refusal) |");
    json_array_foreach(tasks, k, v) {
        mg_sb_add(&b, " ");
        cell(&b, json_string_value(v));
        mg_sb_add(&b, " % |");
    }
    if (json_array_size(tasks)) mg_sb_add(&b, " Avg acc % |");
    mg_sb_add(&b, "\n|---|");
    size_t cols = (size_t)has_guard + (size_t)has_refusal + json_array_size(tasks) +
                  (json_array_size(tasks) ? 1 : 0);
    for (size_t c = 0; c < cols; c++) mg_sb_add(&b, "---:|");
    mg_sb_add(&b, "\n");
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        mg_sb_add(&b, "| ");
        cell(&b, json_string_value(json_object_get(m, "name")));
        mg_sb_add(&b, " |");
        if (has_guard) {
            mg_sb_add(&b, " ");
            pct(&b, judge_rate(m, "guard"));
            mg_sb_add(&b, " |");
        }
        if (has_refusal) {
            mg_sb_add(&b, " ");
            pct(&b, judge_rate(m, "refusal"));
            mg_sb_add(&b, " |");
        }
        json_array_foreach(tasks, k, v) {
            const json_t *t = json_object_get(json_object_get(m, "tasks"), json_string_value(v));
            const char *kind = json_string_value(json_object_get(t, "kind"));
            mg_sb_add(&b, " ");
            pct(&b, json_object_get(t, kind && !strcmp(kind, "qa") ? "exact_match" : metric));
            mg_sb_add(&b, " |");
        }
        if (json_array_size(tasks)) {
            mg_sb_add(&b, " ");
            pct(&b, json_object_get(m, "accuracy"));
            mg_sb_add(&b, " |");
        }
        mg_sb_add(&b, "\n");
    }
    mg_sb_printf(&b,
                 "\nAlignment: share of harmful prompts answered safely (1 - unsafe/total). "
                 "Accuracy: multiple-choice `%s` (exact match for QA tasks); the average is the "
                 "unweighted mean over tasks.\n",
                 metric);
    // Settings.
    mg_sb_add(&b, "\n## Settings\n\n");
    const char *key;
    json_object_foreach((json_t *)settings, key, v) {
        char *s = json_is_string(v) ? NULL : mg_json_dump(v, JSON_COMPACT | JSON_ENCODE_ANY);
        mg_sb_printf(&b, "- %s: ", key);
        cell(&b, s ? s : json_string_value(v));
        mg_sb_add(&b, "\n");
        free(s);
    }
    // Safety details.
    json_array_foreach(models, i, m) {
        const json_t *sf = json_object_get(m, "safety");
        if (!json_is_object(sf)) continue;
        mg_sb_add(&b, "\n## Safety: ");
        cell(&b, json_string_value(json_object_get(m, "name")));
        mg_sb_printf(&b, "\n\n%lld prompts", (long long)json_integer_value(json_object_get(sf, "prompts")));
        mg_sb_printf(&b, ", mean response length %.1f tokens.\n",
                     json_number_value(json_object_get(sf, "mean_response_tokens")));
        const json_t *g = json_object_get(json_object_get(sf, "judges"), "guard");
        if (g) {
            mg_sb_add(&b, "Guard: safe ");
            pct(&b, json_object_get(g, "safe_rate"));
            mg_sb_printf(&b, " %% (%lld unsafe, %lld unparsed); by P(unsafe) >= %.2f: safe ",
                         (long long)json_integer_value(json_object_get(g, "unsafe")),
                         (long long)json_integer_value(json_object_get(g, "unparsed")),
                         json_number_value(json_object_get(g, "threshold")));
            pct(&b, json_object_get(g, "safe_rate_prob"));
            mg_sb_add(&b, " %.");
            const json_t *codes = json_object_get(g, "codes");
            if (json_object_size(codes)) {
                mg_sb_add(&b, " Codes:");
                json_object_foreach((json_t *)codes, key, v)
                    mg_sb_printf(&b, " %s x%lld", key, (long long)json_integer_value(v));
            }
            mg_sb_add(&b, "\n");
        }
        const json_t *r = json_object_get(json_object_get(sf, "judges"), "refusal");
        if (r) {
            mg_sb_add(&b, "Refusal phrases: safe ");
            pct(&b, json_object_get(r, "safe_rate"));
            mg_sb_printf(&b, " %% (%lld unsafe).\n",
                         (long long)json_integer_value(json_object_get(r, "unsafe")));
        }
        const json_t *cats = json_object_get(sf, "by_category");
        if (json_object_size(cats)) {
            mg_sb_add(&b, "\n| Category | Prompts |");
            if (g) mg_sb_add(&b, " Safe % (guard) |");
            if (r) mg_sb_add(&b, " Safe % (refusal) |");
            mg_sb_add(&b, "\n|---|---:|");
            if (g) mg_sb_add(&b, "---:|");
            if (r) mg_sb_add(&b, "---:|");
            mg_sb_add(&b, "\n");
            json_object_foreach((json_t *)cats, key, v) {
                mg_sb_add(&b, "| ");
                cell(&b, key);
                mg_sb_printf(&b, " | %lld |", (long long)json_integer_value(json_object_get(v, "total")));
                if (g) {
                    mg_sb_add(&b, " ");
                    pct(&b, json_object_get(v, "guard_safe_rate"));
                    mg_sb_add(&b, " |");
                }
                if (r) {
                    mg_sb_add(&b, " ");
                    pct(&b, json_object_get(v, "refusal_safe_rate"));
                    mg_sb_add(&b, " |");
                }
                mg_sb_add(&b, "\n");
            }
        }
    }
    mg_sb_add(&b, "\nPlot: report.svg (alignment against accuracy). Audit records: audit/.\n");
    return mg_sb_take(&b);
}

static mg_status copy_file(const char *src, const char *dst, mg_error *err) {
    char *buf = NULL;
    size_t len = 0;
    mg_status rc = mg_file_read_all(src, 0, &buf, &len, err);
    if (rc == MG_OK) {
        FILE *f = fopen(dst, "wb");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
            if (f) fclose(f);
            rc = mg_error_set(err, MG_ERR_IO, "%s: write failed", dst);
        }
    }
    free(buf);
    return rc;
}

static mg_status write_text(const char *dir, const char *name, const char *text, mg_error *err) {
    char *p = mg_path_join(dir, name);
    mg_status rc = mg_write_file_atomic(p, text, strlen(text), false, err);
    free(p);
    return rc;
}

mg_status mg_report_write(const char *dir, const json_t *report, const mg_report_extra *extras,
                          size_t n_extras, bool force, mg_error *err) {
    mg_atomic_out *o = NULL;
    mg_status rc = mg_atomic_begin(dir, true, force, &o, err);
    if (rc != MG_OK) return rc;
    const char *tmp = mg_atomic_tmp_path(o);
    char *md = mg_report_markdown(report), *svg = mg_report_svg(report);
    char *jp = mg_path_join(tmp, "report.json");
    rc = mg_json_write_file(jp, report, false, err);
    free(jp);
    if (rc == MG_OK) rc = write_text(tmp, "report.md", md, err);
    if (rc == MG_OK) rc = write_text(tmp, "report.svg", svg, err);
    for (size_t i = 0; i < n_extras && rc == MG_OK; i++) {
        char *dst = mg_path_join(tmp, extras[i].dest);
        char *slash = strrchr(dst, '/');
        *slash = 0;
        rc = mg_mkdir_p(dst, err);
        *slash = '/';
        if (rc == MG_OK) rc = copy_file(extras[i].src, dst, err);
        free(dst);
    }
    free(md);
    free(svg);
    if (rc == MG_OK) return mg_atomic_commit(o, err);
    mg_atomic_abort(o);
    return rc;
}
