/* template.h - the Jinja subset Hugging Face chat templates are written in.
 *
 * A template is parsed once into an AST (mg_template_parse) and rendered any
 * number of times with a JSON object as context (mg_template_render): each key
 * of the object is a template variable (messages, add_generation_prompt,
 * bos_token, eos_token, tools, and any extra keyword values).
 *
 * Dialect. The reference is transformers' apply_chat_template (Python Jinja2
 * with trim_blocks=True, lstrip_blocks=True, loopcontrols, and the globals
 * raise_exception / strftime_now and a tojson filter with ensure_ascii=False,
 * key order kept). The template text is preprocessed exactly like
 * @huggingface/jinja 0.5.11 (one trailing newline dropped, lstrip_blocks,
 * trim_blocks, {% generation %} tags removed), and for the real templates of
 * Llama 3 / 3.1, Qwen 2.5 / 3, Gemma 3, DeepSeek-V3, Mistral, ChatML and
 * Llama Guard 2 / 3 the output is byte-identical to that implementation
 * (tests/text/test_template_oracle.c). Where the two references disagree and
 * both succeed, Python wins: None/True/False print as such, lists and dicts
 * print as Python reprs, floats print as Python's repr, `~` binds tighter than
 * `+`, comparisons chain, strings are sequences of code points, `%` takes the
 * sign of the divisor, str.title/capitalize lower the rest of the word. Where
 * Python fails and @huggingface/jinja succeeds, we succeed like it does:
 * attribute access on undefined gives undefined, string + number concatenates.
 * Macros see the caller's variables (dynamic scope, as @huggingface/jinja).
 * A JSON real with an integral value stays a float (Python), where
 * @huggingface/jinja, reading JavaScript numbers, would print it as an int.
 *
 * Unsupported constructs ({% include %}, {% call %}, {% raw %}, unknown
 * filters or tests) fail at parse time with "NAME:LINE:COL: ..." naming the
 * construct; run-time errors (type errors, raise_exception) carry the position
 * of the expression that failed. Rendering is bounded (mg_template_limits):
 * output size, memory, evaluation steps and nesting depth, so no input can
 * crash or hang it.
 *
 * Ownership: mg_template is owned by the caller (mg_template_free). Thread
 * safety: a parsed template is read-only; renders may run concurrently. */
#ifndef MG_TEXT_TEMPLATE_H
#define MG_TEXT_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_template mg_template;

typedef struct mg_template_limits {
    size_t max_output;  // bytes of rendered text (default 16 MiB)
    size_t max_memory;  // bytes of render-time values (default 256 MiB)
    uint64_t max_steps; // statements + loop iterations + calls (default 10^7)
    int max_depth;      // expression / statement nesting and macro recursion (default 200)
} mg_template_limits;

/* The defaults above. */
mg_template_limits mg_template_default_limits(void);

/* Parses src[0..len) (UTF-8). name is used in messages ("chat_template").
 * *out owned. Errors: MG_ERR_INVALID for syntax errors, MG_ERR_UNSUPPORTED for
 * constructs outside the subset, both as "name:line:col: message". */
mg_status mg_template_parse(const char *src, size_t len, const char *name, mg_template **out,
                            mg_error *err);
void mg_template_free(mg_template *t); // NULL-safe

/* Renders with context (a JSON object or NULL). *out owned (free()), NUL-
 * terminated, *len bytes (len may be NULL). raise_exception("msg") gives
 * MG_ERR_INVALID with "name:line:col: template raised: msg". limits may be
 * NULL for the defaults. */
mg_status mg_template_render(const mg_template *t, const json_t *context,
                             const mg_template_limits *limits, char **out, size_t *len,
                             mg_error *err);

#endif // MG_TEXT_TEMPLATE_H
