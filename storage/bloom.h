/*
 * bloom.h - bloom filters over user keys (the SSTable filter block).
 *
 * A filter answers "may this table hold user key K?" with no false
 * negatives and, at 10 bits per key, about 1% false positives; a negative
 * answer saves the index and data block lookups of table_get.
 *
 * Filter bytes (also in storage/FORMAT.md, "Filter block"): a blocked
 * ("cache-local") bloom filter, so that one probe costs one cache miss:
 *
 *   line[n_lines] (BLOOM_LINE_BYTES = 64 bytes = 512 bits each)  k:u8
 *
 * Key hash: h = kv_hash64(user_key, BLOOM_HASH_SEED); h1 = low 32 bits,
 * h2 = high 32 bits. h1 picks the line: (h1 * n_lines) >> 32
 * (multiply-shift instead of a modulo). Inside it, probe i (0 <= i < k)
 * sets bit (h2 + i * delta) mod 512 with delta = (h2 >> 17) | 1 (double
 * hashing; delta is odd, so the k bits are distinct). Bit b of a line is
 * byte b / 8, mask 1 << (b % 8). n_lines = ceil(keys * bits_per_key /
 * 512), at least 1; k = round(bits_per_key * ln 2) clamped to
 * [BLOOM_K_MIN, BLOOM_K_MAX]. These rules are part of the file format.
 * At 10 bits per key: k = 7, about 1.1% false positives (a classic bloom
 * filter of the same size: 0.8%, but k cache misses instead of one).
 *
 * A filter whose k is outside [1, 30] (a newer encoding) or whose length
 * is not 1 + a positive multiple of 64 matches everything: safe, just
 * useless.
 *
 * Threading: pure functions; a filter is read-only once built.
 */
#ifndef RINGKV_STORAGE_BLOOM_H
#define RINGKV_STORAGE_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/slice.h"
#include "common/status.h"

#define BLOOM_HASH_SEED UINT64_C(0xbc9f1d34)
#define BLOOM_K_MIN 1
#define BLOOM_K_MAX 30
#define BLOOM_LINE_BYTES 64                     /* one cache line */
#define BLOOM_LINE_BITS (BLOOM_LINE_BYTES * 8)  /* 512 */
#define BLOOM_LINES_MAX (UINT32_C(1) << 24)     /* 1 GiB of filter: far beyond any table */

static inline uint64_t bloom_hash(struct kv_slice user_key)
{
    return kv_hash64(user_key.data, user_key.len, BLOOM_HASH_SEED);
}

/* Number of probes for bits_per_key (>= 1). */
int bloom_k(int bits_per_key);

/* Appends a filter for n key hashes (from bloom_hash) to out. Duplicate
 * hashes are harmless. bits_per_key >= 1. KV_ENOMEM. O(n * k). */
int bloom_build(const uint64_t *hashes, size_t n, int bits_per_key, struct kv_buf *out) KV_MUST_USE;

/* False only if the key with this hash was certainly not added. O(k), no allocation. */
bool bloom_may_match(struct kv_slice filter, uint64_t hash);

#endif
