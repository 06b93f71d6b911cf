/*
 * ikey.h - internal keys: how user keys and versions are ordered inside
 * the engine (memtable, WAL batches, SSTables).
 *
 *   internal key = user_key ++ fixed64_le(seq << 8 | type)      (8-byte trailer)
 *
 * seq is the 56-bit sequence number of the write (KV_SEQ_MAX), type is
 * one of enum ikey_type. Order: user key ascending (memcmp), then seq
 * descending, then type descending; so the newest version of a key comes
 * first, and a lookup key (user_key, snapshot_seq, IKEY_TYPE_SEEK) lands on
 * the newest version visible at the snapshot.
 */
#ifndef RINGKV_STORAGE_IKEY_H
#define RINGKV_STORAGE_IKEY_H

#include <stdint.h>
#include <string.h>

#include "common/coding.h"
#include "common/slice.h"

#define IKEY_TRAILER_BYTES 8
#define KV_SEQ_MAX ((UINT64_C(1) << 56) - 1)

enum ikey_type {
    IKEY_TYPE_DELETE = 0,        /* tombstone for one key */
    IKEY_TYPE_VALUE = 1,         /* a value */
    IKEY_TYPE_RANGE_DELETE = 2,  /* range tombstone: key = begin, value = end (exclusive) */
};
/* Sorts before every real entry with the same user key and seq. */
#define IKEY_TYPE_SEEK IKEY_TYPE_RANGE_DELETE

static inline uint64_t ikey_pack(uint64_t seq, enum ikey_type t) { return (seq << 8) | (uint64_t)t; }

static inline struct kv_slice ikey_user(struct kv_slice ik)
{
    return kv_slice_make(ik.data, ik.len - IKEY_TRAILER_BYTES);
}
static inline uint64_t ikey_trailer(struct kv_slice ik) { return kv_get_fixed64(ik.data + ik.len - IKEY_TRAILER_BYTES); }
static inline uint64_t ikey_seq(struct kv_slice ik) { return ikey_trailer(ik) >> 8; }
static inline enum ikey_type ikey_kind(struct kv_slice ik) { return (enum ikey_type)(ikey_trailer(ik) & 0xff); }

/* Writes user_key ++ trailer to dst (room for ulen + 8); returns the length. */
static inline size_t ikey_encode(char *dst, const void *ukey, size_t ulen, uint64_t seq, enum ikey_type t)
{
    if (ulen)
        memcpy(dst, ukey, ulen);
    kv_put_fixed64(dst + ulen, ikey_pack(seq, t));
    return ulen + IKEY_TRAILER_BYTES;
}

static inline int ikey_compare(struct kv_slice a, struct kv_slice b)
{
    int r = kv_slice_cmp(ikey_user(a), ikey_user(b));
    if (r == 0) {
        uint64_t ta = ikey_trailer(a), tb = ikey_trailer(b);
        r = ta > tb ? -1 : ta < tb; /* larger trailer (newer) first */
    }
    return r;
}

#endif
