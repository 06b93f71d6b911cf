/* broadcast.c - transmit-count buckets of doubly linked slots (see broadcast.h). */
#include "gossip/broadcast.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BQ_NONE UINT32_MAX

void broadcast_queue_init(struct broadcast_queue *q)
{
    memset(q, 0, sizeof *q);
    for (uint32_t b = 0; b < BROADCAST_TRANSMITS_MAX; b++)
        q->head[b] = q->tail[b] = BQ_NONE;
}

void broadcast_queue_free(struct broadcast_queue *q)
{
    free(q->e);
    broadcast_queue_init(q);
}

int broadcast_queue_reserve(struct broadcast_queue *q, uint32_t n_slots)
{
    if (n_slots <= q->n_slots)
        return KV_OK;
    struct broadcast_entry *e = realloc(q->e, (size_t)n_slots * sizeof *e);
    if (!e)
        return KV_ENOMEM;
    memset(e + q->n_slots, 0, (size_t)(n_slots - q->n_slots) * sizeof *e);
    q->e = e;
    q->n_slots = n_slots;
    return KV_OK;
}

static void unlink_slot(struct broadcast_queue *q, uint32_t slot)
{
    struct broadcast_entry *x = &q->e[slot];
    uint32_t b = x->transmits;
    if (x->prev != BQ_NONE)
        q->e[x->prev].next = x->next;
    else
        q->head[b] = x->next;
    if (x->next != BQ_NONE)
        q->e[x->next].prev = x->prev;
    else
        q->tail[b] = x->prev;
    x->queued = 0;
    q->count--;
}

/* At the head: within a transmit count the most recent news goes first. */
static void insert_slot(struct broadcast_queue *q, uint32_t slot, uint16_t transmits)
{
    struct broadcast_entry *x = &q->e[slot];
    x->transmits = transmits;
    x->queued = 1;
    x->prev = BQ_NONE;
    x->next = q->head[transmits];
    if (x->next != BQ_NONE)
        q->e[x->next].prev = slot;
    else
        q->tail[transmits] = slot;
    q->head[transmits] = slot;
    q->count++;
}

void broadcast_queue_push(struct broadcast_queue *q, uint32_t slot)
{
    if (q->e[slot].queued)
        unlink_slot(q, slot);
    insert_slot(q, slot, 0);
}

void broadcast_queue_remove(struct broadcast_queue *q, uint32_t slot)
{
    if (slot < q->n_slots && q->e[slot].queued)
        unlink_slot(q, slot);
}

size_t broadcast_queue_take(struct broadcast_queue *q, size_t budget_bytes, size_t (*size_of)(void *ctx, uint32_t slot),
                            void *ctx, uint32_t limit, uint32_t *out, size_t max)
{
    if (limit > BROADCAST_TRANSMITS_MAX)
        limit = BROADCAST_TRANSMITS_MAX;
    size_t n = 0, used = 0;
    bool full = false;
    for (uint32_t b = 0; b < BROADCAST_TRANSMITS_MAX && n < max && !full; b++) {
        for (uint32_t s = q->head[b]; s != BQ_NONE && n < max; s = q->e[s].next) {
            size_t sz = size_of(ctx, s);
            if (used + sz > budget_bytes) {
                full = true;
                break;
            }
            used += sz;
            out[n++] = s;
        }
    }
    /* Count the transmissions only now, so a moved slot is not visited twice. */
    for (size_t i = 0; i < n; i++) {
        uint16_t t = (uint16_t)(q->e[out[i]].transmits + 1);
        unlink_slot(q, out[i]);
        if (t < limit)
            insert_slot(q, out[i], t);
    }
    return n;
}
