/*
 * kvbench_run.h - the load loop of kvbench: closed-loop clients over the
 * native protocol.
 *
 * Each worker thread owns some connections and drives them with one epoll
 * loop. A connection keeps `pipeline` requests outstanding: when a reply
 * arrives its latency is recorded (send to reply, in ns, in the thread's
 * histograms) and the next operation of the workload is sent at once, so
 * the offered load is whatever the node sustains (closed loop). Frames
 * are the SDK's (rpc/frame.h + protobuf-c); connecting and the hello use
 * client/conn.h, then the socket is driven here without blocking.
 *
 * Workloads (YCSB core, https://github.com/brianfrankcooper/YCSB/wiki/Core-Workloads):
 *   a  50% read, 50% update          keys: scrambled zipfian
 *   b  95% read, 5% update           keys: scrambled zipfian
 *   c  100% read                     keys: scrambled zipfian
 *   d  95% read, 5% insert           reads: latest (newest keys hottest); inserts: new keys
 *   f  50% read, 50% read-modify-write (a get, then a put of the same key;
 *      one operation, timed from the get's send to the put's reply)
 *   set  100% update, get  100% read  keys: uniform (like redis-benchmark -r)
 * Every workload but set first needs its keys: the load phase writes keys
 * 0..keys-1 once (a put each, pipelined) unless --no-load says they are there.
 *
 * Phases (struct kvb_shared.phase, set by the main thread): LOAD, WARMUP
 * (ops run but are not recorded), MEASURE, STOP (no new ops; outstanding
 * ones finish). Only operations sent during MEASURE and answered before
 * its end are recorded.
 *
 * SDK mode (--sdk): instead of raw pipelined connections, each worker
 * thread drives one libringkv client (client/ringkv.h) with blocking
 * calls, so `connections` clients in as many threads, one operation
 * outstanding each. The SDK routes each key to a primary replica unless
 * routing is off (--no-routing), and fails over across the hosts given
 * (--host takes a comma-separated list here). This is what an application
 * sees, retries and routing included.
 *
 * Threading: a struct kvb_thread is touched by its worker, except the
 * atomic progress counters, read by the main thread once per second.
 */
#ifndef RINGKV_BENCH_KVBENCH_RUN_H
#define RINGKV_BENCH_KVBENCH_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench/kvbench_gen.h"
#include "bench/kvbench_hist.h"
#include "common/status.h"
#include "common/clock.h"

#define KVB_KEY_BYTES 16           /* "key:%012llu" */
#define KVB_PIPELINE_MAX 1024u
#define KVB_READ_BYTES (64u * 1024u)
#define KVB_EPOLL_EVENTS 64
#define KVB_POLL_MS 20             /* how soon a worker notices a phase change when idle */
#define KVB_SDK_CLIENTS_MAX 256u   /* --sdk: one thread per client */

enum kvb_workload { KVB_A, KVB_B, KVB_C, KVB_D, KVB_F, KVB_SET, KVB_GET, KVB_WORKLOAD_COUNT };
enum kvb_op { KVB_OP_READ, KVB_OP_UPDATE, KVB_OP_INSERT, KVB_OP_RMW, KVB_OP_COUNT };
enum kvb_phase { KVB_LOAD, KVB_WARMUP, KVB_MEASURE, KVB_STOP };

extern const char *const kvb_workload_names[KVB_WORKLOAD_COUNT];
extern const char *const kvb_op_names[KVB_OP_COUNT];

struct kvb_config {
    const char *host;           /* HOST:PORT */
    const char *cluster;
    const char *user;           /* --user; NULL: no credentials in the Hello */
    const char *password;       /* first line of --password-file; NULL: none */
    enum kvb_workload workload;
    uint64_t keys;
    uint32_t value_bytes;
    uint64_t ops;               /* measured ops; 0: run for duration_ms */
    uint64_t duration_ms;
    uint64_t warmup_ms;
    uint32_t threads;
    uint32_t connections;       /* in total, spread over the threads */
    uint32_t pipeline;          /* outstanding requests per connection */
    bool load;                  /* run the load phase */
    bool sdk;                   /* drive libringkv clients, one per thread (SDK mode) */
    bool routing;               /* SDK mode: preference-list routing (rkv_options.routing_off) */
    bool json;
    uint64_t seed;
};

/* State shared by all workers. */
struct kvb_shared {
    const struct kvb_config *cfg;
    _Atomic int phase;
    _Atomic uint64_t measure_start_ns;
    _Atomic uint64_t measure_end_ns;   /* duration mode: replies after it are not recorded */
    _Atomic uint64_t ops_issued;       /* ops mode: measured ops handed out */
    _Atomic uint64_t next_key;         /* load: next key to write; D: next key to insert */
    _Atomic uint64_t inserted;         /* D: keys that exist (load + acknowledged inserts) */
};

struct kvb_conn;
struct rkv_client;

struct kvb_thread {
    struct kvb_shared *sh;
    pthread_t tid;
    int epfd;
    struct kvb_conn *conns;
    uint32_t nconns;
    struct rkv_client *client;         /* SDK mode; NULL otherwise */
    struct kv_rand rand;
    struct kvb_scrambled zipf;
    struct kvb_zipf latest;
    char *value;                       /* value_bytes printable bytes */
    char *rbuf;                        /* KVB_READ_BYTES, shared by this thread's connections */
    struct kvb_hist hist[KVB_OP_COUNT];
    uint64_t errors[KVB_OP_COUNT];     /* non-zero reply statuses (recorded phase) */
    uint64_t not_found;                /* reads of missing keys (recorded phase) */
    uint64_t last_reply_ns;
    int fatal;                         /* KV_OK, or what stopped this worker */
    char fatal_msg[256];
    _Atomic bool finished;             /* the worker has returned */
    _Atomic uint64_t progress_ops;     /* replies, any phase */
    _Atomic uint64_t progress_lat_ns;  /* sum of their latencies */
};

/* Connects nconns connections (blocking, with hello), or in SDK mode one
 * client, and sets up t.
 * KV_OK, or an error with t->fatal_msg set. */
int kvb_thread_init(struct kvb_thread *t, struct kvb_shared *sh, uint32_t index,
                    uint32_t nconns) KV_MUST_USE;
void kvb_thread_free(struct kvb_thread *t);

/* The worker: runs the current phase until it stops (LOAD: until every key
 * is written; otherwise until phase STOP or the op budget is spent). */
void *kvb_thread_main(void *arg);

#endif
