/* listener.c - see listener.h. */
#include "rpc/listener.h"

#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "rpc/addr.h"

struct rpc_listener {
    struct evconnlistener *ev;
    struct event *retry;    /* one-shot, armed only after accept() ran out of resources */
    const char *log_tag;
    rpc_listener_accept_fn cb;
    void *arg;
    uint16_t port;
};

static void listener_accept_cb(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa, int len,
                               void *arg)
{
    struct rpc_listener *l = arg;
    l->cb(fd, sa, len, l->arg);
}

static void listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_listener *l = arg;
    evconnlistener_enable(l->ev);
}

static bool out_of_resources(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void listener_error_cb(struct evconnlistener *ev, void *arg)
{
    struct rpc_listener *l = arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (!out_of_resources(err)) {
        log_warn(l->log_tag, "accept failed error=\"%s\"", evutil_socket_error_to_string(err));
        return;
    }
    log_warn(l->log_tag, "accept failed; pausing error=\"%s\" retry_ms=%u", evutil_socket_error_to_string(err),
             RPC_LISTENER_ACCEPT_RETRY_MS);
    struct timeval tv = { RPC_LISTENER_ACCEPT_RETRY_MS / 1000u, (suseconds_t)(RPC_LISTENER_ACCEPT_RETRY_MS % 1000u) * 1000 };
    if (evtimer_add(l->retry, &tv) == 0)
        evconnlistener_disable(ev);  /* never without the timer that enables it again */
}

static uint16_t bound_port(evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

int rpc_listener_new(struct event_base *base, const char *addr, int backlog, const char *log_tag,
                     rpc_listener_accept_fn cb, void *arg, struct rpc_listener **out)
{
    struct sockaddr_storage ss;
    int sslen = 0;
    if (rpc_addr_resolve(addr ? addr : "", &ss, &sslen) != KV_OK) {
        log_error(log_tag, "bad listen address addr=%s", addr ? addr : "(none)");
        return KV_EINVAL;
    }
    struct rpc_listener *l = calloc(1, sizeof *l);
    if (l == NULL || (l->retry = evtimer_new(base, listener_retry_cb, l)) == NULL) {
        free(l);
        return KV_ENOMEM;
    }
    l->log_tag = log_tag;
    l->cb = cb;
    l->arg = arg;
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    l->ev = evconnlistener_new_bind(base, listener_accept_cb, l, flags, backlog, (struct sockaddr *)&ss, sslen);
    if (l->ev == NULL) {
        log_error(log_tag, "cannot listen addr=%s error=\"%s\"", addr,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        rpc_listener_free(l);
        return KV_EIO;
    }
    evconnlistener_set_error_cb(l->ev, listener_error_cb);
    l->port = bound_port(evconnlistener_get_fd(l->ev));
    *out = l;
    return KV_OK;
}

uint16_t rpc_listener_port(const struct rpc_listener *l) { return l->port; }

void rpc_listener_free(struct rpc_listener *l)
{
    if (l == NULL)
        return;
    if (l->ev)
        evconnlistener_free(l->ev);
    event_free(l->retry);
    free(l);
}
