/*
 * engine.h - the public interface of ringkv's LSM storage engine.
 *
 * An engine owns one directory: write-ahead logs, a manifest, and leveled
 * SSTables (file names and formats: storage/FORMAT.md). Keys and values
 * are arbitrary bytes (ENGINE_KEY_BYTES_MAX, ENGINE_VALUE_BYTES_MAX);
 * keys sort in memcmp order. The engine knows nothing about the cluster.
 *
 * Durability: engine_write returns after the batch is in the WAL and
 * handed to the OS (so killing the process loses nothing acknowledged).
 * With ENGINE_SYNC_ALWAYS it also returns only after fdatasync; concurrent
 * writers are group-committed behind one leader (one fsync per group).
 * With ENGINE_SYNC_PERIODIC a background thread syncs every
 * sync_interval_ms. ENGINE_SYNC_NONE leaves syncing to the OS. In every
 * mode a power loss keeps a prefix of the writes (a log is synced before
 * the next one is started), never a state with a hole.
 *
 * Errors: a failed WAL write or sync, or a failed flush or compaction,
 * stops the engine for writes: every later write returns that error (also
 * reported as engine_stats.background_error); reads keep working. Reopen
 * to recover. Damaged files give KV_ECORRUPT, from open or from the read
 * that meets them, never wrong data.
 *
 * Threading: every function is thread-safe, except that engine_close must
 * not run concurrently with any other call on the same engine. Reads take
 * the engine lock only to pin the current memtables and version. Flush
 * and compaction run in one background thread; writes slow down (1 ms
 * each) at level0_slowdown_trigger level-0 tables and wait at
 * level0_stop_trigger. Ownership: objects returned through `out` are the
 * caller's and are released with the matching _free/_release/_close. A
 * snapshot or iterator must be released before engine_close.
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
 * compaction (or flush) writes, when that version is visible to every
 * snapshot (so no snapshot can see an older state), with the level the
 * output goes to. Used for TTL expiry and tombstone purge. DROP removes
 * the entry; if a deeper level may still hold older versions of the key,
 * it is replaced by a point tombstone so they stay hidden. A filter only
 * sees data when background work rewrites it: use engine_compact_range to
 * force that. Must be thread-safe and fast; runs on the background thread.
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
    /* Default 4 MiB (LevelDB's size); flush when exceeded. Not the 64 MiB
     * first planned: a skiplist that outgrows the CPU caches pays a cache
     * miss per level on every insert and point read, and big level-0
     * tables leave more overlapping versions for scans to skip. Measured
     * with engine_bench --num 1000000 against 64 MiB: fillrandom ~1.6x,
     * readrandom ~1.1x, readseq ~2x faster. */
    size_t memtable_bytes;
    /* Default 64 MiB. Holds data blocks of tables read with pread only:
     * on an env that maps files (the POSIX env) tables are read in place
     * from the page cache and this cache stays empty. */
    size_t block_cache_bytes;
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

/*
 * Opens (creating dir and the engine if create_if_missing) the engine in
 * dir: reads the manifest, replays the logs into a new level-0 table, and
 * starts a new log and manifest. The recovery's cost is bounded by the
 * logs, themselves bounded by about memtable_bytes. KV_EBUSY if the
 * directory's LOCK is held (by any process, this one included);
 * KV_ENOTFOUND if there is no engine and create_if_missing is false;
 * KV_EEXIST if there is one and error_if_exists is true; KV_ECORRUPT if
 * CURRENT, the manifest, a log or the set of files is damaged beyond the
 * torn-tail policy (storage/FORMAT.md, "Directory"); KV_EIO. o may be
 * NULL (the defaults). On failure *out is untouched.
 */
int engine_open(const char *dir, const struct engine_options *o, struct engine **out) KV_MUST_USE;
/* Stops background work (a running compaction is abandoned; its work is
 * redone later), syncs the WAL, releases LOCK and frees e, even when it
 * returns an error: the background error that stopped the engine, or the
 * status of the final sync. NULL is a no-op. */
int engine_close(struct engine *e);

/* One-record writes (a batch of one, see engine_write). KV_ETOOBIG for a
 * key or value over its limit. */
int engine_put(struct engine *e, struct kv_slice key, struct kv_slice value) KV_MUST_USE;
int engine_delete(struct engine *e, struct kv_slice key) KV_MUST_USE;
/* Deletes every key in [begin, end) with one range tombstone: O(1) to
 * write; reads pay for tombstones until compactions drop them. begin > end
 * is KV_EINVAL; begin == end deletes nothing. */
int engine_delete_range(struct engine *e, struct kv_slice begin, struct kv_slice end) KV_MUST_USE;

/* Reads the value visible at snap (NULL: latest) into value_out (replacing
 * its content). KV_ENOTFOUND if absent or deleted, KV_ETOOBIG for an
 * oversized key, KV_ECORRUPT if a table holding it is damaged. On any
 * status but KV_OK the content of value_out is unspecified (the search
 * writes into it directly, to save a copy). The lookup key is built on
 * the stack for keys up to 248 bytes. */
int engine_get(struct engine *e, const struct engine_snapshot *snap, struct kv_slice key,
               struct kv_buf *value_out) KV_MUST_USE;

/* Atomic write batches: all or none of the batch is applied and
 * recovered; the records get consecutive sequence numbers in order (a
 * later record on the same key wins). Adding a record fails (and adds
 * nothing) with KV_ETOOBIG past the key, value or ENGINE_BATCH_BYTES_MAX
 * limits. engine_write of an empty batch does nothing. A batch may be
 * reused after engine_write returns; it is never modified by it. */
int engine_batch_new(struct engine_batch **out) KV_MUST_USE;
int engine_batch_put(struct engine_batch *b, struct kv_slice key, struct kv_slice value) KV_MUST_USE;
int engine_batch_delete(struct engine_batch *b, struct kv_slice key) KV_MUST_USE;
int engine_batch_delete_range(struct engine_batch *b, struct kv_slice begin, struct kv_slice end) KV_MUST_USE;
void engine_batch_clear(struct engine_batch *b);
uint32_t engine_batch_count(const struct engine_batch *b);
void engine_batch_free(struct engine_batch *b);
int engine_write(struct engine *e, const struct engine_batch *b) KV_MUST_USE;

/* A consistent read view: reads at it see every write acknowledged
 * before it was taken and none after. Holding one keeps compactions from
 * dropping the versions it sees. */
int engine_snapshot_new(struct engine *e, struct engine_snapshot **out) KV_MUST_USE;
void engine_snapshot_release(struct engine *e, struct engine_snapshot *s);

/* Iterator over live keys in memcmp order at snap (NULL: a new implicit
 * snapshot), in both directions. It pins the tables it reads: release it
 * soon. key/value slices are valid until the next move. Errors make it
 * invalid; engine_iter_status tells them from the end. One thread at a time. */
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

/* Writes the memtable to a table and waits for it (at level 0, or deeper
 * when it overlaps nothing there). KV_OK at once when there is nothing to
 * flush; the background error if one stops the engine. */
int engine_flush(struct engine *e) KV_MUST_USE;
/* Flushes, then compacts every level overlapping [begin, end] (NULL:
 * unbounded) into the next, down to the deepest level holding such keys,
 * and waits. Tombstones and filtered entries are dropped on the way. */
int engine_compact_range(struct engine *e, const struct kv_slice *begin, const struct kv_slice *end) KV_MUST_USE;

struct engine_level_stats {
    uint32_t files;
    uint64_t bytes;
};
/* Counters are since this open. */
struct engine_stats {
    struct engine_level_stats levels[ENGINE_LEVELS];
    uint64_t memtable_bytes;
    uint64_t user_bytes_written;     /* keys + values accepted by writes */
    uint64_t wal_bytes_written;
    uint64_t wal_syncs;              /* fdatasyncs of logs (group commit: writes per sync) */
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
    uint64_t wal_dropped_bytes;      /* torn log tails dropped at this open */
    int background_error;            /* KV_OK or the error that stopped background work */
};
void engine_get_stats(struct engine *e, struct engine_stats *out);

#endif
