/* merge.c - see merge.h. */
#include "storage/merge.h"

#include <stdbool.h>
#include <stdlib.h>

#include "storage/ikey.h"
#include "storage/keycmp.h"

/* A child and its cached position, so that ordering the children reads
 * plain fields instead of calling valid()/key() through the ops table. */
struct merge_child {
    struct iter *it;
    struct kv_slice key;
    bool valid;
    size_t index;          /* position among the children: breaks ties */
};

enum merge_dir { MERGE_FORWARD, MERGE_BACKWARD };

/*
 * The valid children form a binary heap ordered by the direction: the
 * smallest key on top going forward, the largest going backward. The top
 * is the current entry. A move advances the top child and sifts it down:
 * when it stays on top (runs of keys from one child, common in scans)
 * that is two compares whatever n is.
 */
struct merge_iter {
    struct iter base;
    struct merge_child *ch;
    size_t n;
    struct merge_child **heap;
    size_t nheap;
    enum merge_dir dir;
};

static void child_refresh(struct merge_child *c)
{
    c->valid = iter_valid(c->it);
    if (c->valid)
        c->key = iter_key(c->it);
}

/* True if a comes before b in the current direction. Equal keys (only
 * possible across children) go in child order forward, reverse backward,
 * so a direction switch passes over them consistently. */
static inline bool before(const struct merge_child *a, const struct merge_child *b, bool forward)
{
    int r = keycmp_ikey(a->key, b->key);
    if (r == 0)
        r = a->index < b->index ? -1 : 1;
    return forward ? r < 0 : r > 0;
}

static void sift_down(struct merge_iter *m, size_t i)
{
    struct merge_child **h = m->heap;
    size_t n = m->nheap;
    bool fwd = m->dir == MERGE_FORWARD;
    struct merge_child *x = h[i];
    for (;;) {
        size_t l = 2 * i + 1, best;
        if (l >= n)
            break;
        best = l + 1 < n && before(h[l + 1], h[l], fwd) ? l + 1 : l;
        if (!before(h[best], x, fwd))
            break;
        h[i] = h[best];
        i = best;
    }
    h[i] = x;
}

/* Rebuilds the heap from every valid child (after a seek or a switch). */
static void heap_build(struct merge_iter *m)
{
    m->nheap = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->ch[i].valid)
            m->heap[m->nheap++] = &m->ch[i];
    for (size_t i = m->nheap / 2; i-- > 0;)
        sift_down(m, i);
}

/* The top child moved: restore the heap. */
static void heap_fix_top(struct merge_iter *m)
{
    child_refresh(m->heap[0]);
    if (!m->heap[0]->valid) {
        m->heap[0] = m->heap[--m->nheap];
        if (m->nheap == 0)
            return;
    }
    sift_down(m, 0);
}

static inline struct merge_child *top(const struct merge_iter *m) { return m->nheap ? m->heap[0] : NULL; }

static bool merge_valid(struct iter *it) { return ((struct merge_iter *)it)->nheap != 0; }

static void merge_seek_first(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        iter_seek_first(m->ch[i].it);
        child_refresh(&m->ch[i]);
    }
    m->dir = MERGE_FORWARD;
    heap_build(m);
}

static void merge_seek_last(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        iter_seek_last(m->ch[i].it);
        child_refresh(&m->ch[i]);
    }
    m->dir = MERGE_BACKWARD;
    heap_build(m);
}

static void merge_seek(struct iter *it, struct kv_slice target)
{
    struct merge_iter *m = (struct merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        iter_seek(m->ch[i].it, target);
        child_refresh(&m->ch[i]);
    }
    m->dir = MERGE_FORWARD;
    heap_build(m);
}

/* After moving backward, the other children sit before the current key;
 * put each on its first entry after it. The current key stays valid
 * meanwhile: it lives in the current child, which does not move here. */
static void turn_forward(struct merge_iter *m, struct merge_child *cur)
{
    struct kv_slice k = cur->key;
    for (size_t i = 0; i < m->n; i++) {
        struct merge_child *c = &m->ch[i];
        if (c == cur)
            continue;
        iter_seek(c->it, k);
        child_refresh(c);
        if (c->valid && keycmp_ikey(c->key, k) == 0) {
            iter_next(c->it);
            child_refresh(c);
        }
    }
    m->dir = MERGE_FORWARD;
}

/* The mirror image: each other child onto its last entry before the key. */
static void turn_backward(struct merge_iter *m, struct merge_child *cur)
{
    struct kv_slice k = cur->key;
    for (size_t i = 0; i < m->n; i++) {
        struct merge_child *c = &m->ch[i];
        if (c == cur)
            continue;
        iter_seek(c->it, k);
        if (iter_valid(c->it))
            iter_prev(c->it);
        else
            iter_seek_last(c->it);
        child_refresh(c);
    }
    m->dir = MERGE_BACKWARD;
}

static void merge_next(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    struct merge_child *cur = top(m);
    if (!cur)
        return;
    if (m->dir != MERGE_FORWARD) {
        turn_forward(m, cur);
        iter_next(cur->it);
        child_refresh(cur);
        heap_build(m);
        return;
    }
    iter_next(cur->it);
    heap_fix_top(m);
}

static void merge_prev(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    struct merge_child *cur = top(m);
    if (!cur)
        return;
    if (m->dir != MERGE_BACKWARD) {
        turn_backward(m, cur);
        iter_prev(cur->it);
        child_refresh(cur);
        heap_build(m);
        return;
    }
    iter_prev(cur->it);
    heap_fix_top(m);
}

static struct kv_slice merge_key(struct iter *it) { return ((struct merge_iter *)it)->heap[0]->key; }

static struct kv_slice merge_value(struct iter *it) { return iter_value(((struct merge_iter *)it)->heap[0]->it); }

static int merge_status(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        int rc = iter_status(m->ch[i].it);
        if (rc != KV_OK)
            return rc;
    }
    return KV_OK;
}

static void merge_destroy(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    for (size_t i = 0; i < m->n; i++)
        iter_destroy(m->ch[i].it);
    free(m->ch);
    free(m->heap);
    free(m);
}

static const struct iter_ops merge_ops = {
    .valid = merge_valid,
    .seek_first = merge_seek_first,
    .seek_last = merge_seek_last,
    .seek = merge_seek,
    .next = merge_next,
    .prev = merge_prev,
    .key = merge_key,
    .value = merge_value,
    .status = merge_status,
    .destroy = merge_destroy,
};

int merge_iter_new(struct iter **children, size_t n, struct iter **out)
{
    struct merge_iter *m = calloc(1, sizeof *m);
    struct merge_child *ch = calloc(n ? n : 1, sizeof *ch);
    struct merge_child **heap = calloc(n ? n : 1, sizeof *heap);
    if (!m || !ch || !heap)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        ch[i].it = children[i];
        ch[i].index = i;
    }
    m->base.ops = &merge_ops;
    m->ch = ch;
    m->heap = heap;
    m->n = n;
    m->dir = MERGE_FORWARD;
    *out = &m->base;
    return KV_OK;

fail:
    free(heap);
    free(ch);
    free(m);
    for (size_t i = 0; i < n; i++)
        iter_destroy(children[i]);
    return KV_ENOMEM;
}
