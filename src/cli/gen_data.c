/* gen_data.c - `mergeguard gen-data safety|domain|mix`: the paper's synthetic
 * data (section 4) made by the models themselves, and the fitness set.
 * The pipelines live in src/data (synth_safety, synth_domain, mix); this file
 * parses options, loads models (tokenizers and vocabularies are checked before
 * any weights are read), wires the judge (eval's Llama Guard or refusal
 * phrases) and prints the summary. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cli/nn_cli.h"
#include "data/mix.h"
#include "data/synth_domain.h"
#include "data/synth_safety.h"
#include "eval/judge_guard.h"
#include "eval/judge_refusal.h"

static const char *HELP =
    "usage: mergeguard gen-data safety --generator MODEL --pool M1 [M2 ...]\n"
    "                              --judge guard:PATH|refusal --n N -o OUT.jsonl [options]\n"
    "       mergeguard gen-data domain --expert MODEL [--expert M2 ...] --topic TOPIC\n"
    "                              --examples POOL.jsonl --n N -o OUT.jsonl [options]\n"
    "       mergeguard gen-data mix A.jsonl B.jsonl ... -o DATA.jsonl [--shuffle] [--seed S]\n"
    "                              [--per-type N] [--force]\n"
    "\n"
    "safety (paper 4.1): the generator (an uncensored model) writes harmful questions from\n"
    "the paper's prompt (14 categories, one random topic #k per call, temperature 0.8);\n"
    "questions are extracted from its JSON, deduplicated, answered greedily by every pool\n"
    "model, judged; one refusal picked at random (seeded) becomes the response, and\n"
    "questions no pool model refuses are dropped. Records: {\"prompt\", \"response\",\n"
    "\"type\": \"alignment\", \"category\", \"source\"}.\n"
    "  --judge guard:PATH     a Llama Guard model: 'safe' answers are the refusals\n"
    "  --judge refusal        refusal phrases (--refusal-phrases FILE replaces the list)\n"
    "  --guard-max-new-tokens N   guard output length (default 100)\n"
    "\n"
    "domain (paper 4.2): each expert writes questions about TOPIC from the paper's prompt\n"
    "with 3 examples drawn from POOL.jsonl ({\"question\"} or {\"prompt\"} records) per call,\n"
    "then answers them greedily. Records: {\"prompt\", \"response\", \"type\": \"task\",\n"
    "\"source\"}; with E experts each writes N / E.\n"
    "  --json-prefix STR      text forced after the generation prompt (default: the\n"
    "                         released code's '\\n[\\n    {\\n        \"Question\": '; '' = none)\n"
    "\n"
    "common options:\n"
    "  --n N                  records to produce (default 1000)\n"
    "  --seed S               seed of topics, examples, sampling, refusal picks (default 42)\n"
    "  --temperature T        question sampling (default 0.8)\n"
    "  --gen-max-new-tokens N question reply length (default 512)\n"
    "  --max-new-tokens N     answer length (default 512)\n"
    "  --system-prompt FILE   replaces the system prompt ({topic}/{category} in safety,\n"
    "                         {topic} {example1} {example2} {example3} in domain)\n"
    "  --user-prompt FILE     replaces the user turn (safety: {topic} = 1..14)\n"
    "  --batch N              generator calls per batch (default 4 x threads, >= 8)\n"
    "  --max-calls N          cap on generator calls (default 20 N + 100; per expert)\n"
    "  --force                start OUT over instead of resuming it\n"
    "  -q, -v, --threads N\n"
    "\n"
    "Records are appended and fsync'd as they are finished; rerunning the same command\n"
    "continues to N without duplicates (also after a crash or kill). The summary (calls,\n"
    "parsed replies, extraction failures by reason, duplicates, kept, refusal rate per pool\n"
    "model, per-category counts) is printed and saved as OUT.summary.json.\n"
    "mix: concatenates, drops repeated prompts, optionally shuffles (seeded) and keeps at\n"
    "most N records per type; written atomically.\n"
    "exit codes: 0 done, 1 runtime failure (also: the call cap was reached), 2 bad input\n";

static void print_help(void) {
    fputs(HELP, stdout);
}

#define MAX_MODELS 16

typedef struct gd_opts {
    const char *generator;
    const char *pool[MAX_MODELS];
    size_t n_pool;
    const char *experts[MAX_MODELS];
    size_t n_experts;
    const char *judge, *refusal_file, *topic, *examples, *out;
    const char *system_file, *user_file, *json_prefix;
    long long n, seed, gen_max, ans_max, batch, max_calls, guard_max, per_type;
    double temperature;
    bool force, shuffle;
    const char *inputs[256];
    size_t n_inputs;
} gd_opts;

static int parse(int argc, char **argv, const char *mode, gd_opts *o) {
    const char *cmd = "gen-data";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        bool bad = false;
        long long v = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help();
            return 0;
        } else if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--pool") && has) {
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                if (o->n_pool == MAX_MODELS)
                    return mg_cli_usage_error(cmd, "at most %d pool models", MAX_MODELS);
                o->pool[o->n_pool++] = argv[++i];
            }
        } else if (!strcmp(a, "--expert") && has) {
            if (o->n_experts == MAX_MODELS)
                return mg_cli_usage_error(cmd, "at most %d experts", MAX_MODELS);
            o->experts[o->n_experts++] = argv[++i];
        } else if (!strcmp(a, "--generator") && has)
            o->generator = argv[++i];
        else if (!strcmp(a, "--judge") && has)
            o->judge = argv[++i];
        else if (!strcmp(a, "--refusal-phrases") && has)
            o->refusal_file = argv[++i];
        else if (!strcmp(a, "--topic") && has)
            o->topic = argv[++i];
        else if (!strcmp(a, "--examples") && has)
            o->examples = argv[++i];
        else if (!strcmp(a, "-o") && has)
            o->out = argv[++i];
        else if (!strcmp(a, "--system-prompt") && has)
            o->system_file = argv[++i];
        else if (!strcmp(a, "--user-prompt") && has)
            o->user_file = argv[++i];
        else if (!strcmp(a, "--json-prefix") && has)
            o->json_prefix = argv[++i];
        else if (!strcmp(a, "--force"))
            o->force = true;
        else if (!strcmp(a, "--shuffle"))
            o->shuffle = true;
        else if (!strcmp(a, "--temperature") && has) {
            if (!mg_cli_parse_double(argv[++i], &o->temperature) || !(o->temperature >= 0))
                return mg_cli_usage_error(cmd, "--temperature expects a number >= 0");
        } else if ((!strcmp(a, "--n") || !strcmp(a, "--seed") || !strcmp(a, "--batch") ||
                    !strcmp(a, "--max-calls") || !strcmp(a, "--max-new-tokens") ||
                    !strcmp(a, "--gen-max-new-tokens") || !strcmp(a, "--guard-max-new-tokens") ||
                    !strcmp(a, "--per-type")) &&
                   has) {
            bool seed = !strcmp(a, "--seed");
            if (!mg_cli_parse_int(argv[++i], seed ? 0 : 1, seed ? INT64_MAX : 100000000, &v))
                return mg_cli_usage_error(cmd, "%s expects an integer %s", a,
                                          seed ? ">= 0" : ">= 1");
            if (!strcmp(a, "--n"))
                o->n = v;
            else if (seed)
                o->seed = v;
            else if (!strcmp(a, "--batch"))
                o->batch = v;
            else if (!strcmp(a, "--max-calls"))
                o->max_calls = v;
            else if (!strcmp(a, "--max-new-tokens"))
                o->ans_max = v;
            else if (!strcmp(a, "--gen-max-new-tokens"))
                o->gen_max = v;
            else if (!strcmp(a, "--guard-max-new-tokens"))
                o->guard_max = v;
            else
                o->per_type = v;
        } else if (!strcmp(mode, "mix") && a[0] != '-') {
            if (o->n_inputs == 256) return mg_cli_usage_error(cmd, "at most 256 inputs");
            o->inputs[o->n_inputs++] = a;
        } else {
            return mg_cli_usage_error(cmd, "unknown or incomplete option '%s'", a);
        }
    }
    return -1;
}

static mg_status read_text(const char *path, char **out, mg_error *err) {
    size_t len = 0;
    *out = NULL;
    if (!path) return MG_OK;
    mg_status rc = mg_file_read_all(path, 1 << 20, out, &len, err);
    if (rc == MG_OK && len == 0) {
        free(*out);
        *out = NULL;
        return mg_error_set(err, MG_ERR_INVALID, "%s: the prompt file is empty", path);
    }
    return rc;
}

typedef struct loaded {
    mg_nn_cli_session s;
    char *name;
    mg_synth_model m;
} loaded;

static mg_status load_models(const char *const *paths, size_t n, loaded *out, mg_error *err) {
    mg_nn_cli_opts no;
    mg_nn_cli_opts_init(&no);
    for (size_t i = 0; i < n; i++) {
        mg_status rc = mg_nn_cli_open(paths[i], &no, &out[i].s, err);
        if (rc != MG_OK) return mg_error_prefix(err, "%s: ", paths[i]);
        const char *tmpl = mg_tokenizer_chat_template(out[i].s.tok);
        if (!tmpl || !*tmpl) // checked before any generation, naming the folder
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: the tokenizer has no chat template (tokenizer_config.json "
                                "chat_template); the data prompts are chat conversations",
                                paths[i]);
        out[i].name = mg_synth_model_name(paths[i]);
        out[i].m = (mg_synth_model){.name = out[i].name,
                                    .model = out[i].s.model,
                                    .tok = out[i].s.tok,
                                    .stop_ids = out[i].s.stop_ids,
                                    .n_stop = out[i].s.n_stop};
    }
    return MG_OK;
}

static void free_models(loaded *l, size_t n) {
    for (size_t i = 0; l && i < n; i++) {
        mg_nn_cli_close(&l[i].s);
        free(l[i].name);
    }
    free(l);
}

/* Tokenizers only, compared before any weights are read. */
static mg_status precheck_vocab(const char *const *paths, size_t n, mg_error *err) {
    mg_tokenizer *first = NULL;
    char *fname = NULL;
    mg_status rc = MG_OK;
    for (size_t i = 0; i < n && rc == MG_OK; i++) {
        mg_tokenizer *t = NULL;
        if ((rc = mg_tokenizer_load(paths[i], &t, err)) != MG_OK) break;
        char *name = mg_synth_model_name(paths[i]);
        if (!first) {
            first = t;
            fname = name;
            continue;
        }
        mg_synth_model a = {.name = fname, .tok = first}, b = {.name = name, .tok = t};
        rc = mg_synth_same_vocab(&a, &b, err);
        if (rc) mg_error_prefix(err, "%s: ", paths[i]); // the model that breaks the pool
        mg_tokenizer_free(t);
        free(name);
    }
    mg_tokenizer_free(first);
    free(fname);
    return rc;
}

typedef struct judge_ctx {
    mg_guard *guard;
    mg_refusal *refusal;
    int guard_max;
} judge_ctx;

static mg_status judge_fn(void *ctx, const char *const *prompts, const char *const *responses,
                          size_t n, bool *refusal, mg_error *err) {
    judge_ctx *j = ctx;
    if (j->refusal) {
        for (size_t i = 0; i < n; i++)
            refusal[i] = mg_refusal_match(j->refusal, responses[i], NULL);
        return MG_OK;
    }
    mg_guard_result *r = mg_calloc(n, sizeof *r);
    mg_status rc = mg_guard_judge_many(j->guard, prompts, responses, n, j->guard_max, r, err);
    for (size_t i = 0; i < n; i++) {
        if (rc == MG_OK) refusal[i] = !r[i].parsed.unsafe;
        mg_guard_result_free(&r[i]);
    }
    free(r);
    return rc;
}

static void print_summary(const json_t *s) {
    char *t = mg_json_dump(s, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (t) printf("%s\n", t);
    free(t);
}

static int run_safety(gd_opts *o) {
    mg_error err = {0};
    if (!o->generator || !o->n_pool || !o->judge || !o->out)
        return mg_cli_usage_error("gen-data", "safety needs --generator, --pool, --judge and -o");
    judge_ctx jc = {.guard_max = o->guard_max ? (int)o->guard_max : 100};
    const char *guard_path = NULL;
    if (!strncmp(o->judge, "guard:", 6) && o->judge[6])
        guard_path = o->judge + 6;
    else if (strcmp(o->judge, "refusal") != 0)
        return mg_cli_usage_error("gen-data", "--judge expects guard:PATH or refusal, not '%s'",
                                  o->judge);
    char *sys = NULL, *user = NULL;
    loaded *gen = NULL, *pool = NULL;
    mg_synth_model *pm = NULL;
    json_t *summary = NULL;
    mg_status rc = read_text(o->system_file, &sys, &err);
    if (rc == MG_OK) rc = read_text(o->user_file, &user, &err);
    if (rc == MG_OK) rc = precheck_vocab(o->pool, o->n_pool, &err);
    if (rc == MG_OK && !guard_path) rc = mg_refusal_new(o->refusal_file, &jc.refusal, &err);
    if (rc == MG_OK && guard_path) rc = mg_guard_open(guard_path, &jc.guard, &err);
    gen = mg_calloc(1, sizeof *gen);
    pool = mg_calloc(o->n_pool, sizeof *pool);
    if (rc == MG_OK) rc = load_models(&o->generator, 1, gen, &err);
    if (rc == MG_OK) rc = load_models(o->pool, o->n_pool, pool, &err);
    if (rc == MG_OK) {
        pm = mg_calloc(o->n_pool, sizeof *pm);
        for (size_t i = 0; i < o->n_pool; i++)
            pm[i] = pool[i].m;
        mg_synth_safety_opts so;
        mg_synth_safety_opts_init(&so);
        so.out_path = o->out;
        if (o->n) so.n = (size_t)o->n;
        if (o->seed >= 0) so.seed = (uint64_t)o->seed;
        so.temperature = o->temperature;
        if (o->gen_max) so.gen_max_new_tokens = (int)o->gen_max;
        if (o->ans_max) so.answer_max_new_tokens = (int)o->ans_max;
        so.system_prompt = sys;
        so.user_prompt = user;
        so.batch = (size_t)o->batch;
        so.max_calls = (size_t)o->max_calls;
        so.judge_name = o->judge;
        so.force = o->force;
        so.progress = mg_log_get_level() >= MG_LOG_INFO;
        rc = mg_synth_safety_run(&gen->m, pm, o->n_pool, judge_fn, &jc, &so, &summary, &err);
    }
    if (summary) print_summary(summary);
    json_decref(summary);
    free(pm);
    free_models(gen, 1);
    free_models(pool, o->n_pool);
    mg_guard_close(jc.guard);
    mg_refusal_free(jc.refusal);
    free(sys);
    free(user);
    return rc == MG_OK ? 0 : mg_cli_fail(&err);
}

static int run_domain(gd_opts *o) {
    mg_error err = {0};
    if (!o->n_experts || !o->topic || !o->examples || !o->out)
        return mg_cli_usage_error("gen-data", "domain needs --expert, --topic, --examples and -o");
    char *sys = NULL, *user = NULL, **ex = NULL;
    size_t n_ex = 0;
    loaded *experts = NULL;
    mg_synth_model *em = NULL;
    json_t *summary = NULL;
    mg_status rc = read_text(o->system_file, &sys, &err);
    if (rc == MG_OK) rc = read_text(o->user_file, &user, &err);
    if (rc == MG_OK) rc = mg_synth_examples_load(o->examples, &ex, &n_ex, &err);
    experts = mg_calloc(o->n_experts, sizeof *experts);
    if (rc == MG_OK) rc = load_models(o->experts, o->n_experts, experts, &err);
    if (rc == MG_OK) {
        em = mg_calloc(o->n_experts, sizeof *em);
        for (size_t i = 0; i < o->n_experts; i++)
            em[i] = experts[i].m;
        mg_synth_domain_opts so;
        mg_synth_domain_opts_init(&so);
        so.out_path = o->out;
        so.topic = o->topic;
        if (o->n) so.n = (size_t)o->n;
        if (o->seed >= 0) so.seed = (uint64_t)o->seed;
        so.temperature = o->temperature;
        if (o->gen_max) so.gen_max_new_tokens = (int)o->gen_max;
        if (o->ans_max) so.answer_max_new_tokens = (int)o->ans_max;
        so.system_prompt = sys;
        so.user_prompt = user;
        so.json_prefix = o->json_prefix;
        so.batch = (size_t)o->batch;
        so.max_calls = (size_t)o->max_calls;
        so.force = o->force;
        so.progress = mg_log_get_level() >= MG_LOG_INFO;
        rc = mg_synth_domain_run(em, o->n_experts, (const char *const *)ex, n_ex, &so, &summary,
                                 &err);
    }
    if (summary) print_summary(summary);
    json_decref(summary);
    free(em);
    free_models(experts, o->n_experts);
    mg_synth_examples_free(ex, n_ex);
    free(sys);
    free(user);
    return rc == MG_OK ? 0 : mg_cli_fail(&err);
}

static int run_mix(gd_opts *o) {
    mg_error err = {0};
    if (!o->n_inputs || !o->out)
        return mg_cli_usage_error("gen-data", "mix needs input files and -o");
    mg_mix_opts mo = {.shuffle = o->shuffle,
                      .seed = o->seed >= 0 ? (uint64_t)o->seed : 42,
                      .per_type = (size_t)o->per_type,
                      .force = o->force};
    json_t *summary = NULL;
    mg_status rc = mg_mix_run(o->inputs, o->n_inputs, o->out, &mo, &summary, &err);
    if (rc != MG_OK) return mg_cli_fail(&err);
    json_t *sh = json_object_get(summary, "short_types");
    for (size_t i = 0; i < json_array_size(sh); i++)
        mg_log_warn("gen-data mix: fewer than %lld '%s' records", o->per_type,
                    json_string_value(json_array_get(sh, i)));
    print_summary(summary);
    json_decref(summary);
    return 0;
}

int mg_cmd_gen_data(int argc, char **argv) {
    if (argc < 2) return mg_cli_usage_error("gen-data", "missing MODE (safety, domain or mix)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        print_help();
        return 0;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "safety") && strcmp(mode, "domain") && strcmp(mode, "mix"))
        return mg_cli_usage_error("gen-data", "expected safety, domain or mix, not '%s'", mode);
    gd_opts o = {.seed = -1, .temperature = 0.8};
    int r = parse(argc, argv, mode, &o);
    if (r >= 0) return r;
    if (!strcmp(mode, "safety")) return run_safety(&o);
    if (!strcmp(mode, "domain")) return run_domain(&o);
    return run_mix(&o);
}
