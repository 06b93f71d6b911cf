/*
 * membership.h - SWIM membership and failure detection as a sans-I/O
 * state machine.
 *
 * What it does (SWIM, with Lifeguard's refinements):
 *  - every probe interval it pings one member, walking a shuffled
 *    round-robin list; without an ack within the probe timeout it asks k
 *    random members to ping the target for it (PING_REQ; they answer ACK
 *    or NACK); with no ack by the end of the interval the target becomes
 *    suspect;
 *  - a suspect becomes dead after a timeout that grows with log(cluster
 *    size), starting high and shrinking as other members independently
 *    suspect it too (timing.h); a member refutes a suspicion about itself
 *    by raising its incarnation and broadcasting that it is alive;
 *  - updates (alive / suspect / dead / leaving / left) ride piggybacked on
 *    pings and acks, and on small gossip messages sent to a few random
 *    members while updates are queued; each is sent λ·max(3, log10 n)
 *    times, freshest first;
 *  - periodically a full-state push-pull with one random member (and,
 *    less often, with a dead one, so a healed partition merges back)
 *    repairs whatever gossip missed (every 2 s instead while the answers
 *    keep bringing unknown members, as when a cluster starts); a new node
 *    joins by a push-pull with each of its seeds; the ring travels in
 *    push-pulls to members whose ring version is older;
 *  - a member's own health (Lifeguard "local health awareness"): missed
 *    nacks, refutations and stalls stretch its probe interval, so a slow
 *    node accuses others less;
 *  - a tick arriving long after the previous one (the process was
 *    stopped, or starved) voids the probe in flight and pushes suspicion
 *    timers back by the stall, so a paused node accuses nobody on waking.
 *
 * Precedence of updates about a member (incarnation = the member's own
 * counter, only it raises it):
 *   alive/leaving at inc i  overrides anything at inc < i;
 *   suspect at inc i        overrides alive/leaving at inc <= i;
 *   dead at inc i           overrides alive/leaving/suspect at inc <= i;
 *   left at inc i           overrides everything at inc <= i.
 * In a push-pull, a peer's "dead" counts only as a suspicion (it may be
 * stale); the member itself can then refute it.
 *
 * Sans-I/O: nothing here touches sockets, clocks or rand. The driver
 * (node/ with libevent, tests/sim with virtual time) calls
 * membership_handle_message for every decoded message and
 * membership_tick at or after membership_next_tick_ms (never more than a
 * gossip interval away; ticks further apart than gossip_interval_ms +
 * stall_ms are taken as a stall of this process); messages go out
 * through membership_net_ops.send and changes come back through
 * membership_event_ops.on_event. Both callbacks run synchronously inside
 * handle_message / tick / the other calls, must not call back into the
 * membership except its read-only getters, and must copy what they keep:
 * the message and event pointers die when the callback returns.
 *
 * Threading: not thread-safe; one owner thread. Memory: O(members), about
 * 150 bytes per member with short ids. Members are never forgotten (dead
 * and left ones stay, so stale news cannot resurrect them); members_max
 * bounds the table.
 */
#ifndef RINGKV_GOSSIP_MEMBERSHIP_H
#define RINGKV_GOSSIP_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/status.h"
#include "gossip/codec.h"
#include "gossip/ring.h"

#define MEMBERSHIP_SEEDS_MAX 16u
#define MEMBERSHIP_INDIRECT_CHECKS_MAX 8u
#define MEMBERSHIP_GOSSIP_FANOUT_MAX 16u
#define MEMBERSHIP_MEMBERS_MAX GOSSIP_UPDATES_MAX

struct membership_config {
    const char *cluster_name; /* strangers with another name are ignored */
    const char *id;           /* this node: 1 .. GOSSIP_ID_BYTES_MAX bytes */
    const char *addr;         /* where peers send to reach it */
    const char *zone;         /* NULL or "" = none */
    uint32_t probe_interval_ms;       /* one probe per interval */
    uint32_t probe_timeout_ms;        /* direct ack wait before indirect probes; < interval */
    uint32_t indirect_checks;         /* k members asked to probe on our behalf */
    uint32_t suspicion_mult;          /* min suspicion = mult * max(1, log10 n) * interval */
    uint32_t suspicion_max_mult;      /* max suspicion = this * min */
    uint32_t retransmit_mult;         /* sends per broadcast = mult * ceil(log10(n + 1)) */
    uint32_t gossip_interval_ms;      /* period of gossip messages while updates are queued */
    uint32_t gossip_fanout;           /* members each gossip round goes to */
    uint32_t gossip_to_dead_ms;       /* dead members still get gossip this long (to refute) */
    uint32_t push_pull_interval_ms;   /* full-state exchange period (scaled above 32 members) */
    uint32_t push_pull_fast_ms;       /* period while push-pulls keep bringing unknown members */
    uint32_t reconnect_interval_ms;   /* push-pull with a random dead member (heals partitions) */
    uint32_t join_retry_ms;           /* seeds are retried this often until one answers */
    uint32_t ring_fetch_retry_ms;     /* a newer ring seen on a member is asked for this often */
    uint32_t stall_ms;                /* ticks further apart than gossip interval + this = a stall */
    uint32_t awareness_max;           /* Lifeguard health score cap (interval * (score + 1)) */
    uint32_t packet_bytes_max;        /* size budget of probe and gossip messages */
    uint32_t members_max;             /* members remembered, <= MEMBERSHIP_MEMBERS_MAX */
};

/* Defaults: 500 ms probes, 200 ms probe timeout, k = 3, suspicion 4x/6x,
 * retransmit 4x, gossip 3 members every 200 ms, push-pull 30 s,
 * reconnect 10 s, 1,400-byte packets. See membership.c for the reasoning. */
void membership_config_defaults(struct membership_config *cfg);

struct membership_net_ops {
    /* Sends msg to to_addr, best effort. msg is valid during the call only. */
    void (*send)(void *ctx, const char *to_addr, const struct gossip_msg *msg);
    void *ctx;
};

enum membership_event_kind {
    MEMBERSHIP_EV_JOINED = 1, /* a member we did not know (state alive or leaving) */
    MEMBERSHIP_EV_ALIVE,      /* back to alive: refuted a suspicion, or rejoined */
    MEMBERSHIP_EV_SUSPECT,
    MEMBERSHIP_EV_DEAD,
    MEMBERSHIP_EV_LEAVING,
    MEMBERSHIP_EV_LEFT,
    MEMBERSHIP_EV_RING_SEEN, /* a member reports a newer ring version than before */
    MEMBERSHIP_EV_RING,      /* we installed a newer ring received from a peer */
};

struct membership_event {
    enum membership_event_kind kind;
    const char *id; /* the member (for RING: the peer that sent it) */
    const char *addr;
    const char *zone;
    enum gossip_state state;
    enum gossip_state prev_state; /* == state for JOINED and RING* */
    uint64_t incarnation;
    uint64_t ring_version;
    const struct ring *ring; /* RING only */
};

struct membership_event_ops {
    void (*on_event)(void *ctx, const struct membership_event *ev);
    void *ctx;
};

/* A member as seen by the getters; strings borrowed until the next call that changes state. */
struct membership_member {
    const char *id;
    const char *addr;
    const char *zone;
    enum gossip_state state;
    uint64_t incarnation;
    uint64_t ring_version;
    uint64_t state_change_ms;
};

struct membership_stats {
    uint64_t msgs_in, msgs_out;
    uint64_t dropped_cluster;     /* wrong cluster name */
    uint64_t dropped_misdirected; /* a ping meant for another id at our address */
    uint64_t dropped_full;        /* new members refused at members_max */
    uint64_t probes, probes_failed, indirect_probes;
    uint64_t suspicions_raised; /* by our own failed probes */
    uint64_t deaths_declared;   /* suspicion timers that fired here */
    uint64_t refutations;
    uint64_t push_pulls;    /* initiated */
    uint64_t stalls;        /* late ticks detected */
    uint64_t rings_installed, rings_rejected;
    uint32_t awareness;
};

struct membership;

/*
 * Creates the state machine for one node: it knows only itself (alive,
 * incarnation 0) until membership_join or a peer's message. The config
 * strings are copied; ops are copied; *rand seeds the private generator
 * (copied, so one seed gives one sequence of choices). KV_EINVAL on a bad
 * config, KV_ENOMEM.
 */
int membership_create(const struct membership_config *cfg, const struct membership_net_ops *net,
                      const struct membership_event_ops *events, const struct kv_rand *rand, uint64_t now_ms,
                      struct membership **out) KV_MUST_USE;
void membership_free(struct membership *m);

/*
 * Joins through seed addresses (copied, at most MEMBERSHIP_SEEDS_MAX; our
 * own address is skipped): sends each a push-pull now, and again to each
 * seed that has not answered yet, backing off from join_retry_ms to
 * push_pull_interval_ms. Answers carry the seed's whole member table.
 * KV_EINVAL for a bad address or too many seeds, KV_ENOMEM.
 */
int membership_join(struct membership *m, const char *const *seeds, size_t n_seeds, uint64_t now_ms) KV_MUST_USE;

/*
 * Feeds one decoded message. from is the transport's idea of the sender
 * (logged only; replies go to msg->sender_addr). KV_OK, or KV_EAUTH for a
 * foreign cluster name / KV_EPROTO for a message that makes no sense here
 * (both dropped and counted in the stats).
 */
int membership_handle_message(struct membership *m, const char *from, const struct gossip_msg *msg,
                              uint64_t now_ms) KV_MUST_USE;

/* Runs the timers due at now_ms (probes, suspicions, gossip, push-pull, retries). */
void membership_tick(struct membership *m, uint64_t now_ms);

/* The earliest time membership_tick has work; calling it earlier is harmless. */
uint64_t membership_next_tick_ms(const struct membership *m);

/* This node starts leaving (handing off): broadcast as LEAVING. */
void membership_set_leaving(struct membership *m, uint64_t now_ms);
/* This node is gone: broadcast LEFT, stop probing. Keep ticking a few
 * gossip intervals (membership_pending_broadcasts) so the news spreads. */
void membership_leave(struct membership *m, uint64_t now_ms);
uint32_t membership_pending_broadcasts(const struct membership *m);

/*
 * Installs a ring committed locally (copied). Its version must be newer
 * than the current one (KV_ESTATE otherwise); peers learn the version
 * from our next broadcast and fetch the ring in a push-pull.
 */
int membership_set_ring(struct membership *m, const struct ring *ring, uint64_t now_ms) KV_MUST_USE;
/* The newest ring known here, or NULL. Borrowed until the next call that changes state. */
const struct ring *membership_ring(const struct membership *m);

size_t membership_member_count(const struct membership *m);
/* i < membership_member_count; index 0 is this node. */
void membership_member_at(const struct membership *m, size_t i, struct membership_member *out);
int membership_member_find(const struct membership *m, const char *id, struct membership_member *out) KV_MUST_USE;
/* Members (this node included) that are alive, suspect or leaving. */
size_t membership_live_count(const struct membership *m);
void membership_get_stats(const struct membership *m, struct membership_stats *out);

#endif
