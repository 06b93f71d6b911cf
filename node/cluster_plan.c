/*
 * cluster_plan.c - ring changes: the operator's staged changes, plans and
 * commits, and the auto-join claimant (rules in cluster.h).
 *
 * Both paths end the same way: a member set (ids and zones) is laid out
 * by ring_claim against the newest ring known here (or by ring_create when
 * there is none yet), committed with ring_commit (new owners become
 * pending transfers), saved and installed (nc_install); gossip spreads it.
 * Cost: one claim is O(Q^2 * N) worst case, milliseconds at Q = 256, and
 * runs only on operator commands and on membership changes.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/cluster_internal.h"
#include "node/state_file.h"

/* A member set under construction; ids and zones point into the ring,
 * the membership table or the staged list, all stable during one call. */
struct member_set {
    struct ring_member_spec *specs;
    size_t n, cap;
};

static int set_add(struct member_set *s, const char *id, const char *zone)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->specs[i].id, id) == 0)
            return KV_OK;
    if (s->n == s->cap) {
        if (s->cap == RING_MEMBERS_MAX)
            return KV_ETOOBIG;
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct ring_member_spec *p = realloc(s->specs, cap * sizeof *p);
        if (!p)
            return KV_ENOMEM;
        s->specs = p;
        s->cap = cap;
    }
    s->specs[s->n].id = id;
    s->specs[s->n].zone = zone;
    s->n++;
    return KV_OK;
}

static void set_drop(struct member_set *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->specs[i].id, id) == 0) {
            s->specs[i] = s->specs[--s->n];
            return;
        }
    }
}

/* Members of r that keep partitions after its transfers (left and removed ones do not). */
static int set_from_ring(struct member_set *s, const struct ring *r)
{
    int rc = KV_OK;
    for (uint32_t i = 0; r && rc == KV_OK && i < ring_member_count(r); i++)
        if (ring_member_in_set(r, i))
            rc = set_add(s, ring_member_id(r, i), ring_member_zone(r, i));
    return rc;
}

static const char *member_zone(const struct node_cluster *c, const char *id)
{
    struct membership_member mm;
    return membership_member_find(c->m, id, &mm) == KV_OK ? mm.zone : "";
}

/* Lays out the member set from cur (or from scratch without one) and
 * commits it: *next is the ring to install, *plan what it changes. */
static int claim_and_commit(const struct node_cluster *c, const struct ring *cur, const struct member_set *s,
                            struct ring **next, struct ring_plan **plan)
{
    struct ring *target = NULL;
    int rc = cur ? ring_claim(cur, s->specs, s->n, &target)
                 : ring_create(c->partitions, c->n_val, s->specs, s->n, &target);
    if (rc != KV_OK)
        return rc;
    if (!cur) {
        /* A first ring moves nothing: every partition starts with its owner. */
        struct ring_plan *p = calloc(1, sizeof *p);
        uint32_t n = ring_member_count(target);
        if (p && (p->nodes = calloc(n, sizeof *p->nodes)) != NULL) {
            p->to_version = ring_version(target);
            p->n_nodes = n;
            for (uint32_t i = 0; i < n; i++) {
                strcpy(p->nodes[i].id, ring_member_id(target, i));
                p->nodes[i].after = ring_owned_count(target, i);
            }
            *plan = p;
            *next = target;
            return KV_OK;
        }
        ring_plan_free(p);
        ring_free(target);
        return KV_ENOMEM;
    }
    rc = ring_plan(cur, target, plan);
    if (rc == KV_OK && (rc = ring_commit(cur, target, next)) != KV_OK) {
        ring_plan_free(*plan);
        *plan = NULL;
    }
    ring_free(target);
    return rc;
}

/* ---- the auto-join claimant ---- */

static bool is_live(enum gossip_state s)
{
    return s == GOSSIP_ALIVE || s == GOSSIP_SUSPECT || s == GOSSIP_LEAVING;
}

/* The lowest id among members alive or suspect is the claimant. */
static bool is_claimant(const struct node_cluster *c)
{
    struct membership_member self;
    membership_member_at(c->m, 0, &self);
    if (self.state != GOSSIP_ALIVE)
        return false;
    for (size_t i = 1; i < membership_member_count(c->m); i++) {
        struct membership_member mm;
        membership_member_at(c->m, i, &mm);
        if ((mm.state == GOSSIP_ALIVE || mm.state == GOSSIP_SUSPECT) && strcmp(mm.id, c->id) < 0)
            return false;
    }
    return true;
}

/* Alive members the ring does not name yet; *total counts live members. */
static int newcomers(const struct node_cluster *c, const struct ring *r, struct member_set *s, size_t *live)
{
    int rc = KV_OK;
    *live = 0;
    for (size_t i = 0; rc == KV_OK && i < membership_member_count(c->m); i++) {
        struct membership_member mm;
        uint32_t idx;
        membership_member_at(c->m, i, &mm);
        *live += is_live(mm.state);
        if (mm.state == GOSSIP_ALIVE && (!r || ring_member_find(r, mm.id, &idx) != KV_OK))
            rc = set_add(s, mm.id, mm.zone);
    }
    return rc;
}

/* Whether a ring-less claimant may create the cluster's first ring now. */
static bool may_create_first_ring(struct node_cluster *c, size_t live)
{
    bool has_other_seeds = c->n_config_seeds > 0;
    if (has_other_seeds && live <= 1) {
        if (!c->waiting_logged)
            log_info("cluster", "waiting for a seed to answer before creating a ring seeds=%zu",
                     c->n_config_seeds);
        c->waiting_logged = true;
        return false;
    }
    for (size_t i = 1; i < membership_member_count(c->m); i++) {
        struct membership_member mm;
        membership_member_at(c->m, i, &mm);
        if (mm.ring_version > 0)
            return false; /* someone has one: it will reach us */
    }
    return true;
}

static void claim_commit(struct node_cluster *c, const struct ring *r, struct member_set *add,
                         uint64_t now_ms)
{
    struct member_set s = { 0 };
    struct ring *next = NULL;
    struct ring_plan *plan = NULL;
    int rc = set_from_ring(&s, r);
    for (size_t i = 0; rc == KV_OK && i < add->n; i++)
        rc = set_add(&s, add->specs[i].id, add->specs[i].zone);
    if (rc == KV_OK)
        rc = claim_and_commit(c, r, &s, &next, &plan);
    if (rc == KV_OK)
        rc = nc_install(c, next, now_ms);
    if (rc == KV_OK) {
        c->stats.claims++;
        log_info("cluster", "auto-join: ring committed version=%llu added=%zu first=%s members=%u moves=%zu",
                 (unsigned long long)ring_version(next), add->n, add->specs[0].id, ring_member_count(next),
                 plan->n_moves);
    } else {
        log_warn("cluster", "auto-join: cannot commit a ring status=\"%s\"", kv_status_str(rc));
    }
    ring_plan_free(plan);
    ring_free(next);
    free(s.specs);
}

void nc_claim_tick(struct node_cluster *c, uint64_t now_ms)
{
    if (!c->auto_join || now_ms < c->next_claim_ms)
        return;
    c->next_claim_ms = now_ms + NODE_CLUSTER_CLAIM_CHECK_MS;
    if (!c->joined || now_ms - c->last_change_ms < c->settle_ms || !is_claimant(c) || nc_newer_ring_around(c))
        return;
    const struct ring *r = membership_ring(c->m);
    struct member_set add = { 0 };
    size_t live = 0;
    int rc = newcomers(c, r, &add, &live);
    if (rc == KV_OK && add.n > 0 && (r || may_create_first_ring(c, live)))
        claim_commit(c, r, &add, now_ms);
    free(add.specs);
}

/* ---- staged changes ---- */

static void stage(struct node_cluster *c, enum node_cluster_change kind, const char *id)
{
    size_t i = 0;
    while (i < c->n_staged && strcmp(c->staged[i].id, id) != 0)
        i++;
    if (i == c->n_staged) {
        if (c->n_staged == NODE_CLUSTER_STAGED_MAX)
            return; /* callers check room first */
        c->n_staged++;
    }
    c->staged[i].kind = kind;
    strcpy(c->staged[i].id, id);
}

static bool has_room(const struct node_cluster *c, const char *id)
{
    for (size_t i = 0; i < c->n_staged; i++)
        if (strcmp(c->staged[i].id, id) == 0)
            return true;
    return c->n_staged < NODE_CLUSTER_STAGED_MAX;
}

/* HOST:PORT with a numeric port 1..65535 and no spaces. */
static bool addr_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    size_t n = strlen(s);
    if (!colon || colon == s || n > GOSSIP_ADDR_BYTES_MAX || strchr(s, ' '))
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return colon[1] && *end == 0 && port >= 1 && port <= 65535;
}

int node_cluster_join(struct node_cluster *c, const char *seed, uint64_t now_ms, struct kv_buf *why)
{
    c->now_ms = now_ms;
    if (!addr_ok(seed))
        return nc_fail(why, KV_EINVAL, "expected the seed as HOST:PORT, got '%s'", seed);
    if (strcmp(seed, c->advertise) == 0)
        return nc_fail(why, KV_EINVAL, "%s is this node's own address", seed);
    const struct ring *r = membership_ring(c->m);
    if (r && (ring_member_count(r) > 1 || strcmp(ring_member_id(r, 0), c->id) != 0))
        return nc_fail(why, KV_ESTATE,
                       "this node is already in a cluster of %u nodes (ring version %llu); leave it first",
                       ring_member_count(r), (unsigned long long)ring_version(r));
    if (!has_room(c, c->id))
        return nc_fail(why, KV_ESTATE, "too many staged changes (%u); commit or clear them",
                       NODE_CLUSTER_STAGED_MAX);
    int rc = KV_OK;
    if (r) {
        /* A ring of this node alone: the cluster's ring replaces it. */
        log_info("cluster", "dropping this node's own ring to join seed=%s", seed);
        rc = nc_membership_reset(c, now_ms);
        if (rc == KV_OK && c->state_dir[0])
            rc = state_file_remove(c->state_dir, NODE_CLUSTER_RING_FILE);
    }
    const char *seeds[1] = { seed };
    if (rc == KV_OK)
        rc = membership_join(c->m, seeds, 1, now_ms);
    if (rc != KV_OK)
        return nc_fail(why, rc, "cannot join through %s: %s", seed, kv_status_str(rc));
    c->joined = true;
    c->last_change_ms = now_ms;
    stage(c, NODE_CLUSTER_JOIN, c->id);
    log_info("cluster", "joining through seed=%s (join staged)", seed);
    return KV_OK;
}

int node_cluster_stage_leave(struct node_cluster *c, struct kv_buf *why)
{
    const struct ring *r = membership_ring(c->m);
    uint32_t idx;
    if (!r || ring_member_find(r, c->id, &idx) != KV_OK || !ring_member_in_set(r, idx))
        return nc_fail(why, KV_ESTATE, "%s is not a member of the ring; nothing to leave", c->id);
    if (!has_room(c, c->id))
        return nc_fail(why, KV_ESTATE, "too many staged changes; commit or clear them");
    stage(c, NODE_CLUSTER_LEAVE, c->id);
    return KV_OK;
}

int node_cluster_stage_remove(struct node_cluster *c, const char *id, struct kv_buf *why)
{
    if (strcmp(id, c->id) == 0)
        return nc_fail(why, KV_EINVAL, "%s is this node: use kvctl leave", id);
    const struct ring *r = membership_ring(c->m);
    uint32_t idx;
    if (!r || ring_member_find(r, id, &idx) != KV_OK || !ring_member_in_set(r, idx))
        return nc_fail(why, KV_ESTATE, "%s is not a member of the ring", id);
    struct membership_member mm;
    if (membership_member_find(c->m, id, &mm) == KV_OK && is_live(mm.state))
        return nc_fail(why, KV_ESTATE, "%s is %s: only a node that is down can be removed (a running node "
                       "leaves with kvctl leave on it)", id, gossip_state_str(mm.state));
    if (!has_room(c, id))
        return nc_fail(why, KV_ESTATE, "too many staged changes; commit or clear them");
    stage(c, NODE_CLUSTER_REMOVE, id);
    return KV_OK;
}

/* ---- plan and commit ---- */

static int staged_set(const struct node_cluster *c, const struct ring *r, struct member_set *s,
                      struct kv_buf *why)
{
    int rc = r ? set_from_ring(s, r) : set_add(s, c->id, c->zone); /* ring-less: this node starts one */
    for (size_t i = 0; rc == KV_OK && i < c->n_staged; i++) {
        const struct node_cluster_staged *st = &c->staged[i];
        if (st->kind == NODE_CLUSTER_JOIN)
            rc = set_add(s, st->id, strcmp(st->id, c->id) == 0 ? c->zone : member_zone(c, st->id));
        else
            set_drop(s, st->id);
    }
    if (rc == KV_OK && s->n == 0)
        return nc_fail(why, KV_ESTATE, "the ring would have no members: the last node cannot leave");
    return rc == KV_OK ? KV_OK : nc_fail(why, rc, "cannot build the member set: %s", kv_status_str(rc));
}

/* The plan and next ring of the staged changes, from the ring known now. */
static int build(struct node_cluster *c, struct ring **next, struct ring_plan **plan, struct kv_buf *why)
{
    const struct ring *r = membership_ring(c->m);
    if (r && c->n_staged == 0)
        return nc_fail(why, KV_ESTATE, "no changes staged (kvctl join, leave or remove stage them)");
    if (nc_newer_ring_around(c))
        return nc_fail(why, KV_ESTATE, "a newer ring is on its way to this node; retry in a moment");
    struct member_set s = { 0 };
    int rc = staged_set(c, r, &s, why);
    if (rc == KV_OK && (rc = claim_and_commit(c, r, &s, next, plan)) != KV_OK)
        nc_fail(why, rc, "cannot lay out the ring: %s", kv_status_str(rc));
    free(s.specs);
    return rc;
}

int node_cluster_plan(struct node_cluster *c, struct ring_plan **out, struct kv_buf *why)
{
    struct ring *next = NULL;
    int rc = build(c, &next, out, why);
    ring_free(next);
    return rc;
}

/* True if next names the same member set as cur: then a plan without moves changes nothing. */
static bool same_members(const struct ring *cur, const struct ring *next)
{
    for (uint32_t i = 0; i < ring_member_count(next); i++) {
        uint32_t j;
        if (ring_member_in_set(next, i) &&
            (ring_member_find(cur, ring_member_id(next, i), &j) != KV_OK || !ring_member_in_set(cur, j)))
            return false;
        if (!ring_member_in_set(next, i) && ring_member_find(cur, ring_member_id(next, i), &j) == KV_OK &&
            ring_member_in_set(cur, j))
            return false;
    }
    return true;
}

int node_cluster_commit(struct node_cluster *c, uint64_t now_ms, struct ring_plan **out, struct kv_buf *why)
{
    c->now_ms = now_ms;
    struct ring *next = NULL;
    struct ring_plan *plan = NULL;
    const struct ring *cur = membership_ring(c->m);
    int rc = build(c, &next, &plan, why);
    if (rc == KV_OK && cur && plan->n_moves == 0 && same_members(cur, next)) {
        c->n_staged = 0;
        rc = nc_fail(why, KV_ESTATE, "the staged changes change nothing in ring version %llu; cleared",
                     (unsigned long long)ring_version(cur));
    }
    bool leaving = false;
    for (size_t i = 0; rc == KV_OK && i < c->n_staged; i++)
        leaving |= c->staged[i].kind == NODE_CLUSTER_LEAVE && strcmp(c->staged[i].id, c->id) == 0;
    if (rc == KV_OK && (rc = nc_install(c, next, now_ms)) != KV_OK)
        nc_fail(why, rc, "cannot install the ring: %s", kv_status_str(rc));
    if (rc == KV_OK) {
        log_info("cluster", "ring committed version=%llu changes=%zu moves=%zu", (unsigned long long)ring_version(next),
                 c->n_staged, plan->n_moves);
        c->n_staged = 0;
        c->stats.commits++;
        if (leaving)
            membership_set_leaving(c->m, now_ms);
    }
    ring_free(next);
    if (rc == KV_OK && out)
        *out = plan;
    else
        ring_plan_free(plan);
    return rc;
}
