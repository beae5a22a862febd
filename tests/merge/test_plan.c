/* test_plan.c - the in-memory plan API used by data-aware merging: a plan
 * built from a config merges tensors into caller buffers (no output files),
 * and agrees with the per-tensor API on the same inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "io/model_dir.h"
#include "merge/config.h"
#include "merge/plan.h"
#include "merge/tensor.h"
#include "test.h"

#define GOLDEN MG_TEST_DATA "/golden"

static mg_plan *plan_of(const char *yaml, mg_merge_config **cfg) {
    mg_error err = {0};
    mg_plan *p = NULL;
    CHECK_OK(mg_merge_config_parse(yaml, strlen(yaml), "t.yml", GOLDEN, cfg, &err), &err);
    if (*cfg) CHECK_OK(mg_plan_build(*cfg, 5, &p, &err), &err);
    return p;
}

static void test_linear_one_hot(void) {
    mg_merge_config *c = NULL;
    mg_plan *p =
        plan_of("merge_method: linear\nmodels:\n  - {model: tiny-llama3, parameters: {weight: 1}}\n"
                "  - {model: tiny-llama, parameters: {weight: 0}}\n",
                &c);
    if (!p) return;
    mg_model *a = NULL;
    mg_error err = {0};
    CHECK_OK(mg_model_open(GOLDEN "/tiny-llama3", &a, &err), &err);
    float **outs = calloc(p->n_tensors, sizeof *outs);
    for (size_t i = 0; i < p->n_tensors; i++)
        outs[i] = malloc(p->tensors[i].numel * sizeof(float));
    CHECK_OK(mg_plan_merge_all_f32(p, outs, &err), &err);
    for (size_t i = 0; a && i < p->n_tensors; i++) {
        float *ref = NULL;
        const mg_tensor_view *v = NULL;
        CHECK_OK(mg_model_read_f32(a, p->tensors[i].name, &ref, &v, &err), &err);
        if (ref)
            CHECK_MSG(!memcmp(ref, outs[i], p->tensors[i].numel * sizeof(float)), "%s",
                      p->tensors[i].name);
        free(ref);
    }
    for (size_t i = 0; i < p->n_tensors; i++)
        free(outs[i]);
    free(outs);
    mg_model_close(a);
    mg_plan_free(p);
    mg_merge_config_free(c);
}

static void test_plan_matches_tensor_api(void) {
    mg_merge_config *c = NULL;
    mg_plan *p = plan_of("merge_method: dare_ties\nbase_model: tiny-llama\nmodels:\n"
                         "  - {model: tiny-llama3, parameters: {weight: 0.7, density: 0.4}}\n",
                         &c);
    if (!p) return;
    mg_error err = {0};
    for (size_t i = 0; i < p->n_tensors; i++) {
        const mg_plan_tensor *T = &p->tensors[i];
        float *out = malloc(T->numel * sizeof(float)), *out2 = malloc(T->numel * sizeof(float));
        CHECK_OK(mg_plan_merge_tensor_f32(p, i, out, &err), &err);
        // the same merge through the tensor API on buffers read by hand
        float *in[2] = {0};
        double m[2][MG_P_COUNT];
        for (size_t q = 0; q < T->n_inputs; q++) {
            in[q] = malloc(T->numel * sizeof(float));
            mg_tensor_to_f32(T->inputs[q].view, in[q], &err);
            memcpy(m[q], T->inputs[q].m, sizeof m[q]);
        }
        mg_tensor_merge t = {.method = c->method,
                             .n = T->n_inputs,
                             .inputs = (const float *const *)in,
                             .base = T->base,
                             .numel = T->numel,
                             .cols = (uint64_t)T->shape[T->ndim - 1],
                             .m = (const double(*)[MG_P_COUNT])m,
                             .key = mg_rng_key(5, T->name)};
        memcpy(t.g, T->g, sizeof t.g);
        CHECK_OK(mg_merge_tensor_f32(&t, out2, &err), &err);
        CHECK_MSG(!memcmp(out, out2, T->numel * sizeof(float)), "%s differs", T->name);
        for (size_t q = 0; q < T->n_inputs; q++)
            free(in[q]);
        free(out), free(out2);
    }
    mg_plan_free(p);
    mg_merge_config_free(c);
}

int main(void) {
    RUN(test_linear_one_hot);
    RUN(test_plan_matches_tensor_api);
    return TEST_END();
}
