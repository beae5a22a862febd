/* dtype.c - see dtype.h. */
#include "io/dtype.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    size_t size;
    const char *torch;
} DTYPES[MG_DTYPE_COUNT] = {
    [MG_DTYPE_F64] = {"F64", 8, "float64"},      [MG_DTYPE_F32] = {"F32", 4, "float32"},
    [MG_DTYPE_F16] = {"F16", 2, "float16"},      [MG_DTYPE_BF16] = {"BF16", 2, "bfloat16"},
    [MG_DTYPE_I64] = {"I64", 8, "int64"},        [MG_DTYPE_I32] = {"I32", 4, "int32"},
    [MG_DTYPE_I16] = {"I16", 2, "int16"},        [MG_DTYPE_I8] = {"I8", 1, "int8"},
    [MG_DTYPE_U8] = {"U8", 1, "uint8"},          [MG_DTYPE_BOOL] = {"BOOL", 1, "bool"},
    [MG_DTYPE_F8_E4M3] = {"F8_E4M3", 1, "float8_e4m3fn"},
    [MG_DTYPE_F8_E5M2] = {"F8_E5M2", 1, "float8_e5m2"},
};

size_t mg_dtype_size(mg_dtype dt) {
    return dt < MG_DTYPE_COUNT ? DTYPES[dt].size : 0;
}

const char *mg_dtype_name(mg_dtype dt) {
    return dt < MG_DTYPE_COUNT ? DTYPES[dt].name : "?";
}

const char *mg_dtype_torch_name(mg_dtype dt) {
    return dt < MG_DTYPE_COUNT ? DTYPES[dt].torch : "?";
}

bool mg_dtype_parse(const char *s, mg_dtype *out) {
    for (int i = 0; i < MG_DTYPE_COUNT; i++)
        if (!strcmp(s, DTYPES[i].name)) {
            *out = (mg_dtype)i;
            return true;
        }
    return false;
}

bool mg_dtype_parse_torch(const char *s, mg_dtype *out) {
    static const struct {
        const char *alias;
        mg_dtype dt;
    } ALIASES[] = {
        {"bfloat16", MG_DTYPE_BF16}, {"bf16", MG_DTYPE_BF16},   {"float16", MG_DTYPE_F16},
        {"fp16", MG_DTYPE_F16},      {"f16", MG_DTYPE_F16},     {"half", MG_DTYPE_F16},
        {"float32", MG_DTYPE_F32},   {"fp32", MG_DTYPE_F32},    {"f32", MG_DTYPE_F32},
        {"float", MG_DTYPE_F32},     {"float64", MG_DTYPE_F64}, {"torch.bfloat16", MG_DTYPE_BF16},
        {"torch.float16", MG_DTYPE_F16}, {"torch.float32", MG_DTYPE_F32},
    };
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (!strcasecmp(s, ALIASES[i].alias)) {
            *out = ALIASES[i].dt;
            return true;
        }
    return false;
}

bool mg_dtype_is_float(mg_dtype dt) {
    return dt == MG_DTYPE_F32 || dt == MG_DTYPE_F16 || dt == MG_DTYPE_BF16 || dt == MG_DTYPE_F64;
}
