/* object.c - see object.h. */
#include "coordinator/object.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/coding.h"
#include "common/hash.h"

/* Seed of object_base_actor's hash: "ringkvB" in ASCII, so base actors
 * never equal node actor ids (hashed with another seed) by construction. */
#define OBJECT_BASE_ACTOR_SEED 0x72696e676b7642ull

void object_init(struct object *o) { dvv_init(&o->clock); }
void object_clear(struct object *o) { dvv_clear(&o->clock); }
void object_free(struct object *o) { dvv_free(&o->clock); }

/* Parses a record header; the payload is the rest. False if malformed. */
static bool record_parse(struct kv_slice rec, struct object_sibling *out)
{
    const char *p = rec.data, *limit = rec.data + rec.len;
    if (rec.len < 2)
        return false;
    uint8_t flags = (uint8_t)*p++;
    uint64_t expires;
    p = dvv_get_varint(p, limit, UINT64_MAX, &expires);
    if (!p)
        return false;
    uint64_t stamp = 0;
    if ((flags & OBJECT_FLAG_STAMPED) && !(p = dvv_get_varint(p, limit, UINT64_MAX, &stamp)))
        return false;
    out->flags = flags;
    out->expires_at_ms = expires;
    out->stamp_ms = stamp;
    out->payload = kv_slice_make(p, (size_t)(limit - p));
    return true;
}

/* Walks a counter payload, merging each (actor, p, n) into `into` (if not NULL).
 * KV_ECORRUPT if malformed or not strictly ordered. */
static int counter_walk(struct kv_slice payload, struct object_counter *into)
{
    const char *p = payload.data, *limit = payload.data + payload.len;
    uint64_t n;
    p = dvv_get_varint(p, limit, OBJECT_COUNTER_ACTORS_MAX, &n);
    if (!p)
        return KV_ECORRUPT;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t actor, pv, nv;
        if (limit - p < 8)
            return KV_ECORRUPT;
        actor = kv_get_fixed64(p);
        if (i > 0 && actor <= prev)
            return KV_ECORRUPT;
        prev = actor;
        p = dvv_get_varint(p + 8, limit, UINT64_MAX, &pv);
        if (p)
            p = dvv_get_varint(p, limit, UINT64_MAX, &nv);
        if (!p)
            return KV_ECORRUPT;
        if (into) {
            int rc = object_counter_merge_pn(into, actor, pv, nv);
            if (rc != KV_OK)
                return rc;
        }
    }
    return p == limit ? KV_OK : KV_ECORRUPT;
}

/* Checks one record; on KV_OK *out is the parsed record. */
static int record_check(struct kv_slice rec, struct object_sibling *out)
{
    struct object_sibling s = { 0 };
    if (!record_parse(rec, &s) || (s.flags & ~OBJECT_FLAGS_KNOWN) ||
        (s.flags & (OBJECT_FLAG_TOMBSTONE | OBJECT_FLAG_COUNTER)) == (OBJECT_FLAG_TOMBSTONE | OBJECT_FLAG_COUNTER))
        return KV_ECORRUPT;
    if ((s.flags & OBJECT_FLAG_TOMBSTONE) && s.payload.len != 0)
        return KV_ECORRUPT;
    if ((s.flags & OBJECT_FLAG_COUNTER) && counter_walk(s.payload, NULL) != KV_OK)
        return KV_ECORRUPT;
    *out = s;
    return KV_OK;
}

int object_decode(struct kv_slice in, struct object *out)
{
    object_clear(out);
    if (in.len < 1 || (unsigned char)in.data[0] != OBJECT_FORMAT_V1)
        return KV_ECORRUPT;
    int rc = dvv_decode(kv_slice_make(in.data + 1, in.len - 1), &out->clock);
    struct object_sibling s;
    bool stamped = false;
    for (uint32_t i = 0; rc == KV_OK && i < out->clock.nvalues; i++)
        if ((rc = record_check(out->clock.values[i], &s)) == KV_OK)
            stamped |= (s.flags & OBJECT_FLAG_STAMPED) != 0;
    for (uint32_t i = 0; rc == KV_OK && i < out->clock.nanon; i++)
        if ((rc = record_check(out->clock.anon[i], &s)) == KV_OK)
            stamped |= (s.flags & OBJECT_FLAG_STAMPED) != 0;
    /* Every write and merge resolves a last-writer-wins object to one
     * value, so one with a stamped value among others was never stored. */
    if (rc == KV_OK && stamped && out->clock.nvalues + out->clock.nanon > 1)
        rc = KV_ECORRUPT;
    return rc;
}

size_t object_encoded_bytes(const struct object *o) { return 1 + dvv_encoded_bytes(&o->clock); }

int object_encode(const struct object *o, struct kv_buf *out)
{
    int rc = kv_buf_append_byte(out, (char)OBJECT_FORMAT_V1);
    if (rc == KV_OK)
        rc = dvv_encode(&o->clock, out);
    return rc;
}

int object_merge(const struct object *a, const struct object *b, uint32_t siblings_max,
                 struct object *out)
{
    int rc = dvv_sync(&a->clock, &b->clock, siblings_max, &out->clock);
    if (rc == KV_OK)
        object_lww_resolve(out);
    return rc;
}

uint64_t object_max_stamp(const struct object *o)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < object_siblings(o); i++) {
        struct object_sibling s;
        object_sibling(o, i, &s);
        m = s.stamp_ms > m ? s.stamp_ms : m;
    }
    return m;
}

/* Whether candidate (stamp, actor, counter) beats the best so far. */
static bool lww_beats(uint64_t stamp, uint64_t actor, uint64_t counter, uint64_t bs, uint64_t ba, uint64_t bc)
{
    if (stamp != bs)
        return stamp > bs;
    return actor != ba ? actor > ba : counter > bc;
}

uint32_t object_lww_resolve(struct object *o)
{
    struct dvv *d = &o->clock;
    bool stamped = false;
    for (uint32_t i = 0; i < object_siblings(o) && !stamped; i++) {
        struct object_sibling s;
        object_sibling(o, i, &s);
        stamped = (s.flags & OBJECT_FLAG_STAMPED) != 0;
    }
    if (!stamped || d->nvalues == 0)
        return 0;
    /* Candidates: the newest value of each entry (older ones of the same
     * actor are superseded by it: a coordinator stamps above what it holds). */
    uint32_t win = UINT32_MAX;
    uint64_t bs = 0, ba = 0, bc = 0;
    for (uint32_t e = 0; e < d->nentries; e++) {
        const struct dvv_entry *en = &d->entries[e];
        if (en->nvalues == 0)
            continue;
        struct object_sibling s;
        object_sibling(o, en->first, &s);
        if (win == UINT32_MAX || lww_beats(s.stamp_ms, en->id, en->counter, bs, ba, bc)) {
            win = e;
            bs = s.stamp_ms, ba = en->id, bc = en->counter;
        }
    }
    uint32_t before = d->nvalues;
    struct kv_slice keep = d->values[d->entries[win].first];
    for (uint32_t e = 0; e < d->nentries; e++) {
        d->entries[e].first = e <= win ? 0 : 1;
        d->entries[e].nvalues = e == win;
    }
    d->values[0] = keep;
    d->nvalues = 1;
    return before - 1;
}

static struct kv_slice sibling_bytes(const struct object *o, uint32_t i)
{
    assert(i < object_siblings(o));
    return i < o->clock.nvalues ? o->clock.values[i] : o->clock.anon[i - o->clock.nvalues];
}

void object_sibling(const struct object *o, uint32_t i, struct object_sibling *out)
{
    bool ok = record_parse(sibling_bytes(o, i), out);
    assert(ok); /* checked by object_decode or built by object_record_append */
    (void)ok;
}

bool object_sibling_dot(const struct object *o, uint32_t i, uint64_t *id_out, uint64_t *counter_out)
{
    if (i >= o->clock.nvalues)
        return false;
    dvv_value_dot(&o->clock, i, id_out, counter_out);
    return true;
}

uint32_t object_visible_count(const struct object *o, uint64_t now_ms)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < object_siblings(o); i++) {
        struct object_sibling s;
        object_sibling(o, i, &s);
        n += object_sibling_visible(&s, now_ms);
    }
    return n;
}

bool object_is_dead(const struct object *o, uint64_t now_ms) { return object_visible_count(o, now_ms) == 0; }

bool object_is_expired(const struct object *o, uint64_t now_ms)
{
    uint32_t n = object_siblings(o);
    for (uint32_t i = 0; i < n; i++) {
        struct object_sibling s;
        object_sibling(o, i, &s);
        if ((s.flags & OBJECT_FLAG_TOMBSTONE) || !object_sibling_expired(&s, now_ms))
            return false;
    }
    return n > 0;
}

/* Visitor stop code for "a sibling is still alive": not an error, just
 * the answer "not expired". */
#define SCAN_ALIVE KV_ESTATE

struct expiry_scan {
    uint64_t now_ms;
    uint32_t n;
    bool stamped; /* a last-writer-wins value was seen */
};

static int expiry_visit(void *arg, struct kv_slice rec, bool anonymous)
{
    struct expiry_scan *x = arg;
    struct object_sibling s;
    int rc = record_check(rec, &s);
    if (rc != KV_OK)
        return rc;
    if ((s.flags & OBJECT_FLAG_TOMBSTONE) || !object_sibling_expired(&s, x->now_ms))
        return SCAN_ALIVE;
    x->stamped |= (s.flags & OBJECT_FLAG_STAMPED) != 0;
    x->n++;
    return KV_OK;
}

bool object_encoded_is_expired(struct kv_slice in, uint64_t now_ms)
{
    struct expiry_scan x = { now_ms, 0, false };
    struct dvv_visitor v = { NULL, expiry_visit, &x };
    if (in.len < 1 || (unsigned char)in.data[0] != OBJECT_FORMAT_V1)
        return false;
    /* Same checks as object_decode, so nothing undecodable is ever dropped. */
    return dvv_scan(kv_slice_make(in.data + 1, in.len - 1), &v) == KV_OK && x.n > 0 &&
           !(x.stamped && x.n > 1); /* object_decode refuses that */
}

int object_record_append(struct kv_buf *out, uint8_t flags, uint64_t expires_at_ms,
                         struct kv_slice payload)
{
    assert(!(flags & OBJECT_FLAG_STAMPED));
    return object_record_append_stamped(out, flags, expires_at_ms, 0, payload);
}

int object_record_append_stamped(struct kv_buf *out, uint8_t flags, uint64_t expires_at_ms, uint64_t stamp_ms,
                                 struct kv_slice payload)
{
    assert(!(flags & ~OBJECT_FLAGS_KNOWN));
    char hdr[OBJECT_RECORD_HEADER_BYTES_MAX];
    hdr[0] = (char)flags;
    char *end = kv_put_varint64(hdr + 1, expires_at_ms);
    if (flags & OBJECT_FLAG_STAMPED)
        end = kv_put_varint64(end, stamp_ms);
    int rc = kv_buf_reserve(out, (size_t)(end - hdr) + payload.len);
    if (rc == KV_OK)
        rc = kv_buf_append(out, hdr, (size_t)(end - hdr));
    if (rc == KV_OK)
        rc = kv_buf_append(out, payload.data, payload.len);
    return rc;
}

/* ---- PN-counters ---- */

void object_counter_init(struct object_counter *c) { memset(c, 0, sizeof *c); }
void object_counter_clear(struct object_counter *c) { c->n = 0; }

void object_counter_free(struct object_counter *c)
{
    free(c->e);
    object_counter_init(c);
}

/* Index of actor in c, or of where it would be inserted. */
static uint32_t counter_find(const struct object_counter *c, uint64_t actor)
{
    uint32_t lo = 0, hi = c->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->e[mid].actor < actor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The entry of actor, inserted as (0, 0) if missing. NULL: ETOOBIG/ENOMEM in *rc. */
static struct object_pn *counter_slot(struct object_counter *c, uint64_t actor, int *rc)
{
    uint32_t i = counter_find(c, actor);
    if (i < c->n && c->e[i].actor == actor)
        return &c->e[i];
    if (c->n >= OBJECT_COUNTER_ACTORS_MAX) {
        *rc = KV_ETOOBIG;
        return NULL;
    }
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 4;
        struct object_pn *e = realloc(c->e, cap * sizeof *e);
        if (!e) {
            *rc = KV_ENOMEM;
            return NULL;
        }
        c->e = e;
        c->cap = cap;
    }
    memmove(c->e + i + 1, c->e + i, (c->n - i) * sizeof c->e[0]);
    c->n++;
    c->e[i] = (struct object_pn){ actor, 0, 0 };
    return &c->e[i];
}

int object_counter_merge_pn(struct object_counter *c, uint64_t actor, uint64_t p, uint64_t n)
{
    int rc = KV_OK;
    struct object_pn *e = counter_slot(c, actor, &rc);
    if (!e)
        return rc;
    if (p > e->p)
        e->p = p;
    if (n > e->n)
        e->n = n;
    return KV_OK;
}

int object_counter_merge(struct object_counter *c, struct kv_slice payload)
{
    return counter_walk(payload, c);
}

int object_counter_add(struct object_counter *c, uint64_t actor, int64_t delta)
{
    int rc = KV_OK;
    struct object_pn *e = counter_slot(c, actor, &rc);
    if (!e)
        return rc;
    /* -(INT64_MIN) does not fit int64, so negate in unsigned arithmetic. */
    uint64_t mag = delta >= 0 ? (uint64_t)delta : (uint64_t)0 - (uint64_t)delta;
    uint64_t *sum = delta >= 0 ? &e->p : &e->n;
    if (*sum > UINT64_MAX - mag)
        return KV_ETOOBIG;
    *sum += mag;
    return KV_OK;
}

int object_counter_value(const struct object_counter *c, int64_t *out)
{
    /* Sums in 128 bits would be simpler; two checked u64 sums do the same portably. */
    uint64_t sp = 0, sn = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        if (sp > UINT64_MAX - c->e[i].p || sn > UINT64_MAX - c->e[i].n)
            return KV_ETOOBIG;
        sp += c->e[i].p;
        sn += c->e[i].n;
    }
    if (sp >= sn) {
        if (sp - sn > (uint64_t)INT64_MAX)
            return KV_ETOOBIG;
        *out = (int64_t)(sp - sn);
    } else {
        if (sn - sp > (uint64_t)INT64_MAX + 1)
            return KV_ETOOBIG;
        *out = (int64_t)(0 - (sn - sp)); /* two's complement: exact down to INT64_MIN */
    }
    return KV_OK;
}

int object_counter_encode(const struct object_counter *c, struct kv_buf *out)
{
    int rc = kv_buf_reserve(out, KV_VARINT32_BYTES_MAX + (size_t)c->n * (8 + 2 * KV_VARINT64_BYTES_MAX));
    if (rc != KV_OK)
        return rc;
    char *start = out->data + out->len, *p = start;
    p = kv_put_varint32(p, c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        kv_put_fixed64(p, c->e[i].actor);
        p = kv_put_varint64(p + 8, c->e[i].p);
        p = kv_put_varint64(p, c->e[i].n);
    }
    out->len += (size_t)(p - start);
    out->data[out->len] = 0;
    return KV_OK;
}

uint64_t object_base_actor(uint64_t dot_id, uint64_t dot_counter)
{
    char b[16];
    kv_put_fixed64(b, dot_id);
    kv_put_fixed64(b + 8, dot_counter);
    return kv_hash64(b, sizeof b, OBJECT_BASE_ACTOR_SEED);
}

int object_parse_int64(struct kv_slice s, int64_t *out)
{
    const char *p = s.data, *end = s.data + s.len;
    bool neg = s.len > 0 && *p == '-';
    p += neg;
    /* At most 19 digits (INT64_MAX has 19); no leading zero except "0". */
    if (p == end || end - p > 19 || (*p == '0' && (end - p > 1 || neg)))
        return KV_EINVAL;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return KV_EINVAL;
        v = v * 10 + (uint64_t)(*p - '0'); /* 19 digits < 2^64: no wrap */
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return KV_EINVAL;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return KV_OK;
}
