/*
 * cluster_rt.h - kvnode's cluster runtime: node/cluster.h (membership,
 * ring, staged changes) on the event loop, with node/gossip_net.h as its
 * transport, node/admin.h answering kvctl, and the cluster's metrics and
 * /health fields.
 *
 * Addresses. The node is known to its peers by its advertised address:
 * --advertise, else the --listen address (host and bound port); a
 * wildcard listener (0.0.0.0, ::) without --advertise advertises this
 * host's name (gethostname) and says so in the log (the config refuses
 * that combination when seeds are set). Gossip datagrams use the same
 * port number as the native listener. Seeds are given as HOST:PORT of
 * native listeners; a seed that is this node (same string as the
 * advertised address, or resolving to the same address at start-up) is
 * skipped.
 *
 * Timing. One libevent timer runs node_cluster_tick at
 * node_cluster_next_tick_ms (at least every gossip interval, 200 ms);
 * every message and admin request re-arms it.
 *
 * Metrics (refreshed before /metrics renders): ringkv_gossip_members{state},
 * probes, failed and indirect probes, suspicions raised here, suspect and
 * dead events, refutations of suspicions about this node, suspicions of
 * others that turned out false (suspect -> alive), deaths declared,
 * messages in and out, drops by reason, transport counters, stalls,
 * Lifeguard awareness; ringkv_ring_version, partitions, partitions owned
 * here, partitions in transfer, commits by kind.
 *
 * Threading: the event_base's thread.
 */
#ifndef RINGKV_NODE_CLUSTER_RT_H
#define RINGKV_NODE_CLUSTER_RT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/status.h"
#include "gossip/ring.h"
#include "node/config.h"
#include "proto/kv.pb-c.h"
#include "rpc/server.h"

struct event_base;
struct metrics;
struct rpc_tls;
struct cluster_rt;

/*
 * Starts the cluster side of a node whose native listener is bound to
 * native_port: the gossip transport, the cluster state (ring and peers
 * files under cfg->data_dir/cluster), the timer, the metrics. tls is the
 * client TLS context for node-to-node TCP (NULL: plain; with TLS, gossip
 * uses TCP only); it must outlive the runtime. KV_OK and *out; KV_EIO
 * (UDP port taken, state dir unusable), KV_EINVAL, KV_ENOMEM: logged.
 */
int cluster_rt_new(struct event_base *base, const struct node_config *cfg, uint16_t native_port,
                   struct rpc_tls *tls, struct metrics *metrics, struct cluster_rt **out) KV_MUST_USE;
void cluster_rt_free(struct cluster_rt *rt);

/* The coordinator whose hints kvctl hints reports (borrowed; must outlive
 * rt). Without one, that admin operation is answered KV_ESTATE. */
struct coord;
void cluster_rt_set_coord(struct cluster_rt *rt, struct coord *coord);

/*
 * An rpc_request_fn for the native listener's requests that are not data
 * requests: Envelope.cluster carrying gossip, and Envelope.admin. Anything
 * else is answered KV_EINVAL. arg is the struct cluster_rt.
 */
void cluster_rt_handle_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                               struct rpc_reply_handle h);

/* Appends ,"ring_version":V,"members":N,"members_alive":A to out (the
 * /health object). arg is the struct cluster_rt. */
int cluster_rt_health_json(void *arg, struct kv_buf *out) KV_MUST_USE;

/* Copies the cluster's counters into the metrics registry. */
void cluster_rt_refresh_metrics(struct cluster_rt *rt);

/* For the coordinator's cluster ops: the newest ring (or NULL), and
 * whether gossip holds member id up. */
const struct ring *cluster_rt_ring(const struct cluster_rt *rt);
bool cluster_rt_is_up(const struct cluster_rt *rt, const char *id);

/* node_cluster_transfer_done at the current time (ownership handoff). */
int cluster_rt_transfer_done(struct cluster_rt *rt, uint32_t partition, const char *to) KV_MUST_USE;

/* The address peers know this node by. */
const char *cluster_rt_advertise(const struct cluster_rt *rt);

/* The address gossip knows member id by (borrowed until the next gossip
 * message or tick), or NULL for an id it does not know. */
const char *cluster_rt_member_addr(const struct cluster_rt *rt, const char *id);

#endif
