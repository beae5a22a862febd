/* libfuzzer_main.c - the libFuzzer entry point of one target, compiled with
 * -DMG_FUZZ_TARGET=<name> next to tests/fuzz/<name>.c (tests/fuzz/CMakeLists.txt).
 * The replay test (test_fuzz_replay.c) calls the same mg_fuzz_<name>. */
#include <stddef.h>
#include <stdint.h>

#define MG_FUZZ_CAT2(a, b) a##b
#define MG_FUZZ_CAT(a, b) MG_FUZZ_CAT2(a, b)
#define MG_FUZZ_FN MG_FUZZ_CAT(mg_fuzz_, MG_FUZZ_TARGET)

int MG_FUZZ_FN(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return MG_FUZZ_FN(data, size);
}
