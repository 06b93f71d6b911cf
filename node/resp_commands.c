/* resp_commands.c - the RESP command table and handlers (see resp_server.h
 * for the list and the differences from Redis). Each handler checks its
 * arguments, then either answers at once or hands the request to the
 * coordinator with its reply slot as the callback argument; the callback
 * writes the reply and finishes the slot. Error texts follow Redis's where
 * clients or scripts may match them. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/log.h"
#include "node/auth.h"
#include "node/budget.h"
#include "node/resp_internal.h"

#define RESP_ERR_NOT_INTEGER "ERR value is not an integer or out of range"
#define RESP_ERR_SYNTAX "ERR syntax error"
/* "$" + up to 20 digits + CRLF + CRLF around one bulk value. */
#define RESP_BULK_OVERHEAD_BYTES (1 + 20 + 2 + 2)
/* Client bytes echoed in error messages are cut to this and made printable. */
#define RESP_ECHO_BYTES_MAX 64u

typedef void (*resp_cmd_fn)(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd);

struct resp_cmd_def {
    const char *name;
    size_t len;         /* strlen(name) */
    int arity;          /* > 0: exactly; < 0: at least -arity (name included), as Redis */
    enum resp_cmd_id id;
    resp_cmd_fn fn;
};

const char *const resp_cmd_names[RESP_CMD_COUNT] = {
    [RESP_CMD_GET] = "get", [RESP_CMD_SET] = "set", [RESP_CMD_DEL] = "del",
    [RESP_CMD_EXISTS] = "exists", [RESP_CMD_MGET] = "mget", [RESP_CMD_MSET] = "mset",
    [RESP_CMD_EXPIRE] = "expire", [RESP_CMD_PEXPIRE] = "pexpire", [RESP_CMD_PERSIST] = "persist",
    [RESP_CMD_TTL] = "ttl", [RESP_CMD_PTTL] = "pttl", [RESP_CMD_INCR] = "incr",
    [RESP_CMD_INCRBY] = "incrby", [RESP_CMD_DECR] = "decr", [RESP_CMD_DECRBY] = "decrby",
    [RESP_CMD_PING] = "ping", [RESP_CMD_ECHO] = "echo", [RESP_CMD_INFO] = "info",
    [RESP_CMD_COMMAND] = "command", [RESP_CMD_CONFIG] = "config", [RESP_CMD_CLIENT] = "client",
    [RESP_CMD_SELECT] = "select", [RESP_CMD_QUIT] = "quit", [RESP_CMD_AUTH] = "auth",
    [RESP_CMD_UNKNOWN] = "unknown",
};

/* ---- argument helpers ---- */

static bool arg_is(struct kv_slice a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && strncasecmp(a.data, lit, n) == 0;
}

/* Strict decimal int64, as Redis's string2ll: no sign '+', spaces or leading zeros. */
static bool arg_int(struct kv_slice a, int64_t *out)
{
    size_t i = 0;
    bool neg = a.len > 0 && a.data[0] == '-';
    i = neg ? 1 : 0;
    if (a.len == i || a.len - i > 19 || (a.data[i] == '0' && a.len - i > 1))
        return false;
    uint64_t v = 0;
    for (; i < a.len; i++) {
        if (a.data[i] < '0' || a.data[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(a.data[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Copies at most RESP_ECHO_BYTES_MAX bytes of a, non-printables as '?'. */
static void arg_printable(struct kv_slice a, char *out, size_t cap)
{
    size_t n = a.len < RESP_ECHO_BYTES_MAX ? a.len : RESP_ECHO_BYTES_MAX;
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)a.data[i];
        out[i] = (ch >= 0x20 && ch < 0x7f && ch != '\'') ? (char)ch : '?';
    }
    out[n] = 0;
}

static void reply_error(struct resp_slot *slot, const char *msg)
{
    resp_put_error(resp_slot_writer(slot), msg);
    resp_slot_finish(slot, false);
}

/* A coordinator status as a Redis-style error line. */
static void reply_status(struct resp_slot *slot, int status)
{
    resp_put_errorf(resp_slot_writer(slot), "ERR %s", kv_status_str(status));
    resp_slot_finish(slot, false);
}

static bool check_key(struct resp_conn *c, struct resp_slot *slot, struct kv_slice key)
{
    if (key.len <= c->server->cfg.key_bytes_max)
        return true;
    resp_put_errorf(resp_slot_writer(slot), "ERR key too large (%zu bytes, max %u)", key.len,
                    c->server->cfg.key_bytes_max);
    resp_slot_finish(slot, false);
    return false;
}

static bool check_value(struct resp_conn *c, struct resp_slot *slot, struct kv_slice v)
{
    if (v.len <= c->server->cfg.value_bytes_max)
        return true;
    resp_put_errorf(resp_slot_writer(slot), "ERR value too large (%zu bytes, max %u)", v.len,
                    c->server->cfg.value_bytes_max);
    resp_slot_finish(slot, false);
    return false;
}

/* Keys argv[first..argc): each within the key limit, at most KV_BATCH_KEYS_MAX. */
static bool check_keys(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd,
                       uint32_t first, uint32_t step)
{
    if ((cmd->argc - first) / step > KV_BATCH_KEYS_MAX) {
        resp_put_errorf(resp_slot_writer(slot), "ERR too many keys (max %u)", KV_BATCH_KEYS_MAX);
        resp_slot_finish(slot, false);
        return false;
    }
    for (uint32_t i = first; i < cmd->argc; i += step)
        if (!check_key(c, slot, cmd->argv[i]))
            return false;
    return true;
}

/* ---- GET, EXISTS, MGET ---- */

static void on_get(void *arg, const struct coord_get_result *r)
{
    struct resp_slot *slot = arg;
    if (r->status != KV_OK) {
        reply_status(slot, r->status);
        return;
    }
    struct resp_writer *w = resp_slot_writer(slot);
    if (r->found)
        resp_put_bulk(w, r->values[0].data.data, r->values[0].data.len);
    else
        resp_put_null(w);
    resp_slot_finish(slot, true);
}

static void cmd_get(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    if (check_key(c, slot, cmd->argv[1]))
        coord_get(c->server->coord, cmd->argv[1], &c->server->opts, on_get, slot);
}

static void on_batch_get(void *arg, const struct coord_batch_get_result *r)
{
    struct resp_slot *slot = arg;
    int status = r->status;
    for (uint32_t i = 0; status == KV_OK && i < r->nitems; i++)
        status = r->items[i].status;
    if (status != KV_OK) {
        reply_status(slot, status);
        return;
    }
    /* One reply may not exceed the output limit: it could not be paused. */
    size_t bytes = 0;
    for (uint32_t i = 0; slot->cmd == RESP_CMD_MGET && i < r->nitems; i++)
        bytes += r->items[i].found ? r->items[i].values[0].data.len + RESP_BULK_OVERHEAD_BYTES : 0;
    if (slot->conn && bytes > slot->conn->server->cfg.output_bytes_max) {
        resp_put_errorf(resp_slot_writer(slot), "ERR reply too large (%zu bytes, max %zu)", bytes,
                        slot->conn->server->cfg.output_bytes_max);
        resp_slot_finish(slot, false);
        return;
    }
    struct resp_writer *w = resp_slot_writer(slot);
    if (slot->cmd == RESP_CMD_EXISTS) {
        int64_t n = 0;
        for (uint32_t i = 0; i < r->nitems; i++)
            n += r->items[i].found;
        resp_put_int(w, n);
    } else {
        resp_put_array(w, r->nitems);
        for (uint32_t i = 0; i < r->nitems; i++) {
            const struct coord_get_result *g = &r->items[i];
            if (g->found)
                resp_put_bulk(w, g->values[0].data.data, g->values[0].data.len);
            else
                resp_put_null(w);
        }
    }
    resp_slot_finish(slot, true);
}

/* EXISTS and MGET: one batch read of argv[1..]. */
static void cmd_batch_get(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    if (check_keys(c, slot, cmd, 1, 1))
        coord_batch_get(c->server->coord, cmd->argv + 1, cmd->argc - 1, &c->server->opts,
                        on_batch_get, slot);
}

/* ---- SET, MSET ---- */

void resp_set_reply(struct resp_slot *slot, int status)
{
    if (status == KV_OK) {
        resp_put_simple(resp_slot_writer(slot), "OK");
        resp_slot_finish(slot, true);
    } else if (slot->conditional && (status == KV_EEXIST || status == KV_ENOTFOUND)) {
        resp_put_null(resp_slot_writer(slot)); /* NX / XX not met: not an error */
        resp_slot_finish(slot, true);
    } else {
        reply_status(slot, status);
    }
}

static void on_put(void *arg, const struct coord_put_result *r) { resp_set_reply(arg, r->status); }

/* Parses SET's options into a; NULL on success, else the error line. */
static const char *set_options(const struct resp_command *cmd, struct coord_put_args *a)
{
    bool have_ttl = false;
    for (uint32_t i = 3; i < cmd->argc; i++) {
        struct kv_slice o = cmd->argv[i];
        if (arg_is(o, "NX") || arg_is(o, "XX")) {
            enum coord_condition want = arg_is(o, "NX") ? COORD_PUT_IF_ABSENT : COORD_PUT_IF_EXISTS;
            if (a->condition != COORD_PUT_ALWAYS && a->condition != want)
                return RESP_ERR_SYNTAX;
            a->condition = want;
        } else if (arg_is(o, "EX") || arg_is(o, "PX")) {
            int64_t v;
            if (have_ttl || i + 1 >= cmd->argc)
                return RESP_ERR_SYNTAX;
            if (!arg_int(cmd->argv[++i], &v))
                return RESP_ERR_NOT_INTEGER;
            uint64_t scale = arg_is(o, "EX") ? 1000u : 1u;
            if (v <= 0 || (uint64_t)v > COORD_TTL_MS_MAX / scale)
                return "ERR invalid expire time in 'set' command";
            a->ttl_ms = (uint64_t)v * scale;
            have_ttl = true;
        } else if (arg_is(o, "KEEPTTL") || arg_is(o, "GET") || arg_is(o, "EXAT") || arg_is(o, "PXAT")) {
            return "ERR this SET option is not supported by ringkv";
        } else {
            return RESP_ERR_SYNTAX;
        }
    }
    return NULL;
}

static void cmd_set(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    struct coord_put_args a = { .key = cmd->argv[1], .value = cmd->argv[2] };
    const char *err = set_options(cmd, &a);
    if (err) {
        reply_error(slot, err);
        return;
    }
    if (!check_key(c, slot, a.key) || !check_value(c, slot, a.value))
        return;
    slot->conditional = a.condition != COORD_PUT_ALWAYS;
    if (resp_batch_add(c, slot, &a))
        return;
    if (c->deferred)
        resp_batch_run(c->server); /* keep this connection's writes in order */
    coord_put(c->server->coord, &a, &c->server->opts, on_put, slot);
}

static void on_batch_put(void *arg, const struct coord_batch_put_result *r)
{
    struct resp_slot *slot = arg;
    int status = r->status;
    for (uint32_t i = 0; status == KV_OK && i < r->nitems; i++)
        status = r->items[i].status;
    if (status != KV_OK) {
        reply_status(slot, status);
        return;
    }
    resp_put_simple(resp_slot_writer(slot), "OK");
    resp_slot_finish(slot, true);
}

static void cmd_mset(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    struct resp_server *s = c->server;
    if ((cmd->argc - 1) % 2 != 0) {
        reply_error(slot, "ERR wrong number of arguments for 'mset' command");
        return;
    }
    if (!check_keys(c, slot, cmd, 1, 2))
        return;
    uint32_t n = (cmd->argc - 1) / 2;
    for (uint32_t i = 0; i < n; i++)
        if (!check_value(c, slot, cmd->argv[2 + 2 * i]))
            return;
    if (n > s->put_args_cap) {
        struct coord_put_args *p = realloc(s->put_args, n * sizeof *p);
        if (!p) {
            reply_status(slot, KV_ENOMEM);
            return;
        }
        s->put_args = p;
        s->put_args_cap = n;
    }
    for (uint32_t i = 0; i < n; i++)
        s->put_args[i] = (struct coord_put_args){ .key = cmd->argv[1 + 2 * i],
                                                  .value = cmd->argv[2 + 2 * i] };
    coord_batch_put(s->coord, s->put_args, n, &s->opts, on_batch_put, slot);
}

/* ---- DEL ---- */

/* One key of a DEL is done (or the dispatch loop ended: the guard count). */
static void del_one_done(struct resp_slot *slot)
{
    if (--slot->pending > 0)
        return;
    if (slot->error != KV_OK) {
        reply_status(slot, slot->error);
        return;
    }
    resp_put_int(resp_slot_writer(slot), slot->count);
    resp_slot_finish(slot, true);
}

static void on_delete(void *arg, const struct coord_delete_result *r)
{
    struct resp_slot *slot = arg;
    if (r->status != KV_OK && slot->error == KV_OK)
        slot->error = r->status;
    else if (r->status == KV_OK && r->existed)
        slot->count++;
    del_one_done(slot);
}

static void cmd_del(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    if (!check_keys(c, slot, cmd, 1, 1))
        return;
    /* One extra count held by this loop, so a synchronous answer to the
     * first key cannot complete the command before every key is sent. */
    slot->pending = cmd->argc;
    for (uint32_t i = 1; i < cmd->argc; i++)
        coord_delete(c->server->coord, cmd->argv[i], kv_slice_make(NULL, 0), &c->server->opts,
                     on_delete, slot);
    del_one_done(slot);
}

/* ---- EXPIRE, PEXPIRE, PERSIST, TTL, PTTL ---- */

static void on_expire(void *arg, const struct coord_expire_result *r)
{
    struct resp_slot *slot = arg;
    if (r->status != KV_OK) {
        reply_status(slot, r->status);
        return;
    }
    resp_put_int(resp_slot_writer(slot), r->applied ? 1 : 0);
    resp_slot_finish(slot, true);
}

static void cmd_expire(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    int64_t v;
    if (!arg_int(cmd->argv[2], &v)) {
        reply_error(slot, RESP_ERR_NOT_INTEGER);
        return;
    }
    bool seconds = slot->cmd == RESP_CMD_EXPIRE;
    int64_t limit = (int64_t)(COORD_TTL_MS_MAX / (seconds ? 1000u : 1u));
    if (v > limit || v < -limit) {
        reply_error(slot, seconds ? "ERR invalid expire time in 'expire' command"
                                  : "ERR invalid expire time in 'pexpire' command");
        return;
    }
    if (check_key(c, slot, cmd->argv[1]))
        coord_expire(c->server->coord, cmd->argv[1], seconds ? v * 1000 : v, &c->server->opts,
                     on_expire, slot);
}

static void cmd_persist(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    if (check_key(c, slot, cmd->argv[1]))
        coord_persist(c->server->coord, cmd->argv[1], &c->server->opts, on_expire, slot);
}

static void on_ttl(void *arg, const struct coord_ttl_result *r)
{
    struct resp_slot *slot = arg;
    if (r->status != KV_OK) {
        reply_status(slot, r->status);
        return;
    }
    int64_t v = r->ttl_ms;
    if (v >= 0 && slot->cmd == RESP_CMD_TTL)
        v = (v + 500) / 1000; /* rounded to the nearest second, as Redis */
    resp_put_int(resp_slot_writer(slot), v);
    resp_slot_finish(slot, true);
}

static void cmd_ttl(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    if (check_key(c, slot, cmd->argv[1]))
        coord_ttl(c->server->coord, cmd->argv[1], &c->server->opts, on_ttl, slot);
}

/* ---- INCR, INCRBY, DECR, DECRBY ---- */

static void on_incr(void *arg, const struct coord_incr_result *r)
{
    struct resp_slot *slot = arg;
    if (r->status == KV_OK) {
        resp_put_int(resp_slot_writer(slot), r->value);
        resp_slot_finish(slot, true);
    } else if (r->status == KV_EINVAL) {
        reply_error(slot, RESP_ERR_NOT_INTEGER);
    } else if (r->status == KV_ETOOBIG) {
        reply_error(slot, "ERR increment or decrement would overflow");
    } else {
        reply_status(slot, r->status);
    }
}

static void cmd_incr(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    int64_t delta = slot->cmd == RESP_CMD_DECR ? -1 : 1;
    if (slot->cmd == RESP_CMD_INCRBY || slot->cmd == RESP_CMD_DECRBY) {
        if (!arg_int(cmd->argv[2], &delta)) {
            reply_error(slot, RESP_ERR_NOT_INTEGER);
            return;
        }
        if (slot->cmd == RESP_CMD_DECRBY) {
            if (delta == INT64_MIN) {
                reply_error(slot, "ERR decrement would overflow");
                return;
            }
            delta = -delta;
        }
    }
    if (check_key(c, slot, cmd->argv[1]))
        coord_incr(c->server->coord, cmd->argv[1], delta, &c->server->opts, on_incr, slot);
}

/* ---- connection and server commands ---- */

static void cmd_ping(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    if (cmd->argc > 2) {
        reply_error(slot, "ERR wrong number of arguments for 'ping' command");
        return;
    }
    if (cmd->argc == 2)
        resp_put_bulk(resp_slot_writer(slot), cmd->argv[1].data, cmd->argv[1].len);
    else
        resp_put_simple(resp_slot_writer(slot), "PONG");
    resp_slot_finish(slot, true);
}

static void cmd_echo(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    resp_put_bulk(resp_slot_writer(slot), cmd->argv[1].data, cmd->argv[1].len);
    resp_slot_finish(slot, true);
}

static void cmd_info(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    struct resp_server *s = c->server;
    uint64_t up_s = (kv_clock_real.mono_ms(&kv_clock_real) - s->started_ms) / 1000u;
    kv_buf_reset(&s->scratch);
    /* redis_version: clients gate features on it; we claim the RESP2 subset of 7.0. */
    int rc = kv_buf_appendf(&s->scratch,
        "# Server\r\nredis_version:7.0.0\r\nringkv_version:%s\r\nredis_mode:standalone\r\n"
        "node_id:%s\r\nprocess_id:%ld\r\ntcp_port:%u\r\nuptime_in_seconds:%llu\r\n\r\n"
        "# Clients\r\nconnected_clients:%u\r\nmaxclients:%u\r\n\r\n"
        "# Stats\r\ntotal_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
        "rejected_connections:%llu\r\ntotal_net_input_bytes:%llu\r\ntotal_net_output_bytes:%llu\r\n"
        "\r\n# Keyspace\r\n",
        s->version, s->node_id, (long)getpid(), s->port, (unsigned long long)up_s, s->open,
        s->cfg.max_connections, (unsigned long long)*s->lm.accepted, (unsigned long long)s->commands,
        (unsigned long long)*s->lm.refused, (unsigned long long)*s->lm.bytes_in,
        (unsigned long long)*s->lm.bytes_out);
    if (rc != KV_OK) {
        reply_status(slot, rc);
        return;
    }
    resp_put_bulk(resp_slot_writer(slot), s->scratch.data, s->scratch.len);
    resp_slot_finish(slot, true);
}

/* COMMAND COUNT answers the table size; COMMAND, COMMAND DOCS and the
 * rest answer an empty array, which redis-cli accepts (no hints). */
static void cmd_command(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    if (cmd->argc >= 2 && arg_is(cmd->argv[1], "COUNT"))
        resp_put_int(resp_slot_writer(slot), RESP_CMD_UNKNOWN);
    else
        resp_put_array(resp_slot_writer(slot), 0);
    resp_slot_finish(slot, true);
}

/* CONFIG GET for the two parameters redis-benchmark asks about; other
 * names match nothing (an empty array), other subcommands are refused. */
static void cmd_config(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    static const char *const params[][2] = { { "save", "" }, { "appendonly", "no" } };
    if (!arg_is(cmd->argv[1], "GET") || cmd->argc < 3) {
        reply_error(slot, "ERR only CONFIG GET is supported");
        return;
    }
    size_t n = 0;
    for (size_t p = 0; p < 2; p++)
        for (uint32_t i = 2; i < cmd->argc; i++)
            n += arg_is(cmd->argv[i], params[p][0]);
    struct resp_writer *w = resp_slot_writer(slot);
    resp_put_array(w, 2 * n);
    for (size_t p = 0; p < 2; p++) {
        for (uint32_t i = 2; i < cmd->argc; i++) {
            if (arg_is(cmd->argv[i], params[p][0])) {
                resp_put_bulk(w, params[p][0], strlen(params[p][0]));
                resp_put_bulk(w, params[p][1], strlen(params[p][1]));
            }
        }
    }
    resp_slot_finish(slot, true);
}

/* Client libraries name themselves on connect; accept and forget it. */
static void cmd_client(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    struct kv_slice sub = cmd->argv[1];
    struct resp_writer *w = resp_slot_writer(slot);
    if (arg_is(sub, "SETNAME") || arg_is(sub, "SETINFO") || arg_is(sub, "NO-EVICT") ||
        arg_is(sub, "NO-TOUCH") || (arg_is(sub, "REPLY") && cmd->argc == 3 && arg_is(cmd->argv[2], "ON"))) {
        resp_put_simple(w, "OK");
    } else if (arg_is(sub, "GETNAME")) {
        resp_put_null(w);
    } else if (arg_is(sub, "ID")) {
        resp_put_int(w, (int64_t)c->id);
    } else {
        char name[RESP_ECHO_BYTES_MAX + 1];
        arg_printable(sub, name, sizeof name);
        resp_put_errorf(w, "ERR unsupported CLIENT subcommand '%s'", name);
        resp_slot_finish(slot, false);
        return;
    }
    resp_slot_finish(slot, true);
}

static void cmd_select(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    int64_t db;
    if (!arg_int(cmd->argv[1], &db))
        reply_error(slot, RESP_ERR_NOT_INTEGER);
    else if (db != 0)
        reply_error(slot, "ERR DB index is out of range");
    else {
        resp_put_simple(resp_slot_writer(slot), "OK");
        resp_slot_finish(slot, true);
    }
}

static void cmd_quit(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    resp_put_simple(resp_slot_writer(slot), "OK");
    resp_slot_finish(slot, true);
    resp_conn_quit(c);
}

/*
 * AUTH [user] password: the Redis 6 form and the legacy one-argument form,
 * which names the user "default". The password is never logged; a failure
 * keeps the connection's earlier role, as Redis does.
 */
static void cmd_auth(struct resp_conn *c, struct resp_slot *slot, const struct resp_command *cmd)
{
    struct auth_users *users = c->server->cfg.users;
    char user[AUTH_USER_BYTES_MAX + 1] = "default";
    enum auth_role role;
    if (cmd->argc > 3) {
        reply_error(slot, "ERR syntax error");
        return;
    }
    if (users == NULL) {
        reply_error(slot, "ERR AUTH called without any password configured for the default "
                          "user. Are you sure your configuration is correct?");
        return;
    }
    struct kv_slice pw = cmd->argv[cmd->argc - 1];
    bool name_ok = cmd->argc == 2 || (cmd->argv[1].len <= AUTH_USER_BYTES_MAX &&
                                      memchr(cmd->argv[1].data, 0, cmd->argv[1].len) == NULL);
    if (cmd->argc == 3 && name_ok) {
        memcpy(user, cmd->argv[1].data, cmd->argv[1].len);
        user[cmd->argv[1].len] = 0;
    }
    if (!name_ok || auth_check(users, user, pw.data, pw.len, &role) != KV_OK) {
        char shown[RESP_ECHO_BYTES_MAX + 1];
        arg_printable(cmd->argc == 3 ? cmd->argv[1] : (struct kv_slice){ "default", 7 }, shown,
                      sizeof shown);
        log_info("resp", "auth refused conn=%llu user=\"%s\"", (unsigned long long)c->id, shown);
        reply_error(slot, "WRONGPASS invalid username-password pair or user is disabled.");
        return;
    }
    c->role = (uint8_t)role;
    resp_put_simple(resp_slot_writer(slot), "OK");
    resp_slot_finish(slot, true);
}

/* The role (node/auth.h) a command needs: AUTH and QUIT none; keys read
 * or written by the command decide the rest; CONFIG is admin. */
static enum auth_role resp_cmd_role(enum resp_cmd_id id)
{
    switch (id) {
    case RESP_CMD_AUTH: case RESP_CMD_QUIT:
        return AUTH_ROLE_NONE;
    case RESP_CMD_SET: case RESP_CMD_DEL: case RESP_CMD_MSET: case RESP_CMD_EXPIRE:
    case RESP_CMD_PEXPIRE: case RESP_CMD_PERSIST: case RESP_CMD_INCR: case RESP_CMD_INCRBY:
    case RESP_CMD_DECR: case RESP_CMD_DECRBY:
        return AUTH_ROLE_WRITE;
    case RESP_CMD_CONFIG:
        return AUTH_ROLE_ADMIN;
    default:
        return AUTH_ROLE_READ;
    }
}

/* Answers NOAUTH / NOPERM and returns true if c may not run d. */
static bool resp_refuse_role(struct resp_conn *c, struct resp_slot *slot, const struct resp_cmd_def *d)
{
    enum auth_role need = resp_cmd_role(d->id);
    if (c->role >= need)
        return false;
    if (c->role == AUTH_ROLE_NONE) {
        reply_error(slot, "NOAUTH Authentication required.");
        return true;
    }
    resp_put_errorf(resp_slot_writer(slot), "NOPERM this user has no permissions to run the "
                    "'%s' command (needs role %s)", d->name, auth_role_name(need));
    resp_slot_finish(slot, false);
    return true;
}

/* ---- dispatch ---- */

static const struct resp_cmd_def g_cmds[] = {
    { "get", 3, 2, RESP_CMD_GET, cmd_get },
    { "set", 3, -3, RESP_CMD_SET, cmd_set },
    { "del", 3, -2, RESP_CMD_DEL, cmd_del },
    { "exists", 6, -2, RESP_CMD_EXISTS, cmd_batch_get },
    { "mget", 4, -2, RESP_CMD_MGET, cmd_batch_get },
    { "mset", 4, -3, RESP_CMD_MSET, cmd_mset },
    { "expire", 6, 3, RESP_CMD_EXPIRE, cmd_expire },
    { "pexpire", 7, 3, RESP_CMD_PEXPIRE, cmd_expire },
    { "persist", 7, 2, RESP_CMD_PERSIST, cmd_persist },
    { "ttl", 3, 2, RESP_CMD_TTL, cmd_ttl },
    { "pttl", 4, 2, RESP_CMD_PTTL, cmd_ttl },
    { "incr", 4, 2, RESP_CMD_INCR, cmd_incr },
    { "incrby", 6, 3, RESP_CMD_INCRBY, cmd_incr },
    { "decr", 4, 2, RESP_CMD_DECR, cmd_incr },
    { "decrby", 6, 3, RESP_CMD_DECRBY, cmd_incr },
    { "ping", 4, -1, RESP_CMD_PING, cmd_ping },
    { "echo", 4, 2, RESP_CMD_ECHO, cmd_echo },
    { "info", 4, -1, RESP_CMD_INFO, cmd_info },
    { "command", 7, -1, RESP_CMD_COMMAND, cmd_command },
    { "config", 6, -2, RESP_CMD_CONFIG, cmd_config },
    { "client", 6, -2, RESP_CMD_CLIENT, cmd_client },
    { "select", 6, 2, RESP_CMD_SELECT, cmd_select },
    { "quit", 4, -1, RESP_CMD_QUIT, cmd_quit },
    { "auth", 4, -2, RESP_CMD_AUTH, cmd_auth },
};

/* Linear, but the length and first-letter tests (ASCII: | 0x20 lowers a
 * letter) reject nearly every entry without a string compare. */
static const struct resp_cmd_def *resp_lookup(struct kv_slice name)
{
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        if (name.len == g_cmds[i].len && (name.data[0] | 0x20) == g_cmds[i].name[0] &&
            strncasecmp(name.data, g_cmds[i].name, name.len) == 0)
            return &g_cmds[i];
    return NULL;
}

static void reply_unknown(struct resp_slot *slot, const struct resp_command *cmd)
{
    char name[RESP_ECHO_BYTES_MAX + 1], args[4 * (RESP_ECHO_BYTES_MAX + 3) + 1];
    arg_printable(cmd->argv[0], name, sizeof name);
    size_t off = 0;
    for (uint32_t i = 1; i < cmd->argc && i <= 4; i++) {
        char one[RESP_ECHO_BYTES_MAX + 1];
        arg_printable(cmd->argv[i], one, sizeof one);
        off += (size_t)snprintf(args + off, sizeof args - off, "'%s' ", one);
    }
    args[off] = 0;
    resp_put_errorf(resp_slot_writer(slot), "ERR unknown command '%s', with args beginning with: %s",
                    name, args);
    resp_slot_finish(slot, false);
}

void resp_dispatch(struct resp_conn *c, const struct resp_command *cmd)
{
    const struct resp_cmd_def *d = resp_lookup(cmd->argv[0]);
    struct resp_slot *slot = resp_slot_begin(c, d ? d->id : RESP_CMD_UNKNOWN);
    if (!slot) {
        c->out.failed = true; /* the flush closes the connection */
        return;
    }
    if (!d && c->role == AUTH_ROLE_NONE) {
        reply_error(slot, "NOAUTH Authentication required.");
        return;
    }
    if (!d) {
        reply_unknown(slot, cmd);
        return;
    }
    if (resp_refuse_role(c, slot, d))
        return;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < cmd->argc; i++)
        bytes += cmd->argv[i].len;
    if (!node_budget_take(c->server->cfg.budget, bytes)) {
        reply_error(slot, "BUSY the node holds its limit of unanswered request bytes "
                          "(--inflight-bytes-max); retry later");
        return;
    }
    slot->budget = c->server->cfg.budget;
    slot->bytes = bytes;
    /* A command after a deferred SET of this connection must see its effect. */
    if (c->deferred && d->id != RESP_CMD_SET)
        resp_batch_run(c->server);
    if ((d->arity > 0 && cmd->argc != (uint32_t)d->arity) ||
        (d->arity < 0 && cmd->argc < (uint32_t)-d->arity)) {
        resp_put_errorf(resp_slot_writer(slot), "ERR wrong number of arguments for '%s' command",
                        d->name);
        resp_slot_finish(slot, false);
        return;
    }
    d->fn(c, slot, cmd);
}
