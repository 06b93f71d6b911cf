/*
 * admin_transfers.c - rkv_transfers (ringkv.h): kv.proto Admin
 * TRANSFERS to the current host. The result keeps the unpacked reply;
 * its strings point into it.
 */
#include <stdlib.h>

#include "client/client_internal.h"
#include "client/wire.h"
#include "rpc/frame.h"

struct transfers_result {
    struct rkv_transfers pub; /* first: the public pointer is this struct's */
    Ringkv__Envelope *reply;
    struct rkv_transfer *streams;
};

void rkv_transfers_free(struct rkv_transfers *pub)
{
    if (!pub)
        return;
    struct transfers_result *r = (struct transfers_result *)pub;
    rpc_envelope_free(r->reply);
    free(r->streams);
    free(r);
}

static void copy_totals(struct rkv_transfers *s, const Ringkv__TransferTotals *t)
{
    s->streams_planned = t->streams_planned;
    s->streams_active = t->streams_active;
    s->streams_completed = t->streams_completed;
    s->partitions_completed = t->partitions_completed;
    s->keys_sent = t->keys_sent;
    s->bytes_sent = t->bytes_sent;
    s->keys_received = t->keys_received;
    s->bytes_received = t->bytes_received;
    s->forwards_sent = t->forwards_sent;
    s->bytes_per_sec = t->bytes_per_sec;
}

/* Takes ownership of reply. */
static int transfers_result_new(Ringkv__Envelope *reply, struct rkv_transfers **out)
{
    struct transfers_result *r = calloc(1, sizeof *r);
    if (!r) {
        rpc_envelope_free(reply);
        return KV_ENOMEM;
    }
    r->reply = reply;
    const Ringkv__AdminReply *ar = reply->admin_reply;
    size_t n = ar->n_transfers;
    if (!(r->streams = calloc(n ? n : 1, sizeof *r->streams))) {
        rkv_transfers_free(&r->pub);
        return KV_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const Ringkv__TransferStream *t = ar->transfers[i];
        r->streams[i] = (struct rkv_transfer){
            t->partition, t->range, ar->node_id, t->to, t->active, t->done, t->keys_sent, t->bytes_sent,
            t->keys_total, t->bytes_total, t->rate_bytes_per_sec,
        };
    }
    r->pub.node_id = ar->node_id;
    if (ar->transfer_totals)
        copy_totals(&r->pub, ar->transfer_totals);
    r->pub.nstreams = n;
    r->pub.streams = r->streams;
    *out = &r->pub;
    return KV_OK;
}

int rkv_transfers(struct rkv_client *c, const struct rkv_request_options *o, struct rkv_transfers **out)
{
    struct client_call call = client_call_begin(c, o);
    Ringkv__Envelope *reply = NULL;
    int rc = client_admin_call(c, RINGKV__ADMIN_OP__ADMIN_OP_TRANSFERS, NULL, true, call.deadline_ms, &reply);
    if (rc == KV_OK)
        rc = transfers_result_new(reply, out);  /* owns reply now */
    return rc;
}
