/*
 * admin.c - rkv_admin (ringkv.h): one kv.proto Admin request to the
 * current host. The result keeps the unpacked reply and points its
 * strings into it, so it costs one copy of each array and no string
 * copies; rkv_admin_result_free releases both.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "client/wire.h"
#include "rpc/frame.h"

struct admin_result {
    struct rkv_admin_result pub; /* first: the public pointer is this struct's */
    Ringkv__Envelope *reply;
    struct rkv_member *members;
    struct rkv_ring_share *ring_nodes, *plan_nodes;
    struct rkv_ring_change *changes;
    struct rkv_partition_move *moves;
    struct rkv_hint_target *hints;
    struct rkv_partition_move *ring_moves;
};

static const char *state_name(Ringkv__MemberState s)
{
    switch (s) {
    case RINGKV__MEMBER_STATE__MEMBER_STATE_ALIVE: return "alive";
    case RINGKV__MEMBER_STATE__MEMBER_STATE_SUSPECT: return "suspect";
    case RINGKV__MEMBER_STATE__MEMBER_STATE_DEAD: return "dead";
    case RINGKV__MEMBER_STATE__MEMBER_STATE_LEAVING: return "leaving";
    case RINGKV__MEMBER_STATE__MEMBER_STATE_LEFT: return "left";
    default: return "unknown";
    }
}

static const char *change_name(Ringkv__ChangeKind k)
{
    switch (k) {
    case RINGKV__CHANGE_KIND__CHANGE_KIND_JOIN: return "join";
    case RINGKV__CHANGE_KIND__CHANGE_KIND_LEAVE: return "leave";
    case RINGKV__CHANGE_KIND__CHANGE_KIND_REMOVE: return "remove";
    default: return "unknown";
    }
}

static void *alloc_n(size_t n, size_t sz) { return calloc(n ? n : 1, sz); }

static struct rkv_ring_share *copy_shares(Ringkv__RingShare **in, size_t n)
{
    struct rkv_ring_share *out = alloc_n(n, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        out[i].id = in[i]->id;
        out[i].zone = in[i]->zone;
        out[i].owned = in[i]->owned;
        out[i].owned_after = in[i]->owned_after;
        out[i].incoming = in[i]->incoming;
        out[i].outgoing = in[i]->outgoing;
    }
    return out;
}

static int copy_members(struct admin_result *r, const Ringkv__AdminReply *ar)
{
    r->members = alloc_n(ar->n_members, sizeof *r->members);
    if (!r->members)
        return KV_ENOMEM;
    for (size_t i = 0; i < ar->n_members; i++) {
        const Ringkv__MemberInfo *m = ar->members[i];
        r->members[i] = (struct rkv_member){ m->id, m->addr, m->zone, state_name(m->state), m->incarnation,
                                             m->ring_version, m->partitions };
    }
    r->pub.members = r->members;
    r->pub.nmembers = ar->n_members;
    return KV_OK;
}

static int copy_ring(struct admin_result *r, const Ringkv__RingSummary *rs, const Ringkv__AdminReply *ar)
{
    if (!(r->ring_nodes = copy_shares(rs->nodes, rs->n_nodes)))
        return KV_ENOMEM;
    if (!(r->ring_moves = alloc_n(ar->n_ring_transfers, sizeof *r->ring_moves)))
        return KV_ENOMEM;
    for (size_t i = 0; i < ar->n_ring_transfers; i++) {
        const Ringkv__RingTransfer *t = ar->ring_transfers[i];
        r->ring_moves[i] = (struct rkv_partition_move){ t->partition, t->from, t->to };
    }
    r->pub.has_ring = true;
    r->pub.ring = (struct rkv_ring_info){ rs->version, rs->partitions, rs->n_val, rs->in_transfer, rs->n_nodes,
                                          r->ring_nodes, ar->n_ring_transfers, r->ring_moves };
    return KV_OK;
}

static int copy_plan(struct admin_result *r, const Ringkv__RingPlan *p)
{
    r->plan_nodes = copy_shares(p->nodes, p->n_nodes);
    r->changes = alloc_n(p->n_changes, sizeof *r->changes);
    r->moves = alloc_n(p->n_moves, sizeof *r->moves);
    if (!r->plan_nodes || !r->changes || !r->moves)
        return KV_ENOMEM;
    for (size_t i = 0; i < p->n_changes; i++)
        r->changes[i] = (struct rkv_ring_change){ change_name(p->changes[i]->kind), p->changes[i]->node_id };
    for (size_t i = 0; i < p->n_moves; i++)
        r->moves[i] = (struct rkv_partition_move){ p->moves[i]->partition, p->moves[i]->from, p->moves[i]->to };
    r->pub.has_plan = true;
    r->pub.plan = (struct rkv_ring_plan){ p->from_version, p->to_version, p->n_changes, r->changes,
                                          p->n_moves, r->moves, p->n_nodes, r->plan_nodes };
    return KV_OK;
}

static int copy_hints(struct admin_result *r, const Ringkv__HintReport *h)
{
    r->hints = alloc_n(h->n_targets, sizeof *r->hints);
    if (!r->hints)
        return KV_ENOMEM;
    for (size_t i = 0; i < h->n_targets; i++) {
        const Ringkv__HintTarget *t = h->targets[i];
        r->hints[i] = (struct rkv_hint_target){ t->node_id, t->held, t->bytes, t->oldest_age_ms, t->delivered,
                                                t->expired, t->failed };
    }
    r->pub.has_hints = true;
    r->pub.hints_stored = h->hints_stored;
    r->pub.hints_held = h->hints_held;
    r->pub.nhint_targets = h->n_targets;
    r->pub.hint_targets = r->hints;
    return KV_OK;
}

/* Takes ownership of reply. */
static int admin_result_new(Ringkv__Envelope *reply, struct rkv_admin_result **out)
{
    struct admin_result *r = calloc(1, sizeof *r);
    if (!r) {
        rpc_envelope_free(reply);
        return KV_ENOMEM;
    }
    r->reply = reply;
    const Ringkv__AdminReply *ar = reply->admin_reply;
    r->pub.node_id = ar->node_id;
    r->pub.message = ar->message;
    int rc = copy_members(r, ar);
    if (rc == KV_OK && ar->ring)
        rc = copy_ring(r, ar->ring, ar);
    if (rc == KV_OK && ar->plan)
        rc = copy_plan(r, ar->plan);
    if (rc == KV_OK && ar->hints)
        rc = copy_hints(r, ar->hints);
    if (rc != KV_OK) {
        rkv_admin_result_free(&r->pub);
        return rc;
    }
    *out = &r->pub;
    return KV_OK;
}

void rkv_admin_result_free(struct rkv_admin_result *pub)
{
    if (!pub)
        return;
    struct admin_result *r = (struct admin_result *)pub;
    rpc_envelope_free(r->reply);
    free(r->members);
    free(r->ring_nodes);
    free(r->plan_nodes);
    free(r->changes);
    free(r->moves);
    free(r->hints);
    free(r->ring_moves);
    free(r);
}

int rkv_admin(struct rkv_client *c, enum rkv_admin_op op, const char *arg,
              const struct rkv_request_options *o, struct rkv_admin_result **out)
{
    struct client_call call = client_call_begin(c, o);
    bool needs_arg = op == RKV_ADMIN_JOIN || op == RKV_ADMIN_REMOVE;
    if (op < RKV_ADMIN_MEMBERS || op > RKV_ADMIN_HINTS || needs_arg != (arg != NULL && arg[0] != '\0')) {
        client_err_format(&c->err, true, "admin: %s", needs_arg ? "this operation needs an argument"
                                                                 : "unknown operation or unexpected argument");
        return KV_EINVAL;
    }
    bool idempotent = op == RKV_ADMIN_MEMBERS || op == RKV_ADMIN_RING || op == RKV_ADMIN_PLAN ||
                      op == RKV_ADMIN_HINTS;
    Ringkv__Envelope *reply = NULL;
    int rc = client_admin_call(c, (Ringkv__AdminOp)op, arg, idempotent, call.deadline_ms, &reply);
    if (rc == KV_OK)
        rc = admin_result_new(reply, out);  /* owns reply now */
    return rc;
}

int client_admin_call(struct rkv_client *c, Ringkv__AdminOp op, const char *arg, bool idempotent,
                      uint64_t deadline_ms, Ringkv__Envelope **reply)
{
    Ringkv__Admin admin = RINGKV__ADMIN__INIT;
    admin.op = op;
    admin.arg = (char *)(arg ? arg : "");
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    env.body_case = RINGKV__ENVELOPE__BODY_ADMIN;
    env.admin = &admin;
    struct client_req req;
    memset(&req, 0, sizeof req);
    req.env = &env;
    int rc = client_run(c, &req, 1, idempotent, deadline_ms);
    if (rc == KV_OK)
        rc = client_reply_check(c, &req, RINGKV__ENVELOPE__BODY_ADMIN_REPLY);
    if (rc == KV_OK) {
        *reply = req.reply;
        req.reply = NULL; /* the caller's now */
    }
    client_reqs_free(&req, 1);
    return rc;
}
