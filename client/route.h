/*
 * route.h - the SDK's copy of the ring, for preference-list routing
 * (libringkv, internal).
 *
 * A client_route is built from a node's RingMap reply (kv.proto,
 * ADMIN_OP_RING_MAP): the members (id, native HOST:PORT, alive as that
 * node saw them) and, per partition, `width` member indexes, primary
 * replicas first. The partition of a key is computed exactly as
 * gossip/ring.c does it: the top log2(Q) bits of kv_hash64(key, 0)
 * (common/hash.c, linked into libringkv). The SDK does not link gossip/,
 * so this is the one other place that knows the rule; route.c's unit test
 * pins it against ring_partition_of_key.
 *
 * Immutable once built; a refresh builds a new one. Threading: as the
 * client that owns it.
 */
#ifndef RINGKV_CLIENT_ROUTE_H
#define RINGKV_CLIENT_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/conn.h"
#include "common/status.h"
#include "proto/kv.pb-c.h"

/* Bounds of a RingMap the SDK accepts (the ring's own limits, gossip/ring.h). */
#define CLIENT_ROUTE_PARTITIONS_MAX 16384u
#define CLIENT_ROUTE_MEMBERS_MAX 4096u
#define CLIENT_ROUTE_WIDTH_MAX 16u
#define CLIENT_ROUTE_SPEC_BYTES_MAX (CLIENT_HOST_BYTES_MAX + CLIENT_PORT_BYTES_MAX + 2)

struct client_route_member {
    char spec[CLIENT_ROUTE_SPEC_BYTES_MAX];  /* "host:port" as the node advertises it */
    bool usable;                             /* has an address that parses */
    bool alive;
};

struct client_route {
    uint64_t version;
    uint32_t partitions;   /* Q, a power of two */
    int q_bits;            /* log2(Q) */
    uint32_t width;        /* preference entries per partition (<= CLIENT_ROUTE_WIDTH_MAX) */
    uint32_t nmembers;
    struct client_route_member *members;
    uint32_t *preference;  /* partitions * width member indexes */
};

/*
 * Builds a route from m. KV_OK and *out (free with client_route_free);
 * KV_ENOTFOUND when the node has no ring (version 0: nothing to route
 * by); KV_EPROTO when the map is inconsistent (Q not a power of two or
 * over the limit, a width of 0 or over the limit, a preference array of
 * the wrong size or with an index out of range); KV_ENOMEM.
 */
int client_route_from_map(const Ringkv__RingMap *m, struct client_route **out) KV_MUST_USE;
void client_route_free(struct client_route *r);

/* The partition of key[0..len) in a ring of `partitions` (a power of
 * two): gossip/ring.h ring_partition_of_key. */
uint32_t client_route_partition(uint32_t partitions, const void *key, size_t len);

/* Member indexes of key's primary replicas that have a usable address,
 * alive ones first, each group in preference-list order. Writes at most
 * CLIENT_ROUTE_WIDTH_MAX entries to out; returns how many. */
size_t client_route_candidates(const struct client_route *r, const void *key, size_t len, uint32_t *out);

#endif
