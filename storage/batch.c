/* batch.c - see batch.h and the engine_batch_* part of engine.h. */
#include "storage/batch.h"

#include <stdlib.h>

int batch_rep_init(struct kv_buf *dst)
{
    char header[BATCH_HEADER_BYTES] = { 0 };
    return kv_buf_set(dst, header, sizeof header);
}

int batch_rep_append(struct kv_buf *dst, struct kv_slice src)
{
    if (dst->len < BATCH_HEADER_BYTES || src.len < BATCH_HEADER_BYTES)
        return KV_EINVAL;
    int rc = kv_buf_append(dst, src.data + BATCH_HEADER_BYTES, src.len - BATCH_HEADER_BYTES);
    if (rc != KV_OK)
        return rc;
    uint32_t count = batch_rep_count(dst->data) + batch_rep_count(src.data);
    kv_put_fixed32(dst->data + BATCH_COUNT_OFFSET, count);
    return KV_OK;
}

int batch_reader_init(struct batch_reader *r, struct kv_slice rep)
{
    if (rep.len < BATCH_HEADER_BYTES)
        return KV_ECORRUPT;
    r->seq = batch_rep_seq(rep.data);
    r->count = batch_rep_count(rep.data);
    if (r->seq > KV_SEQ_MAX || (uint64_t)r->count > KV_SEQ_MAX - r->seq)
        return KV_ECORRUPT;
    r->p = rep.data + BATCH_HEADER_BYTES;
    r->end = rep.data + rep.len;
    r->left = r->count;
    return KV_OK;
}

static const char *get_varstring(const char *p, const char *end, uint32_t max_bytes, struct kv_slice *out)
{
    uint32_t n;
    p = kv_get_varint32(p, end, &n);
    if (!p || n > max_bytes || n > (size_t)(end - p))
        return NULL;
    *out = kv_slice_make(p, n);
    return p + n;
}

int batch_reader_next(struct batch_reader *r, enum ikey_type *type, struct kv_slice *key,
                      struct kv_slice *value)
{
    if (r->left == 0)
        return r->p == r->end ? KV_ENOTFOUND : KV_ECORRUPT;
    if (r->p >= r->end)
        return KV_ECORRUPT;
    unsigned t = (unsigned char)*r->p;
    const char *p = r->p + 1;
    struct kv_slice k, v = kv_slice_make(NULL, 0);
    p = get_varstring(p, r->end, ENGINE_KEY_BYTES_MAX, &k);
    if (!p)
        return KV_ECORRUPT;
    switch (t) {
    case IKEY_TYPE_DELETE:
        break;
    case IKEY_TYPE_VALUE:
        p = get_varstring(p, r->end, ENGINE_VALUE_BYTES_MAX, &v);
        break;
    case IKEY_TYPE_RANGE_DELETE:
        p = get_varstring(p, r->end, ENGINE_KEY_BYTES_MAX, &v);
        if (p && kv_slice_cmp(k, v) >= 0)
            return KV_ECORRUPT;
        break;
    default:
        return KV_ECORRUPT;
    }
    if (!p)
        return KV_ECORRUPT;
    r->p = p;
    r->left--;
    *type = (enum ikey_type)t;
    *key = k;
    *value = v;
    return KV_OK;
}

int batch_validate(struct kv_slice rep)
{
    struct batch_reader r;
    int rc = batch_reader_init(&r, rep);
    enum ikey_type t;
    struct kv_slice k, v;
    while (rc == KV_OK)
        rc = batch_reader_next(&r, &t, &k, &v);
    return rc == KV_ENOTFOUND ? KV_OK : rc;
}

/* ---- the public builder (engine.h) ---- */

int engine_batch_new(struct engine_batch **out)
{
    struct engine_batch *b = calloc(1, sizeof *b);
    if (!b)
        return KV_ENOMEM;
    if (batch_rep_init(&b->rep) != KV_OK) {
        free(b);
        return KV_ENOMEM;
    }
    *out = b;
    return KV_OK;
}

/* Appends one record; nothing is appended when it fails. */
static int batch_add(struct engine_batch *b, enum ikey_type t, struct kv_slice key, const struct kv_slice *value)
{
    uint32_t count = batch_rep_count(b->rep.data);
    size_t bytes = 1 + KV_VARINT32_BYTES_MAX + key.len + (value ? KV_VARINT32_BYTES_MAX + value->len : 0);
    if (count == UINT32_MAX || bytes > ENGINE_BATCH_BYTES_MAX - b->rep.len)
        return KV_ETOOBIG;
    if (b->rep.cap - b->rep.len <= bytes) { /* growth is rare: keep the common path inline */
        int rc = kv_buf_reserve(&b->rep, bytes);
        if (rc != KV_OK)
            return rc;
    }
    char *p = b->rep.data + b->rep.len;
    *p++ = (char)t;
    p = kv_put_varint32(p, (uint32_t)key.len);
    if (key.len)
        memcpy(p, key.data, key.len);
    p += key.len;
    if (value) {
        p = kv_put_varint32(p, (uint32_t)value->len);
        if (value->len)
            memcpy(p, value->data, value->len);
        p += value->len;
    }
    b->rep.len = (size_t)(p - b->rep.data);
    b->rep.data[b->rep.len] = 0;
    kv_put_fixed32(b->rep.data + BATCH_COUNT_OFFSET, count + 1);
    b->user_bytes += key.len + (value ? value->len : 0);
    return KV_OK;
}

int engine_batch_put(struct engine_batch *b, struct kv_slice key, struct kv_slice value)
{
    if (key.len > ENGINE_KEY_BYTES_MAX || value.len > ENGINE_VALUE_BYTES_MAX)
        return KV_ETOOBIG;
    return batch_add(b, IKEY_TYPE_VALUE, key, &value);
}

int engine_batch_delete(struct engine_batch *b, struct kv_slice key)
{
    if (key.len > ENGINE_KEY_BYTES_MAX)
        return KV_ETOOBIG;
    return batch_add(b, IKEY_TYPE_DELETE, key, NULL);
}

int engine_batch_delete_range(struct engine_batch *b, struct kv_slice begin, struct kv_slice end)
{
    if (begin.len > ENGINE_KEY_BYTES_MAX || end.len > ENGINE_KEY_BYTES_MAX)
        return KV_ETOOBIG;
    int order = kv_slice_cmp(begin, end);
    if (order > 0)
        return KV_EINVAL;
    if (order == 0)
        return KV_OK; /* an empty range deletes nothing and is not recorded */
    return batch_add(b, IKEY_TYPE_RANGE_DELETE, begin, &end);
}

void engine_batch_clear(struct engine_batch *b)
{
    b->rep.len = BATCH_HEADER_BYTES;
    memset(b->rep.data, 0, BATCH_HEADER_BYTES);
    b->rep.data[b->rep.len] = 0;
    b->user_bytes = 0;
}

uint32_t engine_batch_count(const struct engine_batch *b) { return batch_rep_count(b->rep.data); }

void engine_batch_free(struct engine_batch *b)
{
    if (!b)
        return;
    kv_buf_free(&b->rep);
    free(b);
}
