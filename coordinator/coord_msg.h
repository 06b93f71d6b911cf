/*
 * coord_msg.h - the node-to-node messages of the quorum coordinator, as
 * plain C values, and their cluster.proto form.
 *
 * The coordinator state machine (coord.h) sends and receives struct
 * coord_msg; the node (real sockets) or the simulator carries them. Every
 * request carries a req_id chosen by its sender and its reply repeats it;
 * a reply also names its status (KV_OK or a KV_E* code, which are the
 * kv.proto Status numbers). Messages are one-way: the driver may carry a
 * request and its reply as an rpc request/reply pair, or as two frames.
 *
 *   type              from -> to                 fields used
 *   REPLICA_GET       coordinator -> replica     req_id partition key hint_for
 *   REPLICA_GET_REPLY replica -> coordinator     req_id status found object
 *   REPLICA_PUT       coordinator -> replica     req_id partition key object hint_for
 *                     (req_id 0: read repair, no reply wanted)
 *   REPLICA_PUT_REPLY replica -> coordinator     req_id status
 *   FORWARD           non-replica -> primary     req_id op key value context ttl_ms
 *                                                condition arg options
 *   FORWARD_REPLY     primary -> non-replica     req_id status context flag value_i64
 *   HINT              fallback -> owner          req_id partition key object
 *   HINT_REPLY        owner -> fallback          req_id status
 *
 * hint_for names the primary a fallback stands in for ("" or NULL: the
 * receiver is a primary). Slices and strings are borrowed: a message sent
 * through coord_net_ops is valid during the send call only; a decoded
 * message points into the bytes or protobuf structure it came from.
 */
#ifndef RINGKV_COORDINATOR_COORD_MSG_H
#define RINGKV_COORDINATOR_COORD_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "coordinator/coord.h"
#include "proto/cluster.pb-c.h"

enum coord_msg_type {
    COORD_MSG_REPLICA_GET = 1,
    COORD_MSG_REPLICA_GET_REPLY,
    COORD_MSG_REPLICA_PUT,
    COORD_MSG_REPLICA_PUT_REPLY,
    COORD_MSG_FORWARD,
    COORD_MSG_FORWARD_REPLY,
    COORD_MSG_HINT,
    COORD_MSG_HINT_REPLY,
    COORD_MSG_PURGE_MARK,       /* every primary holds this tombstone (no reply) */
};
#define COORD_MSG_TYPE_MAX COORD_MSG_PURGE_MARK

/* The write a FORWARD asks the primary to coordinate (cluster.proto WriteOp). */
enum coord_write_op {
    COORD_OP_PUT = 1,
    COORD_OP_DELETE,
    COORD_OP_EXPIRE,
    COORD_OP_PERSIST,
    COORD_OP_INCR,
};
#define COORD_OP_MAX COORD_OP_INCR

struct coord_msg {
    enum coord_msg_type type;
    uint64_t req_id;
    int status;                 /* replies: KV_OK or KV_E* */
    uint32_t partition;
    struct kv_slice key;
    struct kv_slice object;     /* an encoded object (coordinator/object.h) */
    const char *hint_for;       /* NUL-terminated node id; NULL or "" = none */
    bool found;                 /* REPLICA_GET_REPLY */
    /* FORWARD */
    enum coord_write_op op;
    struct kv_slice value;
    struct kv_slice context;    /* FORWARD: the client's; FORWARD_REPLY: the result's */
    uint64_t ttl_ms;
    enum coord_condition condition;
    int64_t arg;                /* EXPIRE: ttl ms; INCR: delta */
    struct coord_options options;
    /* FORWARD_REPLY */
    bool flag;                  /* DELETE existed; EXPIRE / PERSIST applied */
    int64_t value_i64;          /* INCR result */
    /* PURGE_MARK (partition, key and): the tombstone's dot */
    uint64_t dot_actor, dot_counter;
};

/* Room for the protobuf form of one message: coord_msg_to_proto fills it
 * with pointers into the coord_msg (no copies, no allocation). */
struct coord_msg_proto {
    Ringkv__ClusterMessage cm;
    union {
        Ringkv__ReplicaGet get;
        Ringkv__ReplicaGetReply get_reply;
        Ringkv__ReplicaPut put;
        Ringkv__ReplicaPutReply put_reply;
        Ringkv__ForwardWrite fwd;
        Ringkv__ForwardWriteReply fwd_reply;
        Ringkv__HintDelivery hint;
        Ringkv__HintDeliveryReply hint_reply;
        Ringkv__PurgeMark purge;
    } u;
};

/* Fills p with the protobuf form of m; &p->cm is valid while m's bytes
 * and p live. */
void coord_msg_to_proto(const struct coord_msg *m, struct coord_msg_proto *p);

/* Reads a received ClusterMessage. KV_EPROTO if its body is none of the
 * above or a field is out of range (status, op, condition, consistency,
 * hint_for length). out points into cm. */
int coord_msg_from_proto(const Ringkv__ClusterMessage *cm, struct coord_msg *out) KV_MUST_USE;

/* Appends the packed ClusterMessage of m to out (the simulator's frames). */
int coord_msg_encode(const struct coord_msg *m, struct kv_buf *out) KV_MUST_USE;

/* Unpacks a ClusterMessage from bytes into *pb_out (the caller frees it
 * with ringkv__cluster_message__free_unpacked(*pb_out, NULL)) and reads it
 * into out, which points into *pb_out. KV_EPROTO if it does not parse or
 * check (nothing to free then). */
int coord_msg_decode(const void *data, size_t len, Ringkv__ClusterMessage **pb_out,
                     struct coord_msg *out) KV_MUST_USE;

/* Short name of a type, for logs ("replica_put", ...). */
const char *coord_msg_type_str(enum coord_msg_type t);

#endif
