/*
 * wire.h - strict readers and writers shared by gossip's binary formats
 * (ring.c, codec.c). Internal to gossip/.
 *
 * A wire_reader walks [p, end) and latches `bad` on the first problem:
 * truncation, a varint that is not in its shortest form (so one value
 * has exactly one encoding and every byte is checked), a string over its
 * limit or containing a NUL byte. Readers return zero values once bad,
 * so a decoder can read a whole structure and test `bad` once per field
 * group. Writers write into memory the caller sized beforehand.
 */
#ifndef RINGKV_GOSSIP_WIRE_H
#define RINGKV_GOSSIP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/coding.h"
#include "common/slice.h"

struct wire_reader {
    const char *p;
    const char *end;
    bool bad;
};

static inline uint64_t wire_varint(struct wire_reader *r)
{
    uint64_t v = 0;
    if (r->bad)
        return 0;
    const char *q = kv_get_varint64(r->p, r->end, &v);
    if (!q || q - r->p != kv_varint_len(v)) {
        r->bad = true;
        return 0;
    }
    r->p = q;
    return v;
}

/* A varint that must be <= max. */
static inline uint64_t wire_varint_max(struct wire_reader *r, uint64_t max)
{
    uint64_t v = wire_varint(r);
    if (v > max) {
        r->bad = true;
        return 0;
    }
    return v;
}

static inline uint8_t wire_u8(struct wire_reader *r)
{
    if (r->bad || r->p >= r->end) {
        r->bad = true;
        return 0;
    }
    return (uint8_t)*r->p++;
}

/* n raw bytes, borrowed from the input. */
static inline const char *wire_bytes(struct wire_reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const char *b = r->p;
    r->p += n;
    return b;
}

/* varint length (<= max) then that many bytes, none of them NUL. */
static inline struct kv_slice wire_str(struct wire_reader *r, size_t max)
{
    struct kv_slice s = { "", 0 };
    size_t n = (size_t)wire_varint_max(r, max);
    const char *b = wire_bytes(r, n);
    if (!b)
        return s;
    if (n && memchr(b, 0, n)) {
        r->bad = true;
        return s;
    }
    s.data = b;
    s.len = n;
    return s;
}

/* varint length (<= max) then that many bytes of binary data. */
static inline struct kv_slice wire_blob(struct wire_reader *r, size_t max)
{
    struct kv_slice s = { "", 0 };
    size_t n = (size_t)wire_varint_max(r, max);
    const char *b = wire_bytes(r, n);
    if (b) {
        s.data = b;
        s.len = n;
    }
    return s;
}

/* Bytes wire_put_str needs for s (also for blobs: same layout). */
static inline size_t wire_str_bytes(struct kv_slice s) { return (size_t)kv_varint_len(s.len) + s.len; }

static inline char *wire_put_str(char *p, struct kv_slice s)
{
    p = kv_put_varint64(p, s.len);
    if (s.len)
        memcpy(p, s.data, s.len);
    return p + s.len;
}

#endif
