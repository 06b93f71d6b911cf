/*
 * engine_bench.c - ringkv's storage engine side by side with LevelDB and
 * RocksDB on db_bench-style workloads (ringkv issue #2; the workloads are
 * described in eb_run.h, the method in docs/BENCHMARKS.md).
 *
 * Process model: the parent parses options and builds the value pool, then
 * runs each engine in its own forked child, one engine after the other,
 * so that each engine's peak RSS (ru_maxrss from wait4) is its own and no
 * engine's caches, threads or dirty pages overlap another's run. The child
 * runs the workload list (eb_run_engine) and sends one struct eb_result
 * per workload through a pipe; the parent prints each result as it
 * arrives, or everything at the end with --json, then the ringkv/peer
 * ratios and each engine's peak RSS. With --repeat R the engines run R
 * rounds, interleaved, and the median round of each (engine, workload)
 * is reported: on a shared machine one run's noise can exceed the gaps
 * being measured.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/eb_engine.h"
#include "bench/eb_run.h"
#include "common/log.h"

#define EB_NUM_DEFAULT 1000000ull
#define EB_NUM_MAX 9999999999999999ull       /* keys have 16 decimal digits */
#define EB_VALUE_BYTES_DEFAULT 100u
#define EB_VALUE_BYTES_MAX (1024u * 1024u)   /* --value-size limit: 1 MiB */
#define EB_MB_BYTES (1024.0 * 1024.0)        /* MB/s as db_bench reports it: 2^20 bytes */
#define EB_SEED_DEFAULT 301u
#define EB_REPEAT_MAX 9                      /* --repeat limit */
#define EB_LIST_BYTES_MAX 1024               /* --engines / --benchmarks text */
#define EB_DB_SUFFIX_BYTES 64                /* room kept after --db for "/rocksdb/OPTIONS-..." */

struct eb_engine_entry {
    const char *name;
    const struct eb_engine_ops *ops; /* NULL: not built into this binary */
};

/* ringkv first: the ratios are ringkv over each later entry. */
static const struct eb_engine_entry eb_engines[] = {
    { "ringkv", &eb_ringkv_ops },
#ifdef EB_HAVE_LEVELDB
    { "leveldb", &eb_leveldb_ops },
#else
    { "leveldb", NULL },
#endif
#ifdef EB_HAVE_ROCKSDB
    { "rocksdb", &eb_rocksdb_ops },
#else
    { "rocksdb", NULL },
#endif
};
#define EB_ENGINES (sizeof eb_engines / sizeof eb_engines[0])
#define EB_RINGKV 0 /* index of ringkv in eb_engines */

struct eb_config {
    struct eb_run_spec spec;         /* num, value size, seed, workload list */
    uint32_t repeat;                 /* rounds of every engine; medians are reported */
    bool json;
    char db_dir[PATH_MAX];
    bool db_is_temp;                 /* made by mkdtemp: removed at the end */
    size_t engines[EB_ENGINES];      /* indexes into eb_engines, in run order */
    size_t engine_count;
};

/* One engine's results: of one child, or the medians over --repeat children. */
struct eb_engine_report {
    struct eb_result results[EB_SLOTS_MAX];
    bool have[EB_SLOTS_MAX];
    bool ran;
    bool ok;                 /* every child ran every workload and exited 0 */
    long peak_rss_kb;        /* the largest over the children */
};

/* Every child's report ([round][engine]) and the per-engine summary. */
struct eb_reports {
    struct eb_engine_report rounds[EB_REPEAT_MAX][EB_ENGINES];
    struct eb_engine_report summary[EB_ENGINES];
};

/* ---- one child per engine ------------------------------------------------ */

/* The child's whole life: runs every workload on one engine; returns its exit status. */
static int eb_child_main(const struct eb_config *cfg, const struct eb_values *values, size_t engine, int fd)
{
    const struct eb_engine_ops *ops = eb_engines[engine].ops;
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s/%s", cfg->db_dir, ops->name);
    if (n < 0 || (size_t)n >= sizeof dir) {
        log_error("engine_bench", "db path too long dir=%s", cfg->db_dir);
        return 1;
    }
    return eb_run_engine(ops, dir, &cfg->spec, values, fd) == KV_OK ? 0 : 1;
}

/* 1: a whole result; 0: end of stream; KV_EIO: a torn or failed read. */
static int eb_read_result(int fd, struct eb_result *res)
{
    size_t got = 0;
    while (got < sizeof *res) {
        ssize_t r = read(fd, (char *)res + got, sizeof *res - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return (r == 0 && got == 0) ? 0 : KV_EIO;
        got += (size_t)r;
    }
    return 1;
}

static double eb_seconds(const struct eb_result *r) { return (double)r->elapsed_ns / 1e9; }

static double eb_ops_per_sec(const struct eb_result *r)
{
    return r->elapsed_ns ? (double)r->ops / eb_seconds(r) : 0.0;
}

static double eb_mb_per_sec(const struct eb_result *r)
{
    return r->elapsed_ns ? (double)r->bytes / EB_MB_BYTES / eb_seconds(r) : 0.0;
}

static double eb_micros_per_op(const struct eb_result *r)
{
    return r->ops ? (double)r->elapsed_ns / 1e3 / (double)r->ops : 0.0;
}

static double eb_cpu_micros_per_op(const struct eb_result *r)
{
    return r->ops ? (double)r->cpu_ns / 1e3 / (double)r->ops : 0.0;
}

/* One result line; prefix marks the per-round lines of --repeat. */
static void eb_print_result(FILE *out, const char *prefix, const struct eb_config *cfg, size_t engine,
                            const struct eb_result *r)
{
    const struct eb_workload *w = cfg->spec.slots[r->slot];
    fprintf(out, "%s%-8s %-17s %12.0f %8.1f %10.3f %10.3f", prefix, eb_engines[engine].name, w->name,
            eb_ops_per_sec(r), eb_mb_per_sec(r), eb_micros_per_op(r), eb_cpu_micros_per_op(r));
    if (w->point_reads)
        fprintf(out, " found=%" PRIu64 "/%" PRIu64, r->found, r->ops);
    if (w->scan)
        fprintf(out, " entries=%" PRIu64, r->ops);
    if (r->writes_during)
        fprintf(out, " writes=%" PRIu64, r->writes_during);
    if (r->status != KV_OK)
        fprintf(out, " FAILED=%s", kv_status_str(r->status));
    fprintf(out, "\n");
    fflush(out);
}

/*
 * Reads the child's results until it closes the pipe, then reaps it.
 * Results are shown as they come: on stdout for a single round, on
 * stderr marked "# round k/R" when the summary will be medians.
 */
static int eb_collect(const struct eb_config *cfg, size_t engine, uint32_t round, int fd, pid_t pid,
                      struct eb_engine_report *rep)
{
    char prefix[32] = "";
    FILE *live = cfg->json ? NULL : stdout;
    if (cfg->repeat > 1) {
        snprintf(prefix, sizeof prefix, "# round %" PRIu32 "/%" PRIu32 " ", round + 1, cfg->repeat);
        live = stderr;
    }
    struct eb_result res;
    int r;
    while ((r = eb_read_result(fd, &res)) == 1 && res.slot < cfg->spec.slot_count) {
        rep->results[res.slot] = res;
        rep->have[res.slot] = true;
        if (live)
            eb_print_result(live, prefix, cfg, engine, &res);
    }
    close(fd);
    int wstatus = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &wstatus, 0, &ru) < 0) {
        if (errno != EINTR) {
            log_error("engine_bench", "wait4 failed err=%s", strerror(errno));
            return KV_EIO;
        }
    }
    rep->peak_rss_kb = ru.ru_maxrss; /* KiB on Linux */
    rep->ok = r == 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    if (!rep->ok)
        log_error("engine_bench", "engine run failed engine=%s exit=%d signal=%d",
                  eb_engines[engine].name, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1,
                  WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
    return KV_OK;
}

static int eb_fork_engine(const struct eb_config *cfg, const struct eb_values *values, size_t engine,
                          uint32_t round, struct eb_engine_report *rep)
{
    int fds[2];
    if (pipe(fds) != 0) {
        log_error("engine_bench", "pipe failed err=%s", strerror(errno));
        return KV_EIO;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        log_error("engine_bench", "fork failed err=%s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return KV_EIO;
    }
    if (pid == 0) {
        close(fds[0]);
        _exit(eb_child_main(cfg, values, engine, fds[1]));
    }
    close(fds[1]);
    rep->ran = true;
    return eb_collect(cfg, engine, round, fds[0], pid, rep);
}

/* ---- reporting ------------------------------------------------------------ */

/* ringkv's ops/s over peer's for one slot; false when either is missing or failed. */
static bool eb_ratio(const struct eb_engine_report *reports, size_t peer, size_t slot, double *out)
{
    const struct eb_engine_report *a = &reports[EB_RINGKV], *b = &reports[peer];
    if (!a->have[slot] || !b->have[slot] || a->results[slot].status != KV_OK ||
        b->results[slot].status != KV_OK)
        return false;
    double peer_rate = eb_ops_per_sec(&b->results[slot]);
    if (peer_rate <= 0.0)
        return false;
    *out = eb_ops_per_sec(&a->results[slot]) / peer_rate;
    return true;
}

static double eb_rss_mb(const struct eb_engine_report *rep) { return (double)rep->peak_rss_kb / 1024.0; }

/* The round whose ops/s is the median (the lower one of an even count) of
 * the rounds that ran slot without error; false if none did. */
static bool eb_median_round(const struct eb_config *cfg, const struct eb_reports *all, size_t engine,
                            size_t slot, uint32_t *round_out)
{
    uint32_t ok_rounds[EB_REPEAT_MAX];
    uint32_t n = 0;
    for (uint32_t round = 0; round < cfg->repeat; round++) {
        const struct eb_engine_report *rep = &all->rounds[round][engine];
        if (rep->have[slot] && rep->results[slot].status == KV_OK)
            ok_rounds[n++] = round;
    }
    if (n == 0)
        return false;
    for (uint32_t i = 1; i < n; i++) { /* insertion sort by ops/s: n <= EB_REPEAT_MAX */
        uint32_t v = ok_rounds[i], j = i;
        double rate = eb_ops_per_sec(&all->rounds[v][engine].results[slot]);
        for (; j > 0 && eb_ops_per_sec(&all->rounds[ok_rounds[j - 1]][engine].results[slot]) > rate; j--)
            ok_rounds[j] = ok_rounds[j - 1];
        ok_rounds[j] = v;
    }
    *round_out = ok_rounds[(n - 1) / 2];
    return true;
}

/* Fills all->summary: per engine and slot the median round's result (or
 * the failed one if no round succeeded), the largest peak RSS, ok if all were. */
static void eb_summarize(const struct eb_config *cfg, struct eb_reports *all)
{
    for (size_t i = 0; i < cfg->engine_count; i++) {
        size_t engine = cfg->engines[i];
        struct eb_engine_report *sum = &all->summary[engine];
        sum->ok = true;
        for (uint32_t round = 0; round < cfg->repeat; round++) {
            const struct eb_engine_report *rep = &all->rounds[round][engine];
            sum->ran = sum->ran || rep->ran;
            sum->ok = sum->ok && rep->ran && rep->ok;
            if (rep->peak_rss_kb > sum->peak_rss_kb)
                sum->peak_rss_kb = rep->peak_rss_kb;
            for (size_t slot = 0; slot < cfg->spec.slot_count; slot++)
                if (rep->have[slot] && !sum->have[slot]) { /* a failure, unless a median replaces it */
                    sum->results[slot] = rep->results[slot];
                    sum->have[slot] = true;
                }
        }
        for (size_t slot = 0; slot < cfg->spec.slot_count; slot++) {
            uint32_t round;
            if (eb_median_round(cfg, all, engine, slot, &round))
                sum->results[slot] = all->rounds[round][engine].results[slot];
        }
    }
}

static void eb_print_text_summary(const struct eb_config *cfg, const struct eb_engine_report *reports)
{
    for (size_t i = 0; i < cfg->engine_count && cfg->repeat > 1; i++) {
        const struct eb_engine_report *rep = &reports[cfg->engines[i]];
        for (size_t slot = 0; slot < cfg->spec.slot_count; slot++)
            if (rep->have[slot])
                eb_print_result(stdout, "", cfg, cfg->engines[i], &rep->results[slot]);
    }
    for (size_t slot = 0; slot < cfg->spec.slot_count; slot++) {
        for (size_t peer = 1; peer < EB_ENGINES; peer++) {
            double ratio;
            if (eb_ratio(reports, peer, slot, &ratio))
                printf("ratio ringkv/%s %s %.2f\n", eb_engines[peer].name, cfg->spec.slots[slot]->name, ratio);
        }
    }
    for (size_t i = 0; i < cfg->engine_count; i++) {
        const struct eb_engine_report *rep = &reports[cfg->engines[i]];
        if (rep->ran)
            printf("%s peak_rss_mb %.0f\n", eb_engines[cfg->engines[i]].name, eb_rss_mb(rep));
    }
}

static void eb_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void eb_json_result(const struct eb_config *cfg, const struct eb_reports *all, size_t engine,
                           const struct eb_result *r, bool last)
{
    printf("        {\"workload\": ");
    eb_json_string(cfg->spec.slots[r->slot]->name);
    printf(", \"status\": ");
    eb_json_string(kv_status_str(r->status));
    printf(", \"ops\": %" PRIu64 ", \"found\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"seconds\": %.6f, \"ops_per_sec\": %.1f, \"mb_per_sec\": %.3f"
           ", \"micros_per_op\": %.4f, \"cpu_seconds\": %.6f, \"cpu_micros_per_op\": %.4f"
           ", \"writes_during\": %" PRIu64 ",\n          \"rounds_ops_per_sec\": [",
           r->ops, r->found, r->bytes, eb_seconds(r), eb_ops_per_sec(r), eb_mb_per_sec(r),
           eb_micros_per_op(r), (double)r->cpu_ns / 1e9, eb_cpu_micros_per_op(r), r->writes_during);
    const char *sep = "";
    for (uint32_t round = 0; round < cfg->repeat; round++) {
        const struct eb_engine_report *rep = &all->rounds[round][engine];
        if (rep->have[r->slot] && rep->results[r->slot].status == KV_OK) {
            printf("%s%.1f", sep, eb_ops_per_sec(&rep->results[r->slot]));
            sep = ", ";
        }
    }
    printf("]}%s\n", last ? "" : ",");
}

static void eb_json_engine(const struct eb_config *cfg, const struct eb_reports *all, size_t engine, bool last)
{
    const struct eb_engine_report *rep = &all->summary[engine];
    printf("    {\"name\": ");
    eb_json_string(eb_engines[engine].name);
    printf(", \"version\": ");
    eb_json_string(eb_engines[engine].ops->version());
    printf(", \"ok\": %s, \"peak_rss_mb\": %.1f,\n      \"results\": [\n", rep->ok ? "true" : "false",
           eb_rss_mb(rep));
    size_t shown = 0, total = 0;
    for (size_t slot = 0; slot < cfg->spec.slot_count; slot++)
        total += rep->have[slot];
    for (size_t slot = 0; slot < cfg->spec.slot_count; slot++)
        if (rep->have[slot])
            eb_json_result(cfg, all, engine, &rep->results[slot], ++shown == total);
    printf("      ]}%s\n", last ? "" : ",");
}

static void eb_print_json(const struct eb_config *cfg, const struct eb_reports *all)
{
    const struct eb_engine_report *reports = all->summary;
    printf("{\n  \"benchmark\": \"engine_bench\",\n  \"num\": %" PRIu64 ", \"key_bytes\": %d"
           ", \"value_bytes\": %" PRIu32 ", \"seed\": %" PRIu64 ", \"rounds\": %" PRIu32 ",\n  \"db\": ",
           cfg->spec.num, EB_KEY_BYTES, cfg->spec.value_bytes, cfg->spec.seed, cfg->repeat);
    eb_json_string(cfg->db_dir);
    printf(",\n  \"engines\": [\n");
    for (size_t i = 0; i < cfg->engine_count; i++)
        eb_json_engine(cfg, all, cfg->engines[i], i + 1 == cfg->engine_count);
    printf("  ],\n  \"ratios\": [");
    const char *sep = "\n";
    for (size_t slot = 0; slot < cfg->spec.slot_count; slot++) {
        for (size_t peer = 1; peer < EB_ENGINES; peer++) {
            double ratio;
            if (!eb_ratio(reports, peer, slot, &ratio))
                continue;
            printf("%s    {\"workload\": \"%s\", \"peer\": \"%s\", \"ringkv_over_peer\": %.4f}", sep,
                   cfg->spec.slots[slot]->name, eb_engines[peer].name, ratio);
            sep = ",\n";
        }
    }
    printf("\n  ]\n}\n");
}

static void eb_print_header(const struct eb_config *cfg)
{
    printf("# engine_bench num=%" PRIu64 " key_bytes=%d value_bytes=%" PRIu32 " seed=%" PRIu64 " db=%s\n",
           cfg->spec.num, EB_KEY_BYTES, cfg->spec.value_bytes, cfg->spec.seed, cfg->db_dir);
    printf("# versions");
    for (size_t i = 0; i < cfg->engine_count; i++)
        printf(" %s=%s", eb_engines[cfg->engines[i]].name, eb_engines[cfg->engines[i]].ops->version());
    printf("\n# engine workload ops_per_sec MB_per_s micros_per_op cpu_micros_per_op"
           " [found=hits/ops] [entries=N] [writes=writer_puts]\n");
    fflush(stdout);
}

/* ---- options -------------------------------------------------------------- */

static void eb_usage(FILE *out)
{
    fprintf(out,
        "usage: engine_bench [options]\n"
        "Runs db_bench-style workloads on ringkv's storage engine and, when built in,\n"
        "LevelDB and RocksDB, each engine in its own child process.\n"
        "\n"
        "  --num N            operations per workload (default %llu)\n"
        "  --engines LIST     comma-separated: ringkv,leveldb,rocksdb (default ringkv)\n"
        "  --benchmarks LIST  comma-separated, run in order (default all):\n"
        "                     fillseq,fillrandom,overwrite,readrandom,readseq,readwhilewriting\n"
        "  --value-size B     value bytes (default %u, max %u)\n"
        "  --db DIR           parent directory for the DBs, one subdirectory per engine\n"
        "                     (DIR/ringkv, ...; fill* workloads delete it first; a given\n"
        "                     DIR is kept; default: a fresh mkdtemp under /tmp, removed)\n"
        "  --seed S           seed of keys and values (default %u)\n"
        "  --repeat R         rounds (default 1, max %u): every engine runs R times,\n"
        "                     engines interleaved; each round's lines go to stderr\n"
        "                     and the median round per engine and workload is reported\n"
        "  --json             print one JSON document instead of text lines\n"
        "  --help             this text\n"
        "\n"
        "Keys are 16 bytes: the key number printed as %%016llu; random keys are\n"
        "uniform in [0, num). Values are windows of B bytes into a 1 MiB pool of\n"
        "100-byte pieces, each 50 random printable bytes repeated once, so values\n"
        "compress to about half (db_bench's default compression ratio of 0.5).\n"
        "Every engine runs with its default options, WAL on, no sync per write.\n"
        "fill* workloads start from an empty DB; the others reuse the DB as left.\n"
        "\n"
        "Output: 'engine workload ops_per_sec MB_per_s micros_per_op cpu_micros_per_op'\n"
        "per result (MB = 2^20 bytes of key+value; CPU = user+system of the engine's\n"
        "process, all threads, during the workload), then 'ratio ringkv/PEER workload X.XX'\n"
        "(ringkv ops/s over the peer's; >1 means ringkv is faster), then\n"
        "'engine peak_rss_mb N' (ru_maxrss of the engine's child process).\n",
        EB_NUM_DEFAULT, EB_VALUE_BYTES_DEFAULT, EB_VALUE_BYTES_MAX, EB_SEED_DEFAULT, EB_REPEAT_MAX);
}

static int eb_parse_u64(const char *opt, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max) {
        fprintf(stderr, "engine_bench: %s wants an integer in [%" PRIu64 ", %" PRIu64 "], got '%s'\n",
                opt, min, max, text);
        return KV_EINVAL;
    }
    *out = v;
    return KV_OK;
}

static int eb_find_engine(const char *name, size_t *out)
{
    for (size_t i = 0; i < EB_ENGINES; i++) {
        if (strcmp(eb_engines[i].name, name) != 0)
            continue;
        if (eb_engines[i].ops == NULL) {
            fprintf(stderr, "engine_bench: engine '%s' is not built into this binary: install its -dev "
                            "package (libleveldb-dev, librocksdb-dev) and reconfigure with "
                            "-Dbench_peers=enabled\n", name);
            return KV_ENOTFOUND;
        }
        *out = i;
        return KV_OK;
    }
    fprintf(stderr, "engine_bench: unknown engine '%s' (known: ringkv, leveldb, rocksdb)\n", name);
    return KV_EINVAL;
}

static int eb_find_workload(const char *name, const struct eb_workload **out)
{
    const struct eb_workload *w = eb_run_find_workload(name);
    if (w == NULL) {
        fprintf(stderr, "engine_bench: unknown benchmark '%s' (see --help)\n", name);
        return KV_EINVAL;
    }
    *out = w;
    return KV_OK;
}

/* Copies a comma list out of argv (strtok_r writes into it; ps shows argv). */
static int eb_copy_list(const char *opt, const char *text, char out[EB_LIST_BYTES_MAX])
{
    if (strlen(text) >= EB_LIST_BYTES_MAX) {
        fprintf(stderr, "engine_bench: %s list too long\n", opt);
        return KV_ETOOBIG;
    }
    strcpy(out, text);
    return KV_OK;
}

static int eb_parse_engines(const char *text, struct eb_config *cfg)
{
    char list[EB_LIST_BYTES_MAX];
    int rc = eb_copy_list("--engines", text, list);
    if (rc != KV_OK)
        return rc;
    cfg->engine_count = 0;
    char *save = NULL;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        size_t idx;
        rc = eb_find_engine(name, &idx);
        if (rc != KV_OK)
            return rc;
        for (size_t i = 0; i < cfg->engine_count; i++) {
            if (cfg->engines[i] == idx) {
                fprintf(stderr, "engine_bench: engine '%s' listed twice\n", name);
                return KV_EINVAL;
            }
        }
        cfg->engines[cfg->engine_count++] = idx;
    }
    if (cfg->engine_count == 0) {
        fprintf(stderr, "engine_bench: --engines is empty\n");
        return KV_EINVAL;
    }
    return KV_OK;
}

static int eb_parse_benchmarks(const char *text, struct eb_config *cfg)
{
    char list[EB_LIST_BYTES_MAX];
    int rc = eb_copy_list("--benchmarks", text, list);
    if (rc != KV_OK)
        return rc;
    cfg->spec.slot_count = 0;
    char *save = NULL;
    for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        if (cfg->spec.slot_count == EB_SLOTS_MAX) {
            fprintf(stderr, "engine_bench: more than %d benchmarks\n", EB_SLOTS_MAX);
            return KV_ETOOBIG;
        }
        rc = eb_find_workload(name, &cfg->spec.slots[cfg->spec.slot_count]);
        if (rc != KV_OK)
            return rc;
        cfg->spec.slot_count++;
    }
    if (cfg->spec.slot_count == 0) {
        fprintf(stderr, "engine_bench: --benchmarks is empty\n");
        return KV_EINVAL;
    }
    return KV_OK;
}

static void eb_config_default(struct eb_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->spec.num = EB_NUM_DEFAULT;
    cfg->spec.value_bytes = EB_VALUE_BYTES_DEFAULT;
    cfg->spec.seed = EB_SEED_DEFAULT;
    cfg->repeat = 1;
    cfg->engines[0] = EB_RINGKV;
    cfg->engine_count = 1;
    size_t count = 0;
    const struct eb_workload *all = eb_run_workloads(&count);
    for (size_t i = 0; i < count && i < EB_SLOTS_MAX; i++)
        cfg->spec.slots[cfg->spec.slot_count++] = &all[i];
}

/* Fills cfg from argv. *help_out: --help was given (usage already printed). */
static int eb_parse_args(int argc, char **argv, struct eb_config *cfg, bool *help_out)
{
    static const struct option longopts[] = {
        { "num", required_argument, NULL, 'n' },        { "engines", required_argument, NULL, 'e' },
        { "benchmarks", required_argument, NULL, 'b' }, { "value-size", required_argument, NULL, 'v' },
        { "db", required_argument, NULL, 'd' },         { "seed", required_argument, NULL, 's' },
        { "repeat", required_argument, NULL, 'r' },     { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    eb_config_default(cfg);
    *help_out = false;
    int opt, rc = KV_OK;
    uint64_t v = 0;
    while (rc == KV_OK && (opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': rc = eb_parse_u64("--num", optarg, 1, EB_NUM_MAX, &cfg->spec.num); break;
        case 'e': rc = eb_parse_engines(optarg, cfg); break;
        case 'b': rc = eb_parse_benchmarks(optarg, cfg); break;
        case 'v':
            rc = eb_parse_u64("--value-size", optarg, 1, EB_VALUE_BYTES_MAX, &v);
            cfg->spec.value_bytes = (uint32_t)v;
            break;
        case 'd':
            if (snprintf(cfg->db_dir, sizeof cfg->db_dir, "%s", optarg) >= (int)sizeof cfg->db_dir - EB_DB_SUFFIX_BYTES) {
                fprintf(stderr, "engine_bench: --db path too long\n");
                rc = KV_ETOOBIG;
            }
            break;
        case 's': rc = eb_parse_u64("--seed", optarg, 0, UINT64_MAX, &cfg->spec.seed); break;
        case 'r':
            rc = eb_parse_u64("--repeat", optarg, 1, EB_REPEAT_MAX, &v);
            cfg->repeat = (uint32_t)v;
            break;
        case 'j': cfg->json = true; break;
        case 'h': eb_usage(stdout); *help_out = true; return KV_OK;
        default: rc = KV_EINVAL; break;
        }
    }
    if (rc == KV_OK && optind < argc) {
        fprintf(stderr, "engine_bench: unexpected argument '%s'\n", argv[optind]);
        rc = KV_EINVAL;
    }
    return rc;
}

/* Creates the parent db directory: a mkdtemp one unless --db was given. */
static int eb_prepare_db_dir(struct eb_config *cfg)
{
    if (cfg->db_dir[0] != '\0')
        return eb_run_make_dir(cfg->db_dir);
    snprintf(cfg->db_dir, sizeof cfg->db_dir, "/tmp/engine_bench.XXXXXX");
    if (mkdtemp(cfg->db_dir) == NULL) {
        log_error("engine_bench", "mkdtemp failed err=%s", strerror(errno));
        return KV_EIO;
    }
    cfg->db_is_temp = true;
    return KV_OK;
}

int main(int argc, char **argv)
{
    static struct eb_config cfg;
    static struct eb_reports reports;
    struct eb_values values = { 0 };
    bool help = false;
    if (eb_parse_args(argc, argv, &cfg, &help) != KV_OK) {
        fprintf(stderr, "engine_bench: see --help\n");
        return 2;
    }
    if (help)
        return 0;
    /* The engines' info lines (flushes, compactions) would drown the results. */
    kv_log_set_level(KV_LOG_WARN);
    int rc = eb_run_values_build(&values, cfg.spec.seed, cfg.spec.value_bytes);
    if (rc == KV_OK)
        rc = eb_prepare_db_dir(&cfg);
    if (rc == KV_OK && !cfg.json)
        eb_print_header(&cfg);
    /* Rounds interleave the engines, so a slow spell on a shared machine
     * is spread over all of them instead of landing on one. */
    for (uint32_t round = 0; round < cfg.repeat && rc == KV_OK; round++)
        for (size_t i = 0; i < cfg.engine_count && rc == KV_OK; i++)
            rc = eb_fork_engine(&cfg, &values, cfg.engines[i], round, &reports.rounds[round][cfg.engines[i]]);
    eb_summarize(&cfg, &reports);
    bool all_ok = rc == KV_OK;
    for (size_t i = 0; i < cfg.engine_count; i++)
        all_ok = all_ok && reports.summary[cfg.engines[i]].ok;
    if (rc == KV_OK && cfg.json)
        eb_print_json(&cfg, &reports);
    else if (rc == KV_OK)
        eb_print_text_summary(&cfg, reports.summary);
    if (cfg.db_is_temp && eb_run_remove_dir(cfg.db_dir) != KV_OK)
        all_ok = false;
    eb_run_values_free(&values);
    return all_ok ? 0 : 1;
}
