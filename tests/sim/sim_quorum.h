/*
 * sim_quorum.h - a cluster of quorum coordinators on the simulator.
 *
 * Node i is "n<i>" (also its simulator address). Each node runs the real
 * coordinator (coordinator/coord.h) in cluster mode over its own real
 * storage engine, on an in-memory env wrapped by the fault env; every
 * message is encoded to cluster.proto bytes, carried by the simulator
 * (delay, loss, duplicates, reordering, cuts) and decoded, so the wire
 * form is exercised too.
 *
 * Ring: fixed, created once from all nodes (Q partitions, N = n_val).
 * Liveness: instead of running gossip, each node keeps a view of which
 * peers are up that lags the truth (up, and not cut either way from the
 * observer): every detect_ms each wrong entry catches up with probability
 * detect_p. So views are stale for a while after every crash, restart,
 * partition and heal - the coordinator must stay correct however wrong
 * they are; they only decide where writes go.
 *
 * Crash: the coordinator is freed (its requests die without callbacks,
 * like a killed process's connections) and, with power_loss, everything
 * the engine had not synced is dropped (engines sync every write, so
 * acknowledged data must survive). Restart: a fresh engine and coordinator
 * on the same files.
 *
 * Time: the coordinators' clock is the simulator's (mono = virtual ms,
 * wall = SQ_EPOCH_MS + virtual ms + the node's skew, see sq_set_skew). After calling a coordinator from
 * outside its handlers (a client request from a sim_at callback), call
 * sq_rearm so its next tick is scheduled.
 */
#ifndef RINGKV_TESTS_SIM_SIM_QUORUM_H
#define RINGKV_TESTS_SIM_SIM_QUORUM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "coordinator/coord.h"
#include "gossip/ring.h"
#include "tests/sim/sim.h"

#define SQ_NODES_MAX 16u
#define SQ_EPOCH_MS 1700000000000ull /* wall clock at virtual time 0 */
#define SQ_SKEW_MS_MAX (24ll * 3600 * 1000) /* clock skew a node may be given, either way */

struct sq_config {
    uint32_t n_nodes;          /* 1 .. SQ_NODES_MAX */
    uint32_t n_val;            /* N */
    uint32_t partitions;       /* Q */
    uint32_t detect_ms;        /* liveness views are refreshed this often */
    double detect_p;           /* chance a wrong view entry catches up at a refresh */
    bool power_loss;           /* a crash drops unsynced engine data */
    bool torn_writes;          /* ... keeping a random, torn part of it (env_fault_drop_unsynced_torn) */
    struct coord_config coord; /* template: node_id, engine, clock, ops, seed are set per node */
};

/* 5 nodes, N = 3, Q = 16, views refreshed every 250 ms with p = 0.5,
 * power loss on, coordinator defaults with shorter hint retries. */
void sq_config_defaults(struct sq_config *cfg);

struct sq_cluster;

/* Registers the nodes with sim (which must be empty) and starts them all. */
int sq_create(struct sim *sim, const struct sq_config *cfg, struct sq_cluster **out) KV_MUST_USE;
void sq_free(struct sq_cluster *c);

uint32_t sq_nodes(const struct sq_cluster *c);
const char *sq_node_id(const struct sq_cluster *c, uint32_t node);
const struct ring *sq_ring(const struct sq_cluster *c);
/* The node's coordinator, or NULL while it is down. */
struct coord *sq_coord(struct sq_cluster *c, uint32_t node);
/* Whether a client may call the node now (running and not paused). */
bool sq_callable(const struct sq_cluster *c, uint32_t node);
/* Schedules the node's next tick after a call from outside its handlers. */
void sq_rearm(struct sq_cluster *c, uint32_t node);

/* Faults, through these so the liveness truth is known. */
void sq_crash(struct sq_cluster *c, uint32_t node);
void sq_restart(struct sq_cluster *c, uint32_t node);
void sq_partition(struct sq_cluster *c, const uint32_t *side, size_t n);
void sq_cut(struct sq_cluster *c, uint32_t from, uint32_t to);
void sq_heal(struct sq_cluster *c);
/* Shifts the node's wall clock (TTLs, hint expiry) by skew_ms, clamped to
 * +-SQ_SKEW_MS_MAX; its monotonic clock stays the simulator's. */
void sq_set_skew(struct sq_cluster *c, uint32_t node, int64_t skew_ms);
/* Disk faults on the node's fault env (a crash clears them: the restarted
 * node gets a working disk). sq_disk_fail: after `after_ops` more mutating
 * calls every one fails with status (KV_ENOSPC: disk full); sq_read_fail:
 * after `after_reads` more reads every read fails with status; sq_disk_heal
 * ends both. */
void sq_disk_fail(struct sq_cluster *c, uint32_t node, long after_ops, int status);
void sq_read_fail(struct sq_cluster *c, uint32_t node, long after_reads, int status);
void sq_disk_heal(struct sq_cluster *c, uint32_t node);
/* Whether the node's engine stopped writing after a disk error (it must
 * be restarted, like a real node whose disk failed). */
bool sq_engine_failed(struct sq_cluster *c, uint32_t node);
/* Every view := the truth, now. */
void sq_views_sync(struct sq_cluster *c);
/* Overrides one view entry (until the next refresh catches up, unless frozen). */
void sq_view_set(struct sq_cluster *c, uint32_t observer, uint32_t target, bool up);
/* Stops (true) or resumes the periodic view refresh. */
void sq_views_freeze(struct sq_cluster *c, bool frozen);

/* The key's preference list (member indexes = node numbers). */
uint32_t sq_preference(const struct sq_cluster *c, struct kv_slice key, uint32_t *out, uint32_t cap);

/* Sum of every running node's coordinator stats (down nodes count 0). */
void sq_stats_sum(struct sq_cluster *c, struct coord_stats *out);
/* Counts of hint keys in the engines of running nodes (reads the engines). */
uint64_t sq_hint_keys(struct sq_cluster *c);
/* The node's own DATA object for key, read straight from its engine.
 * *found false if it has none. The node must be running. */
int sq_local_object(struct sq_cluster *c, uint32_t node, struct kv_slice key, struct kv_buf *out,
                    bool *found) KV_MUST_USE;

struct sq_stats {
    uint64_t decode_errors;   /* messages that did not decode */
    uint64_t rejected;        /* coord_handle_message said KV_EPROTO */
    uint64_t crashes, restarts;
    uint64_t engine_errors;   /* engine open/close failures on restart */
};
void sq_get_stats(const struct sq_cluster *c, struct sq_stats *out);

/* Every node keeps a Merkle tree per partition from its coordinator's
 * write hook (coord.h), rebuilt from its engine at each start. Returns
 * how many (running node, partition) trees differ from a tree rebuilt
 * from the engine now: 0 when the hook reported every DATA write with
 * its exact old and new bytes. O(keys of the running nodes). */
uint32_t sq_hook_tree_mismatches(struct sq_cluster *c);

#endif
