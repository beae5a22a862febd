/* world_impl.h - internals of the world generator shared by its modules
 * (world.c, world_general.c, world_bio.c, world_chem.c, world_harm.c,
 * world_formats.c, world_export.c) and by the lab tests.
 *
 * A knowledge domain is a small knowledge base: kinds of entities (generated
 * names or fixed word lists) and functional relations subject -> object, each
 * with statement templates ("{S} is treated with {O}.") and question templates
 * ("What is {S} treated with?"). Template lists are partitioned between the
 * splits by a seeded permutation (w_partition), so validation and test items
 * use phrasings the training items never do. Not thread-safe while building. */
#ifndef MG_LAB_WORLD_IMPL_H
#define MG_LAB_WORLD_IMPL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lab/world.h"

/* ---- containers ---- */

typedef struct wbuf {
    char *s;
    size_t len, cap;
} wbuf;
void wbuf_puts(wbuf *b, const char *s);
void wbuf_putf(wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the owned string and resets b. Never NULL. */
char *wbuf_take(wbuf *b);

typedef struct wlist {
    char **v;
    size_t n, cap;
} wlist;
void wlist_push(wlist *l, char *s); // takes s
void wlist_free(wlist *l);
bool wlist_has(const wlist *l, const char *s);

/* A question/answer pair (chat, SFT or fitness record). */
typedef struct wqa {
    char *prompt, *response;
    char *system;   // optional system prompt (generator, expert question), else NULL
    int category;   // harm category 0..13 or -1
    const char *source; // static tag: "fact", "mc", "refusal", "compliance", ...
} wqa;
typedef struct wqalist {
    wqa *v;
    size_t n, cap;
} wqalist;
wqa *wqa_push(wqalist *l); // zeroed slot, category -1
void wqalist_free(wqalist *l);

typedef struct wmc {
    char *question;
    char *choices[4];
    int answer;
} wmc;
typedef struct wmclist {
    wmc *v;
    size_t n, cap;
} wmclist;
wmc *wmc_push(wmclist *l);
void wmclist_free(wmclist *l);

/* A guard example: the exchange and its label ("safe" / "unsafe\nS<k>"). */
typedef struct wguard {
    char *prompt, *response, *label;
    int category; // -1 for safe
} wguard;
typedef struct wguardlist {
    wguard *v;
    size_t n, cap;
} wguardlist;
wguard *wguard_push(wguardlist *l);
void wguardlist_free(wguardlist *l);

/* A harmful request with one refusal and one placeholder compliance. */
typedef struct wharm {
    char *prompt, *refusal, *compliance;
    int category;
    int template_id, filler_id; // indices into the category's lists (tests)
} wharm;
typedef struct wharmlist {
    wharm *v;
    size_t n, cap;
} wharmlist;
wharm *wharm_push(wharmlist *l);
void wharmlist_free(wharmlist *l);

enum { W_GENERAL = 0, W_BIO = 1, W_CHEM = 2, W_DOMAINS = 3 };

typedef struct wsplit {
    wlist text[W_DOMAINS];   // plain statements (paragraphs)
    wqalist chat[W_DOMAINS]; // fact question/answer pairs
    wmclist mc[W_DOMAINS];   // multiple-choice questions
    wharmlist harm;          // harmful requests
    wlist harm_text;         // plain harmful-topic text for pretraining
    wqalist generator;       // generator JSON records (system + user -> JSON)
    wqalist expert[W_DOMAINS]; // expert self-questioning records ([W_GENERAL] unused)
    wguardlist guard;        // classification examples
} wsplit;

struct mg_world {
    uint64_t seed;
    mg_world_size size;
    wsplit split[MG_SPLIT_COUNT];
    wlist names; // every generated name, for uniqueness
};

/* ---- seeded helpers (world.c) ---- */

/* Uniform integer in [0, n) (n >= 1) from (seed, name) at index i. */
uint32_t w_pick(uint64_t seed, const char *name, uint64_t i, uint32_t n);
/* Seeded permutation of 0..n-1 into perm (n ints), keyed by (seed, name). */
void w_permute(uint64_t seed, const char *name, int *perm, int n);
/* The positions of list `name` (n entries) that belong to a split: a seeded
 * permutation cut into train (the rest), valid and test (each max(1, n/5)).
 * Requires n >= 3. Fills idx (capacity n), returns the count. */
int w_partition(uint64_t seed, const char *name, int n, mg_world_split split, int *idx);
/* A fresh invented name: `syl` syllables, capitalized when cap, unique in the
 * world. Owned. */
char *w_name(mg_world *w, const char *kind, uint64_t i, int syl, bool cap);
/* Replaces {S} and {O} (and {A}, {B} when given) in tmpl; capitalizes the first
 * letter. Owned. */
char *w_fill(const char *tmpl, const char *s, const char *o);
/* Three distinct distractor indices in [0, n) different from `answer`
 * (requires n >= 4), and the position of the answer among the 4 choices. */
void w_mc_pick(uint64_t seed, const char *name, uint64_t i, int n, int answer, int out[4],
               int *answer_pos);

/* ---- knowledge bases (world.c engine; world_general/bio/chem.c content) ---- */

#define W_MAX_KINDS 16
#define W_MAX_RELS 16

typedef struct wkind {
    const char *name;
    char **vals; // owned copies
    int n;
} wkind;

typedef struct wrel {
    const char *name;
    int subj, obj; // kind indices
    const char *const *stmt;  // statement templates with {S} and {O}
    int n_stmt;
    const char *const *quest; // question templates with {S}
    int n_quest;
    int *fact; // fact[s] = object index, or -1 (no fact), owned
} wrel;

typedef struct wkb {
    int domain; // W_GENERAL, W_BIO, W_CHEM
    const char *topic; // "general knowledge", "biology", "chemistry"
    wkind kinds[W_MAX_KINDS];
    int n_kinds;
    wrel rels[W_MAX_RELS];
    int n_rels;
} wkb;

int wkb_kind_names(wkb *kb, mg_world *w, const char *name, int n, int syl, bool cap,
                   const char *prefix, const char *const *suffixes, int n_suffixes);
int wkb_kind_fixed(wkb *kb, const char *name, const char *const *vals, int n);
int wkb_rel(wkb *kb, const char *name, int subj, int obj, const char *const *stmt, int n_stmt,
            const char *const *quest, int n_quest);
/* Assigns each subject a random object (all subjects have the fact). */
void wkb_rel_random(wkb *kb, mg_world *w, int rel);
void wkb_free(wkb *kb);
/* Emits statements, chat pairs, MC questions and expert-question records of
 * the knowledge base into every split. */
void wkb_emit(wkb *kb, mg_world *w);

/* Per-size entity counts (world.c). */
int w_scale(const mg_world *w, int tiny, int small);

/* Domain contents. */
void w_build_general(mg_world *w);
void w_build_bio(mg_world *w);
void w_build_chem(mg_world *w);
void w_build_harm(mg_world *w);

/* Harm vocabulary (world_harm.c), for the generator and the tests. */
int w_harm_n_templates(void);
const char *w_harm_template(int i);
int w_harm_n_fillers(int category);
const char *w_harm_filler(int category, int i);
/* Refusal phrase check used by tests and the refusal-free compliance check. */
bool w_is_refusal(const char *text);

#endif // MG_LAB_WORLD_IMPL_H
