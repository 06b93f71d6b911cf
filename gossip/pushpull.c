/*
 * pushpull.c - full-state exchange: periodic anti-entropy of the member
 * table, joins through seeds, reconnects to dead members, and the ring.
 *
 * Joining: each seed gets a push-pull until it answers once (retries back
 * off from join_retry_ms to push_pull_interval_ms), not just until the
 * first one does. Nodes that started while some seeds were down formed
 * groups around the seeds they reached; when a late seed comes up, every
 * member of those groups exchanges state with it, and the seeds, which
 * learn each joiner first-hand, broadcast them, so the groups merge in
 * seconds instead of waiting for periodic push-pulls. And while answers
 * keep bringing members we did not know, the next periodic push-pull
 * comes after push_pull_fast_ms instead of the full interval: during a
 * mass start a full table is cheaper than a thousand gossiped joins.
 *
 * A push-pull request carries our whole table (dead and left members
 * included, so late joiners learn them) and our ring if the peer's ring
 * version, as last gossiped, is older; the peer merges it and replies
 * with its own. Merging differs from gossip in two ways:
 *  - a member we did not know is added quietly (no broadcast): everyone
 *    else learns it from its own gossip or push-pulls, and a joining node
 *    would otherwise flood the cluster with the table it just received.
 *    The peer's own record is first-hand news and is broadcast as usual.
 *  - a peer's "dead" only makes the member suspect here (the peer may be
 *    behind); the member gets the chance to refute.
 *
 * Cost: a table of n members is ~40 bytes per member on the wire (40 KB
 * at 1,000); each member starts one push-pull per
 * timing_push_pull_interval_ms, so cluster-wide O(n^2 / log n) records
 * per period.
 *
 * Rings: a member's gossiped ring_version tells us who has a newer ring;
 * we then push-pull with that member (retried every ring_fetch_retry_ms)
 * and install the ring from the reply after ring_decode validated it.
 * Two different rings with the same version (concurrent commits, or a
 * node that lost its data and created a ring of its own) are resolved the
 * same way everywhere: the one with more members wins, so a lone node's
 * ring never replaces a cluster's, then the one whose encoding has the
 * larger CRC32C. For that to happen a push-pull carries our ring also when
 * the peer's version equals ours, so the periodic exchange compares them.
 */
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "gossip/membership_internal.h"
#include "gossip/timing.h"

static uint64_t my_ring_version(const struct membership *m) { return m->ring ? ring_version(m->ring) : 0; }

void mb_send_push_pull(struct membership *m, const char *to_addr, enum gossip_msg_type type, uint8_t flags,
                       uint32_t seq, uint64_t peer_ring_version)
{
    if (mb_scratch_reserve(m, m->n_members) != KV_OK)
        return;
    struct gossip_msg msg;
    mb_msg_init(m, &msg, type);
    msg.flags = flags;
    msg.seq = seq;
    msg.ring_version = my_ring_version(m);
    /* Equal versions too: two nodes that committed different rings of one
     * version (concurrent commits) would otherwise never compare them, and
     * the CRC tie-break of ring_install could not make them converge. It
     * costs one ring (~600 bytes at Q = 256) per push-pull. */
    if (m->ring && msg.ring_version >= peer_ring_version)
        msg.ring = kv_slice_make(m->ring_bytes.data, m->ring_bytes.len);
    for (uint32_t i = 0; i < m->n_members; i++)
        mb_fill_update(m, i, &m->scratch[i]);
    msg.updates = m->scratch;
    msg.n_updates = m->n_members;
    if (type == GOSSIP_PUSH_PULL_REQ)
        m->stats.push_pulls++;
    mb_send(m, to_addr, &msg);
}

static bool is_alive_peer(const struct membership *m, uint32_t idx, uint64_t now_ms)
{
    return mb_is_live(m->members[idx].state);
}

static bool is_dead(const struct membership *m, uint32_t idx, uint64_t now_ms)
{
    return m->members[idx].state == GOSSIP_DEAD;
}

static void push_pull_with(struct membership *m, bool (*filter)(const struct membership *, uint32_t, uint64_t),
                           uint64_t now_ms)
{
    uint32_t peer;
    if (mb_random_members(m, 1, MB_NONE, filter, now_ms, &peer) == 1)
        mb_send_push_pull(m, member_addr(&m->members[peer]), GOSSIP_PUSH_PULL_REQ, 0, ++m->seq,
                          m->members[peer].ring_version);
}

void mb_push_pull_tick(struct membership *m, uint64_t now_ms)
{
    for (size_t i = 0; i < m->n_seeds; i++) {
        struct seed *sd = &m->seeds[i];
        if (sd->answered || now_ms < sd->next_ms)
            continue;
        sd->seq = ++m->seq;
        sd->next_ms = now_ms + sd->backoff_ms;
        sd->backoff_ms = sd->backoff_ms * 2 < m->cfg.push_pull_interval_ms ? sd->backoff_ms * 2
                                                                          : m->cfg.push_pull_interval_ms;
        mb_send_push_pull(m, sd->addr, GOSSIP_PUSH_PULL_REQ, GOSSIP_PP_JOIN, sd->seq, 0);
    }
    if (now_ms >= m->next_push_pull_ms) {
        m->next_push_pull_ms = now_ms + (m->push_pull_fast ? m->cfg.push_pull_fast_ms
                                                           : timing_push_pull_interval_ms(m->cfg.push_pull_interval_ms,
                                                                                          m->n_live));
        push_pull_with(m, is_alive_peer, now_ms);
    }
    if (now_ms >= m->next_reconnect_ms) {
        m->next_reconnect_ms = now_ms + m->cfg.reconnect_interval_ms;
        push_pull_with(m, is_dead, now_ms);
    }
    if (m->ring_source != MB_NONE && now_ms >= m->next_ring_fetch_ms) {
        const struct member *src = &m->members[m->ring_source];
        if (src->ring_version <= my_ring_version(m) || !mb_is_live(src->state)) {
            m->ring_source = MB_NONE;
            return;
        }
        m->next_ring_fetch_ms = now_ms + m->cfg.ring_fetch_retry_ms;
        mb_send_push_pull(m, member_addr(src), GOSSIP_PUSH_PULL_REQ, 0, ++m->seq, src->ring_version);
    }
}

uint64_t mb_push_pull_next_ms(const struct membership *m)
{
    uint64_t t = m->next_push_pull_ms < m->next_reconnect_ms ? m->next_push_pull_ms : m->next_reconnect_ms;
    for (size_t i = 0; i < m->n_seeds; i++)
        if (!m->seeds[i].answered && m->seeds[i].next_ms < t)
            t = m->seeds[i].next_ms;
    if (m->ring_source != MB_NONE && m->next_ring_fetch_ms < t)
        t = m->next_ring_fetch_ms;
    return t;
}

void mb_ring_seen(struct membership *m, uint32_t idx, uint64_t now_ms)
{
    const struct member *mb = &m->members[idx];
    if (mb->ring_version == 0)
        return;
    mb_emit(m, MEMBERSHIP_EV_RING_SEEN, idx, mb->state);
    if (mb->ring_version <= my_ring_version(m) || !mb_is_live(mb->state))
        return;
    if (m->ring_source == MB_NONE || m->members[m->ring_source].ring_version < mb->ring_version) {
        m->ring_source = idx;
        m->next_ring_fetch_ms = now_ms;
    }
}

/* Takes ownership of r (encoded as bytes) if it is newer than ours. */
static void ring_install(struct membership *m, struct ring *r, struct kv_slice bytes, uint32_t source)
{
    uint32_t crc = kv_crc32c(bytes.data, bytes.len);
    uint64_t mine = my_ring_version(m);
    bool newer = ring_version(r) > mine;
    if (m->ring && ring_version(r) == mine) {
        uint32_t members = ring_member_count(r), my_members = ring_member_count(m->ring);
        newer = members > my_members || (members == my_members && crc > m->ring_crc);
    }
    if (!newer || kv_buf_set(&m->ring_bytes, bytes.data, bytes.len) != KV_OK) {
        ring_free(r);
        return;
    }
    ring_free(m->ring);
    m->ring = r;
    m->ring_crc = crc;
    m->stats.rings_installed++;
    struct member *self = &m->members[MB_SELF];
    self->ring_version = ring_version(r);
    self->incarnation++;
    broadcast_queue_push(&m->bq, MB_SELF);
    mb_emit(m, MEMBERSHIP_EV_RING, source, m->members[source].state);
}

int membership_set_ring(struct membership *m, const struct ring *ring, uint64_t now_ms)
{
    if (ring_version(ring) <= my_ring_version(m))
        return KV_ESTATE;
    struct ring *copy = NULL;
    struct kv_buf bytes = { 0 };
    int rc = ring_clone(ring, &copy);
    if (rc == KV_OK)
        rc = ring_encode(ring, &bytes);
    if (rc != KV_OK) {
        ring_free(copy);
        kv_buf_free(&bytes);
        return rc;
    }
    kv_buf_free(&m->ring_bytes);
    m->ring_bytes = bytes;
    ring_free(m->ring);
    m->ring = copy;
    m->ring_crc = kv_crc32c(bytes.data, bytes.len);
    struct member *self = &m->members[MB_SELF];
    self->ring_version = ring_version(ring);
    self->incarnation++;
    broadcast_queue_push(&m->bq, MB_SELF);
    return KV_OK;
}

static void merge_update(struct membership *m, const struct gossip_msg *msg, const struct gossip_update *u,
                         uint64_t now_ms)
{
    if (kv_slice_eq(u->id, msg->sender_id)) {
        mb_apply_update(m, u, true, now_ms);
        return;
    }
    if (u->state == GOSSIP_DEAD) {
        uint32_t idx = mb_find(m, u->id);
        if (idx != MB_NONE)
            mb_apply_suspect(m, idx, u->incarnation, msg->sender_id, now_ms);
        return;
    }
    mb_apply_update(m, u, false, now_ms);
}

void mb_on_push_pull(struct membership *m, const struct gossip_msg *msg, uint64_t now_ms)
{
    for (size_t i = 0; msg->type == GOSSIP_PUSH_PULL_RESP && i < m->n_seeds; i++)
        if (!m->seeds[i].answered && m->seeds[i].seq == msg->seq)
            m->seeds[i].answered = true;
    uint32_t known = m->n_members;
    for (size_t i = 0; i < msg->n_updates; i++)
        merge_update(m, msg, &msg->updates[i], now_ms);
    /* An answer that taught us members we did not know means the table is
     * still forming (a cluster starting up, a healed partition): sync again
     * soon, and keep doing so until an answer brings nothing new (a lost
     * answer does not end it). */
    if (msg->type == GOSSIP_PUSH_PULL_RESP) {
        m->push_pull_fast = m->n_members > known;
        uint64_t soon = now_ms + m->cfg.push_pull_fast_ms;
        if (m->push_pull_fast && soon < m->next_push_pull_ms)
            m->next_push_pull_ms = soon;
    }
    if (msg->ring.len) {
        struct ring *r = NULL;
        if (ring_decode(msg->ring.data, msg->ring.len, &r) != KV_OK) {
            m->stats.rings_rejected++;
            log_warn("gossip", "\"invalid ring in push-pull\" peer=%.*s", (int)msg->sender_id.len,
                     msg->sender_id.data);
        } else {
            uint32_t source = mb_find(m, msg->sender_id);
            ring_install(m, r, msg->ring, source == MB_NONE ? MB_SELF : source);
        }
    }
    if (msg->type == GOSSIP_PUSH_PULL_REQ) {
        char to[GOSSIP_ADDR_BYTES_MAX + 1];
        memcpy(to, msg->sender_addr.data, msg->sender_addr.len);
        to[msg->sender_addr.len] = 0;
        mb_send_push_pull(m, to, GOSSIP_PUSH_PULL_RESP, 0, msg->seq, msg->ring_version);
    }
}
