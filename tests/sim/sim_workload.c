/* sim_workload.c - clients, faults and checks of the quorum simulation (see sim_workload.h). */
#include "tests/sim/sim_workload.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "coordinator/dvv.h"
#include "coordinator/object.h"
#include "tests/sim/sim_test.h"
#include "tests/sim/sim_workload_internal.h"

void world_config_defaults(struct world_config *wc)
{
    memset(wc, 0, sizeof *wc);
    wc->nkeys = 6;
    wc->ncounters = 3;
    wc->timeout_ms = 1000;
    wc->fault_period_ms = 1000;
    wc->max_down = 1;
    wc->op_period_ms = 20;
    sq_config_defaults(&wc->sq);
}

void world_open(struct world *w, uint64_t seed, const struct world_config *wc)
{
    memset(w, 0, sizeof *w);
    w->cfg = *wc;
    w->seed = seed;
    sim_test_current_seed = seed;
    /* A simulated power loss makes the engine log every failed sync; the
     * test's own assertions say what matters. RINGKV_SIM_TRACE keeps logs. */
    if (!getenv("RINGKV_SIM_TRACE"))
        kv_log_set_level(KV_LOG_OFF);
    struct sim_config sc;
    sim_config_defaults(&sc);
    sc.seed = seed;
    if (!wc->quiet) {
        sc.drop_rate = 0.01;
        sc.dup_rate = 0.01;
        sc.reorder_rate = 0.05;
        sc.latency_tail_rate = 0.01;
    }
    SIM_ASSERT(sim_create(&sc, &w->sim) == KV_OK, "sim_create");
    SIM_ASSERT(sq_create(w->sim, &wc->sq, &w->c) == KV_OK, "sq_create");
    w->ops = calloc(WORLD_OPS_MAX, sizeof *w->ops);
    SIM_ASSERT(w->ops != NULL, "ops");
}

/* With RINGKV_SIM_SUMMARY set: one line per seed of what happened. */
static void world_summary(struct world *w)
{
    uint32_t by[4][6] = { { 0 } }; /* kind x {ok, indoubt, unavail, pending, timeout, other} */
    for (uint32_t i = 0; i < w->nops; i++) {
        int st = w->ops[i].status;
        int col = st == KV_OK ? 0 : st == KV_EINDOUBT ? 1 : st == KV_EUNAVAIL ? 2 : st == OP_PENDING ? 3
                : st == KV_ETIMEDOUT ? 4 : 5;
        by[w->ops[i].kind][col]++;
    }
    struct coord_stats cs;
    struct sq_stats qs;
    struct sim_stats ss;
    sq_stats_sum(w->c, &cs);
    sq_get_stats(w->c, &qs);
    sim_get_stats(w->sim, &ss);
    fprintf(stderr, "seed %" PRIu64 ": t=%" PRIu64 "ms msgs=%" PRIu64 " crashes=%" PRIu64, w->seed, sim_now(w->sim),
            ss.delivered, qs.crashes);
    static const char *const kinds[] = { "put", "del", "incr", "get" };
    for (int k = 0; k < 4; k++)
        fprintf(stderr, " %s=%u/%u/%u/%u/%u/%u", kinds[k], by[k][0], by[k][1], by[k][2], by[k][3], by[k][4], by[k][5]);
    fprintf(stderr, " repairs=%" PRIu64 " hints=%" PRIu64 "/%" PRIu64 "/%" PRIu64 " fwd=%" PRIu64 " bad=%" PRIu64 "\n",
            cs.read_repairs, cs.hints_stored, cs.hints_delivered, cs.hints_expired, cs.forwarded,
            cs.bad_messages + qs.decode_errors + qs.rejected);
}

void world_close(struct world *w)
{
    if (getenv("RINGKV_SIM_SUMMARY"))
        world_summary(w);
    sq_free(w->c);
    sim_free(w->sim);
    for (uint32_t i = 0; i < w->nops; i++) {
        kv_buf_free(&w->ops[i].ctx);
        kv_buf_free(&w->ops[i].vals);
    }
    for (uint32_t i = 0; i < WORLD_KEYS_MAX; i++)
        kv_buf_free(&w->last_ctx[i]);
    free(w->ops);
}

/* ---- operations ---- */

void key_name(const struct world *w, enum op_kind kind, uint32_t key, char *out)
{
    snprintf(out, WORLD_KEY_BYTES, kind == OP_INCR ? "c%u" : "k%u", key);
}

uint32_t random_callable(struct world *w)
{
    uint32_t n = sq_nodes(w->c), start = (uint32_t)kv_rand_below(sim_rand(w->sim), n);
    for (uint32_t i = 0; i < n; i++)
        if (sq_callable(w->c, (start + i) % n))
            return (start + i) % n;
    return UINT32_MAX;
}

struct op *op_new(struct world *w, enum op_kind kind, uint32_t key, uint32_t node)
{
    if (w->nops >= WORLD_OPS_MAX || node == UINT32_MAX)
        return NULL;
    struct op *op = &w->ops[w->nops];
    memset(op, 0, sizeof *op);
    op->w = w;
    op->idx = w->nops++;
    op->kind = kind;
    op->key = key;
    op->node = node;
    op->status = OP_PENDING;
    op->ctx_read = UINT32_MAX;
    snprintf(op->value, sizeof op->value, "w%u", op->idx);
    return op;
}

static void on_put(void *arg, const struct coord_put_result *r)
{
    struct op *op = arg;
    op->status = r->status;
    if (r->status == KV_OK && kv_buf_set(&op->ctx, r->context.data, r->context.len) != KV_OK)
        op->status = KV_ENOMEM;
}

static void on_del(void *arg, const struct coord_delete_result *r)
{
    struct op *op = arg;
    op->status = r->status;
}

static void on_incr(void *arg, const struct coord_incr_result *r)
{
    struct op *op = arg;
    op->status = r->status;
    op->num = r->value;
}

static void on_get(void *arg, const struct coord_get_result *r)
{
    struct op *op = arg;
    op->status = r->status;
    op->found = r->found;
    if (r->status != KV_OK)
        return;
    int rc = kv_buf_set(&op->ctx, r->context.data, r->context.len);
    for (uint32_t i = 0; rc == KV_OK && i < r->nvalues; i++) {
        rc = kv_buf_appendf(&op->vals, "%zu:", r->values[i].data.len);
        if (rc == KV_OK)
            rc = kv_buf_append(&op->vals, r->values[i].data.data, r->values[i].data.len);
        if (rc == KV_OK)
            rc = kv_buf_append_byte(&op->vals, ';');
    }
    op->nvals = r->nvalues;
    if (rc != KV_OK)
        op->status = KV_ENOMEM;
    else if (op->key < WORLD_KEYS_MAX && kv_buf_set(&op->w->last_ctx[op->key], r->context.data, r->context.len) != KV_OK)
        op->status = KV_ENOMEM;
    else if (op->key < WORLD_KEYS_MAX)
        op->w->last_ctx_op[op->key] = op->idx;
}

void op_issue(struct op *op, const struct coord_options *o, struct kv_slice ctx)
{
    struct world *w = op->w;
    struct coord *co = sq_coord(w->c, op->node);
    char key[WORLD_KEY_BYTES];
    key_name(w, op->kind, op->key, key);
    struct kv_slice k = kv_slice_str(key);
    switch (op->kind) {
    case OP_PUT: {
        struct coord_put_args a = { k, kv_slice_str(op->value), ctx, op->ttl_ms, COORD_PUT_ALWAYS };
        coord_put(co, &a, o, on_put, op);
        break;
    }
    case OP_DEL: /* its context is kept for the resurrection check */
        SIM_ASSERT(kv_buf_set(&op->ctx, ctx.data, ctx.len) == KV_OK, "out of memory");
        coord_delete(co, k, ctx, o, on_del, op);
        break;
    case OP_INCR:
        coord_incr(co, k, 1, o, on_incr, op);
        break;
    case OP_GET:
        coord_get(co, k, o, on_get, op);
        break;
    }
    sq_rearm(w->c, op->node);
}

struct coord_options world_options(const struct world *w, enum coord_consistency level)
{
    struct coord_options o = { level, 0, w->cfg.timeout_ms, w->cfg.primary_only };
    return o;
}

/* Runs until op has an answer (or deadline); returns whether it has. */
static bool op_done(void *ctx) { return ((struct op *)ctx)->status != OP_PENDING; }

bool op_wait(struct world *w, struct op *op, uint64_t deadline_ms)
{
    return sim_run_until_true(w->sim, op_done, op, 5, deadline_ms);
}

/* ---- values read ---- */

bool op_has_value(const struct op *get, const char *value)
{
    size_t vl = strlen(value);
    const char *p = get->vals.data, *end = p + get->vals.len;
    while (p && p < end) {
        char *colon;
        size_t len = strtoull(p, &colon, 10);
        if (len == vl && memcmp(colon + 1, value, vl) == 0)
            return true;
        p = colon + 1 + len + 1;
    }
    return false;
}

/* Calls fn for each value a get returned. */
static void op_each_value(const struct op *get, void (*fn)(struct world *w, struct kv_slice v, void *arg), void *arg)
{
    const char *p = get->vals.data, *end = p + get->vals.len;
    while (p && p < end) {
        char *colon;
        size_t len = strtoull(p, &colon, 10);
        fn(get->w, kv_slice_make(colon + 1, len), arg);
        p = colon + 1 + len + 1;
    }
}

/* Whether context a covers every event of context b. */
bool ctx_descends(struct kv_slice a, struct kv_slice b)
{
    struct dvv da, db;
    dvv_init(&da);
    dvv_init(&db);
    bool ok = dvv_context_decode(a, &da) == KV_OK && dvv_context_decode(b, &db) == KV_OK && dvv_descends(&da, &db);
    dvv_free(&da);
    dvv_free(&db);
    return ok;
}

/* ---- faults ---- */

static uint32_t down_count(struct world *w)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < sq_nodes(w->c); i++)
        n += !sim_node_up(w->sim, i);
    return n;
}

/* Disk faults: a full disk (or an engine stopped by a disk error) is
 * "fixed" by crashing the node one period later (the restart gets a
 * working disk); read errors last one period. */
static void disk_faults(struct world *w, struct kv_rand *r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (w->disk_full[i] || sq_engine_failed(w->c, i) || (sim_node_up(w->sim, i) && !sq_coord(w->c, i))) {
            sq_crash(w->c, i);
            w->disk_full[i] = false;
        }
        if (w->read_errors[i]) {
            sq_disk_heal(w->c, i);
            w->read_errors[i] = false;
        }
    }
    if (w->cfg.disk_full_rate > 0 && kv_rand_double(r) < w->cfg.disk_full_rate) {
        uint32_t node = (uint32_t)kv_rand_below(r, n);
        if (sim_node_up(w->sim, node)) {
            sq_disk_fail(w->c, node, (long)kv_rand_below(r, 8), KV_ENOSPC);
            w->disk_full[node] = true;
            w->faults++;
        }
    }
    if (w->cfg.read_error_rate > 0 && kv_rand_double(r) < w->cfg.read_error_rate) {
        uint32_t node = (uint32_t)kv_rand_below(r, n);
        sq_read_fail(w->c, node, (long)kv_rand_below(r, 20), KV_EIO);
        w->read_errors[node] = true;
        w->faults++;
    }
}

/* Clock skew: one node's wall clock moves by up to max_skew_ms either way. */
static void skew_faults(struct world *w, struct kv_rand *r, uint32_t n)
{
    if (w->cfg.skew_rate > 0 && kv_rand_double(r) < w->cfg.skew_rate) {
        int64_t span = (int64_t)w->cfg.max_skew_ms;
        sq_set_skew(w->c, (uint32_t)kv_rand_below(r, n), (int64_t)kv_rand_below(r, 2u * (uint64_t)span + 1) - span);
        w->faults++;
    }
}

static void fault_tick(void *ctx, struct sim *s)
{
    struct world *w = ctx;
    struct kv_rand *r = sim_rand(s);
    uint32_t n = sq_nodes(w->c);
    if (sim_now(s) >= w->end_ms)
        return;
    if (w->cfg.disk_full_rate > 0 || w->cfg.read_error_rate > 0)
        disk_faults(w, r, n);
    skew_faults(w, r, n);
    if (kv_rand_double(r) < w->cfg.crash_rate) {
        uint32_t node = (uint32_t)kv_rand_below(r, n);
        bool down = !sim_node_up(s, node);
        if (down || down_count(w) < w->cfg.max_down) {
            if (down)
                sq_restart(w->c, node);
            else
                sq_crash(w->c, node);
            w->faults++;
        }
    }
    if (kv_rand_double(r) < w->cfg.partition_rate) {
        if (w->partitioned) {
            sq_heal(w->c);
        } else if (w->cfg.one_way_share > 0 && kv_rand_double(r) < w->cfg.one_way_share) {
            sq_cut(w->c, (uint32_t)kv_rand_below(r, n), (uint32_t)kv_rand_below(r, n));
        } else {
            uint32_t side[2] = { (uint32_t)kv_rand_below(r, n), (uint32_t)kv_rand_below(r, n) };
            sq_partition(w->c, side, 1 + kv_rand_below(r, 2));
        }
        w->partitioned = !w->partitioned;
        w->faults++;
    }
    if (kv_rand_double(r) < w->cfg.pause_rate) {
        sim_pause(s, (uint32_t)kv_rand_below(r, n), 100 + (uint32_t)kv_rand_below(r, 1400));
        w->faults++;
    }
    if (sim_at(s, sim_now(s) + w->cfg.fault_period_ms, fault_tick, w) != KV_OK)
        w->end_ms = 0;
}

void faults_start(struct world *w)
{
    if (w->cfg.crash_rate > 0 || w->cfg.partition_rate > 0 || w->cfg.pause_rate > 0)
        SIM_ASSERT(sim_at(w->sim, sim_now(w->sim) + w->cfg.fault_period_ms, fault_tick, w) == KV_OK, "sim_at");
}

/* ---- random workload ---- */

static void client_tick(void *ctx, struct sim *s)
{
    struct world *w = ctx;
    struct kv_rand *r = sim_rand(s);
    if (sim_now(s) >= w->end_ms)
        return;
    uint32_t key = (uint32_t)kv_rand_below(r, w->cfg.nkeys);
    double x = kv_rand_double(r);
    enum op_kind kind = x < 0.5 ? OP_PUT : x < 0.6 ? OP_DEL : OP_GET;
    if (w->cfg.incr_share > 0 && w->cfg.ncounters > 0 && kv_rand_double(r) < w->cfg.incr_share) {
        kind = OP_INCR;
        key = (uint32_t)kv_rand_below(r, w->cfg.ncounters);
    }
    struct op *op = op_new(w, kind, key, random_callable(w));
    if (op) {
        struct coord_options o = world_options(w, COORD_CONSISTENCY_DEFAULT);
        bool with_ctx = kind != OP_GET && kind != OP_INCR && kv_rand_double(r) < 0.5 && w->last_ctx[key].len;
        struct kv_slice ctxs = with_ctx ? kv_slice_make(w->last_ctx[key].data, w->last_ctx[key].len)
                                        : kv_slice_make(NULL, 0);
        if (with_ctx)
            op->ctx_read = w->last_ctx_op[key];
        op_issue(op, &o, ctxs);
    }
    uint64_t next = sim_now(s) + 1 + kv_rand_below(r, 2 * w->cfg.op_period_ms);
    if (sim_at(s, next, client_tick, w) != KV_OK)
        w->end_ms = 0;
}

void workload_run(struct world *w, uint64_t duration_ms)
{
    w->end_ms = sim_now(w->sim) + duration_ms;
    faults_start(w);
    SIM_ASSERT(sim_at(w->sim, sim_now(w->sim) + 1, client_tick, w) == KV_OK, "sim_at");
    sim_run_until(w->sim, w->end_ms);
}

/* ---- counters ---- */

static void counter_tick(void *ctx, struct sim *s)
{
    struct world *w = ctx;
    struct kv_rand *r = sim_rand(s);
    if (sim_now(s) >= w->end_ms)
        return;
    struct op *op = op_new(w, OP_INCR, (uint32_t)kv_rand_below(r, w->cfg.ncounters), random_callable(w));
    if (op) {
        struct coord_options o = world_options(w, COORD_CONSISTENCY_DEFAULT);
        op_issue(op, &o, kv_slice_make(NULL, 0));
    }
    if (sim_at(s, sim_now(s) + 1 + kv_rand_below(r, 2 * w->cfg.op_period_ms), counter_tick, w) != KV_OK)
        w->end_ms = 0;
}

void counter_run(struct world *w, uint64_t duration_ms)
{
    w->end_ms = sim_now(w->sim) + duration_ms;
    faults_start(w);
    SIM_ASSERT(sim_at(w->sim, sim_now(w->sim) + 1, counter_tick, w) == KV_OK, "sim_at");
    sim_run_until(w->sim, w->end_ms);
}

/* ---- read-your-writes ---- */

struct ryw_writer {
    struct world *w;
    uint32_t key;
    struct op *write;           /* the last write */
    struct op *read;
    struct op *waiting;         /* the operation the writer waits for */
    uint64_t give_up_ms;        /* its coordinator may have crashed: stop waiting then */
    void (*then)(struct ryw_writer *wr);
};

static void ryw_write(void *ctx, struct sim *s);

static void ryw_later(struct ryw_writer *wr, void (*fn)(void *, struct sim *), uint64_t delay_ms)
{
    if (sim_at(wr->w->sim, sim_now(wr->w->sim) + delay_ms, fn, wr) != KV_OK)
        wr->w->end_ms = 0;
}

/* Polls the awaited operation every 5 ms; an answer or the give-up time moves on. */
static void ryw_poll(void *ctx, struct sim *s)
{
    struct ryw_writer *wr = ctx;
    if (wr->waiting->status == OP_PENDING && sim_now(s) < wr->give_up_ms) {
        ryw_later(wr, ryw_poll, 5);
        return;
    }
    wr->then(wr);
}

static void ryw_wait(struct ryw_writer *wr, struct op *op, void (*then)(struct ryw_writer *))
{
    wr->waiting = op;
    wr->give_up_ms = sim_now(wr->w->sim) + 3u * wr->w->cfg.timeout_ms;
    wr->then = then;
    ryw_later(wr, ryw_poll, 1);
}

/* The read after an acknowledged write: it must cover the write, and if
 * its value is gone, an unacknowledged write of this key must have won. */
static void ryw_check(struct ryw_writer *wr)
{
    struct world *w = wr->w;
    struct op *rd = wr->read, *wt = wr->write;
    SIM_ASSERT(ctx_descends(kv_slice_make(rd->ctx.data, rd->ctx.len), kv_slice_make(wt->ctx.data, wt->ctx.len)),
               "read op %u of k%u misses acknowledged write %s (op %u)", rd->idx, wr->key, wt->value, wt->idx);
    bool ok = op_has_value(rd, wt->value);
    for (uint32_t i = 0; !ok && i < w->nops; i++) {
        const struct op *o = &w->ops[i];
        ok = o->kind == OP_PUT && o->key == wr->key && o->status != KV_OK && o->status != KV_EUNAVAIL &&
             op_has_value(rd, o->value);
    }
    SIM_ASSERT(ok, "read op %u of k%u lost %s with no unacknowledged write in its place", rd->idx, wr->key, wt->value);
    w->ryw_checked++;
}

static void ryw_read_done(struct ryw_writer *wr)
{
    if (wr->read->status == KV_OK)
        ryw_check(wr);
    ryw_later(wr, ryw_write, 1 + kv_rand_below(sim_rand(wr->w->sim), 50));
}

static void ryw_read(void *ctx, struct sim *s)
{
    struct ryw_writer *wr = ctx;
    struct world *w = wr->w;
    wr->read = op_new(w, OP_GET, wr->key, random_callable(w));
    if (!wr->read) {
        ryw_later(wr, ryw_read, 10);
        return;
    }
    struct coord_options o = world_options(w, COORD_CONSISTENCY_QUORUM);
    op_issue(wr->read, &o, kv_slice_make(NULL, 0));
    ryw_wait(wr, wr->read, ryw_read_done);
}

static void ryw_write_done(struct ryw_writer *wr)
{
    if (wr->write->status == KV_OK)
        ryw_later(wr, ryw_read, 0);
    else
        ryw_later(wr, ryw_write, 1 + kv_rand_below(sim_rand(wr->w->sim), 50));
}

static void ryw_write(void *ctx, struct sim *s)
{
    struct ryw_writer *wr = ctx;
    struct world *w = wr->w;
    if (sim_now(s) >= w->end_ms)
        return;
    wr->write = op_new(w, OP_PUT, wr->key, random_callable(w));
    if (!wr->write) {
        ryw_later(wr, ryw_write, 10);
        return;
    }
    struct coord_options o = world_options(w, COORD_CONSISTENCY_QUORUM);
    op_issue(wr->write, &o, kv_slice_make(NULL, 0));
    ryw_wait(wr, wr->write, ryw_write_done);
}

void ryw_run(struct world *w, uint64_t duration_ms)
{
    struct ryw_writer wr[WORLD_KEYS_MAX];
    w->end_ms = sim_now(w->sim) + duration_ms;
    faults_start(w);
    for (uint32_t k = 0; k < w->cfg.nkeys; k++) {
        wr[k] = (struct ryw_writer){ .w = w, .key = k };
        ryw_later(&wr[k], ryw_write, 1 + k);
    }
    /* Writers stop issuing at end_ms; let their last steps finish. */
    sim_run_until(w->sim, w->end_ms + 4u * w->cfg.timeout_ms);
}

/* ---- settle and check ---- */

static bool settled(void *ctx)
{
    struct world *w = ctx;
    struct coord_stats st;
    sq_stats_sum(w->c, &st);
    return st.requests_in_flight == 0 && st.hints_pending == 0;
}

void world_settle(struct world *w)
{
    w->end_ms = 0;
    sq_heal(w->c);
    for (uint32_t i = 0; i < sq_nodes(w->c); i++) {
        if (sim_node_up(w->sim, i) && !sq_coord(w->c, i))
            sq_crash(w->c, i); /* its engine did not open (a disk fault): start it again */
        sq_restart(w->c, i);
    }
    sq_views_freeze(w->c, false);
    sq_views_sync(w->c);
    uint64_t deadline = sim_now(w->sim) + 120u * SIM_SEC;
    bool ok = sim_run_until_true(w->sim, settled, w, 100, deadline);
    for (uint32_t i = 0; !ok && i < sq_nodes(w->c); i++) {
        struct coord_stats cs = { 0 };
        if (sq_coord(w->c, i))
            coord_get_stats(sq_coord(w->c, i), &cs);
        fprintf(stderr, "n%u: up=%d coord=%d engine_failed=%d in_flight=%" PRIu64 " hints_pending=%" PRIu64 "\n", i,
                sim_node_up(w->sim, i), sq_coord(w->c, i) != NULL, sq_engine_failed(w->c, i), cs.requests_in_flight,
                cs.hints_pending);
    }
    SIM_ASSERT(ok, "hints or requests still pending at %" PRIu64, sim_now(w->sim));
}

/* A read at R = ALL over primaries through node, retried until it answers KV_OK. */
struct op *final_read(struct world *w, enum op_kind kind, uint32_t key, uint32_t node)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        struct op *op = op_new(w, OP_GET, key, node);
        SIM_ASSERT(op != NULL, "history full");
        op->kind = OP_GET;
        struct coord_options o = { COORD_CONSISTENCY_ALL, 0, 1000, true };
        struct coord *co = sq_coord(w->c, node);
        char name[WORLD_KEY_BYTES];
        key_name(w, kind, key, name);
        coord_get(co, kv_slice_str(name), &o, on_get, op);
        sq_rearm(w->c, node);
        SIM_ASSERT(op_wait(w, op, sim_now(w->sim) + 5u * SIM_SEC), "final read of %s never answered", name);
        if (op->status == KV_OK)
            return op;
    }
    SIM_ASSERT(false, "final read of key %u failed 10 times", key);
    return NULL;
}

struct value_check {
    uint32_t key;
};

static void check_value_origin(struct world *w, struct kv_slice v, void *arg)
{
    struct value_check *vc = arg;
    char buf[16];
    SIM_ASSERT(v.len > 1 && v.len < sizeof buf && v.data[0] == 'w', "unknown value %.*s", (int)v.len, v.data);
    memcpy(buf, v.data + 1, v.len - 1);
    buf[v.len - 1] = 0;
    uint32_t idx = (uint32_t)strtoul(buf, NULL, 10);
    SIM_ASSERT(idx < w->nops && w->ops[idx].kind == OP_PUT && w->ops[idx].key == vc->key,
               "value %.*s read from k%u was never written there", (int)v.len, v.data, vc->key);
    int st = w->ops[idx].status;
    SIM_ASSERT(st == KV_OK || st == KV_EINDOUBT || st == OP_PENDING,
               "value %.*s of a write that answered %d (never applied) is visible", (int)v.len, v.data, st);
}

/* ---- resurrected deletes ----
 *
 * An acknowledged delete with a context C wrote a tombstone whose clock
 * covers C (dvv_update): every value whose dot C covers is superseded for
 * good, wherever it still sits, so none may be in the final read. Values
 * are unique per put ("w<op>") and a dot names one value, so "present" is
 * unambiguous. The history shows that C covers the dot of a value V when
 * C descends the context of
 *  - a get that returned V (a get's context is the join of a clock that
 *    lists V, so it holds V's dot). The get that gave the delete its
 *    context (client_tick: the latest read of the key) is one of them,
 *    since C is its context byte for byte; or
 *  - V's acknowledged put (the returned context holds the put's dot).
 * Both are sufficient, so the check gives no false alarm; it can miss a
 * value whose dot C covers when no operation in the history shows it.
 *
 * Not checked: deletes in doubt or pending (they may never have been
 * written), refused ones, and blind deletes (empty context). A blind
 * delete supersedes what the primary that applies it holds at that
 * moment, which may lag the others (W = 2 of N = 3, sloppy quorum and
 * hints, a restarted node). So even a put acknowledged before the blind
 * delete was issued may rightly survive it as a concurrent sibling; which
 * values the tombstone covers is not visible in the client history, and
 * no stronger rule holds that the checker could state without guessing.
 * (Nor can the checker ask whether a blind tombstone survived: a delete
 * returns no context.) What a blind delete must not do - remove an
 * acknowledged put it did not supersede - world_check_history's put
 * check covers. */
struct resurrection_check {
    uint32_t key;
    uint32_t nops; /* ops below this index are the workload's, not the checker's reads */
};

/* Whether the history shows that delete d's context covers the value of
 * the put op put; *evidence = the op whose context shows it. O(ops). */
static bool delete_covers(struct world *w, const struct op *d, const struct op *put, uint32_t nops,
                          uint32_t *evidence)
{
    struct kv_slice dctx = kv_slice_make(d->ctx.data, d->ctx.len);
    if (put->status == KV_OK && ctx_descends(dctx, kv_slice_make(put->ctx.data, put->ctx.len))) {
        *evidence = put->idx;
        return true;
    }
    for (uint32_t i = 0; i < nops; i++) {
        const struct op *g = &w->ops[i];
        if (g->kind == OP_GET && g->key == d->key && g->status == KV_OK && op_has_value(g, put->value) &&
            ctx_descends(dctx, kv_slice_make(g->ctx.data, g->ctx.len))) {
            *evidence = i;
            return true;
        }
    }
    return false;
}

/* For a failure message: how many times the key's primaries hold value
 * under a dot that context dctx covers (then a tombstone was lost) and
 * under one it does not (then the put was applied twice, as two events). */
static void value_dots(struct world *w, uint32_t key, const char *value, struct kv_slice dctx, uint32_t *covered,
                       uint32_t *other)
{
    char name[WORLD_KEY_BYTES];
    key_name(w, OP_PUT, key, name);
    uint32_t pref[SQ_NODES_MAX], n = sq_preference(w->c, kv_slice_str(name), pref, w->cfg.sq.n_val);
    struct dvv dc;
    struct object o;
    struct kv_buf b = { 0 };
    dvv_init(&dc);
    object_init(&o);
    bool ctx_ok = dvv_context_decode(dctx, &dc) == KV_OK;
    *covered = *other = 0;
    for (uint32_t i = 0; ctx_ok && i < n; i++) {
        bool found = false;
        if (sq_local_object(w->c, pref[i], kv_slice_str(name), &b, &found) != KV_OK || !found ||
            object_decode(kv_slice_make(b.data, b.len), &o) != KV_OK)
            continue;
        for (uint32_t s = 0; s < object_siblings(&o); s++) {
            struct object_sibling sb;
            uint64_t actor, counter;
            object_sibling(&o, s, &sb);
            if (!object_sibling_dot(&o, s, &actor, &counter) || !kv_slice_eq(sb.payload, kv_slice_str(value)))
                continue;
            bool in = false;
            for (uint32_t e = 0; e < dc.nentries && !in; e++)
                in = dc.entries[e].id == actor && dc.entries[e].counter >= counter;
            *(in ? covered : other) += 1;
        }
    }
    object_free(&o);
    kv_buf_free(&b);
    dvv_free(&dc);
}

/* One value of a final read: no acknowledged delete with a context covered it. */
static void check_not_resurrected(struct world *w, struct kv_slice v, void *arg)
{
    const struct resurrection_check *rc = arg;
    char name[16];
    snprintf(name, sizeof name, "%.*s", (int)v.len, v.data);
    const struct op *put = &w->ops[strtoul(name + 1, NULL, 10)]; /* check_value_origin vetted the name */
    for (uint32_t i = 0; i < rc->nops; i++) {
        const struct op *d = &w->ops[i];
        uint32_t evidence = UINT32_MAX, covered = 0, other = 0;
        if (d->kind != OP_DEL || d->key != rc->key || d->status != KV_OK || d->ctx.len == 0 ||
            !delete_covers(w, d, put, rc->nops, &evidence))
            continue;
        value_dots(w, rc->key, name, kv_slice_make(d->ctx.data, d->ctx.len), &covered, &other);
        SIM_ASSERT(false,
                   "value %s (op %u) of k%u is back: acknowledged delete op %u via n%u had a context covering it "
                   "(it descends the context of op %u; it came from get op %d). The primaries hold %s under %u "
                   "dot(s) the delete covered (a lost tombstone) and %u it did not (the put applied twice)",
                   name, put->idx, rc->key, i, d->node, evidence, (int)d->ctx_read, name, covered, other);
    }
}

/* Counts the deletes the resurrection check applies to (ops below nops). */
static void count_checked_deletes(struct world *w, uint32_t nops)
{
    w->deletes_checked = w->deletes_covering = 0;
    for (uint32_t i = 0; i < nops; i++) {
        const struct op *d = &w->ops[i];
        if (d->kind != OP_DEL || d->status != KV_OK || d->ctx.len == 0)
            continue;
        w->deletes_checked++;
        w->deletes_covering += d->ctx_read < nops && w->ops[d->ctx_read].nvals > 0;
    }
}

/* Disk errors too must come out as in doubt (a failed fsync may leave the
 * write in the log): a plain failure would promise it is nowhere. */
static bool write_status_ok(int st)
{
    return st == KV_OK || st == KV_EINDOUBT || st == KV_EUNAVAIL || st == KV_EBUSY || st == OP_PENDING;
}

void world_check_history(struct world *w)
{
    uint32_t acked = 0, first_final = w->nops;
    struct op *finals[WORLD_KEYS_MAX];
    for (uint32_t k = 0; k < w->cfg.nkeys; k++)
        finals[k] = final_read(w, OP_PUT, k, k % sq_nodes(w->c));
    for (uint32_t i = 0; i < first_final; i++) {
        struct op *op = &w->ops[i];
        if (op->kind == OP_PUT || op->kind == OP_DEL || op->kind == OP_INCR)
            SIM_ASSERT(write_status_ok(op->status), "write op %u answered %s", i, kv_status_str(op->status));
        if (op->kind == OP_GET)
            SIM_ASSERT(op->status == KV_OK || op->status == KV_ETIMEDOUT || op->status == KV_EUNAVAIL ||
                           op->status == KV_EBUSY || op->status == OP_PENDING,
                       "read op %u answered %s", i, kv_status_str(op->status));
        if (op->kind != OP_PUT || op->status != KV_OK)
            continue;
        acked++;
        struct op *f = finals[op->key];
        SIM_ASSERT(ctx_descends(kv_slice_make(f->ctx.data, f->ctx.len), kv_slice_make(op->ctx.data, op->ctx.len)),
                   "acknowledged write %s (op %u on k%u via n%u) is neither present nor superseded", op->value, i,
                   op->key, op->node);
    }
    for (uint32_t k = 0; k < w->cfg.nkeys; k++) {
        struct value_check vc = { k };
        op_each_value(finals[k], check_value_origin, &vc);
        struct resurrection_check rc = { k, first_final };
        op_each_value(finals[k], check_not_resurrected, &rc);
    }
    count_checked_deletes(w, first_final);
    SIM_ASSERT(acked > 0 || w->cfg.nkeys == 0, "no write was acknowledged");
}

/* Whether the N primaries of a key hold byte-identical objects. */
bool primaries_agree(struct world *w, enum op_kind kind, uint32_t key)
{
    char name[WORLD_KEY_BYTES];
    key_name(w, kind, key, name);
    uint32_t pref[SQ_NODES_MAX];
    uint32_t n = sq_preference(w->c, kv_slice_str(name), pref, w->cfg.sq.n_val);
    struct kv_buf first = { 0 }, other = { 0 };
    bool f0 = false, agree = true;
    SIM_ASSERT(sq_local_object(w->c, pref[0], kv_slice_str(name), &first, &f0) == KV_OK, "local read");
    for (uint32_t i = 1; agree && i < n; i++) {
        bool fi = false;
        SIM_ASSERT(sq_local_object(w->c, pref[i], kv_slice_str(name), &other, &fi) == KV_OK, "local read");
        agree = f0 == fi && (!fi || kv_slice_eq(kv_slice_make(first.data, first.len), kv_slice_make(other.data, other.len)));
    }
    kv_buf_free(&first);
    kv_buf_free(&other);
    return agree;
}

void world_check_converged(struct world *w)
{
    for (uint32_t round = 0; round < 5; round++) {
        bool all = true;
        for (uint32_t k = 0; k < w->cfg.nkeys; k++) {
            if (!primaries_agree(w, OP_PUT, k)) {
                all = false;
                (void)final_read(w, OP_PUT, k, (k + round) % sq_nodes(w->c)); /* its read repair */
            }
        }
        if (all)
            return;
        sim_run_until(w->sim, sim_now(w->sim) + SIM_SEC);
    }
    SIM_ASSERT(false, "primaries still differ after five rounds of read repair");
}

void world_check_counters(struct world *w)
{
    for (uint32_t k = 0; k < w->cfg.ncounters; k++) {
        uint64_t acked = 0, unknown = 0;
        for (uint32_t i = 0; i < w->nops; i++) {
            const struct op *op = &w->ops[i];
            if (op->kind != OP_INCR || op->key != k)
                continue;
            SIM_ASSERT(write_status_ok(op->status), "incr op %u answered %s", i, kv_status_str(op->status));
            acked += op->status == KV_OK;
            unknown += op->status == KV_EINDOUBT || op->status == OP_PENDING;
        }
        struct op *f = final_read(w, OP_INCR, k, k % sq_nodes(w->c));
        int64_t v = 0;
        if (f->nvals == 1) {
            const char *colon = strchr(f->vals.data, ':');
            v = strtoll(colon + 1, NULL, 10);
        }
        SIM_ASSERT(f->nvals == (acked + unknown > 0 ? 1u : 0u), "counter c%u reads %u values", k, f->nvals);
        SIM_ASSERT((uint64_t)v >= acked && (uint64_t)v <= acked + unknown,
                   "counter c%u = %" PRId64 ", acked %" PRIu64 " + in doubt %" PRIu64, k, v, acked, unknown);
        for (uint32_t round = 0; !primaries_agree(w, OP_INCR, k) && round < 5; round++) {
            (void)final_read(w, OP_INCR, k, (k + round + 1) % sq_nodes(w->c));
            sim_run_until(w->sim, sim_now(w->sim) + SIM_SEC);
        }
        SIM_ASSERT(primaries_agree(w, OP_INCR, k), "replicas of counter c%u differ", k);
    }
}

uint64_t world_trace_hash(struct world *w)
{
    uint64_t h = 0;
    for (uint32_t i = 0; i < w->nops; i++) {
        const struct op *op = &w->ops[i];
        uint64_t v[4] = { h, (uint64_t)op->status, op->node, kv_hash64(op->vals.data, op->vals.len, 0) };
        h = kv_hash64(v, sizeof v, 0);
    }
    struct sim_stats ss;
    sim_get_stats(w->sim, &ss);
    uint64_t v[3] = { h, ss.delivered, ss.events };
    return kv_hash64(v, sizeof v, 0);
}

/* ---- the all-faults campaign ---- */

void world_config_campaign(struct world_config *wc)
{
    world_config_defaults(wc);
    wc->crash_rate = 0.4;
    wc->partition_rate = 0.3;
    wc->one_way_share = 0.3;
    wc->pause_rate = 0.2;
    wc->skew_rate = 0.2;
    wc->max_skew_ms = 120u * SIM_SEC;
    wc->disk_full_rate = 0.15;
    wc->read_error_rate = 0.15;
    wc->incr_share = 0.2;
    wc->sq.torn_writes = true;
}

void campaign_run(struct world *w, uint64_t duration_ms, struct campaign_counts *out)
{
    workload_run(w, duration_ms);
    /* Healing: a node whose disk filled is restarted (its engine stopped
     * writing at the first failure), every other disk and clock repaired. */
    for (uint32_t i = 0; i < sq_nodes(w->c); i++) {
        if (w->disk_full[i] || sq_engine_failed(w->c, i))
            sq_crash(w->c, i);
        w->disk_full[i] = w->read_errors[i] = false;
        sq_disk_heal(w->c, i);
        sq_set_skew(w->c, i, 0);
    }
    struct campaign_counts cc = { .faults = w->faults, .ops = w->nops };
    for (uint32_t i = 0; i < w->nops; i++)
        cc.acked_writes += w->ops[i].kind != OP_GET && w->ops[i].status == KV_OK;
    world_settle(w);
    world_check_history(w);
    cc.deletes_checked = w->deletes_checked;
    cc.deletes_covering = w->deletes_covering;
    world_check_counters(w);
    world_check_converged(w);
    *out = cc;
}
