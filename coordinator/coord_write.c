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
 *  - otherwise it forwards the whole write (FORWARD) to a live primary,
 *    which coordinates it as above and sends back the outcome: the first
 *    one in preference order that is not overdue here (peer_watch.h: a
 *    request to it unanswered for 200 ms, nothing heard since), else the
 *    first one.
 *
 * Forward attempts. Until failure detection marks a dead or paused
 * primary down (seconds), a live primary may be a node that will never
 * answer in time; the watch passes it over only once this node has
 * waited on it. A forward that may be repeated waits for one
 * primary at most min(COORD_FORWARD_ATTEMPT_MS, a COORD_FORWARD_ATTEMPT_DIV
 * -th of the time left), then goes under the same request id to the next
 * live primary not tried yet, with the time left. The primaries tried
 * before are no longer pending: their late answers are ignored (one
 * answer per request). With no untried live primary left, the last
 * attempt waits until the client's deadline.
 * What may be repeated: the first attempt may still be applied much later
 * (a paused primary resumes and reads its socket), after writes that were
 * acknowledged in between. Only a DELETE with a non-empty context stays
 * harmless then: it supersedes only what its context covers, which is
 * older than the write, so a late copy is at worst one more tombstone
 * beside newer values. A PUT with a context is not: applied by two
 * primaries it is two values with two dots, and a client that reads one
 * and deletes or overwrites it with that context leaves the other (the
 * value comes back; simulator seed 90286). A blind PUT or DELETE would
 * supersede everything the late primary holds by then (acknowledged writes
 * lost), EXPIRE/PERSIST would set the expiry of newer values, INCR would
 * count twice, IF_ABSENT/IF_EXISTS would be evaluated on a state holding
 * the first attempt: those make one attempt - unless its send was refused
 * (nothing left this node), which any write may retry.
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
 *  - a forward without an answer by its deadline: KV_EINDOUBT (a
 *    primary tried may have applied it); the answer of the primary tried
 *    last is relayed, except that its failure is KV_EINDOUBT when an
 *    earlier attempt left this node (that primary may still apply it).
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

/* Whether w may be applied by a second primary while the first attempt
 * may still be applied late (see "Forward attempts"): only a DELETE with
 * a context, never a PUT (two copies would be two dots). */
static bool forward_repeatable(const struct coord_write *w)
{
    return w->op == COORD_OP_DELETE && w->context.len > 0;
}

static void set_deadline(struct coord *c, struct coord_req *r, uint64_t at)
{
    r->deadline_ms = at;
    if (at < c->next_deadline_ms)
        c->next_deadline_ms = at;
}

/* Sends r's write to its last target, the attempt's deadline set (see
 * "Forward attempts"). w: the write as the caller gave it (first attempt),
 * or NULL to rebuild it from what r holds. */
static void forward_send(struct coord *c, struct coord_req *r, const struct coord_write *w)
{
    uint64_t left = r->fwd_end_ms > c->now_ms ? r->fwd_end_ms - c->now_ms : 1;
    uint64_t attempt = left;
    if (r->fwd_retry) { /* a refused send is retried at once whatever the write (fwd_held) */
        uint64_t share = left / COORD_FORWARD_ATTEMPT_DIV;
        attempt = share < COORD_FORWARD_ATTEMPT_MS ? share : COORD_FORWARD_ATTEMPT_MS;
        attempt = attempt ? attempt : 1;
    }
    struct coord_write held = { r->op, kv_slice_make(r->key.data, r->key.len),
                                kv_slice_make(r->fwd_value.data, r->fwd_value.len),
                                kv_slice_make(r->ctx.data, r->ctx.len), r->fwd_ttl_ms, r->fwd_condition, r->fwd_arg };
    if (!w)
        w = &held;
    struct coord_msg m = { .type = COORD_MSG_FORWARD, .req_id = r->id, .op = w->op, .key = w->key,
                           .value = w->value, .context = w->context, .ttl_ms = w->ttl_ms,
                           .condition = w->condition, .arg = w->arg, .options = r->fwd_opts };
    uint32_t t = (uint32_t)(left * COORD_FORWARD_TIMEOUT_NUM / COORD_FORWARD_TIMEOUT_DEN);
    m.options.timeout_ms = t ? t : 1;
    set_deadline(c, r, c->now_ms + attempt);
    r->fwd_refused = coord_try_send(c, r->t[r->ntargets - 1].node, &m) != 0;
    if (r->fwd_refused && r->fwd_held)
        set_deadline(c, r, c->now_ms); /* nothing sent: the next tick tries the next primary */
}

/* Keeps what a retry resends; false (no retry then) without memory. */
static bool forward_hold(struct coord_req *r, const struct coord_write *w)
{
    r->fwd_ttl_ms = w->ttl_ms;
    r->fwd_condition = w->condition;
    r->fwd_arg = w->arg;
    return kv_buf_set(&r->key, w->key.data, w->key.len) == KV_OK &&
           kv_buf_set(&r->ctx, w->context.data, w->context.len) == KV_OK &&
           kv_buf_set(&r->fwd_value, w->value.data, w->value.len) == KV_OK;
}

/* The live primary of rt's key that a forward goes to next, skipping
 * those r tried (r NULL: none yet): the first one that is not overdue
 * (peer_watch.h), else the first one; NULL if there is none. */
static const char *forward_pick(struct coord *c, const struct coord_req *r, const struct coord_route *rt)
{
    const char *first = NULL;
    for (uint32_t i = 0; i < rt->primaries; i++) {
        const char *id = coord_route_node(rt, i);
        bool tried = false;
        for (uint32_t k = 0; r && k < r->ntargets && !tried; k++)
            tried = strcmp(r->t[k].node, id) == 0;
        if (i == rt->self || tried || !c->cops.alive(c->cops.ctx, id))
            continue;
        if (!peer_watch_overdue(&c->watch, id, c->now_ms))
            return id;
        if (!first)
            first = id;
    }
    return first;
}

/* Forwards w to a live primary (forward_pick); its answer is relayed to the caller. */
static void forward(struct coord *c, const struct coord_write *w, const struct coord_options *o,
                    const struct coord_route *rt, union coord_cb cb, void *arg)
{
    uint32_t timeout = o && o->timeout_ms ? o->timeout_ms : KV_REQUEST_TIMEOUT_MS_DEFAULT;
    const char *to = forward_pick(c, NULL, rt);
    if (to == NULL) {
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
    r->fwd_end_ms = r->deadline_ms;
    if (o)
        r->fwd_opts = *o;
    r->fwd_held = forward_hold(r, w);
    r->fwd_retry = r->fwd_held && forward_repeatable(w);
    r->ntargets = 1;
    coord_req_target_init(r, 0, kv_slice_str(to));
    r->tally = (struct quorum_tally){ 1, 1, 0, 0 };
    c->stats.forwarded++;
    forward_send(c, r, w);
}

/* The next live primary of r's key not tried yet (forward_pick), or NULL. */
static const char *forward_next_primary(struct coord *c, struct coord_req *r, struct coord_route *rt)
{
    if (r->ntargets >= QUORUM_TARGETS_MAX ||
        coord_route(c, kv_slice_make(r->key.data, r->key.len), r->fwd_opts.primary_only, rt) != KV_OK)
        return NULL;
    return forward_pick(c, r, rt);
}

/* An attempt of forward r got no answer in time: true if r goes on (to
 * the next primary, or waiting for the last one until the client's
 * deadline), false if the client's deadline has come. */
static bool forward_attempt_expired(struct coord *c, struct coord_req *r)
{
    if (c->now_ms >= r->fwd_end_ms)
        return false;
    struct coord_route rt;
    bool may = r->fwd_retry || (r->fwd_refused && r->fwd_held);
    const char *next = may ? forward_next_primary(c, r, &rt) : NULL;
    if (!next) {
        set_deadline(c, r, r->fwd_end_ms);
        return true;
    }
    r->t[r->ntargets - 1].state = TARGET_FAILED; /* its late answer is ignored */
    r->fwd_sent_before |= !r->fwd_refused;
    coord_req_target_init(r, r->ntargets, kv_slice_str(next));
    r->ntargets++;
    c->stats.forward_retries++;
    forward_send(c, r, NULL);
    return true;
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
    if (rc != KV_OK && r->fwd_sent_before)
        rc = KV_EINDOUBT; /* this primary did nothing, but an earlier one may yet */
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
    if (r->kind == REQ_FORWARD && forward_attempt_expired(c, r))
        return;
    if (r->answered) { /* a tombstone that missed some acks: no purge mark */
        coord_req_release(c, r);
        return;
    }
    finish(c, r, quorum_write_failure_status(true));
}
