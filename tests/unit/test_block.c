/* test_block.c - block builder and reader: round trips, seeks, prev, and
 * every kind of malformed block is KV_ECORRUPT (never a crash). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/coding.h"
#include "storage/block.h"
#include "storage/ikey.h"

#define KEY_BYTES_MAX 2048

struct kv {
    char key[KEY_BYTES_MAX];
    size_t key_len;
    char value[64];
    size_t value_len;
};

/* n increasing internal keys "key%06d" (with an optional long shared prefix). */
static struct kv *make_entries(int n, size_t prefix_len)
{
    struct kv *e = calloc((size_t)n, sizeof *e);
    ck_assert_ptr_nonnull(e);
    char ukey[KEY_BYTES_MAX];
    memset(ukey, 'p', prefix_len);
    for (int i = 0; i < n; i++) {
        int len = snprintf(ukey + prefix_len, sizeof ukey - prefix_len, "key%06d", i * 2);
        e[i].key_len = ikey_encode(e[i].key, ukey, prefix_len + (size_t)len, (uint64_t)i + 1, IKEY_TYPE_VALUE);
        e[i].value_len = (size_t)snprintf(e[i].value, sizeof e[i].value, "value-%d", i);
        if (i % 7 == 0)
            e[i].value_len = 0; /* zero-length values too */
    }
    return e;
}

static struct kv_slice key_of(const struct kv *e) { return kv_slice_make(e->key, e->key_len); }
static struct kv_slice val_of(const struct kv *e) { return kv_slice_make(e->value, e->value_len); }

/* Builds a block; the returned bytes are a malloc'd copy. */
static char *build(const struct kv *e, int n, int restart_interval, size_t *len)
{
    struct block_builder *b;
    ck_assert_int_eq(block_builder_new(restart_interval, &b), KV_OK);
    ck_assert(block_builder_empty(b));
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(block_builder_add(b, key_of(&e[i]), val_of(&e[i])), KV_OK);
    size_t est = block_builder_size_estimate(b);
    struct kv_slice out;
    ck_assert_int_eq(block_builder_finish(b, &out), KV_OK);
    ck_assert_uint_eq(out.len, est);
    char *copy = malloc(out.len + 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, out.data, out.len);
    *len = out.len;
    block_builder_free(b);
    return copy;
}

static void assert_at(struct block_iter *it, const struct kv *e)
{
    ck_assert(block_iter_valid(it));
    ck_assert(kv_slice_eq(block_iter_key(it), key_of(e)));
    ck_assert(kv_slice_eq(block_iter_value(it), val_of(e)));
}

static void check_round_trip(int n, int restart_interval, size_t prefix_len)
{
    struct kv *e = make_entries(n, prefix_len);
    size_t len;
    char *data = build(e, n, restart_interval, &len);
    struct block blk;
    ck_assert_int_eq(block_parse(data, len, &blk), KV_OK);
    struct block_iter it;
    block_iter_init(&it, &blk);
    ck_assert(!block_iter_valid(&it));

    int i = 0;
    for (block_iter_seek_first(&it); block_iter_valid(&it); block_iter_next(&it), i++)
        assert_at(&it, &e[i]);
    ck_assert_int_eq(i, n);
    i = n - 1;
    for (block_iter_seek_last(&it); block_iter_valid(&it); block_iter_prev(&it), i--)
        assert_at(&it, &e[i]);
    ck_assert_int_eq(i, -1);
    ck_assert_int_eq(block_iter_status(&it), KV_OK);

    /* Exact seeks, seeks between keys (user key + "!" sorts after key i and
     * before key i+1), and a lookup key with a newer snapshot. */
    for (i = 0; i < n; i++) {
        block_iter_seek(&it, key_of(&e[i]));
        assert_at(&it, &e[i]);
        char ubetween[KEY_BYTES_MAX + 16], between[KEY_BYTES_MAX + 16];
        struct kv_slice u = ikey_user(key_of(&e[i]));
        memcpy(ubetween, u.data, u.len);
        ubetween[u.len] = '!';
        size_t bl = ikey_encode(between, ubetween, u.len + 1, KV_SEQ_MAX, IKEY_TYPE_SEEK);
        block_iter_seek(&it, kv_slice_make(between, bl));
        if (i + 1 < n)
            assert_at(&it, &e[i + 1]);
        else
            ck_assert(!block_iter_valid(&it));
        char lookup[KEY_BYTES_MAX + 16];
        size_t ll = ikey_encode(lookup, u.data, u.len, KV_SEQ_MAX, IKEY_TYPE_SEEK);
        block_iter_seek(&it, kv_slice_make(lookup, ll));
        assert_at(&it, &e[i]);
    }
    /* Before the first key. */
    char first[16];
    size_t fl = ikey_encode(first, "a", 1, 0, IKEY_TYPE_VALUE);
    block_iter_seek(&it, kv_slice_make(first, fl));
    assert_at(&it, &e[0]);
    ck_assert_int_eq(block_iter_status(&it), KV_OK);
    block_iter_cleanup(&it);
    free(data);
    free(e);
}

START_TEST(round_trip_at_every_restart_interval)
{
    check_round_trip(1, 16, 0);
    check_round_trip(200, 1, 0);
    check_round_trip(200, 2, 0);
    check_round_trip(200, 16, 0);
    check_round_trip(200, 1000, 0); /* one restart point for the whole block */
}
END_TEST

START_TEST(long_shared_prefixes_use_the_heap_key_buffer)
{
    check_round_trip(100, 16, 1500); /* keys longer than BLOCK_ITER_INLINE_KEY_BYTES */
    check_round_trip(100, 4, BLOCK_ITER_INLINE_KEY_BYTES - 10); /* crossing the boundary */
}
END_TEST

START_TEST(prefix_compression_shrinks_similar_keys)
{
    struct kv *e = make_entries(100, 100);
    size_t compressed, whole;
    char *a = build(e, 100, 16, &compressed);
    char *b = build(e, 100, 1, &whole);
    ck_assert_uint_lt(compressed * 3, whole);
    free(a);
    free(b);
    free(e);
}
END_TEST

START_TEST(empty_block_has_no_entries)
{
    size_t len;
    char *data = build(NULL, 0, 16, &len);
    ck_assert_uint_eq(len, BLOCK_RESTART_BYTES + BLOCK_RESTART_COUNT_BYTES);
    struct block blk;
    ck_assert_int_eq(block_parse(data, len, &blk), KV_OK);
    struct block_iter it;
    block_iter_init(&it, &blk);
    block_iter_seek_first(&it);
    ck_assert(!block_iter_valid(&it));
    block_iter_seek_last(&it);
    ck_assert(!block_iter_valid(&it));
    char k[16];
    block_iter_seek(&it, kv_slice_make(k, ikey_encode(k, "x", 1, 1, IKEY_TYPE_VALUE)));
    ck_assert(!block_iter_valid(&it));
    ck_assert_int_eq(block_iter_status(&it), KV_OK);
    block_iter_cleanup(&it);
    free(data);
}
END_TEST

START_TEST(builder_reset_starts_a_fresh_block)
{
    struct kv *e = make_entries(10, 0);
    struct block_builder *b;
    ck_assert_int_eq(block_builder_new(4, &b), KV_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(block_builder_add(b, key_of(&e[i]), val_of(&e[i])), KV_OK);
    block_builder_reset(b);
    ck_assert(block_builder_empty(b));
    ck_assert_int_eq(block_builder_add(b, key_of(&e[5]), val_of(&e[5])), KV_OK);
    struct kv_slice out;
    ck_assert_int_eq(block_builder_finish(b, &out), KV_OK);
    struct block blk;
    ck_assert_int_eq(block_parse(out.data, out.len, &blk), KV_OK);
    struct block_iter it;
    block_iter_init(&it, &blk);
    block_iter_seek_first(&it);
    assert_at(&it, &e[5]);
    block_iter_next(&it);
    ck_assert(!block_iter_valid(&it));
    block_iter_cleanup(&it);
    block_builder_free(b);
    free(e);
}
END_TEST

START_TEST(generic_iter_interface_walks_the_block)
{
    struct kv *e = make_entries(50, 0);
    size_t len;
    char *data = build(e, 50, 8, &len);
    struct block blk;
    ck_assert_int_eq(block_parse(data, len, &blk), KV_OK);
    struct iter *it;
    ck_assert_int_eq(block_iter_new(&blk, &it), KV_OK);
    int n = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it))
        ck_assert(kv_slice_eq(iter_key(it), key_of(&e[n++])));
    ck_assert_int_eq(n, 50);
    iter_seek_last(it);
    iter_prev(it);
    ck_assert(kv_slice_eq(iter_value(it), val_of(&e[48])));
    ck_assert_int_eq(iter_status(it), KV_OK);
    iter_destroy(it);
    free(data);
    free(e);
}
END_TEST

START_TEST(bad_restart_arrays_are_corrupt)
{
    struct kv *e = make_entries(40, 0);
    size_t len;
    char *data = build(e, 40, 4, &len); /* 10 restart points */
    struct block blk;
    ck_assert_int_eq(block_parse(data, len, &blk), KV_OK);
    uint32_t n = kv_get_fixed32(data + len - 4);
    ck_assert_uint_eq(n, 10);
    char *arr = data + len - 4 - 4 * n;

    ck_assert_int_eq(block_parse(data, 3, &blk), KV_ECORRUPT);      /* shorter than the count */
    kv_put_fixed32(data + len - 4, 0);
    ck_assert_int_eq(block_parse(data, len, &blk), KV_ECORRUPT);    /* no restart point */
    kv_put_fixed32(data + len - 4, (uint32_t)len);
    ck_assert_int_eq(block_parse(data, len, &blk), KV_ECORRUPT);    /* count larger than the block */
    kv_put_fixed32(data + len - 4, UINT32_MAX);
    ck_assert_int_eq(block_parse(data, len, &blk), KV_ECORRUPT);
    kv_put_fixed32(data + len - 4, n);

    uint32_t saved = kv_get_fixed32(arr + 8);
    kv_put_fixed32(arr + 8, kv_get_fixed32(arr + 4));               /* not increasing */
    ck_assert_int_eq(block_parse(data, len, &blk), KV_ECORRUPT);
    kv_put_fixed32(arr + 8, (uint32_t)(arr - data));                /* points at the array */
    ck_assert_int_eq(block_parse(data, len, &blk), KV_ECORRUPT);
    kv_put_fixed32(arr + 8, saved);
    kv_put_fixed32(arr, 1);                                         /* first is not 0 */
    ck_assert_int_eq(block_parse(data, len, &blk), KV_ECORRUPT);
    free(data);
    free(e);
}
END_TEST

/* Hand-made block: entries given as raw bytes, one restart at 0. */
static size_t raw_block(char *dst, const char *entries, size_t n)
{
    memcpy(dst, entries, n);
    kv_put_fixed32(dst + n, 0);
    kv_put_fixed32(dst + n + 4, 1);
    return n + 8;
}

static int first_status(const char *entries, size_t n)
{
    char buf[256];
    size_t len = raw_block(buf, entries, n);
    struct block blk;
    ck_assert_int_eq(block_parse(buf, len, &blk), KV_OK);
    struct block_iter it;
    block_iter_init(&it, &blk);
    for (block_iter_seek_first(&it); block_iter_valid(&it); block_iter_next(&it)) {
    }
    int st = block_iter_status(&it);
    block_iter_cleanup(&it);
    return st;
}

START_TEST(bad_entries_are_corrupt)
{
    /* shared:0 unshared:8 value:1 + 8 key bytes + 1 value byte = a valid entry. */
    const char ok[] = "\x00\x08\x01" "abcdefgh" "v";
    ck_assert_int_eq(first_status(ok, sizeof ok - 1), KV_OK);
    /* Second entry shares 9 bytes with an 8-byte key. */
    const char too_shared[] = "\x00\x08\x00" "abcdefgh" "\x09\x00\x00";
    ck_assert_int_eq(first_status(too_shared, sizeof too_shared - 1), KV_ECORRUPT);
    /* Key shorter than an internal-key trailer. */
    const char short_key[] = "\x00\x03\x00" "abc";
    ck_assert_int_eq(first_status(short_key, sizeof short_key - 1), KV_ECORRUPT);
    /* Value runs past the entries. */
    const char long_value[] = "\x00\x08\x10" "abcdefgh" "v";
    ck_assert_int_eq(first_status(long_value, sizeof long_value - 1), KV_ECORRUPT);
    /* Varint that never ends. */
    const char endless[] = "\x00\x88\x88\x88\x88\x88\x88";
    ck_assert_int_eq(first_status(endless, sizeof endless - 1), KV_ECORRUPT);
    /* A huge length (2^32 - 1) must not wrap the bounds check. */
    const char huge[] = "\x00\xff\xff\xff\xff\x0f\x01" "abcdefgh";
    ck_assert_int_eq(first_status(huge, sizeof huge - 1), KV_ECORRUPT);
    /* Truncated header. */
    const char tiny[] = "\x00\x08";
    ck_assert_int_eq(first_status(tiny, sizeof tiny - 1), KV_ECORRUPT);
}
END_TEST

START_TEST(restart_entry_with_shared_bytes_is_corrupt_on_seek)
{
    struct kv *e = make_entries(32, 0);
    size_t len;
    char *data = build(e, 32, 4, &len);
    uint32_t n = kv_get_fixed32(data + len - 4);
    uint32_t r2 = kv_get_fixed32(data + len - 4 - 4 * n + 8);
    data[r2] = 3; /* the restart entry now claims 3 shared bytes */
    struct block blk;
    ck_assert_int_eq(block_parse(data, len, &blk), KV_OK);
    struct block_iter it;
    block_iter_init(&it, &blk);
    block_iter_seek(&it, key_of(&e[9])); /* the binary search reads restart 2 */
    ck_assert(!block_iter_valid(&it));
    ck_assert_int_eq(block_iter_status(&it), KV_ECORRUPT);
    /* The error is sticky: later moves stay invalid. */
    block_iter_seek_first(&it);
    ck_assert(!block_iter_valid(&it));
    block_iter_cleanup(&it);
    free(data);
    free(e);
}
END_TEST

/* Random damage: parse and walk in every direction; ASan/UBSan catch any
 * out-of-bounds read. The status is OK or corrupt, nothing else. */
START_TEST(random_damage_never_reads_out_of_bounds)
{
    struct kv *e = make_entries(64, 20);
    size_t len;
    char *clean = build(e, 64, 4, &len);
    struct kv_rand r;
    kv_rand_seed(&r, 42);
    for (int round = 0; round < 3000; round++) {
        char *data = malloc(len);
        ck_assert_ptr_nonnull(data);
        memcpy(data, clean, len);
        int flips = 1 + (int)kv_rand_below(&r, 4);
        for (int f = 0; f < flips; f++)
            data[kv_rand_below(&r, len)] ^= (char)(1 + kv_rand_below(&r, 255));
        size_t cut = round % 5 == 0 ? kv_rand_below(&r, len + 1) : len;
        struct block blk;
        if (block_parse(data, cut, &blk) == KV_OK) {
            struct block_iter it;
            block_iter_init(&it, &blk);
            int steps = 0;
            for (block_iter_seek_first(&it); block_iter_valid(&it) && steps < 1000; block_iter_next(&it))
                steps++;
            for (block_iter_seek_last(&it); block_iter_valid(&it) && steps < 2000; block_iter_prev(&it))
                steps++;
            block_iter_set_block(&it, &blk);
            block_iter_seek(&it, key_of(&e[kv_rand_below(&r, 64)]));
            int st = block_iter_status(&it);
            ck_assert(st == KV_OK || st == KV_ECORRUPT);
            block_iter_cleanup(&it);
        }
        free(data);
    }
    free(clean);
    free(e);
}
END_TEST

static Suite *block_suite(void)
{
    Suite *s = suite_create("block");
    TCase *tc = tcase_create("block");
    tcase_add_test(tc, round_trip_at_every_restart_interval);
    tcase_add_test(tc, long_shared_prefixes_use_the_heap_key_buffer);
    tcase_add_test(tc, prefix_compression_shrinks_similar_keys);
    tcase_add_test(tc, empty_block_has_no_entries);
    tcase_add_test(tc, builder_reset_starts_a_fresh_block);
    tcase_add_test(tc, generic_iter_interface_walks_the_block);
    tcase_add_test(tc, bad_restart_arrays_are_corrupt);
    tcase_add_test(tc, bad_entries_are_corrupt);
    tcase_add_test(tc, restart_entry_with_shared_bytes_is_corrupt_on_seek);
    tcase_add_test(tc, random_damage_never_reads_out_of_bounds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(block_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
