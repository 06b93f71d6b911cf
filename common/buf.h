/*
 * buf.h - a growable, owned byte buffer.
 *
 * A zeroed struct kv_buf is an empty buffer. Growth doubles the capacity,
 * so n appends cost O(n) amortised. data is NULL until the first append
 * and is always NUL-terminated after it (the NUL is not counted in len),
 * so text can be printed directly. kv_buf_free releases the memory.
 */
#ifndef RINGKV_COMMON_BUF_H
#define RINGKV_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct kv_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Ensures room for `extra` more bytes (plus the NUL). KV_OK or KV_ENOMEM. */
int kv_buf_reserve(struct kv_buf *b, size_t extra) KV_MUST_USE;
int kv_buf_append(struct kv_buf *b, const void *data, size_t n) KV_MUST_USE;
int kv_buf_append_byte(struct kv_buf *b, char c) KV_MUST_USE;
int kv_buf_append_varint(struct kv_buf *b, uint64_t v) KV_MUST_USE;
int kv_buf_appendf(struct kv_buf *b, const char *fmt, ...) KV_MUST_USE
    __attribute__((format(printf, 2, 3)));
/* Replaces the content with n bytes of data. */
int kv_buf_set(struct kv_buf *b, const void *data, size_t n) KV_MUST_USE;
static inline void kv_buf_reset(struct kv_buf *b) { b->len = 0; if (b->data) b->data[0] = 0; }
void kv_buf_free(struct kv_buf *b);
/* Hands the bytes to the caller (who free()s them) and empties b. */
char *kv_buf_detach(struct kv_buf *b, size_t *len_out);

#endif
