/*
 * aae.h - active anti-entropy: a node's Merkle trees and the exchanges
 * that repair its partitions against their other replicas.
 *
 * One struct aae per node. It keeps a tree (coordinator/merkle.h) for
 * every partition the node is a primary replica of in the current ring,
 * and runs exchanges with the other primaries of each: a sans-I/O state
 * machine driven by aae_handle_message and aae_tick(now), sending
 * struct aae_msg (coordinator/aae_msg.h) through aae_ops.send.
 *
 * An exchange of partition p between this node (initiator) and peer:
 *  1. HASHES: ask for the root; if it equals ours, done ("in sync").
 *     Otherwise ask, level by level, for the children of the nodes that
 *     differed only, down to the leaves: the differing segments.
 *     With the default tree that is 1 + 32 + 32k hashes for k differing
 *     level-1 branches.
 *  2. KEYS: page through the keys of the differing segments: read our
 *     own page (keys + digests), ask the peer for its keys in the same
 *     key range, and compare them in key order.
 *  3. FETCH the peer's objects for keys it has that we lack or hold
 *     differently, and merge each into ours (object_merge: causal,
 *     siblings kept, tombstones win over what they deleted).
 *  4. PUSH our (merged) object for keys the peer lacks or holds
 *     differently; the peer merges them the same way.
 * Then the next page, until the segments' range is covered. Both sides
 * end with the causal merge of both, so one exchange per pair fixes both
 * directions. The responder keeps no state between requests: a request
 * can be lost, duplicated or retried (merges are idempotent).
 *
 * Who initiates: for each partition, the replica with the smaller node
 * id initiates with each larger one (one exchange per pair per period);
 * aae_repair forces exchanges from this node regardless.
 *
 * Budgets: at most exchanges_max exchanges initiated at a time (one per
 * partition); bytes of anti-entropy messages sent and received are
 * metered by a token bucket (bytes_per_sec, burst_bytes): an initiator
 * in debt waits before its next request, a responder in debt answers
 * KV_EBUSY (the initiator backs off busy_backoff_ms and retries). A
 * responder does bounded work per request: a KEYS page reads at most
 * scan_keys_max keys, a reply carries at most batch_bytes_max bytes of
 * keys or objects (one larger object travels alone). A FETCH reply or a
 * PUSH is therefore at most batch_bytes_max plus one object: the node
 * must keep batch_bytes_max + object_bytes_max(value_bytes_max) under
 * its frame limit (the defaults: 1 MiB + 17 MiB < 20 MiB).
 *
 * Trees are rebuilt from the engine when a partition is first held
 * (node start, ring change), build_keys_per_step keys every
 * build_step_ms, one tree at a time, and verified the same way every
 * verify_interval_ms (a mismatch is logged, counted and repaired). A
 * partition whose tree is being rebuilt neither starts exchanges nor
 * answers HASHES (KV_ESTATE), but takes writes and PUSHes.
 *
 * What the node must do (cluster mode; node/aae_net.h does it for kvnode,
 * with the coordinator's writes reported through coord.h's write hook):
 *  - call aae_note_write(a, partition, key, old, new) after every write
 *    of a DATA key to its engine, other than the aae's own writes through
 *    ops.write (coordinated puts, replica puts, read repair, hint
 *    deliveries it accepts, TTL/tombstone purges), with the object bytes
 *    before (len 0: absent) and after (len 0: deleted), on the thread
 *    that drives the aae and before the next aae call;
 *  - provide aae_ops.write: store the merged object for the key (it was
 *    computed from what the engine held just before, on this thread), as
 *    durably as a replica write; it must NOT call aae_note_write (the
 *    aae updates its own tree);
 *  - carry each aae_msg to its node id (aae_msg_encode gives the bytes for
 *    a cluster.proto bytes field) and call aae_handle_message for each
 *    one received, with the sender's authenticated id;
 *  - call aae_tick(now) at or after aae_next_tick_ms, with now from a
 *    monotonic millisecond clock;
 *  - map `kvctl repair [partition|node]` to aae_repair and `kvctl
 *    aae-status` to aae_partition_status / aae_get_stats.
 *
 * Threading: one thread uses a struct aae (the node's event loop). The
 * engine may be shared. Time comes only from the `now` arguments,
 * randomness (exchange ids, schedule jitter) from cfg.rand_seed.
 * Ownership: cfg strings and ops are copied; the engine is borrowed and
 * must outlive the aae (aae_free releases the snapshots it holds).
 */
#ifndef RINGKV_COORDINATOR_AAE_H
#define RINGKV_COORDINATOR_AAE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/slice.h"
#include "common/status.h"
#include "coordinator/aae_msg.h"
#include "gossip/ring.h"
#include "storage/engine.h"

#define AAE_EXCHANGE_INTERVAL_MS_DEFAULT (10ull * 60 * 1000) /* each replica pair every 10 min */
#define AAE_EXCHANGES_MAX_DEFAULT 2u
#define AAE_BYTES_PER_SEC_DEFAULT (8ull * 1024 * 1024)       /* 8 MiB/s in + out */
#define AAE_REQUEST_TIMEOUT_MS_DEFAULT 10000u
#define AAE_RETRIES_MAX_DEFAULT 3u                /* resends of one request before giving up */
#define AAE_BUSY_BACKOFF_MS_DEFAULT 1000u
#define AAE_BUSY_RETRIES_MAX 120u                 /* KV_EBUSY answers to one request */
#define AAE_FAILURE_BACKOFF_MS_DEFAULT 30000u     /* a failed pair is retried after this */
#define AAE_VERIFY_INTERVAL_MS_DEFAULT (24ull * 3600 * 1000) /* each tree once a day */
#define AAE_BUILD_KEYS_PER_STEP_DEFAULT 10000u
#define AAE_BUILD_STEP_MS_DEFAULT 10u
#define AAE_PAGE_KEYS_MAX_DEFAULT 4096u           /* keys compared per KEYS page */
#define AAE_SCAN_KEYS_MAX_DEFAULT 65536u          /* keys read to answer one KEYS request */
#define AAE_BATCH_BYTES_MAX_DEFAULT (1024u * 1024u) /* keys/objects per reply or push */
#define AAE_ALL_PARTITIONS UINT32_MAX

struct aae;

struct aae_ops {
    /* Sends msg to node_id, best effort; msg is valid during the call
     * only. Must not call into the aae. Non-KV_OK counts as lost. */
    int (*send)(void *ctx, const char *node_id, const struct aae_msg *msg);
    /* The newest ring known here, or NULL (then nothing is held). */
    const struct ring *(*ring)(void *ctx);
    /* Whether node_id is up; NULL: everyone is. */
    bool (*alive)(void *ctx, const char *node_id);
    /* Stores object (encoded, checked) as key's new value in partition;
     * see the top comment. KV_OK or an engine error. */
    int (*write)(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice object);
    void *ctx;
};

struct aae_config {
    const char *node_id;            /* this node (1..KV_NODE_ID_BYTES_MAX bytes) */
    uint32_t partitions;            /* Q; must equal the ring's */
    struct engine *engine;          /* borrowed */
    struct aae_ops ops;
    uint32_t segments;              /* MERKLE_SEGMENTS_DEFAULT; same on every node */
    uint32_t branching;             /* MERKLE_BRANCHING_DEFAULT; same on every node */
    uint64_t exchange_interval_ms;  /* per replica pair; >= 1 */
    uint32_t exchanges_max;         /* >= 1 */
    uint64_t bytes_per_sec;         /* 0: unlimited */
    uint64_t burst_bytes;           /* bucket size; 0: bytes_per_sec (one second) */
    uint32_t request_timeout_ms;
    uint32_t retries_max;
    uint32_t busy_backoff_ms;
    uint32_t failure_backoff_ms;
    uint64_t verify_interval_ms;    /* 0: never */
    uint32_t build_keys_per_step;   /* >= 1 */
    uint32_t build_step_ms;
    uint32_t page_keys_max;         /* >= 1 */
    uint32_t scan_keys_max;         /* >= 1 */
    uint32_t batch_bytes_max;       /* >= 1 */
    uint64_t rand_seed;
};

/* Fills the defaults above; node_id, partitions, engine and ops stay unset. */
void aae_config_default(struct aae_config *cfg);

/* Validates cfg (KV_EINVAL, logged once with the field) and creates the
 * aae. Trees are made at the first aae_tick (from ops.ring). */
int aae_new(const struct aae_config *cfg, struct aae **out) KV_MUST_USE;
/* Frees a: exchanges in flight are dropped, builds abandoned. NULL is a no-op. */
void aae_free(struct aae *a);

/* A write of key in partition went from old_object to new_object
 * (encoded; len 0: absent). See the top comment. */
void aae_note_write(struct aae *a, uint32_t partition, struct kv_slice key, struct kv_slice old_object,
                    struct kv_slice new_object);

/* Handles one message from node `from`. KV_EPROTO for a message that
 * cannot be handled (counted as bad, otherwise ignored). */
int aae_handle_message(struct aae *a, const char *from, const struct aae_msg *m, uint64_t now_ms) KV_MUST_USE;
/* Runs what is due at now_ms: ring changes, tree builds, exchange
 * timeouts and retries, new exchanges. */
void aae_tick(struct aae *a, uint64_t now_ms);
/* The earliest time aae_tick has work (UINT64_MAX: none). */
uint64_t aae_next_tick_ms(const struct aae *a, uint64_t now_ms);

/*
 * Forces exchanges from this node as soon as budgets allow: of
 * `partition` (AAE_ALL_PARTITIONS: every held partition) with `node_id`
 * (NULL: every other replica). Returns the number of pairs scheduled
 * through *n_out; KV_ENOTFOUND if none matched.
 */
int aae_repair(struct aae *a, uint32_t partition, const char *node_id, uint64_t now_ms,
               uint32_t *n_out) KV_MUST_USE;
/* Starts a rebuild of partition's tree from the engine (or of every
 * held tree). KV_ENOTFOUND if it is not held. */
int aae_rebuild(struct aae *a, uint32_t partition) KV_MUST_USE;

/* ---- status and metrics ---- */

struct aae_partition_status {
    bool held;                  /* a primary replica here in the current ring */
    bool ready;                 /* tree built */
    bool building;              /* a rebuild or verify is scanning */
    uint64_t keys;              /* keys in the tree */
    uint64_t root;              /* root hash (ready trees) */
    uint64_t exchanges;         /* finished exchanges initiated here (any result) */
    uint64_t last_exchange_ms;  /* when the last one finished (now_ms clock); 0: never */
    int last_status;            /* its result */
    char last_peer[KV_NODE_ID_BYTES_MAX + 1];
    uint64_t last_in_sync_ms;   /* last exchange that found or left both sides equal */
    uint64_t keys_repaired;     /* keys changed here or at peers by exchanges from here */
    uint64_t bytes_sent;        /* by exchanges initiated here */
    uint64_t bytes_received;
    uint64_t verifies;          /* finished self-checks */
    uint32_t last_verify_mismatches; /* leaves wrong at the last one */
    uint64_t next_exchange_ms;  /* earliest due pair (UINT64_MAX: none) */
};
/* KV_EINVAL if partition >= Q. */
int aae_partition_status(struct aae *a, uint32_t partition, struct aae_partition_status *out) KV_MUST_USE;

struct aae_stats {
    uint64_t trees;             /* held partitions */
    uint64_t trees_ready;
    uint64_t tree_bytes;        /* memory of all trees */
    uint64_t builds;            /* rebuilds finished */
    uint64_t verifies;          /* self-checks finished */
    uint64_t verify_mismatches; /* leaves found wrong by self-checks */
    uint64_t build_errors;
    uint64_t exchanges_active;
    uint64_t exchanges_started;
    uint64_t exchanges_in_sync; /* roots were equal */
    uint64_t exchanges_repaired;/* finished after comparing keys */
    uint64_t exchanges_failed;
    uint64_t keys_compared;     /* peer keys compared with ours */
    uint64_t keys_fetched;      /* objects fetched from peers */
    uint64_t keys_pushed;       /* objects pushed to peers */
    uint64_t keys_repaired;     /* objects changed here by merges (either role) */
    uint64_t keys_repaired_remote; /* objects peers reported changed by our pushes */
    uint64_t bytes_sent;        /* encoded aae messages, both roles */
    uint64_t bytes_received;
    uint64_t requests_served;
    uint64_t busy_replies;      /* KV_EBUSY sent (our budget) */
    uint64_t busy_waits;        /* KV_EBUSY received */
    uint64_t timeouts;          /* requests resent after request_timeout_ms */
    uint64_t stale_replies;     /* replies to no outstanding request */
    uint64_t bad_messages;      /* KV_EPROTO */
    uint64_t merge_errors;      /* objects that did not decode, merge or store */
};
void aae_get_stats(const struct aae *a, struct aae_stats *out);

/* The other primary replicas of a held partition: up to max ids into
 * ids_out (borrowed until the next aae_tick or ring change); returns how
 * many there are (0 when not held). */
uint32_t aae_partition_peers(const struct aae *a, uint32_t partition, const char **ids_out, uint32_t max);

/*
 * For tombstone purge gating: the latest time T (now_ms clock) such that
 * every other primary of partition has completed an exchange with this
 * node that started at or after T and ended KV_OK (both sides then hold
 * the causal merge of what each held at T). 0 when some peer has none
 * yet, or the partition is not held; UINT64_MAX when it has no peers
 * (N = 1). Only exchanges initiated here count (this node learns nothing
 * about how an exchange a peer initiated ended): for a pair where the
 * peer has the smaller id, this node counts only the exchanges
 * aae_repair forces from here. O(peers).
 */
uint64_t aae_partition_synced_since(const struct aae *a, uint32_t partition);

#endif
