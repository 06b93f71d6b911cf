/* sim_aae.c - anti-entropy replicas on the simulator (see sim_aae.h). */
#include "tests/sim/sim_aae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/log.h"
#include "coordinator/aae_msg.h"
#include "coordinator/dvv.h"
#include "coordinator/keyspace.h"
#include "coordinator/object.h"
#include "storage/env.h"

#define SA_LOAD_BATCH_KEYS 1000u

struct sa_node {
    struct sa_cluster *c;
    uint32_t idx;
    char id[8];
    char dir[512];
    struct env *mem;            /* in memory: the files (owned) ... */
    struct env *env;            /* ... seen through a fault env (owned); else env_posix() */
    struct engine *engine;      /* NULL while down */
    struct aae *aae;
};

struct sa_cluster {
    struct sim *sim;
    struct sa_config cfg;
    struct ring *ring;
    struct keyspace ks;
    struct sa_node nodes[SA_NODES_MAX];
    struct kv_buf enc;
    struct aae_msg dec;
    struct sa_stats stats;
    /* scratch of writes */
    struct kv_buf ekey, old, rec, next;
    struct object o_old, o_new, o_merged;
};

void sa_config_defaults(struct sa_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_nodes = 3;
    cfg->n_val = 3;
    cfg->partitions = 16;
    cfg->sync = ENGINE_SYNC_ALWAYS;
    cfg->power_loss = true;
    cfg->memtable_bytes = 1u << 20;
    aae_config_default(&cfg->aae);
    cfg->aae.exchange_interval_ms = 5000;
    cfg->aae.request_timeout_ms = 1000;
    cfg->aae.failure_backoff_ms = 2000;
    cfg->aae.busy_backoff_ms = 200;
    cfg->aae.bytes_per_sec = 1u << 20;
    cfg->aae.verify_interval_ms = 0;
    cfg->aae.build_step_ms = 1;
}

/* ---- aae ops ---- */

static int op_send(void *ctx, const char *to, const struct aae_msg *m)
{
    struct sa_node *n = ctx;
    struct sa_cluster *c = n->c;
    kv_buf_reset(&c->enc);
    int rc = aae_msg_encode(m, &c->enc);
    if (rc != KV_OK)
        return rc;
    c->stats.bytes += c->enc.len;
    c->stats.messages++;
    sim_send(c->sim, n->idx, to, c->enc.data, c->enc.len);
    return KV_OK;
}

static const struct ring *op_ring(void *ctx) { return ((struct sa_node *)ctx)->c->ring; }

static bool op_alive(void *ctx, const char *id)
{
    struct sa_node *n = ctx;
    uint32_t t;
    return sim_find_addr(n->c->sim, id, &t) == KV_OK && sim_node_up(n->c->sim, t);
}

static int engine_key(struct sa_cluster *c, struct kv_slice key)
{
    int rc = kv_buf_reserve(&c->ekey, KEYSPACE_PREFIX_BYTES + key.len);
    if (rc == KV_OK)
        c->ekey.len = keyspace_encode(&c->ks, KEYSPACE_DATA, key, c->ekey.data);
    return rc;
}

static int op_write(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice object)
{
    struct sa_node *n = ctx;
    struct kv_buf ek = { 0 };
    int rc = kv_buf_reserve(&ek, KEYSPACE_PREFIX_BYTES + key.len);
    if (rc == KV_OK) {
        ek.len = keyspace_encode(&n->c->ks, KEYSPACE_DATA, key, ek.data);
        rc = engine_put(n->engine, kv_slice_make(ek.data, ek.len), object);
    }
    kv_buf_free(&ek);
    return rc;
}

/* ---- node lifetime ---- */

static void rearm(struct sa_node *n)
{
    if (n->aae)
        sim_wake_at(n->c->sim, n->idx, aae_next_tick_ms(n->aae, sim_now(n->c->sim)));
}

static int node_open(struct sa_node *n)
{
    struct sa_cluster *c = n->c;
    struct engine_options eo;
    engine_options_default(&eo);
    eo.env = n->env;
    eo.sync = c->cfg.sync;
    eo.memtable_bytes = c->cfg.memtable_bytes;
    int rc = engine_open(n->dir, &eo, &n->engine);
    if (rc != KV_OK)
        return rc;
    struct aae_config ac = c->cfg.aae;
    ac.node_id = n->id;
    ac.partitions = c->cfg.partitions;
    ac.engine = n->engine;
    ac.ops = (struct aae_ops){ op_send, op_ring, op_alive, op_write, n };
    ac.rand_seed = sim_node_seed(c->sim, n->idx);
    rc = aae_new(&ac, &n->aae);
    if (rc != KV_OK) {
        (void)engine_close(n->engine);
        n->engine = NULL;
        return rc;
    }
    rearm(n);
    return KV_OK;
}

/* Stops the node; power_loss: as a killed machine, dropping what the
 * engine had not synced (in memory only). */
static void node_stop(struct sa_node *n, bool power_loss)
{
    aae_free(n->aae);
    n->aae = NULL;
    if (!n->engine)
        return;
    if (power_loss && n->mem) {
        env_fault_fail_after(n->env, 0, KV_EIO); /* nothing more reaches the disk */
        if (env_fault_drop_unsynced(n->env) != KV_OK)
            fprintf(stderr, "sim_aae: drop_unsynced failed on %s\n", n->id);
        enum kv_log_level level = kv_log_get_level();
        kv_log_set_level(KV_LOG_OFF); /* the close fails, loudly, by design */
        (void)engine_close(n->engine);
        kv_log_set_level(level);
        env_fault_fail_after(n->env, -1, 0);
    } else if (engine_close(n->engine) != KV_OK) {
        fprintf(stderr, "sim_aae: engine close failed on %s\n", n->id);
    }
    n->engine = NULL;
}

static void on_message(void *ctx, struct sim *s, uint32_t node, uint32_t from, const void *data, size_t len)
{
    struct sa_node *n = ctx;
    struct sa_cluster *c = n->c;
    if (!n->aae)
        return;
    if (aae_msg_decode(kv_slice_make(data, len), &c->dec) != KV_OK) {
        c->stats.decode_errors++;
        return;
    }
    if (aae_handle_message(n->aae, sim_node_addr(s, from), &c->dec, sim_now(s)) != KV_OK)
        c->stats.rejected++;
    rearm(n);
}

static void on_timer(void *ctx, struct sim *s, uint32_t node)
{
    struct sa_node *n = ctx;
    if (!n->aae)
        return;
    aae_tick(n->aae, sim_now(s));
    rearm(n);
}

static void on_crash(void *ctx, struct sim *s, uint32_t node)
{
    struct sa_node *n = ctx;
    node_stop(n, n->c->cfg.power_loss);
}

static void on_restart(void *ctx, struct sim *s, uint32_t node)
{
    struct sa_node *n = ctx;
    if (node_open(n) != KV_OK)
        fprintf(stderr, "sim_aae: restart of %s failed\n", n->id);
}

static const struct sim_node_ops node_ops = { on_message, on_timer, on_crash, on_restart };

static int node_init(struct sa_cluster *c, uint32_t i)
{
    struct sa_node *n = &c->nodes[i];
    n->c = c;
    n->idx = i;
    snprintf(n->id, sizeof n->id, "n%u", i);
    if (c->cfg.posix_dir) {
        n->env = env_posix();
        snprintf(n->dir, sizeof n->dir, "%s/n%u", c->cfg.posix_dir, i);
        return KV_OK;
    }
    snprintf(n->dir, sizeof n->dir, "/n%u", i);
    int rc = env_mem_new(&n->mem);
    return rc == KV_OK ? env_fault_new(n->mem, &n->env) : rc;
}

static void node_envs_free(struct sa_node *n)
{
    if (!n->mem)
        return; /* env_posix() is process-wide */
    env_destroy(n->env);
    env_destroy(n->mem);
    n->env = n->mem = NULL;
}

int sa_create(struct sim *sim, const struct sa_config *cfg, struct sa_cluster **out)
{
    if (cfg->n_nodes < 1 || cfg->n_nodes > SA_NODES_MAX || sim_node_count(sim) != 0)
        return KV_EINVAL;
    struct sa_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return KV_ENOMEM;
    c->sim = sim;
    c->cfg = *cfg;
    object_init(&c->o_old);
    object_init(&c->o_new);
    object_init(&c->o_merged);
    int rc = keyspace_init(&c->ks, cfg->partitions);
    struct ring_member_spec specs[SA_NODES_MAX];
    for (uint32_t i = 0; rc == KV_OK && i < cfg->n_nodes; i++) {
        rc = node_init(c, i);
        specs[i] = (struct ring_member_spec){ c->nodes[i].id, NULL };
        uint32_t idx;
        if (rc == KV_OK)
            rc = sim_add_node(sim, c->nodes[i].id, &node_ops, &c->nodes[i], &idx);
    }
    if (rc == KV_OK)
        rc = ring_create(cfg->partitions, cfg->n_val, specs, cfg->n_nodes, &c->ring);
    for (uint32_t i = 0; rc == KV_OK && i < cfg->n_nodes; i++)
        rc = node_open(&c->nodes[i]);
    if (rc != KV_OK) {
        sa_free(c);
        return rc;
    }
    *out = c;
    return KV_OK;
}

void sa_free(struct sa_cluster *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        node_stop(&c->nodes[i], false);
        node_envs_free(&c->nodes[i]);
    }
    ring_free(c->ring);
    kv_buf_free(&c->enc);
    aae_msg_free(&c->dec);
    kv_buf_free(&c->ekey);
    kv_buf_free(&c->old);
    kv_buf_free(&c->rec);
    kv_buf_free(&c->next);
    object_free(&c->o_old);
    object_free(&c->o_new);
    object_free(&c->o_merged);
    free(c);
}

uint32_t sa_nodes(const struct sa_cluster *c) { return c->cfg.n_nodes; }
const struct ring *sa_ring(const struct sa_cluster *c) { return c->ring; }
bool sa_running(const struct sa_cluster *c, uint32_t node) { return c->nodes[node].engine != NULL; }
struct aae *sa_aae(struct sa_cluster *c, uint32_t node) { return c->nodes[node].aae; }
struct engine *sa_engine(struct sa_cluster *c, uint32_t node) { return c->nodes[node].engine; }

uint32_t sa_replica_mask(const struct sa_cluster *c, struct kv_slice key)
{
    uint32_t list[RING_N_VAL_MAX], mask = 0;
    size_t n = ring_preference_list(c->ring, keyspace_partition(&c->ks, key), list, c->cfg.n_val);
    for (size_t i = 0; i < n; i++)
        mask |= 1u << list[i]; /* member indexes are node numbers: ids sort as n0 < n1 < ... */
    return mask;
}

void sa_crash(struct sa_cluster *c, uint32_t node) { sim_crash(c->sim, node); }
void sa_restart(struct sa_cluster *c, uint32_t node) { sim_restart(c->sim, node); }

void sa_wipe(struct sa_cluster *c, uint32_t node)
{
    struct sa_node *n = &c->nodes[node];
    if (c->cfg.posix_dir) {
        fprintf(stderr, "sim_aae: wipe needs in-memory engines\n");
        abort();
    }
    if (sim_node_up(c->sim, node))
        sim_crash(c->sim, node);
    node_envs_free(n);
    if (node_init(c, node) != KV_OK)
        abort();
    sim_restart(c->sim, node);
}

void sa_repair(struct sa_cluster *c, uint32_t node)
{
    struct sa_node *n = &c->nodes[node];
    uint32_t count;
    if (n->aae && aae_repair(n->aae, AAE_ALL_PARTITIONS, NULL, sim_now(c->sim), &count) == KV_OK)
        rearm(n);
}

/* ---- writes ---- */

/* Reads node's object of c->ekey into c->old; *found. */
static int load_old(struct sa_node *n, bool *found)
{
    struct sa_cluster *c = n->c;
    int rc = engine_get(n->engine, NULL, kv_slice_make(c->ekey.data, c->ekey.len), &c->old);
    *found = rc == KV_OK;
    return rc == KV_ENOTFOUND ? KV_OK : rc;
}

/* The coordinator's new version of the key into c->next (written there). */
static int coordinate(struct sa_node *n, struct kv_slice key, const char *value)
{
    struct sa_cluster *c = n->c;
    bool found;
    int rc = load_old(n, &found);
    object_clear(&c->o_old);
    if (rc == KV_OK && found)
        rc = object_decode(kv_slice_make(c->old.data, c->old.len), &c->o_old);
    kv_buf_reset(&c->rec);
    if (rc == KV_OK)
        rc = object_record_append(&c->rec, value ? 0 : OBJECT_FLAG_TOMBSTONE, 0,
                                  value ? kv_slice_str(value) : kv_slice_make(NULL, 0));
    struct kv_slice v = kv_slice_make(c->rec.data, c->rec.len);
    if (rc == KV_OK)
        rc = dvv_update(&c->o_old.clock, &c->o_old.clock, (uint64_t)n->idx + 1, &v, 1, KV_SIBLINGS_MAX_DEFAULT,
                        &c->o_new.clock);
    kv_buf_reset(&c->next);
    if (rc == KV_OK)
        rc = object_encode(&c->o_new, &c->next);
    struct kv_slice nv = kv_slice_make(c->next.data, c->next.len);
    if (rc == KV_OK)
        rc = engine_put(n->engine, kv_slice_make(c->ekey.data, c->ekey.len), nv);
    if (rc == KV_OK && n->aae)
        aae_note_write(n->aae, keyspace_partition(&c->ks, key), key,
                       found ? kv_slice_make(c->old.data, c->old.len) : kv_slice_make(NULL, 0), nv);
    return rc;
}

/* A replica merges c->next (decoded in c->o_new) into what it holds. */
static int replicate(struct sa_node *n, struct kv_slice key)
{
    struct sa_cluster *c = n->c;
    bool found;
    int rc = load_old(n, &found);
    struct kv_slice result = kv_slice_make(c->next.data, c->next.len);
    struct kv_buf merged = { 0 };
    if (rc == KV_OK && found) {
        rc = object_decode(kv_slice_make(c->old.data, c->old.len), &c->o_old);
        if (rc == KV_OK)
            rc = object_merge(&c->o_old, &c->o_new, DVV_VALUES_MAX, &c->o_merged);
        if (rc == KV_OK)
            rc = object_encode(&c->o_merged, &merged);
        result = kv_slice_make(merged.data, merged.len);
    }
    bool same = found && kv_slice_eq(result, kv_slice_make(c->old.data, c->old.len));
    if (rc == KV_OK && !same)
        rc = engine_put(n->engine, kv_slice_make(c->ekey.data, c->ekey.len), result);
    if (rc == KV_OK && !same && n->aae)
        aae_note_write(n->aae, keyspace_partition(&c->ks, key), key,
                       found ? kv_slice_make(c->old.data, c->old.len) : kv_slice_make(NULL, 0), result);
    kv_buf_free(&merged);
    return rc;
}

int sa_write(struct sa_cluster *c, uint32_t coordinator, uint32_t mask, struct kv_slice key, const char *value)
{
    if (coordinator >= c->cfg.n_nodes || !(mask & (1u << coordinator)) || !sa_running(c, coordinator))
        return KV_EINVAL;
    int rc = engine_key(c, key);
    if (rc == KV_OK)
        rc = coordinate(&c->nodes[coordinator], key, value);
    if (rc == KV_OK)
        rc = object_decode(kv_slice_make(c->next.data, c->next.len), &c->o_new);
    for (uint32_t i = 0; rc == KV_OK && i < c->cfg.n_nodes; i++)
        if (i != coordinator && (mask & (1u << i)) && sa_running(c, i))
            rc = replicate(&c->nodes[i], key);
    return rc;
}

/* Writes the batch to every running node of mask and reports the keys. */
static int load_flush(struct sa_cluster *c, uint32_t mask, struct engine_batch *b, const struct kv_slice *keys,
                      uint32_t n, struct kv_slice object)
{
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        struct sa_node *nd = &c->nodes[i];
        if (!(mask & (1u << i)) || !nd->engine)
            continue;
        int rc = engine_write(nd->engine, b);
        if (rc != KV_OK)
            return rc;
        for (uint32_t k = 0; nd->aae && k < n; k++)
            aae_note_write(nd->aae, keyspace_partition(&c->ks, keys[k]), keys[k], kv_slice_make(NULL, 0), object);
    }
    engine_batch_clear(b);
    return KV_OK;
}

int sa_load(struct sa_cluster *c, uint32_t coordinator, uint32_t mask, const struct kv_slice *keys, uint32_t n,
            struct kv_slice value)
{
    /* Every key gets the same first version (coordinator's dot 1): one encoding serves all. */
    struct object o;
    object_init(&o);
    struct kv_buf rec = { 0 }, obj = { 0 };
    struct engine_batch *b = NULL;
    int rc = object_record_append(&rec, 0, 0, value);
    struct kv_slice v = kv_slice_make(rec.data, rec.len);
    struct dvv empty;
    dvv_init(&empty);
    if (rc == KV_OK)
        rc = dvv_update(&empty, &empty, (uint64_t)coordinator + 1, &v, 1, KV_SIBLINGS_MAX_DEFAULT, &o.clock);
    if (rc == KV_OK)
        rc = object_encode(&o, &obj);
    if (rc == KV_OK)
        rc = engine_batch_new(&b);
    struct kv_slice ov = kv_slice_make(obj.data, obj.len);
    uint32_t first = 0;
    for (uint32_t k = 0; rc == KV_OK && k < n; k++) {
        if ((rc = engine_key(c, keys[k])) == KV_OK)
            rc = engine_batch_put(b, kv_slice_make(c->ekey.data, c->ekey.len), ov);
        if (rc == KV_OK && (k + 1 == n || engine_batch_count(b) == SA_LOAD_BATCH_KEYS)) {
            rc = load_flush(c, mask, b, keys + first, k + 1 - first, ov);
            first = k + 1;
        }
    }
    engine_batch_free(b);
    object_free(&o);
    dvv_free(&empty);
    kv_buf_free(&rec);
    kv_buf_free(&obj);
    return rc;
}

/* ---- reads and checks ---- */

int sa_read(struct sa_cluster *c, uint32_t node, struct kv_slice key, struct kv_buf *out, bool *found)
{
    if (!sa_running(c, node))
        return KV_ESTATE;
    int rc = engine_key(c, key);
    if (rc == KV_OK)
        rc = engine_get(c->nodes[node].engine, NULL, kv_slice_make(c->ekey.data, c->ekey.len), out);
    *found = rc == KV_OK;
    return rc == KV_ENOTFOUND ? KV_OK : rc;
}

uint32_t sa_visible(struct sa_cluster *c, uint32_t node, struct kv_slice key, struct kv_buf *vals)
{
    struct kv_buf b = { 0 };
    bool found = false;
    uint32_t n = 0;
    struct object o;
    object_init(&o);
    if (sa_read(c, node, key, &b, &found) == KV_OK && found &&
        object_decode(kv_slice_make(b.data, b.len), &o) == KV_OK) {
        for (uint32_t i = 0; i < object_siblings(&o); i++) {
            struct object_sibling s;
            object_sibling(&o, i, &s);
            if (!object_sibling_visible(&s, 0))
                continue;
            n++;
            if (vals && (kv_buf_append(vals, s.payload.data, s.payload.len) != KV_OK ||
                         kv_buf_append_byte(vals, '|') != KV_OK))
                abort();
        }
    }
    object_free(&o);
    kv_buf_free(&b);
    return n;
}

/* Keys of partition p on which the running primaries' engines disagree. */
static uint64_t partition_diverging(struct sa_cluster *c, uint32_t p)
{
    uint32_t list[RING_N_VAL_MAX];
    struct engine_iter *it[RING_N_VAL_MAX];
    size_t n = ring_preference_list(c->ring, p, list, c->cfg.n_val), k = 0;
    char begin[KEYSPACE_PREFIX_BYTES], end[KEYSPACE_PREFIX_BYTES];
    keyspace_partition_range(KEYSPACE_DATA, p, begin, end);
    struct kv_slice endk = kv_slice_make(end, sizeof end);
    for (size_t i = 0; i < n; i++) {
        if (!sa_running(c, list[i]) || engine_iter_new(c->nodes[list[i]].engine, NULL, &it[k]) != KV_OK)
            continue;
        engine_iter_seek(it[k++], kv_slice_make(begin, sizeof begin));
    }
    uint64_t bad = 0;
    for (;;) {
        struct kv_slice min = { NULL, 0 };
        bool any = false;
        for (size_t i = 0; i < k; i++)
            if (engine_iter_valid(it[i]) && kv_slice_cmp(engine_iter_key(it[i]), endk) < 0 &&
                (!any || kv_slice_cmp(engine_iter_key(it[i]), min) < 0)) {
                min = engine_iter_key(it[i]);
                any = true;
            }
        if (!any)
            break;
        struct kv_buf mk = { 0 };
        if (kv_buf_set(&mk, min.data, min.len) != KV_OK)
            abort();
        struct kv_slice key = kv_slice_make(mk.data, mk.len), val = { NULL, 0 };
        uint32_t have = 0;
        bool differ = false;
        for (size_t i = 0; i < k; i++) {
            if (!engine_iter_valid(it[i]) || !kv_slice_eq(engine_iter_key(it[i]), key))
                continue;
            if (have++ == 0)
                val = engine_iter_value(it[i]);
            else
                differ |= !kv_slice_eq(val, engine_iter_value(it[i]));
        }
        bad += differ || have != k;
        for (size_t i = 0; i < k; i++) /* after comparing: val points into an iterator */
            if (engine_iter_valid(it[i]) && kv_slice_eq(engine_iter_key(it[i]), key))
                engine_iter_next(it[i]);
        kv_buf_free(&mk);
    }
    for (size_t i = 0; i < k; i++)
        engine_iter_free(it[i]);
    return bad;
}

uint64_t sa_diverging_keys(struct sa_cluster *c)
{
    uint64_t bad = 0;
    for (uint32_t p = 0; p < c->cfg.partitions; p++)
        bad += partition_diverging(c, p);
    return bad;
}

bool sa_trees_agree(struct sa_cluster *c)
{
    for (uint32_t p = 0; p < c->cfg.partitions; p++) {
        uint32_t list[RING_N_VAL_MAX];
        size_t n = ring_preference_list(c->ring, p, list, c->cfg.n_val);
        bool have = false;
        uint64_t root = 0;
        for (size_t i = 0; i < n; i++) {
            struct aae_partition_status st;
            struct aae *a = sa_aae(c, list[i]);
            if (!a)
                continue;
            if (aae_partition_status(a, p, &st) != KV_OK || !st.held || !st.ready || (have && st.root != root))
                return false;
            root = st.root;
            have = true;
        }
    }
    return true;
}

bool sa_converged(struct sa_cluster *c) { return sa_trees_agree(c) && sa_diverging_keys(c) == 0; }

void sa_get_stats(const struct sa_cluster *c, struct sa_stats *out) { *out = c->stats; }

/* Summed field by field: every field of aae_stats is a uint64_t counter. */
_Static_assert(sizeof(struct aae_stats) % sizeof(uint64_t) == 0, "aae_stats holds only uint64_t");

void sa_aae_stats_sum(struct sa_cluster *c, struct aae_stats *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        if (!c->nodes[i].aae)
            continue;
        struct aae_stats s;
        aae_get_stats(c->nodes[i].aae, &s);
        uint64_t *dst = (uint64_t *)out;
        const uint64_t *src = (const uint64_t *)&s;
        for (size_t k = 0; k < sizeof s / sizeof(uint64_t); k++)
            dst[k] += src[k];
    }
}
