/* test_common.c - status names, coding, hash and CRC32C vectors, buffers, PRNG. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/hash.h"
#include "common/status.h"

START_TEST(every_status_has_a_name)
{
    for (int s = KV_STATUS_MIN; s <= 0; s++)
        ck_assert_str_ne(kv_status_str(s), "unknown status");
    ck_assert_str_eq(kv_status_str(1), "unknown status");
}
END_TEST

START_TEST(xxh64_matches_reference_vectors)
{
    ck_assert_uint_eq(kv_hash64("", 0, 0), 0xef46db3751d8e999ULL);
    ck_assert_uint_eq(kv_hash64("abc", 3, 0), 0x44bc2cf5ad770999ULL);
    char x[100];
    memset(x, 'x', sizeof x);
    ck_assert_uint_eq(kv_hash64(x, sizeof x, 0), 0x92f0de5a88a3c094ULL); /* long path */
}
END_TEST

START_TEST(crc32c_matches_reference_vectors)
{
    ck_assert_uint_eq(kv_crc32c("123456789", 9), 0xe3069283u);
    char zeros[32] = { 0 };
    ck_assert_uint_eq(kv_crc32c(zeros, 32), 0x8a9136aau);
    /* Extending in pieces equals one pass. */
    ck_assert_uint_eq(kv_crc32c_extend(kv_crc32c("12345", 5), "6789", 4), 0xe3069283u);
    uint32_t c = kv_crc32c("hello", 5);
    ck_assert_uint_ne(kv_crc32c_mask(c), c);
    ck_assert_uint_eq(kv_crc32c_unmask(kv_crc32c_mask(c)), c);
}
END_TEST

START_TEST(varint_round_trips_and_rejects_truncation)
{
    uint64_t vals[] = { 0, 1, 127, 128, 300, UINT32_MAX, (uint64_t)1 << 40, UINT64_MAX };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char buf[KV_VARINT64_BYTES_MAX];
        char *end = kv_put_varint64(buf, vals[i]);
        ck_assert_int_eq(end - buf, kv_varint_len(vals[i]));
        uint64_t out = 0;
        ck_assert_ptr_eq(kv_get_varint64(buf, end, &out), end);
        ck_assert_uint_eq(out, vals[i]);
        if (end - buf > 1)
            ck_assert_ptr_null(kv_get_varint64(buf, end - 1, &out));
    }
    /* A 10th byte with bits past 64 is overlong, not silently truncated. */
    const char over[10] = { '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\x02' };
    uint64_t o;
    ck_assert_ptr_null(kv_get_varint64(over, over + 10, &o));
    char big[KV_VARINT64_BYTES_MAX];
    char *end = kv_put_varint64(big, (uint64_t)UINT32_MAX + 1);
    uint32_t v32;
    ck_assert_ptr_null(kv_get_varint32(big, end, &v32));
    char be[4];
    kv_put_be32(be, 0x01020304u);
    ck_assert_int_eq(be[0], 1);
    ck_assert_uint_eq(kv_get_be32(be), 0x01020304u);
}
END_TEST

START_TEST(buf_grows_and_stays_terminated)
{
    struct kv_buf b = { 0 };
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(kv_buf_append(&b, "ab", 2), KV_OK);
    ck_assert_uint_eq(b.len, 2000);
    ck_assert_int_eq(b.data[b.len], 0);
    ck_assert_int_eq(kv_buf_appendf(&b, "%d", 42), KV_OK);
    ck_assert_str_eq(b.data + 2000, "42");
    ck_assert_int_eq(kv_buf_set(&b, "x", 1), KV_OK);
    ck_assert_str_eq(b.data, "x");
    size_t n;
    char *p = kv_buf_detach(&b, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_null(b.data);
    free(p);
    kv_buf_free(&b);
}
END_TEST

START_TEST(rand_is_deterministic_per_seed)
{
    struct kv_rand a, b;
    kv_rand_seed(&a, 7);
    kv_rand_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(kv_rand_next(&a), kv_rand_next(&b));
    for (int i = 0; i < 1000; i++) {
        ck_assert_uint_lt(kv_rand_below(&a, 10), 10);
        double d = kv_rand_double(&a);
        ck_assert(d >= 0.0 && d < 1.0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("common");
    tcase_add_test(tc, every_status_has_a_name);
    tcase_add_test(tc, xxh64_matches_reference_vectors);
    tcase_add_test(tc, crc32c_matches_reference_vectors);
    tcase_add_test(tc, varint_round_trips_and_rejects_truncation);
    tcase_add_test(tc, buf_grows_and_stays_terminated);
    tcase_add_test(tc, rand_is_deterministic_per_seed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
