/*
 * compaction.h - leveled compaction: choosing what to compact, merging it
 * into new tables, and flushing an immutable memtable into a table.
 *
 * Picking (compaction_pick, engine mutex held):
 *   level 0 scores files / level0_compaction_trigger; level n >= 1 scores
 *   bytes / (level1_bytes * 10^(n-1)). The highest score >= 1 wins. In that
 *   level the first file past the level's compaction pointer (the largest
 *   key of the previous compaction there) is taken, wrapping round-robin;
 *   in level 0 every file overlapping it joins, transitively. Then the
 *   files of level n+1 overlapping the inputs' key range, a free widening
 *   of the level-n inputs when it pulls in no new level n+1 file, and the
 *   level n+2 files overlapping the whole range (the "grandparents").
 *   One level-n file with nothing under it and little grandparent overlap
 *   is moved down by an edit alone (a trivial move).
 *
 * Running (compaction_run, no lock held): every version of every key of the
 * inputs is merged, newest first, and
 *   - a version is dropped when a newer version of the same key, or a
 *     range tombstone covering it, is visible to every snapshot (its seq
 *     <= the smallest live snapshot);
 *   - a point tombstone visible to every snapshot is dropped when no level
 *     below the output can hold its key; a range tombstone likewise when
 *     no deeper file overlaps its range;
 *   - the compaction filter sees the newest version of each key when that
 *     version is visible to every snapshot; DROP removes it (or, when a
 *     deeper level may hold older versions, replaces it by a tombstone);
 *   - outputs are cut, only between two user keys, when a table reaches
 *     table_file_bytes or overlaps more than 10 tables' worth of grandparent
 *     bytes; the range tombstones kept are clipped to each output's key
 *     range [previous cut, next cut).
 * The result is a version edit (inputs deleted, outputs added, compaction
 * pointer) the engine logs with version_set_log_and_apply.
 *
 * Flushing (compaction_flush, no lock held) writes an immutable memtable
 * to one table, applying the same rules, at level 0 or, when its key range
 * overlaps nothing in levels 0..n and little in n+1, at level n <= 2
 * (as LevelDB does), which saves rewriting it later.
 *
 * Threading: a compaction object is used by the engine's one background
 * thread. Output files not yet in a version must not be deleted meanwhile
 * (the engine deletes obsolete files only between background jobs).
 */
#ifndef RINGKV_STORAGE_COMPACTION_H
#define RINGKV_STORAGE_COMPACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "common/status.h"
#include "storage/engine.h"
#include "storage/iter.h"
#include "storage/table.h"
#include "storage/table_cache.h"
#include "storage/version.h"

/* Highest level a flush may place its table at (LevelDB's kMaxMemCompactLevel). */
#define COMPACTION_FLUSH_LEVEL_MAX 2
/* Grandparent overlap allowed per output, in tables (of table_file_bytes). */
#define COMPACTION_GRANDPARENT_TABLES 10
/* Widening level-n inputs is allowed up to this many tables in total. */
#define COMPACTION_EXPAND_TABLES 25

struct compaction {
    int level;                         /* inputs from level and level + 1 */
    struct version *version;           /* the inputs' version (one reference) */
    struct file_meta **inputs[2];
    size_t ninputs[2];
    struct file_meta **grandparents;
    size_t ngrandparents;
    uint64_t table_file_bytes;
    struct version_edit edit;          /* filled by pick (pointer) and run (files) */
};

/* What a compaction or flush needs from the engine. The callbacks run on
 * the background thread without the engine mutex. */
struct compaction_io {
    struct env *env;
    const char *dir;
    struct table_options table;
    uint64_t table_file_bytes;
    struct table_cache *tables;
    const struct engine_compaction_filter *filter;  /* may be NULL */
    uint64_t smallest_snapshot;        /* oldest live snapshot, or the last seq */
    uint64_t (*new_file_number)(void *ctx);
    /* Called between keys: the engine flushes a waiting memtable from here. */
    void (*poll)(void *ctx);
    /* True when the engine is closing: the compaction gives up (KV_ECLOSED). */
    bool (*stopping)(void *ctx);
    void *ctx;
    uint64_t bytes_read;               /* out: input bytes */
    uint64_t bytes_written;            /* out: output bytes */
};

/* The compaction the current version most needs, or NULL. mu held. */
struct compaction *compaction_pick(struct version_set *vs, uint64_t table_file_bytes);
/* The files of `level` overlapping [begin, end] (NULL: unbounded), up to
 * about COMPACTION_EXPAND_TABLES tables for levels >= 1, with their level
 * + 1 overlaps; NULL if level holds nothing there or level is the last. mu held. */
struct compaction *compaction_pick_range(struct version_set *vs, int level, const struct kv_slice *begin,
                                         const struct kv_slice *end, uint64_t table_file_bytes);
/* The one input can move down by an edit alone. */
bool compaction_is_trivial_move(const struct compaction *c);
/* Fills c->edit for a trivial move. */
int compaction_apply_move(struct compaction *c) KV_MUST_USE;
/* Merges the inputs into new tables and fills c->edit. */
int compaction_run(struct compaction *c, struct compaction_io *io) KV_MUST_USE;
/* Releases the version reference; mu held. */
void compaction_free(struct compaction *c);

/*
 * Writes the point entries of it (which it takes and destroys) and the
 * range tombstones t[0..nt) to one new table whose level is chosen
 * against base, and records it in edit. Nothing is written if everything
 * is dropped. *level_out is the chosen level.
 */
int compaction_flush(struct compaction_io *io, struct version *base, struct iter *it,
                     const struct table_range_tombstone *t, size_t nt, struct version_edit *edit,
                     int *level_out) KV_MUST_USE;

#endif
