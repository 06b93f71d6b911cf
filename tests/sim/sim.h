/*
 * sim.h - a deterministic, single-process network simulator.
 *
 * Nodes are handlers registered under an address string. They exchange
 * opaque byte messages through sim_send and ask to be woken with
 * sim_wake_at; the simulator owns virtual time (milliseconds from 0) and
 * an event queue ordered by (time, insertion number), so everything that
 * happens follows from the seed: one seed replays one run exactly.
 *
 * The network, all from the seeded generator:
 *  - delay: uniform in [latency_min_ms, latency_max_ms], plus with
 *    probability latency_tail_rate an exponential extra delay of mean
 *    latency_tail_mean_ms (slow paths), plus with probability
 *    reorder_rate a uniform extra delay up to reorder_delay_ms (so later
 *    messages overtake it);
 *  - loss: each message is dropped with probability drop_rate;
 *  - duplicates: with probability dup_rate a second copy is delivered,
 *    with its own delay;
 *  - cuts: sim_cut drops everything from one node to another (one-way);
 *    sim_partition cuts both ways between a set of nodes and the rest;
 *    cuts are checked at delivery, so messages in flight are lost too.
 * Node faults:
 *  - crash: on_crash runs (the handler discards all its state), messages
 *    to the node are dropped and its wake-ups ignored until sim_restart,
 *    which runs on_restart (fresh state; a gossip node rejoins via seeds);
 *  - pause: for a duration the node neither receives nor wakes; messages
 *    wait in its queue (like a SIGSTOPped process's socket buffer) and
 *    are delivered in order when it resumes, before its wake-up.
 *
 * Later layers (quorum, hints, anti-entropy) plug their own handlers in;
 * nothing here knows about gossip. Not thread-safe; handlers run inside
 * sim_run_* and may call sim_send / sim_wake_at / fault functions.
 */
#ifndef RINGKV_TESTS_SIM_SIM_H
#define RINGKV_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/status.h"

#define SIM_ADDR_BYTES_MAX 64u
#define SIM_NODES_MAX 4096u

struct sim;

struct sim_config {
    uint64_t seed;
    uint32_t latency_min_ms;
    uint32_t latency_max_ms;
    double latency_tail_rate;
    uint32_t latency_tail_mean_ms;
    double drop_rate;
    double dup_rate;
    double reorder_rate;
    uint32_t reorder_delay_ms;
};

/* seed 1, 1..5 ms uniform delay, no tail, no loss, no duplicates, no reordering. */
void sim_config_defaults(struct sim_config *cfg);

struct sim_node_ops {
    /* A message from node `from`; data is valid during the call only. */
    void (*on_message)(void *ctx, struct sim *s, uint32_t node, uint32_t from, const void *data, size_t len);
    /* The wake-up time asked with sim_wake_at has come. */
    void (*on_timer)(void *ctx, struct sim *s, uint32_t node);
    /* The node crashed: drop every piece of state. */
    void (*on_crash)(void *ctx, struct sim *s, uint32_t node);
    /* The node restarts after a crash: build fresh state. */
    void (*on_restart)(void *ctx, struct sim *s, uint32_t node);
};

struct sim_stats {
    uint64_t sent;
    uint64_t delivered;
    uint64_t dropped_loss;
    uint64_t dropped_cut;
    uint64_t dropped_down;
    uint64_t duplicated;
    uint64_t bytes_sent;
    uint64_t events;
};

int sim_create(const struct sim_config *cfg, struct sim **out) KV_MUST_USE;
void sim_free(struct sim *s);

/* Registers a node (up, not started: nothing happens until it sends or asks for a wake-up). */
int sim_add_node(struct sim *s, const char *addr, const struct sim_node_ops *ops, void *ctx,
                 uint32_t *out_node) KV_MUST_USE;
uint32_t sim_node_count(const struct sim *s);
const char *sim_node_addr(const struct sim *s, uint32_t node);
int sim_find_addr(const struct sim *s, const char *addr, uint32_t *out) KV_MUST_USE;
bool sim_node_up(const struct sim *s, uint32_t node);
bool sim_node_paused(const struct sim *s, uint32_t node);
/* Messages the node has sent since the start. */
uint64_t sim_node_sent(const struct sim *s, uint32_t node);

uint64_t sim_now(const struct sim *s);
uint64_t sim_seed(const struct sim *s);
/* A seed for the node's own generator: a function of the sim seed, the node and its restarts. */
uint64_t sim_node_seed(const struct sim *s, uint32_t node);
/* The simulator's generator, for scenario choices (same seed, same choices). */
struct kv_rand *sim_rand(struct sim *s);

/* Copies len bytes to the node at to_addr (unknown addresses count as loss). */
void sim_send(struct sim *s, uint32_t from, const char *to_addr, const void *data, size_t len);
/* Wakes the node at at_ms (or now, if earlier); an earlier pending wake-up wins. */
void sim_wake_at(struct sim *s, uint32_t node, uint64_t at_ms);

void sim_cut(struct sim *s, uint32_t from, uint32_t to);
void sim_partition(struct sim *s, const uint32_t *side, size_t n);
void sim_heal(struct sim *s);
void sim_crash(struct sim *s, uint32_t node);
void sim_restart(struct sim *s, uint32_t node);
void sim_pause(struct sim *s, uint32_t node, uint32_t duration_ms);

/* Runs fn(ctx, s) at virtual time at_ms (scheduled faults, checks). */
int sim_at(struct sim *s, uint64_t at_ms, void (*fn)(void *ctx, struct sim *s), void *ctx) KV_MUST_USE;

/* Processes every event up to and including until_ms; then now = until_ms. */
void sim_run_until(struct sim *s, uint64_t until_ms);
/*
 * Runs until pred(ctx) holds, testing it every step_ms of virtual time,
 * or until deadline_ms. Returns whether it held; sim_now tells when.
 */
bool sim_run_until_true(struct sim *s, bool (*pred)(void *ctx), void *ctx, uint32_t step_ms, uint64_t deadline_ms);

void sim_get_stats(const struct sim *s, struct sim_stats *out);

#endif
