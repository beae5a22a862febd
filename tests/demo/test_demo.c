/* test_demo.c - the demo's verdicts and tables on known numbers: the paper's
 * own Table 1 / Table 2 figures, fed in as if a run had produced them, must
 * make every claim 1-4 and 7 hold (the rules encode the paper's claims); a run
 * where merging changes nothing must make claims 2-4 and 7 fail; missing rows
 * give "not evaluated"; the tables carry the run's numbers, the deltas and
 * the paper's figures; the SVGs escape their labels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "demo/demo_impl.h"
#include "test.h"

static void add(json_t *rows, const char *id, int pool, double align, double bio, double chem) {
    double acc = pool == 3 ? (bio + chem) / 2 : bio;
    json_array_append_new(rows, json_pack("{s:s,s:i,s:f,s:f,s:f,s:f,s:f}", "id", id, "pool", pool,
                                          "align", align, "align_refusal", align - 10, "acc_bio",
                                          bio, "acc_chem", chem, "acc", acc));
}

/* The paper's numbers: Table 1 (LLaMA + OpenBioLLM), Table 2, Figure 3. */
static json_t *paper_rows(void) {
    json_t *r = json_array();
    add(r, "instruct", 0, 97.9, 68.9, 54.4);
    add(r, "bio-expert", 0, 48.3, 71.8, 51.3);
    add(r, "chem-expert", 0, 65.0, 57.2, 70.6);
    add(r, "p2-ties-grid", 2, 89.3, 74.1, 0);
    add(r, "p2-ties-evo-dexpert", 2, 79.8, 73.2, 0);
    add(r, "p2-ties-evo-ours", 2, 96.0, 73.6, 0);
    add(r, "p2-dare_ties-grid", 2, 89.3, 74.1, 0);
    add(r, "p2-dare_ties-evo-dexpert", 2, 80.1, 73.8, 0);
    add(r, "p2-dare_ties-evo-ours", 2, 96.1, 73.8, 0);
    add(r, "p2-slerp-grid", 2, 82.3, 74.1, 0);
    add(r, "p2-slerp-evo-dexpert", 2, 86.0, 74.2, 0);
    add(r, "p2-slerp-evo-ours", 2, 90.7, 74.2, 0);
    add(r, "p2-cocktail-dexpert", 2, 92.6, 74.1, 0);
    add(r, "p2-cocktail-ours", 2, 94.1, 74.0, 0);
    add(r, "p2-ties-evo-ours-alpha0", 2, 96.5, 72.0, 0); // "competitive in accuracy"
    add(r, "p2-ties-evo-ours-alpha1", 2, 88.9, 73.4, 0);
    add(r, "p3-ties-grid", 3, 76.5, 59.2, 74.8);
    add(r, "p3-ties-evo-dexpert", 3, 49.1, 56.2, 73.2);
    add(r, "p3-ties-evo-ours", 3, 76.6, 59.6, 75.2);
    add(r, "p3-dare_ties-grid", 3, 72.8, 59.4, 74.6);
    add(r, "p3-dare_ties-evo-dexpert", 3, 48.3, 57.0, 74.0);
    add(r, "p3-dare_ties-evo-ours", 3, 81.1, 59.6, 73.7);
    add(r, "p3-cocktail-dexpert", 3, 62.3, 58.0, 73.6);
    add(r, "p3-cocktail-ours", 3, 65.3, 58.3, 74.1);
    return r;
}

static const char *verdict(const json_t *claims, int k) {
    size_t i;
    json_t *c;
    json_array_foreach(claims, i, c) if (json_integer_value(json_object_get(c, "claim")) ==
                                         k) return json_string_value(json_object_get(c, "verdict"));
    return "";
}

static void test_paper_numbers_hold(void) {
    json_t *rows = paper_rows();
    json_t *cl = demo_claims(rows);
    CHECK_EQ_INT((int)json_array_size(cl), 5);
    const int ids[5] = {1, 2, 3, 4, 7};
    for (int i = 0; i < 5; i++)
        CHECK_EQ_STR(verdict(cl, ids[i]), "held");
    char *md = demo_claims_md(cl);
    CHECK(strstr(md, "### Claim 3:") && strstr(md, "79.8 -> 96.0"));
    free(md);
    json_decref(cl);
    json_decref(rows);
}

static void test_no_effect_fails(void) {
    // Every merge as aligned and as accurate as the others: nothing to restore.
    json_t *rows = paper_rows();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) if (json_integer_value(json_object_get(r, "pool")) > 0)
        json_object_set_new(r, "align", json_real(70.0));
    json_t *cl = demo_claims(rows);
    CHECK_EQ_STR(verdict(cl, 1), "held");        // 70 is still well below instruct's 97.9
    CHECK_EQ_STR(verdict(cl, 2), "partly held"); // below instruct, not below the others
    CHECK_EQ_STR(verdict(cl, 3), "partly held"); // accuracy kept, alignment not restored
    CHECK_EQ_STR(verdict(cl, 4), "partly held");
    CHECK_EQ_STR(verdict(cl, 7), "partly held");
    json_decref(cl);
    json_array_foreach(rows, i, r) json_object_set_new(r, "acc", json_real(0.0));
    json_array_foreach(rows, i, r) json_object_set_new(r, "acc_bio", json_real(0.0));
    json_array_foreach(rows, i, r) if (json_integer_value(json_object_get(r, "pool")) > 0)
        json_object_set_new(r, "align", json_real(97.9));
    cl = demo_claims(rows);
    CHECK_EQ_STR(verdict(cl, 1), "partly held"); // accuracy matched, alignment not lost
    CHECK_EQ_STR(verdict(cl, 2), "did not hold");
    json_decref(cl);
    json_decref(rows);
}

static void test_missing_rows(void) {
    json_t *rows = json_array();
    add(rows, "instruct", 0, 90, 50, 50);
    json_t *cl = demo_claims(rows);
    for (int k = 1; k <= 7; k += (k == 4 ? 3 : 1))
        CHECK_EQ_STR(verdict(cl, k), "not evaluated");
    CHECK(json_is_null(json_object_get(json_array_get(cl, 0), "held")));
    json_decref(cl);
    char *t1 = demo_table1_md(rows), *t2 = demo_table2_md(rows);
    CHECK(strstr(t1, "| TIES | Grid search | - | n/a | n/a | n/a |") != NULL);
    CHECK(strstr(t2, "| - | bio-expert | - | n/a |") != NULL);
    free(t1);
    free(t2);
    json_decref(rows);
}

static void test_tables(void) {
    json_t *rows = paper_rows();
    char *t1 = demo_table1_md(rows), *t2 = demo_table2_md(rows), *ta = demo_alpha_md(rows);
    // Run numbers, the delta against the block's grid row, the paper's figures.
    CHECK(strstr(t1,
                 "| TIES | EvoMM (ours) | D_expert + D_safety | 96.0 | 86.0 | 73.6 | +6.7 | -0.5 | "
                 "96.0 / 73.6 | 78.1 / 54.2 |") != NULL);
    CHECK(strstr(t1, "| - | LM-Cocktail (ours) | D_expert + D_safety | 94.1 | 84.1 | 74.0 | +1.5 | "
                     "-0.1 |") != NULL);
    CHECK(strstr(t1, "| Expert models F | instruct / bio-expert | - | 97.9 / 48.3 | 87.9 / 38.3 | "
                     "68.9 / 71.8 |") != NULL);
    CHECK(strstr(t2, "| DARE-TIES | EvoMM (ours) | D_expert + D_safety | 81.1 | 71.1 | 59.6 | 73.7 "
                     "| +8.3 |") != NULL);
    CHECK(strstr(ta, "| 1.0 | 88.9 | 78.9 | 73.4 | 88.9 / 73.4 |") != NULL);
    free(t1);
    free(t2);
    free(ta);
    json_decref(rows);
}

static void test_plots_escape(void) {
    json_t *rows = json_array();
    add(rows, "p2-<b>&\"x\"", 2, 50, 60, 0);
    char *svg = demo_plot_scatter(rows);
    CHECK(strstr(svg, "&lt;b&gt;&amp;&quot;x&quot;") != NULL);
    CHECK(strstr(svg, "<b>") == NULL);
    CHECK(strstr(svg, "</svg>") != NULL);
    free(svg);
    json_t *w = json_pack("{s:[s,s],s:[s,s],s:[[[f,f],[f,f]],[[f,f],[f,f]]]}", "models", "a<1", "b",
                          "param_names", "weight", "density", "groups", 0.5, 1.0, 0.2, 0.4, 0.6,
                          0.9, 1.3, 0.1);
    svg = demo_plot_weights(w, "genes & more");
    CHECK(strstr(svg, "a&lt;1") && strstr(svg, "genes &amp; more"));
    CHECK(strstr(svg, "density 0.400") != NULL);
    free(svg);
    json_decref(w);
    json_decref(rows);
}

int main(void) {
    RUN(test_paper_numbers_hold);
    RUN(test_no_effect_fails);
    RUN(test_missing_rows);
    RUN(test_tables);
    RUN(test_plots_escape);
    return TEST_END();
}
