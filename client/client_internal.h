/*
 * client_internal.h - the client object and request engine shared by the
 * files of libringkv (ringkv.c, ops.c, batch.c). Not installed.
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
    /* A ring cache (partition -> preference list, with the ring version it
     * came from) will sit here, and the request engine will pick the
     * connection per key; until the ring is served every request goes to
     * the current host. */
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

#endif
