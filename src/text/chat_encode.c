/* chat_encode.c - the tokenizer-dependent half of chat.h: rendering with a
 * tokenizer's own template and the prompt/response ids for loss masking. */
#include <string.h>

#include "base/alloc.h"
#include "text/chat.h"

mg_chat_tokens mg_chat_tokens_of(const mg_tokenizer *tok) {
    mg_chat_tokens t = {mg_tokenizer_bos_token(tok), mg_tokenizer_eos_token(tok), NULL};
    int32_t pad = mg_tokenizer_pad_id(tok);
    if (pad >= 0) t.pad_token = mg_tokenizer_id_to_piece(tok, pad);
    return t;
}

mg_status mg_chat_render(const mg_tokenizer *tok, const json_t *messages,
                         bool add_generation_prompt, char **out, mg_error *err) {
    *out = NULL;
    const char *tmpl = mg_tokenizer_chat_template(tok);
    if (!tmpl)
        return mg_error_set(
            err, MG_ERR_UNSUPPORTED,
            "the tokenizer has no chat_template (tokenizer_config.json or "
            "chat_template.jinja); pass --chat-template chatml|llama3|mistral|FILE");
    mg_chat_tokens t = mg_chat_tokens_of(tok);
    return mg_chat_render_template_as(tmpl, mg_tokenizer_chat_template_name(tok), &t, messages,
                                      add_generation_prompt, NULL, out, err);
}

static json_t *message(const char *role, const char *content) {
    return json_pack("{s:s,s:s}", "role", role, "content", content);
}

mg_status mg_chat_encode_pair(const mg_tokenizer *tok, const char *prompt, const char *response,
                              const char *system, int32_t **ids, size_t *n, size_t *response_start,
                              mg_error *err) {
    *ids = NULL;
    *n = *response_start = 0;
    char *p_text = NULL, *f_text = NULL;
    int32_t *p_ids = NULL, *f_ids = NULL, *r_ids = NULL;
    size_t np = 0, nf = 0, nr = 0;
    json_t *msgs = json_array();
    if (system) json_array_append_new(msgs, message("system", system));
    json_array_append_new(msgs, message("user", prompt));
    mg_status st = mg_chat_render(tok, msgs, true, &p_text, err);
    if (st) goto fail;
    json_array_append_new(msgs, message("assistant", response));
    st = mg_chat_render(tok, msgs, false, &f_text, err);
    if (st) goto fail;
    size_t pl = strlen(p_text), fl = strlen(f_text);
    if (fl < pl || memcmp(p_text, f_text, pl) != 0) {
        size_t k = 0;
        while (k < pl && k < fl && p_text[k] == f_text[k])
            k++;
        st = mg_error_set(err, MG_ERR_UNSUPPORTED,
                          "chat template renders the prompt differently inside the full "
                          "conversation (first difference at byte %zu), so the response "
                          "tokens cannot be separated",
                          k);
        goto fail;
    }
    // transformers: apply_chat_template(tokenize=True) encodes with add_special_tokens=False.
    st = mg_tokenizer_encode(tok, p_text, pl, false, &p_ids, &np, err);
    if (st) goto fail;
    st = mg_tokenizer_encode(tok, f_text, fl, false, &f_ids, &nf, err);
    if (st) goto fail;
    if (nf >= np && (np == 0 || !memcmp(f_ids, p_ids, np * sizeof *p_ids))) {
        *ids = f_ids;
        *n = nf;
        f_ids = NULL;
    } else {
        // A merge crosses the prompt/response boundary: keep the prompt's own
        // tokens (what the model reads when generating) and encode the rest.
        st = mg_tokenizer_encode(tok, f_text + pl, fl - pl, false, &r_ids, &nr, err);
        if (st) goto fail;
        uint64_t total;
        if (!mg_size_add(np, nr, &total)) {
            st = mg_error_set(err, MG_ERR_INVALID, "chat encoding too long");
            goto fail;
        }
        *ids = mg_malloc_array((size_t)total ? (size_t)total : 1, sizeof **ids);
        if (np) memcpy(*ids, p_ids, np * sizeof *p_ids);
        if (nr) memcpy(*ids + np, r_ids, nr * sizeof *r_ids);
        *n = (size_t)total;
    }
    *response_start = np;
    st = MG_OK;
fail:
    json_decref(msgs);
    free(p_text);
    free(f_text);
    free(p_ids);
    free(f_ids);
    free(r_ids);
    return st;
}
