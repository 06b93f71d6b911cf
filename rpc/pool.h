/*
 * pool.h - one client connection per peer address, reconnecting with backoff.
 *
 * The coordinator and gossip send to peers by address; the pool keeps at
 * most one rpc_client per address (pipelining makes one enough) and
 * creates it on first use. When a connection ends, the next request to
 * that address reconnects. When connecting fails (refused, timed out,
 * hello refused), further requests fail fast with KV_EUNAVAIL until a
 * backoff delay has passed; the delay doubles per consecutive failure
 * from backoff_min_ms to backoff_max_ms, with random jitter (half to all
 * of the delay) so that nodes do not reconnect in lockstep. A successful
 * hello resets it. Reconnection is lazy: nothing is dialled without a
 * request to send, so a dead peer costs nothing while nobody needs it.
 *
 * Request callbacks follow rpc/client.h (exactly once, never inside
 * rpc_pool_request). Memory: one small record per address ever used (the
 * cluster's members); lookup is a hash of the address.
 *
 * Threading: one event_base thread.
 */
#ifndef RINGKV_RPC_POOL_H
#define RINGKV_RPC_POOL_H

#include <stdint.h>

#include "common/status.h"
#include "rpc/client.h"

struct event_base;
struct rpc_pool;

#define RPC_POOL_BACKOFF_MIN_MS_DEFAULT 100u
#define RPC_POOL_BACKOFF_MAX_MS_DEFAULT 10000u

struct rpc_pool_config {
    struct rpc_client_config client;  /* template for every connection; client.addr is ignored */
    uint32_t backoff_min_ms;          /* 0 = RPC_POOL_BACKOFF_MIN_MS_DEFAULT */
    uint32_t backoff_max_ms;          /* 0 = RPC_POOL_BACKOFF_MAX_MS_DEFAULT */
};

/* cfg's strings are copied. KV_OK and *out, KV_EINVAL (names too long), or KV_ENOMEM. */
int rpc_pool_new(struct event_base *base, const struct rpc_pool_config *cfg,
                 struct rpc_pool **out) KV_MUST_USE;

/*
 * Sends req to addr ("HOST:PORT"), connecting first if needed (the request
 * is queued behind the hello). Same contract as rpc_client_request, plus
 * KV_EUNAVAIL while addr is in backoff (cb does not run), KV_EINVAL for an
 * address that does not parse. A name that does not resolve (or a connect
 * that fails at once) returns KV_EUNAVAIL and starts the backoff, so the
 * blocking name lookup runs at most once per backoff period, not per request.
 */
int rpc_pool_request(struct rpc_pool *p, const char *addr, Ringkv__Envelope *req,
                     uint32_t timeout_ms, rpc_client_reply_fn cb, void *arg) KV_MUST_USE;

/* Drops the connection to addr if any (its pending requests fail with KV_ECLOSED); no backoff. */
void rpc_pool_disconnect(struct rpc_pool *p, const char *addr);

/* Milliseconds until addr may be dialled again (0: now, or unknown address). */
uint32_t rpc_pool_backoff_remaining_ms(const struct rpc_pool *p, const char *addr);

/* Closes every connection (pending requests fail with KV_ECLOSED) and frees. NULL is allowed. */
void rpc_pool_free(struct rpc_pool *p);

#endif
