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
 *
 * Write coalescing (resp_batch.c). A SET is not written at once: its key,
 * value and options are copied into the server's batch, and after every
 * connection that was readable in this loop iteration has been served,
 * the whole batch goes to the coordinator as one coord_batch_put, which
 * the engine commits with one WAL write (and, with --sync always, one
 * fsync). Each SET still gets its own reply, sent after the batch ran.
 * Order within a connection holds because any other command on a
 * connection with a deferred SET runs the batch first; across
 * connections a deferred SET is not yet acknowledged, so a concurrent
 * reader may see either value, as with any concurrent request.
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
    RESP_CMD_SELECT, RESP_CMD_QUIT, RESP_CMD_AUTH,
    RESP_CMD_UNKNOWN,   /* unknown names and wrong arity */
    RESP_CMD_COUNT
};

struct resp_conn;
struct resp_slot;
struct resp_batch_run;

/* One deferred SET; key and value live in resp_batch.bytes. */
struct resp_batch_item {
    struct resp_slot *slot;
    size_t key_off, value_off;
    size_t key_len, value_len;
    uint64_t ttl_ms;
    enum coord_condition condition;
};

struct resp_batch {
    struct event ev;                    /* active while items or touched conns wait */
    bool scheduled;
    bool running;                       /* inside the coordinator: finishing slots only touch */
    struct resp_batch_item *items;
    uint32_t n, cap;
    struct coord_put_args *args;        /* built from items when the batch runs */
    uint32_t args_cap;
    struct kv_buf bytes;
    struct resp_conn *touched;          /* connections with replies to send after a run */
    struct resp_batch_run *inflight;    /* runs the coordinator has not answered */
    struct resp_batch_run *spare;       /* one run object kept for reuse */
};

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
    /* Command bytes taken from the node budget until the slot finishes. */
    struct node_budget *budget;
    uint64_t bytes;
};

struct rpc_listener;

struct resp_server {
    struct event_base *base;
    struct resp_server_config cfg;
    char *listen, *node_id, *version;   /* copies of the cfg strings */
    struct coord *coord;
    struct coord_options opts;          /* timeout of every coordinated request */
    struct resp_limits limits;
    struct rpc_listener *listener;
    struct event sweep;                 /* periodic idle / slow-command check */
    uint16_t port;
    bool stopped;
    struct resp_conn *conns;            /* doubly linked list of open connections */
    uint32_t open;
    uint64_t next_conn_id;
    uint64_t commands;                  /* for INFO */
    uint64_t started_ms;
    struct resp_slot *free_slots;
    struct resp_batch batch;
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
    bool eof;                           /* the peer half-closed: close once all is answered */
    uint32_t deferred;                  /* SETs of this connection in the batch */
    bool touched;                       /* on the batch's touched list */
    struct resp_conn *touched_next;
    uint8_t role;                       /* enum auth_role: AUTH sets it; NODE when auth is off */
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
/* Sends replies, runs input held back by the output limit, closes a
 * finished connection. Returns false if c was freed. */
bool resp_conn_after_io(struct resp_conn *c);

/* resp_commands.c: the reply of a SET with coordinator status `status`. */
void resp_set_reply(struct resp_slot *slot, int status);

/* resp_batch.c: write coalescing (see the top of this file). */
void resp_batch_init(struct resp_server *s);
void resp_batch_free(struct resp_server *s);
/* Defers the SET a on slot; false if it cannot (no memory, value too big):
 * the caller then writes it at once, after resp_batch_run if c->deferred. */
bool resp_batch_add(struct resp_conn *c, struct resp_slot *slot, const struct coord_put_args *a);
/* Runs the deferred SETs now (connections other than the one dispatching
 * get their replies sent from the batch event). */
void resp_batch_run(struct resp_server *s);
/* A slot of c finished inside a run: send c's replies after it. */
void resp_batch_touch(struct resp_conn *c);
/* c is closing: drop it from the touched list. */
void resp_batch_forget(struct resp_conn *c);

#endif
