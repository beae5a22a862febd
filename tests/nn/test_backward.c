/* test_backward.c - gradient checks of every backward kernel against central
 * finite differences of a double-precision reference of its forward op.
 *
 * Each op gets random inputs x and a random upstream gradient dy; the scalar
 * L = sum(dy * op(x)) is evaluated in double, and dL/dx_i is estimated by
 * (L(x + h e_i) - L(x - h e_i)) / 2h with h = 1e-5 (truncation ~h^2, rounding
 * ~1e-16/h: both far below the tolerance). The float32 kernels must agree with
 * relative error below 1e-4, measured as ||a - b|| / ||b|| and as the largest
 * element error over the largest element. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "nn/backward.h"
#include "nn/kernels.h"
#include "test.h"

#define FD_H 1e-5
#define TOL 1e-4

static void fill(float *x, size_t n, uint64_t seed, double scale) {
    uint64_t k = mg_rng_key(seed, "test_backward");
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * (2.0 * mg_rng_uniform_f64(k, i) - 1.0));
}

static void to_d(double *d, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
}

// Compares analytic float gradient a against reference b; prints and checks.
static void grad_close(const char *what, const float *a, const double *b, size_t n) {
    double num = 0, den = 0, maxe = 0, maxb = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        num += e * e;
        den += b[i] * b[i];
        if (e > maxe) maxe = e;
        if (fabs(b[i]) > maxb) maxb = fabs(b[i]);
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num), relmax = maxb > 0 ? maxe / maxb : maxe;
    CHECK_MSG(den > 0, "%s: reference gradient is all zeros", what);
    CHECK_MSG(rel < TOL && relmax < TOL, "%s: relative error %.3g (norm), %.3g (max)", what, rel,
              relmax);
}

/* Central differences of f over x[0..n), written to g. */
typedef double (*loss_fn)(void *ctx);
static void fd(double *x, size_t n, loss_fn f, void *ctx, double *g) {
    for (size_t i = 0; i < n; i++) {
        double s = x[i];
        x[i] = s + FD_H;
        double lp = f(ctx);
        x[i] = s - FD_H;
        double lm = f(ctx);
        x[i] = s;
        g[i] = (lp - lm) / (2 * FD_H);
    }
}

/* ---- linear ---- */
typedef struct {
    int M, N, K;
    double *x, *w, *dy;
} lin_ctx;
static double lin_loss(void *c) {
    lin_ctx *L = c;
    double s = 0;
    for (int r = 0; r < L->M; r++)
        for (int j = 0; j < L->N; j++) {
            double y = 0;
            for (int k = 0; k < L->K; k++)
                y += L->x[r * L->K + k] * L->w[j * L->K + k];
            s += L->dy[r * L->N + j] * y;
        }
    return s;
}

static void test_linear(void) {
    const int M = 70, N = 67, K = 9; // > one row block and one weight block
    float *x = mg_malloc(sizeof(float) * M * K), *w = mg_malloc(sizeof(float) * N * K);
    float *dy = mg_malloc(sizeof(float) * M * N), *dx = mg_malloc(sizeof(float) * M * K);
    float *dw = mg_calloc((size_t)N * K, sizeof(float)), *dxr = mg_malloc(sizeof(float) * M * K);
    float *dwr = mg_calloc((size_t)N * K, sizeof(float));
    fill(x, (size_t)M * K, 1, 1.0);
    fill(w, (size_t)N * K, 2, 0.5);
    fill(dy, (size_t)M * N, 3, 1.0);
    double *xd = mg_malloc(sizeof(double) * M * K), *wd = mg_malloc(sizeof(double) * N * K);
    double *dyd = mg_malloc(sizeof(double) * M * N), *gx = mg_malloc(sizeof(double) * M * K);
    double *gw = mg_malloc(sizeof(double) * N * K);
    to_d(xd, x, (size_t)M * K);
    to_d(wd, w, (size_t)N * K);
    to_d(dyd, dy, (size_t)M * N);
    lin_ctx c = {M, N, K, xd, wd, dyd};
    fd(xd, (size_t)M * K, lin_loss, &c, gx);
    fd(wd, (size_t)N * K, lin_loss, &c, gw);
    mg_nn_matmul_bwd_x(dx, K, dy, N, w, M, N, K, 0);
    mg_nn_matmul_bwd_w(dw, dy, N, x, K, M, N, K);
    grad_close("linear dx", dx, gx, (size_t)M * K);
    grad_close("linear dw", dw, gw, (size_t)N * K);
    mg_nn_matmul_bwd_x_ref(dxr, K, dy, N, w, M, N, K, 0);
    mg_nn_matmul_bwd_w_ref(dwr, dy, N, x, K, M, N, K);
    grad_close("linear dx ref", dxr, gx, (size_t)M * K);
    grad_close("linear dw ref", dwr, gw, (size_t)N * K);
    // Accumulation: a second call adds the same gradient.
    mg_nn_matmul_bwd_x(dx, K, dy, N, w, M, N, K, 1);
    mg_nn_matmul_bwd_w(dw, dy, N, x, K, M, N, K);
    for (int i = 0; i < M * K; i++)
        gx[i] *= 2;
    for (int i = 0; i < N * K; i++)
        gw[i] *= 2;
    grad_close("linear dx accumulated", dx, gx, (size_t)M * K);
    grad_close("linear dw accumulated", dw, gw, (size_t)N * K);
    // The row-blocked forward equals the runtime's matmul.
    float *y1 = mg_malloc(sizeof(float) * M * N), *y2 = mg_malloc(sizeof(float) * M * N);
    mg_nn_matmul_rows(y1, N, x, K, w, M, N, K, 0);
    mg_nn_matmul_ref(y2, N, x, K, w, NULL, M, N, K, 0);
    double e = 0;
    for (int i = 0; i < M * N; i++)
        e = fmax(e, fabs(y1[i] - y2[i]));
    CHECK(e < 1e-5);
    free(y1), free(y2), free(x), free(w), free(dy), free(dx), free(dw), free(dxr), free(dwr);
    free(xd), free(wd), free(dyd), free(gx), free(gw);
}

/* ---- RMSNorm ---- */
typedef struct {
    int rows, dim;
    double *x, *w, *dy, eps;
} rms_ctx;
static double rms_loss(void *c) {
    rms_ctx *R = c;
    double s = 0;
    for (int r = 0; r < R->rows; r++) {
        const double *x = R->x + r * R->dim;
        double ss = 0;
        for (int i = 0; i < R->dim; i++)
            ss += x[i] * x[i];
        double sc = 1.0 / sqrt(ss / R->dim + R->eps);
        for (int i = 0; i < R->dim; i++)
            s += R->dy[r * R->dim + i] * R->w[i] * x[i] * sc;
    }
    return s;
}

static void test_rmsnorm(void) {
    enum { ROWS = 20, DIM = 40 }; // >= 16 rows: the threaded path
    float x[ROWS * DIM], w[DIM], dy[ROWS * DIM], dx[ROWS * DIM] = {0}, dw[DIM] = {0};
    fill(x, ROWS * DIM, 4, 2.0);
    fill(w, DIM, 5, 1.0);
    fill(dy, ROWS * DIM, 6, 1.0);
    double xd[ROWS * DIM], wd[DIM], dyd[ROWS * DIM], gx[ROWS * DIM], gw[DIM];
    to_d(xd, x, ROWS * DIM);
    to_d(wd, w, DIM);
    to_d(dyd, dy, ROWS * DIM);
    rms_ctx c = {ROWS, DIM, xd, wd, dyd, 1e-5};
    fd(xd, ROWS * DIM, rms_loss, &c, gx);
    fd(wd, DIM, rms_loss, &c, gw);
    mg_nn_rmsnorm_bwd(dx, dw, dy, x, w, ROWS, DIM, DIM, 1e-5);
    grad_close("rmsnorm dx", dx, gx, ROWS * DIM);
    grad_close("rmsnorm dw", dw, gw, DIM);
}

/* ---- RoPE ---- */
typedef struct {
    int rows, heads, hd, pos0;
    double *x, *dy;
    const double *inv;
} rope_ctx;
static double rope_loss(void *c) {
    rope_ctx *R = c;
    int half = R->hd / 2, w = R->heads * R->hd;
    double s = 0;
    for (int r = 0; r < R->rows; r++)
        for (int h = 0; h < R->heads; h++)
            for (int i = 0; i < half; i++) {
                double ang = (R->pos0 + r) * R->inv[i], co = cos(ang), si = sin(ang);
                const double *v = R->x + r * w + h * R->hd;
                const double *g = R->dy + r * w + h * R->hd;
                s += g[i] * (v[i] * co - v[i + half] * si) +
                     g[i + half] * (v[i + half] * co + v[i] * si);
            }
    return s;
}

static void test_rope(void) {
    enum { ROWS = 17, HEADS = 3, HD = 8, W = HEADS * HD, HALF = HD / 2, POS0 = 5 };
    double inv[HALF];
    for (int i = 0; i < HALF; i++)
        inv[i] = pow(10000.0, -2.0 * i / HD);
    float cos_t[(ROWS + POS0) * HALF], sin_t[(ROWS + POS0) * HALF];
    mg_nn_rope_table(inv, HALF, ROWS + POS0, cos_t, sin_t);
    float x[ROWS * W], dy[ROWS * W];
    fill(x, ROWS * W, 7, 1.0);
    fill(dy, ROWS * W, 8, 1.0);
    double xd[ROWS * W], dyd[ROWS * W], gx[ROWS * W];
    to_d(xd, x, ROWS * W);
    to_d(dyd, dy, ROWS * W);
    rope_ctx c = {ROWS, HEADS, HD, POS0, xd, dyd, inv};
    fd(xd, ROWS * W, rope_loss, &c, gx);
    float dx[ROWS * W];
    memcpy(dx, dy, sizeof dx);
    mg_nn_rope_bwd(dx, ROWS, W, HEADS, HD, POS0, cos_t, sin_t);
    grad_close("rope dx", dx, gx, ROWS * W);
    // The backward undoes the forward (a rotation's transpose is its inverse).
    float y[ROWS * W];
    memcpy(y, x, sizeof y);
    mg_nn_rope(y, ROWS, W, HEADS, HD, POS0, cos_t, sin_t);
    mg_nn_rope_bwd(y, ROWS, W, HEADS, HD, POS0, cos_t, sin_t);
    double e = 0;
    for (int i = 0; i < ROWS * W; i++)
        e = fmax(e, fabs(y[i] - x[i]));
    CHECK(e < 1e-6);
}

/* ---- SwiGLU ---- */
typedef struct {
    int n;
    double *g, *u, *dy;
} swi_ctx;
static double swi_loss(void *c) {
    swi_ctx *S = c;
    double s = 0;
    for (int i = 0; i < S->n; i++)
        s += S->dy[i] * S->g[i] / (1 + exp(-S->g[i])) * S->u[i];
    return s;
}

static void test_swiglu(void) {
    enum { ROWS = 18, DIM = 7, N = ROWS * DIM };
    float gu[ROWS * 2 * DIM], dy[N], dgu[ROWS * 2 * DIM];
    fill(gu, ROWS * 2 * DIM, 9, 4.0);
    fill(dy, N, 10, 1.0);
    double g[N], u[N], dyd[N], gg[N], gup[N];
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < DIM; i++) {
            g[r * DIM + i] = gu[r * 2 * DIM + i];
            u[r * DIM + i] = gu[r * 2 * DIM + DIM + i];
        }
    to_d(dyd, dy, N);
    swi_ctx c = {N, g, u, dyd};
    fd(g, N, swi_loss, &c, gg);
    fd(u, N, swi_loss, &c, gup);
    mg_nn_swiglu_bwd(dgu, dgu + DIM, dy, DIM, gu, gu + DIM, ROWS, DIM, 2 * DIM);
    float a[N], b[N];
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < DIM; i++) {
            a[r * DIM + i] = dgu[r * 2 * DIM + i];
            b[r * DIM + i] = dgu[r * 2 * DIM + DIM + i];
        }
    grad_close("swiglu dgate", a, gg, N);
    grad_close("swiglu dup", b, gup, N);
}

/* ---- attention ---- */
typedef struct {
    int n, heads, kvh, hd;
    double *q, *k, *v, *dy;
} att_ctx;
static double att_loss(void *c) {
    att_ctx *A = c;
    int Qw = A->heads * A->hd, Kw = A->kvh * A->hd, grp = A->heads / A->kvh;
    double s = 0, sc = 1.0 / sqrt(A->hd);
    for (int i = 0; i < A->n; i++)
        for (int h = 0; h < A->heads; h++) {
            int g = h / grp;
            double w[64], mx = -1e300, sum = 0;
            for (int j = 0; j <= i; j++) {
                double d = 0;
                for (int t = 0; t < A->hd; t++)
                    d += A->q[i * Qw + h * A->hd + t] * A->k[j * Kw + g * A->hd + t];
                w[j] = d * sc;
                mx = fmax(mx, w[j]);
            }
            for (int j = 0; j <= i; j++)
                sum += (w[j] = exp(w[j] - mx));
            for (int t = 0; t < A->hd; t++) {
                double o = 0;
                for (int j = 0; j <= i; j++)
                    o += w[j] / sum * A->v[j * Kw + g * A->hd + t];
                s += A->dy[i * Qw + h * A->hd + t] * o;
            }
        }
    return s;
}

static void attention_case(int n, int heads, int kvh, int hd) {
    const int Qw = heads * hd, Kw = kvh * hd;
    float *q = mg_malloc(sizeof(float) * n * Qw), *k = mg_malloc(sizeof(float) * n * Kw);
    float *v = mg_malloc(sizeof(float) * n * Kw), *o = mg_malloc(sizeof(float) * n * Qw);
    float *dy = mg_malloc(sizeof(float) * n * Qw), *dq = mg_malloc(sizeof(float) * n * Qw);
    float *dk = mg_malloc(sizeof(float) * n * Kw), *dv = mg_malloc(sizeof(float) * n * Kw);
    fill(q, (size_t)n * Qw, 11, 1.5);
    fill(k, (size_t)n * Kw, 12, 1.5);
    fill(v, (size_t)n * Kw, 13, 1.0);
    fill(dy, (size_t)n * Qw, 14, 1.0);
    mg_nn_attn a = {.q = q,
                    .q_stride = Qw,
                    .k = k,
                    .v = v,
                    .kv_stride = Kw,
                    .out = o,
                    .out_stride = Qw,
                    .n = n,
                    .pos0 = 0,
                    .n_heads = heads,
                    .n_kv_heads = kvh,
                    .head_dim = hd,
                    .window = 0};
    mg_nn_attention_ref(&a);
    mg_nn_attn_grad g = {.dout = dy,
                         .dout_stride = Qw,
                         .dq = dq,
                         .dq_stride = Qw,
                         .dk = dk,
                         .dv = dv,
                         .dkv_stride = Kw};
    int slots = mg_get_threads();
    float *scr = mg_malloc(sizeof(float) * mg_nn_attention_bwd_scratch(n) * slots);
    mg_nn_attention_bwd(&a, &g, scr, slots);
    double *qd = mg_malloc(sizeof(double) * n * Qw), *kd = mg_malloc(sizeof(double) * n * Kw);
    double *vd = mg_malloc(sizeof(double) * n * Kw), *dyd = mg_malloc(sizeof(double) * n * Qw);
    double *gq = mg_malloc(sizeof(double) * n * Qw), *gk = mg_malloc(sizeof(double) * n * Kw);
    double *gv = mg_malloc(sizeof(double) * n * Kw);
    to_d(qd, q, (size_t)n * Qw);
    to_d(kd, k, (size_t)n * Kw);
    to_d(vd, v, (size_t)n * Kw);
    to_d(dyd, dy, (size_t)n * Qw);
    att_ctx c = {n, heads, kvh, hd, qd, kd, vd, dyd};
    fd(qd, (size_t)n * Qw, att_loss, &c, gq);
    fd(kd, (size_t)n * Kw, att_loss, &c, gk);
    fd(vd, (size_t)n * Kw, att_loss, &c, gv);
    grad_close("attention dq", dq, gq, (size_t)n * Qw);
    grad_close("attention dk", dk, gk, (size_t)n * Kw);
    grad_close("attention dv", dv, gv, (size_t)n * Kw);
    free(q), free(k), free(v), free(o), free(dy), free(dq), free(dk), free(dv), free(scr);
    free(qd), free(kd), free(vd), free(dyd), free(gq), free(gk), free(gv);
}

static void test_attention(void) {
    attention_case(7, 4, 2, 4); // GQA, 2 query heads per KV head
    attention_case(9, 2, 2, 6); // MHA
    attention_case(5, 3, 1, 2); // MQA
}

/* ---- cross-entropy and embedding ---- */
typedef struct {
    int rows, vocab;
    const int32_t *tg;
    double *z, w;
} xe_ctx;
static double xe_loss(void *c) {
    xe_ctx *X = c;
    double s = 0;
    for (int r = 0; r < X->rows; r++) {
        if (X->tg[r] < 0) continue;
        const double *z = X->z + r * X->vocab;
        double mx = -1e300, sum = 0;
        for (int j = 0; j < X->vocab; j++)
            mx = fmax(mx, z[j]);
        for (int j = 0; j < X->vocab; j++)
            sum += exp(z[j] - mx);
        s += X->w * (mx + log(sum) - z[X->tg[r]]);
    }
    return s;
}

static void test_xent(void) {
    enum { ROWS = 9, V = 13 };
    const int32_t tg[ROWS] = {3, -1, 0, 12, 5, -1, 7, 7, 1};
    float z[ROWS * V], z0[ROWS * V];
    fill(z, ROWS * V, 15, 3.0);
    memcpy(z0, z, sizeof z);
    double zd[ROWS * V], gz[ROWS * V], want = 0;
    to_d(zd, z, ROWS * V);
    const double w = 1.0 / 7;
    xe_ctx c = {ROWS, V, tg, zd, w};
    fd(zd, ROWS * V, xe_loss, &c, gz);
    double sum = mg_nn_xent_bwd(z, tg, ROWS, V, w);
    grad_close("xent dlogits", z, gz, ROWS * V);
    for (int r = 0; r < ROWS; r++)
        if (tg[r] >= 0) want += mg_nn_logsumexp(z0 + r * V, V) - z0[r * V + tg[r]];
    CHECK_NEAR(sum, want, 1e-9);
    for (int j = 0; j < V; j++)
        CHECK(z[V + j] == 0.0f); // masked row: no gradient

    // Embedding: rows add up per token, in order.
    float emb[4 * 3] = {0}, dx[5 * 3];
    const int32_t tok[5] = {2, 0, 2, 3, 2};
    fill(dx, 15, 16, 1.0);
    mg_nn_embedding_bwd(emb, tok, dx, 5, 3, 3);
    for (int j = 0; j < 3; j++) {
        CHECK(emb[2 * 3 + j] == (dx[j] + dx[6 + j]) + dx[12 + j]);
        CHECK(emb[j] == dx[3 + j]);
        CHECK(emb[3 + j] == 0.0f);
    }
}

int main(void) {
    mg_set_threads(2);
    RUN(test_linear);
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_swiglu);
    RUN(test_attention);
    RUN(test_xent);
    return TEST_END();
}
