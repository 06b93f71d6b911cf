/*
 * table_cache.h - the engine's open tables, bounded in count, and the
 * iterator over a sorted run of table files.
 *
 * Opening a table reads its footer, index, filter and range tombstones,
 * so the engine keeps recently used tables open in an LRU (a storage/cache
 * with a charge of 1 per table, so its capacity is a file count). A table
 * handed out stays open until its handle is released, even if it is
 * evicted meanwhile. A table file named by a version but missing from the
 * directory is KV_ECORRUPT.
 *
 * Threading: all functions are thread-safe. Ownership: the table cache
 * borrows env, dir and block_cache, which must outlive it.
 */
#ifndef RINGKV_STORAGE_TABLE_CACHE_H
#define RINGKV_STORAGE_TABLE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "storage/cache.h"
#include "storage/env.h"
#include "storage/iter.h"
#include "storage/table.h"
#include "storage/version_edit.h"

struct table_cache;

int table_cache_new(struct env *env, const char *dir, size_t max_open_tables, struct cache *block_cache,
                    struct table_cache **out) KV_MUST_USE;
/* Every handle must have been released. */
void table_cache_free(struct table_cache *tc);

/* The open table of file f, opening it on a miss. *handle_out must be
 * given back with table_cache_release. */
int table_cache_get(struct table_cache *tc, const struct file_meta *f, struct table **table_out,
                    struct cache_handle **handle_out) KV_MUST_USE;
void table_cache_release(struct table_cache *tc, struct cache_handle *h);

/* Forgets a deleted table and its cached blocks. */
void table_cache_evict(struct table_cache *tc, uint64_t number);

/*
 * An iterator over the concatenation of files, which must be sorted and
 * non-overlapping (a level >= 1, or a single file). Tables are opened
 * lazily as the iterator reaches them, and only one at a time is held.
 * The files array and the files are borrowed: the caller keeps them
 * alive (a version reference) until the iterator is destroyed. An error
 * opening or reading a table makes the iterator invalid with that status.
 */
int table_cache_level_iter(struct table_cache *tc, struct file_meta *const *files, size_t n,
                           struct iter **out) KV_MUST_USE;

#endif
