/*
 * cluster.h - this node's part in the cluster: SWIM membership, the ring,
 * ring changes staged by an operator, automatic joins, and the files that
 * let a restarted node find its cluster again.
 *
 * It wraps one gossip/membership state machine and stays sans-I/O in the
 * same way (no sockets, no timers): the driver (node/cluster_rt.h) feeds
 * it decoded gossip messages and ticks, and carries what it sends. The
 * only I/O is the two state files (node/state_file.h) when a state
 * directory is configured:
 *   ring   the newest ring (ring_encode), rewritten atomically whenever a
 *          newer one is committed here or arrives by gossip, and loaded at
 *          start, so a restarted node serves the ring it knew;
 *   peers  "ID ADDR" lines of up to NODE_CLUSTER_PEERS_SAVED_MAX members
 *          (alive ones first), rewritten at most every
 *          NODE_CLUSTER_PEERS_WRITE_MS when they change; a restarted node
 *          uses them as extra seeds, so even a seed node rejoins at once.
 *
 * Joining. At creation the node joins gossip through its seeds (plus the
 * saved peers) when auto-join is on, or when its ring already names it (a
 * restart); otherwise it waits for node_cluster_join (kvctl join).
 *
 * Auto-join (docs/CLUSTER.md). One member acts as claimant: the one with
 * the lowest id among the members in state alive or suspect. When
 * auto-join is on and this node is the claimant, and membership has been
 * quiet (no member joined or came back) for settle_ms, it commits a new
 * ring adding every alive member that is not in the ring yet:
 *   - no ring anywhere yet: ring_create with every alive member, so nodes
 *     started together own their partitions at once (no transfers). A node
 *     that has seeds other than itself waits until it knows some other
 *     member, and nobody creates a ring while a member advertises one;
 *   - otherwise ring_claim + ring_commit: the newcomers' partitions are
 *     recorded as pending transfers (data moves with the handoff issue).
 * The claimant never acts while some live member advertises a newer ring
 * than its own. Members that are dead stay in the ring; leaving and
 * removing always go through plan and commit. Two nodes committing at
 * once produce two rings of one version: gossip keeps the one whose
 * encoding has the larger checksum everywhere, and the claimant adds any
 * member the losing ring had added on its next pass.
 *
 * Staged changes (kvctl join / leave / remove, plan, commit, clear) live
 * in this node's memory only: commit builds the next ring version from
 * the newest ring known here, installs it and lets gossip spread it.
 * Rules: leave stages this node; remove stages another node that is dead
 * (or left); join stages this node after contacting a seed; a change
 * replaces an earlier one for the same node. The plan is recomputed at
 * commit time against the ring of that moment.
 *
 * Threading: one owner thread (the event loop). Callbacks run inside the
 * calls, like membership's.
 */
#ifndef RINGKV_NODE_CLUSTER_H
#define RINGKV_NODE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/status.h"
#include "gossip/codec.h"
#include "gossip/membership.h"
#include "gossip/ring.h"

#define NODE_CLUSTER_SEEDS_MAX MEMBERSHIP_SEEDS_MAX /* configured seeds + saved peers */
#define NODE_CLUSTER_PEERS_SAVED_MAX 8u
#define NODE_CLUSTER_PEERS_WRITE_MS 5000u
#define NODE_CLUSTER_STAGED_MAX 64u
/* Quiet time before the claimant commits joins: members started together
 * (docker-compose, a script) all land in the first ring. */
#define NODE_CLUSTER_SETTLE_MS_DEFAULT 2000u
/* The claimant checks for newcomers this often. */
#define NODE_CLUSTER_CLAIM_CHECK_MS 250u
#define NODE_CLUSTER_RING_FILE "ring"
#define NODE_CLUSTER_PEERS_FILE "peers"

struct node_cluster_config {
    const char *node_id;
    const char *cluster_name;
    const char *advertise;  /* HOST:PORT other nodes reach this one at */
    const char *zone;       /* NULL or "" = none */
    const char *state_dir;  /* ring and peers files; NULL = nothing persisted */
    uint32_t partitions;    /* Q of a ring this node creates */
    uint32_t n_val;         /* N of a ring this node creates */
    bool auto_join;
    const char *const *seeds; /* HOST:PORT, this node's own address is skipped */
    size_t n_seeds;
    uint32_t settle_ms;       /* 0 = NODE_CLUSTER_SETTLE_MS_DEFAULT */
    /* Protocol timing; NULL = membership_config_defaults. Its identity
     * fields (cluster name, id, addr, zone) are taken from above. */
    const struct membership_config *membership;
    uint64_t rand_seed;
};

/* Carries a gossip message to to_addr, best effort (membership_net_ops). */
struct node_cluster_net {
    void (*send)(void *ctx, const char *to_addr, const struct gossip_msg *msg);
    void *ctx;
};

enum node_cluster_change {
    NODE_CLUSTER_JOIN = 1,
    NODE_CLUSTER_LEAVE = 2,
    NODE_CLUSTER_REMOVE = 3,
};

struct node_cluster_staged {
    enum node_cluster_change kind;
    char id[RING_ID_BYTES_MAX + 1];
};

/* Counters since creation, and the member table by state now. */
struct node_cluster_stats {
    uint64_t suspect_events;     /* members that turned suspect here */
    uint64_t false_suspicions;   /* suspects that came back alive (refuted) */
    uint64_t dead_events;        /* members that turned dead here */
    uint64_t claims;             /* rings committed here by auto-join */
    uint64_t commits;            /* rings committed here by an operator */
    uint64_t rings_saved;        /* ring files written */
    uint64_t save_errors;        /* ring or peers files that could not be written */
    uint32_t members[GOSSIP_STATE_MAX + 1]; /* by enum gossip_state, this node included */
};

struct node_cluster;

/*
 * Creates the node's cluster state at now_ms: loads the ring and peers
 * files from state_dir (a damaged ring file is logged and ignored: the
 * ring comes back from peers), then joins as described above. Strings
 * are copied; net is copied. KV_EINVAL (bad config), KV_ENOMEM, KV_EIO.
 */
int node_cluster_new(const struct node_cluster_config *cfg, const struct node_cluster_net *net,
                     uint64_t now_ms, struct node_cluster **out) KV_MUST_USE;
void node_cluster_free(struct node_cluster *c);

/* One decoded gossip message (from: the transport's sender, for logs).
 * KV_OK, or membership's KV_EAUTH (foreign cluster) / KV_EPROTO. */
int node_cluster_handle_message(struct node_cluster *c, const char *from, const struct gossip_msg *msg,
                                uint64_t now_ms) KV_MUST_USE;
/* Runs timers: membership, auto-join, saving the ring and peers. */
void node_cluster_tick(struct node_cluster *c, uint64_t now_ms);
/* When node_cluster_tick next has work (never more than a gossip interval away). */
uint64_t node_cluster_next_tick_ms(const struct node_cluster *c);

/* ---- what the node knows (borrowed until the next call that changes state) ---- */

const struct membership *node_cluster_membership(const struct node_cluster *c);
/* The newest ring known here, or NULL before the cluster has one. */
const struct ring *node_cluster_ring(const struct node_cluster *c);
/* Whether gossip holds member id up (alive, suspect or leaving). */
bool node_cluster_is_up(const struct node_cluster *c, const char *id);
const char *node_cluster_node_id(const struct node_cluster *c);
void node_cluster_get_stats(const struct node_cluster *c, struct node_cluster_stats *out);

/* ---- operator commands (kvctl); why (may be NULL) gets one line on failure ---- */

/*
 * This node joins the cluster of seed (HOST:PORT): gossip through it and
 * stage "join" of this node. A node whose ring names other members is
 * already in a cluster: KV_ESTATE. A ring that names only this node is
 * dropped first (the cluster's ring replaces it). KV_EINVAL for a bad
 * address.
 */
int node_cluster_join(struct node_cluster *c, const char *seed, uint64_t now_ms, struct kv_buf *why) KV_MUST_USE;
/* Stages this node's leave. KV_ESTATE if it owns nothing in the ring. */
int node_cluster_stage_leave(struct node_cluster *c, struct kv_buf *why) KV_MUST_USE;
/* Stages the removal of member id: KV_EINVAL for this node (use leave),
 * KV_ESTATE if id is not in the ring or is alive, suspect or leaving. */
int node_cluster_stage_remove(struct node_cluster *c, const char *id, struct kv_buf *why) KV_MUST_USE;
void node_cluster_clear(struct node_cluster *c);
size_t node_cluster_staged_count(const struct node_cluster *c);
const struct node_cluster_staged *node_cluster_staged_at(const struct node_cluster *c, size_t i);

/*
 * What committing now would do: a plan from the current ring (or from
 * nothing: from_version 0) to the ring the staged changes give. The
 * caller frees it with ring_plan_free. KV_ESTATE when nothing is staged
 * or the staged changes are not possible now (why says which).
 */
int node_cluster_plan(struct node_cluster *c, struct ring_plan **out, struct kv_buf *why) KV_MUST_USE;

/*
 * Installs the staged changes: the next ring version is saved, installed
 * and spread by gossip; the staged list is cleared; a committed leave of
 * this node makes it LEAVING. *out (may be NULL) gets the plan that was
 * applied. KV_ESTATE as for node_cluster_plan, or when the changes move
 * nothing (the list is then cleared); KV_EIO if the ring file cannot be
 * written (nothing installed).
 */
int node_cluster_commit(struct node_cluster *c, uint64_t now_ms, struct ring_plan **out,
                        struct kv_buf *why) KV_MUST_USE;

/*
 * Ownership handoff finished partition p (coordinator/handoff.h): if the
 * newest ring still has p pending to member `to`, installs
 * ring_transfer_done of it as the next version (saved first) and gossip
 * spreads it. KV_ESTATE if p is not pending to `to` (already done, or
 * the ring moved on); KV_EIO if the ring file cannot be written.
 */
int node_cluster_transfer_done(struct node_cluster *c, uint32_t partition, const char *to,
                               uint64_t now_ms) KV_MUST_USE;

#endif
