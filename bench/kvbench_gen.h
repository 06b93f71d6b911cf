/*
 * kvbench_gen.h - key choosers of kvbench, after YCSB's core generators.
 *
 * Zipfian (Gray et al., "Quickly generating billion-record synthetic
 * databases", SIGMOD 1994, as used by YCSB's ZipfianGenerator): item i of
 * n is drawn with probability proportional to 1 / (i + 1)^theta,
 * theta = KVB_ZIPF_THETA = 0.99. Drawing is O(1); zeta(n) is computed
 * once in O(n), and extended incrementally when n grows (workload D).
 *
 * Scrambled zipfian (YCSB's ScrambledZipfianGenerator): a zipfian rank over
 * KVB_ZIPF_SCRAMBLE_ITEMS = 10^10 items (whose zeta is YCSB's published
 * constant, so nothing is summed), hashed with 64-bit FNV-1a and taken mod
 * the key count. The popular keys are then spread over the key space
 * instead of being the lowest key numbers.
 *
 * Latest (YCSB's SkewedLatestGenerator, workload D): key = newest - zipf,
 * with the zipfian over the keys inserted so far, so recent inserts are
 * the hottest.
 *
 * Threading: a generator belongs to one thread (it holds its own kv_rand).
 */
#ifndef RINGKV_BENCH_KVBENCH_GEN_H
#define RINGKV_BENCH_KVBENCH_GEN_H

#include <stdint.h>

#include "common/clock.h"

#define KVB_ZIPF_THETA 0.99
#define KVB_ZIPF_SCRAMBLE_ITEMS 10000000000ull
/* zeta(10^10, 0.99): YCSB's ScrambledZipfianGenerator.ZETAN. */
#define KVB_ZIPF_SCRAMBLE_ZETAN 26.46902820178302

struct kvb_zipf {
    uint64_t items;        /* draws are in [0, items) */
    double theta, alpha, zetan, zeta2, eta;
};

/* A zipfian over [0, items) (items >= 1), zeta computed here in O(items). */
void kvb_zipf_init(struct kvb_zipf *z, uint64_t items);
/* Grows the range to items (>= the current count), extending zeta. */
void kvb_zipf_grow(struct kvb_zipf *z, uint64_t items);
/* One draw; rank 0 is the most popular. */
uint64_t kvb_zipf_next(const struct kvb_zipf *z, struct kv_rand *r);

/* The scrambled-zipfian chooser over n keys. */
struct kvb_scrambled {
    struct kvb_zipf z;     /* over KVB_ZIPF_SCRAMBLE_ITEMS */
    uint64_t n;
};
void kvb_scrambled_init(struct kvb_scrambled *s, uint64_t n);
uint64_t kvb_scrambled_next(const struct kvb_scrambled *s, struct kv_rand *r);

/* 64-bit FNV-1a of the 8 little-endian bytes of v (YCSB's fnvhash64 mixes bytes alike). */
uint64_t kvb_fnv64(uint64_t v);

#endif
