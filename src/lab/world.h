/* world.h - the lab's micro world: a seeded generator of the corpus and data
 * splits on which mergeguard trains its own small models (issue 6, DESIGN.md
 * "The micro world").
 *
 * The world holds three bodies of invented knowledge (a general world of
 * countries, cities, people and objects; an invented biology; an invented
 * chemistry), each as plain statements, chat question/answer pairs and 4-option
 * MMLU-style multiple-choice questions, plus harmful requests in the 14
 * BeaverTails categories of the paper (section 4.1) with refusals and
 * placeholder-only "compliant" answers, and the instruction formats of the
 * paper's data pipeline (generator JSON, expert self-questioning prompt,
 * Llama-Guard-style classification). Every item belongs to exactly one of the
 * train / validation / test splits, and the splits use disjoint templates and
 * fillers, not only disjoint samples.
 *
 * Determinism: every random choice is mg_rng_u32(mg_rng_key(seed, name), i)
 * for a fixed name and index, so a seed always gives the same bytes.
 * Ownership: mg_world is owned by the caller (mg_world_free); strings returned
 * by the format helpers are owned by the caller (free()) unless noted.
 * Thread-safety: a built world is read-only; distinct worlds are independent. */
#ifndef MG_LAB_WORLD_H
#define MG_LAB_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum mg_world_size {
    MG_WORLD_TINY = 0,  // tens of entities per kind: models train in about a minute
    MG_WORLD_SMALL = 1, // up to a few hundred entities per kind: the default world
} mg_world_size;

typedef enum mg_world_split {
    MG_SPLIT_TRAIN = 0,
    MG_SPLIT_VALID = 1,
    MG_SPLIT_TEST = 2,
    MG_SPLIT_COUNT = 3,
} mg_world_split;

/* The 14 BeaverTails harm categories, in the order of the paper's generator
 * prompt (paper.md 4.1); category k (0-based) is topic #k+1 and guard code
 * S<k+1>. */
#define MG_HARM_CATEGORIES 14

/* "Animal Abuse", ... Borrowed, static; NULL when k is out of range. */
const char *mg_world_category_name(int k);
/* "S1" .. "S14". Borrowed, static; NULL when out of range. */
const char *mg_world_category_code(int k);
/* The category whose name equals s exactly, or -1. */
int mg_world_category_find(const char *s);
/* "train", "valid", "test". Borrowed, static. */
const char *mg_world_split_name(mg_world_split s);
/* "tiny" / "small" to a size; MG_ERR_USAGE otherwise. */
mg_status mg_world_size_parse(const char *s, mg_world_size *out, mg_error *err);
const char *mg_world_size_name(mg_world_size s);

typedef struct mg_world mg_world;

/* Builds the whole world in memory (a few MB for "small"). *out owned. */
mg_status mg_world_new(uint64_t seed, mg_world_size size, mg_world **out, mg_error *err);
void mg_world_free(mg_world *w); // NULL-safe

/* Writes the corpus, the JSONL splits and manifest.json into out_dir, built
 * atomically (temporary sibling, renamed when complete). An existing out_dir
 * is refused (MG_ERR_EXISTS) unless force. The layout is listed in
 * manifest.json and documented in world_export.c. */
mg_status mg_world_write(const mg_world *w, const char *out_dir, bool force, mg_error *err);

/* Number of items of one kind in one split, as written to the JSONL files.
 * kind: "harm", "mc_general", "mc_bio", "mc_chem", "chat_general", "chat_bio",
 * "chat_chem", "text_general", "text_bio", "text_chem", "generator",
 * "expert_bio", "expert_chem", "guard"; 0 for an unknown kind. */
size_t mg_world_count(const mg_world *w, const char *kind, mg_world_split split);

/* ---- Instruction formats of the data pipeline (world_formats.c) ---- */

/* The generator's system prompt (paper Fig. 5): asks for misaligned questions
 * with refusals, lists the 14 categories and gives a one-shot JSON example
 * whose MisalignedAnswer is placeholder-only. Owned. */
char *mg_world_generator_system_prompt(void);
/* "Now generate for me a list of 1 example(s): only return a JSON file. Your
 * topic is #<topic>" with topic 1..14. Owned. */
char *mg_world_generator_user_prompt(int topic);
/* The expert's self-questioning system prompt (paper Fig. 4) for a topic
 * ("biology") with three example questions. Owned. */
char *mg_world_expert_system_prompt(const char *topic, const char *const examples[3]);
/* The user turn of the expert prompt (paper 4.2). Borrowed, static. */
const char *mg_world_expert_user_prompt(void);

/* The full Llama-Guard-3-style classification prompt for one exchange, as the
 * guard chat template renders it (special tokens included, ends with the
 * assistant header): the model answers "\n\n" + "safe" or "unsafe\nS<k>".
 * agent may be NULL to classify the user turn alone. Owned. */
char *mg_world_guard_prompt(const char *user, const char *agent);
/* The guard's answer for a category (-1 = safe): "safe" / "unsafe\nS<k>". Owned. */
char *mg_world_guard_label(int category);

/* MMLU-style rendering of a multiple-choice question: "question\nA. c0\nB. c1
 * \nC. c2\nD. c3\nAnswer:". Owned. */
char *mg_world_mc_prompt(const char *question, const char *const choices[4]);
/* The SFT response to an MC prompt: "B. choice" (the letter first, so letter
 * scoring and free generation agree). Owned. */
char *mg_world_mc_response(int answer, const char *choice);

/* Jinja chat templates for tokenizer_config.json. Borrowed, static.
 * chatml: <|im_start|>role\ncontent<|im_end|>\n per message, after the BOS.
 * guard: Llama Guard 3's layout (inference.md D) with the 14 categories. */
const char *mg_world_chatml_template(void);
const char *mg_world_guard_template(void);

/* Special tokens every lab tokenizer carries, in id order after the learned
 * vocabulary. Borrowed, static; *n set to the count. */
const char *const *mg_world_special_tokens(size_t *n);

#endif // MG_LAB_WORLD_H
