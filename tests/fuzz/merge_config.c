/* merge_config.c - fuzz target: a mergekit merge config (YAML). Parsed by
 * mg_merge_config_parse with model names resolved against the golden test
 * models (tiny-llama, tiny-llama3, tiny-qwen2, tiny-qwen3); an accepted
 * config is planned (mg_plan_build: models opened, every parameter resolved
 * per tensor) and the plan's small tensors merged in memory. */
#include "fuzz_util.h"
#include "merge/config.h"
#include "merge/plan.h"

int mg_fuzz_merge_config(const uint8_t *data, size_t size);

int mg_fuzz_merge_config(const uint8_t *data, size_t size) {
    char dir[600];
    mg_fuzz_dir("merge_config", dir, sizeof dir); // quiet logging, one thread
    mg_error err = {0};
    mg_merge_config *c = NULL;
    mg_status st = mg_merge_config_parse((const char *)data, size, "merge.yml",
                                         MG_TEST_DATA "/golden", &c, &err);
    mg_fuzz_check_err("merge_config", st, &err);
    if (st != MG_OK) return 0;
    mg_plan *p = NULL;
    st = mg_plan_build(c, 1, &p, &err);
    mg_fuzz_check_err("merge_config", st, &err);
    if (st == MG_OK) {
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            mg_plan_print(p, devnull, true);
            fclose(devnull);
        }
        int merged = 0;
        for (size_t i = 0; i < p->n_tensors && merged < 3; i++) {
            if (p->tensors[i].numel > 4096) continue;
            float *out = malloc((p->tensors[i].numel ? p->tensors[i].numel : 1) * sizeof *out);
            if (!out) abort();
            st = mg_plan_merge_tensor_f32(p, i, out, &err);
            mg_fuzz_check_err("merge_config", st, &err);
            free(out);
            merged++;
        }
        mg_plan_free(p);
    }
    mg_merge_config_free(c);
    return 0;
}
