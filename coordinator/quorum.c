/* quorum.c - see quorum.h. */
#include "coordinator/quorum.h"

#include <assert.h>
#include <string.h>

int quorum_required(enum coord_consistency level, uint32_t replicas, uint32_t n, uint32_t dflt,
                    uint32_t *out)
{
    uint32_t k;
    if (n == 0)
        return KV_EINVAL;
    switch (level) {
    case COORD_CONSISTENCY_DEFAULT:
        k = dflt == 0 ? 1 : (dflt > n ? n : dflt);
        break;
    case COORD_CONSISTENCY_ONE:
        k = 1;
        break;
    case COORD_CONSISTENCY_QUORUM:
        k = n / 2 + 1;
        break;
    case COORD_CONSISTENCY_ALL:
        k = n;
        break;
    case COORD_CONSISTENCY_EXPLICIT:
        if (replicas == 0 || replicas > n)
            return KV_EINVAL;
        k = replicas;
        break;
    default:
        return KV_EINVAL;
    }
    *out = k;
    return KV_OK;
}

void quorum_plan(const bool *alive, size_t len, uint32_t primaries, uint32_t self, bool primary_only,
                 struct quorum_plan *out)
{
    assert(primaries <= QUORUM_TARGETS_MAX && primaries <= len);
    memset(out, 0, sizeof *out);
    out->self_target = QUORUM_NONE;
    size_t next_fallback = primaries; /* fallbacks are used in list order, each once */
    for (uint32_t i = 0; i < primaries; i++) {
        uint32_t pref = i, hint_for = QUORUM_NONE;
        if (!alive[i]) {
            if (primary_only)
                continue;
            while (next_fallback < len && !alive[next_fallback])
                next_fallback++;
            if (next_fallback >= len)
                continue;
            pref = (uint32_t)next_fallback++;
            hint_for = i;
        }
        if (pref == self) {
            out->self_target = out->n;
            out->self_primary = hint_for == QUORUM_NONE;
        }
        out->t[out->n++] = (struct quorum_target){ pref, hint_for };
    }
}

enum quorum_state quorum_tally_state(const struct quorum_tally *t)
{
    if (t->ok >= t->need)
        return QUORUM_MET;
    uint32_t out = t->targets - t->ok - t->failed;
    return t->ok + out < t->need ? QUORUM_LOST : QUORUM_PENDING;
}

int quorum_write_failure_status(bool maybe_applied) { return maybe_applied ? KV_EINDOUBT : KV_EUNAVAIL; }

int quorum_read_failure_status(bool deadline_passed) { return deadline_passed ? KV_ETIMEDOUT : KV_EUNAVAIL; }
