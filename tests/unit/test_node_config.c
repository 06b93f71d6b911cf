/* test_node_config.c - kvnode options: defaults, precedence of file < env <
 * flags, validation messages, addresses and --help. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/config.h"

static struct node_config cfg;

/* Loads with argv (NULL-terminated after the program name) and envp. */
static int load(char *const *argv, char *const *envp, enum node_config_action *action,
                struct kv_buf *err)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return node_config_load(&cfg, argc, argv, envp, action, err);
}

static int load_ok(char *const *argv, char *const *envp)
{
    struct kv_buf err = { 0 };
    enum node_config_action action;
    int rc = load(argv, envp, &action, &err);
    if (rc != KV_OK)
        fprintf(stderr, "unexpected error: %s\n", err.data ? err.data : "");
    kv_buf_free(&err);
    return rc;
}

/* Returns the error line of a load that must fail (static storage). */
static const char *load_error(char *const *argv, char *const *envp)
{
    static char msg[512];
    struct kv_buf err = { 0 };
    enum node_config_action action;
    int rc = load(argv, envp, &action, &err);
    snprintf(msg, sizeof msg, "%s", rc == KV_OK ? "no error" : (err.data ? err.data : ""));
    kv_buf_free(&err);
    return msg;
}

START_TEST(defaults_match_the_documented_limits)
{
    char *argv[] = { "kvnode", "--node-id", "n1", NULL };
    ck_assert_int_eq(load_ok(argv, NULL), KV_OK);
    ck_assert_str_eq(cfg.node_id, "n1");
    ck_assert_str_eq(cfg.cluster_name, "ringkv");
    ck_assert_uint_eq(cfg.key_bytes_max, KV_KEY_BYTES_MAX_DEFAULT);
    ck_assert_uint_eq(cfg.value_bytes_max, KV_VALUE_BYTES_MAX_DEFAULT);
    ck_assert_uint_eq(cfg.frame_bytes_max, KV_FRAME_BYTES_MAX_DEFAULT);
    ck_assert_uint_eq(cfg.max_connections, KV_CONNECTIONS_MAX_DEFAULT);
    ck_assert_uint_eq(cfg.idle_timeout_ms, KV_IDLE_TIMEOUT_MS_DEFAULT);
    ck_assert_uint_eq(cfg.frame_timeout_ms, KV_FRAME_TIMEOUT_MS_DEFAULT);
    ck_assert_uint_eq(cfg.request_timeout_ms, KV_REQUEST_TIMEOUT_MS_DEFAULT);
    ck_assert_uint_eq(cfg.conn_output_bytes_max, KV_CONN_OUTPUT_BYTES_MAX_DEFAULT);
    ck_assert_int_eq(cfg.sync, NODE_SYNC_PERIODIC);
    ck_assert_int_eq(cfg.log_level, KV_LOG_INFO);
    ck_assert_uint_eq(cfg.partitions, 256);
    ck_assert(cfg.resp_enabled && cfg.http_enabled);
    ck_assert_uint_eq(cfg.seed_count, 0);
}
END_TEST

START_TEST(contract_flags_are_parsed)
{
    char *argv[] = { "kvnode", "--node-id", "a-1", "--data-dir", "/tmp/x", "--listen", "127.0.0.1:9000",
                     "--resp=127.0.0.1:9001", "--http", "[::1]:9002", "--seeds", "h1:1,[::1]:2",
                     "--tls-mutual", "--tls-cert", "c", "--tls-key", "k", "--tls-ca", "ca", NULL };
    ck_assert_int_eq(load_ok(argv, NULL), KV_OK);
    ck_assert_str_eq(cfg.data_dir, "/tmp/x");
    ck_assert_str_eq(cfg.listen_addr.host, "127.0.0.1");
    ck_assert_uint_eq(cfg.listen_addr.port, 9000);
    ck_assert_uint_eq(cfg.resp_addr.port, 9001);
    ck_assert_str_eq(cfg.http_addr.host, "::1");
    ck_assert_uint_eq(cfg.seed_count, 2);
    ck_assert_str_eq(cfg.seed_addrs[0].host, "h1");
    ck_assert_uint_eq(cfg.seed_addrs[1].port, 2);
    ck_assert(cfg.tls_mutual);
}
END_TEST

static char tmpdir[64];

static const char *write_config(const char *text)
{
    static char path[128];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ringkv-cfg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(path, sizeof path, "%s/node.conf", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void remove_config(const char *path)
{
    unlink(path);
    rmdir(tmpdir);
}

START_TEST(flags_beat_env_which_beats_the_file)
{
    const char *path = write_config("# a comment\n\n node-id = from-file\n"
                                    "sync = always\nlog_level = \"debug\"\n"
                                    "max-connections = 7\n");
    char env_cfg[200];
    snprintf(env_cfg, sizeof env_cfg, "RINGKV_CONFIG=%s", path);
    char *envp[] = { env_cfg, "RINGKV_SYNC=none", "RINGKV_MAX_CONNECTIONS=8",
                     "RINGKV_BUILD_DIR=/ignored", NULL };
    char *argv[] = { "kvnode", "--max-connections", "9", NULL };
    ck_assert_int_eq(load_ok(argv, envp), KV_OK);
    ck_assert_str_eq(cfg.node_id, "from-file");       /* file only */
    ck_assert_int_eq(cfg.log_level, KV_LOG_DEBUG);     /* file only, quotes stripped */
    ck_assert_int_eq(cfg.sync, NODE_SYNC_NONE);        /* env over file */
    ck_assert_uint_eq(cfg.max_connections, 9);         /* flag over env */
    ck_assert_str_eq(cfg.config_file, path);
    remove_config(path);
}
END_TEST

START_TEST(config_file_errors_name_the_line)
{
    const char *path = write_config("node-id = x\nbogus = 1\n");
    char *argv[] = { "kvnode", "--config", (char *)path, NULL };
    char want[256];
    snprintf(want, sizeof want, "%s:2: unknown option 'bogus'", path);
    ck_assert_str_eq(load_error(argv, NULL), want);
    remove_config(path);

    char *missing[] = { "kvnode", "--config", "/nonexistent/ringkv.conf", NULL };
    ck_assert_str_eq(load_error(missing, NULL),
                     "config file /nonexistent/ringkv.conf: No such file or directory");
}
END_TEST

START_TEST(bad_values_give_one_clear_line)
{
    char *e1[] = { "kvnode", "--node-id", "n", "--sync", "sometimes", NULL };
    ck_assert_str_eq(load_error(e1, NULL), "--sync: expected always, periodic or none, got 'sometimes'");
    char *e2[] = { "kvnode", "--node-id", "n", "--max-connections", "0", NULL };
    ck_assert_str_eq(load_error(e2, NULL), "--max-connections: 0 is out of range [1, 1000000]");
    char *e3[] = { "kvnode", "--node-id", "n", "--listen", "nohost", NULL };
    ck_assert_str_eq(load_error(e3, NULL), "--listen: expected HOST:PORT, got 'nohost'");
    char *e4[] = { "kvnode", "--node-id", "n", "--frobnicate", NULL };
    ck_assert_str_eq(load_error(e4, NULL), "unknown option '--frobnicate' (see --help)");
    char *e5[] = { "kvnode", NULL };
    ck_assert_str_eq(load_error(e5, NULL), "--node-id: required; letters, digits, '.', '_' and '-' only");
    char *e6[] = { "kvnode", "--node-id", "n", "--partitions", "100", NULL };
    ck_assert_str_eq(load_error(e6, NULL), "--partitions: must be a power of two");
    char *e7[] = { "kvnode", "--node-id", "n", "--tls-mutual", NULL };
    ck_assert_str_eq(load_error(e7, NULL), "--tls-mutual: needs --tls-ca");
    char *e8[] = { "kvnode", "--node-id", NULL };
    ck_assert_str_eq(load_error(e8, NULL), "--node-id: missing value");
    char *e9[] = { "kvnode", "--node-id", "n", "stray", NULL };
    ck_assert_str_eq(load_error(e9, NULL), "unexpected argument 'stray' (see --help)");
    char *envp[] = { "RINGKV_IDLE_TIMEOUT_MS=soon", NULL };
    char *e10[] = { "kvnode", "--node-id", "n", NULL };
    ck_assert_str_eq(load_error(e10, envp), "RINGKV_IDLE_TIMEOUT_MS: expected a number, got 'soon'");
    char *e11[] = { "kvnode", "--node-id", "n", "--value-bytes-max", "20m", NULL };
    ck_assert_str_eq(load_error(e11, NULL),
                     "--frame-bytes-max: must exceed value-bytes-max + key-bytes-max + 64k");
}
END_TEST

START_TEST(sizes_take_binary_suffixes)
{
    char *argv[] = { "kvnode", "--node-id", "n", "--value-bytes-max", "1m", "--key-bytes-max=2KiB",
                     "--frame-bytes-max", "4096k", NULL };
    ck_assert_int_eq(load_ok(argv, NULL), KV_OK);
    ck_assert_uint_eq(cfg.value_bytes_max, 1024 * 1024);
    ck_assert_uint_eq(cfg.key_bytes_max, 2048);
    ck_assert_uint_eq(cfg.frame_bytes_max, 4096 * 1024);
}
END_TEST

START_TEST(anti_entropy_flags_take_on_off_and_check_ranges)
{
    char *def[] = { "kvnode", "--node-id", "n", NULL };
    ck_assert_int_eq(load_ok(def, NULL), KV_OK);
    ck_assert(cfg.aae);
    ck_assert_uint_eq(cfg.aae_interval_ms, 600000);
    ck_assert_uint_eq(cfg.aae_bytes_per_sec, 8 * 1024 * 1024);
    ck_assert_uint_eq(cfg.aae_exchanges_max, 2);
    char *off[] = { "kvnode", "--aae", "off", "--node-id", "n", "--aae-interval-ms", "2000",
                    "--aae-bytes-per-sec", "0", NULL };
    ck_assert_int_eq(load_ok(off, NULL), KV_OK);
    ck_assert(!cfg.aae);
    ck_assert_uint_eq(cfg.aae_interval_ms, 2000);
    ck_assert_uint_eq(cfg.aae_bytes_per_sec, 0);
    char *on[] = { "kvnode", "--node-id", "n", "--aae", NULL }; /* a bare boolean flag is "on" */
    char *env[] = { "RINGKV_AAE=off", NULL };
    ck_assert_int_eq(load_ok(on, env), KV_OK);
    ck_assert(cfg.aae);
    char *fast[] = { "kvnode", "--node-id", "n", "--aae-interval-ms", "10", NULL };
    ck_assert_ptr_nonnull(strstr(load_error(fast, NULL), "out of range"));
    char *many[] = { "kvnode", "--node-id", "n", "--aae-exchanges-max", "0", NULL };
    ck_assert_ptr_nonnull(strstr(load_error(many, NULL), "out of range"));
}
END_TEST

START_TEST(listeners_can_be_switched_off)
{
    char *argv[] = { "kvnode", "--node-id", "n", "--resp", "off", "--http=", NULL };
    ck_assert_int_eq(load_ok(argv, NULL), KV_OK);
    ck_assert(!cfg.resp_enabled);
    ck_assert(!cfg.http_enabled);
}
END_TEST

START_TEST(help_and_version_win_over_bad_flags)
{
    struct kv_buf err = { 0 };
    enum node_config_action action;
    char *h[] = { "kvnode", "--sync", "bad", "--help", NULL };
    ck_assert_int_eq(load(h, NULL, &action, &err), KV_OK);
    ck_assert_int_eq(action, NODE_CONFIG_HELP);
    char *v[] = { "kvnode", "--version", NULL };
    ck_assert_int_eq(load(v, NULL, &action, &err), KV_OK);
    ck_assert_int_eq(action, NODE_CONFIG_VERSION);
    kv_buf_free(&err);
}
END_TEST

START_TEST(help_lists_every_option_with_default_and_env)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    node_config_print_help(f, "kvnode");
    fclose(f);
    const char *must[] = { "--node-id ID", "RINGKV_NODE_ID", "--data-dir DIR", "RINGKV_DATA_DIR",
                           "--listen HOST:PORT", "RINGKV_LISTEN", "--resp HOST:PORT", "RINGKV_RESP",
                           "--http HOST:PORT", "RINGKV_HTTP", "--seeds HOST:PORT,...", "RINGKV_SEEDS",
                           "--config FILE", "RINGKV_CONFIG", "--sync MODE", "(default: periodic;",
                           "--tls-mutual ", "RINGKV_TLS_MUTUAL", "--partitions Q", "--n-replicas N",
                           "--help", "--version", "(default: 16m; env RINGKV_VALUE_BYTES_MAX)" };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        ck_assert_msg(strstr(text, must[i]), "help lacks '%s'", must[i]);
    free(text);
}
END_TEST

START_TEST(addresses_parse_and_reject_garbage)
{
    struct node_addr a;
    ck_assert_int_eq(node_addr_parse("localhost:65535", &a), KV_OK);
    ck_assert_str_eq(a.host, "localhost");
    ck_assert_uint_eq(a.port, 65535);
    ck_assert_int_eq(node_addr_parse("[fe80::1]:7", &a), KV_OK);
    ck_assert_str_eq(a.host, "fe80::1");
    const char *bad[] = { "", ":80", "h:", "h:0", "h:65536", "h:12x", "::1:80", "[]:1", "h:-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(node_addr_parse(bad[i], &a) == KV_EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("node_config");
    TCase *tc = tcase_create("node_config");
    tcase_add_test(tc, defaults_match_the_documented_limits);
    tcase_add_test(tc, contract_flags_are_parsed);
    tcase_add_test(tc, flags_beat_env_which_beats_the_file);
    tcase_add_test(tc, config_file_errors_name_the_line);
    tcase_add_test(tc, bad_values_give_one_clear_line);
    tcase_add_test(tc, sizes_take_binary_suffixes);
    tcase_add_test(tc, anti_entropy_flags_take_on_off_and_check_ranges);
    tcase_add_test(tc, listeners_can_be_switched_off);
    tcase_add_test(tc, help_and_version_win_over_bad_flags);
    tcase_add_test(tc, help_lists_every_option_with_default_and_env);
    tcase_add_test(tc, addresses_parse_and_reject_garbage);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
