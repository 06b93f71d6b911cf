/* kvbench_hist.c - see kvbench_hist.h. */
#include "bench/kvbench_hist.h"

#include <string.h>

#define SUB_COUNT (1u << KVB_HIST_SUB_BITS)

void kvb_hist_reset(struct kvb_hist *h)
{
    memset(h, 0, sizeof *h);
}

static uint32_t bucket_of(uint64_t v)
{
    if (v < SUB_COUNT)
        return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v);        /* 2^e <= v < 2^(e+1) */
    if (e >= KVB_HIST_MAX_BITS)
        return KVB_HIST_BUCKETS - 1;
    uint32_t shift = e - KVB_HIST_SUB_BITS;                   /* bucket width 2^shift */
    return (shift + 1) * SUB_COUNT + (uint32_t)((v >> shift) - SUB_COUNT);
}

/* Lowest value of bucket b and the bucket's width. */
static void bucket_range(uint32_t b, uint64_t *low, uint64_t *width)
{
    if (b < SUB_COUNT) {
        *low = b;
        *width = 1;
        return;
    }
    uint32_t shift = b / SUB_COUNT - 1;
    *low = ((uint64_t)SUB_COUNT + b % SUB_COUNT) << shift;
    *width = 1ull << shift;
}

void kvb_hist_record(struct kvb_hist *h, uint64_t ns)
{
    h->buckets[bucket_of(ns)]++;
    h->count++;
    h->sum_ns += ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void kvb_hist_merge(struct kvb_hist *dst, const struct kvb_hist *src)
{
    for (uint32_t i = 0; i < KVB_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}

uint64_t kvb_hist_quantile(const struct kvb_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < KVB_HIST_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= rank) {
            if (b == KVB_HIST_BUCKETS - 1)
                return h->max_ns;  /* the overflow bucket has no upper bound */
            uint64_t low, width;
            bucket_range(b, &low, &width);
            uint64_t mid = low + width / 2;
            return mid > h->max_ns ? h->max_ns : mid;
        }
    }
    return h->max_ns;
}
