/*
 * aae_msg.c - binary form of the anti-entropy messages (grammar in aae_msg.h).
 *
 * One writer serves both aae_msg_encoded_bytes and aae_msg_encode: with
 * no output buffer it only counts, so the size the exchange charges to
 * its byte budget is exactly what goes on the wire. The decoder checks
 * every count against the bytes left before allocating (each element
 * takes at least one byte), so a short hostile message cannot make it
 * allocate more than a few times its own size.
 */
#include "coordinator/aae_msg.h"

#include <stdlib.h>
#include <string.h>

#include "common/coding.h"
#include "coordinator/dvv.h"

void aae_msg_init(struct aae_msg *m) { memset(m, 0, sizeof *m); }

void aae_msg_free(struct aae_msg *m)
{
    free(m->own_ids);
    free(m->own_hashes);
    free(m->own_items);
    aae_msg_init(m);
}

const char *aae_msg_type_str(enum aae_msg_type type)
{
    static const char *const names[] = { "?",          "hashes_req", "hashes_reply", "keys_req", "keys_reply",
                                         "fetch_req",  "fetch_reply", "push_req",    "push_reply" };
    return type >= 1 && type <= AAE_MSG_TYPE_MAX ? names[type] : "unknown";
}

/* ---- encoding ---- */

struct wr {
    struct kv_buf *out; /* NULL: count only */
    size_t n;
    int rc;
};

static void put(struct wr *w, const void *p, size_t len)
{
    w->n += len;
    if (w->out && w->rc == KV_OK && len)
        w->rc = kv_buf_append(w->out, p, len);
}

static void put_u8(struct wr *w, uint8_t v) { put(w, &v, 1); }

static void put_varint(struct wr *w, uint64_t v)
{
    char b[KV_VARINT64_BYTES_MAX];
    put(w, b, (size_t)(kv_put_varint64(b, v) - b));
}

static void put_fixed64(struct wr *w, uint64_t v)
{
    char b[8];
    kv_put_fixed64(b, v);
    put(w, b, 8);
}

static void put_bytes(struct wr *w, struct kv_slice s)
{
    if (s.len > AAE_KEY_BYTES_MAX && w->rc == KV_OK)
        w->rc = KV_EINVAL; /* callers check keys; objects go through put_object */
    put_varint(w, s.len);
    put(w, s.data, s.len);
}

static void put_object(struct wr *w, struct kv_slice s)
{
    if (s.len > UINT32_MAX && w->rc == KV_OK)
        w->rc = KV_EINVAL;
    put_varint(w, s.len);
    put(w, s.data, s.len);
}

static void put_ids(struct wr *w, const uint32_t *ids, uint32_t n)
{
    put_varint(w, n);
    for (uint32_t i = 0; i < n; i++)
        put_varint(w, ids[i]);
}

static void put_items(struct wr *w, const struct aae_msg *m)
{
    put_varint(w, m->n_items);
    for (uint32_t i = 0; i < m->n_items; i++) {
        const struct aae_item *it = &m->items[i];
        put_bytes(w, it->key);
        if (m->type == AAE_MSG_KEYS_REPLY)
            put_fixed64(w, it->digest);
        else if (m->type == AAE_MSG_FETCH_REPLY) {
            put_u8(w, it->found);
            if (it->found)
                put_object(w, it->object);
        } else if (m->type == AAE_MSG_PUSH_REQ)
            put_object(w, it->object);
    }
}

static void put_body(struct wr *w, const struct aae_msg *m)
{
    switch (m->type) {
    case AAE_MSG_HASHES_REQ:
        put_varint(w, m->segments);
        put_varint(w, m->branching);
        put_varint(w, m->level);
        put_ids(w, m->ids, m->n_ids);
        break;
    case AAE_MSG_HASHES_REPLY:
        put_varint(w, m->n_hashes);
        for (uint32_t i = 0; i < m->n_hashes; i++)
            put_fixed64(w, m->hashes[i]);
        break;
    case AAE_MSG_KEYS_REQ:
        put_varint(w, m->segments);
        put_varint(w, m->branching);
        put_varint(w, m->keys_max);
        put_u8(w, (uint8_t)((m->has_after ? AAE_FLAG_AFTER : 0) | (m->has_upto ? AAE_FLAG_UPTO : 0)));
        if (m->has_after)
            put_bytes(w, m->after);
        if (m->has_upto)
            put_bytes(w, m->upto);
        put_ids(w, m->ids, m->n_ids);
        break;
    case AAE_MSG_KEYS_REPLY:
        put_u8(w, m->complete ? AAE_FLAG_COMPLETE : 0);
        if (!m->complete)
            put_bytes(w, m->last);
        put_items(w, m);
        break;
    case AAE_MSG_FETCH_REQ:
    case AAE_MSG_FETCH_REPLY:
    case AAE_MSG_PUSH_REQ:
        put_items(w, m);
        break;
    case AAE_MSG_PUSH_REPLY:
        put_varint(w, m->applied);
        break;
    }
}

static void put_msg(struct wr *w, const struct aae_msg *m)
{
    if (m->type < 1 || m->type > AAE_MSG_TYPE_MAX || m->status > 0 || m->status < KV_STATUS_MIN ||
        (m->status != KV_OK && !aae_msg_is_reply(m->type))) {
        w->rc = KV_EINVAL;
        return;
    }
    put_u8(w, AAE_MSG_VERSION);
    put_u8(w, (uint8_t)m->type);
    put_fixed64(w, m->xid);
    put_varint(w, m->seq);
    put_varint(w, m->partition);
    put_u8(w, (uint8_t)-m->status);
    if (m->status == KV_OK)
        put_body(w, m);
}

size_t aae_msg_encoded_bytes(const struct aae_msg *m)
{
    struct wr w = { NULL, 0, KV_OK };
    put_msg(&w, m);
    return w.rc == KV_OK ? w.n : 0;
}

int aae_msg_encode(const struct aae_msg *m, struct kv_buf *out)
{
    size_t before = out->len;
    struct wr w = { out, 0, KV_OK };
    put_msg(&w, m);
    if (w.rc != KV_OK)
        out->len = before; /* no partial message */
    return w.rc;
}

/* ---- decoding ---- */

struct rd {
    const char *p, *end;
    bool bad;
};

static uint64_t get_varint(struct rd *r, uint64_t max)
{
    uint64_t v = 0;
    const char *q = r->bad ? NULL : dvv_get_varint(r->p, r->end, max, &v);
    if (!q) {
        r->bad = true;
        return 0;
    }
    r->p = q;
    return v;
}

static uint8_t get_u8(struct rd *r)
{
    if (r->bad || r->p >= r->end) {
        r->bad = true;
        return 0;
    }
    return (uint8_t)*r->p++;
}

static uint64_t get_fixed64(struct rd *r)
{
    if (r->bad || r->end - r->p < 8) {
        r->bad = true;
        return 0;
    }
    uint64_t v = kv_get_fixed64(r->p);
    r->p += 8;
    return v;
}

static struct kv_slice get_bytes(struct rd *r, uint64_t max)
{
    uint64_t len = get_varint(r, max);
    if (r->bad || (uint64_t)(r->end - r->p) < len) {
        r->bad = true;
        return kv_slice_make(NULL, 0);
    }
    struct kv_slice s = kv_slice_make(r->p, (size_t)len);
    r->p += len;
    return s;
}

/* A count of elements of at least min_bytes each: never more than fit. */
static uint32_t get_count(struct rd *r, size_t min_bytes)
{
    return (uint32_t)get_varint(r, (uint64_t)(r->end - r->p) / min_bytes);
}

static int grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n <= *cap)
        return KV_OK;
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p)
        return KV_ENOMEM;
    *arr = p;
    *cap = n;
    return KV_OK;
}

static int get_ids(struct rd *r, struct aae_msg *m, bool increasing)
{
    uint32_t n = get_count(r, 1);
    if (r->bad)
        return KV_ECORRUPT;
    int rc = grow((void **)&m->own_ids, &m->own_ids_cap, n, sizeof *m->own_ids);
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        m->own_ids[i] = (uint32_t)get_varint(r, UINT32_MAX);
        if (increasing && i > 0 && m->own_ids[i] <= m->own_ids[i - 1])
            r->bad = true;
    }
    m->ids = m->own_ids;
    m->n_ids = n;
    return r->bad ? KV_ECORRUPT : KV_OK;
}

static int get_items(struct rd *r, struct aae_msg *m)
{
    uint32_t n = get_count(r, 1);
    if (r->bad)
        return KV_ECORRUPT;
    int rc = grow((void **)&m->own_items, &m->own_items_cap, n, sizeof *m->own_items);
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        struct aae_item *it = &m->own_items[i];
        memset(it, 0, sizeof *it);
        it->key = get_bytes(r, AAE_KEY_BYTES_MAX);
        if (m->type == AAE_MSG_KEYS_REPLY) {
            it->digest = get_fixed64(r);
        } else if (m->type == AAE_MSG_FETCH_REPLY) {
            uint8_t f = get_u8(r);
            r->bad |= f > 1;
            it->found = f == 1;
            if (it->found)
                it->object = get_bytes(r, UINT32_MAX);
        } else if (m->type == AAE_MSG_PUSH_REQ) {
            it->found = true;
            it->object = get_bytes(r, UINT32_MAX);
        }
    }
    m->items = m->own_items;
    m->n_items = n;
    return r->bad ? KV_ECORRUPT : KV_OK;
}

static int get_hashes(struct rd *r, struct aae_msg *m)
{
    uint32_t n = get_count(r, 8);
    if (r->bad)
        return KV_ECORRUPT;
    int rc = grow((void **)&m->own_hashes, &m->own_hashes_cap, n, sizeof *m->own_hashes);
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < n; i++)
        m->own_hashes[i] = get_fixed64(r);
    m->hashes = m->own_hashes;
    m->n_hashes = n;
    return r->bad ? KV_ECORRUPT : KV_OK;
}

static int get_keys_req(struct rd *r, struct aae_msg *m)
{
    m->segments = (uint32_t)get_varint(r, UINT32_MAX);
    m->branching = (uint32_t)get_varint(r, UINT32_MAX);
    m->keys_max = (uint32_t)get_varint(r, UINT32_MAX);
    uint8_t flags = get_u8(r);
    r->bad |= (flags & ~(AAE_FLAG_AFTER | AAE_FLAG_UPTO)) != 0;
    m->has_after = flags & AAE_FLAG_AFTER;
    m->has_upto = flags & AAE_FLAG_UPTO;
    if (m->has_after)
        m->after = get_bytes(r, AAE_KEY_BYTES_MAX);
    if (m->has_upto)
        m->upto = get_bytes(r, AAE_KEY_BYTES_MAX);
    return r->bad ? KV_ECORRUPT : get_ids(r, m, true);
}

static int get_body(struct rd *r, struct aae_msg *m)
{
    switch (m->type) {
    case AAE_MSG_HASHES_REQ:
        m->segments = (uint32_t)get_varint(r, UINT32_MAX);
        m->branching = (uint32_t)get_varint(r, UINT32_MAX);
        m->level = (uint32_t)get_varint(r, UINT32_MAX);
        return r->bad ? KV_ECORRUPT : get_ids(r, m, false);
    case AAE_MSG_HASHES_REPLY:
        return get_hashes(r, m);
    case AAE_MSG_KEYS_REQ:
        return get_keys_req(r, m);
    case AAE_MSG_KEYS_REPLY: {
        uint8_t flags = get_u8(r);
        r->bad |= (flags & ~AAE_FLAG_COMPLETE) != 0;
        m->complete = flags & AAE_FLAG_COMPLETE;
        if (!m->complete)
            m->last = get_bytes(r, AAE_KEY_BYTES_MAX);
        return r->bad ? KV_ECORRUPT : get_items(r, m);
    }
    case AAE_MSG_FETCH_REQ:
    case AAE_MSG_FETCH_REPLY:
    case AAE_MSG_PUSH_REQ:
        return get_items(r, m);
    case AAE_MSG_PUSH_REPLY:
        m->applied = (uint32_t)get_varint(r, UINT32_MAX);
        return r->bad ? KV_ECORRUPT : KV_OK;
    }
    return KV_ECORRUPT;
}

int aae_msg_decode(struct kv_slice in, struct aae_msg *m)
{
    if (in.data == NULL)
        in = kv_slice_make("", 0);
    struct rd r = { in.data, in.data + in.len, false };
    uint32_t ids_cap = m->own_ids_cap, hashes_cap = m->own_hashes_cap, items_cap = m->own_items_cap;
    uint32_t *ids = m->own_ids;
    uint64_t *hashes = m->own_hashes;
    struct aae_item *items = m->own_items;
    memset(m, 0, sizeof *m); /* fields not in this type read as zero */
    m->own_ids = ids, m->own_ids_cap = ids_cap;
    m->own_hashes = hashes, m->own_hashes_cap = hashes_cap;
    m->own_items = items, m->own_items_cap = items_cap;
    if (in.len == 0 || get_u8(&r) != AAE_MSG_VERSION)
        return KV_ECORRUPT;
    uint8_t type = get_u8(&r);
    if (type < 1 || type > AAE_MSG_TYPE_MAX)
        return KV_ECORRUPT;
    m->type = (enum aae_msg_type)type;
    m->xid = get_fixed64(&r);
    m->seq = (uint32_t)get_varint(&r, UINT32_MAX);
    m->partition = (uint32_t)get_varint(&r, UINT32_MAX);
    uint8_t st = get_u8(&r);
    if (r.bad || st > -KV_STATUS_MIN || (st != 0 && !aae_msg_is_reply(m->type)))
        return KV_ECORRUPT;
    m->status = -(int)st;
    int rc = m->status == KV_OK ? get_body(&r, m) : KV_OK;
    if (rc == KV_OK && (r.bad || r.p != r.end))
        rc = KV_ECORRUPT;
    return rc;
}
