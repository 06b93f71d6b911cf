/*
 * batch.c - rkv_batch_get and rkv_batch_put: the keys are cut into chunks
 * (at most RKV_BATCH_CHUNK_KEYS keys, and about half a frame of key and
 * value bytes), one BatchGet / BatchPut request per chunk, and the chunks
 * are pipelined through client_run (RKV_BATCH_WINDOW in flight).
 *
 * Memory: one array of chunks and one of wire entries per call; the key
 * and value bytes are never copied (the requests point at the caller's).
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "client/wire.h"

/* One request of a batch: entries [first, first + count). */
struct batch_chunk {
    size_t first, count;
    Ringkv__Envelope env;
    union {
        Ringkv__BatchGet get;
        Ringkv__BatchPut put;
    } body;
};

struct batch_plan {
    struct batch_chunk *chunks;
    struct client_req *reqs;
    size_t nchunks;
};

/* Envelope and field overhead counted per entry when sizing chunks. */
#define BATCH_ENTRY_OVERHEAD_BYTES 64u

/* Cuts entry sizes[0..n) into chunks. Allocates plan arrays (free with batch_plan_free). */
static int batch_plan_cut(const size_t *sizes, size_t n, uint32_t frame_bytes_max,
                          struct batch_plan *plan)
{
    size_t budget = frame_bytes_max / 2, used = 0;
    memset(plan, 0, sizeof *plan);
    plan->chunks = calloc(n, sizeof *plan->chunks);  /* at most one chunk per entry */
    plan->reqs = calloc(n, sizeof *plan->reqs);
    if (plan->chunks == NULL || plan->reqs == NULL)
        return KV_ENOMEM;
    struct batch_chunk *ch = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t sz = sizes[i] + BATCH_ENTRY_OVERHEAD_BYTES;
        if (ch == NULL || ch->count == RKV_BATCH_CHUNK_KEYS || used + sz > budget) {
            ch = &plan->chunks[plan->nchunks++];
            ch->first = i;
            used = 0;
        }
        ch->count++;
        used += sz;
    }
    return KV_OK;
}

static void batch_plan_free(struct batch_plan *plan)
{
    if (plan->reqs)
        client_reqs_free(plan->reqs, plan->nchunks);
    free(plan->reqs);
    free(plan->chunks);
}

/* Points each req at its chunk's envelope and checks every frame fits. */
static int batch_plan_ready(struct rkv_client *c, struct batch_plan *plan)
{
    for (size_t i = 0; i < plan->nchunks; i++) {
        plan->reqs[i].env = &plan->chunks[i].env;
        if (ringkv__envelope__get_packed_size(&plan->chunks[i].env) > c->cfg.frame_bytes_max) {
            client_err_format(&c->err, false, "batch entry %zu does not fit in a frame of %u "
                              "bytes", plan->chunks[i].first, c->cfg.frame_bytes_max);
            return KV_ETOOBIG;
        }
    }
    return KV_OK;
}

static int batch_check_args(struct rkv_client *c, size_t n, bool keys_ok)
{
    if (n > 0 && keys_ok)
        return KV_OK;
    client_err_format(&c->err, false, "a batch needs at least one entry, each with a key");
    return KV_EINVAL;
}

/* ---- batch get ---- */

/* Fills entries of chunk ch from its reply. KV_EPROTO if the reply does not
 * answer every key. */
static int batch_get_collect(struct rkv_client *c, const struct batch_chunk *ch,
                             const struct client_req *req, struct rkv_batch_get_entry *entries)
{
    int rc = client_reply_check(c, req, RINGKV__ENVELOPE__BODY_BATCH_GET_REPLY);
    if (rc != KV_OK && rc != KV_EPROTO) {
        for (size_t k = 0; k < ch->count; k++)
            entries[ch->first + k].status = rc;  /* the node refused the whole chunk */
        return KV_OK;
    }
    const Ringkv__BatchGetReply *br = rc == KV_OK ? req->reply->batch_get_reply : NULL;
    if (br == NULL || br->n_results != ch->count)
        return KV_EPROTO;
    for (size_t k = 0; k < ch->count; k++) {
        const Ringkv__BatchGetResult *res = br->results[k];
        struct rkv_batch_get_entry *e = &entries[ch->first + k];
        e->status = client_status_from_wire(res->status);
        if (e->status == KV_OK)
            e->status = res->reply ? client_wire_get_result(res->reply, &e->result) : KV_EPROTO;
    }
    return KV_OK;
}

static int batch_get_build(struct rkv_client *c, const struct rkv_key *keys, size_t n,
                           Ringkv__ReadOptions *ro, ProtobufCBinaryData *wire_keys,
                           struct batch_plan *plan)
{
    size_t *sizes = malloc(n * sizeof *sizes);
    if (sizes == NULL)
        return KV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        wire_keys[i] = client_wire_bytes(keys[i].data, keys[i].len);
        sizes[i] = keys[i].len;
    }
    int rc = batch_plan_cut(sizes, n, c->cfg.frame_bytes_max, plan);
    free(sizes);
    if (rc != KV_OK)
        return rc;
    for (size_t i = 0; i < plan->nchunks; i++) {
        struct batch_chunk *ch = &plan->chunks[i];
        ringkv__batch_get__init(&ch->body.get);
        ch->body.get.n_keys = ch->count;
        ch->body.get.keys = wire_keys + ch->first;
        ch->body.get.options = ro;
        ringkv__envelope__init(&ch->env);
        ch->env.body_case = RINGKV__ENVELOPE__BODY_BATCH_GET;
        ch->env.batch_get = &ch->body.get;
    }
    return batch_plan_ready(c, plan);
}

static bool keys_valid(const struct rkv_key *keys, size_t n)
{
    for (size_t i = 0; keys && i < n; i++)
        if (keys[i].data == NULL || keys[i].len == 0)
            return false;
    return keys != NULL;
}

int rkv_batch_get(struct rkv_client *c, const struct rkv_key *keys, size_t n,
                  const struct rkv_request_options *o, struct rkv_batch_get_entry **out)
{
    struct client_call call = client_call_begin(c, o);
    struct batch_plan plan = { 0 };
    struct rkv_batch_get_entry *entries = NULL;
    ProtobufCBinaryData *wire_keys = NULL;
    Ringkv__ReadOptions ro;
    int rc = batch_check_args(c, n, keys_valid(keys, n));
    if (rc != KV_OK || (rc = client_wire_read_options(o, call.budget_ms, &ro)) != KV_OK)
        goto fail;
    rc = KV_ENOMEM;
    wire_keys = malloc(n * sizeof *wire_keys);
    entries = calloc(n, sizeof *entries);
    if (wire_keys == NULL || entries == NULL)
        goto fail;
    rc = batch_get_build(c, keys, n, &ro, wire_keys, &plan);
    if (rc == KV_OK)
        rc = client_run(c, plan.reqs, plan.nchunks, true, call.deadline_ms);
    for (size_t i = 0; rc == KV_OK && i < plan.nchunks; i++)
        rc = batch_get_collect(c, &plan.chunks[i], &plan.reqs[i], entries);
    if (rc != KV_OK)
        goto fail;
    batch_plan_free(&plan);
    free(wire_keys);
    *out = entries;
    return KV_OK;
fail:
    batch_plan_free(&plan);
    free(wire_keys);
    rkv_batch_get_free(entries, entries ? n : 0);
    return rc;
}

/* ---- batch put ---- */

struct batch_put_wire {
    Ringkv__Put *puts;
    Ringkv__Put **ptrs;
};

static int batch_put_build(struct rkv_client *c, const struct rkv_put_entry *e, size_t n,
                           Ringkv__WriteOptions *wo, struct batch_put_wire *w,
                           struct batch_plan *plan)
{
    size_t *sizes = malloc(n * sizeof *sizes);
    int rc = KV_ENOMEM;
    if (sizes == NULL)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = client_wire_put(e[i].key, e[i].key_len, e[i].value, e[i].value_len, &e[i].args,
                             &w->puts[i]);
        if (rc != KV_OK)
            goto done;
        w->puts[i].options = wo;  /* the node takes the first entry's; all are the same */
        w->ptrs[i] = &w->puts[i];
        sizes[i] = e[i].key_len + e[i].value_len + (e[i].args.context ? e[i].args.context->len : 0);
    }
    rc = batch_plan_cut(sizes, n, c->cfg.frame_bytes_max, plan);
    for (size_t i = 0; rc == KV_OK && i < plan->nchunks; i++) {
        struct batch_chunk *ch = &plan->chunks[i];
        ringkv__batch_put__init(&ch->body.put);
        ch->body.put.n_puts = ch->count;
        ch->body.put.puts = w->ptrs + ch->first;
        ringkv__envelope__init(&ch->env);
        ch->env.body_case = RINGKV__ENVELOPE__BODY_BATCH_PUT;
        ch->env.batch_put = &ch->body.put;
    }
    if (rc == KV_OK)
        rc = batch_plan_ready(c, plan);
done:
    free(sizes);
    return rc;
}

/* Writes the outcome of one answered chunk; returns true if any entry is in doubt. */
static bool batch_put_collect(struct rkv_client *c, const struct batch_chunk *ch,
                              const struct client_req *req, int *statuses,
                              struct rkv_context **contexts)
{
    int rc = client_reply_check(c, req, RINGKV__ENVELOPE__BODY_BATCH_PUT_REPLY);
    const Ringkv__BatchPutReply *br = rc == KV_OK ? req->reply->batch_put_reply : NULL;
    if (rc == KV_OK && br->n_results != ch->count)
        rc = KV_EINDOUBT;  /* an answer that does not say what happened to each entry */
    for (size_t k = 0; k < ch->count; k++) {
        size_t i = ch->first + k;
        statuses[i] = rc == KV_OK ? client_status_from_wire(br->results[k]->status) : rc;
        /* Only a full answer (rc == KV_OK) has results[k]: a short one is in doubt. */
        const ProtobufCBinaryData *ctx = rc == KV_OK ? &br->results[k]->context : NULL;
        if (contexts && statuses[i] == KV_OK && ctx->len > 0 &&
            rkv_context_from_bytes(ctx->data, ctx->len, &contexts[i]) != KV_OK)
            contexts[i] = NULL;  /* out of memory: the write stands, its context is lost */
    }
    return rc == KV_EINDOUBT;
}

/* Fills statuses after client_run returned run_rc; returns the call's result. */
static int batch_put_outcome(struct rkv_client *c, const struct batch_plan *plan, int run_rc,
                             uint64_t deadline_ms, size_t n, int *statuses,
                             struct rkv_context **contexts)
{
    bool any_done = false, doubt = false;
    for (size_t i = 0; i < plan->nchunks; i++)
        any_done |= plan->reqs[i].state == CLIENT_REQ_DONE;
    if (run_rc != KV_OK && run_rc != KV_EINDOUBT && !any_done)
        return run_rc;  /* nothing left the client, or nothing of it was applied */
    int unsent = run_rc;
    if (unsent == KV_EINDOUBT || unsent == KV_OK)
        unsent = client_now_ms() >= deadline_ms ? KV_ETIMEDOUT : KV_EUNAVAIL;
    if (contexts)
        memset(contexts, 0, n * sizeof *contexts);
    for (size_t i = 0; i < plan->nchunks; i++) {
        const struct batch_chunk *ch = &plan->chunks[i];
        const struct client_req *r = &plan->reqs[i];
        if (r->state == CLIENT_REQ_DONE) {
            doubt |= batch_put_collect(c, ch, r, statuses, contexts);
            continue;
        }
        doubt |= r->sent;
        for (size_t k = 0; k < ch->count; k++)
            statuses[ch->first + k] = r->sent ? KV_EINDOUBT : unsent;
    }
    return doubt ? KV_EINDOUBT : KV_OK;
}

static bool entries_valid(const struct rkv_put_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        if (e[i].key == NULL || e[i].key_len == 0 || (e[i].value == NULL && e[i].value_len > 0))
            return false;
    return e != NULL;
}

int rkv_batch_put(struct rkv_client *c, const struct rkv_put_entry *entries, size_t n,
                  const struct rkv_request_options *o, int *statuses,
                  struct rkv_context **contexts_out)
{
    struct client_call call = client_call_begin(c, o);
    struct batch_plan plan = { 0 };
    struct batch_put_wire w = { 0 };
    Ringkv__WriteOptions wo;
    int rc = batch_check_args(c, n, entries_valid(entries, n) && statuses != NULL);
    if (rc != KV_OK || (rc = client_wire_write_options(o, call.budget_ms, &wo)) != KV_OK)
        goto done;
    rc = KV_ENOMEM;
    w.puts = malloc(n * sizeof *w.puts);
    w.ptrs = malloc(n * sizeof *w.ptrs);
    if (w.puts == NULL || w.ptrs == NULL)
        goto done;
    rc = batch_put_build(c, entries, n, &wo, &w, &plan);
    if (rc != KV_OK)
        goto done;
    rc = client_run(c, plan.reqs, plan.nchunks, false, call.deadline_ms);
    rc = batch_put_outcome(c, &plan, rc, call.deadline_ms, n, statuses, contexts_out);
done:
    batch_plan_free(&plan);
    free(w.puts);
    free(w.ptrs);
    return rc;
}
