/*
 * sim_aae.h - replicas running anti-entropy (coordinator/aae.h) on the
 * simulator, and the checks the anti-entropy tests and aae_report need.
 *
 * Node i is "n<i>" (also its simulator address). Each runs the real aae
 * over its own real storage engine (an in-memory env, or a POSIX
 * directory for measurements); every message is encoded, carried by the
 * simulator (delay, loss, duplicates, reordering, cuts) and decoded.
 * The ring is fixed: created once from all nodes (Q partitions, N).
 *
 * Writes do not go through the quorum coordinator (coordinator/coord.h):
 * sa_write plays what a coordinated write leaves behind - the coordinator
 * makes the new version of the key (its blind update, actor = node + 1)
 * and the replicas in a mask merge it - and reports every change to the
 * nodes' aae, as the node will once the coordinator calls
 * aae_note_write. That lets a test decide exactly which replica missed
 * which write.
 *
 * Crash: the aae is freed and, with power_loss (in-memory engines only),
 * everything the engine had not synced is dropped, as when a machine
 * dies (the engines sync every write by default, so that is little).
 * Restart: the same files, a new aae that rebuilds its trees. Wipe: a
 * crash that also loses every file (a replaced disk), then a restart.
 *
 * Time: the aae's `now` is the simulator's virtual ms. After calling an
 * aae from outside its handlers (sa_repair), the node is rearmed here.
 */
#ifndef RINGKV_TESTS_SIM_SIM_AAE_H
#define RINGKV_TESTS_SIM_SIM_AAE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "coordinator/aae.h"
#include "gossip/ring.h"
#include "storage/engine.h"
#include "tests/sim/sim.h"

#define SA_NODES_MAX 8u

struct sa_config {
    uint32_t n_nodes;           /* 1 .. SA_NODES_MAX */
    uint32_t n_val;             /* N */
    uint32_t partitions;        /* Q */
    const char *posix_dir;      /* NULL: in-memory engines; else node dirs under it */
    enum engine_sync sync;      /* engine sync mode */
    bool power_loss;            /* a crash drops unsynced engine data (in memory only) */
    size_t memtable_bytes;
    struct aae_config aae;      /* template: node_id, partitions, engine, ops, seed set per node */
};

/* 3 nodes, N = 3, Q = 16, in-memory engines with sync ALWAYS and power
 * loss on crashes; aae
 * defaults scaled to a simulated minute: exchanges every 5 s, 1 s
 * request timeouts, 2 s failure backoff, 1 MiB/s budget, no verify. */
void sa_config_defaults(struct sa_config *cfg);

struct sa_cluster;

/* Registers the nodes with sim (which must be empty) and starts them. */
int sa_create(struct sim *sim, const struct sa_config *cfg, struct sa_cluster **out) KV_MUST_USE;
void sa_free(struct sa_cluster *c);

uint32_t sa_nodes(const struct sa_cluster *c);
const struct ring *sa_ring(const struct sa_cluster *c);
bool sa_running(const struct sa_cluster *c, uint32_t node);
/* The node's aae / engine, or NULL while it is down. */
struct aae *sa_aae(struct sa_cluster *c, uint32_t node);
struct engine *sa_engine(struct sa_cluster *c, uint32_t node);
/* Bit i set for node i in the key's N primaries. */
uint32_t sa_replica_mask(const struct sa_cluster *c, struct kv_slice key);

/*
 * A coordinated write of key (value, or a delete when value is NULL)
 * that reached the replicas in `mask` (bits of running nodes; others are
 * skipped): the coordinator (which must be running and in the mask)
 * makes the new version over what it holds, the others merge it.
 */
int sa_write(struct sa_cluster *c, uint32_t coordinator, uint32_t mask, struct kv_slice key,
             const char *value) KV_MUST_USE;
/* The same for many keys at once, with engine batches and without the
 * read of the old object (keys must be new at every replica): the bulk
 * load of the measurements. Before sa_start (no aae yet) or after. */
int sa_load(struct sa_cluster *c, uint32_t coordinator, uint32_t mask, const struct kv_slice *keys, uint32_t n,
            struct kv_slice value) KV_MUST_USE;

/* The node's object for key (*found false if none). */
int sa_read(struct sa_cluster *c, uint32_t node, struct kv_slice key, struct kv_buf *out, bool *found) KV_MUST_USE;
/* Visible siblings of the node's object at key (0: absent or deleted),
 * and, when vals is not NULL, their values appended to vals separated by '|'. */
uint32_t sa_visible(struct sa_cluster *c, uint32_t node, struct kv_slice key, struct kv_buf *vals);

void sa_crash(struct sa_cluster *c, uint32_t node);
void sa_restart(struct sa_cluster *c, uint32_t node);
void sa_wipe(struct sa_cluster *c, uint32_t node);

/* aae_repair on the node for every partition (NULL peer: all), then rearm. */
void sa_repair(struct sa_cluster *c, uint32_t node);

/* Keys (summed over partitions) on which some running primary's object
 * differs from another's or is missing there (reads every engine). */
uint64_t sa_diverging_keys(struct sa_cluster *c);
/* Every running node's trees are built and, for every partition, equal
 * across its running primaries. Cheap: roots only. */
bool sa_trees_agree(struct sa_cluster *c);
/* sa_trees_agree and sa_diverging_keys == 0. */
bool sa_converged(struct sa_cluster *c);

struct sa_stats {
    uint64_t decode_errors;     /* messages that did not decode */
    uint64_t rejected;          /* aae_handle_message refused */
    uint64_t bytes;             /* encoded message bytes carried */
    uint64_t messages;
};
void sa_get_stats(const struct sa_cluster *c, struct sa_stats *out);
/* Sum of the running nodes' aae stats. */
void sa_aae_stats_sum(struct sa_cluster *c, struct aae_stats *out);

#endif
