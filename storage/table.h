/*
 * table.h - sorted string tables (SSTables): immutable files of internal
 * keys (storage/ikey.h) in ikey_compare order.
 *
 * Layout (details, offsets and a worked example in storage/FORMAT.md):
 *   data block*  [filter block]  range-tombstone block  index block  footer
 * Data blocks: prefix-compressed keys with a restart point every
 * `restart_interval` keys, then the restart array and its count
 * (storage/block.h); each block is followed by a 5-byte trailer (type:u8 =
 * 0 uncompressed, crc32c_masked:fixed32 over contents and type). The
 * filter block is a bloom filter over the *user* keys of the whole table
 * (storage/bloom.h), absent when bloom_bits_per_key is 0. The
 * range-tombstone block maps (begin, seq, IKEY_TYPE_RANGE_DELETE) to end.
 * The index block maps a separator key >= the last key of each data block
 * (and < the first key of the next) to the block's handle (offset, size as
 * varints). The footer (fixed size) holds the filter, range-tombstone and
 * index handles, the format version, its own checksum and a magic number.
 *
 * Reading: the footer, index, filter and range tombstones are read and
 * checked at open and stay in memory; data blocks are read on demand,
 * checked (CRC, restart array) and then kept in the block cache, keyed by
 * (file_number, block offset) - so file numbers must be unique per cache,
 * and a deleted table's blocks should be dropped with cache_erase_id.
 * If the env maps files (env_map), the table maps the whole file at open
 * and reads data blocks in place instead (no copy, no cache): a block's
 * CRC is checked on its first use after open only (FORMAT.md, "Trailer"),
 * its restart array on every use. The file must not change or shrink
 * while the table is open (tables are immutable; a file shorter than
 * file_bytes is not mapped, and reads report it as KV_ECORRUPT).
 * Damaged input of any kind yields KV_ECORRUPT, never a crash or wrong data.
 *
 * Threading: a builder is used by one thread; an open table may be read
 * by many threads at once (blocks go through the shared block cache); an
 * iterator belongs to one thread.
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

/* Format constants (see storage/FORMAT.md, "SSTable"). */
#define TABLE_BLOCK_TYPE_RAW 0                            /* contents stored uncompressed */
#define TABLE_BLOCK_TRAILER_BYTES (1 + 4)                 /* type:u8, crc32c_masked:fixed32 */
#define TABLE_BLOCK_HANDLE_BYTES_MAX (10 + 10)            /* offset, size: varint64 each */
#define TABLE_FOOTER_HANDLES 3                            /* filter, range tombstones, index */
#define TABLE_FOOTER_BYTES (TABLE_FOOTER_HANDLES * TABLE_BLOCK_HANDLE_BYTES_MAX + 4 + 4 + 8) /* 76 */
#define TABLE_FOOTER_VERSION_OFFSET (TABLE_FOOTER_HANDLES * TABLE_BLOCK_HANDLE_BYTES_MAX)  /* 60 */
#define TABLE_FOOTER_CRC_OFFSET (TABLE_FOOTER_VERSION_OFFSET + 4)                         /* 64 */
#define TABLE_FOOTER_MAGIC_OFFSET (TABLE_FOOTER_CRC_OFFSET + 4)                           /* 68 */
#define TABLE_FORMAT_VERSION 1
#define TABLE_MAGIC UINT64_C(0x7473766b676e6972)          /* bytes on disk: "ringkvst" */
#define TABLE_INDEX_RESTART_INTERVAL 1                    /* index keys stored whole: seeks read them in place */

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
/* Keys must be strictly increasing in ikey_compare order (checked:
 * KV_EINVAL) and at least IKEY_TRAILER_BYTES long. The builder copies
 * key and value. */
int table_builder_add(struct table_builder *b, struct kv_slice ikey, struct kv_slice value) KV_MUST_USE;
/* Records a range tombstone [begin, end) at seq, kept in the table's
 * range-tombstone block (any order, any number; they are few in practice). */
int table_builder_add_range_tombstone(struct table_builder *b, struct kv_slice begin, struct kv_slice end,
                                      uint64_t seq) KV_MUST_USE;
/* Writes the remaining block, filter, range-tombstone block, index and
 * footer, and sets *file_bytes_out to the table's size. The builder writes
 * through a 64 KiB buffer, so f holds the whole table only after this
 * returns KV_OK. After an I/O error every later call returns that error. */
int table_builder_finish(struct table_builder *b, uint64_t *file_bytes_out) KV_MUST_USE;
uint64_t table_builder_entries(const struct table_builder *b);
uint64_t table_builder_file_bytes(const struct table_builder *b); /* bytes written so far */
void table_builder_free(struct table_builder *b);

struct table;

/* Opens a table of file_bytes bytes: reads and checks the footer, index,
 * filter and range-tombstone blocks (KV_ECORRUPT on any mismatch, KV_EIO,
 * KV_ENOMEM). Takes ownership of f in every case: on failure f is closed.
 * cache may be NULL (every data block read is then read from f each time).
 * file_number is the cache id. */
int table_open(struct env_file *f, uint64_t file_bytes, uint64_t file_number, struct cache *cache,
               struct table **out) KV_MUST_USE;
void table_close(struct table *t);

/*
 * Point lookup. lookup_ikey is (user_key, snapshot_seq, IKEY_TYPE_SEEK).
 * If the table holds an entry with that user key and seq <= snapshot_seq,
 * sets *found = true and copies the newest such entry's internal key
 * trailer to *trailer_out and its value into value_out (replacing its
 * content). Otherwise *found = false. A tombstone is an answer too
 * (found, its type in the trailer, value emptied). The bloom filter is
 * checked first. Range tombstones are not returned here (see
 * table_range_tombstones). KV_ECORRUPT, KV_EIO, KV_ENOMEM; outputs are
 * written only on KV_OK. No allocation when the block is cached and
 * value_out is large enough (reuse one buffer across calls).
 */
int table_get(struct table *t, struct kv_slice lookup_ikey, bool *found, uint64_t *trailer_out,
              struct kv_buf *value_out) KV_MUST_USE;

/* Iterator over every entry (including tombstones). Holds a reference on
 * nothing but the table: the table must outlive it. It pins (holds a cache
 * handle on) the data block it is positioned in, and releases it only when
 * it moves to another block, becomes invalid or is destroyed. */
int table_iter_new(struct table *t, struct iter **out) KV_MUST_USE;

struct table_range_tombstone {
    struct kv_slice begin; /* user key, inclusive */
    struct kv_slice end;   /* user key, exclusive */
    uint64_t seq;
};
/* The table's range tombstones, loaded at open; valid while t is open. */
const struct table_range_tombstone *table_range_tombstones(struct table *t, size_t *count);

/* Approximate file offset where key would be (for size estimates): the
 * offset of the data block that would hold it, or the end of the data
 * blocks for a key past the last one. */
uint64_t table_approx_offset(struct table *t, struct kv_slice ikey);

/* True if the bloom filter may contain user_key (always true without a filter). */
bool table_may_contain(struct table *t, struct kv_slice user_key);

#endif
