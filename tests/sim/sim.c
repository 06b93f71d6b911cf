/*
 * sim.c - event queue, seeded network and node faults (see sim.h).
 *
 * The queue is a binary heap of events keyed by (time, seq); seq is a
 * global insertion counter, so events at the same millisecond run in the
 * order they were scheduled and a run never depends on heap internals.
 * Each node has one pending wake-up; asking for an earlier one bumps the
 * node's wake generation and the old event is skipped when it pops.
 */
#include "tests/sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

enum sim_event_kind { SIM_EV_MSG, SIM_EV_WAKE, SIM_EV_RESUME, SIM_EV_CALL };

struct sim_event {
    uint64_t at_ms;
    uint64_t seq;
    enum sim_event_kind kind;
    uint32_t node; /* destination / woken node */
    uint32_t from;
    uint32_t gen;
    char *data;
    size_t len;
    void (*fn)(void *ctx, struct sim *s);
    void *ctx;
};

struct sim_queued_msg {
    uint32_t from;
    char *data;
    size_t len;
};

struct sim_node {
    char addr[SIM_ADDR_BYTES_MAX + 1];
    struct sim_node_ops ops;
    void *ctx;
    bool up;
    uint64_t paused_until_ms; /* 0 = running */
    uint32_t pause_gen;
    bool wake_due; /* a wake-up arrived during a pause */
    uint64_t wake_at_ms;
    uint32_t wake_gen;
    uint32_t restarts;
    uint64_t sent;
    struct sim_queued_msg *queue; /* messages held during a pause */
    size_t queue_len, queue_cap;
};

struct sim {
    struct sim_config cfg;
    struct kv_rand rand;
    uint64_t now_ms;
    uint64_t seq;
    struct sim_event *heap;
    size_t heap_len, heap_cap;
    struct sim_node *nodes;
    uint32_t n_nodes;
    uint32_t *addr_index; /* open addressing: node or UINT32_MAX */
    uint32_t addr_cap;
    uint8_t *cut;      /* [cut_n * cut_n], cut[from * cut_n + to] */
    uint32_t cut_n;
    struct sim_stats stats;
};

void sim_config_defaults(struct sim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->latency_min_ms = 1;
    cfg->latency_max_ms = 5;
    cfg->latency_tail_mean_ms = 50;
    cfg->reorder_delay_ms = 20;
}

int sim_create(const struct sim_config *cfg, struct sim **out)
{
    if (cfg->latency_max_ms < cfg->latency_min_ms)
        return KV_EINVAL;
    struct sim *s = calloc(1, sizeof *s);
    if (!s)
        return KV_ENOMEM;
    s->cfg = *cfg;
    kv_rand_seed(&s->rand, cfg->seed);
    s->addr_cap = 2 * SIM_NODES_MAX;
    s->addr_index = malloc(s->addr_cap * sizeof *s->addr_index);
    s->nodes = calloc(SIM_NODES_MAX, sizeof *s->nodes);
    if (!s->addr_index || !s->nodes) {
        sim_free(s);
        return KV_ENOMEM;
    }
    memset(s->addr_index, 0xff, s->addr_cap * sizeof *s->addr_index);
    *out = s;
    return KV_OK;
}

void sim_free(struct sim *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->heap_len; i++)
        free(s->heap[i].data);
    for (uint32_t i = 0; s->nodes && i < s->n_nodes; i++) {
        for (size_t j = 0; j < s->nodes[i].queue_len; j++)
            free(s->nodes[i].queue[j].data);
        free(s->nodes[i].queue);
    }
    free(s->heap);
    free(s->nodes);
    free(s->addr_index);
    free(s->cut);
    free(s);
}

/* ---- event heap ---------------------------------------------------------------- */

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
    return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static int heap_push(struct sim *s, struct sim_event ev)
{
    if (s->heap_len == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        struct sim_event *h = realloc(s->heap, cap * sizeof *h);
        if (!h)
            return KV_ENOMEM;
        s->heap = h;
        s->heap_cap = cap;
    }
    ev.seq = s->seq++;
    size_t i = s->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_before(&ev, &s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = ev;
    return KV_OK;
}

static struct sim_event heap_pop(struct sim *s)
{
    struct sim_event top = s->heap[0];
    struct sim_event last = s->heap[--s->heap_len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct sim_event *best = &last;
        if (l < s->heap_len && ev_before(&s->heap[l], best)) {
            m = l;
            best = &s->heap[l];
        }
        if (r < s->heap_len && ev_before(&s->heap[r], best))
            m = r;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->heap_len > 0)
        s->heap[i] = last;
    return top;
}

/* ---- nodes ----------------------------------------------------------------------- */

static uint64_t addr_hash(const char *addr) { return kv_hash64(addr, strlen(addr), 0x73696d); }

int sim_add_node(struct sim *s, const char *addr, const struct sim_node_ops *ops, void *ctx, uint32_t *out_node)
{
    uint32_t existing;
    if (s->n_nodes >= SIM_NODES_MAX || strlen(addr) > SIM_ADDR_BYTES_MAX || sim_find_addr(s, addr, &existing) == KV_OK)
        return KV_EINVAL;
    uint32_t node = s->n_nodes++;
    struct sim_node *n = &s->nodes[node];
    strcpy(n->addr, addr);
    n->ops = *ops;
    n->ctx = ctx;
    n->up = true;
    n->wake_at_ms = UINT64_MAX;
    uint32_t slot = (uint32_t)addr_hash(addr) & (s->addr_cap - 1);
    while (s->addr_index[slot] != UINT32_MAX)
        slot = (slot + 1) & (s->addr_cap - 1);
    s->addr_index[slot] = node;
    *out_node = node;
    return KV_OK;
}

int sim_find_addr(const struct sim *s, const char *addr, uint32_t *out)
{
    for (uint32_t slot = (uint32_t)addr_hash(addr) & (s->addr_cap - 1);; slot = (slot + 1) & (s->addr_cap - 1)) {
        uint32_t node = s->addr_index[slot];
        if (node == UINT32_MAX)
            return KV_ENOTFOUND;
        if (strcmp(s->nodes[node].addr, addr) == 0) {
            *out = node;
            return KV_OK;
        }
    }
}

uint32_t sim_node_count(const struct sim *s) { return s->n_nodes; }
const char *sim_node_addr(const struct sim *s, uint32_t node) { return s->nodes[node].addr; }
bool sim_node_up(const struct sim *s, uint32_t node) { return s->nodes[node].up; }
bool sim_node_paused(const struct sim *s, uint32_t node) { return s->nodes[node].paused_until_ms > s->now_ms; }
uint64_t sim_node_sent(const struct sim *s, uint32_t node) { return s->nodes[node].sent; }
uint64_t sim_now(const struct sim *s) { return s->now_ms; }
uint64_t sim_seed(const struct sim *s) { return s->cfg.seed; }
struct kv_rand *sim_rand(struct sim *s) { return &s->rand; }
void sim_get_stats(const struct sim *s, struct sim_stats *out) { *out = s->stats; }

uint64_t sim_node_seed(const struct sim *s, uint32_t node)
{
    uint64_t key[3] = { s->cfg.seed, node, s->nodes[node].restarts };
    return kv_hash64(key, sizeof key, 0x6e6f6465);
}

/* ---- network ----------------------------------------------------------------------- */

static uint64_t sample_delay(struct sim *s)
{
    const struct sim_config *c = &s->cfg;
    uint64_t d = c->latency_min_ms + kv_rand_below(&s->rand, (uint64_t)(c->latency_max_ms - c->latency_min_ms) + 1);
    if (c->latency_tail_rate > 0 && kv_rand_double(&s->rand) < c->latency_tail_rate)
        d += (uint64_t)(-(double)c->latency_tail_mean_ms * log(1.0 - kv_rand_double(&s->rand)));
    if (c->reorder_rate > 0 && kv_rand_double(&s->rand) < c->reorder_rate)
        d += kv_rand_below(&s->rand, (uint64_t)c->reorder_delay_ms + 1);
    return d;
}

static void schedule_copy(struct sim *s, uint32_t from, uint32_t to, const void *data, size_t len)
{
    struct sim_event ev = { .at_ms = s->now_ms + sample_delay(s), .kind = SIM_EV_MSG, .node = to, .from = from };
    ev.data = malloc(len ? len : 1);
    if (!ev.data)
        return; /* out of memory looks like loss */
    memcpy(ev.data, data, len);
    ev.len = len;
    if (heap_push(s, ev) != KV_OK)
        free(ev.data);
}

void sim_send(struct sim *s, uint32_t from, const char *to_addr, const void *data, size_t len)
{
    s->stats.sent++;
    s->stats.bytes_sent += len;
    s->nodes[from].sent++;
    uint32_t to;
    bool lost = s->cfg.drop_rate > 0 && kv_rand_double(&s->rand) < s->cfg.drop_rate;
    if (sim_find_addr(s, to_addr, &to) != KV_OK || lost) {
        s->stats.dropped_loss++;
        return;
    }
    schedule_copy(s, from, to, data, len);
    if (s->cfg.dup_rate > 0 && kv_rand_double(&s->rand) < s->cfg.dup_rate) {
        s->stats.duplicated++;
        schedule_copy(s, from, to, data, len);
    }
}

void sim_wake_at(struct sim *s, uint32_t node, uint64_t at_ms)
{
    struct sim_node *n = &s->nodes[node];
    if (at_ms < s->now_ms)
        at_ms = s->now_ms;
    if (at_ms >= n->wake_at_ms)
        return;
    n->wake_at_ms = at_ms;
    n->wake_gen++;
    struct sim_event ev = { .at_ms = at_ms, .kind = SIM_EV_WAKE, .node = node, .gen = n->wake_gen };
    if (heap_push(s, ev) != KV_OK)
        n->wake_at_ms = UINT64_MAX; /* lost wake-up: the next message re-arms it */
}

static bool is_cut(const struct sim *s, uint32_t from, uint32_t to)
{
    return s->cut && from < s->cut_n && to < s->cut_n && s->cut[(size_t)from * s->cut_n + to];
}

static bool ensure_cut_matrix(struct sim *s)
{
    if (s->cut && s->cut_n == s->n_nodes)
        return true;
    uint8_t *c = calloc((size_t)s->n_nodes * s->n_nodes, 1);
    if (!c)
        return false;
    for (uint32_t i = 0; s->cut && i < s->cut_n; i++)
        memcpy(c + (size_t)i * s->n_nodes, s->cut + (size_t)i * s->cut_n, s->cut_n);
    free(s->cut);
    s->cut = c;
    s->cut_n = s->n_nodes;
    return true;
}

void sim_cut(struct sim *s, uint32_t from, uint32_t to)
{
    if (ensure_cut_matrix(s))
        s->cut[(size_t)from * s->cut_n + to] = 1;
}

void sim_partition(struct sim *s, const uint32_t *side, size_t n)
{
    if (!ensure_cut_matrix(s))
        return;
    uint8_t *in = calloc(s->n_nodes, 1);
    if (!in)
        return;
    for (size_t i = 0; i < n; i++)
        in[side[i]] = 1;
    for (uint32_t a = 0; a < s->n_nodes; a++)
        for (uint32_t b = 0; b < s->n_nodes; b++)
            if (in[a] != in[b])
                s->cut[(size_t)a * s->cut_n + b] = 1;
    free(in);
}

void sim_heal(struct sim *s)
{
    if (s->cut)
        memset(s->cut, 0, (size_t)s->cut_n * s->cut_n);
}

/* ---- faults ------------------------------------------------------------------------ */

static void drop_queue(struct sim_node *n)
{
    for (size_t i = 0; i < n->queue_len; i++)
        free(n->queue[i].data);
    n->queue_len = 0;
}

void sim_crash(struct sim *s, uint32_t node)
{
    struct sim_node *n = &s->nodes[node];
    if (!n->up)
        return;
    n->up = false;
    n->paused_until_ms = 0;
    n->pause_gen++;
    n->wake_due = false;
    n->wake_at_ms = UINT64_MAX;
    n->wake_gen++;
    drop_queue(n);
    if (n->ops.on_crash)
        n->ops.on_crash(n->ctx, s, node);
}

void sim_restart(struct sim *s, uint32_t node)
{
    struct sim_node *n = &s->nodes[node];
    if (n->up)
        return;
    n->up = true;
    n->restarts++;
    if (n->ops.on_restart)
        n->ops.on_restart(n->ctx, s, node);
}

void sim_pause(struct sim *s, uint32_t node, uint32_t duration_ms)
{
    struct sim_node *n = &s->nodes[node];
    if (!n->up)
        return;
    n->paused_until_ms = s->now_ms + duration_ms;
    n->pause_gen++;
    struct sim_event ev = { .at_ms = n->paused_until_ms, .kind = SIM_EV_RESUME, .node = node, .gen = n->pause_gen };
    if (heap_push(s, ev) != KV_OK)
        n->paused_until_ms = 0;
}

int sim_at(struct sim *s, uint64_t at_ms, void (*fn)(void *ctx, struct sim *s), void *ctx)
{
    struct sim_event ev = { .at_ms = at_ms < s->now_ms ? s->now_ms : at_ms, .kind = SIM_EV_CALL, .fn = fn, .ctx = ctx };
    return heap_push(s, ev);
}

/* ---- running ------------------------------------------------------------------------- */

static void hold_message(struct sim_node *n, struct sim_event *ev)
{
    if (n->queue_len == n->queue_cap) {
        size_t cap = n->queue_cap ? n->queue_cap * 2 : 64;
        struct sim_queued_msg *q = realloc(n->queue, cap * sizeof *q);
        if (!q) {
            free(ev->data);
            return;
        }
        n->queue = q;
        n->queue_cap = cap;
    }
    n->queue[n->queue_len++] = (struct sim_queued_msg){ ev->from, ev->data, ev->len };
    ev->data = NULL;
}

static void deliver(struct sim *s, struct sim_event *ev)
{
    struct sim_node *n = &s->nodes[ev->node];
    if (!n->up) {
        s->stats.dropped_down++;
    } else if (is_cut(s, ev->from, ev->node)) {
        s->stats.dropped_cut++;
    } else if (n->paused_until_ms > s->now_ms) {
        hold_message(n, ev);
    } else {
        s->stats.delivered++;
        n->ops.on_message(n->ctx, s, ev->node, ev->from, ev->data, ev->len);
    }
    free(ev->data);
}

static void wake(struct sim *s, const struct sim_event *ev)
{
    struct sim_node *n = &s->nodes[ev->node];
    if (ev->gen != n->wake_gen || !n->up)
        return;
    n->wake_at_ms = UINT64_MAX;
    if (n->paused_until_ms > s->now_ms)
        n->wake_due = true;
    else
        n->ops.on_timer(n->ctx, s, ev->node);
}

static void resume(struct sim *s, const struct sim_event *ev)
{
    struct sim_node *n = &s->nodes[ev->node];
    if (ev->gen != n->pause_gen || !n->up)
        return;
    n->paused_until_ms = 0;
    /* Handlers may pause or crash the node again: stop delivering then,
     * keeping the rest (or dropping it, on a crash) as usual. */
    size_t i = 0;
    for (; i < n->queue_len && n->up && n->paused_until_ms == 0; i++) {
        struct sim_queued_msg q = n->queue[i];
        n->queue[i].data = NULL;
        s->stats.delivered++;
        n->ops.on_message(n->ctx, s, ev->node, q.from, q.data, q.len);
        free(q.data);
    }
    if (n->up && n->queue_len > 0) { /* queue may be NULL when empty */
        memmove(n->queue, n->queue + i, (n->queue_len - i) * sizeof *n->queue);
        n->queue_len -= i;
    }
    if (n->up && n->paused_until_ms == 0 && n->wake_due) {
        n->wake_due = false;
        n->ops.on_timer(n->ctx, s, ev->node);
    }
}

void sim_run_until(struct sim *s, uint64_t until_ms)
{
    while (s->heap_len > 0 && s->heap[0].at_ms <= until_ms) {
        struct sim_event ev = heap_pop(s);
        s->now_ms = ev.at_ms;
        s->stats.events++;
        switch (ev.kind) {
        case SIM_EV_MSG: deliver(s, &ev); break;
        case SIM_EV_WAKE: wake(s, &ev); break;
        case SIM_EV_RESUME: resume(s, &ev); break;
        case SIM_EV_CALL: ev.fn(ev.ctx, s); break;
        }
    }
    if (until_ms > s->now_ms)
        s->now_ms = until_ms;
}

bool sim_run_until_true(struct sim *s, bool (*pred)(void *ctx), void *ctx, uint32_t step_ms, uint64_t deadline_ms)
{
    while (!pred(ctx)) {
        if (s->now_ms >= deadline_ms)
            return false;
        uint64_t next = s->now_ms + step_ms;
        sim_run_until(s, next < deadline_ms ? next : deadline_ms);
    }
    return true;
}
