/* block.c - see block.h. */
#include "storage/block.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/coding.h"
#include "storage/ikey.h"
#include "storage/keycmp.h"

/* ---- builder ---- */

struct block_builder {
    struct kv_buf buf;       /* entries, then the restart array once finished */
    uint32_t *restarts;
    size_t num_restarts;
    size_t restarts_cap;
    int restart_interval;
    int counter;             /* entries since the last restart point */
    struct kv_buf last_key;
    bool finished;
};

int block_builder_new(int restart_interval, struct block_builder **out)
{
    assert(restart_interval >= 1);
    struct block_builder *b = calloc(1, sizeof *b);
    if (!b)
        return KV_ENOMEM;
    b->restart_interval = restart_interval;
    b->restarts_cap = 16;
    b->restarts = malloc(b->restarts_cap * sizeof *b->restarts);
    if (!b->restarts) {
        free(b);
        return KV_ENOMEM;
    }
    block_builder_reset(b);
    *out = b;
    return KV_OK;
}

void block_builder_free(struct block_builder *b)
{
    if (!b)
        return;
    kv_buf_free(&b->buf);
    kv_buf_free(&b->last_key);
    free(b->restarts);
    free(b);
}

void block_builder_reset(struct block_builder *b)
{
    kv_buf_reset(&b->buf);
    kv_buf_reset(&b->last_key);
    b->restarts[0] = 0; /* the first entry is always a restart point */
    b->num_restarts = 1;
    b->counter = 0;
    b->finished = false;
}

size_t block_builder_size_estimate(const struct block_builder *b)
{
    return b->buf.len + b->num_restarts * BLOCK_RESTART_BYTES + BLOCK_RESTART_COUNT_BYTES;
}

bool block_builder_empty(const struct block_builder *b) { return b->buf.len == 0; }

static int add_restart(struct block_builder *b)
{
    if (b->num_restarts == b->restarts_cap) {
        size_t cap = b->restarts_cap * 2;
        uint32_t *r = realloc(b->restarts, cap * sizeof *r);
        if (!r)
            return KV_ENOMEM;
        b->restarts = r;
        b->restarts_cap = cap;
    }
    b->restarts[b->num_restarts++] = (uint32_t)b->buf.len;
    b->counter = 0;
    return KV_OK;
}

int block_builder_add(struct block_builder *b, struct kv_slice key, struct kv_slice value)
{
    assert(!b->finished);
    size_t shared = 0;
    if (b->counter < b->restart_interval) {
        size_t n = key.len < b->last_key.len ? key.len : b->last_key.len;
        while (shared < n && key.data[shared] == b->last_key.data[shared])
            shared++;
    } else {
        int rc = add_restart(b);
        if (rc != KV_OK)
            return rc;
    }
    size_t unshared = key.len - shared;
    /* Room for this entry plus the restart array must stay below 4 GiB. */
    uint64_t grown = (uint64_t)block_builder_size_estimate(b) + BLOCK_ENTRY_HEADER_BYTES_MAX + unshared +
                     value.len + BLOCK_RESTART_BYTES;
    if (grown >= BLOCK_BYTES_MAX || key.len > UINT32_MAX || value.len > UINT32_MAX)
        return KV_ETOOBIG;
    int rc = kv_buf_reserve(&b->buf, BLOCK_ENTRY_HEADER_BYTES_MAX + unshared + value.len);
    if (rc != KV_OK)
        return rc;
    char *p = b->buf.data + b->buf.len;
    p = kv_put_varint32(p, (uint32_t)shared);
    p = kv_put_varint32(p, (uint32_t)unshared);
    p = kv_put_varint32(p, (uint32_t)value.len);
    if (unshared)
        memcpy(p, key.data + shared, unshared);
    p += unshared;
    if (value.len)
        memcpy(p, value.data, value.len);
    p += value.len;
    b->buf.len = (size_t)(p - b->buf.data);
    b->buf.data[b->buf.len] = 0;
    /* last_key keeps its shared prefix; only the tail changes. */
    b->last_key.len = shared;
    rc = kv_buf_append(&b->last_key, key.data + shared, unshared);
    if (rc != KV_OK)
        return rc;
    b->counter++;
    return KV_OK;
}

int block_builder_finish(struct block_builder *b, struct kv_slice *out)
{
    if (!b->finished) {
        size_t need = b->num_restarts * BLOCK_RESTART_BYTES + BLOCK_RESTART_COUNT_BYTES;
        int rc = kv_buf_reserve(&b->buf, need);
        if (rc != KV_OK)
            return rc;
        char *p = b->buf.data + b->buf.len;
        for (size_t i = 0; i < b->num_restarts; i++, p += BLOCK_RESTART_BYTES)
            kv_put_fixed32(p, b->restarts[i]);
        kv_put_fixed32(p, (uint32_t)b->num_restarts);
        b->buf.len += need;
        b->buf.data[b->buf.len] = 0;
        b->finished = true;
    }
    *out = kv_slice_make(b->buf.data, b->buf.len);
    return KV_OK;
}

/* ---- reader ---- */

int block_parse(const char *data, size_t size, struct block *out)
{
    if (size < BLOCK_RESTART_COUNT_BYTES || size >= BLOCK_BYTES_MAX)
        return KV_ECORRUPT;
    uint32_t n = kv_get_fixed32(data + size - BLOCK_RESTART_COUNT_BYTES);
    size_t max = (size - BLOCK_RESTART_COUNT_BYTES) / BLOCK_RESTART_BYTES;
    if (n == 0 || n > max)
        return KV_ECORRUPT;
    uint32_t roff = (uint32_t)(size - BLOCK_RESTART_COUNT_BYTES - (size_t)n * BLOCK_RESTART_BYTES);
    const char *arr = data + roff;
    /* Checked once here so that seek and prev can trust every restart offset. */
    if (kv_get_fixed32(arr) != 0)
        return KV_ECORRUPT;
    uint32_t prev = 0;
    for (uint32_t i = 1; i < n; i++) {
        uint32_t r = kv_get_fixed32(arr + (size_t)i * BLOCK_RESTART_BYTES);
        if (r <= prev || r >= roff)
            return KV_ECORRUPT;
        prev = r;
    }
    out->data = data;
    out->size = (uint32_t)size;
    out->restarts_off = roff;
    out->num_restarts = n;
    return KV_OK;
}

static inline uint32_t restart_point(const struct block *b, uint32_t i)
{
    return kv_get_fixed32(b->data + b->restarts_off + (size_t)i * BLOCK_RESTART_BYTES);
}

static void mark_invalid(struct block_iter *it)
{
    it->cur = it->next = it->blk.restarts_off;
    it->restart_idx = it->blk.num_restarts;
    it->key = kv_slice_make(NULL, 0);
    it->value = kv_slice_make(NULL, 0);
    it->key_in_buf = false;
}

static void fail(struct block_iter *it, int status)
{
    it->status = status;
    mark_invalid(it);
}

/*
 * Decodes an entry header at p, checking that the key delta and value fit
 * before limit. Returns the first byte of the key delta, or NULL. The fast
 * path (all three varints one byte long) covers keys and values < 128 bytes.
 */
static inline const char *decode_header(const char *p, const char *limit, uint32_t *shared, uint32_t *unshared,
                                        uint32_t *vlen)
{
    if (limit - p < 3)
        return NULL;
    uint32_t a = (unsigned char)p[0], b = (unsigned char)p[1], c = (unsigned char)p[2];
    if ((a | b | c) < 128) {
        p += 3;
    } else if (!(p = kv_get_varint32(p, limit, &a)) || !(p = kv_get_varint32(p, limit, &b)) ||
               !(p = kv_get_varint32(p, limit, &c))) {
        return NULL;
    }
    if ((uint64_t)b + c > (uint64_t)(limit - p))
        return NULL;
    *shared = a;
    *unshared = b;
    *vlen = c;
    return p;
}

/* A buffer of at least `need` bytes for the key, keeping the current key's
 * bytes if they live in the old buffer. NULL on allocation failure. */
static char *key_buffer(struct block_iter *it, size_t need)
{
    char *cur = it->heap_key ? it->heap_key : it->inline_key;
    size_t cap = it->heap_key ? it->heap_key_cap : BLOCK_ITER_INLINE_KEY_BYTES;
    if (need <= cap)
        return cur;
    size_t ncap = need > 2 * cap ? need : 2 * cap;
    char *nb = malloc(ncap);
    if (!nb)
        return NULL;
    if (it->key_in_buf) {
        memcpy(nb, cur, it->key.len);
        it->key.data = nb;
    }
    free(it->heap_key);
    it->heap_key = nb;
    it->heap_key_cap = ncap;
    return nb;
}

static void seek_to_restart(struct block_iter *it, uint32_t idx)
{
    it->restart_idx = idx;
    it->key = kv_slice_make(NULL, 0);
    it->key_in_buf = false;
    it->next = restart_point(&it->blk, idx);
}

/* Moves to the entry at it->next. False at the end or on corruption. */
static bool parse_next(struct block_iter *it)
{
    const char *data = it->blk.data;
    const char *limit = data + it->blk.restarts_off;
    const char *p = data + it->next;
    it->cur = it->next;
    if (p >= limit) {
        mark_invalid(it);
        return false;
    }
    uint32_t shared, unshared, vlen;
    p = decode_header(p, limit, &shared, &unshared, &vlen);
    if (!p || shared > it->key.len || (size_t)shared + unshared < IKEY_TRAILER_BYTES) {
        fail(it, KV_ECORRUPT);
        return false;
    }
    if (shared == 0) {
        /* Restart points (and every index entry) are read in place: no copy. */
        it->key = kv_slice_make(p, unshared);
        it->key_in_buf = false;
    } else {
        size_t klen = (size_t)shared + unshared;
        char *kb = key_buffer(it, klen);
        if (!kb) {
            fail(it, KV_ENOMEM);
            return false;
        }
        if (!it->key_in_buf)
            memcpy(kb, it->key.data, shared);
        memcpy(kb + shared, p, unshared);
        it->key = kv_slice_make(kb, klen);
        it->key_in_buf = true;
    }
    it->value = kv_slice_make(p + unshared, vlen);
    it->next = (uint32_t)(p + unshared + vlen - data);
    while (it->restart_idx + 1 < it->blk.num_restarts && restart_point(&it->blk, it->restart_idx + 1) <= it->cur)
        it->restart_idx++;
    return true;
}

void block_iter_seek_first(struct block_iter *it)
{
    if (it->status != KV_OK)
        return;
    seek_to_restart(it, 0);
    (void)parse_next(it);
}

void block_iter_seek_last(struct block_iter *it)
{
    if (it->status != KV_OK)
        return;
    seek_to_restart(it, it->blk.num_restarts - 1);
    while (parse_next(it) && it->next < it->blk.restarts_off) {
    }
}

void block_iter_seek(struct block_iter *it, struct kv_slice target)
{
    assert(target.len >= IKEY_TRAILER_BYTES);
    if (it->status != KV_OK)
        return;
    uint32_t left = 0, right = it->blk.num_restarts - 1;
    if (block_iter_valid(it)) {
        /* Seeking near the current position (a scan that re-seeks) narrows the search. */
        int c = keycmp_ikey(it->key, target);
        if (c == 0)
            return;
        if (c < 0)
            left = it->restart_idx;
        else
            right = it->restart_idx;
    }
    const char *limit = it->blk.data + it->blk.restarts_off;
    while (left < right) {
        uint32_t mid = left + (right - left + 1) / 2;
        uint32_t shared, unshared, vlen;
        const char *p = decode_header(it->blk.data + restart_point(&it->blk, mid), limit, &shared, &unshared, &vlen);
        if (!p || shared != 0 || unshared < IKEY_TRAILER_BYTES) {
            fail(it, KV_ECORRUPT);
            return;
        }
        if (keycmp_ikey(kv_slice_make(p, unshared), target) < 0)
            left = mid;
        else
            right = mid - 1;
    }
    seek_to_restart(it, left);
    while (parse_next(it)) {
        if (keycmp_ikey(it->key, target) >= 0)
            return;
    }
}

void block_iter_next(struct block_iter *it)
{
    if (block_iter_valid(it))
        (void)parse_next(it);
}

void block_iter_prev(struct block_iter *it)
{
    if (!block_iter_valid(it))
        return;
    uint32_t orig = it->cur;
    uint32_t idx = it->restart_idx;
    while (restart_point(&it->blk, idx) >= orig) {
        if (idx == 0) {
            mark_invalid(it);
            return;
        }
        idx--;
    }
    seek_to_restart(it, idx);
    while (parse_next(it) && it->next < orig) {
    }
    /* Entries are contiguous from a restart point; anything else is damage. */
    if (block_iter_valid(it) && it->next != orig)
        fail(it, KV_ECORRUPT);
}

static const struct iter_ops block_iter_ops;

void block_iter_init(struct block_iter *it, const struct block *b)
{
    it->base.ops = &block_iter_ops;
    it->heap_key = NULL;
    it->heap_key_cap = 0;
    block_iter_set_block(it, b);
}

void block_iter_set_block(struct block_iter *it, const struct block *b)
{
    it->blk = *b;
    it->status = KV_OK;
    mark_invalid(it);
}

void block_iter_cleanup(struct block_iter *it)
{
    free(it->heap_key);
    it->heap_key = NULL;
    it->heap_key_cap = 0;
    mark_invalid(it);
}

/* ---- struct iter adapter ---- */

static bool bi_valid(struct iter *it) { return block_iter_valid((struct block_iter *)it); }
static void bi_seek_first(struct iter *it) { block_iter_seek_first((struct block_iter *)it); }
static void bi_seek_last(struct iter *it) { block_iter_seek_last((struct block_iter *)it); }
static void bi_seek(struct iter *it, struct kv_slice t) { block_iter_seek((struct block_iter *)it, t); }
static void bi_next(struct iter *it) { block_iter_next((struct block_iter *)it); }
static void bi_prev(struct iter *it) { block_iter_prev((struct block_iter *)it); }
static struct kv_slice bi_key(struct iter *it) { return block_iter_key((struct block_iter *)it); }
static struct kv_slice bi_value(struct iter *it) { return block_iter_value((struct block_iter *)it); }
static int bi_status(struct iter *it) { return block_iter_status((struct block_iter *)it); }

static void bi_destroy(struct iter *it)
{
    block_iter_cleanup((struct block_iter *)it);
    free(it);
}

static const struct iter_ops block_iter_ops = {
    .valid = bi_valid,
    .seek_first = bi_seek_first,
    .seek_last = bi_seek_last,
    .seek = bi_seek,
    .next = bi_next,
    .prev = bi_prev,
    .key = bi_key,
    .value = bi_value,
    .status = bi_status,
    .destroy = bi_destroy,
};

int block_iter_new(const struct block *b, struct iter **out)
{
    struct block_iter *it = malloc(sizeof *it);
    if (!it)
        return KV_ENOMEM;
    block_iter_init(it, b);
    *out = &it->base;
    return KV_OK;
}
