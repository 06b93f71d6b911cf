/*
 * coord_replica.c - the replica side: serving REPLICA_GET, merging
 * REPLICA_PUT and HINT into the local object, keeping hints.
 *
 * A replica never makes a version of its own: it merges what it is sent
 * with what it holds (object_merge: causal, commutative, idempotent), so
 * duplicated, reordered or repeated messages leave the same object, and
 * stores the merge only if it changed anything. Merges may hold up to
 * DVV_VALUES_MAX siblings: concurrent writes through different
 * coordinators can pass the configured siblings_max together, and a
 * replica must keep them rather than drop one (the next coordinated
 * write reports KV_ETOOBIG unless its context resolves them).
 *
 * A fallback keeps what it is sent for a down primary under a hint key
 * (keyspace.h) as a hint record (hint.h), merging with a hint it already
 * has for that key, durably before it acknowledges; coord_hints.c hands
 * it over later. A REPLICA_GET naming hint_for is answered from the hint,
 * so a sloppy quorum can read what it wrote.
 */
#include <inttypes.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/coord_internal.h"

/* The checks every replica request passes: a key within limits whose
 * partition is the one the coordinator computed (same Q, same hash). */
static int check_request(const struct coord *c, const struct coord_msg *m)
{
    int rc = coord_check_key(c, m->key);
    if (rc == KV_OK && m->partition != keyspace_partition(&c->ks, m->key))
        rc = KV_EINVAL;
    return rc;
}

static bool names_other(const struct coord *c, const char *hint_for)
{
    return hint_for && hint_for[0] && strcmp(hint_for, c->node_id) != 0;
}

static int hint_key(struct coord *c, const char *target, uint32_t partition, struct kv_slice key)
{
    size_t tlen = strlen(target);
    int rc = kv_buf_reserve(&c->ekey, KEYSPACE_HINT_PREFIX_BYTES(tlen) + key.len);
    if (rc == KV_OK)
        c->ekey.len = keyspace_hint_encode(kv_slice_make(target, tlen), partition, key, c->ekey.data);
    return rc;
}

/* Reads the object a REPLICA_GET asks for into *obj (empty: none). */
static int read_object(struct coord *c, const struct coord_msg *m, struct kv_slice *obj)
{
    bool hint = names_other(c, m->hint_for);
    int rc = KV_OK;
    if (hint) {
        rc = hint_key(c, m->hint_for, m->partition, m->key);
    } else if ((rc = kv_buf_reserve(&c->ekey, KEYSPACE_PREFIX_BYTES + m->key.len)) == KV_OK) {
        c->ekey.len = keyspace_encode(&c->ks, KEYSPACE_DATA, m->key, c->ekey.data);
    }
    if (rc == KV_OK)
        rc = engine_get(c->engine, NULL, kv_slice_make(c->ekey.data, c->ekey.len), &c->stored);
    if (rc == KV_ENOTFOUND) {
        *obj = kv_slice_make(NULL, 0);
        return KV_OK;
    }
    if (rc != KV_OK)
        return rc;
    *obj = kv_slice_make(c->stored.data, c->stored.len);
    if (hint) {
        uint64_t at;
        rc = hint_record_decode(*obj, &at, obj);
    }
    return rc;
}

void coord_replica_get(struct coord *c, const char *from, const struct coord_msg *m)
{
    struct kv_slice obj = { NULL, 0 };
    c->stats.replica_gets++;
    int rc = check_request(c, m);
    if (rc == KV_OK)
        rc = read_object(c, m, &obj);
    c->stats.replica_errors += rc != KV_OK;
    struct coord_msg reply = { .type = COORD_MSG_REPLICA_GET_REPLY, .req_id = m->req_id, .status = rc };
    if (rc == KV_OK && obj.len) {
        reply.found = true;
        reply.object = obj;
    }
    coord_send(c, from, &reply);
}

int coord_merge_store(struct coord *c, struct kv_slice key, struct kv_slice object)
{
    int rc = object_decode(object, &c->rin);
    if (rc == KV_OK)
        rc = coord_load(c, key);
    if (rc != KV_OK)
        return rc;
    struct kv_slice k = kv_slice_make(c->ekey.data, c->ekey.len);
    if (object_siblings(&c->old) == 0 && c->old.clock.nentries == 0) {
        rc = engine_put(c->engine, k, object); /* checked canonical by object_decode */
        if (rc == KV_OK)
            coord_note_write(c, key, c->stored_found ? kv_slice_make(c->stored.data, c->stored.len)
                                                     : kv_slice_make(NULL, 0), object);
        return rc;
    }
    rc = object_merge(&c->old, &c->rin, DVV_VALUES_MAX, &c->rout);
    if (rc == KV_OK) {
        kv_buf_reset(&c->rbuf);
        rc = object_encode(&c->rout, &c->rbuf);
    }
    if (rc != KV_OK)
        return rc;
    struct kv_slice merged = kv_slice_make(c->rbuf.data, c->rbuf.len);
    if (kv_slice_eq(merged, kv_slice_make(c->stored.data, c->stored.len)))
        return KV_OK; /* nothing new: an old or repeated message */
    rc = engine_put(c->engine, k, merged);
    if (rc == KV_OK)
        coord_note_write(c, key, kv_slice_make(c->stored.data, c->stored.len), merged);
    return rc;
}

int coord_merge_local(struct coord *c, struct kv_slice key, struct kv_slice object)
{
    int rc = coord_check_key(c, key);
    return rc == KV_OK ? coord_merge_store(c, key, object) : rc;
}

/* The object of the hint at c->ekey merged with c->rin, into c->rbuf.
 * *fresh: there was no hint. *old_bytes: key + record bytes of the hint
 * held now (0 if none; an unreadable one is replaced and counted). */
static int hint_merge(struct coord *c, struct kv_slice object, struct kv_slice *out, bool *fresh,
                      uint64_t *old_bytes)
{
    int rc = engine_get(c->engine, NULL, kv_slice_make(c->ekey.data, c->ekey.len), &c->stored);
    *fresh = rc == KV_ENOTFOUND;
    *old_bytes = rc == KV_OK ? c->ekey.len + c->stored.len : 0;
    if (*fresh) {
        *out = object;
        return KV_OK;
    }
    uint64_t at;
    struct kv_slice old;
    if (rc == KV_OK)
        rc = hint_record_decode(kv_slice_make(c->stored.data, c->stored.len), &at, &old);
    if (rc == KV_OK)
        rc = object_decode(old, &c->old);
    if (rc == KV_ECORRUPT) {
        log_error("coord", "unreadable hint replaced key_bytes=%zu", c->ekey.len);
        *out = object;
        return KV_OK;
    }
    if (rc == KV_OK)
        rc = object_merge(&c->old, &c->rin, DVV_VALUES_MAX, &c->rout);
    if (rc == KV_OK) {
        kv_buf_reset(&c->rbuf);
        rc = object_encode(&c->rout, &c->rbuf);
    }
    if (rc == KV_OK)
        *out = kv_slice_make(c->rbuf.data, c->rbuf.len);
    return rc;
}

/* The hint store is full: counted, logged once until a hint is freed. */
static int hint_refuse(struct coord *c, const char *target, uint64_t more_bytes)
{
    c->stats.hints_refused++;
    if (!c->hints_full)
        log_warn("coord", "hint refused: hints held would pass --hints-bytes-max target=%s held_bytes=%" PRIu64
                 " more_bytes=%" PRIu64 " max_bytes=%" PRIu64, target, c->stats.hints_bytes, more_bytes,
                 c->hints_bytes_max);
    c->hints_full = true;
    return KV_ENOSPC;
}

int coord_hint_store(struct coord *c, const char *target, uint32_t partition, struct kv_slice key,
                     struct kv_slice object)
{
    struct kv_slice merged;
    bool fresh = false;
    uint64_t old_bytes = 0;
    int rc = object_decode(object, &c->rin);
    if (rc == KV_OK)
        rc = hint_key(c, target, partition, key);
    if (rc == KV_OK)
        rc = hint_merge(c, object, &merged, &fresh, &old_bytes);
    if (rc == KV_OK) {
        kv_buf_reset(&c->hbuf);
        rc = hint_record_encode(coord_wall_ms(c), merged, &c->hbuf);
    }
    /* The other hints' bytes (floored at 0 should the count have drifted). */
    uint64_t others = c->stats.hints_bytes > old_bytes ? c->stats.hints_bytes - old_bytes : 0;
    uint64_t new_bytes = c->ekey.len + c->hbuf.len;
    if (rc == KV_OK && new_bytes > old_bytes && others + new_bytes > c->hints_bytes_max)
        rc = hint_refuse(c, target, new_bytes - old_bytes);
    if (rc == KV_OK)
        rc = engine_put(c->engine, kv_slice_make(c->ekey.data, c->ekey.len),
                        kv_slice_make(c->hbuf.data, c->hbuf.len));
    if (rc != KV_OK)
        return rc;
    c->stats.hints_bytes = others + new_bytes;
    c->stats.hints_stored++;
    if (fresh && c->stats.hints_pending++ == 0)
        c->hint_next_scan_ms = c->now_ms + COORD_HINT_SCAN_IDLE_MS;
    return KV_OK;
}

void coord_replica_put(struct coord *c, const char *from, const struct coord_msg *m)
{
    c->stats.replica_puts++;
    int rc = check_request(c, m);
    if (rc == KV_OK) {
        if (m->type == COORD_MSG_REPLICA_PUT && names_other(c, m->hint_for))
            rc = coord_hint_store(c, m->hint_for, m->partition, m->key, m->object);
        else
            rc = coord_merge_store(c, m->key, m->object);
    }
    if (rc != KV_OK) {
        c->stats.replica_errors++;
        if (rc != KV_ECORRUPT && rc != KV_EINVAL && rc != KV_ETOOBIG &&
            !(rc == KV_ENOSPC && c->hints_full)) /* a full hint store logs in hint_refuse */
            log_error("coord", "replica write failed from=%s status=%s", from, kv_status_str(rc));
    }
    if (m->req_id == 0)
        return;
    struct coord_msg reply = { .type = m->type == COORD_MSG_HINT ? COORD_MSG_HINT_REPLY : COORD_MSG_REPLICA_PUT_REPLY,
                               .req_id = m->req_id, .status = rc };
    coord_send(c, from, &reply);
}
