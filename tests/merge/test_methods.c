/* test_methods.c - every merge kernel against an independent double-precision
 * reference written here from mergekit's formulas (not the production code
 * path), on random tensors and edge cases, across chunk sizes and thread
 * counts. DARE / DELLA: statistics (kept fraction, L1 preserved) and mask
 * determinism. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/cpu.h"
#include "base/half.h"
#include "merge/input_cache.h"
#include "merge/kernel.h"
#include "merge/methods/methods.h"
#include "merge/tensor.h"
#include "merge/tv_memo.h"
#include "test.h"

#define MAXN 6

typedef struct fixture {
    size_t n;
    uint64_t numel, cols;
    float *x[MAXN];
    double g[MG_P_COUNT];
    double m[MAXN][MG_P_COUNT];
    int base;
} fixture;

static uint64_t g_seed = 1;

static void fx_init(fixture *f, const char *method, size_t n, uint64_t rows, uint64_t cols,
                    int base, double spread) {
    memset(f, 0, sizeof *f);
    f->n = n, f->numel = rows * cols, f->cols = cols, f->base = base;
    mg_tensor_merge_defaults(mg_method_find(method), f->g, f->m[0]);
    for (size_t i = 1; i < n; i++)
        memcpy(f->m[i], f->m[0], sizeof f->m[0]);
    uint64_t key = mg_rng_key(g_seed++, "fixture");
    for (size_t i = 0; i < n; i++) {
        f->x[i] = malloc(f->numel * sizeof(float));
        for (uint64_t e = 0; e < f->numel; e++) {
            double base_v = mg_rng_normal(key, e);
            double dv = mg_rng_normal(mg_rng_subkey(key, i + 1), e);
            f->x[i][e] = (float)(base_v + spread * dv);
        }
    }
}

static void fx_free(fixture *f) {
    for (size_t i = 0; i < f->n; i++)
        free(f->x[i]);
}

static mg_status fx_run(const fixture *f, const char *method, uint64_t chunk, float *out,
                        mg_error *err) {
    mg_tensor_merge t = {.method = mg_method_find(method),
                         .n = f->n,
                         .inputs = (const float *const *)f->x,
                         .base = f->base,
                         .numel = f->numel,
                         .cols = f->cols,
                         .m = f->m,
                         .key = mg_rng_key(42, "tensor"),
                         .chunk = chunk};
    memcpy(t.g, f->g, sizeof t.g);
    return mg_merge_tensor_f32(&t, out, err);
}

/* Norm-wise relative error max|a-b| / max(max|b|, 1e-30). */
static double rel_err(const float *a, const double *b, uint64_t n) {
    double md = 0, mb = 0;
    for (uint64_t i = 0; i < n; i++) {
        md = fmax(md, fabs(a[i] - b[i]));
        mb = fmax(mb, fabs(b[i]));
    }
    if (isnan(md)) return INFINITY;
    return md / fmax(mb, 1e-30);
}

/* Runs the method with several chunk sizes and thread counts; all must match
 * the reference within tol and be bit-identical to each other. */
static void check_method(const fixture *f, const char *method, const double *ref, double tol) {
    const uint64_t chunks[] = {0, 7, 64};
    const int threads[] = {1, 2, 5};
    float *first = NULL;
    for (int ci = 0; ci < 3; ci++)
        for (int ti = 0; ti < 3; ti++) {
            uint64_t ch = chunks[ci];
            if (ch && f->cols > 1 && ch < f->cols) ch = f->cols; // whole rows anyway
            omp_set_num_threads(threads[ti]);
            float *out = malloc(f->numel * sizeof(float) + 4);
            mg_error err = {0};
            mg_status st = fx_run(f, method, chunks[ci], out, &err);
            CHECK_MSG(st == MG_OK, "%s: %s", method, err.msg);
            if (st) {
                free(out);
                continue;
            }
            double e = rel_err(out, ref, f->numel);
            CHECK_MSG(e <= tol, "%s chunk %llu threads %d: rel err %g", method,
                      (unsigned long long)chunks[ci], threads[ti], e);
            if (!first)
                first = out;
            else {
                CHECK_MSG(!memcmp(first, out, f->numel * sizeof(float)),
                          "%s: result depends on chunking/threads", method);
                free(out);
            }
        }
    free(first);
    omp_set_num_threads(2);
}

/* ---- references ---- */

static double dot(const float *a, const float *b, uint64_t n) {
    double s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void ref_linear(const fixture *f, double *r) {
    double ws = 0;
    for (size_t i = 0; i < f->n; i++)
        ws += f->m[i][MG_P_WEIGHT];
    for (uint64_t e = 0; e < f->numel; e++) {
        double s = 0;
        for (size_t i = 0; i < f->n; i++)
            s += f->m[i][MG_P_WEIGHT] * f->x[i][e];
        r[e] = f->g[MG_P_NORMALIZE] != 0 ? s / ws : s;
    }
}

static void test_linear(void) {
    fixture f;
    fx_init(&f, "linear", 3, 9, 13, -1, 0.5);
    f.m[0][MG_P_WEIGHT] = 0.6, f.m[1][MG_P_WEIGHT] = 0.4, f.m[2][MG_P_WEIGHT] = -0.3;
    double *r = malloc(f.numel * sizeof(double));
    ref_linear(&f, r);
    check_method(&f, "linear", r, 1e-6);
    f.g[MG_P_NORMALIZE] = 0;
    ref_linear(&f, r);
    check_method(&f, "linear", r, 1e-6);
    // weights summing to 0 with normalize: refused (mergekit divides by 0)
    f.g[MG_P_NORMALIZE] = 1;
    f.m[2][MG_P_WEIGHT] = -1.0;
    float *out = malloc(f.numel * sizeof(float));
    mg_error err = {0};
    CHECK(fx_run(&f, "linear", 0, out, &err) == MG_ERR_INVALID);
    free(out);
    free(r);
    fx_free(&f);
    // a 1-element tensor
    fx_init(&f, "linear", 2, 1, 1, -1, 1);
    f.m[0][MG_P_WEIGHT] = 1, f.m[1][MG_P_WEIGHT] = 3;
    double r1;
    ref_linear(&f, &r1);
    check_method(&f, "linear", &r1, 1e-6);
    fx_free(&f);
}

static void slerp_ref(const float *v0, const float *v1, uint64_t n, double t, double *r) {
    double n0 = sqrt(dot(v0, v0, n)), n1 = sqrt(dot(v1, v1, n));
    double d = dot(v0, v1, n) / ((n0 > 1e-8 ? n0 : 1) * (n1 > 1e-8 ? n1 : 1));
    for (uint64_t e = 0; e < n; e++) {
        if (fabs(d) > 0.9995)
            r[e] = (1 - t) * v0[e] + t * v1[e];
        else {
            double th = acos(d);
            r[e] = (sin((1 - t) * th) * v0[e] + sin(t * th) * v1[e]) / sin(th);
        }
    }
}

static void test_slerp(void) {
    fixture f;
    const double ts[] = {0, 0.35, 1};
    for (int k = 0; k < 3; k++) {
        fx_init(&f, "slerp", 2, 8, 16, 1, 1.0);
        f.g[MG_P_T] = ts[k];
        double *r = malloc(f.numel * sizeof(double));
        slerp_ref(f.x[1], f.x[0], f.numel, ts[k], r);
        check_method(&f, "slerp", r, 1e-6);
        if (ts[k] == 0) CHECK(rel_err(f.x[1], r, f.numel) < 1e-7); // t = 0 gives the base
        free(r);
        fx_free(&f);
    }
    // identical inputs: the lerp branch
    fx_init(&f, "slerp", 2, 4, 4, 0, 0);
    f.g[MG_P_T] = 0.3;
    double r[16];
    slerp_ref(f.x[0], f.x[1], 16, 0.3, r);
    check_method(&f, "slerp", r, 1e-6);
    fx_free(&f);
    // zeros
    fx_init(&f, "slerp", 2, 1, 5, 0, 1);
    memset(f.x[0], 0, 5 * sizeof(float));
    f.g[MG_P_T] = 0.5;
    double rz[5];
    slerp_ref(f.x[0], f.x[1], 5, 0.5, rz);
    check_method(&f, "slerp", rz, 1e-6);
    fx_free(&f);
}

static void nus_vec(const double *a, const double *b, size_t n, double t, double *out) {
    double aa = 0, bb = 0, ab = 0;
    for (size_t i = 0; i < n; i++)
        aa += a[i] * a[i], bb += b[i] * b[i], ab += a[i] * b[i];
    double d = ab / (fmax(sqrt(aa), 1e-7) * fmax(sqrt(bb), 1e-7));
    d = fmin(1, fmax(-1, d));
    double th = acos(d), s = sin(th);
    for (size_t i = 0; i < n; i++)
        out[i] = fabs(s) < 1e-8 ? (1 - t) * a[i] + t * b[i]
                                : (sin((1 - t) * th) * a[i] + sin(t * th) * b[i]) / s;
}

static void ref_nuslerp(const fixture *f, int mode, double *r) {
    // mode 0 flatten, 1 per row, 2 per column
    int base = f->base;
    size_t ia = base == 0 ? 1 : 0, ib = base >= 0 && base <= 1 ? 2 : 1;
    double wa = f->m[ia][MG_P_WEIGHT], wb = f->m[ib][MG_P_WEIGHT];
    double t = fabs(wa + wb) < 1e-6 ? 0.5 : wb / (wa + wb);
    uint64_t n = f->numel, cols = f->cols, rows = n / cols;
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double));
    for (uint64_t e = 0; e < n; e++) {
        double z = base >= 0 ? f->x[base][e] : 0;
        a[e] = f->x[ia][e] - z, b[e] = f->x[ib][e] - z;
    }
    if (mode == 0)
        nus_vec(a, b, n, t, r);
    else if (mode == 1)
        for (uint64_t i = 0; i < rows; i++)
            nus_vec(a + i * cols, b + i * cols, cols, t, r + i * cols);
    else {
        double *ca = malloc(rows * sizeof(double)), *cb = malloc(rows * sizeof(double));
        double *co = malloc(rows * sizeof(double));
        for (uint64_t j = 0; j < cols; j++) {
            for (uint64_t i = 0; i < rows; i++)
                ca[i] = a[i * cols + j], cb[i] = b[i * cols + j];
            nus_vec(ca, cb, rows, t, co);
            for (uint64_t i = 0; i < rows; i++)
                r[i * cols + j] = co[i];
        }
        free(ca), free(cb), free(co);
    }
    if (base >= 0)
        for (uint64_t e = 0; e < n; e++)
            r[e] += f->x[base][e];
    free(a), free(b);
}

static void test_nuslerp(void) {
    for (int withbase = 0; withbase < 2; withbase++)
        for (int mode = 0; mode < 3; mode++) {
            fixture f;
            fx_init(&f, "nuslerp", withbase ? 3 : 2, 6, 10, withbase ? 2 : -1, 0.7);
            f.m[0][MG_P_WEIGHT] = 0.6, f.m[1][MG_P_WEIGHT] = 0.4;
            f.g[MG_P_FLATTEN] = mode == 0;
            f.g[MG_P_ROW_WISE] = mode == 2;
            double *r = malloc(f.numel * sizeof(double));
            ref_nuslerp(&f, mode, r);
            check_method(&f, "nuslerp", r, 1e-6);
            // weights summing to zero: t = 0.5
            f.m[0][MG_P_WEIGHT] = -0.5, f.m[1][MG_P_WEIGHT] = 0.5;
            ref_nuslerp(&f, mode, r);
            check_method(&f, "nuslerp", r, 1e-6);
            free(r);
            fx_free(&f);
        }
}

static void ref_multislerp(const fixture *f, double *r) {
    uint64_t n = f->numel;
    int b = f->base;
    size_t K = 0, idx[MAXN];
    for (size_t i = 0; i < f->n; i++)
        if ((int)i != b) idx[K++] = i;
    double *x[MAXN], w[MAXN], ws = 0, nr[MAXN];
    for (size_t k = 0; k < K; k++) {
        x[k] = malloc(n * sizeof(double));
        for (uint64_t e = 0; e < n; e++)
            x[k][e] = f->x[idx[k]][e] - (b >= 0 ? f->x[b][e] : 0);
        w[k] = f->m[idx[k]][MG_P_WEIGHT], ws += w[k];
    }
    double eps = f->g[MG_P_EPS];
    if (f->g[MG_P_NORMALIZE_WEIGHTS] != 0)
        for (size_t k = 0; k < K; k++)
            w[k] /= ws;
    double *m = calloc(n, sizeof(double)), *T = calloc(n, sizeof(double)), scale = 0;
    for (size_t k = 0; k < K; k++) {
        double s = 0;
        for (uint64_t e = 0; e < n; e++)
            s += x[k][e] * x[k][e];
        nr[k] = sqrt(s);
        scale += w[k] * nr[k];
        for (uint64_t e = 0; e < n; e++)
            m[e] += w[k] * x[k][e] / (nr[k] + eps);
    }
    double mn = 0;
    for (uint64_t e = 0; e < n; e++)
        mn += m[e] * m[e];
    mn = sqrt(mn);
    for (size_t k = 0; k < K; k++) {
        double um = 0;
        for (uint64_t e = 0; e < n; e++)
            um += x[k][e] / (nr[k] + eps) * m[e] / mn;
        for (uint64_t e = 0; e < n; e++)
            T[e] += w[k] * (x[k][e] / (nr[k] + eps) - um * m[e] / mn);
    }
    double tn = 0;
    for (uint64_t e = 0; e < n; e++)
        tn += T[e] * T[e];
    double tau = sqrt(tn) + eps;
    for (uint64_t e = 0; e < n; e++)
        r[e] = (m[e] / mn * cos(tau) + T[e] * sin(tau) / tau) * scale + (b >= 0 ? f->x[b][e] : 0);
    for (size_t k = 0; k < K; k++)
        free(x[k]);
    free(m), free(T);
}

static void test_multislerp(void) {
    for (int withbase = 0; withbase < 2; withbase++) {
        fixture f;
        fx_init(&f, "multislerp", 4, 5, 8, withbase ? 0 : -1, 0.6);
        for (size_t i = 0; i < 4; i++)
            f.m[i][MG_P_WEIGHT] = 0.2 + 0.1 * (double)i;
        double *r = malloc(f.numel * sizeof(double));
        ref_multislerp(&f, r);
        check_method(&f, "multislerp", r, 1e-5);
        free(r);
        fx_free(&f);
    }
}

static void ref_karcher(const fixture *f, double *r) {
    size_t K = f->n;
    uint64_t n = f->numel;
    double tol = f->g[MG_P_TOL], al[MAXN], nr[MAXN], as = 0, nsum = 0;
    double *u[MAXN];
    for (size_t i = 0; i < K; i++) {
        nr[i] = sqrt(dot(f->x[i], f->x[i], n));
        nsum += nr[i];
        al[i] = nr[i] > tol ? 1.0 / (double)K : 0;
        as += al[i];
        u[i] = malloc(n * sizeof(double));
        for (uint64_t e = 0; e < n; e++)
            u[i][e] = f->x[i][e] / nr[i];
    }
    for (size_t i = 0; i < K; i++)
        al[i] /= as;
    double *cur = calloc(n, sizeof(double)), *T = calloc(n, sizeof(double));
    for (size_t i = 0; i < K; i++)
        for (uint64_t e = 0; e < n; e++)
            cur[e] += al[i] * u[i][e];
    double un = 0;
    for (uint64_t e = 0; e < n; e++)
        un += cur[e] * cur[e];
    un = sqrt(un);
    for (uint64_t e = 0; e < n; e++)
        cur[e] /= un;
    for (int it = 0; it < (int)f->g[MG_P_MAX_ITER]; it++) {
        memset(T, 0, n * sizeof(double));
        for (size_t i = 0; i < K; i++) {
            double c = 0;
            for (uint64_t e = 0; e < n; e++)
                c += cur[e] * u[i][e];
            c = fmin(1, fmax(-1, c));
            double th = acos(c);
            if (th < tol) continue;
            for (uint64_t e = 0; e < n; e++)
                T[e] += al[i] * th / sin(th) * (u[i][e] - c * cur[e]);
        }
        double tn = 0;
        for (uint64_t e = 0; e < n; e++)
            tn += T[e] * T[e];
        tn = sqrt(tn);
        if (tn < tol) break;
        double nn = 0;
        for (uint64_t e = 0; e < n; e++) {
            cur[e] = cos(tn) * cur[e] + sin(tn) * T[e] / tn;
            nn += cur[e] * cur[e];
        }
        for (uint64_t e = 0; e < n; e++)
            cur[e] /= sqrt(nn);
    }
    for (uint64_t e = 0; e < n; e++)
        r[e] = nsum / (double)K * cur[e];
    for (size_t i = 0; i < K; i++)
        free(u[i]);
    free(cur), free(T);
}

static void test_karcher(void) {
    fixture f;
    fx_init(&f, "karcher", 3, 4, 9, 0, 0.8);
    double *r = malloc(f.numel * sizeof(double));
    ref_karcher(&f, r);
    check_method(&f, "karcher", r, 1e-5);
    f.g[MG_P_MAX_ITER] = 5;
    ref_karcher(&f, r);
    check_method(&f, "karcher", r, 1e-5);
    free(r);
    fx_free(&f);
}

/* GTA reference: sparsifier 0 none, 1 magnitude, 2 breadcrumbs. */
typedef struct {
    double v;
    uint64_t i;
} vi;
static int vi_desc(const void *a, const void *b) {
    const vi *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : 1;
}

static void ref_gta(const fixture *f, int sp, bool consensus, double *r) {
    uint64_t n = f->numel;
    int b = f->base;
    size_t K = 0, idx[MAXN];
    for (size_t i = 0; i < f->n; i++)
        if ((int)i != b) idx[K++] = i;
    double *W[MAXN], wsum = 0;
    vi *tmp = malloc(n * sizeof(vi));
    for (size_t k = 0; k < K; k++) {
        const double *pm = f->m[idx[k]];
        W[k] = malloc(n * sizeof(double));
        for (uint64_t e = 0; e < n; e++)
            W[k][e] = (double)f->x[idx[k]][e] - f->x[b][e];
        double d = pm[MG_P_DENSITY];
        if (sp && d < 1) {
            for (uint64_t e = 0; e < n; e++)
                tmp[e] = (vi){fabs((double)(float)W[k][e]), e};
            qsort(tmp, n, sizeof(vi), vi_desc); // descending |delta|, index ascending
            uint64_t lo = 0, hi = (uint64_t)floor(d * (double)n); // keep ranks [lo, hi) desc
            if (sp == 2) {
                int64_t target = (int64_t)floor(d * (double)n);
                int64_t top = (int64_t)floor(pm[MG_P_GAMMA] * (double)n);
                int64_t bot = (int64_t)n - target - top;
                if (bot < 0) top += bot, bot = 0;
                lo = (uint64_t)top, hi = n - (uint64_t)bot;
            }
            char *keep = calloc(n, 1);
            for (uint64_t q = lo; q < hi; q++)
                keep[tmp[q].i] = 1;
            for (uint64_t e = 0; e < n; e++)
                if (!keep[e]) W[k][e] = 0;
            free(keep);
        }
        for (uint64_t e = 0; e < n; e++)
            W[k][e] *= pm[MG_P_WEIGHT];
        wsum += pm[MG_P_WEIGHT];
    }
    for (uint64_t e = 0; e < n; e++) {
        double M = 0, D = 0, s = 0;
        for (size_t k = 0; k < K; k++)
            s += W[k][e];
        for (size_t k = 0; k < K; k++) {
            bool use = !consensus || (s >= 0 ? W[k][e] > 0 : W[k][e] < 0);
            if (use) M += W[k][e], D += f->m[idx[k]][MG_P_WEIGHT];
        }
        if (!consensus)
            D = fabs(wsum) < 1e-8 ? 1 : wsum;
        else if (D == 0)
            D = 1;
        if (f->g[MG_P_NORMALIZE] != 0) M /= D;
        r[e] = f->x[b][e] + f->g[MG_P_LAMBDA] * M;
    }
    for (size_t k = 0; k < K; k++)
        free(W[k]);
    free(tmp);
}

static void test_gta_family(void) {
    struct {
        const char *name;
        int sp;
        bool cons;
    } v[] = {{"task_arithmetic", 0, false},
             {"ties", 1, true},
             {"breadcrumbs", 2, false},
             {"breadcrumbs_ties", 2, true}};
    const double dens[] = {1.0, 0.5, 0.3, 0.01};
    for (int vi_ = 0; vi_ < 4; vi_++)
        for (int di = 0; di < 4; di++) {
            fixture f;
            fx_init(&f, v[vi_].name, 4, 12, 20, 1, 0.1);
            f.m[0][MG_P_WEIGHT] = 0.6, f.m[2][MG_P_WEIGHT] = 0.4, f.m[3][MG_P_WEIGHT] = -0.2;
            for (size_t i = 0; i < 4; i++)
                f.m[i][MG_P_DENSITY] = dens[di], f.m[i][MG_P_GAMMA] = 0.05;
            f.g[MG_P_LAMBDA] = di == 2 ? 0.5 : 1.0;
            double *r = malloc(f.numel * sizeof(double));
            ref_gta(&f, v[vi_].sp, v[vi_].cons, r);
            check_method(&f, v[vi_].name, r, 1e-6);
            f.g[MG_P_NORMALIZE] = !f.g[MG_P_NORMALIZE];
            ref_gta(&f, v[vi_].sp, v[vi_].cons, r);
            check_method(&f, v[vi_].name, r, 1e-6);
            free(r);
            fx_free(&f);
        }
    // identical inputs: out == base; weights summing to 0 without consensus
    fixture f;
    fx_init(&f, "ties", 3, 3, 7, 0, 0);
    f.m[1][MG_P_WEIGHT] = 1, f.m[2][MG_P_WEIGHT] = -1;
    f.m[1][MG_P_DENSITY] = f.m[2][MG_P_DENSITY] = 0.5;
    double r[21];
    ref_gta(&f, 1, true, r);
    check_method(&f, "ties", r, 1e-6);
    ref_gta(&f, 0, false, r);
    f.g[MG_P_NORMALIZE] = 1;
    ref_gta(&f, 0, false, r);
    check_method(&f, "task_arithmetic", r, 1e-6);
    fx_free(&f);
    // breadcrumbs on a tiny tensor with gamma * n < 1: the intended [bot, n) is
    // kept (mergekit's [bot:-0] slice would zero everything).
    fx_init(&f, "breadcrumbs", 2, 1, 10, 0, 1);
    f.m[1][MG_P_WEIGHT] = 1, f.m[1][MG_P_DENSITY] = 0.5, f.m[1][MG_P_GAMMA] = 0.01;
    double rb[10];
    ref_gta(&f, 2, false, rb);
    check_method(&f, "breadcrumbs", rb, 1e-6);
    int nz = 0;
    for (int e = 0; e < 10; e++)
        nz += rb[e] != f.x[0][e];
    CHECK_EQ_INT(nz, 5);
    fx_free(&f);
}

static void test_select(void) {
    // the radix selection equals a sort-based selection, ties by index
    uint64_t n = 1000;
    float *keys = malloc(n * sizeof(float));
    for (uint64_t i = 0; i < n; i++)
        keys[i] = (float)(i % 37) * 0.25f; // many ties
    fixture f;
    fx_init(&f, "ties", 2, 1, n, 0, 0);
    for (uint64_t i = 0; i < n; i++)
        f.x[0][i] = 0, f.x[1][i] = keys[i];
    f.m[1][MG_P_WEIGHT] = 1;
    const uint64_t ks[] = {1, 10, 500, 999, 1000};
    uint64_t mem_max = mg_select_mem_max;
    for (int q = 0; q < 15; q++) {
        // rounds: streaming with collection, the two-pass (histogram + tie
        // count) path, then the in-memory radix select
        mg_select_collect_max = q < 5 || q >= 10 ? (uint64_t)8 << 20 : 0;
        mg_select_mem_max = q < 10 ? 0 : mem_max;
        uint64_t kq = ks[q % 5];
        f.m[1][MG_P_DENSITY] = (double)kq / (double)n;
        mg_select s = mg_select_topk_array(keys, n, kq);
        uint64_t kept = 0;
        double r[1000];
        for (uint64_t i = 0; i < n; i++) {
            bool k = mg_select_keep(&s, i, keys[i]);
            kept += k;
            r[i] = k ? keys[i] : 0;
        }
        CHECK_EQ_INT(kept, kq);
        check_method(&f, "ties", r, 0);
    }
    mg_select_collect_max = (uint64_t)8 << 20;
    mg_select_mem_max = mem_max;
    free(keys);
    fx_free(&f);
}

static void test_philox_batch(void) {
    uint64_t key = mg_rng_key(3, "x");
    uint32_t w[4][16];
    mg_philox_batch_check(key, 12345, w);
    for (int b = 0; b < 16; b++) {
        uint64_t blk = 12345 + (uint64_t)b;
        uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), 0, 0},
                 k2[2] = {(uint32_t)key, (uint32_t)(key >> 32)}, o[4];
        mg_philox4x32_10(ctr, k2, o);
        for (int q = 0; q < 4; q++)
            CHECK(o[q] == w[q][b]);
    }
    // mg_bernoulli is a function of (key, index) only: any split gives the same mask
    uint8_t a[1000], b2[1000];
    mg_bernoulli(key, 5, 1000, 0.3, a);
    mg_bernoulli(key, 5, 333, 0.3, b2);
    mg_bernoulli(key, 338, 667, 0.3, b2 + 333);
    CHECK(!memcmp(a, b2, 1000));
    // The bit form equals the byte form at every ISA level, aligned or not,
    // for any length (the vector path takes 128 elements at a time).
    mg_cpu_level lv = mg_cpu_level_get();
    const uint64_t begins[] = {0, 8, 5, 1 << 20, ((uint64_t)1 << 35) - 64};
    const uint64_t counts[] = {1, 127, 128, 1000, 4100, 9000};
    const double ps[] = {0.3, 0.999999, 1e-7, 1, 0};
    uint8_t *m = malloc(9000), *bits = malloc(9000 / 8 + 2);
    for (int lev = 0; lev < 2; lev++) {
        if (lev == 1) mg_cpu_level_set(MG_CPU_SCALAR);
        for (int bi = 0; bi < 5; bi++)
            for (int ci = 0; ci < 6; ci++) {
                double p = ps[(bi + ci) % 5];
                mg_bernoulli(key, begins[bi], counts[ci], p, m);
                memset(bits, 0xa5, 9000 / 8 + 2);
                mg_bernoulli_bits(key, begins[bi], counts[ci], p, bits);
                int bad = 0;
                for (uint64_t e = 0; e < counts[ci]; e++)
                    bad += ((bits[e / 8] >> (e % 8)) & 1) != m[e];
                if (counts[ci] % 8) bad += (bits[counts[ci] / 8] >> (counts[ci] % 8)) != 0;
                CHECK_EQ_INT(bad, 0);
            }
    }
    mg_cpu_level_set(lv);
    free(m), free(bits);
}

static void test_select_sampled(void) {
    // 200 chunks of 500: the sampled bracket settles the selection; the result
    // equals the exact paths (sampling off) and keeps exactly k.
    fixture f;
    fx_init(&f, "ties", 3, 100, 1000, 0, 0.3);
    f.m[1][MG_P_WEIGHT] = 0.7, f.m[2][MG_P_WEIGHT] = 0.5;
    const double dens[] = {0.5, 0.01, 0.99};
    float *a = malloc(f.numel * sizeof(float)), *b = malloc(f.numel * sizeof(float));
    mg_error err = {0};
    uint64_t mem_max = mg_select_mem_max;
    for (int q = 0; q < 3; q++) {
        f.m[1][MG_P_DENSITY] = f.m[2][MG_P_DENSITY] = dens[q];
        uint64_t hits = mg_select_sampled_hits;
        mg_select_mem_max = 0;
        CHECK_OK(fx_run(&f, "ties", 500, a, &err), &err);
        CHECK(mg_select_sampled_hits == hits + 2);
        mg_select_sampling = false;
        CHECK_OK(fx_run(&f, "ties", 500, b, &err), &err);
        mg_select_sampling = true;
        CHECK(!memcmp(a, b, f.numel * sizeof(float)));
        mg_select_mem_max = mem_max; // the in-memory radix select agrees
        CHECK_OK(fx_run(&f, "ties", 500, b, &err), &err);
        CHECK(!memcmp(a, b, f.numel * sizeof(float)));
        double *r = malloc(f.numel * sizeof(double));
        ref_gta(&f, 1, true, r);
        CHECK(rel_err(a, r, f.numel) <= 1e-6);
        free(r);
    }
    free(a), free(b);
    fx_free(&f);
}

/* Keys of the pivot-stage tests: base 0, the expert holds the key. */
static float pivot_key(int dist, uint64_t i, uint64_t n) {
    uint64_t h = i * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    float u = (float)(h >> 40) * (1.0f / 16777216.0f);
    switch (dist) {
    case 0:
        return (float)(i % 37) * 0.25f; // few values, heavy ties
    case 1:
        return u; // continuous
    case 2:
        return (float)i / (float)n; // sorted along the index
    case 3:
        return 0.5f; // one value
    case 4:
        return (i % 1562) < 1024 ? 1.0f : 2.0f; // the sample sees only 1.0
    default:
        return (float)((h >> 20) % 3000) * 1e-3f; // many small classes
    }
}

static void test_select_pivot(void) {
    // The pivot stage (forced on with mg_select_pivot_min = 0) keeps exactly
    // the elements the sort-based reference keeps, for any chunking and thread
    // count; a bracket that misses falls back to the exact paths.
    uint64_t n = 200000, pmin = mg_select_pivot_min;
    mg_select_pivot_min = 0;
    fixture f;
    fx_init(&f, "ties", 2, 1, n, 0, 0);
    f.m[1][MG_P_WEIGHT] = 1;
    float *keys = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    const double dens[] = {0.5, 1e-5, 0.97, 1.0 - 1.0 / 200000, 0.3};
    const uint64_t chunks[] = {4096, 1000, 0};
    for (int dist = 0; dist < 6; dist++) {
        for (uint64_t i = 0; i < n; i++)
            f.x[0][i] = 0, f.x[1][i] = keys[i] = pivot_key(dist, i, n);
        for (int q = 0; q < 5; q++) {
            f.m[1][MG_P_DENSITY] = dens[q];
            uint64_t kq = (uint64_t)floor(dens[q] * (double)n);
            mg_select s = mg_select_topk_array(keys, n, kq);
            for (int r = 0; r < 3; r++) {
                omp_set_num_threads(r == 1 ? 5 : 2);
                uint64_t hits = mg_select_pivot_hits;
                mg_error err = {0};
                CHECK_OK(fx_run(&f, "ties", chunks[r], out, &err), &err);
                bool miss = dist == 4 && q == 4; // 35% of keys are 2.0, unseen
                CHECK_MSG(mg_select_pivot_hits == hits + !miss, "dist %d density %g", dist,
                          dens[q]);
                uint64_t bad = 0, kept = 0;
                for (uint64_t i = 0; i < n; i++) {
                    bool k = mg_select_keep(&s, i, keys[i]);
                    kept += k;
                    bad += out[i] != (k ? keys[i] : 0.0f);
                }
                CHECK_MSG(bad == 0, "dist %d density %g chunk %llu: %llu differ", dist, dens[q],
                          (unsigned long long)chunks[r], (unsigned long long)bad);
                CHECK_EQ_INT(kept, kq);
            }
        }
    }
    omp_set_num_threads(2);
    mg_select_pivot_min = pmin;
    free(keys), free(out);
    fx_free(&f);
}

static void test_tv_memo(void) {
    // TIES from memoised thresholds (a cache and input ids given): the same
    // bits as the selection passes, with the tie cuts found in the combine
    // pass, for any chunking and thread count; memos are built once and
    // reused; too many distinct values fall back to the selection.
    uint64_t n = 300000;
    fixture f;
    fx_init(&f, "ties", 3, 1, n, 0, 0);
    for (uint64_t i = 0; i < n; i++) {
        f.x[0][i] = (float)(i % 7) * 0.5f; // exact sums: heavy ties in |delta|
        f.x[1][i] = f.x[0][i] + (float)((i * 31) % 37) * 0.25f - 4.0f;
        f.x[2][i] = f.x[0][i] - (float)((i * 17 + 3) % 29) * 0.125f;
    }
    f.m[1][MG_P_WEIGHT] = 0.7, f.m[2][MG_P_WEIGHT] = 0.5;
    const char *ids[3] = {"base", "x1", "x2"};
    mg_input_cache *memo = mg_input_cache_new((uint64_t)1 << 30);
    float *ref = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    const double dens[][2] = {{0.37, 0.81}, {0.5, 0.02}, {1.0, 0.33}};
    const uint64_t chunks[] = {0, 1000, 4096};
    uint64_t builds0 = mg_tv_memo_builds, smax = mg_gta_sorted_memo_max;
    // Round 0: the compact memo (sorted keys off); round 1: the sorted keys.
    for (int q = 0; q < 6; q++) {
        mg_gta_sorted_memo_max = q < 3 ? 0 : smax;
        f.m[1][MG_P_DENSITY] = dens[q % 3][0], f.m[2][MG_P_DENSITY] = dens[q % 3][1];
        mg_error err = {0};
        CHECK_OK(fx_run(&f, "ties", 0, ref, &err), &err);
        for (int r = 0; r < 3; r++) {
            omp_set_num_threads(r == 2 ? 5 : r + 1);
            mg_tensor_merge t = {.method = mg_method_find("ties"),
                                 .n = f.n,
                                 .inputs = (const float *const *)f.x,
                                 .base = 0,
                                 .numel = n,
                                 .cols = n,
                                 .m = (const double(*)[MG_P_COUNT])f.m,
                                 .key = mg_rng_key(42, "tensor"),
                                 .chunk = chunks[r],
                                 .ids = ids,
                                 .memo = memo};
            memcpy(t.g, f.g, sizeof t.g);
            CHECK_OK(mg_merge_tensor_f32(&t, out, &err), &err);
            CHECK_MSG(!memcmp(ref, out, n * sizeof(float)),
                      "round %d densities %g/%g chunk %llu differ", q / 3, dens[q % 3][0],
                      dens[q % 3][1], (unsigned long long)chunks[r]);
        }
    }
    mg_gta_sorted_memo_max = 0;
    CHECK_EQ_INT(mg_tv_memo_builds - builds0, 2); // one per expert, then reused
    // A memo limit below the distinct values: marked unusable, selection as usual.
    uint64_t mx = mg_tv_memo_max;
    mg_tv_memo_max = 10;
    mg_input_cache *memo2 = mg_input_cache_new((uint64_t)1 << 30);
    const char *ids2[3] = {"base2", "x1b", "x2b"};
    mg_tensor_merge t = {.method = mg_method_find("ties"),
                         .n = f.n,
                         .inputs = (const float *const *)f.x,
                         .numel = n,
                         .cols = n,
                         .m = (const double(*)[MG_P_COUNT])f.m,
                         .key = mg_rng_key(42, "tensor"),
                         .ids = ids2,
                         .memo = memo2};
    memcpy(t.g, f.g, sizeof t.g);
    mg_error err = {0};
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(mg_merge_tensor_f32(&t, out, &err), &err);
        CHECK(!memcmp(ref, out, n * sizeof(float)));
    }
    mg_tv_memo_max = mx;
    mg_gta_sorted_memo_max = smax;
    omp_set_num_threads(2);
    mg_input_cache_free(memo), mg_input_cache_free(memo2);
    free(ref), free(out);
    fx_free(&f);
}

static void test_half_inputs(void) {
    // Inputs handed over as bf16 (widened block by block in the fused
    // combine) give the bits of the f32 path, for every fused method.
    const char *names[] = {"ties", "task_arithmetic", "dare_ties", "dare_linear"};
    for (int q = 0; q < 4; q++) {
        fixture f;
        fx_init(&f, names[q], 3, 7, 3001, 0, 0.3);
        uint16_t *h[3];
        for (int i = 0; i < 3; i++) {
            h[i] = malloc(f.numel * sizeof(uint16_t));
            for (uint64_t e = 0; e < f.numel; e++) {
                h[i][e] = mg_f32_to_bf16(f.x[i][e]);
                f.x[i][e] = mg_bf16_to_f32(h[i][e]);
            }
        }
        f.m[1][MG_P_WEIGHT] = 0.7, f.m[2][MG_P_WEIGHT] = -0.4;
        f.m[1][MG_P_DENSITY] = 0.4, f.m[2][MG_P_DENSITY] = 0.6;
        float *a = malloc(f.numel * sizeof(float)), *b = malloc(f.numel * sizeof(float));
        mg_error err = {0};
        CHECK_OK(fx_run(&f, names[q], 1000, a, &err), &err); // L1 sums follow the chunking
        mg_tensor_merge t = {.method = mg_method_find(names[q]),
                             .n = f.n,
                             .inputs = (const float *const *)f.x,
                             .numel = f.numel,
                             .cols = f.cols,
                             .m = (const double(*)[MG_P_COUNT])f.m,
                             .key = mg_rng_key(42, "tensor"),
                             .chunk = 1000,
                             .half = (const uint16_t *const *)h};
        memcpy(t.g, f.g, sizeof t.g);
        CHECK_OK(mg_merge_tensor_f32(&t, b, &err), &err);
        CHECK_MSG(!memcmp(a, b, f.numel * sizeof(float)), "%s: bf16 inputs differ", names[q]);
        for (int i = 0; i < 3; i++)
            free(h[i]);
        free(a), free(b);
        fx_free(&f);
    }
}

static void test_isa_levels(void) {
    // The fused combine gives the same bits at every ISA level (scalar, AVX2),
    // including a partial last block (numel not a multiple of the block).
    const char *names[] = {"ties", "task_arithmetic", "dare_ties", "breadcrumbs_ties"};
    mg_cpu_level lv = mg_cpu_level_get();
    for (int q = 0; q < 4; q++) {
        fixture f;
        fx_init(&f, names[q], 3, 7, 1001, 0, 0.3);
        f.m[1][MG_P_WEIGHT] = 0.7, f.m[2][MG_P_WEIGHT] = -0.4;
        f.m[1][MG_P_DENSITY] = 0.4, f.m[2][MG_P_DENSITY] = 0.6;
        float *a = malloc(f.numel * sizeof(float)), *b = malloc(f.numel * sizeof(float));
        mg_error err = {0};
        mg_cpu_level_set(MG_CPU_SCALAR);
        CHECK_OK(fx_run(&f, names[q], 1500, a, &err), &err);
        mg_cpu_level_set(lv);
        CHECK_OK(fx_run(&f, names[q], 1500, b, &err), &err);
        CHECK(!memcmp(a, b, f.numel * sizeof(float)));
        free(a), free(b);
        fx_free(&f);
    }
}

static void test_dare_della_stats(void) {
    const char *names[] = {"dare_linear", "dare_ties", "della_linear", "della"};
    for (int q = 0; q < 4; q++) {
        fixture f;
        uint64_t rows = 64, cols = 256;
        fx_init(&f, names[q], 2, rows, cols, 0, 0.05);
        f.m[1][MG_P_WEIGHT] = 1;
        f.m[1][MG_P_DENSITY] = 0.3;
        f.m[1][MG_P_EPSILON] = 0.1;
        f.g[MG_P_NORMALIZE] = 0;
        uint64_t n = f.numel;
        float *out = malloc(n * sizeof(float)), *o2 = malloc(n * sizeof(float));
        mg_error err = {0};
        // rescale off: kept fraction ~ density within 3 sigma
        f.g[MG_P_RESCALE] = 0;
        omp_set_num_threads(1);
        CHECK_OK(fx_run(&f, names[q], 0, out, &err), &err);
        uint64_t kept = 0;
        double l1d = 0, l1o = 0;
        for (uint64_t e = 0; e < n; e++) {
            kept += out[e] != f.x[0][e];
            l1d += fabs((double)f.x[1][e] - f.x[0][e]);
        }
        double p = 0.3, sigma = sqrt(n * p * (1 - p));
        CHECK_MSG(fabs((double)kept - n * p) <= 3 * sigma, "%s kept %llu of %llu", names[q],
                  (unsigned long long)kept, (unsigned long long)n);
        // same masks for 2 and 5 threads, other chunkings and repeated runs
        for (int t = 0; t < 3; t++) {
            omp_set_num_threads(t == 0 ? 2 : 5);
            CHECK_OK(fx_run(&f, names[q], t == 2 ? 300 : 0, o2, &err), &err);
            CHECK(!memcmp(out, o2, n * sizeof(float)));
        }
        // L1 rescale: |delta'|_1 == |delta|_1
        f.g[MG_P_RESCALE] = 1;
        CHECK_OK(fx_run(&f, names[q], 0, out, &err), &err);
        for (uint64_t e = 0; e < n; e++)
            l1o += fabs((double)out[e] - f.x[0][e]);
        CHECK_MSG(fabs(l1o - l1d) / l1d < 1e-4, "%s L1 %g vs %g", names[q], l1o, l1d);
        // inverse rescale: E|delta'| ~ |delta| (kept / p)
        f.g[MG_P_RESCALE] = 2;
        CHECK_OK(fx_run(&f, names[q], 0, out, &err), &err);
        l1o = 0;
        for (uint64_t e = 0; e < n; e++)
            l1o += fabs((double)out[e] - f.x[0][e]);
        CHECK_MSG(fabs(l1o - l1d) / l1d < 0.1, "%s inverse L1 %g vs %g", names[q], l1o, l1d);
        // density 1: the plain task arithmetic result
        f.m[1][MG_P_DENSITY] = 1;
        CHECK_OK(fx_run(&f, names[q], 0, out, &err), &err);
        double maxd = 0;
        for (uint64_t e = 0; e < n; e++)
            maxd = fmax(maxd, fabs(out[e] - f.x[1][e]));
        CHECK(maxd < 1e-6);
        free(out), free(o2);
        fx_free(&f);
    }
    // della epsilon window enforced
    fixture f;
    fx_init(&f, "della", 2, 2, 8, 0, 0.1);
    f.m[1][MG_P_WEIGHT] = 1, f.m[1][MG_P_DENSITY] = 0.5, f.m[1][MG_P_EPSILON] = 0.6;
    float out[16];
    mg_error err = {0};
    CHECK(fx_run(&f, "della", 0, out, &err) == MG_ERR_INVALID);
    fx_free(&f);
    omp_set_num_threads(2);
}

static void ref_stock(const fixture *f, bool rows, double *r) {
    uint64_t n = f->numel, cols = rows ? f->cols : n;
    int b = f->base;
    size_t K = 0, idx[MAXN];
    for (size_t i = 0; i < f->n; i++)
        if ((int)i != b) idx[K++] = i;
    for (uint64_t r0 = 0; r0 < n; r0 += cols) {
        double cs = 0;
        int pairs = 0;
        for (size_t i = 0; i < K; i++)
            for (size_t j = i + 1; j < K; j++) {
                double ij = 0, ii = 0, jj = 0;
                for (uint64_t e = r0; e < r0 + cols; e++) {
                    double a = (double)f->x[idx[i]][e] - f->x[b][e];
                    double c = (double)f->x[idx[j]][e] - f->x[b][e];
                    ij += a * c, ii += a * a, jj += c * c;
                }
                cs += fmin(1, fmax(-1, ij / fmax(sqrt(ii) * sqrt(jj), 1e-6)));
                pairs++;
            }
        cs /= pairs;
        double t = K * cs / (1 + (K - 1) * cs);
        for (uint64_t e = r0; e < r0 + cols; e++) {
            double m = 0;
            for (size_t i = 0; i < K; i++)
                m += f->x[idx[i]][e];
            r[e] = t * m / K + (1 - t) * f->x[b][e];
        }
    }
}

static void test_model_stock(void) {
    for (int fw = 0; fw < 2; fw++) {
        fixture f;
        fx_init(&f, "model_stock", 4, 6, 11, 3, 0.2);
        f.g[MG_P_FILTER_WISE] = fw;
        double *r = malloc(f.numel * sizeof(double));
        ref_stock(&f, fw, r);
        check_method(&f, "model_stock", r, 1e-5);
        free(r);
        fx_free(&f);
    }
}

static void test_nearswap_passthrough(void) {
    fixture f;
    fx_init(&f, "nearswap", 2, 4, 8, 0, 0.01);
    f.g[MG_P_T] = 0.005;
    double r[32];
    for (int e = 0; e < 32; e++) {
        double a = f.x[0][e], b = f.x[1][e];
        double w = fmin(1, fmax(0, 0.005 / fmax(fabs(a - b), 1e-6)));
        r[e] = w * b + (1 - w) * a;
    }
    check_method(&f, "nearswap", r, 1e-6);
    fx_free(&f);
    fx_init(&f, "passthrough", 1, 3, 3, -1, 0);
    double rp[9];
    for (int e = 0; e < 9; e++)
        rp[e] = f.x[0][e];
    check_method(&f, "passthrough", rp, 0);
    f.m[0][MG_P_SCALE] = 0.5;
    for (int e = 0; e < 9; e++)
        rp[e] = 0.5 * f.x[0][e];
    check_method(&f, "passthrough", rp, 1e-7);
    f.m[0][MG_P_SCALE] = 0;
    for (int e = 0; e < 9; e++)
        rp[e] = 0;
    check_method(&f, "passthrough", rp, 0);
    fx_free(&f);
}

static void ref_sce(const fixture *f, double topk, double *r) {
    uint64_t n = f->numel;
    int b = f->base;
    size_t K = 0, idx[MAXN];
    for (size_t i = 0; i < f->n; i++)
        if ((int)i != b) idx[K++] = i;
    double *T[MAXN];
    for (size_t k = 0; k < K; k++) {
        T[k] = malloc(n * sizeof(double));
        for (uint64_t e = 0; e < n; e++)
            T[k][e] = (double)f->x[idx[k]][e] - f->x[b][e];
    }
    if (topk < 1) {
        vi *v = malloc(n * sizeof(vi));
        uint64_t nnz = 0;
        for (uint64_t e = 0; e < n; e++) {
            double m = 0, s = 0;
            for (size_t k = 0; k < K; k++)
                m += (float)((float)f->x[idx[k]][e] - f->x[b][e]);
            m /= K;
            for (size_t k = 0; k < K; k++) {
                double d = (float)((float)f->x[idx[k]][e] - f->x[b][e]) - m;
                s += d * d;
            }
            v[e] = (vi){(float)(s / K), e};
            nnz += v[e].v != 0;
        }
        qsort(v, n, sizeof(vi), vi_desc);
        uint64_t k = (uint64_t)floor(topk * (double)nnz);
        char *keep = calloc(n, 1);
        for (uint64_t q = 0; q < k; q++)
            keep[v[q].i] = 1;
        for (size_t kk = 0; kk < K; kk++)
            for (uint64_t e = 0; e < n; e++)
                if (!keep[e]) T[kk][e] = 0;
        free(keep), free(v);
    }
    double om[MAXN], tot = 0;
    for (size_t k = 0; k < K; k++) {
        om[k] = 0;
        for (uint64_t e = 0; e < n; e++)
            om[k] += T[k][e] * T[k][e];
        om[k] /= n, tot += om[k];
    }
    for (size_t k = 0; k < K; k++)
        om[k] = tot < 1e-6 ? 1.0 / K : om[k] / tot;
    for (uint64_t e = 0; e < n; e++) {
        double s = 0, M = 0, D = 0;
        for (size_t k = 0; k < K; k++)
            s += T[k][e];
        for (size_t k = 0; k < K; k++)
            if (s >= 0 ? T[k][e] > 0 : T[k][e] < 0) M += T[k][e] * om[k], D += om[k];
        r[e] = f->x[b][e] + M / fmax(D, 1e-6);
    }
    for (size_t k = 0; k < K; k++)
        free(T[k]);
}

static void test_sce(void) {
    const double tk[] = {1.0, 0.5, 0.1};
    for (int q = 0; q < 3; q++) {
        fixture f;
        fx_init(&f, "sce", 3, 8, 12, 0, 0.5);
        f.g[MG_P_SELECT_TOPK] = tk[q];
        double *r = malloc(f.numel * sizeof(double));
        ref_sce(&f, tk[q], r);
        check_method(&f, "sce", r, 1e-6);
        free(r);
        fx_free(&f);
    }
}

static void ref_ram(const fixture *f, bool plus, double *r) {
    uint64_t n = f->numel;
    int b = f->base;
    size_t K = 0, idx[MAXN];
    for (size_t i = 0; i < f->n; i++)
        if ((int)i != b) idx[K++] = i;
    double eps = f->g[MG_P_EPSILON], lam[MAXN];
    for (size_t k = 0; k < K; k++) {
        double ov = 0, un = 0;
        for (uint64_t e = 0; e < n; e++) {
            int c = 0;
            for (size_t j = 0; j < K; j++)
                c += fabsf(f->x[idx[j]][e] - f->x[b][e]) > eps;
            if (fabsf(f->x[idx[k]][e] - f->x[b][e]) > eps) *(c == 1 ? &un : &ov) += 1;
        }
        lam[k] = plus ? 1 + f->g[MG_P_R] * fmin(fmax(ov / fmax(un, eps), 0), f->g[MG_P_ALPHA]) : 1;
    }
    for (uint64_t e = 0; e < n; e++) {
        int c = 0;
        for (size_t j = 0; j < K; j++)
            c += fabsf(f->x[idx[j]][e] - f->x[b][e]) > eps;
        double acc = 0;
        for (size_t k = 0; k < K; k++) {
            double t = (double)f->x[idx[k]][e] - f->x[b][e];
            if (!(fabsf(f->x[idx[k]][e] - f->x[b][e]) > eps)) continue;
            acc += c == 1 ? t * lam[k] : t / c;
        }
        r[e] = f->x[b][e] + acc;
    }
}

static void test_ram(void) {
    for (int plus = 0; plus < 2; plus++) {
        fixture f;
        fx_init(&f, plus ? "ramplus_tl" : "ram", 3, 10, 10, 2, 0.3);
        // make some deltas vanish so unique and overlapping positions both occur
        for (uint64_t e = 0; e < f.numel; e++) {
            if (e % 3 == 0) f.x[0][e] = f.x[2][e];
            if (e % 5 == 0) f.x[1][e] = f.x[2][e];
        }
        f.g[MG_P_EPSILON] = 1e-5;
        if (plus) f.g[MG_P_R] = 0.05, f.g[MG_P_ALPHA] = 1;
        double *r = malloc(f.numel * sizeof(double));
        ref_ram(&f, plus, r);
        check_method(&f, plus ? "ramplus_tl" : "ram", r, 1e-6);
        free(r);
        fx_free(&f);
    }
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_arcee_fusion(void) {
    fixture f;
    fx_init(&f, "arcee_fusion", 2, 7, 9, 0, 0.5);
    uint64_t n = f.numel, cols = f.cols;
    double *I = malloc(n * sizeof(double)), *s = malloc(n * sizeof(double));
    double *r = malloc(n * sizeof(double));
    for (uint64_t r0 = 0; r0 < n; r0 += cols) {
        double za = 0, zb = 0, kl = 0;
        for (uint64_t j = r0; j < r0 + cols; j++)
            za += exp(f.x[0][j]), zb += exp(f.x[1][j]);
        for (uint64_t j = r0; j < r0 + cols; j++) {
            double p = exp(f.x[1][j]) / zb + 1e-8, q = exp(f.x[0][j]) / za + 1e-8;
            kl += p * log(p / q);
        }
        for (uint64_t j = r0; j < r0 + cols; j++)
            I[j] = (float)(fabs((double)f.x[1][j] - f.x[0][j]) * kl);
    }
    memcpy(s, I, n * sizeof(double));
    qsort(s, n, sizeof(double), dcmp);
    double q1 = s[(uint64_t)floor(0.25 * (n - 1))], med = s[(uint64_t)floor(0.5 * (n - 1))];
    double q3 = s[(uint64_t)floor(0.75 * (n - 1))];
    double thr = (float)((float)med + 1.5f * ((float)q3 - (float)q1));
    for (uint64_t e = 0; e < n; e++)
        r[e] = I[e] >= thr ? f.x[1][e] : f.x[0][e];
    check_method(&f, "arcee_fusion", r, 1e-6);
    free(I), free(s), free(r);
    fx_free(&f);
}

int main(void) {
    RUN(test_linear);
    RUN(test_slerp);
    RUN(test_nuslerp);
    RUN(test_multislerp);
    RUN(test_karcher);
    RUN(test_gta_family);
    RUN(test_select);
    RUN(test_philox_batch);
    RUN(test_select_sampled);
    RUN(test_select_pivot);
    RUN(test_tv_memo);
    RUN(test_half_inputs);
    RUN(test_isa_levels);
    RUN(test_dare_della_stats);
    RUN(test_model_stock);
    RUN(test_nearswap_passthrough);
    RUN(test_sce);
    RUN(test_ram);
    RUN(test_arcee_fusion);
    return TEST_END();
}
