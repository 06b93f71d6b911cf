/*
 * hint.h - the pure parts of hinted handoff: the hint record stored under
 * a hint key (coordinator/keyspace.h), the expiry rule, the retry backoff
 * and the delivery rate limit. The coordinator (coord_hints.c) drives them.
 *
 * Hint record (the engine value of a hint key):
 *
 *   offset  size  field
 *   0       1     format        HINT_FORMAT_V1 = 0x01
 *   1       8     stored_at_ms  fixed64 (little-endian, common/coding.h):
 *                               wall-clock ms of the last write merged in
 *   9       n     object        the stored object (coordinator/object.h)
 *
 * Example: a hint stored at 1,700,000,000,000 ms holding the 18-byte
 * object of object.h's example is 1 + 8 + 18 = 27 bytes:
 *   01  00 68 e5 cf 8b 01 00 00  01 01 0a 00 ...
 *
 * Expiry: a hint whose stored_at_ms is at least ttl_ms in the past is
 * dropped without delivery (its owner was gone too long; anti-entropy
 * repairs what it missed). A later write to the same key refreshes
 * stored_at_ms, as the hint then holds that newer write.
 *
 * No allocation except kv_buf appends; no global state; thread-safe.
 */
#ifndef RINGKV_COORDINATOR_HINT_H
#define RINGKV_COORDINATOR_HINT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/slice.h"
#include "common/status.h"

#define HINT_FORMAT_V1 0x01u
#define HINT_HEADER_BYTES (1 + 8) /* format + stored_at_ms */

/* Appends a hint record to out. KV_ENOMEM only. */
int hint_record_encode(uint64_t stored_at_ms, struct kv_slice object, struct kv_buf *out) KV_MUST_USE;

/* Splits a hint record; object points into rec. KV_ECORRUPT if it is
 * shorter than the header or of another format (the object itself is
 * checked by object_decode when it is used). */
int hint_record_decode(struct kv_slice rec, uint64_t *stored_at_ms_out, struct kv_slice *object_out) KV_MUST_USE;

/* True once now_ms >= stored_at_ms + ttl_ms. A stored_at_ms in the future
 * (the wall clock went back) does not expire. */
bool hint_expired(uint64_t stored_at_ms, uint64_t now_ms, uint64_t ttl_ms);

/*
 * Delay before the next delivery attempt to a node after `failures`
 * consecutive failed ones (>= 1): min_ms doubled per further failure,
 * capped at max_ms, then jittered to a uniform value in [d/2, d] so that
 * fallbacks do not retry in lockstep.
 */
uint64_t hint_backoff_ms(uint32_t failures, uint32_t min_ms, uint32_t max_ms, struct kv_rand *r);

/*
 * Token bucket of the delivery rate: per_sec tokens a second, at most
 * per_sec in the bucket (one second of burst). Tokens are counted in
 * thousandths so that rates below one per tick still accrue exactly.
 */
struct hint_bucket {
    uint64_t milli;        /* tokens * 1000 */
    uint64_t last_ms;      /* time of the last refill */
    uint32_t per_sec;      /* >= 1 */
};

void hint_bucket_init(struct hint_bucket *b, uint32_t per_sec, uint64_t now_ms);
/* Refills for the time since the last call, then takes one token if there is one. */
bool hint_bucket_take(struct hint_bucket *b, uint64_t now_ms);
/* The earliest time a token is available (now_ms if one is). */
uint64_t hint_bucket_next_ms(const struct hint_bucket *b, uint64_t now_ms);

#endif
