/*
 * coord.c - configuration, lifetime, the request entry points and the
 * driver's calls (messages, ticks); see coord.h and coord_internal.h.
 *
 * Standalone every entry point runs against the local engine at once
 * (coord_local.c). In cluster mode reads go to coord_read.c and writes to
 * coord_write.c; both fall back to the same local code, with no message
 * and no copy, when this node is the key's only replica.
 */
#include "coordinator/coord.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/limits.h"
#include "common/log.h"
#include "coordinator/coord_internal.h"

/* Seed for the actor id of a node: kv_hash64(node_id, len, seed). */
#define COORD_ACTOR_SEED 0x636f6f7264ull        /* "coord" */

/* ---- small helpers ---- */

int coord_grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return KV_OK;
    uint32_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, (size_t)n * elem);
    if (!p)
        return KV_ENOMEM;
    *arr = p;
    *cap = n;
    return KV_OK;
}

uint64_t coord_wall_ms(const struct coord *c) { return c->clock->wall_ms(c->clock); }
uint64_t coord_mono_ms(const struct coord *c) { return c->clock->mono_ms(c->clock); }

/* Condition failures are answers, not errors. */
void coord_count_status(struct coord *c, int status)
{
    if (status != KV_OK && status != KV_EEXIST && status != KV_ENOTFOUND)
        c->stats.errors++;
    c->stats.unavailable += status == KV_EUNAVAIL;
    c->stats.indoubt += status == KV_EINDOUBT;
    c->stats.read_timeouts += status == KV_ETIMEDOUT;
}

/* Standalone N is 1; in a cluster N comes from the ring, so EXPLICIT is
 * checked against it when the request is routed (quorum_required). */
static int check_options(const struct coord *c, const struct coord_options *o)
{
    if (!o)
        return KV_OK;
    if ((unsigned)o->consistency > COORD_CONSISTENCY_EXPLICIT)
        return KV_EINVAL;
    if (o->consistency == COORD_CONSISTENCY_EXPLICIT &&
        (o->replicas == 0 || (!c->cluster && o->replicas > c->n_replicas)))
        return KV_EINVAL;
    return KV_OK;
}

void coord_write_callback(enum coord_write_op op, union coord_cb cb, void *arg,
                          const struct coord_write_result *r)
{
    switch (op) {
    case COORD_OP_PUT: {
        struct coord_put_result p = { r->status, r->status == KV_OK ? r->context : kv_slice_make(NULL, 0) };
        cb.put(arg, &p);
        break;
    }
    case COORD_OP_DELETE: {
        struct coord_delete_result d = { r->status, r->status == KV_OK && r->flag };
        cb.del(arg, &d);
        break;
    }
    case COORD_OP_EXPIRE:
    case COORD_OP_PERSIST: {
        struct coord_expire_result e = { r->status, r->status == KV_OK && r->flag };
        cb.expire(arg, &e);
        break;
    }
    case COORD_OP_INCR: {
        struct coord_incr_result i = { r->status, r->status == KV_OK ? r->value : 0 };
        cb.incr(arg, &i);
        break;
    }
    }
}

/* ---- config and lifetime ---- */

void coord_config_default(struct coord_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->partitions = KEYSPACE_PARTITIONS_DEFAULT;
    cfg->n_replicas = 1;
    cfg->key_bytes_max = KV_KEY_BYTES_MAX_DEFAULT;
    cfg->value_bytes_max = KV_VALUE_BYTES_MAX_DEFAULT;
    cfg->siblings_max = KV_SIBLINGS_MAX_DEFAULT;
    cfg->r_default = COORD_R_DEFAULT;
    cfg->w_default = COORD_W_DEFAULT;
    cfg->requests_max = COORD_REQUESTS_MAX_DEFAULT;
    cfg->hint_ttl_ms = COORD_HINT_TTL_MS_DEFAULT;
    cfg->hints_per_sec = COORD_HINTS_PER_SEC_DEFAULT;
    cfg->hint_deliveries_max = COORD_HINT_DELIVERIES_MAX_DEFAULT;
    cfg->hint_retry_min_ms = COORD_HINT_RETRY_MIN_MS_DEFAULT;
    cfg->hint_retry_max_ms = COORD_HINT_RETRY_MAX_MS_DEFAULT;
    cfg->hint_timeout_ms = COORD_HINT_TIMEOUT_MS_DEFAULT;
    cfg->hints_bytes_max = KV_HINTS_BYTES_MAX_DEFAULT;
}

static const char *check_cluster_config(const struct coord_config *cfg)
{
    if (!cfg->net != !cfg->cluster)
        return "net/cluster";
    if (!cfg->net)
        return cfg->n_replicas != 1 ? "n_replicas" : NULL;
    if (!cfg->net->send || !cfg->cluster->ring || !cfg->cluster->alive)
        return "net/cluster";
    if (cfg->r_default == 0 || cfg->r_default > RING_N_VAL_MAX)
        return "r_default";
    if (cfg->w_default == 0 || cfg->w_default > RING_N_VAL_MAX)
        return "w_default";
    if (cfg->requests_max == 0 || cfg->requests_max > COORD_REQUESTS_LIMIT)
        return "requests_max";
    if (cfg->hint_ttl_ms == 0 || cfg->hints_per_sec == 0 || cfg->hint_deliveries_max == 0 ||
        cfg->hint_timeout_ms == 0)
        return "hints";
    if (cfg->hint_retry_min_ms == 0 || cfg->hint_retry_max_ms < cfg->hint_retry_min_ms)
        return "hint_retry";
    if (cfg->tombstone_grace_ms > COORD_TTL_MS_MAX)
        return "tombstone_grace_ms";
    return NULL;
}

static int check_config(const struct coord_config *cfg)
{
    const char *bad = NULL;
    size_t idlen = cfg->node_id ? strlen(cfg->node_id) : 0;
    if (idlen == 0 || idlen > KV_NODE_ID_BYTES_MAX)
        bad = "node_id";
    else if (!cfg->engine)
        bad = "engine";
    else if (cfg->key_bytes_max == 0 || cfg->key_bytes_max > COORD_KEY_BYTES_LIMIT)
        bad = "key_bytes_max";
    else if (cfg->value_bytes_max == 0 || cfg->value_bytes_max > COORD_VALUE_BYTES_LIMIT)
        bad = "value_bytes_max";
    else if (cfg->siblings_max == 0 || cfg->siblings_max > COORD_SIBLINGS_LIMIT)
        bad = "siblings_max";
    else if (cfg->conflict_mode != COORD_CONFLICT_DVV && cfg->conflict_mode != COORD_CONFLICT_LWW)
        bad = "conflict_mode";
    else
        bad = check_cluster_config(cfg);
    if (bad) {
        log_error("coord", "invalid config field=%s", bad);
        return KV_EINVAL;
    }
    return KV_OK;
}

static int cluster_init(struct coord *c, const struct coord_config *cfg)
{
    c->cluster = true;
    c->net = *cfg->net;
    c->cops = *cfg->cluster;
    kv_rand_seed(&c->rand, cfg->rand_seed);
    c->r_default = cfg->r_default;
    c->w_default = cfg->w_default;
    c->now_ms = coord_mono_ms(c);
    for (int i = 0; i < 3; i++)
        object_init(&c->m[i]);
    object_init(&c->rin);
    object_init(&c->rout);
    peer_watch_init(&c->watch);
    int rc = coord_reqs_init(c, cfg->requests_max);
    if (rc == KV_OK)
        rc = coord_hints_init(c, cfg);
    return rc;
}

int coord_new(const struct coord_config *cfg, struct coord **out)
{
    int rc = check_config(cfg);
    if (rc != KV_OK)
        return rc;
    struct coord *c = calloc(1, sizeof *c);
    if (!c)
        return KV_ENOMEM;
    rc = keyspace_init(&c->ks, cfg->partitions);
    if (rc != KV_OK) {
        log_error("coord", "invalid config field=partitions value=%" PRIu32, cfg->partitions);
        free(c);
        return rc;
    }
    c->engine = cfg->engine;
    if (cfg->write_hook)
        c->hook = *cfg->write_hook;
    c->clock = cfg->clock ? cfg->clock : &kv_clock_real;
    memcpy(c->node_id, cfg->node_id, strlen(cfg->node_id) + 1);
    c->actor = kv_hash64(cfg->node_id, strlen(cfg->node_id), COORD_ACTOR_SEED);
    c->n_replicas = cfg->n_replicas;
    c->key_bytes_max = cfg->key_bytes_max;
    c->value_bytes_max = cfg->value_bytes_max;
    c->siblings_max = cfg->siblings_max;
    c->lww = cfg->conflict_mode == COORD_CONFLICT_LWW;
    c->tombstone_grace_ms = cfg->net ? cfg->tombstone_grace_ms : 0; /* standalone: the compaction filter */
    c->object_bytes_max = object_bytes_max(cfg->value_bytes_max);
    object_init(&c->old);
    object_init(&c->new);
    dvv_init(&c->ctx_in);
    object_counter_init(&c->counter);
    if (cfg->net && (rc = cluster_init(c, cfg)) != KV_OK) {
        coord_free(c);
        return rc;
    }
    *out = c;
    return KV_OK;
}

void coord_free(struct coord *c)
{
    if (!c)
        return;
    struct kv_buf *bufs[] = { &c->ekey, &c->stored, &c->records, &c->encoded, &c->ctx, &c->render,
                              &c->mbuf, &c->rbuf, &c->hbuf };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        kv_buf_free(bufs[i]);
    object_free(&c->old);
    object_free(&c->new);
    for (int i = 0; i < 3; i++)
        object_free(&c->m[i]);
    object_free(&c->rin);
    object_free(&c->rout);
    dvv_free(&c->ctx_in);
    object_counter_free(&c->counter);
    free(c->values);
    free(c->recs);
    free(c->rec_offs);
    coord_batch_buffers_free(c);
    if (c->cluster) {
        coord_reqs_free(c);
        coord_hints_free(c);
        peer_watch_free(&c->watch);
    }
    kv_buf_free(&c->purge_cursor);
    free(c);
}

void coord_get_stats(const struct coord *c, struct coord_stats *out) { *out = c->stats; }

/* ---- reads ---- */

static void read_entry(struct coord *c, struct kv_slice key, const struct coord_options *o, bool is_ttl,
                       union coord_cb cb, void *arg)
{
    int rc = check_options(c, o);
    if (rc == KV_OK && c->cluster) {
        c->now_ms = coord_mono_ms(c);
        coord_read_start(c, key, o, is_ttl, cb, arg);
        return;
    }
    if (is_ttl) {
        struct coord_ttl_result r = { rc, COORD_TTL_MISSING };
        if (rc == KV_OK)
            coord_local_ttl(c, key, &r);
        else
            coord_count_status(c, rc);
        cb.ttl(arg, &r);
        return;
    }
    struct coord_get_result r;
    if (rc == KV_OK) {
        (void)coord_local_get(c, key, &r); /* the status travels in r */
    } else {
        memset(&r, 0, sizeof r);
        r.status = rc;
        coord_count_status(c, rc);
    }
    cb.get(arg, &r);
}

void coord_get(struct coord *c, struct kv_slice key, const struct coord_options *o,
               coord_get_cb cb, void *arg)
{
    c->stats.gets++;
    read_entry(c, key, o, false, (union coord_cb){ .get = cb }, arg);
}

void coord_ttl(struct coord *c, struct kv_slice key, const struct coord_options *o,
               coord_ttl_cb cb, void *arg)
{
    c->stats.ttls++;
    read_entry(c, key, o, true, (union coord_cb){ .ttl = cb }, arg);
}

/* ---- writes ---- */

static void write_entry(struct coord *c, const struct coord_write *w, const struct coord_options *o,
                        union coord_cb cb, void *arg)
{
    struct coord_write_result r;
    int rc = check_options(c, o);
    if (rc == KV_OK && c->cluster) {
        c->now_ms = coord_mono_ms(c);
        coord_write_start(c, w, o, cb, arg, NULL, 0);
        return;
    }
    if (rc == KV_OK) {
        coord_local_write(c, w, &r);
    } else {
        memset(&r, 0, sizeof r);
        r.status = rc;
    }
    coord_count_status(c, r.status);
    coord_write_callback(w->op, cb, arg, &r);
}

void coord_put(struct coord *c, const struct coord_put_args *a, const struct coord_options *o,
               coord_put_cb cb, void *arg)
{
    struct coord_write w = { COORD_OP_PUT, a->key, a->value, a->context, a->ttl_ms, a->condition, 0 };
    c->stats.puts++;
    write_entry(c, &w, o, (union coord_cb){ .put = cb }, arg);
}

void coord_delete(struct coord *c, struct kv_slice key, struct kv_slice context,
                  const struct coord_options *o, coord_delete_cb cb, void *arg)
{
    struct coord_write w = { .op = COORD_OP_DELETE, .key = key, .context = context };
    c->stats.deletes++;
    write_entry(c, &w, o, (union coord_cb){ .del = cb }, arg);
}

void coord_expire(struct coord *c, struct kv_slice key, int64_t ttl_ms,
                  const struct coord_options *o, coord_expire_cb cb, void *arg)
{
    struct coord_write w = { .op = COORD_OP_EXPIRE, .key = key, .arg = ttl_ms };
    c->stats.expires++;
    write_entry(c, &w, o, (union coord_cb){ .expire = cb }, arg);
}

void coord_persist(struct coord *c, struct kv_slice key, const struct coord_options *o,
                   coord_expire_cb cb, void *arg)
{
    struct coord_write w = { .op = COORD_OP_PERSIST, .key = key };
    c->stats.expires++;
    write_entry(c, &w, o, (union coord_cb){ .expire = cb }, arg);
}

void coord_incr(struct coord *c, struct kv_slice key, int64_t delta,
                const struct coord_options *o, coord_incr_cb cb, void *arg)
{
    struct coord_write w = { .op = COORD_OP_INCR, .key = key, .arg = delta };
    c->stats.incrs++;
    write_entry(c, &w, o, (union coord_cb){ .incr = cb }, arg);
}

/* ---- the driver's calls ---- */

/* A reply: to the request it names, if that is still waiting for `from`. */
static int handle_reply(struct coord *c, const char *from, const struct coord_msg *m)
{
    struct coord_req *r = coord_req_find(c, m->req_id);
    if (!r)
        return KV_OK; /* late, duplicated, or for a previous life of this node */
    enum coord_req_kind want = m->type == COORD_MSG_REPLICA_GET_REPLY ? REQ_READ
                             : m->type == COORD_MSG_REPLICA_PUT_REPLY ? REQ_WRITE
                             : m->type == COORD_MSG_FORWARD_REPLY     ? REQ_FORWARD
                                                                      : REQ_HINT;
    if (r->kind != want)
        return KV_EPROTO;
    switch (want) {
    case REQ_READ:
        coord_read_reply(c, r, from, m);
        break;
    case REQ_WRITE:
        coord_write_reply(c, r, from, m);
        break;
    case REQ_FORWARD:
        coord_forward_reply(c, r, from, m);
        break;
    default:
        coord_hint_reply(c, r, from, m);
        break;
    }
    return KV_OK;
}

/* A write another node forwarded: coordinate it here, answer it there. */
static void handle_forward(struct coord *c, const char *from, const struct coord_msg *m)
{
    struct coord_write w = { m->op, m->key, m->value, m->context, m->ttl_ms, m->condition, m->arg };
    union coord_cb none = { .put = NULL };
    if (coord_forward_seen(c, from, m->req_id))
        return; /* a duplicate: applying it again would apply the write twice */
    c->stats.forwards_served++;
    coord_write_start(c, &w, &m->options, none, NULL, from, m->req_id);
}

int coord_handle_message(struct coord *c, const char *from, const struct coord_msg *msg, uint64_t now_ms)
{
    if (!c->cluster)
        return KV_ESTATE;
    int rc = KV_OK;
    c->now_ms = now_ms;
    peer_watch_heard(&c->watch, from);
    switch (msg->type) {
    case COORD_MSG_REPLICA_GET:
        coord_replica_get(c, from, msg);
        break;
    case COORD_MSG_REPLICA_PUT:
    case COORD_MSG_HINT:
        coord_replica_put(c, from, msg);
        break;
    case COORD_MSG_FORWARD:
        handle_forward(c, from, msg); /* coord_msg_from_proto checked its options */
        break;
    case COORD_MSG_REPLICA_GET_REPLY:
    case COORD_MSG_REPLICA_PUT_REPLY:
    case COORD_MSG_FORWARD_REPLY:
    case COORD_MSG_HINT_REPLY:
        rc = handle_reply(c, from, msg);
        break;
    case COORD_MSG_PURGE_MARK:
        rc = coord_purge_mark(c, msg);
        break;
    default:
        rc = KV_EPROTO;
    }
    if (rc != KV_OK) {
        c->stats.bad_messages++;
        rc = KV_EPROTO;
    }
    return rc;
}

void coord_tick(struct coord *c, uint64_t now_ms)
{
    if (!c->cluster)
        return;
    c->now_ms = now_ms;
    coord_reqs_expire(c, now_ms);
    coord_hints_tick(c, now_ms);
    coord_purge_tick(c, now_ms);
}

uint64_t coord_next_tick_ms(const struct coord *c)
{
    if (!c->cluster)
        return UINT64_MAX;
    uint64_t a = coord_reqs_next_ms(c), b = coord_hints_next_ms(c), p = coord_purge_next_ms(c);
    a = a < b ? a : b;
    return a < p ? a : p;
}

/* ---- compaction filter ---- */

enum engine_filter_decision coord_compaction_filter(void *arg, int level, struct kv_slice key,
                                                    struct kv_slice value)
{
    const struct kv_clock *clock = arg;
    if (!clock || key.len < KEYSPACE_PREFIX_BYTES || (unsigned char)key.data[0] != KEYSPACE_DATA)
        return ENGINE_FILTER_KEEP;
    return object_encoded_is_expired(value, clock->wall_ms(clock)) ? ENGINE_FILTER_DROP : ENGINE_FILTER_KEEP;
}

enum engine_filter_decision coord_compaction_filter_grace(void *arg, int level, struct kv_slice key,
                                                          struct kv_slice value)
{
    const struct coord_ttl_filter *f = arg;
    if (!f || !f->clock || key.len < KEYSPACE_PREFIX_BYTES || (unsigned char)key.data[0] != KEYSPACE_DATA)
        return ENGINE_FILTER_KEEP;
    uint64_t now = f->clock->wall_ms(f->clock);
    if (now <= f->grace_ms)
        return ENGINE_FILTER_KEEP;
    return object_encoded_is_expired(value, now - f->grace_ms) ? ENGINE_FILTER_DROP : ENGINE_FILTER_KEEP;
}
