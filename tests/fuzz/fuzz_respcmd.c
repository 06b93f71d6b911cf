/*
 * fuzz_respcmd.c - libFuzzer over the RESP server behind the parser
 * (node/resp_server.c, resp_commands.c, resp_batch.c): command lookup,
 * argument parsing (SET options, EXPIRE / INCRBY integers, MSET pairs,
 * CONFIG, CLIENT, SELECT, ...), execution and replies. fuzz_resp takes
 * the parser alone.
 *
 * Set up once: an event base, a standalone coordinator over an in-memory
 * engine, and a resp_server on 127.0.0.1 (port chosen by the OS). Each
 * input is what one client sends: it connects, writes the input, half-
 * closes, and the event loop runs until the server has answered and
 * closed the connection (the server answers everything sent before a
 * half-close), for at most WAIT_MS_MAX. Keys written by one input
 * stay for the next (the engine lives across inputs, renewed every
 * RESET_INPUTS), as on a node.
 * Invariant: no crash, no sanitizer report, no leak; the server closes
 * every connection (no request is left hanging).
 * Seeds: tests/fuzz/corpus/respcmd/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "coordinator/coord.h"
#include "node/metrics.h"
#include "node/resp_server.h"
#include "storage/engine.h"
#include "storage/env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "fuzz_respcmd: check failed: %s (errno %d)\n", #cond, errno); \
            __builtin_trap(); \
        } \
    } while (0)
#define WAIT_MS_MAX 5000 /* far above any command: a standalone node answers at once */

/* Live across inputs (and reachable, so no leak is reported at exit);
 * made anew every RESET_INPUTS inputs so that the keys the inputs write
 * do not grow without bound in a long run. */
#define RESET_INPUTS 2000
static uint64_t g_inputs;
static struct env *g_env;
static struct engine *g_engine;
static struct coord *g_coord;
static struct metrics *g_metrics;
static struct event_base *g_base;
static struct resp_server *g_resp;
static uint16_t g_port;

static void setup(void)
{
    kv_log_set_level(KV_LOG_OFF);
    struct engine_options eo;
    struct coord_config cc;
    engine_options_default(&eo);
    FUZZ_CHECK(env_mem_new(&g_env) == KV_OK);
    eo.env = g_env;
    eo.sync = ENGINE_SYNC_NONE;
    FUZZ_CHECK(engine_open("/db", &eo, &g_engine) == KV_OK);
    coord_config_default(&cc);
    cc.node_id = "fuzz";
    cc.engine = g_engine;
    FUZZ_CHECK(coord_new(&cc, &g_coord) == KV_OK);
    FUZZ_CHECK(metrics_new(&g_metrics) == KV_OK);
    FUZZ_CHECK((g_base = event_base_new()) != NULL);
    struct resp_server_config rc = {
        .listen = "127.0.0.1:0",
        .node_id = "fuzz",
        .version = "fuzz",
        .max_connections = 16,
        .key_bytes_max = 256,
        .value_bytes_max = 1024,
        .command_bytes_max = 64 * 1024,
        .output_bytes_max = 64 * 1024,
        .idle_timeout_ms = 10000,
        .frame_timeout_ms = 10000,
        .request_timeout_ms = 1000,
    };
    FUZZ_CHECK(resp_server_new(g_base, &rc, g_coord, g_metrics, &g_resp) == KV_OK);
    g_port = resp_server_port(g_resp);
}

static void teardown(void)
{
    resp_server_free(g_resp);
    event_base_free(g_base);
    metrics_free(g_metrics);
    coord_free(g_coord);
    (void)engine_close(g_engine);
    env_destroy(g_env);
    g_base = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_base && ++g_inputs % RESET_INPUTS == 0)
        teardown();
    if (!g_base)
        setup();
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(g_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    /* The half-close below makes this side close first, so each input
     * leaves a TIME_WAIT: a source address of its own (127.1.0.0/16, in
     * turn) keeps them from using up the ports of one address. */
    static uint32_t source;
    struct sockaddr_in from = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(0x7f010000u | (1u + source++ % 0xfffeu)) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FUZZ_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&from, sizeof from) == 0);
    /* libFuzzer's timer signal may interrupt connect, which then goes on. */
    while (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EISCONN)
        FUZZ_CHECK(errno == EINTR || errno == EALREADY);
    FUZZ_CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
    size_t sent = 0;
    bool closed = false, half = false;
    char buf[16384];
    uint64_t start_ns = kv_mono_ns();
    while (!closed && kv_mono_ns() - start_ns < WAIT_MS_MAX * 1000000ull) {
        if (sent < size) {
            ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            bool again = w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
            FUZZ_CHECK(w >= 0 || again || errno == EPIPE || errno == ECONNRESET);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && !again)
                sent = size; /* the server closed the connection (a protocol error) */
        }
        if (sent == size && !half) {
            (void)shutdown(fd, SHUT_WR);
            half = true;
        }
        FUZZ_CHECK(event_base_loop(g_base, EVLOOP_NONBLOCK) >= 0);
        struct pollfd p = { fd, POLLIN, 0 };
        (void)poll(&p, 1, 1); /* the server runs in the loop above: wait 1 ms at most */
        ssize_t r;
        while ((r = recv(fd, buf, sizeof buf, 0)) > 0)
            ;
        closed = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    FUZZ_CHECK(closed); /* every request answered, the connection closed */
    close(fd);
    return 0;
}
