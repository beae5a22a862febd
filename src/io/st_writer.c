/* st_writer.c - the streaming safetensors writer and mg_parse_size (see
 * safetensors.h).
 *
 * Every tensor's shard and offset are fixed when the writer opens, so each
 * shard's header is final from the start and tensor data can arrive in any
 * order, from any thread, with one pwrite per tensor at its own offset. The
 * layout matches what transformers' save_pretrained produces: shards named
 * model-00001-of-00003.safetensors (model.safetensors alone), the header
 * holding {"__metadata__": {"format": "pt"}} and padded with spaces so the
 * data section starts 8-byte aligned, and an index whose metadata.total_size
 * is the sum of tensor bytes and whose weight_map is sorted by name. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/half.h"
#include "base/json.h"
#include "io/safetensors.h"
#include "io/st_stream.h"
#include "io/st_util.h"

typedef struct wtensor {
    char *name;
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_MAX_DIMS];
    uint64_t nbytes;
    size_t shard;
    uint64_t offset; // absolute, in the shard file
    atomic_int written;
    _Atomic uint64_t part_bytes; // bytes arrived through mg_st_writer_write_part
} wtensor;

typedef struct wshard {
    char *fname;
    char *path;
    int fd;
    uint64_t data_bytes;
    uint8_t *head; // header bytes (8-byte length + JSON), kept for streaming
    uint64_t head_len;
} wshard;

struct mg_st_writer {
    char *dir;
    wtensor *t;
    size_t n;
    wshard *s;
    size_t ns;
    mg_st_stream *stream; // streaming mode (mg_st_writer_stream), else NULL
};

/* ---- sizes ---- */

mg_status mg_parse_size(const char *s, uint64_t *out, mg_error *err) {
    // Units as transformers' convert_file_size_to_int: K/M/G/T and KB/MB/GB/TB
    // are powers of 10, KiB/MiB/GiB/TiB powers of 2.
    static const struct {
        const char *unit;
        uint64_t mult;
    } UNITS[] = {
        {"", 1},
        {"B", 1},
        {"K", 1000ull},
        {"KB", 1000ull},
        {"KIB", 1ull << 10},
        {"M", 1000000ull},
        {"MB", 1000000ull},
        {"MIB", 1ull << 20},
        {"G", 1000000000ull},
        {"GB", 1000000000ull},
        {"GIB", 1ull << 30},
        {"T", 1000000000000ull},
        {"TB", 1000000000000ull},
        {"TIB", 1ull << 40},
    };
    const char *p = s ? s : "";
    uint64_t ip = 0;
    long double frac = 0, scale = 1;
    bool digits = false;
    for (; *p >= '0' && *p <= '9'; p++, digits = true)
        if (!mg_size_mul(ip, 10, &ip) || !mg_size_add(ip, (uint64_t)(*p - '0'), &ip)) goto bad;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
            scale /= 10;
            frac += (*p - '0') * scale;
        }
    if (!digits) goto bad;
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++) {
        if (strcasecmp(p, UNITS[i].unit)) continue;
        uint64_t v;
        if (!mg_size_mul(ip, UNITS[i].mult, &v)) goto bad;
        long double f = roundl(frac * (long double)UNITS[i].mult);
        if (!mg_size_add(v, (uint64_t)f, &v)) goto bad;
        *out = v;
        return MG_OK;
    }
bad:
    return mg_error_set(err, MG_ERR_USAGE,
                        "invalid size '%s': expected a number with an optional unit (500M, 2G, "
                        "5GB, 1.5GiB, 1KB)",
                        s ? s : "");
}

/* ---- planning ---- */

static mg_status check_spec(const mg_tensor_spec *sp, size_t i, uint64_t *nbytes, mg_error *err) {
    char q[256];
    const char *name = sp->name ? sp->name : "";
    if (!name[0] || !strcmp(name, "__metadata__"))
        return mg_error_set(err, MG_ERR_INVALID, "tensor #%zu: invalid tensor name '%s'", i,
                            mg_st_quote(name, q, sizeof q));
    if ((unsigned)sp->dtype >= MG_DTYPE_COUNT)
        return mg_error_set(err, MG_ERR_INVALID, "tensor '%s': invalid dtype %d",
                            mg_st_quote(name, q, sizeof q), (int)sp->dtype);
    if (sp->ndim < 0 || sp->ndim > MG_MAX_DIMS)
        return mg_error_set(err, MG_ERR_INVALID, "tensor '%s': %d dimensions (0..%d allowed)",
                            mg_st_quote(name, q, sizeof q), sp->ndim, MG_MAX_DIMS);
    uint64_t numel = 1;
    for (int d = 0; d < sp->ndim; d++) {
        if (sp->shape[d] < 0 || !mg_size_mul(numel, (uint64_t)sp->shape[d], &numel))
            return mg_error_set(err, MG_ERR_INVALID, "tensor '%s': invalid shape",
                                mg_st_quote(name, q, sizeof q));
    }
    if (!mg_size_mul(numel, mg_dtype_size(sp->dtype), nbytes))
        return mg_error_set(err, MG_ERR_INVALID, "tensor '%s': byte size overflows",
                            mg_st_quote(name, q, sizeof q));
    return MG_OK;
}

static int cmp_wname(const void *a, const void *b) {
    return strcmp((*(wtensor *const *)a)->name, (*(wtensor *const *)b)->name);
}

/* Builds and writes the header of shard s; fixes its tensors' offsets. */
static mg_status write_header(mg_st_writer *w, size_t s, mg_error *err) {
    json_t *root = json_object();
    json_t *md = json_object();
    json_object_set_new(md, "format", json_string("pt"));
    json_object_set_new(root, "__metadata__", md);
    uint64_t pos = 0;
    for (size_t i = 0; i < w->n; i++) {
        wtensor *t = &w->t[i];
        if (t->shard != s) continue;
        json_t *e = json_object();
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(e, "dtype", json_string(mg_dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_t *off = json_array();
        json_array_append_new(off, json_integer((json_int_t)pos));
        json_array_append_new(off, json_integer((json_int_t)(pos + t->nbytes)));
        json_object_set_new(e, "data_offsets", off);
        json_object_set_new(root, t->name, e);
        t->offset = pos;
        pos += t->nbytes;
    }
    char *js = mg_json_dump(root, JSON_COMPACT);
    json_decref(root);
    size_t jl = strlen(js);
    size_t hl = (jl + 7) & ~(size_t)7; // pad with spaces: data starts 8-byte aligned
    uint8_t *buf = mg_malloc(8 + hl);
    for (int b = 0; b < 8; b++)
        buf[b] = (uint8_t)((uint64_t)hl >> (8 * b));
    memcpy(buf + 8, js, jl);
    memset(buf + 8 + jl, ' ', hl - jl);
    free(js);
    for (size_t i = 0; i < w->n; i++)
        if (w->t[i].shard == s) w->t[i].offset += 8 + hl;
    wshard *sh = &w->s[s];
    mg_status rc = MG_OK;
    size_t done = 0;
    while (done < 8 + hl) {
        ssize_t k = pwrite(sh->fd, buf + done, 8 + hl - done, (off_t)done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            rc = mg_error_set(err, MG_ERR_IO, "%s: write failed: %s", sh->path, strerror(errno));
            break;
        }
        done += (size_t)k;
    }
    sh->head = buf, sh->head_len = 8 + hl;
    // Size the file now, so concurrent pwrites never extend it and a missing
    // tensor would read as zeros rather than truncate the file.
    if (rc == MG_OK && ftruncate(sh->fd, (off_t)(8 + hl + pos)) != 0)
        rc = mg_error_set(err, MG_ERR_IO, "%s: cannot size file: %s", sh->path, strerror(errno));
    return rc;
}

mg_status mg_st_writer_open(const char *dir, const mg_tensor_spec *specs, size_t n,
                            uint64_t max_shard_bytes, mg_st_writer **out, mg_error *err) {
    *out = NULL;
    mg_st_writer *w = mg_calloc(1, sizeof *w);
    w->dir = mg_strdup(dir);
    w->t = mg_calloc(n ? n : 1, sizeof *w->t);
    mg_status rc = MG_OK;
    uint64_t cur = 0;
    size_t shard = 0;
    for (size_t i = 0; i < n; i++) {
        wtensor *t = &w->t[i];
        rc = check_spec(&specs[i], i, &t->nbytes, err);
        if (rc != MG_OK) goto fail;
        t->name = mg_strdup(specs[i].name);
        w->n = i + 1;
        t->dtype = specs[i].dtype;
        t->ndim = specs[i].ndim;
        memcpy(t->shape, specs[i].shape, sizeof t->shape);
        // Greedy split in the given order; 0 means no limit. A tensor bigger
        // than the limit ends up alone in its shard.
        uint64_t sum;
        if (max_shard_bytes && cur > 0 &&
            (!mg_size_add(cur, t->nbytes, &sum) || sum > max_shard_bytes)) {
            shard++;
            cur = 0;
        }
        t->shard = shard;
        cur += t->nbytes;
    }
    w->n = n;
    // Names must be unique: a safetensors header cannot hold a key twice.
    wtensor **byname = mg_malloc_array(n ? n : 1, sizeof *byname);
    for (size_t i = 0; i < n; i++)
        byname[i] = &w->t[i];
    qsort(byname, n, sizeof *byname, cmp_wname);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(byname[i - 1]->name, byname[i]->name)) {
            char q[256];
            rc = mg_error_set(err, MG_ERR_INVALID, "tensor '%s': declared twice",
                              mg_st_quote(byname[i]->name, q, sizeof q));
            free(byname);
            goto fail;
        }
    free(byname);
    w->ns = shard + 1;
    w->s = mg_calloc(w->ns, sizeof *w->s);
    for (size_t s = 0; s < w->ns; s++)
        w->s[s].fd = -1;
    for (size_t s = 0; s < w->ns; s++) {
        char name[64];
        if (w->ns == 1)
            snprintf(name, sizeof name, "model.safetensors");
        else
            snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, w->ns);
        w->s[s].fname = mg_strdup(name);
        w->s[s].path = mg_path_join(dir, name);
        w->s[s].fd = open(w->s[s].path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->s[s].fd < 0) {
            rc = mg_error_set(err, errno == EEXIST ? MG_ERR_EXISTS : MG_ERR_IO,
                              "%s: cannot create: %s", w->s[s].path, strerror(errno));
            goto fail;
        }
        rc = write_header(w, s, err);
        if (rc != MG_OK) goto fail;
    }
    for (size_t i = 0; i < n; i++)
        w->s[w->t[i].shard].data_bytes += w->t[i].nbytes;
    *out = w;
    return MG_OK;
fail:
    mg_st_writer_free(w);
    return rc;
}

/* ---- writing ---- */

/* Bytes [off, off + n) of tensor t: through the stream, or one pwrite. */
static mg_status put_bytes(mg_st_writer *w, const wtensor *t, uint64_t off, const void *data,
                           uint64_t n, mg_error *err) {
    wshard *sh = &w->s[t->shard];
    if (w->stream) {
        mg_status st = mg_st_stream_write(w->stream, t->shard, t->offset + off, data, n, err);
        if (st) mg_error_prefix(err, "tensor '%s': ", t->name);
        return st;
    }
    const uint8_t *p = data;
    for (uint64_t done = 0; done < n;) {
        size_t chunk = n - done > (1u << 30) ? (1u << 30) : (size_t)(n - done);
        ssize_t k = pwrite(sh->fd, p + done, chunk, (off_t)(t->offset + off + done));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return mg_error_set(err, MG_ERR_IO, "%s: tensor '%s': write failed: %s", sh->path,
                                t->name, k < 0 ? strerror(errno) : "no progress");
        done += (uint64_t)k;
    }
    mg_test_kill_point("safetensors tensor written");
    return MG_OK;
}

mg_status mg_st_writer_stream(mg_st_writer *w, mg_error *err) {
    if (w->stream) return MG_OK;
    for (size_t i = 0; i < w->n; i++)
        if (atomic_load(&w->t[i].written) || atomic_load(&w->t[i].part_bytes))
            return mg_error_set(err, MG_ERR_RUNTIME,
                                "writer: streaming must start before any tensor is written");
    mg_st_stream_shard *sh = mg_calloc(w->ns ? w->ns : 1, sizeof *sh);
    for (size_t s = 0; s < w->ns; s++) {
        sh[s].path = w->s[s].path;
        sh[s].size = w->s[s].head_len + w->s[s].data_bytes;
        sh[s].head = w->s[s].head;
        sh[s].head_len = w->s[s].head_len;
    }
    mg_status st = mg_st_stream_open(sh, w->ns, &w->stream, err);
    free(sh);
    return st;
}

mg_status mg_st_writer_write(mg_st_writer *w, size_t i, const void *data, mg_error *err) {
    if (i >= w->n)
        return mg_error_set(err, MG_ERR_RUNTIME, "writer: tensor index %zu out of range (%zu)", i,
                            w->n);
    wtensor *t = &w->t[i];
    if (atomic_exchange(&t->written, 1) || atomic_load(&t->part_bytes))
        return mg_error_set(err, MG_ERR_RUNTIME, "tensor '%s': written twice", t->name);
    return put_bytes(w, t, 0, data, t->nbytes, err);
}

mg_status mg_st_writer_write_f32(mg_st_writer *w, size_t i, const float *src, mg_error *err) {
    if (i >= w->n)
        return mg_error_set(err, MG_ERR_RUNTIME, "writer: tensor index %zu out of range (%zu)", i,
                            w->n);
    const wtensor *t = &w->t[i];
    size_t numel = (size_t)(t->nbytes / mg_dtype_size(t->dtype));
    if (t->dtype == MG_DTYPE_F32) return mg_st_writer_write(w, i, src, err);
    if (!mg_dtype_is_float(t->dtype))
        return mg_error_set(err, MG_ERR_UNSUPPORTED, "tensor '%s': cannot store floats as %s",
                            t->name, mg_dtype_name(t->dtype));
    void *buf = mg_malloc(t->nbytes);
    if (t->dtype == MG_DTYPE_BF16)
        mg_f32_to_bf16_array(src, buf, numel);
    else if (t->dtype == MG_DTYPE_F16)
        mg_f32_to_f16_array(src, buf, numel);
    else
        for (size_t k = 0; k < numel; k++)
            ((double *)buf)[k] = src[k];
    mg_status rc = mg_st_writer_write(w, i, buf, err);
    free(buf);
    return rc;
}

mg_status mg_st_writer_write_part(mg_st_writer *w, size_t i, uint64_t off, const void *data,
                                  uint64_t nbytes, mg_error *err) {
    if (i >= w->n)
        return mg_error_set(err, MG_ERR_RUNTIME, "writer: tensor index %zu out of range (%zu)", i,
                            w->n);
    wtensor *t = &w->t[i];
    if (atomic_load(&t->written) || off > t->nbytes || nbytes > t->nbytes - off ||
        (nbytes && atomic_load(&t->part_bytes) >= t->nbytes))
        return mg_error_set(err, MG_ERR_RUNTIME,
                            "tensor '%s': part [%" PRIu64 ", +%" PRIu64 ") outside its %" PRIu64
                            " bytes or after the whole tensor arrived",
                            t->name, off, nbytes, t->nbytes);
    mg_status st = put_bytes(w, t, off, data, nbytes, err);
    if (st) return st;
    if (atomic_fetch_add(&t->part_bytes, nbytes) + nbytes > t->nbytes)
        return mg_error_set(err, MG_ERR_RUNTIME, "tensor '%s': parts overlap", t->name);
    return MG_OK;
}

void mg_st_writer_start_writeback(mg_st_writer *w, size_t i) {
#ifdef SYNC_FILE_RANGE_WRITE
    if (w->stream || i >= w->n || !w->t[i].nbytes) return;
    const wtensor *t = &w->t[i];
    (void)sync_file_range(w->s[t->shard].fd, (off_t)t->offset, (off_t)t->nbytes,
                          SYNC_FILE_RANGE_WRITE);
#else
    (void)w, (void)i;
#endif
}

static mg_status write_index(mg_st_writer *w, mg_error *err) {
    uint64_t total = 0;
    wtensor **byname = mg_malloc_array(w->n ? w->n : 1, sizeof *byname);
    for (size_t i = 0; i < w->n; i++) {
        byname[i] = &w->t[i];
        total += w->t[i].nbytes;
    }
    qsort(byname, w->n, sizeof *byname, cmp_wname);
    json_t *root = json_object();
    json_t *md = json_object();
    json_object_set_new(md, "total_size", json_integer((json_int_t)total));
    json_object_set_new(root, "metadata", md);
    json_t *wm = json_object();
    for (size_t i = 0; i < w->n; i++)
        json_object_set_new(wm, byname[i]->name, json_string(w->s[byname[i]->shard].fname));
    json_object_set_new(root, "weight_map", wm);
    free(byname);
    char *path = mg_path_join(w->dir, "model.safetensors.index.json");
    mg_status rc = mg_json_write_file(path, root, true, err);
    free(path);
    json_decref(root);
    return rc;
}

mg_status mg_st_writer_finish(mg_st_writer *w, mg_error *err) {
    mg_status rc = MG_OK;
    for (size_t i = 0; i < w->n && rc == MG_OK; i++)
        if (!atomic_load(&w->t[i].written) && atomic_load(&w->t[i].part_bytes) != w->t[i].nbytes)
            rc = mg_error_set(err, MG_ERR_RUNTIME, "tensor '%s': never written (or only in part)",
                              w->t[i].name);
    if (rc == MG_OK && w->stream) {
        // Every byte has arrived: wait for the ring to reach the disk.
        rc = mg_st_stream_finish(w->stream, err);
        w->stream = NULL;
    }
    for (size_t s = 0; s < w->ns && rc == MG_OK; s++) {
        if (fsync(w->s[s].fd) != 0)
            rc =
                mg_error_set(err, MG_ERR_IO, "%s: fsync failed: %s", w->s[s].path, strerror(errno));
        if (close(w->s[s].fd) != 0 && rc == MG_OK)
            rc =
                mg_error_set(err, MG_ERR_IO, "%s: close failed: %s", w->s[s].path, strerror(errno));
        w->s[s].fd = -1;
    }
    if (rc == MG_OK && w->ns > 1) rc = write_index(w, err);
    mg_st_writer_free(w);
    return rc;
}

void mg_st_writer_free(mg_st_writer *w) {
    if (!w) return;
    mg_st_stream_free(w->stream);
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    for (size_t s = 0; s < w->ns; s++) {
        if (w->s[s].fd >= 0) close(w->s[s].fd);
        free(w->s[s].fname);
        free(w->s[s].path);
        free(w->s[s].head);
    }
    free(w->t);
    free(w->s);
    free(w->dir);
    free(w);
}

size_t mg_st_writer_shard_count(const mg_st_writer *w) {
    return w->ns;
}

const char *mg_st_writer_shard_name(const mg_st_writer *w, size_t tensor) {
    return tensor < w->n ? w->s[w->t[tensor].shard].fname : NULL;
}
