/* st_index.c - fuzz target: model.safetensors.index.json plus up to two
 * shards. The input is INDEX [SEP SHARD1 [SEP SHARD2]] (SEP = MG_FUZZ_SEP);
 * the shards are written as model-00001-of-00002.safetensors and
 * model-00002-of-00002.safetensors. Opens the index alone, then the folder
 * (with a fixed config.json) as a model. */
#include "fuzz_util.h"
#include "io/model_dir.h"
#include "io/model_index.h"

int mg_fuzz_st_index(const uint8_t *data, size_t size);

static const char *const st_index_shards[2] = {"model-00001-of-00002.safetensors",
                                               "model-00002-of-00002.safetensors"};

int mg_fuzz_st_index(const uint8_t *data, size_t size) {
    mg_fuzz_part parts[3];
    size_t np = mg_fuzz_split(data, size, parts, 3);
    char path[1024], ipath[1024];
    mg_fuzz_clear_dir("st_index");
    mg_fuzz_write("st_index", "model.safetensors.index.json", parts[0].p, parts[0].n, ipath,
                  sizeof ipath);
    for (size_t i = 1; i < np; i++)
        mg_fuzz_write("st_index", st_index_shards[i - 1], parts[i].p, parts[i].n, path,
                      sizeof path);

    mg_error err = {0};
    mg_st_file **shards = NULL;
    size_t n = 0;
    mg_status st = mg_model_index_open(ipath, &shards, &n, &err);
    mg_fuzz_check_err("st_index", st, &err);
    if (st == MG_OK) {
        for (size_t i = 0; i < n; i++) {
            (void)mg_st_count(shards[i]);
            mg_st_close(shards[i]);
        }
        free(shards);
    }

    static const char config[] = "{\"architectures\":[\"LlamaForCausalLM\"],"
                                 "\"model_type\":\"llama\",\"hidden_size\":8}";
    mg_fuzz_write("st_index", "config.json", config, sizeof config - 1, path, sizeof path);
    mg_model *m = NULL;
    char dir[600];
    st = mg_model_open(mg_fuzz_dir("st_index", dir, sizeof dir), &m, &err);
    mg_fuzz_check_err("st_index", st, &err);
    if (st == MG_OK) {
        size_t nt = mg_model_tensor_count(m);
        for (size_t i = 0; i < nt; i++) {
            const mg_tensor_view *t = mg_model_tensor_at(m, i);
            if (mg_model_find(m, t->name) != t) abort();
        }
        (void)mg_model_find_tied(m, "lm_head.weight");
        (void)mg_model_param_count(m);
        mg_model_close(m);
    }
    return 0;
}
