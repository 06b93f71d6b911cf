/*
 * membership.c - the member table, the update precedence rules, events,
 * message dispatch and the tick driver. Probing lives in probe.c, full
 * state exchange and the ring in pushpull.c.
 *
 * Why the defaults (membership_config_defaults):
 *  - probe every 500 ms with a 200 ms ack timeout: loopback and LAN round
 *    trips are far below 200 ms, and 500 ms lets a 5-node cluster declare
 *    a killed node dead in ~3 s (suspicion minimum 4 * 1 * 0.5 s = 2 s);
 *  - suspicion 4x / 6x: at 1,000 members the minimum is 4 * 3 * 0.5 = 6 s,
 *    the maximum (a lone suspecter) 36 s, long enough for any refutation;
 *  - gossip to 3 members every 200 ms while updates are queued: a
 *    broadcast reaches 1,000 members in ~log4(1000) = 5 rounds (~1 s)
 *    instead of waiting for probes, and costs nothing when idle;
 *  - retransmit 4 * max(3, ceil(log10(n + 1))): 12 sends per update up to
 *    999 members, 16 at 1,000 (timing.h says why the floor);
 *  - push-pull every 30 s, scaled to 180 s at 1,000 members, and every
 *    2 s while answers keep bringing members we did not know (start-up).
 */
#include "gossip/membership.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "gossip/membership_internal.h"
#include "gossip/timing.h"

#define MB_HASH_SEED 0x6d656d62u /* "memb" */

void membership_config_defaults(struct membership_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cluster_name = "ringkv";
    cfg->probe_interval_ms = 500;
    cfg->probe_timeout_ms = 200;
    cfg->indirect_checks = 3;
    cfg->suspicion_mult = 4;
    cfg->suspicion_max_mult = 6;
    cfg->retransmit_mult = 4;
    cfg->gossip_interval_ms = 200;
    cfg->gossip_fanout = 3;
    cfg->gossip_to_dead_ms = 30000;
    cfg->push_pull_interval_ms = 30000;
    cfg->push_pull_fast_ms = 2000;
    cfg->reconnect_interval_ms = 10000;
    cfg->join_retry_ms = 1000;
    cfg->ring_fetch_retry_ms = 1000;
    cfg->stall_ms = 500;
    cfg->awareness_max = 8;
    cfg->packet_bytes_max = 1400;
    cfg->members_max = MEMBERSHIP_MEMBERS_MAX;
}

static bool str_ok(const char *s, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n >= min && n <= max;
}

static bool config_valid(const struct membership_config *c)
{
    return str_ok(c->cluster_name, 0, GOSSIP_CLUSTER_BYTES_MAX) && str_ok(c->id, 1, GOSSIP_ID_BYTES_MAX) &&
           str_ok(c->addr, 1, GOSSIP_ADDR_BYTES_MAX) && str_ok(c->zone, 0, GOSSIP_ZONE_BYTES_MAX) &&
           c->probe_interval_ms > 0 && c->probe_timeout_ms > 0 && c->probe_timeout_ms < c->probe_interval_ms &&
           c->indirect_checks <= MEMBERSHIP_INDIRECT_CHECKS_MAX && c->suspicion_mult > 0 &&
           c->suspicion_max_mult >= 1 && c->retransmit_mult > 0 && c->gossip_interval_ms > 0 &&
           c->gossip_fanout <= MEMBERSHIP_GOSSIP_FANOUT_MAX && c->push_pull_interval_ms > 0 &&
           c->push_pull_fast_ms > 0 && c->reconnect_interval_ms > 0 && c->join_retry_ms > 0 &&
           c->ring_fetch_retry_ms > 0 && c->stall_ms > 0 && c->packet_bytes_max >= 256 &&
           c->members_max >= 1 && c->members_max <= MEMBERSHIP_MEMBERS_MAX;
}

bool mb_is_live(enum gossip_state s)
{
    return s == GOSSIP_ALIVE || s == GOSSIP_SUSPECT || s == GOSSIP_LEAVING;
}

/* ---- the member table ---------------------------------------------------- */

static uint64_t id_hash(struct kv_slice id) { return kv_hash64(id.data, id.len, MB_HASH_SEED); }

uint32_t mb_find(const struct membership *m, struct kv_slice id)
{
    uint32_t mask = m->index_cap - 1;
    for (uint32_t s = (uint32_t)id_hash(id) & mask;; s = (s + 1) & mask) {
        uint32_t idx = m->index[s];
        if (idx == MB_NONE)
            return MB_NONE;
        const char *mid = member_id(&m->members[idx]);
        if (strlen(mid) == id.len && memcmp(mid, id.data, id.len) == 0)
            return idx;
    }
}

static void index_insert(uint32_t *index, uint32_t cap, uint64_t h, uint32_t idx)
{
    uint32_t s = (uint32_t)h & (cap - 1);
    while (index[s] != MB_NONE)
        s = (s + 1) & (cap - 1);
    index[s] = idx;
}

/* Room for one more member in every per-member array (load factor <= 1/2). */
static int table_grow(struct membership *m)
{
    if (m->n_members + 1 > m->cap_members) {
        uint32_t cap = m->cap_members ? m->cap_members * 2 : 16;
        struct member *mem = realloc(m->members, cap * sizeof *mem);
        if (!mem)
            return KV_ENOMEM;
        m->members = mem;
        uint32_t *po = realloc(m->probe_order, cap * sizeof *po);
        if (!po)
            return KV_ENOMEM;
        m->probe_order = po;
        uint32_t *su = realloc(m->suspects, cap * sizeof *su);
        if (!su)
            return KV_ENOMEM;
        m->suspects = su;
        if (broadcast_queue_reserve(&m->bq, cap) != KV_OK)
            return KV_ENOMEM;
        m->cap_members = cap;
    }
    if ((m->n_members + 1) * 2 > m->index_cap) {
        uint32_t cap = m->index_cap ? m->index_cap * 2 : 32;
        uint32_t *index = malloc(cap * sizeof *index);
        if (!index)
            return KV_ENOMEM;
        memset(index, 0xff, cap * sizeof *index);
        for (uint32_t i = 0; i < m->n_members; i++)
            index_insert(index, cap, id_hash(kv_slice_str(member_id(&m->members[i]))), i);
        free(m->index);
        m->index = index;
        m->index_cap = cap;
    }
    return KV_OK;
}

static char *member_strs(struct kv_slice id, struct kv_slice addr, struct kv_slice zone, uint16_t *addr_off,
                         uint16_t *zone_off)
{
    char *s = malloc(id.len + addr.len + zone.len + 3);
    if (!s)
        return NULL;
    memcpy(s, id.data, id.len);
    s[id.len] = 0;
    *addr_off = (uint16_t)(id.len + 1);
    if (addr.len)
        memcpy(s + *addr_off, addr.data, addr.len);
    s[*addr_off + addr.len] = 0;
    *zone_off = (uint16_t)(*addr_off + addr.len + 1);
    if (zone.len)
        memcpy(s + *zone_off, zone.data, zone.len);
    s[*zone_off + zone.len] = 0;
    return s;
}

static uint32_t member_add(struct membership *m, const struct gossip_update *u, uint64_t now_ms)
{
    if (m->n_members >= m->cfg.members_max) {
        m->stats.dropped_full++;
        return MB_NONE;
    }
    if (table_grow(m) != KV_OK)
        return MB_NONE;
    struct member *mb = &m->members[m->n_members];
    memset(mb, 0, sizeof *mb);
    mb->strs = member_strs(u->id, u->addr, u->zone, &mb->addr_off, &mb->zone_off);
    if (!mb->strs)
        return MB_NONE;
    mb->state = u->state;
    mb->incarnation = u->incarnation;
    mb->ring_version = u->ring_version;
    mb->state_change_ms = now_ms;
    mb->from = MB_NONE;
    uint32_t idx = m->n_members++;
    index_insert(m->index, m->index_cap, id_hash(u->id), idx);
    if (mb_is_live(mb->state))
        m->n_live++;
    if (idx != MB_SELF)
        mb_probe_list_add(m, idx);
    return idx;
}

/* Replaces address and zone if they changed (a node restarted elsewhere). */
static void member_relocate(struct member *mb, const struct gossip_update *u)
{
    struct kv_slice addr = kv_slice_str(member_addr(mb)), zone = kv_slice_str(member_zone(mb));
    if ((u->addr.len == 0 || kv_slice_eq(addr, u->addr)) && kv_slice_eq(zone, u->zone))
        return;
    uint16_t ao, zo;
    char *s = member_strs(kv_slice_str(member_id(mb)), u->addr.len ? u->addr : addr, u->zone, &ao, &zo);
    if (!s)
        return; /* keep the old strings: stale but consistent */
    free(mb->strs);
    mb->strs = s;
    mb->addr_off = ao;
    mb->zone_off = zo;
}

void mb_set_state(struct membership *m, uint32_t idx, enum gossip_state state, uint64_t now_ms)
{
    struct member *mb = &m->members[idx];
    if (mb->state == state)
        return;
    if (mb->state == GOSSIP_SUSPECT)
        mb_suspicion_end(m, idx);
    m->n_live += (uint32_t)mb_is_live(state) - (uint32_t)mb_is_live(mb->state);
    mb->state = state;
    mb->state_change_ms = now_ms;
}

void mb_declare_dead(struct membership *m, uint32_t idx, uint64_t now_ms)
{
    struct member *mb = &m->members[idx];
    enum gossip_state prev = mb->state;
    mb->from = MB_SELF;
    mb_set_state(m, idx, GOSSIP_DEAD, now_ms);
    m->stats.deaths_declared++;
    broadcast_queue_push(&m->bq, idx);
    mb_emit(m, MEMBERSHIP_EV_DEAD, idx, prev);
}

void mb_emit(struct membership *m, enum membership_event_kind kind, uint32_t idx, enum gossip_state prev)
{
    if (!m->events.on_event)
        return;
    const struct member *mb = &m->members[idx];
    struct membership_event ev = {
        .kind = kind,
        .id = member_id(mb),
        .addr = member_addr(mb),
        .zone = member_zone(mb),
        .state = mb->state,
        .prev_state = prev,
        .incarnation = mb->incarnation,
        .ring_version = mb->ring_version,
        .ring = kind == MEMBERSHIP_EV_RING ? m->ring : NULL,
    };
    m->events.on_event(m->events.ctx, &ev);
}

static enum membership_event_kind event_for(enum gossip_state s)
{
    switch (s) {
    case GOSSIP_ALIVE: return MEMBERSHIP_EV_ALIVE;
    case GOSSIP_SUSPECT: return MEMBERSHIP_EV_SUSPECT;
    case GOSSIP_DEAD: return MEMBERSHIP_EV_DEAD;
    case GOSSIP_LEAVING: return MEMBERSHIP_EV_LEAVING;
    case GOSSIP_LEFT: return MEMBERSHIP_EV_LEFT;
    }
    return MEMBERSHIP_EV_ALIVE;
}

/* ---- update rules (precedence in membership.h) ------------------------------ */

void mb_refute(struct membership *m, uint64_t incarnation)
{
    struct member *self = &m->members[MB_SELF];
    if (incarnation >= self->incarnation)
        self->incarnation = incarnation + 1;
    else
        self->incarnation++;
    m->stats.refutations++;
    mb_awareness(m, 1);
    broadcast_queue_push(&m->bq, MB_SELF);
}

static void apply_live(struct membership *m, const struct gossip_update *u, bool rebroadcast_new, uint64_t now_ms)
{
    uint32_t idx = mb_find(m, u->id);
    if (idx == MB_NONE) {
        if (u->addr.len == 0 || (idx = member_add(m, u, now_ms)) == MB_NONE)
            return;
        if (rebroadcast_new)
            broadcast_queue_push(&m->bq, idx);
        mb_emit(m, MEMBERSHIP_EV_JOINED, idx, u->state);
        mb_ring_seen(m, idx, now_ms);
        return;
    }
    struct member *mb = &m->members[idx];
    if (idx == MB_SELF) {
        /* A record from a previous life of this node: outbid it. */
        if (u->incarnation > mb->incarnation && mb->state != GOSSIP_LEFT)
            mb_refute(m, u->incarnation);
        return;
    }
    if (u->incarnation <= mb->incarnation)
        return;
    enum gossip_state prev = mb->state;
    uint64_t prev_ring = mb->ring_version;
    member_relocate(mb, u);
    mb->incarnation = u->incarnation;
    mb->ring_version = u->ring_version;
    mb_set_state(m, idx, u->state, now_ms);
    broadcast_queue_push(&m->bq, idx);
    if (prev != mb->state)
        mb_emit(m, event_for(mb->state), idx, prev);
    if (mb->ring_version > prev_ring)
        mb_ring_seen(m, idx, now_ms);
}

void mb_apply_suspect(struct membership *m, uint32_t idx, uint64_t incarnation, struct kv_slice from, uint64_t now_ms)
{
    struct member *mb = &m->members[idx];
    if (incarnation < mb->incarnation)
        return;
    if (idx == MB_SELF) {
        if (mb->state != GOSSIP_LEFT)
            mb_refute(m, incarnation);
        return;
    }
    uint64_t from_hash = from.len ? id_hash(from) : 0;
    uint32_t from_idx = from.len ? mb_find(m, from) : MB_NONE;
    if (mb->state == GOSSIP_SUSPECT) {
        /* Suspected again after a refutation we missed: same timer, newer incarnation. */
        mb->incarnation = incarnation;
        if (mb_suspicion_confirm(m, idx, from_hash)) {
            mb->from = from_idx;
            broadcast_queue_push(&m->bq, idx);
        }
        return;
    }
    if (!mb_is_live(mb->state))
        return;
    enum gossip_state prev = mb->state;
    mb->incarnation = incarnation;
    mb->from = from_idx;
    mb_set_state(m, idx, GOSSIP_SUSPECT, now_ms);
    mb_suspicion_start(m, idx, from_hash, now_ms);
    broadcast_queue_push(&m->bq, idx);
    mb_emit(m, MEMBERSHIP_EV_SUSPECT, idx, prev);
}

static void apply_dead(struct membership *m, const struct gossip_update *u, uint64_t now_ms)
{
    uint32_t idx = mb_find(m, u->id);
    if (idx == MB_NONE)
        return;
    struct member *mb = &m->members[idx];
    if (u->incarnation < mb->incarnation || mb->state == GOSSIP_LEFT ||
        (mb->state == GOSSIP_DEAD && u->state == GOSSIP_DEAD))
        return;
    if (idx == MB_SELF) {
        mb_refute(m, u->incarnation);
        return;
    }
    enum gossip_state prev = mb->state;
    mb->incarnation = u->incarnation;
    mb->from = u->from.len ? mb_find(m, u->from) : MB_NONE;
    mb_set_state(m, idx, u->state, now_ms);
    broadcast_queue_push(&m->bq, idx);
    mb_emit(m, event_for(u->state), idx, prev);
}

void mb_apply_update(struct membership *m, const struct gossip_update *u, bool rebroadcast_new, uint64_t now_ms)
{
    switch (u->state) {
    case GOSSIP_ALIVE:
    case GOSSIP_LEAVING:
        apply_live(m, u, rebroadcast_new, now_ms);
        return;
    case GOSSIP_SUSPECT: {
        uint32_t idx = mb_find(m, u->id);
        if (idx != MB_NONE)
            mb_apply_suspect(m, idx, u->incarnation, u->from, now_ms);
        return;
    }
    case GOSSIP_DEAD:
    case GOSSIP_LEFT:
        apply_dead(m, u, now_ms);
        return;
    }
}

/* ---- building and sending messages ------------------------------------------ */

void mb_fill_update(const struct membership *m, uint32_t idx, struct gossip_update *u)
{
    const struct member *mb = &m->members[idx];
    u->state = mb->state;
    u->id = kv_slice_str(member_id(mb));
    u->addr = kv_slice_str(member_addr(mb));
    u->zone = kv_slice_str(member_zone(mb));
    u->incarnation = mb->incarnation;
    u->ring_version = mb->ring_version;
    bool decided = mb->state == GOSSIP_SUSPECT || mb->state == GOSSIP_DEAD;
    u->from = decided && mb->from != MB_NONE ? kv_slice_str(member_id(&m->members[mb->from])) : kv_slice_make("", 0);
}

int mb_scratch_reserve(struct membership *m, size_t n)
{
    if (n <= m->scratch_cap)
        return KV_OK;
    struct gossip_update *s = realloc(m->scratch, n * sizeof *s);
    if (!s)
        return KV_ENOMEM;
    m->scratch = s;
    m->scratch_cap = n;
    return KV_OK;
}

void mb_msg_init(struct membership *m, struct gossip_msg *msg, enum gossip_msg_type type)
{
    const struct member *self = &m->members[MB_SELF];
    memset(msg, 0, sizeof *msg);
    msg->type = type;
    msg->cluster = kv_slice_str(m->cluster);
    msg->sender_id = kv_slice_str(member_id(self));
    msg->sender_addr = kv_slice_str(member_addr(self));
}

static size_t update_size(void *ctx, uint32_t slot)
{
    struct gossip_update u;
    mb_fill_update(ctx, slot, &u);
    return gossip_update_encoded_bytes(&u);
}

void mb_piggyback(struct membership *m, struct gossip_msg *msg)
{
    size_t base = gossip_msg_encoded_bytes(msg) + 2; /* the update count may grow a byte */
    if (base >= m->cfg.packet_bytes_max || broadcast_queue_count(&m->bq) == 0 ||
        mb_scratch_reserve(m, MB_PIGGYBACK_MAX) != KV_OK)
        return;
    uint32_t slots[MB_PIGGYBACK_MAX];
    uint32_t limit = timing_retransmit_limit(m->cfg.retransmit_mult, m->n_live);
    size_t n = broadcast_queue_take(&m->bq, m->cfg.packet_bytes_max - base, update_size, m, limit, slots,
                                    MB_PIGGYBACK_MAX);
    for (size_t i = 0; i < n; i++)
        mb_fill_update(m, slots[i], &m->scratch[i]);
    msg->updates = m->scratch;
    msg->n_updates = n;
}

void mb_send(struct membership *m, const char *to_addr, struct gossip_msg *msg)
{
    m->stats.msgs_out++;
    m->net.send(m->net.ctx, to_addr, msg);
}

size_t mb_random_members(struct membership *m, size_t k, uint32_t skip,
                         bool (*ok)(const struct membership *m, uint32_t idx, uint64_t now_ms), uint64_t now_ms,
                         uint32_t *out)
{
    /* Rejection sampling, 3n tries: cheap when k << n, exhaustive enough when n is small. */
    size_t n = 0;
    uint32_t others = m->n_members - 1;
    for (uint32_t tries = 0; others > 0 && n < k && tries < 3 * m->n_members; tries++) {
        uint32_t idx = 1 + (uint32_t)kv_rand_below(&m->rand, others);
        if (idx == skip || !ok(m, idx, now_ms))
            continue;
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = out[i] == idx;
        if (!dup)
            out[n++] = idx;
    }
    return n;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static int add_self(struct membership *m, uint64_t now_ms)
{
    struct gossip_update u = {
        .state = GOSSIP_ALIVE,
        .id = kv_slice_str(m->cfg.id),
        .addr = kv_slice_str(m->cfg.addr),
        .zone = kv_slice_str(m->cfg.zone ? m->cfg.zone : ""),
    };
    if (member_add(m, &u, now_ms) != MB_SELF)
        return KV_ENOMEM;
    const struct member *self = &m->members[MB_SELF];
    /* From now on the config's strings are our own copies. */
    m->cfg.id = member_id(self);
    m->cfg.addr = member_addr(self);
    m->cfg.zone = member_zone(self);
    m->cfg.cluster_name = m->cluster;
    return KV_OK;
}

int membership_create(const struct membership_config *cfg, const struct membership_net_ops *net,
                      const struct membership_event_ops *events, const struct kv_rand *rand, uint64_t now_ms,
                      struct membership **out)
{
    if (!config_valid(cfg) || !net || !net->send) {
        log_error("gossip", "\"invalid membership config\"");
        return KV_EINVAL;
    }
    struct membership *m = calloc(1, sizeof *m);
    if (!m)
        return KV_ENOMEM;
    m->cfg = *cfg;
    strcpy(m->cluster, cfg->cluster_name);
    m->net = *net;
    if (events)
        m->events = *events;
    m->rand = *rand;
    broadcast_queue_init(&m->bq);
    m->ring_source = MB_NONE;
    m->last_tick_ms = now_ms;
    /* Spread the first timers over one period so restarted fleets do not probe in lockstep. */
    m->next_probe_ms = now_ms + kv_rand_below(&m->rand, cfg->probe_interval_ms);
    m->next_gossip_ms = now_ms + cfg->gossip_interval_ms;
    m->next_push_pull_ms =
        now_ms + cfg->push_pull_interval_ms / 2 + kv_rand_below(&m->rand, cfg->push_pull_interval_ms);
    m->next_reconnect_ms = now_ms + cfg->reconnect_interval_ms;
    int rc = add_self(m, now_ms);
    if (rc != KV_OK) {
        membership_free(m);
        return rc;
    }
    *out = m;
    return KV_OK;
}

void membership_free(struct membership *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->n_members; i++) {
        free(m->members[i].strs);
        free(m->members[i].susp);
    }
    free(m->members);
    free(m->index);
    free(m->suspects);
    free(m->probe_order);
    free(m->scratch);
    broadcast_queue_free(&m->bq);
    for (size_t i = 0; i < m->n_seeds; i++)
        free(m->seeds[i].addr);
    ring_free(m->ring);
    kv_buf_free(&m->ring_bytes);
    free(m);
}

int membership_join(struct membership *m, const char *const *seeds, size_t n_seeds, uint64_t now_ms)
{
    if (n_seeds > MEMBERSHIP_SEEDS_MAX)
        return KV_EINVAL;
    for (size_t i = 0; i < n_seeds; i++)
        if (!str_ok(seeds[i], 1, GOSSIP_ADDR_BYTES_MAX))
            return KV_EINVAL;
    for (size_t i = 0; i < m->n_seeds; i++)
        free(m->seeds[i].addr);
    m->n_seeds = 0;
    for (size_t i = 0; i < n_seeds; i++) {
        if (strcmp(seeds[i], m->cfg.addr) == 0)
            continue;
        struct seed *sd = &m->seeds[m->n_seeds];
        memset(sd, 0, sizeof *sd);
        sd->addr = strdup(seeds[i]);
        if (!sd->addr)
            return KV_ENOMEM;
        sd->next_ms = now_ms;
        sd->backoff_ms = m->cfg.join_retry_ms;
        m->n_seeds++;
    }
    mb_push_pull_tick(m, now_ms);
    return KV_OK;
}

/* ---- driving ---------------------------------------------------------------------- */

static int dispatch(struct membership *m, const struct gossip_msg *msg, uint64_t now_ms)
{
    switch (msg->type) {
    case GOSSIP_PING:
        if (msg->target_id.len && !kv_slice_eq(msg->target_id, kv_slice_str(m->cfg.id))) {
            m->stats.dropped_misdirected++;
            return KV_EPROTO;
        }
        mb_on_ping(m, msg);
        return KV_OK;
    case GOSSIP_PING_REQ: mb_on_ping_req(m, msg, now_ms); return KV_OK;
    case GOSSIP_ACK: mb_on_ack(m, msg); return KV_OK;
    case GOSSIP_NACK: mb_on_nack(m, msg); return KV_OK;
    case GOSSIP_UPDATES: return KV_OK;
    case GOSSIP_PUSH_PULL_REQ:
    case GOSSIP_PUSH_PULL_RESP: mb_on_push_pull(m, msg, now_ms); return KV_OK;
    }
    return KV_EPROTO;
}

int membership_handle_message(struct membership *m, const char *from, const struct gossip_msg *msg, uint64_t now_ms)
{
    m->stats.msgs_in++;
    if (!kv_slice_eq(msg->cluster, kv_slice_str(m->cluster))) {
        m->stats.dropped_cluster++;
        log_debug("gossip", "\"dropped: foreign cluster\" from=%s", from ? from : "?");
        return KV_EAUTH;
    }
    if (kv_slice_eq(msg->sender_id, kv_slice_str(m->cfg.id))) {
        m->stats.dropped_misdirected++;
        return KV_EPROTO;
    }
    /* Push-pulls merge with their own rules (pushpull.c); others carry broadcasts. */
    if (msg->type != GOSSIP_PUSH_PULL_REQ && msg->type != GOSSIP_PUSH_PULL_RESP)
        for (size_t i = 0; i < msg->n_updates; i++)
            mb_apply_update(m, &msg->updates[i], true, now_ms);
    return dispatch(m, msg, now_ms);
}

void membership_tick(struct membership *m, uint64_t now_ms)
{
    /* Ticks come at least every gossip interval (membership_next_tick_ms
     * never lies further out), so a longer gap means we were not running. */
    uint64_t gap = now_ms > m->last_tick_ms ? now_ms - m->last_tick_ms : 0;
    if (gap > (uint64_t)m->cfg.gossip_interval_ms + m->cfg.stall_ms)
        mb_stall(m, gap, now_ms);
    m->last_tick_ms = now_ms;
    mb_indirect_tick(m, now_ms);
    mb_suspicion_tick(m, now_ms);
    mb_probe_tick(m, now_ms);
    mb_gossip_tick(m, now_ms);
    mb_push_pull_tick(m, now_ms);
}

uint64_t membership_next_tick_ms(const struct membership *m)
{
    uint64_t t = m->next_gossip_ms;
    uint64_t p = mb_probe_next_ms(m), q = mb_push_pull_next_ms(m);
    if (p < t)
        t = p;
    return q < t ? q : t;
}

static void self_change(struct membership *m, enum gossip_state state, uint64_t now_ms)
{
    struct member *self = &m->members[MB_SELF];
    if (self->state == state || self->state == GOSSIP_LEFT)
        return;
    self->incarnation++;
    mb_set_state(m, MB_SELF, state, now_ms);
    broadcast_queue_push(&m->bq, MB_SELF);
}

void membership_set_leaving(struct membership *m, uint64_t now_ms) { self_change(m, GOSSIP_LEAVING, now_ms); }

void membership_leave(struct membership *m, uint64_t now_ms)
{
    self_change(m, GOSSIP_LEFT, now_ms);
    m->probe.active = false;
}

uint32_t membership_pending_broadcasts(const struct membership *m) { return broadcast_queue_count(&m->bq); }

/* ---- getters ----------------------------------------------------------------------- */

size_t membership_member_count(const struct membership *m) { return m->n_members; }
size_t membership_live_count(const struct membership *m) { return m->n_live; }
const struct ring *membership_ring(const struct membership *m) { return m->ring; }

void membership_member_at(const struct membership *m, size_t i, struct membership_member *out)
{
    const struct member *mb = &m->members[i];
    out->id = member_id(mb);
    out->addr = member_addr(mb);
    out->zone = member_zone(mb);
    out->state = mb->state;
    out->incarnation = mb->incarnation;
    out->ring_version = mb->ring_version;
    out->state_change_ms = mb->state_change_ms;
}

int membership_member_find(const struct membership *m, const char *id, struct membership_member *out)
{
    uint32_t idx = mb_find(m, kv_slice_str(id));
    if (idx == MB_NONE)
        return KV_ENOTFOUND;
    membership_member_at(m, idx, out);
    return KV_OK;
}

void membership_get_stats(const struct membership *m, struct membership_stats *out)
{
    *out = m->stats;
    out->awareness = m->awareness;
}
