/* pool.c - per-address client connections with backoff (contract in pool.h). */
#include "rpc/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/log.h"
#include "rpc/addr.h"

#define POOL_BUCKETS 256u  /* peers are cluster members: chains stay short */
#define POOL_ADDR_BYTES_MAX (RPC_ADDR_HOST_BYTES_MAX + 8)

struct peer {
    struct peer *next;
    struct rpc_pool *pool;
    struct rpc_client *client;  /* NULL when not connected */
    bool ready;                 /* the current client's hello was accepted */
    uint32_t backoff_ms;        /* last delay applied; 0 after a success */
    uint64_t retry_at_ms;       /* monotonic; no dialling before */
    char addr[POOL_ADDR_BYTES_MAX];
};

struct rpc_pool {
    struct event_base *base;
    struct rpc_pool_config cfg;
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
    char cluster_name[KV_CLUSTER_NAME_BYTES_MAX + 1];
    struct kv_rand rand;  /* jitter only */
    bool closing;         /* inside rpc_pool_free: callbacks must not reconnect */
    struct peer *buckets[POOL_BUCKETS];
};

static uint64_t pool_now_ms(void)
{
    return kv_clock_real.mono_ms(&kv_clock_real);
}

static struct peer **pool_bucket(const struct rpc_pool *p, const char *addr)
{
    uint64_t h = kv_hash64(addr, strlen(addr), 0);
    return (struct peer **)&p->buckets[h & (POOL_BUCKETS - 1)];
}

static struct peer *pool_find(const struct rpc_pool *p, const char *addr)
{
    for (struct peer *pr = *pool_bucket(p, addr); pr != NULL; pr = pr->next)
        if (strcmp(pr->addr, addr) == 0)
            return pr;
    return NULL;
}

static int pool_find_or_add(struct rpc_pool *p, const char *addr, struct peer **out)
{
    struct peer *pr = pool_find(p, addr);
    if (pr == NULL) {
        if (strlen(addr) >= POOL_ADDR_BYTES_MAX)
            return KV_EINVAL;
        pr = calloc(1, sizeof *pr);
        if (pr == NULL)
            return KV_ENOMEM;
        pr->pool = p;
        snprintf(pr->addr, sizeof pr->addr, "%s", addr);
        struct peer **b = pool_bucket(p, addr);
        pr->next = *b;
        *b = pr;
    }
    *out = pr;
    return KV_OK;
}

/* A connect attempt failed: double the delay (bounded) and apply jitter in [delay/2, delay]. */
static void pool_backoff(struct rpc_pool *p, struct peer *pr)
{
    uint32_t d = pr->backoff_ms ? pr->backoff_ms * 2 : p->cfg.backoff_min_ms;
    if (d > p->cfg.backoff_max_ms || d < pr->backoff_ms)
        d = p->cfg.backoff_max_ms;
    pr->backoff_ms = d;
    uint64_t wait = d / 2 + kv_rand_below(&p->rand, d / 2 + 1);
    pr->retry_at_ms = pool_now_ms() + wait;
    log_info("rpc", "peer unreachable addr=%s retry_in_ms=%llu", pr->addr, (unsigned long long)wait);
}

static void pool_on_ready(void *arg, struct rpc_client *c, const Ringkv__HelloReply *hello)
{
    struct peer *pr = arg;
    pr->ready = true;
    pr->backoff_ms = 0;
    pr->retry_at_ms = 0;
}

static void pool_on_close(void *arg, struct rpc_client *c, int status, const char *message)
{
    struct peer *pr = arg;
    if (!pr->ready)
        pool_backoff(pr->pool, pr);
    pr->client = NULL;
    pr->ready = false;
    rpc_client_free(c);  /* safe inside the client's own callback */
}

static const struct rpc_client_ops pool_client_ops = {
    .on_ready = pool_on_ready,
    .on_close = pool_on_close,
};

int rpc_pool_new(struct event_base *base, const struct rpc_pool_config *cfg, struct rpc_pool **out)
{
    const char *node = cfg->client.node_id ? cfg->client.node_id : "";
    const char *cluster = cfg->client.cluster_name ? cfg->client.cluster_name : "";
    if (strlen(node) > KV_NODE_ID_BYTES_MAX || strlen(cluster) > KV_CLUSTER_NAME_BYTES_MAX)
        return KV_EINVAL;
    struct rpc_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return KV_ENOMEM;
    p->base = base;
    p->cfg = *cfg;
    snprintf(p->node_id, sizeof p->node_id, "%s", node);
    snprintf(p->cluster_name, sizeof p->cluster_name, "%s", cluster);
    p->cfg.client.node_id = p->node_id;
    p->cfg.client.cluster_name = p->cluster_name;
    p->cfg.client.addr = NULL;
    if (p->cfg.backoff_min_ms == 0)
        p->cfg.backoff_min_ms = RPC_POOL_BACKOFF_MIN_MS_DEFAULT;
    if (p->cfg.backoff_max_ms == 0)
        p->cfg.backoff_max_ms = RPC_POOL_BACKOFF_MAX_MS_DEFAULT;
    if (p->cfg.backoff_max_ms < p->cfg.backoff_min_ms)
        p->cfg.backoff_max_ms = p->cfg.backoff_min_ms;
    kv_rand_seed(&p->rand, kv_mono_ns() ^ (uint64_t)(uintptr_t)p);
    *out = p;
    return KV_OK;
}

int rpc_pool_request(struct rpc_pool *p, const char *addr, Ringkv__Envelope *req,
                     uint32_t timeout_ms, rpc_client_reply_fn cb, void *arg)
{
    struct peer *pr = NULL;
    if (p->closing)
        return KV_ECLOSED;
    int rc = pool_find_or_add(p, addr, &pr);
    if (rc != KV_OK)
        return rc;
    if (pr->client == NULL) {
        if (pool_now_ms() < pr->retry_at_ms)
            return KV_EUNAVAIL;
        struct rpc_client_config cc = p->cfg.client;
        cc.addr = pr->addr;
        pr->ready = false;
        rc = rpc_client_connect(p->base, &cc, &pool_client_ops, pr, &pr->client);
        if (rc != KV_OK) {
            pr->client = NULL;
            if (rc == KV_EINVAL)
                return rc;
            /* A name that does not resolve (a container that is gone) backs
             * off too: resolution blocks the loop, so it must not run per request. */
            pool_backoff(p, pr);
            return KV_EUNAVAIL;
        }
    }
    return rpc_client_request(pr->client, req, timeout_ms, cb, arg, NULL);
}

/* Frees the peer's client without counting it as a failure. */
static void pool_drop_client(struct peer *pr)
{
    struct rpc_client *c = pr->client;
    pr->client = NULL;
    pr->ready = false;
    rpc_client_free(c);  /* on_close is not called for a freed client */
}

void rpc_pool_disconnect(struct rpc_pool *p, const char *addr)
{
    struct peer *pr = pool_find(p, addr);
    if (pr != NULL && pr->client != NULL)
        pool_drop_client(pr);
}

uint32_t rpc_pool_backoff_remaining_ms(const struct rpc_pool *p, const char *addr)
{
    const struct peer *pr = pool_find(p, addr);
    uint64_t now = pool_now_ms();
    if (pr == NULL || pr->client != NULL || pr->retry_at_ms <= now)
        return 0;
    return (uint32_t)(pr->retry_at_ms - now);
}

void rpc_pool_free(struct rpc_pool *p)
{
    if (p == NULL)
        return;
    p->closing = true;
    for (size_t i = 0; i < POOL_BUCKETS; i++) {
        while (p->buckets[i] != NULL) {
            struct peer *pr = p->buckets[i];
            p->buckets[i] = pr->next;
            if (pr->client != NULL)
                pool_drop_client(pr);
            free(pr);
        }
    }
    free(p);
}
