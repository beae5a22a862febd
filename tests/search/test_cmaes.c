/* test_cmaes.c - CMA-ES on standard functions, determinism and resume. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/json.h"
#include "search/cmaes.h"
#include "test.h"

typedef double (*objective)(const double *x, int n);

static double sphere(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

/* Ellipsoid with condition number 1e6. */
static double ellipsoid(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += pow(1e6, (double)i / (n - 1)) * x[i] * x[i];
    return s;
}

static double rosenbrock(const double *x, int n) {
    double s = 0;
    for (int i = 0; i + 1 < n; i++) {
        double a = x[i] * x[i] - x[i + 1], b = x[i] - 1.0;
        s += 100.0 * a * a + b * b;
    }
    return s;
}

/* Runs until a stop condition; returns fevals used and the best value. */
static int64_t run(mg_cmaes *c, objective fn, double *fbest) {
    int n = mg_cmaes_dim(c), lam = mg_cmaes_lambda(c);
    double *X = mg_malloc_array((size_t)lam * n, sizeof(double));
    double *f = mg_malloc_array((size_t)lam, sizeof(double));
    while (!mg_cmaes_stop(c)) {
        mg_cmaes_ask(c, X);
        for (int k = 0; k < lam; k++)
            f[k] = fn(X + (size_t)k * n, n);
        mg_cmaes_tell(c, f);
    }
    mg_cmaes_best(c, NULL, fbest);
    free(X);
    free(f);
    return mg_cmaes_fevals(c);
}

static void solve(objective fn, const char *name, double x0v, double sigma0, double target,
                  int64_t budget) {
    enum { N = 10 };
    double x0[N];
    for (int i = 0; i < N; i++)
        x0[i] = x0v;
    mg_cmaes_options opt = {.n = N,
                            .sigma0 = sigma0,
                            .seed = 1,
                            .max_fevals = budget,
                            .use_ftarget = true,
                            .ftarget = target};
    mg_cmaes *c = NULL;
    mg_error err = {0};
    CHECK_OK(mg_cmaes_new(&opt, x0, &c, &err), &err);
    if (!c) return;
    CHECK_EQ_INT(mg_cmaes_lambda(c), 10); // 4 + floor(3 ln 10)
    double fb = INFINITY;
    int64_t fe = run(c, fn, &fb);
    printf("%-10s n=10: f=%.3g after %lld fevals (stop: %s)\n", name, fb, (long long)fe,
           mg_cmaes_stop(c));
    CHECK_MSG(fb <= target, "%s reached %g", name, fb);
    CHECK_MSG(fe < budget, "%s used %lld fevals", name, (long long)fe);
    CHECK_EQ_STR(mg_cmaes_stop(c), "ftarget");
    mg_cmaes_free(c);
}

static void test_sphere(void) {
    solve(sphere, "sphere", 1.0, 0.5, 1e-10, 2000);
}

static void test_ellipsoid(void) {
    solve(ellipsoid, "ellipsoid", 1.0, 0.5, 1e-10, 10000);
}

static void test_rosenbrock(void) {
    solve(rosenbrock, "rosenbrock", 0.0, 0.5, 1e-8, 10000);
}

static void test_defaults_and_bad_options(void) {
    double x0[128] = {0};
    mg_cmaes_options opt = {.n = 128, .seed = 7};
    mg_cmaes *c = NULL;
    mg_error err = {0};
    CHECK_OK(mg_cmaes_new(&opt, x0, &c, &err), &err);
    CHECK_EQ_INT(mg_cmaes_lambda(c), 18); // paper App. B: n=128 -> 18
    CHECK_NEAR(mg_cmaes_sigma(c), 1.0 / 6.0, 0);
    CHECK(mg_cmaes_stop(c) == NULL);
    CHECK(!mg_cmaes_best(c, NULL, NULL));
    mg_cmaes_free(c);
    opt.n = 0;
    CHECK(mg_cmaes_new(&opt, x0, &c, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "dimension") != NULL);
    opt.n = 3;
    opt.lambda = 1;
    CHECK(mg_cmaes_new(&opt, x0, &c, &err) == MG_ERR_INVALID);
    opt.lambda = 0;
    x0[1] = NAN;
    CHECK(mg_cmaes_new(&opt, x0, &c, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "x0[1]") != NULL);
    mg_cmaes_free(NULL);
}

/* Two runs with the same seed give bit-identical samples; another seed does not. */
static void test_determinism(void) {
    enum { N = 6 };
    double x0[N] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    mg_error err = {0};
    mg_cmaes *a = NULL, *b = NULL, *o = NULL;
    mg_cmaes_options opt = {.n = N, .seed = 42};
    CHECK_OK(mg_cmaes_new(&opt, x0, &a, &err), &err);
    CHECK_OK(mg_cmaes_new(&opt, x0, &b, &err), &err);
    opt.seed = 43;
    CHECK_OK(mg_cmaes_new(&opt, x0, &o, &err), &err);
    int lam = mg_cmaes_lambda(a);
    double *xa = mg_malloc_array((size_t)lam * N, sizeof(double));
    double *xb = mg_malloc_array((size_t)lam * N, sizeof(double));
    double *f = mg_malloc_array((size_t)lam, sizeof(double));
    for (int g = 0; g < 30; g++) {
        mg_cmaes_ask(a, xa);
        mg_cmaes_ask(b, xb);
        CHECK(memcmp(xa, xb, (size_t)lam * N * sizeof(double)) == 0);
        mg_cmaes_ask(a, xb); // ask is pure
        CHECK(memcmp(xa, xb, (size_t)lam * N * sizeof(double)) == 0);
        if (g == 0) {
            mg_cmaes_ask(o, xb);
            CHECK(memcmp(xa, xb, (size_t)lam * N * sizeof(double)) != 0);
        }
        for (int k = 0; k < lam; k++)
            f[k] = rosenbrock(xa + (size_t)k * N, N);
        mg_cmaes_tell(a, f);
        mg_cmaes_tell(b, f);
    }
    CHECK(memcmp(mg_cmaes_mean(a), mg_cmaes_mean(b), N * sizeof(double)) == 0);
    CHECK(mg_cmaes_sigma(a) == mg_cmaes_sigma(b));
    free(xa);
    free(xb);
    free(f);
    mg_cmaes_free(a);
    mg_cmaes_free(b);
    mg_cmaes_free(o);
}

/* Serialize after k generations (through text, as a checkpoint does), resume, and
 * finish: the result equals an uninterrupted run bit for bit. */
static void test_resume(void) {
    enum { N = 8 };
    double x0[N] = {0};
    mg_error err = {0};
    mg_cmaes_options opt = {.n = N, .seed = 9, .max_fevals = 3000};
    mg_cmaes *full = NULL, *part = NULL, *resumed = NULL;
    CHECK_OK(mg_cmaes_new(&opt, x0, &full, &err), &err);
    CHECK_OK(mg_cmaes_new(&opt, x0, &part, &err), &err);
    double fb_full = 0;
    run(full, rosenbrock, &fb_full);

    int lam = mg_cmaes_lambda(part);
    double *X = mg_malloc_array((size_t)lam * N, sizeof(double));
    double *f = mg_malloc_array((size_t)lam, sizeof(double));
    for (int g = 0; g < 37; g++) { // crosses several eigendecompositions
        mg_cmaes_ask(part, X);
        for (int k = 0; k < lam; k++)
            f[k] = rosenbrock(X + (size_t)k * N, N);
        mg_cmaes_tell(part, f);
    }
    json_t *j = mg_cmaes_to_json(part);
    char *text = mg_json_dump(j, JSON_COMPACT);
    json_decref(j);
    json_t *back = NULL;
    CHECK_OK(mg_json_load_buffer(text, strlen(text), "state", &back, &err), &err);
    CHECK_OK(mg_cmaes_from_json(back, "state", &resumed, &err), &err);
    json_decref(back);
    if (resumed) {
        // Round trip of the text is exact.
        json_t *j2 = mg_cmaes_to_json(resumed);
        char *text2 = mg_json_dump(j2, JSON_COMPACT);
        CHECK_EQ_STR(text, text2);
        free(text2);
        json_decref(j2);
        double fb_res = 0;
        run(resumed, rosenbrock, &fb_res);
        CHECK(fb_res == fb_full);
        CHECK_EQ_INT(mg_cmaes_fevals(resumed), mg_cmaes_fevals(full));
        CHECK(memcmp(mg_cmaes_mean(resumed), mg_cmaes_mean(full), N * sizeof(double)) == 0);
        const double *xa = NULL, *xb = NULL;
        mg_cmaes_best(resumed, &xa, NULL);
        mg_cmaes_best(full, &xb, NULL);
        CHECK(memcmp(xa, xb, N * sizeof(double)) == 0);
    }
    free(text);
    free(X);
    free(f);
    mg_cmaes_free(full);
    mg_cmaes_free(part);
    mg_cmaes_free(resumed);
}

static void test_bad_state(void) {
    mg_error err = {0};
    mg_cmaes *c = NULL;
    json_t *j = json_pack("{s:s}", "format", "other");
    CHECK(mg_cmaes_from_json(j, "ckpt.json", &c, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "ckpt.json") != NULL);
    json_decref(j);
    double x0[3] = {0};
    mg_cmaes_options opt = {.n = 3, .seed = 1};
    CHECK_OK(mg_cmaes_new(&opt, x0, &c, &err), &err);
    j = mg_cmaes_to_json(c);
    mg_cmaes_free(c);
    c = NULL;
    json_object_set_new(j, "C", json_array());
    CHECK(mg_cmaes_from_json(j, "ckpt.json", &c, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "\"C\"") != NULL);
    CHECK(c == NULL);
    json_decref(j);
}

/* max_fevals: whole generations, overshooting by less than lambda (as pycma). */
static void test_maxfevals(void) {
    double x0[128] = {0};
    for (int i = 0; i < 128; i++)
        x0[i] = 0.5;
    mg_cmaes_options opt = {.n = 128, .seed = 3, .max_fevals = 100};
    mg_cmaes *c = NULL;
    mg_error err = {0};
    CHECK_OK(mg_cmaes_new(&opt, x0, &c, &err), &err);
    double fb = 0;
    int64_t fe = run(c, sphere, &fb);
    CHECK_EQ_INT(fe, 108); // 6 generations of 18
    CHECK_EQ_STR(mg_cmaes_stop(c), "maxfevals");
    CHECK(fb < 0.25 * 128); // improved on x0
    mg_cmaes_free(c);
}

int main(void) {
    RUN(test_sphere);
    RUN(test_ellipsoid);
    RUN(test_rosenbrock);
    RUN(test_defaults_and_bad_options);
    RUN(test_determinism);
    RUN(test_resume);
    RUN(test_bad_state);
    RUN(test_maxfevals);
    return TEST_END();
}
