/* config.c - fuzz target: config.json. Parsed directly by mg_arch_from_json
 * (with the RoPE frequencies of an accepted architecture), then as the
 * config of a model folder next to the tiny-llama golden weights, opened by
 * mg_model_open and bound by mg_nn_model_from_dir (which checks every tensor
 * shape against the config). */
#include <jansson.h>

#include "fuzz_util.h"
#include "io/model_dir.h"
#include "nn/arch.h"
#include "nn/load.h"
#include "nn/model.h"

int mg_fuzz_config(const uint8_t *data, size_t size);

int mg_fuzz_config(const uint8_t *data, size_t size) {
    char dir[600], path[1024];
    mg_fuzz_dir("config", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat sb;
    if (lstat(path, &sb) != 0 &&
        symlink(MG_TEST_DATA "/golden/tiny-llama/model.safetensors", path) != 0) {
        perror(path);
        abort();
    }

    mg_error err = {0};
    json_error_t jerr;
    json_t *cfg = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (cfg) {
        mg_arch arch;
        mg_status st = mg_arch_from_json(cfg, "config.json", &arch, &err);
        mg_fuzz_check_err("config", st, &err);
        if (st == MG_OK) {
            double *inv = malloc(sizeof *inv * (size_t)(arch.head_dim / 2 + 1));
            if (!inv) abort();
            mg_arch_rope_inv_freq(&arch, inv);
            free(inv);
            for (int l = 0; l < arch.n_layers && l < 64; l++)
                (void)mg_arch_layer_window(&arch, l);
        }
        json_decref(cfg);
    }

    mg_fuzz_write("config", "config.json", data, size, path, sizeof path);
    mg_model *m = NULL;
    mg_status st = mg_model_open(dir, &m, &err);
    mg_fuzz_check_err("config", st, &err);
    if (st != MG_OK) return 0;
    mg_nn_model *nm = NULL;
    st = mg_nn_model_from_dir(m, &nm, &err);
    mg_fuzz_check_err("config", st, &err);
    mg_nn_model_free(nm);
    mg_model_close(m);
    return 0;
}
