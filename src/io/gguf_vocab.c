/* gguf_vocab.c - tokenizer.json -> tokenizer.ggml.* metadata. See gguf_vocab.h. */
#include "io/gguf_vocab.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"

/* The Split regexes of the HF tokenizer.json files whose llama.cpp
 * pre-tokenizer names are "llama-bpe" (Llama 3.x) and "qwen2" (Qwen2/2.5/3). */
static const char *RE_LLAMA3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *RE_QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                              "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

void mg_gguf_vocab_free(mg_gguf_vocab *v) {
    if (!v) return;
    for (size_t i = 0; v->tokens && i < v->n; i++)
        free(v->tokens[i]);
    free(v->tokens);
    free(v->types);
    free(v->scores);
    for (size_t i = 0; v->merges && i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->merges);
    free(v->chat_template);
    memset(v, 0, sizeof *v);
}

static const char *str_field(const json_t *o, const char *key) {
    const json_t *s = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_string(s) ? json_string_value(s) : NULL;
}

/* A special-token entry of tokenizer_config.json: "text" or {"content": "text"}. */
static const char *token_text(const json_t *cfg, const char *key) {
    const json_t *e = json_is_object(cfg) ? json_object_get(cfg, key) : NULL;
    if (json_is_string(e)) return json_string_value(e);
    return str_field(e, "content");
}

static int32_t find_token(const mg_gguf_vocab *v, const char *text) {
    if (!text) return -1;
    for (size_t i = 0; i < v->n; i++)
        if (v->tokens[i] && !strcmp(v->tokens[i], text)) return (int32_t)i;
    return -1;
}

/* Recognizes the pre-tokenizer from the tokenizer.json pre_tokenizer; a guess
 * by family is noted in v->warning. */
static const char *detect_pre(const json_t *pt, const char *family, mg_gguf_vocab *v) {
    const char *type = str_field(pt, "type");
    if (type && !strcmp(type, "ByteLevel")) {
        const json_t *r = json_object_get(pt, "use_regex");
        if (!r || json_is_true(r)) return "gpt-2"; // the GPT-2 regex inside ByteLevel
    }
    if (type && !strcmp(type, "Sequence")) {
        const json_t *list = json_object_get(pt, "pretokenizers");
        size_t i;
        const json_t *p;
        json_array_foreach(list, i, p) {
            const char *re = str_field(json_object_get(p, "pattern"), "Regex");
            if (re && !strcmp(re, RE_LLAMA3)) return "llama-bpe";
            if (re && !strcmp(re, RE_QWEN2)) return "qwen2";
        }
    }
    const char *guess = !strcmp(family, "llama")      ? "llama-bpe"
                        : !strncmp(family, "qwen", 4) ? "qwen2"
                                                      : "default";
    snprintf(v->warning, sizeof v->warning,
             "tokenizer.json: pre-tokenizer not recognized; writing tokenizer.ggml.pre = "
             "\"%s\" for the %s family",
             guess, family);
    return guess;
}

/* Merges as "left right" strings; the list-of-pairs format may hold spaces
 * inside pieces, which gguf-py encodes as U+0120 ("Ġ"). */
static mg_status load_merges(const json_t *list, mg_gguf_vocab *v, const char *path,
                             mg_error *err) {
    if (!list) return MG_OK;
    if (!json_is_array(list))
        return mg_error_set(err, MG_ERR_INVALID, "%s: model.merges is not an array", path);
    v->merges = mg_calloc(json_array_size(list) + 1, sizeof *v->merges);
    size_t i;
    const json_t *m;
    json_array_foreach(list, i, m) {
        if (json_is_string(m)) {
            v->merges[v->n_merges++] = mg_strdup(json_string_value(m));
            continue;
        }
        const char *a = json_string_value(json_array_get(m, 0));
        const char *b = json_string_value(json_array_get(m, 1));
        if (!json_is_array(m) || json_array_size(m) != 2 || !a || !b)
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", path,
                                i);
        size_t na = strlen(a), nb = strlen(b);
        char *s = mg_malloc(2 * (na + nb) + 2), *o = s;
        for (const char *p = a; *p; p++)
            if (*p == ' ')
                *o++ = (char)0xC4, *o++ = (char)0xA0;
            else
                *o++ = *p;
        *o++ = ' ';
        for (const char *p = b; *p; p++)
            if (*p == ' ')
                *o++ = (char)0xC4, *o++ = (char)0xA0;
            else
                *o++ = *p;
        *o = 0;
        v->merges[v->n_merges++] = s;
    }
    return MG_OK;
}

/* SPM scores from the merge order (see the header). Works on the raw merges:
 * pairs are split at the single separating space of the string form. */
static void spm_scores(const json_t *vocab, const json_t *list, mg_gguf_vocab *v) {
    v->scores = mg_malloc_array(v->n ? v->n : 1, sizeof *v->scores);
    float low = -(float)json_array_size(list) - 1.0f;
    for (size_t i = 0; i < v->n; i++)
        v->scores[i] = v->types[i] == MG_TOKTYPE_NORMAL ? low : 0.0f;
    size_t r;
    const json_t *m;
    json_array_foreach(list, r, m) {
        char *joined = NULL;
        if (json_is_string(m)) {
            joined = mg_strdup(json_string_value(m));
            char *sp = strchr(joined, ' ');
            if (sp) memmove(sp, sp + 1, strlen(sp));
        } else {
            const char *a = json_string_value(json_array_get(m, 0));
            const char *b = json_string_value(json_array_get(m, 1));
            if (!a || !b) continue;
            joined = mg_malloc(strlen(a) + strlen(b) + 1);
            strcpy(joined, a);
            strcat(joined, b);
        }
        const json_t *id = json_object_get(vocab, joined);
        free(joined);
        if (json_is_integer(id) && json_integer_value(id) >= 0 &&
            (size_t)json_integer_value(id) < v->n) {
            size_t t = (size_t)json_integer_value(id);
            if (v->scores[t] == low) v->scores[t] = -(float)r; // first merge making it wins
        }
    }
}

static bool is_byte_token(const char *s) {
    return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>' &&
           strchr("0123456789ABCDEFabcdef", s[3]) && strchr("0123456789ABCDEFabcdef", s[4]) &&
           s[3] && s[4];
}

static bool looks_special(const char *s) {
    size_t n = strlen(s);
    return n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>");
}

/* Sets one token (id from tokenizer.json) with range and duplicate checks. */
static mg_status set_token(mg_gguf_vocab *v, json_int_t id, const char *text, int32_t type,
                           bool override, const char *path, mg_error *err) {
    if (id < 0 || (uint64_t)id >= v->n)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: token '%s' has id %" JSON_INTEGER_FORMAT
                            ", outside the embedding's %zu rows",
                            path, text, id, v->n);
    if (v->tokens[id] && !override)
        return mg_error_set(err, MG_ERR_INVALID,
                            "%s: id %" JSON_INTEGER_FORMAT " is used by '%s' and '%s'", path, id,
                            v->tokens[id], text);
    free(v->tokens[id]);
    v->tokens[id] = mg_strdup(text);
    v->types[id] = type;
    return MG_OK;
}

static mg_status load_special(const char *dir, const json_t *tok, const json_t *config,
                              mg_gguf_vocab *v, mg_error *err) {
    json_t *cfg = NULL;
    char *cfg_path = mg_path_join(dir, "tokenizer_config.json");
    mg_status st = MG_OK;
    if (mg_path_is_file(cfg_path) && (st = mg_json_load_file(cfg_path, &cfg, err))) goto done;
    static const char *KINDS[] = {"bos", "eos", "unk", "pad"};
    int32_t *ids[] = {&v->bos, &v->eos, &v->unk, &v->pad};
    for (int k = 0; k < 4; k++) {
        char key[32];
        snprintf(key, sizeof key, "%s_token", KINDS[k]);
        *ids[k] = find_token(v, token_text(cfg, key));
        if (*ids[k] < 0 && k == 2)
            *ids[k] = find_token(v, str_field(json_object_get(tok, "model"), "unk_token"));
        if (*ids[k] < 0 && config) {
            snprintf(key, sizeof key, "%s_token_id", KINDS[k]);
            const json_t *j = json_object_get(config, key);
            if (json_is_integer(j) && json_integer_value(j) >= 0 &&
                (uint64_t)json_integer_value(j) < v->n)
                *ids[k] = (int32_t)json_integer_value(j);
        }
    }
    // add_bos/add_eos: tokenizer_config.json wins; else the TemplateProcessing
    // post-processor's leading / trailing special token (gguf-py SpecialVocab).
    v->add_bos = v->add_eos = v->add_space_prefix = -1;
    const json_t *b = json_object_get(cfg, "add_bos_token"),
                 *e = json_object_get(cfg, "add_eos_token");
    if (json_is_boolean(b)) v->add_bos = json_is_true(b);
    if (json_is_boolean(e)) v->add_eos = json_is_true(e);
    const json_t *pp = json_object_get(tok, "post_processor");
    const json_t *procs = json_object_get(pp, "processors");
    size_t pi;
    const json_t *p;
    json_t *one = json_array();
    if (!procs && pp) json_array_append(one, (json_t *)pp), procs = one;
    json_array_foreach(procs, pi, p) {
        const char *type = str_field(p, "type");
        const json_t *single = json_object_get(p, "single");
        if (!type || strcmp(type, "TemplateProcessing") || json_array_size(single) < 1) continue;
        const char *first =
            str_field(json_object_get(json_array_get(single, 0), "SpecialToken"), "id");
        const char *last = str_field(
            json_object_get(json_array_get(single, json_array_size(single) - 1), "SpecialToken"),
            "id");
        if (v->add_bos < 0) v->add_bos = first && find_token(v, first) == v->bos && v->bos >= 0;
        if (v->add_eos < 0) v->add_eos = last && find_token(v, last) == v->eos && v->eos >= 0;
    }
    json_decref(one);
    const json_t *aps = json_object_get(cfg, "add_prefix_space");
    if (json_is_boolean(aps) && !strcmp(v->model, "llama")) v->add_space_prefix = json_is_true(aps);

    // Chat template: chat_template.jinja wins over tokenizer_config.json, as in
    // transformers; a list of named templates gives "default", else the first.
    char *jinja = mg_path_join(dir, "chat_template.jinja");
    if (mg_path_is_file(jinja)) {
        size_t len;
        st = mg_file_read_all(jinja, 64u << 20, &v->chat_template, &len, err);
    } else {
        const json_t *ct = json_object_get(cfg, "chat_template");
        if (json_is_string(ct))
            v->chat_template = mg_strdup(json_string_value(ct));
        else if (json_is_array(ct)) {
            size_t i;
            const json_t *t;
            const char *pick = str_field(json_array_get(ct, 0), "template");
            json_array_foreach(ct, i, t) {
                const char *nm = str_field(t, "name");
                if (nm && !strcmp(nm, "default") && str_field(t, "template"))
                    pick = str_field(t, "template");
            }
            if (pick) v->chat_template = mg_strdup(pick);
        }
    }
    free(jinja);

    // End of turn: of the names llama.cpp knows, the one the chat template
    // ends its turns with (a vocabulary with both <|im_end|> and <|eot_id|>
    // serves a ChatML model or a Llama-3 style one), else the first present.
    static const char *EOT[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
    v->eot = -1;
    for (int k = 0; k < 4 && v->eot < 0 && v->chat_template; k++)
        if (strstr(v->chat_template, EOT[k])) v->eot = find_token(v, EOT[k]);
    for (int k = 0; k < 4 && v->eot < 0; k++)
        v->eot = find_token(v, EOT[k]);
done:
    free(cfg_path);
    json_decref(cfg);
    return st;
}

mg_status mg_gguf_vocab_load(const char *dir, const char *family, size_t n_vocab,
                             const json_t *config, mg_gguf_vocab *v, mg_error *err) {
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->unk = v->pad = v->eot = -1;
    v->add_bos = v->add_eos = v->add_space_prefix = -1;
    char *path = mg_path_join(dir, "tokenizer.json");
    json_t *tok = NULL;
    mg_status st = MG_OK;
    if (!mg_path_is_file(path)) {
        snprintf(v->warning, sizeof v->warning,
                 "%s: no tokenizer.json; writing a GGUF without a vocabulary "
                 "(tokenizer.ggml.model = \"none\"): runners will need token ids",
                 dir);
        strcpy(v->model, "none");
        goto done;
    }
    if ((st = mg_json_load_file(path, &tok, err))) goto done;
    const json_t *model = json_object_get(tok, "model");
    const char *mtype = str_field(model, "type");
    if (!mtype && json_is_object(json_object_get(model, "vocab")) &&
        json_object_get(model, "merges"))
        mtype = "BPE"; // older files leave the type out
    if (!mtype || strcmp(mtype, "BPE")) {
        st = mg_error_set(err, MG_ERR_UNSUPPORTED,
                          "%s: tokenizer model '%s' cannot be written as GGUF by mergeguard "
                          "(supported: BPE, byte-level or with byte fallback)",
                          path, mtype ? mtype : "(none)");
        goto done;
    }
    const json_t *fb = json_object_get(model, "byte_fallback");
    bool spm = json_is_true(fb);
    const json_t *pt = json_object_get(tok, "pre_tokenizer");
    const char *dec = str_field(json_object_get(tok, "decoder"), "type");
    bool byte_level = (dec && !strcmp(dec, "ByteLevel")) ||
                      (str_field(pt, "type") && !strcmp(str_field(pt, "type"), "ByteLevel"));
    const json_t *ptl = json_object_get(pt, "pretokenizers");
    size_t k;
    const json_t *x;
    json_array_foreach(ptl, k, x) if (str_field(x, "type") &&
                                      !strcmp(str_field(x, "type"), "ByteLevel")) byte_level = true;
    if (!spm && !byte_level) {
        st = mg_error_set(err, MG_ERR_UNSUPPORTED,
                          "%s: BPE without byte_fallback or a ByteLevel pre-tokenizer/decoder "
                          "cannot be written as GGUF by mergeguard",
                          path);
        goto done;
    }
    strcpy(v->model, spm ? "llama" : "gpt2");
    v->n = n_vocab;
    v->tokens = mg_calloc(n_vocab ? n_vocab : 1, sizeof *v->tokens);
    v->types = mg_calloc(n_vocab ? n_vocab : 1, sizeof *v->types);
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) {
        st = mg_error_set(err, MG_ERR_INVALID, "%s: model.vocab is not an object", path);
        goto done;
    }
    const char *piece;
    const json_t *id;
    json_object_foreach((json_t *)vocab, piece, id) {
        if (!json_is_integer(id)) {
            st = mg_error_set(err, MG_ERR_INVALID, "%s: model.vocab['%s'] is not an integer", path,
                              piece);
            goto done;
        }
        int32_t type = spm && is_byte_token(piece) ? MG_TOKTYPE_BYTE : MG_TOKTYPE_NORMAL;
        if ((st = set_token(v, json_integer_value(id), piece, type, false, path, err))) goto done;
    }
    const char *unk = str_field(model, "unk_token");
    int32_t unk_id = find_token(v, unk);
    if (spm && unk_id >= 0) v->types[unk_id] = MG_TOKTYPE_UNKNOWN;
    const json_t *added = json_object_get(tok, "added_tokens");
    const json_t *a;
    json_array_foreach(added, k, a) {
        const char *content = str_field(a, "content");
        const json_t *aid = json_object_get(a, "id");
        if (!content || !json_is_integer(aid)) {
            st = mg_error_set(err, MG_ERR_INVALID, "%s: added_tokens[%zu] lacks id or content",
                              path, k);
            goto done;
        }
        bool special = json_is_true(json_object_get(a, "special"));
        int32_t type =
            special || looks_special(content) ? MG_TOKTYPE_CONTROL : MG_TOKTYPE_USER_DEFINED;
        if (spm && unk && !strcmp(content, unk)) type = MG_TOKTYPE_UNKNOWN;
        if ((st = set_token(v, json_integer_value(aid), content, type, true, path, err))) goto done;
    }
    // Ids the tokenizer leaves unused up to the embedding's rows (gguf-py:
    // "[PAD<i>]", UNUSED).
    for (size_t i = 0; i < v->n; i++)
        if (!v->tokens[i]) {
            char buf[40];
            snprintf(buf, sizeof buf, "[PAD%zu]", i);
            v->tokens[i] = mg_strdup(buf);
            v->types[i] = MG_TOKTYPE_UNUSED;
        }
    const json_t *merges = json_object_get(model, "merges");
    if ((st = load_merges(merges, v, path, err))) goto done;
    if (spm) {
        spm_scores(vocab, merges, v);
        strcpy(v->pre, "default");
    } else {
        snprintf(v->pre, sizeof v->pre, "%s", detect_pre(pt, family, v));
    }
    st = load_special(dir, tok, config, v, err);
done:
    if (st) mg_gguf_vocab_free(v);
    json_decref(tok);
    free(path);
    return st;
}

mg_status mg_gguf_vocab_write(const mg_gguf_vocab *v, mg_gguf_writer *w, mg_error *err) {
    mg_status st = mg_gguf_add_str(w, "tokenizer.ggml.model", v->model, err);
    if (st || !strcmp(v->model, "none")) return st;
    if ((st = mg_gguf_add_str(w, "tokenizer.ggml.pre", v->pre, err)) ||
        (st = mg_gguf_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, v->n,
                                  err)) ||
        (st = mg_gguf_add_arr_i32(w, "tokenizer.ggml.token_type", v->types, v->n, err)))
        return st;
    if (v->scores && (st = mg_gguf_add_arr_f32(w, "tokenizer.ggml.scores", v->scores, v->n, err)))
        return st;
    if (v->n_merges && (st = mg_gguf_add_arr_str(w, "tokenizer.ggml.merges",
                                                 (const char *const *)v->merges, v->n_merges, err)))
        return st;
    static const char *KEYS[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                 "tokenizer.ggml.unknown_token_id",
                                 "tokenizer.ggml.padding_token_id", "tokenizer.ggml.eot_token_id"};
    const int32_t ids[] = {v->bos, v->eos, v->unk, v->pad, v->eot};
    for (int i = 0; i < 5; i++)
        if (ids[i] >= 0 && (st = mg_gguf_add_u32(w, KEYS[i], (uint32_t)ids[i], err))) return st;
    if (v->add_bos >= 0 &&
        (st = mg_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos, err)))
        return st;
    if (v->add_eos >= 0 &&
        (st = mg_gguf_add_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos, err)))
        return st;
    if (v->add_space_prefix >= 0 &&
        (st = mg_gguf_add_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix, err)))
        return st;
    if (v->chat_template &&
        (st = mg_gguf_add_str(w, "tokenizer.chat_template", v->chat_template, err)))
        return st;
    return MG_OK;
}
