/*
 * membership_internal.h - state shared by the membership files:
 *   membership.c  table, update rules, events, getters, dispatch
 *   probe.c       probe cycle, indirect probes, suspicion timers, gossip rounds
 *   pushpull.c    full-state exchange, joins, reconnects, ring transfer
 * Functions shared between those files carry the short prefix mb_. Not
 * for use outside gossip/.
 */
#ifndef RINGKV_GOSSIP_MEMBERSHIP_INTERNAL_H
#define RINGKV_GOSSIP_MEMBERSHIP_INTERNAL_H

#include "common/buf.h"
#include "gossip/broadcast.h"
#include "gossip/membership.h"

#define MB_NONE UINT32_MAX
#define MB_SELF 0u
#define MB_CONFIRMERS_MAX 16u /* distinct suspecters remembered per suspicion */
#define MB_INDIRECT_MAX 32u   /* PING_REQs we relay at once; more are refused */
#define MB_PIGGYBACK_MAX 64u  /* updates carried by one probe or gossip message */

struct suspicion {
    uint64_t start_ms;
    uint64_t min_ms, max_ms;
    uint32_t k;                               /* confirmations wanted */
    uint32_t n;                               /* confirmations counted */
    uint32_t n_ids;                           /* suspecters remembered (the first one included) */
    uint64_t ids[MB_CONFIRMERS_MAX];          /* kv_hash64 of suspecter ids */
    uint64_t deadline_ms;
};

struct member {
    char *strs;         /* "id\0addr\0zone\0", one allocation */
    uint16_t addr_off;  /* addr = strs + addr_off */
    uint16_t zone_off;
    enum gossip_state state;
    uint64_t incarnation;
    uint64_t ring_version;
    uint64_t state_change_ms;
    uint32_t from;      /* member that raised the last suspect/dead, MB_NONE if unknown */
    uint32_t suspect_pos; /* index in membership.suspects while SUSPECT */
    uint64_t suspect_deadline_ms;
    struct suspicion *susp; /* NULL if it could not be allocated: max timeout, no confirmations */
};

static inline const char *member_id(const struct member *mb) { return mb->strs; }
static inline const char *member_addr(const struct member *mb) { return mb->strs + mb->addr_off; }
static inline const char *member_zone(const struct member *mb) { return mb->strs + mb->zone_off; }

struct probe_state {
    bool active;
    bool indirect_sent;
    uint32_t target;
    uint32_t seq;
    uint64_t timeout_at_ms; /* direct ack deadline: then PING_REQs */
    uint64_t end_at_ms;     /* verdict: no ack by then = suspect */
    uint32_t expected_nacks, nacks;
};

struct indirect_req {
    bool used;
    bool nacked;
    uint32_t seq;     /* of our PING to the target */
    uint32_t req_seq; /* of the requester's probe */
    uint64_t nack_at_ms;
    uint64_t expire_at_ms;
    char addr[GOSSIP_ADDR_BYTES_MAX + 1]; /* requester */
};

/* A seed is asked for a push-pull until it answers once. */
struct seed {
    char *addr;
    bool answered;
    uint32_t seq;        /* of our last request to it */
    uint64_t next_ms;    /* next attempt */
    uint32_t backoff_ms; /* join_retry_ms, doubling up to push_pull_interval_ms */
};

struct membership {
    struct membership_config cfg; /* strings point into the members' / own copies below */
    char cluster[GOSSIP_CLUSTER_BYTES_MAX + 1];
    struct membership_net_ops net;
    struct membership_event_ops events;
    struct kv_rand rand;

    struct member *members; /* [n_members]; index 0 is this node */
    uint32_t n_members, cap_members;
    uint32_t *index; /* open addressing over kv_hash64(id): member index or MB_NONE */
    uint32_t index_cap;
    uint32_t n_live; /* alive + suspect + leaving */

    uint32_t *suspects; /* member indexes in SUSPECT state */
    uint32_t n_suspects;

    uint32_t *probe_order; /* shuffled member indexes */
    uint32_t n_probe, probe_pos;
    struct probe_state probe;
    uint32_t seq;
    uint32_t awareness;
    struct indirect_req indirect[MB_INDIRECT_MAX];

    struct broadcast_queue bq;
    struct gossip_update *scratch; /* updates of the message being built */
    size_t scratch_cap;

    uint64_t last_tick_ms;
    uint64_t next_probe_ms, next_gossip_ms, next_push_pull_ms, next_reconnect_ms;
    bool push_pull_fast; /* the last push-pull answer brought unknown members */

    struct seed seeds[MEMBERSHIP_SEEDS_MAX];
    size_t n_seeds;

    struct ring *ring;
    struct kv_buf ring_bytes;
    uint32_t ring_crc; /* tie-break between different rings of one version */
    uint32_t ring_source; /* member seen with a newer ring, MB_NONE if none */
    uint64_t next_ring_fetch_ms;

    struct membership_stats stats;
};

/* membership.c */
uint32_t mb_find(const struct membership *m, struct kv_slice id);
void mb_emit(struct membership *m, enum membership_event_kind kind, uint32_t idx, enum gossip_state prev);
void mb_fill_update(const struct membership *m, uint32_t idx, struct gossip_update *u);
/* Applies one update; rebroadcast_new = queue a broadcast when it adds a member. */
void mb_apply_update(struct membership *m, const struct gossip_update *u, bool rebroadcast_new, uint64_t now_ms);
void mb_apply_suspect(struct membership *m, uint32_t idx, uint64_t incarnation, struct kv_slice from, uint64_t now_ms);
void mb_refute(struct membership *m, uint64_t incarnation);
void mb_set_state(struct membership *m, uint32_t idx, enum gossip_state state, uint64_t now_ms);
/* A suspicion timer fired here: dead, broadcast, event. */
void mb_declare_dead(struct membership *m, uint32_t idx, uint64_t now_ms);
void mb_send(struct membership *m, const char *to_addr, struct gossip_msg *msg);
/* A message of the given type from us, with piggybacked updates if piggyback. */
void mb_msg_init(struct membership *m, struct gossip_msg *msg, enum gossip_msg_type type);
void mb_piggyback(struct membership *m, struct gossip_msg *msg);
bool mb_is_live(enum gossip_state s);
/* Up to k distinct random members passing the filter (excluding self and `skip`). */
size_t mb_random_members(struct membership *m, size_t k, uint32_t skip,
                         bool (*ok)(const struct membership *m, uint32_t idx, uint64_t now_ms), uint64_t now_ms,
                         uint32_t *out);
int mb_scratch_reserve(struct membership *m, size_t n) KV_MUST_USE;

/* probe.c */
void mb_probe_tick(struct membership *m, uint64_t now_ms);
void mb_suspicion_tick(struct membership *m, uint64_t now_ms);
void mb_gossip_tick(struct membership *m, uint64_t now_ms);
void mb_indirect_tick(struct membership *m, uint64_t now_ms);
void mb_on_ping(struct membership *m, const struct gossip_msg *msg);
void mb_on_ping_req(struct membership *m, const struct gossip_msg *msg, uint64_t now_ms);
void mb_on_ack(struct membership *m, const struct gossip_msg *msg);
void mb_on_nack(struct membership *m, const struct gossip_msg *msg);
void mb_probe_list_add(struct membership *m, uint32_t idx);
void mb_suspicion_start(struct membership *m, uint32_t idx, uint64_t from_hash, uint64_t now_ms);
/* Counts an independent confirmation; true if it was new. */
bool mb_suspicion_confirm(struct membership *m, uint32_t idx, uint64_t from_hash);
void mb_suspicion_end(struct membership *m, uint32_t idx);
void mb_stall(struct membership *m, uint64_t stall_ms, uint64_t now_ms);
void mb_awareness(struct membership *m, int delta);
uint64_t mb_probe_next_ms(const struct membership *m);

/* pushpull.c */
void mb_push_pull_tick(struct membership *m, uint64_t now_ms);
void mb_send_push_pull(struct membership *m, const char *to_addr, enum gossip_msg_type type, uint8_t flags,
                       uint32_t seq, uint64_t peer_ring_version);
void mb_on_push_pull(struct membership *m, const struct gossip_msg *msg, uint64_t now_ms);
void mb_ring_seen(struct membership *m, uint32_t idx, uint64_t now_ms);
uint64_t mb_push_pull_next_ms(const struct membership *m);

#endif
