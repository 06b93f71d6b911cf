/* keyspace.c - see keyspace.h. */
#include "coordinator/keyspace.h"

#include <assert.h>
#include <string.h>

#include "common/hash.h"

int keyspace_init(struct keyspace *ks, uint32_t partitions)
{
    if (partitions == 0 || partitions > KEYSPACE_PARTITIONS_MAX || (partitions & (partitions - 1)))
        return KV_EINVAL;
    uint32_t bits = 0;
    while ((1u << bits) < partitions)
        bits++;
    ks->partitions = partitions;
    ks->bits = bits;
    return KV_OK;
}

uint32_t keyspace_partition_of_hash(const struct keyspace *ks, uint64_t hash)
{
    /* A shift by 64 is undefined in C, hence the Q = 1 case. */
    return ks->bits == 0 ? 0 : (uint32_t)(hash >> (64 - ks->bits));
}

uint32_t keyspace_partition(const struct keyspace *ks, struct kv_slice user_key)
{
    return keyspace_partition_of_hash(ks, kv_hash64(user_key.data, user_key.len, KEYSPACE_HASH_SEED));
}

void keyspace_put_prefix(char *dst, enum keyspace_kind kind, uint32_t partition)
{
    assert(partition < KEYSPACE_PARTITIONS_MAX);
    dst[0] = (char)kind;
    dst[1] = (char)(partition >> 8);
    dst[2] = (char)partition;
}

size_t keyspace_encode(const struct keyspace *ks, enum keyspace_kind kind, struct kv_slice user_key,
                       char *dst)
{
    keyspace_put_prefix(dst, kind, keyspace_partition(ks, user_key));
    if (user_key.len)
        memcpy(dst + KEYSPACE_PREFIX_BYTES, user_key.data, user_key.len);
    return KEYSPACE_PREFIX_BYTES + user_key.len;
}

int keyspace_decode(const struct keyspace *ks, struct kv_slice ekey, enum keyspace_kind *kind_out,
                    uint32_t *partition_out, struct kv_slice *user_key_out)
{
    if (ekey.len < KEYSPACE_PREFIX_BYTES)
        return KV_EINVAL;
    const unsigned char *u = (const unsigned char *)ekey.data;
    if (u[0] < KEYSPACE_DATA || u[0] > KEYSPACE_META)
        return KV_EINVAL;
    uint32_t partition = ((uint32_t)u[1] << 8) | u[2];
    if (partition >= ks->partitions)
        return KV_EINVAL;
    *kind_out = (enum keyspace_kind)u[0];
    *partition_out = partition;
    *user_key_out = kv_slice_make(ekey.data + KEYSPACE_PREFIX_BYTES, ekey.len - KEYSPACE_PREFIX_BYTES);
    return KV_OK;
}

void keyspace_partition_range(enum keyspace_kind kind, uint32_t partition, char begin[KEYSPACE_PREFIX_BYTES],
                              char end[KEYSPACE_PREFIX_BYTES])
{
    keyspace_put_prefix(begin, kind, partition);
    if (partition + 1 < KEYSPACE_PARTITIONS_MAX) {
        keyspace_put_prefix(end, kind, partition + 1);
    } else {
        end[0] = (char)(kind + 1);
        end[1] = end[2] = 0;
    }
}

size_t keyspace_hint_encode(struct kv_slice target, uint32_t partition, struct kv_slice user_key, char *dst)
{
    assert(target.len >= 1 && target.len <= KEYSPACE_HINT_TARGET_BYTES_MAX);
    assert(partition < KEYSPACE_PARTITIONS_MAX);
    dst[0] = (char)KEYSPACE_HINT;
    dst[1] = (char)target.len;
    memcpy(dst + 2, target.data, target.len);
    dst[2 + target.len] = (char)(partition >> 8);
    dst[3 + target.len] = (char)partition;
    if (user_key.len)
        memcpy(dst + KEYSPACE_HINT_PREFIX_BYTES(target.len), user_key.data, user_key.len);
    return KEYSPACE_HINT_PREFIX_BYTES(target.len) + user_key.len;
}

int keyspace_hint_decode(const struct keyspace *ks, struct kv_slice ekey, struct kv_slice *target_out,
                         uint32_t *partition_out, struct kv_slice *user_key_out)
{
    const unsigned char *u = (const unsigned char *)ekey.data;
    if (ekey.len < KEYSPACE_HINT_PREFIX_BYTES(1) || u[0] != KEYSPACE_HINT)
        return KV_EINVAL;
    size_t t = u[1];
    if (t == 0 || t > KEYSPACE_HINT_TARGET_BYTES_MAX || ekey.len < KEYSPACE_HINT_PREFIX_BYTES(t))
        return KV_EINVAL;
    uint32_t partition = ((uint32_t)u[2 + t] << 8) | u[3 + t];
    if (partition >= ks->partitions)
        return KV_EINVAL;
    *target_out = kv_slice_make(ekey.data + 2, t);
    *partition_out = partition;
    *user_key_out = kv_slice_make(ekey.data + KEYSPACE_HINT_PREFIX_BYTES(t),
                                  ekey.len - KEYSPACE_HINT_PREFIX_BYTES(t));
    return KV_OK;
}
