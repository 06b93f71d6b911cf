/* test_memtable.c - the skiplist memtable and its arena. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "storage/arena.h"
#include "storage/memtable.h"

#define OK(expr) ck_assert_int_eq((expr), KV_OK)

static void add(struct memtable *m, uint64_t seq, enum ikey_type t, const char *k, const char *v)
{
    OK(memtable_add(m, seq, t, kv_slice_str(k), kv_slice_str(v)));
}

/* Looks up k at snapshot seq; returns the value (static buffer) or NULL, and the type. */
static const char *get(struct memtable *m, const char *k, uint64_t snap, enum ikey_type *type)
{
    static struct kv_buf val;
    char lk[64];
    size_t n = ikey_encode(lk, k, strlen(k), snap, IKEY_TYPE_SEEK);
    bool found = false;
    uint64_t trailer = 0;
    OK(memtable_get(m, kv_slice_make(lk, n), &found, &trailer, &val));
    if (!found)
        return NULL;
    ck_assert_uint_le(trailer >> 8, snap);
    *type = (enum ikey_type)(trailer & 0xff);
    return val.data ? val.data : "";
}

START_TEST(arena_aligns_and_counts_bytes)
{
    struct arena a;
    arena_init(&a);
    ck_assert_uint_eq(arena_bytes(&a), 0);
    for (int i = 1; i < 2000; i++) {
        char *p = arena_alloc(&a, (size_t)(i % 13) + 1);
        ck_assert_ptr_nonnull(p);
        memset(p, 0xab, (size_t)(i % 13) + 1);
        void *q = arena_alloc_aligned(&a, (size_t)(i % 50) + 1);
        ck_assert_uint_eq((uintptr_t)q % ARENA_ALIGN_BYTES, 0);
        memset(q, 0xcd, (size_t)(i % 50) + 1);
    }
    char *big = arena_alloc(&a, 100000); /* its own block */
    memset(big, 1, 100000);
    ck_assert_uint_ge(arena_bytes(&a), 100000 + 2000 * 20);
    arena_destroy(&a);
    ck_assert_uint_eq(arena_bytes(&a), 0);
}
END_TEST

START_TEST(iteration_follows_ikey_order)
{
    struct memtable *m;
    OK(memtable_new(&m));
    add(m, 3, IKEY_TYPE_VALUE, "b", "b3");
    add(m, 1, IKEY_TYPE_VALUE, "a", "a1");
    add(m, 7, IKEY_TYPE_VALUE, "b", "b7");
    add(m, 5, IKEY_TYPE_DELETE, "b", "");
    add(m, 2, IKEY_TYPE_VALUE, "ab", "ab2");
    add(m, 4, IKEY_TYPE_VALUE, "", "empty-key");
    const char *want[][2] = { { "", "empty-key" }, { "a", "a1" }, { "ab", "ab2" },
                              { "b", "b7" },       { "b", "" },   { "b", "b3" } };
    uint64_t want_seq[] = { 4, 1, 2, 7, 5, 3 };
    struct iter *it;
    OK(memtable_iter_new(m, &it));
    size_t i = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), i++) {
        struct kv_slice k = iter_key(it);
        ck_assert(kv_slice_eq(ikey_user(k), kv_slice_str(want[i][0])));
        ck_assert_uint_eq(ikey_seq(k), want_seq[i]);
        ck_assert(kv_slice_eq(iter_value(it), kv_slice_str(want[i][1])));
    }
    ck_assert_uint_eq(i, 6);
    ck_assert_int_eq(iter_status(it), KV_OK);
    iter_destroy(it);
    ck_assert_uint_eq(memtable_entries(m), 6);
    memtable_unref(m);
}
END_TEST

START_TEST(get_returns_newest_visible_at_snapshot)
{
    struct memtable *m;
    OK(memtable_new(&m));
    add(m, 5, IKEY_TYPE_VALUE, "k", "v5");
    add(m, 10, IKEY_TYPE_VALUE, "k", "v10");
    add(m, 15, IKEY_TYPE_DELETE, "k", "");
    add(m, 12, IKEY_TYPE_VALUE, "kk", "other");
    add(m, 11, IKEY_TYPE_VALUE, "j", "before");
    enum ikey_type t;
    ck_assert_ptr_null(get(m, "k", 4, &t));
    ck_assert_str_eq(get(m, "k", 5, &t), "v5");
    ck_assert_int_eq(t, IKEY_TYPE_VALUE);
    ck_assert_str_eq(get(m, "k", 9, &t), "v5");
    ck_assert_str_eq(get(m, "k", 14, &t), "v10");
    ck_assert_str_eq(get(m, "k", 15, &t), "");
    ck_assert_int_eq(t, IKEY_TYPE_DELETE); /* a delete is found: it hides older values */
    ck_assert_str_eq(get(m, "k", KV_SEQ_MAX, &t), "");
    ck_assert_ptr_null(get(m, "a", KV_SEQ_MAX, &t));
    ck_assert_ptr_null(get(m, "k\x01", KV_SEQ_MAX, &t));
    ck_assert_ptr_null(get(m, "zz", KV_SEQ_MAX, &t));
    ck_assert_str_eq(get(m, "kk", 12, &t), "other");
    ck_assert_ptr_null(get(m, "kk", 11, &t));
    /* A lookup without a value buffer only reports presence. */
    char lk[16];
    size_t n = ikey_encode(lk, "j", 1, 20, IKEY_TYPE_SEEK);
    bool found;
    uint64_t tr;
    OK(memtable_get(m, kv_slice_make(lk, n), &found, &tr, NULL));
    ck_assert(found);
    ck_assert_uint_eq(tr, ikey_pack(11, IKEY_TYPE_VALUE));
    memtable_unref(m);
}
END_TEST

START_TEST(add_rejects_bad_sequence_numbers)
{
    struct memtable *m;
    OK(memtable_new(&m));
    ck_assert_int_eq(memtable_add(m, KV_SEQ_MAX + 1, IKEY_TYPE_VALUE, kv_slice_str("k"), kv_slice_str("v")),
                     KV_EINVAL);
    ck_assert_uint_eq(memtable_entries(m), 0);
    memtable_unref(m);
}
END_TEST

START_TEST(iterator_moves_both_ways_and_seeks)
{
    struct memtable *m;
    OK(memtable_new(&m));
    char k[16];
    for (int i = 0; i < 100; i += 2) { /* even keys k000 .. k098 */
        snprintf(k, sizeof k, "k%03d", i);
        add(m, (uint64_t)i + 1, IKEY_TYPE_VALUE, k, k);
    }
    struct iter *it;
    OK(memtable_iter_new(m, &it));
    iter_seek_last(it);
    int i = 98;
    for (; iter_valid(it); iter_prev(it), i -= 2) {
        snprintf(k, sizeof k, "k%03d", i);
        ck_assert(kv_slice_eq(ikey_user(iter_key(it)), kv_slice_str(k)));
    }
    ck_assert_int_eq(i, -2);

    char t[32];
    size_t n = ikey_encode(t, "k051", 4, KV_SEQ_MAX, IKEY_TYPE_SEEK);
    iter_seek(it, kv_slice_make(t, n)); /* between keys: lands on the next one */
    ck_assert(kv_slice_eq(ikey_user(iter_key(it)), kv_slice_str("k052")));
    iter_prev(it);
    ck_assert(kv_slice_eq(ikey_user(iter_key(it)), kv_slice_str("k050")));
    iter_next(it);
    iter_next(it);
    ck_assert(kv_slice_eq(ikey_user(iter_key(it)), kv_slice_str("k054")));
    n = ikey_encode(t, "k050", 4, 0, IKEY_TYPE_DELETE); /* older than k050's seq 51 */
    iter_seek(it, kv_slice_make(t, n));
    ck_assert(kv_slice_eq(ikey_user(iter_key(it)), kv_slice_str("k052")));
    n = ikey_encode(t, "z", 1, KV_SEQ_MAX, IKEY_TYPE_SEEK);
    iter_seek(it, kv_slice_make(t, n));
    ck_assert(!iter_valid(it));
    iter_seek_first(it);
    iter_prev(it);
    ck_assert(!iter_valid(it));
    iter_destroy(it);

    struct memtable *empty;
    OK(memtable_new(&empty));
    OK(memtable_iter_new(empty, &it));
    iter_seek_first(it);
    ck_assert(!iter_valid(it));
    iter_seek_last(it);
    ck_assert(!iter_valid(it));
    iter_destroy(it);
    memtable_unref(empty);
    memtable_unref(m);
}
END_TEST

struct ref_entry {
    char ikey[40];
    size_t ilen;
    char val[16];
    size_t vlen;
};

static int ref_cmp(const void *a, const void *b)
{
    const struct ref_entry *x = a, *y = b;
    return ikey_compare(kv_slice_make(x->ikey, x->ilen), kv_slice_make(y->ikey, y->ilen));
}

START_TEST(random_inserts_match_a_sorted_reference)
{
    enum { N = 100000 };
    struct ref_entry *ref = malloc(N * sizeof *ref);
    struct memtable *m;
    OK(memtable_new(&m));
    struct kv_rand rnd;
    kv_rand_seed(&rnd, 1234);
    for (size_t i = 0; i < N; i++) {
        char uk[32];
        size_t ulen = (size_t)kv_rand_below(&rnd, 24); /* short keys repeat: many versions per key */
        for (size_t j = 0; j < ulen; j++)
            uk[j] = (char)kv_rand_below(&rnd, ulen < 3 ? 4 : 256);
        enum ikey_type t = kv_rand_below(&rnd, 5) == 0 ? IKEY_TYPE_DELETE : IKEY_TYPE_VALUE;
        struct ref_entry *e = &ref[i];
        e->ilen = ikey_encode(e->ikey, uk, ulen, i + 1, t);
        e->vlen = t == IKEY_TYPE_DELETE ? 0 : (size_t)snprintf(e->val, sizeof e->val, "v%zu", i);
        OK(memtable_add(m, i + 1, t, kv_slice_make(uk, ulen), kv_slice_make(e->val, e->vlen)));
    }
    qsort(ref, N, sizeof *ref, ref_cmp);
    struct iter *it;
    OK(memtable_iter_new(m, &it));
    size_t i = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), i++) {
        ck_assert(kv_slice_eq(iter_key(it), kv_slice_make(ref[i].ikey, ref[i].ilen)));
        ck_assert(kv_slice_eq(iter_value(it), kv_slice_make(ref[i].val, ref[i].vlen)));
    }
    ck_assert_uint_eq(i, N);
    /* Backwards over a stretch, and point lookups of the newest version. */
    iter_seek_last(it);
    for (i = N; i-- > N - 1000; iter_prev(it))
        ck_assert(kv_slice_eq(iter_key(it), kv_slice_make(ref[i].ikey, ref[i].ilen)));
    iter_destroy(it);
    struct kv_buf v = { 0 };
    for (i = 0; i < N; i += 97) {
        if (i > 0 && kv_slice_eq(ikey_user(kv_slice_make(ref[i].ikey, ref[i].ilen)),
                                 ikey_user(kv_slice_make(ref[i - 1].ikey, ref[i - 1].ilen))))
            continue; /* not the newest version of its key */
        char lk[40];
        struct kv_slice u = ikey_user(kv_slice_make(ref[i].ikey, ref[i].ilen));
        size_t n = ikey_encode(lk, u.data, u.len, KV_SEQ_MAX, IKEY_TYPE_SEEK);
        bool found;
        uint64_t tr;
        OK(memtable_get(m, kv_slice_make(lk, n), &found, &tr, &v));
        ck_assert(found);
        ck_assert_uint_eq(tr, ikey_trailer(kv_slice_make(ref[i].ikey, ref[i].ilen)));
        ck_assert(kv_slice_eq(kv_slice_make(v.data, v.len), kv_slice_make(ref[i].val, ref[i].vlen)));
    }
    kv_buf_free(&v);
    ck_assert_uint_eq(memtable_entries(m), N);
    ck_assert_uint_gt(memtable_bytes(m), N * 20);
    memtable_unref(m);
    free(ref);
}
END_TEST

START_TEST(range_tombstones_are_kept_apart)
{
    struct memtable *m;
    OK(memtable_new(&m));
    add(m, 1, IKEY_TYPE_VALUE, "b", "x");
    struct table_range_tombstone *ts;
    size_t n;
    OK(memtable_range_tombstones(m, &ts, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(ts);
    add(m, 2, IKEY_TYPE_RANGE_DELETE, "a", "c");
    add(m, 3, IKEY_TYPE_RANGE_DELETE, "x", "z");
    ck_assert_uint_eq(memtable_range_tombstone_count(m), 2);
    OK(memtable_range_tombstones(m, &ts, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert(kv_slice_eq(ts[0].begin, kv_slice_str("a")) && kv_slice_eq(ts[0].end, kv_slice_str("c")));
    ck_assert_uint_eq(ts[0].seq, 2);
    ck_assert(kv_slice_eq(ts[1].begin, kv_slice_str("x")) && kv_slice_eq(ts[1].end, kv_slice_str("z")));
    free(ts);
    /* Point lookups and iteration do not see them. */
    enum ikey_type t;
    ck_assert_str_eq(get(m, "b", 10, &t), "x");
    struct iter *it;
    OK(memtable_iter_new(m, &it));
    iter_seek_first(it);
    ck_assert(iter_valid(it));
    iter_next(it);
    ck_assert(!iter_valid(it));
    iter_destroy(it);
    memtable_unref(m);
}
END_TEST

START_TEST(iterator_keeps_memtable_alive)
{
    struct memtable *m;
    OK(memtable_new(&m));
    add(m, 1, IKEY_TYPE_VALUE, "k", "v");
    struct iter *it;
    OK(memtable_iter_new(m, &it));
    memtable_unref(m); /* the owner lets go; the iterator still reads (ASan checks) */
    iter_seek_first(it);
    ck_assert(kv_slice_eq(iter_value(it), kv_slice_str("v")));
    iter_destroy(it);
}
END_TEST

/* ---- one writer, several lock-free readers ---- */

enum { CONC_KEYS = 60000, CONC_READERS = 3 };

struct conc {
    struct memtable *m;
    uint32_t order[CONC_KEYS]; /* insertion order: a permutation of key numbers */
    atomic_size_t published;   /* order[0..published) are in the memtable */
    atomic_bool done;
    atomic_int errors;
};

static size_t conc_key(char *buf, uint32_t k) { return (size_t)snprintf(buf, 16, "key%08u", k); }

static void *conc_reader(void *arg)
{
    struct conc *c = arg;
    struct kv_rand rnd;
    kv_rand_seed(&rnd, (uint64_t)pthread_self());
    struct kv_buf v = { 0 };
    while (!atomic_load(&c->done)) {
        /* A scan sees keys in order, each with its own value. */
        struct iter *it;
        if (memtable_iter_new(c->m, &it) != KV_OK) {
            atomic_fetch_add(&c->errors, 1);
            break;
        }
        struct kv_slice prev = { 0 };
        char prevbuf[32];
        for (iter_seek_first(it); iter_valid(it); iter_next(it)) {
            struct kv_slice k = iter_key(it), u = ikey_user(k);
            if ((prev.data && kv_slice_cmp(prev, u) >= 0) || !kv_slice_eq(u, iter_value(it)))
                atomic_fetch_add(&c->errors, 1);
            memcpy(prevbuf, u.data, u.len);
            prev = kv_slice_make(prevbuf, u.len);
        }
        iter_destroy(it);
        /* Every published key is found. */
        size_t pub = atomic_load(&c->published);
        for (int i = 0; pub && i < 200; i++) {
            char uk[16], lk[32];
            size_t ul = conc_key(uk, c->order[kv_rand_below(&rnd, pub)]);
            size_t n = ikey_encode(lk, uk, ul, KV_SEQ_MAX, IKEY_TYPE_SEEK);
            bool found = false;
            uint64_t tr;
            if (memtable_get(c->m, kv_slice_make(lk, n), &found, &tr, &v) != KV_OK || !found ||
                !kv_slice_eq(kv_slice_make(v.data, v.len), kv_slice_make(uk, ul)))
                atomic_fetch_add(&c->errors, 1);
        }
    }
    kv_buf_free(&v);
    return NULL;
}

START_TEST(concurrent_readers_see_a_consistent_list)
{
    struct conc *c = calloc(1, sizeof *c);
    OK(memtable_new(&c->m));
    for (uint32_t i = 0; i < CONC_KEYS; i++)
        c->order[i] = i;
    struct kv_rand rnd;
    kv_rand_seed(&rnd, 77);
    for (uint32_t i = CONC_KEYS - 1; i > 0; i--) {
        uint32_t j = (uint32_t)kv_rand_below(&rnd, i + 1);
        uint32_t t = c->order[i];
        c->order[i] = c->order[j];
        c->order[j] = t;
    }
    pthread_t th[CONC_READERS];
    for (int i = 0; i < CONC_READERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, conc_reader, c), 0);
    for (size_t i = 0; i < CONC_KEYS; i++) {
        char uk[16];
        size_t ul = conc_key(uk, c->order[i]);
        OK(memtable_add(c->m, i + 1, IKEY_TYPE_VALUE, kv_slice_make(uk, ul), kv_slice_make(uk, ul)));
        atomic_store(&c->published, i + 1);
    }
    atomic_store(&c->done, true);
    for (int i = 0; i < CONC_READERS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_int_eq(atomic_load(&c->errors), 0);
    ck_assert_uint_eq(memtable_entries(c->m), CONC_KEYS);
    memtable_unref(c->m);
    free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memtable");
    TCase *tc = tcase_create("memtable");
    tcase_add_test(tc, arena_aligns_and_counts_bytes);
    tcase_add_test(tc, iteration_follows_ikey_order);
    tcase_add_test(tc, get_returns_newest_visible_at_snapshot);
    tcase_add_test(tc, add_rejects_bad_sequence_numbers);
    tcase_add_test(tc, iterator_moves_both_ways_and_seeks);
    tcase_add_test(tc, random_inserts_match_a_sorted_reference);
    tcase_add_test(tc, range_tombstones_are_kept_apart);
    tcase_add_test(tc, iterator_keeps_memtable_alive);
    tcase_add_test(tc, concurrent_readers_see_a_consistent_list);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
