/*
 * broadcast.h - the queue of member updates waiting to be piggybacked.
 *
 * Entries are slots (membership uses member indexes): at most one pending
 * broadcast per member, because only the member's newest record is worth
 * sending; re-pushing a queued slot restarts its transmit count. Picks go
 * fewest-transmits-first and newest-first within a count, so fresh news
 * (a suspicion, a refutation) overtakes news most members already heard,
 * even behind a burst of joins. An entry leaves after `limit` transmissions (timing.h's
 * retransmit limit), so a broadcast costs O(limit) messages of room.
 *
 * Storage: one small record per slot plus BROADCAST_TRANSMITS_MAX list
 * heads; every operation is O(1) except picks, which are O(picked).
 * Not thread-safe.
 */
#ifndef RINGKV_GOSSIP_BROADCAST_H
#define RINGKV_GOSSIP_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define BROADCAST_TRANSMITS_MAX 64u /* retransmit limits are clamped to this */

struct broadcast_entry {
    uint32_t prev, next;
    uint16_t transmits;
    uint8_t queued;
};

struct broadcast_queue {
    struct broadcast_entry *e; /* [n_slots] */
    uint32_t n_slots;
    uint32_t count;
    uint32_t head[BROADCAST_TRANSMITS_MAX];
    uint32_t tail[BROADCAST_TRANSMITS_MAX];
};

/* A zeroed struct is not ready: call init. */
void broadcast_queue_init(struct broadcast_queue *q);
void broadcast_queue_free(struct broadcast_queue *q);
/* Makes slots [0, n_slots) usable. KV_ENOMEM leaves the queue as it was. */
int broadcast_queue_reserve(struct broadcast_queue *q, uint32_t n_slots) KV_MUST_USE;
/* Queues slot (or re-queues it with 0 transmits). slot < n_slots. */
void broadcast_queue_push(struct broadcast_queue *q, uint32_t slot);
void broadcast_queue_remove(struct broadcast_queue *q, uint32_t slot);
static inline uint32_t broadcast_queue_count(const struct broadcast_queue *q) { return q->count; }

/*
 * Picks up to max slots whose sizes (size_of(ctx, slot) bytes each) fit
 * in budget_bytes together, fewest transmits first, writes them to out
 * and counts one transmission for each; slots reaching `limit` leave the
 * queue. Stops at the first slot that does not fit. Returns the number
 * picked.
 */
size_t broadcast_queue_take(struct broadcast_queue *q, size_t budget_bytes, size_t (*size_of)(void *ctx, uint32_t slot),
                            void *ctx, uint32_t limit, uint32_t *out, size_t max);

#endif
