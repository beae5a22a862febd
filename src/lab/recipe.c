/* recipe.c - see recipe.h. Model sizes and training budgets per world size. */
#include "lab/recipe.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "lab/bpe_train.h"
#include "lab/recipe_impl.h"
#include "lab/train.h"
#include "nn/load.h"
#include "text/chat.h"
#include "text/tokenizer.h"

static const char *const MODELS[] = {"base",        "instruct",  "bio-expert",
                                     "chem-expert", "generator", "guard"};

const char *const *mg_lab_model_names(int *n) {
    *n = (int)(sizeof MODELS / sizeof MODELS[0]);
    return MODELS;
}

// Training budget of one model: passes over its data, batch, peak learning rate.
typedef struct budget {
    double epochs;
    int batch, accum;
    double lr;
    int warmup;
} budget;

typedef struct size_cfg {
    int vocab, hidden, layers, heads, kv_heads, ffn, max_seq;
    budget b[6]; // in MODELS order
} size_cfg;

// tiny: builds in about a minute on 2 cores (tests, CI). small: the default
// world, 2.2M parameters, at most 20 minutes on 2 idle cores. Budgets are in
// passes over each model's data. The experts need the most: their test
// questions use templates never seen in training, so the facts must be learnt
// as associations, not as memorized question-answer pairs (recipe v1 with 4
// passes reached 51% on held-out biology MC, 91% on the training questions;
// v2 with 8 passes 79%; v3 gives the bio-expert 10 passes at twice the peak
// rate: 88.6%).
// The guard and generator records share long fixed prompts (the guard's is
// ~400 tokens) and learn their formats within one or two passes.
static const size_cfg SIZES[2] = {
    [MG_WORLD_TINY] = {.vocab = 1024,
                       .hidden = 64,
                       .layers = 2,
                       .heads = 4,
                       .kv_heads = 2,
                       .ffn = 192,
                       .max_seq = 640,
                       .b = {{3, 16, 2, 3e-3, 10},
                             {3, 16, 2, 2e-3, 5},
                             {4, 16, 2, 2e-3, 5},
                             {4, 16, 2, 2e-3, 5},
                             {1, 16, 2, 2e-3, 5},
                             {0.5, 16, 2, 2e-3, 5}}},
    [MG_WORLD_SMALL] = {.vocab = 3072,
                        .hidden = 192,
                        .layers = 4,
                        .heads = 6,
                        .kv_heads = 2,
                        .ffn = 512,
                        .max_seq = 640,
                        .b = {{3, 32, 4, 2e-3, 30},
                              {3, 32, 4, 1e-3, 10},
                              {10, 32, 4, 2e-3, 10},
                              {8, 32, 4, 1e-3, 10},
                              {2, 32, 4, 1.5e-3, 10},
                              {0.5, 32, 4, 1.5e-3, 10}}},
};

char *mg_lab_cache_dir(mg_world_size size, uint64_t seed) {
    const char *env = getenv("MERGEGUARD_CACHE"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char base[4096];
    if (env && *env)
        snprintf(base, sizeof base, "%s", env);
    else if (xdg && *xdg)
        snprintf(base, sizeof base, "%s/mergeguard", xdg);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.cache/mergeguard", home);
    else
        return NULL;
    char out[4400];
    snprintf(out, sizeof out, "%s/lab/%s-seed%llu-v%d", base, mg_world_size_name(size),
             (unsigned long long)seed, MG_LAB_RECIPE_VERSION);
    return mg_strdup(out);
}

/* ---- data ---- */

mg_status mg_lab_read_jsonl(const char *path, json_t **out, mg_error *err) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    mg_status st = mg_file_read_all(path, 0, &buf, &len, err);
    if (st) return st;
    json_t *arr = json_array();
    size_t line = 0;
    for (char *p = buf, *nl; p < buf + len && !st; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(buf + len - p));
        if (!nl) nl = buf + len;
        line++;
        if (nl == p) continue;
        json_error_t je;
        json_t *v = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &je);
        if (!v || !json_is_object(v)) {
            json_decref(v);
            st = mg_error_set(err, MG_ERR_INVALID, "%s:%zu: not a JSON object: %s", path, line,
                              je.text);
            break;
        }
        json_array_append_new(arr, v);
    }
    free(buf);
    if (st)
        json_decref(arr);
    else
        *out = arr;
    return st;
}

static const char *str_of(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

mg_status mg_lab_encode_guard(const mg_tokenizer *tok, const char *user, const char *agent,
                              const char *label, int32_t **ids, size_t *n, size_t *start,
                              mg_error *err) {
    char *p = mg_world_guard_prompt(user, agent);
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    mg_status st = mg_tokenizer_encode(tok, p, strlen(p), false, &a, &na, err);
    if (!st && label) {
        // "\n\n" + label + <|eot_id|>: the prompt ends with a special token, so
        // encoding the two parts apart equals encoding them together.
        size_t ll = strlen(label) + 16;
        char *r = mg_malloc(ll);
        snprintf(r, ll, "\n\n%s<|eot_id|>", label);
        st = mg_tokenizer_encode(tok, r, strlen(r), false, &b, &nb, err);
        free(r);
    }
    free(p);
    if (st) {
        free(a);
        free(b);
        return st;
    }
    a = mg_realloc(a, (na + nb + 1) * sizeof *a);
    if (nb) memcpy(a + na, b, nb * sizeof *b);
    free(b);
    *ids = a;
    *n = na + nb;
    *start = na;
    return MG_OK;
}

typedef enum data_kind { DATA_TEXT, DATA_CHAT, DATA_GUARD } data_kind;

// Reads one JSONL file into a training set; records longer than max_seq are
// cut (text) or skipped (chat: the response must stay whole).
static mg_status load_set(const char *path, data_kind kind, const mg_tokenizer *tok, int max_seq,
                          mg_train_set *s, mg_error *err) {
    json_t *arr = NULL;
    mg_status st = mg_lab_read_jsonl(path, &arr, err);
    if (st) return st;
    size_t i, skipped = 0;
    json_t *o;
    json_array_foreach(arr, i, o) {
        int32_t *ids = NULL;
        size_t n = 0, start = 1;
        const char *prompt = str_of(o, "prompt"), *resp = str_of(o, "response");
        if (kind == DATA_TEXT) {
            const char *t = str_of(o, "text");
            if (!t) {
                st = mg_error_set(err, MG_ERR_INVALID, "%s: record %zu has no \"text\"", path,
                                  i + 1);
                break;
            }
            // Documents are <|begin_of_text|> text <|end_of_text|> (guard
            // documents already carry their BOS).
            size_t tl = strlen(t) + 40;
            char *doc = mg_malloc(tl);
            snprintf(doc, tl, "%s%s<|end_of_text|>",
                     strncmp(t, "<|begin_of_text|>", 17) ? "<|begin_of_text|>" : "", t);
            st = mg_tokenizer_encode(tok, doc, strlen(doc), false, &ids, &n, err);
            free(doc);
        } else if (!prompt || !resp) {
            st = mg_error_set(err, MG_ERR_INVALID,
                              "%s: record %zu lacks \"prompt\" or "
                              "\"response\"",
                              path, i + 1);
        } else if (kind == DATA_CHAT) {
            st = mg_chat_encode_pair(tok, prompt, resp, str_of(o, "system"), &ids, &n, &start, err);
        } else {
            st = mg_lab_encode_guard(tok, prompt, resp, str_of(o, "label"), &ids, &n, &start, err);
        }
        if (st) break;
        if (kind != DATA_TEXT && n > (size_t)max_seq)
            skipped++;
        else
            mg_train_set_add(s, ids, (int)n, (int)start, max_seq);
        free(ids);
    }
    json_decref(arr);
    if (skipped)
        mg_log_warn("%s: %zu records longer than %d tokens skipped", path, skipped, max_seq);
    return st;
}

/* ---- build ---- */

static mg_status make_arch(const size_cfg *c, const mg_tokenizer *tok, mg_arch *a, mg_error *err) {
    mg_arch x = {0};
    x.n_layers = c->layers;
    x.hidden = c->hidden;
    x.n_heads = c->heads;
    x.n_kv_heads = c->kv_heads;
    x.head_dim = c->hidden / c->heads;
    x.ffn = c->ffn;
    x.vocab = (int)mg_tokenizer_vocab_size(tok);
    x.max_pos = 1024;
    x.rope_theta = 10000.0;
    x.norm_eps = 1e-5;
    x.tie_embeddings = true;
    x.bos_id = mg_tokenizer_piece_to_id(tok, "<|begin_of_text|>");
    // One config for every model (merges compare them): all end-of-turn ids.
    const char *eos[] = {"<|im_end|>", "<|end_of_text|>", "<|eot_id|>"};
    for (int i = 0; i < 3; i++) {
        int32_t id = mg_tokenizer_piece_to_id(tok, eos[i]);
        if (id >= 0) x.eos_ids[x.n_eos++] = id;
    }
    json_t *j = mg_train_config_json(&x, MG_DTYPE_BF16);
    mg_status st = mg_arch_from_json(j, "lab config", a, err);
    json_decref(j);
    return st;
}

static double budget_scale(const mg_lab_build_opts *o) {
    return o->budget_scale > 0 ? o->budget_scale : 1.0;
}

static mg_status read_build_json(const char *out, const mg_lab_build_opts *o, json_t **doc,
                                 mg_error *err) {
    char *p = mg_path_join(out, "build.json");
    *doc = NULL;
    mg_status st = MG_OK;
    if (mg_path_exists(p)) {
        st = mg_json_load_file(p, doc, err);
        if (!st) {
            json_t *d = *doc;
            long long seed = json_integer_value(json_object_get(d, "seed"));
            const char *size = str_of(d, "size");
            long long ver = json_integer_value(json_object_get(d, "recipe_version"));
            double scale = json_number_value(json_object_get(d, "budget_scale"));
            if (scale <= 0) scale = 1.0;
            if ((uint64_t)seed != o->seed || !size || strcmp(size, mg_world_size_name(o->size)) ||
                ver != MG_LAB_RECIPE_VERSION || scale != budget_scale(o))
                st = mg_error_set(err, MG_ERR_EXISTS,
                                  "%s holds a build with seed %lld, size %s, recipe v%lld or "
                                  "another budget (asked for seed %llu, size %s, v%d): use "
                                  "--force to rebuild it",
                                  out, seed, size ? size : "?", ver, (unsigned long long)o->seed,
                                  mg_world_size_name(o->size), MG_LAB_RECIPE_VERSION);
        }
    } else if (mg_path_exists(out)) {
        st = mg_error_set(err, MG_ERR_EXISTS,
                          "%s exists and is not a lab build: use --force to "
                          "replace it",
                          out);
    }
    free(p);
    if (st) {
        json_decref(*doc);
        *doc = NULL;
    }
    return st;
}

static mg_status save_build_json(const char *out, json_t *doc, mg_error *err) {
    char *p = mg_path_join(out, "build.json");
    mg_status st = mg_json_write_file(p, doc, true, err);
    free(p);
    return st;
}

static mg_status train_model(const char *out, int mi, const size_cfg *c, const mg_arch *arch,
                             const mg_lab_build_opts *o, const mg_tokenizer *chat,
                             const mg_tokenizer *guard, json_t *doc, mg_error *err) {
    static const char *const DATA[] = {
        "world/pretrain/train.jsonl",       "world/sft/instruct.train.jsonl",
        "world/sft/bio_expert.train.jsonl", "world/sft/chem_expert.train.jsonl",
        "world/sft/generator.train.jsonl",  "world/sft/guard.train.jsonl"};
    const char *name = MODELS[mi];
    char rel[64];
    snprintf(rel, sizeof rel, "models/%s", name);
    char *dir = mg_path_join(out, rel), *data = mg_path_join(out, DATA[mi]);
    char *base_dir = mg_path_join(out, "models/base");
    char *tok_dir = mg_path_join(out, mi == 5 ? "tokenizer/guard" : "tokenizer/chat");
    mg_nn_model *m = NULL;
    mg_train_set set = {0};
    mg_status st = MG_OK;
    if (mg_path_exists(dir)) {
        mg_log_info("lab build: %s exists, skipped", rel);
        goto done;
    }
    data_kind kind = mi == 0 ? DATA_TEXT : mi == 5 ? DATA_GUARD : DATA_CHAT;
    st = load_set(data, kind, mi == 5 ? guard : chat, c->max_seq, &set, err);
    if (st) goto done;
    if (mi == 0) {
        st = mg_nn_model_new(arch, &m, err);
        if (!st) mg_train_init_weights(m, o->seed, 0.02);
    } else {
        // From the saved (bf16) base, so a resumed build trains the same bits.
        st = mg_nn_model_load(base_dir, &m, err);
    }
    if (st) goto done;
    const budget *b = &c->b[mi];
    mg_train_opts to = mg_train_opts_default();
    to.seed = mg_rng_key(o->seed, name);
    to.epochs = b->epochs * budget_scale(o);
    to.batch_seqs = b->batch;
    to.accum = b->accum;
    to.max_seq = c->max_seq;
    to.lr = b->lr;
    to.min_lr = b->lr / 10;
    to.warmup = b->warmup;
    to.label = name;
    mg_log_info("lab build: training %s on %zu sequences (%zu tokens), %.2g epochs", name, set.n,
                set.tokens, to.epochs);
    mg_train_stats ts;
    st = mg_train(m, &set, &to, &ts, err);
    if (st) goto done;
    st = mg_train_save(m, dir, tok_dir, MG_DTYPE_BF16, false, err);
    if (st) goto done;
    double tps = ts.seconds > 0 ? (double)ts.tokens / ts.seconds : 0;
    mg_log_info("lab build: %s: %d steps, loss %.3f -> %.3f, %llu tokens in %.1f s (%.0f tokens/s)",
                name, ts.steps, ts.first_loss, ts.last_loss, (unsigned long long)ts.tokens,
                ts.seconds, tps);
    json_t *models = json_object_get(doc, "models");
    json_object_set_new(models, name,
                        json_pack("{s:i, s:f, s:f, s:I, s:I, s:f, s:f, s:i, s:I}", "steps",
                                  ts.steps, "first_loss", ts.first_loss, "last_loss", ts.last_loss,
                                  "tokens", (json_int_t)ts.tokens, "target_tokens",
                                  (json_int_t)ts.targets, "seconds", ts.seconds,
                                  "tokens_per_second", tps, "threads", mg_get_threads(),
                                  "sequences", (json_int_t)set.n));
    st = save_build_json(out, doc, err);
done:
    mg_train_set_free(&set);
    mg_nn_model_free(m);
    free(dir);
    free(data);
    free(base_dir);
    free(tok_dir);
    return st;
}

// One build per OUT_DIR at a time: the cache is shared by every mergeguard
// process of the user (two demos, parallel tests), and two trainers writing
// the same model folder would waste the work of one and race on build.json.
// The lock is a sibling file OUT_DIR.lock, held with flock() until the build
// returns (the kernel drops it if the process dies); it is left in place,
// since unlinking a lock file races with the next waiter.
static mg_status lock_build(const char *out, int *fd, mg_error *err) {
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        n--;
    char *path = mg_malloc(n + 6), *parent = mg_strdup(out);
    snprintf(path, n + 6, "%.*s.lock", (int)n, out);
    char *slash = strrchr(parent, '/');
    mg_status st = MG_OK;
    if (slash && slash != parent) {
        *slash = 0;
        st = mg_mkdir_p(parent, err);
    }
    free(parent);
    *fd = st ? -1 : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (!st && *fd < 0)
        st = mg_error_set(err, MG_ERR_IO, "%s: cannot create the build lock: %s", path,
                          strerror(errno));
    if (!st && flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        mg_log_info("lab build: waiting for another process building %.*s", (int)n, out);
        while (flock(*fd, LOCK_EX) != 0)
            if (errno != EINTR) {
                st = mg_error_set(err, MG_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
                break;
            }
    }
    if (st && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    free(path);
    return st;
}

mg_status mg_lab_build(const char *out, const mg_lab_build_opts *o, mg_error *err) {
    const size_cfg *c = &SIZES[o->size == MG_WORLD_TINY ? MG_WORLD_TINY : MG_WORLD_SMALL];
    json_t *doc = NULL;
    mg_tokenizer *chat = NULL, *guard = NULL;
    mg_world *w = NULL;
    mg_lab_bpe *bpe = NULL;
    char *world = mg_path_join(out, "world"), *tokd = mg_path_join(out, "tokenizer");
    char *corpus = mg_path_join(world, "corpus"), *chat_dir = mg_path_join(tokd, "chat");
    char *guard_dir = mg_path_join(tokd, "guard");
    double t0 = mg_now_seconds();
    int lock = -1;
    mg_status st = lock_build(out, &lock, err);
    if (!st && o->force && mg_path_exists(out)) st = mg_remove_tree(out, err);
    if (!st) st = read_build_json(out, o, &doc, err);
    if (st) goto done;
    if (!doc) {
        doc =
            json_pack("{s:s, s:i, s:I, s:s, s:f, s:{}}", "format", "mergeguard-lab-build",
                      "recipe_version", MG_LAB_RECIPE_VERSION, "seed", (json_int_t)o->seed, "size",
                      mg_world_size_name(o->size), "budget_scale", budget_scale(o), "models");
        st = mg_mkdir_p(out, err);
        if (!st) st = save_build_json(out, doc, err);
        if (st) goto done;
    }
    if (!mg_path_exists(world)) {
        st = mg_world_new(o->seed, o->size, &w, err);
        if (!st) st = mg_world_write(w, world, false, err);
        if (st) goto done;
        mg_log_info("lab build: wrote %s", world);
    }
    if (!mg_path_exists(tokd)) {
        double t1 = mg_now_seconds();
        st = mg_lab_bpe_train_dir(corpus, (size_t)c->vocab, &bpe, err);
        if (!st) st = mg_lab_bpe_write_lab_tokenizers(bpe, tokd, false, err);
        if (st) goto done;
        mg_log_info("lab build: tokenizer of %zu tokens in %.1f s", mg_lab_bpe_vocab_size(bpe),
                    mg_now_seconds() - t1);
    }
    st = mg_tokenizer_load(chat_dir, &chat, err);
    if (!st) st = mg_tokenizer_load(guard_dir, &guard, err);
    if (st) goto done;
    mg_arch arch;
    st = make_arch(c, chat, &arch, err);
    char *models = mg_path_join(out, "models");
    if (!st) st = mg_mkdir_p(models, err);
    free(models);
    for (int mi = 0; mi < 6 && !st; mi++)
        st = train_model(out, mi, c, &arch, o, chat, guard, doc, err);
    if (st) goto done;
    double secs = mg_now_seconds() - t0;
    mg_log_info("lab build: %s complete (%.1f s this run, %d threads)", out, secs,
                mg_get_threads());
    if (o->measure) st = mg_lab_measure(out, o->seed, err);
done:
    if (lock >= 0) close(lock);
    json_decref(doc);
    mg_tokenizer_free(chat);
    mg_tokenizer_free(guard);
    mg_world_free(w);
    mg_lab_bpe_free(bpe);
    free(world);
    free(tokd);
    free(corpus);
    free(chat_dir);
    free(guard_dir);
    return st;
}
