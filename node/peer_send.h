/*
 * peer_send.h - the node-to-node sending plumbing that the cluster
 * transports (node/aae_net.h, node/handoff_net.h, node/replication.h) share: the rpc pool a node dials its peers with, one
 * request to a ring member named by node id, and the ack that answers a
 * peer's message when no inline reply went back.
 *
 * Threading: the event_base's thread, like the transports.
 */
#ifndef RINGKV_NODE_PEER_SEND_H
#define RINGKV_NODE_PEER_SEND_H

#include <stdint.h>

#include "common/limits.h"
#include "common/status.h"
#include "node/cluster_rt.h"
#include "rpc/pool.h"
#include "rpc/server.h"

/* The argument of one sent request's callback: the transport that sent it
 * and the node it went to (its reply is attributed to that node). */
struct peer_send_call {
    void *owner;
    char to[KV_NODE_ID_BYTES_MAX + 1];
};

/*
 * Fills *pc for a pool that dials peers as node node_id of cluster_name
 * (role NODE), with frames up to frame_bytes_max, tls (NULL: plain TCP) and
 * a reconnect backoff up to backoff_max_ms; every other field is zero. The
 * strings are borrowed until rpc_pool_new (which copies them).
 */
void peer_send_pool_config(struct rpc_pool_config *pc, const char *node_id, const char *cluster_name,
                           uint32_t frame_bytes_max, struct rpc_tls *tls, uint32_t backoff_max_ms);

/*
 * Sends env to ring member `to` (its address from rt) through pool, with
 * a timeout of timeout_ms. KV_OK: cb runs exactly once with a heap
 * struct peer_send_call (owner, to) as its arg, and must free() it.
 * Otherwise cb never runs: KV_ENOTFOUND (rt knows no address for `to`),
 * KV_ENOMEM, or rpc_pool_request's failure. env is borrowed.
 */
int peer_send_to(struct rpc_pool *pool, const struct cluster_rt *rt, const char *to, Ringkv__Envelope *env,
                 uint32_t timeout_ms, rpc_client_reply_fn cb, void *owner) KV_MUST_USE;

/*
 * Answers a peer's message on h: an empty Envelope when rc is KV_OK, else
 * the error rc with `refusal` as its message. A failure to send (other than
 * a closed connection) is logged at debug level under log_tag.
 */
void peer_send_ack(struct rpc_reply_handle h, int rc, const char *refusal, const char *log_tag);

#endif
