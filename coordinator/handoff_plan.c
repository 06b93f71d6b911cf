/*
 * handoff_plan.c - the plan of a ring: which streams its pending
 * transfers need (handoff.h), which ranges this node holds, and whom it
 * forwards writes of each range to. Pure functions of the ring (plus
 * liveness for the source of a leaving node's ranges).
 *
 * Cost: for each pending partition one ring clone and Q preference lists
 * of the ring with that transfer done, so O(pending * Q * (N + Q/S)) for
 * a plan; milliseconds for Q = 256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/handoff_internal.h"

static bool in_list(const char *const *ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

/* pref_N(q, r) as ids (borrowed from r) into out[0..N); returns the count. */
static size_t pref_ids(const struct ring *r, uint32_t q, const char **out)
{
    uint32_t idx[RING_N_VAL_MAX];
    size_t n = ring_preference_list(r, q, idx, ring_n_val(r));
    for (size_t i = 0; i < n; i++)
        out[i] = ring_member_id(r, idx[i]);
    return n;
}

/* The source of stream (p, q): see handoff.h. */
static const char *pick_source(const struct handoff *h, uint32_t p, const char *const *cur, size_t n_cur)
{
    const struct ring *r = h->ring;
    uint32_t owner = ring_owner(r, p);
    const char *a = ring_member_id(r, owner);
    if (in_list(cur, n_cur, a) &&
        (ring_member_in_set(r, owner) || strcmp(a, h->node_id) == 0 || h->cfg.ops.alive(h->cfg.ops.ctx, a)))
        return a;
    for (size_t i = 0; i < n_cur; i++)
        if (strcmp(cur[i], h->node_id) == 0 || h->cfg.ops.alive(h->cfg.ops.ctx, cur[i]))
            return cur[i];
    return n_cur ? cur[0] : a;
}

static int add_need(struct ho_plan *pl, uint32_t p, uint32_t q, const char *to, const char *from,
                    const char *completer)
{
    if (pl->n_needs == pl->cap_needs) {
        size_t cap = pl->cap_needs ? 2 * pl->cap_needs : 64;
        if (cap > HANDOFF_STREAMS_MAX)
            return KV_ETOOBIG;
        struct ho_need *n = realloc(pl->needs, cap * sizeof *n);
        if (!n)
            return KV_ENOMEM;
        pl->needs = n;
        pl->cap_needs = cap;
    }
    struct ho_need *n = &pl->needs[pl->n_needs++];
    n->p = p;
    n->q = q;
    snprintf(n->to, sizeof n->to, "%s", to);
    snprintf(n->from, sizeof n->from, "%s", from);
    snprintf(n->completer, sizeof n->completer, "%s", completer);
    return KV_OK;
}

/* The streams pending partition p needs: gains of every range between r
 * and r with p done. cur holds pref_N of r per range (N ids each). */
static int plan_partition(const struct handoff *h, struct ho_plan *pl, uint32_t p, const char **cur,
                          const uint8_t *n_cur)
{
    const struct ring *r = h->ring;
    uint32_t nq = ring_partitions(r), nv = ring_n_val(r);
    const char *completer = ring_member_id(r, ring_pending(r, p));
    struct ring *next = NULL;
    int rc = ring_clone(r, &next);
    if (rc == KV_OK)
        rc = ring_transfer_done(next, p);
    for (uint32_t q = 0; rc == KV_OK && q < nq; q++) {
        const char *after[RING_N_VAL_MAX];
        size_t n_after = pref_ids(next, q, after);
        const char *const *before = cur + (size_t)q * nv;
        for (size_t i = 0; rc == KV_OK && i < n_after; i++) {
            if (in_list(before, n_cur[q], after[i]))
                continue;
            rc = add_need(pl, p, q, after[i], pick_source(h, p, before, n_cur[q]), completer);
        }
    }
    ring_free(next);
    return rc;
}

static int by_range(const void *a, const void *b)
{
    const struct ho_need *x = a, *y = b;
    if (x->q != y->q)
        return x->q < y->q ? -1 : 1;
    if (x->p != y->p)
        return x->p < y->p ? -1 : 1;
    return strcmp(x->to, y->to);
}

void ho_plan_free(struct ho_plan *pl)
{
    free(pl->needs);
    free(pl->first);
    free(pl->holder);
    free(pl->pref_holder);
    memset(pl, 0, sizeof *pl);
}

int ho_plan_build(const struct handoff *h, struct ho_plan *pl)
{
    const struct ring *r = h->ring;
    uint32_t nq = ring_partitions(r), nv = ring_n_val(r);
    memset(pl, 0, sizeof *pl);
    pl->nq = nq;
    const char **cur = calloc((size_t)nq * nv, sizeof *cur);
    uint8_t *n_cur = calloc(nq, 1);
    pl->first = calloc((size_t)nq + 1, sizeof *pl->first);
    pl->holder = calloc(nq, 1);
    pl->pref_holder = calloc(nq, 1);
    int rc = KV_ENOMEM;
    if (!cur || !n_cur || !pl->first || !pl->holder || !pl->pref_holder)
        goto done;
    for (uint32_t q = 0; q < nq; q++) {
        n_cur[q] = (uint8_t)pref_ids(r, q, cur + (size_t)q * nv);
        pl->pref_holder[q] = in_list(cur + (size_t)q * nv, n_cur[q], h->node_id);
        pl->holder[q] = pl->pref_holder[q];
    }
    rc = KV_OK;
    for (uint32_t p = 0; rc == KV_OK && p < nq; p++)
        if (ring_pending(r, p) != RING_NO_MEMBER)
            rc = plan_partition(h, pl, p, cur, n_cur);
    if (rc != KV_OK)
        goto done;
    if (pl->n_needs)
        qsort(pl->needs, pl->n_needs, sizeof *pl->needs, by_range);
    for (size_t i = 0; i < pl->n_needs; i++) {
        const struct ho_need *n = &pl->needs[i];
        pl->first[n->q + 1]++;
        if (strcmp(n->to, h->node_id) == 0)
            pl->holder[n->q] = 1;
    }
    for (uint32_t q = 0; q < nq; q++)
        pl->first[q + 1] += pl->first[q];
done:
    free(cur);
    free(n_cur);
    if (rc != KV_OK)
        ho_plan_free(pl);
    return rc;
}

const struct ho_need *ho_plan_find(const struct ho_plan *pl, uint32_t p, uint32_t q, const char *to)
{
    if (!pl->first || q >= pl->nq)
        return NULL; /* a range of no ring of this Q (a damaged state, a bad DONE) */
    for (size_t i = pl->first[q]; i < pl->first[q + 1]; i++)
        if (pl->needs[i].p == p && strcmp(pl->needs[i].to, to) == 0)
            return &pl->needs[i];
    return NULL;
}
