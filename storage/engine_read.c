/* engine_read.c - point reads and snapshots; iterators are in engine_iter.c.
 *
 * A read pins what it reads under the engine mutex (the memtables and the
 * current version, each one atomic reference), then searches without any
 * lock: memtable, immutable memtable, level-0 tables newest first, then
 * one table per deeper level. Each source also contributes its range
 * tombstones covering the key; the first version found is hidden by a
 * newer tombstone seen so far, and once a tombstone is seen no deeper
 * source can hold a newer version (newer data always sits higher). */
#include <stdlib.h>
#include <string.h>

#include "storage/engine_internal.h"
#include "storage/rangedel.h"

void engine_view_acquire(struct engine *e, const struct engine_snapshot *snap, struct engine_view *rv)
{
    pthread_mutex_lock(&e->mu);
    rv->seq = snap ? snap->seq : e->vs->last_seq;
    rv->mem = e->mem;
    engine_mem_ref(rv->mem);
    rv->imm = e->imm;
    if (rv->imm)
        engine_mem_ref(rv->imm);
    rv->v = version_set_ref_current(e->vs);
    pthread_mutex_unlock(&e->mu);
}

void engine_view_release(struct engine_view *rv)
{
    engine_mem_unref(rv->mem);
    engine_mem_unref(rv->imm);
    version_unref(rv->v);
}

enum probe { PROBE_MISS, PROBE_FOUND, PROBE_DELETED };

/* The verdict of one source, given the newest covering tombstone so far. */
static int decide(bool found, uint64_t trailer, uint64_t tomb, enum probe *out)
{
    if (!found) {
        *out = tomb ? PROBE_DELETED : PROBE_MISS;
        return KV_OK;
    }
    uint64_t seq = trailer >> 8;
    switch (trailer & 0xff) {
    case IKEY_TYPE_VALUE:
        *out = tomb > seq ? PROBE_DELETED : PROBE_FOUND;
        return KV_OK;
    case IKEY_TYPE_DELETE:
        *out = PROBE_DELETED;
        return KV_OK;
    default:
        return KV_ECORRUPT;
    }
}

static int probe_mem(struct engine_mem *m, struct kv_slice lookup, uint64_t seq, uint64_t *tomb,
                     struct kv_buf *value, enum probe *out)
{
    bool found;
    uint64_t trailer = 0;
    int rc = KV_OK;
    if (atomic_load_explicit(&m->range_dels, memory_order_acquire)) {
        struct table_range_tombstone *t;
        size_t n;
        if ((rc = memtable_range_tombstones(m->mt, &t, &n)) != KV_OK)
            return rc;
        uint64_t s = rangedel_scan_max_seq(t, n, ikey_user(lookup), seq);
        if (s > *tomb)
            *tomb = s;
        free(t);
    }
    if ((rc = memtable_get(m->mt, lookup, &found, &trailer, value)) != KV_OK)
        return rc;
    return decide(found, trailer, *tomb, out);
}

static int probe_file(struct engine *e, const struct file_meta *f, struct kv_slice lookup, uint64_t seq,
                      uint64_t *tomb, struct kv_buf *value, enum probe *out)
{
    struct table *t;
    struct cache_handle *h;
    bool found = false;
    uint64_t trailer = 0;
    int rc = table_cache_get(e->tables, f, &t, &h);
    if (rc != KV_OK)
        return rc;
    if (f->range_tombstones) {
        size_t n;
        const struct table_range_tombstone *rt = table_range_tombstones(t, &n);
        uint64_t s = rangedel_scan_max_seq(rt, n, ikey_user(lookup), seq);
        if (s > *tomb)
            *tomb = s;
    }
    rc = table_get(t, lookup, &found, &trailer, value);
    table_cache_release(e->tables, h);
    return rc == KV_OK ? decide(found, trailer, *tomb, out) : rc;
}

static int get_from_view(struct engine *e, const struct engine_view *rv, struct kv_slice lookup,
                         struct kv_buf *value, enum probe *res)
{
    struct kv_slice ukey = ikey_user(lookup);
    uint64_t tomb = 0;
    int rc = probe_mem(rv->mem, lookup, rv->seq, &tomb, value, res);
    if (rc != KV_OK || *res != PROBE_MISS)
        return rc;
    if (rv->imm && ((rc = probe_mem(rv->imm, lookup, rv->seq, &tomb, value, res)) != KV_OK || *res != PROBE_MISS))
        return rc;
    const struct version *v = rv->v;
    for (size_t i = 0; i < v->nfiles[0]; i++) {
        const struct file_meta *f = v->files[0][i];
        if (kv_slice_cmp(ukey, file_meta_smallest_user(f)) < 0 || kv_slice_cmp(ukey, file_meta_largest_user(f)) > 0)
            continue;
        if ((rc = probe_file(e, f, lookup, rv->seq, &tomb, value, res)) != KV_OK || *res != PROBE_MISS)
            return rc;
    }
    for (int l = 1; l < ENGINE_LEVELS; l++) {
        size_t i = version_find_file_for_user_key(v->files[l], v->nfiles[l], ukey);
        if (i == v->nfiles[l])
            continue;
        if ((rc = probe_file(e, v->files[l][i], lookup, rv->seq, &tomb, value, res)) != KV_OK ||
            *res != PROBE_MISS)
            return rc;
    }
    *res = PROBE_MISS;
    return KV_OK;
}

int engine_get(struct engine *e, const struct engine_snapshot *snap, struct kv_slice key, struct kv_buf *value_out)
{
    char stack[ENGINE_LOOKUP_STACK_BYTES];
    char *buf = stack;
    struct engine_view rv;
    enum probe res = PROBE_MISS;
    if (key.len > ENGINE_KEY_BYTES_MAX)
        return KV_ETOOBIG;
    if (key.len + IKEY_TRAILER_BYTES > sizeof stack && !(buf = malloc(key.len + IKEY_TRAILER_BYTES)))
        return KV_ENOMEM;
    engine_view_acquire(e, snap, &rv);
    size_t n = ikey_encode(buf, key.data, key.len, rv.seq, IKEY_TYPE_SEEK);
    int rc = get_from_view(e, &rv, kv_slice_make(buf, n), value_out, &res);
    engine_view_release(&rv);
    if (buf != stack)
        free(buf);
    if (rc == KV_OK && res != PROBE_FOUND)
        rc = KV_ENOTFOUND;
    return rc;
}

/* ---- snapshots ---- */

int engine_snapshot_new(struct engine *e, struct engine_snapshot **out)
{
    struct engine_snapshot *s = malloc(sizeof *s);
    if (!s)
        return KV_ENOMEM;
    pthread_mutex_lock(&e->mu);
    s->seq = e->vs->last_seq;
    s->next = &e->snapshots;
    s->prev = e->snapshots.prev;
    s->prev->next = s;
    s->next->prev = s;
    pthread_mutex_unlock(&e->mu);
    *out = s;
    return KV_OK;
}

void engine_snapshot_release(struct engine *e, struct engine_snapshot *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&e->mu);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    pthread_mutex_unlock(&e->mu);
    free(s);
}
