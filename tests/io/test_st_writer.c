/* test_st_writer.c - the streaming safetensors writer: sharding by size, HF
 * names and index, bit-exact round trips of every dtype, size parsing. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "base/json.h"
#include "base/rng.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "test.h"

static char g_dir[256];

static void test_parse_size(void) {
    static const struct {
        const char *s;
        uint64_t v;
    } OK[] = {
        {"5G", 5000000000ull},    {"500M", 500000000ull},
        {"2GB", 2000000000ull},   {"1.5GiB", 1610612736ull},
        {"1024", 1024},           {"1KB", 1000},
        {"1KiB", 1024},           {"1k", 1000},
        {"0.5MiB", 524288},       {"3 MB", 3000000},
        {"1T", 1000000000000ull}, {"7B", 7},
    };
    mg_error err = {0};
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
        uint64_t v = 0;
        CHECK_OK(mg_parse_size(OK[i].s, &v, &err), &err);
        CHECK_MSG(v == OK[i].v, "%s -> %llu", OK[i].s, (unsigned long long)v);
    }
    static const char *BAD[] = {
        "", "G", "-1G", "5X", "1.2.3", "99999999999999999999", "20000000000T", "5 G B", "0x10"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        uint64_t v;
        CHECK_MSG(mg_parse_size(BAD[i], &v, &err) == MG_ERR_USAGE, "'%s' accepted", BAD[i]);
    }
}

typedef struct rt_tensor {
    mg_tensor_spec spec;
    uint8_t *data;
    uint64_t nbytes;
    char name[64];
} rt_tensor;

/* Random tensors of every dtype (plus a scalar and an empty one); random bytes
 * are fine: the writer must copy them bit for bit whatever they encode. */
static rt_tensor *make_tensors(size_t *n_out) {
    size_t n = MG_DTYPE_COUNT * 2 + 2;
    rt_tensor *t = mg_calloc(n, sizeof *t);
    for (size_t i = 0; i < n; i++) {
        mg_dtype dt = (mg_dtype)(i % MG_DTYPE_COUNT);
        snprintf(t[i].name, sizeof t[i].name, "layers.%zu.%s.weight", i, mg_dtype_name(dt));
        t[i].spec.name = t[i].name;
        t[i].spec.dtype = dt;
        if (i == n - 2) {
            t[i].spec.ndim = 0; // scalar
        } else if (i == n - 1) {
            t[i].spec.ndim = 2; // empty
            t[i].spec.shape[0] = 0;
            t[i].spec.shape[1] = 7;
        } else {
            t[i].spec.ndim = 2;
            t[i].spec.shape[0] = 3 + (int64_t)(i * 7 % 23);
            t[i].spec.shape[1] = 5 + (int64_t)(i % 4) * 9;
        }
        uint64_t numel = 1;
        for (int d = 0; d < t[i].spec.ndim; d++)
            numel *= (uint64_t)t[i].spec.shape[d];
        t[i].nbytes = numel * mg_dtype_size(dt);
        t[i].data = mg_malloc(t[i].nbytes + 1);
        for (uint64_t b = 0; b < t[i].nbytes; b++)
            t[i].data[b] = (uint8_t)(mg_rng_u32(mg_rng_subkey(42, i), b) >> 7);
    }
    *n_out = n;
    return t;
}

static void free_tensors(rt_tensor *t, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(t[i].data);
    free(t);
}

static void test_round_trip_sharded(void) {
    mg_error err = {0};
    size_t n;
    rt_tensor *t = make_tensors(&n);
    mg_tensor_spec *specs = mg_calloc(n, sizeof *specs);
    for (size_t i = 0; i < n; i++)
        specs[i] = t[i].spec;
    char *final = mg_path_join(g_dir, "sharded");
    mg_atomic_out *o = NULL;
    CHECK_OK(mg_atomic_begin(final, true, false, &o, &err), &err);
    uint64_t limit = 0;
    CHECK_OK(mg_parse_size("1KB", &limit, &err), &err);
    mg_st_writer *w = NULL;
    CHECK_OK(mg_st_writer_open(mg_atomic_tmp_path(o), specs, n, limit, &w, &err), &err);
    if (!w) return;
    size_t nshards = mg_st_writer_shard_count(w);
    CHECK(nshards >= 3);
    // Write in reverse order from several threads: offsets are fixed up front.
    int failures = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(4) reduction(+ : failures)
    for (size_t k = 0; k < n; k++) {
        mg_error e2 = {0};
        size_t i = n - 1 - k;
        if (mg_st_writer_write(w, i, t[i].data, &e2) != MG_OK) failures++;
    }
    CHECK_EQ_INT(failures, 0);
    CHECK_OK(mg_st_writer_finish(w, &err), &err);
    char *cfg = mg_path_join(mg_atomic_tmp_path(o), "config.json");
    CHECK_OK(mg_write_file_atomic(cfg, "{}", 2, false, &err), &err);
    free(cfg);
    CHECK_OK(mg_atomic_commit(o, &err), &err);

    // HF names and index.
    char name[64];
    for (size_t s = 0; s < nshards; s++) {
        snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, nshards);
        char *p = mg_path_join(final, name);
        CHECK_MSG(mg_path_is_file(p), "%s missing", p);
        free(p);
    }
    char *single = mg_path_join(final, "model.safetensors");
    CHECK(!mg_path_exists(single));
    free(single);
    char *ip = mg_path_join(final, "model.safetensors.index.json");
    json_t *idx = NULL;
    CHECK_OK(mg_json_load_file(ip, &idx, &err), &err);
    free(ip);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += t[i].nbytes;
    const json_t *md = json_object_get(idx, "metadata");
    CHECK_EQ_INT(json_integer_value(json_object_get(md, "total_size")), total);
    CHECK_EQ_INT(json_object_size(json_object_get(idx, "weight_map")), n);
    json_decref(idx);

    mg_model *m = NULL;
    CHECK_OK(mg_model_open(final, &m, &err), &err);
    if (m) {
        CHECK_EQ_INT(mg_model_shard_count(m), nshards);
        CHECK_EQ_INT(mg_model_tensor_count(m), n);
        for (size_t s = 0; s < nshards; s++) {
            const mg_st_file *f = mg_model_shard(m, s);
            CHECK_EQ_STR(mg_st_metadata(f, "format"), "pt");
            CHECK_EQ_INT(mg_st_data_start(f) % 8, 0); // header padded to 8
            uint64_t data = mg_st_file_size(f) - mg_st_data_start(f);
            CHECK(data <= limit || mg_st_count(f) == 1);
        }
        for (size_t i = 0; i < n; i++) {
            const mg_tensor_view *v = mg_model_find(m, t[i].name);
            CHECK(v != NULL);
            if (!v) continue;
            CHECK_EQ_INT(v->dtype, t[i].spec.dtype);
            CHECK_EQ_INT(v->ndim, t[i].spec.ndim);
            for (int d = 0; d < v->ndim; d++)
                CHECK_EQ_INT(v->shape[d], t[i].spec.shape[d]);
            CHECK_EQ_INT(v->nbytes, t[i].nbytes);
            CHECK(t[i].nbytes == 0 || memcmp(v->data, t[i].data, t[i].nbytes) == 0);
        }
        // Tensors keep the declared order across shards.
        const char *prev_file = NULL;
        for (size_t i = 0; i < n; i++) {
            const mg_tensor_view *v = mg_model_find(m, t[i].name);
            if (v && prev_file) CHECK(strcmp(prev_file, v->file_path) <= 0);
            if (v) prev_file = v->file_path;
        }
        mg_model_close(m);
    }
    free(final);
    free(specs);
    free_tensors(t, n);
}

static void test_single_shard_and_f32(void) {
    mg_error err = {0};
    char *dir = mg_path_join(g_dir, "single");
    CHECK_OK(mg_mkdir_p(dir, &err), &err);
    enum { N = 1000 };
    float *src = mg_malloc(N * sizeof(float));
    for (int i = 0; i < N; i++)
        src[i] = (float)(i - 500) * 0.37f;
    src[3] = 1e30f; // overflows f16 -> Inf
    mg_tensor_spec specs[4] = {
        {.name = "a", .dtype = MG_DTYPE_BF16, .ndim = 1, .shape = {N}},
        {.name = "b", .dtype = MG_DTYPE_F16, .ndim = 2, .shape = {10, 100}},
        {.name = "c", .dtype = MG_DTYPE_F64, .ndim = 1, .shape = {N}},
        {.name = "d", .dtype = MG_DTYPE_F32, .ndim = 1, .shape = {N}},
    };
    mg_st_writer *w = NULL;
    CHECK_OK(mg_st_writer_open(dir, specs, 4, 5000000000ull, &w, &err), &err);
    if (!w) return;
    CHECK_EQ_INT(mg_st_writer_shard_count(w), 1);
    CHECK_EQ_STR(mg_st_writer_shard_name(w, 2), "model.safetensors");
    for (size_t i = 0; i < 4; i++)
        CHECK_OK(mg_st_writer_write_f32(w, i, src, &err), &err);
    CHECK_OK(mg_st_writer_finish(w, &err), &err);
    char *idx = mg_path_join(dir, "model.safetensors.index.json");
    CHECK(!mg_path_exists(idx));
    free(idx);
    char *p = mg_path_join(dir, "model.safetensors");
    mg_st_file *f = NULL;
    CHECK_OK(mg_st_open(p, &f, &err), &err);
    free(p);
    if (f) {
        float *out = mg_malloc(N * sizeof(float));
        const char *names[4] = {"a", "b", "c", "d"};
        for (int k = 0; k < 4; k++) {
            const mg_tensor_view *v = mg_st_find(f, names[k]);
            CHECK(v != NULL);
            if (!v) continue;
            CHECK_OK(mg_tensor_to_f32(v, out, &err), &err);
            for (int i = 0; i < N; i++) {
                float want = src[i];
                if (k == 0) want = mg_bf16_to_f32(mg_f32_to_bf16(src[i]));
                if (k == 1) want = mg_f16_to_f32(mg_f32_to_f16(src[i]));
                if (memcmp(&want, &out[i], 4)) {
                    CHECK_MSG(0, "tensor %s elem %d: %g vs %g", names[k], i, out[i], want);
                    break;
                }
            }
        }
        free(out);
        mg_st_close(f);
    }
    free(src);
    free(dir);
}

static void test_writer_errors(void) {
    mg_error err = {0};
    char *dir = mg_path_join(g_dir, "errors");
    CHECK_OK(mg_mkdir_p(dir, &err), &err);
    mg_tensor_spec dup[2] = {{.name = "x", .dtype = MG_DTYPE_F32, .ndim = 1, .shape = {2}},
                             {.name = "x", .dtype = MG_DTYPE_F32, .ndim = 1, .shape = {2}}};
    mg_st_writer *w = NULL;
    CHECK_EQ_INT(mg_st_writer_open(dir, dup, 2, 0, &w, &err), MG_ERR_INVALID);
    CHECK(strstr(err.msg, "'x'") && strstr(err.msg, "twice"));
    mg_tensor_spec neg = {.name = "n", .dtype = MG_DTYPE_F32, .ndim = 1, .shape = {-1}};
    CHECK_EQ_INT(mg_st_writer_open(dir, &neg, 1, 0, &w, &err), MG_ERR_INVALID);
    mg_tensor_spec two[2] = {{.name = "p", .dtype = MG_DTYPE_I8, .ndim = 1, .shape = {4}},
                             {.name = "q", .dtype = MG_DTYPE_I8, .ndim = 1, .shape = {4}}};
    CHECK_OK(mg_st_writer_open(dir, two, 2, 0, &w, &err), &err);
    if (w) {
        CHECK_OK(mg_st_writer_write(w, 0, "abcd", &err), &err);
        CHECK_EQ_INT(mg_st_writer_write(w, 0, "abcd", &err), MG_ERR_RUNTIME);
        CHECK_EQ_INT(mg_st_writer_write_f32(w, 1, (const float[]){1, 2, 3, 4}, &err),
                     MG_ERR_UNSUPPORTED);
        CHECK_EQ_INT(mg_st_writer_finish(w, &err), MG_ERR_RUNTIME);
        CHECK(strstr(err.msg, "'q'") && strstr(err.msg, "never written"));
    }
    // The file exists now: a second writer in the same folder refuses to clobber it.
    CHECK_EQ_INT(mg_st_writer_open(dir, two, 2, 0, &w, &err), MG_ERR_EXISTS);
    free(dir);
}

/* Tensors written in parts from several threads (ordinary and streaming
 * mode, where bytes go through the direct-I/O ring: ~44 MB, more than the
 * ring holds, over three shards, with a tensor larger than the ring written
 * whole), read back bit for bit. */
static void test_parts_and_stream(void) {
    enum { NT = 5 };
    const int64_t sizes[NT] = {3000001, 18000000, 1, 1500000, 500000}; // bf16 elements
    mg_tensor_spec specs[NT];
    char names[NT][16];
    uint8_t *data[NT];
    for (int i = 0; i < NT; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        specs[i] = (mg_tensor_spec){
            .name = names[i], .dtype = MG_DTYPE_BF16, .ndim = 1, .shape = {sizes[i]}};
        data[i] = mg_malloc((size_t)sizes[i] * 2);
        for (int64_t e = 0; e < sizes[i] * 2; e++)
            data[i][e] = (uint8_t)(mg_rng_u32((uint64_t)i, (uint64_t)e) >> 24);
    }
    for (int mode = 0; mode < 2; mode++) {
        mg_error err = {0};
        char sub[32];
        snprintf(sub, sizeof sub, "parts%d", mode);
        char *dir = mg_path_join(g_dir, sub);
        CHECK_OK(mg_mkdir_p(dir, &err), &err);
        mg_st_writer *w = NULL;
        CHECK_OK(mg_st_writer_open(dir, specs, NT, 20000000, &w, &err), &err);
        if (!w) return;
        CHECK_EQ_INT(mg_st_writer_shard_count(w), 3);
        if (mode) CHECK_OK(mg_st_writer_stream(w, &err), &err);
        for (int i = 0; i < NT; i++) {
            uint64_t nb = (uint64_t)sizes[i] * 2, part = 262144 + 6, np = (nb + part - 1) / part;
            if (i == 1) { // larger than the ring, in one call
                CHECK_OK(mg_st_writer_write(w, (size_t)i, data[i], &err), &err);
                continue;
            }
            volatile int bad = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(4)
            for (uint64_t q = 0; q < np; q++) {
                uint64_t off = q * part, n = nb - off < part ? nb - off : part;
                mg_error e = {0};
                if (mg_st_writer_write_part(w, (size_t)i, off, data[i] + off, n, &e)) bad = 1;
            }
            CHECK(!bad);
        }
        // A part outside the tensor, or after it is complete, is refused.
        CHECK_EQ_INT(mg_st_writer_write_part(w, 2, 0, "ab", 2, &err), MG_ERR_RUNTIME);
        CHECK_OK(mg_st_writer_finish(w, &err), &err);
        char *cfg = mg_path_join(dir, "config.json");
        CHECK_OK(mg_write_file_atomic(cfg, "{}", 2, false, &err), &err);
        free(cfg);
        mg_model *m = NULL;
        CHECK_OK(mg_model_open(dir, &m, &err), &err);
        for (int i = 0; m && i < NT; i++) {
            const mg_tensor_view *v = mg_model_find(m, names[i]);
            CHECK(v && v->nbytes == (uint64_t)sizes[i] * 2);
            if (v)
                CHECK_MSG(!memcmp(v->data, data[i], v->nbytes), "mode %d: %s differs", mode,
                          names[i]);
        }
        mg_model_close(m);
        free(dir);
    }
    for (int i = 0; i < NT; i++)
        free(data[i]);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/mg_test_st_writer_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    RUN(test_parse_size);
    RUN(test_round_trip_sharded);
    RUN(test_single_shard_and_f32);
    RUN(test_writer_errors);
    RUN(test_parts_and_stream);
    mg_remove_tree(g_dir, NULL);
    return TEST_END();
}
