/* template.c - fuzz target: the Jinja chat-template engine, with the
 * template and the messages both fuzzed. The input is TEMPLATE [SEP JSON]
 * (SEP = MG_FUZZ_SEP). A JSON object is the whole render context; a JSON
 * array is the messages, with the variables transformers passes
 * (add_generation_prompt, bos_token, eos_token); anything else renders with
 * a fixed two-message conversation. Rendering runs under tighter limits than
 * the defaults (so each input stays fast), which the engine must enforce. */
#include <jansson.h>

#include "fuzz_util.h"
#include "text/template.h"

int mg_fuzz_template(const uint8_t *data, size_t size);

int mg_fuzz_template(const uint8_t *data, size_t size) {
    char dir[600];
    mg_fuzz_dir("template", dir, sizeof dir); // quiet logging, one thread
    mg_fuzz_part parts[2];
    size_t np = mg_fuzz_split(data, size, parts, 2);
    mg_error err = {0};
    mg_template *t = NULL;
    mg_status st =
        mg_template_parse((const char *)parts[0].p, parts[0].n, "chat_template", &t, &err);
    mg_fuzz_check_err("template", st, &err);
    if (st != MG_OK) return 0;

    json_t *j = NULL;
    if (np > 1) j = json_loadb((const char *)parts[1].p, parts[1].n, 0, NULL);
    json_t *ctx;
    if (json_is_object(j)) {
        ctx = j;
    } else {
        ctx = json_object();
        if (!json_is_array(j)) {
            json_decref(j);
            j = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", "Be brief.", "role",
                          "user", "content", "Hi!");
        }
        json_object_set_new(ctx, "messages", j);
        json_object_set_new(ctx, "add_generation_prompt", json_true());
        json_object_set_new(ctx, "bos_token", json_string("<s>"));
        json_object_set_new(ctx, "eos_token", json_string("</s>"));
    }
    mg_template_limits lim = mg_template_default_limits();
    lim.max_output = 1 << 20;
    lim.max_memory = 32 << 20;
    lim.max_steps = 100000;
    char *out = NULL;
    size_t len = 0;
    st = mg_template_render(t, ctx, &lim, &out, &len, &err);
    mg_fuzz_check_err("template", st, &err);
    if (st == MG_OK && (len > lim.max_output || strlen(out) > len)) {
        fprintf(stderr, "template: output of %zu bytes past the limit\n", len);
        abort();
    }
    free(out);
    json_decref(ctx);
    mg_template_free(t);
    return 0;
}
