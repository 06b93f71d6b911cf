/*
 * memtable.h - the in-memory write buffer: a skiplist of internal keys
 * (storage/ikey.h) allocated from an arena.
 *
 * Entries are never removed; the whole memtable is freed after it has
 * been flushed to an SSTable. Memory use is memtable_bytes() (arena
 * blocks), compared by the engine against its memtable size limit.
 * Range tombstones are kept in a separate small sorted list.
 *
 * Threading: one writer at a time (the engine's write path holds its
 * lock); any number of concurrent readers without locks (nodes are
 * published with release stores, read with acquire loads). References:
 * memtable_ref / memtable_unref; the last unref frees it.
 */
#ifndef RINGKV_STORAGE_MEMTABLE_H
#define RINGKV_STORAGE_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/ikey.h"
#include "storage/iter.h"
#include "storage/table.h"

struct memtable;

int memtable_new(struct memtable **out) KV_MUST_USE;
void memtable_ref(struct memtable *m);
void memtable_unref(struct memtable *m);

/* Adds (key, seq, type) -> value. For IKEY_TYPE_RANGE_DELETE key is the
 * range begin and value the exclusive end. */
int memtable_add(struct memtable *m, uint64_t seq, enum ikey_type type, struct kv_slice key,
                 struct kv_slice value) KV_MUST_USE;

/* Point lookup of the newest entry for lookup_ikey's user key with seq <=
 * its seq (same contract as table_get; value_out may be NULL to learn only
 * the trailer). Does not consult range tombstones. O(log n), lock-free. */
int memtable_get(struct memtable *m, struct kv_slice lookup_ikey, bool *found, uint64_t *trailer_out,
                 struct kv_buf *value_out) KV_MUST_USE;

/* Iterator over point entries; keeps m referenced until destroyed. */
int memtable_iter_new(struct memtable *m, struct iter **out) KV_MUST_USE;

/* Range tombstones added so far (a snapshot copy the caller frees with
 * free(); slices point into the memtable, valid while it is referenced).
 * With none, *out = NULL and *count = 0 at the cost of one atomic load;
 * otherwise it takes a mutex and mallocs the copy. */
int memtable_range_tombstones(struct memtable *m, struct table_range_tombstone **out, size_t *count) KV_MUST_USE;
/* Number of range tombstones (lock-free), to skip the copy when it is 0. */
size_t memtable_range_tombstone_count(const struct memtable *m);

size_t memtable_bytes(const struct memtable *m);
uint64_t memtable_entries(const struct memtable *m);

#endif
