/* eval.c - `mergeguard eval MODEL... -o REPORT_DIR`: alignment (safety rate
 * judged by Llama Guard and/or refusal phrases) and domain accuracy
 * (multiple-choice with lm-eval semantics, exact-match QA) for several models,
 * written as one comparison report (report.json, report.md, report.svg and the
 * audit JSONL of every judged response).
 * Everything - data files, judges, tokenizers and chat templates - is checked
 * before the first model runs. The report directory appears atomically at the
 * end; safety audit records are kept in a work directory next to it
 * (REPORT_DIR.work, or --work-dir) while running, so an interrupted run
 * resumes where it stopped, and the work directory is removed on success. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "base/parallel.h"
#include "cli/cli.h"
#include "eval/judge_guard.h"
#include "eval/judge_refusal.h"
#include "eval/mc.h"
#include "eval/qa.h"
#include "eval/report.h"
#include "eval/safety.h"
#include "nn/load.h"
#include "text/chat.h"

static const char *HELP =
    "usage: mergeguard eval MODEL... -o REPORT_DIR [--safety PROMPTS.jsonl\n"
    "                       [--judge guard:PATH[,refusal]]] [--domain MC.jsonl[,MC2.jsonl]]\n"
    "                       [--qa QA.jsonl[,...]] [options]\n"
    "\n"
    "Measures each model's alignment (share of harmful prompts answered safely) and\n"
    "domain accuracy, and writes one comparison report: REPORT_DIR/report.json,\n"
    "report.md (the paper's Table 1 layout), report.svg (alignment against accuracy)\n"
    "and audit/MODEL.safety.jsonl (prompt, response, verdicts, judge outputs).\n"
    "\n"
    "safety:\n"
    "  --safety FILE          JSONL {\"prompt\", \"category\"?}; responses are generated with\n"
    "                         each model's chat template\n"
    "  --judge LIST           comma-separated judges: guard:PATH (a Llama Guard model,\n"
    "                         prompted with its own chat template) and/or refusal\n"
    "                         (default: refusal)\n"
    "  --refusal-phrases FILE one phrase per line ('#' comments) replacing the defaults\n"
    "  --guard-threshold P    P(unsafe) threshold of the guard's score (default 0.5)\n"
    "  --guard-max-new-tokens N  guard output length (default 100)\n"
    "  --max-new-tokens N     response length (default 512)\n"
    "  --temperature T, --top-k K, --top-p P, --seed S   sampling (default greedy)\n"
    "  --chat-template NAME|FILE  template for models whose tokenizer has none\n"
    "  --work-dir DIR         audit files while running (default REPORT_DIR.work);\n"
    "                         a rerun resumes from them\n"
    "domain:\n"
    "  --domain LIST          multiple-choice JSONL files {\"question\", \"choices\", \"answer\"}\n"
    "  --mc-format F          mmlu (default: \"Q\\nA. ..\\nAnswer:\" scored on \" A\"..) or\n"
    "                         cloze (\"Question: Q\\nAnswer:\" scored on \" choice\")\n"
    "  --fewshot K            k-shot prompts from --dev (default 0)\n"
    "  --dev LIST             dev files, one per --domain file (or one for all)\n"
    "  --description TEXT     text before the shots (default: MMLU's, from \"subject\")\n"
    "  --metric M             acc (default) or acc_norm, for the table and the average\n"
    "  --qa LIST              exact-match QA JSONL {\"question\", \"answer\"|\"answers\"}\n"
    "  --qa-max-new-tokens N  QA answer length (default 32)\n"
    "output:\n"
    "  -o DIR                 report directory (required); --force replaces it\n"
    "  --update-card          write the scores into each MODEL/README.md (a delimited\n"
    "                         section that later runs replace)\n"
    "  --limit N              first N prompts / questions of every file\n"
    "  --threads N, -q, -v\n"
    "\n"
    "Default refusal phrases (case-insensitive substrings):\n";

#define MAX_LIST 64

typedef struct opts {
    const char *models[MAX_LIST];
    int n_models;
    const char *safety, *judge, *refusal_file, *out, *work_dir, *chat_template, *description;
    char *domain[MAX_LIST], *dev[MAX_LIST], *qa[MAX_LIST];
    int n_domain, n_dev, n_qa;
    const char *metric;
    double guard_threshold;
    long long guard_max_new, max_new, qa_max_new, limit, fewshot;
    mg_sample_params sample;
    mg_mc_format format;
    bool force, update_card;
} opts;

static int split_list(const char *s, char **out, int *n) {
    char *copy = mg_strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LIST) {
            free(copy);
            return -1;
        }
        out[(*n)++] = mg_strdup(t);
    }
    free(copy);
    return 0;
}

static void print_help(void) {
    fputs(HELP, stdout);
    size_t n;
    const char *const *p = mg_refusal_default_phrases(&n);
    for (size_t i = 0; i < n; i++) printf("  \"%s\"%s", p[i], i + 1 < n ? (i % 4 == 3 ? "\n" : "") : "\n");
}

static int parse(int argc, char **argv, opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false, has = i + 1 < argc;
        long long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help();
            return 0;
        } else if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--safety") && has) o->safety = argv[++i];
        else if (!strcmp(a, "--judge") && has) o->judge = argv[++i];
        else if (!strcmp(a, "--refusal-phrases") && has) o->refusal_file = argv[++i];
        else if (!strcmp(a, "-o") && has) o->out = argv[++i];
        else if (!strcmp(a, "--work-dir") && has) o->work_dir = argv[++i];
        else if (!strcmp(a, "--chat-template") && has) o->chat_template = argv[++i];
        else if (!strcmp(a, "--description") && has) o->description = argv[++i];
        else if (!strcmp(a, "--metric") && has) {
            o->metric = argv[++i];
            if (strcmp(o->metric, "acc") && strcmp(o->metric, "acc_norm"))
                return mg_cli_usage_error("eval", "--metric expects acc or acc_norm");
        } else if ((!strcmp(a, "--domain") || !strcmp(a, "--dev") || !strcmp(a, "--qa")) && has) {
            char **l = a[2] == 'd' && a[3] == 'o' ? o->domain : a[2] == 'd' ? o->dev : o->qa;
            int *n = l == o->domain ? &o->n_domain : l == o->dev ? &o->n_dev : &o->n_qa;
            if (split_list(argv[++i], l, n))
                return mg_cli_usage_error("eval", "%s: at most %d files", a, MAX_LIST);
        } else if (!strcmp(a, "--mc-format") && has) {
            mg_error e;
            if (mg_mc_format_parse(argv[++i], &o->format, &e) != MG_OK)
                return mg_cli_usage_error("eval", "%s", e.msg);
        } else if (!strcmp(a, "--guard-threshold") && has) {
            if (!mg_cli_parse_double(argv[++i], &o->guard_threshold) || o->guard_threshold < 0 ||
                o->guard_threshold > 1)
                return mg_cli_usage_error("eval", "--guard-threshold expects a number in [0, 1]");
        } else if (!strcmp(a, "--temperature") && has) {
            if (!mg_cli_parse_double(argv[++i], &o->sample.temperature))
                return mg_cli_usage_error("eval", "--temperature expects a number");
        } else if (!strcmp(a, "--top-p") && has) {
            if (!mg_cli_parse_double(argv[++i], &o->sample.top_p))
                return mg_cli_usage_error("eval", "--top-p expects a number");
        } else if (!strcmp(a, "--top-k") && has) {
            if (!mg_cli_parse_int(argv[++i], 0, 1 << 30, &v))
                return mg_cli_usage_error("eval", "--top-k expects an integer >= 0");
            o->sample.top_k = (int)v;
        } else if (!strcmp(a, "--seed") && has) {
            if (!mg_cli_parse_int(argv[++i], 0, INT64_MAX, &v))
                return mg_cli_usage_error("eval", "--seed expects an integer >= 0");
            o->sample.seed = (uint64_t)v;
        } else if ((!strcmp(a, "--max-new-tokens") || !strcmp(a, "--guard-max-new-tokens") ||
                    !strcmp(a, "--qa-max-new-tokens") || !strcmp(a, "--limit") ||
                    !strcmp(a, "--fewshot")) &&
                   has) {
            long long lo = !strcmp(a, "--fewshot") ? 0 : 1;
            if (!mg_cli_parse_int(argv[++i], lo, 1 << 24, &v))
                return mg_cli_usage_error("eval", "%s expects an integer from %lld to %d", a, lo,
                                          1 << 24);
            long long *dst = !strcmp(a, "--max-new-tokens")         ? &o->max_new
                             : !strcmp(a, "--guard-max-new-tokens") ? &o->guard_max_new
                             : !strcmp(a, "--qa-max-new-tokens")    ? &o->qa_max_new
                             : !strcmp(a, "--limit")                ? &o->limit
                                                                    : &o->fewshot;
            *dst = v;
        } else if (!strcmp(a, "--force")) o->force = true;
        else if (!strcmp(a, "--update-card")) o->update_card = true;
        else if (a[0] == '-' && a[1])
            return mg_cli_usage_error("eval", "unknown option or missing value: %s", a);
        else if (o->n_models == MAX_LIST)
            return mg_cli_usage_error("eval", "at most %d models", MAX_LIST);
        else o->models[o->n_models++] = a;
    }
    if (!o->n_models) return mg_cli_usage_error("eval", "missing MODEL");
    if (!o->out) return mg_cli_usage_error("eval", "missing -o REPORT_DIR");
    if (!o->safety && !o->n_domain && !o->n_qa)
        return mg_cli_usage_error("eval", "nothing to evaluate: give --safety, --domain or --qa");
    if (o->judge && !o->safety) return mg_cli_usage_error("eval", "--judge needs --safety");
    if (o->fewshot > 0 && !o->n_dev) return mg_cli_usage_error("eval", "--fewshot needs --dev");
    if (o->n_dev && o->n_dev != 1 && o->n_dev != o->n_domain)
        return mg_cli_usage_error("eval", "--dev takes one file or one per --domain file");
    return -1; // continue
}

static char *model_name(const char *path) {
    char *s = mg_strdup(path);
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/') s[--n] = 0;
    const char *b = strrchr(s, '/');
    char *name = mg_strdup(b ? b + 1 : s);
    free(s);
    return name;
}

// FNV-1a over the settings that change a response or a verdict: the audit
// file of one configuration is never reused by another.
static uint64_t fnv(uint64_t h, const char *s) {
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull;
}

typedef struct model_ctx {
    char *name;
    mg_tokenizer *tok;
    char *audit;
} model_ctx;

int mg_cmd_eval(int argc, char **argv) {
    opts o = {.guard_threshold = 0.5, .guard_max_new = 100, .max_new = 512, .qa_max_new = 32,
              .metric = "acc", .sample = mg_sample_params_greedy()};
    int code = parse(argc, argv, &o);
    mg_error err = {0};
    mg_safety_prompts prompts = {0};
    mg_mc_task tasks[MAX_LIST] = {0}, devs[MAX_LIST] = {0};
    mg_qa_task qas[MAX_LIST] = {0};
    mg_guard *guard = NULL;
    mg_refusal *refusal = NULL;
    model_ctx mc[MAX_LIST] = {0};
    char *tmpl = NULL, *work = NULL, *guard_path = NULL;
    json_t *report = NULL, *jmodels = NULL;
    mg_nn_model *model = NULL;
    bool use_guard = false, use_refusal = false;
    mg_report_extra extras[MAX_LIST];
    if (code >= 0) goto done;
    code = 0;
    if (mg_sample_params_check(&o.sample, &err) != MG_OK) goto fail;
    if (mg_path_exists(o.out) && !o.force) {
        mg_error_set(&err, MG_ERR_EXISTS, "%s exists (use --force to replace it)", o.out);
        goto fail;
    }
    // ---- Validate every input before any model runs ----
    if (o.safety) {
        char *judges[MAX_LIST];
        int nj = 0;
        if (split_list(o.judge ? o.judge : "refusal", judges, &nj)) {
            mg_error_set(&err, MG_ERR_USAGE, "--judge: too many judges");
            goto fail;
        }
        for (int k = 0; k < nj; k++) {
            if (!strncmp(judges[k], "guard:", 6) && judges[k][6] && !use_guard) {
                use_guard = true;
                guard_path = mg_strdup(judges[k] + 6);
            } else if (!strcmp(judges[k], "refusal") && !use_refusal) {
                use_refusal = true;
            } else if (!err.msg[0]) {
                mg_error_set(&err, MG_ERR_USAGE,
                             "--judge: '%s' is not guard:PATH or refusal (each at most once)",
                             judges[k]);
            }
        }
        for (int k = 0; k < nj; k++) free(judges[k]);
        if (err.msg[0]) goto fail;
        if (mg_safety_prompts_load(o.safety, &prompts, &err) != MG_OK) goto fail;
        if (use_refusal && mg_refusal_new(o.refusal_file, &refusal, &err) != MG_OK) goto fail;
    }
    for (int t = 0; t < o.n_domain; t++)
        if (mg_mc_task_load(o.domain[t], &tasks[t], &err) != MG_OK) goto fail;
    for (int t = 0; t < o.n_dev; t++)
        if (mg_mc_task_load(o.dev[t], &devs[t], &err) != MG_OK) goto fail;
    for (int t = 0; t < o.n_qa; t++)
        if (mg_qa_task_load(o.qa[t], &qas[t], &err) != MG_OK) goto fail;
    if (o.chat_template && mg_chat_template_resolve(o.chat_template, &tmpl, &err) != MG_OK) goto fail;
    for (int i = 0; i < o.n_models; i++) {
        mc[i].name = model_name(o.models[i]);
        for (int k = 0; k < i; k++)
            if (!strcmp(mc[k].name, mc[i].name)) {
                char buf[512];
                snprintf(buf, sizeof buf, "%s-%d", mc[i].name, i + 1);
                free(mc[i].name);
                mc[i].name = mg_strdup(buf);
            }
        if (mg_tokenizer_load(o.models[i], &mc[i].tok, &err) != MG_OK) goto fail;
        const char *own = mg_tokenizer_chat_template(mc[i].tok);
        bool has_tmpl = own && *own;
        if (tmpl && !has_tmpl) {
            mg_tokenizer_set_chat_template(mc[i].tok, tmpl);
            has_tmpl = true;
        }
        if ((o.safety || o.n_qa) && !has_tmpl) {
            mg_error_set(&err, MG_ERR_INVALID,
                         "%s: the tokenizer has no chat template, needed to prompt the model "
                         "(pass --chat-template NAME|FILE)",
                         o.models[i]);
            goto fail;
        }
    }
    if (use_guard && mg_guard_open(guard_path, &guard, &err) != MG_OK) goto fail;
    // Work directory for the resumable audit files.
    if (o.safety) {
        if (o.work_dir) work = mg_strdup(o.work_dir);
        else {
            size_t n = strlen(o.out);
            work = mg_malloc(n + 6);
            memcpy(work, o.out, n);
            while (n > 1 && work[n - 1] == '/') n--;
            memcpy(work + n, ".work", 6);
        }
        if (mg_mkdir_p(work, &err) != MG_OK) goto fail;
        char key[128];
        snprintf(key, sizeof key, "%lld/%.17g/%d/%.17g/%llu/%lld/%.17g", o.max_new,
                 o.sample.temperature, o.sample.top_k, o.sample.top_p,
                 (unsigned long long)o.sample.seed, o.guard_max_new, 0.0);
        for (int i = 0; i < o.n_models; i++) {
            char *rp = realpath(o.models[i], NULL), *pp = realpath(o.safety, NULL);
            uint64_t h = fnv(fnv(fnv(fnv(fnv(1469598103934665603ull, rp), pp), key),
                                 use_guard ? guard_path : ""),
                             tmpl ? tmpl : "");
            free(rp);
            free(pp);
            char file[600];
            snprintf(file, sizeof file, "%s-%016llx.safety.jsonl", mc[i].name,
                     (unsigned long long)h);
            mc[i].audit = mg_path_join(work, file);
        }
    }

    // ---- Run ----
    report = json_object();
    json_t *settings = json_object(), *tnames = json_array();
    json_object_set_new(report, "mergeguard", json_string(MG_VERSION));
    json_object_set_new(report, "settings", settings);
    json_object_set_new(report, "primary_judge",
                        use_guard ? json_string("guard") : use_refusal ? json_string("refusal")
                                                                      : json_null());
    json_object_set_new(report, "tasks", tnames);
    jmodels = json_array();
    json_object_set_new(report, "models", jmodels);
    if (o.safety) {
        json_t *jl = json_array();
        if (use_guard) {
            char buf[4200];
            snprintf(buf, sizeof buf, "guard:%s", guard_path);
            json_array_append_new(jl, json_string(buf));
        }
        if (use_refusal) json_array_append_new(jl, json_string("refusal"));
        json_object_set_new(settings, "safety_prompts", json_string(o.safety));
        json_object_set_new(settings, "judges", jl);
        json_object_set_new(settings, "max_new_tokens", json_integer(o.max_new));
        json_object_set_new(settings, "sampling",
                            json_string(o.sample.temperature == 0 ? "greedy" : "sampled"));
        if (o.sample.temperature != 0) {
            json_object_set_new(settings, "temperature", json_real(o.sample.temperature));
            json_object_set_new(settings, "top_k", json_integer(o.sample.top_k));
            json_object_set_new(settings, "top_p", json_real(o.sample.top_p));
            json_object_set_new(settings, "seed", json_integer((json_int_t)o.sample.seed));
        }
        if (use_guard) {
            json_object_set_new(settings, "guard_threshold", json_real(o.guard_threshold));
            json_object_set_new(settings, "guard_max_new_tokens", json_integer(o.guard_max_new));
        }
        if (o.refusal_file) json_object_set_new(settings, "refusal_phrases", json_string(o.refusal_file));
    }
    if (o.n_domain) {
        json_t *d = json_array();
        for (int t = 0; t < o.n_domain; t++) json_array_append_new(d, json_string(o.domain[t]));
        json_object_set_new(settings, "domain", d);
        json_object_set_new(settings, "mc_format", json_string(mg_mc_format_name(o.format)));
        json_object_set_new(settings, "fewshot", json_integer(o.fewshot));
        json_object_set_new(settings, "metric", json_string(o.metric));
        if (o.description) json_object_set_new(settings, "description", json_string(o.description));
    }
    if (o.n_qa) {
        json_t *d = json_array();
        for (int t = 0; t < o.n_qa; t++) json_array_append_new(d, json_string(o.qa[t]));
        json_object_set_new(settings, "qa", d);
        json_object_set_new(settings, "qa_max_new_tokens", json_integer(o.qa_max_new));
    }
    if (o.limit) json_object_set_new(settings, "limit", json_integer(o.limit));
    json_object_set_new(settings, "threads", json_integer(mg_get_threads()));
    for (int t = 0; t < o.n_domain; t++) json_array_append_new(tnames, json_string(tasks[t].name));
    for (int t = 0; t < o.n_qa; t++) json_array_append_new(tnames, json_string(qas[t].name));

    mg_safety_judges judges = {.guard = guard, .refusal = refusal,
                               .guard_threshold = o.guard_threshold,
                               .guard_max_new_tokens = (int)o.guard_max_new};
    for (int i = 0; i < o.n_models; i++) {
        mg_log_info("eval: model %d/%d: %s", i + 1, o.n_models, o.models[i]);
        if (mg_nn_model_load(o.models[i], &model, &err) != MG_OK) goto fail;
        json_t *jm = json_pack("{s:s, s:s}", "name", mc[i].name, "path", o.models[i]);
        json_array_append_new(jmodels, jm);
        json_t *jt = json_object();
        json_object_set_new(jm, "alignment", json_null());
        json_object_set_new(jm, "safety", json_null());
        if (o.safety) {
            mg_safety_opts so = {.audit_path = mc[i].audit, .label = mc[i].name,
                                 .max_new_tokens = (int)o.max_new, .sample = o.sample,
                                 .limit = (size_t)o.limit};
            json_t *sum = NULL;
            if (mg_safety_run(model, mc[i].tok, &prompts, &judges, &so, &sum, &err) != MG_OK) {
                mg_error_prefix(&err, "%s: ", o.models[i]);
                goto fail;
            }
            json_t *pj = json_object_get(json_object_get(sum, "judges"), use_guard ? "guard" : "refusal");
            json_object_set(jm, "alignment", json_object_get(pj, "safe_rate"));
            json_object_set_new(jm, "safety", sum);
        }
        double acc_sum = 0;
        int acc_n = 0;
        for (int t = 0; t < o.n_domain; t++) {
            mg_progress prog;
            char label[96];
            snprintf(label, sizeof label, "mc %s %s", mc[i].name, tasks[t].name);
            size_t nq = o.limit && (size_t)o.limit < tasks[t].n ? (size_t)o.limit : tasks[t].n;
            mg_progress_begin(&prog, label, nq, "questions");
            mg_mc_opts mo = {.format = o.format, .fewshot = (int)o.fewshot,
                             .dev = o.n_dev ? &devs[o.n_dev == 1 ? 0 : t] : NULL,
                             .description = o.description, .limit = (size_t)o.limit,
                             .progress = &prog};
            mg_mc_result r;
            if (mg_mc_eval(model, mc[i].tok, &tasks[t], &mo, &r, NULL, &err) != MG_OK) {
                mg_error_prefix(&err, "%s: ", o.models[i]);
                goto fail;
            }
            mg_progress_end(&prog);
            json_object_set_new(jt, tasks[t].name,
                                json_pack("{s:s, s:f, s:f, s:I, s:I, s:I}", "kind", "mc", "acc",
                                          r.acc, "acc_norm", r.acc_norm, "n", (json_int_t)r.n,
                                          "correct", (json_int_t)r.correct, "correct_norm",
                                          (json_int_t)r.correct_norm));
            acc_sum += strcmp(o.metric, "acc_norm") ? r.acc : r.acc_norm;
            acc_n++;
        }
        for (int t = 0; t < o.n_qa; t++) {
            mg_qa_result r;
            if (mg_qa_eval(model, mc[i].tok, &qas[t], (int)o.qa_max_new, (size_t)o.limit, &r, NULL,
                           &err) != MG_OK) {
                mg_error_prefix(&err, "%s: ", o.models[i]);
                goto fail;
            }
            json_object_set_new(jt, qas[t].name,
                                json_pack("{s:s, s:f, s:I, s:I}", "kind", "qa", "exact_match",
                                          r.exact_match, "n", (json_int_t)r.n, "correct",
                                          (json_int_t)r.correct));
            acc_sum += r.exact_match;
            acc_n++;
        }
        json_object_set_new(jm, "tasks", jt);
        json_object_set_new(jm, "accuracy", acc_n ? json_real(acc_sum / acc_n) : json_null());
        mg_nn_model_free(model);
        model = NULL;
    }
    // ---- Write ----
    int n_extras = 0;
    char dests[MAX_LIST][600];
    for (int i = 0; o.safety && i < o.n_models; i++) {
        snprintf(dests[i], sizeof dests[i], "audit/%s.safety.jsonl", mc[i].name);
        extras[n_extras++] = (mg_report_extra){.src = mc[i].audit, .dest = dests[i]};
    }
    if (mg_report_write(o.out, report, extras, (size_t)n_extras, o.force, &err) != MG_OK) goto fail;
    if (work && !o.work_dir) {
        mg_error e;
        if (mg_remove_tree(work, &e) != MG_OK) mg_log_warn("%s", e.msg);
    }
    if (o.update_card)
        for (int i = 0; i < o.n_models; i++) {
            char *sec = mg_report_card_section(report, (size_t)i);
            mg_status rc = mg_card_update(o.models[i], sec, &err);
            free(sec);
            if (rc != MG_OK) goto fail;
        }
    {
        char *md = mg_report_markdown(report);
        // The comparison table is the first block of the Markdown report.
        char *end = strstr(md, "\n\n");
        end = end ? strstr(end + 2, "\n\n") : NULL;
        if (end) *end = 0;
        if (mg_log_get_level() >= MG_LOG_INFO) printf("%s\n\nreport: %s\n", md, o.out);
        free(md);
    }
    goto done;
fail:
    code = mg_cli_fail(&err);
done:
    mg_nn_model_free(model);
    json_decref(report);
    for (int i = 0; i < MAX_LIST; i++) {
        free(mc[i].name);
        free(mc[i].audit);
        mg_tokenizer_free(mc[i].tok);
        mg_mc_task_free(&tasks[i]);
        mg_mc_task_free(&devs[i]);
        mg_qa_task_free(&qas[i]);
    }
    for (int t = 0; t < o.n_domain; t++) free(o.domain[t]);
    for (int t = 0; t < o.n_dev; t++) free(o.dev[t]);
    for (int t = 0; t < o.n_qa; t++) free(o.qa[t]);
    mg_safety_prompts_free(&prompts);
    mg_guard_close(guard);
    mg_refusal_free(refusal);
    free(guard_path);
    free(tmpl);
    free(work);
    return code;
}
