/*
 * sdk_smoke.c - libringkv against a real kvnode (run by test_sdk.py).
 *
 *     sdk_smoke HOST:PORT NODE_PID
 *
 * Uses only the public header and the shared library, as an application
 * would. Checks: siblings from two clients writing with the same context,
 * and their resolution by a put with the merged context; batch put/get;
 * ttl, expire, persist, incr (two threads, one client each); failover past
 * a dead host; and timeouts: a node that accepts but never answers gives
 * RKV_ETIMEDOUT at connect, and a stopped node (SIGSTOP on NODE_PID, a
 * process the test started) gives RKV_EINDOUBT for a put and RKV_ETIMEDOUT
 * for a get. Prints one line per check; exit 0 when all pass.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/ringkv.h"

static int g_failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            g_failures++;                                                      \
        }                                                                      \
    } while (0)

#define CHECK_RC(call, want)                                                   \
    do {                                                                       \
        int rc_ = (call);                                                      \
        CHECK(rc_ == (want), "%s returned %d (%s), want %d", #call, rc_,       \
              rkv_strerror(rc_), (want));                                      \
    } while (0)

static const char *g_host;

static struct rkv_client *connect_one(void)
{
    struct rkv_client *c = NULL;
    const char *hosts[] = { g_host };
    int rc = rkv_connect(hosts, 1, NULL, &c);
    if (rc != RKV_OK) {
        fprintf(stderr, "FAIL: cannot connect to %s: %s\n", g_host, rkv_strerror(rc));
        exit(1);
    }
    return c;
}

/* True if r holds exactly the values a and b (any order). */
static bool has_values(const struct rkv_get_result *r, const char *a, const char *b)
{
    if (r->nsiblings != (b ? 2u : 1u))
        return false;
    for (size_t i = 0; i < r->nsiblings; i++) {
        const char *v = r->siblings[i].value;
        if (strcmp(v, a) != 0 && (b == NULL || strcmp(v, b) != 0))
            return false;
    }
    return b == NULL || strcmp(r->siblings[0].value, r->siblings[1].value) != 0;
}

static void check_siblings(void)
{
    struct rkv_client *a = connect_one(), *b = connect_one();
    struct rkv_get_result *r = NULL, *ra = NULL;
    CHECK_RC(rkv_put(a, "sib", 3, "base", 4, NULL, NULL, NULL), RKV_OK);
    CHECK_RC(rkv_get(a, "sib", 3, NULL, &r), RKV_OK);
    /* Two writers that both saw "base": neither supersedes the other. */
    struct rkv_put_args args = { r->context, 0, RKV_PUT_ALWAYS };
    CHECK_RC(rkv_put(a, "sib", 3, "from-a", 6, &args, NULL, NULL), RKV_OK);
    CHECK_RC(rkv_put(b, "sib", 3, "from-b", 6, &args, NULL, NULL), RKV_OK);
    rkv_get_result_free(r);
    CHECK_RC(rkv_get(b, "sib", 3, NULL, &r), RKV_OK);
    CHECK(r && has_values(r, "from-a", "from-b"), "want siblings from-a and from-b, got %zu",
          r ? r->nsiblings : 0);
    /* A put with the context that saw both resolves them. */
    struct rkv_put_args merge = { r->context, 0, RKV_PUT_ALWAYS };
    CHECK_RC(rkv_put(b, "sib", 3, "merged", 6, &merge, NULL, NULL), RKV_OK);
    CHECK_RC(rkv_get(a, "sib", 3, NULL, &ra), RKV_OK);
    CHECK(ra && has_values(ra, "merged", NULL), "want the single value merged, got %zu siblings",
          ra ? ra->nsiblings : 0);
    rkv_get_result_free(r);
    rkv_get_result_free(ra);
    rkv_close(a);
    rkv_close(b);
    printf("ok siblings from concurrent writes and their resolution\n");
}

static void check_batches(void)
{
    enum { N = 2000 };
    struct rkv_client *c = connect_one();
    static char keys[N][16], vals[N][16];
    static struct rkv_put_entry e[N];
    static struct rkv_key k[N];
    static int st[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "batch-%d", i);
        snprintf(vals[i], sizeof vals[i], "value-%d", i);
        e[i] = (struct rkv_put_entry){ keys[i], strlen(keys[i]), vals[i], strlen(vals[i]),
                                       { NULL, 0, RKV_PUT_ALWAYS } };
        k[i] = (struct rkv_key){ keys[i], strlen(keys[i]) };
    }
    CHECK_RC(rkv_batch_put(c, e, N, NULL, st, NULL), RKV_OK);
    struct rkv_batch_get_entry *got = NULL;
    CHECK_RC(rkv_batch_get(c, k, N, NULL, &got), RKV_OK);
    int good = 0;
    for (int i = 0; got && i < N; i++)
        good += st[i] == RKV_OK && got[i].status == RKV_OK && got[i].result->found &&
                strcmp(got[i].result->siblings[0].value, vals[i]) == 0;
    CHECK(good == N, "%d of %d batch entries round-tripped", good, N);
    rkv_batch_get_free(got, N);
    rkv_close(c);
    printf("ok batch put and get of %d keys\n", N);
}

static void *incr_thread(void *arg)
{
    struct rkv_client *c = connect_one();  /* one client per thread */
    for (int i = 0; i < 500; i++)
        CHECK_RC(rkv_incr(c, "counter", 7, 1, NULL, NULL), RKV_OK);
    rkv_close(c);
    return arg;
}

static void check_ttl_and_counters(void)
{
    struct rkv_client *c = connect_one();
    int64_t ttl = 0, v = 0;
    CHECK_RC(rkv_put(c, "t", 1, "x", 1, &(struct rkv_put_args){ NULL, 60000, RKV_PUT_ALWAYS }, NULL, NULL),
             RKV_OK);
    CHECK_RC(rkv_ttl(c, "t", 1, NULL, &ttl), RKV_OK);
    CHECK(ttl > 0 && ttl <= 60000, "ttl %lld", (long long)ttl);
    CHECK_RC(rkv_persist(c, "t", 1, NULL), RKV_OK);
    CHECK_RC(rkv_ttl(c, "t", 1, NULL, &ttl), RKV_OK);
    CHECK(ttl == RKV_TTL_NONE, "ttl after persist %lld", (long long)ttl);
    CHECK_RC(rkv_expire(c, "t", 1, 30000, NULL), RKV_OK);
    CHECK_RC(rkv_expire(c, "no-such-key", 11, 30000, NULL), RKV_ENOTFOUND);
    CHECK_RC(rkv_ttl(c, "no-such-key", 11, NULL, &ttl), RKV_ENOTFOUND);
    CHECK_RC(rkv_put(c, "t", 1, "y", 1, &(struct rkv_put_args){ NULL, 0, RKV_PUT_NX }, NULL, NULL),
             RKV_EEXIST);
    int64_t before = 0;
    CHECK_RC(rkv_incr(c, "counter", 7, 0, NULL, &before), RKV_OK);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, incr_thread, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_RC(rkv_incr(c, "counter", 7, 0, NULL, &v), RKV_OK);
    CHECK(v - before == 1000, "counter went from %lld to %lld with 2 x 500 increments",
          (long long)before, (long long)v);
    struct rkv_stat *stats = NULL;
    size_t n = 0;
    CHECK_RC(rkv_stats(c, NULL, &stats, &n), RKV_OK);
    CHECK(n > 0, "no stats");
    rkv_stats_free(stats);
    rkv_close(c);
    printf("ok ttl, expire, persist, put NX, incr from two threads, stats\n");
}

/* A loopback socket that listens but never accepts or answers. */
static int mute_listener(char *spec, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        fprintf(stderr, "FAIL: cannot make a listener\n");
        exit(1);
    }
    snprintf(spec, size, "127.0.0.1:%u", ntohs(a.sin_port));
    return fd;
}

static void check_failover_and_timeouts(pid_t node)
{
    char mute[32];
    int mute_fd = mute_listener(mute, sizeof mute);
    struct rkv_options o;
    rkv_options_init(&o);
    o.connect_timeout_ms = 200;
    o.request_timeout_ms = 500;
    o.retries = 0;
    struct rkv_client *c = NULL;
    const char *only_mute[] = { mute };
    CHECK_RC(rkv_connect(only_mute, 1, &o, &c), RKV_ETIMEDOUT);
    /* The mute host first: the client moves on to the node. */
    const char *both[] = { mute, g_host };
    int rc = rkv_connect(both, 2, &o, &c);
    if (rc != RKV_OK) {
        CHECK(rc == RKV_OK, "failover connect: %s", rkv_strerror(rc));
        close(mute_fd);
        return;
    }
    CHECK(strcmp(rkv_current_host(c), g_host) == 0, "current host %s", rkv_current_host(c));
    CHECK_RC(rkv_put(c, "doubt", 5, "before", 6, NULL, NULL, NULL), RKV_OK);
    kill(node, SIGSTOP);
    struct rkv_request_options ro = { .timeout_ms = 300 };
    struct rkv_get_result *r = NULL;
    CHECK_RC(rkv_put(c, "doubt", 5, "during", 6, NULL, &ro, NULL), RKV_EINDOUBT);
    CHECK_RC(rkv_get(c, "doubt", 5, &ro, &r), RKV_ETIMEDOUT);
    kill(node, SIGCONT);
    /* In doubt means exactly that: the stopped node may still apply it. */
    CHECK_RC(rkv_get(c, "doubt", 5, NULL, &r), RKV_OK);
    CHECK(r && r->found && (strcmp(r->siblings[0].value, "before") == 0 ||
                            strcmp(r->siblings[0].value, "during") == 0), "unexpected value");
    printf("ok failover past a mute host; in doubt put and timed-out get on a stopped node "
           "(afterwards the key reads '%s')\n", r && r->found ? (const char *)r->siblings[0].value : "?");
    rkv_get_result_free(r);
    rkv_close(c);
    close(mute_fd);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: sdk_smoke HOST:PORT NODE_PID\n");
        return 2;
    }
    g_host = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_siblings();
    check_batches();
    check_ttl_and_counters();
    check_failover_and_timeouts((pid_t)atoi(argv[2]));
    if (g_failures)
        fprintf(stderr, "%d check(s) failed\n", g_failures);
    return g_failures ? 1 : 0;
}
