/* test_dvv.c - dotted version vector sets: Riak's examples, properties
 * over random histories checked against an explicit model, encoding. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/coding.h"
#include "coordinator/dvv.h"

#define A 0x0aull
#define B 0x0bull
#define C 0x0cull
#define LIM DVV_VALUES_MAX

static struct kv_slice S(const char *s) { return kv_slice_str(s); }

/* A new write of v by actor id with context ctx over stored. */
static void upd(const struct dvv *ctx, const struct dvv *stored, uint64_t id, const char *v, struct dvv *out)
{
    struct kv_slice val = S(v);
    ck_assert_int_eq(dvv_update(ctx, stored, id, &val, 1, LIM, out), KV_OK);
}

static void join(const struct dvv *d, struct dvv *out) { ck_assert_int_eq(dvv_join(d, out), KV_OK); }

/* The values of d as one string, entry values in order then anonymous, ',' separated. */
static const char *vals(const struct dvv *d)
{
    static char buf[4096];
    size_t n = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < dvv_size(d); i++) {
        struct kv_slice v = i < d->nvalues ? d->values[i] : d->anon[i - d->nvalues];
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.*s", i ? "," : "", (int)v.len, v.data);
    }
    return buf;
}

static void enc(const struct dvv *d, struct kv_buf *b)
{
    kv_buf_reset(b);
    ck_assert_int_eq(dvv_encode(d, b), KV_OK);
    ck_assert_uint_eq(b->len, dvv_encoded_bytes(d));
}

static void assert_same(const struct dvv *x, const struct dvv *y)
{
    struct kv_buf a = { 0 }, b = { 0 };
    enc(x, &a);
    enc(y, &b);
    ck_assert_uint_eq(a.len, b.len);
    ck_assert_mem_eq(a.data, b.data, a.len);
    kv_buf_free(&a);
    kv_buf_free(&b);
}

START_TEST(concurrent_updates_make_siblings)
{
    struct dvv empty = { 0 }, s1 = { 0 }, ctx = { 0 }, s2 = { 0 }, s3 = { 0 };
    upd(&empty, &empty, A, "v1", &s1);
    join(&s1, &ctx);
    /* Two clients read the same version and write through the same node. */
    upd(&ctx, &s1, A, "x", &s2);
    upd(&ctx, &s2, A, "y", &s3);
    ck_assert_str_eq(vals(&s3), "y,x");
    ck_assert_uint_eq(s3.entries[0].counter, 3);
    /* Through different nodes, then merged: still both. */
    struct dvv t1 = { 0 }, t2 = { 0 }, m = { 0 };
    upd(&ctx, &s1, A, "p", &t1);
    upd(&ctx, &s1, B, "q", &t2);
    ck_assert_int_eq(dvv_sync(&t1, &t2, LIM, &m), KV_OK);
    ck_assert_str_eq(vals(&m), "p,q");
    ck_assert(!dvv_less(&t1, &t2) && !dvv_less(&t2, &t1));
    dvv_free(&s1), dvv_free(&ctx), dvv_free(&s2), dvv_free(&s3);
    dvv_free(&t1), dvv_free(&t2), dvv_free(&m);
}
END_TEST

START_TEST(update_with_context_supersedes_exactly_the_seen_values)
{
    /* Riak's syn_update_test: Mary writes v1; Peter reads it; Mary writes
     * v2 blind of it (sibling); Peter writes v3 with his context: v3
     * replaces v1 only. */
    struct dvv empty = { 0 }, a0 = { 0 }, vv1 = { 0 }, a1 = { 0 }, a2 = { 0 };
    upd(&empty, &empty, A, "v1", &a0);
    join(&a0, &vv1);
    upd(&empty, &a0, A, "v2", &a1);
    ck_assert_str_eq(vals(&a1), "v2,v1");
    upd(&vv1, &a1, A, "v3", &a2);
    ck_assert_str_eq(vals(&a2), "v3,v2");
    ck_assert_uint_eq(a2.entries[0].counter, 3);
    /* A context that covers both resolves them into one value. */
    struct dvv vv2 = { 0 }, a3 = { 0 };
    join(&a2, &vv2);
    upd(&vv2, &a2, B, "v4", &a3);
    ck_assert_str_eq(vals(&a3), "v4");
    ck_assert_uint_eq(a3.nentries, 2);
    ck_assert_uint_eq(a3.entries[0].nvalues, 0);
    dvv_free(&a0), dvv_free(&vv1), dvv_free(&a1), dvv_free(&a2), dvv_free(&vv2), dvv_free(&a3);
}
END_TEST

START_TEST(update_and_sync_match_riak_examples)
{
    struct dvv e = { 0 }, a0 = { 0 }, a1 = { 0 }, j = { 0 }, a2 = { 0 }, a3 = { 0 };
    upd(&e, &e, A, "v1", &a0);
    join(&a0, &j);
    upd(&j, &a0, A, "v2", &a1);
    ck_assert_str_eq(vals(&a1), "v2");
    join(&a1, &j);
    upd(&j, &a1, B, "v3", &a2); /* {a,2,[]},{b,1,[v3]} */
    ck_assert_uint_eq(a2.nentries, 2);
    ck_assert_str_eq(vals(&a2), "v3");
    join(&a0, &j);
    upd(&j, &a1, B, "v4", &a3); /* {a,2,[v2]},{b,1,[v4]} */
    ck_assert_str_eq(vals(&a3), "v2,v4");
    /* sync(W, Z) with W = {a,1,[]}, Z = {a,2,[v2,v1]} keeps only v2. */
    struct dvv w = { 0 }, z = { 0 }, m = { 0 }, m2 = { 0 }, tmp = { 0 };
    upd(&e, &e, A, "v1", &tmp);
    join(&tmp, &w);
    upd(&e, &tmp, A, "v2", &z);
    ck_assert_str_eq(vals(&z), "v2,v1");
    ck_assert_int_eq(dvv_sync(&w, &z, LIM, &m), KV_OK);
    ck_assert_int_eq(dvv_sync(&z, &w, LIM, &m2), KV_OK);
    ck_assert_str_eq(vals(&m), "v2");
    assert_same(&m, &m2);
    dvv_free(&a0), dvv_free(&a1), dvv_free(&j), dvv_free(&a2), dvv_free(&a3);
    dvv_free(&w), dvv_free(&z), dvv_free(&m), dvv_free(&m2), dvv_free(&tmp);
}
END_TEST

START_TEST(causal_order_matches_riak_examples)
{
    struct dvv e = { 0 }, a = { 0 }, j = { 0 }, b = { 0 }, b2 = { 0 }, c = { 0 }, jb = { 0 }, d = { 0 }, jc = { 0 };
    upd(&e, &e, A, "v1", &a);
    join(&a, &j);
    upd(&j, &e, A, "v2", &b);
    upd(&j, &e, B, "v2", &b2);
    join(&b, &jb);
    upd(&jb, &a, C, "v3", &c);
    join(&c, &jc);
    upd(&jc, &b2, 0x0d, "v4", &d);
    ck_assert(dvv_less(&a, &b));
    ck_assert(dvv_less(&a, &c));
    ck_assert(dvv_less(&b, &c));
    ck_assert(dvv_less(&b, &d));
    ck_assert(dvv_less(&b2, &d));
    ck_assert(dvv_less(&a, &d));
    ck_assert(!dvv_less(&b2, &c));
    ck_assert(!dvv_less(&b, &b2) && !dvv_less(&b2, &b));
    ck_assert(!dvv_less(&a, &a) && !dvv_less(&c, &c));
    ck_assert(!dvv_less(&d, &b2));
    ck_assert(dvv_descends(&a, &a) && dvv_descends(&d, &a) && !dvv_descends(&a, &d));
    ck_assert(dvv_equal(&a, &a) && !dvv_equal(&a, &b));
    ck_assert(dvv_equal(&j, &j) && !dvv_equal(&j, &a)); /* same counters, different value counts */
    dvv_free(&a), dvv_free(&j), dvv_free(&b), dvv_free(&b2), dvv_free(&c);
    dvv_free(&jb), dvv_free(&d), dvv_free(&jc);
}
END_TEST

START_TEST(anonymous_values_follow_the_newer_side)
{
    struct dvv n = { 0 }, e = { 0 }, a = { 0 }, m = { 0 };
    struct kv_slice v[3] = { S("b"), S("a"), S("b") };
    ck_assert_int_eq(dvv_new(v, 3, &n), KV_OK);
    ck_assert_str_eq(vals(&n), "a,b"); /* sorted, unique */
    upd(&e, &e, A, "x", &a);
    /* n has no history, so it is older than a: a's (no) anonymous values win. */
    ck_assert(dvv_less(&n, &a));
    ck_assert_int_eq(dvv_sync(&n, &a, LIM, &m), KV_OK);
    ck_assert_str_eq(vals(&m), "x");
    /* Two clocks with no history are equal: union. */
    struct dvv n2 = { 0 }, m2 = { 0 };
    struct kv_slice w = S("c");
    ck_assert_int_eq(dvv_new(&w, 1, &n2), KV_OK);
    ck_assert_int_eq(dvv_sync(&n, &n2, LIM, &m2), KV_OK);
    ck_assert_str_eq(vals(&m2), "a,b,c");
    dvv_free(&n), dvv_free(&a), dvv_free(&m), dvv_free(&n2), dvv_free(&m2);
}
END_TEST

START_TEST(value_dot_names_each_values_event)
{
    struct dvv e = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 }, s4 = { 0 };
    upd(&e, &e, B, "b1", &s1);
    upd(&e, &s1, A, "a1", &s2); /* blind of nothing: siblings */
    upd(&e, &s2, A, "a2", &s3);
    upd(&e, &s3, C, "c1", &s4);
    ck_assert_str_eq(vals(&s4), "a2,a1,b1,c1");
    uint64_t want[4][2] = { { A, 2 }, { A, 1 }, { B, 1 }, { C, 1 } };
    for (uint32_t i = 0; i < 4; i++) {
        uint64_t id, ctr;
        dvv_value_dot(&s4, i, &id, &ctr);
        ck_assert_uint_eq(id, want[i][0]);
        ck_assert_uint_eq(ctr, want[i][1]);
    }
    dvv_free(&s1), dvv_free(&s2), dvv_free(&s3), dvv_free(&s4);
}
END_TEST

/* ---- random histories against an explicit model ----
 * Replicas 1..R each coordinate writes with their own actor id (as the
 * DVVSet theory requires) and exchange state by sync. The model keeps
 * the set of live (dot, value) pairs explicitly and a version vector; a
 * DVVSet must always hold exactly the model's values. */

#define R 4
#define OPS 300
#define VMAX 64

struct model {
    uint64_t vv[R + 1];         /* per actor: covered counter */
    uint32_t n;
    uint64_t dot_id[VMAX], dot_ctr[VMAX];
    uint32_t val[VMAX];         /* value number */
};

static bool covered(const uint64_t *vv, uint64_t id, uint64_t ctr) { return ctr <= vv[id]; }

static void model_update(struct model *m, const uint64_t *ctx, uint64_t id, uint32_t v)
{
    struct model out = *m;
    out.n = 0;
    for (uint32_t i = 0; i < m->n; i++)
        if (!covered(ctx, m->dot_id[i], m->dot_ctr[i])) {
            out.dot_id[out.n] = m->dot_id[i], out.dot_ctr[out.n] = m->dot_ctr[i];
            out.val[out.n++] = m->val[i];
        }
    for (uint32_t k = 1; k <= R; k++)
        out.vv[k] = m->vv[k] > ctx[k] ? m->vv[k] : ctx[k];
    out.vv[id]++;
    ck_assert_uint_lt(out.n, VMAX);
    out.dot_id[out.n] = id, out.dot_ctr[out.n] = out.vv[id], out.val[out.n++] = v;
    *m = out;
}

static bool model_has(const struct model *m, uint64_t id, uint64_t ctr)
{
    for (uint32_t i = 0; i < m->n; i++)
        if (m->dot_id[i] == id && m->dot_ctr[i] == ctr)
            return true;
    return false;
}

static void model_sync(struct model *x, const struct model *y)
{
    struct model out = *x;
    out.n = 0;
    for (uint32_t i = 0; i < x->n; i++)
        if (!covered(y->vv, x->dot_id[i], x->dot_ctr[i]) || model_has(y, x->dot_id[i], x->dot_ctr[i])) {
            out.dot_id[out.n] = x->dot_id[i], out.dot_ctr[out.n] = x->dot_ctr[i];
            out.val[out.n++] = x->val[i];
        }
    for (uint32_t i = 0; i < y->n; i++)
        if (!covered(x->vv, y->dot_id[i], y->dot_ctr[i])) {
            ck_assert_uint_lt(out.n, VMAX);
            out.dot_id[out.n] = y->dot_id[i], out.dot_ctr[out.n] = y->dot_ctr[i];
            out.val[out.n++] = y->val[i];
        }
    for (uint32_t k = 1; k <= R; k++)
        out.vv[k] = x->vv[k] > y->vv[k] ? x->vv[k] : y->vv[k];
    *x = out;
}

static char names[OPS + 1][8]; /* value bytes must outlive the clocks */

static void assert_matches_model(const struct dvv *d, const struct model *m)
{
    ck_assert_uint_eq(dvv_size(d), m->n);
    for (uint32_t i = 0; i < d->nvalues; i++) {
        uint64_t id, ctr;
        dvv_value_dot(d, i, &id, &ctr);
        bool found = false;
        for (uint32_t k = 0; k < m->n; k++)
            if (m->dot_id[k] == id && m->dot_ctr[k] == ctr) {
                ck_assert(kv_slice_eq(d->values[i], S(names[m->val[k]])));
                found = true;
            }
        ck_assert_msg(found, "value at dot (%llu,%llu) is not live in the model",
                      (unsigned long long)id, (unsigned long long)ctr);
    }
    for (uint32_t i = 0; i < d->nentries; i++)
        ck_assert_uint_eq(d->entries[i].counter, m->vv[d->entries[i].id]);
}

static void ctx_vv(const struct dvv *ctx, uint64_t *vv)
{
    memset(vv, 0, (R + 1) * sizeof vv[0]);
    for (uint32_t i = 0; i < ctx->nentries; i++)
        vv[ctx->entries[i].id] = ctx->entries[i].counter;
}

/* Sync properties on three replicas' clocks. */
static void check_sync_laws(const struct dvv *x, const struct dvv *y, const struct dvv *z)
{
    struct dvv xy = { 0 }, yx = { 0 }, xy_z = { 0 }, yz = { 0 }, x_yz = { 0 }, xx = { 0 };
    ck_assert_int_eq(dvv_sync(x, y, LIM, &xy), KV_OK);
    ck_assert_int_eq(dvv_sync(y, x, LIM, &yx), KV_OK);
    assert_same(&xy, &yx);
    ck_assert_int_eq(dvv_sync(&xy, z, LIM, &xy_z), KV_OK);
    ck_assert_int_eq(dvv_sync(y, z, LIM, &yz), KV_OK);
    ck_assert_int_eq(dvv_sync(x, &yz, LIM, &x_yz), KV_OK);
    assert_same(&xy_z, &x_yz);
    ck_assert_int_eq(dvv_sync(x, x, LIM, &xx), KV_OK);
    assert_same(&xx, x);
    ck_assert(dvv_descends(&xy, x) && dvv_descends(&xy, y));
    dvv_free(&xy), dvv_free(&yx), dvv_free(&xy_z), dvv_free(&yz), dvv_free(&x_yz), dvv_free(&xx);
}

static void check_round_trip(const struct dvv *d)
{
    struct kv_buf b = { 0 };
    struct dvv back = { 0 };
    enc(d, &b);
    ck_assert_int_eq(dvv_decode(kv_slice_make(b.data, b.len), &back), KV_OK);
    assert_same(d, &back);
    kv_buf_reset(&b);
    ck_assert_int_eq(dvv_context_encode(d, &b), KV_OK);
    ck_assert_int_eq(dvv_context_decode(kv_slice_make(b.data, b.len), &back), KV_OK);
    ck_assert(dvv_equal(&back, &back) && dvv_descends(&back, d) && dvv_descends(d, &back));
    kv_buf_free(&b);
    dvv_free(&back);
}

START_TEST(random_histories_match_the_model_and_sync_laws)
{
    uint32_t most_siblings = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        struct kv_rand rnd;
        kv_rand_seed(&rnd, seed);
        struct dvv rep[R + 1], ctxs[8], tmp = { 0 };
        struct model mod[R + 1];
        memset(rep, 0, sizeof rep), memset(ctxs, 0, sizeof ctxs), memset(mod, 0, sizeof mod);
        uint32_t v = 0;
        for (int op = 0; op < OPS; op++) {
            uint32_t r = 1 + (uint32_t)kv_rand_below(&rnd, R), q = 1 + (uint32_t)kv_rand_below(&rnd, R);
            uint32_t k = (uint32_t)kv_rand_below(&rnd, 8);
            uint64_t cv[R + 1];
            switch (kv_rand_below(&rnd, 4)) {
            case 0: /* a client reads replica r and keeps the context */
                join(&rep[r], &ctxs[k]);
                break;
            case 1: /* a client writes through r with an old context */
            case 2:
                snprintf(names[v], sizeof names[v], "v%u", v);
                ctx_vv(&ctxs[k], cv);
                upd(&ctxs[k], &rep[r], r, names[v], &tmp);
                model_update(&mod[r], cv, r, v);
                v++;
                ck_assert_int_eq(dvv_copy(&tmp, &rep[r]), KV_OK);
                break;
            default: /* anti-entropy from q to r */
                ck_assert_int_eq(dvv_sync(&rep[r], &rep[q], LIM, &tmp), KV_OK);
                model_sync(&mod[r], &mod[q]);
                ck_assert_int_eq(dvv_copy(&tmp, &rep[r]), KV_OK);
                break;
            }
            assert_matches_model(&rep[r], &mod[r]);
            most_siblings = dvv_size(&rep[r]) > most_siblings ? dvv_size(&rep[r]) : most_siblings;
            if (op % 10 == 0) {
                check_sync_laws(&rep[1], &rep[2], &rep[3]);
                check_round_trip(&rep[r]);
            }
        }
        for (int i = 0; i <= R; i++)
            dvv_free(&rep[i]);
        for (int i = 0; i < 8; i++)
            dvv_free(&ctxs[i]);
        dvv_free(&tmp);
    }
    ck_assert_uint_ge(most_siblings, 4); /* the histories did make siblings */
}
END_TEST

/* ---- encoding ---- */

static void sample(struct dvv *out, struct dvv *scratch)
{
    struct dvv e = { 0 }, j = { 0 };
    upd(&e, &e, A, "x", scratch);
    upd(&e, scratch, A, "yz", out);
    upd(&e, out, B, "", scratch);
    join(scratch, &j);
    upd(&j, scratch, C, "w", out);
    upd(&e, out, B, "q", scratch);
    dvv_free(&j);
    ck_assert_int_eq(dvv_copy(scratch, out), KV_OK);
}

START_TEST(encoding_matches_the_documented_example)
{
    struct dvv e = { 0 }, s1 = { 0 }, s2 = { 0 };
    upd(&e, &e, A, "x", &s1);
    upd(&e, &s1, A, "yz", &s2);
    struct kv_buf b = { 0 };
    enc(&s2, &b);
    const char want[] = "\x01\x0a\0\0\0\0\0\0\0\x02\x02\x02yz\x01x\x00";
    ck_assert_uint_eq(b.len, sizeof want - 1);
    ck_assert_mem_eq(b.data, want, b.len);
    kv_buf_reset(&b);
    ck_assert_int_eq(dvv_context_encode(&e, &b), KV_OK);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_mem_eq(b.data, "\x01\x00", 2);
    kv_buf_free(&b), dvv_free(&s1), dvv_free(&s2);
}
END_TEST

START_TEST(every_truncation_is_corrupt)
{
    struct dvv d = { 0 }, s = { 0 }, back = { 0 };
    sample(&d, &s);
    struct kv_buf b = { 0 };
    enc(&d, &b);
    for (size_t n = 0; n < b.len; n++) {
        char *copy = malloc(n ? n : 1); /* exact size so ASan sees any overread */
        memcpy(copy, b.data, n);
        ck_assert_int_eq(dvv_decode(kv_slice_make(copy, n), &back), KV_ECORRUPT);
        free(copy);
    }
    kv_buf_reset(&b);
    ck_assert_int_eq(dvv_context_encode(&d, &b), KV_OK);
    for (size_t n = 0; n < b.len; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        ck_assert_int_eq(dvv_context_decode(kv_slice_make(copy, n), &back), KV_ECORRUPT);
        free(copy);
    }
    kv_buf_free(&b), dvv_free(&d), dvv_free(&s), dvv_free(&back);
}
END_TEST

START_TEST(random_corruption_is_rejected_or_canonical)
{
    struct dvv d = { 0 }, s = { 0 }, back = { 0 };
    sample(&d, &s);
    struct kv_buf b = { 0 }, again = { 0 };
    enc(&d, &b);
    struct kv_rand rnd;
    kv_rand_seed(&rnd, 99);
    uint32_t corrupt = 0;
    for (int t = 0; t < 20000; t++) {
        char *copy = malloc(b.len);
        memcpy(copy, b.data, b.len);
        int flips = 1 + (int)kv_rand_below(&rnd, 3);
        for (int f = 0; f < flips; f++)
            copy[kv_rand_below(&rnd, b.len)] ^= (char)(1 + kv_rand_below(&rnd, 255));
        int rc = dvv_decode(kv_slice_make(copy, b.len), &back);
        ck_assert(rc == KV_OK || rc == KV_ECORRUPT);
        if (rc == KV_OK) {
            /* Only value bytes can change undetected: what decodes is canonical. */
            enc(&back, &again);
            ck_assert_uint_eq(again.len, b.len);
            ck_assert_mem_eq(again.data, copy, b.len);
        } else {
            corrupt++;
        }
        free(copy);
    }
    ck_assert_uint_gt(corrupt, 10000);
    kv_buf_free(&b), kv_buf_free(&again), dvv_free(&d), dvv_free(&s), dvv_free(&back);
}
END_TEST

static int decode_bytes(const char *p, size_t n)
{
    struct dvv d = { 0 };
    int rc = dvv_decode(kv_slice_make(p, n), &d);
    dvv_free(&d);
    return rc;
}

START_TEST(non_canonical_encodings_are_corrupt)
{
    /* one entry id 1, counter 1, one value "a", no anon: valid */
    ck_assert_int_eq(decode_bytes("\x01\x01\0\0\0\0\0\0\0\x01\x01\x01" "a\x00", 14), KV_OK);
    /* counter 0 */
    ck_assert_int_eq(decode_bytes("\x01\x01\0\0\0\0\0\0\0\x00\x00\x00", 12), KV_ECORRUPT);
    /* more values than the counter */
    ck_assert_int_eq(decode_bytes("\x01\x01\0\0\0\0\0\0\0\x01\x02\x01" "a\x01" "b\x00", 16), KV_ECORRUPT);
    /* ids not increasing */
    ck_assert_int_eq(decode_bytes("\x02\x02\0\0\0\0\0\0\0\x01\x00\x01\0\0\0\0\0\0\0\x01\x00\x00", 22), KV_ECORRUPT);
    ck_assert_int_eq(decode_bytes("\x02\x01\0\0\0\0\0\0\0\x01\x00\x01\0\0\0\0\0\0\0\x01\x00\x00", 22), KV_ECORRUPT);
    /* anonymous values unsorted or duplicated */
    ck_assert_int_eq(decode_bytes("\x00\x02\x01" "b\x01" "a", 6), KV_ECORRUPT);
    ck_assert_int_eq(decode_bytes("\x00\x02\x01" "a\x01" "a", 6), KV_ECORRUPT);
    ck_assert_int_eq(decode_bytes("\x00\x02\x01" "a\x01" "b", 6), KV_OK);
    /* trailing byte; overlong varint; value length past the end */
    ck_assert_int_eq(decode_bytes("\x00\x00\x00", 3), KV_ECORRUPT);
    ck_assert_int_eq(decode_bytes("\x80\x00\x00", 3), KV_ECORRUPT); /* overlong zero */
    ck_assert_int_eq(decode_bytes("\x00\x01\x05" "ab", 5), KV_ECORRUPT);
    /* a 10-byte varint whose last byte has bits past 64 (found by fuzz_object) */
    ck_assert_int_eq(decode_bytes("\x01\x01\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\x15\x00\x00", 21),
                     KV_ECORRUPT);
    ck_assert_int_eq(decode_bytes("\x01\x01\0\0\0\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00", 21),
                     KV_OK);
    /* too many entries */
    char big[8];
    char *e = kv_put_varint32(big, DVV_ENTRIES_MAX + 1);
    ck_assert_int_eq(decode_bytes(big, (size_t)(e - big)), KV_ECORRUPT);
    /* contexts: wrong format byte, counter 0 */
    struct dvv d = { 0 };
    ck_assert_int_eq(dvv_context_decode(kv_slice_make("\x02\x00", 2), &d), KV_ECORRUPT);
    ck_assert_int_eq(dvv_context_decode(kv_slice_make("\x01\x01\0\0\0\0\0\0\0\0\x00", 11), &d), KV_ECORRUPT);
    ck_assert_int_eq(dvv_context_decode(kv_slice_make("\x01\x00", 2), &d), KV_OK);
    dvv_free(&d);
}
END_TEST

START_TEST(sibling_limit_is_reported_not_trimmed)
{
    struct dvv e = { 0 }, cur = { 0 }, next = { 0 };
    struct kv_slice v = S("v");
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(dvv_update(&e, &cur, A, &v, 1, 5, &next), KV_OK);
        ck_assert_int_eq(dvv_copy(&next, &cur), KV_OK);
    }
    ck_assert_uint_eq(dvv_size(&cur), 5);
    ck_assert_int_eq(dvv_update(&e, &cur, A, &v, 1, 5, &next), KV_ETOOBIG);
    ck_assert_uint_eq(dvv_size(&cur), 5); /* input untouched */
    /* A context covering them resolves to one value within the limit. */
    struct dvv j = { 0 };
    join(&cur, &j);
    ck_assert_int_eq(dvv_update(&j, &cur, A, &v, 1, 5, &next), KV_OK);
    ck_assert_uint_eq(dvv_size(&next), 1);
    /* sync over the limit: 5 from A and 1 from B. */
    struct dvv other = { 0 }, m = { 0 };
    ck_assert_int_eq(dvv_update(&e, &e, B, &v, 1, 5, &other), KV_OK);
    ck_assert_int_eq(dvv_sync(&cur, &other, 5, &m), KV_ETOOBIG);
    ck_assert_int_eq(dvv_sync(&cur, &other, 6, &m), KV_OK);
    dvv_free(&cur), dvv_free(&next), dvv_free(&j), dvv_free(&other), dvv_free(&m);
}
END_TEST

START_TEST(multi_value_update_keeps_all_new_values_as_siblings)
{
    struct dvv e = { 0 }, s1 = { 0 }, j = { 0 }, s2 = { 0 };
    upd(&e, &e, A, "old", &s1);
    join(&s1, &j);
    struct kv_slice v[3] = { S("p"), S("q"), S("r") };
    ck_assert_int_eq(dvv_update(&j, &s1, B, v, 3, LIM, &s2), KV_OK);
    ck_assert_str_eq(vals(&s2), "p,q,r");
    ck_assert_uint_eq(s2.entries[1].counter, 3);
    dvv_free(&s1), dvv_free(&j), dvv_free(&s2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dvv");
    TCase *tc = tcase_create("dvv");
    tcase_add_test(tc, concurrent_updates_make_siblings);
    tcase_add_test(tc, update_with_context_supersedes_exactly_the_seen_values);
    tcase_add_test(tc, update_and_sync_match_riak_examples);
    tcase_add_test(tc, causal_order_matches_riak_examples);
    tcase_add_test(tc, anonymous_values_follow_the_newer_side);
    tcase_add_test(tc, value_dot_names_each_values_event);
    tcase_add_test(tc, random_histories_match_the_model_and_sync_laws);
    tcase_add_test(tc, encoding_matches_the_documented_example);
    tcase_add_test(tc, every_truncation_is_corrupt);
    tcase_add_test(tc, random_corruption_is_rejected_or_canonical);
    tcase_add_test(tc, non_canonical_encodings_are_corrupt);
    tcase_add_test(tc, sibling_limit_is_reported_not_trimmed);
    tcase_add_test(tc, multi_value_update_keeps_all_new_values_as_siblings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
