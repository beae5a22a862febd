/* recipe_impl.h - helpers shared by recipe.c and recipe_eval.c (not a public
 * API). Ownership as noted; reentrant. */
#ifndef MG_LAB_RECIPE_IMPL_H
#define MG_LAB_RECIPE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "text/tokenizer.h"

/* Every line of a JSONL file as a JSON array of objects. *out owned. */
mg_status mg_lab_read_jsonl(const char *path, json_t **out, mg_error *err);

/* The guard's ids for one exchange (agent may be NULL): the Llama-Guard-3
 * prompt (mg_world_guard_prompt) and, when label is set, "\n\n" label
 * <|eot_id|>; *start is where the label begins (the prompt length). *ids owned. */
mg_status mg_lab_encode_guard(const mg_tokenizer *tok, const char *user, const char *agent,
                              const char *label, int32_t **ids, size_t *n, size_t *start,
                              mg_error *err);

#endif // MG_LAB_RECIPE_IMPL_H
