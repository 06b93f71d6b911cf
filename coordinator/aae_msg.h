/*
 * aae_msg.h - the anti-entropy exchange messages (coordinator/aae.h) as
 * C values, and their binary form.
 *
 * One exchange compares one partition between two replicas. The
 * initiator sends requests; the responder answers each one from its
 * tree and engine without keeping any state between them, so a lost or
 * duplicated message costs a retry, never a wrong result:
 *
 *   type          from -> to              fields used
 *   HASHES_REQ    initiator -> responder  segments branching level ids (node indexes)
 *   HASHES_REPLY  responder -> initiator  hashes (one per requested node, same order)
 *   KEYS_REQ      initiator -> responder  segments branching keys_max after upto ids
 *                                         (differing segments, sorted; none = every one)
 *   KEYS_REPLY    responder -> initiator  complete last items (key, digest), key order
 *   FETCH_REQ     initiator -> responder  items (key)
 *   FETCH_REPLY   responder -> initiator  items (key, found, object): a non-empty
 *                                         prefix of the requested keys
 *   PUSH_REQ      initiator -> responder  items (key, object): merge these
 *   PUSH_REPLY    responder -> initiator  applied (keys whose object changed)
 *
 * Every message names the exchange (xid), the request it belongs to (seq:
 * a reply repeats its request's seq, so late replies to a retried request
 * are recognised and dropped) and the partition. A reply carries a status:
 * KV_OK, or a KV_E* code with no body (KV_EBUSY: over the responder's
 * byte budget, retry later; KV_ESTATE: it does not hold the partition or
 * its tree is being rebuilt; KV_EINVAL: tree shapes differ or a request
 * is out of range).
 *
 * Binary form (integers as in common/coding.h; varints shortest form):
 *
 *   msg       := AAE_MSG_VERSION:u8 type:u8 xid:fixed64 seq:varint32
 *                partition:varint32 status:u8 body
 *                status: 0 in requests; -code (0 .. -KV_STATUS_MIN) in replies
 *   bytes     := len:varint32 byte{len}
 *   body of
 *     HASHES_REQ   segments:varint32 branching:varint32 level:varint32
 *                  n:varint32 node:varint32{n}
 *     HASHES_REPLY n:varint32 hash:fixed64{n}
 *     KEYS_REQ     segments:varint32 branching:varint32 keys_max:varint32
 *                  flags:u8 [after:bytes] [upto:bytes] n:varint32 segment:varint32{n}
 *                  flags: AAE_FLAG_AFTER 0x01, AAE_FLAG_UPTO 0x02; segments
 *                  strictly increasing
 *     KEYS_REPLY   flags:u8 [last:bytes] n:varint32 (key:bytes digest:fixed64){n}
 *                  flags: AAE_FLAG_COMPLETE 0x01; last present iff not complete
 *     FETCH_REQ    n:varint32 key:bytes{n}
 *     FETCH_REPLY  n:varint32 (key:bytes found:u8 [object:bytes if found == 1]){n}
 *     PUSH_REQ     n:varint32 (key:bytes object:bytes){n}
 *     PUSH_REPLY   applied:varint32
 *   A reply with a non-zero status has an empty body. Unknown flag bits,
 *   found values other than 0/1, keys over AAE_KEY_BYTES_MAX and bytes
 *   after the body are KV_ECORRUPT.
 *
 * Worked example: the root request of exchange 0x2a, seq 1, partition 5,
 * with the default tree (1024 segments, branching 32): 19 bytes
 *   01                        AAE_MSG_VERSION
 *   01                        HASHES_REQ
 *   2a 00 00 00 00 00 00 00   xid
 *   01                        seq
 *   05                        partition
 *   00                        status (request)
 *   80 08                     segments 1024
 *   20                        branching 32
 *   00                        level 0
 *   01 00                     one node: index 0
 *
 * The node carries an encoded message in a cluster.proto bytes field.
 *
 * Memory: slices and arrays are borrowed. A message built for sending
 * points at the sender's data (valid during the send call). A decoded
 * message's key/object slices point into the decoded bytes and its
 * arrays into storage the struct owns and reuses (aae_msg_free).
 */
#ifndef RINGKV_COORDINATOR_AAE_MSG_H
#define RINGKV_COORDINATOR_AAE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/engine.h"

#define AAE_MSG_VERSION 0x01u
/* version + type + xid + seq + partition + status */
#define AAE_MSG_HEADER_BYTES_MAX (1 + 1 + 8 + 5 + 5 + 1)
#define AAE_KEY_BYTES_MAX ENGINE_KEY_BYTES_MAX
#define AAE_FLAG_AFTER 0x01u
#define AAE_FLAG_UPTO 0x02u
#define AAE_FLAG_COMPLETE 0x01u

enum aae_msg_type {
    AAE_MSG_HASHES_REQ = 1,
    AAE_MSG_HASHES_REPLY,
    AAE_MSG_KEYS_REQ,
    AAE_MSG_KEYS_REPLY,
    AAE_MSG_FETCH_REQ,
    AAE_MSG_FETCH_REPLY,
    AAE_MSG_PUSH_REQ,
    AAE_MSG_PUSH_REPLY,
};
#define AAE_MSG_TYPE_MAX AAE_MSG_PUSH_REPLY

/* One key of KEYS_REPLY, FETCH_REQ, FETCH_REPLY or PUSH_REQ. */
struct aae_item {
    struct kv_slice key;        /* the user key */
    uint64_t digest;            /* KEYS_REPLY: merkle_digest of its object */
    bool found;                 /* FETCH_REPLY: the responder has an object */
    struct kv_slice object;     /* FETCH_REPLY (found), PUSH_REQ: the encoded object */
};

struct aae_msg {
    enum aae_msg_type type;
    uint64_t xid;               /* exchange id, chosen by the initiator */
    uint32_t seq;               /* request number within the exchange */
    uint32_t partition;
    int status;                 /* replies: KV_OK or a KV_E* code */
    uint32_t segments;          /* HASHES_REQ, KEYS_REQ: the initiator's tree shape */
    uint32_t branching;
    uint32_t level;             /* HASHES_REQ */
    uint32_t keys_max;          /* KEYS_REQ: at most this many keys in the reply */
    bool has_after;             /* KEYS_REQ: keys > after ... */
    struct kv_slice after;
    bool has_upto;              /* ... and <= upto */
    struct kv_slice upto;
    bool complete;              /* KEYS_REPLY: the whole (after, upto] range was read */
    struct kv_slice last;       /* KEYS_REPLY when !complete: (after, last] was read */
    const uint32_t *ids;        /* HASHES_REQ: node indexes; KEYS_REQ: segments */
    uint32_t n_ids;
    const uint64_t *hashes;     /* HASHES_REPLY */
    uint32_t n_hashes;
    const struct aae_item *items;
    uint32_t n_items;
    uint32_t applied;           /* PUSH_REPLY */

    /* storage of decoded arrays (aae_msg_decode); do not touch */
    uint32_t *own_ids;
    uint64_t *own_hashes;
    struct aae_item *own_items;
    uint32_t own_ids_cap, own_hashes_cap, own_items_cap;
};

/* A zeroed struct is initialised; aae_msg_init zeroes one. */
void aae_msg_init(struct aae_msg *m);
/* Frees the storage of decoded arrays (not the borrowed data). */
void aae_msg_free(struct aae_msg *m);

const char *aae_msg_type_str(enum aae_msg_type type);
static inline bool aae_msg_is_reply(enum aae_msg_type type) { return type % 2 == 0; }

/* Exact size of aae_msg_encode's output (0 for an unknown type). */
size_t aae_msg_encoded_bytes(const struct aae_msg *m);
/* Appends m's encoding to out. KV_EINVAL for an unknown type, a status
 * out of range or a key over AAE_KEY_BYTES_MAX; KV_ENOMEM. */
int aae_msg_encode(const struct aae_msg *m, struct kv_buf *out) KV_MUST_USE;
/* Parses and checks one whole message (grammar above) into m, replacing
 * its fields; slices point into in. KV_ECORRUPT on any violation,
 * KV_ENOMEM. On error m's fields are unspecified but safe to reuse/free. */
int aae_msg_decode(struct kv_slice in, struct aae_msg *m) KV_MUST_USE;

#endif
