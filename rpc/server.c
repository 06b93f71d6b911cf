/*
 * server.c - listener, hello, request dispatch and reply handles (contract in server.h).
 *
 * Connections live in a slot table that grows by doubling up to
 * connections_max. A reply handle names (slot, generation); closing a
 * connection bumps its slot's generation, so a late reply finds a
 * mismatch and is dropped in O(1), without the handler holding any
 * reference. Every connection, refused ones included, is also on a list so
 * rpc_server_free can close them all.
 */
#include "rpc/server.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/limits.h"
#include "common/log.h"
#include "rpc/addr.h"
#include "rpc/conn.h"
#include "rpc/frame.h"
#include "rpc/listener.h"
#include "rpc/tls.h"

#define SLOT_NONE UINT32_MAX
#define SLOTS_INITIAL 64u

struct sconn {
    struct rpc_server *srv;
    struct rpc_conn *conn;
    struct sconn *prev, *next;  /* every connection of the server */
    uint32_t slot;              /* SLOT_NONE for a refused connection */
    uint32_t inflight;
    bool hello_done;
    Ringkv__Role role;
    uint32_t access;            /* granted by cfg.authenticate */
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
};

struct slot {
    struct sconn *conn;  /* NULL when free */
    uint32_t gen;        /* bumped on every release */
    uint32_t next_free;
};

struct rpc_server {
    struct event_base *base;
    struct rpc_listener *listener;
    rpc_request_fn handler;
    void *handler_arg;
    struct rpc_server_config cfg;  /* limits resolved to their defaults */
    char node_id[KV_NODE_ID_BYTES_MAX + 1];
    char cluster_name[KV_CLUSTER_NAME_BYTES_MAX + 1];
    struct rpc_conn_config conn_cfg;
    struct slot *slots;
    uint32_t nslots;
    uint32_t free_head;
    uint32_t refusing;
    struct sconn *conns;
    struct rpc_server_stats stats;
    uint16_t port;
};

static const struct rpc_conn_ops server_conn_ops;

/* Copies a peer-supplied string for a log line or an error message, hiding unprintable bytes. */
static void server_printable(char *dst, size_t dst_len, const char *src)
{
    size_t i = 0;
    for (; src[i] != 0 && i + 1 < dst_len; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (isprint(ch) && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    dst[i] = 0;
}

static int server_slot_take(struct rpc_server *s, uint32_t *out)
{
    if (s->free_head == SLOT_NONE) {
        uint32_t n = s->nslots ? s->nslots * 2 : SLOTS_INITIAL;
        if (n > s->cfg.connections_max)
            n = s->cfg.connections_max;
        if (n <= s->nslots)
            return KV_EBUSY;
        struct slot *ns = realloc(s->slots, (size_t)n * sizeof *ns);
        if (ns == NULL)
            return KV_ENOMEM;
        for (uint32_t i = s->nslots; i < n; i++) {
            ns[i].conn = NULL;
            ns[i].gen = 0;
            ns[i].next_free = i + 1 < n ? i + 1 : SLOT_NONE;
        }
        s->slots = ns;
        s->free_head = s->nslots;
        s->nslots = n;
    }
    *out = s->free_head;
    s->free_head = s->slots[*out].next_free;
    return KV_OK;
}

static void server_slot_release(struct rpc_server *s, uint32_t slot)
{
    s->slots[slot].conn = NULL;
    s->slots[slot].gen++;  /* invalidates every outstanding handle of this slot */
    s->slots[slot].next_free = s->free_head;
    s->free_head = slot;
}

static void sconn_on_close(void *arg, struct rpc_conn *c, int status, const char *reason)
{
    struct sconn *sc = arg;
    struct rpc_server *s = sc->srv;
    if (sc->slot != SLOT_NONE)
        server_slot_release(s, sc->slot);
    else
        s->refusing--;
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        s->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    s->stats.connections_open--;
    free(sc);
}

/* Sends an error envelope for request_id, then closes gracefully. */
static void sconn_refuse(struct sconn *sc, uint64_t request_id, int status, const char *message)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.request_id = request_id;
    env.status = status;
    env.error = (char *)message;
    if (rpc_conn_send(sc->conn, &env) != KV_OK)
        log_debug("rpc", "refusal not sent peer=%s", rpc_conn_peer(sc->conn));
    rpc_conn_close_after_flush(sc->conn, status, "refused");
}

/* Validates a Hello; on refusal writes the reason into why and returns the status. */
static int server_check_hello(const struct rpc_server *s, const Ringkv__Hello *h, char *why,
                              size_t why_len)
{
    if (h->protocol_version != RINGKV__PROTOCOL__PROTOCOL_VERSION) {
        snprintf(why, why_len, "protocol version %u is not supported: this node speaks version %u",
                 h->protocol_version, (unsigned)RINGKV__PROTOCOL__PROTOCOL_VERSION);
        return KV_EPROTO;
    }
    if (strlen(h->cluster_name) > KV_CLUSTER_NAME_BYTES_MAX ||
        strlen(h->node_id) > KV_NODE_ID_BYTES_MAX) {
        snprintf(why, why_len, "cluster name or node id longer than %u bytes",
                 KV_CLUSTER_NAME_BYTES_MAX);
        return KV_EPROTO;
    }
    if (strcmp(h->cluster_name, s->cluster_name) != 0) {
        char theirs[KV_CLUSTER_NAME_BYTES_MAX + 1];
        server_printable(theirs, sizeof theirs, h->cluster_name);
        snprintf(why, why_len, "cluster name \"%s\" does not match this node's cluster \"%s\"",
                 theirs, s->cluster_name);
        return KV_EAUTH;
    }
    const char *mode = s->cfg.conflict_mode ? s->cfg.conflict_mode : "";
    if (h->role == RINGKV__ROLE__ROLE_NODE && mode[0] && h->conflict_mode[0] &&
        strcmp(h->conflict_mode, mode) != 0) {
        char theirs[16], node[KV_NODE_ID_BYTES_MAX + 1];
        server_printable(theirs, sizeof theirs, h->conflict_mode);
        server_printable(node, sizeof node, h->node_id);
        snprintf(why, why_len, "conflict mode \"%s\" of node %s does not match this node's \"%s\" "
                 "(--conflict-mode must be the same on every node)", theirs, node, mode);
        return KV_EAUTH;
    }
    return KV_OK;
}

/* Runs cfg.authenticate (if any) on a Hello that passed server_check_hello. */
static int sconn_authenticate(struct sconn *sc, const Ringkv__Hello *h, char *why, size_t why_len)
{
    struct rpc_server *s = sc->srv;
    sc->access = RPC_ACCESS_ALL;
    if (s->cfg.authenticate == NULL)
        return KV_OK;
    char uri[RPC_TLS_URI_BYTES_MAX];
    bool have_uri = s->cfg.tls != NULL &&
                    rpc_tls_peer_uri(rpc_conn_bufferevent(sc->conn), uri, sizeof uri) == KV_OK;
    struct rpc_hello_identity id = { rpc_conn_peer(sc->conn), have_uri ? uri : NULL };
    int rc = s->cfg.authenticate(s->cfg.auth_arg, h, &id, &sc->access, why, why_len);
    return rc == KV_OK ? KV_OK : KV_EAUTH;
}

static void sconn_hello(struct sconn *sc, Ringkv__Envelope *env)
{
    struct rpc_server *s = sc->srv;
    char why[256];
    int rc = server_check_hello(s, env->hello, why, sizeof why);
    if (rc == KV_OK)
        rc = sconn_authenticate(sc, env->hello, why, sizeof why);
    if (rc != KV_OK) {
        s->stats.hellos_refused++;
        log_warn("rpc", "hello refused peer=%s status=\"%s\" reason=\"%s\"", rpc_conn_peer(sc->conn),
                 kv_status_str(rc), why);
        sconn_refuse(sc, env->request_id, rc, why);
        return;
    }
    sc->hello_done = true;
    rpc_conn_set_read_frame_limit(sc->conn, s->conn_cfg.frame_bytes_max);
    sc->role = env->hello->role == RINGKV__ROLE__ROLE_NODE ? RINGKV__ROLE__ROLE_NODE
                                                           : RINGKV__ROLE__ROLE_CLIENT;
    snprintf(sc->node_id, sizeof sc->node_id, "%s", env->hello->node_id);
    Ringkv__Envelope reply = RINGKV__ENVELOPE__INIT;
    Ringkv__HelloReply hr = RINGKV__HELLO_REPLY__INIT;
    hr.protocol_version = RINGKV__PROTOCOL__PROTOCOL_VERSION;
    hr.node_id = s->node_id;
    hr.cluster_name = s->cluster_name;
    reply.request_id = env->request_id;
    reply.body_case = RINGKV__ENVELOPE__BODY_HELLO_REPLY;
    reply.hello_reply = &hr;
    if (rpc_conn_send(sc->conn, &reply) != KV_OK)
        rpc_conn_close(sc->conn, KV_ECLOSED, "cannot queue hello reply");
}

/* Requests the server answers itself; returns true if env was one (and answered). */
static bool sconn_answer_locally(struct sconn *sc, const Ringkv__Envelope *env)
{
    const char *why = NULL;
    int status = KV_OK;
    if (env->body_case == RINGKV__ENVELOPE__BODY_HELLO) {
        status = KV_EPROTO;
        why = "hello was already received on this connection";
    } else if (env->body_case == RINGKV__ENVELOPE__BODY__NOT_SET) {
        status = KV_EINVAL;
        why = "request has no body, or a body this node does not know";
    } else if (env->body_case == RINGKV__ENVELOPE__BODY_CLUSTER && sc->role != RINGKV__ROLE__ROLE_NODE) {
        status = KV_EAUTH;
        why = "cluster messages are accepted only from nodes (hello role NODE)";
    }
    if (why == NULL)
        return false;
    Ringkv__Envelope reply = RINGKV__ENVELOPE__INIT;
    reply.request_id = env->request_id;
    reply.status = status;
    reply.error = (char *)why;
    if (rpc_conn_send(sc->conn, &reply) != KV_OK)
        log_debug("rpc", "local answer not sent peer=%s", rpc_conn_peer(sc->conn));
    return true;
}

static void sconn_on_envelope(void *arg, struct rpc_conn *c, Ringkv__Envelope *env)
{
    struct sconn *sc = arg;
    struct rpc_server *s = sc->srv;
    if (!sc->hello_done) {
        if (env->body_case == RINGKV__ENVELOPE__BODY_HELLO) {
            sconn_hello(sc, env);
        } else {
            s->stats.hellos_refused++;
            log_warn("rpc", "connection closed peer=%s reason=\"first frame is not a hello\" body=%d",
                     rpc_conn_peer(c), (int)env->body_case);
            rpc_conn_close(c, KV_EPROTO, "first frame is not a hello");
        }
        rpc_envelope_free(env);
        return;
    }
    if (sconn_answer_locally(sc, env)) {
        rpc_envelope_free(env);
        return;
    }
    struct rpc_reply_handle h = { s, sc->slot, s->slots[sc->slot].gen, env->request_id };
    struct rpc_peer peer = { rpc_conn_peer(c), sc->node_id, sc->role, sc->access };
    s->stats.requests++;
    if (++sc->inflight >= s->cfg.inflight_max)
        rpc_conn_pause_reading(c, true);
    s->handler(s->handler_arg, &peer, env, h);
}

static const struct rpc_conn_ops server_conn_ops = {
    .on_envelope = sconn_on_envelope,
    .on_connected = NULL,
    .on_close = sconn_on_close,
};

/* Wraps an accepted socket in a (TLS) bufferevent and a conn; registers it. */
static int server_add_conn(struct rpc_server *s, evutil_socket_t fd, uint32_t slot, struct sconn **out)
{
    struct bufferevent *bev = NULL;
    int rc = KV_ENOMEM;
    struct sconn *sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        evutil_closesocket(fd);
        return KV_ENOMEM;
    }
    if (s->cfg.tls != NULL) {
        rc = rpc_tls_bufferevent_new(s->cfg.tls, s->base, fd, NULL, &bev);
    } else {
        bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
        rc = bev ? KV_OK : KV_ENOMEM;
    }
    if (rc != KV_OK) {
        evutil_closesocket(fd);
        free(sc);
        return rc;
    }
    sc->srv = s;
    sc->slot = slot;
    rc = rpc_conn_new(s->base, bev, s->cfg.tls == NULL, NULL, &s->conn_cfg, &server_conn_ops, sc,
                      &sc->conn);
    if (rc != KV_OK) {
        free(sc);
        return rc;
    }
    if (s->conn_cfg.frame_bytes_max > RPC_SERVER_HELLO_FRAME_BYTES_MAX)
        rpc_conn_set_read_frame_limit(sc->conn, RPC_SERVER_HELLO_FRAME_BYTES_MAX);
    sc->next = s->conns;
    if (s->conns)
        s->conns->prev = sc;
    s->conns = sc;
    s->stats.connections_open++;
    if (slot != SLOT_NONE)
        s->slots[slot].conn = sc;
    *out = sc;
    return KV_OK;
}

static void server_accept_cb(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct rpc_server *s = arg;
    int one = 1;
    /* Replies are small and latency-bound; pipelining already batches them. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_debug("rpc", "TCP_NODELAY not set errno=%d", errno);
    uint32_t slot = SLOT_NONE;
    bool full = s->stats.connections_open - s->refusing >= s->cfg.connections_max;
    if (!full && server_slot_take(s, &slot) != KV_OK)
        full = true;
    if (full) {
        s->stats.connections_refused++;
        if (s->refusing >= RPC_SERVER_REFUSING_MAX) {
            evutil_closesocket(fd);  /* already telling enough peers; do not spend more */
            return;
        }
    }
    struct sconn *sc = NULL;
    if (server_add_conn(s, fd, slot, &sc) != KV_OK) {
        if (slot != SLOT_NONE)
            server_slot_release(s, slot);
        log_warn("rpc", "cannot set up accepted connection: out of memory");
        return;
    }
    s->stats.connections_accepted++;
    if (full) {
        char why[96];
        s->refusing++;
        snprintf(why, sizeof why, "too many connections: this node accepts %u",
                 s->cfg.connections_max);
        log_info("rpc", "connection refused peer=%s reason=\"%s\"", rpc_conn_peer(sc->conn), why);
        sconn_refuse(sc, 0, KV_EBUSY, why);
    }
}

static int server_copy_config(struct rpc_server *s, const struct rpc_server_config *cfg)
{
    const char *node = cfg->node_id ? cfg->node_id : "";
    const char *cluster = cfg->cluster_name ? cfg->cluster_name : "";
    if (strlen(node) > KV_NODE_ID_BYTES_MAX || strlen(cluster) > KV_CLUSTER_NAME_BYTES_MAX) {
        log_error("rpc", "node id or cluster name too long max=%u", KV_NODE_ID_BYTES_MAX);
        return KV_EINVAL;
    }
    snprintf(s->node_id, sizeof s->node_id, "%s", node);
    snprintf(s->cluster_name, sizeof s->cluster_name, "%s", cluster);
    s->cfg = *cfg;
    s->cfg.listen = NULL;  /* not kept: the caller's string */
    s->cfg.node_id = s->node_id;
    s->cfg.cluster_name = s->cluster_name;
    if (s->cfg.connections_max == 0)
        s->cfg.connections_max = KV_CONNECTIONS_MAX_DEFAULT;
    if (s->cfg.inflight_max == 0)
        s->cfg.inflight_max = RPC_SERVER_INFLIGHT_MAX_DEFAULT;
    s->conn_cfg.frame_bytes_max = cfg->frame_bytes_max ? cfg->frame_bytes_max : KV_FRAME_BYTES_MAX_DEFAULT;
    s->conn_cfg.idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : KV_IDLE_TIMEOUT_MS_DEFAULT;
    s->conn_cfg.frame_timeout_ms = cfg->frame_timeout_ms ? cfg->frame_timeout_ms : KV_FRAME_TIMEOUT_MS_DEFAULT;
    s->conn_cfg.output_bytes_max = cfg->output_bytes_max ? cfg->output_bytes_max : KV_CONN_OUTPUT_BYTES_MAX_DEFAULT;
    return KV_OK;
}

static int server_listen(struct rpc_server *s, const char *listen)
{
    int rc = rpc_listener_new(s->base, listen, RPC_SERVER_BACKLOG, "rpc", server_accept_cb, s, &s->listener);
    if (rc != KV_OK)
        return rc;
    s->port = rpc_listener_port(s->listener);
    log_info("rpc", "listening addr=%s port=%u tls=%s", listen, (unsigned)s->port,
             s->cfg.tls ? "on" : "off");
    return KV_OK;
}

int rpc_server_start(struct event_base *base, const struct rpc_server_config *cfg,
                     rpc_request_fn handler, void *arg, struct rpc_server **out)
{
    int rc = KV_ENOMEM;
    struct rpc_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto fail;
    s->base = base;
    s->handler = handler;
    s->handler_arg = arg;
    s->free_head = SLOT_NONE;
    rc = server_copy_config(s, cfg);
    if (rc != KV_OK)
        goto fail;
    rc = server_listen(s, cfg->listen);
    if (rc != KV_OK)
        goto fail;
    *out = s;
    return KV_OK;
fail:
    rpc_server_free(s);
    return rc;
}

uint16_t rpc_server_port(const struct rpc_server *s)
{
    return s->port;
}

void rpc_server_get_stats(const struct rpc_server *s, struct rpc_server_stats *out)
{
    *out = s->stats;
}

void rpc_server_free(struct rpc_server *s)
{
    if (s == NULL)
        return;
    rpc_listener_free(s->listener);
    while (s->conns != NULL)
        rpc_conn_close(s->conns->conn, KV_ECLOSED, "server stopped");  /* unlinks it */
    free(s->slots);
    free(s);
}

/* The open connection a handle refers to, or NULL if it has closed since. */
static struct sconn *server_handle_conn(struct rpc_reply_handle h)
{
    struct rpc_server *s = h.server;
    if (h.slot >= s->nslots || s->slots[h.slot].gen != h.gen)
        return NULL;
    return s->slots[h.slot].conn;
}

int rpc_reply_send(struct rpc_reply_handle h, Ringkv__Envelope *reply)
{
    struct rpc_server *s = h.server;
    struct sconn *sc = server_handle_conn(h);
    if (sc == NULL) {
        s->stats.replies_dropped++;
        return KV_ECLOSED;
    }
    if (sc->inflight-- == s->cfg.inflight_max)
        rpc_conn_pause_reading(sc->conn, false);
    reply->request_id = h.request_id;
    int rc = rpc_conn_send(sc->conn, reply);
    if (rc == KV_ETOOBIG || rc == KV_EINVAL) {
        log_warn("rpc", "reply not sendable peer=%s request_id=%llu status=\"%s\"",
                 rpc_conn_peer(sc->conn), (unsigned long long)h.request_id, kv_status_str(rc));
        Ringkv__Envelope err = RINGKV__ENVELOPE__INIT;
        err.request_id = h.request_id;
        err.status = KV_ETOOBIG;
        err.error = (char *)"the reply is larger than the frame limit";
        if (rpc_conn_send(sc->conn, &err) != KV_OK)
            s->stats.replies_dropped++;
    } else if (rc != KV_OK) {
        s->stats.replies_dropped++;
    }
    return rc;
}

int rpc_reply_error(struct rpc_reply_handle h, int status, const char *message)
{
    Ringkv__Envelope err = RINGKV__ENVELOPE__INIT;
    err.status = status;
    err.error = (char *)(message ? message : kv_status_str(status));
    return rpc_reply_send(h, &err);
}
