/*
 * client.c - async client connection with pipelined, timed requests (contract in client.h).
 *
 * Pending requests sit in a chained hash table keyed by request id. Ids
 * are sequential, so id & mask spreads them perfectly; the table doubles
 * when it holds more entries than buckets. Each pending request owns a
 * libevent timer. The Hello is an ordinary pending request with an
 * internal callback, so it gets the same timeout and failure handling.
 *
 * Exactly-once callbacks: a pending request is unlinked from the table
 * before its callback runs, and it can be reached only through the table,
 * so a reply, its timer and a disconnect can never both complete it.
 */
#include "rpc/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/limits.h"
#include "common/log.h"
#include "rpc/addr.h"
#include "rpc/conn.h"
#include "rpc/frame.h"
#include "rpc/tls.h"

#define PENDING_BUCKETS_INITIAL 64u
#define CLIENT_MESSAGE_BYTES_MAX 256u

struct pending {
    struct pending *next;  /* hash chain */
    struct rpc_client *client;
    uint64_t id;
    rpc_client_reply_fn cb;
    void *arg;
    struct event *timer;
};

struct rpc_client {
    struct event_base *base;
    struct rpc_conn *conn;  /* NULL once the connection has ended */
    const struct rpc_client_ops *ops;
    void *arg;
    struct rpc_client_config cfg;
    char addr[RPC_ADDR_HOST_BYTES_MAX + 8];
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
    char cluster_name[KV_CLUSTER_NAME_BYTES_MAX + 1];
    struct pending **buckets;
    size_t nbuckets;
    size_t npending;
    uint64_t next_id;
    unsigned refs;
    bool connected;    /* the TCP connect (and TLS handshake) succeeded: requests went out */
    bool ready;
    bool freed;
    bool quiet;        /* do not call ops->on_close (inside rpc_client_connect) */
    int close_status;  /* set when the session is refused or abandoned before the conn ends */
    char close_message[CLIENT_MESSAGE_BYTES_MAX];
};

static void client_ref(struct rpc_client *c) { c->refs++; }

static void client_unref(struct rpc_client *c)
{
    if (--c->refs > 0)
        return;
    free(c->buckets);
    free(c);
}

static int client_table_grow(struct rpc_client *c)
{
    size_t n = c->nbuckets ? c->nbuckets * 2 : PENDING_BUCKETS_INITIAL;
    struct pending **nb = calloc(n, sizeof *nb);
    if (nb == NULL)
        return KV_ENOMEM;
    for (size_t i = 0; i < c->nbuckets; i++) {
        while (c->buckets[i] != NULL) {
            struct pending *p = c->buckets[i];
            c->buckets[i] = p->next;
            p->next = nb[p->id & (n - 1)];
            nb[p->id & (n - 1)] = p;
        }
    }
    free(c->buckets);
    c->buckets = nb;
    c->nbuckets = n;
    return KV_OK;
}

/* Unlinks and returns the pending request id, or NULL (already completed, or never sent). */
static struct pending *client_table_take(struct rpc_client *c, uint64_t id)
{
    if (c->nbuckets == 0)
        return NULL;
    struct pending **pp = &c->buckets[id & (c->nbuckets - 1)];
    for (; *pp != NULL; pp = &(*pp)->next) {
        struct pending *p = *pp;
        if (p->id == id) {
            *pp = p->next;
            c->npending--;
            return p;
        }
    }
    return NULL;
}

/* Runs the callback of an unlinked pending request and frees it. */
static void client_complete(struct pending *p, int status, Ringkv__Envelope *reply)
{
    event_free(p->timer);
    p->cb(p->arg, status, reply);
    free(p);
}

/* Completes every pending request with status; callbacks may free or use the client. */
static void client_fail_all(struct rpc_client *c, int status)
{
    client_ref(c);
    for (size_t i = 0; i < c->nbuckets; i++) {
        while (c->buckets[i] != NULL) {
            struct pending *p = c->buckets[i];
            c->buckets[i] = p->next;
            c->npending--;
            client_complete(p, status, NULL);
        }
    }
    client_unref(c);
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pending *p = arg;
    struct rpc_client *c = p->client;
    if (client_table_take(c, p->id) != p)
        return;  /* cannot happen: a completed request's timer is freed with it */
    client_ref(c);
    client_complete(p, KV_ETIMEDOUT, NULL);
    client_unref(c);
}

/* Records why the session is ending (first reason wins) and closes the connection. */
static void client_abort(struct rpc_client *c, int status, const char *message)
{
    if (c->close_status == KV_OK) {
        c->close_status = status;
        snprintf(c->close_message, sizeof c->close_message, "%s", message);
    }
    if (c->conn != NULL)
        rpc_conn_close(c->conn, status, message);
}

static void client_hello_reply(void *arg, int status, Ringkv__Envelope *reply)
{
    struct rpc_client *c = arg;
    if (status == KV_OK && reply->body_case == RINGKV__ENVELOPE__BODY_HELLO_REPLY) {
        c->ready = true;
        if (c->ops && c->ops->on_ready)
            c->ops->on_ready(c->arg, c, reply->hello_reply);
    } else if (reply != NULL) {
        char msg[CLIENT_MESSAGE_BYTES_MAX];
        snprintf(msg, sizeof msg, "hello refused: %s",
                 reply->error[0] ? reply->error : kv_status_str(status));
        log_warn("rpc", "hello refused addr=%s status=\"%s\" reason=\"%s\"", c->addr,
                 kv_status_str(status), msg);
        client_abort(c, status != KV_OK ? status : KV_EPROTO, msg);
    } else if (status == KV_ETIMEDOUT) {
        /* Once bytes went out, requests behind the hello may have run: in doubt. */
        log_info("rpc", "hello timed out addr=%s connected=%d", c->addr, c->connected);
        client_abort(c, c->connected ? KV_ETIMEDOUT : KV_EUNAVAIL,
                     "no hello reply within the connect timeout");
    }
    rpc_envelope_free(reply);
}

static void client_on_envelope(void *arg, struct rpc_conn *conn, Ringkv__Envelope *env)
{
    struct rpc_client *c = arg;
    if (env->request_id == 0 && env->status != KV_OK) {
        /* A connection-level error (e.g. KV_EBUSY): it concerns every request. */
        char msg[CLIENT_MESSAGE_BYTES_MAX];
        snprintf(msg, sizeof msg, "server refused the connection: %s", env->error);
        log_warn("rpc", "connection refused addr=%s status=\"%s\" reason=\"%s\"", c->addr,
                 kv_status_str(env->status), env->error);
        client_abort(c, env->status, msg);
        rpc_envelope_free(env);
        return;
    }
    struct pending *p = client_table_take(c, env->request_id);
    if (p == NULL) {
        /* Its timer fired already: the caller has its answer. */
        log_debug("rpc", "late or unknown reply dropped addr=%s request_id=%llu", c->addr,
                  (unsigned long long)env->request_id);
        rpc_envelope_free(env);
        return;
    }
    client_ref(c);
    client_complete(p, env->status, env);
    client_unref(c);
}

/* Status for requests that were pending when the connection ended. */
static int client_final_status(const struct rpc_client *c, int conn_status)
{
    if (c->freed)
        return KV_ECLOSED;
    if (c->close_status != KV_OK)
        return c->close_status;  /* the server refused the session, or the hello timed out */
    if (conn_status == KV_EAUTH)
        return KV_EAUTH;         /* TLS refused: no application data was accepted */
    if (!c->connected)
        return KV_EUNAVAIL;      /* nothing left this host */
    /* Connected: the server may have run requests even if its hello reply never arrived. */
    return KV_ECLOSED;
}

static void client_on_close(void *arg, struct rpc_conn *conn, int status, const char *reason)
{
    struct rpc_client *c = arg;
    int final = client_final_status(c, status);
    char message[CLIENT_MESSAGE_BYTES_MAX];
    snprintf(message, sizeof message, "%s", c->close_status != KV_OK ? c->close_message : reason);
    c->conn = NULL;
    c->ready = false;
    client_ref(c);
    client_fail_all(c, final);
    if (!c->freed && !c->quiet && c->ops && c->ops->on_close)
        c->ops->on_close(c->arg, c, final, message);
    client_unref(c);
}

static void client_on_connected(void *arg, struct rpc_conn *conn)
{
    struct rpc_client *c = arg;
    c->connected = true;
}

static const struct rpc_conn_ops client_conn_ops = {
    .on_envelope = client_on_envelope,
    .on_connected = client_on_connected,
    .on_close = client_on_close,
};

/* Sends req under a new id and registers its callback. */
static int client_send(struct rpc_client *c, Ringkv__Envelope *req, uint32_t timeout_ms,
                       rpc_client_reply_fn cb, void *arg, uint64_t *id_out)
{
    if (c->conn == NULL || !rpc_conn_is_open(c->conn))
        return KV_ECLOSED;
    if (c->npending >= c->nbuckets && client_table_grow(c) != KV_OK)
        return KV_ENOMEM;
    struct pending *p = calloc(1, sizeof *p);
    if (p == NULL)
        return KV_ENOMEM;
    p->timer = evtimer_new(c->base, client_timer_cb, p);
    if (p->timer == NULL) {
        free(p);
        return KV_ENOMEM;
    }
    req->request_id = c->next_id;
    int rc = rpc_conn_send(c->conn, req);
    if (rc != KV_OK) {
        event_free(p->timer);
        free(p);
        return rc;
    }
    p->client = c;
    p->id = c->next_id++;
    p->cb = cb;
    p->arg = arg;
    uint32_t ms = timeout_ms ? timeout_ms : KV_REQUEST_TIMEOUT_MS_DEFAULT;
    struct timeval tv = { (time_t)(ms / 1000u), (suseconds_t)((ms % 1000u) * 1000u) };
    event_add(p->timer, &tv);
    size_t b = p->id & (c->nbuckets - 1);
    p->next = c->buckets[b];
    c->buckets[b] = p;
    c->npending++;
    if (id_out)
        *id_out = p->id;
    return KV_OK;
}

int rpc_client_request(struct rpc_client *c, Ringkv__Envelope *req, uint32_t timeout_ms,
                       rpc_client_reply_fn cb, void *arg, uint64_t *id_out)
{
    if (c->freed)
        return KV_ECLOSED;
    return client_send(c, req, timeout_ms, cb, arg, id_out);
}

static int client_copy_config(struct rpc_client *c, const struct rpc_client_config *cfg)
{
    const char *node = cfg->node_id ? cfg->node_id : "";
    const char *cluster = cfg->cluster_name ? cfg->cluster_name : "";
    if (cfg->addr == NULL || strlen(cfg->addr) >= sizeof c->addr ||
        strlen(node) > KV_NODE_ID_BYTES_MAX || strlen(cluster) > KV_CLUSTER_NAME_BYTES_MAX)
        return KV_EINVAL;
    snprintf(c->addr, sizeof c->addr, "%s", cfg->addr);
    snprintf(c->node_id, sizeof c->node_id, "%s", node);
    snprintf(c->cluster_name, sizeof c->cluster_name, "%s", cluster);
    c->cfg = *cfg;
    c->cfg.addr = c->addr;
    c->cfg.node_id = c->node_id;
    c->cfg.cluster_name = c->cluster_name;
    if (c->cfg.connect_timeout_ms == 0)
        c->cfg.connect_timeout_ms = RPC_CLIENT_CONNECT_TIMEOUT_MS_DEFAULT;
    if (c->cfg.frame_timeout_ms == 0)
        c->cfg.frame_timeout_ms = KV_FRAME_TIMEOUT_MS_DEFAULT;
    return KV_OK;
}

/* Creates the bufferevent and conn, queues the Hello, starts the connect. */
static int client_open(struct rpc_client *c, const struct sockaddr_storage *ss, int sslen)
{
    struct bufferevent *bev = NULL;
    int rc;
    if (c->cfg.tls != NULL) {
        char host[RPC_ADDR_HOST_BYTES_MAX];
        uint16_t port;
        rc = rpc_addr_split(c->addr, host, sizeof host, &port);
        if (rc == KV_OK)
            rc = rpc_tls_bufferevent_new(c->cfg.tls, c->base, -1, host, &bev);
    } else {
        bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        rc = bev ? KV_OK : KV_ENOMEM;
    }
    if (rc != KV_OK)
        return rc;
    struct rpc_conn_config cc = { c->cfg.frame_bytes_max, c->cfg.idle_timeout_ms,
                                  c->cfg.frame_timeout_ms, c->cfg.output_bytes_max };
    rc = rpc_conn_new(c->base, bev, false, c->addr, &cc, &client_conn_ops, c, &c->conn);
    if (rc != KV_OK)
        return rc;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__Hello hello = RINGKV__HELLO__INIT;
    hello.protocol_version = RINGKV__PROTOCOL__PROTOCOL_VERSION;
    hello.node_id = c->node_id;
    hello.cluster_name = c->cluster_name;
    hello.role = c->cfg.role;
    hello.conflict_mode = (char *)(c->cfg.conflict_mode ? c->cfg.conflict_mode : "");
    env.body_case = RINGKV__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    rc = client_send(c, &env, c->cfg.connect_timeout_ms, client_hello_reply, c, NULL);
    if (rc != KV_OK) {
        rpc_conn_close(c->conn, rc, "cannot queue hello");
        return rc;
    }
    return rpc_conn_connect(c->conn, (const struct sockaddr *)ss, sslen, c->cfg.connect_timeout_ms);
}

int rpc_client_connect(struct event_base *base, const struct rpc_client_config *cfg,
                       const struct rpc_client_ops *ops, void *arg, struct rpc_client **out)
{
    struct sockaddr_storage ss;
    int sslen = 0;
    int rc = KV_ENOMEM;
    struct rpc_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return KV_ENOMEM;
    c->base = base;
    c->ops = ops;
    c->arg = arg;
    c->refs = 1;
    c->next_id = 1;
    c->quiet = true;
    rc = client_copy_config(c, cfg);
    if (rc == KV_OK)
        rc = rpc_addr_resolve(c->addr, &ss, &sslen);
    if (rc == KV_OK)
        rc = client_open(c, &ss, sslen);
    c->quiet = false;
    if (rc != KV_OK)
        goto fail;
    *out = c;
    return KV_OK;
fail:
    log_info("rpc", "cannot connect addr=%s status=\"%s\"", cfg->addr ? cfg->addr : "(none)",
             kv_status_str(rc));
    rpc_client_free(c);
    return rc;
}

bool rpc_client_is_open(const struct rpc_client *c)
{
    return c->conn != NULL && rpc_conn_is_open(c->conn);
}

bool rpc_client_is_ready(const struct rpc_client *c)
{
    return c->ready && rpc_client_is_open(c);
}

size_t rpc_client_pending(const struct rpc_client *c)
{
    return c->npending;
}

const char *rpc_client_addr(const struct rpc_client *c)
{
    return c->addr;
}

void rpc_client_free(struct rpc_client *c)
{
    if (c == NULL || c->freed)
        return;
    c->freed = true;
    if (c->conn != NULL)
        rpc_conn_close(c->conn, KV_ECLOSED, "client closed");  /* fails pending requests */
    else
        client_fail_all(c, KV_ECLOSED);
    client_unref(c);
}
