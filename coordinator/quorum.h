/*
 * quorum.h - the pure arithmetic of quorum requests, apart from any I/O
 * so that tests call it without a cluster:
 *
 *   quorum_required   how many replies a read (R) or write (W) needs
 *   quorum_plan       which nodes a request goes to: the live primaries,
 *                     and for each primary that is down the next live
 *                     node of the preference list with a hint naming it
 *                     (the sloppy quorum), unless primary_only
 *   quorum_tally_*    where a request stands as replies come in
 *   quorum_*_status   what a request that did not reach its count tells
 *                     the client ("timeouts tell the truth")
 *
 * Indexes are positions in a key's preference list (gossip/ring.h): the
 * first `primaries` entries are the N primaries, the rest fallbacks in
 * preference order. No allocation, no state: thread-safe.
 */
#ifndef RINGKV_COORDINATOR_QUORUM_H
#define RINGKV_COORDINATOR_QUORUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "coordinator/coord.h"
#include "gossip/ring.h"

/* A request goes to at most one node per primary slot: N <= RING_N_VAL_MAX. */
#define QUORUM_TARGETS_MAX RING_N_VAL_MAX
#define QUORUM_NONE UINT32_MAX

/*
 * The replies a request needs, out of n replicas: ONE 1, QUORUM n/2 + 1,
 * ALL n, EXPLICIT `replicas` (KV_EINVAL unless 1 <= replicas <= n),
 * DEFAULT the cluster's default clamped to n. KV_EINVAL for an unknown
 * level or n == 0. *out is written only on KV_OK.
 */
int quorum_required(enum coord_consistency level, uint32_t replicas, uint32_t n, uint32_t dflt,
                    uint32_t *out) KV_MUST_USE;

struct quorum_target {
    uint32_t pref;      /* preference-list index of the node the request goes to */
    uint32_t hint_for;  /* preference-list index of the primary it stands in for, or QUORUM_NONE */
};

struct quorum_plan {
    uint32_t n;                              /* targets */
    struct quorum_target t[QUORUM_TARGETS_MAX];
    uint32_t self_target;                    /* index in t of this node, or QUORUM_NONE */
    bool self_primary;                       /* this node is one of the primaries */
};

/*
 * Plans a request over a preference list of len entries whose first
 * `primaries` (<= QUORUM_TARGETS_MAX) are the primaries. alive[i] says
 * whether gossip considers entry i up (the caller sets this node's own
 * entry true). self is this node's index or QUORUM_NONE. Each live
 * primary is a target; each primary that is down gets, unless
 * primary_only, the first live fallback not yet used, in list order;
 * primaries without a live stand-in are simply missing from the plan.
 */
void quorum_plan(const bool *alive, size_t len, uint32_t primaries, uint32_t self, bool primary_only,
                 struct quorum_plan *out);

/* Replies of one request. need <= targets is not required: a plan with
 * fewer targets than needed is refused before anything is sent. */
struct quorum_tally {
    uint32_t need;
    uint32_t targets;
    uint32_t ok;
    uint32_t failed;
};

enum quorum_state {
    QUORUM_PENDING = 0, /* still possible, not yet met */
    QUORUM_MET,         /* ok >= need */
    QUORUM_LOST,        /* the targets still out cannot make up need */
};

enum quorum_state quorum_tally_state(const struct quorum_tally *t);

/*
 * The status of a write that ended without W acknowledgements (its count
 * was lost, or its deadline passed). maybe_applied: some replica may hold
 * it (the local replica stored it, or a message carrying it left this
 * node). Then KV_EINDOUBT, never a plain failure; otherwise KV_EUNAVAIL
 * (provably applied nowhere).
 */
int quorum_write_failure_status(bool maybe_applied);

/* The status of a read that ended without R replies: KV_ETIMEDOUT at the
 * deadline, KV_EUNAVAIL when replicas failed. Reads change nothing. */
int quorum_read_failure_status(bool deadline_passed);

#endif
