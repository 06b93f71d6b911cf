/*
 * cluster_internal.h - state shared by the files of node/cluster.h:
 *   cluster.c       lifecycle, events, state files, ticks, getters
 *   cluster_plan.c  staged changes, plans, commits, the auto-join claimant
 * Functions shared between them carry the prefix nc_. Not for use
 * outside those files.
 */
#ifndef RINGKV_NODE_CLUSTER_INTERNAL_H
#define RINGKV_NODE_CLUSTER_INTERNAL_H

#include "common/clock.h"
#include "node/cluster.h"

#define NC_STATE_DIR_BYTES_MAX 4352

struct node_cluster {
    char id[GOSSIP_ID_BYTES_MAX + 1];
    char cluster_name[GOSSIP_CLUSTER_BYTES_MAX + 1];
    char advertise[GOSSIP_ADDR_BYTES_MAX + 1];
    char zone[GOSSIP_ZONE_BYTES_MAX + 1];
    char state_dir[NC_STATE_DIR_BYTES_MAX]; /* "" = nothing persisted */
    uint32_t partitions, n_val, settle_ms;
    bool auto_join;
    char *seeds[NODE_CLUSTER_SEEDS_MAX]; /* configured (minus this node), then saved peers */
    size_t n_seeds;
    size_t n_config_seeds;               /* the first n_config_seeds of seeds */

    struct membership_config mcfg;       /* strings point at the arrays above */
    struct node_cluster_net net;
    struct kv_rand rand;
    struct membership *m;

    uint64_t now_ms;          /* of the call being served: events carry no time */
    bool joined;              /* membership_join has been called */
    uint64_t last_change_ms;  /* a member joined or came back */
    uint64_t next_claim_ms;
    bool waiting_logged;      /* "waiting for a seed" said once */
    bool ring_dirty;          /* a newer ring arrived by gossip: save it */
    uint64_t ring_saved_version;
    bool q_warned;            /* the ring's Q or N differs from the config: said once */
    bool peers_dirty;
    uint64_t next_peers_write_ms;

    struct node_cluster_staged staged[NODE_CLUSTER_STAGED_MAX];
    size_t n_staged;
    struct node_cluster_stats stats;
};

/* cluster.c */
/* Saves r (when persisting) and installs it as the newest ring. KV_EIO if
 * the file cannot be written (nothing installed). */
int nc_install(struct node_cluster *c, const struct ring *r, uint64_t now_ms) KV_MUST_USE;
/* A fresh membership state machine without a ring (replacing any). */
int nc_membership_reset(struct node_cluster *c, uint64_t now_ms) KV_MUST_USE;
/* True if some live member (not this node) advertises a ring newer than ours. */
bool nc_newer_ring_around(const struct node_cluster *c);
/* Writes one line into why (if not NULL) and returns status. */
int nc_fail(struct kv_buf *why, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* cluster_plan.c */
void nc_claim_tick(struct node_cluster *c, uint64_t now_ms);

#endif
