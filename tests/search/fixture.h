/* fixture.h - small model folders for the search tests, derived at run time
 * from the tiny-llama golden model (perturbed copies play base and experts)
 * with the tiny-chat tokenizer (its ChatML template) copied in. Header-only,
 * static helpers. */
#ifndef MG_TESTS_SEARCH_FIXTURE_H
#define MG_TESTS_SEARCH_FIXTURE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "test.h"

#define FX_GOLDEN MG_TEST_DATA "/golden/tiny-llama"
#define FX_TOKENIZER MG_TEST_DATA "/templates/tiny-chat"

static void fx_copy_file(const char *src, const char *dst) {
    char *buf = NULL;
    size_t len = 0;
    mg_error err = {0};
    if (mg_file_read_all(src, 0, &buf, &len, &err)) return;
    FILE *f = fopen(dst, "wb");
    if (f) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
    free(buf);
}

/* dst = tiny-llama with every weight w -> w * scale + noise * h(e, salt), where h is a
 * fixed pseudo-random value in [-1, 1]; plus the tiny-chat tokenizer. */
static void fx_derive(const char *dst, float scale, float noise, unsigned salt) {
    mg_model *m = NULL;
    mg_error err = {0};
    CHECK_OK(mg_model_open(FX_GOLDEN, &m, &err), &err);
    if (!m) return;
    mg_mkdir_p(dst, &err);
    size_t n = mg_model_tensor_count(m);
    mg_tensor_spec *specs = mg_calloc(n, sizeof *specs);
    for (size_t i = 0; i < n; i++) {
        const mg_tensor_view *v = mg_model_tensor_at(m, i);
        specs[i] = (mg_tensor_spec){v->name, v->dtype, v->ndim, {0}};
        memcpy(specs[i].shape, v->shape, sizeof specs[i].shape);
    }
    mg_st_writer *w = NULL;
    CHECK_OK(mg_st_writer_open(dst, specs, n, 0, &w, &err), &err);
    for (size_t i = 0; w && i < n; i++) {
        const mg_tensor_view *v = mg_model_tensor_at(m, i);
        float *x = mg_calloc(v->numel + 1, sizeof(float));
        mg_tensor_to_f32(v, x, &err);
        for (uint64_t e = 0; e < v->numel; e++) {
            uint32_t h = (uint32_t)((e + 1) * 2654435761u) ^ (salt * 40503u + (uint32_t)i * 977u);
            h ^= h >> 15;
            h *= 2246822519u;
            h ^= h >> 13;
            float r = (float)(h % 2001u) / 1000.0f - 1.0f;
            x[e] = x[e] * scale + noise * r;
        }
        CHECK_OK(mg_st_writer_write(w, i, x, &err), &err);
        free(x);
    }
    if (w) CHECK_OK(mg_st_writer_finish(w, &err), &err);
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", dst);
    json_dump_file(mg_model_config_of(m)->json, p, JSON_INDENT(2));
    snprintf(p, sizeof p, "%s/tokenizer.json", dst);
    fx_copy_file(FX_TOKENIZER "/tokenizer.json", p);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dst);
    fx_copy_file(FX_TOKENIZER "/tokenizer_config.json", p);
    free(specs);
    mg_model_close(m);
}

/* A fresh temporary folder (owned string). */
static char *fx_tmpdir(const char *tag) {
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/mg-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    return d ? mg_strdup(d) : NULL;
}

static void fx_write(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

#endif // MG_TESTS_SEARCH_FIXTURE_H
