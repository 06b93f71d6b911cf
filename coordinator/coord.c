/*
 * coord.c - the request entry points on one node (N = 1); see coord.h.
 *
 * Every write is read-modify-write of one engine key: engine_get, decode
 * the object (no copy: the clock borrows the read buffer), dvv_update
 * with the new record(s), encode, engine_put. All buffers live in struct
 * coord and are reused, so a steady stream of requests does not allocate.
 *
 * Read-modify-write is safe without a lock because one thread owns a
 * coord and nothing else writes DATA keys of this engine. The quorum
 * issue replaces the local load/store with replica requests behind the
 * same functions.
 *
 * TTL purge and dots: coord_compaction_filter drops fully expired
 * objects, clock included. On one node that is harmless (the next write
 * starts a fresh clock that nothing else remembers). With replicas, a
 * purged replica would re-issue dots another replica still holds for the
 * expired object, and a sync could then take a new value for the stale
 * one; the quorum issue must gate this purge like tombstone purge (only
 * once every replica has expired the object).
 */
#include "coordinator/coord.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/limits.h"
#include "common/log.h"
#include "coordinator/dvv.h"
#include "coordinator/keyspace.h"
#include "coordinator/object.h"

/* Seed for the actor id of a node: kv_hash64(node_id, len, seed). */
#define COORD_ACTOR_SEED 0x636f6f7264ull        /* "coord" */
/* A batch put writes its pending engine batch once it holds this much
 * (4 MiB): bounds memory and stays far below ENGINE_BATCH_BYTES_MAX. */
#define COORD_BATCH_FLUSH_BYTES (4u * 1024u * 1024u)
/* Batch buffers above this are released after the batch (10 MiB). */
#define COORD_BATCH_KEEP_BYTES (10u * 1024u * 1024u)

/* A value of a batch get, by offset into the batch arena (which may move while it grows). */
struct batch_value {
    size_t off;
    size_t len;
    uint64_t expires_at_ms;
    bool counter;
};

struct coord {
    struct engine *engine;
    const struct kv_clock *clock;
    struct keyspace ks;
    uint64_t actor;             /* this node's id in clocks and counters */
    uint32_t n_replicas;
    uint32_t key_bytes_max;
    uint32_t value_bytes_max;
    uint32_t siblings_max;
    uint64_t object_bytes_max;
    struct coord_stats stats;

    /* Per-request scratch, reused. */
    struct kv_buf ekey;         /* engine key */
    struct kv_buf stored;       /* object bytes read; `old` borrows them */
    struct kv_buf records;      /* new sibling records; `new` borrows them */
    struct kv_buf encoded;      /* object bytes to write */
    struct kv_buf ctx;          /* context handed to the caller */
    struct kv_buf render;       /* counter payloads and decimal renderings */
    struct object old;
    struct object new;
    struct dvv ctx_in;          /* the caller's context, decoded */
    struct object_counter counter;
    struct coord_value *values; /* visible values of a get */
    uint32_t values_cap;
    struct kv_slice *recs;      /* slices of `records` for multi-value updates */
    uint32_t recs_cap;
    size_t *rec_offs;
    uint32_t rec_offs_cap;

    /* Batch state, reused. */
    struct engine_batch *wbatch;   /* owned, allocated by the first batch put */
    struct engine_batch *active;   /* == wbatch while a batch put runs: store() appends to it */
    struct kv_buf arena;
    struct batch_value *bvals;
    uint32_t bvals_cap;
    struct coord_value *bcvals;
    uint32_t bcvals_cap;
    struct coord_get_result *gitems;
    uint32_t gitems_cap;
    struct coord_put_result *pitems;
    uint32_t pitems_cap;
    size_t *offs;               /* per item: arena offset of its context */
    uint32_t offs_cap;
    uint64_t *seen;             /* open-addressing set of key hashes in the pending engine batch */
    uint32_t seen_cap;
};

/* ---- small helpers ---- */

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return KV_OK;
    uint32_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p)
        return KV_ENOMEM;
    *arr = p;
    *cap = n;
    return KV_OK;
}

static uint64_t now_ms(const struct coord *c) { return c->clock->wall_ms(c->clock); }

/* Condition failures are answers, not errors. */
static void count_status(struct coord *c, int status)
{
    if (status != KV_OK && status != KV_EEXIST && status != KV_ENOTFOUND)
        c->stats.errors++;
}

static int check_options(const struct coord *c, const struct coord_options *o)
{
    if (!o)
        return KV_OK;
    if ((unsigned)o->consistency > COORD_CONSISTENCY_EXPLICIT)
        return KV_EINVAL;
    if (o->consistency == COORD_CONSISTENCY_EXPLICIT && (o->replicas == 0 || o->replicas > c->n_replicas))
        return KV_EINVAL;
    return KV_OK;
}

static int check_key(const struct coord *c, struct kv_slice key)
{
    if (key.len > 0 && !key.data)
        return KV_EINVAL;
    return key.len > c->key_bytes_max ? KV_ETOOBIG : KV_OK;
}

/* ---- config and lifetime ---- */

void coord_config_default(struct coord_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->partitions = KEYSPACE_PARTITIONS_DEFAULT;
    cfg->n_replicas = 1;
    cfg->key_bytes_max = KV_KEY_BYTES_MAX_DEFAULT;
    cfg->value_bytes_max = KV_VALUE_BYTES_MAX_DEFAULT;
    cfg->siblings_max = KV_SIBLINGS_MAX_DEFAULT;
}

static int check_config(const struct coord_config *cfg)
{
    const char *bad = NULL;
    size_t idlen = cfg->node_id ? strlen(cfg->node_id) : 0;
    if (idlen == 0 || idlen > KV_NODE_ID_BYTES_MAX)
        bad = "node_id";
    else if (!cfg->engine)
        bad = "engine";
    else if (cfg->n_replicas != 1)
        bad = "n_replicas"; /* until the quorum coordinator exists */
    else if (cfg->key_bytes_max == 0 || cfg->key_bytes_max > COORD_KEY_BYTES_LIMIT)
        bad = "key_bytes_max";
    else if (cfg->value_bytes_max == 0 || cfg->value_bytes_max > COORD_VALUE_BYTES_LIMIT)
        bad = "value_bytes_max";
    else if (cfg->siblings_max == 0 || cfg->siblings_max > COORD_SIBLINGS_LIMIT)
        bad = "siblings_max";
    if (bad) {
        log_error("coord", "invalid config field=%s", bad);
        return KV_EINVAL;
    }
    return KV_OK;
}

int coord_new(const struct coord_config *cfg, struct coord **out)
{
    int rc = check_config(cfg);
    if (rc != KV_OK)
        return rc;
    struct coord *c = calloc(1, sizeof *c);
    if (!c)
        return KV_ENOMEM;
    rc = keyspace_init(&c->ks, cfg->partitions);
    if (rc != KV_OK) {
        log_error("coord", "invalid config field=partitions value=%" PRIu32, cfg->partitions);
        free(c);
        return rc;
    }
    c->engine = cfg->engine;
    c->clock = cfg->clock ? cfg->clock : &kv_clock_real;
    c->actor = kv_hash64(cfg->node_id, strlen(cfg->node_id), COORD_ACTOR_SEED);
    c->n_replicas = cfg->n_replicas;
    c->key_bytes_max = cfg->key_bytes_max;
    c->value_bytes_max = cfg->value_bytes_max;
    c->siblings_max = cfg->siblings_max;
    c->object_bytes_max = object_bytes_max(cfg->value_bytes_max);
    object_init(&c->old);
    object_init(&c->new);
    dvv_init(&c->ctx_in);
    object_counter_init(&c->counter);
    *out = c;
    return KV_OK;
}

static void free_batch_buffers(struct coord *c)
{
    kv_buf_free(&c->arena);
    free(c->bvals);
    free(c->bcvals);
    free(c->gitems);
    free(c->pitems);
    free(c->offs);
    free(c->seen);
    c->bvals = NULL, c->bcvals = NULL, c->gitems = NULL, c->pitems = NULL;
    c->offs = NULL, c->seen = NULL;
    c->bvals_cap = c->bcvals_cap = c->gitems_cap = c->pitems_cap = c->offs_cap = c->seen_cap = 0;
}

void coord_free(struct coord *c)
{
    if (!c)
        return;
    kv_buf_free(&c->ekey);
    kv_buf_free(&c->stored);
    kv_buf_free(&c->records);
    kv_buf_free(&c->encoded);
    kv_buf_free(&c->ctx);
    kv_buf_free(&c->render);
    object_free(&c->old);
    object_free(&c->new);
    dvv_free(&c->ctx_in);
    object_counter_free(&c->counter);
    free(c->values);
    free(c->recs);
    free(c->rec_offs);
    if (c->wbatch)
        engine_batch_free(c->wbatch);
    free_batch_buffers(c);
    free(c);
}

void coord_get_stats(const struct coord *c, struct coord_stats *out) { *out = c->stats; }

/* ---- load and store ---- */

/* Reads key's object into c->old (empty if absent). Leaves the engine key in c->ekey. */
static int load(struct coord *c, struct kv_slice key)
{
    int rc = kv_buf_reserve(&c->ekey, KEYSPACE_PREFIX_BYTES + key.len);
    if (rc != KV_OK)
        return rc;
    c->ekey.len = keyspace_encode(&c->ks, KEYSPACE_DATA, key, c->ekey.data);
    rc = engine_get(c->engine, NULL, kv_slice_make(c->ekey.data, c->ekey.len), &c->stored);
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
    kv_buf_reset(&c->encoded);
    rc = object_encode(&c->new, &c->encoded);
    if (rc != KV_OK)
        return rc;
    if (c->encoded.len > c->object_bytes_max)
        return KV_ETOOBIG;
    struct kv_slice k = kv_slice_make(c->ekey.data, c->ekey.len);
    struct kv_slice v = kv_slice_make(c->encoded.data, c->encoded.len);
    return c->active ? engine_batch_put(c->active, k, v) : engine_put(c->engine, k, v);
}

/* The context of clock into c->ctx. */
static int make_context(struct coord *c, const struct dvv *clock, struct kv_slice *out)
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

/* Fills c->values with the visible values of c->old at now: each visible
 * register, then all visible counter states merged into one value. */
static int collect_visible(struct coord *c, uint64_t now, uint32_t *n_out)
{
    uint32_t n = 0, total = object_siblings(&c->old);
    bool any_counter = false, counter_forever = false;
    uint64_t counter_exp = 0; /* a counter lives as long as its longest-living state */
    object_counter_clear(&c->counter);
    kv_buf_reset(&c->render);
    int rc = grow((void **)&c->values, &c->values_cap, total + 1, sizeof c->values[0]);
    for (uint32_t i = 0; rc == KV_OK && i < total; i++) {
        struct object_sibling s;
        object_sibling(&c->old, i, &s);
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

/* Reads one key into r (pointing into c's buffers). */
static int get_one(struct coord *c, struct kv_slice key, struct coord_get_result *r)
{
    memset(r, 0, sizeof *r);
    c->stats.gets++;
    int rc = check_key(c, key);
    if (rc == KV_OK)
        rc = load(c, key);
    if (rc == KV_OK)
        rc = collect_visible(c, now_ms(c), &r->nvalues);
    if (rc == KV_OK)
        rc = make_context(c, &c->old.clock, &r->context);
    if (rc == KV_OK) {
        r->found = r->nvalues > 0;
        r->values = r->nvalues ? c->values : NULL;
        c->stats.not_found += !r->found;
    } else {
        memset(r, 0, sizeof *r);
    }
    r->status = rc;
    count_status(c, rc);
    return rc;
}

void coord_get(struct coord *c, struct kv_slice key, const struct coord_options *o,
               coord_get_cb cb, void *arg)
{
    struct coord_get_result r;
    int rc = check_options(c, o);
    if (rc == KV_OK) {
        (void)get_one(c, key, &r); /* the status travels in r */
    } else {
        memset(&r, 0, sizeof r);
        r.status = rc;
        c->stats.gets++;
        count_status(c, rc);
    }
    cb(arg, &r);
}

void coord_ttl(struct coord *c, struct kv_slice key, const struct coord_options *o,
               coord_ttl_cb cb, void *arg)
{
    struct coord_ttl_result r = { 0, COORD_TTL_MISSING };
    uint64_t now = now_ms(c), exp_max = 0;
    bool any = false, forever = false;
    c->stats.ttls++;
    int rc = check_options(c, o);
    if (rc == KV_OK)
        rc = check_key(c, key);
    if (rc == KV_OK)
        rc = load(c, key);
    for (uint32_t i = 0; rc == KV_OK && i < object_siblings(&c->old); i++) {
        struct object_sibling s;
        object_sibling(&c->old, i, &s);
        if (!object_sibling_visible(&s, now))
            continue;
        any = true;
        forever |= s.expires_at_ms == 0;
        if (s.expires_at_ms > exp_max)
            exp_max = s.expires_at_ms;
    }
    if (rc == KV_OK && any)
        r.ttl_ms = forever ? COORD_TTL_NONE : (int64_t)(exp_max - now);
    r.status = rc;
    if (rc != KV_OK)
        r.ttl_ms = COORD_TTL_MISSING;
    count_status(c, rc);
    cb(arg, &r);
}

/* ---- writes ---- */

static int check_put_args(const struct coord *c, const struct coord_put_args *a)
{
    int rc = check_key(c, a->key);
    if (rc != KV_OK)
        return rc;
    if ((a->value.len && !a->value.data) || (a->context.len && !a->context.data) ||
        (unsigned)a->condition > COORD_PUT_IF_EXISTS || a->ttl_ms > COORD_TTL_MS_MAX)
        return KV_EINVAL;
    return a->value.len > c->value_bytes_max ? KV_ETOOBIG : KV_OK;
}

/* One put; on KV_OK *ctx_out points into c->ctx. */
static int put_one(struct coord *c, const struct coord_put_args *a, struct kv_slice *ctx_out)
{
    uint64_t now = now_ms(c);
    const struct dvv *ctx = NULL;
    c->stats.puts++;
    int rc = check_put_args(c, a);
    if (rc == KV_OK)
        rc = load(c, a->key);
    if (rc == KV_OK)
        rc = resolve_context(c, a->context, &ctx);
    if (rc == KV_OK && a->condition != COORD_PUT_ALWAYS) {
        bool visible = !object_is_dead(&c->old, now);
        if (a->condition == COORD_PUT_IF_ABSENT && visible)
            rc = KV_EEXIST;
        else if (a->condition == COORD_PUT_IF_EXISTS && !visible)
            rc = KV_ENOTFOUND;
    }
    if (rc == KV_OK) {
        kv_buf_reset(&c->records);
        rc = object_record_append(&c->records, 0, a->ttl_ms ? now + a->ttl_ms : 0, a->value);
    }
    if (rc == KV_OK) {
        struct kv_slice rec = kv_slice_make(c->records.data, c->records.len);
        rc = store(c, ctx, &rec, 1);
    }
    if (rc == KV_OK) {
        c->stats.siblings_created += object_visible_count(&c->new, now) > 1;
        rc = make_context(c, &c->new.clock, ctx_out);
    }
    count_status(c, rc);
    return rc;
}

void coord_put(struct coord *c, const struct coord_put_args *a, const struct coord_options *o,
               coord_put_cb cb, void *arg)
{
    struct coord_put_result r = { 0 };
    int rc = check_options(c, o);
    if (rc == KV_OK) {
        rc = put_one(c, a, &r.context);
    } else {
        c->stats.puts++;
        count_status(c, rc);
    }
    r.status = rc;
    if (rc != KV_OK)
        r.context = kv_slice_make(NULL, 0);
    cb(arg, &r);
}

/* Writes a tombstone superseding ctx; c->old must be loaded. */
static int write_tombstone(struct coord *c, const struct dvv *ctx)
{
    kv_buf_reset(&c->records);
    int rc = object_record_append(&c->records, OBJECT_FLAG_TOMBSTONE, 0, kv_slice_make(NULL, 0));
    if (rc != KV_OK)
        return rc;
    struct kv_slice rec = kv_slice_make(c->records.data, c->records.len);
    return store(c, ctx, &rec, 1);
}

void coord_delete(struct coord *c, struct kv_slice key, struct kv_slice context,
                  const struct coord_options *o, coord_delete_cb cb, void *arg)
{
    struct coord_delete_result r = { 0 };
    const struct dvv *ctx = NULL;
    bool visible = false;
    c->stats.deletes++;
    int rc = check_options(c, o);
    if (rc == KV_OK)
        rc = check_key(c, key);
    if (rc == KV_OK && context.len && !context.data)
        rc = KV_EINVAL;
    if (rc == KV_OK)
        rc = load(c, key);
    if (rc == KV_OK)
        rc = resolve_context(c, context, &ctx);
    if (rc == KV_OK) {
        /* Nothing visible: nothing to delete on one node (N = 1). */
        visible = !object_is_dead(&c->old, now_ms(c));
        if (visible)
            rc = write_tombstone(c, ctx);
    }
    r.status = rc;
    r.existed = rc == KV_OK && visible;
    count_status(c, rc);
    cb(arg, &r);
}

/* Builds in c->records / c->recs a copy of every visible sibling of c->old
 * with expiry exp. *had_expiry: some visible sibling had one. */
static int rewrite_visible(struct coord *c, uint64_t now, uint64_t exp, uint32_t *n_out,
                           bool *had_expiry)
{
    uint32_t n = 0, total = object_siblings(&c->old);
    kv_buf_reset(&c->records);
    *had_expiry = false;
    int rc = grow((void **)&c->rec_offs, &c->rec_offs_cap, total + 1, sizeof c->rec_offs[0]);
    for (uint32_t i = 0; rc == KV_OK && i < total; i++) {
        struct object_sibling s;
        object_sibling(&c->old, i, &s);
        if (!object_sibling_visible(&s, now))
            continue;
        *had_expiry |= s.expires_at_ms != 0;
        c->rec_offs[n++] = c->records.len;
        rc = object_record_append(&c->records, s.flags, exp, s.payload);
    }
    if (rc == KV_OK)
        rc = grow((void **)&c->recs, &c->recs_cap, n + 1, sizeof c->recs[0]);
    if (rc != KV_OK)
        return rc;
    c->rec_offs[n] = c->records.len;
    for (uint32_t i = 0; i < n; i++)
        c->recs[i] = kv_slice_make(c->records.data + c->rec_offs[i], c->rec_offs[i + 1] - c->rec_offs[i]);
    *n_out = n;
    return KV_OK;
}

/* EXPIRE (persist == false) and PERSIST: a new version of the visible
 * siblings with the new expiry, superseding the whole stored object. */
static void expire_common(struct coord *c, struct kv_slice key, int64_t ttl_ms, bool persist,
                          const struct coord_options *o, coord_expire_cb cb, void *arg)
{
    struct coord_expire_result r = { 0 };
    uint64_t now = now_ms(c);
    uint32_t n = 0;
    bool had_expiry = false;
    c->stats.expires++;
    int rc = check_options(c, o);
    if (rc == KV_OK)
        rc = check_key(c, key);
    if (rc == KV_OK && !persist && ttl_ms > 0 && (uint64_t)ttl_ms > COORD_TTL_MS_MAX)
        rc = KV_EINVAL;
    if (rc == KV_OK)
        rc = load(c, key);
    if (rc == KV_OK)
        rc = rewrite_visible(c, now, persist ? 0 : now + (uint64_t)(ttl_ms > 0 ? ttl_ms : 0), &n, &had_expiry);
    if (rc == KV_OK && n > 0) {
        r.applied = persist ? had_expiry : true;
        if (!persist && ttl_ms <= 0)
            rc = write_tombstone(c, &c->old.clock); /* Redis: EXPIRE with ttl <= 0 deletes */
        else if (r.applied)
            rc = store(c, &c->old.clock, c->recs, n);
    }
    r.status = rc;
    if (rc != KV_OK)
        r.applied = false;
    count_status(c, rc);
    cb(arg, &r);
}

void coord_expire(struct coord *c, struct kv_slice key, int64_t ttl_ms,
                  const struct coord_options *o, coord_expire_cb cb, void *arg)
{
    expire_common(c, key, ttl_ms, false, o, cb, arg);
}

void coord_persist(struct coord *c, struct kv_slice key, const struct coord_options *o,
                   coord_expire_cb cb, void *arg)
{
    expire_common(c, key, 0, true, o, cb, arg);
}

/* ---- counters ---- */

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

static int incr_one(struct coord *c, struct kv_slice key, int64_t delta, int64_t *value_out)
{
    uint64_t now = now_ms(c), exp = 0;
    int64_t value = 0;
    int rc = check_key(c, key);
    if (rc == KV_OK)
        rc = load(c, key);
    if (rc == KV_OK)
        rc = counter_from_visible(c, now, &exp);
    if (rc == KV_OK)
        rc = object_counter_add(&c->counter, c->actor, delta);
    if (rc == KV_OK)
        rc = object_counter_value(&c->counter, &value);
    if (rc == KV_OK) {
        kv_buf_reset(&c->render);
        kv_buf_reset(&c->records);
        rc = object_counter_encode(&c->counter, &c->render);
    }
    if (rc == KV_OK)
        rc = object_record_append(&c->records, OBJECT_FLAG_COUNTER, exp,
                                  kv_slice_make(c->render.data, c->render.len));
    if (rc == KV_OK) {
        struct kv_slice rec = kv_slice_make(c->records.data, c->records.len);
        rc = store(c, &c->old.clock, &rec, 1);
    }
    if (rc == KV_OK)
        *value_out = value;
    return rc;
}

void coord_incr(struct coord *c, struct kv_slice key, int64_t delta,
                const struct coord_options *o, coord_incr_cb cb, void *arg)
{
    struct coord_incr_result r = { 0 };
    c->stats.incrs++;
    int rc = check_options(c, o);
    if (rc == KV_OK)
        rc = incr_one(c, key, delta, &r.value);
    r.status = rc;
    if (rc != KV_OK)
        r.value = 0;
    count_status(c, rc);
    cb(arg, &r);
}

/* ---- batches ---- */

static int check_batch(const struct coord *c, const void *items, uint32_t n, const struct coord_options *o)
{
    if (n > KV_BATCH_KEYS_MAX)
        return KV_ETOOBIG;
    if (n > 0 && !items)
        return KV_EINVAL;
    return check_options(c, o);
}

/* Large batches leave large buffers behind; give them back. */
static void batch_trim(struct coord *c)
{
    if (c->arena.cap > COORD_BATCH_KEEP_BYTES)
        free_batch_buffers(c);
}

/* Copies the result of get_one for item i into the arena (c's get
 * buffers are reused by the next key). offs[i] = index of its first
 * batch value; the context goes to the arena as well, at bvals offset. */
static int batch_get_keep(struct coord *c, uint32_t i, uint32_t *nb, const struct coord_get_result *g)
{
    int rc = grow((void **)&c->bvals, &c->bvals_cap, *nb + g->nvalues + 1, sizeof c->bvals[0]);
    if (rc != KV_OK)
        return rc;
    c->offs[i] = *nb;
    for (uint32_t k = 0; k < g->nvalues && rc == KV_OK; k++) {
        c->bvals[*nb] = (struct batch_value){ c->arena.len, g->values[k].data.len,
                                              g->values[k].expires_at_ms, g->values[k].counter };
        rc = kv_buf_append(&c->arena, g->values[k].data.data, g->values[k].data.len);
        (*nb)++;
    }
    /* The context rides as one more pseudo-value after the values. */
    c->bvals[*nb] = (struct batch_value){ c->arena.len, g->context.len, 0, false };
    (*nb)++;
    return rc == KV_OK ? kv_buf_append(&c->arena, g->context.data, g->context.len) : rc;
}

/* Turns arena offsets into the result pointers once the arena stops moving. */
static int batch_get_finish(struct coord *c, uint32_t nkeys, uint32_t nb)
{
    int rc = grow((void **)&c->bcvals, &c->bcvals_cap, nb + 1, sizeof c->bcvals[0]);
    if (rc != KV_OK)
        return rc;
    for (uint32_t j = 0; j < nb; j++)
        c->bcvals[j] = (struct coord_value){ kv_slice_make(c->arena.data + c->bvals[j].off, c->bvals[j].len),
                                             c->bvals[j].expires_at_ms, c->bvals[j].counter };
    for (uint32_t i = 0; i < nkeys; i++) {
        struct coord_get_result *g = &c->gitems[i];
        if (g->status != KV_OK)
            continue;
        g->values = g->nvalues ? &c->bcvals[c->offs[i]] : NULL;
        g->context = c->bcvals[c->offs[i] + g->nvalues].data;
    }
    return KV_OK;
}

void coord_batch_get(struct coord *c, const struct kv_slice *keys, uint32_t nkeys,
                     const struct coord_options *o, coord_batch_get_cb cb, void *arg)
{
    struct coord_batch_get_result r = { 0 };
    uint32_t nb = 0;
    int rc = check_batch(c, keys, nkeys, o);
    if (rc == KV_OK)
        rc = grow((void **)&c->gitems, &c->gitems_cap, nkeys + 1, sizeof c->gitems[0]);
    if (rc == KV_OK)
        rc = grow((void **)&c->offs, &c->offs_cap, nkeys + 1, sizeof c->offs[0]);
    kv_buf_reset(&c->arena);
    for (uint32_t i = 0; rc == KV_OK && i < nkeys; i++) {
        if (get_one(c, keys[i], &c->gitems[i]) == KV_OK)
            rc = batch_get_keep(c, i, &nb, &c->gitems[i]);
    }
    if (rc == KV_OK)
        rc = batch_get_finish(c, nkeys, nb);
    r.status = rc;
    if (rc == KV_OK) {
        r.nitems = nkeys;
        r.items = c->gitems;
    } else {
        c->stats.errors++;
    }
    cb(arg, &r);
    batch_trim(c);
}

/* The set of user-key hashes written into the pending engine batch. A
 * false positive only costs an early engine_write. */
static bool seen_test_and_add(struct coord *c, uint64_t h)
{
    uint32_t mask = c->seen_cap - 1;
    h |= 1; /* 0 marks an empty slot */
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        if (c->seen[i] == h)
            return true;
        if (c->seen[i] == 0) {
            c->seen[i] = h;
            return false;
        }
    }
}

/* Writes the pending batch; on failure items [from, to) that had
 * succeeded take the error, as none of their writes happened. */
static int batch_flush(struct coord *c, uint32_t from, uint32_t to)
{
    if (engine_batch_count(c->active) == 0)
        return KV_OK;
    int rc = engine_write(c->engine, c->active);
    engine_batch_clear(c->active);
    for (uint32_t i = from; rc != KV_OK && i < to; i++) {
        if (c->pitems[i].status == KV_OK) {
            c->pitems[i].status = rc;
            c->stats.errors++;
        }
    }
    memset(c->seen, 0, c->seen_cap * sizeof c->seen[0]);
    return rc;
}

static int batch_put_prepare(struct coord *c, uint32_t n)
{
    uint32_t slots = 16;
    while (slots < 2 * n) /* load factor <= 1/2 */
        slots *= 2;
    int rc = grow((void **)&c->pitems, &c->pitems_cap, n + 1, sizeof c->pitems[0]);
    if (rc == KV_OK)
        rc = grow((void **)&c->offs, &c->offs_cap, n + 1, sizeof c->offs[0]);
    if (rc == KV_OK)
        rc = grow((void **)&c->seen, &c->seen_cap, slots, sizeof c->seen[0]);
    if (rc == KV_OK && !c->wbatch)
        rc = engine_batch_new(&c->wbatch);
    if (rc == KV_OK) {
        memset(c->seen, 0, c->seen_cap * sizeof c->seen[0]);
        engine_batch_clear(c->wbatch);
    }
    kv_buf_reset(&c->arena);
    return rc;
}

void coord_batch_put(struct coord *c, const struct coord_put_args *items, uint32_t nitems,
                     const struct coord_options *o, coord_batch_put_cb cb, void *arg)
{
    struct coord_batch_put_result r = { 0 };
    uint32_t from = 0;
    size_t pending_bytes = 0;
    int rc = check_batch(c, items, nitems, o);
    if (rc == KV_OK)
        rc = batch_put_prepare(c, nitems);
    if (rc == KV_OK)
        c->active = c->wbatch;
    for (uint32_t i = 0; rc == KV_OK && i < nitems; i++) {
        struct kv_slice key = items[i].key;
        /* A key already in the pending batch must see that write: flush first. */
        if (pending_bytes >= COORD_BATCH_FLUSH_BYTES ||
            ((key.data || key.len == 0) && seen_test_and_add(c, kv_hash64(key.data, key.len, 0)))) {
            (void)batch_flush(c, from, i); /* failures land in the items' statuses */
            from = i;
            pending_bytes = 0;
            if (key.data || key.len == 0)
                (void)seen_test_and_add(c, kv_hash64(key.data, key.len, 0));
        }
        struct kv_slice ctx = { NULL, 0 };
        c->pitems[i].status = put_one(c, &items[i], &ctx);
        if (c->pitems[i].status == KV_OK)
            pending_bytes += c->ekey.len + c->encoded.len;
        c->offs[i] = c->arena.len;
        c->pitems[i].context = kv_slice_make(NULL, ctx.len);
        rc = kv_buf_append(&c->arena, ctx.data, ctx.len);
    }
    if (c->active) {
        /* Also after a failure above: pending writes must not linger into
         * the next request. A write failure lands in the items' statuses. */
        (void)batch_flush(c, from, nitems);
        c->active = NULL;
    }
    for (uint32_t i = 0; rc == KV_OK && i < nitems; i++) {
        struct coord_put_result *p = &c->pitems[i];
        p->context = p->status == KV_OK ? kv_slice_make(c->arena.data + c->offs[i], p->context.len)
                                        : kv_slice_make(NULL, 0);
    }
    r.status = rc;
    if (rc == KV_OK) {
        r.nitems = nitems;
        r.items = c->pitems;
    } else {
        c->stats.errors++;
    }
    cb(arg, &r);
    batch_trim(c);
}

/* ---- compaction filter ---- */

enum engine_filter_decision coord_compaction_filter(void *arg, int level, struct kv_slice key,
                                                    struct kv_slice value)
{
    const struct kv_clock *clock = arg;
    if (!clock || key.len < KEYSPACE_PREFIX_BYTES || (unsigned char)key.data[0] != KEYSPACE_DATA)
        return ENGINE_FILTER_KEEP;
    return object_encoded_is_expired(value, clock->wall_ms(clock)) ? ENGINE_FILTER_DROP : ENGINE_FILTER_KEEP;
}
