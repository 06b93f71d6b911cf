/*
 * test_node_cluster.c - node/cluster.h: auto-join, staged ring changes,
 * the ring and peers files, and node/state_file.h. Several node_cluster
 * instances talk over an in-memory network in virtual time (every message
 * goes through the gossip codec); no sockets, no timers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "gossip/codec.h"
#include "gossip/ring.h"
#include "node/cluster.h"
#include "node/config.h"
#include "node/state_file.h"

#define NODES_MAX 8
#define QUEUE_MAX 4096
#define STEP_MS 10u

struct packet {
    int to;
    char from[32];
    struct kv_buf bytes;
};

struct tnode {
    struct node_cluster *c;
    char id[16], addr[32], cluster[16];
    bool down;
};

struct tnet {
    struct tnode n[NODES_MAX];
    int count;
    struct packet q[QUEUE_MAX];
    size_t nq;
    uint64_t now;
    char dir[64]; /* state dirs live under it; "" = no files */
};

struct sender {
    struct tnet *net;
    int self;
};
static struct sender senders[NODES_MAX];

static void tsend(void *ctx, const char *to, const struct gossip_msg *msg)
{
    struct sender *s = ctx;
    struct tnet *t = s->net;
    int dst = -1;
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->n[i].addr, to) == 0)
            dst = i;
    if (dst < 0 || t->nq == QUEUE_MAX)
        return;
    struct packet *p = &t->q[t->nq++];
    p->to = dst;
    const char *from = t->n[s->self].addr;
    memcpy(p->from, from, strlen(from) + 1);
    memset(&p->bytes, 0, sizeof p->bytes);
    ck_assert_int_eq(gossip_msg_encode(msg, &p->bytes), KV_OK);
}

static void state_dir_of(const struct tnet *t, int i, char *out, size_t cap)
{
    snprintf(out, cap, "%s/n%d", t->dir, i + 1);
}

/* Starts node i (ids n1..n8, address nI:7000) with seeds = n1's address
 * (none if seedless). */
static void tnode_start_ex(struct tnet *t, int i, bool auto_join, const char *cluster, bool seedless)
{
    struct tnode *n = &t->n[i];
    snprintf(n->id, sizeof n->id, "n%d", i + 1);
    snprintf(n->addr, sizeof n->addr, "n%d:7000", i + 1);
    snprintf(n->cluster, sizeof n->cluster, "%s", cluster ? cluster : "test");
    char dir[128] = "";
    if (t->dir[0]) {
        state_dir_of(t, i, dir, sizeof dir);
        mkdir(dir, 0755);
    }
    const char *seeds[1] = { "n1:7000" };
    struct node_cluster_config cfg = {
        .node_id = n->id, .cluster_name = n->cluster, .advertise = n->addr,
        .state_dir = dir[0] ? dir : NULL, .partitions = 64, .n_val = 3, .auto_join = auto_join,
        .seeds = seeds, .n_seeds = seedless ? 0 : 1, .rand_seed = (uint64_t)i + 1,
    };
    senders[i].net = t;
    senders[i].self = i;
    struct node_cluster_net net = { tsend, &senders[i] };
    ck_assert_int_eq(node_cluster_new(&cfg, &net, t->now, &n->c), KV_OK);
    n->down = false;
    if (i >= t->count)
        t->count = i + 1;
}

static void tnode_start(struct tnet *t, int i, bool auto_join, const char *cluster)
{
    tnode_start_ex(t, i, auto_join, cluster, false);
}

static void tnode_crash(struct tnet *t, int i)
{
    node_cluster_free(t->n[i].c);
    t->n[i].c = NULL;
    t->n[i].down = true;
}

static void tnet_open(struct tnet *t, bool files)
{
    memset(t, 0, sizeof *t);
    t->now = 1000;
    if (files) {
        snprintf(t->dir, sizeof t->dir, "/tmp/test_node_cluster.XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(t->dir));
    }
}

static void tnet_close(struct tnet *t)
{
    for (int i = 0; i < t->count; i++)
        node_cluster_free(t->n[i].c);
    for (size_t i = 0; i < t->nq; i++)
        kv_buf_free(&t->q[i].bytes);
    if (t->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
        ck_assert_int_eq(system(cmd), 0);
    }
}

/* Delivers what is queued, then ticks every running node, then advances time. */
static void tnet_step(struct tnet *t)
{
    size_t n = t->nq;
    struct packet *batch = malloc((n ? n : 1) * sizeof *batch);
    ck_assert_ptr_nonnull(batch);
    memcpy(batch, t->q, n * sizeof *batch);
    t->nq = 0;
    for (size_t i = 0; i < n; i++) {
        struct tnode *dst = &t->n[batch[i].to];
        struct gossip_msg msg;
        if (!dst->down && gossip_msg_decode(batch[i].bytes.data, batch[i].bytes.len, &msg) == KV_OK) {
            int rc = node_cluster_handle_message(dst->c, batch[i].from, &msg, t->now);
            (void)rc; /* foreign-cluster messages are refused by design */
            gossip_msg_clear(&msg);
        }
        kv_buf_free(&batch[i].bytes);
    }
    free(batch);
    for (int i = 0; i < t->count; i++)
        if (!t->n[i].down && node_cluster_next_tick_ms(t->n[i].c) <= t->now)
            node_cluster_tick(t->n[i].c, t->now);
    t->now += STEP_MS;
}

static uint64_t ring_v(const struct tnode *n)
{
    const struct ring *r = node_cluster_ring(n->c);
    return r ? ring_version(r) : 0;
}

/* Every running node has the same ring with `members` members in its set. */
static bool converged(const struct tnet *t, uint32_t members)
{
    const struct ring *first = NULL;
    for (int i = 0; i < t->count; i++) {
        if (t->n[i].down || strcmp(t->n[i].cluster, "test") != 0)
            continue;
        const struct ring *r = node_cluster_ring(t->n[i].c);
        if (!r)
            return false;
        uint32_t in_set = 0;
        for (uint32_t m = 0; m < ring_member_count(r); m++)
            in_set += ring_member_in_set(r, m);
        if (in_set != members || (first && !ring_equal(first, r)))
            return false;
        first = r;
    }
    return first != NULL;
}

static void run_until_converged(struct tnet *t, uint32_t members, uint64_t limit_ms)
{
    uint64_t end = t->now + limit_ms;
    while (!converged(t, members) && t->now < end)
        tnet_step(t);
    ck_assert_msg(converged(t, members), "no convergence on %u members by t=%llu", members,
                  (unsigned long long)t->now);
}

static void run_ms(struct tnet *t, uint64_t ms)
{
    uint64_t end = t->now + ms;
    while (t->now < end)
        tnet_step(t);
}

static enum gossip_state state_seen(const struct tnode *observer, const char *id)
{
    struct membership_member mm;
    ck_assert_int_eq(membership_member_find(node_cluster_membership(observer->c), id, &mm), KV_OK);
    return mm.state;
}

START_TEST(nodes_started_together_form_one_ring_without_transfers)
{
    struct tnet t;
    tnet_open(&t, false);
    for (int i = 0; i < 5; i++)
        tnode_start(&t, i, true, NULL);
    run_until_converged(&t, 5, 30000);
    const struct ring *r = node_cluster_ring(t.n[3].c);
    ck_assert_uint_eq(ring_version(r), 1);
    ck_assert_uint_eq(ring_pending_count(r), 0);
    for (uint32_t m = 0; m < 5; m++) {
        ck_assert_uint_ge(ring_owned_count(r, m), 12);
        ck_assert_uint_le(ring_owned_count(r, m), 13);
    }
    struct node_cluster_stats st;
    node_cluster_get_stats(t.n[0].c, &st);
    ck_assert_uint_eq(st.claims, 1); /* n1, the lowest id, made the ring */
    ck_assert_uint_eq(st.members[GOSSIP_ALIVE], 5);
    tnet_close(&t);
}
END_TEST

START_TEST(a_late_node_is_claimed_with_pending_transfers)
{
    struct tnet t;
    tnet_open(&t, false);
    for (int i = 0; i < 3; i++)
        tnode_start(&t, i, true, NULL);
    run_until_converged(&t, 3, 30000);
    tnode_start(&t, 3, true, NULL);
    run_until_converged(&t, 4, 30000);
    const struct ring *r = node_cluster_ring(t.n[1].c);
    uint32_t n4;
    ck_assert_uint_eq(ring_version(r), 2);
    ck_assert_int_eq(ring_member_find(r, "n4", &n4), KV_OK);
    ck_assert_uint_eq(ring_owned_count(r, n4), 0);     /* owners change only after handoff */
    ck_assert_uint_eq(ring_next_owned_count(r, n4), 16); /* 64 / 4 */
    ck_assert_uint_eq(ring_pending_count(r), 16);
    tnet_close(&t);
}
END_TEST

START_TEST(leave_is_staged_planned_and_committed)
{
    struct tnet t;
    tnet_open(&t, false);
    for (int i = 0; i < 4; i++)
        tnode_start(&t, i, true, NULL);
    run_until_converged(&t, 4, 30000);
    struct node_cluster *n3 = t.n[2].c;
    struct kv_buf why = { 0 };
    struct ring_plan *plan = NULL;
    ck_assert_int_eq(node_cluster_plan(n3, &plan, &why), KV_ESTATE); /* nothing staged */
    ck_assert_int_eq(node_cluster_commit(n3, t.now, NULL, &why), KV_ESTATE);
    ck_assert_int_eq(node_cluster_stage_leave(n3, &why), KV_OK);
    ck_assert_uint_eq(node_cluster_staged_count(n3), 1);
    ck_assert_int_eq(node_cluster_staged_at(n3, 0)->kind, NODE_CLUSTER_LEAVE);
    ck_assert_int_eq(node_cluster_plan(n3, &plan, &why), KV_OK);
    /* n3's share goes to the other three, plus at most S - 1 spacing repairs */
    ck_assert_uint_ge(plan->n_moves, 16);
    ck_assert_uint_le(plan->n_moves, 16 + 3);
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (strcmp(plan->nodes[i].id, "n3") == 0)
            ck_assert_uint_eq(plan->nodes[i].after, 0);
    ring_plan_free(plan);
    ck_assert_int_eq(node_cluster_commit(n3, t.now, &plan, &why), KV_OK);
    ck_assert_uint_eq(plan->to_version, 2);
    ring_plan_free(plan);
    ck_assert_uint_eq(node_cluster_staged_count(n3), 0);
    run_until_converged(&t, 3, 30000);
    const struct ring *r = node_cluster_ring(t.n[0].c);
    uint32_t idx;
    ck_assert_int_eq(ring_member_find(r, "n3", &idx), KV_OK);
    ck_assert(!ring_member_in_set(r, idx));
    ck_assert_uint_eq(ring_owned_count(r, idx), 16); /* until handoff moves the data */
    ck_assert_uint_eq(ring_next_owned_count(r, idx), 0);
    run_ms(&t, 2000);
    ck_assert_int_eq(state_seen(&t.n[0], "n3"), GOSSIP_LEAVING);
    /* The claimant does not take a leaving node back. */
    ck_assert_uint_eq(ring_v(&t.n[0]), 2);
    ck_assert_int_eq(node_cluster_stage_leave(n3, &why), KV_ESTATE);
    kv_buf_free(&why);
    tnet_close(&t);
}
END_TEST

START_TEST(only_a_dead_node_can_be_removed)
{
    struct tnet t;
    tnet_open(&t, false);
    for (int i = 0; i < 4; i++)
        tnode_start(&t, i, true, NULL);
    run_until_converged(&t, 4, 30000);
    struct node_cluster *n1 = t.n[0].c;
    struct kv_buf why = { 0 };
    ck_assert_int_eq(node_cluster_stage_remove(n1, "n2", &why), KV_ESTATE);
    ck_assert_ptr_nonnull(strstr(why.data, "alive"));
    ck_assert_int_eq(node_cluster_stage_remove(n1, "n1", &why), KV_EINVAL);
    ck_assert_int_eq(node_cluster_stage_remove(n1, "nobody", &why), KV_ESTATE);
    tnode_crash(&t, 1);
    run_ms(&t, 20000);
    ck_assert_int_eq(state_seen(&t.n[0], "n2"), GOSSIP_DEAD);
    ck_assert_uint_eq(ring_v(&t.n[0]), 1); /* a dead node stays in the ring */
    ck_assert_int_eq(node_cluster_stage_remove(n1, "n2", &why), KV_OK);
    struct ring_plan *plan = NULL;
    ck_assert_int_eq(node_cluster_commit(n1, t.now, &plan, &why), KV_OK);
    ck_assert_uint_ge(plan->n_moves, 16);
    ck_assert_uint_le(plan->n_moves, 16 + 3);
    ring_plan_free(plan);
    run_until_converged(&t, 3, 30000);
    ck_assert_uint_eq(ring_v(&t.n[3]), 2);
    kv_buf_free(&why);
    tnet_close(&t);
}
END_TEST

START_TEST(without_auto_join_the_ring_is_built_by_join_and_commit)
{
    struct tnet t;
    tnet_open(&t, false);
    tnode_start(&t, 0, false, NULL);
    tnode_start(&t, 1, false, NULL);
    run_ms(&t, 5000);
    ck_assert_ptr_null(node_cluster_ring(t.n[0].c)); /* nobody creates a ring by itself */
    ck_assert_uint_eq(membership_member_count(node_cluster_membership(t.n[1].c)), 1);
    struct kv_buf why = { 0 };
    struct ring_plan *plan = NULL;
    ck_assert_int_eq(node_cluster_commit(t.n[0].c, t.now, &plan, &why), KV_OK); /* n1 starts one */
    ck_assert_uint_eq(plan->to_version, 1);
    ring_plan_free(plan);
    ck_assert_int_eq(node_cluster_join(t.n[1].c, "bad-address", t.now, &why), KV_EINVAL);
    ck_assert_int_eq(node_cluster_join(t.n[1].c, "n1:7000", t.now, &why), KV_OK);
    ck_assert_uint_eq(node_cluster_staged_count(t.n[1].c), 1);
    run_ms(&t, 2000); /* n2 fetches ring 1 through the seed */
    ck_assert_uint_eq(ring_v(&t.n[1]), 1);
    ck_assert_int_eq(node_cluster_commit(t.n[1].c, t.now, NULL, &why), KV_OK);
    run_until_converged(&t, 2, 30000);
    ck_assert_uint_eq(ring_v(&t.n[0]), 2);
    /* n2 is in a cluster now: joining another is refused. */
    ck_assert_int_eq(node_cluster_join(t.n[1].c, "n3:7000", t.now, &why), KV_ESTATE);
    kv_buf_free(&why);
    tnet_close(&t);
}
END_TEST

START_TEST(a_lone_node_drops_its_own_ring_to_join)
{
    struct tnet t;
    tnet_open(&t, false);
    for (int i = 0; i < 3; i++)
        tnode_start(&t, i, true, NULL);
    run_until_converged(&t, 3, 30000);
    /* n4 starts without seeds: after settling it makes a ring of its own. */
    tnode_start_ex(&t, 3, true, NULL, true);
    run_ms(&t, 5000);
    ck_assert_uint_eq(ring_member_count(node_cluster_ring(t.n[3].c)), 1);
    struct kv_buf why = { 0 };
    ck_assert_int_eq(node_cluster_join(t.n[3].c, "n2:7000", t.now, &why), KV_OK);
    run_until_converged(&t, 4, 30000);
    kv_buf_free(&why);
    tnet_close(&t);
}
END_TEST

START_TEST(a_stranger_with_another_cluster_name_never_joins)
{
    struct tnet t;
    tnet_open(&t, false);
    for (int i = 0; i < 3; i++)
        tnode_start(&t, i, true, NULL);
    tnode_start(&t, 3, true, "other");
    run_until_converged(&t, 3, 30000);
    run_ms(&t, 5000);
    for (int i = 0; i < 3; i++) {
        struct membership_member mm;
        ck_assert_int_eq(membership_member_find(node_cluster_membership(t.n[i].c), "n4", &mm), KV_ENOTFOUND);
    }
    struct membership_stats st;
    membership_get_stats(node_cluster_membership(t.n[0].c), &st);
    ck_assert_uint_gt(st.dropped_cluster, 0);
    tnet_close(&t);
}
END_TEST

START_TEST(ring_and_peers_survive_a_restart)
{
    struct tnet t;
    tnet_open(&t, true);
    for (int i = 0; i < 3; i++)
        tnode_start(&t, i, true, NULL);
    run_until_converged(&t, 3, 30000);
    run_ms(&t, NODE_CLUSTER_PEERS_WRITE_MS + 1000);
    char dir[128];
    state_dir_of(&t, 0, dir, sizeof dir);
    struct kv_buf b = { 0 };
    ck_assert_int_eq(state_file_read(dir, NODE_CLUSTER_PEERS_FILE, &b), KV_OK);
    ck_assert_ptr_nonnull(strstr(b.data, "n2 n2:7000\n"));
    ck_assert_int_eq(state_file_read(dir, NODE_CLUSTER_RING_FILE, &b), KV_OK);
    kv_buf_free(&b);
    /* n1, the seed itself, restarts: its ring is back at once, and its
     * saved peers bring it back into gossip though its only seed is itself. */
    tnode_crash(&t, 0);
    run_ms(&t, 1000);
    tnode_start(&t, 0, true, NULL);
    ck_assert_uint_eq(ring_v(&t.n[0]), 1);
    run_ms(&t, 3000);
    ck_assert_int_eq(state_seen(&t.n[1], "n1"), GOSSIP_ALIVE);
    ck_assert_int_eq(state_seen(&t.n[0], "n3"), GOSSIP_ALIVE);
    tnet_close(&t);
}
END_TEST

START_TEST(state_file_is_replaced_whole)
{
    char dir[] = "/tmp/test_state_file.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char sub[128];
    ck_assert_int_eq(state_file_dir(dir, sub, sizeof sub), KV_OK);
    struct kv_buf b = { 0 };
    ck_assert_int_eq(state_file_read(sub, "x", &b), KV_ENOTFOUND);
    ck_assert_int_eq(state_file_write(sub, "x", "first", 5), KV_OK);
    ck_assert_int_eq(state_file_write(sub, "x", "second!", 7), KV_OK);
    ck_assert_int_eq(state_file_read(sub, "x", &b), KV_OK);
    ck_assert_uint_eq(b.len, 7);
    ck_assert_int_eq(memcmp(b.data, "second!", 7), 0);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s/x.new", sub);
    ck_assert_int_eq(access(tmp, F_OK), -1); /* no temporary file left behind */
    ck_assert_int_eq(state_file_write(sub, "x", "", STATE_FILE_BYTES_MAX + 1), KV_ETOOBIG);
    ck_assert_int_eq(state_file_remove(sub, "x"), KV_OK);
    ck_assert_int_eq(state_file_remove(sub, "x"), KV_OK);
    ck_assert_int_eq(state_file_read(sub, "x", &b), KV_ENOTFOUND);
    kv_buf_free(&b);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static int load_config(struct node_config *c, const char *const *argv, int argc, struct kv_buf *err)
{
    enum node_config_action action;
    kv_buf_reset(err);
    return node_config_load(c, argc, (char *const *)argv, NULL, &action, err);
}

START_TEST(cluster_flags_are_parsed_and_checked)
{
    struct node_config *c = malloc(sizeof *c);
    ck_assert_ptr_nonnull(c);
    struct kv_buf err = { 0 };
    const char *plain[] = { "kvnode", "--node-id", "a", "--data-dir", "/tmp/x" };
    ck_assert_int_eq(load_config(c, plain, 5, &err), KV_OK);
    ck_assert(c->auto_join);
    ck_assert_uint_eq(c->n_replicas, 3);
    ck_assert_str_eq(c->advertise, "");
    const char *off[] = { "kvnode", "--node-id", "a", "--no-auto-join", "--zone", "rack1",
                          "--advertise", "node1:7100" };
    ck_assert_int_eq(load_config(c, off, 8, &err), KV_OK);
    ck_assert(!c->auto_join);
    ck_assert_str_eq(c->zone, "rack1");
    ck_assert_str_eq(c->advertise_addr.host, "node1");
    ck_assert_uint_eq(c->advertise_addr.port, 7100);
    /* A wildcard listener must say where peers reach it once there are peers. */
    const char *wild[] = { "kvnode", "--node-id", "a", "--listen", "0.0.0.0:7100", "--seeds", "n1:7100" };
    ck_assert_int_eq(load_config(c, wild, 7, &err), KV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.data, "--advertise"));
    const char *alone[] = { "kvnode", "--node-id", "a", "--listen", "0.0.0.0:7100" };
    ck_assert_int_eq(load_config(c, alone, 5, &err), KV_OK);
    const char *bad[] = { "kvnode", "--node-id", "a", "--advertise", "0.0.0.0:7100" };
    ck_assert_int_eq(load_config(c, bad, 5, &err), KV_EINVAL);
    const char *no_number[] = { "kvnode", "--node-id", "a", "--no-partitions" };
    ck_assert_int_eq(load_config(c, no_number, 4, &err), KV_EINVAL); /* --no- only for booleans */
    kv_buf_free(&err);
    free(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("node_cluster");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, nodes_started_together_form_one_ring_without_transfers);
    tcase_add_test(tc, a_late_node_is_claimed_with_pending_transfers);
    tcase_add_test(tc, leave_is_staged_planned_and_committed);
    tcase_add_test(tc, only_a_dead_node_can_be_removed);
    tcase_add_test(tc, without_auto_join_the_ring_is_built_by_join_and_commit);
    tcase_add_test(tc, a_lone_node_drops_its_own_ring_to_join);
    tcase_add_test(tc, a_stranger_with_another_cluster_name_never_joins);
    tcase_add_test(tc, ring_and_peers_survive_a_restart);
    tcase_add_test(tc, state_file_is_replaced_whole);
    tcase_add_test(tc, cluster_flags_are_parsed_and_checked);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    kv_log_set_level(KV_LOG_ERROR);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
