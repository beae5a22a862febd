/* pretokenizer.c - see pretokenizer.h. */
#include "text/pretokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/pattern.h"
#include "text/textbuf.h"
#include "text/utf8.h"

/* The regex HF's ByteLevel pre-tokenizer uses when use_regex is set (GPT-2). */
#define GPT2_REGEX                                                                                 \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* Rust `Whitespace` pre-tokenizer: keep \w+ and [^\w\s]+ runs. */
#define WHITESPACE_REGEX "\\w+|[^\\w\\s]+"

typedef enum behavior { B_REMOVED, B_ISOLATED, B_MERGED_PREV, B_MERGED_NEXT, B_CONTIGUOUS } behavior;
typedef enum transform { T_NONE, T_PREFIX_SPACE, T_METASPACE } transform;
typedef enum prepend { P_ALWAYS, P_FIRST, P_NEVER } prepend;
typedef bool (*char_pred)(uint32_t cp);

typedef struct stage {
    transform transform;
    // Metaspace parameters.
    char repl[8];
    size_t repl_len;
    prepend prepend;
    // Split: by pattern, or by a character predicate (each matching char is
    // one match, as Rust's `impl Pattern for Fn(char) -> bool`).
    mg_pattern *pat;
    char_pred pred;
    behavior behavior;
    bool invert;
} stage;

struct mg_pretok {
    stage *stages;
    size_t n, cap;
    bool byte_level;
};

struct mg_pretok_ws {
    mg_match_data *md;
    mg_textbuf *bufs; // one per stage
    size_t n;
};

void mg_pretok_free(mg_pretok *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) mg_pattern_free(p->stages[i].pat);
    free(p->stages);
    free(p);
}

bool mg_pretok_byte_level(const mg_pretok *p) {
    return p->byte_level;
}

static stage *add_stage(mg_pretok *p) {
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->stages = (stage *)mg_realloc(p->stages, p->cap * sizeof(stage));
    }
    stage *s = &p->stages[p->n++];
    memset(s, 0, sizeof *s);
    s->behavior = B_ISOLATED;
    return s;
}

static bool is_ws(uint32_t cp) {
    return mg_uc_is_whitespace(cp);
}

static mg_status parse_behavior(const json_t *obj, const char *type, behavior def, behavior *out,
                                mg_error *err) {
    json_t *v = json_object_get(obj, "behavior");
    *out = def;
    if (!v) return MG_OK;
    const char *b = json_string_value(v);
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    for (int i = 0; b && i < 5; i++)
        if (!strcmp(b, names[i])) {
            *out = (behavior)i;
            return MG_OK;
        }
    return mg_error_set(err, MG_ERR_INVALID,
                        "tokenizer.json: pre_tokenizer %s: unknown behavior '%s' (expected "
                        "Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)",
                        type, b ? b : "(not a string)");
}

static mg_status parse_into(mg_pretok *p, const json_t *obj, mg_error *err) {
    if (!obj || json_is_null(obj)) return MG_OK;
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (!json_is_object(obj) || !type)
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: pre_tokenizer: expected an object with a 'type'");
    if (p->byte_level)
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "tokenizer.json: pre_tokenizer %s after ByteLevel is not supported",
                            type);
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(obj, "pretokenizers");
        if (!json_is_array(arr))
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: pre_tokenizer Sequence: 'pretokenizers' must be "
                                "a list");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            mg_status rc = parse_into(p, json_array_get(arr, i), err);
            if (rc != MG_OK) return rc;
        }
        return MG_OK;
    }
    if (!strcmp(type, "Split")) {
        stage *s = add_stage(p);
        s->invert = json_is_true(json_object_get(obj, "invert"));
        mg_status rc = parse_behavior(obj, type, B_ISOLATED, &s->behavior, err);
        if (rc != MG_OK) return rc;
        return mg_pattern_parse(json_object_get(obj, "pattern"),
                                "tokenizer.json: pre_tokenizer Split", &s->pat, err);
    }
    if (!strcmp(type, "ByteLevel")) {
        // Rust defaults: add_prefix_space true, use_regex true.
        json_t *aps = json_object_get(obj, "add_prefix_space");
        json_t *ur = json_object_get(obj, "use_regex");
        stage *s = add_stage(p);
        s->transform = (aps && !json_is_true(aps)) ? T_NONE : T_PREFIX_SPACE;
        p->byte_level = true;
        if (ur && !json_is_true(ur)) return MG_OK;
        return mg_pattern_regex(GPT2_REGEX, "ByteLevel", &s->pat, err);
    }
    if (!strcmp(type, "Metaspace")) {
        stage *s = add_stage(p);
        s->transform = T_METASPACE;
        const char *r = json_string_value(json_object_get(obj, "replacement"));
        if (!r) r = "\xE2\x96\x81"; // U+2581 ▁
        size_t rl = strlen(r);
        if (rl == 0 || rl > 4 || mg_utf8_len((uint8_t)r[0]) != rl)
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: pre_tokenizer Metaspace: 'replacement' must be "
                                "one character");
        memcpy(s->repl, r, rl);
        s->repl_len = rl;
        const char *scheme = json_string_value(json_object_get(obj, "prepend_scheme"));
        json_t *aps = json_object_get(obj, "add_prefix_space"); // older files
        s->prepend = P_ALWAYS;
        if (scheme && !strcmp(scheme, "first")) s->prepend = P_FIRST;
        else if (scheme && !strcmp(scheme, "never")) s->prepend = P_NEVER;
        else if (!scheme && aps && !json_is_true(aps)) s->prepend = P_NEVER;
        json_t *split = json_object_get(obj, "split");
        if (!split || json_is_true(split)) {
            // Rust splits on the replacement char with MergedWithNext.
            json_t *pj = json_pack("{s:s}", "String", r);
            mg_status rc = mg_pattern_parse(pj, "Metaspace", &s->pat, err);
            json_decref(pj);
            s->behavior = B_MERGED_NEXT;
            return rc;
        }
        return MG_OK;
    }
    if (!strcmp(type, "Digits")) {
        stage *s = add_stage(p);
        s->pred = mg_uc_is_numeric;
        s->behavior = json_is_true(json_object_get(obj, "individual_digits")) ? B_ISOLATED
                                                                               : B_CONTIGUOUS;
        return MG_OK;
    }
    if (!strcmp(type, "Punctuation")) {
        stage *s = add_stage(p);
        s->pred = mg_uc_is_punctuation;
        return parse_behavior(obj, type, B_ISOLATED, &s->behavior, err);
    }
    if (!strcmp(type, "WhitespaceSplit")) {
        stage *s = add_stage(p);
        s->pred = is_ws;
        s->behavior = B_REMOVED;
        return MG_OK;
    }
    if (!strcmp(type, "Whitespace")) {
        stage *s = add_stage(p);
        s->invert = true;
        s->behavior = B_REMOVED;
        return mg_pattern_regex(WHITESPACE_REGEX, "Whitespace", &s->pat, err);
    }
    if (!strcmp(type, "BertPreTokenizer")) {
        stage *s = add_stage(p);
        s->pred = is_ws;
        s->behavior = B_REMOVED;
        s = add_stage(p);
        s->pred = mg_uc_is_punctuation;
        return MG_OK;
    }
    return mg_error_set(err, MG_ERR_UNSUPPORTED,
                        "tokenizer.json: pre_tokenizer type '%s' is not supported (supported: "
                        "Split, ByteLevel, Metaspace, Digits, Punctuation, Whitespace, "
                        "WhitespaceSplit, BertPreTokenizer, Sequence)",
                        type);
}

mg_status mg_pretok_parse(const json_t *obj, mg_pretok **out, mg_error *err) {
    mg_pretok *p = (mg_pretok *)mg_calloc(1, sizeof *p);
    mg_status rc = parse_into(p, obj, err);
    if (rc != MG_OK) {
        mg_pretok_free(p);
        *out = NULL;
        return rc;
    }
    *out = p;
    return MG_OK;
}

mg_pretok_ws *mg_pretok_ws_new(const mg_pretok *p) {
    mg_pretok_ws *ws = (mg_pretok_ws *)mg_calloc(1, sizeof *ws);
    ws->md = mg_match_data_new();
    ws->n = p->n;
    ws->bufs = (mg_textbuf *)mg_calloc(p->n + 1, sizeof(mg_textbuf));
    return ws;
}

void mg_pretok_ws_free(mg_pretok_ws *ws) {
    if (!ws) return;
    for (size_t i = 0; i < ws->n; i++) mg_textbuf_free(&ws->bufs[i]);
    free(ws->bufs);
    mg_match_data_free(ws->md);
    free(ws);
}

/* ---- running ---- */

/* Produces the (offsets, is_match) list of Rust's Pattern::find_matches one
 * segment at a time: gaps and matches alternate and cover the whole piece. */
typedef struct segiter {
    const stage *st;
    mg_match_data *md;
    const char *s;
    size_t n, pos, from;
    bool pending, done;
    size_t pm_s, pm_e;
} segiter;

static bool seg_next(segiter *it, size_t *a, size_t *b, bool *m) {
    if (it->pending) {
        it->pending = false;
        *a = it->pm_s, *b = it->pm_e, *m = true;
        it->pos = it->pm_e;
        return true;
    }
    if (it->done) return false;
    size_t ms = 0, me = 0;
    bool found = false;
    if (it->st->pat) {
        if (it->from <= it->n && mg_pattern_next(it->st->pat, it->md, it->s, it->n, it->from, &ms,
                                                 &me)) {
            found = true;
            // Empty matches advance by one character (Oniguruma find_iter).
            it->from = me > ms ? me : (ms < it->n ? ms + mg_utf8_len((uint8_t)it->s[ms]) : it->n + 1);
        }
    } else {
        size_t i = it->from;
        while (i < it->n) {
            size_t l;
            uint32_t cp = mg_utf8_decode((const uint8_t *)it->s + i, it->n - i, &l);
            if (it->st->pred(cp)) {
                ms = i, me = i + l, found = true;
                break;
            }
            i += l;
        }
        it->from = found ? me : it->n;
    }
    if (!found) {
        it->done = true;
        if (it->pos < it->n) {
            *a = it->pos, *b = it->n, *m = false;
            it->pos = it->n;
            return true;
        }
        return false;
    }
    if (it->pos < ms) {
        *a = it->pos, *b = ms, *m = false;
        it->pending = true, it->pm_s = ms, it->pm_e = me;
        return true;
    }
    *a = ms, *b = me, *m = true;
    it->pos = me;
    return true;
}

typedef struct runctx {
    const mg_pretok *p;
    mg_pretok_ws *ws;
    mg_pretok_emit emit;
    void *ctx;
} runctx;

static void run(const runctx *rc, size_t depth, const char *s, size_t len, bool at_start);

static void piece(const runctx *rc, size_t depth, const char *s, size_t a, size_t b,
                  bool at_start) {
    if (b > a) run(rc, depth + 1, s + a, b - a, at_start && a == 0);
}

static void run(const runctx *rc, size_t depth, const char *s, size_t len, bool at_start) {
    if (depth == rc->p->n) {
        if (len) rc->emit(rc->ctx, s, len);
        return;
    }
    const stage *st = &rc->p->stages[depth];
    if (st->transform != T_NONE) {
        mg_textbuf *buf = &rc->ws->bufs[depth];
        mg_textbuf_clear(buf);
        if (st->transform == T_PREFIX_SPACE) {
            if (len == 0 || s[0] != ' ') mg_textbuf_putc(buf, ' ');
            mg_textbuf_append(buf, s, len);
        } else { // Metaspace: spaces become the replacement, then maybe prepend it
            // Rust checks after replacing, so a leading space counts as the replacement.
            bool starts = (len && s[0] == ' ') ||
                          (len >= st->repl_len && !memcmp(s, st->repl, st->repl_len));
            if (!starts && (st->prepend == P_ALWAYS || (st->prepend == P_FIRST && at_start)))
                mg_textbuf_append(buf, st->repl, st->repl_len);
            for (size_t i = 0; i < len; i++) {
                if (s[i] == ' ') mg_textbuf_append(buf, st->repl, st->repl_len);
                else mg_textbuf_putc(buf, s[i]);
            }
        }
        s = buf->p;
        len = buf->len;
    }
    if (!st->pat && !st->pred) {
        run(rc, depth + 1, s, len, at_start);
        return;
    }
    segiter it = {.st = st, .md = rc->ws->md, .s = s, .n = len};
    size_t a, b;
    bool m;
    // One pending piece is enough for every behaviour (see pretokenizer.h).
    bool have = false, prev_m = false;
    size_t pa = 0, pb = 0;
    while (seg_next(&it, &a, &b, &m)) {
        if (st->invert) m = !m;
        switch (st->behavior) {
        case B_ISOLATED:
            piece(rc, depth, s, a, b, at_start);
            break;
        case B_REMOVED:
            if (!m) piece(rc, depth, s, a, b, at_start);
            break;
        case B_CONTIGUOUS:
            if (have && m == prev_m) {
                pb = b;
            } else {
                if (have) piece(rc, depth, s, pa, pb, at_start);
                have = true, pa = a, pb = b;
            }
            break;
        case B_MERGED_PREV:
            if (m && !prev_m && have) {
                pb = b;
            } else {
                if (have) piece(rc, depth, s, pa, pb, at_start);
                have = true, pa = a, pb = b;
            }
            break;
        case B_MERGED_NEXT: // `have` holds a pending match waiting for the next gap
            if (have) {
                if (!m) {
                    piece(rc, depth, s, pa, b, at_start);
                    have = false;
                } else {
                    piece(rc, depth, s, pa, pb, at_start);
                    pa = a, pb = b;
                }
            } else if (m) {
                have = true, pa = a, pb = b;
            } else {
                piece(rc, depth, s, a, b, at_start);
            }
            break;
        }
        prev_m = m;
    }
    if (have) piece(rc, depth, s, pa, pb, at_start);
}

void mg_pretok_run(const mg_pretok *p, mg_pretok_ws *ws, const char *s, size_t len, bool at_start,
                   mg_pretok_emit emit, void *ctx) {
    runctx rc = {p, ws, emit, ctx};
    run(&rc, 0, s, len, at_start);
}
