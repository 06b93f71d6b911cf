/*
 * addr.h - "HOST:PORT" network addresses, as written in flags and configs.
 *
 * Accepted spellings: "127.0.0.1:7000", "[::1]:7000", "localhost:7000",
 * "0.0.0.0:0" (port 0 = any free port, for listeners). HOST is at most
 * RPC_ADDR_HOST_BYTES_MAX - 1 bytes. Names are resolved with getaddrinfo,
 * which blocks: fine at start-up and for tests; peers in a running cluster
 * should be given as IP literals so that the event loop never waits on DNS.
 */
#ifndef RINGKV_RPC_ADDR_H
#define RINGKV_RPC_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/status.h"

#define RPC_ADDR_HOST_BYTES_MAX 256u

/* Splits hostport into host (NUL-terminated, brackets removed) and port. KV_OK or KV_EINVAL. */
int rpc_addr_split(const char *hostport, char *host, size_t host_len, uint16_t *port) KV_MUST_USE;

/*
 * Resolves hostport to its first address (IPv4 preferred order as the
 * resolver returns it). KV_OK with *out and *len_out; KV_EINVAL if
 * malformed; KV_ENOTFOUND if the name does not resolve.
 */
int rpc_addr_resolve(const char *hostport, struct sockaddr_storage *out, int *len_out) KV_MUST_USE;

#endif
