/* frame.c - length-prefixed envelope frames (format in frame.h). */
#include "rpc/frame.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/coding.h"
#include "common/limits.h"

void rpc_frame_decoder_init(struct rpc_frame_decoder *d, uint32_t frame_bytes_max)
{
    memset(d, 0, sizeof *d);
    d->frame_bytes_max = frame_bytes_max ? frame_bytes_max : KV_FRAME_BYTES_MAX_DEFAULT;
}

void rpc_frame_decoder_free(struct rpc_frame_decoder *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = 0;
}

bool rpc_frame_decoder_in_frame(const struct rpc_frame_decoder *d)
{
    return d->error == KV_OK && d->header_have > 0;
}

size_t rpc_frame_decoder_memory_bytes(const struct rpc_frame_decoder *d)
{
    return d->cap;
}

/* Called once the previous frame has been handed out: get ready for the next header. */
static void decoder_next_frame(struct rpc_frame_decoder *d)
{
    d->header_have = 0;
    d->body_bytes = 0;
    d->body_have = 0;
}

/* The last frame lived in buf and the caller is done with it: keep small buffers only. */
static void decoder_recycle(struct rpc_frame_decoder *d)
{
    d->release = false;
    if (d->cap > RPC_FRAME_KEEP_BYTES_MAX)
        rpc_frame_decoder_free(d);
}

/* Takes header bytes; on the 4th validates the length. Returns bytes taken or a KV_E*. */
static int decoder_take_header(struct rpc_frame_decoder *d, const char *p, size_t len, size_t *taken)
{
    size_t n = RPC_FRAME_HEADER_BYTES - d->header_have;
    if (n > len)
        n = len;
    memcpy(d->header + d->header_have, p, n);
    d->header_have += (uint32_t)n;
    *taken = n;
    if (d->header_have < RPC_FRAME_HEADER_BYTES)
        return KV_OK;
    uint32_t body_bytes = kv_get_be32(d->header);
    if (body_bytes == 0)
        return KV_EPROTO;
    if (body_bytes > d->frame_bytes_max)
        return KV_ETOOBIG;  /* decided before allocating anything */
    d->body_bytes = body_bytes;
    return KV_OK;
}

/* Copies body bytes into the reassembly buffer, growing it to the exact frame size. */
static int decoder_take_body(struct rpc_frame_decoder *d, const char *p, size_t len, size_t *taken)
{
    if (d->cap < d->body_bytes) {
        char *nb = realloc(d->buf, d->body_bytes);
        if (nb == NULL)
            return KV_ENOMEM;
        d->buf = nb;
        d->cap = d->body_bytes;
    }
    size_t n = d->body_bytes - d->body_have;
    if (n > len)
        n = len;
    memcpy(d->buf + d->body_have, p, n);
    d->body_have += (uint32_t)n;
    *taken = n;
    return KV_OK;
}

int rpc_frame_decoder_feed(struct rpc_frame_decoder *d, const void *data, size_t len,
                           size_t *used, struct kv_slice *frame)
{
    const char *p = data;
    size_t pos = 0;
    int rc = d->error;

    if (rc != KV_OK)
        return rc;
    if (d->release)
        decoder_recycle(d);
    while (pos < len) {
        size_t taken = 0;
        if (d->header_have < RPC_FRAME_HEADER_BYTES) {
            rc = decoder_take_header(d, p + pos, len - pos, &taken);
            pos += taken;
            if (rc != KV_OK)
                goto fail;
            continue;
        }
        if (d->body_have == 0 && len - pos >= d->body_bytes) {
            /* The whole body is in this piece: hand it out in place. */
            *frame = kv_slice_make(p + pos, d->body_bytes);
            *used = pos + d->body_bytes;
            decoder_next_frame(d);
            return KV_OK;
        }
        rc = decoder_take_body(d, p + pos, len - pos, &taken);
        if (rc != KV_OK)
            goto fail;
        pos += taken;
        if (d->body_have == d->body_bytes) {
            *frame = kv_slice_make(d->buf, d->body_bytes);
            *used = pos;
            decoder_next_frame(d);
            d->release = true;
            return KV_OK;
        }
    }
    *frame = kv_slice_make(NULL, 0);
    *used = pos;
    return KV_OK;
fail:
    d->error = rc;
    rpc_frame_decoder_free(d);
    return rc;
}

/*
 * Field numbers valid on the wire: 1 .. 2^29 - 1 (a tag is number << 3 |
 * wire type in 32 bits). protobuf-c (1.4.1, still in 1.5.2) lets two kinds
 * of invalid number through into a message's unknown fields:
 *   - 0, when the tag is an overlong varint (80 00, 80 80 00, ...): it only
 *     rejects a first byte of 00..07. pack() writes that field back as the
 *     canonical 00, which protobuf-c itself then refuses, so a node would
 *     accept a message it cannot store, forward or read back;
 *   - 2^29 .. 2^32 - 1, from a 5-byte tag, which other protobuf parsers refuse.
 */
#define RPC_FIELD_NUMBER_MAX ((1u << 29) - 1u)

/*
 * True when no message in the tree rooted at m holds an unknown field with
 * an invalid number. Costs one visit per sub-message (cheaper than the parse
 * that built them); recursion is as deep as the schema nests messages.
 */
static bool message_field_numbers_valid(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        uint32_t number = m->unknown_fields[i].tag;
        if (number == 0 || number > RPC_FIELD_NUMBER_MAX)
            return false;
    }
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *subs = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t j = 0; j < n; j++)
                if (!message_field_numbers_valid(subs[j]))
                    return false;
            continue;
        }
        /* oneof members share storage: only the member named by the case is live */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);
        if (sub != NULL && !message_field_numbers_valid(sub))
            return false;
    }
    return true;
}

/*
 * Decoded envelopes live in one heap block (a bump arena) instead of one
 * malloc per sub-message, string and bytes field: protobuf-c's
 * free_unpacked walk and the mallocs were about a tenth of a replica's
 * instructions per message. The block holds the envelope itself first
 * (protobuf-c allocates the top message before anything else), so
 * rpc_envelope_free finds the block from the envelope. Allocations past
 * the block's capacity (deeply nested or repeated messages) get their own
 * malloc, chained to the block and freed with it. Nothing inside a decoded
 * envelope may be freed or kept on its own.
 */
/* Room for the structs of a small envelope (Envelope 64 + ClusterMessage
 * 48 + ReplicaPut 80 bytes); small blocks stay in malloc's thread cache. */
#define DECODE_ARENA_SLACK_BYTES 256u
#define DECODE_ARENA_ALIGN_BYTES 16u
#define DECODE_ARENA_STRUCT_BYTES_MAX (64u * 1024u)

struct decode_extra {
    struct decode_extra *next;
    max_align_t data[];
};

struct decode_arena {
    struct decode_extra *extra;
    size_t used, cap;
    max_align_t data[]; /* the envelope, then the rest of the bump region */
};

static void *decode_arena_alloc(void *arg, size_t size)
{
    struct decode_arena *a = arg;
    size = (size + DECODE_ARENA_ALIGN_BYTES - 1) & ~(size_t)(DECODE_ARENA_ALIGN_BYTES - 1);
    if (size <= a->cap - a->used) {
        void *p = (char *)a->data + a->used;
        a->used += size;
        return p;
    }
    struct decode_extra *x = malloc(sizeof *x + size);
    if (!x)
        return NULL;
    x->next = a->extra;
    a->extra = x;
    return x->data;
}

static void decode_arena_free_one(void *arg, void *p)
{
    (void)arg, (void)p; /* everything goes with the arena */
}

static void decode_arena_free(struct decode_arena *a)
{
    while (a->extra) {
        struct decode_extra *x = a->extra;
        a->extra = x->next;
        free(x);
    }
    free(a);
}

int rpc_envelope_decode(struct kv_slice body, Ringkv__Envelope **out)
{
    /* Bytes fields are copied once; structs cost about half the wire size
     * more, but at most DECODE_ARENA_STRUCT_BYTES_MAX (then: extra mallocs). */
    size_t structs = body.len / 2 < DECODE_ARENA_STRUCT_BYTES_MAX ? body.len / 2 : DECODE_ARENA_STRUCT_BYTES_MAX;
    size_t cap = body.len + structs + DECODE_ARENA_SLACK_BYTES;
    struct decode_arena *a = malloc(sizeof *a + cap);
    if (!a)
        return KV_ENOMEM;
    a->extra = NULL;
    a->used = 0;
    a->cap = cap;
    ProtobufCAllocator alloc = { decode_arena_alloc, decode_arena_free_one, a };
    Ringkv__Envelope *env = ringkv__envelope__unpack(&alloc, body.len, (const uint8_t *)body.data);
    if (env == NULL || (void *)env != (void *)a->data || !message_field_numbers_valid(&env->base)) {
        decode_arena_free(a); /* (a misplaced envelope would be a protobuf-c change: refused) */
        return KV_EPROTO;     /* protobuf-c does not tell malformed from out-of-memory */
    }
    *out = env;
    return KV_OK;
}

void rpc_envelope_free(Ringkv__Envelope *env)
{
    if (env != NULL)
        decode_arena_free((struct decode_arena *)((char *)env - offsetof(struct decode_arena, data)));
}

/* Packed size of env, checked against the limit. */
static int frame_body_bytes(const Ringkv__Envelope *env, uint32_t frame_bytes_max, uint32_t *out)
{
    size_t n = ringkv__envelope__get_packed_size(env);
    uint32_t max = frame_bytes_max ? frame_bytes_max : KV_FRAME_BYTES_MAX_DEFAULT;
    if (n == 0)
        return KV_EINVAL;
    if (n > max)
        return KV_ETOOBIG;
    *out = (uint32_t)n;
    return KV_OK;
}

int rpc_frame_encode(const Ringkv__Envelope *env, uint32_t frame_bytes_max, struct kv_buf *out)
{
    uint32_t n = 0;
    int rc = frame_body_bytes(env, frame_bytes_max, &n);
    if (rc != KV_OK)
        return rc;
    rc = kv_buf_reserve(out, RPC_FRAME_HEADER_BYTES + (size_t)n);
    if (rc != KV_OK)
        return rc;
    char *p = out->data + out->len;
    kv_put_be32(p, n);
    size_t packed = ringkv__envelope__pack(env, (uint8_t *)p + RPC_FRAME_HEADER_BYTES);
    if (packed != n)
        return KV_EINVAL;  /* env changed between sizing and packing: caller bug */
    out->len += RPC_FRAME_HEADER_BYTES + n;
    out->data[out->len] = 0;
    return KV_OK;
}

int rpc_frame_encode_evbuffer(const Ringkv__Envelope *env, uint32_t frame_bytes_max,
                              struct evbuffer *out)
{
    uint32_t n = 0;
    int rc = frame_body_bytes(env, frame_bytes_max, &n);
    if (rc != KV_OK)
        return rc;
    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(out, RPC_FRAME_HEADER_BYTES + (ev_ssize_t)n, &vec, 1) != 1)
        return KV_ENOMEM;
    char *p = vec.iov_base;
    kv_put_be32(p, n);
    size_t packed = ringkv__envelope__pack(env, (uint8_t *)p + RPC_FRAME_HEADER_BYTES);
    if (packed != n)
        return KV_EINVAL;  /* reserved space is simply not committed */
    vec.iov_len = RPC_FRAME_HEADER_BYTES + (size_t)n;
    if (evbuffer_commit_space(out, &vec, 1) != 0)
        return KV_ENOMEM;
    return KV_OK;
}
