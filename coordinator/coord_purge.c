/*
 * coord_purge.c - purging tombstones in a cluster (coordinator/README.md,
 * "Tombstones and their purge").
 *
 * A tombstone may be dropped only when every replica holds it (else a
 * replica that missed the delete brings the value back) and it is older
 * than the grace period. Knowing that "every replica holds it":
 *  1. The coordinator of a delete whose targets are the key's N primaries
 *     (no fallback) keeps the request after answering the client and waits
 *     for all N acks (coord_write.c). With all N, it sends PURGE_MARK
 *     (partition, key, the tombstone's dot) to each of them.
 *  2. A replica receiving it checks that its stored object is still dead
 *     and holds that tombstone, and stores a marker:
 *        key:   04 | partition:be16 | user key        (KEYSPACE_PURGE)
 *        value: dot_actor:fixed64 dot_counter:fixed64 marked_at_ms:fixed64
 *  3. coord_tick scans the markers (COORD_PURGE_SCAN_KEYS_MAX a scan,
 *     every COORD_PURGE_SCAN_MS). A marker at least tombstone_grace_ms
 *     old: if the object is still dead and still holds the tombstone, the
 *     DATA key is deleted (reported to the write hook) and compaction then
 *     drops it from disk; the marker is deleted either way.
 * A delete that reached fewer than N primaries (one was down) is never
 * marked: its tombstone stays. A lost PURGE_MARK only keeps a tombstone.
 *
 * Dots after a purge. A key absent here could be one that was purged,
 * while another replica (or a late hint) still holds its old clock, whose
 * counter for this node's actor would cover a new dot (actor, 1) and drop
 * that write. So with purge on, a write to a key this node does not hold
 * starts its actor's counter at the wall clock in ms (coord_purge_seed_clock):
 * above any counter of an older incarnation unless the clock went back by
 * more than the grace period, or one key took more than one write per ms
 * over its whole life.
 */
#include <inttypes.h>
#include <string.h>

#include "common/coding.h"
#include "common/log.h"
#include "coordinator/coord_internal.h"

#define PURGE_RECORD_BYTES 24u

/* Whether c->old is dead at now and holds the tombstone (actor, counter). */
static bool holds_dead_tombstone(const struct coord *c, uint64_t actor, uint64_t counter, uint64_t now)
{
    if (object_siblings(&c->old) == 0 || !object_is_dead(&c->old, now))
        return false;
    for (uint32_t i = 0; i < object_siblings(&c->old); i++) {
        uint64_t a, k;
        struct object_sibling s;
        object_sibling(&c->old, i, &s);
        if ((s.flags & OBJECT_FLAG_TOMBSTONE) && object_sibling_dot(&c->old, i, &a, &k) && a == actor &&
            k == counter)
            return true;
    }
    return false;
}

bool coord_purge_trackable(struct coord *c, struct coord_req *r, const struct coord_route *rt)
{
    if (!c->tombstone_grace_ms || r->ntargets != rt->n)
        return false;
    for (uint32_t i = 0; i < r->ntargets; i++)
        if (r->t[i].hint_for[0])
            return false;
    for (uint32_t e = 0; e < c->new.clock.nentries; e++) {
        const struct dvv_entry *en = &c->new.clock.entries[e];
        if (en->id != c->actor || en->nvalues == 0)
            continue;
        struct object_sibling s;
        object_sibling(&c->new, en->first, &s);
        r->purge_dot_counter = en->counter;
        return (s.flags & OBJECT_FLAG_TOMBSTONE) != 0;
    }
    return false;
}

void coord_purge_marks_send(struct coord *c, struct coord_req *r)
{
    struct coord_msg m = { .type = COORD_MSG_PURGE_MARK, .partition = r->partition,
                           .key = kv_slice_make(r->key.data, r->key.len), .dot_actor = c->actor,
                           .dot_counter = r->purge_dot_counter };
    for (uint32_t i = 0; i < r->ntargets; i++) {
        if (r->t[i].local)
            (void)coord_purge_mark(c, &m); /* a failure only keeps the tombstone */
        else
            coord_send(c, r->t[i].node, &m);
    }
}

int coord_purge_mark(struct coord *c, const struct coord_msg *m)
{
    if (!c->tombstone_grace_ms)
        return KV_OK; /* purge off here: the tombstone simply stays */
    if (coord_check_key(c, m->key) != KV_OK || m->key.len == 0 ||
        m->partition != keyspace_partition(&c->ks, m->key))
        return KV_EPROTO;
    int rc = coord_load(c, m->key);
    if (rc != KV_OK || !holds_dead_tombstone(c, m->dot_actor, m->dot_counter, coord_wall_ms(c)))
        return KV_OK; /* a newer write, or nothing here: nothing to purge */
    char rec[PURGE_RECORD_BYTES];
    kv_put_fixed64(rec, m->dot_actor);
    kv_put_fixed64(rec + 8, m->dot_counter);
    kv_put_fixed64(rec + 16, coord_wall_ms(c));
    c->ekey.data[0] = (char)KEYSPACE_PURGE; /* same layout as the DATA key coord_load built */
    rc = engine_put(c->engine, kv_slice_make(c->ekey.data, c->ekey.len), kv_slice_make(rec, sizeof rec));
    if (rc == KV_OK)
        c->stats.purge_marks++;
    return KV_OK;
}

int coord_purge_seed_clock(struct coord *c)
{
    if (!c->tombstone_grace_ms || c->stored_found)
        return KV_OK;
    /* clock := 1 entry (actor, wall ms, no values), no anonymous values (dvv.h) */
    char enc[1 + 8 + 10 + 1 + 1];
    char *p = enc;
    *p++ = 1;
    kv_put_fixed64(p, c->actor);
    p = kv_put_varint64(p + 8, coord_wall_ms(c) ? coord_wall_ms(c) : 1);
    *p++ = 0;
    *p++ = 0;
    return dvv_decode(kv_slice_make(enc, (size_t)(p - enc)), &c->old.clock);
}

/* Acts on one marker (its key and record, copied by the caller). */
static void purge_one(struct coord *c, struct kv_slice mkey, struct kv_slice rec, uint64_t wall)
{
    if (mkey.len <= KEYSPACE_PREFIX_BYTES || rec.len != PURGE_RECORD_BYTES)
        return;
    uint64_t actor = kv_get_fixed64(rec.data), counter = kv_get_fixed64(rec.data + 8);
    uint64_t marked = kv_get_fixed64(rec.data + 16);
    if (wall < marked || wall - marked < c->tombstone_grace_ms)
        return;
    struct kv_slice ukey = kv_slice_make(mkey.data + KEYSPACE_PREFIX_BYTES, mkey.len - KEYSPACE_PREFIX_BYTES);
    if (coord_check_key(c, ukey) == KV_OK && coord_load(c, ukey) == KV_OK &&
        holds_dead_tombstone(c, actor, counter, wall)) {
        int rc = engine_delete(c->engine, kv_slice_make(c->ekey.data, c->ekey.len));
        if (rc == KV_OK) {
            coord_note_write(c, ukey, kv_slice_make(c->stored.data, c->stored.len), kv_slice_make(NULL, 0));
            c->stats.tombstones_purged++;
        } else {
            log_warn("coord", "tombstone purge failed status=\"%s\"", kv_status_str(rc));
            return; /* the marker stays: retried at the next scan */
        }
    }
    int rc = engine_delete(c->engine, mkey); /* purged, or stale: the object changed */
    if (rc != KV_OK)
        log_warn("coord", "purge marker not deleted status=\"%s\"", kv_status_str(rc));
}

void coord_purge_tick(struct coord *c, uint64_t now)
{
    if (!c->tombstone_grace_ms || now < c->purge_next_ms)
        return;
    c->purge_next_ms = now + COORD_PURGE_SCAN_MS;
    /* Collect up to COORD_PURGE_SCAN_KEYS_MAX markers first: the engine is
     * changed only once the iterator is gone. */
    struct kv_buf keys = { 0 }, recs = { 0 };
    size_t offs[COORD_PURGE_SCAN_KEYS_MAX + 1], roffs[COORD_PURGE_SCAN_KEYS_MAX + 1];
    uint32_t n = 0;
    struct engine_iter *it;
    if (engine_iter_new(c->engine, NULL, &it) != KV_OK)
        return;
    char first = (char)KEYSPACE_PURGE;
    struct kv_slice from = c->purge_cursor.len ? kv_slice_make(c->purge_cursor.data, c->purge_cursor.len)
                                               : kv_slice_make(&first, 1);
    int rc = KV_OK;
    offs[0] = roffs[0] = 0;
    for (engine_iter_seek(it, from); engine_iter_valid(it) && n < COORD_PURGE_SCAN_KEYS_MAX; engine_iter_next(it)) {
        struct kv_slice k = engine_iter_key(it), v = engine_iter_value(it);
        if (k.len == 0 || (unsigned char)k.data[0] != KEYSPACE_PURGE)
            break;
        if (c->purge_cursor.len && kv_slice_eq(k, kv_slice_make(c->purge_cursor.data, c->purge_cursor.len)))
            continue; /* resume after the cursor */
        if ((rc = kv_buf_append(&keys, k.data, k.len)) != KV_OK || (rc = kv_buf_append(&recs, v.data, v.len)) != KV_OK)
            break;
        n++;
        offs[n] = keys.len;
        roffs[n] = recs.len;
    }
    bool more = n == COORD_PURGE_SCAN_KEYS_MAX;
    engine_iter_free(it);
    uint64_t wall = coord_wall_ms(c);
    for (uint32_t i = 0; i < n && rc == KV_OK; i++)
        purge_one(c, kv_slice_make(keys.data + offs[i], offs[i + 1] - offs[i]),
                  kv_slice_make(recs.data + roffs[i], roffs[i + 1] - roffs[i]), wall);
    if (rc == KV_OK && more)
        rc = kv_buf_set(&c->purge_cursor, keys.data + offs[n - 1], offs[n] - offs[n - 1]);
    else
        kv_buf_reset(&c->purge_cursor);
    kv_buf_free(&keys);
    kv_buf_free(&recs);
}

uint64_t coord_purge_next_ms(const struct coord *c)
{
    return c->tombstone_grace_ms ? c->purge_next_ms : UINT64_MAX;
}
