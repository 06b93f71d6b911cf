/*
 * client.h - an asynchronous native-protocol connection to one node.
 *
 * For node-to-node traffic (coordinator to replicas, gossip) and any
 * event-driven caller. rpc_client_connect starts a non-blocking connect,
 * TLS handshake if configured, and sends the Hello at once; requests may
 * be sent right away: they are queued behind the Hello, so the first
 * request costs no extra round trip.
 *
 * Requests. rpc_client_request assigns the next request id (1, 2, ...),
 * frames the envelope and arms a per-request timer. Any number may be in
 * flight (pipelining); replies are matched by id in any order. For every
 * request accepted (KV_OK returned) the callback runs exactly once, never
 * inside rpc_client_request itself, with:
 *   KV_OK           the reply, status 0 (reply->body holds the answer);
 *   a KV_E* code    from the server, with the reply (reply->error says why);
 *   KV_ETIMEDOUT    no reply within timeout_ms (a reply arriving later is
 *                   dropped); the request may still have been executed;
 *   KV_ECLOSED      the connection broke after the TCP (and TLS) connect
 *                   succeeded; the request may have been executed, even
 *                   if the hello reply had not arrived yet;
 *   KV_EUNAVAIL     the connection could not be established (connect
 *                   failed or timed out): the request was never delivered;
 *   KV_EAUTH / KV_EPROTO / KV_EBUSY  the server refused the session
 *                   (wrong cluster, wrong version, too many connections, TLS
 *                   handshake refused): never delivered.
 * For writes, KV_ETIMEDOUT and KV_ECLOSED mean "in doubt" (KV_EINDOUBT at
 * the coordinator); the others mean "not applied". reply is owned by the
 * callback (free with rpc_envelope_free) and is NULL for local failures.
 *
 * Lifetime. The client stops being usable when its connection ends; then
 * ops->on_close runs once (after every pending callback). The caller owns
 * the client and frees it with rpc_client_free, which may be called from
 * inside any of the client's callbacks. Freeing an open client fails its
 * pending requests with KV_ECLOSED (callbacks run) but skips on_close.
 * There is no automatic reconnect here: rpc/pool.h does that.
 *
 * Threading: one event_base thread, like rpc_conn.
 */
#ifndef RINGKV_RPC_CLIENT_H
#define RINGKV_RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "proto/kv.pb-c.h"

struct event_base;
struct rpc_client;
struct rpc_tls;

/* Connect, TLS handshake and hello must finish within this unless configured. */
#define RPC_CLIENT_CONNECT_TIMEOUT_MS_DEFAULT 3000u

struct rpc_client_config {
    const char *addr;            /* "HOST:PORT" of the server (see rpc/addr.h) */
    const char *node_id;         /* sent in Hello; NULL or "" for an SDK client */
    const char *cluster_name;    /* must match the server's */
    Ringkv__Role role;           /* RINGKV__ROLE__ROLE_NODE between nodes */
    const char *conflict_mode;   /* sent in Hello (nodes); NULL or "": none. Borrowed: a string
                                  * that outlives the client (a literal) */
    uint32_t connect_timeout_ms; /* 0 = RPC_CLIENT_CONNECT_TIMEOUT_MS_DEFAULT */
    uint32_t frame_bytes_max;    /* 0 = KV_FRAME_BYTES_MAX_DEFAULT */
    uint32_t idle_timeout_ms;    /* 0 = never: a client connection may sit idle */
    uint32_t frame_timeout_ms;   /* 0 = KV_FRAME_TIMEOUT_MS_DEFAULT */
    size_t output_bytes_max;     /* 0 = KV_CONN_OUTPUT_BYTES_MAX_DEFAULT */
    struct rpc_tls *tls;         /* RPC_TLS_CLIENT context or NULL; must outlive the client */
};

struct rpc_client_ops {
    /* The server accepted the Hello. hello is valid during the call. May be NULL. */
    void (*on_ready)(void *arg, struct rpc_client *c, const Ringkv__HelloReply *hello);
    /*
     * The session ended (status as listed above; message: the server's
     * refusal text, or a short description). May be NULL.
     */
    void (*on_close)(void *arg, struct rpc_client *c, int status, const char *message);
};

/* Reply (or failure) of one request; see the list above. */
typedef void (*rpc_client_reply_fn)(void *arg, int status, Ringkv__Envelope *reply);

/*
 * Starts connecting. KV_OK and *out (requests may be sent at once);
 * KV_EINVAL for a malformed addr or over-long names; KV_ENOTFOUND if the
 * host name does not resolve (getaddrinfo: blocking); KV_ENOMEM.
 * ops may be NULL. A connect that fails later is reported through
 * on_close and the pending requests' callbacks.
 */
int rpc_client_connect(struct event_base *base, const struct rpc_client_config *cfg,
                       const struct rpc_client_ops *ops, void *arg,
                       struct rpc_client **out) KV_MUST_USE;

/*
 * Sends req with a fresh request id (written to req->request_id and to
 * *id_out if not NULL). timeout_ms 0 = KV_REQUEST_TIMEOUT_MS_DEFAULT.
 * req is read only during the call. KV_OK: cb will run exactly once.
 * Otherwise cb never runs: KV_ECLOSED (the client has closed), KV_ETOOBIG
 * (over the frame limit), KV_EINVAL, KV_ENOMEM.
 */
int rpc_client_request(struct rpc_client *c, Ringkv__Envelope *req, uint32_t timeout_ms,
                       rpc_client_reply_fn cb, void *arg, uint64_t *id_out) KV_MUST_USE;

/* True from connect until the connection ends (even before the hello is answered). */
bool rpc_client_is_open(const struct rpc_client *c);
/* True once the server has accepted the hello and while the connection lasts. */
bool rpc_client_is_ready(const struct rpc_client *c);
/* Requests waiting for their reply. */
size_t rpc_client_pending(const struct rpc_client *c);
/* The addr the client was created with. */
const char *rpc_client_addr(const struct rpc_client *c);

/* Closes (if open), fails pending requests with KV_ECLOSED, frees. NULL is allowed. */
void rpc_client_free(struct rpc_client *c);

#endif
