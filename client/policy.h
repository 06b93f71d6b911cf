/*
 * policy.h - the pure decisions of libringkv (internal): how options are
 * completed and checked, how "host:port" is parsed, how long to back off,
 * which answers may be retried. No I/O, no clock, no allocation, so that
 * tests/unit/test_client.c pins each rule down directly.
 *
 * Threading: plain functions on caller-owned data.
 */
#ifndef RINGKV_CLIENT_POLICY_H
#define RINGKV_CLIENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ringkv.h"
#include "common/status.h"

/* rkv_options with every default filled in and the strings copied. */
struct client_config {
    char cluster_name[RKV_CLUSTER_NAME_BYTES_MAX + 1];
    uint32_t connect_timeout_ms;
    uint32_t request_timeout_ms;
    uint32_t retries;
    uint32_t backoff_base_ms;
    uint32_t backoff_max_ms;
    uint32_t frame_bytes_max;
    bool tls;
    bool tls_skip_verify;
    const char *tls_ca_file;    /* borrowed from the rkv_options: read only inside rkv_connect */
    const char *tls_cert_file;
    const char *tls_key_file;
    bool routing;               /* !routing_off */
    uint32_t ring_refresh_ms;
    uint32_t route_conns_max;
    char user[RKV_USER_BYTES_MAX + 1];          /* "" = no credentials */
    char password[RKV_PASSWORD_BYTES_MAX + 1];  /* wiped by rkv_close */
};

/* Completes o (NULL = all defaults) into *out. KV_EINVAL for an empty or
 * over-long cluster name, backoff_base_ms > backoff_max_ms, a frame limit
 * under CLIENT_FRAME_BYTES_MIN, TLS files given without tls, an over-long
 * user or password, or a password without a user. */
#define CLIENT_FRAME_BYTES_MIN (4u * 1024u)
int client_config_from_options(const struct rkv_options *o, struct client_config *out) KV_MUST_USE;

/* Splits "host:port" or "[v6addr]:port" (port 1..65535, decimal) into
 * NUL-terminated host (brackets removed) and port. KV_EINVAL if malformed
 * or a part does not fit its buffer. */
int client_parse_hostport(const char *s, char *host, size_t host_size, char *port,
                          size_t port_size) KV_MUST_USE;

/* Backoff before retry number `attempt` (0 = the first retry): with
 * d = min(max_ms, base_ms * 2^attempt), d/2 + (rnd mod (d/2 + 1)).
 * rnd is a uniformly random 64-bit number supplied by the caller. */
uint32_t client_backoff_ms(uint32_t attempt, uint32_t base_ms, uint32_t max_ms, uint64_t rnd);

/* The deadline handed to the node for a call whose budget is budget_ms
 * (see Timeouts in ringkv.h); never 0 for a budget >= 1. */
uint32_t client_node_timeout_ms(uint32_t budget_ms);

/* A status the node answered that an idempotent request may retry. */
bool client_status_retriable(int status);

/* Whether a failure to reach or use a connection is worth another attempt
 * (time permitting): not for configuration errors (KV_EAUTH, KV_EPROTO,
 * KV_EIO from TLS), size limits or KV_EINVAL, which would fail again. */
bool client_conn_error_retriable(int status);

/* Of two errors from one round over the hosts, the one worth reporting:
 * configuration errors first, then KV_EBUSY, KV_ETIMEDOUT, KV_EUNAVAIL. */
int client_worse_error(int a, int b);

/* Maps a wire status (int32, maybe from a newer peer) to an RKV_* code:
 * known codes unchanged, anything else KV_EPROTO. */
int client_status_from_wire(int32_t wire);

#endif
