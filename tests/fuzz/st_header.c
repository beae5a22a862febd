/* st_header.c - fuzz target: a safetensors file (8-byte length, JSON header,
 * data) through mg_st_open, then every accessor and the f32 conversion of
 * each (small) tensor. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "io/safetensors.h"

int mg_fuzz_st_header(const uint8_t *data, size_t size);

int mg_fuzz_st_header(const uint8_t *data, size_t size) {
    char path[1024];
    mg_fuzz_write("st_header", "x.safetensors", data, size, path, sizeof path);
    mg_error err = {0};
    mg_st_file *f = NULL;
    mg_status st = mg_st_open(path, &f, &err);
    mg_fuzz_check_err("st_header", st, &err);
    if (st != MG_OK) return 0;
    size_t n = mg_st_count(f);
    uint64_t data_start = mg_st_data_start(f), fsize = mg_st_file_size(f);
    if (data_start > fsize) abort();
    for (size_t i = 0; i < n; i++) {
        const mg_tensor_view *t = mg_st_at(f, i);
        if (mg_st_find(f, t->name) != t) abort();
        if (t->file_offset < data_start || t->file_offset + t->nbytes > fsize) abort();
        if (t->numel <= 4096) {
            float *dst = malloc((t->numel ? t->numel : 1) * sizeof *dst);
            if (!dst) abort();
            st = mg_tensor_to_f32(t, dst, &err);
            mg_fuzz_check_err("st_header", st, &err);
            free(dst);
        }
    }
    (void)mg_st_metadata(f, "format");
    mg_st_close(f);
    return 0;
}
