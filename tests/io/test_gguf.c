/* test_gguf.c - GGUF format: Q8_0 reference semantics, the Q/K permutation,
 * llama3 rope factors, writer -> reader round trips of every value and tensor
 * type, and the reader's validation of malformed files. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "base/json.h"
#include "io/gguf.h"
#include "io/gguf_export.h"
#include "io/gguf_quant.h"
#include "io/gguf_reader.h"
#include "test.h"

static char tmpdir[256];

static char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static float urand(uint64_t *s) { // xorshift, [-1, 1)
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (float)((*s >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* ---- Q8_0 ---- */

static void test_q8_0(void) {
    enum { N = 32 * 64 };
    float *x = mg_malloc(N * sizeof *x), *y = mg_malloc(N * sizeof *y);
    uint8_t *q = mg_malloc(N / 32 * 34);
    uint64_t s = 42;
    for (int i = 0; i < N; i++)
        x[i] = urand(&s) * (float)(1 + i / 32); // varied block scales
    for (int i = 64; i < 96; i++)
        x[i] = 0.0f; // an all-zero block
    mg_q8_0_quantize(x, q, N);
    mg_q8_0_dequantize(q, y, N);
    int bad = 0;
    for (int b = 0; b < N / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fabsf(x[b * 32 + j]) > amax ? fabsf(x[b * 32 + j]) : amax;
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        uint16_t h = (uint16_t)(q[b * 34] | q[b * 34 + 1] << 8);
        CHECK_EQ_INT(h, mg_f32_to_f16(d));
        float d16 = mg_f16_to_f32(h);
        for (int j = 0; j < 32; j++) {
            int8_t qs = (int8_t)q[b * 34 + 2 + j];
            if (qs != (int8_t)roundf(x[b * 32 + j] * id)) bad++;
            // Element-wise bound: half a step of the stored scale plus the
            // scale's own f16 rounding times |q|.
            double bound = d16 / 2 + 127.0 * fabs(d16 - d) + 1e-7 * fabsf(x[b * 32 + j]);
            if (fabs(y[b * 32 + j] - x[b * 32 + j]) > bound) bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    for (int i = 64; i < 96; i++)
        CHECK(y[i] == 0.0f);
    // Round half away from zero, as roundf: amax 127 gives d = 1.
    float h[32] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.49f};
    uint8_t hb[34];
    mg_q8_0_quantize(h, hb, 32);
    CHECK_EQ_INT((int8_t)hb[2], 127);
    CHECK_EQ_INT((int8_t)hb[3], 3);
    CHECK_EQ_INT((int8_t)hb[4], -3);
    CHECK_EQ_INT((int8_t)hb[5], 1);
    CHECK_EQ_INT((int8_t)hb[6], -1);
    CHECK_EQ_INT((int8_t)hb[7], 1);
    free(x), free(y), free(q);
}

/* ---- Q/K permutation ---- */

static void test_permute(void) {
    // One head of dim 4, 1 column: rows (0,1,2,3) -> (0,2,1,3).
    float a[4] = {10, 11, 12, 13}, b[4], c[4];
    mg_gguf_permute_qk(a, b, 4, 1, 1);
    CHECK(b[0] == 10 && b[1] == 12 && b[2] == 11 && b[3] == 13);
    // Head dim 8: new row 2i+j = old row j*4+i.
    float e[8] = {0, 1, 2, 3, 4, 5, 6, 7}, f[8];
    mg_gguf_permute_qk(e, f, 8, 1, 1);
    const float want[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    for (int i = 0; i < 8; i++)
        CHECK(f[i] == want[i]);
    mg_gguf_unpermute_qk(b, c, 4, 1, 1);
    for (int i = 0; i < 4; i++)
        CHECK(c[i] == a[i]);
    // Several heads and columns: inverse(permute(W)) == W, and permute moves rows.
    enum { H = 4, D = 16, C = 24 };
    float *w = mg_malloc(H * D * C * sizeof *w), *p = mg_malloc(H * D * C * sizeof *w),
          *r = mg_malloc(H * D * C * sizeof *w);
    uint64_t s = 7;
    for (int i = 0; i < H * D * C; i++)
        w[i] = urand(&s);
    mg_gguf_permute_qk(w, p, H * D, C, H);
    mg_gguf_unpermute_qk(p, r, H * D, C, H);
    CHECK(memcmp(w, r, H * D * C * sizeof *w) == 0);
    CHECK(memcmp(w, p, H * D * C * sizeof *w) != 0);
    // Row h*D + 2i + j of the permuted matrix is row h*D + j*D/2 + i of W.
    int bad = 0;
    for (int h = 0; h < H; h++)
        for (int i = 0; i < D / 2; i++)
            for (int j = 0; j < 2; j++)
                if (memcmp(p + (h * D + 2 * i + j) * C, w + (h * D + j * D / 2 + i) * C, C * 4))
                    bad++;
    CHECK_EQ_INT(bad, 0);
    free(w), free(p), free(r);
}

static void test_rope_factors(void) {
    mg_error err = {0};
    json_t *cfg = NULL;
    CHECK_OK(mg_json_load_file(MG_TEST_DATA "/golden/tiny-llama3/config.json", &cfg, &err), &err);
    float f[8];
    CHECK_OK(
        mg_gguf_llama3_rope_factors(json_object_get(cfg, "rope_scaling"), 500000.0, 16, f, &err),
        &err);
    // /work/shared/golden/README.md: [1, 2.4422596, 8, 8, 8, 8, 8, 8].
    const float want[8] = {1, 2.4422596f, 8, 8, 8, 8, 8, 8};
    for (int i = 0; i < 8; i++)
        CHECK_NEAR(f[i], want[i], 1e-6);
    json_decref(cfg);
}

/* ---- writer / reader ---- */

static void test_roundtrip_types(void) {
    mg_error err = {0};
    char *path = mg_strdup(tmp_path("types.gguf"));
    mg_gguf_writer *w = mg_gguf_writer_new();
    const char *strs[] = {"a", "", "h\xc3\xa9llo \"q\""};
    const int32_t ints[] = {-1, 0, 7};
    const float fl[] = {1.5f, -0.0f};
    CHECK_OK(mg_gguf_add_u32(w, "k.u32", 4000000000u, &err), &err);
    CHECK_OK(mg_gguf_add_i32(w, "k.i32", -5, &err), &err);
    CHECK_OK(mg_gguf_add_u64(w, "k.u64", (uint64_t)1 << 40, &err), &err);
    CHECK_OK(mg_gguf_add_f32(w, "k.f32", 0.1f, &err), &err);
    CHECK_OK(mg_gguf_add_bool(w, "k.bool", true, &err), &err);
    CHECK_OK(mg_gguf_add_str(w, "k.str", "text", &err), &err);
    CHECK_OK(mg_gguf_add_arr_str(w, "k.astr", strs, 3, &err), &err);
    CHECK_OK(mg_gguf_add_arr_i32(w, "k.ai32", ints, 3, &err), &err);
    CHECK_OK(mg_gguf_add_arr_f32(w, "k.af32", fl, 2, &err), &err);
    CHECK(mg_gguf_add_u32(w, "k.u32", 1, &err) == MG_ERR_INVALID); // duplicate key
    enum { R = 3, C = 64 };
    float x[R * C];
    uint64_t s = 3;
    for (int i = 0; i < R * C; i++)
        x[i] = urand(&s);
    uint64_t ne[2] = {C, R}, ne1[1] = {5};
    CHECK_OK(mg_gguf_add_tensor(w, "t.f32", MG_GGML_F32, 2, ne, NULL, &err), &err);
    CHECK_OK(mg_gguf_add_tensor(w, "t.f16", MG_GGML_F16, 2, ne, NULL, &err), &err);
    CHECK_OK(mg_gguf_add_tensor(w, "t.bf16", MG_GGML_BF16, 2, ne, NULL, &err), &err);
    CHECK_OK(mg_gguf_add_tensor(w, "t.q8", MG_GGML_Q8_0, 2, ne, NULL, &err), &err);
    CHECK_OK(mg_gguf_add_tensor(w, "t.odd", MG_GGML_F32, 1, ne1, NULL, &err), &err);
    CHECK(mg_gguf_add_tensor(w, "t.f32", MG_GGML_F32, 1, ne1, NULL, &err) == MG_ERR_INVALID);
    CHECK(mg_gguf_add_tensor(w, "t.badq8", MG_GGML_Q8_0, 1, ne1, NULL, &err) == MG_ERR_INVALID);
    char longname[80];
    memset(longname, 'x', 64), longname[64] = 0;
    CHECK(mg_gguf_add_tensor(w, longname, MG_GGML_F32, 1, ne1, NULL, &err) == MG_ERR_INVALID);
    CHECK_OK(mg_gguf_writer_begin(w, path, true, &err), &err);
    uint16_t h16[R * C], b16[R * C];
    uint8_t q8[R * C / 32 * 34];
    mg_f32_to_f16_array(x, h16, R * C);
    mg_f32_to_bf16_array(x, b16, R * C);
    mg_q8_0_quantize(x, q8, R * C);
    CHECK(mg_gguf_writer_write(w, 1, h16, sizeof h16, &err) != MG_OK); // out of order
    CHECK_OK(mg_gguf_writer_write(w, 0, x, sizeof x, &err), &err);
    CHECK_OK(mg_gguf_writer_write(w, 1, h16, sizeof h16, &err), &err);
    CHECK_OK(mg_gguf_writer_write(w, 2, b16, sizeof b16, &err), &err);
    CHECK_OK(mg_gguf_writer_write(w, 3, q8, sizeof q8, &err), &err);
    CHECK_OK(mg_gguf_writer_write(w, 4, x, 5 * sizeof *x, &err), &err);
    uint64_t expect_size = mg_gguf_writer_file_size(w);
    CHECK_OK(mg_gguf_writer_commit(w, &err), &err);
    mg_gguf_writer_free(w);

    mg_gguf_file *f = NULL;
    CHECK_OK(mg_gguf_open(path, &f, &err), &err);
    if (!f) return;
    CHECK_EQ_INT(mg_gguf_file_size(f), expect_size);
    CHECK_EQ_INT(mg_gguf_version(f), 3);
    CHECK_EQ_INT(mg_gguf_kv_count(f), 9);
    uint32_t u;
    int32_t i32;
    float fv;
    bool bv;
    mg_gguf_str sv;
    CHECK_OK(mg_gguf_get_u32(f, "k.u32", &u, &err), &err);
    CHECK(u == 4000000000u);
    CHECK_OK(mg_gguf_get_i32(f, "k.i32", &i32, &err), &err);
    CHECK_EQ_INT(i32, -5);
    CHECK_EQ_INT(mg_gguf_find_kv(f, "k.u64")->type, MG_GGUF_UINT64);
    CHECK(mg_gguf_get_u32(f, "k.u64", &u, &err) == MG_ERR_INVALID); // no silent widening
    CHECK(mg_gguf_get_u32(f, "k.none", &u, &err) == MG_ERR_NOT_FOUND);
    CHECK_OK(mg_gguf_get_f32(f, "k.f32", &fv, &err), &err);
    CHECK(fv == 0.1f);
    CHECK_OK(mg_gguf_get_bool(f, "k.bool", &bv, &err), &err);
    CHECK(bv);
    CHECK_OK(mg_gguf_get_str(f, "k.str", &sv, &err), &err);
    CHECK(mg_gguf_str_eq(sv, "text"));
    const mg_gguf_kv *kv;
    CHECK_OK(mg_gguf_get_arr(f, "k.astr", MG_GGUF_STRING, &kv, &err), &err);
    CHECK_EQ_INT(kv->n, 3);
    for (int k = 0; k < 3; k++)
        CHECK(mg_gguf_str_eq(kv->strs[k], strs[k]));
    CHECK_OK(mg_gguf_get_arr(f, "k.ai32", MG_GGUF_INT32, &kv, &err), &err);
    for (int k = 0; k < 3; k++)
        CHECK_EQ_INT(mg_gguf_arr_i32(kv, k), ints[k]);
    CHECK_OK(mg_gguf_get_arr(f, "k.af32", MG_GGUF_FLOAT32, &kv, &err), &err);
    CHECK(mg_gguf_arr_f32(kv, 0) == 1.5f && signbit(mg_gguf_arr_f32(kv, 1)));
    CHECK(mg_gguf_get_arr(f, "k.af32", MG_GGUF_INT32, &kv, &err) == MG_ERR_INVALID);
    CHECK_EQ_INT(mg_gguf_tensor_count(f), 5);
    float y[R * C];
    const char *names[] = {"t.f32", "t.f16", "t.bf16", "t.q8"};
    for (int k = 0; k < 4; k++) {
        const mg_gguf_tensor *t = mg_gguf_find_tensor(f, names[k]);
        CHECK(t && t->ndim == 2 && t->ne[0] == C && t->ne[1] == R);
        if (!t) continue;
        CHECK_EQ_INT(t->offset % 32, 0);
        CHECK_EQ_INT(((uintptr_t)t->data - (uintptr_t)mg_gguf_tensor_at(f, 0)->data) % 32, 0);
        CHECK_OK(mg_gguf_tensor_to_f32(t, y, &err), &err);
        int bad = 0;
        for (int e = 0; e < R * C; e++) {
            float want = k == 0   ? x[e]
                         : k == 1 ? mg_f16_to_f32(h16[e])
                         : k == 2 ? mg_bf16_to_f32(b16[e])
                                  : x[e];
            double tol = k == 3 ? 1.0 / 127 : 0.0; // |x| < 1: half a step is < 1/254
            if (fabs(y[e] - want) > tol) bad++;
        }
        CHECK_EQ_INT(bad, 0);
    }
    const mg_gguf_tensor *t = mg_gguf_find_tensor(f, "t.odd");
    CHECK(t && t->nbytes == 20 && t->ndim == 1);
    mg_gguf_close(f);
    free(path);
}

/* A minimal file: key general.alignment (UINT32 32), one F32 tensor "a" [32].
 * Byte layout: 24 header; key 8+17, type 4, value 4 (at 53) -> 57; tensor
 * info: name 8+1, n_dims 4 (at 66), ne 8, type 4 (at 78), offset 8 (at 82)
 * -> 90; data at 96, 128 bytes -> 224. */
static void write_min(const char *path) {
    mg_error err = {0};
    mg_gguf_writer *w = mg_gguf_writer_new();
    float x[32] = {1};
    uint64_t ne[1] = {32};
    CHECK_OK(mg_gguf_add_u32(w, "general.alignment", 32, &err), &err);
    CHECK_OK(mg_gguf_add_tensor(w, "a", MG_GGML_F32, 1, ne, NULL, &err), &err);
    CHECK_OK(mg_gguf_writer_begin(w, path, true, &err), &err);
    CHECK_OK(mg_gguf_writer_write(w, 0, x, sizeof x, &err), &err);
    CHECK_OK(mg_gguf_writer_commit(w, &err), &err);
    mg_gguf_writer_free(w);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    uint8_t *b = mg_malloc(4096);
    *n = fread(b, 1, 4096, f);
    fclose(f);
    return b;
}

/* Writes `orig` with `len` bytes, one little-endian value of `w` bytes patched
 * at `at` (w == 0: no patch), and expects the reader to refuse it with a
 * message containing `needle`. */
static void expect_bad(const uint8_t *orig, size_t len, size_t at, int w, uint64_t v,
                       const char *needle) {
    uint8_t buf[4096];
    memcpy(buf, orig, len);
    for (int i = 0; i < w; i++)
        buf[at + (size_t)i] = (uint8_t)(v >> (8 * i));
    char *p = tmp_path("bad.gguf");
    FILE *f = fopen(p, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    mg_error err = {0};
    mg_gguf_file *g = NULL;
    mg_status st = mg_gguf_open(p, &g, &err);
    CHECK_MSG(st == MG_ERR_INVALID, "patch at %zu: status %d", at, st);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "'%s' not in '%s'", needle, err.msg);
    mg_gguf_close(g);
}

static void test_reader_malformed(void) {
    char *good = mg_strdup(tmp_path("min.gguf"));
    write_min(good);
    size_t n;
    uint8_t *b = slurp(good, &n);
    CHECK_EQ_INT(n, 224);
    mg_error err = {0};
    mg_gguf_file *g = NULL;
    CHECK_OK(mg_gguf_open(good, &g, &err), &err);
    CHECK(g && mg_gguf_data_offset(g) == 96);
    mg_gguf_close(g);
    expect_bad(b, n, 0, 1, 'X', "not a GGUF file");
    expect_bad(b, n, 4, 4, 4, "version 4");
    expect_bad(b, n, 8, 8, (uint64_t)1 << 40, "cannot fit");
    expect_bad(b, n, 16, 8, 1000, "cannot fit");
    expect_bad(b, n, 24, 8, 1u << 30, "needs");                // key length past EOF
    expect_bad(b, n, 49, 4, 99, "unknown value type");         // key value type
    expect_bad(b, n, 49, 4, MG_GGUF_INT32, "expected UINT32"); // alignment type
    expect_bad(b, n, 53, 4, 24, "power of two");
    expect_bad(b, n, 66, 4, 5, "dimensions");
    expect_bad(b, n, 78, 4, 99, "unsupported ggml type");
    expect_bad(b, n, 82, 8, 32, "offset 32, expected 0");
    expect_bad(b, n, 70, 8, 64, "past the end");
    expect_bad(b, n - 1, 0, 0, 0, "past the end"); // truncated data
    expect_bad(b, 60, 0, 0, 0, "needs");           // truncated infos
    expect_bad(b, n, 70, 8, (uint64_t)1 << 63, "overflows");
    free(b);
    free(good);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mg_test_gguf_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(test_q8_0);
    RUN(test_permute);
    RUN(test_rope_factors);
    RUN(test_roundtrip_types);
    RUN(test_reader_malformed);
    mg_error err = {0};
    mg_remove_tree(tmpdir, &err);
    return TEST_END();
}
