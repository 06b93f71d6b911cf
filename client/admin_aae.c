/*
 * admin_aae.c - rkv_aae_status and rkv_aae_repair (ringkv.h): kv.proto
 * Admin AAE_STATUS / REPAIR to the current host. The result keeps the
 * unpacked reply; its strings point into it.
 */
#include <stdlib.h>

#include "client/client_internal.h"
#include "client/wire.h"
#include "rpc/frame.h"

struct aae_result {
    struct rkv_aae_status pub; /* first: the public pointer is this struct's */
    Ringkv__Envelope *reply;
    struct rkv_aae_partition *parts;
};

void rkv_aae_status_free(struct rkv_aae_status *pub)
{
    if (!pub)
        return;
    struct aae_result *r = (struct aae_result *)pub;
    rpc_envelope_free(r->reply);
    free(r->parts);
    free(r);
}

static void copy_totals(struct rkv_aae_status *s, const Ringkv__AaeTotals *t)
{
    s->trees = t->trees;
    s->trees_ready = t->trees_ready;
    s->tree_bytes = t->tree_bytes;
    s->exchanges_started = t->exchanges_started;
    s->exchanges_in_sync = t->exchanges_in_sync;
    s->exchanges_repaired = t->exchanges_repaired;
    s->exchanges_failed = t->exchanges_failed;
    s->exchanges_active = t->exchanges_active;
    s->keys_repaired = t->keys_repaired;
    s->keys_repaired_remote = t->keys_repaired_remote;
    s->bytes_sent = t->bytes_sent;
    s->bytes_received = t->bytes_received;
    s->builds = t->builds;
    s->verify_mismatches = t->verify_mismatches;
}

/* Takes ownership of reply. */
static int aae_result_new(Ringkv__Envelope *reply, struct rkv_aae_status **out)
{
    struct aae_result *r = calloc(1, sizeof *r);
    if (!r) {
        rpc_envelope_free(reply);
        return KV_ENOMEM;
    }
    r->reply = reply;
    const Ringkv__AdminReply *ar = reply->admin_reply;
    size_t n = ar->n_aae_partitions;
    if (!(r->parts = calloc(n ? n : 1, sizeof *r->parts))) {
        rkv_aae_status_free(&r->pub);
        return KV_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const Ringkv__AaePartition *p = ar->aae_partitions[i];
        r->parts[i] = (struct rkv_aae_partition){
            p->partition, p->ready, p->building, p->keys, p->n_peers, (const char *const *)p->peers,
            p->exchanges, p->last_exchange_age_ms, p->last_peer, p->last_status, p->keys_repaired,
            p->synced_age_ms, p->next_exchange_in_ms,
        };
    }
    r->pub.node_id = ar->node_id;
    r->pub.message = ar->message;
    r->pub.repairs_scheduled = ar->repairs_scheduled;
    if (ar->aae)
        copy_totals(&r->pub, ar->aae);
    r->pub.npartitions = n;
    r->pub.partitions = r->parts;
    *out = &r->pub;
    return KV_OK;
}

static int aae_call(struct rkv_client *c, Ringkv__AdminOp op, const char *arg, const struct rkv_request_options *o,
                    struct rkv_aae_status **out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__Envelope *reply = NULL;
    int rc = client_admin_call(c, op, arg, true, call.deadline_ms, &reply);
    if (rc == KV_OK)
        rc = aae_result_new(reply, out);  /* owns reply now */
    return rc;
}

int rkv_aae_status(struct rkv_client *c, const struct rkv_request_options *o, struct rkv_aae_status **out)
{
    return aae_call(c, RINGKV__ADMIN_OP__ADMIN_OP_AAE_STATUS, NULL, o, out);
}

int rkv_aae_repair(struct rkv_client *c, const char *target, const struct rkv_request_options *o,
                   struct rkv_aae_status **out)
{
    return aae_call(c, RINGKV__ADMIN_OP__ADMIN_OP_REPAIR, target, o, out);
}
