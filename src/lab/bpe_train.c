/* bpe_train.c - byte-level BPE training. See bpe_train.h; encoding and the HF
 * export live in bpe_export.c. */
#include "lab/bpe_train.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "lab/bpe_train_impl.h"
#include "lab/world.h"

/* ---- hashing ---- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return bpe_mix64(h);
}

bool bpe_utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) k = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) k = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) k = 3, cp = c & 0x07;
        else return false;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- pre-tokenization ---- */

static mg_status compile_re(pcre2_code **out, mg_error *err) {
    int ec;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)MG_LAB_BPE_GPT2_PATTERN, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return mg_error_set(err, MG_ERR_RUNTIME, "pre-tokenizer regex at %zu: %s", (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); // best effort: falls back to the interpreter
    *out = re;
    return MG_OK;
}


/* Splits text on special tokens (longest match first), then pre-tokenizes the
 * rest; calls fn per piece (special = token id for a special, else -1). The
 * text must be valid UTF-8. */
mg_status bpe_split_text(const mg_lab_bpe *b, pcre2_match_data *md, const char *text, size_t len,
                            bpe_piece_fn fn, void *ctx, mg_error *err) {
    size_t start = 0, i = 0;
    while (i <= len) {
        int best = -1;
        size_t best_len = 0;
        if (i < len && text[i] == '<')
            for (size_t k = 0; k < b->n_specials; k++) {
                size_t sl = strlen(b->specials[k]);
                if (sl > best_len && i + sl <= len && !memcmp(text + i, b->specials[k], sl))
                    best = (int)k, best_len = sl;
            }
        if (best < 0 && i < len) {
            i++;
            continue;
        }
        // Pre-tokenize text[start, i).
        PCRE2_SIZE pos = start;
        while (pos < i) {
            int rc = pcre2_match(b->re, (PCRE2_SPTR)text, i, pos, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc < 0) {
                if (rc == PCRE2_ERROR_NOMATCH) break;
                return mg_error_set(err, MG_ERR_RUNTIME, "pre-tokenizer failed at byte %zu (pcre2 %d)",
                                    (size_t)pos, rc);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[1] <= ov[0]) break; // no empty pieces in this pattern; guard anyway
            // Bytes skipped before a match cannot happen (\s+ and the catch-all
            // cover everything), but keep them as a piece if they do.
            if (ov[0] > pos) fn(ctx, text + pos, ov[0] - pos, -1);
            fn(ctx, text + ov[0], ov[1] - ov[0], -1);
            pos = ov[1];
        }
        if (best < 0) break;
        fn(ctx, text + i, best_len, (int32_t)(b->n_toks + (size_t)best));
        i += best_len;
        start = i;
    }
    return MG_OK;
}

/* ---- vocabulary and merge table ---- */

static int32_t add_tok(mg_lab_bpe *b, const char *s, size_t n) {
    if (b->n_toks == b->cap_toks) {
        b->cap_toks = b->cap_toks ? 2 * b->cap_toks : 512;
        b->toks = mg_realloc(b->toks, b->cap_toks * sizeof *b->toks);
    }
    b->toks[b->n_toks].s = mg_strndup(s, n);
    b->toks[b->n_toks].len = n;
    return (int32_t)b->n_toks++;
}

static void mtable_insert(mg_lab_bpe *b, uint64_t key, int32_t val) {
    if (2 * (b->n_merges + 1) > b->mcap) {
        size_t ncap = b->mcap ? 2 * b->mcap : 1024;
        uint64_t *nk = mg_malloc_array(ncap, sizeof *nk);
        int32_t *nv = mg_malloc_array(ncap, sizeof *nv);
        for (size_t i = 0; i < ncap; i++) nv[i] = -1;
        for (size_t i = 0; i < b->mcap; i++)
            if (b->mvals[i] >= 0) {
                size_t h = bpe_mix64(b->mkeys[i]) & (ncap - 1);
                while (nv[h] >= 0) h = (h + 1) & (ncap - 1);
                nk[h] = b->mkeys[i];
                nv[h] = b->mvals[i];
            }
        free(b->mkeys);
        free(b->mvals);
        b->mkeys = nk;
        b->mvals = nv;
        b->mcap = ncap;
    }
    size_t h = bpe_mix64(key) & (b->mcap - 1);
    while (b->mvals[h] >= 0) h = (h + 1) & (b->mcap - 1);
    b->mkeys[h] = key;
    b->mvals[h] = val;
}

int32_t bpe_mtable_find(const mg_lab_bpe *b, uint64_t key) {
    if (!b->mcap) return -1;
    size_t h = bpe_mix64(key) & (b->mcap - 1);
    while (b->mvals[h] >= 0) {
        if (b->mkeys[h] == key) return b->mvals[h];
        h = (h + 1) & (b->mcap - 1);
    }
    return -1;
}

/* Finds the id of a token's bytes among the learned tokens (linear in the
 * number of tokens with the same hash bucket; called once per merge). */
typedef struct strtab {
    int32_t *slot; // token id or -1
    size_t cap;
} strtab;

static int32_t strtab_find(const strtab *t, const mg_lab_bpe *b, const char *s, size_t n) {
    size_t h = hash_bytes(s, n) & (t->cap - 1);
    while (t->slot[h] >= 0) {
        const tok *k = &b->toks[t->slot[h]];
        if (k->len == n && !memcmp(k->s, s, n)) return t->slot[h];
        h = (h + 1) & (t->cap - 1);
    }
    return -1;
}

static void strtab_add(strtab *t, const mg_lab_bpe *b, int32_t id) {
    if (2 * (b->n_toks + 1) > t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 1024;
        int32_t *ns = mg_malloc_array(ncap, sizeof *ns);
        for (size_t i = 0; i < ncap; i++) ns[i] = -1;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i] >= 0) {
                const tok *k = &b->toks[t->slot[i]];
                size_t h = hash_bytes(k->s, k->len) & (ncap - 1);
                while (ns[h] >= 0) h = (h + 1) & (ncap - 1);
                ns[h] = t->slot[i];
            }
        free(t->slot);
        t->slot = ns;
        t->cap = ncap;
    }
    const tok *k = &b->toks[id];
    size_t h = hash_bytes(k->s, k->len) & (t->cap - 1);
    while (t->slot[h] >= 0) h = (h + 1) & (t->cap - 1);
    t->slot[h] = id;
}

/* ---- training ---- */

/* Unique pre-tokens with their counts; symbols are rewritten in place. */
typedef struct wordtab {
    int32_t *sym;     // all words' symbols, word i at sym[off[i]], len[i] valid
    size_t n_sym, cap_sym;
    size_t *off;
    int32_t *len;
    int64_t *freq;
    uint32_t *stamp;  // last merge that visited the word (dedupes pair word lists)
    size_t n, cap;
    int32_t *slot;    // hash of the original bytes -> word, for counting
    uint64_t *slot_hash;
    size_t slot_cap;
    const char **raw; // borrowed original bytes, for the hash comparison
    size_t *raw_len;
} wordtab;

static void words_grow_slots(wordtab *t) {
    size_t ncap = t->slot_cap ? 2 * t->slot_cap : 4096;
    int32_t *ns = mg_malloc_array(ncap, sizeof *ns);
    uint64_t *nh = mg_malloc_array(ncap, sizeof *nh);
    for (size_t i = 0; i < ncap; i++) ns[i] = -1;
    for (size_t i = 0; i < t->slot_cap; i++)
        if (t->slot[i] >= 0) {
            size_t h = t->slot_hash[i] & (ncap - 1);
            while (ns[h] >= 0) h = (h + 1) & (ncap - 1);
            ns[h] = t->slot[i];
            nh[h] = t->slot_hash[i];
        }
    free(t->slot);
    free(t->slot_hash);
    t->slot = ns;
    t->slot_hash = nh;
    t->slot_cap = ncap;
}

typedef struct count_ctx {
    wordtab *w;
} count_ctx;

static void count_piece(void *ctx, const char *s, size_t n, int32_t special) {
    wordtab *t = ((count_ctx *)ctx)->w;
    if (special >= 0 || n == 0) return; // special tokens never take part in merges
    if (2 * (t->n + 1) > t->slot_cap) words_grow_slots(t);
    uint64_t hv = hash_bytes(s, n);
    size_t h = hv & (t->slot_cap - 1);
    while (t->slot[h] >= 0) {
        int32_t i = t->slot[h];
        if (t->slot_hash[h] == hv && t->raw_len[i] == n && !memcmp(t->raw[i], s, n)) {
            t->freq[i]++;
            return;
        }
        h = (h + 1) & (t->slot_cap - 1);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 4096;
        t->off = mg_realloc(t->off, t->cap * sizeof *t->off);
        t->len = mg_realloc(t->len, t->cap * sizeof *t->len);
        t->freq = mg_realloc(t->freq, t->cap * sizeof *t->freq);
        t->stamp = mg_realloc(t->stamp, t->cap * sizeof *t->stamp);
        t->raw = mg_realloc(t->raw, t->cap * sizeof *t->raw);
        t->raw_len = mg_realloc(t->raw_len, t->cap * sizeof *t->raw_len);
    }
    while (t->n_sym + n > t->cap_sym) {
        t->cap_sym = t->cap_sym ? 2 * t->cap_sym : 65536;
        t->sym = mg_realloc(t->sym, t->cap_sym * sizeof *t->sym);
    }
    size_t i = t->n++;
    t->off[i] = t->n_sym;
    t->len[i] = (int32_t)n;
    t->freq[i] = 1;
    t->stamp[i] = 0;
    t->raw[i] = s;
    t->raw_len[i] = n;
    for (size_t k = 0; k < n; k++) t->sym[t->n_sym++] = (unsigned char)s[k];
    t->slot[h] = (int32_t)i;
    t->slot_hash[h] = hv;
}

static void wordtab_free(wordtab *t) {
    free(t->sym);
    free(t->off);
    free(t->len);
    free(t->freq);
    free(t->stamp);
    free(t->slot);
    free(t->slot_hash);
    free(t->raw);
    free(t->raw_len);
}

/* Pair statistics: pair -> (count, words containing it). */
typedef struct pairstat {
    uint64_t key;
    int64_t count;
    int32_t *words;
    size_t n_words, cap_words;
    uint32_t touched; // merge stamp, to push each changed pair once per merge
} pairstat;

typedef struct heapent {
    int64_t count;
    int32_t a, b;
} heapent;

typedef struct trainer {
    pairstat *p;
    size_t n, cap;
    int32_t *slot; // key -> pair index
    size_t slot_cap;
    heapent *heap;
    size_t hn, hcap;
    int32_t *changed;
    size_t n_changed, cap_changed;
} trainer;

static int32_t pair_get(trainer *t, int32_t a, int32_t b) {
    uint64_t key = bpe_pair_key(a, b);
    if (2 * (t->n + 1) > t->slot_cap) {
        size_t ncap = t->slot_cap ? 2 * t->slot_cap : 8192;
        int32_t *ns = mg_malloc_array(ncap, sizeof *ns);
        for (size_t i = 0; i < ncap; i++) ns[i] = -1;
        for (size_t i = 0; i < t->slot_cap; i++)
            if (t->slot[i] >= 0) {
                size_t h = bpe_mix64(t->p[t->slot[i]].key) & (ncap - 1);
                while (ns[h] >= 0) h = (h + 1) & (ncap - 1);
                ns[h] = t->slot[i];
            }
        free(t->slot);
        t->slot = ns;
        t->slot_cap = ncap;
    }
    size_t h = bpe_mix64(key) & (t->slot_cap - 1);
    while (t->slot[h] >= 0) {
        if (t->p[t->slot[h]].key == key) return t->slot[h];
        h = (h + 1) & (t->slot_cap - 1);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 8192;
        t->p = mg_realloc(t->p, t->cap * sizeof *t->p);
    }
    pairstat *ps = &t->p[t->n];
    memset(ps, 0, sizeof *ps);
    ps->key = key;
    t->slot[h] = (int32_t)t->n;
    return (int32_t)t->n++;
}

/* Heap order: higher count first, then smaller (a, b). */
static bool heap_before(const heapent *x, const heapent *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static void heap_push(trainer *t, int64_t count, int32_t a, int32_t b) {
    if (t->hn == t->hcap) {
        t->hcap = t->hcap ? 2 * t->hcap : 8192;
        t->heap = mg_realloc(t->heap, t->hcap * sizeof *t->heap);
    }
    size_t i = t->hn++;
    t->heap[i] = (heapent){count, a, b};
    while (i && heap_before(&t->heap[i], &t->heap[(i - 1) / 2])) {
        heapent tmp = t->heap[i];
        t->heap[i] = t->heap[(i - 1) / 2];
        t->heap[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static heapent heap_pop(trainer *t) {
    heapent top = t->heap[0];
    t->heap[0] = t->heap[--t->hn];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->hn && heap_before(&t->heap[l], &t->heap[m])) m = l;
        if (r < t->hn && heap_before(&t->heap[r], &t->heap[m])) m = r;
        if (m == i) break;
        heapent tmp = t->heap[i];
        t->heap[i] = t->heap[m];
        t->heap[m] = tmp;
        i = m;
    }
    return top;
}

/* Adds delta occurrences of (a, b) in word w; records the pair as changed. */
static void pair_add(trainer *t, int32_t a, int32_t b, int64_t delta, int32_t w, uint32_t stamp) {
    int32_t pi = pair_get(t, a, b);
    pairstat *ps = &t->p[pi];
    ps->count += delta;
    if (delta > 0) {
        if (ps->n_words == ps->cap_words) {
            ps->cap_words = ps->cap_words ? 2 * ps->cap_words : 4;
            ps->words = mg_realloc(ps->words, ps->cap_words * sizeof *ps->words);
        }
        if (!ps->n_words || ps->words[ps->n_words - 1] != w) ps->words[ps->n_words++] = w;
    }
    if (ps->touched != stamp) {
        ps->touched = stamp;
        if (t->n_changed == t->cap_changed) {
            t->cap_changed = t->cap_changed ? 2 * t->cap_changed : 1024;
            t->changed = mg_realloc(t->changed, t->cap_changed * sizeof *t->changed);
        }
        t->changed[t->n_changed++] = pi;
    }
}

static void trainer_free(trainer *t) {
    for (size_t i = 0; i < t->n; i++) free(t->p[i].words);
    free(t->p);
    free(t->slot);
    free(t->heap);
    free(t->changed);
}

static void add_merge(mg_lab_bpe *b, int32_t a, int32_t c, int32_t id) {
    if (b->n_merges == b->cap_merges) {
        b->cap_merges = b->cap_merges ? 2 * b->cap_merges : 1024;
        b->merges = mg_realloc(b->merges, b->cap_merges * sizeof *b->merges);
    }
    b->merges[b->n_merges] = (merge){a, c, id};
    mtable_insert(b, bpe_pair_key(a, c), (int32_t)b->n_merges);
    b->n_merges++;
}

/* Applies merge (a, c) -> id to every word holding the pair, keeping the pair
 * statistics exact: for an occurrence x a c y, the pairs (x,a) (c,y) (a,c)
 * lose the word's count and (x,id) (id,y) gain it. */
static void apply_merge(trainer *t, wordtab *w, int32_t pi, int32_t a, int32_t c, int32_t id,
                        uint32_t stamp) {
    int32_t *list = t->p[pi].words;
    size_t n_list = t->p[pi].n_words;
    t->p[pi].words = NULL;
    t->p[pi].n_words = t->p[pi].cap_words = 0;
    for (size_t li = 0; li < n_list; li++) {
        int32_t wi = list[li];
        if (w->stamp[wi] == stamp) continue;
        w->stamp[wi] = stamp;
        int32_t *s = w->sym + w->off[wi];
        int32_t n = w->len[wi], o = 0;
        int64_t f = w->freq[wi];
        for (int32_t j = 0; j < n;) {
            if (j + 1 < n && s[j] == a && s[j + 1] == c) {
                if (o > 0) {
                    pair_add(t, s[o - 1], a, -f, wi, stamp);
                    pair_add(t, s[o - 1], id, f, wi, stamp);
                }
                if (j + 2 < n) {
                    pair_add(t, c, s[j + 2], -f, wi, stamp);
                    pair_add(t, id, s[j + 2], f, wi, stamp);
                }
                pair_add(t, a, c, -f, wi, stamp);
                s[o++] = id;
                j += 2;
            } else {
                s[o++] = s[j++];
            }
        }
        w->len[wi] = o;
    }
    free(list);
    t->p[pi].count = 0;
}

mg_status mg_lab_bpe_train(const char *const *texts, const size_t *lens, size_t n, size_t vocab_size,
                       const char *const *specials, size_t n_specials, mg_lab_bpe **out, mg_error *err) {
    *out = NULL;
    if (vocab_size < 256 + n_specials)
        return mg_error_set(err, MG_ERR_USAGE, "vocabulary size %zu: must be at least %zu (256 bytes + %zu special tokens)",
                            vocab_size, 256 + n_specials, n_specials);
    mg_lab_bpe *b = mg_calloc(1, sizeof *b);
    mg_status st = compile_re(&b->re, err);
    if (st) {
        mg_lab_bpe_free(b);
        return st;
    }
    b->specials = mg_calloc(n_specials ? n_specials : 1, sizeof *b->specials);
    for (size_t i = 0; i < n_specials; i++) b->specials[b->n_specials++] = mg_strdup(specials[i]);
    for (int i = 0; i < 256; i++) {
        char c = (char)i;
        add_tok(b, &c, 1);
    }
    strtab names = {0};
    for (int32_t i = 0; i < 256; i++) strtab_add(&names, b, i);

    // 1. Count pre-tokens.
    wordtab w = {0};
    trainer t = {0};
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(b->re, NULL);
    count_ctx cc = {&w};
    for (size_t i = 0; i < n && !st; i++) {
        if (!bpe_utf8_valid((const unsigned char *)texts[i], lens[i])) {
            st = mg_error_set(err, MG_ERR_INVALID, "corpus text %zu: invalid UTF-8", i);
            break;
        }
        st = bpe_split_text(b, md, texts[i], lens[i], count_piece, &cc, err);
    }
    pcre2_match_data_free(md);
    if (st) goto fail;

    // 2. Initial pair counts and heap.
    uint32_t stamp = 1;
    for (size_t wi = 0; wi < w.n; wi++) {
        const int32_t *s = w.sym + w.off[wi];
        for (int32_t j = 0; j + 1 < w.len[wi]; j++) pair_add(&t, s[j], s[j + 1], w.freq[wi], (int32_t)wi, stamp);
    }
    for (size_t i = 0; i < t.n; i++) heap_push(&t, t.p[i].count, (int32_t)(t.p[i].key >> 32), (int32_t)(uint32_t)t.p[i].key);

    // 3. Merge the most frequent pair until the vocabulary is full.
    size_t target = vocab_size - n_specials;
    while (b->n_toks < target && t.hn) {
        heapent top = heap_pop(&t);
        int32_t pi = pair_get(&t, top.a, top.b);
        int64_t cur = t.p[pi].count;
        if (cur != top.count) { // stale entry: requeue with the current count
            if (cur > 0) heap_push(&t, cur, top.a, top.b);
            continue;
        }
        if (cur < 2) break; // a pair seen once teaches nothing
        size_t la = b->toks[top.a].len, lb = b->toks[top.b].len;
        char *cat = mg_malloc(la + lb + 1);
        memcpy(cat, b->toks[top.a].s, la);
        memcpy(cat + la, b->toks[top.b].s, lb);
        // Two merges can spell the same bytes ("ab"+"c", "a"+"bc"): reuse the
        // id, as HF's trainer does; the merge is still recorded.
        int32_t id = strtab_find(&names, b, cat, la + lb);
        if (id < 0) {
            id = add_tok(b, cat, la + lb);
            strtab_add(&names, b, id);
        }
        free(cat);
        add_merge(b, top.a, top.b, id);
        stamp++;
        t.n_changed = 0;
        apply_merge(&t, &w, pi, top.a, top.b, id, stamp);
        for (size_t k = 0; k < t.n_changed; k++) {
            const pairstat *ps = &t.p[t.changed[k]];
            if (ps->count > 0 && ps->key != bpe_pair_key(top.a, top.b))
                heap_push(&t, ps->count, (int32_t)(ps->key >> 32), (int32_t)(uint32_t)ps->key);
        }
    }
    wordtab_free(&w);
    trainer_free(&t);
    free(names.slot);
    *out = b;
    return MG_OK;
fail:
    wordtab_free(&w);
    trainer_free(&t);
    free(names.slot);
    mg_lab_bpe_free(b);
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

mg_status mg_lab_bpe_train_dir(const char *dir, size_t vocab_size, mg_lab_bpe **out, mg_error *err) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return mg_error_set(err, MG_ERR_NOT_FOUND, "%s: cannot open corpus directory", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".txt")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            names = mg_realloc(names, cap * sizeof *names);
        }
        names[n++] = mg_strdup(e->d_name);
    }
    closedir(d);
    mg_status st = MG_OK;
    if (!n) st = mg_error_set(err, MG_ERR_INVALID, "%s: no *.txt corpus files", dir);
    qsort(names, n, sizeof *names, cmp_str);
    char **texts = mg_calloc(n ? n : 1, sizeof *texts);
    size_t *lens = mg_calloc(n ? n : 1, sizeof *lens);
    for (size_t i = 0; i < n && !st; i++) {
        char *p = mg_path_join(dir, names[i]);
        st = mg_file_read_all(p, 0, &texts[i], &lens[i], err);
        if (!st && !bpe_utf8_valid((const unsigned char *)texts[i], lens[i]))
            st = mg_error_set(err, MG_ERR_INVALID, "%s: invalid UTF-8", p);
        free(p);
    }
    if (!st) {
        size_t ns;
        const char *const *sp = mg_world_special_tokens(&ns);
        st = mg_lab_bpe_train((const char *const *)texts, lens, n, vocab_size, sp, ns, out, err);
    }
    for (size_t i = 0; i < n; i++) {
        free(texts[i]);
        free(names[i]);
    }
    free(texts);
    free(lens);
    free(names);
    return st;
}

void mg_lab_bpe_free(mg_lab_bpe *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n_toks; i++) free(b->toks[i].s);
    free(b->toks);
    free(b->merges);
    for (size_t i = 0; i < b->n_specials; i++) free(b->specials[i]);
    free(b->specials);
    free(b->mkeys);
    free(b->mvals);
    if (b->re) pcre2_code_free(b->re);
    free(b);
}
