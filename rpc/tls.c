/* tls.c - OpenSSL contexts and TLS bufferevents (contract in tls.h). */
#include "rpc/tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"

struct rpc_tls {
    SSL_CTX *ctx;
    enum rpc_tls_role role;
    bool verify_peer;
};

/* Logs the reason at the top of OpenSSL's error queue once, then clears the queue. */
static void tls_log_failure(const char *what, const char *file)
{
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    ERR_clear_error();
    log_error("rpc", "tls setup failed step=%s file=%s reason=\"%s\"", what,
              file ? file : "-", reason);
}

static int tls_load_files(SSL_CTX *ctx, enum rpc_tls_role role, const struct rpc_tls_config *cfg)
{
    if (role == RPC_TLS_SERVER && (cfg->cert_file == NULL || cfg->key_file == NULL)) {
        log_error("rpc", "tls setup failed reason=\"a server needs cert_file and key_file\"");
        return KV_EINVAL;
    }
    if (cfg->verify_peer && cfg->ca_file == NULL) {
        log_error("rpc", "tls setup failed reason=\"verify_peer needs ca_file\"");
        return KV_EINVAL;
    }
    if (cfg->cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
            tls_log_failure("certificate", cfg->cert_file);
            return KV_EINVAL;
        }
        const char *key = cfg->key_file ? cfg->key_file : cfg->cert_file;
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            tls_log_failure("private key", key);
            return KV_EINVAL;
        }
    }
    if (cfg->ca_file != NULL && SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
        tls_log_failure("ca", cfg->ca_file);
        return KV_EINVAL;
    }
    return KV_OK;
}

int rpc_tls_new(enum rpc_tls_role role, const struct rpc_tls_config *cfg, struct rpc_tls **out)
{
    int rc = KV_ENOMEM;
    struct rpc_tls *t = calloc(1, sizeof *t);
    if (t == NULL)
        goto fail;
    t->role = role;
    t->verify_peer = cfg->verify_peer;
    t->ctx = SSL_CTX_new(role == RPC_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (t->ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    /* Nodes reconnect to each other often; renegotiation is never needed. */
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION);
    rc = tls_load_files(t->ctx, role, cfg);
    if (rc != KV_OK)
        goto fail;
    if (cfg->verify_peer) {
        int mode = SSL_VERIFY_PEER;
        if (role == RPC_TLS_SERVER)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(t->ctx, mode, NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    }
    *out = t;
    return KV_OK;
fail:
    rpc_tls_free(t);
    return rc;
}

void rpc_tls_free(struct rpc_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* Pins the identity the server certificate must carry: an IP SAN or a DNS name. */
static int tls_expect_host(SSL *ssl, const char *host)
{
    unsigned char ip[sizeof(struct in6_addr)];
    if (host == NULL || host[0] == 0)
        return KV_EINVAL;
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        return X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 ? KV_OK : KV_EINVAL;
    }
    if (SSL_set1_host(ssl, host) != 1)
        return KV_EINVAL;
    SSL_set_tlsext_host_name(ssl, host);
    return KV_OK;
}

int rpc_tls_bufferevent_new(struct rpc_tls *t, struct event_base *base, evutil_socket_t fd,
                            const char *host, struct bufferevent **out)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL)
        return KV_ENOMEM;
    if (t->role == RPC_TLS_CLIENT && t->verify_peer && tls_expect_host(ssl, host) != KV_OK) {
        SSL_free(ssl);
        log_error("rpc", "tls cannot verify host=%s", host ? host : "-");
        return KV_EINVAL;
    }
    enum bufferevent_ssl_state state =
        t->role == RPC_TLS_SERVER ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, fd, ssl, state, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (bev == NULL)
        return KV_ENOMEM;  /* libevent may have freed ssl already: a leak on OOM beats a double free */
    /* A peer that closes TCP without close_notify is an ordinary EOF, not an error. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    *out = bev;
    return KV_OK;
}

void rpc_tls_error_string(struct bufferevent *bev, char *buf, size_t len)
{
    unsigned long e = bev ? bufferevent_get_openssl_error(bev) : 0;
    if (e == 0)
        e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "none");
        return;
    }
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
}
