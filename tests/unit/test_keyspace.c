/* test_keyspace.c - partition mapping vectors, engine key layout, ranges, ordering. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/slice.h"
#include "coordinator/keyspace.h"

static struct keyspace ks_of(uint32_t q)
{
    struct keyspace ks;
    ck_assert_int_eq(keyspace_init(&ks, q), KV_OK);
    return ks;
}

START_TEST(partition_mapping_matches_fixed_vectors)
{
    /* XXH64("", 0) = 0xef46db3751d8e999, XXH64("abc", 0) = 0x44bc2cf5ad770999:
     * the partition is the top log2(Q) bits. */
    struct keyspace q1 = ks_of(1), q2 = ks_of(2), q256 = ks_of(256), q64k = ks_of(65536);
    struct kv_slice empty = kv_slice_make("", 0), abc = kv_slice_str("abc");
    ck_assert_uint_eq(keyspace_partition(&q1, abc), 0);
    ck_assert_uint_eq(keyspace_partition(&q2, empty), 1);
    ck_assert_uint_eq(keyspace_partition(&q2, abc), 0);
    ck_assert_uint_eq(keyspace_partition(&q256, empty), 0xef);
    ck_assert_uint_eq(keyspace_partition(&q256, abc), 0x44);
    ck_assert_uint_eq(keyspace_partition(&q64k, empty), 0xef46);
    ck_assert_uint_eq(keyspace_partition(&q64k, abc), 0x44bc);
    ck_assert_uint_eq(keyspace_partition_of_hash(&q256, UINT64_MAX), 255);
    ck_assert_uint_eq(keyspace_partition_of_hash(&q256, (1ull << 56) - 1), 0);
    ck_assert_uint_eq(keyspace_partition_of_hash(&q256, 1ull << 56), 1);
}
END_TEST

START_TEST(partition_count_must_be_a_power_of_two_that_fits_be16)
{
    struct keyspace ks;
    uint32_t bad[] = { 0, 3, 100, 255, 65537, 131072 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(keyspace_init(&ks, bad[i]), KV_EINVAL);
    ck_assert_int_eq(keyspace_init(&ks, 1024), KV_OK);
    ck_assert_uint_eq(ks.bits, 10);
}
END_TEST

START_TEST(engine_key_is_kind_then_be16_partition_then_user_key)
{
    struct keyspace ks = ks_of(65536);
    char buf[KEYSPACE_PREFIX_BYTES + 3];
    size_t n = keyspace_encode(&ks, KEYSPACE_DATA, kv_slice_str("abc"), buf);
    ck_assert_uint_eq(n, 6);
    ck_assert_mem_eq(buf, "\x01\x44\xbc" "abc", 6);
    enum keyspace_kind kind;
    uint32_t part;
    struct kv_slice user;
    ck_assert_int_eq(keyspace_decode(&ks, kv_slice_make(buf, n), &kind, &part, &user), KV_OK);
    ck_assert_int_eq(kind, KEYSPACE_DATA);
    ck_assert_uint_eq(part, 0x44bc);
    ck_assert(kv_slice_eq(user, kv_slice_str("abc")));
    /* An empty user key is a valid key. */
    n = keyspace_encode(&ks, KEYSPACE_DATA, kv_slice_make("", 0), buf);
    ck_assert_uint_eq(n, KEYSPACE_PREFIX_BYTES);
}
END_TEST

START_TEST(decode_rejects_short_unknown_kind_and_out_of_range_partition)
{
    struct keyspace ks = ks_of(256);
    enum keyspace_kind kind;
    uint32_t part;
    struct kv_slice user;
    ck_assert_int_eq(keyspace_decode(&ks, kv_slice_make("\x01\x00", 2), &kind, &part, &user), KV_EINVAL);
    ck_assert_int_eq(keyspace_decode(&ks, kv_slice_make("\x00\x00\x01k", 4), &kind, &part, &user), KV_EINVAL);
    ck_assert_int_eq(keyspace_decode(&ks, kv_slice_make("\x04\x00\x01k", 4), &kind, &part, &user), KV_EINVAL);
    ck_assert_int_eq(keyspace_decode(&ks, kv_slice_make("\x01\x01\x00k", 4), &kind, &part, &user), KV_EINVAL);
    ck_assert_int_eq(keyspace_decode(&ks, kv_slice_make("\x03\x00\xffk", 4), &kind, &part, &user), KV_OK);
    ck_assert_int_eq(kind, KEYSPACE_META);
    ck_assert_uint_eq(part, 255);
}
END_TEST

static int in_range(struct kv_slice k, const char *b, const char *e)
{
    return kv_slice_cmp(k, kv_slice_make(b, KEYSPACE_PREFIX_BYTES)) >= 0 &&
           kv_slice_cmp(k, kv_slice_make(e, KEYSPACE_PREFIX_BYTES)) < 0;
}

START_TEST(partition_range_holds_exactly_its_keys)
{
    struct keyspace ks = ks_of(16);
    struct kv_rand r;
    kv_rand_seed(&r, 5);
    char key[32], ekey[KEYSPACE_PREFIX_BYTES + 32];
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)kv_rand_below(&r, sizeof key);
        for (size_t j = 0; j < len; j++)
            key[j] = (char)kv_rand_below(&r, 256);
        size_t n = keyspace_encode(&ks, KEYSPACE_DATA, kv_slice_make(key, len), ekey);
        uint32_t p = keyspace_partition(&ks, kv_slice_make(key, len));
        for (uint32_t q = 0; q < ks.partitions; q++) {
            char b[KEYSPACE_PREFIX_BYTES], e[KEYSPACE_PREFIX_BYTES];
            keyspace_partition_range(KEYSPACE_DATA, q, b, e);
            ck_assert_int_eq(in_range(kv_slice_make(ekey, n), b, e), q == p);
        }
    }
    /* Consecutive ranges abut; the top partition's range ends where the next kind starts. */
    char b[KEYSPACE_PREFIX_BYTES], e[KEYSPACE_PREFIX_BYTES], b2[KEYSPACE_PREFIX_BYTES], e2[KEYSPACE_PREFIX_BYTES];
    keyspace_partition_range(KEYSPACE_DATA, 7, b, e);
    keyspace_partition_range(KEYSPACE_DATA, 8, b2, e2);
    ck_assert_mem_eq(e, b2, KEYSPACE_PREFIX_BYTES);
    keyspace_partition_range(KEYSPACE_DATA, KEYSPACE_PARTITIONS_MAX - 1, b, e);
    ck_assert_mem_eq(b, "\x01\xff\xff", 3);
    ck_assert_mem_eq(e, "\x02\x00\x00", 3);
}
END_TEST

struct rec {
    char ekey[KEYSPACE_PREFIX_BYTES + 8];
    size_t n;
    int kind;
    uint32_t part;
    char user[8];
    size_t ulen;
};

static int by_ekey(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    return kv_slice_cmp(kv_slice_make(x->ekey, x->n), kv_slice_make(y->ekey, y->n));
}

START_TEST(engine_order_is_kind_then_partition_then_user_key)
{
    struct keyspace ks = ks_of(256);
    struct kv_rand r;
    kv_rand_seed(&r, 11);
    enum { N = 3000 };
    struct rec *recs = calloc(N, sizeof *recs);
    for (int i = 0; i < N; i++) {
        struct rec *x = &recs[i];
        x->ulen = (size_t)kv_rand_below(&r, 8);
        for (size_t j = 0; j < x->ulen; j++)
            x->user[j] = (char)kv_rand_below(&r, 256);
        x->kind = 1 + (int)kv_rand_below(&r, 3);
        x->part = keyspace_partition(&ks, kv_slice_make(x->user, x->ulen));
        x->n = keyspace_encode(&ks, (enum keyspace_kind)x->kind, kv_slice_make(x->user, x->ulen), x->ekey);
    }
    qsort(recs, N, sizeof *recs, by_ekey);
    for (int i = 1; i < N; i++) {
        struct rec *a = &recs[i - 1], *b = &recs[i];
        ck_assert_int_le(a->kind, b->kind);
        if (a->kind == b->kind) {
            ck_assert_uint_le(a->part, b->part);
            if (a->part == b->part)
                ck_assert_int_le(kv_slice_cmp(kv_slice_make(a->user, a->ulen), kv_slice_make(b->user, b->ulen)), 0);
        }
    }
    free(recs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keyspace");
    TCase *tc = tcase_create("keyspace");
    tcase_add_test(tc, partition_mapping_matches_fixed_vectors);
    tcase_add_test(tc, partition_count_must_be_a_power_of_two_that_fits_be16);
    tcase_add_test(tc, engine_key_is_kind_then_be16_partition_then_user_key);
    tcase_add_test(tc, decode_rejects_short_unknown_kind_and_out_of_range_partition);
    tcase_add_test(tc, partition_range_holds_exactly_its_keys);
    tcase_add_test(tc, engine_order_is_kind_then_partition_then_user_key);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
