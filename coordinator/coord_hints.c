/*
 * coord_hints.c - hinted handoff: handing stored hints to their owners.
 *
 * Hints live in the engine (keyspace.h HINT kind), so they survive a
 * restart; coord_new counts them. While any are pending, ticks scan the
 * HINT range from a cursor, at most COORD_HINT_SCAN_KEYS_MAX keys a tick:
 *  - a hint older than hint_ttl_ms (by its stored_at_ms, wall clock) is
 *    deleted undelivered and counted as expired;
 *  - a hint whose owner gossip holds up, that is not in backoff and not
 *    already on its way, is sent as a HINT message if the rate bucket
 *    (hints_per_sec) has a token and fewer than hint_deliveries_max
 *    deliveries await their ack;
 *  - the owner merges it into its own copy, durably, and acknowledges;
 *    only then is the hint deleted - and only if it still holds exactly
 *    what was sent (its hash is kept with the delivery): a write merged
 *    into the hint meanwhile keeps it for the next round;
 *  - a failed or timed-out delivery puts the owner in backoff
 *    (hint_backoff_ms: doubling from hint_retry_min_ms, jittered).
 * A full pass that sent nothing waits COORD_HINT_SCAN_IDLE_MS for the
 * next; coord_peer_up cuts that wait short when an owner comes back.
 * Delivering twice is harmless: merges are idempotent.
 *
 * Cap: stats.hints_bytes counts the key + record bytes of every hint held
 * (counted at start by the same scan as hints_pending, then kept by
 * coord_hint_store and coord_hints_removed). A hint write that would take
 * it past hints_bytes_max is refused KV_ENOSPC, so the coordinator of
 * that write counts this fallback as a failed replica: the write then
 * succeeds only if W is met without it (else it is in doubt), and the
 * down node catches up by read repair or anti-entropy instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "coordinator/coord_internal.h"

/* Counts the hint keys in the engine and their key + record bytes. */
static int count_hints(struct coord *c, uint64_t *out, uint64_t *bytes_out)
{
    struct engine_iter *it;
    int rc = engine_iter_new(c->engine, NULL, &it);
    if (rc != KV_OK)
        return rc;
    char first = (char)KEYSPACE_HINT;
    uint64_t n = 0, bytes = 0;
    for (engine_iter_seek(it, kv_slice_make(&first, 1)); engine_iter_valid(it); engine_iter_next(it)) {
        struct kv_slice k = engine_iter_key(it);
        if (k.len == 0 || (unsigned char)k.data[0] != KEYSPACE_HINT)
            break;
        n++;
        bytes += k.len + engine_iter_value(it).len;
    }
    rc = engine_iter_status(it);
    engine_iter_free(it);
    if (rc == KV_OK)
        *out = n, *bytes_out = bytes;
    return rc;
}

int coord_hints_init(struct coord *c, const struct coord_config *cfg)
{
    c->hint_ttl_ms = cfg->hint_ttl_ms;
    c->hint_deliveries_max = cfg->hint_deliveries_max;
    c->hint_retry_min_ms = cfg->hint_retry_min_ms;
    c->hint_retry_max_ms = cfg->hint_retry_max_ms;
    c->hint_timeout_ms = cfg->hint_timeout_ms;
    c->hints_bytes_max = cfg->hints_bytes_max;
    hint_bucket_init(&c->bucket, cfg->hints_per_sec, c->now_ms);
    c->hint_reqs = calloc(cfg->hint_deliveries_max, sizeof *c->hint_reqs);
    if (!c->hint_reqs)
        return KV_ENOMEM;
    int rc = count_hints(c, &c->stats.hints_pending, &c->stats.hints_bytes);
    if (rc != KV_OK)
        log_error("coord", "cannot count stored hints status=%s", kv_status_str(rc));
    c->hint_next_scan_ms = c->now_ms;
    return rc;
}

void coord_hints_free(struct coord *c)
{
    free(c->hint_reqs);
    free(c->peers);
    kv_buf_free(&c->hint_cursor);
}

void coord_hints_removed(struct coord *c, uint64_t bytes)
{
    c->stats.hints_pending -= c->stats.hints_pending > 0;
    c->stats.hints_bytes -= bytes < c->stats.hints_bytes ? bytes : c->stats.hints_bytes;
    c->hints_full = false;
}

uint64_t coord_hints_next_ms(const struct coord *c)
{
    return c->stats.hints_pending ? c->hint_next_scan_ms : UINT64_MAX;
}

static struct hint_peer *peer_find(struct coord *c, struct kv_slice id, bool create)
{
    for (uint32_t i = 0; i < c->npeers; i++)
        if (strlen(c->peers[i].id) == id.len && memcmp(c->peers[i].id, id.data, id.len) == 0)
            return &c->peers[i];
    if (!create || coord_grow((void **)&c->peers, &c->peers_cap, c->npeers + 1, sizeof c->peers[0]) != KV_OK)
        return NULL;
    struct hint_peer *p = &c->peers[c->npeers++];
    memset(p, 0, sizeof *p);
    memcpy(p->id, id.data, id.len);
    return p;
}

void coord_peer_up(struct coord *c, const char *node_id, uint64_t now_ms)
{
    if (!c->cluster)
        return;
    struct hint_peer *p = peer_find(c, kv_slice_str(node_id), false);
    if (p)
        p->failures = 0, p->next_ms = 0;
    if (c->stats.hints_pending && c->hint_next_scan_ms > now_ms)
        c->hint_next_scan_ms = now_ms;
}

static bool in_flight(struct coord *c, struct kv_slice ekey)
{
    for (uint32_t i = 0; i < c->hints_in_flight; i++) {
        struct coord_req *r = coord_req_find(c, c->hint_reqs[i]);
        if (r && kv_slice_eq(kv_slice_make(r->hint_key.data, r->hint_key.len), ekey))
            return true;
    }
    return false;
}

/* Whether the hint at ekey for target may go now. */
static bool deliverable(struct coord *c, struct kv_slice ekey, struct kv_slice target, uint64_t now)
{
    coord_node_id id;
    memcpy(id, target.data, target.len);
    id[target.len] = 0;
    if (strcmp(id, c->node_id) == 0 || !c->cops.alive(c->cops.ctx, id))
        return false;
    struct hint_peer *p = peer_find(c, target, false);
    return (!p || p->next_ms <= now) && !in_flight(c, ekey);
}

/* Sends one hint to its owner as a HINT request. */
static int send_hint(struct coord *c, struct kv_slice ekey, struct kv_slice target, uint32_t partition,
                     struct kv_slice key, struct kv_slice rec, struct kv_slice object, uint64_t now)
{
    struct coord_req *r = coord_req_new(c, REQ_HINT, now, c->hint_timeout_ms);
    if (!r)
        return KV_EBUSY;
    int rc = kv_buf_set(&r->hint_key, ekey.data, ekey.len);
    if (rc != KV_OK) {
        coord_req_release(c, r);
        return rc;
    }
    r->hint_hash = kv_hash64(rec.data, rec.len, 0);
    r->ntargets = 1;
    coord_req_target_init(r, 0, target);
    r->tally = (struct quorum_tally){ 1, 1, 0, 0 };
    c->hint_reqs[c->hints_in_flight++] = r->id;
    struct coord_msg m = { .type = COORD_MSG_HINT, .req_id = r->id, .partition = partition, .key = key,
                           .object = object };
    coord_send(c, r->t[0].node, &m);
    return KV_OK;
}

enum scan_step { SCAN_NEXT, SCAN_SENT, SCAN_STOP_FULL, SCAN_STOP_RATE };

/* One hint key met by the scan: expire it, send it, or pass it by. */
static enum scan_step scan_one(struct coord *c, struct kv_slice ekey, struct kv_slice rec, uint64_t now)
{
    struct kv_slice target, key, object;
    uint32_t partition;
    uint64_t stored_at;
    if (keyspace_hint_decode(&c->ks, ekey, &target, &partition, &key) != KV_OK ||
        hint_record_decode(rec, &stored_at, &object) != KV_OK)
        return SCAN_NEXT; /* never drop what cannot be read; logged by nobody, counted nowhere: rare */
    if (hint_expired(stored_at, coord_wall_ms(c), c->hint_ttl_ms)) {
        if (engine_delete(c->engine, ekey) == KV_OK) {
            struct hint_peer *p = peer_find(c, target, true);
            if (p)
                p->expired++;
            c->stats.hints_expired++;
            coord_hints_removed(c, ekey.len + rec.len);
        }
        return SCAN_NEXT;
    }
    if (c->hints_in_flight >= c->hint_deliveries_max)
        return SCAN_STOP_FULL;
    if (!deliverable(c, ekey, target, now))
        return SCAN_NEXT;
    if (!hint_bucket_take(&c->bucket, now))
        return SCAN_STOP_RATE;
    return send_hint(c, ekey, target, partition, key, rec, object, now) == KV_OK ? SCAN_SENT : SCAN_STOP_FULL;
}

/* Walks hint keys from the cursor; returns when to scan next. */
static uint64_t scan(struct coord *c, struct engine_iter *it, uint64_t now)
{
    char first = (char)KEYSPACE_HINT;
    bool sent = false;
    engine_iter_seek(it, c->hint_cursor.len ? kv_slice_make(c->hint_cursor.data, c->hint_cursor.len)
                                            : kv_slice_make(&first, 1));
    for (uint32_t n = 0; engine_iter_valid(it); engine_iter_next(it), n++) {
        struct kv_slice k = engine_iter_key(it);
        if (k.len == 0 || (unsigned char)k.data[0] != KEYSPACE_HINT)
            break;
        enum scan_step st = n < COORD_HINT_SCAN_KEYS_MAX ? scan_one(c, k, engine_iter_value(it), now) : SCAN_STOP_FULL;
        sent |= st == SCAN_SENT;
        if (st == SCAN_STOP_FULL || st == SCAN_STOP_RATE) {
            /* Resume at this key: it was not handled. */
            if (kv_buf_set(&c->hint_cursor, k.data, k.len) != KV_OK)
                kv_buf_reset(&c->hint_cursor);
            if (st == SCAN_STOP_RATE)
                return hint_bucket_next_ms(&c->bucket, now);
            return c->hints_in_flight >= c->hint_deliveries_max ? now + COORD_HINT_SCAN_IDLE_MS : now + 1;
        }
    }
    kv_buf_reset(&c->hint_cursor);
    return sent ? now + 1 : now + COORD_HINT_SCAN_IDLE_MS;
}

void coord_hints_tick(struct coord *c, uint64_t now)
{
    if (c->stats.hints_pending == 0 || now < c->hint_next_scan_ms)
        return;
    struct engine_iter *it;
    int rc = engine_iter_new(c->engine, NULL, &it);
    if (rc != KV_OK) {
        log_error("coord", "hint scan failed status=%s", kv_status_str(rc));
        c->hint_next_scan_ms = now + COORD_HINT_SCAN_IDLE_MS;
        return;
    }
    c->hint_next_scan_ms = scan(c, it, now);
    engine_iter_free(it);
}

/* A delivery ended: off the in-flight list, the request released. */
static void delivery_end(struct coord *c, struct coord_req *r)
{
    for (uint32_t i = 0; i < c->hints_in_flight; i++) {
        if (c->hint_reqs[i] == r->id) {
            c->hint_reqs[i] = c->hint_reqs[--c->hints_in_flight];
            break;
        }
    }
    coord_req_release(c, r);
    /* A slot is free: the next tick may send more. */
    if (c->stats.hints_pending && c->hint_next_scan_ms > c->now_ms + 1)
        c->hint_next_scan_ms = c->now_ms + 1;
}

static void delivery_failed(struct coord *c, struct coord_req *r)
{
    struct hint_peer *p = peer_find(c, kv_slice_str(r->t[0].node), true);
    c->stats.hint_failures++;
    if (p) {
        p->failed++;
        p->failures++;
        p->next_ms = c->now_ms + hint_backoff_ms(p->failures, c->hint_retry_min_ms, c->hint_retry_max_ms, &c->rand);
    }
    delivery_end(c, r);
}

/* The owner has it: delete the hint if it still holds what was sent. */
static void delivered(struct coord *c, struct coord_req *r)
{
    struct kv_slice ekey = kv_slice_make(r->hint_key.data, r->hint_key.len);
    int rc = engine_get(c->engine, NULL, ekey, &c->stored);
    if (rc == KV_OK && kv_hash64(c->stored.data, c->stored.len, 0) == r->hint_hash) {
        rc = engine_delete(c->engine, ekey);
        if (rc == KV_OK) {
            struct hint_peer *p = peer_find(c, kv_slice_str(r->t[0].node), true);
            if (p)
                p->delivered++;
            c->stats.hints_delivered++;
            coord_hints_removed(c, ekey.len + c->stored.len);
        } else {
            log_error("coord", "cannot delete delivered hint status=%s", kv_status_str(rc));
        }
    }
    struct hint_peer *p = peer_find(c, kv_slice_str(r->t[0].node), false);
    if (p)
        p->failures = 0, p->next_ms = 0;
    delivery_end(c, r);
}

void coord_hint_reply(struct coord *c, struct coord_req *r, const char *from, const struct coord_msg *m)
{
    if (!coord_req_target(r, from))
        return;
    if (m->status == KV_OK)
        delivered(c, r);
    else
        delivery_failed(c, r);
}

void coord_hint_deadline(struct coord *c, struct coord_req *r) { delivery_failed(c, r); }

/* ---- the per-target report ---- */

/* The report entry of target, added (zeroed, peer counters copied) if new.
 * NULL when cap entries are taken. */
static struct coord_hint_target *report_entry(struct coord *c, struct coord_hint_target *out, size_t cap,
                                              size_t *n, struct kv_slice target)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen(out[i].node_id) == target.len && memcmp(out[i].node_id, target.data, target.len) == 0)
            return &out[i];
    if (*n == cap || target.len > KV_NODE_ID_BYTES_MAX)
        return NULL;
    struct coord_hint_target *t = &out[(*n)++];
    memset(t, 0, sizeof *t);
    memcpy(t->node_id, target.data, target.len);
    const struct hint_peer *p = peer_find(c, target, false);
    if (p) {
        t->delivered = p->delivered;
        t->expired = p->expired;
        t->failed = p->failed;
    }
    return t;
}

static int by_node_id(const void *a, const void *b)
{
    return strcmp(((const struct coord_hint_target *)a)->node_id, ((const struct coord_hint_target *)b)->node_id);
}

int coord_hint_report(struct coord *c, struct coord_hint_target *out, size_t cap, size_t *n_out)
{
    struct engine_iter *it;
    int rc = engine_iter_new(c->engine, NULL, &it);
    if (rc != KV_OK)
        return rc;
    size_t n = 0;
    uint64_t wall = coord_wall_ms(c);
    char first = (char)KEYSPACE_HINT;
    for (engine_iter_seek(it, kv_slice_make(&first, 1)); engine_iter_valid(it); engine_iter_next(it)) {
        struct kv_slice k = engine_iter_key(it), v = engine_iter_value(it), target, key, object;
        if (k.len == 0 || (unsigned char)k.data[0] != KEYSPACE_HINT)
            break;
        uint32_t partition;
        uint64_t stored_at;
        if (keyspace_hint_decode(&c->ks, k, &target, &partition, &key) != KV_OK)
            continue; /* unreadable keys are skipped by delivery too */
        struct coord_hint_target *t = report_entry(c, out, cap, &n, target);
        if (!t)
            continue;
        t->held++;
        t->bytes += k.len + v.len;
        if (hint_record_decode(v, &stored_at, &object) == KV_OK && wall > stored_at &&
            wall - stored_at > t->oldest_age_ms)
            t->oldest_age_ms = wall - stored_at;
    }
    rc = engine_iter_status(it);
    engine_iter_free(it);
    if (rc != KV_OK)
        return rc;
    /* Targets with nothing held now but a history since start-up. */
    for (uint32_t i = 0; i < c->npeers; i++) {
        const struct hint_peer *p = &c->peers[i];
        if (p->delivered || p->expired || p->failed)
            (void)report_entry(c, out, cap, &n, kv_slice_str(p->id));
    }
    qsort(out, n, sizeof *out, by_node_id);
    *n_out = n;
    return KV_OK;
}
