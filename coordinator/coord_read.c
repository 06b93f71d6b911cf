/*
 * coord_read.c - quorum reads (get, ttl) and read repair.
 *
 * A read goes to every target of its plan (the live primaries, and for a
 * primary that is down its fallback, which answers from its hint): this
 * node's own copy is read at once from the engine, the others get a
 * REPLICA_GET. The caller is answered as soon as R targets have replied,
 * with their objects merged causally (object_merge: every sibling that
 * some replica holds and no other replica's clock supersedes).
 *
 * The request then stays until every target has answered or the deadline
 * passes, and ends with read repair: the objects of all replies are
 * merged again, and each replica whose object differs from the merge
 * (which then strictly dominates it, as the merge covers every reply)
 * gets the merge - a REPLICA_PUT without reply (req_id 0), or a local
 * merge for this node's own copy. Encodings are canonical, so "differs"
 * is a byte comparison.
 *
 * Reply objects are copied into the request's target buffers (a reply's
 * bytes die with its message); merges borrow from those buffers.
 */
#include <string.h>

#include "coordinator/coord_internal.h"

static void fail_read(struct coord *c, bool is_ttl, union coord_cb cb, void *arg, int status)
{
    coord_count_status(c, status);
    if (is_ttl) {
        struct coord_ttl_result r = { status, COORD_TTL_MISSING };
        cb.ttl(arg, &r);
    } else {
        struct coord_get_result r;
        memset(&r, 0, sizeof r);
        r.status = status;
        cb.get(arg, &r);
    }
}

/* Merges the objects of every target that replied; *out borrows their buffers. */
static int merge_replies(struct coord *c, struct coord_req *r, struct object **out)
{
    struct object *acc = &c->m[0], *next = &c->m[1], *res = &c->m[2];
    struct kv_slice first = { NULL, 0 };
    int rc = KV_OK;
    object_clear(acc);
    for (uint32_t i = 0; rc == KV_OK && i < r->ntargets; i++) {
        struct coord_target *t = &r->t[i];
        if (t->state != TARGET_OK || !t->found)
            continue;
        struct kv_slice b = kv_slice_make(t->obj.data, t->obj.len);
        if (!first.data) {
            rc = object_decode(b, acc);
            first = b;
            continue;
        }
        if (kv_slice_eq(b, first))
            continue; /* replicas usually agree: merging equal objects changes nothing */
        rc = object_decode(b, next);
        if (rc == KV_OK)
            rc = object_merge(acc, next, DVV_VALUES_MAX, res);
        if (rc == KV_OK) {
            struct object *t2 = acc;
            acc = res;
            res = t2;
        }
    }
    if (rc == KV_OK)
        *out = acc;
    return rc;
}

/* Answers the caller: the merged replies (status KV_OK) or the failure. */
static void answer(struct coord *c, struct coord_req *r, int status)
{
    struct object *o = NULL;
    uint64_t now = coord_wall_ms(c);
    r->answered = true;
    if (status == KV_OK)
        status = merge_replies(c, r, &o);
    if (status != KV_OK) {
        fail_read(c, r->is_ttl, r->cb, r->arg, status);
        return;
    }
    if (r->is_ttl) {
        struct coord_ttl_result t = { KV_OK, coord_ttl_of(o, now) };
        r->cb.ttl(r->arg, &t);
        return;
    }
    struct coord_get_result g;
    memset(&g, 0, sizeof g);
    status = coord_collect_visible(c, o, now, &g.nvalues);
    if (status == KV_OK)
        status = coord_make_context(c, &o->clock, &g.context);
    if (status != KV_OK) {
        fail_read(c, false, r->cb, r->arg, status);
        return;
    }
    g.found = g.nvalues > 0;
    g.values = g.nvalues ? c->values : NULL;
    c->stats.not_found += !g.found;
    r->cb.get(r->arg, &g);
}

/* Whether every replica that answered holds the same bytes (or nothing):
 * the common case, decided without decoding or merging anything. */
static bool replies_agree(const struct coord_req *r)
{
    const struct coord_target *first = NULL;
    for (uint32_t i = 0; i < r->ntargets; i++) {
        const struct coord_target *t = &r->t[i];
        if (t->state != TARGET_OK)
            continue;
        if (!first)
            first = t;
        else if (t->found != first->found ||
                 (t->found && !kv_slice_eq(kv_slice_make(t->obj.data, t->obj.len),
                                           kv_slice_make(first->obj.data, first->obj.len))))
            return false;
    }
    return true;
}

/* Sends the merge of all replies to every replica that answered with less. */
static void repair(struct coord *c, struct coord_req *r)
{
    struct object *o = NULL;
    if (r->tally.ok < 2 || replies_agree(r) || merge_replies(c, r, &o) != KV_OK || object_siblings(o) == 0)
        return;
    kv_buf_reset(&c->mbuf);
    if (object_encode(o, &c->mbuf) != KV_OK)
        return; /* repair is best effort: anti-entropy catches what it misses */
    struct kv_slice merged = kv_slice_make(c->mbuf.data, c->mbuf.len);
    struct kv_slice key = kv_slice_make(r->key.data, r->key.len);
    for (uint32_t i = 0; i < r->ntargets; i++) {
        struct coord_target *t = &r->t[i];
        if (t->state != TARGET_OK || (t->found && kv_slice_eq(kv_slice_make(t->obj.data, t->obj.len), merged)))
            continue;
        c->stats.read_repairs++;
        if (t->local) {
            c->stats.replica_errors += coord_merge_store(c, key, merged) != KV_OK;
            continue;
        }
        struct coord_msg m = { .type = COORD_MSG_REPLICA_PUT, .req_id = 0, .partition = r->partition,
                               .key = key, .object = merged, .hint_for = t->hint_for };
        coord_send(c, t->node, &m);
    }
}

static void progress(struct coord *c, struct coord_req *r)
{
    if (!r->answered) {
        enum quorum_state st = quorum_tally_state(&r->tally);
        if (st == QUORUM_MET)
            answer(c, r, KV_OK);
        else if (st == QUORUM_LOST)
            answer(c, r, quorum_read_failure_status(false));
    }
    if (r->tally.ok + r->tally.failed == r->ntargets) {
        repair(c, r);
        coord_req_release(c, r);
    }
}

/* This node's own copy, read into its target at once. */
static void read_local(struct coord *c, struct coord_req *r, struct coord_target *t)
{
    struct kv_slice key = kv_slice_make(r->key.data, r->key.len);
    int rc = kv_buf_reserve(&c->ekey, KEYSPACE_PREFIX_BYTES + key.len);
    if (rc == KV_OK) {
        c->ekey.len = keyspace_encode(&c->ks, KEYSPACE_DATA, key, c->ekey.data);
        rc = engine_get(c->engine, NULL, kv_slice_make(c->ekey.data, c->ekey.len), &t->obj);
    }
    t->found = rc == KV_OK;
    if (rc == KV_OK)
        rc = object_decode(kv_slice_make(t->obj.data, t->obj.len), &c->m[1]);
    if (rc == KV_ENOTFOUND)
        rc = KV_OK;
    t->state = rc == KV_OK ? TARGET_OK : TARGET_FAILED;
    r->tally.ok += rc == KV_OK;
    r->tally.failed += rc != KV_OK;
}

static int read_begin(struct coord *c, struct kv_slice key, const struct coord_options *o,
                      struct coord_route *rt, uint32_t *need)
{
    int rc = coord_check_key(c, key);
    if (rc == KV_OK)
        rc = coord_route(c, key, o && o->primary_only, rt);
    if (rc == KV_OK)
        rc = quorum_required(o ? o->consistency : COORD_CONSISTENCY_DEFAULT, o ? o->replicas : 0, rt->n,
                             c->r_default, need);
    if (rc == KV_OK && rt->plan.n < *need)
        rc = KV_EUNAVAIL;
    return rc;
}

void coord_read_start(struct coord *c, struct kv_slice key, const struct coord_options *o, bool is_ttl,
                      union coord_cb cb, void *arg)
{
    struct coord_route rt;
    uint32_t need = 0;
    int rc = read_begin(c, key, o, &rt, &need);
    if (rc == KV_OK && rt.plan.n == 1 && rt.plan.self_target == 0) {
        /* This node is the only replica asked: the standalone path, no copies. */
        if (is_ttl) {
            struct coord_ttl_result t;
            coord_local_ttl(c, key, &t);
            cb.ttl(arg, &t);
        } else {
            struct coord_get_result g;
            (void)coord_local_get(c, key, &g); /* the status travels in g */
            cb.get(arg, &g);
        }
        return;
    }
    struct coord_req *r = rc == KV_OK ? coord_req_new(c, REQ_READ, c->now_ms, o ? o->timeout_ms : 0) : NULL;
    if (rc == KV_OK && !r)
        rc = KV_EBUSY;
    if (rc == KV_OK && (rc = kv_buf_set(&r->key, key.data, key.len)) != KV_OK)
        coord_req_release(c, r);
    if (rc != KV_OK) {
        fail_read(c, is_ttl, cb, arg, rc);
        return;
    }
    r->is_ttl = is_ttl;
    r->cb = cb;
    r->arg = arg;
    r->partition = rt.partition;
    coord_req_set_targets(r, &rt);
    r->tally.need = need;
    for (uint32_t i = 0; i < r->ntargets; i++) {
        struct coord_target *t = &r->t[i];
        if (t->local) {
            read_local(c, r, t);
            continue;
        }
        struct coord_msg m = { .type = COORD_MSG_REPLICA_GET, .req_id = r->id, .partition = rt.partition,
                               .key = key, .hint_for = t->hint_for };
        coord_send(c, t->node, &m);
    }
    progress(c, r);
}

void coord_read_reply(struct coord *c, struct coord_req *r, const char *from, const struct coord_msg *m)
{
    struct coord_target *t = coord_req_target(r, from);
    if (!t)
        return; /* a duplicate, or not a target */
    int rc = m->status;
    t->found = rc == KV_OK && m->found;
    if (t->found) {
        rc = object_decode(m->object, &c->m[1]); /* checked here so merges cannot fail on it */
        if (rc == KV_OK)
            rc = kv_buf_set(&t->obj, m->object.data, m->object.len);
    }
    t->state = rc == KV_OK ? TARGET_OK : TARGET_FAILED;
    r->tally.ok += rc == KV_OK;
    r->tally.failed += rc != KV_OK;
    progress(c, r);
}

void coord_read_deadline(struct coord *c, struct coord_req *r)
{
    if (!r->answered)
        answer(c, r, quorum_read_failure_status(true));
    repair(c, r);
    coord_req_release(c, r);
}
