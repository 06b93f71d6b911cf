/*
 * rpc_harness.c - shared fixture of the rpc tests (contract in rpc_harness.h).
 */
#include "rpc_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/coding.h"
#include "common/log.h"

#define PUMP_DEADLINE_MS 10000u

struct event_base *rt_base;
static struct event *rt_tick;
struct rpc_server *rt_srv;
enum handler_mode rt_mode;
struct rpc_reply_handle rt_held[HELD_MAX];
Ringkv__Envelope *rt_held_req[HELD_MAX];
int rt_nheld;
int rt_handled;

/* ---- helpers: loop pumping ---- */

static void tick_cb(evutil_socket_t fd, short what, void *arg) {}

/* Runs the loop until cond(arg) holds; false if the safety deadline passed first. */
bool pump_until(cond_fn cond, void *arg)
{
    uint64_t deadline = kv_clock_real.mono_ms(&kv_clock_real) + PUMP_DEADLINE_MS;
    while (!cond(arg)) {
        if (kv_clock_real.mono_ms(&kv_clock_real) > deadline)
            return false;
        event_base_loop(rt_base, EVLOOP_ONCE);
    }
    return true;
}

/* Runs the loop for about ms milliseconds (to show that something does NOT happen). */
void pump_for(uint32_t ms)
{
    uint64_t end = kv_clock_real.mono_ms(&kv_clock_real) + ms;
    while (kv_clock_real.mono_ms(&kv_clock_real) < end)
        event_base_loop(rt_base, EVLOOP_ONCE);
}

struct count_goal {
    const int *counter;
    int target;
};

static bool count_reached(void *arg)
{
    const struct count_goal *g = arg;
    return *g->counter >= g->target;
}

/* Pumps until *counter >= target. */
bool pump_count(const int *counter, int target)
{
    struct count_goal g = { counter, target };
    return pump_until(count_reached, &g);
}

/* ---- the server side ---- */

void reply_ping(struct rpc_reply_handle h, const Ringkv__Envelope *req)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__PingReply pr = RINGKV__PING_REPLY__INIT;
    if (req->body_case == RINGKV__ENVELOPE__BODY_PING)
        pr.payload = req->ping->payload;
    env.body_case = RINGKV__ENVELOPE__BODY_PING_REPLY;
    env.ping_reply = &pr;
    int rc = rpc_reply_send(h, &env);
    ck_assert(rc == KV_OK || rc == KV_ECLOSED);
}

static void handler(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                    struct rpc_reply_handle h)
{
    rt_handled++;
    if (rt_mode == ECHO) {
        reply_ping(h, req);
        rpc_envelope_free(req);
        return;
    }
    ck_assert_int_lt(rt_nheld, HELD_MAX);
    rt_held[rt_nheld] = h;
    rt_held_req[rt_nheld] = req;
    rt_nheld++;
}

void release_held(int i)
{
    reply_ping(rt_held[i], rt_held_req[i]);
    rpc_envelope_free(rt_held_req[i]);
    rt_held_req[i] = NULL;
}

struct rpc_server_config server_config(void)
{
    struct rpc_server_config cfg = { 0 };
    cfg.listen = "127.0.0.1:0";
    cfg.node_id = "n1";
    cfg.cluster_name = "c1";
    return cfg;
}

void start_server(const struct rpc_server_config *cfg)
{
    ck_assert_int_eq(rpc_server_start(rt_base, cfg, handler, NULL, &rt_srv), KV_OK);
    ck_assert_uint_gt(rpc_server_port(rt_srv), 0);
}

void setup(void)
{
    kv_log_set_level(KV_LOG_ERROR);
    rt_base = event_base_new();
    rt_tick = event_new(rt_base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = { 0, 5000 };
    event_add(rt_tick, &tv);
    rt_srv = NULL;
    rt_mode = ECHO;
    rt_nheld = 0;
    rt_handled = 0;
}

void teardown(void)
{
    for (int i = 0; i < rt_nheld; i++)
        rpc_envelope_free(rt_held_req[i]);
    rt_nheld = 0;
    rpc_server_free(rt_srv);
    rt_srv = NULL;
    event_free(rt_tick);
    event_base_free(rt_base);
}

/* ---- the client side ---- */

static void on_ready(void *arg, struct rpc_client *c, const Ringkv__HelloReply *hello)
{
    struct session *s = arg;
    s->ready++;
    snprintf(s->server_node, sizeof s->server_node, "%s", hello->node_id);
}

static void on_close(void *arg, struct rpc_client *c, int status, const char *message)
{
    struct session *s = arg;
    s->closed++;
    s->close_status = status;
    snprintf(s->close_message, sizeof s->close_message, "%s", message);
}

static const struct rpc_client_ops session_ops = { on_ready, on_close };

void call_cb(void *arg, int status, Ringkv__Envelope *reply)
{
    struct call *c = arg;
    c->calls++;
    c->status = status;
    if (reply != NULL && reply->body_case == RINGKV__ENVELOPE__BODY_PING_REPLY) {
        size_t n = strlen(c->expect);
        c->payload_ok = reply->ping_reply->payload.len == n &&
                        memcmp(reply->ping_reply->payload.data, c->expect, n) == 0;
    }
    if (c->done)
        (*c->done)++;
    rpc_envelope_free(reply);
}

struct rpc_client_config client_config(const char *cluster)
{
    static char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)rpc_server_port(rt_srv));
    struct rpc_client_config cfg = { 0 };
    cfg.addr = addr;
    cfg.node_id = "n2";
    cfg.cluster_name = cluster;
    cfg.role = RINGKV__ROLE__ROLE_NODE;
    return cfg;
}

struct rpc_client *connect_client(const struct rpc_client_config *cfg, struct session *s)
{
    struct rpc_client *c = NULL;
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(rpc_client_connect(rt_base, cfg, &session_ops, s, &c), KV_OK);
    return c;
}

int send_ping(struct rpc_client *c, struct call *call, const char *payload, uint32_t timeout_ms)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__Ping ping = RINGKV__PING__INIT;
    snprintf(call->expect, sizeof call->expect, "%s", payload);
    ping.payload.data = (uint8_t *)call->expect;
    ping.payload.len = strlen(call->expect);
    env.body_case = RINGKV__ENVELOPE__BODY_PING;
    env.ping = &ping;
    return rpc_client_request(c, &env, timeout_ms, call_cb, call, NULL);
}

/* One ping round trip on c; asserts it is answered. */
void assert_ping_works(struct rpc_client *c)
{
    int done = 0;
    struct call call = { 0 };
    call.done = &done;
    ck_assert_int_eq(send_ping(c, &call, "alive", 0), KV_OK);
    ck_assert(pump_count(&done, 1));
    ck_assert_int_eq(call.status, KV_OK);
    ck_assert(call.payload_ok);
}

/* ---- raw sockets: peers that do not follow the rules ---- */

void raw_open(struct raw *r)
{
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(r->fd, 0);
    struct sockaddr_in sa = { 0 };
    sa.sin_family = AF_INET;
    sa.sin_port = htons(rpc_server_port(rt_srv));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The kernel completes the handshake from the listen backlog: no loop needed. */
    ck_assert_int_eq(connect(r->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(fcntl(r->fd, F_SETFL, O_NONBLOCK), 0);
}

void raw_close(struct raw *r)
{
    close(r->fd);
    kv_buf_free(&r->in);
}

/* Sends all bytes, pumping the loop while the socket is full. */
void raw_send(struct raw *r, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            event_base_loop(rt_base, EVLOOP_ONCE);  /* let the server read */
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
}

void raw_send_env(struct raw *r, const Ringkv__Envelope *env)
{
    struct kv_buf b = { 0 };
    ck_assert_int_eq(rpc_frame_encode(env, 0, &b), KV_OK);
    raw_send(r, b.data, b.len);
    kv_buf_free(&b);
}

void raw_send_hello(struct raw *r, uint32_t version, const char *cluster)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__Hello hello = RINGKV__HELLO__INIT;
    hello.protocol_version = version;
    hello.cluster_name = (char *)cluster;
    env.request_id = 1;
    env.body_case = RINGKV__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    raw_send_env(r, &env);
}

bool raw_has_frame(const struct raw *r)
{
    return r->in.len >= 4 && r->in.len >= 4 + (size_t)kv_get_be32(r->in.data);
}

/* Reads what is there; true once a whole frame is buffered or the peer closed. */
bool raw_poll(void *arg)
{
    struct raw *r = arg;
    char buf[65536];
    for (;;) {
        if (raw_has_frame(r) || r->eof)
            return true;
        ssize_t n = recv(r->fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            r->eof = true;  /* FIN or reset */
            return true;
        }
        if (n < 0)
            return false;
        ck_assert_int_eq(kv_buf_append(&r->in, buf, (size_t)n), KV_OK);
    }
}

/* The next frame from the server, or NULL when the server closed first. */
Ringkv__Envelope *raw_read_env(struct raw *r)
{
    ck_assert(pump_until(raw_poll, r));
    if (!raw_has_frame(r))
        return NULL;
    size_t n = kv_get_be32(r->in.data);
    Ringkv__Envelope *env = NULL;
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(r->in.data + 4, n), &env), KV_OK);
    memmove(r->in.data, r->in.data + 4 + n, r->in.len - 4 - n);
    r->in.len -= 4 + n;
    return env;
}

/* Asserts that the server closes the raw connection without sending a frame. */
void raw_expect_close(struct raw *r)
{
    Ringkv__Envelope *env = raw_read_env(r);
    ck_assert_ptr_null(env);
    ck_assert(r->eof);
}
