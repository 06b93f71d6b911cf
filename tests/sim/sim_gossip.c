/* sim_gossip.c - gossip nodes on the simulator, and their views (see sim_gossip.h). */
#include "tests/sim/sim_gossip.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"

#define SG_UNKNOWN 0xffu
#define SG_STATES (GOSSIP_STATE_MAX + 1)

struct sg_node {
    struct sg_cluster *c;
    uint32_t idx;
    struct membership *m; /* NULL while not running */
    char id[16];
    char addr[32];
    char zone[16];
};

struct sg_cluster {
    struct sim *sim;
    struct sg_config cfg;
    struct sg_node *nodes;
    uint8_t *view;    /* [observer * n + target] */
    uint32_t *counts; /* [target * SG_STATES + state], running observers only */
    uint32_t running;
    const char *seeds[MEMBERSHIP_SEEDS_MAX];
    struct kv_buf enc;
    struct sg_stats stats;
    int trace; /* RINGKV_SIM_TRACE: 1 = events, 2 = and messages, to stderr */
};

static void fold(struct sg_cluster *c, uint64_t a, uint64_t b)
{
    uint64_t v[3] = { c->stats.trace_hash, a, b };
    c->stats.trace_hash = kv_hash64(v, sizeof v, 0);
}

static void rearm(struct sg_node *n)
{
    if (n->m)
        sim_wake_at(n->c->sim, n->idx, membership_next_tick_ms(n->m));
}

static void net_send(void *ctx, const char *to_addr, const struct gossip_msg *msg)
{
    struct sg_node *n = ctx;
    struct sg_cluster *c = n->c;
    kv_buf_reset(&c->enc);
    if (gossip_msg_encode(msg, &c->enc) != KV_OK) {
        c->stats.decode_errors++; /* an unencodable message is a bug the tests should see */
        return;
    }
    if (c->trace > 1) {
        fprintf(stderr, "%8" PRIu64 " %s -> %s type=%d seq=%u updates:", sim_now(c->sim), n->id, to_addr,
                (int)msg->type, msg->seq);
        for (size_t i = 0; i < msg->n_updates && msg->type < GOSSIP_PUSH_PULL_REQ; i++)
            fprintf(stderr, " %.*s/%s/%" PRIu64, (int)msg->updates[i].id.len, msg->updates[i].id.data,
                    gossip_state_str(msg->updates[i].state), msg->updates[i].incarnation);
        fprintf(stderr, "\n");
    }
    sim_send(c->sim, n->idx, to_addr, c->enc.data, c->enc.len);
}

static void set_view(struct sg_cluster *c, uint32_t obs, uint32_t target, uint8_t state)
{
    uint8_t *v = &c->view[(size_t)obs * c->cfg.n_nodes + target];
    if (*v != SG_UNKNOWN)
        c->counts[(size_t)target * SG_STATES + *v]--;
    *v = state;
    if (state != SG_UNKNOWN)
        c->counts[(size_t)target * SG_STATES + state]++;
}

static const char *const kind_names[] = { "?",    "joined", "alive",     "suspect", "dead",
                                          "leaving", "left", "ring-seen", "ring" };

static void on_event(void *ctx, const struct membership_event *ev)
{
    struct sg_node *n = ctx;
    struct sg_cluster *c = n->c;
    uint32_t target;
    if (c->trace)
        fprintf(stderr, "%8" PRIu64 " %s: %s %s inc=%" PRIu64 " ring=%" PRIu64 "\n", sim_now(c->sim), n->id,
                kind_names[ev->kind], ev->id, ev->incarnation, ev->ring_version);
    fold(c, sim_now(c->sim) << 8 | (uint64_t)ev->kind, kv_hash64(ev->id, strlen(ev->id), ev->incarnation));
    if (ev->kind == MEMBERSHIP_EV_RING || ev->kind == MEMBERSHIP_EV_RING_SEEN)
        return;
    if (sim_find_addr(c->sim, ev->addr, &target) != KV_OK || target == n->idx)
        return;
    set_view(c, n->idx, target, (uint8_t)ev->state);
    bool target_running = c->nodes[target].m != NULL;
    if (ev->kind == MEMBERSHIP_EV_DEAD && target_running)
        c->stats.false_deaths++;
    if (ev->kind == MEMBERSHIP_EV_SUSPECT) {
        c->stats.suspicions++;
        if (target_running && !sim_node_paused(c->sim, target))
            c->stats.false_suspicions++;
    }
}

static void node_stop(struct sg_node *n)
{
    struct sg_cluster *c = n->c;
    if (!n->m)
        return;
    for (uint32_t t = 0; t < c->cfg.n_nodes; t++)
        set_view(c, n->idx, t, SG_UNKNOWN);
    membership_free(n->m);
    n->m = NULL;
    c->running--;
}

static void on_message(void *ctx, struct sim *s, uint32_t node, uint32_t from, const void *data, size_t len)
{
    struct sg_node *n = ctx;
    if (!n->m)
        return;
    struct gossip_msg msg;
    if (gossip_msg_decode(data, len, &msg) != KV_OK) {
        n->c->stats.decode_errors++;
        return;
    }
    if (membership_handle_message(n->m, sim_node_addr(s, from), &msg, sim_now(s)) != KV_OK)
        n->c->stats.rejected++;
    gossip_msg_clear(&msg);
    rearm(n);
}

static void on_timer(void *ctx, struct sim *s, uint32_t node)
{
    struct sg_node *n = ctx;
    if (!n->m)
        return;
    membership_tick(n->m, sim_now(s));
    rearm(n);
}

static void on_crash(void *ctx, struct sim *s, uint32_t node) { node_stop(ctx); }

static void on_restart(void *ctx, struct sim *s, uint32_t node)
{
    struct sg_node *n = ctx;
    sg_start(n->c, n->idx);
}

static const struct sim_node_ops sg_ops = { on_message, on_timer, on_crash, on_restart };

int sg_create(struct sim *sim, const struct sg_config *cfg, struct sg_cluster **out)
{
    if (cfg->n_nodes == 0 || cfg->n_nodes > SIM_NODES_MAX || cfg->n_seeds == 0 || cfg->n_seeds > MEMBERSHIP_SEEDS_MAX ||
        cfg->n_seeds > cfg->n_nodes)
        return KV_EINVAL;
    struct sg_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return KV_ENOMEM;
    c->sim = sim;
    c->cfg = *cfg;
    c->trace = getenv("RINGKV_SIM_TRACE") ? atoi(getenv("RINGKV_SIM_TRACE")) : 0;
    size_t n = cfg->n_nodes;
    c->nodes = calloc(n, sizeof *c->nodes);
    c->view = malloc(n * n);
    c->counts = calloc(n * SG_STATES, sizeof *c->counts);
    int rc = KV_ENOMEM;
    if (!c->nodes || !c->view || !c->counts)
        goto fail;
    memset(c->view, SG_UNKNOWN, n * n);
    for (uint32_t i = 0; i < cfg->n_nodes; i++) {
        struct sg_node *nd = &c->nodes[i];
        nd->c = c;
        nd->idx = i;
        snprintf(nd->id, sizeof nd->id, "n%04u", i);
        snprintf(nd->addr, sizeof nd->addr, "10.%u.%u.1:7946", i / 250, i % 250);
        if (cfg->n_zones)
            snprintf(nd->zone, sizeof nd->zone, "z%u", i % cfg->n_zones);
        uint32_t sim_idx;
        rc = sim_add_node(sim, nd->addr, &sg_ops, nd, &sim_idx);
        if (rc != KV_OK || sim_idx != i) {
            rc = rc != KV_OK ? rc : KV_EINVAL; /* the sim must be empty: node i is sim node i */
            goto fail;
        }
    }
    for (uint32_t i = 0; i < cfg->n_seeds; i++)
        c->seeds[i] = c->nodes[i].addr;
    *out = c;
    return KV_OK;
fail:
    sg_free(c);
    return rc;
}

void sg_free(struct sg_cluster *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; c->nodes && i < c->cfg.n_nodes; i++)
        membership_free(c->nodes[i].m);
    free(c->nodes);
    free(c->view);
    free(c->counts);
    kv_buf_free(&c->enc);
    free(c);
}

void sg_start(struct sg_cluster *c, uint32_t node)
{
    struct sg_node *n = &c->nodes[node];
    if (n->m || !sim_node_up(c->sim, node))
        return;
    struct membership_config mc = c->cfg.member;
    mc.id = n->id;
    mc.addr = n->addr;
    mc.zone = n->zone;
    struct membership_net_ops net = { net_send, n };
    struct membership_event_ops ev = { on_event, n };
    struct kv_rand r;
    kv_rand_seed(&r, sim_node_seed(c->sim, node));
    uint64_t now = sim_now(c->sim);
    if (membership_create(&mc, &net, &ev, &r, now, &n->m) != KV_OK)
        return;
    c->running++;
    if (membership_join(n->m, c->seeds, c->cfg.n_seeds, now) != KV_OK)
        c->stats.rejected++;
    rearm(n);
}

static void start_cb(void *ctx, struct sim *s)
{
    struct sg_node *n = ctx;
    sg_start(n->c, n->idx);
}

void sg_start_all(struct sg_cluster *c, uint32_t spread_ms) { sg_start_range(c, 0, c->cfg.n_nodes, spread_ms); }

void sg_start_range(struct sg_cluster *c, uint32_t first, uint32_t count, uint32_t spread_ms)
{
    uint64_t now = sim_now(c->sim);
    for (uint32_t i = first; i < first + count && i < c->cfg.n_nodes; i++) {
        uint64_t at = now + (spread_ms ? kv_rand_below(sim_rand(c->sim), spread_ms) : 0);
        if (sim_at(c->sim, at, start_cb, &c->nodes[i]) != KV_OK)
            c->stats.rejected++;
    }
}

struct membership *sg_membership(struct sg_cluster *c, uint32_t node) { return c->nodes[node].m; }
bool sg_running(const struct sg_cluster *c, uint32_t node) { return c->nodes[node].m != NULL; }
uint32_t sg_running_count(const struct sg_cluster *c) { return c->running; }

uint32_t sg_count_seeing(const struct sg_cluster *c, uint32_t target, enum gossip_state state)
{
    return c->counts[(size_t)target * SG_STATES + state];
}

bool sg_all_see(const struct sg_cluster *c, uint32_t target, enum gossip_state state)
{
    uint32_t observers = c->running - (sg_running(c, target) ? 1u : 0u);
    return sg_count_seeing(c, target, state) == observers;
}

bool sg_converged(const struct sg_cluster *c)
{
    for (uint32_t t = 0; t < c->cfg.n_nodes; t++)
        if (sg_running(c, t) && !sg_all_see(c, t, GOSSIP_ALIVE))
            return false;
    return true;
}

bool sg_all_have_ring(const struct sg_cluster *c, uint64_t v)
{
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        const struct membership *m = c->nodes[i].m;
        if (m && (!membership_ring(m) || ring_version(membership_ring(m)) < v))
            return false;
    }
    return true;
}

void sg_get_stats(const struct sg_cluster *c, struct sg_stats *out)
{
    *out = c->stats;
    out->refutations = 0;
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        if (!c->nodes[i].m)
            continue;
        struct membership_stats ms;
        membership_get_stats(c->nodes[i].m, &ms);
        out->refutations += ms.refutations;
    }
}
