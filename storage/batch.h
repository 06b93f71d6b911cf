/*
 * batch.h - write batches: the unit of atomicity of the engine and the
 * payload of one WAL record (storage/FORMAT.md, "Write batch").
 *
 *   batch     = seq:fixed64 ++ count:fixed32 ++ record{count}
 *   record    = type:u8 ++ key:varstring                   type DELETE (0)
 *             | type:u8 ++ key:varstring ++ value:varstring type VALUE (1)
 *             | type:u8 ++ begin:varstring ++ end:varstring type RANGE_DELETE (2)
 *   varstring = length:varint32 ++ bytes
 *
 * seq is the sequence number of the first record; record i gets seq + i.
 * A batch being built carries seq 0: the engine stamps the real number
 * when it commits the batch. The engine_batch_* functions of
 * storage/engine.h build batches; this header is the engine's internal
 * view (stamping, group merging, decoding).
 *
 * The decoder trusts nothing: every length, type, limit and the record
 * count are checked, and anything malformed is KV_ECORRUPT.
 *
 * Threading: a batch is used by one thread at a time; engine_write only
 * reads it.
 */
#ifndef RINGKV_STORAGE_BATCH_H
#define RINGKV_STORAGE_BATCH_H

#include <stdint.h>

#include "common/buf.h"
#include "common/coding.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/engine.h"
#include "storage/ikey.h"

#define BATCH_SEQ_OFFSET 0
#define BATCH_COUNT_OFFSET 8
#define BATCH_HEADER_BYTES (8 + 4) /* seq:fixed64 + count:fixed32 */

struct engine_batch {
    struct kv_buf rep;    /* header + records; always at least the header */
    uint64_t user_bytes;  /* key + value bytes, for the write-amplification stat */
};

static inline struct kv_slice batch_rep(const struct engine_batch *b)
{
    return kv_slice_make(b->rep.data, b->rep.len);
}
static inline uint32_t batch_rep_count(const char *rep) { return kv_get_fixed32(rep + BATCH_COUNT_OFFSET); }
static inline uint64_t batch_rep_seq(const char *rep) { return kv_get_fixed64(rep + BATCH_SEQ_OFFSET); }
static inline void batch_rep_set_seq(char *rep, uint64_t seq) { kv_put_fixed64(rep + BATCH_SEQ_OFFSET, seq); }

/* Makes dst an empty batch (header only, seq 0, count 0). */
int batch_rep_init(struct kv_buf *dst) KV_MUST_USE;
/* Appends the records of src (a whole batch) to dst and adds the counts;
 * used by the group-commit leader. */
int batch_rep_append(struct kv_buf *dst, struct kv_slice src) KV_MUST_USE;

/* A cursor over the records of an encoded batch. */
struct batch_reader {
    const char *p;
    const char *end;
    uint32_t left;   /* records not yet returned */
    uint64_t seq;    /* of the first record */
    uint32_t count;
};

/* KV_ECORRUPT if rep is shorter than the header or seq + count overflows KV_SEQ_MAX. */
int batch_reader_init(struct batch_reader *r, struct kv_slice rep) KV_MUST_USE;
/*
 * Decodes the next record: KV_OK with *type, *key and *value (empty for
 * DELETE) pointing into rep; KV_ENOTFOUND once all count records were
 * returned and nothing is left over; KV_ECORRUPT for a bad type or
 * length, a key or value over its limit, an empty or reversed range,
 * fewer records than count, or trailing bytes.
 */
int batch_reader_next(struct batch_reader *r, enum ikey_type *type, struct kv_slice *key,
                      struct kv_slice *value) KV_MUST_USE;

/* Decodes every record of rep without using them: KV_OK or KV_ECORRUPT. */
int batch_validate(struct kv_slice rep) KV_MUST_USE;

#endif
