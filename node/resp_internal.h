/*
 * resp_internal.h - shared by resp_server.c (connections, I/O, reply
 * ordering) and resp_commands.c (the command table). Not for other modules.
 *
 * Reply ordering. Each dispatched command takes a slot at the tail of its
 * connection's queue. A command answers by writing into
 * resp_slot_writer(slot) and calling resp_slot_finish once. The writer of
 * the queue's head slot is the connection's output itself; a later slot
 * writes into its own buffer, which is moved to the output when every
 * earlier slot has finished. With a synchronous coordinator every slot is
 * the head when it answers, so nothing is copied twice. Slots are pooled
 * per server: no allocation per command once warm.
 *
 * A connection that closes with slots in flight orphans them (slot->conn
 * becomes NULL); their late answers are written into the slot's own
 * buffer and dropped when they finish.
 */
#ifndef RINGKV_NODE_RESP_INTERNAL_H
#define RINGKV_NODE_RESP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "common/buf.h"
#include "coordinator/coord.h"
#include "node/metrics.h"
#include "node/resp.h"
#include "node/resp_server.h"

/* Command ids, also indexes of the per-command metrics. */
enum resp_cmd_id {
    RESP_CMD_GET, RESP_CMD_SET, RESP_CMD_DEL, RESP_CMD_EXISTS, RESP_CMD_MGET, RESP_CMD_MSET,
    RESP_CMD_EXPIRE, RESP_CMD_PEXPIRE, RESP_CMD_PERSIST, RESP_CMD_TTL, RESP_CMD_PTTL,
    RESP_CMD_INCR, RESP_CMD_INCRBY, RESP_CMD_DECR, RESP_CMD_DECRBY, RESP_CMD_PING,
    RESP_CMD_ECHO, RESP_CMD_INFO, RESP_CMD_COMMAND, RESP_CMD_CONFIG, RESP_CMD_CLIENT,
    RESP_CMD_SELECT, RESP_CMD_QUIT,
    RESP_CMD_UNKNOWN,   /* unknown names and wrong arity */
    RESP_CMD_COUNT
};

struct resp_conn;

struct resp_slot {
    struct resp_conn *conn;     /* NULL once orphaned */
    struct resp_slot *next;     /* queue order, then the free list */
    struct resp_writer out;     /* the reply while an earlier slot is unfinished */
    uint64_t start_ns;
    enum resp_cmd_id cmd;
    bool finished;
    bool ok;                    /* outcome for the metrics */
    /* Multi-key DEL: callbacks still expected, keys deleted, first error. */
    uint32_t pending;
    int64_t count;
    int error;
    /* SET with NX or XX: an unmet condition answers a null bulk. */
    bool conditional;
};

struct resp_server {
    struct event_base *base;
    struct resp_server_config cfg;
    char *listen, *node_id, *version;   /* copies of the cfg strings */
    struct coord *coord;
    struct coord_options opts;          /* timeout of every coordinated request */
    struct resp_limits limits;
    struct evconnlistener *listener;
    struct event accept_retry;
    struct event sweep;                 /* periodic idle / slow-command check */
    uint16_t port;
    bool stopped;
    struct resp_conn *conns;            /* doubly linked list of open connections */
    uint32_t open;
    uint64_t next_conn_id;
    uint64_t commands;                  /* for INFO */
    uint64_t started_ms;
    struct resp_slot *free_slots;
    struct coord_put_args *put_args;    /* MSET scratch, reused */
    uint32_t put_args_cap;
    struct metrics_listener lm;
    struct metrics_request rm[RESP_CMD_COUNT];
    struct kv_buf scratch;              /* INFO text and error messages */
};

struct resp_conn {
    struct resp_server *server;
    struct resp_conn *prev, *next;
    uint64_t id;
    int fd;
    struct event read_ev, write_ev;
    uint64_t last_io_ms;                /* last byte read or written (monotonic) */
    uint64_t partial_since_ms;          /* an incomplete command waits since; 0: none */
    struct kv_buf in;                   /* bytes read; [in_off, in.len) not yet parsed */
    size_t in_off;
    size_t want;                        /* parse again once in.len reaches this */
    struct resp_parser parser;
    struct resp_writer out;             /* replies; [out_off, out.buf.len) unsent */
    size_t out_off;
    struct resp_slot *head, *tail;      /* replies not yet in `out`, in request order */
    bool in_dispatch;                   /* inside the read handler: it flushes at the end */
    bool input_pending;                 /* complete commands held back by the output limit */
    bool reading;                       /* read_ev is added */
    bool reading_paused;                /* output over the high-water mark */
    bool write_armed;
    bool closing;                       /* QUIT or protocol error: close once flushed */
};

/* Names of the commands for metrics labels (lower case), by id. */
extern const char *const resp_cmd_names[RESP_CMD_COUNT];

/* resp_commands.c: parses argv[0] and runs the command on a new slot. */
void resp_dispatch(struct resp_conn *c, const struct resp_command *cmd);

/* resp_server.c: reply slots and connection control. */
struct resp_slot *resp_slot_begin(struct resp_conn *c, enum resp_cmd_id cmd);
struct resp_writer *resp_slot_writer(struct resp_slot *s);
void resp_slot_finish(struct resp_slot *s, bool ok);
/* QUIT: stop parsing this connection's input; close once replies are out. */
void resp_conn_quit(struct resp_conn *c);

#endif
