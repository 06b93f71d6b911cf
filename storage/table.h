/*
 * table.h - sorted string tables (SSTables): immutable files of internal
 * keys (storage/ikey.h) in ikey_compare order.
 *
 * Layout (details, offsets and a worked example in storage/FORMAT.md):
 *   data block*  filter block  index block  footer
 * Data blocks: prefix-compressed keys with a restart point every
 * `restart_interval` keys, then the restart array and its count; each
 * block is followed by a 5-byte trailer (type:u8 = 0 uncompressed,
 * crc32c_masked:fixed32 over contents and type). The filter block is a
 * bloom filter over the *user* keys of the whole table. The index block
 * maps a separator key >= the last key of each data block to the block's
 * handle (offset, size as varints). The footer (fixed size) holds the
 * filter and index handles, the format version and a magic number.
 *
 * Threading: a builder is used by one thread; an open table may be read
 * by many threads at once (blocks go through the shared block cache).
 */
#ifndef RINGKV_STORAGE_TABLE_H
#define RINGKV_STORAGE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/cache.h"
#include "storage/env.h"
#include "storage/ikey.h"
#include "storage/iter.h"

struct table_options {
    size_t block_bytes;        /* target uncompressed data block size; default 4096 */
    int restart_interval;      /* keys between restart points; default 16 */
    int bloom_bits_per_key;    /* 0 disables the filter; default 10 (~1% false positives) */
};
void table_options_default(struct table_options *o);

struct table_builder;

/* f is a writable file the builder appends to; the caller keeps ownership
 * and syncs/closes it after table_builder_finish. */
int table_builder_new(struct env_file *f, const struct table_options *o, struct table_builder **out) KV_MUST_USE;
/* Keys must be strictly increasing in ikey_compare order (checked). */
int table_builder_add(struct table_builder *b, struct kv_slice ikey, struct kv_slice value) KV_MUST_USE;
/* Records a range tombstone [begin, end) at seq, kept in the table's
 * range-tombstone block (any order, any number; they are few in practice). */
int table_builder_add_range_tombstone(struct table_builder *b, struct kv_slice begin, struct kv_slice end,
                                      uint64_t seq) KV_MUST_USE;
/* Writes the remaining block, filter, range-tombstone block, index and footer. */
int table_builder_finish(struct table_builder *b, uint64_t *file_bytes_out) KV_MUST_USE;
uint64_t table_builder_entries(const struct table_builder *b);
uint64_t table_builder_file_bytes(const struct table_builder *b); /* bytes written so far */
void table_builder_free(struct table_builder *b);

struct table;

/* Opens a table: reads and checks the footer, index and filter (KV_ECORRUPT
 * on any mismatch). Takes ownership of f. cache may be NULL (no caching).
 * file_number is the cache id. */
int table_open(struct env_file *f, uint64_t file_bytes, uint64_t file_number, struct cache *cache,
               struct table **out) KV_MUST_USE;
void table_close(struct table *t);

/*
 * Point lookup. lookup_ikey is (user_key, snapshot_seq, IKEY_TYPE_SEEK).
 * If the table holds an entry with that user key and seq <= snapshot_seq,
 * sets *found = true and copies the newest such entry's internal key
 * trailer to *trailer_out and its value into value_out (replacing its
 * content). Otherwise *found = false. The bloom filter is checked first.
 * Range tombstones are not returned here (see table_range_tombstones).
 */
int table_get(struct table *t, struct kv_slice lookup_ikey, bool *found, uint64_t *trailer_out,
              struct kv_buf *value_out) KV_MUST_USE;

/* Iterator over every entry (including tombstones). Holds a reference on
 * nothing but the table: the table must outlive it. */
int table_iter_new(struct table *t, struct iter **out) KV_MUST_USE;

struct table_range_tombstone {
    struct kv_slice begin; /* user key, inclusive */
    struct kv_slice end;   /* user key, exclusive */
    uint64_t seq;
};
/* The table's range tombstones, loaded at open; valid while t is open. */
const struct table_range_tombstone *table_range_tombstones(struct table *t, size_t *count);

/* Approximate file offset where key would be (for size estimates). */
uint64_t table_approx_offset(struct table *t, struct kv_slice ikey);

/* True if the bloom filter may contain user_key. */
bool table_may_contain(struct table *t, struct kv_slice user_key);

#endif
