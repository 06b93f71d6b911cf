/*
 * engine.h - the public interface of ringkv's LSM storage engine.
 *
 * An engine owns one directory: a WAL, a manifest, and leveled SSTables.
 * Keys and values are arbitrary bytes (ENGINE_KEY_BYTES_MAX,
 * ENGINE_VALUE_BYTES_MAX). The engine knows nothing about the cluster.
 *
 * Durability: engine_write returns after the batch is in the WAL and
 * handed to the OS (so killing the process loses nothing acknowledged).
 * With ENGINE_SYNC_ALWAYS it also returns only after fdatasync; concurrent
 * writers are group-committed behind one leader (one fsync per group).
 * With ENGINE_SYNC_PERIODIC a background thread syncs every
 * sync_interval_ms. ENGINE_SYNC_NONE leaves syncing to the OS.
 *
 * Threading: every function is thread-safe. Flush and compaction run in
 * one background thread. Ownership: objects returned through `out` are
 * the caller's and are released with the matching _free/_release/_close.
 * A snapshot or iterator must be released before engine_close.
 */
#ifndef RINGKV_STORAGE_ENGINE_H
#define RINGKV_STORAGE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/env.h"

#define ENGINE_KEY_BYTES_MAX (64u * 1024u)            /* 64 KiB */
#define ENGINE_VALUE_BYTES_MAX (64u * 1024u * 1024u)  /* 64 MiB */
/* One batch (its encoded size, storage/batch.h); a group commit adds at
 * most 1 MiB of other batches, well under WAL_RECORD_BYTES_MAX (1 GiB). */
#define ENGINE_BATCH_BYTES_MAX (256u * 1024u * 1024u)  /* 256 MiB */
#define ENGINE_LEVELS 7

enum engine_sync {
    ENGINE_SYNC_NONE = 0,
    ENGINE_SYNC_PERIODIC = 1,
    ENGINE_SYNC_ALWAYS = 2,
};

enum engine_filter_decision {
    ENGINE_FILTER_KEEP = 0,
    ENGINE_FILTER_DROP = 1,   /* the entry is removed by this compaction */
};

/*
 * Compaction filter: called for the newest version of each key that a
 * compaction (or flush) writes, when no snapshot can see an older state.
 * Used for TTL expiry and tombstone purge. Must be thread-safe and fast;
 * runs on the background thread.
 */
struct engine_compaction_filter {
    enum engine_filter_decision (*filter)(void *arg, int level, struct kv_slice key, struct kv_slice value);
    void *arg;
};

struct engine_options {
    struct env *env;                 /* NULL: env_posix() */
    bool create_if_missing;          /* default true */
    bool error_if_exists;            /* default false */
    enum engine_sync sync;           /* default ENGINE_SYNC_PERIODIC */
    uint32_t sync_interval_ms;       /* default 1000 */
    size_t memtable_bytes;           /* default 64 MiB; flush when exceeded */
    size_t block_cache_bytes;        /* default 64 MiB */
    size_t block_bytes;              /* default 4 KiB */
    int bloom_bits_per_key;          /* default 10 */
    size_t table_file_bytes;         /* target SSTable size; default 64 MiB */
    uint64_t level1_bytes;           /* default 256 MiB; x10 per level */
    int level0_compaction_trigger;   /* L0 files that start a compaction; default 4 */
    int level0_slowdown_trigger;     /* writes delayed 1 ms each; default 12 */
    int level0_stop_trigger;         /* writes wait for compaction; default 20 */
    const struct engine_compaction_filter *compaction_filter; /* NULL: none */
    size_t max_open_tables;          /* tables kept open (LRU); default 1000 */
};
void engine_options_default(struct engine_options *o);

struct engine;
struct engine_batch;
struct engine_snapshot;
struct engine_iter;

/* Opens (creating if allowed) the engine in dir, replaying the WAL.
 * KV_EBUSY if another process holds the directory's LOCK file;
 * KV_ECORRUPT if the manifest or a table is damaged beyond the torn-tail policy. */
int engine_open(const char *dir, const struct engine_options *o, struct engine **out) KV_MUST_USE;
/* Waits for background work, syncs the WAL, frees e. */
int engine_close(struct engine *e);

int engine_put(struct engine *e, struct kv_slice key, struct kv_slice value) KV_MUST_USE;
int engine_delete(struct engine *e, struct kv_slice key) KV_MUST_USE;
/* Deletes every key in [begin, end) with one range tombstone: O(1) to write. */
int engine_delete_range(struct engine *e, struct kv_slice begin, struct kv_slice end) KV_MUST_USE;

/* Reads the value visible at snap (NULL: latest) into value_out (replacing
 * its content). KV_ENOTFOUND if absent or deleted. */
int engine_get(struct engine *e, const struct engine_snapshot *snap, struct kv_slice key,
               struct kv_buf *value_out) KV_MUST_USE;

/* Atomic write batches: all or none of the batch is applied and recovered. */
int engine_batch_new(struct engine_batch **out) KV_MUST_USE;
int engine_batch_put(struct engine_batch *b, struct kv_slice key, struct kv_slice value) KV_MUST_USE;
int engine_batch_delete(struct engine_batch *b, struct kv_slice key) KV_MUST_USE;
int engine_batch_delete_range(struct engine_batch *b, struct kv_slice begin, struct kv_slice end) KV_MUST_USE;
void engine_batch_clear(struct engine_batch *b);
uint32_t engine_batch_count(const struct engine_batch *b);
void engine_batch_free(struct engine_batch *b);
int engine_write(struct engine *e, const struct engine_batch *b) KV_MUST_USE;

/* A consistent read view. */
int engine_snapshot_new(struct engine *e, struct engine_snapshot **out) KV_MUST_USE;
void engine_snapshot_release(struct engine *e, struct engine_snapshot *s);

/* Iterator over live keys in memcmp order at snap (NULL: a new implicit
 * snapshot). key/value slices are valid until the next move. */
int engine_iter_new(struct engine *e, const struct engine_snapshot *snap, struct engine_iter **out) KV_MUST_USE;
bool engine_iter_valid(struct engine_iter *it);
void engine_iter_seek_first(struct engine_iter *it);
void engine_iter_seek_last(struct engine_iter *it);
void engine_iter_seek(struct engine_iter *it, struct kv_slice key);   /* first key >= key */
void engine_iter_next(struct engine_iter *it);
void engine_iter_prev(struct engine_iter *it);
struct kv_slice engine_iter_key(struct engine_iter *it);
struct kv_slice engine_iter_value(struct engine_iter *it);
int engine_iter_status(struct engine_iter *it);
void engine_iter_free(struct engine_iter *it);

/* Flushes the memtable to an L0 table and waits for it. */
int engine_flush(struct engine *e) KV_MUST_USE;
/* Compacts every level overlapping [begin, end) (NULL slices: unbounded) and waits. */
int engine_compact_range(struct engine *e, const struct kv_slice *begin, const struct kv_slice *end) KV_MUST_USE;

struct engine_level_stats {
    uint32_t files;
    uint64_t bytes;
};
struct engine_stats {
    struct engine_level_stats levels[ENGINE_LEVELS];
    uint64_t memtable_bytes;
    uint64_t user_bytes_written;     /* keys + values accepted by writes */
    uint64_t wal_bytes_written;
    uint64_t flush_bytes_written;
    uint64_t compaction_bytes_written;
    uint64_t compaction_bytes_read;
    double write_amplification;      /* (wal + flush + compaction bytes) / user bytes */
    uint64_t cache_hits;
    uint64_t cache_misses;
    double cache_hit_rate;
    uint64_t flushes;
    uint64_t compactions;
    uint64_t write_stalls_ms;
    uint64_t last_seq;
    uint64_t wal_dropped_bytes;      /* torn tail dropped at the last open */
    int background_error;            /* KV_OK or the error that stopped background work */
};
void engine_get_stats(struct engine *e, struct engine_stats *out);

#endif
