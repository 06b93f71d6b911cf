/* timing.c - pure timing functions of the membership protocol (see timing.h). */
#include "gossip/timing.h"

#include <math.h>

#define TIMING_PUSH_PULL_SCALE_MEMBERS 32u
#define TIMING_RETRANSMIT_SCALE_MIN 3u

uint64_t timing_suspicion_min_ms(uint32_t mult, uint32_t n, uint32_t probe_interval_ms)
{
    double scale = n > 10 ? log10((double)n) : 1.0;
    return (uint64_t)((double)mult * scale * (double)probe_interval_ms);
}

uint32_t timing_suspicion_confirmations(uint32_t mult, uint32_t n)
{
    uint32_t k = mult > 2 ? mult - 2 : 0;
    uint32_t others = n > 2 ? n - 2 : 0;
    return others < k ? 0 : k;
}

uint64_t timing_suspicion_timeout_ms(uint64_t min_ms, uint64_t max_ms, uint32_t k, uint32_t confirmations)
{
    if (k == 0 || max_ms <= min_ms)
        return min_ms;
    double frac = log((double)confirmations + 1.0) / log((double)k + 1.0);
    double t = (double)max_ms - frac * (double)(max_ms - min_ms);
    return t < (double)min_ms ? min_ms : (uint64_t)t;
}

uint32_t timing_retransmit_limit(uint32_t mult, uint32_t n)
{
    uint32_t scale = (uint32_t)ceil(log10((double)n + 1.0));
    return mult * (scale > TIMING_RETRANSMIT_SCALE_MIN ? scale : TIMING_RETRANSMIT_SCALE_MIN);
}

uint64_t timing_push_pull_interval_ms(uint32_t base_ms, uint32_t n)
{
    if (n <= TIMING_PUSH_PULL_SCALE_MEMBERS)
        return base_ms;
    double doublings = ceil(log2((double)n) - log2((double)TIMING_PUSH_PULL_SCALE_MEMBERS));
    return (uint64_t)base_ms * (1u + (uint64_t)doublings);
}

uint64_t timing_awareness_scale_ms(uint32_t base_ms, uint32_t score)
{
    return (uint64_t)base_ms * (score + 1u);
}
