/* clock.c - the real clock and the xoshiro256** generator. */
#include "common/clock.h"

#include <time.h>

static uint64_t ts_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t real_wall_ms(const struct kv_clock *c) { (void)c; return ts_ms(CLOCK_REALTIME); }
static uint64_t real_mono_ms(const struct kv_clock *c) { (void)c; return ts_ms(CLOCK_MONOTONIC); }

const struct kv_clock kv_clock_real = { real_wall_ms, real_mono_ms, 0 };

static uint64_t skewed_wall_ms(const struct kv_clock *c)
{
    const struct kv_clock_skewed *s = c->ctx;
    return (uint64_t)((int64_t)ts_ms(CLOCK_REALTIME) + s->skew_ms);
}

void kv_clock_skewed_init(struct kv_clock_skewed *s, int64_t skew_ms)
{
    s->clock = (struct kv_clock){ skewed_wall_ms, real_mono_ms, s };
    s->skew_ms = skew_ms;
}

uint64_t kv_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void kv_rand_seed(struct kv_rand *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t kv_rand_next(struct kv_rand *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t kv_rand_below(struct kv_rand *r, uint64_t n)
{
    /* Rejection sampling removes modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do {
        v = kv_rand_next(r);
    } while (v >= limit);
    return v % n;
}

double kv_rand_double(struct kv_rand *r) { return (double)(kv_rand_next(r) >> 11) * 0x1.0p-53; }
