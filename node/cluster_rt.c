/* cluster_rt.c - see cluster_rt.h. */
#include "node/cluster_rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "node/admin.h"
#include "node/cluster.h"
#include "node/gossip_net.h"
#include "node/metrics.h"
#include "node/state_file.h"
#include "rpc/addr.h"
#include "rpc/frame.h"

#define RT_LOOP_LAG_WARN_MS 500u        /* a gossip tick this late is logged */
#define RT_LOOP_LAG_LOG_EVERY_MS 10000u  /* at most one such line per 10 s */
#define RT_ADDR_BYTES_MAX (NODE_CONFIG_HOST_BYTES_MAX + 16) /* checked against GOSSIP_ADDR_BYTES_MAX later */

/* Where each metric's value comes from, at refresh. */
struct rt_snapshot {
    struct membership_stats ms;
    struct node_cluster_stats cs;
    struct gossip_net_stats ns;
    const struct ring *ring;
    uint32_t owned_here;
};

enum rt_metric_kind { RT_COUNTER, RT_GAUGE };

struct rt_metric {
    const char *name, *help, *labels;
    enum rt_metric_kind kind;
    double (*value)(const struct rt_snapshot *s);
};

#define RT_VALUE(fn, expr) \
    static double fn(const struct rt_snapshot *s) { return (double)(expr); }
RT_VALUE(v_alive, s->cs.members[GOSSIP_ALIVE])
RT_VALUE(v_suspect, s->cs.members[GOSSIP_SUSPECT])
RT_VALUE(v_dead, s->cs.members[GOSSIP_DEAD])
RT_VALUE(v_leaving, s->cs.members[GOSSIP_LEAVING])
RT_VALUE(v_left, s->cs.members[GOSSIP_LEFT])
RT_VALUE(v_probes, s->ms.probes)
RT_VALUE(v_probes_failed, s->ms.probes_failed)
RT_VALUE(v_indirect, s->ms.indirect_probes)
RT_VALUE(v_suspicions, s->ms.suspicions_raised)
RT_VALUE(v_suspect_events, s->cs.suspect_events)
RT_VALUE(v_false_suspicions, s->cs.false_suspicions)
RT_VALUE(v_refutations, s->ms.refutations)
RT_VALUE(v_deaths_declared, s->ms.deaths_declared)
RT_VALUE(v_dead_events, s->cs.dead_events)
RT_VALUE(v_msgs_in, s->ms.msgs_in)
RT_VALUE(v_msgs_out, s->ms.msgs_out)
RT_VALUE(v_drop_foreign, s->ns.foreign)
RT_VALUE(v_drop_decode, s->ns.decode_errors)
RT_VALUE(v_drop_misdirected, s->ms.dropped_misdirected)
RT_VALUE(v_drop_full, s->ms.dropped_full)
RT_VALUE(v_drop_unresolved, s->ns.unresolved)
RT_VALUE(v_drop_send, s->ns.send_errors)
RT_VALUE(v_udp_bytes_in, s->ns.udp_bytes_received)
RT_VALUE(v_udp_bytes_out, s->ns.udp_bytes_sent)
RT_VALUE(v_tcp_in, s->ns.tcp_received)
RT_VALUE(v_tcp_out, s->ns.tcp_sent)
RT_VALUE(v_tcp_failed, s->ns.tcp_failed)
RT_VALUE(v_push_pulls, s->ms.push_pulls)
RT_VALUE(v_stalls, s->ms.stalls)
RT_VALUE(v_awareness, s->ms.awareness)
RT_VALUE(v_ring_version, s->ring ? ring_version(s->ring) : 0)
RT_VALUE(v_ring_partitions, s->ring ? ring_partitions(s->ring) : 0)
RT_VALUE(v_ring_members, s->ring ? ring_member_count(s->ring) : 0)
RT_VALUE(v_ring_owned, s->owned_here)
RT_VALUE(v_ring_transfer, s->ring ? ring_pending_count(s->ring) : 0)
RT_VALUE(v_commits_operator, s->cs.commits)
RT_VALUE(v_commits_auto, s->cs.claims)
RT_VALUE(v_rings_installed, s->ms.rings_installed)
RT_VALUE(v_save_errors, s->cs.save_errors)

static const struct rt_metric rt_metrics[] = {
    { "ringkv_gossip_members", "Members known to this node, by state.", "state=\"alive\"", RT_GAUGE, v_alive },
    { "ringkv_gossip_members", "", "state=\"suspect\"", RT_GAUGE, v_suspect },
    { "ringkv_gossip_members", "", "state=\"dead\"", RT_GAUGE, v_dead },
    { "ringkv_gossip_members", "", "state=\"leaving\"", RT_GAUGE, v_leaving },
    { "ringkv_gossip_members", "", "state=\"left\"", RT_GAUGE, v_left },
    { "ringkv_gossip_probes_total", "SWIM probes sent by this node.", "", RT_COUNTER, v_probes },
    { "ringkv_gossip_probes_failed_total", "Probes that got no ack, direct or indirect.", "", RT_COUNTER,
      v_probes_failed },
    { "ringkv_gossip_indirect_probes_total", "Probes that asked other members to ping the target.", "",
      RT_COUNTER, v_indirect },
    { "ringkv_gossip_suspicions_raised_total", "Members this node suspected after a failed probe.", "",
      RT_COUNTER, v_suspicions },
    { "ringkv_gossip_suspect_events_total", "Members that turned suspect in this node's view.", "", RT_COUNTER,
      v_suspect_events },
    { "ringkv_gossip_false_suspicions_total",
      "Suspected members that refuted the suspicion (false positives).", "", RT_COUNTER, v_false_suspicions },
    { "ringkv_gossip_refutations_total", "Suspicions about this node that it refuted.", "", RT_COUNTER,
      v_refutations },
    { "ringkv_gossip_deaths_declared_total", "Suspicion timeouts that expired on this node.", "", RT_COUNTER,
      v_deaths_declared },
    { "ringkv_gossip_dead_events_total", "Members that turned dead in this node's view.", "", RT_COUNTER,
      v_dead_events },
    { "ringkv_gossip_messages_total", "Gossip messages handled and sent.", "dir=\"in\"", RT_COUNTER,
      v_msgs_in },
    { "ringkv_gossip_messages_total", "", "dir=\"out\"", RT_COUNTER, v_msgs_out },
    { "ringkv_gossip_dropped_total", "Gossip messages dropped, by reason.", "reason=\"foreign_cluster\"",
      RT_COUNTER, v_drop_foreign },
    { "ringkv_gossip_dropped_total", "", "reason=\"undecodable\"", RT_COUNTER, v_drop_decode },
    { "ringkv_gossip_dropped_total", "", "reason=\"misdirected\"", RT_COUNTER, v_drop_misdirected },
    { "ringkv_gossip_dropped_total", "", "reason=\"table_full\"", RT_COUNTER, v_drop_full },
    { "ringkv_gossip_dropped_total", "", "reason=\"unresolved\"", RT_COUNTER, v_drop_unresolved },
    { "ringkv_gossip_dropped_total", "", "reason=\"send_error\"", RT_COUNTER, v_drop_send },
    { "ringkv_gossip_udp_bytes_total", "Gossip datagram bytes.", "dir=\"in\"", RT_COUNTER, v_udp_bytes_in },
    { "ringkv_gossip_udp_bytes_total", "", "dir=\"out\"", RT_COUNTER, v_udp_bytes_out },
    { "ringkv_gossip_tcp_packets_total", "Gossip messages carried over TCP (push-pulls).", "dir=\"in\"",
      RT_COUNTER, v_tcp_in },
    { "ringkv_gossip_tcp_packets_total", "", "dir=\"out\"", RT_COUNTER, v_tcp_out },
    { "ringkv_gossip_tcp_failures_total", "Gossip TCP sends without a receipt.", "", RT_COUNTER, v_tcp_failed },
    { "ringkv_gossip_push_pulls_total", "Full-state exchanges started by this node.", "", RT_COUNTER,
      v_push_pulls },
    { "ringkv_gossip_stalls_total", "Times this node found its own ticks late (paused, starved).", "",
      RT_COUNTER, v_stalls },
    { "ringkv_gossip_awareness", "Lifeguard local health score (0 = healthy).", "", RT_GAUGE, v_awareness },
    { "ringkv_ring_version", "Version of the newest ring known here (0: none yet).", "", RT_GAUGE,
      v_ring_version },
    { "ringkv_ring_partitions", "Partitions of the ring (Q).", "", RT_GAUGE, v_ring_partitions },
    { "ringkv_ring_members", "Nodes named by the ring.", "", RT_GAUGE, v_ring_members },
    { "ringkv_ring_partitions_owned", "Partitions this node owns.", "", RT_GAUGE, v_ring_owned },
    { "ringkv_ring_partitions_in_transfer", "Partitions with a pending new owner.", "", RT_GAUGE,
      v_ring_transfer },
    { "ringkv_ring_commits_total", "Rings committed on this node.", "by=\"operator\"", RT_COUNTER,
      v_commits_operator },
    { "ringkv_ring_commits_total", "", "by=\"auto_join\"", RT_COUNTER, v_commits_auto },
    { "ringkv_ring_installed_total", "Newer rings received from peers.", "", RT_COUNTER, v_rings_installed },
    { "ringkv_cluster_state_save_errors_total", "Ring or peers files that could not be written.", "",
      RT_COUNTER, v_save_errors },
};
#define RT_METRICS_COUNT (sizeof rt_metrics / sizeof rt_metrics[0])

struct cluster_rt {
    struct event_base *base;
    struct gossip_net *net;
    struct node_cluster *cluster;
    struct coord *coord;             /* for kvctl hints; NULL until cluster_rt_set_coord */
    struct event *timer;
    uint64_t timer_at_ms, armed_at_ms;
    uint64_t lags, next_lag_log_ms;  /* late timer firings (rt_check_lag) */
    char advertise[RT_ADDR_BYTES_MAX];
    union {
        uint64_t *counter;
        double *gauge;
    } values[RT_METRICS_COUNT]; /* by rt_metrics[i].kind */
};

static uint64_t rt_now_ms(void) { return kv_clock_real.mono_ms(&kv_clock_real); }

/* ---- timer ---- */

static void rt_arm(struct cluster_rt *rt)
{
    uint64_t next = node_cluster_next_tick_ms(rt->cluster), now = rt_now_ms();
    if (rt->timer_at_ms == next && evtimer_pending(rt->timer, NULL))
        return;
    uint64_t wait = next > now ? next - now : 0;
    struct timeval tv = { (time_t)(wait / 1000u), (suseconds_t)((wait % 1000u) * 1000u) };
    rt->timer_at_ms = next;
    rt->armed_at_ms = now;
    if (evtimer_add(rt->timer, &tv) != 0)
        log_error("cluster", "cannot arm the gossip timer");
}

/* A timer that fires this late means the event loop was blocked (or the
 * process paused): peers may have suspected this node meanwhile. */
static void rt_check_lag(struct cluster_rt *rt, uint64_t now_ms)
{
    /* Due when armed, or later: a deadline already past when the timer was
     * armed is due at the arming, not at the deadline. */
    uint64_t due = rt->timer_at_ms > rt->armed_at_ms ? rt->timer_at_ms : rt->armed_at_ms;
    uint64_t lag = now_ms > due ? now_ms - due : 0;
    if (lag < RT_LOOP_LAG_WARN_MS)
        return;
    rt->lags++;
    if (now_ms >= rt->next_lag_log_ms) {
        log_warn("cluster", "event loop was blocked; gossip ran late lag_ms=%llu late_ticks=%llu",
                 (unsigned long long)lag, (unsigned long long)rt->lags);
        rt->next_lag_log_ms = now_ms + RT_LOOP_LAG_LOG_EVERY_MS;
    }
}

static void rt_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct cluster_rt *rt = arg;
    uint64_t now = rt_now_ms();
    rt_check_lag(rt, now);
    node_cluster_tick(rt->cluster, now);
    rt_arm(rt);
}

/* ---- transport glue ---- */

static int rt_deliver(void *arg, const char *from, const struct gossip_msg *msg)
{
    struct cluster_rt *rt = arg;
    if (!rt->cluster)
        return KV_ESTATE;
    int rc = node_cluster_handle_message(rt->cluster, from, msg, rt_now_ms());
    rt_arm(rt);
    return rc;
}

static void rt_send(void *ctx, const char *to, const struct gossip_msg *msg)
{
    struct cluster_rt *rt = ctx;
    gossip_net_send(rt->net, to, msg);
}

void cluster_rt_set_coord(struct cluster_rt *rt, struct coord *coord) { rt->coord = coord; }

int cluster_rt_transfer_done(struct cluster_rt *rt, uint32_t partition, const char *to)
{
    int rc = node_cluster_transfer_done(rt->cluster, partition, to, rt_now_ms());
    rt_arm(rt);
    return rc;
}

void cluster_rt_handle_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                               struct rpc_reply_handle h)
{
    struct cluster_rt *rt = arg;
    if (req->body_case == RINGKV__ENVELOPE__BODY_CLUSTER && req->cluster &&
        req->cluster->body_case == RINGKV__CLUSTER_MESSAGE__BODY_GOSSIP) {
        gossip_net_handle_packet(rt->net, peer, req, h);
        return;
    }
    if (req->body_case == RINGKV__ENVELOPE__BODY_ADMIN && req->admin) {
        admin_handle(rt->cluster, rt->coord, req->admin, h, rt_now_ms());
        rt_arm(rt);
        rpc_envelope_free(req);
        return;
    }
    int rc = rpc_reply_error(h, KV_EINVAL, "request not handled by this node");
    if (rc != KV_OK && rc != KV_ECLOSED)
        log_debug("cluster", "error reply not sent status=\"%s\"", kv_status_str(rc));
    rpc_envelope_free(req);
}

/* ---- addresses ---- */

static bool host_is_wildcard(const char *host)
{
    return !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static void format_hostport(char *out, size_t cap, const char *host, uint16_t port)
{
    snprintf(out, cap, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
}

static int rt_advertise(struct cluster_rt *rt, const struct node_config *cfg, uint16_t port)
{
    if (cfg->advertise[0]) {
        snprintf(rt->advertise, sizeof rt->advertise, "%s", cfg->advertise);
        return KV_OK;
    }
    if (!host_is_wildcard(cfg->listen_addr.host)) {
        format_hostport(rt->advertise, sizeof rt->advertise, cfg->listen_addr.host, port);
        return KV_OK;
    }
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0]) {
        log_error("cluster", "--listen is a wildcard address and the host name is unknown: set --advertise");
        return KV_EINVAL;
    }
    host[sizeof host - 1] = 0;
    format_hostport(rt->advertise, sizeof rt->advertise, host, port);
    log_warn("cluster", "no --advertise: peers are told this host's name addr=%s", rt->advertise);
    return KV_OK;
}

/* A seed naming this node under another spelling ("localhost:7101" for
 * 127.0.0.1:7101) is dropped; lookups here block, once, at start-up. */
static bool seed_is_self(const struct cluster_rt *rt, const char *seed)
{
    struct sockaddr_storage a, b;
    int alen = 0, blen = 0;
    if (strcmp(seed, rt->advertise) == 0)
        return true;
    return rpc_addr_resolve(seed, &a, &alen) == KV_OK && rpc_addr_resolve(rt->advertise, &b, &blen) == KV_OK &&
           alen == blen && memcmp(&a, &b, (size_t)alen) == 0;
}

static int rt_start_cluster(struct cluster_rt *rt, const struct node_config *cfg, char *state_dir,
                            size_t state_dir_cap)
{
    char seed_strs[NODE_CLUSTER_SEEDS_MAX][RT_ADDR_BYTES_MAX];
    const char *seeds[NODE_CLUSTER_SEEDS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < cfg->seed_count && n < NODE_CLUSTER_SEEDS_MAX; i++) {
        format_hostport(seed_strs[n], sizeof seed_strs[n], cfg->seed_addrs[i].host, cfg->seed_addrs[i].port);
        if (!seed_is_self(rt, seed_strs[n])) {
            seeds[n] = seed_strs[n];
            n++;
        }
    }
    int rc = state_file_dir(cfg->data_dir, state_dir, state_dir_cap);
    if (rc != KV_OK)
        return rc;
    struct node_cluster_config cc = {
        .node_id = cfg->node_id,
        .cluster_name = cfg->cluster_name,
        .advertise = rt->advertise,
        .zone = cfg->zone,
        .state_dir = state_dir,
        .partitions = (uint32_t)cfg->partitions,
        .n_val = (uint32_t)cfg->n_replicas,
        .auto_join = cfg->auto_join,
        .seeds = seeds,
        .n_seeds = n,
        .rand_seed = kv_mono_ns() ^ ((uint64_t)getpid() << 32) ^ kv_hash64(cfg->node_id, strlen(cfg->node_id), 0),
    };
    struct node_cluster_net net = { rt_send, rt };
    return node_cluster_new(&cc, &net, rt_now_ms(), &rt->cluster);
}

/* ---- metrics and health ---- */

static int rt_register_metrics(struct cluster_rt *rt, struct metrics *m)
{
    int rc = KV_OK;
    const char *help = "";
    for (size_t i = 0; rc == KV_OK && i < RT_METRICS_COUNT; i++) {
        const struct rt_metric *d = &rt_metrics[i];
        if (d->help[0])
            help = d->help; /* a family's later series repeat its help as "" */
        if (d->kind == RT_COUNTER)
            rc = metrics_counter(m, d->name, help, d->labels, &rt->values[i].counter);
        else
            rc = metrics_gauge(m, d->name, help, d->labels, &rt->values[i].gauge);
    }
    return rc;
}

void cluster_rt_refresh_metrics(struct cluster_rt *rt)
{
    struct rt_snapshot s;
    memset(&s, 0, sizeof s);
    membership_get_stats(node_cluster_membership(rt->cluster), &s.ms);
    node_cluster_get_stats(rt->cluster, &s.cs);
    gossip_net_get_stats(rt->net, &s.ns);
    s.ring = node_cluster_ring(rt->cluster);
    uint32_t self;
    if (s.ring && ring_member_find(s.ring, node_cluster_node_id(rt->cluster), &self) == KV_OK)
        s.owned_here = ring_owned_count(s.ring, self);
    for (size_t i = 0; i < RT_METRICS_COUNT; i++) {
        double v = rt_metrics[i].value(&s);
        if (rt_metrics[i].kind == RT_COUNTER)
            *rt->values[i].counter = (uint64_t)v;
        else
            *rt->values[i].gauge = v;
    }
}

int cluster_rt_health_json(void *arg, struct kv_buf *out)
{
    struct cluster_rt *rt = arg;
    const struct membership *m = node_cluster_membership(rt->cluster);
    const struct ring *r = node_cluster_ring(rt->cluster);
    struct node_cluster_stats st;
    node_cluster_get_stats(rt->cluster, &st);
    return kv_buf_appendf(out, ",\"ring_version\":%llu,\"members\":%zu,\"members_alive\":%u",
                          (unsigned long long)(r ? ring_version(r) : 0), membership_member_count(m),
                          st.members[GOSSIP_ALIVE]);
}

/* ---- lifecycle ---- */

int cluster_rt_new(struct event_base *base, const struct node_config *cfg, uint16_t native_port,
                   struct rpc_tls *tls, struct metrics *metrics, struct cluster_rt **out)
{
    struct cluster_rt *rt = calloc(1, sizeof *rt);
    char *state_dir = malloc(NODE_CONFIG_PATH_BYTES_MAX + 64);
    if (!rt || !state_dir) {
        free(rt);
        free(state_dir);
        return KV_ENOMEM;
    }
    rt->base = base;
    int rc = rt_advertise(rt, cfg, native_port);
    struct gossip_net_config gc = {
        .bind_host = cfg->listen_addr.host,
        .port = native_port,
        .node_id = cfg->node_id,
        .cluster_name = cfg->cluster_name,
        .udp = tls == NULL,
        .tls = tls,
        .frame_bytes_max = (uint32_t)cfg->frame_bytes_max,
    };
    if (rc == KV_OK)
        rc = rt_register_metrics(rt, metrics);
    if (rc == KV_OK)
        rc = gossip_net_new(base, &gc, rt_deliver, rt, &rt->net);
    if (rc == KV_OK && !(rt->timer = evtimer_new(base, rt_on_timer, rt)))
        rc = KV_ENOMEM;
    if (rc == KV_OK)
        rc = rt_start_cluster(rt, cfg, state_dir, NODE_CONFIG_PATH_BYTES_MAX + 64);
    free(state_dir);
    if (rc != KV_OK) {
        log_error("cluster", "cluster start-up failed status=\"%s\"", kv_status_str(rc));
        cluster_rt_free(rt);
        return rc;
    }
    rt_arm(rt);
    log_info("cluster", "gossip started advertise=%s transport=%s auto_join=%s seeds=%zu", rt->advertise,
             tls ? "tcp+tls" : "udp+tcp", cfg->auto_join ? "on" : "off", cfg->seed_count);
    *out = rt;
    return KV_OK;
}

void cluster_rt_free(struct cluster_rt *rt)
{
    if (!rt)
        return;
    if (rt->timer)
        event_free(rt->timer);
    node_cluster_free(rt->cluster);
    rt->cluster = NULL;
    gossip_net_free(rt->net);
    /* Closing the pool's connections may leave libevent callbacks queued
     * (deferred bufferevent callbacks hold a reference to their
     * bufferevent); once the loop has stopped nothing would run them and
     * the bufferevents would never be freed. One non-blocking pass does. */
    event_base_loop(rt->base, EVLOOP_NONBLOCK);
    free(rt);
}

const struct ring *cluster_rt_ring(const struct cluster_rt *rt) { return node_cluster_ring(rt->cluster); }

bool cluster_rt_is_up(const struct cluster_rt *rt, const char *id) { return node_cluster_is_up(rt->cluster, id); }

const char *cluster_rt_advertise(const struct cluster_rt *rt) { return rt->advertise; }

const char *cluster_rt_member_addr(const struct cluster_rt *rt, const char *id)
{
    struct membership_member m;
    if (membership_member_find(node_cluster_membership(rt->cluster), id, &m) != KV_OK)
        return NULL;
    return m.addr;
}
