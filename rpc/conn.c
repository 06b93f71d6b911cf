/*
 * conn.c - framed connection over a bufferevent (contract in conn.h).
 *
 * States: OPEN (reading and writing) -> FLUSHING (close_after_flush: no
 * more reading, output draining) -> LINGERING (write side shut, input
 * discarded until the peer closes) -> CLOSED (bufferevent freed, on_close
 * run). rpc_conn_close jumps to CLOSED from anywhere. The struct itself is
 * reference-counted: each running callback holds a reference, so a user
 * callback may close the conn while the read loop is still on the stack.
 */
#include "rpc/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/limits.h"
#include "common/log.h"
#include "rpc/frame.h"
#include "rpc/tls.h"

enum conn_state { CONN_OPEN, CONN_FLUSHING, CONN_LINGERING, CONN_CLOSED };

/* Why reading is paused: a bit per reason, reading resumes when none is left. */
#define PAUSE_OUTPUT 1u  /* too many unsent bytes */
#define PAUSE_OWNER 2u   /* rpc_conn_pause_reading */

struct rpc_conn {
    struct bufferevent *bev;
    struct rpc_conn_config cfg;
    const struct rpc_conn_ops *ops;
    void *arg;
    struct rpc_frame_decoder dec;
    struct event *timer;      /* frame timeout; linger deadline while closing */
    struct event *resume_ev;  /* processes input left in the buffer when reading resumes */
    unsigned refs;
    unsigned pause;
    enum conn_state state;
    bool connected;
    bool got_data;  /* a byte of application data has arrived */
    int close_status;
    const char *close_reason;
    char peer[RPC_PEER_NAME_BYTES_MAX];
};

static void conn_ref(struct rpc_conn *c) { c->refs++; }

static void conn_unref(struct rpc_conn *c)
{
    if (--c->refs > 0)
        return;
    event_free(c->timer);
    event_free(c->resume_ev);
    rpc_frame_decoder_free(&c->dec);
    free(c);
}

static struct timeval conn_tv(uint32_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000u), (suseconds_t)((ms % 1000u) * 1000u) };
    return tv;
}

static void conn_set_timeouts(struct rpc_conn *c, uint32_t ms)
{
    struct timeval tv = conn_tv(ms);
    const struct timeval *p = ms ? &tv : NULL;
    bufferevent_set_timeouts(c->bev, p, p);
}

/* Reading is on exactly when the conn is open and unpaused, or lingering. */
static void conn_update_reading(struct rpc_conn *c)
{
    bool want = (c->state == CONN_OPEN && c->pause == 0) || c->state == CONN_LINGERING;
    if (want)
        bufferevent_enable(c->bev, EV_READ);
    else
        bufferevent_disable(c->bev, EV_READ);
}

/*
 * The single place a conn ends: frees the socket, logs the decision (at
 * level, with an optional detail such as the OS or TLS error), runs on_close.
 */
static void conn_finish(struct rpc_conn *c, int status, const char *reason, const char *detail,
                        enum kv_log_level level)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->state != CONN_OPEN) {
        /* An orderly close_after_flush: report the status it was given. */
        status = c->close_status;
        reason = c->close_reason;
    } else {
        KV_LOG(level, "rpc", "connection closed peer=%s status=\"%s\" reason=\"%s\" detail=\"%s\"",
               c->peer, kv_status_str(status), reason, detail ? detail : "");
    }
    c->state = CONN_CLOSED;
    bufferevent_free(c->bev);
    c->bev = NULL;
    event_del(c->timer);
    event_del(c->resume_ev);
    c->ops->on_close(c->arg, c, status, reason);
    conn_unref(c);  /* the reference the open connection held */
}

void rpc_conn_close(struct rpc_conn *c, int status, const char *reason)
{
    conn_finish(c, status, reason, NULL, KV_LOG_DEBUG);
}

/* Output is gone: half-close and wait for the peer's FIN (bounded by the linger timer). */
static void conn_start_linger(struct rpc_conn *c)
{
    c->state = CONN_LINGERING;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        conn_finish(c, c->close_status, c->close_reason, NULL, KV_LOG_DEBUG);
        return;
    }
    conn_update_reading(c);
}

void rpc_conn_close_after_flush(struct rpc_conn *c, int status, const char *reason)
{
    if (c->state != CONN_OPEN)
        return;
    c->state = CONN_FLUSHING;
    c->close_status = status;
    c->close_reason = reason;
    conn_update_reading(c);
    struct timeval tv = conn_tv(RPC_CONN_LINGER_TIMEOUT_MS);
    event_add(c->timer, &tv);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 && c->connected)
        conn_start_linger(c);
}

/* Frame timeout armed while a frame is half-received; never extended by progress. */
static void conn_update_frame_timer(struct rpc_conn *c)
{
    if (c->state != CONN_OPEN || c->cfg.frame_timeout_ms == 0)
        return;
    bool in_frame = rpc_frame_decoder_in_frame(&c->dec);
    bool armed = event_pending(c->timer, EV_TIMEOUT, NULL);
    if (in_frame && !armed) {
        struct timeval tv = conn_tv(c->cfg.frame_timeout_ms);
        event_add(c->timer, &tv);
    } else if (!in_frame && armed) {
        event_del(c->timer);
    }
}

/* Takes one frame's worth of the first input chunk. Returns false when the loop must stop. */
static bool conn_process_chunk(struct rpc_conn *c, struct evbuffer *in)
{
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
        return false;
    size_t used = 0;
    struct kv_slice frame;
    int rc = rpc_frame_decoder_feed(&c->dec, v.iov_base, v.iov_len, &used, &frame);
    if (rc != KV_OK) {
        conn_finish(c, rc, rc == KV_ETOOBIG ? "frame length over the limit" : "bad frame length",
                    NULL, KV_LOG_WARN);
        return false;
    }
    Ringkv__Envelope *env = NULL;
    if (frame.data != NULL)
        rc = rpc_envelope_decode(frame, &env);  /* before the drain: frame may point into in */
    evbuffer_drain(in, used);
    if (rc != KV_OK) {
        conn_finish(c, rc, "undecodable envelope", NULL, KV_LOG_WARN);
        return false;
    }
    if (env != NULL)
        c->ops->on_envelope(c->arg, c, env);
    return true;
}

static void conn_process_input(struct rpc_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (c->state == CONN_LINGERING || c->state == CONN_FLUSHING) {
        evbuffer_drain(in, evbuffer_get_length(in));  /* nobody listens any more */
        return;
    }
    conn_ref(c);
    while (c->state == CONN_OPEN && c->pause == 0 && conn_process_chunk(c, in)) {
    }
    conn_update_frame_timer(c);
    conn_unref(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct rpc_conn *c = arg;
    c->got_data = true;
    conn_process_input(c);
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_process_input(arg);
}

static void conn_set_paused(struct rpc_conn *c, unsigned bit, bool paused)
{
    unsigned before = c->pause;
    c->pause = paused ? (c->pause | bit) : (c->pause & ~bit);
    if (c->state != CONN_OPEN || (before == 0) == (c->pause == 0))
        return;
    conn_update_reading(c);
    /* Frames may sit in the input buffer already: no read event would announce them. */
    if (c->pause == 0)
        event_active(c->resume_ev, EV_READ, 0);
}

void rpc_conn_pause_reading(struct rpc_conn *c, bool paused)
{
    conn_set_paused(c, PAUSE_OWNER, paused);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct rpc_conn *c = arg;
    size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->state == CONN_FLUSHING && pending == 0) {
        conn_start_linger(c);
        return;
    }
    if ((c->pause & PAUSE_OUTPUT) && pending <= c->cfg.output_bytes_max / 2)
        conn_set_paused(c, PAUSE_OUTPUT, false);
}

/* Maps a bufferevent error to a status and a detail for the log line. */
static int conn_error_status(struct rpc_conn *c, char *detail, size_t len)
{
    int err = EVUTIL_SOCKET_ERROR();
    char tls[256];
    rpc_tls_error_string(c->bev, tls, sizeof tls);
    bool tls_failed = strcmp(tls, "none") != 0;
    if (tls_failed)
        snprintf(detail, len, "tls: %s", tls);
    else
        snprintf(detail, len, "%s", evutil_socket_error_to_string(err));
    /*
     * In TLS 1.3 a client learns that the server refused its certificate
     * only after its side of the handshake is done, from an alert read
     * before any application data: that is still a refused handshake.
     */
    if (tls_failed && !c->got_data)
        return KV_EAUTH;
    return c->connected ? KV_EIO : KV_EUNAVAIL;
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rpc_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = true;
        conn_set_timeouts(c, c->cfg.idle_timeout_ms);
        if (c->state == CONN_OPEN)
            event_del(c->timer);  /* the handshake deadline */
        int one = 1;
        if (setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            log_debug("rpc", "TCP_NODELAY not set peer=%s", c->peer);
        if (c->state == CONN_FLUSHING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            conn_start_linger(c);
        else if (c->state == CONN_OPEN && c->ops->on_connected != NULL)
            c->ops->on_connected(c->arg, c);
        return;
    }
    if (c->state != CONN_OPEN) {
        conn_finish(c, c->close_status, c->close_reason, NULL, KV_LOG_DEBUG);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (rpc_frame_decoder_in_frame(&c->dec))
            conn_finish(c, KV_ECLOSED, "peer closed in the middle of a frame", NULL, KV_LOG_INFO);
        else
            conn_finish(c, KV_ECLOSED, "peer closed", NULL, KV_LOG_DEBUG);
    } else if (what & BEV_EVENT_TIMEOUT) {
        if (c->connected)
            conn_finish(c, KV_ETIMEDOUT, "idle timeout", NULL, KV_LOG_INFO);
        else
            conn_finish(c, KV_EUNAVAIL, "connect timed out", NULL, KV_LOG_INFO);
    } else {
        char detail[300];
        int status = conn_error_status(c, detail, sizeof detail);
        const char *reason = status == KV_EAUTH ? "tls handshake failed"
                           : status == KV_EUNAVAIL ? "connect failed" : "socket error";
        conn_finish(c, status, reason, detail, status == KV_EIO ? KV_LOG_INFO : KV_LOG_WARN);
    }
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *c = arg;
    if (c->state == CONN_OPEN && !c->connected)
        conn_finish(c, KV_ETIMEDOUT, "connect or tls handshake did not complete in time", NULL,
                    KV_LOG_INFO);
    else if (c->state == CONN_OPEN)
        conn_finish(c, KV_ETIMEDOUT, "frame timeout: a started frame did not complete", NULL,
                    KV_LOG_INFO);
    else
        conn_finish(c, c->close_status, c->close_reason, NULL, KV_LOG_DEBUG);
}

static void conn_name_peer(struct rpc_conn *c, const char *peer)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (peer != NULL) {
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        return;
    }
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(c->peer, sizeof c->peer, "?");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        evutil_inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(c->peer, sizeof c->peer, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    } else if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        evutil_inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(c->peer, sizeof c->peer, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    } else {
        snprintf(c->peer, sizeof c->peer, "local");
    }
}

int rpc_conn_new(struct event_base *base, struct bufferevent *bev, bool connected,
                 const char *peer, const struct rpc_conn_config *cfg,
                 const struct rpc_conn_ops *ops, void *arg, struct rpc_conn **out)
{
    struct rpc_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        goto fail;
    c->timer = evtimer_new(base, conn_timer_cb, c);
    c->resume_ev = event_new(base, -1, 0, conn_resume_cb, c);
    if (c->timer == NULL || c->resume_ev == NULL)
        goto fail;
    c->bev = bev;
    c->cfg = *cfg;
    if (c->cfg.output_bytes_max == 0)
        c->cfg.output_bytes_max = KV_CONN_OUTPUT_BYTES_MAX_DEFAULT;
    c->ops = ops;
    c->arg = arg;
    c->refs = 1;
    c->connected = connected;
    c->state = CONN_OPEN;
    rpc_frame_decoder_init(&c->dec, cfg->frame_bytes_max);
    conn_name_peer(c, peer);
    bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    /* The write callback reports both "drained to half" (resume) and "empty" (flushed). */
    bufferevent_setwatermark(bev, EV_WRITE, c->cfg.output_bytes_max / 2, 0);
    conn_set_timeouts(c, c->cfg.idle_timeout_ms);
    if (!connected && c->cfg.frame_timeout_ms != 0) {
        /* A TLS handshake is a frame too: trickling it must not hold the socket. */
        struct timeval tv = conn_tv(c->cfg.frame_timeout_ms);
        event_add(c->timer, &tv);
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    *out = c;
    return KV_OK;
fail:
    if (c != NULL) {
        if (c->timer)
            event_free(c->timer);
        if (c->resume_ev)
            event_free(c->resume_ev);
        free(c);
    }
    bufferevent_free(bev);
    return KV_ENOMEM;
}

int rpc_conn_connect(struct rpc_conn *c, const struct sockaddr *sa, int salen, uint32_t timeout_ms)
{
    /* While connecting, libevent applies the write timeout to the connect itself. */
    struct timeval tv = conn_tv(timeout_ms);
    bufferevent_set_timeouts(c->bev, NULL, timeout_ms ? &tv : NULL);
    if (bufferevent_socket_connect(c->bev, sa, salen) != 0) {
        conn_finish(c, KV_EUNAVAIL, "connect failed", evutil_socket_error_to_string(
                    EVUTIL_SOCKET_ERROR()), KV_LOG_INFO);
        return KV_EUNAVAIL;
    }
    return KV_OK;
}

int rpc_conn_send(struct rpc_conn *c, const Ringkv__Envelope *env)
{
    if (c->state != CONN_OPEN)
        return KV_ECLOSED;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int rc = rpc_frame_encode_evbuffer(env, c->cfg.frame_bytes_max, out);
    if (rc != KV_OK)
        return rc;
    if (evbuffer_get_length(out) > c->cfg.output_bytes_max)
        conn_set_paused(c, PAUSE_OUTPUT, true);
    return KV_OK;
}

struct bufferevent *rpc_conn_bufferevent(const struct rpc_conn *c)
{
    return c->bev;
}

const char *rpc_conn_peer(const struct rpc_conn *c)
{
    return c->peer;
}

size_t rpc_conn_output_bytes(const struct rpc_conn *c)
{
    return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

bool rpc_conn_is_open(const struct rpc_conn *c)
{
    return c->state == CONN_OPEN;
}

void rpc_conn_set_read_frame_limit(struct rpc_conn *c, uint32_t frame_bytes_max)
{
    c->dec.frame_bytes_max = frame_bytes_max;
}
