/* nn_cli.c - see nn_cli.h. */
#include "cli/nn_cli.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/cli.h"
#include "text/chat.h"

const char *MG_NN_CLI_SAMPLING_HELP =
    "  --max-new-tokens N   tokens to generate at most (default 256, cap 1048576); the\n"
    "                       reply also ends at the context window (stop: \"context\")\n"
    "  --temperature T      0 = greedy (default); > 0 samples\n"
    "  --top-k K            sample among the K most likely tokens (0 = all, default)\n"
    "  --top-p P            sample from the smallest set with probability >= P (default 1)\n"
    "  --seed S             random seed (default 0); same seed, same tokens\n";

const char *MG_NN_CLI_MODEL_HELP =
    "  --system TEXT        system message (chat template)\n"
    "  --chat-template T    template override: chatml, llama3, mistral or a file\n"
    "  --weights W          f32, bf16 or auto (default: bf16 when the checkpoint is bf16;\n"
    "                       same results, half the memory, faster decoding)\n"
    "  --threads N, -q, -v  common options\n";

void mg_nn_cli_opts_init(mg_nn_cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->sample = mg_sample_params_greedy();
    o->max_new_tokens = 256;
    o->weights = MG_NN_WEIGHTS_AUTO;
}

int mg_nn_cli_option(int argc, char **argv, int *i, const char *cmd, mg_nn_cli_opts *o) {
    const char *a = argv[*i];
    bool has = *i + 1 < argc;
    const char *v = has ? argv[*i + 1] : NULL;
    long long n;
    double d;
#define TAKE() ((*i)++, 1)
    if (!strcmp(a, "--raw")) {
        o->raw = true;
        return 1;
    }
    if (!has) return 0;
    if (!strcmp(a, "--max-new-tokens")) {
        if (!mg_cli_parse_int(v, 1, MG_GEN_MAX_NEW_TOKENS, &n))
            return mg_cli_usage_error(cmd, "--max-new-tokens expects an integer in 1..%d",
                                      MG_GEN_MAX_NEW_TOKENS),
                   -1;
        o->max_new_tokens = (int)n;
        return TAKE();
    }
    if (!strcmp(a, "--temperature")) {
        if (!mg_cli_parse_double(v, &d) || !(d >= 0) || d > 1e6)
            return mg_cli_usage_error(cmd, "--temperature expects a number >= 0"), -1;
        o->sample.temperature = d;
        return TAKE();
    }
    if (!strcmp(a, "--top-k")) {
        if (!mg_cli_parse_int(v, 0, 1 << 30, &n))
            return mg_cli_usage_error(cmd, "--top-k expects an integer >= 0"), -1;
        o->sample.top_k = (int)n;
        return TAKE();
    }
    if (!strcmp(a, "--top-p")) {
        if (!mg_cli_parse_double(v, &d) || !(d > 0 && d <= 1))
            return mg_cli_usage_error(cmd, "--top-p expects a number in (0, 1]"), -1;
        o->sample.top_p = d;
        return TAKE();
    }
    if (!strcmp(a, "--seed")) {
        if (!mg_cli_parse_int(v, 0, INT64_MAX, &n))
            return mg_cli_usage_error(cmd, "--seed expects an integer >= 0"), -1;
        o->sample.seed = (uint64_t)n;
        return TAKE();
    }
    if (!strcmp(a, "--system")) {
        o->system = v;
        return TAKE();
    }
    if (!strcmp(a, "--chat-template")) {
        o->chat_template = v;
        return TAKE();
    }
    if (!strcmp(a, "--weights")) {
        if (!strcmp(v, "f32"))
            o->weights = MG_NN_WEIGHTS_F32;
        else if (!strcmp(v, "bf16"))
            o->weights = MG_NN_WEIGHTS_BF16;
        else if (!strcmp(v, "auto"))
            o->weights = MG_NN_WEIGHTS_AUTO;
        else
            return mg_cli_usage_error(cmd, "--weights expects f32, bf16 or auto"), -1;
        return TAKE();
    }
#undef TAKE
    return 0;
}

mg_status mg_nn_cli_open(const char *path, const mg_nn_cli_opts *o, mg_nn_cli_session *s,
                         mg_error *err) {
    memset(s, 0, sizeof *s);
    s->path = mg_strdup(path);
    mg_status rc = mg_tokenizer_load(path, &s->tok, err);
    if (rc != MG_OK) return rc;
    if (o->chat_template) {
        char *tmpl = NULL;
        if ((rc = mg_chat_template_resolve(o->chat_template, &tmpl, err)) != MG_OK) goto fail;
        mg_tokenizer_set_chat_template(s->tok, tmpl);
        free(tmpl);
    }
    if ((rc = mg_nn_model_load_as(path, o->weights, &s->model, err)) != MG_OK) goto fail;
    // A tokenizer that can produce ids past the embedding would fail at the
    // first such token; say so up front, naming the files.
    if (mg_tokenizer_vocab_size(s->tok) > (size_t)s->model->arch.vocab) {
        rc = mg_error_set(err, MG_ERR_INVALID,
                          "%s/tokenizer.json: the tokenizer has %zu ids but the model's "
                          "vocabulary (config.json vocab_size, embedding rows) has %d",
                          path, mg_tokenizer_vocab_size(s->tok), s->model->arch.vocab);
        goto fail;
    }
    size_t nt = 0;
    const int32_t *ts = mg_tokenizer_stop_ids(s->tok, &nt);
    const mg_arch *a = &s->model->arch;
    s->stop_ids = mg_malloc_array(nt + (size_t)a->n_eos + 1, sizeof *s->stop_ids);
    for (size_t i = 0; i < nt; i++)
        s->stop_ids[s->n_stop++] = ts[i];
    for (int i = 0; i < a->n_eos; i++) {
        bool dup = false;
        for (size_t j = 0; j < s->n_stop; j++)
            dup |= s->stop_ids[j] == a->eos_ids[i];
        if (!dup) s->stop_ids[s->n_stop++] = a->eos_ids[i];
    }
    return MG_OK;
fail:
    mg_nn_cli_close(s);
    return rc;
}

void mg_nn_cli_close(mg_nn_cli_session *s) {
    mg_nn_model_free(s->model);
    mg_tokenizer_free(s->tok);
    free(s->stop_ids);
    free(s->path);
    memset(s, 0, sizeof *s);
}

mg_gen_params mg_nn_cli_gen_params(const mg_nn_cli_session *s, const mg_nn_cli_opts *o) {
    mg_gen_params p = {.sample = o->sample,
                       .max_new_tokens = o->max_new_tokens,
                       .stop_ids = s->stop_ids,
                       .n_stop = s->n_stop};
    size_t tv = mg_tokenizer_vocab_size(s->tok);
    if (tv > 0 && tv < (size_t)s->model->arch.vocab) p.vocab_limit = (int)tv;
    return p;
}

mg_status mg_nn_cli_encode_messages(const mg_nn_cli_session *s, const json_t *messages,
                                    int32_t **ids, size_t *n, mg_error *err) {
    char *text = NULL;
    mg_status rc = mg_chat_render(s->tok, messages, true, &text, err);
    if (rc == MG_ERR_UNSUPPORTED) mg_error_prefix(err, "%s: ", s->path); // no template
    if (rc != MG_OK) return rc;
    // The template writes BOS itself (apply_chat_template: add_special_tokens=False).
    rc = mg_tokenizer_encode(s->tok, text, strlen(text), false, ids, n, err);
    free(text);
    return rc;
}

mg_status mg_nn_cli_encode_prompt(const mg_nn_cli_session *s, const mg_nn_cli_opts *o,
                                  const char *prompt, int32_t **ids, size_t *n, mg_error *err) {
    if (o->raw) return mg_tokenizer_encode(s->tok, prompt, strlen(prompt), true, ids, n, err);
    json_t *msgs = json_array();
    if (o->system)
        json_array_append_new(msgs,
                              json_pack("{s:s, s:s}", "role", "system", "content", o->system));
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", prompt));
    mg_status rc = mg_nn_cli_encode_messages(s, msgs, ids, n, err);
    json_decref(msgs);
    return rc;
}

void mg_nn_cli_stream_init(mg_nn_cli_stream *st, const mg_tokenizer *tok, FILE *out) {
    memset(st, 0, sizeof *st);
    st->tok = tok;
    st->out = out;
}

// Length of the prefix of s[0..len) that ends on a complete UTF-8 character
// and not in a U+FFFD a later token may still complete.
static size_t complete_prefix(const char *s, size_t len) {
    size_t i = len;
    // Back up over a trailing incomplete sequence.
    size_t k = 0;
    while (k < 4 && i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--, k++;
    if (i > 0) {
        unsigned char c = (unsigned char)s[i - 1];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need == k + 1)
            i = len; // the last character is complete
        else
            i--;
    }
    if (i >= 3 && !memcmp(s + i - 3, "\xEF\xBF\xBD", 3)) i -= 3;
    return i;
}

bool mg_nn_cli_stream_token(void *ctx, int32_t id) {
    mg_nn_cli_stream *st = ctx;
    if (st->n == st->cap) {
        st->cap = st->cap ? 2 * st->cap : 64;
        st->ids = mg_realloc(st->ids, st->cap * sizeof *st->ids);
    }
    st->ids[st->n++] = id;
    if (!st->out) return true;
    char *text = NULL;
    size_t len = 0;
    if (mg_tokenizer_decode(st->tok, st->ids, st->n, true, &text, &len, NULL) == MG_OK) {
        size_t upto = complete_prefix(text, len);
        if (upto > st->printed) {
            fwrite(text + st->printed, 1, upto - st->printed, st->out);
            fflush(st->out);
            st->printed = upto;
        }
    }
    free(text);
    return true;
}

char *mg_nn_cli_stream_finish(mg_nn_cli_stream *st) {
    char *text = NULL;
    size_t len = 0;
    if (mg_tokenizer_decode(st->tok, st->ids, st->n, true, &text, &len, NULL) != MG_OK) {
        free(text);
        text = mg_strdup("");
        len = 0;
    }
    if (st->out && len > st->printed) fwrite(text + st->printed, 1, len - st->printed, st->out);
    free(st->ids);
    st->ids = NULL;
    st->n = st->cap = 0;
    return text;
}
