/* coord_msg.c - struct coord_msg <-> cluster.proto (see coord_msg.h). */
#include "coordinator/coord_msg.h"

#include <string.h>

#include "common/limits.h"

static ProtobufCBinaryData bin(struct kv_slice s)
{
    ProtobufCBinaryData b = { s.len, (uint8_t *)(uintptr_t)s.data };
    return b;
}

static struct kv_slice slice(ProtobufCBinaryData b) { return kv_slice_make(b.data, b.len); }

static char *str(const char *s) { return (char *)(uintptr_t)(s ? s : ""); }

static void forward_to_proto(const struct coord_msg *m, Ringkv__ForwardWrite *f)
{
    ringkv__forward_write__init(f);
    f->req_id = m->req_id;
    f->op = (Ringkv__WriteOp)m->op;
    f->key = bin(m->key);
    f->value = bin(m->value);
    f->context = bin(m->context);
    f->ttl_ms = m->ttl_ms;
    f->condition = (uint32_t)m->condition;
    f->ttl_or_delta = m->arg;
    /* kv.proto Consistency numbers DEFAULT..ALL equal ours; EXPLICIT is w > 0. */
    if (m->options.consistency == COORD_CONSISTENCY_EXPLICIT) {
        f->w = m->options.replicas;
    } else {
        f->consistency = (uint32_t)m->options.consistency;
    }
    f->timeout_ms = m->options.timeout_ms;
    f->primary_only = m->options.primary_only;
}

void coord_msg_to_proto(const struct coord_msg *m, struct coord_msg_proto *p)
{
    ringkv__cluster_message__init(&p->cm);
    switch (m->type) {
    case COORD_MSG_REPLICA_GET:
        ringkv__replica_get__init(&p->u.get);
        p->u.get.partition = m->partition;
        p->u.get.key = bin(m->key);
        p->u.get.req_id = m->req_id;
        p->u.get.hint_for = str(m->hint_for);
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_GET;
        p->cm.replica_get = &p->u.get;
        break;
    case COORD_MSG_REPLICA_GET_REPLY:
        ringkv__replica_get_reply__init(&p->u.get_reply);
        p->u.get_reply.found = m->found;
        p->u.get_reply.object = bin(m->object);
        p->u.get_reply.req_id = m->req_id;
        p->u.get_reply.status = m->status;
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_GET_REPLY;
        p->cm.replica_get_reply = &p->u.get_reply;
        break;
    case COORD_MSG_REPLICA_PUT:
        ringkv__replica_put__init(&p->u.put);
        p->u.put.partition = m->partition;
        p->u.put.key = bin(m->key);
        p->u.put.object = bin(m->object);
        p->u.put.hint_for = str(m->hint_for);
        p->u.put.req_id = m->req_id;
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_PUT;
        p->cm.replica_put = &p->u.put;
        break;
    case COORD_MSG_REPLICA_PUT_REPLY:
        ringkv__replica_put_reply__init(&p->u.put_reply);
        p->u.put_reply.req_id = m->req_id;
        p->u.put_reply.status = m->status;
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_PUT_REPLY;
        p->cm.replica_put_reply = &p->u.put_reply;
        break;
    case COORD_MSG_FORWARD:
        forward_to_proto(m, &p->u.fwd);
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_FORWARD_WRITE;
        p->cm.forward_write = &p->u.fwd;
        break;
    case COORD_MSG_FORWARD_REPLY:
        ringkv__forward_write_reply__init(&p->u.fwd_reply);
        p->u.fwd_reply.req_id = m->req_id;
        p->u.fwd_reply.status = m->status;
        p->u.fwd_reply.context = bin(m->context);
        p->u.fwd_reply.flag = m->flag;
        p->u.fwd_reply.value = m->value_i64;
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_FORWARD_WRITE_REPLY;
        p->cm.forward_write_reply = &p->u.fwd_reply;
        break;
    case COORD_MSG_HINT:
        ringkv__hint_delivery__init(&p->u.hint);
        p->u.hint.req_id = m->req_id;
        p->u.hint.partition = m->partition;
        p->u.hint.key = bin(m->key);
        p->u.hint.object = bin(m->object);
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_HINT_DELIVERY;
        p->cm.hint_delivery = &p->u.hint;
        break;
    case COORD_MSG_HINT_REPLY:
        ringkv__hint_delivery_reply__init(&p->u.hint_reply);
        p->u.hint_reply.req_id = m->req_id;
        p->u.hint_reply.status = m->status;
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_HINT_DELIVERY_REPLY;
        p->cm.hint_delivery_reply = &p->u.hint_reply;
        break;
    case COORD_MSG_PURGE_MARK:
        ringkv__purge_mark__init(&p->u.purge);
        p->u.purge.partition = m->partition;
        p->u.purge.key = bin(m->key);
        p->u.purge.dot_actor = m->dot_actor;
        p->u.purge.dot_counter = m->dot_counter;
        p->cm.body_case = RINGKV__CLUSTER_MESSAGE__BODY_PURGE_MARK;
        p->cm.purge_mark = &p->u.purge;
        break;
    }
}

static bool status_ok(int32_t s) { return s <= 0 && s >= KV_STATUS_MIN; }

static bool hint_for_ok(const char *s) { return s && strlen(s) <= KV_NODE_ID_BYTES_MAX; }

static int forward_from_proto(const Ringkv__ForwardWrite *f, struct coord_msg *out)
{
    if ((int)f->op < (int)COORD_OP_PUT || (int)f->op > (int)COORD_OP_MAX || f->condition > COORD_PUT_IF_EXISTS ||
        f->consistency > COORD_CONSISTENCY_ALL)
        return KV_EPROTO;
    out->req_id = f->req_id;
    out->op = (enum coord_write_op)f->op;
    out->key = slice(f->key);
    out->value = slice(f->value);
    out->context = slice(f->context);
    out->ttl_ms = f->ttl_ms;
    out->condition = (enum coord_condition)f->condition;
    out->arg = f->ttl_or_delta;
    out->options.consistency = f->w ? COORD_CONSISTENCY_EXPLICIT : (enum coord_consistency)f->consistency;
    out->options.replicas = f->w;
    out->options.timeout_ms = f->timeout_ms;
    out->options.primary_only = f->primary_only;
    return KV_OK;
}

/* The request bodies; replies are read by coord_msg_from_proto itself. */
static int request_from_proto(const Ringkv__ClusterMessage *cm, struct coord_msg *out)
{
    switch (cm->body_case) {
    case RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_GET:
        if (!hint_for_ok(cm->replica_get->hint_for))
            return KV_EPROTO;
        out->type = COORD_MSG_REPLICA_GET;
        out->req_id = cm->replica_get->req_id;
        out->partition = cm->replica_get->partition;
        out->key = slice(cm->replica_get->key);
        out->hint_for = cm->replica_get->hint_for;
        return KV_OK;
    case RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_PUT:
        if (!hint_for_ok(cm->replica_put->hint_for))
            return KV_EPROTO;
        out->type = COORD_MSG_REPLICA_PUT;
        out->req_id = cm->replica_put->req_id;
        out->partition = cm->replica_put->partition;
        out->key = slice(cm->replica_put->key);
        out->object = slice(cm->replica_put->object);
        out->hint_for = cm->replica_put->hint_for;
        return KV_OK;
    case RINGKV__CLUSTER_MESSAGE__BODY_FORWARD_WRITE:
        out->type = COORD_MSG_FORWARD;
        return forward_from_proto(cm->forward_write, out);
    case RINGKV__CLUSTER_MESSAGE__BODY_HINT_DELIVERY:
        out->type = COORD_MSG_HINT;
        out->req_id = cm->hint_delivery->req_id;
        out->partition = cm->hint_delivery->partition;
        out->key = slice(cm->hint_delivery->key);
        out->object = slice(cm->hint_delivery->object);
        return KV_OK;
    case RINGKV__CLUSTER_MESSAGE__BODY_PURGE_MARK:
        out->type = COORD_MSG_PURGE_MARK;
        out->partition = cm->purge_mark->partition;
        out->key = slice(cm->purge_mark->key);
        out->dot_actor = cm->purge_mark->dot_actor;
        out->dot_counter = cm->purge_mark->dot_counter;
        return KV_OK;
    default:
        return KV_EPROTO;
    }
}

int coord_msg_from_proto(const Ringkv__ClusterMessage *cm, struct coord_msg *out)
{
    memset(out, 0, sizeof *out);
    int32_t status = 0;
    switch (cm->body_case) {
    case RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_GET_REPLY:
        out->type = COORD_MSG_REPLICA_GET_REPLY;
        out->req_id = cm->replica_get_reply->req_id;
        out->found = cm->replica_get_reply->found;
        out->object = slice(cm->replica_get_reply->object);
        status = cm->replica_get_reply->status;
        break;
    case RINGKV__CLUSTER_MESSAGE__BODY_REPLICA_PUT_REPLY:
        out->type = COORD_MSG_REPLICA_PUT_REPLY;
        out->req_id = cm->replica_put_reply->req_id;
        status = cm->replica_put_reply->status;
        break;
    case RINGKV__CLUSTER_MESSAGE__BODY_FORWARD_WRITE_REPLY:
        out->type = COORD_MSG_FORWARD_REPLY;
        out->req_id = cm->forward_write_reply->req_id;
        out->context = slice(cm->forward_write_reply->context);
        out->flag = cm->forward_write_reply->flag;
        out->value_i64 = cm->forward_write_reply->value;
        status = cm->forward_write_reply->status;
        break;
    case RINGKV__CLUSTER_MESSAGE__BODY_HINT_DELIVERY_REPLY:
        out->type = COORD_MSG_HINT_REPLY;
        out->req_id = cm->hint_delivery_reply->req_id;
        status = cm->hint_delivery_reply->status;
        break;
    default:
        return request_from_proto(cm, out);
    }
    if (!status_ok(status))
        return KV_EPROTO;
    out->status = status;
    return KV_OK;
}

int coord_msg_encode(const struct coord_msg *m, struct kv_buf *out)
{
    struct coord_msg_proto p;
    coord_msg_to_proto(m, &p);
    size_t n = ringkv__cluster_message__get_packed_size(&p.cm);
    int rc = kv_buf_reserve(out, n);
    if (rc != KV_OK)
        return rc;
    out->len += ringkv__cluster_message__pack(&p.cm, (uint8_t *)out->data + out->len);
    out->data[out->len] = 0;
    return KV_OK;
}

int coord_msg_decode(const void *data, size_t len, Ringkv__ClusterMessage **pb_out, struct coord_msg *out)
{
    Ringkv__ClusterMessage *cm = ringkv__cluster_message__unpack(NULL, len, data);
    if (!cm)
        return KV_EPROTO;
    int rc = coord_msg_from_proto(cm, out);
    if (rc != KV_OK) {
        ringkv__cluster_message__free_unpacked(cm, NULL);
        return rc;
    }
    *pb_out = cm;
    return KV_OK;
}

const char *coord_msg_type_str(enum coord_msg_type t)
{
    static const char *const names[] = { "?", "replica_get", "replica_get_reply", "replica_put",
                                         "replica_put_reply", "forward", "forward_reply", "hint",
                                         "hint_reply", "purge_mark" };
    return (unsigned)t <= COORD_MSG_TYPE_MAX ? names[t] : "?";
}
