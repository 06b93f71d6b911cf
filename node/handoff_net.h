/*
 * handoff_net.h - runs ownership handoff (coordinator/handoff.h) on the
 * event loop: the I/O half of moving partitions after a ring change.
 *
 * What it does for the struct handoff it owns:
 *  - ring: at every tick it gives the handoff node/cluster_rt.h's newest
 *    ring (handoff_set_ring compares, replans only on a change);
 *  - transfer_done: cluster_rt_transfer_done installs the ring with the
 *    partition finished, which gossip spreads like any ring;
 *  - merge: coord_merge_local (causal, durable, calls the write hook so
 *    anti-entropy trees see handed-off keys);
 *  - drop: one engine_delete_range over the range's DATA keys, skipped
 *    when the range is already empty (one iterator seek);
 *  - save: DATA_DIR/cluster/handoff (node/state_file.h, atomic);
 *  - write hook: handoff_net_write_hook wraps the next hook (anti-entropy)
 *    and first gives every DATA write to handoff_note_write, which
 *    forwards it to nodes gaining that range;
 *  - transport: ClusterMessage fields 80..82 (cluster.proto) in rpc
 *    requests over a pool of its own (one connection per peer, Hello with
 *    ROLE_NODE), so bulk streams never queue in front of quorum traffic.
 *    A batch's reply is the rpc reply of its request; forwards and DONE
 *    notices are acked empty. The sender of a received message is the
 *    node id of the connection's Hello (ROLE_NODE only);
 *  - admin: ADMIN_OP_TRANSFERS (kvctl transfers) is answered here; other
 *    requests go on to the next handler;
 *  - metrics: ringkv_handoff_* in /metrics (handoff_net_refresh_metrics).
 *
 * Lifecycle: handoff_net_new before the coordinator (its hook goes in the
 * coord config), handoff_net_attach once the coordinator and the cluster
 * runtime exist, handoff_net_free before them and the engine.
 *
 * Threading: the event_base's thread, like everything it calls.
 */
#ifndef RINGKV_NODE_HANDOFF_NET_H
#define RINGKV_NODE_HANDOFF_NET_H

#include <stdint.h>

#include "common/status.h"
#include "coordinator/coord.h"
#include "coordinator/handoff.h"
#include "proto/kv.pb-c.h"
#include "rpc/server.h"

struct event_base;
struct rpc_tls;
struct cluster_rt;
struct metrics;
struct handoff_net;

#define HANDOFF_NET_BACKOFF_MAX_MS 1000u     /* reconnect backoff cap of the pool */
#define HANDOFF_NET_REQUEST_TIMEOUT_MS 15000u
#define HANDOFF_NET_STATE_FILE "handoff"

struct handoff_net_config {
    const char *node_id;        /* our Hello, and the handoff's node id */
    const char *cluster_name;   /* our Hello */
    const char *data_dir;       /* the state file goes in DATA_DIR/cluster */
    uint32_t frame_bytes_max;   /* 0 = default */
    struct engine *engine;      /* borrowed */
    uint64_t bytes_per_sec;
    uint32_t transfers_max;
    uint32_t drop_delay_ms;
};

/* Creates it, loading the saved state, and registers its metrics in m.
 * Strings are copied. KV_OK and *out; KV_EINVAL, KV_EIO, KV_ENOMEM: logged. */
int handoff_net_new(struct event_base *base, const struct handoff_net_config *cfg, struct metrics *m,
                    struct handoff_net **out) KV_MUST_USE;

/* The hook for coord_config.write_hook: it calls handoff_note_write, then
 * next (copied; NULL or next->wrote NULL: none). */
void handoff_net_write_hook(struct handoff_net *n, const struct coord_write_hook *next,
                            struct coord_write_hook *out);

/* Starts: ring, liveness, addresses and transfer_done from rt, merges
 * through coord, connections with tls (NULL: plain). Requests that are
 * not for it go to next(next_arg, ...). All borrowed. KV_ESTATE if
 * already attached; KV_ENOMEM. */
int handoff_net_attach(struct handoff_net *n, struct coord *coord, struct cluster_rt *rt, struct rpc_tls *tls,
                       rpc_request_fn next, void *next_arg) KV_MUST_USE;

/* An rpc_request_fn (arg = n): handoff ClusterMessages and
 * ADMIN_OP_TRANSFERS; everything else to next. */
void handoff_net_handle_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                                struct rpc_reply_handle h);

/* Copies the handoff's counters into the metrics registered by new. */
void handoff_net_refresh_metrics(struct handoff_net *n);

/* Closes the pool and the timer, frees the handoff. NULL is allowed. */
void handoff_net_free(struct handoff_net *n);

#endif
