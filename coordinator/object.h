/*
 * object.h - the stored object: the value bytes the engine holds for a key.
 *
 * An object is a DVVSet (coordinator/dvv.h) whose values are sibling
 * records. A record is a register value, a tombstone (a delete), or a
 * PN-counter state, each with an optional absolute expiry:
 *
 *   object   := OBJECT_FORMAT_V1:u8 clock            (clock: dvv.h grammar)
 *   record   := flags:u8 expires_at_ms:varint64 [stamp_ms:varint64] payload
 *              (one clock value)
 *     flags:   OBJECT_FLAG_TOMBSTONE (0x01)  payload is empty
 *              OBJECT_FLAG_COUNTER   (0x02)  payload is a counter
 *              neither                       payload is the register's data
 *              (never both)
 *              OBJECT_FLAG_STAMPED   (0x04)  stamp_ms is present (last-writer-
 *                                            wins mode); other bits zero
 *     expires_at_ms: wall-clock ms since the epoch; 0 = never
 *     stamp_ms: wall-clock ms of the write, from its coordinator (LWW)
 *   counter  := n:varint32 (actor:fixed64 p:varint64 n:varint64){n}
 *              actors strictly increasing, n <= OBJECT_COUNTER_ACTORS_MAX
 *
 * Worked example: actor 0x0a stored "hi" with no expiry (18 bytes):
 *   01                         OBJECT_FORMAT_V1
 *   01                         clock: n_entries = 1
 *   0a 00 00 00 00 00 00 00    id 0x0a
 *   01 01                      counter 1, n_values 1
 *   04 00 00 68 69             record of 4 bytes: flags 0, expires 0, "hi"
 *   00                         n_anon = 0
 *
 * Why the counter is a sibling and not an object kind of its own: the
 * clock then orders counters against SETs and deletes too. A SET or DEL
 * after an INCR supersedes the counter causally (a plain PN-counter
 * object could not tell which came first on another replica, and a
 * deleted counter would come back at its old value). Concurrent INCRs
 * through different nodes become sibling counter states; their value is
 * the per-actor maximum of all of them (object_counter_merge), so no
 * increment is lost or counted twice. An INCR writes the merged state
 * plus its delta, superseding the states it merged.
 *
 * Visibility at time now: a sibling is visible unless it is a tombstone
 * or expires_at_ms != 0 && expires_at_ms <= now. A key whose object has
 * no visible sibling reads as absent.
 *
 * Last writer wins (a cluster setting, coordinator/README.md): every
 * record is STAMPED, and object_merge then keeps a single value: among
 * the newest value of each actor's entry, the one with the highest
 * (stamp_ms, actor id, dot counter); the others are dropped from the
 * clock (their dots stay covered, so they never come back). Deterministic
 * on any replica, so replicas converge; concurrent writes are lost, by
 * design of that mode. Objects without stamped records merge causally.
 *
 * Size: an encoded object (all siblings together) may not exceed
 * object_bytes_max(value_bytes_max) = value_bytes_max + OBJECT_OVERHEAD_BYTES,
 * so a get reply fits one frame (KV_FRAME_BYTES_MAX_DEFAULT).
 *
 * Memory and threading as for dvv.h: a struct object borrows the bytes it
 * was decoded from; no global state.
 */
#ifndef RINGKV_COORDINATOR_OBJECT_H
#define RINGKV_COORDINATOR_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "coordinator/dvv.h"

#define OBJECT_FORMAT_V1 0x01u
#define OBJECT_FLAG_TOMBSTONE 0x01u
#define OBJECT_FLAG_COUNTER 0x02u
#define OBJECT_FLAG_STAMPED 0x04u
#define OBJECT_FLAGS_KNOWN (OBJECT_FLAG_TOMBSTONE | OBJECT_FLAG_COUNTER | OBJECT_FLAG_STAMPED)
/* flags byte + varint64 expiry + varint64 stamp */
#define OBJECT_RECORD_HEADER_BYTES_MAX (1 + 10 + 10)
#define OBJECT_COUNTER_ACTORS_MAX 1024u
/* Room for the clock and record headers around the values: 1 MiB covers
 * DVV_ENTRIES_MAX entries (23 B each) and DVV_VALUES_MAX headers (21 B). */
#define OBJECT_OVERHEAD_BYTES (1024u * 1024u)

static inline uint64_t object_bytes_max(uint64_t value_bytes_max)
{
    return value_bytes_max + OBJECT_OVERHEAD_BYTES;
}

struct object {
    struct dvv clock;   /* values are records (see above) */
};

/* One decoded sibling record. */
struct object_sibling {
    uint8_t flags;
    uint64_t expires_at_ms;
    uint64_t stamp_ms;          /* OBJECT_FLAG_STAMPED: the write's wall-clock time; else 0 */
    struct kv_slice payload;    /* register data, or an encoded counter */
};

void object_init(struct object *o);
void object_clear(struct object *o);
void object_free(struct object *o);

/* Parses and checks a whole object: the format byte, the clock and every
 * record (flags, expiry, counter payloads). KV_ECORRUPT on any violation;
 * KV_ENOMEM. out borrows in's bytes. */
int object_decode(struct kv_slice in, struct object *out) KV_MUST_USE;
size_t object_encoded_bytes(const struct object *o);
/* Appends the encoding of o to out. */
int object_encode(const struct object *o, struct kv_buf *out) KV_MUST_USE;

/* Causal merge of two replicas' objects (dvv_sync of the clocks), then
 * object_lww_resolve (a no-op unless a record is stamped). */
int object_merge(const struct object *a, const struct object *b, uint32_t siblings_max,
                 struct object *out) KV_MUST_USE;

/* Siblings are numbered 0 .. object_siblings() - 1: the entries' values,
 * then the anonymous ones. Only for decoded (checked) objects or objects
 * built from object_record_append output: parsing cannot fail then. */
static inline uint32_t object_siblings(const struct object *o) { return dvv_size(&o->clock); }
void object_sibling(const struct object *o, uint32_t i, struct object_sibling *out);
/* The dot of sibling i; false for an anonymous value. */
bool object_sibling_dot(const struct object *o, uint32_t i, uint64_t *id_out, uint64_t *counter_out);

static inline bool object_sibling_expired(const struct object_sibling *s, uint64_t now_ms)
{
    return s->expires_at_ms != 0 && s->expires_at_ms <= now_ms;
}
static inline bool object_sibling_visible(const struct object_sibling *s, uint64_t now_ms)
{
    return !(s->flags & OBJECT_FLAG_TOMBSTONE) && !object_sibling_expired(s, now_ms);
}

/* Visible siblings at now. */
uint32_t object_visible_count(const struct object *o, uint64_t now_ms);
/* True if no sibling is visible: the key reads as absent (deleted or expired). */
bool object_is_dead(const struct object *o, uint64_t now_ms);
/* True if the object has siblings and every one has expired at now
 * (tombstones never expire): what TTL purge may drop. */
bool object_is_expired(const struct object *o, uint64_t now_ms);

/* object_is_expired straight on encoded bytes, without allocating (for
 * the compaction filter, once per key compacted). False for anything that
 * does not parse: never drop what cannot be read. */
bool object_encoded_is_expired(struct kv_slice in, uint64_t now_ms);

/* Appends record header + payload to out (a value for dvv_update).
 * flags must not hold OBJECT_FLAG_STAMPED (see object_record_append_stamped). */
int object_record_append(struct kv_buf *out, uint8_t flags, uint64_t expires_at_ms,
                         struct kv_slice payload) KV_MUST_USE;
/* The same with OBJECT_FLAG_STAMPED and stamp_ms (last-writer-wins). */
int object_record_append_stamped(struct kv_buf *out, uint8_t flags, uint64_t expires_at_ms, uint64_t stamp_ms,
                                 struct kv_slice payload) KV_MUST_USE;

/* Last writer wins: if any value of o is stamped, keeps only the winner
 * (see the top comment) and drops the other values from o's clock in
 * place. Returns the number of values dropped. */
uint32_t object_lww_resolve(struct object *o);
/* The highest stamp_ms among o's values (0: none stamped). */
uint64_t object_max_stamp(const struct object *o);

/* ---- PN-counters ---- */

struct object_pn {
    uint64_t actor;
    uint64_t p;     /* sum of increments by actor */
    uint64_t n;     /* sum of decrements by actor (as a positive number) */
};

/* A counter state being computed; owns its array (reusable after clear). */
struct object_counter {
    struct object_pn *e;    /* sorted by actor, unique */
    uint32_t n;
    uint32_t cap;
};

void object_counter_init(struct object_counter *c);
void object_counter_clear(struct object_counter *c);
void object_counter_free(struct object_counter *c);
/* Merges an encoded counter (a counter record's payload) into c: per
 * actor, the maximum of p and of n. KV_ECORRUPT if malformed, KV_ETOOBIG
 * over OBJECT_COUNTER_ACTORS_MAX actors. */
int object_counter_merge(struct object_counter *c, struct kv_slice payload) KV_MUST_USE;
/* Merges one actor's (p, n) into c (per-actor maximum). */
int object_counter_merge_pn(struct object_counter *c, uint64_t actor, uint64_t p, uint64_t n) KV_MUST_USE;
/* Adds delta to actor's p (delta > 0) or n (delta < 0). KV_ETOOBIG if
 * that sum would pass UINT64_MAX. */
int object_counter_add(struct object_counter *c, uint64_t actor, int64_t delta) KV_MUST_USE;
/* Sum of p minus sum of n. KV_ETOOBIG if it is outside int64. */
int object_counter_value(const struct object_counter *c, int64_t *out) KV_MUST_USE;
/* Appends the counter encoding (a record payload) to out. */
int object_counter_encode(const struct object_counter *c, struct kv_buf *out) KV_MUST_USE;

/* The pseudo-actor that holds the value of a register converted to a
 * counter (INCR on "41"): derived from the register's dot, so two
 * replicas converting the same register concurrently add its value once
 * (per-actor max), not twice. Distinct from node actor ids by its seed. */
uint64_t object_base_actor(uint64_t dot_id, uint64_t dot_counter);

/* Parses a decimal integer the way Redis does: optional '-', digits, no
 * leading zeros, no '+' or spaces, "-0" refused, must fit int64.
 * KV_EINVAL otherwise. */
int object_parse_int64(struct kv_slice s, int64_t *out) KV_MUST_USE;

#endif
