/*
 * test_client.c - libringkv and kvctl's pure parts, and the SDK's retry,
 * failover and in-doubt rules against a scripted fake node (client_fake.h).
 *
 * Tests assert what the client returned and what the node saw; timeouts
 * in these tests only bound a broken build, they are never what is checked.
 * The real kvnode is exercised by tests/cluster/test_kvctl.py and
 * tests/cluster/sdk_smoke.c.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/kvctl_fmt.h"
#include "client/policy.h"
#include "client/ringkv.h"
#include "client/wire.h"
#include "client_fake.h"
#include "common/status.h"

/* ---- status codes ---- */

START_TEST(every_status_code_has_a_description)
{
    for (int s = RKV_ESTATE; s <= RKV_OK; s++) {
        ck_assert_str_ne(rkv_strerror(s), "unknown error");
        ck_assert_int_eq(client_status_from_wire(s), s);
    }
    ck_assert_str_eq(rkv_strerror(1), "unknown error");
    ck_assert_str_eq(rkv_strerror(RKV_ESTATE - 1), "unknown error");
}
END_TEST

START_TEST(unknown_wire_status_is_a_protocol_error)
{
    ck_assert_int_eq(client_status_from_wire(1), KV_EPROTO);
    ck_assert_int_eq(client_status_from_wire(KV_STATUS_MIN - 1), KV_EPROTO);
    ck_assert_int_eq(client_status_from_wire(INT32_MIN), KV_EPROTO);
}
END_TEST

START_TEST(kvctl_exit_codes_separate_failed_from_in_doubt)
{
    ck_assert_int_eq(kvctl_fmt_exit_code(RKV_OK), 0);
    ck_assert_int_eq(kvctl_fmt_exit_code(RKV_ENOTFOUND), 1);
    ck_assert_int_eq(kvctl_fmt_exit_code(RKV_EINDOUBT), 4);
    ck_assert_int_eq(kvctl_fmt_exit_code(RKV_EUNAVAIL), 5);
    ck_assert_int_eq(kvctl_fmt_exit_code(RKV_ETIMEDOUT), 5);
    ck_assert_int_eq(kvctl_fmt_exit_code(RKV_ECLOSED), 5);
    ck_assert_int_eq(kvctl_fmt_exit_code(RKV_EBUSY), 5);
    int failed[] = { RKV_EIO, RKV_ECORRUPT, RKV_EINVAL, RKV_ENOMEM, RKV_ETOOBIG, RKV_EPROTO,
                     RKV_EAUTH, RKV_EEXIST, RKV_ENOSPC, RKV_ECONFLICT, RKV_ESTATE, -99 };
    for (size_t i = 0; i < sizeof failed / sizeof failed[0]; i++)
        ck_assert_int_eq(kvctl_fmt_exit_code(failed[i]), 3);
}
END_TEST

/* ---- options, hosts, backoff ---- */

START_TEST(hostport_parses_names_v4_and_bracketed_v6)
{
    char host[64], port[8];
    ck_assert_int_eq(client_parse_hostport("127.0.0.1:7400", host, sizeof host, port, sizeof port), KV_OK);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_str_eq(port, "7400");
    ck_assert_int_eq(client_parse_hostport("[::1]:80", host, sizeof host, port, sizeof port), KV_OK);
    ck_assert_str_eq(host, "::1");
    ck_assert_str_eq(port, "80");
    ck_assert_int_eq(client_parse_hostport("node-1.example:65535", host, sizeof host, port,
                                           sizeof port), KV_OK);
    ck_assert_str_eq(host, "node-1.example");
}
END_TEST

START_TEST(hostport_rejects_malformed_addresses)
{
    const char *bad[] = { "host", "host:", ":80", "h:0", "h:65536", "::1:80", "h:80x", "[::1]80",
                          "[::1", "h:-1", "h: 80", "h:123456", "" };
    char host[64], port[8];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(client_parse_hostport(bad[i], host, sizeof host, port, sizeof port) == KV_EINVAL,
                      "accepted '%s'", bad[i]);
    char tiny[4];
    ck_assert_int_eq(client_parse_hostport("longhost:1", tiny, sizeof tiny, port, sizeof port), KV_EINVAL);
}
END_TEST

START_TEST(options_default_when_null_or_zero)
{
    struct client_config c;
    ck_assert_int_eq(client_config_from_options(NULL, &c), KV_OK);
    ck_assert_str_eq(c.cluster_name, "ringkv");
    ck_assert_uint_eq(c.retries, RKV_RETRIES_DEFAULT);
    ck_assert_uint_eq(c.request_timeout_ms, RKV_REQUEST_TIMEOUT_MS_DEFAULT);
    struct rkv_options zero;
    memset(&zero, 0, sizeof zero);
    ck_assert_int_eq(client_config_from_options(&zero, &c), KV_OK);
    ck_assert_uint_eq(c.retries, 0);  /* retries is taken as given */
    ck_assert_uint_eq(c.connect_timeout_ms, RKV_CONNECT_TIMEOUT_MS_DEFAULT);
    ck_assert_uint_eq(c.backoff_max_ms, RKV_BACKOFF_MAX_MS_DEFAULT);
    ck_assert_uint_eq(c.frame_bytes_max, RKV_FRAME_BYTES_MAX_DEFAULT);
    ck_assert(!c.tls);
}
END_TEST

START_TEST(options_reject_contradictions)
{
    struct rkv_options o;
    struct client_config c;
    rkv_options_init(&o);
    o.cluster_name = "";
    ck_assert_int_eq(client_config_from_options(&o, &c), KV_EINVAL);
    char longname[RKV_CLUSTER_NAME_BYTES_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    o.cluster_name = longname;
    ck_assert_int_eq(client_config_from_options(&o, &c), KV_EINVAL);
    longname[RKV_CLUSTER_NAME_BYTES_MAX] = '\0';
    ck_assert_int_eq(client_config_from_options(&o, &c), KV_OK);
    rkv_options_init(&o);
    o.tls_ca_file = "/tmp/ca.crt";  /* TLS files without tls */
    ck_assert_int_eq(client_config_from_options(&o, &c), KV_EINVAL);
    rkv_options_init(&o);
    o.backoff_base_ms = 500;
    o.backoff_max_ms = 100;
    ck_assert_int_eq(client_config_from_options(&o, &c), KV_EINVAL);
    rkv_options_init(&o);
    o.frame_bytes_max = 100;
    ck_assert_int_eq(client_config_from_options(&o, &c), KV_EINVAL);
}
END_TEST

START_TEST(backoff_doubles_with_jitter_and_stops_at_the_cap)
{
    /* d = min(max, base * 2^attempt); result in [d - d/2, d]. */
    ck_assert_uint_eq(client_backoff_ms(0, 20, 1000, 0), 10);
    ck_assert_uint_eq(client_backoff_ms(0, 20, 1000, 10), 20);
    ck_assert_uint_eq(client_backoff_ms(0, 20, 1000, 11), 10);  /* rnd mod (d/2 + 1) */
    ck_assert_uint_eq(client_backoff_ms(3, 20, 1000, 0), 80);
    ck_assert_uint_eq(client_backoff_ms(3, 20, 1000, 80), 160);
    ck_assert_uint_eq(client_backoff_ms(10, 20, 1000, 0), 500);
    ck_assert_uint_eq(client_backoff_ms(200, 20, 1000, UINT64_MAX), 500 + UINT64_MAX % 501);
    for (uint64_t r = 0; r < 2000; r += 7) {
        uint32_t v = client_backoff_ms(4, 20, 1000, r);
        ck_assert(v >= 160 && v <= 320);
    }
}
END_TEST

START_TEST(node_deadline_leaves_a_margin_for_the_answer)
{
    ck_assert_uint_eq(client_node_timeout_ms(5000), 5000 - RKV_NODE_DEADLINE_MARGIN_MS);
    ck_assert_uint_eq(client_node_timeout_ms(2 * RKV_NODE_DEADLINE_MARGIN_MS), RKV_NODE_DEADLINE_MARGIN_MS);
    ck_assert_uint_eq(client_node_timeout_ms(40), 20);
    ck_assert_uint_eq(client_node_timeout_ms(1), 1);
}
END_TEST

START_TEST(only_temporary_errors_are_retried)
{
    ck_assert(client_status_retriable(KV_EBUSY));
    ck_assert(client_status_retriable(KV_EUNAVAIL));
    ck_assert(!client_status_retriable(KV_EINVAL));
    ck_assert(!client_status_retriable(KV_EINDOUBT));
    ck_assert(client_conn_error_retriable(KV_EUNAVAIL));
    ck_assert(client_conn_error_retriable(KV_ECLOSED));
    ck_assert(!client_conn_error_retriable(KV_EAUTH));
    ck_assert(!client_conn_error_retriable(KV_EPROTO));
    ck_assert(!client_conn_error_retriable(KV_EIO));
    ck_assert_int_eq(client_worse_error(KV_EUNAVAIL, KV_EAUTH), KV_EAUTH);
    ck_assert_int_eq(client_worse_error(KV_ETIMEDOUT, KV_EUNAVAIL), KV_ETIMEDOUT);
    ck_assert_int_eq(client_worse_error(KV_OK, KV_EUNAVAIL), KV_EUNAVAIL);
}
END_TEST

/* ---- wire conversions ---- */

START_TEST(request_options_map_to_the_wire)
{
    Ringkv__ReadOptions ro;
    Ringkv__WriteOptions wo;
    ck_assert_int_eq(client_wire_read_options(NULL, 1000, &ro), KV_OK);
    ck_assert_int_eq(ro.consistency, RINGKV__CONSISTENCY__CONSISTENCY_DEFAULT);
    ck_assert_uint_eq(ro.timeout_ms, 1000 - RKV_NODE_DEADLINE_MARGIN_MS);
    struct rkv_request_options o = { RKV_CONSISTENCY_QUORUM, 0, 0, true };
    ck_assert_int_eq(client_wire_write_options(&o, 1000, &wo), KV_OK);
    ck_assert_int_eq(wo.consistency, RINGKV__CONSISTENCY__CONSISTENCY_QUORUM);
    ck_assert(wo.primary_only);
    o = (struct rkv_request_options){ RKV_CONSISTENCY_ALL, 2, 0, false };
    ck_assert_int_eq(client_wire_read_options(&o, 1000, &ro), KV_OK);
    ck_assert_uint_eq(ro.r, 2);
    ck_assert_int_eq(ro.consistency, RINGKV__CONSISTENCY__CONSISTENCY_ALL);
    o.consistency = (enum rkv_consistency)7;
    ck_assert_int_eq(client_wire_read_options(&o, 1000, &ro), KV_EINVAL);
}
END_TEST

START_TEST(put_args_map_condition_ttl_and_context)
{
    Ringkv__Put p;
    ck_assert_int_eq(client_wire_put("k", 1, "v", 1, NULL, &p), KV_OK);
    ck_assert_int_eq(p.condition, RINGKV__CONDITION__CONDITION_NONE);
    ck_assert_uint_eq(p.context.len, 0);
    struct rkv_context *ctx = NULL;
    ck_assert_int_eq(rkv_context_from_bytes("\x01\x02", 2, &ctx), RKV_OK);
    struct rkv_put_args a = { ctx, 1500, RKV_PUT_NX };
    ck_assert_int_eq(client_wire_put("k", 1, "", 0, &a, &p), KV_OK);
    ck_assert_int_eq(p.condition, RINGKV__CONDITION__CONDITION_IF_ABSENT);
    ck_assert_uint_eq(p.ttl_ms, 1500);
    ck_assert_uint_eq(p.context.len, 2);
    ck_assert_int_eq(memcmp(p.context.data, "\x01\x02", 2), 0);
    a.condition = RKV_PUT_XX;
    ck_assert_int_eq(client_wire_put("k", 1, "v", 1, &a, &p), KV_OK);
    ck_assert_int_eq(p.condition, RINGKV__CONDITION__CONDITION_IF_EXISTS);
    a.condition = (enum rkv_condition)9;
    ck_assert_int_eq(client_wire_put("k", 1, "v", 1, &a, &p), KV_EINVAL);
    rkv_context_free(ctx);
}
END_TEST

START_TEST(context_bytes_round_trip)
{
    struct rkv_context *a = NULL, *b = NULL;
    ck_assert_int_eq(rkv_context_from_bytes("", 0, &a), RKV_EINVAL);
    ck_assert_int_eq(rkv_context_from_bytes("\0ab", 3, &a), RKV_OK);
    ck_assert_int_eq(rkv_context_dup(a, &b), RKV_OK);
    rkv_context_free(a);
    size_t n = 0;
    const void *p = rkv_context_bytes(b, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(p, "\0ab", 3), 0);
    rkv_context_free(b);
}
END_TEST

/* A GetReply with two siblings (one binary), as the node would send it. */
static void make_get_reply(Ringkv__GetReply *gr, Ringkv__Sibling *s, Ringkv__Sibling **ptrs)
{
    ringkv__get_reply__init(gr);
    ringkv__sibling__init(&s[0]);
    ringkv__sibling__init(&s[1]);
    s[0].value.data = (uint8_t *)"one";
    s[0].value.len = 3;
    s[0].expires_at_ms = 77;
    s[1].value.data = (uint8_t *)"\0\xff";
    s[1].value.len = 2;
    ptrs[0] = &s[0];
    ptrs[1] = &s[1];
    gr->found = true;
    gr->n_siblings = 2;
    gr->siblings = ptrs;
    gr->context.data = (uint8_t *)"ctx!";
    gr->context.len = 4;
}

START_TEST(get_result_copies_siblings_and_context)
{
    Ringkv__GetReply gr;
    Ringkv__Sibling s[2], *ptrs[2];
    make_get_reply(&gr, s, ptrs);
    struct rkv_get_result *r = NULL;
    ck_assert_int_eq(client_wire_get_result(&gr, &r), KV_OK);
    ck_assert(r->found);
    ck_assert_uint_eq(r->nsiblings, 2);
    ck_assert_str_eq(r->siblings[0].value, "one");
    ck_assert_uint_eq(r->siblings[0].expires_at_ms, 77);
    ck_assert_uint_eq(r->siblings[1].value_len, 2);
    ck_assert_int_eq(memcmp(r->siblings[1].value, "\0\xff\0", 3), 0);  /* NUL after the bytes */
    size_t n = 0;
    ck_assert_int_eq(memcmp(rkv_context_bytes(r->context, &n), "ctx!", 4), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert(r->siblings[0].value != (const void *)s[0].value.data);  /* a copy */
    rkv_get_result_free(r);
}
END_TEST

START_TEST(inconsistent_get_reply_is_a_protocol_error)
{
    Ringkv__GetReply gr;
    Ringkv__Sibling s[2], *ptrs[2];
    struct rkv_get_result *r = NULL;
    make_get_reply(&gr, s, ptrs);
    gr.found = false;  /* siblings but not found */
    ck_assert_int_eq(client_wire_get_result(&gr, &r), KV_EPROTO);
    make_get_reply(&gr, s, ptrs);
    gr.n_siblings = 0;  /* found without siblings */
    ck_assert_int_eq(client_wire_get_result(&gr, &r), KV_EPROTO);
    make_get_reply(&gr, s, ptrs);
    gr.context.len = 0;
    ck_assert_int_eq(client_wire_get_result(&gr, &r), KV_EPROTO);
    make_get_reply(&gr, s, ptrs);
    gr.found = false;
    gr.n_siblings = 0;
    ck_assert_int_eq(client_wire_get_result(&gr, &r), KV_OK);  /* missing key, with context */
    ck_assert(!r->found);
    ck_assert_ptr_null(r->siblings);
    rkv_get_result_free(r);
}
END_TEST

START_TEST(stats_are_copied_in_order_with_a_terminator)
{
    Ringkv__Stat a = RINGKV__STAT__INIT, b = RINGKV__STAT__INIT, *ptrs[2] = { &a, &b };
    a.name = (char *)"engine.sst_files";
    a.value = (char *)"3";
    b.name = (char *)"x";
    b.value = (char *)"";
    Ringkv__StatsReply sr = RINGKV__STATS_REPLY__INIT;
    sr.n_stats = 2;
    sr.stats = ptrs;
    struct rkv_stat *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(client_wire_stats(&sr, &st, &n), KV_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(st[0].name, "engine.sst_files");
    ck_assert_str_eq(st[0].value, "3");
    ck_assert_str_eq(st[1].value, "");
    ck_assert_ptr_null(st[2].name);
    rkv_stats_free(st);
}
END_TEST

/* ---- kvctl text handling ---- */

START_TEST(base64_matches_rfc4648_vectors)
{
    const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    const char *out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    char enc[16], dec[16];
    for (size_t i = 0; i < 7; i++) {
        kvctl_fmt_base64_encode(in[i], strlen(in[i]), enc);
        ck_assert_str_eq(enc, out[i]);
        ck_assert_uint_eq(strlen(enc), kvctl_fmt_base64_len(strlen(in[i])));
        size_t n = 99;
        ck_assert(kvctl_fmt_base64_decode(out[i], dec, &n));
        ck_assert_uint_eq(n, strlen(in[i]));
        ck_assert_int_eq(memcmp(dec, in[i], n), 0);
    }
}
END_TEST

START_TEST(base64_round_trips_binary_and_rejects_garbage)
{
    unsigned char bin[256], back[256];
    char enc[400];
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= 256; len += 17) {
        kvctl_fmt_base64_encode(bin, len, enc);
        size_t n = 0;
        ck_assert(kvctl_fmt_base64_decode(enc, back, &n));
        ck_assert_uint_eq(n, len);
        ck_assert_int_eq(memcmp(bin, back, len), 0);
    }
    const char *bad[] = { "Zg=", "Z===", "Zg==Zg==", "Zm9*", "Zm=v", "Zg= =" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 0;
        ck_assert_msg(!kvctl_fmt_base64_decode(bad[i], back, &n), "accepted '%s'", bad[i]);
    }
}
END_TEST

START_TEST(utf8_check_rejects_overlongs_surrogates_and_truncation)
{
    ck_assert(kvctl_fmt_utf8_valid("plain", 5));
    ck_assert(kvctl_fmt_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));  /* é € 😀 */
    ck_assert(!kvctl_fmt_utf8_valid("\xc0\xaf", 2));          /* overlong '/' */
    ck_assert(!kvctl_fmt_utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
    ck_assert(!kvctl_fmt_utf8_valid("\xe2\x82", 2));          /* truncated */
    ck_assert(!kvctl_fmt_utf8_valid("\xff", 1));
    ck_assert(!kvctl_fmt_utf8_valid("\xf4\x90\x80\x80", 4));  /* above U+10FFFF */
}
END_TEST

START_TEST(json_bytes_escape_text_and_base64_binary)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    kvctl_fmt_json_bytes(f, "value", "a\"b\\c\n\x01", 7);
    fputc('|', f);
    kvctl_fmt_json_bytes(f, "value", "\xff\x00", 2);
    fclose(f);
    ck_assert_str_eq(out, "\"value\":\"a\\\"b\\\\c\\n\\u0001\"|\"value_base64\":\"/wA=\"");
    free(out);
}
END_TEST

START_TEST(numbers_parse_whole_strings_only)
{
    uint64_t u = 0;
    int64_t i = 0;
    ck_assert(kvctl_fmt_parse_u64("1500", 1, 2000, &u) && u == 1500);
    ck_assert(!kvctl_fmt_parse_u64("0", 1, 2000, &u));
    ck_assert(!kvctl_fmt_parse_u64("-1", 0, 2000, &u));
    ck_assert(!kvctl_fmt_parse_u64(" 5", 0, 2000, &u));
    ck_assert(!kvctl_fmt_parse_u64("5ms", 0, 2000, &u));
    ck_assert(!kvctl_fmt_parse_u64("99999999999999999999", 0, UINT64_MAX, &u));
    ck_assert(kvctl_fmt_parse_i64("-42", &i) && i == -42);
    ck_assert(kvctl_fmt_parse_i64("+7", &i) && i == 7);
    ck_assert(!kvctl_fmt_parse_i64("--1", &i));
    ck_assert(!kvctl_fmt_parse_i64("", &i));
    ck_assert(!kvctl_fmt_parse_i64("9223372036854775808", &i));
}
END_TEST

/* ---- scripts ---- */

static Ringkv__GetReply g_get_reply;
static Ringkv__Sibling g_sib, *g_sib_ptr = &g_sib;
#define CTX_BYTES "CTX-1\0\xff"

/* Answers a get: found, value "v", context CTX_BYTES. */
static enum fake_action answer_get(Ringkv__Envelope *reply)
{
    ringkv__get_reply__init(&g_get_reply);
    ringkv__sibling__init(&g_sib);
    g_sib.value.data = (uint8_t *)"v";
    g_sib.value.len = 1;
    g_get_reply.found = true;
    g_get_reply.n_siblings = 1;
    g_get_reply.siblings = &g_sib_ptr;
    g_get_reply.context.data = (uint8_t *)CTX_BYTES;
    g_get_reply.context.len = sizeof CTX_BYTES - 1;
    reply->body_case = RINGKV__ENVELOPE__BODY_GET_REPLY;
    reply->get_reply = &g_get_reply;
    return FAKE_REPLY;
}

static Ringkv__PutReply g_put_reply = RINGKV__PUT_REPLY__INIT;
static Ringkv__DeleteReply g_del_reply = RINGKV__DELETE_REPLY__INIT;
static Ringkv__PingReply g_ping_reply = RINGKV__PING_REPLY__INIT;

/* A well-behaved node for get, put, delete and ping. */
static enum fake_action script_ok(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                  Ringkv__Envelope *reply)
{
    switch (req->body_case) {
    case RINGKV__ENVELOPE__BODY_GET:
        return answer_get(reply);
    case RINGKV__ENVELOPE__BODY_PUT:
        g_put_reply.context.data = (uint8_t *)"new";
        g_put_reply.context.len = 3;
        reply->body_case = RINGKV__ENVELOPE__BODY_PUT_REPLY;
        reply->put_reply = &g_put_reply;
        return FAKE_REPLY;
    case RINGKV__ENVELOPE__BODY_DELETE:
        g_del_reply.found = true;
        reply->body_case = RINGKV__ENVELOPE__BODY_DELETE_REPLY;
        reply->delete_reply = &g_del_reply;
        return FAKE_REPLY;
    case RINGKV__ENVELOPE__BODY_PING:
        reply->body_case = RINGKV__ENVELOPE__BODY_PING_REPLY;
        reply->ping_reply = &g_ping_reply;
        return FAKE_REPLY;
    default:
        reply->status = KV_EINVAL;
        return FAKE_REPLY;
    }
}

/* Drops the first connection on its first request; then behaves. */
static enum fake_action script_drop_first(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                          Ringkv__Envelope *reply)
{
    return conn == 0 ? FAKE_CLOSE : script_ok(f, conn, n, req, reply);
}

static enum fake_action script_silent(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                      Ringkv__Envelope *reply)
{
    return FAKE_SILENT;
}

/* Answers the first request of a connection with KV_EBUSY, then behaves. */
static enum fake_action script_busy_first(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                          Ringkv__Envelope *reply)
{
    if (n > 0)
        return script_ok(f, conn, n, req, reply);
    reply->status = KV_EBUSY;
    reply->error = (char *)"too many requests in flight";
    return FAKE_REPLY;
}

static enum fake_action script_exists(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                      Ringkv__Envelope *reply)
{
    reply->status = KV_EEXIST;
    reply->error = (char *)"exists: the key has a live value";
    return FAKE_REPLY;
}

/* ---- engine tests ---- */

START_TEST(get_is_retried_after_the_connection_drops)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(2);
    fake_start(&f, script_drop_first);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    struct rkv_get_result *r = NULL;
    ck_assert_int_eq(rkv_get(c, "k", 1, NULL, &r), RKV_OK);
    ck_assert_str_eq(r->siblings[0].value, "v");
    rkv_get_result_free(r);
    rkv_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.connections), 2);
    ck_assert_int_eq(atomic_load(&f.requests), 2);
}
END_TEST

START_TEST(put_is_in_doubt_and_not_resent_when_the_connection_drops)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(3);
    fake_start(&f, script_drop_first);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    ck_assert_int_eq(rkv_put(c, "k", 1, "v", 1, NULL, NULL, NULL), RKV_EINDOUBT);
    ck_assert_ptr_nonnull(strstr(rkv_last_error(c), "closed"));
    rkv_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.puts), 1);
    ck_assert_int_eq(atomic_load(&f.connections), 1);
}
END_TEST

START_TEST(incr_is_in_doubt_when_no_answer_comes_in_time)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(3);
    fake_start(&f, script_silent);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    struct rkv_request_options ro = { .timeout_ms = 200 };
    int64_t v = 12345;
    ck_assert_int_eq(rkv_incr(c, "k", 1, 1, &ro, &v), RKV_EINDOUBT);
    ck_assert_int_eq(v, 12345);  /* out parameters untouched on failure */
    rkv_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.requests), 1);
}
END_TEST

START_TEST(get_times_out_when_no_answer_comes)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(1);
    fake_start(&f, script_silent);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    struct rkv_request_options ro = { .timeout_ms = 200 };
    struct rkv_get_result *r = NULL;
    ck_assert_int_eq(rkv_get(c, "k", 1, &ro, &r), RKV_ETIMEDOUT);
    ck_assert_ptr_null(r);
    rkv_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(unreachable_node_fails_without_doubt)
{
    char spec[32];
    snprintf(spec, sizeof spec, "127.0.0.1:%u", dead_port());
    const char *hosts[] = { spec };
    struct rkv_options o = fast_options(2);
    struct rkv_client *c = NULL;
    ck_assert_int_eq(rkv_connect(hosts, 1, &o, &c), RKV_EUNAVAIL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(rkv_open(hosts, 1, &o, &c), RKV_OK);
    ck_assert_int_eq(rkv_put(c, "k", 1, "v", 1, NULL, NULL, NULL), RKV_EUNAVAIL);
    ck_assert_ptr_nonnull(strstr(rkv_last_error(c), "connect"));
    ck_assert_ptr_null(rkv_current_host(c));
    rkv_close(c);
}
END_TEST

START_TEST(failover_tries_every_host_of_a_round_once)
{
    struct fake f;
    struct rkv_options o = fast_options(0);  /* one round, no retry */
    fake_start(&f, script_ok);
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%u", f.port);
    for (int ndead = 1; ndead <= 3; ndead++) {
        struct rkv_client *c = NULL;
        ck_assert_int_eq(fake_client(&f, ndead, &o, &c), RKV_OK);
        ck_assert_str_eq(rkv_current_host(c), want);
        ck_assert_int_eq(rkv_ping(c, NULL, NULL), RKV_OK);
        rkv_close(c);
    }
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.connections), 3);
}
END_TEST

START_TEST(wrong_cluster_is_refused_at_connect_without_retry)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(3);
    fake_start(&f, script_ok);
    f.cluster = "other";
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_EAUTH);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.connections), 1);
}
END_TEST

START_TEST(busy_node_at_hello_is_retried_then_reported)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(2);
    fake_start(&f, script_ok);
    f.hello_busy = true;
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_EBUSY);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.connections), 3);
}
END_TEST

START_TEST(node_errors_pass_through_with_their_message)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(3);
    fake_start(&f, script_exists);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    struct rkv_put_args a = { NULL, 0, RKV_PUT_NX };
    ck_assert_int_eq(rkv_put(c, "k", 1, "v", 1, &a, NULL, NULL), RKV_EEXIST);
    ck_assert_ptr_nonnull(strstr(rkv_last_error(c), "the key has a live value"));
    rkv_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.puts), 1);
}
END_TEST

START_TEST(context_from_get_goes_back_with_put_and_delete)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(0);
    fake_start(&f, script_ok);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    struct rkv_get_result *r = NULL;
    ck_assert_int_eq(rkv_get(c, "k", 1, NULL, &r), RKV_OK);
    struct rkv_put_args a = { r->context, 0, RKV_PUT_ALWAYS };
    struct rkv_context *written = NULL;
    ck_assert_int_eq(rkv_put(c, "k", 1, "w", 1, &a, NULL, &written), RKV_OK);
    ck_assert_uint_eq(f.seen_context_len, sizeof CTX_BYTES - 1);
    ck_assert_int_eq(memcmp(f.seen_context, CTX_BYTES, sizeof CTX_BYTES - 1), 0);
    size_t n = 0;
    ck_assert_int_eq(memcmp(rkv_context_bytes(written, &n), "new", 3), 0);
    bool found = false;
    ck_assert_int_eq(rkv_delete(c, "k", 1, written, NULL, &found), RKV_OK);
    ck_assert(found);
    ck_assert_uint_eq(f.seen_context_len, 3);
    rkv_context_free(written);
    rkv_get_result_free(r);
    rkv_close(c);
    fake_stop(&f);
}
END_TEST

START_TEST(busy_answer_is_retried_for_reads_only)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(2);
    fake_start(&f, script_busy_first);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    struct rkv_get_result *r = NULL;
    ck_assert_int_eq(rkv_get(c, "k", 1, NULL, &r), RKV_OK);  /* EBUSY, then the answer */
    rkv_get_result_free(r);
    rkv_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.requests), 2);
    ck_assert_int_eq(atomic_load(&f.connections), 1);

    fake_start(&f, script_busy_first);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    ck_assert_int_eq(rkv_put(c, "k", 1, "v", 1, NULL, NULL, NULL), RKV_EBUSY);
    rkv_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.puts), 1);
}
END_TEST

START_TEST(bad_arguments_are_refused_before_sending)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(0);
    fake_start(&f, script_ok);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    struct rkv_get_result *r = NULL;
    ck_assert_int_eq(rkv_get(c, "", 0, NULL, &r), RKV_EINVAL);
    ck_assert_int_eq(rkv_put(c, "k", 1, NULL, 5, NULL, NULL, NULL), RKV_EINVAL);
    ck_assert_int_eq(rkv_expire(c, "k", 1, 0, NULL), RKV_EINVAL);
    struct rkv_request_options bad = { .consistency = (enum rkv_consistency)9 };
    ck_assert_int_eq(rkv_delete(c, "k", 1, NULL, &bad, NULL), RKV_EINVAL);
    struct rkv_batch_get_entry *e = NULL;
    ck_assert_int_eq(rkv_batch_get(c, NULL, 0, NULL, &e), RKV_EINVAL);
    rkv_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.requests), 0);
    const char *bad_hosts[] = { "nocolon" };
    ck_assert_int_eq(rkv_open(bad_hosts, 1, NULL, &c), RKV_EINVAL);
    ck_assert_int_eq(rkv_open(bad_hosts, 0, NULL, &c), RKV_EINVAL);
}
END_TEST

/* ---- batches, ttl, expire, stats ---- */

/* Answers a BatchGet: every key found, its value = the key. Built on the heap per reply. */
static enum fake_action answer_batch_get(const Ringkv__Envelope *req, Ringkv__Envelope *reply,
                                         void **scratch)
{
    size_t n = req->batch_get->n_keys;
    struct br {
        Ringkv__BatchGetReply r;
        Ringkv__BatchGetResult *ptrs[RKV_BATCH_CHUNK_KEYS];
        Ringkv__BatchGetResult res[RKV_BATCH_CHUNK_KEYS];
        Ringkv__GetReply gr[RKV_BATCH_CHUNK_KEYS];
        Ringkv__Sibling sib[RKV_BATCH_CHUNK_KEYS], *sp[RKV_BATCH_CHUNK_KEYS];
    } *b = calloc(1, sizeof *b);
    ck_assert_uint_le(n, RKV_BATCH_CHUNK_KEYS);
    ringkv__batch_get_reply__init(&b->r);
    for (size_t i = 0; i < n; i++) {
        ringkv__batch_get_result__init(&b->res[i]);
        ringkv__get_reply__init(&b->gr[i]);
        ringkv__sibling__init(&b->sib[i]);
        b->sib[i].value = req->batch_get->keys[i];
        b->sp[i] = &b->sib[i];
        b->gr[i].found = true;
        b->gr[i].n_siblings = 1;
        b->gr[i].siblings = &b->sp[i];
        b->gr[i].context.data = (uint8_t *)"c";
        b->gr[i].context.len = 1;
        b->res[i].reply = &b->gr[i];
        b->ptrs[i] = &b->res[i];
    }
    b->r.n_results = n;
    b->r.results = b->ptrs;
    reply->body_case = RINGKV__ENVELOPE__BODY_BATCH_GET_REPLY;
    reply->batch_get_reply = &b->r;
    *scratch = b;
    return FAKE_REPLY;
}

static void *g_scratch;

static enum fake_action script_batch_get(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                         Ringkv__Envelope *reply)
{
    free(g_scratch);  /* the previous reply has been sent */
    g_scratch = NULL;
    return answer_batch_get(req, reply, &g_scratch);
}

START_TEST(batch_get_pipelines_chunks_and_keeps_key_order)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(0);
    size_t n = 3 * RKV_BATCH_CHUNK_KEYS + 5;
    struct rkv_key *keys = calloc(n, sizeof *keys);
    char (*names)[16] = calloc(n, 16);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], 16, "key-%zu", i);
        keys[i] = (struct rkv_key){ names[i], strlen(names[i]) };
    }
    fake_start(&f, script_batch_get);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    struct rkv_batch_get_entry *e = NULL;
    ck_assert_int_eq(rkv_batch_get(c, keys, n, NULL, &e), RKV_OK);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(e[i].status, RKV_OK);
        ck_assert_str_eq(e[i].result->siblings[0].value, names[i]);
    }
    rkv_batch_get_free(e, n);
    rkv_close(c);
    fake_stop(&f);
    free(g_scratch);
    g_scratch = NULL;
    ck_assert_int_eq(f.batch_chunks, 4);
    free(keys);
    free(names);
}
END_TEST

static Ringkv__BatchPutReply g_bp_reply;
static Ringkv__BatchPutResult g_bp_res[RKV_BATCH_CHUNK_KEYS], *g_bp_ptrs[RKV_BATCH_CHUNK_KEYS];

/* Answers the first BatchPut chunk (all written), drops the connection on the second. */
static enum fake_action script_batch_put_drop(struct fake *f, int conn, int n,
                                              const Ringkv__Envelope *req, Ringkv__Envelope *reply)
{
    if (n > 0)
        return FAKE_CLOSE;
    ringkv__batch_put_reply__init(&g_bp_reply);
    for (size_t i = 0; i < req->batch_put->n_puts; i++) {
        ringkv__batch_put_result__init(&g_bp_res[i]);
        g_bp_res[i].context.data = (uint8_t *)"pc";
        g_bp_res[i].context.len = 2;
        g_bp_ptrs[i] = &g_bp_res[i];
    }
    g_bp_reply.n_results = req->batch_put->n_puts;
    g_bp_reply.results = g_bp_ptrs;
    reply->body_case = RINGKV__ENVELOPE__BODY_BATCH_PUT_REPLY;
    reply->batch_put_reply = &g_bp_reply;
    return FAKE_REPLY;
}

START_TEST(batch_put_reports_which_entries_are_in_doubt)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(3);
    size_t n = 3 * RKV_BATCH_CHUNK_KEYS;
    struct rkv_put_entry *e = calloc(n, sizeof *e);
    int *st = calloc(n, sizeof *st);
    struct rkv_context **ctx = calloc(n, sizeof *ctx);
    for (size_t i = 0; i < n; i++)
        e[i] = (struct rkv_put_entry){ "k", 1, "v", 1, { NULL, 0, RKV_PUT_ALWAYS } };
    fake_start(&f, script_batch_put_drop);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    ck_assert_int_eq(rkv_batch_put(c, e, n, NULL, st, ctx), RKV_EINDOUBT);
    for (size_t i = 0; i < n; i++) {
        if (i < RKV_BATCH_CHUNK_KEYS) {
            ck_assert_int_eq(st[i], RKV_OK);
            ck_assert_ptr_nonnull(ctx[i]);
        } else if (i < 2 * RKV_BATCH_CHUNK_KEYS) {
            ck_assert_int_eq(st[i], RKV_EINDOUBT);  /* the node read it, then dropped us */
        } else {
            ck_assert(st[i] == RKV_EINDOUBT || st[i] == RKV_EUNAVAIL || st[i] == RKV_ETIMEDOUT);
        }
        if (i >= RKV_BATCH_CHUNK_KEYS)
            ck_assert_ptr_null(ctx[i]);
        rkv_context_free(ctx[i]);
    }
    rkv_close(c);
    fake_stop(&f);
    ck_assert_int_eq(atomic_load(&f.connections), 1);  /* nothing resent */
    free(e);
    free(st);
    free(ctx);
}
END_TEST

/* Answers a BatchPut with one result, whatever the number of entries. */
static enum fake_action script_batch_put_short(struct fake *f, int conn, int n,
                                               const Ringkv__Envelope *req, Ringkv__Envelope *reply)
{
    ringkv__batch_put_reply__init(&g_bp_reply);
    ringkv__batch_put_result__init(&g_bp_res[0]);
    g_bp_ptrs[0] = &g_bp_res[0];
    g_bp_reply.n_results = 1;
    g_bp_reply.results = g_bp_ptrs;
    reply->body_case = RINGKV__ENVELOPE__BODY_BATCH_PUT_REPLY;
    reply->batch_put_reply = &g_bp_reply;
    return FAKE_REPLY;
}

/* Was a read past the reply's results (fuzz_reply, regress_batch_put_short_reply). */
START_TEST(batch_put_short_reply_is_in_doubt)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(0);
    struct rkv_put_entry e[3];
    int st[3];
    struct rkv_context *ctx[3];
    for (size_t i = 0; i < 3; i++)
        e[i] = (struct rkv_put_entry){ "k", 1, "v", 1, { NULL, 0, RKV_PUT_ALWAYS } };
    fake_start(&f, script_batch_put_short);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    ck_assert_int_eq(rkv_batch_put(c, e, 3, NULL, st, ctx), RKV_EINDOUBT);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(st[i], RKV_EINDOUBT);
        ck_assert_ptr_null(ctx[i]);
    }
    rkv_close(c);
    fake_stop(&f);
}
END_TEST

static Ringkv__TtlReply g_ttl_reply = RINGKV__TTL_REPLY__INIT;
static Ringkv__ExpireReply g_expire_reply = RINGKV__EXPIRE_REPLY__INIT;
static Ringkv__IncrReply g_incr_reply = RINGKV__INCR_REPLY__INIT;
static Ringkv__StatsReply g_stats_reply = RINGKV__STATS_REPLY__INIT;
static Ringkv__Stat g_stat = RINGKV__STAT__INIT, *g_stat_ptr = &g_stat;

/* Keys: "gone" is missing, "forever" never expires, anything else has 1500 ms left. */
static enum fake_action script_meta(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                    Ringkv__Envelope *reply)
{
    switch (req->body_case) {
    case RINGKV__ENVELOPE__BODY_TTL: {
        const char *k = (const char *)req->ttl->key.data;
        g_ttl_reply.ttl_ms = strncmp(k, "gone", 4) == 0 ? -2 : strncmp(k, "forever", 7) == 0 ? -1 : 1500;
        reply->body_case = RINGKV__ENVELOPE__BODY_TTL_REPLY;
        reply->ttl_reply = &g_ttl_reply;
        return FAKE_REPLY;
    }
    case RINGKV__ENVELOPE__BODY_EXPIRE:
        g_expire_reply.found = strncmp((const char *)req->expire->key.data, "gone", 4) != 0;
        reply->body_case = RINGKV__ENVELOPE__BODY_EXPIRE_REPLY;
        reply->expire_reply = &g_expire_reply;
        return FAKE_REPLY;
    case RINGKV__ENVELOPE__BODY_INCR:
        g_incr_reply.value = 40 + req->incr->delta;
        reply->body_case = RINGKV__ENVELOPE__BODY_INCR_REPLY;
        reply->incr_reply = &g_incr_reply;
        return FAKE_REPLY;
    case RINGKV__ENVELOPE__BODY_STATS:
        g_stat.name = (char *)"native.requests";
        g_stat.value = (char *)"7";
        g_stats_reply.n_stats = 1;
        g_stats_reply.stats = &g_stat_ptr;
        reply->body_case = RINGKV__ENVELOPE__BODY_STATS_REPLY;
        reply->stats_reply = &g_stats_reply;
        return FAKE_REPLY;
    default:
        return script_ok(f, conn, n, req, reply);
    }
}

START_TEST(ttl_expire_incr_and_stats_map_their_replies)
{
    struct fake f;
    struct rkv_client *c = NULL;
    struct rkv_options o = fast_options(0);
    fake_start(&f, script_meta);
    ck_assert_int_eq(fake_client(&f, 0, &o, &c), RKV_OK);
    int64_t ttl = 0, v = 0;
    ck_assert_int_eq(rkv_ttl(c, "gone", 4, NULL, &ttl), RKV_ENOTFOUND);
    ck_assert_int_eq(rkv_ttl(c, "forever", 7, NULL, &ttl), RKV_OK);
    ck_assert_int_eq(ttl, RKV_TTL_NONE);
    ck_assert_int_eq(rkv_ttl(c, "k", 1, NULL, &ttl), RKV_OK);
    ck_assert_int_eq(ttl, 1500);
    ck_assert_int_eq(rkv_expire(c, "gone", 4, 100, NULL), RKV_ENOTFOUND);
    ck_assert_int_eq(rkv_expire(c, "k", 1, 100, NULL), RKV_OK);
    ck_assert_int_eq(rkv_persist(c, "k", 1, NULL), RKV_OK);
    ck_assert_int_eq(rkv_incr(c, "n", 1, -2, NULL, &v), RKV_OK);
    ck_assert_int_eq(v, 38);
    struct rkv_stat *st = NULL;
    size_t n = 0;
    ck_assert_int_eq(rkv_stats(c, NULL, &st, &n), RKV_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(st[0].name, "native.requests");
    rkv_stats_free(st);
    rkv_close(c);
    fake_stop(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client");
    TCase *pure = tcase_create("pure");
    tcase_add_test(pure, every_status_code_has_a_description);
    tcase_add_test(pure, unknown_wire_status_is_a_protocol_error);
    tcase_add_test(pure, kvctl_exit_codes_separate_failed_from_in_doubt);
    tcase_add_test(pure, hostport_parses_names_v4_and_bracketed_v6);
    tcase_add_test(pure, hostport_rejects_malformed_addresses);
    tcase_add_test(pure, options_default_when_null_or_zero);
    tcase_add_test(pure, options_reject_contradictions);
    tcase_add_test(pure, backoff_doubles_with_jitter_and_stops_at_the_cap);
    tcase_add_test(pure, node_deadline_leaves_a_margin_for_the_answer);
    tcase_add_test(pure, only_temporary_errors_are_retried);
    tcase_add_test(pure, request_options_map_to_the_wire);
    tcase_add_test(pure, put_args_map_condition_ttl_and_context);
    tcase_add_test(pure, context_bytes_round_trip);
    tcase_add_test(pure, get_result_copies_siblings_and_context);
    tcase_add_test(pure, inconsistent_get_reply_is_a_protocol_error);
    tcase_add_test(pure, stats_are_copied_in_order_with_a_terminator);
    tcase_add_test(pure, base64_matches_rfc4648_vectors);
    tcase_add_test(pure, base64_round_trips_binary_and_rejects_garbage);
    tcase_add_test(pure, utf8_check_rejects_overlongs_surrogates_and_truncation);
    tcase_add_test(pure, json_bytes_escape_text_and_base64_binary);
    tcase_add_test(pure, numbers_parse_whole_strings_only);
    suite_add_tcase(s, pure);
    TCase *fake = tcase_create("fake_node");
    tcase_add_test(fake, get_is_retried_after_the_connection_drops);
    tcase_add_test(fake, put_is_in_doubt_and_not_resent_when_the_connection_drops);
    tcase_add_test(fake, incr_is_in_doubt_when_no_answer_comes_in_time);
    tcase_add_test(fake, get_times_out_when_no_answer_comes);
    tcase_add_test(fake, unreachable_node_fails_without_doubt);
    tcase_add_test(fake, failover_tries_every_host_of_a_round_once);
    tcase_add_test(fake, wrong_cluster_is_refused_at_connect_without_retry);
    tcase_add_test(fake, busy_node_at_hello_is_retried_then_reported);
    tcase_add_test(fake, node_errors_pass_through_with_their_message);
    tcase_add_test(fake, context_from_get_goes_back_with_put_and_delete);
    tcase_add_test(fake, busy_answer_is_retried_for_reads_only);
    tcase_add_test(fake, bad_arguments_are_refused_before_sending);
    tcase_add_test(fake, batch_get_pipelines_chunks_and_keeps_key_order);
    tcase_add_test(fake, batch_put_reports_which_entries_are_in_doubt);
    tcase_add_test(fake, batch_put_short_reply_is_in_doubt);
    tcase_add_test(fake, ttl_expire_incr_and_stats_map_their_replies);
    suite_add_tcase(s, fake);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
