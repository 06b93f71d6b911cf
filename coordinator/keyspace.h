/*
 * keyspace.h - how ringkv lays out keys inside the storage engine, and
 * which partition a user key belongs to.
 *
 * Engine key of a stored object (and later of hints and metadata):
 *
 *   offset  size  field
 *   0       1     kind        KEYSPACE_DATA = 0x01 (reserved: HINT 0x02, META 0x03)
 *   1       2     partition   big-endian, 0 .. Q-1
 *   3       n     user key    the client's key bytes, unchanged
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

#include "common/slice.h"
#include "common/status.h"

enum keyspace_kind {
    KEYSPACE_DATA = 0x01,   /* stored objects (coordinator/object.h) */
    KEYSPACE_HINT = 0x02,   /* reserved: hinted handoff */
    KEYSPACE_META = 0x03,   /* reserved: node metadata */
};

#define KEYSPACE_PREFIX_BYTES (1 + 2)           /* kind + be16 partition */
#define KEYSPACE_PARTITIONS_MAX 65536u          /* ids must fit the be16 field */
#define KEYSPACE_PARTITIONS_DEFAULT 256u
#define KEYSPACE_HASH_SEED 0u

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

/* Splits an engine key. KV_EINVAL if it is shorter than the prefix, its
 * kind is unknown or its partition is >= Q. user_key points into ekey. */
int keyspace_decode(const struct keyspace *ks, struct kv_slice ekey, enum keyspace_kind *kind_out,
                    uint32_t *partition_out, struct kv_slice *user_key_out) KV_MUST_USE;

/* The engine-key range [begin, end) of one partition of one kind; both
 * buffers have room for KEYSPACE_PREFIX_BYTES. The last partition's end
 * is (kind + 1) ++ 0x0000, the start of the next kind. */
void keyspace_partition_range(enum keyspace_kind kind, uint32_t partition, char begin[KEYSPACE_PREFIX_BYTES],
                              char end[KEYSPACE_PREFIX_BYTES]);

#endif
