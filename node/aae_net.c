/* aae_net.c - see aae_net.h. */
#include "node/aae_net.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "coordinator/keyspace.h"
#include "node/aae_admin.h"
#include "node/cluster_rt.h"
#include "node/deadline_timer.h"
#include "node/metrics.h"
#include "node/peer_send.h"
#include "rpc/frame.h"
#include "rpc/pool.h"

/* The request being handled: a reply the aae sends to its sender during
 * the call goes back as the rpc reply. */
struct aae_net_current {
    bool active;
    bool answered;
    const char *sender;
    struct rpc_reply_handle h;
};

/* Metrics, refreshed from aae_get_stats and the transport counters. */
struct aae_net_metrics {
    uint64_t *started, *in_sync, *repaired, *failed;
    uint64_t *keys_local, *keys_remote, *bytes_out, *bytes_in;
    uint64_t *builds, *verifies, *verify_mismatches, *lost, *bad;
    double *trees, *trees_ready, *active, *tree_bytes;
};

struct aae_net {
    struct event_base *base;
    struct aae *aae;            /* NULL when disabled */
    struct engine *engine;
    struct cluster_rt *rt;      /* NULL until attached */
    struct rpc_pool *pool;
    struct event *timer;
    uint64_t timer_at_ms;
    bool closing;
    rpc_request_fn next;
    void *next_arg;
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
    char cluster_name[KV_CLUSTER_NAME_BYTES_MAX + 1];
    uint32_t frame_bytes_max;
    uint32_t partitions;
    uint32_t request_timeout_ms;
    struct kv_buf ekey;         /* ops.write's engine key */
    struct kv_buf enc;          /* an encoded message being sent */
    struct aae_msg in;          /* a decoded message (arrays reused) */
    struct aae_net_current cur;
    const struct ring *seen_ring; /* the ring peer_up is indexed by */
    uint64_t seen_version;
    uint8_t *peer_up;           /* per ring member: 0 not sampled yet, 1 down, 2 up */
    uint32_t n_peer_up;
    struct aae_net_stats stats;
    struct aae_net_metrics m;
};

uint64_t aae_net_now_ms(void) { return kv_clock_real.mono_ms(&kv_clock_real); }

struct aae *aae_net_aae(struct aae_net *n) { return n->aae; }

const char *aae_net_node_id(const struct aae_net *n) { return n->node_id; }

uint32_t aae_net_partitions(const struct aae_net *n) { return n->partitions; }

/* ---- timer ---- */

static void aae_net_arm(struct aae_net *n)
{
    if (!n->aae || !n->rt || n->closing)
        return;
    uint64_t now = aae_net_now_ms(), next = aae_next_tick_ms(n->aae, now);
    if (!deadline_timer_arm(n->timer, &n->timer_at_ms, now, next))
        log_error("aae", "cannot arm the anti-entropy timer");
}

/* A replica that was down (past the hint window, or wiped) missed
 * writes; waiting for each pair's next interval would take up to
 * --aae-interval-ms. So when gossip sees a ring member come back, every
 * partition this node shares with it is exchanged at once (within the
 * budgets). O(ring members) per tick; the state restarts at a ring change. */
static void aae_net_check_peers(struct aae_net *n, uint64_t now)
{
    const struct ring *r = cluster_rt_ring(n->rt);
    uint32_t m = r ? ring_member_count(r) : 0;
    if (r != n->seen_ring || (r && ring_version(r) != n->seen_version)) {
        uint8_t *st = calloc(m ? m : 1, 1);
        if (!st)
            return;
        free(n->peer_up);
        n->peer_up = st;
        n->n_peer_up = m;
        n->seen_ring = r;
        n->seen_version = r ? ring_version(r) : 0;
    }
    for (uint32_t i = 0; i < n->n_peer_up; i++) {
        const char *id = ring_member_id(r, i);
        if (strcmp(id, n->node_id) == 0)
            continue;
        uint8_t up = cluster_rt_is_up(n->rt, id) ? 2 : 1;
        uint32_t pairs = 0;
        if (n->peer_up[i] == 1 && up == 2 && aae_repair(n->aae, AAE_ALL_PARTITIONS, id, now, &pairs) == KV_OK) {
            n->stats.peers_returned++;
            log_info("aae", "peer is up again; exchanging every shared partition node=%s pairs=%u", id, pairs);
        }
        n->peer_up[i] = up;
    }
}

static void aae_net_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct aae_net *n = arg;
    uint64_t now = aae_net_now_ms();
    aae_net_check_peers(n, now);
    aae_tick(n->aae, now);
    aae_net_arm(n);
}

/* ---- the aae's ops ---- */

static const struct ring *aae_net_ring(void *ctx)
{
    struct aae_net *n = ctx;
    return n->rt ? cluster_rt_ring(n->rt) : NULL;
}

static bool aae_net_alive(void *ctx, const char *node_id)
{
    struct aae_net *n = ctx;
    return n->rt && cluster_rt_is_up(n->rt, node_id);
}

/* Stores the merged object under its DATA key, like a replica write. */
static int aae_net_write(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice object)
{
    struct aae_net *n = ctx;
    int rc = kv_buf_reserve(&n->ekey, KEYSPACE_PREFIX_BYTES + key.len);
    if (rc != KV_OK)
        return rc;
    keyspace_put_prefix(n->ekey.data, KEYSPACE_DATA, partition);
    if (key.len)
        memcpy(n->ekey.data + KEYSPACE_PREFIX_BYTES, key.data, key.len);
    n->ekey.len = KEYSPACE_PREFIX_BYTES + key.len;
    return engine_put(n->engine, kv_slice_make(n->ekey.data, n->ekey.len), object);
}

static void aae_net_on_write(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice old_object,
                             struct kv_slice new_object)
{
    struct aae_net *n = ctx;
    aae_note_write(n->aae, partition, key, old_object, new_object);
}

void aae_net_write_hook(struct aae_net *n, struct coord_write_hook *out)
{
    out->wrote = n->aae ? aae_net_on_write : NULL;
    out->ctx = n;
}

/* ---- receiving ---- */

/* Decodes bytes into n->in and hands them to the aae as sent by from. */
static int aae_net_deliver(struct aae_net *n, const char *from, ProtobufCBinaryData bytes)
{
    int rc = aae_msg_decode(kv_slice_make((const char *)bytes.data, bytes.len), &n->in);
    if (rc == KV_OK) {
        n->stats.received++;
        rc = aae_handle_message(n->aae, from, &n->in, aae_net_now_ms());
    }
    if (rc != KV_OK) {
        n->stats.bad_messages++;
        log_debug("aae", "message refused from=%s status=%s", from, kv_status_str(rc));
    }
    return rc;
}

static bool is_aae_body(const Ringkv__Envelope *e)
{
    return e->body_case == RINGKV__ENVELOPE__BODY_CLUSTER && e->cluster &&
           e->cluster->body_case == RINGKV__CLUSTER_MESSAGE__BODY_AAE;
}

/* The rpc reply to one of our messages: the responder's reply inline, or
 * an empty ack. A failure is a lost message. */
static void aae_net_on_reply(void *arg, int status, Ringkv__Envelope *reply)
{
    struct peer_send_call *call = arg;
    struct aae_net *n = call->owner;
    if (n->closing)
        goto done;
    if (status != KV_OK) {
        n->stats.send_failures++;
        log_debug("aae", "message lost node=%s status=\"%s\"", call->to, kv_status_str(status));
        goto done;
    }
    if (is_aae_body(reply)) {
        (void)aae_net_deliver(n, call->to, reply->cluster->aae);
        aae_net_arm(n);
    }
done:
    rpc_envelope_free(reply);
    free(call);
}

static void aae_net_handle_aae(struct aae_net *n, const struct rpc_peer *peer, Ringkv__Envelope *req,
                               struct rpc_reply_handle h)
{
    int rc = KV_EAUTH;
    if (!n->aae) {
        rc = KV_ESTATE;
    } else if (peer->role == RINGKV__ROLE__ROLE_NODE && peer->node_id && peer->node_id[0]) {
        n->cur = (struct aae_net_current){ true, false, peer->node_id, h };
        rc = aae_net_deliver(n, peer->node_id, req->cluster->aae);
        n->cur.active = false;
    } else {
        n->stats.bad_messages++;
    }
    if (!n->cur.answered)
        peer_send_ack(h, rc, rc == KV_ESTATE ? "anti-entropy is off on this node" : "anti-entropy message refused",
                      "aae");
    n->cur.answered = false;
    aae_net_arm(n);
}

void aae_net_handle_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                            struct rpc_reply_handle h)
{
    struct aae_net *n = arg;
    if (is_aae_body(req)) {
        aae_net_handle_aae(n, peer, req, h);
        rpc_envelope_free(req);
        return;
    }
    if (req->body_case == RINGKV__ENVELOPE__BODY_ADMIN && req->admin &&
        (req->admin->op == RINGKV__ADMIN_OP__ADMIN_OP_REPAIR ||
         req->admin->op == RINGKV__ADMIN_OP__ADMIN_OP_AAE_STATUS)) {
        aae_admin_handle(n, req->admin, h, aae_net_now_ms());
        aae_net_arm(n);
        rpc_envelope_free(req);
        return;
    }
    n->next(n->next_arg, peer, req, h);
}

/* ---- sending ---- */

static int aae_net_reply_inline(struct aae_net *n, Ringkv__ClusterMessage *cm)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_CLUSTER;
    env.cluster = cm;
    n->cur.answered = true;
    n->stats.replied_inline++;
    return rpc_reply_send(n->cur.h, &env);
}

static int aae_net_send(void *ctx, const char *node_id, const struct aae_msg *msg)
{
    struct aae_net *n = ctx;
    if (!n->rt || n->closing)
        return KV_ESTATE;
    kv_buf_reset(&n->enc);
    int rc = aae_msg_encode(msg, &n->enc);
    if (rc != KV_OK)
        return rc;
    Ringkv__ClusterMessage cm = RINGKV__CLUSTER_MESSAGE__INIT;
    cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_AAE;
    cm.aae.data = (uint8_t *)n->enc.data;
    cm.aae.len = n->enc.len;
    if (aae_msg_is_reply(msg->type) && n->cur.active && !n->cur.answered && strcmp(node_id, n->cur.sender) == 0)
        return aae_net_reply_inline(n, &cm);
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_CLUSTER;
    env.cluster = &cm;
    rc = peer_send_to(n->pool, n->rt, node_id, &env, n->request_timeout_ms, aae_net_on_reply, n);
    if (rc == KV_OK) {
        n->stats.sent++;
    } else {
        n->stats.send_failures++;
        log_debug("aae", "message not sent node=%s type=%s status=\"%s\"", node_id, aae_msg_type_str(msg->type),
                  kv_status_str(rc));
    }
    return rc;
}

/* ---- repair ---- */

int aae_net_repair(struct aae_net *n, const char *arg, uint32_t *n_out)
{
    if (!n->aae)
        return KV_ESTATE;
    uint32_t partition = AAE_ALL_PARTITIONS;
    const char *node = NULL;
    if (arg && arg[0] && strspn(arg, "0123456789") == strlen(arg)) { /* all digits: a partition */
        errno = 0;
        unsigned long v = strtoul(arg, NULL, 10);
        if (errno || v >= n->partitions)
            return KV_EINVAL;
        partition = (uint32_t)v;
    } else if (arg && arg[0]) { /* a node id (ids may start with a digit) */
        node = arg;
    }
    uint64_t now = aae_net_now_ms();
    int rc = aae_repair(n->aae, partition, node, now, n_out);
    if (rc == KV_OK) {
        aae_tick(n->aae, now); /* start what the budgets allow at once */
        aae_net_arm(n);
    }
    return rc;
}

/* ---- metrics ---- */

struct aae_metric_def {
    const char *name, *help, *labels;
    size_t offset;  /* into struct aae_net_metrics */
    bool gauge;
};

#define AAE_M(f) offsetof(struct aae_net_metrics, f)
static const struct aae_metric_def aae_metric_defs[] = {
    { "ringkv_aae_exchanges_total", "Anti-entropy exchanges initiated here, by outcome.", "result=\"started\"",
      AAE_M(started), false },
    { "ringkv_aae_exchanges_total", "", "result=\"in_sync\"", AAE_M(in_sync), false },
    { "ringkv_aae_exchanges_total", "", "result=\"repaired\"", AAE_M(repaired), false },
    { "ringkv_aae_exchanges_total", "", "result=\"failed\"", AAE_M(failed), false },
    { "ringkv_aae_keys_repaired_total", "Objects changed by anti-entropy merges.", "where=\"local\"",
      AAE_M(keys_local), false },
    { "ringkv_aae_keys_repaired_total", "", "where=\"remote\"", AAE_M(keys_remote), false },
    { "ringkv_aae_bytes_total", "Encoded anti-entropy message bytes, both roles.", "dir=\"out\"",
      AAE_M(bytes_out), false },
    { "ringkv_aae_bytes_total", "", "dir=\"in\"", AAE_M(bytes_in), false },
    { "ringkv_aae_tree_builds_total", "Merkle trees rebuilt from the engine.", "", AAE_M(builds), false },
    { "ringkv_aae_tree_verifies_total", "Merkle tree self-checks against the engine.", "", AAE_M(verifies),
      false },
    { "ringkv_aae_verify_mismatches_total", "Tree leaves self-checks found wrong (then repaired).", "",
      AAE_M(verify_mismatches), false },
    { "ringkv_aae_messages_lost_total", "Anti-entropy messages that could not be sent or got no reply.", "",
      AAE_M(lost), false },
    { "ringkv_aae_messages_bad_total", "Anti-entropy messages refused (undecodable or unauthenticated).", "",
      AAE_M(bad), false },
    { "ringkv_aae_trees", "Merkle trees of partitions held here, by state.", "state=\"held\"", AAE_M(trees),
      true },
    { "ringkv_aae_trees", "", "state=\"ready\"", AAE_M(trees_ready), true },
    { "ringkv_aae_exchanges_active", "Exchanges initiated here in progress.", "", AAE_M(active), true },
    { "ringkv_aae_tree_bytes", "Memory of all Merkle trees.", "", AAE_M(tree_bytes), true },
};
#define AAE_METRICS_COUNT (sizeof aae_metric_defs / sizeof aae_metric_defs[0])

static int aae_net_register_metrics(struct aae_net *n, struct metrics *m)
{
    int rc = KV_OK;
    const char *help = "";
    for (size_t i = 0; rc == KV_OK && i < AAE_METRICS_COUNT; i++) {
        const struct aae_metric_def *d = &aae_metric_defs[i];
        char *slot = (char *)&n->m + d->offset;
        if (d->help[0])
            help = d->help; /* a family's later series repeat its help as "" */
        if (d->gauge)
            rc = metrics_gauge(m, d->name, help, d->labels, (double **)(void *)slot);
        else
            rc = metrics_counter(m, d->name, help, d->labels, (uint64_t **)(void *)slot);
    }
    return rc;
}

void aae_net_refresh_metrics(struct aae_net *n)
{
    if (!n || !n->aae)
        return;
    struct aae_stats s;
    aae_get_stats(n->aae, &s);
    *n->m.started = s.exchanges_started;
    *n->m.in_sync = s.exchanges_in_sync;
    *n->m.repaired = s.exchanges_repaired;
    *n->m.failed = s.exchanges_failed;
    *n->m.keys_local = s.keys_repaired;
    *n->m.keys_remote = s.keys_repaired_remote;
    *n->m.bytes_out = s.bytes_sent;
    *n->m.bytes_in = s.bytes_received;
    *n->m.builds = s.builds;
    *n->m.verifies = s.verifies;
    *n->m.verify_mismatches = s.verify_mismatches;
    *n->m.lost = n->stats.send_failures;
    *n->m.bad = n->stats.bad_messages + s.bad_messages;
    *n->m.trees = (double)s.trees;
    *n->m.trees_ready = (double)s.trees_ready;
    *n->m.active = (double)s.exchanges_active;
    *n->m.tree_bytes = (double)s.tree_bytes;
}

void aae_net_get_stats(const struct aae_net *n, struct aae_net_stats *out) { *out = n->stats; }

/* ---- lifecycle ---- */

static int aae_net_start_aae(struct aae_net *n, const struct aae_net_config *cfg)
{
    struct aae_config ac;
    aae_config_default(&ac);
    ac.node_id = n->node_id;
    ac.partitions = cfg->partitions;
    ac.engine = cfg->engine;
    ac.ops = (struct aae_ops){ aae_net_send, aae_net_ring, aae_net_alive, aae_net_write, n };
    ac.exchange_interval_ms = cfg->exchange_interval_ms;
    ac.exchanges_max = cfg->exchanges_max;
    ac.bytes_per_sec = cfg->bytes_per_sec;
    /* A pair that failed (peer down) is retried after 30 s, or sooner with
     * a shorter interval, so a restarted replica is not left waiting. */
    if (ac.failure_backoff_ms > cfg->exchange_interval_ms)
        ac.failure_backoff_ms = (uint32_t)cfg->exchange_interval_ms;
    ac.rand_seed = cfg->rand_seed;
    n->request_timeout_ms = ac.request_timeout_ms;
    return aae_new(&ac, &n->aae);
}

int aae_net_new(struct event_base *base, const struct aae_net_config *cfg, struct metrics *m,
                struct aae_net **out)
{
    if (!cfg->node_id || strlen(cfg->node_id) > KV_NODE_ID_BYTES_MAX || !cfg->cluster_name ||
        strlen(cfg->cluster_name) > KV_CLUSTER_NAME_BYTES_MAX || !cfg->engine) {
        log_error("aae", "invalid anti-entropy transport config");
        return KV_EINVAL;
    }
    struct aae_net *n = calloc(1, sizeof *n);
    if (!n)
        return KV_ENOMEM;
    n->base = base;
    n->engine = cfg->engine;
    n->partitions = cfg->partitions;
    n->frame_bytes_max = cfg->frame_bytes_max;
    strcpy(n->node_id, cfg->node_id);
    strcpy(n->cluster_name, cfg->cluster_name);
    aae_msg_init(&n->in);
    int rc = KV_OK;
    if (cfg->enabled) {
        rc = aae_net_start_aae(n, cfg);
        if (rc == KV_OK && !(n->timer = evtimer_new(base, aae_net_on_timer, n)))
            rc = KV_ENOMEM;
        if (rc == KV_OK)
            rc = aae_net_register_metrics(n, m);
    }
    if (rc != KV_OK) {
        log_error("aae", "anti-entropy start-up failed status=\"%s\"", kv_status_str(rc));
        aae_net_free(n);
        return rc;
    }
    *out = n;
    return KV_OK;
}

int aae_net_attach(struct aae_net *n, struct cluster_rt *rt, struct rpc_tls *tls, rpc_request_fn next,
                   void *next_arg)
{
    if (n->rt)
        return KV_ESTATE;
    n->next = next;
    n->next_arg = next_arg;
    if (!n->aae) {
        n->rt = rt;
        return KV_OK;
    }
    struct rpc_pool_config pc;
    peer_send_pool_config(&pc, n->node_id, n->cluster_name, n->frame_bytes_max, tls, AAE_NET_BACKOFF_MAX_MS);
    int rc = rpc_pool_new(n->base, &pc, &n->pool);
    if (rc != KV_OK) {
        log_error("aae", "cannot start the anti-entropy transport status=\"%s\"", kv_status_str(rc));
        return rc;
    }
    n->rt = rt;
    aae_net_arm(n);
    return KV_OK;
}

void aae_net_free(struct aae_net *n)
{
    if (!n)
        return;
    n->closing = true;
    if (n->timer)
        event_free(n->timer);
    rpc_pool_free(n->pool); /* pending callbacks run now, with closing set */
    aae_free(n->aae);
    aae_msg_free(&n->in);
    free(n->peer_up);
    kv_buf_free(&n->ekey);
    kv_buf_free(&n->enc);
    free(n);
}
