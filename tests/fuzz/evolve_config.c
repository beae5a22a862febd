/* evolve_config.c - fuzz target: a mergekit-evolve config (YAML, the
 * `genome:` mapping and the search keys) through mg_evolve_config_load, next
 * to links to the golden test models (tiny-llama, tiny-llama3, tiny-qwen2,
 * tiny-qwen3). An accepted genome is decoded at its initial point and turned
 * into a merge config, which mg_merge_config_parse must accept: every
 * candidate evolve writes has to be mergeable. */
#include "fuzz_util.h"
#include "merge/config.h"
#include "search/evolve.h"
#include "search/genome.h"

int mg_fuzz_evolve_config(const uint8_t *data, size_t size);

int mg_fuzz_evolve_config(const uint8_t *data, size_t size) {
    static const char *const models[] = {"tiny-llama", "tiny-llama3", "tiny-qwen2", "tiny-qwen3"};
    char dir[600], path[1024];
    mg_fuzz_dir("evolve_config", dir, sizeof dir);
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char link[1024], target[1024];
        snprintf(link, sizeof link, "%s/%s", dir, models[i]);
        snprintf(target, sizeof target, "%s/golden/%s", MG_TEST_DATA, models[i]);
        struct stat sb;
        if (lstat(link, &sb) != 0 && symlink(target, link) != 0) {
            perror(link);
            abort();
        }
    }
    mg_fuzz_write("evolve_config", "evolve.yml", data, size, path, sizeof path);
    mg_error err = {0};
    mg_evolve_config *c = NULL;
    mg_status st = mg_evolve_config_load(path, &c, &err);
    mg_fuzz_check_err("evolve_config", st, &err);
    if (st != MG_OK) return 0;
    const mg_genome *g = c->genome;
    size_t dim = mg_genome_dim(g);
    if (dim > 0 && dim <= 4096) {
        double *x = malloc(dim * sizeof *x);
        if (!x) abort();
        mg_genome_initial(g, c->random_init, c->seed, x);
        for (size_t i = 0; i < dim; i++)
            (void)mg_genome_decode(g, x, i);
        char *yaml = mg_genome_to_yaml(g, x);
        mg_merge_config *mc = NULL;
        st = mg_merge_config_parse(yaml, strlen(yaml), "candidate.yml", dir, &mc, &err);
        if (st != MG_OK) {
            fprintf(stderr, "evolve_config: the genome's merge config is refused: %s\n%s\n",
                    err.msg, yaml);
            abort();
        }
        mg_merge_config_free(mc);
        free(yaml);
        free(x);
    }
    mg_evolve_config_free(c);
    return 0;
}
