/*
 * eb_engine.h - the adapter interface of engine_bench: one const ops
 * struct per storage engine (ringkv, LevelDB, RocksDB), so that the
 * workloads in engine_bench.c are written once and every engine receives
 * exactly the same sequence of calls.
 *
 * Each adapter opens its engine with that engine's default options and
 * changes only what the benchmark fixes for all of them: create the DB if
 * it is missing, keep the WAL on, do not sync on write. No tuning either
 * way (no cache size, no compression choice, no bloom filter added).
 *
 * Threading: open and close are called from one thread. put, get and scan
 * may run from two threads at once on one db (readwhilewriting); all three
 * engines are thread-safe for that. Each thread passes its own scratch.
 *
 * Errors: KV_OK or a negative KV_E* from common/status.h. The adapter logs
 * the engine's own error text once, where it sees it; the driver stops
 * the workload at the first error.
 *
 * Ownership: open hands out a db that close frees. Slices passed in are
 * borrowed for the call only.
 */
#ifndef RINGKV_BENCH_EB_ENGINE_H
#define RINGKV_BENCH_EB_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"

/* An open engine. Never completed: each adapter casts it to its own type. */
struct eb_db;

struct eb_engine_ops {
    const char *name; /* "ringkv", "leveldb", "rocksdb": the --engines spelling */
    /* Library version as text ("7.8.3"); a static string, never NULL. */
    const char *(*version)(void);
    /* Opens (creating) the engine in dir, which may not exist yet. */
    int (*open)(const char *dir, struct eb_db **out);
    /* Waits for the engine's background work and frees db. */
    int (*close)(struct eb_db *db);
    int (*put)(struct eb_db *db, struct kv_slice key, struct kv_slice value);
    /*
     * Point read. KV_OK with the value's length in *value_len_out,
     * KV_ENOTFOUND, or an error. scratch is the calling thread's buffer;
     * an adapter whose API copies the value out reuses it across calls.
     */
    int (*get)(struct eb_db *db, struct kv_slice key, struct kv_buf *scratch, size_t *value_len_out);
    /*
     * Forward scan from the first key through at most limit entries,
     * positioning on every entry and taking its key and value (as
     * db_bench's readseq does). Writes the entries seen and their
     * key + value bytes.
     */
    int (*scan)(struct eb_db *db, uint64_t limit, uint64_t *entries_out, uint64_t *bytes_out);
};

extern const struct eb_engine_ops eb_ringkv_ops;
#ifdef EB_HAVE_LEVELDB
extern const struct eb_engine_ops eb_leveldb_ops;
#endif
#ifdef EB_HAVE_ROCKSDB
extern const struct eb_engine_ops eb_rocksdb_ops;
#endif

#endif
