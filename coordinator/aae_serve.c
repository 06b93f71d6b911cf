/*
 * aae_serve.c - the responder's side of an exchange: answers each
 * request from the tree and the engine, keeping nothing between them.
 *
 * Work per request is bounded whatever the request asks: HASHES at most
 * AAE_HASHES_PER_REQ_MAX nodes; KEYS reads at most scan_keys_max keys
 * and returns at most page_keys_max of them (and about batch_bytes_max
 * bytes of keys); FETCH returns a prefix of the keys asked for, about
 * batch_bytes_max bytes of objects (at least one key). PUSH merges what
 * it is sent: its size is bounded by the frame limit of the transport.
 * A responder in debt on its byte budget answers KV_EBUSY at once.
 */
#include <inttypes.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/aae_internal.h"

static int check_shape(const struct merkle *t, const struct aae_msg *m)
{
    return m->segments == merkle_segments(t) && m->branching == merkle_branching(t) ? KV_OK : KV_EINVAL;
}

static int serve_hashes(struct aae *a, struct merkle *t, const struct aae_msg *m, struct aae_msg *r)
{
    int rc = check_shape(t, m);
    if (rc != KV_OK)
        return rc;
    if (!aae_tree_ready(a, m->partition))
        return KV_ESTATE;
    if (m->n_ids > AAE_HASHES_PER_REQ_MAX)
        return KV_EINVAL;
    if ((rc = aae_grow((void **)&a->hashes, &a->hashes_cap, m->n_ids, sizeof *a->hashes)) != KV_OK)
        return rc;
    if ((rc = merkle_node_hashes(t, m->level, m->ids, m->n_ids, a->hashes)) != KV_OK)
        return rc;
    r->hashes = a->hashes;
    r->n_hashes = m->n_ids;
    return KV_OK;
}

static int collect(void *arg, struct kv_slice key, uint64_t digest, struct kv_slice object)
{
    return aae_page_add(arg, key, digest);
}

static int serve_keys(struct aae *a, struct merkle *t, const struct aae_msg *m, struct aae_msg *r)
{
    int rc = check_shape(t, m);
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < m->n_ids; i++)
        if (m->ids[i] >= merkle_segments(t) || (i > 0 && m->ids[i] <= m->ids[i - 1]))
            return KV_EINVAL;
    uint32_t keys_max = m->keys_max < a->cfg.page_keys_max ? m->keys_max : a->cfg.page_keys_max;
    struct merkle_scan s = {
        .segments = m->ids, .n_segments = m->n_ids,
        .after = m->after, .has_after = m->has_after, .upto = m->upto, .has_upto = m->has_upto,
        .keys_max = keys_max ? keys_max : 1, .key_bytes_max = a->cfg.batch_bytes_max,
        .scanned_max = a->cfg.scan_keys_max,
    };
    aae_page_reset(&a->page);
    kv_buf_reset(&a->arena);
    bool complete = false;
    rc = merkle_scan_segments(t, a->cfg.engine, NULL, &s, collect, &a->page, &a->arena, &complete);
    if (rc == KV_OK)
        rc = aae_grow((void **)&a->items, &a->items_cap, a->page.n, sizeof *a->items);
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < a->page.n; i++)
        a->items[i] = (struct aae_item){ .key = aae_page_key(&a->page, i), .digest = a->page.e[i].digest };
    r->items = a->items;
    r->n_items = a->page.n;
    r->complete = complete;
    r->last = kv_slice_make(a->arena.data, a->arena.len);
    return KV_OK;
}

/* Objects of a prefix of the keys asked for, copied into a->arena
 * (their offsets in a->offs until the arena has stopped growing). */
static int serve_fetch(struct aae *a, const struct aae_msg *m, struct aae_msg *r)
{
    kv_buf_reset(&a->arena);
    uint32_t n = 0;
    int rc = aae_grow((void **)&a->items, &a->items_cap, m->n_items, sizeof *a->items);
    if (rc == KV_OK)
        rc = aae_grow((void **)&a->offs, &a->offs_cap, m->n_items, sizeof *a->offs);
    uint64_t bytes = 0;
    for (; rc == KV_OK && n < m->n_items && (n == 0 || bytes < a->cfg.batch_bytes_max); n++) {
        struct aae_item *it = &a->items[n];
        bool found = false;
        *it = (struct aae_item){ .key = m->items[n].key };
        bytes += it->key.len;
        rc = it->key.len > AAE_KEY_BYTES_MAX ? KV_EINVAL : aae_read_local(a, m->partition, it->key, &found);
        if (rc == KV_OK && found) {
            it->found = true;
            it->object.len = a->stored.len;
            a->offs[n] = a->arena.len;
            bytes += a->stored.len;
            rc = kv_buf_append(&a->arena, a->stored.data, a->stored.len);
        }
    }
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < n; i++)
        if (a->items[i].found)
            a->items[i].object.data = a->arena.data + a->offs[i];
    r->items = a->items;
    r->n_items = n;
    return KV_OK;
}

static int serve_push(struct aae *a, const struct aae_msg *m, struct aae_msg *r)
{
    uint32_t applied = 0;
    for (uint32_t i = 0; i < m->n_items; i++) {
        bool changed = false;
        /* A bad object is counted and logged by aae_merge_in; the rest still apply. */
        if (aae_merge_in(a, m->partition, m->items[i].key, m->items[i].object, &changed) == KV_OK)
            applied += changed;
    }
    r->applied = applied;
    return KV_OK;
}

void aae_serve(struct aae *a, const char *from, const struct aae_msg *m, uint64_t now)
{
    a->stats.requests_served++;
    uint64_t in = aae_msg_encoded_bytes(m);
    a->stats.bytes_received += in;
    aae_budget_charge(a, in, now);
    struct aae_msg r;
    aae_msg_init(&r);
    r.type = (enum aae_msg_type)(m->type + 1);
    r.xid = m->xid;
    r.seq = m->seq;
    r.partition = m->partition;
    struct merkle *t = aae_tree(a, m->partition);
    int rc = KV_OK;
    if (!t) {
        rc = KV_ESTATE; /* not a replica of it (here, in this ring) */
    } else if (!aae_budget_ok(a, now)) {
        rc = KV_EBUSY;
        a->stats.busy_replies++;
    } else if (m->type == AAE_MSG_HASHES_REQ) {
        rc = serve_hashes(a, t, m, &r);
    } else if (m->type == AAE_MSG_KEYS_REQ) {
        rc = serve_keys(a, t, m, &r);
    } else if (m->type == AAE_MSG_FETCH_REQ) {
        rc = serve_fetch(a, m, &r);
    } else {
        rc = serve_push(a, m, &r);
    }
    if (rc != KV_OK) {
        enum aae_msg_type type = r.type;
        aae_msg_init(&r);
        r.type = type;
        r.xid = m->xid;
        r.seq = m->seq;
        r.partition = m->partition;
        r.status = rc;
        if (rc != KV_EBUSY && rc != KV_ESTATE)
            log_debug("aae", "request refused from=%s type=%s partition=%" PRIu32 " status=%s", from,
                      aae_msg_type_str(m->type), m->partition, kv_status_str(rc));
    }
    uint64_t n;
    aae_send(a, from, &r, now, &n);
}
