/*
 * resp_server.h - the RESP (Redis protocol) listener of kvnode.
 *
 * Serves GET, SET (EX, PX, NX, XX), DEL, EXISTS, MGET, MSET, EXPIRE,
 * PEXPIRE, PERSIST, TTL, PTTL, INCR, INCRBY, DECR, DECRBY, PING, ECHO,
 * INFO, COMMAND, CONFIG GET, CLIENT, SELECT 0 and QUIT, so that redis-cli,
 * redis-benchmark and Redis client libraries work against a node. Every
 * data command goes through the coordinator (coordinator/coord.h): TTLs
 * and counters are features of the store, not of this layer.
 *
 * Connections. Requests may be pipelined: every complete command in the
 * input is parsed and dispatched in one go, and the replies are written in
 * request order even when the coordinator answers out of order or later.
 * Replies of one input batch are sent with one write. SETs from every
 * connection served in one event-loop iteration are written to the
 * coordinator as one batch (one WAL write, one fsync with --sync always);
 * see resp_internal.h for why this keeps each connection's order.
 *
 * Limits, all from the config: connections per listener (one more gets
 * "-ERR max number of clients reached" and is closed), command size (a
 * longer bulk or command is a protocol error), idle time, time to finish
 * a started command (slow-loris), and unsent reply bytes (above it no
 * more commands are parsed and the connection is not read until the
 * backlog halves; one MGET reply may not exceed it). Memory per
 * connection is thus bounded by one command plus the reply limit. A protocol error is answered with
 * "-ERR Protocol error: ..." and the connection closed, as Redis does;
 * an unknown command or wrong arity only gets an error reply.
 *
 * Differences from Redis, by design: one keyspace (SELECT 0 only); MSET
 * is not atomic across keys (each key succeeds or fails on its own; an
 * error names the first failure); a key with concurrent siblings (which
 * RESP writers, being blind overwrites, do not create) reads as its first
 * sibling; INCR turns the key into a counter that later GETs render as a
 * decimal string.
 *
 * Key and value bytes handed to the coordinator are valid only during
 * the call (they live in the connection's input buffer): a coordinator
 * that answers later must copy what it keeps.
 *
 * Threading: everything runs on the event_base's thread.
 */
#ifndef RINGKV_NODE_RESP_SERVER_H
#define RINGKV_NODE_RESP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct event_base;
struct coord;
struct metrics;
struct auth_users;
struct node_budget;
struct resp_server;

/* Slack above value_bytes_max for a bulk argument, so that a value a bit
 * over the limit gets "-ERR value too large" rather than a protocol error. */
#define RESP_SERVER_BULK_SLACK_BYTES (64u * 1024u)
#define RESP_SERVER_INLINE_BYTES_MAX (64u * 1024u)
/* Arguments per command: MSET of KV_BATCH_KEYS_MAX pairs plus its name. */
#define RESP_SERVER_ARGS_MAX (2u * 10000u + 1u)
#define RESP_SERVER_BACKLOG 1024

struct resp_server_config {
    const char *listen;             /* "HOST:PORT" (port 0: any free port) */
    const char *node_id;            /* shown by INFO */
    const char *version;            /* ringkv version, shown by INFO */
    uint32_t max_connections;
    uint32_t key_bytes_max;
    uint32_t value_bytes_max;
    size_t command_bytes_max;       /* whole command as sent (the node's frame limit) */
    size_t output_bytes_max;        /* unsent replies before reading pauses */
    uint32_t idle_timeout_ms;
    uint32_t frame_timeout_ms;      /* a started command must complete within this */
    uint32_t request_timeout_ms;    /* passed to the coordinator */
    struct auth_users *users;       /* NULL: no AUTH needed; borrowed, must outlive the server */
    struct node_budget *budget;     /* node-wide request bytes (node/budget.h); NULL: none; borrowed */
};

/*
 * Binds and starts accepting. coord and metrics are borrowed and must
 * outlive the server; the server registers its series in metrics
 * (listener="resp"). Strings in cfg are copied. KV_OK and *out; KV_EINVAL
 * (bad address), KV_EIO (cannot bind; logged), KV_ENOMEM.
 */
int resp_server_new(struct event_base *base, const struct resp_server_config *cfg,
                    struct coord *coord, struct metrics *metrics,
                    struct resp_server **out) KV_MUST_USE;

/* The bound TCP port. */
uint16_t resp_server_port(const struct resp_server *s);

/* Shutdown, step 1: closes the listening socket and stops reading from
 * every connection; requests already parsed still complete and their
 * replies are still written. */
void resp_server_stop(struct resp_server *s);

/* Connections that still have requests in flight or replies unsent. */
size_t resp_server_busy(const struct resp_server *s);

/* Closes every connection (unsent replies are dropped) and frees s.
 * Requests still inside the coordinator complete into nothing. NULL is allowed. */
void resp_server_free(struct resp_server *s);

#endif
