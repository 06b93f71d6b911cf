/*
 * ringkv.c - the client object and its request engine (contract in ringkv.h).
 *
 * Every public call becomes one or more struct client_req (an envelope and
 * the state of its answer) and goes through client_run: get a connection
 * (failing over across the hosts), pipeline the requests, collect the
 * replies, and on failure decide between retrying, "failed" and "in doubt"
 * from the byte accounting of client/conn.h. The calls themselves are in
 * ops.c (one request each) and batch.c (pipelined chunks).
 */
#include "client/client_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/policy.h"
#include "client/wire.h"
#include "common/clock.h"

/* ---- lifecycle ---- */

static int client_add_hosts(struct rkv_client *c, const char *const *hosts, size_t n)
{
    c->hosts = calloc(n, sizeof *c->hosts);
    if (c->hosts == NULL)
        return KV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct client_host *h = &c->hosts[i];
        if (hosts[i] == NULL || strlen(hosts[i]) >= sizeof h->spec ||
            client_parse_hostport(hosts[i], h->host, sizeof h->host, h->port, sizeof h->port) != KV_OK)
            return KV_EINVAL;
        strcpy(h->spec, hosts[i]);
        c->nhosts++;
    }
    return KV_OK;
}

static int client_setup_tls(struct rkv_client *c)
{
    if (!c->cfg.tls)
        return KV_OK;
    struct client_tls_config tc = { c->cfg.tls_ca_file, c->cfg.tls_cert_file, c->cfg.tls_key_file,
                                    c->cfg.tls_skip_verify };
    int rc = client_tls_new(&tc, &c->tls, &c->err);
    c->cfg.tls_ca_file = c->cfg.tls_cert_file = c->cfg.tls_key_file = NULL;  /* not kept */
    return rc;
}

/* Creates the client without connecting. */
static int client_new(const char *const *hosts, size_t n, const struct rkv_options *opts,
                      struct rkv_client **out)
{
    struct rkv_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return KV_ENOMEM;
    client_conn_init(&c->conn);
    kv_rand_seed(&c->rand, kv_mono_ns() ^ (uint64_t)(uintptr_t)c);
    int rc = KV_EINVAL;
    if (hosts == NULL || n == 0 || n > RKV_HOSTS_MAX)
        goto fail;
    rc = client_config_from_options(opts, &c->cfg);
    if (rc != KV_OK)
        goto fail;
    rc = client_add_hosts(c, hosts, n);
    if (rc == KV_OK)
        rc = client_setup_tls(c);
    if (rc != KV_OK)
        goto fail;
    *out = c;
    return KV_OK;
fail:
    rkv_close(c);
    return rc;
}

int rkv_open(const char *const *hosts, size_t n, const struct rkv_options *opts,
             struct rkv_client **out)
{
    return client_new(hosts, n, opts, out);
}

int rkv_connect(const char *const *hosts, size_t n, const struct rkv_options *opts,
                struct rkv_client **out)
{
    struct rkv_client *c = NULL;
    int rc = client_new(hosts, n, opts, &c);
    if (rc != KV_OK)
        return rc;
    /* Connect now so that a wrong address or cluster name shows up here. */
    uint64_t deadline = client_now_ms() + c->cfg.request_timeout_ms;
    for (uint32_t attempt = 0;; attempt++) {
        rc = client_ensure_conn(c, deadline);
        if (rc == KV_OK || !client_conn_error_retriable(rc) || attempt >= c->cfg.retries)
            break;
        if (!client_backoff(c, attempt, deadline)) {
            rc = KV_ETIMEDOUT;
            break;
        }
    }
    if (rc != KV_OK) {
        rkv_close(c);
        return rc;
    }
    *out = c;
    return KV_OK;
}

void rkv_close(struct rkv_client *c)
{
    if (c == NULL)
        return;
    client_conn_close(&c->conn);
    client_router_free(c);
    client_tls_free(c->tls);
    memset(c->cfg.password, 0, sizeof c->cfg.password);
    free(c->hosts);
    kv_buf_free(&c->err);
    free(c);
}

const char *rkv_last_error(const struct rkv_client *c)
{
    return c->err.data ? c->err.data : "";
}

const char *rkv_current_host(const struct rkv_client *c)
{
    return client_conn_is_open(&c->conn) ? c->hosts[c->cur].spec : NULL;
}

const char *rkv_last_host(const struct rkv_client *c)
{
    return c->last_host[0] ? c->last_host : NULL;
}

/* ---- connections and failover ---- */

/* The order of one round over the hosts, fixed at its start: hosts without
 * a recent failure first (in list order from the current one), then the
 * penalised ones. Returns the number of hosts written to order. */
static size_t round_order(const struct rkv_client *c, uint64_t now, size_t *order)
{
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < c->nhosts; k++) {
            size_t h = (c->cur + k) % c->nhosts;
            bool penalised = c->hosts[h].penalty_until_ms > now;
            if (penalised == (pass == 1))
                order[n++] = h;
        }
    }
    return n;
}

int client_ensure_conn(struct rkv_client *c, uint64_t deadline_ms)
{
    if (client_conn_is_open(&c->conn))
        return KV_OK;
    int worst = KV_OK;
    struct kv_buf line = { 0 };
    kv_buf_reset(&c->err);
    size_t order[RKV_HOSTS_MAX];
    size_t n = round_order(c, client_now_ms(), order);
    for (size_t i = 0; i < n; i++) {
        uint64_t now = client_now_ms();
        if (now >= deadline_ms) {
            worst = client_worse_error(worst, KV_ETIMEDOUT);
            break;
        }
        size_t h = order[i];
        uint64_t until = now + c->cfg.connect_timeout_ms;
        struct client_conn_target t = { c->hosts[h].host, c->hosts[h].port, c->cfg.cluster_name,
                                        c->tls, c->cfg.frame_bytes_max, c->cfg.user,
                                        c->cfg.password };
        int rc = client_conn_open(&c->conn, &t, until < deadline_ms ? until : deadline_ms, &line);
        if (rc == KV_OK) {
            c->cur = h;
            c->hosts[h].penalty_until_ms = 0;
            kv_buf_reset(&c->err);
            kv_buf_free(&line);
            return KV_OK;
        }
        c->hosts[h].penalty_until_ms = client_now_ms() + RKV_HOST_PENALTY_MS;
        worst = client_worse_error(worst, rc);
        client_err_format(&c->err, true, "%s%s", c->err.len ? "; " : "",
                          line.data ? line.data : "");
    }
    kv_buf_free(&line);
    return worst;
}

bool client_backoff(struct rkv_client *c, uint32_t attempt, uint64_t deadline_ms)
{
    uint32_t ms = client_backoff_ms(attempt, c->cfg.backoff_base_ms, c->cfg.backoff_max_ms,
                                    kv_rand_next(&c->rand));
    uint64_t now = client_now_ms();
    if (now + ms >= deadline_ms)
        return false;  /* sleeping would leave no time for the attempt */
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return true;
}

/* ---- the request engine ---- */

/* Queues requests that are not answered yet, at most RKV_BATCH_WINDOW in
 * flight. Returns KV_OK or the first encoding error. */
static int exchange_fill(struct rkv_client *c, struct client_conn *conn, struct client_req *reqs, size_t n,
                         size_t *next, size_t *inflight)
{
    while (*inflight < RKV_BATCH_WINDOW && *next < n) {
        struct client_req *r = &reqs[(*next)++];
        if (r->state != CLIENT_REQ_NEW)
            continue;
        r->env->request_id = r->id = ++c->next_request_id;
        r->start = client_conn_queued_bytes(conn);
        int rc = client_conn_queue(conn, r->env);
        if (rc == KV_ETOOBIG)
            client_err_format(&c->err, false, "request over the frame limit of %u bytes",
                              c->cfg.frame_bytes_max);
        if (rc != KV_OK)
            return rc;
        r->state = CLIENT_REQ_QUEUED;
        (*inflight)++;
    }
    return KV_OK;
}

/* Pairs a reply with its request by id. */
static struct client_req *exchange_match(struct client_req *reqs, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (reqs[i].state == CLIENT_REQ_QUEUED && reqs[i].id == id)
            return &reqs[i];
    return NULL;
}

/* Sends every NEW request on the open connection and collects the replies. */
int client_exchange(struct rkv_client *c, struct client_conn *conn, struct client_req *reqs, size_t n,
                    uint64_t deadline_ms)
{
    size_t next = 0, inflight = 0;
    for (;;) {
        int rc = exchange_fill(c, conn, reqs, n, &next, &inflight);
        if (rc != KV_OK)
            return rc;
        if (inflight == 0)
            return KV_OK;
        Ringkv__Envelope *reply = NULL;
        rc = client_conn_recv(conn, deadline_ms, &reply, &c->err);
        if (rc != KV_OK)
            return rc;
        struct client_req *r = exchange_match(reqs, n, reply->request_id);
        if (r == NULL) {
            /* request_id 0: the node fails the whole connection (e.g. KV_EBUSY). */
            rc = reply->request_id == 0 ? client_status_from_wire(reply->status) : KV_EPROTO;
            client_err_format(&c->err, false, "%s", reply->request_id == 0 && reply->error
                              ? reply->error : "reply to an unknown request");
            rpc_envelope_free(reply);
            return rc == KV_OK ? KV_EPROTO : rc;
        }
        r->reply = reply;
        r->state = CLIENT_REQ_DONE;
        inflight--;
    }
}

/* After a failed exchange: remember which requests left the client, make
 * the unanswered ones NEW again, and drop the connection. */
void client_reset_after_failure(struct client_conn *conn, struct client_req *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (reqs[i].state != CLIENT_REQ_QUEUED)
            continue;
        if (client_conn_sent_bytes(conn) > reqs[i].start)
            reqs[i].sent = true;
        reqs[i].state = CLIENT_REQ_NEW;
    }
    client_conn_close(conn);
}

bool client_req_retriable(const struct client_req *r)
{
    return r->state == CLIENT_REQ_DONE &&
           client_status_retriable(client_status_from_wire(r->reply->status));
}

static bool any_retriable(const struct client_req *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (client_req_retriable(&reqs[i]))
            return true;
    return false;
}

/* For idempotent calls: answers the node says are temporary become NEW again. */
static void client_requeue_retriable(struct client_req *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (client_req_retriable(&reqs[i])) {
            rpc_envelope_free(reqs[i].reply);
            reqs[i].reply = NULL;
            reqs[i].state = CLIENT_REQ_NEW;
        }
    }
}

static bool any_sent_unanswered(const struct client_req *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (reqs[i].sent && reqs[i].state != CLIENT_REQ_DONE)
            return true;
    return false;
}

/* Prefixes the failure line with the host it happened on. */
void client_note_host(struct rkv_client *c, const char *host, int rc)
{
    char detail[CLIENT_ERR_LINE_BYTES_MAX];
    snprintf(detail, sizeof detail, "%s", c->err.len ? c->err.data : kv_status_str(rc));
    client_err_format(&c->err, false, "%s: %s", host, detail);
}

int client_run(struct rkv_client *c, struct client_req *reqs, size_t n, bool idempotent,
               uint64_t deadline_ms)
{
    int rc = KV_OK;
    for (uint32_t attempt = 0;; attempt++) {
        rc = client_ensure_conn(c, deadline_ms);
        if (rc == KV_OK) {
            const char *host = c->hosts[c->cur].spec;
            snprintf(c->last_host, sizeof c->last_host, "%s", host);
            rc = client_exchange(c, &c->conn, reqs, n, deadline_ms);
            if (rc == KV_OK) {
                /* Every request has an answer. Temporary refusals of an
                 * idempotent call are asked again while time and retries
                 * last; otherwise the node's answers go to the caller. */
                if (!idempotent || attempt >= c->cfg.retries || !any_retriable(reqs, n) ||
                    !client_backoff(c, attempt, deadline_ms)) {
                    kv_buf_reset(&c->err);  /* earlier attempts' failures are history */
                    return KV_OK;
                }
                client_requeue_retriable(reqs, n);
                continue;
            }
            client_note_host(c, host, rc);
            client_reset_after_failure(&c->conn, reqs, n);
        }
        if (!idempotent && any_sent_unanswered(reqs, n))
            return KV_EINDOUBT;
        if (!client_conn_error_retriable(rc) || attempt >= c->cfg.retries)
            break;
        if (!client_backoff(c, attempt, deadline_ms)) {
            rc = KV_ETIMEDOUT;
            break;
        }
    }
    return rc;
}

void client_reqs_free(struct client_req *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rpc_envelope_free(reqs[i].reply);
        reqs[i].reply = NULL;
    }
}

struct client_call client_call_begin(struct rkv_client *c, const struct rkv_request_options *o)
{
    struct client_call call;
    kv_buf_reset(&c->err);
    call.budget_ms = (o && o->timeout_ms) ? o->timeout_ms : c->cfg.request_timeout_ms;
    call.deadline_ms = client_now_ms() + call.budget_ms;
    return call;
}

int client_reply_check(struct rkv_client *c, const struct client_req *r,
                       Ringkv__Envelope__BodyCase want)
{
    const Ringkv__Envelope *rep = r->reply;
    int rc = client_status_from_wire(rep->status);
    kv_buf_reset(&c->err);
    if (rc != KV_OK) {
        client_err_format(&c->err, true, "%s: %s", c->last_host,
                          rep->error && rep->error[0] ? rep->error : kv_status_str(rc));
        return rc;
    }
    if (rep->body_case != want) {
        client_err_format(&c->err, true, "%s: reply of the wrong type (%d)",
                          c->last_host, (int)rep->body_case);
        return KV_EPROTO;
    }
    return KV_OK;
}
