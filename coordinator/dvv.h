/*
 * dvv.h - dotted version vector sets (DVVSet): causal versions of a key.
 *
 * A DVVSet (Almeida, Baquero, Goncalves, Preguica, Fonte; the form Riak
 * 2.0 stores) is one clock for a whole set of sibling values:
 *
 *   entries:   per actor (node) id, sorted by id:
 *                counter c  - the actor's events 1..c are all in the past
 *                values     - the values of the last k of those events,
 *                             newest first: dots (id, c), (id, c-1), ...,
 *                             (id, c-k+1); they are concurrent siblings
 *   anonymous: values without a dot (made by dvv_new, never by a write
 *              through a coordinator), sorted by bytes, unique
 *
 * A value is superseded exactly when a clock that covers its dot (counter
 * >= its dot) no longer lists it. So "sync" (merge two replicas' clocks)
 * keeps every value that one side has not seen, drops those it has, and
 * never grows the clock with the number of writes - only with the number
 * of actors that coordinated writes, which the cluster bounds.
 *
 * Operations (Riak's dvvset.erl names): dvv_sync (merge), dvv_update (a
 * coordinator's write: the client's context, the stored clock, the
 * coordinator's id, new value(s)), dvv_join (the version vector of a
 * clock, which is what a client gets as its context), dvv_descends /
 * dvv_less / dvv_equal (causal order, values ignored).
 *
 * Memory: a struct dvv owns its arrays and reuses them across calls
 * (dvv_clear keeps capacity), but NOT the value bytes: values are
 * borrowed slices (into the buffer dvv_decode read, or into the caller's
 * buffers for dvv_update). Those bytes must outlive the struct's use.
 * An output struct must not be one of the inputs. Not thread-safe; no
 * global state.
 *
 * Limits: DVV_ENTRIES_MAX actors and DVV_VALUES_MAX values in any clock;
 * sync and update take a lower `values_max` (the configured sibling limit)
 * and fail with KV_ETOOBIG rather than trim.
 *
 * Binary encoding (all multi-byte integers as in common/coding.h):
 *
 *   clock   := n_entries:varint32 entry{n_entries} n_anon:varint32 value{n_anon}
 *   entry   := id:fixed64 counter:varint64 n_values:varint32 value{n_values}
 *   value   := len:varint64 byte{len}
 *
 * Canonical and checked byte by byte by dvv_decode (else KV_ECORRUPT):
 * varints in their shortest form; ids strictly increasing; 1 <= counter; n_values <= counter; anonymous
 * values strictly increasing in memcmp order; at most DVV_ENTRIES_MAX
 * entries and DVV_VALUES_MAX values in all; no bytes after the clock.
 *
 * Example: actor 0x0a wrote "x" then, concurrently with it, "yz"
 * (entries [{0x0a, 2, ["yz", "x"]}], no anonymous values):
 *   01                         n_entries = 1
 *   0a 00 00 00 00 00 00 00    id = 0x0a (fixed64, little-endian)
 *   02                         counter = 2
 *   02                         n_values = 2
 *   02 79 7a                   "yz"  (dot (0x0a, 2))
 *   01 78                      "x"   (dot (0x0a, 1))
 *   00                         n_anon = 0
 *
 * Context encoding (what clients hold; the join of a clock):
 *
 *   context := DVV_CONTEXT_FORMAT:u8 n:varint32 (id:fixed64 counter:varint64){n}
 *
 * with the same ordering and counter rules. "01 00" is the context of a
 * missing key (saw nothing).
 */
#ifndef RINGKV_COORDINATOR_DVV_H
#define RINGKV_COORDINATOR_DVV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"

#define DVV_ENTRIES_MAX 1024u   /* actors per clock: far above any cluster's coordinators */
#define DVV_VALUES_MAX 4096u    /* hard bound on siblings; the configured limit is lower */
#define DVV_CONTEXT_FORMAT 0x01u
/* Bytes of an entry without values, at most: fixed64 id + varint64 counter + varint32 n_values. */
#define DVV_ENTRY_BYTES_MAX (8 + 10 + 5)

struct dvv_entry {
    uint64_t id;        /* actor id */
    uint64_t counter;   /* events (id, 1..counter) are covered */
    uint32_t first;     /* index in dvv.values of the value with dot (id, counter) */
    uint32_t nvalues;   /* values with dots counter, counter-1, ..., counter-nvalues+1 */
};

struct dvv {
    struct dvv_entry *entries;  /* sorted by id, ids unique */
    uint32_t nentries;
    uint32_t entries_cap;
    struct kv_slice *values;    /* the entries' values, entry after entry */
    uint32_t nvalues;
    uint32_t values_cap;
    struct kv_slice *anon;      /* anonymous values, memcmp order, unique */
    uint32_t nanon;
    uint32_t anon_cap;
};

/* Reads a varint in its shortest form (so every accepted encoding
 * re-encodes to the same bytes); NULL if truncated, overlong or over
 * `max`. Shared by the decoders of dvv.h and object.h. */
const char *dvv_get_varint(const char *p, const char *limit, uint64_t max, uint64_t *out);

/* A zeroed struct dvv is an empty clock; dvv_init zeroes one. */
void dvv_init(struct dvv *d);
/* Empties d, keeping its memory for reuse. */
void dvv_clear(struct dvv *d);
void dvv_free(struct dvv *d);
/* Deep copy of the arrays (value bytes stay borrowed). */
int dvv_copy(const struct dvv *src, struct dvv *out) KV_MUST_USE;

/* Total values: entries' plus anonymous (Riak's size/1). */
static inline uint32_t dvv_size(const struct dvv *d) { return d->nvalues + d->nanon; }

/* The dot of values[i] (i < d->nvalues): its entry's id and its counter.
 * O(log entries). */
void dvv_value_dot(const struct dvv *d, uint32_t i, uint64_t *id_out, uint64_t *counter_out);

/* A clock with no history and the given anonymous values (Riak new/1).
 * Duplicate values collapse. KV_ETOOBIG over DVV_VALUES_MAX. */
int dvv_new(const struct kv_slice *vals, uint32_t nvals, struct dvv *out) KV_MUST_USE;

/* Merges two clocks: out keeps every value that the other side has not
 * seen. Commutative, associative and idempotent (byte-identical
 * encodings) as long as equal dots carry equal values. KV_ETOOBIG if the
 * result would exceed values_max values or DVV_ENTRIES_MAX entries. */
int dvv_sync(const struct dvv *a, const struct dvv *b, uint32_t values_max, struct dvv *out) KV_MUST_USE;

/* The coordinator's write (Riak update/3): out = sync(context without
 * values, stored) plus one new event of actor `id` per value in vals,
 * vals[0] getting the highest dot. Stored values the context covers are
 * superseded; the others stay as siblings. The context's own values and
 * anonymous values are ignored (only its counters matter). nvals may be
 * 0 only to sync. KV_ETOOBIG as for dvv_sync, or if a counter would
 * overflow. */
int dvv_update(const struct dvv *context, const struct dvv *stored, uint64_t id,
               const struct kv_slice *vals, uint32_t nvals, uint32_t values_max,
               struct dvv *out) KV_MUST_USE;

/* The version vector of d: its entries with no values (Riak join/1). */
int dvv_join(const struct dvv *d, struct dvv *out) KV_MUST_USE;

/* Causal order, values ignored. descends: a covers every event of b.
 * less: a is strictly older than b. equal: same ids, counters and value
 * counts (Riak equal/2). */
bool dvv_descends(const struct dvv *a, const struct dvv *b);
bool dvv_less(const struct dvv *a, const struct dvv *b);
bool dvv_equal(const struct dvv *a, const struct dvv *b);

/* Exact size of dvv_encode's output. */
size_t dvv_encoded_bytes(const struct dvv *d);
/* Appends the encoding of d to out. KV_ENOMEM only. */
int dvv_encode(const struct dvv *d, struct kv_buf *out) KV_MUST_USE;
/* Parses and checks one whole encoding; values point into in. KV_ECORRUPT
 * on any violation of the grammar above (out is then unspecified but
 * still safe to reuse and free); KV_ENOMEM. */
int dvv_decode(struct kv_slice in, struct dvv *out) KV_MUST_USE;

/* Walks an encoding with exactly dvv_decode's checks, without storing
 * or allocating anything: entry() once per entry before its values,
 * value() once per value (anonymous ones last). Either may be NULL. A
 * callback returning other than KV_OK stops the walk, and dvv_scan
 * returns that code; otherwise KV_OK or KV_ECORRUPT. */
struct dvv_visitor {
    int (*entry)(void *arg, uint64_t id, uint64_t counter, uint32_t nvalues);
    int (*value)(void *arg, struct kv_slice value, bool anonymous);
    void *arg;
};
int dvv_scan(struct kv_slice in, const struct dvv_visitor *v) KV_MUST_USE;

/* Appends the context of d (its join) to out. */
int dvv_context_encode(const struct dvv *d, struct kv_buf *out) KV_MUST_USE;
/* Parses a context into a clock without values. KV_ECORRUPT if malformed. */
int dvv_context_decode(struct kv_slice in, struct dvv *out) KV_MUST_USE;

#endif
