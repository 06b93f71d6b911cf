/*
 * handoff_state.c - what a node saves about handoff (ops.save), so a
 * restarted source resumes its streams and a restarted completer keeps
 * the DONE facts it was told.
 *
 * Format (varints LEB128; str = varint length ++ bytes):
 *
 *   offset  size     field
 *   0       4        magic "RKHO"
 *   4       1        format version (HO_STATE_VERSION)
 *   5       varint   stream count S (<= HANDOFF_STREAMS_MAX)
 *           S times: varint p, varint q, str to (1..64), str completer,
 *                    1 byte flags (bit 0 done, bit 1 counted),
 *                    varint keys_sent, bytes_sent, keys_total, bytes_total,
 *                    str cursor (engine key, 0..ENGINE_KEY_BYTES_MAX)
 *           varint   fact count F (<= HANDOFF_STREAMS_MAX)
 *           F times: varint p, varint q, str to
 *   end-4   4        masked CRC32C of every byte before it (fixed32)
 *
 * Example: no streams, no facts = "RKHO" 01 00 00 + CRC (11 bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/coding.h"
#include "common/crc32c.h"
#include "coordinator/handoff_internal.h"

#define HO_STATE_MAGIC "RKHO"
#define HO_STATE_VERSION 1u
#define HO_FLAG_DONE 0x01u
#define HO_FLAG_COUNTED 0x02u

static int put_str(struct kv_buf *b, const char *s, size_t n)
{
    int rc = kv_buf_append_varint(b, n);
    return rc == KV_OK ? kv_buf_append(b, s, n) : rc;
}

int ho_state_encode(const struct handoff *h, struct kv_buf *out)
{
    kv_buf_reset(out);
    int rc = kv_buf_append(out, HO_STATE_MAGIC, 4);
    if (rc == KV_OK)
        rc = kv_buf_append_byte(out, (char)HO_STATE_VERSION);
    if (rc == KV_OK)
        rc = kv_buf_append_varint(out, h->n_streams);
    for (size_t i = 0; rc == KV_OK && i < h->n_streams; i++) {
        const struct ho_stream *s = &h->streams[i];
        uint8_t flags = (uint8_t)((s->done ? HO_FLAG_DONE : 0) | (s->counted ? HO_FLAG_COUNTED : 0));
        uint64_t nums[] = { s->p, s->q };
        uint64_t counts[] = { s->keys_sent, s->bytes_sent, s->keys_total, s->bytes_total };
        for (size_t k = 0; rc == KV_OK && k < 2; k++)
            rc = kv_buf_append_varint(out, nums[k]);
        if (rc == KV_OK)
            rc = put_str(out, s->to, strlen(s->to));
        if (rc == KV_OK)
            rc = put_str(out, s->completer, strlen(s->completer));
        if (rc == KV_OK)
            rc = kv_buf_append_byte(out, (char)flags);
        for (size_t k = 0; rc == KV_OK && k < 4; k++)
            rc = kv_buf_append_varint(out, counts[k]);
        if (rc == KV_OK)
            rc = put_str(out, s->cursor.data ? s->cursor.data : "", s->cursor.len);
    }
    if (rc == KV_OK)
        rc = kv_buf_append_varint(out, h->n_facts);
    for (size_t i = 0; rc == KV_OK && i < h->n_facts; i++) {
        const struct ho_fact *f = &h->facts[i];
        rc = kv_buf_append_varint(out, f->p);
        if (rc == KV_OK)
            rc = kv_buf_append_varint(out, f->q);
        if (rc == KV_OK)
            rc = put_str(out, f->to, strlen(f->to));
    }
    char crc[4];
    kv_put_fixed32(crc, kv_crc32c_mask(kv_crc32c(out->data, out->len)));
    return rc == KV_OK ? kv_buf_append(out, crc, 4) : rc;
}

struct rd {
    const char *p, *end;
    bool bad;
};

static uint64_t rd_varint(struct rd *r, uint64_t max)
{
    uint64_t v = 0;
    const char *next = r->bad ? NULL : kv_get_varint64(r->p, r->end, &v);
    if (!next || v > max) {
        r->bad = true;
        return 0;
    }
    r->p = next;
    return v;
}

/* Copies a str of min..max bytes into dst (room for max + 1) as a C string. */
static void rd_id(struct rd *r, char *dst, size_t max)
{
    uint64_t n = rd_varint(r, max);
    if (r->bad || n == 0 || (size_t)(r->end - r->p) < n || memchr(r->p, 0, n)) {
        r->bad = true;
        return;
    }
    memcpy(dst, r->p, n);
    dst[n] = 0;
    r->p += n;
}

static void rd_stream(struct rd *r, struct ho_stream *s)
{
    s->p = (uint32_t)rd_varint(r, UINT16_MAX);
    s->q = (uint32_t)rd_varint(r, UINT16_MAX);
    rd_id(r, s->to, RING_ID_BYTES_MAX);
    rd_id(r, s->completer, RING_ID_BYTES_MAX);
    uint64_t flags = r->bad || r->p == r->end ? (r->bad = true, 0) : (uint8_t)*r->p++;
    s->done = flags & HO_FLAG_DONE;
    s->counted = flags & HO_FLAG_COUNTED;
    s->keys_sent = rd_varint(r, UINT64_MAX);
    s->bytes_sent = rd_varint(r, UINT64_MAX);
    s->keys_total = rd_varint(r, UINT64_MAX);
    s->bytes_total = rd_varint(r, UINT64_MAX);
    uint64_t n = rd_varint(r, ENGINE_KEY_BYTES_MAX);
    if (r->bad || (size_t)(r->end - r->p) < n || kv_buf_set(&s->cursor, r->p, n) != KV_OK) {
        r->bad = true;
        return;
    }
    r->p += n;
}

int ho_state_decode(struct handoff *h, const char *data, size_t len)
{
    if (len < 4 + 1 + 2 + 4 || memcmp(data, HO_STATE_MAGIC, 4) != 0 ||
        kv_crc32c_unmask(kv_get_fixed32(data + len - 4)) != kv_crc32c(data, len - 4) ||
        (uint8_t)data[4] != HO_STATE_VERSION)
        return KV_ECORRUPT;
    struct rd r = { data + 5, data + len - 4, false };
    uint64_t ns = rd_varint(&r, HANDOFF_STREAMS_MAX);
    if (!r.bad && ns && !(h->saved = calloc(ns, sizeof *h->saved)))
        return KV_ENOMEM;
    for (uint64_t i = 0; !r.bad && i < ns; i++) {
        rd_stream(&r, &h->saved[i]);
        h->n_saved = i + 1;
    }
    uint64_t nf = rd_varint(&r, HANDOFF_STREAMS_MAX);
    for (uint64_t i = 0; !r.bad && i < nf; i++) {
        struct ho_fact f;
        f.p = (uint32_t)rd_varint(&r, UINT16_MAX);
        f.q = (uint32_t)rd_varint(&r, UINT16_MAX);
        rd_id(&r, f.to, RING_ID_BYTES_MAX);
        if (!r.bad && ho_fact_add(h, f.p, f.q, f.to) != KV_OK)
            return KV_ENOMEM;
    }
    return r.bad || r.p != r.end ? KV_ECORRUPT : KV_OK;
}

int ho_fact_add(struct handoff *h, uint32_t p, uint32_t q, const char *to)
{
    for (size_t i = 0; i < h->n_facts; i++)
        if (h->facts[i].p == p && h->facts[i].q == q && strcmp(h->facts[i].to, to) == 0)
            return KV_OK;
    if (h->n_facts == h->cap_facts) {
        size_t cap = h->cap_facts ? 2 * h->cap_facts : 32;
        struct ho_fact *f = realloc(h->facts, cap * sizeof *f);
        if (!f)
            return KV_ENOMEM;
        h->facts = f;
        h->cap_facts = cap;
    }
    struct ho_fact *f = &h->facts[h->n_facts++];
    f->p = p;
    f->q = q;
    snprintf(f->to, sizeof f->to, "%s", to);
    h->dirty = true;
    h->completion_due = true;
    return KV_OK;
}
