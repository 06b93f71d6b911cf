/* kvbench_gen.c - see kvbench_gen.h. */
#include "bench/kvbench_gen.h"

#include <math.h>

static double zeta_range(uint64_t from, uint64_t to, double theta)
{
    double sum = 0;
    for (uint64_t i = from; i < to; i++)
        sum += 1.0 / pow((double)(i + 1), theta);
    return sum;
}

/* Derives the constants that depend on items and zetan. */
static void zipf_derive(struct kvb_zipf *z)
{
    z->alpha = 1.0 / (1.0 - z->theta);
    z->eta = (1.0 - pow(2.0 / (double)z->items, 1.0 - z->theta)) / (1.0 - z->zeta2 / z->zetan);
}

static void zipf_setup(struct kvb_zipf *z, uint64_t items, double zetan)
{
    z->items = items;
    z->theta = KVB_ZIPF_THETA;
    z->zeta2 = zeta_range(0, 2, z->theta);
    z->zetan = zetan;
    zipf_derive(z);
}

void kvb_zipf_init(struct kvb_zipf *z, uint64_t items)
{
    zipf_setup(z, items, zeta_range(0, items, KVB_ZIPF_THETA));
}

void kvb_zipf_grow(struct kvb_zipf *z, uint64_t items)
{
    if (items <= z->items)
        return;
    z->zetan += zeta_range(z->items, items, z->theta);
    z->items = items;
    zipf_derive(z);
}

uint64_t kvb_zipf_next(const struct kvb_zipf *z, struct kv_rand *r)
{
    double u = kv_rand_double(r);
    double uz = u * z->zetan;
    if (uz < 1.0 || z->items < 2)
        return 0;
    if (uz < 1.0 + pow(0.5, z->theta))
        return 1;
    uint64_t v = (uint64_t)((double)z->items * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return v < z->items ? v : z->items - 1;
}

void kvb_scrambled_init(struct kvb_scrambled *s, uint64_t n)
{
    zipf_setup(&s->z, KVB_ZIPF_SCRAMBLE_ITEMS, KVB_ZIPF_SCRAMBLE_ZETAN);
    s->n = n;
}

uint64_t kvb_scrambled_next(const struct kvb_scrambled *s, struct kv_rand *r)
{
    return kvb_fnv64(kvb_zipf_next(&s->z, r)) % s->n;
}

uint64_t kvb_fnv64(uint64_t v)
{
    uint64_t h = 0xCBF29CE484222325ull;   /* FNV offset basis */
    for (int i = 0; i < 8; i++) {
        h ^= v & 0xFF;
        h *= 0x100000001B3ull;            /* FNV prime */
        v >>= 8;
    }
    return h;
}
