/*
 * test_sim_quorum.c - the quorum coordinator on the deterministic
 * simulator: read-your-writes with R + W > N over primaries, siblings and
 * their resolution, acknowledged writes surviving crashes (a history
 * checker), hinted handoff, in-doubt timeouts, counters, deletes.
 *
 * Every test runs many seeds (RINGKV_SIM_SEEDS=<n> changes how many;
 * RINGKV_SIM_SEED=<seed> runs only that one, to replay a failure; the
 * assertion message names the seed and CK_RUN_CASE=<test> picks the test). Each seed builds a 5-node cluster
 * (N = 3, Q = 16) from scratch and costs a few milliseconds.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord.h"
#include "coordinator/dvv.h"
#include "tests/sim/sim.h"
#include "tests/sim/sim_quorum.h"
#include "tests/sim/sim_test.h"
#include "tests/sim/sim_workload.h"

#define SEC 1000u

/* Runs body once per seed: base + i for i < count, or the one in RINGKV_SIM_SEED. */
#define FOR_SEEDS(base, count)                                                                     \
    for (uint32_t seed_i_ = 0, seed_n_ = sim_seed_count(count); seed_i_ < seed_n_; seed_i_++)      \
        for (uint64_t seed = sim_seed_pick((base) + seed_i_), once_ = 1; once_; once_ = 0)

static uint32_t sim_seed_count(uint32_t dflt)
{
    const char *one = getenv("RINGKV_SIM_SEED"), *n = getenv("RINGKV_SIM_SEEDS");
    if (one && *one)
        return 1;
    return n && *n ? (uint32_t)strtoul(n, NULL, 0) : dflt;
}

static uint64_t sim_seed_pick(uint64_t dflt) { return sim_test_seed(dflt); }

/* ---- read-your-writes ---- */

START_TEST(primary_only_quorum_reads_see_acknowledged_writes)
{
    FOR_SEEDS(1000, 200)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.primary_only = true;
        wc.crash_rate = 0.3;
        wc.partition_rate = 0.2;
        world_open(&w, seed, &wc);
        ryw_run(&w, 20 * SEC);
        world_settle(&w);
        SIM_ASSERT(w.ryw_checked > 10, "only %u reads checked", w.ryw_checked);
        world_check_history(&w);
        world_close(&w);
    }
}
END_TEST

/* ---- the history checker under every fault ---- */

START_TEST(acknowledged_writes_survive_crashes_and_partitions)
{
    FOR_SEEDS(20000, 200)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.crash_rate = 0.4;
        wc.partition_rate = 0.3;
        wc.pause_rate = 0.1;
        world_open(&w, seed, &wc);
        workload_run(&w, 20 * SEC);
        world_settle(&w);
        world_check_history(&w);
        world_check_converged(&w);
        world_close(&w);
    }
}
END_TEST

/* ---- the write hook anti-entropy relies on (coord.h, coordinator/aae.h) ---- */

START_TEST(write_hook_reports_every_data_write_with_its_old_bytes)
{
    FOR_SEEDS(31000, 40)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.crash_rate = 0.4;
        wc.partition_rate = 0.3;
        wc.pause_rate = 0.1;
        world_open(&w, seed, &wc);
        workload_run(&w, 10 * SEC);
        world_settle(&w);
        uint32_t bad = sq_hook_tree_mismatches(w.c);
        ck_assert_msg(bad == 0, "seed %" PRIu64 ": %u trees kept by the write hook differ from the engine", seed,
                      bad);
        world_close(&w);
    }
}
END_TEST

/* ---- every fault at once, disk faults included (docs/RELIABILITY.md) ---- */

START_TEST(campaign_every_fault_loses_no_acknowledged_write)
{
    struct campaign_counts sum = { 0 }, one;
    uint32_t seeds = 0;
    FOR_SEEDS(90000, 300) /* includes 90141: a disk error answered as a refusal */
    {
        struct world w;
        struct world_config wc;
        world_config_campaign(&wc);
        world_open(&w, seed, &wc);
        campaign_run(&w, 20 * SEC, &one);
        world_close(&w);
        sum.faults += one.faults;
        sum.ops += one.ops;
        sum.acked_writes += one.acked_writes;
        sum.deletes_checked += one.deletes_checked;
        sum.deletes_covering += one.deletes_covering;
        seeds++;
        if (seeds % 1000 == 0) /* a soak (RINGKV_SIM_SEEDS=10000) shows its progress */
            fprintf(stderr, "campaign: %u seeds done, last %" PRIu64 "\n", seeds, seed);
    }
    /* A failed check aborts above with its seed; reaching here means none lost or resurrected. */
    fprintf(stderr,
            "campaign: %u seeds, %u faults, %u operations, %u acknowledged writes, 0 lost; "
            "%u acknowledged deletes with a context checked (%u had read a value), 0 resurrected\n",
            seeds, sum.faults, sum.ops, sum.acked_writes, sum.deletes_checked, sum.deletes_covering);
}
END_TEST

/* ---- siblings ---- */

START_TEST(concurrent_writers_make_siblings_and_a_context_resolves_them)
{
    FOR_SEEDS(3000, 40)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        world_open(&w, seed, &wc);
        siblings_scenario(&w);
        world_close(&w);
    }
}
END_TEST

START_TEST(last_writer_wins_keeps_one_value_under_faults_and_skew)
{
    FOR_SEEDS(81000, 40)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.sq.coord.conflict_mode = COORD_CONFLICT_LWW;
        wc.quiet = true;
        world_open(&w, seed, &wc);
        lww_scenario(&w);
        world_close(&w);
        world_config_defaults(&wc);
        wc.sq.coord.conflict_mode = COORD_CONFLICT_LWW;
        wc.crash_rate = 0.3;
        wc.partition_rate = 0.3;
        wc.skew_rate = 0.3;
        wc.max_skew_ms = 5000;
        world_open(&w, seed, &wc);
        lww_workload_scenario(&w);
        world_close(&w);
    }
}
END_TEST

/* ---- hinted handoff ---- */

START_TEST(hints_are_delivered_after_recovery_and_removed_after_the_ack)
{
    FOR_SEEDS(4000, 40)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        world_open(&w, seed, &wc);
        hints_scenario(&w);
        world_close(&w);
    }
}
END_TEST

START_TEST(hints_expire_after_their_window_undelivered)
{
    FOR_SEEDS(45000, 20)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        wc.sq.coord.hint_ttl_ms = 2000;
        world_open(&w, seed, &wc);
        hints_expiry_scenario(&w);
        world_close(&w);
    }
}
END_TEST

START_TEST(a_hint_changed_during_its_delivery_is_kept_and_sent_again)
{
    FOR_SEEDS(47000, 20)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        world_open(&w, seed, &wc);
        hint_race_scenario(&w);
        world_close(&w);
    }
}
END_TEST

START_TEST(hint_delivery_keeps_to_its_rate)
{
    FOR_SEEDS(46000, 20)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        wc.sq.coord.hints_per_sec = 1;
        wc.sq.coord.hint_deliveries_max = 1;
        world_open(&w, seed, &wc);
        hints_rate_scenario(&w);
        world_close(&w);
    }
}
END_TEST

/* ---- timeouts ---- */

START_TEST(write_timeouts_are_in_doubt_and_unavailable_means_nowhere)
{
    FOR_SEEDS(5000, 40)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        world_open(&w, seed, &wc);
        timeout_scenario(&w);
        world_close(&w);
    }
}
END_TEST

START_TEST(writes_through_non_primaries_go_on_past_a_silent_primary)
{
    FOR_SEEDS(5500, 40)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        world_open(&w, seed, &wc);
        forward_retry_scenario(&w);
        world_close(&w);
    }
}
END_TEST

/* ---- counters ---- */

START_TEST(counters_converge_to_the_exact_sum_under_partitions)
{
    FOR_SEEDS(60000, 200)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.crash_rate = 0.2;
        wc.partition_rate = 0.4;
        world_open(&w, seed, &wc);
        counter_run(&w, 15 * SEC);
        world_settle(&w);
        world_check_counters(&w);
        world_close(&w);
    }
}
END_TEST

/* ---- deletes ---- */

START_TEST(deletes_do_not_resurrect_when_a_replica_returns)
{
    FOR_SEEDS(7000, 40)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        world_open(&w, seed, &wc);
        delete_scenario(&w);
        world_close(&w);
    }
}
END_TEST

START_TEST(fully_replicated_tombstones_are_purged_and_nothing_resurrects)
{
    FOR_SEEDS(83000, 40)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        wc.sq.coord.tombstone_grace_ms = 2000;
        world_open(&w, seed, &wc);
        purge_scenario(&w);
        world_close(&w);
        world_config_defaults(&wc); /* the delete scenario must hold with purging on too */
        wc.quiet = true;
        wc.sq.coord.tombstone_grace_ms = 2000;
        world_open(&w, seed, &wc);
        delete_scenario(&w);
        world_close(&w);
    }
}
END_TEST

/* ---- batches, TTL, N = 1 ---- */

START_TEST(batches_run_every_key_as_a_quorum_request)
{
    FOR_SEEDS(75000, 20)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        world_open(&w, seed, &wc);
        batch_scenario(&w);
        world_close(&w);
    }
}
END_TEST

START_TEST(ttl_expires_on_every_replica)
{
    FOR_SEEDS(77000, 20)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.quiet = true;
        world_open(&w, seed, &wc);
        ttl_scenario(&w);
        world_close(&w);
    }
}
END_TEST

START_TEST(single_replica_cluster_keeps_acknowledged_writes)
{
    FOR_SEEDS(79000, 50)
    {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.sq.n_val = 1;
        wc.crash_rate = 0.3;
        world_open(&w, seed, &wc);
        workload_run(&w, 10 * SEC);
        world_settle(&w);
        world_check_history(&w);
        world_close(&w);
    }
}
END_TEST

/* ---- determinism ---- */

START_TEST(one_seed_replays_exactly)
{
    uint64_t seed = sim_test_seed(8000), h[2];
    for (int run = 0; run < 2; run++) {
        struct world w;
        struct world_config wc;
        world_config_defaults(&wc);
        wc.crash_rate = 0.4;
        wc.partition_rate = 0.3;
        world_open(&w, seed, &wc);
        workload_run(&w, 10 * SEC);
        world_settle(&w);
        h[run] = world_trace_hash(&w);
        world_close(&w);
    }
    SIM_ASSERT(h[0] == h[1], "two runs of one seed differ: %" PRIx64 " vs %" PRIx64, h[0], h[1]);
}
END_TEST

/* One case per test, so CK_RUN_CASE=<test name> runs (or replays) just one. */
int main(void)
{
    Suite *s = suite_create("sim_quorum");
    const struct {
        const char *name;
        const TTest *test;
    } tests[] = {
        { "primary_only_quorum_reads_see_acknowledged_writes", primary_only_quorum_reads_see_acknowledged_writes },
        { "acknowledged_writes_survive_crashes_and_partitions", acknowledged_writes_survive_crashes_and_partitions },
        { "campaign_every_fault_loses_no_acknowledged_write", campaign_every_fault_loses_no_acknowledged_write },
        { "write_hook_reports_every_data_write_with_its_old_bytes", write_hook_reports_every_data_write_with_its_old_bytes },
        { "concurrent_writers_make_siblings_and_a_context_resolves_them", concurrent_writers_make_siblings_and_a_context_resolves_them },
        { "last_writer_wins_keeps_one_value_under_faults_and_skew", last_writer_wins_keeps_one_value_under_faults_and_skew },
        { "hints_are_delivered_after_recovery_and_removed_after_the_ack", hints_are_delivered_after_recovery_and_removed_after_the_ack },
        { "hints_expire_after_their_window_undelivered", hints_expire_after_their_window_undelivered },
        { "a_hint_changed_during_its_delivery_is_kept_and_sent_again", a_hint_changed_during_its_delivery_is_kept_and_sent_again },
        { "hint_delivery_keeps_to_its_rate", hint_delivery_keeps_to_its_rate },
        { "write_timeouts_are_in_doubt_and_unavailable_means_nowhere", write_timeouts_are_in_doubt_and_unavailable_means_nowhere },
        { "writes_through_non_primaries_go_on_past_a_silent_primary", writes_through_non_primaries_go_on_past_a_silent_primary },
        { "counters_converge_to_the_exact_sum_under_partitions", counters_converge_to_the_exact_sum_under_partitions },
        { "deletes_do_not_resurrect_when_a_replica_returns", deletes_do_not_resurrect_when_a_replica_returns },
        { "fully_replicated_tombstones_are_purged_and_nothing_resurrects", fully_replicated_tombstones_are_purged_and_nothing_resurrects },
        { "batches_run_every_key_as_a_quorum_request", batches_run_every_key_as_a_quorum_request },
        { "ttl_expires_on_every_replica", ttl_expires_on_every_replica },
        { "single_replica_cluster_keeps_acknowledged_writes", single_replica_cluster_keeps_acknowledged_writes },
        { "one_seed_replays_exactly", one_seed_replays_exactly },
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, tests[i].test);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
