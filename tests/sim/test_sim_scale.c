/*
 * test_sim_scale.c - 1,000 simulated nodes: everyone joins, then one
 * dies. Asserts convergence and the absence of false deaths, not speed
 * (sim_report measures the times). A few seconds of wall time.
 */
#include <check.h>
#include <stdlib.h>

#include "gossip/membership.h"
#include "tests/sim/sim.h"
#include "tests/sim/sim_gossip.h"
#include "tests/sim/sim_test.h"

#define NODES 1000u
#define SEC 1000u

struct world {
    struct sg_cluster *c;
    uint32_t victim;
};

static bool converged(void *ctx)
{
    struct world *w = ctx;
    return sg_running_count(w->c) == NODES && sg_converged(w->c);
}

static bool victim_dead_everywhere(void *ctx)
{
    struct world *w = ctx;
    return sg_all_see(w->c, w->victim, GOSSIP_DEAD);
}

START_TEST(thousand_nodes_join_then_one_dies)
{
    struct sim_config sc;
    sim_config_defaults(&sc);
    sc.seed = sim_test_seed(1000);
    sc.drop_rate = 0.01;
    struct sim *sim = NULL;
    ck_assert_int_eq(sim_create(&sc, &sim), KV_OK);
    struct sg_config gc = { .n_nodes = NODES, .n_seeds = 3 };
    membership_config_defaults(&gc.member);
    struct world w = { 0 };
    ck_assert_int_eq(sg_create(sim, &gc, &w.c), KV_OK);
    sg_start_all(w.c, 10 * SEC);
    sim_run_until(sim, 10 * SEC);
    SIM_ASSERT(sim_run_until_true(sim, converged, &w, 100, 120 * SEC), "1,000 nodes did not converge");
    w.victim = (uint32_t)kv_rand_below(sim_rand(sim), NODES);
    sim_crash(sim, w.victim);
    uint64_t t0 = sim_now(sim);
    SIM_ASSERT(sim_run_until_true(sim, victim_dead_everywhere, &w, 50, t0 + 120 * SEC), "victim %u not dead everywhere",
               w.victim);
    struct sg_stats st;
    sg_get_stats(w.c, &st);
    SIM_ASSERT(st.false_deaths == 0, "false deaths %" PRIu64, st.false_deaths);
    SIM_ASSERT(st.decode_errors == 0, "decode errors %" PRIu64, st.decode_errors);
    sg_free(w.c);
    sim_free(sim);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_scale");
    TCase *tc = tcase_create("thousand_nodes_join_then_one_dies");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, thousand_nodes_join_then_one_dies);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
