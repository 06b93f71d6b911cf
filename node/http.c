/* http.c - see http.h. */
#include "node/http.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "node/metrics.h"
#include "rpc/addr.h"

struct http_server {
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
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

static void http_send(struct evhttp_request *req, int code, const char *reason, const char *type,
                      const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add(b, body, len) != 0) {
        evhttp_send_error(req, 500, "Internal Server Error");
    } else {
        evhttp_send_reply(req, code, reason, b);
    }
    if (b)
        evbuffer_free(b);
}

static bool http_method_ok(struct evhttp_request *req)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    evhttp_send_error(req, 405, "Method Not Allowed");
    return false;
}

/* node_id and cluster_name are validated by the config to [A-Za-z0-9._-],
 * so they need no JSON escaping. */
static void http_health(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    if (!http_method_ok(req))
        return;
    uint64_t up_s = (kv_clock_real.mono_ms(&kv_clock_real) - s->started_ms) / 1000u;
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
    if (rc != KV_OK) {
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    http_send(req, s->draining ? 503 : 200, s->draining ? "Service Unavailable" : "OK",
              "application/json", s->body.data, s->body.len);
}

static void http_metrics(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    if (!http_method_ok(req))
        return;
    if (s->refresh)
        s->refresh(s->refresh_arg);
    kv_buf_reset(&s->body);
    if (metrics_render(s->metrics, &s->body) != KV_OK) {
        evhttp_send_error(req, 500, "Internal Server Error");
        return;
    }
    http_send(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
              s->body.data ? s->body.data : "", s->body.len);
}

static void http_not_found(struct evhttp_request *req, void *arg)
{
    evhttp_send_error(req, 404, "Not Found");
}

static int http_bind(struct http_server *s, const char *listen)
{
    char host[RPC_ADDR_HOST_BYTES_MAX];
    uint16_t port;
    if (rpc_addr_split(listen, host, sizeof host, &port) != KV_OK) {
        log_error("http", "bad listen address addr=%s", listen);
        return KV_EINVAL;
    }
    s->bound = evhttp_bind_socket_with_handle(s->http, host, port);
    if (!s->bound) {
        log_error("http", "cannot listen addr=%s", listen);
        return KV_EIO;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(s->bound), (struct sockaddr *)&ss, &len) == 0)
        s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return KV_OK;
}

int http_server_new(struct event_base *base, const struct http_server_config *cfg,
                    struct http_server **out)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return KV_ENOMEM;
    int rc = KV_ENOMEM;
    s->http = evhttp_new(base);
    s->node_id = strdup(cfg->node_id);
    s->cluster_name = strdup(cfg->cluster_name);
    s->version = strdup(cfg->version);
    if (!s->http || !s->node_id || !s->cluster_name || !s->version)
        goto fail;
    s->metrics = cfg->metrics;
    s->refresh = cfg->refresh;
    s->refresh_arg = cfg->refresh_arg;
    s->health = cfg->health;
    s->health_arg = cfg->health_arg;
    s->started_ms = kv_clock_real.mono_ms(&kv_clock_real);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_max_headers_size(s->http, HTTP_HEADERS_BYTES_MAX);
    evhttp_set_max_body_size(s->http, 0);
    evhttp_set_timeout(s->http, HTTP_TIMEOUT_S);
    evhttp_set_gencb(s->http, http_not_found, s);
    if (evhttp_set_cb(s->http, "/health", http_health, s) != 0 ||
        evhttp_set_cb(s->http, "/metrics", http_metrics, s) != 0)
        goto fail;
    rc = http_bind(s, cfg->listen);
    if (rc != KV_OK)
        goto fail;
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
    if (s->http)
        evhttp_free(s->http);
    free(s->node_id);
    free(s->cluster_name);
    free(s->version);
    kv_buf_free(&s->body);
    free(s);
}
