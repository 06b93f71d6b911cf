/*
 * coord.h - the request entry points of a ringkv node.
 *
 * Every client request (native protocol, RESP) goes through these
 * functions. Standalone (no cluster ops in the config) they read and
 * write the node's own engine. In cluster mode the same functions run
 * Dynamo quorum requests: see "Cluster mode" below and coordinator/README.md.
 *
 * Asynchronous contract. Each request function takes a completion callback
 * and its `arg`. The callback is called EXACTLY ONCE per call, with a
 * result whose `status` is KV_OK or a KV_E* code, unless the coord is
 * freed first (coord_free drops requests in flight without calling them).
 * Standalone, and in a cluster when this node is the key's only replica,
 * the callback is called before the request function returns; otherwise
 * later, from coord_handle_message or coord_tick. Callers must handle
 * both (do not touch state after the call that the callback may have
 * freed). The request functions return nothing: every outcome, including
 * invalid arguments, is reported through the callback. A callback may
 * start new requests but must not call coord_handle_message, coord_tick
 * or coord_free.
 *
 * Result lifetime. Everything a result points to (values, contexts) is
 * owned by the coordinator and valid only while the callback runs; copy
 * what you keep. The callback may start new coord requests, but the
 * result it was given is invalid from then on.
 *
 * Versions. A key holds a set of sibling values under a dotted version
 * vector (coordinator/dvv.h, coordinator/object.h). A get returns every
 * visible sibling plus one opaque context (bytes; hand them back
 * unchanged). A put or delete with that context supersedes exactly what
 * the client saw: writers that used the same context concurrently become
 * siblings, and a later put with the context of a get that returned both
 * resolves them. A put or delete with an EMPTY context (length 0, as RESP
 * SET/DEL send) is a BLIND OVERWRITE: it supersedes everything this node
 * holds for the key. A get of a missing key returns a non-empty context
 * meaning "I saw nothing"; a put with it adds a sibling to whatever a
 * concurrent writer stored instead of overwriting it. In a cluster every
 * write is applied by a primary replica of its key (this node, or the
 * first live primary it forwards to): "this node" above is that primary,
 * whose copy may lag the other replicas (values it missed then stay as
 * siblings), and NX/XX conditions, EXPIRE, PERSIST and the value INCR
 * returns are judged on its copy too.
 *
 * Deletes write a tombstone sibling (invisible to reads). In a cluster a
 * tombstone is purged only once every primary replica is known to hold it
 * and it is older than cfg.tombstone_grace_ms (coordinator/coord_purge.c;
 * 0: never); standalone, and in coord_compaction_filter, never.
 *
 * TTL. A value may carry an absolute expiry (wall-clock ms from the
 * struct kv_clock given in the config). Expired values read as absent at
 * once and are removed from disk by coord_compaction_filter.
 *
 * Counters. coord_incr keeps a PN-counter (coordinator/object.h) that
 * converges across replicas without losing or double-counting
 * increments. INCR on a key holding a decimal integer string converts it
 * to a counter, as Redis users expect; a get of a counter returns its
 * value as a decimal string (coord_value.counter is true).
 *
 * Threading: a struct coord is used by one thread (the node's event loop
 * thread); it keeps reusable buffers so a request does not allocate. The
 * engine may be shared with other threads. coord_compaction_filter is
 * thread-safe (the engine calls it from its background thread).
 *
 * Errors (result.status): KV_EINVAL (bad argument, option or context;
 * INCR of a non-integer), KV_ETOOBIG (key, value, sibling count or object
 * over its limit; counter overflow), KV_EEXIST (IF_ABSENT and the key is
 * visible), KV_ENOTFOUND (IF_EXISTS and the key is not visible), KV_ECORRUPT
 * (stored object unreadable), engine errors (KV_EIO, KV_ENOSPC, ...).
 * In cluster mode also: KV_EUNAVAIL (fewer live replicas than R or W
 * when the request started: nothing was sent or written), KV_EINDOUBT (a
 * write that got fewer than W acknowledgements by its deadline, or lost
 * too many replicas, after it was stored or sent somewhere: it may have
 * been applied; never reported as success or as plain failure),
 * KV_ETIMEDOUT (a read without R replies by its deadline), KV_EBUSY
 * (requests_max requests in flight).
 *
 * Cluster mode. Set cfg.net and cfg.cluster; the node must then:
 *  - provide coord_cluster_ops: ring() returns the newest ring it knows
 *    (gossip/ring.h; N is its n_val; borrowed until the next call into
 *    the coord) and alive(id) whether gossip holds that member up
 *    (alive, suspect or leaving: a suspect still gets writes rather than
 *    a fallback; only dead or unknown members are replaced);
 *  - provide coord_net_ops.send: carry the message (coordinator/coord_msg.h;
 *    coord_msg_to_proto gives its cluster.proto form) to that node id,
 *    best effort, without calling back into the coord; a failed send is a
 *    lost message (the request's deadline handles it);
 *  - call coord_handle_message(c, sender_id, msg, now) for every
 *    ClusterMessage a peer sends (sender_id as authenticated by hello);
 *  - call coord_tick(c, now) at or after coord_next_tick_ms(c) (deadlines,
 *    hint delivery), with now from cfg.clock->mono_ms;
 *  - optionally call coord_peer_up(c, id, now) when gossip sees a member
 *    come back, so hints for it go out at once rather than at the next
 *    scan;
 *  - not install coord_compaction_filter (see there); with
 *    tombstone_grace_ms set, install coord_compaction_filter_grace.
 * Time is read only from cfg.clock (mono_ms for deadlines, wall_ms for
 * TTLs and hint ages) and the `now` arguments; randomness only from a
 * generator seeded with cfg.rand_seed. No sockets, threads or timers.
 */
#ifndef RINGKV_COORDINATOR_COORD_H
#define RINGKV_COORDINATOR_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/slice.h"
#include "common/status.h"
#include "gossip/ring.h"
#include "storage/engine.h"

struct coord;
struct coord_msg;

/* A tombstone is kept at least this long (7 days) before anti-entropy may
 * purge it, so a replica that was down for less cannot resurrect data. */
#define COORD_TOMBSTONE_GRACE_MS (7ull * 24 * 3600 * 1000)
/* kvnode --tombstone-grace-ms default: 24 h (longer than the hint TTL). */
#define COORD_TOMBSTONE_GRACE_MS_NODE (24ull * 3600 * 1000)

/* Largest ttl_ms accepted by put/expire: 100 years, so now + ttl cannot
 * overflow and a typo'd TTL is refused rather than silently wrapped. */
#define COORD_TTL_MS_MAX (100ull * 365 * 24 * 3600 * 1000)

/* Hard bounds on the configurable limits (the config defaults come from
 * common/limits.h). The engine adds the keyspace prefix to a key and the
 * object header to a value, so both must stay under its own maxima. */
#define COORD_KEY_BYTES_LIMIT (ENGINE_KEY_BYTES_MAX - 64u)
#define COORD_VALUE_BYTES_LIMIT (32u * 1024u * 1024u)
#define COORD_SIBLINGS_LIMIT 1024u
#define COORD_PARTITIONS_MAX 65536u  /* partition ids are be16 in engine keys */

/* Cluster defaults. N is the ring's n_val (ring_create; COORD_N_DEFAULT is
 * what a new cluster should use); R and W are per request, these when the
 * request says DEFAULT (clamped to N). */
#define COORD_N_DEFAULT 3u
#define COORD_R_DEFAULT 2u
#define COORD_W_DEFAULT 2u
#define COORD_REQUESTS_LIMIT 65536u              /* request ids keep a 16-bit slot */
#define COORD_REQUESTS_MAX_DEFAULT 16384u        /* in flight, reads still repairing included */
#define COORD_HINT_TTL_MS_DEFAULT (3ull * 3600 * 1000)  /* 3 h */
#define COORD_HINTS_PER_SEC_DEFAULT 200u         /* deliveries started per second */
#define COORD_HINT_DELIVERIES_MAX_DEFAULT 8u     /* deliveries awaiting an ack */
#define COORD_HINT_RETRY_MIN_MS_DEFAULT 1000u    /* backoff after a failed delivery ... */
#define COORD_HINT_RETRY_MAX_MS_DEFAULT 60000u   /* ... doubling up to this */
#define COORD_HINT_TIMEOUT_MS_DEFAULT 5000u      /* a delivery without ack by then failed */

/* What a cluster node provides (see "Cluster mode" above). */
struct coord_net_ops {
    /* Sends msg to node_id, best effort. msg and all it points to are
     * valid during the call only. Must not call into the coord. A return
     * other than KV_OK counts as a lost message. */
    int (*send)(void *ctx, const char *node_id, const struct coord_msg *msg);
    void *ctx;
};

struct coord_cluster_ops {
    /* The newest ring known here, or NULL (requests then fail KV_EUNAVAIL). */
    const struct ring *(*ring)(void *ctx);
    /* Whether gossip holds node_id up (alive, suspect or leaving). Never
     * asked about this node itself. */
    bool (*alive)(void *ctx, const char *node_id);
    void *ctx;
};

/*
 * Write hook (cluster mode; anti-entropy, coordinator/aae.h): wrote() is
 * called after every write of a DATA key this coordinator makes to the
 * engine, once engine_put has returned KV_OK, before the coordinator
 * returns to its caller: coordinated writes, replica writes, read repair
 * received, hint deliveries accepted (and any later DATA write path, e.g.
 * purges, must call coord_note_write, coord_internal.h). old_object is
 * what the engine held just before (len 0: absent), new_object what it
 * holds now (len 0: deleted); both valid during the call only. It must
 * not call into the coord. Standalone batch puts (engine batches) are not
 * reported: the hook is for cluster nodes.
 */
struct coord_write_hook {
    void (*wrote)(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice old_object,
                  struct kv_slice new_object);
    void *ctx;
};

/* How concurrent writes are resolved; a cluster setting (every node must
 * use the same: node/ refuses peers with another, see coordinator/README.md). */
enum coord_conflict_mode {
    COORD_CONFLICT_DVV = 0,     /* causal: concurrent writes become siblings (default) */
    COORD_CONFLICT_LWW,         /* last writer wins: the highest (wall-clock stamp, actor)
                                 * is kept, concurrent writes are DROPPED (and a skewed
                                 * clock decides which) */
};

struct coord_config {
    const char *node_id;        /* this node's id (NUL-terminated, 1..KV_NODE_ID_BYTES_MAX bytes) */
    uint32_t partitions;        /* Q: power of two, 1..COORD_PARTITIONS_MAX; default 256; in a
                                 * cluster it must equal the ring's */
    uint32_t n_replicas;        /* standalone: must be 1 (default). Ignored in cluster mode,
                                 * where N is the ring's n_val */
    uint32_t key_bytes_max;     /* default KV_KEY_BYTES_MAX_DEFAULT; <= COORD_KEY_BYTES_LIMIT */
    uint32_t value_bytes_max;   /* default KV_VALUE_BYTES_MAX_DEFAULT; <= COORD_VALUE_BYTES_LIMIT */
    uint32_t siblings_max;      /* stored values per key; default KV_SIBLINGS_MAX_DEFAULT */
    enum coord_conflict_mode conflict_mode; /* COORD_CONFLICT_DVV */
    const struct kv_clock *clock; /* time source (TTL); NULL: kv_clock_real */
    struct engine *engine;      /* borrowed; must outlive the coord */

    /* Cluster mode: both set (copied), or both NULL for standalone. */
    const struct coord_net_ops *net;
    const struct coord_cluster_ops *cluster;
    uint64_t rand_seed;         /* seeds the coord's generator (request ids, jitter) */
    uint32_t r_default;         /* COORD_R_DEFAULT */
    uint32_t w_default;         /* COORD_W_DEFAULT */
    uint32_t requests_max;      /* COORD_REQUESTS_MAX_DEFAULT; 1..COORD_REQUESTS_LIMIT */
    uint64_t hint_ttl_ms;       /* COORD_HINT_TTL_MS_DEFAULT; hints older than this are dropped */
    uint32_t hints_per_sec;     /* COORD_HINTS_PER_SEC_DEFAULT; >= 1 */
    uint32_t hint_deliveries_max; /* COORD_HINT_DELIVERIES_MAX_DEFAULT; >= 1 */
    uint32_t hint_retry_min_ms; /* COORD_HINT_RETRY_MIN_MS_DEFAULT */
    uint32_t hint_retry_max_ms; /* COORD_HINT_RETRY_MAX_MS_DEFAULT; >= min */
    uint32_t hint_timeout_ms;   /* COORD_HINT_TIMEOUT_MS_DEFAULT */
    uint64_t hints_bytes_max;   /* KV_HINTS_BYTES_MAX_DEFAULT: hint key + record bytes held here;
                                 * a hint that would grow them past it is refused (KV_ENOSPC:
                                 * the coordinator counts that replica as not written); 0: none kept */
    const struct coord_write_hook *write_hook; /* NULL: none; copied (see struct coord_write_hook) */
    /* Cluster: purge tombstones every primary is known to hold once they
     * are this old (coordinator/README.md, "Tombstones and their purge");
     * 0 (the default here; kvnode's default is COORD_TOMBSTONE_GRACE_MS_NODE):
     * never purge. */
    uint64_t tombstone_grace_ms;
};

/* Fills defaults; node_id and engine stay NULL and must be set. */
void coord_config_default(struct coord_config *cfg);

/* Validates cfg and creates a coordinator. KV_EINVAL on a bad config
 * (logged once with the offending field). The strings and objects in cfg
 * are copied or borrowed as documented above. In cluster mode it counts
 * the hints already stored in the engine (O(hints)). */
int coord_new(const struct coord_config *cfg, struct coord **out) KV_MUST_USE;
/* Frees c. Requests still in flight are dropped without their callbacks
 * (a node drains first: coord_get_stats().requests_in_flight == 0). */
void coord_free(struct coord *c);

/* ---- cluster mode: the driver's side (see "Cluster mode" above) ---- */

/* Handles one message from node `from` (its id). Replies and replica
 * writes happen inside, through net.send and the engine; callbacks of
 * requests it completes run inside. KV_EPROTO for a message that cannot
 * be handled (unknown type, malformed object): counted, otherwise
 * ignored. KV_ESTATE in standalone mode. */
int coord_handle_message(struct coord *c, const char *from, const struct coord_msg *msg,
                         uint64_t now_ms) KV_MUST_USE;
/* Runs what is due at now_ms: request deadlines, hint delivery and expiry. */
void coord_tick(struct coord *c, uint64_t now_ms);
/* The earliest time coord_tick has work (UINT64_MAX: none). Calling it
 * earlier or more often is harmless. */
uint64_t coord_next_tick_ms(const struct coord *c);
/* Gossip saw node_id come back: its delivery backoff is cleared and the
 * next tick scans hints at once. */
void coord_peer_up(struct coord *c, const char *node_id, uint64_t now_ms);

/* ---- per-request options ---- */

enum coord_consistency {
    COORD_CONSISTENCY_DEFAULT = 0, /* r_default / w_default (2 of N = 3); 1 standalone */
    COORD_CONSISTENCY_ONE,
    COORD_CONSISTENCY_QUORUM,      /* N/2 + 1 */
    COORD_CONSISTENCY_ALL,
    COORD_CONSISTENCY_EXPLICIT,    /* use `replicas` */
};

/* Options of one read (R) or write (W). A zeroed struct means defaults.
 * EXPLICIT with replicas == 0 or > N is KV_EINVAL. Standalone (N = 1)
 * every level is satisfied by the local engine. */
struct coord_options {
    enum coord_consistency consistency;
    uint32_t replicas;          /* R or W when consistency == EXPLICIT */
    uint32_t timeout_ms;        /* 0: KV_REQUEST_TIMEOUT_MS_DEFAULT */
    bool primary_only;          /* no fallbacks: only the N primaries count
                                 * (strict quorum overlap when R + W > N) */
};

/* ---- results ---- */

struct coord_value {
    struct kv_slice data;       /* the value bytes; a counter as a decimal string */
    uint64_t expires_at_ms;     /* absolute wall-clock expiry, 0 = none */
    bool counter;               /* data is the decimal rendering of a counter */
};

struct coord_get_result {
    int status;                 /* KV_OK also when the key is absent (found == false) */
    bool found;                 /* at least one visible value */
    uint32_t nvalues;           /* visible siblings; 0 when !found */
    const struct coord_value *values;
    struct kv_slice context;    /* opaque; never empty on KV_OK */
};

struct coord_put_result {
    int status;
    struct kv_slice context;    /* context of the object just written (on KV_OK) */
};

struct coord_delete_result {
    int status;
    bool existed;               /* a value was visible before the delete */
};

/* Result of expire and persist: `applied` is what Redis answers 1 for
 * (EXPIRE: the key exists and got the expiry; PERSIST: an expiry was removed). */
struct coord_expire_result {
    int status;
    bool applied;
};

#define COORD_TTL_NONE (-1)     /* the key exists and never expires */
#define COORD_TTL_MISSING (-2)  /* no visible value */
struct coord_ttl_result {
    int status;
    int64_t ttl_ms;             /* ms left (> 0), or COORD_TTL_NONE / COORD_TTL_MISSING */
};

struct coord_incr_result {
    int status;
    int64_t value;              /* counter value after the increment */
};

typedef void (*coord_get_cb)(void *arg, const struct coord_get_result *r);
typedef void (*coord_put_cb)(void *arg, const struct coord_put_result *r);
typedef void (*coord_delete_cb)(void *arg, const struct coord_delete_result *r);
typedef void (*coord_expire_cb)(void *arg, const struct coord_expire_result *r);
typedef void (*coord_ttl_cb)(void *arg, const struct coord_ttl_result *r);
typedef void (*coord_incr_cb)(void *arg, const struct coord_incr_result *r);

/* ---- requests (callback called exactly once, see the top comment) ---- */

/* Reads key: its visible siblings (not expired, not deleted) and the
 * context to pass to a later put/delete. o may be NULL (defaults). */
void coord_get(struct coord *c, struct kv_slice key, const struct coord_options *o,
               coord_get_cb cb, void *arg);

enum coord_condition {
    COORD_PUT_ALWAYS = 0,
    COORD_PUT_IF_ABSENT,        /* Redis NX: KV_EEXIST if a value is visible */
    COORD_PUT_IF_EXISTS,        /* Redis XX: KV_ENOTFOUND if none is visible */
};

struct coord_put_args {
    struct kv_slice key;
    struct kv_slice value;
    struct kv_slice context;    /* from a get; empty = blind overwrite */
    uint64_t ttl_ms;            /* 0 = no expiry (SET clears a previous TTL, as in Redis) */
    enum coord_condition condition;
};

/* Writes value as a new sibling that supersedes what `context` covers.
 * KV_ETOOBIG if key or value is over its limit, or if the write would
 * leave more than siblings_max values (resolve siblings with a context
 * that covers them; nothing is ever dropped silently). */
void coord_put(struct coord *c, const struct coord_put_args *a, const struct coord_options *o,
               coord_put_cb cb, void *arg);

/* Writes a tombstone superseding what `context` covers (empty: blind,
 * everything). Deleting an absent key succeeds with existed == false and
 * writes nothing - except in a cluster with a non-empty context, which
 * may cover values other replicas hold: that tombstone is always written. */
void coord_delete(struct coord *c, struct kv_slice key, struct kv_slice context,
                  const struct coord_options *o, coord_delete_cb cb, void *arg);

/* Sets the expiry of every visible value to now + ttl_ms (a new version
 * superseding the current one; siblings stay siblings). ttl_ms <= 0
 * deletes the key, as Redis EXPIRE does. Absent key: applied == false. */
void coord_expire(struct coord *c, struct kv_slice key, int64_t ttl_ms,
                  const struct coord_options *o, coord_expire_cb cb, void *arg);

/* Removes the expiry of every visible value. applied == true only if
 * some visible value had one. */
void coord_persist(struct coord *c, struct kv_slice key, const struct coord_options *o,
                   coord_expire_cb cb, void *arg);

/* Time to live of key: the longest-living visible sibling decides. */
void coord_ttl(struct coord *c, struct kv_slice key, const struct coord_options *o,
               coord_ttl_cb cb, void *arg);

/* Adds delta to the counter at key and returns its new value. An absent
 * key counts from 0. A key whose visible values are counters or decimal
 * integer strings (optional '-', no spaces, fits int64) is converted to
 * a counter holding their merged value; anything else is KV_EINVAL
 * ("value is not an integer"). A result outside int64 is KV_ETOOBIG
 * ("increment or decrement would overflow") and nothing is written.
 * The expiry of the key is kept. */
void coord_incr(struct coord *c, struct kv_slice key, int64_t delta,
                const struct coord_options *o, coord_incr_cb cb, void *arg);

/* ---- batches (at most KV_BATCH_KEYS_MAX keys) ----
 * Batch requests are not atomic: each key succeeds or fails on its own
 * (r->items[i].status); r->status is KV_OK unless the whole batch was
 * refused (too many keys, bad options). Items come back in request order;
 * a key may appear several times (later items see earlier ones). */

struct coord_batch_get_result {
    int status;
    uint32_t nitems;
    const struct coord_get_result *items;
};
typedef void (*coord_batch_get_cb)(void *arg, const struct coord_batch_get_result *r);
void coord_batch_get(struct coord *c, const struct kv_slice *keys, uint32_t nkeys,
                     const struct coord_options *o, coord_batch_get_cb cb, void *arg);

struct coord_batch_put_result {
    int status;
    uint32_t nitems;
    const struct coord_put_result *items;
};
typedef void (*coord_batch_put_cb)(void *arg, const struct coord_batch_put_result *r);
void coord_batch_put(struct coord *c, const struct coord_put_args *items, uint32_t nitems,
                     const struct coord_options *o, coord_batch_put_cb cb, void *arg);

/* ---- metrics (synchronous; counts since coord_new) ---- */

struct coord_stats {
    uint64_t gets;              /* coord_get calls + keys of batch gets */
    uint64_t puts;              /* coord_put calls + items of batch puts */
    uint64_t deletes;
    uint64_t incrs;
    uint64_t expires;           /* expire + persist calls */
    uint64_t ttls;
    uint64_t not_found;         /* reads that found no visible value */
    uint64_t siblings_created;  /* writes that left more than one visible value */
    uint64_t errors;            /* requests (or batch items) that failed; unmet NX/XX
                                 * conditions (KV_EEXIST, KV_ENOTFOUND) are not errors */
    /* cluster mode */
    uint64_t unavailable;       /* requests refused KV_EUNAVAIL (nothing sent) */
    uint64_t indoubt;           /* writes answered KV_EINDOUBT */
    uint64_t read_timeouts;     /* reads answered KV_ETIMEDOUT */
    uint64_t forwarded;         /* writes sent to a primary to coordinate */
    uint64_t forwards_served;   /* writes coordinated here for another node */
    uint64_t forward_retries;   /* forwards sent on to another primary after an attempt
                                 * got no answer in time (coord_write.c) */
    uint64_t read_repairs;      /* stale replicas sent the merged object after a read */
    uint64_t replica_gets;      /* replica reads served for coordinators */
    uint64_t replica_puts;      /* replica writes merged here (hint deliveries included) */
    uint64_t replica_errors;    /* replica requests answered with an error */
    uint64_t replica_timeouts;  /* replica (or forward, hint) requests still unanswered when
                                 * their request's deadline passed */
    uint64_t bad_messages;      /* messages refused KV_EPROTO */
    uint64_t requests_in_flight;
    uint64_t hints_stored;      /* writes kept here as a hint for a down node */
    uint64_t hints_delivered;   /* hints acknowledged by their owner and deleted */
    uint64_t hints_expired;     /* hints dropped undelivered after hint_ttl_ms */
    uint64_t hints_pending;     /* hint keys stored here now */
    uint64_t hint_failures;     /* delivery attempts that failed or timed out */
    uint64_t hints_bytes;       /* hint key + record bytes stored here now (vs hints_bytes_max) */
    uint64_t hints_refused;     /* hint writes refused KV_ENOSPC: hints_bytes_max reached */
    uint64_t purge_marks;       /* tombstones marked here as held by every primary */
    uint64_t tombstones_purged; /* marked tombstones deleted here after the grace period */
};
void coord_get_stats(const struct coord *c, struct coord_stats *out);

/* Ownership handoff (coordinator/handoff.h): merges `object` into this
 * node's copy of key, causally (object_merge, like a replica write: never
 * a blind overwrite), durably, calling the write hook when it changes
 * anything. KV_OK, KV_EINVAL (bad key), KV_ECORRUPT (bad object), engine
 * errors. Synchronous; cluster mode or standalone. */
int coord_merge_local(struct coord *c, struct kv_slice key, struct kv_slice object) KV_MUST_USE;

/* Hinted handoff per target node (kvctl hints): what this node holds for
 * it now (read from the engine's HINT range) and what became of the hints
 * it held since coord_new. */
struct coord_hint_target {
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
    uint64_t held;              /* hint keys held for it now */
    uint64_t bytes;             /* their engine key + record bytes */
    uint64_t oldest_age_ms;     /* wall-clock age of the oldest held; 0 when none */
    uint64_t delivered;
    uint64_t expired;
    uint64_t failed;            /* delivery attempts */
};
/* Fills out[0..cap) with one entry per target that has hints held or
 * counted, sorted by node id, and *n_out with their number (targets past
 * cap are left out: *n_out <= cap). Scans every hint key: O(hints held).
 * KV_OK, or the engine's error (nothing written). */
int coord_hint_report(struct coord *c, struct coord_hint_target *out, size_t cap, size_t *n_out) KV_MUST_USE;

/* ---- per-replica inspection (kvctl local-get; coordinator/coord_inspect.c) ----
 * What THIS node's engine holds for one key, without asking any other
 * node: its own replica (the DATA object of the key's partition) and any
 * hint copies it keeps for other nodes. Everything is shown, tombstones
 * and expired values included, so a test can check that a replica holds
 * a write (or its tombstone). */
struct coord_local_sibling {
    struct kv_slice value;      /* register bytes; a counter as a decimal string; empty for a tombstone */
    uint64_t expires_at_ms;     /* wall clock; 0 = never */
    bool tombstone;
    bool counter;
    bool expired;               /* expires_at_ms has passed (the value reads as absent) */
    bool has_dot;               /* false for an anonymous value */
    uint64_t dot_actor, dot_counter;
    uint64_t stamp_ms;          /* last-writer-wins stamp; 0 = none */
};
struct coord_local_clock_entry {
    uint64_t actor;             /* a coordinator's actor id (XXH64 of its node id) */
    uint64_t counter;           /* its events 1..counter are covered */
    bool self;                  /* the actor is this node */
};
struct coord_local_copy {
    struct kv_slice hint_for;   /* empty: this node's own replica; else the node this hint is for */
    uint64_t hint_stored_at_ms; /* hints: wall-clock time it was stored */
    uint64_t object_bytes;      /* encoded object size */
    uint32_t nsiblings;         /* every stored sibling, tombstones and expired ones too */
    const struct coord_local_sibling *siblings;
    uint32_t nclock;
    const struct coord_local_clock_entry *clock;
};
/* Called once per copy found; the copy and all it points to are valid
 * during the call only. A return other than KV_OK stops the walk and is
 * returned by coord_local_inspect. */
typedef int (*coord_local_copy_fn)(void *arg, const struct coord_local_copy *copy);
/* Walks the copies of key held here: the own replica first (if any), then
 * hints by target id. *partition_out = the key's partition. KV_OK (also
 * when nothing is held), KV_ETOOBIG for an over-long key, KV_ECORRUPT for
 * an unreadable object, an engine error, or fn's error. Cost: one engine
 * get plus one seek and one get per hint target. */
int coord_local_inspect(struct coord *c, struct kv_slice key, uint32_t *partition_out,
                        coord_local_copy_fn fn, void *arg) KV_MUST_USE;

/* ---- compaction filter ----
 * Drops an engine entry that is a stored object (keyspace DATA kind)
 * whose every value has expired at clock->wall_ms(): TTL purge on disk.
 * Objects holding a tombstone or a value without expiry are kept, as are
 * keys of other keyspace kinds and undecodable values (never drop what
 * we cannot read). Install it with arg = the struct kv_clock * (must be
 * thread-safe and outlive the engine):
 *     static struct engine_compaction_filter f = { coord_compaction_filter, NULL };
 *     f.arg = (void *)clock;  eo.compaction_filter = &f;
 * Standalone only: in a cluster, a replica that purged an object at once
 * could re-issue dots another replica still holds for it (a later write
 * could then be mistaken for the old one and dropped); cluster nodes use
 * coord_compaction_filter_grace (below) instead. */
enum engine_filter_decision coord_compaction_filter(void *arg, int level, struct kv_slice key,
                                                    struct kv_slice value);

/* The cluster's compaction filter: drops a DATA object only once every
 * value in it expired at least grace_ms ago (tombstones are never dropped
 * here: coord_purge.c purges them). Safe in a cluster because (1) every
 * replica computes the same expiry, so a replica holding the write holds
 * it expired too, and a replica that missed it gets it back from read
 * repair or anti-entropy within the grace period; (2) with
 * tombstone_grace_ms set, the coordinator starts a key it does not hold
 * at a wall-clock dot counter, so no dot of the purged object is reused.
 * Install with arg = a struct coord_ttl_filter (outliving the engine);
 * only with cfg.tombstone_grace_ms > 0. */
struct coord_ttl_filter {
    const struct kv_clock *clock;
    uint64_t grace_ms;
};
enum engine_filter_decision coord_compaction_filter_grace(void *arg, int level, struct kv_slice key,
                                                          struct kv_slice value);

#endif
