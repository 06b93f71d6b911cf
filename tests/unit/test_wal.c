/* test_wal.c - the log format: round trips, block edges, torn tails, corruption. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/env.h"
#include "storage/wal.h"

#define OK(expr) ck_assert_int_eq((expr), KV_OK)
#define LOG_PATH "/log"

static struct env *env;

static void setup(void) { OK(env_mem_new(&env)); }
static void teardown(void) { env_destroy(env); }

/* Record i has size sizes[i] and bytes that depend on i and the offset. */
static void fill(char *buf, size_t len, size_t i)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)(i * 31 + k * 7 + (k >> 8));
}

static void write_log(const char *path, const size_t *sizes, size_t n)
{
    struct env_file *f;
    struct wal_writer *w;
    OK(env_open(env, path, ENV_OPEN_TRUNCATE, &f));
    OK(wal_writer_new(f, 0, &w));
    for (size_t i = 0; i < n; i++) {
        char *buf = malloc(sizes[i] + 1);
        fill(buf, sizes[i], i);
        OK(wal_writer_add(w, kv_slice_make(buf, sizes[i])));
        free(buf);
    }
    OK(wal_writer_sync(w));
    OK(wal_writer_close(w));
}

/* The whole file as a malloc'd buffer. */
static char *slurp(const char *path, size_t *len)
{
    char *data;
    OK(env_read_all(env, path, &data, len));
    return data;
}

static void put_file(const char *path, const char *data, size_t len)
{
    struct env_file *f;
    OK(env_open(env, path, ENV_OPEN_TRUNCATE, &f));
    OK(env_append(f, data, len));
    OK(env_close(f));
}

struct read_result {
    size_t records; /* records read and matching fill() */
    int end;        /* status that ended the read */
    uint64_t dropped, good;
};

/* Reads every record, checking each against sizes/fill, until a non-OK status. */
static struct read_result read_log(const char *path, const size_t *sizes, size_t n)
{
    struct env_file *f;
    struct wal_reader *r;
    struct read_result res = { 0 };
    OK(env_open(env, path, ENV_OPEN_READ, &f));
    OK(wal_reader_new(f, &r));
    struct kv_slice rec;
    while ((res.end = wal_reader_next(r, &rec)) == KV_OK) {
        ck_assert_uint_lt(res.records, n);
        ck_assert_uint_eq(rec.len, sizes[res.records]);
        char *want = malloc(rec.len + 1);
        fill(want, rec.len, res.records);
        ck_assert(rec.len == 0 || memcmp(want, rec.data, rec.len) == 0);
        free(want);
        res.records++;
    }
    /* The end is sticky. */
    ck_assert_int_eq(wal_reader_next(r, &rec), res.end);
    res.dropped = wal_reader_dropped_bytes(r);
    res.good = wal_reader_good_offset(r);
    wal_reader_free(r);
    return res;
}

static uint64_t file_size(const char *path)
{
    size_t len;
    free(slurp(path, &len));
    return len;
}

START_TEST(round_trip_of_block_edge_sizes)
{
    const size_t B = WAL_BLOCK_BYTES, H = WAL_HEADER_BYTES;
    size_t sizes[] = { 0, 1, 100, B - H, 0, B, B - H - 1, 3 * B + 100, 0, B - 2 * H, 1,
                       B - H - 3, 5, 1u << 20, 0, 7, B * 2 - H * 2, 12345 };
    size_t n = sizeof sizes / sizeof sizes[0];
    write_log(LOG_PATH, sizes, n);
    struct read_result res = read_log(LOG_PATH, sizes, n);
    ck_assert_uint_eq(res.records, n);
    ck_assert_int_eq(res.end, KV_ENOTFOUND);
    ck_assert_uint_eq(res.dropped, 0);
    ck_assert_uint_eq(res.good, file_size(LOG_PATH));
}
END_TEST

START_TEST(round_trip_of_many_random_records)
{
    enum { N = 5000 };
    static size_t sizes[N];
    struct kv_rand rnd;
    kv_rand_seed(&rnd, 42);
    for (size_t i = 0; i < N; i++)
        sizes[i] = kv_rand_below(&rnd, 8) == 0 ? kv_rand_below(&rnd, 70000) : kv_rand_below(&rnd, 300);
    write_log(LOG_PATH, sizes, N);
    struct read_result res = read_log(LOG_PATH, sizes, N);
    ck_assert_uint_eq(res.records, N);
    ck_assert_int_eq(res.end, KV_ENOTFOUND);
    ck_assert_uint_eq(res.dropped, 0);
}
END_TEST

START_TEST(writer_size_matches_file_and_layout)
{
    size_t sizes[] = { 10, WAL_BLOCK_BYTES };
    struct env_file *f;
    struct wal_writer *w;
    OK(env_open(env, LOG_PATH, ENV_OPEN_TRUNCATE, &f));
    OK(wal_writer_new(f, 0, &w));
    char buf[WAL_BLOCK_BYTES];
    fill(buf, sizes[0], 0);
    OK(wal_writer_add(w, kv_slice_make(buf, sizes[0])));
    ck_assert_uint_eq(wal_writer_size(w), WAL_HEADER_BYTES + 10);
    fill(buf, sizes[1], 1);
    OK(wal_writer_add(w, kv_slice_make(buf, sizes[1])));
    /* FIRST fills block 0, LAST carries the rest in block 1. */
    uint64_t first = WAL_BLOCK_BYTES - (WAL_HEADER_BYTES + 10) - WAL_HEADER_BYTES;
    ck_assert_uint_eq(wal_writer_size(w), WAL_BLOCK_BYTES + WAL_HEADER_BYTES + (WAL_BLOCK_BYTES - first));
    OK(wal_writer_close(w));
    ck_assert_uint_eq(file_size(LOG_PATH), WAL_BLOCK_BYTES + WAL_HEADER_BYTES + (WAL_BLOCK_BYTES - first));
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    ck_assert_int_eq(data[6], 1);                                  /* FULL */
    ck_assert_int_eq(data[17 + 6], 2);                             /* FIRST */
    ck_assert_int_eq(data[WAL_BLOCK_BYTES + 6], 4);                /* LAST */
    ck_assert_uint_eq(kv_get_fixed32(data), kv_crc32c_mask(kv_crc32c_extend(kv_crc32c("\x01", 1), data + 7, 10)));
    free(data);
}
END_TEST

START_TEST(record_is_written_with_one_append)
{
    struct env *fe;
    OK(env_fault_new(env, &fe));
    struct env_file *f;
    struct wal_writer *w;
    OK(env_open(fe, LOG_PATH, ENV_OPEN_TRUNCATE, &f));
    OK(wal_writer_new(f, 0, &w));
    static char big[3 * WAL_BLOCK_BYTES];
    env_fault_fail_after(fe, 1, KV_EIO);
    OK(wal_writer_add(w, kv_slice_make(big, sizeof big))); /* four fragments, one append */
    ck_assert_int_eq(wal_writer_add(w, kv_slice_make("x", 1)), KV_EIO);
    env_fault_fail_after(fe, -1, 0);
    /* The failure is sticky: the file may end inside a record. */
    ck_assert_int_eq(wal_writer_add(w, kv_slice_make("x", 1)), KV_EIO);
    ck_assert_int_eq(wal_writer_sync(w), KV_EIO);
    OK(wal_writer_close(w));
    env_destroy(fe);
}
END_TEST

START_TEST(oversized_record_is_refused)
{
    struct env_file *f;
    struct wal_writer *w;
    OK(env_open(env, LOG_PATH, ENV_OPEN_TRUNCATE, &f));
    OK(wal_writer_new(f, 0, &w));
    ck_assert_int_eq(wal_writer_add(w, kv_slice_make("", (size_t)WAL_RECORD_BYTES_MAX + 1)), KV_ETOOBIG);
    OK(wal_writer_add(w, kv_slice_make("ok", 2))); /* refusing is not an I/O failure */
    OK(wal_writer_close(w));
}
END_TEST

/* Cuts the file at every offset in [from, to) with the given stride and
 * checks that the last record is dropped as a torn tail. */
static void check_torn_tail(const size_t *sizes, size_t n, size_t stride)
{
    write_log(LOG_PATH, sizes, n - 1);
    uint64_t start = file_size(LOG_PATH);
    write_log(LOG_PATH, sizes, n);
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    for (size_t cut = start; cut < len; cut += (cut - start < 64 || len - cut < 64) ? 1 : stride) {
        put_file("/cut", data, cut);
        struct read_result res = read_log("/cut", sizes, n);
        ck_assert_msg(res.end == KV_ENOTFOUND, "cut=%zu end=%d", cut, res.end);
        ck_assert_uint_eq(res.records, n - 1);
        ck_assert_uint_eq(res.good, start);
        ck_assert_uint_eq(res.dropped, cut - start);
    }
    free(data);
}

START_TEST(torn_tail_at_every_offset_of_a_small_last_record_is_end_of_log)
{
    size_t sizes[] = { 50, WAL_BLOCK_BYTES - 200, 300 }; /* the last one crosses a block edge */
    check_torn_tail(sizes, 3, 1);
}
END_TEST

START_TEST(torn_tail_inside_a_multi_block_last_record_is_end_of_log)
{
    size_t sizes[] = { 1000, 4 * WAL_BLOCK_BYTES + 77 };
    check_torn_tail(sizes, 2, 211);
}
END_TEST

START_TEST(checksum_mismatch_in_a_middle_record_is_corrupt)
{
    size_t sizes[] = { 100, 100, 100, 100 };
    write_log(LOG_PATH, sizes, 4);
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    data[(7 + 100) + 7 + 50] ^= 1; /* a payload byte of record 1 */
    put_file(LOG_PATH, data, len);
    struct read_result res = read_log(LOG_PATH, sizes, 4);
    ck_assert_int_eq(res.end, KV_ECORRUPT);
    ck_assert_uint_eq(res.records, 1);
    free(data);
}
END_TEST

START_TEST(checksum_mismatch_in_the_last_record_is_a_torn_tail)
{
    size_t sizes[] = { 100, 100 };
    write_log(LOG_PATH, sizes, 2);
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    data[len - 1] ^= 0x40;
    put_file(LOG_PATH, data, len);
    struct read_result res = read_log(LOG_PATH, sizes, 2);
    ck_assert_int_eq(res.end, KV_ENOTFOUND);
    ck_assert_uint_eq(res.records, 1);
    ck_assert_uint_eq(res.dropped, 107);
    free(data);
}
END_TEST

START_TEST(bad_length_field_before_valid_records_is_corrupt)
{
    size_t sizes[] = { 100, 100, 100 };
    write_log(LOG_PATH, sizes, 3);
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    uint16_t lens[] = { 99, 101, 60000 };
    for (size_t i = 0; i < 3; i++) {
        char *copy = malloc(len);
        memcpy(copy, data, len);
        copy[107 + 4] = (char)(lens[i] & 0xff); /* length of record 1 */
        copy[107 + 5] = (char)(lens[i] >> 8);
        put_file(LOG_PATH, copy, len);
        struct read_result res = read_log(LOG_PATH, sizes, 3);
        ck_assert_msg(res.end == KV_ECORRUPT, "len=%u", lens[i]);
        ck_assert_uint_eq(res.records, 1);
        free(copy);
    }
    free(data);
}
END_TEST

START_TEST(hole_in_a_middle_block_is_corrupt)
{
    size_t sizes[] = { WAL_BLOCK_BYTES - 7, WAL_BLOCK_BYTES - 7, WAL_BLOCK_BYTES - 7 };
    write_log(LOG_PATH, sizes, 3);
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    memset(data + WAL_BLOCK_BYTES, 0, WAL_BLOCK_BYTES); /* block 1 never reached the disk */
    put_file(LOG_PATH, data, len);
    struct read_result res = read_log(LOG_PATH, sizes, 3);
    ck_assert_int_eq(res.end, KV_ECORRUPT);
    ck_assert_uint_eq(res.records, 1);
    free(data);
}
END_TEST

START_TEST(trailing_zero_padding_is_a_dropped_tail)
{
    size_t sizes[] = { 10, 20000, 30 };
    write_log(LOG_PATH, sizes, 3);
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    size_t pads[] = { 3, 7, 100, 2 * WAL_BLOCK_BYTES };
    for (size_t i = 0; i < 4; i++) {
        char *z = calloc(1, len + pads[i]);
        memcpy(z, data, len);
        put_file(LOG_PATH, z, len + pads[i]);
        struct read_result res = read_log(LOG_PATH, sizes, 3);
        ck_assert_int_eq(res.end, KV_ENOTFOUND);
        ck_assert_uint_eq(res.records, 3);
        ck_assert_uint_eq(res.good, len);
        ck_assert_uint_eq(res.dropped, pads[i]);
        free(z);
    }
    free(data);
}
END_TEST

START_TEST(trailing_garbage_is_a_dropped_tail)
{
    size_t sizes[] = { 10, 20 };
    write_log(LOG_PATH, sizes, 2);
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    char *g = malloc(len + 5000);
    memcpy(g, data, len);
    struct kv_rand rnd;
    kv_rand_seed(&rnd, 9);
    for (size_t k = 0; k < 5000; k++)
        g[len + k] = (char)kv_rand_next(&rnd);
    put_file(LOG_PATH, g, len + 5000);
    struct read_result res = read_log(LOG_PATH, sizes, 2);
    ck_assert_int_eq(res.end, KV_ENOTFOUND);
    ck_assert_uint_eq(res.records, 2);
    ck_assert_uint_eq(res.dropped, 5000);
    free(g);
    free(data);
}
END_TEST

START_TEST(fragment_out_of_sequence_is_corrupt)
{
    /* A FIRST fragment followed by a FULL record: the first record never ended. */
    size_t sizes[] = { 40000, 10 };
    write_log(LOG_PATH, sizes, 2);
    size_t len;
    char *data = slurp(LOG_PATH, &len);
    /* Drop the LAST fragment of record 0 (at block 1's start) by rebuilding
     * the file as block 0 + record 1's fragment re-encoded at block 1. */
    size_t last_len = 40000 - (WAL_BLOCK_BYTES - WAL_HEADER_BYTES);
    size_t rec1 = WAL_BLOCK_BYTES + WAL_HEADER_BYTES + last_len;
    memmove(data + WAL_BLOCK_BYTES, data + rec1, len - rec1);
    put_file(LOG_PATH, data, WAL_BLOCK_BYTES + (len - rec1));
    struct read_result res = read_log(LOG_PATH, sizes, 2);
    ck_assert_int_eq(res.end, KV_ECORRUPT);
    ck_assert_uint_eq(res.records, 0);
    free(data);
}
END_TEST

START_TEST(empty_file_is_an_empty_log)
{
    put_file(LOG_PATH, "", 0);
    struct read_result res = read_log(LOG_PATH, NULL, 0);
    ck_assert_int_eq(res.end, KV_ENOTFOUND);
    ck_assert_uint_eq(res.dropped, 0);
    ck_assert_uint_eq(res.good, 0);
}
END_TEST

START_TEST(reopen_with_append_at_good_offset_continues_the_log)
{
    size_t sizes[] = { 5, WAL_BLOCK_BYTES - 20, 9, 70000, 0, 33 };
    write_log(LOG_PATH, sizes, 2); /* ends at 12 + 7 + 32748 = 32767: 1 byte short of a block */
    struct read_result res = read_log(LOG_PATH, sizes, 6);
    ck_assert_uint_eq(res.records, 2);
    ck_assert_uint_eq(res.good, WAL_BLOCK_BYTES - 1);
    ck_assert_uint_eq(res.dropped, 0);

    struct env_file *f;
    struct wal_writer *w;
    OK(env_open(env, LOG_PATH, ENV_OPEN_APPEND, &f));
    OK(wal_writer_new(f, res.good, &w));
    for (size_t i = 2; i < 6; i++) {
        char *buf = malloc(sizes[i] + 1);
        fill(buf, sizes[i], i);
        OK(wal_writer_add(w, kv_slice_make(buf, sizes[i])));
        free(buf);
    }
    OK(wal_writer_close(w));
    res = read_log(LOG_PATH, sizes, 6);
    ck_assert_uint_eq(res.records, 6);
    ck_assert_int_eq(res.end, KV_ENOTFOUND);
    ck_assert_uint_eq(res.dropped, 0);
    ck_assert_uint_eq(res.good, file_size(LOG_PATH));
}
END_TEST

int main(void)
{
    kv_log_set_level(KV_LOG_WARN); /* one info line per torn tail would flood the output */
    Suite *s = suite_create("wal");
    TCase *tc = tcase_create("wal");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip_of_block_edge_sizes);
    tcase_add_test(tc, round_trip_of_many_random_records);
    tcase_add_test(tc, writer_size_matches_file_and_layout);
    tcase_add_test(tc, record_is_written_with_one_append);
    tcase_add_test(tc, oversized_record_is_refused);
    tcase_add_test(tc, torn_tail_at_every_offset_of_a_small_last_record_is_end_of_log);
    tcase_add_test(tc, torn_tail_inside_a_multi_block_last_record_is_end_of_log);
    tcase_add_test(tc, checksum_mismatch_in_a_middle_record_is_corrupt);
    tcase_add_test(tc, checksum_mismatch_in_the_last_record_is_a_torn_tail);
    tcase_add_test(tc, bad_length_field_before_valid_records_is_corrupt);
    tcase_add_test(tc, hole_in_a_middle_block_is_corrupt);
    tcase_add_test(tc, trailing_zero_padding_is_a_dropped_tail);
    tcase_add_test(tc, trailing_garbage_is_a_dropped_tail);
    tcase_add_test(tc, fragment_out_of_sequence_is_corrupt);
    tcase_add_test(tc, empty_file_is_an_empty_log);
    tcase_add_test(tc, reopen_with_append_at_good_offset_continues_the_log);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
