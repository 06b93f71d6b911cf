/*
 * coord_req.c - the request table, the ring view and sending.
 *
 * Requests live in slots allocated once and reused (a request never moves,
 * so a callback that starts new requests cannot invalidate the one being
 * completed). A request id is tag << 48 | generation << 16 | slot: lookup
 * is one array index and a compare, a late reply to a finished request
 * finds another generation, and a reply meant for a previous life of this
 * node (before a restart) carries another random tag.
 *
 * Deadlines: coord_reqs_expire walks the used slots when the earliest
 * known deadline has passed, O(slots in use); requests usually finish
 * long before their deadline, so walks are rare.
 *
 * Preference lists: ring_preference_list costs O(Q), so rows are cached
 * per partition and dropped when the ring (pointer or version) changes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "coordinator/coord_internal.h"

#define SLOT_BITS 16
#define GEN_MASK 0xffffffffull

int coord_reqs_init(struct coord *c, uint32_t requests_max)
{
    c->nslots = requests_max;
    c->slots = calloc(requests_max, sizeof *c->slots);
    c->free_slots = malloc(requests_max * sizeof *c->free_slots);
    c->gens = calloc(requests_max, sizeof *c->gens);
    if (!c->slots || !c->free_slots || !c->gens)
        return KV_ENOMEM;
    c->tag = (uint16_t)(kv_rand_next(&c->rand) | 1); /* never 0: id 0 means "no reply" */
    c->next_deadline_ms = UINT64_MAX;
    return KV_OK;
}

static void req_trim(struct coord_req *r)
{
    struct kv_buf *bufs[] = { &r->key, &r->ctx, &r->hint_key, &r->fwd_value };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]->cap > COORD_REQ_KEEP_BYTES)
            kv_buf_free(bufs[i]);
    for (uint32_t i = 0; i < QUORUM_TARGETS_MAX; i++)
        if (r->t[i].obj.cap > COORD_REQ_KEEP_BYTES)
            kv_buf_free(&r->t[i].obj);
}

void coord_reqs_free(struct coord *c)
{
    for (uint32_t i = 0; c->slots && i < c->used; i++) {
        struct coord_req *r = c->slots[i];
        if (!r)
            continue;
        kv_buf_free(&r->key);
        kv_buf_free(&r->ctx);
        kv_buf_free(&r->hint_key);
        kv_buf_free(&r->fwd_value);
        for (uint32_t k = 0; k < QUORUM_TARGETS_MAX; k++)
            kv_buf_free(&r->t[k].obj);
        free(r);
    }
    free(c->slots);
    free(c->free_slots);
    free(c->gens);
    free(c->view.plist);
    free(c->view.filled);
    free(c->fwd_seen[0]);
    free(c->fwd_seen[1]);
}

struct coord_req *coord_req_new(struct coord *c, enum coord_req_kind kind, uint64_t now, uint32_t timeout_ms)
{
    uint32_t slot;
    if (c->nfree > 0) {
        slot = c->free_slots[--c->nfree];
    } else if (c->used < c->nslots) {
        struct coord_req *r = calloc(1, sizeof *r);
        if (!r)
            return NULL;
        slot = c->used++;
        c->slots[slot] = r;
    } else {
        return NULL;
    }
    struct coord_req *r = c->slots[slot];
    c->gens[slot] = (uint32_t)((c->gens[slot] + 1) & GEN_MASK);
    r->id = (uint64_t)c->tag << 48 | (uint64_t)c->gens[slot] << SLOT_BITS | slot;
    r->kind = kind;
    r->deadline_ms = now + (timeout_ms ? timeout_ms : KV_REQUEST_TIMEOUT_MS_DEFAULT);
    if (r->deadline_ms < c->next_deadline_ms)
        c->next_deadline_ms = r->deadline_ms;
    c->stats.requests_in_flight++;
    return r;
}

struct coord_req *coord_req_find(struct coord *c, uint64_t id)
{
    uint32_t slot = (uint32_t)(id & ((1u << SLOT_BITS) - 1));
    if (id == 0 || slot >= c->used)
        return NULL;
    struct coord_req *r = c->slots[slot];
    return r->kind != REQ_FREE && r->id == id ? r : NULL;
}

void coord_req_release(struct coord *c, struct coord_req *r)
{
    uint32_t slot = (uint32_t)(r->id & ((1u << SLOT_BITS) - 1));
    req_trim(r);
    kv_buf_reset(&r->key);
    kv_buf_reset(&r->ctx);
    kv_buf_reset(&r->hint_key);
    kv_buf_reset(&r->fwd_value);
    for (uint32_t i = 0; i < r->ntargets; i++)
        kv_buf_reset(&r->t[i].obj);
    memset(r, 0, COORD_REQ_RESET_BYTES); /* id 0, kind REQ_FREE */
    c->free_slots[c->nfree++] = slot;
    c->stats.requests_in_flight--;
}

/* Makes target i of r a remote node with no reply yet. */
void coord_req_target_init(struct coord_req *r, uint32_t i, struct kv_slice node)
{
    struct coord_target *t = &r->t[i];
    memcpy(t->node, node.data, node.len);
    t->node[node.len] = 0;
    t->hint_for[0] = 0;
    t->state = TARGET_PENDING;
    t->local = false;
    t->found = false;
    kv_buf_reset(&t->obj);
}

struct coord_target *coord_req_target(struct coord_req *r, const char *from)
{
    for (uint32_t i = 0; i < r->ntargets; i++)
        if (r->t[i].state == TARGET_PENDING && !r->t[i].local && strcmp(r->t[i].node, from) == 0)
            return &r->t[i];
    return NULL;
}

void coord_reqs_expire(struct coord *c, uint64_t now)
{
    if (now < c->next_deadline_ms)
        return;
    /* Requests that callbacks below start lower it themselves. */
    c->next_deadline_ms = UINT64_MAX;
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < c->used; i++) {
        struct coord_req *r = c->slots[i];
        if (r->kind == REQ_FREE)
            continue;
        if (r->deadline_ms > now) {
            next = r->deadline_ms < next ? r->deadline_ms : next;
            continue;
        }
        for (uint32_t t = 0; t < r->ntargets; t++)
            c->stats.replica_timeouts += r->t[t].state == TARGET_PENDING && !r->t[t].local;
        /* Each handler ends the request (callbacks may start others, in
         * slots this walk may or may not visit: their deadlines are later). */
        switch (r->kind) {
        case REQ_READ:
            coord_read_deadline(c, r);
            break;
        case REQ_WRITE:
        case REQ_FORWARD:
            coord_write_deadline(c, r);
            break;
        case REQ_HINT:
            coord_hint_deadline(c, r);
            break;
        case REQ_FREE:
            break;
        }
    }
    if (next < c->next_deadline_ms)
        c->next_deadline_ms = next;
}

uint64_t coord_reqs_next_ms(const struct coord *c)
{
    return c->stats.requests_in_flight ? c->next_deadline_ms : UINT64_MAX;
}

/* ---- forward dedup ---- */

static bool seen_has(const uint64_t *set, uint32_t cap, uint64_t k)
{
    for (uint32_t i = (uint32_t)k & (cap - 1); set && set[i]; i = (i + 1) & (cap - 1))
        if (set[i] == k)
            return true;
    return false;
}

/* Adds k to generation g, doubling its table at half load. */
static int seen_add(struct coord *c, int g, uint64_t k)
{
    if (2 * (c->fwd_n[g] + 1) > c->fwd_cap[g]) {
        uint32_t cap = c->fwd_cap[g] ? 2 * c->fwd_cap[g] : 1024;
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return KV_ENOMEM;
        for (uint32_t i = 0; i < c->fwd_cap[g]; i++) {
            uint64_t v = c->fwd_seen[g][i];
            uint32_t j = (uint32_t)v & (cap - 1);
            while (v && t[j])
                j = (j + 1) & (cap - 1);
            if (v)
                t[j] = v;
        }
        free(c->fwd_seen[g]);
        c->fwd_seen[g] = t;
        c->fwd_cap[g] = cap;
    }
    uint32_t j = (uint32_t)k & (c->fwd_cap[g] - 1);
    while (c->fwd_seen[g][j])
        j = (j + 1) & (c->fwd_cap[g] - 1);
    c->fwd_seen[g][j] = k;
    c->fwd_n[g]++;
    return KV_OK;
}

bool coord_forward_seen(struct coord *c, const char *from, uint64_t req_id)
{
    uint64_t v[2] = { kv_hash64(from, strlen(from), 0), req_id };
    uint64_t k = kv_hash64(v, sizeof v, 0) | 1; /* 0 marks an empty slot */
    if (c->now_ms >= c->fwd_rotate_ms || c->fwd_n[0] >= COORD_FORWARD_DEDUP_IDS_MAX) {
        /* The current generation becomes the previous one; the oldest is dropped. */
        uint64_t *old = c->fwd_seen[1];
        c->fwd_seen[1] = c->fwd_seen[0], c->fwd_cap[1] = c->fwd_cap[0], c->fwd_n[1] = c->fwd_n[0];
        free(old);
        c->fwd_seen[0] = NULL, c->fwd_cap[0] = 0, c->fwd_n[0] = 0;
        c->fwd_rotate_ms = c->now_ms + COORD_FORWARD_DEDUP_MS;
    }
    if (seen_has(c->fwd_seen[0], c->fwd_cap[0], k) || seen_has(c->fwd_seen[1], c->fwd_cap[1], k))
        return true;
    if (seen_add(c, 0, k) != KV_OK)
        log_warn("coord", "no memory for the forward dedup set: a duplicate of this forward would be applied");
    return false;
}

/* ---- ring view ---- */

static int view_refresh(struct coord *c, const struct ring *ring)
{
    struct coord_view *v = &c->view;
    if (v->ring == ring && v->version == ring_version(ring))
        return KV_OK;
    uint32_t q = ring_partitions(ring), members = ring_member_count(ring);
    uint32_t len = members < COORD_PLAN_NODES_MAX ? members : COORD_PLAN_NODES_MAX;
    if (q != v->q || len != v->len) {
        free(v->plist);
        free(v->filled);
        v->plist = malloc((size_t)q * len * sizeof *v->plist);
        v->filled = malloc(q);
        if (!v->plist || !v->filled) {
            free(v->plist);
            free(v->filled);
            memset(v, 0, sizeof *v);
            return KV_ENOMEM;
        }
        v->q = q;
        v->len = len;
    }
    memset(v->filled, 0, q);
    v->ring = ring;
    v->version = ring_version(ring);
    v->n = ring_n_val(ring);
    if (ring_member_find(ring, c->node_id, &v->self) != KV_OK)
        v->self = RING_NO_MEMBER;
    return KV_OK;
}

const char *coord_route_node(const struct coord_route *rt, uint32_t pref)
{
    return ring_member_id(rt->ring, rt->pref[pref]);
}

int coord_route(struct coord *c, struct kv_slice key, bool primary_only, struct coord_route *out)
{
    const struct ring *ring = c->cops.ring(c->cops.ctx);
    if (!ring)
        return KV_EUNAVAIL;
    if (ring_partitions(ring) != c->ks.partitions) {
        log_error("coord", "ring partitions differ from config ring=%" PRIu32 " config=%" PRIu32,
                  ring_partitions(ring), c->ks.partitions);
        return KV_ESTATE;
    }
    int rc = view_refresh(c, ring);
    if (rc != KV_OK)
        return rc;
    struct coord_view *v = &c->view;
    uint32_t p = keyspace_partition(&c->ks, key);
    uint32_t *row = v->plist + (size_t)p * v->len;
    if (!v->filled[p]) {
        (void)ring_preference_list(ring, p, row, v->len);
        v->filled[p] = 1;
    }
    memset(out, 0, sizeof *out);
    out->ring = ring;
    out->partition = p;
    out->len = v->len;
    out->pref = row;
    out->n = v->n;
    out->primaries = v->n < v->len ? v->n : v->len;
    out->self = QUORUM_NONE;
    /* Liveness is asked for the primaries, and for the fallbacks only when
     * a primary is down and fallbacks may stand in (a call per node costs). */
    bool alive[COORD_PLAN_NODES_MAX], all_up = true;
    uint32_t asked = out->primaries;
    for (uint32_t i = 0; i < v->len; i++) {
        if (i == asked && (all_up || primary_only))
            break;
        if (row[i] == v->self)
            out->self = i;
        alive[i] = row[i] == v->self || c->cops.alive(c->cops.ctx, ring_member_id(ring, row[i]));
        all_up &= alive[i];
    }
    uint32_t len = all_up || primary_only ? asked : v->len;
    quorum_plan(alive, len, out->primaries, out->self, primary_only, &out->plan);
    return KV_OK;
}

/* Copies a node id, cut to size - 1 bytes. Not snprintf: that was 5% of a
 * coordinator's instructions per request (three ids per request). */
static void copy_node_id(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

void coord_req_set_targets(struct coord_req *r, const struct coord_route *rt)
{
    r->ntargets = rt->plan.n;
    for (uint32_t i = 0; i < rt->plan.n; i++) {
        struct coord_target *t = &r->t[i];
        const struct quorum_target *q = &rt->plan.t[i];
        copy_node_id(t->node, sizeof t->node, coord_route_node(rt, q->pref));
        if (q->hint_for == QUORUM_NONE)
            t->hint_for[0] = 0;
        else
            copy_node_id(t->hint_for, sizeof t->hint_for, coord_route_node(rt, q->hint_for));
        t->state = TARGET_PENDING;
        t->local = q->pref == rt->self;
        t->found = false;
        kv_buf_reset(&t->obj);
    }
    r->tally = (struct quorum_tally){ 0, rt->plan.n, 0, 0 };
}

static bool wants_answer(enum coord_msg_type t)
{
    return t == COORD_MSG_REPLICA_GET || t == COORD_MSG_REPLICA_PUT || t == COORD_MSG_FORWARD ||
           t == COORD_MSG_HINT;
}

int coord_try_send(struct coord *c, const char *node, const struct coord_msg *m)
{
    int rc = c->net.send(c->net.ctx, node, m);
    if (rc == 0 && wants_answer(m->type))
        peer_watch_asked(&c->watch, node, c->now_ms);
    return rc;
}

void coord_send(struct coord *c, const char *node, const struct coord_msg *m)
{
    /* A refused send is a lost message: the request's deadline covers it. */
    (void)coord_try_send(c, node, m);
}
