/* test_http_head.c - the HTTP request-head parser (node/http_head.h):
 * accepted shapes, the HTTP_HEADER_BYTES_MAX limit, incomplete heads,
 * and each rule of the grammar that makes a head a 400 or a 413. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/http_head.h"

/* One-shot parse of the NUL-terminated head s. */
static int parse(const char *s, struct http_head *out)
{
    struct http_head h = { 0 };
    int rc = http_head_parse(&h, s, strlen(s));
    if (out)
        *out = h;
    return rc;
}

static int parse_status(const char *s) { return parse(s, NULL); }

/* "GET / HTTP/1.1\r\nX: aaa...\r\n\r\n" of exactly total bytes; caller frees. */
static char *head_of(size_t total)
{
    const char *pre = "GET /health HTTP/1.1\r\nX: ", *post = "\r\n\r\n";
    size_t fixed = strlen(pre) + strlen(post);
    ck_assert_uint_ge(total, fixed);
    char *s = malloc(total + 1);
    ck_assert_ptr_nonnull(s);
    strcpy(s, pre);
    memset(s + strlen(pre), 'a', total - fixed);
    strcpy(s + total - strlen(post), post);
    ck_assert_uint_eq(strlen(s), total);
    return s;
}

START_TEST(get_and_head_with_both_versions_are_accepted)
{
    const char *get11 = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    struct http_head h;
    ck_assert_int_eq(parse(get11, &h), 200);
    ck_assert_uint_eq(h.line_start, strlen(get11));
    ck_assert(h.get_or_head && !h.is_head);
    ck_assert_int_eq(h.route, HTTP_ROUTE_HEALTH);

    ck_assert_int_eq(parse("HEAD /metrics HTTP/1.0\r\n\r\n", &h), 200);
    ck_assert(h.get_or_head && h.is_head);
    ck_assert_int_eq(h.route, HTTP_ROUTE_METRICS);

    ck_assert_int_eq(parse("GET /metrics HTTP/1.0\r\n\r\n", &h), 200);
    ck_assert(h.get_or_head && !h.is_head);
    ck_assert_int_eq(parse("HEAD /health HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert(h.is_head);
}
END_TEST

START_TEST(head_length_excludes_bytes_after_the_empty_line)
{
    const char *s = "GET / HTTP/1.1\r\n\r\nBODY\r\n\r\n";
    struct http_head h;
    ck_assert_int_eq(parse(s, &h), 200);
    ck_assert_uint_eq(h.line_start, strlen("GET / HTTP/1.1\r\n\r\n"));
    ck_assert_int_eq(h.route, HTTP_ROUTE_NONE);
}
END_TEST

START_TEST(query_string_is_ignored_for_routing)
{
    struct http_head h;
    ck_assert_int_eq(parse("GET /health?verbose=1&x=%20 HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert_int_eq(h.route, HTTP_ROUTE_HEALTH);
    ck_assert_int_eq(parse("GET /metrics? HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert_int_eq(h.route, HTTP_ROUTE_METRICS);
    ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert_int_eq(h.route, HTTP_ROUTE_NONE);
    ck_assert_int_eq(parse("GET /health/ HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert_int_eq(h.route, HTTP_ROUTE_NONE);
}
END_TEST

START_TEST(head_of_exactly_the_limit_is_accepted_one_more_is_413)
{
    char *at = head_of(HTTP_HEADER_BYTES_MAX);
    struct http_head h;
    ck_assert_int_eq(parse(at, &h), 200);
    ck_assert_uint_eq(h.line_start, HTTP_HEADER_BYTES_MAX);
    free(at);
    char *over = head_of(HTTP_HEADER_BYTES_MAX + 1);
    ck_assert_int_eq(parse_status(over), 413);
    /* The server reads only HTTP_HEADER_BYTES_MAX bytes first: that much
     * without the head's end is already 413. */
    struct http_head part = { 0 };
    ck_assert_int_eq(http_head_parse(&part, over, HTTP_HEADER_BYTES_MAX), 413);
    struct http_head short1 = { 0 };
    ck_assert_int_eq(http_head_parse(&short1, over, HTTP_HEADER_BYTES_MAX - 1), 0);
    free(over);
}
END_TEST

START_TEST(incomplete_heads_need_more_bytes)
{
    ck_assert_int_eq(parse_status(""), 0);
    ck_assert_int_eq(parse_status("G"), 0);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1"), 0);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r"), 0);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\n"), 0);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nHost: x\r\n"), 0);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nHost: x\r\n\r"), 0);
}
END_TEST

START_TEST(byte_at_a_time_feeding_gives_the_same_head)
{
    const char *s = "HEAD /metrics?a=b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    size_t n = strlen(s);
    struct http_head h = { 0 };
    for (size_t len = 1; len < n; len++)
        ck_assert_int_eq(http_head_parse(&h, s, len), 0);
    ck_assert_int_eq(http_head_parse(&h, s, n), 200);
    ck_assert_uint_eq(h.line_start, n);
    ck_assert(h.is_head && h.get_or_head);
    ck_assert_int_eq(h.route, HTTP_ROUTE_METRICS);
}
END_TEST

START_TEST(bare_lf_is_400)
{
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nHost: x\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\n\n"), 400);
    ck_assert_int_eq(parse_status("\n"), 400);
    /* An empty line before the request line. */
    ck_assert_int_eq(parse_status("\r\nGET / HTTP/1.1\r\n\r\n"), 400);
}
END_TEST

START_TEST(folded_header_lines_are_400)
{
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\n: x\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
}
END_TEST

START_TEST(control_bytes_are_400_but_htab_and_high_bytes_pass)
{
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nX: a\rz\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET /a\x01 HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET /a\x7f HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET /\xc3\xa9 HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("G\x01T / HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nX:\ta\tb \xc3\xa9\r\n\r\n"), 200);
    /* A NUL byte inside the head (not a C string: length given). */
    const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    struct http_head h = { 0 };
    ck_assert_int_eq(http_head_parse(&h, nul, sizeof nul - 1), 400);
    const char nul_name[] = "GET / HTTP/1.1\r\nX\0Y: a\r\n\r\n";
    struct http_head h2 = { 0 };
    ck_assert_int_eq(http_head_parse(&h2, nul_name, sizeof nul_name - 1), 400);
    const char nul_method[] = "G\0T / HTTP/1.1\r\n\r\n";
    struct http_head h3 = { 0 };
    ck_assert_int_eq(http_head_parse(&h3, nul_method, sizeof nul_method - 1), 400);
}
END_TEST

START_TEST(only_http_1_0_and_1_1_are_versions)
{
    ck_assert_int_eq(parse_status("GET / HTTP/2.0\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.2\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / http/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1 \r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.10\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET /\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / \r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET  / HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET /  HTTP/1.1\r\n\r\n"), 400);
}
END_TEST

START_TEST(content_length_zero_passes_a_body_is_413_junk_is_400)
{
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 200);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\ncontent-length:000 \t\r\n\r\n"), 200);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 413);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nCONTENT-LENGTH: 0010\r\n\r\n"), 413);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Length:  \r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Length: +0\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Length: 0x0\r\n\r\n"), 400);
    /* Only the exact name counts. */
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nContent-Lengths: 9\r\n\r\n"), 200);
}
END_TEST

START_TEST(any_transfer_encoding_is_413)
{
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 413);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n"), 413);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n"), 413);
    ck_assert_int_eq(parse_status("GET / HTTP/1.1\r\nTransfer-Encodings: x\r\n\r\n"), 200);
}
END_TEST

START_TEST(methods_are_case_sensitive_tokens_of_at_most_16_bytes)
{
    struct http_head h;
    ck_assert_int_eq(parse("POST /health HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert(!h.get_or_head && !h.is_head);
    ck_assert_int_eq(h.route, HTTP_ROUTE_HEALTH);
    ck_assert_int_eq(parse("get /health HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert(!h.get_or_head);
    ck_assert_int_eq(parse("GETS / HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert(!h.get_or_head);
    ck_assert_int_eq(parse("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n", &h), 200);
    ck_assert_int_eq(parse_status("ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("GE(T / HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status(" / HTTP/1.1\r\n\r\n"), 400);
}
END_TEST

START_TEST(absolute_url_and_asterisk_targets_are_400)
{
    ck_assert_int_eq(parse_status("GET http://x/health HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("OPTIONS * HTTP/1.1\r\n\r\n"), 400);
    ck_assert_int_eq(parse_status("CONNECT x:80 HTTP/1.1\r\n\r\n"), 400);
}
END_TEST

START_TEST(empty_input_needs_more_and_reads_nothing)
{
    struct http_head h = { 0 };
    ck_assert_int_eq(http_head_parse(&h, "", 0), 0);
    ck_assert_int_eq(http_head_parse(&h, NULL, 0), 0);
    ck_assert_uint_eq(h.line_start, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_head");
    TCase *tc = tcase_create("http_head");
    tcase_add_test(tc, get_and_head_with_both_versions_are_accepted);
    tcase_add_test(tc, head_length_excludes_bytes_after_the_empty_line);
    tcase_add_test(tc, query_string_is_ignored_for_routing);
    tcase_add_test(tc, head_of_exactly_the_limit_is_accepted_one_more_is_413);
    tcase_add_test(tc, incomplete_heads_need_more_bytes);
    tcase_add_test(tc, byte_at_a_time_feeding_gives_the_same_head);
    tcase_add_test(tc, bare_lf_is_400);
    tcase_add_test(tc, folded_header_lines_are_400);
    tcase_add_test(tc, control_bytes_are_400_but_htab_and_high_bytes_pass);
    tcase_add_test(tc, only_http_1_0_and_1_1_are_versions);
    tcase_add_test(tc, content_length_zero_passes_a_body_is_413_junk_is_400);
    tcase_add_test(tc, any_transfer_encoding_is_413);
    tcase_add_test(tc, methods_are_case_sensitive_tokens_of_at_most_16_bytes);
    tcase_add_test(tc, absolute_url_and_asterisk_targets_are_400);
    tcase_add_test(tc, empty_input_needs_more_and_reads_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
