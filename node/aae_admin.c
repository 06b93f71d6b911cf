/* aae_admin.c - see aae_admin.h. The reply points into the aae's state
 * and into arrays allocated here; it is packed before anything changes. */
#include "node/aae_admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/aae.h"
#include "gossip/ring.h"
#include "node/aae_net.h"
#include "node/admin.h"

#define AAE_ADMIN_MESSAGE_BYTES_MAX 256

struct aae_admin_out {
    Ringkv__AdminReply reply;
    Ringkv__AaeTotals totals;
    Ringkv__AaePartition *parts;
    Ringkv__AaePartition **part_ptrs;
    const char **peer_ids;          /* RING_N_VAL_MAX per partition */
    char message[AAE_ADMIN_MESSAGE_BYTES_MAX];
};

static void say(struct aae_admin_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct aae_admin_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}

static uint64_t age(uint64_t then, uint64_t now) { return then == 0 ? 0 : now > then ? now - then : 1; }

static void fill_totals(struct aae_admin_out *o, const struct aae *a)
{
    struct aae_stats s;
    aae_get_stats(a, &s);
    ringkv__aae_totals__init(&o->totals);
    o->totals.enabled = true;
    o->totals.trees = s.trees;
    o->totals.trees_ready = s.trees_ready;
    o->totals.exchanges_started = s.exchanges_started;
    o->totals.exchanges_in_sync = s.exchanges_in_sync;
    o->totals.exchanges_repaired = s.exchanges_repaired;
    o->totals.exchanges_failed = s.exchanges_failed;
    o->totals.exchanges_active = s.exchanges_active;
    o->totals.keys_repaired = s.keys_repaired;
    o->totals.keys_repaired_remote = s.keys_repaired_remote;
    o->totals.bytes_sent = s.bytes_sent;
    o->totals.bytes_received = s.bytes_received;
    o->totals.builds = s.builds;
    o->totals.verify_mismatches = s.verify_mismatches;
    o->totals.tree_bytes = s.tree_bytes;
    o->reply.aae = &o->totals;
}

static void fill_partition(Ringkv__AaePartition *pp, struct aae *a, uint32_t p, const struct aae_partition_status *st,
                           const char **ids, uint64_t now)
{
    ringkv__aae_partition__init(pp);
    pp->partition = p;
    pp->ready = st->ready;
    pp->building = st->building;
    pp->keys = st->keys;
    uint32_t n = aae_partition_peers(a, p, ids, RING_N_VAL_MAX);
    pp->peers = (char **)ids;
    pp->n_peers = n < RING_N_VAL_MAX ? n : RING_N_VAL_MAX;
    pp->exchanges = st->exchanges;
    pp->last_exchange_age_ms = age(st->last_exchange_ms, now);
    pp->last_peer = (char *)st->last_peer;
    pp->last_status = st->last_status;
    pp->keys_repaired = st->keys_repaired;
    uint64_t synced = aae_partition_synced_since(a, p);
    pp->synced_age_ms = synced == UINT64_MAX ? 0 : age(synced, now);
    pp->next_exchange_in_ms = st->next_exchange_ms == UINT64_MAX || st->next_exchange_ms <= now
                                  ? 0 : st->next_exchange_ms - now;
}

/* Every held partition, by number. The statuses live in `st` (their
 * last_peer strings are pointed at by the reply). */
static int fill_partitions(struct aae_admin_out *o, struct aae *a, uint32_t q, struct aae_partition_status *st,
                           uint64_t now)
{
    o->parts = calloc(q, sizeof *o->parts);
    o->part_ptrs = calloc(q, sizeof *o->part_ptrs);
    o->peer_ids = calloc((size_t)q * RING_N_VAL_MAX, sizeof *o->peer_ids);
    if (!o->parts || !o->part_ptrs || !o->peer_ids)
        return KV_ENOMEM;
    size_t k = 0;
    for (uint32_t p = 0; p < q; p++) {
        int rc = aae_partition_status(a, p, &st[p]);
        if (rc != KV_OK)
            return rc;
        if (!st[p].held)
            continue;
        fill_partition(&o->parts[k], a, p, &st[p], o->peer_ids + (size_t)p * RING_N_VAL_MAX, now);
        o->part_ptrs[k] = &o->parts[k];
        k++;
    }
    o->reply.aae_partitions = o->part_ptrs;
    o->reply.n_aae_partitions = k;
    return KV_OK;
}

static int op_status(struct aae_admin_out *o, struct aae *a, uint32_t q, uint64_t now,
                     struct aae_partition_status **st)
{
    if (!(*st = calloc(q, sizeof **st)))
        return KV_ENOMEM;
    fill_totals(o, a);
    int rc = fill_partitions(o, a, q, *st, now);
    if (rc == KV_OK)
        say(o, "%llu partitions held, %llu trees ready, %llu exchanges running, %llu keys repaired here",
            (unsigned long long)o->totals.trees, (unsigned long long)o->totals.trees_ready,
            (unsigned long long)o->totals.exchanges_active, (unsigned long long)o->totals.keys_repaired);
    return rc;
}

static int op_repair(struct aae_admin_out *o, struct aae_net *n, const char *arg, char *why, size_t why_cap)
{
    uint32_t pairs = 0;
    int rc = aae_net_repair(n, arg, &pairs);
    if (rc == KV_EINVAL)
        snprintf(why, why_cap, "partition '%s' is not a number below %u", arg, aae_net_partitions(n));
    else if (rc == KV_ENOTFOUND && !arg[0])
        snprintf(why, why_cap, "no partition held here has another replica");
    else if (rc == KV_ENOTFOUND)
        snprintf(why, why_cap, "no partition held here %s '%s'",
                 strspn(arg, "0123456789") == strlen(arg) ? "with other replicas is" : "has peer", arg);
    if (rc != KV_OK)
        return rc;
    fill_totals(o, aae_net_aae(n));
    o->reply.repairs_scheduled = pairs;
    say(o, "%u exchange%s scheduled from %s (%s); kvctl aae-status shows their progress", pairs,
        pairs == 1 ? "" : "s", aae_net_node_id(n), arg[0] ? arg : "every partition");
    return KV_OK;
}

void aae_admin_handle(struct aae_net *n, const Ringkv__Admin *req, struct rpc_reply_handle h, uint64_t now_ms)
{
    struct aae_admin_out o;
    memset(&o, 0, sizeof o);
    ringkv__admin_reply__init(&o.reply);
    struct aae_partition_status *st = NULL;
    char why[160] = "anti-entropy is off on this node (kvnode --aae off)";
    struct aae *a = aae_net_aae(n);
    const char *arg = req->arg ? req->arg : "";
    int rc = KV_ESTATE;
    if (a && req->op == RINGKV__ADMIN_OP__ADMIN_OP_AAE_STATUS)
        rc = op_status(&o, a, aae_net_partitions(n), now_ms, &st);
    else if (a)
        rc = op_repair(&o, n, arg, why, sizeof why);
    o.reply.node_id = (char *)aae_net_node_id(n);
    o.reply.message = o.message;
    admin_reply_send(h, rc, &o.reply,
                     rc == KV_ESTATE || rc == KV_EINVAL || rc == KV_ENOTFOUND ? why : kv_status_str(rc), "aae");
    free(st);
    free(o.parts);
    free(o.part_ptrs);
    free(o.peer_ids);
}
