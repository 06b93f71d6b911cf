/*
 * kvnode.c - the ringkv node process: configuration, wiring, signals.
 *
 *   kvnode --node-id ID --data-dir DIR --listen HOST:PORT --resp HOST:PORT
 *          --http HOST:PORT [--seeds HOST:PORT,...] [--config FILE] ...
 *
 * Start-up: parse the config (node/config.h; bad input exits 2), raise
 * the soft open-file limit for --max-connections (node_raise_fd_limit), open the
 * engine with the coordinator's compaction filter (TTL purge), create the
 * coordinator, then the native, RESP and HTTP listeners on one libevent
 * loop. A failure at start-up is logged and exits 1.
 *
 * Shutdown on SIGTERM or SIGINT: /health turns 503, the RESP listener
 * stops accepting and reading, in-flight requests get up to
 * --shutdown-timeout-ms to finish, queued replies get
 * NODE_SHUTDOWN_FLUSH_MS to leave, then the listeners close and the engine
 * is closed cleanly (WAL synced); exit 0. A second signal skips the wait.
 * SIGPIPE is ignored: a closed peer is an error return, not a crash.
 *
 * Cluster: after the native listener is bound, node/cluster_rt.h starts
 * gossip (UDP on the native port, push-pulls over the native listener)
 * and the ring; the native listener hands it cluster and admin requests.
 * A node started with seeds runs its coordinator in cluster mode:
 * node/replication.h carries the quorum messages and runs its timer, and
 * the compaction filter drops expired objects only after the tombstone
 * grace period, and not at all with it 0 (coord.h). Without seeds it serves its
 * own engine alone. In cluster mode node/aae_net.h also runs anti-entropy
 * (unless --aae off): created before the coordinator, whose write hook
 * feeds its Merkle trees, and first in the chain of non-data request
 * handlers (anti-entropy messages and admin ops, then replication, then
 * gossip and the other admin ops).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "coordinator/coord.h"
#include "node/auth.h"
#include "node/budget.h"
#include "node/cluster_rt.h"
#include "node/config.h"
#include "node/http.h"
#include "node/metrics.h"
#include "node/native.h"
#include "node/replication.h"
#include "node/aae_net.h"
#include "node/handoff_net.h"
#include "node/resp_server.h"
#include "node/stats.h"
#include "rpc/tls.h"
#include "storage/engine.h"

#ifndef RINGKV_VERSION
#define RINGKV_VERSION "unknown"
#endif

/* How often the drain checks for in-flight requests. */
#define NODE_DRAIN_POLL_MS 10u
/* After the last request finished: time for queued replies to be written. */
#define NODE_SHUTDOWN_FLUSH_MS 100u
/* File descriptors kept beside the client connections: engine files,
 * peer connections, HTTP, gossip. */
#define NODE_FDS_RESERVED 1024u
/* Largest test clock skew either way (RINGKV_TEST_CLOCK_SKEW_MS): 30 days. */
#define NODE_TEST_CLOCK_SKEW_MS_MAX (30ll * 24 * 3600 * 1000)

struct node {
    struct node_config cfg;
    struct event_base *base;
    struct engine *engine;
    struct coord *coord;
    struct metrics *metrics;
    struct rpc_tls *tls;
    struct native_server *native;
    struct resp_server *resp;
    struct http_server *http;
    struct node_stats *stats;
    struct cluster_rt *cluster;
    struct replication *repl;   /* cluster mode (node_is_cluster), else NULL */
    struct aae_net *aae;        /* cluster mode: anti-entropy (disabled inside with --aae off) */
    struct handoff_net *handoff; /* cluster mode: ownership handoff after ring changes */
    struct rpc_tls *peer_tls;   /* client side of node-to-node TLS, or NULL */
    struct auth_users *users;   /* --users-file, or NULL: authentication off */
    struct node_budget budget;  /* client request bytes held, both listeners */
    struct event *sigterm, *sigint, *drain_timer;
    struct engine_compaction_filter filter;
    struct coord_ttl_filter ttl_filter;  /* cluster: the filter's clock and grace */
    struct kv_clock_skewed clock; /* the real clock, skewed only in tests (node_clock_init) */
    uint64_t drain_deadline_ms;
    bool draining;
    bool flushing;   /* requests done; letting replies leave */
};

static uint64_t node_now_ms(void) { return kv_clock_real.mono_ms(&kv_clock_real); }

static struct timeval node_tv(uint32_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000u), (suseconds_t)((ms % 1000u) * 1000u) };
    return tv;
}

/* ---- start-up ---- */

/* Cluster mode (quorum requests over the ring, node/replication.h) when
 * the node has seeds; without seeds it serves its own engine alone, as
 * before the cluster exists (a ring would take settle_ms to appear). */
static bool node_is_cluster(const struct node *n) { return n->cfg.seed_count > 0; }

/* --conflict-mode as a literal (it goes into Hellos; peers must match). */
static const char *node_conflict_mode(const struct node *n)
{
    return strcmp(n->cfg.conflict_mode, "lww") == 0 ? "lww" : "dvv";
}

static int node_open_engine(struct node *n)
{
    struct engine_options o;
    engine_options_default(&o);
    o.sync = n->cfg.sync == NODE_SYNC_ALWAYS     ? ENGINE_SYNC_ALWAYS
           : n->cfg.sync == NODE_SYNC_PERIODIC ? ENGINE_SYNC_PERIODIC
                                                : ENGINE_SYNC_NONE;
    o.sync_interval_ms = (uint32_t)n->cfg.sync_interval_ms;
    o.memtable_bytes = (size_t)n->cfg.memtable_bytes;
    o.block_cache_bytes = (size_t)n->cfg.block_cache_bytes;
    n->filter.filter = coord_compaction_filter;
    n->filter.arg = (void *)&n->clock.clock;
    /* In a cluster, expired objects go only after the tombstone grace
     * period (coord_compaction_filter_grace); with it 0, never. */
    n->ttl_filter = (struct coord_ttl_filter){ &n->clock.clock, n->cfg.tombstone_grace_ms };
    if (node_is_cluster(n)) {
        n->filter.filter = coord_compaction_filter_grace;
        n->filter.arg = &n->ttl_filter;
    }
    o.compaction_filter = node_is_cluster(n) && !n->cfg.tombstone_grace_ms ? NULL : &n->filter;
    if (mkdir(n->cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        log_error("node", "cannot create data dir dir=%s error=\"%s\"", n->cfg.data_dir,
                  strerror(errno));
        return KV_EIO;
    }
    int rc = engine_open(n->cfg.data_dir, &o, &n->engine);
    if (rc != KV_OK)
        log_error("node", "cannot open engine dir=%s status=\"%s\"", n->cfg.data_dir,
                  kv_status_str(rc));
    return rc;
}

/* Anti-entropy (node/aae_net.h), created before the coordinator: its
 * write hook goes into the coordinator's config. */
static int node_open_aae(struct node *n, struct coord_write_hook *hook)
{
    const struct node_config *c = &n->cfg;
    struct aae_net_config ac = {
        .enabled = c->aae,
        .node_id = c->node_id,
        .cluster_name = c->cluster_name,
        .frame_bytes_max = (uint32_t)c->frame_bytes_max,
        .partitions = (uint32_t)c->partitions,
        .engine = n->engine,
        .exchange_interval_ms = c->aae_interval_ms,
        .bytes_per_sec = c->aae_bytes_per_sec,
        .exchanges_max = (uint32_t)c->aae_exchanges_max,
        .rand_seed = kv_mono_ns() ^ ((uint64_t)getpid() << 17),
    };
    int rc = aae_net_new(n->base, &ac, n->metrics, &n->aae);
    if (rc == KV_OK)
        aae_net_write_hook(n->aae, hook);
    return rc;
}

/* Ownership handoff (node/handoff_net.h), created before the coordinator:
 * its write hook (which then calls `next`, anti-entropy's) goes into the
 * coordinator's config. */
static int node_open_handoff(struct node *n, const struct coord_write_hook *next, struct coord_write_hook *hook)
{
    const struct node_config *c = &n->cfg;
    struct handoff_net_config hc = {
        .node_id = c->node_id,
        .cluster_name = c->cluster_name,
        .data_dir = c->data_dir,
        .frame_bytes_max = (uint32_t)c->frame_bytes_max,
        .engine = n->engine,
        .bytes_per_sec = c->handoff_bytes_per_sec,
        .transfers_max = (uint32_t)c->handoff_transfers_max,
        .drop_delay_ms = (uint32_t)c->handoff_drop_delay_ms,
    };
    int rc = handoff_net_new(n->base, &hc, n->metrics, &n->handoff);
    if (rc == KV_OK)
        handoff_net_write_hook(n->handoff, next, hook);
    return rc;
}

static int node_open_coord(struct node *n)
{
    struct coord_config cc;
    coord_config_default(&cc);
    cc.node_id = n->cfg.node_id;
    cc.partitions = (uint32_t)n->cfg.partitions;
    /* Standalone the coordinator serves this node's engine alone (N = 1);
     * in cluster mode N is the ring's n_val, which --n-replicas sets when
     * this node creates the cluster's first ring. */
    cc.n_replicas = 1;
    struct coord_net_ops net;
    struct coord_cluster_ops cluster;
    struct coord_write_hook aae_hook, hook;
    if (node_is_cluster(n)) {
        int ast = node_open_aae(n, &aae_hook);
        if (ast == KV_OK)
            ast = node_open_handoff(n, &aae_hook, &hook);
        if (ast != KV_OK)
            return ast;
        cc.write_hook = &hook;
        struct replication_config rc = { n->cfg.node_id, n->cfg.cluster_name,
                                         (uint32_t)n->cfg.frame_bytes_max, node_conflict_mode(n) };
        int st = replication_new(n->base, &rc, &n->repl);
        if (st != KV_OK)
            return st;
        replication_coord_ops(n->repl, &net, &cluster);
        cc.net = &net;
        cc.cluster = &cluster;
        cc.rand_seed = kv_mono_ns() ^ ((uint64_t)getpid() << 32);
    }
    cc.key_bytes_max = (uint32_t)n->cfg.key_bytes_max;
    cc.value_bytes_max = (uint32_t)n->cfg.value_bytes_max;
    cc.siblings_max = (uint32_t)n->cfg.siblings_max;
    cc.conflict_mode = strcmp(n->cfg.conflict_mode, "lww") == 0 ? COORD_CONFLICT_LWW : COORD_CONFLICT_DVV;
    cc.tombstone_grace_ms = n->cfg.tombstone_grace_ms;
    cc.hints_bytes_max = n->cfg.hints_bytes_max;
    cc.clock = &n->clock.clock;
    cc.engine = n->engine;
    return coord_new(&cc, &n->coord);
}

static int node_start_native(struct node *n)
{
    const struct node_config *c = &n->cfg;
    if (c->tls_cert[0]) {
        struct rpc_tls_config tc = { c->tls_cert, c->tls_key, c->tls_ca[0] ? c->tls_ca : NULL,
                                     c->tls_mutual, c->cluster_name };
        int rc = rpc_tls_new(RPC_TLS_SERVER, &tc, &n->tls);
        if (rc != KV_OK)
            return rc;
    }
    if (c->users_file[0]) {
        int rc = auth_users_load(c->users_file, &n->users);
        if (rc != KV_OK)
            return rc;
        log_info("node", "authentication on users=%zu file=%s", auth_users_count(n->users),
                 c->users_file);
    }
    struct native_server_config nc = {
        .listen = c->listen,
        .node_id = c->node_id,
        .cluster_name = c->cluster_name,
        .max_connections = (uint32_t)c->max_connections,
        .frame_bytes_max = (uint32_t)c->frame_bytes_max,
        .idle_timeout_ms = (uint32_t)c->idle_timeout_ms,
        .frame_timeout_ms = (uint32_t)c->frame_timeout_ms,
        .output_bytes_max = (size_t)c->conn_output_bytes_max,
        .request_timeout_ms = (uint32_t)c->request_timeout_ms,
        .tls = n->tls,
        .users = n->users,
        .budget = &n->budget,
        .conflict_mode = node_conflict_mode(n),
    };
    n->budget.bytes_max = c->inflight_bytes_max;
    return native_server_new(n->base, &nc, n->coord, n->engine, n->metrics, &n->native);
}

static int node_start_resp(struct node *n)
{
    const struct node_config *c = &n->cfg;
    if (!c->resp_enabled)
        return KV_OK;
    struct resp_server_config rc = {
        .listen = c->resp,
        .node_id = c->node_id,
        .version = RINGKV_VERSION,
        .max_connections = (uint32_t)c->max_connections,
        .key_bytes_max = (uint32_t)c->key_bytes_max,
        .value_bytes_max = (uint32_t)c->value_bytes_max,
        .command_bytes_max = (size_t)c->frame_bytes_max,
        .output_bytes_max = (size_t)c->conn_output_bytes_max,
        .idle_timeout_ms = (uint32_t)c->idle_timeout_ms,
        .frame_timeout_ms = (uint32_t)c->frame_timeout_ms,
        .request_timeout_ms = (uint32_t)c->request_timeout_ms,
        .users = n->users,
        .budget = &n->budget,
    };
    return resp_server_new(n->base, &rc, n->coord, n->metrics, &n->resp);
}

/* Gossip, the ring and kvctl's admin requests (node/cluster_rt.h). With
 * TLS, node-to-node connections present this node's certificate and
 * verify peers against --tls-ca when given. */
static int node_start_cluster(struct node *n)
{
    const struct node_config *c = &n->cfg;
    if (c->tls_cert[0]) {
        struct rpc_tls_config tc = { c->tls_cert, c->tls_key, c->tls_ca[0] ? c->tls_ca : NULL,
                                     c->tls_ca[0] != 0, c->cluster_name };
        int rc = rpc_tls_new(RPC_TLS_CLIENT, &tc, &n->peer_tls);
        if (rc != KV_OK)
            return rc;
    }
    int rc = cluster_rt_new(n->base, c, native_server_port(n->native), n->peer_tls, n->metrics,
                            &n->cluster);
    if (rc == KV_OK)
        cluster_rt_set_coord(n->cluster, n->coord);
    if (rc == KV_OK && n->repl)
        rc = replication_attach(n->repl, n->coord, n->cluster, n->peer_tls);
    if (rc == KV_OK && n->repl)
        rc = aae_net_attach(n->aae, n->cluster, n->peer_tls, replication_handle_request, n->repl);
    if (rc == KV_OK && n->repl)
        rc = handoff_net_attach(n->handoff, n->coord, n->cluster, n->peer_tls, aae_net_handle_request, n->aae);
    if (rc == KV_OK && n->repl)
        native_server_set_other(n->native, handoff_net_handle_request, n->handoff);
    else if (rc == KV_OK)
        native_server_set_other(n->native, cluster_rt_handle_request, n->cluster);
    return rc;
}

static void node_refresh(void *arg)
{
    struct node *n = arg;
    node_stats_refresh(n->stats);
    cluster_rt_refresh_metrics(n->cluster);
    aae_net_refresh_metrics(n->aae);
    handoff_net_refresh_metrics(n->handoff);
}

static int node_start_http(struct node *n)
{
    const struct node_config *c = &n->cfg;
    int rc = node_stats_new(n->metrics, n->engine, n->coord, n->native, &n->stats);
    if (rc != KV_OK || !c->http_enabled)
        return rc;
    struct http_server_config hc = {
        .listen = c->http,
        .connections_max = (uint32_t)c->max_connections,
        .node_id = c->node_id,
        .cluster_name = c->cluster_name,
        .version = RINGKV_VERSION,
        .metrics = n->metrics,
        .refresh = node_refresh,
        .refresh_arg = n,
        .health = cluster_rt_health_json,
        .health_arg = n->cluster,
    };
    return http_server_new(n->base, &hc, &n->http);
}

/* ---- shutdown ---- */

static uint64_t node_busy(const struct node *n)
{
    return (n->resp ? resp_server_busy(n->resp) : 0) + native_server_inflight(n->native);
}

static void node_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    if (n->flushing) {
        event_base_loopbreak(n->base);
        return;
    }
    uint64_t busy = node_busy(n);
    struct timeval tv = node_tv(NODE_DRAIN_POLL_MS);
    if (busy == 0 || node_now_ms() >= n->drain_deadline_ms) {
        if (busy)
            log_warn("node", "shutdown timeout; dropping unfinished requests busy=%llu",
                     (unsigned long long)busy);
        n->flushing = true;
        tv = node_tv(NODE_SHUTDOWN_FLUSH_MS);
    }
    evtimer_add(n->drain_timer, &tv);
}

static void node_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct node *n = arg;
    if (n->draining) {
        log_warn("node", "second signal; stopping without waiting signal=%d", (int)sig);
        event_base_loopbreak(n->base);
        return;
    }
    n->draining = true;
    log_info("node", "shutdown begun signal=%s in_flight=%llu",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)node_busy(n));
    if (n->http)
        http_server_set_draining(n->http);
    if (n->resp)
        resp_server_stop(n->resp);
    n->drain_deadline_ms = node_now_ms() + n->cfg.shutdown_timeout_ms;
    struct timeval now = { 0, 0 };
    evtimer_add(n->drain_timer, &now);
}

static int node_signals(struct node *n)
{
    n->sigterm = evsignal_new(n->base, SIGTERM, node_on_signal, n);
    n->sigint = evsignal_new(n->base, SIGINT, node_on_signal, n);
    n->drain_timer = evtimer_new(n->base, node_drain_tick, n);
    if (!n->sigterm || !n->sigint || !n->drain_timer || evsignal_add(n->sigterm, NULL) != 0 ||
        evsignal_add(n->sigint, NULL) != 0)
        return KV_ENOMEM;
    return KV_OK;
}

/* Releases everything in the reverse order of start-up; the engine last
 * so that no request can reach it while it closes. */
static int node_close(struct node *n)
{
    http_server_free(n->http);
    resp_server_free(n->resp);
    native_server_free(n->native);
    handoff_net_free(n->handoff); /* before the coordinator it merges through */
    aae_net_free(n->aae); /* before the ring it reads and the engine its trees snapshot */
    replication_free(n->repl);
    cluster_rt_free(n->cluster);
    rpc_tls_free(n->peer_tls);
    node_stats_free(n->stats);
    rpc_tls_free(n->tls);
    auth_users_free(n->users);
    coord_free(n->coord);
    int rc = KV_OK;
    if (n->engine) {
        rc = engine_close(n->engine);
        if (rc != KV_OK)
            log_error("node", "engine close failed status=\"%s\"", kv_status_str(rc));
    }
    if (n->sigterm)
        event_free(n->sigterm);
    if (n->sigint)
        event_free(n->sigint);
    if (n->drain_timer)
        event_free(n->drain_timer);
    metrics_free(n->metrics);
    if (n->base)
        event_base_free(n->base);
    return rc;
}

static void node_log_started(const struct node *n)
{
    const struct node_config *c = &n->cfg;
    log_info("node",
             "kvnode started version=%s node_id=%s cluster=%s native=%s:%u resp=%s%s%u "
             "http=%s%s%u data_dir=%s sync=%s partitions=%llu seeds=%zu pid=%ld",
             RINGKV_VERSION, c->node_id, c->cluster_name, c->listen_addr.host,
             native_server_port(n->native), c->resp_enabled ? c->resp_addr.host : "off",
             c->resp_enabled ? ":" : "", n->resp ? resp_server_port(n->resp) : 0,
             c->http_enabled ? c->http_addr.host : "off", c->http_enabled ? ":" : "",
             n->http ? http_server_port(n->http) : 0, c->data_dir, node_sync_name(c->sync),
             (unsigned long long)c->partitions, c->seed_count, (long)getpid());
}

/* Test only: RINGKV_TEST_CLOCK_SKEW_MS=<signed ms> shifts the wall clock
 * the coordinator sees (TTLs, hint expiry), for the clock-skew faults of
 * tests/chaos. Not a config option: no deployment should ever set it. */
static int node_clock_init(struct node *n)
{
    const char *v = getenv("RINGKV_TEST_CLOCK_SKEW_MS");
    char *end = NULL;
    long long skew = v && *v ? strtoll(v, &end, 10) : 0;
    if (v && *v && (*end || skew < -NODE_TEST_CLOCK_SKEW_MS_MAX || skew > NODE_TEST_CLOCK_SKEW_MS_MAX)) {
        log_error("node", "bad RINGKV_TEST_CLOCK_SKEW_MS value=\"%s\" (ms, |skew| <= %lld)", v,
                  (long long)NODE_TEST_CLOCK_SKEW_MS_MAX);
        return KV_EINVAL;
    }
    kv_clock_skewed_init(&n->clock, skew);
    if (skew)
        log_warn("node", "test clock skew in use skew_ms=%lld", skew);
    return KV_OK;
}

/* A shell's soft open-file limit is often 1024, far below what
 * --max-connections allows: a flood of idle connections would then starve
 * the engine of descriptors (writes fail with io error). Raises the soft
 * limit toward 3 x max-connections + NODE_FDS_RESERVED (native, RESP and
 * HTTP listeners), up to the hard limit; warns when that is not enough. */
static void node_raise_fd_limit(const struct node *n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)(3 * n->cfg.max_connections + NODE_FDS_RESERVED);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = was;
        else
            log_info("node", "open-file limit raised from=%llu to=%llu", (unsigned long long)was,
                     (unsigned long long)rl.rlim_cur);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        log_warn("node", "open-file limit below what --max-connections needs limit=%llu wanted=%llu "
                 "(raise the hard limit, LimitNOFILE or ulimit -Hn, or lower --max-connections)",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

static int node_run(struct node *n)
{
    node_raise_fd_limit(n);
    int rc = node_clock_init(n);
    if (rc != KV_OK)
        return rc;
    rc = KV_ENOMEM;
    n->base = event_base_new();
    if (!n->base || metrics_new(&n->metrics) != KV_OK)
        goto done;
    rc = node_open_engine(n);
    if (rc == KV_OK)
        rc = node_open_coord(n);
    if (rc == KV_OK)
        rc = node_start_native(n);
    if (rc == KV_OK)
        rc = node_start_resp(n);
    if (rc == KV_OK)
        rc = node_start_cluster(n);
    if (rc == KV_OK)
        rc = node_start_http(n);
    if (rc == KV_OK)
        rc = node_signals(n);
    if (rc != KV_OK) {
        log_error("node", "start-up failed status=\"%s\"", kv_status_str(rc));
        goto done;
    }
    node_log_started(n);
    if (event_base_dispatch(n->base) != 0) {
        log_error("node", "event loop failed");
        rc = KV_EIO;
    }
done:;
    int close_rc = node_close(n);
    if (rc == KV_OK)
        rc = close_rc;
    if (rc == KV_OK)
        log_info("node", "shutdown complete");
    return rc;
}

/* kvnode --hash-password NAME:ROLE: reads one line (the secret) from stdin
 * and prints a users-file line (node/auth.h). The secret is never echoed. */
static int node_hash_password(const char *spec)
{
    char name[AUTH_USER_BYTES_MAX + 1], secret[AUTH_SECRET_BYTES_MAX + 2], line[AUTH_LINE_BYTES_MAX];
    const char *colon = strchr(spec, ':');
    enum auth_role role;
    if (colon == NULL || (size_t)(colon - spec) > AUTH_USER_BYTES_MAX ||
        auth_role_parse(colon + 1, &role) != KV_OK) {
        fprintf(stderr, "kvnode: error: --hash-password NAME:ROLE, ROLE read, write or admin\n");
        return 2;
    }
    snprintf(name, sizeof name, "%.*s", (int)(colon - spec), spec);
    if (fgets(secret, sizeof secret, stdin) == NULL) {
        fprintf(stderr, "kvnode: error: --hash-password: no password on stdin\n");
        return 2;
    }
    secret[strcspn(secret, "\r\n")] = 0;
    int rc = auth_hash_line(name, role, secret, strlen(secret), AUTH_PBKDF2_ITERATIONS_DEFAULT,
                            line, sizeof line);
    memset(secret, 0, sizeof secret);
    if (rc != KV_OK) {
        fprintf(stderr, "kvnode: error: --hash-password: %s (name: 1..64 of A-Z a-z 0-9 . _ @ -; "
                "password: 1..%u bytes)\n", kv_status_str(rc), AUTH_SECRET_BYTES_MAX);
        return 2;
    }
    printf("%s\n", line);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "--hash-password") == 0)
        return node_hash_password(argv[2]);
    struct node *n = calloc(1, sizeof *n); /* the config is ~50 KiB: not on the stack */
    if (!n) {
        fprintf(stderr, "kvnode: error: out of memory\n");
        return 1;
    }
    struct kv_buf err = { 0 };
    enum node_config_action action;
    int rc = node_config_load(&n->cfg, argc, argv, environ, &action, &err);
    int exit_code = 0;
    if (rc != KV_OK) {
        fprintf(stderr, "kvnode: error: %s\n", err.data ? err.data : kv_status_str(rc));
        exit_code = 2;
    } else if (action == NODE_CONFIG_HELP) {
        node_config_print_help(stdout, "kvnode");
    } else if (action == NODE_CONFIG_VERSION) {
        printf("kvnode %s\n", RINGKV_VERSION);
    } else {
        kv_log_set_level(n->cfg.log_level);
        exit_code = node_run(n) == KV_OK ? 0 : 1;
    }
    kv_buf_free(&err);
    free(n);
    return exit_code;
}
