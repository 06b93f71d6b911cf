/*
 * rangedel.h - sets of range tombstones and the question "is this version
 * of this key deleted by a range tombstone?".
 *
 * A range tombstone [begin, end) at seq deletes every version of every
 * user key k with begin <= k < end whose seq is lower. A reader at
 * snapshot S only honours tombstones with seq <= S.
 *
 * A rangedel_set collects tombstones (copying them), then `finish` cuts
 * the key space at every begin and end into fragments and records, for
 * each fragment, the highest seq (<= the given visibility bound) of the
 * tombstones covering it. A lookup is then one binary search, O(log F),
 * plus a constant-time check of the last fragment used so that forward
 * scans mostly skip the search. Building costs O(T log T) for sorting
 * plus the fragments each tombstone spans (O(T * F) at worst, for heavily
 * overlapping tombstones; they are few in practice).
 *
 * Threading: one owner (lookups update the hint).
 */
#ifndef RINGKV_STORAGE_RANGEDEL_H
#define RINGKV_STORAGE_RANGEDEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"
#include "common/status.h"
#include "storage/table.h"

struct rangedel_set {
    struct table_range_tombstone *t;  /* collected tombstones; keys owned (one malloc each) */
    size_t n;
    size_t cap;
    struct kv_slice *points;          /* fragment boundaries, sorted and unique */
    uint64_t *max_seq;                /* max_seq[i]: of fragment [points[i], points[i+1]) */
    size_t npoints;
    size_t hint;                      /* fragment of the last lookup */
};

static inline void rangedel_init(struct rangedel_set *s)
{
    s->t = NULL;
    s->n = s->cap = s->npoints = s->hint = 0;
    s->points = NULL;
    s->max_seq = NULL;
}
void rangedel_free(struct rangedel_set *s);

/* Copies a tombstone in; empty ranges are ignored. */
int rangedel_add(struct rangedel_set *s, struct kv_slice begin, struct kv_slice end, uint64_t seq) KV_MUST_USE;
int rangedel_add_all(struct rangedel_set *s, const struct table_range_tombstone *t, size_t n) KV_MUST_USE;

/* Sorts the tombstones by (begin, seq descending), drops exact duplicates
 * and builds the fragments from those with seq <= visible_seq. */
int rangedel_finish(struct rangedel_set *s, uint64_t visible_seq) KV_MUST_USE;

static inline bool rangedel_empty(const struct rangedel_set *s) { return s->npoints == 0; }

/* Highest seq of a finished set's tombstones covering user_key; 0 if none. */
uint64_t rangedel_max_seq(struct rangedel_set *s, struct kv_slice user_key);

/* True if a version (user_key, seq) is deleted by a tombstone of a finished set. */
static inline bool rangedel_covers(struct rangedel_set *s, struct kv_slice user_key, uint64_t seq)
{
    return s->npoints != 0 && rangedel_max_seq(s, user_key) > seq;
}

/* Without a set: the highest seq <= visible_seq among n tombstones covering
 * user_key, by a linear scan (for point reads, where T is tiny). 0 if none. */
uint64_t rangedel_scan_max_seq(const struct table_range_tombstone *t, size_t n, struct kv_slice user_key,
                               uint64_t visible_seq);

#endif
