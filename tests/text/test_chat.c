/* test_chat.c - built-in chat templates, --chat-template resolution and the
 * variables a render receives (tokenizer-free parts of chat.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "text/chat.h"

static json_t *conv(const char *system, const char *user, const char *assistant) {
    json_t *m = json_array();
    if (system)
        json_array_append_new(m, json_pack("{s:s,s:s}", "role", "system", "content", system));
    json_array_append_new(m, json_pack("{s:s,s:s}", "role", "user", "content", user));
    if (assistant)
        json_array_append_new(m, json_pack("{s:s,s:s}", "role", "assistant", "content", assistant));
    return m;
}

static void expect_render(const char *name, const mg_chat_tokens *tok, json_t *msgs, bool agp,
                          const char *want) {
    char *out = NULL;
    mg_error err = {0};
    CHECK_OK(mg_chat_render_template(mg_chat_builtin(name), tok, msgs, agp, NULL, &out, &err),
             &err);
    CHECK_MSG(out && !strcmp(out, want), "%s: [%s], want [%s]", name, out ? out : "(null)", want);
    free(out);
}

static void test_builtins(void) {
    CHECK(mg_chat_builtin("chatml") && mg_chat_builtin("llama3") && mg_chat_builtin("mistral"));
    CHECK(mg_chat_builtin("nope") == NULL);
    CHECK(mg_chat_builtin(NULL) == NULL);
    mg_chat_tokens none = {0};
    mg_chat_tokens l3 = {"<|begin_of_text|>", "<|eot_id|>", NULL};
    mg_chat_tokens mis = {"<s>", "</s>", NULL};
    json_t *a = conv("Be brief.", "Hi", "Hello!");
    json_t *b = conv(NULL, " Question? ", NULL);
    expect_render("chatml", &none, a, false,
                  "<|im_start|>system\nBe "
                  "brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<"
                  "|im_end|>\n");
    expect_render("chatml", &none, b, true,
                  "<|im_start|>user\n Question? <|im_end|>\n<|im_start|>assistant\n");
    expect_render("chatml", &mis, b, false, "<s><|im_start|>user\n Question? <|im_end|>\n");
    expect_render(
        "llama3", &l3, a, false,
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>");
    expect_render("llama3", &l3, b, true,
                  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQuestion?<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render("mistral", &mis, a, false, "<s>[INST] Be brief.\n\nHi [/INST] Hello!</s>");
    expect_render("mistral", &mis, b, true, "<s>[INST]  Question?  [/INST]");
    json_t *multi = conv(NULL, "A", "B");
    json_array_append_new(multi, json_pack("{s:s,s:s}", "role", "user", "content", "C"));
    expect_render("mistral", &mis, multi, true, "<s>[INST] A [/INST] B</s>[INST] C [/INST]");
    // Prefix property for every built-in: the prompt rendering starts the full one.
    const char *names[] = {"chatml", "llama3", "mistral"};
    for (int i = 0; i < 3; i++) {
        json_t *p = conv("S", "P", NULL), *f = conv("S", "P", "R");
        char *po = NULL, *fo = NULL;
        mg_error err = {0};
        CHECK_OK(mg_chat_render_template(mg_chat_builtin(names[i]), &l3, p, true, NULL, &po, &err),
                 &err);
        CHECK_OK(mg_chat_render_template(mg_chat_builtin(names[i]), &l3, f, false, NULL, &fo, &err),
                 &err);
        CHECK_MSG(po && fo && !strncmp(po, fo, strlen(po)) && strlen(fo) > strlen(po),
                  "%s: prompt is not a prefix", names[i]);
        free(po);
        free(fo);
        json_decref(p);
        json_decref(f);
    }
    json_t *tool = json_pack("[{s:s,s:s}]", "role", "tool", "content", "x");
    char *out = NULL;
    mg_error err = {0};
    CHECK(mg_chat_render_template(mg_chat_builtin("mistral"), &mis, tool, false, NULL, &out,
                                  &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "not tool") != NULL);
    json_decref(tool);
    json_decref(a);
    json_decref(b);
    json_decref(multi);
}

static void test_variables(void) {
    // transformers passes tools/documents as None, the special tokens it has, and extra kwargs
    const char *t =
        "{{ tools is none }}{{ documents is none }}{{ bos_token is defined }}{{ eos_token }}"
        "{{ pad_token is defined }}{{ enable_thinking }}{{ add_generation_prompt }}{{ messages | "
        "length }}";
    mg_chat_tokens tok = {NULL, "</s>", NULL};
    json_t *extra = json_pack("{s:b}", "enable_thinking", 0);
    json_t *m = conv(NULL, "x", NULL);
    char *out = NULL;
    mg_error err = {0};
    CHECK_OK(mg_chat_render_template(t, &tok, m, true, extra, &out, &err), &err);
    CHECK_EQ_STR(out, "TrueTrueFalse</s>FalseFalseTrue1");
    free(out);
    // extra values override the defaults (e.g. real tools)
    json_t *extra2 = json_pack("{s:[{s:s}]}", "tools", "name", "f");
    CHECK_OK(mg_chat_render_template("{{ tools | tojson }}", &tok, m, false, extra2, &out, &err),
             &err);
    CHECK_EQ_STR(out, "[{\"name\": \"f\"}]");
    free(out);
    // bad inputs
    json_t *notarr = json_object();
    CHECK(mg_chat_render_template("x", &tok, notarr, false, NULL, &out, &err) == MG_ERR_INVALID);
    json_t *norole = json_pack("[{s:s}]", "content", "x");
    CHECK(mg_chat_render_template("x", &tok, norole, false, NULL, &out, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "message 0") != NULL);
    CHECK(mg_chat_render_template("{% if %}", &tok, m, false, NULL, &out, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "chat_template:1:") != NULL);
    CHECK(mg_chat_render_template("{{ raise_exception('nope') }}", &tok, m, false, NULL, &out,
                                  &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "template raised: nope") != NULL);
    CHECK(out == NULL);
    json_decref(notarr);
    json_decref(norole);
    json_decref(extra);
    json_decref(extra2);
    json_decref(m);
}

static void test_resolve(void) {
    char *out = NULL;
    mg_error err = {0};
    CHECK_OK(mg_chat_template_resolve("llama3", &out, &err), &err);
    CHECK_EQ_STR(out, mg_chat_builtin("llama3"));
    free(out);
    char dir[] = "/tmp/mg_chat_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char jinja[256], cfg[256], cfg2[256], bad[256];
    snprintf(jinja, sizeof jinja, "%s/t.jinja", dir);
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    snprintf(cfg2, sizeof cfg2, "%s/multi.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    FILE *f = fopen(jinja, "w");
    fputs("{{ messages[0].content }}", f);
    fclose(f);
    f = fopen(cfg, "w");
    fputs("{\"model_max_length\": 1000000000000000019884624838656, \"chat_template\": \"[{{ "
          "messages | length }}]\"}",
          f);
    fclose(f);
    f = fopen(cfg2, "w");
    fputs("{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": "
          "\"default\", \"template\": \"D\"}]}",
          f);
    fclose(f);
    f = fopen(bad, "w");
    fputs("{\"other\": 1}", f);
    fclose(f);
    CHECK_OK(mg_chat_template_resolve(jinja, &out, &err), &err);
    CHECK_EQ_STR(out, "{{ messages[0].content }}");
    free(out);
    CHECK_OK(mg_chat_template_resolve(cfg, &out, &err), &err);
    CHECK_EQ_STR(out, "[{{ messages | length }}]");
    free(out);
    CHECK_OK(mg_chat_template_resolve(cfg2, &out, &err), &err);
    CHECK_EQ_STR(out, "D");
    free(out);
    CHECK(mg_chat_template_resolve(bad, &out, &err) == MG_ERR_INVALID);
    CHECK(strstr(err.msg, "chat_template") != NULL);
    CHECK(mg_chat_template_resolve("no-such-name-or-file", &out, &err) == MG_ERR_NOT_FOUND);
    CHECK(strstr(err.msg, "chatml, llama3, mistral") != NULL);
    CHECK(out == NULL);
    unlink(jinja);
    unlink(cfg);
    unlink(cfg2);
    unlink(bad);
    rmdir(dir);
}

int main(void) {
    RUN(test_builtins);
    RUN(test_variables);
    RUN(test_resolve);
    return TEST_END();
}
