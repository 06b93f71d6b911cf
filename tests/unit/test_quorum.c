/*
 * test_quorum.c - the pure parts of quorum requests and hinted handoff
 * (R/W arithmetic, target plans, tallies, hint key and record layout,
 * expiry, backoff, rate bucket), the cluster.proto form of coordinator
 * messages, and single steps of the request state machine with three
 * coordinators over in-memory engines and a hand-driven message queue.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord.h"
#include "coordinator/coord_msg.h"
#include "coordinator/hint.h"
#include "coordinator/keyspace.h"
#include "coordinator/quorum.h"
#include "gossip/ring.h"
#include "storage/engine.h"
#include "storage/env.h"

#define S(x) kv_slice_str(x)

/* ---- R / W ---- */

START_TEST(required_counts_follow_the_level)
{
    uint32_t k = 99;
    ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_ONE, 0, 3, 2, &k), KV_OK);
    ck_assert_uint_eq(k, 1);
    const uint32_t quorum_of[] = { 0, 1, 2, 2, 3, 3 };
    for (uint32_t n = 1; n <= 5; n++) {
        ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_QUORUM, 0, n, 2, &k), KV_OK);
        ck_assert_uint_eq(k, quorum_of[n]);
        ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_ALL, 0, n, 2, &k), KV_OK);
        ck_assert_uint_eq(k, n);
    }
    ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_DEFAULT, 0, 3, 2, &k), KV_OK);
    ck_assert_uint_eq(k, 2);
    ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_DEFAULT, 0, 1, 2, &k), KV_OK);
    ck_assert_uint_eq(k, 1); /* the default is clamped to N */
    ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_EXPLICIT, 3, 3, 2, &k), KV_OK);
    ck_assert_uint_eq(k, 3);
}
END_TEST

START_TEST(required_counts_refuse_impossible_requests)
{
    uint32_t k = 99;
    ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_EXPLICIT, 0, 3, 2, &k), KV_EINVAL);
    ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_EXPLICIT, 4, 3, 2, &k), KV_EINVAL);
    ck_assert_int_eq(quorum_required((enum coord_consistency)9, 0, 3, 2, &k), KV_EINVAL);
    ck_assert_int_eq(quorum_required(COORD_CONSISTENCY_ONE, 0, 0, 2, &k), KV_EINVAL);
    ck_assert_uint_eq(k, 99); /* untouched on failure */
}
END_TEST

/* ---- plans ---- */

START_TEST(plan_replaces_each_down_primary_with_the_next_live_fallback)
{
    const bool alive[] = { true, false, true, false, true, true };
    struct quorum_plan p;
    quorum_plan(alive, 6, 3, QUORUM_NONE, false, &p);
    ck_assert_uint_eq(p.n, 3);
    ck_assert_uint_eq(p.t[0].pref, 0);
    ck_assert_uint_eq(p.t[0].hint_for, QUORUM_NONE);
    ck_assert_uint_eq(p.t[1].pref, 4); /* 3 is down too */
    ck_assert_uint_eq(p.t[1].hint_for, 1);
    ck_assert_uint_eq(p.t[2].pref, 2);
    ck_assert_uint_eq(p.self_target, QUORUM_NONE);
    ck_assert(!p.self_primary);
}
END_TEST

START_TEST(plan_with_primary_only_leaves_down_primaries_out)
{
    const bool alive[] = { false, true, false, true, true };
    struct quorum_plan p;
    quorum_plan(alive, 5, 3, 1, true, &p);
    ck_assert_uint_eq(p.n, 1);
    ck_assert_uint_eq(p.t[0].pref, 1);
    ck_assert_uint_eq(p.self_target, 0);
    ck_assert(p.self_primary);
}
END_TEST

START_TEST(plan_runs_out_of_fallbacks_and_knows_this_node_as_one)
{
    const bool alive[] = { false, false, false, true };
    struct quorum_plan p;
    quorum_plan(alive, 4, 3, 3, false, &p);
    ck_assert_uint_eq(p.n, 1);          /* one fallback for three down primaries */
    ck_assert_uint_eq(p.t[0].pref, 3);
    ck_assert_uint_eq(p.t[0].hint_for, 0);
    ck_assert_uint_eq(p.self_target, 0); /* this node, standing in */
    ck_assert(!p.self_primary);
}
END_TEST

START_TEST(tally_is_met_lost_or_pending)
{
    struct quorum_tally t = { 2, 3, 0, 0 };
    ck_assert_int_eq(quorum_tally_state(&t), QUORUM_PENDING);
    t.ok = 1, t.failed = 1;
    ck_assert_int_eq(quorum_tally_state(&t), QUORUM_PENDING);
    t.failed = 2;
    ck_assert_int_eq(quorum_tally_state(&t), QUORUM_LOST);
    t.ok = 2, t.failed = 1;
    ck_assert_int_eq(quorum_tally_state(&t), QUORUM_MET);
    ck_assert_int_eq(quorum_write_failure_status(true), KV_EINDOUBT);
    ck_assert_int_eq(quorum_write_failure_status(false), KV_EUNAVAIL);
    ck_assert_int_eq(quorum_read_failure_status(true), KV_ETIMEDOUT);
    ck_assert_int_eq(quorum_read_failure_status(false), KV_EUNAVAIL);
}
END_TEST

/* ---- hint keys and records ---- */

START_TEST(hint_key_layout_matches_the_documented_example)
{
    struct keyspace ks;
    ck_assert_int_eq(keyspace_init(&ks, 256), KV_OK);
    char buf[64];
    size_t n = keyspace_hint_encode(S("n2"), 5, S("k"), buf);
    ck_assert_uint_eq(n, 7);
    ck_assert_mem_eq(buf, "\x02\x02n2\x00\x05k", 7);
    struct kv_slice target, key;
    uint32_t p = 0;
    ck_assert_int_eq(keyspace_hint_decode(&ks, kv_slice_make(buf, n), &target, &p, &key), KV_OK);
    ck_assert(kv_slice_eq(target, S("n2")) && kv_slice_eq(key, S("k")));
    ck_assert_uint_eq(p, 5);
}
END_TEST

START_TEST(malformed_hint_keys_are_refused)
{
    struct keyspace ks;
    ck_assert_int_eq(keyspace_init(&ks, 4), KV_OK);
    struct kv_slice t, k;
    uint32_t p;
    ck_assert_int_eq(keyspace_hint_decode(&ks, kv_slice_make("\x01\x02n2\x00\x01k", 7), &t, &p, &k), KV_EINVAL);
    ck_assert_int_eq(keyspace_hint_decode(&ks, kv_slice_make("\x02\x00\x00\x01k", 5), &t, &p, &k), KV_EINVAL);
    ck_assert_int_eq(keyspace_hint_decode(&ks, kv_slice_make("\x02\x09n2\x00\x01", 6), &t, &p, &k), KV_EINVAL);
    ck_assert_int_eq(keyspace_hint_decode(&ks, kv_slice_make("\x02\x02n2\x00\x04k", 7), &t, &p, &k), KV_EINVAL);
    ck_assert_int_eq(keyspace_hint_decode(&ks, kv_slice_make("\x02\x02n2\x00", 5), &t, &p, &k), KV_EINVAL);
    /* An empty user key is fine. */
    ck_assert_int_eq(keyspace_hint_decode(&ks, kv_slice_make("\x02\x02n2\x00\x03", 6), &t, &p, &k), KV_OK);
    ck_assert_uint_eq(k.len, 0);
}
END_TEST

START_TEST(hints_of_one_target_are_one_contiguous_range)
{
    /* Target "a" sorts wholly before target "ab" and after nothing of "b". */
    char a_hi[64], ab_lo[64], b_lo[64];
    size_t na = keyspace_hint_encode(S("a"), 65535, S("\xff\xff"), a_hi);
    size_t nab = keyspace_hint_encode(S("ab"), 0, S(""), ab_lo);
    size_t nb = keyspace_hint_encode(S("b"), 0, S(""), b_lo);
    ck_assert_int_lt(kv_slice_cmp(kv_slice_make(a_hi, na), kv_slice_make(b_lo, nb)), 0);
    ck_assert_int_lt(kv_slice_cmp(kv_slice_make(b_lo, nb), kv_slice_make(ab_lo, nab)), 0);
}
END_TEST

START_TEST(hint_record_round_trips_and_matches_the_example)
{
    struct kv_buf b = { 0 };
    ck_assert_int_eq(hint_record_encode(1700000000000ull, S("obj"), &b), KV_OK);
    ck_assert_uint_eq(b.len, HINT_HEADER_BYTES + 3);
    ck_assert_mem_eq(b.data, "\x01\x00\x68\xe5\xcf\x8b\x01\x00\x00obj", 12);
    uint64_t at = 0;
    struct kv_slice obj;
    ck_assert_int_eq(hint_record_decode(kv_slice_make(b.data, b.len), &at, &obj), KV_OK);
    ck_assert_uint_eq(at, 1700000000000ull);
    ck_assert(kv_slice_eq(obj, S("obj")));
    b.data[0] = 0x02;
    ck_assert_int_eq(hint_record_decode(kv_slice_make(b.data, b.len), &at, &obj), KV_ECORRUPT);
    ck_assert_int_eq(hint_record_decode(kv_slice_make("\x01\x00", 2), &at, &obj), KV_ECORRUPT);
    kv_buf_free(&b);
}
END_TEST

START_TEST(hints_expire_at_the_end_of_their_window_only)
{
    ck_assert(!hint_expired(1000, 1499, 500));
    ck_assert(hint_expired(1000, 1500, 500));
    ck_assert(hint_expired(1000, 99999, 500));
    ck_assert(!hint_expired(5000, 1000, 500)); /* the clock went back: keep it */
}
END_TEST

START_TEST(backoff_doubles_up_to_the_cap_with_jitter)
{
    struct kv_rand r;
    kv_rand_seed(&r, 7);
    for (int i = 0; i < 100; i++) {
        uint64_t d1 = hint_backoff_ms(1, 100, 1000, &r), d3 = hint_backoff_ms(3, 100, 1000, &r),
                 d9 = hint_backoff_ms(9, 100, 1000, &r);
        ck_assert(d1 >= 50 && d1 <= 100);
        ck_assert(d3 >= 200 && d3 <= 400);
        ck_assert(d9 >= 500 && d9 <= 1000);
    }
}
END_TEST

START_TEST(rate_bucket_allows_a_second_of_burst_then_the_rate)
{
    struct hint_bucket b;
    hint_bucket_init(&b, 10, 1000);
    for (int i = 0; i < 10; i++)
        ck_assert(hint_bucket_take(&b, 1000));
    ck_assert(!hint_bucket_take(&b, 1000));
    ck_assert_uint_eq(hint_bucket_next_ms(&b, 1000), 1100);
    ck_assert(!hint_bucket_take(&b, 1099));
    ck_assert(hint_bucket_take(&b, 1100));
    /* A long idle time refills to the burst, no more. */
    int n = 0;
    while (hint_bucket_take(&b, 100000))
        n++;
    ck_assert_int_eq(n, 10);
}
END_TEST

/* ---- messages ---- */

static void round_trip(const struct coord_msg *m, struct coord_msg *out, Ringkv__ClusterMessage **pb)
{
    struct kv_buf b = { 0 };
    ck_assert_int_eq(coord_msg_encode(m, &b), KV_OK);
    ck_assert_int_eq(coord_msg_decode(b.data, b.len, pb, out), KV_OK);
    kv_buf_free(&b);
}

START_TEST(every_message_type_round_trips_through_cluster_proto)
{
    struct coord_msg in[] = {
        { .type = COORD_MSG_REPLICA_GET, .req_id = 1, .partition = 3, .key = S("k"), .hint_for = "n9" },
        { .type = COORD_MSG_REPLICA_GET_REPLY, .req_id = 2, .status = KV_EIO, .found = true, .object = S("o") },
        { .type = COORD_MSG_REPLICA_PUT, .req_id = 3, .partition = 4, .key = S("k"), .object = S("obj") },
        { .type = COORD_MSG_REPLICA_PUT_REPLY, .req_id = 4, .status = KV_ETOOBIG },
        { .type = COORD_MSG_FORWARD, .req_id = 5, .op = COORD_OP_PUT, .key = S("k"), .value = S("v"),
          .context = S("\x01\x00"), .ttl_ms = 9, .condition = COORD_PUT_IF_ABSENT, .arg = -4,
          .options = { COORD_CONSISTENCY_EXPLICIT, 2, 750, true } },
        { .type = COORD_MSG_FORWARD_REPLY, .req_id = 6, .context = S("c"), .flag = true, .value_i64 = -7 },
        { .type = COORD_MSG_HINT, .req_id = 7, .partition = 1, .key = S("k"), .object = S("obj") },
        { .type = COORD_MSG_HINT_REPLY, .req_id = 8, .status = KV_OK },
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        struct coord_msg out;
        Ringkv__ClusterMessage *pb = NULL;
        round_trip(&in[i], &out, &pb);
        ck_assert_int_eq(out.type, in[i].type);
        ck_assert_uint_eq(out.req_id, in[i].req_id);
        ck_assert_int_eq(out.status, in[i].status);
        ck_assert_uint_eq(out.partition, in[i].partition);
        ck_assert(kv_slice_eq(out.key, in[i].key) && kv_slice_eq(out.object, in[i].object));
        ck_assert(kv_slice_eq(out.value, in[i].value) && kv_slice_eq(out.context, in[i].context));
        ck_assert_str_eq(out.hint_for ? out.hint_for : "", in[i].hint_for ? in[i].hint_for : "");
        ck_assert(out.found == in[i].found && out.flag == in[i].flag);
        ck_assert(out.ttl_ms == in[i].ttl_ms && out.arg == in[i].arg && out.value_i64 == in[i].value_i64);
        ck_assert(out.op == in[i].op && out.condition == in[i].condition);
        ck_assert(memcmp(&out.options, &in[i].options, sizeof out.options) == 0);
        ringkv__cluster_message__free_unpacked(pb, NULL);
    }
}
END_TEST

START_TEST(malformed_messages_are_protocol_errors)
{
    struct coord_msg out;
    Ringkv__ClusterMessage *pb = NULL;
    ck_assert_int_eq(coord_msg_decode("\xff\xff\xff", 3, &pb, &out), KV_EPROTO);
    ck_assert_int_eq(coord_msg_decode("", 0, &pb, &out), KV_EPROTO); /* no body */
    struct coord_msg bad_status = { .type = COORD_MSG_HINT_REPLY, .req_id = 1, .status = -100 };
    struct coord_msg bad_op = { .type = COORD_MSG_FORWARD, .req_id = 1, .op = (enum coord_write_op)9 };
    const struct coord_msg *bad[] = { &bad_status, &bad_op };
    for (int i = 0; i < 2; i++) {
        struct kv_buf b = { 0 };
        ck_assert_int_eq(coord_msg_encode(bad[i], &b), KV_OK);
        ck_assert_int_eq(coord_msg_decode(b.data, b.len, &pb, &out), KV_EPROTO);
        kv_buf_free(&b);
    }
}
END_TEST

/* ---- the request state machine, one step at a time ---- */

#define NODES 3
#define QUEUE_MAX 64

struct qmsg {
    uint32_t from, to;
    struct kv_buf bytes;
};

static struct {
    struct env *env;
    struct engine *engine[NODES];
    struct coord *coord[NODES];
    struct ring *ring;
    bool alive[NODES][NODES];
    struct qmsg q[QUEUE_MAX];
    uint32_t nq;
    uint64_t now;
    struct kv_clock clock;
    struct coord_net_ops net[NODES];
    struct coord_cluster_ops cops[NODES];
    uint32_t idx[NODES];
    uint64_t hints_bytes_max[NODES]; /* 0: the default */
} h;

static uint64_t h_ms(const struct kv_clock *c) { return h.now; }

static uint32_t node_of(const char *id) { return (uint32_t)(id[1] - '0'); }

static int h_send(void *ctx, const char *node_id, const struct coord_msg *msg)
{
    uint32_t from = *(uint32_t *)ctx;
    ck_assert_uint_lt(h.nq, QUEUE_MAX);
    struct qmsg *m = &h.q[h.nq++];
    m->from = from;
    m->to = node_of(node_id);
    m->bytes = (struct kv_buf){ 0 };
    return coord_msg_encode(msg, &m->bytes);
}

static const struct ring *h_ring(void *ctx) { return h.ring; }
static bool h_alive(void *ctx, const char *id) { return h.alive[*(uint32_t *)ctx][node_of(id)]; }

static void h_open(uint32_t i)
{
    char dir[8], id[4];
    snprintf(dir, sizeof dir, "/n%u", i);
    snprintf(id, sizeof id, "n%u", i);
    if (!h.engine[i]) {
        struct engine_options eo;
        engine_options_default(&eo);
        eo.env = h.env;
        ck_assert_int_eq(engine_open(dir, &eo, &h.engine[i]), KV_OK);
    }
    struct coord_config cc;
    coord_config_default(&cc);
    cc.node_id = id;
    cc.partitions = 16;
    cc.engine = h.engine[i];
    cc.clock = &h.clock;
    cc.net = &h.net[i];
    cc.cluster = &h.cops[i];
    cc.rand_seed = 100 + i + h.now; /* another seed after a restart */
    if (h.hints_bytes_max[i])
        cc.hints_bytes_max = h.hints_bytes_max[i];
    ck_assert_int_eq(coord_new(&cc, &h.coord[i]), KV_OK);
}

/* Three nodes, one ring with N = n_val, everyone alive. */
static void h_setup(uint32_t n_val)
{
    memset(&h, 0, sizeof h);
    h.now = 1000;
    h.clock = (struct kv_clock){ h_ms, h_ms, NULL };
    ck_assert_int_eq(env_mem_new(&h.env), KV_OK);
    struct ring_member_spec specs[NODES] = { { "n0", NULL }, { "n1", NULL }, { "n2", NULL } };
    ck_assert_int_eq(ring_create(16, n_val, specs, NODES, &h.ring), KV_OK);
    for (uint32_t i = 0; i < NODES; i++) {
        h.idx[i] = i;
        h.net[i] = (struct coord_net_ops){ h_send, &h.idx[i] };
        h.cops[i] = (struct coord_cluster_ops){ h_ring, h_alive, &h.idx[i] };
        for (uint32_t j = 0; j < NODES; j++)
            h.alive[i][j] = true;
        h_open(i);
    }
}

static void h_teardown(void)
{
    for (uint32_t i = 0; i < NODES; i++) {
        coord_free(h.coord[i]);
        ck_assert_int_eq(engine_close(h.engine[i]), KV_OK);
    }
    for (uint32_t i = 0; i < h.nq; i++)
        kv_buf_free(&h.q[i].bytes);
    ring_free(h.ring);
    env_destroy(h.env);
}

/* Delivers queued message i (and removes it). */
static void h_deliver(uint32_t i)
{
    struct qmsg m = h.q[i];
    memmove(&h.q[i], &h.q[i + 1], (h.nq - i - 1) * sizeof h.q[0]);
    h.nq--;
    struct coord_msg msg;
    Ringkv__ClusterMessage *pb = NULL;
    char from[4];
    snprintf(from, sizeof from, "n%u", m.from);
    ck_assert_int_eq(coord_msg_decode(m.bytes.data, m.bytes.len, &pb, &msg), KV_OK);
    ck_assert_int_eq(coord_handle_message(h.coord[m.to], from, &msg, h.now), KV_OK);
    ringkv__cluster_message__free_unpacked(pb, NULL);
    kv_buf_free(&m.bytes);
}

/* Index of the first queued message of type t (from a given node, or any if UINT32_MAX). */
static int h_find(enum coord_msg_type t, uint32_t from)
{
    for (uint32_t i = 0; i < h.nq; i++) {
        struct coord_msg msg;
        Ringkv__ClusterMessage *pb = NULL;
        ck_assert_int_eq(coord_msg_decode(h.q[i].bytes.data, h.q[i].bytes.len, &pb, &msg), KV_OK);
        bool hit = msg.type == t && (from == UINT32_MAX || h.q[i].from == from);
        ringkv__cluster_message__free_unpacked(pb, NULL);
        if (hit)
            return (int)i;
    }
    return -1;
}

/* Queues a second copy of message i (the network duplicated it). */
static void h_dup(uint32_t i)
{
    ck_assert_uint_lt(h.nq, QUEUE_MAX);
    struct qmsg *m = &h.q[h.nq];
    *m = (struct qmsg){ h.q[i].from, h.q[i].to, { 0 } };
    ck_assert_int_eq(kv_buf_set(&m->bytes, h.q[i].bytes.data, h.q[i].bytes.len), KV_OK);
    h.nq++;
}

struct put_got {
    int calls;
    int status;
};

static void on_put(void *arg, const struct coord_put_result *r)
{
    struct put_got *g = arg;
    g->calls++;
    g->status = r->status;
}

static void h_put(uint32_t node, const char *key, const struct coord_options *o, struct put_got *g)
{
    struct coord_put_args a = { S(key), S("v"), { NULL, 0 }, 0, COORD_PUT_ALWAYS };
    coord_put(h.coord[node], &a, o, on_put, g);
}

/* A key whose first primary is node. */
static const char *key_owned_by(uint32_t node)
{
    static char key[16];
    for (int i = 0;; i++) {
        snprintf(key, sizeof key, "key%d", i);
        uint32_t p = ring_partition_of_key(key, strlen(key), 16), pref[NODES];
        (void)ring_preference_list(h.ring, p, pref, NODES);
        if (strcmp(ring_member_id(h.ring, pref[0]), (char[]){ 'n', (char)('0' + node), 0 }) == 0)
            return key;
    }
}

START_TEST(write_answers_once_w_acks_arrived)
{
    h_setup(3);
    struct coord_options o = { COORD_CONSISTENCY_QUORUM, 0, 1000, true };
    struct put_got g = { 0 };
    h_put(0, "a", &o, &g);
    ck_assert_int_eq(g.calls, 0);
    ck_assert_uint_eq(h.nq, 2); /* one REPLICA_PUT per other replica */
    h_deliver(0);               /* a replica stores it and queues its ack */
    ck_assert_int_eq(g.calls, 0);
    h_deliver((uint32_t)h_find(COORD_MSG_REPLICA_PUT_REPLY, UINT32_MAX));
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_OK);
    h_teardown();
}
END_TEST

START_TEST(duplicate_acks_count_once)
{
    h_setup(3);
    struct coord_options o = { COORD_CONSISTENCY_ALL, 0, 1000, true };
    struct put_got g = { 0 };
    h_put(0, "a", &o, &g);
    h_deliver((uint32_t)h_find(COORD_MSG_REPLICA_PUT, UINT32_MAX));
    int ack = h_find(COORD_MSG_REPLICA_PUT_REPLY, UINT32_MAX);
    h_dup((uint32_t)ack); /* the same ack, twice */
    h_deliver((uint32_t)ack);
    h_deliver(h.nq - 1);
    ck_assert_int_eq(g.calls, 0); /* W = 3: one ack (plus the local write) is not enough */
    h_deliver((uint32_t)h_find(COORD_MSG_REPLICA_PUT, UINT32_MAX));
    h_deliver((uint32_t)h_find(COORD_MSG_REPLICA_PUT_REPLY, UINT32_MAX));
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_OK);
    h_teardown();
}
END_TEST

START_TEST(failed_replicas_make_the_write_in_doubt_before_the_deadline)
{
    h_setup(3);
    struct coord_options o = { COORD_CONSISTENCY_ALL, 0, 1000, true };
    struct put_got g = { 0 };
    h_put(0, "a", &o, &g);
    /* A replica answers with an error instead of storing. */
    struct coord_msg put;
    Ringkv__ClusterMessage *pb = NULL;
    int i = h_find(COORD_MSG_REPLICA_PUT, UINT32_MAX);
    ck_assert_int_eq(coord_msg_decode(h.q[i].bytes.data, h.q[i].bytes.len, &pb, &put), KV_OK);
    struct coord_msg err = { .type = COORD_MSG_REPLICA_PUT_REPLY, .req_id = put.req_id, .status = KV_EIO };
    char to[4];
    snprintf(to, sizeof to, "n%u", h.q[i].to);
    ringkv__cluster_message__free_unpacked(pb, NULL);
    ck_assert_int_eq(coord_handle_message(h.coord[0], to, &err, h.now), KV_OK);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_EINDOUBT); /* stored on n0 already: never a plain failure */
    h_teardown();
}
END_TEST

START_TEST(write_without_acks_is_in_doubt_at_its_deadline)
{
    h_setup(3);
    struct coord_options o = { COORD_CONSISTENCY_QUORUM, 0, 500, true };
    struct put_got g = { 0 };
    h_put(0, "a", &o, &g);
    ck_assert_uint_eq(coord_next_tick_ms(h.coord[0]), 1500);
    h.now = 1499;
    coord_tick(h.coord[0], h.now);
    ck_assert_int_eq(g.calls, 0);
    h.now = 1500;
    coord_tick(h.coord[0], h.now);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_EINDOUBT);
    struct coord_stats st;
    coord_get_stats(h.coord[0], &st);
    ck_assert_uint_eq(st.indoubt, 1);
    ck_assert_uint_eq(st.requests_in_flight, 0);
    /* The copies arrive late: their acks are ignored. */
    while (h.nq)
        h_deliver(0);
    ck_assert_int_eq(g.calls, 1);
    h_teardown();
}
END_TEST

START_TEST(too_few_live_primaries_is_unavailable_and_sends_nothing)
{
    h_setup(3);
    h.alive[0][1] = h.alive[0][2] = false;
    struct coord_options o = { COORD_CONSISTENCY_QUORUM, 0, 500, true };
    struct put_got g = { 0 };
    h_put(0, "a", &o, &g);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_EUNAVAIL);
    ck_assert_uint_eq(h.nq, 0);
    struct kv_buf v = { 0 };
    char ekey[64];
    struct keyspace ks;
    ck_assert_int_eq(keyspace_init(&ks, 16), KV_OK);
    size_t n = keyspace_encode(&ks, KEYSPACE_DATA, S("a"), ekey);
    ck_assert_int_eq(engine_get(h.engine[0], NULL, kv_slice_make(ekey, n), &v), KV_ENOTFOUND);
    kv_buf_free(&v);
    /* Without primary_only a fallback would do, but there is none left: same answer. */
    o.primary_only = false;
    h_put(0, "a", &o, &g);
    ck_assert_int_eq(g.status, KV_EUNAVAIL);
    h_teardown();
}
END_TEST

START_TEST(reply_meant_for_a_previous_life_is_ignored)
{
    h_setup(3);
    struct coord_options o = { COORD_CONSISTENCY_ALL, 0, 1000, true };
    struct put_got g = { 0 };
    h_put(0, "a", &o, &g);
    h_deliver((uint32_t)h_find(COORD_MSG_REPLICA_PUT, UINT32_MAX));
    /* n0 restarts; the ack for its old request reaches the new coordinator. */
    coord_free(h.coord[0]);
    h.now++;
    h_open(0);
    struct put_got g2 = { 0 };
    h_put(0, "b", &o, &g2);
    h_deliver((uint32_t)h_find(COORD_MSG_REPLICA_PUT_REPLY, UINT32_MAX));
    ck_assert_int_eq(g.calls, 0);  /* the old callback died with the old coordinator */
    ck_assert_int_eq(g2.calls, 0); /* and the stale ack did not count for the new request */
    h_teardown();
}
END_TEST

START_TEST(a_non_replica_forwards_and_relays_the_primary_answer)
{
    h_setup(1);
    const char *key = key_owned_by(2);
    struct put_got g = { 0 };
    h_put(0, key, NULL, &g);
    ck_assert_int_eq(g.calls, 0);
    ck_assert_int_eq(h_find(COORD_MSG_FORWARD, 0), 0);
    h_deliver(0); /* n2 coordinates: N = 1, so it answers at once */
    ck_assert_int_eq(h_find(COORD_MSG_FORWARD_REPLY, 2), 0);
    h_deliver(0);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_OK);
    struct coord_stats s0, s2;
    coord_get_stats(h.coord[0], &s0);
    coord_get_stats(h.coord[2], &s2);
    ck_assert_uint_eq(s0.forwarded, 1);
    ck_assert_uint_eq(s2.forwards_served, 1);
    h_teardown();
}
END_TEST

struct incr_got {
    int calls;
    int status;
    int64_t value;
};

static void on_incr(void *arg, const struct coord_incr_result *r)
{
    struct incr_got *g = arg;
    g->calls++;
    g->status = r->status;
    g->value = r->value;
}

START_TEST(a_duplicated_forward_is_applied_once)
{
    h_setup(1);
    const char *key = key_owned_by(1);
    struct incr_got g = { 0 }, again = { 0 };
    coord_incr(h.coord[0], S(key), 5, NULL, on_incr, &g);
    int f = h_find(COORD_MSG_FORWARD, 0);
    ck_assert_int_ge(f, 0);
    h_dup((uint32_t)f);
    h_deliver((uint32_t)f);
    h_deliver((uint32_t)h_find(COORD_MSG_FORWARD, 0)); /* the copy: n1 must not increment again */
    ck_assert_uint_eq(h.nq, 1);
    h_deliver((uint32_t)h_find(COORD_MSG_FORWARD_REPLY, 1));
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_OK);
    ck_assert_int_eq(g.value, 5);
    coord_incr(h.coord[1], S(key), 1, NULL, on_incr, &again); /* n1 is the only replica: answered at once */
    ck_assert_int_eq(again.calls, 1);
    ck_assert_int_eq(again.value, 6);
    h_teardown();
}
END_TEST

/* A key (not `other`) whose preference list starts first, second. */
static const char *key_with_pref(uint32_t first, uint32_t second, const char *other)
{
    static char key[16];
    for (int i = 0;; i++) {
        snprintf(key, sizeof key, "hk%d", i);
        uint32_t p = ring_partition_of_key(key, strlen(key), 16), pref[2];
        (void)ring_preference_list(h.ring, p, pref, 2);
        if (node_of(ring_member_id(h.ring, pref[0])) == first && node_of(ring_member_id(h.ring, pref[1])) == second &&
            (!other || strcmp(key, other) != 0))
            return key;
    }
}

/* Delivers every queued message, replies included, until none is left. */
static void h_drain(void)
{
    while (h.nq)
        h_deliver(0);
}

static struct coord_stats h_stats(uint32_t i)
{
    struct coord_stats st;
    coord_get_stats(h.coord[i], &st);
    return st;
}

START_TEST(hint_store_refuses_past_its_byte_cap_and_delivery_frees_it)
{
    /* N = 2 of three nodes: n0 coordinates keys of (n0, n1); n1 is down
     * for n0, so n2 stands in as the fallback and keeps hints for n1. */
    h_setup(2);
    h.alive[0][1] = false;
    char k1[16], k2[16];
    snprintf(k1, sizeof k1, "%s", key_with_pref(0, 1, NULL));
    snprintf(k2, sizeof k2, "%s", key_with_pref(0, 1, k1));
    struct coord_options w2 = { COORD_CONSISTENCY_ALL, 0, 1000, false };
    struct put_got g = { 0 };
    h_put(0, k1, &w2, &g);
    h_drain();
    ck_assert_int_eq(g.status, KV_OK);
    struct coord_stats st = h_stats(2);
    ck_assert_uint_eq(st.hints_pending, 1);
    ck_assert_uint_gt(st.hints_bytes, 0);
    uint64_t one_hint = st.hints_bytes;

    /* Restart n2 with a cap of exactly what it holds: the start-up scan counts it. */
    coord_free(h.coord[2]);
    h.hints_bytes_max[2] = one_hint;
    h_open(2);
    st = h_stats(2);
    ck_assert_uint_eq(st.hints_bytes, one_hint);
    ck_assert_uint_eq(st.hints_pending, 1);

    /* A second hint would pass the cap: n2 refuses it, n0 cannot reach W = 2. */
    g = (struct put_got){ 0 };
    h_put(0, k2, &w2, &g);
    h_drain();
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_EINDOUBT); /* stored on n0 only: in doubt, never success */
    st = h_stats(2);
    ck_assert_uint_eq(st.hints_refused, 1);
    ck_assert_uint_eq(st.hints_pending, 1);
    ck_assert_uint_eq(st.hints_bytes, one_hint);
    /* With W = 1 the same write succeeds on n0 alone. */
    struct coord_options w1 = { COORD_CONSISTENCY_ONE, 0, 1000, false };
    g = (struct put_got){ 0 };
    h_put(0, k2, &w1, &g);
    h_drain();
    ck_assert_int_eq(g.status, KV_OK);
    ck_assert_uint_eq(h_stats(2).hints_refused, 2);

    /* n1 comes back for n2: the hint is delivered, deleted, its bytes freed. */
    coord_peer_up(h.coord[2], "n1", h.now);
    coord_tick(h.coord[2], h.now);
    ck_assert_int_ge(h_find(COORD_MSG_HINT, 2), 0);
    h_drain();
    st = h_stats(2);
    ck_assert_uint_eq(st.hints_delivered, 1);
    ck_assert_uint_eq(st.hints_pending, 0);
    ck_assert_uint_eq(st.hints_bytes, 0);

    /* The freed budget takes the next hint. */
    g = (struct put_got){ 0 };
    h_put(0, k2, &w2, &g);
    h_drain();
    ck_assert_int_eq(g.status, KV_OK);
    st = h_stats(2);
    ck_assert_uint_eq(st.hints_pending, 1);
    ck_assert_uint_le(st.hints_bytes, one_hint + 64);
    ck_assert_uint_gt(st.hints_bytes, 0);
    h_teardown();
}
END_TEST

/* Takes queued message i out of the queue (a node that does not answer yet). */
static struct qmsg h_take(uint32_t i)
{
    struct qmsg m = h.q[i];
    memmove(&h.q[i], &h.q[i + 1], (h.nq - i - 1) * sizeof h.q[0]);
    h.nq--;
    return m;
}

/* Number of queued messages of type t from node `from`. */
static uint32_t h_count(enum coord_msg_type t, uint32_t from)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < h.nq; i++) {
        struct coord_msg msg;
        Ringkv__ClusterMessage *pb = NULL;
        ck_assert_int_eq(coord_msg_decode(h.q[i].bytes.data, h.q[i].bytes.len, &pb, &msg), KV_OK);
        n += msg.type == t && h.q[i].from == from;
        ringkv__cluster_message__free_unpacked(pb, NULL);
    }
    return n;
}

static char ctx_bytes[256];
static size_t ctx_len;

static void on_put_ctx(void *arg, const struct coord_put_result *r)
{
    on_put(arg, r);
    ck_assert_uint_le(r->context.len, sizeof ctx_bytes);
    memcpy(ctx_bytes, r->context.data, r->context.len);
    ctx_len = r->context.len;
}

/* A first value of key written through n1 (a primary): its context is in ctx_bytes. */
static void h_put_first(const char *key)
{
    struct put_got g = { 0 };
    struct coord_put_args a = { S(key), S("v0"), { NULL, 0 }, 0, COORD_PUT_ALWAYS };
    coord_put(h.coord[1], &a, NULL, on_put_ctx, &g);
    h_drain();
    ck_assert_int_eq(g.status, KV_OK);
    ck_assert_uint_gt(ctx_len, 0);
}

/* A PUT through n0 (no replica of key) with the context of h_put_first. */
static void h_put_ctx(const char *key, struct put_got *g)
{
    struct coord_put_args a = { S(key), S("v1"), kv_slice_make(ctx_bytes, ctx_len), 0, COORD_PUT_ALWAYS };
    coord_put(h.coord[0], &a, NULL, on_put, g);
}

static void on_del(void *arg, const struct coord_delete_result *r)
{
    struct put_got *g = arg;
    g->calls++;
    g->status = r->status;
}

/* A DELETE through n0 (no replica of key) with the context of h_put_first. */
static void h_del_ctx(const char *key, struct put_got *g)
{
    coord_delete(h.coord[0], S(key), kv_slice_make(ctx_bytes, ctx_len), NULL, on_del, g);
}

START_TEST(a_forward_to_a_silent_primary_goes_on_to_the_next_one)
{
    h_setup(2);
    const char *key = key_with_pref(1, 2, NULL); /* n0 is no replica: it forwards */
    h_put_first(key);
    struct put_got g = { 0 };
    h_del_ctx(key, &g);
    int f = h_find(COORD_MSG_FORWARD, 0);
    ck_assert_int_ge(f, 0);
    ck_assert_uint_eq(h.q[f].to, 1);
    struct qmsg held = h_take((uint32_t)f); /* n1 is paused: the forward waits in its socket */
    h.now += 499;
    coord_tick(h.coord[0], h.now);
    ck_assert_int_eq(h_find(COORD_MSG_FORWARD, 0), -1); /* one attempt waits 500 ms */
    h.now += 1;
    coord_tick(h.coord[0], h.now);
    f = h_find(COORD_MSG_FORWARD, 0);
    ck_assert_int_ge(f, 0);
    ck_assert_uint_eq(h.q[f].to, 2);
    ck_assert_uint_eq(h_stats(0).forward_retries, 1);
    h_drain(); /* n2 coordinates (n1 still takes replica writes) and answers */
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_OK);
    /* n1 resumes: it applies the first attempt too (one more tombstone of
     * the same context), and its late answer is ignored. */
    h.q[h.nq++] = held;
    h_drain();
    ck_assert_int_eq(g.calls, 1);
    ck_assert_uint_eq(h_stats(1).forwards_served, 1);
    ck_assert_uint_eq(h_stats(2).forwards_served, 1);
    /* A blind PUT is not repeated: the late first attempt would supersede newer writes. */
    struct put_got blind = { 0 };
    h_put(0, key, NULL, &blind);
    kv_buf_free(&h.q[0].bytes), (void)h_take(0);
    h.now += 5000;
    coord_tick(h.coord[0], h.now);
    ck_assert_uint_eq(h.nq, 0);
    ck_assert_int_eq(blind.status, KV_EINDOUBT);
    ck_assert_uint_eq(h_stats(0).forward_retries, 1);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_uint_eq(h_stats(0).requests_in_flight, 0);
    h_teardown();
}
END_TEST

START_TEST(a_forward_without_a_primary_left_waits_for_the_last_until_its_deadline)
{
    h_setup(2);
    const char *key = key_with_pref(1, 2, NULL);
    h_put_first(key);
    struct put_got g = { 0 };
    h_del_ctx(key, &g);
    struct qmsg first = h_take((uint32_t)h_find(COORD_MSG_FORWARD, 0));
    h.now += 500;
    coord_tick(h.coord[0], h.now);
    struct qmsg second = h_take((uint32_t)h_find(COORD_MSG_FORWARD, 0));
    ck_assert_uint_eq(second.to, 2);
    h.q[h.nq++] = first; /* n1 answers the first attempt late: ignored, n2's answer is awaited */
    h_drain();
    ck_assert_uint_eq(h_stats(1).forwards_served, 1);
    ck_assert_int_eq(g.calls, 0);
    for (uint32_t i = 0; i < 8; i++) { /* no third primary: n2 gets the rest of the 5 s */
        h.now += 500;
        coord_tick(h.coord[0], h.now);
        ck_assert_uint_eq(h_count(COORD_MSG_FORWARD, 0), 0);
        ck_assert_int_eq(g.calls, 0);
    }
    h.now += 500;
    coord_tick(h.coord[0], h.now);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_EINDOUBT);
    ck_assert_uint_eq(h_stats(0).forward_retries, 1);
    kv_buf_free(&second.bytes);
    h_teardown();
}
END_TEST

/* The second primary refuses (it cannot reach W), but the first attempt
 * is still out and may be applied when its primary wakes: the answer is
 * in doubt, never the second primary's plain failure (chaos seed 7306). */
START_TEST(a_failure_after_an_earlier_attempt_left_is_in_doubt)
{
    h_setup(2);
    const char *key = key_with_pref(1, 2, NULL);
    h_put_first(key);
    struct put_got g = { 0 };
    h_del_ctx(key, &g);
    struct qmsg first = h_take((uint32_t)h_find(COORD_MSG_FORWARD, 0));
    h.now += 500;
    coord_tick(h.coord[0], h.now);
    int f = h_find(COORD_MSG_FORWARD, 0);
    ck_assert_int_ge(f, 0);
    ck_assert_uint_eq(h.q[f].to, 2);
    struct coord_msg fwd;
    Ringkv__ClusterMessage *pb = NULL;
    ck_assert_int_eq(coord_msg_decode(h.q[f].bytes.data, h.q[f].bytes.len, &pb, &fwd), KV_OK);
    struct coord_msg no = { .type = COORD_MSG_FORWARD_REPLY, .req_id = fwd.req_id, .status = KV_EUNAVAIL };
    ringkv__cluster_message__free_unpacked(pb, NULL);
    kv_buf_free(&h.q[f].bytes), (void)h_take((uint32_t)f);
    ck_assert_int_eq(coord_handle_message(h.coord[0], "n2", &no, h.now), KV_OK);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(g.status, KV_EINDOUBT);
    h.q[h.nq++] = first; /* n1 wakes and applies the delete: in doubt was the truth */
    h_drain();
    ck_assert_uint_eq(h_stats(1).forwards_served, 1);
    ck_assert_int_eq(g.calls, 1);
    h_teardown();
}
END_TEST

/* A PUT with a context applied by two primaries would be two values with
 * two dots: a delete with the context of one leaves the other (sim seed
 * 90286). INCR would count twice, IF_ABSENT would see its first attempt. */
START_TEST(only_context_deletes_are_forwarded_twice)
{
    h_setup(2);
    const char *key = key_with_pref(1, 2, NULL);
    h_put_first(key);
    struct incr_got gi = { 0 };
    struct put_got gp = { 0 };
    struct put_got gc = { 0 };
    coord_incr(h.coord[0], S(key), 1, NULL, on_incr, &gi);
    struct coord_put_args a = { S(key), S("v"), { NULL, 0 }, 0, COORD_PUT_IF_ABSENT };
    coord_put(h.coord[0], &a, NULL, on_put, &gp);
    h_put_ctx(key, &gc);
    ck_assert_uint_eq(h_count(COORD_MSG_FORWARD, 0), 3);
    for (uint32_t i = 0; i < QUEUE_MAX && h.nq; i++)
        kv_buf_free(&h.q[0].bytes), (void)h_take(0); /* n1 never answers */
    for (uint32_t i = 0; i < 9; i++) {
        h.now += 500;
        coord_tick(h.coord[0], h.now);
        ck_assert_uint_eq(h.nq, 0);
    }
    ck_assert_int_eq(gi.calls, 0);
    h.now += 500;
    coord_tick(h.coord[0], h.now);
    ck_assert_int_eq(gi.calls, 1);
    ck_assert_int_eq(gi.status, KV_EINDOUBT);
    ck_assert_int_eq(gp.calls, 1);
    ck_assert_int_eq(gp.status, KV_EINDOUBT);
    ck_assert_int_eq(gc.calls, 1);
    ck_assert_int_eq(gc.status, KV_EINDOUBT);
    ck_assert_uint_eq(h_stats(0).forward_retries, 0);
    h_teardown();
}
END_TEST

START_TEST(standalone_coordinator_refuses_messages)
{
    struct env *env;
    struct engine *e;
    struct coord *c;
    ck_assert_int_eq(env_mem_new(&env), KV_OK);
    struct engine_options eo;
    engine_options_default(&eo);
    eo.env = env;
    ck_assert_int_eq(engine_open("/s", &eo, &e), KV_OK);
    struct coord_config cc;
    coord_config_default(&cc);
    cc.node_id = "s";
    cc.engine = e;
    ck_assert_int_eq(coord_new(&cc, &c), KV_OK);
    struct coord_msg m = { .type = COORD_MSG_REPLICA_GET, .key = S("k") };
    ck_assert_int_eq(coord_handle_message(c, "x", &m, 0), KV_ESTATE);
    ck_assert_uint_eq(coord_next_tick_ms(c), UINT64_MAX);
    coord_free(c);
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quorum");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, required_counts_follow_the_level);
    tcase_add_test(pure, required_counts_refuse_impossible_requests);
    tcase_add_test(pure, plan_replaces_each_down_primary_with_the_next_live_fallback);
    tcase_add_test(pure, plan_with_primary_only_leaves_down_primaries_out);
    tcase_add_test(pure, plan_runs_out_of_fallbacks_and_knows_this_node_as_one);
    tcase_add_test(pure, tally_is_met_lost_or_pending);
    tcase_add_test(pure, hint_key_layout_matches_the_documented_example);
    tcase_add_test(pure, malformed_hint_keys_are_refused);
    tcase_add_test(pure, hints_of_one_target_are_one_contiguous_range);
    tcase_add_test(pure, hint_record_round_trips_and_matches_the_example);
    tcase_add_test(pure, hints_expire_at_the_end_of_their_window_only);
    tcase_add_test(pure, backoff_doubles_up_to_the_cap_with_jitter);
    tcase_add_test(pure, rate_bucket_allows_a_second_of_burst_then_the_rate);
    tcase_add_test(pure, every_message_type_round_trips_through_cluster_proto);
    tcase_add_test(pure, malformed_messages_are_protocol_errors);
    suite_add_tcase(s, pure);
    TCase *steps = tcase_create("steps");
    tcase_add_test(steps, write_answers_once_w_acks_arrived);
    tcase_add_test(steps, duplicate_acks_count_once);
    tcase_add_test(steps, failed_replicas_make_the_write_in_doubt_before_the_deadline);
    tcase_add_test(steps, write_without_acks_is_in_doubt_at_its_deadline);
    tcase_add_test(steps, too_few_live_primaries_is_unavailable_and_sends_nothing);
    tcase_add_test(steps, reply_meant_for_a_previous_life_is_ignored);
    tcase_add_test(steps, a_non_replica_forwards_and_relays_the_primary_answer);
    tcase_add_test(steps, a_duplicated_forward_is_applied_once);
    tcase_add_test(steps, a_forward_to_a_silent_primary_goes_on_to_the_next_one);
    tcase_add_test(steps, a_forward_without_a_primary_left_waits_for_the_last_until_its_deadline);
    tcase_add_test(steps, a_failure_after_an_earlier_attempt_left_is_in_doubt);
    tcase_add_test(steps, only_context_deletes_are_forwarded_twice);
    tcase_add_test(steps, standalone_coordinator_refuses_messages);
    tcase_add_test(steps, hint_store_refuses_past_its_byte_cap_and_delivery_frees_it);
    suite_add_tcase(s, steps);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
