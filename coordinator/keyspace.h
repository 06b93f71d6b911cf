/*
 * keyspace.h - how ringkv lays out keys inside the storage engine, and
 * which partition a user key belongs to.
 *
 * Engine key of a stored object (kind DATA):
 *
 *   offset  size  field
 *   0       1     kind        KEYSPACE_DATA = 0x01 (reserved: META 0x03)
 *   1       2     partition   big-endian, 0 .. Q-1
 *   3       n     user key    the client's key bytes, unchanged
 *
 * Engine key of a hint (kind HINT): an object a fallback keeps for a
 * primary that was down when it was written (hinted handoff), until that
 * node acknowledges it:
 *
 *   offset  size  field
 *   0       1     kind        KEYSPACE_HINT = 0x02
 *   1       1     t           length of the target node id, 1 .. KV_NODE_ID_BYTES_MAX
 *   2       t     target      the node id the object is meant for
 *   2+t     2     partition   big-endian, 0 .. Q-1
 *   4+t     n     user key
 *
 * so all hints for one target are one contiguous range (kind ++ t ++
 * target), ordered by partition then key inside it. The length byte
 * (rather than a terminator) keeps the target unambiguous for any id
 * bytes. Example: a hint for node "n2" of key "k" in partition 5:
 *   02 02 6e 32 00 05 6b   (7 bytes = KEYSPACE_HINT_PREFIX_BYTES(2) + 1)
 * The value of a hint key is a hint record (coordinator/hint.h).
 *
 * Big-endian partition ids make the engine's memcmp order sort by
 * (kind, partition, user key), so each (kind, partition) is one
 * contiguous range [kind ++ p, kind ++ p+1): handoff and Merkle rebuilds
 * scan one range, dropping a partition is one engine_delete_range.
 *
 * Partitions: the 64-bit hash space of kv_hash64(key, len, 0) (XXH64,
 * seed 0; part of the on-disk and wire contract) is cut into Q equal
 * ranges, Q a power of two (1 .. KEYSPACE_PARTITIONS_MAX, default 256):
 * partition = hash >> (64 - log2 Q), so partition p holds the hashes
 * [p * 2^64/Q, (p+1) * 2^64/Q). Q is fixed when a cluster is created.
 *
 * Pure functions and a small immutable struct: thread-safe, no allocation.
 */
#ifndef RINGKV_COORDINATOR_KEYSPACE_H
#define RINGKV_COORDINATOR_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/slice.h"
#include "common/status.h"

enum keyspace_kind {
    KEYSPACE_DATA = 0x01,   /* stored objects (coordinator/object.h) */
    KEYSPACE_HINT = 0x02,   /* hinted handoff: objects kept for another node */
    KEYSPACE_META = 0x03,   /* reserved: node metadata */
    KEYSPACE_PURGE = 0x04,  /* purge markers: same layout as DATA (coordinator/coord_purge.c) */
};

#define KEYSPACE_PREFIX_BYTES (1 + 2)           /* kind + be16 partition */
#define KEYSPACE_PARTITIONS_MAX 65536u          /* ids must fit the be16 field */
#define KEYSPACE_PARTITIONS_DEFAULT 256u
#define KEYSPACE_HASH_SEED 0u
/* kind + target length + target + be16 partition, for a target of t bytes. */
#define KEYSPACE_HINT_PREFIX_BYTES(t) (1 + 1 + (t) + 2)
#define KEYSPACE_HINT_TARGET_BYTES_MAX KV_NODE_ID_BYTES_MAX  /* 64; fits the length byte */

struct keyspace {
    uint32_t partitions;    /* Q */
    uint32_t bits;          /* log2 Q */
};

/* KV_EINVAL unless partitions is a power of two in 1..KEYSPACE_PARTITIONS_MAX. */
int keyspace_init(struct keyspace *ks, uint32_t partitions) KV_MUST_USE;

/* The partition of a 64-bit key hash, and of a user key. */
uint32_t keyspace_partition_of_hash(const struct keyspace *ks, uint64_t hash);
uint32_t keyspace_partition(const struct keyspace *ks, struct kv_slice user_key);

/* Writes kind ++ be16(partition) at dst (KEYSPACE_PREFIX_BYTES). */
void keyspace_put_prefix(char *dst, enum keyspace_kind kind, uint32_t partition);

/* Writes the engine key of user_key at dst, which has room for
 * KEYSPACE_PREFIX_BYTES + user_key.len bytes; returns its length. */
size_t keyspace_encode(const struct keyspace *ks, enum keyspace_kind kind, struct kv_slice user_key,
                       char *dst);

/* Splits an engine key of kind DATA or META (not HINT: see
 * keyspace_hint_decode). KV_EINVAL if it is shorter than the prefix, its
 * kind is unknown or its partition is >= Q. user_key points into ekey. */
int keyspace_decode(const struct keyspace *ks, struct kv_slice ekey, enum keyspace_kind *kind_out,
                    uint32_t *partition_out, struct kv_slice *user_key_out) KV_MUST_USE;

/* The engine-key range [begin, end) of one partition of one kind; both
 * buffers have room for KEYSPACE_PREFIX_BYTES. The last partition's end
 * is (kind + 1) ++ 0x0000, the start of the next kind. */
void keyspace_partition_range(enum keyspace_kind kind, uint32_t partition, char begin[KEYSPACE_PREFIX_BYTES],
                              char end[KEYSPACE_PREFIX_BYTES]);

/* Writes the hint key of (target, partition, user_key) at dst, which has
 * room for KEYSPACE_HINT_PREFIX_BYTES(target.len) + user_key.len bytes;
 * returns its length. target.len must be 1 .. KEYSPACE_HINT_TARGET_BYTES_MAX
 * and partition < KEYSPACE_PARTITIONS_MAX (asserted). */
size_t keyspace_hint_encode(struct kv_slice target, uint32_t partition, struct kv_slice user_key, char *dst);

/* Splits a hint key. KV_EINVAL unless its kind is HINT, the target length
 * is 1 .. KEYSPACE_HINT_TARGET_BYTES_MAX and fits, and the partition is
 * < Q. target and user_key point into ekey. */
int keyspace_hint_decode(const struct keyspace *ks, struct kv_slice ekey, struct kv_slice *target_out,
                         uint32_t *partition_out, struct kv_slice *user_key_out) KV_MUST_USE;

#endif
