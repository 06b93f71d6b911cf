/*
 * version_edit.h - table file metadata and version edits, the records of
 * the manifest (storage/FORMAT.md, "Manifest and CURRENT").
 *
 * A version edit is a delta between two versions of the level structure:
 * files added and removed per level, plus the counters the engine must
 * recover (log number, next file number, last sequence number) and the
 * round-robin compaction pointers. Encoding: a sequence of tagged fields,
 *
 *   edit  = field*
 *   field = tag:varint32 ++ body
 *     1 LOG_NUMBER        number:varint64
 *     2 NEXT_FILE_NUMBER  number:varint64
 *     3 LAST_SEQ          seq:varint64
 *     4 COMPACT_POINTER   level:varint32 ++ ikey:varstring
 *     5 DELETED_FILE      level:varint32 ++ number:varint64
 *     6 NEW_FILE          level:varint32 ++ number:varint64 ++ bytes:varint64
 *                         ++ smallest:varstring ++ largest:varstring
 *                         ++ range_tombstones:varint32
 *   varstring = length:varint32 ++ bytes
 *
 * The decoder rejects unknown tags, levels >= ENGINE_LEVELS, internal
 * keys shorter than their 8-byte trailer, smallest > largest and
 * truncated fields (KV_ECORRUPT).
 *
 * Ownership: an edit owns the file_meta objects it was given or decoded
 * (one reference each) and the compaction-pointer keys;
 * version_edit_free releases them. Threading: none (one owner).
 */
#ifndef RINGKV_STORAGE_VERSION_EDIT_H
#define RINGKV_STORAGE_VERSION_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/engine.h"

enum version_edit_tag {
    VERSION_EDIT_LOG_NUMBER = 1,
    VERSION_EDIT_NEXT_FILE_NUMBER = 2,
    VERSION_EDIT_LAST_SEQ = 3,
    VERSION_EDIT_COMPACT_POINTER = 4,
    VERSION_EDIT_DELETED_FILE = 5,
    VERSION_EDIT_NEW_FILE = 6,
};

/*
 * One table file. smallest and largest are internal keys bounding every
 * entry of the table and every range tombstone in it: a tombstone
 * [begin, end) at seq contributes (begin, seq, RANGE_DELETE) and the
 * sentinel (end, KV_SEQ_MAX, RANGE_DELETE), which sorts before every real
 * entry of user key end, so the bound stays exclusive of end.
 * Immutable after creation except refs (guarded by the engine mutex).
 */
struct file_meta {
    uint64_t number;
    uint64_t bytes;
    uint32_t range_tombstones; /* 0 lets readers skip the table's tombstone block */
    int refs;                  /* versions and edits holding it */
    struct kv_slice smallest;  /* point into the same allocation */
    struct kv_slice largest;
};

/* Allocates a file_meta with one reference, copying the keys. */
int file_meta_new(uint64_t number, uint64_t bytes, struct kv_slice smallest, struct kv_slice largest,
                  uint32_t range_tombstones, struct file_meta **out) KV_MUST_USE;
static inline void file_meta_ref(struct file_meta *f) { f->refs++; }
void file_meta_unref(struct file_meta *f);
static inline struct kv_slice file_meta_smallest_user(const struct file_meta *f)
{
    return kv_slice_make(f->smallest.data, f->smallest.len - 8);
}
static inline struct kv_slice file_meta_largest_user(const struct file_meta *f)
{
    return kv_slice_make(f->largest.data, f->largest.len - 8);
}

struct version_edit_file {
    int level;
    struct file_meta *f;
};
struct version_edit_deleted {
    int level;
    uint64_t number;
};
struct version_edit_pointer {
    int level;
    struct kv_buf ikey;
};

struct version_edit {
    bool has_log_number;
    bool has_next_file_number;
    bool has_last_seq;
    uint64_t log_number;        /* logs numbered below this are fully in tables */
    uint64_t next_file_number;
    uint64_t last_seq;
    struct version_edit_pointer *pointers;
    size_t npointers;
    struct version_edit_deleted *deleted;
    size_t ndeleted;
    struct version_edit_file *added;
    size_t nadded;
};

void version_edit_init(struct version_edit *e);
/* Releases what the edit holds and re-initialises it. */
void version_edit_free(struct version_edit *e);

void version_edit_set_log_number(struct version_edit *e, uint64_t n);
void version_edit_set_next_file_number(struct version_edit *e, uint64_t n);
void version_edit_set_last_seq(struct version_edit *e, uint64_t seq);
int version_edit_set_compact_pointer(struct version_edit *e, int level, struct kv_slice ikey) KV_MUST_USE;
int version_edit_delete_file(struct version_edit *e, int level, uint64_t number) KV_MUST_USE;
/* Takes a new reference on f. */
int version_edit_add_file(struct version_edit *e, int level, struct file_meta *f) KV_MUST_USE;

/* Appends the encoding of e to out. */
int version_edit_encode(const struct version_edit *e, struct kv_buf *out) KV_MUST_USE;
/* Decodes in into e (which must be freshly initialised); on failure e is
 * left empty. KV_OK, KV_ECORRUPT or KV_ENOMEM. */
int version_edit_decode(struct kv_slice in, struct version_edit *e) KV_MUST_USE;

#endif
