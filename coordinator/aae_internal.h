/*
 * aae_internal.h - state shared by aae.c (lifecycle, trees, schedule,
 * budget, merges), aae_exchange.c (the initiator) and aae_serve.c (the
 * responder). Not part of the public interface (aae.h).
 */
#ifndef RINGKV_COORDINATOR_AAE_INTERNAL_H
#define RINGKV_COORDINATOR_AAE_INTERNAL_H

#include "common/buf.h"
#include "common/clock.h"
#include "coordinator/aae.h"
#include "coordinator/keyspace.h"
#include "coordinator/merkle.h"
#include "coordinator/object.h"

/* Node hashes asked for in one HASHES request: 8,192 * 8 = 64 KiB of reply. */
#define AAE_HASHES_PER_REQ_MAX 8192u
/* Without other work, aae_tick still runs this often to see ring changes. */
#define AAE_IDLE_TICK_MS 1000u
#define AAE_ID_BYTES_MAX KV_NODE_ID_BYTES_MAX

/* Keys and digests in key order; keys live in arena at off. */
struct aae_entry {
    uint32_t off;
    uint32_t len;
    uint64_t digest;
};

struct aae_page {
    struct kv_buf arena;
    struct aae_entry *e;
    uint32_t n;
    uint32_t cap;
};

static inline struct kv_slice aae_page_key(const struct aae_page *p, uint32_t i)
{
    return kv_slice_make(p->arena.data + p->e[i].off, p->e[i].len);
}
void aae_page_reset(struct aae_page *p);
void aae_page_free(struct aae_page *p);
int aae_page_add(struct aae_page *p, struct kv_slice key, uint64_t digest) KV_MUST_USE;

/* A key to push: its index in the local page and what the peer holds. */
struct aae_push {
    uint32_t local;
    bool remote_has;
    uint64_t remote_digest;
    bool send;                  /* in the batch in flight, at push_buf[obj_off..+obj_len) */
    uint32_t obj_off, obj_len;
};

enum aae_phase { AAE_PH_HASHES, AAE_PH_KEYS, AAE_PH_FETCH, AAE_PH_PUSH };

/* One exchange this node initiated (aae_exchange.c). */
struct aae_xchg {
    bool active;
    uint32_t partition;
    char peer[AAE_ID_BYTES_MAX + 1];
    uint64_t started_ms;        /* for aae_partition_synced_since */
    uint64_t xid;
    uint32_t seq;               /* of the request in flight (or last sent) */
    enum aae_phase phase;
    bool in_flight;             /* a request awaits its reply */
    uint64_t deadline_ms;       /* in flight: its timeout; else: when to send */
    uint32_t retries;           /* timeouts of the current request */
    uint32_t busy;              /* KV_EBUSY answers to the current request */
    /* HASHES: nodes of `level` to ask about, asked in chunks */
    uint32_t level;
    uint32_t *nodes, n_nodes, nodes_cap, nodes_off, chunk;
    uint32_t *diff, n_diff, diff_cap; /* differing nodes of `level` so far */
    uint32_t *segs, n_segs, segs_cap; /* differing segments */
    /* KEYS: the current page covers (cursor, end] */
    struct kv_buf cursor;
    bool has_cursor;
    struct aae_page local, remote;
    bool local_complete;        /* our scan reached the partition's end */
    struct kv_buf local_last;   /* else the last key it read */
    bool end_open;              /* the page runs to the partition's end */
    struct kv_buf end;          /* else its last key */
    uint32_t *fetch, n_fetch, fetch_cap, fetch_off, fetch_end; /* remote page indexes */
    struct aae_push *push;
    uint32_t n_push, push_cap, push_off, push_end;
    struct kv_buf push_buf;     /* objects of the push in flight */
    bool final_check;           /* the closing root comparison after the keys */
    /* accounting */
    uint64_t bytes_sent, bytes_received, keys_repaired;
};

struct aae_peer {
    char id[AAE_ID_BYTES_MAX + 1];
    bool initiator;             /* this node's id is smaller: it starts the exchanges */
    bool forced;                /* aae_repair asked for one */
    uint64_t due_ms;
    uint64_t synced_ms;         /* start of the last exchange from here that ended KV_OK; 0: none */
};

struct aae_part {
    struct merkle *tree;        /* NULL when not held */
    struct aae_peer *peers;
    uint32_t n_peers;
    bool exchanging;
    bool needs_build;           /* a rebuild is wanted (tree not trusted) */
    uint64_t build_after_ms;    /* after a failed build */
    uint64_t verify_due_ms;
    bool verifying;
    struct aae_partition_status st; /* history fields; the rest filled on query */
};

struct aae {
    char node_id[AAE_ID_BYTES_MAX + 1];
    struct aae_config cfg;
    struct keyspace ks;
    struct kv_rand rng;
    struct aae_part **parts;    /* Q entries, allocated when first held */
    const struct ring *ring_seen;
    uint64_t ring_version;
    bool ring_known;
    struct aae_xchg *x;         /* exchanges_max slots */
    uint32_t sched_cursor;      /* round-robin start of the pair scan */
    uint32_t build_part;        /* partition being built, or UINT32_MAX */
    uint64_t build_next_ms;
    int64_t tokens;             /* byte budget; may go negative (debt) */
    uint64_t refill_ms;
    bool refill_known;
    /* scratch, reused by every request (one thread) */
    struct aae_msg out;
    struct kv_buf ekey, stored, merged, arena;
    struct object lobj, robj, mobj;
    uint64_t *hashes;
    uint32_t hashes_cap;
    struct aae_item *items;
    uint32_t items_cap;
    size_t *offs;
    uint32_t offs_cap;
    struct aae_page page;
    struct aae_stats stats;
};

/* ---- aae.c ---- */
/* The tree of a held partition, or NULL. */
struct merkle *aae_tree(const struct aae *a, uint32_t partition);
/* Its tree describes the engine: built, and no rebuild wanted. Only then
 * may it start exchanges or answer HASHES. */
bool aae_tree_ready(const struct aae *a, uint32_t partition);
/* Byte budget: charges bytes; tells whether a request may be sent now and
 * if not, how long until it may. */
void aae_budget_charge(struct aae *a, uint64_t bytes, uint64_t now_ms);
bool aae_budget_ok(struct aae *a, uint64_t now_ms);
uint64_t aae_budget_wait_ms(const struct aae *a);
/* Sends m to node, counting its bytes (budget and stats). */
void aae_send(struct aae *a, const char *node, const struct aae_msg *m, uint64_t now_ms, uint64_t *bytes_out);
/* Merges the received object into the local one of key and stores the
 * result through ops.write if it changed (*changed_out), updating the
 * tree. KV_ECORRUPT if object does not decode (counted, logged). */
int aae_merge_in(struct aae *a, uint32_t partition, struct kv_slice key, struct kv_slice object,
                 bool *changed_out) KV_MUST_USE;
/* Reads the local object of key into a->stored; *found_out false if absent. */
int aae_read_local(struct aae *a, uint32_t partition, struct kv_slice key, bool *found_out) KV_MUST_USE;
int aae_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem) KV_MUST_USE;
/* An exchange of partition with peer ended (called by aae_x_finish): the
 * partition may start another; after a failure the pair is retried after
 * failure_backoff_ms rather than a whole interval. */
void aae_exchange_ended(struct aae *a, uint32_t partition, const char *peer, int status, uint64_t started_ms,
                        uint64_t now_ms);

/* ---- aae_exchange.c ---- */
int aae_x_start(struct aae *a, struct aae_xchg *x, uint32_t partition, const char *peer, uint64_t now_ms) KV_MUST_USE;
void aae_x_tick(struct aae *a, struct aae_xchg *x, uint64_t now_ms);
void aae_x_reply(struct aae *a, struct aae_xchg *x, const struct aae_msg *m, uint64_t now_ms);
/* Ends x with status (recorded in its partition's status). */
void aae_x_finish(struct aae *a, struct aae_xchg *x, int status, uint64_t now_ms);
void aae_x_free(struct aae_xchg *x);

/* ---- aae_serve.c ---- */
void aae_serve(struct aae *a, const char *from, const struct aae_msg *m, uint64_t now_ms);

#endif
