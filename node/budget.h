/*
 * budget.h - the node-wide cap on request bytes held in memory.
 *
 * Each listener bounds its own connections (frame size, requests in
 * flight, unsent replies), but 10,000 connections each holding a few
 * large requests that wait on slow replicas add up to more memory than
 * the node has. One struct node_budget, owned by kvnode and shared by the
 * native and RESP listeners (same thread), counts the bytes of client
 * requests that were decoded and not answered yet; a request that would
 * take the total over bytes_max is refused at once (native KV_EBUSY,
 * RESP -BUSY) instead of being queued. A request is always admitted when
 * nothing else is held, so one request up to the frame limit still works
 * with a small budget. Node-to-node messages are not counted: refusing
 * a replica's write would turn client load into lost redundancy.
 *
 * Threading: the event loop's thread only.
 */
#ifndef RINGKV_NODE_BUDGET_H
#define RINGKV_NODE_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct node_budget {
    uint64_t bytes_max;    /* --inflight-bytes-max */
    uint64_t bytes_used;   /* held now */
    uint64_t refused;      /* requests refused since start */
};

/* Admits n bytes (true) or counts a refusal (false). NULL: always admits. */
static inline bool node_budget_take(struct node_budget *b, uint64_t n)
{
    if (b == NULL)
        return true;
    if (b->bytes_used != 0 && (n > b->bytes_max || b->bytes_used > b->bytes_max - n)) {
        b->refused++;
        return false;
    }
    b->bytes_used += n;
    return true;
}

/* Returns n bytes taken earlier. NULL is allowed. */
static inline void node_budget_release(struct node_budget *b, uint64_t n)
{
    if (b != NULL)
        b->bytes_used -= n < b->bytes_used ? n : b->bytes_used;
}

#endif
