/* resp_server.c - see resp_server.h; commands are in resp_commands.c.
 *
 * I/O is done by hand on raw sockets (libevent events, not bufferevents),
 * the way Redis does it: one read per readiness event into a contiguous
 * buffer, every complete command parsed in place, and replies written
 * with one send() at the end of the batch. The write event is armed only
 * when the socket did not take everything, so a request/reply round trip
 * costs one read and one send system call besides the coordinator's work. */
#include "node/resp_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#include "common/clock.h"
#include "common/log.h"
#include "node/auth.h"
#include "node/budget.h"
#include "node/resp_internal.h"
#include "rpc/listener.h"

/* Smallest free space offered to one read(). */
#define RESP_READ_CHUNK_BYTES (16u * 1024u)
/* Bounds of the timeout sweep period (a quarter of the shorter timeout). */
#define RESP_SWEEP_MS_MIN 10u
#define RESP_SWEEP_MS_MAX 1000u
/* Buffers larger than this are freed when they empty, so idle connections stay small. */
#define RESP_KEEP_BYTES_MAX (64u * 1024u)
#define RESP_REFUSED_REPLY "-ERR max number of clients reached\r\n"

static void resp_conn_close(struct resp_conn *c, const char *reason);
static void resp_conn_process(struct resp_conn *c);

static uint64_t resp_now_ms(void) { return kv_mono_ns() / 1000000u; }

static struct timeval resp_tv(uint32_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000u), (suseconds_t)((ms % 1000u) * 1000u) };
    return tv;
}

/* ---- reply slots ---- */

struct resp_slot *resp_slot_begin(struct resp_conn *c, enum resp_cmd_id cmd)
{
    struct resp_server *s = c->server;
    struct resp_slot *slot = s->free_slots;
    if (slot) {
        s->free_slots = slot->next;
    } else {
        slot = calloc(1, sizeof *slot);
        if (!slot)
            return NULL;
    }
    struct resp_writer keep = slot->out;
    memset(slot, 0, sizeof *slot);
    slot->out = keep;
    slot->conn = c;
    slot->cmd = cmd;
    slot->start_ns = kv_mono_ns();
    if (c->tail)
        c->tail->next = slot;
    else
        c->head = slot;
    c->tail = slot;
    s->commands++;
    return slot;
}

struct resp_writer *resp_slot_writer(struct resp_slot *slot)
{
    struct resp_conn *c = slot->conn;
    return c && c->head == slot ? &c->out : &slot->out;
}

static void resp_slot_recycle(struct resp_server *s, struct resp_slot *slot)
{
    if (slot->out.buf.cap > RESP_KEEP_BYTES_MAX)
        resp_writer_free(&slot->out);
    resp_writer_reset(&slot->out);
    slot->next = s->free_slots;
    s->free_slots = slot;
}

/* Moves finished replies at the head of the queue into the output. */
static void resp_conn_drain_slots(struct resp_conn *c)
{
    struct resp_server *s = c->server;
    while (c->head && c->head->finished) {
        struct resp_slot *slot = c->head;
        c->head = slot->next;
        if (!c->head)
            c->tail = NULL;
        resp_slot_recycle(s, slot);
        if (c->head && c->head->finished && c->head->out.buf.len) {
            const struct kv_buf *b = &c->head->out.buf;
            if (kv_buf_append(&c->out.buf, b->data, b->len) != KV_OK)
                c->out.failed = true;
        }
        if (c->head && c->head->out.failed)
            c->out.failed = true;
    }
}

void resp_slot_finish(struct resp_slot *slot, bool ok)
{
    struct resp_conn *c = slot->conn;
    node_budget_release(slot->budget, slot->bytes);
    slot->bytes = 0;
    if (!c) { /* orphan: its connection is gone */
        resp_writer_free(&slot->out);
        free(slot);
        return;
    }
    slot->finished = true;
    slot->ok = ok;
    struct resp_server *s = c->server;
    metrics_request_done(&s->rm[slot->cmd], ok, (kv_mono_ns() - slot->start_ns) / 1000u);
    if (c->head != slot)
        return; /* an earlier reply is still pending; it will pull this one */
    resp_conn_drain_slots(c);
    if (c->in_dispatch)
        return; /* the read handler sends at the end of its batch */
    if (s->batch.running)
        resp_batch_touch(c); /* sent once the whole write batch has answered */
    else
        (void)resp_conn_after_io(c); /* a late answer: send it now */
}

void resp_conn_quit(struct resp_conn *c) { c->closing = true; }

/* ---- output ---- */

/* Reading stops while the output is over the high-water mark, after QUIT
 * or a protocol error, and during shutdown. */
static void resp_conn_update_reading(struct resp_conn *c)
{
    bool want = !c->reading_paused && !c->closing && !c->eof && !c->server->stopped;
    if (want == c->reading)
        return;
    c->reading = want;
    if (want)
        event_add(&c->read_ev, NULL);
    else
        event_del(&c->read_ev);
}

static void resp_conn_pause(struct resp_conn *c, bool pause)
{
    c->reading_paused = pause;
    resp_conn_update_reading(c);
}

/* Sends what the socket takes. false if the connection was closed. */
static bool resp_conn_flush(struct resp_conn *c)
{
    struct resp_server *s = c->server;
    if (c->out.failed) {
        log_warn("resp", "reply buffer allocation failed conn=%llu", (unsigned long long)c->id);
        resp_conn_close(c, "out of memory");
        return false;
    }
    while (c->out_off < c->out.buf.len) {
        ssize_t n = send(c->fd, c->out.buf.data + c->out_off, c->out.buf.len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            resp_conn_close(c, "write error");
            return false;
        }
        c->out_off += (size_t)n;
        c->last_io_ms = resp_now_ms();
        *s->lm.bytes_out += (uint64_t)n;
    }
    size_t unsent = c->out.buf.len - c->out_off;
    if (unsent == 0) {
        c->out_off = 0;
        if (c->out.buf.cap > RESP_KEEP_BYTES_MAX)
            resp_writer_free(&c->out);
        resp_writer_reset(&c->out);
        if (c->write_armed) {
            event_del(&c->write_ev);
            c->write_armed = false;
        }
    } else if (!c->write_armed) {
        event_add(&c->write_ev, NULL);
        c->write_armed = true;
    }
    if (unsent > s->cfg.output_bytes_max)
        resp_conn_pause(c, true);
    else if (c->reading_paused && unsent <= s->cfg.output_bytes_max / 2)
        resp_conn_pause(c, false);
    return true;
}

bool resp_conn_after_io(struct resp_conn *c)
{
    if (!resp_conn_flush(c))
        return false;
    /* Commands left unparsed by the output high-water mark run once it drains. */
    while (c->input_pending && !c->reading_paused && !c->closing) {
        resp_conn_process(c);
        if (!resp_conn_flush(c))
            return false;
    }
    bool done = c->closing || (c->eof && !c->input_pending);
    if (done && !c->head && c->out_off == c->out.buf.len) {
        shutdown(c->fd, SHUT_WR);
        resp_conn_close(c, c->parser.failed ? "protocol error" : c->eof ? "peer closed" : "quit");
        return false;
    }
    return true;
}

static void resp_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)resp_conn_after_io(arg);
}

/* ---- input ---- */

static void resp_conn_protocol_error(struct resp_conn *c)
{
    struct resp_server *s = c->server;
    (*s->lm.protocol_errors)++;
    log_debug("resp", "protocol error conn=%llu reason=\"%s\"", (unsigned long long)c->id,
              resp_parser_error(&c->parser));
    struct resp_slot *slot = resp_slot_begin(c, RESP_CMD_UNKNOWN);
    if (slot) {
        resp_put_errorf(resp_slot_writer(slot), "ERR Protocol error: %s", resp_parser_error(&c->parser));
        resp_slot_finish(slot, false);
    }
    c->closing = true;
}

/* Keeps the unparsed tail at the front of `in`, and partial_since_ms set
 * exactly while a command is incomplete. */
static void resp_conn_compact_input(struct resp_conn *c)
{
    size_t rest = c->in.len - c->in_off;
    if (rest == 0) {
        if (c->in.cap > RESP_KEEP_BYTES_MAX)
            kv_buf_free(&c->in);
        kv_buf_reset(&c->in);
        c->want = 1;
    } else if (c->in_off > 0) {
        memmove(c->in.data, c->in.data + c->in_off, rest);
        c->in.len = rest;
        c->want = c->want > c->in_off ? c->want - c->in_off : 1;
    }
    c->in_off = 0;
    /* Commands held back by the output limit are not a slow client's fault. */
    if (!rest || c->closing || c->input_pending)
        c->partial_since_ms = 0;
    else if (!c->partial_since_ms)
        c->partial_since_ms = c->last_io_ms;
}

static bool resp_conn_output_full(const struct resp_conn *c)
{
    return c->out.buf.len - c->out_off > c->server->cfg.output_bytes_max;
}

/* Parses and dispatches every complete command in the input, stopping
 * early while the unsent output is over the limit (the rest waits in
 * `in`, input_pending set), so that one read of pipelined GETs cannot
 * queue unbounded replies. */
static void resp_conn_process(struct resp_conn *c)
{
    c->in_dispatch = true;
    c->input_pending = false;
    while (!c->closing) {
        if (resp_conn_output_full(c)) {
            c->input_pending = true;
            resp_conn_pause(c, true);
            break;
        }
        struct resp_command cmd;
        long r = resp_parse(&c->parser, c->in.data + c->in_off, c->in.len - c->in_off, &cmd);
        if (r > 0) {
            c->in_off += (size_t)r;
            if (cmd.argc > 0)
                resp_dispatch(c, &cmd);
            continue;
        }
        if (r == 0) {
            size_t have = c->in.len - c->in_off;
            c->want = c->in.len + resp_parser_bytes_wanted(&c->parser, have);
        } else {
            resp_conn_protocol_error(c);
        }
        break;
    }
    c->in_dispatch = false;
    resp_conn_compact_input(c);
    resp_conn_update_reading(c);
}

static void resp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct resp_conn *c = arg;
    struct resp_server *s = c->server;
    size_t room = c->want > c->in.len ? c->want - c->in.len : 0;
    if (room < RESP_READ_CHUNK_BYTES)
        room = RESP_READ_CHUNK_BYTES;
    if (kv_buf_reserve(&c->in, room) != KV_OK) {
        resp_conn_close(c, "out of memory");
        return;
    }
    ssize_t n = read(fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0) {
        resp_conn_close(c, "read error");
        return;
    }
    if (n == 0) { /* half-close: answer everything that was sent, then close */
        c->eof = true;
        resp_conn_update_reading(c);
        (void)resp_conn_after_io(c);
        return;
    }
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = 0;
    c->last_io_ms = resp_now_ms();
    *s->lm.bytes_in += (uint64_t)n;
    if (c->in.len >= c->want)
        resp_conn_process(c);
    (void)resp_conn_after_io(c);
}

/* ---- connections ---- */

static void resp_conn_close(struct resp_conn *c, const char *reason)
{
    struct resp_server *s = c->server;
    log_debug("resp", "connection closed conn=%llu reason=\"%s\"", (unsigned long long)c->id,
              reason);
    if (c->reading)
        event_del(&c->read_ev);
    if (c->write_armed)
        event_del(&c->write_ev);
    close(c->fd);
    resp_batch_forget(c);
    struct resp_slot *slot = c->head;
    while (slot) {
        struct resp_slot *next = slot->next;
        if (slot->finished)
            resp_slot_recycle(s, slot);
        else
            slot->conn = NULL; /* orphan: freed when the coordinator answers */
        slot = next;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->open--;
    *s->lm.open = s->open;
    (*s->lm.closed)++;
    kv_buf_free(&c->in);
    resp_writer_free(&c->out);
    resp_parser_free(&c->parser);
    free(c);
}

/* Over the limit: one error line, then close (as Redis does). */
static void resp_refuse(struct resp_server *s, evutil_socket_t fd)
{
    (*s->lm.refused)++;
    ssize_t n = send(fd, RESP_REFUSED_REPLY, sizeof RESP_REFUSED_REPLY - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n; /* best effort: the socket is closed either way */
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void resp_accept_cb(evutil_socket_t fd, struct sockaddr *sa,
                           int salen, void *arg)
{
    struct resp_server *s = arg;
    if (s->open >= s->cfg.max_connections) {
        resp_refuse(s, fd);
        return;
    }
    struct resp_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->server = s;
    c->fd = fd;
    c->id = ++s->next_conn_id;
    c->role = s->cfg.users ? AUTH_ROLE_NONE : AUTH_ROLE_NODE;
    c->want = 1;
    resp_parser_init(&c->parser, &s->limits);
    event_assign(&c->read_ev, s->base, fd, EV_READ | EV_PERSIST, resp_read_cb, c);
    event_assign(&c->write_ev, s->base, fd, EV_WRITE | EV_PERSIST, resp_write_cb, c);
    c->last_io_ms = resp_now_ms();
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->open++;
    *s->lm.open = s->open;
    (*s->lm.accepted)++;
    resp_conn_update_reading(c);
}

/* Closes connections past the idle or the slow-command timeout. One timer
 * for all connections: a read costs a clock read, not a timer update. */
static void resp_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct resp_server *s = arg;
    uint64_t now = resp_now_ms();
    struct resp_conn *next;
    for (struct resp_conn *c = s->conns; c; c = next) {
        next = c->next;
        const char *why = NULL;
        if (c->partial_since_ms && now - c->partial_since_ms >= s->cfg.frame_timeout_ms)
            why = "command not completed in time";
        else if (now - c->last_io_ms >= s->cfg.idle_timeout_ms)
            why = "idle timeout";
        if (why) {
            (*s->lm.timeouts)++;
            resp_conn_close(c, why);
        }
    }
}

/* ---- server ---- */

static int resp_server_bind(struct resp_server *s)
{
    int rc = rpc_listener_new(s->base, s->listen, RESP_SERVER_BACKLOG, "resp", resp_accept_cb, s, &s->listener);
    if (rc == KV_OK)
        s->port = rpc_listener_port(s->listener);
    return rc;
}

static int resp_server_register_metrics(struct resp_server *s, struct metrics *m)
{
    int rc = metrics_listener_register(m, "resp", &s->lm);
    for (int i = 0; rc == KV_OK && i < RESP_CMD_COUNT; i++)
        rc = metrics_request_register(m, "resp", resp_cmd_names[i], &s->rm[i]);
    return rc;
}

int resp_server_new(struct event_base *base, const struct resp_server_config *cfg,
                    struct coord *coord, struct metrics *metrics, struct resp_server **out)
{
    struct resp_server *s = calloc(1, sizeof *s);
    if (!s)
        return KV_ENOMEM;
    s->base = base;
    s->cfg = *cfg;
    s->coord = coord;
    event_assign(&s->sweep, base, -1, EV_PERSIST, resp_sweep_cb, s);
    resp_batch_init(s);
    s->listen = strdup(cfg->listen);
    s->node_id = strdup(cfg->node_id ? cfg->node_id : "");
    s->version = strdup(cfg->version ? cfg->version : "");
    int rc = KV_ENOMEM;
    if (!s->listen || !s->node_id || !s->version)
        goto fail;
    s->opts.timeout_ms = cfg->request_timeout_ms;
    s->limits.args_max = RESP_SERVER_ARGS_MAX;
    s->limits.bulk_bytes_max = (size_t)cfg->value_bytes_max + RESP_SERVER_BULK_SLACK_BYTES;
    s->limits.inline_bytes_max = RESP_SERVER_INLINE_BYTES_MAX;
    s->limits.command_bytes_max = cfg->command_bytes_max;
    uint32_t period = (cfg->idle_timeout_ms < cfg->frame_timeout_ms ? cfg->idle_timeout_ms
                                                                      : cfg->frame_timeout_ms) / 4u;
    period = period < RESP_SWEEP_MS_MIN ? RESP_SWEEP_MS_MIN
           : period > RESP_SWEEP_MS_MAX ? RESP_SWEEP_MS_MAX : period;
    struct timeval sweep = resp_tv(period);
    evtimer_add(&s->sweep, &sweep);
    s->started_ms = kv_clock_real.mono_ms(&kv_clock_real);
    rc = resp_server_register_metrics(s, metrics);
    if (rc == KV_OK)
        rc = resp_server_bind(s);
    if (rc != KV_OK)
        goto fail;
    *out = s;
    return KV_OK;
fail:
    resp_server_free(s);
    return rc;
}

uint16_t resp_server_port(const struct resp_server *s) { return s->port; }

void resp_server_stop(struct resp_server *s)
{
    if (s->stopped)
        return;
    s->stopped = true;
    rpc_listener_free(s->listener);
    s->listener = NULL;
    for (struct resp_conn *c = s->conns; c; c = c->next)
        resp_conn_update_reading(c);
}

size_t resp_server_busy(const struct resp_server *s)
{
    size_t n = 0;
    for (const struct resp_conn *c = s->conns; c; c = c->next)
        if (c->head || c->out_off < c->out.buf.len)
            n++;
    return n;
}

void resp_server_free(struct resp_server *s)
{
    if (!s)
        return;
    rpc_listener_free(s->listener);
    evtimer_del(&s->sweep);
    resp_batch_run(s); /* SETs already received are written, their replies dropped */
    while (s->conns)
        resp_conn_close(s->conns, "server shutdown");
    resp_batch_free(s);
    while (s->free_slots) {
        struct resp_slot *slot = s->free_slots;
        s->free_slots = slot->next;
        resp_writer_free(&slot->out);
        free(slot);
    }
    free(s->put_args);
    kv_buf_free(&s->scratch);
    free(s->listen);
    free(s->node_id);
    free(s->version);
    free(s);
}
