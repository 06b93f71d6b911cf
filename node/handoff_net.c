/* handoff_net.c - see handoff_net.h. */
#include "node/handoff_net.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "coordinator/keyspace.h"
#include "node/admin.h"
#include "node/cluster_rt.h"
#include "node/deadline_timer.h"
#include "node/metrics.h"
#include "node/peer_send.h"
#include "node/state_file.h"
#include "rpc/frame.h"
#include "rpc/pool.h"

#define HN_TICK_MAX_MS 500u     /* the ring is polled at least this often */
#define HN_DIR_BYTES_MAX 4352u

/* The request being handled: a BATCH_REPLY for it rides back as its rpc reply. */
struct hn_current {
    bool active, answered;
    const char *sender;
    struct rpc_reply_handle h;
};

struct hn_metrics {
    double *planned, *active;
    uint64_t *completed, *partitions, *keys_sent, *bytes_sent, *keys_received, *bytes_received, *forwards_sent,
        *forwards_received, *refused, *drops;
};

struct handoff_net {
    struct event_base *base;
    struct rpc_pool *pool;
    struct coord *coord;
    struct cluster_rt *rt;
    struct engine *engine;
    struct handoff *ho;
    struct event *timer;
    uint64_t timer_at_ms;
    bool closing;
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
    char cluster_name[KV_CLUSTER_NAME_BYTES_MAX + 1];
    char state_dir[HN_DIR_BYTES_MAX];
    uint32_t frame_bytes_max;
    uint64_t bytes_per_sec;
    struct coord_write_hook next_hook;
    rpc_request_fn next;
    void *next_arg;
    struct hn_current cur;
    Ringkv__HandoffItem *pitems;  /* [HANDOFF_BATCH_KEYS_MAX] outgoing protobuf items */
    Ringkv__HandoffItem **pitem_ptrs;
    struct handoff_item *items;   /* [HANDOFF_BATCH_KEYS_MAX] incoming */
    struct hn_metrics m;
};

static uint64_t hn_now_ms(void) { return kv_clock_real.mono_ms(&kv_clock_real); }

/* ---- timer ---- */

static void hn_arm(struct handoff_net *n)
{
    if (!n->rt || n->closing)
        return;
    uint64_t now = hn_now_ms(), next = handoff_next_tick_ms(n->ho);
    if (next > now + HN_TICK_MAX_MS)
        next = now + HN_TICK_MAX_MS;
    if (!deadline_timer_arm(n->timer, &n->timer_at_ms, now, next))
        log_error("handoff", "cannot arm the handoff timer");
}

static void hn_sync_ring(struct handoff_net *n, uint64_t now)
{
    const struct ring *r = cluster_rt_ring(n->rt);
    if (r && handoff_set_ring(n->ho, r, now) != KV_OK)
        log_error("handoff", "ring version=%llu not applied", (unsigned long long)ring_version(r));
}

static void hn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct handoff_net *n = arg;
    uint64_t now = hn_now_ms();
    hn_sync_ring(n, now);
    handoff_tick(n->ho, now);
    hn_arm(n);
}

/* ---- the handoff's ops ---- */

static bool hn_alive(void *ctx, const char *id)
{
    struct handoff_net *n = ctx;
    return n->rt && cluster_rt_is_up(n->rt, id);
}

static int hn_merge(void *ctx, uint32_t range, struct kv_slice key, struct kv_slice object)
{
    struct handoff_net *n = ctx;
    return n->coord ? coord_merge_local(n->coord, key, object) : KV_ESTATE;
}

static int hn_transfer_done(void *ctx, uint32_t partition, const char *to)
{
    struct handoff_net *n = ctx;
    return n->rt ? cluster_rt_transfer_done(n->rt, partition, to) : KV_ESTATE;
}

static int hn_drop(void *ctx, uint32_t range)
{
    struct handoff_net *n = ctx;
    char begin[KEYSPACE_PREFIX_BYTES], end[KEYSPACE_PREFIX_BYTES];
    keyspace_partition_range(KEYSPACE_DATA, range, begin, end);
    struct engine_iter *it = NULL;
    int rc = engine_iter_new(n->engine, NULL, &it);
    if (rc != KV_OK)
        return rc;
    engine_iter_seek(it, kv_slice_make(begin, sizeof begin));
    bool empty = !engine_iter_valid(it) || kv_slice_cmp(engine_iter_key(it), kv_slice_make(end, sizeof end)) >= 0;
    rc = engine_iter_status(it);
    engine_iter_free(it);
    if (rc != KV_OK || empty)
        return rc != KV_OK ? rc : KV_ENOTFOUND;
    return engine_delete_range(n->engine, kv_slice_make(begin, sizeof begin), kv_slice_make(end, sizeof end));
}

static int hn_save(void *ctx, const void *data, size_t len)
{
    struct handoff_net *n = ctx;
    return state_file_write(n->state_dir, HANDOFF_NET_STATE_FILE, data, len);
}

/* ---- sending ---- */

static void hn_on_reply(void *arg, int status, Ringkv__Envelope *reply);

static void hn_to_proto(struct handoff_net *n, const struct handoff_msg *m, Ringkv__ClusterMessage *cm,
                        Ringkv__HandoffBatch *b, Ringkv__HandoffBatchReply *br, Ringkv__HandoffDone *d)
{
    switch (m->type) {
    case HANDOFF_MSG_BATCH:
    case HANDOFF_MSG_FORWARD:
        ringkv__handoff_batch__init(b);
        b->req_id = m->req_id;
        b->partition = m->partition;
        b->range = m->range;
        b->last = m->last;
        b->forward = m->type == HANDOFF_MSG_FORWARD;
        for (uint32_t i = 0; i < m->n_items; i++) {
            Ringkv__HandoffItem *it = &n->pitems[i];
            ringkv__handoff_item__init(it);
            it->key.data = (uint8_t *)m->items[i].key.data;
            it->key.len = m->items[i].key.len;
            it->object.data = (uint8_t *)m->items[i].object.data;
            it->object.len = m->items[i].object.len;
            n->pitem_ptrs[i] = it;
        }
        b->items = n->pitem_ptrs;
        b->n_items = m->n_items;
        cm->body_case = RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_BATCH;
        cm->handoff_batch = b;
        break;
    case HANDOFF_MSG_BATCH_REPLY:
        ringkv__handoff_batch_reply__init(br);
        br->req_id = m->req_id;
        br->status = m->status;
        cm->body_case = RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_BATCH_REPLY;
        cm->handoff_batch_reply = br;
        break;
    case HANDOFF_MSG_DONE:
        ringkv__handoff_done__init(d);
        d->partition = m->partition;
        d->range = m->range;
        d->to = (char *)m->to;
        cm->body_case = RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_DONE;
        cm->handoff_done = d;
        break;
    }
}

static int hn_send(void *ctx, const char *to, const struct handoff_msg *m)
{
    struct handoff_net *n = ctx;
    if (!n->rt || n->closing || m->n_items > HANDOFF_BATCH_KEYS_MAX)
        return KV_ESTATE;
    Ringkv__ClusterMessage cm = RINGKV__CLUSTER_MESSAGE__INIT;
    Ringkv__HandoffBatch b;
    Ringkv__HandoffBatchReply br;
    Ringkv__HandoffDone d;
    hn_to_proto(n, m, &cm, &b, &br, &d);
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_CLUSTER;
    env.cluster = &cm;
    if (m->type == HANDOFF_MSG_BATCH_REPLY) {
        if (!n->cur.active || n->cur.answered || strcmp(to, n->cur.sender) != 0)
            return KV_ESTATE; /* replies only travel as rpc replies */
        n->cur.answered = true;
        return rpc_reply_send(n->cur.h, &env);
    }
    int rc = peer_send_to(n->pool, n->rt, to, &env, HANDOFF_NET_REQUEST_TIMEOUT_MS, hn_on_reply, n);
    if (rc != KV_OK)
        log_debug("handoff", "message not sent node=%s status=\"%s\"", to, kv_status_str(rc));
    return rc;
}

/* ---- receiving ---- */

static bool is_handoff_body(const Ringkv__Envelope *e)
{
    if (e->body_case != RINGKV__ENVELOPE__BODY_CLUSTER || !e->cluster)
        return false;
    Ringkv__ClusterMessage__BodyCase b = e->cluster->body_case;
    return b == RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_BATCH || b == RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_BATCH_REPLY ||
           b == RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_DONE;
}

/* Reads a ClusterMessage into m (pointing into cm and n->items). */
static int hn_from_proto(struct handoff_net *n, const Ringkv__ClusterMessage *cm, struct handoff_msg *m)
{
    memset(m, 0, sizeof *m);
    switch (cm->body_case) {
    case RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_BATCH: {
        const Ringkv__HandoffBatch *b = cm->handoff_batch;
        if (b->n_items > HANDOFF_BATCH_KEYS_MAX)
            return KV_EPROTO;
        m->type = b->forward ? HANDOFF_MSG_FORWARD : HANDOFF_MSG_BATCH;
        m->req_id = b->req_id;
        m->partition = b->partition;
        m->range = b->range;
        m->last = b->last;
        for (size_t i = 0; i < b->n_items; i++) {
            n->items[i].key = kv_slice_make(b->items[i]->key.data, b->items[i]->key.len);
            n->items[i].object = kv_slice_make(b->items[i]->object.data, b->items[i]->object.len);
        }
        m->items = n->items;
        m->n_items = (uint32_t)b->n_items;
        return KV_OK;
    }
    case RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_BATCH_REPLY:
        m->type = HANDOFF_MSG_BATCH_REPLY;
        m->req_id = cm->handoff_batch_reply->req_id;
        m->status = cm->handoff_batch_reply->status;
        return m->status > 0 ? KV_EPROTO : KV_OK;
    case RINGKV__CLUSTER_MESSAGE__BODY_HANDOFF_DONE:
        m->type = HANDOFF_MSG_DONE;
        m->partition = cm->handoff_done->partition;
        m->range = cm->handoff_done->range;
        m->to = cm->handoff_done->to;
        return m->to && m->to[0] ? KV_OK : KV_EPROTO;
    default:
        return KV_EPROTO;
    }
}

static void hn_on_reply(void *arg, int status, Ringkv__Envelope *reply)
{
    struct peer_send_call *call = arg;
    struct handoff_net *n = call->owner;
    if (n->closing || status != KV_OK || !is_handoff_body(reply))
        goto done;
    struct handoff_msg m;
    uint64_t now = hn_now_ms();
    if (hn_from_proto(n, reply->cluster, &m) == KV_OK && handoff_handle_message(n->ho, call->to, &m, now) != KV_OK)
        log_debug("handoff", "reply refused from=%s", call->to);
    hn_arm(n);
done:
    rpc_envelope_free(reply);
    free(call);
}

static void hn_handle_message(struct handoff_net *n, const struct rpc_peer *peer, Ringkv__Envelope *req,
                              struct rpc_reply_handle h)
{
    int rc = KV_EAUTH;
    struct handoff_msg m;
    if (peer->role == RINGKV__ROLE__ROLE_NODE && peer->node_id && peer->node_id[0])
        rc = hn_from_proto(n, req->cluster, &m);
    if (rc == KV_OK) {
        uint64_t now = hn_now_ms();
        hn_sync_ring(n, now); /* a batch may come right after the ring that asks for it */
        n->cur = (struct hn_current){ true, false, peer->node_id, h };
        rc = handoff_handle_message(n->ho, peer->node_id, &m, now);
        n->cur.active = false;
    }
    if (!n->cur.answered)
        peer_send_ack(h, rc, "handoff message refused", "handoff");
    n->cur.answered = false;
    hn_arm(n);
}

/* ---- kvctl transfers ---- */

static void hn_fill_totals(const struct handoff_net *n, Ringkv__TransferTotals *t)
{
    struct handoff_stats s;
    handoff_get_stats(n->ho, &s);
    ringkv__transfer_totals__init(t);
    t->streams_planned = s.streams_planned;
    t->streams_active = s.streams_active;
    t->streams_completed = s.streams_completed;
    t->partitions_completed = s.partitions_completed;
    t->keys_sent = s.keys_sent;
    t->bytes_sent = s.bytes_sent;
    t->keys_received = s.keys_received;
    t->bytes_received = s.bytes_received;
    t->forwards_sent = s.forwards_sent;
    t->bytes_per_sec = n->bytes_per_sec;
}

static void hn_admin_transfers(struct handoff_net *n, struct rpc_reply_handle h)
{
    size_t count = handoff_transfer_count(n->ho);
    Ringkv__TransferStream *ts = calloc(count ? count : 1, sizeof *ts);
    Ringkv__TransferStream **ptrs = calloc(count ? count : 1, sizeof *ptrs);
    struct handoff_transfer_info *info = calloc(count ? count : 1, sizeof *info);
    int rc = ts && ptrs && info ? KV_OK : KV_ENOMEM;
    uint64_t now = hn_now_ms();
    for (size_t i = 0; rc == KV_OK && i < count; i++) {
        handoff_transfer_at(n->ho, i, &info[i]);
        Ringkv__TransferStream *t = &ts[i];
        ringkv__transfer_stream__init(t);
        t->partition = info[i].partition;
        t->range = info[i].range;
        t->to = info[i].to;
        t->active = info[i].active;
        t->done = info[i].done;
        t->keys_sent = info[i].keys_sent;
        t->bytes_sent = info[i].bytes_sent;
        t->keys_total = info[i].keys_total;
        t->bytes_total = info[i].bytes_total;
        uint64_t ms = info[i].started_ms && now > info[i].started_ms ? now - info[i].started_ms : 0;
        t->rate_bytes_per_sec = ms ? info[i].bytes_this_run * 1000u / ms : 0;
        ptrs[i] = t;
    }
    Ringkv__TransferTotals totals;
    Ringkv__AdminReply reply = RINGKV__ADMIN_REPLY__INIT;
    if (rc == KV_OK) {
        hn_fill_totals(n, &totals);
        reply.node_id = n->node_id;
        reply.message = "";
        reply.transfers = ptrs;
        reply.n_transfers = count;
        reply.transfer_totals = &totals;
    }
    admin_reply_send(h, rc, &reply, "out of memory", "handoff");
    free(ts);
    free(ptrs);
    free(info);
}

void handoff_net_handle_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                                struct rpc_reply_handle h)
{
    struct handoff_net *n = arg;
    if (is_handoff_body(req)) {
        hn_handle_message(n, peer, req, h);
        rpc_envelope_free(req);
        return;
    }
    if (req->body_case == RINGKV__ENVELOPE__BODY_ADMIN && req->admin &&
        req->admin->op == RINGKV__ADMIN_OP__ADMIN_OP_TRANSFERS) {
        hn_admin_transfers(n, h);
        rpc_envelope_free(req);
        return;
    }
    n->next(n->next_arg, peer, req, h);
}

/* ---- write hook ---- */

static void hn_wrote(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice old_object,
                     struct kv_slice new_object)
{
    struct handoff_net *n = ctx;
    if (new_object.len)
        handoff_note_write(n->ho, partition, key, new_object);
    if (n->next_hook.wrote)
        n->next_hook.wrote(n->next_hook.ctx, partition, key, old_object, new_object);
}

void handoff_net_write_hook(struct handoff_net *n, const struct coord_write_hook *next, struct coord_write_hook *out)
{
    if (next)
        n->next_hook = *next;
    out->wrote = hn_wrote;
    out->ctx = n;
}

/* ---- metrics ---- */

static int hn_register_metrics(struct handoff_net *n, struct metrics *m)
{
    struct hn_metrics *x = &n->m;
    int rc = metrics_gauge(m, "ringkv_handoff_streams_planned", "Handoff streams this node sources in the current ring's plan.", "", &x->planned);
    if (rc == KV_OK)
        rc = metrics_gauge(m, "ringkv_handoff_streams_active", "Handoff streams this node is sending now.", "", &x->active);
    const struct { const char *name, *help; uint64_t **slot; } c[] = {
        { "ringkv_handoff_streams_completed_total", "Handoff streams this node finished sending.", &x->completed },
        { "ringkv_handoff_partitions_completed_total", "Partition transfers finished by this node as new owner.", &x->partitions },
        { "ringkv_handoff_keys_sent_total", "Keys streamed to new holders and acknowledged.", &x->keys_sent },
        { "ringkv_handoff_bytes_sent_total", "Key and object bytes streamed to new holders and acknowledged.", &x->bytes_sent },
        { "ringkv_handoff_keys_received_total", "Keys merged here from handoff streams and forwards.", &x->keys_received },
        { "ringkv_handoff_bytes_received_total", "Key and object bytes merged here from handoff.", &x->bytes_received },
        { "ringkv_handoff_forwards_sent_total", "Writes during a move sent on to a node gaining the range.", &x->forwards_sent },
        { "ringkv_handoff_forwards_received_total", "Forwarded writes merged here.", &x->forwards_received },
        { "ringkv_handoff_batches_refused_total", "Handoff batches refused by the receiver or lost.", &x->refused },
        { "ringkv_handoff_ranges_dropped_total", "Key ranges dropped after this node left their preference list.", &x->drops },
    };
    for (size_t i = 0; rc == KV_OK && i < sizeof c / sizeof c[0]; i++)
        rc = metrics_counter(m, c[i].name, c[i].help, "", c[i].slot);
    return rc;
}

void handoff_net_refresh_metrics(struct handoff_net *n)
{
    if (!n)
        return;
    struct handoff_stats s;
    handoff_get_stats(n->ho, &s);
    *n->m.planned = (double)s.streams_planned;
    *n->m.active = (double)s.streams_active;
    *n->m.completed = s.streams_completed;
    *n->m.partitions = s.partitions_completed;
    *n->m.keys_sent = s.keys_sent;
    *n->m.bytes_sent = s.bytes_sent;
    *n->m.keys_received = s.keys_received;
    *n->m.bytes_received = s.bytes_received;
    *n->m.forwards_sent = s.forwards_sent;
    *n->m.forwards_received = s.forwards_received;
    *n->m.refused = s.batches_refused;
    *n->m.drops = s.drops;
}

/* ---- lifecycle ---- */

static int hn_open_handoff(struct handoff_net *n, const struct handoff_net_config *cfg)
{
    struct kv_buf saved = { 0 };
    int rc = state_file_dir(cfg->data_dir, n->state_dir, sizeof n->state_dir);
    if (rc == KV_OK) {
        rc = state_file_read(n->state_dir, HANDOFF_NET_STATE_FILE, &saved);
        if (rc == KV_ENOTFOUND)
            rc = KV_OK;
    }
    struct handoff_config hc;
    handoff_config_default(&hc);
    hc.node_id = n->node_id;
    hc.engine = cfg->engine;
    hc.bytes_per_sec = cfg->bytes_per_sec;
    hc.transfers_max = cfg->transfers_max;
    hc.drop_delay_ms = cfg->drop_delay_ms;
    hc.ops = (struct handoff_ops){ hn_send, hn_alive, hn_merge, hn_transfer_done, hn_drop, hn_save, n };
    if (rc == KV_OK)
        rc = handoff_new(&hc, saved.data, saved.len, &n->ho);
    if (rc == KV_OK && saved.len)
        log_info("handoff", "resuming from the saved handoff state bytes=%zu", saved.len);
    kv_buf_free(&saved);
    return rc;
}

int handoff_net_new(struct event_base *base, const struct handoff_net_config *cfg, struct metrics *m,
                    struct handoff_net **out)
{
    if (!cfg->node_id || strlen(cfg->node_id) > KV_NODE_ID_BYTES_MAX || !cfg->cluster_name ||
        strlen(cfg->cluster_name) > KV_CLUSTER_NAME_BYTES_MAX || !cfg->data_dir || !cfg->engine)
        return KV_EINVAL;
    struct handoff_net *n = calloc(1, sizeof *n);
    if (!n)
        return KV_ENOMEM;
    n->base = base;
    n->engine = cfg->engine;
    n->frame_bytes_max = cfg->frame_bytes_max;
    n->bytes_per_sec = cfg->bytes_per_sec;
    strcpy(n->node_id, cfg->node_id);
    strcpy(n->cluster_name, cfg->cluster_name);
    n->pitems = calloc(HANDOFF_BATCH_KEYS_MAX, sizeof *n->pitems);
    n->pitem_ptrs = calloc(HANDOFF_BATCH_KEYS_MAX, sizeof *n->pitem_ptrs);
    n->items = calloc(HANDOFF_BATCH_KEYS_MAX, sizeof *n->items);
    int rc = n->pitems && n->pitem_ptrs && n->items ? KV_OK : KV_ENOMEM;
    if (rc == KV_OK && !(n->timer = evtimer_new(base, hn_on_timer, n)))
        rc = KV_ENOMEM;
    if (rc == KV_OK)
        rc = hn_open_handoff(n, cfg);
    if (rc == KV_OK)
        rc = hn_register_metrics(n, m);
    if (rc != KV_OK) {
        log_error("handoff", "ownership handoff start-up failed status=\"%s\"", kv_status_str(rc));
        handoff_net_free(n);
        return rc;
    }
    *out = n;
    return KV_OK;
}

int handoff_net_attach(struct handoff_net *n, struct coord *coord, struct cluster_rt *rt, struct rpc_tls *tls,
                       rpc_request_fn next, void *next_arg)
{
    if (n->rt)
        return KV_ESTATE;
    struct rpc_pool_config pc;
    peer_send_pool_config(&pc, n->node_id, n->cluster_name, n->frame_bytes_max, tls, HANDOFF_NET_BACKOFF_MAX_MS);
    int rc = rpc_pool_new(n->base, &pc, &n->pool);
    if (rc != KV_OK) {
        log_error("handoff", "cannot start the handoff transport status=\"%s\"", kv_status_str(rc));
        return rc;
    }
    n->coord = coord;
    n->next = next;
    n->next_arg = next_arg;
    n->rt = rt;
    hn_arm(n);
    return KV_OK;
}

void handoff_net_free(struct handoff_net *n)
{
    if (!n)
        return;
    n->closing = true;
    if (n->timer)
        event_free(n->timer);
    rpc_pool_free(n->pool); /* pending callbacks run now, with closing set */
    handoff_free(n->ho);
    free(n->pitems);
    free(n->pitem_ptrs);
    free(n->items);
    free(n);
}
