/*
 * slice.h - a borrowed byte range. A slice never owns its bytes; the
 * function that hands one out says how long they stay valid.
 */
#ifndef RINGKV_COMMON_SLICE_H
#define RINGKV_COMMON_SLICE_H

#include <stddef.h>
#include <string.h>

struct kv_slice {
    const char *data;
    size_t len;
};

static inline struct kv_slice kv_slice_make(const void *data, size_t len)
{
    struct kv_slice s = { (const char *)data, len };
    return s;
}

static inline struct kv_slice kv_slice_str(const char *s) { return kv_slice_make(s, strlen(s)); }

/* memcmp order; a proper prefix sorts first. */
static inline int kv_slice_cmp(struct kv_slice a, struct kv_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.data, b.data, n) : 0;
    if (r == 0)
        r = (a.len < b.len) ? -1 : (a.len > b.len);
    return r;
}

static inline int kv_slice_eq(struct kv_slice a, struct kv_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

#endif
