/* merge_gguf.c - `merge ... --gguf OUT.gguf`. See merge_gguf.h. */
#include "cli/merge_gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "cli/cli.h"
#include "io/gguf_vocab.h"

int mg_merge_gguf_option(int argc, char **argv, int *i, mg_merge_gguf *g) {
    const char *a = argv[*i];
    if (strcmp(a, "--gguf") && strcmp(a, "--outtype")) return 0;
    if (*i + 1 >= argc || !argv[*i + 1][0]) {
        mg_cli_usage_error("merge", "%s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    if (!strcmp(a, "--gguf")) {
        g->path = v;
    } else {
        if (!mg_gguf_outtype_parse(v, &g->outtype)) {
            mg_cli_usage_error("merge", "--outtype expects f32, f16, bf16 or q8_0, got '%s'", v);
            return -1;
        }
        g->outtype_given = true;
    }
    return 1;
}

/* path without trailing slashes. Owned. */
static char *trimmed(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    return mg_strndup(path, n);
}

/* The merged folder gets the tokenizer donor's files: a tokenizer GGUF cannot
 * express (Unigram, WordPiece, ...) is found now, through the exporter's own
 * loader, instead of after OUT_DIR is written. */
static mg_status check_tokenizer(const mg_plan *plan, const char *arch, mg_error *err) {
    const mg_model *tok = plan->models[plan->tokenizer_donor];
    const mg_model_config *c = mg_model_config_of(plan->models[plan->donor]);
    size_t n_vocab = 0;
    for (size_t i = 0; i < plan->n_tensors; i++)
        if (!strcmp(plan->tensors[i].name, "model.embed_tokens.weight"))
            n_vocab = (size_t)plan->tensors[i].shape[0];
    mg_gguf_vocab v = {0};
    // Its warning (no tokenizer.json, unknown pre-tokenizer) is the export's to give.
    mg_status st = mg_gguf_vocab_load(mg_model_path(tok), arch, n_vocab, c->json, &v, err);
    mg_gguf_vocab_free(&v);
    if (st) mg_error_prefix(err, "merge --gguf: nothing was merged: ");
    return st;
}

mg_status mg_merge_gguf_check(const mg_merge_gguf *g, const mg_plan *plan, const char *out_dir,
                              bool force, bool writes, mg_error *err) {
    if (!g->path) {
        if (g->outtype_given)
            return mg_error_set(err, MG_ERR_USAGE,
                                "merge: --outtype is the GGUF storage type "
                                "and needs --gguf OUT.gguf");
        return MG_OK;
    }
    // The architecture: the merged config.json is the donor's.
    const mg_model_config *c = mg_model_config_of(plan->models[plan->donor]);
    if (!mg_gguf_arch_for(c))
        return mg_error_set(err, MG_ERR_UNSUPPORTED,
                            "merge --gguf: architecture '%s' cannot be written as GGUF by "
                            "mergeguard (supported: LlamaForCausalLM, MistralForCausalLM, "
                            "Qwen2ForCausalLM, Qwen3ForCausalLM); nothing was merged",
                            c->architecture[0] ? c->architecture : "(none)");
    mg_status st = check_tokenizer(plan, mg_gguf_arch_for(c), err);
    if (st || !writes) return st;
    char *gguf = trimmed(g->path), *out = trimmed(out_dir);
    char *slash = strrchr(gguf, '/');
    char *parent =
        slash ? mg_strndup(gguf, slash == gguf ? 1 : (size_t)(slash - gguf)) : mg_strdup(".");
    if (!strcmp(gguf, out))
        st = mg_error_set(err, MG_ERR_USAGE, "merge: --gguf %s is OUT_DIR itself", g->path);
    else if (mg_path_is_dir(gguf))
        st = mg_error_set(err, MG_ERR_INVALID, "merge --gguf: %s is a directory", g->path);
    else if (mg_path_exists(gguf) && !force)
        st = mg_error_set(err, MG_ERR_EXISTS,
                          "%s already exists (use --force to replace it); nothing was merged",
                          g->path);
    else if (!mg_path_is_dir(parent) && strcmp(parent, out))
        st = mg_error_set(err, MG_ERR_NOT_FOUND,
                          "merge --gguf: folder %s of %s does not exist; nothing was merged",
                          parent, g->path);
    free(parent);
    free(gguf);
    free(out);
    return st;
}

// export-gguf's default when --outtype is not given.
static mg_gguf_outtype outtype_of(const mg_merge_gguf *g) {
    return g->outtype_given ? g->outtype : MG_GGUF_OUT_F16;
}

mg_status mg_merge_gguf_write(mg_merge_gguf *g, const char *out_dir, bool force, mg_error *err) {
    if (!g->path) return MG_OK;
    mg_gguf_export_opts o = {.outtype = outtype_of(g), .force = force};
    mg_gguf_export_info info;
    double t0 = mg_now_seconds();
    mg_status st = mg_gguf_export(out_dir, g->path, &o, &info, err);
    if (st) return mg_error_prefix(err, "%s was written, but not %s: ", out_dir, g->path);
    mg_log_info("wrote %s: %s, %zu tensors (%s), %s vocabulary of %zu tokens, %.1f MB in %.1f s",
                g->path, info.arch, info.n_tensors, mg_gguf_outtype_name(o.outtype), info.tok_model,
                info.n_tokens, (double)info.file_bytes / 1e6, mg_now_seconds() - t0);
    g->file_bytes = info.file_bytes;
    return MG_OK;
}

void mg_merge_gguf_json(const mg_merge_gguf *g, json_t *summary) {
    if (!g->path) return;
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(g->path));
    json_object_set_new(o, "outtype", json_string(mg_gguf_outtype_name(outtype_of(g))));
    json_object_set_new(o, "bytes", json_integer((json_int_t)g->file_bytes));
    json_object_set_new(summary, "gguf", o);
}
