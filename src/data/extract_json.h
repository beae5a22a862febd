/* extract_json.h - questions out of a model's JSON-ish reply (paper 4.1/4.2).
 *
 * The paper's generators are asked for a JSON list of {"Question", ...}
 * objects, and real replies are messy: prose before and after, Markdown code
 * fences, Python literals (the released code parsed the expert replies with
 * ast.literal_eval, hence single quotes and the trailing comma of the prompt's
 * own examples), trailing commas, unescaped inner quotes, raw newlines inside
 * strings, and lists cut short by max_new_tokens. The extractor scans the
 * reply for each '[' or '{' in turn and reads a value from there with a
 * lenient parser:
 * - strings in "double", 'single' or “typographic” quotes; a quote closes a
 *   string only when what follows it (after blanks) is , : } ] or the end, so
 *   "can't" and `"a "b" c"` stay whole; unknown escapes keep their character;
 * - bare keys ({Question: ...}), missing or trailing commas, True/False/None;
 * - at the end of the text (a truncated reply) or at a syntax error, the
 *   members complete so far are kept, so a list cut inside its second object,
 *   or inside the Refusal after a complete Question, still gives questions.
 * Every object with a "Question" key (any case) holding a string gives one
 * item, walking nested arrays and objects; the item's "Reasoning" (the
 * generator's category, paper Fig. 5) is kept when it is a string. Strings are
 * trimmed. A reply without a question yields a failure reason, never an error.
 * Ownership: mg_extracted owns its strings (mg_extracted_free).
 * Thread-safety: reentrant, no shared state. */
#ifndef MG_DATA_EXTRACT_JSON_H
#define MG_DATA_EXTRACT_JSON_H

#include <stddef.h>

typedef enum mg_extract_reason {
    MG_EXTRACT_OK = 0,
    MG_EXTRACT_EMPTY,          // blank reply
    MG_EXTRACT_NO_JSON,        // no '[' or '{' at all
    MG_EXTRACT_SYNTAX,         // JSON-like text that reads as no value with a question
    MG_EXTRACT_TRUNCATED,      // the text ends before the first question is complete
    MG_EXTRACT_NO_QUESTION,    // readable JSON without a "Question" string
    MG_EXTRACT_EMPTY_QUESTION, // "Question" holds only blanks
    MG_EXTRACT_REASONS         // count
} mg_extract_reason;

typedef struct mg_extract_item {
    char *question;  // trimmed, non-empty; owned
    char *reasoning; // the object's "Reasoning" string, trimmed; NULL if none; owned
} mg_extract_item;

typedef struct mg_extracted {
    mg_extract_item *items; // [n] in reply order; owned
    size_t n;
} mg_extracted;

/* Extracts the questions of reply (NUL-terminated UTF-8). Returns MG_EXTRACT_OK
 * with out->n >= 1, or a failure reason with out->n == 0. Never fails
 * otherwise. out must be zeroed or freed before. */
mg_extract_reason mg_extract_questions(const char *reply, mg_extracted *out);
void mg_extracted_free(mg_extracted *x); // NULL-safe, leaves x empty

/* "ok", "empty", "no_json", "syntax", "truncated", "no_question",
 * "empty_question". Borrowed, static. */
const char *mg_extract_reason_name(mg_extract_reason r);

/* The dedup key of a question: Unicode case folding (utf8proc), runs of
 * whitespace collapsed to one space, leading and trailing whitespace removed.
 * Owned. */
char *mg_extract_normalize(const char *s);

#endif // MG_DATA_EXTRACT_JSON_H
