/* plan_print.c - the --dry-run output of a plan (see plan.h): one entry per
 * output tensor with its shape, dtype, gradient position, resolved global
 * parameters and, per input, the model, the input tensor and its resolved
 * per-model parameters, after the estimated peak memory of executing it
 * (exec.h, with the current thread count). Text for people, JSON for tests
 * and tools. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/parallel.h"
#include "merge/exec.h"
#include "merge/plan.h"

static void print_num(FILE *f, double v, bool json) {
    if (isnan(v))
        fputs(json ? "null" : "-", f);
    else
        fprintf(f, "%.9g", v);
}

static void print_params(FILE *f, const mg_method *me, const double *v, bool per_model, bool json) {
    bool first = true;
    for (size_t k = 0; k < me->n_params; k++) {
        const mg_param_def *d = &me->params[k];
        if (d->per_model != per_model) continue;
        if (json)
            fprintf(f, "%s\"%s\": ", first ? "" : ", ", d->name);
        else
            fprintf(f, " %s=", d->name);
        if (d->type == MG_PT_BOOL && !isnan(v[d->id]))
            fputs(v[d->id] != 0 ? "true" : "false", f);
        else if (d->type == MG_PT_RESCALE && !isnan(v[d->id]))
            fprintf(f, json ? "\"%s\"" : "%s",
                    v[d->id] == 2   ? "inverse"
                    : v[d->id] != 0 ? "true"
                                    : "false");
        else
            print_num(f, v[d->id], json);
        first = false;
    }
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

void mg_plan_print(const mg_plan *p, FILE *f, bool json) {
    const mg_merge_config *c = p->cfg;
    const mg_method *me = c->method;
    mg_merge_memory mm;
    mg_merge_estimate_memory(p, mg_get_threads(), &mm);
    if (json) {
        fprintf(f,
                "{\"method\": \"%s\", \"layers\": %lld, \"tensors_count\": %zu, \"output_bytes\": "
                "%llu, \"donor\": ",
                me->name, (long long)p->out_layers, p->n_tensors, (unsigned long long)p->out_bytes);
        json_str(f, c->models[p->donor].ref);
        fprintf(f,
                ", \"memory_estimate\": {\"peak_bytes\": %llu, \"output_bytes\": %llu, "
                "\"work_bytes\": %llu, \"fixed_bytes\": %llu, \"threads\": %d, \"peak_tensor\": ",
                (unsigned long long)mm.peak, (unsigned long long)mm.out_bytes,
                (unsigned long long)mm.work_bytes, (unsigned long long)mm.fixed_bytes, mm.threads);
        json_str(f, p->n_tensors ? p->tensors[mm.tensor].name : "");
        fputs(", \"biggest_tensor\": ", f);
        json_str(f, p->n_tensors ? p->tensors[mm.biggest].name : "");
        fprintf(f, ", \"biggest_tensor_bytes\": %llu}", (unsigned long long)mm.biggest_bytes);
        fputs(", \"tensors\": [\n", f);
    } else {
        fprintf(f,
                "merge_method %s: %zu models, %zu output tensors, %lld layers, %.1f MB; "
                "config.json from %s\n",
                me->name, c->n_models, p->n_tensors, (long long)p->out_layers,
                (double)p->out_bytes / 1e6, c->models[p->donor].ref);
        if (p->n_tensors)
            fprintf(f,
                    "peak memory (estimate, %d threads): %.1f MiB = %.1f output buffers + %.1f "
                    "working set at %s + %.1f staging; biggest tensor %s (%.1f MiB)\n",
                    mm.threads, (double)mm.peak / 1048576.0, (double)mm.out_bytes / 1048576.0,
                    (double)mm.work_bytes / 1048576.0, p->tensors[mm.tensor].name,
                    (double)mm.fixed_bytes / 1048576.0, p->tensors[mm.biggest].name,
                    (double)mm.biggest_bytes / 1048576.0);
    }
    for (size_t i = 0; i < p->n_tensors; i++) {
        const mg_plan_tensor *T = &p->tensors[i];
        if (json) {
            fprintf(f, "  {\"name\": ");
            json_str(f, T->name);
            fputs(", \"shape\": [", f);
            for (int d = 0; d < T->ndim; d++)
                fprintf(f, "%s%lld", d ? ", " : "", (long long)T->shape[d]);
            fprintf(f, "], \"dtype\": \"%s\", \"t\": %.9g, \"params\": {",
                    mg_dtype_name(T->out_dtype), T->t);
            print_params(f, me, T->g, false, true);
            fputs("}, \"inputs\": [", f);
            for (size_t q = 0; q < T->n_inputs; q++) {
                fprintf(f, "%s{\"model\": ", q ? ", " : "");
                json_str(f, c->models[T->inputs[q].model].ref);
                fputs(", \"tensor\": ", f);
                json_str(f, T->inputs[q].view->name);
                fprintf(f, ", \"base\": %s, \"params\": {", (int)q == T->base ? "true" : "false");
                print_params(f, me, T->inputs[q].m, true, true);
                fputs("}}", f);
            }
            fprintf(f, "]}%s\n", i + 1 < p->n_tensors ? "," : "");
        } else {
            fprintf(f, "%s [", T->name);
            for (int d = 0; d < T->ndim; d++)
                fprintf(f, "%s%lld", d ? ", " : "", (long long)T->shape[d]);
            fprintf(f, "] %s t=%.9g", mg_dtype_name(T->out_dtype), T->t);
            print_params(f, me, T->g, false, false);
            fputc('\n', f);
            for (size_t q = 0; q < T->n_inputs; q++) {
                fprintf(f, "  <- %s%s %s", c->models[T->inputs[q].model].ref,
                        (int)q == T->base ? " (base)" : "", T->inputs[q].view->name);
                print_params(f, me, T->inputs[q].m, true, false);
                fputc('\n', f);
            }
        }
    }
    if (json) fputs("]}\n", f);
}

