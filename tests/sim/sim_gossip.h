/*
 * sim_gossip.h - a cluster of gossip nodes on the simulator, and the
 * cluster-wide views that tests and sim_report query.
 *
 * Node i is "n%04u" at address "10.<i/250>.<i%250>.1:7946" (zone "z<i % n_zones>"
 * when zones are on); nodes 0 .. n_seeds-1 are the seeds everyone joins
 * through. Each node runs the real membership state machine and the real
 * codec: every message is encoded to bytes, carried by the simulator and
 * decoded, so the wire format is exercised too. A crash frees the node's
 * membership; a restart creates a fresh one that rejoins via the seeds.
 *
 * Views: every membership event updates a matrix view[observer][target]
 * (the observer's latest known state of the target) and per-target
 * counts over the observers that are running, so "does everyone see X
 * dead" is O(1). A DEAD event about a node that is running is counted as
 * a false positive. With RINGKV_SIM_TRACE set in the environment every
 * event is printed to stderr with its virtual time.
 */
#ifndef RINGKV_TESTS_SIM_SIM_GOSSIP_H
#define RINGKV_TESTS_SIM_SIM_GOSSIP_H

#include <stdbool.h>
#include <stdint.h>

#include "gossip/membership.h"
#include "tests/sim/sim.h"

struct sg_config {
    uint32_t n_nodes;
    uint32_t n_seeds;
    uint32_t n_zones;                  /* 0 = no zones */
    struct membership_config member;   /* template: id, addr, zone are set per node */
};

struct sg_cluster;

/* Registers n_nodes nodes with sim (none started). The cluster borrows sim. */
int sg_create(struct sim *sim, const struct sg_config *cfg, struct sg_cluster **out) KV_MUST_USE;
void sg_free(struct sg_cluster *c);

/* Starts a node now: a fresh membership that joins through the seeds. */
void sg_start(struct sg_cluster *c, uint32_t node);
/* Starts nodes [first, first + count) / every node at random times in [now, now + spread_ms). */
void sg_start_range(struct sg_cluster *c, uint32_t first, uint32_t count, uint32_t spread_ms);
void sg_start_all(struct sg_cluster *c, uint32_t spread_ms);
/* The node's membership, or NULL if it is not running (not started, crashed). */
struct membership *sg_membership(struct sg_cluster *c, uint32_t node);
bool sg_running(const struct sg_cluster *c, uint32_t node);
uint32_t sg_running_count(const struct sg_cluster *c);

/* Every running node other than target sees target in state (target's own view excluded). */
bool sg_all_see(const struct sg_cluster *c, uint32_t target, enum gossip_state state);
/* Running observers that see target in state. */
uint32_t sg_count_seeing(const struct sg_cluster *c, uint32_t target, enum gossip_state state);
/* Every running node sees every other running node alive. */
bool sg_converged(const struct sg_cluster *c);
/* Every running node has installed ring version v (or newer). */
bool sg_all_have_ring(const struct sg_cluster *c, uint64_t v);

struct sg_stats {
    uint64_t false_deaths;      /* DEAD events about running nodes */
    uint64_t suspicions;        /* SUSPECT events (observer x target pairs) */
    uint64_t false_suspicions;  /* ... about running, unpaused nodes */
    uint64_t decode_errors;
    uint64_t rejected;          /* membership_handle_message said no */
    uint64_t refutations;       /* summed over the running nodes' memberships */
    uint64_t trace_hash;        /* every event so far, folded: equal runs, equal hash */
};
void sg_get_stats(const struct sg_cluster *c, struct sg_stats *out);

#endif
