/* postprocessor.h - the `post_processor` of tokenizer.json for single
 * sequences: TemplateProcessing (its "single" template), ByteLevel (no effect
 * on ids), BertProcessing / RobertaProcessing ([CLS] A [SEP]) and Sequence.
 *
 * The result is the ids added before and after the text when the caller asks
 * for special tokens (HF add_special_tokens=True); with add_special false HF
 * adds nothing, so neither does the tokenizer.
 * Ownership: owned by its creator. Thread-safety: read-only after parsing. */
#ifndef MG_TEXT_POSTPROCESSOR_H
#define MG_TEXT_POSTPROCESSOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_postproc {
    int32_t *prefix, *suffix; // owned
    size_t n_prefix, n_suffix;
} mg_postproc;

/* Fills pp (zeroed first) from the post_processor object (null: nothing). */
mg_status mg_postproc_parse(const json_t *obj, mg_postproc *pp, mg_error *err);
void mg_postproc_free(mg_postproc *pp);

#endif // MG_TEXT_POSTPROCESSOR_H
