/*
 * coord_batch.c - batch get / put (see coord.h "batches").
 *
 * Standalone, a batch runs against the local engine in one pass: a batch
 * put collects its writes in one engine batch (flushed early when a key
 * repeats, so later items see earlier ones, or when it passes
 * COORD_BATCH_FLUSH_BYTES), and results are copied to an arena because
 * the per-key buffers of struct coord are reused by the next key.
 *
 * In a cluster, a batch is a client of the single-key requests: each key
 * is its own quorum request, all in flight at once, and the batch answers
 * when the last one has. Results are copied into the batch's own arena as
 * they arrive. A key that repeats in a batch put starts a new "wave": the
 * items of a wave run concurrently, and a wave starts when the previous
 * one has finished, so later items still see earlier ones. Only a batch
 * of several waves copies its items (the caller's memory is only ours
 * during the call).
 */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "coordinator/coord_internal.h"

/* A batch put writes its pending engine batch once it holds this much
 * (4 MiB): bounds memory and stays far below ENGINE_BATCH_BYTES_MAX. */
#define COORD_BATCH_FLUSH_BYTES (4u * 1024u * 1024u)
/* Batch buffers above this are released after the batch (10 MiB). */
#define COORD_BATCH_KEEP_BYTES (10u * 1024u * 1024u)

static int check_batch(const struct coord *c, const void *items, uint32_t n)
{
    if (n > KV_BATCH_KEYS_MAX)
        return KV_ETOOBIG;
    return n > 0 && !items ? KV_EINVAL : KV_OK;
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

void coord_batch_buffers_free(struct coord *c)
{
    if (c->wbatch)
        engine_batch_free(c->wbatch);
    c->wbatch = NULL;
    free_batch_buffers(c);
}

/* Large batches leave large buffers behind; give them back. */
static void batch_trim(struct coord *c)
{
    if (c->arena.cap > COORD_BATCH_KEEP_BYTES)
        free_batch_buffers(c);
}

/* Appends the values and context of g to arena, recording their offsets
 * in *vals from index *nb on (the context rides as one more pseudo-value). */
static int keep_get(struct kv_buf *arena, struct batch_value **vals, uint32_t *cap, uint32_t *nb,
                    const struct coord_get_result *g)
{
    int rc = coord_grow((void **)vals, cap, *nb + g->nvalues + 1, sizeof (*vals)[0]);
    for (uint32_t k = 0; rc == KV_OK && k < g->nvalues; k++) {
        (*vals)[(*nb)++] = (struct batch_value){ arena->len, g->values[k].data.len, g->values[k].expires_at_ms,
                                                 g->values[k].counter };
        rc = kv_buf_append(arena, g->values[k].data.data, g->values[k].data.len);
    }
    if (rc != KV_OK)
        return rc;
    (*vals)[(*nb)++] = (struct batch_value){ arena->len, g->context.len, 0, false };
    return kv_buf_append(arena, g->context.data, g->context.len);
}

/* Points items at their values and contexts once the arena stops moving.
 * first[i] = index in vals of item i's first value. */
static int finish_gets(const struct kv_buf *arena, const struct batch_value *vals, uint32_t nb,
                       struct coord_value **cvals, uint32_t *ccap, struct coord_get_result *items,
                       const size_t *first, uint32_t nkeys)
{
    int rc = coord_grow((void **)cvals, ccap, nb + 1, sizeof (*cvals)[0]);
    if (rc != KV_OK)
        return rc;
    for (uint32_t j = 0; j < nb; j++)
        (*cvals)[j] = (struct coord_value){ kv_slice_make(arena->data + vals[j].off, vals[j].len),
                                            vals[j].expires_at_ms, vals[j].counter };
    for (uint32_t i = 0; i < nkeys; i++) {
        struct coord_get_result *g = &items[i];
        if (g->status != KV_OK)
            continue;
        g->values = g->nvalues ? &(*cvals)[first[i]] : NULL;
        g->context = (*cvals)[first[i] + g->nvalues].data;
    }
    return KV_OK;
}

void coord_batch_get(struct coord *c, const struct kv_slice *keys, uint32_t nkeys,
                     const struct coord_options *o, coord_batch_get_cb cb, void *arg)
{
    struct coord_batch_get_result r = { 0 };
    uint32_t nb = 0;
    int rc = check_batch(c, keys, nkeys);
    if (rc == KV_OK && c->cluster) {
        coord_cluster_batch_get(c, keys, nkeys, o, cb, arg);
        return;
    }
    if (rc == KV_OK && o && ((unsigned)o->consistency > COORD_CONSISTENCY_EXPLICIT ||
                             (o->consistency == COORD_CONSISTENCY_EXPLICIT && o->replicas != 1)))
        rc = KV_EINVAL;
    if (rc == KV_OK)
        rc = coord_grow((void **)&c->gitems, &c->gitems_cap, nkeys + 1, sizeof c->gitems[0]);
    if (rc == KV_OK)
        rc = coord_grow((void **)&c->offs, &c->offs_cap, nkeys + 1, sizeof c->offs[0]);
    kv_buf_reset(&c->arena);
    for (uint32_t i = 0; rc == KV_OK && i < nkeys; i++) {
        c->stats.gets++;
        c->offs[i] = nb;
        if (coord_local_get(c, keys[i], &c->gitems[i]) == KV_OK)
            rc = keep_get(&c->arena, &c->bvals, &c->bvals_cap, &nb, &c->gitems[i]);
    }
    if (rc == KV_OK)
        rc = finish_gets(&c->arena, c->bvals, nb, &c->bcvals, &c->bcvals_cap, c->gitems, c->offs, nkeys);
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
static bool seen_test_and_add(uint64_t *seen, uint32_t cap, uint64_t h)
{
    uint32_t mask = cap - 1;
    h |= 1; /* 0 marks an empty slot */
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        if (seen[i] == h)
            return true;
        if (seen[i] == 0) {
            seen[i] = h;
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
    int rc = coord_grow((void **)&c->pitems, &c->pitems_cap, n + 1, sizeof c->pitems[0]);
    if (rc == KV_OK)
        rc = coord_grow((void **)&c->offs, &c->offs_cap, n + 1, sizeof c->offs[0]);
    if (rc == KV_OK)
        rc = coord_grow((void **)&c->seen, &c->seen_cap, slots, sizeof c->seen[0]);
    if (rc == KV_OK && !c->wbatch)
        rc = engine_batch_new(&c->wbatch);
    if (rc == KV_OK) {
        memset(c->seen, 0, c->seen_cap * sizeof c->seen[0]);
        engine_batch_clear(c->wbatch);
    }
    kv_buf_reset(&c->arena);
    return rc;
}

static struct coord_write put_write(const struct coord_put_args *a)
{
    return (struct coord_write){ COORD_OP_PUT, a->key, a->value, a->context, a->ttl_ms, a->condition, 0 };
}

/* One standalone batch item into the pending engine batch; its context to the arena. */
static int batch_put_item(struct coord *c, uint32_t i, const struct coord_put_args *a)
{
    struct coord_write w = put_write(a);
    struct coord_write_result wr;
    c->stats.puts++;
    coord_local_write(c, &w, &wr);
    coord_count_status(c, wr.status);
    c->pitems[i].status = wr.status;
    c->offs[i] = c->arena.len;
    c->pitems[i].context = kv_slice_make(NULL, wr.context.len);
    return kv_buf_append(&c->arena, wr.context.data, wr.context.len);
}

void coord_batch_put(struct coord *c, const struct coord_put_args *items, uint32_t nitems,
                     const struct coord_options *o, coord_batch_put_cb cb, void *arg)
{
    struct coord_batch_put_result r = { 0 };
    uint32_t from = 0;
    size_t pending_bytes = 0;
    int rc = check_batch(c, items, nitems);
    if (rc == KV_OK && c->cluster) {
        coord_cluster_batch_put(c, items, nitems, o, cb, arg);
        return;
    }
    if (rc == KV_OK && o && ((unsigned)o->consistency > COORD_CONSISTENCY_EXPLICIT ||
                             (o->consistency == COORD_CONSISTENCY_EXPLICIT && o->replicas != 1)))
        rc = KV_EINVAL;
    if (rc == KV_OK)
        rc = batch_put_prepare(c, nitems);
    if (rc == KV_OK)
        c->active = c->wbatch;
    for (uint32_t i = 0; rc == KV_OK && i < nitems; i++) {
        struct kv_slice key = items[i].key;
        /* A key already in the pending batch must see that write: flush first. */
        bool hashable = key.data || key.len == 0;
        if (pending_bytes >= COORD_BATCH_FLUSH_BYTES ||
            (hashable && seen_test_and_add(c->seen, c->seen_cap, kv_hash64(key.data, key.len, 0)))) {
            (void)batch_flush(c, from, i); /* failures land in the items' statuses */
            from = i;
            pending_bytes = 0;
            if (hashable)
                (void)seen_test_and_add(c->seen, c->seen_cap, kv_hash64(key.data, key.len, 0));
        }
        rc = batch_put_item(c, i, &items[i]);
        if (c->pitems[i].status == KV_OK)
            pending_bytes += c->ekey.len + c->encoded.len;
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

/* ---- cluster batches ---- */

struct cbatch;

struct cbatch_child {
    struct cbatch *b;
    uint32_t i;
};

struct cbatch {
    struct coord *c;
    uint32_t n;
    uint32_t pending;               /* items started and not answered, + 1 while starting */
    uint32_t next;                  /* first item not started */
    int status;                     /* KV_OK unless copying a result failed */
    coord_batch_get_cb get_cb;
    coord_batch_put_cb put_cb;
    void *arg;
    struct coord_options opts;
    bool has_opts;
    struct cbatch_child *children;
    struct coord_get_result *gitems;
    struct coord_put_result *pitems;
    size_t *first;                  /* get: first value index; put: context offset */
    struct batch_value *vals;
    uint32_t nvals, vals_cap;
    struct coord_value *cvals;
    uint32_t cvals_cap;
    struct kv_buf arena;
    /* put waves */
    struct coord_put_args *items;   /* copies, when there are several waves */
    uint32_t *wave_end;             /* item index ending each wave */
    uint32_t nwaves, wave;
    struct kv_buf copies;
};

static void cbatch_free(struct cbatch *b)
{
    free(b->children);
    free(b->gitems);
    free(b->pitems);
    free(b->first);
    free(b->vals);
    free(b->cvals);
    kv_buf_free(&b->arena);
    free(b->items);
    free(b->wave_end);
    kv_buf_free(&b->copies);
    free(b);
}

static struct cbatch *cbatch_new(struct coord *c, uint32_t n, const struct coord_options *o, void *arg)
{
    struct cbatch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->c = c;
    b->n = n;
    b->arg = arg;
    if (o) {
        b->opts = *o;
        b->has_opts = true;
    }
    b->children = calloc(n + 1, sizeof *b->children);
    b->first = calloc(n + 1, sizeof *b->first);
    b->wave_end = calloc(n + 1, sizeof *b->wave_end);
    if (!b->children || !b->first || !b->wave_end) {
        cbatch_free(b);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++)
        b->children[i] = (struct cbatch_child){ b, i };
    return b;
}

/* The batch answers once nothing is pending; it is freed after its callback. */
static void cbatch_maybe_finish(struct cbatch *b)
{
    if (b->pending > 0)
        return;
    if (b->get_cb) {
        struct coord_batch_get_result r = { b->status, 0, NULL };
        if (r.status == KV_OK)
            r.status = finish_gets(&b->arena, b->vals, b->nvals, &b->cvals, &b->cvals_cap, b->gitems, b->first, b->n);
        if (r.status == KV_OK) {
            r.nitems = b->n;
            r.items = b->gitems;
        }
        b->get_cb(b->arg, &r);
    } else {
        struct coord_batch_put_result r = { b->status, 0, NULL };
        for (uint32_t i = 0; i < b->n; i++) {
            struct coord_put_result *p = &b->pitems[i];
            p->context = p->status == KV_OK ? kv_slice_make(b->arena.data + b->first[i], p->context.len)
                                            : kv_slice_make(NULL, 0);
        }
        if (r.status == KV_OK) {
            r.nitems = b->n;
            r.items = b->pitems;
        }
        b->put_cb(b->arg, &r);
    }
    cbatch_free(b);
}

static void cbatch_on_get(void *arg, const struct coord_get_result *g)
{
    struct cbatch_child *ch = arg;
    struct cbatch *b = ch->b;
    b->gitems[ch->i] = *g;
    b->first[ch->i] = b->nvals;
    if (g->status == KV_OK && b->status == KV_OK)
        b->status = keep_get(&b->arena, &b->vals, &b->vals_cap, &b->nvals, g);
    b->pending--;
    cbatch_maybe_finish(b);
}

void coord_cluster_batch_get(struct coord *c, const struct kv_slice *keys, uint32_t nkeys,
                             const struct coord_options *o, coord_batch_get_cb cb, void *arg)
{
    struct cbatch *b = cbatch_new(c, nkeys, o, arg);
    if (b)
        b->gitems = calloc(nkeys + 1, sizeof *b->gitems);
    if (!b || !b->gitems) {
        struct coord_batch_get_result r = { KV_ENOMEM, 0, NULL };
        c->stats.errors++;
        if (b)
            cbatch_free(b);
        cb(arg, &r);
        return;
    }
    b->get_cb = cb;
    b->pending = nkeys + 1; /* + 1: an item answered at once must not finish the batch early */
    for (uint32_t i = 0; i < nkeys; i++)
        coord_get(c, keys[i], b->has_opts ? &b->opts : NULL, cbatch_on_get, &b->children[i]);
    b->pending--;
    cbatch_maybe_finish(b);
}

static void cbatch_run(struct cbatch *b);

static void cbatch_on_put(void *arg, const struct coord_put_result *p)
{
    struct cbatch_child *ch = arg;
    struct cbatch *b = ch->b;
    b->pitems[ch->i].status = p->status;
    b->pitems[ch->i].context = kv_slice_make(NULL, p->context.len);
    b->first[ch->i] = b->arena.len;
    if (p->status == KV_OK && b->status == KV_OK)
        b->status = kv_buf_append(&b->arena, p->context.data, p->context.len);
    if (--b->pending == 0)
        cbatch_run(b);
}

/* Starts wave after wave (each all at once) until one is still in flight;
 * its last answer calls back in here. Then answers. */
static void cbatch_run(struct cbatch *b)
{
    while (b->wave < b->nwaves) {
        uint32_t end = b->wave_end[b->wave++];
        b->pending = end - b->next + 1; /* + 1: answers during the loop must not re-enter */
        for (; b->next < end; b->next++)
            coord_put(b->c, &b->items[b->next], b->has_opts ? &b->opts : NULL, cbatch_on_put,
                      &b->children[b->next]);
        if (--b->pending > 0)
            return;
    }
    cbatch_maybe_finish(b);
}

/* Splits items into waves at repeated keys; copies them if there are several. */
static int cbatch_plan_waves(struct cbatch *b, const struct coord_put_args *items)
{
    uint32_t cap = 16;
    while (cap < 2 * b->n)
        cap *= 2;
    uint64_t *seen = calloc(cap, sizeof *seen);
    if (!seen)
        return KV_ENOMEM;
    for (uint32_t i = 0; i < b->n; i++) {
        uint64_t h = kv_hash64(items[i].key.data, items[i].key.data ? items[i].key.len : 0, 0);
        if (seen_test_and_add(seen, cap, h)) {
            b->wave_end[b->nwaves++] = i;
            memset(seen, 0, cap * sizeof *seen);
            (void)seen_test_and_add(seen, cap, h);
        }
    }
    free(seen);
    b->wave_end[b->nwaves++] = b->n;
    b->items = malloc((b->n + 1) * sizeof *b->items);
    if (!b->items)
        return KV_ENOMEM;
    memcpy(b->items, items, b->n * sizeof *items);
    if (b->nwaves == 1)
        return KV_OK; /* one wave starts during the call: the caller's bytes are still valid */
    size_t total = 0;
    for (uint32_t i = 0; i < b->n; i++)
        total += items[i].key.len + items[i].value.len + items[i].context.len;
    int rc = kv_buf_reserve(&b->copies, total);
    for (uint32_t i = 0; rc == KV_OK && i < b->n; i++) {
        struct kv_slice *f[3] = { &b->items[i].key, &b->items[i].value, &b->items[i].context };
        for (int k = 0; k < 3; k++) {
            size_t off = b->copies.len;
            rc = rc == KV_OK ? kv_buf_append(&b->copies, f[k]->data, f[k]->len) : rc;
            *f[k] = kv_slice_make(b->copies.data + off, f[k]->len); /* reserved: no move */
        }
    }
    return rc;
}

void coord_cluster_batch_put(struct coord *c, const struct coord_put_args *items, uint32_t nitems,
                             const struct coord_options *o, coord_batch_put_cb cb, void *arg)
{
    struct cbatch *b = cbatch_new(c, nitems, o, arg);
    int rc = b ? KV_OK : KV_ENOMEM;
    if (rc == KV_OK) {
        b->pitems = calloc(nitems + 1, sizeof *b->pitems);
        rc = b->pitems ? cbatch_plan_waves(b, items) : KV_ENOMEM;
    }
    if (rc != KV_OK) {
        struct coord_batch_put_result r = { rc, 0, NULL };
        c->stats.errors++;
        if (b)
            cbatch_free(b);
        cb(arg, &r);
        return;
    }
    b->put_cb = cb;
    cbatch_run(b);
}
