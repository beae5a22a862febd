/* evolve.c - per-candidate cost of data-aware merging: the in-memory path
 * (merge straight into the runtime's f32 weights) against the disk round trip
 * (write the merged model folder with the merge executor, load it back), with
 * the scoring time beside them for scale.
 *
 * Models are generated on disk (bf16 safetensors + config.json): a base and two
 * experts (base + noise) in the lab micro shape of reference/anchors.md
 * (hidden 256, 6 layers, 8 / 4 heads, FFN 768, vocab 4096) or Llama-3.2-1B's
 * (hidden 2048, 16 layers, 32 / 8 heads, FFN 8192, vocab 128256: ~7.5 GB of
 * inputs). Candidates are TIES genotypes with layer_granularity 1 around
 * mergekit-evolve's x0 (dtype bfloat16), as evolve builds them.
 * usage: bench_evolve [--shape lab|1b] [--candidates N (lab 30, 1b 4)] [--threads N]
 *                     [--dir DIR] [--score-tokens T] [--keep (the model folders)]
 *                     [--reuse (models kept by an earlier --keep run of the same shape)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "merge/config.h"
#include "merge/exec.h"
#include "merge/plan.h"
#include "nn/load.h"
#include "nn/model.h"
#include "nn/score.h"
#include "search/candidate.h"
#include "search/genome.h"

/* CPU seconds (user + sys) of the whole process so far: meaningful when
 * other work shares the machine and wall times are not. */
static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

typedef struct shape {
    int hidden, layers, heads, kv, ffn, vocab;
} shape;

static mg_arch make_arch(shape s) {
    mg_arch a;
    memset(&a, 0, sizeof a);
    a.family = MG_ARCH_LLAMA;
    snprintf(a.name, sizeof a.name, "LlamaForCausalLM");
    a.hidden = s.hidden;
    a.n_layers = s.layers;
    a.n_heads = s.heads;
    a.n_kv_heads = s.kv;
    a.head_dim = s.hidden / s.heads;
    a.ffn = s.ffn;
    a.vocab = s.vocab;
    a.max_pos = 4096;
    a.rope_theta = 500000.0;
    a.norm_eps = 1e-5;
    a.bos_id = -1;
    return a;
}

/* Adds amp * U[-1, 1) (keyed by salt, tensor, element) to every matrix. */
static void perturb(mg_nn_model *m, uint64_t salt, float amp) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < m->n_tensors; t++) {
        mg_nn_tensor *x = &m->tensors[t];
        if (x->ndim == 1) continue;
        uint64_t key = mg_rng_subkey(mg_rng_key(salt, x->name), 0);
        for (size_t i = 0; i < x->numel; i += 4096) {
            size_t n = x->numel - i < 4096 ? x->numel - i : 4096;
            float buf[4096];
            mg_rng_uniform_fill(key, i, buf, n);
            for (size_t k = 0; k < n; k++)
                x->data[i + k] += amp * (2.0f * buf[k] - 1.0f);
        }
    }
}

static int write_model(const mg_nn_model *m, shape s, const char *dir) {
    mg_error err = {0};
    if (mg_mkdir_p(dir, &err)) return 1;
    mg_tensor_spec *specs = mg_calloc(m->n_tensors, sizeof *specs);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const mg_nn_tensor *t = &m->tensors[i];
        specs[i] = (mg_tensor_spec){t->name, MG_DTYPE_BF16, t->ndim, {t->shape[0], t->shape[1]}};
    }
    mg_st_writer *w = NULL;
    int rc = 0;
    if (mg_st_writer_open(dir, specs, m->n_tensors, 0, &w, &err)) rc = 1;
    for (size_t i = 0; !rc && i < m->n_tensors; i++)
        if (mg_st_writer_write_f32(w, i, m->tensors[i].data, &err)) rc = 1;
    if (!rc && mg_st_writer_finish(w, &err)) rc = 1;
    if (rc) {
        fprintf(stderr, "bench_evolve: %s\n", err.msg);
        mg_st_writer_free(w);
    }
    free(specs);
    char *p = mg_path_join(dir, "config.json");
    FILE *f = fopen(p, "wb");
    free(p);
    if (!f) return 1;
    fprintf(f,
            "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
            "\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, "
            "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"vocab_size\": %d, "
            "\"max_position_embeddings\": 4096, \"rms_norm_eps\": 1e-05, \"rope_theta\": "
            "500000.0, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", "
            "\"hidden_act\": \"silu\"}\n",
            s.hidden, s.ffn, s.layers, s.heads, s.kv, s.vocab);
    fclose(f);
    return rc;
}

int main(int argc, char **argv) {
    const char *which = "lab", *dir = "/tmp/mg-bench-evolve";
    int cands = 0, threads = 0, score_tokens = 128; // cands 0: the shape's default
    bool keep = false, reuse = false;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--keep"))
            keep = true, i--;
        else if (!strcmp(argv[i], "--reuse"))
            reuse = true, i--;
        else if (i + 1 >= argc)
            break;
        else if (!strcmp(argv[i], "--shape"))
            which = argv[i + 1];
        else if (!strcmp(argv[i], "--candidates"))
            cands = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--score-tokens"))
            score_tokens = atoi(argv[i + 1]);
    }
    if (threads > 0) mg_set_threads(threads);
    mg_log_set_level(MG_LOG_WARN);
    shape s = !strcmp(which, "1b") ? (shape){2048, 16, 32, 8, 8192, 128256}
                                   : (shape){256, 6, 8, 4, 768, 4096};
    // Lab candidates take milliseconds: the first few still fault in scratch
    // pages and warm caches, so the steady state needs a longer run.
    if (cands <= 0) cands = !strcmp(which, "1b") ? 4 : 30;
    mg_error err = {0};
    mg_arch arch = make_arch(s);
    mg_nn_model *m = NULL;
    if (mg_nn_model_new(&arch, &m, &err)) {
        fprintf(stderr, "bench_evolve: %s\n", err.msg);
        return 1;
    }
    char base[512], e1[512], e2[512], out[512];
    snprintf(base, sizeof base, "%s/base", dir);
    snprintf(e1, sizeof e1, "%s/e1", dir);
    snprintf(e2, sizeof e2, "%s/e2", dir);
    snprintf(out, sizeof out, "%s/candidate", dir);
    double t0 = mg_now_seconds();
    char probe[600];
    snprintf(probe, sizeof probe, "%s/model.safetensors", e2);
    if (!reuse || !mg_path_is_file(probe)) {
        mg_remove_tree(dir, &err);
        perturb(m, 1, 0.04f);
        if (write_model(m, s, base)) return 1;
        perturb(m, 2, 0.01f);
        if (write_model(m, s, e1)) return 1;
        perturb(m, 3, 0.01f);
        if (write_model(m, s, e2)) return 1;
    }
    printf("bench_evolve: %s shape, %.3g M params, inputs written in %.1f s\n", which,
           (double)mg_nn_model_param_count(m) / 1e6, mg_now_seconds() - t0);

    char text[2048];
    snprintf(text, sizeof text,
             "genome:\n  models: [%s, %s]\n  merge_method: ties\n  base_model: %s\n"
             "  layer_granularity: 1\n  normalize: false\n",
             e1, e2, base);
    mg_yaml *y = NULL;
    mg_genome *g = NULL;
    if (mg_yaml_load_buffer(text, strlen(text), "bench", &y, &err) ||
        mg_genome_parse(mg_yaml_get(y, "genome"), "bench", NULL, &g, &err)) {
        fprintf(stderr, "bench_evolve: %s\n", err.msg);
        return 1;
    }
    size_t dim = mg_genome_dim(g);
    double *x = mg_malloc_array(dim, sizeof(double));
    int32_t *ids = mg_malloc_array((size_t)score_tokens, sizeof(int32_t));
    for (int i = 0; i < score_tokens; i++)
        ids[i] = (int32_t)(mg_rng_u32(7, (uint64_t)i) % (uint32_t)s.vocab);
    mg_score_item item = {ids, score_tokens, score_tokens / 2};

    double mem_plan = 0, mem_merge = 0, score = 0, disk_plan = 0, disk_write = 0, disk_load = 0;
    double mem_cpu = 0, disk_cpu = 0, first_mem = 0, first_cpu = 0;
    for (int c = 0; c < cands; c++) {
        mg_genome_initial(g, false, 0, x);
        for (size_t i = 0; i < dim; i++)
            x[i] += 0.1 * mg_rng_normal(mg_rng_key(c, "x"), i);
        char *yaml = mg_genome_to_yaml(g, x);
        // In memory.
        mg_candidate_stats cs = {0};
        double c0 = cpu_seconds();
        if (mg_candidate_merge(yaml, strlen(yaml), "candidate", NULL, 0, m, &cs, &err)) {
            fprintf(stderr, "bench_evolve: %s\n", err.msg);
            return 1;
        }
        if (c == 0 && cands > 1) {
            // The first candidate fills the input cache: reported apart.
            first_mem = cs.plan_seconds + cs.merge_seconds;
            first_cpu = cpu_seconds() - c0;
        } else {
            mem_cpu += cpu_seconds() - c0;
            mem_plan += cs.plan_seconds;
            mem_merge += cs.merge_seconds;
        }
        double ts = mg_now_seconds();
        mg_score sc;
        if (mg_nn_score(m, &item, 1, &sc, &err)) {
            fprintf(stderr, "bench_evolve: %s\n", err.msg);
            return 1;
        }
        score += mg_now_seconds() - ts;
        // Disk round trip: the same config through the file executor, then loaded back.
        double td = mg_now_seconds(), c1 = cpu_seconds();
        mg_merge_config *mc = NULL;
        mg_plan *plan = NULL;
        mg_model *md = NULL;
        if (mg_merge_config_parse(yaml, strlen(yaml), "candidate", NULL, &mc, &err) ||
            mg_plan_build(mc, 0, &plan, &err)) {
            fprintf(stderr, "bench_evolve: %s\n", err.msg);
            return 1;
        }
        double tw = mg_now_seconds();
        // Buffered writes: the file stays in the page cache for the load, the
        // favourable case for the disk path (direct I/O would make it re-read
        // the disk).
        mg_merge_opts mo = {.force = true, .shard_size = 1000000000000ull, .buffered = true};
        if (mg_merge_execute(plan, out, &mo, NULL, &err)) {
            fprintf(stderr, "bench_evolve: %s\n", err.msg);
            return 1;
        }
        double tl = mg_now_seconds();
        if (mg_model_open(out, &md, &err) || mg_nn_model_fill(m, md, &err)) {
            fprintf(stderr, "bench_evolve: %s\n", err.msg);
            return 1;
        }
        mg_model_close(md);
        double te = mg_now_seconds();
        disk_cpu += cpu_seconds() - c1;
        disk_plan += tw - td;
        disk_write += tl - tw;
        disk_load += te - tl;
        mg_plan_free(plan);
        mg_merge_config_free(mc);
        mg_remove_tree(out, &err);
        free(yaml);
    }
    double n = cands;
    double nm = cands > 1 ? cands - 1 : 1; // steady state: the first candidate apart
    double mem = (mem_plan + mem_merge) / nm, disk = (disk_plan + disk_write + disk_load) / n;
    printf("per candidate (mean of %d, %d threads):\n", cands, mg_get_threads());
    if (cands > 1)
        printf("  in memory, first candidate (fills the input cache): %.3f s, CPU %.3f s\n",
               first_mem, first_cpu);
    printf("  in memory:  plan %.3f s + merge into weights %.3f s = %.3f s\n", mem_plan / nm,
           mem_merge / nm, mem);
    printf("  disk:       plan %.3f s + merge & write %.3f s + load back %.3f s = %.3f s\n",
           disk_plan / n, disk_write / n, disk_load / n, disk);
    printf("  ratio disk / in-memory (excluding scoring): %.2fx\n", disk / mem);
    printf("  CPU time (user + sys): in memory %.3f s, disk %.3f s, ratio %.2fx\n", mem_cpu / nm,
           disk_cpu / n, (disk_cpu / n) / (mem_cpu / nm));
    printf("  scoring one %d-token record (half response): %.3f s\n", score_tokens, score / n);
    mg_nn_model_free(m);
    free(x);
    free(ids);
    mg_genome_free(g);
    mg_yaml_free(y);
    if (!keep) mg_remove_tree(dir, &err);
    return 0;
}
