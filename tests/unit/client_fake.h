/*
 * client_fake.h - a scripted fake ringkv node for tests/unit/test_client.c.
 *
 * struct fake is a thread with a blocking socket on 127.0.0.1:0 that
 * speaks the frame protocol of rpc/frame.h: it answers each Hello itself
 * (ok, KV_EAUTH for another cluster name, or a connection-level KV_EBUSY),
 * then hands every request to the test's script, which fills the reply,
 * drops the connection or stays silent. It serves one connection at a
 * time (an SDK client holds one) and counts what it saw, so a test can
 * assert that a write was sent exactly once. rpc/server.h cannot drop a
 * connection on command, which the in-doubt cases need; hence raw sockets.
 * Failed checks inside the thread fail the test like any ck_assert.
 */
#ifndef RINGKV_TESTS_CLIENT_FAKE_H
#define RINGKV_TESTS_CLIENT_FAKE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ringkv.h"
#include "proto/kv.pb-c.h"

/* What the script does with one request. */
enum fake_action { FAKE_REPLY, FAKE_CLOSE, FAKE_SILENT };

struct fake;
/* Fills reply (request_id already set) or returns CLOSE / SILENT. conn is
 * the 0-based number of the connection, n the request's number on it. */
typedef enum fake_action (*fake_script)(struct fake *f, int conn, int n, const Ringkv__Envelope *req,
                                        Ringkv__Envelope *reply);

struct fake {
    int listen_fd, stop_fd;
    uint16_t port;
    pthread_t tid;
    fake_script script;
    const char *cluster;          /* hello: refuse other names with KV_EAUTH */
    bool hello_busy;              /* hello: answer request_id 0, KV_EBUSY, and close */
    atomic_int connections;       /* accepted */
    atomic_int requests;          /* after the hello */
    atomic_int puts;
    char seen_context[64];        /* the context of the last Put or Delete */
    size_t seen_context_len;
    int batch_chunks;             /* BatchGet / BatchPut requests seen */
};

/* Starts f on a free loopback port with script; cluster name "ringkv". */
void fake_start(struct fake *f, fake_script script);
/* Stops the thread (also while it waits on a connection) and joins it. */
void fake_stop(struct fake *f);
/* rkv_connect to f, after ndead (<= 3) refusing loopback hosts in the list. */
int fake_client(struct fake *f, int ndead, const struct rkv_options *o, struct rkv_client **out);
/* A bound-then-closed loopback port: connecting to it is refused. */
uint16_t dead_port(void);
/* Client options with `retries`, 1-2 ms backoffs and routing off. */
struct rkv_options fast_options(uint32_t retries);

#endif
