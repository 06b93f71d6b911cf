/*
 * aae.c - anti-entropy lifecycle: configuration, the trees of held
 * partitions, background builds, the exchange schedule, the byte
 * budget, merges, status. The initiator's state machine is in
 * aae_exchange.c, the responder in aae_serve.c (see aae.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "coordinator/aae_internal.h"
#include "coordinator/dvv.h"

void aae_config_default(struct aae_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->segments = MERKLE_SEGMENTS_DEFAULT;
    cfg->branching = MERKLE_BRANCHING_DEFAULT;
    cfg->exchange_interval_ms = AAE_EXCHANGE_INTERVAL_MS_DEFAULT;
    cfg->exchanges_max = AAE_EXCHANGES_MAX_DEFAULT;
    cfg->bytes_per_sec = AAE_BYTES_PER_SEC_DEFAULT;
    cfg->request_timeout_ms = AAE_REQUEST_TIMEOUT_MS_DEFAULT;
    cfg->retries_max = AAE_RETRIES_MAX_DEFAULT;
    cfg->busy_backoff_ms = AAE_BUSY_BACKOFF_MS_DEFAULT;
    cfg->failure_backoff_ms = AAE_FAILURE_BACKOFF_MS_DEFAULT;
    cfg->verify_interval_ms = AAE_VERIFY_INTERVAL_MS_DEFAULT;
    cfg->build_keys_per_step = AAE_BUILD_KEYS_PER_STEP_DEFAULT;
    cfg->build_step_ms = AAE_BUILD_STEP_MS_DEFAULT;
    cfg->page_keys_max = AAE_PAGE_KEYS_MAX_DEFAULT;
    cfg->scan_keys_max = AAE_SCAN_KEYS_MAX_DEFAULT;
    cfg->batch_bytes_max = AAE_BATCH_BYTES_MAX_DEFAULT;
}

/* The first bad field's name, or NULL. */
static const char *config_error(const struct aae_config *c)
{
    struct merkle *probe;
    if (!c->node_id || !c->node_id[0] || strlen(c->node_id) > AAE_ID_BYTES_MAX)
        return "node_id";
    if (!c->engine)
        return "engine";
    if (!c->ops.send || !c->ops.ring || !c->ops.write)
        return "ops";
    if (c->partitions == 0 || c->partitions > KEYSPACE_PARTITIONS_MAX || (c->partitions & (c->partitions - 1)))
        return "partitions";
    if (merkle_new(0, c->partitions, c->segments, c->branching, &probe) != KV_OK)
        return "segments/branching";
    merkle_free(probe);
    if (c->exchange_interval_ms == 0)
        return "exchange_interval_ms";
    if (c->exchanges_max == 0 || c->exchanges_max > 1024)
        return "exchanges_max";
    if (c->request_timeout_ms == 0)
        return "request_timeout_ms";
    if (c->build_keys_per_step == 0)
        return "build_keys_per_step";
    if (c->page_keys_max == 0 || c->scan_keys_max == 0 || c->batch_bytes_max == 0)
        return "page_keys_max/scan_keys_max/batch_bytes_max";
    return NULL;
}

int aae_new(const struct aae_config *cfg, struct aae **out)
{
    const char *bad = config_error(cfg);
    if (bad) {
        log_error("aae", "invalid config field=%s", bad);
        return KV_EINVAL;
    }
    struct aae *a = calloc(1, sizeof *a);
    if (!a)
        return KV_ENOMEM;
    a->cfg = *cfg;
    strcpy(a->node_id, cfg->node_id);
    a->cfg.node_id = a->node_id;
    if (a->cfg.burst_bytes == 0)
        a->cfg.burst_bytes = a->cfg.bytes_per_sec;
    a->tokens = (int64_t)a->cfg.burst_bytes;
    a->build_part = UINT32_MAX;
    kv_rand_seed(&a->rng, cfg->rand_seed);
    int rc = keyspace_init(&a->ks, cfg->partitions);
    a->parts = calloc(cfg->partitions, sizeof *a->parts);
    a->x = calloc(cfg->exchanges_max, sizeof *a->x);
    if (rc != KV_OK || !a->parts || !a->x) {
        aae_free(a);
        return rc != KV_OK ? rc : KV_ENOMEM;
    }
    object_init(&a->lobj);
    object_init(&a->robj);
    object_init(&a->mobj);
    *out = a;
    return KV_OK;
}

static void part_drop_tree(struct aae_part *p)
{
    merkle_free(p->tree);
    p->tree = NULL;
    free(p->peers);
    p->peers = NULL;
    p->n_peers = 0;
}

void aae_free(struct aae *a)
{
    if (!a)
        return;
    for (uint32_t i = 0; a->x && i < a->cfg.exchanges_max; i++)
        aae_x_free(&a->x[i]);
    free(a->x);
    for (uint32_t p = 0; a->parts && p < a->cfg.partitions; p++) {
        if (a->parts[p])
            part_drop_tree(a->parts[p]);
        free(a->parts[p]);
    }
    free(a->parts);
    aae_msg_free(&a->out);
    kv_buf_free(&a->ekey);
    kv_buf_free(&a->stored);
    kv_buf_free(&a->merged);
    kv_buf_free(&a->arena);
    object_free(&a->lobj);
    object_free(&a->robj);
    object_free(&a->mobj);
    free(a->hashes);
    free(a->items);
    free(a->offs);
    aae_page_free(&a->page);
    free(a);
}

/* ---- helpers shared with aae_exchange.c and aae_serve.c ---- */

int aae_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n <= *cap)
        return KV_OK;
    uint32_t c = *cap ? *cap : 16;
    while (c < n)
        c = c > UINT32_MAX / 2 ? n : c * 2;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p)
        return KV_ENOMEM;
    *arr = p;
    *cap = c;
    return KV_OK;
}

void aae_page_reset(struct aae_page *p)
{
    kv_buf_reset(&p->arena);
    p->n = 0;
}

void aae_page_free(struct aae_page *p)
{
    kv_buf_free(&p->arena);
    free(p->e);
    memset(p, 0, sizeof *p);
}

int aae_page_add(struct aae_page *p, struct kv_slice key, uint64_t digest)
{
    int rc = aae_grow((void **)&p->e, &p->cap, p->n + 1, sizeof *p->e);
    if (rc != KV_OK)
        return rc;
    size_t off = p->arena.len;
    if (off > UINT32_MAX - key.len)
        return KV_ETOOBIG;
    if ((rc = kv_buf_append(&p->arena, key.data, key.len)) != KV_OK)
        return rc;
    p->e[p->n++] = (struct aae_entry){ (uint32_t)off, (uint32_t)key.len, digest };
    return KV_OK;
}

struct merkle *aae_tree(const struct aae *a, uint32_t partition)
{
    return partition < a->cfg.partitions && a->parts[partition] ? a->parts[partition]->tree : NULL;
}

bool aae_tree_ready(const struct aae *a, uint32_t partition)
{
    const struct aae_part *p = partition < a->cfg.partitions ? a->parts[partition] : NULL;
    return p && p->tree && !p->needs_build && merkle_ready(p->tree);
}

static void refill(struct aae *a, uint64_t now)
{
    if (!a->refill_known || now < a->refill_ms) {
        a->refill_known = true;
        a->refill_ms = now;
        return;
    }
    uint64_t add = (now - a->refill_ms) * a->cfg.bytes_per_sec / 1000;
    if (add == 0)
        return; /* keep the remainder accruing from refill_ms */
    a->refill_ms = now;
    int64_t cap = (int64_t)a->cfg.burst_bytes;
    a->tokens = a->tokens + (int64_t)add > cap ? cap : a->tokens + (int64_t)add;
}

void aae_budget_charge(struct aae *a, uint64_t bytes, uint64_t now_ms)
{
    if (a->cfg.bytes_per_sec == 0)
        return;
    refill(a, now_ms);
    a->tokens -= (int64_t)bytes;
}

bool aae_budget_ok(struct aae *a, uint64_t now_ms)
{
    if (a->cfg.bytes_per_sec == 0)
        return true;
    refill(a, now_ms);
    return a->tokens > 0;
}

uint64_t aae_budget_wait_ms(const struct aae *a)
{
    if (a->cfg.bytes_per_sec == 0 || a->tokens > 0)
        return 0;
    return ((uint64_t)(-a->tokens) + 1) * 1000 / a->cfg.bytes_per_sec + 1;
}

void aae_send(struct aae *a, const char *node, const struct aae_msg *m, uint64_t now_ms, uint64_t *bytes_out)
{
    uint64_t n = aae_msg_encoded_bytes(m);
    aae_budget_charge(a, n, now_ms);
    a->stats.bytes_sent += n;
    *bytes_out = n;
    if (a->cfg.ops.send(a->cfg.ops.ctx, node, m) != KV_OK)
        log_debug("aae", "send failed to=%s type=%s", node, aae_msg_type_str(m->type));
}

int aae_read_local(struct aae *a, uint32_t partition, struct kv_slice key, bool *found_out)
{
    int rc = kv_buf_reserve(&a->ekey, KEYSPACE_PREFIX_BYTES + key.len);
    if (rc != KV_OK)
        return rc;
    keyspace_put_prefix(a->ekey.data, KEYSPACE_DATA, partition);
    if (key.len)
        memcpy(a->ekey.data + KEYSPACE_PREFIX_BYTES, key.data, key.len);
    a->ekey.len = KEYSPACE_PREFIX_BYTES + key.len;
    rc = engine_get(a->cfg.engine, NULL, kv_slice_make(a->ekey.data, a->ekey.len), &a->stored);
    if (rc != KV_OK && rc != KV_ENOTFOUND)
        return rc;
    *found_out = rc == KV_OK;
    return KV_OK;
}

/* The merge of the stored object (a->stored) and a->robj into a->merged;
 * *same: the result equals what is stored. */
static int merge_with_stored(struct aae *a, bool *same)
{
    int rc = object_decode(kv_slice_make(a->stored.data, a->stored.len), &a->lobj);
    if (rc == KV_OK)
        rc = object_merge(&a->lobj, &a->robj, DVV_VALUES_MAX, &a->mobj);
    kv_buf_reset(&a->merged);
    if (rc == KV_OK)
        rc = object_encode(&a->mobj, &a->merged);
    if (rc == KV_OK)
        *same = kv_slice_eq(kv_slice_make(a->merged.data, a->merged.len),
                            kv_slice_make(a->stored.data, a->stored.len));
    return rc;
}

/* The partition of a key (which may be an empty slice with data NULL). */
static uint32_t partition_of(const struct aae *a, struct kv_slice key)
{
    return keyspace_partition_of_hash(&a->ks, kv_hash64(key.len ? key.data : "", key.len, KEYSPACE_HASH_SEED));
}

int aae_merge_in(struct aae *a, uint32_t partition, struct kv_slice key, struct kv_slice object, bool *changed_out)
{
    bool found, same = false;
    int rc = key.len > AAE_KEY_BYTES_MAX || partition_of(a, key) != partition ? KV_EINVAL
                                                                                      : object_decode(object, &a->robj);
    if (rc == KV_OK)
        rc = aae_read_local(a, partition, key, &found);
    struct kv_slice result = object; /* absent here: the received object as it is (checked canonical) */
    if (rc == KV_OK && found) {
        rc = merge_with_stored(a, &same);
        result = kv_slice_make(a->merged.data, a->merged.len);
    }
    if (rc == KV_OK && !same)
        rc = a->cfg.ops.write(a->cfg.ops.ctx, partition, key, result);
    if (rc != KV_OK) {
        a->stats.merge_errors++;
        log_error("aae", "merge failed partition=%" PRIu32 " key_bytes=%zu object_bytes=%zu status=%s", partition,
                  key.len, object.len, kv_status_str(rc));
        return rc;
    }
    if (!same) {
        struct merkle *t = aae_tree(a, partition);
        if (t)
            merkle_update_objects(t, key, found ? kv_slice_make(a->stored.data, a->stored.len)
                                                : kv_slice_make(NULL, 0), result);
        a->stats.keys_repaired++;
    }
    *changed_out = !same;
    return KV_OK;
}

void aae_note_write(struct aae *a, uint32_t partition, struct kv_slice key, struct kv_slice old_object,
                    struct kv_slice new_object)
{
    struct merkle *t = aae_tree(a, partition);
    if (t)
        merkle_update_objects(t, key, old_object, new_object);
}

/* ---- ring: which partitions are held, with which peers ---- */

static void abort_exchanges_of(struct aae *a, uint32_t partition, uint64_t now)
{
    for (uint32_t i = 0; i < a->cfg.exchanges_max; i++)
        if (a->x[i].active && a->x[i].partition == partition)
            aae_x_finish(a, &a->x[i], KV_ESTATE, now);
}

static uint64_t first_due(struct aae *a, uint64_t now)
{
    return now + kv_rand_below(&a->rng, a->cfg.exchange_interval_ms);
}

/* Sets partition p's peers to the other primaries in list[0..n), keeping
 * the schedule of peers that stay. */
static int set_peers(struct aae *a, struct aae_part *p, const struct ring *r, const uint32_t *list, size_t n,
                     uint64_t now)
{
    struct aae_peer *np = calloc(n ? n : 1, sizeof *np);
    if (!np)
        return KV_ENOMEM;
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = ring_member_id(r, list[i]);
        if (strcmp(id, a->node_id) == 0 || strlen(id) > AAE_ID_BYTES_MAX)
            continue;
        struct aae_peer *q = &np[k++];
        strcpy(q->id, id);
        q->initiator = strcmp(a->node_id, id) < 0;
        q->due_ms = first_due(a, now);
        for (uint32_t j = 0; j < p->n_peers; j++)
            if (strcmp(p->peers[j].id, id) == 0)
                *q = p->peers[j];
    }
    free(p->peers);
    p->peers = np;
    p->n_peers = k;
    return KV_OK;
}

static int hold(struct aae *a, uint32_t partition, const struct ring *r, const uint32_t *list, size_t n, uint64_t now)
{
    struct aae_part *p = a->parts[partition];
    if (!p && !(p = a->parts[partition] = calloc(1, sizeof *p)))
        return KV_ENOMEM;
    if (!p->tree) {
        int rc = merkle_new(partition, a->cfg.partitions, a->cfg.segments, a->cfg.branching, &p->tree);
        if (rc != KV_OK)
            return rc;
        p->needs_build = true; /* the engine may hold data already: untrusted until built */
        p->build_after_ms = 0;
    }
    return set_peers(a, p, r, list, n, now);
}

static void release(struct aae *a, uint32_t partition, uint64_t now)
{
    struct aae_part *p = a->parts[partition];
    if (!p || !p->tree)
        return;
    abort_exchanges_of(a, partition, now);
    if (a->build_part == partition)
        a->build_part = UINT32_MAX;
    part_drop_tree(p);
    p->needs_build = false;
}

static void refresh_ring(struct aae *a, uint64_t now)
{
    const struct ring *r = a->cfg.ops.ring(a->cfg.ops.ctx);
    if (r == a->ring_seen && a->ring_known && (!r || ring_version(r) == a->ring_version))
        return;
    uint32_t me = RING_NO_MEMBER;
    bool ok = r && ring_partitions(r) == a->cfg.partitions && ring_member_find(r, a->node_id, &me) == KV_OK;
    if (r && ring_partitions(r) != a->cfg.partitions)
        log_error("aae", "ring partitions differ ring=%" PRIu32 " config=%" PRIu32, ring_partitions(r),
                  a->cfg.partitions);
    uint32_t list[RING_N_VAL_MAX];
    for (uint32_t p = 0; p < a->cfg.partitions; p++) {
        size_t n = ok ? ring_preference_list(r, p, list, ring_n_val(r)) : 0;
        bool mine = false;
        for (size_t i = 0; i < n; i++)
            mine |= list[i] == me;
        if (!mine)
            release(a, p, now);
        else if (hold(a, p, r, list, n, now) != KV_OK)
            return; /* out of memory: try again at the next tick */
    }
    a->ring_seen = r;
    a->ring_version = r ? ring_version(r) : 0;
    a->ring_known = true;
}

/* ---- builds ---- */

static void build_done(struct aae *a, struct aae_part *p, uint32_t partition, uint64_t now)
{
    bool verify = p->verifying;
    uint32_t bad = 0;
    if (merkle_build_finish(p->tree, &bad) != KV_OK)
        return;
    p->needs_build = false;
    p->verifying = false;
    p->verify_due_ms = a->cfg.verify_interval_ms ? now + a->cfg.verify_interval_ms : UINT64_MAX;
    if (!verify) {
        a->stats.builds++;
        return;
    }
    a->stats.verifies++;
    a->stats.verify_mismatches += bad;
    p->st.verifies++;
    p->st.last_verify_mismatches = bad;
    if (bad)
        log_warn("aae", "tree verify found mismatches partition=%" PRIu32 " leaves=%" PRIu32 " (repaired)",
                 partition, bad);
}

/* One step of the running build. */
static void build_step(struct aae *a, uint64_t now)
{
    uint32_t pid = a->build_part;
    struct aae_part *p = a->parts[pid];
    bool done = false;
    int rc = merkle_build_step(p->tree, a->cfg.build_keys_per_step, &done);
    if (rc != KV_OK) {
        a->stats.build_errors++;
        log_error("aae", "tree build failed partition=%" PRIu32 " status=%s", pid, kv_status_str(rc));
        p->build_after_ms = now + a->cfg.failure_backoff_ms;
        p->needs_build = !merkle_ready(p->tree);
        p->verifying = false;
        a->build_part = UINT32_MAX;
        return;
    }
    a->build_next_ms = now + a->cfg.build_step_ms;
    if (done) {
        build_done(a, p, pid, now);
        a->build_part = UINT32_MAX;
    }
}

/* Starts the next build wanted: rebuilds first, then due verifies. */
static void build_pick(struct aae *a, uint64_t now)
{
    for (int pass = 0; pass < 2 && a->build_part == UINT32_MAX; pass++) {
        for (uint32_t i = 0; i < a->cfg.partitions; i++) {
            struct aae_part *p = a->parts[i];
            if (!p || !p->tree || p->build_after_ms > now)
                continue;
            bool want = pass == 0 ? p->needs_build : p->verify_due_ms <= now;
            if (!want)
                continue;
            if (merkle_build_begin(p->tree, a->cfg.engine, pass == 1) != KV_OK) {
                a->stats.build_errors++;
                p->build_after_ms = now + a->cfg.failure_backoff_ms;
                continue;
            }
            p->verifying = pass == 1;
            a->build_part = i;
            a->build_next_ms = now;
            break;
        }
    }
}

static void run_builds(struct aae *a, uint64_t now)
{
    if (a->build_part == UINT32_MAX)
        build_pick(a, now);
    if (a->build_part != UINT32_MAX && a->build_next_ms <= now)
        build_step(a, now);
}

int aae_rebuild(struct aae *a, uint32_t partition)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->cfg.partitions; i++) {
        struct aae_part *p = a->parts[i];
        if (!p || !p->tree || (partition != AAE_ALL_PARTITIONS && partition != i))
            continue;
        if (a->build_part == i)
            a->build_part = UINT32_MAX;
        merkle_build_abort(p->tree);
        p->needs_build = true;
        p->verifying = false;
        p->build_after_ms = 0;
        n++;
    }
    return n ? KV_OK : KV_ENOTFOUND;
}

/* ---- exchanges: schedule ---- */

static struct aae_xchg *free_slot(struct aae *a)
{
    for (uint32_t i = 0; i < a->cfg.exchanges_max; i++)
        if (!a->x[i].active)
            return &a->x[i];
    return NULL;
}

static bool peer_alive(const struct aae *a, const char *id)
{
    return !a->cfg.ops.alive || a->cfg.ops.alive(a->cfg.ops.ctx, id);
}

/* Starts due exchanges while slots are free: forced pairs first, then
 * the regular schedule, round-robin over partitions. */
static void schedule(struct aae *a, uint64_t now)
{
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t k = 0; k < a->cfg.partitions; k++) {
            uint32_t pid = (a->sched_cursor + k) % a->cfg.partitions;
            struct aae_part *p = a->parts[pid];
            if (!p || !aae_tree_ready(a, pid) || p->exchanging)
                continue;
            for (uint32_t j = 0; j < p->n_peers && !p->exchanging; j++) {
                struct aae_peer *q = &p->peers[j];
                bool want = pass == 0 ? q->forced : q->initiator;
                if (!want || q->due_ms > now)
                    continue;
                struct aae_xchg *x = free_slot(a);
                if (!x)
                    return;
                if (!peer_alive(a, q->id)) {
                    q->due_ms = now + a->cfg.failure_backoff_ms;
                    continue;
                }
                q->forced = false;
                q->due_ms = now + a->cfg.exchange_interval_ms;
                p->exchanging = true; /* before: the exchange may end inside aae_x_start */
                if (aae_x_start(a, x, pid, q->id, now) != KV_OK)
                    p->exchanging = false;
                a->sched_cursor = (pid + 1) % a->cfg.partitions;
            }
        }
    }
}

void aae_exchange_ended(struct aae *a, uint32_t partition, const char *peer, int status, uint64_t started_ms,
                        uint64_t now)
{
    struct aae_part *p = a->parts[partition];
    if (!p)
        return;
    p->exchanging = false;
    if (status == KV_OK) {
        for (uint32_t j = 0; j < p->n_peers; j++)
            if (strcmp(p->peers[j].id, peer) == 0 && started_ms > p->peers[j].synced_ms)
                p->peers[j].synced_ms = started_ms;
        return;
    }
    for (uint32_t j = 0; j < p->n_peers; j++) {
        uint64_t retry = now + a->cfg.failure_backoff_ms;
        if (strcmp(p->peers[j].id, peer) == 0 && p->peers[j].due_ms > retry)
            p->peers[j].due_ms = retry;
    }
}

int aae_repair(struct aae *a, uint32_t partition, const char *node_id, uint64_t now_ms, uint32_t *n_out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->cfg.partitions; i++) {
        struct aae_part *p = a->parts[i];
        if (!p || !p->tree || (partition != AAE_ALL_PARTITIONS && partition != i))
            continue;
        for (uint32_t j = 0; j < p->n_peers; j++) {
            if (node_id && strcmp(node_id, p->peers[j].id) != 0)
                continue;
            p->peers[j].forced = true;
            p->peers[j].due_ms = now_ms;
            n++;
        }
    }
    if (n == 0)
        return KV_ENOTFOUND;
    *n_out = n;
    return KV_OK;
}

/* ---- driver entry points ---- */

int aae_handle_message(struct aae *a, const char *from, const struct aae_msg *m, uint64_t now_ms)
{
    if (!from || m->type < 1 || m->type > AAE_MSG_TYPE_MAX || m->partition >= a->cfg.partitions) {
        a->stats.bad_messages++;
        return KV_EPROTO;
    }
    if (!aae_msg_is_reply(m->type)) {
        aae_serve(a, from, m, now_ms);
        return KV_OK;
    }
    for (uint32_t i = 0; i < a->cfg.exchanges_max; i++) {
        struct aae_xchg *x = &a->x[i];
        if (x->active && x->xid == m->xid && x->in_flight && x->seq == m->seq && strcmp(x->peer, from) == 0) {
            aae_x_reply(a, x, m, now_ms);
            return KV_OK;
        }
    }
    a->stats.stale_replies++;
    return KV_OK;
}

void aae_tick(struct aae *a, uint64_t now_ms)
{
    refresh_ring(a, now_ms);
    run_builds(a, now_ms);
    for (uint32_t i = 0; i < a->cfg.exchanges_max; i++)
        if (a->x[i].active && a->x[i].deadline_ms <= now_ms)
            aae_x_tick(a, &a->x[i], now_ms);
    schedule(a, now_ms);
}

static uint64_t min_u64(uint64_t x, uint64_t y) { return x < y ? x : y; }

uint64_t aae_next_tick_ms(const struct aae *a, uint64_t now_ms)
{
    const struct ring *r = a->cfg.ops.ring(a->cfg.ops.ctx);
    if (!a->ring_known || r != a->ring_seen || (r && ring_version(r) != a->ring_version))
        return now_ms; /* a ring to apply */
    uint64_t t = now_ms + AAE_IDLE_TICK_MS;
    if (a->build_part != UINT32_MAX)
        t = min_u64(t, a->build_next_ms);
    bool slot = false;
    for (uint32_t i = 0; i < a->cfg.exchanges_max; i++) {
        if (a->x[i].active)
            t = min_u64(t, a->x[i].deadline_ms);
        else
            slot = true;
    }
    for (uint32_t i = 0; i < a->cfg.partitions; i++) {
        const struct aae_part *p = a->parts[i];
        if (!p || !p->tree)
            continue;
        if (a->build_part == UINT32_MAX) /* a build or verify wanted, not before build_after_ms */
            t = min_u64(t, p->needs_build ? p->build_after_ms
                                          : (p->verify_due_ms > p->build_after_ms ? p->verify_due_ms
                                                                                   : p->build_after_ms));
        for (uint32_t j = 0; slot && !p->exchanging && aae_tree_ready(a, i) && j < p->n_peers; j++)
            if (p->peers[j].initiator || p->peers[j].forced)
                t = min_u64(t, p->peers[j].due_ms);
    }
    return t < now_ms ? now_ms : t;
}

/* ---- status ---- */

int aae_partition_status(struct aae *a, uint32_t partition, struct aae_partition_status *out)
{
    if (partition >= a->cfg.partitions)
        return KV_EINVAL;
    struct aae_partition_status s = { 0 };
    s.next_exchange_ms = UINT64_MAX;
    struct aae_part *p = a->parts[partition];
    if (p) {
        s = p->st;
        s.next_exchange_ms = UINT64_MAX;
        for (uint32_t j = 0; j < p->n_peers; j++)
            if (p->peers[j].initiator || p->peers[j].forced)
                s.next_exchange_ms = min_u64(s.next_exchange_ms, p->peers[j].due_ms);
    }
    if (p && p->tree) {
        s.held = true;
        s.ready = aae_tree_ready(a, partition);
        s.building = merkle_build_running(p->tree);
        s.keys = merkle_keys(p->tree);
        s.root = s.ready ? merkle_root(p->tree) : 0;
    }
    *out = s;
    return KV_OK;
}

void aae_get_stats(const struct aae *a, struct aae_stats *out)
{
    *out = a->stats;
    out->trees = out->trees_ready = out->tree_bytes = out->exchanges_active = 0;
    for (uint32_t i = 0; i < a->cfg.partitions; i++) {
        const struct aae_part *p = a->parts[i];
        if (!p || !p->tree)
            continue;
        out->trees++;
        out->trees_ready += aae_tree_ready(a, i);
        out->tree_bytes += merkle_memory_bytes(p->tree);
    }
    for (uint32_t i = 0; i < a->cfg.exchanges_max; i++)
        out->exchanges_active += a->x[i].active;
}

uint32_t aae_partition_peers(const struct aae *a, uint32_t partition, const char **ids_out, uint32_t max)
{
    const struct aae_part *p = partition < a->cfg.partitions ? a->parts[partition] : NULL;
    if (!p || !p->tree)
        return 0;
    for (uint32_t j = 0; j < p->n_peers && j < max; j++)
        ids_out[j] = p->peers[j].id;
    return p->n_peers;
}

uint64_t aae_partition_synced_since(const struct aae *a, uint32_t partition)
{
    const struct aae_part *p = partition < a->cfg.partitions ? a->parts[partition] : NULL;
    if (!p || !p->tree)
        return 0;
    uint64_t t = UINT64_MAX;
    for (uint32_t j = 0; j < p->n_peers; j++)
        t = min_u64(t, p->peers[j].synced_ms);
    return t;
}
