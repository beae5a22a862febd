/* bench/merge.c - merge throughput and memory against the I/O floor.
 *
 * Generates three 1.24B-parameter bf16 checkpoints with Llama-3.2-1B shapes
 * (vocab 128256, hidden 2048, FFN 8192, 16 layers, 32 heads / 8 KV heads,
 * tied embeddings; one model.safetensors like the original): a random base
 * and two "fine-tunes" (base + small noise). Then, each in a child process
 * (so its peak RSS is its own):
 *   - the I/O floor: read every input byte and write the output bytes
 *     sequentially, fsync included (the merge fsyncs its output too);
 * each timed run starts with the inputs just read once (page cache warm), so
 * floor and merges see the same cache state;
 *   - TIES (density 0.5) and DARE-TIES (density 0.5), 2 experts + base.
 * Prints wall time, the ratio merge / floor, GB/s over input + output bytes
 * and peak RSS, plus each run's CPU time (user + sys), which stays meaningful
 * when other work shares the machine. Targets: ratio <= 1.5, peak RSS <= 1.5 GB.
 *
 * usage: bench_merge [DIR (default /tmp/mg_bench_merge)] [--threads N (2)]
 *        [--keep] [--layers N (16)]   needs ~10 GB free in DIR. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "base/log.h"
#include "base/parallel.h"
#include "io/safetensors.h"
#include "merge/config.h"
#include "merge/exec.h"
#include "merge/plan.h"

static int g_layers = 16;
static int g_threads = 2;

typedef struct spec {
    char name[96];
    int64_t rows, cols; // cols 0: 1-D
} spec;

static size_t make_specs(spec *s) {
    size_t n = 0;
    s[n++] = (spec){"model.embed_tokens.weight", 128256, 2048};
    for (int l = 0; l < g_layers; l++) {
        const struct {
            const char *nm;
            int64_t r, c;
        } L[] = {
            {"input_layernorm.weight", 2048, 0},          {"mlp.down_proj.weight", 2048, 8192},
            {"mlp.gate_proj.weight", 8192, 2048},         {"mlp.up_proj.weight", 8192, 2048},
            {"post_attention_layernorm.weight", 2048, 0}, {"self_attn.k_proj.weight", 512, 2048},
            {"self_attn.o_proj.weight", 2048, 2048},      {"self_attn.q_proj.weight", 2048, 2048},
            {"self_attn.v_proj.weight", 512, 2048}};
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
            snprintf(s[n].name, sizeof s[n].name, "model.layers.%d.%s", l, L[k].nm);
            s[n].rows = L[k].r, s[n].cols = L[k].c;
            n++;
        }
    }
    s[n++] = (spec){"model.norm.weight", 2048, 0};
    return n;
}

static inline uint64_t xs(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* Model `which`: 0 = base, 1..2 = base + noise. Values depend only on
 * (tensor, element), so the experts really are fine-tunes of the base. */
static int gen_model(const char *dir, int which) {
    spec *s = calloc(16 + 9 * (size_t)g_layers, sizeof *s);
    size_t n = make_specs(s);
    mg_tensor_spec *ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        ts[i].name = s[i].name;
        ts[i].dtype = MG_DTYPE_BF16;
        ts[i].ndim = s[i].cols ? 2 : 1;
        ts[i].shape[0] = s[i].rows;
        ts[i].shape[1] = s[i].cols;
    }
    mg_error err = {0};
    mg_mkdir_p(dir, &err);
    mg_st_writer *w = NULL;
    if (mg_st_writer_open(dir, ts, n, 5000000000ull, &w, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < n && !err.status; i++) {
        uint64_t numel = (uint64_t)s[i].rows * (uint64_t)(s[i].cols ? s[i].cols : 1);
        uint16_t *buf = mg_malloc(numel * 2);
#pragma omp parallel for schedule(static)
        for (uint64_t b = 0; b < numel; b += 65536) {
            uint64_t xb = (i + 1) * 0x9E3779B97F4A7C15ull ^ (b + 1) * 0xD1B54A32D192ED03ull;
            uint64_t xn = xb ^ ((uint64_t)which * 0x94D049BB133111EBull) ^ 0x5851F42D4C957F2Dull;
            uint64_t e = b + 65536 < numel ? b + 65536 : numel;
            for (uint64_t j = b; j < e; j++) {
                float v = ((float)(xs(&xb) >> 40) * (1.0f / 16777216.0f) - 0.5f) * 0.1f;
                if (!s[i].cols) v += 1.0f; // norm weights around 1
                if (which) v += ((float)(xs(&xn) >> 40) * (1.0f / 16777216.0f) - 0.5f) * 0.004f;
                buf[j] = mg_f32_to_bf16(v);
            }
        }
        mg_st_writer_write(w, i, buf, &err);
        free(buf);
    }
    if (!err.status)
        mg_st_writer_finish(w, &err);
    else
        mg_st_writer_free(w);
    char *p = mg_path_join(dir, "config.json");
    FILE *f = fopen(p, "w");
    free(p);
    fprintf(f,
            "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
            "\"vocab_size\": 128256, \"hidden_size\": 2048, \"intermediate_size\": 8192, "
            "\"num_hidden_layers\": %d, \"num_attention_heads\": 32, \"num_key_value_heads\": 8, "
            "\"head_dim\": 64, \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0, "
            "\"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\"}\n",
            g_layers);
    fclose(f);
    free(ts);
    free(s);
    if (err.status) fprintf(stderr, "%s\n", err.msg);
    return err.status ? 1 : 0;
}

/* Reads every byte of the inputs into buf (bs bytes). */
static int read_inputs(char *const *inputs, int n, char *buf, size_t bs) {
    for (int i = 0; i < n; i++) {
        int fd = open(inputs[i], O_RDONLY);
        if (fd < 0) return 1;
        ssize_t r;
        volatile uint64_t sum = 0;
        while ((r = read(fd, buf, bs)) > 0)
            sum += (uint8_t)buf[r - 1];
        close(fd);
    }
    return 0;
}

/* Brings the inputs into the page cache before each timed run, so the floor
 * and the merges start from the same state (otherwise the kernel's reclaim
 * between runs decides how much of the inputs each one reads from disk). */
static int warm_inputs(char *const *inputs, int n) {
    size_t bs = 8u << 20;
    char *buf = mg_aligned_alloc(bs);
    int rc = read_inputs(inputs, n, buf, bs);
    free(buf);
    return rc;
}

/* Reads every input byte, writes out_bytes sequentially and fsyncs. */
static int io_floor(char *const *inputs, int n, const char *out, uint64_t out_bytes) {
    size_t bs = 8u << 20;
    char *buf = mg_aligned_alloc(bs);
    memset(buf, 1, bs);
    if (read_inputs(inputs, n, buf, bs)) return 1;
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 1;
    for (uint64_t done = 0; done < out_bytes;) {
        size_t m = out_bytes - done < bs ? (size_t)(out_bytes - done) : bs;
        if (write(fd, buf, m) != (ssize_t)m) return 1;
        done += m;
    }
    fsync(fd);
    close(fd);
    unlink(out);
    free(buf);
    return 0;
}

static int do_merge(const char *dir, const char *method) {
    char cfg[4096], out[1200];
    snprintf(cfg, sizeof cfg,
             "merge_method: %s\nbase_model: %s/base\nmodels:\n"
             "  - {model: %s/expert1, parameters: {weight: 0.6, density: 0.5}}\n"
             "  - {model: %s/expert2, parameters: {weight: 0.4, density: 0.5}}\n"
             "dtype: bfloat16\n",
             method, dir, dir, dir);
    snprintf(out, sizeof out, "%s/out_%s", dir, method);
    mg_error err = {0};
    mg_merge_config *c = NULL;
    mg_plan *p = NULL;
    mg_status st = mg_merge_config_parse(cfg, strlen(cfg), "bench.yml", NULL, &c, &err);
    if (!st) st = mg_plan_build(c, 1, &p, &err);
    mg_merge_opts o = {.force = true};
    if (!st) st = mg_merge_execute(p, out, &o, NULL, &err);
    if (st) fprintf(stderr, "%s: %s\n", method, err.msg);
    mg_plan_free(p);
    mg_merge_config_free(c);
    mg_remove_tree(out, NULL);
    return st ? 1 : 0;
}

typedef struct result {
    double seconds;
    double cpu; // user + sys of the child: robust to other load on the machine
    double rss_mb;
    int rc;
} result;

/* Runs job in a child; wall time and the child's peak RSS. */
static result measure(int (*job)(void *), void *arg) {
    double t0 = mg_now_seconds();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        mg_set_threads(g_threads);
        _exit(job(arg));
    }
    int status = 0;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    result r = {mg_now_seconds() - t0,
                (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6,
                (double)ru.ru_maxrss / 1024.0, WIFEXITED(status) ? WEXITSTATUS(status) : 1};
    return r;
}

typedef struct job {
    const char *dir, *method;
    char *inputs[3];
    uint64_t out_bytes;
    char out[600];
} job;

typedef struct gen_arg {
    const char *dir;
    int which;
} gen_arg;

static int job_gen(void *a) {
    gen_arg *g = a;
    return gen_model(g->dir, g->which);
}

static int job_floor(void *a) {
    job *j = a;
    return io_floor(j->inputs, 3, j->out, j->out_bytes);
}
static int job_warm(void *a) {
    job *j = a;
    return warm_inputs(j->inputs, 3);
}
static int job_merge(void *a) {
    job *j = a;
    return do_merge(j->dir, j->method);
}

int main(int argc, char **argv) {
    const char *dir = "/tmp/mg_bench_merge";
    int threads = 2;
    bool keep = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc)
            g_layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keep"))
            keep = true;
        else
            dir = argv[i];
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_threads = threads;
    mg_log_set_level(MG_LOG_WARN);
    const char *names[3] = {"base", "expert1", "expert2"};
    job j = {.dir = dir};
    for (int m = 0; m < 3; m++) {
        char *d = mg_path_join(dir, names[m]);
        j.inputs[m] = mg_path_join(d, "model.safetensors");
        bool have = mg_path_is_file(j.inputs[m]);
        if (!have) {
            // In a child too: libgomp's thread pool does not survive fork(), so
            // the parent never starts it.
            gen_arg ga = {d, m};
            result g = measure(job_gen, &ga);
            if (g.rc) return 1;
            printf("generated %s in %.1f s\n", d, g.seconds);
        }
        free(d);
    }
    struct stat sb;
    stat(j.inputs[0], &sb);
    uint64_t in_bytes = 3 * (uint64_t)sb.st_size;
    j.out_bytes = (uint64_t)sb.st_size; // the output has the base's size
    snprintf(j.out, sizeof j.out, "%s/floor.bin", dir);
    printf("inputs: 3 x %.2f GB bf16 (%d layers), output %.2f GB, %d threads\n",
           (double)sb.st_size / 1e9, g_layers, (double)j.out_bytes / 1e9, threads);
    measure(job_warm, &j); // in a child: the parent stays small
    result fl = measure(job_floor, &j);
    // A second floor, the better one kept.
    measure(job_warm, &j); // in a child: the parent stays small
    result fl2 = measure(job_floor, &j);
    if (fl2.seconds < fl.seconds) fl = fl2;
    printf("%-10s %7.2f s (cpu %6.2f s)  %6.2f GB/s  peak RSS %7.1f MB\n", "io-floor", fl.seconds,
           fl.cpu, (double)(in_bytes + j.out_bytes) / 1e9 / fl.seconds, fl.rss_mb);
    const char *methods[] = {"ties", "dare_ties"};
    int rc = fl.rc;
    for (int k = 0; k < 2; k++) {
        j.method = methods[k];
        measure(job_warm, &j); // in a child: the parent stays small
        result r = measure(job_merge, &j);
        rc |= r.rc;
        printf("%-10s %7.2f s (cpu %6.2f s)  %6.2f GB/s  peak RSS %7.1f MB  ratio %.2f%s\n",
               methods[k], r.seconds, r.cpu, (double)(in_bytes + j.out_bytes) / 1e9 / r.seconds,
               r.rss_mb, r.seconds / fl.seconds, r.rc ? "  FAILED" : "");
    }
    if (!keep) mg_remove_tree(dir, NULL);
    for (int m = 0; m < 3; m++)
        free(j.inputs[m]);
    return rc;
}
