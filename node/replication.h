/*
 * replication.h - carries the quorum coordinator's node-to-node messages
 * (coordinator/coord_msg.h) between kvnodes over the native protocol, and
 * runs the coordinator's timer on the event loop: the I/O half of cluster
 * mode (coordinator/coord.h, "Cluster mode").
 *
 * Transport. Every coord message travels as an rpc request whose body is
 * Envelope.cluster (a ClusterMessage), over one pooled connection per
 * peer (rpc/pool.h; Hello with ROLE_NODE, this node's id and the cluster
 * name, so the receiver knows the sender by its authenticated id). A
 * request message (REPLICA_GET, REPLICA_PUT, HINT) whose reply the
 * receiving coordinator produces while handling it comes back as that
 * rpc request's reply: one round trip, no second connection. A reply
 * produced later (FORWARD_REPLY after the primary's quorum) is sent as a
 * request of its own, and any request not answered inline is acked with
 * an empty reply (status 0, no body). A failed send, a refused connection
 * or a peer in reconnect backoff is a lost message: the coordinator's
 * deadlines handle it.
 *
 * Addresses. A node id is mapped to the address gossip knows it by
 * (node/cluster_rt.h) at each send, so a restarted peer on a new address
 * is found again; an id gossip does not know is a lost message.
 *
 * Timer. One libevent timer calls coord_tick at coord_next_tick_ms, and
 * at least every REPL_TICK_MAX_MS, because requests started by the RESP
 * and native servers set deadlines this module does not see: a request
 * deadline fires at most that late. The same tick compares each ring
 * member's liveness with the previous tick and calls coord_peer_up for
 * members that came back, so their hints go out at once.
 *
 * Lifecycle. replication_new comes before the coordinator (its ops are
 * in the coord config), replication_attach after both the coordinator and
 * the cluster runtime exist; until then ring() is NULL (requests fail
 * KV_EUNAVAIL) and nothing is sent. replication_free before coord_free
 * and cluster_rt_free: it closes the pool (pending sends are dropped).
 *
 * Threading: the event_base's thread, like everything it calls.
 */
#ifndef RINGKV_NODE_REPLICATION_H
#define RINGKV_NODE_REPLICATION_H

#include <stdint.h>

#include "common/status.h"
#include "coordinator/coord.h"
#include "proto/kv.pb-c.h"
#include "rpc/server.h"

struct event_base;
struct rpc_tls;
struct cluster_rt;
struct replication;

#define REPL_TICK_MAX_MS 50u            /* longest gap between coord ticks */
#define REPL_SEND_TIMEOUT_MS 10000u     /* rpc timeout of one message (coord deadlines are shorter) */
#define REPL_BACKOFF_MAX_MS 1000u       /* reconnect backoff cap: a restarted peer is reached soon */
#define REPL_PEERS_MAX 4096u            /* = RING_MEMBERS_MAX: peers remembered (liveness, ids) */

struct replication_config {
    const char *node_id;        /* our Hello */
    const char *cluster_name;   /* our Hello */
    uint32_t frame_bytes_max;   /* 0 = default */
    const char *conflict_mode;  /* our Hello ("dvv"/"lww" literal; peers refuse another) */
};

/* Creates the transport (no pool or connection yet). Strings are copied.
 * KV_OK and *out, KV_EINVAL, KV_ENOMEM. */
int replication_new(struct event_base *base, const struct replication_config *cfg,
                    struct replication **out) KV_MUST_USE;

/* The ops to put in coord_config.net and .cluster (ctx = r); they stay
 * valid while r lives. */
void replication_coord_ops(struct replication *r, struct coord_net_ops *net,
                           struct coord_cluster_ops *cluster);

/* Starts carrying messages for coord, with rt's ring, liveness and
 * addresses, over connections using tls (RPC_TLS_CLIENT context, or NULL
 * for plain TCP), and starts the timer. All are borrowed and must
 * outlive r. KV_EINVAL, KV_ENOMEM, KV_ESTATE if already attached. */
int replication_attach(struct replication *r, struct coord *coord, struct cluster_rt *rt,
                       struct rpc_tls *tls) KV_MUST_USE;

/*
 * An rpc_request_fn for the native listener's non-data requests (arg =
 * r): ClusterMessages of the coordinator go to coord_handle_message (and
 * are answered as described above); everything else is passed to
 * cluster_rt_handle_request (gossip, admin).
 */
void replication_handle_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                                struct rpc_reply_handle h);

struct replication_stats {
    uint64_t sent;              /* messages handed to the pool */
    uint64_t replied_inline;    /* replies carried as the rpc reply of their request */
    uint64_t send_failures;     /* messages lost: unknown address, backoff, refused, timed out */
    uint64_t received;          /* messages given to the coordinator */
    uint64_t bad_messages;      /* ClusterMessages that did not decode or were refused */
    uint64_t peers_up;          /* coord_peer_up calls */
};
void replication_get_stats(const struct replication *r, struct replication_stats *out);

/* Stops the timer and closes every connection. NULL is allowed. */
void replication_free(struct replication *r);

#endif
