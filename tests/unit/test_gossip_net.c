/*
 * test_gossip_net.c - node/gossip_net.h on loopback: which messages go by
 * datagram and which by TCP, host names resolved off the event loop,
 * strangers of another cluster dropped and counted, garbage dropped.
 * Each node is an rpc server (for TCP gossip) plus a gossip_net on the
 * same port, in one event loop pumped by the test; the pump's deadline
 * only stops a broken build from hanging.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "node/gossip_net.h"
#include "rpc/frame.h"
#include "rpc/server.h"

#define PUMP_DEADLINE_MS 10000u

struct tnode {
    char id[16], cluster[16], addr[32];
    struct rpc_server *srv;
    struct gossip_net *net;
    int got[GOSSIP_MSG_TYPE_MAX + 1]; /* messages delivered, by type */
    char last_from[64];
};

static struct event_base *base;

static int on_deliver(void *arg, const char *from, const struct gossip_msg *msg)
{
    struct tnode *n = arg;
    if (!kv_slice_eq(msg->cluster, kv_slice_str(n->cluster)))
        return KV_EAUTH; /* what membership answers */
    n->got[msg->type]++;
    snprintf(n->last_from, sizeof n->last_from, "%s", from);
    return KV_OK;
}

static void on_request(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req, struct rpc_reply_handle h)
{
    struct tnode *n = arg;
    if (req->body_case == RINGKV__ENVELOPE__BODY_CLUSTER &&
        req->cluster->body_case == RINGKV__CLUSTER_MESSAGE__BODY_GOSSIP) {
        gossip_net_handle_packet(n->net, peer, req, h);
        return;
    }
    ck_assert_int_eq(rpc_reply_error(h, KV_EINVAL, "unexpected"), KV_OK);
    rpc_envelope_free(req);
}

static void tnode_start(struct tnode *n, const char *id, const char *cluster)
{
    memset(n, 0, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", id);
    snprintf(n->cluster, sizeof n->cluster, "%s", cluster);
    struct rpc_server_config sc = { .listen = "127.0.0.1:0", .node_id = n->id, .cluster_name = n->cluster };
    ck_assert_int_eq(rpc_server_start(base, &sc, on_request, n, &n->srv), KV_OK);
    uint16_t port = rpc_server_port(n->srv);
    snprintf(n->addr, sizeof n->addr, "127.0.0.1:%u", port);
    struct gossip_net_config gc = {
        .bind_host = "127.0.0.1", .port = port, .node_id = n->id, .cluster_name = n->cluster, .udp = true,
    };
    ck_assert_int_eq(gossip_net_new(base, &gc, on_deliver, n, &n->net), KV_OK);
}

static void tnode_stop(struct tnode *n)
{
    gossip_net_free(n->net);
    rpc_server_free(n->srv);
}

static struct gossip_msg msg_of(const struct tnode *from, enum gossip_msg_type type)
{
    struct gossip_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.cluster = kv_slice_str(from->cluster);
    m.sender_id = kv_slice_str(from->id);
    m.sender_addr = kv_slice_str(from->addr);
    m.seq = 7;
    return m;
}

static bool pump_until_count(const int *v, int want)
{
    uint64_t end = kv_clock_real.mono_ms(&kv_clock_real) + PUMP_DEADLINE_MS;
    while (*v < want && kv_clock_real.mono_ms(&kv_clock_real) < end) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    return *v >= want;
}

static bool pump_until_stat(struct gossip_net *g, size_t offset, uint64_t want)
{
    uint64_t end = kv_clock_real.mono_ms(&kv_clock_real) + PUMP_DEADLINE_MS;
    for (;;) {
        struct gossip_net_stats st;
        gossip_net_get_stats(g, &st);
        uint64_t v;
        memcpy(&v, (const char *)&st + offset, sizeof v);
        if (v >= want)
            return true;
        if (kv_clock_real.mono_ms(&kv_clock_real) >= end)
            return false;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

#define STAT(field) offsetof(struct gossip_net_stats, field)

static void setup(void)
{
    kv_log_set_level(KV_LOG_ERROR);
    base = event_base_new();
    ck_assert_ptr_nonnull(base);
}

static void teardown(void) { event_base_free(base); }

START_TEST(probes_go_by_datagram_and_push_pulls_by_tcp)
{
    struct tnode a, b;
    tnode_start(&a, "a", "c1");
    tnode_start(&b, "b", "c1");
    struct gossip_msg ping = msg_of(&a, GOSSIP_PING);
    gossip_net_send(a.net, b.addr, &ping);
    ck_assert(pump_until_count(&b.got[GOSSIP_PING], 1));
    struct gossip_msg pp = msg_of(&a, GOSSIP_PUSH_PULL_REQ);
    gossip_net_send(a.net, b.addr, &pp);
    ck_assert(pump_until_count(&b.got[GOSSIP_PUSH_PULL_REQ], 1));
    struct gossip_net_stats sa, sb;
    gossip_net_get_stats(a.net, &sa);
    gossip_net_get_stats(b.net, &sb);
    ck_assert_uint_eq(sa.udp_sent, 1);
    ck_assert_uint_eq(sa.tcp_sent, 1);
    ck_assert_uint_eq(sb.udp_received, 1);
    ck_assert_uint_eq(sb.tcp_received, 1);
    ck_assert(pump_until_stat(a.net, STAT(tcp_sent), 1)); /* the receipt is back: no failure */
    gossip_net_get_stats(a.net, &sa);
    ck_assert_uint_eq(sa.tcp_failed, 0);
    tnode_stop(&a);
    tnode_stop(&b);
}
END_TEST

START_TEST(without_udp_everything_goes_by_tcp)
{
    struct tnode a, b;
    tnode_start(&a, "a", "c1");
    tnode_start(&b, "b", "c1");
    gossip_net_free(a.net);
    struct gossip_net_config gc = {
        .bind_host = "127.0.0.1", .port = rpc_server_port(a.srv), .node_id = "a", .cluster_name = "c1", .udp = false,
    };
    ck_assert_int_eq(gossip_net_new(base, &gc, on_deliver, &a, &a.net), KV_OK);
    struct gossip_msg ping = msg_of(&a, GOSSIP_PING);
    gossip_net_send(a.net, b.addr, &ping);
    ck_assert(pump_until_count(&b.got[GOSSIP_PING], 1));
    struct gossip_net_stats sb;
    gossip_net_get_stats(b.net, &sb);
    ck_assert_uint_eq(sb.udp_received, 0);
    ck_assert_uint_eq(sb.tcp_received, 1);
    tnode_stop(&a);
    tnode_stop(&b);
}
END_TEST

START_TEST(host_names_are_resolved_and_cached)
{
    struct tnode a, b;
    tnode_start(&a, "a", "c1");
    tnode_start(&b, "b", "c1");
    char by_name[48];
    snprintf(by_name, sizeof by_name, "localhost:%u", rpc_server_port(b.srv));
    struct gossip_msg ping = msg_of(&a, GOSSIP_PING);
    for (int i = 0; i < 3; i++)
        gossip_net_send(a.net, by_name, &ping); /* queued while the name resolves, then sent */
    ck_assert(pump_until_count(&b.got[GOSSIP_PING], 3));
    struct gossip_msg pp = msg_of(&a, GOSSIP_PUSH_PULL_REQ);
    gossip_net_send(a.net, by_name, &pp);
    ck_assert(pump_until_count(&b.got[GOSSIP_PUSH_PULL_REQ], 1));
    struct gossip_net_stats sa;
    gossip_net_get_stats(a.net, &sa);
    ck_assert_uint_eq(sa.unresolved, 0);
    ck_assert_uint_eq(sa.resolve_failures, 0);
    tnode_stop(&a);
    tnode_stop(&b);
}
END_TEST

START_TEST(another_cluster_is_dropped_and_counted)
{
    struct tnode b, c;
    tnode_start(&b, "b", "c1");
    tnode_start(&c, "c", "other");
    struct gossip_msg ping = msg_of(&c, GOSSIP_PING);
    for (int i = 0; i < 3; i++)
        gossip_net_send(c.net, b.addr, &ping);
    ck_assert(pump_until_stat(b.net, STAT(foreign), 3));
    ck_assert_int_eq(b.got[GOSSIP_PING], 0);
    /* Over TCP, b's rpc server refuses c's Hello before any gossip is read. */
    struct gossip_msg pp = msg_of(&c, GOSSIP_PUSH_PULL_REQ);
    gossip_net_send(c.net, b.addr, &pp);
    ck_assert(pump_until_stat(c.net, STAT(foreign), 1));
    struct gossip_net_stats sc;
    gossip_net_get_stats(c.net, &sc);
    ck_assert_uint_eq(sc.tcp_failed, 1);
    ck_assert_int_eq(b.got[GOSSIP_PUSH_PULL_REQ], 0);
    tnode_stop(&b);
    tnode_stop(&c);
}
END_TEST

START_TEST(garbage_datagrams_are_dropped)
{
    struct tnode b;
    tnode_start(&b, "b", "c1");
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(rpc_server_port(b.srv)) };
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(sendto(fd, "not gossip", 10, 0, (struct sockaddr *)&to, sizeof to), 10);
    ck_assert(pump_until_stat(b.net, STAT(decode_errors), 1));
    close(fd);
    tnode_stop(&b);
}
END_TEST

START_TEST(a_taken_udp_port_is_an_error)
{
    struct tnode b;
    tnode_start(&b, "b", "c1");
    struct gossip_net *again = NULL;
    struct gossip_net_config gc = {
        .bind_host = "127.0.0.1", .port = rpc_server_port(b.srv), .node_id = "x", .cluster_name = "c1", .udp = true,
    };
    ck_assert_int_eq(gossip_net_new(base, &gc, on_deliver, &b, &again), KV_EIO);
    tnode_stop(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gossip_net");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, probes_go_by_datagram_and_push_pulls_by_tcp);
    tcase_add_test(tc, without_udp_everything_goes_by_tcp);
    tcase_add_test(tc, host_names_are_resolved_and_cached);
    tcase_add_test(tc, another_cluster_is_dropped_and_counted);
    tcase_add_test(tc, garbage_datagrams_are_dropped);
    tcase_add_test(tc, a_taken_udp_port_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
