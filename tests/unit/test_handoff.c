/*
 * test_handoff.c - the ownership handoff state machine (coordinator/handoff.h)
 * with three nodes in one process: real engines in temporary directories,
 * messages through a queue delivered by the test, virtual time, and a
 * shared "cluster ring" that transfer_done advances (what gossip does).
 * Merges here are plain stores of the bytes (causal merging is the
 * coordinator's, tested in test_coord.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "coordinator/handoff.h"
#include "coordinator/keyspace.h"
#include "engine_testutil.h"
#include "gossip/ring.h"

#define T_NODES 3
#define T_Q 8u
#define T_KEYS 400u
#define T_QUEUE_MAX 100000u

struct t_msg {
    int from, to;
    struct handoff_msg m;
    struct handoff_item *items;
    struct kv_buf bytes;
    char to_id[RING_ID_BYTES_MAX + 1];
};

struct t_node {
    int idx;
    char id[8];
    char *dir;
    struct engine *e;
    struct handoff *h;
    struct kv_buf saved;
    bool down;
    uint64_t drops;
};

static struct t_node g_nodes[T_NODES];
static struct t_msg *g_queue;
static size_t g_queued;
static struct ring *g_ring;   /* the cluster's newest ring */
static uint64_t g_now;
static uint64_t g_forwards;   /* FORWARD messages queued */
static int g_refused;         /* BATCH_REPLY with an error */

static int t_index(const char *id) { return id[1] - '1'; }

static int t_send(void *ctx, const char *to, const struct handoff_msg *m)
{
    struct t_node *n = ctx;
    ck_assert_uint_lt(g_queued, T_QUEUE_MAX);
    struct t_msg *q = &g_queue[g_queued++];
    memset(q, 0, sizeof *q);
    q->from = n->idx;
    q->to = t_index(to);
    q->m = *m;
    if (m->type == HANDOFF_MSG_FORWARD)
        g_forwards++;
    if (m->type == HANDOFF_MSG_BATCH_REPLY && m->status != KV_OK)
        g_refused++;
    if (m->to) {
        snprintf(q->to_id, sizeof q->to_id, "%s", m->to);
        q->m.to = q->to_id;
    }
    /* Copy the items: they are valid during the call only. */
    size_t off = 0;
    for (uint32_t i = 0; i < m->n_items; i++) {
        ck_assert_int_eq(kv_buf_append(&q->bytes, m->items[i].key.data, m->items[i].key.len), KV_OK);
        ck_assert_int_eq(kv_buf_append(&q->bytes, m->items[i].object.data, m->items[i].object.len), KV_OK);
    }
    q->items = calloc(m->n_items ? m->n_items : 1, sizeof *q->items);
    for (uint32_t i = 0; i < m->n_items; i++) {
        q->items[i].key = kv_slice_make(q->bytes.data + off, m->items[i].key.len);
        off += m->items[i].key.len;
        q->items[i].object = kv_slice_make(q->bytes.data + off, m->items[i].object.len);
        off += m->items[i].object.len;
    }
    q->m.items = q->items;
    return KV_OK;
}

static bool t_alive(void *ctx, const char *id) { return !g_nodes[t_index(id)].down; }

static int t_merge(void *ctx, uint32_t range, struct kv_slice key, struct kv_slice object)
{
    struct t_node *n = ctx;
    char ek[256];
    struct keyspace ks;
    ck_assert_int_eq(keyspace_init(&ks, T_Q), KV_OK);
    size_t len = keyspace_encode(&ks, KEYSPACE_DATA, key, ek);
    return engine_put(n->e, kv_slice_make(ek, len), object);
}

static int t_transfer_done(void *ctx, uint32_t partition, const char *to)
{
    uint32_t m;
    if (ring_member_find(g_ring, to, &m) != KV_OK || ring_pending(g_ring, partition) != m)
        return KV_ESTATE;
    return ring_transfer_done(g_ring, partition);
}

static int t_drop(void *ctx, uint32_t range)
{
    struct t_node *n = ctx;
    char b[KEYSPACE_PREFIX_BYTES], e[KEYSPACE_PREFIX_BYTES];
    keyspace_partition_range(KEYSPACE_DATA, range, b, e);
    n->drops++;
    return engine_delete_range(n->e, kv_slice_make(b, sizeof b), kv_slice_make(e, sizeof e));
}

static int t_save(void *ctx, const void *data, size_t len)
{
    struct t_node *n = ctx;
    return kv_buf_set(&n->saved, data, len);
}

static void t_open_handoff(struct t_node *n, uint64_t bytes_per_sec)
{
    struct handoff_config c;
    handoff_config_default(&c);
    c.node_id = n->id;
    c.engine = n->e;
    c.bytes_per_sec = bytes_per_sec;
    c.batch_bytes = 4096;
    c.drop_delay_ms = 1000;
    c.ops = (struct handoff_ops){ t_send, t_alive, t_merge, t_transfer_done, t_drop, t_save, n };
    ck_assert_int_eq(handoff_new(&c, n->saved.data, n->saved.len, &n->h), KV_OK);
}

static void t_setup(uint64_t bytes_per_sec)
{
    g_queue = calloc(T_QUEUE_MAX, sizeof *g_queue);
    g_queued = 0;
    g_now = 1000;
    g_forwards = 0;
    g_refused = 0;
    for (int i = 0; i < T_NODES; i++) {
        struct t_node *n = &g_nodes[i];
        memset(n, 0, sizeof *n);
        n->idx = i;
        snprintf(n->id, sizeof n->id, "n%d", i + 1);
        n->dir = tu_tmpdir();
        struct engine_options o;
        engine_options_default(&o);
        o.sync = ENGINE_SYNC_NONE;
        ck_assert_int_eq(engine_open(n->dir, &o, &n->e), KV_OK);
        t_open_handoff(n, bytes_per_sec);
    }
    /* Ring 1: n1 and n2, N = 2: both hold every key. */
    struct ring_member_spec two[] = { { "n1", NULL }, { "n2", NULL } };
    ck_assert_int_eq(ring_create(T_Q, 2, two, 2, &g_ring), KV_OK);
    for (unsigned i = 0; i < T_KEYS; i++) {
        char key[32], val[256];
        snprintf(key, sizeof key, "key%u", i);
        snprintf(val, sizeof val, "value-%u-%0200u", i, i); /* ~200 bytes: slow budgets take many steps */
        uint32_t p = ring_partition_of_key(key, strlen(key), T_Q);
        for (int k = 0; k < 2; k++)
            ck_assert_int_eq(t_merge(&g_nodes[k], p, kv_slice_str(key), kv_slice_str(val)), KV_OK);
    }
}

static void t_free_queue(void)
{
    for (size_t i = 0; i < g_queued; i++) {
        free(g_queue[i].items);
        kv_buf_free(&g_queue[i].bytes);
    }
    g_queued = 0;
}

static void t_teardown(void)
{
    for (int i = 0; i < T_NODES; i++) {
        struct t_node *n = &g_nodes[i];
        handoff_free(n->h);
        ck_assert_int_eq(engine_close(n->e), KV_OK);
        tu_rmdir(n->dir);
        kv_buf_free(&n->saved);
    }
    t_free_queue();
    free(g_queue);
    ring_free(g_ring);
}

/* Commits the claim of `ids` on the cluster ring (pending transfers). */
static void t_commit(const char *const *ids, size_t n)
{
    struct ring_member_spec specs[T_NODES];
    for (size_t i = 0; i < n; i++)
        specs[i] = (struct ring_member_spec){ ids[i], NULL };
    struct ring *target = NULL, *next = NULL;
    ck_assert_int_eq(ring_claim(g_ring, specs, n, &target), KV_OK);
    ck_assert_int_eq(ring_commit(g_ring, target, &next), KV_OK);
    ring_free(target);
    ring_free(g_ring);
    g_ring = next;
    ck_assert_uint_gt(ring_pending_count(g_ring), 0);
}

/* One step: every live node sees the ring and ticks, then the queue is
 * delivered (messages to a down node are lost). */
static void t_step(void)
{
    for (int i = 0; i < T_NODES; i++) {
        if (g_nodes[i].down)
            continue;
        ck_assert_int_eq(handoff_set_ring(g_nodes[i].h, g_ring, g_now), KV_OK);
        handoff_tick(g_nodes[i].h, g_now);
    }
    /* Delivery may queue replies: deliver until quiet. */
    for (size_t done = 0; done < g_queued; done++) {
        struct t_msg *q = &g_queue[done];
        if (g_nodes[q->to].down || g_nodes[q->from].down)
            continue;
        ck_assert_int_eq(handoff_handle_message(g_nodes[q->to].h, g_nodes[q->from].id, &q->m, g_now), KV_OK);
    }
    t_free_queue();
    g_now += 50;
}

static bool t_holds(struct t_node *n, const char *key)
{
    struct keyspace ks;
    ck_assert_int_eq(keyspace_init(&ks, T_Q), KV_OK);
    char ek[256];
    size_t len = keyspace_encode(&ks, KEYSPACE_DATA, kv_slice_str(key), ek);
    struct kv_buf b = { 0 };
    int rc = engine_get(n->e, NULL, kv_slice_make(ek, len), &b);
    kv_buf_free(&b);
    return rc == KV_OK;
}

/* Each key is held by exactly the N nodes of its preference list. */
static void t_check_placement(unsigned nkeys)
{
    for (unsigned i = 0; i < nkeys; i++) {
        char key[32];
        snprintf(key, sizeof key, "key%u", i);
        uint32_t p = ring_partition_of_key(key, strlen(key), T_Q), pref[RING_N_VAL_MAX];
        size_t np = ring_preference_list(g_ring, p, pref, ring_n_val(g_ring));
        for (int k = 0; k < T_NODES; k++) {
            bool want = false;
            for (size_t j = 0; j < np; j++)
                want |= strcmp(ring_member_id(g_ring, pref[j]), g_nodes[k].id) == 0;
            ck_assert_msg(t_holds(&g_nodes[k], key) == want, "%s on %s: held %d, preference list says %d", key,
                          g_nodes[k].id, !want, want);
        }
    }
}

/* Steps until nothing is pending and the drop delay has passed. */
static void t_run_until_done(unsigned steps_max)
{
    unsigned s = 0;
    for (; s < steps_max && ring_pending_count(g_ring) > 0; s++)
        t_step();
    ck_assert_msg(ring_pending_count(g_ring) == 0, "%u partitions still pending after %u steps",
                  ring_pending_count(g_ring), s);
    for (unsigned k = 0; k < 40; k++) /* drop delay (1 s) */
        t_step();
}

START_TEST(grow_moves_every_range_and_drops_the_old_copies)
{
    t_setup(64 * 1024 * 1024);
    const char *three[] = { "n1", "n2", "n3" };
    t_commit(three, 3);
    t_run_until_done(2000);
    t_check_placement(T_KEYS);
    struct handoff_stats st;
    handoff_get_stats(g_nodes[2].h, &st);
    ck_assert_uint_gt(st.keys_received, 0);
    ck_assert_uint_gt(st.partitions_completed, 0);
    ck_assert_uint_gt(g_nodes[0].drops + g_nodes[1].drops, 0);
    t_teardown();
}
END_TEST

START_TEST(shrink_moves_a_leaving_nodes_ranges_back)
{
    t_setup(64 * 1024 * 1024);
    const char *three[] = { "n1", "n2", "n3" }, *two[] = { "n1", "n3" };
    t_commit(three, 3);
    t_run_until_done(2000);
    t_commit(two, 2);
    t_run_until_done(2000);
    uint32_t m;
    ck_assert_int_eq(ring_member_find(g_ring, "n2", &m), KV_ENOTFOUND); /* gone from the ring */
    t_check_placement(T_KEYS);
    t_teardown();
}
END_TEST

START_TEST(writes_during_the_move_are_forwarded)
{
    t_setup(8 * 1024); /* slow: the move takes many steps */
    const char *three[] = { "n1", "n2", "n3" };
    t_commit(three, 3);
    for (int i = 0; i < 10; i++)
        t_step();
    ck_assert_uint_gt(ring_pending_count(g_ring), 0);
    /* New keys written on both holders during the move (what the write hook reports). */
    for (unsigned i = T_KEYS; i < T_KEYS + 50; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "key%u", i);
        snprintf(val, sizeof val, "late-%u", i);
        uint32_t p = ring_partition_of_key(key, strlen(key), T_Q);
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(t_merge(&g_nodes[k], p, kv_slice_str(key), kv_slice_str(val)), KV_OK);
            handoff_note_write(g_nodes[k].h, p, kv_slice_str(key), kv_slice_str(val));
        }
    }
    ck_assert_uint_gt(g_forwards, 0);
    t_run_until_done(20000);
    t_check_placement(T_KEYS + 50);
    t_teardown();
}
END_TEST

START_TEST(a_restarted_source_resumes_from_its_saved_cursor)
{
    t_setup(8 * 1024);
    const char *three[] = { "n1", "n2", "n3" };
    t_commit(three, 3);
    /* Run until some source has sent keys, then crash every node (state lost except saves). */
    uint64_t sent_before = 0;
    for (int i = 0; i < 400 && sent_before == 0; i++) {
        t_step();
        for (int k = 0; k < T_NODES; k++) {
            struct handoff_stats st;
            handoff_get_stats(g_nodes[k].h, &st);
            sent_before += st.keys_sent;
        }
    }
    ck_assert_uint_gt(sent_before, 0);
    for (int i = 0; i < 20; i++) /* past a save interval */
        t_step();
    ck_assert_uint_gt(ring_pending_count(g_ring), 0);
    uint64_t resumed_keys = 0;
    for (int k = 0; k < T_NODES; k++) {
        handoff_free(g_nodes[k].h);
        t_open_handoff(&g_nodes[k], 8 * 1024);
        ck_assert_int_eq(handoff_set_ring(g_nodes[k].h, g_ring, g_now), KV_OK);
        for (size_t i = 0; i < handoff_transfer_count(g_nodes[k].h); i++) {
            struct handoff_transfer_info ti;
            handoff_transfer_at(g_nodes[k].h, i, &ti);
            resumed_keys += ti.keys_sent;
        }
    }
    ck_assert_msg(resumed_keys > 0, "no stream kept its progress across the restart");
    t_run_until_done(20000);
    t_check_placement(T_KEYS);
    t_teardown();
}
END_TEST

START_TEST(a_receiver_that_does_not_hold_the_range_refuses_batches)
{
    t_setup(64 * 1024 * 1024);
    /* n3 is not in the ring: a batch for any range is refused. */
    ck_assert_int_eq(handoff_set_ring(g_nodes[2].h, g_ring, g_now), KV_OK);
    struct handoff_item item = { kv_slice_str("key1"), kv_slice_str("x") };
    uint32_t p = ring_partition_of_key("key1", 4, T_Q);
    struct handoff_msg m = { .type = HANDOFF_MSG_BATCH, .req_id = 7, .partition = p, .range = p, .last = true,
                             .n_items = 1, .items = &item };
    ck_assert_int_eq(handoff_handle_message(g_nodes[2].h, "n1", &m, g_now), KV_OK);
    ck_assert_int_eq(g_refused, 1);
    ck_assert(!t_holds(&g_nodes[2], "key1"));
    t_teardown();
}
END_TEST

START_TEST(a_done_notice_for_a_range_past_q_is_ignored)
{
    t_setup(64 * 1024 * 1024);
    const char *three[] = { "n1", "n2", "n3" };
    t_commit(three, 3);
    t_step();
    /* Was a read far past the plan's [Q + 1] index (fuzz_store, regress_saved_fact_range). */
    struct handoff_msg m = { .type = HANDOFF_MSG_DONE, .partition = 0, .range = UINT32_MAX - 1, .to = "n3" };
    for (int i = 0; i < T_NODES; i++)
        ck_assert_int_eq(handoff_handle_message(g_nodes[i].h, "n1", &m, g_now), KV_OK);
    t_run_until_done(20000);
    t_check_placement(T_KEYS);
    t_teardown();
}
END_TEST

START_TEST(damaged_saved_state_is_ignored)
{
    t_setup(64 * 1024 * 1024);
    const char *three[] = { "n1", "n2", "n3" };
    t_commit(three, 3);
    for (int i = 0; i < 20; i++)
        t_step();
    struct t_node *n = &g_nodes[0];
    ck_assert_uint_gt(n->saved.len, 8);
    n->saved.data[n->saved.len / 2] ^= 0x40;
    handoff_free(n->h);
    t_open_handoff(n, 64 * 1024 * 1024); /* logs, starts over */
    t_run_until_done(2000);
    t_check_placement(T_KEYS);
    t_teardown();
}
END_TEST

START_TEST(bad_configs_are_refused)
{
    struct handoff_config c;
    handoff_config_default(&c);
    struct handoff *h = NULL;
    ck_assert_int_eq(handoff_new(&c, NULL, 0, &h), KV_EINVAL); /* no node id, engine, ops */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("handoff");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grow_moves_every_range_and_drops_the_old_copies);
    tcase_add_test(tc, shrink_moves_a_leaving_nodes_ranges_back);
    tcase_add_test(tc, writes_during_the_move_are_forwarded);
    tcase_add_test(tc, a_restarted_source_resumes_from_its_saved_cursor);
    tcase_add_test(tc, a_receiver_that_does_not_hold_the_range_refuses_batches);
    tcase_add_test(tc, a_done_notice_for_a_range_past_q_is_ignored);
    tcase_add_test(tc, damaged_saved_state_is_ignored);
    tcase_add_test(tc, bad_configs_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
