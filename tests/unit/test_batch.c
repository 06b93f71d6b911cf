/* test_batch.c - write batch encoding: round trips, group merging, and a
 * decoder that rejects every malformed input without crashing. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "storage/batch.h"

static struct engine_batch *sample(void)
{
    struct engine_batch *b;
    ck_assert_int_eq(engine_batch_new(&b), KV_OK);
    ck_assert_int_eq(engine_batch_put(b, kv_slice_str("key1"), kv_slice_str("value1")), KV_OK);
    ck_assert_int_eq(engine_batch_delete(b, kv_slice_str("key2")), KV_OK);
    ck_assert_int_eq(engine_batch_delete_range(b, kv_slice_str("a"), kv_slice_str("c")), KV_OK);
    ck_assert_int_eq(engine_batch_put(b, kv_slice_str(""), kv_slice_str("")), KV_OK);
    return b;
}

START_TEST(records_round_trip_with_their_seqs)
{
    struct engine_batch *b = sample();
    struct kv_slice rep = batch_rep(b);
    ck_assert_uint_eq(engine_batch_count(b), 4);
    ck_assert_uint_eq(b->user_bytes, 4 + 6 + 4 + 1 + 1);
    batch_rep_set_seq(b->rep.data, 100);
    struct batch_reader r;
    enum ikey_type t;
    struct kv_slice k, v;
    ck_assert_int_eq(batch_reader_init(&r, rep), KV_OK);
    ck_assert_uint_eq(r.seq, 100);
    ck_assert_uint_eq(r.count, 4);
    ck_assert_int_eq(batch_reader_next(&r, &t, &k, &v), KV_OK);
    ck_assert(t == IKEY_TYPE_VALUE && kv_slice_eq(k, kv_slice_str("key1")) && kv_slice_eq(v, kv_slice_str("value1")));
    ck_assert_int_eq(batch_reader_next(&r, &t, &k, &v), KV_OK);
    ck_assert(t == IKEY_TYPE_DELETE && kv_slice_eq(k, kv_slice_str("key2")) && v.len == 0);
    ck_assert_int_eq(batch_reader_next(&r, &t, &k, &v), KV_OK);
    ck_assert(t == IKEY_TYPE_RANGE_DELETE && kv_slice_eq(k, kv_slice_str("a")) && kv_slice_eq(v, kv_slice_str("c")));
    ck_assert_int_eq(batch_reader_next(&r, &t, &k, &v), KV_OK);
    ck_assert(t == IKEY_TYPE_VALUE && k.len == 0 && v.len == 0);
    ck_assert_int_eq(batch_reader_next(&r, &t, &k, &v), KV_ENOTFOUND);
    ck_assert_int_eq(batch_validate(rep), KV_OK);
    engine_batch_free(b);
}
END_TEST

START_TEST(encoding_matches_the_documented_bytes)
{
    struct engine_batch *b;
    ck_assert_int_eq(engine_batch_new(&b), KV_OK);
    ck_assert_int_eq(engine_batch_put(b, kv_slice_str("k"), kv_slice_str("v1")), KV_OK);
    ck_assert_int_eq(engine_batch_delete(b, kv_slice_str("d")), KV_OK);
    batch_rep_set_seq(b->rep.data, 7);
    /* The worked example of storage/FORMAT.md. */
    const unsigned char want[] = { 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 1, 'k', 2, 'v', '1', 0, 1, 'd' };
    ck_assert_uint_eq(b->rep.len, sizeof want);
    ck_assert(memcmp(b->rep.data, want, sizeof want) == 0);
    engine_batch_free(b);
}
END_TEST

START_TEST(group_append_adds_records_and_counts)
{
    struct engine_batch *a = sample(), *b = sample();
    struct kv_buf group = { 0 };
    ck_assert_int_eq(batch_rep_init(&group), KV_OK);
    ck_assert_int_eq(batch_rep_append(&group, batch_rep(a)), KV_OK);
    ck_assert_int_eq(batch_rep_append(&group, batch_rep(b)), KV_OK);
    ck_assert_uint_eq(batch_rep_count(group.data), 8);
    ck_assert_uint_eq(group.len, 2 * a->rep.len - BATCH_HEADER_BYTES);
    ck_assert_int_eq(batch_validate(kv_slice_make(group.data, group.len)), KV_OK);
    kv_buf_free(&group);
    engine_batch_free(a);
    engine_batch_free(b);
}
END_TEST

START_TEST(every_truncation_is_corrupt)
{
    struct engine_batch *b = sample();
    for (size_t n = 0; n < b->rep.len; n++)
        ck_assert_msg(batch_validate(kv_slice_make(b->rep.data, n)) == KV_ECORRUPT, "cut at %zu", n);
    engine_batch_free(b);
}
END_TEST

START_TEST(count_mismatch_trailing_bytes_and_bad_types_are_corrupt)
{
    struct engine_batch *b = sample();
    struct kv_buf x = { 0 };
    ck_assert_int_eq(kv_buf_set(&x, b->rep.data, b->rep.len), KV_OK);
    kv_put_fixed32(x.data + BATCH_COUNT_OFFSET, 5); /* more records claimed than present */
    ck_assert_int_eq(batch_validate(kv_slice_make(x.data, x.len)), KV_ECORRUPT);
    kv_put_fixed32(x.data + BATCH_COUNT_OFFSET, 3); /* fewer: the rest is trailing garbage */
    ck_assert_int_eq(batch_validate(kv_slice_make(x.data, x.len)), KV_ECORRUPT);
    kv_put_fixed32(x.data + BATCH_COUNT_OFFSET, 4);
    x.data[BATCH_HEADER_BYTES] = 9; /* unknown record type */
    ck_assert_int_eq(batch_validate(kv_slice_make(x.data, x.len)), KV_ECORRUPT);
    kv_buf_free(&x);

    /* A reversed range can only come from damage: the builder refuses it. */
    ck_assert_int_eq(engine_batch_delete_range(b, kv_slice_str("z"), kv_slice_str("a")), KV_EINVAL);
    ck_assert_int_eq(batch_rep_init(&x), KV_OK);
    const char rec[] = { IKEY_TYPE_RANGE_DELETE, 1, 'z', 1, 'a' };
    ck_assert_int_eq(kv_buf_append(&x, rec, sizeof rec), KV_OK);
    kv_put_fixed32(x.data + BATCH_COUNT_OFFSET, 1);
    ck_assert_int_eq(batch_validate(kv_slice_make(x.data, x.len)), KV_ECORRUPT);

    /* Sequence numbers may not run past KV_SEQ_MAX. */
    x.data[BATCH_HEADER_BYTES + 2] = 'a';
    x.data[BATCH_HEADER_BYTES + 4] = 'z';
    ck_assert_int_eq(batch_validate(kv_slice_make(x.data, x.len)), KV_OK);
    batch_rep_set_seq(x.data, KV_SEQ_MAX);
    ck_assert_int_eq(batch_validate(kv_slice_make(x.data, x.len)), KV_ECORRUPT);
    kv_buf_free(&x);
    engine_batch_free(b);
}
END_TEST

START_TEST(oversized_lengths_are_corrupt)
{
    struct kv_buf x = { 0 };
    char rec[1 + KV_VARINT32_BYTES_MAX];
    ck_assert_int_eq(batch_rep_init(&x), KV_OK);
    rec[0] = IKEY_TYPE_DELETE;
    char *end = kv_put_varint32(rec + 1, ENGINE_KEY_BYTES_MAX + 1);
    ck_assert_int_eq(kv_buf_append(&x, rec, (size_t)(end - rec)), KV_OK);
    ck_assert_int_eq(kv_buf_reserve(&x, ENGINE_KEY_BYTES_MAX + 1), KV_OK);
    memset(x.data + x.len, 'k', ENGINE_KEY_BYTES_MAX + 1);
    x.len += ENGINE_KEY_BYTES_MAX + 1;
    kv_put_fixed32(x.data + BATCH_COUNT_OFFSET, 1);
    ck_assert_int_eq(batch_validate(kv_slice_make(x.data, x.len)), KV_ECORRUPT);
    kv_buf_free(&x);
}
END_TEST

START_TEST(random_damage_never_crashes)
{
    struct engine_batch *b = sample();
    struct kv_rand r;
    kv_rand_seed(&r, 42);
    char *copy = malloc(b->rep.len);
    for (int i = 0; i < 20000; i++) {
        memcpy(copy, b->rep.data, b->rep.len);
        int flips = 1 + (int)kv_rand_below(&r, 3);
        for (int f = 0; f < flips; f++)
            copy[kv_rand_below(&r, b->rep.len)] ^= (char)(1 + kv_rand_below(&r, 255));
        int rc = batch_validate(kv_slice_make(copy, b->rep.len));
        ck_assert(rc == KV_OK || rc == KV_ECORRUPT);
    }
    free(copy);
    engine_batch_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_add_test(tc, records_round_trip_with_their_seqs);
    tcase_add_test(tc, encoding_matches_the_documented_bytes);
    tcase_add_test(tc, group_append_adds_records_and_counts);
    tcase_add_test(tc, every_truncation_is_corrupt);
    tcase_add_test(tc, count_mismatch_trailing_bytes_and_bad_types_are_corrupt);
    tcase_add_test(tc, oversized_lengths_are_corrupt);
    tcase_add_test(tc, random_damage_never_crashes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
