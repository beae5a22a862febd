/* demo_plots.c - the demo's SVG figures: alignment against domain accuracy
 * for every row (the paper's trade-off at a glance), and the per-layer genes
 * of the safety-aware EvoMM winner. Standalone, well-formed SVG 1.1 with
 * escaped labels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "demo/demo_impl.h"

#define W 860
#define H 560
#define ML 70
#define MR 250
#define MT 44
#define MB 56

static void put_esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void frame(FILE *f, const char *title, const char *xl, const char *yl, double x0, double x1,
                  double y0, double y1) {
    int pw = W - ML - MR, ph = H - MT - MB;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"24\" "
            "font-size=\"15\">",
            W, H, ML);
    put_esc(f, title);
    fprintf(f,
            "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#444\"/>\n",
            ML, MT, pw, ph);
    for (int i = 0; i <= 5; i++) {
        double yv = y0 + (y1 - y0) * i / 5.0, y = MT + ph - ph * i / 5.0;
        double xv = x0 + (x1 - x0) * i / 5.0, x = ML + pw * i / 5.0;
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
                ML, ML + pw, y, y, ML - 6, y + 4, yv);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.4g</text>\n", x,
                MT + ph + 18, xv);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", ML + pw / 2, H - 12);
    put_esc(f, xl);
    fprintf(f,
            "</text>\n<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" "
            "text-anchor=\"middle\">",
            MT + ph / 2, MT + ph / 2);
    put_esc(f, yl);
    fputs("</text>\n", f);
}

static void legend(FILE *f, int i, const char *color, bool square, const char *label) {
    int x = W - MR + 16, y = MT + 8 + 20 * i;
    if (square)
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>", x, y, color);
    else
        fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"%s\"/>", x + 5, y + 5, color);
    fprintf(f, "<text x=\"%d\" y=\"%d\">", x + 18, y + 10);
    put_esc(f, label);
    fputs("</text>\n", f);
}

static const char *color_of(const char *id) {
    if (strstr(id, "alpha")) return "#ff7f0e";
    if (strstr(id, "-grid")) return "#7f7f7f";
    if (strstr(id, "cocktail-ours")) return "#17becf";
    if (strstr(id, "cocktail")) return "#9467bd";
    if (strstr(id, "evo-ours")) return "#2ca02c";
    if (strstr(id, "evo-dexpert")) return "#d62728";
    return "#000000";
}

char *demo_plot_scatter(const json_t *rows) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    double x0 = INFINITY, x1 = -INFINITY;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        double x = demo_num(r, "acc");
        if (!isnan(x)) x0 = fmin(x0, x), x1 = fmax(x1, x);
    }
    if (!isfinite(x0)) x0 = 0, x1 = 100;
    x0 = fmax(0, floor(x0 / 10) * 10);
    x1 = fmin(100, ceil(x1 / 10) * 10);
    if (x1 - x0 < 10) x1 = x0 + 10;
    frame(f,
          "Alignment against domain accuracy (circles: instruct + bio-expert; squares: 3-model "
          "pool)",
          "domain accuracy % (N=2: bio MC; N=3: mean of bio and chem MC)",
          "alignment % (primary judge)", x0, x1, 0, 100);
    int pw = W - ML - MR, ph = H - MT - MB;
    json_array_foreach(rows, i, r) {
        double x = demo_num(r, "acc"), y = demo_num(r, "align");
        if (isnan(x) || isnan(y)) continue;
        const char *id = json_string_value(json_object_get(r, "id"));
        int pool = (int)json_integer_value(json_object_get(r, "pool"));
        double px = ML + pw * (x - x0) / (x1 - x0), py = MT + ph - ph * y / 100.0;
        const char *col = pool == 0 ? "#000000" : color_of(id ? id : "");
        if (pool == 3)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"%s\">",
                    px - 4.5, py - 4.5, col);
        else
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\">", px, py, col);
        fprintf(f, "<title>");
        put_esc(f, id);
        fprintf(f, ": %.1f%% aligned, %.1f%% accurate</title>", y, x);
        fputs(pool == 3 ? "</rect>" : "</circle>", f);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#333\">", px + 7, py - 4);
        put_esc(f, id);
        fputs("</text>\n", f);
    }
    legend(f, 0, "#000000", false, "pool models");
    legend(f, 1, "#7f7f7f", false, "grid search (best accuracy)");
    legend(f, 2, "#d62728", false, "EvoMM, D_expert");
    legend(f, 3, "#2ca02c", false, "EvoMM (ours), D_expert + D_safety");
    legend(f, 4, "#9467bd", false, "LM-Cocktail, D_expert");
    legend(f, 5, "#17becf", false, "LM-Cocktail (ours)");
    legend(f, 6, "#ff7f0e", false, "EvoMM (ours), alpha 0 / 1");
    legend(f, 7, "#444444", true, "square: 3-model pool");
    fputs("</svg>\n", f);
    fclose(f);
    return buf;
}

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"};

char *demo_plot_weights(const json_t *wt, const char *title) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_t *models = json_object_get(wt, "models"), *groups = json_object_get(wt, "groups");
    json_t *pn = json_object_get(wt, "param_names");
    size_t ng = json_array_size(groups), nm = json_array_size(models), np = json_array_size(pn);
    double hi = 1;
    for (size_t g = 0; g < ng; g++)
        for (size_t m = 0; m < nm; m++)
            for (size_t p = 0; p < np; p++)
                hi = fmax(hi, json_number_value(
                                  json_array_get(json_array_get(json_array_get(groups, g), m), p)));
    hi = ceil(hi * 4) / 4;
    char xl[128];
    snprintf(xl, sizeof xl, "layer (bars: %s%s)", json_string_value(json_array_get(pn, 0)),
             np > 1 ? "; dots: density" : "");
    frame(f, title, xl, "decoded gene value", 0, (double)(ng ? ng - 1 : 0), 0, hi);
    int pw = W - ML - MR, ph = H - MT - MB;
    double gw = (double)pw / (double)(ng ? ng : 1), bw = gw * 0.8 / (double)(nm ? nm : 1);
    for (size_t g = 0; g < ng; g++)
        for (size_t m = 0; m < nm; m++) {
            json_t *vals = json_array_get(json_array_get(groups, g), m);
            double w = json_number_value(json_array_get(vals, 0));
            double x = ML + gw * (double)g + gw * 0.1 + bw * (double)m;
            double y = MT + ph - ph * w / hi;
            fprintf(f,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                    "opacity=\"0.8\"><title>layer %zu, ",
                    x, y, bw, MT + ph - y, COLORS[m % 5], g);
            put_esc(f, json_string_value(json_array_get(models, m)));
            fprintf(f, ": %.3f</title></rect>\n", w);
            if (np > 1) {
                double d = json_number_value(json_array_get(vals, 1));
                fprintf(f,
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"white\" stroke=\"%s\" "
                        "stroke-width=\"2\"><title>density %.3f</title></circle>\n",
                        x + bw / 2, MT + ph - ph * d / hi, COLORS[m % 5], d);
            }
        }
    for (size_t m = 0; m < nm; m++)
        legend(f, (int)m, COLORS[m % 5], true, json_string_value(json_array_get(models, m)));
    fputs("</svg>\n", f);
    fclose(f);
    return buf;
}
