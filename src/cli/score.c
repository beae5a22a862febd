/* score.c - `mergeguard score MODEL DATA.jsonl`: the response loss of every
 * record {"prompt", "response", "type"?} - the fitness of data-aware merging.
 * Each record is rendered with the chat template as [system?, user: prompt,
 * assistant: response] (mg_chat_encode_pair) and scored in one prefill: the
 * cross-entropy of the response tokens given everything before them. Prints
 * per-type aggregates (the mean over records of the per-record mean, as the
 * paper's fitness averages records, and the token-weighted mean); --json adds
 * every record. The data file is parsed and encoded completely before the
 * weights are loaded; errors name FILE:LINE. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "cli/cli.h"
#include "cli/nn_cli.h"
#include "nn/score.h"
#include "text/chat.h"

static const char *HELP =
    "usage: mergeguard score MODEL DATA.jsonl [--json] [--system TEXT]\n"
    "                        [--chat-template T] [--weights W] [--threads N]\n"
    "\n"
    "Scores every record of DATA.jsonl ({\"prompt\": str, \"response\": str,\n"
    "\"type\"?: str} per line) with MODEL: the conversation [system?, user,\n"
    "assistant] is rendered with the chat template and the cross-entropy (nats)\n"
    "of the response tokens - the answer and the end-of-turn tokens the template\n"
    "writes after it - is computed in one forward pass per record. Records run in\n"
    "parallel; results do not depend on --threads or on the order of records.\n"
    "Prints per type: records, response tokens, the mean of the per-record mean\n"
    "NLL, and the token-weighted mean NLL.\n"
    "\n"
    "options:\n"
    "  --json     print {\"records\": [...], \"by_type\": {...}, \"overall\": {...}}\n";

typedef struct record {
    int line;
    char *type;
    int32_t *ids;
    size_t n, response_start;
} record;

typedef struct agg {
    const char *type;
    long records, tokens;
    double sum_mean, sum_nll;
} agg;

static mg_status load_records(const char *path, const mg_tokenizer *tok, const char *system,
                              record **out, size_t *n_out, mg_error *err) {
    char *buf = NULL;
    size_t len = 0;
    mg_status rc = mg_file_read_all(path, 0, &buf, &len, err);
    if (rc != MG_OK) return rc;
    record *recs = NULL;
    size_t n = 0, cap = 0;
    int line = 0;
    for (char *p = buf, *nl; rc == MG_OK && p < buf + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (!nl) nl = buf + len;
        line++;
        size_t l = (size_t)(nl - p);
        while (l && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
            l--;
        size_t s = 0;
        while (s < l && (p[s] == ' ' || p[s] == '\t'))
            s++;
        if (s == l) continue;
        json_error_t je;
        json_t *j = json_loadb(p + s, l - s, JSON_REJECT_DUPLICATES, &je);
        const char *prompt = NULL, *response = NULL, *type = "untyped";
        json_t *t = j ? json_object_get(j, "type") : NULL;
        if (!j) {
            rc = mg_error_set(err, MG_ERR_INVALID, "%s:%d: invalid JSON: %s", path, line, je.text);
        } else if (!json_is_object(j) || !json_is_string(json_object_get(j, "prompt")) ||
                   !json_is_string(json_object_get(j, "response"))) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s:%d: expected an object with string fields 'prompt' and "
                              "'response'",
                              path, line);
        } else if (t && !json_is_null(t) && !json_is_string(t)) {
            rc = mg_error_set(err, MG_ERR_INVALID, "%s:%d: field 'type': expected a string", path,
                              line);
        } else {
            prompt = json_string_value(json_object_get(j, "prompt"));
            response = json_string_value(json_object_get(j, "response"));
            if (json_is_string(t)) type = json_string_value(t);
            if (!*prompt || !*response)
                rc = mg_error_set(err, MG_ERR_INVALID, "%s:%d: empty %s", path, line,
                                  *prompt ? "response" : "prompt");
        }
        if (rc == MG_OK) {
            if (n == cap) recs = mg_realloc(recs, (cap = cap ? 2 * cap : 64) * sizeof *recs);
            record *r = &recs[n];
            memset(r, 0, sizeof *r);
            r->line = line;
            rc = mg_chat_encode_pair(tok, prompt, response, system, &r->ids, &r->n,
                                     &r->response_start, err);
            if (rc != MG_OK) {
                free(r->ids);
                mg_error_prefix(err, "%s:%d: ", path, line);
            } else {
                r->type = mg_strdup(type);
                n++;
            }
        }
        json_decref(j);
    }
    free(buf);
    if (rc == MG_OK && n == 0) rc = mg_error_set(err, MG_ERR_INVALID, "%s: no records", path);
    if (rc != MG_OK) {
        for (size_t i = 0; i < n; i++)
            free(recs[i].ids), free(recs[i].type);
        free(recs);
        return rc;
    }
    *out = recs;
    *n_out = n;
    return MG_OK;
}

static json_t *agg_json(const agg *a) {
    return json_pack("{s:I, s:I, s:f, s:f}", "records", (json_int_t)a->records, "response_tokens",
                     (json_int_t)a->tokens, "mean_nll", a->sum_mean / (double)a->records, "token_mean_nll",
                     a->sum_nll / (double)a->tokens);
}

int mg_cmd_score(int argc, char **argv) {
    mg_nn_cli_opts o;
    mg_nn_cli_opts_init(&o);
    const char *model_path = NULL, *data = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false;
        int r;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            fputs(MG_NN_CLI_MODEL_HELP, stdout);
            return 0;
        } else if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if ((!strcmp(a, "--system") || !strcmp(a, "--chat-template") ||
                    !strcmp(a, "--weights")) &&
                   (r = mg_nn_cli_option(argc, argv, &i, "score", &o)) != 0) {
            if (r < 0) return 2;
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("score", "unknown option or missing value: %s", a);
        } else if (!model_path) {
            model_path = a;
        } else if (!data) {
            data = a;
        } else {
            return mg_cli_usage_error("score", "unexpected argument: %s", a);
        }
    }
    if (!model_path || !data) return mg_cli_usage_error("score", "expected MODEL DATA.jsonl");

    mg_error err = {0};
    mg_tokenizer *tok = NULL;
    mg_nn_model *m = NULL;
    record *recs = NULL;
    size_t n = 0;
    mg_score_item *items = NULL;
    mg_score *sc = NULL;
    agg *aggs = NULL;
    int code = 0;
    if (mg_tokenizer_load(model_path, &tok, &err) != MG_OK) goto fail;
    if (o.chat_template) {
        char *tmpl = NULL;
        if (mg_chat_template_resolve(o.chat_template, &tmpl, &err) != MG_OK) goto fail;
        mg_tokenizer_set_chat_template(tok, tmpl);
        free(tmpl);
    }
    if (load_records(data, tok, o.system, &recs, &n, &err) != MG_OK) goto fail;
    if (mg_nn_model_load_as(model_path, o.weights, &m, &err) != MG_OK) goto fail;
    items = mg_calloc(n, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        if ((int64_t)recs[i].n > m->arch.max_pos) {
            mg_error_set(&err, MG_ERR_INVALID,
                         "%s:%d: %zu tokens exceed the context window (%lld tokens)", data,
                         recs[i].line, recs[i].n, (long long)m->arch.max_pos);
            goto fail;
        }
        items[i] = (mg_score_item){
            .ids = recs[i].ids, .n = (int)recs[i].n, .response_start = (int)recs[i].response_start};
    }
    sc = mg_calloc(n, sizeof *sc);
    if (mg_nn_score(m, items, n, sc, &err) != MG_OK) goto fail;

    // Aggregates per type in order of first appearance, then overall.
    aggs = mg_calloc(n + 1, sizeof *aggs);
    size_t n_agg = 0;
    agg all = {.type = "all"};
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < n_agg && strcmp(aggs[k].type, recs[i].type))
            k++;
        if (k == n_agg) aggs[n_agg++].type = recs[i].type;
        agg *targets[2] = {&aggs[k], &all};
        for (int t = 0; t < 2; t++) {
            targets[t]->records++;
            targets[t]->tokens += sc[i].count;
            targets[t]->sum_mean += sc[i].mean_nll;
            targets[t]->sum_nll += sc[i].sum_nll;
        }
    }
    if (json) {
        json_t *root = json_object(), *jr = json_array(), *bt = json_object();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                jr, json_pack("{s:i, s:s, s:i, s:i, s:f, s:f}", "line", recs[i].line, "type",
                              recs[i].type, "tokens", (int)recs[i].n, "response_tokens",
                              sc[i].count, "sum_nll", sc[i].sum_nll, "mean_nll", sc[i].mean_nll));
        for (size_t k = 0; k < n_agg; k++)
            json_object_set_new(bt, aggs[k].type, agg_json(&aggs[k]));
        json_object_set_new(root, "model", json_string(model_path));
        json_object_set_new(root, "data", json_string(data));
        json_object_set_new(root, "records", jr);
        json_object_set_new(root, "by_type", bt);
        json_object_set_new(root, "overall", agg_json(&all));
        mg_cli_print_json(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    } else {
        printf("%-16s %8s %12s %14s %16s\n", "type", "records", "resp tokens", "mean NLL/rec",
               "NLL/token");
        for (size_t k = 0; k <= n_agg; k++) {
            const agg *a = k < n_agg ? &aggs[k] : &all;
            printf("%-16s %8ld %12ld %14.6f %16.6f\n", a->type, a->records, a->tokens,
                   a->sum_mean / (double)a->records, a->sum_nll / (double)a->tokens);
        }
    }
    goto done;
fail:
    code = mg_cli_fail(&err);
done:
    for (size_t i = 0; i < n; i++)
        free(recs[i].ids), free(recs[i].type);
    free(recs);
    free(items);
    free(sc);
    free(aggs);
    mg_nn_model_free(m);
    mg_tokenizer_free(tok);
    return code;
}
