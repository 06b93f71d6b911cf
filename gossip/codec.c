/* codec.c - encoder and validating decoder of gossip messages (format in codec.h). */
#include "gossip/codec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "gossip/wire.h"

#define CODEC_CRC_BYTES 4
/* Smallest update: state, id of one byte (2), three empty strings, two one-byte varints. */
#define CODEC_UPDATE_BYTES_MIN (1 + 2 + 1 + 1 + 1 + 1 + 1)

const char *gossip_state_str(enum gossip_state s)
{
    switch (s) {
    case GOSSIP_ALIVE: return "alive";
    case GOSSIP_SUSPECT: return "suspect";
    case GOSSIP_DEAD: return "dead";
    case GOSSIP_LEAVING: return "leaving";
    case GOSSIP_LEFT: return "left";
    }
    return "unknown";
}

static bool has_seq(enum gossip_msg_type t) { return t != GOSSIP_UPDATES; }

static bool is_push_pull(enum gossip_msg_type t)
{
    return t == GOSSIP_PUSH_PULL_REQ || t == GOSSIP_PUSH_PULL_RESP;
}

size_t gossip_update_encoded_bytes(const struct gossip_update *u)
{
    return 1 + wire_str_bytes(u->id) + wire_str_bytes(u->addr) + wire_str_bytes(u->zone) +
           (size_t)kv_varint_len(u->incarnation) + (size_t)kv_varint_len(u->ring_version) + wire_str_bytes(u->from);
}

size_t gossip_msg_encoded_bytes(const struct gossip_msg *m)
{
    size_t n = 2 + wire_str_bytes(m->cluster) + wire_str_bytes(m->sender_id) + wire_str_bytes(m->sender_addr);
    if (has_seq(m->type))
        n += (size_t)kv_varint_len(m->seq);
    if (m->type == GOSSIP_PING || m->type == GOSSIP_PING_REQ)
        n += wire_str_bytes(m->target_id);
    if (m->type == GOSSIP_PING_REQ)
        n += wire_str_bytes(m->target_addr);
    if (is_push_pull(m->type))
        n += 1 + (size_t)kv_varint_len(m->ring_version) + wire_str_bytes(m->ring);
    n += (size_t)kv_varint_len(m->n_updates);
    for (size_t i = 0; i < m->n_updates; i++)
        n += gossip_update_encoded_bytes(&m->updates[i]);
    return n + CODEC_CRC_BYTES;
}

static bool update_valid(const struct gossip_update *u)
{
    return (unsigned)u->state <= GOSSIP_STATE_MAX && u->id.len > 0 && u->id.len <= GOSSIP_ID_BYTES_MAX &&
           u->addr.len <= GOSSIP_ADDR_BYTES_MAX && u->zone.len <= GOSSIP_ZONE_BYTES_MAX &&
           u->from.len <= GOSSIP_ID_BYTES_MAX;
}

static bool msg_valid(const struct gossip_msg *m)
{
    if (m->type < GOSSIP_PING || m->type > GOSSIP_MSG_TYPE_MAX || m->cluster.len > GOSSIP_CLUSTER_BYTES_MAX ||
        m->sender_id.len == 0 || m->sender_id.len > GOSSIP_ID_BYTES_MAX || m->sender_addr.len == 0 ||
        m->sender_addr.len > GOSSIP_ADDR_BYTES_MAX || m->target_id.len > GOSSIP_ID_BYTES_MAX ||
        m->target_addr.len > GOSSIP_ADDR_BYTES_MAX || m->ring.len > GOSSIP_RING_BYTES_MAX ||
        (m->flags & ~GOSSIP_PP_FLAGS_ALL) || m->n_updates > GOSSIP_UPDATES_MAX)
        return false;
    for (size_t i = 0; i < m->n_updates; i++)
        if (!update_valid(&m->updates[i]))
            return false;
    return true;
}

static char *put_update(char *p, const struct gossip_update *u)
{
    *p++ = (char)u->state;
    p = wire_put_str(p, u->id);
    p = wire_put_str(p, u->addr);
    p = wire_put_str(p, u->zone);
    p = kv_put_varint64(p, u->incarnation);
    p = kv_put_varint64(p, u->ring_version);
    return wire_put_str(p, u->from);
}

int gossip_msg_encode(const struct gossip_msg *m, struct kv_buf *out)
{
    if (!msg_valid(m))
        return KV_EINVAL;
    size_t total = gossip_msg_encoded_bytes(m);
    int rc = kv_buf_reserve(out, total);
    if (rc != KV_OK)
        return rc;
    char *start = out->data + out->len, *p = start;
    *p++ = (char)GOSSIP_CODEC_VERSION;
    *p++ = (char)m->type;
    p = wire_put_str(p, m->cluster);
    p = wire_put_str(p, m->sender_id);
    p = wire_put_str(p, m->sender_addr);
    if (has_seq(m->type))
        p = kv_put_varint64(p, m->seq);
    if (m->type == GOSSIP_PING || m->type == GOSSIP_PING_REQ)
        p = wire_put_str(p, m->target_id);
    if (m->type == GOSSIP_PING_REQ)
        p = wire_put_str(p, m->target_addr);
    if (is_push_pull(m->type)) {
        *p++ = (char)m->flags;
        p = kv_put_varint64(p, m->ring_version);
        p = wire_put_str(p, m->ring);
    }
    p = kv_put_varint64(p, m->n_updates);
    for (size_t i = 0; i < m->n_updates; i++)
        p = put_update(p, &m->updates[i]);
    kv_put_fixed32(p, kv_crc32c_mask(kv_crc32c(start, (size_t)(p - start))));
    p += CODEC_CRC_BYTES;
    out->len += (size_t)(p - start);
    out->data[out->len] = 0;
    return KV_OK;
}

static void read_body(struct wire_reader *rd, struct gossip_msg *m)
{
    if (has_seq(m->type))
        m->seq = (uint32_t)wire_varint_max(rd, UINT32_MAX);
    if (m->type == GOSSIP_PING || m->type == GOSSIP_PING_REQ)
        m->target_id = wire_str(rd, GOSSIP_ID_BYTES_MAX);
    if (m->type == GOSSIP_PING_REQ) {
        m->target_addr = wire_str(rd, GOSSIP_ADDR_BYTES_MAX);
        if (m->target_id.len == 0 || m->target_addr.len == 0)
            rd->bad = true;
    }
    if (is_push_pull(m->type)) {
        m->flags = wire_u8(rd);
        m->ring_version = wire_varint(rd);
        m->ring = wire_blob(rd, GOSSIP_RING_BYTES_MAX);
        if (m->flags & ~GOSSIP_PP_FLAGS_ALL)
            rd->bad = true;
    }
}

static void read_update(struct wire_reader *rd, struct gossip_update *u)
{
    uint8_t state = wire_u8(rd);
    if (state > GOSSIP_STATE_MAX)
        rd->bad = true;
    u->state = (enum gossip_state)state;
    u->id = wire_str(rd, GOSSIP_ID_BYTES_MAX);
    u->addr = wire_str(rd, GOSSIP_ADDR_BYTES_MAX);
    u->zone = wire_str(rd, GOSSIP_ZONE_BYTES_MAX);
    u->incarnation = wire_varint(rd);
    u->ring_version = wire_varint(rd);
    u->from = wire_str(rd, GOSSIP_ID_BYTES_MAX);
    if (u->id.len == 0)
        rd->bad = true;
}

static void read_header(struct wire_reader *rd, struct gossip_msg *m)
{
    if (wire_u8(rd) != GOSSIP_CODEC_VERSION)
        rd->bad = true;
    uint8_t type = wire_u8(rd);
    if (type < GOSSIP_PING || type > GOSSIP_MSG_TYPE_MAX)
        rd->bad = true;
    m->type = (enum gossip_msg_type)type;
    m->cluster = wire_str(rd, GOSSIP_CLUSTER_BYTES_MAX);
    m->sender_id = wire_str(rd, GOSSIP_ID_BYTES_MAX);
    m->sender_addr = wire_str(rd, GOSSIP_ADDR_BYTES_MAX);
    if (m->sender_id.len == 0 || m->sender_addr.len == 0)
        rd->bad = true;
}

int gossip_msg_decode(const char *data, size_t len, struct gossip_msg *out)
{
    struct gossip_msg m;
    memset(&m, 0, sizeof m);
    if (len < 2 + CODEC_CRC_BYTES || len > GOSSIP_MSG_BYTES_MAX)
        return KV_ECORRUPT;
    size_t body = len - CODEC_CRC_BYTES;
    if (kv_crc32c_unmask(kv_get_fixed32(data + body)) != kv_crc32c(data, body))
        return KV_ECORRUPT;
    struct wire_reader rd = { data, data + body, false };
    read_header(&rd, &m);
    if (!rd.bad)
        read_body(&rd, &m);
    m.n_updates = (size_t)wire_varint_max(&rd, GOSSIP_UPDATES_MAX);
    /* Refuse counts the remaining bytes cannot hold before allocating. */
    if (rd.bad || m.n_updates > (size_t)(rd.end - rd.p) / CODEC_UPDATE_BYTES_MIN)
        return KV_ECORRUPT;
    if (m.n_updates) {
        m.updates = calloc(m.n_updates, sizeof *m.updates);
        if (!m.updates)
            return KV_ENOMEM;
        m.owned = m.updates;
    }
    for (size_t i = 0; i < m.n_updates && !rd.bad; i++)
        read_update(&rd, &m.updates[i]);
    if (rd.bad || rd.p != rd.end) {
        free(m.owned);
        return KV_ECORRUPT;
    }
    *out = m;
    return KV_OK;
}

void gossip_msg_clear(struct gossip_msg *msg)
{
    free(msg->owned);
    msg->owned = NULL;
    msg->updates = NULL;
    msg->n_updates = 0;
}
