/* rangedel.c - see rangedel.h. */
#include "storage/rangedel.h"

#include <stdlib.h>
#include <string.h>

void rangedel_free(struct rangedel_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free((void *)s->t[i].begin.data);
    free(s->t);
    free(s->points);
    free(s->max_seq);
    rangedel_init(s);
}

int rangedel_add(struct rangedel_set *s, struct kv_slice begin, struct kv_slice end, uint64_t seq)
{
    if (kv_slice_cmp(begin, end) >= 0)
        return KV_OK;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct table_range_tombstone *p = realloc(s->t, cap * sizeof *p);
        if (!p)
            return KV_ENOMEM;
        s->t = p;
        s->cap = cap;
    }
    char *mem = malloc(begin.len + end.len + 1); /* +1: never malloc(0) */
    if (!mem)
        return KV_ENOMEM;
    memcpy(mem, begin.data, begin.len);
    if (end.len)
        memcpy(mem + begin.len, end.data, end.len);
    s->t[s->n].begin = kv_slice_make(mem, begin.len);
    s->t[s->n].end = kv_slice_make(mem + begin.len, end.len);
    s->t[s->n].seq = seq;
    s->n++;
    return KV_OK;
}

int rangedel_add_all(struct rangedel_set *s, const struct table_range_tombstone *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = rangedel_add(s, t[i].begin, t[i].end, t[i].seq);
        if (rc != KV_OK)
            return rc;
    }
    return KV_OK;
}

static int cmp_tomb(const void *a, const void *b)
{
    const struct table_range_tombstone *x = a, *y = b;
    int r = kv_slice_cmp(x->begin, y->begin);
    if (r == 0)
        r = x->seq > y->seq ? -1 : x->seq < y->seq;
    if (r == 0)
        r = kv_slice_cmp(x->end, y->end);
    return r;
}

static int cmp_slice(const void *a, const void *b)
{
    return kv_slice_cmp(*(const struct kv_slice *)a, *(const struct kv_slice *)b);
}

/* Index of the last point <= key, or npoints if key is before them all. */
static size_t find_point(const struct rangedel_set *s, struct kv_slice key)
{
    size_t lo = 0, hi = s->npoints;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kv_slice_cmp(s->points[mid], key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? s->npoints : lo - 1;
}

static void dedupe(struct rangedel_set *s)
{
    size_t u = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (u > 0 && s->t[u - 1].seq == s->t[i].seq && kv_slice_eq(s->t[u - 1].begin, s->t[i].begin) &&
            kv_slice_eq(s->t[u - 1].end, s->t[i].end)) {
            free((void *)s->t[i].begin.data);
            continue;
        }
        s->t[u++] = s->t[i];
    }
    s->n = u;
}

int rangedel_finish(struct rangedel_set *s, uint64_t visible_seq)
{
    free(s->points);
    free(s->max_seq);
    s->points = NULL;
    s->max_seq = NULL;
    s->npoints = s->hint = 0;
    if (s->n == 0)
        return KV_OK;
    qsort(s->t, s->n, sizeof *s->t, cmp_tomb);
    dedupe(s);
    s->points = malloc(2 * s->n * sizeof *s->points);
    s->max_seq = calloc(2 * s->n, sizeof *s->max_seq);
    if (!s->points || !s->max_seq)
        return KV_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i].seq <= visible_seq) {
            s->points[k++] = s->t[i].begin;
            s->points[k++] = s->t[i].end;
        }
    qsort(s->points, k, sizeof *s->points, cmp_slice);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || !kv_slice_eq(s->points[u - 1], s->points[i]))
            s->points[u++] = s->points[i];
    s->npoints = u;
    for (size_t i = 0; i < s->n; i++) {
        if (s->t[i].seq > visible_seq)
            continue;
        size_t lo = find_point(s, s->t[i].begin), hi = find_point(s, s->t[i].end);
        for (size_t f = lo; f < hi; f++)
            if (s->max_seq[f] < s->t[i].seq)
                s->max_seq[f] = s->t[i].seq;
    }
    return KV_OK;
}

uint64_t rangedel_max_seq(struct rangedel_set *s, struct kv_slice user_key)
{
    size_t h = s->hint;
    if (h + 1 < s->npoints && kv_slice_cmp(s->points[h], user_key) <= 0 &&
        kv_slice_cmp(user_key, s->points[h + 1]) < 0)
        return s->max_seq[h];
    size_t f = find_point(s, user_key);
    if (f + 1 >= s->npoints)
        return 0; /* before the first point or at/after the last one */
    s->hint = f;
    return s->max_seq[f];
}

uint64_t rangedel_scan_max_seq(const struct table_range_tombstone *t, size_t n, struct kv_slice user_key,
                               uint64_t visible_seq)
{
    uint64_t best = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].seq <= visible_seq && t[i].seq > best && kv_slice_cmp(t[i].begin, user_key) <= 0 &&
            kv_slice_cmp(user_key, t[i].end) < 0)
            best = t[i].seq;
    return best;
}
