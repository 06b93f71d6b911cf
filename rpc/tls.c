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
    char cluster_name[RPC_TLS_URI_BYTES_MAX];  /* "" = no cluster binding */
};

#define TLS_URI_SCHEME "ringkv://"

/* Copies the first URI SAN of cert starting with ringkv:// into out. */
static int tls_cert_uri(X509 *cert, char *out, size_t cap)
{
    int rc = KV_ENOTFOUND;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_URI)
            continue;
        const char *s = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        size_t len = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
        if (len < cap && len >= strlen(TLS_URI_SCHEME) && memchr(s, 0, len) == NULL &&
            strncmp(s, TLS_URI_SCHEME, strlen(TLS_URI_SCHEME)) == 0) {
            memcpy(out, s, len);
            out[len] = 0;
            rc = KV_OK;
            break;
        }
    }
    GENERAL_NAMES_free(names);
    return rc;
}

/* After OpenSSL's chain check: the leaf must name this cluster (see tls.h). */
static int tls_verify_cb(int preverify_ok, X509_STORE_CTX *x)
{
    if (!preverify_ok || X509_STORE_CTX_get_error_depth(x) != 0)
        return preverify_ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct rpc_tls *t = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    if (t == NULL || t->cluster_name[0] == 0)
        return 1;
    char uri[RPC_TLS_URI_BYTES_MAX] = "";
    char want[RPC_TLS_URI_BYTES_MAX + 16];
    snprintf(want, sizeof want, TLS_URI_SCHEME "%s/", t->cluster_name);
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    if (cert != NULL && tls_cert_uri(cert, uri, sizeof uri) == KV_OK &&
        strncmp(uri, want, strlen(want)) == 0)
        return 1;
    char subject[128] = "?";
    if (cert != NULL)
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    log_warn("rpc", "tls peer certificate refused reason=\"not a certificate of cluster %s: "
             "needs a URI SAN %s...\" subject=\"%s\" uri=\"%s\"", t->cluster_name, want, subject,
             uri[0] ? uri : "none");
    X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

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
    if (cfg->cluster_name != NULL && strlen(cfg->cluster_name) + 16 >= sizeof t->cluster_name) {
        rc = KV_EINVAL;
        goto fail;
    }
    snprintf(t->cluster_name, sizeof t->cluster_name, "%s", cfg->cluster_name ? cfg->cluster_name : "");
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
        SSL_CTX_set_app_data(t->ctx, t);
        SSL_CTX_set_verify(t->ctx, mode, tls_verify_cb);
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

int rpc_tls_peer_uri(struct bufferevent *bev, char *out, size_t cap)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return KV_ENOTFOUND;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL)
        return KV_ENOTFOUND;
    int rc = tls_cert_uri(cert, out, cap);
    X509_free(cert);
    return rc;
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
