/*
 * iter.h - the internal iterator interface shared by memtables, blocks,
 * tables, levels and the merging iterator.
 *
 * An iterator is positioned on an entry or invalid. key()/value() are
 * valid only while valid() and until the next move; they point into
 * memory the iterator owns. Movement errors (I/O, corruption) make the
 * iterator invalid and are reported by status(). destroy() frees it.
 */
#ifndef RINGKV_STORAGE_ITER_H
#define RINGKV_STORAGE_ITER_H

#include <stdbool.h>

#include "common/slice.h"

struct iter;

struct iter_ops {
    bool (*valid)(struct iter *it);
    void (*seek_first)(struct iter *it);
    void (*seek_last)(struct iter *it);
    void (*seek)(struct iter *it, struct kv_slice target); /* first entry >= target */
    void (*next)(struct iter *it);
    void (*prev)(struct iter *it);
    struct kv_slice (*key)(struct iter *it);
    struct kv_slice (*value)(struct iter *it);
    int (*status)(struct iter *it);
    void (*destroy)(struct iter *it);
};

struct iter {
    const struct iter_ops *ops;
};

static inline bool iter_valid(struct iter *it) { return it->ops->valid(it); }
static inline void iter_seek_first(struct iter *it) { it->ops->seek_first(it); }
static inline void iter_seek_last(struct iter *it) { it->ops->seek_last(it); }
static inline void iter_seek(struct iter *it, struct kv_slice t) { it->ops->seek(it, t); }
static inline void iter_next(struct iter *it) { it->ops->next(it); }
static inline void iter_prev(struct iter *it) { it->ops->prev(it); }
static inline struct kv_slice iter_key(struct iter *it) { return it->ops->key(it); }
static inline struct kv_slice iter_value(struct iter *it) { return it->ops->value(it); }
static inline int iter_status(struct iter *it) { return it->ops->status(it); }
static inline void iter_destroy(struct iter *it) { if (it) it->ops->destroy(it); }

#endif
