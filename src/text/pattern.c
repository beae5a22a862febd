/* pattern.c - see pattern.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/pattern.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "text/utf8.h"

struct mg_pattern {
    char *literal; // String pattern (NULL for a regex)
    size_t literal_len;
    pcre2_code *re;
};

mg_status mg_pattern_regex(const char *regex, const char *what, mg_pattern **out, mg_error *err) {
    *out = NULL;
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                                   &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return mg_error_set(err, MG_ERR_UNSUPPORTED, "%s: regex /%s/ rejected at offset %zu: %s",
                            what, regex, (size_t)eo, (const char *)msg);
    }
    // JIT is an optimization: if the platform lacks it the interpreter runs.
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    mg_pattern *p = (mg_pattern *)mg_calloc(1, sizeof *p);
    p->re = re;
    *out = p;
    return MG_OK;
}

mg_status mg_pattern_parse(const json_t *obj, const char *what, mg_pattern **out, mg_error *err) {
    *out = NULL;
    json_t *s = json_is_object(obj) ? json_object_get(obj, "String") : NULL;
    json_t *r = json_is_object(obj) ? json_object_get(obj, "Regex") : NULL;
    if (json_is_string(s)) {
        mg_pattern *p = (mg_pattern *)mg_calloc(1, sizeof *p);
        p->literal_len = json_string_length(s);
        p->literal = mg_strndup(json_string_value(s), p->literal_len);
        if (mg_utf8_valid_prefix(p->literal, p->literal_len) != p->literal_len) {
            mg_pattern_free(p);
            return mg_error_set(err, MG_ERR_INVALID, "%s: pattern string is not valid UTF-8",
                                what);
        }
        *out = p;
        return MG_OK;
    }
    if (json_is_string(r)) return mg_pattern_regex(json_string_value(r), what, out, err);
    return mg_error_set(err, MG_ERR_INVALID,
                        "%s: expected a pattern object {\"String\": ...} or {\"Regex\": ...}",
                        what);
}

void mg_pattern_free(mg_pattern *p) {
    if (!p) return;
    free(p->literal);
    pcre2_code_free(p->re);
    free(p);
}

mg_match_data *mg_match_data_new(void) {
    pcre2_match_data *md = pcre2_match_data_create(16, NULL);
    if (!md) abort(); // OOM
    return md;
}

void mg_match_data_free(mg_match_data *md) {
    pcre2_match_data_free(md);
}

bool mg_pattern_next(const mg_pattern *p, mg_match_data *md, const char *s, size_t n, size_t from,
                     size_t *ms, size_t *me) {
    if (from > n) return false;
    if (p->literal) {
        // Rust's str pattern with an empty needle never splits: report no match.
        if (p->literal_len == 0) return false;
        const char *hit = (const char *)memmem(s + from, n - from, p->literal, p->literal_len);
        if (!hit) return false;
        *ms = (size_t)(hit - s);
        *me = *ms + p->literal_len;
        return true;
    }
    int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc < 0) return false; // PCRE2_ERROR_NOMATCH or a resource limit: stop splitting
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return true;
}

void mg_pattern_replace(const mg_pattern *p, mg_match_data *md, const char *s, size_t n,
                        const char *content, size_t content_len, mg_textbuf *out) {
    mg_match_data *own = NULL;
    if (!md && p->re) md = own = mg_match_data_new();
    size_t pos = 0, from = 0, ms, me;
    while (from <= n && mg_pattern_next(p, md, s, n, from, &ms, &me)) {
        mg_textbuf_append(out, s + pos, ms - pos);
        mg_textbuf_append(out, content, content_len);
        pos = me;
        if (me == ms) {
            // Empty match: copy one character and move on.
            if (ms >= n) break;
            size_t l = mg_utf8_len((uint8_t)s[ms]);
            mg_textbuf_append(out, s + ms, l);
            pos = ms + l;
            from = pos;
        } else {
            from = me;
        }
    }
    if (pos < n) mg_textbuf_append(out, s + pos, n - pos);
    if (own) mg_match_data_free(own);
}
