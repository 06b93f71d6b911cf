/*
 * coord.h - the request entry points of a ringkv node.
 *
 * Every client request (native protocol, RESP, later node-to-node
 * forwarding) goes through these functions. On one node (N = 1) they read
 * and write the node's own engine; the cluster version (quorum requests)
 * keeps exactly this shape and adds replicas behind it.
 *
 * Asynchronous contract. Each request function takes a completion callback
 * and its `arg`. The callback is called EXACTLY ONCE per call, with a
 * result whose `status` is KV_OK or a KV_E* code. With N = 1 the callback
 * is always called before the request function returns; with N > 1 it
 * will be called later from the event loop. Callers must handle both (do
 * not touch state after the call that the callback may have freed). The
 * request functions return nothing: every outcome, including invalid
 * arguments, is reported through the callback.
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
 * concurrent writer stored instead of overwriting it.
 *
 * Deletes write a tombstone sibling (invisible to reads). Tombstones must
 * outlive a grace period (COORD_TOMBSTONE_GRACE_MS) and, in a cluster,
 * reach every replica before they may be purged; purging them belongs to
 * anti-entropy (a later issue), so for now nothing drops them and
 * coord_compaction_filter keeps every object that holds one.
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
 * Later with N > 1: KV_EUNAVAIL, KV_ETIMEDOUT, KV_EINDOUBT.
 */
#ifndef RINGKV_COORDINATOR_COORD_H
#define RINGKV_COORDINATOR_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/engine.h"

struct coord;

/* A tombstone is kept at least this long (7 days) before anti-entropy may
 * purge it, so a replica that was down for less cannot resurrect data. */
#define COORD_TOMBSTONE_GRACE_MS (7ull * 24 * 3600 * 1000)

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

struct coord_config {
    const char *node_id;        /* this node's id (NUL-terminated, 1..KV_NODE_ID_BYTES_MAX bytes) */
    uint32_t partitions;        /* Q: power of two, 1..COORD_PARTITIONS_MAX; default 256 */
    uint32_t n_replicas;        /* N; must be 1 until the quorum issue; default 1 */
    uint32_t key_bytes_max;     /* default KV_KEY_BYTES_MAX_DEFAULT; <= COORD_KEY_BYTES_LIMIT */
    uint32_t value_bytes_max;   /* default KV_VALUE_BYTES_MAX_DEFAULT; <= COORD_VALUE_BYTES_LIMIT */
    uint32_t siblings_max;      /* stored values per key; default KV_SIBLINGS_MAX_DEFAULT */
    const struct kv_clock *clock; /* time source (TTL); NULL: kv_clock_real */
    struct engine *engine;      /* borrowed; must outlive the coord */
};

/* Fills defaults; node_id and engine stay NULL and must be set. */
void coord_config_default(struct coord_config *cfg);

/* Validates cfg and creates a coordinator. KV_EINVAL on a bad config
 * (logged once with the offending field). The strings and objects in cfg
 * are copied or borrowed as documented above. */
int coord_new(const struct coord_config *cfg, struct coord **out) KV_MUST_USE;
void coord_free(struct coord *c);

/* ---- per-request options ---- */

enum coord_consistency {
    COORD_CONSISTENCY_DEFAULT = 0, /* R/W defaults of the cluster (2 of 3 later; 1 of 1 now) */
    COORD_CONSISTENCY_ONE,
    COORD_CONSISTENCY_QUORUM,      /* N/2 + 1 */
    COORD_CONSISTENCY_ALL,
    COORD_CONSISTENCY_EXPLICIT,    /* use `replicas` */
};

/* Options of one read (R) or write (W). A zeroed struct means defaults.
 * With N = 1 every level is satisfied by the local engine, but EXPLICIT
 * with replicas == 0 or > N is KV_EINVAL; the fields are kept so the
 * quorum coordinator uses them unchanged. */
struct coord_options {
    enum coord_consistency consistency;
    uint32_t replicas;          /* R or W when consistency == EXPLICIT */
    uint32_t timeout_ms;        /* 0: KV_REQUEST_TIMEOUT_MS_DEFAULT */
    bool primary_only;          /* refuse fallback replicas (sloppy quorum) */
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
 * writes nothing. */
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
};
void coord_get_stats(const struct coord *c, struct coord_stats *out);

/* ---- compaction filter ----
 * Drops an engine entry that is a stored object (keyspace DATA kind)
 * whose every value has expired at clock->wall_ms(): TTL purge on disk.
 * Objects holding a tombstone or a value without expiry are kept, as are
 * keys of other keyspace kinds and undecodable values (never drop what
 * we cannot read). Install it with arg = the struct kv_clock * (must be
 * thread-safe and outlive the engine):
 *     static struct engine_compaction_filter f = { coord_compaction_filter, NULL };
 *     f.arg = (void *)clock;  eo.compaction_filter = &f;
 * In a cluster, purging re-issues dots the replicas may still hold;
 * the quorum issue must gate it like tombstone purge (see coord.c). */
enum engine_filter_decision coord_compaction_filter(void *arg, int level, struct kv_slice key,
                                                    struct kv_slice value);

#endif
