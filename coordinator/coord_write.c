/*
 * coord_write.c - quorum writes, and forwarding writes to a primary.
 *
 * Who makes the new version. A write's new sibling gets a dot (actor,
 * counter) that must be unique for the key; a node can promise that only
 * for keys it stores, because it writes its own copy before it sends
 * anything (coord_local.c). So a write is coordinated by a primary
 * replica of its key:
 *  - this node is a primary: it applies the write to its local object
 *    (the client's context, or for a blind write everything it holds, is
 *    superseded; conditions, EXPIRE and INCR are evaluated on that copy),
 *    stores it, sends the resulting object to the other targets of the
 *    plan (REPLICA_PUT; a fallback gets hint_for = the primary it stands
 *    in for) and answers after W acknowledgements, its own included;
 *  - otherwise it forwards the whole write (FORWARD) to the first live
 *    primary, which coordinates it as above and sends back the outcome.
 *    A forward is never retried elsewhere: if the primary applied it, a
 *    second coordinator would apply it again (an INCR twice).
 * Writing to a non-replica "proxy" with a fresh actor per write would
 * avoid the hop but grow every key's clock by one entry per such write.
 *
 * Timeouts tell the truth (quorum.h):
 *  - fewer live targets than W when the write starts: KV_EUNAVAIL,
 *    nothing stored, nothing sent;
 *  - the local store fails: that error, nothing sent (a disk error is
 *    KV_EINDOUBT: the record may be in the log and replayed at restart);
 *  - otherwise the write exists on this node at least: if W acks do not
 *    arrive before the deadline, or too many targets fail for W to be
 *    reachable, the answer is KV_EINDOUBT;
 *  - a forward without an answer by its deadline: KV_EINDOUBT (the
 *    primary may have applied it); the primary's own answer is relayed.
 * A write that met W answers at once; the acks still out are ignored -
 * except for a delete whose targets are all N primaries (with tombstone
 * purge on): its request stays until every ack is in, then sends the purge
 * marks (coord_purge.c), or ends silently at a failure or its deadline.
 */
#include <stdio.h>
#include <string.h>

#include "coordinator/coord_internal.h"

/* The outcome goes to the caller's callback, or back to the forwarder. */
static void deliver(struct coord *c, enum coord_write_op op, union coord_cb cb, void *arg, const char *relay_node,
                    uint64_t relay_req_id, const struct coord_write_result *res)
{
    coord_count_status(c, res->status);
    if (!relay_node) {
        coord_write_callback(op, cb, arg, res);
        return;
    }
    struct coord_msg m = { .type = COORD_MSG_FORWARD_REPLY, .req_id = relay_req_id, .status = res->status };
    if (res->status == KV_OK) {
        m.context = res->context;
        m.flag = res->flag;
        m.value_i64 = res->value;
    }
    coord_send(c, relay_node, &m);
}

static void fail_write(struct coord *c, enum coord_write_op op, union coord_cb cb, void *arg,
                       const char *relay_node, uint64_t relay_req_id, int status)
{
    struct coord_write_result res;
    memset(&res, 0, sizeof res);
    res.status = status;
    deliver(c, op, cb, arg, relay_node, relay_req_id, &res);
}

/* Gives the caller r's outcome (its held result when KV_OK). */
static void answer(struct coord *c, struct coord_req *r, int status)
{
    struct coord_write_result res = { status, { NULL, 0 }, false, 0 };
    if (status == KV_OK) {
        res = r->wr;
        res.context = kv_slice_make(r->ctx.data, r->ctx.len);
    }
    r->answered = true;
    deliver(c, r->op, r->cb, r->arg, r->relay ? r->relay_node : NULL, r->relay_req_id, &res);
}

/* Ends r with status (its held result when KV_OK). */
static void finish(struct coord *c, struct coord_req *r, int status)
{
    answer(c, r, status);
    coord_req_release(c, r);
}

/* A tombstone tracked for purge, already answered: with every target's ack
 * the purge marks go out (coord_purge.c); a failed target ends it. */
static void purge_progress(struct coord *c, struct coord_req *r)
{
    if (r->tally.ok == r->ntargets) {
        coord_purge_marks_send(c, r);
        coord_req_release(c, r);
    } else if (r->tally.failed > 0) {
        coord_req_release(c, r);
    }
}

static void progress(struct coord *c, struct coord_req *r)
{
    if (r->answered) {
        purge_progress(c, r);
        return;
    }
    enum quorum_state st = quorum_tally_state(&r->tally);
    if (st == QUORUM_MET && r->purge_track) {
        answer(c, r, KV_OK);
        purge_progress(c, r);
    } else if (st == QUORUM_MET) {
        finish(c, r, KV_OK);
    } else if (st == QUORUM_LOST) {
        finish(c, r, quorum_write_failure_status(true)); /* stored here already */
    }
}

/* Forwards w to the first live primary; its answer is relayed to the caller. */
static void forward(struct coord *c, const struct coord_write *w, const struct coord_options *o,
                    const struct coord_route *rt, union coord_cb cb, void *arg)
{
    uint32_t timeout = o && o->timeout_ms ? o->timeout_ms : KV_REQUEST_TIMEOUT_MS_DEFAULT;
    if (rt->plan.first_live_primary == QUORUM_NONE) {
        fail_write(c, w->op, cb, arg, NULL, 0, KV_EUNAVAIL);
        return;
    }
    struct coord_req *r = coord_req_new(c, REQ_FORWARD, c->now_ms, timeout);
    if (!r) {
        fail_write(c, w->op, cb, arg, NULL, 0, KV_EBUSY);
        return;
    }
    r->op = w->op;
    r->cb = cb;
    r->arg = arg;
    r->ntargets = 1;
    coord_req_target_init(r, 0, kv_slice_str(coord_route_node(rt, rt->plan.first_live_primary)));
    r->tally = (struct quorum_tally){ 1, 1, 0, 0 };
    struct coord_msg m = { .type = COORD_MSG_FORWARD, .req_id = r->id, .op = w->op, .key = w->key,
                           .value = w->value, .context = w->context, .ttl_ms = w->ttl_ms,
                           .condition = w->condition, .arg = w->arg };
    if (o)
        m.options = *o;
    uint32_t t = (uint32_t)((uint64_t)timeout * COORD_FORWARD_TIMEOUT_NUM / COORD_FORWARD_TIMEOUT_DEN);
    m.options.timeout_ms = t ? t : 1;
    c->stats.forwarded++;
    coord_send(c, r->t[0].node, &m);
}

static int write_begin(struct coord *c, const struct coord_write *w, const struct coord_options *o,
                       struct coord_route *rt, uint32_t *need)
{
    int rc = coord_check_write(c, w);
    if (rc == KV_OK)
        rc = coord_route(c, w->key, o && o->primary_only, rt);
    if (rc == KV_OK)
        rc = quorum_required(o ? o->consistency : COORD_CONSISTENCY_DEFAULT, o ? o->replicas : 0, rt->n,
                             c->w_default, need);
    return rc;
}

/* Keeps what the caller gets once W is met: the result and a copy of its context. */
static int hold_result(struct coord_req *r, const struct coord_write *w, const struct coord_write_result *wr)
{
    r->wr = *wr;
    r->op = w->op;
    int rc = kv_buf_set(&r->ctx, wr->context.data, wr->context.len);
    if (rc == KV_OK)
        rc = kv_buf_set(&r->key, w->key.data, w->key.len);
    return rc;
}

/* Sends the object just stored here (c->encoded) to every other target. */
static void replicate(struct coord *c, struct coord_req *r, const struct coord_route *rt, uint64_t req_id)
{
    struct kv_slice object = kv_slice_make(c->encoded.data, c->encoded.len);
    struct kv_slice key = kv_slice_make(r->key.data, r->key.len);
    for (uint32_t i = 0; i < r->ntargets; i++) {
        struct coord_target *t = &r->t[i];
        if (t->local) {
            t->state = TARGET_OK;
            r->tally.ok++;
            continue;
        }
        struct coord_msg m = { .type = COORD_MSG_REPLICA_PUT, .req_id = req_id, .partition = rt->partition,
                               .key = key, .object = object, .hint_for = t->hint_for };
        coord_send(c, t->node, &m);
    }
}

void coord_write_start(struct coord *c, const struct coord_write *w, const struct coord_options *o,
                       union coord_cb cb, void *arg, const char *relay_node, uint64_t relay_req_id)
{
    struct coord_route rt;
    struct coord_write_result wr;
    uint32_t need = 0;
    int rc = write_begin(c, w, o, &rt, &need);
    if (rc == KV_OK && !rt.plan.self_primary) {
        if (relay_node) /* forwarded here, yet this node is no primary by its ring: never forward twice */
            fail_write(c, w->op, cb, arg, relay_node, relay_req_id, KV_EUNAVAIL);
        else
            forward(c, w, o, &rt, cb, arg);
        return;
    }
    if (rc == KV_OK && rt.plan.n < need)
        rc = KV_EUNAVAIL;
    struct coord_req *r = NULL;
    if (rc == KV_OK && rt.plan.n > 1 && !(r = coord_req_new(c, REQ_WRITE, c->now_ms, o ? o->timeout_ms : 0)))
        rc = KV_EBUSY;
    if (rc != KV_OK) {
        fail_write(c, w->op, cb, arg, relay_node, relay_req_id, rc);
        return;
    }
    coord_local_write(c, w, &wr);
    if (!r || wr.status != KV_OK || !c->wrote) {
        /* The only replica is this node, or nothing was written (an error,
         * an unmet condition, a delete of nothing): answer now. */
        if (r)
            coord_req_release(c, r);
        deliver(c, w->op, cb, arg, relay_node, relay_req_id, &wr);
        return;
    }
    coord_req_set_targets(r, &rt);
    r->tally.need = need;
    r->cb = cb;
    r->arg = arg;
    r->partition = rt.partition;
    if (relay_node) {
        r->relay = true;
        snprintf(r->relay_node, sizeof r->relay_node, "%s", relay_node);
        r->relay_req_id = relay_req_id;
    }
    if (hold_result(r, w, &wr) != KV_OK) {
        /* Stored here but cannot be sent on: in doubt, like any write that misses W. */
        finish(c, r, KV_EINDOUBT);
        return;
    }
    /* W met by the local write alone: answer, and let the copies go without
     * acks - unless a tombstone waits for every ack (purge marks). */
    r->purge_track = w->op == COORD_OP_DELETE && coord_purge_trackable(c, r, &rt);
    bool met = need <= 1 && !r->purge_track;
    replicate(c, r, &rt, met ? 0 : r->id);
    progress(c, r);
}

void coord_write_reply(struct coord *c, struct coord_req *r, const char *from, const struct coord_msg *m)
{
    struct coord_target *t = coord_req_target(r, from);
    if (!t)
        return;
    t->state = m->status == KV_OK ? TARGET_OK : TARGET_FAILED;
    r->tally.ok += m->status == KV_OK;
    r->tally.failed += m->status != KV_OK;
    progress(c, r);
}

void coord_forward_reply(struct coord *c, struct coord_req *r, const char *from, const struct coord_msg *m)
{
    struct coord_target *t = coord_req_target(r, from);
    if (!t)
        return;
    t->state = TARGET_OK;
    int rc = m->status;
    if (rc == KV_OK)
        rc = kv_buf_set(&r->ctx, m->context.data, m->context.len);
    if (rc == KV_ENOMEM)
        rc = KV_EINDOUBT; /* it was applied, we just cannot say how */
    r->wr = (struct coord_write_result){ rc, { NULL, 0 }, m->flag, m->value_i64 };
    finish(c, r, rc);
}

void coord_write_deadline(struct coord *c, struct coord_req *r)
{
    /* A write here is stored locally; a forward may have been applied by the primary. */
    if (r->answered) { /* a tombstone that missed some acks: no purge mark */
        coord_req_release(c, r);
        return;
    }
    finish(c, r, quorum_write_failure_status(true));
}
