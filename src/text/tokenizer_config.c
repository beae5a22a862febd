/* tokenizer_config.c - see tokenizer_config.h. */
#include "text/tokenizer_config.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"

/* End-of-turn tokens recognized by name (llama.cpp's list, llama-vocab.cpp). */
static const char *const EOT_NAMES[] = {
    "<|eot_id|>",  "<|eom_id|>",     "<|im_end|>", "<|end|>",
    "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", // <｜end▁of▁sentence｜>
    "<end_of_utterance>",
    "<eos>", // Gemma: eos_token is <end_of_turn>, but base models end with <eos>
};

void mg_tok_config_free(mg_tok_config *c) {
    if (!c) return;
    free(c->bos_token);
    free(c->eos_token);
    free(c->pad_token);
    free(c->stop);
    free(c->chat_template);
    free(c->chat_template_name);
    memset(c, 0, sizeof *c);
}

/* Loads dir/name if present; *out NULL when absent. */
static mg_status load_opt(const char *dir, const char *name, json_t **out, mg_error *err) {
    *out = NULL;
    char *p = mg_path_join(dir, name);
    mg_status rc = MG_OK;
    if (mg_path_exists(p)) {
        rc = mg_json_load_file(p, out, err);
        // transformers writes model_max_length = 1e30 as an integer literal, which
        // jansson refuses as an integer: read such files with big integers as reals.
        if (rc == MG_OK || !strstr(err ? err->msg : "", "too big integer")) goto loaded;
        json_error_t je;
        *out = json_load_file(p, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &je);
        rc = *out ? MG_OK
                  : mg_error_set(err, MG_ERR_INVALID, "%s:%d:%d: invalid JSON: %s", p, je.line,
                                 je.column, je.text);
    loaded:
        if (rc == MG_OK && !json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            rc = mg_error_set(err, MG_ERR_INVALID, "%s: expected a JSON object", p);
        }
    }
    free(p);
    return rc;
}

/* A special token value: "text", {"content": "text", ...} or null. */
static const char *token_text(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v)) return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static void add_stop(mg_tok_config *c, int32_t id) {
    if (id < 0) return;
    for (size_t i = 0; i < c->n_stop; i++)
        if (c->stop[i] == id) return;
    c->stop = (int32_t *)mg_realloc(c->stop, (c->n_stop + 1) * sizeof(int32_t));
    c->stop[c->n_stop++] = id;
}

static void resolve(const mg_tokenizer *tok, const json_t *cfg, const json_t *map,
                    const json_t *gen, const char *key, const char *id_key, char **text,
                    int32_t *id) {
    const char *s = token_text(json_object_get(cfg, key));
    if (!s) s = token_text(json_object_get(map, key));
    *id = -1;
    if (s) {
        *text = mg_strdup(s);
        *id = mg_tokenizer_piece_to_id(tok, s);
        return;
    }
    json_t *g = json_object_get(gen, id_key);
    if (json_is_array(g)) g = json_array_get(g, 0);
    if (json_is_integer(g)) {
        const char *p = mg_tokenizer_id_to_piece(tok, (int32_t)json_integer_value(g));
        if (p) {
            *id = (int32_t)json_integer_value(g);
            *text = mg_strdup(p);
        }
    }
}

mg_status mg_tok_config_load(const char *dir, const mg_tokenizer *tok, mg_tok_config *c,
                             mg_error *err) {
    memset(c, 0, sizeof *c);
    c->bos_id = c->eos_id = c->pad_id = -1;
    json_t *cfg = NULL, *map = NULL, *gen = NULL;
    mg_status rc;
    if ((rc = load_opt(dir, "tokenizer_config.json", &cfg, err)) ||
        (rc = load_opt(dir, "special_tokens_map.json", &map, err)) ||
        (rc = load_opt(dir, "generation_config.json", &gen, err)))
        goto done;
    resolve(tok, cfg, map, gen, "bos_token", "bos_token_id", &c->bos_token, &c->bos_id);
    resolve(tok, cfg, map, gen, "eos_token", "eos_token_id", &c->eos_token, &c->eos_id);
    resolve(tok, cfg, map, gen, "pad_token", "pad_token_id", &c->pad_token, &c->pad_id);
    c->add_bos_token = json_is_true(json_object_get(cfg, "add_bos_token"));
    c->add_eos_token = json_is_true(json_object_get(cfg, "add_eos_token"));

    add_stop(c, c->eos_id);
    json_t *g = json_object_get(gen, "eos_token_id");
    if (json_is_integer(g)) add_stop(c, (int32_t)json_integer_value(g));
    for (size_t i = 0; json_is_array(g) && i < json_array_size(g); i++)
        if (json_is_integer(json_array_get(g, i)))
            add_stop(c, (int32_t)json_integer_value(json_array_get(g, i)));
    for (size_t i = 0; i < sizeof EOT_NAMES / sizeof EOT_NAMES[0]; i++)
        add_stop(c, mg_tokenizer_piece_to_id(tok, EOT_NAMES[i]));

    char *jinja = mg_path_join(dir, "chat_template.jinja");
    if (mg_path_exists(jinja)) {
        size_t len;
        rc = mg_file_read_all(jinja, (uint64_t)16 << 20, &c->chat_template, &len, err);
        c->chat_template_name = mg_strdup(jinja);
        if (!rc && strlen(c->chat_template) != len)
            rc = mg_error_set(err, MG_ERR_INVALID, "%s: a NUL byte at offset %zu (a template is text)",
                              jinja, strlen(c->chat_template));
    } else {
        json_t *ct = json_object_get(cfg, "chat_template");
        if (json_is_string(ct) && strlen(json_string_value(ct)) != json_string_length(ct)) {
            char *p = mg_path_join(dir, "tokenizer_config.json");
            rc = mg_error_set(err, MG_ERR_INVALID,
                              "%s: chat_template has a NUL character (\\u0000) at offset %zu", p,
                              strlen(json_string_value(ct)));
            free(p);
            free(jinja);
            goto done;
        }
        if (json_is_string(ct)) {
            c->chat_template = mg_strdup(json_string_value(ct));
        } else if (json_is_array(ct)) {
            const char *pick = NULL;
            for (size_t i = 0; i < json_array_size(ct); i++) {
                json_t *e = json_array_get(ct, i);
                const char *name = json_string_value(json_object_get(e, "name"));
                const char *tmpl = json_string_value(json_object_get(e, "template"));
                if (tmpl && (!pick || (name && !strcmp(name, "default")))) pick = tmpl;
                if (pick && name && !strcmp(name, "default")) break;
            }
            if (pick) c->chat_template = mg_strdup(pick);
        }
        if (c->chat_template) {
            char *p = mg_path_join(dir, "tokenizer_config.json");
            size_t n = strlen(p) + 32;
            c->chat_template_name = mg_malloc(n);
            snprintf(c->chat_template_name, n, "%s: chat_template", p);
            free(p);
        }
    }
    free(jinja);
done:
    json_decref(cfg);
    json_decref(map);
    json_decref(gen);
    if (rc != MG_OK) mg_tok_config_free(c);
    return rc;
}
