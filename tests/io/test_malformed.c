/* test_malformed.c - random damage to a valid safetensors file: every
 * mutation is either accepted (and then internally consistent) or refused
 * cleanly (this runs under ASan + UBSan in `make test`). The hand-made
 * malformed corpus lives in tests/bad (test_bad.c runs it through the CLI). */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/rng.h"
#include "io/model_dir.h"
#include "test.h"

static void write_bytes(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(p, 1, n, f);
    fclose(f);
}

/* A small valid file with several dtypes, damaged at random positions. */
static void test_random_damage(void) {
    char dir[] = "/tmp/mg_test_malformed_XXXXXX";
    if (!mkdtemp(dir)) return;
    char *path = mg_path_join(dir, "x.safetensors");
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]},"
                      "\"c\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[28,30]}}";
    size_t hl = strlen(hdr), n = 8 + hl + 30;
    uint8_t *good = mg_calloc(n, 1);
    for (int b = 0; b < 8; b++)
        good[b] = (uint8_t)((uint64_t)hl >> (8 * b));
    memcpy(good + 8, hdr, hl);
    uint8_t *buf = mg_malloc(n);
    mg_error err;
    int accepted = 0, refused = 0;
    // Every truncation, then random byte mutations in the length and header.
    for (size_t cut = 0; cut <= n; cut++) {
        write_bytes(path, good, cut);
        mg_st_file *f = NULL;
        mg_status rc = mg_st_open(path, &f, &err);
        CHECK_EQ_INT(rc == MG_OK, cut == n);
        mg_st_close(f);
    }
    const char *noise = "{}[],:\"0123456789-eE.FIBU\\ \xff\x80";
    for (uint64_t it = 0; it < 3000; it++) {
        memcpy(buf, good, n);
        int k = 1 + (int)(mg_rng_u32(7, it * 4) % 3);
        for (int j = 0; j < k; j++) {
            uint32_t r = mg_rng_u32(7, it * 4 + 1 + (uint64_t)j);
            size_t pos = r % (8 + hl);
            buf[pos] = (uint8_t)noise[(r >> 16) % strlen(noise)];
        }
        write_bytes(path, buf, n);
        mg_st_file *f = NULL;
        mg_status rc = mg_st_open(path, &f, &err);
        if (rc == MG_OK) {
            accepted++;
            // Whatever was accepted must be internally consistent.
            uint64_t end = mg_st_data_start(f);
            for (size_t i = 0; i < mg_st_count(f); i++) {
                const mg_tensor_view *t = mg_st_at(f, i);
                CHECK(t->file_offset == end);
                end += t->nbytes;
                CHECK(mg_st_find(f, t->name) == t);
            }
            CHECK(end == mg_st_file_size(f));
        } else {
            refused++;
            CHECK(rc == MG_ERR_INVALID || rc == MG_ERR_UNSUPPORTED);
            CHECK(strstr(err.msg, path) != NULL);
            CHECK(strchr(err.msg, '\n') == NULL);
        }
        mg_st_close(f);
    }
    CHECK(refused > 1000);
    printf("random damage: %d accepted, %d refused\n", accepted, refused);
    free(buf);
    free(good);
    free(path);
    mg_remove_tree(dir, NULL);
}

int main(void) {
    RUN(test_random_damage);
    return TEST_END();
}
