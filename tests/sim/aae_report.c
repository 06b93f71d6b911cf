/*
 * aae_report.c - measures anti-entropy with real engines (POSIX files in
 * a temporary directory) on the simulator, and prints a markdown report
 * (docs/BENCHMARKS.md (anti-entropy section)).
 *
 *   aae_report [--keys N] [--missed M] [--partitions Q] [--exchanges X]
 *              [--budget BYTES_PER_S] [--seed S] [--dir DIR]
 *
 * 1. One differing key: two replicas (N = 2, Q partitions) hold the same
 *    N keys (default 1,000,000); one key is then changed on one of them;
 *    a forced exchange of every partition finds and fixes it. Reported:
 *    bytes of anti-entropy messages (both directions) for the whole sweep
 *    and for the partition holding the key, messages, times. Also: the
 *    time to rebuild every tree of a node from its engine, the cost of
 *    one tree update, and tree memory.
 * 2. Missed writes: a replica is down while the other takes M writes
 *    (default 100,000: half new keys, half overwrites of the N/10 base
 *    keys); it restarts (rebuilding its trees) and a forced exchange of
 *    every partition repairs it. Reported: wall time and virtual time to
 *    convergence (every key equal on both), bytes, keys repaired.
 *
 * Wall times are this process doing both replicas' work (engine reads,
 * merges, writes, codec) on one thread; virtual times add the simulated
 * network (1-5 ms per message) and the byte budget (--budget, default 0 =
 * unlimited). The data directory is removed at the end.
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "coordinator/aae.h"
#include "coordinator/keyspace.h"
#include "coordinator/merkle.h"
#include "tests/sim/sim.h"
#include "tests/sim/sim_aae.h"

#define KEY_BYTES 24
#define VALUE_BYTES 100

struct args {
    uint32_t keys, missed, partitions, exchanges;
    uint64_t budget, seed;
    const char *dir;
};

static char data_root[512]; /* removed at exit, also on failure */

static double secs_since(uint64_t t0) { return (double)(kv_mono_ns() - t0) / 1e9; }

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) { return remove(path); }

static void remove_data(void)
{
    if (data_root[0])
        nftw(data_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "aae_report: %s: %s\n", what, kv_status_str(rc));
    exit(1);
}

static struct kv_slice key_of(uint32_t i, char *buf)
{
    return kv_slice_make(buf, (size_t)snprintf(buf, KEY_BYTES, "user:%010u", i));
}

struct world {
    struct sim *sim;
    struct sa_cluster *c;
    char dir[sizeof data_root + 32];
};

static void world_open(struct world *w, const struct args *a, const char *name)
{
    snprintf(w->dir, sizeof w->dir, "%s/%s", a->dir, name);
    if (mkdir(w->dir, 0755) != 0) {
        perror("mkdir");
        exit(1);
    }
    struct sim_config sc;
    sim_config_defaults(&sc);
    sc.seed = a->seed;
    int rc = sim_create(&sc, &w->sim);
    if (rc != KV_OK)
        die("sim_create", rc);
    struct sa_config cfg;
    sa_config_defaults(&cfg);
    cfg.n_nodes = 2;
    cfg.n_val = 2;
    cfg.partitions = a->partitions;
    cfg.posix_dir = w->dir;
    cfg.sync = ENGINE_SYNC_PERIODIC; /* a node's default */
    cfg.power_loss = false;
    cfg.memtable_bytes = 64u << 20;
    cfg.aae.exchange_interval_ms = 1000ull * 3600 * 24 * 365; /* only forced exchanges */
    cfg.aae.exchanges_max = a->exchanges;
    cfg.aae.bytes_per_sec = a->budget;
    cfg.aae.request_timeout_ms = 10000;
    cfg.aae.build_keys_per_step = 100000;
    if ((rc = sa_create(w->sim, &cfg, &w->c)) != KV_OK)
        die("sa_create", rc);
    sim_run_until(w->sim, 100); /* builds the (empty) trees */
}

static void world_close(struct world *w)
{
    sa_free(w->c);
    sim_free(w->sim);
}

/* Loads keys [first, first + n) on both nodes, in chunks. */
static void load(struct world *w, uint32_t first, uint32_t n)
{
    enum { CHUNK = 10000 };
    static char bufs[CHUNK][KEY_BYTES];
    static struct kv_slice keys[CHUNK];
    char value[VALUE_BYTES];
    memset(value, 'v', sizeof value);
    for (uint32_t done = 0; done < n;) {
        uint32_t k = n - done < CHUNK ? n - done : CHUNK;
        for (uint32_t i = 0; i < k; i++)
            keys[i] = key_of(first + done + i, bufs[i]);
        int rc = sa_load(w->c, 0, 0x3, keys, k, kv_slice_make(value, sizeof value));
        if (rc != KV_OK)
            die("load", rc);
        done += k;
    }
}

static bool idle_and_agreeing(void *ctx)
{
    struct world *w = ctx;
    struct aae_stats s;
    sa_aae_stats_sum(w->c, &s);
    return s.exchanges_active == 0 && s.trees == s.trees_ready && sa_trees_agree(w->c);
}

/* Forces node 0 to exchange every partition and runs until all are done.
 * Returns the virtual ms it took. */
static uint64_t sweep(struct world *w)
{
    uint64_t start = sim_now(w->sim);
    sa_repair(w->c, 0);
    sim_run_until(w->sim, start + 1);
    if (!sim_run_until_true(w->sim, idle_and_agreeing, w, 5, start + 3600u * 1000u)) {
        fprintf(stderr, "aae_report: no convergence within an hour of virtual time\n");
        exit(1);
    }
    return sim_now(w->sim) - start;
}

static bool trees_ready(void *ctx)
{
    struct aae_stats s;
    sa_aae_stats_sum(((struct world *)ctx)->c, &s);
    return s.trees == s.trees_ready;
}

/* ---- 1. one differing key ---- */

static void one_key(const struct args *a)
{
    struct world w;
    world_open(&w, a, "one_key");
    uint64_t t0 = kv_mono_ns();
    load(&w, 0, a->keys);
    double load_s = secs_since(t0);
    struct aae_stats st;
    aae_get_stats(sa_aae(w.c, 0), &st);
    uint64_t tree_bytes = st.tree_bytes;

    /* Rebuild every tree of node 0 from its engine (what a start costs). */
    int rc = aae_rebuild(sa_aae(w.c, 0), AAE_ALL_PARTITIONS);
    if (rc != KV_OK)
        die("rebuild", rc);
    t0 = kv_mono_ns();
    if (!sim_run_until_true(w.sim, trees_ready, &w, 1, sim_now(w.sim) + 3600u * 1000u))
        die("rebuild did not finish", KV_ETIMEDOUT);
    double rebuild_s = secs_since(t0);

    char buf[KEY_BYTES];
    struct kv_slice k = key_of(a->keys / 2, buf);
    if ((rc = sa_write(w.c, 1, 0x2, k, "changed")) != KV_OK)
        die("write", rc);
    struct sa_stats before;
    sa_get_stats(w.c, &before);
    t0 = kv_mono_ns();
    uint64_t virt_ms = sweep(&w);
    double sweep_s = secs_since(t0);
    struct sa_stats after;
    sa_get_stats(w.c, &after);
    struct keyspace ks;
    if (keyspace_init(&ks, a->partitions) != KV_OK)
        die("keyspace", KV_EINVAL);
    uint32_t p = keyspace_partition(&ks, k);
    struct aae_partition_status ps;
    if ((rc = aae_partition_status(sa_aae(w.c, 0), p, &ps)) != KV_OK)
        die("status", rc);
    aae_get_stats(sa_aae(w.c, 0), &st);
    bool fixed = sa_diverging_keys(w.c) == 0;

    printf("## One differing key among %u keys (N = 2, Q = %u)\n\n", a->keys, a->partitions);
    printf("| measure | value |\n|---|---|\n");
    printf("| bytes exchanged, sweep of all %u partitions (both directions) | %" PRIu64 " |\n", a->partitions,
           after.bytes - before.bytes);
    printf("| messages in the sweep | %" PRIu64 " |\n", after.messages - before.messages);
    printf("| bytes exchanged for the partition holding the key | %" PRIu64 " |\n",
           ps.bytes_sent + ps.bytes_received);
    printf("| keys compared / fetched / pushed / repaired | %" PRIu64 " / %" PRIu64 " / %" PRIu64 " / %" PRIu64
           " |\n", st.keys_compared, st.keys_fetched, st.keys_pushed, st.keys_repaired + st.keys_repaired_remote);
    printf("| replicas equal afterwards (every key compared) | %s |\n", fixed ? "yes" : "NO");
    printf("| sweep: wall time / virtual time | %.3f s / %" PRIu64 " ms |\n", sweep_s, virt_ms);
    printf("| load of %u keys into both engines (%u-byte values), trees updated per write | %.1f s |\n", a->keys,
           VALUE_BYTES, load_s);
    printf("| rebuild of every tree of one node from its engine (%u keys) | %.2f s |\n", a->keys, rebuild_s);
    printf("| tree memory of one node (%u trees) | %" PRIu64 " bytes |\n\n", a->partitions, tree_bytes);
    world_close(&w);
}

/* ---- 2. a replica that missed writes ---- */

static void missed_writes(const struct args *a)
{
    struct world w;
    world_open(&w, a, "missed");
    uint32_t base = a->keys / 10;
    load(&w, 0, base);
    sa_crash(w.c, 1);
    char buf[KEY_BYTES], value[32];
    struct kv_rand r;
    kv_rand_seed(&r, a->seed);
    uint64_t t0 = kv_mono_ns();
    for (uint32_t i = 0; i < a->missed; i++) {
        /* Half new keys, half overwrites of existing ones. */
        uint32_t k = i % 2 ? base + i : (uint32_t)kv_rand_below(&r, base ? base : 1);
        snprintf(value, sizeof value, "missed-%u", i);
        int rc = sa_write(w.c, 0, 0x1, key_of(k, buf), value);
        if (rc != KV_OK)
            die("write", rc);
    }
    double write_s = secs_since(t0);
    uint64_t diverging = sa_diverging_keys(w.c); /* node 1 is down: counts node 0 only */
    t0 = kv_mono_ns();
    sa_restart(w.c, 1);
    if (!sim_run_until_true(w.sim, trees_ready, &w, 1, sim_now(w.sim) + 3600u * 1000u))
        die("restart build did not finish", KV_ETIMEDOUT);
    double restart_s = secs_since(t0);
    diverging = sa_diverging_keys(w.c);
    struct sa_stats before;
    sa_get_stats(w.c, &before);
    t0 = kv_mono_ns();
    uint64_t virt_ms = sweep(&w);
    double sweep_s = secs_since(t0);
    struct sa_stats after;
    sa_get_stats(w.c, &after);
    struct aae_stats st;
    sa_aae_stats_sum(w.c, &st);
    uint64_t left = sa_diverging_keys(w.c);

    printf("## A replica that missed %u writes (N = 2, Q = %u, %u base keys)\n\n", a->missed, a->partitions, base);
    printf("| measure | value |\n|---|---|\n");
    printf("| keys differing when it came back | %" PRIu64 " |\n", diverging);
    printf("| restart: engine open + rebuild of its trees | %.2f s |\n", restart_s);
    printf("| **convergence: wall time** (sweep of all partitions) | **%.2f s** |\n", sweep_s);
    printf("| convergence: virtual time (network 1-5 ms, budget %s) | %" PRIu64 " ms |\n",
           a->budget ? "as given" : "unlimited", virt_ms);
    printf("| keys repaired (merged and written) | %" PRIu64 " |\n", st.keys_repaired);
    printf("| bytes exchanged / messages | %" PRIu64 " / %" PRIu64 " |\n", after.bytes - before.bytes,
           after.messages - before.messages);
    printf("| keys still differing afterwards | %" PRIu64 " |\n", left);
    printf("| time to make the %u writes on the live replica | %.2f s |\n\n", a->missed, write_s);
    world_close(&w);
}

/* ---- 3. the foreground cost of keeping a tree ---- */

static void update_cost(void)
{
    struct merkle *t;
    if (merkle_new(0, 1, MERKLE_SEGMENTS_DEFAULT, MERKLE_BRANCHING_DEFAULT, &t) != KV_OK)
        die("merkle_new", KV_ENOMEM);
    enum { N = 1000000 };
    char buf[KEY_BYTES], obj[VALUE_BYTES + 40];
    memset(obj, 'o', sizeof obj);
    uint64_t t0 = kv_mono_ns();
    for (uint32_t i = 0; i < N; i++) {
        memcpy(obj, &i, sizeof i); /* a different object each time */
        merkle_update_objects(t, key_of(i, buf), kv_slice_make(obj, sizeof obj - 1), kv_slice_make(obj, sizeof obj));
    }
    uint64_t root = merkle_root(t);
    double ns = (double)(kv_mono_ns() - t0) / N;
    printf("## Foreground cost\n\n");
    printf("| measure | value |\n|---|---|\n");
    printf("| one tree update (old and new %zu-byte objects hashed, XOR, dirty marks) | %.0f ns |\n", sizeof obj,
           ns);
    printf("| (root after the run, to keep the work: %016" PRIx64 ") | |\n\n", root);
    merkle_free(t);
}

static void usage(void)
{
    fprintf(stderr, "usage: aae_report [--keys N] [--missed M] [--partitions Q] [--exchanges X] "
                    "[--budget BYTES_PER_S] [--seed S] [--dir DIR]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct args a = { 1000000, 100000, 256, AAE_EXCHANGES_MAX_DEFAULT, 0, 1, "/tmp" };
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(argv[i - 1], "--keys"))
            a.keys = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(argv[i - 1], "--missed"))
            a.missed = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(argv[i - 1], "--partitions"))
            a.partitions = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(argv[i - 1], "--exchanges"))
            a.exchanges = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(argv[i - 1], "--budget"))
            a.budget = strtoull(v, NULL, 0);
        else if (!strcmp(argv[i - 1], "--seed"))
            a.seed = strtoull(v, NULL, 0);
        else if (!strcmp(argv[i - 1], "--dir"))
            a.dir = v;
        else
            usage();
    }
    snprintf(data_root, sizeof data_root, "%s/aae_report.XXXXXX", a.dir);
    if (!mkdtemp(data_root)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(remove_data);
    a.dir = data_root;
    printf("# aae_report: keys=%u missed=%u partitions=%u exchanges=%u budget=%" PRIu64 " seed=%" PRIu64 "\n\n",
           a.keys, a.missed, a.partitions, a.exchanges, a.budget, a.seed);
    fflush(stdout);
    one_key(&a);
    fflush(stdout);
    missed_writes(&a);
    update_cost();
    return 0;
}
