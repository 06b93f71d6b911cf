/*
 * coding.h - fixed-width and varint integer encodings used by every format.
 *
 * fixed32/fixed64: little-endian. be32: big-endian (wire frame lengths).
 * varint: LEB128, 7 bits per byte, low groups first; at most 5 bytes for
 * 32-bit and 10 for 64-bit values. Decoders take [p, limit) and return
 * the byte after the value, or NULL if the input is truncated or overlong.
 */
#ifndef RINGKV_COMMON_CODING_H
#define RINGKV_COMMON_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KV_VARINT32_BYTES_MAX 5
#define KV_VARINT64_BYTES_MAX 10

static inline void kv_put_fixed32(char *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void kv_put_fixed64(char *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t kv_get_fixed32(const char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t kv_get_fixed64(const char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static inline void kv_put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24); p[1] = (char)(v >> 16); p[2] = (char)(v >> 8); p[3] = (char)v;
}
static inline uint32_t kv_get_be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) | u[3];
}

/* Writes v at p (room for KV_VARINT64_BYTES_MAX); returns the end. */
static inline char *kv_put_varint64(char *p, uint64_t v)
{
    unsigned char *u = (unsigned char *)p;
    while (v >= 0x80) {
        *u++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *u++ = (unsigned char)v;
    return (char *)u;
}
static inline char *kv_put_varint32(char *p, uint32_t v) { return kv_put_varint64(p, v); }

static inline int kv_varint_len(uint64_t v)
{
    int n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

static inline const char *kv_get_varint64(const char *p, const char *limit, uint64_t *out)
{
    uint64_t r = 0;
    for (int shift = 0; shift <= 63 && p < limit; shift += 7) {
        uint64_t b = (unsigned char)*p++;
        if (shift == 63 && (b & 0x7e))
            return NULL; /* the 10th byte may carry only bit 63 */
        r |= (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = r;
            return p;
        }
    }
    return NULL;
}

static inline const char *kv_get_varint32(const char *p, const char *limit, uint32_t *out)
{
    if (p < limit && !((unsigned char)*p & 0x80)) { /* fast path: one byte */
        *out = (unsigned char)*p;
        return p + 1;
    }
    uint64_t v;
    const char *q = kv_get_varint64(p, limit, &v);
    if (!q || v > UINT32_MAX)
        return NULL;
    *out = (uint32_t)v;
    return q;
}

#endif
