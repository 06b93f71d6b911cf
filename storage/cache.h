/*
 * cache.h - a sharded LRU cache with reference-counted entries (the block cache).
 *
 * Keys are (id, offset) pairs: id is a table's file number, offset the
 * block's offset in it. Each entry carries a charge in bytes; when the sum
 * of charges exceeds the capacity, least recently used entries that no
 * caller holds are evicted and their deleter runs. An entry stays alive
 * while a handle to it is held, even after eviction or replacement.
 *
 * Threading: all functions are thread-safe (one mutex per shard, 16 shards).
 */
#ifndef RINGKV_STORAGE_CACHE_H
#define RINGKV_STORAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct cache;
struct cache_handle;

struct cache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t inserts;
    uint64_t evictions;
    size_t usage_bytes;
    size_t capacity_bytes;
};

typedef void (*cache_deleter)(uint64_t id, uint64_t offset, void *value);

int cache_new(size_t capacity_bytes, struct cache **out) KV_MUST_USE;
void cache_free(struct cache *c); /* all handles must be released first */

/* Returns a held handle or NULL (a miss; counted). */
struct cache_handle *cache_lookup(struct cache *c, uint64_t id, uint64_t offset);
/* Inserts (replacing any entry under the key) and returns a held handle.
 * On KV_ENOMEM the deleter is not called and the caller keeps value. */
int cache_insert(struct cache *c, uint64_t id, uint64_t offset, void *value, size_t charge_bytes,
                 cache_deleter deleter, struct cache_handle **out) KV_MUST_USE;
void *cache_value(struct cache_handle *h);
void cache_release(struct cache *c, struct cache_handle *h);
/* Removes every entry with this id (a deleted table): later lookups miss.
 * Entries someone still holds stay alive until their last release.
 * O(entries in the cache). */
void cache_erase_id(struct cache *c, uint64_t id);
void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
