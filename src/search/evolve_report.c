/* evolve_report.c - report.md, fitness.svg and weights.svg of an evolve run. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "search/evolve_log.h"

/* Report files are built in memory and written atomically (base/file.h), so a
 * kill while writing never leaves a truncated report; a rerun rewrites them. */
typedef struct memout {
    char *buf;
    size_t len;
} memout;

static FILE *out_open(memout *m) {
    m->buf = NULL, m->len = 0;
    return open_memstream(&m->buf, &m->len);
}

static mg_status out_close(FILE *f, memout *m, const char *path, mg_error *err) {
    bool ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    mg_status st = ok ? mg_write_file_atomic(path, m->buf, m->len, true, err)
                      : mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot format the report", path);
    free(m->buf);
    return st;
}

#define W 760
#define H 420
#define ML 70 // margins
#define MR 170
#define MT 40
#define MB 50

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                     "#9467bd", "#8c564b", "#e377c2", "#17becf"};

static void axes(FILE *f, const char *title, const char *xlabel, double x0, double x1, double y0,
                 double y1) {
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"22\" font-size=\"15\">%s</text>\n",
            W, H, ML, title);
    int pw = W - ML - MR, ph = H - MT - MB;
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#444\"/>\n",
            ML, MT, pw, ph);
    for (int i = 0; i <= 4; i++) {
        double v = y0 + (y1 - y0) * i / 4.0;
        double y = MT + ph - ph * i / 4.0;
        fprintf(f,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
                ML, ML + pw, y, y, ML - 6, y + 4, v);
        double xv = x0 + (x1 - x0) * i / 4.0;
        double x = ML + pw * i / 4.0;
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.4g</text>\n", x,
                MT + ph + 18, xv);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", ML + pw / 2, H - 8,
            xlabel);
}

static void legend(FILE *f, int i, const char *color, const char *label) {
    int x = W - MR + 14, y = MT + 10 + 20 * i;
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
            "<text x=\"%d\" y=\"%d\">%s</text>\n",
            x, y, color, x + 18, y + 11, label);
}

static void range_of(const mg_evolve_entry *e, size_t n, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v[3] = {e[i].fitness, e[i].ce[0], e[i].ce[1]};
        for (int k = 0; k < 3; k++)
            if (isfinite(v[k])) {
                *lo = fmin(*lo, v[k]);
                *hi = fmax(*hi, v[k]);
            }
    }
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-12) *hi = *lo + 1;
    double pad = 0.05 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

static mg_status fitness_svg(const char *path, const mg_evolve_entry *e, size_t n, mg_error *err) {
    memout mo;
    FILE *f = out_open(&mo);
    if (!f) return mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot format the report", path);
    double lo, hi;
    range_of(e, n, &lo, &hi);
    double xmax = n > 1 ? (double)(n - 1) : 1.0;
    axes(f, "Fitness and CE parts over evaluations", "evaluation", 0, xmax, lo, hi);
    int pw = W - ML - MR, ph = H - MT - MB;
    const char *labels[3] = {"fitness L", "CE alignment", "CE task"};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++) {
            double v = k == 0 ? e[i].fitness : e[i].ce[k - 1];
            if (!isfinite(v)) continue;
            double x = ML + pw * (double)i / xmax, y = MT + ph - ph * (v - lo) / (hi - lo);
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\" opacity=\"0.7\"/>\n",
                    x, y, COLORS[k]);
        }
        legend(f, k, COLORS[k], labels[k]);
    }
    // Running best of the fitness.
    fprintf(f, "<polyline fill=\"none\" stroke=\"black\" stroke-width=\"1.5\" points=\"");
    double best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(e[i].fitness) && e[i].fitness < best) best = e[i].fitness;
        if (!isfinite(best)) continue;
        fprintf(f, "%.1f,%.1f ", ML + pw * (double)i / xmax,
                MT + ph - ph * (best - lo) / (hi - lo));
    }
    fputs("\"/>\n", f);
    legend(f, 3, "black", "best fitness so far");
    fputs("</svg>\n", f);
    return out_close(f, &mo, path, err);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static mg_status weights_svg(const char *path, const mg_genome *g, const double *x, mg_error *err) {
    memout mo;
    FILE *f = out_open(&mo);
    if (!f) return mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot format the report", path);
    int set = (int)g->n_filters; // the catch-all parameter set
    double lo = 0, hi = 0;
    for (int k = 0; k < g->n_groups; k++)
        for (size_t m = 0; m < g->n_models; m++) {
            double v = mg_genome_decode(g, x, mg_genome_index(g, k, (int)m, set, 0));
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    if (hi - lo < 1e-12) hi = lo + 1;
    int step = g->layer_granularity > 0 ? g->layer_granularity : g->n_layers;
    char title[128];
    snprintf(title, sizeof title, "Winner: %s per layer group and model",
             mg_genome_param_name(g, 0));
    axes(f, title, "layer group (first layer)", 0, (double)(g->n_groups - 1) * step, lo, hi);
    int pw = W - ML - MR, ph = H - MT - MB;
    double gw = (double)pw / g->n_groups, bw = gw * 0.8 / (double)g->n_models;
    double y0 = MT + ph - ph * (0 - lo) / (hi - lo);
    for (int k = 0; k < g->n_groups; k++)
        for (size_t m = 0; m < g->n_models; m++) {
            double v = mg_genome_decode(g, x, mg_genome_index(g, k, (int)m, set, 0));
            double y = MT + ph - ph * (v - lo) / (hi - lo);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
                    ML + gw * k + gw * 0.1 + bw * (double)m, fmin(y, y0), bw, fabs(y0 - y),
                    COLORS[m % 8]);
        }
    for (size_t m = 0; m < g->n_models && m < 8; m++)
        legend(f, (int)m, COLORS[m], base_name(g->models[m]));
    fputs("</svg>\n", f);
    return out_close(f, &mo, path, err);
}

mg_status mg_evolve_report(const char *out_dir, const mg_genome *g, const char *log_path,
                           const double *xbest, mg_error *err) {
    mg_evolve_entry *e = NULL;
    size_t n = 0;
    mg_status st = mg_evolve_log_read(log_path, &e, &n, err);
    if (st) return st;
    char *p1 = mg_path_join(out_dir, "fitness.svg"), *p2 = mg_path_join(out_dir, "weights.svg"),
         *p3 = mg_path_join(out_dir, "report.md");
    st = fitness_svg(p1, e, n, err);
    if (!st) st = weights_svg(p2, g, xbest, err);
    memout mo;
    FILE *f = st ? NULL : out_open(&mo);
    if (!st && !f) st = mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot format the report", p3);
    if (f) {
        size_t ib = 0;
        double gen0 = 0;
        int64_t n0 = 0;
        for (size_t i = 0; i < n; i++) {
            if (isfinite(e[i].fitness) &&
                (!isfinite(e[ib].fitness) || e[i].fitness < e[ib].fitness))
                ib = i;
            if (e[i].generation == 0 && isfinite(e[i].fitness)) {
                gen0 += e[i].fitness;
                n0++;
            }
        }
        double tm = 0, ts = 0;
        for (size_t i = 0; i < n; i++) {
            tm += isfinite(e[i].merge_seconds) ? e[i].merge_seconds : 0;
            ts += isfinite(e[i].score_seconds) ? e[i].score_seconds : 0;
        }
        fprintf(f, "# mergeguard evolve report\n\n");
        fprintf(f, "- method: `%s`, %zu models, %d layer groups, %zu filters, %zu genes\n",
                mg_genome_method_name(g->method), g->n_models, g->n_groups, g->n_filters,
                mg_genome_dim(g));
        fprintf(f, "- evaluations: %zu in %lld generations\n", n,
                n ? (long long)e[n - 1].generation + 1 : 0LL);
        fprintf(f, "- time per candidate: merge %.3f s, scoring %.3f s (means)\n",
                n ? tm / (double)n : 0, n ? ts / (double)n : 0);
        if (n) {
            fprintf(f, "- generation 0 mean fitness: %.6g\n", n0 ? gen0 / (double)n0 : NAN);
            fprintf(f,
                    "- best: evaluation %lld (generation %lld): fitness %.6g, CE alignment "
                    "%.6g, CE task %.6g\n",
                    (long long)e[ib].eval, (long long)e[ib].generation, e[ib].fitness, e[ib].ce[0],
                    e[ib].ce[1]);
        }
        fprintf(f, "\nThe winner's merge config is `best_config.yml`; `mergeguard merge "
                   "best_config.yml OUT` reproduces `model/` exactly.\n\n");
        fprintf(f, "![fitness](fitness.svg)\n\n![weights](weights.svg)\n\n");
        fprintf(f, "## Winner's parameters (catch-all set)\n\n| layers |");
        int np = mg_genome_n_params(g);
        for (size_t m = 0; m < g->n_models; m++)
            for (int p = 0; p < np; p++)
                fprintf(f, " %s %s |", base_name(g->models[m]), mg_genome_param_name(g, p));
        fprintf(f, "\n|---|");
        for (size_t m = 0; m < g->n_models * (size_t)np; m++)
            fprintf(f, "---|");
        fputc('\n', f);
        int step = g->layer_granularity > 0 ? g->layer_granularity : g->n_layers;
        for (int k = 0; k < g->n_groups; k++) {
            fprintf(f, "| %d-%d |", k * step, (k + 1) * step - 1);
            for (size_t m = 0; m < g->n_models; m++)
                for (int p = 0; p < np; p++)
                    fprintf(f, " %.4f |",
                            mg_genome_decode(g, xbest,
                                             mg_genome_index(g, k, (int)m, (int)g->n_filters, p)));
            fputc('\n', f);
        }
        st = out_close(f, &mo, p3, err);
    }
    free(p1);
    free(p2);
    free(p3);
    mg_evolve_log_free(e, n);
    return st;
}
