/* eval.c - evaluation throughput: prompts judged per second (Llama Guard on
 * fixed exchanges; and the whole safety step, generation + guard + refusal
 * judge) and multiple-choice questions per second (lm-eval scoring with the
 * shared-prefix pass).
 * usage: bench_eval MODEL GUARD SAFETY.jsonl MC.jsonl [--limit N]
 *                   [--max-new-tokens N] [--threads N]
 * MODEL and GUARD are model folders with tokenizers (e.g. the lab's instruct
 * model and guard); the files are the lab's eval/safety.*.jsonl and
 * eval/mc_*.jsonl. Figures go to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/parallel.h"
#include "eval/judge_guard.h"
#include "eval/judge_refusal.h"
#include "eval/mc.h"
#include "eval/safety.h"
#include "nn/load.h"

static int die(const mg_error *e) {
    fprintf(stderr, "bench_eval: %s\n", e->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_eval MODEL GUARD SAFETY.jsonl MC.jsonl [--limit N] "
                        "[--max-new-tokens N] [--threads N]\n");
        return 2;
    }
    size_t limit = 64;
    int max_new = 32, threads = 0;
    for (int i = 5; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--limit")) limit = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-new-tokens")) max_new = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    }
    if (threads > 0) mg_set_threads(threads);
    mg_log_set_level(MG_LOG_WARN);
    mg_error err = {0};
    mg_nn_model *m = NULL;
    mg_tokenizer *tok = NULL;
    mg_guard *g = NULL;
    mg_refusal *rf = NULL;
    mg_safety_prompts sp = {0};
    mg_mc_task mc = {0};
    if (mg_nn_model_load(argv[1], &m, &err) || mg_tokenizer_load(argv[1], &tok, &err) ||
        mg_guard_open(argv[2], &g, &err) || mg_refusal_new(NULL, &rf, &err) ||
        mg_safety_prompts_load(argv[3], &sp, &err) || mg_mc_task_load(argv[4], &mc, &err))
        return die(&err);
    size_t n = limit < sp.n ? limit : sp.n;
    printf("threads %d, model %s, guard %s\n", mg_get_threads(), argv[1], argv[2]);

    // 1. Guard only: each prompt with a fixed refusal as the response.
    const char **resp = malloc(n * sizeof *resp);
    for (size_t i = 0; i < n; i++) resp[i] = "I'm sorry, but I can't help with that.";
    mg_guard_result *gr = calloc(n, sizeof *gr);
    double t0 = mg_now_seconds();
    if (mg_guard_judge_many(g, sp.prompt, resp, n, 100, gr, &err)) return die(&err);
    double t1 = mg_now_seconds();
    size_t unsafe = 0;
    for (size_t i = 0; i < n; i++) {
        unsafe += gr[i].parsed.unsafe;
        mg_guard_result_free(&gr[i]);
    }
    printf("guard judging:    %zu prompts in %.2f s = %.1f prompts/s (%zu unsafe)\n", n, t1 - t0,
           n / (t1 - t0), unsafe);

    // 2. The whole safety step: generation (max_new tokens) + guard + refusal.
    char audit[] = "/tmp/bench_eval_XXXXXX";
    int fd = mkstemp(audit);
    if (fd >= 0) close(fd);
    unlink(audit);
    mg_safety_judges j = {.guard = g, .refusal = rf, .guard_threshold = 0.5,
                          .guard_max_new_tokens = 100};
    mg_safety_opts so = {.audit_path = audit, .label = "bench", .max_new_tokens = max_new,
                         .sample = mg_sample_params_greedy(), .limit = n};
    json_t *sum = NULL;
    t0 = mg_now_seconds();
    if (mg_safety_run(m, tok, &sp, &j, &so, &sum, &err)) return die(&err);
    t1 = mg_now_seconds();
    printf("safety step:      %zu prompts in %.2f s = %.1f prompts/s (generate <= %d tokens, "
           "guard + refusal)\n",
           n, t1 - t0, n / (t1 - t0), max_new);
    json_decref(sum);
    unlink(audit);

    // 3. Multiple choice, zero-shot MMLU format.
    size_t nq = limit * 4 < mc.n ? limit * 4 : mc.n;
    mg_mc_opts mo = {.format = MG_MC_MMLU, .limit = nq};
    mg_mc_result r;
    t0 = mg_now_seconds();
    if (mg_mc_eval(m, tok, &mc, &mo, &r, NULL, &err)) return die(&err);
    t1 = mg_now_seconds();
    printf("multiple choice:  %zu questions in %.2f s = %.1f questions/s (acc %.3f)\n", r.n,
           t1 - t0, r.n / (t1 - t0), r.acc);

    free(gr);
    free(resp);
    mg_mc_task_free(&mc);
    mg_safety_prompts_free(&sp);
    mg_refusal_free(rf);
    mg_guard_close(g);
    mg_tokenizer_free(tok);
    mg_nn_model_free(m);
    return 0;
}
