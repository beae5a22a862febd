/* pattern.h - the `pattern` objects of tokenizer.json ({"String": s} or
 * {"Regex": r}) used by Split, Replace and the Replace decoder.
 *
 * Regexes are Oniguruma patterns in HF files; they run here through PCRE2
 * compiled with UTF | UCP (so \s \w \d and \p{..} are Unicode-aware, as in
 * Oniguruma) and JIT-compiled. Subjects must be valid UTF-8: matching passes
 * PCRE2_NO_UTF_CHECK, because re-validating on every call makes a find-all
 * loop quadratic (reference/c-stack.md section 3). Known divergence: PCRE2
 * 10.42 has Unicode 14 tables and counts U+180E as \s.
 * Ownership: mg_pattern is owned by its creator (_free). Thread-safety: a
 * compiled pattern is read-only; each thread passes its own match data. */
#ifndef MG_TEXT_PATTERN_H
#define MG_TEXT_PATTERN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "text/textbuf.h"

typedef struct mg_pattern mg_pattern;
typedef struct pcre2_real_match_data_8 mg_match_data;

/* Parses a pattern object; `what` names it in messages. *out owned. */
mg_status mg_pattern_parse(const json_t *obj, const char *what, mg_pattern **out, mg_error *err);
/* A pattern from a regex string (for built-in splitters). */
mg_status mg_pattern_regex(const char *regex, const char *what, mg_pattern **out, mg_error *err);
void mg_pattern_free(mg_pattern *p);

/* Match data big enough for any pattern; owned, free with mg_match_data_free. */
mg_match_data *mg_match_data_new(void);
void mg_match_data_free(mg_match_data *md);

/* Finds the next match in s[0..n) at or after `from`; true and [*ms, *me) when
 * found. Empty matches are reported; the caller advances past them. */
bool mg_pattern_next(const mg_pattern *p, mg_match_data *md, const char *s, size_t n, size_t from,
                     size_t *ms, size_t *me);

/* Appends s with every match replaced by `content` (HF Replace). */
void mg_pattern_replace(const mg_pattern *p, mg_match_data *md, const char *s, size_t n,
                        const char *content, size_t content_len, mg_textbuf *out);

#endif // MG_TEXT_PATTERN_H
