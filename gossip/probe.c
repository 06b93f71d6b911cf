/*
 * probe.c - SWIM's failure detector: the probe cycle, indirect probes,
 * suspicion timers, local health, and the gossip rounds that spread
 * queued broadcasts.
 *
 * One probe at a time. Its timeline, with interval and timeout stretched
 * by local health (timing_awareness_scale_ms):
 *   t0            PING(seq) to the next member of the shuffled list
 *   t0 + timeout  no ACK yet: PING_REQ(seq) to k random live members; each
 *                 pings the target and relays its ACK, or sends a NACK if
 *                 the target stays silent for a probe timeout; and one
 *                 more direct PING(seq)
 *   t0 + interval no ACK: the target becomes suspect (from us). Health
 *                 worsens by the NACKs that did not come (they prove the
 *                 helpers are reachable; missing ones point at us), or by
 *                 one when nobody could help.
 * An ACK in time improves health by one.
 */
#include <stdlib.h>
#include <string.h>

#include "gossip/membership_internal.h"
#include "gossip/timing.h"

static bool probeable(const struct membership *m, uint32_t idx, uint64_t now_ms)
{
    return mb_is_live(m->members[idx].state);
}

static bool gossip_target(const struct membership *m, uint32_t idx, uint64_t now_ms)
{
    const struct member *mb = &m->members[idx];
    if (mb_is_live(mb->state))
        return true;
    return mb->state == GOSSIP_DEAD && now_ms - mb->state_change_ms < m->cfg.gossip_to_dead_ms;
}

void mb_awareness(struct membership *m, int delta)
{
    int64_t a = (int64_t)m->awareness + delta;
    if (a < 0)
        a = 0;
    if (a > (int64_t)m->cfg.awareness_max)
        a = m->cfg.awareness_max;
    m->awareness = (uint32_t)a;
}

/* ---- the shuffled round-robin list ------------------------------------------ */

void mb_probe_list_add(struct membership *m, uint32_t idx)
{
    /* A random place among the members not yet probed this round, so a
     * newcomer is probed within one round without favouring anyone. */
    m->probe_order[m->n_probe] = idx;
    uint32_t span = m->n_probe - m->probe_pos + 1;
    uint32_t j = m->probe_pos + (uint32_t)kv_rand_below(&m->rand, span);
    m->probe_order[m->n_probe] = m->probe_order[j];
    m->probe_order[j] = idx;
    m->n_probe++;
}

static void shuffle(struct membership *m)
{
    for (uint32_t i = m->n_probe; i > 1; i--) {
        uint32_t j = (uint32_t)kv_rand_below(&m->rand, i);
        uint32_t t = m->probe_order[i - 1];
        m->probe_order[i - 1] = m->probe_order[j];
        m->probe_order[j] = t;
    }
    m->probe_pos = 0;
}

static uint32_t next_target(struct membership *m, uint64_t now_ms)
{
    for (uint32_t tries = 0; tries <= m->n_probe; tries++) {
        if (m->probe_pos >= m->n_probe)
            shuffle(m);
        if (m->n_probe == 0)
            return MB_NONE;
        uint32_t idx = m->probe_order[m->probe_pos++];
        if (probeable(m, idx, now_ms))
            return idx;
    }
    return MB_NONE;
}

/* ---- probing ------------------------------------------------------------------- */

static void probe_start(struct membership *m, uint64_t now_ms)
{
    uint64_t interval = timing_awareness_scale_ms(m->cfg.probe_interval_ms, m->awareness);
    m->next_probe_ms = now_ms + interval;
    uint32_t target = next_target(m, now_ms);
    if (target == MB_NONE)
        return;
    const struct member *t = &m->members[target];
    struct probe_state *p = &m->probe;
    memset(p, 0, sizeof *p);
    p->active = true;
    p->target = target;
    p->seq = ++m->seq;
    p->timeout_at_ms = now_ms + timing_awareness_scale_ms(m->cfg.probe_timeout_ms, m->awareness);
    p->end_at_ms = now_ms + interval;
    m->stats.probes++;
    struct gossip_msg msg;
    mb_msg_init(m, &msg, GOSSIP_PING);
    msg.seq = p->seq;
    msg.target_id = kv_slice_str(member_id(t));
    mb_piggyback(m, &msg);
    mb_send(m, member_addr(t), &msg);
}

static void send_indirect(struct membership *m, uint64_t now_ms)
{
    struct probe_state *p = &m->probe;
    uint32_t helpers[MEMBERSHIP_INDIRECT_CHECKS_MAX];
    size_t n = mb_random_members(m, m->cfg.indirect_checks, p->target, probeable, now_ms, helpers);
    const struct member *t = &m->members[p->target];
    p->indirect_sent = true;
    p->expected_nacks = (uint32_t)n;
    /* One more direct ping with the same seq: a lost ping or ack is the
     * commonest failure, and a retry costs less than a false suspicion. */
    struct gossip_msg retry;
    mb_msg_init(m, &retry, GOSSIP_PING);
    retry.seq = p->seq;
    retry.target_id = kv_slice_str(member_id(t));
    mb_piggyback(m, &retry);
    mb_send(m, member_addr(t), &retry);
    for (size_t i = 0; i < n; i++) {
        struct gossip_msg msg;
        mb_msg_init(m, &msg, GOSSIP_PING_REQ);
        msg.seq = p->seq;
        msg.target_id = kv_slice_str(member_id(t));
        msg.target_addr = kv_slice_str(member_addr(t));
        mb_piggyback(m, &msg);
        mb_send(m, member_addr(&m->members[helpers[i]]), &msg);
        m->stats.indirect_probes++;
    }
}

static void probe_failed(struct membership *m, uint64_t now_ms)
{
    struct probe_state *p = &m->probe;
    p->active = false;
    m->stats.probes_failed++;
    if (p->expected_nacks > 0)
        mb_awareness(m, (int)(p->expected_nacks - (p->nacks < p->expected_nacks ? p->nacks : p->expected_nacks)));
    else
        mb_awareness(m, 1);
    struct member *t = &m->members[p->target];
    if (!mb_is_live(t->state))
        return;
    if (t->state != GOSSIP_SUSPECT)
        m->stats.suspicions_raised++;
    mb_apply_suspect(m, p->target, t->incarnation, kv_slice_str(m->cfg.id), now_ms);
}

void mb_probe_tick(struct membership *m, uint64_t now_ms)
{
    if (m->members[MB_SELF].state == GOSSIP_LEFT)
        return;
    struct probe_state *p = &m->probe;
    if (p->active && !p->indirect_sent && now_ms >= p->timeout_at_ms)
        send_indirect(m, now_ms);
    if (p->active && now_ms >= p->end_at_ms)
        probe_failed(m, now_ms);
    if (!p->active && now_ms >= m->next_probe_ms)
        probe_start(m, now_ms);
}

void mb_on_ping(struct membership *m, const struct gossip_msg *msg)
{
    struct gossip_msg ack;
    mb_msg_init(m, &ack, GOSSIP_ACK);
    ack.seq = msg->seq;
    mb_piggyback(m, &ack);
    char to[GOSSIP_ADDR_BYTES_MAX + 1];
    memcpy(to, msg->sender_addr.data, msg->sender_addr.len);
    to[msg->sender_addr.len] = 0;
    mb_send(m, to, &ack);
}

void mb_on_ping_req(struct membership *m, const struct gossip_msg *msg, uint64_t now_ms)
{
    struct indirect_req *r = NULL;
    for (uint32_t i = 0; i < MB_INDIRECT_MAX && !r; i++)
        if (!m->indirect[i].used)
            r = &m->indirect[i];
    if (!r)
        return; /* too many relays in flight: the requester sees a missing nack */
    memset(r, 0, sizeof *r);
    r->used = true;
    r->seq = ++m->seq;
    r->req_seq = msg->seq;
    r->nack_at_ms = now_ms + m->cfg.probe_timeout_ms;
    r->expire_at_ms = now_ms + m->cfg.probe_interval_ms;
    memcpy(r->addr, msg->sender_addr.data, msg->sender_addr.len);
    r->addr[msg->sender_addr.len] = 0;
    char to[GOSSIP_ADDR_BYTES_MAX + 1];
    memcpy(to, msg->target_addr.data, msg->target_addr.len);
    to[msg->target_addr.len] = 0;
    struct gossip_msg ping;
    mb_msg_init(m, &ping, GOSSIP_PING);
    ping.seq = r->seq;
    ping.target_id = msg->target_id;
    mb_piggyback(m, &ping);
    mb_send(m, to, &ping);
}

static void send_seq_reply(struct membership *m, const char *to, enum gossip_msg_type type, uint32_t seq)
{
    struct gossip_msg msg;
    mb_msg_init(m, &msg, type);
    msg.seq = seq;
    mb_piggyback(m, &msg);
    mb_send(m, to, &msg);
}

void mb_on_ack(struct membership *m, const struct gossip_msg *msg)
{
    struct probe_state *p = &m->probe;
    if (p->active && msg->seq == p->seq) {
        p->active = false;
        mb_awareness(m, -1);
        return;
    }
    for (uint32_t i = 0; i < MB_INDIRECT_MAX; i++) {
        struct indirect_req *r = &m->indirect[i];
        if (r->used && r->seq == msg->seq) {
            r->used = false;
            send_seq_reply(m, r->addr, GOSSIP_ACK, r->req_seq);
            return;
        }
    }
}

void mb_on_nack(struct membership *m, const struct gossip_msg *msg)
{
    if (m->probe.active && msg->seq == m->probe.seq)
        m->probe.nacks++;
}

void mb_indirect_tick(struct membership *m, uint64_t now_ms)
{
    for (uint32_t i = 0; i < MB_INDIRECT_MAX; i++) {
        struct indirect_req *r = &m->indirect[i];
        if (!r->used)
            continue;
        if (!r->nacked && now_ms >= r->nack_at_ms) {
            r->nacked = true;
            send_seq_reply(m, r->addr, GOSSIP_NACK, r->req_seq);
        }
        if (now_ms >= r->expire_at_ms)
            r->used = false;
    }
}

/* ---- suspicion timers ---------------------------------------------------------- */

void mb_suspicion_start(struct membership *m, uint32_t idx, uint64_t from_hash, uint64_t now_ms)
{
    struct member *mb = &m->members[idx];
    uint64_t min = timing_suspicion_min_ms(m->cfg.suspicion_mult, m->n_live, m->cfg.probe_interval_ms);
    uint64_t max = min * m->cfg.suspicion_max_mult;
    uint32_t k = timing_suspicion_confirmations(m->cfg.suspicion_mult, m->n_live);
    mb->suspect_pos = m->n_suspects;
    m->suspects[m->n_suspects++] = idx;
    mb->suspect_deadline_ms = now_ms + max;
    mb->susp = calloc(1, sizeof *mb->susp);
    if (!mb->susp)
        return; /* no confirmations tracked: the longest timeout applies */
    struct suspicion *s = mb->susp;
    s->start_ms = now_ms;
    s->min_ms = min;
    s->max_ms = max;
    s->k = k;
    if (from_hash)
        s->ids[s->n_ids++] = from_hash;
    mb->suspect_deadline_ms = now_ms + timing_suspicion_timeout_ms(min, max, k, 0);
}

bool mb_suspicion_confirm(struct membership *m, uint32_t idx, uint64_t from_hash)
{
    struct member *mb = &m->members[idx];
    struct suspicion *s = mb->susp;
    if (!s || from_hash == 0 || s->n >= s->k)
        return false;
    for (uint32_t i = 0; i < s->n_ids; i++)
        if (s->ids[i] == from_hash)
            return false;
    if (s->n_ids < MB_CONFIRMERS_MAX)
        s->ids[s->n_ids++] = from_hash;
    s->n++;
    mb->suspect_deadline_ms = s->start_ms + timing_suspicion_timeout_ms(s->min_ms, s->max_ms, s->k, s->n);
    return true;
}

void mb_suspicion_end(struct membership *m, uint32_t idx)
{
    struct member *mb = &m->members[idx];
    free(mb->susp);
    mb->susp = NULL;
    uint32_t last = m->suspects[--m->n_suspects];
    m->suspects[mb->suspect_pos] = last;
    m->members[last].suspect_pos = mb->suspect_pos;
}

void mb_suspicion_tick(struct membership *m, uint64_t now_ms)
{
    /* Backwards: declaring a member dead removes it from the list by swapping in the last. */
    for (uint32_t i = m->n_suspects; i > 0; i--) {
        uint32_t idx = m->suspects[i - 1];
        if (now_ms >= m->members[idx].suspect_deadline_ms)
            mb_declare_dead(m, idx, now_ms);
    }
}

void mb_stall(struct membership *m, uint64_t stall_ms, uint64_t now_ms)
{
    m->stats.stalls++;
    m->probe.active = false; /* a timeout measured across a stall says nothing about the target */
    m->next_probe_ms = now_ms;
    for (uint32_t i = 0; i < m->n_suspects; i++) {
        struct member *mb = &m->members[m->suspects[i]];
        mb->suspect_deadline_ms += stall_ms;
        if (mb->susp)
            mb->susp->start_ms += stall_ms;
    }
    mb_awareness(m, 1);
}

uint64_t mb_probe_next_ms(const struct membership *m)
{
    uint64_t t = UINT64_MAX;
    const struct probe_state *p = &m->probe;
    if (m->members[MB_SELF].state != GOSSIP_LEFT) {
        if (!p->active)
            t = m->next_probe_ms;
        else
            t = p->indirect_sent || p->end_at_ms < p->timeout_at_ms ? p->end_at_ms : p->timeout_at_ms;
    }
    for (uint32_t i = 0; i < MB_INDIRECT_MAX; i++) {
        const struct indirect_req *r = &m->indirect[i];
        if (r->used) {
            uint64_t d = r->nacked ? r->expire_at_ms : r->nack_at_ms;
            if (d < t)
                t = d;
        }
    }
    for (uint32_t i = 0; i < m->n_suspects; i++)
        if (m->members[m->suspects[i]].suspect_deadline_ms < t)
            t = m->members[m->suspects[i]].suspect_deadline_ms;
    return t;
}

/* ---- gossip rounds --------------------------------------------------------------- */

void mb_gossip_tick(struct membership *m, uint64_t now_ms)
{
    if (now_ms < m->next_gossip_ms)
        return;
    m->next_gossip_ms = now_ms + m->cfg.gossip_interval_ms;
    if (broadcast_queue_count(&m->bq) == 0)
        return;
    uint32_t targets[MEMBERSHIP_GOSSIP_FANOUT_MAX];
    size_t n = mb_random_members(m, m->cfg.gossip_fanout, MB_NONE, gossip_target, now_ms, targets);
    for (size_t i = 0; i < n; i++) {
        struct gossip_msg msg;
        mb_msg_init(m, &msg, GOSSIP_UPDATES);
        mb_piggyback(m, &msg);
        if (msg.n_updates == 0)
            return;
        mb_send(m, member_addr(&m->members[targets[i]]), &msg);
    }
}
