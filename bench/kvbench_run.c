/* kvbench_run.c - see kvbench_run.h. */
#include "bench/kvbench_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/conn.h"
#include "client/policy.h"
#include "client/ringkv.h"
#include "common/buf.h"
#include "proto/kv.pb-c.h"
#include "rpc/frame.h"

const char *const kvb_workload_names[KVB_WORKLOAD_COUNT] = { "a", "b", "c", "d", "f", "set", "get" };
const char *const kvb_op_names[KVB_OP_COUNT] = { "read", "update", "insert", "rmw" };

/* One outstanding operation. */
struct kvb_slot {
    uint64_t id;            /* request id of its current request; 0 = free */
    uint64_t start_ns;
    uint64_t key;
    enum kvb_op op;
    bool rmw_writing;       /* F: the read is done, the write is out */
};

struct kvb_conn {
    struct client_conn cc;          /* socket + hello; its buffers are not used after open */
    struct rpc_frame_decoder dec;
    struct kv_buf out;
    size_t out_pos;
    bool want_out;                  /* EPOLLOUT is armed */
    uint64_t next_id;
    uint32_t outstanding;
    struct kvb_slot slots[];        /* cfg->pipeline */
};

/* ---- setup ---- */

static int thread_connect(struct kvb_thread *t, struct kvb_conn *c)
{
    char host[CLIENT_HOST_BYTES_MAX], port[CLIENT_PORT_BYTES_MAX];
    struct kv_buf err = { 0 };
    int rc = client_parse_hostport(t->sh->cfg->host, host, sizeof host, port, sizeof port);
    if (rc != KV_OK) {
        snprintf(t->fatal_msg, sizeof t->fatal_msg, "bad --host '%s'", t->sh->cfg->host);
        return rc;
    }
    struct client_conn_target target = { host, port, t->sh->cfg->cluster, NULL, 0, t->sh->cfg->user,
                                         t->sh->cfg->password };
    client_conn_init(&c->cc);
    rc = client_conn_open(&c->cc, &target, client_now_ms() + 5000, &err);
    if (rc != KV_OK)
        snprintf(t->fatal_msg, sizeof t->fatal_msg, "%s", err.data ? err.data : kv_status_str(rc));
    kv_buf_free(&err);
    if (rc != KV_OK)
        return rc;
    rpc_frame_decoder_init(&c->dec, 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->cc.fd, &ev) != 0) {
        snprintf(t->fatal_msg, sizeof t->fatal_msg, "epoll_ctl: %s", strerror(errno));
        return KV_EIO;
    }
    return KV_OK;
}

/* SDK mode: one client for the hosts of --host (comma-separated). */
static int sdk_connect(struct kvb_thread *t)
{
    const struct kvb_config *cfg = t->sh->cfg;
    char *list = strdup(cfg->host), *save = NULL;
    const char *hosts[RKV_HOSTS_MAX];
    size_t n = 0;
    for (char *h = list ? strtok_r(list, ",", &save) : NULL; h && n < RKV_HOSTS_MAX; h = strtok_r(NULL, ",", &save))
        hosts[n++] = h;
    struct rkv_options o;
    rkv_options_init(&o);
    o.cluster_name = cfg->cluster;
    o.routing_off = !cfg->routing;
    o.user = cfg->user;
    o.password = cfg->password;
    int rc = list ? rkv_connect(hosts, n, &o, &t->client) : KV_ENOMEM;
    if (rc != KV_OK)
        snprintf(t->fatal_msg, sizeof t->fatal_msg, "%s", rkv_strerror(rc));
    free(list);
    return rc;
}

static size_t conn_bytes(const struct kvb_config *cfg)
{
    return sizeof(struct kvb_conn) + cfg->pipeline * sizeof(struct kvb_slot);
}

static struct kvb_conn *conn_at(struct kvb_thread *t, uint32_t i)
{
    return (struct kvb_conn *)((char *)t->conns + i * conn_bytes(t->sh->cfg));
}

int kvb_thread_init(struct kvb_thread *t, struct kvb_shared *sh, uint32_t index, uint32_t nconns)
{
    const struct kvb_config *cfg = sh->cfg;
    memset(t, 0, sizeof *t);
    t->sh = sh;
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    t->conns = calloc(nconns, conn_bytes(cfg));
    t->value = malloc(cfg->value_bytes + 1);
    t->rbuf = malloc(KVB_READ_BYTES);
    if (t->epfd < 0 || !t->conns || !t->value || !t->rbuf) {
        snprintf(t->fatal_msg, sizeof t->fatal_msg, "out of memory or descriptors");
        return KV_ENOMEM;
    }
    kv_rand_seed(&t->rand, cfg->seed * 1000003u + index);
    for (uint32_t i = 0; i < cfg->value_bytes; i++)
        t->value[i] = (char)('a' + kv_rand_below(&t->rand, 26));
    kvb_scrambled_init(&t->zipf, cfg->keys);
    kvb_zipf_init(&t->latest, cfg->keys);
    for (uint32_t i = 0; i < KVB_OP_COUNT; i++)
        kvb_hist_reset(&t->hist[i]);
    if (cfg->sdk)
        return sdk_connect(t);
    for (uint32_t i = 0; i < nconns; i++) {
        int rc = thread_connect(t, conn_at(t, i));
        t->nconns = i + 1;
        if (rc != KV_OK)
            return rc;
    }
    return KV_OK;
}

void kvb_thread_free(struct kvb_thread *t)
{
    for (uint32_t i = 0; t->conns && i < t->nconns; i++) {
        struct kvb_conn *c = conn_at(t, i);
        client_conn_close(&c->cc);
        rpc_frame_decoder_free(&c->dec);
        kv_buf_free(&c->out);
    }
    rkv_close(t->client);
    if (t->epfd >= 0)
        close(t->epfd);
    free(t->conns);
    free(t->value);
    free(t->rbuf);
}

/* ---- choosing and sending operations ---- */

static bool take_measured_op(struct kvb_thread *t)
{
    const struct kvb_config *cfg = t->sh->cfg;
    int phase = atomic_load_explicit(&t->sh->phase, memory_order_relaxed);
    if (phase == KVB_STOP)
        return false;
    if (phase != KVB_MEASURE || cfg->ops == 0)
        return true;
    return atomic_fetch_add_explicit(&t->sh->ops_issued, 1, memory_order_relaxed) < cfg->ops;
}

/* D's "latest": newest keys hottest, over the keys that exist now. */
static uint64_t latest_key(struct kvb_thread *t)
{
    uint64_t n = atomic_load_explicit(&t->sh->inserted, memory_order_relaxed);
    kvb_zipf_grow(&t->latest, n);
    return n - 1 - kvb_zipf_next(&t->latest, &t->rand) % n;
}

/* Picks the next operation of the workload into s. False: none to send. */
static bool choose_op(struct kvb_thread *t, struct kvb_slot *s)
{
    const struct kvb_config *cfg = t->sh->cfg;
    if (atomic_load_explicit(&t->sh->phase, memory_order_relaxed) == KVB_LOAD) {
        s->key = atomic_fetch_add_explicit(&t->sh->next_key, 1, memory_order_relaxed);
        s->op = KVB_OP_INSERT;
        return s->key < cfg->keys;
    }
    if (!take_measured_op(t))
        return false;
    double u = kv_rand_double(&t->rand);
    switch (cfg->workload) {
    case KVB_A: s->op = u < 0.5 ? KVB_OP_READ : KVB_OP_UPDATE; break;
    case KVB_B: s->op = u < 0.95 ? KVB_OP_READ : KVB_OP_UPDATE; break;
    case KVB_C: s->op = KVB_OP_READ; break;
    case KVB_D: s->op = u < 0.95 ? KVB_OP_READ : KVB_OP_INSERT; break;
    case KVB_F: s->op = u < 0.5 ? KVB_OP_READ : KVB_OP_RMW; break;
    case KVB_SET: s->op = KVB_OP_UPDATE; break;
    case KVB_GET: s->op = KVB_OP_READ; break;
    default: return false;
    }
    if (cfg->workload == KVB_SET || cfg->workload == KVB_GET)
        s->key = kv_rand_below(&t->rand, cfg->keys);
    else if (cfg->workload == KVB_D && s->op == KVB_OP_INSERT)
        s->key = atomic_fetch_add_explicit(&t->sh->next_key, 1, memory_order_relaxed);
    else if (cfg->workload == KVB_D)
        s->key = latest_key(t);
    else
        s->key = kvb_scrambled_next(&t->zipf, &t->rand);
    return true;
}

/* Encodes the request of slot s (a get, or a put for writes and the
 * second half of a read-modify-write) onto c's output. */
static int send_request(struct kvb_thread *t, struct kvb_conn *c, struct kvb_slot *s)
{
    char key[KVB_KEY_BYTES + 1];
    snprintf(key, sizeof key, "key:%012llu", (unsigned long long)(s->key % 1000000000000ull));
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__Get get = RINGKV__GET__INIT;
    Ringkv__Put put = RINGKV__PUT__INIT;
    ProtobufCBinaryData k = { KVB_KEY_BYTES, (uint8_t *)key };
    s->id = ++c->next_id;
    env.request_id = s->id;
    if (s->op == KVB_OP_READ || (s->op == KVB_OP_RMW && !s->rmw_writing)) {
        get.key = k;
        env.body_case = RINGKV__ENVELOPE__BODY_GET;
        env.get = &get;
    } else {
        put.key = k;
        put.value.data = (uint8_t *)t->value;
        put.value.len = t->sh->cfg->value_bytes;
        env.body_case = RINGKV__ENVELOPE__BODY_PUT;
        env.put = &put;
    }
    return rpc_frame_encode(&env, 0, &c->out);
}

/* Fills c's pipeline with new operations. */
static int issue(struct kvb_thread *t, struct kvb_conn *c)
{
    uint32_t depth = t->sh->cfg->pipeline;
    for (uint32_t i = 0; i < depth && c->outstanding < depth; i++) {
        struct kvb_slot *s = &c->slots[i];
        if (s->id != 0)
            continue;
        if (!choose_op(t, s))
            return KV_OK;
        s->rmw_writing = false;
        s->start_ns = kv_mono_ns();
        int rc = send_request(t, c, s);
        if (rc != KV_OK)
            return rc;
        c->outstanding++;
    }
    return KV_OK;
}

/* Writes c's output; arms EPOLLOUT while the socket is full. */
static int flush(struct kvb_thread *t, struct kvb_conn *c)
{
    while (c->out_pos < c->out.len) {
        ssize_t n = send(c->cc.fd, c->out.data + c->out_pos, c->out.len - c->out_pos, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0)
            return KV_ECLOSED;
        c->out_pos += (size_t)n;
    }
    bool pending = c->out_pos < c->out.len;
    if (!pending) {
        kv_buf_reset(&c->out);
        c->out_pos = 0;
    }
    if (pending != c->want_out) {
        struct epoll_event ev = { .events = EPOLLIN | (pending ? EPOLLOUT : 0), .data.ptr = c };
        if (epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->cc.fd, &ev) != 0)
            return KV_EIO;
        c->want_out = pending;
    }
    return KV_OK;
}

/* ---- replies ---- */

static struct kvb_slot *find_slot(struct kvb_conn *c, uint32_t depth, uint64_t id)
{
    for (uint32_t i = 0; i < depth; i++)
        if (c->slots[i].id == id)
            return &c->slots[i];
    return NULL;
}

/* Counts a finished operation (recorded only inside the measured window). */
static void finish_op(struct kvb_thread *t, struct kvb_slot *s, int status, bool not_found)
{
    uint64_t now = kv_mono_ns(), lat = now - s->start_ns;
    atomic_fetch_add_explicit(&t->progress_ops, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->progress_lat_ns, lat, memory_order_relaxed);
    if (s->op == KVB_OP_INSERT && status == KV_OK && t->sh->cfg->workload == KVB_D &&
        atomic_load_explicit(&t->sh->phase, memory_order_relaxed) != KVB_LOAD)
        atomic_fetch_add_explicit(&t->sh->inserted, 1, memory_order_relaxed);
    uint64_t start = atomic_load_explicit(&t->sh->measure_start_ns, memory_order_relaxed);
    uint64_t end = atomic_load_explicit(&t->sh->measure_end_ns, memory_order_relaxed);
    if (start == 0 || s->start_ns < start || (end != 0 && now > end))
        return;
    kvb_hist_record(&t->hist[s->op], lat);
    if (status != KV_OK)
        t->errors[s->op]++;
    t->not_found += not_found;
    t->last_reply_ns = now;
}

static int handle_reply(struct kvb_thread *t, struct kvb_conn *c, const Ringkv__Envelope *env)
{
    struct kvb_slot *s = find_slot(c, t->sh->cfg->pipeline, env->request_id);
    if (s == NULL || env->request_id == 0) {
        snprintf(t->fatal_msg, sizeof t->fatal_msg, "node error on the connection: %s",
                 env->error && env->error[0] ? env->error : "reply to an unknown request");
        return KV_EPROTO;
    }
    int status = client_status_from_wire(env->status);
    bool is_get = env->body_case == RINGKV__ENVELOPE__BODY_GET_REPLY;
    bool not_found = status == KV_OK && is_get && !env->get_reply->found;
    if (s->op == KVB_OP_RMW && !s->rmw_writing && status == KV_OK) {
        s->rmw_writing = true;  /* the read half is back: send the write, same slot, same clock */
        return send_request(t, c, s);
    }
    finish_op(t, s, status, not_found);
    s->id = 0;
    c->outstanding--;
    return issue(t, c);
}

/* Reads what is there and handles every whole reply. */
static int on_readable(struct kvb_thread *t, struct kvb_conn *c)
{
    for (;;) {
        ssize_t n = recv(c->cc.fd, t->rbuf, KVB_READ_BYTES, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return KV_OK;
        if (n <= 0) {
            snprintf(t->fatal_msg, sizeof t->fatal_msg, "connection closed by the node");
            return KV_ECLOSED;
        }
        size_t pos = 0;
        while (pos < (size_t)n) {
            size_t used = 0;
            struct kv_slice frame;
            Ringkv__Envelope *env = NULL;
            int rc = rpc_frame_decoder_feed(&c->dec, t->rbuf + pos, (size_t)n - pos, &used, &frame);
            pos += used;
            if (rc == KV_OK && frame.data != NULL && (rc = rpc_envelope_decode(frame, &env)) == KV_OK) {
                rc = handle_reply(t, c, env);
                rpc_envelope_free(env);
            }
            if (rc != KV_OK) {
                if (t->fatal_msg[0] == '\0')
                    snprintf(t->fatal_msg, sizeof t->fatal_msg, "bad reply: %s", kv_status_str(rc));
                return rc;
            }
        }
        if ((size_t)n < KVB_READ_BYTES)
            return KV_OK;  /* the socket is most likely empty: skip the recv that says EAGAIN */
    }
}

/* ---- SDK mode ---- */

/* One operation through the SDK; returns its status. */
static int sdk_op(struct kvb_thread *t, const struct kvb_slot *s, bool *not_found)
{
    char key[KVB_KEY_BYTES + 1];
    snprintf(key, sizeof key, "key:%012llu", (unsigned long long)(s->key % 1000000000000ull));
    uint32_t vlen = t->sh->cfg->value_bytes;
    *not_found = false;
    if (s->op != KVB_OP_READ && s->op != KVB_OP_RMW)
        return rkv_put(t->client, key, KVB_KEY_BYTES, t->value, vlen, NULL, NULL, NULL);
    struct rkv_get_result *r = NULL;
    int rc = rkv_get(t->client, key, KVB_KEY_BYTES, NULL, &r);
    if (rc == RKV_OK)
        *not_found = !r->found;
    rkv_get_result_free(r);
    if (rc == RKV_OK && s->op == KVB_OP_RMW)
        rc = rkv_put(t->client, key, KVB_KEY_BYTES, t->value, vlen, NULL, NULL, NULL);
    return rc;
}

/* The worker of SDK mode: one blocking operation at a time until the
 * phase has none left. A failed operation is counted, not fatal (the SDK
 * already retried or failed over). */
static void *sdk_main(struct kvb_thread *t)
{
    struct kvb_slot s;
    memset(&s, 0, sizeof s);
    while (choose_op(t, &s)) {
        bool not_found;
        s.start_ns = kv_mono_ns();
        int rc = sdk_op(t, &s, &not_found);
        finish_op(t, &s, rc, not_found);
    }
    t->fatal = KV_OK;
    atomic_store(&t->finished, true);
    return NULL;
}

static uint32_t total_outstanding(struct kvb_thread *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nconns; i++)
        n += conn_at(t, i)->outstanding;
    return n;
}

/* Starts every connection's pipeline; returns the first error. */
static int start_all(struct kvb_thread *t)
{
    for (uint32_t i = 0; i < t->nconns; i++) {
        struct kvb_conn *c = conn_at(t, i);
        int rc = issue(t, c);
        if (rc == KV_OK)
            rc = flush(t, c);
        if (rc != KV_OK)
            return rc;
    }
    return KV_OK;
}

void *kvb_thread_main(void *arg)
{
    struct kvb_thread *t = arg;
    if (t->client)
        return sdk_main(t);
    struct epoll_event evs[KVB_EPOLL_EVENTS];
    int rc = start_all(t);
    while (rc == KV_OK) {
        if (total_outstanding(t) == 0) {
            int phase = atomic_load_explicit(&t->sh->phase, memory_order_relaxed);
            if (phase == KVB_LOAD || phase == KVB_STOP || t->sh->cfg->ops != 0)
                break;      /* nothing left to send in this phase */
            rc = start_all(t);  /* idle through a phase change: start again */
            continue;
        }
        int n = epoll_wait(t->epfd, evs, KVB_EPOLL_EVENTS, KVB_POLL_MS);
        if (n < 0 && errno != EINTR)
            rc = KV_EIO;
        for (int i = 0; i < n && rc == KV_OK; i++) {
            struct kvb_conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                rc = on_readable(t, c);
            if (rc == KV_OK)
                rc = flush(t, c);
        }
    }
    t->fatal = rc;
    atomic_store(&t->finished, true);
    return NULL;
}
