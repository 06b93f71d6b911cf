/*
 * fuzz_reply.c - libFuzzer over the SDK (libringkv, client/) talking to a
 * hostile node: everything the client decodes from a server's replies
 * (frames, the Hello reply, and each call's reply: client/wire.c,
 * route.c, ops.c, batch.c, admin*.c).
 *
 * A fake node runs on a thread of this process, on 127.0.0.1 (started
 * once; one connection at a time). For each input the client connects
 * (routing off, no retries), makes one call and closes. Input: byte 0
 * picks the call (run_call), byte 1 bit 0 says whether the Hello reply
 * is the fuzzed one too (else the node answers it properly); the rest is
 * the reply. The node answers every request with it: when it decodes as
 * an Envelope, with the request's id put in unless it is 0 (so the
 * client takes it as the answer) and re-encoded; otherwise as one raw
 * frame of those bytes, and then it closes the connection (so the client
 * never waits out its deadline). It resets every connection it ends
 * (SO_LINGER 0), so no TIME_WAIT is left behind: thousands a second
 * would use up the loopback ports. A reply holding a RingMap also builds
 * the client's routing table (client_route_from_map).
 * Invariant: no crash, no sanitizer report, no leak; the client connects
 * whenever the Hello is answered properly; a call that succeeds returns
 * what its contract says (a result, a context).
 * Seeds: tests/fuzz/corpus/reply/ (make_reply_corpus.py).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/ringkv.h"
#include "client/route.h"
#include "common/buf.h"
#include "common/status.h"
#include "proto/kv.pb-c.h"
#include "rpc/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define CALLS 20

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct kv_buf g_reply;   /* the fuzzed reply, under g_mu */
static bool g_fuzz_hello;       /* under g_mu */
static char g_host[32];         /* "127.0.0.1:PORT" */
static int g_listen_fd = -1;

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) /* libFuzzer's timer signal */
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Sends the answer to req; false when the connection should close. */
static bool answer(int fd, const Ringkv__Envelope *req, bool first)
{
    struct kv_buf out = { 0 };
    bool keep = true;
    pthread_mutex_lock(&g_mu);
    if (first && !g_fuzz_hello) {
        Ringkv__HelloReply hr = RINGKV__HELLO_REPLY__INIT;
        hr.protocol_version = RINGKV__PROTOCOL__PROTOCOL_VERSION;
        hr.cluster_name = (char *)RKV_CLUSTER_NAME_DEFAULT;
        Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
        env.request_id = req->request_id;
        env.body_case = RINGKV__ENVELOPE__BODY_HELLO_REPLY;
        env.hello_reply = &hr;
        FUZZ_CHECK(rpc_frame_encode(&env, 0, &out) == KV_OK);
    } else {
        Ringkv__Envelope *env = NULL;
        if (rpc_envelope_decode(kv_slice_make(g_reply.data, g_reply.len), &env) == KV_OK) {
            if (env->request_id != 0) /* 0: a connection-level answer, kept */
                env->request_id = req->request_id;
            keep = rpc_frame_encode(env, 0, &out) == KV_OK;
            rpc_envelope_free(env);
        } else {
            keep = false;
        }
        if (!keep) {
            char hdr[RPC_FRAME_HEADER_BYTES] = { (char)(g_reply.len >> 24), (char)(g_reply.len >> 16),
                                                 (char)(g_reply.len >> 8), (char)g_reply.len };
            kv_buf_reset(&out);
            FUZZ_CHECK(kv_buf_append(&out, hdr, sizeof hdr) == KV_OK &&
                       kv_buf_append(&out, g_reply.data, g_reply.len) == KV_OK);
        }
    }
    pthread_mutex_unlock(&g_mu);
    keep = send_all(fd, out.data, out.len) && keep;
    kv_buf_free(&out);
    return keep;
}

/* Serves one connection until the client goes or an answer closes it. */
static void serve(int fd)
{
    struct rpc_frame_decoder dec;
    rpc_frame_decoder_init(&dec, 0);
    char buf[16384];
    bool open = true, first = true;
    while (open) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (size_t off = 0; open && off < (size_t)n;) {
            size_t used = 0;
            struct kv_slice frame;
            Ringkv__Envelope *req = NULL;
            FUZZ_CHECK(rpc_frame_decoder_feed(&dec, buf + off, (size_t)n - off, &used, &frame) == KV_OK);
            off += used;
            if (frame.data == NULL)
                continue;
            FUZZ_CHECK(rpc_envelope_decode(frame, &req) == KV_OK); /* the client sends only valid requests */
            open = answer(fd, req, first);
            first = false;
            rpc_envelope_free(req);
        }
    }
    rpc_frame_decoder_free(&dec);
    /* Reset, not FIN (see the top of the file). */
    struct linger lg = { 1, 0 };
    FUZZ_CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    close(fd);
}

static void *node_main(void *arg)
{
    for (;;) {
        int fd = accept(g_listen_fd, NULL, NULL);
        if (fd >= 0)
            serve(fd);
    }
    return NULL;
}

static void start_node(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    pthread_t tid;
    g_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    FUZZ_CHECK(g_listen_fd >= 0 && bind(g_listen_fd, (struct sockaddr *)&a, sizeof a) == 0 &&
               listen(g_listen_fd, 16) == 0 && getsockname(g_listen_fd, (struct sockaddr *)&a, &len) == 0);
    snprintf(g_host, sizeof g_host, "127.0.0.1:%u", ntohs(a.sin_port));
    FUZZ_CHECK(pthread_create(&tid, NULL, node_main, NULL) == 0);
}

static void check_get(const struct rkv_get_result *r)
{
    FUZZ_CHECK(r->context != NULL && r->found == (r->nsiblings > 0));
    for (size_t i = 0; i < r->nsiblings; i++) {
        const char *value = r->siblings[i].value;
        FUZZ_CHECK(value != NULL && value[r->siblings[i].value_len] == 0);
    }
}

/* Makes call number `call` (0..CALLS-1). */
static void run_call(struct rkv_client *c, int call)
{
    static const char *const keys_s[] = { "a", "b", "c" };
    const struct rkv_key keys[] = { { "a", 1 }, { "b", 1 }, { "c", 1 } };
    struct rkv_put_entry puts[2] = { { "a", 1, "1", 1, { 0 } }, { "b", 1, "2", 1, { 0 } } };
    struct rkv_context *ctx = NULL, *ctxs[2] = { NULL, NULL };
    struct rkv_get_result *g = NULL;
    struct rkv_batch_get_entry *bg = NULL;
    struct rkv_stat *st = NULL;
    struct rkv_admin_result *ar = NULL;
    struct rkv_local_object *lo = NULL;
    struct rkv_aae_status *as = NULL;
    struct rkv_transfers *tr = NULL;
    int statuses[2];
    bool found;
    int64_t v;
    uint64_t u;
    size_t n;
    switch (call) {
    case 0:
        if (rkv_get(c, "k", 1, NULL, &g) == RKV_OK)
            check_get(g);
        rkv_get_result_free(g);
        break;
    case 1:
        if (rkv_put(c, "k", 1, "v", 1, NULL, NULL, &ctx) == RKV_OK)
            FUZZ_CHECK(ctx != NULL);
        rkv_context_free(ctx);
        break;
    case 2: (void)rkv_delete(c, "k", 1, NULL, NULL, &found); break;
    case 3:
        if (rkv_batch_get(c, keys, 3, NULL, &bg) == RKV_OK) {
            for (size_t i = 0; i < 3; i++)
                if (bg[i].status == RKV_OK)
                    check_get(bg[i].result);
            rkv_batch_get_free(bg, 3);
        }
        break;
    case 4:
        /* A written entry's context may be NULL (none in the reply, or no memory: ringkv.h). */
        if (rkv_batch_put(c, puts, 2, NULL, statuses, ctxs) == RKV_OK)
            for (size_t i = 0; i < 2; i++)
                FUZZ_CHECK(statuses[i] <= 0 && statuses[i] >= KV_STATUS_MIN);
        rkv_context_free(ctxs[0]);
        rkv_context_free(ctxs[1]);
        break;
    case 5: (void)rkv_expire(c, "k", 1, 1000, NULL); break;
    case 6: (void)rkv_persist(c, "k", 1, NULL); break;
    case 7: (void)rkv_ttl(c, "k", 1, NULL, &v); break;
    case 8: (void)rkv_incr(c, "k", 1, 5, NULL, &v); break;
    case 9: (void)rkv_ping(c, NULL, &u); break;
    case 10:
        if (rkv_stats(c, NULL, &st, &n) == RKV_OK)
            rkv_stats_free(st);
        break;
    case 11:
        if (rkv_admin_local_get(c, keys_s[0], NULL, &lo) == RKV_OK)
            rkv_local_object_free(lo);
        break;
    case 12:
        if (rkv_aae_status(c, NULL, &as) == RKV_OK)
            rkv_aae_status_free(as);
        break;
    case 13:
        if (rkv_aae_repair(c, "3", NULL, &as) == RKV_OK)
            rkv_aae_status_free(as);
        break;
    case 14:
        if (rkv_transfers(c, NULL, &tr) == RKV_OK)
            rkv_transfers_free(tr);
        break;
    default: { /* 15..19: members, ring, plan, commit, hints */
        static const enum rkv_admin_op ops[] = { RKV_ADMIN_MEMBERS, RKV_ADMIN_RING, RKV_ADMIN_PLAN,
                                                 RKV_ADMIN_COMMIT, RKV_ADMIN_HINTS };
        if (rkv_admin(c, ops[call - 15], NULL, NULL, &ar) == RKV_OK)
            rkv_admin_result_free(ar);
        break;
    }
    }
}

/* The routing table a RingMap reply builds (client/route.h): taken here,
 * not through a call, as a routing client would connect to the members'
 * addresses, which the fuzzer chooses. */
static void check_route(const uint8_t *data, size_t size)
{
    Ringkv__Envelope *env = NULL;
    if (rpc_envelope_decode(kv_slice_make((const char *)data, size), &env) != KV_OK)
        return;
    struct client_route *r = NULL;
    if (env->body_case == RINGKV__ENVELOPE__BODY_ADMIN_REPLY &&
        client_route_from_map(env->admin_reply->ring_map, &r) == KV_OK) {
        uint32_t cand[CLIENT_ROUTE_WIDTH_MAX];
        for (int k = 0; k < 8; k++)
            FUZZ_CHECK(client_route_candidates(r, &k, sizeof k, cand) <= r->width);
        client_route_free(r);
    }
    rpc_envelope_free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (g_listen_fd < 0)
        start_node();
    pthread_mutex_lock(&g_mu);
    kv_buf_reset(&g_reply);
    FUZZ_CHECK(kv_buf_append(&g_reply, data + 2, size - 2) == KV_OK);
    g_fuzz_hello = data[1] & 1;
    pthread_mutex_unlock(&g_mu);
    struct rkv_options o;
    rkv_options_init(&o);
    o.retries = 0;
    o.routing_off = true;
    o.connect_timeout_ms = 5000;
    o.request_timeout_ms = 2000;
    const char *hosts[] = { g_host };
    struct rkv_client *c = NULL;
    check_route(data + 2, size - 2);
    int rc = rkv_connect(hosts, 1, &o, &c);
    FUZZ_CHECK(rc == RKV_OK || g_fuzz_hello);
    if (rc == RKV_OK) {
        run_call(c, data[0] % CALLS);
        rkv_close(c);
    }
    return 0;
}
