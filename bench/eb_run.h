/*
 * eb_run.h - the child side of engine_bench: the db_bench-style
 * workloads, the keys and values they write, and the loop that runs a
 * list of workloads on one engine and reports each result down a pipe.
 *
 * Workloads (one thread unless stated):
 *   fillseq           num puts, keys 0..num-1 in order, into an empty DB
 *   fillrandom        num puts of uniformly random keys in [0, num) into an
 *                     empty DB (so about 63% of the num keys end up present)
 *   overwrite         num random puts into the DB as left
 *   readrandom        num gets of random keys in [0, num)
 *   readseq           one iterator from the first key, up to num entries
 *   readwhilewriting  one reader thread does num random gets while one
 *                     writer thread puts random keys as fast as it can
 *                     until the reader is done; the reader's rate is reported
 * Fill workloads close the engine, delete its directory and reopen it;
 * the others reuse the open engine (or open an existing DB if they come
 * first). Random keys come from the seed and the workload's position in
 * the list, so every engine gets the same keys in the same order.
 * Timings cover the operations only: not open/close, nor background work
 * still pending when the last operation returns.
 *
 * Threading: eb_run_engine runs on the calling thread (plus one writer
 * thread in readwhilewriting); the driver calls it in a forked child.
 */
#ifndef RINGKV_BENCH_EB_RUN_H
#define RINGKV_BENCH_EB_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/eb_engine.h"
#include "common/status.h"

#define EB_KEY_BYTES 16 /* "%016llu" of the key number */
#define EB_SLOTS_MAX 32 /* workloads in one run list */

/*
 * Values are windows of value_bytes into one read-only pool of 100-byte
 * pieces, each 50 random printable bytes repeated once: a compressor
 * halves them, like db_bench's default --compression_ratio=0.5.
 */
struct eb_values {
    char *pool;
    size_t pool_bytes;
};

/* Builds the pool from seed (KV_ENOMEM on failure); eb_run_values_free releases it. */
int eb_run_values_build(struct eb_values *v, uint64_t seed, uint32_t value_bytes) KV_MUST_USE;
void eb_run_values_free(struct eb_values *v);

/* One workload's outcome. Sent child -> parent as raw bytes: fixed size,
 * well under PIPE_BUF, same binary on both ends. */
struct eb_result {
    uint32_t slot;           /* position in the run list */
    int32_t status;          /* KV_OK or the error that stopped the workload */
    uint64_t ops;
    uint64_t found;          /* point reads that found their key */
    uint64_t bytes;          /* key + value bytes written or read */
    uint64_t elapsed_ns;
    uint64_t cpu_ns;         /* user + system CPU of the whole process (every
                              * thread, background work included) meanwhile */
    uint64_t writes_during;  /* readwhilewriting: the writer's puts */
};

struct eb_run;

struct eb_workload {
    const char *name;
    bool fresh_db;     /* starts from an empty DB */
    bool point_reads;  /* result.found counts hits among result.ops gets */
    bool scan;         /* result.ops counts the entries an iterator saw */
    int (*run)(struct eb_run *r, struct eb_result *res);
};

/* All workloads, in the default run order; *count_out gets their number. */
const struct eb_workload *eb_run_workloads(size_t *count_out);
/* The workload called name, or NULL. */
const struct eb_workload *eb_run_find_workload(const char *name);

struct eb_run_spec {
    uint64_t num;            /* operations per workload */
    uint32_t value_bytes;
    uint64_t seed;
    const struct eb_workload *slots[EB_SLOTS_MAX];
    size_t slot_count;
};

/*
 * Runs spec's workloads in order on the engine ops in dir (created if
 * missing), writing one struct eb_result to result_fd for each workload
 * that ran. Stops at the first failure, which it logs. KV_OK when every
 * workload ran; the engine is closed either way.
 */
int eb_run_engine(const struct eb_engine_ops *ops, const char *dir, const struct eb_run_spec *spec,
                  const struct eb_values *values, int result_fd) KV_MUST_USE;

/* rm -rf dir (a missing dir is fine); KV_EIO, logged, if anything stays. */
int eb_run_remove_dir(const char *dir) KV_MUST_USE;
/* mkdir dir (one level; an existing dir is fine). */
int eb_run_make_dir(const char *dir) KV_MUST_USE;

#endif
