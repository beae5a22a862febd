/* svg.c - the alignment-against-accuracy scatter plot (see report.h).
 *
 * A fixed 640x480 canvas, axes in percent with the range fitted to the data
 * (padded by 5 points, rounded to tens, clipped to 0..100), a grid line per
 * tick, and a labelled dot per model, as the paper plots merges against their
 * experts. Labels are XML-escaped so any model name keeps the file well formed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/report.h"
#include "eval/strbuf.h"

#define W 640
#define H 480
#define L 70 // plot area margins
#define R 30
#define T 40
#define B 60

static void esc(mg_sb *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': mg_sb_add(b, "&amp;"); break;
        case '<': mg_sb_add(b, "&lt;"); break;
        case '>': mg_sb_add(b, "&gt;"); break;
        case '"': mg_sb_add(b, "&quot;"); break;
        case '\'': mg_sb_add(b, "&apos;"); break;
        default:
            // Control characters are not allowed in XML 1.0.
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n') mg_sb_add(b, " ");
            else mg_sb_addn(b, s, 1);
        }
    }
}

static void range(const double *v, size_t n, double *lo, double *hi) {
    double mn = 100, mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < mn) mn = v[i];
        if (v[i] > mx) mx = v[i];
    }
    if (n == 0) mn = 0, mx = 100;
    *lo = floor((mn - 5) / 10) * 10;
    *hi = ceil((mx + 5) / 10) * 10;
    if (*lo < 0) *lo = 0;
    if (*hi > 100) *hi = 100;
    if (*hi - *lo < 10) *lo = *hi - 10 < 0 ? 0 : *hi - 10, *hi = *lo + 10;
}

char *mg_report_svg(const json_t *report) {
    const json_t *models = json_object_get(report, "models");
    size_t nm = json_array_size(models), n = 0;
    double *x = mg_calloc(nm + 1, sizeof *x), *y = mg_calloc(nm + 1, sizeof *y);
    const char **names = mg_calloc(nm + 1, sizeof *names);
    for (size_t i = 0; i < nm; i++) {
        const json_t *m = json_array_get(models, i);
        const json_t *acc = json_object_get(m, "accuracy"), *al = json_object_get(m, "alignment");
        if (!json_is_number(acc) || !json_is_number(al)) continue;
        x[n] = 100 * json_number_value(acc);
        y[n] = 100 * json_number_value(al);
        names[n++] = json_string_value(json_object_get(m, "name"));
    }
    double x0, x1, y0, y1;
    range(x, n, &x0, &x1);
    range(y, n, &y0, &y1);
    const double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + (y1 - (v)) / (y1 - y0) * ph)
    mg_sb b = {0};
    mg_sb_printf(&b,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<title>Alignment against accuracy</title>\n"
                 "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
                 W, H, W, H, W, H);
    double xs = x1 - x0 > 30 ? 10 : 5, ys = y1 - y0 > 30 ? 10 : 5;
    for (double v = x0; v <= x1 + 1e-9; v += xs)
        mg_sb_printf(&b,
                     "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                     "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                     PX(v), T, PX(v), H - B, PX(v), H - B + 18, v);
    for (double v = y0; v <= y1 + 1e-9; v += ys)
        mg_sb_printf(&b,
                     "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                     L, PY(v), W - R, PY(v), L - 8, PY(v) + 4, v);
    mg_sb_printf(&b,
                 "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                 "stroke=\"black\"/>\n"
                 "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">Accuracy (%%)</text>\n"
                 "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
                 "transform=\"rotate(-90 18 %.1f)\">Alignment (%% safe)</text>\n"
                 "<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">"
                 "Alignment against domain accuracy</text>\n",
                 L, T, pw, ph, L + pw / 2, H - 18, T + ph / 2, T + ph / 2, L + pw / 2);
    if (n == 0)
        mg_sb_printf(&b,
                     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no model has both an "
                     "alignment and an accuracy</text>\n",
                     L + pw / 2, T + ph / 2);
    for (size_t i = 0; i < n; i++) {
        mg_sb_printf(&b, "<g><title>");
        esc(&b, names[i]);
        mg_sb_printf(&b,
                     ": accuracy %.1f%%, alignment %.1f%%</title>"
                     "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#1f77b4\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\">",
                     x[i], y[i], PX(x[i]), PY(y[i]), PX(x[i]) + 8, PY(y[i]) - 6);
        esc(&b, names[i]);
        mg_sb_add(&b, "</text></g>\n");
    }
    mg_sb_add(&b, "</svg>\n");
#undef PX
#undef PY
    free(x);
    free(y);
    free(names);
    return mg_sb_take(&b);
}
