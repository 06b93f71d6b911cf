/* resp_batch.c - write coalescing of RESP SETs; the why and the ordering
 * rules are at the top of resp_internal.h. Cost: one copy of each key and
 * value (values over RESP_BATCH_VALUE_BYTES_MAX are not deferred) and one
 * coordinator call per loop iteration instead of one per SET. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/resp_internal.h"

/* A batch runs early when it reaches either bound, so a flood of SETs
 * holds little memory and its first replies are not delayed long. */
#define RESP_BATCH_ITEMS_MAX 1024u
#define RESP_BATCH_BYTES_MAX (1024u * 1024u)
#define RESP_BATCH_VALUE_BYTES_MAX (64u * 1024u)

/* One batch handed to the coordinator: the slots to answer, kept until it
 * calls back (before coord_batch_put returns when standalone, later in a
 * cluster). Key and value bytes are the coordinator's only during the
 * call (coord.h), so only the slots need to live this long. */
struct resp_batch_run {
    struct resp_server *s;          /* NULL once the server is gone */
    struct resp_batch_run *next;    /* the server's in-flight list */
    struct resp_slot **slots;
    uint32_t n, cap;
};

static void resp_batch_cb(evutil_socket_t fd, short what, void *arg);

void resp_batch_init(struct resp_server *s)
{
    event_assign(&s->batch.ev, s->base, -1, 0, resp_batch_cb, s);
}

void resp_batch_free(struct resp_server *s)
{
    event_del(&s->batch.ev);
    for (struct resp_batch_run *run = s->batch.inflight; run; run = run->next)
        run->s = NULL; /* answered later into orphaned slots, then freed */
    if (s->batch.spare) {
        free(s->batch.spare->slots);
        free(s->batch.spare);
    }
    free(s->batch.items);
    free(s->batch.args);
    kv_buf_free(&s->batch.bytes);
    memset(&s->batch, 0, sizeof s->batch);
}

static void resp_batch_schedule(struct resp_server *s)
{
    if (!s->batch.scheduled) {
        s->batch.scheduled = true;
        event_active(&s->batch.ev, EV_TIMEOUT, 1);
    }
}

bool resp_batch_add(struct resp_conn *c, struct resp_slot *slot, const struct coord_put_args *a)
{
    struct resp_server *s = c->server;
    struct resp_batch *b = &s->batch;
    if (a->value.len > RESP_BATCH_VALUE_BYTES_MAX)
        return false;
    if (b->n == RESP_BATCH_ITEMS_MAX || b->bytes.len + a->key.len + a->value.len > RESP_BATCH_BYTES_MAX)
        resp_batch_run(s);
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 64;
        struct resp_batch_item *items = realloc(b->items, cap * sizeof *items);
        if (!items)
            return false;
        b->items = items;
        b->cap = cap;
    }
    struct resp_batch_item *it = &b->items[b->n];
    it->slot = slot;
    it->key_off = b->bytes.len;
    it->key_len = a->key.len;
    it->value_off = b->bytes.len + a->key.len;
    it->value_len = a->value.len;
    it->ttl_ms = a->ttl_ms;
    it->condition = a->condition;
    size_t before = b->bytes.len;
    if (kv_buf_append(&b->bytes, a->key.data, a->key.len) != KV_OK ||
        kv_buf_append(&b->bytes, a->value.data, a->value.len) != KV_OK) {
        b->bytes.len = before;
        return false;
    }
    b->n++;
    c->deferred++;
    resp_batch_schedule(s);
    return true;
}

static void resp_batch_run_release(struct resp_server *s, struct resp_batch_run *run)
{
    if (s) {
        for (struct resp_batch_run **p = &s->batch.inflight; *p; p = &(*p)->next) {
            if (*p == run) {
                *p = run->next;
                break;
            }
        }
        if (!s->batch.spare) { /* keep one: the standalone case never allocates again */
            s->batch.spare = run;
            return;
        }
    }
    free(run->slots);
    free(run);
}

static void resp_batch_done(void *arg, const struct coord_batch_put_result *r)
{
    struct resp_batch_run *run = arg;
    struct resp_server *s = run->s;
    if (s)
        s->batch.running = true; /* replies are sent together from the batch event */
    for (uint32_t i = 0; i < run->n; i++)
        resp_set_reply(run->slots[i], r->status != KV_OK ? r->status : r->items[i].status);
    if (s)
        s->batch.running = false;
    resp_batch_run_release(s, run);
}

/* Builds the coordinator's argument array; false without memory. */
static bool resp_batch_args(struct resp_batch *b)
{
    if (b->n > b->args_cap) {
        struct coord_put_args *args = realloc(b->args, b->cap * sizeof *args);
        if (!args)
            return false;
        b->args = args;
        b->args_cap = b->cap;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        const struct resp_batch_item *it = &b->items[i];
        b->args[i] = (struct coord_put_args){
            .key = kv_slice_make(b->bytes.data + it->key_off, it->key_len),
            .value = kv_slice_make(b->bytes.data + it->value_off, it->value_len),
            .ttl_ms = it->ttl_ms,
            .condition = it->condition,
        };
    }
    return true;
}

/* A run object with room for the current batch's slots, or NULL. */
static struct resp_batch_run *resp_batch_run_new(struct resp_server *s)
{
    struct resp_batch *b = &s->batch;
    struct resp_batch_run *run = b->spare;
    b->spare = NULL;
    if (!run && !(run = calloc(1, sizeof *run)))
        return NULL;
    if (b->n > run->cap) {
        struct resp_slot **slots = realloc(run->slots, b->cap * sizeof *slots);
        if (!slots) {
            resp_batch_run_release(s, run);
            return NULL;
        }
        run->slots = slots;
        run->cap = b->cap;
    }
    run->s = s;
    run->n = b->n;
    for (uint32_t i = 0; i < b->n; i++)
        run->slots[i] = b->items[i].slot;
    return run;
}

void resp_batch_run(struct resp_server *s)
{
    struct resp_batch *b = &s->batch;
    if (b->n == 0)
        return;
    for (uint32_t i = 0; i < b->n; i++)
        if (b->items[i].slot->conn)
            b->items[i].slot->conn->deferred = 0;
    struct resp_batch_run *run = resp_batch_run_new(s);
    if (!run || !resp_batch_args(b)) {
        log_warn("resp", "batch of %u SETs failed: out of memory", b->n);
        if (run)
            resp_batch_run_release(s, run);
        b->running = true;
        for (uint32_t i = 0; i < b->n; i++)
            resp_set_reply(b->items[i].slot, KV_ENOMEM);
        b->running = false;
    } else {
        run->next = b->inflight;
        b->inflight = run;
        coord_batch_put(s->coord, b->args, b->n, &s->opts, resp_batch_done, run);
    }
    b->n = 0;
    kv_buf_reset(&b->bytes);
}

void resp_batch_touch(struct resp_conn *c)
{
    if (c->touched)
        return;
    c->touched = true;
    c->touched_next = c->server->batch.touched;
    c->server->batch.touched = c;
    resp_batch_schedule(c->server);
}

void resp_batch_forget(struct resp_conn *c)
{
    if (!c->touched)
        return;
    for (struct resp_conn **p = &c->server->batch.touched; *p; p = &(*p)->touched_next) {
        if (*p == c) {
            *p = c->touched_next;
            break;
        }
    }
    c->touched = false;
}

/* Runs after the I/O callbacks of this loop iteration: write the batch,
 * then send the replies of every connection it answered. */
static void resp_batch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct resp_server *s = arg;
    s->batch.scheduled = false;
    resp_batch_run(s);
    while (s->batch.touched) {
        struct resp_conn *c = s->batch.touched;
        s->batch.touched = c->touched_next;
        c->touched = false;
        (void)resp_conn_after_io(c); /* may free c, or defer more SETs: both fine here */
    }
}
