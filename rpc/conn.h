/*
 * conn.h - one framed connection over a libevent bufferevent.
 *
 * An rpc_conn turns a byte stream (TCP or TLS) into envelopes and back:
 * it feeds what it reads to a frame decoder (rpc/frame.h), hands every
 * decoded envelope to ops->on_envelope, and frames what rpc_conn_send is
 * given. The server (rpc/server.h) and the client (rpc/client.h) are both
 * built on it; other code rarely needs it directly.
 *
 * Limits and timeouts, all per connection:
 *  - frame_bytes_max: a longer frame is refused from its 4 length bytes.
 *  - idle_timeout_ms: no byte received (while reading) and no byte of
 *    pending output written for this long -> closed with KV_ETIMEDOUT.
 *  - frame_timeout_ms: a frame whose first byte arrived must be complete
 *    within this time, however the peer trickles bytes (slow-loris).
 *  - output_bytes_max: when more than this is waiting to be sent, the
 *    connection stops reading (so a peer that pipelines requests but does
 *    not read replies is pushed back by TCP flow control) and resumes once
 *    the backlog has drained to half.
 * A protocol error (bad length, undecodable envelope) closes the
 * connection with one log line naming the peer and the reason.
 *
 * Lifetime. rpc_conn_new takes ownership of the bufferevent. The
 * connection ends exactly once, by a peer EOF, an error, a timeout, a
 * protocol error, or rpc_conn_close / rpc_conn_close_after_flush; then
 * ops->on_close runs (once) and the conn must not be used after it
 * returns: its memory is released as soon as no callback is running on
 * it. It is safe to call rpc_conn_close or rpc_conn_send from inside any
 * of the conn's own callbacks.
 *
 * Threading: a conn belongs to the thread running its event_base; all
 * calls and callbacks happen there.
 */
#ifndef RINGKV_RPC_CONN_H
#define RINGKV_RPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "proto/kv.pb-c.h"

struct bufferevent;
struct event_base;
struct sockaddr;
struct rpc_conn;

/* Longest "ip:port" kept for log lines ("[" 45-char IPv6 "]:" 5-digit port, NUL). */
#define RPC_PEER_NAME_BYTES_MAX (1 + 45 + 2 + 5 + 1)
/*
 * After rpc_conn_close_after_flush, how long the last bytes may take to
 * leave and the peer to close its side, before the socket is closed anyway.
 */
#define RPC_CONN_LINGER_TIMEOUT_MS 2000u

struct rpc_conn_config {
    uint32_t frame_bytes_max;   /* 0 = KV_FRAME_BYTES_MAX_DEFAULT */
    uint32_t idle_timeout_ms;   /* 0 = never */
    uint32_t frame_timeout_ms;  /* 0 = never */
    size_t output_bytes_max;    /* 0 = KV_CONN_OUTPUT_BYTES_MAX_DEFAULT */
};

struct rpc_conn_ops {
    /* One decoded envelope; the callee owns it (free with rpc_envelope_free). */
    void (*on_envelope)(void *arg, struct rpc_conn *c, Ringkv__Envelope *env);
    /* TCP connect (and TLS handshake) finished. May be NULL. */
    void (*on_connected)(void *arg, struct rpc_conn *c);
    /*
     * The connection ended. status: KV_ECLOSED (peer EOF or local close),
     * KV_EPROTO / KV_ETOOBIG (peer broke the protocol), KV_ETIMEDOUT (idle
     * or frame timeout), KV_EIO (socket error), KV_EUNAVAIL (connect failed
     * or timed out), KV_EAUTH (TLS handshake refused), or the status given
     * to rpc_conn_close. reason is a short static text for logs.
     */
    void (*on_close)(void *arg, struct rpc_conn *c, int status, const char *reason);
};

/*
 * Wraps bev (owned by the conn from now on, freed even on failure).
 * connected: the socket is usable now (an accepted plain TCP socket);
 * false for a TLS accept (handshake pending) or a socket rpc_conn_connect
 * will connect. peer names the other side in log lines (may be NULL: the
 * socket's address is used). KV_OK and *out, or KV_ENOMEM.
 */
int rpc_conn_new(struct event_base *base, struct bufferevent *bev, bool connected,
                 const char *peer, const struct rpc_conn_config *cfg,
                 const struct rpc_conn_ops *ops, void *arg, struct rpc_conn **out) KV_MUST_USE;

/*
 * Starts a non-blocking connect of the conn's bufferevent (created with
 * fd -1) to sa. Frames sent before the connect completes are queued.
 * Failure to connect within timeout_ms (0 = no limit) ends the conn with
 * KV_EUNAVAIL. Returns KV_OK or KV_EUNAVAIL (then the conn is closed:
 * on_close has run).
 */
int rpc_conn_connect(struct rpc_conn *c, const struct sockaddr *sa, int salen,
                     uint32_t timeout_ms) KV_MUST_USE;

/*
 * Frames env and queues it. KV_OK; KV_ECLOSED if the conn is closed or
 * closing; KV_ETOOBIG / KV_EINVAL if env cannot be framed (nothing queued,
 * the conn stays open); KV_ENOMEM.
 */
int rpc_conn_send(struct rpc_conn *c, const Ringkv__Envelope *env) KV_MUST_USE;

/* Ends the connection now; unsent output is dropped. on_close runs before this returns. */
void rpc_conn_close(struct rpc_conn *c, int status, const char *reason);

/*
 * Stops reading, lets queued output drain, half-closes, discards what the
 * peer still sends until it closes, then ends with status. The whole
 * sequence is bounded by RPC_CONN_LINGER_TIMEOUT_MS. Used to deliver a
 * final error envelope reliably: closing a socket that has unread input
 * makes the kernel send a reset, which can destroy the envelope in flight.
 */
void rpc_conn_close_after_flush(struct rpc_conn *c, int status, const char *reason);

/*
 * Pauses (true) or resumes (false) reading on behalf of the owner (e.g. too
 * many requests in flight). Independent of the output backpressure pause.
 */
void rpc_conn_pause_reading(struct rpc_conn *c, bool paused);

/* Sets the largest frame accepted from now on (the next length prefix);
 * the server keeps it small until a peer's hello succeeds. */
void rpc_conn_set_read_frame_limit(struct rpc_conn *c, uint32_t frame_bytes_max);

/* The conn's bufferevent (e.g. to read the TLS peer certificate); owned by the conn. */
struct bufferevent *rpc_conn_bufferevent(const struct rpc_conn *c);

/* "ip:port" of the peer, for logs. */
const char *rpc_conn_peer(const struct rpc_conn *c);
/* Bytes queued and not yet written to the socket. */
size_t rpc_conn_output_bytes(const struct rpc_conn *c);
/* True until the conn starts closing. */
bool rpc_conn_is_open(const struct rpc_conn *c);

#endif
