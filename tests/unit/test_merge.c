/* test_merge.c - the merging iterator: order in both directions, seeks,
 * direction switches against a brute-force model, and error reporting. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "storage/ikey.h"
#include "storage/merge.h"

/* A child iterator over a sorted array of internal keys (value = key). */
struct vec_iter {
    struct iter base;
    char (*keys)[16];   /* each: 8-byte user key + 8-byte trailer */
    size_t n;
    size_t pos;         /* n: invalid */
    int status;
};

static bool vec_valid(struct iter *it) { return ((struct vec_iter *)it)->pos < ((struct vec_iter *)it)->n; }
static void vec_seek_first(struct iter *it) { ((struct vec_iter *)it)->pos = 0; }
static void vec_seek_last(struct iter *it)
{
    struct vec_iter *v = (struct vec_iter *)it;
    v->pos = v->n ? v->n - 1 : 0;
}
static struct kv_slice vec_key(struct iter *it)
{
    struct vec_iter *v = (struct vec_iter *)it;
    return kv_slice_make(v->keys[v->pos], 16);
}
static void vec_seek(struct iter *it, struct kv_slice t)
{
    struct vec_iter *v = (struct vec_iter *)it;
    v->pos = 0;
    while (v->pos < v->n && ikey_compare(kv_slice_make(v->keys[v->pos], 16), t) < 0)
        v->pos++;
}
static void vec_next(struct iter *it) { ((struct vec_iter *)it)->pos++; }
static void vec_prev(struct iter *it)
{
    struct vec_iter *v = (struct vec_iter *)it;
    v->pos = v->pos == 0 ? v->n : v->pos - 1;
}
static int vec_status(struct iter *it) { return ((struct vec_iter *)it)->status; }
static void vec_destroy(struct iter *it)
{
    free(((struct vec_iter *)it)->keys);
    free(it);
}

static const struct iter_ops vec_ops = {
    vec_valid, vec_seek_first, vec_seek_last, vec_seek, vec_next, vec_prev, vec_key, vec_key, vec_status, vec_destroy,
};

static void make_key(char *dst, unsigned user, uint64_t seq)
{
    char u[9];
    snprintf(u, sizeof u, "%08u", user);
    ikey_encode(dst, u, 8, seq, IKEY_TYPE_VALUE);
}

static int cmp_keys(const void *a, const void *b)
{
    return ikey_compare(kv_slice_make(a, 16), kv_slice_make(b, 16));
}

static struct iter *vec_new(const unsigned *users, const uint64_t *seqs, size_t n)
{
    struct vec_iter *v = calloc(1, sizeof *v);
    v->base.ops = &vec_ops;
    v->keys = calloc(n ? n : 1, 16);
    v->n = n;
    v->pos = n;
    for (size_t i = 0; i < n; i++)
        make_key(v->keys[i], users[i], seqs[i]);
    qsort(v->keys, n, 16, cmp_keys);
    return &v->base;
}

START_TEST(merges_children_in_order_both_ways)
{
    unsigned a[] = { 1, 4, 7 }, b[] = { 2, 4, 9 }, c[] = { 3 };
    uint64_t sa[] = { 1, 5, 1 }, sb[] = { 1, 3, 1 }, sc[] = { 1 };
    struct iter *ch[4] = { vec_new(a, sa, 3), vec_new(b, sb, 3), vec_new(NULL, NULL, 0), vec_new(c, sc, 1) };
    struct iter *m;
    ck_assert_int_eq(merge_iter_new(ch, 4, &m), KV_OK);
    /* (4, seq 5) sorts before (4, seq 3): newer first. */
    const char *want[] = { "00000001", "00000002", "00000003", "00000004", "00000004", "00000007", "00000009" };
    uint64_t want_seq[] = { 1, 1, 1, 5, 3, 1, 1 };
    size_t i = 0;
    for (iter_seek_first(m); iter_valid(m); iter_next(m), i++) {
        ck_assert(kv_slice_eq(ikey_user(iter_key(m)), kv_slice_str(want[i])));
        ck_assert_uint_eq(ikey_seq(iter_key(m)), want_seq[i]);
    }
    ck_assert_uint_eq(i, 7);
    for (iter_seek_last(m); iter_valid(m); iter_prev(m)) {
        i--;
        ck_assert(kv_slice_eq(ikey_user(iter_key(m)), kv_slice_str(want[i])));
        ck_assert_uint_eq(ikey_seq(iter_key(m)), want_seq[i]);
    }
    ck_assert_uint_eq(i, 0);
    char t[16];
    make_key(t, 4, 4); /* between the two versions of 4 */
    iter_seek(m, kv_slice_make(t, 16));
    ck_assert(iter_valid(m) && ikey_seq(iter_key(m)) == 3);
    make_key(t, 10, 1);
    iter_seek(m, kv_slice_make(t, 16));
    ck_assert(!iter_valid(m));
    ck_assert_int_eq(iter_status(m), KV_OK);
    iter_destroy(m);
}
END_TEST

START_TEST(no_children_is_always_invalid)
{
    struct iter *m;
    ck_assert_int_eq(merge_iter_new(NULL, 0, &m), KV_OK);
    iter_seek_first(m);
    ck_assert(!iter_valid(m));
    iter_seek_last(m);
    ck_assert(!iter_valid(m));
    iter_next(m);
    ck_assert(!iter_valid(m));
    iter_destroy(m);
}
END_TEST

/* Random moves (next, prev, seek, seek_first, seek_last) against a sorted
 * array of all children's keys: every position must agree. */
START_TEST(random_moves_match_a_sorted_model)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct kv_rand r;
        kv_rand_seed(&r, seed);
        size_t nch = 1 + kv_rand_below(&r, 5), total = 0;
        struct iter *ch[5];
        char (*all)[16] = calloc(5 * 40, 16);
        for (size_t c = 0; c < nch; c++) {
            unsigned users[40];
            uint64_t seqs[40];
            size_t n = kv_rand_below(&r, 40);
            for (size_t i = 0; i < n; i++) {
                users[i] = (unsigned)kv_rand_below(&r, 60);
                seqs[i] = total + 1; /* unique seqs: no equal keys across children */
                make_key(all[total++], users[i], seqs[i]);
            }
            ch[c] = vec_new(users, seqs, n);
        }
        qsort(all, total, 16, cmp_keys);
        struct iter *m;
        ck_assert_int_eq(merge_iter_new(ch, nch, &m), KV_OK);
        size_t pos = total; /* model position; total = invalid */
        for (int step = 0; step < 300; step++) {
            unsigned op = (unsigned)kv_rand_below(&r, 5);
            if (op == 0) {
                iter_seek_first(m);
                pos = 0;
            } else if (op == 1) {
                iter_seek_last(m);
                pos = total ? total - 1 : total;
            } else if (op == 2) {
                char t[16];
                make_key(t, (unsigned)kv_rand_below(&r, 62), kv_rand_below(&r, total + 2));
                iter_seek(m, kv_slice_make(t, 16));
                for (pos = 0; pos < total && cmp_keys(all[pos], t) < 0; pos++)
                    ;
            } else if (pos < total && op == 3) {
                iter_next(m);
                pos++;
            } else if (pos < total) {
                iter_prev(m);
                pos = pos == 0 ? total : pos - 1;
            }
            ck_assert_msg(iter_valid(m) == (pos < total), "seed %llu step %d", (unsigned long long)seed, step);
            if (pos < total)
                ck_assert_msg(memcmp(iter_key(m).data, all[pos], 16) == 0, "seed %llu step %d",
                              (unsigned long long)seed, step);
        }
        iter_destroy(m);
        free(all);
    }
}
END_TEST

START_TEST(child_error_is_the_merge_status)
{
    unsigned a[] = { 1 };
    uint64_t s[] = { 1 };
    struct iter *ch[2] = { vec_new(a, s, 1), vec_new(NULL, NULL, 0) };
    ((struct vec_iter *)ch[1])->status = KV_ECORRUPT;
    struct iter *m;
    ck_assert_int_eq(merge_iter_new(ch, 2, &m), KV_OK);
    iter_seek_first(m);
    ck_assert(iter_valid(m));
    ck_assert_int_eq(iter_status(m), KV_ECORRUPT);
    iter_destroy(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("merge");
    TCase *tc = tcase_create("merge");
    tcase_add_test(tc, merges_children_in_order_both_ways);
    tcase_add_test(tc, no_children_is_always_invalid);
    tcase_add_test(tc, random_moves_match_a_sorted_model);
    tcase_add_test(tc, child_error_is_the_merge_status);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
