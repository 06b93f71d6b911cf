/*
 * frame.h - the wire frame of ringkv: a sans-I/O decoder and encoder.
 *
 * Format. A connection carries a sequence of frames, nothing else:
 *
 *     frame  = length body
 *     length = 4 bytes, unsigned, big-endian: number of bytes in body
 *     body   = one serialized ringkv.Envelope (proto/kv.proto), length bytes
 *
 *     RPC_FRAME_HEADER_BYTES = 4
 *     1 <= length <= frame_bytes_max (KV_FRAME_BYTES_MAX_DEFAULT = 20 MiB)
 *
 * A length of 0 is a protocol error (KV_EPROTO): no useful envelope packs to
 * zero bytes. A length over the receiver's maximum is KV_ETOOBIG, decided
 * from the 4 header bytes alone, before any byte of the body is buffered or
 * any memory is allocated, so a peer cannot make a node reserve 4 GiB by
 * sending "ff ff ff ff". Either error is sticky: the decoder refuses all
 * further input and the connection must be closed, since the byte stream
 * can no longer be resynchronised.
 *
 * Worked example: a Get of key "k" with request id 7,
 *   Envelope { request_id: 7, get: Get { key: "k" } }
 *
 *     00 00 00 07     length = 7
 *     08 07           field 1 (request_id), varint:  tag (1 << 3) | 0 = 0x08, value 7
 *     32 03           field 6 (get), length-delimited: tag (6 << 3) | 2 = 0x32, 3 bytes
 *        0a 01 6b        Get field 1 (key), length-delimited: tag 0x0a, 1 byte, 'k'
 *
 * and its 11 bytes on the wire: 00 00 00 07 08 07 32 03 0a 01 6b.
 * (tests/unit/test_frame.c checks this example byte for byte.)
 *
 * Decoder. Feed it bytes as they arrive, in pieces of any size; it returns
 * whole frame bodies one at a time. A body that lies entirely inside the
 * piece just fed is returned in place (no copy); only a body split across
 * pieces is assembled in the decoder's own buffer, which is sized exactly
 * to the announced length. Memory held: at most one frame (<= frame_bytes_max);
 * buffers over RPC_FRAME_KEEP_BYTES_MAX are released after use so that an
 * idle connection holds little.
 *
 * Threading: a decoder belongs to one connection; no locking.
 */
#ifndef RINGKV_RPC_FRAME_H
#define RINGKV_RPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "proto/kv.pb-c.h"

struct evbuffer;

#define RPC_FRAME_HEADER_BYTES 4
/* A reassembly buffer up to this size is kept for the next frame; larger ones are freed. */
#define RPC_FRAME_KEEP_BYTES_MAX (64u * 1024u)

/* Fields are private; the struct is public so that a connection can embed it. */
struct rpc_frame_decoder {
    uint32_t frame_bytes_max;
    int error;                              /* sticky KV_E* once the stream is broken */
    uint32_t header_have;                   /* 0..4 bytes of the length prefix seen */
    char header[RPC_FRAME_HEADER_BYTES];
    uint32_t body_bytes;                    /* announced length (header_have == 4) */
    uint32_t body_have;                     /* bytes assembled in buf */
    char *buf;                              /* reassembly buffer, cap bytes */
    uint32_t cap;
    bool release;                           /* the last frame came from buf: recycle it on next feed */
};

/* Prepares an empty decoder. frame_bytes_max is 1..UINT32_MAX; 0 means the default. */
void rpc_frame_decoder_init(struct rpc_frame_decoder *d, uint32_t frame_bytes_max);
/* Frees the reassembly buffer. The decoder may be initialised again. */
void rpc_frame_decoder_free(struct rpc_frame_decoder *d);

/*
 * Consumes bytes from [data, data + len) up to the end of the first frame
 * that completes. Returns KV_OK with *used = bytes consumed (<= len) and
 * *frame = the body of that frame, or frame->data == NULL if every byte was
 * consumed without completing one. The body points into data or into the
 * decoder, and stays valid until the next call on d. Call again with the
 * rest of the input while *used < len.
 * Errors (sticky, nothing further is consumed): KV_EPROTO for a zero
 * length, KV_ETOOBIG for a length over frame_bytes_max, KV_ENOMEM.
 */
int rpc_frame_decoder_feed(struct rpc_frame_decoder *d, const void *data, size_t len,
                           size_t *used, struct kv_slice *frame) KV_MUST_USE;

/* True when part of a frame has arrived and the rest has not (for the slow-loris timeout). */
bool rpc_frame_decoder_in_frame(const struct rpc_frame_decoder *d);
/* Bytes of heap memory the decoder holds now (0 after init and after a rejected length). */
size_t rpc_frame_decoder_memory_bytes(const struct rpc_frame_decoder *d);

/*
 * Parses a frame body into a newly allocated envelope (*out, free with
 * rpc_envelope_free). KV_EPROTO if the bytes are not a valid Envelope,
 * including a field number of 0 or over 2^29 - 1 anywhere in it, which
 * protobuf-c would otherwise keep as an unknown field (see frame.c). Fields
 * with valid numbers that this build does not know are kept (proto3).
 */
int rpc_envelope_decode(struct kv_slice body, Ringkv__Envelope **out) KV_MUST_USE;
/* Frees an envelope returned by rpc_envelope_decode, with everything it
 * points to (one block, see frame.c: never free a part of it on its own).
 * NULL is allowed. */
void rpc_envelope_free(Ringkv__Envelope *env);

/*
 * Appends one frame holding env to out. KV_ETOOBIG (out unchanged) if the
 * packed envelope is over frame_bytes_max (0 = default), KV_EINVAL if it
 * packs to zero bytes, KV_ENOMEM.
 */
int rpc_frame_encode(const Ringkv__Envelope *env, uint32_t frame_bytes_max,
                     struct kv_buf *out) KV_MUST_USE;
/* The same, appending to a libevent buffer (packed in place, no extra copy). */
int rpc_frame_encode_evbuffer(const Ringkv__Envelope *env, uint32_t frame_bytes_max,
                              struct evbuffer *out) KV_MUST_USE;

#endif
