/* extract_json.c - fuzz target: a model's reply through the lenient JSON
 * question extractor (mg_extract_questions), checking its contract: OK gives
 * at least one trimmed, non-empty question, a failure reason gives none; and
 * mg_extract_normalize (the dedup key) on every question and on the reply,
 * which must be idempotent. */
#include <ctype.h>

#include "data/extract_json.h"
#include "fuzz_util.h"

int mg_fuzz_extract_json(const uint8_t *data, size_t size);

static void extract_json_normalize(const char *s) {
    char *k = mg_extract_normalize(s);
    char *k2 = mg_extract_normalize(k);
    if (strcmp(k, k2) != 0) {
        fprintf(stderr, "extract_json: normalize is not idempotent: '%s' -> '%s'\n", k, k2);
        abort();
    }
    free(k2);
    free(k);
}

int mg_fuzz_extract_json(const uint8_t *data, size_t size) {
    char *reply = malloc(size + 1);
    if (!reply) abort();
    if (size) memcpy(reply, data, size);
    reply[size] = '\0';
    mg_extracted x = {0};
    mg_extract_reason r = mg_extract_questions(reply, &x);
    if (r < MG_EXTRACT_OK || r >= MG_EXTRACT_REASONS || !mg_extract_reason_name(r)) abort();
    if ((r == MG_EXTRACT_OK) != (x.n > 0)) {
        fprintf(stderr, "extract_json: reason %s with %zu items\n", mg_extract_reason_name(r), x.n);
        abort();
    }
    for (size_t i = 0; i < x.n; i++) {
        const char *q = x.items[i].question;
        size_t len = strlen(q);
        if (len == 0 || isspace((unsigned char)q[0]) || isspace((unsigned char)q[len - 1])) {
            fprintf(stderr, "extract_json: question %zu not trimmed: '%s'\n", i, q);
            abort();
        }
        extract_json_normalize(q);
        if (x.items[i].reasoning) extract_json_normalize(x.items[i].reasoning);
    }
    extract_json_normalize(reply);
    mg_extracted_free(&x);
    free(reply);
    return 0;
}
