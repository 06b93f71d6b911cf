/* engine_iter.c - the user-facing iterator (engine_iter_* in engine.h).
 *
 * It merges every source of the pinned view (memtable, immutable memtable,
 * one iterator per level-0 table, one per deeper level) and collapses the
 * versions of each user key to the newest one visible at the snapshot,
 * hiding tombstones and versions covered by a newer range tombstone (all
 * range tombstones of the view are gathered into one fragmented set at
 * creation: usually none, so the check is one branch).
 *
 * Moving forward, the merged iterator sits on the current entry. Moving
 * backward, it sits just before the current key's versions, and the
 * current key and value are copies in saved_key / saved_value (LevelDB's
 * DBIter does the same): going backward each key's versions come oldest
 * first, so the last visible one seen is the answer.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/engine_internal.h"
#include "storage/keycmp.h"
#include "storage/merge.h"
#include "storage/rangedel.h"

enum engine_iter_dir { ITER_FORWARD, ITER_BACKWARD };

struct engine_iter {
    struct engine *e;
    struct engine_view view;
    struct iter *it;
    struct rangedel_set tombs;
    bool has_tombs;
    enum engine_iter_dir dir;
    bool valid;
    struct kv_buf saved_key;    /* forward: the key being skipped; backward: the current key */
    struct kv_buf saved_value;  /* backward: the current value */
    int status;
};

/* Copies s into b; called for every entry of a scan, so the common case
 * (it fits) is a plain memcpy. */
static inline int save(struct engine_iter *ei, struct kv_buf *b, struct kv_slice s)
{
    if (s.len < b->cap) {
        memcpy(b->data, s.data, s.len);
        b->data[s.len] = 0;
        b->len = s.len;
        return KV_OK;
    }
    int rc = kv_buf_set(b, s.data, s.len);
    if (rc != KV_OK && ei->status == KV_OK)
        ei->status = rc;
    return rc;
}

static bool is_hidden(struct engine_iter *ei, struct kv_slice ukey, uint64_t seq, enum ikey_type type)
{
    return type != IKEY_TYPE_VALUE || (ei->has_tombs && rangedel_covers(&ei->tombs, ukey, seq));
}

/* From the merged iterator's position forward, the first visible live
 * entry; with `skipping`, keys <= saved_key are already done. */
static void find_next_user_entry(struct engine_iter *ei, bool skipping)
{
    struct iter *it = ei->it;
    for (; iter_valid(it); iter_next(it)) {
        struct kv_slice k = iter_key(it);
        if (k.len < IKEY_TRAILER_BYTES) {
            ei->status = KV_ECORRUPT;
            break;
        }
        uint64_t trailer = ikey_trailer(k);
        if ((trailer >> 8) > ei->view.seq)
            continue;
        struct kv_slice ukey = ikey_user(k);
        if (skipping && keycmp_bytes(ukey, kv_slice_make(ei->saved_key.data, ei->saved_key.len)) <= 0)
            continue;
        if (is_hidden(ei, ukey, trailer >> 8, (enum ikey_type)(trailer & 0xff))) {
            if (save(ei, &ei->saved_key, ukey) != KV_OK)
                break;
            skipping = true;
            continue;
        }
        ei->valid = true;
        return;
    }
    ei->valid = false;
}

/* From the merged iterator's position backward, the last visible live
 * entry of the previous user key, copied into saved_key / saved_value. */
static void find_prev_user_entry(struct engine_iter *ei)
{
    struct iter *it = ei->it;
    bool have = false; /* saved_* hold a live entry */
    for (; iter_valid(it); iter_prev(it)) {
        struct kv_slice k = iter_key(it);
        if (k.len < IKEY_TRAILER_BYTES) {
            ei->status = KV_ECORRUPT;
            have = false;
            break;
        }
        uint64_t trailer = ikey_trailer(k);
        if ((trailer >> 8) > ei->view.seq)
            continue;
        struct kv_slice ukey = ikey_user(k);
        if (have && keycmp_bytes(ukey, kv_slice_make(ei->saved_key.data, ei->saved_key.len)) < 0)
            break; /* past the key we hold: it is the answer */
        if (is_hidden(ei, ukey, trailer >> 8, (enum ikey_type)(trailer & 0xff))) {
            have = false;
            continue;
        }
        if (save(ei, &ei->saved_key, ukey) != KV_OK || save(ei, &ei->saved_value, iter_value(it)) != KV_OK) {
            have = false;
            break;
        }
        have = true;
    }
    ei->valid = have;
    if (!have)
        ei->dir = ITER_FORWARD;
}

bool engine_iter_valid(struct engine_iter *ei) { return ei->valid && ei->status == KV_OK; }

void engine_iter_seek_first(struct engine_iter *ei)
{
    ei->dir = ITER_FORWARD;
    iter_seek_first(ei->it);
    find_next_user_entry(ei, false);
}

void engine_iter_seek_last(struct engine_iter *ei)
{
    ei->dir = ITER_BACKWARD;
    iter_seek_last(ei->it);
    find_prev_user_entry(ei);
}

void engine_iter_seek(struct engine_iter *ei, struct kv_slice key)
{
    ei->dir = ITER_FORWARD;
    if (kv_buf_reserve(&ei->saved_key, key.len + IKEY_TRAILER_BYTES) != KV_OK) {
        ei->status = KV_ENOMEM;
        ei->valid = false;
        return;
    }
    size_t n = ikey_encode(ei->saved_key.data, key.data, key.len, ei->view.seq, IKEY_TYPE_SEEK);
    iter_seek(ei->it, kv_slice_make(ei->saved_key.data, n));
    find_next_user_entry(ei, false);
}

void engine_iter_next(struct engine_iter *ei)
{
    if (!engine_iter_valid(ei))
        return;
    if (ei->dir == ITER_BACKWARD) {
        /* The merged iterator is before the current key (saved_key):
         * step onto it, then skip all its versions. */
        ei->dir = ITER_FORWARD;
        if (iter_valid(ei->it))
            iter_next(ei->it);
        else
            iter_seek_first(ei->it);
    } else {
        if (save(ei, &ei->saved_key, ikey_user(iter_key(ei->it))) != KV_OK) {
            ei->valid = false;
            return;
        }
        iter_next(ei->it);
    }
    find_next_user_entry(ei, true);
}

void engine_iter_prev(struct engine_iter *ei)
{
    if (!engine_iter_valid(ei))
        return;
    if (ei->dir == ITER_FORWARD) {
        /* Step back over every version of the current key. */
        if (save(ei, &ei->saved_key, ikey_user(iter_key(ei->it))) != KV_OK) {
            ei->valid = false;
            return;
        }
        struct kv_slice cur = kv_slice_make(ei->saved_key.data, ei->saved_key.len);
        do {
            iter_prev(ei->it);
        } while (iter_valid(ei->it) && keycmp_bytes(ikey_user(iter_key(ei->it)), cur) >= 0);
        ei->dir = ITER_BACKWARD;
    }
    find_prev_user_entry(ei);
}

struct kv_slice engine_iter_key(struct engine_iter *ei)
{
    if (ei->dir == ITER_FORWARD)
        return ikey_user(iter_key(ei->it));
    return kv_slice_make(ei->saved_key.data, ei->saved_key.len);
}

struct kv_slice engine_iter_value(struct engine_iter *ei)
{
    if (ei->dir == ITER_FORWARD)
        return iter_value(ei->it);
    return kv_slice_make(ei->saved_value.data, ei->saved_value.len);
}

int engine_iter_status(struct engine_iter *ei)
{
    return ei->status != KV_OK ? ei->status : iter_status(ei->it);
}

/* ---- construction ---- */

static int add_mem_tombstones(struct rangedel_set *s, struct engine_mem *m)
{
    struct table_range_tombstone *t;
    size_t n;
    if (!m || atomic_load_explicit(&m->range_dels, memory_order_acquire) == 0)
        return KV_OK;
    int rc = memtable_range_tombstones(m->mt, &t, &n);
    if (rc == KV_OK) {
        rc = rangedel_add_all(s, t, n);
        free(t);
    }
    return rc;
}

/* Every range tombstone of the view, fragmented at the snapshot. */
static int gather_tombstones(struct engine_iter *ei)
{
    const struct version *v = ei->view.v;
    int rc = add_mem_tombstones(&ei->tombs, ei->view.mem);
    if (rc == KV_OK)
        rc = add_mem_tombstones(&ei->tombs, ei->view.imm);
    for (int l = 0; l < ENGINE_LEVELS && rc == KV_OK; l++)
        for (size_t i = 0; i < v->nfiles[l] && rc == KV_OK; i++) {
            const struct file_meta *f = v->files[l][i];
            struct table *t;
            struct cache_handle *h;
            size_t n;
            if (!f->range_tombstones || (rc = table_cache_get(ei->e->tables, f, &t, &h)) != KV_OK)
                continue;
            const struct table_range_tombstone *rt = table_range_tombstones(t, &n);
            rc = rangedel_add_all(&ei->tombs, rt, n);
            table_cache_release(ei->e->tables, h);
        }
    if (rc == KV_OK)
        rc = rangedel_finish(&ei->tombs, ei->view.seq);
    ei->has_tombs = !rangedel_empty(&ei->tombs);
    return rc;
}

static int build_merge(struct engine_iter *ei)
{
    const struct version *v = ei->view.v;
    size_t cap = 2 + v->nfiles[0] + ENGINE_LEVELS, k = 0;
    struct iter **children = calloc(cap, sizeof *children);
    if (!children)
        return KV_ENOMEM;
    int rc = memtable_iter_new(ei->view.mem->mt, &children[k]);
    if (rc == KV_OK)
        k++;
    if (rc == KV_OK && ei->view.imm && (rc = memtable_iter_new(ei->view.imm->mt, &children[k])) == KV_OK)
        k++;
    for (size_t i = 0; i < v->nfiles[0] && rc == KV_OK; i++)
        if ((rc = table_cache_level_iter(ei->e->tables, &v->files[0][i], 1, &children[k])) == KV_OK)
            k++;
    for (int l = 1; l < ENGINE_LEVELS && rc == KV_OK; l++)
        if (v->nfiles[l] && (rc = table_cache_level_iter(ei->e->tables, v->files[l], v->nfiles[l], &children[k])) == KV_OK)
            k++;
    if (rc == KV_OK)
        rc = merge_iter_new(children, k, &ei->it);
    else
        for (size_t i = 0; i < k; i++)
            iter_destroy(children[i]);
    free(children);
    return rc;
}

int engine_iter_new(struct engine *e, const struct engine_snapshot *snap, struct engine_iter **out)
{
    struct engine_iter *ei = calloc(1, sizeof *ei);
    if (!ei)
        return KV_ENOMEM;
    ei->e = e;
    rangedel_init(&ei->tombs);
    engine_view_acquire(e, snap, &ei->view);
    int rc = gather_tombstones(ei);
    if (rc == KV_OK)
        rc = build_merge(ei);
    if (rc != KV_OK) {
        rangedel_free(&ei->tombs);
        engine_view_release(&ei->view);
        free(ei);
        return rc;
    }
    pthread_mutex_lock(&e->mu);
    e->live_iters++;
    pthread_mutex_unlock(&e->mu);
    *out = ei;
    return KV_OK;
}

void engine_iter_free(struct engine_iter *ei)
{
    if (!ei)
        return;
    struct engine *e = ei->e;
    iter_destroy(ei->it);
    rangedel_free(&ei->tombs);
    engine_view_release(&ei->view);
    kv_buf_free(&ei->saved_key);
    kv_buf_free(&ei->saved_value);
    free(ei);
    pthread_mutex_lock(&e->mu);
    e->live_iters--;
    pthread_mutex_unlock(&e->mu);
}
