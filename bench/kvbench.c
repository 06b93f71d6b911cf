/*
 * kvbench.c - closed-loop load generator for a ringkv node's native protocol.
 *
 *     kvbench --host 127.0.0.1:7400 --workload a --keys 100000 --value-size 100 \
 *             --connections 50 --duration 30 --warmup 5
 *
 * Options and workloads: kvbench --help (the loop itself: kvbench_run.h).
 * While it runs, one progress line per second goes to stderr; at the end,
 * one line per operation type and a final "result:" line with ops/s and
 * p50/p95/p99/p99.9 latency in microseconds go to stdout (--json: one
 * JSON object instead). Latencies come from log-linear histograms
 * (kvbench_hist.h), never from sorting samples.
 * Exit status: 0 done, 1 the run failed (connection lost, node error on
 * the connection), 2 bad command line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/kvbench_run.h"
#include "client/ringkv.h"

#define KVB_THREADS_MAX 64u
#define KVB_CONNECTIONS_MAX 10000u
#define KVB_VALUE_BYTES_MAX (16u * 1024u * 1024u)
#define KVB_PROGRESS_MS 1000u

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kvbench [OPTIONS]\n\n"
        "Closed-loop load on ringkv nodes over the native protocol.\n\n"
        "  --host HOST:PORT     node (default 127.0.0.1:7400)\n"
        "  --cluster NAME       cluster name (default ringkv)\n"
        "  --user NAME          user for nodes with --users-file (role write, or read\n"
        "                       for a run that only reads: --no-load, --workload c or get)\n"
        "  --password-file FILE password of --user: first line of FILE, '-' for stdin\n"
        "                       (never on the command line; never printed)\n"
        "  --workload W         a, b, c, d, f (YCSB core) or set, get (default a)\n"
        "                         a: 50%% read / 50%% update     b: 95%% read / 5%% update\n"
        "                         c: 100%% read                 d: 95%% read latest / 5%% insert\n"
        "                         f: 50%% read / 50%% read-modify-write\n"
        "                         a-f: scrambled zipfian keys (theta 0.99)\n"
        "                         set, get: 100%% put / get, uniform keys\n"
        "  --keys N             key count (default 100000)\n"
        "  --value-size BYTES   value size (default 100)\n"
        "  --ops N              measured operations (default: run for --duration)\n"
        "  --duration S         measured seconds (default 30)\n"
        "  --warmup S           seconds run before measuring (default 2)\n"
        "  --threads T          worker threads (default 1)\n"
        "  --connections C      connections in total, spread over the threads (default 50)\n"
        "  --pipeline P         requests outstanding per connection (default 1)\n"
        "  --no-load            skip the load phase (the keys are already there)\n"
        "  --sdk                drive libringkv clients (one per connection, each in its\n"
        "                       own thread, one op outstanding; --host may list several\n"
        "                       HOST:PORT,...; at most %u) instead of raw pipelined\n"
        "                       connections; the SDK routes each key to a primary replica\n"
        "  --no-routing         with --sdk: send everything to the first host that answers\n"
        "  --seed N             random seed (default 1)\n"
        "  --json               print the result as one JSON object\n"
        "  --help               this text\n\n"
        "The load phase writes keys 0..N-1 first (all workloads but set).\n"
        "Latencies are per operation, from sending the request to its reply\n"
        "(f's read-modify-write: from the read to the write's reply), in us.\n",
        KVB_SDK_CLIENTS_MAX);
}

static int bad(const char *opt, const char *v)
{
    fprintf(stderr, "kvbench: %s: bad value '%s' (see kvbench --help)\n", opt, v ? v : "");
    return 2;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_seconds_ms(const char *s, uint64_t *ms_out)
{
    char *end = NULL;
    if (s == NULL)
        return false;
    double v = strtod(s, &end);
    if (*end || !(v >= 0) || v > 86400.0)
        return false;
    *ms_out = (uint64_t)(v * 1000.0 + 0.5);
    return true;
}

static int parse_workload(const char *v, enum kvb_workload *out)
{
    for (int i = 0; v && i < KVB_WORKLOAD_COUNT; i++)
        if (strcmp(v, kvb_workload_names[i]) == 0) {
            *out = (enum kvb_workload)i;
            return 0;
        }
    return bad("--workload", v);
}

/* --password-file's first line; wiped before exit. */
static char g_password[RKV_PASSWORD_BYTES_MAX + 2];

/* Reads the password of --password-file FILE ("-": stdin); 0 or 2 (usage). */
static int read_password_file(struct kvb_config *c, const char *path)
{
    if (path == NULL)
        return bad("--password-file", path);
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "kvbench: --password-file: cannot open '%s': %s\n", path, strerror(errno));
        return 2;
    }
    bool ok = fgets(g_password, sizeof g_password, f) != NULL;
    if (f != stdin)
        fclose(f);
    size_t len = ok ? strcspn(g_password, "\r\n") : 0;
    if (!ok || len == 0 || len > RKV_PASSWORD_BYTES_MAX) {
        memset(g_password, 0, sizeof g_password);
        fprintf(stderr, "kvbench: --password-file: '%s' must hold a password of 1..%d bytes on its first line\n",
                path, RKV_PASSWORD_BYTES_MAX);
        return 2;
    }
    g_password[len] = '\0';
    c->password = g_password;
    return 0;
}

/* One option with a value; returns 0, 2 (usage) or -1 (not this kind). */
static int parse_valued(struct kvb_config *c, const char *o, const char *v)
{
    uint64_t n = 0;
    if (strcmp(o, "--host") == 0)
        return v ? (c->host = v, 0) : bad(o, v);
    if (strcmp(o, "--cluster") == 0)
        return v ? (c->cluster = v, 0) : bad(o, v);
    if (strcmp(o, "--user") == 0)
        return v && v[0] && strlen(v) <= RKV_USER_BYTES_MAX ? (c->user = v, 0) : bad(o, v);
    if (strcmp(o, "--password-file") == 0)
        return read_password_file(c, v);
    if (strcmp(o, "--workload") == 0)
        return parse_workload(v, &c->workload);
    if (strcmp(o, "--keys") == 0)
        return parse_u64(v, 1, 1000000000000ull, &c->keys) ? 0 : bad(o, v);
    if (strcmp(o, "--value-size") == 0)
        return parse_u64(v, 0, KVB_VALUE_BYTES_MAX, &n) ? (c->value_bytes = (uint32_t)n, 0) : bad(o, v);
    if (strcmp(o, "--ops") == 0)
        return parse_u64(v, 1, UINT64_MAX / 2, &c->ops) ? 0 : bad(o, v);
    if (strcmp(o, "--duration") == 0)
        return parse_seconds_ms(v, &c->duration_ms) && c->duration_ms > 0 ? 0 : bad(o, v);
    if (strcmp(o, "--warmup") == 0)
        return parse_seconds_ms(v, &c->warmup_ms) ? 0 : bad(o, v);
    if (strcmp(o, "--threads") == 0)
        return parse_u64(v, 1, KVB_THREADS_MAX, &n) ? (c->threads = (uint32_t)n, 0) : bad(o, v);
    if (strcmp(o, "--connections") == 0)
        return parse_u64(v, 1, KVB_CONNECTIONS_MAX, &n) ? (c->connections = (uint32_t)n, 0) : bad(o, v);
    if (strcmp(o, "--pipeline") == 0)
        return parse_u64(v, 1, KVB_PIPELINE_MAX, &n) ? (c->pipeline = (uint32_t)n, 0) : bad(o, v);
    if (strcmp(o, "--seed") == 0)
        return parse_u64(v, 0, UINT64_MAX, &c->seed) ? 0 : bad(o, v);
    return -1;
}

/* Returns -1 to run, or an exit code (0 after --help). */
static int parse_args(struct kvb_config *c, int argc, char **argv)
{
    *c = (struct kvb_config){ .host = "127.0.0.1:7400", .cluster = "ringkv", .workload = KVB_A,
                              .keys = 100000, .value_bytes = 100, .duration_ms = 30000,
                              .warmup_ms = 2000, .threads = 1, .connections = 50, .pipeline = 1,
                              .load = true, .seed = 1, .routing = true };
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(o, "--no-load") == 0) {
            c->load = false;
            continue;
        }
        if (strcmp(o, "--json") == 0) {
            c->json = true;
            continue;
        }
        if (strcmp(o, "--sdk") == 0 || strcmp(o, "--no-routing") == 0) {
            c->sdk = true;
            c->routing = strcmp(o, "--sdk") == 0 ? c->routing : false;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = parse_valued(c, o, v);
        if (rc == -1) {
            fprintf(stderr, "kvbench: unknown option '%s' (see kvbench --help)\n", o);
            return 2;
        }
        if (rc != 0)
            return rc;
        i++;
    }
    if (c->sdk && (c->connections > KVB_SDK_CLIENTS_MAX || c->pipeline != 1)) {
        fprintf(stderr, "kvbench: --sdk takes at most %u connections and no --pipeline (see kvbench --help)\n",
                KVB_SDK_CLIENTS_MAX);
        return 2;
    }
    if (c->sdk)
        c->threads = c->connections;  /* one blocking client per thread */
    if (c->threads > c->connections)
        c->threads = c->connections;
    if (c->workload == KVB_SET)
        c->load = false;  /* set writes its keys itself */
    return -1;
}

struct kvb_bench {
    struct kvb_config cfg;
    struct kvb_shared sh;
    struct kvb_thread *threads;
    uint32_t nthreads;
    uint64_t prev_ops, prev_lat_ns;  /* progress: totals at the previous line */
};

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static bool all_finished(const struct kvb_bench *b)
{
    for (uint32_t i = 0; i < b->nthreads; i++)
        if (!atomic_load(&b->threads[i].finished))
            return false;
    return true;
}

/* One progress line: rate and mean latency since the previous line. */
static void progress(struct kvb_bench *b, const char *what, uint64_t elapsed_ms, uint64_t interval_ms)
{
    uint64_t ops = 0, lat = 0;
    for (uint32_t i = 0; i < b->nthreads; i++) {
        ops += atomic_load_explicit(&b->threads[i].progress_ops, memory_order_relaxed);
        lat += atomic_load_explicit(&b->threads[i].progress_lat_ns, memory_order_relaxed);
    }
    uint64_t d_ops = ops - b->prev_ops, d_lat = lat - b->prev_lat_ns;
    b->prev_ops = ops;
    b->prev_lat_ns = lat;
    fprintf(stderr, "kvbench: [%5.1fs] %-7s %9.0f ops/s  mean %7.1f us\n", (double)elapsed_ms / 1000.0,
            what, interval_ms ? (double)d_ops * 1000.0 / (double)interval_ms : 0.0,
            d_ops ? (double)d_lat / (double)d_ops / 1000.0 : 0.0);
}

/* Starts every worker for the current phase. */
static int spawn(struct kvb_bench *b)
{
    for (uint32_t i = 0; i < b->nthreads; i++) {
        atomic_store(&b->threads[i].finished, false);
        b->threads[i].fatal = KV_OK;
        int err = pthread_create(&b->threads[i].tid, NULL, kvb_thread_main, &b->threads[i]);
        if (err != 0) {
            fprintf(stderr, "kvbench: cannot start a thread: %s\n", strerror(err));
            atomic_store(&b->sh.phase, KVB_STOP);
            for (uint32_t j = 0; j < i; j++)
                pthread_join(b->threads[j].tid, NULL);
            return 1;
        }
    }
    return 0;
}

/* Joins the workers; 1 if any of them failed (its reason printed). */
static int join(struct kvb_bench *b)
{
    int rc = 0;
    for (uint32_t i = 0; i < b->nthreads; i++) {
        pthread_join(b->threads[i].tid, NULL);
        if (b->threads[i].fatal != KV_OK) {
            fprintf(stderr, "kvbench: %s: %s\n", b->cfg.host, b->threads[i].fatal_msg);
            rc = 1;
        }
    }
    return rc;
}

/* Writes keys 0..keys-1 once. */
static int load_phase(struct kvb_bench *b)
{
    atomic_store(&b->sh.phase, KVB_LOAD);
    atomic_store(&b->sh.next_key, 0);
    if (spawn(b) != 0)
        return 1;
    uint64_t start = kv_mono_ns(), last = start;
    while (!all_finished(b)) {
        sleep_ms(50);
        uint64_t now = kv_mono_ns();
        if (now - last >= KVB_PROGRESS_MS * 1000000ull) {
            progress(b, "load", (now - start) / 1000000u, (now - last) / 1000000u);
            last = now;
        }
    }
    int rc = join(b);
    if (rc == 0)
        fprintf(stderr, "kvbench: loaded %" PRIu64 " keys in %.1f s\n", b->cfg.keys,
                (double)(kv_mono_ns() - start) / 1e9);
    return rc;
}

/* Warm-up, then the measured window, with a progress line every second. */
static int work_phase(struct kvb_bench *b)
{
    const struct kvb_config *cfg = &b->cfg;
    atomic_store(&b->sh.next_key, cfg->keys);    /* D inserts after the loaded keys */
    atomic_store(&b->sh.inserted, cfg->keys);
    atomic_store(&b->sh.phase, cfg->warmup_ms ? KVB_WARMUP : KVB_MEASURE);
    uint64_t start = kv_mono_ns(), last = start, measure_at = start + cfg->warmup_ms * 1000000ull;
    if (cfg->warmup_ms == 0) {
        atomic_store(&b->sh.measure_start_ns, start);
        if (cfg->ops == 0)
            atomic_store(&b->sh.measure_end_ns, start + cfg->duration_ms * 1000000ull);
    }
    if (spawn(b) != 0)
        return 1;
    for (;;) {
        sleep_ms(10);
        uint64_t now = kv_mono_ns();
        int phase = atomic_load(&b->sh.phase);
        if (phase == KVB_WARMUP && now >= measure_at) {
            atomic_store(&b->sh.measure_start_ns, now);
            if (cfg->ops == 0)
                atomic_store(&b->sh.measure_end_ns, now + cfg->duration_ms * 1000000ull);
            atomic_store(&b->sh.phase, KVB_MEASURE);
            progress(b, "warmup", (now - start) / 1000000u, (now - last) / 1000000u);
            last = now;
            continue;
        }
        uint64_t end = atomic_load(&b->sh.measure_end_ns);
        if (phase == KVB_MEASURE && end != 0 && now >= end)
            atomic_store(&b->sh.phase, KVB_STOP);
        if (all_finished(b) || atomic_load(&b->sh.phase) == KVB_STOP)
            break;
        if (now - last >= KVB_PROGRESS_MS * 1000000ull) {
            progress(b, phase == KVB_WARMUP ? "warmup" : "run", (now - start) / 1000000u,
                     (now - last) / 1000000u);
            last = now;
        }
    }
    atomic_store(&b->sh.phase, KVB_STOP);
    return join(b);
}

/* ---- the report ---- */

struct kvb_summary {
    struct kvb_hist by_op[KVB_OP_COUNT];
    struct kvb_hist all;
    uint64_t errors[KVB_OP_COUNT], errors_all, not_found;
    double seconds;
};

static void summarize(const struct kvb_bench *b, struct kvb_summary *s)
{
    memset(s, 0, sizeof *s);
    uint64_t start = atomic_load(&b->sh.measure_start_ns), end = atomic_load(&b->sh.measure_end_ns);
    uint64_t last = start;
    for (uint32_t i = 0; i < b->nthreads; i++) {
        const struct kvb_thread *t = &b->threads[i];
        for (int op = 0; op < KVB_OP_COUNT; op++) {
            kvb_hist_merge(&s->by_op[op], &t->hist[op]);
            kvb_hist_merge(&s->all, &t->hist[op]);
            s->errors[op] += t->errors[op];
            s->errors_all += t->errors[op];
        }
        s->not_found += t->not_found;
        if (t->last_reply_ns > last)
            last = t->last_reply_ns;
    }
    /* Duration mode: the window is fixed. Ops mode: it ends at the last reply. */
    s->seconds = (double)((b->cfg.ops == 0 ? end : last) - start) / 1e9;
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static void print_text(const struct kvb_bench *b, const struct kvb_summary *s)
{
    const struct kvb_config *c = &b->cfg;
    for (int op = 0; op < KVB_OP_COUNT; op++) {
        const struct kvb_hist *h = &s->by_op[op];
        if (h->count == 0)
            continue;
        printf("%-7s ops=%" PRIu64 " ops/s=%.0f p50=%.0f p95=%.0f p99=%.0f p99.9=%.0f max=%.0f us"
               " errors=%" PRIu64 "\n", kvb_op_names[op], h->count, (double)h->count / s->seconds,
               us(kvb_hist_quantile(h, 0.50)), us(kvb_hist_quantile(h, 0.95)),
               us(kvb_hist_quantile(h, 0.99)), us(kvb_hist_quantile(h, 0.999)), us(h->max_ns),
               s->errors[op]);
    }
    const struct kvb_hist *a = &s->all;
    printf("result: mode=%s workload=%s keys=%" PRIu64 " value_size=%u connections=%u threads=%u pipeline=%u"
           " seconds=%.2f ops=%" PRIu64 " ops/s=%.0f p50_us=%.0f p95_us=%.0f p99_us=%.0f"
           " p99.9_us=%.0f max_us=%.0f errors=%" PRIu64 " not_found=%" PRIu64 "\n",
           !c->sdk ? "raw" : c->routing ? "sdk-routed" : "sdk-unrouted",
           kvb_workload_names[c->workload], c->keys, c->value_bytes, c->connections, c->threads,
           c->pipeline, s->seconds, a->count, (double)a->count / s->seconds,
           us(kvb_hist_quantile(a, 0.50)), us(kvb_hist_quantile(a, 0.95)),
           us(kvb_hist_quantile(a, 0.99)), us(kvb_hist_quantile(a, 0.999)), us(a->max_ns),
           s->errors_all, s->not_found);
}

static void print_json_hist(const struct kvb_hist *h, double seconds, uint64_t errors)
{
    printf("{\"ops\":%" PRIu64 ",\"ops_per_sec\":%.1f,\"errors\":%" PRIu64 ",\"latency_us\":"
           "{\"p50\":%.1f,\"p95\":%.1f,\"p99\":%.1f,\"p99.9\":%.1f,\"max\":%.1f,\"mean\":%.1f}}",
           h->count, (double)h->count / seconds, errors, us(kvb_hist_quantile(h, 0.50)),
           us(kvb_hist_quantile(h, 0.95)), us(kvb_hist_quantile(h, 0.99)),
           us(kvb_hist_quantile(h, 0.999)), us(h->max_ns),
           h->count ? us(h->sum_ns / h->count) : 0.0);
}

static void print_json(const struct kvb_bench *b, const struct kvb_summary *s)
{
    const struct kvb_config *c = &b->cfg;
    printf("{\"mode\":\"%s\",\"workload\":\"%s\",\"keys\":%" PRIu64 ",\"value_size\":%u,\"connections\":%u,"
           "\"threads\":%u,\"pipeline\":%u,\"seconds\":%.3f,\"not_found\":%" PRIu64 ",\"total\":",
           !c->sdk ? "raw" : c->routing ? "sdk-routed" : "sdk-unrouted", kvb_workload_names[c->workload], c->keys, c->value_bytes, c->connections, c->threads,
           c->pipeline, s->seconds, s->not_found);
    print_json_hist(&s->all, s->seconds, s->errors_all);
    fputs(",\"by_op\":{", stdout);
    bool first = true;
    for (int op = 0; op < KVB_OP_COUNT; op++) {
        if (s->by_op[op].count == 0)
            continue;
        printf("%s\"%s\":", first ? "" : ",", kvb_op_names[op]);
        print_json_hist(&s->by_op[op], s->seconds, s->errors[op]);
        first = false;
    }
    puts("}}");
}

/* Connects every thread's share of the connections. */
static int setup(struct kvb_bench *b)
{
    b->nthreads = b->cfg.threads;
    b->threads = calloc(b->nthreads, sizeof *b->threads);
    if (b->threads == NULL)
        return 1;
    for (uint32_t i = 0; i < b->nthreads; i++) {
        uint32_t n = b->cfg.connections / b->nthreads + (i < b->cfg.connections % b->nthreads);
        if (kvb_thread_init(&b->threads[i], &b->sh, i, n) != KV_OK) {
            fprintf(stderr, "kvbench: cannot connect: %s\n", b->threads[i].fatal_msg);
            b->nthreads = i + 1;
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct kvb_bench b;
    memset(&b, 0, sizeof b);
    int rc = parse_args(&b.cfg, argc, argv);
    if (rc >= 0) {
        memset(g_password, 0, sizeof g_password);
        return rc;
    }
    b.sh.cfg = &b.cfg;
    rc = setup(&b);
    if (rc == 0 && b.cfg.load)
        rc = load_phase(&b);
    if (rc == 0)
        rc = work_phase(&b);
    if (rc == 0) {
        struct kvb_summary *s = malloc(sizeof *s);
        if (s == NULL) {
            rc = 1;
        } else {
            summarize(&b, s);
            if (s->all.count == 0 || s->seconds <= 0) {
                fprintf(stderr, "kvbench: no operation completed in the measured window\n");
                rc = 1;
            } else if (b.cfg.json) {
                print_json(&b, s);
            } else {
                print_text(&b, s);
            }
        }
        free(s);
    }
    for (uint32_t i = 0; i < b.nthreads; i++)
        kvb_thread_free(&b.threads[i]);
    free(b.threads);
    memset(g_password, 0, sizeof g_password);
    return rc;
}
