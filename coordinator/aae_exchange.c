/*
 * aae_exchange.c - the initiator's side of an exchange (see aae.h for
 * the steps, aae_msg.h for the messages).
 *
 * An exchange has at most one request in flight. Everything a request
 * carries is derived from the exchange's state (x_request), and that
 * state only advances when the matching reply arrives, so a timeout
 * simply sends the same request again under a new seq. The phases:
 *
 *   HASHES  nodes[nodes_off ..] of `level`, in chunks; differing ones
 *           collect in diff; their children become the next level's
 *           nodes; at the leaves diff is the differing segments.
 *   KEYS    one page: our keys of those segments after `cursor`
 *           (bounded), the peer's for the same range; the reply fixes
 *           the page's end (the smaller of both sides' reach).
 *   FETCH   the peer's objects we lack or hold differently, merged here.
 *   PUSH    our objects the peer lacks or holds differently (re-read
 *           after the fetches, skipped if the peer's digest now matches).
 *   then the next page, and finally one more root comparison whose
 *   result says whether the exchange left both trees equal.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/aae_internal.h"

static void x_send(struct aae *a, struct aae_xchg *x, uint64_t now);
static void keys_begin(struct aae *a, struct aae_xchg *x, uint64_t now);

void aae_x_free(struct aae_xchg *x)
{
    free(x->nodes);
    free(x->diff);
    free(x->segs);
    kv_buf_free(&x->cursor);
    aae_page_free(&x->local);
    aae_page_free(&x->remote);
    kv_buf_free(&x->local_last);
    kv_buf_free(&x->end);
    free(x->fetch);
    free(x->push);
    kv_buf_free(&x->push_buf);
    memset(x, 0, sizeof *x);
}

/* Sets the HASHES phase to ask for the root. */
static void ask_root(struct aae_xchg *x)
{
    x->phase = AAE_PH_HASHES;
    x->level = 0;
    x->nodes[0] = 0;
    x->n_nodes = 1;
    x->nodes_off = 0;
    x->n_diff = 0;
}

int aae_x_start(struct aae *a, struct aae_xchg *x, uint32_t partition, const char *peer, uint64_t now)
{
    int rc = aae_grow((void **)&x->nodes, &x->nodes_cap, 1, sizeof *x->nodes);
    if (rc != KV_OK)
        return rc;
    x->active = true;
    x->partition = partition;
    strcpy(x->peer, peer);
    x->started_ms = now;
    x->xid = kv_rand_next(&a->rng) | 1;
    x->seq = 0;
    x->in_flight = false;
    x->retries = x->busy = 0;
    x->has_cursor = false;
    x->final_check = false;
    x->n_segs = 0;
    x->bytes_sent = x->bytes_received = x->keys_repaired = 0;
    ask_root(x);
    a->stats.exchanges_started++;
    x_send(a, x, now);
    return KV_OK;
}

void aae_x_finish(struct aae *a, struct aae_xchg *x, int status, uint64_t now)
{
    bool in_sync = status == KV_OK && x->phase == AAE_PH_HASHES && x->level == 0 && x->n_diff == 0;
    struct aae_part *p = a->parts[x->partition];
    if (p) {
        struct aae_partition_status *st = &p->st;
        st->exchanges++;
        st->last_exchange_ms = now;
        st->last_status = status;
        strcpy(st->last_peer, x->peer);
        st->keys_repaired += x->keys_repaired;
        st->bytes_sent += x->bytes_sent;
        st->bytes_received += x->bytes_received;
        if (in_sync)
            st->last_in_sync_ms = now;
    }
    if (status != KV_OK)
        a->stats.exchanges_failed++;
    else if (x->final_check)
        a->stats.exchanges_repaired++;
    else
        a->stats.exchanges_in_sync++;
    if (status == KV_ETIMEDOUT || status == KV_ESTATE || status == KV_EBUSY)
        log_debug("aae", "exchange failed partition=%" PRIu32 " peer=%s status=%s", x->partition, x->peer,
                  kv_status_str(status));
    else if (status != KV_OK)
        log_warn("aae", "exchange failed partition=%" PRIu32 " peer=%s status=%s", x->partition, x->peer,
                 kv_status_str(status));
    x->active = false;
    x->in_flight = false;
    aae_exchange_ended(a, x->partition, x->peer, status, x->started_ms, now);
}

/* ---- requests ---- */

static int fetch_request(struct aae *a, struct aae_xchg *x, struct aae_msg *m)
{
    uint32_t n = 0;
    uint64_t bytes = 0;
    for (uint32_t i = x->fetch_off; i < x->n_fetch && n < a->cfg.page_keys_max; i++) {
        struct kv_slice k = aae_page_key(&x->remote, x->fetch[i]);
        if (n > 0 && bytes + k.len > a->cfg.batch_bytes_max)
            break;
        int rc = aae_grow((void **)&a->items, &a->items_cap, n + 1, sizeof *a->items);
        if (rc != KV_OK)
            return rc;
        a->items[n++] = (struct aae_item){ .key = k };
        bytes += k.len;
    }
    x->fetch_end = x->fetch_off + n;
    m->type = AAE_MSG_FETCH_REQ;
    m->items = a->items;
    m->n_items = n;
    return KV_OK;
}

static int push_request(struct aae *a, struct aae_xchg *x, struct aae_msg *m)
{
    uint32_t n = 0;
    for (uint32_t i = x->push_off; i < x->push_end; i++) {
        const struct aae_push *p = &x->push[i];
        if (!p->send)
            continue;
        int rc = aae_grow((void **)&a->items, &a->items_cap, n + 1, sizeof *a->items);
        if (rc != KV_OK)
            return rc;
        a->items[n++] = (struct aae_item){ .key = aae_page_key(&x->local, p->local), .found = true,
                                           .object = kv_slice_make(x->push_buf.data + p->obj_off, p->obj_len) };
    }
    m->type = AAE_MSG_PUSH_REQ;
    m->items = a->items;
    m->n_items = n;
    return KV_OK;
}

/* Fills m with the request of x's current phase. */
static int x_request(struct aae *a, struct aae_xchg *x, struct aae_msg *m)
{
    switch (x->phase) {
    case AAE_PH_HASHES: {
        uint32_t left = x->n_nodes - x->nodes_off;
        x->chunk = left < AAE_HASHES_PER_REQ_MAX ? left : AAE_HASHES_PER_REQ_MAX;
        m->type = AAE_MSG_HASHES_REQ;
        m->segments = a->cfg.segments;
        m->branching = a->cfg.branching;
        m->level = x->level;
        m->ids = x->nodes + x->nodes_off;
        m->n_ids = x->chunk;
        return KV_OK;
    }
    case AAE_PH_KEYS:
        m->type = AAE_MSG_KEYS_REQ;
        m->segments = a->cfg.segments;
        m->branching = a->cfg.branching;
        m->keys_max = a->cfg.page_keys_max;
        m->has_after = x->has_cursor;
        m->after = kv_slice_make(x->cursor.data, x->cursor.len);
        m->has_upto = !x->local_complete;
        m->upto = kv_slice_make(x->local_last.data, x->local_last.len);
        m->ids = x->segs;
        m->n_ids = x->n_segs == a->cfg.segments ? 0 : x->n_segs; /* none listed: every segment */
        return KV_OK;
    case AAE_PH_FETCH:
        return fetch_request(a, x, m);
    case AAE_PH_PUSH:
        return push_request(a, x, m);
    }
    return KV_EINVAL;
}

/* Sends the current request now, or later if the byte budget is in debt. */
static void x_send(struct aae *a, struct aae_xchg *x, uint64_t now)
{
    if (!aae_budget_ok(a, now)) {
        x->in_flight = false;
        x->deadline_ms = now + aae_budget_wait_ms(a);
        return;
    }
    struct aae_msg m;
    aae_msg_init(&m);
    int rc = x_request(a, x, &m);
    if (rc != KV_OK) {
        aae_x_finish(a, x, rc, now);
        return;
    }
    m.xid = x->xid;
    m.seq = ++x->seq;
    m.partition = x->partition;
    uint64_t n;
    aae_send(a, x->peer, &m, now, &n);
    x->bytes_sent += n;
    x->in_flight = true;
    x->deadline_ms = now + a->cfg.request_timeout_ms;
}

void aae_x_tick(struct aae *a, struct aae_xchg *x, uint64_t now)
{
    if (x->in_flight) {
        a->stats.timeouts++;
        if (++x->retries > a->cfg.retries_max) {
            aae_x_finish(a, x, KV_ETIMEDOUT, now);
            return;
        }
    }
    x_send(a, x, now);
}

/* ---- replies ---- */

static void on_hashes(struct aae *a, struct aae_xchg *x, const struct aae_msg *m, uint64_t now)
{
    struct merkle *t = aae_tree(a, x->partition);
    if (!t || !aae_tree_ready(a, x->partition)) {
        aae_x_finish(a, x, KV_ESTATE, now);
        return;
    }
    uint32_t k = 0;
    int rc = m->n_hashes == x->chunk ? KV_OK : KV_EPROTO;
    if (rc == KV_OK)
        rc = aae_grow((void **)&x->diff, &x->diff_cap, x->n_diff + x->chunk, sizeof *x->diff);
    if (rc == KV_OK)
        rc = merkle_diff(t, x->level, x->nodes + x->nodes_off, x->chunk, m->hashes, x->diff + x->n_diff, &k);
    if (rc != KV_OK) {
        aae_x_finish(a, x, rc == KV_EINVAL ? KV_EPROTO : rc, now);
        return;
    }
    x->n_diff += k;
    x->nodes_off += x->chunk;
    if (x->nodes_off < x->n_nodes) {
        x_send(a, x, now);
        return;
    }
    if (x->n_diff == 0 || x->final_check) { /* equal (or a concurrent write made them so) */
        aae_x_finish(a, x, KV_OK, now);
        return;
    }
    if (x->level == merkle_depth(t)) {
        uint32_t *tmp = x->segs, cap = x->segs_cap;
        x->segs = x->diff, x->segs_cap = x->diff_cap, x->n_segs = x->n_diff;
        x->diff = tmp, x->diff_cap = cap, x->n_diff = 0;
        keys_begin(a, x, now);
        return;
    }
    uint32_t b = merkle_branching(t);
    rc = aae_grow((void **)&x->nodes, &x->nodes_cap, x->n_diff * b, sizeof *x->nodes);
    if (rc == KV_OK)
        rc = merkle_children(t, x->level, x->diff, x->n_diff, x->nodes);
    if (rc != KV_OK) {
        aae_x_finish(a, x, rc, now);
        return;
    }
    x->n_nodes = x->n_diff * b;
    x->level++;
    x->nodes_off = 0;
    x->n_diff = 0;
    x_send(a, x, now);
}

static int collect_local(void *arg, struct kv_slice key, uint64_t digest, struct kv_slice object)
{
    return aae_page_add(arg, key, digest);
}

/* Reads our side of the next page and asks for the peer's. */
static void keys_begin(struct aae *a, struct aae_xchg *x, uint64_t now)
{
    struct merkle *t = aae_tree(a, x->partition);
    if (!t) {
        aae_x_finish(a, x, KV_ESTATE, now);
        return;
    }
    aae_page_reset(&x->local);
    struct merkle_scan s = {
        .segments = x->segs, .n_segments = x->n_segs == a->cfg.segments ? 0 : x->n_segs,
        .after = kv_slice_make(x->cursor.data, x->cursor.len), .has_after = x->has_cursor,
        .keys_max = a->cfg.page_keys_max, .key_bytes_max = a->cfg.batch_bytes_max,
        .scanned_max = a->cfg.scan_keys_max,
    };
    int rc = merkle_scan_segments(t, a->cfg.engine, NULL, &s, collect_local, &x->local, &x->local_last,
                                  &x->local_complete);
    if (rc != KV_OK) {
        aae_x_finish(a, x, rc, now);
        return;
    }
    x->phase = AAE_PH_KEYS;
    x_send(a, x, now);
}

/* Checks that the peer's keys lie in (cursor, upto], strictly increasing,
 * and its `last` too; copies them to x->remote and sets the page end. */
static int take_remote(struct aae_xchg *x, const struct aae_msg *m)
{
    struct kv_slice cursor = kv_slice_make(x->cursor.data, x->cursor.len);
    struct kv_slice upto = kv_slice_make(x->local_last.data, x->local_last.len);
    struct kv_slice prev = cursor;
    bool has_prev = x->has_cursor;
    aae_page_reset(&x->remote);
    for (uint32_t i = 0; i < m->n_items; i++) {
        struct kv_slice k = m->items[i].key;
        if ((has_prev && kv_slice_cmp(k, prev) <= 0) || (!x->local_complete && kv_slice_cmp(k, upto) > 0))
            return KV_EPROTO;
        int rc = aae_page_add(&x->remote, k, m->items[i].digest);
        if (rc != KV_OK)
            return rc;
        prev = k;
        has_prev = true;
    }
    if (m->complete) {
        x->end_open = x->local_complete;
        return x->end_open ? KV_OK : kv_buf_set(&x->end, upto.data, upto.len);
    }
    if ((has_prev && kv_slice_cmp(m->last, prev) < 0) || (x->has_cursor && kv_slice_cmp(m->last, cursor) <= 0) ||
        (!x->local_complete && kv_slice_cmp(m->last, upto) > 0))
        return KV_EPROTO;
    x->end_open = false;
    return kv_buf_set(&x->end, m->last.data, m->last.len);
}

/* Compares the local and remote pages in key order into the fetch and push lists. */
static int compare_pages(struct aae_xchg *x)
{
    x->n_fetch = x->n_push = x->fetch_off = x->push_off = 0;
    struct kv_slice end = kv_slice_make(x->end.data, x->end.len);
    while (x->local.n > 0 && !x->end_open && kv_slice_cmp(aae_page_key(&x->local, x->local.n - 1), end) > 0)
        x->local.n--; /* beyond what the peer covered: the next page reads them again */
    int rc = aae_grow((void **)&x->fetch, &x->fetch_cap, x->remote.n, sizeof *x->fetch);
    if (rc == KV_OK)
        rc = aae_grow((void **)&x->push, &x->push_cap, x->local.n, sizeof *x->push);
    uint32_t i = 0, j = 0;
    while (rc == KV_OK && (i < x->local.n || j < x->remote.n)) {
        int c = i == x->local.n ? 1 : j == x->remote.n ? -1
                                                        : kv_slice_cmp(aae_page_key(&x->local, i),
                                                                       aae_page_key(&x->remote, j));
        if (c < 0) {
            x->push[x->n_push++] = (struct aae_push){ .local = i++ };
        } else if (c > 0) {
            x->fetch[x->n_fetch++] = j++;
        } else {
            if (x->local.e[i].digest != x->remote.e[j].digest) {
                x->fetch[x->n_fetch++] = j;
                x->push[x->n_push++] = (struct aae_push){ .local = i, .remote_has = true,
                                                          .remote_digest = x->remote.e[j].digest };
            }
            i++, j++;
        }
    }
    return rc;
}

static void push_next(struct aae *a, struct aae_xchg *x, uint64_t now);

static void on_keys(struct aae *a, struct aae_xchg *x, const struct aae_msg *m, uint64_t now)
{
    int rc = take_remote(x, m);
    if (rc == KV_OK)
        rc = compare_pages(x);
    if (rc != KV_OK) {
        aae_x_finish(a, x, rc, now);
        return;
    }
    a->stats.keys_compared += x->remote.n;
    if (x->n_fetch) {
        x->phase = AAE_PH_FETCH;
        x_send(a, x, now);
    } else {
        push_next(a, x, now);
    }
}

static void on_fetch(struct aae *a, struct aae_xchg *x, const struct aae_msg *m, uint64_t now)
{
    if (m->n_items == 0 || m->n_items > x->fetch_end - x->fetch_off) {
        aae_x_finish(a, x, KV_EPROTO, now);
        return;
    }
    for (uint32_t i = 0; i < m->n_items; i++) {
        if (!kv_slice_eq(m->items[i].key, aae_page_key(&x->remote, x->fetch[x->fetch_off + i]))) {
            aae_x_finish(a, x, KV_EPROTO, now);
            return;
        }
        bool changed = false;
        a->stats.keys_fetched += m->items[i].found;
        if (m->items[i].found && aae_merge_in(a, x->partition, m->items[i].key, m->items[i].object, &changed) == KV_OK)
            x->keys_repaired += changed; /* a failed merge is counted and logged; the key stays for next time */
    }
    x->fetch_off += m->n_items;
    if (x->fetch_off < x->n_fetch)
        x_send(a, x, now);
    else
        push_next(a, x, now);
}

/* The page is done: the next one, or the closing root comparison. */
static void page_done(struct aae *a, struct aae_xchg *x, uint64_t now)
{
    if (x->end_open) {
        x->final_check = true;
        ask_root(x);
        x_send(a, x, now);
        return;
    }
    int rc = kv_buf_set(&x->cursor, x->end.data, x->end.len);
    if (rc != KV_OK) {
        aae_x_finish(a, x, rc, now);
        return;
    }
    x->has_cursor = true;
    keys_begin(a, x, now);
}

/* Reads the next batch of objects to push (skipping keys whose object
 * the peer now has), or ends the page when none is left. */
static void push_next(struct aae *a, struct aae_xchg *x, uint64_t now)
{
    x->phase = AAE_PH_PUSH;
    kv_buf_reset(&x->push_buf);
    uint32_t i = x->push_off, batch = 0;
    uint64_t bytes = 0;
    for (; i < x->n_push && (batch == 0 || (bytes < a->cfg.batch_bytes_max && batch < a->cfg.page_keys_max)); i++) {
        struct aae_push *p = &x->push[i];
        struct kv_slice key = aae_page_key(&x->local, p->local);
        bool found;
        int rc = aae_read_local(a, x->partition, key, &found);
        if (rc == KV_OK && found && a->stored.len > UINT32_MAX - x->push_buf.len)
            rc = KV_ETOOBIG;
        p->send = rc == KV_OK && found &&
                  !(p->remote_has && merkle_digest(kv_slice_make(a->stored.data, a->stored.len)) == p->remote_digest);
        if (rc == KV_OK && p->send) {
            p->obj_off = (uint32_t)x->push_buf.len;
            p->obj_len = (uint32_t)a->stored.len;
            rc = kv_buf_append(&x->push_buf, a->stored.data, a->stored.len);
            batch++;
            bytes += key.len + a->stored.len;
        }
        if (rc != KV_OK) {
            aae_x_finish(a, x, rc, now);
            return;
        }
    }
    x->push_end = i;
    if (batch == 0) {
        page_done(a, x, now);
        return;
    }
    x_send(a, x, now);
}

static void on_push(struct aae *a, struct aae_xchg *x, const struct aae_msg *m, uint64_t now)
{
    for (uint32_t i = x->push_off; i < x->push_end; i++)
        a->stats.keys_pushed += x->push[i].send;
    a->stats.keys_repaired_remote += m->applied;
    x->keys_repaired += m->applied;
    x->push_off = x->push_end;
    if (x->push_off < x->n_push)
        push_next(a, x, now);
    else
        page_done(a, x, now);
}

void aae_x_reply(struct aae *a, struct aae_xchg *x, const struct aae_msg *m, uint64_t now)
{
    uint64_t n = aae_msg_encoded_bytes(m);
    aae_budget_charge(a, n, now);
    a->stats.bytes_received += n;
    x->bytes_received += n;
    x->in_flight = false;
    if (m->status == KV_EBUSY) {
        a->stats.busy_waits++;
        if (++x->busy > AAE_BUSY_RETRIES_MAX)
            aae_x_finish(a, x, KV_EBUSY, now);
        else
            x->deadline_ms = now + a->cfg.busy_backoff_ms;
        return;
    }
    static const enum aae_msg_type want[] = { [AAE_PH_HASHES] = AAE_MSG_HASHES_REPLY,
                                              [AAE_PH_KEYS] = AAE_MSG_KEYS_REPLY,
                                              [AAE_PH_FETCH] = AAE_MSG_FETCH_REPLY,
                                              [AAE_PH_PUSH] = AAE_MSG_PUSH_REPLY };
    if (m->status != KV_OK || m->type != want[x->phase]) {
        aae_x_finish(a, x, m->status != KV_OK ? m->status : KV_EPROTO, now);
        return;
    }
    x->retries = x->busy = 0;
    switch (x->phase) {
    case AAE_PH_HASHES: on_hashes(a, x, m, now); break;
    case AAE_PH_KEYS: on_keys(a, x, m, now); break;
    case AAE_PH_FETCH: on_fetch(a, x, m, now); break;
    case AAE_PH_PUSH: on_push(a, x, m, now); break;
    }
}
