/* sim_quorum.c - quorum coordinators on the simulator (see sim_quorum.h). */
#include "tests/sim/sim_quorum.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_msg.h"
#include "coordinator/keyspace.h"
#include "coordinator/merkle.h"
#include "storage/engine.h"
#include "storage/env.h"

struct sq_node {
    struct sq_cluster *c;
    uint32_t idx;
    char id[8];
    char dir[16];
    struct env *mem;
    struct env *fault;
    struct engine *engine;
    struct coord *coord;
    struct coord_net_ops net;
    struct coord_cluster_ops cops;
    struct kv_clock clock;  /* the sim's time, wall clock shifted by skew_ms */
    int64_t skew_ms;
    struct merkle **trees;  /* Q trees kept by the coordinator's write hook (sq_hook_tree_mismatches) */
    struct coord_write_hook hook;
};

struct sq_cluster {
    struct sim *sim;
    struct sq_config cfg;
    struct ring *ring;
    struct sq_node nodes[SQ_NODES_MAX];
    uint8_t cut[SQ_NODES_MAX][SQ_NODES_MAX];  /* cut[from][to] */
    uint8_t view[SQ_NODES_MAX][SQ_NODES_MAX]; /* view[observer][target]: 1 = up */
    bool frozen;
    struct kv_buf enc;
    struct sq_stats stats;
    int trace;
};

void sq_config_defaults(struct sq_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_nodes = 5;
    cfg->n_val = 3;
    cfg->partitions = 16;
    cfg->detect_ms = 250;
    cfg->detect_p = 0.5;
    cfg->power_loss = true;
    coord_config_default(&cfg->coord);
    cfg->coord.hint_retry_min_ms = 200;
    cfg->coord.hint_retry_max_ms = 2000;
    cfg->coord.hint_timeout_ms = 1000;
}

/* A node's own clock: mono is the sim's; wall is skewed (SQ_EPOCH_MS
 * leaves room for any skew a test sets, so it never wraps). */
static uint64_t node_clock_mono(const struct kv_clock *k) { return sim_now(((struct sq_node *)k->ctx)->c->sim); }
static uint64_t node_clock_wall(const struct kv_clock *k)
{
    const struct sq_node *n = k->ctx;
    return (uint64_t)((int64_t)(SQ_EPOCH_MS + sim_now(n->c->sim)) + n->skew_ms);
}

/* ---- coordinator ops ---- */

static int net_send(void *ctx, const char *node_id, const struct coord_msg *msg)
{
    struct sq_node *n = ctx;
    struct sq_cluster *c = n->c;
    kv_buf_reset(&c->enc);
    int rc = coord_msg_encode(msg, &c->enc);
    if (rc != KV_OK)
        return rc;
    if (c->trace > 1)
        fprintf(stderr, "%8" PRIu64 " %s -> %s %s req=%" PRIx64 " status=%d\n", sim_now(c->sim), n->id, node_id,
                coord_msg_type_str(msg->type), msg->req_id, msg->status);
    sim_send(c->sim, n->idx, node_id, c->enc.data, c->enc.len);
    return KV_OK;
}

static const struct ring *ops_ring(void *ctx) { return ((struct sq_node *)ctx)->c->ring; }

static bool ops_alive(void *ctx, const char *node_id)
{
    struct sq_node *n = ctx;
    uint32_t t;
    if (sim_find_addr(n->c->sim, node_id, &t) != KV_OK || t >= n->c->cfg.n_nodes)
        return false;
    return n->c->view[n->idx][t];
}

/* ---- node lifetime ---- */

static void node_rearm(struct sq_node *n)
{
    if (n->coord) {
        uint64_t at = coord_next_tick_ms(n->coord);
        if (at != UINT64_MAX)
            sim_wake_at(n->c->sim, n->idx, at);
    }
}

/* ---- write hook: a Merkle tree per partition, as anti-entropy keeps ---- */

static void hook_wrote(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice old_object,
                       struct kv_slice new_object)
{
    struct sq_node *n = ctx;
    merkle_update_objects(n->trees[partition], key, old_object, new_object);
}

/* (Re)builds the node's trees from its engine, as a node does at start. */
static int hook_trees_build(struct sq_node *n)
{
    uint32_t q = n->c->cfg.partitions;
    if (!n->trees && !(n->trees = calloc(q, sizeof *n->trees)))
        return KV_ENOMEM;
    int rc = KV_OK;
    for (uint32_t p = 0; rc == KV_OK && p < q; p++) {
        if (!n->trees[p])
            rc = merkle_new(p, q, MERKLE_SEGMENTS_DEFAULT, MERKLE_BRANCHING_DEFAULT, &n->trees[p]);
        if (rc == KV_OK)
            rc = merkle_rebuild(n->trees[p], n->engine, NULL);
    }
    n->hook = (struct coord_write_hook){ hook_wrote, n };
    return rc;
}

uint32_t sq_hook_tree_mismatches(struct sq_cluster *c)
{
    uint32_t bad = 0;
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        struct sq_node *n = &c->nodes[i];
        for (uint32_t p = 0; n->coord && p < c->cfg.partitions; p++) {
            struct merkle *fresh = NULL;
            if (merkle_new(p, c->cfg.partitions, MERKLE_SEGMENTS_DEFAULT, MERKLE_BRANCHING_DEFAULT, &fresh) != KV_OK ||
                merkle_rebuild(fresh, n->engine, NULL) != KV_OK || merkle_root(fresh) != merkle_root(n->trees[p]))
                bad++;
            merkle_free(fresh);
        }
    }
    return bad;
}

static int node_open(struct sq_node *n)
{
    struct sq_cluster *c = n->c;
    struct engine_options eo;
    engine_options_default(&eo);
    eo.env = n->fault;
    eo.sync = ENGINE_SYNC_ALWAYS;
    eo.memtable_bytes = 4u << 20;
    eo.block_cache_bytes = 1u << 20;
    int rc = engine_open(n->dir, &eo, &n->engine);
    if (rc == KV_OK)
        rc = hook_trees_build(n);
    if (rc != KV_OK) {
        if (n->engine)
            (void)engine_close(n->engine);
        n->engine = NULL;
        return rc;
    }
    struct coord_config cc = c->cfg.coord;
    cc.write_hook = &n->hook;
    cc.node_id = n->id;
    cc.partitions = c->cfg.partitions;
    cc.engine = n->engine;
    cc.clock = &n->clock;
    cc.net = &n->net;
    cc.cluster = &n->cops;
    cc.rand_seed = sim_node_seed(c->sim, n->idx);
    rc = coord_new(&cc, &n->coord);
    if (rc != KV_OK) {
        (void)engine_close(n->engine);
        n->engine = NULL;
    }
    return rc;
}

static void node_stop(struct sq_node *n, bool power_loss)
{
    coord_free(n->coord);
    n->coord = NULL;
    if (!n->engine)
        return;
    if (power_loss) {
        /* The process dies here: nothing more reaches the disk, unsynced data is gone
         * (or, with torn_writes, partly there). A restart brings a working disk. */
        env_fault_fail_after(n->fault, 0, KV_EIO);
        int rc = n->c->cfg.torn_writes ? env_fault_drop_unsynced_torn(n->fault, kv_rand_next(sim_rand(n->c->sim)))
                                       : env_fault_drop_unsynced(n->fault);
        if (rc != KV_OK)
            n->c->stats.engine_errors++;
        (void)engine_close(n->engine); /* fails: its files are gone */
        env_fault_fail_after(n->fault, -1, 0);
        env_fault_fail_reads_after(n->fault, -1, 0);
    } else if (engine_close(n->engine) != KV_OK) {
        n->c->stats.engine_errors++;
    }
    n->engine = NULL;
}

static void on_message(void *ctx, struct sim *s, uint32_t node, uint32_t from, const void *data, size_t len)
{
    struct sq_node *n = ctx;
    if (!n->coord)
        return;
    struct coord_msg msg;
    Ringkv__ClusterMessage *pb = NULL;
    if (coord_msg_decode(data, len, &pb, &msg) != KV_OK) {
        n->c->stats.decode_errors++;
        return;
    }
    if (n->c->trace > 1)
        fprintf(stderr, "%8" PRIu64 " %s <- %s %s req=%" PRIx64 "\n", sim_now(s), n->id, sim_node_addr(s, from),
                coord_msg_type_str(msg.type), msg.req_id);
    if (coord_handle_message(n->coord, sim_node_addr(s, from), &msg, sim_now(s)) != KV_OK)
        n->c->stats.rejected++;
    ringkv__cluster_message__free_unpacked(pb, NULL);
    node_rearm(n);
}

static void on_timer(void *ctx, struct sim *s, uint32_t node)
{
    struct sq_node *n = ctx;
    if (!n->coord)
        return;
    coord_tick(n->coord, sim_now(s));
    node_rearm(n);
}

static void on_crash(void *ctx, struct sim *s, uint32_t node)
{
    struct sq_node *n = ctx;
    n->c->stats.crashes++;
    node_stop(n, n->c->cfg.power_loss);
}

static void on_restart(void *ctx, struct sim *s, uint32_t node)
{
    struct sq_node *n = ctx;
    n->c->stats.restarts++;
    if (node_open(n) != KV_OK)
        n->c->stats.engine_errors++;
    node_rearm(n);
}

static const struct sim_node_ops sq_ops = { on_message, on_timer, on_crash, on_restart };

/* ---- liveness views ---- */

static bool truth(const struct sq_cluster *c, uint32_t obs, uint32_t target)
{
    return sim_node_up(c->sim, target) && !c->cut[obs][target] && !c->cut[target][obs];
}

static void detect(void *ctx, struct sim *s)
{
    struct sq_cluster *c = ctx;
    for (uint32_t o = 0; !c->frozen && o < c->cfg.n_nodes; o++)
        for (uint32_t t = 0; t < c->cfg.n_nodes; t++)
            if (o != t && c->view[o][t] != truth(c, o, t) && kv_rand_double(sim_rand(s)) < c->cfg.detect_p)
                c->view[o][t] = truth(c, o, t);
    if (sim_at(s, sim_now(s) + c->cfg.detect_ms, detect, c) != KV_OK)
        c->stats.engine_errors++;
}

void sq_views_sync(struct sq_cluster *c)
{
    for (uint32_t o = 0; o < c->cfg.n_nodes; o++)
        for (uint32_t t = 0; t < c->cfg.n_nodes; t++)
            c->view[o][t] = o == t || truth(c, o, t);
}

void sq_view_set(struct sq_cluster *c, uint32_t observer, uint32_t target, bool up)
{
    c->view[observer][target] = up;
}

void sq_views_freeze(struct sq_cluster *c, bool frozen) { c->frozen = frozen; }

/* ---- creation ---- */

static int ring_of(struct sq_cluster *c)
{
    struct ring_member_spec specs[SQ_NODES_MAX];
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++)
        specs[i] = (struct ring_member_spec){ c->nodes[i].id, NULL };
    return ring_create(c->cfg.partitions, c->cfg.n_val, specs, c->cfg.n_nodes, &c->ring);
}

static int node_init(struct sq_cluster *c, uint32_t i)
{
    struct sq_node *n = &c->nodes[i];
    n->c = c;
    n->idx = i;
    snprintf(n->id, sizeof n->id, "n%u", i);
    snprintf(n->dir, sizeof n->dir, "/n%u", i);
    n->net = (struct coord_net_ops){ net_send, n };
    n->cops = (struct coord_cluster_ops){ ops_ring, ops_alive, n };
    n->clock = (struct kv_clock){ node_clock_wall, node_clock_mono, n };
    int rc = env_mem_new(&n->mem);
    if (rc == KV_OK)
        rc = env_fault_new(n->mem, &n->fault);
    uint32_t idx;
    if (rc == KV_OK)
        rc = sim_add_node(c->sim, n->id, &sq_ops, n, &idx);
    if (rc == KV_OK && idx != i)
        rc = KV_EINVAL; /* the sim must be empty: node i is sim node i */
    return rc;
}

int sq_create(struct sim *sim, const struct sq_config *cfg, struct sq_cluster **out)
{
    if (cfg->n_nodes == 0 || cfg->n_nodes > SQ_NODES_MAX)
        return KV_EINVAL;
    struct sq_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return KV_ENOMEM;
    c->sim = sim;
    c->cfg = *cfg;
    c->trace = getenv("RINGKV_SIM_TRACE") ? atoi(getenv("RINGKV_SIM_TRACE")) : 0;
    int rc = KV_OK;
    for (uint32_t i = 0; rc == KV_OK && i < cfg->n_nodes; i++)
        rc = node_init(c, i);
    if (rc == KV_OK)
        rc = ring_of(c);
    for (uint32_t i = 0; rc == KV_OK && i < cfg->n_nodes; i++)
        rc = node_open(&c->nodes[i]);
    if (rc == KV_OK)
        rc = sim_at(sim, sim_now(sim) + cfg->detect_ms, detect, c);
    if (rc != KV_OK) {
        sq_free(c);
        return rc;
    }
    sq_views_sync(c);
    *out = c;
    return KV_OK;
}

void sq_free(struct sq_cluster *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        struct sq_node *n = &c->nodes[i];
        node_stop(n, false);
        for (uint32_t p = 0; n->trees && p < c->cfg.partitions; p++)
            merkle_free(n->trees[p]);
        free(n->trees);
        if (n->fault)
            env_destroy(n->fault);
        if (n->mem)
            env_destroy(n->mem);
    }
    ring_free(c->ring);
    kv_buf_free(&c->enc);
    free(c);
}

/* ---- accessors and faults ---- */

uint32_t sq_nodes(const struct sq_cluster *c) { return c->cfg.n_nodes; }
const char *sq_node_id(const struct sq_cluster *c, uint32_t node) { return c->nodes[node].id; }
const struct ring *sq_ring(const struct sq_cluster *c) { return c->ring; }
struct coord *sq_coord(struct sq_cluster *c, uint32_t node) { return c->nodes[node].coord; }
void sq_rearm(struct sq_cluster *c, uint32_t node) { node_rearm(&c->nodes[node]); }

bool sq_callable(const struct sq_cluster *c, uint32_t node)
{
    return c->nodes[node].coord && !sim_node_paused(c->sim, node);
}

void sq_crash(struct sq_cluster *c, uint32_t node)
{
    if (sim_node_up(c->sim, node))
        sim_crash(c->sim, node);
}

void sq_restart(struct sq_cluster *c, uint32_t node)
{
    if (!sim_node_up(c->sim, node))
        sim_restart(c->sim, node);
}

void sq_partition(struct sq_cluster *c, const uint32_t *side, size_t n)
{
    bool in[SQ_NODES_MAX] = { false };
    for (size_t i = 0; i < n; i++)
        in[side[i]] = true;
    for (uint32_t a = 0; a < c->cfg.n_nodes; a++)
        for (uint32_t b = 0; b < c->cfg.n_nodes; b++)
            if (in[a] != in[b])
                c->cut[a][b] = 1;
    sim_partition(c->sim, side, n);
}

void sq_cut(struct sq_cluster *c, uint32_t from, uint32_t to)
{
    c->cut[from][to] = 1;
    sim_cut(c->sim, from, to);
}

void sq_set_skew(struct sq_cluster *c, uint32_t node, int64_t skew_ms)
{
    if (skew_ms > SQ_SKEW_MS_MAX)
        skew_ms = SQ_SKEW_MS_MAX;
    if (skew_ms < -SQ_SKEW_MS_MAX)
        skew_ms = -(int64_t)SQ_SKEW_MS_MAX;
    c->nodes[node].skew_ms = skew_ms;
}

void sq_disk_fail(struct sq_cluster *c, uint32_t node, long after_ops, int status)
{
    env_fault_fail_after(c->nodes[node].fault, after_ops, status);
}

void sq_read_fail(struct sq_cluster *c, uint32_t node, long after_reads, int status)
{
    env_fault_fail_reads_after(c->nodes[node].fault, after_reads, status);
}

void sq_disk_heal(struct sq_cluster *c, uint32_t node)
{
    env_fault_fail_after(c->nodes[node].fault, -1, 0);
    env_fault_fail_reads_after(c->nodes[node].fault, -1, 0);
}

bool sq_engine_failed(struct sq_cluster *c, uint32_t node)
{
    struct engine_stats st;
    if (!c->nodes[node].engine)
        return false;
    engine_get_stats(c->nodes[node].engine, &st);
    return st.background_error != KV_OK;
}

void sq_heal(struct sq_cluster *c)
{
    memset(c->cut, 0, sizeof c->cut);
    sim_heal(c->sim);
}

uint32_t sq_preference(const struct sq_cluster *c, struct kv_slice key, uint32_t *out, uint32_t cap)
{
    uint32_t p = ring_partition_of_key(key.data, key.len, c->cfg.partitions);
    uint32_t idx[SQ_NODES_MAX];
    size_t n = ring_preference_list(c->ring, p, idx, SQ_NODES_MAX);
    uint32_t k = 0;
    for (size_t i = 0; i < n && k < cap; i++) {
        uint32_t node;
        if (sim_find_addr(c->sim, ring_member_id(c->ring, idx[i]), &node) == KV_OK)
            out[k++] = node;
    }
    return k;
}

/* Summed field by field: every field of struct coord_stats is a uint64_t. */
_Static_assert(sizeof(struct coord_stats) % sizeof(uint64_t) == 0, "coord_stats holds only uint64_t");

void sq_stats_sum(struct sq_cluster *c, struct coord_stats *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        if (!c->nodes[i].coord)
            continue;
        struct coord_stats s;
        coord_get_stats(c->nodes[i].coord, &s);
        const uint64_t *src = (const uint64_t *)&s;
        uint64_t *dst = (uint64_t *)out;
        for (size_t k = 0; k < sizeof s / sizeof(uint64_t); k++)
            dst[k] += src[k];
    }
}

uint64_t sq_hint_keys(struct sq_cluster *c)
{
    uint64_t n = 0;
    char first = (char)KEYSPACE_HINT;
    for (uint32_t i = 0; i < c->cfg.n_nodes; i++) {
        struct engine_iter *it;
        if (!c->nodes[i].engine || engine_iter_new(c->nodes[i].engine, NULL, &it) != KV_OK)
            continue;
        for (engine_iter_seek(it, kv_slice_make(&first, 1)); engine_iter_valid(it); engine_iter_next(it)) {
            struct kv_slice k = engine_iter_key(it);
            if ((unsigned char)k.data[0] != KEYSPACE_HINT)
                break;
            n++;
        }
        engine_iter_free(it);
    }
    return n;
}

int sq_local_object(struct sq_cluster *c, uint32_t node, struct kv_slice key, struct kv_buf *out, bool *found)
{
    struct keyspace ks;
    char ekey[KEYSPACE_PREFIX_BYTES + 256];
    if (!c->nodes[node].engine || key.len > 256)
        return KV_EINVAL;
    int rc = keyspace_init(&ks, c->cfg.partitions);
    if (rc != KV_OK)
        return rc;
    size_t n = keyspace_encode(&ks, KEYSPACE_DATA, key, ekey);
    rc = engine_get(c->nodes[node].engine, NULL, kv_slice_make(ekey, n), out);
    *found = rc == KV_OK;
    return rc == KV_ENOTFOUND ? KV_OK : rc;
}

void sq_get_stats(const struct sq_cluster *c, struct sq_stats *out) { *out = c->stats; }
