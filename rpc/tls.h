/*
 * tls.h - TLS settings shared by the connections of one server or client side.
 *
 * A struct rpc_tls wraps an OpenSSL SSL_CTX built from PEM files once, at
 * start-up; every connection then gets its own SSL from it, through
 * libevent's bufferevent_openssl. TLS 1.2 is the minimum version.
 *
 *   server side: cert_file + key_file are required. verify_peer turns on
 *                mutual TLS: a client must present a certificate signed by
 *                ca_file, and a client without one is refused in the
 *                handshake.
 *   client side: cert_file + key_file are optional (needed when the server
 *                requires mutual TLS). verify_peer checks the server's
 *                certificate against ca_file and that it names the address
 *                dialled (IP SAN for an IP literal, DNS name otherwise).
 *                Without verify_peer the link is encrypted but the server
 *                is not authenticated: for tests only.
 *
 * Cluster binding: with cluster_name set, a peer certificate signed by the
 * CA is still refused in the handshake unless one of its URI SANs starts
 * with "ringkv://CLUSTER/" (nodes: ringkv://CLUSTER/node/NODE_ID, clients:
 * ringkv://CLUSTER/client/NAME), so one CA can serve several clusters
 * without a node of one joining another. A refusal is logged once
 * ("tls peer certificate refused ... cluster").
 *
 * verify_peer needs ca_file. scripts/make-certs.sh makes a test CA and
 * per-node certificates. Ownership: rpc_tls_free may be called while
 * connections made from it are still open (each SSL holds a reference to
 * the context). Threading: an rpc_tls may be shared by several threads'
 * event loops (SSL_CTX is thread-safe once configured).
 */
#ifndef RINGKV_RPC_TLS_H
#define RINGKV_RPC_TLS_H

#include <stdbool.h>

#include <event2/util.h>

#include "common/status.h"

struct bufferevent;
struct event_base;
struct rpc_tls;

enum rpc_tls_role { RPC_TLS_SERVER, RPC_TLS_CLIENT };

struct rpc_tls_config {
    const char *cert_file;  /* PEM certificate (chain) of this side; NULL on a client without a cert */
    const char *key_file;   /* PEM private key matching cert_file */
    const char *ca_file;    /* PEM CA certificates that sign peers; needed by verify_peer */
    bool verify_peer;       /* server: require a client cert (mTLS); client: verify the server */
    /* With verify_peer: the peer's certificate must also carry a URI
     * subjectAltName ringkv://CLUSTER/... naming this cluster (see below).
     * NULL or "": any certificate the CA signed is accepted. */
    const char *cluster_name;
};

/*
 * Loads the files and builds the context. KV_OK and *out, or KV_EINVAL
 * (missing file, key not matching the certificate, verify_peer without
 * ca_file: logged with OpenSSL's reason) or KV_ENOMEM.
 */
int rpc_tls_new(enum rpc_tls_role role, const struct rpc_tls_config *cfg,
                struct rpc_tls **out) KV_MUST_USE;
void rpc_tls_free(struct rpc_tls *t);

/*
 * For rpc/: a TLS bufferevent over fd (a connected or accepted socket, or
 * -1 for one that bufferevent_socket_connect will create). host is the
 * address the client dialled (checked against the certificate when
 * verify_peer is set); unused on a server. Options: close-on-free and
 * deferred callbacks. KV_OK and *out, or KV_ENOMEM.
 */
int rpc_tls_bufferevent_new(struct rpc_tls *t, struct event_base *base, evutil_socket_t fd,
                            const char *host, struct bufferevent **out) KV_MUST_USE;

/* Longest ringkv:// URI kept from a peer certificate. */
#define RPC_TLS_URI_BYTES_MAX 256u

/*
 * The first ringkv:// URI SAN of the verified peer certificate of a TLS
 * bufferevent, copied into out (cap bytes). KV_OK, or KV_ENOTFOUND (not
 * TLS, no certificate, not verified, or no such URI).
 */
int rpc_tls_peer_uri(struct bufferevent *bev, char *out, size_t cap) KV_MUST_USE;

/* Formats the last OpenSSL error of bev (or the queue's) into buf, for a log line. */
void rpc_tls_error_string(struct bufferevent *bev, char *buf, size_t len);

#endif
