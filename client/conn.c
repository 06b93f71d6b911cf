/* conn.c - see conn.h. Sockets are non-blocking; every wait is one poll(). */
#include "client/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "common/limits.h"

uint64_t client_now_ms(void)
{
    return kv_clock_real.mono_ms(&kv_clock_real);
}

void client_err_format(struct kv_buf *err, bool append, const char *fmt, ...)
{
                       char line[CLIENT_ERR_LINE_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!append)
        kv_buf_reset(err);
    if (n > 0 && kv_buf_append(err, line, strlen(line)) != KV_OK) {
        /* out of memory: the message is lost, the status still tells */
    }
}

/* ---- TLS ---- */

struct client_tls {
    SSL_CTX *ctx;
    BIO_METHOD *bio_method;   /* sockets written with MSG_NOSIGNAL */
    bool skip_verify;
};

/* OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE on a
 * closed peer; a library must not kill its host process, so this BIO uses
 * send(MSG_NOSIGNAL). The fd is the BIO's data pointer. */
static int nosig_write(BIO *b, const char *data, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(fd, data, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(b);
    return (int)n;
}

static int nosig_read(BIO *b, char *data, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(fd, data, (size_t)len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(b);
    return (int)n;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int nosig_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void tls_error_line(struct kv_buf *err, const char *what)
{
    char reason[256];
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    else
        snprintf(reason, sizeof reason, "no detail");
    ERR_clear_error();
    client_err_format(err, false, "%s: %s", what, reason);
}

static int tls_load_files(SSL_CTX *ctx, const struct client_tls_config *cfg, struct kv_buf *err)
{
    if (cfg->ca_file ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1
                     : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        tls_error_line(err, "tls: cannot load CA file");
        return KV_EIO;
    }
    if (cfg->cert_file == NULL && cfg->key_file == NULL)
        return KV_OK;
    if (cfg->cert_file == NULL || cfg->key_file == NULL) {
        client_err_format(err, false, "tls: a client certificate needs both cert and key files");
        return KV_EIO;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        tls_error_line(err, "tls: cannot use client certificate");
        return KV_EIO;
    }
    return KV_OK;
}

int client_tls_new(const struct client_tls_config *cfg, struct client_tls **out, struct kv_buf *err)
{
    int rc = KV_ENOMEM;
    struct client_tls *t = calloc(1, sizeof *t);
    if (t == NULL)
        goto fail;
    t->skip_verify = cfg->skip_verify;
    t->ctx = SSL_CTX_new(TLS_client_method());
    t->bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringkv-socket");
    if (t->ctx == NULL || t->bio_method == NULL)
        goto fail;
    if (BIO_meth_set_write(t->bio_method, nosig_write) != 1 ||
        BIO_meth_set_read(t->bio_method, nosig_read) != 1 ||
        BIO_meth_set_ctrl(t->bio_method, nosig_ctrl) != 1 ||
        BIO_meth_set_create(t->bio_method, nosig_create) != 1)
        goto fail;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(t->ctx, cfg->skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    rc = tls_load_files(t->ctx, cfg, err);
    if (rc != KV_OK)
        goto fail;
    *out = t;
    return KV_OK;
fail:
    if (rc == KV_ENOMEM) {
        client_err_format(err, false, "tls: out of memory");
    }
    client_tls_free(t);
    return rc;
}

void client_tls_free(struct client_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    BIO_meth_free(t->bio_method);
    free(t);
}

/* ---- raw I/O: plain or TLS, one step, never blocking ---- */

enum io_res { IO_DONE, IO_WANT_READ, IO_WANT_WRITE, IO_EOF, IO_ERR };

static enum io_res tls_res(SSL *ssl, int r)
{
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ: return IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return IO_EOF;
    default: ERR_clear_error(); return IO_ERR;
    }
}

static enum io_res conn_write(struct client_conn *c, const char *p, size_t len, size_t *n)
{
    if (c->ssl) {
        size_t w = 0;
        int r = SSL_write_ex(c->ssl, p, len, &w);
        *n = w;
        return r == 1 ? IO_DONE : tls_res(c->ssl, r);
    }
    ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
    if (w >= 0) {
        *n = (size_t)w;
        return IO_DONE;
    }
    *n = 0;
    return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? IO_WANT_WRITE : IO_ERR;
}

static enum io_res conn_read(struct client_conn *c, char *p, size_t len, size_t *n)
{
    *n = 0;
    if (c->ssl) {
        size_t r = 0;
        int ok = SSL_read_ex(c->ssl, p, len, &r);
        *n = r;
        return ok == 1 ? IO_DONE : tls_res(c->ssl, ok);
    }
    ssize_t r = recv(c->fd, p, len, 0);
    if (r > 0) {
        *n = (size_t)r;
        return IO_DONE;
    }
    if (r == 0)
        return IO_EOF;
    return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? IO_WANT_READ : IO_ERR;
}

/* Waits for events on fd until deadline. KV_OK with *revents, or KV_ETIMEDOUT. */
static int conn_poll(int fd, short events, uint64_t deadline_ms, short *revents)
{
    for (;;) {
        uint64_t now = client_now_ms();
        if (now >= deadline_ms)
            return KV_ETIMEDOUT;
        uint64_t wait = deadline_ms - now;
        struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
        int r = poll(&p, 1, wait > INT32_MAX ? INT32_MAX : (int)wait);
        if (r > 0) {
            *revents = p.revents;
            return KV_OK;
        }
        if (r < 0 && errno != EINTR)
            return KV_EIO;
    }
}

/* ---- opening ---- */

void client_conn_init(struct client_conn *c)
{
    memset(c, 0, offsetof(struct client_conn, in));
    c->fd = -1;
}

void client_conn_close(struct client_conn *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);  /* no close_notify: the socket may be broken, and a peer needs none */
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    rpc_frame_decoder_free(&c->dec);
    kv_buf_free(&c->out);
    c->out_pos = 0;
    c->in_pos = c->in_len = 0;
}

/* err = "host:port: what: detail". */
static void err_line(struct kv_buf *err, const struct client_conn_target *t, const char *what,
                     const char *detail)
{
    client_err_format(err, false, "%s:%s: %s: %s", t->host, t->port, what, detail);
}

/* Non-blocking connect to one address, finished before deadline. KV_OK,
 * KV_ETIMEDOUT or KV_EUNAVAIL with *sys_err set. */
static int connect_addr(const struct addrinfo *ai, uint64_t deadline_ms, int *fd_out, int *sys_err)
{
    int rc = KV_EUNAVAIL;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    *sys_err = errno;
    if (fd < 0)
        goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        *sys_err = errno;
        if (errno != EINPROGRESS)
            goto fail;
        short rev = 0;
        rc = conn_poll(fd, POLLOUT, deadline_ms, &rev);
        if (rc != KV_OK) {
            *sys_err = rc == KV_ETIMEDOUT ? ETIMEDOUT : errno;
            goto fail;
        }
        rc = KV_EUNAVAIL;
        socklen_t len = sizeof *sys_err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, sys_err, &len) != 0 || *sys_err != 0)
            goto fail;
    }
    int one = 1;
    /* Small request frames must leave at once: Nagle would hold them for the previous ACK. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *fd_out = fd;
    return KV_OK;
fail:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Resolves and connects to the first address that accepts. getaddrinfo
 * itself cannot be bounded by the deadline; numeric addresses never block. */
static int conn_connect(struct client_conn *c, const struct client_conn_target *t,
                        uint64_t deadline_ms, struct kv_buf *err)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(t->host, t->port, &hints, &res);
    if (gai != 0) {
        err_line(err, t, "cannot resolve", gai_strerror(gai));
        return KV_EUNAVAIL;
    }
    int rc = KV_EUNAVAIL, sys_err = 0;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        rc = connect_addr(ai, deadline_ms, &c->fd, &sys_err);
        if (rc == KV_OK || rc == KV_ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (rc == KV_ETIMEDOUT)
        err_line(err, t, "connect", "timed out");
    else if (rc != KV_OK)
        err_line(err, t, "connect", strerror(sys_err));
    return rc;
}

static bool host_is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Sets up SSL on the connected socket and handshakes before deadline. */
static int conn_tls_handshake(struct client_conn *c, const struct client_conn_target *t,
                              uint64_t deadline_ms, struct kv_buf *err)
{
    BIO *bio = NULL;
    c->ssl = SSL_new(t->tls->ctx);
    if (c->ssl == NULL || (bio = BIO_new(t->tls->bio_method)) == NULL) {
        err_line(err, t, "tls", "out of memory");
        return KV_ENOMEM;
    }
    BIO_set_data(bio, (void *)(intptr_t)c->fd);
    SSL_set_bio(c->ssl, bio, bio);
    if (host_is_ip(t->host)) {
        if (!t->tls->skip_verify)
            (void)X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), t->host);
    } else {
        (void)SSL_set_tlsext_host_name(c->ssl, t->host);
        if (!t->tls->skip_verify)
            (void)SSL_set1_host(c->ssl, t->host);
    }
    for (;;) {
        int r = SSL_connect(c->ssl);
        if (r == 1)
            return KV_OK;
        enum io_res io = tls_res(c->ssl, r);
        if (io != IO_WANT_READ && io != IO_WANT_WRITE) {
            long v = SSL_get_verify_result(c->ssl);
            err_line(err, t, "tls handshake failed",
                     v != X509_V_OK ? X509_verify_cert_error_string(v) : "connection closed or refused");
            return KV_EIO;
        }
        short rev = 0;
        int rc = conn_poll(c->fd, io == IO_WANT_READ ? POLLIN : POLLOUT, deadline_ms, &rev);
        if (rc != KV_OK) {
            err_line(err, t, "tls handshake", "timed out");
            return rc;
        }
    }
}

/* ---- frames ---- */

int client_conn_queue(struct client_conn *c, const Ringkv__Envelope *env)
{
    size_t before = c->out.len;
    int rc = rpc_frame_encode(env, c->frame_bytes_max, &c->out);
    if (rc == KV_OK)
        c->queued_bytes += c->out.len - before;
    return rc;
}

/* Writes what the socket takes. KV_OK with *want (0, POLLIN or POLLOUT: what
 * to wait for before writing more), or KV_ECLOSED. */
static int conn_flush(struct client_conn *c, short *want)
{
    *want = 0;
    while (c->out_pos < c->out.len) {
        size_t n = 0;
        enum io_res r = conn_write(c, c->out.data + c->out_pos, c->out.len - c->out_pos, &n);
        if (r == IO_WANT_WRITE || r == IO_WANT_READ) {
            *want = r == IO_WANT_WRITE ? POLLOUT : POLLIN;
            return KV_OK;
        }
        if (r != IO_DONE)
            return KV_ECLOSED;
        c->out_pos += n;
        c->sent_bytes += n;
    }
    kv_buf_reset(&c->out);
    c->out_pos = 0;
    return KV_OK;
}

/* Feeds buffered input to the decoder. KV_OK with *out set (a whole frame)
 * or NULL (input used up), or the decoder's error. */
static int conn_decode(struct client_conn *c, Ringkv__Envelope **out)
{
    *out = NULL;
    while (c->in_pos < c->in_len) {
        size_t used = 0;
        struct kv_slice frame;
        int rc = rpc_frame_decoder_feed(&c->dec, c->in + c->in_pos, c->in_len - c->in_pos, &used,
                                        &frame);
        if (rc != KV_OK)
            return rc;
        c->in_pos += used;
        if (frame.data != NULL)
            return rpc_envelope_decode(frame, out);  /* frame may point into in[]: decode now */
    }
    c->in_pos = c->in_len = 0;
    return KV_OK;
}

static int recv_fail(struct kv_buf *err, int rc, const char *what)
{
    client_err_format(err, false, "%s", what);
    return rc;
}

int client_conn_recv(struct client_conn *c, uint64_t deadline_ms, Ringkv__Envelope **out,
                     struct kv_buf *err)
{
    /* Replies to requests queued just now cannot have arrived yet: poll
     * before the first read instead of paying for a recv that says EAGAIN. */
    bool try_read = c->in_pos < c->in_len || (c->ssl && SSL_pending(c->ssl) > 0);
    for (;;) {
        int rc = conn_decode(c, out);
        if (rc != KV_OK)
            return recv_fail(err, rc, rc == KV_ETOOBIG ? "reply frame over the size limit"
                                                       : "malformed reply frame");
        if (*out != NULL)
            return KV_OK;
        short events = 0;
        if (c->out_pos < c->out.len && conn_flush(c, &events) != KV_OK)
            return recv_fail(err, KV_ECLOSED, "connection lost while sending");
        if (try_read) {
            size_t n = 0;
            enum io_res r = conn_read(c, c->in, sizeof c->in, &n);
            if (r == IO_DONE) {
                c->in_pos = 0;
                c->in_len = n;
                continue;
            }
            if (r == IO_EOF || r == IO_ERR)
                return recv_fail(err, KV_ECLOSED, "connection closed by the node");
            events |= r == IO_WANT_WRITE ? POLLOUT : POLLIN;
        } else {
            events |= POLLIN;
        }
        short rev = 0;
        rc = conn_poll(c->fd, events, deadline_ms, &rev);
        if (rc != KV_OK)
            return recv_fail(err, rc, rc == KV_ETIMEDOUT ? "no reply before the deadline" : "poll failed");
        try_read = (rev & (POLLIN | POLLHUP | POLLERR)) || (c->ssl && rev);
    }
}

/* ---- hello ---- */

static int conn_hello(struct client_conn *c, const struct client_conn_target *t,
                      uint64_t deadline_ms, struct kv_buf *err)
{
    Ringkv__Hello hello = RINGKV__HELLO__INIT;
    hello.protocol_version = RINGKV__PROTOCOL__PROTOCOL_VERSION;
    hello.cluster_name = (char *)t->cluster_name;
    hello.role = RINGKV__ROLE__ROLE_CLIENT;
    Ringkv__Credentials cred = RINGKV__CREDENTIALS__INIT;
    if (t->user != NULL && t->user[0] != 0) {
        cred.user = (char *)t->user;
        cred.secret = (char *)(t->password ? t->password : "");
        hello.credentials = &cred;
    }
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.request_id = 1;
    env.body_case = RINGKV__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    Ringkv__Envelope *reply = NULL;
    int rc = client_conn_queue(c, &env);
    if (rc == KV_OK)
        rc = client_conn_recv(c, deadline_ms, &reply, err);
    if (rc != KV_OK) {
        char what[128];
        snprintf(what, sizeof what, "%s", err->len ? err->data : kv_status_str(rc));
        err_line(err, t, "hello", what);
        return rc == KV_ECLOSED ? KV_EUNAVAIL : rc;
    }
    if (reply->status != 0) {
        rc = reply->status < KV_STATUS_MIN || reply->status > 0 ? KV_EPROTO : reply->status;
        err_line(err, t, "refused", reply->error && reply->error[0] ? reply->error
                                                                      : kv_status_str(rc));
    } else if (reply->body_case != RINGKV__ENVELOPE__BODY_HELLO_REPLY) {
        rc = KV_EPROTO;
        err_line(err, t, "hello", "unexpected reply");
    }
    rpc_envelope_free(reply);
    return rc;
}

int client_conn_open(struct client_conn *c, const struct client_conn_target *t,
                     uint64_t deadline_ms, struct kv_buf *err)
{
    client_conn_close(c);
    c->frame_bytes_max = t->frame_bytes_max ? t->frame_bytes_max : KV_FRAME_BYTES_MAX_DEFAULT;
    c->queued_bytes = c->sent_bytes = 0;
    rpc_frame_decoder_init(&c->dec, c->frame_bytes_max);
    int rc = conn_connect(c, t, deadline_ms, err);
    if (rc == KV_OK && t->tls != NULL)
        rc = conn_tls_handshake(c, t, deadline_ms, err);
    if (rc == KV_OK)
        rc = conn_hello(c, t, deadline_ms, err);
    if (rc != KV_OK)
        client_conn_close(c);
    return rc;
}
