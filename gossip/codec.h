/*
 * codec.h - gossip messages as C structs, and their binary form.
 *
 * Every message names its cluster and its sender, carries one of the
 * protocol's message types and a list of member updates: piggybacked
 * broadcasts on probes, or the full member table in a push-pull. The
 * protocol itself (who sends what when) is in membership.h; this file is
 * only the vocabulary and the bytes.
 *
 * Binary form, version GOSSIP_CODEC_VERSION (varints are LEB128 in their
 * shortest form; str = varint length then that many bytes, no NUL byte;
 * blob = the same without the NUL rule):
 *
 *   message := version:u8 type:u8 cluster:str sender_id:str sender_addr:str
 *              body update_count:varint update* crc:fixed32
 *   body    := PING:           seq:varint target_id:str
 *              PING_REQ:       seq:varint target_id:str target_addr:str
 *              ACK, NACK:      seq:varint
 *              UPDATES:        (empty)
 *              PUSH_PULL_REQ,
 *              PUSH_PULL_RESP: seq:varint flags:u8 ring_version:varint ring:blob
 *   update  := state:u8 id:str addr:str zone:str incarnation:varint
 *              ring_version:varint from:str
 *   crc     := masked CRC32C of every byte before it
 *
 * Limits: cluster <= GOSSIP_CLUSTER_BYTES_MAX, ids <= GOSSIP_ID_BYTES_MAX
 * (sender and update ids non-empty), addresses <= GOSSIP_ADDR_BYTES_MAX
 * (sender address non-empty), zones <= GOSSIP_ZONE_BYTES_MAX, ring <=
 * GOSSIP_RING_BYTES_MAX, updates <= GOSSIP_UPDATES_MAX. The decoder
 * checks every one of them, the enum values, the flags, the checksum and
 * that nothing trails, and returns KV_ECORRUPT otherwise. A typical PING
 * with 5 piggybacked updates of short ids is about 150 bytes; a PING with
 * no updates is 2 + 3 strings + seq + target + 1 + 4 ~= 40 bytes.
 *
 * Memory: a decoded message borrows every string and the ring bytes from
 * the input buffer, which must outlive it; the updates array is allocated
 * by the decoder and released by gossip_msg_clear. Messages built for
 * encoding point wherever their builder likes. No global state; every
 * function is thread-safe.
 */
#ifndef RINGKV_GOSSIP_CODEC_H
#define RINGKV_GOSSIP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/limits.h"
#include "common/slice.h"
#include "common/status.h"

#define GOSSIP_CODEC_VERSION 1u
#define GOSSIP_CLUSTER_BYTES_MAX KV_CLUSTER_NAME_BYTES_MAX
#define GOSSIP_ID_BYTES_MAX KV_NODE_ID_BYTES_MAX
#define GOSSIP_ADDR_BYTES_MAX 256u /* "host:port" with a DNS name of up to 253 bytes */
#define GOSSIP_ZONE_BYTES_MAX 64u
#define GOSSIP_UPDATES_MAX 8192u                   /* members in one push-pull */
#define GOSSIP_RING_BYTES_MAX (2u * 1024u * 1024u) /* a ring of 4,096 members, 16,384 partitions fits */
/* Largest update: state + 4 strings at their limits + 2 varints of 10 bytes. */
#define GOSSIP_UPDATE_BYTES_MAX \
    (1u + (2u + GOSSIP_ID_BYTES_MAX) + (2u + GOSSIP_ADDR_BYTES_MAX) + (2u + GOSSIP_ZONE_BYTES_MAX) + 10u + 10u + \
     (2u + GOSSIP_ID_BYTES_MAX))
/* Largest message: a push-pull with a full table and a full ring (~5.9 MiB). */
#define GOSSIP_MSG_BYTES_MAX (1024u + GOSSIP_RING_BYTES_MAX + GOSSIP_UPDATES_MAX * GOSSIP_UPDATE_BYTES_MAX)

enum gossip_msg_type {
    GOSSIP_PING = 1,       /* are you alive? reply ACK(seq) */
    GOSSIP_PING_REQ,       /* please ping target for me; ACK(seq) or NACK(seq) back */
    GOSSIP_ACK,            /* the ping with this seq was answered */
    GOSSIP_NACK,           /* I relayed your PING_REQ and got no answer (yet) */
    GOSSIP_UPDATES,        /* broadcasts only: alive / suspect / dead / leaving / left */
    GOSSIP_PUSH_PULL_REQ,  /* my full state (and ring); reply with yours */
    GOSSIP_PUSH_PULL_RESP, /* the reply */
};
#define GOSSIP_MSG_TYPE_MAX GOSSIP_PUSH_PULL_RESP

/* Member states, in the order a record moves through them. */
enum gossip_state {
    GOSSIP_ALIVE = 0,
    GOSSIP_SUSPECT = 1,
    GOSSIP_DEAD = 2,
    GOSSIP_LEAVING = 3, /* alive, handing its partitions off before leaving */
    GOSSIP_LEFT = 4,    /* gone on purpose; never suspected or probed again */
};
#define GOSSIP_STATE_MAX GOSSIP_LEFT

/* PUSH_PULL flags. */
#define GOSSIP_PP_JOIN 0x01u /* sender is joining through a seed */
#define GOSSIP_PP_FLAGS_ALL GOSSIP_PP_JOIN

/* What one member's record says (a broadcast, or one row of a full state). */
struct gossip_update {
    enum gossip_state state;
    struct kv_slice id;
    struct kv_slice addr;
    struct kv_slice zone;
    uint64_t incarnation;
    uint64_t ring_version; /* newest ring version the member has seen */
    struct kv_slice from;  /* SUSPECT / DEAD: who decided it (confirmations count distinct ones) */
};

struct gossip_msg {
    enum gossip_msg_type type;
    struct kv_slice cluster;
    struct kv_slice sender_id;
    struct kv_slice sender_addr; /* where replies go */
    uint32_t seq;                /* all but UPDATES; a PUSH_PULL_RESP echoes its request's */
    struct kv_slice target_id;   /* PING (empty = anyone at that address), PING_REQ */
    struct kv_slice target_addr; /* PING_REQ */
    uint8_t flags;               /* PUSH_PULL_* */
    uint64_t ring_version;       /* PUSH_PULL_*: the sender's ring version */
    struct kv_slice ring;        /* PUSH_PULL_*: an encoded ring (ring_encode) or empty */
    size_t n_updates;
    struct gossip_update *updates;
    void *owned; /* set by gossip_msg_decode; released by gossip_msg_clear */
};

/* Encoded size of one update, and of a whole message. */
size_t gossip_update_encoded_bytes(const struct gossip_update *u);
size_t gossip_msg_encoded_bytes(const struct gossip_msg *msg);

/* Appends msg's binary form to out. KV_EINVAL if a field breaks a limit. */
int gossip_msg_encode(const struct gossip_msg *msg, struct kv_buf *out) KV_MUST_USE;

/*
 * Parses data[0..len) into *out (see Memory above). KV_ECORRUPT on any
 * invalid byte, KV_ENOMEM if the updates array cannot be allocated; *out
 * is written only on success.
 */
int gossip_msg_decode(const char *data, size_t len, struct gossip_msg *out) KV_MUST_USE;

/* Frees what gossip_msg_decode allocated; harmless on any other message. */
void gossip_msg_clear(struct gossip_msg *msg);

/* "alive", "suspect", ... ; "unknown" for other values. */
const char *gossip_state_str(enum gossip_state s);

#endif
