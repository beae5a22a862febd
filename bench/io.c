/* bench/io.c - safetensors read throughput (benchmark, not a test).
 *
 * usage: bench_io [DIR] [--gb SIZE] [--shard SIZE] [--keep] [--threads N]
 *                 [--reuse] [--only WORDS]
 *
 * Generates a Llama-shaped bf16 checkpoint of about SIZE GB (default 2) as
 * shards of --shard (default 500M) in DIR (default a new /tmp/mg_bench_io_*),
 * then measures, with the page cache warm:
 *   1. plain sequential read() of every shard file (the baseline),
 *   2. reading every tensor through mg_model, shard by shard in data order:
 *      summing the bytes of each view; converting to f32 (mg_tensor_to_f32)
 *      into one reused buffer; mg_model_read_f32 (a fresh buffer per tensor),
 *      each as bf16 bytes per second and as a ratio to (1),
 *   3. the `inspect --stats` pass (mg_model_stats_compute) in GB/s,
 * and then the same three cold, after evicting the shards from the page cache
 * with posix_fadvise(DONTNEED) (per file, so other processes are unaffected).
 * The generated files are deleted at the end unless --keep. With DIR, the
 * model goes to DIR/bench-model; --reuse measures an existing one there (and
 * keeps it). --only runs read() plus the methods whose label contains WORDS. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "io/model_dir.h"
#include "io/tensor_stats.h"

#define GB 1e9

static void die(const mg_error *err) {
    fprintf(stderr, "bench_io: %s\n", err->msg);
    exit(1);
}

typedef struct plan {
    mg_tensor_spec *specs;
    char **names;
    size_t n;
} plan;

static void add(plan *p, const char *name, int64_t rows, int64_t cols) {
    p->specs = mg_realloc(p->specs, (p->n + 1) * sizeof *p->specs);
    p->names = mg_realloc(p->names, (p->n + 1) * sizeof *p->names);
    p->names[p->n] = mg_strdup(name);
    mg_tensor_spec s = {.name = p->names[p->n], .dtype = MG_DTYPE_BF16, .ndim = cols ? 2 : 1};
    s.shape[0] = rows;
    s.shape[1] = cols;
    p->specs[p->n++] = s;
}

/* TinyLlama-like shapes (hidden 2048, FFN 5632, GQA 32/4 heads, vocab 32000),
 * with as many layers as fit in target bytes. */
static plan make_plan(double target_bytes, int *layers_out) {
    plan p = {0};
    const int64_t H = 2048, F = 5632, KV = 256, V = 32000;
    double fixed = 2.0 * (double)(2 * V * H + H);
    double per_layer = 2.0 * (double)(2 * H * H + 2 * KV * H + 3 * H * F + 2 * H);
    int layers = (int)((target_bytes - fixed) / per_layer + 0.5);
    if (layers < 1) layers = 1;
    char name[128];
    add(&p, "lm_head.weight", V, H);
    add(&p, "model.embed_tokens.weight", V, H);
    for (int l = 0; l < layers; l++) {
        static const char *const SUFFIX[] = {
            "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
        const int64_t R[] = {H, KV, KV, H, F, F, H}, C[] = {H, H, H, H, H, H, F};
        for (int k = 0; k < 7; k++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, SUFFIX[k]);
            add(&p, name, R[k], C[k]);
        }
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        add(&p, name, H, 0);
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        add(&p, name, H, 0);
    }
    add(&p, "model.norm.weight", H, 0);
    *layers_out = layers;
    return p;
}

static uint64_t numel_of(const mg_tensor_spec *s) {
    uint64_t n = 1;
    for (int d = 0; d < s->ndim; d++)
        n *= (uint64_t)s->shape[d];
    return n;
}

static void generate(const char *dir, plan *p, uint64_t shard_bytes, int layers) {
    mg_error err = {0};
    mg_st_writer *w;
    if (mg_st_writer_open(dir, p->specs, p->n, shard_bytes, &w, &err)) die(&err);
    double t0 = mg_now_seconds();
    uint64_t total = 0;
    for (size_t i = 0; i < p->n; i++) {
        uint64_t n = numel_of(&p->specs[i]);
        float *f = mg_malloc_array(n, sizeof *f);
        mg_rng_uniform_fill(mg_rng_subkey(1234, i), 0, f, n); // [0, 1)
#pragma omp parallel for schedule(static)
        for (size_t k = 0; k < n; k++)
            f[k] = (f[k] - 0.5f) * 0.1f;
        if (mg_st_writer_write_f32(w, i, f, &err)) die(&err);
        free(f);
        total += n * 2;
    }
    size_t ns = mg_st_writer_shard_count(w);
    if (mg_st_writer_finish(w, &err)) die(&err);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
             "\"hidden_size\": 2048, \"intermediate_size\": 5632, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": 32, \"num_key_value_heads\": 4, \"vocab_size\": 32000, "
             "\"torch_dtype\": \"bfloat16\", \"tie_word_embeddings\": false}\n",
             layers);
    char *cp = mg_path_join(dir, "config.json");
    if (mg_write_file_atomic(cp, cfg, strlen(cfg), true, &err)) die(&err);
    free(cp);
    printf("generated %.3f GB of bf16 in %zu tensors, %zu shards, %d layers (%.1f s)\n",
           (double)total / GB, p->n, ns, layers, mg_now_seconds() - t0);
}

static void evict(const mg_model *m) {
    for (size_t s = 0; s < mg_model_shard_count(m); s++) {
        int fd = open(mg_st_path(mg_model_shard(m, s)), O_RDONLY);
        if (fd < 0) continue;
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

/* Baseline: read() every shard sequentially into a 16 MiB buffer. */
static double plain_read(const mg_model *m, uint64_t *bytes) {
    size_t cap = 16u << 20;
    char *buf = mg_malloc(cap);
    double t0 = mg_now_seconds();
    *bytes = 0;
    for (size_t s = 0; s < mg_model_shard_count(m); s++) {
        int fd = open(mg_st_path(mg_model_shard(m, s)), O_RDONLY);
        if (fd < 0) continue;
        ssize_t k;
        while ((k = read(fd, buf, cap)) > 0)
            *bytes += (uint64_t)k;
        close(fd);
    }
    double t = mg_now_seconds() - t0;
    free(buf);
    return t;
}

/* Every tensor, shard by shard in data order: the same sequential byte order
 * as read() of the files. Owned array of borrowed views. */
static const mg_tensor_view **file_order(const mg_model *m, size_t *n) {
    const mg_tensor_view **v = mg_malloc_array(mg_model_tensor_count(m) + 1, sizeof *v);
    size_t k = 0;
    for (size_t s = 0; s < mg_model_shard_count(m); s++)
        for (size_t i = 0; i < mg_st_count(mg_model_shard(m, s)); i++)
            v[k++] = mg_st_at(mg_model_shard(m, s), i);
    *n = k;
    return v;
}

/* Every tensor through the model API, converted to f32 (what inference and
 * merging do). A checksum keeps the work observable. */
static double model_read(const mg_model *m, uint64_t *bytes, double *checksum) {
    mg_error err = {0};
    double t0 = mg_now_seconds();
    *bytes = 0;
    *checksum = 0;
    size_t n;
    const mg_tensor_view **v = file_order(m, &n);
    for (size_t i = 0; i < n; i++) {
        const mg_tensor_view *t = v[i];
        float *f;
        if (mg_model_read_f32(m, t->name, &f, NULL, &err)) die(&err);
        *checksum += f[0] + f[t->numel - 1];
        *bytes += t->nbytes;
        free(f);
    }
    free(v);
    return mg_now_seconds() - t0;
}

/* Touches every byte of every tensor through the mmap views (a 64-bit
 * integer sum, order-independent): the cost of reading via mg_model itself. */
static double view_sum(const mg_model *m, uint64_t *bytes, uint64_t *sum) {
    double t0 = mg_now_seconds();
    *bytes = 0;
    uint64_t total = 0;
    size_t n;
    const mg_tensor_view **v = file_order(m, &n);
    for (size_t i = 0; i < n; i++) {
        const mg_tensor_view *t = v[i];
        const uint8_t *d = t->data;
        size_t words = (size_t)(t->nbytes / 8), chunk = 1 << 17;
        size_t nchunks = (words + chunk - 1) / chunk;
        uint64_t s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (size_t c = 0; c < nchunks; c++) {
            size_t e = (c + 1) * chunk < words ? (c + 1) * chunk : words;
            for (size_t w = c * chunk; w < e; w++) {
                uint64_t x;
                memcpy(&x, d + 8 * w, 8);
                s += x;
            }
        }
        total += s;
        *bytes += t->nbytes;
    }
    *sum = total;
    free(v);
    return mg_now_seconds() - t0;
}

/* The same conversion into one reused, already-faulted buffer (what a
 * streaming merge does with its scratch): separates conversion from the cost
 * of fresh allocations. */
static double model_convert_reuse(const mg_model *m, uint64_t *bytes) {
    mg_error err = {0};
    uint64_t maxn = 0;
    for (size_t i = 0; i < mg_model_tensor_count(m); i++)
        if (mg_model_tensor_at(m, i)->numel > maxn) maxn = mg_model_tensor_at(m, i)->numel;
    float *f = mg_aligned_alloc(maxn * sizeof *f);
    memset(f, 0, maxn * sizeof *f);
    size_t n;
    const mg_tensor_view **v = file_order(m, &n);
    double t0 = mg_now_seconds();
    *bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (mg_tensor_to_f32(v[i], f, &err)) die(&err);
        *bytes += v[i]->nbytes;
    }
    double t = mg_now_seconds() - t0;
    free(f);
    free(v);
    return t;
}

/* What `inspect --stats` runs after opening the model. */
static double stats_pass(const mg_model *m, uint64_t *bytes) {
    size_t n = mg_model_tensor_count(m);
    *bytes = 0;
    for (size_t i = 0; i < n; i++)
        *bytes += mg_model_tensor_at(m, i)->nbytes;
    mg_tensor_stats *st = mg_calloc(n, sizeof *st);
    double t0 = mg_now_seconds();
    mg_model_stats_compute(m, st, NULL);
    double t = mg_now_seconds() - t0;
    free(st);
    return t;
}

static const char *g_only; // --only: run read() and the methods whose name contains this

typedef double (*method_fn)(const mg_model *m, uint64_t *bytes);

static double m_plain(const mg_model *m, uint64_t *bytes) {
    return plain_read(m, bytes);
}
static double m_views(const mg_model *m, uint64_t *bytes) {
    uint64_t sum;
    return view_sum(m, bytes, &sum);
}
static double m_read_f32(const mg_model *m, uint64_t *bytes) {
    double sum;
    return model_read(m, bytes, &sum);
}

/* Best of `reps` runs; the model is reopened each time (fresh mappings) and,
 * when cold, its files are evicted from the page cache first. */
static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

/* Also returns the process CPU time (user + system, all threads) of the best
 * run: the machine is shared, so wall time alone mixes in other load. */
static double best_of(const char *dir, method_fn fn, bool cold, int reps, uint64_t *bytes,
                      double *cpu) {
    mg_error err = {0};
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        mg_model *m;
        if (mg_model_open(dir, &m, &err)) die(&err);
        if (cold) evict(m);
        double c0 = cpu_seconds();
        double t = fn(m, bytes);
        double c = cpu_seconds() - c0;
        if (t < best) best = t, *cpu = c;
        mg_model_close(m);
    }
    return best;
}

static void measure(const char *dir, bool cold, int reps) {
    static const struct {
        const char *what;
        method_fn fn;
    } METHODS[] = {
        {"plain read() of the shard files", m_plain},
        {"mg_model views, every byte summed", m_views},
        {"mg_tensor_to_f32, reused buffer", model_convert_reuse},
        {"mg_model_read_f32, fresh buffers", m_read_f32},
        {"inspect --stats pass", stats_pass},
    };
    const char *tag = cold ? "cold" : "warm";
    double base = 0;
    for (size_t k = 0; k < sizeof METHODS / sizeof METHODS[0]; k++) {
        if (k && g_only && !strstr(METHODS[k].what, g_only)) continue;
        uint64_t bytes = 0;
        double cpu = 0;
        double t = best_of(dir, METHODS[k].fn, cold, reps, &bytes, &cpu);
        double rate = (double)bytes / GB / t;
        if (k == 0) base = rate;
        printf("[%s] %-36s %6.3f GB in %6.3f s = %6.2f GB/s  (%.2f x read())  cpu %.2f s\n", tag,
               METHODS[k].what, (double)bytes / GB, t, rate, rate / base, cpu);
        fflush(stdout);
    }
}

int main(int argc, char **argv) {
    const char *dir_arg = NULL;
    double gb = 2.0;
    uint64_t shard = 500000000ull;
    bool keep = false, reuse = false;
    mg_error err = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gb") && i + 1 < argc) {
            gb = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--shard") && i + 1 < argc) {
            if (mg_parse_size(argv[++i], &shard, &err)) die(&err);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            mg_set_threads(atoi(argv[++i]));
        } else if (!strcmp(argv[i], "--keep")) {
            keep = true;
        } else if (!strcmp(argv[i], "--reuse")) {
            reuse = true;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            g_only = argv[++i];
        } else if (argv[i][0] != '-') {
            dir_arg = argv[i];
        } else {
            fprintf(stderr, "usage: bench_io [DIR] [--gb SIZE] [--shard SIZE] [--keep] "
                            "[--threads N] [--reuse] [--only WORDS]\n");
            return 2;
        }
    }
    char tmpl[] = "/tmp/mg_bench_io_XXXXXX";
    char *dir;
    if (dir_arg) {
        dir = mg_path_join(dir_arg, "bench-model");
        if (reuse) keep = true;
        if (mg_path_exists(dir) && !reuse) {
            fprintf(stderr, "bench_io: %s exists; remove it first\n", dir);
            return 2;
        }
        if (!reuse && mg_mkdir_p(dir, &err)) die(&err);
    } else {
        if (!mkdtemp(tmpl)) return 1;
        dir = mg_strdup(tmpl);
    }
    printf("bench_io: %s, %d threads\n", dir, mg_get_threads());
    int layers;
    plan p = make_plan(gb * GB, &layers);
    if (!reuse || !mg_path_exists(dir)) {
        if (reuse && mg_mkdir_p(dir, &err)) die(&err);
        generate(dir, &p, shard, layers);
    }
    {
        mg_error e2 = {0};
        mg_model *m;
        if (mg_model_open(dir, &m, &e2)) die(&e2);
        uint64_t b;
        plain_read(m, &b); // warm the page cache
        mg_model_close(m);
    }
    measure(dir, false, 3);
    measure(dir, true, 2);
    if (!keep) {
        mg_remove_tree(dir, NULL);
        printf("removed %s\n", dir);
    }
    for (size_t i = 0; i < p.n; i++)
        free(p.names[i]);
    free(p.names);
    free(p.specs);
    free(dir);
    return 0;
}
