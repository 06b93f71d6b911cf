/*
 * conn.h - one blocking client connection of libringkv (internal).
 *
 * A client_conn is a TCP socket (optionally TLS through OpenSSL) to one
 * node, opened with a deadline and a hello exchange, that carries frames
 * of rpc/frame.h. The socket is non-blocking and every wait is a poll()
 * bounded by the caller's deadline (monotonic ms, kv_clock_real), so no
 * call blocks longer than asked. Requests are queued as encoded frames
 * and written while replies are read, so several may be in flight
 * (pipelining) without either side's buffers filling up and deadlocking.
 *
 * Byte accounting. Every queued frame has a start offset in the outgoing
 * stream (client_conn_queued_bytes before queueing it); once
 * client_conn_sent_bytes exceeds it, some of the frame reached the kernel
 * and the request may have been applied. That is what separates "failed"
 * from "in doubt" in the SDK.
 *
 * Errors close nothing by themselves: after any error other than a timeout
 * the stream is unusable and the caller must client_conn_close it (after a
 * timeout too, since a late reply could not be matched). Writes use
 * MSG_NOSIGNAL (also under TLS, through a small BIO), so a peer that went
 * away never raises SIGPIPE in the application.
 *
 * Threading: a connection belongs to one thread; a client_tls may be
 * shared by the connections of one client.
 */
#ifndef RINGKV_CLIENT_CONN_H
#define RINGKV_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/status.h"
#include "proto/kv.pb-c.h"
#include "rpc/frame.h"

/* Bytes read from the socket per recv (frames larger than this are
 * reassembled by the frame decoder). */
#define CLIENT_CONN_READ_BYTES (64u * 1024u)
#define CLIENT_HOST_BYTES_MAX 256   /* a DNS name is at most 253 bytes */
#define CLIENT_PORT_BYTES_MAX 8     /* "65535" + NUL, rounded up */

struct client_tls;
typedef struct ssl_st SSL;

struct client_tls_config {
    const char *ca_file;     /* NULL: the system's default CA paths */
    const char *cert_file;   /* client certificate or NULL */
    const char *key_file;
    bool skip_verify;        /* encrypt only; do not check the server */
};

/* Builds an OpenSSL client context from PEM files. KV_OK and *out;
 * KV_EIO with a reason in err (unreadable or mismatched files); KV_ENOMEM. */
int client_tls_new(const struct client_tls_config *cfg, struct client_tls **out,
                   struct kv_buf *err) KV_MUST_USE;
/* NULL is allowed. Connections made from t must be closed first. */
void client_tls_free(struct client_tls *t);

struct client_conn {
    int fd;                          /* -1 when closed */
    SSL *ssl;                        /* NULL for plain TCP */
    uint32_t frame_bytes_max;
    struct rpc_frame_decoder dec;
    struct kv_buf out;               /* queued frames; out_pos bytes of them written */
    size_t out_pos;
    uint64_t queued_bytes;           /* stream offsets, see Byte accounting */
    uint64_t sent_bytes;
    size_t in_pos, in_len;           /* unparsed bytes in[in_pos..in_len) */
    char in[CLIENT_CONN_READ_BYTES];
};

/* Where to connect and how to say hello. */
struct client_conn_target {
    const char *host;          /* name or address literal, without brackets */
    const char *port;          /* decimal */
    const char *cluster_name;
    struct client_tls *tls;    /* NULL: plain TCP */
    uint32_t frame_bytes_max;  /* 0: KV_FRAME_BYTES_MAX_DEFAULT */
    const char *user;          /* "" or NULL: no Credentials in the Hello */
    const char *password;
};

/* Marks c closed (fd -1) without touching the network; call once before use. */
void client_conn_init(struct client_conn *c);

/*
 * Resolves the host, connects (each resolved address in turn), sets
 * TCP_NODELAY, runs the TLS handshake and the hello exchange, all before
 * deadline_ms. KV_OK: c is open. Errors, with one line in err: KV_EUNAVAIL
 * (resolution failed, refused, reset), KV_ETIMEDOUT, KV_EAUTH / KV_EPROTO
 * (the node refused the hello: wrong cluster / version), KV_EBUSY (the
 * node is at its connection limit), KV_EIO (TLS handshake or certificate
 * check failed), KV_ENOMEM. On error c is closed. No request was sent.
 */
int client_conn_open(struct client_conn *c, const struct client_conn_target *t,
                     uint64_t deadline_ms, struct kv_buf *err) KV_MUST_USE;

/* Closes the socket and frees buffers; c may be opened again. Idempotent. */
void client_conn_close(struct client_conn *c);

static inline bool client_conn_is_open(const struct client_conn *c) { return c->fd >= 0; }
static inline uint64_t client_conn_queued_bytes(const struct client_conn *c) { return c->queued_bytes; }
static inline uint64_t client_conn_sent_bytes(const struct client_conn *c) { return c->sent_bytes; }

/* Appends env as one frame to the output queue (nothing is written yet).
 * KV_ETOOBIG over the frame limit, KV_ENOMEM. */
int client_conn_queue(struct client_conn *c, const Ringkv__Envelope *env) KV_MUST_USE;

/*
 * Writes queued bytes and reads until one whole reply frame has arrived,
 * then decodes it into *out (free with rpc_envelope_free). Returns KV_OK,
 * KV_ETIMEDOUT (deadline passed), KV_ECLOSED (the node closed or reset the
 * connection), KV_EPROTO / KV_ETOOBIG (bad frame), KV_EIO, KV_ENOMEM; err
 * gets a line for the failures.
 */
int client_conn_recv(struct client_conn *c, uint64_t deadline_ms, Ringkv__Envelope **out,
                     struct kv_buf *err) KV_MUST_USE;

/* Sets (append false) or extends err with one formatted piece of at most
 * CLIENT_ERR_LINE_BYTES_MAX bytes. Best effort: out of memory loses the
 * message, never the status that goes with it. */
#define CLIENT_ERR_LINE_BYTES_MAX 512
void client_err_format(struct kv_buf *err, bool append, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic milliseconds (kv_clock_real), the clock of every deadline here. */
uint64_t client_now_ms(void);

#endif
