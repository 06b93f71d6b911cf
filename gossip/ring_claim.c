/*
 * ring_claim.c - the claim function: who owns which partition.
 *
 * Three goals, in this order of priority:
 *  1. balance: every member owns floor(Q/S) or ceil(Q/S) partitions;
 *  2. few moves: a partition changes owner only if its owner left the
 *     member set or owns more than its share, plus a small repair budget;
 *  3. spacing: no node repeats within N consecutive partitions (so the
 *     first N distinct owners clockwise are the next N partitions), then
 *     no zone repeats within N.
 *
 * How:
 *  - targets: the floor/ceil shares; the extra +1 shares go to the members
 *    that own most now, so nobody gives up a partition it would get back.
 *  - fill: partitions of removed members and the surplus of members over
 *    their target are handed, one at a time, to the member with the
 *    largest deficit. It takes the candidate partition where it causes the
 *    fewest spacing conflicts, preferring partitions whose current owner
 *    is itself in conflict there, then the one farthest from partitions it
 *    already owns (which spreads a new node evenly around the ring).
 *  - repair: swaps of two partitions' owners (counts stay balanced) that
 *    lower the conflict score, best first, while the number of moved
 *    partitions stays within budget: S - 1 extra moves for a change, no
 *    limit for a new ring, none when nothing had to move.
 * A new ring starts from stripes (owner of p = member p mod S, members
 * interleaved by zone) and is repaired the same way; stripes are
 * conflict-free except where Q mod S leaves a short last stripe.
 *
 * Conflict score: each pair of partitions at clockwise distance d with
 * the same owner costs CLAIM_NODE_WEIGHT if d < min(N, S); with distinct
 * owners in the same zone it costs CLAIM_ZONE_WEIGHT if d < min(N, zones).
 * A node conflict weighs more than any number of zone conflicts one swap
 * can fix, so the repair never trades a node conflict for zone ones.
 *
 * Cost: fill is O(moves * Q * (N + Q/S)); each repair step is
 * O(conflicted partitions * Q * N), at most Q steps.
 */
#include <stdlib.h>
#include <string.h>

#include "gossip/ring.h"
#include "gossip/ring_internal.h"

#define CLAIM_NONE UINT32_MAX
#define CLAIM_NODE_WEIGHT 64u
#define CLAIM_ZONE_WEIGHT 1u

struct claim {
    uint32_t q, mask, s;
    uint32_t w_node; /* same node closer than this conflicts */
    uint32_t w_zone; /* same zone closer than this conflicts */
    uint32_t w;      /* max of the two */
    uint32_t *owner; /* [q] working layout, CLAIM_NONE = unassigned */
    uint32_t *orig;  /* [q] layout before the claim (moves are counted against it) */
    uint32_t *count; /* [s] partitions owned in the working layout */
    uint32_t *target;
    uint16_t *zone; /* [s] zone id, 0 = none */
    uint64_t moves, moves_max;
};

static uint32_t pair_cost(const struct claim *c, uint32_t d, uint32_t x, uint32_t y)
{
    if (x == CLAIM_NONE || y == CLAIM_NONE)
        return 0;
    if (x == y)
        return d < c->w_node ? CLAIM_NODE_WEIGHT : 0;
    if (c->zone[x] && c->zone[x] == c->zone[y] && d < c->w_zone)
        return CLAIM_ZONE_WEIGHT;
    return 0;
}

/* Conflicts member m would have at partition p with the partitions around it. */
static uint32_t cost_as(const struct claim *c, uint32_t p, uint32_t m)
{
    uint32_t cost = 0;
    for (uint32_t d = 1; d < c->w && d < c->q; d++) {
        cost += pair_cost(c, d, m, c->owner[(p + d) & c->mask]);
        cost += pair_cost(c, d, c->owner[(p - d) & c->mask], m);
    }
    return cost;
}

/* Clockwise-or-counter-clockwise distance from p to the nearest partition of m. */
static uint32_t spread(const struct claim *c, uint32_t p, uint32_t m)
{
    for (uint32_t d = 1; d <= c->q / 2; d++)
        if (c->owner[(p + d) & c->mask] == m || c->owner[(p - d) & c->mask] == m)
            return d;
    return c->q;
}

static void set_owner(struct claim *c, uint32_t p, uint32_t m)
{
    uint32_t old = c->owner[p];
    if (old != CLAIM_NONE)
        c->count[old]--;
    c->count[m]++;
    c->moves -= old != c->orig[p];
    c->moves += m != c->orig[p];
    c->owner[p] = m;
}

/* floor/ceil shares; the +1 shares go to members owning most now (then lowest index). */
static void claim_targets(struct claim *c)
{
    uint32_t base = c->q / c->s, extra = c->q % c->s;
    for (uint32_t i = 0; i < c->s; i++)
        c->target[i] = base;
    for (uint32_t k = 0; k < extra; k++) {
        uint32_t best = CLAIM_NONE;
        for (uint32_t i = 0; i < c->s; i++)
            if (c->target[i] == base && (best == CLAIM_NONE || c->count[i] > c->count[best]))
                best = i;
        c->target[best] = base + 1;
    }
}

static bool is_candidate(const struct claim *c, uint32_t p)
{
    uint32_t o = c->owner[p];
    return o == CLAIM_NONE || c->count[o] > c->target[o];
}

/* The best partition for receiver r among the candidates (see the file comment). */
static uint32_t best_partition(const struct claim *c, uint32_t r)
{
    uint32_t best = CLAIM_NONE, best_cost = 0, best_donor = 0, best_spread = 0;
    for (uint32_t p = 0; p < c->q; p++) {
        if (!is_candidate(c, p))
            continue;
        uint32_t cost = cost_as(c, p, r);
        uint32_t donor = c->owner[p] == CLAIM_NONE ? 0 : cost_as(c, p, c->owner[p]);
        if (best != CLAIM_NONE && (cost > best_cost || (cost == best_cost && donor < best_donor)))
            continue;
        uint32_t sp = spread(c, p, r);
        if (best != CLAIM_NONE && cost == best_cost && donor == best_donor && sp <= best_spread)
            continue;
        best = p;
        best_cost = cost;
        best_donor = donor;
        best_spread = sp;
    }
    return best;
}

static void claim_fill(struct claim *c)
{
    for (;;) {
        uint32_t r = CLAIM_NONE, deficit = 0;
        for (uint32_t i = 0; i < c->s; i++) {
            if (c->count[i] < c->target[i] && c->target[i] - c->count[i] > deficit) {
                deficit = c->target[i] - c->count[i];
                r = i;
            }
        }
        if (r == CLAIM_NONE)
            return;
        uint32_t p = best_partition(c, r);
        if (p == CLAIM_NONE)
            return; /* cannot happen: total deficit == orphans + total surplus */
        set_owner(c, p, r);
    }
}

/* Score change of swapping the owners of p and q (negative = better). */
static int64_t swap_delta(struct claim *c, uint32_t p, uint32_t q)
{
    uint32_t a = c->owner[p], b = c->owner[q];
    uint32_t d = (q - p) & c->mask;
    uint32_t dist = d < c->q - d ? d : c->q - d;
    uint32_t shared = 0;
    if (dist < c->w)
        shared = d == dist ? pair_cost(c, dist, a, b) : pair_cost(c, dist, b, a);
    int64_t before = (int64_t)cost_as(c, p, a) + cost_as(c, q, b) - shared;
    c->owner[p] = b;
    c->owner[q] = a;
    uint32_t shared_after = 0;
    if (dist < c->w)
        shared_after = d == dist ? pair_cost(c, dist, b, a) : pair_cost(c, dist, a, b);
    int64_t after = (int64_t)cost_as(c, p, b) + cost_as(c, q, a) - shared_after;
    c->owner[p] = a;
    c->owner[q] = b;
    return after - before;
}

static uint64_t moves_after_swap(const struct claim *c, uint32_t p, uint32_t q)
{
    uint32_t a = c->owner[p], b = c->owner[q];
    uint64_t m = c->moves;
    m -= (a != c->orig[p]) + (b != c->orig[q]);
    m += (b != c->orig[p]) + (a != c->orig[q]);
    return m;
}

/* One best improving swap within budget; false when none is left. */
static bool repair_step(struct claim *c)
{
    int64_t best_delta = 0;
    uint64_t best_moves = 0;
    uint32_t best_p = CLAIM_NONE, best_q = CLAIM_NONE;
    for (uint32_t p = 0; p < c->q; p++) {
        if (cost_as(c, p, c->owner[p]) == 0)
            continue;
        for (uint32_t q = 0; q < c->q; q++) {
            if (c->owner[q] == c->owner[p])
                continue;
            uint64_t m = moves_after_swap(c, p, q);
            if (m > c->moves_max)
                continue;
            int64_t delta = swap_delta(c, p, q);
            if (delta < best_delta || (delta == best_delta && delta < 0 && m < best_moves)) {
                best_delta = delta;
                best_moves = m;
                best_p = p;
                best_q = q;
            }
        }
    }
    if (best_p == CLAIM_NONE)
        return false;
    uint32_t a = c->owner[best_p], b = c->owner[best_q];
    set_owner(c, best_p, b);
    set_owner(c, best_q, a);
    return true;
}

static void claim_repair(struct claim *c)
{
    if (c->w < 2)
        return;
    for (uint32_t step = 0; step < c->q && repair_step(c); step++)
        ;
}

static int claim_init(struct claim *c, const struct ring *r)
{
    memset(c, 0, sizeof *c);
    c->q = r->q;
    c->mask = r->q - 1;
    c->s = r->n_members;
    uint32_t zones = 0;
    for (uint32_t i = 0; i < r->n_members; i++)
        if (r->members[i].zone_id > zones)
            zones = r->members[i].zone_id;
    c->w_node = r->n_val < c->s ? r->n_val : c->s;
    c->w_zone = r->n_val < zones ? r->n_val : zones;
    c->w = c->w_node > c->w_zone ? c->w_node : c->w_zone;
    c->owner = malloc(c->q * sizeof *c->owner);
    c->orig = malloc(c->q * sizeof *c->orig);
    c->count = calloc(c->s, sizeof *c->count);
    c->target = calloc(c->s, sizeof *c->target);
    c->zone = calloc(c->s, sizeof *c->zone);
    if (!c->owner || !c->orig || !c->count || !c->target || !c->zone)
        return KV_ENOMEM;
    for (uint32_t i = 0; i < c->s; i++)
        c->zone[i] = r->members[i].zone_id;
    return KV_OK;
}

static void claim_release(struct claim *c)
{
    free(c->owner);
    free(c->orig);
    free(c->count);
    free(c->target);
    free(c->zone);
}

static void claim_store(const struct claim *c, struct ring *r)
{
    for (uint32_t p = 0; p < c->q; p++) {
        r->owner[p] = (uint16_t)c->owner[p];
        r->pending[p] = RING_PENDING_NONE;
    }
}

/* Member order for stripes: round-robin over zones (members without a zone
 * count as zones of their own), members of a zone by index. */
static void stripe_order(const struct ring *r, uint32_t *order)
{
    uint32_t n = 0;
    uint8_t *taken = calloc(r->n_members, 1);
    if (!taken) { /* no scratch: plain index order is still a valid layout */
        for (uint32_t i = 0; i < r->n_members; i++)
            order[i] = i;
        return;
    }
    while (n < r->n_members) {
        uint8_t zone_seen[RING_MEMBERS_MAX + 1];
        memset(zone_seen, 0, (size_t)r->n_members + 1);
        for (uint32_t i = 0; i < r->n_members; i++) {
            uint16_t z = r->members[i].zone_id;
            if (taken[i] || (z && zone_seen[z]))
                continue;
            if (z)
                zone_seen[z] = 1;
            taken[i] = 1;
            order[n++] = i;
        }
    }
    free(taken);
}

void ring_claim_initial(struct ring *r)
{
    struct claim c = { 0 };
    uint32_t *order = malloc(r->n_members * sizeof *order);
    if (!order || claim_init(&c, r) != KV_OK) {
        /* Out of memory: stripes in index order are balanced, if not repaired. */
        for (uint32_t p = 0; p < r->q; p++)
            r->owner[p] = (uint16_t)(p % r->n_members);
        free(order);
        claim_release(&c);
        return;
    }
    stripe_order(r, order);
    for (uint32_t p = 0; p < c.q; p++) {
        c.orig[p] = CLAIM_NONE;
        c.owner[p] = CLAIM_NONE;
    }
    for (uint32_t p = 0; p < c.q; p++)
        set_owner(&c, p, order[p % c.s]);
    c.moves_max = UINT64_MAX;
    claim_repair(&c);
    claim_store(&c, r);
    free(order);
    claim_release(&c);
}

/* orig[p] = index in r of cur's next owner of p, or CLAIM_NONE if it left. */
static void map_current(struct claim *c, const struct ring *cur, const struct ring *r)
{
    uint32_t map[RING_MEMBERS_MAX];
    uint32_t j = 0;
    for (uint32_t i = 0; i < cur->n_members; i++) {
        while (j < r->n_members && strcmp(r->members[j].id, cur->members[i].id) < 0)
            j++;
        map[i] = j < r->n_members && strcmp(r->members[j].id, cur->members[i].id) == 0 ? j : CLAIM_NONE;
    }
    for (uint32_t p = 0; p < c->q; p++) {
        uint32_t o = cur->pending[p] != RING_PENDING_NONE ? cur->pending[p] : cur->owner[p];
        c->orig[p] = map[o];
        c->owner[p] = CLAIM_NONE;
    }
    for (uint32_t p = 0; p < c->q; p++)
        if (c->orig[p] != CLAIM_NONE)
            set_owner(c, p, c->orig[p]);
}

static void claim_change(struct ring *r, const struct ring *cur)
{
    struct claim c;
    if (claim_init(&c, r) != KV_OK) {
        claim_release(&c);
        ring_claim_initial(r);
        return;
    }
    map_current(&c, cur, r);
    uint32_t kept = 0;
    for (uint32_t p = 0; p < c.q; p++)
        kept += c.orig[p] != CLAIM_NONE;
    if (kept == 0) { /* nobody stays: lay out from scratch */
        claim_release(&c);
        ring_claim_initial(r);
        return;
    }
    claim_targets(&c);
    claim_fill(&c);
    /* The fill moved exactly the partitions that had to move. */
    c.moves_max = c.moves == 0 ? 0 : c.moves + c.s - 1;
    claim_repair(&c);
    claim_store(&c, r);
    claim_release(&c);
}

int ring_claim(const struct ring *cur, const struct ring_member_spec *members, size_t n_members,
               struct ring **out)
{
    struct ring_member_spec *specs = NULL;
    struct ring *r = NULL;
    int rc = ring_sorted_specs(members, n_members, &specs);
    if (rc != KV_OK)
        goto fail;
    rc = ring_alloc(cur->q, cur->n_val, (uint32_t)n_members, &r);
    if (rc != KV_OK)
        goto fail;
    for (size_t i = 0; i < n_members; i++) {
        struct ring_member *m = &r->members[i];
        strcpy(m->id, specs[i].id);
        if (specs[i].zone)
            strcpy(m->zone, specs[i].zone);
        m->flags = RING_MEMBER_IN_SET;
    }
    ring_assign_zone_ids(r);
    r->version = cur->version + 1;
    claim_change(r, cur);
    free(specs);
    *out = r;
    return KV_OK;
fail:
    free(specs);
    ring_free(r);
    return rc;
}
