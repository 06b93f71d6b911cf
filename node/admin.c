/* admin.c - see admin.h. The reply points into node_cluster's state and
 * into a few arrays allocated here; it is packed before anything changes
 * and the arrays are freed right after. */
#include "node/admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "coordinator/coord.h"
#include "node/cluster.h"
#include "node/admin_local.h"

#define ADMIN_MESSAGE_BYTES_MAX 512

struct admin_out {
    Ringkv__AdminReply reply;
    struct membership_member *mm;
    Ringkv__MemberInfo *members;
    Ringkv__MemberInfo **member_ptrs;
    Ringkv__RingSummary ring;
    Ringkv__RingShare *shares;
    Ringkv__RingShare **share_ptrs;
    Ringkv__RingTransfer *transfers;      /* RING: partitions in transfer */
    Ringkv__RingTransfer **transfer_ptrs;
    Ringkv__RingPlan plan;
    struct node_cluster_staged *staged;
    Ringkv__StagedChange *changes;
    Ringkv__StagedChange **change_ptrs;
    Ringkv__PartitionMove *moves;
    Ringkv__PartitionMove **move_ptrs;
    Ringkv__RingShare *plan_nodes;
    Ringkv__RingShare **plan_node_ptrs;
    Ringkv__RingMap ring_map;
    Ringkv__RingMapMember *map_members;
    Ringkv__RingMapMember **map_member_ptrs;
    struct membership_member *map_mm;
    uint32_t *preference;
    Ringkv__HintReport hints;
    struct coord_hint_target *hint_targets;
    Ringkv__HintTarget *hint_msgs;
    Ringkv__HintTarget **hint_ptrs;
    Ringkv__LocalObject *local;  /* LOCAL_GET (node/admin_local.h): freed whole */
    char message[ADMIN_MESSAGE_BYTES_MAX];
};

static void out_free(struct admin_out *o)
{
    if (o->local)
        ringkv__local_object__free_unpacked(o->local, NULL);
    free(o->mm);
    free(o->members);
    free(o->member_ptrs);
    free(o->shares);
    free(o->share_ptrs);
    free(o->transfers);
    free(o->transfer_ptrs);
    free(o->staged);
    free(o->changes);
    free(o->change_ptrs);
    free(o->moves);
    free(o->move_ptrs);
    free(o->plan_nodes);
    free(o->plan_node_ptrs);
    free(o->map_members);
    free(o->map_member_ptrs);
    free(o->map_mm);
    free(o->preference);
    free(o->hint_targets);
    free(o->hint_msgs);
    free(o->hint_ptrs);
}

/* n zeroed elements of size sz (at least one, so n = 0 is not a failure). */
static void *alloc_n(size_t n, size_t sz) { return calloc(n ? n : 1, sz); }

static Ringkv__MemberState member_state(enum gossip_state s)
{
    switch (s) {
    case GOSSIP_ALIVE: return RINGKV__MEMBER_STATE__MEMBER_STATE_ALIVE;
    case GOSSIP_SUSPECT: return RINGKV__MEMBER_STATE__MEMBER_STATE_SUSPECT;
    case GOSSIP_DEAD: return RINGKV__MEMBER_STATE__MEMBER_STATE_DEAD;
    case GOSSIP_LEAVING: return RINGKV__MEMBER_STATE__MEMBER_STATE_LEAVING;
    case GOSSIP_LEFT: return RINGKV__MEMBER_STATE__MEMBER_STATE_LEFT;
    }
    return RINGKV__MEMBER_STATE__MEMBER_STATE_UNSPECIFIED;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct membership_member *)a)->id, ((const struct membership_member *)b)->id);
}

/* ---- members ---- */

static int fill_members(struct admin_out *o, const struct node_cluster *c)
{
    const struct membership *m = node_cluster_membership(c);
    const struct ring *r = node_cluster_ring(c);
    size_t n = membership_member_count(m);
    o->mm = alloc_n(n, sizeof *o->mm);
    o->members = alloc_n(n, sizeof *o->members);
    o->member_ptrs = alloc_n(n, sizeof *o->member_ptrs);
    if (!o->mm || !o->members || !o->member_ptrs)
        return KV_ENOMEM;
    for (size_t i = 0; i < n; i++)
        membership_member_at(m, i, &o->mm[i]);
    qsort(o->mm + 1, n - 1, sizeof *o->mm, by_id); /* this node stays first */
    for (size_t i = 0; i < n; i++) {
        Ringkv__MemberInfo *mi = &o->members[i];
        const struct membership_member *mm = &o->mm[i];
        ringkv__member_info__init(mi);
        mi->id = (char *)mm->id;
        mi->addr = (char *)mm->addr;
        mi->zone = (char *)mm->zone;
        mi->state = member_state(mm->state);
        mi->incarnation = mm->incarnation;
        mi->ring_version = mm->ring_version;
        uint32_t idx;
        if (r && ring_member_find(r, mm->id, &idx) == KV_OK)
            mi->partitions = ring_owned_count(r, idx);
        o->member_ptrs[i] = mi;
    }
    o->reply.members = o->member_ptrs;
    o->reply.n_members = n;
    return KV_OK;
}

/* ---- ring ---- */

/* AdminReply.ring_transfers: every partition with a pending new owner. */
static int fill_ring_transfers(struct admin_out *o, const struct ring *r)
{
    uint32_t n = ring_pending_count(r), k = 0;
    o->transfers = alloc_n(n, sizeof *o->transfers);
    o->transfer_ptrs = alloc_n(n, sizeof *o->transfer_ptrs);
    if (!o->transfers || !o->transfer_ptrs)
        return KV_ENOMEM;
    for (uint32_t p = 0; p < ring_partitions(r) && k < n; p++) {
        uint32_t to = ring_pending(r, p);
        if (to == RING_NO_MEMBER)
            continue;
        Ringkv__RingTransfer *t = &o->transfers[k];
        ringkv__ring_transfer__init(t);
        t->partition = p;
        t->from = (char *)ring_member_id(r, ring_owner(r, p));
        t->to = (char *)ring_member_id(r, to);
        o->transfer_ptrs[k++] = t;
    }
    o->reply.ring_transfers = o->transfer_ptrs;
    o->reply.n_ring_transfers = k;
    return KV_OK;
}

static int fill_ring(struct admin_out *o, const struct ring *r)
{
    ringkv__ring_summary__init(&o->ring);
    o->reply.ring = &o->ring;
    if (!r)
        return KV_OK;
    uint32_t n = ring_member_count(r), q = ring_partitions(r);
    o->shares = alloc_n(n, sizeof *o->shares);
    o->share_ptrs = alloc_n(n, sizeof *o->share_ptrs);
    if (!o->shares || !o->share_ptrs)
        return KV_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        Ringkv__RingShare *s = &o->shares[i];
        ringkv__ring_share__init(s);
        s->id = (char *)ring_member_id(r, i);
        s->zone = (char *)ring_member_zone(r, i);
        s->owned = ring_owned_count(r, i);
        s->owned_after = ring_next_owned_count(r, i);
        o->share_ptrs[i] = s;
    }
    for (uint32_t p = 0; p < q; p++) {
        uint32_t to = ring_pending(r, p);
        if (to != RING_NO_MEMBER) {
            o->shares[to].incoming++;
            o->shares[ring_owner(r, p)].outgoing++;
        }
    }
    o->ring.version = ring_version(r);
    o->ring.partitions = q;
    o->ring.n_val = ring_n_val(r);
    o->ring.in_transfer = ring_pending_count(r);
    o->ring.nodes = o->share_ptrs;
    o->ring.n_nodes = n;
    return fill_ring_transfers(o, r);
}

/* ---- plans ---- */

static Ringkv__ChangeKind change_kind(enum node_cluster_change k)
{
    switch (k) {
    case NODE_CLUSTER_JOIN: return RINGKV__CHANGE_KIND__CHANGE_KIND_JOIN;
    case NODE_CLUSTER_LEAVE: return RINGKV__CHANGE_KIND__CHANGE_KIND_LEAVE;
    case NODE_CLUSTER_REMOVE: return RINGKV__CHANGE_KIND__CHANGE_KIND_REMOVE;
    }
    return RINGKV__CHANGE_KIND__CHANGE_KIND_UNSPECIFIED;
}

/* Copies the staged list: a commit clears it before the reply is built. */
static int snapshot_staged(struct admin_out *o, const struct node_cluster *c, size_t *n)
{
    *n = node_cluster_staged_count(c);
    o->staged = alloc_n(*n, sizeof *o->staged);
    if (!o->staged)
        return KV_ENOMEM;
    for (size_t i = 0; i < *n; i++)
        o->staged[i] = *node_cluster_staged_at(c, i);
    return KV_OK;
}

static int fill_changes(struct admin_out *o, size_t n)
{
    o->changes = alloc_n(n, sizeof *o->changes);
    o->change_ptrs = alloc_n(n, sizeof *o->change_ptrs);
    if (!o->changes || !o->change_ptrs)
        return KV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        ringkv__staged_change__init(&o->changes[i]);
        o->changes[i].kind = change_kind(o->staged[i].kind);
        o->changes[i].node_id = o->staged[i].id;
        o->change_ptrs[i] = &o->changes[i];
    }
    o->plan.changes = o->change_ptrs;
    o->plan.n_changes = n;
    return KV_OK;
}

static int fill_plan(struct admin_out *o, const struct ring_plan *p, size_t n_staged)
{
    ringkv__ring_plan__init(&o->plan);
    o->reply.plan = &o->plan;
    int rc = fill_changes(o, n_staged);
    if (rc != KV_OK || !p)
        return rc;
    o->moves = alloc_n(p->n_moves, sizeof *o->moves);
    o->move_ptrs = alloc_n(p->n_moves, sizeof *o->move_ptrs);
    o->plan_nodes = alloc_n(p->n_nodes, sizeof *o->plan_nodes);
    o->plan_node_ptrs = alloc_n(p->n_nodes, sizeof *o->plan_node_ptrs);
    if (!o->moves || !o->move_ptrs || !o->plan_nodes || !o->plan_node_ptrs)
        return KV_ENOMEM;
    for (size_t i = 0; i < p->n_moves; i++) {
        ringkv__partition_move__init(&o->moves[i]);
        o->moves[i].partition = p->moves[i].partition;
        o->moves[i].from = (char *)p->nodes[p->moves[i].from].id;
        o->moves[i].to = (char *)p->nodes[p->moves[i].to].id;
        o->move_ptrs[i] = &o->moves[i];
    }
    for (size_t i = 0; i < p->n_nodes; i++) {
        ringkv__ring_share__init(&o->plan_nodes[i]);
        o->plan_nodes[i].id = (char *)p->nodes[i].id;
        o->plan_nodes[i].owned = p->nodes[i].before;
        o->plan_nodes[i].owned_after = p->nodes[i].after;
        o->plan_node_ptrs[i] = &o->plan_nodes[i];
    }
    o->plan.from_version = p->from_version;
    o->plan.to_version = p->to_version;
    o->plan.moves = o->move_ptrs;
    o->plan.n_moves = p->n_moves;
    o->plan.nodes = o->plan_node_ptrs;
    o->plan.n_nodes = p->n_nodes;
    return KV_OK;
}

static void say(struct admin_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct admin_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}

/* ---- ring map (the SDK's routing table) ---- */

static bool member_serving(enum gossip_state s) { return s == GOSSIP_ALIVE || s == GOSSIP_SUSPECT; }

/* Members in ring order, with the address and liveness gossip knows. */
static int fill_map_members(struct admin_out *o, const struct node_cluster *c, const struct ring *r)
{
    uint32_t n = ring_member_count(r);
    o->map_members = alloc_n(n, sizeof *o->map_members);
    o->map_member_ptrs = alloc_n(n, sizeof *o->map_member_ptrs);
    o->map_mm = alloc_n(n, sizeof *o->map_mm);
    if (!o->map_members || !o->map_member_ptrs || !o->map_mm)
        return KV_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        Ringkv__RingMapMember *mm = &o->map_members[i];
        ringkv__ring_map_member__init(mm);
        mm->id = (char *)ring_member_id(r, i);
        if (membership_member_find(node_cluster_membership(c), mm->id, &o->map_mm[i]) == KV_OK) {
            mm->addr = (char *)o->map_mm[i].addr;
            mm->alive = member_serving(o->map_mm[i].state);
        }
        o->map_member_ptrs[i] = mm;
    }
    o->ring_map.members = o->map_member_ptrs;
    o->ring_map.n_members = n;
    return KV_OK;
}

static int op_ring_map(struct admin_out *o, const struct node_cluster *c)
{
    const struct ring *r = node_cluster_ring(c);
    ringkv__ring_map__init(&o->ring_map);
    o->reply.ring_map = &o->ring_map;
    if (!r) {
        say(o, "%s has no ring yet", node_cluster_node_id(c));
        return KV_OK;
    }
    uint32_t q = ring_partitions(r), members = ring_member_count(r);
    uint32_t width = ring_n_val(r) < members ? ring_n_val(r) : members;
    int rc = fill_map_members(o, c, r);
    if (rc != KV_OK)
        return rc;
    o->preference = alloc_n((size_t)q * width, sizeof *o->preference);
    if (!o->preference)
        return KV_ENOMEM;
    for (uint32_t p = 0; p < q; p++) /* O(Q * Q): ring_preference_list walks the ring */
        (void)ring_preference_list(r, p, o->preference + (size_t)p * width, width);
    o->ring_map.version = ring_version(r);
    o->ring_map.partitions = q;
    o->ring_map.n_val = ring_n_val(r);
    o->ring_map.width = width;
    o->ring_map.preference = o->preference;
    o->ring_map.n_preference = (size_t)q * width;
    say(o, "ring version %llu as seen by %s", (unsigned long long)ring_version(r), node_cluster_node_id(c));
    return KV_OK;
}

/* ---- hints ---- */

static int op_hints(struct admin_out *o, struct coord *coord, const char *self, struct kv_buf *why)
{
    if (!coord) {
        if (kv_buf_appendf(why, "%s has no coordinator to report hints from", self) != KV_OK)
            kv_buf_reset(why);
        return KV_ESTATE;
    }
    size_t cap = RING_MEMBERS_MAX, n = 0;
    o->hint_targets = alloc_n(cap, sizeof *o->hint_targets);
    if (!o->hint_targets)
        return KV_ENOMEM;
    int rc = coord_hint_report(coord, o->hint_targets, cap, &n);
    if (rc != KV_OK)
        return rc;
    o->hint_msgs = alloc_n(n, sizeof *o->hint_msgs);
    o->hint_ptrs = alloc_n(n, sizeof *o->hint_ptrs);
    if (!o->hint_msgs || !o->hint_ptrs)
        return KV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct coord_hint_target *t = &o->hint_targets[i];
        Ringkv__HintTarget *m = &o->hint_msgs[i];
        ringkv__hint_target__init(m);
        m->node_id = (char *)t->node_id;
        m->held = t->held;
        m->bytes = t->bytes;
        m->oldest_age_ms = t->oldest_age_ms;
        m->delivered = t->delivered;
        m->expired = t->expired;
        m->failed = t->failed;
        o->hint_ptrs[i] = m;
    }
    struct coord_stats cs;
    coord_get_stats(coord, &cs);
    ringkv__hint_report__init(&o->hints);
    o->hints.targets = o->hint_ptrs;
    o->hints.n_targets = n;
    o->hints.hints_stored = cs.hints_stored;
    o->hints.hints_held = cs.hints_pending;
    o->reply.hints = &o->hints;
    say(o, "%llu hint%s held on %s for %zu target%s", (unsigned long long)cs.hints_pending,
        cs.hints_pending == 1 ? "" : "s", self, n, n == 1 ? "" : "s");
    return KV_OK;
}

/* ---- the operations ---- */


static int op_members(struct admin_out *o, struct node_cluster *c)
{
    struct node_cluster_stats st;
    node_cluster_get_stats(c, &st);
    say(o, "%zu members, %u alive, as seen by %s", membership_member_count(node_cluster_membership(c)),
        st.members[GOSSIP_ALIVE], node_cluster_node_id(c));
    return fill_members(o, c);
}

static int op_ring(struct admin_out *o, struct node_cluster *c)
{
    const struct ring *r = node_cluster_ring(c);
    if (r)
        say(o, "ring version %llu as seen by %s", (unsigned long long)ring_version(r), node_cluster_node_id(c));
    else
        say(o, "%s has no ring yet", node_cluster_node_id(c));
    return fill_ring(o, r);
}

static int op_plan(struct admin_out *o, struct node_cluster *c, struct ring_plan **plan, struct kv_buf *why)
{
    size_t n = 0;
    int rc = node_cluster_plan(c, plan, why);
    if (rc == KV_OK)
        rc = snapshot_staged(o, c, &n);
    if (rc == KV_OK)
        rc = fill_plan(o, *plan, n);
    if (rc == KV_OK)
        say(o, "%zu staged change%s: %zu %s; kvctl commit installs ring version %llu", n, n == 1 ? "" : "s",
            (*plan)->n_moves, (*plan)->n_moves == 1 ? "partition moves" : "partitions move",
            (unsigned long long)(*plan)->to_version);
    return rc;
}

static int op_commit(struct admin_out *o, struct node_cluster *c, uint64_t now_ms, struct ring_plan **plan,
                     struct kv_buf *why)
{
    size_t n = 0;
    int rc = snapshot_staged(o, c, &n);
    if (rc == KV_OK)
        rc = node_cluster_commit(c, now_ms, plan, why);
    if (rc == KV_OK)
        rc = fill_plan(o, *plan, n);
    if (rc == KV_OK)
        rc = fill_ring(o, node_cluster_ring(c));
    if (rc == KV_OK)
        say(o, "ring version %llu committed; %u partitions in transfer (data moves with ownership handoff)",
            (unsigned long long)o->ring.version, o->ring.in_transfer);
    return rc;
}

static int op_stage(struct admin_out *o, struct node_cluster *c, const Ringkv__Admin *req, uint64_t now_ms,
                    struct ring_plan **plan, struct kv_buf *why)
{
    const char *id = node_cluster_node_id(c);
    int rc = KV_OK;
    switch (req->op) {
    case RINGKV__ADMIN_OP__ADMIN_OP_JOIN:
        rc = node_cluster_join(c, req->arg, now_ms, why);
        say(o, "%s joins the cluster of %s; staged: join %s (kvctl plan, then kvctl commit on this node; with "
               "auto-join the cluster adds it by itself)", id, req->arg, id);
        break;
    case RINGKV__ADMIN_OP__ADMIN_OP_LEAVE:
        rc = node_cluster_stage_leave(c, why);
        say(o, "staged: %s leaves; run kvctl plan, then kvctl commit on this node", id);
        break;
    case RINGKV__ADMIN_OP__ADMIN_OP_REMOVE:
        rc = node_cluster_stage_remove(c, req->arg, why);
        say(o, "staged: remove %s; run kvctl plan, then kvctl commit on %s", req->arg, id);
        break;
    default:
        say(o, "staged changes cleared (%zu)", node_cluster_staged_count(c));
        node_cluster_clear(c);
        break;
    }
    size_t n = 0;
    if (rc == KV_OK)
        rc = snapshot_staged(o, c, &n);
    if (rc == KV_OK && n > 0 && node_cluster_plan(c, plan, NULL) != KV_OK)
        *plan = NULL; /* not computable yet (the cluster's ring is on its way) */
    if (rc == KV_OK)
        rc = fill_plan(o, *plan, n);
    return rc;
}

void admin_handle(struct node_cluster *c, struct coord *coord, const Ringkv__Admin *req, struct rpc_reply_handle h,
                  uint64_t now_ms)
{
    struct admin_out o;
    memset(&o, 0, sizeof o);
    ringkv__admin_reply__init(&o.reply);
    struct kv_buf why = { 0 };
    struct ring_plan *plan = NULL; /* owns the plan's strings until the reply is sent */
    int rc;
    switch (req->op) {
    case RINGKV__ADMIN_OP__ADMIN_OP_MEMBERS: rc = op_members(&o, c); break;
    case RINGKV__ADMIN_OP__ADMIN_OP_RING: rc = op_ring(&o, c); break;
    case RINGKV__ADMIN_OP__ADMIN_OP_RING_MAP: rc = op_ring_map(&o, c); break;
    case RINGKV__ADMIN_OP__ADMIN_OP_HINTS: rc = op_hints(&o, coord, node_cluster_node_id(c), &why); break;
    case RINGKV__ADMIN_OP__ADMIN_OP_LOCAL_GET:
        rc = admin_local_get(coord, node_cluster_node_id(c), req->arg, &o.local, o.message, sizeof o.message, &why);
        o.reply.local = o.local;
        break;
    case RINGKV__ADMIN_OP__ADMIN_OP_PLAN: rc = op_plan(&o, c, &plan, &why); break;
    case RINGKV__ADMIN_OP__ADMIN_OP_COMMIT: rc = op_commit(&o, c, now_ms, &plan, &why); break;
    case RINGKV__ADMIN_OP__ADMIN_OP_JOIN:
    case RINGKV__ADMIN_OP__ADMIN_OP_LEAVE:
    case RINGKV__ADMIN_OP__ADMIN_OP_REMOVE:
    case RINGKV__ADMIN_OP__ADMIN_OP_CLEAR: rc = op_stage(&o, c, req, now_ms, &plan, &why); break;
    default:
        rc = KV_EINVAL;
        if (kv_buf_appendf(&why, "unknown admin operation %d", (int)req->op) != KV_OK)
            kv_buf_reset(&why);
        break;
    }
    o.reply.node_id = (char *)node_cluster_node_id(c);
    o.reply.message = o.message;
    admin_reply_send(h, rc, &o.reply, why.len ? why.data : kv_status_str(rc), "admin");
    ring_plan_free(plan);
    kv_buf_free(&why);
    out_free(&o);
}

void admin_reply_send(struct rpc_reply_handle h, int rc, Ringkv__AdminReply *reply, const char *error,
                      const char *log_tag)
{
    int sent;
    if (rc == KV_OK) {
        Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
        env.body_case = RINGKV__ENVELOPE__BODY_ADMIN_REPLY;
        env.admin_reply = reply;
        sent = rpc_reply_send(h, &env);
    } else {
        sent = rpc_reply_error(h, rc, error);
    }
    if (sent != KV_OK && sent != KV_ECLOSED)
        log_debug(log_tag, "admin reply not sent status=\"%s\"", kv_status_str(sent));
}
