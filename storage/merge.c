/* merge.c - see merge.h. */
#include "storage/merge.h"

#include <stdbool.h>
#include <stdlib.h>

#include "storage/ikey.h"

/* A child and its cached position, so that picking the next entry reads
 * plain fields instead of calling valid()/key() through the ops table. */
struct merge_child {
    struct iter *it;
    struct kv_slice key;
    bool valid;
};

enum merge_dir { MERGE_FORWARD, MERGE_BACKWARD };

struct merge_iter {
    struct iter base;
    struct merge_child *ch;
    size_t n;
    struct merge_child *cur; /* NULL: invalid */
    enum merge_dir dir;
};

static void child_refresh(struct merge_child *c)
{
    c->valid = iter_valid(c->it);
    if (c->valid)
        c->key = iter_key(c->it);
}

static void find_smallest(struct merge_iter *m)
{
    struct merge_child *best = NULL;
    for (size_t i = 0; i < m->n; i++) {
        struct merge_child *c = &m->ch[i];
        if (c->valid && (!best || ikey_compare(c->key, best->key) < 0))
            best = c;
    }
    m->cur = best;
}

static void find_largest(struct merge_iter *m)
{
    struct merge_child *best = NULL;
    for (size_t i = m->n; i-- > 0;) {
        struct merge_child *c = &m->ch[i];
        if (c->valid && (!best || ikey_compare(c->key, best->key) > 0))
            best = c;
    }
    m->cur = best;
}

static bool merge_valid(struct iter *it) { return ((struct merge_iter *)it)->cur != NULL; }

static void merge_seek_first(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        iter_seek_first(m->ch[i].it);
        child_refresh(&m->ch[i]);
    }
    m->dir = MERGE_FORWARD;
    find_smallest(m);
}

static void merge_seek_last(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        iter_seek_last(m->ch[i].it);
        child_refresh(&m->ch[i]);
    }
    m->dir = MERGE_BACKWARD;
    find_largest(m);
}

static void merge_seek(struct iter *it, struct kv_slice target)
{
    struct merge_iter *m = (struct merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        iter_seek(m->ch[i].it, target);
        child_refresh(&m->ch[i]);
    }
    m->dir = MERGE_FORWARD;
    find_smallest(m);
}

/* After moving backward, the other children sit before the current key;
 * put each on its first entry after it. The current key stays valid
 * meanwhile: it lives in the current child, which does not move here. */
static void turn_forward(struct merge_iter *m)
{
    struct kv_slice k = m->cur->key;
    for (size_t i = 0; i < m->n; i++) {
        struct merge_child *c = &m->ch[i];
        if (c == m->cur)
            continue;
        iter_seek(c->it, k);
        child_refresh(c);
        if (c->valid && ikey_compare(c->key, k) == 0) {
            iter_next(c->it);
            child_refresh(c);
        }
    }
    m->dir = MERGE_FORWARD;
}

/* The mirror image: each other child onto its last entry before the key. */
static void turn_backward(struct merge_iter *m)
{
    struct kv_slice k = m->cur->key;
    for (size_t i = 0; i < m->n; i++) {
        struct merge_child *c = &m->ch[i];
        if (c == m->cur)
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
    if (!m->cur)
        return;
    if (m->dir != MERGE_FORWARD)
        turn_forward(m);
    iter_next(m->cur->it);
    child_refresh(m->cur);
    find_smallest(m);
}

static void merge_prev(struct iter *it)
{
    struct merge_iter *m = (struct merge_iter *)it;
    if (!m->cur)
        return;
    if (m->dir != MERGE_BACKWARD)
        turn_backward(m);
    iter_prev(m->cur->it);
    child_refresh(m->cur);
    find_largest(m);
}

static struct kv_slice merge_key(struct iter *it) { return ((struct merge_iter *)it)->cur->key; }

static struct kv_slice merge_value(struct iter *it) { return iter_value(((struct merge_iter *)it)->cur->it); }

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
    if (!m || !ch)
        goto fail;
    for (size_t i = 0; i < n; i++)
        ch[i].it = children[i];
    m->base.ops = &merge_ops;
    m->ch = ch;
    m->n = n;
    m->dir = MERGE_FORWARD;
    *out = &m->base;
    return KV_OK;

fail:
    free(ch);
    free(m);
    for (size_t i = 0; i < n; i++)
        iter_destroy(children[i]);
    return KV_ENOMEM;
}
