/*
 * merge.h - a merging iterator: one sorted view over n child iterators
 * whose entries are internal keys (storage/ikey.h, ikey_compare order).
 *
 * The merge yields every child entry, duplicates included (it does not
 * collapse versions; the engine iterator and compaction do that). It
 * moves in both directions and may switch direction at any time: on a
 * switch every child but the current one is re-positioned by a seek
 * around the current key, as in LevelDB's MergingIterator.
 *
 * Cost: each move is one move of one child plus a sift in a binary heap
 * of the children's cached keys: O(log n) compares, two when the same
 * child stays in front. A direction switch costs n seeks and a rebuild.
 *
 * Ownership: merge_iter_new takes the children (also on failure: they are
 * destroyed) and destroys them with the merge. Threading: one thread.
 * Errors: the first non-OK child status is the merge's status; a child
 * that fails becomes invalid and simply stops contributing entries.
 */
#ifndef RINGKV_STORAGE_MERGE_H
#define RINGKV_STORAGE_MERGE_H

#include <stddef.h>

#include "common/status.h"
#include "storage/iter.h"

/* Children are copied out of the array (the array itself stays the
 * caller's). n may be 0 (an always-invalid iterator) or 1. */
int merge_iter_new(struct iter **children, size_t n, struct iter **out) KV_MUST_USE;

#endif
