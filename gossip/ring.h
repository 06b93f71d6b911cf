/*
 * ring.h - the partition ring: Q fixed partitions, each owned by one node.
 *
 * The 64-bit hash space of keys (kv_hash64, seed 0) is cut into Q equal
 * partitions, Q a power of two fixed when the cluster is created. The
 * partition of a key is the top log2(Q) bits of its hash, so partition p
 * covers hashes [p << (64 - log2 Q), (p + 1) << (64 - log2 Q)) and
 * "clockwise" means increasing p, wrapping from Q-1 to 0.
 *
 * A ring holds: a version (ordered; a committed change gets a higher one),
 * Q, the replication factor N (n_val), the members (node id and zone,
 * sorted by id, addressed by small indexes 0..count-1 that are only
 * meaningful inside one ring), the owner of every partition and, while a
 * change is being applied, the pending transfer target of a partition.
 *
 * Life of a change (riak-style staged plan/commit):
 *   target = ring_claim(cur, new member set)   balanced layout, few moves
 *   plan   = ring_plan(cur, target)            what moves from whom to whom
 *   next   = ring_commit(cur, target)          version+1; owners unchanged,
 *                                              pending = new owner
 *   ring_transfer_done(next, p)                after handoff of p: owner =
 *                                              pending, version+1
 * Reads and writes follow owner; handoff streams owner -> pending.
 *
 * Preference list of a partition: its owner, then the owners of the
 * following partitions clockwise, skipping nodes already chosen, until N
 * distinct nodes; when zones are set, nodes of zones not yet used are
 * preferred first. The list goes on past N with every other node in
 * clockwise order: those are the fallbacks of a sloppy quorum.
 *
 * Threading: a ring is a plain value; concurrent readers are fine, a
 * writer (ring_transfer_done) needs exclusive access. Every function that
 * returns a ring hands ownership to the caller (ring_free).
 */
#ifndef RINGKV_GOSSIP_RING_H
#define RINGKV_GOSSIP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/status.h"

#define RING_PARTITIONS_DEFAULT 256u
#define RING_PARTITIONS_MAX 16384u /* 2^14: ~16 per node at 1,000 nodes */
#define RING_MEMBERS_MAX 4096u     /* indexes fit in 16 bits on the wire */
#define RING_N_VAL_MAX 16u
#define RING_ID_BYTES_MAX KV_NODE_ID_BYTES_MAX
#define RING_ZONE_BYTES_MAX 64u
#define RING_NO_MEMBER UINT32_MAX

/* A node as given to ring_create / ring_claim. zone NULL or "" = none. */
struct ring_member_spec {
    const char *id;
    const char *zone;
};

struct ring;

/* One partition changing owner in a plan. Indexes are into plan->nodes. */
struct ring_move {
    uint32_t partition;
    uint32_t from; /* index into plan->nodes */
    uint32_t to;
};

/* Ownership of one node before and after a plan. */
struct ring_plan_node {
    char id[RING_ID_BYTES_MAX + 1];
    uint32_t before; /* partitions owned (or pending to it) in cur */
    uint32_t after;  /* partitions owned in target */
};

/* What a change does: ring_plan's result, owned by the caller. */
struct ring_plan {
    uint64_t from_version;
    uint64_t to_version;
    size_t n_moves;
    struct ring_move *moves; /* by increasing partition */
    size_t n_nodes;
    struct ring_plan_node *nodes; /* union of both rings, sorted by id */
};

/*
 * The partition of a hash / of a key in a ring of `partitions` partitions
 * (a power of two). This pair is the only place that maps keys to
 * partitions; everything else (storage prefixes, handoff, the SDK) must
 * call it.
 */
uint32_t ring_partition_of_hash(uint64_t hash, uint32_t partitions);
uint32_t ring_partition_of_key(const void *key, size_t len, uint32_t partitions);

/*
 * Creates version 1 of a cluster's ring: `partitions` (power of two, 1 ..
 * RING_PARTITIONS_MAX), replication factor n_val (1 .. RING_N_VAL_MAX) and
 * 1 .. RING_MEMBERS_MAX distinct members, laid out in stripes so that no
 * node (and, with zones, no zone) repeats within n_val consecutive
 * partitions where the counts allow it. KV_EINVAL on bad arguments.
 */
int ring_create(uint32_t partitions, uint32_t n_val, const struct ring_member_spec *members,
                size_t n_members, struct ring **out) KV_MUST_USE;
int ring_clone(const struct ring *r, struct ring **out) KV_MUST_USE;
void ring_free(struct ring *r);

uint64_t ring_version(const struct ring *r);
uint32_t ring_partitions(const struct ring *r);
uint32_t ring_n_val(const struct ring *r);
uint32_t ring_member_count(const struct ring *r);
/* Borrowed strings, valid while r lives; member < ring_member_count. */
const char *ring_member_id(const struct ring *r, uint32_t member);
const char *ring_member_zone(const struct ring *r, uint32_t member); /* "" if none */
/* False for a member that was left out of the last claim (it left or was
 * removed) and stays only until its partitions are handed off. */
bool ring_member_in_set(const struct ring *r, uint32_t member);
/* Index of a member by id, or KV_ENOTFOUND. */
int ring_member_find(const struct ring *r, const char *id, uint32_t *out) KV_MUST_USE;
/* Owner / pending transfer target (RING_NO_MEMBER if none) of a partition. */
uint32_t ring_owner(const struct ring *r, uint32_t partition);
uint32_t ring_pending(const struct ring *r, uint32_t partition);
/* Partitions a member owns now, and will own once pending transfers end. O(Q). */
uint32_t ring_owned_count(const struct ring *r, uint32_t member);
uint32_t ring_next_owned_count(const struct ring *r, uint32_t member);
uint32_t ring_pending_count(const struct ring *r); /* partitions in transfer */

/*
 * Writes up to cap member indexes of the preference list of `partition`
 * into out: N primaries first (fewer if the ring has fewer members), then
 * the fallbacks. Returns how many were written: min(cap, members).
 * O(Q) per call; callers on a hot path cache lists per partition.
 */
size_t ring_preference_list(const struct ring *r, uint32_t partition, uint32_t *out, size_t cap);

/*
 * Pairs of partitions closer than N (clockwise) with the same owner, and
 * (counted apart) with owners in the same zone. 0/0 means every window of
 * N consecutive partitions holds N distinct nodes and zones. O(Q * N).
 */
void ring_spacing_violations(const struct ring *r, uint32_t *node_pairs, uint32_t *zone_pairs);

/*
 * The claim function. Lays out ownership for the member set `members`
 * (1 .. RING_MEMBERS_MAX distinct ids) starting from cur's next ownership
 * (pending target where set, else owner). The result has version
 * ring_version(cur) + 1, no pending transfers, and:
 *  - balance: every member owns floor(Q/S) or ceil(Q/S) partitions;
 *  - few moves: only partitions of removed nodes and the surplus of nodes
 *    above their share move, plus at most S-1 more to repair spacing
 *    (adding one node to S moves at most ceil(Q/(S+1)) + S);
 *  - spacing: prefers layouts where no node, then no zone, repeats within
 *    N consecutive partitions.
 * Deterministic: the same cur and member set (in any order) give the same
 * ring. Cost O(Q^2 * N) worst case, milliseconds for Q = 256.
 */
int ring_claim(const struct ring *cur, const struct ring_member_spec *members, size_t n_members,
               struct ring **out) KV_MUST_USE;

/* The differences between cur's next ownership and target's ownership. */
int ring_plan(const struct ring *cur, const struct ring *target, struct ring_plan **out) KV_MUST_USE;
void ring_plan_free(struct ring_plan *plan);

/*
 * Installs a claimed layout: version ring_version(cur) + 1, owners as in
 * cur, pending = target's owner where it differs. Members are the union;
 * members absent from target keep their partitions until handed off.
 * KV_EINVAL if Q or n_val differ.
 */
int ring_commit(const struct ring *cur, const struct ring *target, struct ring **out) KV_MUST_USE;

/*
 * The handoff of `partition` finished: owner = pending, version + 1, and a
 * member that left the member set and owns nothing more is dropped (so
 * member indexes may change). KV_ESTATE if nothing is pending there.
 */
int ring_transfer_done(struct ring *r, uint32_t partition) KV_MUST_USE;

/*
 * Binary form (format in ring.c). ring_encode appends to out. ring_decode
 * validates every field (power-of-two Q, limits, sorted unique ids,
 * indexes in range, checksum, no trailing bytes) and returns KV_ECORRUPT
 * on anything else; on success *out is a new ring.
 */
int ring_encode(const struct ring *r, struct kv_buf *out) KV_MUST_USE;
int ring_decode(const char *data, size_t len, struct ring **out) KV_MUST_USE;

/* True if both rings have the same version, members and ownership. */
bool ring_equal(const struct ring *a, const struct ring *b);

#endif
