/* generate.c - see generate.h. */
#include "nn/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "nn/kernels.h"

mg_status mg_gen_params_check(const mg_gen_params *p, mg_error *err) {
    if (p->max_new_tokens < 1)
        return mg_error_set(err, MG_ERR_USAGE, "max-new-tokens %d: expected an integer >= 1",
                            p->max_new_tokens);
    if (p->max_new_tokens > MG_GEN_MAX_NEW_TOKENS)
        return mg_error_set(err, MG_ERR_USAGE,
                            "max-new-tokens %d: at most %d tokens per generation",
                            p->max_new_tokens, MG_GEN_MAX_NEW_TOKENS);
    return mg_sample_params_check(&p->sample, err);
}

void mg_gen_result_free(mg_gen_result *r) {
    if (!r) return;
    free(r->ids);
    memset(r, 0, sizeof *r);
    r->stop_id = -1;
}

static bool is_stop(const mg_gen_params *p, int32_t id) {
    for (size_t i = 0; i < p->n_stop; i++)
        if (p->stop_ids[i] == id) return true;
    return false;
}

mg_status mg_nn_generate(const mg_nn_model *m, mg_nn_state *s, const int32_t *prompt, int n_prompt,
                         const mg_gen_params *p, mg_gen_token_fn cb, void *ctx, mg_gen_result *out,
                         mg_error *err) {
    memset(out, 0, sizeof *out);
    out->stop_id = -1;
    mg_status rc = mg_gen_params_check(p, err);
    if (rc != MG_OK) return rc;
    if (n_prompt <= 0)
        return mg_error_set(err, MG_ERR_INVALID, "empty prompt: nothing to continue");
    const int64_t max_pos = m->arch.max_pos;
    mg_nn_state *own = NULL;
    if (!s) {
        int64_t want = (int64_t)n_prompt + p->max_new_tokens;
        if (want > max_pos) want = max_pos;
        if (n_prompt < max_pos && (rc = mg_nn_state_new(m, (int)want, 0, &own, err)) != MG_OK)
            return rc;
        s = own;
    }
    int ctx_len = s ? mg_nn_state_ctx(s) : (int)max_pos;
    int pos = s ? mg_nn_state_pos(s) : 0;
    if (!s || n_prompt >= ctx_len - pos) {
        mg_nn_state_free(own);
        return mg_error_set(err, MG_ERR_INVALID,
                            "prompt of %d tokens is longer than the context window allows (%d "
                            "tokens%s, at least one must remain for generating)",
                            n_prompt, ctx_len - pos, pos ? " left" : "");
    }
    const int V = m->arch.vocab;
    float *logits = mg_malloc_array((size_t)V, sizeof(float));
    mg_sampler *smp = mg_sampler_new(&p->sample, V, p->stream);
    int cap = p->max_new_tokens < 64 ? p->max_new_tokens : 64;
    out->ids = mg_malloc_array((size_t)cap, sizeof *out->ids);
    rc = mg_nn_forward(m, s, prompt, n_prompt, n_prompt - 1, logits, err);
    out->stop = MG_GEN_STOP_LENGTH;
    for (int step = 0; rc == MG_OK && step < p->max_new_tokens; step++) {
        if (p->vocab_limit > 0)
            for (int j = p->vocab_limit; j < V; j++)
                logits[j] = -INFINITY;
        int32_t id = mg_sampler_next(smp, logits, (uint64_t)step);
        if (is_stop(p, id)) {
            out->stop = MG_GEN_STOP_TOKEN;
            out->stop_id = id;
            break;
        }
        if (out->n == cap) {
            cap *= 2;
            out->ids = mg_realloc(out->ids, (size_t)cap * sizeof *out->ids);
        }
        out->ids[out->n++] = id;
        if (cb && !cb(ctx, id)) {
            out->stop = MG_GEN_STOP_CALLBACK;
            break;
        }
        if (step + 1 == p->max_new_tokens) break;
        if (mg_nn_state_pos(s) >= mg_nn_state_ctx(s)) {
            out->stop = MG_GEN_STOP_CONTEXT;
            break;
        }
        rc = mg_nn_forward(m, s, &id, 1, 0, logits, err);
    }
    mg_sampler_free(smp);
    free(logits);
    mg_nn_state_free(own);
    if (rc != MG_OK) mg_gen_result_free(out);
    return rc;
}

mg_status mg_nn_generate_many(const mg_nn_model *m, const int32_t *const *prompts,
                              const int *n_prompts, size_t n, const mg_gen_params *p,
                              mg_gen_result *out, mg_error *err) {
    mg_status rc = mg_gen_params_check(p, err);
    if (rc != MG_OK) return rc;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        if (n_prompts[i] <= 0) return mg_error_set(err, MG_ERR_INVALID, "prompt %zu is empty", i);
        if (n_prompts[i] >= m->arch.max_pos)
            return mg_error_set(err, MG_ERR_INVALID,
                                "prompt %zu: %d tokens do not fit the context window (%lld)", i,
                                n_prompts[i], (long long)m->arch.max_pos);
    }
    mg_status first_rc = MG_OK;
    mg_error first_err = {0};
    long first_bad = -1;
    // One sequence per thread; inside the region every kernel is single-
    // threaded, so a sequence's result does not depend on the team size.
#pragma omp parallel for schedule(dynamic, 1) num_threads(mg_nn_team_size())
    for (size_t i = 0; i < n; i++) {
        mg_gen_params pi = *p;
        pi.stream = p->stream + i;
        mg_error e;
        mg_status r =
            mg_nn_generate(m, NULL, prompts[i], n_prompts[i], &pi, NULL, NULL, &out[i], &e);
        if (r != MG_OK) {
#pragma omp critical(mg_generate_many)
            if (first_bad < 0 || (long)i < first_bad) {
                first_bad = (long)i;
                first_rc = r;
                first_err = e;
            }
        }
    }
    if (first_rc != MG_OK) {
        for (size_t i = 0; i < n; i++)
            mg_gen_result_free(&out[i]);
        if (!err) return first_rc;
        *err = first_err;
        mg_error_prefix(err, "prompt %ld: ", first_bad);
        return first_rc;
    }
    return MG_OK;
}
