/*
 * coord_internal.h - what the coord_*.c files share: struct coord, the
 * request table and the helpers each file provides to the others.
 *
 *   coord.c          config, lifetime, entry points, message dispatch, tick
 *   coord_local.c    the local engine: load, store, the write operations
 *                    on the local object, rendering of read results
 *   coord_batch.c    batch get / put
 *   coord_req.c      request table, ring view and plans, sending
 *   coord_read.c     quorum reads and read repair
 *   coord_write.c    quorum writes and forwarding to a primary
 *   coord_replica.c  serving replica reads / writes, storing hints
 *   coord_hints.c    hint delivery, retry and expiry
 *   coord_purge.c    tombstone purge: marks, markers, the scan, dot seeding
 *   coord_inspect.c  coord_local_inspect (kvctl local-get)
 *
 * Not part of the public interface; everything here runs on the coord's
 * one thread.
 */
#ifndef RINGKV_COORDINATOR_COORD_INTERNAL_H
#define RINGKV_COORDINATOR_COORD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/limits.h"
#include "coordinator/coord.h"
#include "coordinator/coord_msg.h"
#include "coordinator/dvv.h"
#include "coordinator/hint.h"
#include "coordinator/keyspace.h"
#include "coordinator/object.h"
#include "coordinator/peer_watch.h"
#include "coordinator/quorum.h"

/* Preference-list entries cached per partition: the N primaries and
 * enough fallbacks to replace all of them twice over. */
#define COORD_PLAN_NODES_MAX (3u * RING_N_VAL_MAX)
/* A forwarded write gets this share of the client's remaining time, so
 * that the primary's answer (even "in doubt") arrives before the
 * forwarder's own deadline: 3/4. */
#define COORD_FORWARD_TIMEOUT_NUM 3u
#define COORD_FORWARD_TIMEOUT_DEN 4u
/* A forward that may be repeated (coord_write.c, "Forward attempts")
 * waits for one primary at most this long, and at most a
 * COORD_FORWARD_ATTEMPT_DIV-th of the time left, before it goes to the
 * next live primary: 500 ms, a third. */
#define COORD_FORWARD_ATTEMPT_MS 500u
#define COORD_FORWARD_ATTEMPT_DIV 3u
/* Hint keys looked at per tick, so a tick stays short with many hints. */
#define COORD_HINT_SCAN_KEYS_MAX 256u
/* Period of hint scans while hints are pending but none could go. */
#define COORD_HINT_SCAN_IDLE_MS 1000u
/* A forwarded write is remembered (sender, req_id) for 60 to 120 s, so a
 * duplicated FORWARD message is not applied twice (an INCR would count
 * twice); a generation holds at most 1 Mi ids (8 MiB) before it rotates. */
#define COORD_FORWARD_DEDUP_MS 60000u
#define COORD_FORWARD_DEDUP_IDS_MAX (1u << 20)
/* Purge markers (coord_purge.c): looked at per scan, and the scan period. */
#define COORD_PURGE_SCAN_KEYS_MAX 64u
#define COORD_PURGE_SCAN_MS 1000u
/* Buffers of a request above this are released when it ends (64 KiB). */
#define COORD_REQ_KEEP_BYTES (64u * 1024u)

typedef char coord_node_id[KV_NODE_ID_BYTES_MAX + 1];

/* The write operations, as struct values (coord_put & co, FORWARD). */
struct coord_write {
    enum coord_write_op op;
    struct kv_slice key;
    struct kv_slice value;      /* PUT */
    struct kv_slice context;    /* PUT, DELETE */
    uint64_t ttl_ms;            /* PUT */
    enum coord_condition condition; /* PUT */
    int64_t arg;                /* EXPIRE ttl_ms, INCR delta */
};

/* A write's outcome, whatever the op. context points into coord or request memory. */
struct coord_write_result {
    int status;
    struct kv_slice context;    /* PUT */
    bool flag;                  /* DELETE existed; EXPIRE/PERSIST applied */
    int64_t value;              /* INCR */
};

/* Where a finished request's result goes. */
union coord_cb {
    coord_get_cb get;
    coord_ttl_cb ttl;
    coord_put_cb put;
    coord_delete_cb del;
    coord_expire_cb expire;
    coord_incr_cb incr;
};

enum coord_req_kind {
    REQ_FREE = 0,
    REQ_READ,       /* a quorum get or ttl */
    REQ_WRITE,      /* a quorum write coordinated here */
    REQ_FORWARD,    /* a write sent to a primary to coordinate */
    REQ_HINT,       /* a hint delivery */
};

enum coord_target_state { TARGET_PENDING = 0, TARGET_OK, TARGET_FAILED };

struct coord_target {
    coord_node_id node;
    coord_node_id hint_for;     /* "" = the node is a primary */
    uint8_t state;              /* enum coord_target_state */
    bool local;                 /* this node */
    bool found;                 /* read: it had an object */
    struct kv_buf obj;          /* read: the object it answered */
};

/* A request in flight. The fields up to `key` are reset when the slot is
 * reused (COORD_REQ_RESET_BYTES); the buffers and targets after it keep
 * their memory, and each target is set up by whoever adds it. */
struct coord_req {
    uint64_t id;                /* 0 while the slot is free */
    enum coord_req_kind kind;
    uint64_t deadline_ms;
    uint32_t partition;
    struct quorum_tally tally;
    bool answered;              /* the caller has its result (a read then still repairs) */
    bool is_ttl;                /* READ: a ttl rather than a get */
    enum coord_write_op op;     /* WRITE, FORWARD */
    union coord_cb cb;
    void *arg;
    /* A forwarded write coordinated here answers its forwarder. */
    bool relay;
    coord_node_id relay_node;
    uint64_t relay_req_id;
    /* A write's result, held until W acks (its context in ctx). */
    struct coord_write_result wr;
    uint64_t hint_hash;         /* HINT: hash of the record sent */
    bool purge_track;           /* WRITE of a tombstone: after the answer, wait for every
                                 * primary's ack, then send PURGE_MARK (coord_purge.c) */
    uint64_t purge_dot_counter; /* the tombstone's dot is (c->actor, this) */
    /* FORWARD: the client's deadline (deadline_ms is the attempt's), and
     * what a retry on another primary resends (key, ctx, fwd_value hold the bytes). */
    uint64_t fwd_end_ms;
    bool fwd_held;              /* key, ctx, fwd_value and the fields below hold the write */
    bool fwd_retry;             /* held, and repeating it on another primary is harmless */
    bool fwd_refused;           /* the last attempt's send was refused: nothing left */
    bool fwd_sent_before;       /* an earlier attempt left this node: it may still be applied */
    uint64_t fwd_ttl_ms;
    enum coord_condition fwd_condition;
    int64_t fwd_arg;
    struct coord_options fwd_opts;
    uint32_t ntargets;
    /* kept across reuse */
    struct kv_buf key;
    struct kv_buf ctx;
    struct kv_buf hint_key;     /* HINT: the hint's engine key */
    struct kv_buf fwd_value;    /* FORWARD: the PUT value, for a retry */
    struct coord_target t[QUORUM_TARGETS_MAX];
};
#define COORD_REQ_RESET_BYTES offsetof(struct coord_req, key)

/* The ring as this node last saw it, with cached preference lists. */
struct coord_view {
    const struct ring *ring;
    uint64_t version;
    uint32_t self;              /* member index, or RING_NO_MEMBER */
    uint32_t n;                 /* n_val */
    uint32_t len;               /* entries cached per partition */
    uint32_t *plist;            /* [partition * len + i], member indexes */
    uint8_t *filled;            /* per partition: plist row computed */
    uint32_t q;
};

/* The replicas of one key, as a request sees them at its start. */
struct coord_route {
    const struct ring *ring;
    uint32_t partition;
    uint32_t len;               /* preference-list entries in pref */
    const uint32_t *pref;       /* member indexes */
    uint32_t primaries;
    uint32_t n;                 /* N */
    uint32_t self;              /* preference-list index of this node, or QUORUM_NONE */
    struct quorum_plan plan;
};

struct hint_peer {
    coord_node_id id;
    uint32_t failures;
    uint64_t next_ms;           /* no delivery to it before */
    uint64_t delivered;         /* hints for it acknowledged and deleted (coord_hint_report) */
    uint64_t expired;           /* hints for it dropped after hint_ttl_ms */
    uint64_t failed;            /* delivery attempts to it that failed or timed out */
};

struct batch_value {            /* a value of a batch get, by offset into the batch arena */
    size_t off;
    size_t len;
    uint64_t expires_at_ms;
    bool counter;
};

struct coord {
    struct engine *engine;
    const struct kv_clock *clock;
    struct keyspace ks;
    coord_node_id node_id;
    uint64_t actor;             /* this node's id in clocks and counters */
    uint32_t n_replicas;
    uint32_t key_bytes_max;
    uint32_t value_bytes_max;
    uint32_t siblings_max;
    bool lww;                   /* conflict_mode COORD_CONFLICT_LWW: records stamped, one value kept */
    uint64_t object_bytes_max;
    struct coord_stats stats;

    /* Per-request scratch, reused. */
    struct kv_buf ekey;         /* engine key */
    struct kv_buf stored;       /* object bytes read; `old` borrows them */
    struct kv_buf records;      /* new sibling records; `new` borrows them */
    struct kv_buf encoded;      /* object bytes written */
    struct kv_buf ctx;          /* context handed to the caller */
    struct kv_buf render;       /* counter payloads and decimal renderings */
    struct object old;
    struct object new;
    struct dvv ctx_in;          /* the caller's context, decoded */
    struct object_counter counter;
    struct coord_value *values; /* visible values of a get */
    uint32_t values_cap;
    struct kv_slice *recs;      /* slices of `records` for multi-value updates */
    uint32_t recs_cap;
    size_t *rec_offs;
    uint32_t rec_offs_cap;
    bool wrote;                 /* the last local write operation stored an object */
    bool stored_found;          /* coord_load found an object: `stored` holds its bytes */
    struct coord_write_hook hook; /* write_hook of the config; wrote == NULL: none */

    /* Batch state (standalone), reused. */
    struct engine_batch *wbatch;
    struct engine_batch *active;   /* == wbatch while a batch put runs: store() appends to it */
    struct kv_buf arena;
    struct batch_value *bvals;
    uint32_t bvals_cap;
    struct coord_value *bcvals;
    uint32_t bcvals_cap;
    struct coord_get_result *gitems;
    uint32_t gitems_cap;
    struct coord_put_result *pitems;
    uint32_t pitems_cap;
    size_t *offs;
    uint32_t offs_cap;
    uint64_t *seen;
    uint32_t seen_cap;

    /* Cluster mode (cluster == true). */
    bool cluster;
    struct coord_net_ops net;
    struct coord_cluster_ops cops;
    struct kv_rand rand;
    uint32_t r_default, w_default;
    struct coord_view view;
    uint64_t now_ms;            /* monotonic time of the call being served */
    struct object m[3];         /* read merge scratch: accumulator, next, result */
    struct kv_buf mbuf;         /* an encoded read merge */
    struct object rin, rout;    /* replica merge scratch: incoming, result */
    struct kv_buf rbuf;         /* an encoded replica merge */
    struct kv_buf hbuf;         /* hint records */
    struct peer_watch watch;    /* peers silent while this node waits on them (forward targets) */

    /* Request table: id = tag << 48 | generation << 16 | slot. */
    struct coord_req **slots;
    uint32_t nslots;            /* requests_max */
    uint32_t used;              /* slots ever allocated (a high-water mark) */
    uint32_t *free_slots;
    uint32_t nfree;
    uint32_t *gens;
    uint16_t tag;               /* random per coord: replies to a previous life are ignored */
    uint64_t next_deadline_ms;  /* no request deadline before this */

    /* Forwards served recently: two generations of id sets (open addressing, 0 = empty). */
    uint64_t *fwd_seen[2];
    uint32_t fwd_cap[2], fwd_n[2];
    uint64_t fwd_rotate_ms;

    /* Hinted handoff. */
    uint64_t hint_ttl_ms;
    uint32_t hint_deliveries_max;
    uint32_t hint_retry_min_ms, hint_retry_max_ms, hint_timeout_ms;
    uint64_t hints_bytes_max;   /* cap on stats.hints_bytes (coord_hint_store refuses past it) */
    bool hints_full;            /* the last hint store was refused: logged once per episode */
    struct hint_bucket bucket;
    uint32_t hints_in_flight;
    uint64_t *hint_reqs;        /* ids of the deliveries in flight [hint_deliveries_max] */
    uint64_t hint_next_scan_ms;
    struct kv_buf hint_cursor;  /* scans resume after this key ("" = from the start) */
    struct hint_peer *peers;
    uint32_t npeers, peers_cap;

    /* Tombstone purge (coord_purge.c); tombstone_grace_ms == 0: off. */
    uint64_t tombstone_grace_ms;
    uint64_t purge_next_ms;     /* next marker scan (monotonic) */
    struct kv_buf purge_cursor; /* the scan resumes after this marker key ("" = from the start) */
};

/* ---- coord.c ---- */
int coord_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) KV_MUST_USE;
uint64_t coord_wall_ms(const struct coord *c);
uint64_t coord_mono_ms(const struct coord *c);
void coord_count_status(struct coord *c, int status);
/* Calls the op's callback with r (an op-specific result built from it). */
void coord_write_callback(enum coord_write_op op, union coord_cb cb, void *arg,
                          const struct coord_write_result *r);

/* ---- coord_local.c ---- */
int coord_check_key(const struct coord *c, struct kv_slice key) KV_MUST_USE;
int coord_check_write(const struct coord *c, const struct coord_write *w) KV_MUST_USE;
/* Reads key's object into c->old (empty if absent); c->ekey = its engine key. */
int coord_load(struct coord *c, struct kv_slice key) KV_MUST_USE;
/* Reports a DATA write of key (old -> new object bytes; len 0: absent) to
 * the write hook, if any (coord.h, struct coord_write_hook). Call it right
 * after the engine write succeeded. */
void coord_note_write(struct coord *c, struct kv_slice key, struct kv_slice old_object,
                      struct kv_slice new_object);
/* Applies w to the local object and stores the result (c->wrote, c->encoded);
 * r->context points into c->ctx. */
void coord_local_write(struct coord *c, const struct coord_write *w, struct coord_write_result *r);
/* Reads one key locally into r (pointing into c's buffers). */
int coord_local_get(struct coord *c, struct kv_slice key, struct coord_get_result *r);
void coord_local_ttl(struct coord *c, struct kv_slice key, struct coord_ttl_result *r);
/* Renders the visible values of o (c->values, c->render). */
int coord_collect_visible(struct coord *c, const struct object *o, uint64_t now, uint32_t *n_out) KV_MUST_USE;
int coord_make_context(struct coord *c, const struct dvv *clock, struct kv_slice *out) KV_MUST_USE;
int64_t coord_ttl_of(const struct object *o, uint64_t now);

/* ---- coord_batch.c ---- */
void coord_batch_buffers_free(struct coord *c);
void coord_cluster_batch_get(struct coord *c, const struct kv_slice *keys, uint32_t nkeys,
                             const struct coord_options *o, coord_batch_get_cb cb, void *arg);
void coord_cluster_batch_put(struct coord *c, const struct coord_put_args *items, uint32_t nitems,
                             const struct coord_options *o, coord_batch_put_cb cb, void *arg);

/* ---- coord_req.c ---- */
int coord_reqs_init(struct coord *c, uint32_t requests_max) KV_MUST_USE;
void coord_reqs_free(struct coord *c);
/* A free request of kind, deadline now + timeout_ms; NULL when requests_max are in flight. */
struct coord_req *coord_req_new(struct coord *c, enum coord_req_kind kind, uint64_t now, uint32_t timeout_ms);
struct coord_req *coord_req_find(struct coord *c, uint64_t id);
void coord_req_release(struct coord *c, struct coord_req *r);
/* Makes target i of r the remote node `node` (<= KV_NODE_ID_BYTES_MAX bytes), pending. */
void coord_req_target_init(struct coord_req *r, uint32_t i, struct kv_slice node);
/* The target of r that is node `from` and still pending, or NULL. */
struct coord_target *coord_req_target(struct coord_req *r, const char *from);
/* Resolves the key's replicas and plans the request. KV_EUNAVAIL without
 * a ring or with this node not in it; KV_ESTATE if Q differs. */
int coord_route(struct coord *c, struct kv_slice key, bool primary_only, struct coord_route *out) KV_MUST_USE;
const char *coord_route_node(const struct coord_route *rt, uint32_t pref);
/* Copies the plan's targets into r (node ids, hint_for, local flag). */
void coord_req_set_targets(struct coord_req *r, const struct coord_route *rt);
/* Sends m to node; a request (not a reply) that left starts a wait in
 * c->watch. Nonzero: the send was refused (nothing left this node). */
int coord_try_send(struct coord *c, const char *node, const struct coord_msg *m);
/* coord_try_send for a message whose loss the request's deadline covers. */
void coord_send(struct coord *c, const char *node, const struct coord_msg *m);
/* Whether a FORWARD (from, req_id) was served already; records it if not.
 * KV_ENOMEM leaves it unrecorded (then it is served: a lost duplicate
 * check is rarer than a refused write would be harmful). */
bool coord_forward_seen(struct coord *c, const char *from, uint64_t req_id);
/* Runs deadlines due at now. */
void coord_reqs_expire(struct coord *c, uint64_t now);
uint64_t coord_reqs_next_ms(const struct coord *c);

/* ---- coord_read.c ---- */
void coord_read_start(struct coord *c, struct kv_slice key, const struct coord_options *o, bool is_ttl,
                      union coord_cb cb, void *arg);
void coord_read_reply(struct coord *c, struct coord_req *r, const char *from, const struct coord_msg *m);
void coord_read_deadline(struct coord *c, struct coord_req *r);

/* ---- coord_write.c ---- */
/* Starts a write in cluster mode. relay_node != NULL: it was forwarded by
 * that node (under relay_req_id) and its outcome goes back there. */
void coord_write_start(struct coord *c, const struct coord_write *w, const struct coord_options *o,
                       union coord_cb cb, void *arg, const char *relay_node, uint64_t relay_req_id);
void coord_write_reply(struct coord *c, struct coord_req *r, const char *from, const struct coord_msg *m);
void coord_forward_reply(struct coord *c, struct coord_req *r, const char *from, const struct coord_msg *m);
void coord_write_deadline(struct coord *c, struct coord_req *r);

/* ---- coord_replica.c ---- */
void coord_replica_get(struct coord *c, const char *from, const struct coord_msg *m);
void coord_replica_put(struct coord *c, const char *from, const struct coord_msg *m);
/* Merges an encoded object into the local DATA object of key (stores only if it changes). */
int coord_merge_store(struct coord *c, struct kv_slice key, struct kv_slice object) KV_MUST_USE;
/* Merges an encoded object into the hint for (target, partition, key).
 * KV_ENOSPC (nothing written) if that would take stats.hints_bytes past
 * hints_bytes_max; a merge that does not grow the hint always goes. */
int coord_hint_store(struct coord *c, const char *target, uint32_t partition, struct kv_slice key,
                     struct kv_slice object) KV_MUST_USE;

/* ---- coord_hints.c ---- */
int coord_hints_init(struct coord *c, const struct coord_config *cfg) KV_MUST_USE;
void coord_hints_free(struct coord *c);
/* A hint of `bytes` (key + record) was deleted: frees its share of the cap. */
void coord_hints_removed(struct coord *c, uint64_t bytes);
/* ---- coord_purge.c ---- */
/* Whether the tombstone write just stored (c->new) can be tracked for a
 * purge mark: purge on, every target of r a primary, all N of them. Sets
 * r->purge_dot_counter. */
bool coord_purge_trackable(struct coord *c, struct coord_req *r, const struct coord_route *rt);
/* Every target acked r's tombstone: PURGE_MARK to each (itself directly). */
void coord_purge_marks_send(struct coord *c, struct coord_req *r);
/* A PURGE_MARK from a coordinator (or this node): records a marker. */
int coord_purge_mark(struct coord *c, const struct coord_msg *m);
void coord_purge_tick(struct coord *c, uint64_t now);
uint64_t coord_purge_next_ms(const struct coord *c);
/* Cluster with purge on and key absent here: seeds c->old's clock with
 * this actor at the wall clock (see coord_purge.c, "Dots after a purge"). */
int coord_purge_seed_clock(struct coord *c);

void coord_hints_tick(struct coord *c, uint64_t now);
uint64_t coord_hints_next_ms(const struct coord *c);
void coord_hint_reply(struct coord *c, struct coord_req *r, const char *from, const struct coord_msg *m);
void coord_hint_deadline(struct coord *c, struct coord_req *r);

#endif
