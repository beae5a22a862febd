/* card.c - see card.h. */
#include "merge/card.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/json.h"

/* A ChatML template written for mergeguard (the format is public: OpenAI ChatML). */
static const char CHATML[] =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\\n' "
    "}}{% endif %}";
static const char LLAMA3[] =
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if "
    "add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif "
    "%}";
static const char ALPACA[] =
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + "
    "'\\n\\n' }}{% elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] "
    "+ "
    "'\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + "
    "message['content'] "
    "+ eos_token + '\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### "
    "Response:\\n' }}{% endif %}";
static const char MISTRAL[] =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
    "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ "
    "message['content'] + eos_token }}{% endif %}{% endfor %}";

static mg_status write_text(const char *dir, const char *name, const char *data, size_t len,
                            mg_error *err) {
    char *path = mg_path_join(dir, name);
    FILE *f = fopen(path, "wb");
    mg_status st = MG_OK;
    if (!f || fwrite(data, 1, len, f) != len)
        st = mg_error_set(err, MG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (f && fclose(f) && !st)
        st = mg_error_set(err, MG_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    free(path);
    return st;
}

static mg_status copy_file(const char *src, const char *dir, const char *name, mg_error *err) {
    char *buf;
    size_t len;
    mg_status st = mg_file_read_all(src, 0, &buf, &len, err);
    if (st) return st;
    st = write_text(dir, name, buf, len, err);
    free(buf);
    return st;
}

static const char *template_text(const mg_merge_config *c) {
    if (c->chat_template) return c->chat_template;
    if (!c->chat_template_name) return NULL;
    if (!strcmp(c->chat_template_name, "chatml")) return CHATML;
    if (!strcmp(c->chat_template_name, "llama3")) return LLAMA3;
    if (!strcmp(c->chat_template_name, "alpaca")) return ALPACA;
    return MISTRAL;
}

static mg_status write_config(const mg_plan *p, const char *dir, mg_error *err) {
    const mg_model_config *dc = mg_model_config_of(p->models[p->donor]);
    json_t *j = dc->json ? json_deep_copy(dc->json) : json_object();
    const mg_merge_config *c = p->cfg;
    mg_dtype od = p->n_tensors ? p->tensors[0].out_dtype : MG_DTYPE_F32;
    if (c->has_out_dtype)
        od = c->out_dtype;
    else if (c->has_dtype)
        od = c->dtype;
    json_object_set_new(j, "torch_dtype", json_string(mg_dtype_torch_name(od)));
    if (json_object_get(j, "num_hidden_layers") || c->slices_form)
        json_object_set_new(j, "num_hidden_layers", json_integer(p->out_layers));
    if (p->untie) json_object_set_new(j, "tie_word_embeddings", json_false());
    for (size_t i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].fill >= 0 && strstr(p->tensors[i].name, "embed_tokens"))
            json_object_set_new(j, "vocab_size", json_integer(p->tensors[i].shape[0]));
    char *path = mg_path_join(dir, "config.json");
    mg_status st = mg_json_write_file(path, j, true, err);
    free(path);
    json_decref(j);
    return st;
}

static mg_status write_card(const mg_plan *p, const char *dir, const char *title, mg_error *err) {
    const mg_merge_config *c = p->cfg;
    size_t cap = 4096 + strlen(c->text) + c->n_models * 1024;
    char *s = mg_malloc(cap);
    size_t n = 0;
#define ADD(...) n += (size_t)snprintf(s + n, cap - n, __VA_ARGS__)
    ADD("---\nbase_model:\n");
    for (size_t i = 0; i < c->n_models; i++)
        ADD("- %s\n", c->models[i].ref);
    ADD("library_name: transformers\ntags:\n- merge\n- mergeguard\n---\n# %s\n\n", title);
    ADD("This is a merge of pre-trained language models created with mergeguard.\n\n");
    ADD("## Merge details\n\n### Merge method\n\nThis model was merged using the **%s** merge "
        "method",
        c->method->name);
    if (c->base >= 0 && strcmp(c->method->name, "slerp"))
        ADD(" using `%s` as the base", c->models[c->base].ref);
    ADD(".\n\n### Models merged\n\n");
    for (size_t i = 0; i < c->n_models; i++)
        if ((int)i != c->base) ADD("* `%s`\n", c->models[i].ref);
    ADD("\n### Output\n\n%zu tensors, %lld layers, config.json from `%s`, tokenizer from `%s`.\n",
        p->n_tensors, (long long)p->out_layers, c->models[p->donor].ref,
        c->models[p->tokenizer_donor].ref);
    ADD("\n### Configuration\n\nThe following YAML configuration was used to produce this "
        "model:\n\n```yaml\n");
#undef ADD
    mg_status st = write_text(dir, "README.md", s, n, err);
    free(s);
    if (st) return st;
    // Append the config verbatim (it may be longer than the buffer estimate).
    char *path = mg_path_join(dir, "README.md");
    FILE *f = fopen(path, "ab");
    size_t tl = strlen(c->text);
    bool nl = tl && c->text[tl - 1] == '\n';
    if (!f || fwrite(c->text, 1, tl, f) != tl || fputs(nl ? "```\n" : "\n```\n", f) < 0)
        st = mg_error_set(err, MG_ERR_IO, "%s: cannot write", path);
    if (f) fclose(f);
    free(path);
    return st;
}

mg_status mg_merge_write_metadata(const mg_plan *p, const char *dir, const char *title,
                                  mg_error *err) {
    const mg_merge_config *c = p->cfg;
    mg_status st = write_config(p, dir, err);
    if (!st) st = write_text(dir, "mergeguard_config.yml", c->text, strlen(c->text), err);
    if (!st) st = write_card(p, dir, title, err);
    // Tokenizer files from the tokenizer source (mergekit merge.py's list).
    static const char *const TOK[] = {"tokenizer_config.json",
                                      "special_tokens_map.json",
                                      "tokenizer.json",
                                      "tokenizer.model",
                                      "added_tokens.json",
                                      "merges.txt",
                                      "vocab.json",
                                      "chat_template.jinja",
                                      "chat_template.json",
                                      NULL};
    const mg_model *tm = p->models[p->tokenizer_donor];
    const char *tmpl = template_text(c);
    for (const char *const *t = TOK; *t && !st; t++) {
        char *src = mg_model_file(tm, *t);
        if (!src) continue;
        if (tmpl && !strcmp(*t, "tokenizer_config.json")) {
            json_t *j;
            st = mg_json_load_file(src, &j, err);
            if (!st) {
                json_object_set_new(j, "chat_template", json_string(tmpl));
                char *dst = mg_path_join(dir, *t);
                st = mg_json_write_file(dst, j, true, err);
                free(dst);
                json_decref(j);
            }
        } else if (!(tmpl &&
                     (!strcmp(*t, "chat_template.jinja") || !strcmp(*t, "chat_template.json")))) {
            st = copy_file(src, dir, *t, err);
        }
        free(src);
    }
    if (!st && tmpl) {
        char *tc = mg_model_file(tm, "tokenizer_config.json");
        if (!tc) st = write_text(dir, "chat_template.jinja", tmpl, strlen(tmpl), err);
        free(tc);
    }
    // generation_config.json follows the config donor.
    char *gen = mg_model_file(p->models[p->donor], "generation_config.json");
    if (gen && !st) st = copy_file(gen, dir, "generation_config.json", err);
    free(gen);
    return st;
}
