/*
 * test_sim_gossip.c - SWIM membership on the deterministic simulator:
 * joins, crashes, pauses, partitions, one-way cuts, restarts, leaves,
 * ring spread, loss and duplicates, replay. Virtual time only; each test
 * takes milliseconds to a few seconds of wall time.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "gossip/membership.h"
#include "gossip/ring.h"
#include "gossip/timing.h"
#include "tests/sim/sim.h"
#include "tests/sim/sim_gossip.h"
#include "tests/sim/sim_test.h"

#define SEC 1000u

struct world {
    struct sim *sim;
    struct sg_cluster *c;
    uint32_t n;
};

static void world_open(struct world *w, uint64_t seed, uint32_t n, double drop_rate)
{
    struct sim_config sc;
    sim_config_defaults(&sc);
    sc.seed = seed;
    sc.drop_rate = drop_rate;
    ck_assert_int_eq(sim_create(&sc, &w->sim), KV_OK);
    struct sg_config gc = { .n_nodes = n, .n_seeds = n < 3 ? 1 : 3 };
    membership_config_defaults(&gc.member);
    gc.member.cluster_name = "sim";
    ck_assert_int_eq(sg_create(w->sim, &gc, &w->c), KV_OK);
    w->n = n;
}

static void world_close(struct world *w)
{
    sg_free(w->c);
    sim_free(w->sim);
}

static bool converged(void *ctx)
{
    struct world *w = ctx;
    return sg_running_count(w->c) > 0 && sg_converged(w->c);
}

/* Starts every node within a second and runs until everyone sees everyone alive. */
static void world_converge(struct world *w, uint64_t deadline_ms)
{
    sg_start_all(w->c, SEC);
    sim_run_until(w->sim, sim_now(w->sim) + SEC);
    SIM_ASSERT(sim_run_until_true(w->sim, converged, w, 100, deadline_ms), "no convergence by %" PRIu64 " ms",
               deadline_ms);
    SIM_ASSERT(sg_running_count(w->c) == w->n, "running %u of %u", sg_running_count(w->c), w->n);
}

struct target {
    struct world *w;
    uint32_t node;
    enum gossip_state state;
};

static bool all_see(void *ctx)
{
    struct target *t = ctx;
    return sg_all_see(t->w->c, t->node, t->state);
}

static struct sg_stats stats(const struct world *w)
{
    struct sg_stats s;
    sg_get_stats(w->c, &s);
    return s;
}

START_TEST(five_nodes_join_and_converge)
{
    struct world w;
    world_open(&w, sim_test_seed(101), 5, 0);
    world_converge(&w, 10 * SEC);
    /* Every membership holds all five, alive, and nothing went wrong on the wire. */
    for (uint32_t i = 0; i < 5; i++) {
        SIM_ASSERT(membership_member_count(sg_membership(w.c, i)) == 5, "node %u", i);
        SIM_ASSERT(membership_live_count(sg_membership(w.c, i)) == 5, "node %u", i);
    }
    struct sg_stats s = stats(&w);
    SIM_ASSERT(s.decode_errors == 0 && s.rejected == 0, "decode %" PRIu64 " rejected %" PRIu64, s.decode_errors,
               s.rejected);
    world_close(&w);
}
END_TEST

START_TEST(crashed_node_is_declared_dead_by_every_other_node)
{
    struct world w;
    world_open(&w, sim_test_seed(202), 5, 0);
    world_converge(&w, 10 * SEC);
    uint64_t t0 = sim_now(w.sim);
    sim_crash(w.sim, 3);
    struct target t = { &w, 3, GOSSIP_DEAD };
    SIM_ASSERT(sim_run_until_true(w.sim, all_see, &t, 10, t0 + 30 * SEC), "node 3 not dead everywhere");
    /* Bounded by detection + the minimum suspicion timeout + spread, far below the maximum. */
    uint64_t took = sim_now(w.sim) - t0;
    SIM_ASSERT(took < 6 * SEC, "death took %" PRIu64 " ms", took);
    sim_run_until(w.sim, sim_now(w.sim) + 20 * SEC);
    SIM_ASSERT(stats(&w).false_deaths == 0, "false deaths %" PRIu64, stats(&w).false_deaths);
    for (uint32_t i = 0; i < 5; i++)
        if (i != 3)
            SIM_ASSERT(sg_all_see(w.c, i, GOSSIP_ALIVE), "node %u not alive everywhere", i);
    world_close(&w);
}
END_TEST

struct pause_plan {
    struct world *w;
    uint32_t duration_ms;
};

static void pause_someone(void *ctx, struct sim *s)
{
    struct pause_plan *p = ctx;
    uint32_t node = (uint32_t)kv_rand_below(sim_rand(s), p->w->n);
    sim_pause(s, node, p->duration_ms);
}

START_TEST(pause_shorter_than_suspicion_timeout_is_never_declared_dead)
{
    struct world w;
    world_open(&w, sim_test_seed(303), 5, 0);
    world_converge(&w, 10 * SEC);
    struct membership_config d;
    membership_config_defaults(&d);
    uint64_t min_ms = timing_suspicion_min_ms(d.suspicion_mult, 5, d.probe_interval_ms);
    /* Twenty pauses of 3/4 of the shortest suspicion timeout, 6 s apart. */
    struct pause_plan plan = { &w, (uint32_t)(min_ms * 3 / 4) };
    uint64_t t0 = sim_now(w.sim);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(sim_at(w.sim, t0 + (uint64_t)i * 6 * SEC, pause_someone, &plan), KV_OK);
    sim_run_until(w.sim, t0 + 130 * SEC);
    struct sg_stats s = stats(&w);
    SIM_ASSERT(s.false_deaths == 0, "false deaths %" PRIu64 " (pause %u ms, min timeout %" PRIu64 " ms)",
               s.false_deaths, plan.duration_ms, min_ms);
    SIM_ASSERT(s.suspicions > 0, "the pauses should have caused suspicions");
    SIM_ASSERT(sg_converged(w.c), "not converged after the pauses");
    world_close(&w);
}
END_TEST

START_TEST(partition_then_heal_converges)
{
    struct world w;
    world_open(&w, sim_test_seed(404), 10, 0);
    world_converge(&w, 15 * SEC);
    uint32_t side[5] = { 0, 2, 4, 6, 8 };
    sim_partition(w.sim, side, 5);
    sim_run_until(w.sim, sim_now(w.sim) + 40 * SEC);
    /* Each half has declared the other dead (a seed on each side keeps them apart). */
    SIM_ASSERT(sg_count_seeing(w.c, 1, GOSSIP_DEAD) == 5, "odd node 1 dead for %u of 5 even nodes",
               sg_count_seeing(w.c, 1, GOSSIP_DEAD));
    SIM_ASSERT(sg_count_seeing(w.c, 0, GOSSIP_DEAD) == 5, "even node 0 dead for %u odd nodes",
               sg_count_seeing(w.c, 0, GOSSIP_DEAD));
    sim_heal(w.sim);
    uint64_t healed = sim_now(w.sim);
    SIM_ASSERT(sim_run_until_true(w.sim, converged, &w, 100, healed + 60 * SEC), "no convergence after heal");
    world_close(&w);
}
END_TEST

START_TEST(one_way_cut_is_bridged_by_indirect_probes)
{
    struct world w;
    world_open(&w, sim_test_seed(505), 8, 0);
    world_converge(&w, 10 * SEC);
    /* 1 cannot reach 2 directly: its probes of 2 go through helpers. */
    sim_cut(w.sim, 1, 2);
    sim_run_until(w.sim, sim_now(w.sim) + 120 * SEC);
    SIM_ASSERT(stats(&w).false_deaths == 0, "false deaths %" PRIu64, stats(&w).false_deaths);
    SIM_ASSERT(sg_converged(w.c), "not converged under a one-way cut");
    world_close(&w);
}
END_TEST

START_TEST(crashed_node_restarts_and_is_alive_everywhere_again)
{
    struct world w;
    world_open(&w, sim_test_seed(606), 6, 0);
    world_converge(&w, 10 * SEC);
    sim_crash(w.sim, 4);
    struct target dead = { &w, 4, GOSSIP_DEAD };
    SIM_ASSERT(sim_run_until_true(w.sim, all_see, &dead, 10, sim_now(w.sim) + 30 * SEC), "not dead");
    sim_restart(w.sim, 4);
    uint64_t t0 = sim_now(w.sim);
    SIM_ASSERT(sim_run_until_true(w.sim, converged, &w, 10, t0 + 10 * SEC), "restarted node not alive everywhere");
    /* It refuted its old death with a higher incarnation. */
    struct membership_member mm;
    ck_assert_int_eq(membership_member_find(sg_membership(w.c, 0), "n0004", &mm), KV_OK);
    SIM_ASSERT(mm.incarnation > 0, "incarnation %" PRIu64, mm.incarnation);
    world_close(&w);
}
END_TEST

static uint64_t one_run(uint64_t seed)
{
    struct world w;
    world_open(&w, seed, 6, 0.02);
    world_converge(&w, 20 * SEC);
    sim_crash(w.sim, 2);
    sim_run_until(w.sim, sim_now(w.sim) + 20 * SEC);
    struct sim_stats ss;
    sim_get_stats(w.sim, &ss);
    uint64_t h = stats(&w).trace_hash ^ ss.sent ^ (ss.delivered << 20) ^ sim_now(w.sim);
    world_close(&w);
    return h;
}

START_TEST(same_seed_replays_the_same_run)
{
    uint64_t seed = sim_test_seed(707);
    uint64_t a = one_run(seed), b = one_run(seed), c = one_run(seed + 1);
    SIM_ASSERT(a == b, "two runs of one seed differ");
    SIM_ASSERT(a != c, "another seed gave the very same run");
}
END_TEST

START_TEST(duplicates_reordering_and_slow_paths_cause_no_false_death)
{
    struct sim_config sc;
    sim_config_defaults(&sc);
    sc.seed = sim_test_seed(808);
    sc.dup_rate = 0.05;
    sc.reorder_rate = 0.1;
    sc.latency_tail_rate = 0.01;
    struct world w = { .n = 12 };
    ck_assert_int_eq(sim_create(&sc, &w.sim), KV_OK);
    struct sg_config gc = { .n_nodes = 12, .n_seeds = 2 };
    membership_config_defaults(&gc.member);
    ck_assert_int_eq(sg_create(w.sim, &gc, &w.c), KV_OK);
    world_converge(&w, 20 * SEC);
    sim_run_until(w.sim, sim_now(w.sim) + 120 * SEC);
    SIM_ASSERT(stats(&w).false_deaths == 0, "false deaths %" PRIu64, stats(&w).false_deaths);
    SIM_ASSERT(sg_converged(w.c), "not converged");
    world_close(&w);
}
END_TEST

struct ring_wait {
    struct world *w;
    uint64_t version;
};

static bool all_have_ring(void *ctx)
{
    struct ring_wait *r = ctx;
    return sg_all_have_ring(r->w->c, r->version);
}

START_TEST(committed_ring_reaches_every_node)
{
    struct world w;
    world_open(&w, sim_test_seed(909), 20, 0);
    world_converge(&w, 15 * SEC);
    struct ring_member_spec specs[20];
    char ids[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "n%04d", i);
        specs[i].id = ids[i];
        specs[i].zone = NULL;
    }
    struct ring *r = NULL, *r2 = NULL;
    ck_assert_int_eq(ring_create(RING_PARTITIONS_DEFAULT, 3, specs, 20, &r), KV_OK);
    ck_assert_int_eq(membership_set_ring(sg_membership(w.c, 7), r, sim_now(w.sim)), KV_OK);
    ck_assert_int_eq(membership_set_ring(sg_membership(w.c, 7), r, sim_now(w.sim)), KV_ESTATE);
    struct ring_wait wait = { &w, 1 };
    SIM_ASSERT(sim_run_until_true(w.sim, all_have_ring, &wait, 10, sim_now(w.sim) + 20 * SEC), "ring v1 missing");
    /* A newer version committed elsewhere replaces it everywhere. */
    ck_assert_int_eq(ring_claim(r, specs, 19, &r2), KV_OK);
    ck_assert_int_eq(membership_set_ring(sg_membership(w.c, 12), r2, sim_now(w.sim)), KV_OK);
    wait.version = 2;
    SIM_ASSERT(sim_run_until_true(w.sim, all_have_ring, &wait, 10, sim_now(w.sim) + 20 * SEC), "ring v2 missing");
    for (uint32_t i = 0; i < 20; i++)
        SIM_ASSERT(ring_equal(membership_ring(sg_membership(w.c, i)), r2), "node %u has another ring", i);
    ring_free(r);
    ring_free(r2);
    world_close(&w);
}
END_TEST

START_TEST(leaving_node_is_seen_left_everywhere)
{
    struct world w;
    world_open(&w, sim_test_seed(1010), 8, 0);
    world_converge(&w, 10 * SEC);
    membership_set_leaving(sg_membership(w.c, 5), sim_now(w.sim));
    struct target leaving = { &w, 5, GOSSIP_LEAVING };
    SIM_ASSERT(sim_run_until_true(w.sim, all_see, &leaving, 10, sim_now(w.sim) + 10 * SEC), "leaving not seen");
    membership_leave(sg_membership(w.c, 5), sim_now(w.sim));
    struct target left = { &w, 5, GOSSIP_LEFT };
    SIM_ASSERT(sim_run_until_true(w.sim, all_see, &left, 10, sim_now(w.sim) + 10 * SEC), "left not seen");
    sim_crash(w.sim, 5); /* the process exits */
    sim_run_until(w.sim, sim_now(w.sim) + 60 * SEC);
    SIM_ASSERT(sg_all_see(w.c, 5, GOSSIP_LEFT), "a left node must stay left, not dead");
    world_close(&w);
}
END_TEST

START_TEST(fifty_nodes_with_one_percent_loss_have_no_false_positive)
{
    struct world w;
    world_open(&w, sim_test_seed(5050), 50, 0.01);
    world_converge(&w, 30 * SEC);
    sim_run_until(w.sim, sim_now(w.sim) + 300 * SEC);
    struct sg_stats s = stats(&w);
    SIM_ASSERT(s.false_deaths == 0, "false deaths %" PRIu64 " (suspicions %" PRIu64 ")", s.false_deaths,
               s.suspicions);
    SIM_ASSERT(sg_converged(w.c), "not converged");
    /* A real death is still found. */
    sim_crash(w.sim, 17);
    struct target t = { &w, 17, GOSSIP_DEAD };
    SIM_ASSERT(sim_run_until_true(w.sim, all_see, &t, 10, sim_now(w.sim) + 60 * SEC), "node 17 not dead everywhere");
    world_close(&w);
}
END_TEST

/* One test case per test, so CK_RUN_CASE=<test name> runs just that one. */
static void add(Suite *s, const char *name, const TTest *t)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
}

#define ADD(s, t) add((s), #t, t)

int main(void)
{
    Suite *s = suite_create("sim_gossip");
    ADD(s, five_nodes_join_and_converge);
    ADD(s, crashed_node_is_declared_dead_by_every_other_node);
    ADD(s, pause_shorter_than_suspicion_timeout_is_never_declared_dead);
    ADD(s, partition_then_heal_converges);
    ADD(s, one_way_cut_is_bridged_by_indirect_probes);
    ADD(s, crashed_node_restarts_and_is_alive_everywhere_again);
    ADD(s, same_seed_replays_the_same_run);
    ADD(s, duplicates_reordering_and_slow_paths_cause_no_false_death);
    ADD(s, committed_ring_reaches_every_node);
    ADD(s, leaving_node_is_seen_left_everywhere);
    ADD(s, fifty_nodes_with_one_percent_loss_have_no_false_positive);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
