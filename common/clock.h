/*
 * clock.h - time and randomness as replaceable ops.
 *
 * Cluster logic (gossip/, coordinator/) never calls clock_gettime or rand:
 * it is given a struct kv_clock and a struct kv_rand. kvnode passes
 * kv_clock_real; the simulator (tests/sim) passes a virtual clock that it
 * advances itself, and a seeded kv_rand, so one seed replays one run.
 */
#ifndef RINGKV_COMMON_CLOCK_H
#define RINGKV_COMMON_CLOCK_H

#include <stdint.h>

struct kv_clock {
    /* Wall-clock milliseconds since the Unix epoch (may jump; used for TTLs and LWW). */
    uint64_t (*wall_ms)(const struct kv_clock *c);
    /* Monotonic milliseconds from an arbitrary origin (timeouts, periods). */
    uint64_t (*mono_ms)(const struct kv_clock *c);
    void *ctx; /* implementation state (the simulator's virtual time) */
};

/* The operating system's clocks (CLOCK_REALTIME, CLOCK_MONOTONIC). */
extern const struct kv_clock kv_clock_real;

/*
 * Test only (fault campaigns, tests/chaos): the OS clocks with the wall
 * clock shifted by skew_ms (either way), as on a node whose NTP is off.
 * The monotonic clock is the OS's. ctx points back at the struct, so it
 * must not move once initialised. kvnode uses it when the environment
 * variable RINGKV_TEST_CLOCK_SKEW_MS is set (node/kvnode.c).
 */
struct kv_clock_skewed {
    struct kv_clock clock;
    int64_t skew_ms;
};
void kv_clock_skewed_init(struct kv_clock_skewed *s, int64_t skew_ms);

/* Monotonic nanoseconds from the OS, for metrics and benchmarks only. */
uint64_t kv_mono_ns(void);

/*
 * kv_rand - xoshiro256** seeded through splitmix64. Deterministic for a
 * seed, not cryptographic. Not thread-safe: one per owner.
 */
struct kv_rand {
    uint64_t s[4];
};

void kv_rand_seed(struct kv_rand *r, uint64_t seed);
uint64_t kv_rand_next(struct kv_rand *r);
/* Uniform in [0, n); n > 0. */
uint64_t kv_rand_below(struct kv_rand *r, uint64_t n);
/* Uniform double in [0, 1). */
double kv_rand_double(struct kv_rand *r);

#endif
