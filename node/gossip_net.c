/*
 * gossip_net.c - see gossip_net.h. One record per destination address
 * (struct gpeer, in a small hash table, never freed before the net: the
 * addresses are the cluster's members) holds its resolved socket address,
 * the lookup in flight and the messages waiting for it.
 */
#include "node/gossip_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/log.h"
#include "rpc/addr.h"
#include "rpc/frame.h"
#include "rpc/pool.h"

#define GN_BUCKETS 256u
#define GN_RECV_BYTES_MAX 65536u
#define GN_NUMERIC_BYTES_MAX (INET6_ADDRSTRLEN + 2 + 6 + 1) /* "[v6]:port" */

struct pending {
    struct kv_buf bytes;
    bool tcp;
};

struct gpeer {
    struct gpeer *next;
    struct gossip_net *g;
    char addr[GOSSIP_ADDR_BYTES_MAX + 1];  /* as membership spells it */
    char host[RPC_ADDR_HOST_BYTES_MAX];
    char port[8];
    char numeric[GN_NUMERIC_BYTES_MAX];    /* "ip:port" for the TCP pool */
    struct sockaddr_storage sa;
    socklen_t salen;
    bool resolved;
    bool looking;                          /* a lookup is in flight */
    struct evdns_getaddrinfo_request *req; /* it, when evdns still holds it */
    uint64_t resolved_at_ms, retry_at_ms;
    uint32_t retry_ms;
    bool resolve_logged, refused_logged;
    struct pending q[GOSSIP_NET_PENDING_MAX];
    size_t nq;
};

struct gossip_net {
    struct event_base *base;
    struct evdns_base *dns; /* NULL: blocking getaddrinfo (logged at start) */
    struct rpc_pool *pool;
    int fd;
    int family;
    struct event *ev;
    bool udp, closing;
    bool dial_names;    /* TLS: dial the advertised name, which certificates carry */
    gossip_net_deliver_fn deliver;
    void *arg;
    struct gpeer *buckets[GN_BUCKETS];
    struct kv_buf out;  /* encoding scratch */
    char *rbuf;         /* GN_RECV_BYTES_MAX */
    uint64_t logged[GOSSIP_NET_LOGGED_MAX]; /* hashes of foreign sources already logged */
    size_t n_logged;
    struct gossip_net_stats st;
};

static uint64_t gn_now_ms(void) { return kv_clock_real.mono_ms(&kv_clock_real); }

/* ---- addresses ---- */

static void format_numeric(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
}

static void peer_set_addr(struct gpeer *p, const struct sockaddr *sa, socklen_t len)
{
    memcpy(&p->sa, sa, len);
    p->salen = len;
    p->resolved = true;
    p->resolved_at_ms = gn_now_ms();
    p->retry_ms = 0;
    format_numeric(sa, p->numeric, sizeof p->numeric);
}

/* IP literals need no lookup: parsed here, never expire. */
static bool parse_numeric(struct gpeer *p)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    uint16_t port = (uint16_t)atoi(p->port);
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (evutil_inet_pton(AF_INET, p->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        peer_set_addr(p, (struct sockaddr *)in, sizeof *in);
        return true;
    }
    if (evutil_inet_pton(AF_INET6, p->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        peer_set_addr(p, (struct sockaddr *)in6, sizeof *in6);
        return true;
    }
    return false;
}

static struct gpeer **bucket(struct gossip_net *g, const char *addr)
{
    return &g->buckets[kv_hash64(addr, strlen(addr), 0) & (GN_BUCKETS - 1)];
}

static struct gpeer *peer_get(struct gossip_net *g, const char *addr)
{
    struct gpeer **b = bucket(g, addr);
    for (struct gpeer *p = *b; p; p = p->next)
        if (strcmp(p->addr, addr) == 0)
            return p;
    uint16_t port;
    struct gpeer *p = calloc(1, sizeof *p);
    if (!p || strlen(addr) > GOSSIP_ADDR_BYTES_MAX ||
        rpc_addr_split(addr, p->host, sizeof p->host, &port) != KV_OK || port == 0) {
        free(p);
        return NULL;
    }
    p->g = g;
    strcpy(p->addr, addr);
    snprintf(p->port, sizeof p->port, "%u", port);
    parse_numeric(p);
    p->next = *b;
    *b = p;
    return p;
}

/* ---- sending ---- */

static void on_tcp_receipt(void *arg, int status, Ringkv__Envelope *reply)
{
    struct gpeer *p = arg;
    struct gossip_net *g = p->g;
    if (status != KV_OK && !g->closing) {
        g->st.tcp_failed++;
        if (status == KV_EAUTH || status == KV_EPROTO) {
            g->st.foreign++;
            if (!p->refused_logged)
                log_warn("gossip_net", "peer refused our hello; not a node of this cluster addr=%s reason=\"%s\"",
                         p->addr, reply && reply->error ? reply->error : kv_status_str(status));
            p->refused_logged = true;
        } else {
            log_debug("gossip_net", "push-pull not delivered addr=%s status=\"%s\"", p->addr,
                      kv_status_str(status));
        }
    }
    rpc_envelope_free(reply);
}

static void send_tcp(struct gossip_net *g, struct gpeer *p, const char *data, size_t len)
{
    Ringkv__GossipPacket gp = RINGKV__GOSSIP_PACKET__INIT;
    gp.data.data = (uint8_t *)data;
    gp.data.len = len;
    Ringkv__ClusterMessage cm = RINGKV__CLUSTER_MESSAGE__INIT;
    cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_GOSSIP;
    cm.gossip = &gp;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_CLUSTER;
    env.cluster = &cm;
    int rc = rpc_pool_request(g->pool, g->dial_names ? p->addr : p->numeric, &env, GOSSIP_NET_TCP_TIMEOUT_MS, on_tcp_receipt, p);
    if (rc == KV_OK) {
        g->st.tcp_sent++;
    } else {
        g->st.tcp_failed++;
        log_debug("gossip_net", "push-pull not sent addr=%s status=\"%s\"", p->addr, kv_status_str(rc));
    }
}

static void send_udp(struct gossip_net *g, struct gpeer *p, const char *data, size_t len)
{
    struct sockaddr_in6 mapped;
    const struct sockaddr *sa = (const struct sockaddr *)&p->sa;
    socklen_t salen = p->salen;
    if (g->family == AF_INET6 && sa->sa_family == AF_INET) {
        /* A dual-stack socket reaches IPv4 peers through mapped addresses. */
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memset(&mapped, 0, sizeof mapped);
        mapped.sin6_family = AF_INET6;
        mapped.sin6_port = in->sin_port;
        mapped.sin6_addr.s6_addr[10] = mapped.sin6_addr.s6_addr[11] = 0xff;
        memcpy(&mapped.sin6_addr.s6_addr[12], &in->sin_addr, 4);
        sa = (const struct sockaddr *)&mapped;
        salen = sizeof mapped;
    }
    ssize_t n = sendto(g->fd, data, len, MSG_DONTWAIT, sa, salen);
    if (n == (ssize_t)len) {
        g->st.udp_sent++;
        g->st.udp_bytes_sent += len;
    } else {
        g->st.send_errors++;
        log_debug("gossip_net", "datagram not sent addr=%s error=\"%s\"", p->addr, strerror(errno));
    }
}

static void transmit(struct gossip_net *g, struct gpeer *p, const char *data, size_t len, bool tcp)
{
    if (tcp)
        send_tcp(g, p, data, len);
    else
        send_udp(g, p, data, len);
}

/* ---- resolving ---- */

static void flush_pending(struct gossip_net *g, struct gpeer *p)
{
    for (size_t i = 0; i < p->nq; i++) {
        if (p->resolved)
            transmit(g, p, p->q[i].bytes.data, p->q[i].bytes.len, p->q[i].tcp);
        else
            g->st.unresolved++;
        kv_buf_free(&p->q[i].bytes);
    }
    p->nq = 0;
}

static void resolve_failed(struct gossip_net *g, struct gpeer *p, const char *why)
{
    g->st.resolve_failures++;
    p->retry_ms = p->retry_ms ? p->retry_ms * 2 : GOSSIP_NET_RESOLVE_RETRY_MS;
    if (p->retry_ms > GOSSIP_NET_RESOLVE_TTL_MS)
        p->retry_ms = GOSSIP_NET_RESOLVE_TTL_MS;
    p->retry_at_ms = gn_now_ms() + p->retry_ms;
    if (p->resolved)
        p->resolved_at_ms = gn_now_ms(); /* keep the old address one more period */
    if (!p->resolve_logged)
        log_warn("gossip_net", "cannot resolve peer address addr=%s reason=\"%s\" retry_ms=%u", p->addr, why,
                 p->retry_ms);
    p->resolve_logged = true;
}

/* The first address of the socket's family (or, for a dual-stack socket, any). */
static void use_result(struct gossip_net *g, struct gpeer *p, const struct evutil_addrinfo *res)
{
    for (const struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == g->family || (g->family == AF_INET6 && ai->ai_family == AF_INET)) {
            peer_set_addr(p, ai->ai_addr, (socklen_t)ai->ai_addrlen);
            p->resolve_logged = false;
            return;
        }
    }
    resolve_failed(g, p, "no address of the listener's family");
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct gpeer *p = arg;
    struct gossip_net *g = p->g;
    p->req = NULL;
    p->looking = false;
    if (result == EVUTIL_EAI_CANCEL || g->closing) {
        if (res)
            evutil_freeaddrinfo(res);
        return;
    }
    if (result != 0)
        resolve_failed(g, p, evutil_gai_strerror(result));
    else
        use_result(g, p, res);
    if (res)
        evutil_freeaddrinfo(res);
    flush_pending(g, p);
}

static void start_lookup(struct gossip_net *g, struct gpeer *p)
{
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = g->family == AF_INET6 ? AF_UNSPEC : g->family;
    hints.ai_socktype = SOCK_DGRAM;
    p->looking = true;
    if (g->dns) {
        struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(g->dns, p->host, p->port, &hints, on_resolved, p);
        if (p->looking)
            p->req = req; /* NULL when the callback already ran */
        return;
    }
    struct evutil_addrinfo *res = NULL;
    int rc = evutil_getaddrinfo(p->host, p->port, &hints, &res);
    on_resolved(rc, res, p);
}

enum readiness { READY, WAIT, DROP };

static enum readiness peer_ready(struct gossip_net *g, struct gpeer *p, uint64_t now_ms)
{
    if (p->resolved) {
        if (!p->looking && p->host[0] && now_ms - p->resolved_at_ms > GOSSIP_NET_RESOLVE_TTL_MS &&
            now_ms >= p->retry_at_ms && !parse_numeric(p))
            start_lookup(g, p); /* refresh in the background; the old address serves meanwhile */
        return READY;
    }
    if (p->looking)
        return WAIT;
    if (now_ms < p->retry_at_ms)
        return DROP;
    start_lookup(g, p);
    return p->resolved ? READY : p->looking ? WAIT : DROP;
}

void gossip_net_send(struct gossip_net *g, const char *to_addr, const struct gossip_msg *msg)
{
    kv_buf_reset(&g->out);
    if (gossip_msg_encode(msg, &g->out) != KV_OK) {
        g->st.send_errors++;
        return;
    }
    bool tcp = !g->udp || msg->type == GOSSIP_PUSH_PULL_REQ || msg->type == GOSSIP_PUSH_PULL_RESP ||
               g->out.len > GOSSIP_NET_UDP_BYTES_MAX;
    struct gpeer *p = peer_get(g, to_addr);
    if (!p) {
        g->st.send_errors++;
        return;
    }
    switch (peer_ready(g, p, gn_now_ms())) {
    case READY:
        transmit(g, p, g->out.data, g->out.len, tcp);
        return;
    case WAIT:
        if (p->nq < GOSSIP_NET_PENDING_MAX) {
            struct pending *q = &p->q[p->nq];
            memset(&q->bytes, 0, sizeof q->bytes);
            if (kv_buf_set(&q->bytes, g->out.data, g->out.len) == KV_OK) {
                q->tcp = tcp;
                p->nq++;
                return;
            }
        }
        g->st.unresolved++;
        return;
    case DROP:
        g->st.unresolved++;
        return;
    }
}

/* ---- receiving ---- */

/* Hands one message to membership; a foreign one is logged once per source. */
static void deliver(struct gossip_net *g, const char *from, const char *data, size_t len)
{
    struct gossip_msg msg;
    if (gossip_msg_decode(data, len, &msg) != KV_OK) {
        g->st.decode_errors++;
        log_debug("gossip_net", "undecodable gossip dropped from=%s bytes=%zu", from, len);
        return;
    }
    if (g->deliver(g->arg, from, &msg) == KV_EAUTH) {
        g->st.foreign++;
        uint64_t h = kv_hash64(from, strlen(from), 0);
        bool seen = false;
        for (size_t i = 0; i < g->n_logged && !seen; i++)
            seen = g->logged[i] == h;
        if (!seen && g->n_logged < GOSSIP_NET_LOGGED_MAX) {
            g->logged[g->n_logged++] = h;
            log_warn("gossip_net", "gossip from another cluster dropped from=%s sender=%.*s cluster=%.*s", from,
                     (int)msg.sender_id.len, msg.sender_id.data, (int)msg.cluster.len, msg.cluster.data);
        }
    }
    gossip_msg_clear(&msg);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct gossip_net *g = arg;
    for (unsigned i = 0; i < GOSSIP_NET_RECV_BATCH; i++) {
        struct sockaddr_storage src;
        socklen_t srclen = sizeof src;
        ssize_t n = recvfrom(fd, g->rbuf, GN_RECV_BYTES_MAX, 0, (struct sockaddr *)&src, &srclen);
        if (n < 0)
            return; /* EAGAIN, or an ICMP error reported on the socket: nothing to read */
        char from[GN_NUMERIC_BYTES_MAX];
        format_numeric((struct sockaddr *)&src, from, sizeof from);
        g->st.udp_received++;
        g->st.udp_bytes_received += (uint64_t)n;
        deliver(g, from, g->rbuf, (size_t)n);
    }
}

void gossip_net_handle_packet(struct gossip_net *g, const struct rpc_peer *peer, Ringkv__Envelope *req,
                              struct rpc_reply_handle h)
{
    const Ringkv__GossipPacket *gp = req->cluster->gossip;
    g->st.tcp_received++;
    deliver(g, peer->addr, (const char *)gp->data.data, gp->data.len);
    Ringkv__GossipPacketReply gr = RINGKV__GOSSIP_PACKET_REPLY__INIT;
    Ringkv__ClusterMessage cm = RINGKV__CLUSTER_MESSAGE__INIT;
    cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_GOSSIP_REPLY;
    cm.gossip_reply = &gr;
    Ringkv__Envelope reply = RINGKV__ENVELOPE__INIT;
    reply.body_case = RINGKV__ENVELOPE__BODY_CLUSTER;
    reply.cluster = &cm;
    int rc = rpc_reply_send(h, &reply);
    if (rc != KV_OK && rc != KV_ECLOSED)
        log_debug("gossip_net", "gossip receipt not sent peer=%s status=\"%s\"", peer->addr, kv_status_str(rc));
    rpc_envelope_free(req);
}

/* ---- lifecycle ---- */

static int open_udp(struct gossip_net *g, const char *host, uint16_t port)
{
    char hostport[RPC_ADDR_HOST_BYTES_MAX + 16];
    struct sockaddr_storage ss;
    int len = 0;
    snprintf(hostport, sizeof hostport, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    if (rpc_addr_resolve(hostport, &ss, &len) != KV_OK) {
        log_error("gossip_net", "cannot resolve the gossip bind address addr=%s", hostport);
        return KV_EINVAL;
    }
    g->family = ss.ss_family;
    g->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int buf = GOSSIP_NET_SOCKET_BUFFER_BYTES;
    if (g->fd < 0 || setsockopt(g->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf) != 0 ||
        setsockopt(g->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf) != 0 ||
        bind(g->fd, (struct sockaddr *)&ss, (socklen_t)len) != 0) {
        log_error("gossip_net", "cannot listen for gossip on UDP addr=%s error=\"%s\"", hostport, strerror(errno));
        return KV_EIO;
    }
    g->ev = event_new(g->base, g->fd, EV_READ | EV_PERSIST, on_readable, g);
    if (!g->ev || event_add(g->ev, NULL) != 0)
        return KV_ENOMEM;
    return KV_OK;
}

static int open_pool(struct gossip_net *g, const struct gossip_net_config *cfg)
{
    struct rpc_pool_config pc;
    memset(&pc, 0, sizeof pc);
    pc.client.node_id = cfg->node_id;
    pc.client.cluster_name = cfg->cluster_name;
    pc.client.role = RINGKV__ROLE__ROLE_NODE;
    pc.client.frame_bytes_max = cfg->frame_bytes_max;
    pc.client.tls = cfg->tls;
    pc.backoff_max_ms = GOSSIP_NET_BACKOFF_MAX_MS;
    return rpc_pool_new(g->base, &pc, &g->pool);
}

int gossip_net_new(struct event_base *base, const struct gossip_net_config *cfg, gossip_net_deliver_fn deliver_fn,
                   void *arg, struct gossip_net **out)
{
    struct gossip_net *g = calloc(1, sizeof *g);
    if (!g)
        return KV_ENOMEM;
    g->base = base;
    g->fd = -1;
    g->udp = cfg->udp;
    g->dial_names = cfg->tls != NULL;
    g->deliver = deliver_fn;
    g->arg = arg;
    g->family = AF_INET;
    int rc = KV_ENOMEM;
    g->rbuf = malloc(GN_RECV_BYTES_MAX);
    if (!g->rbuf)
        goto fail;
    rc = open_pool(g, cfg);
    if (rc == KV_OK && cfg->udp)
        rc = open_udp(g, cfg->bind_host, cfg->port);
    if (rc != KV_OK)
        goto fail;
    g->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!g->dns)
        log_warn("gossip_net", "asynchronous DNS unavailable (no usable /etc/resolv.conf); peer names are "
                               "resolved with blocking lookups");
    *out = g;
    return KV_OK;
fail:
    gossip_net_free(g);
    return rc;
}

void gossip_net_get_stats(const struct gossip_net *g, struct gossip_net_stats *out) { *out = g->st; }

void gossip_net_free(struct gossip_net *g)
{
    if (!g)
        return;
    g->closing = true;
    rpc_pool_free(g->pool); /* receipts still pending run now, with their peers alive */
    for (size_t i = 0; i < GN_BUCKETS; i++)
        for (struct gpeer *p = g->buckets[i]; p; p = p->next)
            if (p->req)
                evdns_getaddrinfo_cancel(p->req);
    if (g->dns)
        evdns_base_free(g->dns, 0);
    for (size_t i = 0; i < GN_BUCKETS; i++) {
        while (g->buckets[i]) {
            struct gpeer *p = g->buckets[i];
            g->buckets[i] = p->next;
            for (size_t k = 0; k < p->nq; k++)
                kv_buf_free(&p->q[k].bytes);
            free(p);
        }
    }
    if (g->ev)
        event_free(g->ev);
    if (g->fd >= 0)
        close(g->fd);
    kv_buf_free(&g->out);
    free(g->rbuf);
    free(g);
}
