/*
 * timing.h - the timing math of the membership protocol, as pure functions.
 *
 * No clocks, no state: membership.c calls these with the current cluster
 * size, and tests call them directly. n is the number of live members
 * (alive, suspect or leaving, the caller included). Logarithms are base
 * 10, so timeouts and retransmit counts grow by one step per tenfold
 * cluster growth. The ideas follow SWIM (Das et al., 2002), Lifeguard
 * (Dadgar et al., 2017) and hashicorp/memberlist.
 */
#ifndef RINGKV_GOSSIP_TIMING_H
#define RINGKV_GOSSIP_TIMING_H

#include <stdint.h>

/*
 * Shortest suspicion timeout: mult * max(1, log10 n) * probe interval.
 * It must cover the time the suspect needs to hear of the suspicion and
 * spread its refutation, which grows with log n like any broadcast.
 */
uint64_t timing_suspicion_min_ms(uint32_t mult, uint32_t n, uint32_t probe_interval_ms);

/*
 * Independent confirmations that bring a suspicion timer down to its
 * minimum: mult - 2, or 0 when the cluster is too small to provide them
 * (fewer than that many members besides the suspect and ourselves).
 */
uint32_t timing_suspicion_confirmations(uint32_t mult, uint32_t n);

/*
 * Lifeguard's dynamic suspicion timeout: starts at max_ms with no
 * confirmation and shrinks with each independent one,
 *   max - (max - min) * log(c + 1) / log(k + 1),
 * never below min_ms; k == 0 gives min_ms. A lone (possibly unhealthy)
 * suspecter waits long; many agreeing members act fast.
 */
uint64_t timing_suspicion_timeout_ms(uint64_t min_ms, uint64_t max_ms, uint32_t k, uint32_t confirmations);

/*
 * How many messages carry one broadcast: mult * max(3, ceil(log10(n + 1))).
 * Each transmission reaches a given member with probability 1/(n-1) and
 * about n members transmit L times each, so a member misses a broadcast
 * with probability ~e^-L whatever n is. The log term makes the epidemic
 * last the log n rounds a large cluster needs; the floor of 3 keeps L at
 * 12 (miss ~6e-6) below 1,000 members, where 4 would miss ~2% of the time
 * and leave a refutation unheard until the next push-pull.
 */
uint32_t timing_retransmit_limit(uint32_t mult, uint32_t n);

/*
 * Push-pull period: base up to 32 members, then one more base per
 * doubling beyond 32, so the cluster-wide full-state traffic (n * n
 * records per period) grows like n^2 / log n rather than n^2.
 */
uint64_t timing_push_pull_interval_ms(uint32_t base_ms, uint32_t n);

/*
 * Lifeguard local health: a member that sees signs of its own slowness
 * (missed nacks, refuting suspicions, stalls) raises its awareness score
 * and stretches its probe interval and timeout to base * (score + 1).
 */
uint64_t timing_awareness_scale_ms(uint32_t base_ms, uint32_t score);

#endif
