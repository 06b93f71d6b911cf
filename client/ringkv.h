/*
 * ringkv.h - the C client SDK of ringkv (libringkv). The only public header.
 *
 * What it is. A synchronous client for ringkv's native protocol
 * (proto/kv.proto: 4-byte big-endian length + one protobuf Envelope per
 * frame) over TCP, optionally TLS. Each call sends one request (or, for the
 * batch calls, several pipelined requests) and blocks until the answer
 * arrives or its deadline passes. No event loop, no background thread.
 *
 *     struct rkv_client *c;
 *     const char *hosts[] = { "10.0.0.1:7400", "10.0.0.2:7400" };
 *     int rc = rkv_connect(hosts, 2, NULL, &c);          // NULL = defaults
 *     if (rc != RKV_OK) { fprintf(stderr, "%s\n", rkv_strerror(rc)); ... }
 *     rc = rkv_put(c, "k", 1, "v", 1, NULL, NULL, NULL);
 *     struct rkv_get_result *r;
 *     rc = rkv_get(c, "k", 1, NULL, &r);
 *     if (rc == RKV_OK && r->found) use(r->siblings[0].value, r->siblings[0].value_len);
 *     rkv_get_result_free(r);
 *     rkv_close(c);
 *
 * Threading. A struct rkv_client holds one connection and is used by one
 * thread at a time (no locking inside; calls from two threads at once on
 * the same client are a bug). For parallelism make one client per thread.
 * Different clients share nothing and may be used concurrently. Results,
 * contexts and stats returned by a call are independent of the client:
 * they may be kept after rkv_close and freed from any thread.
 *
 * Ownership. Every pointer argument is borrowed for the duration of the
 * call only (the SDK copies what it keeps: host names, the cluster name,
 * TLS paths are read at rkv_connect). Every object the SDK hands out
 * (struct rkv_client, struct rkv_get_result, struct rkv_context, the
 * arrays of batch calls and stats) is owned by the caller and released
 * with the matching *_free / rkv_close function. Out parameters are
 * written only when the call returns RKV_OK, unless a function says
 * otherwise (rkv_batch_put fills its statuses also on RKV_EINDOUBT).
 *
 * Errors. Every call returns RKV_OK (0) or a negative RKV_E* code (the
 * same numbers as the wire protocol's Status). rkv_strerror names a code;
 * rkv_last_error gives the detail of a client's last failure (the node's
 * message, or the socket error of each host tried).
 * Two codes separate what a caller must handle differently after a write:
 *   failed    any code other than RKV_OK and RKV_EINDOUBT: the write was
 *             NOT applied (it never left the client, or the node refused
 *             it, e.g. RKV_EEXIST, RKV_ETOOBIG, RKV_ETIMEDOUT).
 *   in doubt  RKV_EINDOUBT: the request was (at least partly) sent and no
 *             answer came back (deadline passed or the connection broke),
 *             or the node itself timed out after starting to write. The
 *             write may or may not have been applied; read the key to find
 *             out. RKV_EINDOUBT is only ever returned by writes.
 *
 * Retries and failover. A request that provably never left the client
 * (no connection could be made to any host) is retried, after a backoff,
 * for every kind of call. A request that was sent is retried only when it
 * is idempotent: rkv_get, rkv_batch_get, rkv_ttl, rkv_ping, rkv_stats.
 * Writes (put, delete, batch put, expire, persist, incr) are never resent
 * once a byte of them was written: a resent increment could count twice.
 * Backoff before retry k (k = 0, 1, ...) is d/2 + uniform(0, d/2) with
 * d = min(backoff_max_ms, backoff_base_ms * 2^k) ("equal jitter", so that
 * clients restarting together spread out). Retries never extend a call
 * past its timeout. Idempotent calls are also retried when the node answers
 * RKV_EBUSY or RKV_EUNAVAIL (temporary conditions).
 * A client keeps one connection, to the "current" host. When connecting
 * to it fails, the next host of the list is tried (a round visits every
 * host once; hosts that failed in the last RKV_HOST_PENALTY_MS are tried
 * last); the first that accepts becomes current. When every host of a
 * round fails, that counts as one failed attempt.
 *
 * Timeouts. timeout_ms bounds a whole call: connecting, every attempt and
 * every backoff. The node is given a slightly shorter deadline (timeout_ms
 * minus RKV_NODE_DEADLINE_MARGIN_MS, or half of timeout_ms when that is
 * smaller) so that it can answer RKV_ETIMEDOUT / RKV_EINDOUBT from its own
 * knowledge before the client gives up on the connection. When the client
 * gives up it closes the connection (a late answer cannot be matched to a
 * later request) and reconnects on the next call.
 *
 * Routing. Any node can coordinate any request, but a write is applied
 * by a primary replica of its key: a node that is not one forwards it
 * (one more hop). So, unless rkv_options.routing_off is set, the client
 * keeps a copy of the cluster's ring (kv.proto ADMIN_OP_RING_MAP, asked of
 * the current host) and sends each single-key call (get, put, delete,
 * expire, persist, ttl, incr) to a primary replica of its key: the first
 * one gossip holds alive, in preference-list order. If connecting to it
 * fails, or its connection breaks before anything was sent, the next
 * primary is tried, then the hosts given to rkv_connect as above; a write
 * that was sent is never resent (RKV_EINDOUBT as always). The ring is
 * fetched on the first single-key call, again every ring_refresh_ms, and
 * at the next call after a routed node failed (at most every
 * RKV_RING_RETRY_MS; after a failed fetch, not before ring_refresh_ms),
 * from the current host. A node without a ring (standalone, or a cluster not
 * formed yet) or one that does not know the operation turns routing off
 * until the next refresh. Connections to routed-to nodes are opened
 * lazily, one per node, at most route_conns_max (the least recently used
 * is closed to make room). Batch calls, ping, stats and admin go to the
 * current host. Routing changes where requests go, never what they mean:
 * every node answers every request the same way.
 *
 * Limits. RKV_HOSTS_MAX hosts per client; keys and values up to the
 * node's limits (16 KiB keys and 16 MiB values by default; larger ones are
 * answered RKV_ETOOBIG); a frame up to rkv_options.frame_bytes_max.
 * Batch calls split their keys into pipelined requests of at most
 * RKV_BATCH_CHUNK_KEYS keys (and about half a frame of key and value
 * bytes), so n is not limited by the node's batch limit; a chunk whose
 * reply would not fit in one frame fails with RKV_ETOOBIG for its keys
 * (read very large values with rkv_get).
 */
#ifndef RINGKV_CLIENT_RINGKV_H
#define RINGKV_CLIENT_RINGKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RKV_VERSION_STRING "0.1.0"

/* ---- status codes (identical to the wire protocol's Status values) ---- */

#define RKV_OK 0
#define RKV_EIO (-1)        /* an I/O error (socket, file) */
#define RKV_ECORRUPT (-2)   /* data failed a check */
#define RKV_ENOTFOUND (-3)  /* no live value (ttl, expire, persist, put XX) */
#define RKV_EINVAL (-4)     /* malformed argument or option; rejected by the node */
#define RKV_ENOMEM (-5)     /* allocation failed */
#define RKV_ETIMEDOUT (-6)  /* deadline passed; nothing was applied */
#define RKV_EINDOUBT (-7)   /* a write was sent and its outcome is unknown */
#define RKV_EBUSY (-8)      /* a node limit was reached (connections, requests in flight) */
#define RKV_ETOOBIG (-9)    /* over a size limit (key, value, frame, siblings) */
#define RKV_ECLOSED (-10)   /* the connection broke during a read and retries ran out */
#define RKV_EPROTO (-11)    /* protocol error or protocol version refused by the node */
#define RKV_EUNAVAIL (-12)  /* no node reachable, or not enough replicas */
#define RKV_EAUTH (-13)     /* refused: wrong cluster name or credentials */
#define RKV_EEXIST (-14)    /* put NX and the key has a live value */
#define RKV_ENOSPC (-15)    /* the node's disk is full */
#define RKV_ECONFLICT (-16) /* precondition failed */
#define RKV_ESTATE (-17)    /* operation not valid in the node's current state */

/* Short lower-case description of an RKV_* code ("in doubt: ..."). Never NULL;
 * unknown codes give "unknown error". */
const char *rkv_strerror(int code);

/* ---- defaults and limits ---- */

#define RKV_HOSTS_MAX 64
#define RKV_CLUSTER_NAME_DEFAULT "ringkv"
#define RKV_CLUSTER_NAME_BYTES_MAX 64
#define RKV_USER_BYTES_MAX 64        /* node/auth.h AUTH_USER_BYTES_MAX */
#define RKV_PASSWORD_BYTES_MAX 256   /* node/auth.h AUTH_SECRET_BYTES_MAX */
#define RKV_CONNECT_TIMEOUT_MS_DEFAULT 2000u
#define RKV_REQUEST_TIMEOUT_MS_DEFAULT 5000u
#define RKV_RETRIES_DEFAULT 3u
#define RKV_BACKOFF_BASE_MS_DEFAULT 20u
#define RKV_BACKOFF_MAX_MS_DEFAULT 1000u
#define RKV_FRAME_BYTES_MAX_DEFAULT (20u * 1024u * 1024u)
/* A host that failed to connect is tried after the others for this long. */
#define RKV_HOST_PENALTY_MS 2000u
/* The node's deadline is this much shorter than the call's (see Timeouts). */
#define RKV_NODE_DEADLINE_MARGIN_MS 50u
/* Keys (or entries) per pipelined request of rkv_batch_get / rkv_batch_put. */
#define RKV_BATCH_CHUNK_KEYS 512u
/* Requests of one batch call in flight at once. */
#define RKV_BATCH_WINDOW 8u
/* Routing (see Routing): how often the ring is fetched again, the least
 * time between two fetches, and how many routed-to nodes keep a connection. */
#define RKV_RING_REFRESH_MS_DEFAULT 5000u
#define RKV_RING_RETRY_MS 500u
#define RKV_ROUTE_CONNS_MAX_DEFAULT 16u

/* ---- connecting ---- */

/* Options of a client. Initialise with rkv_options_init, then change
 * fields. A zero in a timeout, backoff or size field means its default;
 * `retries` is taken as given (0 = never retry). The strings are copied
 * or read by rkv_connect and may be freed afterwards. */
struct rkv_options {
    const char *cluster_name;     /* NULL: RKV_CLUSTER_NAME_DEFAULT; must match the nodes' */
    uint32_t connect_timeout_ms;  /* one connection attempt: TCP + TLS + hello */
    uint32_t request_timeout_ms;  /* default budget of a call (rkv_request_options.timeout_ms) */
    uint32_t retries;             /* extra attempts after the first (see Retries) */
    uint32_t backoff_base_ms;     /* first backoff step */
    uint32_t backoff_max_ms;      /* backoff cap */
    uint32_t frame_bytes_max;     /* largest frame sent or accepted */
    bool tls;                     /* speak TLS (the nodes run with --tls-cert) */
    const char *tls_ca_file;      /* PEM CAs that sign the nodes; NULL: the system's CAs */
    const char *tls_cert_file;    /* PEM client certificate (nodes with --tls-mutual); or NULL */
    const char *tls_key_file;     /* PEM key of tls_cert_file */
    bool tls_skip_verify;         /* encrypt without checking the node's certificate (tests only) */
    bool routing_off;             /* send every request to the current host (see Routing) */
    uint32_t ring_refresh_ms;     /* fetch the ring again after this long (routing) */
    uint32_t route_conns_max;     /* connections to routed-to nodes kept open (routing) */
    /* Credentials for nodes with --users-file, sent in every connection's
     * Hello (use TLS, or they cross the network in clear). NULL: none; a
     * node with authentication on then refuses the connection (RKV_EAUTH).
     * Copied by rkv_connect; the library never prints them. */
    const char *user;             /* <= RKV_USER_BYTES_MAX bytes */
    const char *password;         /* password or token; <= RKV_PASSWORD_BYTES_MAX bytes */
};

/* Fills o with the defaults above (retries = RKV_RETRIES_DEFAULT, no TLS,
 * routing on). */
void rkv_options_init(struct rkv_options *o);

struct rkv_client;

/*
 * Creates a client for the nodes hosts[0..n) ("host:port", "[v6addr]:port";
 * host names are resolved on each connection attempt) and connects to the
 * first that accepts, exchanging the hello (protocol version, cluster name).
 * opts may be NULL (defaults). Returns RKV_OK and *out (free with
 * rkv_close); RKV_EINVAL (no hosts, more than RKV_HOSTS_MAX, a malformed
 * host or option), RKV_EUNAVAIL (no host could be connected to within the
 * retries), RKV_ETIMEDOUT, RKV_EAUTH (a node belongs to another cluster),
 * RKV_EPROTO (incompatible protocol version), RKV_EIO (TLS files unusable),
 * RKV_ENOMEM. On failure nothing is allocated; *out is untouched.
 */
int rkv_connect(const char *const *hosts, size_t n, const struct rkv_options *opts,
                struct rkv_client **out);

/*
 * The same client without connecting: only the hosts and options are
 * checked (RKV_EINVAL, RKV_EIO for TLS files, RKV_ENOMEM). The first call
 * connects, so its failure carries the detail in rkv_last_error (which
 * host refused, and why); rkv_connect has no client left to report that.
 */
int rkv_open(const char *const *hosts, size_t n, const struct rkv_options *opts,
             struct rkv_client **out);

/* Closes the connection and frees c. NULL is allowed. */
void rkv_close(struct rkv_client *c);

/* Detail of the last failed call of c (one line, no newline), or "" after
 * a success. Valid until the next call on c. Never NULL. */
const char *rkv_last_error(const struct rkv_client *c);

/* "host:port" of the current host (as given to rkv_connect), or NULL when
 * no connection is open. Valid until the next call on c. */
const char *rkv_current_host(const struct rkv_client *c);

/* "host:port" of the node the last call of c was sent to (a routed node,
 * as the ring names it, or a host as given), or NULL before the first.
 * Valid until the next call on c. */
const char *rkv_last_host(const struct rkv_client *c);

/* Version of the ring c routes by; 0 when it is not routing (routing_off,
 * no ring fetched yet, or the node had none). */
uint64_t rkv_ring_version(const struct rkv_client *c);

/* ---- per-request options ---- */

enum rkv_consistency {
    RKV_CONSISTENCY_DEFAULT = 0,  /* the cluster's configured R / W */
    RKV_CONSISTENCY_ONE = 1,      /* one replica */
    RKV_CONSISTENCY_QUORUM = 2,   /* floor(N/2) + 1 replicas */
    RKV_CONSISTENCY_ALL = 3,      /* all N replicas */
};

/* Options of one call; NULL or an all-zero struct means defaults. */
struct rkv_request_options {
    enum rkv_consistency consistency; /* ignored when replicas > 0 */
    uint32_t replicas;     /* explicit R (reads) or W (writes); 0 = use consistency */
    uint32_t timeout_ms;   /* budget of the whole call; 0 = the client's request_timeout_ms */
    bool primary_only;     /* use only the N primary replicas (no sloppy quorum fallbacks) */
};

/* ---- causal contexts ---- */

/*
 * An opaque causal context: what a get saw. Passing it to rkv_put or
 * rkv_delete makes the write supersede exactly the siblings that get
 * returned; writes made concurrently from the same context become
 * siblings. A write without a context (NULL) overwrites whatever the node
 * holds. A get of a missing key also returns a context ("saw nothing").
 * Its bytes may be stored and turned back into a context later.
 */
struct rkv_context;

/* The context's bytes (*len set); valid as long as ctx. */
const void *rkv_context_bytes(const struct rkv_context *ctx, size_t *len);
/* A new context holding a copy of data[0..len) (len >= 1). RKV_OK and *out,
 * RKV_EINVAL for len 0, RKV_ENOMEM. Free with rkv_context_free. */
int rkv_context_from_bytes(const void *data, size_t len, struct rkv_context **out);
/* A copy of ctx that outlives the result it came from. */
int rkv_context_dup(const struct rkv_context *ctx, struct rkv_context **out);
/* NULL is allowed. Do not free a context that belongs to a get result. */
void rkv_context_free(struct rkv_context *ctx);

/* ---- reads ---- */

/* One concurrent value of a key. */
struct rkv_sibling {
    const void *value;       /* value_len bytes, followed by a NUL not counted in value_len */
    size_t value_len;
    uint64_t expires_at_ms;  /* wall-clock expiry in ms since the epoch; 0 = never */
};

/* What rkv_get returns; one allocation, freed by rkv_get_result_free. */
struct rkv_get_result {
    bool found;                          /* false: no live value; nsiblings is 0 */
    size_t nsiblings;                    /* >= 1 when found; > 1 after concurrent writes */
    const struct rkv_sibling *siblings;  /* nsiblings entries, owned by the result */
    const struct rkv_context *context;   /* owned by the result; never NULL */
};

/*
 * Reads key[0..key_len) (key_len >= 1). RKV_OK and *out also when the key
 * is missing (found false: the context still matters, see above). Errors:
 * RKV_EINVAL, RKV_ETOOBIG, RKV_ETIMEDOUT, RKV_EUNAVAIL, RKV_ECLOSED, and
 * whatever the node answers. Idempotent: retried.
 */
int rkv_get(struct rkv_client *c, const void *key, size_t key_len,
            const struct rkv_request_options *o, struct rkv_get_result **out);
/* NULL is allowed. */
void rkv_get_result_free(struct rkv_get_result *r);

struct rkv_key {
    const void *data;
    size_t len;
};

/* One key's outcome in rkv_batch_get. */
struct rkv_batch_get_entry {
    int status;                     /* RKV_OK or the key's error */
    struct rkv_get_result *result;  /* status == RKV_OK; owned by the entry array */
};

/*
 * Reads keys[0..n) (n >= 1) as independent gets with the same options,
 * pipelined in requests of RKV_BATCH_CHUNK_KEYS keys. RKV_OK and *out, an
 * array of n entries in key order (free with rkv_batch_get_free), when
 * every key has an outcome; a key's own failure is in its entry. Other
 * codes: as rkv_get, for the whole call. Idempotent: retried (requests
 * already answered are not sent again).
 */
int rkv_batch_get(struct rkv_client *c, const struct rkv_key *keys, size_t n,
                  const struct rkv_request_options *o, struct rkv_batch_get_entry **out);
/* Frees the array from rkv_batch_get (n as given there). NULL is allowed. */
void rkv_batch_get_free(struct rkv_batch_get_entry *entries, size_t n);

/* Remaining time to live: RKV_OK and *ttl_ms_out = ms until expiry, or
 * RKV_TTL_NONE when the key never expires; RKV_ENOTFOUND when it has no
 * live value. Idempotent: retried. */
#define RKV_TTL_NONE (-1)
int rkv_ttl(struct rkv_client *c, const void *key, size_t key_len,
            const struct rkv_request_options *o, int64_t *ttl_ms_out);

/* ---- writes (never retried once sent; see Errors for RKV_EINDOUBT) ---- */

enum rkv_condition {
    RKV_PUT_ALWAYS = 0,  /* write unconditionally */
    RKV_PUT_NX = 1,      /* only if the key has no live value, else RKV_EEXIST */
    RKV_PUT_XX = 2,      /* only if the key has a live value, else RKV_ENOTFOUND */
};

/* How a put writes; NULL or all-zero: blind write, no expiry, unconditional. */
struct rkv_put_args {
    const struct rkv_context *context;  /* from a get: supersede what it saw; NULL: overwrite */
    uint64_t ttl_ms;                    /* expire this many ms after the write; 0 = never */
    enum rkv_condition condition;
};

/*
 * Writes value[0..value_len) (may be empty) under key. context_out may be
 * NULL; otherwise it receives the context of the value just written (free
 * with rkv_context_free). Errors: RKV_EINDOUBT, RKV_EEXIST / RKV_ENOTFOUND
 * (condition), RKV_ETOOBIG, RKV_EINVAL, RKV_ETIMEDOUT, RKV_EUNAVAIL, ...
 */
int rkv_put(struct rkv_client *c, const void *key, size_t key_len, const void *value,
            size_t value_len, const struct rkv_put_args *args,
            const struct rkv_request_options *o, struct rkv_context **context_out);

/*
 * Deletes key (writes a tombstone). context as for rkv_put (NULL: delete
 * whatever is there). found_out may be NULL; otherwise it says whether the
 * node saw a live value before deleting (best effort). Deleting a missing
 * key is RKV_OK with *found_out false.
 */
int rkv_delete(struct rkv_client *c, const void *key, size_t key_len,
               const struct rkv_context *context, const struct rkv_request_options *o,
               bool *found_out);

/* One entry of rkv_batch_put. */
struct rkv_put_entry {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    struct rkv_put_args args;
};

/*
 * Writes entries[0..n) (n >= 1) as independent puts with the same options
 * (not atomic together), pipelined in requests of RKV_BATCH_CHUNK_KEYS.
 * statuses (n ints, required) receives each entry's outcome; contexts_out
 * (n pointers) may be NULL, else it receives each written entry's context
 * (NULL for failed entries; free each with rkv_context_free). Returns
 * RKV_OK when every entry has a definite status (which may still be an
 * error); RKV_EINDOUBT when some have none: those entries' status is
 * RKV_EINDOUBT, entries never sent have RKV_ETIMEDOUT or RKV_EUNAVAIL
 * (not applied), the rest their definite status. statuses and contexts_out
 * are written on RKV_OK and RKV_EINDOUBT only. Other codes: nothing was
 * sent (RKV_EINVAL, RKV_EUNAVAIL, ...).
 */
int rkv_batch_put(struct rkv_client *c, const struct rkv_put_entry *entries, size_t n,
                  const struct rkv_request_options *o, int *statuses,
                  struct rkv_context **contexts_out);

/* Sets key to expire ttl_ms (>= 1) from now. RKV_ENOTFOUND when the key has
 * no live value (nothing changed). */
int rkv_expire(struct rkv_client *c, const void *key, size_t key_len, uint64_t ttl_ms,
               const struct rkv_request_options *o);

/* Removes key's expiry. RKV_ENOTFOUND when the key has no live value. */
int rkv_persist(struct rkv_client *c, const void *key, size_t key_len,
                const struct rkv_request_options *o);

/* Adds delta to the 64-bit signed counter at key (a missing key counts as
 * 0; a key holding a decimal integer string is converted). value_out (may
 * be NULL) receives the new value. RKV_EINVAL when the key holds something
 * else or the sum overflows. */
int rkv_incr(struct rkv_client *c, const void *key, size_t key_len, int64_t delta,
             const struct rkv_request_options *o, int64_t *value_out);

/* ---- node ---- */

/* Round trip to the current host without touching storage. rtt_us_out
 * (may be NULL) receives the time of the successful attempt. Retried. */
int rkv_ping(struct rkv_client *c, const struct rkv_request_options *o, uint64_t *rtt_us_out);

struct rkv_stat {
    const char *name;   /* dotted lower-case name, e.g. "engine.sst_files" */
    const char *value;  /* as text, mostly a number */
};

/* Statistics of the current host, in the node's stable order: RKV_OK and
 * *out (n_out entries, then one {NULL, NULL}; one allocation, free with
 * rkv_stats_free). Retried. */
int rkv_stats(struct rkv_client *c, const struct rkv_request_options *o,
              struct rkv_stat **out, size_t *n_out);
/* NULL is allowed. */
void rkv_stats_free(struct rkv_stat *stats);

/* ---- cluster administration (what kvctl members, ring, join, leave,
 * remove, plan, commit, clear and hints send; rules in docs/CLUSTER.md) ---- */

enum rkv_admin_op {
    RKV_ADMIN_MEMBERS = 1,  /* the member table as the node sees it */
    RKV_ADMIN_RING = 2,     /* the node's ring: ownership per node, transfers */
    RKV_ADMIN_JOIN = 3,     /* arg = seed HOST:PORT: the node joins that cluster (staged) */
    RKV_ADMIN_LEAVE = 4,    /* stage the node's own leave */
    RKV_ADMIN_REMOVE = 5,   /* arg = node id: stage the removal of a node that is down */
    RKV_ADMIN_PLAN = 6,     /* what the staged changes would move */
    RKV_ADMIN_COMMIT = 7,   /* install the staged changes as the next ring version */
    RKV_ADMIN_CLEAR = 8,    /* drop the staged changes */
    RKV_ADMIN_HINTS = 9,    /* hints the node holds per target node (kvctl hints) */
};

struct rkv_member {
    const char *id;
    const char *addr;          /* advertised HOST:PORT */
    const char *zone;          /* "" = none */
    const char *state;         /* "alive", "suspect", "dead", "leaving" or "left" */
    uint64_t incarnation;
    uint64_t ring_version;     /* newest ring version the member has seen */
    uint32_t partitions;       /* partitions it owns in the answering node's ring */
};

/* One node's part of a ring (or, in a plan: owned = before, owned_after = after). */
struct rkv_ring_share {
    const char *id;
    const char *zone;
    uint32_t owned;            /* partitions it owns now */
    uint32_t owned_after;      /* partitions it owns once the transfers are done */
    uint32_t incoming;         /* partitions in transfer to it */
    uint32_t outgoing;         /* partitions it owns that are in transfer away */
};

struct rkv_ring_info {
    uint64_t version;          /* 0: the node has no ring yet */
    uint32_t partitions;       /* Q */
    uint32_t n_val;            /* N */
    uint32_t in_transfer;      /* partitions with a pending new owner */
    size_t nnodes;
    const struct rkv_ring_share *nodes;  /* by id */
    size_t ntransfers;         /* RING: the partitions in transfer, by partition */
    const struct rkv_partition_move *transfers;
};

struct rkv_ring_change {
    const char *kind;          /* "join", "leave" or "remove" */
    const char *node_id;
};

struct rkv_partition_move {
    uint32_t partition;
    const char *from;
    const char *to;
};

struct rkv_ring_plan {
    uint64_t from_version;     /* 0: the plan creates the cluster's first ring */
    uint64_t to_version;
    size_t nchanges;
    const struct rkv_ring_change *changes;
    size_t nmoves;
    const struct rkv_partition_move *moves;  /* by partition */
    size_t nnodes;
    const struct rkv_ring_share *nodes;
};

/* Hinted handoff on the answering node, for one target node (HINTS). */
struct rkv_hint_target {
    const char *node_id;       /* the replica the hints are meant for */
    uint64_t held;             /* hints held for it now */
    uint64_t bytes;            /* their stored size */
    uint64_t oldest_age_ms;    /* age of the oldest held; 0 when none */
    uint64_t delivered;        /* since the node started: acknowledged by it and deleted */
    uint64_t expired;          /* dropped undelivered after the hint TTL */
    uint64_t failed;           /* delivery attempts that failed or timed out */
};

/* What rkv_admin returns; one object, freed by rkv_admin_result_free. */
struct rkv_admin_result {
    const char *node_id;       /* the node that answered */
    const char *message;       /* one line for people: what happened, what to do next */
    size_t nmembers;
    const struct rkv_member *members;  /* MEMBERS: the answering node first, then by id */
    bool has_ring;
    struct rkv_ring_info ring;         /* RING, COMMIT (the ring installed) */
    bool has_plan;
    struct rkv_ring_plan plan;         /* PLAN, COMMIT; JOIN, LEAVE, REMOVE, CLEAR (what is
                                        * staged; moves only when computable yet) */
    bool has_hints;                    /* HINTS */
    uint64_t hints_stored;             /* writes kept as hints since the node started */
    uint64_t hints_held;               /* hints held now, all targets */
    size_t nhint_targets;
    const struct rkv_hint_target *hint_targets;  /* by node id */
};

/*
 * Runs one admin operation on the current host (use a client with one
 * host: the operations act on the node that answers). arg: the seed for
 * RKV_ADMIN_JOIN, the node id for RKV_ADMIN_REMOVE, NULL otherwise.
 * RKV_OK and *out; the node's refusals: RKV_EINVAL (bad argument),
 * RKV_ESTATE (not possible now: nothing staged, a node that is alive,
 * ...; rkv_last_error says why). MEMBERS, RING, PLAN and HINTS are
 * retried like reads; the others are not resent once sent.
 */
int rkv_admin(struct rkv_client *c, enum rkv_admin_op op, const char *arg,
              const struct rkv_request_options *o, struct rkv_admin_result **out);
/* NULL is allowed. */
void rkv_admin_result_free(struct rkv_admin_result *r);

/* ---- per-replica inspection (kvctl local-get) ----
 * What ONE node's own storage holds for a key: its replica (if it is one)
 * and any hint copies it keeps for other nodes, every stored sibling
 * included (tombstones, expired values). No other node is asked and
 * nothing is merged: tests and operators use it to check that each
 * replica holds a write. */

struct rkv_local_sibling {
    const void *value;         /* register bytes; a counter as decimal text; empty for a tombstone */
    size_t value_len;
    uint64_t expires_at_ms;    /* wall clock; 0 = never */
    bool tombstone;
    bool counter;
    bool expired;              /* past its expiry: reads as absent */
    uint64_t dot_actor;        /* the write that made it; 0, 0: anonymous */
    uint64_t dot_counter;
    uint64_t stamp_ms;         /* last-writer-wins mode: the write's wall-clock stamp; 0 = none */
};

struct rkv_local_clock_entry {
    uint64_t actor;            /* XXH64 of a coordinating node's id */
    uint64_t counter;          /* its writes 1..counter are covered */
    bool self;                 /* the answering node */
};

struct rkv_local_copy {
    const char *hint_for;      /* "": the node's own replica; else the node a hint is kept for */
    uint64_t hint_stored_at_ms;
    uint64_t object_bytes;
    size_t nsiblings;
    const struct rkv_local_sibling *siblings;
    size_t nclock;
    const struct rkv_local_clock_entry *clock;
};

struct rkv_local_object {
    const char *node_id;       /* the node that answered */
    const char *message;       /* one line for people */
    uint32_t partition;        /* the key's partition */
    bool held;                 /* the node's own replica exists (copies[0]) */
    size_t live;               /* visible siblings of the own replica */
    bool tombstone;            /* the own replica holds a tombstone */
    size_t ncopies;
    const struct rkv_local_copy *copies;  /* own replica first, then hints by target */
};

/* Asks the current host (use a client with one host) what it stores for
 * key (a NUL-terminated string, as kvctl passes it). RKV_OK and *out
 * (also when the node holds nothing: held == false, ncopies == 0). Retried
 * like a read. */
int rkv_admin_local_get(struct rkv_client *c, const char *key, const struct rkv_request_options *o,
                        struct rkv_local_object **out);
/* NULL is allowed. */
void rkv_local_object_free(struct rkv_local_object *obj);

/* ---- anti-entropy (what kvctl repair and kvctl aae-status send; the
 * node's Merkle-tree exchanges, docs/ARCHITECTURE.md) ---- */

/* One partition the node holds a replica (and a tree) of. Ages are ms
 * before the answer; 0 means never. */
struct rkv_aae_partition {
    uint32_t partition;
    bool ready;                /* tree built: exchanges may run */
    bool building;             /* a rebuild or self-check is scanning storage */
    uint64_t keys;             /* keys in the tree */
    size_t npeers;
    const char *const *peers;  /* the partition's other primary replicas */
    uint64_t exchanges;        /* exchanges started here that finished */
    uint64_t last_exchange_age_ms;
    const char *last_peer;     /* "" before the first */
    int last_status;           /* RKV_OK or the error the last one ended with */
    uint64_t keys_repaired;    /* keys changed here or at peers by exchanges from here */
    uint64_t synced_age_ms;    /* every peer completed an exchange from here since; 0: not yet */
    uint64_t next_exchange_in_ms;
};

struct rkv_aae_status {
    const char *node_id;       /* the node that answered */
    const char *message;       /* one line for people */
    uint32_t repairs_scheduled;/* rkv_aae_repair: (partition, peer) exchanges forced */
    uint64_t trees, trees_ready, tree_bytes;
    uint64_t exchanges_started, exchanges_in_sync, exchanges_repaired, exchanges_failed, exchanges_active;
    uint64_t keys_repaired;    /* objects changed on this node by merges */
    uint64_t keys_repaired_remote; /* objects peers changed because of this node's pushes */
    uint64_t bytes_sent, bytes_received;
    uint64_t builds, verify_mismatches;
    size_t npartitions;        /* rkv_aae_status only: held partitions, by number */
    const struct rkv_aae_partition *partitions;
};

/* The anti-entropy state of the current host. RKV_OK and *out; RKV_ESTATE
 * when the node runs without it (standalone, or --aae off). Retried. */
int rkv_aae_status(struct rkv_client *c, const struct rkv_request_options *o, struct rkv_aae_status **out);
/* Forces exchanges from the current host now: target NULL or "" = every
 * partition it holds, a decimal partition number, or a node id (its
 * partitions shared with that node). RKV_OK and *out (totals and
 * repairs_scheduled); RKV_EINVAL (partition out of range), RKV_ENOTFOUND
 * (nothing matched), RKV_ESTATE (no anti-entropy). Retried (forcing twice
 * is harmless). */
int rkv_aae_repair(struct rkv_client *c, const char *target, const struct rkv_request_options *o,
                   struct rkv_aae_status **out);
/* NULL is allowed. */
void rkv_aae_status_free(struct rkv_aae_status *s);

/* ---- ownership handoff (what kvctl transfers sends; docs/CLUSTER.md) ---- */

/* One stream the answering node sends after a ring change: the keys of
 * partition `range` to node `to`, for the transfer of ring partition
 * `partition`. */
struct rkv_transfer {
    uint32_t partition;
    uint32_t range;
    const char *from;          /* the answering node */
    const char *to;
    bool active;               /* sending now */
    bool done;                 /* every key sent and acknowledged */
    uint64_t keys_sent, bytes_sent;
    uint64_t keys_total, bytes_total;  /* counted when the stream started; 0: not started */
    uint64_t rate_bytes_per_sec;       /* since this run of the stream started; 0: unknown */
};

struct rkv_transfers {
    const char *node_id;       /* the node that answered */
    uint64_t streams_planned, streams_active, streams_completed, partitions_completed;
    uint64_t keys_sent, bytes_sent, keys_received, bytes_received, forwards_sent;
    uint64_t bytes_per_sec;    /* the node's streaming budget */
    size_t nstreams;
    const struct rkv_transfer *streams;
};

/* The handoff streams the current host sends in its ring's plan, and its
 * totals. RKV_OK and *out. Retried like a read. */
int rkv_transfers(struct rkv_client *c, const struct rkv_request_options *o, struct rkv_transfers **out);
/* NULL is allowed. */
void rkv_transfers_free(struct rkv_transfers *t);

#ifdef __cplusplus
}
#endif

#endif
