/*
 * engine_internal.h - the engine object shared by engine.c (open, close,
 * recovery, stats), engine_write.c (write path, memtable switch, periodic
 * sync), engine_bg.c (background flush and compaction) and engine_read.c
 * (get, snapshots, iterators). Not for other modules.
 *
 * Locking:
 *   mu      guards everything below not marked otherwise. Held briefly:
 *           never across file I/O except where a comment says so.
 *   wal_mu  guards the WAL writer (wal, wal_dirty, wal_syncing): the
 *           write leader appends (and with sync=always syncs) under it, the
 *           memtable switch replaces it under it. The periodic-sync thread
 *           only marks wal_syncing under it and runs fdatasync without it,
 *           so a slow sync never blocks the writers (the event loop).
 *           Order: mu before wal_mu.
 * Readers take references on mem, imm and the current version under mu,
 * then read without any lock (memtables and versions are safe to read
 * concurrently with the one writer).
 */
#ifndef RINGKV_STORAGE_ENGINE_INTERNAL_H
#define RINGKV_STORAGE_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "storage/cache.h"
#include "storage/compaction.h"
#include "storage/engine.h"
#include "storage/memtable.h"
#include "storage/table_cache.h"
#include "storage/version.h"
#include "storage/wal.h"

/* The group-commit leader merges queued batches into one WAL record up to
 * this size; a small first batch only takes ENGINE_GROUP_SMALL_EXTRA_BYTES
 * more, so a small write is not delayed behind a large group. */
#define ENGINE_GROUP_BYTES_MAX (1024u * 1024u)            /* 1 MiB */
#define ENGINE_GROUP_SMALL_BYTES (128u * 1024u)           /* 128 KiB */
#define ENGINE_GROUP_SMALL_EXTRA_BYTES (128u * 1024u)     /* 128 KiB */
#define ENGINE_SLOWDOWN_SLEEP_US 1000                     /* per write at the slowdown trigger */
#define ENGINE_OPEN_TABLES_DEFAULT 1000
/* Point reads copy the lookup key to the stack up to this size. */
#define ENGINE_LOOKUP_STACK_BYTES 256

/* A memtable with the engine's bookkeeping. References are atomic. */
struct engine_mem {
    struct memtable *mt;
    atomic_int refs;
    atomic_uint range_dels;     /* range tombstones added (readers skip the list when 0) */
    uint64_t log_number;        /* the WAL its writes went to first */
};

int engine_mem_new(uint64_t log_number, struct engine_mem **out) KV_MUST_USE;
static inline void engine_mem_ref(struct engine_mem *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }
void engine_mem_unref(struct engine_mem *m);
static inline bool engine_mem_empty(struct engine_mem *m)
{
    return memtable_entries(m->mt) == 0 && atomic_load_explicit(&m->range_dels, memory_order_acquire) == 0;
}
/* Applies an encoded batch (already checked) to m with its seqs. */
int engine_mem_apply(struct engine_mem *m, struct kv_slice rep) KV_MUST_USE;

/* A queued writer; lives on its thread's stack. */
struct engine_writer {
    const struct engine_batch *batch;   /* NULL: a flush request */
    int status;
    bool done;
    pthread_cond_t cv;
    struct engine_writer *next;
};

struct engine_snapshot {
    uint64_t seq;
    struct engine_snapshot *prev;
    struct engine_snapshot *next;
};

/* A manual compaction request (engine_compact_range), one level at a time. */
struct engine_manual {
    int level;
    const struct kv_slice *begin;
    const struct kv_slice *end;
    bool done;
    int status;
};

struct engine_counters {
    uint64_t user_bytes_written;
    uint64_t wal_bytes_written;
    uint64_t flush_bytes_written;
    uint64_t compaction_bytes_written;
    uint64_t compaction_bytes_read;
    uint64_t flushes;
    uint64_t compactions;
    uint64_t write_stalls_ms;
    uint64_t wal_dropped_bytes;
};

struct engine {
    char *dir;
    struct engine_options o;
    struct env *env;
    struct env_file *lock;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;          /* wakes the background thread */
    pthread_cond_t done_cv;          /* broadcast after each background job */
    struct version_set *vs;
    struct cache *block_cache;
    struct table_cache *tables;
    struct engine_mem *mem;
    struct engine_mem *imm;          /* being flushed, or NULL */
    atomic_bool imm_pending;         /* imm != NULL, readable without mu */

    pthread_mutex_t wal_mu;
    struct wal_writer *wal;
    bool wal_dirty;                  /* appended since the last sync */
    /* The periodic-sync thread is running env_sync on wal's file without
     * wal_mu (so appends go on meanwhile); whoever replaces wal waits on
     * wal_cv until it is false before closing the old writer. */
    bool wal_syncing;
    pthread_cond_t wal_cv;
    atomic_uint_fast64_t wal_syncs;  /* statistics; any thread */

    struct engine_writer *writers;   /* queue head: the leader */
    struct engine_writer *writers_tail;
    struct kv_buf group;             /* the leader's merged record (leader only) */

    struct engine_snapshot snapshots; /* sentinel of a list in seq order */
    int live_iters;

    pthread_t bg_thread;
    bool bg_started;
    pthread_t sync_thread;
    bool sync_started;
    pthread_cond_t sync_cv;
    atomic_bool closing;
    int bg_error;                    /* sticky: writes and background work stop */
    struct engine_manual *manual;
    struct engine_counters n;
};

/* engine.c */
/* Deletes files no live version, log or manifest needs. mu held (released during I/O). */
void engine_delete_obsolete(struct engine *e);
void engine_set_bg_error(struct engine *e, int rc);   /* mu held */
/* The seq below which no snapshot needs older versions. mu held. */
uint64_t engine_smallest_snapshot(struct engine *e);
/* Fills the parts of compaction_io that come from options. */
void engine_compaction_io(struct engine *e, struct compaction_io *io);

/* engine_write.c */
/* Makes room in mem (maybe switching to a new memtable and WAL); mu held,
 * called by the write leader. force: switch even if mem is not full. */
int engine_make_room(struct engine *e, bool force) KV_MUST_USE;
int engine_write_queued(struct engine *e, const struct engine_batch *b) KV_MUST_USE;
int engine_new_wal(struct engine *e, uint64_t number) KV_MUST_USE;
void *engine_sync_main(void *arg);

/* engine_read.c */
/* What a read sees: the snapshot seq and references on the memtables and
 * the current version, taken together under mu. */
struct engine_view {
    uint64_t seq;
    struct engine_mem *mem;
    struct engine_mem *imm;          /* may be NULL */
    struct version *v;
};
void engine_view_acquire(struct engine *e, const struct engine_snapshot *snap, struct engine_view *rv);
void engine_view_release(struct engine_view *rv);

/* engine_bg.c */
void *engine_bg_main(void *arg);
/* Flushes imm; mu held (released during I/O). */
int engine_flush_imm(struct engine *e) KV_MUST_USE;

#endif
