/* added_tokens.c - see added_tokens.h. */
#include "text/added_tokens.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/hashmap.h"
#include "text/textbuf.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

typedef struct trie {
    mg_u64map *edges;   // (node << 8 | byte) -> child node
    int32_t *token;     // node -> index into tokens, or -1
    size_t n_nodes, cap;
    uint8_t first[32];  // bitmap of bytes that start some pattern
    size_t n_patterns;
} trie;

struct mg_added_vocab {
    mg_added_token *tokens;
    size_t n;
    trie raw, norm; // normalized=false / normalized=true patterns
};

static void trie_init(trie *t) {
    t->edges = mg_u64map_new(256);
    t->cap = 64;
    t->token = (int32_t *)mg_malloc_array(t->cap, sizeof(int32_t));
    t->token[0] = -1;
    t->n_nodes = 1;
}

static void trie_free(trie *t) {
    mg_u64map_free(t->edges);
    free(t->token);
}

static void trie_add(trie *t, const char *p, size_t len, int32_t index) {
    if (len == 0) return;
    uint64_t node = 0;
    t->first[(uint8_t)p[0] >> 3] |= (uint8_t)(1u << ((uint8_t)p[0] & 7));
    for (size_t i = 0; i < len; i++) {
        uint64_t key = (node << 8) | (uint8_t)p[i], child;
        if (!mg_u64map_get(t->edges, key, &child)) {
            if (t->n_nodes == t->cap) {
                t->cap *= 2;
                t->token = (int32_t *)mg_realloc(t->token, t->cap * sizeof(int32_t));
            }
            child = t->n_nodes++;
            t->token[child] = -1;
            mg_u64map_put(t->edges, key, child);
        }
        node = child;
    }
    t->token[node] = index; // a later duplicate wins, as in HF's map
    t->n_patterns++;
}

void mg_added_vocab_free(mg_added_vocab *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) free(v->tokens[i].content);
    free(v->tokens);
    trie_free(&v->raw);
    trie_free(&v->norm);
    free(v);
}

static bool flag(const json_t *o, const char *key, bool def) {
    json_t *v = json_object_get(o, key);
    return v ? json_is_true(v) : def;
}

mg_status mg_added_vocab_parse(const json_t *list, const mg_normalizer *norm,
                               mg_added_vocab **out, mg_error *err) {
    *out = NULL;
    if (list && !json_is_null(list) && !json_is_array(list))
        return mg_error_set(err, MG_ERR_INVALID, "tokenizer.json: added_tokens: expected a list");
    mg_added_vocab *v = (mg_added_vocab *)mg_calloc(1, sizeof *v);
    trie_init(&v->raw);
    trie_init(&v->norm);
    size_t n = json_array_size(list);
    v->tokens = (mg_added_token *)mg_calloc(n + 1, sizeof(mg_added_token));
    mg_textbuf nb = {0};
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(list, i);
        json_t *id = json_object_get(o, "id"), *content = json_object_get(o, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= INT32_MAX || !json_is_string(content)) {
            mg_textbuf_free(&nb);
            mg_added_vocab_free(v);
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: added_tokens[%zu]: expected an integer 'id' in "
                                "[0, 2^31) and a string 'content'",
                                i);
        }
        if (json_string_length(content) > MG_TOKENIZER_MAX_TOKEN) {
            char pv[MG_PREVIEW_MAX];
            mg_textbuf_free(&nb);
            mg_added_vocab_free(v);
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: added_tokens[%zu]: content \"%s\" is longer than "
                                "the %d-byte limit",
                                i,
                                mg_error_preview(pv, json_string_value(content),
                                                 json_string_length(content)),
                                MG_TOKENIZER_MAX_TOKEN);
        }
        mg_added_token *t = &v->tokens[v->n];
        t->len = json_string_length(content);
        t->content = mg_strndup(json_string_value(content), t->len);
        t->id = (int32_t)json_integer_value(id);
        t->special = flag(o, "special", false);
        t->lstrip = flag(o, "lstrip", false);
        t->rstrip = flag(o, "rstrip", false);
        t->single_word = flag(o, "single_word", false);
        t->normalized = flag(o, "normalized", !t->special);
        if (mg_utf8_valid_prefix(t->content, t->len) != t->len) {
            free(t->content);
            mg_textbuf_free(&nb);
            mg_added_vocab_free(v);
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: added_tokens[%zu]: content is not valid UTF-8", i);
        }
        if (t->normalized) {
            mg_normalizer_apply(norm, t->content, t->len, &nb);
            trie_add(&v->norm, nb.p, nb.len, (int32_t)v->n);
        } else {
            trie_add(&v->raw, t->content, t->len, (int32_t)v->n);
        }
        v->n++;
    }
    mg_textbuf_free(&nb);
    *out = v;
    return MG_OK;
}

size_t mg_added_vocab_count(const mg_added_vocab *v) {
    return v->n;
}

const mg_added_token *mg_added_vocab_get(const mg_added_vocab *v, size_t i) {
    return i < v->n ? &v->tokens[i] : NULL;
}

static void push(mg_splitvec *out, size_t a, size_t b, int32_t id) {
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 16;
        out->p = (mg_split *)mg_realloc(out->p, out->cap * sizeof(mg_split));
    }
    out->p[out->n++] = (mg_split){a, b, id};
}

/* The code point ending just before position i (i > 0). */
static uint32_t cp_before(const char *s, size_t i) {
    size_t st = i - 1;
    while (st > 0 && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
    size_t l;
    return mg_utf8_decode((const uint8_t *)s + st, i - st, &l);
}

void mg_added_vocab_split(const mg_added_vocab *v, bool normalized, const char *s, size_t n,
                          mg_splitvec *out) {
    const trie *t = normalized ? &v->norm : &v->raw;
    size_t start_offset = 0;
    if (t->n_patterns) {
        size_t i = 0;
        while (i < n) {
            uint8_t c = (uint8_t)s[i];
            if (!(t->first[c >> 3] & (1u << (c & 7)))) {
                i++;
                continue;
            }
            // Longest pattern starting at i.
            uint64_t node = 0, child;
            int32_t best = -1;
            size_t best_end = 0;
            for (size_t j = i; j < n; j++) {
                if (!mg_u64map_get(t->edges, (node << 8) | (uint8_t)s[j], &child)) break;
                node = child;
                if (t->token[node] >= 0) best = t->token[node], best_end = j + 1;
            }
            if (best < 0) {
                i++;
                continue;
            }
            const mg_added_token *tok = &v->tokens[best];
            size_t start = i, stop = best_end;
            i = best_end; // the matcher resumes after this match even if it is discarded
            if (tok->single_word) {
                size_t l;
                bool word_before = start > 0 && mg_uc_is_word(cp_before(s, start));
                bool word_after =
                    stop < n && mg_uc_is_word(mg_utf8_decode((const uint8_t *)s + stop, n - stop, &l));
                if (word_before || word_after) continue;
            }
            if (start < start_offset) continue; // inside whitespace an rstrip already took
            if (tok->lstrip) {
                size_t ns = start;
                while (ns > start_offset && mg_uc_is_whitespace(cp_before(s, ns))) {
                    size_t st = ns - 1;
                    while (st > 0 && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
                    ns = st;
                }
                start = ns;
            }
            if (tok->rstrip) {
                while (stop < n) {
                    size_t l;
                    if (!mg_uc_is_whitespace(mg_utf8_decode((const uint8_t *)s + stop, n - stop, &l)))
                        break;
                    stop += l;
                }
                if (stop > i) i = stop;
            }
            if (start_offset < start) push(out, start_offset, start, -1);
            push(out, start, stop, tok->id);
            start_offset = stop;
        }
    }
    if (start_offset < n) push(out, start_offset, n, -1);
}
