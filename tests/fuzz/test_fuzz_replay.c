/* test_fuzz_replay.c - replays the committed fuzz corpora without libFuzzer.
 *
 * Every target's entry function (tests/fuzz/<name>.c, the same code the
 * libFuzzer build runs) is fed each file of tests/fuzz/corpus/<name>/ (the
 * minimized corpus) and tests/fuzz/regress/<name>/ (the reproducers of bugs
 * the fuzzers found). Under the Sanitize build any memory error, undefined
 * behaviour or leak fails the test; the targets themselves abort on broken
 * invariants (error messages, ids, bounds). Each target needs a non-empty
 * corpus, so a lost folder cannot pass silently. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "config.c"
#include "evolve_config.c"
#include "extract_json.c"
#include "gguf.c"
#include "jsonl.c"
#include "merge_config.c"
#include "st_header.c"
#include "st_index.c"
#include "template.c"
#include "tokenize_text.c"
#include "tokenizer.c"

typedef struct replay_target {
    const char *name;
    int (*fn)(const uint8_t *data, size_t size);
} replay_target;

static const replay_target TARGETS[] = {
    {"config", mg_fuzz_config},
    {"evolve_config", mg_fuzz_evolve_config},
    {"extract_json", mg_fuzz_extract_json},
    {"gguf", mg_fuzz_gguf},
    {"jsonl", mg_fuzz_jsonl},
    {"merge_config", mg_fuzz_merge_config},
    {"st_header", mg_fuzz_st_header},
    {"st_index", mg_fuzz_st_index},
    {"template", mg_fuzz_template},
    {"tokenize_text", mg_fuzz_tokenize_text},
    {"tokenizer", mg_fuzz_tokenizer},
};

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds every file of dir to fn (in name order); returns the count, or -1
 * when the folder is missing. */
static long replay_dir(const replay_target *t, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names) abort();
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        CHECK_MSG(f != NULL, "cannot open %s", path);
        if (f) {
            fseek(f, 0, SEEK_END);
            long len = ftell(f);
            fseek(f, 0, SEEK_SET);
            uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
            if (!buf) abort();
            size_t got = len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
            fclose(f);
            CHECK_MSG(got == (size_t)(len > 0 ? len : 0), "short read of %s", path);
            // A copy of exactly len bytes, so ASan sees reads past the input.
            t->fn(buf, got);
            free(buf);
        }
        free(names[i]);
    }
    free(names);
    return (long)n;
}

static void test_replay(void) {
    for (size_t i = 0; i < sizeof TARGETS / sizeof TARGETS[0]; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", MG_SOURCE_DIR, TARGETS[i].name);
        long nc = replay_dir(&TARGETS[i], dir);
        CHECK_MSG(nc > 0, "%s: corpus missing or empty", dir);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", MG_SOURCE_DIR, TARGETS[i].name);
        long nr = replay_dir(&TARGETS[i], dir);
        printf("fuzz replay %-14s corpus %4ld  regressions %3ld\n", TARGETS[i].name, nc,
               nr < 0 ? 0 : nr);
    }
}

int main(void) {
    RUN(test_replay);
    return TEST_END();
}
