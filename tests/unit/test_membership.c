/*
 * test_membership.c - the SWIM state machine step by step (no simulator,
 * no timers: the test calls handle_message and tick with chosen times),
 * plus the gossip codec, the timing functions and the broadcast queue.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "gossip/broadcast.h"
#include "gossip/codec.h"
#include "gossip/membership.h"
#include "gossip/ring.h"
#include "gossip/timing.h"

#define SENT_MAX 256
#define EVENTS_MAX 256

struct sent {
    char to[GOSSIP_ADDR_BYTES_MAX + 1];
    struct kv_buf bytes;
    struct gossip_msg msg; /* decoded from bytes */
};

struct captured_event {
    enum membership_event_kind kind;
    char id[GOSSIP_ID_BYTES_MAX + 1];
    enum gossip_state state, prev;
    uint64_t incarnation;
};

/* One membership under test, its outbox and its events. */
struct h {
    struct membership *m;
    struct sent sent[SENT_MAX];
    size_t n_sent;
    struct captured_event ev[EVENTS_MAX];
    size_t n_ev;
    uint64_t now; /* last tick */
};

static void capture_send(void *ctx, const char *to, const struct gossip_msg *msg)
{
    struct h *h = ctx;
    ck_assert_uint_lt(h->n_sent, SENT_MAX);
    struct sent *s = &h->sent[h->n_sent++];
    snprintf(s->to, sizeof s->to, "%s", to);
    memset(&s->bytes, 0, sizeof s->bytes);
    ck_assert_int_eq(gossip_msg_encode(msg, &s->bytes), KV_OK);
    ck_assert_int_eq(gossip_msg_decode(s->bytes.data, s->bytes.len, &s->msg), KV_OK);
}

static void capture_event(void *ctx, const struct membership_event *ev)
{
    struct h *h = ctx;
    ck_assert_uint_lt(h->n_ev, EVENTS_MAX);
    struct captured_event *c = &h->ev[h->n_ev++];
    c->kind = ev->kind;
    snprintf(c->id, sizeof c->id, "%s", ev->id);
    c->state = ev->state;
    c->prev = ev->prev_state;
    c->incarnation = ev->incarnation;
}

static void clear_sent(struct h *h)
{
    for (size_t i = 0; i < h->n_sent; i++) {
        gossip_msg_clear(&h->sent[i].msg);
        kv_buf_free(&h->sent[i].bytes);
    }
    h->n_sent = 0;
}

static void h_open_cfg(struct h *h, const struct membership_config *cfg)
{
    memset(h, 0, sizeof *h);
    struct membership_net_ops net = { capture_send, h };
    struct membership_event_ops ev = { capture_event, h };
    struct kv_rand r;
    kv_rand_seed(&r, 99);
    ck_assert_int_eq(membership_create(cfg, &net, &ev, &r, 0, &h->m), KV_OK);
}

static void default_cfg(struct membership_config *cfg)
{
    membership_config_defaults(cfg);
    cfg->cluster_name = "test";
    cfg->id = "a";
    cfg->addr = "addr-a";
}

static void h_open(struct h *h)
{
    struct membership_config cfg;
    default_cfg(&cfg);
    h_open_cfg(h, &cfg);
}

static void h_close(struct h *h)
{
    clear_sent(h);
    membership_free(h->m);
}

static struct gossip_update upd(enum gossip_state state, const char *id, uint64_t inc, const char *from)
{
    static char addrs[8][32];
    static int next;
    char *addr = addrs[next++ % 8];
    snprintf(addr, 32, "addr-%s", id);
    struct gossip_update u = {
        .state = state,
        .id = kv_slice_str(id),
        .addr = kv_slice_str(addr),
        .zone = kv_slice_str(""),
        .incarnation = inc,
        .from = kv_slice_str(from ? from : ""),
    };
    return u;
}

static struct gossip_msg msg_from(enum gossip_msg_type type, const char *sender, uint32_t seq)
{
    static char addrs[8][80]; /* rotating: several messages may be alive at once */
    static int next;
    char *addr = addrs[next++ % 8];
    snprintf(addr, 80, "addr-%s", sender);
    struct gossip_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.cluster = kv_slice_str("test");
    m.sender_id = kv_slice_str(sender);
    m.sender_addr = kv_slice_str(addr);
    m.seq = seq;
    return m;
}

/* Delivers one update as a GOSSIP_UPDATES message from `sender`. */
static void gossip(struct h *h, const char *sender, struct gossip_update u, uint64_t now)
{
    struct gossip_msg m = msg_from(GOSSIP_UPDATES, sender, 0);
    m.updates = &u;
    m.n_updates = 1;
    ck_assert_int_eq(membership_handle_message(h->m, "test", &m, now), KV_OK);
}

static void add_members(struct h *h, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gossip(h, ids[i], upd(GOSSIP_ALIVE, ids[i], 0, NULL), 0);
}

static enum gossip_state state_of(const struct h *h, const char *id)
{
    struct membership_member mm;
    ck_assert_int_eq(membership_member_find(h->m, id, &mm), KV_OK);
    return mm.state;
}

static uint64_t inc_of(const struct h *h, const char *id)
{
    struct membership_member mm;
    ck_assert_int_eq(membership_member_find(h->m, id, &mm), KV_OK);
    return mm.incarnation;
}

static const struct sent *find_sent(const struct h *h, enum gossip_msg_type type, size_t nth)
{
    for (size_t i = 0; i < h->n_sent; i++)
        if (h->sent[i].msg.type == type && nth-- == 0)
            return &h->sent[i];
    return NULL;
}

static size_t count_sent(const struct h *h, enum gossip_msg_type type)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_sent; i++)
        n += h->sent[i].msg.type == type;
    return n;
}

static size_t count_sent_to(const struct h *h, enum gossip_msg_type type, const char *to)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_sent; i++)
        n += h->sent[i].msg.type == type && strcmp(h->sent[i].to, to) == 0;
    return n;
}

static bool has_event(const struct h *h, enum membership_event_kind kind, const char *id)
{
    for (size_t i = 0; i < h->n_ev; i++)
        if (h->ev[i].kind == kind && strcmp(h->ev[i].id, id) == 0)
            return true;
    return false;
}

/* Ticks every 10 ms until the membership sends a PING; returns that time. */
static uint64_t tick_until_ping(struct h *h)
{
    for (int i = 0; i < 1000 && !find_sent(h, GOSSIP_PING, 0); i++) {
        h->now += 10;
        membership_tick(h->m, h->now);
    }
    ck_assert_ptr_nonnull(find_sent(h, GOSSIP_PING, 0));
    return h->now;
}

/*
 * Ticks every 50 ms up to `to` (a driver must tick at least every gossip
 * interval, or the membership sees a stall), acking every PING except
 * those to `silent` (NULL: all answer; "*": none does).
 */
static void advance(struct h *h, uint64_t to, const char *silent)
{
    while (h->now < to) {
        h->now = h->now + 50 < to ? h->now + 50 : to;
        size_t first = h->n_sent;
        membership_tick(h->m, h->now);
        for (size_t i = first; i < h->n_sent; i++) {
            const struct gossip_msg *p = &h->sent[i].msg;
            if (p->type != GOSSIP_PING ||
                (silent && (!strcmp(silent, "*") || kv_slice_eq(p->target_id, kv_slice_str(silent)))))
                continue;
            char who[GOSSIP_ID_BYTES_MAX + 1];
            snprintf(who, sizeof who, "%.*s", (int)p->target_id.len, p->target_id.data);
            struct gossip_msg ack = msg_from(GOSSIP_ACK, who, p->seq);
            ck_assert_int_eq(membership_handle_message(h->m, "x", &ack, h->now), KV_OK);
        }
        if (h->n_sent > SENT_MAX / 2)
            clear_sent(h);
    }
}

static const char *const peers[] = { "b", "c", "d", "e" };

START_TEST(probe_is_answered_by_ack)
{
    struct h h;
    h_open(&h);
    add_members(&h, peers, 4);
    clear_sent(&h);
    uint64_t t = tick_until_ping(&h);
    const struct sent *ping = find_sent(&h, GOSSIP_PING, 0);
    char target[8];
    snprintf(target, sizeof target, "%.*s", (int)ping->msg.target_id.len, ping->msg.target_id.data);
    ck_assert_str_eq(ping->to + 5, target); /* "addr-<id>" */
    struct gossip_msg ack = msg_from(GOSSIP_ACK, target, ping->msg.seq);
    ck_assert_int_eq(membership_handle_message(h.m, ping->to, &ack, t + 5), KV_OK);
    clear_sent(&h);
    advance(&h, t + 450, NULL);
    ck_assert_ptr_null(find_sent(&h, GOSSIP_PING_REQ, 0));
    ck_assert_int_eq(state_of(&h, target), GOSSIP_ALIVE);
    struct membership_stats st;
    membership_get_stats(h.m, &st);
    ck_assert_uint_eq(st.probes_failed, 0);
    h_close(&h);
}
END_TEST

START_TEST(unanswered_probe_goes_indirect_then_suspect_then_dead)
{
    struct h h;
    h_open(&h);
    add_members(&h, peers, 4);
    clear_sent(&h);
    struct membership_config cfg;
    default_cfg(&cfg);
    uint64_t t = tick_until_ping(&h);
    char target[8];
    const struct sent *ping = find_sent(&h, GOSSIP_PING, 0);
    snprintf(target, sizeof target, "%.*s", (int)ping->msg.target_id.len, ping->msg.target_id.data);
    uint32_t seq = ping->msg.seq;
    clear_sent(&h);
    /* Probe timeout: k = 3 PING_REQs to the other three, and a direct retry. */
    h.now = t + cfg.probe_timeout_ms;
    membership_tick(h.m, h.now);
    ck_assert_uint_eq(count_sent(&h, GOSSIP_PING_REQ), 3);
    for (size_t i = 0; i < 3; i++) {
        const struct sent *req = find_sent(&h, GOSSIP_PING_REQ, i);
        ck_assert_uint_eq(req->msg.seq, seq);
        ck_assert(kv_slice_eq(req->msg.target_id, kv_slice_str(target)));
        ck_assert_str_ne(req->to + 5, target);
    }
    ck_assert_uint_eq(count_sent(&h, GOSSIP_PING), 1);
    /* End of the interval without an ack: suspect. */
    advance(&h, t + cfg.probe_interval_ms - 1, target);
    ck_assert_int_eq(state_of(&h, target), GOSSIP_ALIVE);
    advance(&h, t + cfg.probe_interval_ms, target);
    ck_assert_int_eq(state_of(&h, target), GOSSIP_SUSPECT);
    ck_assert(has_event(&h, MEMBERSHIP_EV_SUSPECT, target));
    /* Nobody confirms: the longest timeout, min * max_mult, from the suspicion start. */
    uint64_t start = t + cfg.probe_interval_ms;
    uint64_t min = timing_suspicion_min_ms(cfg.suspicion_mult, 5, cfg.probe_interval_ms);
    uint64_t dead_at = start + min * cfg.suspicion_max_mult;
    advance(&h, dead_at - 1, target);
    ck_assert_int_eq(state_of(&h, target), GOSSIP_SUSPECT);
    advance(&h, dead_at, target);
    ck_assert_int_eq(state_of(&h, target), GOSSIP_DEAD);
    ck_assert(has_event(&h, MEMBERSHIP_EV_DEAD, target));
    h_close(&h);
}
END_TEST

START_TEST(independent_confirmations_shorten_the_suspicion)
{
    struct h h;
    h_open(&h);
    add_members(&h, peers, 4);
    struct membership_config cfg;
    default_cfg(&cfg);
    advance(&h, 1000, NULL);
    gossip(&h, "c", upd(GOSSIP_SUSPECT, "b", 0, "c"), 1000);
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_SUSPECT);
    uint64_t min = timing_suspicion_min_ms(cfg.suspicion_mult, 5, cfg.probe_interval_ms);
    uint64_t max = min * cfg.suspicion_max_mult;
    /* The original suspecter again does not count; d does, once (k = 2). */
    gossip(&h, "d", upd(GOSSIP_SUSPECT, "b", 0, "c"), 1000);
    gossip(&h, "d", upd(GOSSIP_SUSPECT, "b", 0, "d"), 1000);
    gossip(&h, "d", upd(GOSSIP_SUSPECT, "b", 0, "d"), 1000);
    uint64_t one = 1000 + timing_suspicion_timeout_ms(min, max, 2, 1);
    ck_assert_uint_lt(one, 1000 + max);
    advance(&h, one - 1, NULL); /* b answers our pings: no self-confirmation */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_SUSPECT);
    /* A second independent one: the timer is at its minimum, already passed. */
    gossip(&h, "e", upd(GOSSIP_SUSPECT, "b", 0, "e"), h.now);
    advance(&h, h.now + 1, NULL);
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_DEAD);
    ck_assert_uint_gt(h.now, 1000 + min);
    h_close(&h);
}
END_TEST

START_TEST(ping_req_is_relayed_and_answered)
{
    struct h h;
    h_open(&h);
    struct membership_config cfg;
    default_cfg(&cfg);
    /* b asks us to probe c. */
    struct gossip_msg req = msg_from(GOSSIP_PING_REQ, "b", 77);
    req.target_id = kv_slice_str("c");
    req.target_addr = kv_slice_str("addr-c");
    ck_assert_int_eq(membership_handle_message(h.m, "x", &req, 100), KV_OK);
    const struct sent *ping = find_sent(&h, GOSSIP_PING, 0);
    ck_assert_ptr_nonnull(ping);
    ck_assert_str_eq(ping->to, "addr-c");
    ck_assert(kv_slice_eq(ping->msg.target_id, kv_slice_str("c")));
    struct gossip_msg ack = msg_from(GOSSIP_ACK, "c", ping->msg.seq);
    clear_sent(&h);
    ck_assert_int_eq(membership_handle_message(h.m, "x", &ack, 110), KV_OK);
    const struct sent *fwd = find_sent(&h, GOSSIP_ACK, 0);
    ck_assert_ptr_nonnull(fwd);
    ck_assert_str_eq(fwd->to, "addr-b");
    ck_assert_uint_eq(fwd->msg.seq, 77);
    /* A second request that gets no answer: a NACK after the probe timeout. */
    advance(&h, 200, NULL);
    req.seq = 78;
    ck_assert_int_eq(membership_handle_message(h.m, "x", &req, 200), KV_OK);
    clear_sent(&h);
    advance(&h, 200 + cfg.probe_timeout_ms, "*");
    const struct sent *nack = find_sent(&h, GOSSIP_NACK, 0);
    ck_assert_ptr_nonnull(nack);
    ck_assert_uint_eq(nack->msg.seq, 78);
    ck_assert_str_eq(nack->to, "addr-b");
    h_close(&h);
}
END_TEST

START_TEST(suspicion_about_self_is_refuted_with_a_higher_incarnation)
{
    struct h h;
    h_open(&h);
    add_members(&h, peers, 4);
    gossip(&h, "b", upd(GOSSIP_SUSPECT, "a", 0, "b"), 10);
    ck_assert_uint_eq(inc_of(&h, "a"), 1);
    ck_assert_int_eq(state_of(&h, "a"), GOSSIP_ALIVE);
    gossip(&h, "c", upd(GOSSIP_DEAD, "a", 5, "c"), 20);
    ck_assert_uint_eq(inc_of(&h, "a"), 6);
    /* A stale suspicion (older incarnation) changes nothing. */
    gossip(&h, "c", upd(GOSSIP_SUSPECT, "a", 2, "c"), 30);
    ck_assert_uint_eq(inc_of(&h, "a"), 6);
    /* The refutation rides on the next message: alive a at 6. */
    clear_sent(&h);
    struct gossip_msg ping = msg_from(GOSSIP_PING, "b", 5);
    ping.target_id = kv_slice_str("a");
    ck_assert_int_eq(membership_handle_message(h.m, "x", &ping, 40), KV_OK);
    const struct sent *ack = find_sent(&h, GOSSIP_ACK, 0);
    ck_assert_ptr_nonnull(ack);
    bool found = false;
    for (size_t i = 0; i < ack->msg.n_updates; i++)
        if (kv_slice_eq(ack->msg.updates[i].id, kv_slice_str("a")))
            found = ack->msg.updates[i].state == GOSSIP_ALIVE && ack->msg.updates[i].incarnation == 6;
    ck_assert(found);
    struct membership_stats st;
    membership_get_stats(h.m, &st);
    ck_assert_uint_eq(st.refutations, 2);
    h_close(&h);
}
END_TEST

START_TEST(incarnation_orders_updates)
{
    struct h h;
    h_open(&h);
    gossip(&h, "b", upd(GOSSIP_ALIVE, "b", 2, NULL), 0);
    ck_assert(has_event(&h, MEMBERSHIP_EV_JOINED, "b"));
    gossip(&h, "c", upd(GOSSIP_SUSPECT, "b", 1, "c"), 0);  /* older: ignored */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_ALIVE);
    gossip(&h, "c", upd(GOSSIP_SUSPECT, "b", 2, "c"), 0);  /* same inc: suspect wins */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_SUSPECT);
    gossip(&h, "b", upd(GOSSIP_ALIVE, "b", 2, NULL), 0);   /* same inc: alive loses */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_SUSPECT);
    gossip(&h, "b", upd(GOSSIP_ALIVE, "b", 3, NULL), 0);   /* refutation */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_ALIVE);
    ck_assert(has_event(&h, MEMBERSHIP_EV_ALIVE, "b"));
    gossip(&h, "c", upd(GOSSIP_DEAD, "b", 2, "c"), 0);     /* older: ignored */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_ALIVE);
    gossip(&h, "c", upd(GOSSIP_DEAD, "b", 3, "c"), 0);
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_DEAD);
    gossip(&h, "b", upd(GOSSIP_ALIVE, "b", 3, NULL), 0);   /* dead wins at the same inc */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_DEAD);
    gossip(&h, "c", upd(GOSSIP_SUSPECT, "b", 9, "c"), 0);  /* no suspecting the dead */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_DEAD);
    gossip(&h, "b", upd(GOSSIP_LEAVING, "b", 4, NULL), 0); /* back, and leaving */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_LEAVING);
    gossip(&h, "b", upd(GOSSIP_LEFT, "b", 4, NULL), 0);
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_LEFT);
    ck_assert(has_event(&h, MEMBERSHIP_EV_LEFT, "b"));
    gossip(&h, "c", upd(GOSSIP_DEAD, "b", 4, "c"), 0);     /* left is final at its inc */
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_LEFT);
    gossip(&h, "b", upd(GOSSIP_ALIVE, "b", 4, NULL), 0);
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_LEFT);
    /* Suspect / dead about a member nobody introduced: ignored. */
    gossip(&h, "c", upd(GOSSIP_DEAD, "zz", 1, "c"), 0);
    struct membership_member mm;
    ck_assert_int_eq(membership_member_find(h.m, "zz", &mm), KV_ENOTFOUND);
    h_close(&h);
}
END_TEST

START_TEST(wrong_cluster_name_is_dropped_and_counted)
{
    struct h h;
    h_open(&h);
    struct gossip_update u = upd(GOSSIP_ALIVE, "x", 0, NULL);
    struct gossip_msg m = msg_from(GOSSIP_PING, "x", 1);
    m.cluster = kv_slice_str("other");
    m.updates = &u;
    m.n_updates = 1;
    ck_assert_int_eq(membership_handle_message(h.m, "x", &m, 0), KV_EAUTH);
    m.cluster = kv_slice_str("");
    ck_assert_int_eq(membership_handle_message(h.m, "x", &m, 0), KV_EAUTH);
    ck_assert_uint_eq(h.n_sent, 0);
    ck_assert_uint_eq(membership_member_count(h.m), 1);
    struct membership_stats st;
    membership_get_stats(h.m, &st);
    ck_assert_uint_eq(st.dropped_cluster, 2);
    h_close(&h);
}
END_TEST

START_TEST(ping_for_another_node_id_is_not_answered)
{
    struct h h;
    h_open(&h);
    struct gossip_msg m = msg_from(GOSSIP_PING, "b", 1);
    m.target_id = kv_slice_str("someone-else");
    ck_assert_int_eq(membership_handle_message(h.m, "x", &m, 0), KV_EPROTO);
    ck_assert_uint_eq(count_sent(&h, GOSSIP_ACK), 0);
    m.target_id = kv_slice_str("a");
    ck_assert_int_eq(membership_handle_message(h.m, "x", &m, 0), KV_OK);
    ck_assert_uint_eq(count_sent(&h, GOSSIP_ACK), 1);
    h_close(&h);
}
END_TEST

START_TEST(push_pull_merges_and_answers_with_full_state)
{
    struct h h;
    h_open(&h);
    gossip(&h, "d", upd(GOSSIP_ALIVE, "d", 1, NULL), 0);
    struct gossip_update table[3] = {
        upd(GOSSIP_ALIVE, "b", 0, NULL),
        upd(GOSSIP_ALIVE, "c", 4, NULL),
        upd(GOSSIP_DEAD, "d", 1, "b"), /* a peer's "dead" only makes d suspect here */
    };
    struct gossip_msg req = msg_from(GOSSIP_PUSH_PULL_REQ, "b", 9);
    req.updates = table;
    req.n_updates = 3;
    clear_sent(&h);
    ck_assert_int_eq(membership_handle_message(h.m, "x", &req, 50), KV_OK);
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_ALIVE);
    ck_assert_uint_eq(inc_of(&h, "c"), 4);
    ck_assert_int_eq(state_of(&h, "d"), GOSSIP_SUSPECT);
    const struct sent *resp = find_sent(&h, GOSSIP_PUSH_PULL_RESP, 0);
    ck_assert_ptr_nonnull(resp);
    ck_assert_str_eq(resp->to, "addr-b");
    ck_assert_uint_eq(resp->msg.seq, 9);
    ck_assert_uint_eq(resp->msg.n_updates, 4); /* a, b, c, d */
    h_close(&h);
}
END_TEST

START_TEST(join_retries_each_seed_until_it_answers)
{
    struct h h;
    h_open(&h);
    struct membership_config cfg;
    default_cfg(&cfg);
    const char *seeds[3] = { "addr-a", "s1", "s2" }; /* our own address is skipped */
    ck_assert_int_eq(membership_join(h.m, seeds, 3, 0), KV_OK);
    ck_assert_uint_eq(count_sent(&h, GOSSIP_PUSH_PULL_REQ), 2);
    const struct sent *r1 = find_sent(&h, GOSSIP_PUSH_PULL_REQ, 0);
    ck_assert_str_eq(r1->to, "s1");
    ck_assert_uint_eq(r1->msg.flags, GOSSIP_PP_JOIN);
    struct gossip_msg resp = msg_from(GOSSIP_PUSH_PULL_RESP, "s1", r1->msg.seq);
    struct gossip_update self = upd(GOSSIP_ALIVE, "s1", 0, NULL);
    resp.updates = &self;
    resp.n_updates = 1;
    ck_assert_int_eq(membership_handle_message(h.m, "s1", &resp, 10), KV_OK);
    clear_sent(&h);
    advance(&h, cfg.join_retry_ms, "s1");
    ck_assert_uint_eq(count_sent_to(&h, GOSSIP_PUSH_PULL_REQ, "s1"), 0);
    ck_assert_uint_eq(count_sent_to(&h, GOSSIP_PUSH_PULL_REQ, "s2"), 1);
    /* Back-off: the next try comes two retry periods later. (s1's answer
     * brought a member we did not know, so a periodic push-pull to it comes
     * soon too: that one goes to its advertised address, addr-s1.) */
    clear_sent(&h);
    advance(&h, 3 * cfg.join_retry_ms - 1, "s1");
    ck_assert_uint_eq(count_sent_to(&h, GOSSIP_PUSH_PULL_REQ, "s2"), 0);
    ck_assert_uint_eq(count_sent_to(&h, GOSSIP_PUSH_PULL_REQ, "addr-s1"), 1);
    advance(&h, 3 * cfg.join_retry_ms, "s1");
    ck_assert_uint_eq(count_sent_to(&h, GOSSIP_PUSH_PULL_REQ, "s2"), 1);
    h_close(&h);
}
END_TEST

START_TEST(stall_voids_the_probe_and_delays_suspicions)
{
    struct h h;
    h_open(&h);
    add_members(&h, peers, 4);
    struct membership_config cfg;
    default_cfg(&cfg);
    gossip(&h, "c", upd(GOSSIP_SUSPECT, "b", 0, "c"), 0);
    uint64_t min = timing_suspicion_min_ms(cfg.suspicion_mult, 5, cfg.probe_interval_ms);
    uint64_t deadline = min * cfg.suspicion_max_mult; /* b suspected at 0, no confirmation */
    uint64_t t = tick_until_ping(&h);
    /* The process was stopped for 10 s right after sending the ping. */
    uint64_t gap = 10000;
    h.now = t + gap;
    membership_tick(h.m, h.now);
    struct membership_stats st;
    membership_get_stats(h.m, &st);
    ck_assert_uint_eq(st.stalls, 1);
    ck_assert_uint_eq(st.probes_failed, 0);
    for (size_t i = 0; i < 4; i++)
        if (strcmp(peers[i], "b") != 0)
            ck_assert_int_eq(state_of(&h, peers[i]), GOSSIP_ALIVE);
    /* b's timer was pushed back by the stall. */
    advance(&h, deadline + gap - 1, NULL);
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_SUSPECT);
    advance(&h, deadline + gap, NULL);
    ck_assert_int_eq(state_of(&h, "b"), GOSSIP_DEAD);
    h_close(&h);
}
END_TEST

START_TEST(missing_nacks_raise_awareness_and_stretch_probes)
{
    struct h h;
    h_open(&h);
    add_members(&h, peers, 4);
    struct membership_config cfg;
    default_cfg(&cfg);
    clear_sent(&h);
    uint64_t t = tick_until_ping(&h);
    char target[8];
    const struct sent *ping = find_sent(&h, GOSSIP_PING, 0);
    snprintf(target, sizeof target, "%.*s", (int)ping->msg.target_id.len, ping->msg.target_id.data);
    uint32_t seq = ping->msg.seq;
    advance(&h, t + cfg.probe_timeout_ms, target);
    ck_assert_uint_eq(count_sent(&h, GOSSIP_PING_REQ), 3);
    /* One helper nacks, two stay silent: health worsens by 2. */
    struct gossip_msg nack = msg_from(GOSSIP_NACK, "c", seq);
    ck_assert_int_eq(membership_handle_message(h.m, "x", &nack, h.now), KV_OK);
    advance(&h, t + cfg.probe_interval_ms - 1, "*");
    clear_sent(&h);
    advance(&h, t + cfg.probe_interval_ms, "*");
    struct membership_stats st;
    membership_get_stats(h.m, &st);
    ck_assert_uint_eq(st.awareness, 2);
    /* The failure starts the next probe at once; it lasts interval * (2 + 1). */
    uint64_t t2 = t + cfg.probe_interval_ms;
    ck_assert_uint_eq(count_sent(&h, GOSSIP_PING), 1);
    clear_sent(&h);
    advance(&h, t2 + 3 * cfg.probe_interval_ms - 1, "*");
    ck_assert_uint_eq(count_sent(&h, GOSSIP_PING), 1); /* only the retry at the scaled timeout */
    advance(&h, t2 + 3 * cfg.probe_interval_ms, "*");
    ck_assert_uint_eq(count_sent(&h, GOSSIP_PING), 2);
    h_close(&h);
}
END_TEST

START_TEST(leaving_and_left_are_broadcast_and_final)
{
    struct h h;
    h_open(&h);
    add_members(&h, peers, 4);
    membership_set_leaving(h.m, 10);
    ck_assert_int_eq(state_of(&h, "a"), GOSSIP_LEAVING);
    ck_assert_uint_eq(inc_of(&h, "a"), 1);
    membership_leave(h.m, 20);
    ck_assert_int_eq(state_of(&h, "a"), GOSSIP_LEFT);
    ck_assert_uint_eq(inc_of(&h, "a"), 2);
    ck_assert_uint_gt(membership_pending_broadcasts(h.m), 0);
    /* A left node does not refute suspicions, and stops probing. */
    gossip(&h, "b", upd(GOSSIP_SUSPECT, "a", 2, "b"), 30);
    ck_assert_uint_eq(inc_of(&h, "a"), 2);
    clear_sent(&h);
    h.now = 30;
    advance(&h, 2000, NULL);
    ck_assert_uint_eq(count_sent(&h, GOSSIP_PING), 0);
    ck_assert_uint_gt(count_sent(&h, GOSSIP_UPDATES), 0);
    h_close(&h);
}
END_TEST

static struct ring *test_ring(uint64_t claims)
{
    const struct ring_member_spec specs[3] = { { "a", NULL }, { "b", NULL }, { "c", NULL } };
    struct ring *r = NULL;
    ck_assert_int_eq(ring_create(64, 2, specs, 3, &r), KV_OK);
    for (uint64_t i = 0; i < claims; i++) {
        struct ring *next = NULL;
        ck_assert_int_eq(ring_claim(r, specs, 3, &next), KV_OK);
        ring_free(r);
        r = next;
    }
    return r;
}

START_TEST(newer_ring_is_fetched_validated_and_installed)
{
    struct h h;
    h_open(&h);
    struct ring *r1 = test_ring(0), *r2 = test_ring(1);
    ck_assert_int_eq(membership_set_ring(h.m, r1, 0), KV_OK);
    ck_assert_int_eq(membership_set_ring(h.m, r1, 0), KV_ESTATE);
    ck_assert_uint_eq(inc_of(&h, "a"), 1); /* peers learn our ring version */
    /* b gossips that it has ring 2: we ask it for a push-pull. */
    struct gossip_update ub = upd(GOSSIP_ALIVE, "b", 0, NULL);
    ub.ring_version = 2;
    clear_sent(&h);
    gossip(&h, "b", ub, 100);
    ck_assert(has_event(&h, MEMBERSHIP_EV_RING_SEEN, "b"));
    h.now = 100;
    membership_tick(h.m, 100);
    const struct sent *req = find_sent(&h, GOSSIP_PUSH_PULL_REQ, 0);
    ck_assert_ptr_nonnull(req);
    ck_assert_str_eq(req->to, "addr-b");
    /* A garbage ring is refused and counted. */
    struct gossip_msg resp = msg_from(GOSSIP_PUSH_PULL_RESP, "b", req->msg.seq);
    resp.ring_version = 2;
    resp.ring = kv_slice_str("not a ring at all");
    ck_assert_int_eq(membership_handle_message(h.m, "b", &resp, 200), KV_OK);
    ck_assert_uint_eq(ring_version(membership_ring(h.m)), 1);
    struct membership_stats st;
    membership_get_stats(h.m, &st);
    ck_assert_uint_eq(st.rings_rejected, 1);
    /* The real one is installed. */
    struct kv_buf b = { 0 };
    ck_assert_int_eq(ring_encode(r2, &b), KV_OK);
    resp.ring = kv_slice_make(b.data, b.len);
    ck_assert_int_eq(membership_handle_message(h.m, "b", &resp, 300), KV_OK);
    ck_assert(ring_equal(membership_ring(h.m), r2));
    ck_assert(has_event(&h, MEMBERSHIP_EV_RING, "b"));
    kv_buf_free(&b);
    ring_free(r1);
    ring_free(r2);
    h_close(&h);
}
END_TEST

START_TEST(rings_of_one_version_are_exchanged_and_converge_by_checksum)
{
    struct h h;
    h_open(&h);
    const struct ring_member_spec s1[3] = { { "a", NULL }, { "b", NULL }, { "c", NULL } };
    const struct ring_member_spec s2[3] = { { "a", NULL }, { "b", NULL }, { "d", NULL } };
    struct ring *mine = NULL, *theirs = NULL;
    ck_assert_int_eq(ring_create(64, 2, s1, 3, &mine), KV_OK);
    ck_assert_int_eq(ring_create(64, 2, s2, 3, &theirs), KV_OK);
    ck_assert_int_eq(membership_set_ring(h.m, mine, 0), KV_OK);
    struct kv_buf mb = { 0 }, tb = { 0 };
    ck_assert_int_eq(ring_encode(mine, &mb), KV_OK);
    ck_assert_int_eq(ring_encode(theirs, &tb), KV_OK);
    /* b committed another ring of the same version and push-pulls with us. */
    clear_sent(&h);
    struct gossip_msg req = msg_from(GOSSIP_PUSH_PULL_REQ, "b", 7);
    req.ring_version = 1;
    req.ring = kv_slice_make(tb.data, tb.len);
    ck_assert_int_eq(membership_handle_message(h.m, "b", &req, 100), KV_OK);
    /* Our answer carries our ring although b's version equals ours ... */
    const struct sent *resp = find_sent(&h, GOSSIP_PUSH_PULL_RESP, 0);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_gt(resp->msg.ring.len, 0);
    /* ... and both sides keep the ring whose encoding has the larger CRC. */
    bool theirs_wins = kv_crc32c(tb.data, tb.len) > kv_crc32c(mb.data, mb.len);
    ck_assert(ring_equal(membership_ring(h.m), theirs_wins ? theirs : mine));
    kv_buf_free(&mb);
    kv_buf_free(&tb);
    ring_free(mine);
    ring_free(theirs);
    h_close(&h);
}
END_TEST

START_TEST(ring_of_one_version_with_more_members_wins)
{
    struct h h;
    h_open(&h);
    const struct ring_member_spec big[3] = { { "a", NULL }, { "b", NULL }, { "c", NULL } };
    const struct ring_member_spec lone[1] = { { "b", NULL } };
    struct ring *mine = NULL, *theirs = NULL;
    ck_assert_int_eq(ring_create(64, 2, big, 3, &mine), KV_OK);
    ck_assert_int_eq(ring_create(64, 2, lone, 1, &theirs), KV_OK);
    ck_assert_int_eq(membership_set_ring(h.m, mine, 0), KV_OK);
    struct kv_buf tb = { 0 };
    ck_assert_int_eq(ring_encode(theirs, &tb), KV_OK);
    /* b lost its data and made a ring of its own, of the same version:
     * whatever the checksums, ours (3 members) stays. */
    struct gossip_msg req = msg_from(GOSSIP_PUSH_PULL_REQ, "b", 7);
    req.ring_version = 1;
    req.ring = kv_slice_make(tb.data, tb.len);
    ck_assert_int_eq(membership_handle_message(h.m, "b", &req, 100), KV_OK);
    ck_assert(ring_equal(membership_ring(h.m), mine));
    kv_buf_free(&tb);
    ring_free(mine);
    ring_free(theirs);
    h_close(&h);
}
END_TEST

START_TEST(bad_config_is_refused)
{
    struct membership_config cfg;
    default_cfg(&cfg);
    struct membership_net_ops net = { capture_send, NULL };
    struct kv_rand r;
    kv_rand_seed(&r, 1);
    struct membership *m = NULL;
    cfg.id = "";
    ck_assert_int_eq(membership_create(&cfg, &net, NULL, &r, 0, &m), KV_EINVAL);
    default_cfg(&cfg);
    cfg.probe_timeout_ms = cfg.probe_interval_ms;
    ck_assert_int_eq(membership_create(&cfg, &net, NULL, &r, 0, &m), KV_EINVAL);
    default_cfg(&cfg);
    net.send = NULL;
    ck_assert_int_eq(membership_create(&cfg, &net, NULL, &r, 0, &m), KV_EINVAL);
    ck_assert_ptr_null(m);
}
END_TEST

/* ---- timing ------------------------------------------------------------------------ */

START_TEST(suspicion_timeout_grows_with_log_n_and_shrinks_with_confirmations)
{
    ck_assert_uint_eq(timing_suspicion_min_ms(4, 1, 500), 2000);
    ck_assert_uint_eq(timing_suspicion_min_ms(4, 10, 500), 2000);
    ck_assert_uint_eq(timing_suspicion_min_ms(4, 100, 500), 4000);
    ck_assert_uint_eq(timing_suspicion_min_ms(4, 1000, 500), 6000);
    ck_assert_uint_eq(timing_suspicion_confirmations(4, 3), 0);
    ck_assert_uint_eq(timing_suspicion_confirmations(4, 4), 2);
    ck_assert_uint_eq(timing_suspicion_confirmations(4, 1000), 2);
    ck_assert_uint_eq(timing_suspicion_timeout_ms(6000, 36000, 2, 0), 36000);
    uint64_t one = timing_suspicion_timeout_ms(6000, 36000, 2, 1);
    ck_assert(one > 6000 && one < 36000);
    ck_assert_uint_eq(timing_suspicion_timeout_ms(6000, 36000, 2, 2), 6000);
    ck_assert_uint_eq(timing_suspicion_timeout_ms(6000, 36000, 2, 5), 6000);
    ck_assert_uint_eq(timing_suspicion_timeout_ms(6000, 36000, 0, 0), 6000);
}
END_TEST

START_TEST(retransmit_limit_and_push_pull_period_scale_with_n)
{
    ck_assert_uint_eq(timing_retransmit_limit(4, 5), 12);
    ck_assert_uint_eq(timing_retransmit_limit(4, 999), 12);
    ck_assert_uint_eq(timing_retransmit_limit(4, 1000), 16);
    ck_assert_uint_eq(timing_retransmit_limit(4, 100000), 24);
    ck_assert_uint_eq(timing_push_pull_interval_ms(30000, 32), 30000);
    ck_assert_uint_eq(timing_push_pull_interval_ms(30000, 33), 60000);
    ck_assert_uint_eq(timing_push_pull_interval_ms(30000, 64), 60000);
    ck_assert_uint_eq(timing_push_pull_interval_ms(30000, 65), 90000);
    ck_assert_uint_eq(timing_push_pull_interval_ms(30000, 1000), 180000);
    ck_assert_uint_eq(timing_awareness_scale_ms(500, 0), 500);
    ck_assert_uint_eq(timing_awareness_scale_ms(500, 8), 4500);
}
END_TEST

/* ---- broadcast queue -------------------------------------------------------------- */

static size_t ten_bytes(void *ctx, uint32_t slot) { return 10; }

START_TEST(broadcast_queue_sends_fresh_news_first_and_retires_at_the_limit)
{
    struct broadcast_queue q;
    broadcast_queue_init(&q);
    ck_assert_int_eq(broadcast_queue_reserve(&q, 8), KV_OK);
    broadcast_queue_push(&q, 1);
    broadcast_queue_push(&q, 2);
    uint32_t out[8];
    /* Budget for one: the newest first. */
    ck_assert_uint_eq(broadcast_queue_take(&q, 15, ten_bytes, NULL, 3, out, 8), 1);
    ck_assert_uint_eq(out[0], 2);
    ck_assert_uint_eq(broadcast_queue_take(&q, 15, ten_bytes, NULL, 3, out, 8), 1);
    ck_assert_uint_eq(out[0], 1); /* 0 transmits beats 1 */
    broadcast_queue_push(&q, 3);
    ck_assert_uint_eq(broadcast_queue_take(&q, 100, ten_bytes, NULL, 3, out, 8), 3);
    ck_assert_uint_eq(out[0], 3);
    ck_assert_uint_eq(broadcast_queue_take(&q, 100, ten_bytes, NULL, 3, out, 8), 3);
    /* 1 and 2 reached 3 transmissions; 3 has 2. */
    ck_assert_uint_eq(broadcast_queue_count(&q), 1);
    broadcast_queue_push(&q, 3); /* re-pushed: counts from 0 again */
    ck_assert_uint_eq(broadcast_queue_take(&q, 100, ten_bytes, NULL, 3, out, 8), 1);
    ck_assert_uint_eq(broadcast_queue_count(&q), 1);
    broadcast_queue_remove(&q, 3);
    ck_assert_uint_eq(broadcast_queue_count(&q), 0);
    broadcast_queue_free(&q);
}
END_TEST

/* ---- codec -------------------------------------------------------------------------- */

static void round_trip(const struct gossip_msg *m)
{
    struct kv_buf b = { 0 };
    ck_assert_int_eq(gossip_msg_encode(m, &b), KV_OK);
    ck_assert_uint_eq(b.len, gossip_msg_encoded_bytes(m));
    struct gossip_msg d;
    ck_assert_int_eq(gossip_msg_decode(b.data, b.len, &d), KV_OK);
    ck_assert_int_eq(d.type, m->type);
    ck_assert(kv_slice_eq(d.cluster, m->cluster));
    ck_assert(kv_slice_eq(d.sender_id, m->sender_id));
    ck_assert(kv_slice_eq(d.sender_addr, m->sender_addr));
    ck_assert_uint_eq(d.seq, m->type == GOSSIP_UPDATES ? 0 : m->seq);
    ck_assert_uint_eq(d.n_updates, m->n_updates);
    for (size_t i = 0; i < d.n_updates; i++) {
        ck_assert_int_eq(d.updates[i].state, m->updates[i].state);
        ck_assert(kv_slice_eq(d.updates[i].id, m->updates[i].id));
        ck_assert(kv_slice_eq(d.updates[i].from, m->updates[i].from));
        ck_assert_uint_eq(d.updates[i].incarnation, m->updates[i].incarnation);
        ck_assert_uint_eq(d.updates[i].ring_version, m->updates[i].ring_version);
    }
    if (m->type == GOSSIP_PUSH_PULL_REQ) {
        ck_assert(kv_slice_eq(d.ring, m->ring));
        ck_assert_uint_eq(d.ring_version, m->ring_version);
        ck_assert_uint_eq(d.flags, m->flags);
    }
    gossip_msg_clear(&d);
    kv_buf_free(&b);
}

START_TEST(codec_round_trips_every_message_type)
{
    struct gossip_update u[2] = { upd(GOSSIP_SUSPECT, "node-1", 7, "node-2"), upd(GOSSIP_LEFT, "x", 1ull << 40, NULL) };
    u[0].ring_version = 3;
    for (int t = GOSSIP_PING; t <= GOSSIP_MSG_TYPE_MAX; t++) {
        struct gossip_msg m = msg_from((enum gossip_msg_type)t, "sender", 123456);
        m.target_id = kv_slice_str("tgt");
        m.target_addr = kv_slice_str("addr-tgt");
        m.flags = GOSSIP_PP_JOIN;
        m.ring_version = 99;
        m.ring = kv_slice_make("\0\1\2ring", 7); /* binary, with NUL bytes */
        m.updates = u;
        m.n_updates = 2;
        round_trip(&m);
        m.n_updates = 0;
        round_trip(&m);
    }
}
END_TEST

static struct kv_buf encoded_sample(void)
{
    struct gossip_update u[2] = { upd(GOSSIP_ALIVE, "b", 3, NULL), upd(GOSSIP_DEAD, "c", 4, "b") };
    struct gossip_msg m = msg_from(GOSSIP_PING_REQ, "sender", 42);
    m.target_id = kv_slice_str("t");
    m.target_addr = kv_slice_str("addr-t");
    m.updates = u;
    m.n_updates = 2;
    struct kv_buf b = { 0 };
    ck_assert_int_eq(gossip_msg_encode(&m, &b), KV_OK);
    return b;
}

START_TEST(codec_rejects_every_corrupted_byte_and_truncation)
{
    struct kv_buf b = encoded_sample();
    struct gossip_msg d;
    for (size_t i = 0; i < b.len; i++)
        for (int bit = 0; bit < 8; bit++) {
            b.data[i] ^= (char)(1 << bit);
            ck_assert_int_eq(gossip_msg_decode(b.data, b.len, &d), KV_ECORRUPT);
            b.data[i] ^= (char)(1 << bit);
        }
    for (size_t len = 0; len < b.len; len++)
        ck_assert_int_eq(gossip_msg_decode(b.data, len, &d), KV_ECORRUPT);
    ck_assert_int_eq(kv_buf_append_byte(&b, 0), KV_OK);
    ck_assert_int_eq(gossip_msg_decode(b.data, b.len, &d), KV_ECORRUPT);
    kv_buf_free(&b);
}
END_TEST

/* Rewrites the checksum after tampering, so only the field checks can object. */
static int decode_resealed(struct kv_buf *b, struct gossip_msg *d)
{
    kv_put_fixed32(b->data + b->len - 4, kv_crc32c_mask(kv_crc32c(b->data, b->len - 4)));
    return gossip_msg_decode(b->data, b->len, d);
}

START_TEST(codec_validates_fields_behind_a_good_checksum)
{
    struct gossip_msg d;
    struct kv_buf b = encoded_sample();
    ck_assert_int_eq(decode_resealed(&b, &d), KV_OK);
    gossip_msg_clear(&d);
    b.data[0] = 2; /* codec version */
    ck_assert_int_eq(decode_resealed(&b, &d), KV_ECORRUPT);
    kv_buf_free(&b);
    b = encoded_sample();
    b.data[1] = GOSSIP_MSG_TYPE_MAX + 1; /* type */
    ck_assert_int_eq(decode_resealed(&b, &d), KV_ECORRUPT);
    kv_buf_free(&b);
    b = encoded_sample();
    char *nul = memchr(b.data, 's', b.len); /* first byte of "sender": a NUL inside an id */
    *nul = 0;
    ck_assert_int_eq(decode_resealed(&b, &d), KV_ECORRUPT);
    kv_buf_free(&b);
    b = encoded_sample();
    /* The last update's state byte sits after "addr-t", count and first update; find "b" update's state. */
    char *addr_b = memmem(b.data, b.len, "addr-b", 6);
    ck_assert_ptr_nonnull(addr_b);
    addr_b[-4] = 9; /* state of update "b": [state][1]["b"][6]["addr-b"] */
    ck_assert_int_eq(decode_resealed(&b, &d), KV_ECORRUPT);
    kv_buf_free(&b);
    /* Encoding refuses what decoding would refuse. */
    struct gossip_msg m = msg_from(GOSSIP_ACK, "s", 1);
    m.sender_id = kv_slice_str("");
    struct kv_buf out = { 0 };
    ck_assert_int_eq(gossip_msg_encode(&m, &out), KV_EINVAL);
    kv_buf_free(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("membership");
    TCase *tc = tcase_create("membership");
    tcase_add_test(tc, probe_is_answered_by_ack);
    tcase_add_test(tc, unanswered_probe_goes_indirect_then_suspect_then_dead);
    tcase_add_test(tc, independent_confirmations_shorten_the_suspicion);
    tcase_add_test(tc, ping_req_is_relayed_and_answered);
    tcase_add_test(tc, suspicion_about_self_is_refuted_with_a_higher_incarnation);
    tcase_add_test(tc, incarnation_orders_updates);
    tcase_add_test(tc, wrong_cluster_name_is_dropped_and_counted);
    tcase_add_test(tc, ping_for_another_node_id_is_not_answered);
    tcase_add_test(tc, push_pull_merges_and_answers_with_full_state);
    tcase_add_test(tc, join_retries_each_seed_until_it_answers);
    tcase_add_test(tc, stall_voids_the_probe_and_delays_suspicions);
    tcase_add_test(tc, missing_nacks_raise_awareness_and_stretch_probes);
    tcase_add_test(tc, leaving_and_left_are_broadcast_and_final);
    tcase_add_test(tc, newer_ring_is_fetched_validated_and_installed);
    tcase_add_test(tc, rings_of_one_version_are_exchanged_and_converge_by_checksum);
    tcase_add_test(tc, ring_of_one_version_with_more_members_wins);
    tcase_add_test(tc, bad_config_is_refused);
    tcase_add_test(tc, suspicion_timeout_grows_with_log_n_and_shrinks_with_confirmations);
    tcase_add_test(tc, retransmit_limit_and_push_pull_period_scale_with_n);
    tcase_add_test(tc, broadcast_queue_sends_fresh_news_first_and_retires_at_the_limit);
    tcase_add_test(tc, codec_round_trips_every_message_type);
    tcase_add_test(tc, codec_rejects_every_corrupted_byte_and_truncation);
    tcase_add_test(tc, codec_validates_fields_behind_a_good_checksum);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
