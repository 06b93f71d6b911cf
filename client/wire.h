/*
 * wire.h - between the public types of ringkv.h and the kv.proto messages
 * (internal to libringkv). Builds request options, copies replies into
 * the caller-owned results of the public API, and defines the result and
 * context layouts. Pure: no I/O.
 *
 * Layout of a struct rkv_get_result (one malloc, one free):
 *
 *     struct rkv_get_result
 *     struct rkv_sibling  siblings[nsiblings]
 *     struct rkv_context  header, then its bytes
 *     value bytes of sibling 0, NUL, value bytes of sibling 1, NUL, ...
 *
 * so a result never dangles into the reply envelope it came from.
 *
 * Threading: plain functions on caller-owned data.
 */
#ifndef RINGKV_CLIENT_WIRE_H
#define RINGKV_CLIENT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "client/ringkv.h"
#include "common/status.h"
#include "proto/kv.pb-c.h"

/* An opaque context of the public API: its length, then its bytes. */
struct rkv_context {
    size_t len;
    char data[];
};

/* Fills ro / wo from o (NULL = defaults) with the node deadline for a call
 * budget of budget_ms. KV_EINVAL for a consistency outside the enum. */
int client_wire_read_options(const struct rkv_request_options *o, uint32_t budget_ms,
                             Ringkv__ReadOptions *ro) KV_MUST_USE;
int client_wire_write_options(const struct rkv_request_options *o, uint32_t budget_ms,
                              Ringkv__WriteOptions *wo) KV_MUST_USE;

/* Fills p (whose options the caller sets) from a public put; the bytes are
 * borrowed from the arguments. KV_EINVAL for an unknown condition. */
int client_wire_put(const void *key, size_t key_len, const void *value, size_t value_len,
                    const struct rkv_put_args *args, Ringkv__Put *p) KV_MUST_USE;

/* Copies a GetReply into a new result. KV_EPROTO when the reply is
 * inconsistent (found without siblings or the reverse, no context). */
int client_wire_get_result(const Ringkv__GetReply *gr, struct rkv_get_result **out) KV_MUST_USE;

/* Copies a StatsReply into one allocation of *n_out entries + strings. */
int client_wire_stats(const Ringkv__StatsReply *sr, struct rkv_stat **out,
                      size_t *n_out) KV_MUST_USE;

static inline ProtobufCBinaryData client_wire_bytes(const void *data, size_t len)
{
    ProtobufCBinaryData b = { len, (uint8_t *)data };
    return b;
}

#endif
