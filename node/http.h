/*
 * http.h - kvnode's HTTP listener (our own HTTP/1.1 server on libevent
 * primitives, node/http.c): health and metrics.
 *
 *   GET /health   200 {"status":"ok","node_id":...,"cluster_name":...,
 *                 "version":...,"uptime_s":..., plus the fields of the
 *                 health hook: "ring_version", "members", "members_alive"
 *                 in kvnode}; 503 with "status":"draining"
 *                 once shutdown has begun, so load balancers stop routing.
 *   GET /metrics  the node's metrics registry in Prometheus text format
 *                 (node/metrics.h); refresh() runs first so that values
 *                 owned elsewhere (engine, coordinator) are current.
 * HEAD is answered like GET without the body; a query string is ignored.
 * Another path is 404; another method on these paths 405. Malformed
 * requests are 400. One request per connection: every response carries
 * Connection: close and the server closes after it.
 *
 * Limits (how each is enforced: node/http.c; the request grammar:
 * node/http_head.h): at most connections_max connections (more get 503
 * and are closed); request line + headers at most HTTP_HEADER_BYTES_MAX
 * (413); no request body (413);
 * the whole head within HTTP_REQUEST_TIMEOUT_MS of accept(), however
 * steadily the bytes come (408, close); the response taken within
 * HTTP_RESPONSE_TIMEOUT_MS. A failed accept() (EMFILE) pauses accepting
 * for RPC_LISTENER_ACCEPT_RETRY_MS (rpc/listener.h).
 *
 * Threading: runs on the event_base's thread, as does refresh().
 */
#ifndef RINGKV_NODE_HTTP_H
#define RINGKV_NODE_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/status.h"

struct event_base;
struct metrics;
struct http_server;

/* Request line + header lines + the empty line, CRLFs included. */
#define HTTP_HEADER_BYTES_MAX (8u * 1024u)
/* From accept() to the end of the request head; not reset by incoming bytes. */
#define HTTP_REQUEST_TIMEOUT_MS 5000u
/* From the end of the head until the client has read the response and closed. */
#define HTTP_RESPONSE_TIMEOUT_MS 5000u
/* Bytes read and dropped after the response before closing anyway. */
#define HTTP_LINGER_BYTES_MAX (1024u * 1024u)
/* At most one "connection limit reached" warning per this period. */
#define HTTP_REFUSED_LOG_PERIOD_MS 10000u

struct http_server_config {
    const char *listen;          /* "HOST:PORT" */
    uint32_t connections_max;    /* open at once; 0 = KV_CONNECTIONS_MAX_DEFAULT */
    const char *node_id;
    const char *cluster_name;
    const char *version;
    struct metrics *metrics;     /* borrowed; rendered by /metrics */
    void (*refresh)(void *arg);  /* may be NULL */
    void *refresh_arg;
    /* Appends more /health fields, each starting with a comma (e.g.
     * ,"ring_version":3); KV_OK or an error (the answer is then 500). May be NULL. */
    int (*health)(void *arg, struct kv_buf *out);
    void *health_arg;
};

/* Binds and serves. Strings are copied. KV_OK and *out; KV_EINVAL (bad
 * address), KV_EIO (cannot bind; logged), KV_ENOMEM. */
int http_server_new(struct event_base *base, const struct http_server_config *cfg,
                    struct http_server **out) KV_MUST_USE;

/* From now on /health answers 503 "draining". */
void http_server_set_draining(struct http_server *s);

/* The bound TCP port. */
uint16_t http_server_port(const struct http_server *s);

/* Stops listening, closes connections, frees s. NULL is allowed. */
void http_server_free(struct http_server *s);

#endif
