/* st_stream.h - io-internal: the direct-I/O output ring behind the
 * safetensors writer's streaming mode (mg_st_writer_stream, safetensors.h).
 *
 * Output bytes are copied into a ring of RING bytes at their file offsets
 * (mod RING); a flusher thread writes each complete SEG-byte segment, in file
 * order, with O_DIRECT (no page-cache copy, no dirty pages left for the final
 * fsync), while the producers go on computing. Shards are streamed one after
 * another, each starting with its header bytes. A write that lies beyond the
 * ring's window waits until the segments before it are on disk, so producers
 * must deliver the bytes roughly in file order (each shard complete before
 * the next one starts; within a shard, any order inside the window). Where the
 * file system refuses O_DIRECT, mg_st_stream_open returns no stream and the
 * writer keeps ordinary writes; a segment refused later is written normally.
 * Thread-safety: mg_st_stream_write may be called from several threads. */
#ifndef MG_IO_ST_STREAM_H
#define MG_IO_ST_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mg_st_stream mg_st_stream;

typedef struct mg_st_stream_shard {
    const char *path;    // existing file, already holding its header
    uint64_t size;       // final file size
    const uint8_t *head; // the header bytes [0, head_len), copied
    uint64_t head_len;
} mg_st_stream_shard;

/* *out owned (finish or free); NULL (and MG_OK) when direct I/O is not
 * available for these files or a header is too big for the ring. */
mg_status mg_st_stream_open(const mg_st_stream_shard *shards, size_t n, mg_st_stream **out,
                            mg_error *err);
/* Bytes [off, off + n) of shard `shard`. Blocks while they lie beyond the
 * window. */
mg_status mg_st_stream_write(mg_st_stream *s, size_t shard, uint64_t off, const void *data,
                             uint64_t n, mg_error *err);
/* Waits until every shard is on disk, sets exact sizes, fsyncs; frees s. */
mg_status mg_st_stream_finish(mg_st_stream *s, mg_error *err);
/* Stops the flusher without waiting for missing bytes (NULL-safe). */
void mg_st_stream_free(mg_st_stream *s);

#endif // MG_IO_ST_STREAM_H
