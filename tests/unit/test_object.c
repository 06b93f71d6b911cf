/* test_object.c - stored objects: registers, tombstones, expiry, PN-counters
 * across simulated replicas, the byte format and its corruption. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/hash.h"
#include "coordinator/dvv.h"
#include "coordinator/object.h"

#define LIM 64u

/* A replica's copy of one key: the stored bytes and the object decoded from them. */
struct replica {
    uint64_t actor;
    struct kv_buf bytes;
    struct object obj;
};

static void replica_set(struct replica *r, const struct object *next)
{
    struct kv_buf enc = { 0 };
    ck_assert_int_eq(object_encode(next, &enc), KV_OK);
    ck_assert_uint_eq(enc.len, object_encoded_bytes(next));
    kv_buf_free(&r->bytes);
    r->bytes = enc;
    ck_assert_int_eq(object_decode(kv_slice_make(r->bytes.data, r->bytes.len), &r->obj), KV_OK);
}

/* A write through replica r superseding everything r holds (a blind write). */
static void write_record(struct replica *r, uint8_t flags, uint64_t exp, struct kv_slice payload)
{
    struct kv_buf rec = { 0 };
    struct object next;
    object_init(&next);
    ck_assert_int_eq(object_record_append(&rec, flags, exp, payload), KV_OK);
    struct kv_slice v = kv_slice_make(rec.data, rec.len);
    ck_assert_int_eq(dvv_update(&r->obj.clock, &r->obj.clock, r->actor, &v, 1, LIM, &next.clock), KV_OK);
    replica_set(r, &next);
    object_free(&next);
    kv_buf_free(&rec);
}

/* A write that saw nothing: becomes a sibling of what r holds. */
static void write_sibling(struct replica *r, uint8_t flags, uint64_t exp, struct kv_slice data)
{
    struct kv_buf rec = { 0 };
    struct object next;
    struct dvv none = { 0 };
    object_init(&next);
    ck_assert_int_eq(object_record_append(&rec, flags, exp, data), KV_OK);
    struct kv_slice v = kv_slice_make(rec.data, rec.len);
    ck_assert_int_eq(dvv_update(&none, &r->obj.clock, r->actor, &v, 1, LIM, &next.clock), KV_OK);
    replica_set(r, &next);
    object_free(&next);
    kv_buf_free(&rec);
}

static void merge_into(struct replica *r, const struct replica *from)
{
    struct object m;
    object_init(&m);
    ck_assert_int_eq(object_merge(&r->obj, &from->obj, LIM, &m), KV_OK);
    replica_set(r, &m);
    object_free(&m);
}

static void replica_init(struct replica *r, uint64_t actor)
{
    memset(r, 0, sizeof *r);
    r->actor = actor;
    object_init(&r->obj);
}

static void replica_free(struct replica *r)
{
    kv_buf_free(&r->bytes);
    object_free(&r->obj);
}

/* A stamped (last-writer-wins) blind write through replica r. */
static void write_stamped(struct replica *r, uint8_t flags, uint64_t stamp, struct kv_slice payload)
{
    struct kv_buf rec = { 0 };
    struct object next;
    object_init(&next);
    ck_assert_int_eq(object_record_append_stamped(&rec, flags | OBJECT_FLAG_STAMPED, 0, stamp, payload), KV_OK);
    struct kv_slice v = kv_slice_make(rec.data, rec.len);
    ck_assert_int_eq(dvv_update(&r->obj.clock, &r->obj.clock, r->actor, &v, 1, LIM, &next.clock), KV_OK);
    object_lww_resolve(&next);
    replica_set(r, &next);
    object_free(&next);
    kv_buf_free(&rec);
}

static struct kv_slice only_value(const struct replica *r)
{
    ck_assert_uint_eq(object_siblings(&r->obj), 1);
    struct object_sibling s;
    object_sibling(&r->obj, 0, &s);
    return s.payload;
}

START_TEST(last_writer_wins_keeps_one_value_on_every_replica)
{
    struct replica a, b, c;
    replica_init(&a, 1);
    replica_init(&b, 2);
    replica_init(&c, 3);
    /* Concurrent writes through three coordinators; the highest stamp wins,
     * whatever the order of the merges. */
    write_stamped(&a, 0, 100, kv_slice_str("a@100"));
    write_stamped(&b, 0, 300, kv_slice_str("b@300"));
    write_stamped(&c, 0, 200, kv_slice_str("c@200"));
    struct object_sibling s;
    object_sibling(&b.obj, 0, &s);
    ck_assert_uint_eq(s.stamp_ms, 300);
    ck_assert(s.flags & OBJECT_FLAG_STAMPED);
    merge_into(&a, &c);
    ck_assert(kv_slice_eq(only_value(&a), kv_slice_str("c@200")));
    merge_into(&a, &b);
    merge_into(&c, &b);
    merge_into(&c, &a);
    merge_into(&b, &a);
    ck_assert(kv_slice_eq(only_value(&a), kv_slice_str("b@300")));
    ck_assert_mem_eq(a.bytes.data, b.bytes.data, a.bytes.len);
    ck_assert_uint_eq(a.bytes.len, c.bytes.len);
    ck_assert_mem_eq(a.bytes.data, c.bytes.data, a.bytes.len);
    /* A loser never comes back from a stale replica that still holds it. */
    struct replica stale;
    replica_init(&stale, 3);
    write_stamped(&stale, 0, 200, kv_slice_str("c@200"));
    merge_into(&a, &stale);
    ck_assert(kv_slice_eq(only_value(&a), kv_slice_str("b@300")));
    /* Equal stamps: the higher actor id decides, on both sides. */
    struct replica x, y;
    replica_init(&x, 7);
    replica_init(&y, 9);
    write_stamped(&x, 0, 500, kv_slice_str("x"));
    write_stamped(&y, 0, 500, kv_slice_str("y"));
    merge_into(&x, &y);
    merge_into(&y, &x);
    ck_assert(kv_slice_eq(only_value(&x), kv_slice_str("y")));
    ck_assert(kv_slice_eq(only_value(&y), kv_slice_str("y")));
    /* A later stamped tombstone wins too: the key reads as deleted. */
    write_stamped(&c, OBJECT_FLAG_TOMBSTONE, 400, kv_slice_make(NULL, 0));
    merge_into(&a, &c);
    ck_assert(object_is_dead(&a.obj, 0));
    ck_assert_uint_eq(object_max_stamp(&a.obj), 400);
    /* Unstamped (causal) objects are left alone: siblings stay. */
    struct replica d;
    replica_init(&d, 4);
    write_record(&d, 0, 0, kv_slice_str("p"));
    write_sibling(&d, 0, 0, kv_slice_str("q"));
    ck_assert_uint_eq(object_lww_resolve(&d.obj), 0);
    ck_assert_uint_eq(object_siblings(&d.obj), 2);
    replica_free(&a), replica_free(&b), replica_free(&c), replica_free(&d);
    replica_free(&stale), replica_free(&x), replica_free(&y);
}
END_TEST

START_TEST(encoding_matches_the_documented_example)
{
    struct replica r;
    replica_init(&r, 0x0a);
    write_record(&r, 0, 0, kv_slice_str("hi"));
    const char want[] = "\x01\x01\x0a\0\0\0\0\0\0\0\x01\x01\x04\x00\x00hi\x00";
    ck_assert_uint_eq(r.bytes.len, sizeof want - 1);
    ck_assert_mem_eq(r.bytes.data, want, r.bytes.len);
    struct object_sibling s;
    ck_assert_uint_eq(object_siblings(&r.obj), 1);
    object_sibling(&r.obj, 0, &s);
    ck_assert_uint_eq(s.flags, 0);
    ck_assert_uint_eq(s.expires_at_ms, 0);
    ck_assert(kv_slice_eq(s.payload, kv_slice_str("hi")));
    replica_free(&r);
}
END_TEST

START_TEST(register_overwrite_and_siblings)
{
    struct replica r;
    replica_init(&r, 1);
    write_record(&r, 0, 0, kv_slice_str("a"));
    write_record(&r, 0, 0, kv_slice_str("b"));
    ck_assert_uint_eq(object_siblings(&r.obj), 1); /* b superseded a */
    write_sibling(&r, 0, 0, kv_slice_str("c"));
    ck_assert_uint_eq(object_visible_count(&r.obj, 0), 2);
    write_record(&r, 0, 0, kv_slice_str("d"));
    ck_assert_uint_eq(object_siblings(&r.obj), 1);
    replica_free(&r);
}
END_TEST

START_TEST(tombstones_and_expired_values_are_invisible)
{
    struct replica r;
    replica_init(&r, 1);
    write_record(&r, 0, 1000, kv_slice_str("short"));
    ck_assert_uint_eq(object_visible_count(&r.obj, 999), 1);
    ck_assert(!object_is_dead(&r.obj, 999));
    ck_assert(object_is_dead(&r.obj, 1000)); /* expiry is exclusive: gone at 1000 */
    ck_assert(object_is_expired(&r.obj, 1000));
    ck_assert(!object_is_expired(&r.obj, 999));
    write_sibling(&r, 0, 2000, kv_slice_str("long"));
    ck_assert_uint_eq(object_visible_count(&r.obj, 1500), 1);
    ck_assert(!object_is_expired(&r.obj, 1500));
    ck_assert(object_is_expired(&r.obj, 2000));
    write_sibling(&r, 0, 0, kv_slice_str("forever"));
    ck_assert(!object_is_expired(&r.obj, UINT64_MAX));
    ck_assert(!object_is_dead(&r.obj, UINT64_MAX));
    write_record(&r, OBJECT_FLAG_TOMBSTONE, 0, kv_slice_make(NULL, 0));
    ck_assert(object_is_dead(&r.obj, 0));
    ck_assert(!object_is_expired(&r.obj, UINT64_MAX)); /* tombstones are not TTL-purged */
    ck_assert(!object_encoded_is_expired(kv_slice_make(r.bytes.data, r.bytes.len), UINT64_MAX));
    replica_free(&r);
}
END_TEST

START_TEST(encoded_expiry_check_agrees_with_decoded_one)
{
    struct replica r;
    replica_init(&r, 1);
    write_record(&r, 0, 100, kv_slice_str("x"));
    write_sibling(&r, 0, 300, kv_slice_str("y"));
    write_sibling(&r, OBJECT_FLAG_COUNTER, 200, kv_slice_make("\x01\x01\0\0\0\0\0\0\0\x05\x00", 11));
    for (uint64_t t = 0; t < 400; t += 50)
        ck_assert_int_eq(object_encoded_is_expired(kv_slice_make(r.bytes.data, r.bytes.len), t),
                         object_is_expired(&r.obj, t));
    ck_assert(object_encoded_is_expired(kv_slice_make(r.bytes.data, r.bytes.len), 300));
    ck_assert(!object_encoded_is_expired(kv_slice_make(r.bytes.data, r.bytes.len - 1), 300));
    ck_assert(!object_encoded_is_expired(kv_slice_make("\x02", 1), 300));
    replica_free(&r);
}
END_TEST

/* ---- counters ---- */

/* INCR through replica r: merge every visible counter state (and decimal
 * registers under their base actor), add delta, write superseding all. */
static int64_t incr(struct replica *r, int64_t delta)
{
    struct object_counter c;
    object_counter_init(&c);
    for (uint32_t i = 0; i < object_siblings(&r->obj); i++) {
        struct object_sibling s;
        object_sibling(&r->obj, i, &s);
        if (!object_sibling_visible(&s, 0))
            continue;
        if (s.flags & OBJECT_FLAG_COUNTER) {
            ck_assert_int_eq(object_counter_merge(&c, s.payload), KV_OK);
        } else {
            int64_t v;
            uint64_t id, ctr;
            ck_assert_int_eq(object_parse_int64(s.payload, &v), KV_OK);
            ck_assert(object_sibling_dot(&r->obj, i, &id, &ctr));
            ck_assert_int_eq(object_counter_merge_pn(&c, object_base_actor(id, ctr), v >= 0 ? (uint64_t)v : 0,
                                                     v < 0 ? (uint64_t)-v : 0), KV_OK);
        }
    }
    ck_assert_int_eq(object_counter_add(&c, r->actor, delta), KV_OK);
    struct kv_buf payload = { 0 };
    ck_assert_int_eq(object_counter_encode(&c, &payload), KV_OK);
    write_record(r, OBJECT_FLAG_COUNTER, 0, kv_slice_make(payload.data, payload.len));
    int64_t v;
    ck_assert_int_eq(object_counter_value(&c, &v), KV_OK);
    kv_buf_free(&payload);
    object_counter_free(&c);
    return v;
}

/* The counter value a reader of r sees: all visible counter states merged. */
static int64_t read_counter(const struct replica *r)
{
    struct object_counter c;
    object_counter_init(&c);
    for (uint32_t i = 0; i < object_siblings(&r->obj); i++) {
        struct object_sibling s;
        object_sibling(&r->obj, i, &s);
        if (object_sibling_visible(&s, 0) && (s.flags & OBJECT_FLAG_COUNTER))
            ck_assert_int_eq(object_counter_merge(&c, s.payload), KV_OK);
    }
    int64_t v;
    ck_assert_int_eq(object_counter_value(&c, &v), KV_OK);
    object_counter_free(&c);
    return v;
}

START_TEST(counter_merge_never_loses_or_double_counts_increments)
{
    enum { R = 4 };
    for (uint64_t seed = 1; seed <= 30; seed++) {
        struct kv_rand rnd;
        kv_rand_seed(&rnd, seed);
        struct replica rep[R];
        for (int i = 0; i < R; i++)
            replica_init(&rep[i], kv_hash64(&i, sizeof i, 7));
        int64_t total = 0;
        for (int op = 0; op < 400; op++) {
            int r = (int)kv_rand_below(&rnd, R), q = (int)kv_rand_below(&rnd, R);
            if (kv_rand_below(&rnd, 3) == 0) {
                merge_into(&rep[r], &rep[q]); /* anti-entropy / read repair */
            } else {
                int64_t d = (int64_t)kv_rand_below(&rnd, 21) - 10;
                (void)incr(&rep[r], d);
                total += d;
            }
        }
        /* Heal: every replica merges every other, twice around. */
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < R; i++)
                for (int j = 0; j < R; j++)
                    if (i != j)
                        merge_into(&rep[i], &rep[j]);
        for (int i = 0; i < R; i++)
            ck_assert_msg(read_counter(&rep[i]) == total, "seed %llu replica %d: %lld != %lld",
                          (unsigned long long)seed, i, (long long)read_counter(&rep[i]), (long long)total);
        for (int i = 0; i < R; i++)
            replica_free(&rep[i]);
    }
}
END_TEST

START_TEST(concurrent_conversion_of_one_register_counts_its_value_once)
{
    struct replica a, b;
    replica_init(&a, 101);
    replica_init(&b, 202);
    write_record(&a, 0, 0, kv_slice_str("5"));
    merge_into(&b, &a);
    ck_assert_int_eq(incr(&a, 1), 6);
    ck_assert_int_eq(incr(&b, 1), 6);
    merge_into(&a, &b);
    ck_assert_uint_eq(object_visible_count(&a.obj, 0), 2); /* two concurrent counter states */
    ck_assert_int_eq(read_counter(&a), 7);
    ck_assert_int_eq(incr(&a, 1), 8);
    ck_assert_uint_eq(object_visible_count(&a.obj, 0), 1);
    replica_free(&a);
    replica_free(&b);
}
END_TEST

START_TEST(delete_after_incr_is_not_undone_by_a_stale_replica)
{
    struct replica a, b;
    replica_init(&a, 101);
    replica_init(&b, 202);
    (void)incr(&a, 10);
    merge_into(&b, &a);
    write_record(&a, OBJECT_FLAG_TOMBSTONE, 0, kv_slice_make(NULL, 0));
    merge_into(&a, &b); /* b still holds the counter at 10 */
    ck_assert(object_is_dead(&a.obj, 0));
    ck_assert_int_eq(incr(&a, 1), 1);
    replica_free(&a);
    replica_free(&b);
}
END_TEST

START_TEST(counter_arithmetic_limits)
{
    struct object_counter c;
    object_counter_init(&c);
    int64_t v;
    ck_assert_int_eq(object_counter_add(&c, 1, INT64_MIN), KV_OK);
    ck_assert_int_eq(object_counter_value(&c, &v), KV_OK);
    ck_assert_int_eq(v, INT64_MIN);
    ck_assert_int_eq(object_counter_add(&c, 1, -1), KV_OK);
    ck_assert_int_eq(object_counter_value(&c, &v), KV_ETOOBIG);
    object_counter_clear(&c);
    ck_assert_int_eq(object_counter_add(&c, 1, INT64_MAX), KV_OK);
    ck_assert_int_eq(object_counter_value(&c, &v), KV_OK);
    ck_assert_int_eq(v, INT64_MAX);
    ck_assert_int_eq(object_counter_add(&c, 2, 1), KV_OK);
    ck_assert_int_eq(object_counter_value(&c, &v), KV_ETOOBIG);
    ck_assert_int_eq(object_counter_merge_pn(&c, 3, UINT64_MAX, 0), KV_OK);
    ck_assert_int_eq(object_counter_add(&c, 3, 1), KV_ETOOBIG);
    /* per-actor max, not sum */
    object_counter_clear(&c);
    ck_assert_int_eq(object_counter_merge_pn(&c, 9, 5, 2), KV_OK);
    ck_assert_int_eq(object_counter_merge_pn(&c, 9, 3, 4), KV_OK);
    ck_assert_int_eq(object_counter_value(&c, &v), KV_OK);
    ck_assert_int_eq(v, 1);
    for (uint64_t a = 100; a < 100 + OBJECT_COUNTER_ACTORS_MAX - 1; a++)
        ck_assert_int_eq(object_counter_merge_pn(&c, a, 1, 0), KV_OK);
    ck_assert_int_eq(object_counter_merge_pn(&c, 99999, 1, 0), KV_ETOOBIG);
    object_counter_free(&c);
}
END_TEST

START_TEST(integers_parse_like_redis)
{
    const char *ok[] = { "0", "7", "-1", "9223372036854775807", "-9223372036854775808" };
    int64_t want[] = { 0, 7, -1, INT64_MAX, INT64_MIN };
    for (size_t i = 0; i < 5; i++) {
        int64_t v = 42;
        ck_assert_int_eq(object_parse_int64(kv_slice_str(ok[i]), &v), KV_OK);
        ck_assert_int_eq(v, want[i]);
    }
    const char *bad[] = { "", "-", "01", "-0", "+1", " 1", "1 ", "1.0", "abc", "12a",
                          "9223372036854775808", "-9223372036854775809", "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        ck_assert_msg(object_parse_int64(kv_slice_str(bad[i]), &v) == KV_EINVAL, "accepted '%s'", bad[i]);
    }
}
END_TEST

/* ---- format ---- */

static int decode_bytes(const char *p, size_t n)
{
    struct object o;
    object_init(&o);
    int rc = object_decode(kv_slice_make(p, n), &o);
    object_free(&o);
    return rc;
}

START_TEST(bad_records_are_corrupt)
{
    /* One entry (id 1, counter 1) with one record whose bytes are given. */
#define OBJ(rec) "\x01\x01\x01\0\0\0\0\0\0\0\x01\x01" rec "\x00"
#define DEC(rec) decode_bytes(OBJ(rec), sizeof OBJ(rec) - 1)
    ck_assert_int_eq(DEC("\x02\x00\x00"), KV_OK);
    ck_assert_int_eq(DEC("\x02\x04\x00"), KV_ECORRUPT);  /* unknown flag */
    ck_assert_int_eq(DEC("\x02\x03\x00"), KV_ECORRUPT);  /* tombstone + counter */
    ck_assert_int_eq(DEC("\x03\x01\x00x"), KV_ECORRUPT); /* tombstone with data */
    ck_assert_int_eq(DEC("\x01\x00"), KV_ECORRUPT);      /* no expiry byte */
    ck_assert_int_eq(DEC("\x03\x00\x80\x00"), KV_ECORRUPT); /* overlong expiry */
    ck_assert_int_eq(DEC("\x03\x02\x00\x00"), KV_OK);    /* counter, no actors */
    ck_assert_int_eq(DEC("\x03\x02\x00\x01"), KV_ECORRUPT); /* one actor, missing */
    /* counter with actors 2 then 1: unordered */
    ck_assert_int_eq(DEC("\x17\x02\x00\x02\x02\0\0\0\0\0\0\0\x01\x00\x01\0\0\0\0\0\0\0\x01\x00"),
                     KV_ECORRUPT);
    ck_assert_int_eq(DEC("\x17\x02\x00\x02\x01\0\0\0\0\0\0\0\x01\x00\x02\0\0\0\0\0\0\0\x01\x00"),
                     KV_OK);
    ck_assert_int_eq(decode_bytes("\x02\x00\x00", 3), KV_ECORRUPT); /* unknown format version */
    ck_assert_int_eq(decode_bytes("", 0), KV_ECORRUPT);
#undef OBJ
#undef DEC
}
END_TEST

START_TEST(undecodable_objects_are_never_reported_expired)
{
    /* Found by fuzz_object: the expiry scan once skipped decode's checks. */
#define OBJ(rec) "\x01\x01\x01\0\0\0\0\0\0\0\x01\x01" rec "\x00"
    ck_assert(object_encoded_is_expired(kv_slice_make(OBJ("\x02\x00\x01"), sizeof OBJ("") + 2), 2));
    ck_assert(!object_encoded_is_expired(kv_slice_make(OBJ("\x02\x04\x01"), sizeof OBJ("") + 2), 2));
    ck_assert(!object_encoded_is_expired(kv_slice_make(OBJ("\x03\x02\x01\x01"), sizeof OBJ("") + 3), 2));
#undef OBJ
    /* Two entries with ids out of order, each with one expired record. */
    const char unordered[] = "\x01\x02\x02\0\0\0\0\0\0\0\x01\x01\x02\x00\x01"
                             "\x01\0\0\0\0\0\0\0\x01\x01\x02\x00\x01\x00";
    ck_assert_int_eq(decode_bytes(unordered, sizeof unordered - 1), KV_ECORRUPT);
    ck_assert(!object_encoded_is_expired(kv_slice_make(unordered, sizeof unordered - 1), 2));
}
END_TEST

static void sample(struct replica *r)
{
    replica_init(r, 3);
    write_record(r, 0, 12345678, kv_slice_str("value"));
    write_sibling(r, 0, 0, kv_slice_str("sib"));
    struct replica other;
    replica_init(&other, 4);
    (void)incr(&other, -3);
    merge_into(r, &other);
    replica_free(&other);
}

START_TEST(every_truncation_is_corrupt)
{
    struct replica r;
    sample(&r);
    for (size_t n = 0; n < r.bytes.len; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, r.bytes.data, n);
        ck_assert_int_eq(decode_bytes(copy, n), KV_ECORRUPT);
        ck_assert(!object_encoded_is_expired(kv_slice_make(copy, n), UINT64_MAX));
        free(copy);
    }
    replica_free(&r);
}
END_TEST

START_TEST(random_corruption_is_rejected_or_canonical)
{
    struct replica r;
    sample(&r);
    struct kv_rand rnd;
    kv_rand_seed(&rnd, 3);
    struct object o;
    object_init(&o);
    struct kv_buf again = { 0 };
    for (int t = 0; t < 20000; t++) {
        size_t n = r.bytes.len;
        char *copy = malloc(n);
        memcpy(copy, r.bytes.data, n);
        int flips = 1 + (int)kv_rand_below(&rnd, 3);
        for (int f = 0; f < flips; f++)
            copy[kv_rand_below(&rnd, n)] ^= (char)(1 + kv_rand_below(&rnd, 255));
        int rc = object_decode(kv_slice_make(copy, n), &o);
        ck_assert(rc == KV_OK || rc == KV_ECORRUPT);
        (void)object_encoded_is_expired(kv_slice_make(copy, n), 20000000);
        if (rc == KV_OK) {
            kv_buf_reset(&again);
            ck_assert_int_eq(object_encode(&o, &again), KV_OK);
            ck_assert_uint_eq(again.len, n);
            ck_assert_mem_eq(again.data, copy, n);
            (void)object_visible_count(&o, 0); /* safe to walk what decoded */
        }
        free(copy);
    }
    kv_buf_free(&again);
    object_free(&o);
    replica_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("object");
    TCase *tc = tcase_create("object");
    tcase_add_test(tc, encoding_matches_the_documented_example);
    tcase_add_test(tc, last_writer_wins_keeps_one_value_on_every_replica);
    tcase_add_test(tc, register_overwrite_and_siblings);
    tcase_add_test(tc, tombstones_and_expired_values_are_invisible);
    tcase_add_test(tc, encoded_expiry_check_agrees_with_decoded_one);
    tcase_add_test(tc, counter_merge_never_loses_or_double_counts_increments);
    tcase_add_test(tc, concurrent_conversion_of_one_register_counts_its_value_once);
    tcase_add_test(tc, delete_after_incr_is_not_undone_by_a_stale_replica);
    tcase_add_test(tc, counter_arithmetic_limits);
    tcase_add_test(tc, integers_parse_like_redis);
    tcase_add_test(tc, bad_records_are_corrupt);
    tcase_add_test(tc, undecodable_objects_are_never_reported_expired);
    tcase_add_test(tc, every_truncation_is_corrupt);
    tcase_add_test(tc, random_corruption_is_rejected_or_canonical);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
