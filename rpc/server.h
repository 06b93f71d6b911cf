/*
 * server.h - the native-protocol listener: connections, hello, requests.
 *
 * An rpc_server listens on HOST:PORT (plain TCP or TLS), accepts up to
 * connections_max connections, and runs the session protocol of
 * proto/kv.proto on each:
 *
 *   1. The first frame must be a Hello. A wrong protocol version is
 *      answered with an error envelope (KV_EPROTO), a foreign cluster name
 *      with KV_EAUTH, each with a message saying what was expected; then
 *      the connection closes. Any other first frame closes the connection
 *      with no answer. With cfg.authenticate set, the Hello must also pass
 *      it (else KV_EAUTH and its reason, then close). A good Hello gets a
 *      HelloReply.
 *   2. Every later frame is a request and goes to the handler, which
 *      answers through its reply handle, now or later (asynchronously).
 *      Requests are pipelined: the handler may hold many per connection
 *      and answer in any order; the reply carries the request's id.
 *      The server itself answers a repeated Hello (KV_EPROTO), a request
 *      with no known body (KV_EINVAL) and a ClusterMessage from a peer
 *      whose Hello did not say ROLE_NODE (KV_EAUTH).
 *   3. Over connections_max, a new connection is accepted, sent one error
 *      envelope (request_id 0, KV_EBUSY) and closed.
 *
 * Backpressure: a connection stops being read while inflight_max of its
 * requests are unanswered, or while its unsent replies exceed
 * output_bytes_max (rpc/conn.h); idle and frame timeouts close it.
 *
 * Reply handles are plain values holding a connection slot and a
 * generation number. A handle whose connection has closed (or was
 * replaced in its slot) is recognised and the reply is dropped with
 * KV_ECLOSED, so the handler never needs to know about closes. Each
 * handle must be answered exactly once (rpc_reply_send or
 * rpc_reply_error): that is what frees its in-flight slot. A handle must
 * not be used after rpc_server_free.
 *
 * Threading: the server, its connections, the handler and all reply calls
 * run on the thread of the event_base given to rpc_server_start.
 */
#ifndef RINGKV_RPC_SERVER_H
#define RINGKV_RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "proto/kv.pb-c.h"

struct event_base;
struct rpc_server;
struct rpc_tls;

/* Unanswered requests per connection before it stops being read. */
#define RPC_SERVER_INFLIGHT_MAX_DEFAULT 1024u
/* Largest frame accepted before the peer's hello succeeds: a hello is a few
 * hundred bytes, and an unauthenticated peer must not make the node decode
 * (and allocate for) a full-size protobuf message. */
#define RPC_SERVER_HELLO_FRAME_BYTES_MAX (64u * 1024u)
/* Over-limit connections being told KV_EBUSY at once; more are closed without a word. */
#define RPC_SERVER_REFUSING_MAX 64u
#define RPC_SERVER_BACKLOG 1024

/* Hello.credentials and the TLS identity given to rpc_auth_fn. */
struct rpc_hello_identity {
    const char *peer_addr;  /* "ip:port" */
    const char *cert_uri;   /* ringkv:// URI of the verified peer certificate, or NULL */
};

/*
 * Decides whether a Hello (protocol version and cluster name already
 * checked) may open a session. KV_OK and *access_out (an opaque level
 * the server hands back in rpc_peer.access), or KV_EAUTH with a reason
 * for the peer in why. Must not block for long: it runs on the loop.
 */
typedef int (*rpc_auth_fn)(void *arg, const Ringkv__Hello *hello,
                           const struct rpc_hello_identity *id, uint32_t *access_out,
                           char *why, size_t why_len);

/* rpc_peer.access of every session when no rpc_auth_fn is configured. */
#define RPC_ACCESS_ALL UINT32_MAX

struct rpc_server_config {
    const char *listen;         /* "HOST:PORT"; port 0 picks a free port (see rpc_server_port) */
    const char *node_id;        /* this node, sent in HelloReply (<= KV_NODE_ID_BYTES_MAX) */
    const char *cluster_name;   /* a Hello naming another cluster is refused (<= KV_CLUSTER_NAME_BYTES_MAX) */
    const char *conflict_mode;  /* a ROLE_NODE Hello with another non-empty conflict_mode is refused;
                                 * NULL or "": not checked. Borrowed (a literal) */
    uint32_t connections_max;   /* 0 = KV_CONNECTIONS_MAX_DEFAULT */
    uint32_t inflight_max;      /* per connection; 0 = RPC_SERVER_INFLIGHT_MAX_DEFAULT */
    uint32_t frame_bytes_max;   /* 0 = KV_FRAME_BYTES_MAX_DEFAULT */
    uint32_t idle_timeout_ms;   /* 0 = KV_IDLE_TIMEOUT_MS_DEFAULT */
    uint32_t frame_timeout_ms;  /* 0 = KV_FRAME_TIMEOUT_MS_DEFAULT */
    size_t output_bytes_max;    /* 0 = KV_CONN_OUTPUT_BYTES_MAX_DEFAULT */
    struct rpc_tls *tls;        /* RPC_TLS_SERVER context, or NULL for plain TCP; must outlive the server */
    rpc_auth_fn authenticate;   /* NULL: every good Hello gets RPC_ACCESS_ALL */
    void *auth_arg;
};

/* Who sent a request; valid only during the handler call (copy what you keep). */
struct rpc_peer {
    const char *addr;     /* "ip:port" */
    const char *node_id;  /* from the peer's Hello; "" for most clients */
    Ringkv__Role role;    /* from the peer's Hello */
    uint32_t access;      /* from rpc_server_config.authenticate, or RPC_ACCESS_ALL */
};

/* Where a reply goes. A value: copy it freely, answer it once. */
struct rpc_reply_handle {
    struct rpc_server *server;
    uint32_t slot;
    uint32_t gen;
    uint64_t request_id;
};

/*
 * Receives one request (after the hello). req is owned by the handler
 * (free with rpc_envelope_free, which also frees the key/value bytes it
 * points to, so keep it until done with them). Answer through reply.
 */
typedef void (*rpc_request_fn)(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                               struct rpc_reply_handle reply);

/* Counters since start (cumulative) and now (open). */
struct rpc_server_stats {
    uint64_t connections_open;      /* now, including ones being refused */
    uint64_t connections_accepted;  /* cumulative */
    uint64_t connections_refused;   /* over connections_max */
    uint64_t hellos_refused;        /* wrong version or cluster, or no hello first */
    uint64_t requests;              /* handed to the handler */
    uint64_t replies_dropped;       /* answered after their connection closed */
};

/*
 * Binds and starts accepting. The strings in cfg are copied. KV_OK and
 * *out; KV_EINVAL (bad address or names), KV_EIO (cannot bind: logged),
 * KV_ENOMEM.
 */
int rpc_server_start(struct event_base *base, const struct rpc_server_config *cfg,
                     rpc_request_fn handler, void *arg, struct rpc_server **out) KV_MUST_USE;

/* The bound TCP port (useful after listening on port 0). */
uint16_t rpc_server_port(const struct rpc_server *s);

void rpc_server_get_stats(const struct rpc_server *s, struct rpc_server_stats *out);

/*
 * Stops listening and closes every connection (unsent replies are
 * dropped). Outstanding reply handles must not be used afterwards.
 * NULL is allowed. Must not be called from inside the handler.
 */
void rpc_server_free(struct rpc_server *s);

/*
 * Sends reply for the request of h: sets reply->request_id; the caller sets
 * status (normally 0) and the body. KV_OK; KV_ECLOSED if the connection is
 * gone (reply dropped, not an error worth logging); KV_ETOOBIG if the reply
 * does not fit in a frame (the peer gets a KV_ETOOBIG error instead).
 * Reads reply only during the call.
 */
int rpc_reply_send(struct rpc_reply_handle h, Ringkv__Envelope *reply) KV_MUST_USE;

/* Sends an error envelope (status, message; no body) for h. Same results as rpc_reply_send. */
int rpc_reply_error(struct rpc_reply_handle h, int status, const char *message) KV_MUST_USE;

#endif
