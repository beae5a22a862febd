/* st_util.c - see st_util.h. */
#include "io/st_util.h"

#include <stdio.h>
#include <string.h>

const char *mg_st_quote(const char *s, char *buf, size_t cap) {
    // Names come from untrusted files: keep messages on one line and short.
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < cap; p++) {
        if (o >= 200) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (*p < 0x20 || *p == 0x7f) {
            snprintf(buf + o, cap - o, "\\x%02x", *p);
            o += 4;
        } else {
            buf[o++] = (char)*p;
        }
    }
    buf[o] = '\0';
    return buf;
}

bool mg_utf8_valid(const uint8_t *s, size_t n, size_t *bad_at) {
    // Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, max U+10FFFF.
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07;
        } else {
            goto bad;
        }
        if (n - i < len) goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += len;
    }
    return true;
bad:
    if (bad_at) *bad_at = i;
    return false;
}

const char *mg_pickle_kind(const uint8_t *p, uint64_t n) {
    // torch.save writes a zip archive (PyTorch >= 1.6) or a raw pickle stream
    // whose first opcode is PROTO (0x80) followed by the protocol number.
    if (n >= 4 && p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4)
        return "a zip archive (torch.save format, holding a pickle)";
    if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5) return "a Python pickle";
    return NULL;
}

mg_status mg_pickle_refuse(const char *path, const char *what, mg_error *err) {
    return mg_error_set(err, MG_ERR_UNSUPPORTED,
                        "%s: refusing %s: loading pickled checkpoints executes arbitrary code; "
                        "convert it to safetensors in Python (model.save_pretrained(dir, "
                        "safe_serialization=True), or safetensors.torch.save_file(state_dict, "
                        "'model.safetensors')) and pass that instead",
                        path, what);
}
