/*
 * coord_local.c - requests against the local engine (see coord_internal.h).
 *
 * Every write is read-modify-write of one engine key: engine_get, decode
 * the object (no copy: the clock borrows the read buffer), dvv_update
 * with the new record(s) under this node's actor, encode, engine_put. All
 * buffers live in struct coord and are reused, so a steady stream of
 * requests does not allocate. Standalone this is the whole request; in a
 * cluster the coordinating primary does exactly this first (its local
 * write is one of the W) and then ships c->encoded to the other replicas.
 *
 * Read-modify-write is safe without a lock because one thread owns a
 * coord and nothing else writes DATA keys of this engine.
 *
 * Why the actor's own local copy matters: a new dot (actor, k) must never
 * have been used for another value of the key. This node writes locally
 * before it sends anything, so its stored object always holds its latest
 * dot for the key; that is why only primaries coordinate writes (others
 * forward, coord_write.c).
 */
#include <inttypes.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "coordinator/coord_internal.h"

int coord_check_key(const struct coord *c, struct kv_slice key)
{
    if (key.len > 0 && !key.data)
        return KV_EINVAL;
    return key.len > c->key_bytes_max ? KV_ETOOBIG : KV_OK;
}

int coord_check_write(const struct coord *c, const struct coord_write *w)
{
    int rc = coord_check_key(c, w->key);
    if (rc != KV_OK)
        return rc;
    if (w->op < COORD_OP_PUT || w->op > COORD_OP_MAX)
        return KV_EINVAL;
    if ((w->context.len && !w->context.data) || (w->value.len && !w->value.data))
        return KV_EINVAL;
    if (w->op == COORD_OP_PUT &&
        ((unsigned)w->condition > COORD_PUT_IF_EXISTS || w->ttl_ms > COORD_TTL_MS_MAX))
        return KV_EINVAL;
    if (w->op == COORD_OP_EXPIRE && w->arg > 0 && (uint64_t)w->arg > COORD_TTL_MS_MAX)
        return KV_EINVAL;
    return w->op == COORD_OP_PUT && w->value.len > c->value_bytes_max ? KV_ETOOBIG : KV_OK;
}

/* ---- load and store ---- */

int coord_load(struct coord *c, struct kv_slice key)
{
    int rc = kv_buf_reserve(&c->ekey, KEYSPACE_PREFIX_BYTES + key.len);
    if (rc != KV_OK)
        return rc;
    c->ekey.len = keyspace_encode(&c->ks, KEYSPACE_DATA, key, c->ekey.data);
    rc = engine_get(c->engine, NULL, kv_slice_make(c->ekey.data, c->ekey.len), &c->stored);
    c->stored_found = rc == KV_OK;
    if (rc == KV_ENOTFOUND) {
        object_clear(&c->old);
        return KV_OK;
    }
    if (rc != KV_OK)
        return rc;
    rc = object_decode(kv_slice_make(c->stored.data, c->stored.len), &c->old);
    if (rc == KV_ECORRUPT)
        log_error("coord", "stored object is corrupt partition=%" PRIu32 " key_bytes=%zu object_bytes=%zu",
                  keyspace_partition(&c->ks, key), key.len, c->stored.len);
    return rc;
}

/* Writes new = update(ctx, old, this node, vals) under c->ekey, either
 * directly or into the pending batch. */
static int store(struct coord *c, const struct dvv *ctx, const struct kv_slice *vals, uint32_t n)
{
    int rc = dvv_update(ctx, &c->old.clock, c->actor, vals, n, c->siblings_max, &c->new.clock);
    if (rc != KV_OK)
        return rc;
    if (c->lww)
        object_lww_resolve(&c->new);
    kv_buf_reset(&c->encoded);
    rc = object_encode(&c->new, &c->encoded);
    if (rc != KV_OK)
        return rc;
    if (c->encoded.len > c->object_bytes_max)
        return KV_ETOOBIG;
    struct kv_slice k = kv_slice_make(c->ekey.data, c->ekey.len);
    struct kv_slice v = kv_slice_make(c->encoded.data, c->encoded.len);
    rc = c->active ? engine_batch_put(c->active, k, v) : engine_put(c->engine, k, v);
    /* A disk error may come after the record reached the log (a failed
     * fsync): the engine stops, and its next open may replay the write.
     * So the write is in doubt, not refused (found by the sim campaign,
     * seed 90141 of test_sim_quorum). */
    if (rc == KV_EIO || rc == KV_ENOSPC)
        rc = KV_EINDOUBT;
    c->wrote = rc == KV_OK;
    if (rc == KV_OK && !c->active) /* see coord_write_hook: engine batches are standalone only */
        coord_note_write(c, kv_slice_make(c->ekey.data + KEYSPACE_PREFIX_BYTES, c->ekey.len - KEYSPACE_PREFIX_BYTES),
                         c->stored_found ? kv_slice_make(c->stored.data, c->stored.len) : kv_slice_make(NULL, 0), v);
    return rc;
}

void coord_note_write(struct coord *c, struct kv_slice key, struct kv_slice old_object, struct kv_slice new_object)
{
    if (c->hook.wrote)
        c->hook.wrote(c->hook.ctx, keyspace_partition(&c->ks, key), key, old_object, new_object);
}

/* Appends a new sibling record to c->records. Last-writer-wins: stamped
 * with the wall clock, but above every stamp c->old holds, so this write
 * beats what its coordinator has seen even if the clock went back. */
static int append_record(struct coord *c, uint8_t flags, uint64_t exp, struct kv_slice payload)
{
    flags &= (uint8_t)~OBJECT_FLAG_STAMPED;
    if (!c->lww)
        return object_record_append(&c->records, flags, exp, payload);
    uint64_t stamp = coord_wall_ms(c), seen = object_max_stamp(&c->old);
    if (seen >= stamp)
        stamp = seen + 1;
    return object_record_append_stamped(&c->records, flags | OBJECT_FLAG_STAMPED, exp, stamp, payload);
}

int coord_make_context(struct coord *c, const struct dvv *clock, struct kv_slice *out)
{
    kv_buf_reset(&c->ctx);
    int rc = dvv_context_encode(clock, &c->ctx);
    if (rc == KV_OK)
        *out = kv_slice_make(c->ctx.data, c->ctx.len);
    return rc;
}

/* Decodes a caller's context into c->ctx_in; an empty one means "blind":
 * returns the stored clock itself, which covers everything stored. */
static int resolve_context(struct coord *c, struct kv_slice context, const struct dvv **out)
{
    if (context.len == 0) {
        *out = &c->old.clock;
        return KV_OK;
    }
    int rc = dvv_context_decode(context, &c->ctx_in);
    if (rc == KV_ECORRUPT)
        return KV_EINVAL;
    if (rc == KV_OK)
        *out = &c->ctx_in;
    return rc;
}

/* ---- reads ---- */

/* Renders a merged counter as a decimal string appended to c->render. */
static int render_counter(struct coord *c, struct kv_slice *out)
{
    int64_t v;
    int rc = object_counter_value(&c->counter, &v);
    if (rc != KV_OK)
        return rc;
    size_t off = c->render.len;
    rc = kv_buf_appendf(&c->render, "%" PRId64, v);
    if (rc == KV_OK)
        *out = kv_slice_make(c->render.data + off, c->render.len - off);
    return rc;
}

int coord_collect_visible(struct coord *c, const struct object *o, uint64_t now, uint32_t *n_out)
{
    uint32_t n = 0, total = object_siblings(o);
    bool any_counter = false, counter_forever = false;
    uint64_t counter_exp = 0; /* a counter lives as long as its longest-living state */
    object_counter_clear(&c->counter);
    kv_buf_reset(&c->render);
    int rc = coord_grow((void **)&c->values, &c->values_cap, total + 1, sizeof c->values[0]);
    for (uint32_t i = 0; rc == KV_OK && i < total; i++) {
        struct object_sibling s;
        object_sibling(o, i, &s);
        if (!object_sibling_visible(&s, now))
            continue;
        if (s.flags & OBJECT_FLAG_COUNTER) {
            any_counter = true;
            counter_forever |= s.expires_at_ms == 0;
            if (s.expires_at_ms > counter_exp)
                counter_exp = s.expires_at_ms;
            rc = object_counter_merge(&c->counter, s.payload);
        } else {
            c->values[n++] = (struct coord_value){ s.payload, s.expires_at_ms, false };
        }
    }
    if (rc == KV_OK && any_counter) {
        c->values[n] = (struct coord_value){ { NULL, 0 }, counter_forever ? 0 : counter_exp, true };
        rc = render_counter(c, &c->values[n].data);
        n++;
    }
    if (rc == KV_OK)
        *n_out = n;
    return rc;
}

int coord_local_get(struct coord *c, struct kv_slice key, struct coord_get_result *r)
{
    memset(r, 0, sizeof *r);
    int rc = coord_check_key(c, key);
    if (rc == KV_OK)
        rc = coord_load(c, key);
    if (rc == KV_OK)
        rc = coord_collect_visible(c, &c->old, coord_wall_ms(c), &r->nvalues);
    if (rc == KV_OK)
        rc = coord_make_context(c, &c->old.clock, &r->context);
    if (rc == KV_OK) {
        r->found = r->nvalues > 0;
        r->values = r->nvalues ? c->values : NULL;
        c->stats.not_found += !r->found;
    } else {
        memset(r, 0, sizeof *r);
    }
    r->status = rc;
    coord_count_status(c, rc);
    return rc;
}

int64_t coord_ttl_of(const struct object *o, uint64_t now)
{
    uint64_t exp_max = 0;
    bool any = false, forever = false;
    for (uint32_t i = 0; i < object_siblings(o); i++) {
        struct object_sibling s;
        object_sibling(o, i, &s);
        if (!object_sibling_visible(&s, now))
            continue;
        any = true;
        forever |= s.expires_at_ms == 0;
        if (s.expires_at_ms > exp_max)
            exp_max = s.expires_at_ms;
    }
    if (!any)
        return COORD_TTL_MISSING;
    return forever ? COORD_TTL_NONE : (int64_t)(exp_max - now);
}

void coord_local_ttl(struct coord *c, struct kv_slice key, struct coord_ttl_result *r)
{
    r->ttl_ms = COORD_TTL_MISSING;
    int rc = coord_check_key(c, key);
    if (rc == KV_OK)
        rc = coord_load(c, key);
    if (rc == KV_OK)
        r->ttl_ms = coord_ttl_of(&c->old, coord_wall_ms(c));
    r->status = rc;
    coord_count_status(c, rc);
}

/* ---- writes ---- */

static int put_local(struct coord *c, const struct coord_write *w, struct coord_write_result *r)
{
    uint64_t now = coord_wall_ms(c);
    const struct dvv *ctx = NULL;
    int rc = resolve_context(c, w->context, &ctx);
    if (rc == KV_OK && w->condition != COORD_PUT_ALWAYS) {
        bool visible = !object_is_dead(&c->old, now);
        if (w->condition == COORD_PUT_IF_ABSENT && visible)
            rc = KV_EEXIST;
        else if (w->condition == COORD_PUT_IF_EXISTS && !visible)
            rc = KV_ENOTFOUND;
    }
    if (rc == KV_OK) {
        kv_buf_reset(&c->records);
        rc = append_record(c, 0, w->ttl_ms ? now + w->ttl_ms : 0, w->value);
    }
    if (rc == KV_OK) {
        struct kv_slice rec = kv_slice_make(c->records.data, c->records.len);
        rc = store(c, ctx, &rec, 1);
    }
    if (rc == KV_OK) {
        c->stats.siblings_created += object_visible_count(&c->new, now) > 1;
        rc = coord_make_context(c, &c->new.clock, &r->context);
    }
    return rc;
}

/* Writes a tombstone superseding ctx; c->old must be loaded. */
static int write_tombstone(struct coord *c, const struct dvv *ctx)
{
    kv_buf_reset(&c->records);
    int rc = append_record(c, OBJECT_FLAG_TOMBSTONE, 0, kv_slice_make(NULL, 0));
    if (rc != KV_OK)
        return rc;
    struct kv_slice rec = kv_slice_make(c->records.data, c->records.len);
    return store(c, ctx, &rec, 1);
}

/* Standalone, deleting what is not visible writes nothing. In a cluster a
 * client's context may cover values other replicas hold and this one
 * missed, so a delete with a context naming any event is always written. */
static int delete_local(struct coord *c, const struct coord_write *w, struct coord_write_result *r)
{
    const struct dvv *ctx = NULL;
    int rc = resolve_context(c, w->context, &ctx);
    if (rc != KV_OK)
        return rc;
    r->flag = !object_is_dead(&c->old, coord_wall_ms(c));
    if (r->flag || (c->cluster && w->context.len && ctx->nentries > 0))
        rc = write_tombstone(c, ctx);
    return rc;
}

/* Builds in c->records / c->recs a copy of every visible sibling of c->old
 * with expiry exp. *had_expiry: some visible sibling had one. */
static int rewrite_visible(struct coord *c, uint64_t now, uint64_t exp, uint32_t *n_out,
                           bool *had_expiry)
{
    uint32_t n = 0, total = object_siblings(&c->old);
    kv_buf_reset(&c->records);
    *had_expiry = false;
    int rc = coord_grow((void **)&c->rec_offs, &c->rec_offs_cap, total + 1, sizeof c->rec_offs[0]);
    for (uint32_t i = 0; rc == KV_OK && i < total; i++) {
        struct object_sibling s;
        object_sibling(&c->old, i, &s);
        if (!object_sibling_visible(&s, now))
            continue;
        *had_expiry |= s.expires_at_ms != 0;
        c->rec_offs[n++] = c->records.len;
        rc = append_record(c, s.flags, exp, s.payload);
    }
    if (rc == KV_OK)
        rc = coord_grow((void **)&c->recs, &c->recs_cap, n + 1, sizeof c->recs[0]);
    if (rc != KV_OK)
        return rc;
    c->rec_offs[n] = c->records.len;
    for (uint32_t i = 0; i < n; i++)
        c->recs[i] = kv_slice_make(c->records.data + c->rec_offs[i], c->rec_offs[i + 1] - c->rec_offs[i]);
    *n_out = n;
    return KV_OK;
}

/* EXPIRE and PERSIST: a new version of the visible siblings with the new
 * expiry, superseding the whole stored object. */
static int expire_local(struct coord *c, const struct coord_write *w, struct coord_write_result *r)
{
    bool persist = w->op == COORD_OP_PERSIST, had_expiry = false;
    int64_t ttl_ms = w->arg;
    uint64_t now = coord_wall_ms(c);
    uint32_t n = 0;
    int rc = rewrite_visible(c, now, persist ? 0 : now + (uint64_t)(ttl_ms > 0 ? ttl_ms : 0), &n, &had_expiry);
    if (rc == KV_OK && n > 0) {
        r->flag = persist ? had_expiry : true;
        if (!persist && ttl_ms <= 0)
            rc = write_tombstone(c, &c->old.clock); /* Redis: EXPIRE with ttl <= 0 deletes */
        else if (r->flag)
            rc = store(c, &c->old.clock, c->recs, n);
    }
    return rc;
}

/* Merges every visible sibling of c->old into c->counter: counter states
 * per actor, decimal registers under their dot's base actor. *exp_out:
 * the expiry the new counter keeps (0 if any visible sibling has none). */
static int counter_from_visible(struct coord *c, uint64_t now, uint64_t *exp_out)
{
    uint64_t exp = 0;
    bool forever = false;
    int rc = KV_OK;
    object_counter_clear(&c->counter);
    for (uint32_t i = 0; rc == KV_OK && i < object_siblings(&c->old); i++) {
        struct object_sibling s;
        object_sibling(&c->old, i, &s);
        if (!object_sibling_visible(&s, now))
            continue;
        forever |= s.expires_at_ms == 0;
        exp = s.expires_at_ms > exp ? s.expires_at_ms : exp;
        if (s.flags & OBJECT_FLAG_COUNTER) {
            rc = object_counter_merge(&c->counter, s.payload);
            continue;
        }
        int64_t v;
        uint64_t id, ctr, base;
        if (object_parse_int64(s.payload, &v) != KV_OK)
            return KV_EINVAL;
        if (object_sibling_dot(&c->old, i, &id, &ctr))
            base = object_base_actor(id, ctr);
        else /* anonymous: only its bytes identify it */
            base = object_base_actor(kv_hash64(s.payload.data, s.payload.len, 0), 0);
        uint64_t mag = v >= 0 ? (uint64_t)v : (uint64_t)0 - (uint64_t)v;
        rc = object_counter_merge_pn(&c->counter, base, v >= 0 ? mag : 0, v < 0 ? mag : 0);
    }
    *exp_out = forever ? 0 : exp;
    return rc;
}

static int incr_local(struct coord *c, const struct coord_write *w, struct coord_write_result *r)
{
    uint64_t exp = 0;
    int64_t value = 0;
    int rc = counter_from_visible(c, coord_wall_ms(c), &exp);
    if (rc == KV_OK)
        rc = object_counter_add(&c->counter, c->actor, w->arg);
    if (rc == KV_OK)
        rc = object_counter_value(&c->counter, &value);
    if (rc == KV_OK) {
        kv_buf_reset(&c->render);
        kv_buf_reset(&c->records);
        rc = object_counter_encode(&c->counter, &c->render);
    }
    if (rc == KV_OK)
        rc = append_record(c, OBJECT_FLAG_COUNTER, exp, kv_slice_make(c->render.data, c->render.len));
    if (rc == KV_OK) {
        struct kv_slice rec = kv_slice_make(c->records.data, c->records.len);
        rc = store(c, &c->old.clock, &rec, 1);
    }
    if (rc == KV_OK)
        r->value = value;
    return rc;
}

void coord_local_write(struct coord *c, const struct coord_write *w, struct coord_write_result *r)
{
    memset(r, 0, sizeof *r);
    c->wrote = false;
    int rc = coord_check_write(c, w);
    if (rc == KV_OK)
        rc = coord_load(c, w->key);
    if (rc == KV_OK)
        rc = coord_purge_seed_clock(c);
    if (rc == KV_OK) {
        switch (w->op) {
        case COORD_OP_PUT:
            rc = put_local(c, w, r);
            break;
        case COORD_OP_DELETE:
            rc = delete_local(c, w, r);
            break;
        case COORD_OP_EXPIRE:
        case COORD_OP_PERSIST:
            rc = expire_local(c, w, r);
            break;
        case COORD_OP_INCR:
            rc = incr_local(c, w, r);
            break;
        }
    }
    if (rc != KV_OK)
        memset(r, 0, sizeof *r);
    r->status = rc;
}
