/* gguf.c - fuzz target: a GGUF file through mg_gguf_open, then every key and
 * tensor accessor, the typed lookups of the keys a loader reads, and the f32
 * decoding of each (small) tensor. */
#include "fuzz_util.h"
#include "io/gguf_reader.h"

int mg_fuzz_gguf(const uint8_t *data, size_t size);

int mg_fuzz_gguf(const uint8_t *data, size_t size) {
    char path[1024];
    mg_fuzz_write("gguf", "x.gguf", data, size, path, sizeof path);
    mg_error err = {0};
    mg_gguf_file *f = NULL;
    mg_status st = mg_gguf_open(path, &f, &err);
    mg_fuzz_check_err("gguf", st, &err);
    if (st != MG_OK) return 0;
    (void)mg_gguf_version(f);
    (void)mg_gguf_alignment(f);
    // Without tensors the data section may be missing (its padding past the end).
    if (mg_gguf_tensor_count(f) && mg_gguf_data_offset(f) > mg_gguf_file_size(f)) abort();
    size_t nkv = mg_gguf_kv_count(f);
    for (size_t i = 0; i < nkv; i++) {
        const mg_gguf_kv *kv = mg_gguf_kv_at(f, i);
        if (mg_gguf_find_kv(f, kv->key) != kv) abort();
        if (kv->strs) {
            size_t sum = 0;
            for (uint64_t k = 0; k < kv->n; k++)
                for (uint64_t c = 0; c < kv->strs[k].len; c++)
                    sum += (unsigned char)kv->strs[k].s[c];
            (void)sum;
        }
    }
    uint32_t u;
    int32_t i32;
    float fl;
    bool b;
    mg_gguf_str s;
    const mg_gguf_kv *arr;
    mg_gguf_get_u32(f, "general.alignment", &u, &err);
    mg_gguf_get_u32(f, "llama.block_count", &u, &err);
    mg_gguf_get_i32(f, "tokenizer.ggml.bos_token_id", &i32, &err);
    mg_gguf_get_f32(f, "llama.rope.freq_base", &fl, &err);
    mg_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b, &err);
    mg_gguf_get_str(f, "general.architecture", &s, &err);
    if (mg_gguf_get_arr(f, "tokenizer.ggml.scores", MG_GGUF_FLOAT32, &arr, &err) == MG_OK)
        for (uint64_t k = 0; k < arr->n; k++)
            (void)mg_gguf_arr_f32(arr, k);
    if (mg_gguf_get_arr(f, "tokenizer.ggml.token_type", MG_GGUF_INT32, &arr, &err) == MG_OK)
        for (uint64_t k = 0; k < arr->n; k++)
            (void)mg_gguf_arr_i32(arr, k);
    size_t nt = mg_gguf_tensor_count(f);
    for (size_t i = 0; i < nt; i++) {
        const mg_gguf_tensor *t = mg_gguf_tensor_at(f, i);
        if (mg_gguf_find_tensor(f, t->name) != t) abort();
        if (t->numel <= 4096) {
            float *dst = malloc((t->numel ? t->numel : 1) * sizeof *dst);
            if (!dst) abort();
            st = mg_gguf_tensor_to_f32(t, dst, &err);
            mg_fuzz_check_err("gguf", st, &err);
            free(dst);
        }
    }
    mg_gguf_close(f);
    return 0;
}
