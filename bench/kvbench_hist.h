/*
 * kvbench_hist.h - a log-linear latency histogram (HDR-style) for kvbench.
 *
 * Values are nanoseconds. Below 2^KVB_HIST_SUB_BITS every value has its
 * own bucket; above, each power-of-two range [2^e, 2^(e+1)) is cut into
 * 2^KVB_HIST_SUB_BITS equal buckets, so a bucket is at most 1/128 of its
 * value wide: percentiles are within 0.8% of the exact sample, at a cost
 * of one array increment per sample and no sorting.
 *
 *     buckets = 2^SUB_BITS                      (values 0 .. 2^SUB_BITS - 1)
 *             + (MAX_BITS - SUB_BITS) * 2^SUB_BITS  (one row per octave above)
 *             = 128 + 29 * 128 = 3840 counters of 8 bytes = 30 KiB
 *
 * Values at or above 2^KVB_HIST_MAX_BITS ns (about 68 s) land in the last
 * bucket, whose quantile is reported as the maximum seen.
 * Threading: one histogram per thread; merge them at the end.
 */
#ifndef RINGKV_BENCH_KVBENCH_HIST_H
#define RINGKV_BENCH_KVBENCH_HIST_H

#include <stdint.h>

#define KVB_HIST_SUB_BITS 7
#define KVB_HIST_MAX_BITS 36
#define KVB_HIST_BUCKETS ((1u << KVB_HIST_SUB_BITS) + \
                          (KVB_HIST_MAX_BITS - KVB_HIST_SUB_BITS) * (1u << KVB_HIST_SUB_BITS))

struct kvb_hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t buckets[KVB_HIST_BUCKETS];
};

void kvb_hist_reset(struct kvb_hist *h);
void kvb_hist_record(struct kvb_hist *h, uint64_t ns);
/* Adds every sample of src to dst. */
void kvb_hist_merge(struct kvb_hist *dst, const struct kvb_hist *src);
/* The value (ns) below which a fraction q (0..1] of the samples lie: the
 * middle of the bucket holding that sample; 0 for an empty histogram. */
uint64_t kvb_hist_quantile(const struct kvb_hist *h, double q);

#endif
