/*
 * sim_report.c - measures SWIM membership at scale on the simulator and
 * prints a markdown table.
 *
 *   sim_report [--nodes N] [--seed S] [--deaths D] [--steady-s T]
 *
 * Per packet-loss rate (0%, 1%, 5%), with N nodes (default 1,000) on a
 * 1..5 ms network, default membership config:
 *  - formation: all but one node start within 5 s; virtual time until
 *    everyone sees everyone alive;
 *  - join: the last node starts; time until every node sees it alive;
 *  - load: messages sent per node per second over T steady seconds;
 *  - death: D times, a random node crashes; time until the first
 *    suspicion and until every other node sees it dead (median and max);
 *  - false positives: DEAD events about running nodes (false deaths);
 *    refutations (a running node answered a suspicion about itself) and
 *    SUSPECT events about running nodes (one per observer), over the
 *    whole run.
 * Times are virtual (what a real cluster would see, network aside); the
 * wall time of each run is printed too.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "gossip/membership.h"
#include "tests/sim/sim.h"
#include "tests/sim/sim_gossip.h"

#define REPORT_DEATHS_MAX 64

struct report_args {
    uint32_t nodes;
    uint64_t seed;
    uint32_t deaths;
    uint32_t steady_s;
};

struct report_row {
    double loss;
    bool formed, joined;
    uint64_t formation_ms, join_ms;
    double msgs_per_node_s;
    double bytes_per_node_s;
    uint32_t deaths_found;
    uint64_t death_ms[REPORT_DEATHS_MAX];
    uint64_t suspect_ms[REPORT_DEATHS_MAX];
    uint64_t false_deaths, false_suspicions, refutations;
    double wall_s;
};

struct wait_ctx {
    struct sg_cluster *c;
    uint32_t node;
    enum gossip_state state;
    uint32_t at_least;
};

static bool converged(void *ctx)
{
    struct wait_ctx *w = ctx;
    return sg_running_count(w->c) >= w->at_least && sg_converged(w->c);
}

static bool all_see(void *ctx)
{
    struct wait_ctx *w = ctx;
    return sg_all_see(w->c, w->node, w->state);
}

static bool someone_suspects(void *ctx)
{
    struct wait_ctx *w = ctx;
    return sg_count_seeing(w->c, w->node, GOSSIP_SUSPECT) + sg_count_seeing(w->c, w->node, GOSSIP_DEAD) > 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void measure_deaths(struct sim *sim, struct sg_cluster *c, const struct report_args *a, struct report_row *row)
{
    for (uint32_t d = 0; d < a->deaths && d < REPORT_DEATHS_MAX; d++) {
        uint32_t victim;
        do
            victim = (uint32_t)kv_rand_below(sim_rand(sim), a->nodes);
        while (!sg_running(c, victim));
        uint64_t t0 = sim_now(sim);
        sim_crash(sim, victim);
        struct wait_ctx w = { c, victim, GOSSIP_DEAD, 0 };
        if (!sim_run_until_true(sim, someone_suspects, &w, 10, t0 + 120000))
            continue;
        row->suspect_ms[row->deaths_found] = sim_now(sim) - t0;
        if (!sim_run_until_true(sim, all_see, &w, 10, t0 + 300000))
            continue;
        row->death_ms[row->deaths_found++] = sim_now(sim) - t0;
        sim_run_until(sim, sim_now(sim) + 5000); /* let the dead broadcast settle */
    }
}

static void steady_load(struct sim *sim, const struct report_args *a, struct report_row *row)
{
    struct sim_stats s0, s1;
    sim_get_stats(sim, &s0);
    sim_run_until(sim, sim_now(sim) + (uint64_t)a->steady_s * 1000);
    sim_get_stats(sim, &s1);
    double node_s = (double)a->nodes * a->steady_s;
    row->msgs_per_node_s = (double)(s1.sent - s0.sent) / node_s;
    row->bytes_per_node_s = (double)(s1.bytes_sent - s0.bytes_sent) / node_s;
}

static int run_one(const struct report_args *a, double loss, struct report_row *row)
{
    uint64_t wall0 = kv_mono_ns();
    memset(row, 0, sizeof *row);
    row->loss = loss;
    struct sim_config sc;
    sim_config_defaults(&sc);
    sc.seed = a->seed;
    sc.drop_rate = loss;
    struct sim *sim = NULL;
    struct sg_cluster *c = NULL;
    struct sg_config gc = { .n_nodes = a->nodes, .n_seeds = 3 };
    membership_config_defaults(&gc.member);
    int rc = sim_create(&sc, &sim);
    if (rc == KV_OK)
        rc = sg_create(sim, &gc, &c);
    if (rc != KV_OK)
        goto out;
    /* Formation: every node but the last starts within 5 s. */
    sg_start_range(c, 0, a->nodes - 1, 5000);
    sim_run_until(sim, 5000);
    struct wait_ctx w = { c, 0, GOSSIP_ALIVE, a->nodes - 1 };
    row->formed = sim_run_until_true(sim, converged, &w, 50, 300000);
    row->formation_ms = sim_now(sim) - 5000;
    sim_run_until(sim, sim_now(sim) + 10000);
    /* Join: the last node. */
    uint64_t t0 = sim_now(sim);
    sg_start(c, a->nodes - 1);
    w.node = a->nodes - 1;
    row->joined = sim_run_until_true(sim, all_see, &w, 10, t0 + 120000);
    row->join_ms = sim_now(sim) - t0;
    sim_run_until(sim, sim_now(sim) + 10000);
    steady_load(sim, a, row);
    measure_deaths(sim, c, a, row);
    struct sg_stats st;
    sg_get_stats(c, &st);
    row->false_deaths = st.false_deaths;
    row->false_suspicions = st.false_suspicions;
    row->refutations = st.refutations;
out:
    sg_free(c);
    sim_free(sim);
    row->wall_s = (double)(kv_mono_ns() - wall0) / 1e9;
    return rc;
}

static void print_row(const struct report_row *r)
{
    uint64_t d[REPORT_DEATHS_MAX], s[REPORT_DEATHS_MAX];
    uint32_t n = r->deaths_found;
    memcpy(d, r->death_ms, n * sizeof d[0]);
    memcpy(s, r->suspect_ms, n * sizeof s[0]);
    qsort(d, n, sizeof d[0], cmp_u64);
    qsort(s, n, sizeof s[0], cmp_u64);
    printf("| %4.0f%% | %s %6.1f s | %s %5.1f s | %6.1f | %7.0f | %5.1f s | %5.1f / %5.1f s | %u | %" PRIu64
           " | %" PRIu64 " / %" PRIu64 " | %5.1f s |\n",
           r->loss * 100, r->formed ? "" : ">", r->formation_ms / 1000.0, r->joined ? "" : ">", r->join_ms / 1000.0,
           r->msgs_per_node_s, r->bytes_per_node_s, n ? s[n / 2] / 1000.0 : 0, n ? d[n / 2] / 1000.0 : 0,
           n ? d[n - 1] / 1000.0 : 0, n, r->false_deaths, r->refutations, r->false_suspicions, r->wall_s);
}

static int parse_args(int argc, char **argv, struct report_args *a)
{
    a->nodes = 1000;
    a->seed = 42;
    a->deaths = 5;
    a->steady_s = 60;
    for (int i = 1; i + 1 < argc; i += 2) {
        unsigned long long v = strtoull(argv[i + 1], NULL, 0);
        if (strcmp(argv[i], "--nodes") == 0 && v >= 5 && v <= SIM_NODES_MAX)
            a->nodes = (uint32_t)v;
        else if (strcmp(argv[i], "--seed") == 0)
            a->seed = v;
        else if (strcmp(argv[i], "--deaths") == 0 && v <= REPORT_DEATHS_MAX)
            a->deaths = (uint32_t)v;
        else if (strcmp(argv[i], "--steady-s") == 0 && v > 0)
            a->steady_s = (uint32_t)v;
        else
            return -1;
    }
    return (argc % 2) ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct report_args a;
    if (parse_args(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: sim_report [--nodes N] [--seed S] [--deaths D] [--steady-s T]\n");
        return 2;
    }
    printf("SWIM membership, %u simulated nodes, seed %" PRIu64 ", %u deaths per row, %u s steady load window\n\n",
           a.nodes, a.seed, a.deaths, a.steady_s);
    printf("| loss | formation | join everywhere | msgs/node/s | bytes/node/s | first suspect (median) | "
           "death everywhere (median / max) | deaths | false deaths | refutations / false suspect events | wall |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    const double losses[] = { 0.0, 0.01, 0.05 };
    for (size_t i = 0; i < sizeof losses / sizeof losses[0]; i++) {
        struct report_row row;
        if (run_one(&a, losses[i], &row) != KV_OK) {
            fprintf(stderr, "sim_report: out of memory\n");
            return 1;
        }
        print_row(&row);
        fflush(stdout);
    }
    return 0;
}
