/* world.c - containers, seeded helpers, the knowledge-base engine and the
 * world's life cycle. See world.h and world_impl.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "lab/world_impl.h"

/* ---- containers ---- */

static void wbuf_reserve(wbuf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->s = mg_realloc(b->s, cap);
    b->cap = cap;
}

void wbuf_puts(wbuf *b, const char *s) {
    size_t n = strlen(s);
    wbuf_reserve(b, n);
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

void wbuf_putf(wbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    wbuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *wbuf_take(wbuf *b) {
    char *s = b->s ? b->s : mg_strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

static void *vec_push(void **v, size_t *n, size_t *cap, size_t elem) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = mg_realloc(*v, *cap * elem);
    }
    void *slot = (char *)*v + *n * elem;
    memset(slot, 0, elem);
    (*n)++;
    return slot;
}

void wlist_push(wlist *l, char *s) {
    char **slot = vec_push((void **)&l->v, &l->n, &l->cap, sizeof *l->v);
    *slot = s;
}

void wlist_free(wlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

bool wlist_has(const wlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return true;
    return false;
}

wqa *wqa_push(wqalist *l) {
    wqa *q = vec_push((void **)&l->v, &l->n, &l->cap, sizeof *l->v);
    q->category = -1;
    return q;
}

void wqalist_free(wqalist *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].prompt);
        free(l->v[i].response);
        free(l->v[i].system);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

wmc *wmc_push(wmclist *l) {
    return vec_push((void **)&l->v, &l->n, &l->cap, sizeof *l->v);
}

void wmclist_free(wmclist *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].question);
        for (int c = 0; c < 4; c++) free(l->v[i].choices[c]);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

wguard *wguard_push(wguardlist *l) {
    wguard *g = vec_push((void **)&l->v, &l->n, &l->cap, sizeof *l->v);
    g->category = -1;
    return g;
}

void wguardlist_free(wguardlist *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].prompt);
        free(l->v[i].response);
        free(l->v[i].label);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

wharm *wharm_push(wharmlist *l) {
    return vec_push((void **)&l->v, &l->n, &l->cap, sizeof *l->v);
}

void wharmlist_free(wharmlist *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].prompt);
        free(l->v[i].refusal);
        free(l->v[i].compliance);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- seeded helpers ---- */

uint32_t w_pick(uint64_t seed, const char *name, uint64_t i, uint32_t n) {
    // 64-bit multiply-shift maps a u32 onto [0, n) without modulo bias worth noting.
    return (uint32_t)(((uint64_t)mg_rng_u32(mg_rng_key(seed, name), i) * n) >> 32);
}

void w_permute(uint64_t seed, const char *name, int *perm, int n) {
    for (int i = 0; i < n; i++) perm[i] = i;
    uint64_t key = mg_rng_key(seed, name);
    for (int i = n - 1; i > 0; i--) { // Fisher-Yates from the counter stream
        int j = (int)(((uint64_t)mg_rng_u32(key, (uint64_t)i) * (uint64_t)(i + 1)) >> 32);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

int w_partition(uint64_t seed, const char *name, int n, mg_world_split split, int *idx) {
    int *perm = mg_malloc_array((size_t)n, sizeof *perm);
    w_permute(seed, name, perm, n);
    int k = n / 5 > 1 ? n / 5 : 1;
    int lo = 0, hi = n - 2 * k; // train
    if (split == MG_SPLIT_VALID) lo = n - 2 * k, hi = n - k;
    if (split == MG_SPLIT_TEST) lo = n - k, hi = n;
    int m = 0;
    for (int i = lo; i < hi; i++) idx[m++] = perm[i];
    // Sorted, so the list order (not the permutation) decides the use order.
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    free(perm);
    return m;
}

/* Syllables for invented names: consonant onsets, vowel nuclei, codas. The
 * lists avoid English words being formed too often; uniqueness is enforced. */
static const char *const ONSETS[] = {"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t",
                                     "v", "z", "br", "dr", "gl", "kr", "pl", "st", "th", "tr",
                                     "vr", "sk"};
static const char *const NUCLEI[] = {"a", "e", "i", "o", "u", "a", "e", "i", "o", "ou"};
static const char *const CODAS[] = {"", "", "", "n", "r", "l", "s", "th", "x", "m", "k"};

char *w_name(mg_world *w, const char *kind, uint64_t i, int syl, bool cap) {
    char key[96];
    snprintf(key, sizeof key, "name/%s", kind);
    for (uint64_t attempt = 0;; attempt++) {
        char buf[64] = "";
        uint64_t base = (i * 64 + attempt) * 64;
        for (int s = 0; s < syl && s < 4; s++) {
            uint64_t at = base + 4 * (uint64_t)s;
            strcat(buf, ONSETS[w_pick(w->seed, key, at, 24)]);
            strcat(buf, NUCLEI[w_pick(w->seed, key, at + 1, 10)]);
            if (s == syl - 1 || w_pick(w->seed, key, at + 2, 3) == 0)
                strcat(buf, CODAS[w_pick(w->seed, key, at + 3, 11)]);
        }
        if (cap) buf[0] = (char)toupper((unsigned char)buf[0]);
        if (strlen(buf) < 4 || wlist_has(&w->names, buf)) continue;
        wlist_push(&w->names, mg_strdup(buf));
        return mg_strdup(buf);
    }
}

char *w_fill(const char *tmpl, const char *s, const char *o) {
    wbuf b = {0};
    wbuf_puts(&b, "");
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '{' && (p[1] == 'S' || p[1] == 'O') && p[2] == '}') {
            wbuf_puts(&b, p[1] == 'S' ? s : o);
            p += 2;
        } else {
            char c[2] = {*p, 0};
            wbuf_puts(&b, c);
        }
    }
    b.s[0] = (char)toupper((unsigned char)b.s[0]);
    return wbuf_take(&b);
}

void w_mc_pick(uint64_t seed, const char *name, uint64_t i, int n, int answer, int out[4],
               int *answer_pos) {
    int pos = (int)w_pick(seed, name, i * 4096, 4);
    int got = 0;
    for (uint64_t t = 1; got < 3; t++) {
        int c = (int)w_pick(seed, name, i * 4096 + t, (uint32_t)n);
        bool dup = c == answer;
        for (int k = 0; k < got; k++) dup |= out[k] == c;
        if (!dup) out[got++] = c;
    }
    // Shift the distractors to make room for the answer at pos.
    for (int k = 3; k > pos; k--) out[k] = out[k - 1];
    out[pos] = answer;
    *answer_pos = pos;
}

int w_scale(const mg_world *w, int tiny, int small) {
    return w->size == MG_WORLD_TINY ? tiny : small;
}

/* ---- knowledge-base engine ---- */

int wkb_kind_names(wkb *kb, mg_world *w, const char *name, int n, int syl, bool cap,
                   const char *prefix, const char *const *suffixes, int n_suffixes) {
    wkind *k = &kb->kinds[kb->n_kinds];
    k->name = name;
    k->n = n;
    k->vals = mg_calloc((size_t)n, sizeof *k->vals);
    char key[96];
    snprintf(key, sizeof key, "%s/%s/suffix", kb->topic, name);
    for (int i = 0; i < n; i++) {
        char *stem = w_name(w, name, (uint64_t)i, syl, cap);
        wbuf b = {0};
        if (prefix) wbuf_puts(&b, prefix);
        wbuf_puts(&b, stem);
        if (n_suffixes) wbuf_puts(&b, suffixes[w_pick(w->seed, key, (uint64_t)i, (uint32_t)n_suffixes)]);
        k->vals[i] = wbuf_take(&b);
        free(stem);
    }
    return kb->n_kinds++;
}

int wkb_kind_fixed(wkb *kb, const char *name, const char *const *vals, int n) {
    wkind *k = &kb->kinds[kb->n_kinds];
    k->name = name;
    k->n = n;
    k->vals = mg_calloc((size_t)n, sizeof *k->vals);
    for (int i = 0; i < n; i++) k->vals[i] = mg_strdup(vals[i]);
    return kb->n_kinds++;
}

int wkb_rel(wkb *kb, const char *name, int subj, int obj, const char *const *stmt, int n_stmt,
            const char *const *quest, int n_quest) {
    wrel *r = &kb->rels[kb->n_rels];
    r->name = name;
    r->subj = subj;
    r->obj = obj;
    r->stmt = stmt;
    r->n_stmt = n_stmt;
    r->quest = quest;
    r->n_quest = n_quest;
    r->fact = mg_malloc_array((size_t)kb->kinds[subj].n, sizeof *r->fact);
    for (int i = 0; i < kb->kinds[subj].n; i++) r->fact[i] = -1;
    return kb->n_rels++;
}

void wkb_rel_random(wkb *kb, mg_world *w, int rel) {
    wrel *r = &kb->rels[rel];
    char key[96];
    snprintf(key, sizeof key, "%s/fact/%s", kb->topic, r->name);
    for (int s = 0; s < kb->kinds[r->subj].n; s++)
        r->fact[s] = (int)w_pick(w->seed, key, (uint64_t)s, (uint32_t)kb->kinds[r->obj].n);
}

void wkb_free(wkb *kb) {
    for (int k = 0; k < kb->n_kinds; k++) {
        for (int i = 0; i < kb->kinds[k].n; i++) free(kb->kinds[k].vals[i]);
        free(kb->kinds[k].vals);
    }
    for (int r = 0; r < kb->n_rels; r++) free(kb->rels[r].fact);
}

static const char *const ABOUT[] = {
    "Tell me about {S}.",          "What do you know about {S}?", "Describe {S}.",
    "Give me the facts about {S}.", "What can you tell me about {S}?", "Summarize what is known about {S}.",
};

/* One paragraph of every fact about subject s of kind `kind`, each written
 * with the statement template at position `rep` of the split's partition. */
static char *paragraph(const wkb *kb, mg_world *w, int kind, int s, mg_world_split sp, int rep) {
    wbuf b = {0};
    int idx[32];
    char key[128];
    for (int r = 0; r < kb->n_rels; r++) {
        const wrel *rel = &kb->rels[r];
        if (rel->subj != kind || rel->fact[s] < 0) continue;
        snprintf(key, sizeof key, "%s/%s/stmt", kb->topic, rel->name);
        int m = w_partition(w->seed, key, rel->n_stmt, sp, idx);
        char *t = w_fill(rel->stmt[idx[rep % m]], kb->kinds[kind].vals[s],
                         kb->kinds[rel->obj].vals[rel->fact[s]]);
        if (b.len) wbuf_puts(&b, " ");
        wbuf_puts(&b, t);
        free(t);
    }
    return b.s ? wbuf_take(&b) : NULL;
}

static void emit_split(wkb *kb, mg_world *w, mg_world_split sp) {
    wsplit *out = &w->split[sp];
    int d = kb->domain;
    int idx[32], qidx[32], aidx[8];
    char key[128];
    int n_about = w_partition(w->seed, "about", 6, sp, aidx);
    // Statements and "tell me about" chats: one paragraph per subject and template slot.
    for (int k = 0; k < kb->n_kinds; k++) {
        int reps = 0;
        for (int r = 0; r < kb->n_rels; r++)
            if (kb->rels[r].subj == k) {
                snprintf(key, sizeof key, "%s/%s/stmt", kb->topic, kb->rels[r].name);
                int m = w_partition(w->seed, key, kb->rels[r].n_stmt, sp, idx);
                if (m > reps) reps = m;
            }
        for (int s = 0; s < kb->kinds[k].n && reps; s++)
            for (int rep = 0; rep < reps; rep++) {
                char *p = paragraph(kb, w, k, s, sp, rep);
                if (!p) continue;
                if (rep < n_about) {
                    wqa *q = wqa_push(&out->chat[d]);
                    q->prompt = w_fill(ABOUT[aidx[rep]], kb->kinds[k].vals[s], "");
                    q->response = mg_strdup(p);
                    q->source = "about";
                }
                wlist_push(&out->text[d], p);
            }
    }
    // Fact questions (every fact, every question template of the split) and MC.
    for (int r = 0; r < kb->n_rels; r++) {
        const wrel *rel = &kb->rels[r];
        const wkind *sk = &kb->kinds[rel->subj], *ok = &kb->kinds[rel->obj];
        snprintf(key, sizeof key, "%s/%s/stmt", kb->topic, rel->name);
        int ns = w_partition(w->seed, key, rel->n_stmt, sp, idx);
        snprintf(key, sizeof key, "%s/%s/quest", kb->topic, rel->name);
        int nq = w_partition(w->seed, key, rel->n_quest, sp, qidx);
        for (int s = 0; s < sk->n; s++) {
            int o = rel->fact[s];
            if (o < 0) continue;
            for (int j = 0; j < nq; j++) {
                snprintf(key, sizeof key, "%s/%s/answer", kb->topic, rel->name);
                int a = idx[w_pick(w->seed, key, (uint64_t)s * 64 + (uint64_t)j, (uint32_t)ns)];
                wqa *q = wqa_push(&out->chat[d]);
                q->prompt = w_fill(rel->quest[qidx[j]], sk->vals[s], ok->vals[o]);
                q->response = w_fill(rel->stmt[a], sk->vals[s], ok->vals[o]);
                q->source = "fact";
            }
            // MC: each fact is asked in exactly one split (60/20/20), so test
            // questions are about facts only seen as statements and chat.
            if (ok->n < 4) continue;
            snprintf(key, sizeof key, "%s/%s/mcsplit", kb->topic, rel->name);
            uint32_t u = w_pick(w->seed, key, (uint64_t)s, 100);
            mg_world_split msp = u < 60 ? MG_SPLIT_TRAIN : u < 80 ? MG_SPLIT_VALID : MG_SPLIT_TEST;
            if (msp != sp) continue;
            snprintf(key, sizeof key, "%s/%s/mc", kb->topic, rel->name);
            int ch[4], pos;
            w_mc_pick(w->seed, key, (uint64_t)s, ok->n, o, ch, &pos);
            wmc *mc = wmc_push(&out->mc[d]);
            mc->question = w_fill(rel->quest[qidx[w_pick(w->seed, key, (uint64_t)s * 4096 + 4095, (uint32_t)nq)]],
                                  sk->vals[s], ok->vals[o]);
            for (int c = 0; c < 4; c++) mc->choices[c] = mg_strdup(ok->vals[ch[c]]);
            mc->answer = pos;
        }
    }
}

/* Expert self-questioning records (paper 4.2): three example questions of the
 * split in the system prompt, a fourth as the JSON answer. */
static void emit_expert(wkb *kb, mg_world *w, mg_world_split sp) {
    wsplit *out = &w->split[sp];
    int d = kb->domain;
    size_t nfacts = 0;
    for (size_t i = 0; i < out->chat[d].n; i++) nfacts += !strcmp(out->chat[d].v[i].source, "fact");
    if (nfacts < 4) return;
    const char **qs = mg_malloc_array(nfacts, sizeof *qs);
    size_t m = 0;
    for (size_t i = 0; i < out->chat[d].n; i++)
        if (!strcmp(out->chat[d].v[i].source, "fact")) qs[m++] = out->chat[d].v[i].prompt;
    int count = sp == MG_SPLIT_TRAIN ? w_scale(w, 24, 120) : w_scale(w, 8, 30);
    char key[96];
    snprintf(key, sizeof key, "%s/expert/%s", kb->topic, mg_world_split_name(sp));
    for (int i = 0; i < count; i++) {
        size_t pick[4];
        for (int j = 0; j < 4; j++) {
            for (uint64_t t = 0;; t++) {
                pick[j] = w_pick(w->seed, key, (uint64_t)i * 4096 + (uint64_t)j * 64 + t, (uint32_t)m);
                bool dup = false;
                for (int k = 0; k < j; k++) dup |= pick[k] == pick[j];
                if (!dup) break;
            }
        }
        const char *ex[3] = {qs[pick[0]], qs[pick[1]], qs[pick[2]]};
        wqa *q = wqa_push(&out->expert[d]);
        q->system = mg_world_expert_system_prompt(kb->topic, ex);
        q->prompt = mg_strdup(mg_world_expert_user_prompt());
        json_t *o = json_object(), *a = json_array();
        json_object_set_new(o, "Question", json_string(qs[pick[3]]));
        json_array_append_new(a, o);
        char *js = json_dumps(a, JSON_PRESERVE_ORDER); // [{"Question": "..."}]
        json_decref(a);
        q->response = js ? js : mg_strdup("[]");
        q->source = "expert-question";
    }
    free(qs);
}

void wkb_emit(wkb *kb, mg_world *w) {
    for (int sp = 0; sp < MG_SPLIT_COUNT; sp++) {
        emit_split(kb, w, (mg_world_split)sp);
        if (kb->domain != W_GENERAL) emit_expert(kb, w, (mg_world_split)sp);
    }
}

/* ---- life cycle ---- */

static const char *const SPLIT_NAMES[] = {"train", "valid", "test"};

const char *mg_world_split_name(mg_world_split s) {
    return (unsigned)s < MG_SPLIT_COUNT ? SPLIT_NAMES[s] : "?";
}

mg_status mg_world_size_parse(const char *s, mg_world_size *out, mg_error *err) {
    if (s && !strcmp(s, "tiny")) *out = MG_WORLD_TINY;
    else if (s && !strcmp(s, "small")) *out = MG_WORLD_SMALL;
    else
        return mg_error_set(err, MG_ERR_USAGE, "--size: expected tiny or small, found '%s'",
                            s ? s : "(none)");
    return MG_OK;
}

const char *mg_world_size_name(mg_world_size s) {
    return s == MG_WORLD_TINY ? "tiny" : "small";
}

mg_status mg_world_new(uint64_t seed, mg_world_size size, mg_world **out, mg_error *err) {
    *out = NULL;
    if (size != MG_WORLD_TINY && size != MG_WORLD_SMALL)
        return mg_error_set(err, MG_ERR_USAGE, "world size %d: expected tiny or small", (int)size);
    mg_world *w = mg_calloc(1, sizeof *w);
    w->seed = seed;
    w->size = size;
    w_build_general(w);
    w_build_bio(w);
    w_build_chem(w);
    w_build_harm(w); // last: guard examples also use general chat pairs
    *out = w;
    return MG_OK;
}

void mg_world_free(mg_world *w) {
    if (!w) return;
    for (int s = 0; s < MG_SPLIT_COUNT; s++) {
        wsplit *sp = &w->split[s];
        for (int d = 0; d < W_DOMAINS; d++) {
            wlist_free(&sp->text[d]);
            wqalist_free(&sp->chat[d]);
            wmclist_free(&sp->mc[d]);
            wqalist_free(&sp->expert[d]);
        }
        wharmlist_free(&sp->harm);
        wlist_free(&sp->harm_text);
        wqalist_free(&sp->generator);
        wguardlist_free(&sp->guard);
    }
    wlist_free(&w->names);
    free(w);
}

size_t mg_world_count(const mg_world *w, const char *kind, mg_world_split split) {
    if ((unsigned)split >= MG_SPLIT_COUNT) return 0;
    const wsplit *sp = &w->split[split];
    static const char *const DOM[] = {"general", "bio", "chem"};
    for (int d = 0; d < W_DOMAINS; d++) {
        char k[32];
        snprintf(k, sizeof k, "mc_%s", DOM[d]);
        if (!strcmp(kind, k)) return sp->mc[d].n;
        snprintf(k, sizeof k, "chat_%s", DOM[d]);
        if (!strcmp(kind, k)) return sp->chat[d].n;
        snprintf(k, sizeof k, "text_%s", DOM[d]);
        if (!strcmp(kind, k)) return sp->text[d].n;
        snprintf(k, sizeof k, "expert_%s", DOM[d]);
        if (d && !strcmp(kind, k)) return sp->expert[d].n;
    }
    if (!strcmp(kind, "harm")) return sp->harm.n;
    if (!strcmp(kind, "generator")) return sp->generator.n;
    if (!strcmp(kind, "guard")) return sp->guard.n;
    return 0;
}
