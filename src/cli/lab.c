/* lab.c - `mergeguard lab`: the micro world (issue 6).
 *   lab world OUT_DIR [--seed S] [--size tiny|small] [--force]
 *   lab tokenizer CORPUS_DIR OUT_DIR [--vocab N] [--force]
 *   lab build [OUT_DIR] [--seed S] [--size tiny|small] [--force] [--no-measure] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "cli/cli.h"
#include "lab/bpe_train.h"
#include "lab/recipe.h"
#include "lab/world.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: mergeguard lab world OUT_DIR [--seed S] [--size tiny|small] [--force]\n"
            "       mergeguard lab tokenizer CORPUS_DIR OUT_DIR [--vocab N] [--force]\n"
            "       mergeguard lab build [OUT_DIR] [--seed S] [--size tiny|small] [--force]\n"
            "                            [--no-measure]\n\n"
            "world      writes the micro world: an invented general world, an invented biology and\n"
            "           chemistry, harmful requests in the 14 BeaverTails categories with refusals\n"
            "           and placeholder-only compliant answers, the generator / expert / guard\n"
            "           formats, as a tokenizer corpus and train/valid/test JSONL splits\n"
            "           (OUT_DIR/manifest.json lists them). Same seed, same bytes.\n"
            "           --seed S      random seed (default 1)\n"
            "           --size SIZE   tiny (tests) or small (default)\n"
            "tokenizer  learns a byte-level BPE from every *.txt in CORPUS_DIR (e.g. OUT_DIR/corpus\n"
            "           of `lab world`) and writes OUT_DIR/{chat,guard}/ each with tokenizer.json and\n"
            "           tokenizer_config.json (ChatML template; Llama-Guard-3 layout for guard).\n"
            "           --vocab N     vocabulary size including special tokens (default 3072)\n"
            "build      builds the whole world: `world`, `tokenizer`, then trains six Llama models\n"
            "           (base, instruct, bio-expert, chem-expert, generator, guard) as HF folders\n"
            "           under OUT_DIR/models, and measures them with the runtime (report.json,\n"
            "           report.md). Models already built are kept (resume). Without OUT_DIR the\n"
            "           build goes to the cache: $MERGEGUARD_CACHE, $XDG_CACHE_HOME/mergeguard or\n"
            "           ~/.cache/mergeguard, under lab/<size>-seed<S>-v<recipe>. Same seed and\n"
            "           thread count, same bits. small takes up to ~20 min on 2 cores, tiny ~1 min.\n"
            "           --no-measure  skip the measurements\n"
            "--force    replace an existing OUT_DIR\n"
            "common options: -q/--quiet, -v/--verbose, --threads N\n");
}

static int cmd_world(int argc, char **argv) {
    const char *out = NULL;
    long long seed = 1;
    mg_world_size size = MG_WORLD_SMALL;
    bool force = false, bad = false;
    mg_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (i + 1 >= argc || !mg_cli_parse_int(argv[i + 1], 0, INT64_MAX, &seed))
                return mg_cli_usage_error("lab world", "--seed expects a non-negative integer");
            i++;
        } else if (!strcmp(a, "--size")) {
            if (i + 1 >= argc || mg_world_size_parse(argv[i + 1], &size, &err))
                return mg_cli_usage_error("lab world", "--size expects tiny or small");
            i++;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("lab world", "unknown option '%s'", a);
        } else if (!out) {
            out = a;
        } else {
            return mg_cli_usage_error("lab world", "unexpected argument '%s'", a);
        }
    }
    if (!out) return mg_cli_usage_error("lab world", "missing OUT_DIR");
    double t0 = mg_now_seconds();
    mg_world *w = NULL;
    if (mg_world_new((uint64_t)seed, size, &w, &err)) return mg_cli_fail(&err);
    mg_status st = mg_world_write(w, out, force, &err);
    if (!st)
        mg_log_info("lab world: wrote %s (seed %lld, size %s, %zu harmful train prompts, %zu bio MC "
                    "test questions) in %.2f s",
                    out, seed, mg_world_size_name(size), mg_world_count(w, "harm", MG_SPLIT_TRAIN),
                    mg_world_count(w, "mc_bio", MG_SPLIT_TEST), mg_now_seconds() - t0);
    mg_world_free(w);
    return st ? mg_cli_fail(&err) : 0;
}

static int cmd_tokenizer(int argc, char **argv) {
    const char *corpus = NULL, *out = NULL;
    long long vocab = 3072;
    bool force = false, bad = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--vocab")) {
            if (i + 1 >= argc || !mg_cli_parse_int(argv[i + 1], 300, 1 << 20, &vocab))
                return mg_cli_usage_error("lab tokenizer", "--vocab expects an integer from 300 to 1048576");
            i++;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("lab tokenizer", "unknown option '%s'", a);
        } else if (!corpus) {
            corpus = a;
        } else if (!out) {
            out = a;
        } else {
            return mg_cli_usage_error("lab tokenizer", "unexpected argument '%s'", a);
        }
    }
    if (!corpus || !out) return mg_cli_usage_error("lab tokenizer", "expected CORPUS_DIR and OUT_DIR");
    mg_error err = {0};
    double t0 = mg_now_seconds();
    mg_lab_bpe *bpe = NULL;
    mg_status st = mg_lab_bpe_train_dir(corpus, (size_t)vocab, &bpe, &err);
    if (!st) {
        double t1 = mg_now_seconds();
        st = mg_lab_bpe_write_lab_tokenizers(bpe, out, force, &err);
        if (!st)
            mg_log_info("lab tokenizer: %zu tokens (%zu merges) learned from %s in %.2f s; wrote %s",
                        mg_lab_bpe_vocab_size(bpe), mg_lab_bpe_n_merges(bpe), corpus, t1 - t0, out);
    }
    mg_lab_bpe_free(bpe);
    return st ? mg_cli_fail(&err) : 0;
}

static int cmd_build(int argc, char **argv) {
    const char *out = NULL;
    long long seed = 1;
    mg_lab_build_opts o = {.size = MG_WORLD_SMALL, .measure = true};
    bool bad = false;
    mg_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mg_cli_common_option(argc, argv, &i, &bad)) {
            if (bad) return 2;
        } else if (!strcmp(a, "--seed")) {
            if (i + 1 >= argc || !mg_cli_parse_int(argv[i + 1], 0, INT64_MAX, &seed))
                return mg_cli_usage_error("lab build", "--seed expects a non-negative integer");
            i++;
        } else if (!strcmp(a, "--size")) {
            if (i + 1 >= argc || mg_world_size_parse(argv[i + 1], &o.size, &err))
                return mg_cli_usage_error("lab build", "--size expects tiny or small");
            i++;
        } else if (!strcmp(a, "--force")) {
            o.force = true;
        } else if (!strcmp(a, "--no-measure")) {
            o.measure = false;
        } else if (a[0] == '-' && a[1]) {
            return mg_cli_usage_error("lab build", "unknown option '%s'", a);
        } else if (!out) {
            out = a;
        } else {
            return mg_cli_usage_error("lab build", "unexpected argument '%s'", a);
        }
    }
    o.seed = (uint64_t)seed;
    char *cache = NULL;
    if (!out) {
        cache = mg_lab_cache_dir(o.size, o.seed);
        if (!cache)
            return mg_cli_usage_error("lab build", "no OUT_DIR and no cache folder (set "
                                      "MERGEGUARD_CACHE or HOME)");
        out = cache;
    }
    mg_status st = mg_lab_build(out, &o, &err);
    if (!st) printf("%s\n", out);
    free(cache);
    return st ? mg_cli_fail(&err) : 0;
}

int mg_cmd_lab(int argc, char **argv) {
    if (argc < 2) return mg_cli_usage_error("lab", "missing SUBCOMMAND (world, tokenizer, build)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    if (!strcmp(argv[1], "world")) return cmd_world(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tokenizer")) return cmd_tokenizer(argc - 1, argv + 1);
    if (!strcmp(argv[1], "build")) return cmd_build(argc - 1, argv + 1);
    return mg_cli_usage_error("lab", "unknown subcommand '%s' (world, tokenizer, build)", argv[1]);
}
