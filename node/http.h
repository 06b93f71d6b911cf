/*
 * http.h - kvnode's HTTP listener (libevent evhttp): health and metrics.
 *
 *   GET /health   200 {"status":"ok","node_id":...,"cluster_name":...,
 *                 "version":...,"uptime_s":..., plus the fields of the
 *                 health hook: "ring_version", "members", "members_alive"
 *                 in kvnode}; 503 with "status":"draining"
 *                 once shutdown has begun, so load balancers stop routing.
 *   GET /metrics  the node's metrics registry in Prometheus text format
 *                 (node/metrics.h); refresh() runs first so that values
 *                 owned elsewhere (engine, coordinator) are current.
 * Anything else is 404; methods other than GET and HEAD are 405.
 *
 * Limits: request headers HTTP_HEADERS_BYTES_MAX, no request body,
 * connections idle for HTTP_TIMEOUT_S are closed. evhttp (libevent 2.1)
 * has no connection cap; the endpoints are cheap and read-only.
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

#define HTTP_HEADERS_BYTES_MAX (8u * 1024u)
#define HTTP_TIMEOUT_S 10

struct http_server_config {
    const char *listen;          /* "HOST:PORT" */
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
