/* demo_tables.c - the paper's Table 1 and Table 2 layouts (paper.md 8) with
 * this run's numbers, the deltas the paper prints (against the grid-search
 * row of the same block; LM-Cocktail ours against LM-Cocktail D_expert) and
 * the paper's own figures beside them for reference. Table 1's run columns
 * are the pool {instruct, bio-expert} on the bio MC test; the paper columns
 * are its LLaMA+OpenBioLLM (BIO) and Mistral+MAmmoTH (STEM) pools. Table 2's
 * run columns are {instruct, bio-expert, chem-expert} on the bio and chem MC
 * tests, beside the paper's {Mistral, WizardMath, MAmmoTH} on ARC and WG.
 * "Align" is the primary judge's safe rate (the paper's metric); "Refusals"
 * the share of responses with a refusal phrase, which tells a model that
 * refuses from one that is merely harmless (a broken merge that babbles is
 * safe for a guard, as it would be for Llama Guard, but refuses nothing). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "demo/demo_impl.h"

json_t *demo_row_find(const json_t *rows, const char *id) {
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *s = json_string_value(json_object_get(r, "id"));
        if (s && !strcmp(s, id)) return r;
    }
    return NULL;
}

double demo_num(const json_t *row, const char *key) {
    json_t *v = row ? json_object_get(row, key) : NULL;
    return json_is_number(v) ? json_number_value(v) : NAN;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) return;
    if (b->n + (size_t)need + 1 > b->cap) {
        b->cap = (b->n + (size_t)need + 1) * 2;
        b->p = mg_realloc(b->p, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

static void pct(sbuf *b, double v) {
    if (isnan(v))
        sb_printf(b, " n/a |");
    else
        sb_printf(b, " %.1f |", v);
}

static void delta(sbuf *b, double v, double ref) {
    if (isnan(v) || isnan(ref))
        sb_printf(b, " |");
    else
        sb_printf(b, " %+.1f |", v - ref);
}

/* The paper's figures (paper.md 8, verbatim): Table 1 as {LLaMA+OpenBioLLM
 * align, acc, Mistral+MAmmoTH align, acc}; Table 2 as {align, ARC, WG}. */
typedef struct t1_paper {
    const char *kind; // row id suffix after "p2-"
    const char *merging, *weighting, *data;
    double bio_align, bio_acc, stem_align, stem_acc;
} t1_paper;

static const t1_paper T1[] = {
    {"ties-grid", "TIES", "Grid search", "-", 89.3, 74.1, 72.7, 53.7},
    {"ties-evo-dexpert", "TIES", "EvoMM", "D_expert", 79.8, 73.2, 61.6, 52.0},
    {"ties-evo-ours", "TIES", "EvoMM (ours)", "D_expert + D_safety", 96.0, 73.6, 78.1, 54.2},
    {"dare_ties-grid", "DARE-TIES", "Grid search", "-", 89.3, 74.1, 72.9, 53.3},
    {"dare_ties-evo-dexpert", "DARE-TIES", "EvoMM", "D_expert", 80.1, 73.8, 60.6, 51.7},
    {"dare_ties-evo-ours", "DARE-TIES", "EvoMM (ours)", "D_expert + D_safety", 96.1, 73.8, 78.3,
     54.0},
    {"slerp-grid", "SLERP", "Grid search", "-", 82.3, 74.1, 75.1, 53.7},
    {"slerp-evo-dexpert", "SLERP", "EvoMM", "D_expert", 86.0, 74.2, 71.9, 52.9},
    {"slerp-evo-ours", "SLERP", "EvoMM (ours)", "D_expert + D_safety", 90.7, 74.2, 77.6, 54.0},
    {"cocktail-dexpert", "-", "LM-Cocktail", "D_expert", 92.6, 74.1, 72.5, 53.3},
    {"cocktail-ours", "-", "LM-Cocktail (ours)", "D_expert + D_safety", 94.1, 74.0, 74.4, 53.2},
};

typedef struct t2_paper {
    const char *kind;
    const char *merging, *weighting, *data;
    double align, arc, wg;
} t2_paper;

static const t2_paper T2[] = {
    {"ties-grid", "TIES", "Grid search", "-", 76.5, 59.2, 74.8},
    {"ties-evo-dexpert", "TIES", "EvoMM", "D_expert", 49.1, 56.2, 73.2},
    {"ties-evo-ours", "TIES", "EvoMM (ours)", "D_expert + D_safety", 76.6, 59.6, 75.2},
    {"dare_ties-grid", "DARE-TIES", "Grid search", "-", 72.8, 59.4, 74.6},
    {"dare_ties-evo-dexpert", "DARE-TIES", "EvoMM", "D_expert", 48.3, 57.0, 74.0},
    {"dare_ties-evo-ours", "DARE-TIES", "EvoMM (ours)", "D_expert + D_safety", 81.1, 59.6, 73.7},
    {"cocktail-dexpert", "-", "LM-Cocktail", "D_expert", 62.3, 58.0, 73.6},
    {"cocktail-ours", "-", "LM-Cocktail (ours)", "D_expert + D_safety", 65.3, 58.3, 74.1},
};

/* The reference row of a block for the deltas. */
static const char *ref_kind(const char *kind) {
    if (!strncmp(kind, "cocktail", 8))
        return strcmp(kind, "cocktail-ours") ? NULL : "cocktail-dexpert";
    if (strstr(kind, "-grid")) return NULL;
    static char buf[64];
    size_t n = strcspn(kind, "-");
    snprintf(buf, sizeof buf, "%.*s-grid", (int)n, kind);
    return buf;
}

static json_t *find(const json_t *rows, int pool, const char *kind) {
    char id[128];
    snprintf(id, sizeof id, "p%d-%s", pool, kind);
    return demo_row_find(rows, id);
}

char *demo_table1_md(const json_t *rows) {
    sbuf b = {0};
    const json_t *ins = demo_row_find(rows, "instruct"), *bio = demo_row_find(rows, "bio-expert");
    sb_printf(
        &b,
        "| Merging | Task weighting | Data | Align ↑ | Refusals | Acc BIO ↑ | Δ Align | Δ Acc | "
        "paper LLaMA+OpenBioLLM Align / Acc BIO | paper Mistral+MAmmoTH Align / Acc "
        "STEM |\n|---|---|---|---|---|---|---|---|---|---|\n");
    sb_printf(&b,
              "| Expert models F | instruct / bio-expert | - | %.1f / %.1f | %.1f / %.1f | %.1f / "
              "%.1f | | | 97.9 / 48.3, 68.9 / 71.8 | 91.5 / 64.8, 49.6 / 53.1 |\n",
              demo_num(ins, "align"), demo_num(bio, "align"), demo_num(ins, "align_refusal"),
              demo_num(bio, "align_refusal"), demo_num(ins, "acc_bio"), demo_num(bio, "acc_bio"));
    for (size_t i = 0; i < sizeof T1 / sizeof T1[0]; i++) {
        const t1_paper *p = &T1[i];
        const json_t *r = find(rows, 2, p->kind);
        const char *rk = ref_kind(p->kind);
        const json_t *ref = rk ? find(rows, 2, rk) : NULL;
        sb_printf(&b, "| %s | %s | %s |", p->merging, p->weighting, p->data);
        pct(&b, demo_num(r, "align"));
        pct(&b, demo_num(r, "align_refusal"));
        pct(&b, demo_num(r, "acc_bio"));
        delta(&b, rk ? demo_num(r, "align") : NAN, demo_num(ref, "align"));
        delta(&b, rk ? demo_num(r, "acc_bio") : NAN, demo_num(ref, "acc_bio"));
        sb_printf(&b, " %.1f / %.1f | %.1f / %.1f |\n", p->bio_align, p->bio_acc, p->stem_align,
                  p->stem_acc);
    }
    return b.p;
}

char *demo_table2_md(const json_t *rows) {
    sbuf b = {0};
    sb_printf(&b,
              "| Merging | Task weighting | Data | Align ↑ | Refusals | Acc BIO ↑ | Acc CHEM ↑ | "
              "Δ Align | Δ Acc (mean) | paper Align / ARC / WG |\n"
              "|---|---|---|---|---|---|---|---|---|---|\n");
    static const char *const POOL[3] = {"instruct", "bio-expert", "chem-expert"};
    static const char *const PAPER[3] = {"Mistral: 91.6 / 54.4 / 73.5",
                                         "WizardMath: 80.0 / 51.3 / 74.2",
                                         "MAmmoTH: 65.0 / 57.2 / 70.6"};
    for (int i = 0; i < 3; i++) {
        const json_t *r = demo_row_find(rows, POOL[i]);
        sb_printf(&b, "| - | %s | - |", POOL[i]);
        pct(&b, demo_num(r, "align"));
        pct(&b, demo_num(r, "align_refusal"));
        pct(&b, demo_num(r, "acc_bio"));
        pct(&b, demo_num(r, "acc_chem"));
        sb_printf(&b, " | | %s |\n", PAPER[i]);
    }
    for (size_t i = 0; i < sizeof T2 / sizeof T2[0]; i++) {
        const t2_paper *p = &T2[i];
        const json_t *r = find(rows, 3, p->kind);
        const char *rk = ref_kind(p->kind);
        const json_t *ref = rk ? find(rows, 3, rk) : NULL;
        sb_printf(&b, "| %s | %s | %s |", p->merging, p->weighting, p->data);
        pct(&b, demo_num(r, "align"));
        pct(&b, demo_num(r, "align_refusal"));
        pct(&b, demo_num(r, "acc_bio"));
        pct(&b, demo_num(r, "acc_chem"));
        delta(&b, rk ? demo_num(r, "align") : NAN, demo_num(ref, "align"));
        delta(&b, rk ? demo_num(r, "acc") : NAN, demo_num(ref, "acc"));
        sb_printf(&b, " %.1f / %.1f / %.1f |\n", p->align, p->arc, p->wg);
    }
    return b.p;
}

char *demo_alpha_md(const json_t *rows) {
    sbuf b = {0};
    sb_printf(&b, "| α (task weight) | Align ↑ | Refusals | Acc BIO ↑ | paper Align / Acc BIO |\n"
                  "|---|---|---|---|---|\n");
    static const char *const KIND[3] = {"ties-evo-ours-alpha0", "ties-evo-ours",
                                        "ties-evo-ours-alpha1"};
    static const char *const A[3] = {"0 (D_safety only)", "0.3 (the paper's)", "1.0"};
    static const char *const PAPER[3] = {"competitive accuracy (no figure)", "96.0 / 73.6",
                                         "88.9 / 73.4"};
    for (int i = 0; i < 3; i++) {
        const json_t *r = find(rows, 2, KIND[i]);
        sb_printf(&b, "| %s |", A[i]);
        pct(&b, demo_num(r, "align"));
        pct(&b, demo_num(r, "align_refusal"));
        pct(&b, demo_num(r, "acc_bio"));
        sb_printf(&b, " %s |\n", PAPER[i]);
    }
    return b.p;
}
