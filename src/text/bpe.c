/* bpe.c - see bpe.h. */
#include "text/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/hashmap.h"
#include "text/textbuf.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

/* Word cache bounds: words longer than this are not cached (HF uses 256 too);
 * the cache is emptied when it holds too many entries or ids. */
#define CACHE_MAX_WORD 256
#define CACHE_MAX_ENTRIES 100000
#define CACHE_MAX_IDS 2000000

struct mg_bpe {
    mg_strmap *vocab;  // model-space key (raw bytes when byte-level) -> id
    mg_u64map *merges; // (left id << 32 | right id) -> (rank << 32 | merged id)
    int32_t byte_id[256]; // byte-level: token of each byte; else <0xXX> tokens (or -1)
    int32_t ascii_id[128];
    int32_t unk_id;
    bool byte_level, byte_fallback, fuse_unk, ignore_merges;
    size_t vocab_size;
    // SentencePiece-style words are whole sentences (no pre-tokenizer). They
    // are cut before a "▁" whose preceding char c never precedes "▁" inside a
    // vocab token: no token spans such a point, so no merge can cross it and
    // BPE of the pieces equals BPE of the whole (exact), while the pieces hit
    // the word cache. sp_bad holds those c that do (Gemma: ">" of ">▁</").
    bool sp_split;
    mg_strmap *sp_bad;
};

#define SP_MARK "\xE2\x96\x81" // U+2581 ▁
#define SP_SPLIT_MIN 64         // words shorter than this are not cut

typedef struct sym {
    int32_t id;
    int32_t prev, next; // -1 at the ends
    bool alive;
} sym;

typedef struct merge_ent {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
    int32_t left, right; // the pair when queued, to detect stale entries
} merge_ent;

struct mg_bpe_scratch {
    sym *syms;
    size_t syms_cap;
    merge_ent *heap;
    size_t heap_n, heap_cap;
    mg_strmap *cache; // word -> offset into cache_ids ([count, ids...])
    mg_idvec cache_ids;
};

void mg_idvec_push(mg_idvec *v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->p = (int32_t *)mg_realloc(v->p, v->cap * sizeof(int32_t));
    }
    v->p[v->n++] = id;
}

void mg_idvec_append(mg_idvec *v, const int32_t *ids, size_t n) {
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 64;
        while (cap < v->n + n) cap *= 2;
        v->p = (int32_t *)mg_realloc(v->p, cap * sizeof(int32_t));
        v->cap = cap;
    }
    if (n) memcpy(v->p + v->n, ids, n * sizeof(int32_t));
    v->n += n;
}

void mg_bpe_free(mg_bpe *b) {
    if (!b) return;
    mg_strmap_free(b->vocab);
    mg_u64map_free(b->merges);
    mg_strmap_free(b->sp_bad);
    free(b);
}

size_t mg_bpe_vocab_size(const mg_bpe *b) {
    return b->vocab_size;
}

/* The model-space key of a vocab token: for byte-level, the raw bytes its
 * alphabet characters stand for. False when a character is outside it. */
static bool model_key(const mg_bpe *b, const char *tok, size_t len, mg_textbuf *key) {
    mg_textbuf_clear(key);
    if (!b->byte_level) {
        mg_textbuf_append(key, tok, len);
        return true;
    }
    for (size_t i = 0; i < len;) {
        size_t l;
        uint32_t cp = mg_utf8_decode((const uint8_t *)tok + i, len - i, &l);
        int byte = mg_bytelevel_byte(cp);
        if (byte < 0) return false;
        mg_textbuf_putc(key, (char)byte);
        i += l;
    }
    return true;
}

static int32_t vocab_id(const json_t *vocab, const char *tok, size_t len) {
    json_t *v = json_object_getn(vocab, tok, len);
    return json_is_integer(v) ? (int32_t)json_integer_value(v) : -1;
}

static mg_status load_merges(mg_bpe *b, const json_t *vocab, const json_t *merges, mg_error *err) {
    size_t n = json_array_size(merges);
    b->merges = mg_u64map_new(n);
    mg_textbuf cat = {0};
    mg_status rc = MG_OK;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(merges, i);
        const char *a, *c;
        size_t al, cl;
        if (json_is_string(m)) { // "a b"
            a = json_string_value(m);
            const char *sp = memchr(a, ' ', json_string_length(m));
            if (!sp || memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - a))) {
                char pv[MG_PREVIEW_MAX];
                rc = mg_error_set(err, MG_ERR_INVALID,
                                  "tokenizer.json: model.merges[%zu]: expected \"left right\" "
                                  "with one space, found \"%s\"",
                                  i, mg_error_preview(pv, a, json_string_length(m)));
                break;
            }
            al = (size_t)(sp - a);
            c = sp + 1;
            cl = json_string_length(m) - al - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            al = json_string_length(json_array_get(m, 0));
            c = json_string_value(json_array_get(m, 1));
            cl = json_string_length(json_array_get(m, 1));
        } else {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "tokenizer.json: model.merges[%zu]: expected a string \"a b\" or "
                              "a pair [\"a\", \"b\"]",
                              i);
            break;
        }
        mg_textbuf_clear(&cat);
        mg_textbuf_append(&cat, a, al);
        mg_textbuf_append(&cat, c, cl);
        int32_t ia = vocab_id(vocab, a, al), ib = vocab_id(vocab, c, cl);
        int32_t inew = vocab_id(vocab, cat.p, cat.len);
        if (ia < 0 || ib < 0 || inew < 0) {
            char pa[MG_PREVIEW_MAX], pc[MG_PREVIEW_MAX];
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "tokenizer.json: model.merges[%zu]: \"%s\" + \"%s\" uses a token "
                              "missing from model.vocab",
                              i, mg_error_preview(pa, a, al), mg_error_preview(pc, c, cl));
            break;
        }
        mg_u64map_put(b->merges, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib,
                      ((uint64_t)i << 32) | (uint32_t)inew);
    }
    mg_textbuf_free(&cat);
    return rc;
}

static bool opt_string_set(const json_t *model, const char *key) {
    json_t *v = json_object_get(model, key);
    return json_is_string(v) && json_string_length(v) > 0;
}

mg_status mg_bpe_load(const json_t *model, bool byte_level, mg_bpe **out, mg_error *err) {
    *out = NULL;
    if (!json_is_object(model))
        return mg_error_set(err, MG_ERR_INVALID, "tokenizer.json: missing 'model' object");
    const char *type = json_string_value(json_object_get(model, "type"));
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    if (!type && json_is_object(vocab) && json_is_array(merges)) type = "BPE"; // old files
    if (!type)
        return mg_error_set(err, MG_ERR_INVALID, "tokenizer.json: model: missing 'type'");
    if (!strcmp(type, "Unigram") || !strcmp(type, "WordPiece") || !strcmp(type, "WordLevel"))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "tokenizer.json: model.type '%s' is not supported (only BPE "
                            "tokenizers are)",
                            type);
    if (strcmp(type, "BPE"))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "tokenizer.json: unknown model.type '%s' (expected BPE)", type);
    if (!json_is_object(vocab))
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: model.vocab: expected an object token -> id");
    if (!json_is_array(merges))
        return mg_error_set(err, MG_ERR_INVALID, "tokenizer.json: model.merges: expected a list");
    if (opt_string_set(model, "continuing_subword_prefix") ||
        opt_string_set(model, "end_of_word_suffix"))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "tokenizer.json: model: continuing_subword_prefix / "
                            "end_of_word_suffix are not supported");
    json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0)
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "tokenizer.json: model.dropout %g: BPE dropout is not supported",
                            json_number_value(dropout));

    mg_bpe *b = (mg_bpe *)mg_calloc(1, sizeof *b);
    b->byte_level = byte_level;
    b->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    b->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    b->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    b->unk_id = -1;
    b->vocab = mg_strmap_new(json_object_size(vocab));
    mg_status rc = MG_OK;
    mg_textbuf key = {0};
    const char *tok;
    size_t tok_len;
    json_t *idv;
    json_object_keylen_foreach(vocab, tok, tok_len, idv) {
        char pv[MG_PREVIEW_MAX];
        if (!json_is_integer(idv) || json_integer_value(idv) < 0 ||
            json_integer_value(idv) >= INT32_MAX) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "tokenizer.json: model.vocab[\"%s\"]: expected an id in "
                              "[0, 2^31), found %s",
                              mg_error_preview(pv, tok, tok_len),
                              json_is_integer(idv) ? "out of range" : "no integer");
            goto fail;
        }
        if (tok_len > MG_TOKENIZER_MAX_TOKEN) {
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "tokenizer.json: model.vocab: token \"%s\" is longer than the "
                              "%d-byte limit",
                              mg_error_preview(pv, tok, tok_len), MG_TOKENIZER_MAX_TOKEN);
            goto fail;
        }
        int32_t id = (int32_t)json_integer_value(idv);
        if ((size_t)id + 1 > b->vocab_size) b->vocab_size = (size_t)id + 1;
        if (model_key(b, tok, tok_len, &key)) mg_strmap_put(b->vocab, key.p, key.len, id);
    }
    for (int i = 0; i < 256; i++) {
        char name[8];
        if (byte_level) {
            char c = (char)i;
            b->byte_id[i] = mg_strmap_get(b->vocab, &c, 1);
        } else {
            snprintf(name, sizeof name, "<0x%02X>", i);
            b->byte_id[i] = b->byte_fallback ? vocab_id(vocab, name, strlen(name)) : -1;
        }
    }
    for (int i = 0; i < 128; i++) {
        char c = (char)i;
        b->ascii_id[i] = byte_level ? b->byte_id[i] : mg_strmap_get(b->vocab, &c, 1);
    }
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk)) {
        b->unk_id = vocab_id(vocab, json_string_value(unk), json_string_length(unk));
        if (b->unk_id < 0) {
            char pv[MG_PREVIEW_MAX];
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "tokenizer.json: model.unk_token \"%s\" is not in model.vocab",
                              mg_error_preview(pv, json_string_value(unk), json_string_length(unk)));
            goto fail;
        }
    }
    if (!byte_level && mg_strmap_get(b->vocab, SP_MARK, 3) >= 0) {
        b->sp_split = true;
        b->sp_bad = mg_strmap_new(16);
        json_object_keylen_foreach(vocab, tok, tok_len, idv) {
            for (size_t i = 1; i + 3 <= tok_len; i++) {
                if (memcmp(tok + i, SP_MARK, 3)) continue;
                size_t st = i - 1;
                while (st > 0 && ((unsigned char)tok[st] & 0xC0) == 0x80) st--;
                if (i - st == 3 && !memcmp(tok + st, SP_MARK, 3)) continue; // inside a ▁ run
                mg_strmap_put(b->sp_bad, tok + st, i - st, 1);
            }
        }
    }
    rc = load_merges(b, vocab, merges, err);
    if (rc != MG_OK) goto fail;
    mg_textbuf_free(&key);
    *out = b;
    return MG_OK;
fail:
    mg_textbuf_free(&key);
    mg_bpe_free(b);
    return rc;
}

mg_bpe_scratch *mg_bpe_scratch_new(void) {
    mg_bpe_scratch *s = (mg_bpe_scratch *)mg_calloc(1, sizeof *s);
    s->cache = mg_strmap_new(1024);
    return s;
}

void mg_bpe_scratch_free(mg_bpe_scratch *s) {
    if (!s) return;
    free(s->syms);
    free(s->heap);
    mg_strmap_free(s->cache);
    free(s->cache_ids.p);
    free(s);
}

/* ---- merging ---- */

static inline bool ent_less(const merge_ent *a, const merge_ent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(mg_bpe_scratch *s, merge_ent e) {
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 64;
        s->heap = (merge_ent *)mg_realloc(s->heap, s->heap_cap * sizeof(merge_ent));
    }
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ent_less(&e, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = e;
}

static merge_ent heap_pop(mg_bpe_scratch *s) {
    merge_ent top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && ent_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!ent_less(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static inline bool lookup_merge(const mg_bpe *b, int32_t l, int32_t r, uint32_t *rank,
                                int32_t *new_id) {
    uint64_t v;
    if (!mg_u64map_get(b->merges, ((uint64_t)(uint32_t)l << 32) | (uint32_t)r, &v)) return false;
    *rank = (uint32_t)(v >> 32);
    *new_id = (int32_t)(uint32_t)v;
    return true;
}

static void try_push(const mg_bpe *b, mg_bpe_scratch *s, int32_t pos) {
    sym *x = &s->syms[pos];
    if (x->next < 0) return;
    merge_ent e;
    if (lookup_merge(b, x->id, s->syms[x->next].id, &e.rank, &e.new_id)) {
        e.pos = (uint32_t)pos;
        e.left = x->id;
        e.right = s->syms[x->next].id;
        heap_push(s, e);
    }
}

/* Builds the initial symbols; returns their count. */
static size_t initial_symbols(const mg_bpe *b, mg_bpe_scratch *s, const char *w, size_t len) {
    if (len > s->syms_cap) {
        s->syms_cap = len < 64 ? 64 : len;
        free(s->syms);
        s->syms = (sym *)mg_malloc_array(s->syms_cap, sizeof(sym));
    }
    size_t n = 0;
    bool prev_unk = false;
    for (size_t i = 0; i < len;) {
        size_t l = 1;
        int32_t id;
        uint8_t c = (uint8_t)w[i];
        if (b->byte_level) id = b->byte_id[c];
        else if (c < 0x80) id = b->ascii_id[c];
        else {
            mg_utf8_decode((const uint8_t *)w + i, len - i, &l);
            id = mg_strmap_get(b->vocab, w + i, l);
        }
        if (id >= 0) {
            s->syms[n++].id = id;
            prev_unk = false;
        } else {
            bool done = false;
            if (b->byte_fallback && !b->byte_level) {
                bool all = true;
                for (size_t k = 0; k < l; k++) all = all && b->byte_id[(uint8_t)w[i + k]] >= 0;
                if (all) {
                    for (size_t k = 0; k < l; k++) s->syms[n++].id = b->byte_id[(uint8_t)w[i + k]];
                    done = true;
                    prev_unk = false;
                }
            }
            if (!done && b->unk_id >= 0) {
                if (!(b->fuse_unk && prev_unk)) s->syms[n++].id = b->unk_id;
                prev_unk = true;
            }
        }
        i += l;
    }
    for (size_t i = 0; i < n; i++) {
        s->syms[i].prev = (int32_t)i - 1;
        s->syms[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
        s->syms[i].alive = true;
    }
    return n;
}

static void merge_word(const mg_bpe *b, mg_bpe_scratch *s, size_t n) {
    s->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) try_push(b, s, (int32_t)i);
    while (s->heap_n) {
        merge_ent top = heap_pop(s);
        sym *x = &s->syms[top.pos];
        if (!x->alive || x->next < 0) continue;
        sym *r = &s->syms[x->next];
        // Stale entry: the pair at this position changed since it was queued.
        // (Rust re-looks the pair up and compares the merged id; symbols only
        // grow, so a changed pair never yields the same merged token and
        // comparing the two ids is the same test without a hash lookup.)
        if (x->id != top.left || r->id != top.right) continue;
        x->id = top.new_id;
        r->alive = false;
        x->next = r->next;
        if (r->next >= 0) s->syms[r->next].prev = (int32_t)top.pos;
        if (x->prev >= 0) try_push(b, s, x->prev);
        try_push(b, s, (int32_t)top.pos);
    }
}

static void encode_piece(const mg_bpe *b, mg_bpe_scratch *s, const char *w, size_t len,
                         mg_idvec *out);

/* True when a "▁" at w[p] may start a new piece (see mg_bpe.sp_split). */
static bool sp_cut(const mg_bpe *b, const char *w, size_t p) {
    if (p == 0 || memcmp(w + p, SP_MARK, 3)) return false;
    size_t st = p - 1;
    while (st > 0 && ((unsigned char)w[st] & 0xC0) == 0x80) st--;
    size_t l = p - st;
    if (l == 3 && !memcmp(w + st, SP_MARK, 3)) return false; // inside a ▁ run
    if (mg_strmap_get(b->sp_bad, w + st, l) >= 0) return false;
    // A char outside the vocab becomes <0xXX> or unk tokens, whose strings end
    // in ">": never cut after it, whatever merges those could have.
    return mg_strmap_get(b->vocab, w + st, l) >= 0;
}

void mg_bpe_encode_word(const mg_bpe *b, mg_bpe_scratch *s, const char *w, size_t len,
                        mg_idvec *out) {
    if (len == 0) return;
    if (b->ignore_merges) {
        int32_t id = mg_strmap_get(b->vocab, w, len);
        if (id >= 0) {
            mg_idvec_push(out, id);
            return;
        }
    }
    if (b->sp_split && len >= SP_SPLIT_MIN) {
        size_t start = 0;
        for (size_t p = 1; p + 3 <= len; p++) {
            if ((unsigned char)w[p] != 0xE2 || !sp_cut(b, w, p)) continue;
            encode_piece(b, s, w + start, p - start, out);
            start = p;
        }
        encode_piece(b, s, w + start, len - start, out);
        return;
    }
    encode_piece(b, s, w, len, out);
}

static void encode_piece(const mg_bpe *b, mg_bpe_scratch *s, const char *w, size_t len,
                         mg_idvec *out) {
    bool cacheable = len <= CACHE_MAX_WORD;
    if (cacheable) {
        int32_t off = mg_strmap_get(s->cache, w, len);
        if (off >= 0) {
            mg_idvec_append(out, s->cache_ids.p + off + 1, (size_t)s->cache_ids.p[off]);
            return;
        }
    }
    size_t n = initial_symbols(b, s, w, len);
    if (n > 1) merge_word(b, s, n);
    size_t start = out->n;
    for (int32_t i = n ? 0 : -1; i >= 0; i = s->syms[i].next) mg_idvec_push(out, s->syms[i].id);
    if (cacheable) {
        if (mg_strmap_count(s->cache) >= CACHE_MAX_ENTRIES || s->cache_ids.n >= CACHE_MAX_IDS) {
            mg_strmap_clear(s->cache);
            s->cache_ids.n = 0;
        }
        size_t cnt = out->n - start;
        mg_strmap_put(s->cache, w, len, (int32_t)s->cache_ids.n);
        mg_idvec_push(&s->cache_ids, (int32_t)cnt);
        if (cnt) mg_idvec_append(&s->cache_ids, out->p + start, cnt); // out->p may be NULL
    }
}
