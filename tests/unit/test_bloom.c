/* test_bloom.c - bloom filters: no false negatives, the false-positive
 * rate, the pinned encoding, and the match-everything fallbacks. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "storage/bloom.h"

/* Computed independently (a Python model of XXH64 and the probe rule). */
#define PINNED_FILTER_HEX                                                                                     \
    "00100010000040000200080001000001000400000040000000000800000000000004000002800000000800002000200000" \
    "04001000000000020000004000800007"

static uint64_t key_hash(const char *prefix, int i)
{
    char k[32];
    int n = snprintf(k, sizeof k, "%s%d", prefix, i);
    return bloom_hash(kv_slice_make(k, (size_t)n));
}

static struct kv_buf build_filter(int n, int bits_per_key)
{
    uint64_t *h = malloc(((size_t)n + 1) * sizeof *h);
    ck_assert_ptr_nonnull(h);
    for (int i = 0; i < n; i++)
        h[i] = key_hash("key", i);
    struct kv_buf f = { 0 };
    ck_assert_int_eq(bloom_build(h, (size_t)n, bits_per_key, &f), KV_OK);
    free(h);
    return f;
}

START_TEST(added_keys_always_match)
{
    struct kv_buf f = build_filter(100000, 10);
    struct kv_slice fs = kv_slice_make(f.data, f.len);
    for (int i = 0; i < 100000; i++)
        ck_assert(bloom_may_match(fs, key_hash("key", i)));
    kv_buf_free(&f);
}
END_TEST

START_TEST(false_positive_rate_under_two_percent_at_ten_bits)
{
    struct kv_buf f = build_filter(100000, 10);
    struct kv_slice fs = kv_slice_make(f.data, f.len);
    ck_assert_uint_eq(f.len, (100000 * 10 + BLOOM_LINE_BITS - 1) / BLOOM_LINE_BITS * BLOOM_LINE_BYTES + 1);
    int fp = 0;
    for (int i = 0; i < 100000; i++)
        fp += bloom_may_match(fs, key_hash("absent", i));
    ck_assert_int_lt(fp, 2000); /* < 2% of 100k probes (measured: ~1.1%) */
    ck_assert_int_gt(fp, 0);    /* a filter that never says yes would be broken, not good */
    kv_buf_free(&f);
}
END_TEST

START_TEST(small_key_sets_still_filter)
{
    for (int n = 1; n < 50; n++) {
        struct kv_buf f = build_filter(n, 10);
        struct kv_slice fs = kv_slice_make(f.data, f.len);
        ck_assert_uint_eq(f.len, BLOOM_LINE_BYTES + 1); /* one line holds up to 51 keys at 10 bits */
        for (int i = 0; i < n; i++)
            ck_assert(bloom_may_match(fs, key_hash("key", i)));
        int fp = 0;
        for (int i = 0; i < 1000; i++)
            fp += bloom_may_match(fs, key_hash("absent", i));
        ck_assert_int_lt(fp, 200);
        kv_buf_free(&f);
    }
}
END_TEST

START_TEST(empty_filter_matches_nothing)
{
    struct kv_buf f = { 0 };
    ck_assert_int_eq(bloom_build(NULL, 0, 10, &f), KV_OK);
    ck_assert_uint_eq(f.len, BLOOM_LINE_BYTES + 1);
    for (int i = 0; i < 100; i++)
        ck_assert(!bloom_may_match(kv_slice_make(f.data, f.len), key_hash("k", i)));
    kv_buf_free(&f);
}
END_TEST

START_TEST(probe_count_follows_bits_per_key)
{
    ck_assert_int_eq(bloom_k(1), 1);
    ck_assert_int_eq(bloom_k(10), 7);
    ck_assert_int_eq(bloom_k(20), 14);
    ck_assert_int_eq(bloom_k(100), BLOOM_K_MAX);
    struct kv_buf f = build_filter(10, 10);
    ck_assert_int_eq(f.data[f.len - 1], 7); /* k is the last byte */
    kv_buf_free(&f);
}
END_TEST

START_TEST(unknown_encodings_match_everything)
{
    struct kv_buf f = build_filter(10, 10);
    uint64_t absent[64];
    int rejected = 0;
    for (int i = 0; i < 64; i++) {
        absent[i] = key_hash("absent", i);
        rejected += !bloom_may_match(kv_slice_make(f.data, f.len), absent[i]);
    }
    ck_assert_int_gt(rejected, 0);
    f.data[f.len - 1] = 0; /* k = 0 */
    for (int i = 0; i < 64; i++)
        ck_assert(bloom_may_match(kv_slice_make(f.data, f.len), absent[i]));
    f.data[f.len - 1] = BLOOM_K_MAX + 1;
    for (int i = 0; i < 64; i++)
        ck_assert(bloom_may_match(kv_slice_make(f.data, f.len), absent[i]));
    f.data[f.len - 1] = 7;
    for (int i = 0; i < 64; i++) /* a length that is not 1 + whole lines */
        ck_assert(bloom_may_match(kv_slice_make(f.data + 1, f.len - 1), absent[i]));
    ck_assert(bloom_may_match(kv_slice_make(f.data, 1), absent[0]));
    ck_assert(bloom_may_match(kv_slice_make(NULL, 0), absent[0]));
    kv_buf_free(&f);
}
END_TEST

/* The filter bytes are part of the SSTable format: pin them. */
START_TEST(encoding_is_stable)
{
    uint64_t h[3] = { bloom_hash(kv_slice_str("a")), bloom_hash(kv_slice_str("b")), bloom_hash(kv_slice_str("c")) };
    struct kv_buf f = { 0 };
    ck_assert_int_eq(bloom_build(h, 3, 10, &f), KV_OK);
    char hex[2 * (BLOOM_LINE_BYTES + 1) + 1] = { 0 };
    for (size_t i = 0; i < f.len; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)f.data[i]);
    ck_assert_str_eq(hex, PINNED_FILTER_HEX);
    kv_buf_free(&f);
}
END_TEST

static Suite *bloom_suite(void)
{
    Suite *s = suite_create("bloom");
    TCase *tc = tcase_create("bloom");
    tcase_add_test(tc, added_keys_always_match);
    tcase_add_test(tc, false_positive_rate_under_two_percent_at_ten_bits);
    tcase_add_test(tc, small_key_sets_still_filter);
    tcase_add_test(tc, empty_filter_matches_nothing);
    tcase_add_test(tc, probe_count_follows_bits_per_key);
    tcase_add_test(tc, unknown_encodings_match_everything);
    tcase_add_test(tc, encoding_is_stable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bloom_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
