/* native.c - see native.h. One struct native_req follows each request from
 * the rpc handler through the coordinator's callback to the reply; they are
 * pooled, and the reply envelope is built on the stack (plus small scratch
 * arrays for siblings), so a Get or Put allocates nothing here beyond what
 * protobuf-c needs to unpack the request. */
#include "node/native.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/limits.h"
#include "common/log.h"
#include "coordinator/coord.h"
#include "node/auth.h"
#include "node/budget.h"
#include "node/metrics.h"
#include "node/stats.h"
#include "proto/kv.pb-c.h"
#include "rpc/frame.h"
#include "rpc/server.h"
#include "storage/engine.h"

enum native_cmd {
    NATIVE_GET, NATIVE_PUT, NATIVE_DELETE, NATIVE_BATCH_GET, NATIVE_BATCH_PUT, NATIVE_EXPIRE,
    NATIVE_TTL, NATIVE_INCR, NATIVE_STATS, NATIVE_PING, NATIVE_CMD_COUNT
};

static const char *const native_cmd_names[NATIVE_CMD_COUNT] = {
    "get", "put", "delete", "batch_get", "batch_put", "expire", "ttl", "incr", "stats", "ping",
};

/* StatsReply: a fixed list; names and values are short. */
#define NATIVE_STATS_MAX 128
#define NATIVE_STAT_BYTES_MAX 48

struct native_req {
    struct native_server *ns;        /* NULL once orphaned by native_server_free */
    struct native_req *prev, *next;  /* in-flight list, then the free list (next only) */
    struct rpc_reply_handle h;
    Ringkv__Envelope *req;           /* owns the key/value bytes the coordinator reads */
    struct kv_slice *keys;           /* BatchGet keys, kept until the answer like req */
    uint64_t start_ns;
    struct node_budget *budget;      /* where bytes go back (outlives an orphaned request) */
    uint64_t bytes;                  /* taken from budget */
    enum native_cmd cmd;
};

struct native_server {
    struct rpc_server *rpc;
    struct coord *coord;
    struct engine *engine;
    uint32_t request_timeout_ms;
    struct native_req *inflight_list, *free_reqs;
    uint64_t inflight;
    struct metrics_request rm[NATIVE_CMD_COUNT];
    struct metrics_listener lm;
    uint64_t refused_seen, accepted_seen;   /* rpc counters already copied */
    struct coord_put_args *put_args;        /* BatchPut scratch */
    uint32_t put_args_cap;
    Ringkv__Sibling *sibs;                  /* GetReply scratch */
    Ringkv__Sibling **sib_ptrs;
    uint32_t sibs_cap;
    rpc_request_fn other;                   /* non-data requests (native_server_set_other) */
    void *other_arg;
    struct auth_users *users;               /* NULL: authentication off */
    struct node_budget *budget;             /* NULL: no node-wide cap */
    char cluster_name[KV_CLUSTER_NAME_BYTES_MAX + 1];
};

/* ---- request lifetime ---- */

static struct native_req *native_req_new(struct native_server *ns, Ringkv__Envelope *req,
                                         struct rpc_reply_handle h, enum native_cmd cmd)
{
    struct native_req *r = ns->free_reqs;
    if (r)
        ns->free_reqs = r->next;
    else if (!(r = malloc(sizeof *r)))
        return NULL;
    r->ns = ns;
    r->h = h;
    r->req = req;
    r->keys = NULL;
    r->cmd = cmd;
    r->budget = NULL;
    r->bytes = 0;
    r->start_ns = kv_mono_ns();
    r->prev = NULL;
    r->next = ns->inflight_list;
    if (r->next)
        r->next->prev = r;
    ns->inflight_list = r;
    ns->inflight++;
    return r;
}

/* Ends a request: counts it, frees its envelope, recycles r. */
static void native_req_end(struct native_req *r, bool ok)
{
    struct native_server *ns = r->ns;
    node_budget_release(r->budget, r->bytes);
    rpc_envelope_free(r->req);
    free(r->keys);
    if (!ns) {
        free(r);
        return;
    }
    metrics_request_done(&ns->rm[r->cmd], ok, (kv_mono_ns() - r->start_ns) / 1000u);
    if (r->prev)
        r->prev->next = r->next;
    else
        ns->inflight_list = r->next;
    if (r->next)
        r->next->prev = r->prev;
    ns->inflight--;
    r->next = ns->free_reqs;
    ns->free_reqs = r;
}

static void native_send(struct native_req *r, Ringkv__Envelope *reply)
{
    if (r->ns) {
        int rc = rpc_reply_send(r->h, reply);
        if (rc != KV_OK && rc != KV_ECLOSED)
            log_debug("native", "reply not sent status=\"%s\"", kv_status_str(rc));
    }
    native_req_end(r, true);
}

static void native_fail(struct native_req *r, int status, const char *why)
{
    if (r->ns) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s%s%s", kv_status_str(status), why ? ": " : "", why ? why : "");
        int rc = rpc_reply_error(r->h, status, msg);
        if (rc != KV_OK && rc != KV_ECLOSED)
            log_debug("native", "error reply not sent status=\"%s\"", kv_status_str(rc));
    }
    native_req_end(r, false);
}

/* ---- options ---- */

static int native_consistency(Ringkv__Consistency c, uint32_t replicas, struct coord_options *o)
{
    if (replicas > 0) {
        o->consistency = COORD_CONSISTENCY_EXPLICIT;
        o->replicas = replicas;
        return KV_OK;
    }
    switch (c) {
    case RINGKV__CONSISTENCY__CONSISTENCY_DEFAULT: o->consistency = COORD_CONSISTENCY_DEFAULT; return KV_OK;
    case RINGKV__CONSISTENCY__CONSISTENCY_ONE: o->consistency = COORD_CONSISTENCY_ONE; return KV_OK;
    case RINGKV__CONSISTENCY__CONSISTENCY_QUORUM: o->consistency = COORD_CONSISTENCY_QUORUM; return KV_OK;
    case RINGKV__CONSISTENCY__CONSISTENCY_ALL: o->consistency = COORD_CONSISTENCY_ALL; return KV_OK;
    default: return KV_EINVAL;
    }
}

static int native_read_opts(const struct native_server *ns, const Ringkv__ReadOptions *ro,
                            struct coord_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = ns->request_timeout_ms;
    if (!ro)
        return KV_OK;
    if (ro->timeout_ms)
        o->timeout_ms = ro->timeout_ms;
    o->primary_only = ro->primary_only;
    return native_consistency(ro->consistency, ro->r, o);
}

static int native_write_opts(const struct native_server *ns, const Ringkv__WriteOptions *wo,
                             struct coord_options *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = ns->request_timeout_ms;
    if (!wo)
        return KV_OK;
    if (wo->timeout_ms)
        o->timeout_ms = wo->timeout_ms;
    o->primary_only = wo->primary_only;
    return native_consistency(wo->consistency, wo->w, o);
}

static struct kv_slice native_bytes(ProtobufCBinaryData b)
{
    return kv_slice_make(b.data, b.len);
}

static ProtobufCBinaryData native_pb(struct kv_slice s)
{
    ProtobufCBinaryData b = { s.len, (uint8_t *)s.data };
    return b;
}

/* ---- Get and BatchGet ---- */

/* Fills gr from g using sibs/ptrs (room for g->nvalues). */
static void native_fill_get(const struct coord_get_result *g, Ringkv__GetReply *gr,
                            Ringkv__Sibling *sibs, Ringkv__Sibling **ptrs)
{
    ringkv__get_reply__init(gr);
    gr->found = g->found;
    gr->context = native_pb(g->context);
    for (uint32_t i = 0; i < g->nvalues; i++) {
        ringkv__sibling__init(&sibs[i]);
        sibs[i].value = native_pb(g->values[i].data);
        sibs[i].expires_at_ms = g->values[i].expires_at_ms;
        ptrs[i] = &sibs[i];
    }
    gr->n_siblings = g->nvalues;
    gr->siblings = ptrs;
}

static int native_reserve_sibs(struct native_server *ns, uint32_t n)
{
    if (n <= ns->sibs_cap)
        return KV_OK;
    Ringkv__Sibling *s = realloc(ns->sibs, n * sizeof *s);
    if (!s)
        return KV_ENOMEM;
    ns->sibs = s;
    Ringkv__Sibling **p = realloc(ns->sib_ptrs, n * sizeof *p);
    if (!p)
        return KV_ENOMEM;
    ns->sib_ptrs = p;
    ns->sibs_cap = n;
    return KV_OK;
}

static void native_on_get(void *arg, const struct coord_get_result *g)
{
    struct native_req *r = arg;
    struct native_server *ns = r->ns;
    if (g->status != KV_OK || !ns || native_reserve_sibs(ns, g->nvalues) != KV_OK) {
        native_fail(r, g->status != KV_OK ? g->status : KV_ENOMEM, NULL);
        return;
    }
    Ringkv__GetReply gr;
    native_fill_get(g, &gr, ns->sibs, ns->sib_ptrs);
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_GET_REPLY;
    env.get_reply = &gr;
    native_send(r, &env);
}

/* Arrays of one BatchGetReply, in one allocation-per-array. */
struct native_batch_get {
    Ringkv__BatchGetResult *res;
    Ringkv__BatchGetResult **res_ptrs;
    Ringkv__GetReply *gets;
    Ringkv__Sibling *sibs;
    Ringkv__Sibling **sib_ptrs;
};

static void native_batch_get_free(struct native_batch_get *b)
{
    free(b->res);
    free(b->res_ptrs);
    free(b->gets);
    free(b->sibs);
    free(b->sib_ptrs);
}

static void native_on_batch_get(void *arg, const struct coord_batch_get_result *br)
{
    struct native_req *r = arg;
    if (br->status != KV_OK || !r->ns) {
        native_fail(r, br->status != KV_OK ? br->status : KV_ECLOSED, NULL);
        return;
    }
    size_t n = br->nitems, nsibs = 0;
    for (size_t i = 0; i < n; i++)
        nsibs += br->items[i].status == KV_OK ? br->items[i].nvalues : 0;
    struct native_batch_get b = {
        calloc(n ? n : 1, sizeof *b.res), calloc(n ? n : 1, sizeof *b.res_ptrs),
        calloc(n ? n : 1, sizeof *b.gets), calloc(nsibs ? nsibs : 1, sizeof *b.sibs),
        calloc(nsibs ? nsibs : 1, sizeof *b.sib_ptrs),
    };
    if (!b.res || !b.res_ptrs || !b.gets || !b.sibs || !b.sib_ptrs) {
        native_batch_get_free(&b);
        native_fail(r, KV_ENOMEM, NULL);
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const struct coord_get_result *g = &br->items[i];
        ringkv__batch_get_result__init(&b.res[i]);
        b.res[i].status = g->status;
        if (g->status == KV_OK) {
            native_fill_get(g, &b.gets[i], b.sibs + used, b.sib_ptrs + used);
            used += g->nvalues;
            b.res[i].reply = &b.gets[i];
        } else {
            b.res[i].error = (char *)kv_status_str(g->status);
        }
        b.res_ptrs[i] = &b.res[i];
    }
    Ringkv__BatchGetReply reply = RINGKV__BATCH_GET_REPLY__INIT;
    reply.n_results = n;
    reply.results = b.res_ptrs;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_BATCH_GET_REPLY;
    env.batch_get_reply = &reply;
    native_send(r, &env);
    native_batch_get_free(&b);
}

/* ---- Put, BatchPut, Delete ---- */

static void native_on_put(void *arg, const struct coord_put_result *p)
{
    struct native_req *r = arg;
    if (p->status != KV_OK) {
        native_fail(r, p->status, NULL);
        return;
    }
    Ringkv__PutReply pr = RINGKV__PUT_REPLY__INIT;
    pr.context = native_pb(p->context);
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_PUT_REPLY;
    env.put_reply = &pr;
    native_send(r, &env);
}

static int native_put_args(const Ringkv__Put *p, struct coord_put_args *a)
{
    memset(a, 0, sizeof *a);
    a->key = native_bytes(p->key);
    a->value = native_bytes(p->value);
    a->context = native_bytes(p->context);
    a->ttl_ms = p->ttl_ms;
    switch (p->condition) {
    case RINGKV__CONDITION__CONDITION_NONE: a->condition = COORD_PUT_ALWAYS; return KV_OK;
    case RINGKV__CONDITION__CONDITION_IF_ABSENT: a->condition = COORD_PUT_IF_ABSENT; return KV_OK;
    case RINGKV__CONDITION__CONDITION_IF_EXISTS: a->condition = COORD_PUT_IF_EXISTS; return KV_OK;
    default: return KV_EINVAL;
    }
}

static void native_put(struct native_server *ns, struct native_req *r, const Ringkv__Put *p)
{
    struct coord_put_args a;
    struct coord_options o;
    if (native_put_args(p, &a) != KV_OK || native_write_opts(ns, p->options, &o) != KV_OK) {
        native_fail(r, KV_EINVAL, "unknown condition or consistency");
        return;
    }
    coord_put(ns->coord, &a, &o, native_on_put, r);
}

static void native_on_batch_put(void *arg, const struct coord_batch_put_result *br)
{
    struct native_req *r = arg;
    if (br->status != KV_OK) {
        native_fail(r, br->status, NULL);
        return;
    }
    size_t n = br->nitems;
    Ringkv__BatchPutResult *res = calloc(n ? n : 1, sizeof *res);
    Ringkv__BatchPutResult **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!res || !ptrs) {
        free(res);
        free(ptrs);
        native_fail(r, KV_ENOMEM, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ringkv__batch_put_result__init(&res[i]);
        res[i].status = br->items[i].status;
        if (br->items[i].status == KV_OK)
            res[i].context = native_pb(br->items[i].context);
        else
            res[i].error = (char *)kv_status_str(br->items[i].status);
        ptrs[i] = &res[i];
    }
    Ringkv__BatchPutReply reply = RINGKV__BATCH_PUT_REPLY__INIT;
    reply.n_results = n;
    reply.results = ptrs;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_BATCH_PUT_REPLY;
    env.batch_put_reply = &reply;
    native_send(r, &env);
    free(res);
    free(ptrs);
}

static void native_batch_put(struct native_server *ns, struct native_req *r, const Ringkv__BatchPut *bp)
{
    struct coord_options o;
    if (bp->n_puts > KV_BATCH_KEYS_MAX) {
        native_fail(r, KV_ETOOBIG, "too many entries in one batch");
        return;
    }
    uint32_t n = (uint32_t)bp->n_puts;
    if (n > ns->put_args_cap) {
        struct coord_put_args *p = realloc(ns->put_args, n * sizeof *p);
        if (!p) {
            native_fail(r, KV_ENOMEM, NULL);
            return;
        }
        ns->put_args = p;
        ns->put_args_cap = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (native_put_args(bp->puts[i], &ns->put_args[i]) != KV_OK) {
            native_fail(r, KV_EINVAL, "unknown condition");
            return;
        }
    }
    if (native_write_opts(ns, n ? bp->puts[0]->options : NULL, &o) != KV_OK) {
        native_fail(r, KV_EINVAL, "unknown consistency");
        return;
    }
    coord_batch_put(ns->coord, ns->put_args, n, &o, native_on_batch_put, r);
}

static void native_on_delete(void *arg, const struct coord_delete_result *d)
{
    struct native_req *r = arg;
    if (d->status != KV_OK) {
        native_fail(r, d->status, NULL);
        return;
    }
    Ringkv__DeleteReply dr = RINGKV__DELETE_REPLY__INIT;
    dr.found = d->existed;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_DELETE_REPLY;
    env.delete_reply = &dr;
    native_send(r, &env);
}

/* ---- Expire, Ttl, Incr ---- */

static void native_expire_reply(struct native_req *r, bool found)
{
    Ringkv__ExpireReply er = RINGKV__EXPIRE_REPLY__INIT;
    er.found = found;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_EXPIRE_REPLY;
    env.expire_reply = &er;
    native_send(r, &env);
}

static void native_on_expire(void *arg, const struct coord_expire_result *e)
{
    struct native_req *r = arg;
    if (e->status != KV_OK)
        native_fail(r, e->status, NULL);
    else
        native_expire_reply(r, e->applied);
}

/* Persist answers "applied" only when an expiry was removed; whether the
 * key exists at all takes a Ttl read. */
static void native_on_persist_ttl(void *arg, const struct coord_ttl_result *t)
{
    struct native_req *r = arg;
    if (t->status != KV_OK)
        native_fail(r, t->status, NULL);
    else
        native_expire_reply(r, t->ttl_ms != COORD_TTL_MISSING);
}

static void native_on_persist(void *arg, const struct coord_expire_result *e)
{
    struct native_req *r = arg;
    if (e->status != KV_OK)
        native_fail(r, e->status, NULL);
    else if (e->applied || !r->ns)
        native_expire_reply(r, e->applied);
    else
        coord_ttl(r->ns->coord, native_bytes(r->req->expire->key), NULL, native_on_persist_ttl, r);
}

static void native_expire(struct native_server *ns, struct native_req *r, const Ringkv__Expire *e)
{
    struct coord_options o;
    if (native_write_opts(ns, e->options, &o) != KV_OK || e->ttl_ms > COORD_TTL_MS_MAX) {
        native_fail(r, KV_EINVAL, "unknown consistency or ttl_ms over 100 years");
        return;
    }
    if (e->ttl_ms == 0)
        coord_persist(ns->coord, native_bytes(e->key), &o, native_on_persist, r);
    else
        coord_expire(ns->coord, native_bytes(e->key), (int64_t)e->ttl_ms, &o, native_on_expire, r);
}

static void native_on_ttl(void *arg, const struct coord_ttl_result *t)
{
    struct native_req *r = arg;
    if (t->status != KV_OK) {
        native_fail(r, t->status, NULL);
        return;
    }
    Ringkv__TtlReply tr = RINGKV__TTL_REPLY__INIT;
    tr.ttl_ms = t->ttl_ms;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_TTL_REPLY;
    env.ttl_reply = &tr;
    native_send(r, &env);
}

static void native_on_incr(void *arg, const struct coord_incr_result *in)
{
    struct native_req *r = arg;
    if (in->status != KV_OK) {
        native_fail(r, in->status, in->status == KV_EINVAL ? "value is not an integer or counter"
                                   : in->status == KV_ETOOBIG ? "increment would overflow" : NULL);
        return;
    }
    Ringkv__IncrReply ir = RINGKV__INCR_REPLY__INIT;
    ir.value = in->value;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_INCR_REPLY;
    env.incr_reply = &ir;
    native_send(r, &env);
}

/* ---- Stats, Ping ---- */

struct native_stats {
    Ringkv__Stat items[NATIVE_STATS_MAX];
    Ringkv__Stat *ptrs[NATIVE_STATS_MAX];
    char names[NATIVE_STATS_MAX][NATIVE_STAT_BYTES_MAX];
    char values[NATIVE_STATS_MAX][NATIVE_STAT_BYTES_MAX];
    size_t n;
};

static void native_stat(struct native_stats *l, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void native_stat(struct native_stats *l, const char *name, const char *fmt, ...)
{
    if (l->n == NATIVE_STATS_MAX)
        return;
    size_t i = l->n++;
    snprintf(l->names[i], NATIVE_STAT_BYTES_MAX, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->values[i], NATIVE_STAT_BYTES_MAX, fmt, ap);
    va_end(ap);
    ringkv__stat__init(&l->items[i]);
    l->items[i].name = l->names[i];
    l->items[i].value = l->values[i];
    l->ptrs[i] = &l->items[i];
}

/* One coordinator counter (node_stats_coord_each: the list /metrics shows). */
static void native_stat_coord(void *arg, const char *name, uint64_t value)
{
    char full[NATIVE_STAT_BYTES_MAX];
    snprintf(full, sizeof full, "coord.%s", name);
    native_stat(arg, full, "%" PRIu64, value);
}

static void native_stats_engine(struct native_stats *l, struct engine *e)
{
    struct engine_stats es;
    engine_get_stats(e, &es);
    for (int i = 0; i < ENGINE_LEVELS; i++) {
        char name[NATIVE_STAT_BYTES_MAX];
        snprintf(name, sizeof name, "engine.l%d.files", i);
        native_stat(l, name, "%" PRIu32, es.levels[i].files);
        snprintf(name, sizeof name, "engine.l%d.bytes", i);
        native_stat(l, name, "%" PRIu64, es.levels[i].bytes);
    }
    native_stat(l, "engine.memtable_bytes", "%" PRIu64, es.memtable_bytes);
    native_stat(l, "engine.user_bytes_written", "%" PRIu64, es.user_bytes_written);
    native_stat(l, "engine.wal_bytes_written", "%" PRIu64, es.wal_bytes_written);
    native_stat(l, "engine.write_amplification", "%.3f", es.write_amplification);
    native_stat(l, "engine.cache_hit_rate", "%.4f", es.cache_hit_rate);
    native_stat(l, "engine.flushes", "%" PRIu64, es.flushes);
    native_stat(l, "engine.compactions", "%" PRIu64, es.compactions);
    native_stat(l, "engine.write_stalls_ms", "%" PRIu64, es.write_stalls_ms);
    native_stat(l, "engine.last_seq", "%" PRIu64, es.last_seq);
    native_stat(l, "engine.background_error", "%s", kv_status_str(es.background_error));
}

static void native_stats(struct native_server *ns, struct native_req *r)
{
    struct native_stats *l = calloc(1, sizeof *l);
    if (!l) {
        native_fail(r, KV_ENOMEM, NULL);
        return;
    }
    struct rpc_server_stats rs;
    rpc_server_get_stats(ns->rpc, &rs);
    native_stat(l, "native.connections_open", "%" PRIu64, rs.connections_open);
    native_stat(l, "native.connections_accepted", "%" PRIu64, rs.connections_accepted);
    native_stat(l, "native.connections_refused", "%" PRIu64, rs.connections_refused);
    native_stat(l, "native.requests", "%" PRIu64, rs.requests);
    native_stat(l, "native.inflight", "%" PRIu64, ns->inflight);
    struct coord_stats cs;
    coord_get_stats(ns->coord, &cs);
    node_stats_coord_each(&cs, native_stat_coord, l);
    native_stats_engine(l, ns->engine);
    Ringkv__StatsReply sr = RINGKV__STATS_REPLY__INIT;
    sr.n_stats = l->n;
    sr.stats = l->ptrs;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_STATS_REPLY;
    env.stats_reply = &sr;
    native_send(r, &env);
    free(l);
}

static void native_ping(struct native_req *r, const Ringkv__Ping *p)
{
    Ringkv__PingReply pr = RINGKV__PING_REPLY__INIT;
    pr.payload = p->payload;
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_PING_REPLY;
    env.ping_reply = &pr;
    native_send(r, &env);
}

/* ---- dispatch ---- */

static bool native_cmd_of(Ringkv__Envelope__BodyCase body, enum native_cmd *out)
{
    switch (body) {
    case RINGKV__ENVELOPE__BODY_GET: *out = NATIVE_GET; return true;
    case RINGKV__ENVELOPE__BODY_PUT: *out = NATIVE_PUT; return true;
    case RINGKV__ENVELOPE__BODY_DELETE: *out = NATIVE_DELETE; return true;
    case RINGKV__ENVELOPE__BODY_BATCH_GET: *out = NATIVE_BATCH_GET; return true;
    case RINGKV__ENVELOPE__BODY_BATCH_PUT: *out = NATIVE_BATCH_PUT; return true;
    case RINGKV__ENVELOPE__BODY_EXPIRE: *out = NATIVE_EXPIRE; return true;
    case RINGKV__ENVELOPE__BODY_TTL: *out = NATIVE_TTL; return true;
    case RINGKV__ENVELOPE__BODY_INCR: *out = NATIVE_INCR; return true;
    case RINGKV__ENVELOPE__BODY_STATS: *out = NATIVE_STATS; return true;
    case RINGKV__ENVELOPE__BODY_PING: *out = NATIVE_PING; return true;
    default: return false;
    }
}

/* Read requests: options first, then the coordinator. */
static void native_read(struct native_server *ns, struct native_req *r, const Ringkv__Envelope *e)
{
    struct coord_options o;
    const Ringkv__ReadOptions *ro = e->body_case == RINGKV__ENVELOPE__BODY_GET ? e->get->options
                                  : e->body_case == RINGKV__ENVELOPE__BODY_TTL ? e->ttl->options
                                                                             : e->batch_get->options;
    if (native_read_opts(ns, ro, &o) != KV_OK) {
        native_fail(r, KV_EINVAL, "unknown consistency");
        return;
    }
    if (e->body_case == RINGKV__ENVELOPE__BODY_GET) {
        coord_get(ns->coord, native_bytes(e->get->key), &o, native_on_get, r);
    } else if (e->body_case == RINGKV__ENVELOPE__BODY_TTL) {
        coord_ttl(ns->coord, native_bytes(e->ttl->key), &o, native_on_ttl, r);
    } else if (e->batch_get->n_keys > KV_BATCH_KEYS_MAX) {
        native_fail(r, KV_ETOOBIG, "too many keys in one batch");
    } else {
        /* ProtobufCBinaryData is {len, data}; kv_slice is {data, len}: convert. */
        size_t n = e->batch_get->n_keys;
        r->keys = malloc((n ? n : 1) * sizeof *r->keys);
        if (!r->keys) {
            native_fail(r, KV_ENOMEM, NULL);
            return;
        }
        for (size_t i = 0; i < n; i++)
            r->keys[i] = native_bytes(e->batch_get->keys[i]);
        coord_batch_get(ns->coord, r->keys, (uint32_t)n, &o, native_on_batch_get, r);
    }
}

static void native_write(struct native_server *ns, struct native_req *r, const Ringkv__Envelope *e)
{
    struct coord_options o;
    switch (e->body_case) {
    case RINGKV__ENVELOPE__BODY_PUT:
        native_put(ns, r, e->put);
        return;
    case RINGKV__ENVELOPE__BODY_BATCH_PUT:
        native_batch_put(ns, r, e->batch_put);
        return;
    case RINGKV__ENVELOPE__BODY_EXPIRE:
        native_expire(ns, r, e->expire);
        return;
    case RINGKV__ENVELOPE__BODY_DELETE:
        if (native_write_opts(ns, e->delete_->options, &o) != KV_OK)
            native_fail(r, KV_EINVAL, "unknown consistency");
        else
            coord_delete(ns->coord, native_bytes(e->delete_->key), native_bytes(e->delete_->context),
                         &o, native_on_delete, r);
        return;
    default: /* INCR */
        if (native_write_opts(ns, e->incr->options, &o) != KV_OK)
            native_fail(r, KV_EINVAL, "unknown consistency");
        else
            coord_incr(ns->coord, native_bytes(e->incr->key), e->incr->delta, &o, native_on_incr, r);
        return;
    }
}

uint32_t native_required_role(const Ringkv__Envelope *req)
{
    switch (req->body_case) {
    case RINGKV__ENVELOPE__BODY_GET: case RINGKV__ENVELOPE__BODY_BATCH_GET:
    case RINGKV__ENVELOPE__BODY_TTL: case RINGKV__ENVELOPE__BODY_STATS:
    case RINGKV__ENVELOPE__BODY_PING:
        return AUTH_ROLE_READ;
    case RINGKV__ENVELOPE__BODY_PUT: case RINGKV__ENVELOPE__BODY_BATCH_PUT:
    case RINGKV__ENVELOPE__BODY_DELETE: case RINGKV__ENVELOPE__BODY_EXPIRE:
    case RINGKV__ENVELOPE__BODY_INCR:
        return AUTH_ROLE_WRITE;
    case RINGKV__ENVELOPE__BODY_CLUSTER:
        return AUTH_ROLE_NODE;
    case RINGKV__ENVELOPE__BODY_ADMIN:
        switch (req->admin->op) {
        case RINGKV__ADMIN_OP__ADMIN_OP_MEMBERS: case RINGKV__ADMIN_OP__ADMIN_OP_RING:
        case RINGKV__ADMIN_OP__ADMIN_OP_HINTS: case RINGKV__ADMIN_OP__ADMIN_OP_RING_MAP:
        case RINGKV__ADMIN_OP__ADMIN_OP_LOCAL_GET: case RINGKV__ADMIN_OP__ADMIN_OP_AAE_STATUS:
        case RINGKV__ADMIN_OP__ADMIN_OP_TRANSFERS:
            return AUTH_ROLE_READ;
        default:
            return AUTH_ROLE_ADMIN;
        }
    default:
        return AUTH_ROLE_ADMIN;
    }
}

/* Refuses req (KV_EAUTH) if the peer's role is below what it needs. */
static bool native_refuse_role(const struct rpc_peer *peer, Ringkv__Envelope *req,
                               struct rpc_reply_handle h)
{
    uint32_t need = native_required_role(req);
    if (peer->access >= need)
        return false;
    char why[160];
    snprintf(why, sizeof why, "permission denied: this request needs role %s, the connection "
             "has role %s", auth_role_name((enum auth_role)need),
             auth_role_name((enum auth_role)peer->access));
    log_debug("native", "request refused peer=%s body=%d reason=\"%s\"", peer->addr,
              (int)req->body_case, why);
    int rc = rpc_reply_error(h, KV_EAUTH, why);
    if (rc != KV_OK && rc != KV_ECLOSED)
        log_debug("native", "error reply not sent status=\"%s\"", kv_status_str(rc));
    rpc_envelope_free(req);
    return true;
}

static int native_authenticate(void *arg, const Ringkv__Hello *hello,
                               const struct rpc_hello_identity *id, uint32_t *access_out,
                               char *why, size_t why_len)
{
    struct native_server *ns = arg;
    const Ringkv__Credentials *cr = hello->credentials;
    enum auth_role role;
    int rc = auth_hello(ns->users, ns->cluster_name, hello->role == RINGKV__ROLE__ROLE_NODE,
                        hello->node_id, id->cert_uri, cr ? cr->user : NULL, cr ? cr->secret : NULL,
                        &role, why, why_len);
    if (rc != KV_OK)
        return rc;
    log_debug("native", "authenticated peer=%s role=%s", id->peer_addr, auth_role_name(role));
    *access_out = role;
    return KV_OK;
}

static void native_handle(void *arg, const struct rpc_peer *peer, Ringkv__Envelope *req,
                          struct rpc_reply_handle h)
{
    struct native_server *ns = arg;
    enum native_cmd cmd;
    if (native_refuse_role(peer, req, h))
        return;
    if (!native_cmd_of(req->body_case, &cmd) && ns->other) {
        ns->other(ns->other_arg, peer, req, h);
        return;
    }
    if (!native_cmd_of(req->body_case, &cmd)) {
        int rc = rpc_reply_error(h, KV_EINVAL, "not a client request");
        if (rc != KV_OK && rc != KV_ECLOSED)
            log_debug("native", "error reply not sent status=\"%s\"", kv_status_str(rc));
        rpc_envelope_free(req);
        return;
    }
    uint64_t bytes = ringkv__envelope__get_packed_size(req);
    if (!node_budget_take(ns->budget, bytes)) {
        int rc = rpc_reply_error(h, KV_EBUSY, "the node holds its limit of unanswered request "
                                 "bytes (--inflight-bytes-max); retry later");
        if (rc != KV_OK && rc != KV_ECLOSED)
            log_debug("native", "error reply not sent status=\"%s\"", kv_status_str(rc));
        rpc_envelope_free(req);
        return;
    }
    struct native_req *r = native_req_new(ns, req, h, cmd);
    if (r) {
        r->budget = ns->budget;
        r->bytes = bytes;
    } else {
        node_budget_release(ns->budget, bytes);
    }
    if (!r) {
        int rc = rpc_reply_error(h, KV_ENOMEM, "out of memory");
        (void)rc; /* nothing more to do for a request we cannot even track */
        rpc_envelope_free(req);
        return;
    }
    switch (cmd) {
    case NATIVE_GET: case NATIVE_TTL: case NATIVE_BATCH_GET: native_read(ns, r, req); break;
    case NATIVE_STATS: native_stats(ns, r); break;
    case NATIVE_PING: native_ping(r, req->ping); break;
    default: native_write(ns, r, req); break;
    }
}

/* ---- lifetime ---- */

static int native_register_metrics(struct native_server *ns, struct metrics *m)
{
    int rc = metrics_listener_register(m, "native", &ns->lm);
    for (int i = 0; rc == KV_OK && i < NATIVE_CMD_COUNT; i++)
        rc = metrics_request_register(m, "native", native_cmd_names[i], &ns->rm[i]);
    return rc;
}

int native_server_new(struct event_base *base, const struct native_server_config *cfg,
                      struct coord *coord, struct engine *engine, struct metrics *metrics,
                      struct native_server **out)
{
    struct native_server *ns = calloc(1, sizeof *ns);
    if (!ns)
        return KV_ENOMEM;
    ns->coord = coord;
    ns->engine = engine;
    ns->request_timeout_ms = cfg->request_timeout_ms;
    ns->users = cfg->users;
    ns->budget = cfg->budget;
    snprintf(ns->cluster_name, sizeof ns->cluster_name, "%s", cfg->cluster_name ? cfg->cluster_name : "");
    int rc = native_register_metrics(ns, metrics);
    if (rc != KV_OK)
        goto fail;
    struct rpc_server_config rc_cfg = {
        .listen = cfg->listen,
        .node_id = cfg->node_id,
        .cluster_name = cfg->cluster_name,
        .connections_max = cfg->max_connections,
        .frame_bytes_max = cfg->frame_bytes_max,
        .idle_timeout_ms = cfg->idle_timeout_ms,
        .frame_timeout_ms = cfg->frame_timeout_ms,
        .output_bytes_max = cfg->output_bytes_max,
        .tls = cfg->tls,
        .conflict_mode = cfg->conflict_mode,
        .authenticate = cfg->users ? native_authenticate : NULL,
        .auth_arg = ns,
    };
    rc = rpc_server_start(base, &rc_cfg, native_handle, ns, &ns->rpc);
    if (rc != KV_OK)
        goto fail;
    *out = ns;
    return KV_OK;
fail:
    native_server_free(ns);
    return rc;
}

uint16_t native_server_port(const struct native_server *s) { return rpc_server_port(s->rpc); }

void native_server_set_other(struct native_server *s, rpc_request_fn fn, void *arg)
{
    s->other = fn;
    s->other_arg = arg;
}

uint64_t native_server_inflight(const struct native_server *s) { return s->inflight; }

void native_server_refresh_metrics(struct native_server *s)
{
    struct rpc_server_stats rs;
    rpc_server_get_stats(s->rpc, &rs);
    *s->lm.open = (double)rs.connections_open;
    *s->lm.accepted = rs.connections_accepted;
    *s->lm.refused = rs.connections_refused;
    *s->lm.protocol_errors = rs.hellos_refused;
}

void native_server_free(struct native_server *s)
{
    if (!s)
        return;
    rpc_server_free(s->rpc);
    for (struct native_req *r = s->inflight_list; r; r = r->next)
        r->ns = NULL; /* orphans: their late answers only free themselves */
    while (s->free_reqs) {
        struct native_req *r = s->free_reqs;
        s->free_reqs = r->next;
        free(r);
    }
    free(s->put_args);
    free(s->sibs);
    free(s->sib_ptrs);
    free(s);
}
