/*
 * handoff.h - ownership handoff: moving partitions' data after a
 * committed ring change (gossip/ring.h), as a sans-I/O state machine.
 *
 * A committed ring keeps the old owner of each moving partition p and
 * records the new one as pending (ring_pending). Finishing p
 * (ring_transfer_done) changes owner[p], which changes the preference
 * lists of p and of the partitions just before it. Before that may
 * happen, every node that the change adds to the first N of a preference
 * list must hold that list's key range. So for the ring R now and
 * R' = R with p done, each pending p needs the streams
 *
 *     (p, range q, to)   for every q and every `to` in pref_N(q, R') \ pref_N(q, R)
 *
 * ("to gains q"). Each stream has one source: owner[p] when it is in
 * pref_N(q, R) and still in the member set or alive, else the first live
 * node of pref_N(q, R). The completer of p is its pending new owner.
 * Every node computes the same plan from the same ring.
 *
 * Message flow (one stream; many run at once, at most transfers_max per
 * source, all within one bytes-per-second budget per source):
 *
 *   source                                   receiver (`to`)
 *     BATCH(p, q, items, last) ----------->   merges each object causally
 *                                             (ops.merge: never overwrites)
 *     <------------------------- BATCH_REPLY(status)
 *     cursor = last key of the batch (saved); next batch from the cursor
 *     ...                                     BATCH(last = true) acked:
 *     DONE(p, q, to) ---------------------->  completer of p (resent every
 *                                             HANDOFF_NOTICE_RETRY_MS until
 *                                             the ring shows p finished)
 *   completer: every stream of p done -> ops.transfer_done(p): the node
 *   installs ring_transfer_done(ring, p) as the next version and gossip
 *   spreads it like any ring.
 *
 * Each batch reads a fresh engine snapshot from the cursor on, so a key
 * written before the batch is in it. Writes during the move: every
 * holder of q (a node in pref_N(q, R)) that stores a write of q also
 * sends it as FORWARD to each node gaining q (handoff_note_write, from
 * the coordinator's write hook), so a key the cursor has passed is not
 * lost. Receivers merge causally, so duplicates, reordering and a stream
 * racing a forward are harmless.
 *
 * Crashes. A source saves (ops.save) every stream's cursor and counters
 * at most every HANDOFF_SAVE_INTERVAL_MS; on restart it resumes from the
 * saved cursor (at worst resending one interval of keys). A receiver
 * keeps nothing: what it merged is in its engine. A completer saves the
 * DONE facts it holds. A fact or cursor whose stream is no longer in the
 * plan of a newer ring is dropped (the new plan may need it again from
 * the start). Two completers that finish different partitions on the same
 * ring version make two rings of one version; gossip keeps one, and the
 * loser, still holding its facts, finishes its partition again on the
 * winning ring.
 *
 * Dropping. A node keeps the DATA range of q while it is in pref_N(q, R)
 * or gains q. Once the ring has not changed for drop_delay_ms (so a ring
 * that loses a same-version race is not acted on), it asks ops.drop(q)
 * for every range it held under an earlier ring and no longer holds
 * (after a restart: every range it does not hold), and again every
 * HANDOFF_SWEEP_MS (a late stale write may leave an orphan).
 *
 * Threading: one thread (the node's event loop). No sockets, clock or
 * randomness: time comes in the `now_ms` arguments, I/O through ops; the
 * engine (borrowed) is only read, through snapshot iterators.
 */
#ifndef RINGKV_COORDINATOR_HANDOFF_H
#define RINGKV_COORDINATOR_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "common/status.h"
#include "gossip/ring.h"
#include "storage/engine.h"

#define HANDOFF_BYTES_PER_SEC_DEFAULT (16u * 1024u * 1024u) /* per source node */
#define HANDOFF_TRANSFERS_MAX_DEFAULT 2u                    /* streams sending at once per source */
#define HANDOFF_TRANSFERS_LIMIT 64u                         /* bound on transfers_max */
#define HANDOFF_BATCH_BYTES_DEFAULT (128u * 1024u)          /* keys + objects per batch */
#define HANDOFF_BATCH_BYTES_LIMIT (4u * 1024u * 1024u)      /* well under a frame */
#define HANDOFF_BATCH_KEYS_MAX 4096u
#define HANDOFF_BATCH_TIMEOUT_MS 10000u   /* a batch without reply by then is resent */
#define HANDOFF_RETRY_MS 1000u            /* after a refused or lost batch */
#define HANDOFF_NOTICE_RETRY_MS 1000u     /* DONE resent until the ring shows the partition done */
#define HANDOFF_DONE_RETRY_MS 2000u       /* transfer_done asked again if the ring did not change */
#define HANDOFF_SAVE_INTERVAL_MS 500u     /* cursors saved at most this often */
#define HANDOFF_DROP_DELAY_MS_DEFAULT 5000u
#define HANDOFF_SWEEP_MS 60000u
#define HANDOFF_STREAMS_MAX 65536u        /* streams of one ring's plan */
#define HANDOFF_TICK_MS 100u              /* longest gap between ticks while streams are active */

enum handoff_msg_type {
    HANDOFF_MSG_BATCH = 1,   /* source -> receiver: req_id partition range items last */
    HANDOFF_MSG_BATCH_REPLY, /* receiver -> source: req_id status */
    HANDOFF_MSG_FORWARD,     /* holder -> receiver: range items (a write during the move) */
    HANDOFF_MSG_DONE,        /* source -> completer: partition range to */
};

struct handoff_item {
    struct kv_slice key;    /* user key */
    struct kv_slice object; /* stored object (coordinator/object.h) */
};

/* A message, borrowed: valid during ops.send / handoff_handle_message only. */
struct handoff_msg {
    enum handoff_msg_type type;
    uint64_t req_id;
    int status;                  /* BATCH_REPLY */
    uint32_t partition;          /* p: the ring partition whose transfer this serves */
    uint32_t range;              /* q: the key range streamed */
    const char *to;              /* DONE: the stream's receiver */
    bool last;                   /* BATCH: the range ends with this batch */
    uint32_t n_items;
    const struct handoff_item *items;
};

struct handoff_ops {
    /* Carries m to node `to`, best effort; must not call into the handoff. */
    int (*send)(void *ctx, const char *to, const struct handoff_msg *m);
    /* Whether gossip holds the node up. */
    bool (*alive)(void *ctx, const char *id);
    /* Merges object into the local copy of key (causal, durable). */
    int (*merge)(void *ctx, uint32_t range, struct kv_slice key, struct kv_slice object);
    /* Installs ring_transfer_done(newest ring, partition) if it is still
     * pending to `to` (this node). KV_OK or any error (asked again later). */
    int (*transfer_done)(void *ctx, uint32_t partition, const char *to);
    /* Deletes the DATA range of `range` (a range tombstone); KV_ENOTFOUND
     * when it held nothing (not counted as a drop). */
    int (*drop)(void *ctx, uint32_t range);
    /* Stores data[0..len) for handoff_new after a restart (replacing). */
    int (*save)(void *ctx, const void *data, size_t len);
    void *ctx;
};

struct handoff_config {
    const char *node_id;
    struct engine *engine;      /* borrowed, read only */
    uint64_t bytes_per_sec;     /* streaming budget of this node as a source; >= 1 */
    uint32_t transfers_max;     /* 1 .. HANDOFF_TRANSFERS_LIMIT */
    uint32_t batch_bytes;       /* 1 KiB .. HANDOFF_BATCH_BYTES_LIMIT */
    uint32_t drop_delay_ms;
    struct handoff_ops ops;
};

/* Fills the defaults (node_id, engine and ops stay zero). */
void handoff_config_default(struct handoff_config *cfg);

struct handoff;

/* Creates the state machine; saved (may be NULL) is what ops.save last
 * stored. An unreadable saved state is logged and ignored (streams start
 * over). KV_EINVAL for a bad config, KV_ENOMEM. */
int handoff_new(const struct handoff_config *cfg, const void *saved, size_t saved_len,
                struct handoff **out) KV_MUST_USE;
void handoff_free(struct handoff *h);

/* The newest ring (copied; NULL = none). Recomputes the plan when it
 * differs from the last one: O(pending * Q * N); 3 -> 5 nodes measured
 * 1.6 ms at Q = 256, 52 ms at Q = 1,024, 0.6 s at Q = 4,096. */
int handoff_set_ring(struct handoff *h, const struct ring *r, uint64_t now_ms) KV_MUST_USE;

/* One message from node `from`. KV_EPROTO for a malformed one. */
int handoff_handle_message(struct handoff *h, const char *from, const struct handoff_msg *m,
                           uint64_t now_ms) KV_MUST_USE;

/* Sends batches within the budget, retries, notices, completions, drops,
 * saves. */
void handoff_tick(struct handoff *h, uint64_t now_ms);
/* When handoff_tick next has work (UINT64_MAX: none). */
uint64_t handoff_next_tick_ms(const struct handoff *h);

/* A write of `key` in range `range` stored here (object = what the engine
 * holds now): forwarded to the nodes gaining that range, if any. */
void handoff_note_write(struct handoff *h, uint32_t range, struct kv_slice key, struct kv_slice object);

/* One stream this node sends, for kvctl transfers. */
struct handoff_transfer_info {
    uint32_t partition, range;
    char to[RING_ID_BYTES_MAX + 1];
    bool active;              /* sending now (within transfers_max) */
    bool done;                /* every key sent and acknowledged */
    uint64_t keys_sent, bytes_sent;
    uint64_t keys_total, bytes_total; /* counted when the stream started (0: not yet) */
    uint64_t started_ms;      /* first batch of this run (0: not started) */
    uint64_t bytes_this_run;  /* since started_ms: the rate for an ETA */
};
size_t handoff_transfer_count(const struct handoff *h);
void handoff_transfer_at(const struct handoff *h, size_t i, struct handoff_transfer_info *out);

struct handoff_stats {
    uint64_t streams_planned;     /* streams this node sources in the current plan */
    uint64_t streams_active;
    uint64_t streams_completed;   /* since start */
    uint64_t partitions_completed;/* transfer_done accepted here */
    uint64_t keys_sent, bytes_sent;
    uint64_t keys_received, bytes_received;
    uint64_t forwards_sent, forwards_received;
    uint64_t batches_refused;     /* refused by a receiver or lost */
    uint64_t drops;               /* ranges dropped */
};
void handoff_get_stats(const struct handoff *h, struct handoff_stats *out);

#endif
