/*
 * kvctl.c - the admin and data CLI of ringkv, built on the public SDK only.
 *
 *     kvctl [OPTIONS] COMMAND [ARGS...]      (kvctl --help, kvctl COMMAND --help)
 *
 * Commands are rows of kvctl_cmds[] (name, synopsis, help, argument
 * counts, handler); options are rows of kvctl_opts[], each either global
 * or limited to the commands named in its row. Adding a command (ring,
 * members, join, plan, commit come with later issues) is one handler and
 * one row in each table that concerns it (the cluster commands are the rows
 * of KVCTL_ADMIN_ROWS, client/kvctl_admin.h). Options may appear anywhere
 * before "--"; everything after "--" is an argument, so a value that
 * starts with "-" is written `kvctl put KEY -- -5`.
 *
 * Output goes to stdout; every error is one line on stderr
 * ("kvctl: get: not found"); the exit code says what happened
 * (client/kvctl_fmt.h, listed by --help).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/kvctl_aae.h"
#include "client/kvctl_transfers.h"
#include "client/kvctl_admin.h"
#include "client/kvctl_fmt.h"
#include "client/kvctl_local.h"
#include "client/ringkv.h"

#define KVCTL_HOST_DEFAULT "127.0.0.1:7400"   /* kvnode's default --listen */
#define KVCTL_ARGS_MAX 8
/* Largest value read from stdin or a file: above any node's value limit
 * (32 MiB), so the node, not kvctl, says RKV_ETOOBIG for big ones. */
#define KVCTL_VALUE_BYTES_MAX (64u * 1024u * 1024u)
#define KVCTL_READ_CHUNK_BYTES (64u * 1024u)

struct kvctl {
    /* global options */
    const char *host_args[RKV_HOSTS_MAX];  /* --host values as given (argv) */
    size_t nhost_args;
    const char *hosts[RKV_HOSTS_MAX];      /* split at commas, pointing into host_list */
    size_t nhosts;
    char *host_list;
    struct rkv_options opts;
    struct rkv_request_options req;
    char password[RKV_PASSWORD_BYTES_MAX + 2];  /* --password-file; wiped before exit */
    bool json;
    bool help;
    bool all;                              /* hints --all: ask every live member */
    /* command options */
    uint64_t ttl_ms;
    enum rkv_condition condition;
    const char *context_b64;
    const char *file;
    /* the command */
    const struct kvctl_cmd *cmd;
    const char *args[KVCTL_ARGS_MAX];
    int nargs;
    struct rkv_client *client;
};

struct kvctl_cmd {
    const char *name;
    const char *synopsis;   /* what follows the command name */
    const char *summary;    /* one line for kvctl --help */
    const char *help;       /* kvctl COMMAND --help: output and exit codes */
    int min_args, max_args;
    int (*run)(struct kvctl *k);
};

static const struct kvctl_cmd kvctl_cmds[];

/* ---- errors and exit codes ---- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints one "kvctl: ..." line about a bad command line; returns KVCTL_EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kvctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see kvctl --help)\n", stderr);
    va_end(ap);
    return KVCTL_EXIT_USAGE;
}

/* Prints the failure of k's command as one line; returns its exit code. */
static int fail(struct kvctl *k, int rc)
{
    return kvctl_fmt_fail(k->cmd->name, rc, k->client);
}

/* ---- reading values ---- */

/* Reads all of f into *out (malloc'd, NUL-terminated). 0, or an errno. */
static int read_all(FILE *f, char **out, size_t *len_out)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;
    for (;;) {
        if (cap - len < KVCTL_READ_CHUNK_BYTES + 1) {
            cap = cap ? cap * 2 : 2 * KVCTL_READ_CHUNK_BYTES;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return ENOMEM;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len > KVCTL_VALUE_BYTES_MAX) {
            free(buf);
            return EFBIG;
        }
        if (n == 0) {
            if (ferror(f)) {
                free(buf);
                return EIO;
            }
            break;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *len_out = len;
    return 0;
}

/* The value of put: the argument, stdin ("-") or --file. *owned is what to free. */
static int put_value(struct kvctl *k, const char **value, size_t *len, char **owned)
{
    *owned = NULL;
    const char *arg = k->nargs > 1 ? k->args[1] : NULL;
    if ((arg != NULL) == (k->file != NULL))
        return usage_error("put: give the value once: as an argument, '-' (stdin) or --file FILE");
    if (arg != NULL && strcmp(arg, "-") != 0) {
        *value = arg;
        *len = strlen(arg);
        return KVCTL_EXIT_OK;
    }
    FILE *f = arg ? stdin : fopen(k->file, "rb");
    if (f == NULL) {
        fprintf(stderr, "kvctl: put: cannot open %s: %s\n", k->file, strerror(errno));
        return KVCTL_EXIT_USAGE;
    }
    int err = read_all(f, owned, len);
    if (f != stdin)
        fclose(f);
    if (err != 0) {
        fprintf(stderr, "kvctl: put: cannot read %s: %s\n", arg ? "stdin" : k->file,
                err == EFBIG ? "value over 64 MiB" : strerror(err));
        return KVCTL_EXIT_USAGE;
    }
    *value = *owned;
    return KVCTL_EXIT_OK;
}

/* Decodes --context into *out (NULL if not given). */
static int context_arg(struct kvctl *k, struct rkv_context **out)
{
    *out = NULL;
    if (k->context_b64 == NULL)
        return KVCTL_EXIT_OK;
    size_t cap = strlen(k->context_b64) / 4 * 3 + 1, n = 0;
    char *bytes = malloc(cap);
    int rc = KVCTL_EXIT_USAGE;
    if (bytes == NULL || !kvctl_fmt_base64_decode(k->context_b64, bytes, &n) || n == 0)
        usage_error("--context: expected the base64 context printed by get --json, got '%s'",
                    k->context_b64);
    else if (rkv_context_from_bytes(bytes, n, out) == RKV_OK)
        rc = KVCTL_EXIT_OK;
    free(bytes);
    return rc;
}

static void print_context(const struct rkv_context *ctx)
{
    size_t n = 0;
    const void *p = rkv_context_bytes(ctx, &n);
    char *b64 = malloc(kvctl_fmt_base64_len(n) + 1);
    if (b64 == NULL) {
        fputs("null", stdout);
        return;
    }
    kvctl_fmt_base64_encode(p, n, b64);
    printf("\"%s\"", b64);
    free(b64);
}

static void print_ok(struct kvctl *k)
{
    puts(k->json ? "{\"ok\":true}" : "OK");
}

/* ---- commands ---- */

static int cmd_put(struct kvctl *k)
{
    const char *value = NULL;
    size_t len = 0;
    char *owned = NULL;
    struct rkv_context *ctx = NULL, *written = NULL;
    int rc = put_value(k, &value, &len, &owned);
    if (rc == KVCTL_EXIT_OK)
        rc = context_arg(k, &ctx);
    if (rc != KVCTL_EXIT_OK)
        goto done;
    struct rkv_put_args args = { ctx, k->ttl_ms, k->condition };
    int st = rkv_put(k->client, k->args[0], strlen(k->args[0]), value, len, &args, &k->req,
                     k->json ? &written : NULL);
    if (st != RKV_OK) {
        rc = fail(k, st);
        goto done;
    }
    if (k->json) {
        fputs("{\"ok\":true,\"context\":", stdout);
        print_context(written);
        puts("}");
    } else {
        puts("OK");
    }
done:
    rkv_context_free(written);
    rkv_context_free(ctx);
    free(owned);
    return rc;
}

static void print_get_json(const char *key, const struct rkv_get_result *r)
{
    fputc('{', stdout);
    kvctl_fmt_json_bytes(stdout, "key", key, strlen(key));
    printf(",\"found\":%s,\"siblings\":[", r->found ? "true" : "false");
    for (size_t i = 0; i < r->nsiblings; i++) {
        const struct rkv_sibling *s = &r->siblings[i];
        fputs(i ? ",{" : "{", stdout);
        kvctl_fmt_json_bytes(stdout, "value", s->value, s->value_len);
        printf(",\"expires_at_ms\":%llu}", (unsigned long long)s->expires_at_ms);
    }
    fputs("],\"context\":", stdout);
    print_context(r->context);
    puts("}");
}

/* One value: its exact bytes (a newline added only on a terminal). Several:
 * each under a header line, so that siblings are told apart. */
static void print_get_text(const struct rkv_get_result *r)
{
    bool tty = isatty(STDOUT_FILENO);
    for (size_t i = 0; i < r->nsiblings; i++) {
        const struct rkv_sibling *s = &r->siblings[i];
        if (r->nsiblings > 1)
            printf("--- sibling %zu of %zu (%zu bytes) ---\n", i + 1, r->nsiblings, s->value_len);
        fwrite(s->value, 1, s->value_len, stdout);
        bool newline_end = s->value_len > 0 && ((const char *)s->value)[s->value_len - 1] == '\n';
        if (r->nsiblings > 1 || (tty && !newline_end))
            fputc('\n', stdout);
    }
}

static int cmd_get(struct kvctl *k)
{
    struct rkv_get_result *r = NULL;
    int st = rkv_get(k->client, k->args[0], strlen(k->args[0]), &k->req, &r);
    if (st != RKV_OK)
        return fail(k, st);
    if (k->json)
        print_get_json(k->args[0], r);
    else if (r->found)
        print_get_text(r);
    int rc = r->found ? KVCTL_EXIT_OK : KVCTL_EXIT_NOT_FOUND;
    if (!r->found && !k->json)
        fprintf(stderr, "kvctl: get: %s\n", rkv_strerror(RKV_ENOTFOUND));
    rkv_get_result_free(r);
    return rc;
}

static int cmd_del(struct kvctl *k)
{
    struct rkv_context *ctx = NULL;
    int rc = context_arg(k, &ctx);
    if (rc != KVCTL_EXIT_OK)
        return rc;
    bool found = false;
    int st = rkv_delete(k->client, k->args[0], strlen(k->args[0]), ctx, &k->req, &found);
    rkv_context_free(ctx);
    if (st != RKV_OK)
        return fail(k, st);
    if (k->json)
        printf("{\"ok\":true,\"found\":%s}\n", found ? "true" : "false");
    else
        puts(found ? "deleted" : "not found");
    return found ? KVCTL_EXIT_OK : KVCTL_EXIT_NOT_FOUND;
}

static int cmd_ttl(struct kvctl *k)
{
    int64_t ttl = 0;
    int st = rkv_ttl(k->client, k->args[0], strlen(k->args[0]), &k->req, &ttl);
    if (st != RKV_OK)
        return fail(k, st);
    if (k->json)
        printf("{\"ttl_ms\":%lld}\n", (long long)ttl);
    else
        printf("%lld\n", (long long)ttl);
    return KVCTL_EXIT_OK;
}

static int cmd_expire(struct kvctl *k)
{
    uint64_t ms = 0;
    if (!kvctl_fmt_parse_u64(k->args[1], 1, UINT64_MAX, &ms))
        return usage_error("expire: expected a ttl in ms >= 1, got '%s'", k->args[1]);
    int st = rkv_expire(k->client, k->args[0], strlen(k->args[0]), ms, &k->req);
    if (st != RKV_OK)
        return fail(k, st);
    print_ok(k);
    return KVCTL_EXIT_OK;
}

static int cmd_persist(struct kvctl *k)
{
    int st = rkv_persist(k->client, k->args[0], strlen(k->args[0]), &k->req);
    if (st != RKV_OK)
        return fail(k, st);
    print_ok(k);
    return KVCTL_EXIT_OK;
}

static int cmd_incr(struct kvctl *k)
{
    int64_t delta = 1, value = 0;
    if (k->nargs > 1 && !kvctl_fmt_parse_i64(k->args[1], &delta))
        return usage_error("incr: expected an integer delta, got '%s'", k->args[1]);
    int st = rkv_incr(k->client, k->args[0], strlen(k->args[0]), delta, &k->req, &value);
    if (st != RKV_OK)
        return fail(k, st);
    if (k->json)
        printf("{\"value\":%lld}\n", (long long)value);
    else
        printf("%lld\n", (long long)value);
    return KVCTL_EXIT_OK;
}

static int cmd_ping(struct kvctl *k)
{
    uint64_t rtt_us = 0;
    int st = rkv_ping(k->client, &k->req, &rtt_us);
    if (st != RKV_OK)
        return fail(k, st);
    const char *host = rkv_current_host(k->client);
    if (k->json) {
        fputs("{\"host\":", stdout);
        kvctl_fmt_json_string(stdout, host, strlen(host));
        printf(",\"rtt_us\":%llu}\n", (unsigned long long)rtt_us);
    } else {
        printf("PONG from %s in %llu us\n", host, (unsigned long long)rtt_us);
    }
    return KVCTL_EXIT_OK;
}

/* A stat value printed as a JSON number when it is one, else as a string. */
static bool json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return false;
    s += strspn(s, "0123456789");
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        s += strspn(s, "0123456789");
    }
    return *s == '\0';
}

static int cmd_stats(struct kvctl *k)
{
    struct rkv_stat *stats = NULL;
    size_t n = 0;
    int st = rkv_stats(k->client, &k->req, &stats, &n);
    if (st != RKV_OK)
        return fail(k, st);
    if (k->json)
        fputc('{', stdout);
    for (size_t i = 0; i < n; i++) {
        if (!k->json) {
            printf("%s %s\n", stats[i].name, stats[i].value);
            continue;
        }
        if (i)
            fputc(',', stdout);
        kvctl_fmt_json_string(stdout, stats[i].name, strlen(stats[i].name));
        fputc(':', stdout);
        if (json_number(stats[i].value))
            fputs(stats[i].value, stdout);
        else
            kvctl_fmt_json_string(stdout, stats[i].value, strlen(stats[i].value));
    }
    if (k->json)
        puts("}");
    rkv_stats_free(stats);
    return KVCTL_EXIT_OK;
}

/* The cluster commands live in kvctl_admin.c. */
static int cmd_admin(struct kvctl *k)
{
    if (k->all)
        return kvctl_admin_hints_all(k->client, &k->opts, &k->req, k->json);
    return kvctl_admin_run(k->cmd->name, k->client, &k->req, k->json, k->nargs ? k->args[0] : NULL);
}

/* kvctl repair and aae-status live in kvctl_aae.c. */
static int cmd_aae(struct kvctl *k)
{
    return kvctl_aae_run(k->cmd->name, k->client, &k->req, k->json, k->nargs ? k->args[0] : NULL);
}

/* kvctl transfers lives in kvctl_transfers.c. */
static int cmd_transfers(struct kvctl *k) { return kvctl_transfers_run(k->client, &k->opts, &k->req, k->json); }

/* kvctl local-get lives in kvctl_local.c. */
static int cmd_local(struct kvctl *k) { return kvctl_local_run(k->client, &k->req, k->json, k->args[0]); }

/* ---- the command table ---- */

static const struct kvctl_cmd kvctl_cmds[] = {
    { "put", "KEY (VALUE | - | --file FILE) [--ttl MS] [--nx | --xx] [--context B64]",
      "write a value",
      "Writes VALUE under KEY. The value is the argument, or all of stdin for '-',\n"
      "or all of FILE for --file (binary safe; to store the text '-' use --file).\n"
      "  --ttl MS        expire MS milliseconds after the write\n"
      "  --nx            only if KEY has no live value (else exit 3, already exists)\n"
      "  --xx            only if KEY has a live value (else exit 1, not found)\n"
      "  --context B64   supersede what a read saw: the \"context\" of get --json;\n"
      "                  without it the write overwrites every sibling\n"
      "Prints OK (--json: {\"ok\":true,\"context\":B64}).\n",
      1, 2, cmd_put },
    { "get", "KEY", "read a value",
      "Prints the value of KEY: its exact bytes (a newline is added only on a\n"
      "terminal). Concurrent writes leave several siblings; each is then printed\n"
      "after a line '--- sibling I of N (LEN bytes) ---'. Exit 1 if KEY has no live\n"
      "value. --json prints {\"key\":...,\"found\":BOOL,\"siblings\":[{\"value\":TEXT |\n"
      "\"value_base64\":B64,\"expires_at_ms\":MS},...],\"context\":B64}: text values as\n"
      "JSON strings, other bytes base64; pass context to put --context to resolve.\n",
      1, 1, cmd_get },
    { "del", "KEY [--context B64]", "delete a key",
      "Deletes KEY (a tombstone is written). Prints 'deleted', or 'not found' with\n"
      "exit 1 when KEY had no live value. --context B64 deletes only what a read saw.\n",
      1, 1, cmd_del },
    { "ttl", "KEY", "print the remaining time to live",
      "Prints the milliseconds until KEY expires, or -1 if it never expires.\n"
      "Exit 1 if KEY has no live value. --json: {\"ttl_ms\":N}.\n",
      1, 1, cmd_ttl },
    { "expire", "KEY MS", "set a key to expire",
      "Makes KEY expire MS (>= 1) milliseconds from now. Exit 1 if KEY has no live\n"
      "value (nothing changes). Prints OK.\n",
      2, 2, cmd_expire },
    { "persist", "KEY", "remove the expiry of a key",
      "Removes the expiry of KEY. Exit 1 if KEY has no live value. Prints OK.\n",
      1, 1, cmd_persist },
    { "incr", "KEY [DELTA]", "add to a counter",
      "Adds DELTA (default 1, may be negative) to the 64-bit counter KEY (a missing\n"
      "key counts as 0) and prints the new value. Exit 3 if KEY holds something\n"
      "other than an integer, or the sum overflows. --json: {\"value\":N}.\n",
      1, 2, cmd_incr },
    { "ping", "", "check that a node answers",
      "Sends a ping to the node and prints 'PONG from HOST in N us'.\n"
      "--json: {\"host\":HOST,\"rtt_us\":N}.\n",
      0, 0, cmd_ping },
    { "stats", "", "print node statistics",
      "Prints the node's statistics, one 'name value' per line (--json: one object).\n",
      0, 0, cmd_stats },
    KVCTL_ADMIN_ROWS(cmd_admin),
    KVCTL_LOCAL_ROWS(cmd_local),
    KVCTL_AAE_ROWS(cmd_aae),
    KVCTL_TRANSFERS_ROWS(cmd_transfers),
};
#define KVCTL_CMDS_COUNT (sizeof kvctl_cmds / sizeof kvctl_cmds[0])

static const struct kvctl_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < KVCTL_CMDS_COUNT; i++)
        if (strcmp(kvctl_cmds[i].name, name) == 0)
            return &kvctl_cmds[i];
    return NULL;
}

/* ---- options ---- */

struct kvctl_opt {
    const char *name;       /* without "--" */
    const char *arg;        /* NULL: a flag */
    const char *cmds;       /* NULL: global; else the commands that take it, space-separated */
    const char *help;       /* global options only: a line of kvctl --help */
    int (*set)(struct kvctl *k, const char *value);
};

static int set_host(struct kvctl *k, const char *v)
{
    if (k->nhost_args == RKV_HOSTS_MAX)
        return usage_error("--host: at most %d hosts", RKV_HOSTS_MAX);
    k->host_args[k->nhost_args++] = v;
    return KVCTL_EXIT_OK;
}

static int set_cluster(struct kvctl *k, const char *v)
{
    if (v[0] == '\0' || strlen(v) > RKV_CLUSTER_NAME_BYTES_MAX)
        return usage_error("--cluster: expected a name of 1..64 bytes, got '%s'", v);
    k->opts.cluster_name = v;
    return KVCTL_EXIT_OK;
}

static int set_user(struct kvctl *k, const char *v)
{
    if (v[0] == '\0' || strlen(v) > RKV_USER_BYTES_MAX)
        return usage_error("--user: expected a name of 1..%d bytes", RKV_USER_BYTES_MAX);
    k->opts.user = v;
    return KVCTL_EXIT_OK;
}

/* The first line of FILE ("-": stdin) is the password; it is never printed. */
static int set_password_file(struct kvctl *k, const char *v)
{
    FILE *f = strcmp(v, "-") == 0 ? stdin : fopen(v, "r");
    if (f == NULL)
        return usage_error("--password-file: cannot open '%s': %s", v, strerror(errno));
    bool ok = fgets(k->password, sizeof k->password, f) != NULL;
    if (f != stdin)
        fclose(f);
    size_t len = ok ? strcspn(k->password, "\r\n") : 0;
    if (!ok || len == 0 || len > RKV_PASSWORD_BYTES_MAX)
        return usage_error("--password-file: '%s' must hold a password of 1..%d bytes on its "
                           "first line", v, RKV_PASSWORD_BYTES_MAX);
    k->password[len] = '\0';
    k->opts.password = k->password;
    return KVCTL_EXIT_OK;
}

static int set_timeout(struct kvctl *k, const char *v)
{
    uint64_t ms = 0;
    if (!kvctl_fmt_parse_u64(v, 1, 24u * 3600u * 1000u, &ms))
        return usage_error("--timeout: expected milliseconds (1..86400000), got '%s'", v);
    k->req.timeout_ms = (uint32_t)ms;
    k->opts.request_timeout_ms = (uint32_t)ms;
    if (k->opts.connect_timeout_ms > ms)
        k->opts.connect_timeout_ms = (uint32_t)ms;
    return KVCTL_EXIT_OK;
}

static int set_retries(struct kvctl *k, const char *v)
{
    uint64_t n = 0;
    if (!kvctl_fmt_parse_u64(v, 0, 100, &n))
        return usage_error("--retries: expected 0..100, got '%s'", v);
    k->opts.retries = (uint32_t)n;
    return KVCTL_EXIT_OK;
}

static int set_consistency(struct kvctl *k, const char *v)
{
    uint64_t n = 0;
    if (strcmp(v, "one") == 0)
        k->req.consistency = RKV_CONSISTENCY_ONE;
    else if (strcmp(v, "quorum") == 0)
        k->req.consistency = RKV_CONSISTENCY_QUORUM;
    else if (strcmp(v, "all") == 0)
        k->req.consistency = RKV_CONSISTENCY_ALL;
    else if (kvctl_fmt_parse_u64(v, 1, 64, &n))
        k->req.replicas = (uint32_t)n;
    else
        return usage_error("--consistency: expected one, quorum, all or a replica count, got '%s'", v);
    return KVCTL_EXIT_OK;
}

static int set_primary_only(struct kvctl *k, const char *v)
{
    k->req.primary_only = true;
    return KVCTL_EXIT_OK;
}
static int set_all(struct kvctl *k, const char *v)
{
    k->all = true;
    return KVCTL_EXIT_OK;
}
static int set_json(struct kvctl *k, const char *v)
{
    k->json = true;
    return KVCTL_EXIT_OK;
}
static int set_help(struct kvctl *k, const char *v)
{
    k->help = true;
    return KVCTL_EXIT_OK;
}
static int set_tls(struct kvctl *k, const char *v)
{
    k->opts.tls = true;
    return KVCTL_EXIT_OK;
}
static int set_tls_ca(struct kvctl *k, const char *v)
{
    k->opts.tls = true;
    k->opts.tls_ca_file = v;
    return KVCTL_EXIT_OK;
}
static int set_tls_cert(struct kvctl *k, const char *v)
{
    k->opts.tls = true;
    k->opts.tls_cert_file = v;
    return KVCTL_EXIT_OK;
}
static int set_tls_key(struct kvctl *k, const char *v)
{
    k->opts.tls = true;
    k->opts.tls_key_file = v;
    return KVCTL_EXIT_OK;
}
static int set_tls_skip(struct kvctl *k, const char *v)
{
    k->opts.tls = true;
    k->opts.tls_skip_verify = true;
    return KVCTL_EXIT_OK;
}
static int set_nx(struct kvctl *k, const char *v)
{
    k->condition = RKV_PUT_NX;
    return KVCTL_EXIT_OK;
}
static int set_xx(struct kvctl *k, const char *v)
{
    k->condition = RKV_PUT_XX;
    return KVCTL_EXIT_OK;
}
static int set_context(struct kvctl *k, const char *v)
{
    k->context_b64 = v;
    return KVCTL_EXIT_OK;
}
static int set_file(struct kvctl *k, const char *v)
{
    k->file = v;
    return KVCTL_EXIT_OK;
}

static int set_ttl(struct kvctl *k, const char *v)
{
    if (!kvctl_fmt_parse_u64(v, 1, UINT64_MAX, &k->ttl_ms))
        return usage_error("--ttl: expected milliseconds >= 1, got '%s'", v);
    return KVCTL_EXIT_OK;
}

static const struct kvctl_opt kvctl_opts[] = {
    { "host", "HOST:PORT", NULL, "node to talk to (repeat, or a comma-separated list, for\n"
      "                          failover; default $RINGKV_HOST or " KVCTL_HOST_DEFAULT ")", set_host },
    { "cluster", "NAME", NULL, "cluster name (default $RINGKV_CLUSTER_NAME or ringkv)", set_cluster },
    { "user", "NAME", NULL, "user for nodes with --users-file (default $RINGKV_USER)", set_user },
    { "password-file", "FILE", NULL, "password of --user: first line of FILE, '-' for stdin\n"
      "                          (default $RINGKV_PASSWORD; never on the command line)",
      set_password_file },
    { "timeout", "MS", NULL, "budget of the request, retries included (default 5000)", set_timeout },
    { "retries", "N", NULL, "retries of reads and of connecting (default 3)", set_retries },
    { "consistency", "LEVEL", NULL, "one, quorum, all, or a replica count (default: the node's)",
      set_consistency },
    { "primary-only", NULL, NULL, "use only the primary replicas (no fallbacks)", set_primary_only },
    { "json", NULL, NULL, "machine-readable output (one JSON object)", set_json },
    { "tls", NULL, NULL, "connect with TLS, verifying the node against the system CAs", set_tls },
    { "tls-ca", "FILE", NULL, "TLS, verifying the node against the CAs in FILE", set_tls_ca },
    { "tls-cert", "FILE", NULL, "TLS client certificate (nodes with --tls-mutual)", set_tls_cert },
    { "tls-key", "FILE", NULL, "key of --tls-cert", set_tls_key },
    { "tls-skip-verify", NULL, NULL, "TLS without checking the node (tests only)", set_tls_skip },
    { "help", NULL, NULL, "this text; kvctl COMMAND --help for a command", set_help },
    { "ttl", "MS", "put", NULL, set_ttl },
    { "nx", NULL, "put", NULL, set_nx },
    { "xx", NULL, "put", NULL, set_xx },
    { "context", "B64", "put del", NULL, set_context },
    { "file", "FILE", "put", NULL, set_file },
    { "all", NULL, "hints", NULL, set_all },
};
#define KVCTL_OPTS_COUNT (sizeof kvctl_opts / sizeof kvctl_opts[0])

static size_t kvctl_opt_index(const char *name)
{
    size_t j = 0;
    while (j < KVCTL_OPTS_COUNT - 1 && strcmp(kvctl_opts[j].name, name) != 0)
        j++;
    return j;
}

static bool word_in(const char *word, const char *list)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* Handles argv[*i], an option; may consume the next argument. */
static int parse_opt(struct kvctl *k, int argc, char **argv, int *i, const struct kvctl_opt **used)
{
    const char *a = strcmp(argv[*i], "-h") == 0 ? "help" : argv[*i] + 2;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    const struct kvctl_opt *o = NULL;
    for (size_t j = 0; j < KVCTL_OPTS_COUNT && o == NULL; j++)
        if (strncmp(kvctl_opts[j].name, a, len) == 0 && kvctl_opts[j].name[len] == '\0')
            o = &kvctl_opts[j];
    if (o == NULL)
        return usage_error("unknown option '%s'", argv[*i]);
    const char *value = NULL;
    if (o->arg && eq)
        value = eq + 1;
    else if (o->arg && *i + 1 < argc)
        value = argv[++*i];
    else if (o->arg)
        return usage_error("%s: needs an argument", argv[*i]);
    else if (eq)
        return usage_error("%s: takes no argument", argv[*i]);
    *used = o;
    return o->set(k, value);
}

static void print_help(void)
{
    printf("usage: kvctl [OPTIONS] COMMAND [ARGS...]\n\n"
           "Reads and writes a ringkv cluster through one of its nodes (native protocol).\n\n"
           "Commands (kvctl COMMAND --help for details):\n");
    for (size_t i = 0; i < KVCTL_CMDS_COUNT; i++)
        printf("  %-9s %s\n", kvctl_cmds[i].name, kvctl_cmds[i].summary);
    printf("\nOptions (anywhere before '--'; arguments after '--' are never options):\n");
    for (size_t i = 0; i < KVCTL_OPTS_COUNT; i++) {
        const struct kvctl_opt *o = &kvctl_opts[i];
        if (o->cmds != NULL)
            continue;
        char head[64];
        snprintf(head, sizeof head, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-23s %s\n", head, o->help);
    }
    printf("\nExit codes:\n"
           "  0  ok\n"
           "  1  not found: the key has no live value\n"
           "  2  usage error: bad command line, nothing was sent\n"
           "  3  failed: the request was refused or invalid; nothing was applied\n"
           "  4  in doubt: a write was sent but no answer came; it may have been applied\n"
           "  5  unreachable: no node answered, the node was busy, or the timeout\n"
           "     passed; nothing was applied (retrying may help)\n"
           "Errors are one line on stderr.\n");
}

static void print_cmd_help(const struct kvctl_cmd *c)
{
    printf("usage: kvctl [OPTIONS] %s%s%s\n\n%s.\n\n%s\n"
           "Exit codes: 0 ok, 1 not found, 2 usage error, 3 failed, 4 in doubt,\n"
           "5 unreachable or timed out (kvctl --help explains them and the OPTIONS).\n",
           c->name, c->synopsis[0] ? " " : "", c->synopsis, c->summary, c->help);
}

/* Checks what parse_args collected against the command. */
static int check_cmd(struct kvctl *k, const bool *used)
{
    for (size_t j = 0; j < KVCTL_OPTS_COUNT; j++) {
        const struct kvctl_opt *o = &kvctl_opts[j];
        if (used[j] && o->cmds != NULL && !word_in(k->cmd->name, o->cmds)) {
            fprintf(stderr, "kvctl: %s: no option --%s (see kvctl %s --help)\n", k->cmd->name,
                    o->name, k->cmd->name);
            return KVCTL_EXIT_USAGE;
        }
    }
    if (k->condition != RKV_PUT_ALWAYS && used[kvctl_opt_index("nx")] && used[kvctl_opt_index("xx")])
        return usage_error("put: --nx and --xx exclude each other");
    if (k->nargs < k->cmd->min_args || k->nargs > k->cmd->max_args) {
        fprintf(stderr, "kvctl: %s: expected %s%s(see kvctl %s --help)\n", k->cmd->name,
                k->cmd->synopsis[0] ? k->cmd->synopsis : "no arguments", " ", k->cmd->name);
        return KVCTL_EXIT_USAGE;
    }
    return KVCTL_EXIT_OK;
}

/* Result of parse_args besides the exit codes: help was printed. */
#define KVCTL_HELP_DONE (-1)

static int parse_args(struct kvctl *k, int argc, char **argv)
{
    bool used[KVCTL_OPTS_COUNT] = { false };
    bool only_args = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) {
            only_args = true;
        } else if (!only_args && ((a[0] == '-' && a[1] == '-') || strcmp(a, "-h") == 0)) {
            const struct kvctl_opt *o = NULL;
            int rc = parse_opt(k, argc, argv, &i, &o);
            if (rc != KVCTL_EXIT_OK)
                return rc;
            used[o - kvctl_opts] = true;
        } else if (k->cmd == NULL) {
            if ((k->cmd = find_cmd(a)) == NULL)
                return usage_error("unknown command '%s'", a);
        } else if (k->nargs == KVCTL_ARGS_MAX) {
            return usage_error("too many arguments starting at '%s'", a);
        } else {
            k->args[k->nargs++] = a;
        }
    }
    if (k->help) {
        if (k->cmd)
            print_cmd_help(k->cmd);
        else
            print_help();
        return KVCTL_HELP_DONE;
    }
    if (k->cmd == NULL)
        return usage_error("no command given");
    return check_cmd(k, used);
}

/* Splits the --host values at commas into k->hosts. */
static int build_hosts(struct kvctl *k)
{
    const char *env = getenv("RINGKV_HOST");
    if (k->nhost_args == 0)
        k->host_args[k->nhost_args++] = env && env[0] ? env : KVCTL_HOST_DEFAULT;
    size_t total = 0;
    for (size_t i = 0; i < k->nhost_args; i++)
        total += strlen(k->host_args[i]) + 1;
    char *p = k->host_list = malloc(total);
    if (p == NULL)
        return usage_error("out of memory");
    for (size_t i = 0; i < k->nhost_args; i++) {
        strcpy(p, k->host_args[i]);
        for (char *save = NULL, *tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (k->nhosts == RKV_HOSTS_MAX)
                return usage_error("--host: at most %d hosts", RKV_HOSTS_MAX);
            k->hosts[k->nhosts++] = tok;
        }
        p += strlen(k->host_args[i]) + 1;
    }
    if (k->nhosts == 0)
        return usage_error("--host: no host given");
    return KVCTL_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct kvctl k;
    memset(&k, 0, sizeof k);
    rkv_options_init(&k.opts);
    k.opts.routing_off = true;  /* one call per run, on the node named: a ring fetch would cost more */
    const char *cluster = getenv("RINGKV_CLUSTER_NAME");
    if (cluster && cluster[0])
        k.opts.cluster_name = cluster;
    const char *user = getenv("RINGKV_USER"), *password = getenv("RINGKV_PASSWORD");
    if (user && user[0])
        k.opts.user = user;
    if (password && password[0])
        k.opts.password = password;
    int rc = parse_args(&k, argc, argv);
    if (rc == KVCTL_EXIT_OK)
        rc = build_hosts(&k);
    if (rc == KVCTL_EXIT_OK) {
        int st = rkv_open(k.hosts, k.nhosts, &k.opts, &k.client);
        if (st != RKV_OK) {
            fprintf(stderr, "kvctl: %s (check --host HOST:PORT, --cluster and the TLS files)\n",
                    rkv_strerror(st));
            rc = st == RKV_EINVAL ? KVCTL_EXIT_USAGE : KVCTL_EXIT_FAILED;
        }
    }
    if (rc == KVCTL_EXIT_OK)
        rc = k.cmd->run(&k);
    if (rc == KVCTL_HELP_DONE)
        rc = KVCTL_EXIT_OK;
    if (fflush(stdout) != 0 && rc == KVCTL_EXIT_OK) {
        fprintf(stderr, "kvctl: cannot write the output: %s\n", strerror(errno));
        rc = KVCTL_EXIT_FAILED;
    }
    rkv_close(k.client);
    memset(k.password, 0, sizeof k.password);
    free(k.host_list);
    return rc;
}
