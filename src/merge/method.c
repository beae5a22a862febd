/* method.c - the registry of the 20 mergekit methods: base-model rules,
 * parameters with mergekit's defaults (merge_methods/registry.py and the
 * easy_define methods), and kernels. */
#include "merge/method.h"

#include <math.h>
#include <string.h>

#include "merge/methods/methods.h"

#define INF HUGE_VAL
#define NONE NAN
#define P(name, id, pm, req, type, def, lo, hi)                                                    \
    { name, id, pm, req, type, def, lo, hi }
#define WEIGHT P("weight", MG_P_WEIGHT, true, true, MG_PT_NUM, NONE, -INF, INF)
#define DENSITY P("density", MG_P_DENSITY, true, false, MG_PT_NUM, 1.0, 0, 1)
#define GAMMA P("gamma", MG_P_GAMMA, true, false, MG_PT_NUM, 0.01, 0, 1)
#define EPSILON_DELLA P("epsilon", MG_P_EPSILON, true, false, MG_PT_NUM, 0.15, 0, 1)
#define INT8 P("int8_mask", MG_P_INT8_MASK, false, false, MG_PT_BOOL, 0, 0, 1)
#define NORMALIZE(d) P("normalize", MG_P_NORMALIZE, false, false, MG_PT_BOOL, d, 0, 1)
#define RESCALE(d) P("rescale", MG_P_RESCALE, false, false, MG_PT_RESCALE, d, 0, 2)
#define LAMBDA P("lambda", MG_P_LAMBDA, false, false, MG_PT_NUM, 1.0, -INF, INF)
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const mg_param_def P_LINEAR[] = {NORMALIZE(1), WEIGHT};
static const mg_param_def P_SLERP[] = {P("t", MG_P_T, false, true, MG_PT_NUM, NONE, 0, 1)};
static const mg_param_def P_NUSLERP[] = {
    P("nuslerp_row_wise", MG_P_ROW_WISE, false, false, MG_PT_BOOL, 0, 0, 1),
    P("nuslerp_flatten", MG_P_FLATTEN, false, false, MG_PT_BOOL, 1, 0, 1), WEIGHT};
static const mg_param_def P_MULTISLERP[] = {
    P("normalize_weights", MG_P_NORMALIZE_WEIGHTS, false, false, MG_PT_BOOL, 1, 0, 1),
    P("eps", MG_P_EPS, false, false, MG_PT_NUM, 1e-8, 0, INF), WEIGHT};
static const mg_param_def P_KARCHER[] = {
    P("max_iter", MG_P_MAX_ITER, false, false, MG_PT_NUM, 10, 0, 100000),
    P("tol", MG_P_TOL, false, false, MG_PT_NUM, 1e-5, 0, INF)};
static const mg_param_def P_TA[] = {INT8, NORMALIZE(0), RESCALE(0), LAMBDA, WEIGHT, DENSITY};
static const mg_param_def P_TIES[] = {INT8, NORMALIZE(1), RESCALE(0), LAMBDA, WEIGHT, DENSITY};
static const mg_param_def P_DARE[] = {INT8, NORMALIZE(0), RESCALE(1), LAMBDA, WEIGHT, DENSITY};
static const mg_param_def P_BREAD[] = {INT8,   NORMALIZE(0), RESCALE(0), LAMBDA,
                                       WEIGHT, DENSITY,      GAMMA};
static const mg_param_def P_DELLA[] = {INT8,   NORMALIZE(1), RESCALE(1),   LAMBDA,
                                       WEIGHT, DENSITY,      EPSILON_DELLA};
static const mg_param_def P_DELLA_LIN[] = {INT8,   NORMALIZE(0), RESCALE(1),   LAMBDA,
                                           WEIGHT, DENSITY,      EPSILON_DELLA};
static const mg_param_def P_SCE[] = {
    INT8, P("select_topk", MG_P_SELECT_TOPK, false, false, MG_PT_NUM, 1.0, 0, 1)};
static const mg_param_def P_RAM[] = {
    P("epsilon", MG_P_EPSILON, false, false, MG_PT_NUM, 1e-5, 0, INF)};
static const mg_param_def P_RAMPLUS[] = {
    P("r", MG_P_R, false, false, MG_PT_NUM, 0.1, 0, INF),
    P("alpha", MG_P_ALPHA, false, false, MG_PT_NUM, 0.2, 0, INF),
    P("epsilon", MG_P_EPSILON, false, false, MG_PT_NUM, 1e-5, 0, INF)};
static const mg_param_def P_STOCK[] = {
    P("filter_wise", MG_P_FILTER_WISE, false, false, MG_PT_BOOL, 0, 0, 1)};
static const mg_param_def P_NEARSWAP[] = {P("t", MG_P_T, false, true, MG_PT_NUM, NONE, 0, INF)};
static const mg_param_def P_PASS[] = {
    P("scale", MG_P_SCALE, true, false, MG_PT_NUM, NONE, -INF, INF)};

#define M(name, base, mn, mx, rect, gta, rnd, params, k)                                           \
    { name, base, mn, mx, rect, gta, rnd, params, N(params), k }

static const mg_method METHODS[] = {
    M("linear", MG_BASE_NONE, 0, -1, true, false, false, P_LINEAR, mg_k_linear),
    M("slerp", MG_BASE_REQUIRED, 1, 1, true, false, false, P_SLERP, mg_k_slerp),
    M("nuslerp", MG_BASE_OPTIONAL, 1, 2, true, false, false, P_NUSLERP, mg_k_nuslerp),
    M("multislerp", MG_BASE_OPTIONAL, 1, -1, false, false, false, P_MULTISLERP, mg_k_multislerp),
    M("karcher", MG_BASE_NONE, 1, -1, true, false, false, P_KARCHER, mg_k_karcher),
    M("task_arithmetic", MG_BASE_REQUIRED, 1, -1, false, true, false, P_TA, mg_k_task_arithmetic),
    M("ties", MG_BASE_REQUIRED, 1, -1, false, true, false, P_TIES, mg_k_ties),
    M("dare_ties", MG_BASE_REQUIRED, 1, -1, false, true, true, P_DARE, mg_k_dare_ties),
    M("dare_linear", MG_BASE_REQUIRED, 1, -1, false, true, true, P_DARE, mg_k_dare_linear),
    M("breadcrumbs", MG_BASE_REQUIRED, 1, -1, false, true, false, P_BREAD, mg_k_breadcrumbs),
    M("breadcrumbs_ties", MG_BASE_REQUIRED, 1, -1, false, true, false, P_BREAD,
      mg_k_breadcrumbs_ties),
    M("della", MG_BASE_REQUIRED, 1, -1, false, true, true, P_DELLA, mg_k_della),
    M("della_linear", MG_BASE_REQUIRED, 1, -1, false, true, true, P_DELLA_LIN, mg_k_della_linear),
    M("model_stock", MG_BASE_REQUIRED, 2, -1, true, false, false, P_STOCK, mg_k_model_stock),
    M("sce", MG_BASE_REQUIRED, 1, -1, false, false, false, P_SCE, mg_k_sce),
    M("ram", MG_BASE_REQUIRED, 1, -1, false, false, false, P_RAM, mg_k_ram),
    M("ramplus_tl", MG_BASE_REQUIRED, 1, -1, false, false, false, P_RAMPLUS, mg_k_ramplus_tl),
    M("nearswap", MG_BASE_REQUIRED, 1, 1, false, false, false, P_NEARSWAP, mg_k_nearswap),
    {"arcee_fusion", MG_BASE_REQUIRED, 1, 1, true, false, false, NULL, 0, mg_k_arcee_fusion},
    M("passthrough", MG_BASE_NONE, 0, 0, false, false, false, P_PASS, mg_k_passthrough),
};

const mg_method *mg_method_find(const char *name) {
    for (size_t i = 0; i < N(METHODS); i++)
        if (!strcmp(METHODS[i].name, name)) return &METHODS[i];
    return NULL;
}

size_t mg_method_count(void) {
    return N(METHODS);
}

const mg_method *mg_method_at(size_t i) {
    return i < N(METHODS) ? &METHODS[i] : NULL;
}

const char *mg_method_names(void) {
    return "linear, slerp, nuslerp, multislerp, karcher, task_arithmetic, ties, dare_ties, "
           "dare_linear, breadcrumbs, breadcrumbs_ties, della, della_linear, model_stock, sce, "
           "ram, ramplus_tl, nearswap, arcee_fusion, passthrough";
}

const mg_param_def *mg_method_param(const mg_method *m, const char *name) {
    for (size_t i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, name)) return &m->params[i];
    return NULL;
}

const char *mg_param_name(mg_param_id id) {
    static const char *const NAMES[MG_P_COUNT] = {"weight",
                                                  "density",
                                                  "gamma",
                                                  "epsilon",
                                                  "scale",
                                                  "t",
                                                  "normalize",
                                                  "rescale",
                                                  "lambda",
                                                  "int8_mask",
                                                  "nuslerp_row_wise",
                                                  "nuslerp_flatten",
                                                  "normalize_weights",
                                                  "eps",
                                                  "max_iter",
                                                  "tol",
                                                  "select_topk",
                                                  "r",
                                                  "alpha",
                                                  "filter_wise"};
    return (unsigned)id < MG_P_COUNT ? NAMES[id] : "?";
}
