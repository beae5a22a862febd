/* merge.c - `mergeguard merge CONFIG.yml OUT_DIR`: a mergekit-compatible merge. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/log.h"
#include "base/parallel.h"
#include "cli/cli.h"
#include "cli/merge_gguf.h"
#include "io/safetensors.h"
#include "merge/config.h"
#include "merge/exec.h"
#include "merge/plan.h"

static void help(void) {
    printf("usage: mergeguard merge CONFIG.yml OUT_DIR [options]\n\n"
           "Merges models as described by a mergekit YAML config (merge_method, models or\n"
           "slices, base_model, parameters, dtype, out_dtype, tokenizer_source, chat_template)\n"
           "into the model folder OUT_DIR. Everything is validated before any tensor is read;\n"
           "the folder appears only when complete.\n\n"
           "options:\n"
           "  --threads N           worker threads (default: all cores)\n"
           "  --out-shard-size SIZE shard size in bytes, K/M/G suffixes (default 5G)\n"
           "  --seed S              seed of DARE / DELLA masks (default 0)\n"
           "  --allow-nonfinite     merge inputs that hold NaN or Inf values (each such tensor\n"
           "                        is named in a warning); by default they fail the merge\n"
           "                        (exit 2) naming the file and tensor\n"
           "  --force               replace an existing OUT_DIR\n"
           "  --max-memory SIZE     refuse (exit 2, before writing anything) a merge whose\n"
           "                        estimated peak memory exceeds SIZE (K/M/G decimal,\n"
           "                        KiB/MiB/GiB binary); default: no limit. The estimate\n"
           "                        (also printed by --dry-run) bounds two output tensors\n"
           "                        plus threads x inputs x chunk buffers and the method's\n"
           "                        extras (top-k keys, masks); fewer --threads lower it\n"
           "  --dry-run             validate and print the per-tensor plan; OUT_DIR optional\n"
           "  --json                machine-readable output (plan or summary)\n"
           "  --gguf OUT.gguf       also write the merged model as GGUF (after OUT_DIR, the\n"
           "                        same file `export-gguf OUT_DIR OUT.gguf` writes; --force\n"
           "                        replaces an existing one)\n"
           "  --outtype T           GGUF storage of 2-D weights: f32, f16 (default), bf16, q8_0\n"
           "  -q, --quiet / -v, --verbose\n\n"
           "methods: linear, slerp, nuslerp, multislerp, karcher, task_arithmetic, ties,\n"
           "  dare_ties, dare_linear, breadcrumbs, breadcrumbs_ties, della, della_linear,\n"
           "  model_stock, sce, ram, ramplus_tl, nearswap, arcee_fusion, passthrough\n");
}

static const char *mib(uint64_t bytes, char *buf, size_t cap) {
    if (bytes < ((uint64_t)1 << 20))
        snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024.0);
    else
        snprintf(buf, cap, "%.1f MiB", (double)bytes / 1048576.0);
    return buf;
}

/* --max-memory: refuses a plan whose estimated peak exceeds the limit. */
static int mg_cli_check_memory(const mg_plan *plan, uint64_t limit) {
    mg_merge_memory m;
    mg_merge_estimate_memory(plan, mg_get_threads(), &m);
    if (m.peak <= limit) return 0;
    int fit = 0; // the most threads that would fit
    for (int t = m.threads - 1; t >= 1 && !fit; t--) {
        mg_merge_memory m2;
        mg_merge_estimate_memory(plan, t, &m2);
        if (m2.peak <= limit) fit = t;
    }
    char hint[64] = "";
    if (fit) snprintf(hint, sizeof hint, "; --threads %d would fit", fit);
    char a[32], b[32], c[32];
    fprintf(stderr,
            "mergeguard: error: merge needs about %s at its peak (estimate with %d threads, at "
            "tensor %s), more than --max-memory %s; biggest tensor %s (%s)%s\n",
            mib(m.peak, a, sizeof a), m.threads, plan->tensors[m.tensor].name,
            mib(limit, b, sizeof b), plan->tensors[m.biggest].name,
            mib(m.biggest_bytes, c, sizeof c), hint);
    return 2;
}

int mg_cmd_merge(int argc, char **argv) {
    const char *cfg_path = NULL, *out = NULL;
    uint64_t shard = 5000000000ull, seed = 0, max_mem = 0;
    bool force = false, dry = false, json = false, allow_nonfinite = false;
    mg_merge_gguf gguf = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool bad = false;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        }
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
            continue;
        }
        int g = mg_merge_gguf_option(argc, argv, &i, &gguf);
        if (g) {
            if (g < 0) return 2;
            continue;
        }
        if (!strcmp(a, "--force"))
            force = true;
        else if (!strcmp(a, "--dry-run"))
            dry = true;
        else if (!strcmp(a, "--json"))
            json = true;
        else if (!strcmp(a, "--allow-nonfinite"))
            allow_nonfinite = true;
        else if (!strcmp(a, "--max-memory")) {
            mg_error e = {0};
            if (i + 1 >= argc) return mg_cli_usage_error("merge", "%s needs a value", a);
            if (mg_parse_size(argv[++i], &max_mem, &e) || max_mem == 0)
                return mg_cli_usage_error("merge", "--max-memory: invalid size '%s'", argv[i]);
        } else if (!strcmp(a, "--out-shard-size") || !strcmp(a, "--seed")) {
            if (i + 1 >= argc) return mg_cli_usage_error("merge", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--seed")) {
                long long s;
                if (!mg_cli_parse_int(v, 0, 0x7fffffffffffffffLL, &s))
                    return mg_cli_usage_error("merge",
                                              "--seed expects a non-negative integer, got '%s'", v);
                seed = (uint64_t)s;
            } else {
                mg_error e = {0};
                if (mg_parse_size(v, &shard, &e) || shard == 0)
                    return mg_cli_usage_error("merge", "--out-shard-size: invalid size '%s'", v);
            }
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("merge", "unknown option '%s'", a);
        } else if (!cfg_path)
            cfg_path = a;
        else if (!out)
            out = a;
        else
            return mg_cli_usage_error("merge", "unexpected argument '%s'", a);
    }
    if (!cfg_path) return mg_cli_usage_error("merge", "missing CONFIG.yml");
    if (!out && !dry) return mg_cli_usage_error("merge", "missing OUT_DIR");
    mg_error err = {0};
    if (out && !dry && !force && mg_path_exists(out)) {
        mg_error_set(&err, MG_ERR_EXISTS, "%s already exists (use --force to replace it)", out);
        return mg_cli_fail(&err);
    }
    mg_merge_config *cfg = NULL;
    mg_plan *plan = NULL;
    int rc = 0;
    mg_status st = mg_merge_config_load(cfg_path, &cfg, &err);
    if (st) return mg_cli_fail(&err);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        mg_log_warn("%s", cfg->warnings[i]);
    st = mg_plan_build(cfg, seed, &plan, &err);
    if (!st) st = mg_merge_gguf_check(&gguf, plan, out, force, !dry, &err);
    if (st) {
        rc = mg_cli_fail(&err);
        goto done;
    }
    plan->allow_nonfinite = allow_nonfinite;
    if (dry) mg_plan_print(plan, stdout, json);
    if (max_mem && (rc = mg_cli_check_memory(plan, max_mem))) goto done;
    if (dry) goto done;
    mg_merge_opts o = {.shard_size = shard,
                       .force = force,
                       .progress = !json && mg_log_get_level() >= MG_LOG_INFO};
    mg_merge_stats stats = {0};
#ifdef __GLIBC__
    // A fixed mmap threshold: glibc otherwise raises it to the largest block
    // freed (up to 32 MiB) and keeps freed tensors' memory in the heap. Mapped
    // buffers are returned on free, so the resident set follows the executor's
    // live buffers, which the --max-memory estimate bounds.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    st = mg_merge_execute(plan, out, &o, &stats, &err);
    if (!st) st = mg_merge_gguf_write(&gguf, out, force, &err);
    if (st) {
        rc = mg_cli_fail(&err);
        goto done;
    }
    if (json) {
        // Through jansson: a path may hold quotes or backslashes (and one that
        // is not UTF-8 drops its key, as in the other --json outputs).
        json_t *sum = json_object();
        json_object_set_new(sum, "output", json_string(out));
        json_object_set_new(sum, "method", json_string(cfg->method->name));
        json_object_set_new(sum, "tensors", json_integer((json_int_t)plan->n_tensors));
        json_object_set_new(sum, "shards", json_integer((json_int_t)stats.shards));
        json_object_set_new(sum, "bytes_in", json_integer((json_int_t)stats.bytes_in));
        json_object_set_new(sum, "bytes_out", json_integer((json_int_t)stats.bytes_out));
        json_object_set_new(sum, "seconds", json_real(stats.seconds));
        json_object_set_new(sum, "threads", json_integer(mg_get_threads()));
        mg_merge_gguf_json(&gguf, sum);
        mg_cli_print_json(sum, JSON_COMPACT | JSON_PRESERVE_ORDER);
    } else
        mg_log_info("merged %zu tensors (%s) into %s: %zu shard(s), %.2f GB in %.2f s",
                    plan->n_tensors, cfg->method->name, out, stats.shards,
                    (double)stats.bytes_out / 1e9, stats.seconds);
done:
    mg_plan_free(plan);
    mg_merge_config_free(cfg);
    return rc;
}
