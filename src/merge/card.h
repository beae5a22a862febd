/* card.h - the output folder's metadata: config.json derived from the donor,
 * the README.md model card, tokenizer / generation files and the verbatim
 * config (mergeguard_config.yml). Mirrors mergekit merge.py and card.py:
 * torch_dtype is the output dtype, the layer count follows the slices,
 * tie_word_embeddings is cleared when an untied lm_head is written, and the
 * card's YAML front matter lists the inputs under base_model with
 * tags [merge, mergeguard] and library_name transformers.
 * Thread-safety: none needed (called once per merge). */
#ifndef MG_MERGE_CARD_H
#define MG_MERGE_CARD_H

#include "base/error.h"
#include "merge/plan.h"

/* Writes config.json, README.md, mergeguard_config.yml and the copied
 * tokenizer / generation files into dir (an existing, empty temporary folder). */
mg_status mg_merge_write_metadata(const mg_plan *p, const char *dir, const char *title,
                                  mg_error *err);

#endif // MG_MERGE_CARD_H
