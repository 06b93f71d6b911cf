/* test_resp.c - the RESP2 parser (shapes, incremental feeding, limits,
 * protocol errors) and the reply encoder. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/resp.h"

static const struct resp_limits test_limits = {
    .args_max = 8,
    .bulk_bytes_max = 64,
    .inline_bytes_max = 32,
    .command_bytes_max = 256,
};

static bool arg_is(const struct resp_command *c, uint32_t i, const char *s)
{
    return i < c->argc && kv_slice_eq(c->argv[i], kv_slice_str(s));
}

START_TEST(multibulk_command_is_parsed_whole)
{
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    const char *in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
    struct resp_command c;
    long n = resp_parse(&p, in, strlen(in), &c);
    ck_assert_int_eq(n, (long)strlen(in));
    ck_assert_uint_eq(c.argc, 3);
    ck_assert(arg_is(&c, 0, "SET") && arg_is(&c, 1, "k") && arg_is(&c, 2, "hello"));
    resp_parser_free(&p);
}
END_TEST

START_TEST(byte_at_a_time_feeding_gives_the_same_command)
{
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    const char *in = "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n";
    size_t len = strlen(in);
    /* The bytes move between calls, as they may in a real input buffer. */
    char *copy = NULL;
    struct resp_command c;
    long n = 0;
    for (size_t have = 1; have <= len; have++) {
        free(copy);
        copy = malloc(have);
        memcpy(copy, in, have);
        n = resp_parse(&p, copy, have, &c);
        if (have < len) {
            ck_assert_int_eq(n, 0);
            ck_assert_uint_ge(resp_parser_bytes_wanted(&p, have), 1);
        }
    }
    ck_assert_int_eq(n, (long)len);
    ck_assert(arg_is(&c, 0, "ECHO") && arg_is(&c, 1, ""));
    free(copy);
    resp_parser_free(&p);
}
END_TEST

START_TEST(pipelined_commands_come_out_one_by_one)
{
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    const char *in = "*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n*1\r\n$4";
    size_t len = strlen(in), off = 0;
    struct resp_command c;
    const char *names[] = { "PING", "PING", "GET" };
    for (int i = 0; i < 3; i++) {
        long n = resp_parse(&p, in + off, len - off, &c);
        ck_assert_int_gt(n, 0);
        ck_assert(arg_is(&c, 0, names[i]));
        off += (size_t)n;
    }
    ck_assert_int_eq(resp_parse(&p, in + off, len - off, &c), 0);
    resp_parser_free(&p);
}
END_TEST

START_TEST(inline_command_splits_on_blanks)
{
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    const char *in = "  set\tkey  value\r\n";
    struct resp_command c;
    ck_assert_int_eq(resp_parse(&p, in, strlen(in), &c), (long)strlen(in));
    ck_assert_uint_eq(c.argc, 3);
    ck_assert(arg_is(&c, 0, "set") && arg_is(&c, 1, "key") && arg_is(&c, 2, "value"));
    /* A bare "\n" ends a line too; an empty line is an empty command. */
    ck_assert_int_eq(resp_parse(&p, "PING\n", 5, &c), 5);
    ck_assert(arg_is(&c, 0, "PING"));
    ck_assert_int_eq(resp_parse(&p, "\r\n", 2, &c), 2);
    ck_assert_uint_eq(c.argc, 0);
    resp_parser_free(&p);
}
END_TEST

START_TEST(empty_multibulk_is_an_empty_command)
{
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    struct resp_command c;
    ck_assert_int_eq(resp_parse(&p, "*0\r\n", 4, &c), 4);
    ck_assert_uint_eq(c.argc, 0);
    ck_assert_int_eq(resp_parse(&p, "*-1\r\n", 5, &c), 5);
    ck_assert_uint_eq(c.argc, 0);
    resp_parser_free(&p);
}
END_TEST

static const char *first_error(const char *in)
{
    static struct resp_parser p;
    static char msg[RESP_ERROR_BYTES_MAX];
    resp_parser_init(&p, &test_limits);
    struct resp_command c;
    long n = resp_parse(&p, in, strlen(in), &c);
    snprintf(msg, sizeof msg, "%s", n == KV_EPROTO ? resp_parser_error(&p) : "no error");
    resp_parser_free(&p);
    return msg;
}

START_TEST(broken_lengths_are_protocol_errors)
{
    ck_assert_str_eq(first_error("*x\r\n"), "invalid multibulk length");
    ck_assert_str_eq(first_error("*1x\r\n"), "invalid multibulk length");
    ck_assert_str_eq(first_error("*\r\n"), "invalid multibulk length");
    ck_assert_str_eq(first_error("*9\r\n"), "invalid multibulk length"); /* > args_max */
    ck_assert_str_eq(first_error("*1\r\n$-1\r\n"), "invalid bulk length");
    ck_assert_str_eq(first_error("*1\r\n$abc\r\n"), "invalid bulk length");
    ck_assert_str_eq(first_error("*1\r\n$65\r\n"), "invalid bulk length"); /* > bulk max */
    ck_assert_str_eq(first_error("*1\r\n$99999999999999999999\r\n"), "invalid bulk length");
    ck_assert_str_eq(first_error("*1\r\n+OK\r\n"), "expected '$'");
    ck_assert_str_eq(first_error("*1\r\n$2\r\nabXY"), "expected CRLF after bulk");
    ck_assert_str_eq(first_error("*1\r\n$2\nab\r\n"), "invalid bulk length");
    ck_assert_str_eq(first_error("*1\rX"), "invalid multibulk length");
}
END_TEST

START_TEST(overlong_count_fails_before_its_crlf)
{
    char in[RESP_HEADER_BYTES_MAX];
    memset(in, '1', sizeof in);
    in[0] = '*';
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    struct resp_command c;
    /* "*" and 19 digits may still become a header; the 20th digit cannot. */
    ck_assert_int_eq(resp_parse(&p, in, 1 + 19, &c), 0);
    ck_assert_int_eq(resp_parse(&p, in, 1 + 20, &c), KV_EPROTO);
    /* The parser stays failed. */
    ck_assert_int_eq(resp_parse(&p, "PING\r\n", 6, &c), KV_EPROTO);
    resp_parser_free(&p);
}
END_TEST

START_TEST(header_bytes_are_checked_as_they_arrive)
{
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    struct resp_command c;
    ck_assert_int_eq(resp_parse(&p, "*1", 2, &c), 0);
    ck_assert_int_eq(resp_parse(&p, "*1\r", 3, &c), 0);
    ck_assert_int_eq(resp_parse(&p, "*1x", 3, &c), KV_EPROTO);
    resp_parser_free(&p);
}
END_TEST

START_TEST(oversized_inline_line_and_command_are_rejected)
{
    char line[40];
    memset(line, 'a', sizeof line);
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    struct resp_command c;
    ck_assert_int_eq(resp_parse(&p, line, sizeof line, &c), KV_EPROTO);
    ck_assert_str_eq(resp_parser_error(&p), "too big inline request");
    resp_parser_free(&p);

    /* Five 60-byte bulks: each fits, the command (256 bytes max) does not. */
    resp_parser_init(&p, &test_limits);
    struct kv_buf in = { 0 };
    ck_assert_int_eq(kv_buf_append(&in, "*5\r\n", 4), KV_OK);
    long n = 0;
    for (int i = 0; i < 5 && n == 0; i++) {
        ck_assert_int_eq(kv_buf_appendf(&in, "$60\r\n%060d\r\n", i), KV_OK);
        n = resp_parse(&p, in.data, in.len, &c);
    }
    ck_assert_int_eq(n, KV_EPROTO);
    ck_assert_str_eq(resp_parser_error(&p), "command too large");
    kv_buf_free(&in);
    resp_parser_free(&p);
}
END_TEST

START_TEST(too_many_inline_words_is_an_error)
{
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    struct resp_command c;
    const char *in = "a b c d e f g h i\r\n"; /* 9 words, args_max 8 */
    ck_assert_int_eq(resp_parse(&p, in, strlen(in), &c), KV_EPROTO);
    resp_parser_free(&p);
}
END_TEST

START_TEST(bytes_wanted_counts_the_missing_bulk)
{
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    struct resp_command c;
    const char *in = "*1\r\n$40\r\nabc";
    ck_assert_int_eq(resp_parse(&p, in, strlen(in), &c), 0);
    /* 40 bytes + CRLF after the 9 header bytes; 3 present. */
    ck_assert_uint_eq(resp_parser_bytes_wanted(&p, strlen(in)), 40 + 2 - 3);
    resp_parser_free(&p);
}
END_TEST

START_TEST(encoder_writes_every_reply_type)
{
    struct resp_writer w = { 0 };
    resp_put_simple(&w, "OK");
    resp_put_error(&w, "ERR bad\r\nthing");
    resp_put_int(&w, -42);
    resp_put_int(&w, INT64_MIN);
    resp_put_bulk(&w, "hi", 2);
    resp_put_bulk(&w, "", 0);
    resp_put_null(&w);
    resp_put_array(&w, 2);
    resp_put_errorf(&w, "ERR n=%d", 7);
    ck_assert(!resp_writer_failed(&w));
    ck_assert_str_eq(w.buf.data, "+OK\r\n-ERR bad  thing\r\n:-42\r\n:-9223372036854775808\r\n"
                                 "$2\r\nhi\r\n$0\r\n\r\n$-1\r\n*2\r\n-ERR n=7\r\n");
    resp_writer_reset(&w);
    ck_assert_uint_eq(w.buf.len, 0);
    resp_writer_free(&w);
}
END_TEST

START_TEST(encoded_replies_parse_back_as_bulks)
{
    /* A request built with the encoder's bulk format is a valid command. */
    struct resp_writer w = { 0 };
    resp_put_array(&w, 2);
    resp_put_bulk(&w, "GET", 3);
    resp_put_bulk(&w, "a\r\nb", 4);
    struct resp_parser p;
    resp_parser_init(&p, &test_limits);
    struct resp_command c;
    ck_assert_int_eq(resp_parse(&p, w.buf.data, w.buf.len, &c), (long)w.buf.len);
    ck_assert(arg_is(&c, 1, "a\r\nb"));
    resp_parser_free(&p);
    resp_writer_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("resp");
    tcase_add_test(tc, multibulk_command_is_parsed_whole);
    tcase_add_test(tc, byte_at_a_time_feeding_gives_the_same_command);
    tcase_add_test(tc, pipelined_commands_come_out_one_by_one);
    tcase_add_test(tc, inline_command_splits_on_blanks);
    tcase_add_test(tc, empty_multibulk_is_an_empty_command);
    tcase_add_test(tc, broken_lengths_are_protocol_errors);
    tcase_add_test(tc, overlong_count_fails_before_its_crlf);
    tcase_add_test(tc, header_bytes_are_checked_as_they_arrive);
    tcase_add_test(tc, oversized_inline_line_and_command_are_rejected);
    tcase_add_test(tc, too_many_inline_words_is_an_error);
    tcase_add_test(tc, bytes_wanted_counts_the_missing_bulk);
    tcase_add_test(tc, encoder_writes_every_reply_type);
    tcase_add_test(tc, encoded_replies_parse_back_as_bulks);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
