/* wire.c - see wire.h. Also the small public functions on contexts, results
 * and status codes, which need nothing but these layouts. */
#include "client/wire.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "client/policy.h"

const char *rkv_strerror(int code)
{
    switch (code) {
    case RKV_OK: return "ok";
    case RKV_EIO: return "i/o error";
    case RKV_ECORRUPT: return "corrupt data";
    case RKV_ENOTFOUND: return "not found";
    case RKV_EINVAL: return "invalid argument";
    case RKV_ENOMEM: return "out of memory";
    case RKV_ETIMEDOUT: return "timed out (nothing applied)";
    case RKV_EINDOUBT: return "in doubt (the write may have been applied)";
    case RKV_EBUSY: return "busy (a node limit was reached)";
    case RKV_ETOOBIG: return "too big";
    case RKV_ECLOSED: return "connection closed";
    case RKV_EPROTO: return "protocol error";
    case RKV_EUNAVAIL: return "unavailable (no node or not enough replicas reachable)";
    case RKV_EAUTH: return "refused (wrong cluster or credentials)";
    case RKV_EEXIST: return "already exists";
    case RKV_ENOSPC: return "no space left on the node";
    case RKV_ECONFLICT: return "conflict (precondition failed)";
    case RKV_ESTATE: return "not valid in the current state";
    default: return "unknown error";
    }
}

void rkv_options_init(struct rkv_options *o)
{
    memset(o, 0, sizeof *o);
    o->cluster_name = RKV_CLUSTER_NAME_DEFAULT;
    o->connect_timeout_ms = RKV_CONNECT_TIMEOUT_MS_DEFAULT;
    o->request_timeout_ms = RKV_REQUEST_TIMEOUT_MS_DEFAULT;
    o->retries = RKV_RETRIES_DEFAULT;
    o->backoff_base_ms = RKV_BACKOFF_BASE_MS_DEFAULT;
    o->backoff_max_ms = RKV_BACKOFF_MAX_MS_DEFAULT;
    o->frame_bytes_max = RKV_FRAME_BYTES_MAX_DEFAULT;
    o->ring_refresh_ms = RKV_RING_REFRESH_MS_DEFAULT;
    o->route_conns_max = RKV_ROUTE_CONNS_MAX_DEFAULT;
}

/* ---- contexts ---- */

const void *rkv_context_bytes(const struct rkv_context *ctx, size_t *len)
{
    *len = ctx->len;
    return ctx->data;
}

int rkv_context_from_bytes(const void *data, size_t len, struct rkv_context **out)
{
    if (len == 0 || data == NULL)
        return RKV_EINVAL;
    struct rkv_context *ctx = malloc(sizeof *ctx + len);
    if (ctx == NULL)
        return RKV_ENOMEM;
    ctx->len = len;
    memcpy(ctx->data, data, len);
    *out = ctx;
    return RKV_OK;
}

int rkv_context_dup(const struct rkv_context *ctx, struct rkv_context **out)
{
    return rkv_context_from_bytes(ctx->data, ctx->len, out);
}

void rkv_context_free(struct rkv_context *ctx)
{
    free(ctx);
}

/* ---- options ---- */

static int wire_consistency(enum rkv_consistency c, Ringkv__Consistency *out)
{
    switch (c) {
    case RKV_CONSISTENCY_DEFAULT: *out = RINGKV__CONSISTENCY__CONSISTENCY_DEFAULT; return KV_OK;
    case RKV_CONSISTENCY_ONE: *out = RINGKV__CONSISTENCY__CONSISTENCY_ONE; return KV_OK;
    case RKV_CONSISTENCY_QUORUM: *out = RINGKV__CONSISTENCY__CONSISTENCY_QUORUM; return KV_OK;
    case RKV_CONSISTENCY_ALL: *out = RINGKV__CONSISTENCY__CONSISTENCY_ALL; return KV_OK;
    default: return KV_EINVAL;
    }
}

int client_wire_read_options(const struct rkv_request_options *o, uint32_t budget_ms,
                             Ringkv__ReadOptions *ro)
{
    static const struct rkv_request_options none;
    if (o == NULL)
        o = &none;
    ringkv__read_options__init(ro);
    ro->r = o->replicas;
    ro->timeout_ms = client_node_timeout_ms(budget_ms);
    ro->primary_only = o->primary_only;
    return wire_consistency(o->consistency, &ro->consistency);
}

int client_wire_write_options(const struct rkv_request_options *o, uint32_t budget_ms,
                              Ringkv__WriteOptions *wo)
{
    static const struct rkv_request_options none;
    if (o == NULL)
        o = &none;
    ringkv__write_options__init(wo);
    wo->w = o->replicas;
    wo->timeout_ms = client_node_timeout_ms(budget_ms);
    wo->primary_only = o->primary_only;
    return wire_consistency(o->consistency, &wo->consistency);
}

int client_wire_put(const void *key, size_t key_len, const void *value, size_t value_len,
                    const struct rkv_put_args *args, Ringkv__Put *p)
{
    static const struct rkv_put_args blind;
    if (args == NULL)
        args = &blind;
    ringkv__put__init(p);
    p->key = client_wire_bytes(key, key_len);
    p->value = client_wire_bytes(value_len ? value : NULL, value_len);
    if (args->context != NULL)
        p->context = client_wire_bytes(args->context->data, args->context->len);
    p->ttl_ms = args->ttl_ms;
    switch (args->condition) {
    case RKV_PUT_ALWAYS: p->condition = RINGKV__CONDITION__CONDITION_NONE; return KV_OK;
    case RKV_PUT_NX: p->condition = RINGKV__CONDITION__CONDITION_IF_ABSENT; return KV_OK;
    case RKV_PUT_XX: p->condition = RINGKV__CONDITION__CONDITION_IF_EXISTS; return KV_OK;
    default: return KV_EINVAL;
    }
}

/* ---- results ---- */

/* Bytes before the context header, rounded so the header is aligned. */
static size_t get_result_head_bytes(size_t nsiblings)
{
    size_t n = sizeof(struct rkv_get_result) + nsiblings * sizeof(struct rkv_sibling);
    size_t a = alignof(struct rkv_context);
    return (n + a - 1) / a * a;
}

int client_wire_get_result(const Ringkv__GetReply *gr, struct rkv_get_result **out)
{
    size_t n = gr->n_siblings;
    if ((gr->found != (n > 0)) || gr->context.len == 0)
        return KV_EPROTO;
    size_t head = get_result_head_bytes(n);
    size_t total = head + sizeof(struct rkv_context) + gr->context.len;
    for (size_t i = 0; i < n; i++)
        total += gr->siblings[i]->value.len + 1;
    char *mem = malloc(total);
    if (mem == NULL)
        return KV_ENOMEM;
    struct rkv_get_result *r = (struct rkv_get_result *)mem;
    struct rkv_sibling *sibs = (struct rkv_sibling *)(mem + sizeof *r);
    struct rkv_context *ctx = (struct rkv_context *)(mem + head);
    ctx->len = gr->context.len;
    memcpy(ctx->data, gr->context.data, ctx->len);
    char *p = ctx->data + ctx->len;
    for (size_t i = 0; i < n; i++) {
        const Ringkv__Sibling *s = gr->siblings[i];
        if (s->value.len)
            memcpy(p, s->value.data, s->value.len);
        p[s->value.len] = '\0';
        sibs[i].value = p;
        sibs[i].value_len = s->value.len;
        sibs[i].expires_at_ms = s->expires_at_ms;
        p += s->value.len + 1;
    }
    r->found = gr->found;
    r->nsiblings = n;
    r->siblings = n ? sibs : NULL;
    r->context = ctx;
    *out = r;
    return KV_OK;
}

void rkv_get_result_free(struct rkv_get_result *r)
{
    free(r);
}

void rkv_batch_get_free(struct rkv_batch_get_entry *entries, size_t n)
{
    if (entries == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        rkv_get_result_free(entries[i].result);
    free(entries);
}

int client_wire_stats(const Ringkv__StatsReply *sr, struct rkv_stat **out, size_t *n_out)
{
    size_t n = sr->n_stats;
    size_t total = (n + 1) * sizeof(struct rkv_stat);
    for (size_t i = 0; i < n; i++) {
        const Ringkv__Stat *s = sr->stats[i];
        total += strlen(s->name) + strlen(s->value) + 2;
    }
    char *mem = malloc(total);
    if (mem == NULL)
        return KV_ENOMEM;
    struct rkv_stat *stats = (struct rkv_stat *)mem;
    char *p = mem + (n + 1) * sizeof *stats;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(sr->stats[i]->name) + 1, vl = strlen(sr->stats[i]->value) + 1;
        stats[i].name = memcpy(p, sr->stats[i]->name, nl);
        stats[i].value = memcpy(p + nl, sr->stats[i]->value, vl);
        p += nl + vl;
    }
    stats[n].name = stats[n].value = NULL;  /* a terminator, handy when n is not at hand */
    *out = stats;
    *n_out = n;
    return KV_OK;
}

void rkv_stats_free(struct rkv_stat *stats)
{
    free(stats);
}
