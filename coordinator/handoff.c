/*
 * handoff.c - see handoff.h. Lifecycle, ring changes (adopting the
 * progress of streams the new plan still needs), the source side
 * (budget, batches from snapshot iterators, replies, DONE notices), the
 * receiver side, the completer, drops, saving, and kvctl's report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/handoff_internal.h"
#include "coordinator/keyspace.h"

#define HO_REPLAN_MS 10000u   /* liveness may change a stream's source */
#define HO_BATCH_BYTES_MIN 1024u

void handoff_config_default(struct handoff_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bytes_per_sec = HANDOFF_BYTES_PER_SEC_DEFAULT;
    cfg->transfers_max = HANDOFF_TRANSFERS_MAX_DEFAULT;
    cfg->batch_bytes = HANDOFF_BATCH_BYTES_DEFAULT;
    cfg->drop_delay_ms = HANDOFF_DROP_DELAY_MS_DEFAULT;
}

/* ---- lifecycle ---- */

static void stream_release(struct ho_stream *s)
{
    kv_buf_free(&s->cursor);
    kv_buf_free(&s->batch_last);
}

static void streams_free(struct ho_stream *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        stream_release(&s[i]);
    free(s);
}

int handoff_new(const struct handoff_config *cfg, const void *saved, size_t saved_len, struct handoff **out)
{
    if (!cfg->node_id || !cfg->node_id[0] || strlen(cfg->node_id) > RING_ID_BYTES_MAX || !cfg->engine ||
        cfg->bytes_per_sec == 0 || cfg->transfers_max == 0 || cfg->transfers_max > HANDOFF_TRANSFERS_LIMIT ||
        cfg->batch_bytes < HO_BATCH_BYTES_MIN || cfg->batch_bytes > HANDOFF_BATCH_BYTES_LIMIT || !cfg->ops.send ||
        !cfg->ops.alive || !cfg->ops.merge || !cfg->ops.transfer_done || !cfg->ops.drop || !cfg->ops.save)
        return KV_EINVAL;
    struct handoff *h = calloc(1, sizeof *h);
    if (!h || !(h->items = calloc(HANDOFF_BATCH_KEYS_MAX, sizeof *h->items)) ||
        !(h->offs = calloc(3u * HANDOFF_BATCH_KEYS_MAX, sizeof *h->offs))) {
        if (h)
            free(h->items);
        free(h);
        return KV_ENOMEM;
    }
    h->cfg = *cfg;
    snprintf(h->node_id, sizeof h->node_id, "%s", cfg->node_id);
    h->cfg.node_id = h->node_id;
    if (saved && saved_len) {
        int rc = ho_state_decode(h, saved, saved_len);
        if (rc == KV_ENOMEM) {
            handoff_free(h);
            return rc;
        }
        if (rc != KV_OK) {
            log_warn("handoff", "saved handoff state unreadable; streams start over bytes=%zu", saved_len);
            streams_free(h->saved, h->n_saved);
            h->saved = NULL;
            h->n_saved = 0;
            h->n_facts = 0;
        }
    }
    *out = h;
    return KV_OK;
}

void handoff_free(struct handoff *h)
{
    if (!h)
        return;
    streams_free(h->streams, h->n_streams);
    streams_free(h->saved, h->n_saved);
    ho_plan_free(&h->plan);
    ring_free(h->ring);
    free(h->facts);
    free(h->held);
    free(h->missing);
    free(h->done_retry_ms);
    kv_buf_free(&h->bbuf);
    free(h->items);
    free(h->offs);
    free(h);
}

/* ---- ring changes ---- */

static struct ho_stream *find_stream(struct ho_stream *s, size_t n, uint32_t p, uint32_t q, const char *to)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].p == p && s[i].q == q && strcmp(s[i].to, to) == 0)
            return &s[i];
    return NULL;
}

/* Moves the progress of old (a stream of an earlier plan, or loaded) into s. */
static void adopt(struct ho_stream *s, struct ho_stream *old)
{
    struct ho_stream keep = *s;
    *s = *old;
    memset(old, 0, sizeof *old);
    memcpy(s->completer, keep.completer, sizeof s->completer);
    s->in_plan = true;
    if (s->inflight && !s->done)
        s->retry_at_ms = 0; /* its reply may still come; a resend is harmless */
}

/* The streams this node sources under the new plan, keeping the progress
 * of those the old plan (or the saved state) had. */
static int rebuild_streams(struct handoff *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->plan.n_needs; i++)
        n += strcmp(h->plan.needs[i].from, h->node_id) == 0;
    struct ho_stream *ns = n ? calloc(n, sizeof *ns) : NULL;
    if (n && !ns)
        return KV_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < h->plan.n_needs; i++) {
        const struct ho_need *need = &h->plan.needs[i];
        if (strcmp(need->from, h->node_id) != 0)
            continue;
        struct ho_stream *s = &ns[k++];
        s->p = need->p;
        s->q = need->q;
        memcpy(s->to, need->to, sizeof s->to);
        memcpy(s->completer, need->completer, sizeof s->completer);
        s->in_plan = true;
        struct ho_stream *old = find_stream(h->streams, h->n_streams, s->p, s->q, s->to);
        bool resumed = !old && (old = find_stream(h->saved, h->n_saved, s->p, s->q, s->to)) != NULL;
        if (old)
            adopt(s, old);
        if (resumed && s->keys_sent && !s->done)
            log_info("handoff", "stream resumed partition=%u range=%u to=%s keys_sent=%llu", s->p, s->q, s->to,
                     (unsigned long long)s->keys_sent);
    }
    streams_free(h->streams, h->n_streams);
    h->streams = ns;
    h->n_streams = n;
    return KV_OK;
}

/* Keeps the facts of streams the new plan still needs of this completer. */
static void filter_facts(struct handoff *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n_facts; i++) {
        const struct ho_fact *f = &h->facts[i];
        const struct ho_need *n = ho_plan_find(&h->plan, f->p, f->q, f->to);
        if (n && strcmp(n->completer, h->node_id) == 0)
            h->facts[k++] = *f;
    }
    if (k != h->n_facts)
        h->dirty = true;
    h->n_facts = k;
}

static int replan(struct handoff *h, uint64_t now_ms)
{
    struct ho_plan pl;
    int rc = ho_plan_build(h, &pl);
    if (rc != KV_OK)
        return rc;
    ho_plan_free(&h->plan);
    h->plan = pl;
    rc = rebuild_streams(h);
    if (rc != KV_OK)
        return rc;
    filter_facts(h);
    h->dirty = true;
    h->completion_due = true;
    h->stats.streams_planned = h->n_streams;
    h->next_replan_ms = now_ms + HO_REPLAN_MS;
    return KV_OK;
}

int handoff_set_ring(struct handoff *h, const struct ring *r, uint64_t now_ms)
{
    if (!r || (h->ring && ring_equal(h->ring, r)))
        return KV_OK;
    uint32_t nq = ring_partitions(r);
    if (h->ring && ring_partitions(h->ring) != nq)
        return KV_EINVAL; /* Q never changes in a cluster */
    struct ring *copy = NULL;
    int rc = ring_clone(r, &copy);
    if (rc != KV_OK)
        return rc;
    if (!h->held) {
        h->held = malloc(nq);
        h->missing = malloc(nq);
        h->done_retry_ms = calloc(nq, sizeof *h->done_retry_ms);
        if (!h->held || !h->missing || !h->done_retry_ms) {
            ring_free(copy);
            return KV_ENOMEM;
        }
        memset(h->held, 1, nq); /* after a start: anything may be on disk */
        h->next_sweep_ms = now_ms + HANDOFF_SWEEP_MS;
    }
    ring_free(h->ring);
    h->ring = copy;
    h->ring_changed_ms = now_ms;
    memset(h->done_retry_ms, 0, nq * sizeof *h->done_retry_ms);
    rc = replan(h, now_ms);
    if (rc != KV_OK) {
        log_error("handoff", "cannot plan the transfers of ring version=%llu status=\"%s\"",
                  (unsigned long long)ring_version(r), kv_status_str(rc));
        return rc;
    }
    for (uint32_t q = 0; q < nq; q++)
        h->held[q] |= h->plan.holder[q];
    if (h->n_streams)
        log_debug("handoff", "ring version=%llu: %zu streams planned, %zu sourced here",
                 (unsigned long long)ring_version(r), h->plan.n_needs, h->n_streams);
    return KV_OK;
}

/* ---- source side ---- */

static void refill(struct handoff *h, uint64_t now_ms)
{
    int64_t cap = (int64_t)h->cfg.batch_bytes;
    if (now_ms > h->tokens_ms) {
        uint64_t add = (now_ms - h->tokens_ms) * h->cfg.bytes_per_sec / 1000u;
        h->tokens = h->tokens + (int64_t)(add > (uint64_t)INT32_MAX ? INT32_MAX : add);
        if (h->tokens > cap)
            h->tokens = cap;
    }
    h->tokens_ms = now_ms;
}

/* Batches smaller than a quarter second of budget keep a slow stream
 * moving (and its resumption fine-grained). */
static size_t batch_bytes(const struct handoff *h)
{
    uint64_t quarter = h->cfg.bytes_per_sec / 4u;
    uint64_t b = h->cfg.batch_bytes < quarter ? h->cfg.batch_bytes : quarter;
    return b < HO_BATCH_BYTES_MIN ? HO_BATCH_BYTES_MIN : (size_t)b;
}

/* Positions it at the first key of range q after `after` (empty: the
 * range's first key); *end gets the range's end. */
static void seek_range(struct engine_iter *it, uint32_t q, const struct kv_buf *after, char end[KEYSPACE_PREFIX_BYTES])
{
    char begin[KEYSPACE_PREFIX_BYTES];
    keyspace_partition_range(KEYSPACE_DATA, q, begin, end);
    if (after->len == 0) {
        engine_iter_seek(it, kv_slice_make(begin, sizeof begin));
        return;
    }
    engine_iter_seek(it, kv_slice_make(after->data, after->len));
    if (engine_iter_valid(it) && kv_slice_eq(engine_iter_key(it), kv_slice_make(after->data, after->len)))
        engine_iter_next(it);
}

static bool in_range(struct engine_iter *it, const char end[KEYSPACE_PREFIX_BYTES])
{
    return engine_iter_valid(it) && kv_slice_cmp(engine_iter_key(it), kv_slice_make(end, KEYSPACE_PREFIX_BYTES)) < 0;
}

/* Counts the keys and bytes of range q (for progress): O(keys in q). */
static int count_range(struct handoff *h, struct ho_stream *s)
{
    struct engine_iter *it = NULL;
    int rc = engine_iter_new(h->cfg.engine, NULL, &it);
    if (rc != KV_OK)
        return rc;
    char end[KEYSPACE_PREFIX_BYTES];
    struct kv_buf none = { 0 };
    uint64_t keys = 0, bytes = 0;
    for (seek_range(it, s->q, &none, end); in_range(it, end); engine_iter_next(it)) {
        keys++;
        bytes += engine_iter_key(it).len - KEYSPACE_PREFIX_BYTES + engine_iter_value(it).len;
    }
    rc = engine_iter_status(it);
    engine_iter_free(it);
    if (rc == KV_OK) {
        s->keys_total = keys;
        s->bytes_total = bytes;
        s->counted = true;
    }
    return rc;
}

/* Reads the next batch of s into h->bbuf / h->items. */
static int read_batch(struct handoff *h, struct ho_stream *s, uint32_t *n_out, bool *last)
{
    struct engine_iter *it = NULL;
    int rc = engine_iter_new(h->cfg.engine, NULL, &it);
    if (rc != KV_OK)
        return rc;
    char end[KEYSPACE_PREFIX_BYTES];
    size_t cap = batch_bytes(h);
    size_t *offs = h->offs; /* offsets while bbuf may move, slices after */
    uint32_t n = 0;
    kv_buf_reset(&h->bbuf);
    for (seek_range(it, s->q, &s->cursor, end); rc == KV_OK && in_range(it, end) && n < HANDOFF_BATCH_KEYS_MAX &&
                                                h->bbuf.len < cap;
         engine_iter_next(it)) {
        struct kv_slice k = engine_iter_key(it), v = engine_iter_value(it);
        offs[3 * n] = h->bbuf.len;
        offs[3 * n + 1] = k.len;
        offs[3 * n + 2] = v.len;
        rc = kv_buf_append(&h->bbuf, k.data, k.len);
        if (rc == KV_OK)
            rc = kv_buf_append(&h->bbuf, v.data, v.len);
        n++;
    }
    *last = rc == KV_OK && !in_range(it, end);
    if (rc == KV_OK)
        rc = engine_iter_status(it);
    engine_iter_free(it);
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        size_t off = offs[3 * i], kl = offs[3 * i + 1], vl = offs[3 * i + 2];
        struct handoff_item *item = &h->items[i];
        item->key = kv_slice_make(h->bbuf.data + off + KEYSPACE_PREFIX_BYTES, kl - KEYSPACE_PREFIX_BYTES);
        item->object = kv_slice_make(h->bbuf.data + off + kl, vl);
    }
    if (n > 0) {
        const struct handoff_item *lastitem = &h->items[n - 1];
        rc = kv_buf_set(&s->batch_last, lastitem->key.data - KEYSPACE_PREFIX_BYTES,
                        lastitem->key.len + KEYSPACE_PREFIX_BYTES);
    }
    *n_out = n;
    return rc;
}

static void stream_finished(struct handoff *h, struct ho_stream *s, uint64_t now_ms)
{
    s->done = true;
    s->inflight = false;
    s->notice_at_ms = now_ms;
    h->stats.streams_completed++;
    h->dirty = true;
    log_debug("handoff", "stream done partition=%u range=%u to=%s keys=%llu bytes=%llu", s->p, s->q, s->to,
             (unsigned long long)s->keys_sent, (unsigned long long)s->bytes_sent);
    if (strcmp(s->completer, h->node_id) == 0 && ho_fact_add(h, s->p, s->q, s->to) != KV_OK)
        s->notice_at_ms = now_ms; /* out of memory: noticed again later */
}

static void send_batch(struct handoff *h, struct ho_stream *s, uint64_t now_ms)
{
    uint32_t n = 0;
    bool last = false;
    int rc = s->counted ? KV_OK : count_range(h, s);
    if (rc == KV_OK)
        rc = read_batch(h, s, &n, &last);
    if (rc != KV_OK) {
        log_error("handoff", "cannot read range=%u status=\"%s\"", s->q, kv_status_str(rc));
        s->retry_at_ms = now_ms + HANDOFF_RETRY_MS;
        return;
    }
    if (s->started_ms == 0) {
        s->started_ms = now_ms;
        s->bytes_this_run = 0;
    }
    if (n == 0 && s->cursor.len == 0 && last) {
        stream_finished(h, s, now_ms); /* empty range: nothing to send */
        return;
    }
    struct handoff_msg m = { .type = HANDOFF_MSG_BATCH, .req_id = ++h->next_req_id, .partition = s->p,
                             .range = s->q, .last = last, .n_items = n, .items = h->items };
    s->batch_keys = n;
    s->batch_bytes = 0;
    for (uint32_t i = 0; i < n; i++)
        s->batch_bytes += h->items[i].key.len + h->items[i].object.len;
    if (n == 0)
        kv_buf_reset(&s->batch_last);
    rc = h->cfg.ops.send(h->cfg.ops.ctx, s->to, &m);
    if (rc != KV_OK) {
        h->stats.batches_refused++;
        s->retry_at_ms = now_ms + HANDOFF_RETRY_MS;
        return;
    }
    s->inflight = true;
    s->req_id = m.req_id;
    s->batch_is_last = last;
    s->deadline_ms = now_ms + HANDOFF_BATCH_TIMEOUT_MS;
    h->tokens -= (int64_t)(s->batch_bytes > 0 ? s->batch_bytes : 1);
}

static void on_batch_reply(struct handoff *h, const char *from, const struct handoff_msg *m, uint64_t now_ms)
{
    for (size_t i = 0; i < h->n_streams; i++) {
        struct ho_stream *s = &h->streams[i];
        if (!s->inflight || s->req_id != m->req_id || strcmp(s->to, from) != 0)
            continue;
        s->inflight = false;
        if (m->status != KV_OK) {
            h->stats.batches_refused++;
            s->retry_at_ms = now_ms + HANDOFF_RETRY_MS;
            log_debug("handoff", "batch refused to=%s range=%u status=\"%s\"", from, s->q, kv_status_str(m->status));
            return;
        }
        if (s->batch_keys && kv_buf_set(&s->cursor, s->batch_last.data, s->batch_last.len) != KV_OK) {
            s->retry_at_ms = now_ms + HANDOFF_RETRY_MS; /* resend the batch */
            return;
        }
        s->keys_sent += s->batch_keys;
        s->bytes_sent += s->batch_bytes;
        s->bytes_this_run += s->batch_bytes;
        h->stats.keys_sent += s->batch_keys;
        h->stats.bytes_sent += s->batch_bytes;
        h->dirty = true;
        if (s->batch_is_last)
            stream_finished(h, s, now_ms);
        return;
    }
}

/* Streams sending now: the first transfers_max unfinished ones. */
static void run_streams(struct handoff *h, uint64_t now_ms)
{
    uint32_t active = 0;
    for (size_t i = 0; i < h->n_streams && active < h->cfg.transfers_max; i++) {
        struct ho_stream *s = &h->streams[i];
        if (s->done)
            continue;
        active++;
        if (s->inflight && now_ms >= s->deadline_ms) {
            s->inflight = false;
            h->stats.batches_refused++;
            s->retry_at_ms = now_ms;
        }
        if (!s->inflight && now_ms >= s->retry_at_ms && h->tokens > 0)
            send_batch(h, s, now_ms);
    }
    h->stats.streams_active = active;
}

static void send_notices(struct handoff *h, uint64_t now_ms)
{
    for (size_t i = 0; i < h->n_streams; i++) {
        struct ho_stream *s = &h->streams[i];
        if (!s->done || now_ms < s->notice_at_ms)
            continue;
        s->notice_at_ms = now_ms + HANDOFF_NOTICE_RETRY_MS;
        if (strcmp(s->completer, h->node_id) == 0) {
            if (ho_fact_add(h, s->p, s->q, s->to) != KV_OK)
                continue;
        } else {
            struct handoff_msg m = { .type = HANDOFF_MSG_DONE, .partition = s->p, .range = s->q, .to = s->to };
            if (h->cfg.ops.send(h->cfg.ops.ctx, s->completer, &m) != KV_OK)
                log_debug("handoff", "done notice not sent completer=%s", s->completer);
        }
    }
}

/* ---- completer ---- */

static bool fact_known(const struct handoff *h, uint32_t p, uint32_t q, const char *to)
{
    for (size_t i = 0; i < h->n_facts; i++)
        if (h->facts[i].p == p && h->facts[i].q == q && strcmp(h->facts[i].to, to) == 0)
            return true;
    return false;
}

/* Runs only when a fact arrived, the plan changed or a retry is due:
 * one pass over the needs, O(needs * facts). */
static void complete_partitions(struct handoff *h, uint64_t now_ms)
{
    uint32_t me;
    if ((!h->completion_due && now_ms < h->completion_retry_ms) ||
        ring_member_find(h->ring, h->node_id, &me) != KV_OK)
        return;
    h->completion_due = false;
    h->completion_retry_ms = UINT64_MAX;
    uint32_t nq = ring_partitions(h->ring);
    memset(h->missing, 0, nq);
    for (size_t i = 0; i < h->plan.n_needs; i++) {
        const struct ho_need *n = &h->plan.needs[i];
        if (ring_pending(h->ring, n->p) == me && !h->missing[n->p] && !fact_known(h, n->p, n->q, n->to))
            h->missing[n->p] = 1;
    }
    for (uint32_t p = 0; p < nq; p++) {
        if (ring_pending(h->ring, p) != me || h->missing[p])
            continue;
        if (now_ms < h->done_retry_ms[p]) {
            if (h->done_retry_ms[p] < h->completion_retry_ms)
                h->completion_retry_ms = h->done_retry_ms[p];
            continue;
        }
        h->done_retry_ms[p] = now_ms + HANDOFF_DONE_RETRY_MS;
        if (h->done_retry_ms[p] < h->completion_retry_ms)
            h->completion_retry_ms = h->done_retry_ms[p];
        int rc = h->cfg.ops.transfer_done(h->cfg.ops.ctx, p, h->node_id);
        if (rc == KV_OK) {
            h->stats.partitions_completed++; /* node/cluster.h logs the ring it installs */
        } else {
            log_warn("handoff", "cannot finish the transfer partition=%u status=\"%s\"", p, kv_status_str(rc));
        }
    }
}

/* ---- drops ---- */

static void drop_ranges(struct handoff *h, uint64_t now_ms)
{
    if (now_ms < h->ring_changed_ms + h->cfg.drop_delay_ms)
        return;
    uint32_t nq = ring_partitions(h->ring), dropped = 0;
    if (now_ms >= h->next_sweep_ms) {
        memset(h->held, 1, nq);
        h->next_sweep_ms = now_ms + HANDOFF_SWEEP_MS;
    }
    for (uint32_t q = 0; q < nq; q++) {
        if (!h->held[q] || h->plan.holder[q])
            continue;
        int rc = h->cfg.ops.drop(h->cfg.ops.ctx, q);
        if (rc != KV_OK && rc != KV_ENOTFOUND) {
            log_error("handoff", "cannot drop range=%u status=\"%s\"", q, kv_status_str(rc));
            break; /* tried again next tick */
        }
        h->held[q] = 0;
        dropped += rc == KV_OK;
    }
    h->stats.drops += dropped;
    if (dropped)
        log_info("handoff", "dropped %u ranges this node no longer holds (ring version=%llu)", dropped,
                 (unsigned long long)ring_version(h->ring));
}

/* ---- ticks ---- */

static void save(struct handoff *h, uint64_t now_ms)
{
    if (!h->dirty || now_ms < h->next_save_ms)
        return;
    struct kv_buf b = { 0 };
    int rc = ho_state_encode(h, &b);
    if (rc == KV_OK)
        rc = h->cfg.ops.save(h->cfg.ops.ctx, b.data, b.len);
    kv_buf_free(&b);
    h->next_save_ms = now_ms + HANDOFF_SAVE_INTERVAL_MS;
    if (rc == KV_OK)
        h->dirty = false;
}

void handoff_tick(struct handoff *h, uint64_t now_ms)
{
    if (!h->ring)
        return;
    if (ring_pending_count(h->ring) && now_ms >= h->next_replan_ms && replan(h, now_ms) != KV_OK)
        h->next_replan_ms = now_ms + HO_REPLAN_MS;
    refill(h, now_ms);
    run_streams(h, now_ms);
    send_notices(h, now_ms);
    complete_partitions(h, now_ms);
    drop_ranges(h, now_ms);
    save(h, now_ms);
}

uint64_t handoff_next_tick_ms(const struct handoff *h)
{
    if (!h->ring)
        return UINT64_MAX;
    if (h->plan.n_needs || h->dirty)
        return h->tokens_ms + HANDOFF_TICK_MS;
    return h->tokens_ms + 1000u; /* drops and sweeps */
}

/* ---- receiver side ---- */

static bool holds(const struct handoff *h, uint32_t q)
{
    return h->ring && q < ring_partitions(h->ring) && h->plan.holder[q];
}

/* Merges the items of a batch or forward; the first failure stops it. */
static int merge_items(struct handoff *h, const struct handoff_msg *m)
{
    uint32_t nq = ring_partitions(h->ring);
    for (uint32_t i = 0; i < m->n_items; i++) {
        const struct handoff_item *it = &m->items[i];
        if (ring_partition_of_key(it->key.data, it->key.len, nq) != m->range)
            return KV_EPROTO;
        int rc = h->cfg.ops.merge(h->cfg.ops.ctx, m->range, it->key, it->object);
        if (rc != KV_OK)
            return rc;
        h->stats.bytes_received += it->key.len + it->object.len;
    }
    h->stats.keys_received += m->n_items;
    return KV_OK;
}

static int on_batch(struct handoff *h, const char *from, const struct handoff_msg *m)
{
    int rc = holds(h, m->range) ? merge_items(h, m) : KV_ESTATE;
    struct handoff_msg reply = { .type = HANDOFF_MSG_BATCH_REPLY, .req_id = m->req_id, .status = rc };
    if (h->cfg.ops.send(h->cfg.ops.ctx, from, &reply) != KV_OK)
        log_debug("handoff", "batch reply not sent to=%s", from);
    return rc == KV_EPROTO ? rc : KV_OK;
}

int handoff_handle_message(struct handoff *h, const char *from, const struct handoff_msg *m, uint64_t now_ms)
{
    switch (m->type) {
    case HANDOFF_MSG_BATCH:
        return on_batch(h, from, m);
    case HANDOFF_MSG_BATCH_REPLY:
        on_batch_reply(h, from, m, now_ms);
        return KV_OK;
    case HANDOFF_MSG_FORWARD:
        if (!holds(h, m->range))
            return KV_OK; /* not ours (any more): the holders have it */
        h->stats.forwards_received++;
        return merge_items(h, m);
    case HANDOFF_MSG_DONE: {
        if (!m->to)
            return KV_EPROTO;
        const struct ho_need *n = h->ring ? ho_plan_find(&h->plan, m->partition, m->range, m->to) : NULL;
        if (n && strcmp(n->completer, h->node_id) == 0)
            return ho_fact_add(h, m->partition, m->range, m->to);
        return KV_OK; /* an older plan's notice */
    }
    }
    return KV_EPROTO;
}

void handoff_note_write(struct handoff *h, uint32_t range, struct kv_slice key, struct kv_slice object)
{
    if (!h->ring || range >= ring_partitions(h->ring) || !h->plan.pref_holder[range])
        return;
    struct handoff_item item = { key, object };
    struct handoff_msg m = { .type = HANDOFF_MSG_FORWARD, .range = range, .n_items = 1, .items = &item };
    const struct ho_plan *pl = &h->plan;
    for (size_t i = pl->first[range]; i < pl->first[range + 1]; i++) {
        const char *to = pl->needs[i].to;
        bool seen = false;
        for (size_t j = pl->first[range]; j < i && !seen; j++)
            seen = strcmp(pl->needs[j].to, to) == 0;
        if (seen || strcmp(to, h->node_id) == 0)
            continue;
        if (h->cfg.ops.send(h->cfg.ops.ctx, to, &m) == KV_OK)
            h->stats.forwards_sent++;
    }
}

/* ---- reports ---- */

size_t handoff_transfer_count(const struct handoff *h) { return h->n_streams; }

void handoff_transfer_at(const struct handoff *h, size_t i, struct handoff_transfer_info *out)
{
    const struct ho_stream *s = &h->streams[i];
    memset(out, 0, sizeof *out);
    out->partition = s->p;
    out->range = s->q;
    memcpy(out->to, s->to, sizeof out->to);
    out->done = s->done;
    out->active = !s->done && s->started_ms != 0;
    out->keys_sent = s->keys_sent;
    out->bytes_sent = s->bytes_sent;
    out->keys_total = s->keys_total;
    out->bytes_total = s->bytes_total;
    out->started_ms = s->started_ms;
    out->bytes_this_run = s->bytes_this_run;
}

void handoff_get_stats(const struct handoff *h, struct handoff_stats *out) { *out = h->stats; }
