/* client_fake.c - the scripted fake node of test_client.c (contract in client_fake.h). */
#include "client_fake.h"

#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/status.h"
#include "rpc/frame.h"

static void fake_send(int fd, Ringkv__Envelope *env)
{
    struct kv_buf out = { 0 };
    ck_assert_int_eq(rpc_frame_encode(env, 0, &out), KV_OK);
    ck_assert_int_eq(send(fd, out.data, out.len, MSG_NOSIGNAL), (ssize_t)out.len);
    kv_buf_free(&out);
}

/* Next request on fd, or NULL when the peer closed or the test stops. */
static Ringkv__Envelope *fake_recv(struct fake *f, int fd, struct rpc_frame_decoder *dec,
                                   struct kv_buf *in)
{
    for (;;) {
        size_t used = 0;
        struct kv_slice frame = { NULL, 0 };
        if (in->len > 0) {
            ck_assert_int_eq(rpc_frame_decoder_feed(dec, in->data, in->len, &used, &frame), KV_OK);
            Ringkv__Envelope *env = NULL;
            if (frame.data != NULL)
                ck_assert_int_eq(rpc_envelope_decode(frame, &env), KV_OK);
            memmove(in->data, in->data + used, in->len - used);  /* frame is decoded: safe */
            in->len -= used;
            if (env != NULL)
                return env;
        }
        struct pollfd p[2] = { { fd, POLLIN, 0 }, { f->stop_fd, POLLIN, 0 } };
        ck_assert_int_ge(poll(p, 2, -1), 1);
        if (p[1].revents)
            return NULL;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return NULL;
        ck_assert_int_eq(kv_buf_append(in, buf, (size_t)n), KV_OK);
    }
}

/* The hello: KV_OK to go on serving this connection. */
static int fake_hello(struct fake *f, int fd, Ringkv__Envelope *req)
{
    Ringkv__Envelope reply = RINGKV__ENVELOPE__INIT;
    Ringkv__HelloReply hr = RINGKV__HELLO_REPLY__INIT;
    ck_assert_int_eq(req->body_case, RINGKV__ENVELOPE__BODY_HELLO);
    ck_assert_uint_eq(req->hello->protocol_version, 1);
    ck_assert_int_eq(req->hello->role, RINGKV__ROLE__ROLE_CLIENT);
    reply.request_id = req->request_id;
    if (f->hello_busy) {
        reply.request_id = 0;
        reply.status = KV_EBUSY;
        reply.error = (char *)"too many connections";
    } else if (strcmp(req->hello->cluster_name, f->cluster) != 0) {
        reply.status = KV_EAUTH;
        reply.error = (char *)"wrong cluster";
    } else {
        reply.body_case = RINGKV__ENVELOPE__BODY_HELLO_REPLY;
        reply.hello_reply = &hr;
        hr.protocol_version = 1;
        hr.cluster_name = (char *)f->cluster;
    }
    fake_send(fd, &reply);
    return reply.status;
}

static void fake_note(struct fake *f, const Ringkv__Envelope *req)
{
    const ProtobufCBinaryData *ctx = NULL;
    if (req->body_case == RINGKV__ENVELOPE__BODY_PUT) {
        atomic_fetch_add(&f->puts, 1);
        ctx = &req->put->context;
    } else if (req->body_case == RINGKV__ENVELOPE__BODY_DELETE) {
        ctx = &req->delete_->context;
    } else if (req->body_case == RINGKV__ENVELOPE__BODY_BATCH_GET ||
               req->body_case == RINGKV__ENVELOPE__BODY_BATCH_PUT) {
        f->batch_chunks++;
    }
    if (ctx != NULL && ctx->len <= sizeof f->seen_context) {
        if (ctx->len > 0)
            memcpy(f->seen_context, ctx->data, ctx->len);
        f->seen_context_len = ctx->len;
    }
}

/* Serves one connection until the script closes it, the peer goes, or stop. */
static void fake_serve(struct fake *f, int fd, int conn)
{
    struct rpc_frame_decoder dec;
    struct kv_buf in = { 0 };
    rpc_frame_decoder_init(&dec, 0);
    Ringkv__Envelope *req = fake_recv(f, fd, &dec, &in);
    bool open = req != NULL && fake_hello(f, fd, req) == KV_OK;
    rpc_envelope_free(req);
    for (int n = 0; open && (req = fake_recv(f, fd, &dec, &in)) != NULL; n++) {
        atomic_fetch_add(&f->requests, 1);
        fake_note(f, req);
        Ringkv__Envelope reply = RINGKV__ENVELOPE__INIT;
        reply.request_id = req->request_id;
        enum fake_action a = f->script(f, conn, n, req, &reply);
        if (a == FAKE_REPLY)
            fake_send(fd, &reply);
        open = a != FAKE_CLOSE;
        rpc_envelope_free(req);
    }
    kv_buf_free(&in);
    rpc_frame_decoder_free(&dec);
    close(fd);
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    for (int conn = 0;; conn++) {
        struct pollfd p[2] = { { f->listen_fd, POLLIN, 0 }, { f->stop_fd, POLLIN, 0 } };
        ck_assert_int_ge(poll(p, 2, -1), 1);
        if (p[1].revents)
            return NULL;
        int fd = accept(f->listen_fd, NULL, NULL);
        ck_assert_int_ge(fd, 0);
        atomic_fetch_add(&f->connections, 1);
        fake_serve(f, fd, conn);
    }
}

uint16_t dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

void fake_start(struct fake *f, fake_script script)
{
    memset(f, 0, sizeof *f);
    f->script = script;
    f->cluster = "ringkv";
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(f->listen_fd, 16), 0);
    ck_assert_int_eq(getsockname(f->listen_fd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    f->stop_fd = eventfd(0, EFD_CLOEXEC);
    ck_assert_int_ge(f->stop_fd, 0);
    ck_assert_int_eq(pthread_create(&f->tid, NULL, fake_main, f), 0);
}

void fake_stop(struct fake *f)
{
    uint64_t one = 1;
    ck_assert_int_eq(write(f->stop_fd, &one, sizeof one), (ssize_t)sizeof one);
    pthread_join(f->tid, NULL);
    close(f->listen_fd);
    close(f->stop_fd);
}

/* Connects a client to f (and, first, to dead hosts if ndead > 0). */
int fake_client(struct fake *f, int ndead, const struct rkv_options *o, struct rkv_client **out)
{
    static char specs[4][32];
    const char *hosts[4];
    int n = 0;
    for (; n < ndead && n < 3; n++) {
        snprintf(specs[n], sizeof specs[n], "127.0.0.1:%u", dead_port());
        hosts[n] = specs[n];
    }
    snprintf(specs[n], sizeof specs[n], "127.0.0.1:%u", f->port);
    hosts[n] = specs[n];
    return rkv_connect(hosts, (size_t)n + 1, o, out);
}

struct rkv_options fast_options(uint32_t retries)
{
    struct rkv_options o;
    rkv_options_init(&o);
    o.retries = retries;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 2;
    o.request_timeout_ms = 10000;
    o.routing_off = true;  /* one fake node: every request to it, no ring fetch */
    return o;
}

