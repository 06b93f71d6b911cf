/*
 * test_rpc_tls.c - TLS and mutual TLS between rpc client and server, with
 * certificates made by scripts/make-certs.sh in a temporary directory.
 * Fixture and helpers: rpc_harness.h.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/tls.h"
#include "rpc_harness.h"

static char cert_dir[64];

/* Makes a CA and certificates for n1 and n2 with scripts/make-certs.sh. */
static void make_certs(void)
{
    const char *src = getenv("RINGKV_SOURCE_DIR");
    snprintf(cert_dir, sizeof cert_dir, "/tmp/ringkv-rpc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(cert_dir));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh %s/scripts/make-certs.sh %s n1 n2 >/dev/null", src ? src : ".",
             cert_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void remove_certs(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cert_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct rpc_tls *tls_for(enum rpc_tls_role role, const char *node, bool verify)
{
    static char cert[128], key[128], ca[128];
    snprintf(ca, sizeof ca, "%s/ca.crt", cert_dir);
    snprintf(cert, sizeof cert, "%s/%s.crt", cert_dir, node ? node : "-");
    snprintf(key, sizeof key, "%s/%s.key", cert_dir, node ? node : "-");
    struct rpc_tls_config tc = { node ? cert : NULL, node ? key : NULL, ca, verify, NULL };
    struct rpc_tls *t = NULL;
    ck_assert_int_eq(rpc_tls_new(role, &tc, &t), KV_OK);
    return t;
}

static struct rpc_tls *server_tls, *client_tls;

static void setup_tls(void)
{
    setup();
    make_certs();
    server_tls = client_tls = NULL;
}

static void teardown_tls(void)
{
    teardown(); /* closes connections first; contexts may go in any order after */
    rpc_tls_free(server_tls);
    rpc_tls_free(client_tls);
    remove_certs();
}

/* A TLS server (mutual TLS if require_client_cert) and a client config for it. */
static struct rpc_client_config start_tls_server(bool require_client_cert, const char *client_node)
{
    server_tls = tls_for(RPC_TLS_SERVER, "n1", require_client_cert);
    client_tls = tls_for(RPC_TLS_CLIENT, client_node, true);
    struct rpc_server_config cfg = server_config();
    cfg.tls = server_tls;
    start_server(&cfg);
    struct rpc_client_config cc = client_config("c1");
    cc.tls = client_tls;
    return cc;
}

START_TEST(tls_round_trip_with_mutual_authentication)
{
    struct rpc_client_config cc = start_tls_server(true, "n2");
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    ck_assert(pump_count(&s.ready, 1));
    for (int i = 0; i < 3; i++)
        assert_ping_works(c);
    rpc_client_free(c);
}
END_TEST

START_TEST(mtls_refuses_a_client_without_a_certificate)
{
    struct rpc_client_config cc = start_tls_server(true, NULL);
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    struct call call = { 0 };
    ck_assert_int_eq(send_ping(c, &call, "x", 0), KV_OK);
    ck_assert(pump_count(&s.closed, 1));
    ck_assert_int_eq(s.ready, 0);
    ck_assert_int_eq(s.close_status, KV_EAUTH);
    ck_assert_int_eq(call.calls, 1);
    ck_assert_int_eq(call.status, KV_EAUTH);
    ck_assert_int_eq(rt_handled, 0);
    rpc_client_free(c);
}
END_TEST

START_TEST(plain_client_against_a_tls_server_fails_without_harm)
{
    struct rpc_client_config cc = start_tls_server(false, NULL);
    struct rpc_client_config plain = cc;
    plain.tls = NULL;
    struct session s;
    struct rpc_client *c = connect_client(&plain, &s);
    ck_assert(pump_count(&s.closed, 1));
    ck_assert_int_eq(s.ready, 0);
    rpc_client_free(c);
    c = connect_client(&cc, &s); /* a TLS client without a cert is fine without mTLS */
    ck_assert(pump_count(&s.ready, 1));
    assert_ping_works(c);
    rpc_client_free(c);
}
END_TEST

/* Mutual TLS bound to cluster: server and client contexts of certificates
 * made for cluster "ringkv" (make-certs.sh's default). */
static struct rpc_client_config start_bound_server(const char *server_cluster,
                                                   rpc_auth_fn auth, void *auth_arg)
{
    static char cert[128], key[128], ca[128];
    snprintf(ca, sizeof ca, "%s/ca.crt", cert_dir);
    snprintf(cert, sizeof cert, "%s/n1.crt", cert_dir);
    snprintf(key, sizeof key, "%s/n1.key", cert_dir);
    struct rpc_tls_config tc = { cert, key, ca, true, server_cluster };
    ck_assert_int_eq(rpc_tls_new(RPC_TLS_SERVER, &tc, &server_tls), KV_OK);
    client_tls = tls_for(RPC_TLS_CLIENT, "n2", true);
    struct rpc_server_config cfg = server_config();
    cfg.tls = server_tls;
    cfg.authenticate = auth;
    cfg.auth_arg = auth_arg;
    start_server(&cfg);
    struct rpc_client_config cc = client_config("c1");
    cc.tls = client_tls;
    return cc;
}

struct seen_identity {
    int calls;
    char uri[RPC_TLS_URI_BYTES_MAX];
};

static int record_identity(void *arg, const Ringkv__Hello *hello, const struct rpc_hello_identity *id,
                           uint32_t *access_out, char *why, size_t why_len)
{
    struct seen_identity *seen = arg;
    seen->calls++;
    snprintf(seen->uri, sizeof seen->uri, "%s", id->cert_uri ? id->cert_uri : "(none)");
    *access_out = 7;
    return KV_OK;
}

START_TEST(certificate_of_another_cluster_is_refused_in_the_handshake)
{
    struct rpc_client_config cc = start_bound_server("other", NULL, NULL);
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    ck_assert(pump_count(&s.closed, 1));
    ck_assert_int_eq(s.ready, 0);
    ck_assert_int_eq(s.close_status, KV_EAUTH);
    ck_assert_int_eq(rt_handled, 0);
    rpc_client_free(c);
}
END_TEST

START_TEST(certificate_of_this_cluster_reaches_the_auth_hook_with_its_uri)
{
    struct seen_identity seen = { 0 };
    struct rpc_client_config cc = start_bound_server("ringkv", record_identity, &seen);
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    ck_assert(pump_count(&s.ready, 1));
    assert_ping_works(c);
    ck_assert_int_eq(seen.calls, 1);
    ck_assert_str_eq(seen.uri, "ringkv://ringkv/node/n2");
    rpc_client_free(c);
}
END_TEST

static int refuse_everyone(void *arg, const Ringkv__Hello *hello, const struct rpc_hello_identity *id,
                           uint32_t *access_out, char *why, size_t why_len)
{
    snprintf(why, why_len, "no entry");
    return KV_EAUTH;
}

START_TEST(auth_hook_refusal_closes_the_session_with_eauth)
{
    struct rpc_client_config cc = start_bound_server("ringkv", refuse_everyone, NULL);
    struct session s;
    struct rpc_client *c = connect_client(&cc, &s);
    struct call call = { 0 };
    ck_assert_int_eq(send_ping(c, &call, "x", 0), KV_OK);
    ck_assert(pump_count(&s.closed, 1));
    ck_assert_int_eq(s.ready, 0);
    ck_assert_int_eq(s.close_status, KV_EAUTH);
    ck_assert_int_eq(call.status, KV_EAUTH);
    ck_assert_int_eq(rt_handled, 0);
    rpc_client_free(c);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("rpc_tls");
    TCase *tc = tcase_create("tls");
    tcase_add_checked_fixture(tc, setup_tls, teardown_tls);
    tcase_add_test(tc, tls_round_trip_with_mutual_authentication);
    tcase_add_test(tc, mtls_refuses_a_client_without_a_certificate);
    tcase_add_test(tc, plain_client_against_a_tls_server_fails_without_harm);
    tcase_add_test(tc, certificate_of_another_cluster_is_refused_in_the_handshake);
    tcase_add_test(tc, certificate_of_this_cluster_reaches_the_auth_hook_with_its_uri);
    tcase_add_test(tc, auth_hook_refusal_closes_the_session_with_eauth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
