/* buf.c - see buf.h. */
#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/coding.h"

int kv_buf_reserve(struct kv_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return KV_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return KV_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return KV_ENOMEM;
    b->data = p;
    b->cap = cap;
    return KV_OK;
}

int kv_buf_append(struct kv_buf *b, const void *data, size_t n)
{
    int rc = kv_buf_reserve(b, n);
    if (rc != KV_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
    return KV_OK;
}

int kv_buf_append_byte(struct kv_buf *b, char c) { return kv_buf_append(b, &c, 1); }

int kv_buf_append_varint(struct kv_buf *b, uint64_t v)
{
    char tmp[KV_VARINT64_BYTES_MAX];
    char *end = kv_put_varint64(tmp, v);
    return kv_buf_append(b, tmp, (size_t)(end - tmp));
}

int kv_buf_set(struct kv_buf *b, const void *data, size_t n)
{
    kv_buf_reset(b);
    return kv_buf_append(b, data, n);
}

int kv_buf_appendf(struct kv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KV_EINVAL;
    int rc = kv_buf_reserve(b, (size_t)n);
    if (rc != KV_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KV_OK;
}

void kv_buf_free(struct kv_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *kv_buf_detach(struct kv_buf *b, size_t *len_out)
{
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
