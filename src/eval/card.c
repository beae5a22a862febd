/* card.c - the evaluation section of a model card (README.md; see report.h).
 *
 * The section sits between HTML comment markers, invisible when rendered, so
 * a later run finds and replaces it: scores never pile up in a card. */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "eval/report.h"
#include "eval/strbuf.h"

static void row_pct(mg_sb *b, const char *what, const json_t *v) {
    if (!json_is_number(v)) return;
    mg_sb_printf(b, "| %s | %.1f %% |\n", what, 100.0 * json_number_value(v));
}

char *mg_report_card_section(const json_t *report, size_t i) {
    const json_t *m = json_array_get(json_object_get(report, "models"), i);
    const json_t *settings = json_object_get(report, "settings");
    const char *metric = json_string_value(json_object_get(settings, "metric"));
    if (!metric) metric = "acc";
    mg_sb b = {0};
    mg_sb_add(&b, MG_CARD_BEGIN "\n## Evaluation (mergeguard)\n\n| Metric | Value |\n|---|---:|\n");
    const json_t *judges = json_object_get(json_object_get(m, "safety"), "judges");
    const json_t *g = json_object_get(judges, "guard"), *r = json_object_get(judges, "refusal");
    row_pct(&b, "Alignment, Llama Guard (safe responses)", json_object_get(g, "safe_rate"));
    row_pct(&b, "Alignment, refusal phrases", json_object_get(r, "safe_rate"));
    const char *name;
    const json_t *t;
    json_object_foreach((json_t *)json_object_get(m, "tasks"), name, t) {
        const char *kind = json_string_value(json_object_get(t, "kind"));
        bool qa = kind && !strcmp(kind, "qa");
        char what[256];
        snprintf(what, sizeof what, "%s (%s)", name, qa ? "exact match" : metric);
        for (char *p = what; *p; p++)
            if (*p == '|' || *p == '\n') *p = ' ';
        row_pct(&b, what, json_object_get(t, qa ? "exact_match" : metric));
    }
    row_pct(&b, "Average accuracy", json_object_get(m, "accuracy"));
    mg_sb_add(&b, "\nSettings:");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)settings, key, v) {
        if (json_is_string(v)) mg_sb_printf(&b, " %s=%s;", key, json_string_value(v));
        else if (json_is_integer(v)) mg_sb_printf(&b, " %s=%lld;", key, (long long)json_integer_value(v));
        else if (json_is_real(v)) mg_sb_printf(&b, " %s=%g;", key, json_real_value(v));
        else if (json_is_array(v)) {
            mg_sb_printf(&b, " %s=", key);
            size_t k;
            json_t *e;
            json_array_foreach(v, k, e) mg_sb_printf(&b, "%s%s", k ? "," : "", json_string_value(e) ? json_string_value(e) : "?");
            mg_sb_add(&b, ";");
        }
    }
    mg_sb_add(&b, "\n" MG_CARD_END "\n");
    return mg_sb_take(&b);
}

mg_status mg_card_merge(const char *card, const char *section, char **out, mg_error *err) {
    *out = NULL;
    const char *b = strstr(card, MG_CARD_BEGIN);
    mg_sb s = {0};
    if (b) {
        const char *e = strstr(b, MG_CARD_END);
        if (!e)
            return mg_error_set(err, MG_ERR_INVALID,
                                "model card has '" MG_CARD_BEGIN "' without '" MG_CARD_END
                                "' after it; fix the card by hand");
        e += strlen(MG_CARD_END);
        if (*e == '\n') e++;
        mg_sb_addn(&s, card, (size_t)(b - card));
        mg_sb_add(&s, section);
        mg_sb_add(&s, e);
    } else {
        size_t len = strlen(card);
        mg_sb_add(&s, card);
        if (len && card[len - 1] != '\n') mg_sb_add(&s, "\n");
        if (len) mg_sb_add(&s, "\n");
        mg_sb_add(&s, section);
    }
    *out = mg_sb_take(&s);
    return MG_OK;
}

mg_status mg_card_update(const char *model_dir, const char *section, mg_error *err) {
    char *path = mg_path_join(model_dir, "README.md");
    char *old = NULL, *merged = NULL;
    size_t len = 0;
    mg_status rc = MG_OK;
    if (mg_path_exists(path)) rc = mg_file_read_all(path, 1u << 26, &old, &len, err);
    if (rc == MG_OK) rc = mg_card_merge(old ? old : "", section, &merged, err);
    if (rc == MG_OK) rc = mg_write_file_atomic(path, merged, strlen(merged), true, err);
    if (rc != MG_OK) mg_error_prefix(err, "%s: ", path);
    free(path);
    free(old);
    free(merged);
    return rc;
}
