/*
 * native.h - kvnode's native-protocol service: kv.proto requests on top of
 * the rpc server (rpc/server.h), answered through the coordinator.
 *
 * Get, Put, Delete, BatchGet, BatchPut, Expire, Ttl and Incr go to the
 * coordinator entry points (coordinator/coord.h) with the request's
 * options (ReadOptions / WriteOptions: consistency or explicit R/W,
 * timeout, primary_only; unset = the node's defaults). Stats and Ping are
 * answered here. Every reply carries the request's id and a status from
 * common/status.h; a failed request gets status and a message, no body.
 * Notes: a BatchPut runs with the options of its first entry (the
 * coordinator takes one set per batch); Expire with ttl_ms 0 clears the
 * expiry, and ExpireReply.found says whether the key had a live value.
 *
 * Authentication (cfg.users set, node/auth.h): the Hello must carry a
 * user's credentials, or come from a node over mutual TLS; then each
 * request needs a role: read for Get, BatchGet, Ttl, Stats, Ping and the
 * Admin views (MEMBERS, RING, HINTS, RING_MAP, LOCAL_GET, AAE_STATUS,
 * TRANSFERS); write for Put, BatchPut,
 * Delete, Expire, Incr; admin for every other Admin op and any other
 * request; node for ClusterMessage. Too low a role: KV_EAUTH, naming the
 * role needed. native_required_role is that table.
 *
 * Every data request's encoded size is taken from cfg.budget while it is
 * in flight; over the budget it is answered KV_EBUSY at once.
 *
 * The rpc server enforces the wire limits (frame size, connections,
 * idle and frame timeouts, output backlog, hello); see rpc/server.h.
 *
 * Threading: the event_base's thread, like everything it calls.
 */
#ifndef RINGKV_NODE_NATIVE_H
#define RINGKV_NODE_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "rpc/server.h"

struct event_base;
struct coord;
struct engine;
struct metrics;
struct rpc_tls;
struct native_server;
struct auth_users;
struct node_budget;

struct native_server_config {
    const char *listen;             /* "HOST:PORT" */
    const char *node_id;
    const char *cluster_name;
    uint32_t max_connections;
    uint32_t frame_bytes_max;
    uint32_t idle_timeout_ms;
    uint32_t frame_timeout_ms;
    size_t output_bytes_max;
    uint32_t request_timeout_ms;    /* default coordinator deadline */
    struct rpc_tls *tls;            /* NULL: plain TCP; borrowed, must outlive the server */
    const char *conflict_mode;      /* peer nodes with another one are refused (rpc/server.h); a literal */
    struct auth_users *users;       /* NULL: authentication off; borrowed, must outlive the server */
    struct node_budget *budget;     /* node-wide request bytes (node/budget.h); NULL: none; borrowed */
};

/* Starts listening. coord, engine (for Stats) and metrics are borrowed and
 * must outlive the server; series are registered with listener="native".
 * KV_OK and *out, or the rpc server's error (KV_EINVAL, KV_EIO, KV_ENOMEM). */
int native_server_new(struct event_base *base, const struct native_server_config *cfg,
                      struct coord *coord, struct engine *engine, struct metrics *metrics,
                      struct native_server **out) KV_MUST_USE;

uint16_t native_server_port(const struct native_server *s);

/* Requests that are not data requests (Envelope.cluster, Envelope.admin)
 * go to fn, which owns req and answers h, instead of being refused with
 * KV_EINVAL. Set once after start-up (node/cluster_rt.h); fn(arg) must
 * outlive the server or be unset with fn NULL. */
void native_server_set_other(struct native_server *s, rpc_request_fn fn, void *arg);

/* Requests handed to the coordinator and not answered yet. */
uint64_t native_server_inflight(const struct native_server *s);

/* Copies the rpc server's connection counters into the metrics registry. */
void native_server_refresh_metrics(struct native_server *s);

/* The auth_role (node/auth.h) a request needs; see the table above. */
uint32_t native_required_role(const Ringkv__Envelope *req);

/* Closes the listener and every connection (unsent replies are dropped),
 * then frees s. Requests still in the coordinator answer into nothing.
 * NULL is allowed. */
void native_server_free(struct native_server *s);

#endif
