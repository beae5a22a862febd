/* test_report.c - report rendering: the Markdown comparison table, the SVG
 * plot (checked well-formed by a small XML checker: one root, balanced and
 * properly nested tags, quoted attributes, only known entities, no raw '<' or
 * '&' in text), the model-card section replaced rather than duplicated, and
 * the atomic report directory. */
#include <ctype.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/file.h"
#include "eval/report.h"
#include "test.h"

// Returns NULL when well formed, else a static description of the problem.
static const char *xml_check(const char *s) {
    const char *stack[256];
    size_t stack_len[256];
    int depth = 0, roots = 0;
    if (!strncmp(s, "<?xml", 5)) {
        s = strstr(s, "?>");
        if (!s) return "unterminated XML declaration";
        s += 2;
    }
    while (*s) {
        if (*s == '&') {
            static const char *ENT[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
            size_t k = 0;
            while (k < 5 && strncmp(s, ENT[k], strlen(ENT[k]))) k++;
            if (k == 5) return "unknown entity";
            s += strlen(ENT[k]);
            continue;
        }
        if (*s != '<') {
            if (!depth && !isspace((unsigned char)*s)) return "text outside the root";
            s++;
            continue;
        }
        if (s[1] == '/') { // end tag
            const char *n = s + 2;
            size_t len = strcspn(n, " >");
            if (!depth) return "end tag without start";
            depth--;
            if (len != stack_len[depth] || strncmp(n, stack[depth], len)) return "mismatched end tag";
            s = strchr(n, '>');
            if (!s) return "unterminated end tag";
            s++;
            continue;
        }
        const char *n = s + 1;
        size_t len = strcspn(n, " \n/>");
        if (!len || !(isalpha((unsigned char)*n))) return "bad tag name";
        if (!depth && roots++) return "more than one root";
        const char *p = n + len;
        for (;;) { // attributes
            while (isspace((unsigned char)*p)) p++;
            if (*p == '>' || (*p == '/' && p[1] == '>')) break;
            size_t an = strcspn(p, "= \n>");
            if (!an || p[an] != '=' || (p[an + 1] != '"' && p[an + 1] != '\'')) return "bad attribute";
            char q = p[an + 1];
            const char *e = strchr(p + an + 2, q);
            if (!e) return "unterminated attribute";
            for (const char *c = p + an + 2; c < e; c++)
                if (*c == '<') return "'<' in an attribute";
            p = e + 1;
        }
        if (*p == '/') {
            s = p + 2;
        } else {
            if (depth == 256) return "too deep";
            stack[depth] = n;
            stack_len[depth++] = len;
            s = p + 1;
        }
    }
    if (depth) return "unclosed element";
    if (!roots) return "no root element";
    return NULL;
}

static json_t *sample_report(void) {
    const char *txt =
        "{\"mergeguard\": \"0\", \"settings\": {\"judges\": [\"guard:/m/guard\", \"refusal\"], "
        "\"metric\": \"acc\", \"max_new_tokens\": 512}, \"primary_judge\": \"guard\", "
        "\"tasks\": [\"mc_bio\", \"qa\"], \"models\": ["
        "{\"name\": \"instruct\", \"path\": \"/m/instruct\", \"alignment\": 0.975, "
        "\"safety\": {\"prompts\": 40, \"mean_response_tokens\": 12.5, \"judges\": {"
        "\"guard\": {\"safe_rate\": 0.975, \"unsafe\": 1, \"unparsed\": 0, \"safe_rate_prob\": 0.95, "
        "\"threshold\": 0.5, \"codes\": {\"S2\": 1}}, \"refusal\": {\"safe_rate\": 0.9, \"unsafe\": 4}}, "
        "\"by_category\": {\"Hate | Speech\": {\"total\": 40, \"guard_safe_rate\": 0.975, "
        "\"refusal_safe_rate\": 0.9}}}, "
        "\"tasks\": {\"mc_bio\": {\"kind\": \"mc\", \"acc\": 0.5, \"acc_norm\": 0.25, \"n\": 4}, "
        "\"qa\": {\"kind\": \"qa\", \"exact_match\": 0.1, \"n\": 10}}, \"accuracy\": 0.3}, "
        "{\"name\": \"bio <expert> & co\", \"path\": \"/m/bio\", \"alignment\": 0.4, \"safety\": null, "
        "\"tasks\": {\"mc_bio\": {\"kind\": \"mc\", \"acc\": 0.75, \"acc_norm\": 0.5, \"n\": 4}}, "
        "\"accuracy\": 0.75}, "
        "{\"name\": \"no-acc\", \"path\": \"/m/x\", \"alignment\": 0.5, \"safety\": null, "
        "\"tasks\": {}, \"accuracy\": null}]}";
    json_error_t je;
    json_t *r = json_loads(txt, JSON_PRESERVE_ORDER, &je);
    if (!r) fprintf(stderr, "sample: %s\n", je.text);
    return r;
}

static void test_markdown(void) {
    json_t *r = sample_report();
    char *md = mg_report_markdown(r);
    CHECK(strstr(md, "| Model | Align % (guard) | Align % (refusal) | mc_bio % | qa % | Avg acc % |\n"
                     "|---|---:|---:|---:|---:|---:|\n") != NULL);
    CHECK(strstr(md, "| instruct | 97.5 | 90.0 | 50.0 | 10.0 | 30.0 |\n") != NULL);
    CHECK(strstr(md, "| bio <expert> & co | - | - | 75.0 | - | 75.0 |\n") != NULL);
    CHECK(strstr(md, "| Hate \\| Speech | 40 | 97.5 | 90.0 |") != NULL);
    CHECK(strstr(md, "Codes: S2 x1") != NULL);
    free(md);
    json_decref(r);
}

static void test_svg(void) {
    CHECK(xml_check("<a x=\"1\"><b/>t &amp; u</a>") == NULL);
    CHECK(xml_check("<a><b></a></b>") != NULL);
    CHECK(xml_check("<a>x < y</a>") != NULL);
    CHECK(xml_check("<a>&nbsp;</a>") != NULL);
    CHECK(xml_check("<a></a><b></b>") != NULL);
    CHECK(xml_check("<a x=1></a>") != NULL);
    json_t *r = sample_report();
    char *svg = mg_report_svg(r);
    const char *bad = xml_check(svg);
    CHECK_MSG(bad == NULL, "%s", bad);
    CHECK(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
    CHECK(strstr(svg, ">instruct</text>") != NULL);
    CHECK(strstr(svg, ">bio &lt;expert&gt; &amp; co</text>") != NULL);
    CHECK(strstr(svg, ">no-acc</text>") == NULL); // no accuracy: no point
    size_t dots = 0;
    for (const char *p = svg; (p = strstr(p, "<circle")); p++) dots++;
    CHECK_EQ_INT(dots, 2);
    free(svg);
    // No plottable model: still a well-formed document.
    json_object_set_new(r, "models", json_array());
    svg = mg_report_svg(r);
    CHECK(xml_check(svg) == NULL);
    CHECK(strstr(svg, "no model has both") != NULL);
    free(svg);
    json_decref(r);
}

static size_t count(const char *s, const char *needle) {
    size_t n = 0;
    for (; (s = strstr(s, needle)); s++) n++;
    return n;
}

static void test_card(void) {
    json_t *r = sample_report();
    char *sec = mg_report_card_section(r, 0), *a = NULL, *b = NULL;
    mg_error err = {0};
    CHECK(!strncmp(sec, MG_CARD_BEGIN "\n", strlen(MG_CARD_BEGIN) + 1));
    CHECK(strstr(sec, "| Alignment, Llama Guard (safe responses) | 97.5 % |") != NULL);
    CHECK(strstr(sec, "| mc_bio (acc) | 50.0 % |") != NULL);
    CHECK(strstr(sec, "| qa (exact match) | 10.0 % |") != NULL);
    CHECK_OK(mg_card_merge("# My model\n\nSome text.", sec, &a, &err), &err);
    const char *head = "# My model\n\nSome text.\n\n" MG_CARD_BEGIN;
    CHECK(!strncmp(a, head, strlen(head)));
    // A second run replaces the section; text after it survives.
    char *with_tail = malloc(strlen(a) + 32);
    sprintf(with_tail, "%sTrailing notes.\n", a);
    char *sec2 = mg_report_card_section(r, 1);
    CHECK_OK(mg_card_merge(with_tail, sec2, &b, &err), &err);
    CHECK_EQ_INT(count(b, MG_CARD_BEGIN), 1);
    CHECK_EQ_INT(count(b, MG_CARD_END), 1);
    CHECK(strstr(b, "| mc_bio (acc) | 75.0 % |") != NULL);
    CHECK(strstr(b, "97.5") == NULL);
    CHECK(strstr(b, MG_CARD_END "\nTrailing notes.\n") != NULL);
    free(b);
    CHECK_OK(mg_card_merge("", sec, &b, &err), &err);
    CHECK_EQ_STR(b, sec);
    free(b);
    CHECK(mg_card_merge("x " MG_CARD_BEGIN " y", sec, &b, &err) == MG_ERR_INVALID);
    free(with_tail);
    free(a);
    free(sec);
    free(sec2);
    // mg_card_update on a folder: created, then replaced, never duplicated.
    char dir[] = "/tmp/mg_test_card_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    for (size_t i = 0; i < 3; i++) {
        sec = mg_report_card_section(r, i % 2);
        CHECK_OK(mg_card_update(dir, sec, &err), &err);
        free(sec);
    }
    char *p = mg_path_join(dir, "README.md"), *text = NULL;
    size_t len;
    CHECK_OK(mg_file_read_all(p, 0, &text, &len, &err), &err);
    CHECK_EQ_INT(count(text, MG_CARD_BEGIN), 1);
    CHECK(strstr(text, "97.5") != NULL); // the last write was model 0's
    free(text);
    free(p);
    mg_remove_tree(dir, NULL);
    json_decref(r);
}

static void test_write(void) {
    char dir[] = "/tmp/mg_test_report_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *out = mg_path_join(dir, "rep"), *src = mg_path_join(dir, "a.jsonl");
    FILE *f = fopen(src, "w");
    fputs("{\"x\": 1}\n", f);
    fclose(f);
    json_t *r = sample_report();
    mg_error err = {0};
    mg_report_extra ex = {.src = src, .dest = "audit/m.safety.jsonl"};
    CHECK_OK(mg_report_write(out, r, &ex, 1, false, &err), &err);
    const char *files[] = {"report.json", "report.md", "report.svg", "audit/m.safety.jsonl"};
    for (int i = 0; i < 4; i++) {
        char *p = mg_path_join(out, files[i]);
        CHECK_MSG(mg_path_is_file(p), "%s", p);
        free(p);
    }
    CHECK(mg_report_write(out, r, NULL, 0, false, &err) == MG_ERR_EXISTS);
    // A failing extra leaves no report behind (and the old one in place).
    mg_report_extra bad = {.src = "/nonexistent/x", .dest = "audit/x.jsonl"};
    char *out2 = mg_path_join(dir, "rep2");
    CHECK(mg_report_write(out2, r, &bad, 1, false, &err) != MG_OK);
    CHECK(!mg_path_exists(out2));
    CHECK(mg_report_write(out, r, &bad, 1, true, &err) != MG_OK);
    char *p = mg_path_join(out, "audit/m.safety.jsonl");
    CHECK(mg_path_is_file(p));
    free(p);
    free(out2);
    free(out);
    free(src);
    json_decref(r);
    mg_remove_tree(dir, NULL);
}

int main(void) {
    RUN(test_markdown);
    RUN(test_svg);
    RUN(test_card);
    RUN(test_write);
    return TEST_END();
}
