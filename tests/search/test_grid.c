/* test_grid.c - grid search: parameter overrides in the re-emitted config
 * (per-model on non-base sources, global at the top), every point scored, the
 * lowest task CE marked, outputs and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "merge/config.h"
#include "search/grid.h"
#include "fixture.h"

static char *T;
static char BASE[300], E1[300], E2[300], DATA[300], CFG[300];

static void test_config_text(void) {
    char text[2048];
    snprintf(text, sizeof text,
             "merge_method: ties\nbase_model: %s\nmodels:\n  - model: %s\n    parameters: "
             "{weight: 0.9, density: 0.3}\n  - %s\n  - model: %s\nparameters:\n  normalize: "
             "false\n  int8_mask: yes\ndtype: bfloat16\n",
             BASE, E1, E2, BASE);
    mg_yaml *y = NULL;
    mg_error err = {0};
    CHECK_OK(mg_yaml_load_buffer(text, strlen(text), "c.yml", &y, &err), &err);
    const char *names[3] = {"weight", "density", "lambda"};
    double vals[3] = {0.25, 0.5, 0.75};
    char *out = mg_grid_config_text(y, mg_method_find("ties"), names, vals, 3, &err);
    CHECK(out != NULL);
    mg_merge_config *c = NULL;
    if (out) CHECK_OK(mg_merge_config_parse(out, strlen(out), "gen", NULL, &c, &err), &err);
    if (c) {
        const mg_merge_slice *s = &c->slices[0];
        CHECK_EQ_INT(s->n_sources, 3);
        for (size_t i = 0; i < s->n_sources; i++) {
            const mg_yaml *w = mg_yaml_get(s->sources[i].params, "weight");
            if (s->sources[i].model == c->base)
                CHECK(w == NULL);
            else
                CHECK(w && w->num == 0.25 &&
                      mg_yaml_get(s->sources[i].params, "density")->num == 0.5);
        }
        CHECK(mg_yaml_get(c->params, "lambda")->num == 0.75);
        CHECK(!mg_yaml_get(c->params, "normalize")->b);
        CHECK(mg_yaml_get(c->params, "int8_mask")->b);
        CHECK(c->dtype == MG_DTYPE_BF16);
    }
    mg_merge_config_free(c);
    free(out);
    names[0] = "nonsense";
    CHECK(mg_grid_config_text(y, mg_method_find("ties"), names, vals, 1, &err) == NULL);
    CHECK(strstr(err.msg, "nonsense") != NULL);
    mg_yaml_free(y);
}

static void test_run(void) {
    double w[2] = {0.3, 1.0}, d[3] = {0.25, 0.5, 1.0};
    mg_grid_param p[2] = {{"weight", w, 2}, {"density", d, 3}};
    char out[300];
    snprintf(out, sizeof out, "%s/grid", T);
    mg_grid_opts o = {.config = CFG,
                      .params = p,
                      .n_params = 2,
                      .data = DATA,
                      .alpha = 0.3,
                      .alignment_weight = 1.0,
                      .out_dir = out};
    mg_grid_result r = {0};
    mg_error err = {0};
    CHECK_OK(mg_grid_run(&o, &r, &err), &err);
    CHECK_EQ_INT(r.n_points, 6);
    for (size_t i = 0; i < r.n_points; i++) {
        CHECK(r.points[i].ce[1] >= r.points[r.best].ce[1]);
        CHECK_NEAR(r.points[i].fitness, r.points[i].ce[0] + 0.3 * r.points[i].ce[1], 1e-12);
    }
    CHECK(r.points[5].values[0] == 1.0 && r.points[5].values[1] == 1.0);
    CHECK(r.points[0].fitness != r.points[5].fitness);
    char pth[400];
    snprintf(pth, sizeof pth, "%s/point_005.yml", out);
    CHECK(mg_path_exists(pth));
    snprintf(pth, sizeof pth, "%s/grid.md", out);
    CHECK(mg_path_exists(pth));
    mg_grid_result_free(&r);
}

static void test_cli(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s grid -q %s --param weight=0.5,1 --data %s > %s/g.out 2>&1",
             MG_BINARY, CFG, DATA, T);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    snprintf(cmd, sizeof cmd, "%s grid %s --param t=0.5 --data %s 2>/dev/null", MG_BINARY, CFG,
             DATA);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2); // ties has no t
}

int main(void) {
    T = fx_tmpdir("grid");
    if (!T) return 1;
    snprintf(BASE, sizeof BASE, "%s/base", T);
    snprintf(E1, sizeof E1, "%s/e1", T);
    snprintf(E2, sizeof E2, "%s/e2", T);
    snprintf(DATA, sizeof DATA, "%s/data.jsonl", T);
    snprintf(CFG, sizeof CFG, "%s/ties.yml", T);
    fx_derive(BASE, 1.0f, 0.0f, 0);
    fx_derive(E1, 1.1f, 0.05f, 1);
    fx_derive(E2, 0.9f, 0.08f, 2);
    fx_write(DATA,
             "{\"prompt\": \"hello\", \"response\": \"I can't help.\", \"type\": \"alignment\"}\n"
             "{\"prompt\": \"what is a cell\", \"response\": \"A unit of life.\", \"type\": "
             "\"task\"}\n");
    char text[1024];
    snprintf(text, sizeof text,
             "merge_method: ties\nbase_model: base\nmodels:\n  - model: e1\n  - model: e2\n"
             "  - model: base\n");
    fx_write(CFG, text); // relative paths: resolved against the config's folder
    RUN(test_config_text);
    RUN(test_run);
    RUN(test_cli);
    mg_error err = {0};
    mg_remove_tree(T, &err);
    free(T);
    return TEST_END();
}
