/* test_bad.c - the malformed-input suite (issue 12): every case listed in a
 * tests/bad/<kind>/CASES.tsv runs the mergeguard binary (MG_BINARY: the
 * Release binary under `ctest`, the ASan + UBSan one in the Sanitize build
 * that `make test` also runs) and must
 *   - exit with the listed code (2 for bad input and usage, 1 for the few
 *     documented runtime failures),
 *   - print exactly one line on stderr, starting with "mergeguard", naming the
 *     listed file and containing every listed word (no sanitizer report),
 *   - print nothing on stdout,
 *   - write nothing: its output path (${O}) absent and no temporary sibling
 *     left in the folder around it.
 *
 * CASES.tsv lines: NAME <TAB> EXIT <TAB> COMMAND <TAB> FILE <TAB> WORDS...
 * COMMAND is split on spaces ('single quotes' group, "<PATH" feeds stdin);
 * FILE is the path the message must contain ("-" for command-line errors,
 * which name the option instead). Placeholders: ${D} the case folder, ${G}
 * tests/data/golden, ${DATA} tests/data, ${W} the work folder (generated
 * inputs under ${W}/gen, see bad_fixtures.h), ${O} the case's output path.
 * The tests/bad tree is first copied into the work folder with ${G}, ${W},
 * ${DATA} and ${D} expanded inside the files too (YAML configs name models).
 *
 * MG_BAD_VERBOSE=1 in the environment prints every case's message and time;
 * MG_BAD_ONLY=KIND runs one folder.
 *
 * A few cases need a file to change while mergeguard reads it; they are C
 * functions at the end (test_changing_files). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bad_fixtures.h"
#include "base/log.h"
#include "base/sigbus.h"
#include "merge/config.h"
#include "merge/exec.h"
#include "merge/plan.h"

#define SRC MG_SOURCE_DIR "/tests/bad"
#define CASE_TIMEOUT 60.0 // seconds; a hang fails the case

extern char **environ;

static char W[256];      // work folder
static int n_cases;      // cases run
static int n_failed;     // cases failed
static double slow_secs; // the slowest case
static char slow_name[256];

/* ---- placeholders and the mirrored tree ---- */

typedef struct vars {
    const char *d, *o;
} vars;

/* Returns an owned copy of s[0..len) with the placeholders replaced. */
static char *expand(const char *s, size_t len, const vars *v, size_t *out_len) {
    char g[512], w[512], data[512];
    snprintf(g, sizeof g, "%s/golden", MG_TEST_DATA);
    snprintf(w, sizeof w, "%s", W);
    snprintf(data, sizeof data, "%s", MG_TEST_DATA);
    const char *names[] = {"${D}", "${G}", "${W}", "${DATA}", "${O}"};
    const char *vals[] = {v->d, g, w, data, v->o};
    size_t cap = len + 1, n = 0;
    char *out = mg_malloc(cap);
    for (size_t i = 0; i < len;) {
        const char *rep = NULL;
        size_t skip = 0;
        for (int k = 0; k < 5 && s[i] == '$'; k++) {
            size_t kl = strlen(names[k]);
            if (vals[k] && i + kl <= len && !memcmp(s + i, names[k], kl)) {
                rep = vals[k];
                skip = kl;
            }
        }
        size_t add = rep ? strlen(rep) : 1;
        if (n + add + 1 > cap) {
            cap = 2 * (n + add + 1);
            out = mg_realloc(out, cap);
        }
        if (rep) {
            memcpy(out + n, rep, add);
            i += skip;
        } else {
            out[n] = s[i++];
        }
        n += add;
    }
    out[n] = 0;
    if (out_len) *out_len = n;
    return out;
}

/* Copies the tree src to dst, expanding placeholders in every file. */
static void mirror(const char *src, const char *dst, const char *case_dir) {
    mg_mkdir_p(dst, NULL);
    DIR *d = opendir(src);
    CHECK_MSG(d != NULL, "cannot list %s", src);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        char *s = mg_path_join(src, e->d_name), *t = mg_path_join(dst, e->d_name);
        if (mg_path_is_dir(s)) {
            mirror(s, t, case_dir ? case_dir : t);
        } else if (case_dir) { // files at the top (this runner) are not copied
            char *buf = NULL;
            size_t len = 0, n = 0;
            mg_error err = {0};
            CHECK_OK(mg_file_read_all(s, 0, &buf, &len, &err), &err);
            vars v = {case_dir, NULL};
            char *x = buf ? expand(buf, len, &v, &n) : NULL;
            if (x) fx_write(t, x, n);
            free(x);
            free(buf);
        }
        free(s);
        free(t);
    }
    closedir(d);
}

/* ---- running one case ---- */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Splits a command line: spaces separate, '...' groups, "<PATH" is stdin. */
static int split(char *s, char **argv, int max, char **stdin_path) {
    int n = 0;
    *stdin_path = NULL;
    argv[n++] = "mergeguard";
    while (*s && n < max - 1) {
        while (*s == ' ')
            s++;
        if (!*s) break;
        char *tok = s, *o = s;
        bool quoted = false;
        while (*s && (quoted || *s != ' ')) {
            if (*s == '\'') {
                quoted = !quoted;
                s++;
                continue;
            }
            *o++ = *s++;
        }
        if (*s) s++;
        *o = 0;
        if (tok[0] == '<')
            *stdin_path = tok + 1;
        else
            argv[n++] = tok;
    }
    argv[n] = NULL;
    return n;
}

/* Starts the binary with stdin / stdout / stderr redirected; 0 on failure.
 * posix_spawn (vfork-style) rather than fork: this process is big under ASan
 * and fork would copy its page tables for each of the several hundred cases. */
static pid_t spawn(char **argv, const char *in, const char *out, const char *errf) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int e = posix_spawn(&pid, MG_BINARY, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return e ? 0 : pid;
}

static int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs the binary to the end; its exit code, 128 + signal, or -1 on a timeout. */
static int run(char **argv, const char *in, const char *out, const char *errf, double *secs) {
    double t0 = now();
    pid_t pid = spawn(argv, in, out, errf);
    if (!pid) return -1;
    int status = 0;
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        if (now() - t0 > CASE_TIMEOUT) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            *secs = now() - t0;
            return -1;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    *secs = now() - t0;
    return exit_code(status);
}

static char *slurp(const char *path, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    if (mg_file_read_all(path, 0, &buf, &n, NULL)) return NULL;
    if (len) *len = n;
    return buf;
}

/* Entries of a folder (0 if it does not exist); the first one in *first. */
static int count_entries(const char *dir, char *first, size_t cap) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!n && first) snprintf(first, cap, "%s", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* One manifest line being run. */
typedef struct job {
    char *line; // owned copy; cols point into it
    char *cols[16];
    int nc;
    char label[300], outdir[700], out[760], so[760], se[760];
    char *case_dir, *cmd, *file;
    pid_t pid;
    double t0;
    bool *kind_ok;
} job;

/* Parses and starts a case; false (and a FAIL line) when it cannot start. */
static bool job_start(job *j, const char *kind, const char *case_dir, const char *line,
                      bool *kind_ok) {
    memset(j, 0, sizeof *j);
    j->kind_ok = kind_ok;
    j->line = mg_strdup(line);
    for (char *s = j->line; j->nc < 16;) {
        j->cols[j->nc++] = s;
        char *tab = strchr(s, '\t');
        if (!tab) break;
        *tab = 0;
        s = tab + 1;
    }
    char name[128]; // a local copy: gcc cannot tell j->cols from j->label
    size_t nl = strlen(j->cols[0]) < 100 ? strlen(j->cols[0]) : 100;
    memcpy(name, j->cols[0], nl);
    name[nl] = 0;
    snprintf(j->label, sizeof j->label, "%.100s/%s", kind, name);
    if (j->nc < 5) {
        fprintf(stderr, "FAIL %s: malformed manifest line (need 5+ columns)\n", j->label);
        return false;
    }
    char od[700];
    snprintf(od, sizeof od, "%.250s/out/%.100s/%.100s", W, kind, name);
    snprintf(j->outdir, sizeof j->outdir, "%s", od);
    snprintf(j->out, sizeof j->out, "%.500s/out", od);
    snprintf(j->so, sizeof j->so, "%.250s/out/%.100s/%.100s.stdout", W, kind, name);
    snprintf(j->se, sizeof j->se, "%.250s/out/%.100s/%.100s.stderr", W, kind, name);
    mg_mkdir_p(j->outdir, NULL);
    j->case_dir = mg_strdup(case_dir);
    vars v = {j->case_dir, j->out};
    j->cmd = expand(j->cols[2], strlen(j->cols[2]), &v, NULL);
    j->file = strcmp(j->cols[3], "-") ? expand(j->cols[3], strlen(j->cols[3]), &v, NULL) : NULL;
    char *argv[64], *in = NULL;
    split(j->cmd, argv, 64, &in);
    j->t0 = now();
    j->pid = spawn(argv, in, j->so, j->se);
    if (!j->pid) fprintf(stderr, "FAIL %s: cannot start %s\n", j->label, MG_BINARY);
    return j->pid != 0;
}

static void job_free(job *j) {
    free(j->line), free(j->case_dir), free(j->cmd), free(j->file);
    memset(j, 0, sizeof *j);
}

/* Checks a finished case (rc: exit code, -1 timed out). */
static void job_finish(job *j, int rc) {
    double secs = now() - j->t0;
    n_cases++;
    if (secs > slow_secs) {
        slow_secs = secs;
        snprintf(slow_name, sizeof slow_name, "%.250s", j->label);
    }
    vars v = {j->case_dir, j->out};
    int want = atoi(j->cols[1]);
    size_t elen = 0, olen = 0;
    char *e = slurp(j->se, &elen), *o = slurp(j->so, &olen);
    char problem[600] = "";
    const char *nl = e ? memchr(e, '\n', elen) : NULL;
    char left[256] = "";
    if (rc == -1)
        snprintf(problem, sizeof problem, "timed out after %.0f s", CASE_TIMEOUT);
    else if (rc != want)
        snprintf(problem, sizeof problem, "exit %d, want %d", rc, want);
    else if (!e || !elen || !nl || nl != e + elen - 1)
        snprintf(problem, sizeof problem, "stderr is not exactly one line");
    else if (strncmp(e, "mergeguard", 10))
        snprintf(problem, sizeof problem, "the stderr line is not mergeguard's");
    else if (strstr(e, "Sanitizer") || strstr(e, "runtime error:"))
        snprintf(problem, sizeof problem, "sanitizer report");
    else if (j->file && !strstr(e, j->file))
        snprintf(problem, sizeof problem, "message does not name %s", j->file);
    else if (olen)
        snprintf(problem, sizeof problem, "%zu bytes on stdout", olen);
    else if (count_entries(j->outdir, left, sizeof left))
        snprintf(problem, sizeof problem, "left '%s' beside its output", left);
    for (int k = 4; !problem[0] && k < j->nc; k++) {
        char *wd = expand(j->cols[k], strlen(j->cols[k]), &v, NULL);
        if (!strstr(e, wd)) snprintf(problem, sizeof problem, "'%s' not in the message", wd);
        free(wd);
    }
    if (getenv("MG_BAD_VERBOSE")) // MG_BAD_VERBOSE=1 shows every message
        printf("%-40s %5.2f s  %s", j->label, secs, e ? e : "(no stderr)\n");
    if (problem[0]) {
        fprintf(stderr, "FAIL %s: %s\n    command: %s\n    stderr: %.1500s\n", j->label, problem,
                j->cols[2], e ? e : "(none)");
        n_failed++;
        *j->kind_ok = false;
    }
    free(e);
    free(o);
}

/* Cases run MG_BAD_JOBS at a time (default 2: the suite is mostly process
 * start-up, especially under ASan); results do not depend on it. */
#define MAX_JOBS 8
static job g_jobs[MAX_JOBS];
static int g_njobs = 2;

/* Waits until a slot is free (all free when drain); finishes what ended. */
static void reap(bool drain) {
    for (;;) {
        int busy = 0;
        for (int i = 0; i < g_njobs; i++) {
            job *j = &g_jobs[i];
            if (!j->pid) continue;
            int status = 0;
            if (waitpid(j->pid, &status, WNOHANG) == j->pid) {
                job_finish(j, exit_code(status));
                job_free(j);
            } else if (now() - j->t0 > CASE_TIMEOUT) {
                kill(j->pid, SIGKILL);
                waitpid(j->pid, &status, 0);
                job_finish(j, -1);
                job_free(j);
            } else {
                busy++;
            }
        }
        if (drain ? busy == 0 : busy < g_njobs) return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void submit(const char *kind, const char *case_dir, const char *line, bool *kind_ok) {
    reap(false);
    for (int i = 0; i < g_njobs; i++)
        if (!g_jobs[i].pid) {
            if (!job_start(&g_jobs[i], kind, case_dir, line, kind_ok)) {
                n_cases++, n_failed++;
                *kind_ok = false;
                job_free(&g_jobs[i]);
            }
            return;
        }
}

/* ---- the manifests ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_manifests(void) {
    DIR *d = opendir(SRC);
    CHECK(d != NULL);
    if (!d) return;
    char *kinds[64];
    int nk = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nk < 64) {
        char *p = mg_path_join(SRC, e->d_name);
        if (e->d_name[0] != '.' && mg_path_is_dir(p)) kinds[nk++] = mg_strdup(e->d_name);
        free(p);
    }
    closedir(d);
    qsort(kinds, (size_t)nk, sizeof *kinds, cmp_str);
    const char *only = getenv("MG_BAD_ONLY"); // MG_BAD_ONLY=kind runs one folder
    if (getenv("MG_BAD_JOBS")) g_njobs = atoi(getenv("MG_BAD_JOBS"));
    if (g_njobs < 1 || g_njobs > MAX_JOBS) g_njobs = 2;
    bool ok[64];
    int counts[64] = {0};
    for (int k = 0; k < nk; k++) {
        char man[600], case_dir[600];
        ok[k] = true;
        if (only && strcmp(only, kinds[k])) continue;
        snprintf(man, sizeof man, "%s/src/%s/CASES.tsv", W, kinds[k]);
        snprintf(case_dir, sizeof case_dir, "%s/src/%s", W, kinds[k]);
        FILE *f = fopen(man, "r");
        CHECK_MSG(f != NULL, "no %s", man);
        char line[8192];
        while (f && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (!line[0] || line[0] == '#') continue;
            counts[k]++;
            submit(kinds[k], case_dir, line, &ok[k]);
        }
        if (f) fclose(f);
    }
    reap(true);
    for (int k = 0; k < nk; k++) {
        if (counts[k]) printf("%-14s %3d cases%s\n", kinds[k], counts[k], ok[k] ? "" : ", FAILED");
        CHECK_MSG(ok[k], "%s: some cases failed", kinds[k]);
        free(kinds[k]);
    }
}

/* --allow-nonfinite: the NaN case of merge_yaml proceeds, warns once naming
 * the tensor, and the NaN reaches the output where the input had it. */
static void test_allow_nonfinite(void) {
    char cfg[600], out[600], so[600], se[600];
    snprintf(cfg, sizeof cfg, "%s/src/merge_yaml/nan_weights.yml", W);
    snprintf(out, sizeof out, "%s/out/allow_nonfinite", W);
    snprintf(so, sizeof so, "%s/out/allow.stdout", W);
    snprintf(se, sizeof se, "%s/out/allow.stderr", W);
    char *argv[] = {"mergeguard", "merge", cfg, out, "--allow-nonfinite", "-v", NULL};
    double secs;
    int rc = run(argv, NULL, so, se, &secs);
    char *e = slurp(se, NULL);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, e ? e : "");
    CHECK(e && strstr(e, "tensor 'model.layers.0.mlp.up_proj.weight' has NaN values; merging "
                         "anyway (--allow-nonfinite)"));
    CHECK(e && !strstr(e, "Sanitizer"));
    free(e);
    mg_model *m = NULL;
    mg_error err = {0};
    CHECK_OK(mg_model_open(out, &m, &err), &err);
    float *x = NULL;
    if (m) CHECK_OK(mg_model_read_f32(m, "model.layers.0.mlp.up_proj.weight", &x, NULL, &err), &err);
    CHECK(x && isnan(x[3]) && isnan(x[100]) && !isnan(x[4]));
    free(x);
    mg_model_close(m);
}

/* ---- files that change while being read ---- */

/* A copy of gen/base (config.json + model.safetensors) that a case may damage. */
static void copy_base(const char *dst) {
    char src[600];
    snprintf(src, sizeof src, "%s/gen/base", W);
    mg_mkdir_p(dst, NULL);
    fx_copy_in(src, dst, "config.json");
    fx_copy_in(src, dst, "model.safetensors");
}

static int n_changing; // the cases below, counted with the manifests'

/* Merge inputs are read with pread: a shard truncated after the plan was
 * validated is a clean bad-input error naming the file and tensor, and the
 * output never appears (nor its temporary). */
static void test_shrink_during_merge(void) {
    char model[600], st[700], cfg[700], out[700], text[1600], dir[600];
    snprintf(dir, sizeof dir, "%s/out/changing/merge", W);
    mg_mkdir_p(dir, NULL);
    snprintf(model, sizeof model, "%s/gen/shrink_merge", W);
    copy_base(model);
    snprintf(st, sizeof st, "%s/model.safetensors", model);
    snprintf(cfg, sizeof cfg, "%s/c.yml", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(text, sizeof text,
             "merge_method: linear\nmodels:\n  - {model: %s/gen/base, parameters: {weight: 1}}\n"
             "  - {model: %s, parameters: {weight: 1}}\n",
             W, model);
    fx_write(cfg, text, strlen(text));
    mg_merge_config *c = NULL;
    mg_plan *plan = NULL;
    mg_error err = {0};
    CHECK_OK(mg_merge_config_load(cfg, &c, &err), &err);
    if (c) CHECK_OK(mg_plan_build(c, 0, &plan, &err), &err);
    if (!plan) {
        mg_merge_config_free(c);
        return;
    }
    CHECK(truncate(st, 4096) == 0); // the header stays, the tensors go
    mg_merge_opts o = {.shard_size = 0};
    mg_status rc = mg_merge_execute(plan, out, &o, NULL, &err);
    CHECK_MSG(rc == MG_ERR_INVALID, "status %d: %s", rc, err.msg);
    CHECK_EQ_INT(mg_status_exit_code(rc), 2);
    CHECK_MSG(strstr(err.msg, st) && strstr(err.msg, "the file shrank while being read") &&
                  strstr(err.msg, "now 4096 bytes") && !strchr(err.msg, '\n'),
              "%s", err.msg);
    CHECK(!mg_path_exists(out));
    CHECK_EQ_INT(count_entries(dir, NULL, 0), 1); // c.yml only: no temporary left
    mg_plan_free(plan);
    mg_merge_config_free(c);
    n_changing++;
}

/* Mapped inputs (inspect --stats, model loading, export-gguf) fault when the
 * file shrinks under the mapping; the CLI's SIGBUS handler turns that into
 * one line naming the file, exit 2. Run in a child, as the CLI would. */
static void test_shrink_while_mapped(void) {
    char model[600], st[700], errf[700];
    snprintf(model, sizeof model, "%s/gen/shrink_map", W);
    copy_base(model);
    snprintf(st, sizeof st, "%s/model.safetensors", model);
    snprintf(errf, sizeof errf, "%s/out/shrink_map.stderr", W);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (e < 0) _exit(126);
        dup2(e, 2);
        mg_sigbus_install();
        mg_model *m = NULL;
        if (mg_model_open(model, &m, NULL)) _exit(125);
        if (truncate(st, 4096)) _exit(124);
        const mg_tensor_view *v = mg_model_find(m, "model.norm.weight"); // near the end
        float *x = malloc(v->numel * sizeof(float) + 4);
        mg_tensor_to_f32(v, x, NULL); // faults here
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 2, "child status %d", status);
    size_t len = 0;
    char *e = slurp(errf, &len);
    CHECK_MSG(e && len && memchr(e, '\n', len) == e + len - 1 && strstr(e, st) &&
                  strstr(e, "the file shrank from ") && strstr(e, " to 4096 bytes while being read"),
              "stderr: %s", e ? e : "(none)");
    free(e);
    n_changing++;
}

/* The same race through the CLI: `inspect --stats` on a 64 MB file that is
 * truncated a few milliseconds in. Depending on timing the truncation lands
 * before the header check, while the tensors are read, or after the run;
 * every outcome must be exit 0, or exit 2 with one line naming the file -
 * never a signal. */
static void test_shrink_race_cli(void) {
    char dir[600], path[700], so[700], se[700];
    snprintf(dir, sizeof dir, "%s/gen/race", W);
    mg_mkdir_p(dir, NULL);
    snprintf(path, sizeof path, "%s/big.safetensors", dir);
    snprintf(so, sizeof so, "%s/out/race.stdout", W);
    snprintf(se, sizeof se, "%s/out/race.stderr", W);
    const uint64_t n = (uint64_t)16 << 20; // F32 elements: 64 MB
    int hits[3] = {0};                       // exit 0, clean 2, SIGBUS message
    for (int trial = 0; trial < 6; trial++) {
        char hdr[128];
        int hl = snprintf(hdr, sizeof hdr,
                          "{\"w\":{\"dtype\":\"F32\",\"shape\":[%llu],\"data_offsets\":[0,%llu]}}",
                          (unsigned long long)n, (unsigned long long)(4 * n));
        while (hl % 8)
            hdr[hl++] = ' ';
        FILE *f = fopen(path, "wb");
        if (!f) return;
        uint64_t h = (uint64_t)hl;
        fwrite(&h, 8, 1, f);
        fwrite(hdr, 1, (size_t)hl, f);
        fseeko(f, (off_t)(8 + hl + 4 * n - 1), SEEK_SET);
        fputc(0, f);
        fclose(f);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            int o = open(so, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int e = open(se, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (o < 0 || e < 0) _exit(126);
            dup2(o, 1), dup2(e, 2);
            execl(MG_BINARY, "mergeguard", "inspect", path, "--stats", "-q", "--threads", "1",
                  (char *)NULL);
            _exit(127);
        }
        struct timespec ts = {0, (long)(1 + 6 * trial) * 1000000L};
        nanosleep(&ts, NULL);
        CHECK(truncate(path, 4096) == 0);
        int status = 0;
        waitpid(pid, &status, 0);
        size_t len = 0;
        char *e = slurp(se, &len);
        bool ok0 = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        bool ok2 = WIFEXITED(status) && WEXITSTATUS(status) == 2 && e && len &&
                   memchr(e, '\n', len) == e + len - 1 && strstr(e, path);
        CHECK_MSG(ok0 || ok2, "trial %d: status %d, stderr: %s", trial, status, e ? e : "");
        if (ok0) hits[0]++;
        if (ok2) hits[e && strstr(e, "shrank") ? 2 : 1]++;
        free(e);
    }
    printf("inspect --stats race: %d finished first, %d refused at the header check, %d caught "
           "by the SIGBUS handler\n",
           hits[0], hits[1], hits[2]);
    unlink(path);
    n_changing++;
}

/* The issue asks for at least 100 cases. */
static void test_count(void) {
    CHECK_MSG(n_cases + n_changing >= 100 || getenv("MG_BAD_ONLY"), "only %d cases",
              n_cases + n_changing);
}

int main(void) {
    snprintf(W, sizeof W, "/tmp/mg_bad_XXXXXX");
    if (!mkdtemp(W)) return 1;
    mg_log_set_level(MG_LOG_WARN);
    double t0 = now();
    char src[300];
    snprintf(src, sizeof src, "%s/src", W);
    mirror(SRC, src, NULL);
    fx_build(W);
    char outs[300];
    snprintf(outs, sizeof outs, "%s/out", W);
    mg_mkdir_p(outs, NULL);
    printf("fixtures built in %.1f s\n", now() - t0);
    RUN(test_manifests);
    RUN(test_allow_nonfinite);
    RUN(test_shrink_during_merge);
    RUN(test_shrink_while_mapped);
    RUN(test_shrink_race_cli);
    RUN(test_count);
    printf("%d manifest cases (%d failed) + %d changing-file cases; slowest %s (%.2f s); total "
           "%.1f s\n",
           n_cases, n_failed, n_changing, slow_name, slow_secs, now() - t0);
    int rc = TEST_END();
    if (!rc) mg_remove_tree(W, NULL);
    return rc;
}
