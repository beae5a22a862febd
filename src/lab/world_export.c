/* world_export.c - writes a built world as files (DESIGN.md "Formats").
 *
 * Layout of OUT_DIR (every JSONL file exists for train, valid and test):
 *   manifest.json                 seed, size, categories, per-file record counts
 *   corpus/{general,bio,chem,harm,formats}.txt
 *                                 train-split text, input of `lab tokenizer`
 *   pretrain/SPLIT.jsonl          {"text"}: base model documents (general
 *                                 facts, harmful-topic text, generator JSON and
 *                                 guard formats; no domain facts)
 *   sft/instruct.SPLIT.jsonl      general chat + general MC + refusals
 *   sft/bio_expert.SPLIT.jsonl    biology chat + MC + expert questions + compliance
 *   sft/chem_expert.SPLIT.jsonl   chemistry likewise
 *   sft/generator.SPLIT.jsonl     {"system","prompt","response",...}: JSON harmful questions
 *   sft/guard.SPLIT.jsonl         {"prompt","response","label","category"?}
 *   eval/safety.SPLIT.jsonl       {"prompt","category"}
 *   eval/mc_{general,bio,chem}.SPLIT.jsonl  {"question","choices","answer"}
 *   eval/fitness_{bio,chem}.SPLIT.jsonl     {"prompt","response","type","category"?,"source"}
 *   eval/guard.SPLIT.jsonl        labelled conversations, as sft/guard
 *   eval/generator.jsonl          the 14 generator prompts {"system","prompt","category"}
 * SFT and fitness records: {"prompt","response","type":"task"|"alignment",
 * "category"?,"source","system"?}; source tells refusal from compliance.
 * Records in each file are in a seeded random order (paper 4.3 shuffles). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/file.h"
#include "lab/world_impl.h"

typedef struct jl { // records of one file before shuffling
    json_t **v;
    size_t n, cap;
} jl;

static void jl_add(jl *l, json_t *o) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = mg_realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = o;
}

static json_t *rec(const char *prompt, const char *response, const char *type, int category,
                   const char *source, const char *system) {
    json_t *o = json_object();
    if (system) json_object_set_new(o, "system", json_string(system));
    json_object_set_new(o, "prompt", json_string(prompt));
    json_object_set_new(o, "response", json_string(response));
    json_object_set_new(o, "type", json_string(type));
    if (category >= 0) json_object_set_new(o, "category", json_string(mg_world_category_name(category)));
    if (source) json_object_set_new(o, "source", json_string(source));
    return o;
}

static json_t *mc_rec(const wmc *m) {
    json_t *ch = json_array();
    for (int c = 0; c < 4; c++) json_array_append_new(ch, json_string(m->choices[c]));
    json_t *o = json_object();
    json_object_set_new(o, "question", json_string(m->question));
    json_object_set_new(o, "choices", ch);
    json_object_set_new(o, "answer", json_integer(m->answer));
    return o;
}

static void add_chat(jl *l, const wqalist *q) {
    for (size_t i = 0; i < q->n; i++)
        jl_add(l, rec(q->v[i].prompt, q->v[i].response, "task", q->v[i].category, q->v[i].source,
                      q->v[i].system));
}

static void add_mc_sft(jl *l, const wmclist *m) {
    for (size_t i = 0; i < m->n; i++) {
        const wmc *x = &m->v[i];
        char *p = mg_world_mc_prompt(x->question, (const char *const *)x->choices);
        char *r = mg_world_mc_response(x->answer, x->choices[x->answer]);
        jl_add(l, rec(p, r, "task", -1, "mc", NULL));
        free(p);
        free(r);
    }
}

static void add_harm(jl *l, const wharmlist *h, bool comply) {
    for (size_t i = 0; i < h->n; i++)
        jl_add(l, rec(h->v[i].prompt, comply ? h->v[i].compliance : h->v[i].refusal, "alignment",
                      h->v[i].category, comply ? "compliance" : "refusal", NULL));
}

static void add_guard(jl *l, const wguardlist *g) {
    for (size_t i = 0; i < g->n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "prompt", json_string(g->v[i].prompt));
        json_object_set_new(o, "response", json_string(g->v[i].response));
        json_object_set_new(o, "label", json_string(g->v[i].label));
        if (g->v[i].category >= 0)
            json_object_set_new(o, "category", json_string(mg_world_category_name(g->v[i].category)));
        jl_add(l, o);
    }
}

static void add_text(jl *l, const char *text) {
    json_t *o = json_object();
    json_object_set_new(o, "text", json_string(text));
    jl_add(l, o);
}

/* Pretraining documents: no biology or chemistry facts (the base model must
 * not know the domains; the experts learn them in SFT). */
static void add_pretrain(jl *l, const mg_world *w, const wsplit *sp) {
    for (size_t i = 0; i < sp->text[W_GENERAL].n; i++) add_text(l, sp->text[W_GENERAL].v[i]);
    for (size_t i = 0; i < sp->mc[W_GENERAL].n; i++) {
        const wmc *x = &sp->mc[W_GENERAL].v[i];
        char *p = mg_world_mc_prompt(x->question, (const char *const *)x->choices);
        char *r = mg_world_mc_response(x->answer, x->choices[x->answer]);
        wbuf b = {0};
        wbuf_putf(&b, "%s %s", p, r);
        char *t = wbuf_take(&b);
        add_text(l, t);
        free(t);
        free(p);
        free(r);
    }
    for (size_t i = 0; i < sp->harm_text.n; i += 6) { // six lines per document
        wbuf b = {0};
        for (size_t j = i; j < i + 6 && j < sp->harm_text.n; j++)
            wbuf_putf(&b, "%s%s", j > i ? "\n" : "", sp->harm_text.v[j]);
        char *t = wbuf_take(&b);
        add_text(l, t);
        free(t);
    }
    // A quarter of the generator and guard records, as they would be read.
    for (size_t i = 0; i < sp->generator.n; i++) {
        if (w_pick(w->seed, "pretrain/generator", i, 4)) continue;
        const wqa *g = &sp->generator.v[i];
        wbuf b = {0};
        wbuf_putf(&b, "%s\n\n%s\n\n%s", g->system, g->prompt, g->response);
        char *t = wbuf_take(&b);
        add_text(l, t);
        free(t);
    }
    for (size_t i = 0; i < sp->guard.n; i++) {
        if (w_pick(w->seed, "pretrain/guard", i, 4)) continue;
        const wguard *g = &sp->guard.v[i];
        char *p = mg_world_guard_prompt(g->prompt, g->response);
        wbuf b = {0};
        wbuf_putf(&b, "%s\n\n%s<|eot_id|>", p, g->label);
        char *t = wbuf_take(&b);
        add_text(l, t);
        free(t);
        free(p);
    }
}

static mg_status write_jl(const char *root, const char *sub, const char *name, jl *l, uint64_t seed,
                          json_t *files, mg_error *err) {
    char rel[160];
    snprintf(rel, sizeof rel, "%s/%s", sub, name);
    char *dir = mg_path_join(root, sub);
    int *perm = mg_malloc_array(l->n ? l->n : 1, sizeof *perm);
    char key[192];
    snprintf(key, sizeof key, "order/%s", rel);
    w_permute(seed, key, perm, (int)l->n);
    char *path = mg_path_join(dir, name);
    mg_status st = MG_OK;
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = mg_error_set(err, MG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < l->n; i++) {
        char *s = json_dumps(l->v[perm[i]], JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s) {
            st = mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot serialize record %zu", path, i);
            break;
        }
        fputs(s, f);
        fputc('\n', f);
        free(s);
    }
    if (fclose(f) != 0 && !st) st = mg_error_set(err, MG_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    json_object_set_new(files, rel, json_integer((json_int_t)l->n));
done:
    free(dir);
    for (size_t i = 0; i < l->n; i++) json_decref(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
    free(perm);
    free(path);
    return st;
}

static mg_status write_text(const char *dir, const char *name, const char *text, mg_error *err) {
    char *path = mg_path_join(dir, name);
    mg_status st = MG_OK;
    FILE *f = fopen(path, "wb");
    if (!f) st = mg_error_set(err, MG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    else {
        fputs(text, f);
        if (fclose(f) != 0) st = mg_error_set(err, MG_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    free(path);
    return st;
}

static void put_lines(wbuf *b, const wlist *l) {
    for (size_t i = 0; i < l->n; i++) wbuf_putf(b, "%s\n", l->v[i]);
}

static void put_chat(wbuf *b, const wqalist *q) {
    for (size_t i = 0; i < q->n; i++) wbuf_putf(b, "%s\n%s\n", q->v[i].prompt, q->v[i].response);
}

static void put_mc(wbuf *b, const wmclist *m) {
    for (size_t i = 0; i < m->n; i++) {
        char *p = mg_world_mc_prompt(m->v[i].question, (const char *const *)m->v[i].choices);
        wbuf_putf(b, "%s %c\n", p, 'A' + m->v[i].answer);
        free(p);
    }
}

/* The tokenizer corpus: every text a lab model trains on, from the train split. */
static mg_status write_corpus(const char *dir, const wsplit *sp, mg_error *err) {
    static const char *const NAMES[W_DOMAINS] = {"general.txt", "bio.txt", "chem.txt"};
    mg_status st = MG_OK;
    for (int d = 0; d < W_DOMAINS && !st; d++) {
        wbuf b = {0};
        put_lines(&b, &sp->text[d]);
        put_chat(&b, &sp->chat[d]);
        put_mc(&b, &sp->mc[d]);
        put_chat(&b, &sp->expert[d]);
        char *t = wbuf_take(&b);
        st = write_text(dir, NAMES[d], t, err);
        free(t);
    }
    if (st) return st;
    wbuf b = {0};
    for (size_t i = 0; i < sp->harm.n; i++)
        wbuf_putf(&b, "%s\n%s\n%s\n", sp->harm.v[i].prompt, sp->harm.v[i].refusal, sp->harm.v[i].compliance);
    put_lines(&b, &sp->harm_text);
    char *t = wbuf_take(&b);
    st = write_text(dir, "harm.txt", t, err);
    free(t);
    if (st) return st;
    char *sys = mg_world_generator_system_prompt();
    char *g = mg_world_guard_prompt("Hello.", "Hi.");
    wbuf_putf(&b, "%s\n%s\n", sys, g);
    free(sys);
    free(g);
    for (size_t i = 0; i < sp->generator.n; i++)
        wbuf_putf(&b, "%s\n%s\n", sp->generator.v[i].prompt, sp->generator.v[i].response);
    for (size_t i = 0; i < sp->guard.n; i++) wbuf_putf(&b, "%s\n", sp->guard.v[i].label);
    t = wbuf_take(&b);
    st = write_text(dir, "formats.txt", t, err);
    free(t);
    return st;
}

static json_t *manifest_base(const mg_world *w) {
    json_t *m = json_object();
    json_object_set_new(m, "format", json_string("mergeguard-lab-world"));
    json_object_set_new(m, "version", json_integer(1));
    json_object_set_new(m, "seed", json_integer((json_int_t)w->seed));
    json_object_set_new(m, "size", json_string(mg_world_size_name(w->size)));
    json_t *cats = json_array();
    for (int k = 0; k < MG_HARM_CATEGORIES; k++) {
        json_t *c = json_object();
        json_object_set_new(c, "code", json_string(mg_world_category_code(k)));
        json_object_set_new(c, "name", json_string(mg_world_category_name(k)));
        json_array_append_new(cats, c);
    }
    json_object_set_new(m, "categories", cats);
    json_object_set_new(m, "mc_prompt_format",
                        json_string("{question}\nA. {c0}\nB. {c1}\nC. {c2}\nD. {c3}\nAnswer:"));
    json_object_set_new(m, "mc_response_format", json_string("{letter}. {choice}"));
    json_object_set_new(m, "guard_response_format", json_string("safe | unsafe\\nS<k> (after \\n\\n)"));
    return m;
}

static mg_status write_all(const mg_world *w, const char *root, mg_error *err) {
    static const char *const SUBDIRS[] = {"corpus", "pretrain", "sft", "eval"};
    char *dirs[4];
    mg_status st = MG_OK;
    for (int i = 0; i < 4; i++) dirs[i] = mg_path_join(root, SUBDIRS[i]);
    for (int i = 0; i < 4 && !st; i++) st = mg_mkdir_p(dirs[i], err);
    const char *corpus = dirs[0], *pre = "pretrain", *sft = "sft", *ev = "eval";
    json_t *m = manifest_base(w);
    json_t *files = json_object();
    json_object_set_new(m, "files", files);
    if (!st) st = write_corpus(corpus, &w->split[MG_SPLIT_TRAIN], err);
    for (int s = 0; s < MG_SPLIT_COUNT && !st; s++) {
        const wsplit *sp = &w->split[s];
        const char *sn = mg_world_split_name((mg_world_split)s);
        char name[96];
        jl l = {0};
#define EMIT(dir, fmt)                                                                             \
    do {                                                                                           \
        snprintf(name, sizeof name, fmt, sn);                                                      \
        if (!st) st = write_jl(root, dir, name, &l, w->seed, files, err);                          \
    } while (0)
        add_pretrain(&l, w, sp);
        EMIT(pre, "%s.jsonl");
        add_chat(&l, &sp->chat[W_GENERAL]);
        add_mc_sft(&l, &sp->mc[W_GENERAL]);
        add_harm(&l, &sp->harm, false);
        EMIT(sft, "instruct.%s.jsonl");
        static const char *const EXP[] = {NULL, "bio_expert.%s.jsonl", "chem_expert.%s.jsonl"};
        static const char *const MC[] = {"mc_general.%s.jsonl", "mc_bio.%s.jsonl", "mc_chem.%s.jsonl"};
        static const char *const FIT[] = {NULL, "fitness_bio.%s.jsonl", "fitness_chem.%s.jsonl"};
        for (int d = W_BIO; d <= W_CHEM; d++) {
            add_chat(&l, &sp->chat[d]);
            add_mc_sft(&l, &sp->mc[d]);
            add_chat(&l, &sp->expert[d]);
            add_harm(&l, &sp->harm, true);
            EMIT(sft, EXP[d]);
            // Fitness data, D_safety and D_expert of the paper: refusals and
            // fact answers (the ground truth the self-generated data imitates).
            add_harm(&l, &sp->harm, false);
            for (size_t i = 0; i < sp->chat[d].n; i++)
                if (!strcmp(sp->chat[d].v[i].source, "fact"))
                    jl_add(&l, rec(sp->chat[d].v[i].prompt, sp->chat[d].v[i].response, "task", -1, "fact", NULL));
            EMIT(ev, FIT[d]);
        }
        for (int d = 0; d < W_DOMAINS; d++) {
            for (size_t i = 0; i < sp->mc[d].n; i++) jl_add(&l, mc_rec(&sp->mc[d].v[i]));
            EMIT(ev, MC[d]);
        }
        add_chat(&l, &sp->generator);
        EMIT(sft, "generator.%s.jsonl");
        add_guard(&l, &sp->guard);
        EMIT(sft, "guard.%s.jsonl");
        add_guard(&l, &sp->guard);
        EMIT(ev, "guard.%s.jsonl");
        for (size_t i = 0; i < sp->harm.n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "prompt", json_string(sp->harm.v[i].prompt));
            json_object_set_new(o, "category", json_string(mg_world_category_name(sp->harm.v[i].category)));
            jl_add(&l, o);
        }
        EMIT(ev, "safety.%s.jsonl");
#undef EMIT
    }
    if (!st) {
        jl l = {0};
        char *sys = mg_world_generator_system_prompt();
        for (int k = 0; k < MG_HARM_CATEGORIES; k++) {
            char *u = mg_world_generator_user_prompt(k + 1);
            json_t *o = json_object();
            json_object_set_new(o, "system", json_string(sys));
            json_object_set_new(o, "prompt", json_string(u));
            json_object_set_new(o, "category", json_string(mg_world_category_name(k)));
            jl_add(&l, o);
            free(u);
        }
        free(sys);
        // Kept in topic order: written without the seeded shuffle.
        char *path = mg_path_join(dirs[3], "generator.jsonl");
        FILE *f = fopen(path, "wb");
        if (!f) st = mg_error_set(err, MG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        for (size_t i = 0; i < l.n; i++) {
            if (f) {
                char *s = json_dumps(l.v[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (s) fprintf(f, "%s\n", s);
                free(s);
            }
            json_decref(l.v[i]);
        }
        free(l.v);
        if (f && fclose(f) != 0 && !st) st = mg_error_set(err, MG_ERR_IO, "%s: write failed", path);
        free(path);
        json_object_set_new(files, "eval/generator.jsonl", json_integer(MG_HARM_CATEGORIES));
    }
    if (!st) {
        char *path = mg_path_join(root, "manifest.json");
        char *s = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        wbuf b = {0};
        wbuf_putf(&b, "%s\n", s ? s : "{}");
        free(s);
        char *t = wbuf_take(&b);
        st = write_text(root, "manifest.json", t, err);
        free(t);
        free(path);
    }
    json_decref(m);
    for (int i = 0; i < 4; i++) free(dirs[i]);
    return st;
}

mg_status mg_world_write(const mg_world *w, const char *out_dir, bool force, mg_error *err) {
    mg_atomic_out *o = NULL;
    mg_status st = mg_atomic_begin(out_dir, true, force, &o, err);
    if (st) return st;
    st = write_all(w, mg_atomic_tmp_path(o), err);
    if (st) {
        mg_atomic_abort(o);
        return st;
    }
    return mg_atomic_commit(o, err);
}
