/*
 * ops.c - the single-request calls of ringkv.h. Each builds its request on
 * the stack (the key and value bytes stay the caller's), runs it through
 * client_run (ringkv.c) and copies what it returns out of the reply.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "client/wire.h"
#include "common/clock.h"

/* Runs one request; on KV_OK req->reply is a checked reply with body `want`.
 * The caller frees the reply with client_reqs_free(req, 1) in every case. */
static int ops_run(struct rkv_client *c, Ringkv__Envelope *env, bool idempotent,
                   const struct client_call *call, Ringkv__Envelope__BodyCase want,
                   struct client_req *req)
{
    memset(req, 0, sizeof *req);
    req->env = env;
    int rc = client_run(c, req, 1, idempotent, call->deadline_ms);
    if (rc == KV_OK)
        rc = client_reply_check(c, req, want);
    return rc;
}

/* ops_run for a request about key: routed to a primary replica of key
 * (client_run_key). */
static int ops_run_key(struct rkv_client *c, Ringkv__Envelope *env, const void *key, size_t key_len,
                       bool idempotent, const struct client_call *call, Ringkv__Envelope__BodyCase want,
                       struct client_req *req)
{
    memset(req, 0, sizeof *req);
    req->env = env;
    int rc = client_run_key(c, req, key, key_len, idempotent, call->deadline_ms);
    if (rc == KV_OK)
        rc = client_reply_check(c, req, want);
    return rc;
}

static int ops_check_key(struct rkv_client *c, const void *key, size_t key_len)
{
    if (key != NULL && key_len > 0)
        return KV_OK;
    client_err_format(&c->err, false, "a key must have at least one byte");
    return KV_EINVAL;
}

int rkv_get(struct rkv_client *c, const void *key, size_t key_len,
            const struct rkv_request_options *o, struct rkv_get_result **out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__ReadOptions ro;
    int rc = ops_check_key(c, key, key_len);
    if (rc != KV_OK || (rc = client_wire_read_options(o, call.budget_ms, &ro)) != KV_OK)
        return rc;
    Ringkv__Get get = RINGKV__GET__INIT;
    get.key = client_wire_bytes(key, key_len);
    get.options = &ro;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_GET;
    env.get = &get;
    struct client_req req;
    rc = ops_run_key(c, &env, key, key_len, true, &call, RINGKV__ENVELOPE__BODY_GET_REPLY, &req);
    if (rc == KV_OK)
        rc = client_wire_get_result(req.reply->get_reply, out);
    client_reqs_free(&req, 1);
    return rc;
}

int rkv_put(struct rkv_client *c, const void *key, size_t key_len, const void *value,
            size_t value_len, const struct rkv_put_args *args,
            const struct rkv_request_options *o, struct rkv_context **context_out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__WriteOptions wo;
    Ringkv__Put put;
    int rc = ops_check_key(c, key, key_len);
    if (rc == KV_OK && value == NULL && value_len > 0)
        rc = KV_EINVAL;
    if (rc != KV_OK || (rc = client_wire_write_options(o, call.budget_ms, &wo)) != KV_OK ||
        (rc = client_wire_put(key, key_len, value, value_len, args, &put)) != KV_OK)
        return rc;
    put.options = &wo;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_PUT;
    env.put = &put;
    struct client_req req;
    rc = ops_run_key(c, &env, key, key_len, false, &call, RINGKV__ENVELOPE__BODY_PUT_REPLY, &req);
    if (rc == KV_OK && context_out != NULL) {
        const ProtobufCBinaryData *ctx = &req.reply->put_reply->context;
        rc = ctx->len ? rkv_context_from_bytes(ctx->data, ctx->len, context_out) : KV_EPROTO;
    }
    client_reqs_free(&req, 1);
    return rc;
}

int rkv_delete(struct rkv_client *c, const void *key, size_t key_len,
               const struct rkv_context *context, const struct rkv_request_options *o,
               bool *found_out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__WriteOptions wo;
    int rc = ops_check_key(c, key, key_len);
    if (rc != KV_OK || (rc = client_wire_write_options(o, call.budget_ms, &wo)) != KV_OK)
        return rc;
    Ringkv__Delete del = RINGKV__DELETE__INIT;
    del.key = client_wire_bytes(key, key_len);
    if (context != NULL)
        del.context = client_wire_bytes(context->data, context->len);
    del.options = &wo;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_DELETE;
    env.delete_ = &del;
    struct client_req req;
    rc = ops_run_key(c, &env, key, key_len, false, &call, RINGKV__ENVELOPE__BODY_DELETE_REPLY, &req);
    if (rc == KV_OK && found_out != NULL)
        *found_out = req.reply->delete_reply->found;
    client_reqs_free(&req, 1);
    return rc;
}

/* Expire with ttl_ms >= 1, or persist with 0 (the wire's meaning of 0). */
static int ops_expire(struct rkv_client *c, const void *key, size_t key_len, uint64_t ttl_ms,
                      const struct rkv_request_options *o)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__WriteOptions wo;
    int rc = ops_check_key(c, key, key_len);
    if (rc != KV_OK || (rc = client_wire_write_options(o, call.budget_ms, &wo)) != KV_OK)
        return rc;
    Ringkv__Expire ex = RINGKV__EXPIRE__INIT;
    ex.key = client_wire_bytes(key, key_len);
    ex.ttl_ms = ttl_ms;
    ex.options = &wo;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_EXPIRE;
    env.expire = &ex;
    struct client_req req;
    rc = ops_run_key(c, &env, key, key_len, false, &call, RINGKV__ENVELOPE__BODY_EXPIRE_REPLY, &req);
    if (rc == KV_OK && !req.reply->expire_reply->found)
        rc = KV_ENOTFOUND;
    client_reqs_free(&req, 1);
    return rc;
}

int rkv_expire(struct rkv_client *c, const void *key, size_t key_len, uint64_t ttl_ms,
               const struct rkv_request_options *o)
{
    if (ttl_ms == 0) {
        client_err_format(&c->err, false, "expire needs a ttl >= 1 ms (rkv_persist clears it)");
        return KV_EINVAL;
    }
    return ops_expire(c, key, key_len, ttl_ms, o);
}

int rkv_persist(struct rkv_client *c, const void *key, size_t key_len,
                const struct rkv_request_options *o)
{
    return ops_expire(c, key, key_len, 0, o);
}

int rkv_ttl(struct rkv_client *c, const void *key, size_t key_len,
            const struct rkv_request_options *o, int64_t *ttl_ms_out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__ReadOptions ro;
    int rc = ops_check_key(c, key, key_len);
    if (rc != KV_OK || (rc = client_wire_read_options(o, call.budget_ms, &ro)) != KV_OK)
        return rc;
    Ringkv__Ttl ttl = RINGKV__TTL__INIT;
    ttl.key = client_wire_bytes(key, key_len);
    ttl.options = &ro;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_TTL;
    env.ttl = &ttl;
    struct client_req req;
    rc = ops_run_key(c, &env, key, key_len, true, &call, RINGKV__ENVELOPE__BODY_TTL_REPLY, &req);
    if (rc == KV_OK) {
        int64_t v = req.reply->ttl_reply->ttl_ms;
        if (v == -2)
            rc = KV_ENOTFOUND;   /* TtlReply: -2 = no such key */
        else if (v < -1)
            rc = KV_EPROTO;
        else
            *ttl_ms_out = v;     /* -1 = no expiry = RKV_TTL_NONE */
    }
    client_reqs_free(&req, 1);
    return rc;
}

int rkv_incr(struct rkv_client *c, const void *key, size_t key_len, int64_t delta,
             const struct rkv_request_options *o, int64_t *value_out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__WriteOptions wo;
    int rc = ops_check_key(c, key, key_len);
    if (rc != KV_OK || (rc = client_wire_write_options(o, call.budget_ms, &wo)) != KV_OK)
        return rc;
    Ringkv__Incr incr = RINGKV__INCR__INIT;
    incr.key = client_wire_bytes(key, key_len);
    incr.delta = delta;
    incr.options = &wo;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_INCR;
    env.incr = &incr;
    struct client_req req;
    rc = ops_run_key(c, &env, key, key_len, false, &call, RINGKV__ENVELOPE__BODY_INCR_REPLY, &req);
    if (rc == KV_OK && value_out != NULL)
        *value_out = req.reply->incr_reply->value;
    client_reqs_free(&req, 1);
    return rc;
}

int rkv_ping(struct rkv_client *c, const struct rkv_request_options *o, uint64_t *rtt_us_out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__Ping ping = RINGKV__PING__INIT;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_PING;
    env.ping = &ping;
    /* Connect first so that the round trip measured is the ping's alone
     * (unless the connection breaks and the retry reconnects). A failure
     * here is left to client_run, which retries or reports it. */
    if (client_ensure_conn(c, call.deadline_ms) != KV_OK)
        kv_buf_reset(&c->err);
    uint64_t start_ns = kv_mono_ns();
    struct client_req req;
    int rc = ops_run(c, &env, true, &call, RINGKV__ENVELOPE__BODY_PING_REPLY, &req);
    if (rc == KV_OK && rtt_us_out != NULL)
        *rtt_us_out = (kv_mono_ns() - start_ns) / 1000u;
    client_reqs_free(&req, 1);
    return rc;
}

int rkv_stats(struct rkv_client *c, const struct rkv_request_options *o,
              struct rkv_stat **out, size_t *n_out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__Stats stats = RINGKV__STATS__INIT;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_STATS;
    env.stats = &stats;
    struct client_req req;
    int rc = ops_run(c, &env, true, &call, RINGKV__ENVELOPE__BODY_STATS_REPLY, &req);
    if (rc == KV_OK)
        rc = client_wire_stats(req.reply->stats_reply, out, n_out);
    client_reqs_free(&req, 1);
    return rc;
}
