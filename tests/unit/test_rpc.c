/*
 * test_rpc.c - server, client and connection behaviour over loopback:
 * hello, pipelining, timeouts, disconnects, limits and hostile peers.
 * Fixture and helpers: rpc_harness.h.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "rpc_harness.h"

/* ---- session: hello ---- */

START_TEST(hello_is_accepted_and_names_the_server)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    struct rpc_client_config cc = client_config("c1");
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    ck_assert(pump_count(&s.ready, 1));
    ck_assert_str_eq(s.server_node, "n1");
    ck_assert(rpc_client_is_ready(c));
    assert_ping_works(c);
    rpc_client_free(c);
    ck_assert_int_eq(s.closed, 0); /* freeing is not a close event */
}
END_TEST

START_TEST(wrong_cluster_is_refused_with_a_clear_error)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    struct rpc_client_config cc = client_config("other");
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    struct call call = { 0 };
    ck_assert_int_eq(send_ping(c, &call, "x", 0), KV_OK); /* queued behind the hello */
    ck_assert(pump_count(&s.closed, 1));
    ck_assert_int_eq(s.close_status, KV_EAUTH);
    ck_assert_ptr_nonnull(strstr(s.close_message, "cluster name \"other\" does not match"));
    ck_assert_ptr_nonnull(strstr(s.close_message, "\"c1\""));
    ck_assert_int_eq(s.ready, 0);
    ck_assert_int_eq(call.calls, 1);
    ck_assert_int_eq(call.status, KV_EAUTH);
    ck_assert_int_eq(rt_handled, 0); /* the request behind the refused hello never ran */
    ck_assert_int_eq(rpc_client_request(c, &(Ringkv__Envelope)RINGKV__ENVELOPE__INIT, 0, call_cb,
                                        &call, NULL), KV_ECLOSED);
    rpc_client_free(c);
}
END_TEST

START_TEST(wrong_protocol_version_is_refused)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    struct raw r;
    raw_open(&r);
    raw_send_hello(&r, 2, "c1");
    Ringkv__Envelope *env = raw_read_env(&r);
    ck_assert_ptr_nonnull(env);
    ck_assert_uint_eq(env->request_id, 1);
    ck_assert_int_eq(env->status, KV_EPROTO);
    ck_assert_ptr_nonnull(strstr(env->error, "protocol version 2 is not supported"));
    rpc_envelope_free(env);
    raw_expect_close(&r);
    raw_close(&r);
    struct rpc_server_stats st;
    rpc_server_get_stats(rt_srv, &st);
    ck_assert_uint_eq(st.hellos_refused, 1);
}
END_TEST

START_TEST(request_before_hello_closes_without_answer)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    struct raw r;
    raw_open(&r);
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__Ping ping = RINGKV__PING__INIT;
    env.request_id = 1;
    env.body_case = RINGKV__ENVELOPE__BODY_PING;
    env.ping = &ping;
    raw_send_env(&r, &env);
    raw_expect_close(&r);
    raw_close(&r);
    ck_assert_int_eq(rt_handled, 0);
}
END_TEST

START_TEST(cluster_message_from_a_client_role_is_refused)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    struct rpc_client_config cc = client_config("c1");
    cc.role = RINGKV__ROLE__ROLE_CLIENT;
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__ClusterMessage cm = RINGKV__CLUSTER_MESSAGE__INIT;
    Ringkv__ReplicaGet rg = RINGKV__REPLICA_GET__INIT;
    cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_GET;
    cm.replica_get = &rg;
    env.body_case = RINGKV__ENVELOPE__BODY_CLUSTER;
    env.cluster = &cm;
    int done = 0;
    struct call call = { 0 };
    call.done = &done;
    ck_assert_int_eq(rpc_client_request(c, &env, 0, call_cb, &call, NULL), KV_OK);
    ck_assert(pump_count(&done, 1));
    ck_assert_int_eq(call.status, KV_EAUTH);
    ck_assert_int_eq(rt_handled, 0);
    assert_ping_works(c); /* the connection stays usable */
    rpc_client_free(c);
}
END_TEST

/* ---- requests: pipelining, timeouts, disconnects ---- */

START_TEST(hundred_pipelined_requests_are_answered_by_id_out_of_order)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    rt_mode = HOLD;
    struct rpc_client_config cc = client_config("c1");
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    static struct call calls[100];
    int done = 0;
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 100; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "req-%d", i);
        calls[i].done = &done;
        ck_assert_int_eq(send_ping(c, &calls[i], payload, 0), KV_OK);
    }
    ck_assert(pump_count(&s.ready, 1));
    ck_assert_uint_eq(rpc_client_pending(c), 100);
    ck_assert(pump_count(&rt_nheld, 100));
    /* Odd ones first, backwards, then even ones forwards. */
    for (int i = 99; i >= 0; i--)
        if (i % 2)
            release_held(i);
    for (int i = 0; i < 100; i += 2)
        release_held(i);
    ck_assert(pump_count(&done, 100));
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(calls[i].calls, 1);
        ck_assert_int_eq(calls[i].status, KV_OK);
        ck_assert_msg(calls[i].payload_ok, "request %d got another request's reply", i);
    }
    ck_assert_uint_eq(rpc_client_pending(c), 0);
    rpc_client_free(c);
}
END_TEST

START_TEST(request_timeout_fires_once_and_a_late_reply_is_ignored)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    rt_mode = HOLD;
    struct rpc_client_config cc = client_config("c1");
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    int done = 0;
    struct call slow = { 0 };
    slow.done = &done;
    ck_assert_int_eq(send_ping(c, &slow, "slow", 50), KV_OK);
    ck_assert(pump_count(&done, 1));
    ck_assert_int_eq(slow.status, KV_ETIMEDOUT);
    ck_assert_int_eq(rt_nheld, 1);
    release_held(0); /* the late reply */
    rt_mode = ECHO;
    /* Replies on one connection arrive in the order sent: once this one is
     * back, the late reply has been read and dropped. */
    assert_ping_works(c);
    ck_assert_int_eq(slow.calls, 1);
    ck_assert_int_eq(s.closed, 0);
    rpc_client_free(c);
}
END_TEST

START_TEST(peer_disconnect_fails_each_pending_request_once)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    rt_mode = HOLD;
    struct rpc_client_config cc = client_config("c1");
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    struct call calls[10];
    int done = 0;
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 10; i++) {
        calls[i].done = &done;
        ck_assert_int_eq(send_ping(c, &calls[i], "p", 0), KV_OK);
    }
    ck_assert(pump_count(&rt_nheld, 10));
    for (int i = 0; i < rt_nheld; i++)
        rpc_envelope_free(rt_held_req[i]);
    rt_nheld = 0;
    rpc_server_free(rt_srv); /* closes the server's end */
    rt_srv = NULL;
    ck_assert(pump_count(&s.closed, 1));
    ck_assert_int_eq(done, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(calls[i].calls, 1);
        ck_assert_int_eq(calls[i].status, KV_ECLOSED); /* delivered: outcome in doubt */
    }
    ck_assert_int_eq(s.close_status, KV_ECLOSED);
    pump_for(20);
    ck_assert_int_eq(done, 10);
    ck_assert_int_eq(s.closed, 1);
    rpc_client_free(c);
}
END_TEST

START_TEST(reply_after_the_connection_closed_is_dropped_safely)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    rt_mode = HOLD;
    struct rpc_client_config cc = client_config("c1");
    struct session s1, s2;
    struct rpc_client *c1 = connect_client(&cc, &s1);
    struct call call = { 0 };
    ck_assert_int_eq(send_ping(c1, &call, "gone", 0), KV_OK);
    ck_assert(pump_count(&rt_nheld, 1));
    rpc_client_free(c1);
    struct rpc_server_stats st;
    /* Wait until the server has seen the close (its open count drops). */
    for (int i = 0; i < 2000; i++) {
        rpc_server_get_stats(rt_srv, &st);
        if (st.connections_open == 0)
            break;
        event_base_loop(rt_base, EVLOOP_ONCE);
    }
    ck_assert_uint_eq(st.connections_open, 0);
    /* A new connection may reuse the slot; the old handle must not reach it. */
    struct rpc_client *c2 = connect_client(&cc, &s2);
    ck_assert(pump_count(&s2.ready, 1));
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    ck_assert_int_eq(rpc_reply_send(rt_held[0], &env), KV_ECLOSED);
    rpc_server_get_stats(rt_srv, &st);
    ck_assert_uint_eq(st.replies_dropped, 1);
    rt_mode = ECHO;
    assert_ping_works(c2);
    rpc_client_free(c2);
}
END_TEST

/* ---- limits and hostile peers ---- */

START_TEST(connections_over_the_limit_get_busy_and_are_closed)
{
    struct rpc_server_config cfg = server_config();
    cfg.connections_max = 2;
    start_server(&cfg);
    struct rpc_client_config cc = client_config("c1");
    struct session s1, s2, s3, s4;
    struct rpc_client *c1 = connect_client(&cc, &s1);
    struct rpc_client *c2 = connect_client(&cc, &s2);
    ck_assert(pump_count(&s1.ready, 1));
    ck_assert(pump_count(&s2.ready, 1));
    struct rpc_client *c3 = connect_client(&cc, &s3);
    struct call call = { 0 };
    ck_assert_int_eq(send_ping(c3, &call, "x", 0), KV_OK);
    ck_assert(pump_count(&s3.closed, 1));
    ck_assert_int_eq(s3.close_status, KV_EBUSY);
    ck_assert_ptr_nonnull(strstr(s3.close_message, "too many connections"));
    ck_assert_int_eq(call.calls, 1);
    ck_assert_int_eq(call.status, KV_EBUSY);
    /* A freed place is given to the next connection. */
    rpc_client_free(c1);
    struct rpc_server_stats st;
    for (int i = 0; i < 2000; i++) {
        rpc_server_get_stats(rt_srv, &st);
        if (st.connections_open == 1)
            break;
        event_base_loop(rt_base, EVLOOP_ONCE);
    }
    struct rpc_client *c4 = connect_client(&cc, &s4);
    ck_assert(pump_count(&s4.ready, 1));
    assert_ping_works(c4);
    assert_ping_works(c2);
    rpc_server_get_stats(rt_srv, &st);
    ck_assert_uint_eq(st.connections_refused, 1);
    rpc_client_free(c2);
    rpc_client_free(c3);
    rpc_client_free(c4);
}
END_TEST

START_TEST(idle_connection_is_closed_by_the_server)
{
    struct rpc_server_config cfg = server_config();
    cfg.idle_timeout_ms = 100;
    start_server(&cfg);
    struct rpc_client_config cc = client_config("c1");
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    ck_assert(pump_count(&s.ready, 1));
    ck_assert(pump_count(&s.closed, 1));
    ck_assert_int_eq(s.close_status, KV_ECLOSED);
    rpc_client_free(c);
}
END_TEST

START_TEST(slow_loris_frame_is_closed_by_the_frame_timeout)
{
    struct rpc_server_config cfg = server_config();
    cfg.frame_timeout_ms = 100;
    cfg.idle_timeout_ms = 600000; /* so only the frame timeout can act */
    start_server(&cfg);
    struct raw r;
    raw_open(&r);
    raw_send_hello(&r, RINGKV__PROTOCOL__PROTOCOL_VERSION, "c1");
    Ringkv__Envelope *env = raw_read_env(&r);
    ck_assert_ptr_nonnull(env);
    ck_assert_int_eq(env->status, KV_OK);
    rpc_envelope_free(env);
    /* A frame announcing 100 bytes, then one byte at a time, too slowly. */
    raw_send(&r, "\0\0\0\x64\x08", 5);
    for (int i = 0; i < 100 && !r.eof; i++) {
        pump_for(10);
        if (send(r.fd, "\x01", 1, MSG_NOSIGNAL) < 0)
            break;
        raw_poll(&r);
    }
    raw_expect_close(&r);
    raw_close(&r);
    ck_assert_int_eq(rt_handled, 0);
}
END_TEST

START_TEST(garbage_bytes_close_that_connection_and_others_are_served)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    struct rpc_client_config cc = client_config("c1");
    struct session s;
    struct rpc_client *good = connect_client(&cc, &s);
    ck_assert(pump_count(&s.ready, 1));
    struct kv_rand rnd;
    kv_rand_seed(&rnd, 42);
    for (int round = 0; round < 20; round++) {
        struct raw r;
        raw_open(&r);
        char junk[256];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)kv_rand_next(&rnd);
        if (round % 2 == 0) {
            junk[0] |= (char)0x80; /* a length over 2 GiB: refused from the header */
            raw_send(&r, junk, sizeof junk);
        } else {
            /* After a good hello, a plausible length with a random body, cut short. */
            raw_send_hello(&r, RINGKV__PROTOCOL__PROTOCOL_VERSION, "c1");
            junk[0] = junk[1] = 0;
            raw_send(&r, junk, sizeof junk);
            ck_assert_int_eq(shutdown(r.fd, SHUT_WR), 0);
        }
        Ringkv__Envelope *env;
        while ((env = raw_read_env(&r)) != NULL)
            rpc_envelope_free(env); /* the hello reply, or an error for a decodable junk frame */
        ck_assert(r.eof);
        raw_close(&r);
        assert_ping_works(good);
    }
    ck_assert(rpc_client_is_ready(good));
    rpc_client_free(good);
}
END_TEST

START_TEST(frame_length_over_the_limit_closes_the_connection)
{
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    struct raw r;
    raw_open(&r);
    raw_send_hello(&r, RINGKV__PROTOCOL__PROTOCOL_VERSION, "c1");
    Ringkv__Envelope *env = raw_read_env(&r);
    ck_assert_ptr_nonnull(env);
    rpc_envelope_free(env);
    raw_send(&r, "\xff\xff\xff\xff", 4); /* 4 GiB */
    raw_expect_close(&r);
    raw_close(&r);
}
END_TEST

START_TEST(frame_over_the_hello_limit_before_hello_closes_the_connection)
{
    /* 1 MiB is within the configured limit, but not before a hello. */
    struct rpc_server_config cfg = server_config();
    start_server(&cfg);
    struct raw r;
    raw_open(&r);
    raw_send(&r, "\x00\x10\x00\x00", 4);
    raw_expect_close(&r);
    raw_close(&r);
    /* After a hello the same length prefix is accepted (the frame is then
     * simply incomplete, so the connection stays open and answers pings). */
    raw_open(&r);
    raw_send_hello(&r, RINGKV__PROTOCOL__PROTOCOL_VERSION, "c1");
    Ringkv__Envelope *env = raw_read_env(&r);
    ck_assert_ptr_nonnull(env);
    ck_assert_int_eq(env->status, 0);
    rpc_envelope_free(env);
    raw_close(&r);
}
END_TEST

START_TEST(peer_that_does_not_read_replies_stops_being_read)
{
    struct rpc_server_config cfg = server_config();
    cfg.output_bytes_max = 64 * 1024;
    start_server(&cfg);
    struct raw r;
    raw_open(&r);
    int small = 16 * 1024;
    ck_assert_int_eq(setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    raw_send_hello(&r, RINGKV__PROTOCOL__PROTOCOL_VERSION, "c1");
    Ringkv__Envelope *env = raw_read_env(&r);
    ck_assert_ptr_nonnull(env);
    rpc_envelope_free(env);
    /* 2,000 pings of 16 KiB (32 MiB of replies) that we do not read. */
    enum { N = 2000, PAYLOAD = 16 * 1024 };
    static char payload[PAYLOAD];
    memset(payload, 'z', sizeof payload);
    Ringkv__Envelope req = RINGKV__ENVELOPE__INIT;
    Ringkv__Ping ping = RINGKV__PING__INIT;
    ping.payload.data = (uint8_t *)payload;
    ping.payload.len = PAYLOAD;
    req.body_case = RINGKV__ENVELOPE__BODY_PING;
    req.ping = &ping;
    struct kv_buf frame = { 0 };
    ck_assert_int_eq(rpc_frame_encode(&req, 0, &frame), KV_OK);
    int sent = 0, stalls = 0;
    size_t off = 0;
    while (sent < N && stalls < 200) {
        ssize_t n = send(r.fd, frame.data + off, frame.len - off, MSG_NOSIGNAL);
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            stalls++;
            pump_for(1);
            continue;
        }
        stalls = 0;
        off += (size_t)n;
        if (off == frame.len) {
            off = 0;
            sent++;
        }
    }
    ck_assert_int_lt(sent, N); /* the server stopped reading: TCP pushed back */
    ck_assert_int_lt(rt_handled, N);
    /* Reading the replies lets the server resume; every request is answered. */
    int big = 4 * 1024 * 1024;
    ck_assert_int_eq(setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big), 0);
    int replies = 0;
    while (replies < N) {
        if (sent < N) {
            ssize_t n = send(r.fd, frame.data + off, frame.len - off, MSG_NOSIGNAL);
            if (n > 0 && (off += (size_t)n) == frame.len) {
                off = 0;
                sent++;
            }
        }
        ck_assert(pump_until(raw_poll, &r));
        ck_assert(!r.eof);
        while (raw_has_frame(&r)) {
            env = raw_read_env(&r);
            ck_assert_uint_eq(env->ping_reply->payload.len, PAYLOAD);
            rpc_envelope_free(env);
            replies++;
        }
    }
    ck_assert_int_eq(replies, N);
    kv_buf_free(&frame);
    raw_close(&r);
}
END_TEST

START_TEST(inflight_limit_pauses_reading_until_replies_go_out)
{
    struct rpc_server_config cfg = server_config();
    cfg.inflight_max = 4;
    start_server(&cfg);
    rt_mode = HOLD;
    struct rpc_client_config cc = client_config("c1");
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    struct call calls[10];
    int done = 0;
    memset(calls, 0, sizeof calls);
    for (int i = 0; i < 10; i++) {
        calls[i].done = &done;
        ck_assert_int_eq(send_ping(c, &calls[i], "q", 0), KV_OK);
    }
    ck_assert(pump_count(&rt_nheld, 4));
    pump_for(50);
    ck_assert_int_eq(rt_nheld, 4); /* the rest wait in the socket */
    for (int i = 0; i < 4; i++)
        release_held(i);
    ck_assert(pump_count(&rt_nheld, 8));
    for (int i = 4; i < 8; i++)
        release_held(i);
    ck_assert(pump_count(&rt_nheld, 10));
    for (int i = 8; i < 10; i++)
        release_held(i);
    ck_assert(pump_count(&done, 10));
    rpc_client_free(c);
}
END_TEST

static TCase *rpc_case(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *rpc_suite(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = rpc_case(s, "session");
    tcase_add_test(tc, hello_is_accepted_and_names_the_server);
    tcase_add_test(tc, wrong_cluster_is_refused_with_a_clear_error);
    tcase_add_test(tc, wrong_protocol_version_is_refused);
    tcase_add_test(tc, request_before_hello_closes_without_answer);
    tcase_add_test(tc, cluster_message_from_a_client_role_is_refused);
    tc = rpc_case(s, "requests");
    tcase_add_test(tc, hundred_pipelined_requests_are_answered_by_id_out_of_order);
    tcase_add_test(tc, request_timeout_fires_once_and_a_late_reply_is_ignored);
    tcase_add_test(tc, peer_disconnect_fails_each_pending_request_once);
    tcase_add_test(tc, reply_after_the_connection_closed_is_dropped_safely);
    tc = rpc_case(s, "limits");
    tcase_add_test(tc, connections_over_the_limit_get_busy_and_are_closed);
    tcase_add_test(tc, idle_connection_is_closed_by_the_server);
    tcase_add_test(tc, slow_loris_frame_is_closed_by_the_frame_timeout);
    tcase_add_test(tc, garbage_bytes_close_that_connection_and_others_are_served);
    tcase_add_test(tc, frame_length_over_the_limit_closes_the_connection);
    tcase_add_test(tc, frame_over_the_hello_limit_before_hello_closes_the_connection);
    tc = rpc_case(s, "backpressure");
    tcase_add_test(tc, peer_that_does_not_read_replies_stops_being_read);
    tcase_add_test(tc, inflight_limit_pauses_reading_until_replies_go_out);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rpc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
