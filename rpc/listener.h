/*
 * listener.h - the TCP listener every server of the node uses (native
 * rpc, RESP, HTTP): it binds "HOST:PORT", tells the bound port (for port
 * 0), and hands each accepted socket to the server's callback.
 *
 * A failed accept() (EMFILE or ENFILE: out of file descriptors; ENOBUFS,
 * ENOMEM) leaves the connection in the backlog and the socket readable,
 * so retrying at once would spin on the error: the listener logs one line
 * (under the server's log tag), stops accepting for
 * RPC_LISTENER_ACCEPT_RETRY_MS and then accepts again. Other accept errors
 * (a connection reset before it was taken) are logged and skipped.
 *
 * Ownership: the listener owns its socket and timer; free it with
 * rpc_listener_free (closes the socket). Threading: the event_base's thread.
 */
#ifndef RINGKV_RPC_LISTENER_H
#define RINGKV_RPC_LISTENER_H

#include <stdint.h>

#include <sys/socket.h>

#include <event2/util.h>

#include "common/status.h"

/* Pause after accept() failed for lack of descriptors or memory. */
#define RPC_LISTENER_ACCEPT_RETRY_MS 100u

struct event_base;
struct rpc_listener;

/* An accepted socket (non-blocking, close-on-exec), now the callee's. */
typedef void (*rpc_listener_accept_fn)(evutil_socket_t fd, struct sockaddr *addr, int addr_len, void *arg);

/*
 * Listens on addr ("HOST:PORT", rpc/addr.h) with backlog; cb(fd, addr,
 * addr_len, arg) gets each accepted socket. log_tag names the server in log lines ("rpc", "resp",
 * ...; a static string). KV_OK and *out; KV_EINVAL (bad address, logged),
 * KV_EIO (cannot listen, logged) or KV_ENOMEM.
 */
int rpc_listener_new(struct event_base *base, const char *addr, int backlog, const char *log_tag,
                     rpc_listener_accept_fn cb, void *arg, struct rpc_listener **out) KV_MUST_USE;

/* The port bound (the one chosen when addr asked for port 0). */
uint16_t rpc_listener_port(const struct rpc_listener *l);

/* Closes the socket and frees l; NULL is ignored. */
void rpc_listener_free(struct rpc_listener *l);

#endif
