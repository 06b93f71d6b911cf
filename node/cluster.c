/*
 * cluster.c - see cluster.h. Lifecycle, membership events, the ring and
 * peers files, ticks and getters; staged changes and the claimant are in
 * cluster_plan.c.
 *
 * Membership events arrive inside membership calls, which must not be
 * re-entered: the handler only logs, counts and sets flags (ring to save,
 * peers changed, membership not settled yet); the work happens after the
 * membership call returns (nc_after) or in the next tick.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/cluster_internal.h"
#include "node/state_file.h"

#define NC_PEERS_LINE_BYTES_MAX (GOSSIP_ID_BYTES_MAX + 1 + GOSSIP_ADDR_BYTES_MAX + 1)

int nc_fail(struct kv_buf *why, int status, const char *fmt, ...)
{
    if (!why)
        return status;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    kv_buf_reset(why);
    if (kv_buf_append(why, line, strlen(line)) != KV_OK)
        kv_buf_reset(why);
    return status;
}

static uint64_t my_ring_version(const struct node_cluster *c)
{
    const struct ring *r = membership_ring(c->m);
    return r ? ring_version(r) : 0;
}

bool nc_newer_ring_around(const struct node_cluster *c)
{
    uint64_t mine = my_ring_version(c);
    for (size_t i = 1; i < membership_member_count(c->m); i++) {
        struct membership_member mm;
        membership_member_at(c->m, i, &mm);
        bool live = mm.state == GOSSIP_ALIVE || mm.state == GOSSIP_SUSPECT || mm.state == GOSSIP_LEAVING;
        if (live && mm.ring_version > mine)
            return true;
    }
    return false;
}

/* ---- events ---- */

static void on_event(void *ctx, const struct membership_event *ev)
{
    struct node_cluster *c = ctx;
    switch (ev->kind) {
    case MEMBERSHIP_EV_JOINED:
        log_info("cluster", "member joined id=%s addr=%s zone=%s state=%s", ev->id, ev->addr,
                 ev->zone[0] ? ev->zone : "-", gossip_state_str(ev->state));
        c->last_change_ms = c->now_ms;
        c->peers_dirty = true;
        break;
    case MEMBERSHIP_EV_ALIVE:
        if (ev->prev_state == GOSSIP_SUSPECT)
            c->stats.false_suspicions++;
        log_info("cluster", "member alive id=%s addr=%s was=%s incarnation=%llu", ev->id, ev->addr,
                 gossip_state_str(ev->prev_state), (unsigned long long)ev->incarnation);
        c->last_change_ms = c->now_ms;
        c->peers_dirty = true;
        break;
    case MEMBERSHIP_EV_SUSPECT:
        c->stats.suspect_events++;
        log_info("cluster", "member suspect id=%s addr=%s incarnation=%llu", ev->id, ev->addr,
                 (unsigned long long)ev->incarnation);
        break;
    case MEMBERSHIP_EV_DEAD:
        c->stats.dead_events++;
        log_warn("cluster", "member dead id=%s addr=%s was=%s", ev->id, ev->addr,
                 gossip_state_str(ev->prev_state));
        break;
    case MEMBERSHIP_EV_LEAVING:
    case MEMBERSHIP_EV_LEFT:
        log_info("cluster", "member %s id=%s addr=%s", gossip_state_str(ev->state), ev->id, ev->addr);
        c->peers_dirty = true;
        break;
    case MEMBERSHIP_EV_RING:
        log_info("cluster", "ring installed version=%llu from=%s", (unsigned long long)ev->ring_version,
                 ev->id);
        c->ring_dirty = true;
        break;
    case MEMBERSHIP_EV_RING_SEEN:
        break;
    }
}

static void on_send(void *ctx, const char *to, const struct gossip_msg *msg)
{
    struct node_cluster *c = ctx;
    c->net.send(c->net.ctx, to, msg);
}

/* ---- the ring file ---- */

static void warn_ring_shape(struct node_cluster *c, const struct ring *r)
{
    if (c->q_warned || (ring_partitions(r) == c->partitions && ring_n_val(r) == c->n_val))
        return;
    c->q_warned = true;
    log_warn("cluster",
             "the cluster's ring differs from this node's flags; the ring wins partitions=%u "
             "n_val=%u flag_partitions=%u flag_n_replicas=%u",
             ring_partitions(r), ring_n_val(r), c->partitions, c->n_val);
}

static int save_ring(struct node_cluster *c, const struct ring *r)
{
    if (!c->state_dir[0])
        return KV_OK;
    struct kv_buf b = { 0 };
    int rc = ring_encode(r, &b);
    if (rc == KV_OK)
        rc = state_file_write(c->state_dir, NODE_CLUSTER_RING_FILE, b.data, b.len);
    kv_buf_free(&b);
    if (rc != KV_OK) {
        c->stats.save_errors++;
        return rc;
    }
    c->stats.rings_saved++;
    c->ring_saved_version = ring_version(r);
    return KV_OK;
}

int nc_install(struct node_cluster *c, const struct ring *r, uint64_t now_ms)
{
    int rc = save_ring(c, r);
    if (rc == KV_OK)
        rc = membership_set_ring(c->m, r, now_ms);
    if (rc == KV_OK)
        c->ring_saved_version = ring_version(r);
    return rc;
}

int node_cluster_transfer_done(struct node_cluster *c, uint32_t partition, const char *to, uint64_t now_ms)
{
    const struct ring *cur = membership_ring(c->m);
    uint32_t member;
    if (!cur || partition >= ring_partitions(cur) || ring_member_find(cur, to, &member) != KV_OK ||
        ring_pending(cur, partition) != member)
        return KV_ESTATE;
    struct ring *next = NULL;
    int rc = ring_clone(cur, &next);
    if (rc == KV_OK)
        rc = ring_transfer_done(next, partition);
    if (rc == KV_OK)
        rc = nc_install(c, next, now_ms);
    if (rc == KV_OK)
        log_info("cluster", "ring installed version=%llu: transfer of partition %u to %s done",
                 (unsigned long long)ring_version(next), partition, to);
    ring_free(next);
    return rc;
}

/* A ring that arrived by gossip: saved after the call that brought it. */
static void save_ring_if_new(struct node_cluster *c)
{
    const struct ring *r = membership_ring(c->m);
    c->ring_dirty = false;
    if (!r || ring_version(r) == c->ring_saved_version)
        return;
    warn_ring_shape(c, r);
    if (save_ring(c, r) != KV_OK)
        c->ring_dirty = true; /* retried on the next tick */
}

static void load_ring(struct node_cluster *c, uint64_t now_ms)
{
    struct kv_buf b = { 0 };
    struct ring *r = NULL;
    int rc = state_file_read(c->state_dir, NODE_CLUSTER_RING_FILE, &b);
    if (rc == KV_OK && (rc = ring_decode(b.data, b.len, &r)) != KV_OK)
        log_warn("cluster", "ring file unreadable; waiting for the ring from peers dir=%s status=\"%s\"",
                 c->state_dir, kv_status_str(rc));
    if (r && membership_set_ring(c->m, r, now_ms) == KV_OK) {
        c->ring_saved_version = ring_version(r);
        warn_ring_shape(c, r);
        log_info("cluster", "ring loaded version=%llu members=%u partitions=%u",
                 (unsigned long long)ring_version(r), ring_member_count(r), ring_partitions(r));
    }
    ring_free(r);
    kv_buf_free(&b);
}

/* ---- seeds and the peers file ---- */

static int add_seed(struct node_cluster *c, const char *addr, size_t len)
{
    if (len == 0 || len > GOSSIP_ADDR_BYTES_MAX || c->n_seeds == NODE_CLUSTER_SEEDS_MAX)
        return KV_OK;
    if (strlen(c->advertise) == len && memcmp(addr, c->advertise, len) == 0)
        return KV_OK;
    for (size_t i = 0; i < c->n_seeds; i++)
        if (strlen(c->seeds[i]) == len && memcmp(c->seeds[i], addr, len) == 0)
            return KV_OK;
    char *s = strndup(addr, len);
    if (!s)
        return KV_ENOMEM;
    c->seeds[c->n_seeds++] = s;
    return KV_OK;
}

/* "ID ADDR" lines; anything malformed is skipped (the file is only a hint). */
static int load_peers(struct node_cluster *c)
{
    struct kv_buf b = { 0 };
    int rc = state_file_read(c->state_dir, NODE_CLUSTER_PEERS_FILE, &b);
    if (rc != KV_OK) {
        kv_buf_free(&b);
        return rc == KV_ENOMEM ? rc : KV_OK;
    }
    for (char *line = b.data, *next; rc == KV_OK && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *sp = strchr(line, ' ');
        if (sp && sp != line && strcmp(line, c->id) != 0)
            rc = add_seed(c, sp + 1, strlen(sp + 1));
    }
    kv_buf_free(&b);
    return rc;
}

static void peers_line(struct kv_buf *b, const struct membership_member *mm, int *rc)
{
    if (*rc == KV_OK)
        *rc = kv_buf_appendf(b, "%s %s\n", mm->id, mm->addr);
}

static void save_peers(struct node_cluster *c, uint64_t now_ms)
{
    if (!c->state_dir[0] || !c->peers_dirty || now_ms < c->next_peers_write_ms)
        return;
    struct kv_buf b = { 0 };
    int rc = KV_OK;
    size_t n = 0, count = membership_member_count(c->m);
    /* Alive members first: they are the ones likely to answer after a restart. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 1; i < count && n < NODE_CLUSTER_PEERS_SAVED_MAX; i++) {
            struct membership_member mm;
            membership_member_at(c->m, i, &mm);
            bool alive = mm.state == GOSSIP_ALIVE || mm.state == GOSSIP_LEAVING;
            if (mm.state == GOSSIP_LEFT || alive != (pass == 0))
                continue;
            peers_line(&b, &mm, &rc);
            n++;
        }
    }
    if (rc == KV_OK)
        rc = state_file_write(c->state_dir, NODE_CLUSTER_PEERS_FILE, b.data ? b.data : "", b.len);
    kv_buf_free(&b);
    if (rc != KV_OK)
        c->stats.save_errors++;
    c->peers_dirty = rc != KV_OK;
    c->next_peers_write_ms = now_ms + NODE_CLUSTER_PEERS_WRITE_MS;
}

/* ---- lifecycle ---- */

int nc_membership_reset(struct node_cluster *c, uint64_t now_ms)
{
    struct membership_net_ops net = { on_send, c };
    struct membership_event_ops ev = { on_event, c };
    struct membership *m = NULL;
    int rc = membership_create(&c->mcfg, &net, &ev, &c->rand, now_ms, &m);
    if (rc != KV_OK)
        return rc;
    membership_free(c->m);
    c->m = m;
    /* The copies of the config strings now live in m; ours stay valid too. */
    c->ring_saved_version = 0;
    c->joined = false;
    return KV_OK;
}

static int copy_config(struct node_cluster *c, const struct node_cluster_config *cfg)
{
    if (!cfg->node_id || !cfg->cluster_name || !cfg->advertise || !cfg->node_id[0] ||
        strlen(cfg->node_id) > GOSSIP_ID_BYTES_MAX || strlen(cfg->cluster_name) > GOSSIP_CLUSTER_BYTES_MAX ||
        !cfg->advertise[0] || strlen(cfg->advertise) > GOSSIP_ADDR_BYTES_MAX ||
        (cfg->zone && strlen(cfg->zone) > GOSSIP_ZONE_BYTES_MAX) ||
        (cfg->state_dir && strlen(cfg->state_dir) >= NC_STATE_DIR_BYTES_MAX) ||
        cfg->partitions == 0 || cfg->partitions > RING_PARTITIONS_MAX ||
        (cfg->partitions & (cfg->partitions - 1)) != 0 || cfg->n_val == 0 || cfg->n_val > RING_N_VAL_MAX)
        return KV_EINVAL;
    strcpy(c->id, cfg->node_id);
    strcpy(c->cluster_name, cfg->cluster_name);
    strcpy(c->advertise, cfg->advertise);
    strcpy(c->zone, cfg->zone ? cfg->zone : "");
    strcpy(c->state_dir, cfg->state_dir ? cfg->state_dir : "");
    c->partitions = cfg->partitions;
    c->n_val = cfg->n_val;
    c->auto_join = cfg->auto_join;
    c->settle_ms = cfg->settle_ms ? cfg->settle_ms : NODE_CLUSTER_SETTLE_MS_DEFAULT;
    if (cfg->membership)
        c->mcfg = *cfg->membership;
    else
        membership_config_defaults(&c->mcfg);
    c->mcfg.cluster_name = c->cluster_name;
    c->mcfg.id = c->id;
    c->mcfg.addr = c->advertise;
    c->mcfg.zone = c->zone;
    for (size_t i = 0; i < cfg->n_seeds; i++) {
        int rc = add_seed(c, cfg->seeds[i], strlen(cfg->seeds[i]));
        if (rc != KV_OK)
            return rc;
    }
    c->n_config_seeds = c->n_seeds;
    return KV_OK;
}

/* Joins gossip at start when auto-join is on or the ring names this node;
 * a node whose committed leave is still in progress stays leaving. */
static int start_gossip(struct node_cluster *c, uint64_t now_ms)
{
    const struct ring *r = membership_ring(c->m);
    uint32_t self = RING_NO_MEMBER;
    bool in_ring = r && ring_member_find(r, c->id, &self) == KV_OK;
    if (in_ring && !ring_member_in_set(r, self) && ring_owned_count(r, self) > 0)
        membership_set_leaving(c->m, now_ms);
    if (!c->auto_join && !in_ring) {
        log_info("cluster", "auto-join is off: waiting for kvctl join seeds=%zu", c->n_config_seeds);
        return KV_OK;
    }
    c->joined = true;
    return membership_join(c->m, (const char *const *)c->seeds, c->n_seeds, now_ms);
}

int node_cluster_new(const struct node_cluster_config *cfg, const struct node_cluster_net *net,
                     uint64_t now_ms, struct node_cluster **out)
{
    struct node_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return KV_ENOMEM;
    int rc = net && net->send ? copy_config(c, cfg) : KV_EINVAL;
    if (rc != KV_OK) {
        log_error("cluster", "invalid cluster config node_id=%s advertise=%s", cfg->node_id ? cfg->node_id : "",
                  cfg->advertise ? cfg->advertise : "");
        goto fail;
    }
    c->net = *net;
    c->now_ms = now_ms;
    kv_rand_seed(&c->rand, cfg->rand_seed);
    if ((rc = nc_membership_reset(c, now_ms)) != KV_OK)
        goto fail;
    if (c->state_dir[0]) {
        load_ring(c, now_ms);
        if ((rc = load_peers(c)) != KV_OK)
            goto fail;
    }
    if ((rc = start_gossip(c, now_ms)) != KV_OK)
        goto fail;
    c->last_change_ms = now_ms;
    c->next_claim_ms = now_ms;
    *out = c;
    return KV_OK;
fail:
    node_cluster_free(c);
    return rc;
}

void node_cluster_free(struct node_cluster *c)
{
    if (!c)
        return;
    membership_free(c->m);
    for (size_t i = 0; i < c->n_seeds; i++)
        free(c->seeds[i]);
    free(c);
}

/* ---- driving ---- */

static void nc_after(struct node_cluster *c, uint64_t now_ms)
{
    if (c->ring_dirty)
        save_ring_if_new(c);
}

int node_cluster_handle_message(struct node_cluster *c, const char *from, const struct gossip_msg *msg,
                                uint64_t now_ms)
{
    c->now_ms = now_ms;
    int rc = membership_handle_message(c->m, from, msg, now_ms);
    nc_after(c, now_ms);
    return rc;
}

void node_cluster_tick(struct node_cluster *c, uint64_t now_ms)
{
    c->now_ms = now_ms;
    membership_tick(c->m, now_ms);
    nc_after(c, now_ms);
    save_peers(c, now_ms);
    nc_claim_tick(c, now_ms);
}

uint64_t node_cluster_next_tick_ms(const struct node_cluster *c)
{
    uint64_t t = membership_next_tick_ms(c->m);
    if (c->auto_join && c->next_claim_ms < t)
        t = c->next_claim_ms;
    if (c->peers_dirty && c->state_dir[0] && c->next_peers_write_ms < t)
        t = c->next_peers_write_ms;
    return t;
}

/* ---- getters ---- */

const struct membership *node_cluster_membership(const struct node_cluster *c) { return c->m; }
const struct ring *node_cluster_ring(const struct node_cluster *c) { return membership_ring(c->m); }
const char *node_cluster_node_id(const struct node_cluster *c) { return c->id; }

bool node_cluster_is_up(const struct node_cluster *c, const char *id)
{
    struct membership_member mm;
    if (membership_member_find(c->m, id, &mm) != KV_OK)
        return false;
    return mm.state == GOSSIP_ALIVE || mm.state == GOSSIP_SUSPECT || mm.state == GOSSIP_LEAVING;
}

void node_cluster_get_stats(const struct node_cluster *c, struct node_cluster_stats *out)
{
    *out = c->stats;
    memset(out->members, 0, sizeof out->members);
    for (size_t i = 0; i < membership_member_count(c->m); i++) {
        struct membership_member mm;
        membership_member_at(c->m, i, &mm);
        if ((unsigned)mm.state <= GOSSIP_STATE_MAX)
            out->members[mm.state]++;
    }
}

size_t node_cluster_staged_count(const struct node_cluster *c) { return c->n_staged; }

const struct node_cluster_staged *node_cluster_staged_at(const struct node_cluster *c, size_t i)
{
    return &c->staged[i];
}

void node_cluster_clear(struct node_cluster *c) { c->n_staged = 0; }
