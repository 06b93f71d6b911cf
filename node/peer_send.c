/* peer_send.c - see peer_send.h. */
#include "node/peer_send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void peer_send_pool_config(struct rpc_pool_config *pc, const char *node_id, const char *cluster_name,
                           uint32_t frame_bytes_max, struct rpc_tls *tls, uint32_t backoff_max_ms)
{
    memset(pc, 0, sizeof *pc);
    pc->client.node_id = node_id;
    pc->client.cluster_name = cluster_name;
    pc->client.role = RINGKV__ROLE__ROLE_NODE;
    pc->client.frame_bytes_max = frame_bytes_max;
    pc->client.tls = tls;
    pc->backoff_max_ms = backoff_max_ms;
}

int peer_send_to(struct rpc_pool *pool, const struct cluster_rt *rt, const char *to, Ringkv__Envelope *env,
                 uint32_t timeout_ms, rpc_client_reply_fn cb, void *owner)
{
    const char *addr = cluster_rt_member_addr(rt, to);
    if (!addr)
        return KV_ENOTFOUND;
    struct peer_send_call *call = malloc(sizeof *call);
    if (!call)
        return KV_ENOMEM;
    call->owner = owner;
    snprintf(call->to, sizeof call->to, "%s", to);
    int rc = rpc_pool_request(pool, addr, env, timeout_ms, cb, call);
    if (rc != KV_OK)
        free(call); /* the callback never runs */
    return rc;
}

void peer_send_ack(struct rpc_reply_handle h, int rc, const char *refusal, const char *log_tag)
{
    Ringkv__Envelope ack = RINGKV__ENVELOPE__INIT;
    int sent = rc == KV_OK ? rpc_reply_send(h, &ack) : rpc_reply_error(h, rc, refusal);
    if (sent != KV_OK && sent != KV_ECLOSED)
        log_debug(log_tag, "ack not sent status=\"%s\"", kv_status_str(sent));
}
