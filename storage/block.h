/*
 * block.h - the sorted, prefix-compressed key/value blocks that SSTables
 * are made of (data blocks, the index block, the range-tombstone block).
 *
 * Block contents (byte layout in storage/FORMAT.md, "SSTable"):
 *
 *   entry*  restart:fixed32 * num_restarts  num_restarts:fixed32
 *   entry = shared:varint32 unshared:varint32 value_len:varint32
 *           key_delta[unshared] value[value_len]
 *
 * Each entry stores only the part of its key that differs from the
 * previous key (`shared` bytes are taken from it). Every
 * `restart_interval`-th entry is a restart point: it has shared = 0 and
 * its offset is listed in the restart array, so a reader can binary-search
 * the restart points and then scan at most restart_interval entries.
 *
 * Keys are internal keys (storage/ikey.h), compared with ikey_compare; the
 * reader rejects any key shorter than IKEY_TRAILER_BYTES as corrupt.
 *
 * Builder: one owner, appends keys in increasing order (the builder does
 * not check the order: the table builder does, and the range-tombstone
 * block may hold equal keys). Reader: a struct block is a read-only view
 * of bytes someone else owns; any number of iterators may read one block
 * from any number of threads. A struct block_iter belongs to one thread.
 *
 * Every decoding path is bounds-checked: malformed bytes make block_parse
 * fail or make the iterator invalid with status KV_ECORRUPT.
 */
#ifndef RINGKV_STORAGE_BLOCK_H
#define RINGKV_STORAGE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "common/status.h"
#include "storage/iter.h"

#define BLOCK_RESTART_BYTES 4                      /* one fixed32 offset */
#define BLOCK_RESTART_COUNT_BYTES 4                /* fixed32 num_restarts */
#define BLOCK_ENTRY_HEADER_BYTES_MAX (3 * 5)       /* three varint32 */
/* Offsets are 32-bit, so one block holds less than 4 GiB. */
#define BLOCK_BYTES_MAX ((size_t)UINT32_MAX)

/* ---- builder ---- */

struct block_builder;

/* restart_interval >= 1. KV_ENOMEM. */
int block_builder_new(int restart_interval, struct block_builder **out) KV_MUST_USE;
void block_builder_free(struct block_builder *b);
/* Forgets every entry; keeps the memory for the next block. */
void block_builder_reset(struct block_builder *b);
/* Appends one entry. KV_ETOOBIG if the block would reach BLOCK_BYTES_MAX,
 * KV_ENOMEM. Not allowed after block_builder_finish until a reset. */
int block_builder_add(struct block_builder *b, struct kv_slice key, struct kv_slice value) KV_MUST_USE;
/* Appends the restart array and sets *out to the block contents, which
 * stay valid until the next reset or free. KV_ENOMEM. */
int block_builder_finish(struct block_builder *b, struct kv_slice *out) KV_MUST_USE;
/* The block's size if finished now. O(1). */
size_t block_builder_size_estimate(const struct block_builder *b);
bool block_builder_empty(const struct block_builder *b);

/* ---- reader ---- */

/* A checked view of one block's contents (no trailer). Does not own data. */
struct block {
    const char *data;
    uint32_t size;          /* bytes of contents */
    uint32_t restarts_off;  /* where the restart array starts == end of entries */
    uint32_t num_restarts;
};

/* Checks the restart array (count fits, offsets start at 0, strictly
 * increase and lie before the array) and fills *out. KV_ECORRUPT. O(restarts). */
int block_parse(const char *data, size_t size, struct block *out) KV_MUST_USE;

/* Keys up to this size are rebuilt in the iterator itself, so an iterator
 * on the stack (table_get) never allocates; longer keys use a heap buffer
 * that grows once and is reused for every later step. */
#define BLOCK_ITER_INLINE_KEY_BYTES 256

/*
 * An iterator over one block, meant to be embedded (the table reader keeps
 * two of them, one on the index, one on the current data block). Fields are
 * private. Must not be copied once in use (key may point into inline_key).
 * Not positioned after init. key/value are valid until the next move.
 */
struct block_iter {
    struct iter base;           /* so the iterator can also be used as a struct iter */
    struct block blk;
    uint32_t cur;               /* offset of the current entry; blk.restarts_off when invalid */
    uint32_t next;              /* offset just after the current entry */
    uint32_t restart_idx;       /* last restart point <= cur */
    struct kv_slice key;
    struct kv_slice value;
    bool key_in_buf;            /* key lives in our buffer (else it points into the block) */
    int status;
    char *heap_key;             /* NULL while inline_key suffices */
    size_t heap_key_cap;
    char inline_key[BLOCK_ITER_INLINE_KEY_BYTES];
};

/* Points it at b (which must outlive its use); keeps any key buffer. O(1). */
void block_iter_init(struct block_iter *it, const struct block *b);
void block_iter_set_block(struct block_iter *it, const struct block *b);
/* Frees the heap key buffer, if any. */
void block_iter_cleanup(struct block_iter *it);

static inline bool block_iter_valid(const struct block_iter *it) { return it->cur < it->blk.restarts_off; }
static inline struct kv_slice block_iter_key(const struct block_iter *it) { return it->key; }
static inline struct kv_slice block_iter_value(const struct block_iter *it) { return it->value; }
static inline int block_iter_status(const struct block_iter *it) { return it->status; }

void block_iter_seek_first(struct block_iter *it);
void block_iter_seek_last(struct block_iter *it);
/* First entry >= target (an internal key). O(log restarts + restart_interval). */
void block_iter_seek(struct block_iter *it, struct kv_slice target);
/* O(1) amortised; no allocation once the key buffer has grown. */
void block_iter_next(struct block_iter *it);
/* Rescans from the previous restart point: O(restart_interval). */
void block_iter_prev(struct block_iter *it);

/* A heap-allocated struct iter over b (which must outlive it). KV_ENOMEM. */
int block_iter_new(const struct block *b, struct iter **out) KV_MUST_USE;

#endif
