/*
 * hash.h - the stable 64-bit hash of ringkv.
 *
 * kv_hash64 is XXH64 (Yann Collet's xxHash, 64-bit variant) with the given
 * seed, implemented here from the published algorithm. It places keys on
 * the ring (seed 0), so its output is part of the on-disk and on-wire
 * contract: never change it. Test vectors are in tests/unit/test_common.c.
 * Cost: about 1 cycle per byte for long inputs; no allocation.
 */
#ifndef RINGKV_COMMON_HASH_H
#define RINGKV_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t kv_hash64(const void *data, size_t len, uint64_t seed);

/* 32-bit hash for in-memory tables and bloom filters (the low half of kv_hash64). */
static inline uint32_t kv_hash32(const void *data, size_t len, uint32_t seed)
{
    return (uint32_t)kv_hash64(data, len, seed);
}

#endif
