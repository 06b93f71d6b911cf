/*
 * aae_net.h - runs the node's active anti-entropy (coordinator/aae.h) on
 * the event loop: the I/O half of the Merkle-tree exchanges, like
 * node/replication.h is for the quorum coordinator.
 *
 * What it does for the struct aae it owns (aae.h, "What the node must do"):
 *  - write hook: aae_net_write_hook gives the coord_write_hook the
 *    coordinator calls after each DATA write (coord.h), which updates the
 *    trees through aae_note_write;
 *  - aae_ops.write stores a merged object with engine_put under its DATA
 *    key: the same call, and so the same durability (--sync), as a
 *    replica write of the coordinator;
 *  - transport: each aae_msg travels as ClusterMessage.aae (cluster.proto
 *    field 40, the aae_msg_encode bytes) in an rpc request over a pool of
 *    its own (one connection per peer, Hello with ROLE_NODE), so large
 *    key pages and object batches never queue in front of quorum traffic
 *    on the replication connection. The responder answers a request while
 *    handling it, so its reply rides back as that rpc request's reply (one
 *    round trip); anything else is acked empty. The sender of a received
 *    message is the node id of the connection's Hello (ROLE_NODE only);
 *    replies are attributed to the node id they were sent to. A failed
 *    send is a lost message: the exchange's own timeout retries it;
 *  - ring and liveness: node/cluster_rt.h's newest ring and gossip state;
 *    aae_tick applies ring changes (held partitions, peers) by itself;
 *  - returning replicas: when gossip sees a ring member come back up
 *    (down at the previous tick, up now), every partition shared with it
 *    is exchanged at once (aae_repair), not at each pair's next interval:
 *    a node down past the hint window, or restarted with an empty disk,
 *    is repaired within the byte budget rather than over
 *    --aae-interval-ms;
 *  - timer: one libevent timer calls aae_tick at aae_next_tick_ms (at
 *    least every second), re-armed after each message;
 *  - admin: kv.proto ADMIN_OP_REPAIR and ADMIN_OP_AAE_STATUS (kvctl
 *    repair, kvctl aae-status) are answered here (node/aae_admin.c);
 *    other requests go on to the next handler;
 *  - metrics: ringkv_aae_* families in /metrics (aae_net_refresh_metrics).
 *
 * With enabled == false (kvnode --aae off) there is no struct aae: no
 * hook, no timer, no traffic; admin requests are answered KV_ESTATE
 * ("anti-entropy is off").
 *
 * Lifecycle: aae_net_new before the coordinator (its hook goes in the
 * coord config), aae_net_attach once the cluster runtime exists, and
 * aae_net_free before the cluster runtime and the engine (it closes its
 * pool; trees hold engine snapshots while they build).
 *
 * Threading: the event_base's thread, like everything it calls.
 */
#ifndef RINGKV_NODE_AAE_NET_H
#define RINGKV_NODE_AAE_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"
#include "coordinator/aae.h"
#include "coordinator/coord.h"
#include "proto/kv.pb-c.h"
#include "rpc/server.h"

struct event_base;
struct rpc_tls;
struct cluster_rt;
struct metrics;
struct aae_net;

#define AAE_NET_BACKOFF_MAX_MS 1000u    /* reconnect backoff cap of the pool */

struct aae_net_config {
    bool enabled;                   /* false: --aae off */
    const char *node_id;            /* our Hello, and the aae's node id */
    const char *cluster_name;       /* our Hello */
    uint32_t frame_bytes_max;       /* the node's frame limit (0 = default) */
    uint32_t partitions;            /* Q */
    struct engine *engine;          /* borrowed; outlives the aae_net */
    uint64_t exchange_interval_ms;  /* per replica pair; >= 1 */
    uint64_t bytes_per_sec;         /* in + out budget; 0 = unlimited */
    uint32_t exchanges_max;         /* at a time, >= 1 */
    uint64_t rand_seed;
};

/* Creates it (and its struct aae when enabled) and registers its metrics
 * in m. Strings are copied. KV_OK and *out; KV_EINVAL, KV_ENOMEM: logged. */
int aae_net_new(struct event_base *base, const struct aae_net_config *cfg, struct metrics *m,
                struct aae_net **out) KV_MUST_USE;

/* The hook to put in coord_config.write_hook (ctx = n); *out is copied
 * by coord_new. Disabled: a hook with wrote == NULL. */
void aae_net_write_hook(struct aae_net *n, struct coord_write_hook *out);

/*
 * Starts exchanges: ring, liveness and addresses from rt, connections
 * with tls (RPC_TLS_CLIENT or NULL). Requests that are not for it go to
 * next(next_arg, ...). All borrowed. KV_ESTATE if already attached.
 */
int aae_net_attach(struct aae_net *n, struct cluster_rt *rt, struct rpc_tls *tls, rpc_request_fn next,
                   void *next_arg) KV_MUST_USE;

/* An rpc_request_fn for the native listener's non-data requests (arg = n):
 * ClusterMessage.aae and the two admin operations; the rest to next. */
void aae_net_handle_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                            struct rpc_reply_handle h);

/* The aae (NULL when disabled): for node/aae_admin.c and for purge gating
 * (aae_partition_synced_since). */
struct aae *aae_net_aae(struct aae_net *n);

/* Forces exchanges (kvctl repair): arg "" = every held partition, a
 * decimal partition number (all digits), or a peer's node id. *n_out pairs scheduled.
 * KV_EINVAL (partition out of range), KV_ENOTFOUND (nothing matched). */
int aae_net_repair(struct aae_net *n, const char *arg, uint32_t *n_out) KV_MUST_USE;

/* This node's id, and Q. */
const char *aae_net_node_id(const struct aae_net *n);
uint32_t aae_net_partitions(const struct aae_net *n);

/* The monotonic ms clock the aae runs on. */
uint64_t aae_net_now_ms(void);

struct aae_net_stats {
    uint64_t sent;              /* messages handed to the pool */
    uint64_t replied_inline;    /* replies carried as the rpc reply of their request */
    uint64_t send_failures;     /* lost: unknown address, backoff, refused, timed out */
    uint64_t received;          /* messages given to the aae */
    uint64_t bad_messages;      /* undecodable, unauthenticated, or refused by the aae */
    uint64_t peers_returned;    /* members seen up again: their partitions exchanged at once */
};
void aae_net_get_stats(const struct aae_net *n, struct aae_net_stats *out);

/* Copies the aae's counters into the metrics registered by aae_net_new. */
void aae_net_refresh_metrics(struct aae_net *n);

/* Closes the pool and the timer, frees the aae. NULL is allowed. */
void aae_net_free(struct aae_net *n);

#endif
