/* jsonl.c - fuzz target: a JSON Lines file through mg_jsonl_load and
 * mg_jsonl_load_tail, then the typed getters on every record (the fields the
 * eval datasets read: prompt, id, choices, answer). */
#include "data/jsonl.h"
#include "fuzz_util.h"

int mg_fuzz_jsonl(const uint8_t *data, size_t size);

static void jsonl_fields(const mg_jsonl *j) {
    mg_error err = {0};
    for (size_t i = 0; i < j->n && i < 64; i++) {
        const char *s = NULL;
        long long v = 0;
        json_t *arr = NULL;
        mg_status st = mg_jsonl_str(j, i, "prompt", true, &s, &err);
        mg_fuzz_check_err("jsonl", st, &err);
        st = mg_jsonl_str(j, i, "id", false, &s, &err);
        mg_fuzz_check_err("jsonl", st, &err);
        st = mg_jsonl_int(j, i, "answer", false, &v, &err);
        mg_fuzz_check_err("jsonl", st, &err);
        st = mg_jsonl_str_array(j, i, "choices", 2, &arr, &err);
        mg_fuzz_check_err("jsonl", st, &err);
        (void)mg_jsonl_error(j, i, &err, MG_ERR_INVALID, "field '%s' is bad", "x");
        mg_fuzz_check_err("jsonl", MG_ERR_INVALID, &err);
    }
}

int mg_fuzz_jsonl(const uint8_t *data, size_t size) {
    char path[1024];
    mg_fuzz_write("jsonl", "data.jsonl", data, size, path, sizeof path);
    mg_error err = {0};
    mg_jsonl j = {0};
    mg_status st = mg_jsonl_load(path, &j, &err);
    mg_fuzz_check_err("jsonl", st, &err);
    if (st == MG_OK) jsonl_fields(&j);
    mg_jsonl_free(&j);
    st = mg_jsonl_load_tail(path, &j, &err);
    mg_fuzz_check_err("jsonl", st, &err);
    if (st == MG_OK) jsonl_fields(&j);
    mg_jsonl_free(&j);
    return 0;
}
