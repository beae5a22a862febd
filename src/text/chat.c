/* chat.c - built-in templates, --chat-template resolution and rendering with
 * transformers' variables (see chat.h). The tokenizer-dependent half lives in
 * chat_encode.c. */
#include "text/chat.h"

#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "text/template.h"

/* Our own minimal templates for tokenizers that ship none. They write BOS when
 * the tokenizer has one (rendered text is encoded without special tokens, as
 * transformers does). */
static const char CHATML[] =
    "{%- if bos_token is defined and bos_token %}{{ bos_token }}{% endif -%}\n"
    "{%- for message in messages -%}\n"
    "{{ '<|im_start|>' ~ message.role ~ '\\n' ~ message.content ~ '<|im_end|>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif -%}\n";

static const char LLAMA3[] =
    "{%- if bos_token is defined and bos_token %}{{ bos_token }}{% endif -%}\n"
    "{%- for message in messages -%}\n"
    "{{ '<|start_header_id|>' ~ message.role ~ '<|end_header_id|>\\n\\n' ~ message.content | trim "
    "~ '<|eot_id|>' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% "
    "endif -%}\n";

/* Mistral / Mixtral instruct: "[INST] user [/INST] answer</s>". No system role:
 * a system message is prepended to the next user turn. The space before the
 * answer reproduces mistral-common, which encodes the answer as a separate
 * SentencePiece piece (so it starts with '▁'). */
static const char MISTRAL[] =
    "{%- if bos_token is defined and bos_token %}{{ bos_token }}{% endif -%}\n"
    "{%- set ns = namespace(system='') -%}\n"
    "{%- for message in messages -%}\n"
    "  {%- if message.role == 'system' -%}\n"
    "    {%- set ns.system = message.content ~ '\\n\\n' -%}\n"
    "  {%- elif message.role == 'user' -%}\n"
    "    {{ '[INST] ' ~ ns.system ~ message.content ~ ' [/INST]' }}\n"
    "    {%- set ns.system = '' -%}\n"
    "  {%- elif message.role == 'assistant' -%}\n"
    "    {{ ' ' ~ message.content ~ (eos_token if eos_token is defined else '') }}\n"
    "  {%- else -%}\n"
    "    {{ raise_exception('the mistral template supports system, user and assistant messages, "
    "not ' ~ message.role) }}\n"
    "  {%- endif -%}\n"
    "{%- endfor -%}\n";

static const struct {
    const char *name, *src;
} BUILTINS[] = {{"chatml", CHATML}, {"llama3", LLAMA3}, {"mistral", MISTRAL}};

const char *mg_chat_builtin(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof BUILTINS / sizeof *BUILTINS; i++)
        if (!strcmp(name, BUILTINS[i].name)) return BUILTINS[i].src;
    return NULL;
}

mg_status mg_chat_template_resolve(const char *arg, char **out, mg_error *err) {
    *out = NULL;
    const char *b = mg_chat_builtin(arg);
    if (b) {
        *out = mg_strdup(b);
        return MG_OK;
    }
    if (!arg || !mg_path_is_file(arg))
        return mg_error_set(err, MG_ERR_NOT_FOUND,
                            "--chat-template '%s': neither a built-in template (chatml, llama3, "
                            "mistral) nor a readable file",
                            arg ? arg : "");
    char *text = NULL;
    size_t len = 0;
    mg_status st = mg_file_read_all(arg, 16u << 20, &text, &len, err);
    if (st) return st;
    // Templates are C strings from here on: a NUL would silently cut the file.
    const char *nul = memchr(text, 0, len);
    if (nul) {
        mg_error_set(err, MG_ERR_INVALID, "%s: a NUL byte at offset %zu (a template is text)", arg,
                     (size_t)(nul - text));
        free(text);
        return MG_ERR_INVALID;
    }
    // A tokenizer_config.json (or any JSON object with "chat_template").
    json_error_t je;
    json_t *j = text[0] == '{' ? json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &je) : NULL;
    if (j) {
        json_t *t = json_object_get(j, "chat_template");
        if (json_is_array(t)) { // [{"name": "default", "template": ...}, ...]
            size_t i;
            json_t *e, *pick = NULL;
            json_array_foreach(t, i, e) {
                const char *nm = json_string_value(json_object_get(e, "name"));
                if (!pick || (nm && !strcmp(nm, "default"))) pick = json_object_get(e, "template");
            }
            t = pick;
        }
        if (!json_is_string(t)) {
            json_decref(j);
            free(text);
            return mg_error_set(err, MG_ERR_INVALID,
                                "%s: JSON file without a \"chat_template\" string", arg);
        }
        *out = mg_strndup(json_string_value(t), json_string_length(t));
        json_decref(j);
        free(text);
        return MG_OK;
    }
    *out = text;
    return MG_OK;
}

mg_status mg_chat_check_messages(const json_t *messages, mg_error *err) {
    if (!json_is_array(messages))
        return mg_error_set(
            err, MG_ERR_INVALID,
            "chat messages must be a JSON array of {\"role\", \"content\"} objects");
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        if (!json_is_object(m) || !json_is_string(json_object_get(m, "role")))
            return mg_error_set(err, MG_ERR_INVALID,
                                "chat message %zu: expected an object with a string \"role\"", i);
    }
    return MG_OK;
}

mg_status mg_chat_render_template(const char *tmpl, const mg_chat_tokens *tokens,
                                  const json_t *messages, bool add_generation_prompt,
                                  const json_t *extra, char **out, mg_error *err) {
    return mg_chat_render_template_as(tmpl, "chat_template", tokens, messages,
                                      add_generation_prompt, extra, out, err);
}

mg_status mg_chat_render_template_as(const char *tmpl, const char *name,
                                     const mg_chat_tokens *tokens, const json_t *messages,
                                     bool add_generation_prompt, const json_t *extra, char **out,
                                     mg_error *err) {
    *out = NULL;
    mg_status cst = mg_chat_check_messages(messages, err);
    if (cst) return cst;
    if (extra && !json_is_object(extra))
        return mg_error_set(err, MG_ERR_INVALID,
                            "extra chat-template variables must be a JSON object");
    mg_template *t = NULL;
    mg_status st = mg_template_parse(tmpl, strlen(tmpl), name, &t, err);
    if (st) return st;
    // The variables transformers' apply_chat_template passes.
    json_t *ctx = json_object();
    json_object_set(ctx, "messages", (json_t *)messages);
    json_object_set_new(ctx, "tools", json_null());
    json_object_set_new(ctx, "documents", json_null());
    json_object_set_new(ctx, "add_generation_prompt", json_boolean(add_generation_prompt));
    if (tokens) {
        if (tokens->bos_token)
            json_object_set_new(ctx, "bos_token", json_string(tokens->bos_token));
        if (tokens->eos_token)
            json_object_set_new(ctx, "eos_token", json_string(tokens->eos_token));
        if (tokens->pad_token)
            json_object_set_new(ctx, "pad_token", json_string(tokens->pad_token));
    }
    if (extra) json_object_update(ctx, (json_t *)extra);
    st = mg_template_render(t, ctx, NULL, out, NULL, err);
    json_decref(ctx);
    mg_template_free(t);
    return st;
}
