/*
 * client_internal.h - the client object and request engine shared by the
 * files of libringkv (ringkv.c, router.c, ops.c, batch.c, admin*.c). Not installed.
 *
 * A call builds an array of struct client_req (envelopes it owns, on its
 * stack or heap), runs them with client_run, reads each req's reply, and
 * frees the replies with client_reqs_free.
 *
 * Threading: as struct rkv_client, one thread at a time.
 */
#ifndef RINGKV_CLIENT_CLIENT_INTERNAL_H
#define RINGKV_CLIENT_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/conn.h"
#include "client/policy.h"
#include "client/ringkv.h"
#include "client/route.h"
#include "common/buf.h"
#include "common/clock.h"
#include "proto/kv.pb-c.h"

#define CLIENT_HOST_SPEC_BYTES_MAX (CLIENT_HOST_BYTES_MAX + CLIENT_PORT_BYTES_MAX + 2)

struct client_host {
    char spec[CLIENT_HOST_SPEC_BYTES_MAX];   /* as given: "host:port" */
    char host[CLIENT_HOST_BYTES_MAX];
    char port[CLIENT_PORT_BYTES_MAX];
    uint64_t penalty_until_ms;              /* failed recently: try after the others */
};

/* A node requests are routed to (router.c), keyed by its advertised address. */
struct client_node {
    char spec[CLIENT_ROUTE_SPEC_BYTES_MAX];  /* "" = free slot */
    char host[CLIENT_HOST_BYTES_MAX];
    char port[CLIENT_PORT_BYTES_MAX];
    struct client_conn conn;
    uint64_t last_used_ms;                   /* least recently used is closed first */
    uint64_t penalty_until_ms;               /* failed recently: try after the others */
};

struct rkv_client {
    struct client_config cfg;
    struct client_tls *tls;          /* NULL without TLS */
    struct client_host *hosts;
    size_t nhosts;
    size_t cur;                      /* the current host; conn is open to it, or closed */
    struct client_conn conn;
    uint64_t next_request_id;
    struct kv_rand rand;             /* backoff jitter */
    struct kv_buf err;               /* rkv_last_error */
    char last_host[CLIENT_ROUTE_SPEC_BYTES_MAX]; /* rkv_last_host; "" before the first call */
    /* preference-list routing (router.c; Routing in ringkv.h) */
    struct client_route *route;      /* NULL: not routing now */
    uint64_t route_next_ms;          /* periodic refresh due at */
    uint64_t route_retry_ms;         /* no fetch before (throttle) */
    bool route_stale;                /* a routed node failed: fetch at the next call */
    struct client_node *nodes;       /* cfg.route_conns_max slots, allocated on first use */
};

enum client_req_state {
    CLIENT_REQ_NEW = 0,   /* not on the current connection */
    CLIENT_REQ_QUEUED,    /* queued on the connection; answer pending */
    CLIENT_REQ_DONE,      /* reply holds the answer */
};

struct client_req {
    Ringkv__Envelope *env;        /* the request; request_id is set by the engine */
    Ringkv__Envelope *reply;      /* owned; set when DONE */
    enum client_req_state state;
    bool sent;                    /* some byte of it left on a connection that then failed */
    uint64_t id;                  /* request id on the current connection */
    uint64_t start;               /* its frame's offset in the connection's output stream */
};

/*
 * Runs reqs[0..n) until each is DONE or the call fails. KV_OK: every req
 * has a reply (whose status may be an error). Otherwise: KV_EINDOUBT when
 * !idempotent and some req was sent without an answer (see each req's
 * `sent` and `state`), or the failure (KV_EUNAVAIL, KV_ETIMEDOUT,
 * KV_ECLOSED, KV_EAUTH, ...). c->err holds the detail of a failure.
 */
int client_run(struct rkv_client *c, struct client_req *reqs, size_t n, bool idempotent,
               uint64_t deadline_ms) KV_MUST_USE;

/*
 * client_run for a request about one key: with routing on, sent to a
 * primary replica of key (router.c), falling back to client_run when no
 * routed node can take it. Same results as client_run.
 */
int client_run_key(struct rkv_client *c, struct client_req *req, const void *key, size_t key_len,
                   bool idempotent, uint64_t deadline_ms) KV_MUST_USE;

/* The pieces client_run_key shares with client_run (ringkv.c). */
int client_exchange(struct rkv_client *c, struct client_conn *conn, struct client_req *reqs, size_t n,
                    uint64_t deadline_ms) KV_MUST_USE;
void client_reset_after_failure(struct client_conn *conn, struct client_req *reqs, size_t n);
void client_note_host(struct rkv_client *c, const char *host, int rc);
bool client_req_retriable(const struct client_req *r);
/* Closes the routed connections and drops the ring (rkv_close). */
void client_router_free(struct rkv_client *c);

/* Frees the replies of reqs (not the request envelopes). */
void client_reqs_free(struct client_req *reqs, size_t n);

/* Opens a connection to the first host of a round that accepts. */
int client_ensure_conn(struct rkv_client *c, uint64_t deadline_ms) KV_MUST_USE;

/* Sleeps the backoff of retry `attempt`; false (no sleep) if that would
 * reach the deadline. */
bool client_backoff(struct rkv_client *c, uint32_t attempt, uint64_t deadline_ms);

/* Starts a call: clears the last error, computes its budget and deadline. */
struct client_call {
    uint32_t budget_ms;
    uint64_t deadline_ms;
};
struct client_call client_call_begin(struct rkv_client *c, const struct rkv_request_options *o);

/* Checks a DONE request's reply: its status (KV_OK or the node's error, with
 * c->err set) and that its body is `want`. */
int client_reply_check(struct rkv_client *c, const struct client_req *r,
                       Ringkv__Envelope__BodyCase want) KV_MUST_USE;

/*
 * Sends one kv.proto Admin request (op, arg; NULL arg = "") to the current
 * host and checks the answer (admin.c). KV_OK and *reply, an Envelope whose
 * body is an AdminReply with status OK; the caller owns it (rpc_envelope_free).
 * Otherwise the failure as client_run or client_reply_check report it, with
 * c->err set, and *reply untouched.
 */
int client_admin_call(struct rkv_client *c, Ringkv__AdminOp op, const char *arg, bool idempotent,
                      uint64_t deadline_ms, Ringkv__Envelope **reply) KV_MUST_USE;

#endif
