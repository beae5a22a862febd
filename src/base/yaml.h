/* yaml.h - a small read-only YAML document tree on top of libfyaml, with
 * scalars typed leniently the way PyYAML's safe_load does.
 *
 * mergekit configs are written for PyYAML (YAML 1.1): plain `yes`/`no`/`on`/
 * `off`/`true`/`false` are booleans, `~`/`null`/empty are null, and numbers
 * are numbers. We are slightly more lenient than PyYAML for floats: `1e-3`
 * (which PyYAML leaves a string, and pydantic later coerces to a float) is a
 * number here, since the config would mean that anyway. Quoted scalars are
 * always strings. Anchors, aliases and `<<` merge keys are resolved by
 * libfyaml. Every node keeps its 1-based source line for error messages.
 *
 * Bounded: files are capped at 16 MiB, nesting at 64 levels (libfyaml's
 * limit), and the tree after alias expansion at MG_YAML_MAX_NODES nodes and
 * MG_YAML_MAX_DEPTH levels (a "billion laughs" document is refused before
 * anything is expanded).
 *
 * Ownership: mg_yaml_load_* return an owned tree freed with mg_yaml_free; all
 * pointers inside are borrowed from it. Thread-safety: a loaded tree is
 * read-only and may be shared. */
#ifndef MG_BASE_YAML_H
#define MG_BASE_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define MG_YAML_MAX_NODES 1000000 // nodes of a document once aliases are expanded
#define MG_YAML_MAX_DEPTH 128     // nesting levels once aliases are expanded

typedef enum mg_yaml_kind {
    MG_YAML_NULL,
    MG_YAML_BOOL,
    MG_YAML_INT,
    MG_YAML_FLOAT,
    MG_YAML_STR,
    MG_YAML_SEQ,
    MG_YAML_MAP,
} mg_yaml_kind;

typedef struct mg_yaml mg_yaml;
struct mg_yaml {
    mg_yaml_kind kind;
    int line;   // 1-based source line (0 when unknown)
    char *text; // scalar source text (all scalar kinds), NULL for collections
    double num; // INT and FLOAT (INT also exact in `ival`), BOOL as 0/1
    long long ival;
    bool b;
    size_t n;        // items (SEQ) or pairs (MAP)
    mg_yaml **items; // SEQ items, MAP values
    char **keys;     // MAP keys (scalar keys only; others are rejected)
    int *key_lines;  // MAP key lines
};

/* Parses a file / buffer. Errors are MG_ERR_INVALID "PATH:LINE:COL: message"
 * (a missing file is MG_ERR_NOT_FOUND). An empty document gives a NULL node. */
mg_status mg_yaml_load_file(const char *path, mg_yaml **out, mg_error *err);
mg_status mg_yaml_load_buffer(const char *buf, size_t len, const char *what, mg_yaml **out,
                              mg_error *err);
void mg_yaml_free(mg_yaml *y); // NULL-safe

/* Map lookup; NULL if absent or y is not a map. */
const mg_yaml *mg_yaml_get(const mg_yaml *y, const char *key);
/* True for INT, FLOAT and BOOL (PyYAML bools are ints, and mergekit's
 * gradients accept them as numbers). */
bool mg_yaml_is_number(const mg_yaml *y);
bool mg_yaml_is_scalar(const mg_yaml *y);
/* "a mapping", "a list", "a string", ... for messages. Borrowed, static. */
const char *mg_yaml_kind_name(mg_yaml_kind k);

#endif // MG_BASE_YAML_H
