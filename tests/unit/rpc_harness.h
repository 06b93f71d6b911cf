/*
 * rpc_harness.h - shared fixture of test_rpc, test_rpc_tls and test_rpc_pool.
 *
 * One event_base (rt_base) runs a server (rt_srv) and the clients in the
 * test's own thread. The server's handler answers pings at once (ECHO) or
 * keeps each request and its reply handle in rt_held / rt_held_req for the
 * test to answer later (HOLD). Raw sockets (struct raw) play peers that
 * break the rules. The loop is pumped until a condition holds; the pump's
 * deadline only stops a broken build from hanging, it is never what a
 * test asserts.
 */
#ifndef RINGKV_TESTS_RPC_HARNESS_H
#define RINGKV_TESTS_RPC_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/buf.h"
#include "rpc/client.h"
#include "rpc/frame.h"
#include "rpc/server.h"

#define HELD_MAX 4096

enum handler_mode { ECHO, HOLD };

extern struct event_base *rt_base;
extern struct rpc_server *rt_srv;
extern enum handler_mode rt_mode;
extern struct rpc_reply_handle rt_held[HELD_MAX];
extern Ringkv__Envelope *rt_held_req[HELD_MAX];
extern int rt_nheld;    /* requests held (HOLD) */
extern int rt_handled;  /* requests the handler saw */

/* Check fixture: a fresh event loop; the server is started by each test. */
void setup(void);
void teardown(void);

/* ---- pumping the loop ---- */
typedef bool (*cond_fn)(void *arg);
/* Runs the loop until cond(arg); false if the safety deadline passed first. */
bool pump_until(cond_fn cond, void *arg);
/* Pumps until *counter >= target. */
bool pump_count(const int *counter, int target);
/* Runs the loop for about ms (to show that something does NOT happen). */
void pump_for(uint32_t ms);

/* ---- server side ---- */
/* Listens on 127.0.0.1:0 as node "n1" of cluster "c1", default limits. */
struct rpc_server_config server_config(void);
void start_server(const struct rpc_server_config *cfg);
void reply_ping(struct rpc_reply_handle h, const Ringkv__Envelope *req);
/* Answers held request i and frees it. */
void release_held(int i);

/* ---- client side ---- */
struct session {  /* what a client's ops saw */
    int ready;
    int closed;
    int close_status;
    char close_message[256];
    char server_node[64];
};

struct call {  /* one request's callback record */
    int calls;       /* times the callback ran: must end at exactly 1 */
    int status;
    char expect[32]; /* the ping payload sent, expected back */
    bool payload_ok;
    int *done;       /* bumped on completion, shared by a batch */
};

void call_cb(void *arg, int status, Ringkv__Envelope *reply);
/* Config for a client (node "n2") of rt_srv claiming cluster. */
struct rpc_client_config client_config(const char *cluster);
struct rpc_client *connect_client(const struct rpc_client_config *cfg, struct session *s);
int send_ping(struct rpc_client *c, struct call *call, const char *payload, uint32_t timeout_ms);
/* One ping round trip on c; asserts it is answered. */
void assert_ping_works(struct rpc_client *c);

/* ---- raw sockets ---- */
struct raw {
    int fd;
    struct kv_buf in;  /* received, not yet parsed */
    bool eof;
};

void raw_open(struct raw *r);
void raw_close(struct raw *r);
/* Sends all bytes, pumping the loop while the socket is full. */
void raw_send(struct raw *r, const void *data, size_t len);
void raw_send_env(struct raw *r, const Ringkv__Envelope *env);
void raw_send_hello(struct raw *r, uint32_t version, const char *cluster);
bool raw_has_frame(const struct raw *r);
/* Reads what is there; true once a whole frame is buffered or the peer closed. */
bool raw_poll(void *arg);
/* The next frame from the server, or NULL when the server closed first. */
Ringkv__Envelope *raw_read_env(struct raw *r);
/* Asserts that the server closes the raw connection without sending a frame. */
void raw_expect_close(struct raw *r);

#endif
