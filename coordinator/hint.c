/* hint.c - see hint.h. */
#include "coordinator/hint.h"

#include "common/coding.h"

int hint_record_encode(uint64_t stored_at_ms, struct kv_slice object, struct kv_buf *out)
{
    char hdr[HINT_HEADER_BYTES];
    hdr[0] = (char)HINT_FORMAT_V1;
    kv_put_fixed64(hdr + 1, stored_at_ms);
    int rc = kv_buf_reserve(out, sizeof hdr + object.len);
    if (rc == KV_OK)
        rc = kv_buf_append(out, hdr, sizeof hdr);
    if (rc == KV_OK)
        rc = kv_buf_append(out, object.data, object.len);
    return rc;
}

int hint_record_decode(struct kv_slice rec, uint64_t *stored_at_ms_out, struct kv_slice *object_out)
{
    if (rec.len < HINT_HEADER_BYTES || (unsigned char)rec.data[0] != HINT_FORMAT_V1)
        return KV_ECORRUPT;
    *stored_at_ms_out = kv_get_fixed64(rec.data + 1);
    *object_out = kv_slice_make(rec.data + HINT_HEADER_BYTES, rec.len - HINT_HEADER_BYTES);
    return KV_OK;
}

bool hint_expired(uint64_t stored_at_ms, uint64_t now_ms, uint64_t ttl_ms)
{
    return now_ms >= stored_at_ms && now_ms - stored_at_ms >= ttl_ms;
}

uint64_t hint_backoff_ms(uint32_t failures, uint32_t min_ms, uint32_t max_ms, struct kv_rand *r)
{
    uint64_t d = min_ms ? min_ms : 1;
    for (uint32_t i = 1; i < failures && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    if (d < 2)
        return d;
    return d / 2 + kv_rand_below(r, d - d / 2 + 1);
}

void hint_bucket_init(struct hint_bucket *b, uint32_t per_sec, uint64_t now_ms)
{
    b->per_sec = per_sec ? per_sec : 1;
    b->milli = (uint64_t)b->per_sec * 1000u;
    b->last_ms = now_ms;
}

static void bucket_refill(struct hint_bucket *b, uint64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    uint64_t cap = (uint64_t)b->per_sec * 1000u;
    uint64_t elapsed = now_ms - b->last_ms;
    /* per_sec tokens per 1000 ms = per_sec milli-tokens per ms. */
    uint64_t add = elapsed >= 1000u ? cap : elapsed * b->per_sec;
    b->milli = b->milli + add > cap ? cap : b->milli + add;
    b->last_ms = now_ms;
}

bool hint_bucket_take(struct hint_bucket *b, uint64_t now_ms)
{
    bucket_refill(b, now_ms);
    if (b->milli < 1000u)
        return false;
    b->milli -= 1000u;
    return true;
}

uint64_t hint_bucket_next_ms(const struct hint_bucket *b, uint64_t now_ms)
{
    struct hint_bucket t = *b;
    bucket_refill(&t, now_ms);
    if (t.milli >= 1000u)
        return now_ms;
    uint64_t missing = 1000u - t.milli;
    return now_ms + (missing + t.per_sec - 1) / t.per_sec;
}
