/* postprocessor.c - see postprocessor.h. */
#include "text/postprocessor.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

void mg_postproc_free(mg_postproc *pp) {
    if (!pp) return;
    free(pp->prefix);
    free(pp->suffix);
    memset(pp, 0, sizeof *pp);
}

static void add(int32_t **arr, size_t *n, int32_t id) {
    *arr = (int32_t *)mg_realloc(*arr, (*n + 1) * sizeof(int32_t));
    (*arr)[(*n)++] = id;
}

/* Appends the ids of one SpecialToken entry of a template. */
static mg_status template_special(const json_t *specials, const char *name, mg_postproc *pp,
                                  bool after, mg_error *err) {
    json_t *ids = json_object_get(json_object_get(specials, name), "ids");
    if (!json_is_array(ids))
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: post_processor TemplateProcessing: special token "
                            "'%s' missing from special_tokens",
                            name);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= INT32_MAX)
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: post_processor: special token '%s': bad id", name);
        if (after) add(&pp->suffix, &pp->n_suffix, (int32_t)json_integer_value(v));
        else add(&pp->prefix, &pp->n_prefix, (int32_t)json_integer_value(v));
    }
    return MG_OK;
}

static mg_status parse_into(const json_t *obj, mg_postproc *pp, mg_error *err) {
    if (!obj || json_is_null(obj)) return MG_OK;
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (!json_is_object(obj) || !type)
        return mg_error_set(err, MG_ERR_INVALID,
                            "tokenizer.json: post_processor: expected an object with a 'type'");
    if (!strcmp(type, "ByteLevel")) return MG_OK; // only adjusts offsets
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(obj, "processors");
        if (!json_is_array(arr))
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: post_processor Sequence: 'processors' must be a "
                                "list");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            mg_status rc = parse_into(json_array_get(arr, i), pp, err);
            if (rc != MG_OK) return rc;
        }
        return MG_OK;
    }
    if (!strcmp(type, "TemplateProcessing")) {
        if (pp->n_prefix || pp->n_suffix)
            return mg_error_set(err, MG_ERR_UNSUPPORTED,
                                "tokenizer.json: post_processor: two templates in a Sequence");
        json_t *single = json_object_get(obj, "single");
        json_t *specials = json_object_get(obj, "special_tokens");
        if (!json_is_array(single))
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: post_processor TemplateProcessing: 'single' must "
                                "be a list");
        bool seen_a = false;
        for (size_t i = 0; i < json_array_size(single); i++) {
            json_t *item = json_array_get(single, i);
            json_t *sp = json_object_get(item, "SpecialToken");
            json_t *seq = json_object_get(item, "Sequence");
            if (sp) {
                const char *name = json_string_value(json_object_get(sp, "id"));
                if (!name)
                    return mg_error_set(err, MG_ERR_INVALID,
                                        "tokenizer.json: post_processor: single[%zu]: SpecialToken "
                                        "without an id",
                                        i);
                mg_status rc = template_special(specials, name, pp, seen_a, err);
                if (rc != MG_OK) return rc;
            } else if (seq) {
                if (seen_a)
                    return mg_error_set(err, MG_ERR_UNSUPPORTED,
                                        "tokenizer.json: post_processor: 'single' template uses "
                                        "the sequence twice");
                seen_a = true;
            } else {
                return mg_error_set(err, MG_ERR_INVALID,
                                    "tokenizer.json: post_processor: single[%zu]: expected "
                                    "SpecialToken or Sequence",
                                    i);
            }
        }
        return MG_OK;
    }
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        json_t *cls = json_object_get(obj, "cls"), *sep = json_object_get(obj, "sep");
        json_t *ci = json_array_get(cls, 1), *si = json_array_get(sep, 1);
        if (!json_is_integer(ci) || !json_is_integer(si))
            return mg_error_set(err, MG_ERR_INVALID,
                                "tokenizer.json: post_processor %s: 'cls' and 'sep' must be "
                                "[token, id]",
                                type);
        add(&pp->prefix, &pp->n_prefix, (int32_t)json_integer_value(ci));
        add(&pp->suffix, &pp->n_suffix, (int32_t)json_integer_value(si));
        return MG_OK;
    }
    return mg_error_set(err, MG_ERR_UNSUPPORTED,
                        "tokenizer.json: post_processor type '%s' is not supported (supported: "
                        "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, "
                        "Sequence)",
                        type);
}

mg_status mg_postproc_parse(const json_t *obj, mg_postproc *pp, mg_error *err) {
    memset(pp, 0, sizeof *pp);
    mg_status rc = parse_into(obj, pp, err);
    if (rc != MG_OK) mg_postproc_free(pp);
    return rc;
}
