/*
 * test_sim_aae.c - anti-entropy on the deterministic simulator: a wiped
 * replica converges; a replica that missed writes (overwrites and
 * deletes among them) converges; concurrent values end as siblings on
 * every replica; deleted keys stay deleted (tombstones win, nothing is
 * resurrected); and everything converges under a lossy, duplicating,
 * reordering network with writes and crashes during the exchanges.
 *
 * Every test runs several seeds (RINGKV_SIM_SEEDS=<n> changes how many;
 * RINGKV_SIM_SEED=<seed> runs only that one, to replay a failure; the
 * assertion message names the seed and CK_RUN_CASE=<test> picks the
 * test). Each prints the seeds it ran and the slowest convergence
 * (virtual time) to stdout.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/aae.h"
#include "tests/sim/sim.h"
#include "tests/sim/sim_aae.h"
#include "tests/sim/sim_test.h"

#define SEC 1000u
#define CONVERGE_DEADLINE_MS (300u * SEC)

/* Runs body once per seed: base + i for i < count, or the one in RINGKV_SIM_SEED. */
#define FOR_SEEDS(base, count)                                                                     \
    for (uint32_t seed_i_ = 0, seed_n_ = sim_seed_count(count); seed_i_ < seed_n_; seed_i_++)      \
        for (uint64_t seed = sim_test_seed((base) + seed_i_), once_ = 1; once_; once_ = 0)

static uint32_t sim_seed_count(uint32_t dflt)
{
    const char *one = getenv("RINGKV_SIM_SEED"), *n = getenv("RINGKV_SIM_SEEDS");
    if (one && *one)
        return 1;
    return n && *n ? (uint32_t)strtoul(n, NULL, 0) : dflt;
}

struct world {
    struct sim *sim;
    struct sa_cluster *c;
    uint32_t n;
    uint64_t converge_ms_max;   /* over the seeds of one test */
    uint64_t first_seed, last_seed;
    /* workload (writes_and_crashes_during_exchanges) */
    uint64_t stop_ms;
    uint32_t writes;
};

static void world_open(struct world *w, uint64_t seed, uint32_t nodes, uint32_t n_val, bool lossy)
{
    struct sim_config sc;
    sim_config_defaults(&sc);
    sc.seed = seed;
    if (lossy) {
        sc.drop_rate = 0.05;
        sc.dup_rate = 0.05;
        sc.reorder_rate = 0.1;
        sc.reorder_delay_ms = 50;
        sc.latency_tail_rate = 0.01;
        sc.latency_tail_mean_ms = 200;
    }
    ck_assert_int_eq(sim_create(&sc, &w->sim), KV_OK);
    struct sa_config cfg;
    sa_config_defaults(&cfg);
    cfg.n_nodes = nodes;
    cfg.n_val = n_val;
    ck_assert_int_eq(sa_create(w->sim, &cfg, &w->c), KV_OK);
    w->n = nodes;
    if (w->first_seed == 0)
        w->first_seed = seed;
    w->last_seed = seed;
}

static void world_close(struct world *w)
{
    struct sa_stats s;
    sa_get_stats(w->c, &s);
    SIM_ASSERT(s.decode_errors == 0 && s.rejected == 0, "decode errors %" PRIu64 ", rejected %" PRIu64,
               s.decode_errors, s.rejected);
    sa_free(w->c);
    sim_free(w->sim);
}

static void report(const char *test, const struct world *w)
{
    printf("sim_aae %s: seeds %" PRIu64 "..%" PRIu64 " ok, slowest convergence %" PRIu64 " ms (virtual)\n", test,
           w->first_seed, w->last_seed, w->converge_ms_max);
}

static struct kv_slice key_of(uint32_t i, char *buf)
{
    return kv_slice_make(buf, (size_t)snprintf(buf, 24, "key-%u", i));
}

/* The first running node of mask. */
static uint32_t first_running(struct world *w, uint32_t mask)
{
    for (uint32_t i = 0; i < w->n; i++)
        if ((mask & (1u << i)) && sa_running(w->c, i))
            return i;
    return UINT32_MAX;
}

/* A write of key that reached every running replica in mask. */
static void write_key(struct world *w, struct kv_slice key, uint32_t mask, const char *value)
{
    mask &= sa_replica_mask(w->c, key);
    uint32_t coord = first_running(w, mask);
    SIM_ASSERT(coord != UINT32_MAX, "no running replica for a write");
    SIM_ASSERT(sa_write(w->c, coord, mask, key, value) == KV_OK, "write failed");
}

static bool converged(void *ctx) { return sa_converged(((struct world *)ctx)->c); }

/* Runs until every replica agrees; records how long it took. */
static void world_converge(struct world *w)
{
    uint64_t start = sim_now(w->sim);
    bool ok = sim_run_until_true(w->sim, converged, w, 500, start + CONVERGE_DEADLINE_MS);
    SIM_ASSERT(ok, "not converged after %u ms: %" PRIu64 " keys diverge", CONVERGE_DEADLINE_MS,
               sa_diverging_keys(w->c));
    uint64_t took = sim_now(w->sim) - start;
    if (took > w->converge_ms_max)
        w->converge_ms_max = took;
}

static char value_buf[32];
static const char *value_of(const char *tag, uint32_t i)
{
    snprintf(value_buf, sizeof value_buf, "%s-%u", tag, i);
    return value_buf;
}

START_TEST(a_wiped_replica_converges)
{
    struct world w = { 0 };
    FOR_SEEDS(1000, 12)
    {
        world_open(&w, seed, 3, 3, true);
        char buf[24];
        for (uint32_t i = 0; i < 600; i++)
            write_key(&w, key_of(i, buf), 0x7, value_of("v", i));
        for (uint32_t i = 0; i < 100; i++) /* overwrites: objects with history */
            write_key(&w, key_of(i * 5, buf), 0x7, value_of("w", i));
        sim_run_until(w.sim, sim_now(w.sim) + SEC);
        uint32_t victim = (uint32_t)kv_rand_below(sim_rand(w.sim), 3);
        sa_wipe(w.c, victim);
        SIM_ASSERT(sa_diverging_keys(w.c) == 600, "wipe left %" PRIu64 " diverging", sa_diverging_keys(w.c));
        world_converge(&w);
        for (uint32_t i = 0; i < 600; i++)
            SIM_ASSERT(sa_visible(w.c, victim, key_of(i, buf), NULL) == 1, "key %u not back on n%u", i, victim);
        world_close(&w);
    }
    report("a_wiped_replica_converges", &w);
}
END_TEST

START_TEST(a_replica_that_missed_writes_converges)
{
    struct world w = { 0 };
    FOR_SEEDS(2000, 12)
    {
        world_open(&w, seed, 5, 3, true);
        struct kv_rand *r = sim_rand(w.sim);
        char buf[24];
        for (uint32_t i = 0; i < 300; i++)
            write_key(&w, key_of(i, buf), 0x1f, value_of("v", i));
        sim_run_until(w.sim, sim_now(w.sim) + SEC);
        uint32_t down = (uint32_t)kv_rand_below(r, 5);
        sa_crash(w.c, down);
        /* While it is down: new keys, overwrites and deletes of old ones. */
        for (uint32_t i = 0; i < 400; i++) {
            uint32_t k = (uint32_t)kv_rand_below(r, 600);
            bool del = kv_rand_below(r, 5) == 0;
            write_key(&w, key_of(k, buf), 0x1f, del ? NULL : value_of("x", i));
        }
        SIM_ASSERT(sa_diverging_keys(w.c) == 0, "running replicas should agree before the restart");
        sim_run_until(w.sim, sim_now(w.sim) + 10 * SEC); /* past the hint window, so to speak */
        sa_restart(w.c, down);
        SIM_ASSERT(sa_diverging_keys(w.c) > 0, "the returning replica should lag");
        world_converge(&w);
        world_close(&w);
    }
    report("a_replica_that_missed_writes_converges", &w);
}
END_TEST

START_TEST(concurrent_values_end_as_siblings_on_every_replica)
{
    struct world w = { 0 };
    FOR_SEEDS(3000, 12)
    {
        world_open(&w, seed, 3, 3, true);
        char buf[24];
        for (uint32_t i = 0; i < 50; i++) {
            /* Two coordinators write the same key without seeing each other. */
            SIM_ASSERT(sa_write(w.c, 0, 0x1, key_of(i, buf), value_of("left", i)) == KV_OK, "write");
            SIM_ASSERT(sa_write(w.c, 1, 0x2, key_of(i, buf), value_of("right", i)) == KV_OK, "write");
        }
        world_converge(&w);
        for (uint32_t i = 0; i < 50; i++) {
            for (uint32_t n = 0; n < 3; n++) {
                struct kv_buf vals = { 0 };
                uint32_t v = sa_visible(w.c, n, key_of(i, buf), &vals);
                char want_l[32], want_r[32];
                snprintf(want_l, sizeof want_l, "left-%u|", i);
                snprintf(want_r, sizeof want_r, "right-%u|", i);
                SIM_ASSERT(v == 2 && strstr(vals.data, want_l) && strstr(vals.data, want_r),
                           "key %u on n%u: %u values '%s'", i, n, v, vals.data ? vals.data : "");
                kv_buf_free(&vals);
            }
        }
        world_close(&w);
    }
    report("concurrent_values_end_as_siblings_on_every_replica", &w);
}
END_TEST

START_TEST(deleted_keys_propagate_and_are_not_resurrected)
{
    struct world w = { 0 };
    FOR_SEEDS(4000, 12)
    {
        world_open(&w, seed, 3, 3, true);
        char buf[24];
        for (uint32_t i = 0; i < 200; i++)
            write_key(&w, key_of(i, buf), 0x7, value_of("v", i));
        sim_run_until(w.sim, sim_now(w.sim) + SEC);
        uint32_t stale = (uint32_t)kv_rand_below(sim_rand(w.sim), 3);
        sa_crash(w.c, stale);
        for (uint32_t i = 0; i < 200; i += 2)
            write_key(&w, key_of(i, buf), 0x7, NULL); /* the stale replica keeps the values */
        sa_restart(w.c, stale);
        world_converge(&w);
        /* Two more exchange periods: the tombstones must hold. */
        sim_run_until(w.sim, sim_now(w.sim) + 20 * SEC);
        SIM_ASSERT(sa_converged(w.c), "diverged again");
        for (uint32_t i = 0; i < 200; i++)
            for (uint32_t n = 0; n < 3; n++)
                SIM_ASSERT(sa_visible(w.c, n, key_of(i, buf), NULL) == (i % 2 ? 1u : 0u),
                           "key %u on n%u: deleted keys must stay deleted, others stay", i, n);
        world_close(&w);
    }
    report("deleted_keys_propagate_and_are_not_resurrected", &w);
}
END_TEST

/* Every 20 ms until stop_ms: a write reaching a random subset of its
 * replicas (at least the coordinator); now and then a crash or restart. */
static void workload_step(void *ctx, struct sim *s)
{
    struct world *w = ctx;
    struct kv_rand *r = sim_rand(s);
    char buf[24];
    struct kv_slice key = key_of((uint32_t)kv_rand_below(r, 400), buf);
    uint32_t mask = (uint32_t)kv_rand_below(r, 1u << w->n) & sa_replica_mask(w->c, key);
    if (first_running(w, mask) != UINT32_MAX) {
        write_key(w, key, mask, kv_rand_below(r, 6) == 0 ? NULL : value_of("w", w->writes));
        w->writes++;
    }
    uint32_t node = (uint32_t)kv_rand_below(r, w->n);
    if (kv_rand_below(r, 200) == 0) {
        if (sa_running(w->c, node))
            sa_crash(w->c, node);
        else
            sa_restart(w->c, node);
    }
    if (sim_now(s) + 20 < w->stop_ms)
        SIM_ASSERT(sim_at(s, sim_now(s) + 20, workload_step, w) == KV_OK, "sim_at");
}

START_TEST(writes_and_crashes_during_exchanges_still_converge)
{
    struct world w = { 0 };
    FOR_SEEDS(5000, 8)
    {
        world_open(&w, seed, 5, 3, true);
        w.writes = 0;
        w.stop_ms = sim_now(w.sim) + 40 * SEC;
        SIM_ASSERT(sim_at(w.sim, sim_now(w.sim) + 1, workload_step, &w) == KV_OK, "sim_at");
        sim_run_until(w.sim, w.stop_ms);
        for (uint32_t i = 0; i < w.n; i++)
            if (!sa_running(w.c, i))
                sa_restart(w.c, i);
        SIM_ASSERT(w.writes > 500, "only %u writes", w.writes);
        world_converge(&w);
        struct aae_stats st;
        sa_aae_stats_sum(w.c, &st);
        SIM_ASSERT(st.merge_errors == 0 && st.bad_messages == 0, "merge errors %" PRIu64 ", bad %" PRIu64,
                   st.merge_errors, st.bad_messages);
        world_close(&w);
    }
    report("writes_and_crashes_during_exchanges_still_converge", &w);
}
END_TEST

START_TEST(one_seed_replays_the_same_run)
{
    uint64_t bytes[2], msgs[2];
    for (int run = 0; run < 2; run++) {
        struct world w = { 0 };
        world_open(&w, sim_test_seed(6000), 3, 3, true);
        char buf[24];
        for (uint32_t i = 0; i < 100; i++)
            SIM_ASSERT(sa_write(w.c, i % 3, 1u << (i % 3), key_of(i, buf), value_of("v", i)) == KV_OK, "write");
        world_converge(&w);
        struct sa_stats s;
        sa_get_stats(w.c, &s);
        bytes[run] = s.bytes;
        msgs[run] = s.messages;
        world_close(&w);
    }
    SIM_ASSERT(bytes[0] == bytes[1] && msgs[0] == msgs[1], "runs differ: %" PRIu64 "/%" PRIu64 " bytes", bytes[0],
               bytes[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_aae");
    TCase *tc = tcase_create("sim_aae");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, a_wiped_replica_converges);
    tcase_add_test(tc, a_replica_that_missed_writes_converges);
    tcase_add_test(tc, concurrent_values_end_as_siblings_on_every_replica);
    tcase_add_test(tc, deleted_keys_propagate_and_are_not_resurrected);
    tcase_add_test(tc, writes_and_crashes_during_exchanges_still_converge);
    tcase_add_test(tc, one_seed_replays_the_same_run);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
