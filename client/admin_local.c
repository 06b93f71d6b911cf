/*
 * admin_local.c - rkv_admin_local_get (ringkv.h): one kv.proto Admin
 * LOCAL_GET to the current host. The result keeps the unpacked reply;
 * its strings and value bytes point into it.
 */
#include <stdlib.h>

#include "client/client_internal.h"
#include "client/wire.h"
#include "rpc/frame.h"

struct local_result {
    struct rkv_local_object pub; /* first: the public pointer is this struct's */
    Ringkv__Envelope *reply;
    struct rkv_local_copy *copies;
    struct rkv_local_sibling *siblings;       /* all copies' siblings, copy after copy */
    struct rkv_local_clock_entry *clock;      /* all copies' clock entries */
};

void rkv_local_object_free(struct rkv_local_object *pub)
{
    if (!pub)
        return;
    struct local_result *r = (struct local_result *)pub;
    rpc_envelope_free(r->reply);
    free(r->copies);
    free(r->siblings);
    free(r->clock);
    free(r);
}

static void copy_one(struct local_result *r, const Ringkv__LocalCopy *m, struct rkv_local_copy *out,
                     size_t *sib_at, size_t *clk_at)
{
    out->hint_for = m->hint_for;
    out->hint_stored_at_ms = m->hint_stored_at_ms;
    out->object_bytes = m->object_bytes;
    out->siblings = &r->siblings[*sib_at];
    out->nsiblings = m->n_siblings;
    out->clock = &r->clock[*clk_at];
    out->nclock = m->n_clock;
    bool own = !m->hint_for[0];
    r->pub.held = r->pub.held || own;
    for (size_t j = 0; j < m->n_siblings; j++) {
        const Ringkv__LocalSibling *s = m->siblings[j];
        r->siblings[(*sib_at)++] = (struct rkv_local_sibling){ s->value.data, s->value.len, s->expires_at_ms,
                                                               s->tombstone, s->counter, s->expired, s->dot_actor,
                                                               s->dot_counter, s->stamp_ms };
        if (own) {
            r->pub.tombstone = r->pub.tombstone || s->tombstone;
            r->pub.live += !s->tombstone && !s->expired;
        }
    }
    for (size_t j = 0; j < m->n_clock; j++)
        r->clock[(*clk_at)++] = (struct rkv_local_clock_entry){ m->clock[j]->actor, m->clock[j]->counter,
                                                                m->clock[j]->self };
}

/* Takes ownership of reply. */
static int local_result_new(Ringkv__Envelope *reply, struct rkv_local_object **out)
{
    struct local_result *r = calloc(1, sizeof *r);
    if (!r) {
        rpc_envelope_free(reply);
        return KV_ENOMEM;
    }
    r->reply = reply;
    const Ringkv__AdminReply *ar = reply->admin_reply;
    const Ringkv__LocalObject *lo = ar->local;
    r->pub.node_id = ar->node_id;
    r->pub.message = ar->message;
    size_t ncopies = lo ? lo->n_copies : 0, nsib = 0, nclk = 0;
    for (size_t i = 0; i < ncopies; i++) {
        nsib += lo->copies[i]->n_siblings;
        nclk += lo->copies[i]->n_clock;
    }
    r->copies = calloc(ncopies ? ncopies : 1, sizeof *r->copies);
    r->siblings = calloc(nsib ? nsib : 1, sizeof *r->siblings);
    r->clock = calloc(nclk ? nclk : 1, sizeof *r->clock);
    if (!r->copies || !r->siblings || !r->clock) {
        rkv_local_object_free(&r->pub);
        return KV_ENOMEM;
    }
    size_t sib_at = 0, clk_at = 0;
    for (size_t i = 0; i < ncopies; i++)
        copy_one(r, lo->copies[i], &r->copies[i], &sib_at, &clk_at);
    r->pub.partition = lo ? lo->partition : 0;
    r->pub.ncopies = ncopies;
    r->pub.copies = r->copies;
    *out = &r->pub;
    return KV_OK;
}

int rkv_admin_local_get(struct rkv_client *c, const char *key, const struct rkv_request_options *o,
                        struct rkv_local_object **out)
{
    struct client_call call = client_call_begin(c, o);
    if (!key || !key[0]) {
        client_err_format(&c->err, true, "local-get: needs a key");
        return KV_EINVAL;
    }
    Ringkv__Envelope *reply = NULL;
    int rc = client_admin_call(c, RINGKV__ADMIN_OP__ADMIN_OP_LOCAL_GET, key, true, call.deadline_ms, &reply);
    if (rc == KV_OK)
        rc = local_result_new(reply, out);  /* owns reply now */
    return rc;
}
