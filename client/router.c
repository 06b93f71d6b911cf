/*
 * router.c - preference-list routing of single-key calls (Routing in
 * ringkv.h): the ring cache's refresh, the connections to routed-to
 * nodes, and client_run_key.
 *
 * A routed request is tried on the key's primary replicas in turn
 * (client_route_candidates: alive ones first; recently failed ones after
 * the others). Failing over is safe because a request only moves on when
 * it never left the client, or when it is idempotent; a write that was
 * sent and got no answer is RKV_EINDOUBT, like on the current host. When
 * no primary takes it, the request goes the unrouted way (client_run over
 * the hosts given), so routing never makes a call fail that would have
 * worked without it.
 *
 * Cost: a routed call adds one hash and O(width + route_conns_max) string
 * compares to the unrouted path; the ring is fetched at most every
 * ring_refresh_ms (and RKV_RING_RETRY_MS after a failure), one admin round
 * trip of O(Q * N) integers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "client/policy.h"
#include "client/route.h"
#include "client/wire.h"
#include "rpc/frame.h"

/* ---- the ring cache ---- */

/* Asks the current host for its ring map. KV_OK and *out (NULL: the node
 * routes nothing: no ring, or an older node that does not know the op). */
static int fetch_route(struct rkv_client *c, uint64_t deadline_ms, struct client_route **out)
{
    Ringkv__Envelope *reply = NULL;
    int rc = client_admin_call(c, RINGKV__ADMIN_OP__ADMIN_OP_RING_MAP, NULL, true, deadline_ms, &reply);
    *out = NULL;
    if (rc == KV_EINVAL) {
        rc = KV_OK;  /* a node without ADMIN_OP_RING_MAP: no routing */
    } else if (rc == KV_OK) {
        rc = client_route_from_map(reply->admin_reply->ring_map, out);
        if (rc == KV_ENOTFOUND)
            rc = KV_OK;  /* no ring yet */
        rpc_envelope_free(reply);
    }
    return rc;
}

/* Fetches the ring when it is due (first call, period over, or a routed
 * node failed), at most every RKV_RING_RETRY_MS. A failed fetch keeps the
 * ring it had and waits ring_refresh_ms before the next; the call goes on
 * either way. */
static void route_refresh(struct rkv_client *c, uint64_t deadline_ms)
{
    uint64_t now = client_now_ms();
    bool due = c->route == NULL || c->route_stale || now >= c->route_next_ms;
    if (!due || now < c->route_retry_ms)
        return;
    c->route_retry_ms = now + RKV_RING_RETRY_MS;
    struct client_route *fresh = NULL;
    int rc = fetch_route(c, deadline_ms, &fresh);
    kv_buf_reset(&c->err);  /* the call's own outcome is what gets reported */
    if (rc != KV_OK) {
        /* The hosts given did not answer: keep the ring we have and do not
         * spend every call's budget asking again. */
        c->route_retry_ms = client_now_ms() + c->cfg.ring_refresh_ms;
        return;
    }
    client_route_free(c->route);
    c->route = fresh;
    c->route_stale = false;
    c->route_next_ms = now + c->cfg.ring_refresh_ms;
}

uint64_t rkv_ring_version(const struct rkv_client *c)
{
    return c->route ? c->route->version : 0;
}

/* ---- connections to routed-to nodes ---- */

/* The slot of spec: its own, a free one, or the least recently used one
 * (closed). NULL only when the slots cannot be allocated. */
static struct client_node *node_slot(struct rkv_client *c, const char *spec)
{
    if (c->nodes == NULL) {
        c->nodes = calloc(c->cfg.route_conns_max, sizeof *c->nodes);
        if (c->nodes == NULL)
            return NULL;
        for (uint32_t i = 0; i < c->cfg.route_conns_max; i++)
            client_conn_init(&c->nodes[i].conn);
    }
    struct client_node *victim = &c->nodes[0];
    for (uint32_t i = 0; i < c->cfg.route_conns_max; i++) {
        struct client_node *n = &c->nodes[i];
        if (strcmp(n->spec, spec) == 0)
            return n;
        if (victim->spec[0] && (!n->spec[0] || n->last_used_ms < victim->last_used_ms))
            victim = n;
    }
    client_conn_close(&victim->conn);
    memset(victim->spec, 0, sizeof victim->spec);
    if (client_parse_hostport(spec, victim->host, sizeof victim->host, victim->port, sizeof victim->port) != KV_OK)
        return NULL;  /* route.c only keeps addresses that parse */
    snprintf(victim->spec, sizeof victim->spec, "%s", spec);
    victim->penalty_until_ms = 0;
    return victim;
}

static int node_open(struct rkv_client *c, struct client_node *n, uint64_t deadline_ms)
{
    if (client_conn_is_open(&n->conn))
        return KV_OK;
    struct kv_buf line = { 0 };
    uint64_t until = client_now_ms() + c->cfg.connect_timeout_ms;
    struct client_conn_target t = { n->host, n->port, c->cfg.cluster_name, c->tls, c->cfg.frame_bytes_max,
                                    c->cfg.user, c->cfg.password };
    int rc = client_conn_open(&n->conn, &t, until < deadline_ms ? until : deadline_ms, &line);
    if (rc != KV_OK)
        client_err_format(&c->err, true, "%s%s", c->err.len ? "; " : "", line.data ? line.data : n->spec);
    kv_buf_free(&line);
    return rc;
}

void client_router_free(struct rkv_client *c)
{
    for (uint32_t i = 0; c->nodes && i < c->cfg.route_conns_max; i++)
        client_conn_close(&c->nodes[i].conn);
    free(c->nodes);
    c->nodes = NULL;
    client_route_free(c->route);
    c->route = NULL;
}

/* ---- routed requests ---- */

/* Puts candidates that failed recently after the others (stable). */
static void order_by_penalty(struct rkv_client *c, uint32_t *cand, size_t n)
{
    uint64_t now = client_now_ms();
    uint32_t ok[CLIENT_ROUTE_WIDTH_MAX], late[CLIENT_ROUTE_WIDTH_MAX];
    size_t nok = 0, nlate = 0;
    for (size_t i = 0; i < n; i++) {
        bool penalised = false;
        for (uint32_t j = 0; c->nodes && j < c->cfg.route_conns_max; j++)
            if (strcmp(c->nodes[j].spec, c->route->members[cand[i]].spec) == 0)
                penalised = c->nodes[j].penalty_until_ms > now;
        if (penalised)
            late[nlate++] = cand[i];
        else
            ok[nok++] = cand[i];
    }
    memcpy(cand, ok, nok * sizeof *cand);
    memcpy(cand + nok, late, nlate * sizeof *cand);
}

/* One routed attempt on node n. KV_OK: req is answered; otherwise the
 * connection was dropped and req made NEW again (req->sent tells whether
 * it left). */
static int try_node(struct rkv_client *c, struct client_node *n, struct client_req *req, uint64_t deadline_ms)
{
    int rc = node_open(c, n, deadline_ms);
    if (rc == KV_OK) {
        snprintf(c->last_host, sizeof c->last_host, "%s", n->spec);
        rc = client_exchange(c, &n->conn, req, 1, deadline_ms);
        if (rc != KV_OK) {
            client_note_host(c, n->spec, rc);
            client_reset_after_failure(&n->conn, req, 1);
        }
    }
    uint64_t now = client_now_ms();
    if (rc == KV_OK)
        n->last_used_ms = now;
    else
        n->penalty_until_ms = now + RKV_HOST_PENALTY_MS;
    return rc;
}

/* Tries key's primaries. True when the call is decided (*rc_out); false
 * to fall back to the hosts given. */
static bool run_routed(struct rkv_client *c, struct client_req *req, const void *key, size_t key_len,
                       bool idempotent, uint64_t deadline_ms, int *rc_out)
{
    uint32_t cand[CLIENT_ROUTE_WIDTH_MAX];
    size_t n = client_route_candidates(c->route, key, key_len, cand);
    order_by_penalty(c, cand, n);
    for (size_t i = 0; i < n; i++) {
        if (client_now_ms() >= deadline_ms)
            return false;  /* client_run reports the timeout */
        struct client_node *node = node_slot(c, c->route->members[cand[i]].spec);
        if (node == NULL)
            return false;
        int rc = try_node(c, node, req, deadline_ms);
        if (rc == KV_OK && idempotent && client_req_retriable(req) && i + 1 < n) {
            rpc_envelope_free(req->reply);  /* a temporary refusal: ask the next primary */
            req->reply = NULL;
            req->state = CLIENT_REQ_NEW;
            continue;
        }
        if (rc == KV_OK) {
            kv_buf_reset(&c->err);
            *rc_out = KV_OK;
            return true;
        }
        c->route_stale = true;
        if (!idempotent && req->sent) {
            *rc_out = KV_EINDOUBT;
            return true;
        }
    }
    return false;
}

int client_run_key(struct rkv_client *c, struct client_req *req, const void *key, size_t key_len,
                   bool idempotent, uint64_t deadline_ms)
{
    if (c->cfg.routing) {
        route_refresh(c, deadline_ms);
        int rc;
        if (c->route && run_routed(c, req, key, key_len, idempotent, deadline_ms, &rc))
            return rc;
    }
    return client_run(c, req, 1, idempotent, deadline_ms);
}
