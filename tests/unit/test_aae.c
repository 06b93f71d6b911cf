/* test_aae.c - the anti-entropy exchange between in-memory replicas
 * (messages pumped in-process through the binary codec), and the codec. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "coordinator/aae.h"
#include "coordinator/aae_msg.h"
#include "coordinator/dvv.h"
#include "coordinator/keyspace.h"
#include "coordinator/merkle.h"
#include "coordinator/object.h"
#include "gossip/ring.h"
#include "storage/engine.h"
#include "storage/env.h"

#define Q 8u
#define NODES_MAX 3
#define QUEUE_MAX 4096

/* ---- harness: nodes with a real engine on a memory env, a message queue ---- */

struct h;

struct node {
    struct h *h;
    int idx;
    char id[4];
    struct env *env;
    struct engine *e;
    struct aae *aae;
    struct aae_config cfg;
    uint64_t writes;            /* ops.write calls */
};

struct qmsg {
    int from, to;
    struct kv_buf bytes;
};

struct h {
    int n;
    struct node nodes[NODES_MAX];
    struct ring *ring;
    struct keyspace ks;
    uint64_t now;
    struct qmsg q[QUEUE_MAX];
    int qhead, qlen;
    uint32_t drop_next;         /* drop this many of the next messages */
    uint64_t sent_by_type[AAE_MSG_TYPE_MAX + 1];
    uint64_t ids_by_level[8];   /* node hashes asked for, per level */
};

static int find_node(struct h *h, const char *id)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->nodes[i].id, id) == 0)
            return i;
    return -1;
}

static int op_send(void *ctx, const char *to, const struct aae_msg *m)
{
    struct node *n = ctx;
    struct h *h = n->h;
    h->sent_by_type[m->type]++;
    if (m->type == AAE_MSG_HASHES_REQ && m->level < 8)
        h->ids_by_level[m->level] += m->n_ids;
    if (h->drop_next) {
        h->drop_next--;
        return KV_OK;
    }
    ck_assert_int_lt(h->qlen, QUEUE_MAX);
    struct qmsg *q = &h->q[(h->qhead + h->qlen++) % QUEUE_MAX];
    q->from = n->idx;
    q->to = find_node(h, to);
    ck_assert_int_ge(q->to, 0);
    kv_buf_reset(&q->bytes);
    ck_assert_int_eq(aae_msg_encode(m, &q->bytes), KV_OK);
    ck_assert_uint_eq(q->bytes.len, aae_msg_encoded_bytes(m));
    return KV_OK;
}

static const struct ring *op_ring(void *ctx) { return ((struct node *)ctx)->h->ring; }

static int op_write(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice object)
{
    struct node *n = ctx;
    char ek[KEYSPACE_PREFIX_BYTES + 64];
    ck_assert_uint_le(key.len, 64);
    size_t len = keyspace_encode(&n->h->ks, KEYSPACE_DATA, key, ek);
    n->writes++;
    return engine_put(n->e, kv_slice_make(ek, len), object);
}

static void node_start(struct node *n)
{
    n->cfg.engine = n->e;
    ck_assert_int_eq(aae_new(&n->cfg, &n->aae), KV_OK);
}

/* n nodes, ring of Q partitions with n_val; configs from defaults with a
 * fast build and no periodic exchanges (tests force them). */
static struct h *h_new(int n, uint32_t n_val)
{
    struct h *h = calloc(1, sizeof *h);
    h->n = n;
    h->now = 1000;
    ck_assert_int_eq(keyspace_init(&h->ks, Q), KV_OK);
    struct ring_member_spec specs[NODES_MAX];
    for (int i = 0; i < n; i++) {
        struct node *nd = &h->nodes[i];
        nd->h = h;
        nd->idx = i;
        snprintf(nd->id, sizeof nd->id, "%c", 'a' + i);
        specs[i] = (struct ring_member_spec){ nd->id, NULL };
        ck_assert_int_eq(env_mem_new(&nd->env), KV_OK);
        struct engine_options eo;
        engine_options_default(&eo);
        eo.env = nd->env;
        eo.sync = ENGINE_SYNC_NONE;
        ck_assert_int_eq(engine_open("/db", &eo, &nd->e), KV_OK);
        aae_config_default(&nd->cfg);
        nd->cfg.node_id = nd->id;
        nd->cfg.partitions = Q;
        nd->cfg.ops = (struct aae_ops){ op_send, op_ring, NULL, op_write, nd };
        nd->cfg.exchange_interval_ms = 1000ull * 3600 * 24 * 365;
        nd->cfg.bytes_per_sec = 0;
        nd->cfg.build_step_ms = 1;
        nd->cfg.verify_interval_ms = 0;
        nd->cfg.rand_seed = (uint64_t)i + 1;
    }
    ck_assert_int_eq(ring_create(Q, n_val, specs, (size_t)n, &h->ring), KV_OK);
    return h;
}

static void h_start(struct h *h)
{
    for (int i = 0; i < h->n; i++)
        node_start(&h->nodes[i]);
}

static void h_free(struct h *h)
{
    for (int i = 0; i < h->n; i++) {
        aae_free(h->nodes[i].aae);
        ck_assert_int_eq(engine_close(h->nodes[i].e), KV_OK);
        env_destroy(h->nodes[i].env);
    }
    for (int i = 0; i < QUEUE_MAX; i++)
        kv_buf_free(&h->q[i].bytes);
    ring_free(h->ring);
    free(h);
}

/* Delivers every queued message (and those they cause) at h->now. */
static void pump(struct h *h)
{
    struct aae_msg m;
    aae_msg_init(&m);
    while (h->qlen > 0) {
        struct qmsg *q = &h->q[h->qhead];
        h->qhead = (h->qhead + 1) % QUEUE_MAX;
        h->qlen--;
        struct kv_buf b = q->bytes; /* the slot may be reused by sends below */
        q->bytes = (struct kv_buf){ 0 };
        ck_assert_int_eq(aae_msg_decode(kv_slice_make(b.data, b.len), &m), KV_OK);
        struct node *to = &h->nodes[q->to];
        if (to->aae)
            ck_assert_int_eq(aae_handle_message(to->aae, h->nodes[q->from].id, &m, h->now), KV_OK);
        kv_buf_free(&b);
    }
    aae_msg_free(&m);
}

/* Runs ticks and messages until virtual time `until` (zero network delay). */
static void run_until(struct h *h, uint64_t until)
{
    for (;;) {
        for (int i = 0; i < h->n; i++)
            if (h->nodes[i].aae && aae_next_tick_ms(h->nodes[i].aae, h->now) <= h->now)
                aae_tick(h->nodes[i].aae, h->now);
        pump(h);
        uint64_t next = UINT64_MAX;
        for (int i = 0; i < h->n; i++)
            if (h->nodes[i].aae) {
                uint64_t t = aae_next_tick_ms(h->nodes[i].aae, h->now);
                next = t < next ? t : next;
            }
        if (next > until)
            break;
        h->now = next > h->now ? next : h->now + 1;
    }
    h->now = until;
}

static void run_for(struct h *h, uint64_t ms) { run_until(h, h->now + ms); }

/* The k-th key of partition p, in buf. */
static struct kv_slice key_in(struct h *h, uint32_t p, uint32_t k, char *buf)
{
    for (uint32_t salt = 0;; salt++) {
        int n = snprintf(buf, 32, "key%u.%u", k, salt);
        struct kv_slice s = kv_slice_make(buf, (size_t)n);
        if (keyspace_partition(&h->ks, s) == p)
            return s;
    }
}

static bool local_get(struct node *n, struct kv_slice key, struct kv_buf *out)
{
    char ek[KEYSPACE_PREFIX_BYTES + 64];
    size_t len = keyspace_encode(&n->h->ks, KEYSPACE_DATA, key, ek);
    int rc = engine_get(n->e, NULL, kv_slice_make(ek, len), out);
    ck_assert(rc == KV_OK || rc == KV_ENOTFOUND);
    return rc == KV_OK;
}

/* A coordinator's blind write at node n (its actor = idx + 1): value, or a
 * tombstone when val is NULL; reported to the node's aae. */
static void write_at(struct node *n, struct kv_slice key, const char *val)
{
    struct kv_buf old = { 0 }, rec = { 0 }, enc = { 0 };
    struct object o, next;
    object_init(&o);
    object_init(&next);
    bool had = local_get(n, key, &old);
    if (had)
        ck_assert_int_eq(object_decode(kv_slice_make(old.data, old.len), &o), KV_OK);
    ck_assert_int_eq(object_record_append(&rec, val ? 0 : OBJECT_FLAG_TOMBSTONE, 0,
                                          val ? kv_slice_str(val) : kv_slice_make(NULL, 0)), KV_OK);
    struct kv_slice v = kv_slice_make(rec.data, rec.len);
    ck_assert_int_eq(dvv_update(&o.clock, &o.clock, (uint64_t)n->idx + 1, &v, 1, 64, &next.clock), KV_OK);
    ck_assert_int_eq(object_encode(&next, &enc), KV_OK);
    char ek[KEYSPACE_PREFIX_BYTES + 64];
    size_t len = keyspace_encode(&n->h->ks, KEYSPACE_DATA, key, ek);
    ck_assert_int_eq(engine_put(n->e, kv_slice_make(ek, len), kv_slice_make(enc.data, enc.len)), KV_OK);
    if (n->aae)
        aae_note_write(n->aae, keyspace_partition(&n->h->ks, key), key,
                       had ? kv_slice_make(old.data, old.len) : kv_slice_make(NULL, 0),
                       kv_slice_make(enc.data, enc.len));
    object_free(&o);
    object_free(&next);
    kv_buf_free(&old);
    kv_buf_free(&rec);
    kv_buf_free(&enc);
}

/* Copies node from's object of key to node to as a replica write would
 * (to has nothing for it yet). */
static void copy_to(struct node *from, struct node *to, struct kv_slice key)
{
    struct kv_buf b = { 0 };
    ck_assert(local_get(from, key, &b));
    char ek[KEYSPACE_PREFIX_BYTES + 64];
    size_t len = keyspace_encode(&to->h->ks, KEYSPACE_DATA, key, ek);
    ck_assert_int_eq(engine_put(to->e, kv_slice_make(ek, len), kv_slice_make(b.data, b.len)), KV_OK);
    if (to->aae)
        aae_note_write(to->aae, keyspace_partition(&to->h->ks, key), key, kv_slice_make(NULL, 0),
                       kv_slice_make(b.data, b.len));
    kv_buf_free(&b);
}

static bool same_object(struct h *h, int x, int y, struct kv_slice key)
{
    struct kv_buf a = { 0 }, b = { 0 };
    bool fa = local_get(&h->nodes[x], key, &a), fb = local_get(&h->nodes[y], key, &b);
    bool same = fa == fb && (!fa || kv_slice_eq(kv_slice_make(a.data, a.len), kv_slice_make(b.data, b.len)));
    kv_buf_free(&a);
    kv_buf_free(&b);
    return same;
}

static uint64_t root_of(struct node *n, uint32_t p)
{
    struct aae_partition_status st;
    ck_assert_int_eq(aae_partition_status(n->aae, p, &st), KV_OK);
    ck_assert(st.held && st.ready);
    return st.root;
}

static struct aae_stats stats_of(struct node *n)
{
    struct aae_stats s;
    aae_get_stats(n->aae, &s);
    return s;
}

static void force(struct h *h, int node, uint32_t p)
{
    uint32_t n = 0;
    ck_assert_int_eq(aae_repair(h->nodes[node].aae, p, NULL, h->now, &n), KV_OK);
    ck_assert_uint_ge(n, 1);
}

/* ---- codec ---- */

START_TEST(root_request_encodes_as_documented)
{
    uint32_t root = 0;
    struct aae_msg m = { .type = AAE_MSG_HASHES_REQ, .xid = 0x2a, .seq = 1, .partition = 5,
                         .segments = 1024, .branching = 32, .level = 0, .ids = &root, .n_ids = 1 };
    struct kv_buf b = { 0 };
    ck_assert_int_eq(aae_msg_encode(&m, &b), KV_OK);
    ck_assert_uint_eq(b.len, 19);
    ck_assert_mem_eq(b.data, "\x01\x01\x2a\0\0\0\0\0\0\0\x01\x05\x00\x80\x08\x20\x00\x01\x00", 19);
    struct aae_msg d;
    aae_msg_init(&d);
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(b.data, b.len), &d), KV_OK);
    ck_assert_int_eq(d.type, AAE_MSG_HASHES_REQ);
    ck_assert_uint_eq(d.xid, 0x2a);
    ck_assert_uint_eq(d.segments, 1024);
    ck_assert_uint_eq(d.n_ids, 1);
    aae_msg_free(&d);
    kv_buf_free(&b);
}
END_TEST

START_TEST(every_message_type_round_trips)
{
    uint32_t ids[3] = { 1, 5, 900 };
    uint64_t hashes[2] = { 7, UINT64_MAX };
    struct aae_item items[2] = {
        { .key = kv_slice_str("k1"), .digest = 99, .found = true, .object = kv_slice_str("obj") },
        { .key = kv_slice_make("", 0), .digest = 1, .found = false },
    };
    struct aae_msg ms[] = {
        { .type = AAE_MSG_HASHES_REQ, .level = 2, .segments = 1024, .branching = 32, .ids = ids, .n_ids = 3 },
        { .type = AAE_MSG_HASHES_REPLY, .hashes = hashes, .n_hashes = 2 },
        { .type = AAE_MSG_KEYS_REQ, .segments = 1024, .branching = 32, .keys_max = 10, .has_after = true,
          .after = kv_slice_str("a"), .has_upto = true, .upto = kv_slice_str("z"), .ids = ids, .n_ids = 3 },
        { .type = AAE_MSG_KEYS_REPLY, .complete = false, .last = kv_slice_str("m"), .items = items, .n_items = 2 },
        { .type = AAE_MSG_FETCH_REQ, .items = items, .n_items = 2 },
        { .type = AAE_MSG_FETCH_REPLY, .items = items, .n_items = 2 },
        { .type = AAE_MSG_PUSH_REQ, .items = items, .n_items = 1 },
        { .type = AAE_MSG_PUSH_REPLY, .applied = 12 },
        { .type = AAE_MSG_KEYS_REPLY, .status = KV_EBUSY },
    };
    struct aae_msg d;
    aae_msg_init(&d);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        ms[i].xid = 0x1234567890ull + i;
        ms[i].seq = (uint32_t)i * 1000;
        ms[i].partition = 3;
        struct kv_buf b = { 0 }, b2 = { 0 };
        ck_assert_int_eq(aae_msg_encode(&ms[i], &b), KV_OK);
        ck_assert_uint_eq(b.len, aae_msg_encoded_bytes(&ms[i]));
        ck_assert_int_eq(aae_msg_decode(kv_slice_make(b.data, b.len), &d), KV_OK);
        ck_assert_int_eq(d.type, ms[i].type);
        ck_assert_int_eq(d.status, ms[i].status);
        ck_assert_int_eq(aae_msg_encode(&d, &b2), KV_OK); /* decoded re-encodes byte for byte */
        ck_assert_uint_eq(b2.len, b.len);
        ck_assert_mem_eq(b2.data, b.data, b.len);
        /* Every strict prefix is refused, and so is a trailing byte. */
        for (size_t cut = 0; cut < b.len; cut++)
            ck_assert_int_eq(aae_msg_decode(kv_slice_make(b.data, cut), &d), KV_ECORRUPT);
        ck_assert_int_eq(kv_buf_append_byte(&b, 0), KV_OK);
        ck_assert_int_eq(aae_msg_decode(kv_slice_make(b.data, b.len), &d), KV_ECORRUPT);
        kv_buf_free(&b);
        kv_buf_free(&b2);
    }
    aae_msg_free(&d);
}
END_TEST

START_TEST(decoder_refuses_malformed_fields)
{
    struct aae_msg d;
    aae_msg_init(&d);
    /* segments not strictly increasing in a KEYS_REQ */
    uint32_t ids[2] = { 5, 5 };
    struct aae_msg m = { .type = AAE_MSG_KEYS_REQ, .segments = 1024, .branching = 32, .keys_max = 1,
                         .ids = ids, .n_ids = 2 };
    struct kv_buf b = { 0 };
    ck_assert_int_eq(aae_msg_encode(&m, &b), KV_OK);
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(b.data, b.len), &d), KV_ECORRUPT);
    /* a request carrying a status; an unknown version; an unknown type */
    char req_status[] = "\x01\x07\0\0\0\0\0\0\0\0\x01\x00\x04\x00";
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(req_status, 14), &d), KV_ECORRUPT);
    char reply_busy[] = "\x01\x08\0\0\0\0\0\0\0\0\x01\x00\x08";
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(reply_busy, 13), &d), KV_OK);
    ck_assert_int_eq(d.status, KV_EBUSY);
    reply_busy[0] = 2;
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(reply_busy, 13), &d), KV_ECORRUPT);
    reply_busy[0] = 1;
    reply_busy[1] = 9;
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(reply_busy, 13), &d), KV_ECORRUPT);
    /* a found byte that is neither 0 nor 1; a huge count in a short message */
    char fetch_reply[] = "\x01\x06\0\0\0\0\0\0\0\0\x01\x00\x00\x01\x01k\x02";
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(fetch_reply, 17), &d), KV_ECORRUPT);
    char many[] = "\x01\x02\0\0\0\0\0\0\0\0\x01\x00\x00\xff\xff\xff\x0f";
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(many, 17), &d), KV_ECORRUPT);
    kv_buf_free(&b);
    aae_msg_free(&d);
}
END_TEST

/* ---- exchanges ---- */

START_TEST(trees_are_built_from_data_already_in_the_engine)
{
    struct h *h = h_new(2, 2);
    char buf[32];
    for (uint32_t k = 0; k < 300; k++)
        write_at(&h->nodes[0], key_in(h, 3, k, buf), "v"); /* before the aae exists */
    h_start(h);
    run_for(h, 100);
    struct aae_partition_status st;
    ck_assert_int_eq(aae_partition_status(h->nodes[0].aae, 3, &st), KV_OK);
    ck_assert(st.held && st.ready && !st.building);
    ck_assert_uint_eq(st.keys, 300);
    struct aae_stats s = stats_of(&h->nodes[0]);
    ck_assert_uint_eq(s.trees, Q);
    ck_assert_uint_eq(s.trees_ready, Q);
    ck_assert_uint_eq(s.builds, Q);
    h_free(h);
}
END_TEST

START_TEST(no_exchange_runs_on_a_tree_still_being_built)
{
    struct h *h = h_new(2, 2);
    char buf[32];
    for (uint32_t k = 0; k < 300; k++) {
        write_at(&h->nodes[0], key_in(h, 3, k, buf), "v");
        copy_to(&h->nodes[0], &h->nodes[1], key_in(h, 3, k, buf));
    }
    h->nodes[1].cfg.build_keys_per_step = 10; /* b builds slowly: 10 keys a second */
    h->nodes[1].cfg.build_step_ms = 1000;
    h_start(h);
    run_for(h, 100);
    struct aae_partition_status st;
    ck_assert_int_eq(aae_partition_status(h->nodes[1].aae, 3, &st), KV_OK);
    ck_assert(st.held && !st.ready);
    /* b's own forced exchange waits for its tree... */
    force(h, 1, 3);
    run_for(h, 100);
    ck_assert_uint_eq(stats_of(&h->nodes[1]).exchanges_started, 0);
    /* ... and a's is refused (an empty-looking tree would pull everything). */
    force(h, 0, 3);
    run_for(h, 100);
    ck_assert_int_eq(aae_partition_status(h->nodes[0].aae, 3, &st), KV_OK);
    ck_assert_int_eq(st.last_status, KV_ESTATE);
    run_for(h, 8u * 1000 * 40); /* every partition of b built */
    ck_assert_uint_eq(stats_of(&h->nodes[1]).trees_ready, Q);
    ck_assert_uint_eq(stats_of(&h->nodes[1]).exchanges_in_sync, 1); /* its forced one ran */
    ck_assert_uint_eq(stats_of(&h->nodes[0]).keys_repaired + stats_of(&h->nodes[1]).keys_repaired, 0);
    h_free(h);
}
END_TEST

START_TEST(equal_replicas_exchange_one_round_trip)
{
    struct h *h = h_new(2, 2);
    h_start(h);
    char buf[32];
    for (uint32_t k = 0; k < 200; k++) {
        write_at(&h->nodes[0], key_in(h, 1, k, buf), "v");
        copy_to(&h->nodes[0], &h->nodes[1], key_in(h, 1, k, buf));
    }
    run_for(h, 100);
    force(h, 0, 1);
    run_for(h, 100);
    struct aae_stats s = stats_of(&h->nodes[0]);
    ck_assert_uint_eq(s.exchanges_started, 1);
    ck_assert_uint_eq(s.exchanges_in_sync, 1);
    ck_assert_uint_eq(h->sent_by_type[AAE_MSG_HASHES_REQ], 1);
    ck_assert_uint_eq(h->sent_by_type[AAE_MSG_KEYS_REQ], 0);
    ck_assert_uint_lt(s.bytes_sent + s.bytes_received, 64);
    struct aae_partition_status st;
    ck_assert_int_eq(aae_partition_status(h->nodes[0].aae, 1, &st), KV_OK);
    ck_assert_uint_eq(st.exchanges, 1);
    ck_assert_int_eq(st.last_status, KV_OK);
    ck_assert_str_eq(st.last_peer, "b");
    ck_assert_uint_eq(st.last_in_sync_ms, h->now - 100);
    h_free(h);
}
END_TEST

START_TEST(missing_keys_flow_both_ways)
{
    struct h *h = h_new(2, 2);
    h_start(h);
    char buf[32];
    for (uint32_t k = 0; k < 150; k++) {
        struct kv_slice key = key_in(h, 2, k, buf);
        if (k < 100)
            write_at(&h->nodes[0], key, "from-a");
        if (k >= 50) {
            key = key_in(h, 2, k + 1000, buf);
            write_at(&h->nodes[1], key, "from-b");
        }
    }
    run_for(h, 100);
    ck_assert_uint_ne(root_of(&h->nodes[0], 2), root_of(&h->nodes[1], 2));
    force(h, 1, 2); /* b initiates, though a has the smaller id */
    run_for(h, 100);
    ck_assert_uint_eq(root_of(&h->nodes[0], 2), root_of(&h->nodes[1], 2));
    for (uint32_t k = 0; k < 100; k++) {
        ck_assert(same_object(h, 0, 1, key_in(h, 2, k, buf)));
        ck_assert(same_object(h, 0, 1, key_in(h, 2, k + 1050, buf)));
    }
    struct aae_stats sb = stats_of(&h->nodes[1]), sa = stats_of(&h->nodes[0]);
    ck_assert_uint_eq(sb.exchanges_repaired, 1);
    ck_assert_uint_eq(sb.keys_fetched, 100);
    ck_assert_uint_eq(sb.keys_pushed, 100);
    ck_assert_uint_eq(sb.keys_repaired, 100);         /* merged here */
    ck_assert_uint_eq(sb.keys_repaired_remote, 100);  /* merged at a */
    ck_assert_uint_eq(sa.keys_repaired, 100);
    ck_assert_uint_eq(h->nodes[0].writes, 100);
    struct aae_partition_status st;
    ck_assert_int_eq(aae_partition_status(h->nodes[1].aae, 2, &st), KV_OK);
    ck_assert_uint_eq(st.keys_repaired, 200);
    ck_assert_uint_eq(st.last_in_sync_ms, h->now - 100); /* the closing root check matched */
    /* Trees stayed exact through the merges. */
    ck_assert_int_eq(aae_rebuild(h->nodes[0].aae, 2), KV_OK);
    run_for(h, 100);
    ck_assert_uint_eq(root_of(&h->nodes[0], 2), root_of(&h->nodes[1], 2));
    h_free(h);
}
END_TEST

START_TEST(one_differing_key_costs_only_its_branch)
{
    struct h *h = h_new(2, 2);
    h_start(h);
    char buf[32];
    for (uint32_t k = 0; k < 5000; k++) {
        write_at(&h->nodes[0], key_in(h, 4, k, buf), "same");
        copy_to(&h->nodes[0], &h->nodes[1], key_in(h, 4, k, buf));
    }
    write_at(&h->nodes[1], key_in(h, 4, 1234, buf), "newer");
    run_for(h, 100);
    force(h, 0, 4);
    run_for(h, 100);
    ck_assert(same_object(h, 0, 1, key_in(h, 4, 1234, buf)));
    ck_assert_uint_eq(root_of(&h->nodes[0], 4), root_of(&h->nodes[1], 4));
    /* root, then 32 children, then the 32 leaves under the one that differs; then the closing root */
    ck_assert_uint_eq(h->ids_by_level[0], 2);
    ck_assert_uint_eq(h->ids_by_level[1], 32);
    ck_assert_uint_eq(h->ids_by_level[2], 32);
    ck_assert_uint_eq(h->sent_by_type[AAE_MSG_KEYS_REQ], 1);
    ck_assert_uint_eq(h->sent_by_type[AAE_MSG_FETCH_REQ], 1);
    ck_assert_uint_eq(h->sent_by_type[AAE_MSG_PUSH_REQ], 0); /* b's version supersedes a's */
    struct aae_stats s = stats_of(&h->nodes[0]);
    ck_assert_uint_lt(s.keys_compared, 30); /* 5000 keys / 1024 segments, one segment */
    ck_assert_uint_eq(s.keys_repaired, 1);
    h_free(h);
}
END_TEST

/* The visible (non-tombstone) siblings of node n's object for key. */
static uint32_t visible(struct node *n, struct kv_slice key)
{
    struct kv_buf b = { 0 };
    struct object o;
    object_init(&o);
    uint32_t v = 0;
    if (local_get(n, key, &b)) {
        ck_assert_int_eq(object_decode(kv_slice_make(b.data, b.len), &o), KV_OK);
        v = object_visible_count(&o, 0);
    }
    object_free(&o);
    kv_buf_free(&b);
    return v;
}

START_TEST(concurrent_values_end_as_siblings_on_both)
{
    struct h *h = h_new(2, 2);
    h_start(h);
    char buf[32];
    struct kv_slice key = key_in(h, 6, 1, buf);
    write_at(&h->nodes[0], key, "left");
    write_at(&h->nodes[1], key, "right");
    run_for(h, 100);
    force(h, 0, 6);
    run_for(h, 100);
    ck_assert_uint_eq(visible(&h->nodes[0], key), 2);
    ck_assert_uint_eq(visible(&h->nodes[1], key), 2);
    ck_assert(same_object(h, 0, 1, key));
    ck_assert_uint_eq(root_of(&h->nodes[0], 6), root_of(&h->nodes[1], 6));
    h_free(h);
}
END_TEST

START_TEST(a_tombstone_supersedes_the_value_it_deleted)
{
    struct h *h = h_new(2, 2);
    h_start(h);
    char buf[32];
    struct kv_slice key = key_in(h, 0, 9, buf);
    write_at(&h->nodes[0], key, "doomed");
    copy_to(&h->nodes[0], &h->nodes[1], key);
    write_at(&h->nodes[0], key, NULL); /* b missed the delete */
    ck_assert_uint_eq(visible(&h->nodes[0], key), 0);
    ck_assert_uint_eq(visible(&h->nodes[1], key), 1);
    run_for(h, 100);
    force(h, 1, 0); /* from the side that still has the value */
    run_for(h, 100);
    ck_assert_uint_eq(visible(&h->nodes[0], key), 0);
    ck_assert_uint_eq(visible(&h->nodes[1], key), 0);
    ck_assert(same_object(h, 0, 1, key));
    h_free(h);
}
END_TEST

START_TEST(lost_messages_are_resent_after_the_timeout)
{
    struct h *h = h_new(2, 2);
    h_start(h);
    char buf[32];
    for (uint32_t k = 0; k < 20; k++)
        write_at(&h->nodes[0], key_in(h, 5, k, buf), "v");
    run_for(h, 100);
    force(h, 0, 5);
    h->drop_next = 3; /* the root request, then its resend, then the resend's reply */
    run_for(h, 60000);
    struct aae_stats s = stats_of(&h->nodes[0]);
    ck_assert_uint_eq(s.timeouts, 3);
    ck_assert_uint_eq(s.exchanges_repaired, 1);
    ck_assert_uint_eq(root_of(&h->nodes[0], 5), root_of(&h->nodes[1], 5));
    /* A dead peer: retries run out and the exchange fails. */
    write_at(&h->nodes[0], key_in(h, 5, 99, buf), "v");
    force(h, 0, 5);
    h->drop_next = 100;
    run_for(h, 60000);
    s = stats_of(&h->nodes[0]);
    ck_assert_uint_eq(s.exchanges_failed, 1);
    struct aae_partition_status st;
    ck_assert_int_eq(aae_partition_status(h->nodes[0].aae, 5, &st), KV_OK);
    ck_assert_int_eq(st.last_status, KV_ETIMEDOUT);
    h->drop_next = 0;
    h_free(h);
}
END_TEST

START_TEST(a_responder_over_budget_answers_busy_and_the_exchange_waits)
{
    struct h *h = h_new(2, 2);
    h->nodes[1].cfg.bytes_per_sec = 2000; /* b: 2 kB/s */
    h->nodes[1].cfg.burst_bytes = 2000;
    h->nodes[0].cfg.page_keys_max = 16;
    h_start(h);
    char buf[32];
    for (uint32_t k = 0; k < 300; k++)
        write_at(&h->nodes[0], key_in(h, 7, k, buf), "a-value-of-some-length");
    run_for(h, 100);
    force(h, 0, 7);
    run_for(h, 100);
    struct aae_stats sa = stats_of(&h->nodes[0]), sb = stats_of(&h->nodes[1]);
    ck_assert_uint_gt(sb.busy_replies, 0);
    ck_assert_uint_eq(sa.busy_waits, sb.busy_replies);
    ck_assert_uint_eq(sa.exchanges_repaired + sa.exchanges_failed, 0); /* still going */
    run_for(h, 120000);
    sa = stats_of(&h->nodes[0]);
    ck_assert_uint_eq(sa.exchanges_repaired, 1);
    ck_assert_uint_eq(root_of(&h->nodes[0], 7), root_of(&h->nodes[1], 7));
    h_free(h);
}
END_TEST

START_TEST(an_initiator_over_budget_waits_before_sending)
{
    struct h *h = h_new(2, 2);
    h->nodes[0].cfg.bytes_per_sec = 1000;
    h->nodes[0].cfg.page_keys_max = 8;
    h_start(h);
    char buf[32];
    for (uint32_t k = 0; k < 200; k++)
        write_at(&h->nodes[1], key_in(h, 3, k, buf), "v");
    run_for(h, 100);
    force(h, 0, 3);
    uint64_t start = h->now;
    while (stats_of(&h->nodes[0]).exchanges_repaired == 0)
        run_for(h, 1000);
    struct aae_stats s = stats_of(&h->nodes[0]);
    /* All the bytes beyond the first second's burst came at <= 1000 B/s. */
    ck_assert_uint_ge((h->now - start) / 1000 + 2, (s.bytes_sent + s.bytes_received) / 1000);
    ck_assert_uint_eq(s.busy_waits, 0);
    ck_assert_uint_eq(root_of(&h->nodes[0], 3), root_of(&h->nodes[1], 3));
    h_free(h);
}
END_TEST

START_TEST(small_pages_cover_a_wiped_replica)
{
    struct h *h = h_new(2, 2);
    h->nodes[0].cfg.page_keys_max = 7;
    h->nodes[1].cfg.page_keys_max = 5;  /* the responder's cap is lower: its pages end first */
    h->nodes[0].cfg.scan_keys_max = 40;
    h->nodes[1].cfg.scan_keys_max = 30;
    h->nodes[0].cfg.batch_bytes_max = 100; /* a few objects per fetch or push */
    h_start(h);
    char buf[32];
    for (uint32_t k = 0; k < 500; k++)
        write_at(&h->nodes[0], key_in(h, 1, k, buf), k % 2 ? "odd" : "even");
    for (uint32_t k = 0; k < 100; k++)
        write_at(&h->nodes[1], key_in(h, 1, 10000 + k, buf), "b");
    run_for(h, 100);
    force(h, 0, 1);
    run_for(h, 1000);
    ck_assert_uint_gt(h->sent_by_type[AAE_MSG_KEYS_REQ], 50);
    ck_assert_uint_eq(stats_of(&h->nodes[0]).exchanges_repaired, 1);
    for (uint32_t k = 0; k < 500; k++)
        ck_assert(same_object(h, 0, 1, key_in(h, 1, k, buf)));
    for (uint32_t k = 0; k < 100; k++)
        ck_assert(same_object(h, 0, 1, key_in(h, 1, 10000 + k, buf)));
    ck_assert_uint_eq(root_of(&h->nodes[0], 1), root_of(&h->nodes[1], 1));
    h_free(h);
}
END_TEST

START_TEST(a_tree_shape_mismatch_fails_the_exchange)
{
    struct h *h = h_new(2, 2);
    h->nodes[1].cfg.segments = 4096;
    h->nodes[1].cfg.branching = 64;
    h_start(h);
    char buf[32];
    write_at(&h->nodes[0], key_in(h, 2, 1, buf), "v");
    run_for(h, 100);
    force(h, 0, 2);
    run_for(h, 100);
    struct aae_partition_status st;
    ck_assert_int_eq(aae_partition_status(h->nodes[0].aae, 2, &st), KV_OK);
    ck_assert_int_eq(st.last_status, KV_EINVAL);
    ck_assert_uint_eq(stats_of(&h->nodes[0]).exchanges_failed, 1);
    h_free(h);
}
END_TEST

START_TEST(only_replicas_hold_trees_and_answer)
{
    struct h *h = h_new(3, 2); /* each partition on 2 of 3 nodes */
    h_start(h);
    run_for(h, 100);
    uint32_t held = 0;
    for (int i = 0; i < 3; i++)
        held += (uint32_t)stats_of(&h->nodes[i]).trees;
    ck_assert_uint_eq(held, Q * 2);
    /* A partition c does not hold: forcing it there finds nothing. */
    uint32_t p = 0, n;
    struct aae_partition_status st;
    for (; p < Q; p++) {
        ck_assert_int_eq(aae_partition_status(h->nodes[2].aae, p, &st), KV_OK);
        if (!st.held)
            break;
    }
    ck_assert_uint_lt(p, Q);
    ck_assert_int_eq(aae_repair(h->nodes[2].aae, p, NULL, h->now, &n), KV_ENOTFOUND);
    ck_assert_int_eq(aae_repair(h->nodes[0].aae, AAE_ALL_PARTITIONS, "nobody", h->now, &n), KV_ENOTFOUND);
    /* ... and a request about it is refused KV_ESTATE. */
    uint32_t root = 0;
    struct aae_msg m = { .type = AAE_MSG_HASHES_REQ, .xid = 1, .seq = 1, .partition = p,
                         .segments = MERKLE_SEGMENTS_DEFAULT, .branching = MERKLE_BRANCHING_DEFAULT,
                         .ids = &root, .n_ids = 1 };
    ck_assert_int_eq(aae_handle_message(h->nodes[2].aae, "a", &m, h->now), KV_OK);
    ck_assert_int_eq(h->qlen, 1);
    struct aae_msg r;
    aae_msg_init(&r);
    ck_assert_int_eq(aae_msg_decode(kv_slice_make(h->q[h->qhead].bytes.data, h->q[h->qhead].bytes.len), &r), KV_OK);
    ck_assert_int_eq(r.status, KV_ESTATE);
    aae_msg_free(&r);
    h->qlen = 0;
    /* Out-of-range partitions are protocol errors. */
    m.partition = Q;
    ck_assert_int_eq(aae_handle_message(h->nodes[2].aae, "a", &m, h->now), KV_EPROTO);
    h_free(h);
}
END_TEST

START_TEST(periodic_verify_reports_a_write_the_tree_missed)
{
    struct h *h = h_new(2, 2);
    h->nodes[0].cfg.verify_interval_ms = 5000;
    h_start(h);
    char buf[32];
    for (uint32_t k = 0; k < 50; k++)
        write_at(&h->nodes[0], key_in(h, 4, k, buf), "v");
    run_for(h, 100);
    struct aae *saved = h->nodes[0].aae;
    h->nodes[0].aae = NULL; /* the next write bypasses aae_note_write */
    write_at(&h->nodes[0], key_in(h, 4, 7, buf), "lost");
    h->nodes[0].aae = saved;
    run_for(h, 6000);
    struct aae_stats s = stats_of(&h->nodes[0]);
    ck_assert_uint_ge(s.verifies, Q);
    ck_assert_uint_eq(s.verify_mismatches, 1);
    struct aae_partition_status st;
    ck_assert_int_eq(aae_partition_status(h->nodes[0].aae, 4, &st), KV_OK);
    ck_assert_uint_eq(st.verifies, 1);
    ck_assert_uint_eq(st.last_verify_mismatches, 1);
    h_free(h);
}
END_TEST

START_TEST(periodic_schedule_exchanges_each_pair_once_per_interval)
{
    struct h *h = h_new(2, 2);
    for (int i = 0; i < 2; i++)
        h->nodes[i].cfg.exchange_interval_ms = 10000;
    h_start(h);
    /* The first round starts at a random point of [now, now + interval). */
    run_until(h, 1000 + 10000 - 1);
    struct aae_stats a = stats_of(&h->nodes[0]), b = stats_of(&h->nodes[1]);
    ck_assert_uint_eq(a.exchanges_started, Q); /* a < b: a initiates every pair */
    ck_assert_uint_eq(b.exchanges_started, 0);
    run_until(h, 1000 + 20000 - 1);
    ck_assert_uint_eq(stats_of(&h->nodes[0]).exchanges_started, 2 * Q);
    h_free(h);
}
END_TEST

START_TEST(bad_configs_are_refused)
{
    struct h *h = h_new(1, 1);
    struct aae *a;
    struct aae_config c = h->nodes[0].cfg;
    c.engine = h->nodes[0].e;
    c.segments = 1000;
    ck_assert_int_eq(aae_new(&c, &a), KV_EINVAL);
    c = h->nodes[0].cfg;
    c.engine = h->nodes[0].e;
    c.partitions = 6;
    ck_assert_int_eq(aae_new(&c, &a), KV_EINVAL);
    c = h->nodes[0].cfg;
    c.engine = NULL;
    ck_assert_int_eq(aae_new(&c, &a), KV_EINVAL);
    c = h->nodes[0].cfg;
    c.engine = h->nodes[0].e;
    c.exchanges_max = 0;
    ck_assert_int_eq(aae_new(&c, &a), KV_EINVAL);
    h_free(h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("aae");
    TCase *tc = tcase_create("aae");
    tcase_add_test(tc, root_request_encodes_as_documented);
    tcase_add_test(tc, every_message_type_round_trips);
    tcase_add_test(tc, decoder_refuses_malformed_fields);
    tcase_add_test(tc, trees_are_built_from_data_already_in_the_engine);
    tcase_add_test(tc, no_exchange_runs_on_a_tree_still_being_built);
    tcase_add_test(tc, equal_replicas_exchange_one_round_trip);
    tcase_add_test(tc, missing_keys_flow_both_ways);
    tcase_add_test(tc, one_differing_key_costs_only_its_branch);
    tcase_add_test(tc, concurrent_values_end_as_siblings_on_both);
    tcase_add_test(tc, a_tombstone_supersedes_the_value_it_deleted);
    tcase_add_test(tc, lost_messages_are_resent_after_the_timeout);
    tcase_add_test(tc, a_responder_over_budget_answers_busy_and_the_exchange_waits);
    tcase_add_test(tc, an_initiator_over_budget_waits_before_sending);
    tcase_add_test(tc, small_pages_cover_a_wiped_replica);
    tcase_add_test(tc, a_tree_shape_mismatch_fails_the_exchange);
    tcase_add_test(tc, only_replicas_hold_trees_and_answer);
    tcase_add_test(tc, periodic_verify_reports_a_write_the_tree_missed);
    tcase_add_test(tc, periodic_schedule_exchanges_each_pair_once_per_interval);
    tcase_add_test(tc, bad_configs_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
