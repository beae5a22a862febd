/* tokenizer.c - see tokenizer.h. The pipeline is the one of Rust `tokenizers`
 * (Tokenizer::encode_single_sequence):
 *   raw text -> repair invalid UTF-8 (U+FFFD)
 *            -> split out added tokens with normalized=false (added_tokens.c)
 *            -> per stretch: normalizer (normalizer.c)
 *            -> split out added tokens with normalized=true
 *            -> per stretch: pre-tokenizer (pretokenizer.c)
 *            -> per word: BPE (bpe.c)
 *            -> post-processor ids around the result (postprocessor.c).
 * Per-call state (regex match data, BPE scratch and word cache, buffers) lives
 * in a session taken from a mutex-guarded pool, so concurrent encodes never
 * share mutable state and the word cache survives across calls. */
#include "text/tokenizer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"
#include "text/added_tokens.h"
#include "text/bpe.h"
#include "text/decoder.h"
#include "text/hashmap.h"
#include "text/normalizer.h"
#include "text/postprocessor.h"
#include "text/pretokenizer.h"
#include "text/textbuf.h"
#include "text/tokenizer_config.h"
#include "text/utf8.h"

typedef struct session {
    mg_pretok_ws *pw;
    mg_bpe_scratch *bs;
    mg_textbuf sane, norm;
    mg_splitvec sp1, sp2;
    struct session *next;
} session;

struct mg_tokenizer {
    mg_normalizer *norm;
    mg_pretok *pretok;
    mg_bpe *bpe;
    mg_postproc pp;
    mg_decoder *dec;
    mg_added_vocab *added;

    size_t vocab_size;
    size_t *piece_off; // id -> offset into pieces, SIZE_MAX when the id is unused
    size_t *piece_len;
    mg_textbuf pieces;
    uint8_t *special; // id -> 1 when a special added token
    mg_strmap *piece_map;

    mg_tok_config cfg; // side files: special tokens, stop ids, chat template

    pthread_mutex_t lock;
    session *pool;
};

/* ---- loading ---- */

static void set_piece(mg_tokenizer *t, int32_t id, const char *s, size_t len) {
    t->piece_off[id] = t->pieces.len;
    t->piece_len[id] = len;
    mg_textbuf_append(&t->pieces, s, len);
    mg_textbuf_putc(&t->pieces, '\0');
    mg_strmap_put(t->piece_map, s, len, id);
}

static mg_status build_pieces(mg_tokenizer *t, const json_t *root, mg_error *err) {
    json_t *vocab = json_object_get(json_object_get(root, "model"), "vocab");
    size_t n = mg_bpe_vocab_size(t->bpe);
    for (size_t i = 0; i < mg_added_vocab_count(t->added); i++) {
        size_t id = (size_t)mg_added_vocab_get(t->added, i)->id;
        if (id + 1 > n) n = id + 1;
    }
    if (n > ((size_t)1 << 28))
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: largest token id %zu is implausibly large", n - 1);
    t->vocab_size = n;
    t->piece_off = (size_t *)mg_malloc_array(n + 1, sizeof(size_t));
    t->piece_len = (size_t *)mg_calloc(n + 1, sizeof(size_t));
    t->special = (uint8_t *)mg_calloc(n + 1, 1);
    for (size_t i = 0; i < n; i++) t->piece_off[i] = SIZE_MAX;
    t->piece_map = mg_strmap_new(n);
    const char *tok;
    size_t len;
    json_t *idv;
    json_object_keylen_foreach(vocab, tok, len, idv) {
        set_piece(t, (int32_t)json_integer_value(idv), tok, len);
    }
    // Added tokens override the model's string for their id (HF id_to_token).
    for (size_t i = 0; i < mg_added_vocab_count(t->added); i++) {
        const mg_added_token *a = mg_added_vocab_get(t->added, i);
        set_piece(t, a->id, a->content, a->len);
        t->special[a->id] = a->special;
    }
    // The post-processor's ids are emitted as they are: each must be a token,
    // or encode would hand out ids past the embedding (found by fuzzing).
    for (size_t i = 0; i < t->pp.n_prefix + t->pp.n_suffix; i++) {
        int32_t id = i < t->pp.n_prefix ? t->pp.prefix[i] : t->pp.suffix[i - t->pp.n_prefix];
        if (id < 0 || (size_t)id >= n || t->piece_off[id] == SIZE_MAX)
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: post_processor: special token id %d is not in "
                                "the vocabulary (%zu ids)",
                                (int)id, n);
    }
    return MG_OK;
}

mg_status mg_tokenizer_load(const char *path, mg_tokenizer **out, mg_error *err) {
    *out = NULL;
    char *file = mg_path_is_dir(path) ? mg_path_join(path, "tokenizer.json") : mg_strdup(path);
    char *dir = mg_strdup(file);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    json_t *root = NULL;
    mg_tokenizer *t = (mg_tokenizer *)mg_calloc(1, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    mg_status rc;
    if (!mg_path_exists(file)) {
        rc = mg_error_set(err, MG_ERR_NOT_FOUND, "%s: no such file (expected a model folder with "
                          "tokenizer.json, or a tokenizer.json path)", file);
        goto fail;
    }
    rc = mg_json_load_file(file, &root, err);
    if (rc != MG_OK) goto fail;
    if (!json_is_object(root)) {
        rc = mg_error_set(err, MG_ERR_INVALID, "%s: expected a JSON object", file);
        goto fail;
    }
    if ((rc = mg_normalizer_parse(json_object_get(root, "normalizer"), &t->norm, err)) ||
        (rc = mg_pretok_parse(json_object_get(root, "pre_tokenizer"), &t->pretok, err)) ||
        (rc = mg_bpe_load(json_object_get(root, "model"), mg_pretok_byte_level(t->pretok), &t->bpe,
                          err)) ||
        (rc = mg_postproc_parse(json_object_get(root, "post_processor"), &t->pp, err)) ||
        (rc = mg_decoder_parse(json_object_get(root, "decoder"), &t->dec, err)) ||
        (rc = mg_added_vocab_parse(json_object_get(root, "added_tokens"), t->norm, &t->added,
                                   err)) ||
        (rc = build_pieces(t, root, err)))
        goto fail;
    json_decref(root);
    root = NULL;
    rc = mg_tok_config_load(dir, t, &t->cfg, err);
    if (rc != MG_OK) goto fail;
    free(file);
    free(dir);
    *out = t;
    return MG_OK;
fail:
    // Parser messages start with "tokenizer.json: "; name the real file instead.
    if (err && !strncmp(err->msg, "tokenizer.json: ", 16)) {
        char tail[MG_ERROR_MSG_MAX];
        snprintf(tail, sizeof tail, "%s", err->msg + 16);
        mg_error_set(err, rc, "%s: %s", file, tail);
    }
    json_decref(root);
    mg_tokenizer_free(t);
    free(file);
    free(dir);
    return rc;
}

void mg_tokenizer_free(mg_tokenizer *t) {
    if (!t) return;
    mg_normalizer_free(t->norm);
    mg_pretok_free(t->pretok);
    mg_bpe_free(t->bpe);
    mg_postproc_free(&t->pp);
    mg_decoder_free(t->dec);
    mg_added_vocab_free(t->added);
    free(t->piece_off);
    free(t->piece_len);
    free(t->special);
    mg_textbuf_free(&t->pieces);
    mg_strmap_free(t->piece_map);
    mg_tok_config_free(&t->cfg);
    for (session *s = t->pool, *next; s; s = next) {
        next = s->next;
        mg_pretok_ws_free(s->pw);
        mg_bpe_scratch_free(s->bs);
        mg_textbuf_free(&s->sane);
        mg_textbuf_free(&s->norm);
        free(s->sp1.p);
        free(s->sp2.p);
        free(s);
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* ---- encoding ---- */

static session *session_get(const mg_tokenizer *ct) {
    mg_tokenizer *t = (mg_tokenizer *)ct; // the pool is the only mutable part, under the lock
    pthread_mutex_lock(&t->lock);
    session *s = t->pool;
    if (s) t->pool = s->next;
    pthread_mutex_unlock(&t->lock);
    if (!s) {
        s = (session *)mg_calloc(1, sizeof *s);
        s->pw = mg_pretok_ws_new(t->pretok);
        s->bs = mg_bpe_scratch_new();
    }
    return s;
}

static void session_put(const mg_tokenizer *ct, session *s) {
    mg_tokenizer *t = (mg_tokenizer *)ct;
    pthread_mutex_lock(&t->lock);
    s->next = t->pool;
    t->pool = s;
    pthread_mutex_unlock(&t->lock);
}

typedef struct emit_ctx {
    const mg_bpe *bpe;
    mg_bpe_scratch *bs;
    mg_idvec *out;
} emit_ctx;

static void emit_word(void *ctx, const char *w, size_t len) {
    emit_ctx *e = (emit_ctx *)ctx;
    mg_bpe_encode_word(e->bpe, e->bs, w, len, e->out);
}

mg_status mg_tokenizer_encode(const mg_tokenizer *t, const char *text, size_t len,
                              bool add_special, int32_t **ids, size_t *n, mg_error *err) {
    (void)err; // encoding cannot fail on any input
    *ids = NULL;
    *n = 0;
    if (!text) text = "", len = 0;
    session *s = session_get(t);
    mg_idvec out = {0};
    if (add_special) mg_idvec_append(&out, t->pp.prefix, t->pp.n_prefix);
    if (mg_utf8_valid_prefix(text, len) != len) {
        mg_textbuf_clear(&s->sane);
        mg_utf8_sanitize(text, len, &s->sane);
        text = s->sane.p;
        len = s->sane.len;
    }
    emit_ctx ec = {t->bpe, s->bs, &out};
    s->sp1.n = 0;
    mg_added_vocab_split(t->added, false, text, len, &s->sp1);
    for (size_t i = 0; i < s->sp1.n; i++) {
        mg_split a = s->sp1.p[i];
        if (a.id >= 0) {
            mg_idvec_push(&out, a.id);
            continue;
        }
        const char *sec = text + a.a;
        size_t sec_len = a.b - a.a;
        if (t->norm) {
            mg_normalizer_apply(t->norm, sec, sec_len, &s->norm);
            sec = s->norm.p;
            sec_len = s->norm.len;
        }
        if (!sec_len) continue;
        s->sp2.n = 0;
        mg_added_vocab_split(t->added, true, sec, sec_len, &s->sp2);
        for (size_t j = 0; j < s->sp2.n; j++) {
            mg_split b = s->sp2.p[j];
            if (b.id >= 0) mg_idvec_push(&out, b.id);
            else if (b.b > b.a)
                mg_pretok_run(t->pretok, s->pw, sec + b.a, b.b - b.a, a.a == 0 && b.a == 0,
                              emit_word, &ec);
        }
    }
    if (add_special) mg_idvec_append(&out, t->pp.suffix, t->pp.n_suffix);
    session_put(t, s);
    if (!out.p) out.p = (int32_t *)mg_malloc(sizeof(int32_t)); // a valid pointer for n == 0
    *ids = out.p;
    *n = out.n;
    return MG_OK;
}

/* ---- decoding and lookups ---- */

mg_status mg_tokenizer_decode(const mg_tokenizer *t, const int32_t *ids, size_t n,
                              bool skip_special, char **out, size_t *len, mg_error *err) {
    *out = NULL;
    if (len) *len = 0;
    const char **toks = (const char **)mg_malloc_array(n + 1, sizeof(char *));
    size_t *lens = (size_t *)mg_malloc_array(n + 1, sizeof(size_t));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->vocab_size || t->piece_off[id] == SIZE_MAX) {
            free(toks);
            free(lens);
            return mg_error_set(err, MG_ERR_INVALID,
                                "decode: token id %d at position %zu is not in the vocabulary "
                                "(size %zu)",
                                id, i, t->vocab_size);
        }
        if (skip_special && t->special[id]) continue;
        toks[m] = t->pieces.p + t->piece_off[id];
        lens[m++] = t->piece_len[id];
    }
    mg_textbuf buf = {0};
    mg_decoder_run(t->dec, toks, lens, m, &buf);
    free(toks);
    free(lens);
    *out = mg_textbuf_take(&buf, len);
    return MG_OK;
}

size_t mg_tokenizer_vocab_size(const mg_tokenizer *t) {
    return t->vocab_size;
}

const char *mg_tokenizer_id_to_piece(const mg_tokenizer *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->vocab_size || t->piece_off[id] == SIZE_MAX) return NULL;
    return t->pieces.p + t->piece_off[id];
}

int32_t mg_tokenizer_piece_to_id(const mg_tokenizer *t, const char *piece) {
    return piece ? mg_strmap_get(t->piece_map, piece, strlen(piece)) : -1;
}

bool mg_tokenizer_is_special(const mg_tokenizer *t, int32_t id) {
    return id >= 0 && (size_t)id < t->vocab_size && t->special[id];
}

int32_t mg_tokenizer_bos_id(const mg_tokenizer *t) {
    return t->cfg.bos_id;
}
int32_t mg_tokenizer_eos_id(const mg_tokenizer *t) {
    return t->cfg.eos_id;
}
int32_t mg_tokenizer_pad_id(const mg_tokenizer *t) {
    return t->cfg.pad_id;
}
const char *mg_tokenizer_bos_token(const mg_tokenizer *t) {
    return t->cfg.bos_token;
}
const char *mg_tokenizer_eos_token(const mg_tokenizer *t) {
    return t->cfg.eos_token;
}

const int32_t *mg_tokenizer_stop_ids(const mg_tokenizer *t, size_t *n) {
    *n = t->cfg.n_stop;
    return t->cfg.stop;
}

bool mg_tokenizer_add_bos(const mg_tokenizer *t) {
    // What encode(add_special=true) really does: tokenizer.json's post-processor
    // decides (HF tokenizers), not tokenizer_config.json's add_bos_token.
    return t->pp.n_prefix > 0 && (t->cfg.bos_id < 0 || t->pp.prefix[0] == t->cfg.bos_id);
}

const char *mg_tokenizer_chat_template(const mg_tokenizer *t) {
    return t->cfg.chat_template;
}

void mg_tokenizer_set_chat_template(mg_tokenizer *t, const char *tmpl) {
    free(t->cfg.chat_template);
    t->cfg.chat_template = tmpl ? mg_strdup(tmpl) : NULL;
    free(t->cfg.chat_template_name);
    t->cfg.chat_template_name = NULL;
}

const char *mg_tokenizer_chat_template_name(const mg_tokenizer *t) {
    return t->cfg.chat_template_name ? t->cfg.chat_template_name : "chat_template";
}
