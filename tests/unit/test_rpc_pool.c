/*
 * test_rpc_pool.c - the per-peer connection pool: backoff, reconnection,
 * and failing pending requests on free. Fixture and helpers: rpc_harness.h.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/pool.h"
#include "rpc_harness.h"

static int pool_request_ping(struct rpc_pool *p, const char *addr, struct call *call)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__Ping ping = RINGKV__PING__INIT;
    snprintf(call->expect, sizeof call->expect, "pool");
    ping.payload.data = (uint8_t *)call->expect;
    ping.payload.len = 4;
    env.body_case = RINGKV__ENVELOPE__BODY_PING;
    env.ping = &ping;
    return rpc_pool_request(p, addr, &env, 0, call_cb, call);
}

START_TEST(pool_backs_off_from_a_dead_peer_and_reconnects_when_it_returns)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)rpc_server_port(rt_srv));
    rpc_server_free(rt_srv); /* the port now refuses connections */
    rt_srv = NULL;
    struct rpc_pool_config pc = { 0 };
    pc.client.cluster_name = "c1";
    pc.client.node_id = "n2";
    pc.client.role = RINGKV__ROLE__ROLE_NODE;
    pc.backoff_min_ms = 100;
    pc.backoff_max_ms = 400;
    struct rpc_pool *p = NULL;
    ck_assert_int_eq(rpc_pool_new(rt_base, &pc, &p), KV_OK);
    int done = 0;
    struct call c1 = { 0 };
    c1.done = &done;
    ck_assert_int_eq(pool_request_ping(p, addr, &c1), KV_OK);
    ck_assert(pump_count(&done, 1));
    ck_assert_int_eq(c1.status, KV_EUNAVAIL); /* never delivered */
    struct call c2 = { 0 };
    ck_assert_int_eq(pool_request_ping(p, addr, &c2), KV_EUNAVAIL); /* fails fast in backoff */
    ck_assert_int_eq(c2.calls, 0);
    ck_assert_uint_gt(rpc_pool_backoff_remaining_ms(p, addr), 0);
    /* The peer comes back on the same port. */
    cfg.listen = addr;
    start_server(&cfg);
    while (rpc_pool_backoff_remaining_ms(p, addr) > 0)
        event_base_loop(rt_base, EVLOOP_ONCE);
    struct call c3 = { 0 };
    c3.done = &done;
    ck_assert_int_eq(pool_request_ping(p, addr, &c3), KV_OK);
    ck_assert(pump_count(&done, 2));
    ck_assert_int_eq(c3.status, KV_OK);
    ck_assert(c3.payload_ok);
    /* A dropped connection is redialled at once (no failure was seen). */
    rpc_pool_disconnect(p, addr);
    struct call c4 = { 0 };
    c4.done = &done;
    ck_assert_int_eq(pool_request_ping(p, addr, &c4), KV_OK);
    ck_assert(pump_count(&done, 3));
    ck_assert_int_eq(c4.status, KV_OK);
    rpc_pool_free(p);
}
END_TEST

START_TEST(pool_free_fails_pending_requests_once)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    rt_mode = HOLD;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)rpc_server_port(rt_srv));
    struct rpc_pool_config pc = { 0 };
    pc.client.cluster_name = "c1";
    struct rpc_pool *p = NULL;
    ck_assert_int_eq(rpc_pool_new(rt_base, &pc, &p), KV_OK);
    struct call calls[5];
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(pool_request_ping(p, addr, &calls[i]), KV_OK);
    ck_assert(pump_count(&rt_nheld, 5));
    rpc_pool_free(p);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(calls[i].calls, 1);
        ck_assert_int_eq(calls[i].status, KV_ECLOSED);
    }
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("rpc_pool");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pool_backs_off_from_a_dead_peer_and_reconnects_when_it_returns);
    tcase_add_test(tc, pool_free_fails_pending_requests_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pool_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
