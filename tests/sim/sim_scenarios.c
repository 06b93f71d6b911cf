/*
 * sim_scenarios.c - scripted quorum scenarios (see sim_workload.h): each
 * sets up one situation on a quiet network, with the seed choosing the
 * nodes and the timing, and checks its exact outcome.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/dvv.h"
#include "coordinator/object.h"
#include "tests/sim/sim_test.h"
#include "tests/sim/sim_workload_internal.h"

static const struct coord_options all_primaries = { COORD_CONSISTENCY_ALL, 0, 1000, true };
static const struct coord_options quorum = { COORD_CONSISTENCY_QUORUM, 0, 1000, false };
static const struct coord_options quorum_primaries = { COORD_CONSISTENCY_QUORUM, 0, 1000, true };

/* Issues one operation and runs until it answers. */
static struct op *run_op(struct world *w, enum op_kind kind, uint32_t key, uint32_t node,
                         const struct coord_options *o, struct kv_slice ctx)
{
    struct op *op = op_new(w, kind, key, node);
    SIM_ASSERT(op != NULL, "history full");
    op_issue(op, o, ctx);
    SIM_ASSERT(op_wait(w, op, sim_now(w->sim) + 10u * SIM_SEC), "op %u never answered", op->idx);
    return op;
}

static struct kv_slice ctx_of(const struct op *op) { return kv_slice_make(op->ctx.data, op->ctx.len); }

static void prefs(struct world *w, uint32_t key, uint32_t *pref)
{
    char name[WORLD_KEY_BYTES];
    key_name(w, OP_PUT, key, name);
    SIM_ASSERT(sq_preference(w->c, kv_slice_str(name), pref, sq_nodes(w->c)) == sq_nodes(w->c), "preference");
}

static void run_for(struct world *w, uint64_t ms) { sim_run_until(w->sim, sim_now(w->sim) + ms); }

static struct coord_stats stats(struct world *w)
{
    struct coord_stats s;
    sq_stats_sum(w->c, &s);
    return s;
}

/* Decodes a node's local object of key into o (borrowing buf). */
static bool local_object(struct world *w, uint32_t node, uint32_t key, struct kv_buf *buf, struct object *o)
{
    char name[WORLD_KEY_BYTES];
    bool found = false;
    key_name(w, OP_PUT, key, name);
    SIM_ASSERT(sq_local_object(w->c, node, kv_slice_str(name), buf, &found) == KV_OK, "local read");
    if (found)
        SIM_ASSERT(object_decode(kv_slice_make(buf->data, buf->len), o) == KV_OK, "local object decodes");
    return found;
}

/* Whether node's local object of key holds value as a sibling. */
static bool local_has(struct world *w, uint32_t node, uint32_t key, const char *value)
{
    struct kv_buf buf = { 0 };
    struct object o;
    object_init(&o);
    bool has = false;
    if (local_object(w, node, key, &buf, &o)) {
        for (uint32_t i = 0; i < object_siblings(&o) && !has; i++) {
            struct object_sibling s;
            object_sibling(&o, i, &s);
            has = kv_slice_eq(s.payload, kv_slice_str(value));
        }
    }
    object_free(&o);
    kv_buf_free(&buf);
    return has;
}

/* Whether node's local object of key covers the context of an acknowledged write. */
static bool local_covers(struct world *w, uint32_t node, uint32_t key, struct kv_slice ctx)
{
    struct kv_buf buf = { 0 };
    struct object o;
    struct dvv d;
    object_init(&o);
    dvv_init(&d);
    bool ok = local_object(w, node, key, &buf, &o) && dvv_context_decode(ctx, &d) == KV_OK &&
              dvv_descends(&o.clock, &d);
    dvv_free(&d);
    object_free(&o);
    kv_buf_free(&buf);
    return ok;
}

/* ---- siblings ---- */

void siblings_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    uint32_t pref[SQ_NODES_MAX], key = (uint32_t)kv_rand_below(sim_rand(w->sim), WORLD_KEYS_MAX);
    prefs(w, key, pref);
    struct op *v0 = run_op(w, OP_PUT, key, pref[0], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(v0->status == KV_OK, "first put: %s", kv_status_str(v0->status));
    struct op *g0 = run_op(w, OP_GET, key, pref[1], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(g0->status == KV_OK && g0->nvals == 1 && op_has_value(g0, v0->value), "read back v0");

    /* Two writers with the same context, through two primaries, at the same instant. */
    struct op *a = op_new(w, OP_PUT, key, pref[0]), *b = op_new(w, OP_PUT, key, pref[1]);
    op_issue(a, &quorum, ctx_of(g0));
    op_issue(b, &quorum, ctx_of(g0));
    SIM_ASSERT(op_wait(w, a, sim_now(w->sim) + 5u * SIM_SEC) && op_wait(w, b, sim_now(w->sim) + 5u * SIM_SEC),
               "writers answered");
    SIM_ASSERT(a->status == KV_OK && b->status == KV_OK, "writers: %d %d", a->status, b->status);
    run_for(w, 200);
    struct op *g1 = run_op(w, OP_GET, key, pref[2], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(g1->nvals == 2 && op_has_value(g1, a->value) && op_has_value(g1, b->value) && !op_has_value(g1, v0->value),
               "siblings after concurrent writes: %u values", g1->nvals);

    /* A write with the context that saw both resolves them - through a non-primary (forwarded). */
    struct op *r = run_op(w, OP_PUT, key, pref[3], &quorum, ctx_of(g1));
    SIM_ASSERT(r->status == KV_OK, "resolving put: %s", kv_status_str(r->status));
    run_for(w, 200);
    struct op *g2 = run_op(w, OP_GET, key, pref[4], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(g2->nvals == 1 && op_has_value(g2, r->value), "resolved: %u values", g2->nvals);
    SIM_ASSERT(ctx_descends(ctx_of(g2), ctx_of(g1)), "the resolution covers both siblings");

    /* Concurrent writers through two non-primaries: both forwarded to one primary, still siblings. */
    struct op *c1 = op_new(w, OP_PUT, key, pref[3]), *c2 = op_new(w, OP_PUT, key, pref[4]);
    op_issue(c1, &quorum, ctx_of(g2));
    op_issue(c2, &quorum, ctx_of(g2));
    SIM_ASSERT(op_wait(w, c1, sim_now(w->sim) + 5u * SIM_SEC) && op_wait(w, c2, sim_now(w->sim) + 5u * SIM_SEC),
               "forwarded writers answered");
    SIM_ASSERT(c1->status == KV_OK && c2->status == KV_OK, "forwarded writers: %d %d", c1->status, c2->status);
    run_for(w, 200);
    struct op *g3 = run_op(w, OP_GET, key, pref[0], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(g3->nvals == 2 && op_has_value(g3, c1->value) && op_has_value(g3, c2->value),
               "forwarded siblings: %u values", g3->nvals);
    SIM_ASSERT(stats(w).forwarded >= 3, "forwarded %" PRIu64, stats(w).forwarded);
}

/* ---- last writer wins ---- */

void lww_scenario(struct world *w)
{
    sim_test_current_seed = w->seed;
    uint32_t pref[SQ_NODES_MAX], key = (uint32_t)kv_rand_below(sim_rand(w->sim), WORLD_KEYS_MAX);
    prefs(w, key, pref);
    struct op *v0 = run_op(w, OP_PUT, key, pref[0], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(v0->status == KV_OK, "first put: %s", kv_status_str(v0->status));
    struct op *g0 = final_read(w, OP_PUT, key, pref[1]);
    /* Two writers with the same context through two primaries (siblings under dvv). */
    struct op *a = op_new(w, OP_PUT, key, pref[0]), *b = op_new(w, OP_PUT, key, pref[1]);
    op_issue(a, &quorum, ctx_of(g0));
    op_issue(b, &quorum, ctx_of(g0));
    SIM_ASSERT(op_wait(w, a, sim_now(w->sim) + 5u * SIM_SEC) && op_wait(w, b, sim_now(w->sim) + 5u * SIM_SEC),
               "writers answered");
    SIM_ASSERT(a->status == KV_OK && b->status == KV_OK, "writers: %d %d", a->status, b->status);
    run_for(w, 200);
    struct op *g1 = final_read(w, OP_PUT, key, pref[2]);
    SIM_ASSERT(g1->nvals == 1 && (op_has_value(g1, a->value) || op_has_value(g1, b->value)),
               "lww after concurrent writes: %u values", g1->nvals);
    SIM_ASSERT(stats(w).siblings_created == 0, "siblings created in lww mode");
}

void lww_workload_scenario(struct world *w)
{
    sim_test_current_seed = w->seed;
    workload_run(w, 10u * SIM_SEC);
    world_settle(w);
    world_check_converged(w);
    for (uint32_t k = 0; k < w->cfg.nkeys; k++) {
        struct op *g = final_read(w, OP_PUT, k, k % sq_nodes(w->c));
        SIM_ASSERT(g->nvals <= 1, "key %u: %u values in lww mode", k, g->nvals);
    }
}

/* ---- hinted handoff ---- */

/* Writes every key once with W = 2 (sloppy) while victim is down; returns
 * how many keys have victim among their primaries. */
static uint32_t write_while_down(struct world *w, uint32_t victim, struct op **puts)
{
    uint32_t expect = 0;
    for (uint32_t k = 0; k < WORLD_KEYS_MAX; k++) {
        uint32_t pref[SQ_NODES_MAX], node = random_callable(w);
        prefs(w, k, pref);
        expect += pref[0] == victim || pref[1] == victim || pref[2] == victim;
        puts[k] = run_op(w, OP_PUT, k, node, &quorum, kv_slice_make(NULL, 0));
        SIM_ASSERT(puts[k]->status == KV_OK, "put k%u via n%u: %s", k, node, kv_status_str(puts[k]->status));
    }
    run_for(w, 200); /* W = 2 answered before the third copy (maybe the hint) landed */
    return expect;
}

/* coord_hint_report's row for target `victim`, summed over the other
 * running nodes (what kvctl hints on each of them would show). */
static struct coord_hint_target hint_report(struct world *w, uint32_t victim)
{
    struct coord_hint_target sum, rows[SQ_NODES_MAX];
    memset(&sum, 0, sizeof sum);
    for (uint32_t i = 0; i < sq_nodes(w->c); i++) {
        size_t n = 0;
        if (i == victim || !sq_coord(w->c, i))
            continue;
        SIM_ASSERT(coord_hint_report(sq_coord(w->c, i), rows, SQ_NODES_MAX, &n) == KV_OK, "hint report of n%u", i);
        for (size_t j = 0; j < n; j++) {
            if (strcmp(rows[j].node_id, sq_node_id(w->c, victim)) != 0)
                continue;
            sum.held += rows[j].held;
            sum.bytes += rows[j].bytes;
            sum.delivered += rows[j].delivered;
            sum.expired += rows[j].expired;
        }
    }
    return sum;
}

static bool no_hints(void *ctx)
{
    struct world *w = ctx;
    return stats(w).hints_pending == 0;
}

void hints_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    struct op *puts[WORLD_KEYS_MAX];
    uint32_t victim = (uint32_t)kv_rand_below(sim_rand(w->sim), sq_nodes(w->c));
    sq_crash(w->c, victim);
    sq_views_sync(w->c);
    uint32_t expect = write_while_down(w, victim, puts);
    SIM_ASSERT(expect > 0, "no key has n%u as a primary", victim);
    struct coord_stats s = stats(w);
    SIM_ASSERT(s.hints_pending == expect && sq_hint_keys(w->c) == expect && s.hints_stored == expect,
               "hints pending %" PRIu64 " stored %" PRIu64 " keys %" PRIu64 ", want %u", s.hints_pending,
               s.hints_stored, sq_hint_keys(w->c), expect);
    struct coord_hint_target r = hint_report(w, victim);
    SIM_ASSERT(r.held == expect && r.bytes > 0 && r.delivered == 0, "hint report: held %" PRIu64 ", want %u",
               r.held, expect);

    /* Nothing is delivered while the owner is down. */
    run_for(w, 3u * SIM_SEC);
    s = stats(w);
    SIM_ASSERT(s.hints_pending == expect && s.hints_delivered == 0, "delivered to a down node");

    sq_restart(w->c, victim);
    sq_views_sync(w->c);
    SIM_ASSERT(sim_run_until_true(w->sim, no_hints, w, 50, sim_now(w->sim) + 30u * SIM_SEC), "hints not drained");
    s = stats(w);
    SIM_ASSERT(s.hints_delivered == expect && sq_hint_keys(w->c) == 0 && s.hints_expired == 0,
               "delivered %" PRIu64 " keys left %" PRIu64 ", want %u", s.hints_delivered, sq_hint_keys(w->c), expect);
    r = hint_report(w, victim);
    SIM_ASSERT(r.held == 0 && r.delivered == expect && r.expired == 0,
               "hint report after handoff: held %" PRIu64 " delivered %" PRIu64 ", want 0 and %u", r.held,
               r.delivered, expect);
    for (uint32_t k = 0; k < WORLD_KEYS_MAX; k++) {
        uint32_t pref[SQ_NODES_MAX];
        prefs(w, k, pref);
        if (pref[0] == victim || pref[1] == victim || pref[2] == victim)
            SIM_ASSERT(local_covers(w, victim, k, ctx_of(puts[k])), "n%u lacks %s of k%u after handoff", victim,
                       puts[k]->value, k);
    }
}

void hints_rate_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    struct op *puts[WORLD_KEYS_MAX];
    uint32_t per_sec = w->cfg.sq.coord.hints_per_sec;
    uint32_t victim = (uint32_t)kv_rand_below(sim_rand(w->sim), sq_nodes(w->c));
    sq_crash(w->c, victim);
    sq_views_sync(w->c);
    uint32_t expect = write_while_down(w, victim, puts);
    sq_restart(w->c, victim);
    sq_views_sync(w->c);
    for (uint32_t i = 0; i < sq_nodes(w->c); i++)
        coord_peer_up(sq_coord(w->c, i), sq_node_id(w->c, victim), sim_now(w->sim));
    run_for(w, SIM_SEC);
    /* Per node: one second of burst, then per_sec a second (and one tick of slack). */
    for (uint32_t i = 0; i < sq_nodes(w->c); i++) {
        struct coord_stats st;
        coord_get_stats(sq_coord(w->c, i), &st);
        SIM_ASSERT(st.hints_delivered <= 2u * per_sec + 1, "n%u delivered %" PRIu64 " hints in a second at %u/s", i,
                   st.hints_delivered, per_sec);
    }
    SIM_ASSERT(sim_run_until_true(w->sim, no_hints, w, 50, sim_now(w->sim) + 60u * SIM_SEC), "hints not drained");
    SIM_ASSERT(stats(w).hints_delivered == expect, "delivered %" PRIu64 ", want %u", stats(w).hints_delivered, expect);
}

/* A write merged into a hint while that hint is on its way: the owner's
 * ack covers only the older content, so the hint must stay and go again. */
void hint_race_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    uint32_t pref[SQ_NODES_MAX], k = (uint32_t)kv_rand_below(sim_rand(w->sim), WORLD_KEYS_MAX);
    prefs(w, k, pref);
    uint32_t victim = pref[kv_rand_below(sim_rand(w->sim), 3)], fallback = pref[3];
    uint32_t coordinator = pref[0] == victim ? pref[1] : pref[0];
    sq_crash(w->c, victim);
    sq_views_sync(w->c);
    struct op *v1 = run_op(w, OP_PUT, k, coordinator, &quorum, kv_slice_make(NULL, 0));
    SIM_ASSERT(v1->status == KV_OK && stats(w).hints_pending == 1, "first write leaves one hint");

    /* Only the fallback sees the owner back; the owner stalls with the delivery queued. */
    sq_restart(w->c, victim);
    sq_views_freeze(w->c, true);
    sq_view_set(w->c, fallback, victim, true);
    sim_pause(w->sim, victim, 300); /* shorter than hint_timeout_ms: the ack arrives in time */
    coord_peer_up(sq_coord(w->c, fallback), sq_node_id(w->c, victim), sim_now(w->sim));
    sq_rearm(w->c, fallback);
    run_for(w, 20);
    struct op *v2 = run_op(w, OP_PUT, k, coordinator, &quorum, kv_slice_make(NULL, 0));
    SIM_ASSERT(v2->status == KV_OK, "second write: %s", kv_status_str(v2->status));

    sq_views_freeze(w->c, false);
    sq_views_sync(w->c);
    SIM_ASSERT(sim_run_until_true(w->sim, no_hints, w, 50, sim_now(w->sim) + 30u * SIM_SEC), "hints not drained");
    SIM_ASSERT(local_covers(w, victim, k, ctx_of(v2)), "the owner lacks the write merged into its hint in flight");
}

void hints_expiry_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    struct op *puts[WORLD_KEYS_MAX];
    uint32_t victim = (uint32_t)kv_rand_below(sim_rand(w->sim), sq_nodes(w->c));
    sq_crash(w->c, victim);
    sq_views_sync(w->c);
    uint32_t expect = write_while_down(w, victim, puts);
    SIM_ASSERT(stats(w).hints_pending == expect, "pending %" PRIu64 ", want %u", stats(w).hints_pending, expect);
    SIM_ASSERT(sim_run_until_true(w->sim, no_hints, w, 50, sim_now(w->sim) + 30u * SIM_SEC), "hints not expired");
    struct coord_stats s = stats(w);
    SIM_ASSERT(s.hints_expired == expect && s.hints_delivered == 0 && sq_hint_keys(w->c) == 0,
               "expired %" PRIu64 " delivered %" PRIu64 ", want %u", s.hints_expired, s.hints_delivered, expect);
    struct coord_hint_target r = hint_report(w, victim);
    SIM_ASSERT(r.held == 0 && r.expired == expect, "hint report: expired %" PRIu64 ", want %u", r.expired, expect);
    sq_restart(w->c, victim);
    sq_views_sync(w->c);
    run_for(w, 3u * SIM_SEC);
    SIM_ASSERT(stats(w).hints_delivered == 0, "an expired hint was delivered");
}

/* ---- timeouts ---- */

void timeout_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    uint32_t pref[SQ_NODES_MAX], k = (uint32_t)kv_rand_below(sim_rand(w->sim), WORLD_KEYS_MAX / 2);
    prefs(w, k, pref);
    sq_views_freeze(w->c, true); /* every view says everyone is up */

    /* Stored locally, the copies lost: in doubt at the deadline, never a failure. */
    sq_cut(w->c, pref[0], pref[1]);
    sq_cut(w->c, pref[0], pref[2]);
    uint64_t timeouts = stats(w).replica_timeouts, indoubt = stats(w).indoubt;
    struct op *a = run_op(w, OP_PUT, k, pref[0], &quorum_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(a->status == KV_EINDOUBT, "cut off write: %s", kv_status_str(a->status));
    SIM_ASSERT(stats(w).replica_timeouts >= timeouts + 2 && stats(w).indoubt == indoubt + 1,
               "counted: replica timeouts %" PRIu64 " (was %" PRIu64 "), in doubt %" PRIu64 " (was %" PRIu64 ")",
               stats(w).replica_timeouts, timeouts, stats(w).indoubt, indoubt);
    SIM_ASSERT(local_has(w, pref[0], k, a->value) && !local_has(w, pref[1], k, a->value), "where the write went");
    sq_heal(w->c);

    /* One copy lost: W = 2 is met by the other. */
    sq_cut(w->c, pref[0], pref[2]);
    struct op *b = run_op(w, OP_PUT, k, pref[0], &quorum_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(b->status == KV_OK, "W met: %s", kv_status_str(b->status));
    sq_heal(w->c);

    /* A forwarded write whose answer is lost: applied by the primary, in doubt at the client. */
    sq_cut(w->c, pref[0], pref[3]);
    struct op *c = run_op(w, OP_PUT, k, pref[3], &quorum, kv_slice_make(NULL, 0));
    SIM_ASSERT(c->status == KV_EINDOUBT, "forward without answer: %s", kv_status_str(c->status));
    run_for(w, 100);
    SIM_ASSERT(local_has(w, pref[0], k, c->value), "the primary applied the forwarded write");
    sq_heal(w->c);

    /* A read that cannot hear R replies times out; reads change nothing. */
    sq_cut(w->c, pref[1], pref[0]);
    sq_cut(w->c, pref[2], pref[0]);
    struct op *g = run_op(w, OP_GET, k, pref[0], &quorum_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(g->status == KV_ETIMEDOUT, "read without replies: %s", kv_status_str(g->status));
    sq_heal(w->c);

    /* Fewer live primaries than W: refused before anything is stored or sent. */
    uint32_t k2 = WORLD_KEYS_MAX / 2 + k, pref2[SQ_NODES_MAX];
    prefs(w, k2, pref2);
    for (uint32_t i = 0; i < sq_nodes(w->c); i++) {
        sq_view_set(w->c, i, pref2[1], false);
        sq_view_set(w->c, i, pref2[2], false);
    }
    uint64_t sent = sim_node_sent(w->sim, pref2[0]);
    struct op *d = op_new(w, OP_PUT, k2, pref2[0]);
    op_issue(d, &quorum_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(d->status == KV_EUNAVAIL, "no quorum of primaries: %s", kv_status_str(d->status));
    SIM_ASSERT(sim_node_sent(w->sim, pref2[0]) == sent, "an unavailable write sent messages");
    /* The same through a node that is no primary: nothing to forward to either. */
    sq_view_set(w->c, pref2[3], pref2[0], false);
    struct op *e = op_new(w, OP_PUT, k2, pref2[3]);
    op_issue(e, &quorum_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(e->status == KV_EUNAVAIL, "no live primary: %s", kv_status_str(e->status));
    run_for(w, 2u * SIM_SEC);
    for (uint32_t i = 0; i < sq_nodes(w->c); i++)
        SIM_ASSERT(!local_has(w, i, k2, d->value) && !local_has(w, i, k2, e->value), "n%u holds a refused write", i);
    SIM_ASSERT(sq_hint_keys(w->c) == 0, "a refused write left a hint");
    sq_views_freeze(w->c, false);
    sq_views_sync(w->c);
}

/* ---- forward attempts ---- */

/* The key's first primary stops answering (crashed, or cut off both ways
 * like a paused process) while every view still says it is up (the
 * failure detector has not noticed yet). A delete with a context through
 * a non-primary that has not waited on it yet goes on to the second
 * primary and succeeds; a PUT with a context (two copies would be two
 * dots) is not repeated and stays in doubt. Once a forwarder has waited
 * on the silent primary (peer_watch.h), every write it forwards goes to
 * the second primary at once and succeeds. */
void forward_retry_scenario(struct world *w)
{
    sim_test_current_seed = w->seed;
    uint32_t pref[SQ_NODES_MAX], k = (uint32_t)kv_rand_below(sim_rand(w->sim), WORLD_KEYS_MAX);
    prefs(w, k, pref);
    struct op *prev = run_op(w, OP_PUT, k, pref[1], &quorum, kv_slice_make(NULL, 0));
    SIM_ASSERT(prev->status == KV_OK, "first write: %s", kv_status_str(prev->status));
    sq_views_freeze(w->c, true);
    bool crash = kv_rand_below(sim_rand(w->sim), 2) == 0;
    if (crash) {
        sq_crash(w->c, pref[0]);
    } else {
        for (uint32_t i = 0; i < sq_nodes(w->c); i++) {
            if (i != pref[0]) {
                sq_cut(w->c, i, pref[0]);
                sq_cut(w->c, pref[0], i);
            }
        }
    }
    /* Neither forwarder (pref[3], pref[4]) has waited on the silent
     * primary yet. A delete with a context goes there first, then on to
     * the second primary. */
    uint64_t retries = stats(w).forward_retries;
    struct op *put = run_op(w, OP_PUT, k, pref[1], &quorum, kv_slice_make(NULL, 0));
    SIM_ASSERT(put->status == KV_OK, "put through the second primary: %s", kv_status_str(put->status));
    struct op *del = run_op(w, OP_DEL, k, pref[3], &quorum, ctx_of(put));
    SIM_ASSERT(del->status == KV_OK, "delete through n%u (%s first primary): %s", pref[3],
               crash ? "crashed" : "paused", kv_status_str(del->status));
    SIM_ASSERT(!local_has(w, pref[1], k, put->value), "the second primary did not coordinate the delete");
    SIM_ASSERT(stats(w).forward_retries == retries + 1, "forward retries %" PRIu64 " (were %" PRIu64 ")",
               stats(w).forward_retries, retries);
    /* A put with a context makes one attempt: in doubt. */
    prev = run_op(w, OP_PUT, k, pref[1], &quorum, kv_slice_make(NULL, 0));
    struct op *ctxput = run_op(w, OP_PUT, k, pref[4], &quorum, ctx_of(prev));
    SIM_ASSERT(ctxput->status == KV_EINDOUBT, "context write to a silent primary: %s",
               kv_status_str(ctxput->status));
    SIM_ASSERT(stats(w).forward_retries == retries + 1, "a context put was forwarded twice");
    /* Both forwarders have now waited on it past PEER_WATCH_OVERDUE_MS:
     * whatever they forward goes to the second primary at once. */
    for (uint32_t i = 0; i < 6; i++) {
        uint32_t via = pref[3 + i % 2];
        struct op *blind = run_op(w, OP_PUT, k, via, &quorum, kv_slice_make(NULL, 0));
        SIM_ASSERT(blind->status == KV_OK, "blind put %u through n%u: %s", i, via, kv_status_str(blind->status));
        struct op *cput = run_op(w, OP_PUT, k, via, &quorum, ctx_of(blind));
        SIM_ASSERT(cput->status == KV_OK, "context put %u through n%u: %s", i, via, kv_status_str(cput->status));
    }
    SIM_ASSERT(stats(w).forward_retries == retries + 1, "forwards to an overdue primary: retries %" PRIu64
               " (were %" PRIu64 ")", stats(w).forward_retries, retries);
    if (crash)
        sq_restart(w->c, pref[0]);
    sq_heal(w->c);
    sq_views_freeze(w->c, false);
    sq_views_sync(w->c);
    run_for(w, 2u * SIM_SEC);
}

/* ---- deletes ---- */

void delete_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    uint32_t pref[SQ_NODES_MAX], k = (uint32_t)kv_rand_below(sim_rand(w->sim), WORLD_KEYS_MAX);
    prefs(w, k, pref);
    struct op *v = run_op(w, OP_PUT, k, pref[0], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(v->status == KV_OK, "put: %s", kv_status_str(v->status));

    /* A replica misses the delete (a fallback keeps it as a hint). */
    sq_crash(w->c, pref[2]);
    sq_views_sync(w->c);
    struct op *d = run_op(w, OP_DEL, k, pref[0], &quorum, kv_slice_make(NULL, 0));
    SIM_ASSERT(d->status == KV_OK, "delete: %s", kv_status_str(d->status));

    /* It returns holding the old value, before the hint can reach it. */
    sq_views_freeze(w->c, true);
    sq_restart(w->c, pref[2]);
    for (uint32_t i = 0; i < sq_nodes(w->c); i++)
        sq_view_set(w->c, i, pref[2], i == pref[0]);
    SIM_ASSERT(local_has(w, pref[2], k, v->value), "the returning replica holds the old value");
    struct op *g = run_op(w, OP_GET, k, pref[0], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(g->status == KV_OK && !g->found, "deleted key read %u values (%s)", g->nvals, kv_status_str(g->status));
    run_for(w, 500);
    SIM_ASSERT(!local_has(w, pref[2], k, v->value), "read repair did not reach the returning replica");

    /* Then the hint arrives too; every node reads the key as absent. */
    sq_views_freeze(w->c, false);
    sq_views_sync(w->c);
    SIM_ASSERT(sim_run_until_true(w->sim, no_hints, w, 50, sim_now(w->sim) + 30u * SIM_SEC), "hints not drained");
    for (uint32_t i = 0; i < sq_nodes(w->c); i++) {
        struct op *gi = run_op(w, OP_GET, k, i, &quorum, kv_slice_make(NULL, 0));
        SIM_ASSERT(gi->status == KV_OK && !gi->found, "n%u reads the deleted key", i);
    }

    /* A delete with a context, while another replica is down, then it returns. */
    struct op *v2 = run_op(w, OP_PUT, k, pref[1], &all_primaries, kv_slice_make(NULL, 0));
    struct op *g2 = run_op(w, OP_GET, k, pref[1], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(v2->status == KV_OK && g2->found, "second put");
    sq_crash(w->c, pref[1]);
    sq_views_sync(w->c);
    struct op *d2 = run_op(w, OP_DEL, k, pref[3], &quorum, ctx_of(g2));
    SIM_ASSERT(d2->status == KV_OK, "context delete: %s", kv_status_str(d2->status));
    world_settle(w);
    struct op *f = final_read(w, OP_PUT, k, pref[1]);
    SIM_ASSERT(!f->found, "the key came back after its replica returned");
}

/* ---- tombstone purge (cfg.sq.coord.tombstone_grace_ms set, a few seconds) ---- */

/* Whether node's own replica of key k exists, and if so whether it is dead. */
static bool local_present(struct world *w, uint32_t node, uint32_t k, bool *dead)
{
    struct kv_buf buf = { 0 };
    struct object o;
    object_init(&o);
    bool found = local_object(w, node, k, &buf, &o);
    *dead = found && object_is_dead(&o, SQ_EPOCH_MS + sim_now(w->sim)); /* a quiet world: no skew */
    object_free(&o);
    kv_buf_free(&buf);
    return found;
}

void purge_scenario(struct world *w)
{
    sim_test_current_seed = w->seed;
    uint64_t grace = w->cfg.sq.coord.tombstone_grace_ms;
    uint32_t pref[SQ_NODES_MAX], k = (uint32_t)kv_rand_below(sim_rand(w->sim), WORLD_KEYS_MAX);
    prefs(w, k, pref);
    struct op *v = run_op(w, OP_PUT, k, pref[0], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(v->status == KV_OK, "put: %s", kv_status_str(v->status));
    /* A delete every primary acknowledges: marked, then purged after the grace period. */
    struct op *d = run_op(w, OP_DEL, k, pref[1], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(d->status == KV_OK, "delete: %s", kv_status_str(d->status));
    bool dead;
    run_for(w, 100);
    for (uint32_t i = 0; i < 3; i++)
        SIM_ASSERT(local_present(w, pref[i], k, &dead) && dead, "primary %u holds the tombstone before the grace", i);
    run_for(w, grace + 3u * SIM_SEC);
    for (uint32_t i = 0; i < 3; i++)
        SIM_ASSERT(!local_present(w, pref[i], k, &dead), "primary %u still holds the tombstone", i);
    SIM_ASSERT(stats(w).tombstones_purged >= 3, "purged %" PRIu64, stats(w).tombstones_purged);
    struct op *g = run_op(w, OP_GET, k, pref[2], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(g->status == KV_OK && !g->found, "purged key read back");
    /* A new write after the purge is kept everywhere (no dot reused). */
    struct op *v2 = run_op(w, OP_PUT, k, pref[2], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(v2->status == KV_OK, "put after purge: %s", kv_status_str(v2->status));
    for (uint32_t i = 0; i < 3; i++)
        SIM_ASSERT(local_has(w, pref[i], k, v2->value), "primary %u lacks the write after the purge", i);

    /* A delete one primary misses is never marked: its tombstone stays. */
    sq_crash(w->c, pref[2]);
    sq_views_sync(w->c);
    struct op *d2 = run_op(w, OP_DEL, k, pref[0], &quorum, kv_slice_make(NULL, 0));
    SIM_ASSERT(d2->status == KV_OK, "delete with a primary down: %s", kv_status_str(d2->status));
    run_for(w, grace + 3u * SIM_SEC);
    for (uint32_t i = 0; i < 2; i++)
        SIM_ASSERT(local_present(w, pref[i], k, &dead) && dead, "primary %u purged an unmarked tombstone", i);
    world_settle(w);
    struct op *f = final_read(w, OP_PUT, k, pref[2]);
    SIM_ASSERT(!f->found, "the key came back after its replica returned");
}

/* ---- batches ---- */

struct batch_got {
    bool done;
    int status;
    uint32_t n;
    int item_status[8];
    char first_value[8][16];
    uint32_t nvalues[8];
};

static void on_bput(void *arg, const struct coord_batch_put_result *r)
{
    struct batch_got *g = arg;
    g->done = true;
    g->status = r->status;
    g->n = r->nitems;
    for (uint32_t i = 0; i < r->nitems && i < 8; i++)
        g->item_status[i] = r->items[i].status;
}

static void on_bget(void *arg, const struct coord_batch_get_result *r)
{
    struct batch_got *g = arg;
    g->done = true;
    g->status = r->status;
    g->n = r->nitems;
    for (uint32_t i = 0; i < r->nitems && i < 8; i++) {
        g->item_status[i] = r->items[i].status;
        g->nvalues[i] = r->items[i].nvalues;
        if (r->items[i].nvalues)
            snprintf(g->first_value[i], sizeof g->first_value[i], "%.*s", (int)r->items[i].values[0].data.len,
                     r->items[i].values[0].data.data);
    }
}

static bool batch_done(void *ctx) { return ((struct batch_got *)ctx)->done; }

void batch_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    uint32_t node = (uint32_t)kv_rand_below(sim_rand(w->sim), sq_nodes(w->c));
    /* k0 twice: the second item must win, as with MSET on one node. */
    struct coord_put_args items[4] = {
        { kv_slice_str("k0"), kv_slice_str("a"), { NULL, 0 }, 0, COORD_PUT_ALWAYS },
        { kv_slice_str("k1"), kv_slice_str("b"), { NULL, 0 }, 0, COORD_PUT_ALWAYS },
        { kv_slice_str("k0"), kv_slice_str("c"), { NULL, 0 }, 0, COORD_PUT_ALWAYS },
        { kv_slice_str("k2"), kv_slice_str("d"), { NULL, 0 }, 0, COORD_PUT_ALWAYS },
    };
    struct batch_got p = { 0 }, g = { 0 };
    coord_batch_put(sq_coord(w->c, node), items, 4, &quorum, on_bput, &p);
    sq_rearm(w->c, node);
    SIM_ASSERT(sim_run_until_true(w->sim, batch_done, &p, 5, sim_now(w->sim) + 10u * SIM_SEC), "batch put answered");
    SIM_ASSERT(p.status == KV_OK && p.n == 4, "batch put: %s", kv_status_str(p.status));
    for (uint32_t i = 0; i < 4; i++)
        SIM_ASSERT(p.item_status[i] == KV_OK, "item %u: %s", i, kv_status_str(p.item_status[i]));
    run_for(w, 200);
    struct kv_slice keys[4] = { kv_slice_str("k2"), kv_slice_str("k0"), kv_slice_str("nope"), kv_slice_str("k1") };
    uint32_t reader = (node + 1) % sq_nodes(w->c);
    coord_batch_get(sq_coord(w->c, reader), keys, 4, &all_primaries, on_bget, &g);
    sq_rearm(w->c, reader);
    SIM_ASSERT(sim_run_until_true(w->sim, batch_done, &g, 5, sim_now(w->sim) + 10u * SIM_SEC), "batch get answered");
    SIM_ASSERT(g.status == KV_OK && g.n == 4, "batch get: %s", kv_status_str(g.status));
    SIM_ASSERT(g.nvalues[0] == 1 && strcmp(g.first_value[0], "d") == 0, "k2");
    SIM_ASSERT(g.nvalues[1] == 1 && strcmp(g.first_value[1], "c") == 0, "k0 = %s (%u values)", g.first_value[1],
               g.nvalues[1]);
    SIM_ASSERT(g.item_status[2] == KV_OK && g.nvalues[2] == 0, "absent key");
    SIM_ASSERT(g.nvalues[3] == 1 && strcmp(g.first_value[3], "b") == 0, "k1");
}

/* ---- TTL ---- */

static void on_ttl(void *arg, const struct coord_ttl_result *r)
{
    struct op *op = arg;
    op->status = r->status;
    op->num = r->ttl_ms;
}

static struct op *run_ttl(struct world *w, uint32_t key, uint32_t node)
{
    char name[WORLD_KEY_BYTES];
    key_name(w, OP_PUT, key, name);
    struct op *op = op_new(w, OP_GET, key, node);
    SIM_ASSERT(op != NULL, "history full");
    coord_ttl(sq_coord(w->c, node), kv_slice_str(name), &quorum, on_ttl, op);
    sq_rearm(w->c, node);
    SIM_ASSERT(op_wait(w, op, sim_now(w->sim) + 10u * SIM_SEC), "ttl never answered");
    return op;
}

void ttl_scenario(struct world *w)
{
    sim_test_current_seed = w->seed; /* this file's copy (sim_test.h) */
    uint32_t pref[SQ_NODES_MAX], k = (uint32_t)kv_rand_below(sim_rand(w->sim), WORLD_KEYS_MAX);
    prefs(w, k, pref);
    struct op *p = op_new(w, OP_PUT, k, pref[3]);
    p->ttl_ms = 2000;
    op_issue(p, &quorum, kv_slice_make(NULL, 0));
    SIM_ASSERT(op_wait(w, p, sim_now(w->sim) + 10u * SIM_SEC) && p->status == KV_OK, "put with ttl: %d", p->status);
    struct op *t = run_ttl(w, k, pref[1]);
    SIM_ASSERT(t->status == KV_OK && t->num > 0 && t->num <= 2000, "ttl %" PRId64, t->num);
    struct op *g = run_op(w, OP_GET, k, pref[2], &all_primaries, kv_slice_make(NULL, 0));
    SIM_ASSERT(g->found, "read before expiry");
    run_for(w, 2500);
    uint64_t wall = SQ_EPOCH_MS + sim_now(w->sim);
    for (uint32_t i = 0; i < sq_nodes(w->c); i++) {
        struct op *gi = run_op(w, OP_GET, k, i, &quorum, kv_slice_make(NULL, 0));
        SIM_ASSERT(gi->status == KV_OK && !gi->found, "n%u reads an expired key", i);
        struct op *ti = run_ttl(w, k, i);
        SIM_ASSERT(ti->status == KV_OK && ti->num == COORD_TTL_MISSING, "n%u ttl of an expired key", i);
    }
    for (uint32_t i = 0; i < 3; i++) {
        struct kv_buf buf = { 0 };
        struct object o;
        object_init(&o);
        SIM_ASSERT(local_object(w, pref[i], k, &buf, &o) && object_is_expired(&o, wall), "replica n%u", pref[i]);
        object_free(&o);
        kv_buf_free(&buf);
    }
}
