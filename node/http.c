/* http.c - see http.h.
 *
 * A small HTTP/1.1 server of our own on libevent primitives: one
 * listener (rpc/listener.h), and per connection a bufferevent and a
 * deadline timer.
 * It answers one request per connection and then closes it (no keep-alive,
 * no pipelining, no request body): that is all /health and /metrics need,
 * and it lets every resource a client can hold be bounded.
 *
 * Limits (constants in http.h):
 *
 *   connections   connections_max open at once (kvnode: --max-connections);
 *                 the next one gets a 503 line and is closed at once, one
 *                 warning per HTTP_REFUSED_LOG_PERIOD_MS
 *   request head  request line + headers + the empty line, at most
 *                 HTTP_HEADER_BYTES_MAX; longer: 413. Only that much is
 *                 read before the head is parsed (read watermark)
 *   request time  HTTP_REQUEST_TIMEOUT_MS from accept() to the end of the
 *                 head, NOT reset by incoming bytes: a client trickling
 *                 its head gets 408 and is closed
 *   response time HTTP_RESPONSE_TIMEOUT_MS from the end of the head until
 *                 the client has taken the response and closed; then the
 *                 connection is closed anyway
 *   bytes after   HTTP_LINGER_BYTES_MAX read and dropped after the response
 *   accept()      fails (EMFILE): the listener pauses
 *                 RPC_LISTENER_ACCEPT_RETRY_MS (rpc/listener.h)
 *
 * So a connection lives at most HTTP_REQUEST_TIMEOUT_MS +
 * HTTP_RESPONSE_TIMEOUT_MS and buffers at most HTTP_HEADER_BYTES_MAX of
 * input plus one response.
 *
 * Request grammar (a strict subset of RFC 9112; anything else is 400) and
 * the head parser: node/http_head.h.
 *
 * Routing: /health and /metrics take GET and HEAD; another method on
 * them gets 405 with "Allow: GET, HEAD"; any other path 404.
 *
 * Response (to HEAD: the same without the body):
 *
 *   HTTP/1.1 SP status SP reason CRLF
 *   Date: IMF-fixdate CRLF
 *   Content-Type: type CRLF
 *   Content-Length: body bytes CRLF
 *   Cache-Control: no-store CRLF
 *   Allow: GET, HEAD CRLF                   (405 only)
 *   Connection: close CRLF
 *   CRLF
 *   body                                    (errors: the reason and LF, text/plain)
 *
 * Closing: once the response is written, the server shuts down its
 * sending side (the client reads EOF) and reads and drops what the client
 * still sends until it closes. Closing with unread input at once would
 * make the kernel send a reset, which can destroy the response before the
 * client reads it (e.g. a client refused for the body it is sending).
 */
#include "node/http.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "node/http_head.h"
#include "node/metrics.h"
#include "rpc/listener.h"

/* Pending connections the kernel queues for accept(). */
#define HTTP_LISTEN_BACKLOG 128
#define HTTP_REFUSED_REPLY \
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define HTTP_TEXT_TYPE "text/plain; charset=utf-8"

enum http_conn_state {
    HTTP_READING,    /* the head; deadline: accept + HTTP_REQUEST_TIMEOUT_MS */
    HTTP_WRITING,    /* the response; deadline: head + HTTP_RESPONSE_TIMEOUT_MS */
    HTTP_LINGERING,  /* sent and shut down; dropping input until the client closes */
};

struct http_conn {
    struct http_server *server;
    struct http_conn *prev, *next;
    struct bufferevent *bev;
    struct event *deadline;
    enum http_conn_state state;
    struct http_head head;
    size_t lingered_bytes;
};

struct http_server {
    struct event_base *base;
    struct rpc_listener *listener;
    struct http_conn *conns;
    uint32_t open, connections_max;
    uint64_t refused;
    uint64_t refused_log_next_ms;
    char *node_id, *cluster_name, *version;
    struct metrics *metrics;
    void (*refresh)(void *arg);
    void *refresh_arg;
    int (*health)(void *arg, struct kv_buf *out);
    void *health_arg;
    uint64_t started_ms;
    uint16_t port;
    bool draining;
    struct kv_buf body;   /* reused for every response */
};

static uint64_t http_now_ms(void) { return kv_clock_real.mono_ms(&kv_clock_real); }

static struct timeval http_tv(uint32_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000u), (suseconds_t)((ms % 1000u) * 1000u) };
    return tv;
}

/* ---- connections ---- */

static void http_conn_close(struct http_conn *c)
{
    struct http_server *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->open--;
    if (c->deadline)
        event_free(c->deadline);
    if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

static int http_conn_arm(struct http_conn *c, uint32_t ms)
{
    struct timeval tv = http_tv(ms);
    return evtimer_add(c->deadline, &tv) == 0 ? KV_OK : KV_ENOMEM;
}

static const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 503: return "Service Unavailable";
    default:  return "Internal Server Error";
    }
}

/* Queues the response, stops reading and gives the client
 * HTTP_RESPONSE_TIMEOUT_MS to take it. body == NULL: the reason as text. */
static void http_respond(struct http_conn *c, int status, const char *type, const char *body,
                         size_t len)
{
    char reason_body[64];
    if (!body) {
        type = HTTP_TEXT_TYPE;
        len = (size_t)snprintf(reason_body, sizeof reason_body, "%s\n", http_reason(status));
        body = reason_body;
    }
    char date[64] = "";
    time_t now_s = (time_t)(kv_clock_real.wall_ms(&kv_clock_real) / 1000u);
    struct tm tm;
    if (!gmtime_r(&now_s, &tm) ||
        strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm) == 0)
        date[0] = '\0';
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int n = evbuffer_add_printf(out,
                                "HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n"
                                "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                                status, http_reason(status), date, type, len,
                                status == 405 ? "Allow: GET, HEAD\r\n" : "");
    c->state = HTTP_WRITING;
    if (n < 0 || (!c->head.is_head && len > 0 && evbuffer_add(out, body, len) != 0) ||
        bufferevent_disable(c->bev, EV_READ) != 0 || http_conn_arm(c, HTTP_RESPONSE_TIMEOUT_MS) != KV_OK)
        http_conn_close(c);
}

/* node_id and cluster_name are validated by the config to [A-Za-z0-9._-],
 * so they need no JSON escaping. */
static void http_health(struct http_conn *c)
{
    struct http_server *s = c->server;
    uint64_t up_s = (http_now_ms() - s->started_ms) / 1000u;
    kv_buf_reset(&s->body);
    int rc = kv_buf_appendf(&s->body,
                            "{\"status\":\"%s\",\"node_id\":\"%s\",\"cluster_name\":\"%s\","
                            "\"version\":\"%s\",\"uptime_s\":%llu",
                            s->draining ? "draining" : "ok", s->node_id, s->cluster_name,
                            s->version, (unsigned long long)up_s);
    if (rc == KV_OK && s->health)
        rc = s->health(s->health_arg, &s->body);
    if (rc == KV_OK)
        rc = kv_buf_append(&s->body, "}\n", 2);
    if (rc != KV_OK)
        http_respond(c, 500, NULL, NULL, 0);
    else
        http_respond(c, s->draining ? 503 : 200, "application/json", s->body.data, s->body.len);
}

static void http_metrics(struct http_conn *c)
{
    struct http_server *s = c->server;
    if (s->refresh)
        s->refresh(s->refresh_arg);
    kv_buf_reset(&s->body);
    if (metrics_render(s->metrics, &s->body) != KV_OK)
        http_respond(c, 500, NULL, NULL, 0);
    else
        http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                     s->body.data ? s->body.data : "", s->body.len);
}

/* status: what http_head_parse returned, or 408. */
static void http_answer(struct http_conn *c, int status)
{
    const struct http_head *h = &c->head;
    if (status != 200)
        http_respond(c, status, NULL, NULL, 0);
    else if (h->route == HTTP_ROUTE_NONE)
        http_respond(c, 404, NULL, NULL, 0);
    else if (!h->get_or_head)
        http_respond(c, 405, NULL, NULL, 0);
    else if (h->route == HTTP_ROUTE_HEALTH)
        http_health(c);
    else
        http_metrics(c);
}

/* Input beyond the bytes read so far is held back by the read watermark
 * (HTTP_HEADER_BYTES_MAX) while the head is read. */
static void http_read_cb(struct bufferevent *bev, void *arg)
{
    struct http_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    if (c->state == HTTP_LINGERING) {
        c->lingered_bytes += len;
        if (evbuffer_drain(in, len) != 0 || c->lingered_bytes > HTTP_LINGER_BYTES_MAX)
            http_conn_close(c);
        return;
    }
    if (c->state != HTTP_READING || len == 0)
        return;
    const char *p = (const char *)evbuffer_pullup(in, -1);
    if (!p) {
        http_conn_close(c);
        return;
    }
    int status = http_head_parse(&c->head, p, len);
    if (status != 0)
        http_answer(c, status);
}

/* The output buffer emptied: the response is written. */
static void http_write_cb(struct bufferevent *bev, void *arg)
{
    struct http_conn *c = arg;
    if (c->state != HTTP_WRITING || evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return;
    c->state = HTTP_LINGERING;
    shutdown(bufferevent_getfd(bev), SHUT_WR);   /* the client reads EOF */
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    if (bufferevent_enable(bev, EV_READ) != 0) {
        http_conn_close(c);
        return;
    }
    http_read_cb(bev, c);   /* drops what is already buffered */
}

/* EOF or an error: the client went away (while lingering, as it should). */
static void http_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct http_conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        http_conn_close(c);
}

static void http_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    if (c->state == HTTP_READING)
        http_answer(c, 408);
    else
        http_conn_close(c);
}

/* ---- listener ---- */

/* Over the cap: one 503, then close (best effort; the socket is closed either way). */
static void http_refuse(struct http_server *s, evutil_socket_t fd)
{
    s->refused++;
    uint64_t now = http_now_ms();
    if (now >= s->refused_log_next_ms) {
        log_warn("http", "connection limit reached; refusing connections_max=%u refused_total=%llu",
                 s->connections_max, (unsigned long long)s->refused);
        s->refused_log_next_ms = now + HTTP_REFUSED_LOG_PERIOD_MS;
    }
    ssize_t n = send(fd, HTTP_REFUSED_REPLY, sizeof HTTP_REFUSED_REPLY - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    close(fd);
}

static void http_accept_cb(evutil_socket_t fd, struct sockaddr *sa,
                           int salen, void *arg)
{
    struct http_server *s = arg;
    if (s->open >= s->connections_max) {
        http_refuse(s, fd);
        return;
    }
    struct http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->server = s;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->open++;
    c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        close(fd);
        http_conn_close(c);
        return;
    }
    c->deadline = evtimer_new(s->base, http_deadline_cb, c);
    bufferevent_setcb(c->bev, http_read_cb, http_write_cb, http_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, HTTP_HEADER_BYTES_MAX);
    if (!c->deadline || http_conn_arm(c, HTTP_REQUEST_TIMEOUT_MS) != KV_OK ||
        bufferevent_enable(c->bev, EV_READ) != 0)
        http_conn_close(c);
}

int http_server_new(struct event_base *base, const struct http_server_config *cfg,
                    struct http_server **out)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return KV_ENOMEM;
    int rc = KV_ENOMEM;
    s->base = base;
    s->connections_max = cfg->connections_max ? cfg->connections_max : KV_CONNECTIONS_MAX_DEFAULT;
    s->node_id = strdup(cfg->node_id);
    s->cluster_name = strdup(cfg->cluster_name);
    s->version = strdup(cfg->version);
    if (!s->node_id || !s->cluster_name || !s->version)
        goto fail;
    s->metrics = cfg->metrics;
    s->refresh = cfg->refresh;
    s->refresh_arg = cfg->refresh_arg;
    s->health = cfg->health;
    s->health_arg = cfg->health_arg;
    s->started_ms = http_now_ms();
    rc = rpc_listener_new(base, cfg->listen, HTTP_LISTEN_BACKLOG, "http", http_accept_cb, s, &s->listener);
    if (rc != KV_OK)
        goto fail;
    s->port = rpc_listener_port(s->listener);
    *out = s;
    return KV_OK;
fail:
    http_server_free(s);
    return rc;
}

void http_server_set_draining(struct http_server *s) { s->draining = true; }

uint16_t http_server_port(const struct http_server *s) { return s->port; }

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    rpc_listener_free(s->listener);
    while (s->conns)
        http_conn_close(s->conns);
    free(s->node_id);
    free(s->cluster_name);
    free(s->version);
    kv_buf_free(&s->body);
    free(s);
}
