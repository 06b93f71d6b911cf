/* replication.c - see replication.h. */
#include "node/replication.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/log.h"
#include "coordinator/coord_msg.h"
#include "node/cluster_rt.h"
#include "node/deadline_timer.h"
#include "node/peer_send.h"
#include "rpc/frame.h"
#include "rpc/pool.h"

/* Open addressing at most half full: REPL_PEERS_MAX peers in 2x the slots
 * (8,192 pointers, 64 KiB). Peers are never removed: they are the
 * cluster's members, and a send callback may still point at one. */
#define REPL_PEER_SLOTS (2u * REPL_PEERS_MAX)

/* One member this node sends to; the argument of its sends' callbacks. */
struct repl_peer {
    struct replication *r;
    char id[KV_NODE_ID_BYTES_MAX + 1];
    bool known;     /* up has been sampled by a tick */
    bool up;
};

/* The request being handled by coord_handle_message: a reply the
 * coordinator sends to its sender for it goes back as its rpc reply. */
struct repl_current {
    bool active;
    bool answered;
    const char *sender;
    uint64_t req_id;
    struct rpc_reply_handle h;
};

struct replication {
    struct event_base *base;
    struct rpc_pool *pool;
    struct coord *coord;        /* NULL until attached */
    struct cluster_rt *rt;      /* NULL until attached */
    struct event *timer;
    uint64_t timer_at_ms;
    bool closing;               /* the pool is being freed: callbacks only clean up */
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
    char cluster_name[KV_CLUSTER_NAME_BYTES_MAX + 1];
    const char *conflict_mode;  /* a literal (replication_config) */
    uint32_t frame_bytes_max;
    struct repl_current cur;
    struct repl_peer **peers;   /* REPL_PEER_SLOTS slots */
    uint32_t npeers;
    struct replication_stats stats;
};

static uint64_t repl_now_ms(void) { return kv_clock_real.mono_ms(&kv_clock_real); }

/* ---- peers ---- */

/* The record of id, created on first use; NULL if the table is full or
 * the id is not a node id. */
static struct repl_peer *repl_peer_get(struct replication *r, const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > KV_NODE_ID_BYTES_MAX)
        return NULL;
    uint32_t mask = REPL_PEER_SLOTS - 1, i = (uint32_t)kv_hash64(id, len, 0) & mask;
    for (; r->peers[i]; i = (i + 1) & mask) {
        if (strcmp(r->peers[i]->id, id) == 0)
            return r->peers[i];
    }
    if (r->npeers >= REPL_PEERS_MAX)
        return NULL;
    struct repl_peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->r = r;
    memcpy(p->id, id, len + 1);
    r->peers[i] = p;
    r->npeers++;
    return p;
}

/* Calls coord_peer_up for ring members gossip holds up again since the
 * previous tick. O(ring members) per tick. */
static void repl_check_peers(struct replication *r, uint64_t now_ms)
{
    const struct ring *ring = cluster_rt_ring(r->rt);
    uint32_t n = ring ? ring_member_count(ring) : 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *id = ring_member_id(ring, i);
        if (strcmp(id, r->node_id) == 0)
            continue;
        struct repl_peer *p = repl_peer_get(r, id);
        if (!p)
            continue;
        bool up = cluster_rt_is_up(r->rt, id);
        if (p->known && !p->up && up) {
            r->stats.peers_up++;
            log_info("repl", "peer is up again; delivering its hints node=%s", id);
            coord_peer_up(r->coord, id, now_ms);
        }
        p->known = true;
        p->up = up;
    }
}

/* ---- timer ---- */

static void repl_arm(struct replication *r)
{
    uint64_t now = repl_now_ms(), next = coord_next_tick_ms(r->coord);
    if (next > now + REPL_TICK_MAX_MS)
        next = now + REPL_TICK_MAX_MS;
    if (!deadline_timer_arm(r->timer, &r->timer_at_ms, now, next))
        log_error("repl", "cannot arm the coordinator timer");
}

static void repl_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct replication *r = arg;
    uint64_t now = repl_now_ms();
    coord_tick(r->coord, now);
    repl_check_peers(r, now);
    repl_arm(r);
}

/* ---- sending ---- */

static bool repl_is_reply(enum coord_msg_type t)
{
    return t == COORD_MSG_REPLICA_GET_REPLY || t == COORD_MSG_REPLICA_PUT_REPLY ||
           t == COORD_MSG_FORWARD_REPLY || t == COORD_MSG_HINT_REPLY;
}

/* The rpc reply to one of our messages: an inline coord reply, or an
 * empty ack. A failure is a lost message. */
static void repl_on_reply(void *arg, int status, Ringkv__Envelope *reply)
{
    struct repl_peer *p = arg;
    struct replication *r = p->r;
    if (r->closing)
        goto done;
    if (status != KV_OK) {
        r->stats.send_failures++;
        log_debug("repl", "message lost node=%s status=\"%s\"", p->id, kv_status_str(status));
        goto done;
    }
    if (reply->body_case != RINGKV__ENVELOPE__BODY_CLUSTER || !reply->cluster)
        goto done;
    struct coord_msg m;
    int rc = coord_msg_from_proto(reply->cluster, &m);
    if (rc == KV_OK) {
        r->stats.received++;
        rc = coord_handle_message(r->coord, p->id, &m, repl_now_ms());
    }
    if (rc != KV_OK)
        r->stats.bad_messages++;
    repl_arm(r);
done:
    rpc_envelope_free(reply);
}

static int repl_reply_inline(struct replication *r, const struct coord_msg_proto *p)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_CLUSTER;
    env.cluster = (Ringkv__ClusterMessage *)&p->cm;
    r->cur.answered = true;
    r->stats.replied_inline++;
    return rpc_reply_send(r->cur.h, &env);
}

static int repl_send(void *ctx, const char *node_id, const struct coord_msg *msg)
{
    struct replication *r = ctx;
    if (!r->rt || r->closing)
        return KV_ESTATE;
    struct coord_msg_proto p;
    coord_msg_to_proto(msg, &p);
    if (repl_is_reply(msg->type) && r->cur.active && !r->cur.answered && msg->req_id == r->cur.req_id &&
        strcmp(node_id, r->cur.sender) == 0)
        return repl_reply_inline(r, &p);
    struct repl_peer *peer = repl_peer_get(r, node_id);
    const char *addr = cluster_rt_member_addr(r->rt, node_id);
    int rc = KV_ENOTFOUND;
    if (peer && addr) {
        Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
        env.body_case = RINGKV__ENVELOPE__BODY_CLUSTER;
        env.cluster = &p.cm;
        rc = rpc_pool_request(r->pool, addr, &env, REPL_SEND_TIMEOUT_MS, repl_on_reply, peer);
    }
    if (rc == KV_OK) {
        r->stats.sent++;
    } else {
        r->stats.send_failures++;
        log_debug("repl", "message not sent node=%s type=%s status=\"%s\"", node_id,
                  coord_msg_type_str(msg->type), kv_status_str(rc));
    }
    return rc;
}

static const struct ring *repl_ring(void *ctx)
{
    struct replication *r = ctx;
    return r->rt ? cluster_rt_ring(r->rt) : NULL;
}

static bool repl_alive(void *ctx, const char *node_id)
{
    struct replication *r = ctx;
    return r->rt && cluster_rt_is_up(r->rt, node_id);
}

void replication_coord_ops(struct replication *r, struct coord_net_ops *net,
                           struct coord_cluster_ops *cluster)
{
    net->send = repl_send;
    net->ctx = r;
    cluster->ring = repl_ring;
    cluster->alive = repl_alive;
    cluster->ctx = r;
}

/* ---- receiving ---- */

static bool repl_is_coord_body(Ringkv__ClusterMessage__BodyCase b)
{
    switch (b) {
    case RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_GET:
    case RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_GET_REPLY:
    case RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_PUT:
    case RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_PUT_REPLY:
    case RINGKV__CLUSTER_MESSAGE__BODY_FORWARD_WRITE:
    case RINGKV__CLUSTER_MESSAGE__BODY_FORWARD_WRITE_REPLY:
    case RINGKV__CLUSTER_MESSAGE__BODY_HINT_DELIVERY:
    case RINGKV__CLUSTER_MESSAGE__BODY_HINT_DELIVERY_REPLY:
    case RINGKV__CLUSTER_MESSAGE__BODY_PURGE_MARK:
        return true;
    default:
        return false;
    }
}

/* Hands one peer message to the coordinator; answers h inline (the
 * coordinator's reply) or with an empty ack or the refusal. */
static void repl_handle_coord(struct replication *r, const struct rpc_peer *peer, Ringkv__Envelope *req,
                              struct rpc_reply_handle h)
{
    struct coord_msg m;
    int rc = KV_EAUTH;
    if (peer->node_id && peer->node_id[0])
        rc = coord_msg_from_proto(req->cluster, &m);
    if (rc == KV_OK) {
        r->stats.received++;
        r->cur = (struct repl_current){ true, false, peer->node_id, m.req_id, h };
        rc = coord_handle_message(r->coord, peer->node_id, &m, repl_now_ms());
        r->cur.active = false;
    }
    if (rc != KV_OK)
        r->stats.bad_messages++;
    if (!r->cur.answered)
        peer_send_ack(h, rc, "cluster message refused", "repl");
    r->cur.answered = false;
    rpc_envelope_free(req);
    repl_arm(r);
}

void replication_handle_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                                struct rpc_reply_handle h)
{
    struct replication *r = arg;
    bool coord_msg = req->body_case == RINGKV__ENVELOPE__BODY_CLUSTER && req->cluster &&
                     repl_is_coord_body(req->cluster->body_case);
    if (coord_msg && r->coord) {
        repl_handle_coord(r, peer, req, h);
        return;
    }
    if (!coord_msg && r->rt) {
        cluster_rt_handle_request(r->rt, peer, req, h);
        return;
    }
    int rc = rpc_reply_error(h, KV_EUNAVAIL, "node is starting");
    if (rc != KV_OK && rc != KV_ECLOSED)
        log_debug("repl", "error reply not sent status=\"%s\"", kv_status_str(rc));
    rpc_envelope_free(req);
}

/* ---- lifecycle ---- */

int replication_new(struct event_base *base, const struct replication_config *cfg, struct replication **out)
{
    if (!cfg->node_id || strlen(cfg->node_id) > KV_NODE_ID_BYTES_MAX || !cfg->cluster_name ||
        strlen(cfg->cluster_name) > KV_CLUSTER_NAME_BYTES_MAX)
        return KV_EINVAL;
    struct replication *r = calloc(1, sizeof *r);
    if (!r || !(r->peers = calloc(REPL_PEER_SLOTS, sizeof *r->peers))) {
        free(r);
        return KV_ENOMEM;
    }
    r->base = base;
    strcpy(r->node_id, cfg->node_id);
    strcpy(r->cluster_name, cfg->cluster_name);
    r->frame_bytes_max = cfg->frame_bytes_max;
    r->conflict_mode = cfg->conflict_mode;
    if (!(r->timer = evtimer_new(base, repl_on_timer, r))) {
        replication_free(r);
        return KV_ENOMEM;
    }
    *out = r;
    return KV_OK;
}

int replication_attach(struct replication *r, struct coord *coord, struct cluster_rt *rt,
                       struct rpc_tls *tls)
{
    if (!coord || !rt)
        return KV_EINVAL;
    if (r->pool)
        return KV_ESTATE;
    struct rpc_pool_config pc;
    peer_send_pool_config(&pc, r->node_id, r->cluster_name, r->frame_bytes_max, tls, REPL_BACKOFF_MAX_MS);
    pc.client.conflict_mode = r->conflict_mode;
    int rc = rpc_pool_new(r->base, &pc, &r->pool);
    if (rc != KV_OK) {
        log_error("repl", "cannot start the replication transport status=\"%s\"", kv_status_str(rc));
        return rc;
    }
    r->coord = coord;
    r->rt = rt;
    repl_arm(r);
    return KV_OK;
}

void replication_get_stats(const struct replication *r, struct replication_stats *out) { *out = r->stats; }

void replication_free(struct replication *r)
{
    if (!r)
        return;
    r->closing = true;
    if (r->timer)
        event_free(r->timer);
    rpc_pool_free(r->pool); /* pending callbacks run now, with closing set */
    for (uint32_t i = 0; r->peers && i < REPL_PEER_SLOTS; i++)
        free(r->peers[i]);
    free(r->peers);
    free(r);
}
