/* test_auth.c - node/auth: the users file grammar, PBKDF2 checks and the
 * verified-secret cache, roles, and what a Hello earns. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "node/auth.h"

/* Parses text, expecting success. */
static struct auth_users *parse_ok(const char *text)
{
    struct auth_users *u = NULL;
    char why[160] = "";
    int rc = auth_users_parse(text, strlen(text), &u, why, sizeof why);
    ck_assert_msg(rc == KV_OK, "parse failed: %s", why);
    return u;
}

/* Parses text, expecting KV_EINVAL with `needle` in the reason. */
static void parse_bad(const char *text, const char *needle)
{
    struct auth_users *u = NULL;
    char why[160] = "";
    ck_assert_int_eq(auth_users_parse(text, strlen(text), &u, why, sizeof why), KV_EINVAL);
    ck_assert_msg(strstr(why, needle) != NULL, "reason '%s' lacks '%s'", why, needle);
}

static void make_line(const char *name, enum auth_role role, const char *pw, char *out, size_t cap)
{
    ck_assert_int_eq(auth_hash_line(name, role, pw, strlen(pw), AUTH_PBKDF2_ITERATIONS_MIN, out, cap),
                     KV_OK);
}

START_TEST(hash_line_round_trips_and_checks_the_secret)
{
    char l1[AUTH_LINE_BYTES_MAX], l2[AUTH_LINE_BYTES_MAX], text[4 * AUTH_LINE_BYTES_MAX];
    make_line("alice", AUTH_ROLE_WRITE, "s3cret", l1, sizeof l1);
    make_line("bob", AUTH_ROLE_READ, "hunter2", l2, sizeof l2);
    ck_assert_ptr_null(strstr(l1, "s3cret"));
    ck_assert_int_eq(strncmp(l1, "alice:write:pbkdf2-sha256:1000:", 31), 0);
    snprintf(text, sizeof text, "# comment\n\n%s\r\n  \n%s", l1, l2);
    struct auth_users *u = parse_ok(text);
    ck_assert_uint_eq(auth_users_count(u), 2);
    enum auth_role role = AUTH_ROLE_NONE;
    ck_assert_int_eq(auth_check(u, "alice", "s3cret", 6, &role), KV_OK);
    ck_assert_int_eq(role, AUTH_ROLE_WRITE);
    /* second time: the verified-secret cache answers, with the same result */
    ck_assert_int_eq(auth_check(u, "alice", "s3cret", 6, &role), KV_OK);
    ck_assert_int_eq(auth_check(u, "alice", "s3cret!", 7, &role), KV_EAUTH);
    ck_assert_int_eq(auth_check(u, "alice", "hunter2", 7, &role), KV_EAUTH);
    ck_assert_int_eq(auth_check(u, "bob", "hunter2", 7, &role), KV_OK);
    ck_assert_int_eq(role, AUTH_ROLE_READ);
    ck_assert_int_eq(auth_check(u, "carol", "s3cret", 6, &role), KV_EAUTH);
    ck_assert_int_eq(auth_check(u, NULL, "", 0, &role), KV_EAUTH);
    auth_users_free(u);
}
END_TEST

START_TEST(same_secret_gets_a_different_salt)
{
    char l1[AUTH_LINE_BYTES_MAX], l2[AUTH_LINE_BYTES_MAX];
    make_line("a", AUTH_ROLE_ADMIN, "pw", l1, sizeof l1);
    make_line("a", AUTH_ROLE_ADMIN, "pw", l2, sizeof l2);
    ck_assert_str_ne(l1, l2);
}
END_TEST

START_TEST(hash_line_refuses_bad_input)
{
    char out[AUTH_LINE_BYTES_MAX];
    ck_assert_int_eq(auth_hash_line("bad name", AUTH_ROLE_READ, "x", 1, 1000, out, sizeof out), KV_EINVAL);
    ck_assert_int_eq(auth_hash_line("a", AUTH_ROLE_NODE, "x", 1, 1000, out, sizeof out), KV_EINVAL);
    ck_assert_int_eq(auth_hash_line("a", AUTH_ROLE_READ, "", 0, 1000, out, sizeof out), KV_EINVAL);
    ck_assert_int_eq(auth_hash_line("a", AUTH_ROLE_READ, "x", 1, 999, out, sizeof out), KV_EINVAL);
    ck_assert_int_eq(auth_hash_line("a", AUTH_ROLE_READ, "x", 1, 1000, out, 10), KV_EINVAL);
}
END_TEST

#define SALT "00112233445566778899aabbccddeeff"
#define HASH "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

START_TEST(malformed_lines_name_the_line_and_the_reason)
{
    parse_bad("a:read:pbkdf2-sha256:1000:" SALT, "line 1: expected NAME:ROLE");
    parse_bad("# c\na:read:pbkdf2-sha256:1000:" SALT ":" HASH ":extra", "line 2: expected");
    parse_bad("a b:read:pbkdf2-sha256:1000:" SALT ":" HASH, "user name");
    parse_bad(":read:pbkdf2-sha256:1000:" SALT ":" HASH, "user name");
    parse_bad("a:node:pbkdf2-sha256:1000:" SALT ":" HASH, "role must be");
    parse_bad("a:readwrite:pbkdf2-sha256:1000:" SALT ":" HASH, "role must be");
    parse_bad("a:read:sha1:1000:" SALT ":" HASH, "hash scheme");
    parse_bad("a:read:pbkdf2-sha256:999:" SALT ":" HASH, "iterations");
    parse_bad("a:read:pbkdf2-sha256:99999999999999999999999:" SALT ":" HASH, "iterations");
    parse_bad("a:read:pbkdf2-sha256:1x00:" SALT ":" HASH, "iterations");
    parse_bad("a:read:pbkdf2-sha256:1000:" SALT "0:" HASH, "hex digits");
    parse_bad("a:read:pbkdf2-sha256:1000:" SALT ":" "zz" HASH, "hex digits");
    parse_bad("a:read:pbkdf2-sha256:1000:" SALT ":" HASH "\na:write:pbkdf2-sha256:1000:" SALT ":" HASH,
              "line 2: user a appears twice");
}
END_TEST

START_TEST(an_empty_file_has_no_users)
{
    struct auth_users *u = parse_ok("# nobody yet\n");
    ck_assert_uint_eq(auth_users_count(u), 0);
    enum auth_role role;
    ck_assert_int_eq(auth_check(u, "a", "b", 1, &role), KV_EAUTH);
    auth_users_free(u);
}
END_TEST

START_TEST(roles_order_and_names)
{
    enum auth_role r;
    ck_assert(AUTH_ROLE_NONE < AUTH_ROLE_READ && AUTH_ROLE_READ < AUTH_ROLE_WRITE &&
              AUTH_ROLE_WRITE < AUTH_ROLE_ADMIN && AUTH_ROLE_ADMIN < AUTH_ROLE_NODE);
    ck_assert_int_eq(auth_role_parse("admin", &r), KV_OK);
    ck_assert_int_eq(r, AUTH_ROLE_ADMIN);
    ck_assert_int_eq(auth_role_parse("node", &r), KV_EINVAL);
    ck_assert_str_eq(auth_role_name(AUTH_ROLE_NODE), "node");
}
END_TEST

START_TEST(hello_roles)
{
    char line[AUTH_LINE_BYTES_MAX], why[256];
    make_line("w", AUTH_ROLE_WRITE, "pw", line, sizeof line);
    struct auth_users *u = parse_ok(line);
    enum auth_role r = AUTH_ROLE_NONE;
    /* authentication off: everything allowed */
    ck_assert_int_eq(auth_hello(NULL, "c1", false, "", NULL, NULL, NULL, &r, why, sizeof why), KV_OK);
    ck_assert_int_eq(r, AUTH_ROLE_NODE);
    ck_assert_int_eq(auth_hello(u, "c1", false, "", NULL, NULL, NULL, &r, why, sizeof why), KV_EAUTH);
    ck_assert_ptr_nonnull(strstr(why, "authentication required"));
    ck_assert_int_eq(auth_hello(u, "c1", false, "", NULL, "w", "bad", &r, why, sizeof why), KV_EAUTH);
    ck_assert_str_eq(why, "invalid user name or password");
    ck_assert_int_eq(auth_hello(u, "c1", false, "", NULL, "w", "pw", &r, why, sizeof why), KV_OK);
    ck_assert_int_eq(r, AUTH_ROLE_WRITE);
    /* a node needs its own certificate of this cluster; credentials do not make a node */
    ck_assert_int_eq(auth_hello(u, "c1", true, "n1", NULL, "w", "pw", &r, why, sizeof why), KV_EAUTH);
    ck_assert_int_eq(auth_hello(u, "c1", true, "n1", "ringkv://c1/node/n2", NULL, NULL, &r, why,
                                sizeof why), KV_EAUTH);
    ck_assert_int_eq(auth_hello(u, "c1", true, "n1", "ringkv://c2/node/n1", NULL, NULL, &r, why,
                                sizeof why), KV_EAUTH);
    ck_assert_int_eq(auth_hello(u, "c1", true, "n1", "ringkv://c1/client/n1", NULL, NULL, &r, why,
                                sizeof why), KV_EAUTH);
    ck_assert_int_eq(auth_hello(u, "c1", true, "", "ringkv://c1/node/", NULL, NULL, &r, why,
                                sizeof why), KV_EAUTH);
    ck_assert_int_eq(auth_hello(u, "c1", true, "n1", "ringkv://c1/node/n1", NULL, NULL, &r, why,
                                sizeof why), KV_OK);
    ck_assert_int_eq(r, AUTH_ROLE_NODE);
    auth_users_free(u);
}
END_TEST

START_TEST(oversized_file_is_refused)
{
    static char big[AUTH_FILE_BYTES_MAX + 2];
    memset(big, '#', sizeof big - 1);
    struct auth_users *u = NULL;
    char why[160];
    ck_assert_int_eq(auth_users_parse(big, sizeof big - 1, &u, why, sizeof why), KV_ETOOBIG);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hash_line_round_trips_and_checks_the_secret);
    tcase_add_test(tc, same_secret_gets_a_different_salt);
    tcase_add_test(tc, hash_line_refuses_bad_input);
    tcase_add_test(tc, malformed_lines_name_the_line_and_the_reason);
    tcase_add_test(tc, an_empty_file_has_no_users);
    tcase_add_test(tc, roles_order_and_names);
    tcase_add_test(tc, hello_roles);
    tcase_add_test(tc, oversized_file_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
