/* bpe_export.c - encoding with the learned merges and the HF tokenizer.json /
 * tokenizer_config.json export of the lab's byte-level BPE. See bpe_train.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "lab/bpe_train_impl.h"
#include "lab/world.h"

/* ---- GPT-2 byte-level alphabet ---- */

/* bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68
 * bytes to U+0100 onwards in byte order. Fills map[256] with code points. */
static void byte_alphabet(uint32_t map[256]) {
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        map[b] = keep ? (uint32_t)b : next++;
    }
}

static void put_utf8(char **p, uint32_t cp) {
    unsigned char *q = (unsigned char *)*p;
    if (cp < 0x80) *q++ = (unsigned char)cp;
    else {
        *q++ = (unsigned char)(0xC0 | (cp >> 6));
        *q++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *p = (char *)q;
}

/* Byte-level string of raw bytes (each byte -> one code point < 0x800). Owned. */
static char *byte_level(const char *s, size_t n) {
    uint32_t map[256];
    byte_alphabet(map);
    char *out = mg_malloc(2 * n + 1), *p = out;
    for (size_t i = 0; i < n; i++) put_utf8(&p, map[(unsigned char)s[i]]);
    *p = 0;
    return out;
}

/* ---- encoding ---- */

size_t mg_lab_bpe_vocab_size(const mg_lab_bpe *b) {
    return b->n_toks + b->n_specials;
}

size_t mg_lab_bpe_n_merges(const mg_lab_bpe *b) {
    return b->n_merges;
}

const char *mg_lab_bpe_token_bytes(const mg_lab_bpe *b, int32_t id, size_t *len) {
    if (id < 0) return NULL;
    if ((size_t)id < b->n_toks) {
        *len = b->toks[id].len;
        return b->toks[id].s;
    }
    if ((size_t)id < b->n_toks + b->n_specials) {
        *len = strlen(b->specials[id - (int32_t)b->n_toks]);
        return b->specials[id - (int32_t)b->n_toks];
    }
    return NULL;
}

typedef struct enc_ctx {
    const mg_lab_bpe *b;
    int32_t *ids;
    size_t n, cap;
    int32_t *tmp;
    size_t tmp_cap;
} enc_ctx;

static void enc_push(enc_ctx *e, int32_t id) {
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 256;
        e->ids = mg_realloc(e->ids, e->cap * sizeof *e->ids);
    }
    e->ids[e->n++] = id;
}

/* HF's BPE word merge: repeatedly apply the adjacent pair of lowest merge
 * rank (leftmost among equals) until none is in the merge table. */
static void enc_piece(void *ctx, const char *s, size_t n, int32_t special) {
    enc_ctx *e = ctx;
    if (special >= 0) {
        enc_push(e, special);
        return;
    }
    if (n > e->tmp_cap) {
        e->tmp_cap = n;
        e->tmp = mg_realloc(e->tmp, n * sizeof *e->tmp);
    }
    int32_t *sym = e->tmp;
    size_t m = n;
    for (size_t i = 0; i < n; i++) sym[i] = (unsigned char)s[i];
    for (;;) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            int32_t r = bpe_mtable_find(e->b, bpe_pair_key(sym[i], sym[i + 1]));
            if (r >= 0 && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) break;
        sym[at] = e->b->merges[best].id;
        memmove(sym + at + 1, sym + at + 2, (m - at - 2) * sizeof *sym);
        m--;
    }
    for (size_t i = 0; i < m; i++) enc_push(e, sym[i]);
}

mg_status mg_lab_bpe_encode(const mg_lab_bpe *b, const char *text, size_t len, int32_t **ids, size_t *n,
                        mg_error *err) {
    *ids = NULL;
    *n = 0;
    if (!bpe_utf8_valid((const unsigned char *)text, len))
        return mg_error_set(err, MG_ERR_INVALID, "encode: invalid UTF-8");
    enc_ctx e = {.b = b};
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(b->re, NULL);
    mg_status st = bpe_split_text(b, md, text, len, enc_piece, &e, err);
    pcre2_match_data_free(md);
    free(e.tmp);
    if (st) {
        free(e.ids);
        return st;
    }
    *ids = e.ids ? e.ids : mg_malloc(1);
    *n = e.n;
    return MG_OK;
}

mg_status mg_lab_bpe_decode(const mg_lab_bpe *b, const int32_t *ids, size_t n, char **out, size_t *len,
                        mg_error *err) {
    size_t total = 0, l;
    for (size_t i = 0; i < n; i++) {
        if (!mg_lab_bpe_token_bytes(b, ids[i], &l))
            return mg_error_set(err, MG_ERR_INVALID, "decode: token id %d out of range (vocab %zu)", ids[i],
                                mg_lab_bpe_vocab_size(b));
        total += l;
    }
    char *s = mg_malloc(total + 1), *p = s;
    for (size_t i = 0; i < n; i++) {
        const char *t = mg_lab_bpe_token_bytes(b, ids[i], &l);
        memcpy(p, t, l);
        p += l;
    }
    *p = 0;
    *out = s;
    *len = total;
    return MG_OK;
}

/* ---- HF export ---- */

static json_t *added_token(size_t id, const char *content) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)id));
    json_object_set_new(o, "content", json_string(content));
    json_object_set_new(o, "single_word", json_false());
    json_object_set_new(o, "lstrip", json_false());
    json_object_set_new(o, "rstrip", json_false());
    json_object_set_new(o, "normalized", json_false());
    json_object_set_new(o, "special", json_true());
    return o;
}

static json_t *byte_level_obj(bool add_prefix_space, bool trim_offsets) {
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("ByteLevel"));
    json_object_set_new(o, "add_prefix_space", json_boolean(add_prefix_space));
    json_object_set_new(o, "trim_offsets", json_boolean(trim_offsets));
    json_object_set_new(o, "use_regex", json_true());
    return o;
}

json_t *mg_lab_bpe_tokenizer_json(const mg_lab_bpe *b) {
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "truncation", json_null());
    json_object_set_new(root, "padding", json_null());
    json_t *added = json_array();
    for (size_t i = 0; i < b->n_specials; i++) json_array_append_new(added, added_token(b->n_toks + i, b->specials[i]));
    json_object_set_new(root, "added_tokens", added);
    json_object_set_new(root, "normalizer", json_null());
    // As HF writes a GPT-2-style byte-level BPE (tokenizers ByteLevel defaults).
    json_object_set_new(root, "pre_tokenizer", byte_level_obj(false, true));
    json_object_set_new(root, "post_processor", byte_level_obj(true, false));
    json_object_set_new(root, "decoder", byte_level_obj(true, true));
    json_t *model = json_object();
    json_object_set_new(model, "type", json_string("BPE"));
    json_object_set_new(model, "dropout", json_null());
    json_object_set_new(model, "unk_token", json_null());
    json_object_set_new(model, "continuing_subword_prefix", json_null());
    json_object_set_new(model, "end_of_word_suffix", json_null());
    json_object_set_new(model, "fuse_unk", json_false());
    json_object_set_new(model, "byte_fallback", json_false());
    json_object_set_new(model, "ignore_merges", json_false());
    json_t *vocab = json_object();
    for (size_t i = 0; i < b->n_toks; i++) {
        char *s = byte_level(b->toks[i].s, b->toks[i].len);
        json_object_set_new(vocab, s, json_integer((json_int_t)i));
        free(s);
    }
    json_object_set_new(model, "vocab", vocab);
    json_t *merges = json_array();
    for (size_t i = 0; i < b->n_merges; i++) {
        const tok *x = &b->toks[b->merges[i].a], *y = &b->toks[b->merges[i].b];
        char *l = byte_level(x->s, x->len), *r = byte_level(y->s, y->len);
        size_t n = strlen(l) + strlen(r) + 2;
        char *m = mg_malloc(n);
        snprintf(m, n, "%s %s", l, r);
        json_array_append_new(merges, json_string(m));
        free(m);
        free(l);
        free(r);
    }
    json_object_set_new(model, "merges", merges);
    json_object_set_new(root, "model", model);
    return root;
}

json_t *mg_lab_bpe_tokenizer_config(const mg_lab_bpe *b, const char *chat_template, const char *bos,
                                const char *eos, const char *pad) {
    json_t *c = json_object();
    json_object_set_new(c, "add_bos_token", json_false());
    json_object_set_new(c, "add_eos_token", json_false());
    json_t *dec = json_object();
    for (size_t i = 0; i < b->n_specials; i++) {
        json_t *o = added_token(b->n_toks + i, b->specials[i]);
        json_object_del(o, "id");
        char id[32];
        snprintf(id, sizeof id, "%zu", b->n_toks + i);
        json_object_set_new(dec, id, o);
    }
    json_object_set_new(c, "added_tokens_decoder", dec);
    json_object_set_new(c, "bos_token", json_string(bos));
    json_object_set_new(c, "eos_token", json_string(eos));
    json_object_set_new(c, "pad_token", json_string(pad));
    json_object_set_new(c, "unk_token", json_null());
    json_object_set_new(c, "clean_up_tokenization_spaces", json_false());
    json_object_set_new(c, "model_max_length", json_integer(2048));
    json_object_set_new(c, "tokenizer_class", json_string("PreTrainedTokenizerFast"));
    json_object_set_new(c, "chat_template", json_string(chat_template));
    return c;
}

static mg_status write_json(const char *dir, const char *name, json_t *v, mg_error *err) {
    char *path = mg_path_join(dir, name);
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    mg_status st = s ? mg_write_file_atomic(path, s, strlen(s), false, err)
                     : mg_error_set(err, MG_ERR_RUNTIME, "%s: cannot serialize", path);
    free(s);
    free(path);
    json_decref(v);
    return st;
}

mg_status mg_lab_bpe_write_tokenizer(const mg_lab_bpe *b, const char *dir, const char *chat_template,
                                 const char *eos, mg_error *err) {
    mg_status st = write_json(dir, "tokenizer.json", mg_lab_bpe_tokenizer_json(b), err);
    if (!st)
        st = write_json(dir, "tokenizer_config.json",
                        mg_lab_bpe_tokenizer_config(b, chat_template, "<|begin_of_text|>", eos, "<|pad|>"), err);
    return st;
}

mg_status mg_lab_bpe_write_lab_tokenizers(const mg_lab_bpe *b, const char *out_dir, bool force, mg_error *err) {
    mg_atomic_out *o = NULL;
    mg_status st = mg_atomic_begin(out_dir, true, force, &o, err);
    if (st) return st;
    char *chat = mg_path_join(mg_atomic_tmp_path(o), "chat");
    char *guard = mg_path_join(mg_atomic_tmp_path(o), "guard");
    st = mg_mkdir_p(chat, err);
    if (!st) st = mg_mkdir_p(guard, err);
    if (!st) st = mg_lab_bpe_write_tokenizer(b, chat, mg_world_chatml_template(), "<|im_end|>", err);
    if (!st) st = mg_lab_bpe_write_tokenizer(b, guard, mg_world_guard_template(), "<|eot_id|>", err);
    free(chat);
    free(guard);
    if (st) {
        mg_atomic_abort(o);
        return st;
    }
    return mg_atomic_commit(o, err);
}

